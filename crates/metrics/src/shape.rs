//! Generalized shape metrics in netrep's convention (docs/math.md §1.1–1.4).

use faer::{Mat, MatRef, Side};
use serde::{Deserialize, Serialize};

use crate::{Matrix, MetricError, PairScore, Precision, Score, Whitening, score_from_estimate, score_from_inner};

/// netrep's absolute eigenvalue floor and its "no whitening" threshold for alpha (§1.1).
pub const EIGVAL_TOL: f64 = 1e-7;

/// Relative size below which a singular value of X_wᵀY_w counts as zero (rank deficiency).
const RANK_TOL: f64 = 1e-10;

/// Column means of `x`.
pub(crate) fn column_means(x: MatRef<'_, f64>) -> Vec<f64> {
    let m = x.nrows() as f64;
    (0..x.ncols()).map(|j| x.col(j).iter().sum::<f64>() / m).collect()
}

/// X − 1μᵀ.
pub(crate) fn subtract_means(x: MatRef<'_, f64>, mu: &[f64]) -> Mat<f64> {
    Mat::from_fn(x.nrows(), x.ncols(), |i, j| x[(i, j)] - mu[j])
}

/// netrep's variance-preserving scalar c for floored eigenvalues `lambda` of the
/// unnormalised scatter plus `pad` extra floored zeros from zero-padding (§1.1):
/// c² = Σλ / Σ(α²λ + 2α(1−α)√λ + (1−α)²), both sums over all padded eigenvalues.
pub fn whitening_scale(lambda: &[f64], alpha: f64, pad: usize) -> f64 {
    let floor = EIGVAL_TOL;
    let term = |l: f64| alpha * alpha * l + 2.0 * alpha * (1.0 - alpha) * l.sqrt() + (1.0 - alpha) * (1.0 - alpha);
    let total: f64 = lambda.iter().sum::<f64>() + pad as f64 * floor;
    let new_var: f64 = lambda.iter().map(|&l| term(l)).sum::<f64>() + pad as f64 * term(floor);
    (total / new_var).sqrt()
}

/// The scale-invariant option (`Whitening::Relative`): with λ̄ = Σλ/n, floor λ at
/// r_tol·λ_max, d_i = α + (1−α)(λ_i/λ̄)^{−½}, and c² = Σ_R λ_i / Σ_R d_i²λ_i over the retained
/// directions R = {λ_i > r_tol·λ_max}. Returns (c, c·d).
fn relative_whitening(raw: &[f64], alpha: f64, rank_tol: f64) -> (f64, Vec<f64>) {
    let lambda: Vec<f64> = raw.iter().map(|&l| l.max(0.0)).collect();
    let max = lambda.iter().cloned().fold(0.0, f64::max);
    let mean = lambda.iter().sum::<f64>() / lambda.len() as f64;
    if max <= 0.0 {
        return (1.0, vec![1.0; lambda.len()]);
    }
    let floor = rank_tol * max;
    let d: Vec<f64> = lambda.iter().map(|&l| alpha + (1.0 - alpha) / (l.max(floor) / mean).sqrt()).collect();
    let (mut kept, mut mapped) = (0.0, 0.0);
    for (&l, &di) in lambda.iter().zip(&d) {
        if l > floor {
            kept += l;
            mapped += di * di * l;
        }
    }
    let c = (kept / mapped).sqrt();
    (c, d.iter().map(|di| c * di).collect())
}

/// The whitened training rows X̃Z (m × n, column-major) in the precision of the cross products.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Factor {
    F64(Matrix),
    F32 { rows: usize, cols: usize, data: Vec<f32> },
}

impl Factor {
    pub(crate) fn rows(&self) -> usize {
        match self {
            Factor::F64(m) => m.rows(),
            Factor::F32 { rows, .. } => *rows,
        }
    }
    pub(crate) fn cols(&self) -> usize {
        match self {
            Factor::F64(m) => m.cols(),
            Factor::F32 { cols, .. } => *cols,
        }
    }
    /// XᵀY in the factors' precision, returned in f64.
    pub(crate) fn cross(&self, other: &Factor) -> Result<Mat<f64>, MetricError> {
        match (self, other) {
            (Factor::F64(x), Factor::F64(y)) => Ok(x.view().transpose() * y.view()),
            (Factor::F32 { rows, cols, data }, Factor::F32 { rows: r2, cols: c2, data: d2 }) => {
                let x = MatRef::from_column_major_slice(data, *rows, *cols);
                let y = MatRef::from_column_major_slice(d2, *r2, *c2);
                let c = x.transpose() * y;
                Ok(Mat::from_fn(c.nrows(), c.ncols(), |i, j| c[(i, j)] as f64))
            }
            _ => Err(MetricError::PreparedMismatch),
        }
    }
}

/// One representation prepared for `LinearMetric(alpha)`: centred, partially whitened at
/// its own width. Padding to a wider partner only rescales by c(n)/c(n_own) (§1.1).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PreparedShape {
    alpha: f64,
    /// Floored eigenvalues of X̃ᵀX̃ (empty when alpha > 1 − 1e-7: no whitening).
    lambda: Vec<f64>,
    /// c at the representation's own width.
    scale_own: f64,
    /// X̃ Z: the whitened training rows, m × n; or, in the sample-space form, an m × m
    /// factor F with FᵀG having the singular values of (X̃Z)ᵀ(ỸZ) (see `in_sample_space`).
    xw: Factor,
    /// n: the representation's width (zero padding is to the wider of a pair).
    units: usize,
    norm_xw: f64,
    /// (T − 1μᵀ) Z: held-out rows, centred with the training means, mapped with Z.
    test_w: Option<Matrix>,
}

impl PreparedShape {
    pub fn new(x: &Matrix, test: Option<&Matrix>, alpha: f64, whitening: Whitening) -> Result<Self, MetricError> {
        let mu = column_means(x.view());
        let xc = subtract_means(x.view(), &mu);
        let tc = test.map(|t| subtract_means(t.view(), &mu));
        if alpha > 1.0 - EIGVAL_TOL {
            let norm_xw = xc.norm_l2();
            return Ok(PreparedShape {
                alpha,
                lambda: Vec::new(),
                scale_own: 1.0,
                xw: Factor::F64(Matrix::from_faer(xc.as_ref())),
                units: x.cols(),
                norm_xw,
                test_w: tc.map(|t| Matrix::from_faer(t.as_ref())),
            });
        }
        let scatter = xc.transpose() * &xc;
        let evd = scatter.self_adjoint_eigen(Side::Lower).map_err(|_| MetricError::Eigen)?;
        let n = scatter.nrows();
        let raw: Vec<f64> = (0..n).map(|i| evd.S().column_vector()[i]).collect();
        let (lambda, scale_own, d) = match whitening {
            Whitening::Netrep => {
                let lambda: Vec<f64> = raw.iter().map(|&l| l.max(EIGVAL_TOL)).collect();
                let c = whitening_scale(&lambda, alpha, 0);
                let d = lambda.iter().map(|&l| c * (alpha + (1.0 - alpha) / l.sqrt())).collect();
                (lambda, c, d)
            }
            Whitening::Relative { rank_tol } => {
                let (c, d) = relative_whitening(&raw, alpha, rank_tol);
                // Zero padding enters neither λ̄ nor the rescale: no per-pair factor.
                (Vec::new(), c, d)
            }
        };
        let v = evd.U();
        // Z = V diag(d) Vᵀ
        let vd = Mat::from_fn(n, n, |i, j| v[(i, j)] * d[j]);
        let z = &vd * v.transpose();
        let xw = &xc * &z;
        let norm_xw = xw.norm_l2();
        let test_w = tc.map(|t| Matrix::from_faer((&t * &z).as_ref()));
        let units = x.cols();
        let xw = Factor::F64(Matrix::from_faer(xw.as_ref()));
        Ok(PreparedShape { alpha, lambda, scale_own, xw, units, norm_xw, test_w })
    }

    /// The same representation with its factor in `precision` (norms stay those of the f64
    /// factor; held-out rows stay f64).
    pub fn with_precision(self, precision: Precision) -> Self {
        let xw = match (self.xw, precision) {
            (Factor::F64(m), Precision::F32) => {
                Factor::F32 { rows: m.rows(), cols: m.cols(), data: m.col_major().iter().map(|&v| v as f32).collect() }
            }
            (xw, _) => xw,
        };
        PreparedShape { xw, ..self }
    }

    /// The factor X̃Z in its precision.
    pub(crate) fn factor(&self) -> &Factor {
        &self.xw
    }

    /// Whether held-out rows were prepared (their score needs the SVD's vectors).
    pub(crate) fn has_test(&self) -> bool {
        self.test_w.is_some()
    }

    /// The f64 factor (`None` once converted to f32).
    pub(crate) fn xw(&self) -> Option<&Matrix> {
        match &self.xw {
            Factor::F64(m) => Some(m),
            Factor::F32 { .. } => None,
        }
    }
    pub(crate) fn norm_xw(&self) -> f64 {
        self.norm_xw
    }

    pub fn n_samples(&self) -> usize {
        self.xw.rows()
    }
    pub fn n_features(&self) -> usize {
        self.units
    }

    /// Columns of the stored factor: n, or m in the sample-space form.
    pub(crate) fn factor_width(&self) -> usize {
        self.xw.cols()
    }

    /// The sample-space form, when there are fewer stimuli than units (m < n) and no
    /// held-out rows: X_w = Rᵀ Qᵀ from the thin QR of X_wᵀ (Q n × m with orthonormal
    /// columns, R m × m), and the stored factor becomes Rᵀ. For a pair,
    /// X_wᵀY_w = Q_x (R_x R_yᵀ) Q_yᵀ has the singular values of R_x R_yᵀ = (R_xᵀ)ᵀ(R_yᵀ), so
    /// each pair's GEMM is 2m³ instead of 2mn² and its small step is m × m instead of n × n.
    /// Held-out rows need the n × n rotation itself, so they keep the full factor.
    pub fn in_sample_space(self) -> Self {
        let Factor::F64(x) = &self.xw else { return self };
        if x.rows() >= x.cols() || self.test_w.is_some() {
            return self;
        }
        let qr = x.view().transpose().qr();
        let r = qr.thin_R();
        let factor = Matrix::from_faer(r.transpose());
        PreparedShape { xw: Factor::F64(factor), ..self }
    }

    /// Factor by which the whitened rows scale when zero-padded to `width` columns.
    pub(crate) fn scale_at(&self, width: usize) -> f64 {
        if self.lambda.is_empty() {
            return 1.0;
        }
        whitening_scale(&self.lambda, self.alpha, width - self.lambda.len()) / self.scale_own
    }
}

/// Fit on the training rows, score training and (if both sides have them) held-out rows.
pub(crate) fn compare(a: &PreparedShape, b: &PreparedShape, score: Score) -> Result<PairScore, MetricError> {
    if a.n_samples() != b.n_samples() {
        return Err(MetricError::SampleCountMismatch { a: a.n_samples(), b: b.n_samples() });
    }
    // X_wᵀ Y_w; zero-padding adds zero rows/columns that change neither σ nor the fit.
    let cross = a.xw.cross(&b.xw)?;
    compare_with_cross(a, b, cross.as_ref(), score, None)
}

/// [`compare`] from the cross product X_wᵀY_w (n_a × n_b) computed by the caller, and, when
/// the caller batched it, a fast path's estimate of its nuclear norm
/// (`crate::nuclear::nuclear_norms_by`).
pub(crate) fn compare_with_cross(
    a: &PreparedShape,
    b: &PreparedShape,
    cross: MatRef<'_, f64>,
    score: Score,
    estimate: Option<crate::nuclear::Estimate>,
) -> Result<PairScore, MetricError> {
    let width = a.n_features().max(b.n_features());
    let (sa, sb) = (a.scale_at(width), b.scale_at(width));
    let Some((ta, tb)) = a.test_w.as_ref().zip(b.test_w.as_ref()) else {
        let estimate = estimate.unwrap_or_else(|| {
            (crate::nuclear::NuclearPath::GramEigenvalues, crate::nuclear::nuclear_norm_by_eigen(cross))
        });
        let distance = score_from_estimate(score, estimate, cross, sa * sb, sa * a.norm_xw, sb * b.norm_xw)?;
        return Ok(PairScore::plain(distance));
    };
    if ta.rows() != tb.rows() {
        return Err(MetricError::TestCountMismatch { a: ta.rows(), b: tb.rows() });
    }
    let svd = cross.svd().map_err(|_| MetricError::Svd)?;
    let rank = a.n_features().min(b.n_features());
    let sigma = svd.S().column_vector();
    let nuclear: f64 = (0..rank).map(|k| sigma[k]).sum();
    // The numerical rank: singular directions past it are not determined by the training
    // rows (§1.3, "underdetermined held-out scores").
    let determined = (0..rank).take_while(|&k| sigma[k] > RANK_TOL * sigma[0]).count();
    let test_underdetermined = determined < rank;
    let distance = score_from_inner(score, sa * sb * nuclear, sa * a.norm_xw, sb * b.norm_xw);
    // Held-out: A = s_a T_a U, B = s_b T_b V (§1.3). Columns past `rank` of the narrower
    // side are zero padding, so ⟨A,B⟩ = s_a s_b Σ_{k<rank} u_kᵀ (T_aᵀT_b) v_k and the
    // norms are those of the mapped rows (U, V orthogonal). Past the numerical rank, any
    // orthogonal completion fits the training rows equally well; ⟨A,B⟩ is its average over
    // all of them (Haar), whose null-space terms vanish: the sum stops at `determined`.
    let u = svd.U();
    let v = svd.V();
    let g = ta.view().transpose() * tb.view();
    let gv = &g * v.get(.., ..determined);
    let mut inner = 0.0;
    for k in 0..determined {
        for i in 0..u.nrows() {
            inner += u[(i, k)] * gv[(i, k)];
        }
    }
    let distance_test = score_from_inner(score, sa * sb * inner, sa * ta.view().norm_l2(), sb * tb.view().norm_l2());
    Ok(PairScore { distance, distance_test: Some(distance_test), test_underdetermined, ..PairScore::default() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    #[test]
    fn the_sample_space_form_scores_like_the_full_factor() {
        let mut rng = SplitMix64(17);
        let m = 20;
        // wider than m (sample space), wider, and narrower than m (kept full)
        let xs = [rng.normal_matrix(m, 50), rng.normal_matrix(m, 35), rng.normal_matrix(m, 12)];
        for (alpha, score) in [(1.0, Score::Angular), (0.5, Score::Angular), (1.0, Score::Euclidean)] {
            let full: Vec<PreparedShape> =
                xs.iter().map(|x| PreparedShape::new(x, None, alpha, Whitening::Netrep).expect("prepare")).collect();
            let thin: Vec<PreparedShape> = full.iter().cloned().map(PreparedShape::in_sample_space).collect();
            assert_eq!(thin.iter().map(|p| p.factor_width()).collect::<Vec<_>>(), [m, m, 12]);
            assert_eq!(thin.iter().map(|p| p.n_features()).collect::<Vec<_>>(), [50, 35, 12]);
            for i in 0..3 {
                for j in 0..3 {
                    let want = compare(&full[i], &full[j], score).expect("full").distance;
                    let got = compare(&thin[i], &thin[j], score).expect("thin").distance;
                    let mixed = compare(&thin[i], &full[j], score).expect("mixed").distance;
                    for g in [got, mixed] {
                        let ok = match score {
                            Score::Angular => (g.cos() - want.cos()).abs() <= 1e-13,
                            Score::Euclidean => (g * g - want * want).abs() <= 1e-10 * (1.0 + want * want),
                        };
                        assert!(ok, "alpha {alpha} {score:?} {i},{j}: {g} vs {want}");
                    }
                }
            }
        }
    }

    #[test]
    fn held_out_rows_keep_the_full_factor() {
        let mut rng = SplitMix64(4);
        let (x, t) = (rng.normal_matrix(10, 30), rng.normal_matrix(5, 30));
        let p = PreparedShape::new(&x, Some(&t), 1.0, Whitening::Netrep).expect("prepare").in_sample_space();
        assert_eq!(p.factor_width(), 30);
    }
}
