//! One run per output location at a time: `<output>/_lock`, created atomically
//! (create-if-absent works on local files and S3 alike) and removed when the run ends.
//! A lock left by a killed run on this host (its process is gone) is taken over with a
//! warning; any other lock makes the run refuse, naming the run that holds it.

use anyhow::{Result, bail};
use repspace_store::storage::GetError;
use repspace_store::{Location, Storage};

pub struct RunLock {
    storage: Storage,
    location: Location,
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

/// Whether a process of this host is alive (Linux /proc; elsewhere assume it is).
fn alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") { std::path::Path::new(&format!("/proc/{pid}")).exists() } else { true }
}

fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|l| l.strip_prefix(&format!("{key}=")))
}

impl RunLock {
    pub fn acquire(storage: &Storage, output: &Location, run_id: &str) -> Result<RunLock> {
        let location = output.join("_lock")?;
        let me = format!("run_id={run_id}\nhost={}\npid={}\n", hostname(), std::process::id());
        for _ in 0..3 {
            if storage.put_if_absent(&location, me.clone().into_bytes().into())? {
                return Ok(RunLock { storage: storage.clone(), location });
            }
            let held = match storage.get(&location) {
                Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                Err(GetError::NotFound) => continue, // released meanwhile: try again
                Err(GetError::Other(e)) => return Err(e.into()),
            };
            let (host, pid, run) =
                (field(&held, "host"), field(&held, "pid").and_then(|p| p.parse().ok()), field(&held, "run_id"));
            if host == Some(hostname().as_str()) && pid.is_some_and(|p| !alive(p)) {
                tracing::warn!(lock = %location, run = run.unwrap_or("?"), "taking over the lock of a run whose process is gone");
                storage.delete(&location)?;
                continue;
            }
            bail!(
                "output {} is in use by run {} (pid {} on host {}); two runs on one output would overwrite each other. \
                 If that run is gone, delete {}",
                output,
                run.unwrap_or("?"),
                pid.map(|p: u32| p.to_string()).unwrap_or_else(|| "?".into()),
                host.unwrap_or("?"),
                location
            );
        }
        bail!("could not take the lock {location}: it keeps changing hands")
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        if let Err(e) = self.storage.delete(&self.location) {
            tracing::warn!(lock = %self.location, "could not remove the run lock: {e}");
        }
    }
}
