//! Incremental planning with differential dataflow. A run's work is
//!
//!   todo  = wanted − existing        reuse = wanted ⋉ existing
//!
//! where `wanted` holds every (pair, metric) of the plan whose two sides prepared for the
//! metric, keyed by the pair's identity (the metric's parameter fingerprint and the two
//! content hashes), and `existing` holds the identities of the rows earlier runs published.
//! New models bring only their pairs into `todo`; a changed file has a new hash, so its
//! pairs are in `todo` and its old rows match nothing (the commit drops them); a removed
//! model's pairs are no longer wanted.
//!
//! Invariants: every worker plans only the tiles it owns (the same owner map everywhere),
//! `existing` is sharded by key, and each decision travels to its tile's owner; a pair
//! whose side failed to load or prepare for a metric is never wanted, so it gets no
//! decision and no row (its `errors` row is written by the loader).

use std::collections::HashMap;
use std::sync::Arc;

use differential_dataflow::AsCollection;
use serde::{Deserialize, Serialize};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::{Map, ToStream};
use timely::dataflow::operators::{Concat, Exchange};
use timely::dataflow::{Scope, StreamVec};

use crate::plan::{Plan, TileId};

/// The identity of a pair's distance: 128 bits of BLAKE3 over (metric fingerprint, hash of
/// side a, hash of side b), in the plan's orientation.
pub type PairKey = u128;

pub fn pair_key(metric_spec: &str, hash_a: &str, hash_b: &str) -> PairKey {
    let mut h = blake3::Hasher::new();
    for part in [metric_spec, hash_a, hash_b] {
        h.update(&(part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    let mut first = [0u8; 16];
    first.copy_from_slice(&h.finalize().as_bytes()[..16]);
    u128::from_le_bytes(first)
}

/// One wanted (pair, metric), at the tile that owns the pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Wanted {
    pub tile: TileId,
    pub rep_a: u32,
    pub rep_b: u32,
    pub metric: u16,
}

/// What the tile owner does with a wanted (pair, metric).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Decision {
    Compute,
    /// Copy the earlier run's row (same metric parameters and content hashes).
    Reuse,
}

/// A representation as the planner knows it (broadcast to every worker): its content hash
/// and, per metric, whether it prepared.
pub(crate) type Known = (usize, String, Vec<bool>);

/// The planning stage. `known` holds every loaded representation (on every worker);
/// `existing` the identities of earlier rows this worker's shard holds (`key % peers ==
/// index`); `fingerprints` the job's metrics'. Returns the decisions, each on its tile's
/// owner.
pub(crate) fn decide<'s>(
    scope: Scope<'s, u64>,
    known: StreamVec<'s, u64, Known>,
    existing: Vec<PairKey>,
    plan: Arc<Plan>,
    owners: Arc<HashMap<TileId, u64>>,
    fingerprints: Vec<String>,
    index: usize,
) -> StreamVec<'s, u64, (Wanted, Decision)> {
    let want_owners = owners.clone();
    let wanted = known
        .unary_frontier(Pipeline, "Wanted", move |cap, _| {
            let mut cap = Some(cap);
            let mut known: HashMap<usize, (String, Vec<bool>)> = HashMap::new();
            move |(input, frontier), output| {
                input.for_each_stamp(|_, data| {
                    for batch in data {
                        for (rep, hash, ok) in batch.drain(..) {
                            known.insert(rep, (hash, ok));
                        }
                    }
                });
                if frontier.is_empty()
                    && let Some(cap) = cap.take()
                {
                    let time = *cap.time();
                    let mut session = output.session(&cap);
                    for tile in plan.tiles().filter(|t| want_owners.get(t) == Some(&(index as u64))) {
                        for (ra, rb) in plan.pairs_of(tile) {
                            let (Some((ha, oka)), Some((hb, okb))) = (known.get(&ra), known.get(&rb)) else {
                                continue;
                            };
                            for (k, spec) in fingerprints.iter().enumerate().filter(|(k, _)| oka[*k] && okb[*k]) {
                                let w = Wanted { tile, rep_a: ra as u32, rep_b: rb as u32, metric: k as u16 };
                                session.give(((pair_key(spec, ha, hb), w), time, 1isize));
                            }
                        }
                    }
                }
            }
        })
        .as_collection();
    let existing = existing.into_iter().map(|k| (k, 0u64, 1isize)).to_stream(scope).as_collection();
    let reuse = wanted.clone().semijoin(existing);
    let todo = wanted.concat(reuse.clone().negate()).consolidate();
    todo.inner
        .flat_map(|((_, w), _, d)| (d > 0).then_some((w, Decision::Compute)))
        .concat(reuse.inner.flat_map(|((_, w), _, d)| (d > 0).then_some((w, Decision::Reuse))))
        .exchange(move |(w, _): &(Wanted, Decision)| owners.get(&w.tile).copied().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_keys_separate_every_component_and_the_orientation() {
        let k = pair_key("shape:1", "aa", "bb");
        assert_eq!(k, pair_key("shape:1", "aa", "bb"));
        assert_ne!(k, pair_key("shape:1", "bb", "aa"));
        assert_ne!(k, pair_key("shape:0.5", "aa", "bb"));
        // length prefixes: moving a character between fields changes the key
        assert_ne!(pair_key("ab", "c", "d"), pair_key("a", "bc", "d"));
    }

    /// The stage on a real timely worker: one group of three, metric 0 has an earlier row
    /// for (0, 1), metric 1 failed to prepare for rep 2.
    #[test]
    fn decisions_reuse_what_exists_compute_the_rest_and_skip_failed_sides() {
        use std::cell::RefCell;
        use std::collections::BTreeMap;
        use std::rc::Rc;
        use timely::dataflow::operators::{Inspect, Probe};

        let keys: Vec<(String, String)> = (0..3).map(|i| (format!("m{i}"), "fc".to_string())).collect();
        let plan = Arc::new(Plan::new(&keys, crate::plan::PairScope::All, 2));
        let owners = Arc::new(plan.owners(1));
        let specs = vec!["spec0".to_string(), "spec1".to_string()];
        let hashes = ["h0", "h1", "h2"];
        let existing = vec![pair_key("spec0", "h0", "h1"), pair_key("spec1", "zz", "h1")];
        let got = timely::execute_directly(move |worker| {
            let got: Rc<RefCell<BTreeMap<(u32, u32, u16), Decision>>> = Rc::default();
            let sink = got.clone();
            let probe = timely::dataflow::ProbeHandle::new();
            worker.dataflow::<u64, _, _>(|scope| {
                let known: Vec<Known> = (0..3)
                    .map(|r| (r, hashes[r].to_string(), vec![true, r != 2]))
                    .collect();
                decide(scope, known.to_stream(scope), existing, plan, owners, specs, 0)
                    .inspect(move |(w, d)| {
                        assert!(sink.borrow_mut().insert((w.rep_a, w.rep_b, w.metric), *d).is_none(), "one decision each");
                    })
                    .probe_with(&probe);
            });
            while !probe.done() {
                worker.step();
            }
            got.take()
        });
        let expected: BTreeMap<(u32, u32, u16), Decision> = [
            ((0, 1, 0), Decision::Reuse),
            ((0, 2, 0), Decision::Compute),
            ((1, 2, 0), Decision::Compute),
            ((0, 1, 1), Decision::Compute),
        ]
        .into_iter()
        .collect();
        assert_eq!(got, expected);
    }
}
