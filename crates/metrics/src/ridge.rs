//! Cross-validated ridge predictivity (brain-score's convention, contiguous folds): how well
//! a linear map fitted on some stimuli predicts the target network's units on the others.
//!
//! **Definition.** The m stimuli are split as scikit-learn's `KFold(n_splits=folds,
//! shuffle=False)` does: contiguous held-out blocks, the first m mod folds of them one stimulus
//! longer. In each fold the predictor's units X and the target's units Y on the training
//! stimuli are fitted by ridge regression with an unpenalised intercept, its α chosen from
//! `alphas` by leave-one-out error on the training part; the fit predicts the held-out
//! stimuli, and the fold's score is the median over target units of the Pearson r between
//! predicted and actual held-out responses. The score is the mean over folds.
//! `forward(a, b)`: a's units predict b's; `reverse` is forward(b, a); `mean` their average.
//!
//! **Reference.** scikit-learn 1.9.1 `RidgeCV(alphas, fit_intercept=True).fit(x[train],
//! y[train]).predict(x[test])` per fold, `scipy.stats.pearsonr` per unit, `np.median`, `np.mean`.
//! RidgeCV's default (`cv=None`, `alpha_per_target=False`, `scoring=None`) picks one α for all
//! targets: the first in the list whose mean squared leave-one-out error over training
//! stimuli and targets is smallest (a later α replaces it only when strictly better). With
//! X̃, Ỹ the training parts centred on their training means and X̃ = U S Vᵀ (thin), the
//! intercept is refitted in each leave-one-out fit, so the hat matrix is
//! H = 11ᵀ/n + U diag(σ²/(σ²+α)) Uᵀ and the leave-one-out residual is e_i / (1 − H_ii) with
//! e = Ỹ − U diag(σ²/(σ²+α)) UᵀỸ (Hastie, Tibshirani & Friedman, ESL eq. 7.52; scikit-learn's
//! `_RidgeGCV`, which gets the same numbers from the eigendecomposition of X̃X̃ᵀ or X̃ᵀX̃).
//! Here both are formed without cancellation: e = (Ỹ − UUᵀỸ) + U diag(α/(σ²+α)) UᵀỸ and
//! 1 − H_ii = (1 − 1/n − Σ_k U_ik²) + Σ_k U_ik² α/(σ_k²+α). The fitted map is
//! β = V diag(σ/(σ²+α)) UᵀỸ; the intercept (ȳ − x̄β) shifts every prediction of a unit by one
//! constant, which Pearson r ignores, so predictions are (X_test − x̄)β.
//!
//! **Undefined r.** Pearson r needs both vectors non-constant (scipy returns NaN, and the
//! reference's median then NaN). Refused with [`MetricError::Undefined`], naming the unit and
//! fold: a target unit constant on a fold's held-out stimuli, or on its training stimuli (its
//! fitted map is zero and its predictions constant), and predictions that come out exactly
//! constant. Folds hold at least 2 stimuli each (folds ≤ m/2).
//!
//! **Prepare once, pair many.** Everything of the predictor role depends on one
//! representation only ([`PreparedRidge::new`]): per fold, U, σ, the held-out stimuli in the
//! V basis ((X_test − x̄)V) and 1 − H_ii for every α; storage O(folds · m · min(m, units)).
//! A pair then costs per fold (1 + #alphas) products of n_train × min(n_train, units_a) ×
//! units_b and one of the held-out size.
//!
//! **Invariants.** Not symmetric (forward ≠ reverse; `mean` is symmetric). In [−1, 1].
//! Invariant to translation of either network, to orthogonal transforms and permutations of
//! the predictor's units, to permutations and isotropic scaling of the target's units (the
//! leave-one-out errors scale together). Not invariant to scaling the predictor (α is on a
//! fixed grid) or to reordering stimuli (the folds are contiguous).

use faer::{ColRef, Mat};
use serde::{Deserialize, Serialize};

use crate::{Matrix, MetricError};

/// Which network predicts which.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RidgeDirection {
    /// a's units predict b's.
    Forward,
    /// b's units predict a's.
    Reverse,
    /// The average of the two.
    Mean,
}

/// Most α values a ridge grid may hold.
pub const MAX_ALPHAS: usize = 16;

/// The ridge penalties to choose from: 1 to [`MAX_ALPHAS`] positive finite values, in the
/// order given (which decides ties, as in scikit-learn). Serialised as a list.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Vec<f64>", into = "Vec<f64>")]
pub struct Alphas {
    values: [f64; MAX_ALPHAS],
    len: usize,
}

impl Alphas {
    pub fn new(alphas: &[f64]) -> Result<Alphas, MetricError> {
        let refuse = |reason: String| Err(MetricError::Parameter { key: "alphas", reason });
        if alphas.is_empty() || alphas.len() > MAX_ALPHAS {
            return refuse(format!("between 1 and {MAX_ALPHAS} values are needed, got {}", alphas.len()));
        }
        if let Some(a) = alphas.iter().find(|a| !(a.is_finite() && **a > 0.0)) {
            return refuse(format!("every alpha must be positive and finite, got {a}"));
        }
        let mut values = [0.0; MAX_ALPHAS];
        values[..alphas.len()].copy_from_slice(alphas);
        Ok(Alphas { values, len: alphas.len() })
    }

    pub fn as_slice(&self) -> &[f64] {
        &self.values[..self.len]
    }
}

impl TryFrom<Vec<f64>> for Alphas {
    type Error = MetricError;
    fn try_from(v: Vec<f64>) -> Result<Alphas, MetricError> {
        Alphas::new(&v)
    }
}

impl From<Alphas> for Vec<f64> {
    fn from(a: Alphas) -> Vec<f64> {
        a.as_slice().to_vec()
    }
}

/// The parameters of ridge predictivity.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RidgeParams {
    /// Contiguous, unshuffled folds (≥ 2).
    pub folds: usize,
    pub alphas: Alphas,
    pub direction: RidgeDirection,
}

impl RidgeParams {
    pub fn validate(&self) -> Result<(), MetricError> {
        if self.folds < 2 {
            return Err(MetricError::Parameter {
                key: "folds",
                reason: format!("cross-validation needs at least 2 folds, got {}", self.folds),
            });
        }
        Ok(())
    }
}

/// One representation for ridge predictivity, in both roles.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PreparedRidge {
    alphas: Alphas,
    /// The representation (m × units): the target role.
    x: Matrix,
    /// Per fold, the predictor role.
    folds: Vec<PredictorFold>,
    /// Why the representation cannot be a target, if it cannot.
    not_a_target: Option<String>,
}

/// A fold's held-out stimuli `start..end` and the predictor's training part, centred and
/// decomposed: X̃ = U S Vᵀ.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct PredictorFold {
    start: usize,
    end: usize,
    /// U (n_train × r), r = min(n_train, units).
    u: Matrix,
    /// σ (r).
    s: Vec<f64>,
    /// (X_test − x̄)V (n_test × r).
    test: Matrix,
    /// 1 − H_ii (n_train × #alphas).
    loo_denominators: Matrix,
}

/// One fold's outcome.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RidgeFold {
    /// The α chosen by leave-one-out error on the training stimuli.
    pub alpha: f64,
    /// The median over target units of the held-out Pearson r.
    pub score: f64,
}

/// The contiguous held-out ranges of `KFold(n_splits=folds, shuffle=False)` over m stimuli.
fn fold_ranges(m: usize, folds: usize) -> Vec<(usize, usize)> {
    let mut start = 0;
    (0..folds)
        .map(|f| {
            let len = m / folds + usize::from(f < m % folds);
            start += len;
            (start - len, start)
        })
        .collect()
}

/// The rows outside `start..end`, in order, each column centred on its mean over them, and
/// those means.
fn centred_training_rows(x: &Matrix, start: usize, end: usize) -> (Mat<f64>, Vec<f64>) {
    let n = x.rows() - (end - start);
    let row = |i: usize| if i < start { i } else { i + end - start };
    let mut out = Mat::from_fn(n, x.cols(), |i, j| x.get(row(i), j));
    let means: Vec<f64> = (0..x.cols()).map(|j| out.col(j).iter().sum::<f64>() / n as f64).collect();
    for (j, mean) in means.iter().enumerate() {
        out.col_mut(j).iter_mut().for_each(|v| *v -= mean);
    }
    (out, means)
}

fn is_constant(mut values: impl Iterator<Item = f64>) -> bool {
    match values.next() {
        Some(first) => values.all(|v| v == first),
        None => true,
    }
}

impl PreparedRidge {
    pub fn new(x: &Matrix, params: &RidgeParams) -> Result<Self, MetricError> {
        params.validate()?;
        let (m, units) = (x.rows(), x.cols());
        if m < 2 || units == 0 {
            return Err(MetricError::TooSmall { rows: m, cols: units });
        }
        if m / params.folds < 2 {
            return Err(MetricError::Parameter {
                key: "folds",
                reason: format!(
                    "{} folds of {m} stimuli leave a held-out fold with fewer than 2 stimuli, where Pearson r is \
                     undefined; at most {} folds",
                    params.folds,
                    m / 2
                ),
            });
        }
        if !x.is_finite() {
            return Err(MetricError::NotFinite("ridge: the representation has non-finite entries".into()));
        }
        let alphas = params.alphas.as_slice();
        let mut folds = Vec::with_capacity(params.folds);
        let mut not_a_target = None;
        for (f, (start, end)) in fold_ranges(m, params.folds).into_iter().enumerate() {
            let (xc, means) = centred_training_rows(x, start, end);
            let n = xc.nrows();
            let svd = xc.thin_svd().map_err(|_| MetricError::Svd)?;
            let (u, v) = (svd.U(), svd.V());
            let s: Vec<f64> = svd.S().column_vector().iter().copied().collect();
            let held_out = Mat::from_fn(end - start, units, |i, j| x.get(start + i, j) - means[j]);
            // 1 − H_ii = (1 − 1/n − Σ_k U_ik²) + Σ_k U_ik² α/(σ_k²+α)
            let outside: Vec<f64> = (0..n)
                .map(|i| 1.0 - 1.0 / n as f64 - (0..s.len()).map(|k| u[(i, k)] * u[(i, k)]).sum::<f64>())
                .collect();
            let loo_denominators = Matrix::from_fn(n, alphas.len(), |i, a| {
                let alpha = alphas[a];
                outside[i] + (0..s.len()).map(|k| u[(i, k)] * u[(i, k)] * alpha / (s[k] * s[k] + alpha)).sum::<f64>()
            });
            folds.push(PredictorFold {
                start,
                end,
                u: Matrix::from_faer(u),
                test: Matrix::from_faer((held_out * v).as_ref()),
                s,
                loo_denominators,
            });
            if not_a_target.is_none() {
                not_a_target = (0..units).find_map(|j| {
                    let column = x.view().col(j);
                    if is_constant(column.iter().skip(start).take(end - start).copied()) {
                        Some(format!(
                            "ridge: target unit {j} is constant on the held-out stimuli {start}..{end} of fold {f}, so \
                             its Pearson r is undefined"
                        ))
                    } else if is_constant(column.iter().take(start).chain(column.iter().skip(end)).copied()) {
                        Some(format!(
                            "ridge: target unit {j} is constant on the training stimuli of fold {f} (held out \
                             {start}..{end}), so its predictions are constant and their Pearson r is undefined"
                        ))
                    } else {
                        None
                    }
                });
            }
        }
        Ok(PreparedRidge { alphas: params.alphas, x: x.clone(), folds, not_a_target })
    }

    pub fn n_samples(&self) -> usize {
        self.x.rows()
    }

    pub fn folds(&self) -> usize {
        self.folds.len()
    }
}

/// Per fold: the α `RidgeCV` chooses for `predictor` → `target` and the fold's score.
pub fn ridge_folds(predictor: &PreparedRidge, target: &PreparedRidge) -> Result<Vec<RidgeFold>, MetricError> {
    if predictor.n_samples() != target.n_samples() {
        return Err(MetricError::SampleCountMismatch { a: predictor.n_samples(), b: target.n_samples() });
    }
    if predictor.folds() != target.folds() || predictor.alphas != target.alphas {
        return Err(MetricError::PreparedMismatch);
    }
    if let Some(reason) = &target.not_a_target {
        return Err(MetricError::Undefined(reason.clone()));
    }
    let alphas = predictor.alphas.as_slice();
    let y = &target.x;
    let units = y.cols();
    predictor
        .folds
        .iter()
        .enumerate()
        .map(|(f, fold)| {
            let (u, s) = (fold.u.view(), &fold.s);
            let (yc, _) = centred_training_rows(y, fold.start, fold.end);
            let c = u.transpose() * &yc;
            // the part of Ỹ no α reaches: Ỹ − UUᵀỸ
            let outside = &yc - u * &c;
            // RidgeCV: the first α of least mean squared leave-one-out error
            let mut best: Option<(f64, f64)> = None;
            for (a, &alpha) in alphas.iter().enumerate() {
                let shrunk = Mat::from_fn(c.nrows(), units, |k, j| alpha / (s[k] * s[k] + alpha) * c[(k, j)]);
                let residuals = &outside + u * &shrunk;
                let denominators = fold.loo_denominators.view().col(a);
                let mut error = 0.0;
                for j in 0..units {
                    for (e, d) in residuals.col(j).iter().zip(denominators.iter()) {
                        error += (e / d) * (e / d);
                    }
                }
                let error = error / (yc.nrows() * units) as f64;
                if best.is_none_or(|(_, least)| error < least) {
                    best = Some((alpha, error));
                }
            }
            let alpha = match best {
                Some((alpha, error)) if error.is_finite() => alpha,
                _ => {
                    return Err(MetricError::NotFinite(format!(
                        "ridge: the leave-one-out error of fold {f} is not finite"
                    )));
                }
            };
            // held-out predictions up to a constant per unit: (X_test − x̄) V diag(σ/(σ²+α)) UᵀỸ
            let coef = Mat::from_fn(c.nrows(), units, |k, j| s[k] / (s[k] * s[k] + alpha) * c[(k, j)]);
            let predictions = fold.test.view() * &coef;
            let mut r = Vec::with_capacity(units);
            for j in 0..units {
                let p = predictions.col(j);
                if is_constant(p.iter().copied()) {
                    return Err(MetricError::Undefined(format!(
                        "ridge: the predictions of target unit {j} in fold {f} are constant, so their Pearson r is \
                         undefined"
                    )));
                }
                let actual = y.view().col(j).subrows(fold.start, fold.end - fold.start);
                r.push(pearson(p, actual));
            }
            Ok(RidgeFold { alpha, score: median(&mut r) })
        })
        .collect()
}

/// Ridge predictivity of the pair in `params.direction`.
pub fn ridge_similarity(a: &PreparedRidge, b: &PreparedRidge, params: &RidgeParams) -> Result<f64, MetricError> {
    if a.alphas != params.alphas || a.folds() != params.folds || b.alphas != params.alphas || b.folds() != params.folds
    {
        return Err(MetricError::PreparedMismatch);
    }
    let predictivity = |predictor, target| -> Result<f64, MetricError> {
        let folds = ridge_folds(predictor, target)?;
        Ok(folds.iter().map(|f| f.score).sum::<f64>() / folds.len() as f64)
    };
    match params.direction {
        RidgeDirection::Forward => predictivity(a, b),
        RidgeDirection::Reverse => predictivity(b, a),
        RidgeDirection::Mean => Ok((predictivity(a, b)? + predictivity(b, a)?) / 2.0),
    }
}

/// Pearson r of two equally long, non-constant columns.
fn pearson(x: ColRef<'_, f64>, y: ColRef<'_, f64>) -> f64 {
    let n = x.nrows() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y.iter()) {
        let (a, b) = (a - mx, b - my);
        sxy += a * b;
        sxx += a * a;
        syy += b * b;
    }
    (sxy / (sxx.sqrt() * syy.sqrt())).clamp(-1.0, 1.0)
}

/// `np.median`: the middle value, or the mean of the two middle values.
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

#[cfg(test)]
mod tests {
    use faer::linalg::solvers::Solve;

    use super::*;
    use crate::rng::SplitMix64;

    fn params(folds: usize, alphas: &[f64], direction: RidgeDirection) -> RidgeParams {
        RidgeParams { folds, alphas: Alphas::new(alphas).expect("alphas"), direction }
    }

    #[test]
    fn folds_are_sklearns_contiguous_kfold() {
        // KFold(5).split(range(23)): sizes 5, 5, 5, 4, 4
        assert_eq!(fold_ranges(23, 5), [(0, 5), (5, 10), (10, 15), (15, 19), (19, 23)]);
        assert_eq!(fold_ranges(9, 3), [(0, 3), (3, 6), (6, 9)]);
    }

    #[test]
    fn median_is_numpys() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn alphas_refuse_bad_grids_and_round_trip_as_a_list() {
        assert!(Alphas::new(&[]).is_err());
        assert!(Alphas::new(&[1.0; 17]).is_err());
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(Alphas::new(&[1.0, bad]), Err(MetricError::Parameter { key: "alphas", .. })), "{bad}");
        }
        let a = Alphas::new(&[0.1, 10.0]).expect("alphas");
        let json = serde_json::to_string(&a).expect("serialise");
        assert_eq!(json, "[0.1,10.0]");
        assert_eq!(serde_json::from_str::<Alphas>(&json).expect("deserialise"), a);
        assert!(serde_json::from_str::<Alphas>("[]").is_err());
        assert!(serde_json::from_str::<Alphas>("[1.0, -2.0]").is_err());
    }

    #[test]
    fn loo_errors_equal_refitting_without_each_stimulus() {
        // the closed form against n explicit ridge fits with the intercept refitted each time
        let mut rng = SplitMix64(4);
        let x = rng.normal_matrix(9, 3);
        let y = rng.normal_matrix(9, 2);
        let alpha = 0.7;
        let p = params(3, &[alpha], RidgeDirection::Forward);
        let (px, py) = (PreparedRidge::new(&x, &p).expect("x"), PreparedRidge::new(&y, &p).expect("y"));
        let fold = &px.folds[0];
        let (yc, _) = centred_training_rows(&y, fold.start, fold.end);
        let u = fold.u.view();
        let c = u.transpose() * &yc;
        let fitted = u * Mat::from_fn(c.nrows(), 2, |k, j| fold.s[k].powi(2) / (fold.s[k].powi(2) + alpha) * c[(k, j)]);
        let train: Vec<usize> = (fold.end..9).collect();
        for (i, &row) in train.iter().enumerate() {
            // fit on the other training rows: centre, solve (X̃ᵀX̃ + αI)β = X̃ᵀỹ, predict row
            let rest: Vec<usize> = train.iter().copied().filter(|&r| r != row).collect();
            let mean = |m: &Matrix, j: usize| rest.iter().map(|&r| m.get(r, j)).sum::<f64>() / rest.len() as f64;
            let xr = Mat::from_fn(rest.len(), 3, |a, j| x.get(rest[a], j) - mean(&x, j));
            let yr = Mat::from_fn(rest.len(), 2, |a, j| y.get(rest[a], j) - mean(&y, j));
            let xtx = xr.transpose() * &xr;
            let gram = Mat::from_fn(3, 3, |a, b| xtx[(a, b)] + if a == b { alpha } else { 0.0 });
            let beta = gram.as_ref().llt(faer::Side::Lower).expect("spd").solve(xr.transpose() * &yr);
            for j in 0..2 {
                let pred = mean(&y, j) + (0..3).map(|k| (x.get(row, k) - mean(&x, k)) * beta[(k, j)]).sum::<f64>();
                let direct = y.get(row, j) - pred;
                let closed = (yc[(i, j)] - fitted[(i, j)]) / fold.loo_denominators.get(i, 0);
                assert!((direct - closed).abs() < 1e-12, "row {row} unit {j}: {direct} vs {closed}");
            }
        }
        assert_eq!(ridge_folds(&px, &py).expect("pair").len(), 3);
    }

    #[test]
    fn refuses_what_has_no_pearson_r() {
        let mut rng = SplitMix64(5);
        let x = rng.normal_matrix(12, 4);
        let p = params(3, &[1.0], RidgeDirection::Forward);
        assert!(PreparedRidge::new(&x, &params(1, &[1.0], RidgeDirection::Forward)).is_err());
        // 7 folds of 12 stimuli leave folds of 1
        assert!(matches!(
            PreparedRidge::new(&x, &params(7, &[1.0], RidgeDirection::Forward)),
            Err(MetricError::Parameter { key: "folds", .. })
        ));
        assert!(PreparedRidge::new(&x, &params(6, &[1.0], RidgeDirection::Forward)).is_ok());
        // unit 2 constant on the last fold's held-out stimuli: fine as a predictor, refused as a target
        let y = Matrix::from_fn(12, 3, |i, j| if j == 2 && i >= 8 { 1.5 } else { x.get(i, j) + 0.1 * i as f64 });
        let (px, py) = (PreparedRidge::new(&x, &p).expect("x"), PreparedRidge::new(&y, &p).expect("y"));
        assert!(ridge_similarity(&py, &px, &p).is_ok());
        let err = ridge_similarity(&px, &py, &p).expect_err("constant target");
        assert!(matches!(&err, MetricError::Undefined(s) if s.contains("unit 2") && s.contains("fold 2")), "{err}");
        // a predictor constant on every training part predicts constants
        let flat = Matrix::from_fn(12, 2, |_, j| j as f64);
        let pf = PreparedRidge::new(&flat, &p).expect("flat");
        assert!(matches!(ridge_similarity(&pf, &px, &p), Err(MetricError::Undefined(_))));
    }
}
