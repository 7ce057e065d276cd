//! Exactly-once, resumable: a run killed with SIGKILL at several moments (loading, mid-
//! pairs, publishing), followed by a rerun of the same command, ends with the tables of an
//! uninterrupted run: same rows, no duplicates, no gaps.

mod common;

use std::collections::BTreeMap;

use common::*;

fn zoo(run: &RunDir) {
    let mut manifest = String::from("model_id,layer,uri\n");
    for k in 0..36u64 {
        run.write(&format!("acts/m{k:02}.npy"), npy(200, 40, &random_matrix(200, 40, k)));
        manifest.push_str(&format!("m{k:02},fc,acts/m{k:02}.npy\n"));
    }
    run.write("manifest.csv", manifest);
    run.write(
        "config.toml",
        "[input]\nmanifest = \"manifest.csv\"\n[output]\nuri = \"out\"\n\
         [execution]\ntile_size = 6\nflush_rows = 60\n\
         [[metrics]]\nname = \"shape\"\nkind = \"shape\"\nalpha = 0.5\n\
         [[metrics]]\nname = \"perm\"\nkind = \"permutation\"\n",
    );
}

fn table(run: &RunDir) -> BTreeMap<(String, String, String), (u64, String, String)> {
    let mut t = BTreeMap::new();
    for r in run.distances() {
        let old = t.insert((r.metric, r.model_a, r.model_b), (r.distance.to_bits(), r.hash_a, r.hash_b));
        assert!(old.is_none(), "duplicate row");
    }
    t
}

fn command(run: &RunDir) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_repspace"));
    c.args(["run", path_str(&run.path("config.toml")), "-w", "2", "--quiet"]).env("RUST_LOG", "error");
    c
}

#[test]
fn killed_runs_resume_to_the_uninterrupted_tables() {
    let reference = RunDir::new();
    zoo(&reference);
    let start = std::time::Instant::now();
    assert_success(&command(&reference).output().unwrap());
    let full_time = start.elapsed();
    let want = table(&reference);
    assert_eq!(want.len(), 2 * 36 * 35 / 2);

    for fraction in [0.1, 0.4, 0.7, 0.95] {
        let run = RunDir::new();
        zoo(&run);
        let mut child = command(&run).spawn().unwrap();
        std::thread::sleep(full_time.mul_f64(fraction));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        // the same command again finishes the missing work
        let out = command(&run).output().unwrap();
        assert_success(&out);
        let got = table(&run);
        assert_eq!(got.len(), want.len(), "killed at {fraction:.0e} of the run: no gaps");
        assert_eq!(got, want, "killed at {fraction} of the run: same rows, bit for bit");
        assert!(!run.path("out/_lock").exists());
    }
}
