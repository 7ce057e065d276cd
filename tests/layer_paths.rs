//! Layer paths through the whole pipeline: the repsim fixture as one five-layer model
//! (values against repsim), the demo zoo with paths for every model on two workers, and
//! the `path_distances` summary; DuckDB reads the path tables.

mod common;

use std::collections::HashMap;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use common::*;
use repspace_store::Storage;
use repspace_store::tables::read_table;
use serde_json::Value;

/// (column name → values) of a small table, rows sorted by the first string column.
fn column_f64(run: &RunDir, table: &str, column: &str) -> Vec<Option<f64>> {
    let mut out = Vec::new();
    for b in read_table(&Storage::new().unwrap(), &run.out(), table).unwrap() {
        let c = b.column_by_name(column).unwrap().as_primitive::<Float64Type>();
        out.extend((0..b.num_rows()).map(|i| (!arrow_array::Array::is_null(c, i)).then(|| c.value(i))));
    }
    out
}

#[test]
fn the_repsim_fixture_as_a_model_path() {
    let npz = fixtures_dir().join("paths_small.npz");
    let json: Value =
        serde_json::from_slice(&std::fs::read(fixtures_dir().join("paths_small.repsim.json")).unwrap()).unwrap();
    let run = RunDir::new();
    let mut manifest = String::from("model_id,layer,layer_index,uri,key\n");
    // listed out of order: layer_index decides the path order
    for k in [3, 0, 4, 1, 2] {
        manifest.push_str(&format!("net,L{k},{k},{},L{k}\n", path_str(&npz)));
    }
    run.write("manifest.csv", manifest);
    run.write(
        "config.toml",
        "[input]\nmanifest = \"manifest.csv\"\n[output]\nuri = \"out\"\n\
         [[paths]]\nname = \"angular_cka_unbiased_linear\"\nkind = \"angular_cka\"\nestimator = \"repsim_unbiased\"\n\
         [[paths]]\nname = \"shape_euclidean_alpha1\"\nkind = \"shape\"\n\
         [[paths]]\nname = \"air_gram_linear_eps\"\nkind = \"air\"\neps = 0.1\n",
    );
    assert_success(&run.run(&["-w", "2"]));
    // layer × layer distances as rows of `distances`, model_a = model_b
    let distances = run.distances();
    assert_eq!(distances.len(), 3 * 10);
    for d in &distances {
        assert_eq!(d.model_a, d.model_b);
        let (i, j): (usize, usize) = (d.layer_a[1..].parse().unwrap(), d.layer_b[1..].parse().unwrap());
        let want = json["metrics"][&d.metric]["distances"][i][j].as_f64().unwrap();
        let tol = if d.metric.starts_with("air") { 1e-6 } else { 1e-8 };
        assert!((d.distance - want).abs() <= tol, "{} {i},{j}: {} vs repsim {want}", d.metric, d.distance);
    }
    // path summaries
    let storage = Storage::new().unwrap();
    let summary = read_table(&storage, &run.out(), "path_summary").unwrap();
    let mut seen = 0;
    for b in &summary {
        let metric = b.column_by_name("metric").unwrap().as_string::<i32>();
        let length = b.column_by_name("path_length").unwrap().as_primitive::<Float64Type>();
        let eff = b.column_by_name("efficiency").unwrap().as_primitive::<Float64Type>();
        let n = b.column_by_name("n_layers").unwrap().as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            let r = &json["metrics"][metric.value(i)];
            assert!((length.value(i) - r["path_length"].as_f64().unwrap()).abs() < 1e-6);
            assert!((eff.value(i) - r["direct_over_path"].as_f64().unwrap()).abs() < 1e-6);
            assert_eq!(n.value(i), 5);
            seen += 1;
        }
    }
    assert_eq!(seen, 3);
    // per-layer rows: angles null exactly at the ends, steps sum to the path length
    let angles = column_f64(&run, "paths", "angle");
    assert_eq!(angles.len(), 15);
    assert_eq!(angles.iter().filter(|a| a.is_none()).count(), 6);
    let steps = column_f64(&run, "paths", "step_length");
    assert_eq!(steps.iter().filter(|s| s.is_none()).count(), 3, "no step into the first layer");
}

#[test]
fn demo_zoo_paths_on_two_workers_with_path_distances_and_duckdb() {
    let run = RunDir::new();
    let zoo = repo_dir().join("configs/demo_zoo/manifest.csv");
    let demo = std::fs::read_to_string(repo_dir().join("configs/random_zoo.toml")).unwrap();
    run.write(
        "config.toml",
        demo.replace("\"demo_zoo/manifest.csv\"", &format!("{:?}", path_str(&zoo)))
            .replace("\"out/random_zoo\"", "\"out\""),
    );
    assert_success(&run.run(&["-w", "2"]));
    let manifest = std::fs::read_to_string(&zoo).unwrap();
    let mut depth: HashMap<String, usize> = HashMap::new();
    for line in manifest.lines().skip(1) {
        *depth.entry(line.split(',').next().unwrap().to_string()).or_default() += 1;
    }
    let storage = Storage::new().unwrap();
    let summary_rows: usize =
        read_table(&storage, &run.out(), "path_summary").unwrap().iter().map(|b| b.num_rows()).sum();
    assert_eq!(summary_rows, 2 * depth.len(), "two path metrics for every model");
    let effs = column_f64(&run, "path_summary", "efficiency");
    assert!(effs.iter().all(|e| e.is_some_and(|e| e > 0.0 && e <= 1.0 + 1e-12)));
    // path_distances: one row per pair metric and pair of models of equal depth
    let mut same_depth_pairs = 0;
    let depths: Vec<usize> = depth.values().copied().collect();
    for i in 0..depths.len() {
        for j in (i + 1)..depths.len() {
            same_depth_pairs += usize::from(depths[i] == depths[j]);
        }
    }
    let pd_rows: usize = read_table(&storage, &run.out(), "path_distances").unwrap().iter().map(|b| b.num_rows()).sum();
    assert_eq!(pd_rows, 4 * same_depth_pairs, "4 pair metrics in the demo config");
    // DuckDB reads the path tables untouched
    let env = std::process::Command::new("bash").arg(repo_dir().join("scripts/python_env.sh")).output().unwrap();
    assert!(env.status.success());
    let python = String::from_utf8(env.stdout).unwrap().trim().to_string();
    let out = run.path("out");
    let query = format!(
        "import duckdb\n\
         c = duckdb.connect()\n\
         n = c.execute(\"select count(*) from read_parquet('{0}/paths/*.parquet') where metric = 'cka_path'\").fetchone()[0]\n\
         s = c.execute(\"select count(*), min(efficiency), max(efficiency) from read_parquet('{0}/path_summary/*.parquet')\").fetchone()\n\
         j = c.execute(\"select count(*) from read_parquet('{0}/path_summary/*.parquet') p join read_parquet('{0}/models/*.parquet') m using (model_id)\").fetchone()[0]\n\
         print(n, s[0], s[1] > 0, s[2] <= 1 + 1e-12, j)\n",
        out.display()
    );
    let res = std::process::Command::new(python).arg("-c").arg(query).output().unwrap();
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let printed = String::from_utf8(res.stdout).unwrap();
    let fields: Vec<&str> = printed.split_whitespace().collect();
    let layers: usize = depth.values().sum();
    assert_eq!(fields[0].parse::<usize>().unwrap(), layers, "one paths row per layer for cka_path");
    assert_eq!(fields[1].parse::<usize>().unwrap(), 2 * depth.len());
    assert_eq!((fields[2], fields[3]), ("True", "True"));
    assert_eq!(fields[4].parse::<usize>().unwrap(), 2 * layers, "summary joins models (one row per layer)");
}
