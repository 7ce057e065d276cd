//! Embeddings through the binary: the demo zoo embedded per (metric, layer) and read by
//! DuckDB; landmark embeddings that keep existing coordinates when models are added.

mod common;

use std::collections::HashMap;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use common::*;
use repspace_store::Storage;
use repspace_store::tables::read_table;

/// (metric, model, layer) → (method, coordinates, landmark_set)
type Coordinates = HashMap<(String, String, String), (String, Vec<f64>, Option<String>)>;

fn embeddings(run: &RunDir, dims: usize) -> Coordinates {
    let mut out = HashMap::new();
    for b in read_table(&Storage::new().unwrap(), &run.out(), "embeddings").unwrap() {
        let s = |n: &str| b.column_by_name(n).unwrap().as_string::<i32>().clone();
        let (metric, model, layer, method, set) =
            (s("metric"), s("model_id"), s("layer"), s("method"), s("landmark_set"));
        let cols: Vec<_> = (0..dims)
            .map(|d| b.column_by_name(&format!("dim_{d}")).unwrap().as_primitive::<Float64Type>().clone())
            .collect();
        for i in 0..b.num_rows() {
            let coords = cols.iter().map(|c| c.value(i)).collect();
            let set = (!arrow_array::Array::is_null(&set, i)).then(|| set.value(i).to_string());
            out.insert(
                (metric.value(i).to_string(), model.value(i).to_string(), layer.value(i).to_string()),
                (method.value(i).to_string(), coords, set),
            );
        }
    }
    out
}

#[test]
fn demo_zoo_embeddings_are_written_and_read_by_duckdb() {
    let run = RunDir::new();
    let zoo = repo_dir().join("configs/demo_zoo/manifest.csv");
    let demo = std::fs::read_to_string(repo_dir().join("configs/random_zoo.toml")).unwrap();
    run.write(
        "config.toml",
        demo.replace("\"demo_zoo/manifest.csv\"", &format!("{:?}", path_str(&zoo)))
            .replace("\"out/random_zoo\"", "\"out\""),
    );
    let out = run.run(&["-w", "2"]);
    assert_success(&out);
    let e = embeddings(&run, 2);
    // every representation of every pair metric is embedded in its layer group
    let reps = std::fs::read_to_string(&zoo).unwrap().lines().count() - 1;
    assert_eq!(e.len(), 4 * reps);
    assert!(e.values().all(|(m, c, s)| m == "classical" && c.iter().all(|v| v.is_finite()) && s.is_none()));
    let env = std::process::Command::new("bash").arg(repo_dir().join("scripts/python_env.sh")).output().unwrap();
    let python = String::from_utf8(env.stdout).unwrap().trim().to_string();
    let q = format!(
        "import duckdb\nc = duckdb.connect()\n\
         r = c.execute(\"select count(*), min(negative_mass), max(negative_mass), min(stress_1), max(len(eigenvalues)), bool_and(eigenvalues_complete) from read_parquet('{0}/embedding_summary/*.parquet')\").fetchone()\n\
         print(*r)\n",
        run.path("out").display()
    );
    let res = std::process::Command::new(python).arg("-c").arg(q).output().unwrap();
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let text = String::from_utf8(res.stdout).unwrap();
    let f: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(f[0], "16", "4 metrics × 4 layer groups");
    let (neg_min, neg_max, stress_min): (f64, f64, f64) =
        (f[1].parse().unwrap(), f[2].parse().unwrap(), f[3].parse().unwrap());
    assert!(neg_min >= 0.0 && neg_max < 1.0 && stress_min >= 0.0);
    assert!(f[4].parse::<usize>().unwrap() >= 16, "the full spectrum is kept");
    assert_eq!(f[5], "True");
}

/// Random 30 × 3 representations m{ids}, and the manifest naming them.
fn write_models(run: &RunDir, ids: std::ops::Range<u64>) -> String {
    let mut manifest = String::from("model_id,layer,uri\n");
    for k in ids {
        run.write(&format!("acts/m{k:02}.npy"), npy(30, 3, &random_matrix(30, 3, 100 + k)));
        manifest.push_str(&format!("m{k:02},fc,acts/m{k:02}.npy\n"));
    }
    manifest
}

#[test]
fn landmark_embedding_places_new_models_without_moving_old_ones() {
    let run = RunDir::new();
    run.write("manifest.csv", write_models(&run, 0..20));
    let config = "[input]\nmanifest = \"manifest.csv\"\n[output]\nuri = \"out\"\n\
        [[metrics]]\nname = \"procrustes\"\nkind = \"shape\"\nalpha = 1.0\n\
        [embedding]\ndims = 3\nmethod = \"landmark\"\nlandmarks = 8\n";
    run.write("config.toml", config);
    assert_success(&run.run(&[]));
    let before = embeddings(&run, 3);
    assert_eq!(before.len(), 20);
    assert_eq!(before.values().filter(|(m, _, _)| m == "landmark").count(), 8);
    assert_eq!(before.values().filter(|(m, _, _)| m == "placed").count(), 12);
    let set = before.values().next().unwrap().2.clone().expect("landmark set recorded on every row");
    // five models arrive
    run.write("manifest.csv", write_models(&run, 0..25));
    assert_success(&run.run(&[]));
    let after = embeddings(&run, 3);
    assert_eq!(after.len(), 25);
    for (key, (method, coords, s)) in &before {
        let (m2, c2, s2) = &after[key];
        assert_eq!((method, s), (m2, s2), "{key:?} keeps its role and landmark set");
        for (a, b) in coords.iter().zip(c2) {
            assert!((a - b).abs() < 1e-10, "{key:?} did not move: {a} vs {b}");
        }
    }
    let new: Vec<_> = after.iter().filter(|(k, _)| !before.contains_key(*k)).collect();
    assert_eq!(new.len(), 5);
    assert!(new.iter().all(|(_, (m, _, s))| m == "placed" && s.as_ref() == Some(&set)));
    // a full re-embed is a flag away: new landmarks among all 25
    assert_success(&run.run(&["--reembed"]));
    let fresh = embeddings(&run, 3);
    assert_eq!(fresh.values().filter(|(m, _, _)| m == "landmark").count(), 8);
}
