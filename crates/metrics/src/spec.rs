use serde::{Deserialize, Serialize};

use crate::MetricError;
use crate::cca::Keep;
use crate::knn::KnnVariant;
use crate::ridge::{RidgeDirection, RidgeParams};
use crate::rsa::{Noise, Rdm, RdmComparison};

/// Which score to report after fitting (§1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Score {
    /// arccos(⟨A,B⟩ / (‖A‖‖B‖)): the Riemannian shape angle.
    Angular,
    /// ‖A − B‖: a size-and-shape distance.
    Euclidean,
}

/// How partial whitening treats small eigenvalues (§1.1, §1.9).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Whitening {
    /// netrep: absolute floor 1e-7 on the unnormalised scatter, rescale over all
    /// (padded) eigenvalues. Angular scores at 0 < α < 1 depend on global scale.
    Netrep,
    /// Eigenvalues relative to their mean λ̄ = tr/n, floored at `rank_tol`·λ_max; directions
    /// below the floor (and zero padding) are left out of the variance-preserving rescale.
    /// Invariant to global scale for every α.
    Relative { rank_tol: f64 },
}

/// The arithmetic of a metric's per-pair cross products. `F32` stores the prepared factors
/// in single precision and forms X_wᵀY_w in f32 (twice the GEMM rate, half the memory); the
/// nuclear norm and scores stay f64. The cost in accuracy is stated in the README.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    #[default]
    F64,
    F32,
}

/// Which CKA estimator (§2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CkaEstimator {
    /// Gretton's biased HSIC of centred kernels (netrep's LinearCKA).
    Biased,
    /// Song et al.'s unbiased HSIC U-statistic (not repsim's masked-diagonal "unbiased").
    Debiased,
}

/// The kernel of CKA.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Kernel {
    /// K = X̃X̃ᵀ.
    Linear,
    /// K_ij = exp(−‖x_i − x_j‖² / ℓ²) (repsim's convention: no factor 2).
    Rbf { length_scale: LengthScale },
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum LengthScale {
    /// ℓ² = the lower median of the squared pairwise distances of each representation.
    Median,
    /// A fixed ℓ > 0.
    Fixed(f64),
}

/// A metric and its parameters. The faithful kinds carry netrep's meaning (§1.9);
/// options that change the numbers have their own names.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum MetricSpec {
    /// netrep `LinearMetric(alpha, center_columns=True, zero_pad=True, score_method)` (§1.1–1.4),
    /// with `Whitening::Netrep`.
    Shape { alpha: f64, score: Score, whitening: Whitening },
    /// The angular Procrustes shape distance (α = 1) estimated with less bias when units
    /// are many compared with stimuli: the nuclear norm of the cross-covariance comes from
    /// unbiased estimates of its spectral moments (method of moments, arXiv 2310.05742)
    /// instead of the plug-in sample cross-covariance. `moments` sets the bias–variance
    /// trade-off (more moments: less bias, more variance; needs 2·moments ≤ samples).
    BiasCorrectedShape { alpha: f64, score: Score, moments: usize },
    /// netrep `PermutationMetric(center_columns=True, zero_pad=True, score_method)` (§1.5).
    Permutation { score: Score },
    /// Angular CKA: arccos of CKA. Biased + linear is netrep's LinearCKA (§1.6).
    Cka { estimator: CkaEstimator, kernel: Kernel },
    /// netrep `convolve_metric(LinearMetric(alpha))`: the minimum over all circular
    /// spatial shifts (§1.7). Inputs [images, height, width, channels].
    ConvShape { alpha: f64, score: Score },
    /// netrep `GaussianStochasticMetric(alpha, group="orth", init="means")` with the
    /// pairwise routine's `cov_eps`·I regularisation (§1.8). Inputs [conditions, repeats, units].
    GaussianStochastic { alpha: f64, max_iter: usize, tol: f64, cov_eps: f64 },
    /// netrep `EnergyStochasticMetric(group="orth")` (§1.8). Inputs [conditions, repeats, units].
    EnergyStochastic { max_iter: usize, tol: f64 },
    /// Metric Similarity Analysis (§5): the mean over probe points of 1 − √(λ_min/λ_max)
    /// of the two networks' pullback metrics, each regularised by εI. Inputs [points, d, d].
    Msa { eps: f64 },
    /// Representational similarity analysis: rsatoolbox 0.3.2's `calc_rdm` then `compare`
    /// ([`crate::rsa`]). Crossnobis reads [conditions, repeats, units]. A similarity.
    Rsa { rdm: Rdm, comparison: RdmComparison },
    /// SVCCA: the mean canonical correlation of the kept SVD directions (google/svcca's
    /// `get_cca_similarity`, [`crate::cca`]). A similarity.
    Svcca { keep: Keep },
    /// PWCCA (google/svcca's `compute_pwcca`, the narrower network first; fewer units than
    /// stimuli only). A similarity.
    Pwcca,
    /// Cross-validated ridge predictivity (brain-score's convention over scikit-learn's
    /// `RidgeCV`, [`crate::ridge`]). A similarity.
    Ridge(RidgeParams),
    /// k-nearest-neighbour alignment on L2-normalised rows (platonic-rep's mutual k-NN and
    /// CKNNA, ReSi's Jaccard k-NN; [`crate::knn`]). A similarity.
    Knn { variant: KnnVariant, k: usize },
    /// The soft-matching distance between the units' tuning curves (Khosla & Williams 2023,
    /// exact optimal transport; [`crate::soft_matching`]).
    SoftMatching,
    /// Distance correlation (biased, not squared; `dcor.distance_correlation`,
    /// [`crate::dcor`]). A similarity.
    DistanceCorrelation,
}

/// What a measure's numbers mean and which transformations of one representation leave
/// them unchanged (ReSi's record of a measure; the `measures` table). Every `true`
/// invariance is checked numerically by `tests/measure_properties.rs`, and so is every
/// `false` one (a generic transformation of that kind changes the value), for every kind but
/// `msa`, whose inputs are pullback metrics (its invariances are of the network's output
/// features: g = JᵀJ is unchanged by orthogonal maps and translations of them, scaled by
/// scaling, whose spectral ratio it leaves alone).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Properties {
    /// The measure's own value is a similarity (`distance` = 1 − similarity).
    pub similarity: bool,
    /// `distance` is a metric on the classes the invariances below identify.
    pub is_metric: bool,
    /// The value of (a, b) is that of (b, a).
    pub symmetric: bool,
    /// X ↦ XQ, Q orthogonal (units rotated).
    pub ortho: bool,
    /// X ↦ cX, c > 0.
    pub isotropic_scaling: bool,
    /// X ↦ XA, A invertible.
    pub invertible_linear: bool,
    /// X ↦ XP, P a permutation of units.
    pub permutation: bool,
    /// X ↦ X + 1bᵀ (every stimulus shifted by the same vector).
    pub translation: bool,
}

impl MetricSpec {
    /// netrep's defaults for the faithful shape metric.
    pub fn shape(alpha: f64, score: Score) -> MetricSpec {
        MetricSpec::Shape { alpha, score, whitening: Whitening::Netrep }
    }

    /// netrep's LinearCKA.
    pub fn linear_cka() -> MetricSpec {
        MetricSpec::Cka { estimator: CkaEstimator::Biased, kernel: Kernel::Linear }
    }

    pub fn validate(&self) -> Result<(), MetricError> {
        let bad = |key: &'static str, reason: String| Err(MetricError::Parameter { key, reason });
        match *self {
            MetricSpec::Shape { alpha, whitening, .. } => {
                if !(0.0..=1.0).contains(&alpha) {
                    return bad("alpha", format!("must lie in [0, 1], got {alpha}"));
                }
                if let Whitening::Relative { rank_tol } = whitening
                    && !(rank_tol > 0.0 && rank_tol < 1.0)
                {
                    return bad("rank_tol", format!("must lie in (0, 1), got {rank_tol}"));
                }
                Ok(())
            }
            MetricSpec::BiasCorrectedShape { alpha, score, moments } => {
                if alpha != 1.0 {
                    return bad(
                        "alpha",
                        format!("estimator = \"bias_corrected\" is defined for alpha = 1 (Procrustes), got {alpha}"),
                    );
                }
                if score != Score::Angular {
                    return bad(
                        "score",
                        "estimator = \"bias_corrected\" estimates the angular score; use score = \"angular\"".into(),
                    );
                }
                if !(1..=12).contains(&moments) {
                    return bad("moments", format!("must lie in 1..=12, got {moments}"));
                }
                Ok(())
            }
            MetricSpec::ConvShape { alpha, .. } if !(0.0..=1.0).contains(&alpha) => {
                bad("alpha", format!("must lie in [0, 1], got {alpha}"))
            }
            MetricSpec::Cka { kernel: Kernel::Rbf { length_scale: LengthScale::Fixed(l) }, .. }
                if !(l > 0.0 && l.is_finite()) =>
            {
                bad("length_scale", format!("must be a positive number or \"median\", got {l}"))
            }
            MetricSpec::GaussianStochastic { alpha, tol, cov_eps, max_iter } => {
                if !(0.0..=2.0).contains(&alpha) {
                    return bad("alpha", format!("must lie in [0, 2] for the Gaussian stochastic metric, got {alpha}"));
                }
                if !(tol >= 0.0) || max_iter == 0 {
                    return bad("tol", format!("tol must be ≥ 0 and max_iter ≥ 1, got {tol} and {max_iter}"));
                }
                if !(cov_eps >= 0.0) {
                    return bad("cov_eps", format!("must be ≥ 0, got {cov_eps}"));
                }
                Ok(())
            }
            MetricSpec::Msa { eps } if !(eps >= 0.0 && eps.is_finite()) => {
                bad("eps", format!("must be ≥ 0, got {eps}"))
            }
            MetricSpec::EnergyStochastic { tol, max_iter } if !(tol >= 0.0) || max_iter == 0 => {
                bad("tol", format!("tol must be ≥ 0 and max_iter ≥ 1, got {tol} and {max_iter}"))
            }
            MetricSpec::Svcca { keep: Keep::Directions(0) } => bad("keep", "must be at least 1".into()),
            MetricSpec::Svcca { keep: Keep::Variance(v) } if !(v > 0.0 && v <= 1.0) => {
                bad("variance", format!("must lie in (0, 1], got {v}"))
            }
            MetricSpec::Ridge(RidgeParams { folds, .. }) if folds < 2 => {
                bad("folds", format!("must be at least 2, got {folds}"))
            }
            MetricSpec::Knn { k: 0, .. } => bad("k", "must be at least 1".into()),
            // platonic-rep's cknna refuses k < 2 (its unbiased HSIC needs two neighbours)
            MetricSpec::Knn { variant: KnnVariant::Cknna, k: 1 } => {
                bad("k", "variant = \"cknna\" needs k ≥ 2, as platonic-rep's cknna does".into())
            }
            _ => Ok(()),
        }
    }

    /// The measure's properties (see [`Properties`]).
    pub fn properties(&self) -> Properties {
        let p = |similarity,
                 is_metric,
                 symmetric,
                 ortho,
                 isotropic_scaling,
                 invertible_linear,
                 permutation,
                 translation| {
            Properties {
                similarity,
                is_metric,
                symmetric,
                ortho,
                isotropic_scaling,
                invertible_linear,
                permutation,
                translation,
            }
        };
        match *self {
            MetricSpec::Shape { alpha, score, whitening } => {
                // α = 0 whitens fully (CCA); netrep's floor makes the angular score at
                // 0 < α < 1 depend on global scale (§1.9); the Euclidean score of α > 0 scales
                let scale_free = alpha == 0.0
                    || (score == Score::Angular && (alpha == 1.0 || matches!(whitening, Whitening::Relative { .. })));
                p(false, true, true, true, scale_free, alpha == 0.0, true, true)
            }
            // its moment estimates follow index paths that start in the first network's Gram
            // matrix: both orders are unbiased, but they differ
            MetricSpec::BiasCorrectedShape { .. } => p(false, false, false, true, true, false, true, true),
            MetricSpec::Permutation { score } => {
                p(false, true, true, false, score == Score::Angular, false, true, true)
            }
            MetricSpec::Cka { estimator, kernel } => {
                let scale_free = !matches!(kernel, Kernel::Rbf { length_scale: LengthScale::Fixed(_) });
                p(
                    false,
                    estimator == CkaEstimator::Biased && kernel == Kernel::Linear,
                    true,
                    true,
                    scale_free,
                    false,
                    true,
                    true,
                )
            }
            MetricSpec::ConvShape { score, .. } => {
                p(false, true, true, true, score == Score::Angular, false, true, true)
            }
            // the conditions' means are compared as they are (not centred)
            MetricSpec::GaussianStochastic { .. } | MetricSpec::EnergyStochastic { .. } => {
                p(false, true, true, true, false, false, true, false)
            }
            MetricSpec::Msa { .. } => p(false, false, true, true, true, false, true, true),
            MetricSpec::Rsa { rdm, .. } => {
                // a Euclidean or identity-noise crossnobis RDM is a function of the stimuli's
                // distances; the correlation RDM centres each stimulus over its units, and a
                // diagonal noise estimate is not rotation-equivariant
                let ortho = matches!(rdm, Rdm::Euclidean | Rdm::Crossnobis { noise: Noise::Identity });
                p(true, false, true, ortho, true, false, true, rdm != Rdm::Correlation)
            }
            MetricSpec::Svcca { .. } => p(true, false, true, true, true, false, true, true),
            MetricSpec::Pwcca => p(true, false, false, false, true, false, true, true),
            MetricSpec::Ridge(RidgeParams { direction, .. }) => {
                p(true, false, direction == RidgeDirection::Mean, false, false, false, true, true)
            }
            MetricSpec::Knn { variant, .. } => {
                p(true, false, variant != KnnVariant::Cknna, true, true, false, true, false)
            }
            MetricSpec::SoftMatching => p(false, true, true, false, false, false, true, false),
            MetricSpec::DistanceCorrelation => p(true, false, true, true, true, false, true, true),
        }
    }

    /// An estimate of the bytes a representation of `shape` takes once prepared for this
    /// metric (what a memory budget counts): an array's worth of factors and a transformed
    /// copy for most metrics; the m(m − 1)/2 or m × m forms over the m samples for those
    /// that keep them (RSA's RDM, distance correlation's centred distances, kernel CKA's
    /// packed Gram matrix), and the neighbour lists of k-NN.
    pub fn prepared_bytes(&self, shape: &[usize]) -> u64 {
        let m = shape.first().copied().unwrap_or(0) as u64;
        let array = shape.iter().map(|&d| d as u64).fold(8u64, u64::saturating_mul);
        let triangle = m.saturating_mul(m.saturating_sub(1)) / 2 * 8;
        match *self {
            // tau-a keeps ranks and an order beside each entry
            MetricSpec::Rsa { comparison: RdmComparison::KendallTauA, .. } => triangle.saturating_mul(2),
            MetricSpec::Rsa { .. } => triangle,
            MetricSpec::DistanceCorrelation => triangle.saturating_add(m * 16),
            MetricSpec::Cka { estimator, kernel }
                if !(estimator == CkaEstimator::Biased && kernel == Kernel::Linear) =>
            {
                // the packed kernel (the triangle and its diagonal) and the row sums
                triangle.saturating_add(m * 16)
            }
            // a neighbour index (u32) and, for CKNNA, its cosine (f64) per neighbour
            MetricSpec::Knn { k, .. } => m.saturating_mul(k as u64).saturating_mul(12),
            _ => array.saturating_mul(2),
        }
    }

    /// The array rank the metric reads: 2 = [samples, units], 3 = [conditions, repeats,
    /// units], 4 = [images, height, width, channels].
    pub fn input_rank(&self) -> usize {
        match self {
            MetricSpec::Rsa { rdm: Rdm::Crossnobis { .. }, .. } => 3,
            MetricSpec::Shape { .. }
            | MetricSpec::BiasCorrectedShape { .. }
            | MetricSpec::Permutation { .. }
            | MetricSpec::Cka { .. }
            | MetricSpec::Rsa { .. }
            | MetricSpec::Svcca { .. }
            | MetricSpec::Pwcca
            | MetricSpec::Ridge(_)
            | MetricSpec::Knn { .. }
            | MetricSpec::SoftMatching
            | MetricSpec::DistanceCorrelation => 2,
            MetricSpec::GaussianStochastic { .. } | MetricSpec::EnergyStochastic { .. } | MetricSpec::Msa { .. } => 3,
            MetricSpec::ConvShape { .. } => 4,
        }
    }

    /// Whether the metric scores held-out rows (only the fitted 2-D metrics do).
    pub fn has_test_score(&self) -> bool {
        matches!(self, MetricSpec::Shape { .. } | MetricSpec::Permutation { .. })
    }
}
