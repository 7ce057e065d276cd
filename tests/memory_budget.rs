//! `[execution] memory_budget`: tile owners load their own tiles' representations within
//! the budget (reloading as needed); the tables equal an unbudgeted run's, and reruns still
//! reuse every pair.

mod common;

use std::collections::BTreeMap;

use common::*;

const METRICS: &str = "[[metrics]]\nname = \"procrustes\"\nkind = \"shape\"\nalpha = 1.0\n\
    [[metrics]]\nname = \"cka\"\nkind = \"cka\"\n\
    [[metrics]]\nname = \"perm\"\nkind = \"permutation\"\n";

fn zoo(run: &RunDir, budget: Option<&str>) {
    let mut manifest = String::from("model_id,layer,uri\n");
    for k in 0..11u64 {
        run.write(&format!("acts/m{k}.npy"), npy(30, 5, &random_matrix(30, 5, 40 + k)));
        manifest.push_str(&format!("m{k:02},fc,acts/m{k}.npy\n"));
    }
    // one unreadable file: its pairs are skipped in both modes, with one errors row
    run.write("acts/bad.npy", b"not an npy file");
    manifest.push_str("bad,fc,acts/bad.npy\n");
    run.write("manifest.csv", manifest);
    let extra = budget.map(|b| format!("memory_budget = \"{b}\"\n")).unwrap_or_default();
    run.write(
        "config.toml",
        format!(
            "[input]\nmanifest = \"manifest.csv\"\n[output]\nuri = \"out\"\n[execution]\ntile_size = 3\n{extra}{METRICS}"
        ),
    );
}

fn table(run: &RunDir) -> BTreeMap<(String, String, String), (u64, Option<u64>, String, String)> {
    let mut t = BTreeMap::new();
    for r in run.distances() {
        let v = (r.distance.to_bits(), r.distance_test.map(f64::to_bits), r.hash_a, r.hash_b);
        assert!(t.insert((r.metric, r.model_a, r.model_b), v).is_none(), "duplicate row");
    }
    t
}

#[test]
fn a_tiny_budget_writes_the_unbudgeted_tables_bit_for_bit() {
    let (free, tight) = (RunDir::new(), RunDir::new());
    zoo(&free, None);
    zoo(&tight, Some("1KB"));
    assert_eq!(free.run(&["-w", "2"]).status.code(), Some(2), "the bad file makes exit code 2");
    assert_eq!(tight.run(&["-w", "2"]).status.code(), Some(2));
    let (a, b) = (table(&free), table(&tight));
    assert_eq!(a.len(), 3 * 11 * 10 / 2);
    assert_eq!(a, b, "budgeted and unbudgeted tables differ");
    assert_eq!(free.errors().len(), tight.errors().len());

    // a rerun under the budget reuses everything and loads nothing for the pair phase
    let out = tight.run(&["-w", "2"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(table(&tight), b);
}

#[test]
fn a_budget_that_is_not_a_size_is_refused_with_its_key() {
    let run = RunDir::new();
    zoo(&run, Some("plenty"));
    let out = run.run(&[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("memory_budget") || err.contains("plenty"), "{err}");
}
