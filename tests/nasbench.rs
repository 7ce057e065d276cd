//! The NAS-Bench-101 zoo end to end: `repspace zoo configs/zoo_nasbench_small.toml` trains
//! 6 distinct cells the same, byte for byte, on one thread and on two; the manifest carries
//! the benchmark's columns, consistent with the files; and `repspace run` compares the
//! pooled stack outputs with `shape` and the spatial ones with `conv_shape`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::*;
use repspace_store::npy::read_npz_member;
use repspace_store::safetensors::parse_safetensors;
use repspace_store::{Location, Manifest, Storage};

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(dir).unwrap().display().to_string(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Train the small zoo into `<run>/<name>` with `threads` networks at once and as many
/// threads inside candle.
fn train_small_zoo(run: &RunDir, name: &str, threads: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(repo_dir().join("configs/zoo_nasbench_small.toml")).unwrap();
    let line = "out = \"out/zoo_nasbench_small\"";
    assert!(text.contains(line) && text.contains("kind = \"nasbench101\"") && text.contains("cells = 6"));
    let config = run.write(&format!("{name}.toml"), text.replace(line, &format!("out = \"{name}\"")));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_repspace"))
        .args(["zoo", path_str(&config), "-j", threads])
        .env("RAYON_NUM_THREADS", threads)
        .env("RUST_LOG", "error")
        .output()
        .expect("the repspace binary runs");
    assert_success(&out);
    run.path(name)
}

#[test]
fn the_small_nasbench_zoo_trains_deterministically_and_is_compared_by_shape_and_conv_shape() {
    let run = RunDir::new();
    let one = train_small_zoo(&run, "one", "1");
    let two = train_small_zoo(&run, "two", "2");
    let (fa, fb) = (files(&one), files(&two));
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (name, bytes) in &fa {
        assert!(bytes == &fb[name], "{name} differs between 1 and 2 threads");
    }
    // 6 cells × 2 checkpoints, each a .npz and a .safetensors; the probe labels; the manifest
    assert_eq!(fa.len(), 24 + 2, "{:?}", fa.keys().collect::<Vec<_>>());

    let storage = Storage::new().unwrap();
    let m = Manifest::load(&storage, &Location::from_path(&one.join("manifest.csv")).unwrap()).unwrap();
    let col = |row: &repspace_store::ManifestRow, name: &str| -> String {
        let j = m.metadata_columns.iter().position(|c| c == name).unwrap_or_else(|| panic!("no column {name}"));
        row.metadata[j].clone().unwrap_or_default()
    };
    assert_eq!(m.rows.len(), 12 * 4, "4 layers per model");
    let mut hashes = BTreeSet::new();
    let mut trained = Vec::new();
    for row in &m.rows {
        let hash = col(row, "module_hash");
        assert!(hash.len() == 32 && hash.chars().all(|c| c.is_ascii_hexdigit()), "{hash}");
        hashes.insert(hash);
        let adjacency: Vec<Vec<u8>> = serde_json::from_str(&col(row, "module_adjacency")).unwrap();
        let ops: Vec<String> = serde_json::from_str(&col(row, "module_operations")).unwrap();
        let n = ops.len();
        assert!((2..=7).contains(&n) && adjacency.len() == n, "{ops:?}");
        assert_eq!((ops[0].as_str(), ops[n - 1].as_str()), ("input", "output"));
        let edges: usize = adjacency.iter().flatten().map(|&v| v as usize).sum();
        assert!(edges <= 9 && edges.to_string() == col(row, "edges"));
        let epoch: usize = col(row, "epoch").parse().unwrap();
        let accuracy: f64 = col(row, "test_accuracy").parse().unwrap();
        assert!((0.0..=1.0).contains(&accuracy));
        if epoch == 2 && row.layer == "stack0" {
            trained.push(accuracy);
        }

        // the parameter count is the number of trainable values the weights file holds
        let weights = parse_safetensors(&std::fs::read(one.join(col(row, "weights"))).unwrap()).unwrap();
        let trainable: usize = weights.iter().filter(|(k, _)| !k.contains(".moving_")).map(|(_, t)| t.data.len()).sum();
        assert_eq!(trainable.to_string(), col(row, "trainable_parameters"), "{}", row.model_id);

        // stack<k>: [images, h, w, c]; stack<k>_pool: its mean over h and w
        assert_eq!(row.uri_text, format!("models/{}.npz", row.model_id));
        let npz = std::fs::read(one.join(&row.uri_text)).unwrap();
        let key = row.key.clone().unwrap();
        let a = read_npz_member(&npz, &key).unwrap();
        let k: usize = key.trim_start_matches("stack").trim_end_matches("_pool").parse().unwrap();
        let side = 8 >> k;
        let channels = 8 << k;
        if key.ends_with("_pool") {
            assert_eq!(a.shape, vec![100, channels]);
            let spatial = read_npz_member(&npz, &format!("stack{k}")).unwrap();
            let (i, c) = (37, channels - 1);
            let mean: f64 = (0..side * side).map(|p| spatial.data[(i * side * side + p) * channels + c]).sum::<f64>()
                / (side * side) as f64;
            assert!((a.data[i * channels + c] - mean).abs() < 1e-5, "{} {key}", row.model_id);
        } else {
            assert_eq!(a.shape, vec![100, side, side, channels]);
        }
    }
    assert_eq!(hashes.len(), 6, "six non-isomorphic cells");
    assert_eq!(trained.len(), 6);
    assert!(trained.iter().any(|&a| a > 0.3), "two epochs of training learn something (chance: 0.1): {trained:?}");

    // shape on the pooled layers, conv_shape on the spatial ones, every pair within a layer
    run.write(
        "nasbench.toml",
        format!(
            "[input]\nmanifest = \"{}\"\n[output]\nuri = \"out\"\n[pairs]\nscope = \"within_layer\"\n\
             [[metrics]]\nname = \"procrustes\"\nkind = \"shape\"\nalpha = 1.0\n\
             [[metrics]]\nname = \"conv_procrustes\"\nkind = \"conv_shape\"\nalpha = 1.0\n",
            one.join("manifest.csv").display()
        ),
    );
    let out = repspace(&["run", path_str(&run.path("nasbench.toml")), "--quiet", "-w", "2"]);
    assert!(out.status.code() == Some(0) || out.status.code() == Some(2), "{out:?}");
    let rows = run.distances();
    let count = |metric: &str, layer: &str| rows.iter().filter(|r| r.metric == metric && r.layer_a == layer).count();
    for layer in ["stack0_pool", "stack1_pool"] {
        assert_eq!(count("procrustes", layer), 66, "{layer}: every pair of 12 models");
    }
    for layer in ["stack0", "stack1"] {
        assert_eq!(count("conv_procrustes", layer), 66, "{layer}: every pair of 12 models");
        assert!(rows.iter().filter(|r| r.layer_a == layer).all(|r| r.shift_y.is_some()));
    }
    assert!(rows.iter().all(|r| r.distance.is_finite() && r.distance >= 0.0));
    // a network at initialisation and after training differ
    assert!(rows.iter().any(|r| r.distance > 0.05), "{:?}", rows.iter().map(|r| r.distance).collect::<Vec<_>>());

    // `[input] layers`: only the named layers take part, so no wrong-rank errors; the
    // distances are those of the run over every layer
    let pooled = RunDir::new();
    let config = |layers: &str| {
        format!(
            "[input]\nmanifest = \"{}\"\nlayers = {layers}\n[output]\nuri = \"out\"\n[pairs]\nscope = \"within_layer\"\n\
             [[metrics]]\nname = \"procrustes\"\nkind = \"shape\"\nalpha = 1.0\n",
            one.join("manifest.csv").display()
        )
    };
    let out = repspace(&[
        "run",
        path_str(&pooled.write("pooled.toml", config("[\"stack0_pool\", \"stack1_pool\"]"))),
        "--quiet",
    ]);
    assert_success(&out);
    assert!(pooled.errors().is_empty(), "{:?}", pooled.errors());
    let got = pooled.distances();
    assert_eq!(got.len(), 2 * 66);
    for r in &got {
        let all = rows.iter().find(|s| {
            s.metric == "procrustes" && (&s.model_a, &s.model_b, &s.layer_a) == (&r.model_a, &r.model_b, &r.layer_a)
        });
        assert_eq!(all.map(|s| s.distance), Some(r.distance), "{} {} {}", r.model_a, r.model_b, r.layer_a);
    }
    // a layer no row has is an error naming it, not a silent empty run
    let out = repspace(&["run", path_str(&pooled.write("typo.toml", config("[\"stack9_pool\"]"))), "--quiet"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("stack9_pool"), "{out:?}");
}
