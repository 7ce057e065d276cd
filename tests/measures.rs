//! The similarity measures of issue 22 through the whole pipeline: every `[[metrics]]` kind
//! (rsa, svcca, pwcca, ridge, knn, soft_matching, distance_correlation) run on the reference
//! fixtures' inputs (npz members, one layer per input set), every row equal to the value the
//! reference implementation computed (`tests/fixtures/measures/*.json`, provenance in
//! `tests/fixtures/README.md`), `distance` = 1 − `similarity` for the similarity measures,
//! refusals in `errors`, and one `measures` row per metric.

mod common;

use std::collections::HashMap;

use common::*;
use repspace_store::tables::{MeasureRow, Table, read_table};
use repspace_store::{Location, Storage};
use serde_json::Value;

/// One metric's expected values on one input set: `values[i][j]` = measure(x_i, x_j).
struct Expected {
    metric: String,
    layer: String,
    values: Vec<Vec<f64>>,
    tolerance: f64,
}

/// A family's run: the manifest's layers (name → the npz keys of its models), the metric
/// tables, and what each metric must give.
struct Family {
    npz: &'static str,
    layers: Vec<(String, Vec<String>)>,
    metrics: String,
    expected: Vec<Expected>,
}

impl Family {
    fn new(npz: &'static str) -> Family {
        Family { npz, layers: Vec::new(), metrics: String::new(), expected: Vec::new() }
    }

    /// The layer holding `inputs` (named after their common prefix, e.g. `s0_x`).
    fn layer(&mut self, inputs: &Value) -> String {
        let keys: Vec<String> = inputs.as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_string()).collect();
        let name = keys[0].trim_end_matches(|c: char| c.is_ascii_digit()).to_string();
        if !self.layers.iter().any(|(n, _)| *n == name) {
            self.layers.push((name.clone(), keys));
        }
        name
    }

    fn metric(&mut self, name: &str, table: &str) {
        if !self.metrics.contains(&format!("name = \"{name}\"\n")) {
            self.metrics.push_str(&format!("[[metrics]]\nname = \"{name}\"\n{table}"));
        }
    }

    fn expect(&mut self, metric: &str, layer: &str, values: &Value, tolerance: f64) {
        let values = values
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect())
            .collect();
        self.expected.push(Expected { metric: metric.into(), layer: layer.into(), values, tolerance });
    }

    /// Run the family; check every expected value and return the run (for further checks).
    fn run_and_check(&self) -> RunDir {
        let run = RunDir::new();
        let npz = fixtures_dir().join("measures").join(self.npz);
        let mut manifest = String::from("model_id,layer,uri,key\n");
        for (layer, keys) in &self.layers {
            for (i, key) in keys.iter().enumerate() {
                manifest.push_str(&format!("m{i},{layer},{},{key}\n", path_str(&npz)));
            }
        }
        run.write("manifest.csv", manifest);
        run.config("within_layer", &self.metrics);
        let out = run.run(&["-w", "2"]);
        assert!(matches!(out.status.code(), Some(0 | 2)), "{}", String::from_utf8_lossy(&out.stderr));
        let mut rows: HashMap<(String, String, usize, usize), (f64, Option<f64>)> = HashMap::new();
        for r in run.distances() {
            let index = |m: &str| m[1..].parse::<usize>().unwrap();
            rows.insert((r.metric, r.layer_a, index(&r.model_a), index(&r.model_b)), (r.distance, r.similarity));
        }
        for e in &self.expected {
            let n = e.values.len();
            for a in 0..n {
                for b in a + 1..n {
                    let key = (e.metric.clone(), e.layer.clone(), a, b);
                    let Some(&(distance, similarity)) = rows.get(&key) else {
                        panic!("no row for {key:?}; errors: {:?}", run.errors());
                    };
                    let want = e.values[a][b];
                    let got = similarity.unwrap_or(distance);
                    assert!(
                        (got - want).abs() <= e.tolerance * (1.0 + want.abs()),
                        "{} on {} (m{a}, m{b}): {got} against the reference's {want}",
                        e.metric,
                        e.layer
                    );
                    if let Some(s) = similarity {
                        assert_eq!(distance, 1.0 - s, "{}: distance = 1 - similarity", e.metric);
                    }
                }
            }
        }
        run
    }
}

fn fixture(name: &str) -> Value {
    let path = fixtures_dir().join("measures").join(format!("{name}.json"));
    serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

#[test]
fn rsa_equals_rsatoolbox_through_the_pipeline() {
    let json = fixture("rsa");
    let mut family = Family::new("rsa.npz");
    for case in json["cases"].as_array().unwrap() {
        let layer = family.layer(&case["inputs"]);
        let rdm = case["rdm"].as_str().unwrap();
        let rdm_keys = match rdm {
            "crossnobis_identity" => "rdm = \"crossnobis\"\nnoise = \"identity\"\n".to_string(),
            "crossnobis_shrinkage_diag" => "rdm = \"crossnobis\"\nnoise = \"shrinkage_diag\"\n".to_string(),
            other => format!("rdm = \"{other}\"\n"),
        };
        for (comparison, values) in case["values"].as_object().unwrap() {
            let name = format!("rsa_{rdm}_{comparison}");
            family.metric(&name, &format!("kind = \"rsa\"\n{rdm_keys}compare = \"{comparison}\"\n"));
            family.expect(&name, &layer, values, 1e-10);
        }
    }
    let run = family.run_and_check();
    // the crossnobis metrics cannot read the 2-D layers, nor the others the 3-D ones
    let errors = run.errors();
    // the tied integer layer has conditions constant across its 3 units, whose correlation
    // distances are undefined: refused by name (rsatoolbox writes NaN)
    let undefined = |e: &&repspace_store::tables::ErrorRow| {
        e.reason == "prepare_failed"
            && e.layer == "ties_x"
            && e.metric.as_deref().is_some_and(|m| m.starts_with("rsa_correlation_"))
            && e.message.contains("same value in every unit")
    };
    assert!(errors.iter().any(|e| undefined(&e)));
    let other: Vec<_> = errors.iter().filter(|e| e.reason != "wrong_rank" && !undefined(e)).collect();
    assert!(other.is_empty(), "{other:?}");
    assert!(errors.iter().any(|e| e.metric.as_deref() == Some("rsa_crossnobis_identity_pearson")));

    let measures = measures(&run.out());
    assert_eq!(measures.len(), 24, "one row per configured metric");
    for m in &measures {
        assert_eq!(m.kind, "rsa");
        assert_eq!(m.larger_is_more_similar, Some(true));
        assert!(m.symmetric && !m.is_metric && m.invariant_to_permutation && m.invariant_to_isotropic_scaling);
        let parameters: Value = serde_json::from_str(&m.parameters).unwrap();
        assert_eq!(
            m.name,
            format!("rsa_{}_{}", rdm_name(&parameters["rdm"]), parameters["comparison"].as_str().unwrap())
        );
        assert_eq!(m.invariant_to_translation, parameters["rdm"] != "correlation");
    }
}

/// The fixture's name of an RDM kind from its parameters' JSON.
fn rdm_name(rdm: &Value) -> String {
    match rdm {
        Value::String(s) => s.clone(),
        other => format!("crossnobis_{}", other["crossnobis"]["noise"].as_str().unwrap()),
    }
}

fn measures(out: &Location) -> Vec<MeasureRow> {
    let batches = read_table(&Storage::new().unwrap(), out, "measures").unwrap();
    batches.iter().flat_map(|b| MeasureRow::from_batch(b).unwrap()).collect()
}

#[test]
fn svcca_pwcca_and_ridge_equal_their_references_through_the_pipeline() {
    let json = fixture("cca");
    let mut family = Family::new("cca.npz");
    for case in json["cases"].as_array().unwrap() {
        let layer = family.layer(&case["inputs"]);
        match case["measure"].as_str().unwrap() {
            "svcca" => {
                let (name, keys) = match (case["keep"].get("directions"), case["keep"].get("variance")) {
                    (Some(k), _) => (format!("svcca_keep{k}"), format!("keep = {k}\n")),
                    (_, Some(v)) => (format!("svcca_variance{v}"), format!("variance = {v}\n")),
                    _ => panic!("keep: {}", case["keep"]),
                };
                family.metric(&name, &format!("kind = \"svcca\"\n{keys}"));
                family.expect(&name, &layer, &case["values"], 1e-10);
            }
            _ => {
                family.metric("pwcca", "kind = \"pwcca\"\n");
                if !case["values"].is_null() {
                    family.expect("pwcca", &layer, &case["values"], 1e-8);
                }
            }
        }
    }
    let run = family.run_and_check();
    // PWCCA is defined for fewer units than stimuli only: the wide layer's networks are
    // refused by name, the metric and the reason
    let refused: Vec<_> = run.errors().into_iter().filter(|e| e.metric.as_deref() == Some("pwcca")).collect();
    assert!(!refused.is_empty(), "the wide layer is refused for pwcca");
    for e in &refused {
        assert_eq!(e.layer, "s0_x");
        assert!(e.message.contains("PWCCA") || e.message.contains("pwcca"), "{}", e.message);
    }

    let json = fixture("ridge");
    let mut family = Family::new("ridge.npz");
    for case in json["cases"].as_array().unwrap() {
        let layer = family.layer(&case["inputs"]);
        let alphas = case["alphas"].to_string();
        let folds = case["folds"].as_u64().unwrap();
        for (direction, values) in case["values"].as_object().unwrap() {
            let name = format!("ridge_{folds}_{direction}");
            family.metric(
                &name,
                &format!("kind = \"ridge\"\nfolds = {folds}\nalphas = {alphas}\ndirection = \"{direction}\"\n"),
            );
            family.expect(&name, &layer, values, 1e-8);
        }
    }
    let run = family.run_and_check();
    let measures = measures(&run.out());
    let forward = measures.iter().find(|m| m.name == "ridge_5_forward").unwrap();
    let mean = measures.iter().find(|m| m.name == "ridge_5_mean").unwrap();
    assert!(!forward.symmetric && mean.symmetric, "forward predictivity is directed, the mean is not");
}

#[test]
fn knn_soft_matching_and_distance_correlation_equal_their_references_through_the_pipeline() {
    let json = fixture("knn");
    let mut family = Family::new("knn.npz");
    let layers: HashMap<String, String> =
        json["cases"].as_object().unwrap().iter().map(|(case, c)| (case.clone(), family.layer(&c["keys"]))).collect();
    for (variant, by_k) in json["values"].as_object().unwrap() {
        for (k, by_case) in by_k.as_object().unwrap() {
            let name = format!("knn_{variant}_{k}");
            family.metric(&name, &format!("kind = \"knn\"\nvariant = \"{variant}\"\nk = {k}\n"));
            for (case, values) in by_case.as_object().unwrap() {
                family.expect(&name, &layers[case], values, 1e-10);
            }
        }
    }
    let run = family.run_and_check();
    let cknna = measures(&run.out()).into_iter().find(|m| m.name.starts_with("knn_cknna")).unwrap();
    assert!(!cknna.symmetric, "CKNNA is not symmetric: row (a, b) takes a first");

    let json = fixture("soft_matching_dcor");
    let mut family = Family::new("soft_matching_dcor.npz");
    let layers: HashMap<String, String> =
        json["cases"].as_object().unwrap().iter().map(|(case, c)| (case.clone(), family.layer(&c["keys"]))).collect();
    for (measure, by_case) in json["values"].as_object().unwrap() {
        let (name, tolerance) = match measure.as_str() {
            "soft_matching" => ("soft", 1e-6),
            _ => ("dcor", 1e-10),
        };
        family.metric(name, &format!("kind = \"{measure}\"\n"));
        for (case, values) in by_case.as_object().unwrap() {
            family.expect(name, &layers[case], values, tolerance);
        }
    }
    let run = family.run_and_check();
    let soft = run.distances().into_iter().filter(|r| r.metric == "soft").collect::<Vec<_>>();
    assert!(!soft.is_empty() && soft.iter().all(|r| r.similarity.is_none()), "a distance has no similarity");
}
