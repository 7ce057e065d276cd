//! Two timely processes on 127.0.0.1 (a hostfile, 2 workers each) write the same tables as
//! one process; process 0 commits; the run holds together through the barrier.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;

fn zoo(run: &RunDir) {
    let mut manifest = String::from("model_id,layer,uri,layer_index\n");
    for k in 0..10u64 {
        for (l, width) in [(1, 6), (2, 9)] {
            run.write(&format!("acts/m{k}-l{l}.npy"), npy(40, width, &random_matrix(40, width, 10 * k + l)));
            manifest.push_str(&format!("m{k},layer{l},acts/m{k}-l{l}.npy,{l}\n"));
        }
    }
    run.write("manifest.csv", manifest);
    run.write(
        "config.toml",
        "[input]\nmanifest = \"manifest.csv\"\n[output]\nuri = \"out\"\n[execution]\ntile_size = 3\n\
         [[metrics]]\nname = \"shape\"\nkind = \"shape\"\nalpha = 0.5\n\
         [[metrics]]\nname = \"cka\"\nkind = \"cka\"\n\
         [[paths]]\nname = \"cka_path\"\nkind = \"angular_cka\"\n\
         [embedding]\ndims = 2\n",
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn table(run: &RunDir) -> BTreeMap<(String, String, String, String, String), u64> {
    let mut t = BTreeMap::new();
    for r in run.distances() {
        assert!(
            t.insert((r.metric, r.model_a, r.layer_a, r.model_b, r.layer_b), r.distance.to_bits()).is_none(),
            "duplicate"
        );
    }
    t
}

fn wait_with_deadline(mut child: std::process::Child, deadline: Instant) -> std::process::Output {
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("a cluster process did not finish in time");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn two_processes_write_the_tables_of_one() {
    let single = RunDir::new();
    zoo(&single);
    assert_success(&single.run(&["-w", "2"]));

    let run = RunDir::new();
    zoo(&run);
    let hostfile = run.write("hosts.txt", format!("127.0.0.1:{}\n127.0.0.1:{}\n", free_port(), free_port()));
    let spawn = |p: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_repspace"))
            .args(["run", path_str(&run.path("config.toml")), "-w", "2", "-n", "2", "-p", p])
            .args(["-h", path_str(&hostfile), "--run-id", "cluster-test"])
            .env("RUST_LOG", "error")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // process 1 first: it retries until process 0 listens
    let p1 = spawn("1");
    let p0 = spawn("0");
    let deadline = Instant::now() + Duration::from_secs(120);
    let (o0, o1) = (wait_with_deadline(p0, deadline), wait_with_deadline(p1, deadline));
    assert_success(&o0);
    assert_success(&o1);
    assert!(String::from_utf8_lossy(&o1.stdout).contains("process 0 commits"));
    assert!(String::from_utf8_lossy(&o0.stdout).contains("repspace run cluster-test"));

    assert_eq!(table(&run), table(&single), "same rows, bit for bit");
    assert_eq!(run.model_count(), single.model_count());
    // parts from all four workers: the tiles of every worker (named by identity) and the
    // run parts under the shared run id, the same set as the one-process run
    let names = |r: &RunDir| -> std::collections::BTreeSet<String> {
        std::fs::read_dir(r.path("out/distances"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("tile-"))
            .collect()
    };
    let parts: Vec<_> = std::fs::read_dir(run.path("out/models")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(parts.len(), 4, "one models part per worker");
    assert!(parts.iter().all(|p| p.to_string_lossy().contains("cluster-test")));
    assert!(!names(&run).is_empty());
    assert_eq!(names(&run), names(&single), "the same tiles, whatever the workers");
    assert!(run.path("out/_runs/cluster-test.json").exists());
    assert!(run.path("out/embeddings").exists() && run.path("out/path_summary").exists());
    assert!(!run.path("out/_lock").exists());
}
