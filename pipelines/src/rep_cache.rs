//! The representations a budgeted tile owner holds (`[execution] memory_budget`): it loads
//! the members of the tiles it computes itself, tile by tile in tile order, evicting what
//! neither the current nor the next tile to compute needs while over its share.
//!
//! Invariant: what is loaded here is prepared by the same `load_and_prepare` as at load
//! time, so rows are bit-identical with and without a budget.

use std::collections::{BTreeSet, HashMap};

use crate::job::AllPairsJob;
use crate::load::{Loaded, load_and_prepare};
use crate::plan::{Plan, TileId};

/// The prepared representations a budgeted tile owner holds.
#[derive(Default)]
pub(crate) struct RepCache {
    bytes: HashMap<usize, u64>,
    held: u64,
    pub peak_bytes: u64,
    pub loads: usize,
    warned: bool,
}

impl RepCache {
    /// Make `reps` hold every member of `tile`: first drop what neither this tile nor `next`
    /// needs while over `budget`, then load what is missing. A tile's own members are always
    /// loaded (the budget can only be kept when two blocks of the tile size fit in it).
    pub fn prepare_for(
        &mut self,
        job: &AllPairsJob,
        plan: &Plan,
        tile: TileId,
        next: Option<TileId>,
        budget: u64,
        reps: &mut HashMap<usize, Loaded>,
    ) {
        let needs = |t: TileId| -> BTreeSet<usize> {
            plan.block_members(t.group, t.block_a).into_iter().chain(plan.block_members(t.group, t.block_b)).collect()
        };
        let now = needs(tile);
        let later = next.map(needs).unwrap_or_default();
        let incoming: u64 = now.iter().filter(|r| !reps.contains_key(r)).map(|_| self.typical()).sum();
        for keep_later in [true, false] {
            if self.held + incoming <= budget {
                break;
            }
            let drop: Vec<usize> =
                reps.keys().filter(|r| !(now.contains(r) || keep_later && later.contains(r))).copied().collect();
            for r in drop {
                reps.remove(&r);
                self.held -= self.bytes.remove(&r).unwrap_or(0);
            }
        }
        for r in now {
            if reps.contains_key(&r) {
                continue;
            }
            // failures were reported by the loader; the pair is skipped here
            if let Ok(l) = load_and_prepare(job, r) {
                let l = l.for_tiles();
                let b = l.approx_bytes(&job.metrics);
                self.bytes.insert(r, b);
                self.held += b;
                self.loads += 1;
                reps.insert(r, l);
            }
        }
        self.peak_bytes = self.peak_bytes.max(self.held);
        if self.held > budget && !self.warned {
            self.warned = true;
            tracing::warn!(
                held = self.held,
                budget,
                "one tile's representations need more than this worker's share of [execution] memory_budget; \
                 lower [execution] tile_size to keep within it"
            );
        }
    }

    /// The mean size of what is held (a first guess before anything is).
    fn typical(&self) -> u64 {
        if self.bytes.is_empty() { 0 } else { self.held / self.bytes.len() as u64 }
    }
}
