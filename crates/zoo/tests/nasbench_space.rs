//! The NAS-Bench-101 search space against the benchmark's own code: pruning, validity, module
//! hashes, vertex channels and trainable-parameter counts of hand-built cells, as
//! google-research/nasbench computes them (tests/fixtures/nasbench/nasbench.json, written by
//! scripts/fixtures/nasbench_reference.py); isomorphic cells hashing equal; seeded sampling.

use std::collections::HashSet;

use repspace_zoo::nasbench::network::{CellNet, Skeleton, trainable_parameters, vertex_channels};
use repspace_zoo::nasbench::sample::sample_cells;
use repspace_zoo::nasbench::spec::{Cell, ModelSpec, Op};
use serde_json::Value;

fn fixture() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/nasbench/nasbench.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("the nasbench fixture")).expect("JSON")
}

fn matrix(v: &Value) -> Vec<Vec<u8>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u8).collect())
        .collect()
}

fn ops(v: &Value) -> Vec<Op> {
    v.as_array().unwrap().iter().map(|o| Op::parse(o.as_str().unwrap()).expect("a known op")).collect()
}

fn skeleton(net: &Value) -> Skeleton {
    let get = |k: &str| net[k].as_u64().unwrap() as usize;
    Skeleton {
        in_channels: get("in_channels"),
        stem_channels: get("stem_channels"),
        stacks: get("stacks"),
        cells_per_stack: get("cells_per_stack"),
        labels: get("labels"),
    }
}

#[test]
fn pruning_validity_and_hashes_equal_the_reference() {
    let f = fixture();
    let cases = f["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let spec = ModelSpec::new(matrix(&case["matrix"]), ops(&case["ops"])).unwrap();
        assert_eq!(spec.pruned.is_some(), case["valid_spec"].as_bool().unwrap(), "{name}: valid_spec");
        assert_eq!(spec.in_domain(), case["in_domain"].as_bool().unwrap(), "{name}: in the space");
        let Some(cell) = &spec.pruned else { continue };
        assert_eq!(cell.matrix, matrix(&case["pruned_matrix"]), "{name}: pruned matrix");
        assert_eq!(cell.ops, ops(&case["pruned_ops"]), "{name}: pruned ops");
        assert_eq!(cell.module_hash(), case["module_hash"].as_str().unwrap(), "{name}: module hash");
        let labels: Vec<i64> = cell.ops.iter().map(|op| op.hash_label()).collect();
        let expected: Vec<i64> = case["labeling"].as_array().unwrap().iter().map(|l| l.as_i64().unwrap()).collect();
        assert_eq!(labels, expected, "{name}: labels");
    }
}

#[test]
fn the_readme_cell_stored_form_and_every_relabelling_hash_alike() {
    let f = fixture();
    let readme = &f["cases"][0];
    assert_eq!(readme["name"], "readme_cell");
    let hash = readme["module_hash"].as_str().unwrap();
    // the table stores the README's cell in another vertex order (NASBench.ipynb); same hash
    let notebook = &f["cases"][1];
    assert_eq!(notebook["name"], "notebook_cell");
    let stored = ModelSpec::new(matrix(&notebook["matrix"]), ops(&notebook["ops"])).unwrap();
    assert_eq!(stored.pruned.unwrap().module_hash(), hash);
    let perms = f["readme_cell_permutations"].as_array().unwrap();
    assert!(perms.len() > 10);
    for p in perms {
        assert_eq!(p["module_hash"].as_str().unwrap(), hash, "the reference hashes every relabelling alike");
        let cell = ModelSpec::new(matrix(&p["matrix"]), ops(&p["ops"])).unwrap().pruned.unwrap();
        assert_eq!(cell.module_hash(), hash, "permutation {}", p["permutation"]);
    }
    // a different cell hashes differently: swap one op
    let mut changed = ModelSpec::new(matrix(&readme["matrix"]), ops(&readme["ops"])).unwrap().pruned.unwrap();
    changed.ops[1] = Op::Conv3x3;
    assert_ne!(changed.module_hash(), hash);
}

#[test]
fn vertex_channels_and_parameter_counts_follow_the_benchmark() {
    let f = fixture();
    assert_eq!(f["published"]["readme_cell_benchmark_trainable_parameters"].as_u64(), Some(2_694_282));
    let networks = f["networks"].as_object().unwrap();
    let mut built = 0;
    for case in f["cases"].as_array().unwrap() {
        let Some(pruned) = case.get("pruned_matrix") else { continue };
        let name = case["name"].as_str().unwrap();
        let cell = Cell { matrix: matrix(pruned), ops: ops(&case["pruned_ops"]) };
        for vc in case["vertex_channels"].as_array().unwrap() {
            let (i, o) = (vc["input"].as_u64().unwrap() as usize, vc["output"].as_u64().unwrap() as usize);
            let expected: Vec<usize> =
                vc["channels"].as_array().unwrap().iter().map(|c| c.as_u64().unwrap() as usize).collect();
            assert_eq!(vertex_channels(i, o, &cell), expected, "{name}: channels {i} -> {o}");
        }
        for (key, net) in networks {
            let sk = skeleton(net);
            let expected = case["trainable_parameters"][key].as_u64().unwrap() as usize;
            assert_eq!(trainable_parameters(&cell, &sk), expected, "{name}: parameters of {key}");
            // the network candle builds has exactly that many trainable values (small ones only)
            if sk.stem_channels <= 24 {
                let net = CellNet::init(&cell, sk, 1).unwrap();
                assert_eq!(net.trainable_count(), expected, "{name}: built {key}");
                built += 1;
            }
        }
    }
    assert!(built >= 20);
}

#[test]
fn sampled_cells_are_distinct_valid_and_a_function_of_the_seed() {
    let a = sample_cells(300, 7).unwrap();
    assert_eq!(a.len(), 300);
    let hashes: HashSet<&str> = a.iter().map(|s| s.module_hash.as_str()).collect();
    assert_eq!(hashes.len(), 300, "no two sampled cells are isomorphic");
    for s in &a {
        assert!(s.cell.in_domain(), "{:?}", s.cell);
        assert_eq!(s.cell.module_hash(), s.module_hash);
        // a pruned cell prunes to itself
        let again = ModelSpec::new(s.cell.matrix.clone(), s.cell.ops.clone()).unwrap();
        assert_eq!(again.pruned.as_ref(), Some(&s.cell));
    }
    assert_eq!(sample_cells(300, 7).unwrap(), a);
    let b = sample_cells(300, 8).unwrap();
    assert_ne!(
        a.iter().map(|s| &s.module_hash).collect::<Vec<_>>(),
        b.iter().map(|s| &s.module_hash).collect::<Vec<_>>()
    );
    // a longer sample starts with the shorter one
    assert_eq!(&sample_cells(320, 7).unwrap()[..300], &a[..]);
    assert!(sample_cells(423_625, 0).is_none());
}
