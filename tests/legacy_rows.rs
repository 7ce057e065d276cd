//! Rows written before the metric fingerprint was versioned stay reusable: the output in
//! `tests/data/legacy_v0_1/out` was written by repspace 0.1 (commit 6615014) from the
//! config beside it. Running today's binary on it must compute nothing, copy every row
//! bit for bit, and reuse every path.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use repspace_store::Storage;
use repspace_store::tables::read_table;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// (metric, model_a, layer_a, model_b, layer_b) → (distance bits, distance_test bits, metric_spec).
fn distance_table(run: &RunDir) -> BTreeMap<(String, String, String, String, String), (u64, Option<u64>, String)> {
    run.distances()
        .into_iter()
        .map(|r| {
            (
                (r.metric, r.model_a, r.layer_a, r.model_b, r.layer_b),
                (r.distance.to_bits(), r.distance_test.map(f64::to_bits), r.metric_spec),
            )
        })
        .collect()
}

#[test]
fn rows_of_repspace_0_1_are_reused_bit_for_bit() {
    let run = RunDir::new();
    copy_dir(&repo_dir().join("tests/data/legacy_v0_1"), run.dir.path());
    let before = distance_table(&run);
    let paths_before: usize =
        read_table(&Storage::new().unwrap(), &run.out(), "path_summary").unwrap().iter().map(|b| b.num_rows()).sum();
    assert!(before.len() > 300 && paths_before == 5 * 4, "the committed output is whole");

    let out = run.run(&["--run-id", "after-versioning"]);
    assert_success(&out);
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.path("out/_runs/after-versioning.json")).expect("the run record"))
            .expect("json");
    assert_eq!(record["computed"], 0, "every pair is reused: {record}");
    assert!(record["reused"].as_u64().unwrap_or(0) as usize >= 10 * 3 * 10, "{record}");
    assert_eq!(distance_table(&run), before, "the same rows, bit for bit, with the same fingerprints");
    let summaries = read_table(&Storage::new().unwrap(), &run.out(), "path_summary").unwrap();
    let keys = |batches: &[arrow_array::RecordBatch]| -> Vec<String> {
        use arrow_array::cast::AsArray;
        let mut k: Vec<String> = batches
            .iter()
            .flat_map(|b| {
                b.column_by_name("run_id")
                    .unwrap()
                    .as_string::<i32>()
                    .iter()
                    .map(|v| v.unwrap().to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        k.sort();
        k
    };
    // copied paths keep the run id that computed them
    assert!(keys(&summaries).iter().all(|r| r != "after-versioning"), "paths were reused, not recomputed");
}
