//! `[[metrics]]`: one typed table per metric kind, each with its own keys and defaults.
//! A table's `kind` picks its type; any key that kind does not take is an error naming it.

use repspace_metrics::{CkaEstimator, Kernel, LengthScale, MetricSpec, Precision, Score, Whitening};
use serde::Deserialize;

/// A `[[metrics]]` table, by kind.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricConfig {
    Shape(ShapeConfig),
    Permutation(ScoreConfig),
    Cka(CkaConfig),
    /// The Bures distance: shape with alpha = 1, Euclidean score unless told otherwise.
    Bures(BuresConfig),
    ConvShape(ConvShapeConfig),
    GaussianStochastic(GaussianConfig),
    EnergyStochastic(EnergyConfig),
    Msa(MsaConfig),
}

/// The kinds, as the `kind` key names them.
pub const METRIC_KINDS: [&str; 8] =
    ["shape", "permutation", "cka", "bures", "conv_shape", "gaussian_stochastic", "energy_stochastic", "msa"];

fn one() -> f64 {
    1.0
}

/// `kind = "shape"`: netrep's LinearMetric (§1.1–1.4), or its bias-corrected estimate.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShapeConfig {
    pub name: String,
    /// netrep's alpha in [0, 1]: 1 = Procrustes, 0 = CCA.
    #[serde(default = "one")]
    pub alpha: f64,
    #[serde(default = "angular")]
    pub score: Score,
    /// "netrep" (default) or "relative".
    pub whitening: Option<WhiteningChoice>,
    /// With whitening = "relative": eigenvalue floor relative to the largest (default 1e-7).
    pub rank_tol: Option<f64>,
    /// "plugin" (netrep, default) or "bias_corrected" (method of moments, arXiv 2310.05742).
    #[serde(default)]
    pub estimator: ShapeEstimator,
    /// With estimator = "bias_corrected": spectral moments used (default 4).
    pub moments: Option<usize>,
    /// "f64" (default) or "f32" cross products (faster, about 1e-6 less accurate).
    #[serde(default)]
    pub precision: Precision,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WhiteningChoice {
    Netrep,
    Relative,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ShapeEstimator {
    #[default]
    Plugin,
    BiasCorrected,
}

fn angular() -> Score {
    Score::Angular
}

/// `kind = "permutation"`: netrep's PermutationMetric (§1.5).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreConfig {
    pub name: String,
    #[serde(default = "angular")]
    pub score: Score,
}

/// `kind = "bures"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuresConfig {
    pub name: String,
    #[serde(default = "euclidean")]
    pub score: Score,
}

fn euclidean() -> Score {
    Score::Euclidean
}

/// `kind = "cka"` (§1.6, §2.1).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CkaConfig {
    pub name: String,
    /// "biased" (netrep, default) or "debiased" (Song et al.).
    #[serde(default)]
    pub estimator: CkaEstimatorChoice,
    /// "linear" (default) or "rbf".
    #[serde(default)]
    pub kernel: KernelChoice,
    /// With kernel = "rbf": a positive number or "median" (default).
    pub length_scale: Option<LengthScaleChoice>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum CkaEstimatorChoice {
    #[default]
    Biased,
    Debiased,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum KernelChoice {
    #[default]
    Linear,
    Rbf,
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(untagged)]
pub enum LengthScaleChoice {
    Number(f64),
    Text(String),
}

/// `kind = "conv_shape"`: netrep's convolve_metric (§1.7).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvShapeConfig {
    pub name: String,
    #[serde(default = "one")]
    pub alpha: f64,
    #[serde(default = "angular")]
    pub score: Score,
}

/// `kind = "gaussian_stochastic"` (§1.8; netrep's defaults).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GaussianConfig {
    pub name: String,
    /// In [0, 2].
    #[serde(default = "one")]
    pub alpha: f64,
    #[serde(default = "thousand")]
    pub max_iter: usize,
    #[serde(default = "tol_gaussian")]
    pub tol: f64,
    /// Ridge added to each covariance (netrep's pairwise routine).
    #[serde(default = "micro")]
    pub cov_eps: f64,
}

fn thousand() -> usize {
    1000
}
fn tol_gaussian() -> f64 {
    1e-8
}
fn micro() -> f64 {
    1e-6
}

/// `kind = "energy_stochastic"` (§1.8; netrep's defaults).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnergyConfig {
    pub name: String,
    #[serde(default = "hundred")]
    pub max_iter: usize,
    #[serde(default = "micro")]
    pub tol: f64,
}

fn hundred() -> usize {
    100
}

/// `kind = "msa"` (§5): ridge εI added to both pullback metrics (0 = none).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MsaConfig {
    pub name: String,
    #[serde(default = "micro")]
    pub eps: f64,
}

impl MetricConfig {
    /// The typed table for `kind`, from the table's text.
    pub(super) fn parse(kind: &str, text: &str) -> Result<MetricConfig, super::EntryError> {
        use super::typed;
        Ok(match kind {
            "shape" => MetricConfig::Shape(typed(text)?),
            "permutation" => MetricConfig::Permutation(typed(text)?),
            "cka" => MetricConfig::Cka(typed(text)?),
            "bures" => MetricConfig::Bures(typed(text)?),
            "conv_shape" => MetricConfig::ConvShape(typed(text)?),
            "gaussian_stochastic" => MetricConfig::GaussianStochastic(typed(text)?),
            "energy_stochastic" => MetricConfig::EnergyStochastic(typed(text)?),
            "msa" => MetricConfig::Msa(typed(text)?),
            other => return Err(super::EntryError::unknown_kind(other, &METRIC_KINDS)),
        })
    }

    pub fn name(&self) -> &str {
        match self {
            MetricConfig::Shape(c) => &c.name,
            MetricConfig::Permutation(c) => &c.name,
            MetricConfig::Cka(c) => &c.name,
            MetricConfig::Bures(c) => &c.name,
            MetricConfig::ConvShape(c) => &c.name,
            MetricConfig::GaussianStochastic(c) => &c.name,
            MetricConfig::EnergyStochastic(c) => &c.name,
            MetricConfig::Msa(c) => &c.name,
        }
    }

    /// The metric and its precision, or the offending key and why.
    pub fn spec(&self) -> Result<(MetricSpec, Precision), (&'static str, String)> {
        Ok(match self {
            MetricConfig::Shape(c) => {
                let whitening = match (c.whitening.unwrap_or(WhiteningChoice::Netrep), c.rank_tol) {
                    (WhiteningChoice::Netrep, Some(_)) => {
                        return Err(("rank_tol", "only applies with whitening = \"relative\"".into()));
                    }
                    (WhiteningChoice::Netrep, None) => Whitening::Netrep,
                    (WhiteningChoice::Relative, tol) => Whitening::Relative { rank_tol: tol.unwrap_or(1e-7) },
                };
                match (c.estimator, c.moments) {
                    (ShapeEstimator::BiasCorrected, _) if c.whitening.is_some() => {
                        return Err((
                            "whitening",
                            "estimator = \"bias_corrected\" is for alpha = 1, which does not whiten".into(),
                        ));
                    }
                    (ShapeEstimator::BiasCorrected, _) if c.precision != Precision::F64 => {
                        return Err(("precision", "only the plug-in estimator takes precision".into()));
                    }
                    (ShapeEstimator::BiasCorrected, moments) => (
                        MetricSpec::BiasCorrectedShape {
                            alpha: c.alpha,
                            score: c.score,
                            moments: moments.unwrap_or(4),
                        },
                        Precision::F64,
                    ),
                    (ShapeEstimator::Plugin, Some(_)) => {
                        return Err(("moments", "only applies with estimator = \"bias_corrected\"".into()));
                    }
                    (ShapeEstimator::Plugin, None) => {
                        (MetricSpec::Shape { alpha: c.alpha, score: c.score, whitening }, c.precision)
                    }
                }
            }
            MetricConfig::Permutation(c) => (MetricSpec::Permutation { score: c.score }, Precision::F64),
            MetricConfig::Bures(c) => (MetricSpec::shape(1.0, c.score), Precision::F64),
            MetricConfig::Cka(c) => {
                let kernel = match (c.kernel, &c.length_scale) {
                    (KernelChoice::Linear, Some(_)) => {
                        return Err(("length_scale", "only applies with kernel = \"rbf\"".into()));
                    }
                    (KernelChoice::Linear, None) => Kernel::Linear,
                    (KernelChoice::Rbf, None) => Kernel::Rbf { length_scale: LengthScale::Median },
                    (KernelChoice::Rbf, Some(LengthScaleChoice::Text(t))) if t == "median" => {
                        Kernel::Rbf { length_scale: LengthScale::Median }
                    }
                    (KernelChoice::Rbf, Some(LengthScaleChoice::Number(l))) => {
                        Kernel::Rbf { length_scale: LengthScale::Fixed(*l) }
                    }
                    (KernelChoice::Rbf, Some(LengthScaleChoice::Text(t))) => {
                        return Err(("length_scale", format!("must be a positive number or \"median\", got {t:?}")));
                    }
                };
                let estimator = match c.estimator {
                    CkaEstimatorChoice::Biased => CkaEstimator::Biased,
                    CkaEstimatorChoice::Debiased => CkaEstimator::Debiased,
                };
                (MetricSpec::Cka { estimator, kernel }, Precision::F64)
            }
            MetricConfig::ConvShape(c) => (MetricSpec::ConvShape { alpha: c.alpha, score: c.score }, Precision::F64),
            MetricConfig::GaussianStochastic(c) => (
                MetricSpec::GaussianStochastic { alpha: c.alpha, max_iter: c.max_iter, tol: c.tol, cov_eps: c.cov_eps },
                Precision::F64,
            ),
            MetricConfig::EnergyStochastic(c) => {
                (MetricSpec::EnergyStochastic { max_iter: c.max_iter, tol: c.tol }, Precision::F64)
            }
            MetricConfig::Msa(c) => (MetricSpec::Msa { eps: c.eps }, Precision::F64),
        })
    }
}
