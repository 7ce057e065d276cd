//! The TOML run configuration. Unknown keys and invalid values are errors naming the key.

use std::collections::HashSet;

use repspace_metrics::{MetricSpec, Score};
use repspace_pipelines::{NamedMetric, PairScope};
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
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// Manifest (.csv or .parquet): relative to the config file, absolute, or a URL.
    pub manifest: String,
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
    #[serde(default = "default_tile_size")]
    pub tile_size: usize,
}

impl Default for Execution {
    fn default() -> Self {
        Execution { tile_size: default_tile_size() }
    }
}

fn default_tile_size() -> usize {
    32
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    Shape,
    Permutation,
    Cka,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricConfig {
    /// The label written to the tables' `metric` column.
    pub name: String,
    pub kind: MetricKind,
    /// Shape only: netrep's alpha in [0, 1] (0 = CCA, 1 = Procrustes). Default 1.
    pub alpha: Option<f64>,
    /// Shape and permutation: "angular" (default) or "euclidean".
    pub score: Option<Score>,
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
            let key = |field: &str| format!("metrics[{i}].{field} (metric {:?})", m.name);
            let err = |field: &str, reason: String| ConfigError { key: key(field), reason };
            if m.name.trim().is_empty() {
                return Err(err("name", "must not be empty".into()));
            }
            if !names.insert(m.name.clone()) {
                return Err(err(
                    "name",
                    "two metrics have this name; names label table rows and must be unique".into(),
                ));
            }
            let spec = match m.kind {
                MetricKind::Shape => {
                    let alpha = m.alpha.unwrap_or(1.0);
                    if !(0.0..=1.0).contains(&alpha) || !alpha.is_finite() {
                        return Err(err("alpha", format!("must lie in [0, 1] for kind = \"shape\", got {alpha}")));
                    }
                    MetricSpec::Shape { alpha, score: m.score.unwrap_or(Score::Angular) }
                }
                MetricKind::Permutation => {
                    if m.alpha.is_some() {
                        return Err(err("alpha", "only kind = \"shape\" takes alpha".into()));
                    }
                    MetricSpec::Permutation { score: m.score.unwrap_or(Score::Angular) }
                }
                MetricKind::Cka => {
                    if m.alpha.is_some() {
                        return Err(err("alpha", "only kind = \"shape\" takes alpha".into()));
                    }
                    if m.score.is_some() {
                        return Err(err(
                            "score",
                            "kind = \"cka\" is always angular (arccos of CKA); remove score".into(),
                        ));
                    }
                    MetricSpec::Cka
                }
            };
            out.push(NamedMetric { name: m.name.clone(), spec });
        }
        if out.is_empty() {
            return Err(ConfigError {
                key: "metrics".into(),
                reason: "the config has no [[metrics]]: nothing to compute".into(),
            });
        }
        if self.execution.tile_size == 0 {
            return Err(ConfigError { key: "execution.tile_size".into(), reason: "must be at least 1".into() });
        }
        Ok(out)
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
        assert_eq!(specs[0].spec, MetricSpec::Shape { alpha: 1.0, score: Score::Angular });
        assert_eq!(c.pairs.scope, PairScope::WithinLayer);
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
