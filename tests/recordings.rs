//! Recordings in: NWB sessions written by pynwb in the Allen Brain Observatory layouts, and
//! HDF5 / Zarr activation stores written by h5py and zarr-python (all by
//! `scripts/make_recordings.py`, in the environment `scripts/python_env.sh` makes). The
//! expected arrays are computed by that script with numpy from the same spike times and
//! traces; every value `repspace ingest` writes must equal them bit for bit.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use repspace_store::npy::parse_npy;
use repspace_store::tables::{RepresentationRow, read_rows};
use repspace_store::{Location, Manifest, NdArray, ReasonCode, Storage};

fn make(what: &str, dir: &Path) {
    make_recordings(what, dir)
}

fn read_npy(path: &Path) -> NdArray {
    parse_npy(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()))
}

fn manifest(path: &Path) -> Manifest {
    Manifest::load(&Storage::new().unwrap(), &Location::from_path(path).unwrap()).expect("manifest reads")
}

/// A metadata value of a manifest row.
fn meta<'a>(m: &'a Manifest, row: &'a repspace_store::ManifestRow, column: &str) -> Option<&'a str> {
    let j = m.metadata_columns.iter().position(|c| c == column)?;
    row.metadata[j].as_deref()
}

/// Every expected row (from numpy) is in the ingested manifest, its array bit-identical and
/// its metadata equal; and the manifest has no other row.
fn check_against_expected(dir: &Path, zoo: &Path) {
    let expected: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(dir.join("expected/manifest.json")).unwrap()).unwrap();
    let m = manifest(&zoo.join("manifest.csv"));
    assert_eq!(m.rows.len(), expected.len(), "one manifest row per expected array");
    for e in &expected {
        let (model_id, layer) = (e["model_id"].as_str().unwrap(), e["layer"].as_str().unwrap());
        let row = m
            .rows
            .iter()
            .find(|r| r.model_id == model_id && r.layer == layer)
            .unwrap_or_else(|| panic!("no manifest row ({model_id}, {layer})"));
        let file = e["file"].as_str().unwrap();
        assert_eq!(row.uri_text, file);
        let (want, got) = (read_npy(&dir.join("expected").join(file)), read_npy(&zoo.join(file)));
        assert_eq!(got.shape, want.shape, "{file}");
        let bits = |a: &NdArray| a.data.iter().map(|v| v.to_bits()).collect::<Vec<u64>>();
        assert_eq!(bits(&got), bits(&want), "{file}: values differ from numpy's");
        for column in
            ["session_id", "area", "n_units", "n_conditions", "n_repeats", "subject_id", "genotype", "sex", "age"]
        {
            let want = match &e[column] {
                serde_json::Value::Null => None,
                serde_json::Value::String(s) => Some(s.clone()),
                v => Some(v.to_string()),
            };
            assert_eq!(meta(&m, row, column).map(str::to_string), want, "{model_id} {layer}: column {column}");
        }
    }
}

fn ingest(config: &Path) -> std::process::Output {
    repspace(&["ingest", path_str(config)])
}

/// Generate `what` (nwb or ophys) in a temp dir and ingest it with its expected config.
fn generated_and_ingested(what: &str) -> (tempfile::TempDir, std::process::Output) {
    let tmp = tempfile::tempdir().unwrap();
    make(what, tmp.path());
    std::fs::copy(tmp.path().join("expected/config.toml"), tmp.path().join("ingest.toml")).unwrap();
    let out = ingest(&tmp.path().join("ingest.toml"));
    assert_success(&out);
    (tmp, out)
}

#[test]
fn nwb_units_become_a_zoo_equal_to_numpy_and_the_metrics_run_on_it() {
    let (tmp, out) = generated_and_ingested("nwb");
    let dir = tmp.path();
    let zoo = dir.join("zoo");
    check_against_expected(dir, &zoo);
    // areas below min_units are reported, not written
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("skipped") && said.contains("CA1"), "{said}");

    // ingesting again rewrites nothing (so a run does not read the files again)
    let modified = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let before: Vec<_> = std::fs::read_dir(&zoo)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "npy"))
        .map(|p| (modified(&p), p))
        .collect();
    let again = ingest(&dir.join("ingest.toml"));
    assert_success(&again);
    assert!(String::from_utf8_lossy(&again.stdout).contains(&format!("({} unchanged)", before.len())));
    for (t, p) in &before {
        assert_eq!(modified(p), *t, "{} was rewritten", p.display());
    }

    // areas across sessions and against a network zoo (responses to the same 6 conditions)
    // in one run: the two manifests stacked, the networks' metadata columns their own
    let zoo_manifest = std::fs::read_to_string(zoo.join("manifest.csv")).unwrap();
    let mut lines = zoo_manifest.lines();
    let header = lines.next().unwrap();
    let uri_col = header.split(',').position(|c| c == "uri").unwrap();
    let mut both = format!("{header},width\n");
    for line in lines {
        let mut cells: Vec<String> = line.split(',').map(str::to_string).collect();
        cells[uri_col] = format!("zoo/{}", cells[uri_col]);
        both.push_str(&format!("{},\n", cells.join(",")));
    }
    let networks = 2;
    for k in 0..networks {
        std::fs::write(dir.join(format!("net{k}.npy")), npy(6, 20, &random_matrix(6, 20, k as u64))).unwrap();
        let empty = ",".repeat(header.split(',').count() - 3);
        both.push_str(&format!("net{k},logits,net{k}.npy{empty},20\n"));
    }
    std::fs::write(dir.join("both.csv"), both).unwrap();
    // the shape metric across sessions, areas and networks; the stochastic metric on the trial tensors
    std::fs::write(
        dir.join("run.toml"),
        "[input]\nmanifest = \"both.csv\"\n[output]\nuri = \"out\"\n[pairs]\nscope = \"all\"\n\
         [[metrics]]\nname = \"shape\"\nkind = \"shape\"\nalpha = 1.0\n\
         [[metrics]]\nname = \"energy\"\nkind = \"energy_stochastic\"\n",
    )
    .unwrap();
    let run = repspace(&["run", path_str(&dir.join("run.toml")), "-w", "2", "--quiet"]);
    // rank-3 trial tensors are refused by the 2-D metric and 2-D means by the stochastic one
    assert!(run.status.code() == Some(0) || run.status.code() == Some(2), "{run:?}");
    let out_loc = Location::from_path(&dir.join("out")).unwrap();
    let rows = repspace_store::tables::read_distances(&Storage::new().unwrap(), &out_loc).unwrap();
    let m = manifest(&zoo.join("manifest.csv"));
    let means = m.rows.iter().filter(|r| !r.layer.ends_with("_trials")).count() + networks;
    let trials = m.rows.iter().filter(|r| r.layer.ends_with("_trials")).count();
    let shape: Vec<_> = rows.iter().filter(|r| r.metric == "shape").collect();
    let energy: Vec<_> = rows.iter().filter(|r| r.metric == "energy").collect();
    assert_eq!(shape.len(), means * (means - 1) / 2, "every pair of [conditions, units] means and networks");
    assert!(
        shape.iter().any(|r| r.model_a.starts_with("net") != r.model_b.starts_with("net")),
        "areas against networks"
    );
    // the stochastic metrics compare equal widths (as netrep's do): pairs of trial tensors
    // with as many units
    let widths: Vec<&str> =
        m.rows.iter().filter(|r| r.layer.ends_with("_trials")).filter_map(|r| meta(&m, r, "n_units")).collect();
    let equal_width_pairs =
        (0..trials).flat_map(|i| (i + 1..trials).map(move |j| (i, j))).filter(|&(i, j)| widths[i] == widths[j]).count();
    assert!(equal_width_pairs >= 1);
    assert_eq!(energy.len(), equal_width_pairs, "every pair of trial tensors with equal widths");
    for r in &shape {
        assert!(r.distance.is_finite() && r.distance > 0.0, "{r:?}");
    }
    // the energy distance's estimate is clipped at 0 (netrep's too)
    for r in &energy {
        assert!(r.distance.is_finite() && r.distance >= 0.0, "{r:?}");
    }
    for r in &shape {
        assert!(r.distance <= std::f64::consts::FRAC_PI_2 + 1e-12, "an angle: {r:?}");
    }
}

#[test]
fn roi_responses_become_a_zoo_equal_to_numpy() {
    let (tmp, _) = generated_and_ingested("ophys");
    check_against_expected(tmp.path(), &tmp.path().join("zoo"));
}

#[test]
fn bad_sessions_are_named_errors_and_the_good_ones_are_still_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    make("nwb", dir);
    let config = std::fs::read_to_string(dir.join("expected/config.toml")).unwrap();
    let bad = config.replace(
        "sessions = [\"sessions/*.nwb\"]",
        "sessions = [\"sessions/a.nwb\", \"bad/no_stimulus.nwb\", \"bad/not_hdf5.nwb\", \"bad/absent.nwb\"]",
    );
    assert_ne!(bad, config);
    std::fs::write(dir.join("bad.toml"), &bad).unwrap();
    let out = ingest(&dir.join("bad.toml"));
    assert_eq!(out.status.code(), Some(2), "some sessions failed: {out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "no_stimulus.nwb: /intervals/natural_scenes_presentations: the file has no stimulus table",
        "not_hdf5.nwb: /: not a readable HDF5 file",
        "absent.nwb: /: file not found",
    ] {
        assert!(err.contains(needle), "stderr lacks {needle:?}:\n{err}");
    }
    let m = manifest(&dir.join("zoo/manifest.csv"));
    assert!(!m.rows.is_empty() && m.rows.iter().all(|r| r.model_id.starts_with("715093703_")), "session a survives");

    // a bad config names its key
    std::fs::write(dir.join("typo.toml"), config.replace("min_units", "min_unit")).unwrap();
    let out = ingest(&dir.join("typo.toml"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("min_unit"), "{out:?}");
    std::fs::write(dir.join("window.toml"), config.replace("[0.05, 0.30]", "[0.30, 0.05]")).unwrap();
    let out = ingest(&dir.join("window.toml"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("window"), "{out:?}");
    // a units table without the column to group by
    std::fs::write(dir.join("group.toml"), config.replace("group_by = \"location\"", "group_by = \"brain_area\""))
        .unwrap();
    let out = ingest(&dir.join("group.toml"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("brain_area"), "{out:?}");
}

/// Content hash and shape of each representation a run read, by model_id.
fn hashes(out: &Path) -> BTreeMap<String, (String, String)> {
    let rows: Vec<RepresentationRow> =
        read_rows(&Storage::new().unwrap(), &Location::from_path(out).unwrap(), None).expect("representations");
    rows.into_iter().filter_map(|r| Some((r.model_id, (r.content_hash?, r.shape?)))).collect()
}

#[test]
fn hdf5_and_zarr_stores_read_bit_for_bit_like_npy() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    make("stores", dir);
    let run = |manifest: &str, out: &str| {
        let config = dir.join(format!("{out}.toml"));
        std::fs::write(
            &config,
            format!(
                "[input]\nmanifest = \"{manifest}\"\n[output]\nuri = \"{out}\"\n[pairs]\nscope = \"within_layer\"\n\
                 [[metrics]]\nname = \"shape\"\nkind = \"shape\"\nalpha = 1.0\n"
            ),
        )
        .unwrap();
        repspace(&["run", path_str(&config), "-w", "2", "--quiet"])
    };
    let out = run("stores.csv", "out");
    assert!(out.status.code() == Some(0) || out.status.code() == Some(2), "{out:?}");
    let m = manifest(&dir.join("stores.csv"));
    let got = hashes(&dir.join("out"));
    let mut formats: BTreeMap<&str, usize> = BTreeMap::new();
    for row in &m.rows {
        let npy_twin = format!("{}_npy", row.layer);
        let (hash, shape) = got.get(&row.model_id).unwrap_or_else(|| panic!("{} was not read", row.model_id));
        assert_eq!(
            (hash, shape),
            (&got[&npy_twin].0, &got[&npy_twin].1),
            "{} ({}) differs from its .npy",
            row.model_id,
            row.uri_text
        );
        *formats.entry(row.model_id.rsplit('_').next().unwrap()).or_default() += 1;
    }
    for f in ["npy", "h5", "zarr3", "zarr2"] {
        assert!(formats.get(f).copied().unwrap_or(0) >= 5, "{f}: {formats:?}");
    }

    // bad rows: each an error naming the file and the key, the others still read
    let out = run("bad.csv", "bad_out");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let errors = repspace_store::tables::read_errors(
        &Storage::new().unwrap(),
        &Location::from_path(&dir.join("bad_out")).unwrap(),
    )
    .unwrap();
    let by_model: BTreeMap<&str, (&str, &str)> =
        errors.iter().map(|e| (e.model_id.as_str(), (e.reason.as_str(), e.message.as_str()))).collect();
    let expect = [
        ("h5_missing_key", ReasonCode::MissingFile, "partial.h5", "/blocks/1/out"),
        ("zarr_missing_path", ReasonCode::MissingFile, "partial.zarr", "blocks/1/out"),
        ("h5_rank1", ReasonCode::WrongRank, "acts.h5", "/blocks/1d"),
        // refused before allocating: memory stays bounded whatever a file claims
        ("h5_huge", ReasonCode::Unreadable, "partial.h5", "/huge"),
        ("zarr_huge", ReasonCode::Unreadable, "partial.zarr", "huge"),
    ];
    for (model, code, file, key) in expect {
        let (reason, message) = by_model.get(model).unwrap_or_else(|| panic!("no error for {model}: {errors:?}"));
        assert_eq!(*reason, code.as_str(), "{model}: {message}");
        assert!(message.contains(file) && message.contains(key), "{model}: {message:?} names file and key");
    }
}
