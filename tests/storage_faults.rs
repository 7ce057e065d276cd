//! Storage faults (`REPSPACE_INJECT_FAULTS`, store `faults.rs`): runs whose puts, gets and
//! lists fail at random either commit exactly the tables of a fault-free run, or exit with a
//! clear error leaving every committed row in place and every file readable (or, exit 2, name
//! the input a fault kept them from reading); a fault-free rerun always recovers.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;

const METRICS: &str =
    "[[metrics]]\nname = \"procrustes\"\nkind = \"shape\"\n[[metrics]]\nname = \"cka\"\nkind = \"cka\"\n";

fn write_zoo(run: &RunDir, models: usize) {
    let mut manifest = String::from("model_id,layer,uri\n");
    for k in 0..models {
        run.write(&format!("acts/m{k}.npy"), npy(25, 6, &random_matrix(25, 6, k as u64)));
        manifest.push_str(&format!("m{k},fc,acts/m{k}.npy\n"));
    }
    run.write("manifest.csv", manifest);
}

/// Every row of distances and models, as comparable text (values by their bits).
fn tables(out: &Path) -> BTreeMap<String, usize> {
    let storage = repspace_store::Storage::new().unwrap();
    let loc = repspace_store::Location::from_path(out).unwrap();
    let mut rows = BTreeMap::new();
    for r in repspace_store::tables::read_distances(&storage, &loc).unwrap() {
        let key =
            format!("{} {} {} {:x} {:?}", r.metric, r.model_a, r.model_b, r.distance.to_bits(), r.test_underdetermined);
        *rows.entry(key).or_insert(0) += 1;
    }
    for b in repspace_store::tables::read_table(&storage, &loc, "models").unwrap() {
        use arrow_array::cast::AsArray;
        let (ids, hashes) = (
            b.column_by_name("model_id").unwrap().as_string::<i32>(),
            b.column_by_name("content_hash").unwrap().as_string::<i32>(),
        );
        for i in 0..b.num_rows() {
            *rows.entry(format!("model {} {}", ids.value(i), hashes.value(i))).or_insert(0) += 1;
        }
    }
    rows
}

fn run_with(dir: &RunDir, faults: Option<&str>, id: &str) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_repspace"));
    cmd.args(["run", path_str(&dir.path("config.toml")), "--quiet", "-w", "2", "--run-id", id]).env("RUST_LOG", "warn");
    if let Some(f) = faults {
        cmd.env("REPSPACE_INJECT_FAULTS", f);
    }
    cmd.output().unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn runs_commit_exact_tables_or_fail_cleanly_under_injected_faults() {
    // the reference: a fault-free history of 8 then 12 models
    let reference = RunDir::new();
    reference.config("within_layer", METRICS);
    write_zoo(&reference, 8);
    assert_success(&run_with(&reference, None, "r8"));
    let before = tables(&reference.path("out"));
    let committed = reference.path("committed-8");
    copy_dir(&reference.path("out"), &committed);
    write_zoo(&reference, 12);
    assert_success(&run_with(&reference, None, "r12"));
    let after = tables(&reference.path("out"));
    assert_eq!(after.values().sum::<usize>(), 12 * 11 / 2 * 2 + 12);

    let (mut injected, mut exact, mut failed, mut partial, mut recovered) = (0, 0, 0, 0, 0);
    let cases = [(0.02, 0..12), (0.3, 100..108)];
    for (rate, seeds) in cases {
        for seed in seeds {
            let run = RunDir::new();
            run.config("within_layer", METRICS);
            write_zoo(&run, 12);
            copy_dir(&committed, &run.path("out"));
            let faults = format!("seed={seed},put={rate},get={rate},list={rate}");
            let out = run_with(&run, Some(&faults), &format!("faulty{seed}"));
            let stderr = String::from_utf8_lossy(&out.stderr);
            injected += stderr.lines().filter(|l| l.contains("injected fault")).count();
            match out.status.code() {
                Some(0) => {
                    assert_eq!(
                        tables(&run.path("out")),
                        after,
                        "seed {seed}: a run that succeeds commits the exact tables"
                    );
                    exact += 1;
                }
                Some(2) => {
                    // a fault kept it from reading an input, even after retries: the errors say so
                    let errors = run.errors();
                    assert!(
                        !errors.is_empty() && errors.iter().all(|e| e.message.contains("injected")),
                        "seed {seed}: {errors:?}"
                    );
                    partial += 1;
                }
                Some(1) => {
                    assert!(
                        stderr.contains("error:") && stderr.contains("injected"),
                        "seed {seed}: a clear error:\n{stderr}"
                    );
                    // every committed row is still there (a failed run adds parts, deletes none)
                    let now = tables(&run.path("out"));
                    for (row, n) in &before {
                        assert!(now.get(row).is_some_and(|m| m >= n), "seed {seed}: {row} was lost");
                    }
                    failed += 1;
                }
                other => panic!("seed {seed}: exit {other:?}\n{stderr}"),
            }
            // a fault-free rerun recovers the exact tables, whatever happened
            let out = run_with(&run, None, &format!("rerun{seed}"));
            assert_success(&out);
            assert_eq!(tables(&run.path("out")), after, "seed {seed}: the rerun recovers");
            recovered += 1;
        }
    }
    eprintln!(
        "storage faults: {} runs, {injected} faults injected; {exact} committed exact tables, {partial} ended \
         with input errors, {failed} failed cleanly; {recovered} recovered by a fault-free rerun",
        exact + partial + failed
    );
    assert_eq!(recovered, 20);
    assert!(injected > 20, "faults were injected: {injected}");
    assert!(exact > 0 && failed > 0, "both outcomes seen: {exact} exact, {failed} failed");
}
