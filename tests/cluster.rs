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

/// `repspace run` as process `p` of a two-process cluster on `hostfile`, with `extra` args.
fn spawn(run: &RunDir, hostfile: &std::path::Path, p: &str, extra: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_repspace"))
        .args(["run", path_str(&run.path("config.toml")), "-w", "1", "-n", "2", "-p", p])
        .args(["-h", path_str(hostfile)])
        .args(extra)
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn hosts(run: &RunDir) -> std::path::PathBuf {
    run.write("hosts.txt", format!("127.0.0.1:{}\n127.0.0.1:{}\n", free_port(), free_port()))
}

#[test]
fn a_cluster_agrees_on_a_run_id_without_being_given_one() {
    let single = RunDir::new();
    zoo(&single);
    assert_success(&single.run(&["-w", "2"]));
    let run = RunDir::new();
    zoo(&run);
    let hostfile = hosts(&run);
    let (p1, p0) = (spawn(&run, &hostfile, "1", &[]), spawn(&run, &hostfile, "0", &[]));
    let deadline = Instant::now() + Duration::from_secs(120);
    let (o0, o1) = (wait_with_deadline(p0, deadline), wait_with_deadline(p1, deadline));
    assert_success(&o0);
    assert_success(&o1);
    // process 1 names the run process 0 made, and committed under
    let said = String::from_utf8_lossy(&o1.stdout).into_owned();
    let line = said.lines().find(|l| l.starts_with("repspace run ")).unwrap_or_default();
    let id = line.split_whitespace().nth(2).unwrap_or_default().trim_end_matches(':').to_string();
    assert!(said.contains("process 1 of 2 done") && !id.is_empty(), "{said}");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.path(&format!("out/_runs/{id}.json"))).expect("the record")).unwrap();
    assert_eq!(
        (record["run_id"].as_str(), record["workers"].as_u64(), record["processes"].as_u64()),
        (Some(id.as_str()), Some(1), Some(2))
    );
    assert!(String::from_utf8_lossy(&o0.stdout).contains("workers          1 thread(s) in each of 2 processes"));
    assert_eq!(table(&run), table(&single), "same rows, bit for bit");
}

/// A zoo that takes a few seconds, so a process can be killed mid-run.
fn slow_zoo(run: &RunDir) {
    let mut manifest = String::from("model_id,layer,uri\n");
    for k in 0..240u64 {
        run.write(&format!("acts/m{k}.npy"), npy(200, 48, &random_matrix(200, 48, k)));
        manifest.push_str(&format!("m{k},fc,acts/m{k}.npy\n"));
    }
    run.write("manifest.csv", manifest);
    run.write(
        "config.toml",
        "[input]\nmanifest = \"manifest.csv\"\n[output]\nuri = \"out\"\n[execution]\ntile_size = 8\n\
         [[metrics]]\nname = \"shape\"\nkind = \"shape\"\nalpha = 0.5\n",
    );
}

#[test]
fn a_lost_peer_ends_the_others_with_a_clear_error_and_a_rerun_completes() {
    let single = RunDir::new();
    slow_zoo(&single);
    assert_success(&single.run(&["-w", "2"]));
    let want = table(&single);
    for victim in ["1", "0"] {
        let run = RunDir::new();
        slow_zoo(&run);
        let hostfile = hosts(&run);
        let mut p1 = spawn(&run, &hostfile, "1", &["--run-id", "lost", "--quiet"]);
        let mut p0 = spawn(&run, &hostfile, "0", &["--run-id", "lost", "--quiet"]);
        // mid-run: once tiles are being published
        let deadline = Instant::now() + Duration::from_secs(120);
        while std::fs::read_dir(run.path("out/distances"))
            .map(|d| d.filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().starts_with("tile-")).count())
            .unwrap_or(0)
            < 3
        {
            assert!(Instant::now() < deadline, "no tile was published");
            assert!(p0.try_wait().unwrap().is_none() && p1.try_wait().unwrap().is_none(), "the run ended too soon");
            std::thread::sleep(Duration::from_millis(10));
        }
        let (killed, survivor, peer) = if victim == "1" { (&mut p1, p0, "1") } else { (&mut p0, p1, "0") };
        killed.kill().unwrap();
        let _ = killed.wait();
        let started = Instant::now();
        let out = wait_with_deadline(survivor, Instant::now() + Duration::from_secs(60));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "victim {victim}: exit 1\n{stderr}");
        assert!(stderr.contains(&format!("lost the connection to process {peer} of the cluster")), "{stderr}");
        assert!(!stderr.contains("panicked") && !stderr.contains("stack backtrace"), "no panic:\n{stderr}");
        eprintln!("victim {victim}: the survivor exited {:.2} s after the kill", started.elapsed().as_secs_f64());
        // the same command again on both processes completes the run
        let (r1, r0) = (
            spawn(&run, &hostfile, "1", &["--run-id", "lost", "--quiet"]),
            spawn(&run, &hostfile, "0", &["--run-id", "lost", "--quiet"]),
        );
        let deadline = Instant::now() + Duration::from_secs(180);
        let (o0, o1) = (wait_with_deadline(r0, deadline), wait_with_deadline(r1, deadline));
        assert_success(&o0);
        assert_success(&o1);
        assert_eq!(table(&run), want, "victim {victim}: the rerun ends with the uninterrupted table");
    }
}

/// A helper daemon set (`scripts/<script> start DIR`), stopped when dropped.
struct Daemons {
    script: &'static str,
    dir: std::path::PathBuf,
    /// What `start` printed (slurm.conf's path, or the ssh command).
    printed: String,
}

impl Daemons {
    fn start(script: &'static str, dir: std::path::PathBuf) -> Daemons {
        let out = std::process::Command::new("bash")
            .arg(repo_dir().join("scripts").join(script))
            .arg("start")
            .arg(&dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{script} start: {}", String::from_utf8_lossy(&out.stderr));
        Daemons { script, dir, printed: String::from_utf8_lossy(&out.stdout).trim().to_string() }
    }
}

impl Drop for Daemons {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .arg(repo_dir().join("scripts").join(self.script))
            .arg("stop")
            .arg(&self.dir)
            .status();
    }
}

/// Add models m10 and m11 to `zoo`'s manifest.
fn grow(run: &RunDir) {
    let mut manifest = std::fs::read_to_string(run.path("manifest.csv")).unwrap();
    for k in 10..12u64 {
        for (l, width) in [(1, 6), (2, 9)] {
            run.write(&format!("acts/m{k}-l{l}.npy"), npy(40, width, &random_matrix(40, width, 10 * k + l)));
            manifest.push_str(&format!("m{k},layer{l},acts/m{k}-l{l}.npy,{l}\n"));
        }
    }
    run.write("manifest.csv", manifest);
}

fn record(run: &RunDir, id: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(run.path(&format!("out/_runs/{id}.json"))).expect("the run record")).unwrap()
}

/// A real one-node Slurm (slurmctld, slurmd, munge; `scripts/slurm_env.sh`): `sbatch` of
/// `scripts/slurm_repspace.sbatch` with 2 tasks on one node (one port per task) writes the
/// one-process tables, and a resubmission after adding models computes only the new pairs.
#[test]
fn slurm_runs_two_tasks_as_a_cluster_and_a_resubmission_computes_only_new_pairs() {
    let single = RunDir::new();
    zoo(&single);
    assert_success(&single.run(&["-w", "2", "--run-id", "s1"]));
    let run = RunDir::new();
    zoo(&run);
    let slurm = Daemons::start("slurm_env.sh", run.path("slurm"));
    let submit = || {
        let started = Instant::now();
        let out = std::process::Command::new("sbatch")
            .args(["--wait", "--parsable", "--ntasks=2", "--cpus-per-task=1"])
            .arg(format!("--output={}/slurm-%j.out", path_str(run.dir.path())))
            .arg(repo_dir().join("scripts/slurm_repspace.sbatch"))
            .arg(run.path("config.toml"))
            .current_dir(run.dir.path())
            .env("SLURM_CONF", &slurm.printed)
            .env("REPSPACE_BIN", env!("CARGO_BIN_EXE_repspace"))
            .env("REPSPACE_PORT", free_port().to_string())
            .env("RUST_LOG", "error")
            .output()
            .unwrap();
        let job = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let log = std::fs::read_to_string(run.path(&format!("slurm-{job}.out"))).unwrap_or_default();
        assert!(out.status.success(), "sbatch: {}\n{log}", String::from_utf8_lossy(&out.stderr));
        eprintln!("slurm job {job}: {:.1} s", started.elapsed().as_secs_f64());
        job
    };
    let job = submit();
    assert_eq!(table(&run), table(&single), "same rows, bit for bit");
    let r = record(&run, &format!("slurm-{job}"));
    assert_eq!(r["processes"], 2, "{r}");
    let hosts = std::fs::read_to_string(run.path(&format!("repspace-hosts-{job}.txt"))).unwrap();
    let ports: std::collections::BTreeSet<&str> = hosts.lines().map(|l| l.rsplit(':').next().unwrap()).collect();
    assert_eq!((hosts.lines().count(), ports.len()), (2, 2), "one line and one port per task:\n{hosts}");

    // models arrive; the resubmission computes what a one-process rerun computes: the new pairs
    grow(&single);
    assert_success(&single.run(&["-w", "2", "--run-id", "s2"]));
    grow(&run);
    let job = submit();
    let (computed, want) =
        (record(&run, &format!("slurm-{job}"))["computed"].clone(), record(&single, "s2")["computed"].clone());
    assert_eq!(computed, want);
    assert!(want.as_u64().unwrap() > 0 && want.as_u64().unwrap() < record(&single, "s1")["computed"].as_u64().unwrap());
    assert_eq!(table(&run), table(&single));
}

/// `scripts/launch_hostfile.sh` over ssh to a real sshd on a loopback port (`scripts/sshd_env.sh`)
/// runs the two processes of a hostfile and writes the one-process tables.
#[test]
fn the_ssh_launcher_runs_a_hostfile_cluster() {
    let single = RunDir::new();
    zoo(&single);
    assert_success(&single.run(&["-w", "2"]));
    let run = RunDir::new();
    zoo(&run);
    let sshd = Daemons::start("sshd_env.sh", run.path("sshd"));
    let hostfile = hosts(&run);
    let started = Instant::now();
    let out = std::process::Command::new("bash")
        .arg(repo_dir().join("scripts/launch_hostfile.sh"))
        .arg(&hostfile)
        .arg(run.path("config.toml"))
        .arg("1")
        .env("REPSPACE_SSH", &sshd.printed)
        .env("REPSPACE_BIN", env!("CARGO_BIN_EXE_repspace"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "launch_hostfile.sh: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("ssh launch: {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(table(&run), table(&single), "same rows, bit for bit");
    assert_eq!(std::fs::read_dir(run.path("out/_runs")).unwrap().count(), 1);
}
