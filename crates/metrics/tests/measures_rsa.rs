//! RSA (`repspace_metrics::rsa`) against rsatoolbox 0.3.2 on `tests/fixtures/measures/rsa.*`
//! (written by `scripts/fixtures/rsatoolbox_reference.py`), and the identities the measure
//! satisfies whatever the reference says.

mod common;

use common::Fixture;
use faer::prelude::Solve;
use faer::{Mat, Side};
use repspace_metrics::rng::SplitMix64;
use repspace_metrics::rsa::{Noise, PreparedRsa, Rdm, RdmComparison, rdm_vector, similarities, similarity};
use repspace_metrics::{MetricError, Tensor};

const COMPARISONS: [RdmComparison; 6] = [
    RdmComparison::Pearson,
    RdmComparison::Spearman,
    RdmComparison::KendallTauA,
    RdmComparison::Cosine,
    RdmComparison::CorrCov,
    RdmComparison::CosineCov,
];

const RDMS: [Rdm; 4] = [
    Rdm::Euclidean,
    Rdm::Correlation,
    Rdm::Crossnobis { noise: Noise::Identity },
    Rdm::Crossnobis { noise: Noise::ShrinkageDiag },
];

fn rdm_named(name: &str) -> Rdm {
    match name {
        "euclidean" => Rdm::Euclidean,
        "correlation" => Rdm::Correlation,
        "crossnobis_identity" => Rdm::Crossnobis { noise: Noise::Identity },
        "crossnobis_shrinkage_diag" => Rdm::Crossnobis { noise: Noise::ShrinkageDiag },
        other => panic!("unknown rdm {other}"),
    }
}

fn comparison_named(name: &str) -> RdmComparison {
    match name {
        "pearson" => RdmComparison::Pearson,
        "spearman" => RdmComparison::Spearman,
        "kendall_tau_a" => RdmComparison::KendallTauA,
        "cosine" => RdmComparison::Cosine,
        "corr_cov" => RdmComparison::CorrCov,
        "cosine_cov" => RdmComparison::CosineCov,
        other => panic!("unknown comparison {other}"),
    }
}

#[test]
fn the_fixture_records_its_reference() {
    let f = Fixture::load("rsa");
    assert_eq!(f.json["reference"]["package"], "rsatoolbox");
    assert_eq!(f.json["reference"]["version"], "0.3.2");
    // every rdm × comparison on both shapes, and the tied case
    let cases = f.cases();
    for shape in ["s0", "s1"] {
        for rdm in ["euclidean", "correlation", "crossnobis_identity", "crossnobis_shrinkage_diag"] {
            let case = cases.iter().find(|c| c["case"] == shape && c["rdm"] == rdm).expect("case present");
            assert_eq!(case["values"].as_object().map(|v| v.len()), Some(6), "{shape} {rdm}");
        }
    }
    assert!(cases.iter().any(|c| c["case"] == "ties"));
}

#[test]
fn rdm_vectors_equal_rsatoolbox() {
    let f = Fixture::load("rsa");
    let mut worst = 0.0f64;
    let mut checked = 0;
    for case in f.cases() {
        let rdm = rdm_named(case["rdm"].as_str().unwrap());
        let inputs = case["inputs"].as_array().unwrap();
        for (i, key) in case["rdm_vectors"].as_array().unwrap().iter().enumerate() {
            let want = f.tensor(key.as_str().unwrap()).data().to_vec();
            let got = rdm_vector(&f.tensor(inputs[i].as_str().unwrap()), rdm).expect("rdm");
            assert_eq!(got.len(), want.len());
            let scale = want.iter().fold(0.0f64, |a, v| a.max(v.abs()));
            for (k, (g, w)) in got.iter().zip(&want).enumerate() {
                let err = (g - w).abs() / scale;
                worst = worst.max(err);
                assert!(err <= 1e-10, "{} {} rdm {i} entry {k}: {g} vs rsatoolbox {w}", case["case"], case["rdm"]);
            }
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} RDMs checked");
    eprintln!("RDM vectors: {checked} checked, max relative error {worst:.2e}");
}

#[test]
fn comparisons_equal_rsatoolbox_on_every_pair() {
    let f = Fixture::load("rsa");
    let mut worst = 0.0f64;
    let mut checked = 0;
    for case in f.cases() {
        let rdm = rdm_named(case["rdm"].as_str().unwrap());
        let xs: Vec<Tensor> =
            case["inputs"].as_array().unwrap().iter().map(|k| f.tensor(k.as_str().unwrap())).collect();
        let k = xs.len();
        for (name, want) in case["values"].as_object().unwrap() {
            let comparison = comparison_named(name);
            let prepared: Vec<PreparedRsa> =
                xs.iter().map(|x| PreparedRsa::new(x, rdm, comparison).expect("prepare")).collect();
            let refs: Vec<&PreparedRsa> = prepared.iter().collect();
            let pairs: Vec<(usize, usize)> = (0..k).flat_map(|i| (0..k).map(move |j| (i, j))).collect();
            let batched = similarities(&refs, &refs, &pairs).expect("similarities");
            for (&(i, j), got) in pairs.iter().zip(&batched) {
                let w = want[i][j].as_f64().unwrap();
                let err = (got - w).abs();
                worst = worst.max(err);
                assert!(err <= 1e-10, "{} {} {name} [{i},{j}]: {got} vs rsatoolbox {w}", case["case"], case["rdm"]);
                let single = similarity(&prepared[i], &prepared[j]).expect("similarity");
                assert!((single - got).abs() <= 1e-14, "batched {got} vs single {single}");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 8 * 6 * 25 + 6 * 16);
    eprintln!("comparisons: {checked} pairs checked, max abs error {worst:.2e}");
}

#[test]
fn the_tied_case_has_ties_and_tau_a_counts_them() {
    let f = Fixture::load("rsa");
    let case = f.cases().iter().find(|c| c["case"] == "ties").expect("ties case");
    for (i, key) in case["inputs"].as_array().unwrap().iter().enumerate() {
        let d = rdm_vector(&f.tensor(key.as_str().unwrap()), Rdm::Euclidean).expect("rdm");
        let tied = tied_pairs(&d);
        assert!(tied > 0, "input {i} has no tied RDM entries");
        // tau-a of an RDM with itself: 1 − tied pairs / all pairs (rsatoolbox's value on the diagonal)
        let n = d.len() as f64;
        let want = 1.0 - tied as f64 / (n * (n - 1.0) / 2.0);
        let p = PreparedRsa::from_rdm_vector(d, Rdm::Euclidean, RdmComparison::KendallTauA).expect("prepare");
        assert!((similarity(&p, &p).unwrap() - want).abs() < 1e-15);
        let reference = case["values"]["kendall_tau_a"][i][i].as_f64().unwrap();
        assert!((reference - want).abs() < 1e-12, "rsatoolbox's diagonal {reference} vs {want}");
    }
}

fn tied_pairs(d: &[f64]) -> u64 {
    let mut s = d.to_vec();
    s.sort_by(f64::total_cmp);
    let mut total = 0u64;
    let mut run = 1u64;
    for w in s.windows(2) {
        if w[0] == w[1] {
            run += 1;
        } else {
            total += run * (run - 1) / 2;
            run = 1;
        }
    }
    total + run * (run - 1) / 2
}

// ---------------------------------------------------------------------------------------
// Identities

/// Low-rank signal plus noise, [conditions, units] or [conditions, repeats, units].
fn representation(rng: &mut SplitMix64, m: usize, n: usize, repeats: Option<usize>) -> Tensor {
    let latent: Vec<f64> = (0..m * 3).map(|_| rng.normal()).collect();
    let loadings: Vec<f64> = (0..3 * n).map(|_| rng.normal()).collect();
    let signal = |c: usize, u: usize| (0..3).map(|t| latent[c * 3 + t] * loadings[t * n + u]).sum::<f64>();
    match repeats {
        None => Tensor::new(vec![m, n], (0..m * n).map(|k| signal(k / n, k % n) + 0.5 * rng.normal()).collect()),
        Some(r) => Tensor::new(
            vec![m, r, n],
            (0..m * r * n).map(|k| signal(k / (r * n), k % n) + 0.8 * rng.normal()).collect(),
        ),
    }
}

/// Apply `f` to the unit axis of a tensor: every [.., units] row u ↦ f(u).
fn map_units(x: &Tensor, f: impl Fn(&[f64]) -> Vec<f64>) -> Tensor {
    let n = *x.shape().last().unwrap();
    let data: Vec<f64> = x.data().chunks(n).flat_map(f).collect();
    let mut shape = x.shape().to_vec();
    *shape.last_mut().unwrap() = data.len() / (x.data().len() / n);
    Tensor::new(shape, data)
}

fn random_orthogonal(rng: &mut SplitMix64, n: usize) -> Mat<f64> {
    let g = Mat::from_fn(n, n, |_, _| rng.normal());
    g.qr().compute_Q()
}

fn max_relative_gap(a: &[f64], b: &[f64]) -> f64 {
    let scale = a.iter().fold(0.0f64, |s, v| s.max(v.abs()));
    a.iter().zip(b).map(|(x, y)| (x - y).abs() / scale).fold(0.0, f64::max)
}

fn input_for(rng: &mut SplitMix64, rdm: Rdm, m: usize, n: usize) -> Tensor {
    representation(rng, m, n, (rdm.input_rank() == 3).then_some(4))
}

#[test]
fn every_comparison_is_symmetric_bounded_and_one_for_identical_inputs() {
    let mut rng = SplitMix64(11);
    for rdm in RDMS {
        let xs: Vec<Tensor> = [9, 14, 6].iter().map(|&n| input_for(&mut rng, rdm, 10, n)).collect();
        for comparison in COMPARISONS {
            let p: Vec<PreparedRsa> = xs.iter().map(|x| PreparedRsa::new(x, rdm, comparison).unwrap()).collect();
            for i in 0..3 {
                for j in 0..3 {
                    let s = similarity(&p[i], &p[j]).unwrap();
                    assert!((-1.0..=1.0).contains(&s), "{rdm:?} {comparison:?}: {s}");
                    let t = similarity(&p[j], &p[i]).unwrap();
                    assert!((s - t).abs() <= 1e-15, "{rdm:?} {comparison:?} not symmetric: {s} vs {t}");
                }
                // continuous data: no tied entries, so tau-a is 1 too
                let own = similarity(&p[i], &p[i]).unwrap();
                assert!((own - 1.0).abs() <= 1e-14, "{rdm:?} {comparison:?} self-similarity {own}");
            }
            // and different representations are not identical
            assert!(similarity(&p[0], &p[1]).unwrap() < 0.999);
        }
    }
}

#[test]
fn euclidean_and_crossnobis_rdms_ignore_rotations_translations_and_scale_of_the_units() {
    let mut rng = SplitMix64(12);
    for rdm in [Rdm::Euclidean, Rdm::Crossnobis { noise: Noise::Identity }] {
        let n = 7;
        let x = input_for(&mut rng, rdm, 12, n);
        let q = random_orthogonal(&mut rng, n);
        let shift: Vec<f64> = (0..n).map(|_| 5.0 * rng.normal()).collect();
        let c = 2.5;
        // u ↦ c·Qᵀu + t
        let y =
            map_units(&x, |u| (0..n).map(|j| c * (0..n).map(|k| q[(k, j)] * u[k]).sum::<f64>() + shift[j]).collect());
        let (dx, dy) = (rdm_vector(&x, rdm).unwrap(), rdm_vector(&y, rdm).unwrap());
        let scaled: Vec<f64> = dx.iter().map(|v| c * c * v).collect();
        assert!(max_relative_gap(&scaled, &dy) < 1e-10, "{rdm:?}: {}", max_relative_gap(&scaled, &dy));
        for comparison in COMPARISONS {
            let (a, b) =
                (PreparedRsa::new(&x, rdm, comparison).unwrap(), PreparedRsa::new(&y, rdm, comparison).unwrap());
            let s = similarity(&a, &b).unwrap();
            assert!((s - 1.0).abs() < 1e-10, "{rdm:?} {comparison:?}: {s}");
        }
    }
}

#[test]
fn the_shrinkage_crossnobis_rdm_ignores_unit_scales_and_order_but_not_rotations() {
    let mut rng = SplitMix64(13);
    let rdm = Rdm::Crossnobis { noise: Noise::ShrinkageDiag };
    let n = 6;
    let x = representation(&mut rng, 15, n, Some(4));
    let scales: Vec<f64> = (0..n).map(|_| (0.8 * rng.normal()).exp()).collect();
    let perm = [3, 0, 5, 1, 4, 2];
    let y = map_units(&x, |u| perm.iter().map(|&k| scales[k] * u[k]).collect());
    let (dx, dy) = (rdm_vector(&x, rdm).unwrap(), rdm_vector(&y, rdm).unwrap());
    assert!(max_relative_gap(&dx, &dy) < 1e-10, "{}", max_relative_gap(&dx, &dy));
    // a rotation changes the noise model (shrinkage is towards the diagonal)
    let q = random_orthogonal(&mut rng, n);
    let z = map_units(&x, |u| (0..n).map(|j| (0..n).map(|k| q[(k, j)] * u[k]).sum::<f64>()).collect());
    assert!(max_relative_gap(&dx, &rdm_vector(&z, rdm).unwrap()) > 1e-4);
    // and the identity-noise RDM differs from it
    let identity = rdm_vector(&x, Rdm::Crossnobis { noise: Noise::Identity }).unwrap();
    assert!(max_relative_gap(&dx, &identity) > 1e-3);
}

#[test]
fn crossnobis_of_noiseless_repeats_is_the_euclidean_rdm() {
    // every repeat the same pattern: K = R(R−1)·XXᵀ and the fold average is ‖x_i − x_j‖²/n
    let mut rng = SplitMix64(14);
    let (m, r, n) = (9, 3, 5);
    let x = representation(&mut rng, m, n, None);
    let repeated: Vec<f64> = (0..m)
        .flat_map(|c| (0..r).flat_map(move |_| (0..n).map(move |u| (c, u))))
        .map(|(c, u)| x.data()[c * n + u])
        .collect();
    let t = Tensor::new(vec![m, r, n], repeated);
    let cross = rdm_vector(&t, Rdm::Crossnobis { noise: Noise::Identity }).unwrap();
    let euclid = rdm_vector(&x, Rdm::Euclidean).unwrap();
    assert!(max_relative_gap(&euclid, &cross) < 1e-12);
    // with one entry computed by hand: ‖x_0 − x_1‖²/n
    let d01 = (0..n).map(|u| (x.data()[u] - x.data()[n + u]).powi(2)).sum::<f64>() / n as f64;
    assert!((euclid[0] - d01).abs() < 1e-12 * d01);
}

#[test]
fn the_correlation_rdm_ignores_positive_affine_maps_of_each_pattern() {
    let mut rng = SplitMix64(15);
    let (m, n) = (11, 8);
    let x = representation(&mut rng, m, n, None);
    let (gains, offsets): (Vec<f64>, Vec<f64>) = (0..m).map(|_| ((rng.normal()).exp(), 3.0 * rng.normal())).unzip();
    let y = Tensor::new(vec![m, n], (0..m * n).map(|k| gains[k / n] * x.data()[k] + offsets[k / n]).collect());
    let (dx, dy) = (rdm_vector(&x, Rdm::Correlation).unwrap(), rdm_vector(&y, Rdm::Correlation).unwrap());
    assert!(max_relative_gap(&dx, &dy) < 1e-12);
    // 1 − r by hand for one entry
    let row = |i: usize| &x.data()[i * n..(i + 1) * n];
    let (a, b) = (row(2), row(5));
    let (ma, mb) = (a.iter().sum::<f64>() / n as f64, b.iter().sum::<f64>() / n as f64);
    let cov: f64 = a.iter().zip(b).map(|(p, q)| (p - ma) * (q - mb)).sum();
    let va: f64 = a.iter().map(|p| (p - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|q| (q - mb).powi(2)).sum();
    // entry (2, 5) in row-by-row order: rows 0, 1 hold 10 + 9 entries, then (2,3), (2,4), (2,5)
    assert!((dx[10 + 9 + 2] - (1.0 - cov / (va * vb).sqrt())).abs() < 1e-14);
}

/// rsatoolbox's `_cosine_cov_weighted_slow`: vᵀV⁻¹w/√(vᵀV⁻¹v · wᵀV⁻¹w), V = Ξ∘Ξ, Ξ = CCᵀ.
fn whitened_cosine_by_v(v: &[f64], w: &[f64], m: usize) -> f64 {
    let pairs: Vec<(usize, usize)> = (0..m).flat_map(|i| ((i + 1)..m).map(move |j| (i, j))).collect();
    let n = pairs.len();
    // Ξ_ab = c_aᵀc_b with c_(i,j) = e_i − e_j
    let xi = |a: (usize, usize), b: (usize, usize)| {
        let e = |k: usize, p: (usize, usize)| (k == p.0) as i32 as f64 - (k == p.1) as i32 as f64;
        (0..m).map(|k| e(k, a) * e(k, b)).sum::<f64>()
    };
    let big_v = Mat::from_fn(n, n, |a, b| xi(pairs[a], pairs[b]).powi(2));
    let llt = big_v.llt(Side::Lower).expect("V is positive definite");
    let solve = |x: &[f64]| llt.solve(Mat::from_fn(n, 1, |i, _| x[i]));
    let (vi_v, vi_w) = (solve(v), solve(w));
    let dot = |x: &[f64], y: &Mat<f64>| x.iter().enumerate().map(|(i, a)| a * y[(i, 0)]).sum::<f64>();
    dot(v, &vi_w) / (dot(v, &vi_v) * dot(w, &vi_w)).sqrt()
}

#[test]
fn the_cov_comparisons_are_the_cosine_in_rsatoolboxs_rdm_covariance() {
    let mut rng = SplitMix64(16);
    let m = 8;
    let d: Vec<Vec<f64>> =
        [5, 9, 3].iter().map(|&n| rdm_vector(&representation(&mut rng, m, n, None), Rdm::Euclidean).unwrap()).collect();
    let centre = |v: &[f64]| {
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        v.iter().map(|x| x - mean).collect::<Vec<f64>>()
    };
    for (i, j) in [(0, 1), (0, 2), (1, 2)] {
        let cos = |c: RdmComparison| {
            let a = PreparedRsa::from_rdm_vector(d[i].clone(), Rdm::Euclidean, c).unwrap();
            let b = PreparedRsa::from_rdm_vector(d[j].clone(), Rdm::Euclidean, c).unwrap();
            similarity(&a, &b).unwrap()
        };
        let want = whitened_cosine_by_v(&d[i], &d[j], m);
        assert!((cos(RdmComparison::CosineCov) - want).abs() < 1e-10, "{} vs {want}", cos(RdmComparison::CosineCov));
        let want = whitened_cosine_by_v(&centre(&d[i]), &centre(&d[j]), m);
        assert!((cos(RdmComparison::CorrCov) - want).abs() < 1e-10, "{} vs {want}", cos(RdmComparison::CorrCov));
        // and they are not the plain cosine and correlation
        assert!((cos(RdmComparison::CosineCov) - cos(RdmComparison::Cosine)).abs() > 1e-3);
    }
}

#[test]
fn batched_similarities_follow_the_pairs_in_order_over_rectangular_blocks() {
    let mut rng = SplitMix64(17);
    for comparison in COMPARISONS {
        let xs: Vec<Tensor> = (0..5).map(|k| representation(&mut rng, 13, 4 + k, None)).collect();
        let p: Vec<PreparedRsa> = xs.iter().map(|x| PreparedRsa::new(x, Rdm::Euclidean, comparison).unwrap()).collect();
        let rows: Vec<&PreparedRsa> = vec![&p[3], &p[0]];
        let cols: Vec<&PreparedRsa> = vec![&p[1], &p[4], &p[2]];
        let pairs = [(1, 2), (0, 0), (1, 0), (0, 2), (1, 2)];
        let got = similarities(&rows, &cols, &pairs).unwrap();
        for (&(i, j), g) in pairs.iter().zip(&got) {
            let want = similarity(rows[i], cols[j]).unwrap();
            assert!((g - want).abs() <= 1e-14, "{comparison:?} ({i},{j}): {g} vs {want}");
        }
        assert_eq!(got[0], got[4]);
        assert!(similarities(&rows, &cols, &[]).unwrap().is_empty());
        assert!(matches!(similarities(&rows, &cols, &[(2, 0)]), Err(MetricError::Parameter { .. })));
    }
}

#[test]
fn long_rdms_span_several_panels() {
    // 100 conditions: 4950 entries, more than one GEMM panel
    let mut rng = SplitMix64(18);
    let xs: Vec<Tensor> = (0..3).map(|_| representation(&mut rng, 100, 6, None)).collect();
    for comparison in [RdmComparison::Pearson, RdmComparison::CosineCov] {
        let p: Vec<PreparedRsa> = xs.iter().map(|x| PreparedRsa::new(x, Rdm::Euclidean, comparison).unwrap()).collect();
        let refs: Vec<&PreparedRsa> = p.iter().collect();
        let pairs = [(0, 1), (1, 2), (2, 0), (1, 1)];
        for (&(i, j), g) in pairs.iter().zip(similarities(&refs, &refs, &pairs).unwrap()) {
            assert!((g - similarity(&p[i], &p[j]).unwrap()).abs() <= 1e-14);
        }
    }
}

#[test]
fn prepared_values_survive_serialisation() {
    let mut rng = SplitMix64(19);
    let (x, y) = (representation(&mut rng, 10, 5, None), representation(&mut rng, 10, 7, None));
    for comparison in COMPARISONS {
        let (a, b) = (
            PreparedRsa::new(&x, Rdm::Euclidean, comparison).unwrap(),
            PreparedRsa::new(&y, Rdm::Euclidean, comparison).unwrap(),
        );
        let a2: PreparedRsa = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(similarity(&a2, &b).unwrap(), similarity(&a, &b).unwrap());
        assert_eq!((a2.rdm(), a2.comparison(), a2.conditions()), (Rdm::Euclidean, comparison, 10));
    }
}

#[test]
fn constant_rdms_are_undefined_not_nan() {
    let (m, n) = (6, 4);
    // all conditions identical: the euclidean RDM is zero
    let same = Tensor::new(vec![m, n], (0..m * n).map(|k| (k % n) as f64 * 0.3).collect());
    for comparison in COMPARISONS {
        assert!(
            matches!(PreparedRsa::new(&same, Rdm::Euclidean, comparison), Err(MetricError::Undefined(_))),
            "{comparison:?}"
        );
    }
    // one-hot conditions: every distance 2/n, constant but not zero
    let one_hot = Tensor::new(vec![m, m], (0..m * m).map(|k| 0.1 * ((k / m == k % m) as i32 as f64)).collect());
    for comparison in
        [RdmComparison::Pearson, RdmComparison::Spearman, RdmComparison::KendallTauA, RdmComparison::CorrCov]
    {
        assert!(
            matches!(PreparedRsa::new(&one_hot, Rdm::Euclidean, comparison), Err(MetricError::Undefined(_))),
            "{comparison:?}"
        );
    }
    for comparison in [RdmComparison::Cosine, RdmComparison::CosineCov] {
        let p = PreparedRsa::new(&one_hot, Rdm::Euclidean, comparison).unwrap();
        assert!((similarity(&p, &p).unwrap() - 1.0).abs() < 1e-14);
    }
    // a pattern constant across units has no correlation distance
    let mut data: Vec<f64> = (0..m * n).map(|k| ((k * 7) % 5) as f64).collect();
    data[n..2 * n].iter_mut().for_each(|v| *v = 0.7);
    let flat = Tensor::new(vec![m, n], data);
    assert!(matches!(rdm_vector(&flat, Rdm::Correlation), Err(MetricError::Undefined(_))));
    assert!(rdm_vector(&flat, Rdm::Euclidean).is_ok());
}

#[test]
fn malformed_inputs_and_pairs_are_refused() {
    let mut rng = SplitMix64(20);
    let x = representation(&mut rng, 10, 5, None);
    let y = representation(&mut rng, 11, 5, None);
    let t = representation(&mut rng, 10, 5, Some(3));
    // ranks
    assert!(matches!(rdm_vector(&t, Rdm::Euclidean), Err(MetricError::WrongRank { expected: 2, .. })));
    assert!(matches!(
        rdm_vector(&x, Rdm::Crossnobis { noise: Noise::Identity }),
        Err(MetricError::WrongRank { expected: 3, .. })
    ));
    // sizes
    let one = Tensor::new(vec![1, 5], vec![1.0; 5]);
    assert!(matches!(rdm_vector(&one, Rdm::Euclidean), Err(MetricError::TooSmall { .. })));
    let single_repeat = Tensor::new(vec![4, 1, 3], (0..12).map(|k| k as f64).collect());
    assert!(matches!(
        rdm_vector(&single_repeat, Rdm::Crossnobis { noise: Noise::Identity }),
        Err(MetricError::Undefined(_))
    ));
    // a unit without variance across repeats makes the shrinkage noise singular
    let mut data = t.data().to_vec();
    for c in 0..10 {
        for k in 0..3 {
            data[(c * 3 + k) * 5 + 2] = c as f64;
        }
    }
    let stuck = Tensor::new(vec![10, 3, 5], data);
    assert!(matches!(
        rdm_vector(&stuck, Rdm::Crossnobis { noise: Noise::ShrinkageDiag }),
        Err(MetricError::Undefined(_))
    ));
    assert!(rdm_vector(&stuck, Rdm::Crossnobis { noise: Noise::Identity }).is_ok());
    // non-finite
    let mut bad = x.data().to_vec();
    bad[3] = f64::NAN;
    assert!(matches!(rdm_vector(&Tensor::new(vec![10, 5], bad), Rdm::Euclidean), Err(MetricError::NotFinite(_))));
    // pairs
    let a = PreparedRsa::new(&x, Rdm::Euclidean, RdmComparison::Pearson).unwrap();
    let b = PreparedRsa::new(&y, Rdm::Euclidean, RdmComparison::Pearson).unwrap();
    assert_eq!(similarity(&a, &b), Err(MetricError::SampleCountMismatch { a: 10, b: 11 }));
    let c = PreparedRsa::new(&x, Rdm::Euclidean, RdmComparison::Cosine).unwrap();
    assert_eq!(similarity(&a, &c), Err(MetricError::PreparedMismatch));
    let d = PreparedRsa::new(&x, Rdm::Correlation, RdmComparison::Pearson).unwrap();
    assert_eq!(similarity(&a, &d), Err(MetricError::PreparedMismatch));
    assert_eq!(similarities(&[&a], &[&b], &[(0, 0)]), Err(MetricError::SampleCountMismatch { a: 10, b: 11 }));
    // an RDM vector that is no triangle
    assert!(matches!(
        PreparedRsa::from_rdm_vector(vec![1.0; 5], Rdm::Euclidean, RdmComparison::Pearson),
        Err(MetricError::Parameter { .. })
    ));
}
