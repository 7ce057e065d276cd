//! Pure math on representation matrices (stimuli × units): centring, netrep's partial
//! whitening, the generalized shape metrics, the permutation metric and angular CKA.
//!
//! Nothing here knows about files, tables or dataflow. The formulas and their sources are
//! in `docs/math.md` (§1); each function names the section it follows.
//!
//! The pattern is *prepare once, pair many*: [`prepare`] turns one representation into a
//! [`Prepared`] value (centred and whitened factors, norms, held-out rows mapped the same
//! way), and [`compare`] scores a pair of prepared values. Prepared values are plain data
//! (serde) so a dataflow can ship them between workers and processes.

mod assignment;
mod bias_corrected;
mod block;
pub mod cca;
mod cka;
mod conv;
pub mod dcor;
pub mod embedding;
mod error;
pub mod geometry;
pub mod inner;
pub mod knn;
mod matrix;
pub mod nuclear;
mod panels;
pub mod paths;
mod permutation;
mod procrustes;
pub mod ridge;
pub mod rng;
pub mod rsa;
mod shape;
pub mod soft_matching;
mod spec;
mod stochastic;
pub mod tridiagonal;

pub use assignment::max_weight_assignment;
pub use bias_corrected::{PreparedMoments, nonnegative_least_squares};
pub use block::compare_block;
pub use cka::{PreparedCka, PreparedGram};
pub use conv::{PreparedConv, conv_grid};
pub use error::MetricError;
pub use matrix::{Matrix, Tensor};
pub use panels::{PANEL_COLUMNS, PanelPlan, STACK_BYTES};
pub use permutation::PreparedCentered;
pub use procrustes::orthogonal_procrustes;
pub use shape::{PreparedShape, whitening_scale};
pub use spec::{CkaEstimator, Kernel, LengthScale, MetricSpec, Precision, Properties, Score, Whitening};
pub use stochastic::{PreparedEnergy, PreparedGaussian};

use serde::{Deserialize, Serialize};

/// One representation prepared for a metric: everything every pair needs, computed once.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Prepared {
    Shape(PreparedShape),
    Permutation(PreparedCentered),
    Cka(PreparedCka),
    Gram(PreparedGram),
    Conv(PreparedConv),
    Gaussian(PreparedGaussian),
    Energy(PreparedEnergy),
    Moments(PreparedMoments),
    Msa(geometry::PreparedMsa),
    Rsa(rsa::PreparedRsa),
    Svcca(cca::PreparedSvcca),
    Pwcca(cca::PreparedPwcca),
    Ridge(ridge::PreparedRidge),
    Knn(knn::PreparedKnn),
    Units(soft_matching::PreparedUnits),
    Dcor(dcor::PreparedDcor),
}

impl Prepared {
    /// The shape metric's factor in `precision`; other metrics are unchanged.
    fn with_precision(self, precision: Precision) -> Prepared {
        match self {
            Prepared::Shape(p) => Prepared::Shape(p.with_precision(precision)),
            other => other,
        }
    }
}

/// Training (fitted) distance and, when both sides have held-out rows and the metric has
/// a held-out score, the score of the fitted maps on the held-out rows (§1.3).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct PairScore {
    /// A distance; for similarity measures, 1 − `similarity`.
    pub distance: f64,
    /// A similarity measure's own value (rsa, svcca, pwcca, ridge, knn, distance
    /// correlation); `None` for distances.
    pub similarity: Option<f64>,
    pub distance_test: Option<f64>,
    /// The fitted cross-covariance is genuinely rank deficient (not from padding), so the
    /// training rows do not determine the fitted map on its null space and the held-out
    /// score is the average over every completion (§1.3); netrep's value there is LAPACK's
    /// arbitrary choice. Only set when a held-out score was computed.
    pub test_underdetermined: bool,
    /// Convolutional metric: the circular shift (dy, dx) of the first representation at
    /// which the minimum over the shift grid was reached (§1.7).
    pub shift: Option<(i64, i64)>,
}

impl PairScore {
    pub(crate) fn plain(distance: f64) -> PairScore {
        PairScore { distance, ..PairScore::default() }
    }

    /// A similarity measure's score: `distance` = 1 − `similarity`.
    pub(crate) fn from_similarity(similarity: f64) -> PairScore {
        PairScore { distance: 1.0 - similarity, similarity: Some(similarity), ..PairScore::default() }
    }
}

fn layout(rank: usize) -> &'static str {
    match rank {
        2 => "[samples, units]",
        3 => "[conditions, repeats, units] (or [points, d, d] pullback metrics for msa)",
        _ => "[images, height, width, channels]",
    }
}

/// Prepare one representation `x` and its optional held-out rows `test` for `spec`.
/// The array rank must be the metric's [`MetricSpec::input_rank`]; held-out rows are used
/// by the metrics that score them ([`MetricSpec::has_test_score`]) and ignored otherwise.
pub fn prepare(spec: &MetricSpec, x: &Tensor, test: Option<&Tensor>) -> Result<Prepared, MetricError> {
    spec.validate()?;
    let rank = spec.input_rank();
    if x.shape().len() != rank {
        return Err(MetricError::WrongRank { expected: rank, layout: layout(rank), shape: x.shape().to_vec() });
    }
    match *spec {
        MetricSpec::ConvShape { alpha, .. } => Ok(Prepared::Conv(PreparedConv::new(x, alpha)?)),
        MetricSpec::GaussianStochastic { cov_eps, .. } => Ok(Prepared::Gaussian(PreparedGaussian::new(x, cov_eps)?)),
        MetricSpec::EnergyStochastic { .. } => Ok(Prepared::Energy(PreparedEnergy::new(x)?)),
        MetricSpec::Msa { .. } => Ok(Prepared::Msa(geometry::PreparedMsa::from_tensor(x)?)),
        MetricSpec::Rsa { rdm, comparison } => Ok(Prepared::Rsa(rsa::PreparedRsa::new(x, rdm, comparison)?)),
        _ => {
            let test = match test.filter(|_| spec.has_test_score()) {
                Some(t) if t.shape().len() != 2 => {
                    return Err(MetricError::WrongRank { expected: 2, layout: layout(2), shape: t.shape().to_vec() });
                }
                Some(t) => Some(t.to_matrix()),
                None => None,
            };
            prepare_matrix(spec, &x.to_matrix(), test.as_ref())
        }
    }
}

/// [`prepare`] with the cross products of the shape metric in `precision`
/// (other metrics and `Precision::F64`: the same as [`prepare`]).
pub fn prepare_with_precision(
    spec: &MetricSpec,
    precision: Precision,
    x: &Tensor,
    test: Option<&Tensor>,
) -> Result<Prepared, MetricError> {
    prepare(spec, x, test).map(|p| p.with_precision(precision))
}

/// [`prepare_matrix`] with the shape metric's cross products in `precision`.
pub fn prepare_matrix_with_precision(
    spec: &MetricSpec,
    precision: Precision,
    x: &Matrix,
    test: Option<&Matrix>,
) -> Result<Prepared, MetricError> {
    prepare_matrix(spec, x, test).map(|p| p.with_precision(precision))
}

/// [`prepare`] for the metrics of [samples × units] matrices.
pub fn prepare_matrix(spec: &MetricSpec, x: &Matrix, test: Option<&Matrix>) -> Result<Prepared, MetricError> {
    spec.validate()?;
    if let Some(t) = test
        && t.cols() != x.cols()
    {
        return Err(MetricError::TestWidth { train: x.cols(), test: t.cols() });
    }
    if x.rows() < 2 || x.cols() == 0 {
        return Err(MetricError::TooSmall { rows: x.rows(), cols: x.cols() });
    }
    match *spec {
        MetricSpec::Shape { alpha, whitening, .. } => {
            Ok(Prepared::Shape(PreparedShape::new(x, test, alpha, whitening)?.in_sample_space()))
        }
        MetricSpec::BiasCorrectedShape { moments, .. } => Ok(Prepared::Moments(PreparedMoments::new(x, moments)?)),
        MetricSpec::Permutation { .. } => Ok(Prepared::Permutation(PreparedCentered::new(x, test))),
        MetricSpec::Cka { estimator: CkaEstimator::Biased, kernel: Kernel::Linear } => {
            Ok(Prepared::Cka(PreparedCka::new(x)))
        }
        MetricSpec::Cka { estimator, kernel } => Ok(Prepared::Gram(PreparedGram::new(x, estimator, kernel)?)),
        MetricSpec::Rsa { rdm, comparison } => {
            Ok(Prepared::Rsa(rsa::PreparedRsa::new(&Tensor::from(x), rdm, comparison)?))
        }
        MetricSpec::Svcca { keep } => Ok(Prepared::Svcca(cca::PreparedSvcca::new(x, keep)?)),
        MetricSpec::Pwcca => Ok(Prepared::Pwcca(cca::PreparedPwcca::new(x)?)),
        MetricSpec::Ridge(params) => Ok(Prepared::Ridge(ridge::PreparedRidge::new(x, &params)?)),
        MetricSpec::Knn { variant, k } => Ok(Prepared::Knn(knn::PreparedKnn::new(x, variant, k)?)),
        MetricSpec::SoftMatching => Ok(Prepared::Units(soft_matching::PreparedUnits::new(x)?)),
        MetricSpec::DistanceCorrelation => Ok(Prepared::Dcor(dcor::PreparedDcor::new(x)?)),
        _ => {
            let rank = spec.input_rank();
            Err(MetricError::WrongRank { expected: rank, layout: layout(rank), shape: vec![x.rows(), x.cols()] })
        }
    }
}

/// Score a pair of representations prepared with the same `spec`.
pub fn compare(spec: &MetricSpec, a: &Prepared, b: &Prepared) -> Result<PairScore, MetricError> {
    match (spec, a, b) {
        (MetricSpec::Shape { score, .. }, Prepared::Shape(a), Prepared::Shape(b)) => shape::compare(a, b, *score),
        (MetricSpec::BiasCorrectedShape { .. }, Prepared::Moments(a), Prepared::Moments(b)) => {
            bias_corrected::compare(a, b)
        }
        (MetricSpec::Permutation { score }, Prepared::Permutation(a), Prepared::Permutation(b)) => {
            permutation::compare(a, b, *score)
        }
        (MetricSpec::Cka { .. }, Prepared::Cka(a), Prepared::Cka(b)) => cka::compare(a, b),
        (MetricSpec::Cka { .. }, Prepared::Gram(a), Prepared::Gram(b)) => cka::compare_gram(a, b),
        (MetricSpec::ConvShape { score, .. }, Prepared::Conv(a), Prepared::Conv(b)) => conv::compare(a, b, *score),
        (MetricSpec::GaussianStochastic { alpha, max_iter, tol, .. }, Prepared::Gaussian(a), Prepared::Gaussian(b)) => {
            stochastic::compare_gaussian(a, b, *alpha, *max_iter, *tol)
        }
        (MetricSpec::Msa { eps }, Prepared::Msa(a), Prepared::Msa(b)) => geometry::compare_msa(a, b, *eps),
        (MetricSpec::EnergyStochastic { max_iter, tol }, Prepared::Energy(a), Prepared::Energy(b)) => {
            stochastic::compare_energy(a, b, *max_iter, *tol)
        }
        (MetricSpec::Rsa { .. }, Prepared::Rsa(a), Prepared::Rsa(b)) => similarity(rsa::similarity(a, b)),
        (MetricSpec::Svcca { .. }, Prepared::Svcca(a), Prepared::Svcca(b)) => similarity(cca::svcca_similarity(a, b)),
        (MetricSpec::Pwcca, Prepared::Pwcca(a), Prepared::Pwcca(b)) => similarity(cca::pwcca_similarity(a, b)),
        (MetricSpec::Ridge(params), Prepared::Ridge(a), Prepared::Ridge(b)) => {
            similarity(ridge::ridge_similarity(a, b, params))
        }
        (MetricSpec::Knn { .. }, Prepared::Knn(a), Prepared::Knn(b)) => similarity(knn::knn_similarity(a, b)),
        (MetricSpec::SoftMatching, Prepared::Units(a), Prepared::Units(b)) => {
            soft_matching::soft_matching_distance(a, b).map(PairScore::plain)
        }
        (MetricSpec::DistanceCorrelation, Prepared::Dcor(a), Prepared::Dcor(b)) => {
            similarity(dcor::distance_correlation(a, b))
        }
        _ => Err(MetricError::PreparedMismatch),
    }
}

fn similarity(s: Result<f64, MetricError>) -> Result<PairScore, MetricError> {
    s.map(PairScore::from_similarity)
}

/// arccos with its argument clipped to [−1, 1], as netrep does.
pub(crate) fn clipped_arccos(c: f64) -> f64 {
    c.clamp(-1.0, 1.0).acos()
}

/// The two scores of §1.2 from the three inner products they need:
/// angular = arccos(⟨A,B⟩/(‖A‖‖B‖)), euclidean = √(‖A‖² + ‖B‖² − 2⟨A,B⟩).
pub(crate) fn score_from_inner(score: Score, inner: f64, norm_a: f64, norm_b: f64) -> f64 {
    match score {
        Score::Angular => clipped_arccos(inner / (norm_a * norm_b)),
        Score::Euclidean => (norm_a * norm_a + norm_b * norm_b - 2.0 * inner).max(0.0).sqrt(),
    }
}

/// Largest change in a distance the fast paths of the nuclear norm may cause (their error
/// bounds carried through the score); beyond it the next, more exact path is taken.
pub const NUCLEAR_DISTANCE_TOLERANCE: f64 = 1e-10;

/// A shape score from the cross product M = X_wᵀY_w: `inner` = `scale`·‖M‖_* (§1.2).
pub(crate) fn score_from_cross(
    score: Score,
    cross: faer::MatRef<'_, f64>,
    scale: f64,
    norm_a: f64,
    norm_b: f64,
) -> Result<f64, MetricError> {
    let estimate = (nuclear::NuclearPath::GramEigenvalues, nuclear::nuclear_norm_by_eigen(cross));
    score_from_estimate(score, estimate, cross, scale, norm_a, norm_b)
}

/// [`score_from_cross`] given a fast path's (‖M‖_*, error bound) (the Gram eigenvalues, or the
/// bidiagonal path a block chose for a low-rank zoo). Paths in order of cost, each taken when
/// its bound moves the score by at most [`NUCLEAR_DISTANCE_TOLERANCE`]: the estimate given;
/// the bidiagonal path unless that gave it ([`nuclear::nuclear_norms_by_bidiagonal`], whose
/// bound does not grow with the spread of the singular values, so low-rank products with long
/// small tails take it); faer's SVD (near-identical pairs, where arccos and √ amplify any error).
pub(crate) fn score_from_estimate(
    score: Score,
    (path, estimate): nuclear::Estimate,
    cross: faer::MatRef<'_, f64>,
    scale: f64,
    norm_a: f64,
    norm_b: f64,
) -> Result<f64, MetricError> {
    let within = |(nuclear, err): (f64, f64)| {
        // scores fall as the inner product grows
        let low = score_from_inner(score, scale * (nuclear + err), norm_a, norm_b);
        let high = score_from_inner(score, scale * (nuclear - err), norm_a, norm_b);
        (high - low <= NUCLEAR_DISTANCE_TOLERANCE).then(|| score_from_inner(score, scale * nuclear, norm_a, norm_b))
    };
    if let Some(distance) = estimate.and_then(within) {
        return Ok(distance);
    }
    if path == nuclear::NuclearPath::GramEigenvalues
        && let Some(distance) = nuclear::nuclear_norms_by_bidiagonal(&[cross]).pop().flatten().and_then(within)
    {
        return Ok(distance);
    }
    Ok(score_from_inner(score, scale * nuclear::nuclear_norm_by_svd(cross)?, norm_a, norm_b))
}

/// Threads faer may use inside one metric computation: 0 = all cores, 1 = sequential.
/// With several dataflow workers already using the cores, 1 avoids oversubscription.
pub fn set_linear_algebra_threads(threads: usize) {
    let par = if threads == 1 { faer::Par::Seq } else { faer::Par::rayon(threads) };
    faer::set_global_parallelism(par);
}
