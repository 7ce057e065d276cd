//! Angular linear CKA (netrep's LinearCKA), in the n-space form of §1.6:
//! cos d = ‖X̃ᵀỸ‖² / (‖X̃ᵀX̃‖ ‖ỸᵀỸ‖).

use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};

use crate::inner::{dot, pack_symmetric};
use crate::shape::{Factor, column_means, subtract_means};
use crate::{CkaEstimator, Kernel, LengthScale, Matrix, MetricError, PairScore, clipped_arccos};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PreparedCka {
    /// X̃ (m × n), or with fewer stimuli than units the m × m factor Rᵀ of the thin QR
    /// X̃ᵀ = QR: then X̃ᵀỸ = Q_x(R_xR_yᵀ)Q_yᵀ has the Frobenius norm of R_xR_yᵀ, a 2m³ product.
    xc: Factor,
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
        PreparedCka { xc: Factor::F64(factor), self_norm }
    }

    /// The factor whose cross products give ‖X̃ᵀỸ‖ (stacked by [`crate::block`]).
    pub(crate) fn factor(&self) -> &Factor {
        &self.xc
    }
}

pub(crate) fn compare(a: &PreparedCka, b: &PreparedCka) -> Result<PairScore, MetricError> {
    if a.xc.rows() != b.xc.rows() {
        return Err(MetricError::SampleCountMismatch { a: a.xc.rows(), b: b.xc.rows() });
    }
    Ok(score_from_cross(a.xc.cross(&b.xc)?.norm_l2(), a, b))
}

/// The pair's angular CKA from ‖X̃ᵀỸ‖_F.
pub(crate) fn score_from_cross(cross_norm: f64, a: &PreparedCka, b: &PreparedCka) -> PairScore {
    PairScore::plain(clipped_arccos(cross_norm * cross_norm / (a.self_norm * b.self_norm)))
}

/// CKA in sample space (m × m kernel matrices), for RBF kernels and the debiased estimator.
/// The kernel is kept packed ([`pack_symmetric`]): half the memory of the matrix, and a
/// pair's ⟨K, L⟩_F is one dot product, so a tile's pairs are one GEMM
/// ([`gram_similarities`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PreparedGram {
    estimator: CkaEstimator,
    samples: usize,
    /// Biased: HKH, packed. Debiased: K with its diagonal set to zero (K̂), packed.
    packed: Vec<f64>,
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

/// Song et al.'s unbiased HSIC from zero-diagonal kernels (arXiv 0704.2668, eq. 5), given
/// tr(K̂L̂) = ⟨K̂, L̂⟩_F (the kernels are symmetric):
/// [tr(K̂L̂) + 1ᵀK̂1·1ᵀL̂1/((m−1)(m−2)) − 2·(K̂1)ᵀ(L̂1)/(m−2)] / (m(m−3)).
fn hsic_unbiased(trace: f64, m: usize, rk: &[f64], rl: &[f64], tk: f64, tl: f64) -> f64 {
    let m = m as f64;
    let ones = dot(rk, rl);
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
                let packed = pack_symmetric(m, |i, j| k[(i, j)] - rows[i] - rows[j] + grand);
                let norm = dot(&packed, &packed).sqrt();
                Ok(PreparedGram { estimator, samples: m, packed, self_term: norm, row_sums: Vec::new(), total: 0.0 })
            }
            CkaEstimator::Debiased => {
                if m < 4 {
                    return Err(MetricError::TooSmall { rows: m, cols: x.cols() });
                }
                let khat = |i: usize, j: usize| if i == j { 0.0 } else { k[(i, j)] };
                let packed = pack_symmetric(m, khat);
                let row_sums: Vec<f64> = (0..m).map(|i| (0..m).map(|j| khat(i, j)).sum()).collect();
                let total: f64 = row_sums.iter().sum();
                let self_term = hsic_unbiased(dot(&packed, &packed), m, &row_sums, &row_sums, total, total);
                if !(self_term > 0.0) {
                    return Err(MetricError::NotFinite(format!(
                        "the unbiased HSIC of the representation with itself is {self_term:e} ≤ 0; debiased CKA is undefined"
                    )));
                }
                Ok(PreparedGram { estimator, samples: m, packed, self_term, row_sums, total })
            }
        }
    }
}

pub(crate) fn compare_gram(a: &PreparedGram, b: &PreparedGram) -> Result<PairScore, MetricError> {
    check_gram_pair(a, b)?;
    Ok(gram_score(dot(&a.packed, &b.packed), a, b))
}

fn check_gram_pair(a: &PreparedGram, b: &PreparedGram) -> Result<(), MetricError> {
    if a.samples != b.samples {
        return Err(MetricError::SampleCountMismatch { a: a.samples, b: b.samples });
    }
    if a.estimator != b.estimator {
        return Err(MetricError::PreparedMismatch);
    }
    Ok(())
}

/// The pair's angular CKA from ⟨K_a, K_b⟩_F of the prepared kernels.
fn gram_score(inner: f64, a: &PreparedGram, b: &PreparedGram) -> PairScore {
    let cos = match a.estimator {
        CkaEstimator::Biased => inner / (a.self_term * b.self_term),
        CkaEstimator::Debiased => {
            hsic_unbiased(inner, a.samples, &a.row_sums, &b.row_sums, a.total, b.total)
                / (a.self_term * b.self_term).sqrt()
        }
    };
    PairScore::plain(clipped_arccos(cos))
}

/// [`compare_gram`] of `(rows[i], cols[j])` for each `(i, j)` in `pairs`, the tile's
/// ⟨K_a, K_b⟩_F from one GEMM ([`crate::inner::inner_products`]); a pair of unequal sample
/// counts fails alone.
pub(crate) fn gram_similarities(
    rows: &[&PreparedGram],
    cols: &[&PreparedGram],
    pairs: &[(usize, usize)],
) -> Vec<Result<PairScore, MetricError>> {
    let checked: Vec<Result<(), MetricError>> = pairs.iter().map(|&(i, j)| check_gram_pair(rows[i], cols[j])).collect();
    // the pairs that can be scored share one length (the first such pair's)
    let Some(len) = pairs.iter().zip(&checked).find(|(_, c)| c.is_ok()).map(|(&(i, _), _)| rows[i].packed.len()) else {
        return checked.into_iter().map(|c| Err(c.err().unwrap_or(MetricError::PreparedMismatch))).collect();
    };
    let good: Vec<(usize, usize)> = pairs
        .iter()
        .zip(&checked)
        .filter(|((i, _), c)| c.is_ok() && rows[*i].packed.len() == len)
        .map(|(&p, _)| p)
        .collect();
    let mut inner = crate::inner::inner_products(&packed(rows), &packed(cols), &good).into_iter();
    pairs
        .iter()
        .zip(checked)
        .map(|(&(i, j), c)| {
            c?;
            if rows[i].packed.len() == len {
                Ok(gram_score(inner.next().expect("one inner product per good pair"), rows[i], cols[j]))
            } else {
                compare_gram(rows[i], cols[j])
            }
        })
        .collect()
}

/// The packed triangles of prepared Grams, as the rows of one inner-product panel.
fn packed<'a>(ps: &[&'a PreparedGram]) -> Vec<&'a [f64]> {
    ps.iter().map(|p| p.packed.as_slice()).collect()
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
