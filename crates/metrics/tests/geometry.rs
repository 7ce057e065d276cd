//! Pullback geometry (§4) and Metric Similarity Analysis (§5) against finite differences,
//! closed forms, infinite-width limits and the pseudo-metric's invariances.

use faer::Mat;
use repspace_metrics::Matrix;
use repspace_metrics::geometry::{Activation, Dense, Mlp, log10_volume, pullback_metric, spectral_ratio};

use repspace_metrics::rng::SplitMix64 as Rng;

/// Draws used by these tests.
trait Draw {
    fn dense(&mut self, out: usize, inp: usize, act: Activation, residual: bool) -> Dense;
}

impl Draw for Rng {
    fn dense(&mut self, out: usize, inp: usize, act: Activation, residual: bool) -> Dense {
        let scale = 1.0 / (inp as f64).sqrt();
        let w: Vec<f64> = (0..out * inp).map(|_| scale * self.normal()).collect();
        Dense {
            weight: Matrix::from_row_major(out, inp, &w),
            bias: (0..out).map(|_| 0.3 * self.normal()).collect(),
            activation: act,
            residual,
        }
    }
}

const ALL: [Activation; 6] =
    [Activation::Tanh, Activation::Sigmoid, Activation::Erf, Activation::Gelu, Activation::Softplus, Activation::Relu];

#[test]
fn jacobians_match_finite_differences_for_every_activation() {
    let mut rng = Rng(1);
    for act in ALL {
        let net = Mlp {
            layers: vec![rng.dense(6, 3, act, false), rng.dense(6, 6, act, true), rng.dense(4, 6, act, false)],
            feature_layer: 3,
            readout: Some(rng.dense(3, 4, Activation::Identity, false)),
        };
        net.validate(3).unwrap();
        for _ in 0..5 {
            let x: Vec<f64> = (0..3).map(|_| rng.normal()).collect();
            let e = net.evaluate(&x);
            let h = 1e-6;
            let mut worst = 0.0f64;
            for k in 0..3 {
                let (mut xp, mut xm) = (x.clone(), x.clone());
                xp[k] += h;
                xm[k] -= h;
                let (fp, fm) = (net.evaluate(&xp).features, net.evaluate(&xm).features);
                for i in 0..e.features.len() {
                    let fd = (fp[i] - fm[i]) / (2.0 * h);
                    worst = worst.max((fd - e.jacobian[(i, k)]).abs() / e.jacobian.norm_l2());
                }
            }
            assert!(worst < 1e-6, "{act:?}: relative error {worst}");
        }
    }
}

#[test]
fn shallow_network_volume_equals_the_cauchy_binet_closed_form() {
    // one hidden layer, d = 2: det g = (1/n²) Σ_{j<k} φ′(z_j)² φ′(z_k)² (w_j1 w_k2 − w_j2 w_k1)²
    let mut rng = Rng(2);
    for act in [Activation::Tanh, Activation::Erf, Activation::Gelu] {
        let layer = rng.dense(7, 2, act, false);
        let net = Mlp { layers: vec![layer.clone()], feature_layer: 1, readout: None };
        let x = [rng.normal(), rng.normal()];
        let w = layer.weight.view();
        let z: Vec<f64> = (0..7).map(|j| layer.bias[j] + w[(j, 0)] * x[0] + w[(j, 1)] * x[1]).collect();
        let mut det = 0.0;
        for j in 0..7 {
            for k in (j + 1)..7 {
                let (dj, dk) = (act.derivative(z[j]), act.derivative(z[k]));
                det += dj * dj * dk * dk * (w[(j, 0)] * w[(k, 1)] - w[(j, 1)] * w[(k, 0)]).powi(2);
            }
        }
        det /= 49.0;
        let got = log10_volume(net.evaluate(&x).jacobian.as_ref(), 2).unwrap();
        let want = 0.5 * det.log10();
        assert!((got - want).abs() < 1e-10, "{act:?}: {got} vs Cauchy–Binet {want}");
        let g = pullback_metric(net.evaluate(&x).jacobian.as_ref());
        let det_g = g[(0, 0)] * g[(1, 1)] - g[(0, 1)] * g[(1, 0)];
        assert!((det_g - det).abs() < 1e-10 * det.abs().max(1e-300), "det g {det_g} vs {det}");
    }
}

/// Random-feature pullback metric JᵀJ/n of one layer of width n at x (d = 2).
fn random_feature_metric(act: Activation, n: usize, x: &[f64; 2], sigma_w: f64, sigma_b: f64, seed: u64) -> Mat<f64> {
    let mut rng = Rng(seed);
    let mut g = Mat::<f64>::zeros(2, 2);
    for _ in 0..n {
        let w = [sigma_w * rng.normal(), sigma_w * rng.normal()];
        let b = sigma_b * rng.normal();
        let d = act.derivative(w[0] * x[0] + w[1] * x[1] + b);
        for a in 0..2 {
            for c in 0..2 {
                g[(a, c)] += d * d * w[a] * w[c];
            }
        }
    }
    g * (1.0 / n as f64)
}

#[test]
fn random_feature_maps_converge_to_the_infinite_width_shapes() {
    let (sw, sb) = (1.0, 0.5);
    let widths = [1usize << 14, 1 << 15, 1 << 16, 1 << 17];
    let seeds = [11u64, 12, 13, 14];
    // erf: √det g ∝ (1 + 2s²)^{−(d+2)/4}, s² = σ_w²|x|² + σ_b²: compare the ratio at two radii
    let (x1, x2) = ([0.3, 0.0], [0.0, 1.5]);
    let s2 = |x: &[f64; 2]| sw * sw * (x[0] * x[0] + x[1] * x[1]) + sb * sb;
    let want = ((1.0 + 2.0 * s2(&x1)) / (1.0 + 2.0 * s2(&x2))).powf(-1.0);
    let sqrt_det = |g: &Mat<f64>| (g[(0, 0)] * g[(1, 1)] - g[(0, 1)] * g[(1, 0)]).sqrt();
    let erf_err: Vec<f64> = widths
        .iter()
        .map(|&n| {
            seeds
                .iter()
                .map(|&s| {
                    let r = sqrt_det(&random_feature_metric(Activation::Erf, n, &x1, sw, sb, s))
                        / sqrt_det(&random_feature_metric(Activation::Erf, n, &x2, sw, sb, s + 100));
                    (r / want - 1.0).abs()
                })
                .sum::<f64>()
                / seeds.len() as f64
        })
        .collect();
    // ReLU (no bias): the limit of JᵀJ/n is I/2, so g/tr(g)·2 → I
    let relu_err: Vec<f64> = widths
        .iter()
        .map(|&n| {
            seeds
                .iter()
                .map(|&s| {
                    let g = random_feature_metric(Activation::Relu, n, &[0.7, -0.4], 1.0, 0.0, s);
                    let t = g[(0, 0)] + g[(1, 1)];
                    ((2.0 * g[(0, 0)] / t - 1.0).powi(2)
                        + (2.0 * g[(1, 1)] / t - 1.0).powi(2)
                        + 2.0 * (2.0 * g[(0, 1)] / t).powi(2))
                    .sqrt()
                        + (t - 1.0).abs()
                })
                .sum::<f64>()
                / seeds.len() as f64
        })
        .collect();
    eprintln!("erf volume-ratio relative error by width 2^14..2^17: {erf_err:?}");
    eprintln!("relu deviation from g = I/2 by width 2^14..2^17:     {relu_err:?}");
    // O(n^{-1/2}): 8× the width should cut the error by ≈ 2.8; demand at least 1.6 (noise)
    for errs in [&erf_err, &relu_err] {
        assert!(errs[3] < errs[0] / 1.6, "error falls with width: {errs:?}");
        assert!(errs[3] < 0.02, "close to the closed form at 2^17: {errs:?}");
    }
}

fn spd(rng: &mut Rng, d: usize) -> Mat<f64> {
    let a = Mat::from_fn(d + 2, d, |_, _| rng.normal());
    a.transpose() * &a
}

#[test]
fn msa_spectral_ratio_is_a_scale_blind_chart_invariant_pseudo_metric() {
    let mut rng = Rng(3);
    let d = 4;
    for _ in 0..10 {
        let (g1, g2, g3) = (spd(&mut rng, d), spd(&mut rng, d), spd(&mut rng, d));
        let sr = |a: &Mat<f64>, b: &Mat<f64>| spectral_ratio(a.as_ref(), b.as_ref(), 0.0).unwrap();
        let base = sr(&g1, &g2);
        // a common chart change G ↦ AᵀGA
        let a = Mat::from_fn(d, d, |i, j| if i == j { 1.5 } else { 0.0 } + 0.4 * rng.normal());
        let moved = |g: &Mat<f64>| a.transpose() * g * &a;
        assert!((sr(&moved(&g1), &moved(&g2)) - base).abs() < 1e-10, "chart invariance");
        // scaling either network's output scales its metric
        assert!(
            (sr(&(&g1 * 9.0), &g2) - base).abs() < 1e-12 && (sr(&g1, &(&g2 * 0.01)) - base).abs() < 1e-12,
            "scale blind"
        );
        assert!(sr(&g1, &(&g1 * 4.0)) < 1e-7, "zero for a rescaled copy");
        assert!((sr(&g1, &g2) - sr(&g2, &g1)).abs() < 1e-12, "symmetric");
        assert!(sr(&g1, &g3) <= sr(&g1, &g2) + sr(&g2, &g3) + 1e-12, "triangle inequality");
    }
    // rank-deficient without eps: 1; with eps: below 1
    let j = Mat::from_fn(2, d, |_, _| rng.normal());
    let deficient = j.transpose() * &j;
    let full = spd(&mut rng, d);
    assert_eq!(spectral_ratio(deficient.as_ref(), full.as_ref(), 0.0).unwrap(), 1.0);
    assert!(spectral_ratio(deficient.as_ref(), full.as_ref(), 1e-6).unwrap() < 1.0);
}

/// The volume by QR (log₁₀|det R|) equals the sum of the exact terms within its stated bound
/// r·ε·κ_F(J)/ln 10, on Jacobians of condition numbers 1e0 to 1e12 (J = U diag(σ) Vᵀ with σ
/// log-spaced, so the exact volume is known), and so does the SVD's sum with the same bound.
#[test]
fn volume_by_qr_is_as_exact_as_the_svd() {
    use repspace_metrics::geometry::{log10_singular_values_by_svd, log10_volume, log10_volume_by_qr};
    let mut rng = Rng(41);
    for (n, d) in [(64, 64), (16, 64), (64, 16)] {
        let r = n.min(d);
        for decades in [0.0, 2.0, 4.0, 6.0, 12.0] {
            let u = rng.normal_matrix(n, r).to_faer().qr().compute_thin_Q();
            let v = rng.normal_matrix(d, r).to_faer().qr().compute_thin_Q();
            let sigma: Vec<f64> = (0..r).map(|i| 10f64.powf(-decades * i as f64 / (r - 1) as f64)).collect();
            let j = Mat::from_fn(n, d, |a, b| (0..r).map(|k| u[(a, k)] * sigma[k] * v[(b, k)]).sum::<f64>());
            let exact: f64 = sigma.iter().map(|s| s.log10()).sum::<f64>() - 0.5 * r as f64 * (n as f64).log10();
            // κ_F = ‖J‖_F ‖J⁺‖_F; forming J from its factors adds a few ε of the same kind
            let kappa_f =
                sigma.iter().map(|s| s * s).sum::<f64>().sqrt() * sigma.iter().map(|s| s.powi(-2)).sum::<f64>().sqrt();
            let bound = 4.0 * r as f64 * f64::EPSILON * kappa_f / std::f64::consts::LN_10;
            let (by_qr, stated) = log10_volume_by_qr(j.as_ref()).unwrap();
            assert!(
                stated <= bound && stated >= bound / 40.0,
                "the stated bound {stated:.2e} is this bound {bound:.2e}"
            );
            let by_svd: f64 = log10_singular_values_by_svd(j.as_ref()).unwrap().iter().sum();
            assert!(
                (by_qr - exact).abs() <= bound,
                "{n}x{d}, κ = 1e{decades}: QR off by {:.2e} > {bound:.2e}",
                (by_qr - exact).abs()
            );
            assert!(
                (by_svd - exact).abs() <= bound,
                "{n}x{d}, κ = 1e{decades}: SVD off by {:.2e} > {bound:.2e}",
                (by_svd - exact).abs()
            );
        }
        // a square Jacobian with a dead unit's zero row is singular: its bound passes the
        // tolerance and the volume is the SVD's, bit for bit
        if n == d {
            let mut dead =
                Mat::from_fn(n, d, |a, b| ((a * 7 + b * 3) % 11) as f64 - 5.0 + if a == b { 20.0 } else { 0.0 });
            dead.row_mut(0).fill(0.0);
            assert!(log10_volume_by_qr(dead.as_ref()).unwrap().1 > repspace_metrics::geometry::VOLUME_LOG10_TOLERANCE);
            let svd_sum: f64 = log10_singular_values_by_svd(dead.as_ref()).unwrap().iter().sum();
            assert_eq!(log10_volume(dead.as_ref(), n).unwrap().to_bits(), svd_sum.to_bits());
        }
        let nan = Mat::from_fn(n, d, |a, _| if a == 1 { f64::NAN } else { 1.0 });
        assert!(log10_volume_by_qr(nan.as_ref()).is_err(), "a non-finite Jacobian is an error");
    }
}
