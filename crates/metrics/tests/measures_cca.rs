//! SVCCA and PWCCA against google/svcca @ 1f3fbf1 on `tests/fixtures/measures/cca.{npz,json}`
//! (written by `scripts/fixtures/svcca_reference.py`), and their invariances.
//! Tolerances: SVCCA 1e-10, PWCCA 1e-8 (absolute; both are in [0, 1]).

mod common;

use common::Fixture;
use faer::Mat;
use repspace_metrics::cca::{Keep, PreparedPwcca, PreparedSvcca, pwcca_similarity, svcca_similarity};
use repspace_metrics::rng::SplitMix64;
use repspace_metrics::{Matrix, MetricError};
use serde_json::Value;

fn load() -> Fixture {
    Fixture::load("cca")
}

/// The fixture's cases of `measure` ("svcca" or "pwcca").
fn cases<'a>(fx: &'a Fixture, measure: &str) -> Vec<&'a Value> {
    let cases: Vec<&Value> = fx.cases().iter().filter(|c| c["measure"] == measure).collect();
    assert!(!cases.is_empty(), "no {measure} cases");
    cases
}

fn keep_of(case: &Value) -> Keep {
    let keep = &case["keep"];
    if let Some(k) = keep.get("directions") {
        Keep::Directions(k.as_u64().expect("directions") as usize)
    } else {
        Keep::Variance(keep["variance"].as_f64().expect("variance"))
    }
}

fn value(case: &Value, i: usize, j: usize) -> f64 {
    case["values"][i][j].as_f64().expect("value")
}

/// A random orthogonal n × n matrix (Q of a Gaussian matrix).
fn orthogonal(rng: &mut SplitMix64, n: usize) -> Mat<f64> {
    rng.normal_matrix(n, n).view().qr().compute_Q()
}

fn transformed(x: &Matrix, f: impl Fn(usize, usize) -> f64) -> Matrix {
    Matrix::from_fn(x.rows(), x.cols(), f)
}

fn rotate(x: &Matrix, q: &Mat<f64>) -> Matrix {
    Matrix::from_faer((x.view() * q).as_ref())
}

/// A random permutation of 0..n (Fisher–Yates).
fn permutation(rng: &mut SplitMix64, n: usize) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        p.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    p
}

#[test]
fn svcca_equals_google_svcca() {
    let fx = load();
    let mut worst: f64 = 0.0;
    for case in cases(&fx, "svcca") {
        let keep = keep_of(case);
        let xs = fx.inputs(case);
        let prepared: Vec<PreparedSvcca> = xs.iter().map(|x| PreparedSvcca::new(x, keep).expect("prepare")).collect();
        for (p, want) in prepared.iter().zip(case["kept"].as_array().expect("kept")) {
            assert_eq!(p.kept() as u64, want.as_u64().expect("kept"), "{} {keep:?}", case["case"]);
        }
        for i in 0..xs.len() {
            for j in 0..xs.len() {
                let got = svcca_similarity(&prepared[i], &prepared[j]).expect("pair");
                let want = value(case, i, j);
                worst = worst.max((got - want).abs());
                assert!((got - want).abs() <= 1e-10, "{} {keep:?} ({i},{j}): {got} vs {want}", case["case"]);
            }
        }
    }
    eprintln!("svcca: max abs error against google/svcca {worst:.2e}");
}

#[test]
fn pwcca_equals_google_svcca_narrower_first() {
    let fx = load();
    let mut worst: f64 = 0.0;
    let mut compared = 0;
    for case in cases(&fx, "pwcca") {
        let xs = fx.inputs(case);
        if case["values"].is_null() {
            // more units than stimuli: the reference asserts, we refuse by name
            for x in &xs {
                let err = PreparedPwcca::new(x).expect_err("wide");
                assert!(matches!(&err, MetricError::Undefined(s) if s.contains("fewer units than stimuli")), "{err}");
            }
            continue;
        }
        let prepared: Vec<PreparedPwcca> = xs.iter().map(|x| PreparedPwcca::new(x).expect("prepare")).collect();
        for i in 0..xs.len() {
            for j in 0..xs.len() {
                let got = pwcca_similarity(&prepared[i], &prepared[j]).expect("pair");
                let want = value(case, i, j);
                worst = worst.max((got - want).abs());
                assert!((got - want).abs() <= 1e-8, "{} ({i},{j}): {got} vs {want}", case["case"]);
                compared += 1;
            }
        }
        // the fixture holds a pair of equal widths, whose two orders differ
        let equal = (0..xs.len())
            .flat_map(|i| (0..xs.len()).map(move |j| (i, j)))
            .find(|&(i, j)| i != j && xs[i].cols() == xs[j].cols())
            .expect("a pair of equal widths");
        assert!((value(case, equal.0, equal.1) - value(case, equal.1, equal.0)).abs() > 1e-4);
    }
    assert!(compared >= 25);
    eprintln!("pwcca: max abs error against google/svcca {worst:.2e}");
}

#[test]
fn svcca_is_symmetric_bounded_and_one_on_itself() {
    let fx = load();
    for case in cases(&fx, "svcca") {
        let keep = keep_of(case);
        let prepared: Vec<PreparedSvcca> =
            fx.inputs(case).iter().map(|x| PreparedSvcca::new(x, keep).expect("prepare")).collect();
        for (i, a) in prepared.iter().enumerate() {
            assert!((svcca_similarity(a, a).expect("self") - 1.0).abs() < 1e-12);
            for b in &prepared[i + 1..] {
                let (ab, ba) = (svcca_similarity(a, b).expect("ab"), svcca_similarity(b, a).expect("ba"));
                assert!((ab - ba).abs() < 1e-13, "{ab} vs {ba}");
                assert!(ab > 0.0 && ab < 1.0, "{ab}");
            }
        }
    }
}

#[test]
fn svcca_is_invariant_to_translation_scaling_rotation_and_permutation_of_units() {
    let fx = load();
    let mut rng = SplitMix64(7);
    for case in cases(&fx, "svcca") {
        let keep = keep_of(case);
        let xs = fx.inputs(case);
        let (a, b) = (&xs[0], &xs[1]);
        let base = svcca_similarity(&PreparedSvcca::new(a, keep).expect("a"), &PreparedSvcca::new(b, keep).expect("b"))
            .expect("pair");
        let n = a.cols();
        let q = orthogonal(&mut rng, n);
        let perm = permutation(&mut rng, n);
        let offsets: Vec<f64> = (0..n).map(|_| 3.0 * rng.normal()).collect();
        let variants = [
            ("translation", transformed(a, |i, j| a.get(i, j) + offsets[j])),
            ("scaling", transformed(a, |i, j| 7.5 * a.get(i, j))),
            ("rotation", rotate(a, &q)),
            ("permutation", transformed(a, |i, j| a.get(i, perm[j]))),
        ];
        for (what, a2) in &variants {
            let got = svcca_similarity(
                &PreparedSvcca::new(a2, keep).expect("variant"),
                &PreparedSvcca::new(b, keep).expect("b"),
            )
            .expect("pair");
            assert!((got - base).abs() < 1e-10, "{} {keep:?} {what}: {got} vs {base}", case["case"]);
        }
        // and a non-isotropic scaling of the units does change it
        let stretched = transformed(a, |i, j| a.get(i, j) * (1.0 + 3.0 * (j % 3) as f64));
        let got = svcca_similarity(
            &PreparedSvcca::new(&stretched, keep).expect("stretched"),
            &PreparedSvcca::new(b, keep).expect("b"),
        )
        .expect("pair");
        assert!((got - base).abs() > 1e-6, "{} {keep:?}: stretching left {got}", case["case"]);
    }
}

#[test]
fn pwcca_invariances_follow_its_weights() {
    let fx = load();
    let case = cases(&fx, "pwcca").into_iter().find(|c| !c["values"].is_null()).expect("s1 pwcca");
    let xs = fx.inputs(case);
    // a narrower than b: the weights come from a
    let (a, b) = (&xs[0], &xs[4]);
    assert!(a.cols() < b.cols());
    let pw = |x: &Matrix, y: &Matrix| {
        pwcca_similarity(&PreparedPwcca::new(x).expect("x"), &PreparedPwcca::new(y).expect("y")).expect("pair")
    };
    let base = pw(a, b);
    assert!((pw(b, a) - base).abs() < 1e-13, "different widths: either order");
    assert!((pw(a, a) - 1.0).abs() < 1e-12);
    let mut rng = SplitMix64(8);
    let (na, nb) = (a.cols(), b.cols());
    let offsets: Vec<f64> = (0..na).map(|_| 3.0 * rng.normal()).collect();
    let qb = orthogonal(&mut rng, nb);
    let (perm_a, perm_b) = (permutation(&mut rng, na), permutation(&mut rng, nb));
    let same = [
        ("translation of a", pw(&transformed(a, |i, j| a.get(i, j) - offsets[j]), b)),
        ("scaling of a", pw(&transformed(a, |i, j| 0.2 * a.get(i, j)), b)),
        ("permutation of a", pw(&transformed(a, |i, j| a.get(i, perm_a[j])), b)),
        ("sign flips of a", pw(&transformed(a, |i, j| if j % 2 == 0 { -a.get(i, j) } else { a.get(i, j) }), b)),
        ("rotation of b", pw(a, &rotate(b, &qb))),
        ("permutation of b", pw(a, &transformed(b, |i, j| b.get(i, perm_b[j])))),
    ];
    for (what, got) in same {
        assert!((got - base).abs() < 1e-10, "{what}: {got} vs {base}");
    }
    // a rotation of the weighting network's units moves its weights
    let rotated = pw(&rotate(a, &orthogonal(&mut rng, na)), b);
    assert!((rotated - base).abs() > 1e-6, "rotation of a left {rotated}");
}

#[test]
fn mismatched_stimuli_are_refused() {
    let mut rng = SplitMix64(9);
    let (a, b) = (rng.normal_matrix(30, 5), rng.normal_matrix(31, 5));
    let keep = Keep::Directions(3);
    let (sa, sb) = (PreparedSvcca::new(&a, keep).expect("a"), PreparedSvcca::new(&b, keep).expect("b"));
    assert_eq!(svcca_similarity(&sa, &sb), Err(MetricError::SampleCountMismatch { a: 30, b: 31 }));
    let (pa, pb) = (PreparedPwcca::new(&a).expect("a"), PreparedPwcca::new(&b).expect("b"));
    assert_eq!(pwcca_similarity(&pa, &pb), Err(MetricError::SampleCountMismatch { a: 30, b: 31 }));
}
