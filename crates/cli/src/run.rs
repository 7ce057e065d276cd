//! `repspace run CONFIG`: resolve → execute → commit → summarise.

use std::time::Instant;

use anyhow::Result;
use repspace_pipelines::current::kept_tile_errors;
use repspace_pipelines::{RunOutcome, RunReport, publish_embeddings, publish_path_distances, run_all_pairs};
use repspace_store::{PartName, Writer};
use serde::Serialize;

use crate::resolve::{Resolved, resolve};
use crate::summary::{peak_rss_bytes, print_embeddings, print_summary};

#[derive(clap::Args, Debug)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// The run configuration (TOML).
    pub config: String,
    /// Timely worker threads in this process (every process of a cluster uses the same);
    /// default: the CPUs Slurm allocated to the task, else the cores this process may use.
    #[arg(short = 'w', long = "workers", default_value_t = crate::cluster::default_workers())]
    pub workers: usize,
    /// Processes in the cluster (timely's -n).
    #[arg(short = 'n', long = "processes", default_value_t = 1)]
    pub processes: usize,
    /// This process's index in 0..processes (timely's -p). Process 0 commits the run.
    #[arg(short = 'p', long = "process", default_value_t = 0)]
    pub process: usize,
    /// Hostfile: one host:port per line, in process order (timely's -h).
    #[arg(short = 'h', long = "hostfile")]
    pub hostfile: Option<String>,
    /// The run id every process of a cluster shares (default: process 0 makes one and the
    /// others learn it from the cluster).
    #[arg(long = "run-id")]
    pub run_id: Option<String>,
    #[arg(long, action = clap::ArgAction::Help, help = "Print help")]
    pub help: Option<bool>,
    /// No progress bar and no summary.
    #[arg(short, long)]
    pub quiet: bool,
    /// Landmark embeddings: choose new landmarks and re-embed everything instead of placing
    /// new points among the previous run's landmarks.
    #[arg(long)]
    pub reembed: bool,
}

impl RunArgs {
    /// The arguments of `repspace run CONFIG -w WORKERS --run-id RUN_ID [--quiet]` on one
    /// process (the Python bindings' `repspace.run`).
    pub fn new(config: String, workers: usize, run_id: String, quiet: bool) -> RunArgs {
        RunArgs {
            config,
            workers,
            processes: 1,
            process: 0,
            hostfile: None,
            run_id: Some(run_id),
            help: None,
            quiet,
            reembed: false,
        }
    }
}

/// The output location a config names (`output.uri`, relative to the config's directory).
pub fn output_location(config: &str) -> Result<String> {
    let storage = repspace_store::Storage::new()?;
    let config_loc = repspace_store::Location::parse(config, None)?;
    let (parsed, _) = crate::resolve::read_config(&storage, &config_loc)?;
    Ok(repspace_store::Location::parse(&parsed.output.uri, Some(&config_loc.parent()))?.to_string())
}

/// How a run ended when it did end.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Clean,
    WithErrors,
}

/// The run record, `_runs/<run_id>.json`: the report, the peak memory and the config text.
#[derive(Serialize)]
struct RunRecord<'a> {
    run_id: &'a str,
    /// Worker threads per process, and processes.
    workers: usize,
    processes: usize,
    #[serde(flatten)]
    report: &'a RunReport,
    peak_rss_bytes: Option<u64>,
    config: &'a str,
}

pub fn run(args: &RunArgs) -> Result<Outcome> {
    let started = Instant::now();
    let resolved = resolve(args)?;
    let Some((mut outcome, embedded)) = execute(&resolved, args)? else {
        if !args.quiet {
            crate::say!(
                "repspace run {}: process {} of {} done; process 0 commits the run",
                resolved.job.run_id,
                args.process,
                args.processes
            );
        }
        return Ok(Outcome::Clean);
    };
    tracing::debug!("post-steps done");
    commit(&resolved, &mut outcome)?;
    tracing::debug!("committed");
    let report = outcome.report;
    if !args.quiet {
        let job = &resolved.job;
        print_summary(
            resolved.config.embedding.is_some(),
            job,
            &report,
            resolved.rejected_rows,
            started.elapsed(),
            (resolved.workers, resolved.processes),
        );
        print_embeddings(&embedded);
    }
    if let Some(r) = &resolved.config.report {
        crate::report::write(&resolved.job.storage, &resolved.job.output.root, Some(r), args.quiet)?;
    }
    drop(resolved.lock);
    Ok(if report.errors > 0 { Outcome::WithErrors } else { Outcome::Clean })
}

/// Run the dataflow; in the committing process, then the post-steps (path distances and
/// embeddings from the run's current rows) and the registry. `None` in the other processes.
fn execute(
    resolved: &Resolved,
    args: &RunArgs,
) -> Result<Option<(RunOutcome, Vec<repspace_store::tables::EmbeddingSummaryRow>)>> {
    let job = &resolved.job;
    repspace_metrics::set_linear_algebra_threads(if args.workers > 1 { 1 } else { 0 });
    let timely_config = crate::cluster::timely_config(args)?;
    let report = run_all_pairs(job.clone(), timely_config).map_err(|e| anyhow::anyhow!("the dataflow failed: {e}"))?;
    if let Some(bar) = &job.progress {
        bar.finish_and_clear();
    }
    let Some(mut outcome) = report else { return Ok(None) };
    let registry =
        crate::reread::registry_rows(job, &job.ordinals, &outcome, &resolved.file_metas, resolved.run_started);
    let report = &mut outcome.report;
    report.unread = job.cached.iter().filter(|c| c.is_some()).count();
    if report.test_underdetermined > 0 {
        tracing::warn!(
            pairs = report.test_underdetermined,
            "held-out scores underdetermined by the training rows (fewer rows than units, or dependent units): \
             distance_test is the average over the fitted map's completions; these rows have test_underdetermined = true"
        );
    }
    report.errors += kept_tile_errors(job, &outcome.tiles, &report.parts)?;
    if !job.paths.is_empty() {
        report.parts.push(publish_path_distances(job, &outcome.tiles)?);
    }
    let mut embedded = Vec::new();
    if let Some(e) = &resolved.config.embedding {
        let (parts, summaries) = publish_embeddings(job, &outcome.tiles, e, args.reembed)?;
        report.parts.extend(parts);
        embedded = summaries;
    }
    let name = PartName::new(&job.run_id, Writer::Post);
    report.parts.push(job.output.publish_rows(&name, &registry)?);
    let measures = crate::measures::measure_rows(&resolved.config.metrics, &job.metrics, job.run_id.as_str());
    if !measures.is_empty() {
        report.parts.push(job.output.publish_rows(&name, &measures)?);
    }
    Ok(Some((outcome, embedded)))
}

/// Write back the wanted members of bundles it retires, record the run (with the parts it
/// added and retires), then retire them (`Output::settle`, `Output::commit`).
fn commit(resolved: &Resolved, outcome: &mut RunOutcome) -> Result<()> {
    let job = &resolved.job;
    let before = (job.earlier.listing.as_slice(), job.earlier.sources.as_ref());
    let commitment = job.output.settle(&job.run_id, &outcome.tiles, Some(before))?;
    let unbundled = job.output.unbundle(&commitment)?;
    if !unbundled.is_empty() {
        tracing::info!(tiles = unbundled.len(), "tiles of retired bundles written back as tile parts");
    }
    outcome.report.parts.extend(unbundled);
    let retired = commitment.retired;
    outcome.report.removed = retired.clone();
    let record = RunRecord {
        run_id: job.run_id.as_str(),
        workers: resolved.workers,
        processes: resolved.processes,
        report: &outcome.report,
        peak_rss_bytes: peak_rss_bytes(),
        config: &resolved.config_text,
    };
    let mut json = serde_json::to_vec_pretty(&record)?;
    json.push(b'\n');
    job.output.commit(&job.run_id, json, &retired)?;
    Ok(())
}
