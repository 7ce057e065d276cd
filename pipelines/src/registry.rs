//! The registry of representations: every representation gets a stable ordinal in its
//! comparison group the first time the output sees it, and each group keeps the tile size
//! it was first cut with. Blocks are ordinal ranges `[b·B, (b+1)·B)`, so adding models
//! leaves every existing block's membership unchanged: new models start a new block.
//! Removing a model leaves a hole in its block (only that block's tiles change); a changed
//! file keeps its ordinal (only the tiles of its block change, through its content hash).
//!
//! Invariants: an ordinal is never given to two present representations of a group; the
//! first run's ordinals follow (model_id, layer) order, so a fresh output is tiled exactly
//! as the plan's group order; a group's tile size changes only when the config sets a
//! different one (then the group is cut again from scratch).

use std::collections::{BTreeMap, HashMap};

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

/// One registered representation, as the `representations` table stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registered {
    pub group: String,
    pub ordinal: u64,
    pub model_id: String,
    pub layer: String,
    /// The group's tile size (the same on every row of a group).
    pub tile_size: u64,
}

/// The comparison group of a representation under `scope`.
pub fn group_of(scope: PairScope, layer: &str) -> String {
    match scope {
        PairScope::WithinLayer => layer.to_string(),
        PairScope::All => String::new(),
    }
}

/// Ordinals for this run's representations.
#[derive(Clone, Debug)]
pub struct Ordinals {
    /// Per manifest row: (group name, ordinal).
    pub of: Vec<(String, u64)>,
    /// Per group: its tile size.
    pub tile_size: BTreeMap<String, u64>,
}

impl Ordinals {
    /// The registry rows to store for this run (present representations only).
    pub fn rows(&self, keys: &[(String, String)]) -> Vec<Registered> {
        let mut rows: Vec<Registered> = self
            .of
            .iter()
            .zip(keys)
            .map(|((group, ordinal), (model_id, layer))| Registered {
                group: group.clone(),
                ordinal: *ordinal,
                model_id: model_id.clone(),
                layer: layer.clone(),
                tile_size: self.tile_size[group],
            })
            .collect();
        rows.sort_by(|a, b| (&a.group, a.ordinal).cmp(&(&b.group, b.ordinal)));
        rows
    }
}

/// Assign ordinals to `keys[r] = (model_id, layer)`. `previous` is the registry the output
/// holds; `tile_size` the config's (`None`: the group's stored size, or `auto(group size)`
/// for a new group).
pub fn assign(
    previous: &[Registered],
    keys: &[(String, String)],
    scope: PairScope,
    tile_size: Option<usize>,
    auto: impl Fn(usize) -> usize,
) -> Ordinals {
    let mut members: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (r, (_, layer)) in keys.iter().enumerate() {
        members.entry(group_of(scope, layer)).or_default().push(r);
    }
    let mut stored: HashMap<&str, (u64, HashMap<(&str, &str), u64>)> = HashMap::new();
    for p in previous {
        let e = stored.entry(p.group.as_str()).or_insert_with(|| (p.tile_size, HashMap::new()));
        e.1.insert((p.model_id.as_str(), p.layer.as_str()), p.ordinal);
    }
    let mut of = vec![(String::new(), 0u64); keys.len()];
    let mut sizes = BTreeMap::new();
    for (group, mut reps) in members {
        reps.sort_by(|&a, &b| keys[a].cmp(&keys[b]));
        let earlier = stored.get(group.as_str()).filter(|(b, _)| tile_size.is_none_or(|t| t as u64 == *b));
        let b = match (tile_size, earlier) {
            (Some(t), _) => t.max(1) as u64,
            (None, Some((b, _))) => *b,
            (None, None) => auto(reps.len()).max(1) as u64,
        };
        let known = |r: usize| earlier.and_then(|(_, m)| m.get(&(keys[r].0.as_str(), keys[r].1.as_str())).copied());
        // new representations start a new block after the last one in use
        let used = reps.iter().filter_map(|&r| known(r)).max();
        let mut next = used.map_or(0, |u| (u / b + 1) * b);
        for &r in &reps {
            let ordinal = known(r).unwrap_or_else(|| {
                next += 1;
                next - 1
            });
            of[r] = (group.clone(), ordinal);
        }
        sizes.insert(group, b);
    }
    Ordinals { of, tile_size: sizes }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(names: &[&str]) -> Vec<(String, String)> {
        names.iter().map(|m| (m.to_string(), "fc".to_string())).collect()
    }

    #[test]
    fn a_fresh_output_follows_key_order_and_additions_start_a_new_block() {
        let first = keys(&["m3", "m1", "m2", "m0", "m4"]);
        let o = assign(&[], &first, PairScope::WithinLayer, None, |_| 2);
        let ord: Vec<u64> = o.of.iter().map(|(_, k)| *k).collect();
        assert_eq!(ord, vec![3, 1, 2, 0, 4], "first run: (model_id, layer) order");
        assert_eq!(o.tile_size["fc"], 2);
        // m5 and m6 arrive, m2 leaves: the others keep their ordinals, new ones start block 3
        let second = keys(&["m6", "m0", "m1", "m3", "m4", "m5"]);
        let o2 = assign(&o.rows(&first), &second, PairScope::WithinLayer, None, |_| 99);
        let ord2: Vec<u64> = o2.of.iter().map(|(_, k)| *k).collect();
        assert_eq!(ord2, vec![7, 0, 1, 3, 4, 6], "existing keep theirs; new follow block 2 (4, 5) from 6");
        assert_eq!(o2.tile_size["fc"], 2, "the stored tile size wins over auto");
    }

    #[test]
    fn groups_are_independent_and_a_new_tile_size_recuts_the_group() {
        let k: Vec<(String, String)> =
            [("a", "l1"), ("b", "l1"), ("a", "l2")].iter().map(|(m, l)| (m.to_string(), l.to_string())).collect();
        let o = assign(&[], &k, PairScope::WithinLayer, Some(4), |_| 1);
        assert_eq!(o.of, vec![("l1".into(), 0), ("l1".into(), 1), ("l2".into(), 0)]);
        let all = assign(&o.rows(&k), &k, PairScope::All, None, |_| 8);
        assert_eq!(all.tile_size[""], 8, "scope all is a new group");
        let recut = assign(&o.rows(&k), &k[..1], PairScope::WithinLayer, Some(2), |_| 1);
        assert_eq!(recut.of, vec![("l1".into(), 0)]);
        assert_eq!(recut.tile_size["l1"], 2);
    }
}
