//! `repspace zoo CONFIG`: train the digits zoo a `[zoo]` config describes (configs/zoo_digits.toml)
//! and write its weights, activations and manifest.

use std::time::Instant;

use anyhow::{Context, Result};
use repspace_store::{Location, Storage};
use repspace_zoo::{ZooFile, ZooSummary, build_zoo};

#[derive(clap::Args, Debug)]
pub struct ZooArgs {
    /// The zoo configuration (TOML with a [zoo] table).
    pub config: String,
    /// Networks trained at once (default: the machine's cores).
    #[arg(short, long)]
    pub jobs: Option<usize>,
}

/// Read a zoo config; its `out` is relative to the config's directory.
pub fn load(storage: &Storage, config: &Location) -> Result<(ZooFile, Location)> {
    let bytes = storage.get(config).map_err(|e| anyhow::anyhow!("cannot read zoo config {config}: {e}"))?;
    let text = String::from_utf8(bytes.to_vec()).with_context(|| format!("{config}: not UTF-8 text"))?;
    let file: ZooFile = toml::from_str(&text).map_err(|e| anyhow::anyhow!("zoo config {config}: {e}"))?;
    file.zoo.validate().map_err(|e| anyhow::anyhow!("zoo config {config}: {e}"))?;
    let out = Location::parse(&file.zoo.out, Some(&config.parent())).context("zoo.out")?;
    Ok((file, out))
}

/// Train and write the zoo; log one line per network, print a summary unless quiet.
pub fn train(storage: &Storage, config: &Location, jobs: Option<usize>, quiet: bool) -> Result<ZooSummary> {
    let (file, out) = load(storage, config)?;
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let started = Instant::now();
    let summary = build_zoo(storage, &out, &file.zoo, jobs).with_context(|| format!("zoo {config}"))?;
    if !quiet {
        let best = summary.best().map(|(n, a)| format!("{n} {:.1} %", 100.0 * a)).unwrap_or_default();
        println!(
            "repspace zoo: {} networks × {} checkpoints = {} models, {} representations in {:.1} s; best test accuracy {best}",
            summary.networks,
            file.zoo.checkpoints.len(),
            summary.models,
            summary.representations,
            started.elapsed().as_secs_f64()
        );
        println!("  manifest  {out}/manifest.csv");
    }
    Ok(summary)
}

pub fn run(args: &ZooArgs) -> Result<()> {
    let storage = Storage::new()?;
    let config = Location::parse(&args.config, None)?;
    train(&storage, &config, args.jobs, false).map(|_| ())
}
