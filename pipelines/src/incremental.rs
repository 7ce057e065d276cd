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

use serde::{Deserialize, Serialize};

use crate::plan::TileId;

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
}
