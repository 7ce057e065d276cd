//! Helpers shared by the end-to-end tests: write a manifest and config into a temp dir,
//! run the real `repspace` binary on them, and read back the tables it published.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use repspace_store::tables::{DistanceRow, ErrorRow, read_distances, read_errors, read_table};
use repspace_store::{Location, Storage};

/// The reference fixtures in the repository, `tests/fixtures` (provenance in its README),
/// or `$REPSPACE_FIXTURES` when that is set to a non-empty path.
pub fn fixtures_dir() -> PathBuf {
    match std::env::var("REPSPACE_FIXTURES") {
        Ok(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"),
    }
}

pub fn repo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Run `repspace` with `args`; returns the process output.
pub fn repspace(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_repspace"))
        .args(args)
        .env("RUST_LOG", "error")
        .output()
        .expect("the repspace binary runs")
}

/// A run directory: manifest, config and output under one temp dir.
pub struct RunDir {
    pub dir: tempfile::TempDir,
}

impl RunDir {
    pub fn new() -> RunDir {
        RunDir { dir: tempfile::tempdir().expect("temp dir") }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, bytes).expect("write");
        p
    }

    /// Write `config.toml` with the given `[[metrics]]` block and scope, output `out/`.
    pub fn config(&self, scope: &str, metrics: &str) -> PathBuf {
        self.write(
            "config.toml",
            format!(
                "[input]\nmanifest = \"manifest.csv\"\n[output]\nuri = \"out\"\n[pairs]\nscope = \"{scope}\"\n[execution]\ntile_size = 2\n{metrics}"
            ),
        )
    }

    pub fn run(&self, extra: &[&str]) -> Output {
        let config = self.path("config.toml");
        let mut args = vec!["run", config.to_str().expect("utf-8 path"), "--quiet"];
        args.extend_from_slice(extra);
        repspace(&args)
    }

    pub fn out(&self) -> Location {
        Location::from_path(&self.path("out")).expect("location")
    }

    pub fn distances(&self) -> Vec<DistanceRow> {
        read_distances(&Storage::new().expect("storage"), &self.out()).expect("distances table")
    }

    pub fn errors(&self) -> Vec<ErrorRow> {
        read_errors(&Storage::new().expect("storage"), &self.out()).expect("errors table")
    }

    pub fn model_count(&self) -> usize {
        read_table(&Storage::new().expect("storage"), &self.out(), "models")
            .expect("models table")
            .iter()
            .map(|b| b.num_rows())
            .sum()
    }
}

/// A row-major f64 matrix as .npy bytes.
pub fn npy(rows: usize, cols: usize, data: &[f64]) -> Vec<u8> {
    repspace_store::npy::write_npy(&[rows, cols], data, false)
}

/// Deterministic pseudo-random matrix, uniform in [-1, 1).
pub fn random_matrix(rows: usize, cols: usize, seed: u64) -> Vec<f64> {
    let mut rng = repspace_metrics::rng::SplitMix64(seed);
    (0..rows * cols).map(|_| 2.0 * rng.uniform() - 1.0).collect()
}

pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "repspace failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Write `acts/<name>.npy` (30 × 5, seeded) for each (name, seed) and a manifest listing them
/// in the order given, all in layer `fc`.
pub fn write_models(run: &RunDir, models: &[(&str, u64)]) {
    let mut manifest = String::from("model_id,layer,uri\n");
    for (name, seed) in models {
        run.write(&format!("acts/{name}.npy"), npy(30, 5, &random_matrix(30, 5, *seed)));
        manifest.push_str(&format!("{name},fc,acts/{name}.npy\n"));
    }
    run.write("manifest.csv", manifest);
}

/// The test environment's python (`scripts/python_env.sh` makes it once).
pub fn python() -> String {
    let env =
        std::process::Command::new("bash").arg(repo_dir().join("scripts/python_env.sh")).output().expect("bash runs");
    assert!(env.status.success(), "python env setup failed:\n{}", String::from_utf8_lossy(&env.stderr));
    String::from_utf8(env.stdout).expect("utf-8").trim().to_string()
}

/// Run `scripts/make_recordings.py <what> <dir>` (NWB sessions, HDF5 and Zarr stores, and
/// the arrays numpy expects from them).
pub fn make_recordings(what: &str, dir: &Path) {
    let out = std::process::Command::new(python())
        .arg(repo_dir().join("scripts/make_recordings.py"))
        .arg(what)
        .arg(dir)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "make_recordings.py {what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every file under `dir`, as (path relative to `dir` with `/`, bytes), sorted.
pub fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(dir)
                    .expect("under dir")
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                out.push((rel, std::fs::read(&p).expect("read")));
            }
        }
    }
    out.sort();
    out
}
