//! The all-pairs dataflow, stage by stage. Every worker builds the same graph; timely
//! decides nothing about *what* is computed, only *where*:
//!
//! ```text
//! load ─┬─▶ record (models, errors, geometry rows)
//!       ├─▶ sample counts ─▶ refusals (broadcast)
//!       ├─▶ layers ─▶ paths (on each model's owner)
//!       ├─▶ hashes (broadcast) ─┬─▶ decide (differential, by tile: keep / compute) ─▶ tile owners
//!       │        refusals ──────┘                           └─▶ tiles to compute (broadcast)
//!       └─▶ factors (held until the tiles to compute are known) ─▶ tile owners ─▶ compare
//!           tiles ─▶ one part per computed tile
//! ```
//! then each worker publishes its parts, and the barrier brings every report to worker 0.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::sync::Arc;

use repspace_store::StoreError;
use timely::dataflow::ProbeHandle;
use timely::dataflow::operators::vec::{Broadcast, Map};
use timely::dataflow::operators::{Inspect, Probe};

use crate::barrier::gather_reports;
use crate::incremental::{Decision, Planner, TileKey, decide};
use crate::job::{AllPairsJob, NamedMetric};
use crate::layer_paths::{PathLayer, analyse_paths, model_route};
use crate::load::load;
use crate::plan::Plan;
use crate::publish::Collected;
use crate::report::RunReport;
use crate::report::{RepRecord, WorkerReport};
use crate::sample_counts::refuse_mismatched_counts;
use crate::tiles::{TileStage, compute_tiles, route_factors};

/// What the committing process learns from a run: the summed report and the identities of
/// every tile the run wants (the current tile parts).
pub struct RunOutcome {
    pub report: RunReport,
    pub tiles: HashSet<TileKey>,
    /// What was read of each loaded representation: (rep, content hash, shape, prepared
    /// per metric), in manifest order.
    pub records: Vec<RepRecord>,
}

/// The number of workers of a timely configuration.
pub fn worker_count(config: &timely::Config) -> usize {
    match &config.communication {
        timely::CommunicationConfig::Thread => 1,
        timely::CommunicationConfig::Process(n) | timely::CommunicationConfig::ProcessBinary(n) => *n,
        timely::CommunicationConfig::Cluster { threads, addresses, .. } => threads * addresses.len(),
    }
}

/// Run the all-pairs job on a timely cluster described by `config`. Each worker publishes
/// its own parts. Returns the whole run's outcome in the process hosting worker 0 (the one
/// that commits), `None` in the other processes of a cluster.
pub fn run_all_pairs(job: Arc<AllPairsJob>, config: timely::Config) -> Result<Option<RunOutcome>, String> {
    let keys: Vec<(String, String)> = job.manifest.rows.iter().map(|r| (r.model_id.clone(), r.layer.clone())).collect();
    let plan = Arc::new(Plan::from_ordinals(&keys, &job.ordinals));
    tracing::debug!(tiles = plan.tiles().count(), workers = worker_count(&config), "plan");
    if let Some(bar) = &job.progress {
        bar.set_length((plan.pair_count() * job.metrics.len()) as u64);
    }
    let guards = timely::execute(config, move |worker| {
        let report = worker_graph(worker, job.clone(), plan.clone());
        gather_reports(worker, report)
    })?;
    let mut total = None;
    for result in guards.join() {
        if let Some((report, tiles, mut records)) = result?? {
            records.sort_by_key(|r| r.0);
            total = Some(RunOutcome { report, tiles: tiles.into_iter().collect(), records });
        }
    }
    Ok(total)
}

/// The identities of committed tiles in this worker's shard (`key % peers == index`).
fn committed_shard(job: &AllPairsJob, index: usize, peers: usize) -> Vec<TileKey> {
    job.committed_tiles.iter().copied().filter(|k| k % peers as u128 == index as u128).collect()
}

/// One worker: build the graph, run it to completion, publish this worker's parts.
fn worker_graph(
    worker: &mut timely::worker::Worker,
    job: Arc<AllPairsJob>,
    plan: Arc<Plan>,
) -> Result<WorkerReport, StoreError> {
    let (index, peers) = (worker.index(), worker.peers());
    let owners = Arc::new(plan.owners(peers));
    let collected = Rc::new(RefCell::new(Collected::default()));
    let probe = ProbeHandle::new();

    worker.dataflow::<u64, _, _>(|scope| {
        let (sink, record_job) = (collected.clone(), job.clone());
        let loaded = load(scope, job.clone(), index, peers)
            .inspect(move |outcome| sink.borrow_mut().record_load(&record_job, outcome));

        let counts = loaded.clone().flat_map(|(rep, outcome)| outcome.ok().map(|l| (rep, l.n_samples())));
        let refused_sink = collected.clone();
        let refusals = refuse_mismatched_counts(counts, plan.clone()).inspect(move |(rep, message)| {
            refused_sink.borrow_mut().refused.insert(*rep, message.clone());
        });

        if !job.paths.is_empty() {
            let layer_job = job.clone();
            let layers = loaded.clone().flat_map(move |(rep, outcome)| {
                outcome.ok().map(|l| {
                    let route = model_route(&layer_job.manifest.rows[rep].model_id);
                    let usable = l.path_points.iter().map(Result::is_ok).collect();
                    (route, PathLayer { rep, hash: l.hash, usable, x: l.path_input })
                })
            });
            analyse_paths(layers, refusals.clone(), job.clone(), index, collected.clone()).probe_with(&probe);
        }

        let known = loaded
            .clone()
            .flat_map(|(rep, outcome)| {
                outcome.ok().map(|l| (rep, l.hash.clone(), l.prepared.iter().map(Result::is_ok).collect::<Vec<bool>>()))
            })
            .broadcast();
        let hashes = known.clone().map(|(rep, hash, _)| (rep, hash));
        let fingerprints = job.metrics.iter().map(NamedMetric::fingerprint).collect();
        let committed = committed_shard(&job, index, peers);
        let planner = Planner { plan: plan.clone(), owners: owners.clone(), fingerprints, index };
        let decisions = decide(scope, known, refusals.clone(), committed, planner);
        let todo = decisions.clone().flat_map(|(t, d)| (d == Decision::Compute).then_some(t.tile)).broadcast();

        let factors = route_factors(loaded, todo, job.clone(), plan.clone(), owners);
        let stage = TileStage { job: job.clone(), plan: plan.clone(), index, sink: collected.clone() };
        compute_tiles(factors, decisions, refusals, hashes, stage).probe_with(&probe);
    });

    while !probe.done() {
        worker.step();
    }
    let published = collected.borrow_mut().publish(index, &job);
    tracing::debug!(worker = index, "published");
    published
}
