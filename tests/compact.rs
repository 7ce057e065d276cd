//! `repspace compact OUT`: tile parts packed into bundles keep the tables' rows bit for bit;
//! later runs keep bundled tiles without reading them, reuse their rows pair by pair, write
//! back the members of a bundle they retire, and settle what an interrupted compaction left.

mod common;

use std::collections::BTreeMap;

use common::*;

const CONFIG_TAIL: &str = "[[metrics]]\nname = \"procrustes\"\nkind = \"shape\"\n[embedding]\ndims = 2\n";

/// The files of `distances/` whose name starts with `prefix`: name → bytes.
fn files(run: &RunDir, prefix: &str) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(run.path("out/distances"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect()
}

fn run_id(run: &RunDir, id: &str) -> serde_json::Value {
    assert_success(&run.run(&["--run-id", id, "-w", "2"]));
    serde_json::from_slice(&std::fs::read(run.path(&format!("out/_runs/{id}.json"))).unwrap()).unwrap()
}

fn compact(run: &RunDir, mib: &str) -> String {
    let out = repspace(&["compact", path_str(&run.path("out")), "--bundle-mib", mib]);
    assert_success(&out);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every distances row, by pair: (distance bits, hashes); panics on a pair held twice.
fn table(run: &RunDir) -> BTreeMap<(String, String), (u64, String, String)> {
    let mut t = BTreeMap::new();
    for r in run.distances() {
        let old = t.insert((r.model_a.clone(), r.model_b.clone()), (r.distance.to_bits(), r.hash_a, r.hash_b));
        assert!(old.is_none(), "({}, {}) is held twice", r.model_a, r.model_b);
    }
    t
}

/// (model_id, coordinates' bits) of the embeddings table.
fn embedding(run: &RunDir) -> BTreeMap<String, Vec<u64>> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::Float64Type;
    let mut out = BTreeMap::new();
    let batches =
        repspace_store::tables::read_table(&repspace_store::Storage::new().unwrap(), &run.out(), "embeddings").unwrap();
    for b in batches {
        let model = b.column_by_name("model_id").unwrap().as_string::<i32>().clone();
        let dims: Vec<_> = (0..2)
            .map(|d| b.column_by_name(&format!("dim_{d}")).unwrap().as_primitive::<Float64Type>().clone())
            .collect();
        for i in 0..b.num_rows() {
            out.insert(model.value(i).to_string(), dims.iter().map(|c| c.value(i).to_bits()).collect());
        }
    }
    out
}

fn fresh(zoo: &[(&str, u64)]) -> RunDir {
    let fresh = RunDir::new();
    fresh.config("within_layer", CONFIG_TAIL);
    write_models(&fresh, zoo);
    run_id(&fresh, "fresh");
    fresh
}

#[test]
fn compaction_keeps_the_rows_and_later_runs_keep_reuse_and_settle_bundles() {
    let run = RunDir::new();
    run.config("within_layer", CONFIG_TAIL); // tile_size = 2
    let mut zoo: Vec<(&str, u64)> =
        (0..8).map(|k| (["m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7"][k], k as u64)).collect();
    write_models(&run, &zoo);
    run_id(&run, "first");
    let before = table(&run);
    let parts = files(&run, "tile-");
    assert_eq!(parts.len(), 10);

    // about 4 KB a bundle: several bundles, no tile part left, the same rows bit for bit
    let said = compact(&run, "0.004");
    assert!(said.contains("distances: 10 tile parts"), "{said}");
    let bundles = files(&run, "bundle-");
    assert!(bundles.len() >= 2 && bundles.len() < 10, "{:?}", bundles.keys());
    assert!(files(&run, "tile-").is_empty());
    assert_eq!(table(&run), before);
    let records: Vec<_> = std::fs::read_dir(run.path("out/_compactions")).unwrap().collect();
    assert_eq!(records.len(), 1);

    // a rerun keeps every bundled tile without reading or rewriting it
    let r = run_id(&run, "again");
    assert_eq!((r["computed"].as_u64(), r["kept_tiles"].as_u64()), (Some(0), Some(10)), "{r}");
    assert_eq!(files(&run, "bundle-"), bundles);
    assert!(files(&run, "tile-").is_empty());
    assert_eq!(table(&run), before);

    // a model arrives: only its new tiles are parts; the bundles keep their bytes
    zoo.push(("m8", 8));
    write_models(&run, &zoo);
    let r = run_id(&run, "add");
    assert_eq!((r["computed"].as_u64(), r["kept_tiles"].as_u64()), (Some(8), Some(10)), "{r}");
    assert_eq!(files(&run, "bundle-"), bundles);
    assert_eq!(files(&run, "tile-").len(), 4);
    let f = fresh(&zoo);
    assert_eq!(table(&run), table(&f));
    assert_eq!(embedding(&run), embedding(&f), "the post-steps read the bundled tiles");

    // compacting again packs the 4 new parts; the earlier bundles stay as they are
    let said = compact(&run, "0.004");
    assert!(said.contains("distances: 4 tile parts"), "{said}");
    let bundles = files(&run, "bundle-");
    assert!(files(&run, "tile-").is_empty());
    assert_eq!(table(&run), table(&f));

    // m3 changes: its block's tiles are recomputed, scoring only m3's pairs (the others are
    // copied from the bundle's rows); the bundles that held them are retired and their other
    // tiles written back as parts
    zoo[3] = ("m3", 103);
    write_models(&run, &zoo);
    let r = run_id(&run, "change");
    assert_eq!((r["computed"].as_u64(), r["reused"].as_u64()), (Some(8), Some(28)), "{r}");
    let after = files(&run, "bundle-");
    assert!(after.len() < bundles.len(), "a bundle holding block 1 is retired");
    for (name, bytes) in &after {
        assert_eq!(Some(bytes), bundles.get(name), "{name}: a kept bundle keeps its bytes");
    }
    // the written-back parts are tile parts like any other (not carrying the bundle's index)
    let largest = parts.values().map(Vec::len).max().unwrap();
    for (name, bytes) in files(&run, "tile-") {
        assert!(bytes.len() < 2 * largest, "{name}: {} bytes, tile parts are at most {largest}", bytes.len());
    }
    let f = fresh(&zoo);
    assert_eq!(table(&run), table(&f));
    assert_eq!(embedding(&run), embedding(&f));

    // an interrupted compaction leaves a tile both packed and as a part; a damaged bundle
    // is not a bundle: the next run keeps one copy of each row and retires the rest
    compact(&run, "0.004");
    // tile (0, 0) holds m0 and m1, unchanged throughout
    let (name, bytes) = parts.iter().find(|(n, _)| n.ends_with("-0-0.parquet")).unwrap();
    run.write(&format!("out/distances/{name}"), bytes);
    run.write("out/distances/bundle-broken-00000.parquet", b"PAR1 not a bundle");
    let r = run_id(&run, "settle");
    assert_eq!(r["computed"], 0, "{r}");
    let removed: Vec<String> =
        r["removed"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    assert!(removed.iter().any(|p| p.ends_with(name.as_str())), "{removed:?}");
    assert!(removed.iter().any(|p| p.ends_with("bundle-broken-00000.parquet")), "{removed:?}");
    assert!(files(&run, "tile-").is_empty());
    assert_eq!(table(&run), table(&f));
}
