//! Append-stable tiles: each run touches only the tile parts of the blocks that changed,
//! checked by which part files appear, disappear or keep their bytes; and representations
//! of equal content are compared once, with bit-equal rows.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;

const METRIC: &str = "[[metrics]]\nname = \"procrustes\"\nkind = \"shape\"\n";

/// The tile parts of `distances`: name → bytes.
fn tile_parts(run: &RunDir) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(run.path("out/distances"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().starts_with("tile-"))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect()
}

/// (computed, reused) from the run record.
fn record(run: &RunDir, id: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(run.path(&format!("out/_runs/{id}.json"))).unwrap()).unwrap()
}

fn run_id(run: &RunDir, id: &str) -> serde_json::Value {
    assert_success(&run.run(&["--run-id", id, "-w", "2"]));
    record(run, id)
}

/// (model_a, model_b) → distance bits.
fn table(run: &RunDir) -> BTreeMap<(String, String), u64> {
    run.distances().into_iter().map(|r| ((r.model_a, r.model_b), r.distance.to_bits())).collect()
}

/// What changed between two listings: (appeared, disappeared); kept parts keep their bytes.
fn changes(before: &BTreeMap<String, Vec<u8>>, after: &BTreeMap<String, Vec<u8>>) -> (usize, usize) {
    for (name, bytes) in after {
        if let Some(old) = before.get(name) {
            assert_eq!(old, bytes, "{name} was rewritten");
        }
    }
    let (b, a): (BTreeSet<&String>, BTreeSet<&String>) = (before.keys().collect(), after.keys().collect());
    (a.difference(&b).count(), b.difference(&a).count())
}

#[test]
fn adding_changing_removing_and_renaming_touch_only_their_blocks() {
    let run = RunDir::new();
    run.config("within_layer", METRIC); // tile_size = 2
    let mut zoo: Vec<(&str, u64)> =
        vec![("m0", 0), ("m1", 1), ("m2", 2), ("m3", 3), ("m4", 4), ("m5", 5), ("m6", 6), ("m7", 7)];
    write_models(&run, &zoo);
    let r = run_id(&run, "first");
    let first = tile_parts(&run);
    assert_eq!(first.len(), 4 * 5 / 2, "blocks of 2: 10 tiles");
    assert_eq!(r["computed"], 28);

    // a model arrives: it starts block 4; the 10 old tiles stay as they are, 4 new appear
    // (its diagonal tile has no pair)
    zoo.push(("m8", 8));
    write_models(&run, &zoo);
    let r = run_id(&run, "add");
    let added = tile_parts(&run);
    assert_eq!(changes(&first, &added), (4, 0));
    assert_eq!((r["computed"].as_u64(), r["reused"].as_u64()), (Some(8), Some(28)));
    assert_eq!(r["kept_tiles"], 10);

    // m3's file changes: the 5 tiles of its block (1) are replaced; only m3's 8 pairs are scored
    zoo[3] = ("m3", 103);
    write_models(&run, &zoo);
    let r = run_id(&run, "change");
    let changed = tile_parts(&run);
    assert_eq!(changes(&added, &changed), (5, 5));
    assert_eq!((r["computed"].as_u64(), r["reused"].as_u64()), (Some(8), Some(28)));

    // m5 leaves: its block (2) has a hole, its 5 tiles are replaced by 4 (m4 alone has no
    // diagonal pair), nothing is scored
    zoo.remove(5);
    write_models(&run, &zoo);
    let r = run_id(&run, "remove");
    let removed = tile_parts(&run);
    assert_eq!(changes(&changed, &removed), (4, 5));
    assert_eq!(r["computed"], 0);
    assert_eq!(run.distances().len(), 8 * 7 / 2);

    // m6 is renamed: it leaves block 3 and joins a new block
    let pos = zoo.iter().position(|(n, _)| *n == "m6").unwrap();
    zoo[pos] = ("z6", 6);
    write_models(&run, &zoo);
    let r = run_id(&run, "rename");
    let renamed = tile_parts(&run);
    let (appeared, disappeared) = changes(&removed, &renamed);
    assert_eq!(disappeared, 5, "block 3's tiles");
    assert_eq!(appeared, 4 + 5, "block 3 again (m7 alone: no diagonal pair) and the new block 5");
    // its pairs are copied by content, except the two whose orientation the new name flips
    // (z6 sorts after m7 and m8): a row's arithmetic follows its orientation
    assert_eq!(r["computed"], 2, "{r}");

    // the history equals one fresh run on the final zoo, bit for bit
    let fresh = RunDir::new();
    fresh.config("within_layer", METRIC);
    write_models(&fresh, &zoo);
    run_id(&fresh, "fresh");
    assert_eq!(table(&run), table(&fresh));
    // nothing unchanged is rewritten by a rerun, and a rerun scores nothing
    let r = run_id(&run, "again");
    assert_eq!(changes(&renamed, &tile_parts(&run)), (0, 0));
    assert_eq!(r["computed"], 0);
}

#[test]
fn equal_contents_are_compared_once_with_bit_equal_rows() {
    let run = RunDir::new();
    run.config("all", METRIC);
    // c is a copy of a, d a copy of b, each in another layer
    run.write("acts/a.npy", npy(30, 5, &random_matrix(30, 5, 1)));
    run.write("acts/b.npy", npy(30, 6, &random_matrix(30, 6, 2)));
    run.write("acts/x.npy", npy(30, 4, &random_matrix(30, 4, 3)));
    run.write(
        "manifest.csv",
        "model_id,layer,uri\na,l1,acts/a.npy\nb,l1,acts/b.npy\nx,l1,acts/x.npy\nc,l2,acts/a.npy\nd,l2,acts/b.npy\n",
    );
    let r = run_id(&run, "dups");
    let t = table(&run);
    assert_eq!(t.len(), 10);
    assert!(r["deduplicated"].as_u64().unwrap() >= 3, "(c, x) as (a, x), (d, x) as (b, x), (c, d) as (a, b): {r}");
    assert_eq!(r["computed"].as_u64().unwrap() + r["deduplicated"].as_u64().unwrap(), 10);
    let d = |p: &str, q: &str| t[&(p.to_string(), q.to_string())];
    assert_eq!(d("c", "x"), d("a", "x"));
    assert_eq!(d("d", "x"), d("b", "x"));
    assert_eq!(d("c", "d"), d("a", "b"));
    // the same rows as a zoo without copies computes
    let plain = RunDir::new();
    plain.config("all", METRIC);
    plain.write("acts/a.npy", npy(30, 5, &random_matrix(30, 5, 1)));
    plain.write("acts/b.npy", npy(30, 6, &random_matrix(30, 6, 2)));
    plain.write("acts/x.npy", npy(30, 4, &random_matrix(30, 4, 3)));
    plain.write("manifest.csv", "model_id,layer,uri\na,l1,acts/a.npy\nb,l1,acts/b.npy\nx,l1,acts/x.npy\n");
    run_id(&plain, "plain");
    for (k, v) in table(&plain) {
        assert_eq!(t[&k], v, "{k:?}");
    }
}

/// Files older than the run that read them (by more than the clock's resolution) are not
/// read again while their size, time and e-tag match the registry; a tile to compute still
/// gets their factors (read then), and the rows equal a fresh run's.
#[test]
fn unchanged_old_files_are_not_read_again() {
    let run = RunDir::new();
    run.config("within_layer", METRIC);
    let mut zoo: Vec<(&str, u64)> = (0..5).map(|k| (["m0", "m1", "m2", "m3", "m4"][k], k as u64)).collect();
    write_models(&run, &zoo);
    let age = |run: &RunDir| {
        let status = std::process::Command::new("touch")
            .args(["-d", "2020-01-01 00:00:00"])
            .args(std::fs::read_dir(run.path("acts")).unwrap().map(|e| e.unwrap().path()))
            .status()
            .unwrap();
        assert!(status.success());
    };
    age(&run);
    let r = run_id(&run, "first");
    assert_eq!(r["unread"], 0);
    let r = run_id(&run, "again");
    assert_eq!((r["unread"].as_u64(), r["computed"].as_u64()), (Some(5), Some(0)), "{r}");
    // a new model: its tiles need the unread files' factors, which are read now
    zoo.push(("m5", 5));
    write_models(&run, &zoo);
    age(&run);
    let r = run_id(&run, "add");
    assert_eq!((r["unread"].as_u64(), r["computed"].as_u64()), (Some(5), Some(5)), "{r}");
    let fresh = RunDir::new();
    fresh.config("within_layer", METRIC);
    write_models(&fresh, &zoo);
    run_id(&fresh, "fresh");
    assert_eq!(table(&run), table(&fresh));
    // a rewritten file has a new time: read again, and its pairs computed
    run.write("acts/m2.npy", npy(30, 5, &random_matrix(30, 5, 99)));
    let r = run_id(&run, "rewrite");
    assert_eq!(r["unread"], 5, "{r}");
    assert_eq!(r["computed"], 5);
}
