//! The TOML run configuration. Unknown keys and invalid values are errors naming the key.

use std::collections::HashSet;

use repspace_metrics::paths::{PathCka, PathSpec};
use repspace_metrics::{CkaEstimator, Kernel, LengthScale, MetricSpec, Precision, Score, Whitening};
use repspace_pipelines::{NamedMetric, NamedPath, PairScope};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub input: Input,
    pub output: Output,
    #[serde(default)]
    pub pairs: Pairs,
    #[serde(default)]
    pub execution: Execution,
    #[serde(default)]
    pub metrics: Vec<MetricConfig>,
    #[serde(default)]
    pub paths: Vec<PathConfig>,
    pub embedding: Option<EmbeddingConfig>,
    pub geometry: Option<GeometryConfig>,
    pub report: Option<ReportConfig>,
}

/// `[report]`: draw figures and an index.html after the run (`repspace report` draws them
/// for an existing output). Every key is optional; see `repspace_report::ReportSpec`.
pub type ReportConfig = repspace_report::ReportSpec;

/// `[geometry]`: where to evaluate networks given by weights (manifest `weights_uri`,
/// `spec_uri`), and what MSA compares.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeometryConfig {
    /// Probe inputs [points, input_dim] (.npy, or .npz with probe_key): relative to the config.
    pub probe: String,
    pub probe_key: Option<String>,
    /// Two probe indices: a 1-D slice between them.
    pub line: Option<[usize; 2]>,
    #[serde(default = "default_line_steps")]
    pub line_steps: usize,
    /// Three probe indices: the ternary plane through them.
    pub plane: Option<[usize; 3]>,
    #[serde(default = "default_plane_steps")]
    pub plane_steps: usize,
    /// Rank cap k of the effective volume (default min(input_dim, features)).
    pub rank: Option<usize>,
    /// Write MSA's per-point values to `msa_points`.
    #[serde(default)]
    pub per_point: bool,
}

fn default_line_steps() -> usize {
    64
}

fn default_plane_steps() -> usize {
    60
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum EmbeddingMethod {
    /// Classical MDS of all points (dense below 2,500 points, Lanczos above).
    #[default]
    Classical,
    /// Landmark MDS: MDS of the landmarks, every other point placed from its distances to them.
    Landmark,
    /// Fréchet mean and tangent-space PCA (shape metrics with alpha = 1; others fall back to classical).
    Tangent,
}

/// `[embedding]`: Euclidean embeddings of each (metric, comparison group) after the pair phase.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingConfig {
    /// Coordinates written per row (the summary keeps every eigenvalue).
    #[serde(default = "default_dims")]
    pub dims: usize,
    #[serde(default)]
    pub method: EmbeddingMethod,
    /// Landmark method only: how many landmarks (maxmin choice). Default 1000.
    pub landmarks: Option<usize>,
}

fn default_dims() -> usize {
    2
}

impl EmbeddingConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |key: &str, reason: String| ConfigError { key: format!("embedding.{key}"), reason };
        if self.dims == 0 {
            return Err(err("dims", "must be at least 1".into()));
        }
        match (self.method, self.landmarks) {
            (EmbeddingMethod::Landmark, Some(l)) if l <= self.dims => {
                Err(err("landmarks", format!("must exceed dims ({}), got {l}", self.dims)))
            }
            (EmbeddingMethod::Landmark, _) => Ok(()),
            (_, Some(_)) => Err(err("landmarks", "only method = \"landmark\" takes landmarks".into())),
            _ => Ok(()),
        }
    }
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PathKind {
    AngularCka,
    Stress,
    Shape,
    Air,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PathCkaEstimator {
    Biased,
    RepsimUnbiased,
}

/// A `[[paths]]` table: a layer-path metric (Lange et al.; repsim's conventions).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathConfig {
    /// The label written to the `metric` column of `paths`, `path_summary` and `distances`.
    pub name: String,
    pub kind: PathKind,
    /// angular_cka: "biased" (default) or "repsim_unbiased".
    pub estimator: Option<PathCkaEstimator>,
    /// angular_cka: "linear" (default) or "rbf".
    pub kernel: Option<KernelConfig>,
    /// angular_cka with kernel = "rbf": only "median" (repsim's rule).
    pub length_scale: Option<LengthScaleConfig>,
    /// shape: "euclidean" (default; = Bures) or "angular".
    pub score: Option<Score>,
    /// air: the ridge ε added to X̃X̃ᵀ (default 0.1, absolute).
    pub eps: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// Manifest (.csv or .parquet): relative to the config file, absolute, or a URL.
    pub manifest: String,
    /// A zoo config ([zoo], relative to this file) that writes the manifest: when the
    /// manifest does not exist yet, the zoo is trained first (as `repspace zoo` would).
    pub zoo: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    /// Output directory: relative to the config file, absolute, or a URL.
    pub uri: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pairs {
    #[serde(default = "default_scope")]
    pub scope: PairScope,
}

impl Default for Pairs {
    fn default() -> Self {
        Pairs { scope: default_scope() }
    }
}

fn default_scope() -> PairScope {
    PairScope::WithinLayer
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Execution {
    /// Representations per side of a tile of the pair matrix.
    /// Representations per side of a tile; unset: chosen per run (`Plan::auto`).
    pub tile_size: Option<usize>,
    /// Distance rows a worker gathers before publishing them as a part (a killed run's
    /// published pairs are reused by the rerun).
    #[serde(default = "default_flush_rows")]
    pub flush_rows: usize,
    /// Memory for prepared representations while comparing, per process ("2GB", "512 MiB",
    /// or bytes). Unset: every worker keeps all the factors its tiles need.
    pub memory_budget: Option<ByteSize>,
}

impl Default for Execution {
    fn default() -> Self {
        Execution { tile_size: None, flush_rows: default_flush_rows(), memory_budget: None }
    }
}

/// A size in bytes: an integer, or a number with a unit (B, KB, MB, GB, TB in powers of
/// 1000; KiB, MiB, GiB, TiB in powers of 1024).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(b) => Ok(ByteSize(b)),
            Raw::Text(t) => ByteSize::parse(&t).map_err(serde::de::Error::custom),
        }
    }
}

impl ByteSize {
    pub fn parse(text: &str) -> Result<ByteSize, String> {
        let t = text.trim();
        let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
        let (num, unit) = (t[..split].trim(), t[split..].trim());
        let value: f64 = num.parse().map_err(|_| format!("{text:?} is not a size like \"2GB\" or \"512MiB\""))?;
        let scale = match unit.to_ascii_lowercase().as_str() {
            "" | "b" => 1.0,
            "kb" => 1e3,
            "mb" => 1e6,
            "gb" => 1e9,
            "tb" => 1e12,
            "kib" => 1024.0,
            "mib" => 1024f64.powi(2),
            "gib" => 1024f64.powi(3),
            "tib" => 1024f64.powi(4),
            other => return Err(format!("unknown size unit {other:?} in {text:?}")),
        };
        Ok(ByteSize((value * scale).round() as u64))
    }
}

fn default_flush_rows() -> usize {
    20_000
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    Shape,
    Permutation,
    Cka,
    Bures,
    ConvShape,
    GaussianStochastic,
    EnergyStochastic,
    Msa,
}

impl MetricKind {
    fn as_str(self) -> &'static str {
        match self {
            MetricKind::Shape => "shape",
            MetricKind::Permutation => "permutation",
            MetricKind::Cka => "cka",
            MetricKind::Bures => "bures",
            MetricKind::ConvShape => "conv_shape",
            MetricKind::GaussianStochastic => "gaussian_stochastic",
            MetricKind::EnergyStochastic => "energy_stochastic",
            MetricKind::Msa => "msa",
        }
    }
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WhiteningConfig {
    Netrep,
    Relative,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EstimatorConfig {
    /// shape: the plug-in estimate (netrep)
    Plugin,
    /// shape: method-of-moments bias correction (arXiv 2310.05742)
    BiasCorrected,
    /// cka: Gretton's biased HSIC (netrep)
    Biased,
    /// cka: Song et al.'s unbiased HSIC
    Debiased,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum KernelConfig {
    Linear,
    Rbf,
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(untagged)]
pub enum LengthScaleConfig {
    Number(f64),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricConfig {
    /// The label written to the tables' `metric` column.
    pub name: String,
    pub kind: MetricKind,
    /// shape, conv_shape: netrep's alpha in [0, 1] (default 1); gaussian_stochastic: [0, 2] (default 1).
    pub alpha: Option<f64>,
    /// shape, permutation, bures, conv_shape: "angular" or "euclidean".
    pub score: Option<Score>,
    /// shape: "netrep" (default) or "relative".
    pub whitening: Option<WhiteningConfig>,
    /// shape with whitening = "relative": eigenvalue floor relative to the largest (default 1e-7).
    pub rank_tol: Option<f64>,
    /// shape: "plugin" (default) or "bias_corrected"; cka: "biased" (default) or "debiased".
    pub estimator: Option<EstimatorConfig>,
    /// shape with estimator = "bias_corrected": spectral moments used (default 4).
    pub moments: Option<usize>,
    /// cka: "linear" (default) or "rbf".
    pub kernel: Option<KernelConfig>,
    /// cka with kernel = "rbf": a positive number or "median" (default).
    pub length_scale: Option<LengthScaleConfig>,
    /// gaussian_stochastic, energy_stochastic: iteration cap (netrep: 1000 and 100).
    pub max_iter: Option<usize>,
    /// gaussian_stochastic, energy_stochastic: stopping tolerance (netrep: 1e-8 and 1e-6).
    pub tol: Option<f64>,
    /// gaussian_stochastic: ridge added to each covariance (netrep's pairwise routine: 1e-6).
    pub cov_eps: Option<f64>,
    /// msa: ridge εI added to both pullback metrics (default 1e-6; 0 = none).
    pub eps: Option<f64>,
    /// shape: "f64" (default) or "f32" cross products (faster, about 1e-6 less accurate).
    pub precision: Option<Precision>,
}

/// A configuration problem, naming the key.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct ConfigError {
    pub key: String,
    pub reason: String,
}

impl Config {
    pub fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Validate and turn the `[[metrics]]` tables into metric specs.
    pub fn metric_specs(&self) -> Result<Vec<NamedMetric>, ConfigError> {
        let mut names = HashSet::new();
        let mut out = Vec::new();
        for (i, m) in self.metrics.iter().enumerate() {
            let err = |field: &str, reason: String| ConfigError {
                key: format!("metrics[{i}].{field} (metric {:?})", m.name),
                reason,
            };
            if m.name.trim().is_empty() {
                return Err(err("name", "must not be empty".into()));
            }
            if !names.insert(m.name.clone()) {
                return Err(err(
                    "name",
                    "two metrics have this name; names label table rows and must be unique".into(),
                ));
            }
            let spec = m.spec().map_err(|(field, reason)| err(field, reason))?;
            if matches!(spec, MetricSpec::Msa { .. }) && self.geometry.is_none() {
                return Err(err(
                    "kind",
                    "msa evaluates networks at the probe points of a [geometry] section; add one".into(),
                ));
            }
            spec.validate().map_err(|e| match e {
                repspace_metrics::MetricError::Parameter { key, reason } => err(key, reason),
                other => err("kind", other.to_string()),
            })?;
            let precision = match (m.precision, spec) {
                (None, _) => Precision::F64,
                (Some(p), MetricSpec::Shape { .. }) => p,
                (Some(_), _) => {
                    return Err(err(
                        "precision",
                        "only kind = \"shape\" (the plug-in estimator) takes precision".into(),
                    ));
                }
            };
            out.push(NamedMetric { name: m.name.clone(), spec, precision });
        }
        if out.is_empty() && self.paths.is_empty() {
            return Err(ConfigError {
                key: "metrics".into(),
                reason: "the config has neither [[metrics]] nor [[paths]]: nothing to compute".into(),
            });
        }
        if self.execution.memory_budget == Some(ByteSize(0)) {
            return Err(ConfigError { key: "execution.memory_budget".into(), reason: "must be positive".into() });
        }
        if self.execution.tile_size == Some(0) {
            return Err(ConfigError { key: "execution.tile_size".into(), reason: "must be at least 1".into() });
        }
        Ok(out)
    }
}

impl Config {
    /// Validate and turn the `[[paths]]` tables into path specs. Names must differ from each
    /// other and from the `[[metrics]]` names (both label `distances` rows).
    pub fn path_specs(&self) -> Result<Vec<NamedPath>, ConfigError> {
        let mut names: HashSet<String> = self.metrics.iter().map(|m| m.name.clone()).collect();
        let mut out = Vec::new();
        for (i, p) in self.paths.iter().enumerate() {
            let err = |field: &str, reason: String| ConfigError {
                key: format!("paths[{i}].{field} (path {:?})", p.name),
                reason,
            };
            if p.name.trim().is_empty() {
                return Err(err("name", "must not be empty".into()));
            }
            if !names.insert(p.name.clone()) {
                return Err(err("name", "another [[metrics]] or [[paths]] entry has this name".into()));
            }
            let only = |present: bool, field: &'static str, kind: PathKind, label: &str| {
                if present && p.kind != kind {
                    return Err(err(field, format!("only kind = \"{label}\" takes {field}")));
                }
                Ok(())
            };
            only(p.estimator.is_some(), "estimator", PathKind::AngularCka, "angular_cka")?;
            only(p.kernel.is_some(), "kernel", PathKind::AngularCka, "angular_cka")?;
            only(p.length_scale.is_some(), "length_scale", PathKind::AngularCka, "angular_cka")?;
            only(p.score.is_some(), "score", PathKind::Shape, "shape")?;
            only(p.eps.is_some(), "eps", PathKind::Air, "air")?;
            let spec = match p.kind {
                PathKind::AngularCka => {
                    let rbf = match (p.kernel.unwrap_or(KernelConfig::Linear), &p.length_scale) {
                        (KernelConfig::Linear, Some(_)) => {
                            return Err(err("length_scale", "only applies with kernel = \"rbf\"".into()));
                        }
                        (KernelConfig::Linear, None) => false,
                        (KernelConfig::Rbf, None) => true,
                        (KernelConfig::Rbf, Some(LengthScaleConfig::Text(t))) if t == "median" => true,
                        (KernelConfig::Rbf, Some(other)) => {
                            return Err(err(
                                "length_scale",
                                format!("paths use repsim's \"median\" rule, got {other:?}"),
                            ));
                        }
                    };
                    let estimator = match p.estimator.unwrap_or(PathCkaEstimator::Biased) {
                        PathCkaEstimator::Biased => PathCka::Biased,
                        PathCkaEstimator::RepsimUnbiased => PathCka::RepsimUnbiased,
                    };
                    PathSpec::AngularCka { estimator, rbf }
                }
                PathKind::Stress => PathSpec::Stress,
                PathKind::Shape => PathSpec::Shape { angular: p.score == Some(Score::Angular) },
                PathKind::Air => {
                    let eps = p.eps.unwrap_or(0.1);
                    if !(eps > 0.0 && eps.is_finite()) {
                        return Err(err(
                            "eps",
                            format!("must be positive (with eps = 0 every AIR distance is infinite), got {eps}"),
                        ));
                    }
                    PathSpec::Air { eps }
                }
            };
            out.push(NamedPath { name: p.name.clone(), spec });
        }
        Ok(out)
    }
}

impl MetricConfig {
    /// The metric spec, or the offending field and why.
    fn spec(&self) -> Result<MetricSpec, (&'static str, String)> {
        use MetricKind::*;
        let kind = self.kind;
        let only = |present: bool, field: &'static str, kinds: &[MetricKind]| -> Result<(), (&'static str, String)> {
            if present && !kinds.contains(&kind) {
                let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
                return Err((
                    field,
                    format!("only kind {} takes {field}, not kind {:?}", names.join(" | "), kind.as_str()),
                ));
            }
            Ok(())
        };
        only(self.alpha.is_some(), "alpha", &[Shape, ConvShape, GaussianStochastic])?;
        only(self.score.is_some(), "score", &[Shape, Permutation, Bures, ConvShape])?;
        only(self.whitening.is_some(), "whitening", &[Shape])?;
        only(self.rank_tol.is_some(), "rank_tol", &[Shape])?;
        only(self.estimator.is_some(), "estimator", &[Shape, Cka])?;
        only(self.kernel.is_some(), "kernel", &[Cka])?;
        only(self.moments.is_some(), "moments", &[Shape])?;
        only(self.length_scale.is_some(), "length_scale", &[Cka])?;
        only(self.max_iter.is_some(), "max_iter", &[GaussianStochastic, EnergyStochastic])?;
        only(self.tol.is_some(), "tol", &[GaussianStochastic, EnergyStochastic])?;
        only(self.cov_eps.is_some(), "cov_eps", &[GaussianStochastic])?;
        only(self.eps.is_some(), "eps", &[Msa])?;
        let score = self.score.unwrap_or(Score::Angular);
        Ok(match kind {
            Shape => {
                let whitening = match (self.whitening.unwrap_or(WhiteningConfig::Netrep), self.rank_tol) {
                    (WhiteningConfig::Netrep, Some(_)) => {
                        return Err(("rank_tol", "only applies with whitening = \"relative\"".into()));
                    }
                    (WhiteningConfig::Netrep, None) => Whitening::Netrep,
                    (WhiteningConfig::Relative, tol) => Whitening::Relative { rank_tol: tol.unwrap_or(1e-7) },
                };
                let bias_corrected = match self.estimator.unwrap_or(EstimatorConfig::Plugin) {
                    EstimatorConfig::Plugin => false,
                    EstimatorConfig::BiasCorrected => true,
                    other => {
                        return Err((
                            "estimator",
                            format!("{other:?} is a CKA estimator; shape takes \"plugin\" or \"bias_corrected\""),
                        ));
                    }
                };
                let alpha = self.alpha.unwrap_or(1.0);
                match (bias_corrected, self.moments) {
                    (true, _) if self.whitening.is_some() => {
                        return Err((
                            "whitening",
                            "estimator = \"bias_corrected\" is for alpha = 1, which does not whiten".into(),
                        ));
                    }
                    (true, moments) => MetricSpec::BiasCorrectedShape { alpha, score, moments: moments.unwrap_or(4) },
                    (false, Some(_)) => {
                        return Err(("moments", "only applies with estimator = \"bias_corrected\"".into()));
                    }
                    (false, None) => MetricSpec::Shape { alpha, score, whitening },
                }
            }
            Permutation => MetricSpec::Permutation { score },
            Bures => MetricSpec::shape(1.0, self.score.unwrap_or(Score::Euclidean)),
            Cka => {
                let estimator = match self.estimator.unwrap_or(EstimatorConfig::Biased) {
                    EstimatorConfig::Biased => CkaEstimator::Biased,
                    EstimatorConfig::Debiased => CkaEstimator::Debiased,
                    other => {
                        return Err((
                            "estimator",
                            format!("{other:?} is a shape estimator; cka takes \"biased\" or \"debiased\""),
                        ));
                    }
                };
                let kernel = match (self.kernel.unwrap_or(KernelConfig::Linear), &self.length_scale) {
                    (KernelConfig::Linear, Some(_)) => {
                        return Err(("length_scale", "only applies with kernel = \"rbf\"".into()));
                    }
                    (KernelConfig::Linear, None) => Kernel::Linear,
                    (KernelConfig::Rbf, None) => Kernel::Rbf { length_scale: LengthScale::Median },
                    (KernelConfig::Rbf, Some(LengthScaleConfig::Text(t))) if t == "median" => {
                        Kernel::Rbf { length_scale: LengthScale::Median }
                    }
                    (KernelConfig::Rbf, Some(LengthScaleConfig::Number(l))) => {
                        Kernel::Rbf { length_scale: LengthScale::Fixed(*l) }
                    }
                    (KernelConfig::Rbf, Some(LengthScaleConfig::Text(t))) => {
                        return Err(("length_scale", format!("must be a positive number or \"median\", got {t:?}")));
                    }
                };
                MetricSpec::Cka { estimator, kernel }
            }
            ConvShape => MetricSpec::ConvShape { alpha: self.alpha.unwrap_or(1.0), score },
            GaussianStochastic => MetricSpec::GaussianStochastic {
                alpha: self.alpha.unwrap_or(1.0),
                max_iter: self.max_iter.unwrap_or(1000),
                tol: self.tol.unwrap_or(1e-8),
                cov_eps: self.cov_eps.unwrap_or(1e-6),
            },
            EnergyStochastic => {
                MetricSpec::EnergyStochastic { max_iter: self.max_iter.unwrap_or(100), tol: self.tol.unwrap_or(1e-6) }
            }
            Msa => MetricSpec::Msa { eps: self.eps.unwrap_or(1e-6) },
        })
    }
}

#[cfg(test)]
mod byte_size_tests {
    use super::ByteSize;

    #[test]
    fn sizes_parse_with_decimal_and_binary_units() {
        assert_eq!(ByteSize::parse("2GB"), Ok(ByteSize(2_000_000_000)));
        assert_eq!(ByteSize::parse("512 MiB"), Ok(ByteSize(512 * 1024 * 1024)));
        assert_eq!(ByteSize::parse("1.5kb"), Ok(ByteSize(1500)));
        assert_eq!(ByteSize::parse("4096"), Ok(ByteSize(4096)));
        assert!(ByteSize::parse("2 GiBs").unwrap_err().contains("unit"));
        assert!(ByteSize::parse("lots").is_err());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "[input]\nmanifest = \"m.csv\"\n[output]\nuri = \"out\"\n";

    #[test]
    fn the_issue_example_parses() {
        let c = Config::parse(&format!(
            "{BASE}[pairs]\nscope = \"within_layer\"\n[[metrics]]\nname = \"procrustes\"\nkind = \"shape\"\nalpha = 1.0\nscore = \"angular\"\n"
        ))
        .unwrap();
        let specs = c.metric_specs().unwrap();
        assert_eq!(specs[0].spec, MetricSpec::shape(1.0, Score::Angular));
        assert_eq!(c.pairs.scope, PairScope::WithinLayer);
    }

    #[test]
    fn precision_is_a_shape_option_and_part_of_the_fingerprint() {
        let metric = |kind: &str, precision: &str| {
            Config::parse(&format!("{BASE}[[metrics]]\nname = \"a\"\nkind = \"{kind}\"\n{precision}")).unwrap()
        };
        let f64_default = metric("shape", "").metric_specs().unwrap().remove(0);
        let f32 = metric("shape", "precision = \"f32\"\n").metric_specs().unwrap().remove(0);
        assert_eq!((f64_default.precision, f32.precision), (Precision::F64, Precision::F32));
        assert_ne!(f64_default.fingerprint(), f32.fingerprint(), "f32 rows never stand in for f64 rows");
        let e = metric("cka", "precision = \"f32\"\n").metric_specs().unwrap_err().to_string();
        assert!(e.contains("metrics[0].precision"), "{e}");
        let e = Config::parse(&format!("{BASE}[[metrics]]\nname = \"a\"\nkind = \"shape\"\nprecision = \"f16\"\n"))
            .unwrap_err();
        assert!(e.contains("f16"), "{e}");
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let e =
            Config::parse(&format!("{BASE}[[metrics]]\nname = \"a\"\nkind = \"shape\"\nalpah = 0.5\n")).unwrap_err();
        assert!(e.contains("alpah"), "{e}");
        let e = Config::parse(&format!("{BASE}[[metrics]]\nname = \"a\"\nkind = \"shapes\"\n")).unwrap_err();
        assert!(e.contains("shapes") && e.contains("kind"), "{e}");
        let e = Config::parse(&format!("{BASE}[[metrics]]\nname = \"a\"\nkind = \"shape\"\nscore = \"cosine\"\n"))
            .unwrap_err();
        assert!(e.contains("cosine") && e.contains("score"), "{e}");
        let e = Config::parse(&format!("{BASE}[pairs]\nscope = \"everything\"\n")).unwrap_err();
        assert!(e.contains("everything") && e.contains("scope"), "{e}");
        let c = Config::parse(&format!("{BASE}[[metrics]]\nname = \"a\"\nkind = \"shape\"\nalpha = 1.5\n")).unwrap();
        let e = c.metric_specs().unwrap_err().to_string();
        assert!(e.contains("metrics[0].alpha") && e.contains("1.5"), "{e}");
        let c = Config::parse(&format!(
            "{BASE}[[metrics]]\nname = \"a\"\nkind = \"cka\"\n[[metrics]]\nname = \"a\"\nkind = \"cka\"\n"
        ))
        .unwrap();
        assert!(c.metric_specs().unwrap_err().to_string().contains("metrics[1].name"));
        let e = Config::parse(&format!("{BASE}[outptu]\nx = 1\n")).unwrap_err();
        assert!(e.contains("outptu"), "{e}");
    }
}
