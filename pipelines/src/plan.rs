//! Which pairs a run computes, and how they are cut into tiles.
//!
//! Representations are split into comparison groups (equal `layer`, or one group for
//! scope `all`). Within a group each has a stable ordinal (`registry.rs`: key order on a
//! fresh output, new representations after the last block in use) and block b holds the
//! ordinals `[b·B, (b+1)·B)` of the group's tile size B; tile (g, i, j), i ≤ j, holds the
//! pairs between blocks i and j, each pair oriented by (model_id, layer). A tile is the unit
//! of work a worker owns, and of reuse across runs; a representation travels to every tile
//! of its block.
//!
//! Tile size model ([`Plan::auto_tile_size`], when `[execution] tile_size` is not set): the
//! largest size up to [`MAX_AUTO_TILE_SIZE`] that still cuts the job into at least
//! [`TILES_PER_WORKER`] tiles per worker, so that [`Plan::owners`] can even out the work.
//! Tiles are assigned by pair count, largest first, each to the least-loaded worker (LPT);
//! every worker computes the same assignment from the same plan.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::registry;
pub use crate::registry::PairScope;

/// The largest automatic tile size: a worker holds two blocks of it per tile.
pub const MAX_AUTO_TILE_SIZE: usize = 32;

/// Tiles per worker the automatic tile size aims for (balance).
pub const TILES_PER_WORKER: usize = 4;

/// The most blocks the automatic tile size cuts a group into.
pub const MAX_AUTO_BLOCKS: usize = 64;

/// (group, block_a, block_b) with block_a ≤ block_b.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TileId {
    pub group: u32,
    pub block_a: u32,
    pub block_b: u32,
}

/// A comparison group: its name (the layer, or "" for scope `all`), the tile size it is cut
/// with, and its members (ordinal, representation), by ordinal.
#[derive(Clone, Debug)]
pub struct Group {
    pub name: String,
    pub tile_size: usize,
    pub members: Vec<(u64, usize)>,
    /// The non-empty blocks, ascending, with their members' range in `members`.
    blocks: Vec<(u32, std::ops::Range<usize>)>,
}

impl Group {
    fn new(name: String, tile_size: usize, mut members: Vec<(u64, usize)>) -> Group {
        members.sort_unstable();
        let mut blocks: Vec<(u32, std::ops::Range<usize>)> = Vec::new();
        for (pos, &(o, _)) in members.iter().enumerate() {
            let b = (o / tile_size as u64) as u32;
            match blocks.last_mut() {
                Some((last, range)) if *last == b => range.end = pos + 1,
                _ => blocks.push((b, pos..pos + 1)),
            }
        }
        Group { name, tile_size, members, blocks }
    }
}

/// The comparison groups and each representation's place in them.
#[derive(Clone, Debug)]
pub struct Plan {
    pub groups: Vec<Group>,
    /// For each representation: (group, position in the group's members).
    pub slot: Vec<(u32, usize)>,
    /// `keys[r]` = (model_id, layer): a pair is oriented by them, whatever the blocks.
    keys: Vec<(String, String)>,
}

impl Plan {
    /// `keys[r]` = (model_id, layer) of representation r; ordinals in key order (a fresh
    /// output) and one tile size for every group.
    pub fn new(keys: &[(String, String)], scope: PairScope, tile_size: usize) -> Plan {
        Plan::from_ordinals(keys, &registry::assign(&[], keys, scope, Some(tile_size.max(1)), |_| tile_size))
    }

    /// The plan of a fresh output with the tile size of the model in the module docs.
    pub fn auto(keys: &[(String, String)], scope: PairScope, workers: usize) -> Plan {
        let size = Plan::auto_tile_size(&Plan::group_sizes(keys, scope), workers);
        Plan::from_ordinals(keys, &registry::assign(&[], keys, scope, None, |_| size))
    }

    /// The sizes of the comparison groups of `keys` under `scope`.
    pub fn group_sizes(keys: &[(String, String)], scope: PairScope) -> Vec<usize> {
        let mut sizes: BTreeMap<String, usize> = BTreeMap::new();
        for (_, layer) in keys {
            *sizes.entry(registry::group_of(scope, layer)).or_default() += 1;
        }
        sizes.into_values().collect()
    }

    /// The plan of the ordinals the registry assigned.
    pub fn from_ordinals(keys: &[(String, String)], ordinals: &registry::Ordinals) -> Plan {
        let mut by_group: BTreeMap<&str, Vec<(u64, usize)>> = BTreeMap::new();
        for (r, (group, ordinal)) in ordinals.of.iter().enumerate() {
            by_group.entry(group.as_str()).or_default().push((*ordinal, r));
        }
        let mut slot = vec![(0, 0); keys.len()];
        let groups = by_group
            .into_iter()
            .enumerate()
            .map(|(g, (name, members))| {
                let tile_size = ordinals.tile_size.get(name).copied().unwrap_or(1).max(1) as usize;
                let group = Group::new(name.to_string(), tile_size, members);
                for (pos, &(_, r)) in group.members.iter().enumerate() {
                    slot[r] = (g as u32, pos);
                }
                group
            })
            .collect();
        Plan { groups, slot, keys: keys.to_vec() }
    }

    /// The largest tile size ≤ [`MAX_AUTO_TILE_SIZE`] giving at least [`TILES_PER_WORKER`]
    /// tiles per worker over groups of `group_sizes` (1 when no size does), raised so that no
    /// group has more than [`MAX_AUTO_BLOCKS`] blocks (tiles are parts: their number stays
    /// O(MAX_AUTO_BLOCKS²) per group however large the zoo).
    pub fn auto_tile_size(group_sizes: &[usize], workers: usize) -> usize {
        let tiles = |b: usize| -> usize {
            group_sizes.iter().map(|&n| n.div_ceil(b)).map(|blocks| blocks * (blocks + 1) / 2).sum()
        };
        let want = TILES_PER_WORKER * workers.max(1);
        let balanced = (1..=MAX_AUTO_TILE_SIZE).rev().find(|&b| tiles(b) >= want).unwrap_or(1);
        let largest = group_sizes.iter().copied().max().unwrap_or(0);
        balanced.max(largest.div_ceil(MAX_AUTO_BLOCKS))
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
        let (a, b) =
            (self.block_members(tile.group, tile.block_a).len(), self.block_members(tile.group, tile.block_b).len());
        if tile.block_a == tile.block_b { a * a.saturating_sub(1) / 2 } else { a * b }
    }

    /// The tile size of a group.
    pub fn tile_size(&self, group: u32) -> usize {
        self.groups[group as usize].tile_size
    }

    /// Every tile that needs representation `r`.
    pub fn tiles_of(&self, r: usize) -> impl Iterator<Item = TileId> + '_ {
        let (group, pos) = self.slot[r];
        let g = &self.groups[group as usize];
        let b = (g.members[pos].0 / g.tile_size as u64) as u32;
        g.blocks.iter().map(move |&(c, _)| TileId { group, block_a: b.min(c), block_b: b.max(c) })
    }

    /// Every tile of the plan, group by group.
    pub fn tiles(&self) -> impl Iterator<Item = TileId> + '_ {
        self.groups.iter().enumerate().flat_map(move |(group, g)| {
            let group = group as u32;
            (0..g.blocks.len()).flat_map(move |i| {
                g.blocks[i..].iter().map(move |(b, _)| TileId { group, block_a: g.blocks[i].0, block_b: *b })
            })
        })
    }

    /// The representations of one block of a group, by ordinal.
    pub fn block_members(&self, group: u32, block: u32) -> Vec<usize> {
        let g = &self.groups[group as usize];
        match g.blocks.binary_search_by_key(&block, |(b, _)| *b) {
            Ok(i) => g.members[g.blocks[i].1.clone()].iter().map(|&(_, r)| r).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The pairs (r_a, r_b) of a tile, each oriented by (model_id, layer): r_a's key first.
    pub fn pairs_of(&self, tile: TileId) -> Vec<(usize, usize)> {
        let a = self.block_members(tile.group, tile.block_a);
        let b = self.block_members(tile.group, tile.block_b);
        let mut out = Vec::new();
        for (i, &p) in a.iter().enumerate() {
            let partners = if tile.block_a == tile.block_b { &b[i + 1..] } else { &b[..] };
            for &q in partners {
                out.push(if self.keys[p] < self.keys[q] { (p, q) } else { (q, p) });
            }
        }
        out
    }

    /// The (model_id, layer) of a representation.
    pub fn key(&self, r: usize) -> &(String, String) {
        &self.keys[r]
    }

    /// Number of pairs the plan holds.
    pub fn pair_count(&self) -> usize {
        self.groups.iter().map(|g| g.members.len() * g.members.len().saturating_sub(1) / 2).sum()
    }

    pub fn group_name(&self, group: u32) -> &str {
        &self.groups[group as usize].name
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
            assert!(plan.tile_size(0) <= MAX_AUTO_TILE_SIZE);
            assert!(plan.tiles().count() >= TILES_PER_WORKER * workers, "{workers} workers: B = {}", plan.tile_size(0));
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
        // a large group keeps the largest balanced size
        assert_eq!(Plan::auto_tile_size(&[2_000], 2), MAX_AUTO_TILE_SIZE);
        assert_eq!(Plan::auto_tile_size(&[2], 4), 1);
        // a huge group is cut into at most MAX_AUTO_BLOCKS blocks
        assert_eq!(Plan::auto_tile_size(&[20_000], 2), 20_000usize.div_ceil(MAX_AUTO_BLOCKS));
    }

    #[test]
    fn blocks_with_holes_and_new_blocks_keep_tiles_exact() {
        // ordinals 0, 1, 3 (2 was removed) and 6, 7 (new, block 3) with B = 2
        let keys: Vec<(String, String)> =
            ["e", "a", "c", "b", "d"].iter().map(|m| (m.to_string(), "fc".into())).collect();
        let ordinals = registry::Ordinals {
            of: vec![("fc".into(), 0), ("fc".into(), 1), ("fc".into(), 3), ("fc".into(), 6), ("fc".into(), 7)],
            tile_size: [("fc".to_string(), 2u64)].into_iter().collect(),
        };
        let plan = Plan::from_ordinals(&keys, &ordinals);
        let tiles: Vec<TileId> = plan.tiles().collect();
        assert_eq!(tiles.len(), 6, "blocks 0, 1, 3: {tiles:?}");
        assert_eq!(plan.block_members(0, 1), vec![2]);
        assert_eq!(plan.block_members(0, 2), Vec::<usize>::new());
        let mut pairs: Vec<(usize, usize)> = tiles.iter().flat_map(|&t| plan.pairs_of(t)).collect();
        pairs.sort();
        assert_eq!(pairs.len(), 10);
        assert!(pairs.iter().all(|&(a, b)| keys[a] < keys[b]), "oriented by key");
        let t = TileId { group: 0, block_a: 0, block_b: 3 };
        assert_eq!(plan.tiles_of(3).collect::<Vec<_>>().len(), 3);
        assert_eq!(plan.pair_count_of(t), 4);
    }
}
