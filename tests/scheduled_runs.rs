//! Scheduled runs (cron or Slurm's scrontab, README "Scheduled runs") on a growing manifest:
//! each run computes only the pairs of the models that arrived since the last one, its
//! record and summary say so, and a run that starts while another still holds the output
//! exits at once with a message naming that run (the next slot picks the work up).

mod common;

use common::*;

fn write_zoo(run: &RunDir, models: u64) {
    let mut manifest = String::from("model_id,layer,uri\n");
    for k in 0..models {
        run.write(&format!("acts/m{k}.npy"), npy(30, 5, &random_matrix(30, 5, k)));
        manifest.push_str(&format!("m{k},fc,acts/m{k}.npy\n"));
    }
    run.write("manifest.csv", manifest);
}

fn scheduled(run: &RunDir, id: &str) -> (serde_json::Value, String) {
    let out = repspace(&["run", path_str(&run.path("config.toml")), "-w", "2", "--run-id", id]);
    assert_success(&out);
    let record = serde_json::from_slice(&std::fs::read(run.path(&format!("out/_runs/{id}.json"))).unwrap()).unwrap();
    (record, String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn three_nightly_runs_on_a_growing_zoo_compute_only_what_is_new() {
    let run = RunDir::new();
    run.config("within_layer", "[[metrics]]\nname = \"procrustes\"\nkind = \"shape\"\n");
    let pairs = |n: u64| n * n.saturating_sub(1) / 2;
    let mut before = 0;
    for (night, models) in [(1, 6u64), (2, 9), (3, 12)] {
        write_zoo(&run, models);
        let (record, summary) = scheduled(&run, &format!("nightly-{night}"));
        let new = pairs(models) - pairs(before);
        assert_eq!(
            (record["computed"].as_u64(), record["reused"].as_u64()),
            (Some(new), Some(pairs(before))),
            "night {night}: {record}"
        );
        assert!(summary.contains(&format!("pairs            {new} computed, {} reused", pairs(before))), "{summary}");
        before = models;
        if night == 2 {
            // the next slot starts while a run still holds the output: it refuses at once
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string();
            run.write("out/_lock", format!("run_id=nightly-2b\nhost={host}\npid={}\n", std::process::id()));
            let out = repspace(&["run", path_str(&run.path("config.toml")), "--run-id", "nightly-late"]);
            assert_eq!(out.status.code(), Some(1));
            assert!(String::from_utf8_lossy(&out.stderr).contains("in use by run nightly-2b"));
            std::fs::remove_file(run.path("out/_lock")).unwrap();
        }
    }
    let records: Vec<_> = std::fs::read_dir(run.path("out/_runs")).unwrap().collect();
    assert_eq!(records.len(), 3, "one record per scheduled run; the refused one wrote none");
    assert_eq!(run.distances().len() as u64, pairs(12));
}
