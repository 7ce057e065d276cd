//! Mathematical identities of the faithful metrics on random inputs: symmetry, zero on
//! identical inputs, invariance to what each metric quotients out, triangle inequality,
//! and closed forms.

use faer::Mat;
use repspace_metrics::{Matrix, MetricSpec, Score, compare, prepare_matrix as prepare};

use repspace_metrics::rng::SplitMix64 as Rng;

/// Draws used by these tests.
trait Draw {
    fn matrix(&mut self, m: usize, n: usize) -> Matrix;
    fn orthogonal(&mut self, n: usize) -> Mat<f64>;
}

impl Draw for Rng {
    fn matrix(&mut self, m: usize, n: usize) -> Matrix {
        let mut data = Vec::with_capacity(m * n);
        for j in 0..n {
            for _ in 0..m {
                data.push(self.normal() + j as f64 * 0.3);
            }
        }
        Matrix::from_col_major(m, n, data)
    }
    /// A random orthogonal n×n matrix (Q of a QR of a Gaussian matrix).
    fn orthogonal(&mut self, n: usize) -> Mat<f64> {
        let g = Mat::from_fn(n, n, |_, _| self.normal());
        g.qr().compute_Q()
    }
}

fn d(spec: &MetricSpec, x: &Matrix, y: &Matrix) -> f64 {
    let (a, b) = (prepare(spec, x, None).unwrap(), prepare(spec, y, None).unwrap());
    compare(spec, &a, &b).unwrap().distance
}

fn times(x: &Matrix, q: &Mat<f64>) -> Matrix {
    Matrix::from_faer((x.view() * q.as_ref()).as_ref())
}

fn all_specs() -> Vec<MetricSpec> {
    let mut v = vec![
        MetricSpec::linear_cka(),
        MetricSpec::Permutation { score: Score::Angular },
        MetricSpec::Permutation { score: Score::Euclidean },
    ];
    for alpha in [0.0, 0.5, 1.0] {
        for score in [Score::Angular, Score::Euclidean] {
            v.push(MetricSpec::shape(alpha, score));
        }
    }
    v
}

#[test]
fn symmetric_and_zero_on_identical_inputs() {
    let mut rng = Rng(1);
    for spec in all_specs() {
        for _ in 0..3 {
            let (x, y) = (rng.matrix(30, 5), rng.matrix(30, 7));
            let (dxy, dyx) = (d(&spec, &x, &y), d(&spec, &y, &x));
            assert!((dxy - dyx).abs() < 1e-10, "{spec:?} not symmetric: {dxy} vs {dyx}");
            let dxx = d(&spec, &x, &x);
            // arccos(1 − ε) ≈ √(2ε); the Euclidean closed form cancels (§1.2).
            assert!(dxx.abs() < 1e-6, "{spec:?} self-distance {dxx}");
        }
    }
}

#[test]
fn shape_and_cka_are_invariant_to_rotations_and_translations() {
    let mut rng = Rng(2);
    for spec in all_specs().into_iter().filter(|s| !matches!(s, MetricSpec::Permutation { .. })) {
        let (x, y) = (rng.matrix(40, 6), rng.matrix(40, 6));
        let q = rng.orthogonal(6);
        let shifted = Matrix::from_fn(40, 6, |i, j| times(&y, &q).get(i, j) + 5.0 * j as f64 - 2.0);
        let (before, after) = (d(&spec, &x, &y), d(&spec, &x, &shifted));
        assert!((before - after).abs() < 1e-9, "{spec:?}: {before} vs {after} after rotating and translating y");
    }
}

#[test]
fn permutation_metric_is_invariant_to_unit_order_but_not_to_rotation() {
    let mut rng = Rng(3);
    let (x, y) = (rng.matrix(40, 6), rng.matrix(40, 6));
    let order = [3usize, 0, 5, 1, 4, 2];
    let perm = Mat::from_fn(6, 6, |i, j| if order[j] == i { 1.0 } else { 0.0 });
    let spec = MetricSpec::Permutation { score: Score::Angular };
    let (before, after) = (d(&spec, &x, &y), d(&spec, &x, &times(&y, &perm)));
    assert!((before - after).abs() < 1e-12, "{before} vs {after}");
    let rotated = d(&spec, &x, &times(&x, &rng.orthogonal(6)));
    assert!(rotated > 1e-3, "a generic rotation is not a permutation: {rotated}");
}

#[test]
fn angular_scores_ignore_global_scale_at_alpha_0_and_1() {
    let mut rng = Rng(4);
    let (x, y) = (rng.matrix(40, 5), rng.matrix(40, 8));
    let scaled = Matrix::from_fn(40, 8, |i, j| 7.5 * y.get(i, j));
    for spec in [
        MetricSpec::shape(0.0, Score::Angular),
        MetricSpec::shape(1.0, Score::Angular),
        MetricSpec::linear_cka(),
        MetricSpec::Permutation { score: Score::Angular },
    ] {
        let (a, b) = (d(&spec, &x, &y), d(&spec, &x, &scaled));
        assert!((a - b).abs() < 1e-10, "{spec:?}: {a} vs {b}");
    }
}

#[test]
fn triangle_inequality_on_random_triples() {
    let mut rng = Rng(5);
    for spec in [
        MetricSpec::shape(1.0, Score::Angular),
        MetricSpec::shape(1.0, Score::Euclidean),
        MetricSpec::shape(0.0, Score::Angular),
        MetricSpec::shape(0.5, Score::Angular),
        MetricSpec::Permutation { score: Score::Euclidean },
        MetricSpec::linear_cka(),
    ] {
        for _ in 0..20 {
            let (x, y, z) = (rng.matrix(25, 4), rng.matrix(25, 4), rng.matrix(25, 4));
            let (xy, yz, xz) = (d(&spec, &x, &y), d(&spec, &y, &z), d(&spec, &x, &z));
            assert!(xz <= xy + yz + 1e-10, "{spec:?}: {xz} > {xy} + {yz}");
        }
    }
}

#[test]
fn procrustes_angle_has_its_closed_form_for_orthonormal_columns() {
    // Two 2-planes in R^m at principal angles θ1, θ2: with orthonormal centred columns,
    // cos d = (cos θ1 + cos θ2) / 2 at alpha = 1.
    let m = 12;
    let (t1, t2) = (0.3f64, 1.1f64);
    let e = |k: usize| -> Vec<f64> {
        // orthonormal vectors orthogonal to 1 (zero mean): Haar-like ±1 patterns
        let mut v = vec![0.0; m];
        for (i, x) in v.iter_mut().enumerate() {
            *x = if (i >> k) & 1 == 0 { 1.0 } else { -1.0 };
        }
        let s = (m as f64).sqrt();
        v.iter().map(|x| x / s).collect()
    };
    // columns e0,e1 and cos θ e0 + sin θ e2, cos φ e1 + sin φ e3 (m = 12 not a power of two,
    // so orthonormalise numerically)
    let raw = Mat::from_fn(m, 4, |i, j| e(j)[i]);
    let q = raw.qr().compute_thin_Q();
    let mean0 = |j: usize| (0..m).map(|i| q[(i, j)]).sum::<f64>();
    let x = Matrix::from_fn(m, 2, |i, j| q[(i, j)] - mean0(j) / m as f64);
    let base = x.to_faer();
    let q2 = base.qr().compute_thin_Q(); // orthonormal basis of the centred plane
    let rest = Mat::from_fn(m, 2, |i, j| q[(i, j + 2)] - mean0(j + 2) / m as f64);
    // make `rest` orthonormal and orthogonal to q2
    let proj = &rest - &q2 * (q2.transpose() * &rest);
    let r = proj.qr().compute_thin_Q();
    let x = Matrix::from_faer(q2.as_ref());
    let y = Matrix::from_fn(m, 2, |i, j| {
        let t = if j == 0 { t1 } else { t2 };
        t.cos() * q2[(i, j)] + t.sin() * r[(i, j)]
    });
    let got = d(&MetricSpec::shape(1.0, Score::Angular), &x, &y);
    let want = ((t1.cos() + t2.cos()) / 2.0).acos();
    assert!((got - want).abs() < 1e-12, "{got} vs closed form {want}");
}

#[test]
fn genuine_rank_deficiency_is_underdetermined_but_padding_is_not() {
    let mut rng = Rng(6);
    let spec = MetricSpec::shape(1.0, Score::Angular);
    let (x, y) = (rng.matrix(30, 3), rng.matrix(30, 5));
    let (tx, ty) = (rng.matrix(10, 3), rng.matrix(10, 5));
    let score = |x: &Matrix, tx: &Matrix, y: &Matrix, ty: &Matrix| {
        compare(&spec, &prepare(&spec, x, Some(tx)).unwrap(), &prepare(&spec, y, Some(ty)).unwrap()).unwrap()
    };
    assert!(!score(&x, &tx, &y, &ty).test_underdetermined, "unequal widths (padding) alone are harmless");
    // a duplicated unit makes X̃ rank 2 < 3 = min(n_x, n_y)
    let collinear = Matrix::from_fn(30, 3, |i, j| if j == 2 { 2.0 * x.get(i, 0) } else { x.get(i, j) });
    assert!(score(&collinear, &tx, &y, &ty).test_underdetermined);
}

#[test]
fn with_more_units_than_stimuli_shape_metrics_keep_their_identities() {
    // m < n: the factors are stored in sample space (m × m); the metric must not notice.
    // (alpha = 0, CCA, is left out: with n ≥ m every whitened representation spans the whole
    // centred sample space, so every CCA distance is 0 up to rounding.)
    let mut rng = Rng(8);
    let m = 12;
    for spec in [
        MetricSpec::shape(1.0, Score::Angular),
        MetricSpec::shape(1.0, Score::Euclidean),
        MetricSpec::shape(0.5, Score::Angular),
        MetricSpec::shape(0.5, Score::Euclidean),
    ] {
        for _ in 0..5 {
            let (x, y, z) = (rng.matrix(m, 30), rng.matrix(m, 40), rng.matrix(m, 30));
            let (xy, yx) = (d(&spec, &x, &y), d(&spec, &y, &x));
            assert!((xy - yx).abs() < 1e-10, "{spec:?} not symmetric: {xy} vs {yx}");
            let (yz, xz) = (d(&spec, &y, &z), d(&spec, &x, &z));
            assert!(xz <= xy + yz + 1e-10, "{spec:?}: {xz} > {xy} + {yz}");
            let q = rng.orthogonal(40);
            let rotated = d(&spec, &x, &times(&y, &q));
            assert!((rotated - xy).abs() < 1e-9, "{spec:?}: {xy} vs {rotated} after rotating y's units");
            assert!(d(&spec, &x, &x) < 1e-6, "{spec:?}: self-distance");
        }
    }
}

/// With fewer training rows than units the fitted rotation is not determined on the null
/// space; the held-out score averages over its completions, so it keeps the metric's
/// invariance: rotating one side's units (training and held-out rows alike) changes nothing.
#[test]
fn underdetermined_held_out_scores_are_invariant_to_rotating_units() {
    let mut rng = Rng(11);
    for (alpha, score) in [(1.0, Score::Angular), (0.0, Score::Angular), (1.0, Score::Euclidean), (0.5, Score::Angular)]
    {
        let spec = MetricSpec::shape(alpha, score);
        let (x, y) = (rng.matrix(6, 9), rng.matrix(6, 7));
        let (tx, ty) = (rng.matrix(12, 9), rng.matrix(12, 7));
        let fit = |x: &Matrix, tx: &Matrix| prepare(&spec, x, Some(tx)).unwrap();
        let base = compare(&spec, &fit(&x, &tx), &fit(&y, &ty)).unwrap();
        assert!(base.test_underdetermined, "6 rows, 7 and 9 units");
        for trial in 0..4 {
            let r = rng.orthogonal(9);
            let (xr, txr) = (times(&x, &r), times(&tx, &r));
            let turned = compare(&spec, &fit(&xr, &txr), &fit(&y, &ty)).unwrap();
            let (d0, d1) = (base.distance_test.unwrap(), turned.distance_test.unwrap());
            assert!((d0 - d1).abs() < 1e-9, "alpha {alpha} {score:?} trial {trial}: {d0} vs {d1}");
            // (alpha 0 with m < n: every canonical correlation is 1 and the training distance is
            // arccos(1 − O(ε)), which rounding moves by up to √ε)
            let (t0, t1) = (base.distance, turned.distance);
            assert!((t0 - t1).abs() < 3e-8, "alpha {alpha} {score:?}: {t0} vs {t1}");
        }
    }
}
