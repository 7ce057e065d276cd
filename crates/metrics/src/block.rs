//! Blocked pair kernels: the pairs of a tile scored together.
//!
//! For the shape metric, a tile's pairs go through two steps:
//! 1. **Cross products.** Factors at least [`crate::panels::STACK_BELOW`] units wide have each pair's
//!    X_wᵀY_w formed by its own GEMM, straight from the factors: at that width faer's GEMM
//!    already runs at its 1024³ rate. Narrower factors are stacked: the factors of a panel of
//!    P representations are laid side by side (m × Σn) and one GEMM per (row panel, column
//!    panel) forms the cross products of all its pairs at once, over chunks of c stimuli,
//!    accumulating, so the stacked copies stay small however many stimuli there are. A panel
//!    against itself (a diagonal tile) forms only its upper triangle.
//! 2. **Batched small step.** The n_a × n_b cross product of each pair goes to the nuclear
//!    norm's Gram eigenvalue path in batches whose QL sweeps interleave
//!    ([`crate::nuclear::nuclear_norms_by_eigen`]); a pair whose error bound is too large for
//!    its distance takes the bidiagonal path, then the SVD ([`crate::score_from_estimate`]);
//!    a pair with held-out rows takes the SVD. Once most of a batch's Gram bounds are too
//!    loose (low-rank zoos), the block's later batches go to the bidiagonal path first.
//!
//! How factors are stacked (P and c) is the panel model of [`crate::panels`].
//!
//! RSA, distance correlation and the Gram CKAs score a tile's pairs as inner products of
//! prepared vectors, one GEMM per tile ([`crate::inner`]).
//! Other metrics are scored pair by pair.

use std::collections::BTreeMap;

use faer::{Mat, MatRef};

use crate::nuclear::NuclearPath;
use crate::panels::{PanelPlan, Stacks};
use crate::shape::{Factor, PreparedShape, compare_with_cross};
use crate::{MetricError, MetricSpec, PairScore, Prepared, compare};

/// Pairs whose cross products are held at once on the unstacked path, at most.
const PAIR_BATCH: usize = 2 * crate::nuclear::QL_LANES;

/// Room for the cross products held at once on the unstacked path.
const BATCH_BYTES: usize = 32 << 20;

/// Pairs scored together on the unstacked path for factors up to `width` wide: as many as
/// [`PAIR_BATCH`], fewer when their `width`² cross products would pass [`BATCH_BYTES`].
fn pair_batch(width: usize) -> usize {
    (BATCH_BYTES / (width * width * 8).max(1)).clamp(1, PAIR_BATCH)
}

/// The measures whose pairs are inner products of prepared vectors (RSA's prepared RDMs,
/// distance correlation's double-centred distance matrices, the Gram CKAs' packed kernels),
/// scored by one GEMM per tile; `None` for other measures, or when a pair needs its own error
/// (then each pair is scored alone and reports it).
fn inner_product_block(
    spec: &MetricSpec,
    rows: &[&Prepared],
    cols: &[&Prepared],
    pairs: &[(usize, usize)],
) -> Option<Vec<Result<PairScore, MetricError>>> {
    let similarities = match spec {
        MetricSpec::Rsa { .. } => crate::rsa::similarities(&all(rows, as_rsa)?, &all(cols, as_rsa)?, pairs).ok()?,
        MetricSpec::DistanceCorrelation => {
            crate::dcor::distance_correlations(&all(rows, as_dcor)?, &all(cols, as_dcor)?, pairs).ok()?
        }
        MetricSpec::Cka { .. } => {
            return Some(crate::cka::gram_similarities(&all(rows, as_gram)?, &all(cols, as_gram)?, pairs));
        }
        _ => return None,
    };
    Some(similarities.into_iter().map(|s| Ok(PairScore::from_similarity(s))).collect())
}

/// Every prepared value as the variant `pick` takes, or `None` if one is another.
fn all<'a, T>(prepared: &[&'a Prepared], pick: fn(&'a Prepared) -> Option<&'a T>) -> Option<Vec<&'a T>> {
    prepared.iter().map(|p| pick(p)).collect()
}

fn as_rsa(p: &Prepared) -> Option<&crate::rsa::PreparedRsa> {
    if let Prepared::Rsa(r) = p { Some(r) } else { None }
}

fn as_gram(p: &Prepared) -> Option<&crate::cka::PreparedGram> {
    if let Prepared::Gram(g) = p { Some(g) } else { None }
}

fn as_dcor(p: &Prepared) -> Option<&crate::dcor::PreparedDcor> {
    if let Prepared::Dcor(d) = p { Some(d) } else { None }
}

/// Score `pairs` (i, j) between `rows[i]` and `cols[j]`, all prepared for `spec`, in the
/// order given. When `rows` and `cols` are the same representations in the same order (a
/// diagonal tile), stacked panels against themselves form only their upper triangle.
/// `stack_bytes` bounds the stacked copies of the shape metric's kernel.
pub fn compare_block(
    spec: &MetricSpec,
    rows: &[&Prepared],
    cols: &[&Prepared],
    pairs: &[(usize, usize)],
    stack_bytes: usize,
) -> Vec<Result<PairScore, MetricError>> {
    let one_by_one = || pairs.iter().map(|&(i, j)| compare(spec, rows[i], cols[j])).collect();
    if let Some(scores) = inner_product_block(spec, rows, cols, pairs) {
        return scores;
    }
    if let Some(scores) = linear_cka_block(spec, rows, cols, pairs, stack_bytes) {
        return scores;
    }
    let MetricSpec::Shape { score, .. } = *spec else { return one_by_one() };
    let (Some(row_shapes), Some(col_shapes)) = (shapes(rows), shapes(cols)) else { return one_by_one() };
    // one stack needs one sample count and one precision; otherwise each pair reports its own error
    let all = || row_shapes.iter().chain(&col_shapes);
    let Some(first) = all().next() else { return Vec::new() };
    let m = first.n_samples();
    let f32 = matches!(first.factor(), Factor::F32 { .. });
    if all().any(|s| s.n_samples() != m || matches!(s.factor(), Factor::F32 { .. }) != f32) {
        return one_by_one();
    }
    let width = all().map(|s| s.factor_width()).max().unwrap_or(1);
    let plan = PanelPlan::choose(m, width, if f32 { 4 } else { 8 }, stack_bytes);
    let symmetric = rows.len() == cols.len() && rows.iter().zip(cols).all(|(a, b)| std::ptr::eq(*a, *b));
    let mut out: Vec<Option<Result<PairScore, MetricError>>> = vec![None; pairs.len()];
    let block = Block {
        pairs,
        rows: &row_shapes,
        cols: &col_shapes,
        score,
        path: std::cell::Cell::new(NuclearPath::GramEigenvalues),
    };
    if plan.per_panel == 1 {
        let all: Vec<usize> = (0..pairs.len()).collect();
        for members in all.chunks(pair_batch(width)) {
            let crosses: Vec<Result<Mat<f64>, MetricError>> = members
                .iter()
                .map(|&k| row_shapes[pairs[k].0].factor().cross(col_shapes[pairs[k].1].factor()))
                .collect();
            let mut ok = Vec::with_capacity(members.len());
            for (&k, c) in members.iter().zip(&crosses) {
                match c {
                    Ok(c) => ok.push((k, c.as_ref())),
                    Err(e) => out[k] = Some(Err(e.clone())),
                }
            }
            block.score(&ok, &mut out);
        }
    } else {
        let p = plan.per_panel;
        let mut by_panel: BTreeMap<(usize, usize), Vec<usize>> = BTreeMap::new();
        for (k, &(i, j)) in pairs.iter().enumerate() {
            by_panel.entry((i / p, j / p)).or_default().push(k);
        }
        let mut stacks = Stacks::new();
        for ((rp, cp), members) in by_panel {
            let row_panel = factors(&row_shapes[rp * p..((rp + 1) * p).min(row_shapes.len())]);
            let col_panel = factors(&col_shapes[cp * p..((cp + 1) * p).min(col_shapes.len())]);
            let upper = symmetric && rp == cp;
            let (cross, row_at, col_at) = stacks.cross(&row_panel, &col_panel, plan.chunk_rows, upper);
            let views: Vec<(usize, MatRef<'_, f64>)> = members
                .iter()
                .map(|&k| {
                    let (i, j) = pairs[k];
                    let (n_a, n_b) = (row_shapes[i].factor_width(), col_shapes[j].factor_width());
                    (k, cross.as_ref().submatrix(row_at[i - rp * p], col_at[j - cp * p], n_a, n_b))
                })
                .collect();
            block.score(&views, &mut out);
        }
    }
    out.into_iter().map(|r| r.unwrap_or(Err(MetricError::PreparedMismatch))).collect()
}

/// Linear CKA of a tile whose factors are narrower than [`crate::panels::STACK_BELOW`]: the cross
/// products X̃ᵢᵀỸⱼ of stacked panels, as for the shape metric, then each pair's Frobenius
/// norm. `None` (pair by pair: one GEMM each, already at the GEMM rate) for wider factors,
/// other measures, or sample counts that differ within the tile.
fn linear_cka_block(
    spec: &MetricSpec,
    rows: &[&Prepared],
    cols: &[&Prepared],
    pairs: &[(usize, usize)],
    stack_bytes: usize,
) -> Option<Vec<Result<PairScore, MetricError>>> {
    if !matches!(spec, MetricSpec::Cka { .. }) {
        return None;
    }
    let (row_cka, col_cka) = (all(rows, as_cka)?, all(cols, as_cka)?);
    let all_factors = || row_cka.iter().chain(&col_cka).map(|c| c.factor());
    let m = all_factors().next()?.rows();
    let width = all_factors().map(|f| f.cols()).max().unwrap_or(1);
    if all_factors().any(|f| f.rows() != m) {
        return None;
    }
    let plan = PanelPlan::choose(m, width, 8, stack_bytes);
    if plan.per_panel == 1 {
        return None;
    }
    let p = plan.per_panel;
    let symmetric = rows.len() == cols.len() && rows.iter().zip(cols).all(|(a, b)| std::ptr::eq(*a, *b));
    let mut by_panel: BTreeMap<(usize, usize), Vec<usize>> = BTreeMap::new();
    for (k, &(i, j)) in pairs.iter().enumerate() {
        by_panel.entry((i / p, j / p)).or_default().push(k);
    }
    let mut out: Vec<Option<Result<PairScore, MetricError>>> = vec![None; pairs.len()];
    let mut stacks = Stacks::new();
    for ((rp, cp), members) in by_panel {
        let row_panel: Vec<&Factor> =
            row_cka[rp * p..((rp + 1) * p).min(row_cka.len())].iter().map(|c| c.factor()).collect();
        let col_panel: Vec<&Factor> =
            col_cka[cp * p..((cp + 1) * p).min(col_cka.len())].iter().map(|c| c.factor()).collect();
        let (cross, row_at, col_at) = stacks.cross(&row_panel, &col_panel, plan.chunk_rows, symmetric && rp == cp);
        for k in members {
            let (i, j) = pairs[k];
            let (a, b) = (row_cka[i], col_cka[j]);
            let block =
                cross.as_ref().submatrix(row_at[i - rp * p], col_at[j - cp * p], a.factor().cols(), b.factor().cols());
            out[k] = Some(Ok(crate::cka::score_from_cross(block.norm_l2(), a, b)));
        }
    }
    Some(out.into_iter().map(|r| r.unwrap_or(Err(MetricError::PreparedMismatch))).collect())
}

fn as_cka(p: &Prepared) -> Option<&crate::cka::PreparedCka> {
    if let Prepared::Cka(c) = p { Some(c) } else { None }
}

/// The factors of a panel of shape representations.
fn factors<'a>(side: &[&'a PreparedShape]) -> Vec<&'a Factor> {
    side.iter().map(|s| s.factor()).collect()
}

/// What scoring a batch of a block's pairs needs.
struct Block<'a> {
    pairs: &'a [(usize, usize)],
    rows: &'a [&'a PreparedShape],
    cols: &'a [&'a PreparedShape],
    score: crate::Score,
    /// Which nuclear-norm path the block's next batch starts with (see [`LOOSE_RELATIVE_ERROR`]).
    path: std::cell::Cell<NuclearPath>,
}

/// Pairs of one block come from the same zoo and have alike spectra: when most of a batch's
/// Gram estimates are too loose (a low-rank zoo, whose products have long tails of small
/// singular values), the Gram path would only add its cost to the bidiagonal path's, so the
/// block's later batches start with the bidiagonal path ([`Block::path`]). Which path is tried
/// first changes the cost, never the value's bound: each result is still checked against its
/// own bound ([`crate::score_from_estimate`]).
///
/// A Gram estimate whose relative error bound passes this counts as loose (a distance near
/// π/4 moves by about √2 times the relative error).
const LOOSE_RELATIVE_ERROR: f64 = 0.5 * crate::NUCLEAR_DISTANCE_TOLERANCE;

impl Block<'_> {
    /// Score the pairs `k` of `batch` from their cross products into `out[k]`.
    fn score(&self, batch: &[(usize, MatRef<'_, f64>)], out: &mut [Option<Result<PairScore, MetricError>>]) {
        // the pairs without held-out rows share the batched nuclear norm
        let plain: Vec<&(usize, MatRef<'_, f64>)> = batch
            .iter()
            .filter(|(k, _)| !(self.rows[self.pairs[*k].0].has_test() && self.cols[self.pairs[*k].1].has_test()))
            .collect();
        let views: Vec<MatRef<'_, f64>> = plain.iter().map(|(_, v)| *v).collect();
        let path = self.path.get();
        let norms = crate::nuclear::nuclear_norms_by(path, &views);
        let loose =
            norms.iter().filter(|(_, e)| !matches!(e, Some((v, err)) if *err <= LOOSE_RELATIVE_ERROR * v)).count();
        if path == NuclearPath::GramEigenvalues && 2 * loose > norms.len() {
            self.path.set(NuclearPath::Bidiagonal);
        }
        let mut estimates: BTreeMap<usize, crate::nuclear::Estimate> =
            plain.iter().map(|(k, _)| *k).zip(norms).collect();
        for &(k, cross) in batch {
            let (i, j) = self.pairs[k];
            let estimate = estimates.remove(&k);
            out[k] = Some(compare_with_cross(self.rows[i], self.cols[j], cross, self.score, estimate));
        }
    }
}

/// The shape factors of one side, if every one is a shape factor.
fn shapes<'a>(side: &[&'a Prepared]) -> Option<Vec<&'a PreparedShape>> {
    side.iter()
        .map(|p| match p {
            Prepared::Shape(s) => Some(s),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::panels::STACK_BYTES;
    use crate::rng::SplitMix64;
    use crate::{Matrix, Precision, Score, prepare_matrix, prepare_matrix_with_precision};

    #[test]
    fn pair_batches_follow_the_model() {
        // cross products held at once: 16 at n = 128, fewer as they grow, never none
        assert_eq!(pair_batch(128), PAIR_BATCH);
        assert_eq!(pair_batch(1024), 4);
        assert_eq!(pair_batch(8192), 1);
    }

    /// Blocked against pair-by-pair scores, compared as inner products, where rounding is
    /// not amplified (cos near 1 and the euclidean square root near 0 turn ε into √ε).
    fn assert_blocked_equals_pairwise(widths: &[usize], stacks: &[usize]) {
        let mut rng = SplitMix64(21);
        let (m, t) = (90, 30);
        let xs: Vec<Matrix> = widths.iter().map(|&n| rng.normal_matrix(m, n)).collect();
        let ts: Vec<Matrix> = widths.iter().map(|&n| rng.normal_matrix(t, n)).collect();
        for (alpha, score, precision) in [
            (1.0, Score::Angular, Precision::F64),
            (0.5, Score::Euclidean, Precision::F64),
            (1.0, Score::Angular, Precision::F32),
        ] {
            let spec = MetricSpec::shape(alpha, score);
            let prep = |k: usize| {
                let test = (!k.is_multiple_of(3)).then_some(&ts[k]);
                prepare_matrix_with_precision(&spec, precision, &xs[k], test).expect("prepare")
            };
            let prepared: Vec<Prepared> = (0..xs.len()).map(prep).collect();
            let half = xs.len() / 2;
            let rows: Vec<&Prepared> = prepared[..half + 1].iter().collect();
            let cols: Vec<&Prepared> = prepared[half - 1..].iter().collect();
            let off: Vec<(usize, usize)> = (0..rows.len())
                .flat_map(|i| (0..cols.len()).map(move |j| (i, j)))
                .filter(|(i, j)| (i + j) % 4 != 1)
                .collect();
            let all: Vec<&Prepared> = prepared.iter().collect();
            let diagonal: Vec<(usize, usize)> =
                (0..all.len()).flat_map(|i| ((i + 1)..all.len()).map(move |j| (i, j))).collect();
            let close = |g: f64, w: f64| match (score, precision) {
                (Score::Angular, Precision::F64) => (g.cos() - w.cos()).abs() <= 1e-13,
                (Score::Angular, Precision::F32) => (g.cos() - w.cos()).abs() <= 1e-6,
                (Score::Euclidean, _) => (g * g - w * w).abs() <= 1e-10,
            };
            for (rows, cols, pairs) in [(&rows, &cols, &off), (&all, &all, &diagonal)] {
                for &stack in stacks {
                    let blocked = compare_block(&spec, rows, cols, pairs, stack);
                    for (&(i, j), got) in pairs.iter().zip(&blocked) {
                        let want = compare(&spec, rows[i], cols[j]).expect("pair");
                        let got = got.as_ref().expect("blocked pair");
                        assert!(close(got.distance, want.distance), "{alpha} {i},{j}: {got:?} vs {want:?}");
                        match (got.distance_test, want.distance_test) {
                            (Some(g), Some(w)) => assert!(close(g, w), "held-out {i},{j}: {got:?} vs {want:?}"),
                            (g, w) => assert_eq!(g.is_some(), w.is_some(), "held-out {i},{j}"),
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn stacked_scores_equal_pair_by_pair_scores() {
        // mixed narrow widths, held-out rows on some, whole and one-stimulus chunks
        assert_blocked_equals_pairwise(&[5, 12, 7, 12, 3, 9, 12, 6, 11, 4], &[STACK_BYTES, 16 * 12 * 2]);
    }

    #[test]
    fn unstacked_scores_equal_pair_by_pair_scores() {
        assert_blocked_equals_pairwise(&[64, 70, 64, 81, 64, 66], &[STACK_BYTES]);
    }

    /// A low-rank zoo (a shared 6-dimensional signal, noise, and a tail of columns with
    /// 1e-4 of the noise: products whose singular values spread over six decades, where the
    /// Gram path's bound fails and the block switches to the bidiagonal path): every blocked
    /// Procrustes distance within 1e-12 relative of arccos(‖X̃ᵀỸ‖_*/(‖X̃‖‖Ỹ‖)) by faer's SVD.
    #[test]
    fn low_rank_tiles_are_exact_against_the_svd() {
        let mut rng = SplitMix64(23);
        let (m, n, signal) = (400, 72, 6);
        let base = rng.normal_matrix(m, signal).to_faer();
        let xs: Vec<faer::Mat<f64>> = (0..8)
            .map(|_| {
                let w = rng.normal_matrix(signal, n).to_faer();
                let noise = rng.normal_matrix(m, n).to_faer();
                let x = &base * &w;
                faer::Mat::from_fn(m, n, |i, j| x[(i, j)] + noise[(i, j)] * if j % 3 == 0 { 1e-5 } else { 0.1 })
            })
            .collect();
        let centred: Vec<faer::Mat<f64>> = xs
            .iter()
            .map(|x| {
                let mu: Vec<f64> = (0..n).map(|j| x.col(j).iter().sum::<f64>() / m as f64).collect();
                faer::Mat::from_fn(m, n, |i, j| x[(i, j)] - mu[j])
            })
            .collect();
        let spec = MetricSpec::shape(1.0, Score::Angular);
        let prepared: Vec<Prepared> =
            xs.iter().map(|x| prepare_matrix(&spec, &Matrix::from_faer(x.as_ref()), None).expect("prepare")).collect();
        let all: Vec<&Prepared> = prepared.iter().collect();
        let pairs: Vec<(usize, usize)> = (0..8).flat_map(|i| ((i + 1)..8).map(move |j| (i, j))).collect();
        let blocked = compare_block(&spec, &all, &all, &pairs, STACK_BYTES);
        for (&(i, j), got) in pairs.iter().zip(&blocked) {
            let (a, b) = (&centred[i], &centred[j]);
            let nuclear: f64 = (a.transpose() * b).singular_values().expect("svd").iter().sum();
            let want = (nuclear / (a.norm_l2() * b.norm_l2())).clamp(-1.0, 1.0).acos();
            let got = got.as_ref().expect("pair").distance;
            assert!((got - want).abs() <= 1e-12 * want, "{i},{j}: {got} vs {want}");
        }
    }

    /// Linear CKA (stacked panels, narrow; one GEMM a pair, wide) and the Gram CKAs (one
    /// inner-product GEMM a tile) against pair-by-pair scores, off-diagonal and diagonal tiles,
    /// compared as cosines.
    #[test]
    fn blocked_cka_equals_pair_by_pair_cka() {
        use crate::{CkaEstimator, Kernel, LengthScale};
        let mut rng = SplitMix64(33);
        let m = 40;
        for widths in [&[5usize, 12, 7, 3, 9, 12, 6][..], &[64, 70, 65, 80][..]] {
            let xs: Vec<Matrix> = widths.iter().map(|&n| rng.normal_matrix(m, n)).collect();
            for spec in [
                MetricSpec::Cka { estimator: CkaEstimator::Biased, kernel: Kernel::Linear },
                MetricSpec::Cka { estimator: CkaEstimator::Debiased, kernel: Kernel::Linear },
                MetricSpec::Cka {
                    estimator: CkaEstimator::Biased,
                    kernel: Kernel::Rbf { length_scale: LengthScale::Fixed(3.0) },
                },
            ] {
                let prepared: Vec<Prepared> =
                    xs.iter().map(|x| prepare_matrix(&spec, x, None).expect("prepare")).collect();
                let all: Vec<&Prepared> = prepared.iter().collect();
                let half = all.len() / 2;
                let (rows, cols) = (all[..half + 1].to_vec(), all[half - 1..].to_vec());
                let off: Vec<(usize, usize)> =
                    (0..rows.len()).flat_map(|i| (0..cols.len()).map(move |j| (i, j))).collect();
                let diagonal: Vec<(usize, usize)> =
                    (0..all.len()).flat_map(|i| ((i + 1)..all.len()).map(move |j| (i, j))).collect();
                for (rows, cols, pairs) in [(&rows, &cols, &off), (&all, &all, &diagonal)] {
                    for stack in [STACK_BYTES, 16 * 12 * 2] {
                        for (&(i, j), got) in pairs.iter().zip(compare_block(&spec, rows, cols, pairs, stack)) {
                            let want = compare(&spec, rows[i], cols[j]).expect("pair");
                            let got = got.expect("blocked pair");
                            // CKA is an angle: compare its cosine (arccos turns ε at 1 into √ε)
                            assert!(
                                (got.distance.cos() - want.distance.cos()).abs() <= 1e-13,
                                "{spec:?} {i},{j}: {got:?} vs {want:?}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn mismatched_sample_counts_fail_only_their_own_pairs() {
        let mut rng = SplitMix64(2);
        let spec = MetricSpec::shape(1.0, Score::Angular);
        let prepared: Vec<Prepared> = [40, 40, 39, 40]
            .iter()
            .map(|&m| prepare_matrix(&spec, &rng.normal_matrix(m, 6), None).expect("prepare"))
            .collect();
        let all: Vec<&Prepared> = prepared.iter().collect();
        let pairs = [(0, 1), (0, 2), (1, 3), (2, 3)];
        let got = compare_block(&spec, &all, &all, &pairs, STACK_BYTES);
        assert!(got[0].is_ok() && got[2].is_ok());
        assert!(matches!(got[1], Err(MetricError::SampleCountMismatch { .. })));
        assert!(matches!(got[3], Err(MetricError::SampleCountMismatch { .. })));
    }
}
