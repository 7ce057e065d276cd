//! The tile stage. Once the plan's decisions are known, each loader ships a prepared
//! representation once to every worker that owns a tile to *compute* that needs it (kept
//! tiles need nothing); a worker keeps one copy per representation however many of its
//! tiles use it. When factors, refusals, hashes and decisions are all in, the owner
//! computes its tiles one by one in tile order and publishes each tile's rows as its own
//! part, named by the tile's identity.
//!
//! Invariants: a tile is computed only after its inputs' frontiers are empty, so every
//! decision and refusal for it is known; with a memory budget the loaders send no factors
//! and the owner loads them itself (`rep_cache`); what a worker holds while computing is its
//! factors plus one tile's rows.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;

use repspace_store::TilePart;
use serde::{Deserialize, Serialize};
use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::Concat;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Map;

use crate::compare_tile::{Memo, TileContext, score_tile};
use crate::incremental::{Decision, Task};
use crate::job::AllPairsJob;
use crate::load::{LoadOutcome, Loaded, load_and_prepare};
use crate::plan::{Plan, TileId};
use crate::publish::Collected;
use crate::rep_cache::RepCache;

/// What the tile owners learn besides the factors.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Control {
    /// A representation refused by the sample-count check (broadcast).
    Refused(usize, String),
    /// The plan's decision for one of this worker's tasks.
    Decide(Task, Decision),
    /// A representation's content hash (broadcast).
    Hash(usize, String),
}

/// What the tile operator knows besides its streams: the job, the plan, this worker's
/// index, and the worker's sink.
pub(crate) struct TileStage {
    pub job: Arc<AllPairsJob>,
    pub plan: Arc<Plan>,
    pub index: usize,
    pub sink: Rc<RefCell<Collected>>,
}

/// A prepared representation on its way to a tile owner.
type Factor = (u64, Loaded);

/// Route each loaded representation to the owners of the tiles to compute that need it,
/// once `todo` (every tile to compute, on every worker) is complete. Nothing with a memory
/// budget: the owners load their own.
pub(crate) fn route_factors<'s>(
    loaded: StreamVec<'s, u64, LoadOutcome>,
    todo: StreamVec<'s, u64, TileId>,
    job: Arc<AllPairsJob>,
    plan: Arc<Plan>,
    owners: Arc<HashMap<TileId, u64>>,
) -> StreamVec<'s, u64, Factor> {
    let budgeted = job.worker_memory_budget.is_some();
    loaded.binary_frontier(todo, Pipeline, Pipeline, "RouteFactors", move |cap, _| {
        let mut cap = Some(cap);
        let mut held: Vec<Loaded> = Vec::new();
        let mut todo: HashSet<TileId> = HashSet::new();
        move |(in_loaded, f1), (in_todo, f2), output| {
            in_loaded.for_each_stamp(|_, data| {
                for batch in data {
                    held.extend(
                        batch.drain(..).filter_map(|(_, o)| o.ok()).filter(|_| !budgeted).map(Loaded::for_tiles),
                    );
                }
            });
            in_todo.for_each_stamp(|_, data| {
                for batch in data {
                    todo.extend(batch.drain(..));
                }
            });
            if f1.is_empty()
                && f2.is_empty()
                && let Some(cap) = cap.take()
            {
                let mut session = output.session(&cap);
                for l in held.drain(..) {
                    let workers: BTreeSet<u64> = plan
                        .tiles_of(l.rep)
                        .filter(|t| todo.contains(t))
                        .map(|t| owners.get(&t).copied().unwrap_or(0))
                        .collect();
                    if workers.is_empty() {
                        continue;
                    }
                    // a representation taken from the cache is prepared now that a tile needs it
                    let l = if l.has_factors() {
                        l
                    } else {
                        match load_and_prepare(&job, l.rep) {
                            Ok(fresh) if fresh.hash == l.hash => fresh.for_tiles(),
                            Ok(_) => {
                                tracing::error!(
                                    rep = l.rep,
                                    "a file changed while the run read it; rerun to compare its new content"
                                );
                                continue;
                            }
                            Err(e) => {
                                tracing::error!(
                                    rep = l.rep,
                                    "a cached representation cannot be read again: {}",
                                    e.reason
                                );
                                continue;
                            }
                        }
                    };
                    let mut workers = workers.into_iter().peekable();
                    while let Some(w) = workers.next() {
                        if workers.peek().is_some() {
                            session.give((w, l.clone()));
                        } else {
                            session.give((w, l));
                            break;
                        }
                    }
                }
            }
        }
    })
}

/// The tile operator: computes every tile this worker must compute, publishing each tile's
/// rows as a part, and counts the kept ones. `decisions` are on their owners already;
/// `refusals` and `hashes` on every worker.
pub(crate) fn compute_tiles<'s>(
    factors: StreamVec<'s, u64, Factor>,
    decisions: StreamVec<'s, u64, (Task, Decision)>,
    refusals: StreamVec<'s, u64, (usize, String)>,
    hashes: StreamVec<'s, u64, (usize, String)>,
    stage: TileStage,
) -> StreamVec<'s, u64, ()> {
    let TileStage { job, plan, index, sink } = stage;
    let control = decisions
        .map(|(t, d)| Control::Decide(t, d))
        .concat(refusals.map(|(rep, message)| Control::Refused(rep, message)))
        .concat(hashes.map(|(rep, hash)| Control::Hash(rep, hash)));
    factors.binary_frontier(control, Exchange::new(|(w, _): &Factor| *w), Pipeline, "Tiles", move |cap, _| {
        let mut cap = Some(cap);
        let mut tasks: BTreeMap<TileId, Vec<(Task, Decision)>> = BTreeMap::new();
        let mut reps: HashMap<usize, Loaded> = HashMap::new();
        let mut refused: HashMap<usize, String> = HashMap::new();
        let mut hashes: HashMap<usize, String> = HashMap::new();
        move |(in_factors, f1), (in_control, f2), output| {
            in_factors.for_each_stamp(|_, data| {
                for batch in data {
                    for (_, l) in batch.drain(..) {
                        reps.insert(l.rep, l);
                    }
                }
            });
            in_control.for_each_stamp(|_, data| {
                for batch in data {
                    for c in batch.drain(..) {
                        match c {
                            Control::Refused(rep, message) => {
                                refused.insert(rep, message);
                            }
                            Control::Decide(t, d) => tasks.entry(t.tile).or_default().push((t, d)),
                            Control::Hash(rep, hash) => {
                                hashes.insert(rep, hash);
                            }
                        }
                    }
                }
            });
            if f1.is_empty()
                && f2.is_empty()
                && let Some(cap) = cap.take()
            {
                let mut counts: HashMap<&str, usize> = HashMap::new();
                for h in hashes.values() {
                    *counts.entry(h.as_str()).or_default() += 1;
                }
                let duplicated: HashSet<String> =
                    counts.into_iter().filter(|(_, n)| *n > 1).map(|(h, _)| h.to_string()).collect();
                let legacy: HashSet<String> = job.reusable.keys().map(|k| k.0.clone()).collect();
                let tiles: Vec<(TileId, Vec<(Task, Decision)>)> = std::mem::take(&mut tasks).into_iter().collect();
                tracing::debug!(worker = index, tiles = tiles.len(), factors = reps.len(), "tiles start");
                let (mut cache, mut memo) = (RepCache::default(), Memo::default());
                for (i, (tile, list)) in tiles.iter().enumerate() {
                    let mut c = sink.borrow_mut();
                    let compute: Vec<&Task> =
                        list.iter().filter(|(_, d)| *d == Decision::Compute).map(|(t, _)| t).collect();
                    for (t, _) in list.iter().filter(|(_, d)| *d == Decision::Keep) {
                        c.kept_pairs += t.pairs as usize;
                        c.kept_tiles.push(t.key);
                        job.advance(t.pairs as usize);
                    }
                    if compute.is_empty() {
                        continue;
                    }
                    if let Some(budget) = job.worker_memory_budget {
                        let next = tiles[i + 1..]
                            .iter()
                            .find(|(_, l)| l.iter().any(|(_, d)| *d == Decision::Compute))
                            .map(|t| t.0);
                        cache.prepare_for(&job, &plan, *tile, next, budget, &mut reps);
                    }
                    let ctx = TileContext { reps: &reps, refused: &refused, duplicated: &duplicated, legacy: &legacy };
                    for task in compute {
                        let started = std::time::Instant::now();
                        let rows = score_tile(&job, &plan, task, &ctx, &mut memo);
                        c.pair_seconds += started.elapsed().as_secs_f64();
                        let part = TilePart {
                            key: task.key,
                            metric: job.metrics[task.metric as usize].fingerprint(),
                            group: TilePart::group_hash(plan.group_name(task.tile.group)),
                            block_a: task.tile.block_a,
                            block_b: task.tile.block_b,
                        };
                        c.publish_tile(&job, &part, rows);
                    }
                }
                if job.worker_memory_budget.is_some() {
                    tracing::info!(
                        worker = index,
                        loads = cache.loads,
                        peak_bytes = cache.peak_bytes,
                        "budgeted tiles done"
                    );
                }
                tracing::debug!(worker = index, "tiles done");
                output.session(&cap).give(());
            }
        }
    })
}
