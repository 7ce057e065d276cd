//! One run per output at a time: a live lock makes the run refuse and write nothing; a
//! lock left by a process that is gone is taken over; a finished run leaves no lock.

mod common;

use common::*;

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string()
}

fn zoo() -> RunDir {
    let run = RunDir::new();
    let mut manifest = String::from("model_id,layer,uri\n");
    for i in 0..3 {
        run.write(&format!("a{i}.npy"), npy(10, 3, &random_matrix(10, 3, i)));
        manifest.push_str(&format!("m{i},fc,a{i}.npy\n"));
    }
    run.write("manifest.csv", manifest);
    run.config("within_layer", "[[metrics]]\nname = \"cka\"\nkind = \"cka\"\n");
    run
}

#[test]
fn a_second_run_on_a_locked_output_refuses() {
    let run = zoo();
    // a lock held by a live process on this host: this test
    run.write("out/_lock", format!("run_id=other-run\nhost={}\npid={}\n", hostname(), std::process::id()));
    let out = run.run(&[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("in use by run other-run") && stderr.contains("_lock"), "{stderr}");
    assert!(!run.path("out/distances").exists(), "nothing is written");
    assert!(run.path("out/_lock").exists(), "the other run's lock is left alone");
}

#[test]
fn a_lock_left_by_a_dead_process_is_taken_over_and_released() {
    let run = zoo();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    run.write("out/_lock", format!("run_id=killed-run\nhost={}\npid={dead}\n", hostname()));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_repspace"))
        .args(["run", path_str(&run.path("config.toml")), "--quiet"])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("taking over"));
    assert_eq!(run.distances().len(), 3);
    assert!(!run.path("out/_lock").exists(), "a finished run releases its lock");
}
