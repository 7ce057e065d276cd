//! Incremental runs: a rerun reuses every pair whose metric parameters and content hashes
//! are unchanged, computes only the new ones, and the tables equal a fresh full run's.

mod common;

use std::collections::BTreeMap;

use common::*;

const METRICS: &str = "[[metrics]]\nname = \"procrustes\"\nkind = \"shape\"\nalpha = 1.0\n\
    [[metrics]]\nname = \"cka\"\nkind = \"cka\"\n";

fn write_zoo(run: &RunDir, models: u64, changed: Option<u64>) {
    let mut manifest = String::from("model_id,layer,uri\n");
    for k in 0..models {
        let seed = if Some(k) == changed { 1000 + k } else { k };
        run.write(&format!("acts/m{k}.npy"), npy(25, 4, &random_matrix(25, 4, seed)));
        manifest.push_str(&format!("m{k},fc,acts/m{k}.npy\n"));
    }
    run.write("manifest.csv", manifest);
}

/// "pairs            C computed, R reused …" from the summary.
fn counts(out: &std::process::Output) -> (usize, usize) {
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.trim_start().starts_with("pairs")).expect("a pairs line");
    let nums: Vec<usize> = line.split_whitespace().filter_map(|w| w.trim_end_matches(',').parse().ok()).collect();
    (nums[0], nums[1])
}

/// The table's content without run ids: (metric, a, b) → (distance, hash_a, hash_b).
fn table(run: &RunDir) -> BTreeMap<(String, String, String), (f64, String, String)> {
    let mut t = BTreeMap::new();
    for r in run.distances() {
        let old = t.insert((r.metric, r.model_a, r.model_b), (r.distance, r.hash_a, r.hash_b));
        assert!(old.is_none(), "no duplicate rows");
    }
    t
}

fn run_it(run: &RunDir) -> std::process::Output {
    let config = run.path("config.toml");
    let out = repspace(&["run", path_str(&config), "-w", "2"]);
    assert_success(&out);
    out
}

#[test]
fn adding_two_models_computes_only_their_pairs_and_changing_a_file_recomputes_its_pairs() {
    let (k, metrics) = (5usize, 2usize);
    let run = RunDir::new();
    run.config("within_layer", METRICS);
    write_zoo(&run, k as u64, None);
    assert_eq!(counts(&run_it(&run)), (metrics * k * (k - 1) / 2, 0));

    // two models arrive: exactly 2·K + 1 new pairs per metric
    write_zoo(&run, k as u64 + 2, None);
    assert_eq!(counts(&run_it(&run)), (metrics * (2 * k + 1), metrics * k * (k - 1) / 2));
    let incremental = table(&run);

    // a fresh full run on the same zoo writes the same table
    let fresh = RunDir::new();
    fresh.config("within_layer", METRICS);
    write_zoo(&fresh, k as u64 + 2, None);
    run_it(&fresh);
    assert_eq!(incremental.len(), table(&fresh).len());
    for (key, (d, ha, hb)) in table(&fresh) {
        let (d2, ha2, hb2) = &incremental[&key];
        assert_eq!((&ha, &hb), (ha2, hb2), "{key:?}");
        assert!((d - d2).abs() < 1e-12, "{key:?}: {d} vs {d2}");
    }

    // one file changes: its 6 pairs per metric are recomputed, no stale row remains
    let n = k + 2;
    let before = table(&run);
    write_zoo(&run, n as u64, Some(3));
    assert_eq!(counts(&run_it(&run)), (metrics * (n - 1), metrics * (n - 1) * (n - 2) / 2));
    let after = table(&run);
    assert_eq!(after.len(), before.len());
    let old_hash = &before[&("cka".to_string(), "m3".to_string(), "m4".to_string())].1;
    assert!(after.values().all(|(_, ha, hb)| ha != old_hash && hb != old_hash), "the old content of m3 is gone");

    // a model is removed: nothing is computed, its rows leave the table
    let manifest = std::fs::read_to_string(run.path("manifest.csv")).unwrap();
    run.write(
        "manifest.csv",
        manifest.lines().filter(|l| !l.starts_with("m1,")).map(|l| format!("{l}\n")).collect::<String>(),
    );
    assert_eq!(counts(&run_it(&run)), (0, metrics * (n - 1) * (n - 2) / 2));
    let removed = table(&run);
    assert_eq!(removed.len(), metrics * (n - 1) * (n - 2) / 2);
    assert!(removed.keys().all(|(_, a, b)| a != "m1" && b != "m1"));

    // a model renamed without changing its file: its identity is the content, so its pairs
    // are reused under the new name
    let manifest = std::fs::read_to_string(run.path("manifest.csv")).unwrap();
    run.write("manifest.csv", manifest.replace("m6,fc,", "renamed,fc,"));
    assert_eq!(counts(&run_it(&run)), (0, metrics * (n - 1) * (n - 2) / 2));
    assert!(table(&run).keys().any(|(_, a, b)| a == "renamed" || b == "renamed"));

    // a changed metric parameter is a different metric: nothing is reused for it
    run.config("within_layer", "[[metrics]]\nname = \"procrustes\"\nkind = \"shape\"\nalpha = 0.5\n");
    assert_eq!(counts(&run_it(&run)), ((n - 1) * (n - 2) / 2, 0));
}

/// (metric, model) → (path_length bits, efficiency bits, run_id) of `path_summary`.
fn path_summaries(run: &RunDir) -> BTreeMap<(String, String), (u64, u64, String)> {
    let storage = repspace_store::Storage::new().unwrap();
    let reused = repspace_store::tables::read_reusable_paths(&storage, &run.out()).unwrap();
    reused
        .into_values()
        .map(|(s, layers)| {
            assert_eq!(layers.len() as i64, s.n_layers);
            ((s.metric, s.model_id), (s.path_length.to_bits(), s.efficiency.to_bits(), s.run_id))
        })
        .collect()
}

#[test]
fn paths_of_unchanged_models_are_kept_and_only_new_models_are_analysed() {
    let run = RunDir::new();
    let layered = |run: &RunDir, models: u64| {
        let mut manifest = String::from("model_id,layer,layer_index,uri\n");
        for k in 0..models {
            for l in 0..3u64 {
                run.write(&format!("acts/m{k}_{l}.npy"), npy(25, 4, &random_matrix(25, 4, 100 * k + l)));
                manifest.push_str(&format!("m{k},fc{l},{l},acts/m{k}_{l}.npy\n"));
            }
        }
        run.write("manifest.csv", manifest);
        run.config(
            "within_layer",
            "[[paths]]\nname = \"bures\"\nkind = \"shape\"\nscore = \"euclidean\"\n\
             [[paths]]\nname = \"cka\"\nkind = \"angular_cka\"\n",
        );
    };
    layered(&run, 3);
    run_it(&run);
    let first = path_summaries(&run);
    assert_eq!(first.len(), 2 * 3);
    layered(&run, 4);
    run_it(&run);
    let second = path_summaries(&run);
    assert_eq!(second.len(), 2 * 4);
    let first_run = &first.values().next().unwrap().2;
    for (key, value) in &second {
        if key.1 == "m3" {
            assert_ne!(&value.2, first_run, "the new model's path is analysed by the new run");
        } else {
            assert_eq!(value, &first[key], "{key:?} is copied, with its original run_id");
        }
    }
    // a fresh run writes the same values
    let fresh = RunDir::new();
    layered(&fresh, 4);
    run_it(&fresh);
    for (key, (len, eff, _)) in path_summaries(&fresh) {
        assert_eq!((len, eff), (second[&key].0, second[&key].1), "{key:?}");
    }
}

/// Run membership is the exact run id: `r1` does not own `r10`'s parts (a substring match
/// once kept them, and every pair appeared twice).
#[test]
fn runs_r10_then_r1_leave_each_pair_once() {
    let run = RunDir::new();
    run.config("within_layer", METRICS);
    write_zoo(&run, 6, None);
    for id in ["r10", "r1"] {
        let out = run.run(&["--run-id", id]);
        assert_success(&out);
    }
    let rows = run.distances();
    assert_eq!(rows.len(), 2 * 6 * 5 / 2, "each (pair, metric) once");
    assert!(rows.iter().all(|r| r.run_id == "r10"), "r1 reused r10's rows, which keep their run id");
    let parts: Vec<String> = std::fs::read_dir(run.path("out/distances"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        parts.iter().all(|p| p.starts_with("tile-") || p.starts_with("part-r1-")),
        "no part of r10 remains: {parts:?}"
    );
    assert!(run.path("out/_runs/r1.json").exists());
}
