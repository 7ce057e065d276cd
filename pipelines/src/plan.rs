//! Which pairs a run computes, and how they are cut into tiles.
//!
//! Representations are split into comparison groups (equal `layer`, or one group for
//! scope `all`). Within a group they are ordered by (model_id, layer) and cut into blocks
//! of `tile_size`; tile (g, i, j), i ≤ j, holds the pairs between blocks i and j. A tile is
//! the unit of work a worker owns; a representation travels to every tile of its block.
//!
//! Tile size model ([`Plan::auto_tile_size`], when `[execution] tile_size` is not set): the
//! largest size up to [`MAX_AUTO_TILE_SIZE`] that still cuts the job into at least
//! [`TILES_PER_WORKER`] tiles per worker, so that [`Plan::owners`] can even out the work.
//! Tiles are assigned by pair count, largest first, each to the least-loaded worker (LPT);
//! every worker computes the same assignment from the same plan.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

/// The largest automatic tile size: a worker holds two blocks of it per tile.
pub const MAX_AUTO_TILE_SIZE: usize = 32;

/// Tiles per worker the automatic tile size aims for (balance).
pub const TILES_PER_WORKER: usize = 4;

/// Which representations are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PairScope {
    /// Pairs with equal `layer` name (different models).
    WithinLayer,
    /// Every pair of representations.
    All,
}

/// (group, block_a, block_b) with block_a ≤ block_b.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TileId {
    pub group: u32,
    pub block_a: u32,
    pub block_b: u32,
}

/// The comparison groups and each representation's place in them.
#[derive(Clone, Debug)]
pub struct Plan {
    pub tile_size: usize,
    /// Group name (the layer, or "" for scope `all`) and its members, sorted by (model_id, layer).
    pub groups: Vec<(String, Vec<usize>)>,
    /// For each representation: (group, position in group).
    pub slot: Vec<(u32, usize)>,
}

impl Plan {
    /// `keys[r]` = (model_id, layer) of representation r.
    pub fn new(keys: &[(String, String)], scope: PairScope, tile_size: usize) -> Plan {
        let tile_size = tile_size.max(1);
        let mut by_group: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (r, (_, layer)) in keys.iter().enumerate() {
            let g = match scope {
                PairScope::WithinLayer => layer.clone(),
                PairScope::All => String::new(),
            };
            by_group.entry(g).or_default().push(r);
        }
        let mut slot = vec![(0, 0); keys.len()];
        let groups: Vec<(String, Vec<usize>)> = by_group
            .into_iter()
            .enumerate()
            .map(|(g, (name, mut members))| {
                members.sort_by(|&a, &b| keys[a].cmp(&keys[b]));
                for (pos, &r) in members.iter().enumerate() {
                    slot[r] = (g as u32, pos);
                }
                (name, members)
            })
            .collect();
        Plan { tile_size, groups, slot }
    }

    /// The plan with the tile size of the model in the module docs for `workers` workers.
    pub fn auto(keys: &[(String, String)], scope: PairScope, workers: usize) -> Plan {
        let plan = Plan::new(keys, scope, MAX_AUTO_TILE_SIZE);
        let sizes: Vec<usize> = plan.groups.iter().map(|(_, m)| m.len()).collect();
        Plan { tile_size: Plan::auto_tile_size(&sizes, workers), ..plan }
    }

    /// The largest tile size ≤ [`MAX_AUTO_TILE_SIZE`] giving at least [`TILES_PER_WORKER`]
    /// tiles per worker over groups of `group_sizes` (1 when no size does).
    pub fn auto_tile_size(group_sizes: &[usize], workers: usize) -> usize {
        let tiles = |b: usize| -> usize {
            group_sizes.iter().map(|&n| n.div_ceil(b)).map(|blocks| blocks * (blocks + 1) / 2).sum()
        };
        let want = TILES_PER_WORKER * workers.max(1);
        (1..=MAX_AUTO_TILE_SIZE).rev().find(|&b| tiles(b) >= want).unwrap_or(1)
    }

    /// Which of `workers` workers owns each tile: pair counts balanced largest first (LPT),
    /// ties broken by tile id, so every worker derives the same map.
    pub fn owners(&self, workers: usize) -> HashMap<TileId, u64> {
        let workers = workers.max(1);
        let mut tiles: Vec<(usize, TileId)> = self.tiles().map(|t| (self.pair_count_of(t), t)).collect();
        tiles.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut load = vec![0usize; workers];
        let mut out = HashMap::with_capacity(tiles.len());
        for (pairs, t) in tiles {
            let w = (0..workers).min_by_key(|&w| (load[w], w)).unwrap_or(0);
            load[w] += pairs;
            out.insert(t, w as u64);
        }
        out
    }

    /// Number of pairs of one tile.
    pub fn pair_count_of(&self, tile: TileId) -> usize {
        let n = self.groups[tile.group as usize].1.len();
        let len = |b: u32| (n.min((b as usize + 1) * self.tile_size)).saturating_sub(b as usize * self.tile_size);
        let (a, b) = (len(tile.block_a), len(tile.block_b));
        if tile.block_a == tile.block_b { a * a.saturating_sub(1) / 2 } else { a * b }
    }

    fn blocks(&self, group: u32) -> u32 {
        self.groups[group as usize].1.len().div_ceil(self.tile_size) as u32
    }

    /// Every tile that needs representation `r`.
    pub fn tiles_of(&self, r: usize) -> impl Iterator<Item = TileId> + '_ {
        let (group, pos) = self.slot[r];
        let b = (pos / self.tile_size) as u32;
        (0..self.blocks(group)).map(move |c| TileId { group, block_a: b.min(c), block_b: b.max(c) })
    }

    /// Every tile of the plan, group by group.
    pub fn tiles(&self) -> impl Iterator<Item = TileId> + '_ {
        (0..self.groups.len() as u32).flat_map(move |group| {
            let n = self.blocks(group);
            (0..n).flat_map(move |a| (a..n).map(move |b| TileId { group, block_a: a, block_b: b }))
        })
    }

    /// The representations of one block of a group, in the group's order.
    pub fn block_members(&self, group: u32, block: u32) -> &[usize] {
        let members = &self.groups[group as usize].1;
        let lo = (block as usize * self.tile_size).min(members.len());
        &members[lo..(lo + self.tile_size).min(members.len())]
    }

    /// The pairs (r_a, r_b) of a tile, r_a before r_b in the group's order.
    pub fn pairs_of(&self, tile: TileId) -> Vec<(usize, usize)> {
        let members = &self.groups[tile.group as usize].1;
        let range = |b: u32| {
            let lo = b as usize * self.tile_size;
            lo..(lo + self.tile_size).min(members.len())
        };
        let mut out = Vec::new();
        for p in range(tile.block_a) {
            for q in range(tile.block_b) {
                if p < q {
                    out.push((members[p], members[q]));
                }
            }
        }
        out
    }

    /// Number of pairs the plan holds.
    pub fn pair_count(&self) -> usize {
        self.groups.iter().map(|(_, m)| m.len() * m.len().saturating_sub(1) / 2).sum()
    }

    pub fn group_name(&self, group: u32) -> &str {
        &self.groups[group as usize].0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn tiles_cover_every_pair_of_a_group_exactly_once() {
        let keys: Vec<(String, String)> = (0..23)
            .map(|i| (format!("m{:02}", (i * 7) % 23), if i % 3 == 0 { "a".into() } else { "b".into() }))
            .collect();
        for tile_size in [1, 2, 4, 5, 64] {
            let plan = Plan::new(&keys, PairScope::WithinLayer, tile_size);
            let tiles: BTreeSet<TileId> = (0..keys.len()).flat_map(|r| plan.tiles_of(r)).collect();
            let mut seen = BTreeSet::new();
            for t in tiles {
                for (a, b) in plan.pairs_of(t) {
                    assert_eq!(keys[a].1, keys[b].1, "pairs stay within a layer");
                    assert!(keys[a] < keys[b], "pairs are ordered");
                    assert!(seen.insert((a, b)), "pair ({a},{b}) appears twice");
                }
            }
            assert_eq!(seen.len(), plan.pair_count());
            assert_eq!(plan.pair_count(), 8 * 7 / 2 + 15 * 14 / 2);
            for t in plan.tiles() {
                assert_eq!(plan.pair_count_of(t), plan.pairs_of(t).len(), "{t:?}");
            }
        }
    }

    #[test]
    fn auto_tile_size_gives_every_worker_several_tiles_and_owners_balance_pairs() {
        let keys: Vec<(String, String)> = (0..64).map(|i| (format!("m{i:02}"), "fc".to_string())).collect();
        for workers in [1, 2, 3, 8] {
            let plan = Plan::auto(&keys, PairScope::All, workers);
            assert!(plan.tile_size <= MAX_AUTO_TILE_SIZE);
            assert!(plan.tiles().count() >= TILES_PER_WORKER * workers, "{workers} workers: B = {}", plan.tile_size);
            let owners = plan.owners(workers);
            let mut load = vec![0usize; workers];
            for t in plan.tiles() {
                load[owners[&t] as usize] += plan.pair_count_of(t);
            }
            let largest_tile = plan.tiles().map(|t| plan.pair_count_of(t)).max().unwrap_or(0);
            let (lo, hi) = (*load.iter().min().unwrap(), *load.iter().max().unwrap());
            assert_eq!(load.iter().sum::<usize>(), 64 * 63 / 2);
            // LPT: no worker is more than one tile ahead of another
            assert!(hi - lo <= largest_tile, "{workers} workers: loads {load:?}");
        }
        // a large group keeps the largest size
        assert_eq!(Plan::auto_tile_size(&[10_000], 2), MAX_AUTO_TILE_SIZE);
        assert_eq!(Plan::auto_tile_size(&[2], 4), 1);
    }
}
