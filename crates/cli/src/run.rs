//! `repspace run CONFIG`: resolve the config, load the manifest, run the dataflow, commit
//! the run, print a one-screen summary.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use repspace_pipelines::{AllPairsJob, RunReport, run_all_pairs};
use repspace_store::{Location, Manifest, Storage};

use crate::config::Config;

/// println! that ignores a closed stdout (`repspace run … | head`): the run is already
/// committed when the summary is printed.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

#[derive(clap::Args, Debug)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// The run configuration (TOML).
    pub config: String,
    /// Timely worker threads in this process (every process of a cluster uses the same).
    #[arg(short = 'w', long = "workers", default_value_t = 1)]
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
    /// The run id every process of a cluster shares (the launch scripts set it).
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

/// How a run ended when it did end.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Clean,
    WithErrors,
}

pub fn run(args: &RunArgs) -> Result<Outcome> {
    let started = Instant::now();
    if args.workers == 0 {
        bail!("--workers must be at least 1");
    }
    let storage = Storage::new()?;
    let config_loc = Location::parse(&args.config, None)?;
    let text = match storage.get(&config_loc) {
        Ok(b) => String::from_utf8(b.to_vec()).with_context(|| format!("{config_loc}: not UTF-8 text"))?,
        Err(_) => bail!("cannot read config {config_loc}"),
    };
    let config = Config::parse(&text).map_err(|e| anyhow::anyhow!("config {config_loc}: {e}"))?;
    let metrics = config.metric_specs().with_context(|| format!("config {config_loc}"))?;
    let paths = config.path_specs().with_context(|| format!("config {config_loc}"))?;
    if let Some(e) = &config.embedding {
        e.validate().with_context(|| format!("config {config_loc}"))?;
    }
    let base = config_loc.parent();
    let manifest_loc = Location::parse(&config.input.manifest, Some(&base)).context("input.manifest")?;
    let output = Location::parse(&config.output.uri, Some(&base)).context("output.uri")?;
    if let Some(zoo) = &config.input.zoo {
        // the default job trains its zoo on first use; an existing manifest is kept
        if args.process == 0 && matches!(storage.get(&manifest_loc), Err(repspace_store::storage::GetError::NotFound)) {
            let zoo_loc = Location::parse(zoo, Some(&base)).context("input.zoo")?;
            if !args.quiet {
                say!("repspace: {manifest_loc} does not exist yet; training the zoo of {zoo_loc} first");
            }
            crate::zoo::train(&storage, &zoo_loc, None, args.quiet)?;
        }
    }
    let manifest = Manifest::load(&storage, &manifest_loc)?;
    let geometry = match &config.geometry {
        Some(g) => {
            let probe = Location::parse(&g.probe, Some(&base)).context("geometry.probe")?;
            let line = g.line.map(|[a, b]| (a, b, g.line_steps));
            let plane = g.plane.map(|[a, b, c]| (a, b, c, g.plane_steps));
            Some(
                repspace_pipelines::GeometryJob::load(
                    &storage,
                    &probe,
                    g.probe_key.as_deref(),
                    line,
                    plane,
                    g.rank,
                    g.per_point,
                )
                .map_err(|e| anyhow::anyhow!("geometry.probe {probe}: {e}"))?,
            )
        }
        None => None,
    };
    let timely_config = cluster_config(args)?;
    let run_id = match &args.run_id {
        Some(id) if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) => {
            bail!("--run-id {id:?}: use letters, digits, '-', '_' and '.'")
        }
        Some(id) => id.clone(),
        None if args.processes > 1 => {
            bail!("a cluster run needs --run-id, the same in every process (the launch scripts set it)")
        }
        None => new_run_id(),
    };
    // process 0 owns the output for the run: it locks, commits and runs the post-steps
    let _lock = if args.process == 0 { Some(crate::lock::RunLock::acquire(&storage, &output, &run_id)?) } else { None };
    // Rows of earlier runs (committed or not: parts are whole files) for the same metric
    // parameters and content hashes are reused; the commit keeps exactly the current pairs.
    let (earlier, unreadable_parts) = repspace_store::tables::read_reusable_distances(&storage, &output)?;
    let reusable_paths = if config.paths.is_empty() {
        Default::default()
    } else {
        repspace_store::tables::read_reusable_paths(&storage, &output)?
    };
    let reusable: repspace_pipelines::Reusable =
        earlier.into_iter().map(|r| ((r.metric_spec.clone(), r.hash_a.clone(), r.hash_b.clone()), r)).collect();
    if unreadable_parts > 0 {
        tracing::warn!(
            parts = unreadable_parts,
            "earlier distance parts could not be read for reuse; their pairs are recomputed"
        );
    }
    tracing::info!(%run_id, manifest = %manifest_loc, output = %output, representations = manifest.rows.len(), "starting run");

    let progress = (!args.quiet && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} pairs {bar:40} {pos}/{len} [{elapsed_precise}, eta {eta}]")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    });
    repspace_metrics::set_linear_algebra_threads(if args.workers > 1 { 1 } else { 0 });
    let rejected_rows = manifest.rejected.len();
    let job = Arc::new(AllPairsJob {
        run_id: run_id.clone(),
        output: output.clone(),
        manifest,
        metrics,
        paths,
        geometry,
        scope: config.pairs.scope,
        tile_size: config.execution.tile_size,
        storage: storage.clone(),
        progress: progress.clone(),
        reusable,
        flush_rows: config.execution.flush_rows,
        // the budget is the process's; each of its workers gets an equal share
        worker_memory_budget: config.execution.memory_budget.map(|b| b.0 / args.workers as u64),
        reusable_paths,
    });
    let report = run_all_pairs(job.clone(), timely_config).map_err(|e| anyhow::anyhow!("the dataflow failed: {e}"))?;
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    let Some(mut report) = report else {
        if !args.quiet {
            say!(
                "repspace run {run_id}: process {} of {} done; process 0 commits the run",
                args.process,
                args.processes
            );
        }
        return Ok(Outcome::Clean);
    };
    if !job.paths.is_empty() {
        report.parts.push(crate::post::publish_path_distances(&job)?);
    }
    let mut embedded = Vec::new();
    if let Some(e) = &config.embedding {
        let (parts, summaries) = crate::post::publish_embeddings(&job, e, args.reembed)?;
        report.parts.extend(parts);
        embedded = summaries;
    }
    commit_run(&storage, &output, &run_id, &report, &text)?;
    let elapsed = started.elapsed();
    if !args.quiet {
        print_summary(config.embedding.is_some(), &run_id, &job, &report, rejected_rows, &output, elapsed);
        for e in &embedded {
            say!(
                "  embedding        {} / {}: {} points, {}, negative mass {:.3}, stress-1 {:.3}",
                e.metric,
                e.group,
                e.n_points,
                e.method,
                e.negative_mass,
                e.stress_1
            );
        }
    }
    if let Some(r) = &config.report {
        crate::report::write(&storage, &output, Some(r), args.quiet)?;
    }
    Ok(if report.errors > 0 { Outcome::WithErrors } else { Outcome::Clean })
}

/// Every table a run may write.
pub const TABLES: [&str; 11] = [
    "models",
    "distances",
    "errors",
    "paths",
    "path_summary",
    "path_distances",
    "embeddings",
    "embedding_summary",
    "geometry_points",
    "geometry_summary",
    "msa_points",
];

/// Record the run (`_runs/<run_id>.json`, listing its parts), then retire the parts of
/// earlier runs so each table holds exactly this run's rows.
fn commit_run(storage: &Storage, output: &Location, run_id: &str, report: &RunReport, config_text: &str) -> Result<()> {
    let parts: Vec<String> =
        report.parts.iter().map(|p| format!("{}/{}", p.parent().file_name(), p.file_name())).collect();
    let record = format!(
        "{{\n  \"run_id\": {},\n  \"parts\": [{}],\n  \"representations\": {},\n  \"pairs\": {},\n  \"computed\": {},\n  \"reused\": {},\n  \"paths\": {},\n  \"errors\": {},\n  \"pair_phase_seconds\": {:.6},\n  \"peak_rss_bytes\": {},\n  \"config\": {}\n}}\n",
        json_string(run_id),
        parts.iter().map(|p| json_string(p)).collect::<Vec<_>>().join(", "),
        report.representations,
        report.pairs,
        report.computed,
        report.reused,
        report.paths,
        report.errors,
        report.pair_seconds,
        peak_rss_bytes().map(|b| b.to_string()).unwrap_or_else(|| "null".into()),
        json_string(config_text),
    );
    storage.put(&output.join(&format!("_runs/{run_id}.json"))?, record.into_bytes().into())?;
    for table in TABLES {
        for part in storage.list(&output.join(&format!("{table}/"))?)? {
            let name = part.file_name();
            if name.starts_with("part-") && !name.contains(run_id) {
                storage.delete(&part)?;
            }
        }
    }
    Ok(())
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[allow(clippy::too_many_arguments)]
fn print_summary(
    embeds: bool,
    run_id: &str,
    job: &AllPairsJob,
    report: &RunReport,
    rejected_rows: usize,
    output: &Location,
    elapsed: std::time::Duration,
) {
    let secs = elapsed.as_secs_f64();
    let table = |t: &str| output.join(t).map(|l| l.to_string()).unwrap_or_default();
    say!("repspace run {run_id}");
    say!("  manifest         {}", job.manifest.location);
    say!("  representations  {} loaded, {} rejected by the manifest", report.representations, rejected_rows);
    say!(
        "  pairs            {} computed, {} reused from earlier runs (same metric parameters and content hashes)",
        report.computed,
        report.reused
    );
    say!(
        "  distances        {} rows ({} metric(s): {})",
        report.pairs,
        job.metrics.len(),
        job.metrics.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", ")
    );
    if !job.paths.is_empty() {
        say!(
            "  paths            {} (model × path metric: {})",
            report.paths,
            job.paths.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    if report.ambiguous_held_out > 0 {
        say!(
            "  note             {} pair(s) have a rank-deficient fitted cross-covariance: their distance_test \
             depends on the SVD's null-space completion (RUST_LOG=debug lists them)",
            report.ambiguous_held_out
        );
    }
    say!(
        "  errors           {}{}",
        report.errors,
        if report.errors > 0 { format!("  (see {})", table("errors")) } else { String::new() }
    );
    say!("  tables           {}", output);
    say!(
        "                   {}",
        TABLES
            .iter()
            .filter(|t| !t.starts_with("path") || !job.paths.is_empty())
            .filter(|t| !t.starts_with("embedding") || embeds)
            .filter(|t| !(t.starts_with("geometry") || t.starts_with("msa")) || job.geometry.is_some())
            .copied()
            .collect::<Vec<_>>()
            .join(", ")
    );
    say!(
        "  time             {secs:.2} s ({:.0} distance rows/s); pair phase {:.2} s on the busiest worker",
        report.pairs as f64 / secs.max(1e-9),
        report.pair_seconds
    );
    if let Some(peak) = peak_rss_bytes() {
        say!("  peak memory      {:.0} MB resident (this process)", peak as f64 / 1e6);
    }
}

/// The process's peak resident set (VmHWM), where the OS reports it (Linux).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// One process (`-w` threads) or a cluster (`-n`, `-p`, `-h hostfile`).
fn cluster_config(args: &RunArgs) -> Result<timely::Config> {
    if args.processes <= 1 {
        if args.process != 0 {
            bail!("-p {} needs -n > {}", args.process, args.process);
        }
        return Ok(timely::Config::process(args.workers));
    }
    if args.process >= args.processes {
        bail!("-p {} must be below -n {}", args.process, args.processes);
    }
    let Some(hostfile) = &args.hostfile else { bail!("a cluster run (-n {}) needs -h HOSTFILE", args.processes) };
    let text = std::fs::read_to_string(hostfile).with_context(|| format!("reading hostfile {hostfile}"))?;
    let addresses: Vec<String> =
        text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from).collect();
    if addresses.len() != args.processes {
        bail!("hostfile {hostfile} lists {} addresses but -n is {}", addresses.len(), args.processes);
    }
    Ok(timely::Config {
        communication: timely::CommunicationConfig::Cluster {
            threads: args.workers,
            process: args.process,
            addresses,
            report: false,
            zerocopy: false,
        },
        worker: timely::WorkerConfig::default(),
    })
}

/// `YYYYmmddTHHMMSSZ-xxxxxx`: sortable by time, unique across concurrent runs.
fn new_run_id() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // civil_from_days (Howard Hinnant)
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    let nonce = (now.subsec_nanos() as u64 ^ (std::process::id() as u64) << 20) & 0xffffff;
    format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z-{nonce:06x}", rem / 3600, (rem / 60) % 60, rem % 60)
}
