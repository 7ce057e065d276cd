//! Inner products of prepared vectors, a tile's pairs at once: the blocked step of every
//! measure whose pair is one dot product of per-representation vectors (RSA's prepared RDMs,
//! distance correlation's and the Gram CKAs' packed centred matrices).
//!
//! ⟨u_i, v_j⟩ for the pairs (i, j) of a tile is one GEMM UᵀV over the stacked vectors: each
//! entry of a vector is read once per panel instead of once per pair, so a tile runs at GEMM
//! speed where a loop over pairs would be bound by memory bandwidth (2·len values per pair).
//!
//! **Invariants.** Only the rows and columns the pairs use are stacked, each once. The
//! vectors are stacked in panels of at most [`PANEL_ENTRIES`] entries, accumulating, so the
//! copies stay small however long the vectors are (an m × m Gram matrix has m² entries).
//! The result is the exact inner product up to rounding (no entry is dropped or weighted).
//!
//! [`pack_symmetric`] halves the work for symmetric matrices: the lower triangle with the
//! off-diagonal entries scaled by √2, so that ⟨pack(A), pack(B)⟩ = ⟨A, B⟩_F.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat};

/// Entries of each stacked vector per panel.
pub const PANEL_ENTRIES: usize = 4096;

/// ⟨rows[i], cols[j]⟩ for each `(i, j)` in `pairs`, in order, from one GEMM per panel of the
/// stacked vectors. Every vector must have the same length and every index be in range
/// (the callers check both, naming the representation).
pub fn inner_products(rows: &[&[f64]], cols: &[&[f64]], pairs: &[(usize, usize)]) -> Vec<f64> {
    if pairs.is_empty() {
        return Vec::new();
    }
    let (row_ids, row_slot) = distinct(pairs.iter().map(|p| p.0), rows.len());
    let (col_ids, col_slot) = distinct(pairs.iter().map(|p| p.1), cols.len());
    let len = rows[row_ids[0]].len();
    debug_assert!(row_ids.iter().map(|&i| rows[i]).chain(col_ids.iter().map(|&j| cols[j])).all(|v| v.len() == len));
    let panel = PANEL_ENTRIES.min(len).max(1);
    let (mut a, mut b) = (Mat::<f64>::zeros(panel, row_ids.len()), Mat::<f64>::zeros(panel, col_ids.len()));
    let mut inner = Mat::<f64>::zeros(row_ids.len(), col_ids.len());
    let par = faer::get_global_parallelism();
    for start in (0..len).step_by(panel) {
        let h = panel.min(len - start);
        for (stacked, ids, vecs) in [(&mut a, &row_ids, rows), (&mut b, &col_ids, cols)] {
            for (c, &k) in ids.iter().enumerate() {
                for (t, x) in vecs[k][start..start + h].iter().enumerate() {
                    stacked[(t, c)] = *x;
                }
            }
        }
        // this panel's share of every ⟨u_i, v_j⟩
        matmul(inner.as_mut(), Accum::Add, a.as_ref().subrows(0, h).transpose(), b.as_ref().subrows(0, h), 1.0, par);
    }
    pairs.iter().map(|&(i, j)| inner[(row_slot[i], col_slot[j])]).collect()
}

/// The lower triangle of the symmetric m × m matrix `a`, row by row ((0,0), (1,0), (1,1),
/// (2,0), …), off-diagonal entries times √2: ⟨pack(A), pack(B)⟩ = ⟨A, B⟩_F.
pub fn pack_symmetric(m: usize, a: impl Fn(usize, usize) -> f64) -> Vec<f64> {
    let mut packed = Vec::with_capacity(m * (m + 1) / 2);
    for i in 0..m {
        for j in 0..=i {
            packed.push(if i == j { a(i, i) } else { std::f64::consts::SQRT_2 * a(i, j) });
        }
    }
    packed
}

/// The plain dot product (a single pair, and a vector with itself).
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The distinct values of `ids` (each < `n`) in first-use order, and each value's slot.
fn distinct(ids: impl Iterator<Item = usize>, n: usize) -> (Vec<usize>, Vec<usize>) {
    let mut slot = vec![usize::MAX; n];
    let mut order = Vec::new();
    for i in ids {
        if slot[i] == usize::MAX {
            slot[i] = order.len();
            order.push(i);
        }
    }
    (order, slot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    #[test]
    fn blocked_inner_products_equal_dot_products_across_panels() {
        let mut rng = SplitMix64(11);
        // longer than two panels, so the accumulation over panels is exercised
        let len = 2 * PANEL_ENTRIES + 37;
        let rows: Vec<Vec<f64>> = (0..5).map(|_| (0..len).map(|_| rng.normal()).collect()).collect();
        let cols: Vec<Vec<f64>> = (0..4).map(|_| (0..len).map(|_| rng.normal()).collect()).collect();
        let (r, c): (Vec<&[f64]>, Vec<&[f64]>) =
            (rows.iter().map(Vec::as_slice).collect(), cols.iter().map(Vec::as_slice).collect());
        // a few pairs, repeated and out of order, not every row or column used
        let pairs = [(4, 0), (1, 3), (4, 3), (1, 3), (0, 0)];
        let got = inner_products(&r, &c, &pairs);
        for (&(i, j), g) in pairs.iter().zip(&got) {
            let want = dot(r[i], c[j]);
            assert!((g - want).abs() <= 1e-12 * len as f64, "({i}, {j}): {g} vs {want}");
        }
        assert!(inner_products(&r, &c, &[]).is_empty());
    }

    #[test]
    fn packed_symmetric_matrices_keep_the_frobenius_inner_product() {
        let mut rng = SplitMix64(2);
        let m = 9;
        let sym = |rng: &mut SplitMix64| {
            let x = Mat::<f64>::from_fn(m, m, |_, _| rng.normal());
            &x + x.transpose()
        };
        let (a, b) = (sym(&mut rng), sym(&mut rng));
        let want: f64 = (0..m).flat_map(|i| (0..m).map(move |j| (i, j))).map(|(i, j)| a[(i, j)] * b[(i, j)]).sum();
        let got = dot(&pack_symmetric(m, |i, j| a[(i, j)]), &pack_symmetric(m, |i, j| b[(i, j)]));
        assert!((got - want).abs() <= 1e-12 * want.abs().max(1.0), "{got} vs {want}");
        assert_eq!(pack_symmetric(m, |i, j| a[(i, j)]).len(), m * (m + 1) / 2);
    }
}
