//! k-nearest-neighbour alignment of two representations of the same m stimuli: how far the
//! stimuli's neighbourhoods agree. Rows are stimuli, columns units; each row is first
//! L2-normalised, x̂_i = x_i / max(‖x_i‖, 10⁻¹²) (`torch.nn.functional.normalize(x, dim=-1)`,
//! as platonic-rep's `measure_alignment.py` feeds its metrics; no outlier clamping), so the
//! similarity of stimuli i and j is the cosine K_ij = ⟨x̂_i, x̂_j⟩.
//!
//! **Neighbours.** N(i) is the set of the k stimuli j ≠ i of largest K_ij. This is the set of
//! every reference: platonic-rep's `compute_nearest_neighbors` (argsort of X̂X̂ᵀ with the
//! diagonal set to −10⁸) and `cknna`'s `torch.topk` (diagonal −∞), and ReSi's
//! `top_k_neighbors` (sklearn's `NearestNeighbors(k + 1, metric="cosine")` with the first
//! neighbour, the point itself, dropped). Ties: the references order equal similarities as
//! their sort happens to (torch's argsort and topk are not stable, sklearn's brute force uses
//! argpartition), so when the k-th and (k+1)-th similarity of a row are exactly equal their
//! sets are implementation-defined; ours prefers the lower stimulus index. The fixtures have
//! a gap of at least 10⁻⁹ there. k must satisfy 1 ≤ k < m (2 ≤ k for CKNNA, whose reference
//! refuses k < 2; it also needs m ≥ 4 for the unbiased HSIC).
//!
//! **Variants** (row (a, b) of a table takes a as the first argument of the reference):
//! - [`KnnVariant::Mutual`]: platonic-rep's `mutual_knn(a, b, topk=k)`:
//!   (1/m) Σ_i |N_a(i) ∩ N_b(i)| / k.
//! - [`KnnVariant::Jaccard`]: ReSi's `jaccard_similarity(a, b, shape="nd", k=k,
//!   inner="cosine")` (mklabunde/resi @ 24ab9e5, `repsim/measures/nearest_neighbor.py`; no
//!   preprocessing): (1/m) Σ_i |N_a(i) ∩ N_b(i)| / |N_a(i) ∪ N_b(i)|, i.e. c_i/(2k − c_i).
//! - [`KnnVariant::Cknna`]: platonic-rep's `cknna(a, b, topk=k)` (distance_agnostic=False,
//!   unbiased=True; minyoungg/platonic-rep @ dcd76ba `metrics.py`). With the shared relation
//!   M_ij = [j ∈ N_a(i) ∧ j ∈ N_b(i)] (not symmetric in i, j), K̃ = M∘K_a and L̃ = M∘K_b, and
//!   its `hsic_unbiased` taken literally on these non-symmetric matrices,
//!   HSIC(K̃, L̃) = [Σ_ij K̃_ij L̃_ji + 1ᵀK̃1·1ᵀL̃1/((m−1)(m−2)) − 2·1ᵀK̃L̃1/(m−2)] / (m(m−3)),
//!   the score is HSIC(K̃, L̃) / (√(HSIC(K̃_a, K̃_a)·HSIC(K̃_b, K̃_b)) + 10⁻⁶), where K̃_a = M_a∘K_a
//!   uses a's neighbours alone. The term 1ᵀK̃L̃1 = Σ_j (column sum j of K̃)(row sum j of L̃)
//!   is what makes CKNNA not symmetric. When the product under the root is negative the
//!   reference returns NaN; we refuse the pair ([`MetricError::Undefined`]).
//!
//! **Prepare once, pair many.** [`PreparedKnn`] keeps each stimulus's k neighbours in
//! increasing index order (and, for CKNNA, their similarities K_ij and the self term
//! HSIC(K̃_a, K̃_a)): O(mk) numbers, no m × m matrix. Finding them costs one X̂X̂ᵀ, formed in
//! blocks of rows so that memory stays O(m·block). A pair merges the sorted neighbour
//! lists row by row, O(mk); CKNNA adds a binary search per shared neighbour for the
//! transposed entry, O(mk log k).
//!
//! **Invariants.** Mutual and Jaccard are symmetric, in [0, 1], and 1 for identical inputs;
//! CKNNA is not symmetric and not bounded by 1 (the shared-neighbour HSIC can exceed the
//! geometric mean of the self terms), and for identical inputs it is h/(h + 10⁻⁶), h the self
//! term, slightly below 1. All three depend on the inputs only through the neighbour sets
//! and (CKNNA) the cosines, so they are invariant under orthogonal maps and permutations of
//! the units and under positive scaling of each stimulus's row (hence isotropic scaling);
//! not under translation.

use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};

use crate::{Matrix, MetricError};

/// Which neighbourhood agreement to score (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KnnVariant {
    /// platonic-rep's `mutual_knn`: mean fraction of shared neighbours.
    Mutual,
    /// ReSi's Jaccard k-NN similarity: mean |∩|/|∪| of the neighbour sets.
    Jaccard,
    /// platonic-rep's `cknna`: unbiased HSIC restricted to shared neighbours.
    Cknna,
}

/// The constant platonic-rep's `cknna` adds to its denominator.
pub const CKNNA_EPSILON: f64 = 1e-6;

/// Rows of X̂X̂ᵀ formed at once when finding neighbours.
const GRAM_BLOCK: usize = 256;

/// One representation's k-neighbourhoods (and, for CKNNA, the cosines to its neighbours).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PreparedKnn {
    variant: KnnVariant,
    k: usize,
    samples: usize,
    /// N(i) for each stimulus i, in increasing index order: `neighbours[i*k..(i+1)*k]`.
    neighbours: Vec<u32>,
    /// CKNNA only: K_ij for the j of `neighbours`, in the same order; empty otherwise.
    similarities: Vec<f64>,
    /// CKNNA only: HSIC(K̃_a, K̃_a), K̃_a = M_a∘K_a; 0 otherwise.
    self_hsic: f64,
}

impl PreparedKnn {
    pub fn new(x: &Matrix, variant: KnnVariant, k: usize) -> Result<Self, MetricError> {
        let (m, n) = (x.rows(), x.cols());
        if m < 2 || n == 0 {
            return Err(MetricError::TooSmall { rows: m, cols: n });
        }
        let k_min = if variant == KnnVariant::Cknna { 2 } else { 1 };
        if k < k_min || k >= m {
            return Err(MetricError::Parameter {
                key: "k",
                reason: format!("k = {k} neighbours of {m} stimuli; need {k_min} ≤ k < {m}"),
            });
        }
        if variant == KnnVariant::Cknna && m < 4 {
            return Err(MetricError::TooSmall { rows: m, cols: n });
        }
        if u32::try_from(m).is_err() {
            return Err(MetricError::Parameter { key: "k", reason: format!("{m} stimuli exceed 2³²") });
        }
        if !x.is_finite() {
            return Err(MetricError::NotFinite("the representation has non-finite entries".into()));
        }
        let xn = normalised_rows(x);
        let (neighbours, similarities) = nearest_neighbours(xn.as_ref(), k);
        let mut prepared = PreparedKnn { variant, k, samples: m, neighbours, similarities: Vec::new(), self_hsic: 0.0 };
        if variant == KnnVariant::Cknna {
            prepared.similarities = similarities;
            prepared.self_hsic = shared_neighbour_hsic(&prepared, &prepared);
        }
        Ok(prepared)
    }

    pub fn variant(&self) -> KnnVariant {
        self.variant
    }

    pub fn k(&self) -> usize {
        self.k
    }

    pub fn samples(&self) -> usize {
        self.samples
    }

    /// N(i): the k nearest other stimuli of stimulus i, in increasing index order.
    pub fn neighbours(&self, i: usize) -> &[u32] {
        &self.neighbours[i * self.k..(i + 1) * self.k]
    }
}

/// x̂_i = x_i / max(‖x_i‖, 10⁻¹²), as `torch.nn.functional.normalize(x, p=2, dim=-1)`.
fn normalised_rows(x: &Matrix) -> Mat<f64> {
    let v = x.view();
    let mut sq = vec![0.0; x.rows()];
    for j in 0..x.cols() {
        for (s, &value) in sq.iter_mut().zip(v.col(j).iter()) {
            *s += value * value;
        }
    }
    let inv: Vec<f64> = sq.iter().map(|s| 1.0 / s.sqrt().max(1e-12)).collect();
    Mat::from_fn(x.rows(), x.cols(), |i, j| v[(i, j)] * inv[i])
}

/// For each row i, the k other rows j of largest ⟨x̂_i, x̂_j⟩ (ties: lower j first), in
/// increasing index order, with those similarities.
fn nearest_neighbours(xn: MatRef<'_, f64>, k: usize) -> (Vec<u32>, Vec<f64>) {
    let m = xn.nrows();
    let mut neighbours = Vec::with_capacity(m * k);
    let mut similarities = Vec::with_capacity(m * k);
    let mut candidates: Vec<(f64, u32)> = Vec::with_capacity(m);
    // larger similarity first, then lower index; similarities are finite (±0 compare equal)
    let by_rank =
        |a: &(f64, u32), b: &(f64, u32)| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal).then(a.1.cmp(&b.1));
    for start in (0..m).step_by(GRAM_BLOCK) {
        let rows = GRAM_BLOCK.min(m - start);
        let gram = xn.subrows(start, rows) * xn.transpose();
        for r in 0..rows {
            let i = start + r;
            candidates.clear();
            candidates.extend((0..m).filter(|&j| j != i).map(|j| (gram[(r, j)], j as u32)));
            candidates.select_nth_unstable_by(k - 1, by_rank);
            let top = &mut candidates[..k];
            top.sort_unstable_by_key(|c| c.1);
            neighbours.extend(top.iter().map(|c| c.1));
            similarities.extend(top.iter().map(|c| c.0));
        }
    }
    (neighbours, similarities)
}

/// |A ∩ B| of two sorted index lists.
fn intersection_size(a: &[u32], b: &[u32]) -> usize {
    let (mut p, mut q, mut count) = (0, 0, 0);
    while p < a.len() && q < b.len() {
        match a[p].cmp(&b[q]) {
            std::cmp::Ordering::Less => p += 1,
            std::cmp::Ordering::Greater => q += 1,
            std::cmp::Ordering::Equal => {
                count += 1;
                p += 1;
                q += 1;
            }
        }
    }
    count
}

/// platonic-rep's `hsic_unbiased(M∘K_a, M∘K_b)` with M the neighbours a and b share:
/// [Σ_ij K̃_ij L̃_ji + 1ᵀK̃1·1ᵀL̃1/((m−1)(m−2)) − 2·1ᵀK̃L̃1/(m−2)] / (m(m−3)), from the
/// O(mk) nonzero entries (the diagonal is never a neighbour, so K̃ and L̃ have a zero one).
fn shared_neighbour_hsic(a: &PreparedKnn, b: &PreparedKnn) -> f64 {
    let (m, k) = (a.samples, a.k);
    // the shared relation in compressed rows: column j, K̃_ij, L̃_ij
    let mut start = Vec::with_capacity(m + 1);
    let mut cols: Vec<u32> = Vec::with_capacity(m * k);
    let mut kv: Vec<f64> = Vec::with_capacity(m * k);
    let mut lv: Vec<f64> = Vec::with_capacity(m * k);
    start.push(0);
    for i in 0..m {
        let (na, nb) = (a.neighbours(i), b.neighbours(i));
        let (sa, sb) = (&a.similarities[i * k..(i + 1) * k], &b.similarities[i * k..(i + 1) * k]);
        let (mut p, mut q) = (0, 0);
        while p < k && q < k {
            match na[p].cmp(&nb[q]) {
                std::cmp::Ordering::Less => p += 1,
                std::cmp::Ordering::Greater => q += 1,
                std::cmp::Ordering::Equal => {
                    cols.push(na[p]);
                    kv.push(sa[p]);
                    lv.push(sb[q]);
                    p += 1;
                    q += 1;
                }
            }
        }
        start.push(cols.len());
    }
    let mut col_sums_k = vec![0.0; m]; // Σ_i K̃_ij
    let mut row_sums_l = vec![0.0; m]; // Σ_l L̃_il
    let (mut sum_k, mut sum_l, mut trace) = (0.0, 0.0, 0.0);
    for i in 0..m {
        for e in start[i]..start[i + 1] {
            let j = cols[e] as usize;
            col_sums_k[j] += kv[e];
            row_sums_l[i] += lv[e];
            sum_k += kv[e];
            sum_l += lv[e];
            // K̃_ij L̃_ji: L̃_ji is nonzero when i is a shared neighbour of j
            let row_j = &cols[start[j]..start[j + 1]];
            if let Ok(p) = row_j.binary_search(&(i as u32)) {
                trace += kv[e] * lv[start[j] + p];
            }
        }
    }
    let cross: f64 = col_sums_k.iter().zip(&row_sums_l).map(|(c, r)| c * r).sum();
    let m = m as f64;
    (trace + sum_k * sum_l / ((m - 1.0) * (m - 2.0)) - 2.0 * cross / (m - 2.0)) / (m * (m - 3.0))
}

/// The similarity of `a` and `b` under their variant; `a` is the reference's first argument
/// (it matters for CKNNA only).
pub fn knn_similarity(a: &PreparedKnn, b: &PreparedKnn) -> Result<f64, MetricError> {
    if a.variant != b.variant {
        return Err(MetricError::PreparedMismatch);
    }
    if a.k != b.k {
        return Err(MetricError::Parameter {
            key: "k",
            reason: format!("the representations were prepared with k = {} and k = {}", a.k, b.k),
        });
    }
    if a.samples != b.samples {
        return Err(MetricError::SampleCountMismatch { a: a.samples, b: b.samples });
    }
    let (m, k) = (a.samples, a.k);
    let shared = |i: usize| intersection_size(a.neighbours(i), b.neighbours(i));
    match a.variant {
        // mutual_knn: mean over stimuli of |N_a(i) ∩ N_b(i)| / k
        KnnVariant::Mutual => Ok((0..m).map(|i| shared(i) as f64 / k as f64).sum::<f64>() / m as f64),
        // jaccard_similarity: mean over stimuli of |∩| / |∪|, |∪| = 2k − |∩|
        KnnVariant::Jaccard => {
            Ok((0..m).map(|i| shared(i) as f64 / (2 * k - shared(i)) as f64).sum::<f64>() / m as f64)
        }
        // cknna: sim_kl / (√(sim_kk·sim_ll) + 1e-6)
        KnnVariant::Cknna => {
            let product = a.self_hsic * b.self_hsic;
            if product.is_nan() || product < 0.0 {
                return Err(MetricError::Undefined(format!(
                    "CKNNA: the self terms {:e} and {:e} have a negative product (the reference gives NaN)",
                    a.self_hsic, b.self_hsic
                )));
            }
            Ok(shared_neighbour_hsic(a, b) / (product.sqrt() + CKNNA_EPSILON))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    /// HSIC of platonic-rep's dense formula on the m × m masked kernels.
    fn dense_hsic(kt: &Mat<f64>, lt: &Mat<f64>) -> f64 {
        let m = kt.nrows();
        let mf = m as f64;
        let mut trace = 0.0;
        for i in 0..m {
            for j in 0..m {
                trace += kt[(i, j)] * lt[(j, i)];
            }
        }
        let kl = kt * lt;
        let sum = |x: &Mat<f64>| (0..m).flat_map(|i| (0..m).map(move |j| (i, j))).map(|(i, j)| x[(i, j)]).sum::<f64>();
        (trace + sum(kt) * sum(lt) / ((mf - 1.0) * (mf - 2.0)) - 2.0 * sum(&kl) / (mf - 2.0)) / (mf * (mf - 3.0))
    }

    #[test]
    fn the_sparse_hsic_equals_the_dense_formula() {
        let mut rng = SplitMix64(41);
        let (m, k) = (23, 4);
        let xa = rng.normal_matrix(m, 7);
        let xb = rng.normal_matrix(m, 5);
        let a = PreparedKnn::new(&xa, KnnVariant::Cknna, k).expect("a");
        let b = PreparedKnn::new(&xb, KnnVariant::Cknna, k).expect("b");
        let (na, nb) = (normalised_rows(&xa), normalised_rows(&xb));
        let (ka, kb) = (&na * na.transpose(), &nb * nb.transpose());
        let mask = |p: &PreparedKnn, i: usize, j: usize| p.neighbours(i).contains(&(j as u32));
        let kt = Mat::from_fn(m, m, |i, j| if mask(&a, i, j) && mask(&b, i, j) { ka[(i, j)] } else { 0.0 });
        let lt = Mat::from_fn(m, m, |i, j| if mask(&a, i, j) && mask(&b, i, j) { kb[(i, j)] } else { 0.0 });
        let want = dense_hsic(&kt, &lt);
        let got = shared_neighbour_hsic(&a, &b);
        assert!((got - want).abs() <= 1e-14, "{got} vs {want}");
        let ka_masked = Mat::from_fn(m, m, |i, j| if mask(&a, i, j) { ka[(i, j)] } else { 0.0 });
        assert!((a.self_hsic - dense_hsic(&ka_masked, &ka_masked)).abs() <= 1e-14);
    }

    #[test]
    fn ties_prefer_the_lower_index() {
        // stimulus 0 is equally similar to 1, 2 and 3 (all orthogonal to it); 4 is nearest
        let x =
            Matrix::from_row_major(5, 3, &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.1, 0.0]);
        let p = PreparedKnn::new(&x, KnnVariant::Mutual, 2).expect("prepared");
        assert_eq!(p.neighbours(0), &[1, 4]);
    }

    #[test]
    fn parameters_are_checked() {
        let x = SplitMix64(2).normal_matrix(6, 3);
        assert!(PreparedKnn::new(&x, KnnVariant::Mutual, 0).is_err());
        assert!(PreparedKnn::new(&x, KnnVariant::Mutual, 6).is_err());
        assert!(PreparedKnn::new(&x, KnnVariant::Mutual, 5).is_ok());
        assert!(PreparedKnn::new(&x, KnnVariant::Cknna, 1).is_err());
        let mut bad = x.col_major().to_vec();
        bad[4] = f64::NAN;
        assert!(PreparedKnn::new(&Matrix::from_col_major(6, 3, bad), KnnVariant::Jaccard, 2).is_err());
    }
}
