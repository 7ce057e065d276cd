//! Angular linear CKA (netrep's LinearCKA), in the n-space form of §1.6:
//! cos d = ‖X̃ᵀỸ‖² / (‖X̃ᵀX̃‖ ‖ỸᵀỸ‖).

use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};

use crate::shape::{column_means, subtract_means};
use crate::{CkaEstimator, Kernel, LengthScale, Matrix, MetricError, PairScore, clipped_arccos};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PreparedCka {
    /// X̃ (m × n), or with fewer stimuli than units the m × m factor Rᵀ of the thin QR
    /// X̃ᵀ = QR: then X̃ᵀỸ = Q_x(R_xR_yᵀ)Q_yᵀ has the Frobenius norm of R_xR_yᵀ, a 2m³ product.
    xc: Matrix,
    /// ‖X̃ᵀX̃‖_F
    self_norm: f64,
}

impl PreparedCka {
    pub fn new(x: &Matrix) -> Self {
        let xc = subtract_means(x.view(), &column_means(x.view()));
        let self_norm = (xc.transpose() * &xc).norm_l2();
        let factor = if xc.nrows() < xc.ncols() {
            Matrix::from_faer(xc.transpose().qr().thin_R().transpose())
        } else {
            Matrix::from_faer(xc.as_ref())
        };
        PreparedCka { xc: factor, self_norm }
    }
}

pub(crate) fn compare(a: &PreparedCka, b: &PreparedCka) -> Result<PairScore, MetricError> {
    if a.xc.rows() != b.xc.rows() {
        return Err(MetricError::SampleCountMismatch { a: a.xc.rows(), b: b.xc.rows() });
    }
    let cross = (a.xc.view().transpose() * b.xc.view()).norm_l2();
    let distance = clipped_arccos(cross * cross / (a.self_norm * b.self_norm));
    Ok(PairScore::plain(distance))
}

/// CKA in sample space (m × m kernel matrices), for RBF kernels and the debiased estimator.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PreparedGram {
    estimator: CkaEstimator,
    /// Biased: HKH. Debiased: K with its diagonal set to zero (K̂).
    gram: Matrix,
    /// Biased: ‖HKH‖. Debiased: HSIC_u(K, K).
    self_term: f64,
    /// Debiased only: K̂1 and 1ᵀK̂1.
    row_sums: Vec<f64>,
    total: f64,
}

/// Squared distances ‖x_i‖² + ‖x_j‖² − 2⟨x_i, x_j⟩, clipped at 0 (repsim's convention).
fn squared_distances(x: MatRef<'_, f64>) -> Mat<f64> {
    let g = x * x.transpose();
    Mat::from_fn(g.nrows(), g.ncols(), |i, j| (g[(i, i)] + g[(j, j)] - 2.0 * g[(i, j)]).max(0.0))
}

/// The lower median of the off-diagonal squared distances: element ⌊(N−1)/2⌋ of the sorted
/// N = m(m−1)/2 values (repsim's automatic length scale).
pub(crate) fn lower_median_upper_triangle(d2: MatRef<'_, f64>) -> f64 {
    let m = d2.nrows();
    let mut v: Vec<f64> = (0..m).flat_map(|i| ((i + 1)..m).map(move |j| (i, j))).map(|(i, j)| d2[(i, j)]).collect();
    v.sort_by(f64::total_cmp);
    v[(v.len() - 1) / 2]
}

fn kernel_matrix(xc: MatRef<'_, f64>, kernel: Kernel) -> Result<Mat<f64>, MetricError> {
    Ok(match kernel {
        Kernel::Linear => xc * xc.transpose(),
        Kernel::Rbf { length_scale } => {
            let d2 = squared_distances(xc);
            let l2 = match length_scale {
                LengthScale::Median => lower_median_upper_triangle(d2.as_ref()),
                LengthScale::Fixed(l) => l * l,
            };
            if !(l2 > 0.0) {
                return Err(MetricError::Parameter {
                    key: "length_scale",
                    reason: "the median squared distance is 0 (duplicate rows); set a fixed length_scale".into(),
                });
            }
            Mat::from_fn(d2.nrows(), d2.ncols(), |i, j| (-d2[(i, j)] / l2).exp())
        }
    })
}

/// Song et al.'s unbiased HSIC from zero-diagonal kernels (arXiv 0704.2668, eq. 5):
/// [tr(K̂L̂) + 1ᵀK̂1·1ᵀL̂1/((m−1)(m−2)) − 2·(K̂1)ᵀ(L̂1)/(m−2)] / (m(m−3)).
fn hsic_unbiased(k: &Matrix, l: &Matrix, rk: &[f64], rl: &[f64], tk: f64, tl: f64) -> f64 {
    let m = k.rows() as f64;
    let trace: f64 = k.col_major().iter().zip(l.col_major()).map(|(a, b)| a * b).sum();
    let ones: f64 = rk.iter().zip(rl).map(|(a, b)| a * b).sum();
    (trace + tk * tl / ((m - 1.0) * (m - 2.0)) - 2.0 * ones / (m - 2.0)) / (m * (m - 3.0))
}

impl PreparedGram {
    pub fn new(x: &Matrix, estimator: CkaEstimator, kernel: Kernel) -> Result<Self, MetricError> {
        let xc = subtract_means(x.view(), &column_means(x.view()));
        let k = kernel_matrix(xc.as_ref(), kernel)?;
        let m = k.nrows();
        match estimator {
            CkaEstimator::Biased => {
                // HKH: subtract row and column means, add back the grand mean
                let rows: Vec<f64> = (0..m).map(|i| (0..m).map(|j| k[(i, j)]).sum::<f64>() / m as f64).collect();
                let grand = rows.iter().sum::<f64>() / m as f64;
                let hkh = Mat::from_fn(m, m, |i, j| k[(i, j)] - rows[i] - rows[j] + grand);
                let norm = hkh.norm_l2();
                Ok(PreparedGram {
                    estimator,
                    gram: Matrix::from_faer(hkh.as_ref()),
                    self_term: norm,
                    row_sums: Vec::new(),
                    total: 0.0,
                })
            }
            CkaEstimator::Debiased => {
                if m < 4 {
                    return Err(MetricError::TooSmall { rows: m, cols: x.cols() });
                }
                let khat = Matrix::from_fn(m, m, |i, j| if i == j { 0.0 } else { k[(i, j)] });
                let row_sums: Vec<f64> = (0..m).map(|i| (0..m).map(|j| khat.get(i, j)).sum()).collect();
                let total: f64 = row_sums.iter().sum();
                let self_term = hsic_unbiased(&khat, &khat, &row_sums, &row_sums, total, total);
                if !(self_term > 0.0) {
                    return Err(MetricError::NotFinite(format!(
                        "the unbiased HSIC of the representation with itself is {self_term:e} ≤ 0; debiased CKA is undefined"
                    )));
                }
                Ok(PreparedGram { estimator, gram: khat, self_term, row_sums, total })
            }
        }
    }
}

pub(crate) fn compare_gram(a: &PreparedGram, b: &PreparedGram) -> Result<PairScore, MetricError> {
    if a.gram.rows() != b.gram.rows() {
        return Err(MetricError::SampleCountMismatch { a: a.gram.rows(), b: b.gram.rows() });
    }
    let cos = match a.estimator {
        CkaEstimator::Biased => {
            let inner: f64 = a.gram.col_major().iter().zip(b.gram.col_major()).map(|(x, y)| x * y).sum();
            inner / (a.self_term * b.self_term)
        }
        CkaEstimator::Debiased => {
            hsic_unbiased(&a.gram, &b.gram, &a.row_sums, &b.row_sums, a.total, b.total)
                / (a.self_term * b.self_term).sqrt()
        }
    };
    Ok(PairScore::plain(clipped_arccos(cos)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    #[test]
    fn the_sample_space_factor_gives_the_n_space_value() {
        let mut rng = SplitMix64(6);
        // 15 stimuli: 40 and 25 units use the m × m factor; 9 units keep X̃
        let xs = [rng.normal_matrix(15, 40), rng.normal_matrix(15, 25), rng.normal_matrix(15, 9)];
        let prepared: Vec<PreparedCka> = xs.iter().map(PreparedCka::new).collect();
        assert_eq!(prepared.iter().map(|p| p.xc.cols()).collect::<Vec<_>>(), [15, 15, 9]);
        for i in 0..3 {
            for j in 0..3 {
                // §1.6 directly: cos d = ‖X̃ᵀỸ‖² / (‖X̃ᵀX̃‖ ‖ỸᵀỸ‖)
                let centred = |x: &Matrix| subtract_means(x.view(), &column_means(x.view()));
                let (a, b) = (centred(&xs[i]), centred(&xs[j]));
                let cos = (a.transpose() * &b).norm_l2().powi(2)
                    / ((a.transpose() * &a).norm_l2() * (b.transpose() * &b).norm_l2());
                let got = compare(&prepared[i], &prepared[j]).expect("pair").distance;
                assert!((got.cos() - cos).abs() <= 1e-13, "{i},{j}: cos {} vs {cos}", got.cos());
            }
        }
    }
}
