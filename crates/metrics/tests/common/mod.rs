//! Shared by the measures' fixture tests: the reference fixtures of `tests/fixtures/measures`
//! (provenance in `tests/fixtures/README.md`), a family's JSON values and npz inputs.

#![allow(dead_code)]

use std::path::PathBuf;

use repspace_metrics::{Matrix, Tensor};
use repspace_store::npy::read_npz_member;
use serde_json::Value;

/// The repository's `tests/fixtures`, or `$REPSPACE_FIXTURES` when set to a non-empty path.
pub fn fixtures_dir() -> PathBuf {
    match std::env::var("REPSPACE_FIXTURES") {
        Ok(dir) if !dir.is_empty() => PathBuf::from(dir),
        // crates/metrics → the repository root's tests/fixtures
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures"),
    }
}

/// One family's fixture: `measures/<family>.json` (the reference's values) and
/// `measures/<family>.npz` (their inputs).
pub struct Fixture {
    pub json: Value,
    pub npz: Vec<u8>,
}

impl Fixture {
    pub fn load(family: &str) -> Fixture {
        let dir = fixtures_dir().join("measures");
        let read = |ext: &str| {
            let path = dir.join(format!("{family}.{ext}"));
            std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        };
        let json = serde_json::from_slice(&read("json")).unwrap_or_else(|e| panic!("{family}.json: {e}"));
        Fixture { json, npz: read("npz") }
    }

    pub fn tensor(&self, key: &str) -> Tensor {
        let a = read_npz_member(&self.npz, key).unwrap_or_else(|e| panic!("fixture array {key}: {e}"));
        Tensor::new(a.shape, a.data)
    }

    pub fn matrix(&self, key: &str) -> Matrix {
        let t = self.tensor(key);
        assert_eq!(t.shape().len(), 2, "{key} is a matrix");
        Matrix::from_row_major(t.shape()[0], t.shape()[1], t.data())
    }

    /// The `cases` list of a fixture whose cases are a list.
    pub fn cases(&self) -> &[Value] {
        self.json["cases"].as_array().expect("cases")
    }

    /// The matrices a case names in its `inputs`.
    pub fn inputs(&self, case: &Value) -> Vec<Matrix> {
        case["inputs"].as_array().expect("inputs").iter().map(|k| self.matrix(k.as_str().expect("key"))).collect()
    }

    /// Each case of a `{"cases": {name: {"keys": [...]}}}` fixture with its matrices.
    pub fn keyed_cases(&self) -> Vec<(String, Vec<Matrix>)> {
        let cases = self.json["cases"].as_object().expect("cases");
        cases
            .iter()
            .map(|(name, case)| {
                let keys = case["keys"].as_array().expect("keys");
                (name.clone(), keys.iter().map(|k| self.matrix(k.as_str().expect("key"))).collect())
            })
            .collect()
    }
}
