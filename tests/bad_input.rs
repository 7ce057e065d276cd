//! Bad input is expected: each case becomes a row in `errors` naming the model, layer,
//! file and reason, a log line says the same, the good pairs are still written, and the
//! exit code (2) says that errors occurred.

mod common;

use common::*;

const METRICS: &str =
    "[[metrics]]\nname = \"procrustes\"\nkind = \"shape\"\nalpha = 1.0\n[[metrics]]\nname = \"cka\"\nkind = \"cka\"\n";

/// Three good representations (good0..good2, 20 × 5) plus whatever `bad_rows` adds.
fn zoo_with(bad_files: &[(&str, Vec<u8>)], bad_rows: &str) -> RunDir {
    let run = RunDir::new();
    let mut manifest = String::from("model_id,layer,uri\n");
    for i in 0..3 {
        run.write(&format!("acts/good{i}.npy"), npy(20, 5, &random_matrix(20, 5, i)));
        manifest.push_str(&format!("good{i},fc,acts/good{i}.npy\n"));
    }
    for (name, bytes) in bad_files {
        run.write(name, bytes);
    }
    manifest.push_str(bad_rows);
    run.write("manifest.csv", manifest);
    run.config("within_layer", METRICS);
    run
}

/// Run, then check the error row, the log line, the surviving pairs and the exit code.
fn expect_rejected(run: &RunDir, model: &str, reason: &str, message_part: &str, good_pairs: usize) {
    let out = run.run(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "exit code says errors occurred; stderr:\n{stderr}");
    let errors = run.errors();
    let row = errors
        .iter()
        .find(|e| e.model_id == model)
        .unwrap_or_else(|| panic!("an errors row for {model}; got {errors:?}"));
    assert_eq!(row.reason, reason);
    assert_eq!(row.layer, "fc");
    assert!(row.message.contains(message_part), "message {:?} should mention {message_part:?}", row.message);
    assert!(row.uri.is_some(), "the error names the file");
    assert!(stderr.contains(model) && stderr.contains(reason), "log line names model and reason:\n{stderr}");
    let distances = run.distances();
    assert_eq!(distances.len(), good_pairs * 2, "the good pairs survive, for both metrics");
    assert!(distances.iter().all(|d| d.model_a != model && d.model_b != model), "nothing of the bad model lands");
    assert!(distances.iter().all(|d| d.distance.is_finite()));
}

#[test]
fn non_finite_values() {
    let mut data = random_matrix(20, 5, 9);
    data[7] = f64::NAN;
    data[12] = f64::INFINITY;
    let run = zoo_with(&[("acts/bad.npy", npy(20, 5, &data))], "bad,fc,acts/bad.npy\n");
    expect_rejected(&run, "bad", "non_finite", "2 non-finite", 3);
}

#[test]
fn sample_count_mismatch_within_a_group() {
    let run = zoo_with(&[("acts/short.npy", npy(15, 5, &random_matrix(15, 5, 4)))], "short,fc,acts/short.npy\n");
    expect_rejected(&run, "short", "sample_count_mismatch", "has 15 samples but 3 of 4", 3);
}

#[test]
fn truncated_file() {
    let bytes = npy(20, 5, &random_matrix(20, 5, 5));
    let run = zoo_with(&[("acts/cut.npy", bytes[..bytes.len() - 100].to_vec())], "cut,fc,acts/cut.npy\n");
    expect_rejected(&run, "cut", "unreadable", "truncated", 3);
}

#[test]
fn unreadable_garbage_file() {
    let run = zoo_with(&[("acts/junk.npy", b"this is not numpy".to_vec())], "junk,fc,acts/junk.npy\n");
    expect_rejected(&run, "junk", "unreadable", "not a .npy file", 3);
}

#[test]
fn missing_file() {
    let run = zoo_with(&[], "ghost,fc,acts/ghost.npy\n");
    expect_rejected(&run, "ghost", "missing_file", "ghost.npy", 3);
}

#[test]
fn duplicate_model_and_layer() {
    let run = zoo_with(
        &[("acts/twin.npy", npy(20, 5, &random_matrix(20, 5, 6)))],
        "twin,fc,acts/twin.npy\ntwin,fc,acts/twin.npy\n",
    );
    expect_rejected(&run, "twin", "duplicate_key", "rows [4, 5]", 3);
    assert_eq!(run.errors().iter().filter(|e| e.model_id == "twin").count(), 2, "both copies are refused");
}

#[test]
fn wrong_rank() {
    let cube = repspace_store::npy::write_npy(&[4, 5, 5], &random_matrix(20, 5, 7), false);
    let run = zoo_with(&[("acts/cube.npy", cube)], "cube,fc,acts/cube.npy\n");
    expect_rejected(&run, "cube", "wrong_rank", "[4, 5, 5]", 3);
}

#[test]
fn empty_manifest_fails_clearly_and_writes_nothing() {
    let run = RunDir::new();
    run.write("manifest.csv", "model_id,layer,uri\n");
    run.config("within_layer", METRICS);
    let out = run.run(&[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("manifest.csv") && stderr.contains("no rows"), "{stderr}");
    assert!(!run.path("out").exists(), "no output is written");
}

#[test]
fn invalid_config_names_the_key_before_any_work() {
    let run = zoo_with(&[], "");
    run.config("within_layer", "[[metrics]]\nname = \"p\"\nkind = \"shape\"\nalpha = 2.0\n");
    let out = run.run(&[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("metrics[0].alpha") && stderr.contains("[0, 1]"), "{stderr}");
    assert!(!run.path("out").exists(), "no output is written");
}

/// An .npy file (format 1.0) with the header's `descr` and `shape` as given and `payload` as
/// its data, whatever they claim.
fn npy_raw(descr: &str, shape: &str, payload: &[u8]) -> Vec<u8> {
    let mut text = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    text.push_str(&" ".repeat((64 - (10 + text.len() + 1) % 64) % 64));
    text.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(text.len() as u16).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(payload);
    out
}

/// The run record's peak resident memory.
fn peak_rss(run: &RunDir) -> u64 {
    let dir = std::fs::read_dir(run.path("out/_runs")).unwrap().next().unwrap().unwrap().path();
    let record: serde_json::Value = serde_json::from_slice(&std::fs::read(dir).unwrap()).unwrap();
    record["peak_rss_bytes"].as_u64().expect("peak memory is recorded on Linux")
}

#[test]
fn a_zip_bomb_member_is_refused_without_inflating_it() {
    // a 20 × 5 array followed by 512 MiB of zeros: about 0.5 MB deflated
    let mut member = repspace_store::npy::write_npy(&[20, 5], &random_matrix(20, 5, 8), false);
    member.resize(member.len() + (512 << 20), 0);
    let bomb = repspace_store::npy::write_npz(&[("x", member)]).unwrap();
    assert!(bomb.len() < 4 << 20, "{} bytes", bomb.len());
    let run = zoo_with(&[("acts/bomb.npz", bomb)], "");
    let mut manifest = String::from("model_id,layer,uri,key\n");
    for i in 0..3 {
        manifest.push_str(&format!("good{i},fc,acts/good{i}.npy,\n"));
    }
    manifest.push_str("bomb,fc,acts/bomb.npz,x\n");
    run.write("manifest.csv", manifest);
    expect_rejected(&run, "bomb", "unreadable", "trailing data", 3);
    let peak = peak_rss(&run);
    eprintln!("zip bomb: peak RSS {:.1} MB", peak as f64 / 1e6);
    assert!(peak < 150 << 20, "peak {peak} bytes, the member inflates to 512 MiB");
}

#[test]
fn a_header_claiming_a_huge_array_fails_fast() {
    let header = npy_raw("<f8", "(20, 50000000000)", &[0; 800]);
    let run = zoo_with(&[("acts/huge.npy", header)], "huge,fc,acts/huge.npy\n");
    expect_rejected(&run, "huge", "unreadable", "needs 8000000000000 bytes, the file has 800", 3);
    let peak = peak_rss(&run);
    eprintln!("huge header: peak RSS {:.1} MB", peak as f64 / 1e6);
    assert!(peak < 150 << 20, "peak {peak} bytes, the header claims 8 TB");
}

#[test]
fn a_constant_representation_is_degenerate_not_nan() {
    let run = zoo_with(&[("acts/dead.npy", npy(20, 5, &[0.0; 100]))], "dead,fc,acts/dead.npy\n");
    expect_rejected(&run, "dead", "degenerate", "no variance across its 20 samples", 3);
    let run = zoo_with(&[("acts/flat.npy", npy(20, 5, &[3.25; 100]))], "flat,fc,acts/flat.npy\n");
    expect_rejected(&run, "flat", "degenerate", "flat.npy", 3);
}

#[test]
fn half_precision_activations_are_read_exactly() {
    // values exact in float16: the f16 file and its f64 copy are the same representation
    let values: Vec<f64> = random_matrix(20, 5, 3).iter().map(|v| half::f16::from_f64(*v).to_f64()).collect();
    let halves: Vec<u8> = values.iter().flat_map(|v| half::f16::from_f64(*v).to_le_bytes()).collect();
    let f16 = npy_raw("<f2", "(20, 5)", &halves);
    let run = zoo_with(
        &[("acts/half.npy", f16), ("acts/full.npy", npy(20, 5, &values))],
        "half,fc,acts/half.npy\nfull,fc,acts/full.npy\n",
    );
    assert_success(&run.run(&[]));
    let rows = run.distances();
    let d = |a: &str, b: &str, metric: &str| {
        rows.iter()
            .find(|r| r.metric == metric && ((r.model_a == a && r.model_b == b) || (r.model_a == b && r.model_b == a)))
            .map(|r| r.distance)
            .unwrap_or_else(|| panic!("({a}, {b}) {metric}"))
    };
    for metric in ["procrustes", "cka"] {
        assert!(d("half", "full", metric).abs() < 1e-6, "{metric}: {}", d("half", "full", metric));
        for g in ["good0", "good1", "good2"] {
            // equal up to the orientation of the row ("full" sorts before good*, "half" after)
            assert!((d("half", g, metric) - d("full", g, metric)).abs() < 1e-12, "{metric} {g}");
        }
    }
}

#[test]
fn underdetermined_held_out_scores_are_marked_and_averaged() {
    let run = RunDir::new();
    let mut manifest = String::from("model_id,layer,uri,test_uri\n");
    for i in 0..3u64 {
        // 6 training rows of 9 units: the fitted rotation is free on a 3-dimensional null space
        run.write(&format!("acts/w{i}.npy"), npy(6, 9, &random_matrix(6, 9, 10 + i)));
        run.write(&format!("acts/w{i}_test.npy"), npy(8, 9, &random_matrix(8, 9, 20 + i)));
        manifest.push_str(&format!("m{i},wide,acts/w{i}.npy,acts/w{i}_test.npy\n"));
        run.write(&format!("acts/n{i}.npy"), npy(30, 4, &random_matrix(30, 4, 30 + i)));
        run.write(&format!("acts/n{i}_test.npy"), npy(8, 4, &random_matrix(8, 4, 40 + i)));
        manifest.push_str(&format!("m{i},narrow,acts/n{i}.npy,acts/n{i}_test.npy\n"));
    }
    run.write("manifest.csv", manifest);
    run.config("within_layer", METRICS);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_repspace"))
        .args(["run", path_str(&run.path("config.toml")), "--quiet", "--run-id", "r"])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("underdetermined")).collect();
    assert!(warnings.len() == 1 && warnings[0].contains("pairs=3"), "one warning with the count:\n{stderr}");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.path("out/_runs/r.json")).unwrap()).unwrap();
    assert_eq!(record["test_underdetermined"], 3);
    let rows = run.distances();
    assert_eq!(rows.len(), 12);
    for r in &rows {
        let want = match (r.metric.as_str(), r.layer_a.as_str()) {
            ("cka", _) => None,
            (_, "wide") => Some(true),
            _ => Some(false),
        };
        assert_eq!(r.test_underdetermined, want, "{r:?}");
        assert_eq!(r.distance_test.is_some(), want.is_some(), "{r:?}");
        assert!(r.distance_test.is_none_or(f64::is_finite), "{r:?}");
    }
}

#[test]
fn a_spreadsheet_manifest_reads_as_written() {
    // Excel's "CSV UTF-8": a byte-order mark, CRLF line ends, quoted fields with commas
    let run = zoo_with(&[("acts/a, b.npy", npy(20, 5, &random_matrix(20, 5, 12)))], "");
    let mut manifest = "\u{feff}model_id,layer,uri\r\n".to_string();
    for i in 0..3 {
        manifest.push_str(&format!("good{i},fc,acts/good{i}.npy\r\n"));
    }
    manifest.push_str("\"net, v2\",\"fc\",\"acts/a, b.npy\"\r\n");
    run.write("manifest.csv", manifest);
    assert_success(&run.run(&[]));
    let rows = run.distances();
    assert_eq!(rows.len(), 12, "4 models, 6 pairs, 2 metrics");
    assert_eq!(rows.iter().filter(|r| r.model_a == "net, v2" || r.model_b == "net, v2").count(), 6);
}
