//! `[[paths]]`: one typed table per layer-path kind (Lange et al.; repsim's conventions).

use repspace_metrics::Score;
use repspace_metrics::paths::{PathCka, PathSpec};
use serde::Deserialize;

use super::metrics::{KernelChoice, LengthScaleChoice};

/// A `[[paths]]` table, by kind.
#[derive(Debug, Clone, PartialEq)]
pub enum PathConfig {
    AngularCka(AngularCkaPath),
    Stress(StressPath),
    Shape(ShapePath),
    Air(AirPath),
}

pub const PATH_KINDS: [&str; 4] = ["angular_cka", "stress", "shape", "air"];

/// `kind = "angular_cka"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AngularCkaPath {
    pub name: String,
    /// "biased" (default) or "repsim_unbiased".
    #[serde(default)]
    pub estimator: PathCkaEstimator,
    /// "linear" (default) or "rbf".
    #[serde(default)]
    pub kernel: KernelChoice,
    /// With kernel = "rbf": only "median" (repsim's rule).
    pub length_scale: Option<LengthScaleChoice>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum PathCkaEstimator {
    #[default]
    Biased,
    RepsimUnbiased,
}

/// `kind = "stress"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StressPath {
    pub name: String,
}

/// `kind = "shape"`: "euclidean" (default; = Bures) or "angular".
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShapePath {
    pub name: String,
    #[serde(default = "euclidean")]
    pub score: Score,
}

fn euclidean() -> Score {
    Score::Euclidean
}

/// `kind = "air"`: the ridge ε added to X̃X̃ᵀ (absolute).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AirPath {
    pub name: String,
    #[serde(default = "tenth")]
    pub eps: f64,
}

fn tenth() -> f64 {
    0.1
}

impl PathConfig {
    pub(super) fn parse(kind: &str, text: &str) -> Result<PathConfig, super::EntryError> {
        use super::typed;
        Ok(match kind {
            "angular_cka" => PathConfig::AngularCka(typed(text)?),
            "stress" => PathConfig::Stress(typed(text)?),
            "shape" => PathConfig::Shape(typed(text)?),
            "air" => PathConfig::Air(typed(text)?),
            other => return Err(super::EntryError::unknown_kind(other, &PATH_KINDS)),
        })
    }

    pub fn name(&self) -> &str {
        match self {
            PathConfig::AngularCka(c) => &c.name,
            PathConfig::Stress(c) => &c.name,
            PathConfig::Shape(c) => &c.name,
            PathConfig::Air(c) => &c.name,
        }
    }

    /// The path metric, or the offending key and why.
    pub fn spec(&self) -> Result<PathSpec, (&'static str, String)> {
        Ok(match self {
            PathConfig::AngularCka(c) => {
                let rbf = match (c.kernel, &c.length_scale) {
                    (KernelChoice::Linear, Some(_)) => {
                        return Err(("length_scale", "only applies with kernel = \"rbf\"".into()));
                    }
                    (KernelChoice::Linear, None) => false,
                    (KernelChoice::Rbf, None) => true,
                    (KernelChoice::Rbf, Some(LengthScaleChoice::Text(t))) if t == "median" => true,
                    (KernelChoice::Rbf, Some(other)) => {
                        return Err(("length_scale", format!("paths use repsim's \"median\" rule, got {other:?}")));
                    }
                };
                let estimator = match c.estimator {
                    PathCkaEstimator::Biased => PathCka::Biased,
                    PathCkaEstimator::RepsimUnbiased => PathCka::RepsimUnbiased,
                };
                PathSpec::AngularCka { estimator, rbf }
            }
            PathConfig::Stress(_) => PathSpec::Stress,
            PathConfig::Shape(c) => PathSpec::Shape { angular: c.score == Score::Angular },
            PathConfig::Air(c) => {
                if !(c.eps > 0.0 && c.eps.is_finite()) {
                    return Err((
                        "eps",
                        format!("must be positive (with eps = 0 every AIR distance is infinite), got {}", c.eps),
                    ));
                }
                PathSpec::Air { eps: c.eps }
            }
        })
    }
}
