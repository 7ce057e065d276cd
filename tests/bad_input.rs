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
