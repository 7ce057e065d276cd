//! Stochastic shape metrics (Duong et al. 2023, arXiv 2211.11665; netrep @ 0186b8a, §1.8).
//! Inputs are [conditions, repeats, units] responses to repeated presentations.

use faer::{Mat, MatRef, Side};
use serde::{Deserialize, Serialize};

use crate::procrustes::procrustes_from_cross;
use crate::{Matrix, MetricError, PairScore, Tensor};

fn condition(x: &Tensor, i: usize) -> MatRef<'_, f64> {
    let (r, n) = (x.shape()[1], x.shape()[2]);
    MatRef::from_row_major_slice(&x.data()[i * r * n..(i + 1) * r * n], r, n)
}

/// Means and regularised covariances per condition, with their eigendecompositions.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PreparedGaussian {
    /// M × n condition means.
    means: Matrix,
    /// Per condition: Σ_i + cov_eps·I (divisor r − 1).
    covs: Vec<Matrix>,
    /// Per condition: eigenvalues and eigenvectors of the covariance.
    eigvals: Vec<Vec<f64>>,
    eigvecs: Vec<Matrix>,
    /// Per condition: Σ_i^{½} = U diag(√λ) Uᵀ (no clipping: netrep's fit).
    sqrt: Vec<Matrix>,
}

impl PreparedGaussian {
    pub fn new(x: &Tensor, cov_eps: f64) -> Result<Self, MetricError> {
        let (conditions, repeats, n) = (x.shape()[0], x.shape()[1], x.shape()[2]);
        if repeats < 2 {
            return Err(MetricError::TooSmall { rows: repeats, cols: n });
        }
        let mut means = vec![0.0; conditions * n];
        let (mut covs, mut eigvals, mut eigvecs, mut sqrt) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for i in 0..conditions {
            let s = condition(x, i);
            let mu: Vec<f64> = (0..n).map(|j| s.col(j).iter().sum::<f64>() / repeats as f64).collect();
            means[i * n..(i + 1) * n].copy_from_slice(&mu);
            let c = Mat::from_fn(repeats, n, |a, j| s[(a, j)] - mu[j]);
            let mut cov = (c.transpose() * &c) / (repeats as f64 - 1.0);
            for j in 0..n {
                cov[(j, j)] += cov_eps;
            }
            let evd = cov.self_adjoint_eigen(Side::Lower).map_err(|_| MetricError::Eigen)?;
            let vals: Vec<f64> = (0..n).map(|k| evd.S().column_vector()[k]).collect();
            if let Some(k) = vals.iter().position(|&v| v < 0.0) {
                return Err(MetricError::NotFinite(format!(
                    "the covariance of condition {i} has a negative eigenvalue {:e}; its square root is not real",
                    vals[k]
                )));
            }
            let u = evd.U();
            let root = Mat::from_fn(n, n, |a, b| (0..n).map(|k| u[(a, k)] * vals[k].sqrt() * u[(b, k)]).sum());
            covs.push(Matrix::from_faer(cov.as_ref()));
            eigvecs.push(Matrix::from_faer(u));
            eigvals.push(vals);
            sqrt.push(Matrix::from_faer(root.as_ref()));
        }
        Ok(PreparedGaussian { means: Matrix::from_row_major(conditions, n, &means), covs, eigvals, eigvecs, sqrt })
    }
}

/// netrep's `_fit_gaussian_alignment` (init "means", group "orth") then `score`.
pub(crate) fn compare_gaussian(
    x: &PreparedGaussian,
    y: &PreparedGaussian,
    alpha: f64,
    max_iter: usize,
    tol: f64,
) -> Result<PairScore, MetricError> {
    if x.means.rows() != y.means.rows() || x.means.cols() != y.means.cols() {
        return Err(MetricError::ShapeMismatch {
            a: vec![x.means.rows(), x.means.cols()],
            b: vec![y.means.rows(), y.means.cols()],
            what: "conditions and units must agree (no padding)",
        });
    }
    let (mx, my) = (x.means.view(), y.means.view());
    let beta = 2.0 - alpha;
    // T = argmin ‖μ^Y T − μ^X‖
    let mut t = procrustes_from_cross(my.transpose() * mx)?;
    let mut losses: Vec<f64> = Vec::new();
    for it in 0..max_iter {
        // Q_i = argmin ‖Tᵀ s_i^Y Q − s_i^X‖
        let rotated: Vec<Mat<f64>> = y.sqrt.iter().map(|sy| t.transpose() * sy.view()).collect();
        let qs: Vec<Mat<f64>> = rotated
            .iter()
            .zip(&x.sqrt)
            .map(|(ry, sx)| procrustes_from_cross(ry.transpose() * sx.view()))
            .collect::<Result<_, _>>()?;
        // B blocks: α μ^Y and (2−α) Q_iᵀ s_i^Y; A blocks: α μ^X and (2−α) s_i^X.
        let b_blocks: Vec<Mat<f64>> = qs.iter().zip(&y.sqrt).map(|(q, sy)| q.transpose() * sy.view() * beta).collect();
        let mut cross = (my.transpose() * mx) * (alpha * alpha);
        for (bb, sx) in b_blocks.iter().zip(&x.sqrt) {
            cross += bb.transpose() * sx.view() * beta;
        }
        t = procrustes_from_cross(cross)?;
        // loss = ‖A − B T‖
        let mut sq = ((mx * alpha) - (my * &t) * alpha).squared_norm_l2();
        for (bb, sx) in b_blocks.iter().zip(&x.sqrt) {
            sq += ((sx.view() * beta) - bb * &t).squared_norm_l2();
        }
        losses.push(sq.sqrt());
        if it >= 2 && losses[it - 1] - losses[it] < tol {
            break;
        }
    }
    // score: mean over conditions of α‖μ^X − μ^Y T‖² + (2−α) B²(Σ^X, TᵀΣ^Y T)
    let mut total = 0.0;
    let conditions = x.means.rows();
    for i in 0..conditions {
        let dm: f64 = (0..x.means.cols())
            .map(|j| {
                let ty: f64 = (0..x.means.cols()).map(|k| my[(i, k)] * t[(k, j)]).sum();
                (mx[(i, j)] - ty).powi(2)
            })
            .sum();
        // eigenvectors of TᵀΣ^Y T are Tᵀ U_Y, eigenvalues unchanged
        let uy_rot = t.transpose() * y.eigvecs[i].view();
        total += alpha * dm + beta * sq_bures(&x.eigvals[i], x.eigvecs[i].view(), &y.eigvals[i], uy_rot.as_ref())?;
    }
    let mean = total / conditions as f64;
    Ok(PairScore::plain(mean.signum() * mean.abs().sqrt()))
}

/// Squared Bures distance from eigendecompositions A = U_a diag(λ_a) U_aᵀ, B likewise:
/// Σλ_a + Σλ_b − 2‖diag(√λ_a⁺) U_aᵀ U_b diag(√λ_b⁺)‖_* (clipping inside the roots only).
fn sq_bures(la: &[f64], ua: MatRef<'_, f64>, lb: &[f64], ub: MatRef<'_, f64>) -> Result<f64, MetricError> {
    let n = la.len();
    let cross = ua.transpose() * ub;
    let m = Mat::from_fn(n, n, |i, j| la[i].max(0.0).sqrt() * cross[(i, j)] * lb[j].max(0.0).sqrt());
    let nuclear: f64 = m.singular_values().map_err(|_| MetricError::Svd)?.iter().sum();
    Ok(la.iter().sum::<f64>() + lb.iter().sum::<f64>() - 2.0 * nuclear)
}

/// Responses and their within-network spread (rotation invariant, so computed once).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PreparedEnergy {
    shape: Vec<usize>,
    data: Vec<f64>,
    /// Σ_i mean_{a<b} ‖x_{i,a} − x_{i,b}‖
    spread: f64,
}

impl PreparedEnergy {
    pub fn new(x: &Tensor) -> Result<Self, MetricError> {
        let (conditions, repeats) = (x.shape()[0], x.shape()[1]);
        if repeats < 2 {
            return Err(MetricError::TooSmall { rows: repeats, cols: x.shape()[2] });
        }
        let mut spread = 0.0;
        for i in 0..conditions {
            let s = condition(x, i);
            let (mut sum, mut count) = (0.0, 0usize);
            for a in 0..repeats {
                for b in (a + 1)..repeats {
                    sum += (0..s.ncols()).map(|j| (s[(a, j)] - s[(b, j)]).powi(2)).sum::<f64>().sqrt();
                    count += 1;
                }
            }
            spread += sum / count as f64;
        }
        Ok(PreparedEnergy { shape: x.shape().to_vec(), data: x.data().to_vec(), spread })
    }

    fn tensor(&self) -> Tensor {
        Tensor::new(self.shape.clone(), self.data.clone())
    }
}

/// netrep's EnergyStochasticMetric (group "orth"): IRLS fit of Q minimising the mean of
/// ‖x − yQ‖ over all r² pairs per condition, then the energy distance (§1.8).
pub(crate) fn compare_energy(
    x: &PreparedEnergy,
    y: &PreparedEnergy,
    max_iter: usize,
    tol: f64,
) -> Result<PairScore, MetricError> {
    if x.shape != y.shape {
        return Err(MetricError::ShapeMismatch {
            a: x.shape.clone(),
            b: y.shape.clone(),
            what: "conditions, repeats and units must agree",
        });
    }
    let (conditions, repeats, n) = (x.shape[0], x.shape[1], x.shape[2]);
    let (tx, ty) = (x.tensor(), y.tensor());
    // Rows of the stacked problem, in itertools.product order: (x_{i,a}, y_{i,b}).
    let pairs: Vec<(MatRef<'_, f64>, usize, MatRef<'_, f64>, usize)> = (0..conditions)
        .flat_map(|i| {
            let (cx, cy) = (condition(&tx, i), condition(&ty, i));
            (0..repeats).flat_map(move |a| (0..repeats).map(move |b| (cx, a, cy, b)))
        })
        .collect();
    let residuals = |q: Option<&Mat<f64>>| -> Vec<f64> {
        pairs
            .iter()
            .map(|&(cx, a, cy, b)| {
                (0..n)
                    .map(|j| {
                        let yq = match q {
                            Some(q) => (0..n).map(|k| cy[(b, k)] * q[(k, j)]).sum::<f64>(),
                            None => cy[(b, j)],
                        };
                        (cx[(a, j)] - yq).powi(2)
                    })
                    .sum::<f64>()
                    .sqrt()
            })
            .collect()
    };
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let mut weights = vec![1.0; pairs.len()];
    let mut loss = mean(&residuals(None));
    let mut q = Mat::<f64>::identity(n, n);
    for _ in 0..max_iter {
        // Q = argmin ‖diag(w)(Y Q − X)‖: Procrustes of the weighted rows
        let cross = Mat::from_fn(n, n, |k, j| {
            pairs.iter().zip(&weights).map(|(&(cx, a, cy, b), &w)| w * w * cy[(b, k)] * cx[(a, j)]).sum()
        });
        q = procrustes_from_cross(cross)?;
        let resid = residuals(Some(&q));
        let next = mean(&resid);
        weights = resid.iter().map(|r| 1.0 / r.sqrt().max(1e-6)).collect();
        let improved = loss - next;
        loss = next;
        if improved < tol {
            break;
        }
    }
    // energy distance with y aligned as yQ; the within-y spread is rotation invariant
    let resid = residuals(Some(&q));
    let cross_term: f64 = resid.chunks(repeats * repeats).map(mean).sum::<f64>() / conditions as f64;
    let within = 0.5 * (x.spread + y.spread) / conditions as f64;
    Ok(PairScore::plain((cross_term - within).max(0.0).sqrt()))
}
