//! The RDMs rsatoolbox's `calc_rdm` computes (the definitions and the calls they equal are in
//! the parent module's documentation): the upper triangle, row by row.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Side};

use super::{Noise, Rdm, centred, norm, unit};
use crate::{MetricError, Tensor};

/// The RDM of `x` (upper triangle, row by row; see the module documentation for each
/// kind's definition and the rsatoolbox call it equals). `x` is [conditions, units] for
/// `Euclidean` and `Correlation`, [conditions, repeats, units] for `Crossnobis`.
pub fn rdm_vector(x: &Tensor, rdm: Rdm) -> Result<Vec<f64>, MetricError> {
    let rank = rdm.input_rank();
    if x.shape().len() != rank {
        let layout = if rank == 2 { "[conditions, units]" } else { "[conditions, repeats, units]" };
        return Err(MetricError::WrongRank { expected: rank, layout, shape: x.shape().to_vec() });
    }
    let (m, n) = (x.shape()[0], x.shape()[rank - 1]);
    if m < 2 || n == 0 {
        return Err(MetricError::TooSmall { rows: m, cols: n });
    }
    if !x.data().iter().all(|v| v.is_finite()) {
        return Err(MetricError::NotFinite(format!("the {} RDM's input has a non-finite entry", rdm.name())));
    }
    match rdm {
        Rdm::Euclidean => Ok(squared_euclidean(x.to_matrix().view())),
        Rdm::Correlation => correlation_distances(x.to_matrix().view()),
        Rdm::Crossnobis { noise } => crossnobis(x, noise),
    }
}

/// (i, j), i < j, in RDM order.
pub(super) fn upper_pairs(m: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..m).flat_map(move |i| ((i + 1)..m).map(move |j| (i, j)))
}

/// N(N−1)/2.
pub(super) fn pairs_of(n: usize) -> u64 {
    let n = n as u64;
    n * n.saturating_sub(1) / 2
}

/// m with m(m−1)/2 = `len`.
pub(super) fn conditions_of(len: usize) -> Result<usize, MetricError> {
    let m = ((1.0 + (1.0 + 8.0 * len as f64).sqrt()) / 2.0).round() as usize;
    if len == 0 || m * (m - 1) / 2 != len {
        return Err(MetricError::Parameter {
            key: "rdm",
            reason: format!("{len} entries is not the upper triangle of an RDM over 2 or more conditions"),
        });
    }
    Ok(m)
}

/// d_ij = (‖x_i‖² + ‖x_j‖² − 2⟨x_i, x_j⟩)/n (rsatoolbox's `calc_rdm_euclidean`).
fn squared_euclidean(x: MatRef<'_, f64>) -> Vec<f64> {
    let (m, n) = (x.nrows(), x.ncols());
    let sq: Vec<f64> = (0..m).map(|i| x.row(i).iter().map(|v| v * v).sum()).collect();
    let gram = x * x.transpose();
    upper_pairs(m).map(|(i, j)| (sq[i] + sq[j] - 2.0 * gram[(i, j)]) / n as f64).collect()
}

/// d_ij = 1 − ⟨z_i, z_j⟩, z_i the pattern x_i centred across units at unit norm
/// (rsatoolbox's `calc_rdm_correlation`).
fn correlation_distances(x: MatRef<'_, f64>) -> Result<Vec<f64>, MetricError> {
    let (m, n) = (x.nrows(), x.ncols());
    let mut z = Mat::<f64>::zeros(m, n);
    for i in 0..m {
        let row: Vec<f64> = x.row(i).iter().copied().collect();
        let c = centred(&row);
        let Some(u) = unit(c, norm(&row)) else {
            return Err(MetricError::Undefined(format!(
                "condition {i} has the same value in every unit: its correlation distances are undefined"
            )));
        };
        for (k, v) in u.into_iter().enumerate() {
            z[(i, k)] = v;
        }
    }
    let r = &z * z.transpose();
    Ok(upper_pairs(m).map(|(i, j)| 1.0 - r[(i, j)]).collect())
}

/// The leave-one-run-out crossnobis RDM: (K_ii + K_jj − 2K_ij)/(R(R−1)n) with
/// K = SPSᵀ − Σ_k x_kPx_kᵀ, computed on the whitened runs w_k = x_kL⁻ᵀ (P = L⁻ᵀL⁻¹).
fn crossnobis(x: &Tensor, noise: Noise) -> Result<Vec<f64>, MetricError> {
    let (m, r, n) = (x.shape()[0], x.shape()[1], x.shape()[2]);
    if r < 2 {
        return Err(MetricError::Undefined(format!(
            "crossnobis cross-validates over repeats and needs at least 2, got {r}"
        )));
    }
    let data = x.data();
    let at = |c: usize, k: usize, u: usize| data[(c * r + k) * n + u];
    // the runs side by side, transposed: column k·m + c is x_k[c, :]ᵀ
    let mut wt = Mat::from_fn(n, r * m, |u, col| at(col % m, col / m, u));
    if noise == Noise::ShrinkageDiag {
        let cov = shrinkage_diag_covariance(x)?;
        let llt = cov.llt(Side::Lower).map_err(|_| {
            MetricError::Undefined("the shrinkage_diag noise covariance is not positive definite".into())
        })?;
        // wᵀ = L⁻¹xᵀ
        llt.L().solve_lower_triangular_in_place(wt.as_mut());
    }
    let s = Mat::from_fn(n, m, |u, c| (0..r).map(|k| wt[(u, k * m + c)]).sum::<f64>());
    let mut kernel = s.transpose() * &s;
    let par = faer::get_global_parallelism();
    for k in 0..r {
        let run = wt.as_ref().subcols(k * m, m);
        matmul(kernel.as_mut(), Accum::Add, run.transpose(), run, -1.0, par);
    }
    let scale = (r * (r - 1) * n) as f64;
    Ok(upper_pairs(m).map(|(i, j)| (kernel[(i, i)] + kernel[(j, j)] - 2.0 * kernel[(i, j)]) / scale).collect())
}

/// rsatoolbox's `cov_from_measurements(dataset, obs_desc='conds', method='shrinkage_diag')`
/// of x = [conditions, repeats, units] (the formulas are in the module documentation).
fn shrinkage_diag_covariance(x: &Tensor) -> Result<Mat<f64>, MetricError> {
    let (m, r, n) = (x.shape()[0], x.shape()[1], x.shape()[2]);
    let data = x.data();
    let at = |c: usize, k: usize, u: usize| data[(c * r + k) * n + u];
    // residuals from each condition's mean over repeats, one row per (condition, repeat)
    let mut e = Mat::<f64>::zeros(m * r, n);
    for c in 0..m {
        for u in 0..n {
            let mean = (0..r).map(|k| at(c, k, u)).sum::<f64>() / r as f64;
            for k in 0..r {
                e[(c * r + k, u)] = at(c, k, u) - mean;
            }
        }
    }
    let rows = (m * r) as f64;
    // rsatoolbox's `_check_demean` of its [conds, units, repeats] tensor
    let dof = ((m - 1) * r) as f64;
    let scatter = e.transpose() * &e;
    let e2 = Mat::from_fn(m * r, n, |i, u| e[(i, u)] * e[(i, u)]);
    let scatter2 = e2.transpose() * &e2;
    let var: Vec<f64> = (0..n).map(|u| scatter[(u, u)] / dof).collect();
    if let Some(u) = var.iter().position(|&v| !(v > 0.0)) {
        return Err(MetricError::Undefined(format!(
            "unit {u} does not vary across repeats: the shrinkage_diag noise covariance is singular"
        )));
    }
    let (mut var_hat, mut rho_sq) = (0.0, 0.0);
    for u in 0..n {
        for v in (0..n).filter(|&v| v != u) {
            let rho = scatter[(u, v)] / var[u].sqrt() / var[v].sqrt() / (rows - 1.0);
            let rho2 = scatter2[(u, v)] / var[u] / var[v] / (rows - 1.0);
            var_hat += rows / (dof * dof) * (rho2 - rho * rho);
            rho_sq += rho * rho;
        }
    }
    // no off-diagonal correlation (or one unit): nothing to shrink
    let lambda = if rho_sq > 0.0 { (var_hat / rho_sq).clamp(0.0, 1.0) } else { 0.0 };
    Ok(Mat::from_fn(n, n, |u, v| scatter[(u, v)] / dof * if u == v { 1.0 } else { 1.0 - lambda }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_come_from_the_triangle_length() {
        assert_eq!(conditions_of(1).ok(), Some(2));
        assert_eq!(conditions_of(66).ok(), Some(12));
        assert_eq!(conditions_of(780).ok(), Some(40));
        assert!(conditions_of(0).is_err());
        assert!(conditions_of(5).is_err());
    }
}
