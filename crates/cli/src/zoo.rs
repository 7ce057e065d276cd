//! `repspace zoo CONFIG`: train the zoo a `[zoo]` config describes and write its weights,
//! activations and manifest: MLPs on the digits (configs/zoo_digits.toml), or with
//! `kind = "nasbench101"` NAS-Bench-101 cells (configs/zoo_nasbench.toml).

use std::time::Instant;

use anyhow::{Context, Result};
use repspace_store::{Location, Storage};
use repspace_zoo::{NasBenchFile, ZooFile, ZooKind, ZooKindFile, ZooSummary, build_nasbench_zoo, build_zoo};

/// A `[zoo]` table, by its `kind`.
pub enum Zoo {
    Mlp(ZooFile),
    NasBench101(NasBenchFile),
}

impl Zoo {
    fn out(&self) -> &str {
        match self {
            Zoo::Mlp(f) => &f.zoo.out,
            Zoo::NasBench101(f) => &f.zoo.out,
        }
    }

    fn checkpoints(&self) -> usize {
        match self {
            Zoo::Mlp(f) => f.zoo.checkpoints.len(),
            Zoo::NasBench101(f) => f.zoo.checkpoints.len(),
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct ZooArgs {
    /// The zoo configuration (TOML with a [zoo] table).
    pub config: String,
    /// Networks trained at once (default: the machine's cores).
    #[arg(short, long)]
    pub jobs: Option<usize>,
}

/// Read a zoo config (its `[zoo] kind` says which); its `out` is relative to the config's
/// directory.
pub fn load(storage: &Storage, config: &Location) -> Result<(Zoo, Location)> {
    let bytes = storage.get(config).map_err(|e| anyhow::anyhow!("cannot read zoo config {config}: {e}"))?;
    let text = String::from_utf8(bytes.to_vec()).with_context(|| format!("{config}: not UTF-8 text"))?;
    let parse_err = |e: toml::de::Error| anyhow::anyhow!("zoo config {config}: {e}");
    let kind = toml::from_str::<ZooKindFile>(&text).map_err(parse_err)?.zoo.kind;
    let zoo = match kind {
        ZooKind::Mlp => {
            let file: ZooFile = toml::from_str(&text).map_err(parse_err)?;
            file.zoo.validate().map_err(|e| anyhow::anyhow!("zoo config {config}: {e}"))?;
            Zoo::Mlp(file)
        }
        ZooKind::NasBench101 => {
            let file: NasBenchFile = toml::from_str(&text).map_err(parse_err)?;
            file.zoo.validate().map_err(|e| anyhow::anyhow!("zoo config {config}: {e}"))?;
            Zoo::NasBench101(file)
        }
    };
    let out = Location::parse(zoo.out(), Some(&config.parent())).context("zoo.out")?;
    Ok((zoo, out))
}

/// Train and write the zoo; log one line per network, print a summary unless quiet.
pub fn train(storage: &Storage, config: &Location, jobs: Option<usize>, quiet: bool) -> Result<ZooSummary> {
    let (file, out) = load(storage, config)?;
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let started = Instant::now();
    let summary = match &file {
        Zoo::Mlp(f) => build_zoo(storage, &out, &f.zoo, jobs),
        Zoo::NasBench101(f) => build_nasbench_zoo(storage, &out, &f.zoo, jobs),
    }
    .with_context(|| format!("zoo {config}"))?;
    if !quiet {
        let best = summary.best().map(|(n, a)| format!("{n} {:.1} %", 100.0 * a)).unwrap_or_default();
        println!(
            "repspace zoo: {} networks × {} checkpoints = {} models, {} representations in {:.1} s; best test accuracy {best}",
            summary.networks,
            file.checkpoints(),
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
