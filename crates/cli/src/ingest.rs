//! `repspace ingest CONFIG`: recordings (NWB sessions) into a zoo of `.npy` files and a
//! `manifest.csv` that `repspace run` reads like any other (see repspace-ingest).

use anyhow::Result;
use repspace_ingest::{ingest, load_config};
use repspace_store::{Location, Storage};

use crate::run::Outcome;
use crate::say;

#[derive(clap::Args, Debug)]
pub struct IngestArgs {
    /// The ingest configuration (TOML with an [ingest] table).
    pub config: String,
}

pub fn run(args: &IngestArgs) -> Result<Outcome> {
    let storage = Storage::new()?;
    let config = Location::parse(&args.config, None)?;
    let cfg = load_config(&storage, &config)?;
    let report = ingest(&storage, &cfg, &config.parent())?;
    for e in &report.failures {
        eprintln!("error: {e}");
    }
    for (session, area, units) in &report.skipped_areas {
        say!("  skipped {session} {area}: {units} units (min_units = {})", cfg.min_units);
    }
    if report.representations.is_empty() {
        anyhow::bail!("no session was ingested ({} failed)", report.failures.len());
    }
    say!(
        "repspace ingest: {} sessions, {} representations ({} unchanged), {} failed",
        report.sessions,
        report.representations.len(),
        report.unchanged,
        report.failures.len()
    );
    say!("  manifest  {}", report.manifest);
    Ok(if report.failures.is_empty() { Outcome::Clean } else { Outcome::WithErrors })
}
