//! Seeded sampling of distinct cells from the benchmark's space.
//!
//! A draw is the benchmark's own random cell (`random_spec` in its NASBench.ipynb): each of
//! the 21 upper-triangular entries of a 7 × 7 matrix is 1 with probability ½, each of the 5
//! interior vertices gets one of the three operations uniformly; the cell is pruned and kept
//! when it lies in the space (`is_valid`) and no cell kept so far has its module hash. So the
//! sample is uniform over draws, not over the 423,624 distinct cells: cells with many
//! labelled forms (few vertices after pruning, symmetric branches) are likelier, exactly as in
//! the benchmark's random-search baseline. The stream comes from `SplitMix64(seed)` alone, so
//! a seed gives the same cells, in the same order, on every platform.

use std::collections::HashSet;

use repspace_metrics::rng::SplitMix64;

use super::spec::{AVAILABLE_OPS, Cell, MAX_VERTICES, ModelSpec, Op};

/// Distinct cells in the benchmark's space (Ying et al. 2019, §2.2).
pub const UNIQUE_CELLS: usize = 423_624;

/// A sampled cell and its module hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SampledCell {
    pub cell: Cell,
    pub module_hash: String,
    /// How many draws the sampler had made when it kept this cell (1-based).
    pub draw: u64,
}

/// One random 7-vertex cell as drawn (before pruning).
pub fn draw_cell(rng: &mut SplitMix64) -> (Vec<Vec<u8>>, Vec<Op>) {
    let n = MAX_VERTICES;
    let mut matrix = vec![vec![0u8; n]; n];
    for (i, row) in matrix.iter_mut().enumerate() {
        for v in row.iter_mut().skip(i + 1) {
            *v = (rng.next_u64() >> 63) as u8;
        }
    }
    let mut ops = vec![Op::Input];
    ops.extend((1..n - 1).map(|_| AVAILABLE_OPS[(rng.next_u64() % 3) as usize]));
    ops.push(Op::Output);
    (matrix, ops)
}

/// `count` cells, pairwise non-isomorphic (distinct module hashes), from `SplitMix64(seed)`.
/// `None` when `count` exceeds the space.
pub fn sample_cells(count: usize, seed: u64) -> Option<Vec<SampledCell>> {
    if count > UNIQUE_CELLS {
        return None;
    }
    let mut rng = SplitMix64(seed ^ 0x6e61_7362_656e_6368);
    let mut seen = HashSet::with_capacity(count);
    let mut out = Vec::with_capacity(count);
    let mut draw = 0u64;
    while out.len() < count {
        draw += 1;
        let (matrix, ops) = draw_cell(&mut rng);
        let Ok(spec) = ModelSpec::new(matrix, ops) else { continue };
        let Some(cell) = spec.pruned.filter(Cell::in_domain) else { continue };
        let module_hash = cell.module_hash();
        if seen.insert(module_hash.clone()) {
            out.push(SampledCell { cell, module_hash, draw });
        }
    }
    Some(out)
}
