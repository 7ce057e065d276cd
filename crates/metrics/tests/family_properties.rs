//! Identities of the metric family beyond netrep's faithful core: the convolutional,
//! stochastic, CKA (RBF, debiased), Bures and relative-whitening metrics.

use faer::Mat;
use repspace_metrics::{
    CkaEstimator, Kernel, LengthScale, MetricSpec, Score, Tensor, Whitening, compare, prepare, prepare_matrix,
};

use repspace_metrics::rng::SplitMix64 as Rng;

/// Draws used by these tests.
trait Draw {
    fn tensor(&mut self, shape: &[usize]) -> Tensor;
    fn orthogonal(&mut self, n: usize) -> Mat<f64>;
}

impl Draw for Rng {
    fn tensor(&mut self, shape: &[usize]) -> Tensor {
        let n = shape.iter().product();
        Tensor::new(shape.to_vec(), (0..n).map(|_| self.normal()).collect())
    }
    fn orthogonal(&mut self, n: usize) -> Mat<f64> {
        Mat::from_fn(n, n, |_, _| self.normal()).qr().compute_Q()
    }
}

fn d(spec: &MetricSpec, x: &Tensor, y: &Tensor) -> f64 {
    compare(spec, &prepare(spec, x, None).unwrap(), &prepare(spec, y, None).unwrap()).unwrap().distance
}

/// Multiply the last axis by Q.
fn rotate_units(x: &Tensor, q: &Mat<f64>) -> Tensor {
    let n = *x.shape().last().unwrap();
    let mut out = vec![0.0; x.data().len()];
    for (row, o) in x.data().chunks(n).zip(out.chunks_mut(n)) {
        for j in 0..n {
            o[j] = (0..n).map(|k| row[k] * q[(k, j)]).sum();
        }
    }
    Tensor::new(x.shape().to_vec(), out)
}

fn scaled(x: &Tensor, s: f64) -> Tensor {
    Tensor::new(x.shape().to_vec(), x.data().iter().map(|v| v * s).collect())
}

/// Roll [images, h, w, c] circularly by (dy, dx).
fn roll(x: &Tensor, dy: usize, dx: usize) -> Tensor {
    let (i_n, h, w, c) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let mut out = vec![0.0; x.data().len()];
    for i in 0..i_n {
        for y in 0..h {
            for xx in 0..w {
                for ch in 0..c {
                    let src = ((i * h + y) * w + xx) * c + ch;
                    let dst = ((i * h + (y + dy) % h) * w + (xx + dx) % w) * c + ch;
                    out[dst] = x.data()[src];
                }
            }
        }
    }
    Tensor::new(x.shape().to_vec(), out)
}

fn rbf(estimator: CkaEstimator) -> MetricSpec {
    MetricSpec::Cka { estimator, kernel: Kernel::Rbf { length_scale: LengthScale::Median } }
}

#[test]
fn every_kind_is_symmetric_and_zero_on_identical_inputs() {
    let mut rng = Rng(11);
    let cases: Vec<(MetricSpec, Vec<usize>)> = vec![
        (MetricSpec::ConvShape { alpha: 1.0, score: Score::Angular }, vec![3, 4, 4, 3]),
        (MetricSpec::ConvShape { alpha: 0.5, score: Score::Euclidean }, vec![3, 4, 4, 3]),
        (MetricSpec::GaussianStochastic { alpha: 1.0, max_iter: 1000, tol: 1e-8, cov_eps: 1e-6 }, vec![5, 8, 3]),
        (MetricSpec::EnergyStochastic { max_iter: 100, tol: 1e-6 }, vec![5, 6, 3]),
        (rbf(CkaEstimator::Biased), vec![20, 4]),
        (rbf(CkaEstimator::Debiased), vec![20, 4]),
        (MetricSpec::Cka { estimator: CkaEstimator::Debiased, kernel: Kernel::Linear }, vec![20, 4]),
        (
            MetricSpec::Shape { alpha: 0.5, score: Score::Angular, whitening: Whitening::Relative { rank_tol: 1e-7 } },
            vec![20, 4],
        ),
    ];
    for (spec, shape) in cases {
        let (x, y) = (rng.tensor(&shape), rng.tensor(&shape));
        let (xy, yx) = (d(&spec, &x, &y), d(&spec, &y, &x));
        // Gaussian and Energy fits are iterative; their symmetry holds to the fit's tolerance
        assert!((xy - yx).abs() < 1e-5, "{spec:?}: {xy} vs {yx}");
        let xx = d(&spec, &x, &x);
        assert!(xx.abs() < 1e-6, "{spec:?}: self-distance {xx}");
    }
}

#[test]
fn conv_metric_ignores_circular_shifts_of_either_side() {
    let mut rng = Rng(12);
    let spec = MetricSpec::ConvShape { alpha: 1.0, score: Score::Angular };
    let (x, y) = (rng.tensor(&[3, 4, 5, 3]), rng.tensor(&[3, 4, 5, 2]));
    let base = d(&spec, &x, &y);
    for (dy, dx) in [(1, 0), (0, 2), (3, 4)] {
        let moved = d(&spec, &roll(&x, dy, dx), &y);
        assert!((moved - base).abs() < 1e-10, "shift ({dy},{dx}): {moved} vs {base}");
        assert!(d(&spec, &x, &roll(&x, dy, dx)) < 1e-6, "a shifted copy is at distance 0");
    }
}

#[test]
fn stochastic_metrics_ignore_rotations_of_the_units() {
    let mut rng = Rng(13);
    for spec in [
        MetricSpec::GaussianStochastic { alpha: 1.0, max_iter: 1000, tol: 1e-10, cov_eps: 1e-6 },
        MetricSpec::GaussianStochastic { alpha: 0.0, max_iter: 1000, tol: 1e-10, cov_eps: 1e-6 },
        MetricSpec::EnergyStochastic { max_iter: 100, tol: 1e-8 },
    ] {
        let (x, y) = (rng.tensor(&[5, 8, 3]), rng.tensor(&[5, 8, 3]));
        let q = rng.orthogonal(3);
        let (before, after) = (d(&spec, &x, &y), d(&spec, &x, &rotate_units(&y, &q)));
        assert!((before - after).abs() < 1e-4, "{spec:?}: {before} vs {after}");
        assert!(d(&spec, &x, &rotate_units(&x, &q)) < 1e-3, "{spec:?}: a rotated copy is near 0");
    }
}

#[test]
fn angular_cka_variants_ignore_isotropic_scale_and_rotation() {
    let mut rng = Rng(14);
    for spec in [
        rbf(CkaEstimator::Biased),
        rbf(CkaEstimator::Debiased),
        MetricSpec::Cka { estimator: CkaEstimator::Debiased, kernel: Kernel::Linear },
    ] {
        let (x, y) = (rng.tensor(&[25, 5]), rng.tensor(&[25, 7]));
        let moved = rotate_units(&scaled(&y, 3.7), &rng.orthogonal(7));
        let (a, b) = (d(&spec, &x, &y), d(&spec, &x, &moved));
        assert!((a - b).abs() < 1e-10, "{spec:?}: {a} vs {b}");
    }
}

#[test]
fn relative_whitening_is_scale_invariant_where_netreps_is_not() {
    let mut rng = Rng(15);
    let (x, y) = (rng.tensor(&[40, 6]), rng.tensor(&[40, 8]));
    let relative =
        MetricSpec::Shape { alpha: 0.5, score: Score::Angular, whitening: Whitening::Relative { rank_tol: 1e-7 } };
    let netrep = MetricSpec::shape(0.5, Score::Angular);
    for s in [1e-3, 10.0] {
        let (a, b) = (d(&relative, &x, &y), d(&relative, &scaled(&x, s), &scaled(&y, s)));
        assert!((a - b).abs() < 1e-10, "relative whitening: {a} vs {b} at scale {s}");
        let (a, b) = (d(&relative, &x, &y), d(&relative, &scaled(&x, s), &y));
        assert!((a - b).abs() < 1e-10, "relative whitening, one side scaled: {a} vs {b}");
    }
    let (a, b) = (d(&netrep, &x, &y), d(&netrep, &scaled(&x, 10.0), &scaled(&y, 10.0)));
    assert!((a - b).abs() > 1e-4, "netrep's whitening depends on scale (§1.4): {a} vs {b}");
    // at alpha = 1 and alpha = 0 both whitenings give the same angle
    for alpha in [0.0, 1.0] {
        let r = MetricSpec::Shape { alpha, score: Score::Angular, whitening: Whitening::Relative { rank_tol: 1e-12 } };
        let (a, b) = (d(&r, &x, &y), d(&MetricSpec::shape(alpha, Score::Angular), &x, &y));
        assert!((a - b).abs() < 1e-8, "alpha {alpha}: relative {a} vs netrep {b}");
    }
}

#[test]
fn triangle_inequality_for_the_family_metrics() {
    let mut rng = Rng(16);
    let cases: Vec<(MetricSpec, Vec<usize>)> = vec![
        (MetricSpec::ConvShape { alpha: 1.0, score: Score::Angular }, vec![2, 3, 3, 2]),
        (MetricSpec::GaussianStochastic { alpha: 1.0, max_iter: 1000, tol: 1e-12, cov_eps: 1e-6 }, vec![4, 6, 2]),
        (rbf(CkaEstimator::Biased), vec![15, 3]),
        (
            MetricSpec::Shape { alpha: 0.5, score: Score::Angular, whitening: Whitening::Relative { rank_tol: 1e-7 } },
            vec![15, 3],
        ),
    ];
    for (spec, shape) in cases {
        for _ in 0..10 {
            let (x, y, z) = (rng.tensor(&shape), rng.tensor(&shape), rng.tensor(&shape));
            let (xy, yz, xz) = (d(&spec, &x, &y), d(&spec, &y, &z), d(&spec, &x, &z));
            assert!(xz <= xy + yz + 1e-6, "{spec:?}: {xz} > {xy} + {yz}");
        }
    }
}

/// Song et al.'s unbiased HSIC written as explicit sums over distinct index tuples
/// (eq. 5 of arXiv 0704.2668 expands to these three U-statistics).
fn hsic_u_explicit(k: &Mat<f64>, l: &Mat<f64>) -> f64 {
    let m = k.nrows();
    let (mut t1, mut t2, mut t3) = (0.0, 0.0, 0.0);
    for i in 0..m {
        for j in 0..m {
            if i == j {
                continue;
            }
            t1 += k[(i, j)] * l[(i, j)];
            for q in 0..m {
                if q == i || q == j {
                    continue;
                }
                t3 += k[(i, j)] * l[(j, q)];
                for r in 0..m {
                    if r == i || r == j || r == q {
                        continue;
                    }
                    t2 += k[(i, j)] * l[(q, r)];
                }
            }
        }
    }
    let mf = m as f64;
    let (p2, p3, p4) = (mf * (mf - 1.0), mf * (mf - 1.0) * (mf - 2.0), mf * (mf - 1.0) * (mf - 2.0) * (mf - 3.0));
    t1 / p2 + t2 / p4 - 2.0 * t3 / p3
}

#[test]
fn debiased_cka_equals_explicit_sums_of_the_unbiased_hsic() {
    let mut rng = Rng(17);
    for kernel in [Kernel::Linear, Kernel::Rbf { length_scale: LengthScale::Fixed(2.5) }] {
        let (x, y) = (rng.tensor(&[9, 3]), rng.tensor(&[9, 4]));
        let gram = |t: &Tensor| -> Mat<f64> {
            let m = t.to_matrix();
            let c = Mat::from_fn(m.rows(), m.cols(), |i, j| {
                m.get(i, j) - (0..m.rows()).map(|r| m.get(r, j)).sum::<f64>() / m.rows() as f64
            });
            match kernel {
                Kernel::Linear => &c * c.transpose(),
                Kernel::Rbf { .. } => Mat::from_fn(c.nrows(), c.nrows(), |i, j| {
                    let d2: f64 = (0..c.ncols()).map(|k| (c[(i, k)] - c[(j, k)]).powi(2)).sum();
                    (-d2 / 6.25).exp()
                }),
            }
        };
        let (k, l) = (gram(&x), gram(&y));
        let want = (hsic_u_explicit(&k, &l) / (hsic_u_explicit(&k, &k) * hsic_u_explicit(&l, &l)).sqrt()).acos();
        let got = d(&MetricSpec::Cka { estimator: CkaEstimator::Debiased, kernel }, &x, &y);
        assert!((got - want).abs() < 1e-10, "{kernel:?}: {got} vs explicit sums {want}");
    }
}

#[test]
fn bures_equals_the_gram_matrix_route() {
    // shape α = 1 euclidean = Bures distance between centred linear Gram matrices:
    // tr K_x + tr K_y − 2 tr (K_x^½ K_y K_x^½)^½ (§2.1), computed here through m × m
    // eigendecompositions (which loses ~√u‖K‖^½, hence the tolerance).
    let mut rng = Rng(18);
    let (x, y) = (rng.tensor(&[12, 4]), rng.tensor(&[12, 6]));
    let centred_gram = |t: &Tensor| {
        let m = t.to_matrix();
        let c = Mat::from_fn(m.rows(), m.cols(), |i, j| {
            m.get(i, j) - (0..m.rows()).map(|r| m.get(r, j)).sum::<f64>() / m.rows() as f64
        });
        &c * c.transpose()
    };
    let psd_sqrt = |a: &Mat<f64>| {
        let e = a.self_adjoint_eigen(faer::Side::Lower).unwrap();
        let n = a.nrows();
        let vals: Vec<f64> = (0..n).map(|i| e.S().column_vector()[i].max(0.0).sqrt()).collect();
        let u = e.U();
        Mat::from_fn(n, n, |i, j| (0..n).map(|k| u[(i, k)] * vals[k] * u[(j, k)]).sum())
    };
    let (kx, ky) = (centred_gram(&x), centred_gram(&y));
    let rx = psd_sqrt(&kx);
    let inner = psd_sqrt(&(&rx * &ky * &rx));
    let trace = |a: &Mat<f64>| (0..a.nrows()).map(|i| a[(i, i)]).sum::<f64>();
    let want = (trace(&kx) + trace(&ky) - 2.0 * trace(&inner)).max(0.0).sqrt();
    let spec = MetricSpec::shape(1.0, Score::Euclidean);
    let xm = x.to_matrix();
    let ym = y.to_matrix();
    let got = compare(&spec, &prepare_matrix(&spec, &xm, None).unwrap(), &prepare_matrix(&spec, &ym, None).unwrap())
        .unwrap()
        .distance;
    assert!((got - want).abs() < 1e-6, "{got} vs Bures through Gram square roots {want}");
}

#[test]
fn wrong_rank_and_bad_parameters_are_named() {
    let mut rng = Rng(19);
    let err = prepare(&MetricSpec::ConvShape { alpha: 1.0, score: Score::Angular }, &rng.tensor(&[10, 3]), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("4-D") && err.contains("[images, height, width, channels]"), "{err}");
    let err = MetricSpec::GaussianStochastic { alpha: 2.5, max_iter: 10, tol: 1e-8, cov_eps: 1e-6 }
        .validate()
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("alpha") && err.contains("[0, 2]"), "{err}");
    let err = MetricSpec::BiasCorrectedShape { alpha: 0.5, score: Score::Angular, moments: 4 }
        .validate()
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("alpha"), "{err}");
}
