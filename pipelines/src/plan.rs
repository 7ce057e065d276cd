//! Which pairs a run computes, and how they are cut into tiles.
//!
//! Representations are split into comparison groups (equal `layer`, or one group for
//! scope `all`). Within a group they are ordered by (model_id, layer) and cut into blocks
//! of `tile_size`; tile (g, i, j), i ≤ j, holds the pairs between blocks i and j. A tile is
//! the unit of work a worker owns; a representation travels to every tile of its block.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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

impl TileId {
    /// A well-mixed hash (splitmix64) so that timely's exchange spreads tiles over workers.
    pub fn route(&self) -> u64 {
        let mut z = ((self.group as u64) << 42) ^ ((self.block_a as u64) << 21) ^ self.block_b as u64;
        z = z.wrapping_add(0x9e3779b97f4a7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }
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
        }
    }
}
