//! A bias-corrected estimate of the angular Procrustes shape distance (α = 1), by the
//! method of moments (Pospisil, Larsen, Harvey, Williams 2024, arXiv 2310.05742).
//!
//! The plug-in distance arccos(‖S_xy‖_* / √(tr S_xx tr S_yy)) over-estimates the nuclear
//! norm of the cross-covariance when units are many compared with stimuli: sampling noise
//! adds singular-value mass. Here, with rows scaled so that tr Σ̂_xx = tr Σ̂_yy = 1:
//!
//! 1. The spectral moments μ_k = tr((Σ_xyᵀΣ_xy)^k), k = 1..K, are estimated without bias
//!    by U-statistics over 2k distinct stimuli: Σ over i₁ < … < i₂ₖ of the alternating
//!    cycle K_y[i₁,i₂] K_x[i₂,i₃] ⋯ K_x[i₂ₖ,i₁] has expectation C(m, 2k)·μ_k, and equals
//!    tr(U_y (U_x U_y)^{k−1} K_x) with U the strictly upper triangles of the Gram matrices
//!    (the increasing-path trick of Kong & Valiant 2017).
//! 2. A nonnegative spectrum on a grid of σ² ∈ [0, T] with min(n_x, n_y) atoms is fitted to
//!    those moments (nonnegative least squares), and ‖Σ_xy‖_* = Σ σ is read off it.
//!
//! Rows are assumed independent; centring with the sample mean adds an O(1/m) bias.

use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};

use crate::shape::{column_means, subtract_means};
use crate::{Matrix, MetricError, PairScore, clipped_arccos};

/// Per representation: centred rows scaled to unit estimated total variance, and their
/// Gram matrix.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PreparedMoments {
    moments: usize,
    /// X̃ / √(tr X̃ᵀX̃ / (m−1)): m × n
    xs: Matrix,
    /// xs xsᵀ: m × m
    gram: Matrix,
}

impl PreparedMoments {
    pub fn new(x: &Matrix, moments: usize) -> Result<Self, MetricError> {
        let m = x.rows();
        if m < 2 * moments {
            return Err(MetricError::TooSmall { rows: m, cols: x.cols() });
        }
        let xc = subtract_means(x.view(), &column_means(x.view()));
        let total = xc.squared_norm_l2() / (m as f64 - 1.0);
        if !(total > 0.0) {
            return Err(MetricError::NotFinite("the representation has zero variance".into()));
        }
        let xs = &xc * (1.0 / total.sqrt());
        let gram = &xs * xs.transpose();
        Ok(PreparedMoments { moments, xs: Matrix::from_faer(xs.as_ref()), gram: Matrix::from_faer(gram.as_ref()) })
    }
}

fn strict_upper(k: MatRef<'_, f64>) -> Mat<f64> {
    Mat::from_fn(k.nrows(), k.ncols(), |i, j| if i < j { k[(i, j)] } else { 0.0 })
}

/// ln C(m, r)
fn ln_binomial(m: usize, r: usize) -> f64 {
    (0..r).map(|i| ((m - i) as f64).ln() - ((i + 1) as f64).ln()).sum()
}

/// Unbiased estimates of μ_k = tr((Σ_xyᵀΣ_xy)^k), k = 1..K, from the two Gram matrices.
fn moment_estimates(kx: MatRef<'_, f64>, ky: MatRef<'_, f64>, count: usize) -> Vec<f64> {
    let m = kx.nrows();
    let (ux, uy) = (strict_upper(kx), strict_upper(ky));
    let mut chain = uy.clone();
    let mut out = Vec::with_capacity(count);
    for k in 1..=count {
        if k > 1 {
            chain = &chain * &ux * &uy;
        }
        // tr(chain · K_x) = Σ_ij chain[i,j] K_x[j,i]
        let mut s = 0.0;
        for j in 0..m {
            for i in 0..m {
                s += chain[(i, j)] * kx[(j, i)];
            }
        }
        out.push(s / ln_binomial(m, 2 * k).exp());
    }
    out
}

/// min ‖A w − b‖ subject to w ≥ 0 (Lawson & Hanson 1974, active set).
pub fn nonnegative_least_squares(a: MatRef<'_, f64>, b: &[f64]) -> Vec<f64> {
    let (rows, cols) = (a.nrows(), a.ncols());
    let mut w = vec![0.0; cols];
    let mut passive = vec![false; cols];
    let residual_grad = |w: &[f64]| -> Vec<f64> {
        let r: Vec<f64> = (0..rows).map(|i| b[i] - (0..cols).map(|j| a[(i, j)] * w[j]).sum::<f64>()).collect();
        (0..cols).map(|j| (0..rows).map(|i| a[(i, j)] * r[i]).sum()).collect()
    };
    // least squares on the passive set
    let solve_passive = |passive: &[bool]| -> Vec<f64> {
        let idx: Vec<usize> = (0..cols).filter(|&j| passive[j]).collect();
        let sub = Mat::from_fn(rows, idx.len(), |i, k| a[(i, idx[k])]);
        let rhs = Mat::from_fn(rows, 1, |i, _| b[i]);
        let mut z = vec![0.0; cols];
        if idx.is_empty() {
            return z;
        }
        // minimum-norm solution through the SVD (robust to rank deficiency)
        if let Ok(svd) = sub.thin_svd() {
            let s = svd.S().column_vector();
            let tol = 1e-12 * s[0].max(1e-300);
            let utb = svd.U().transpose() * &rhs;
            let coef = Mat::from_fn(s.nrows(), 1, |i, _| if s[i] > tol { utb[(i, 0)] / s[i] } else { 0.0 });
            let sol = svd.V() * &coef;
            for (k, &j) in idx.iter().enumerate() {
                z[j] = sol[(k, 0)];
            }
        }
        z
    };
    for _outer in 0..(3 * cols) {
        let grad = residual_grad(&w);
        let candidate =
            (0..cols).filter(|&j| !passive[j] && grad[j] > 1e-14).max_by(|&i, &j| grad[i].total_cmp(&grad[j]));
        let Some(j) = candidate else { break };
        passive[j] = true;
        for _inner in 0..(3 * cols) {
            let z = solve_passive(&passive);
            if (0..cols).filter(|&j| passive[j]).all(|j| z[j] > 0.0) {
                w = z;
                break;
            }
            // step back toward the feasible region and drop the variables that hit zero
            let mut alpha = 1.0f64;
            for j in (0..cols).filter(|&j| passive[j] && z[j] <= 0.0) {
                alpha = alpha.min(w[j] / (w[j] - z[j]));
            }
            for j in 0..cols {
                w[j] += alpha * (z[j] - w[j]);
                if passive[j] && w[j] <= 1e-15 {
                    passive[j] = false;
                    w[j] = 0.0;
                }
            }
        }
    }
    w
}

/// Σ σ_i from estimated moments: fit a nonnegative spectrum with `atoms` singular values
/// on a grid of σ² ∈ [0, t_max] to (atoms, μ̂_1, …, μ̂_K).
fn nuclear_norm_from_moments(moments: &[f64], atoms: usize, t_max: f64) -> f64 {
    const GRID: usize = 400;
    let t: Vec<f64> = (0..=GRID).map(|j| t_max * (j as f64 / GRID as f64).powi(2)).collect();
    let rows = moments.len() + 1;
    // scale each moment row by t_max^k so every row is O(1)
    let a = Mat::from_fn(rows, t.len(), |k, j| if k == 0 { 1.0 } else { (t[j] / t_max).powi(k as i32) });
    let mut b = vec![atoms as f64];
    b.extend(moments.iter().enumerate().map(|(k, &mu)| mu / t_max.powi(k as i32 + 1)));
    let w = nonnegative_least_squares(a.as_ref(), &b);
    w.iter().zip(&t).map(|(wj, tj)| wj * tj.sqrt()).sum()
}

pub(crate) fn compare(a: &PreparedMoments, b: &PreparedMoments) -> Result<PairScore, MetricError> {
    let m = a.xs.rows();
    if m != b.xs.rows() {
        return Err(MetricError::SampleCountMismatch { a: m, b: b.xs.rows() });
    }
    let moments = moment_estimates(a.gram.view(), b.gram.view(), a.moments.min(b.moments));
    // the plug-in spectrum bounds the population one from above (noise adds mass)
    let cross = (a.xs.view().transpose() * b.xs.view()) * (1.0 / (m as f64 - 1.0));
    let sigma = cross.singular_values().map_err(|_| MetricError::Svd)?;
    let t_max = 1.5 * sigma.first().copied().unwrap_or(0.0).powi(2);
    if !(t_max > 0.0) {
        return Ok(PairScore::plain(std::f64::consts::FRAC_PI_2));
    }
    let atoms = a.xs.cols().min(b.xs.cols());
    // traces are 1 by construction, so the similarity is the nuclear norm itself
    let similarity = nuclear_norm_from_moments(&moments, atoms, t_max);
    Ok(PairScore::plain(clipped_arccos(similarity)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moment_estimates_equal_brute_force_u_statistics() {
        // small m: enumerate all ordered 2k-tuples of distinct indices
        let m = 7;
        let x = Mat::from_fn(m, 2, |i, j| ((i * 3 + j * 5) % 7) as f64 - 3.0 + 0.1 * i as f64);
        let y = Mat::from_fn(m, 3, |i, j| ((i * 2 + j * 3) % 5) as f64 - 2.0 + 0.05 * (i * j) as f64);
        let (kx, ky) = (&x * x.transpose(), &y * y.transpose());
        let est = moment_estimates(kx.as_ref(), ky.as_ref(), 2);
        // k = 1: mean over i ≠ j of K_y[i,j] K_x[j,i]
        let mut s1 = 0.0;
        let mut n1 = 0.0;
        for i in 0..m {
            for j in 0..m {
                if i != j {
                    s1 += ky[(i, j)] * kx[(j, i)];
                    n1 += 1.0;
                }
            }
        }
        assert!((est[0] - s1 / n1).abs() < 1e-10 * (s1 / n1).abs().max(1.0));
        // k = 2: mean over increasing a < b < c < d of K_y[a,b] K_x[b,c] K_y[c,d] K_x[d,a]
        // (one labelling per 4-set; every term has expectation μ_2 for independent rows)
        let (mut s2, mut n2) = (0.0, 0.0);
        for a in 0..m {
            for b in (a + 1)..m {
                for c in (b + 1)..m {
                    for d in (c + 1)..m {
                        s2 += ky[(a, b)] * kx[(b, c)] * ky[(c, d)] * kx[(d, a)];
                        n2 += 1.0;
                    }
                }
            }
        }
        assert!((est[1] - s2 / n2).abs() < 1e-9 * (s2 / n2).abs().max(1.0), "{} vs {}", est[1], s2 / n2);
    }

    #[test]
    fn nnls_recovers_a_nonnegative_solution_and_respects_the_bound() {
        let a = Mat::from_fn(3, 5, |i, j| ((i + 1) * (j + 2)) as f64 % 7.0 + 1.0);
        let w_true = [0.0, 2.0, 0.0, 1.0, 0.0];
        let b: Vec<f64> = (0..3).map(|i| (0..5).map(|j| a[(i, j)] * w_true[j]).sum()).collect();
        let w = nonnegative_least_squares(a.as_ref(), &b);
        assert!(w.iter().all(|&v| v >= 0.0));
        let r: f64 = (0..3).map(|i| (b[i] - (0..5).map(|j| a[(i, j)] * w[j]).sum::<f64>()).powi(2)).sum();
        assert!(r.sqrt() < 1e-9, "residual {r}");
    }
}
