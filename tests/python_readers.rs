//! DuckDB and pandas read `distances` and `models` untouched. The Python packages are
//! installed by `scripts/python_env.sh` (a venv under target/), not by hand.

mod common;

use common::*;

#[test]
fn duckdb_and_pandas_read_the_tables() {
    let python = python();

    let fixture = "shape_small";
    let npz = fixtures_dir().join(format!("{fixture}.npz"));
    let run = RunDir::new();
    let mut manifest = String::from("model_id,layer,uri,key,test_key\n");
    for i in 0..4 {
        manifest.push_str(&format!("net{i},X,{},X{i},T{i}\n", path_str(&npz)));
    }
    run.write("manifest.csv", manifest);
    run.config(
        "within_layer",
        "[[metrics]]\nname = \"linear_alpha1_angular\"\nkind = \"shape\"\nalpha = 1.0\n\
         [[metrics]]\nname = \"linear_alpha0.5_euclidean\"\nkind = \"shape\"\nalpha = 0.5\nscore = \"euclidean\"\n\
         [[metrics]]\nname = \"linear_cka_angular\"\nkind = \"cka\"\n",
    );
    assert_success(&run.run(&["-w", "2"]));
    let check = std::process::Command::new(&python)
        .arg(repo_dir().join("scripts/check_tables.py"))
        .arg(run.path("out"))
        .arg(fixtures_dir().join(format!("{fixture}.netrep.json")))
        .output()
        .expect("python runs");
    assert!(
        check.status.success(),
        "check_tables.py failed:\n{}\n{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(String::from_utf8_lossy(&check.stdout).starts_with("ok:"));
}
