//! The digits zoo: deterministic training (same config → the same bytes), sane accuracy,
//! and files the rest of repspace reads.

use std::collections::BTreeMap;
use std::path::Path;

use repspace_store::safetensors::parse_safetensors;
use repspace_store::{Location, Manifest, Storage};
use repspace_zoo::{ZooConfig, ZooFile, build_zoo};

fn tiny(out: &str) -> ZooConfig {
    let text = format!(
        r#"[zoo]
out = "{out}"
depths = [1, 2]
widths = [64]
activations = ["relu", "tanh"]
seeds = [0]
checkpoints = [0, 3, 12]
learning_rate = 0.003
"#
    );
    toml::from_str::<ZooFile>(&text).unwrap().zoo
}

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

#[test]
fn the_same_config_trains_the_same_zoo_bit_for_bit_with_sane_accuracy() {
    let storage = Storage::new().unwrap();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let config = tiny("unused");
    // two threads the first time, one the second: scheduling must not matter
    let sa = build_zoo(&storage, &Location::from_path(a.path()).unwrap(), &config, 2).unwrap();
    let sb = build_zoo(&storage, &Location::from_path(b.path()).unwrap(), &config, 1).unwrap();
    let (fa, fb) = (files(a.path()), files(b.path()));
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (name, bytes) in &fa {
        assert!(bytes == &fb[name], "{name} differs between two trainings of the same config");
    }
    // 4 networks × 3 checkpoints, each a .safetensors and a .npz; probe, labels, 4 specs, manifest
    assert_eq!(sa.models, 12);
    assert_eq!(fa.len(), 24 + 2 + 4 + 1, "{:?}", fa.keys().collect::<Vec<_>>());
    assert_eq!(sa.final_accuracy, sb.final_accuracy);
    let best = sa.best().unwrap();
    assert!(best.1 >= 0.95, "best test accuracy {best:?}");
    assert!(sa.final_accuracy.iter().all(|(_, acc)| *acc > 0.85), "{:?}", sa.final_accuracy);

    // the manifest loads, names the layers in order, and records accuracy per checkpoint
    let manifest = Manifest::load(&storage, &Location::from_path(&a.path().join("manifest.csv")).unwrap()).unwrap();
    assert!(manifest.rejected.is_empty());
    // (depth + 2) rows per model: input, hidden layers, logits
    assert_eq!(manifest.rows.len(), (3 + 4) * 2 * 3);
    let id = "d2-w64-relu-s0-e12";
    let layers: Vec<(String, Option<i64>)> =
        manifest.rows.iter().filter(|r| r.model_id == id).map(|r| (r.layer.clone(), r.layer_index)).collect();
    let expect = [("input", 0), ("hidden1", 1), ("hidden2", 2), ("logits", 3)];
    assert_eq!(layers, expect.iter().map(|(l, i)| (l.to_string(), Some(*i as i64))).collect::<Vec<_>>());
    let text = std::fs::read_to_string(a.path().join("manifest.csv")).unwrap();
    let acc_at = |epoch: &str| -> f64 {
        let line = text.lines().find(|l| l.starts_with(&format!("d2-w64-relu-s0-e{epoch},logits"))).unwrap();
        line.rsplit(',').next().unwrap().parse().unwrap()
    };
    assert!(acc_at("0") < 0.3, "an untrained network is near chance: {}", acc_at("0"));
    assert!(acc_at("12") > acc_at("0") + 0.5);

    // weights are safetensors in PyTorch's layout [out, in]
    let weights = parse_safetensors(&fa[&format!("models/{id}.safetensors")]).unwrap();
    let shapes: BTreeMap<&str, Vec<usize>> = weights.iter().map(|(k, v)| (k.as_str(), v.shape.clone())).collect();
    assert_eq!(shapes["fc1.weight"], vec![64, 64]);
    assert_eq!(shapes["fc2.weight"], vec![64, 64]);
    assert_eq!(shapes["out.weight"], vec![10, 64]);
    assert_eq!(shapes["out.bias"], vec![10]);
}

#[test]
fn seeds_and_architectures_draw_different_networks() {
    let storage = Storage::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = tiny("unused");
    config.depths = vec![1];
    config.activations = vec![repspace_zoo::Activation::Gelu];
    config.seeds = vec![0, 1];
    config.checkpoints = vec![0];
    build_zoo(&storage, &Location::from_path(dir.path()).unwrap(), &config, 1).unwrap();
    let read = |id: &str| std::fs::read(dir.path().join(format!("models/{id}.safetensors"))).unwrap();
    assert_ne!(read("d1-w64-gelu-s0-e0"), read("d1-w64-gelu-s1-e0"));
}

#[test]
fn bad_zoo_configs_name_the_key() {
    let mut config = tiny("x");
    config.widths = vec![];
    assert!(config.validate().unwrap_err().to_string().contains("zoo.widths"));
    let mut config = tiny("x");
    config.checkpoints = vec![3, 3];
    assert!(config.validate().unwrap_err().to_string().contains("zoo.checkpoints"));
    let bad = toml::from_str::<ZooFile>(
        "[zoo]\nout='x'\ndepths=[1]\nwidths=[8]\nactivations=['swish']\nseeds=[0]\ncheckpoints=[0]\n",
    );
    assert!(bad.unwrap_err().to_string().contains("swish"));
}
