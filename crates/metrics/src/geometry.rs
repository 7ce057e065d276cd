//! Input-space Riemannian geometry of networks given by weights (Zavatone-Veth, Yang,
//! Rubinfien, Pehlevan, arXiv 2301.11375; docs/math.md §4) and Metric Similarity
//! Analysis between networks (Cayco Gajic & Pellegrino, arXiv 2603.28764; §5).
//!
//! The pullback metric of a feature map Φ: ℝ^d → ℝ^n is g(x) = J(x)ᵀJ(x)/n. Jacobians are
//! exact (forward accumulation through the layers), never finite differences.

use faer::{Mat, MatRef, Side};
use serde::{Deserialize, Serialize};

use crate::{Matrix, MetricError, PairScore};

/// Elementwise nonlinearities with their derivatives (§4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Identity,
    Tanh,
    Sigmoid,
    /// erf(z/√2)
    Erf,
    /// z·Φ_N(z)
    Gelu,
    /// ln(1 + eᶻ)
    Softplus,
    /// max(z, 0); derivative 1{z > 0} (piecewise constant volume; kinks have measure zero)
    Relu,
}

const SQRT_2: f64 = std::f64::consts::SQRT_2;
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

impl Activation {
    pub fn value(self, z: f64) -> f64 {
        match self {
            Activation::Identity => z,
            Activation::Tanh => z.tanh(),
            Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
            Activation::Erf => libm::erf(z / SQRT_2),
            Activation::Gelu => z * 0.5 * (1.0 + libm::erf(z / SQRT_2)),
            Activation::Softplus => {
                if z > 30.0 {
                    z
                } else {
                    z.exp().ln_1p()
                }
            }
            Activation::Relu => z.max(0.0),
        }
    }

    pub fn derivative(self, z: f64) -> f64 {
        match self {
            Activation::Identity => 1.0,
            Activation::Tanh => 1.0 - z.tanh().powi(2),
            Activation::Sigmoid => {
                let s = 1.0 / (1.0 + (-z).exp());
                s * (1.0 - s)
            }
            Activation::Erf => 2.0 * INV_SQRT_2PI * (-0.5 * z * z).exp(),
            Activation::Gelu => 0.5 * (1.0 + libm::erf(z / SQRT_2)) + z * INV_SQRT_2PI * (-0.5 * z * z).exp(),
            Activation::Softplus => 1.0 / (1.0 + (-z).exp()),
            Activation::Relu => f64::from(u8::from(z > 0.0)),
        }
    }
}

/// y = φ(W x + b), with W stored out × in (PyTorch's convention); a residual layer adds x.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Dense {
    pub weight: Matrix,
    pub bias: Vec<f64>,
    pub activation: Activation,
    pub residual: bool,
}

/// A multilayer perceptron: hidden layers, the index of the layer whose output is the
/// feature map, and an optional linear readout to class logits.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Mlp {
    pub layers: Vec<Dense>,
    /// 1-based: the output of layers[feature_layer − 1] is Φ(x).
    pub feature_layer: usize,
    pub readout: Option<Dense>,
}

/// One point's evaluation: features, their Jacobian, and readout logits.
#[derive(Clone, Debug)]
pub struct Evaluation {
    pub features: Vec<f64>,
    /// n × d
    pub jacobian: Mat<f64>,
    pub logits: Option<Vec<f64>>,
}

impl Mlp {
    /// Check shapes: each layer's input width is the previous output width; residual
    /// layers are square.
    pub fn validate(&self, input_dim: usize) -> Result<(), MetricError> {
        let mut width = input_dim;
        for (i, l) in self.layers.iter().chain(self.readout.iter()).enumerate() {
            let (out, inp) = (l.weight.rows(), l.weight.cols());
            if inp != width || l.bias.len() != out || (l.residual && out != inp) {
                return Err(MetricError::ShapeMismatch {
                    a: vec![width],
                    b: vec![out, inp, l.bias.len()],
                    what: if i < self.layers.len() { "layer input width, weight [out, in], bias" } else { "readout" },
                });
            }
            width = out;
        }
        if self.feature_layer == 0 || self.feature_layer > self.layers.len() {
            return Err(MetricError::Parameter {
                key: "feature_layer",
                reason: format!("must lie in 1..={}, got {}", self.layers.len(), self.feature_layer),
            });
        }
        Ok(())
    }

    pub fn input_dim(&self) -> usize {
        self.layers.first().map(|l| l.weight.cols()).unwrap_or(0)
    }

    /// Features, Jacobian by forward accumulation J_l = (R + diag(φ′(z_l)) W_l) J_{l−1}
    /// (R = I for residual layers, else 0), and logits (§4.2).
    pub fn evaluate(&self, x: &[f64]) -> Evaluation {
        let d = x.len();
        let mut h = x.to_vec();
        let mut jac = Mat::<f64>::identity(d, d);
        let mut features = None;
        let mut out_h = Vec::new();
        for (idx, layer) in self.layers.iter().enumerate() {
            let (next, next_j) = step(layer, &h, jac.as_ref());
            h = next;
            jac = next_j;
            if idx + 1 == self.feature_layer {
                features = Some((h.clone(), jac.clone()));
            }
            out_h = h.clone();
        }
        let logits =
            self.readout.as_ref().map(|r| affine(r, &out_h).into_iter().map(|z| r.activation.value(z)).collect());
        let (features, jacobian) = features.unwrap_or((h, jac));
        Evaluation { features, jacobian, logits }
    }
}

fn affine(layer: &Dense, h: &[f64]) -> Vec<f64> {
    let w = layer.weight.view();
    (0..w.nrows()).map(|i| layer.bias[i] + (0..w.ncols()).map(|k| w[(i, k)] * h[k]).sum::<f64>()).collect()
}

fn step(layer: &Dense, h: &[f64], jac: MatRef<'_, f64>) -> (Vec<f64>, Mat<f64>) {
    let z = affine(layer, h);
    let w = layer.weight.view();
    // diag(φ′(z)) W J: one derivative per unit, scaling its row
    let slope: Vec<f64> = z.iter().map(|&v| layer.activation.derivative(v)).collect();
    let wj = w * jac;
    let mut next_j = Mat::from_fn(wj.nrows(), wj.ncols(), |i, c| slope[i] * wj[(i, c)]);
    let mut next: Vec<f64> = z.iter().map(|&v| layer.activation.value(v)).collect();
    if layer.residual {
        next_j += jac;
        next.iter_mut().zip(h).for_each(|(a, b)| *a += b);
    }
    (next, next_j)
}

/// log₁₀ of the volume element over the top `k` singular values of J/√n:
/// Σ_{i≤k} log₁₀ σ_i(J/√n) = ½ Σ_{i≤k} log₁₀ λ_i(g). With k = d ≤ n this is log₁₀ √det g (§4.1).
/// Over every term (k ≥ min(n, d)) by QR ([`log10_volume_by_qr`]) when its bound is within
/// [`VOLUME_LOG10_TOLERANCE`]; otherwise (a smaller k, or a near-singular Jacobian such as a
/// ReLU network's with dead units) the SVD's top k terms summed.
pub fn log10_volume(jacobian: MatRef<'_, f64>, k: usize) -> Result<f64, MetricError> {
    // a zero row (a unit whose derivative vanishes, as ReLU's do) makes a J with n ≤ d
    // singular: straight to the SVD
    let singular = jacobian.nrows() <= jacobian.ncols()
        && (0..jacobian.nrows()).any(|i| jacobian.row(i).iter().all(|&v| v == 0.0));
    if k >= jacobian.nrows().min(jacobian.ncols())
        && !singular
        && let (volume, bound) = log10_volume_by_qr(jacobian)?
        && bound <= VOLUME_LOG10_TOLERANCE
    {
        return Ok(volume);
    }
    Ok(log10_singular_values(jacobian)?.iter().take(k).sum())
}

/// log₁₀ σ_i(J/√n), descending: the terms of every volume of one Jacobian, by the SVD
/// (needed when a volume keeps only the top k < min(n, d) terms; [`log10_volume`] sums all of
/// them at a fifth of the cost).
pub fn log10_singular_values(jacobian: MatRef<'_, f64>) -> Result<Vec<f64>, MetricError> {
    log10_singular_values_by_svd(jacobian)
}

/// log₁₀ σ_i(J/√n) by faer's singular values (the reference path).
pub fn log10_singular_values_by_svd(jacobian: MatRef<'_, f64>) -> Result<Vec<f64>, MetricError> {
    let n = jacobian.nrows() as f64;
    let s = jacobian.singular_values().map_err(|_| MetricError::Svd)?;
    Ok(s.iter().map(|v| (v / n.sqrt()).log10()).collect())
}

/// Largest error bound (log₁₀ units) with which [`log10_volume`] keeps the QR result. The SVD
/// is no more exact past it (its bound is the same); it is kept there because a point that
/// ill-conditioned (κ_F ≳ 10⁶ at d = 64, e.g. a ReLU network's dead units) has few digits
/// either way, and so keeps the value earlier runs wrote for it.
pub const VOLUME_LOG10_TOLERANCE: f64 = 1e-8;

/// Σ_{i≤r} log₁₀ σ_i(J/√n), r = min(n, d), as log₁₀|det R| − (r/2)·log₁₀ n with R the r × r
/// triangular factor of the Householder QR of J's tall side (J when d ≤ n, Jᵀ otherwise),
/// since Π σ_i = |det R|; and its error bound.
///
/// Error bound. Householder QR is backward stable: R is the exact factor of J + ΔJ with
/// ‖ΔJ‖_F ≲ r·ε·‖J‖_F, and to first order ln|det| moves by tr(J⁺ΔJ) ≤ ‖J⁺‖_F‖ΔJ‖_F, so the
/// result is within r·ε·κ_F(J)/ln 10 of the exact value, κ_F = ‖J‖_F‖R⁻¹‖_F (∞ when R is
/// singular). The SVD's bidiagonalisation is backward stable with the same bound, so this path
/// is as exact as [`log10_singular_values_by_svd`] summed, at a fifth of its cost. (The
/// eigenvalues of the pullback metric g = JᵀJ/n are cheaper still but not exact enough:
/// squaring makes their bound grow as κ², and on MLPs shaped as the demo zoo's it exceeded
/// 1e-12 at 62–100 % of the points.)
pub fn log10_volume_by_qr(jacobian: MatRef<'_, f64>) -> Result<(f64, f64), MetricError> {
    let n = jacobian.nrows();
    let tall = if jacobian.ncols() <= n { jacobian } else { jacobian.transpose() };
    let r = tall.ncols();
    if r == 0 {
        return Ok((0.0, 0.0));
    }
    if !tall.is_all_finite() {
        return Err(MetricError::Svd);
    }
    let factor = tall.qr().thin_R().to_owned();
    let log_det: f64 = (0..r).map(|i| factor[(i, i)].abs().log10()).sum();
    // ‖R⁻¹‖_F by solving R X = I (r³/3 flops; infinite when R is singular)
    let mut inverse = Mat::<f64>::identity(r, r);
    faer::linalg::triangular_solve::solve_upper_triangular_in_place(factor.as_ref(), inverse.as_mut(), faer::Par::Seq);
    let kappa = tall.norm_l2() * inverse.norm_l2();
    let bound =
        if kappa.is_finite() { r as f64 * f64::EPSILON * kappa / std::f64::consts::LN_10 } else { f64::INFINITY };
    Ok((log_det - 0.5 * r as f64 * (n as f64).log10(), bound))
}

/// The pullback metric g = JᵀJ/n (d × d).
pub fn pullback_metric(jacobian: MatRef<'_, f64>) -> Mat<f64> {
    (jacobian.transpose() * jacobian) * (1.0 / jacobian.nrows() as f64)
}

/// Predicted class and softmax entropy (nats) of logits.
pub fn class_and_entropy(logits: &[f64]) -> (usize, f64) {
    let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
    let total: f64 = exps.iter().sum();
    let entropy = -exps.iter().map(|e| e / total).filter(|&p| p > 0.0).map(|p| p * p.ln()).sum::<f64>();
    let class = (0..logits.len()).max_by(|&a, &b| logits[a].total_cmp(&logits[b])).unwrap_or(0);
    (class, entropy)
}

/// Where to evaluate (§4.3): a point's slice coordinates and its input.
pub type SlicePoint = (Vec<f64>, Vec<f64>);

/// x_i = x_a + (i/S)(x_b − x_a), i = 0..S−1 (the endpoint is excluded).
pub fn line_slice(xa: &[f64], xb: &[f64], steps: usize) -> Vec<SlicePoint> {
    (0..steps)
        .map(|i| {
            let t = i as f64 / steps as f64;
            (vec![t], xa.iter().zip(xb).map(|(a, b)| a + t * (b - a)).collect())
        })
        .collect()
}

/// The paper's ternary plane through x₁, x₂, x₃: o + a·u + b·v on a grid (a, b) ∈ [−1, 1]²,
/// o the centroid, u = x₂ − x₁, v = 2√3((x₁ + x₂)/2 − o).
pub fn plane_slice(x1: &[f64], x2: &[f64], x3: &[f64], steps: usize) -> Vec<SlicePoint> {
    let o: Vec<f64> = (0..x1.len()).map(|i| (x1[i] + x2[i] + x3[i]) / 3.0).collect();
    let u: Vec<f64> = (0..x1.len()).map(|i| x2[i] - x1[i]).collect();
    let v: Vec<f64> = (0..x1.len()).map(|i| 2.0 * 3f64.sqrt() * ((x1[i] + x2[i]) / 2.0 - o[i])).collect();
    let axis = |k: usize| -1.0 + 2.0 * k as f64 / (steps.max(2) - 1) as f64;
    let mut out = Vec::with_capacity(steps * steps);
    for ia in 0..steps {
        for ib in 0..steps {
            let (a, b) = (axis(ia), axis(ib));
            out.push((vec![a, b], (0..o.len()).map(|i| o[i] + a * u[i] + b * v[i]).collect()));
        }
    }
    out
}

/// Spearman's rank correlation (average ranks for ties).
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    fn ranks(v: &[f64]) -> Vec<f64> {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
        let mut r = vec![0.0; v.len()];
        let mut i = 0;
        while i < idx.len() {
            let mut j = i;
            while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
                j += 1;
            }
            let avg = (i + j) as f64 / 2.0 + 1.0;
            for k in i..=j {
                r[idx[k]] = avg;
            }
            i = j + 1;
        }
        r
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let n = a.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ra.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

/// The spectral-ratio distance between two metrics at one point (§5):
/// d_SR = 1 − √(λ_min/λ_max) of G₁v = λG₂v, with εI added to both (ε ≥ 0). A
/// rank-deficient metric gives 1 (λ_min = 0 or λ_max = ∞).
pub fn spectral_ratio(g1: MatRef<'_, f64>, g2: MatRef<'_, f64>, eps: f64) -> Result<f64, MetricError> {
    let d = g1.nrows();
    let reg =
        |g: MatRef<'_, f64>| Mat::from_fn(d, d, |i, j| 0.5 * (g[(i, j)] + g[(j, i)]) + if i == j { eps } else { 0.0 });
    let (a, b) = (reg(g1), reg(g2));
    let Ok(llt) = b.llt(Side::Lower) else { return Ok(1.0) };
    let l = llt.L();
    let mut half = a.clone();
    l.solve_lower_triangular_in_place(half.as_mut());
    let mut m = half.transpose().to_owned();
    l.solve_lower_triangular_in_place(m.as_mut());
    let sym = Mat::from_fn(d, d, |i, j| 0.5 * (m[(i, j)] + m[(j, i)]));
    let vals = sym.self_adjoint_eigenvalues(Side::Lower).map_err(|_| MetricError::Eigen)?;
    let (lo, hi) = (vals[0], vals[d - 1]);
    // relative to the largest: eigenvalues below rounding of it are zero
    if !(hi > 0.0) || lo <= hi * 1e-13 {
        return Ok(1.0);
    }
    Ok(1.0 - (lo / hi).sqrt())
}

/// A network prepared for MSA: its pullback metric at every probe point.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PreparedMsa {
    /// P metrics, each d × d.
    pub metrics: Vec<Matrix>,
}

impl PreparedMsa {
    /// From a [points, d, d] array of metrics.
    pub fn from_tensor(t: &crate::Tensor) -> Result<Self, MetricError> {
        let (p, d) = (t.shape()[0], t.shape()[1]);
        if t.shape()[2] != d {
            return Err(MetricError::ShapeMismatch {
                a: vec![d, d],
                b: t.shape()[1..].to_vec(),
                what: "metrics are square",
            });
        }
        let metrics = (0..p).map(|i| Matrix::from_row_major(d, d, &t.data()[i * d * d..(i + 1) * d * d])).collect();
        Ok(PreparedMsa { metrics })
    }
}

/// The per-point spectral-ratio distances of two networks at the same probe points.
pub fn msa_per_point(a: &PreparedMsa, b: &PreparedMsa, eps: f64) -> Result<Vec<f64>, MetricError> {
    if a.metrics.len() != b.metrics.len() {
        return Err(MetricError::SampleCountMismatch { a: a.metrics.len(), b: b.metrics.len() });
    }
    a.metrics.iter().zip(&b.metrics).map(|(g1, g2)| spectral_ratio(g1.view(), g2.view(), eps)).collect()
}

/// d_MSA: the mean of d_SR over the probe points.
pub(crate) fn compare_msa(a: &PreparedMsa, b: &PreparedMsa, eps: f64) -> Result<PairScore, MetricError> {
    let per = msa_per_point(a, b, eps)?;
    Ok(PairScore::plain(per.iter().sum::<f64>() / per.len() as f64))
}
