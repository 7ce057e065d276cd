//! The whole pipeline (binary → manifest → timely → Parquet) on the netrep fixtures:
//! every D and D_test value of the nine faithful metrics, within 1e-8 (1e-7 near zero),
//! with one and with two workers.

mod common;

use std::collections::HashMap;

use common::*;
use serde_json::Value;

const METRICS: &str = r#"
[[metrics]]
name = "linear_alpha0_angular"
kind = "shape"
alpha = 0.0
score = "angular"
[[metrics]]
name = "linear_alpha0_euclidean"
kind = "shape"
alpha = 0.0
score = "euclidean"
[[metrics]]
name = "linear_alpha0.5_angular"
kind = "shape"
alpha = 0.5
score = "angular"
[[metrics]]
name = "linear_alpha0.5_euclidean"
kind = "shape"
alpha = 0.5
score = "euclidean"
[[metrics]]
name = "linear_alpha1_angular"
kind = "shape"
alpha = 1.0
score = "angular"
[[metrics]]
name = "linear_alpha1_euclidean"
kind = "shape"
alpha = 1.0
score = "euclidean"
[[metrics]]
name = "permutation_angular"
kind = "permutation"
score = "angular"
[[metrics]]
name = "permutation_euclidean"
kind = "permutation"
score = "euclidean"
[[metrics]]
name = "linear_cka_angular"
kind = "cka"
"#;

/// Run the fixture through the binary; returns (reference JSON, distances by (metric, i, j)).
/// (metric, i, j) → (distance, distance_test)
type Scores = HashMap<(String, usize, usize), (f64, Option<f64>)>;

fn run_fixture(fixture: &str, workers: &str) -> (Value, Scores) {
    run_fixture_with(fixture, workers, METRICS)
}

fn run_fixture_with(fixture: &str, workers: &str, metrics: &str) -> (Value, Scores) {
    let json: Value = serde_json::from_slice(
        &std::fs::read(fixtures_dir().join(format!("{fixture}.netrep.json"))).expect("fixture json"),
    )
    .expect("json");
    let k = json["K"].as_u64().expect("K") as usize;
    let npz = fixtures_dir().join(format!("{fixture}.npz"));
    let run = RunDir::new();
    let mut manifest = String::from("model_id,layer,uri,key,test_key,note\n");
    for i in 0..k {
        manifest.push_str(&format!("net{i},X,{},X{i},T{i},fixture {fixture}\n", path_str(&npz)));
    }
    run.write("manifest.csv", manifest);
    run.config("within_layer", metrics);
    let out = run.run(&["-w", workers]);
    assert_success(&out);
    let mut by_pair = HashMap::new();
    for r in run.distances() {
        let i: usize = r.model_a.trim_start_matches("net").parse().expect("model id");
        let j: usize = r.model_b.trim_start_matches("net").parse().expect("model id");
        assert!(i < j, "pairs are written once, smaller model first");
        assert!(by_pair.insert((r.metric.clone(), i, j), (r.distance, r.distance_test)).is_none(), "duplicate row");
    }
    assert_eq!(run.model_count(), k);
    (json, by_pair)
}

fn check(fixture: &str) {
    let (json, got) = run_fixture(fixture, "1");
    let k = json["K"].as_u64().expect("K") as usize;
    let mut checked = 0;
    for name in METRICS.lines().filter_map(|l| l.strip_prefix("name = ")).map(|s| s.trim_matches('"')) {
        let entry = &json["metrics"][name];
        assert!(entry.is_object(), "the fixture has metric {name}");
        for i in 0..k {
            for j in (i + 1)..k {
                let (d, dt) = got[&(name.to_string(), i, j)];
                let want = entry["D"][i][j].as_f64().expect("D entry");
                let tol = if want.abs() < 1e-6 { 1e-7 } else { 1e-8 };
                assert!((d - want).abs() <= tol, "{fixture} {name} D[{i},{j}] = {d}, netrep {want}");
                match entry.get("D_test") {
                    Some(t) => {
                        let want = t[i][j].as_f64().expect("D_test entry");
                        let dt = dt.expect("distance_test is set when held-out rows are given");
                        assert!((dt - want).abs() <= tol, "{fixture} {name} D_test[{i},{j}] = {dt}, netrep {want}");
                    }
                    None => assert!(dt.is_none(), "{name} has no held-out score"),
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 9 * k * (k - 1) / 2);
    assert_eq!(got.len(), checked, "no extra rows");
}

#[test]
fn shape_small_every_metric_matches_netrep() {
    check("shape_small");
}

#[test]
fn shape_medium_every_metric_matches_netrep() {
    check("shape_medium");
}

#[test]
fn f32_precision_stays_within_1e_5_of_netrep_through_the_pipeline() {
    let shape_metrics: String = METRICS
        .split("[[metrics]]")
        .filter(|m| m.contains("kind = \"shape\""))
        .map(|m| format!("[[metrics]]{m}precision = \"f32\"\n"))
        .collect();
    for fixture in ["shape_small", "shape_medium"] {
        let (json, got) = run_fixture_with(fixture, "2", &shape_metrics);
        let k = json["K"].as_u64().expect("K") as usize;
        let mut worst = 0.0f64;
        for ((name, i, j), (d, dt)) in &got {
            let entry = &json["metrics"][name.as_str()];
            worst = worst.max((d - entry["D"][*i][*j].as_f64().expect("D")).abs());
            let want_test = entry["D_test"][*i][*j].as_f64().expect("D_test");
            worst = worst.max((dt.expect("held-out score") - want_test).abs());
        }
        assert_eq!(got.len(), 6 * k * (k - 1) / 2, "{fixture}: six shape metrics");
        assert!(worst <= 1e-5, "{fixture}: f32 error {worst:e}");
        eprintln!("{fixture} through the pipeline in f32: largest |difference| from netrep {worst:.1e}");
    }
}

#[test]
fn one_and_two_workers_write_the_same_table() {
    let (_, one) = run_fixture("shape_medium", "1");
    let (_, two) = run_fixture("shape_medium", "2");
    assert_eq!(one.len(), two.len());
    for (key, (d1, t1)) in &one {
        let (d2, t2) = two.get(key).unwrap_or_else(|| panic!("{key:?} missing with 2 workers"));
        assert!((d1 - d2).abs() <= 1e-12, "{key:?}: {d1} vs {d2}");
        match (t1, t2) {
            (Some(a), Some(b)) => assert!((a - b).abs() <= 1e-12, "{key:?} held-out: {a} vs {b}"),
            (None, None) => {}
            _ => panic!("{key:?}: held-out score present with one worker count only"),
        }
    }
}
