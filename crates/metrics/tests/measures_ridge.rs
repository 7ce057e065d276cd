//! Cross-validated ridge predictivity against scikit-learn 1.9.1 (`RidgeCV`, `KFold`) and
//! scipy's `pearsonr` on `tests/fixtures/measures/ridge.{npz,json}` (written by
//! `scripts/fixtures/ridge_reference.py`), and its invariances. Tolerance 1e-8 (absolute);
//! the α chosen in every fold must be scikit-learn's exactly.

mod common;

use common::Fixture;
use faer::Mat;
use repspace_metrics::ridge::{Alphas, PreparedRidge, RidgeDirection, RidgeParams, ridge_folds, ridge_similarity};
use repspace_metrics::rng::SplitMix64;
use repspace_metrics::{Matrix, MetricError};
use serde_json::Value;

fn load() -> Fixture {
    Fixture::load("ridge")
}

fn params_of(case: &Value, direction: RidgeDirection) -> RidgeParams {
    let alphas: Vec<f64> = case["alphas"].as_array().expect("alphas").iter().map(|a| a.as_f64().expect("a")).collect();
    RidgeParams {
        folds: case["folds"].as_u64().expect("folds") as usize,
        alphas: Alphas::new(&alphas).expect("alphas"),
        direction,
    }
}

const DIRECTIONS: [(RidgeDirection, &str); 3] =
    [(RidgeDirection::Forward, "forward"), (RidgeDirection::Reverse, "reverse"), (RidgeDirection::Mean, "mean")];

fn similarity(a: &Matrix, b: &Matrix, params: &RidgeParams) -> f64 {
    let (pa, pb) = (PreparedRidge::new(a, params).expect("a"), PreparedRidge::new(b, params).expect("b"));
    ridge_similarity(&pa, &pb, params).expect("pair")
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
fn ridge_equals_scikit_learn_ridgecv_per_fold_and_overall() {
    let fx = load();
    let mut worst: f64 = 0.0;
    let mut fits = 0;
    for case in fx.cases() {
        let xs = fx.inputs(case);
        let params = params_of(case, RidgeDirection::Forward);
        let prepared: Vec<PreparedRidge> =
            xs.iter().map(|x| PreparedRidge::new(x, &params).expect("prepare")).collect();
        let name = format!("{} folds={}", case["case"], params.folds);
        for i in 0..xs.len() {
            for j in 0..xs.len() {
                let folds = ridge_folds(&prepared[i], &prepared[j]).expect("folds");
                let alphas = case["chosen_alpha"][i][j].as_array().expect("chosen");
                let scores = case["fold_scores"][i][j].as_array().expect("fold scores");
                assert_eq!(folds.len(), alphas.len());
                for (f, fold) in folds.iter().enumerate() {
                    assert_eq!(fold.alpha, alphas[f].as_f64().expect("alpha"), "{name} ({i},{j}) fold {f}: alpha");
                    let want = scores[f].as_f64().expect("score");
                    worst = worst.max((fold.score - want).abs());
                    assert!((fold.score - want).abs() <= 1e-8, "{name} ({i},{j}) fold {f}: {} vs {want}", fold.score);
                    fits += 1;
                }
                for (direction, key) in DIRECTIONS {
                    let p = RidgeParams { direction, ..params };
                    let got = ridge_similarity(&prepared[i], &prepared[j], &p).expect("pair");
                    let want = case["values"][key][i][j].as_f64().expect("value");
                    worst = worst.max((got - want).abs());
                    assert!((got - want).abs() <= 1e-8, "{name} {key} ({i},{j}): {got} vs {want}");
                }
            }
        }
    }
    assert!(fits >= 200, "{fits} fits");
    eprintln!("ridge: max abs error against scikit-learn {worst:.2e}");
}

#[test]
fn directions_are_one_computation_seen_three_ways() {
    let fx = load();
    let case = &fx.cases()[0];
    let xs = fx.inputs(case);
    let score = |a: &Matrix, b: &Matrix, d| similarity(a, b, &params_of(case, d));
    let (a, b) = (&xs[0], &xs[1]);
    let (fwd, rev, mean) =
        (score(a, b, RidgeDirection::Forward), score(a, b, RidgeDirection::Reverse), score(a, b, RidgeDirection::Mean));
    assert_eq!(rev, score(b, a, RidgeDirection::Forward));
    assert!((mean - (fwd + rev) / 2.0).abs() < 1e-15);
    assert_eq!(mean, score(b, a, RidgeDirection::Mean));
    // not symmetric
    assert!((fwd - rev).abs() > 1e-3, "{fwd} vs {rev}");
}

#[test]
fn ridge_invariances() {
    let fx = load();
    let mut rng = SplitMix64(11);
    for case in fx.cases() {
        let xs = fx.inputs(case);
        let params = params_of(case, RidgeDirection::Forward);
        let (x, y) = (&xs[1], &xs[2]);
        let base = similarity(x, y, &params);
        assert!((-1.0..=1.0).contains(&base));
        let (p, q) = (x.cols(), y.cols());
        let rotation: Mat<f64> = rng.normal_matrix(p, p).view().qr().compute_Q();
        let rotated = Matrix::from_faer((x.view() * &rotation).as_ref());
        let shift_x: Vec<f64> = (0..p).map(|_| 5.0 * rng.normal()).collect();
        let shift_y: Vec<f64> = (0..q).map(|_| 5.0 * rng.normal()).collect();
        let translated_x = Matrix::from_fn(x.rows(), p, |i, j| x.get(i, j) + shift_x[j]);
        let translated_y = Matrix::from_fn(y.rows(), q, |i, j| y.get(i, j) + shift_y[j]);
        let (perm_x, perm_y) = (permutation(&mut rng, p), permutation(&mut rng, q));
        let permuted_x = Matrix::from_fn(x.rows(), p, |i, j| x.get(i, perm_x[j]));
        let permuted_y = Matrix::from_fn(y.rows(), q, |i, j| y.get(i, perm_y[j]));
        let scaled_y = Matrix::from_fn(y.rows(), q, |i, j| 8.0 * y.get(i, j));
        let cases = [
            ("rotation of the predictor", similarity(&rotated, y, &params)),
            ("translation of both", similarity(&translated_x, &translated_y, &params)),
            ("permutation of the predictor's units", similarity(&permuted_x, y, &params)),
            ("permutation of the target's units", similarity(x, &permuted_y, &params)),
            ("isotropic scaling of the target", similarity(x, &scaled_y, &params)),
        ];
        for (what, got) in cases {
            assert!((got - base).abs() < 1e-10, "{} {what}: {got} vs {base}", case["case"]);
        }
        // scaling the predictor moves every α against the grid: it changes the score
        let scaled_x = Matrix::from_fn(x.rows(), p, |i, j| 30.0 * x.get(i, j));
        let got = similarity(&scaled_x, y, &params);
        assert!((got - base).abs() > 1e-6, "{}: scaling the predictor left {got}", case["case"]);
    }
}

#[test]
fn an_exactly_linear_target_is_predicted_perfectly() {
    let mut rng = SplitMix64(12);
    let x = rng.normal_matrix(40, 6);
    let w = rng.normal_matrix(6, 9);
    let y = Matrix::from_faer((x.view() * w.view()).as_ref());
    let params = RidgeParams {
        folds: 4,
        alphas: Alphas::new(&[1e-9, 1e3]).expect("alphas"),
        direction: RidgeDirection::Forward,
    };
    let (px, py) = (PreparedRidge::new(&x, &params).expect("x"), PreparedRidge::new(&y, &params).expect("y"));
    for fold in ridge_folds(&px, &py).expect("folds") {
        assert_eq!(fold.alpha, 1e-9);
        assert!(fold.score > 1.0 - 1e-9, "{}", fold.score);
    }
}

#[test]
fn mismatches_are_refused() {
    let mut rng = SplitMix64(13);
    let params =
        RidgeParams { folds: 3, alphas: Alphas::new(&[1.0, 10.0]).expect("alphas"), direction: RidgeDirection::Mean };
    let (a, b) = (rng.normal_matrix(30, 4), rng.normal_matrix(33, 4));
    let (pa, pb) = (PreparedRidge::new(&a, &params).expect("a"), PreparedRidge::new(&b, &params).expect("b"));
    assert_eq!(ridge_similarity(&pa, &pb, &params), Err(MetricError::SampleCountMismatch { a: 30, b: 33 }));
    let other = RidgeParams { folds: 5, ..params };
    let pc = PreparedRidge::new(&rng.normal_matrix(30, 4), &other).expect("c");
    assert_eq!(ridge_similarity(&pa, &pc, &params), Err(MetricError::PreparedMismatch));
    assert_eq!(ridge_similarity(&pa, &pa, &other), Err(MetricError::PreparedMismatch));
    assert!(matches!(
        PreparedRidge::new(&a, &RidgeParams { folds: 1, ..params }),
        Err(MetricError::Parameter { key: "folds", .. })
    ));
    assert!(matches!(
        PreparedRidge::new(&a, &RidgeParams { folds: 31, ..params }),
        Err(MetricError::Parameter { key: "folds", .. })
    ));
}
