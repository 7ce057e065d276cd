//! Kendall's tau-a between two RDMs in O(N log N) (Knight 1966): (concordant − discordant)
//! pairs of entries over N(N−1)/2, a pair tied in either RDM counting as neither. Each RDM
//! keeps its dense ranks, the order of its entries and its count of tied pairs
//! ([`TauRanks`]); a pair then counts the strict inversions of the other RDM's ranks in that
//! order with one merge sort.

use serde::{Deserialize, Serialize};

use super::pairs_of;
use crate::MetricError;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct TauRanks {
    /// Dense rank of each entry: 0 for the smallest value, equal values share a rank.
    rank: Vec<u32>,
    /// Entry indices in increasing order of value (ties in index order).
    order: Vec<u32>,
    /// Σ t(t−1)/2 over the groups of t equal entries.
    pub(super) tied_pairs: u64,
}

impl TauRanks {
    pub(super) fn new(d: &[f64]) -> Result<TauRanks, MetricError> {
        if d.len() > u32::MAX as usize {
            return Err(MetricError::Parameter {
                key: "rdm",
                reason: format!("tau-a supports up to 2^32 RDM entries, got {}", d.len()),
            });
        }
        let mut order: Vec<u32> = (0..d.len() as u32).collect();
        order.sort_by(|&i, &j| d[i as usize].total_cmp(&d[j as usize]));
        let mut rank = vec![0u32; d.len()];
        let (mut current, mut run, mut tied_pairs) = (0u32, 0u64, 0u64);
        for (pos, &k) in order.iter().enumerate() {
            if pos > 0 && d[k as usize] != d[order[pos - 1] as usize] {
                current += 1;
                tied_pairs += run * run.saturating_sub(1) / 2;
                run = 0;
            }
            run += 1;
            rank[k as usize] = current;
        }
        tied_pairs += run * run.saturating_sub(1) / 2;
        Ok(TauRanks { rank, order, tied_pairs })
    }
}

/// Kendall's tau-a = (concordant − discordant)/(N(N−1)/2), by Knight's algorithm: the
/// entries in increasing order of a (ties in a by increasing b), the discordant pairs are
/// the strict inversions of b in that order; then concordant − discordant =
/// N(N−1)/2 − ties_a − ties_b + ties_ab − 2·discordant (scipy's bookkeeping).
pub(super) fn tau_a(a: &TauRanks, b: &TauRanks) -> f64 {
    let n = a.rank.len();
    let mut seq: Vec<u32> = Vec::with_capacity(n);
    let mut joint_ties = 0u64;
    let mut start = 0;
    while start < n {
        let ra = a.rank[a.order[start] as usize];
        let mut end = start + 1;
        while end < n && a.rank[a.order[end] as usize] == ra {
            end += 1;
        }
        let from = seq.len();
        seq.extend(a.order[start..end].iter().map(|&k| b.rank[k as usize]));
        let run = &mut seq[from..];
        run.sort_unstable();
        // pairs tied in both: equal b within this run of equal a
        let mut t = 1u64;
        for w in 1..run.len() {
            if run[w] == run[w - 1] {
                t += 1;
            } else {
                joint_ties += t * (t - 1) / 2;
                t = 1;
            }
        }
        joint_ties += t * (t - 1) / 2;
        start = end;
    }
    let discordant = strict_inversions(seq);
    let total = pairs_of(n);
    let concordant_minus_discordant =
        total as i128 - a.tied_pairs as i128 - b.tied_pairs as i128 + joint_ties as i128 - 2 * discordant as i128;
    (concordant_minus_discordant as f64 / total as f64).clamp(-1.0, 1.0)
}

/// The number of pairs i < j with v_i > v_j, by bottom-up merge sort.
fn strict_inversions(mut v: Vec<u32>) -> u64 {
    let n = v.len();
    let mut buf = vec![0u32; n];
    let mut count = 0u64;
    let mut width = 1;
    while width < n {
        for lo in (0..n).step_by(2 * width) {
            let mid = (lo + width).min(n);
            let hi = (lo + 2 * width).min(n);
            let (mut i, mut j, mut k) = (lo, mid, lo);
            while i < mid && j < hi {
                if v[j] < v[i] {
                    // v[j] is smaller than every remaining left element
                    count += (mid - i) as u64;
                    buf[k] = v[j];
                    j += 1;
                } else {
                    buf[k] = v[i];
                    i += 1;
                }
                k += 1;
            }
            buf[k..k + (mid - i)].copy_from_slice(&v[i..mid]);
            k += mid - i;
            buf[k..k + (hi - j)].copy_from_slice(&v[j..hi]);
        }
        std::mem::swap(&mut v, &mut buf);
        width *= 2;
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    /// tau-a by its definition, over all N(N−1)/2 pairs.
    fn tau_a_by_definition(a: &[f64], b: &[f64]) -> f64 {
        let n = a.len();
        let mut s = 0i64;
        for i in 0..n {
            for j in (i + 1)..n {
                let (x, y) = ((a[i] - a[j]).signum(), (b[i] - b[j]).signum());
                if a[i] != a[j] && b[i] != b[j] {
                    s += (x * y) as i64;
                }
            }
        }
        s as f64 / pairs_of(n) as f64
    }

    #[test]
    fn tau_a_counts_pairs_as_its_definition_does_with_and_without_ties() {
        let mut rng = SplitMix64(21);
        for (len, levels) in [(10, 3), (45, 4), (190, 7), (300, 1000), (66, 2), (3, 2)] {
            for _ in 0..5 {
                let a: Vec<f64> = (0..len).map(|_| (rng.uniform() * levels as f64).floor()).collect();
                let b: Vec<f64> = (0..len).map(|_| (rng.uniform() * levels as f64).floor()).collect();
                let (Ok(p), Ok(q)) = (TauRanks::new(&a), TauRanks::new(&b)) else { panic!("ranks") };
                let want = tau_a_by_definition(&a, &b);
                let got = tau_a(&p, &q);
                assert!((got - want).abs() < 1e-15, "len {len} levels {levels}: {got} vs {want}");
                // and symmetric
                assert_eq!(got, tau_a(&q, &p));
            }
        }
    }

    #[test]
    fn strict_inversions_ignore_equal_values() {
        assert_eq!(strict_inversions(vec![3, 1, 2]), 2);
        assert_eq!(strict_inversions(vec![2, 2, 2, 1]), 3);
        assert_eq!(strict_inversions(vec![1, 1, 2, 2]), 0);
        assert_eq!(strict_inversions(vec![5, 4, 3, 2, 1]), 10);
        assert_eq!(strict_inversions(vec![]), 0);
    }
}
