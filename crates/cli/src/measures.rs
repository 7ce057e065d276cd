//! The `measures` table: one row per configured metric, saying what its numbers mean
//! (distance or similarity, metric or not, symmetric or not) and which transformations of a
//! representation leave them unchanged ([`repspace_metrics::Properties`], ReSi's record of a
//! measure). Written by the committing process with the run's other post-step parts.

use repspace_metrics::MetricSpec;
use repspace_pipelines::job::NamedMetric;
use repspace_store::tables::MeasureRow;

use crate::config::MetricConfig;

/// The rows for the configured metrics (`configs` and `named` in config order).
pub fn measure_rows(configs: &[MetricConfig], named: &[NamedMetric], run_id: &str) -> Vec<MeasureRow> {
    configs
        .iter()
        .zip(named)
        .map(|(config, metric)| {
            let p = metric.spec.properties();
            MeasureRow {
                name: metric.name.clone(),
                kind: config.kind().to_string(),
                parameters: parameters(&metric.spec, metric.precision),
                fingerprint: metric.fingerprint(),
                is_metric: p.is_metric,
                larger_is_more_similar: p.similarity.then_some(true),
                symmetric: p.symmetric,
                invariant_to_ortho: p.ortho,
                invariant_to_isotropic_scaling: p.isotropic_scaling,
                invariant_to_invertible_linear: p.invertible_linear,
                invariant_to_permutation: p.permutation,
                invariant_to_translation: p.translation,
                run_id: run_id.to_string(),
            }
        })
        .collect()
}

/// The resolved parameters as a JSON object: the spec's fields (none for a kind without
/// parameters), and the precision when it is not the default.
fn parameters(spec: &MetricSpec, precision: repspace_metrics::Precision) -> String {
    let mut object = match serde_json::to_value(spec) {
        // a variant with fields serialises as {"Variant": {fields}} or {"Variant": value}
        Ok(serde_json::Value::Object(outer)) => match outer.into_iter().next() {
            Some((_, serde_json::Value::Object(fields))) => fields,
            Some((_, value)) => serde_json::Map::from_iter([("value".to_string(), value)]),
            None => serde_json::Map::new(),
        },
        _ => serde_json::Map::new(),
    };
    if precision != repspace_metrics::Precision::F64 {
        object.insert("precision".into(), serde_json::json!("f32"));
    }
    serde_json::Value::Object(object).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn one_row_per_metric_with_its_parameters_and_properties() {
        let config = Config::parse(
            r#"
[input]
manifest = "m.csv"
[output]
uri = "out"
[[metrics]]
name = "procrustes"
kind = "shape"
[[metrics]]
name = "rsa"
kind = "rsa"
rdm = "correlation"
compare = "spearman"
[[metrics]]
name = "soft"
kind = "soft_matching"
"#,
        )
        .unwrap();
        let named = config.metric_specs().unwrap();
        let rows = measure_rows(&config.metrics, &named, "r1");
        assert_eq!(rows.iter().map(|r| r.kind.as_str()).collect::<Vec<_>>(), ["shape", "rsa", "soft_matching"]);
        let rsa: serde_json::Value = serde_json::from_str(&rows[1].parameters).unwrap();
        assert_eq!(rsa["rdm"], "correlation");
        assert_eq!(rsa["comparison"], "spearman");
        assert_eq!(rows[2].parameters, "{}");
        // distances carry no similarity; similarity measures say larger is more similar
        assert_eq!(rows[0].larger_is_more_similar, None);
        assert_eq!(rows[1].larger_is_more_similar, Some(true));
        // Procrustes is a metric invariant to rotations; the soft-matching distance is a
        // metric that is not; a correlation RDM is not translation invariant
        assert!(rows[0].is_metric && rows[0].invariant_to_ortho);
        assert!(rows[2].is_metric && !rows[2].invariant_to_ortho && rows[2].invariant_to_permutation);
        assert!(!rows[1].invariant_to_translation);
        assert_eq!(rows[0].fingerprint, named[0].fingerprint());
    }
}
