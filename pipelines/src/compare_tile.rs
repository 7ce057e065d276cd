//! Scoring one tile for one metric. The tile's usable members (loaded, prepared for the
//! metric, not refused) are sorted by (model_id, layer) on each side, so every pair is
//! scored in its table orientation (the smaller key first) whatever the blocks; pairs to
//! compute are scored together by the blocked kernels (`repspace_metrics::compare_block`),
//! forward pairs with rows from block a and reverse pairs with rows from block b.
//!
//! Rows come from three places: a pair-level row of an earlier version's part (`reusable`,
//! same fingerprint and hashes: copied), a pair of equal contents scored already in this
//! run on this worker (the [`Memo`]: compared once, copied), or the kernel.
//!
//! Invariant: a pair's arithmetic depends only on its two prepared inputs and their
//! orientation, so rows are identical whatever the tiling, the number of workers, the
//! memory budget or the history of runs.

use std::collections::HashMap;

use repspace_metrics::{MetricError, MetricSpec, PairScore, Prepared, STACK_BYTES, compare_block};
use repspace_store::tables::{DistanceRow, MsaPointRow, Table};
use repspace_store::{ReasonCode, TilePart};

use crate::incremental::Task;
use crate::job::AllPairsJob;
use crate::load::Loaded;
use crate::plan::Plan;
use crate::publish::TileRows;

/// What a tile owner knows when it computes a tile.
#[derive(Clone, Copy)]
pub(crate) struct TileContext<'a> {
    pub reps: &'a HashMap<usize, Loaded>,
    pub refused: &'a HashMap<usize, String>,
    /// Content hashes that more than one representation of the run has.
    pub duplicated: &'a std::collections::HashSet<String>,
    /// The fingerprints of which `job.reusable` holds pair rows (outputs written before
    /// tile parts): only their metrics look pairs up there.
    pub legacy: &'a std::collections::HashSet<String>,
}

/// Scores of pairs whose contents recur in the run, by (metric, hash of the first side,
/// hash of the second): a duplicate pair is compared once per worker. Bounded: cleared when
/// it reaches [`Memo::CAPACITY`] entries.
#[derive(Default)]
pub(crate) struct Memo {
    scores: HashMap<(u16, String, String), PairScore>,
}

impl Memo {
    pub const CAPACITY: usize = 1 << 20;

    fn insert(&mut self, key: (u16, String, String), score: PairScore) {
        if self.scores.len() >= Self::CAPACITY {
            self.scores.clear();
        }
        self.scores.insert(key, score);
    }
}

/// The most earlier parts a recomputed tile reads for its unchanged pairs (beyond it, e.g.
/// after the group was cut again with another tile size, the tile is computed whole).
pub const MAX_EARLIER_PARTS: usize = 16;

/// Rows of the earlier tiles that held pairs of this tile's members, by (hash_a, hash_b):
/// the places come from the earlier registry, so only those parts are read.
fn earlier_rows(
    job: &AllPairsJob,
    group: &str,
    fingerprint: &str,
    a: &[Member],
    b: &[Member],
) -> HashMap<(String, String), DistanceRow> {
    let mut rows = HashMap::new();
    if job.earlier.blocks.is_empty() {
        return rows;
    }
    let blocks = |side: &[Member]| -> std::collections::BTreeSet<u32> {
        side.iter()
            .flat_map(|m| job.earlier.blocks.get(&(group.to_string(), m.2.to_string())).into_iter().flatten().copied())
            .collect()
    };
    let (olds_a, olds_b) = (blocks(a), blocks(b));
    let places: std::collections::BTreeSet<(u32, u32)> =
        olds_a.iter().flat_map(|&x| olds_b.iter().map(move |&y| (x.min(y), x.max(y)))).collect();
    let parts: Vec<&repspace_store::bundle::RowSource> = places
        .iter()
        .filter_map(|&(x, y)| job.earlier.parts.get(&(fingerprint.to_string(), TilePart::group_hash(group), x, y)))
        .flatten()
        .collect();
    if parts.len() > MAX_EARLIER_PARTS {
        return rows;
    }
    for part in parts {
        let batches = match part.read(&job.output.storage, DistanceRow::NAME) {
            Ok(batches) => batches,
            Err(e) => {
                tracing::warn!(part = %part, "an earlier tile cannot be read; its pairs are recomputed: {e}");
                continue;
            }
        };
        for batch in &batches {
            for row in DistanceRow::from_batch(batch).unwrap_or_default().into_iter().filter(DistanceRow::reusable_now)
            {
                rows.insert((row.hash_a.clone(), row.hash_b.clone()), row);
            }
        }
    }
    rows
}

/// Where a pair's score comes from.
enum Source {
    /// A row of the tile's earlier version, or of an earlier version's pair-level part.
    Earlier(Box<DistanceRow>),
    /// Scored earlier in this run on this worker (equal contents).
    Memo(PairScore),
    /// The same contents as pair n of this tile.
    Same(usize),
    /// The kernel.
    Kernel,
}

/// A member of a tile side: representation, its prepared factor, its content hash.
type Member<'a> = (usize, &'a Prepared, &'a str);

pub(crate) fn score_tile(job: &AllPairsJob, plan: &Plan, task: &Task, ctx: &TileContext, memo: &mut Memo) -> TileRows {
    let k = task.metric as usize;
    let metric = &job.metrics[k];
    let fingerprint = metric.fingerprint();
    let usable = |block: u32| -> Vec<Member> {
        let mut members: Vec<Member> = plan
            .block_members(task.tile.group, block)
            .into_iter()
            .filter(|r| !ctx.refused.contains_key(r))
            .filter_map(|r| match ctx.reps.get(&r).map(|l| (&l.prepared[k], l.hash.as_str())) {
                Some((Ok(Some(p)), hash)) => Some((r, p, hash)),
                _ => None,
            })
            .collect();
        members.sort_by(|x, y| plan.key(x.0).cmp(plan.key(y.0)));
        members
    };
    let diagonal = task.tile.block_a == task.tile.block_b;
    let a = usable(task.tile.block_a);
    let b = if diagonal { a.clone() } else { usable(task.tile.block_b) };
    // every pair in table orientation: (first, second) as (side a index, side b index, forward)
    let mut pairs: Vec<(usize, usize, bool)> = Vec::new();
    for (i, x) in a.iter().enumerate() {
        for (j, y) in b.iter().enumerate().skip(if diagonal { i + 1 } else { 0 }) {
            pairs.push((i, j, plan.key(x.0) < plan.key(y.0)));
        }
    }
    let oriented = |&(i, j, forward): &(usize, usize, bool)| if forward { (a[i], b[j]) } else { (b[j], a[i]) };
    let earlier = earlier_rows(job, plan.group_name(task.tile.group), &fingerprint, &a, &b);
    let mut sources = Vec::with_capacity(pairs.len());
    let mut first_of: HashMap<(&str, &str), usize> = HashMap::new();
    let (mut forward, mut reverse): (Vec<(usize, (usize, usize))>, Vec<(usize, (usize, usize))>) =
        (Vec::new(), Vec::new());
    // the per-pair lookups below allocate their keys: only look where something can be found
    let legacy = ctx.legacy.contains(&fingerprint);
    let repeated = |x: &Member, y: &Member| ctx.duplicated.contains(x.2) || ctx.duplicated.contains(y.2);
    for (n, p) in pairs.iter().enumerate() {
        let (x, y) = oriented(p);
        let source = if let Some(old) =
            (!earlier.is_empty()).then(|| earlier.get(&(x.2.to_string(), y.2.to_string()))).flatten()
        {
            Source::Earlier(Box::new(old.clone()))
        } else if let Some(old) =
            legacy.then(|| job.reusable.get(&(fingerprint.clone(), x.2.to_string(), y.2.to_string()))).flatten()
        {
            Source::Earlier(Box::new(old.clone()))
        } else if let Some(s) =
            repeated(&x, &y).then(|| memo.scores.get(&(task.metric, x.2.to_string(), y.2.to_string()))).flatten()
        {
            Source::Memo(*s)
        } else if let Some(&first) = first_of.get(&(x.2, y.2)) {
            Source::Same(first)
        } else {
            first_of.insert((x.2, y.2), n);
            let (i, j, fwd) = *p;
            if fwd {
                forward.push((n, (i, j)))
            } else {
                reverse.push((n, (j, i)))
            }
            Source::Kernel
        };
        sources.push(source);
    }
    let mut scores: Vec<Option<Result<PairScore, MetricError>>> = vec![None; pairs.len()];
    for (rows, cols, list) in [(&a, &b, &forward), (&b, &a, &reverse)] {
        if list.is_empty() {
            continue;
        }
        let rows: Vec<&Prepared> = rows.iter().map(|m| m.1).collect();
        let cols: Vec<&Prepared> = cols.iter().map(|m| m.1).collect();
        let index_pairs: Vec<(usize, usize)> = list.iter().map(|(_, p)| *p).collect();
        for ((n, _), s) in list.iter().zip(compare_block(&metric.spec, &rows, &cols, &index_pairs, STACK_BYTES)) {
            scores[*n] = Some(s);
        }
    }
    let mut out = TileRows::default();
    for (n, p) in pairs.iter().enumerate() {
        let (x, y) = oriented(p);
        let (ra, rb) = (&job.manifest.rows[x.0], &job.manifest.rows[y.0]);
        job.advance(1);
        let outcome = match &sources[n] {
            Source::Earlier(old) => {
                out.reused += 1;
                out.distances.push(DistanceRow {
                    metric: metric.name.clone(),
                    model_a: ra.model_id.clone(),
                    layer_a: ra.layer.clone(),
                    model_b: rb.model_id.clone(),
                    layer_b: rb.layer.clone(),
                    ..(**old).clone()
                });
                continue;
            }
            Source::Memo(s) => {
                out.deduplicated += 1;
                Ok(*s)
            }
            Source::Same(first) => {
                out.deduplicated += 1;
                scores[*first]
                    .clone()
                    .unwrap_or(Err(MetricError::Parameter { key: "pair", reason: "not scored".into() }))
            }
            Source::Kernel => {
                out.computed += 1;
                let s = scores[n]
                    .clone()
                    .unwrap_or(Err(MetricError::Parameter { key: "pair", reason: "not scored".into() }));
                if let Ok(score) = &s
                    && repeated(&x, &y)
                {
                    memo.insert((task.metric, x.2.to_string(), y.2.to_string()), *score);
                }
                s
            }
        };
        match outcome.and_then(finite) {
            Ok(score) => {
                if score.test_underdetermined {
                    out.test_underdetermined += 1;
                    tracing::debug!(metric = %metric.name, model_a = %ra.model_id, layer_a = %ra.layer,
                        model_b = %rb.model_id, layer_b = %rb.layer,
                        "the fitted cross-covariance is rank deficient: distance_test is the average over the fitted map's completions (test_underdetermined)");
                }
                if let (MetricSpec::Msa { eps }, Prepared::Msa(pa), Prepared::Msa(pb), Some(true)) =
                    (&metric.spec, x.1, y.1, job.geometry.as_ref().map(|g| g.per_point))
                    && let Ok(values) = repspace_metrics::geometry::msa_per_point(pa, pb, *eps)
                {
                    out.msa_points.extend(values.into_iter().enumerate().map(|(i, d_sr)| MsaPointRow {
                        metric: metric.name.clone(),
                        model_a: ra.model_id.clone(),
                        layer_a: ra.layer.clone(),
                        model_b: rb.model_id.clone(),
                        layer_b: rb.layer.clone(),
                        point_index: i as i64,
                        d_sr,
                        run_id: job.run_id.to_string(),
                    }));
                }
                out.distances.push(DistanceRow {
                    metric: metric.name.clone(),
                    metric_spec: fingerprint.clone(),
                    model_a: ra.model_id.clone(),
                    layer_a: ra.layer.clone(),
                    model_b: rb.model_id.clone(),
                    layer_b: rb.layer.clone(),
                    distance: score.distance,
                    similarity: score.similarity,
                    distance_test: score.distance_test,
                    test_underdetermined: score.distance_test.map(|_| score.test_underdetermined),
                    shift_y: score.shift.map(|s| s.0),
                    shift_x: score.shift.map(|s| s.1),
                    hash_a: x.2.to_string(),
                    hash_b: y.2.to_string(),
                    run_id: job.run_id.to_string(),
                });
            }
            Err(e) => {
                let message = e.to_string();
                tracing::error!(metric = %metric.name, model_a = %ra.model_id, layer_a = %ra.layer,
                    model_b = %rb.model_id, layer_b = %rb.layer, "pair failed: {message}");
                let mut row = job.error_row(ra, ReasonCode::PairFailed, message);
                row.metric = Some(metric.name.clone());
                row.model_b = Some(rb.model_id.clone());
                row.layer_b = Some(rb.layer.clone());
                out.errors.push(row);
            }
        }
    }
    out
}

/// A score whose distance (or held-out distance) is not a finite number is no score: the pair
/// becomes a `pair_failed` row, never a NaN in `distances`.
fn finite(score: PairScore) -> Result<PairScore, MetricError> {
    if score.distance.is_finite() && score.distance_test.is_none_or(f64::is_finite) {
        Ok(score)
    } else {
        Err(MetricError::NotFinite(format!(
            "the score is not a finite number (distance {}, distance_test {:?}); a constant or nearly constant \
             representation can cause this",
            score.distance, score.distance_test
        )))
    }
}
