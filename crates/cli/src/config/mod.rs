//! The TOML run configuration. Unknown keys and invalid values are errors naming the key.
//! `[[metrics]]` and `[[paths]]` tables are typed by their `kind` ([`metrics`], [`paths`]):
//! each kind has its own keys and defaults.

pub mod metrics;
pub mod paths;

use std::collections::HashSet;

use repspace_metrics::{MetricSpec, Precision};
use repspace_pipelines::{EmbeddingMethod, EmbeddingSpec, NamedMetric, NamedPath, PairScope};
use serde::Deserialize;

pub use metrics::MetricConfig;
pub use paths::PathConfig;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub input: Input,
    pub output: Output,
    #[serde(default)]
    pub pairs: Pairs,
    #[serde(default)]
    pub execution: Execution,
    #[serde(default, deserialize_with = "metric_tables")]
    pub metrics: Vec<MetricConfig>,
    #[serde(default, deserialize_with = "path_tables")]
    pub paths: Vec<PathConfig>,
    pub embedding: Option<EmbeddingSpec>,
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

/// Check `[embedding]` beyond its types.
pub fn validate_embedding(e: &EmbeddingSpec) -> Result<(), ConfigError> {
    let err = |key: &str, reason: String| ConfigError { key: format!("embedding.{key}"), reason };
    if e.dims == 0 {
        return Err(err("dims", "must be at least 1".into()));
    }
    match (e.method, e.landmarks) {
        (EmbeddingMethod::Landmark, Some(l)) if l <= e.dims => {
            Err(err("landmarks", format!("must exceed dims ({}), got {l}", e.dims)))
        }
        (EmbeddingMethod::Landmark, _) => Ok(()),
        (_, Some(_)) => Err(err("landmarks", "only method = \"landmark\" takes landmarks".into())),
        _ => Ok(()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// Manifest (.csv or .parquet): relative to the config file, absolute, or a URL.
    pub manifest: String,
    /// A zoo config ([zoo], relative to this file) that writes the manifest: when the
    /// manifest does not exist yet, the zoo is trained first (as `repspace zoo` would).
    pub zoo: Option<String>,
    /// Only the manifest's rows of these layers take part (e.g. a zoo's pooled layers for
    /// `shape` and its feature maps, in another run, for `conv_shape`). Default: every row.
    pub layers: Option<Vec<String>>,
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

/// A configuration problem, naming the key.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct ConfigError {
    pub key: String,
    pub reason: String,
}

/// Why one `[[metrics]]` or `[[paths]]` table did not parse: the key (when known) and why.
#[derive(Debug)]
pub struct EntryError {
    pub field: Option<String>,
    pub reason: String,
}

impl EntryError {
    fn unknown_kind(kind: &str, kinds: &[&str]) -> EntryError {
        EntryError {
            field: Some("kind".into()),
            reason: format!("unknown kind {kind:?}; expected one of {}", kinds.join(", ")),
        }
    }
}

/// Deserialize one table, given as TOML text, into its kind's type. The offending key is
/// the one on the line the error points at, or the one an "unknown field" message names.
fn typed<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, EntryError> {
    toml::from_str::<T>(text).map_err(|e| {
        let at_span = e.span().and_then(|span| {
            let line_start = text[..span.start.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
            let line = &text[line_start..];
            line.split_once('=').map(|(key, _)| key.trim().trim_matches('"').to_string())
        });
        let named =
            e.message().split('`').nth(1).filter(|_| e.message().starts_with("unknown field")).map(String::from);
        EntryError { field: named.or(at_span).filter(|f| !f.is_empty()), reason: e.message().trim().to_string() }
    })
}

/// The typed tables of a `[[metrics]]` or `[[paths]]` list; an error names
/// `<section>[i].<key> (<noun> "<name>")`.
fn typed_tables<'de, D, T>(
    d: D,
    section: &str,
    noun: &str,
    parse: fn(&str, &str) -> Result<T, EntryError>,
) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error;
    let tables = Vec::<toml::Table>::deserialize(d)?;
    let mut out = Vec::with_capacity(tables.len());
    for (i, mut table) in tables.into_iter().enumerate() {
        let name = table.get("name").and_then(|v| v.as_str()).unwrap_or("").to_string();
        let fail = |e: EntryError| {
            let field = e.field.map(|f| format!(".{f}")).unwrap_or_default();
            D::Error::custom(format!("{section}[{i}]{field} ({noun} {name:?}): {}", e.reason))
        };
        let kind = match table.remove("kind") {
            Some(toml::Value::String(k)) => k,
            Some(other) => {
                return Err(fail(EntryError {
                    field: Some("kind".into()),
                    reason: format!("must be a string, got {other}"),
                }));
            }
            None => return Err(fail(EntryError { field: Some("kind".into()), reason: "missing".into() })),
        };
        let text = toml::to_string(&table).map_err(D::Error::custom)?;
        out.push(parse(&kind, &text).map_err(fail)?);
    }
    Ok(out)
}

/// One `[[metrics]]` table given as TOML text (its keys, `name` and `kind` included), as the
/// Python bindings build it: the metric and its precision, checked exactly as a config's
/// tables are, or the error naming the offending key.
pub fn metric_from_table(text: &str) -> Result<(MetricSpec, Precision), String> {
    #[derive(Deserialize)]
    struct One {
        #[serde(deserialize_with = "metric_tables")]
        metrics: Vec<MetricConfig>,
    }
    let one: One = toml::from_str(&format!("[[metrics]]\n{text}")).map_err(|e| e.message().trim().to_string())?;
    let metric = one.metrics.into_iter().next().ok_or("no metric table")?;
    metric.spec().map_err(|(key, reason)| format!("{key}: {reason}"))
}

fn metric_tables<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<MetricConfig>, D::Error> {
    typed_tables(d, "metrics", "metric", MetricConfig::parse)
}

fn path_tables<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<PathConfig>, D::Error> {
    typed_tables(d, "paths", "path", PathConfig::parse)
}

/// A `name` must be non-empty and not taken yet (`names` holds those taken).
fn unique_name(names: &mut HashSet<String>, name: &str, taken: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if !names.insert(name.to_string()) {
        return Err(taken.into());
    }
    Ok(())
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
                key: format!("metrics[{i}].{field} (metric {:?})", m.name()),
                reason,
            };
            unique_name(&mut names, m.name(), "two metrics have this name; names label table rows and must be unique")
                .map_err(|reason| err("name", reason))?;
            let (spec, precision) = m.spec().map_err(|(field, reason)| err(field, reason))?;
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
            out.push(NamedMetric { name: m.name().to_string(), spec, precision });
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

    /// Validate and turn the `[[paths]]` tables into path specs. Names must differ from each
    /// other and from the `[[metrics]]` names (both label `distances` rows).
    pub fn path_specs(&self) -> Result<Vec<NamedPath>, ConfigError> {
        let mut names: HashSet<String> = self.metrics.iter().map(|m| m.name().to_string()).collect();
        let mut out = Vec::new();
        for (i, p) in self.paths.iter().enumerate() {
            let err = |field: &str, reason: String| ConfigError {
                key: format!("paths[{i}].{field} (path {:?})", p.name()),
                reason,
            };
            unique_name(&mut names, p.name(), "another [[metrics]] or [[paths]] entry has this name")
                .map_err(|reason| err("name", reason))?;
            let spec = p.spec().map_err(|(field, reason)| err(field, reason))?;
            out.push(NamedPath { name: p.name().to_string(), spec });
        }
        Ok(out)
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

    use repspace_metrics::{Precision, Score};

    #[test]
    fn each_kind_has_its_own_keys_and_defaults() {
        let c = Config::parse(&format!(
            "{BASE}[[metrics]]\nname = \"g\"\nkind = \"gaussian_stochastic\"\n[[metrics]]\nname = \"b\"\nkind = \"bures\"\n[[paths]]\nname = \"p\"\nkind = \"air\"\n"
        ))
        .unwrap();
        let specs = c.metric_specs().unwrap();
        assert_eq!(
            specs[0].spec,
            MetricSpec::GaussianStochastic { alpha: 1.0, max_iter: 1000, tol: 1e-8, cov_eps: 1e-6 }
        );
        assert_eq!(specs[1].spec, MetricSpec::shape(1.0, Score::Euclidean));
        assert_eq!(c.path_specs().unwrap()[0].spec, repspace_metrics::paths::PathSpec::Air { eps: 0.1 });
        // a key of another kind is refused by name, with the table's index and name
        let e = Config::parse(&format!(
            "{BASE}[[metrics]]\nname = \"x\"\nkind = \"cka\"\n[[metrics]]\nname = \"y\"\nkind = \"msa\"\nalpha = 1.0\n"
        ))
        .unwrap_err();
        assert!(e.contains("metrics[1].alpha (metric \"y\")"), "{e}");
        let e = Config::parse(&format!("{BASE}[[paths]]\nname = \"q\"\nkind = \"stress\"\neps = 1.0\n")).unwrap_err();
        assert!(e.contains("paths[0].eps"), "{e}");
        let e = Config::parse(&format!("{BASE}[[metrics]]\nname = \"z\"\n")).unwrap_err();
        assert!(e.contains("metrics[0].kind") && e.contains("missing"), "{e}");
    }

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
        let e = Config::parse(&format!("{BASE}[[metrics]]\nname = \"a\"\nkind = \"cka\"\nprecision = \"f32\"\n"))
            .unwrap_err();
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
