//! Resolve a run: read and check the config, train the zoo on first use, load the manifest
//! and the geometry probe, choose the run id, lock the output, and gather what earlier
//! runs left to reuse. The result is the [`AllPairsJob`] every worker shares.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use repspace_pipelines::registry::{Registered, assign};
use repspace_pipelines::{AllPairsJob, EarlierTiles, GeometryJob, Plan, Reusable};
use repspace_store::tables::{DistanceRow, ModelRow, RepresentationRow};
use repspace_store::{Location, Manifest, Output, Storage};

use crate::config::{Config, validate_embedding};
use crate::lock::RunLock;
use crate::run::RunArgs;

/// A run ready to execute.
pub struct Resolved {
    pub config: Config,
    /// The config file's text, kept in the run record.
    pub config_text: String,
    pub job: Arc<AllPairsJob>,
    /// Held by process 0 from before earlier rows are read until after the commit.
    pub lock: Option<RunLock>,
    pub rejected_rows: usize,
    /// What the listings said of the activation files, and when the run started (ms since
    /// the epoch): the registry records them (`reread.rs`).
    pub file_metas: HashMap<Location, repspace_store::storage::FileMeta>,
    pub run_started: i64,
    /// Worker threads per process, and processes (the run record says them).
    pub workers: usize,
    pub processes: usize,
}

/// Read the config at `location` and check it.
pub fn read_config(storage: &Storage, location: &Location) -> Result<(Config, String)> {
    let text = match storage.get(location) {
        Ok(b) => String::from_utf8(b.to_vec()).with_context(|| format!("{location}: not UTF-8 text"))?,
        Err(_) => bail!("cannot read config {location}"),
    };
    let config = Config::parse(&text).map_err(|e| anyhow::anyhow!("config {location}: {e}"))?;
    Ok((config, text))
}

pub fn resolve(args: &RunArgs) -> Result<Resolved> {
    if args.workers == 0 {
        bail!("--workers must be at least 1");
    }
    let run_started =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let storage = Storage::new()?;
    let config_loc = Location::parse(&args.config, None)?;
    let (config, config_text) = read_config(&storage, &config_loc)?;
    let metrics = config.metric_specs().with_context(|| format!("config {config_loc}"))?;
    let paths = config.path_specs().with_context(|| format!("config {config_loc}"))?;
    if let Some(e) = &config.embedding {
        validate_embedding(e).with_context(|| format!("config {config_loc}"))?;
    }
    let base = config_loc.parent();
    let manifest_loc = Location::parse(&config.input.manifest, Some(&base)).context("input.manifest")?;
    let root = Location::parse(&config.output.uri, Some(&base)).context("output.uri")?;
    if let Some(zoo) = &config.input.zoo {
        // the default job trains its zoo on first use; an existing manifest is kept
        if args.process == 0 && matches!(storage.get(&manifest_loc), Err(repspace_store::storage::GetError::NotFound)) {
            let zoo_loc = Location::parse(zoo, Some(&base)).context("input.zoo")?;
            if !args.quiet {
                crate::say!("repspace: {manifest_loc} does not exist yet; training the zoo of {zoo_loc} first");
            }
            crate::zoo::train(&storage, &zoo_loc, None, args.quiet)?;
        }
    }
    let mut manifest = Manifest::load(&storage, &manifest_loc)?;
    if let Some(layers) = &config.input.layers {
        select_layers(&mut manifest, layers).with_context(|| format!("config {config_loc}: input.layers"))?;
    }
    let geometry = match &config.geometry {
        Some(g) => {
            let probe = Location::parse(&g.probe, Some(&base)).context("geometry.probe")?;
            let line = g.line.map(|[a, b]| (a, b, g.line_steps));
            let plane = g.plane.map(|[a, b, c]| (a, b, c, g.plane_steps));
            Some(
                GeometryJob::load(&storage, &probe, g.probe_key.as_deref(), line, plane, g.rank, g.per_point)
                    .map_err(|e| anyhow::anyhow!("geometry.probe {probe}: {e}"))?,
            )
        }
        None => None,
    };
    let run_id = crate::cluster::agree_run_id(args)?;
    // process 0 owns the output for the run: it locks, commits and runs the post-steps
    let lock = if args.process == 0 { Some(RunLock::acquire(&storage, &root, run_id.as_str())?) } else { None };
    let output = Output::new(storage.clone(), root.clone());
    // Tiles whose parts the output holds (committed or not: parts are whole files, named by
    // their content's identity) are kept; only their names are listed.
    // Bundles (`repspace compact`) are known by their footers; their members count as parts.
    let listing = output.list("distances")?;
    let tile_sources = output.tile_sources("distances", Some(&listing))?;
    let committed_tiles: Vec<u128> = tile_sources.keys().into_iter().collect();
    let mut earlier_tiles = EarlierTiles { listing, ..EarlierTiles::default() };
    for (t, source) in tile_sources.sources() {
        earlier_tiles.parts.entry((t.metric, t.group, t.block_a, t.block_b)).or_default().push(source);
    }
    earlier_tiles.sources = Arc::new(tile_sources);
    let keys: Vec<(String, String)> = manifest.rows.iter().map(|r| (r.model_id.clone(), r.layer.clone())).collect();
    let (registry, _) = repspace_store::tables::read_tolerant::<RepresentationRow>(&storage, &root)?;
    let previous: Vec<Registered> = registry
        .iter()
        .map(|r| Registered {
            group: r.group.clone(),
            ordinal: r.ordinal.max(0) as u64,
            model_id: r.model_id.clone(),
            layer: r.layer.clone(),
            tile_size: r.tile_size.max(1) as u64,
        })
        .collect();
    let has_paths = !paths.is_empty();
    let file_metas = crate::reread::file_metas(&storage, &manifest, has_paths)?;
    let cached = crate::reread::cached_reads(&registry, &manifest, &file_metas, &metrics, has_paths);
    // where each content sat: the earlier registry's blocks joined with the earlier models
    let (models, _) = repspace_store::tables::read_tolerant::<ModelRow>(&storage, &root)?;
    let hashes: HashMap<(&str, &str), &str> =
        models.iter().map(|m| ((m.model_id.as_str(), m.layer.as_str()), m.content_hash.as_str())).collect();
    for r in &previous {
        if let Some(hash) = hashes.get(&(r.model_id.as_str(), r.layer.as_str())) {
            let block = (r.ordinal / r.tile_size.max(1)) as u32;
            earlier_tiles.blocks.entry((r.group.clone(), hash.to_string())).or_default().push(block);
        }
    }
    let workers = args.workers * args.processes.max(1);
    let auto = Plan::auto_tile_size(&Plan::group_sizes(&keys, config.pairs.scope), workers);
    let ordinals = assign(&previous, &keys, config.pairs.scope, config.execution.tile_size, |_| auto);
    // Rows of earlier runs' run parts (within-model path rows; pair rows of versions before
    // tile parts) for the same metric parameters and content hashes are copied.
    let (earlier, unreadable_parts) =
        repspace_store::tables::read_run_parts::<DistanceRow>(&storage, &earlier_tiles.listing)?;
    if unreadable_parts > 0 {
        tracing::warn!(
            parts = unreadable_parts,
            "earlier distance parts could not be read for reuse; their pairs are recomputed"
        );
    }
    let reusable: Reusable = earlier
        .into_iter()
        .filter(DistanceRow::reusable_now)
        .map(|r| ((r.metric_spec.clone(), r.hash_a.clone(), r.hash_b.clone()), r))
        .collect();
    let reusable_paths = if config.paths.is_empty() {
        Default::default()
    } else {
        repspace_store::tables::read_reusable_paths(&storage, &root)?
    };
    tracing::info!(%run_id, manifest = %manifest_loc, output = %root, representations = manifest.rows.len(), "starting run");
    let rejected_rows = manifest.rejected.len();
    let job = Arc::new(AllPairsJob {
        run_id,
        output,
        manifest,
        metrics,
        paths,
        geometry,
        scope: config.pairs.scope,
        ordinals,
        committed_tiles,
        earlier: earlier_tiles,
        cached,
        storage,
        progress: progress_bar(args.quiet),
        reusable,
        flush_rows: config.execution.flush_rows,
        // the budget is the process's; each of its workers gets an equal share
        worker_memory_budget: config.execution.memory_budget.map(|b| b.0 / args.workers as u64),
        reusable_paths,
    });
    Ok(Resolved {
        config,
        config_text,
        job,
        lock,
        rejected_rows,
        file_metas,
        run_started,
        workers: args.workers,
        processes: args.processes.max(1),
    })
}

/// A progress bar of (pair, metric)s on a terminal; none when quiet or piped.
fn progress_bar(quiet: bool) -> Option<ProgressBar> {
    (!quiet && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} pairs {bar:40} {pos}/{len} [{elapsed_precise}, eta {eta}]")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    })
}

/// Keep the manifest's rows of `layers`; a named layer no row has is an error (a typo would
/// otherwise drop a layer from the run in silence).
fn select_layers(manifest: &mut Manifest, layers: &[String]) -> Result<()> {
    if layers.is_empty() {
        bail!("empty: leave the key out to take every layer");
    }
    let missing: Vec<&str> =
        layers.iter().filter(|l| !manifest.rows.iter().any(|r| &r.layer == *l)).map(String::as_str).collect();
    if !missing.is_empty() {
        bail!("no row of {} has layer {}", manifest.location, missing.join(", "));
    }
    manifest.rows.retain(|r| layers.contains(&r.layer));
    Ok(())
}
