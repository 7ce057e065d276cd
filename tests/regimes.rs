//! Learning regimes end to end, on a small version of configs/regimes.toml: the zoo trains
//! rich and lazy networks from the same initial draws and records how far each moved; the
//! run compares them with Procrustes, CKA and MSA; the report draws the regime figures; and
//! scripts/analyze_regimes.py reads the tables.

mod common;

use std::collections::BTreeMap;

use common::*;
use repspace_store::{Location, Manifest, Storage};

/// configs/regimes.toml and configs/zoo_regimes.toml in a temp dir, with a smaller grid.
fn small_regimes_job(run: &RunDir) -> std::path::PathBuf {
    let zoo = std::fs::read_to_string(repo_dir().join("configs/zoo_regimes.toml")).unwrap();
    let small = zoo
        .replace("seeds = [0, 1, 2, 3, 4, 5, 6, 7]", "seeds = [0, 1, 2]")
        .replace("checkpoints = [40]", "checkpoints = [0, 8]")
        .replace("test_size = 500", "test_size = 120");
    assert!(
        small.contains("seeds = [0, 1, 2]\n") && small.contains("checkpoints = [0, 8]"),
        "zoo_regimes.toml changed shape"
    );
    run.write("zoo_regimes.toml", small);
    let job = std::fs::read_to_string(repo_dir().join("configs/regimes.toml")).unwrap();
    assert!(job.contains("zoo = \"zoo_regimes.toml\"") && job.contains("kind = \"msa\""), "regimes.toml changed shape");
    run.write("regimes.toml", job)
}

#[test]
fn regimes_differ_in_laziness_and_every_measure_is_compared_and_drawn() {
    let run = RunDir::new();
    let config = small_regimes_job(&run);
    let out = repspace(&["run", path_str(&config), "-w", "2"]);
    assert!(out.status.code() == Some(0) || out.status.code() == Some(2), "{out:?}");

    // the manifest's laziness columns: zero at initialisation; each seed's rich network moved
    // further than its lazy twin (same initial weights) in weights and in kernel
    let storage = Storage::new().unwrap();
    let m = Manifest::load(&storage, &Location::from_path(&run.path("out/zoo_regimes/manifest.csv")).unwrap()).unwrap();
    let col = |row: &repspace_store::ManifestRow, name: &str| -> f64 {
        let j = m.metadata_columns.iter().position(|c| c == name).unwrap_or_else(|| panic!("no column {name}"));
        row.metadata[j].as_deref().unwrap().parse().unwrap()
    };
    let text = |row: &repspace_store::ManifestRow, name: &str| -> String {
        let j = m.metadata_columns.iter().position(|c| c == name).unwrap();
        row.metadata[j].clone().unwrap()
    };
    let mut by_seed: BTreeMap<(String, String), f64> = BTreeMap::new();
    let mut kernel: BTreeMap<(String, String), f64> = BTreeMap::new();
    for row in m.rows.iter().filter(|r| r.layer == "logits") {
        let epoch = col(row, "epoch");
        if epoch == 0.0 {
            for c in [
                "weight_change_fc1",
                "weight_change_fc2",
                "weight_change_out",
                "hidden_weight_change",
                "kernel_distance",
            ] {
                assert_eq!(col(row, c), 0.0, "{} {c} at initialisation", row.model_id);
            }
            assert_eq!(col(row, "label_alignment"), col(row, "label_alignment_init"));
        } else {
            let key = (text(row, "regime"), text(row, "seed"));
            by_seed.insert(key.clone(), col(row, "hidden_weight_change"));
            kernel.insert(key, col(row, "kernel_distance"));
        }
    }
    for seed in ["0", "1", "2"] {
        let (rich, lazy) = (("rich".to_string(), seed.to_string()), ("lazy".to_string(), seed.to_string()));
        assert!(by_seed[&rich] > 5.0 * by_seed[&lazy], "seed {seed}: {by_seed:?}");
        assert!(kernel[&rich] > kernel[&lazy], "seed {seed}: {kernel:?}");
    }

    // every pair of final networks by each measure, and the regime figures
    let rows = run_distances(&run);
    let finals = 9; // 3 regimes × 3 seeds at epoch 8
    let pairs = |metric: &str, layer: &str| {
        rows.iter()
            .filter(|r| {
                r.metric == metric && r.layer_a == layer && r.model_a.ends_with("-e8") && r.model_b.ends_with("-e8")
            })
            .count()
    };
    assert_eq!(pairs("msa", "logits"), finals * (finals - 1) / 2);
    assert_eq!(pairs("procrustes", "hidden2"), finals * (finals - 1) / 2);
    for stem in ["regimes_mds_msa", "regimes_mds_procrustes", "regimes_mds_cka", "zoo_mds_regime"] {
        let png = run.path(&format!("out/regimes/report/{stem}.png"));
        assert!(std::fs::metadata(&png).map(|m| m.len() > 1000).unwrap_or(false), "{} missing", png.display());
    }

    // the analysis script reads the tables and prints a row per measure
    let analysis = std::process::Command::new(python())
        .arg(repo_dir().join("scripts/analyze_regimes.py"))
        .arg(run.path("out/regimes"))
        .args(["--permutations", "50"])
        .output()
        .expect("python runs");
    let said = String::from_utf8_lossy(&analysis.stdout);
    assert!(analysis.status.success(), "{said}\n{}", String::from_utf8_lossy(&analysis.stderr));
    for needle in ["msa@", "procrustes@hidden2", "cka@hidden2", "laziness by regime", "rich:", "lazy:"] {
        assert!(said.contains(needle), "analysis lacks {needle:?}:\n{said}");
    }
}

fn run_distances(run: &RunDir) -> Vec<repspace_store::tables::DistanceRow> {
    repspace_store::tables::read_distances(
        &Storage::new().unwrap(),
        &Location::from_path(&run.path("out/regimes")).unwrap(),
    )
    .unwrap()
}
