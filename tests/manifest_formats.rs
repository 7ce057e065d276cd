//! Manifests in Parquet as well as CSV, `file://` URLs in `uri`, metadata columns passed
//! through to `models`, and `.npz` members that are deflated (the demo zoo) or stored.

mod common;

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use common::*;
use repspace_store::tables::{encode_parquet, read_table};
use repspace_store::{Location, Storage};

#[test]
fn parquet_manifest_with_urls_and_metadata() {
    let run = RunDir::new();
    let mut uris = Vec::new();
    for i in 0..3u64 {
        let p = run.write(&format!("acts/m{i}.npy"), npy(30, 4, &random_matrix(30, 4, 10 + i)));
        // one absolute file:// URL, one relative path, one absolute path
        uris.push(match i {
            0 => Location::from_path(&p).unwrap().url().to_string(),
            1 => "acts/m1.npy".to_string(),
            _ => path_str(&p).to_string(),
        });
    }
    let col = |v: Vec<&str>| Arc::new(StringArray::from(v)) as ArrayRef;
    let batch = RecordBatch::try_from_iter(vec![
        ("model_id", col(vec!["m0", "m1", "m2"])),
        ("layer", col(vec!["fc", "fc", "fc"])),
        ("uri", col(uris.iter().map(String::as_str).collect())),
        ("width", Arc::new(Int64Array::from(vec![16, 32, 64])) as ArrayRef),
        ("optimizer", col(vec!["sgd", "adam", "sgd"])),
    ])
    .unwrap();
    run.write("manifest.parquet", encode_parquet("manifest", &batch).unwrap());
    run.write(
        "config.toml",
        "[input]\nmanifest = \"manifest.parquet\"\n[output]\nuri = \"out\"\n[[metrics]]\nname = \"cka\"\nkind = \"cka\"\n",
    );
    assert_success(&run.run(&[]));
    assert_eq!(run.distances().len(), 3);
    let models = read_table(&Storage::new().unwrap(), &run.out(), "models").unwrap();
    let mut seen = Vec::new();
    for b in &models {
        let ids = b.column_by_name("model_id").unwrap().as_string::<i32>();
        let widths = b.column_by_name("width").expect("metadata column width").as_string::<i32>();
        let opt = b.column_by_name("optimizer").expect("metadata column optimizer").as_string::<i32>();
        for i in 0..b.num_rows() {
            seen.push((ids.value(i).to_string(), widths.value(i).to_string(), opt.value(i).to_string()));
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("m0".into(), "16".into(), "sgd".into()),
            ("m1".into(), "32".into(), "adam".into()),
            ("m2".into(), "64".into(), "sgd".into())
        ]
    );
}

#[test]
fn the_demo_config_runs_on_the_embedded_zoo() {
    // Copy the config next to a temp output so the test leaves the repository untouched.
    let run = RunDir::new();
    let demo = std::fs::read_to_string(repo_dir().join("configs/random_zoo.toml")).unwrap();
    let zoo = repo_dir().join("configs/demo_zoo/manifest.csv");
    let config = demo
        .replace("\"demo_zoo/manifest.csv\"", &format!("{:?}", path_str(&zoo)))
        .replace("\"out/random_zoo\"", "\"out\"");
    assert_ne!(config, demo, "the demo config names its manifest");
    run.write("config.toml", config);
    let out = run.run(&["-w", "2"]);
    assert_success(&out);
    // the pair metrics' rows (the demo's [[paths]] add within-model rows, tested in layer_paths.rs)
    let distances: Vec<_> = run.distances().into_iter().filter(|d| d.model_a != d.model_b).collect();
    let manifest = std::fs::read_to_string(&zoo).unwrap();
    // within_layer: pairs among the models that have each layer, for each of 4 metrics
    let mut per_layer = std::collections::HashMap::<String, usize>::new();
    for line in manifest.lines().skip(1) {
        *per_layer.entry(line.split(',').nth(1).unwrap().to_string()).or_default() += 1;
    }
    let pairs: usize = per_layer.values().map(|k| k * (k - 1) / 2).sum();
    assert_eq!(distances.len(), 4 * pairs);
    assert!(distances.iter().all(|d| d.distance.is_finite() && d.distance >= 0.0));
    assert!(distances.iter().filter(|d| d.metric != "cka").all(|d| d.distance_test.is_some()));
    assert!(run.errors().is_empty());
}

#[test]
fn the_committed_demo_zoo_is_what_the_generator_writes() {
    let run = RunDir::new();
    let out = run.path("zoo");
    assert_success(&repspace(&["demo-zoo", "--out", path_str(&out)]));
    let committed = repo_dir().join("configs/demo_zoo");
    let mut files = vec![std::path::PathBuf::from("manifest.csv")];
    for e in std::fs::read_dir(committed.join("models")).unwrap() {
        files.push(std::path::Path::new("models").join(e.unwrap().file_name()));
    }
    assert_eq!(files.len(), 49, "48 models and the manifest");
    for f in files {
        let (a, b) = (std::fs::read(committed.join(&f)).unwrap(), std::fs::read(out.join(&f)).unwrap());
        assert!(a == b, "{} differs from a fresh `repspace demo-zoo`", f.display());
    }
}
