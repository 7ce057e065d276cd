//! k-NN alignment (`repspace_metrics::knn`) against the values platonic-rep @ dcd76ba
//! (`mutual_knn`, `cknna`) and ReSi @ 24ab9e5 (`JaccardSimilarity`) computed on
//! `tests/fixtures/measures/knn.npz` (scripts/fixtures/knn_reference.py), and the identities
//! the measures satisfy.

mod common;

use common::Fixture;
use faer::Mat;
use repspace_metrics::knn::{KnnVariant, PreparedKnn, knn_similarity};
use repspace_metrics::rng::SplitMix64;
use repspace_metrics::{Matrix, MetricError};
use serde_json::Value;

const VARIANTS: [(&str, KnnVariant); 3] =
    [("mutual", KnnVariant::Mutual), ("jaccard", KnnVariant::Jaccard), ("cknna", KnnVariant::Cknna)];

struct Cases {
    json: Value,
    /// (case name, its representations)
    cases: Vec<(String, Vec<Matrix>)>,
}

fn load() -> Cases {
    let fixture = Fixture::load("knn");
    let cases = fixture.keyed_cases();
    assert_eq!(cases.len(), 2);
    Cases { json: fixture.json, cases }
}

fn prepare_all(xs: &[Matrix], variant: KnnVariant, k: usize) -> Vec<PreparedKnn> {
    xs.iter().map(|x| PreparedKnn::new(x, variant, k).expect("prepare")).collect()
}

fn ks(json: &Value) -> Vec<usize> {
    json["values"]["mutual"].as_object().expect("ks").keys().map(|k| k.parse().expect("k")).collect()
}

#[test]
fn every_variant_matches_its_reference_on_every_ordered_pair() {
    let Cases { json, cases } = load();
    let mut checked = 0;
    for (name, variant) in VARIANTS {
        let mut worst = 0.0f64;
        for k in ks(&json) {
            for (case, xs) in &cases {
                let prepared = prepare_all(xs, variant, k);
                let want = &json["values"][name][k.to_string()][case];
                for (i, a) in prepared.iter().enumerate() {
                    for (j, b) in prepared.iter().enumerate() {
                        let want = want[i][j].as_f64().expect("value");
                        let got = knn_similarity(a, b).expect("pair");
                        assert!(
                            (got - want).abs() <= 1e-10,
                            "{name} k={k} {case} ({i},{j}): {got} vs reference {want}"
                        );
                        worst = worst.max((got - want).abs());
                        checked += 1;
                    }
                }
            }
        }
        eprintln!("{name}: max |ours − reference| = {worst:.3e}");
    }
    // 3 variants × 2 k × (4² + 5²) ordered pairs
    assert_eq!(checked, 3 * 2 * (16 + 25));
}

#[test]
fn cknna_takes_the_first_argument_as_the_reference_does() {
    let Cases { json, cases } = load();
    // the reference is not symmetric on these inputs, so a swapped orientation would fail
    let mut asymmetric = 0;
    for k in ks(&json) {
        for (case, xs) in &cases {
            let want = &json["values"]["cknna"][k.to_string()][case];
            let prepared = prepare_all(xs, KnnVariant::Cknna, k);
            for i in 0..xs.len() {
                for j in 0..i {
                    let (wij, wji) = (want[i][j].as_f64().unwrap(), want[j][i].as_f64().unwrap());
                    if (wij - wji).abs() > 1e-6 {
                        asymmetric += 1;
                        let (gij, gji) = (
                            knn_similarity(&prepared[i], &prepared[j]).unwrap(),
                            knn_similarity(&prepared[j], &prepared[i]).unwrap(),
                        );
                        assert!((gij - wij).abs() <= 1e-10 && (gji - wji).abs() <= 1e-10);
                        assert!((gij - gji).abs() > 1e-6);
                    }
                }
            }
        }
    }
    assert!(asymmetric > 10, "only {asymmetric} asymmetric reference pairs");
}

#[test]
fn mutual_and_jaccard_are_symmetric_bounded_and_one_for_identical_inputs() {
    let Cases { json, cases } = load();
    for k in ks(&json) {
        for (_, xs) in &cases {
            let mutual = prepare_all(xs, KnnVariant::Mutual, k);
            let jaccard = prepare_all(xs, KnnVariant::Jaccard, k);
            for i in 0..xs.len() {
                assert_eq!(knn_similarity(&mutual[i], &mutual[i]).unwrap(), 1.0);
                assert_eq!(knn_similarity(&jaccard[i], &jaccard[i]).unwrap(), 1.0);
                for j in 0..xs.len() {
                    let m = knn_similarity(&mutual[i], &mutual[j]).unwrap();
                    let jac = knn_similarity(&jaccard[i], &jaccard[j]).unwrap();
                    assert_eq!(m, knn_similarity(&mutual[j], &mutual[i]).unwrap());
                    assert_eq!(jac, knn_similarity(&jaccard[j], &jaccard[i]).unwrap());
                    // c/(2k − c) ≤ c/k row by row
                    assert!((0.0..=1.0).contains(&m) && (0.0..=m).contains(&jac), "{m} {jac}");
                }
            }
        }
    }
}

#[test]
fn cknna_of_identical_inputs_is_h_over_h_plus_epsilon() {
    // h/(h + 1e-6) with h > 0: below 1 by about 1e-6/h
    let Cases { json, cases } = load();
    for k in ks(&json) {
        for (_, xs) in &cases {
            for p in prepare_all(xs, KnnVariant::Cknna, k) {
                let s = knn_similarity(&p, &p).unwrap();
                assert!(s < 1.0 && s > 1.0 - 1e-3, "{s}");
            }
        }
    }
}

fn orthogonal(rng: &mut SplitMix64, n: usize) -> Mat<f64> {
    let g = Mat::from_fn(n, n, |_, _| rng.normal());
    g.qr().compute_Q()
}

/// x with its units mixed by a random orthogonal matrix, then permuted, and each row
/// scaled by its own positive factor.
fn transformed(rng: &mut SplitMix64, x: &Matrix) -> Matrix {
    let (m, n) = (x.rows(), x.cols());
    let xq = x.view() * orthogonal(rng, n);
    let mut perm: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        perm.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    let scales: Vec<f64> = (0..m).map(|_| 0.2 + 5.0 * rng.uniform()).collect();
    Matrix::from_fn(m, n, |i, j| scales[i] * xq[(i, perm[j])])
}

#[test]
fn invariant_under_orthogonal_maps_permutations_of_units_and_row_scaling() {
    let Cases { json, cases } = load();
    let mut rng = SplitMix64(2024);
    for (_, xs) in &cases {
        let moved: Vec<Matrix> = xs.iter().map(|x| transformed(&mut rng, x)).collect();
        for k in ks(&json) {
            for (_, variant) in VARIANTS {
                let p = prepare_all(xs, variant, k);
                let q = prepare_all(&moved, variant, k);
                for i in 0..xs.len() {
                    for row in 0..xs[i].rows() {
                        assert_eq!(p[i].neighbours(row), q[i].neighbours(row));
                    }
                    for j in 0..xs.len() {
                        let before = knn_similarity(&p[i], &p[j]).unwrap();
                        let after = knn_similarity(&q[i], &p[j]).unwrap();
                        assert!((before - after).abs() <= 1e-12, "{variant:?} k={k}: {before} vs {after}");
                    }
                }
            }
        }
    }
}

#[test]
fn not_invariant_under_translation() {
    // a guard that the invariance test above can tell transformations apart: cosines change
    // under a shift of every stimulus, and so do the neighbourhoods
    let Cases { cases, .. } = load();
    let x = &cases[0].1[0];
    let shifted = Matrix::from_fn(x.rows(), x.cols(), |i, j| x.get(i, j) + 3.0 * (j % 3) as f64);
    let (p, q) = (
        PreparedKnn::new(x, KnnVariant::Mutual, 5).unwrap(),
        PreparedKnn::new(&shifted, KnnVariant::Mutual, 5).unwrap(),
    );
    assert!(knn_similarity(&p, &q).unwrap() < 0.99);
}

#[test]
fn mismatched_pairs_are_refused() {
    let mut rng = SplitMix64(3);
    let x = rng.normal_matrix(20, 6);
    let y = rng.normal_matrix(21, 6);
    let a = PreparedKnn::new(&x, KnnVariant::Mutual, 3).unwrap();
    assert!(matches!(
        knn_similarity(&a, &PreparedKnn::new(&y, KnnVariant::Mutual, 3).unwrap()),
        Err(MetricError::SampleCountMismatch { a: 20, b: 21 })
    ));
    assert!(matches!(
        knn_similarity(&a, &PreparedKnn::new(&x, KnnVariant::Mutual, 4).unwrap()),
        Err(MetricError::Parameter { key: "k", .. })
    ));
    assert!(matches!(
        knn_similarity(&a, &PreparedKnn::new(&x, KnnVariant::Jaccard, 3).unwrap()),
        Err(MetricError::PreparedMismatch)
    ));
    assert!(matches!(PreparedKnn::new(&x, KnnVariant::Jaccard, 20), Err(MetricError::Parameter { key: "k", .. })));
}

#[test]
fn prepared_values_survive_serialisation() {
    let x = SplitMix64(8).normal_matrix(15, 4);
    let p = PreparedKnn::new(&x, KnnVariant::Cknna, 3).unwrap();
    let back: PreparedKnn = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
    // serde_json may round a float in its last place
    assert!((knn_similarity(&back, &p).unwrap() - knn_similarity(&p, &p).unwrap()).abs() <= 1e-14);
    assert_eq!(back.neighbours(7), p.neighbours(7));
}
