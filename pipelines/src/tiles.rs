//! The tile stage. Each prepared representation is shipped once to every worker that owns
//! a tile of its block (the owner map is `Plan::owners`, the same on every worker); a
//! worker keeps one copy per representation however many of its tiles use it. When the
//! factors, the refusals, the hashes and the plan's decisions are all in, the owner
//! computes its tiles one by one in tile order, flushing `distances` as it goes.
//!
//! Invariant: a tile is computed only after its inputs' frontiers are empty, so every
//! decision and refusal for it is known; with a memory budget the loaders send no factors
//! and the owner loads them itself (`rep_cache`).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::Concat;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Map;

use crate::compare_tile::{TileContext, compute_tile};
use crate::incremental::{Decision, Wanted};
use crate::job::AllPairsJob;
use crate::load::{LoadOutcome, Loaded};
use crate::plan::{Plan, TileId};
use crate::publish::Collected;
use crate::rep_cache::{Decided, RepCache};

/// What the tile owners learn besides the factors.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Control {
    /// A representation refused by the sample-count check (broadcast).
    Refused(usize, String),
    /// The plan's decision for one of this worker's (pair, metric)s.
    Decide(Wanted, Decision),
    /// A representation's content hash (broadcast): a reused row is found by it.
    Hash(usize, String),
}

/// A prepared representation on its way to a tile owner, with the owner's tiles that need it.
type Factor = (u64, Vec<TileId>, Loaded);

/// Route each loaded representation to the owners of the tiles of its block (nothing with a
/// memory budget: the owners load their own).
pub(crate) fn route_factors<'s>(
    loaded: StreamVec<'s, u64, LoadOutcome>,
    plan: Arc<Plan>,
    owners: Arc<HashMap<TileId, u64>>,
    budgeted: bool,
) -> StreamVec<'s, u64, Factor> {
    loaded.flat_map(move |(rep, outcome)| {
        let mut by_worker: BTreeMap<u64, Vec<TileId>> = BTreeMap::new();
        if outcome.is_ok() && !budgeted {
            for t in plan.tiles_of(rep) {
                by_worker.entry(owners.get(&t).copied().unwrap_or(0)).or_default().push(t);
            }
        }
        let loaded = outcome.ok().map(Loaded::for_tiles);
        by_worker.into_iter().filter_map(move |(w, tiles)| loaded.clone().map(|l| (w, tiles, l)))
    })
}

/// The tile operator: computes every tile this worker owns into `sink`. `decisions` are
/// already on their owners; `refusals` and `hashes` on every worker.
pub(crate) fn compute_tiles<'s>(
    factors: StreamVec<'s, u64, Factor>,
    decisions: StreamVec<'s, u64, (Wanted, Decision)>,
    refusals: StreamVec<'s, u64, (usize, String)>,
    hashes: StreamVec<'s, u64, (usize, String)>,
    job: Arc<AllPairsJob>,
    plan: Arc<Plan>,
    index: usize,
    sink: Rc<RefCell<Collected>>,
) -> StreamVec<'s, u64, ()> {
    let control = decisions
        .map(|(w, d)| Control::Decide(w, d))
        .concat(refusals.map(|(rep, message)| Control::Refused(rep, message)))
        .concat(hashes.map(|(rep, hash)| Control::Hash(rep, hash)));
    factors.binary_frontier(control, Exchange::new(|(w, _, _): &Factor| *w), Pipeline, "Tiles", move |cap, _| {
        let mut cap = Some(cap);
        let mut tiles: BTreeMap<TileId, Decided> = BTreeMap::new();
        let mut reps: HashMap<usize, Loaded> = HashMap::new();
        let mut refused: HashMap<usize, String> = HashMap::new();
        let mut hashes: HashMap<usize, String> = HashMap::new();
        move |(in_factors, f1), (in_control, f2), output| {
            in_factors.for_each_stamp(|_, data| {
                for batch in data {
                    for (_, owned, l) in batch.drain(..) {
                        for t in owned {
                            tiles.entry(t).or_default();
                        }
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
                            Control::Decide(w, d) => {
                                tiles.entry(w.tile).or_default().insert((w.rep_a, w.rep_b, w.metric), d);
                            }
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
                let tiles: Vec<(TileId, Decided)> = std::mem::take(&mut tiles).into_iter().collect();
                let mut cache = RepCache::default();
                for (i, (tile, decided)) in tiles.iter().enumerate() {
                    if let Some(budget) = job.worker_memory_budget {
                        cache.prepare_for(&job, decided, tiles.get(i + 1).map(|t| &t.1), budget, &mut reps);
                    }
                    let ctx = TileContext { decided, hashes: &hashes, reps: &reps, refused: &refused };
                    let mut c = sink.borrow_mut();
                    let started = std::time::Instant::now();
                    compute_tile(&job, &plan, *tile, &ctx, &mut c);
                    c.pair_seconds += started.elapsed().as_secs_f64();
                    c.flush_distances(index, &job, false);
                }
                if job.worker_memory_budget.is_some() {
                    tracing::info!(worker = index, loads = cache.loads, peak_bytes = cache.peak_bytes, "budgeted tiles done");
                }
                output.session(&cap).give(());
            }
        }
    })
}
