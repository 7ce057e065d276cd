//! `[[metrics]]`: one typed table per metric kind, each with its own keys and defaults.
//! A table's `kind` picks its type; any key that kind does not take is an error naming it.

use repspace_metrics::cca::Keep;
use repspace_metrics::knn::KnnVariant;
use repspace_metrics::ridge::{Alphas, RidgeDirection, RidgeParams};
use repspace_metrics::rsa::{Noise, Rdm, RdmComparison};
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
    Rsa(RsaConfig),
    Svcca(SvccaConfig),
    Pwcca(NameOnly),
    Ridge(RidgeConfig),
    Knn(KnnConfig),
    SoftMatching(NameOnly),
    DistanceCorrelation(NameOnly),
}

/// The kinds, as the `kind` key names them.
pub const METRIC_KINDS: [&str; 15] = [
    "shape",
    "permutation",
    "cka",
    "bures",
    "conv_shape",
    "gaussian_stochastic",
    "energy_stochastic",
    "msa",
    "rsa",
    "svcca",
    "pwcca",
    "ridge",
    "knn",
    "soft_matching",
    "distance_correlation",
];

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

/// A kind with no parameters: `pwcca`, `soft_matching`, `distance_correlation`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameOnly {
    pub name: String,
}

/// `kind = "rsa"`: rsatoolbox's `calc_rdm` then `compare` (defaults are rsatoolbox's).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RsaConfig {
    pub name: String,
    /// "euclidean" (default), "correlation" or "crossnobis" ([conditions, repeats, units]).
    #[serde(default)]
    pub rdm: RdmChoice,
    /// With rdm = "crossnobis": "identity" (default) or "shrinkage_diag".
    pub noise: Option<NoiseChoice>,
    /// "cosine" (default), "pearson", "spearman", "kendall_tau_a", "corr_cov" or "cosine_cov".
    #[serde(default = "cosine")]
    pub compare: RdmComparison,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum RdmChoice {
    #[default]
    Euclidean,
    Correlation,
    Crossnobis,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NoiseChoice {
    Identity,
    ShrinkageDiag,
}

fn cosine() -> RdmComparison {
    RdmComparison::Cosine
}

/// `kind = "svcca"`: `keep` SVD directions of each network, or the fewest that hold
/// `variance` of Σs² (default: variance = 0.99).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SvccaConfig {
    pub name: String,
    pub keep: Option<usize>,
    pub variance: Option<f64>,
}

/// `kind = "ridge"`: cross-validated ridge predictivity (defaults: 5 folds, scikit-learn's
/// RidgeCV alphas (0.1, 1, 10), forward).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RidgeConfig {
    pub name: String,
    #[serde(default = "five")]
    pub folds: usize,
    #[serde(default = "ridge_alphas")]
    pub alphas: Vec<f64>,
    /// "forward" (model_a's units predict model_b's; default), "reverse" or "mean".
    #[serde(default = "forward")]
    pub direction: RidgeDirection,
}

fn five() -> usize {
    5
}
fn ridge_alphas() -> Vec<f64> {
    vec![0.1, 1.0, 10.0]
}
fn forward() -> RidgeDirection {
    RidgeDirection::Forward
}

/// `kind = "knn"`: k-nearest-neighbour alignment (default: mutual, k = 10, as platonic-rep).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnnConfig {
    pub name: String,
    #[serde(default = "mutual")]
    pub variant: KnnVariant,
    #[serde(default = "ten")]
    pub k: usize,
}

fn mutual() -> KnnVariant {
    KnnVariant::Mutual
}
fn ten() -> usize {
    10
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
            "rsa" => MetricConfig::Rsa(typed(text)?),
            "svcca" => MetricConfig::Svcca(typed(text)?),
            "pwcca" => MetricConfig::Pwcca(typed(text)?),
            "ridge" => MetricConfig::Ridge(typed(text)?),
            "knn" => MetricConfig::Knn(typed(text)?),
            "soft_matching" => MetricConfig::SoftMatching(typed(text)?),
            "distance_correlation" => MetricConfig::DistanceCorrelation(typed(text)?),
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
            MetricConfig::Rsa(c) => &c.name,
            MetricConfig::Svcca(c) => &c.name,
            MetricConfig::Ridge(c) => &c.name,
            MetricConfig::Knn(c) => &c.name,
            MetricConfig::Pwcca(c) | MetricConfig::SoftMatching(c) | MetricConfig::DistanceCorrelation(c) => &c.name,
        }
    }

    /// The `kind` key's value.
    pub fn kind(&self) -> &'static str {
        match self {
            MetricConfig::Shape(_) => "shape",
            MetricConfig::Permutation(_) => "permutation",
            MetricConfig::Cka(_) => "cka",
            MetricConfig::Bures(_) => "bures",
            MetricConfig::ConvShape(_) => "conv_shape",
            MetricConfig::GaussianStochastic(_) => "gaussian_stochastic",
            MetricConfig::EnergyStochastic(_) => "energy_stochastic",
            MetricConfig::Msa(_) => "msa",
            MetricConfig::Rsa(_) => "rsa",
            MetricConfig::Svcca(_) => "svcca",
            MetricConfig::Pwcca(_) => "pwcca",
            MetricConfig::Ridge(_) => "ridge",
            MetricConfig::Knn(_) => "knn",
            MetricConfig::SoftMatching(_) => "soft_matching",
            MetricConfig::DistanceCorrelation(_) => "distance_correlation",
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
            MetricConfig::Rsa(c) => {
                let rdm = match (c.rdm, c.noise) {
                    (RdmChoice::Crossnobis, noise) => Rdm::Crossnobis {
                        noise: match noise.unwrap_or(NoiseChoice::Identity) {
                            NoiseChoice::Identity => Noise::Identity,
                            NoiseChoice::ShrinkageDiag => Noise::ShrinkageDiag,
                        },
                    },
                    (_, Some(_)) => return Err(("noise", "only applies with rdm = \"crossnobis\"".into())),
                    (RdmChoice::Euclidean, None) => Rdm::Euclidean,
                    (RdmChoice::Correlation, None) => Rdm::Correlation,
                };
                (MetricSpec::Rsa { rdm, comparison: c.compare }, Precision::F64)
            }
            MetricConfig::Svcca(c) => {
                let keep = match (c.keep, c.variance) {
                    (Some(_), Some(_)) => {
                        return Err((
                            "variance",
                            "give either keep (directions) or variance (a fraction), not both".into(),
                        ));
                    }
                    (Some(k), None) => Keep::Directions(k),
                    (None, v) => Keep::Variance(v.unwrap_or(0.99)),
                };
                (MetricSpec::Svcca { keep }, Precision::F64)
            }
            MetricConfig::Pwcca(_) => (MetricSpec::Pwcca, Precision::F64),
            MetricConfig::Ridge(c) => {
                let alphas = Alphas::new(&c.alphas).map_err(|e| ("alphas", e.to_string()))?;
                (MetricSpec::Ridge(RidgeParams { folds: c.folds, alphas, direction: c.direction }), Precision::F64)
            }
            MetricConfig::Knn(c) => (MetricSpec::Knn { variant: c.variant, k: c.k }, Precision::F64),
            MetricConfig::SoftMatching(_) => (MetricSpec::SoftMatching, Precision::F64),
            MetricConfig::DistanceCorrelation(_) => (MetricSpec::DistanceCorrelation, Precision::F64),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    /// The offending key of a config with one `[[metrics]]` table, or "" when it is valid.
    fn offending_key(table: &str) -> String {
        let text =
            format!("[input]\nmanifest = \"m.csv\"\n[output]\nuri = \"out\"\n[[metrics]]\nname = \"m\"\n{table}");
        match Config::parse(&text) {
            Err(e) => e,
            Ok(c) => c.metric_specs().err().map(|e| e.key).unwrap_or_default(),
        }
    }

    #[test]
    fn the_measures_keys_are_validated_and_named() {
        for valid in [
            "kind = \"rsa\"\nrdm = \"crossnobis\"\nnoise = \"shrinkage_diag\"\ncompare = \"kendall_tau_a\"\n",
            "kind = \"svcca\"\nkeep = 20\n",
            "kind = \"pwcca\"\n",
            "kind = \"ridge\"\nfolds = 3\nalphas = [1.0, 100.0]\ndirection = \"mean\"\n",
            "kind = \"knn\"\nvariant = \"cknna\"\nk = 2\n",
            "kind = \"soft_matching\"\n",
            "kind = \"distance_correlation\"\n",
        ] {
            assert_eq!(offending_key(valid), "", "{valid}");
        }
        for (table, key) in [
            ("kind = \"rsa\"\nnoise = \"identity\"\n", "metrics[0].noise"),
            ("kind = \"svcca\"\nkeep = 5\nvariance = 0.9\n", "metrics[0].variance"),
            ("kind = \"svcca\"\nvariance = 1.5\n", "metrics[0].variance"),
            ("kind = \"ridge\"\nalphas = []\n", "metrics[0].alphas"),
            ("kind = \"ridge\"\nfolds = 1\n", "metrics[0].folds"),
            ("kind = \"knn\"\nvariant = \"cknna\"\nk = 1\n", "metrics[0].k"),
        ] {
            assert!(offending_key(table).starts_with(key), "{table}: {}", offending_key(table));
        }
        // a key the kind does not take, or an unknown word, fails to parse and names it
        assert!(offending_key("kind = \"pwcca\"\nk = 3\n").contains('k'));
        assert!(offending_key("kind = \"rsa\"\ncompare = \"euclid\"\n").contains("euclid"));
    }
}
