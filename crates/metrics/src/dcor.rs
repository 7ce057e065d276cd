//! Distance correlation (Székely, Rizzo & Bakirov 2007) between two representations of the
//! same m stimuli, the stimuli as samples: with a_ij = ‖x_i − x_j‖ (rows, Euclidean) and
//! A = HaH its double centring, A_ij = a_ij − ā_i· − ā_·j + ā_··, and B likewise for y,
//!
//!   dCov²(x, y) = (1/m²) Σ_ij A_ij B_ij,   dVar²(x) = dCov²(x, x),
//!   dCor(x, y) = √( dCov²(x, y) / √(dVar²(x)·dVar²(y)) ),
//!
//! the biased (V-statistic) estimator, not squared: `dcor.distance_correlation(x, y)` of
//! dcor 0.7 (exponent 1). As dcor does, the ratio is 0 when the denominator is 0 (a
//! representation with all stimuli equal); dCov² ≥ 0 in exact arithmetic, and a rounding
//! below 0 is clamped before the root (dcor would return NaN there).
//!
//! **Distances.** Computed from the Gram matrix of the column-centred rows (one GEMM),
//! a²_ij = G_ii + G_jj − 2G_ij; where that cancels badly, a²_ij < 2⁻¹⁰(G_ii + G_jj) (near
//! stimuli), the entry is recomputed from the differences of the raw rows, so every distance
//! keeps about full relative accuracy, as dcor's `scipy.spatial.distance.cdist` has.
//!
//! **Prepare once, pair many.** [`PreparedDcor`] holds A, packed as its lower triangle row by
//! row with the off-diagonal entries scaled by √2, so that the dot product of two packed
//! vectors is ⟨A, B⟩_F (half the memory and the work of the full matrix), and dVar². A pair
//! is one dot product of length m(m+1)/2; [`distance_correlations`] forms the inner products
//! of a block of pairs with one GEMM over the stacked packed vectors.
//!
//! **Invariants.** Symmetric; in [0, 1]; 1 for identical inputs (and whenever y is a
//! similarity transform of x: a_ij depends on the rows only through their distances, so
//! dCor is invariant under orthogonal maps, permutations and translations of the units and
//! under isotropic scaling of either representation).

use faer::Mat;
use serde::{Deserialize, Serialize};

use crate::inner::{dot, pack_symmetric};
use crate::{Matrix, MetricError};

/// One representation's double-centred distance matrix and distance variance.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PreparedDcor {
    samples: usize,
    /// A's lower triangle, row by row ((0,0), (1,0), (1,1), (2,0), …), off-diagonal entries
    /// times √2: ⟨packed_a, packed_b⟩ = ⟨A, B⟩_F.
    packed: Vec<f64>,
    /// dVar² = ‖A‖²_F / m².
    dvar2: f64,
}

impl PreparedDcor {
    pub fn new(x: &Matrix) -> Result<Self, MetricError> {
        let (m, n) = (x.rows(), x.cols());
        if m < 2 || n == 0 {
            return Err(MetricError::TooSmall { rows: m, cols: n });
        }
        if !x.is_finite() {
            return Err(MetricError::NotFinite("the representation has non-finite entries".into()));
        }
        let a = distances(x);
        // double centring: a is symmetric, so row and column means agree
        let means: Vec<f64> = (0..m).map(|i| a.col(i).iter().sum::<f64>() / m as f64).collect();
        let grand = means.iter().sum::<f64>() / m as f64;
        let packed = pack_symmetric(m, |i, j| a[(i, j)] - means[i] - means[j] + grand);
        let dvar2 = dot(&packed, &packed) / (m * m) as f64;
        if !dvar2.is_finite() {
            return Err(MetricError::NotFinite(format!("the distance variance is {dvar2}")));
        }
        Ok(PreparedDcor { samples: m, packed, dvar2 })
    }

    pub fn samples(&self) -> usize {
        self.samples
    }

    /// dVar²(x), the biased distance variance.
    pub fn distance_variance_sqr(&self) -> f64 {
        self.dvar2
    }
}

/// The Euclidean distances between the rows, symmetric with a zero diagonal.
fn distances(x: &Matrix) -> Mat<f64> {
    let (m, n) = (x.rows(), x.cols());
    let v = x.view();
    let means: Vec<f64> = (0..n).map(|j| v.col(j).iter().sum::<f64>() / m as f64).collect();
    let xc = Mat::from_fn(m, n, |i, j| v[(i, j)] - means[j]);
    let gram = &xc * xc.transpose();
    let mut a = Mat::zeros(m, m);
    for j in 0..m {
        for i in (j + 1)..m {
            let scale = gram[(i, i)] + gram[(j, j)];
            let mut d2 = scale - 2.0 * gram[(i, j)];
            if d2 < scale / 1024.0 {
                // near stimuli: the Gram form cancels; take the differences of the raw rows
                // (exact for close values, unlike those of the centred ones)
                d2 = (0..n).map(|k| (v[(i, k)] - v[(j, k)]).powi(2)).sum();
            }
            let d = d2.max(0.0).sqrt();
            a[(i, j)] = d;
            a[(j, i)] = d;
        }
    }
    a
}

/// dCor from ⟨A, B⟩ as dcor computes it: dCov²/√|dVar²_a·dVar²_b|, 0 when that is 0.
fn correlation_from_inner(inner: f64, a: &PreparedDcor, b: &PreparedDcor) -> f64 {
    let dcov2 = inner / (a.samples * a.samples) as f64;
    let denominator = (a.dvar2 * b.dvar2).abs().sqrt();
    if denominator == 0.0 {
        return 0.0;
    }
    (dcov2 / denominator).max(0.0).sqrt()
}

/// dCor(a, b), the biased estimator, not squared (`dcor.distance_correlation`).
pub fn distance_correlation(a: &PreparedDcor, b: &PreparedDcor) -> Result<f64, MetricError> {
    if a.samples != b.samples {
        return Err(MetricError::SampleCountMismatch { a: a.samples, b: b.samples });
    }
    Ok(correlation_from_inner(dot(&a.packed, &b.packed), a, b))
}

/// dCor(rows[r], cols[c]) for each (r, c) in `pairs`, the inner products ⟨A_r, B_c⟩ of all
/// rows and columns formed by one GEMM. Every representation must have the same number of
/// stimuli.
pub fn distance_correlations(
    rows: &[&PreparedDcor],
    cols: &[&PreparedDcor],
    pairs: &[(usize, usize)],
) -> Result<Vec<f64>, MetricError> {
    let Some(first) = rows.first().or(cols.first()) else {
        return if pairs.is_empty() {
            Ok(Vec::new())
        } else {
            Err(MetricError::Parameter { key: "pairs", reason: "pairs given without representations".into() })
        };
    };
    let m = first.samples;
    if let Some(other) = rows.iter().chain(cols).find(|p| p.samples != m) {
        return Err(MetricError::SampleCountMismatch { a: m, b: other.samples });
    }
    if let Some(&(r, c)) = pairs.iter().find(|&&(r, c)| r >= rows.len() || c >= cols.len()) {
        return Err(MetricError::Parameter {
            key: "pairs",
            reason: format!("pair ({r}, {c}) out of range for {} rows and {} columns", rows.len(), cols.len()),
        });
    }
    let inner = crate::inner::inner_products(&packed(rows), &packed(cols), pairs);
    Ok(pairs.iter().zip(inner).map(|(&(i, j), v)| correlation_from_inner(v, rows[i], cols[j])).collect())
}

/// The packed centred distances, as the rows of one inner-product panel.
fn packed<'a>(ps: &[&'a PreparedDcor]) -> Vec<&'a [f64]> {
    ps.iter().map(|p| p.packed.as_slice()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    #[test]
    fn the_packed_inner_product_is_the_frobenius_one_and_near_rows_keep_their_distance() {
        let mut rng = SplitMix64(9);
        let mut x = rng.normal_matrix(12, 4).col_major().to_vec();
        // rows 0 and 1 at distance 1e-9 on top of a large offset
        for j in 0..4 {
            x[j * 12] += 1e3;
            x[j * 12 + 1] = x[j * 12] + if j == 0 { 1e-9 } else { 0.0 };
        }
        let x = Matrix::from_col_major(12, 4, x);
        let a = distances(&x);
        let want = (x.get(1, 0) - x.get(0, 0)).abs();
        assert!(want > 0.9e-9 && want < 1.1e-9);
        assert!((a[(1, 0)] - want).abs() <= 1e-15 * want, "{} vs {want}", a[(1, 0)]);
        let p = PreparedDcor::new(&x).expect("prepared");
        let m = 12;
        let means: Vec<f64> = (0..m).map(|i| (0..m).map(|j| a[(i, j)]).sum::<f64>() / m as f64).collect();
        let grand = means.iter().sum::<f64>() / m as f64;
        let full: f64 = (0..m)
            .flat_map(|i| (0..m).map(move |j| (i, j)))
            .map(|(i, j)| (a[(i, j)] - means[i] - means[j] + grand).powi(2))
            .sum();
        assert!((dot(&p.packed, &p.packed) - full).abs() <= 1e-12 * full);
    }
}
