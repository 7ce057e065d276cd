//! Incremental planning by tile, with differential dataflow. A run's work is
//!
//!   keep = wanted ⋉ committed        todo = wanted − keep
//!
//! where `wanted` holds one record per (tile, metric) of the plan, keyed by the tile's
//! identity ([`tile_key`]: the metric's fingerprint, the group, and both blocks' usable
//! members in ordinal order with their names and content hashes), and `committed` holds the
//! identities whose parts the output already has (listed by file name, never read). A kept
//! tile's part is left as it is: not read, decoded or rewritten.
//!
//! Because blocks are stable ordinal ranges (`registry.rs`), a new model only brings the
//! tiles of its new block into `todo`; a changed file changes the identity of the tiles of
//! its block; a removed or renamed model changes its block's tiles (renaming is removing
//! plus adding: such "mixed" tiles are recomputed whole, which costs at most one block row
//! of pairs and keeps a part equal to exactly one identity).
//!
//! Invariants: planning state is O(tiles), never O(pairs); every worker plans only the tiles
//! it owns (the same owner map everywhere), `committed` is sharded by key, and each decision
//! travels to its tile's owner. A member that failed to load, to prepare for the metric, or
//! the sample-count check is left out of the identity and of the tile's pairs.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use differential_dataflow::AsCollection;
use serde::{Deserialize, Serialize};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::{Map, ToStream};
use timely::dataflow::operators::{Concat, Exchange};
use timely::dataflow::{Scope, StreamVec};

use crate::plan::{Plan, TileId};

/// The identity of one metric's rows of one tile: 128 bits of BLAKE3.
pub type TileKey = u128;

/// The version of the identity's layout and of the rows it names; part of every key.
/// 1: repspace 0.1's tiles. 2: `distances` rows carry `test_underdetermined`, and an
/// underdetermined `distance_test` is the average completion (a run of this version
/// recomputes every tile of an older output once, copying its rows pair by pair where
/// [`DistanceRow::reusable_now`] allows).
///
/// [`DistanceRow::reusable_now`]: repspace_store::tables::DistanceRow::reusable_now
const TILE_KEY_VERSION: &str = "repspace-tile/2";

/// A field of a hashed record: its length, then its bytes (so no two records collide by
/// moving bytes between fields).
fn field(h: &mut blake3::Hasher, bytes: &[u8]) {
    h.update(&(bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

/// The digest of one block's usable members (model_id, layer, content hash), in ordinal order.
pub fn block_digest<'a>(members: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    let mut n = 0u64;
    for (model, layer, hash) in members {
        field(&mut h, model.as_bytes());
        field(&mut h, layer.as_bytes());
        field(&mut h, hash.as_bytes());
        n += 1;
    }
    h.update(&n.to_le_bytes());
    *h.finalize().as_bytes()
}

/// The identity of a tile's rows for one metric from its blocks' digests.
pub fn tile_key_of(fingerprint: &str, group: &str, block_a: &[u8; 32], block_b: &[u8; 32]) -> TileKey {
    let mut h = blake3::Hasher::new();
    for part in [TILE_KEY_VERSION.as_bytes(), fingerprint.as_bytes(), group.as_bytes(), block_a, block_b] {
        field(&mut h, part);
    }
    let mut first = [0u8; 16];
    first.copy_from_slice(&h.finalize().as_bytes()[..16]);
    u128::from_le_bytes(first)
}

/// The identity of a tile's rows for one metric: the metric fingerprint, the group, and the
/// (model_id, layer, content hash) of each usable member of both blocks, in ordinal order.
pub fn tile_key<'a>(
    fingerprint: &str,
    group: &str,
    block_a: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
    block_b: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
) -> TileKey {
    tile_key_of(fingerprint, group, &block_digest(block_a), &block_digest(block_b))
}

/// One metric of one tile, with its identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Task {
    pub tile: TileId,
    pub metric: u16,
    pub key: TileKey,
    /// The tile's pairs whose both sides are usable for the metric.
    pub pairs: u64,
}

/// What the tile owner does with a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Decision {
    Compute,
    /// The output holds this identity's part already: leave it.
    Keep,
}

/// A representation as the planner knows it (broadcast to every worker): its content hash
/// and, per metric, whether it prepared.
pub(crate) type Known = (usize, String, Vec<bool>);

/// The tasks of the tiles `index` owns, from every known representation and refusal. A
/// block's digest is computed once per metric, however many tiles share the block.
pub(crate) fn owned_tasks(
    plan: &Plan,
    owners: &HashMap<TileId, u64>,
    index: usize,
    fingerprints: &[String],
    known: &HashMap<usize, (String, Vec<bool>)>,
    refused: &HashSet<usize>,
) -> Vec<Task> {
    // (group, block, metric) → (usable members, digest)
    let mut digests: HashMap<(u32, u32, usize), (usize, [u8; 32])> = HashMap::new();
    let mut digest = |group: u32, block: u32, k: usize| -> (usize, [u8; 32]) {
        *digests.entry((group, block, k)).or_insert_with(|| {
            let usable: Vec<(&str, &str, &str)> = plan
                .block_members(group, block)
                .into_iter()
                .filter(|r| !refused.contains(r))
                .filter_map(|r| match known.get(&r) {
                    Some((hash, ok)) if ok[k] => {
                        let (model, layer) = plan.key(r);
                        Some((model.as_str(), layer.as_str(), hash.as_str()))
                    }
                    _ => None,
                })
                .collect();
            (usable.len(), block_digest(usable))
        })
    };
    let mut tasks = Vec::new();
    for tile in plan.tiles().filter(|t| owners.get(t) == Some(&(index as u64))) {
        for (k, fingerprint) in fingerprints.iter().enumerate() {
            let (na, da) = digest(tile.group, tile.block_a, k);
            let (nb, db) = digest(tile.group, tile.block_b, k);
            let pairs = if tile.block_a == tile.block_b { na * na.saturating_sub(1) / 2 } else { na * nb };
            if pairs == 0 {
                continue;
            }
            let key = tile_key_of(fingerprint, plan.group_name(tile.group), &da, &db);
            tasks.push(Task { tile, metric: k as u16, key, pairs: pairs as u64 });
        }
    }
    tasks
}

/// What the planning stage knows besides its streams.
pub(crate) struct Planner {
    pub plan: Arc<Plan>,
    pub owners: Arc<HashMap<TileId, u64>>,
    /// The job's metrics' fingerprints.
    pub fingerprints: Vec<String>,
    /// This worker's index.
    pub index: usize,
}

/// The planning stage. `known` and `refusals` are complete on every worker; `committed`
/// holds the identities of this worker's shard (`key % peers == index`). Returns every
/// decision on its tile's owner.
pub(crate) fn decide<'s>(
    scope: Scope<'s, u64>,
    known: StreamVec<'s, u64, Known>,
    refusals: StreamVec<'s, u64, (usize, String)>,
    committed: Vec<TileKey>,
    planner: Planner,
) -> StreamVec<'s, u64, (Task, Decision)> {
    let Planner { plan, owners, fingerprints, index } = planner;
    let want_owners = owners.clone();
    let wanted = known
        .binary_frontier(refusals, Pipeline, Pipeline, "WantedTiles", move |cap, _| {
            let mut cap = Some(cap);
            let mut known: HashMap<usize, (String, Vec<bool>)> = HashMap::new();
            let mut refused: HashSet<usize> = HashSet::new();
            move |(in_known, f1), (in_refused, f2), output| {
                in_known.for_each_stamp(|_, data| {
                    for batch in data {
                        known.extend(batch.drain(..).map(|(rep, hash, ok)| (rep, (hash, ok))));
                    }
                });
                in_refused.for_each_stamp(|_, data| {
                    for batch in data {
                        refused.extend(batch.drain(..).map(|(rep, _)| rep));
                    }
                });
                if f1.is_empty()
                    && f2.is_empty()
                    && let Some(cap) = cap.take()
                {
                    let time = *cap.time();
                    let tasks = owned_tasks(&plan, &want_owners, index, &fingerprints, &known, &refused);
                    tracing::debug!(worker = index, tasks = tasks.len(), "tile identities");
                    output.session(&cap).give_iterator(tasks.into_iter().map(|t| ((t.key, t), time, 1isize)));
                }
            }
        })
        .as_collection();
    let committed = committed.into_iter().map(|k| (k, 0u64, 1isize)).to_stream(scope).as_collection();
    let keep = wanted.clone().semijoin(committed);
    let todo = wanted.concat(keep.clone().negate()).consolidate();
    todo.inner
        .flat_map(|((_, t), _, d)| (d > 0).then_some((t, Decision::Compute)))
        .concat(keep.inner.flat_map(|((_, t), _, d)| (d > 0).then_some((t, Decision::Keep))))
        .exchange(move |(t, _): &(Task, Decision)| owners.get(&t.tile).copied().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_keys_separate_every_component() {
        let a = [("m0", "fc", "h0"), ("m1", "fc", "h1")];
        let b = [("m2", "fc", "h2")];
        let k = tile_key("spec", "fc", a, b);
        assert_eq!(k, tile_key("spec", "fc", a, b));
        assert_ne!(k, tile_key("spec2", "fc", a, b));
        assert_ne!(k, tile_key("spec", "fc2", a, b));
        assert_ne!(k, tile_key("spec", "fc", b, a), "the sides are ordered");
        assert_ne!(k, tile_key("spec", "fc", [a[0]], [a[1], b[0]]), "block boundaries count");
        assert_ne!(k, tile_key("spec", "fc", [("m0", "fc", "h0"), ("m1", "fc", "hX")], b), "content counts");
        assert_ne!(k, tile_key("spec", "fc", [("m0", "fc", "h0"), ("n1", "fc", "h1")], b), "names count");
    }

    /// The stage on a real timely worker: three representations in blocks of 2, metric 1
    /// failed for rep 2, and the output holds the (block 0, block 0) tile of metric 0.
    #[test]
    fn committed_tiles_are_kept_the_rest_computed_and_empty_tiles_skipped() {
        use std::cell::RefCell;
        use std::collections::BTreeMap;
        use std::rc::Rc;
        use timely::dataflow::operators::{Inspect, Probe};

        let keys: Vec<(String, String)> = (0..3).map(|i| (format!("m{i}"), "fc".to_string())).collect();
        let plan = Arc::new(Plan::new(&keys, crate::plan::PairScope::All, 2));
        let owners = Arc::new(plan.owners(1));
        let fingerprints = vec!["spec0".to_string(), "spec1".to_string()];
        let committed = vec![tile_key(
            "spec0",
            "",
            [("m0", "fc", "h0"), ("m1", "fc", "h1")],
            [("m0", "fc", "h0"), ("m1", "fc", "h1")],
        )];
        let got = timely::execute_directly(move |worker| {
            let got: Rc<RefCell<BTreeMap<(u32, u32, u16), Decision>>> = Rc::default();
            let sink = got.clone();
            let probe = timely::dataflow::ProbeHandle::new();
            worker.dataflow::<u64, _, _>(|scope| {
                let known: Vec<Known> = (0..3).map(|r| (r, format!("h{r}"), vec![true, r != 2])).collect();
                let refusals: Vec<(usize, String)> = Vec::new();
                let planner = Planner { plan, owners, fingerprints, index: 0 };
                decide(scope, known.to_stream(scope), refusals.to_stream(scope), committed, planner)
                    .inspect(move |(t, d)| {
                        let fresh = sink.borrow_mut().insert((t.tile.block_a, t.tile.block_b, t.metric), *d).is_none();
                        assert!(fresh, "one decision per task");
                    })
                    .probe_with(&probe);
            });
            while !probe.done() {
                worker.step();
            }
            got.take()
        });
        let expected: BTreeMap<(u32, u32, u16), Decision> = [
            ((0, 0, 0), Decision::Keep),
            ((0, 1, 0), Decision::Compute),
            ((0, 0, 1), Decision::Compute),
            // (0, 1) for metric 1 has no usable pair: rep 2 failed, so no task
        ]
        .into_iter()
        .collect();
        assert_eq!(got, expected);
    }
}
