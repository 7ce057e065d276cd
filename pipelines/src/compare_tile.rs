//! Scoring one tile: every pair of the tile, every metric, as the plan decided. The pairs
//! to compute are scored together by the blocked kernels (`repspace_metrics::compare_block`);
//! then the tile's pairs are walked in plan order and each row is copied (`Reuse`) or
//! taken from the scores.
//!
//! Invariant: pair order is the group order and a pair's arithmetic depends only on the
//! shapes, so rows are identical whatever the number of workers or the memory budget.

use std::collections::HashMap;

use repspace_metrics::{MetricError, MetricSpec, PairScore, Prepared, STACK_BYTES, compare, compare_block};
use repspace_store::ReasonCode;
use repspace_store::tables::{DistanceRow, MsaPointRow};

use crate::incremental::Decision;
use crate::job::{AllPairsJob, NamedMetric};
use crate::load::Loaded;
use crate::plan::{Plan, TileId};
use crate::publish::Collected;
use crate::rep_cache::Decided;

/// What a tile owner knows when it computes a tile.
#[derive(Clone, Copy)]
pub(crate) struct TileContext<'a> {
    pub decided: &'a Decided,
    pub hashes: &'a HashMap<usize, String>,
    pub reps: &'a HashMap<usize, Loaded>,
    pub refused: &'a HashMap<usize, String>,
}

/// Every pair of one tile, every metric, as the plan decided: copy the earlier row or
/// compute. A (pair, metric) without a decision has a side that failed to load or prepare
/// (its errors row is written already).
pub(crate) fn compute_tile(job: &AllPairsJob, plan: &Plan, tile: TileId, ctx: &TileContext, c: &mut Collected) {
    let TileContext { decided, hashes, reps, refused } = *ctx;
    let mut scored = score_tile(job, plan, tile, ctx);
    // metric fingerprints once per tile, not once per pair
    let specs: Vec<String> = job.metrics.iter().map(NamedMetric::fingerprint).collect();
    let skip = |n: usize| job.advance(n);
    for (ra, rb) in plan.pairs_of(tile) {
        if refused.contains_key(&ra) || refused.contains_key(&rb) {
            skip(job.metrics.len());
            continue;
        }
        let (row_a, row_b) = (&job.manifest.rows[ra], &job.manifest.rows[rb]);
        for (k, metric) in job.metrics.iter().enumerate() {
            let spec = &specs[k];
            match decided.get(&(ra as u32, rb as u32, k as u16)) {
                // a side failed to load or to prepare for this metric: its errors row is written
                None => {
                    skip(1);
                    continue;
                }
                Some(Decision::Reuse) => {
                    let old = hashes
                        .get(&ra)
                        .zip(hashes.get(&rb))
                        .and_then(|(ha, hb)| job.reusable.get(&(spec.clone(), ha.clone(), hb.clone())));
                    if let Some(old) = old {
                        c.distances.push(DistanceRow {
                            metric: metric.name.clone(),
                            model_a: row_a.model_id.clone(),
                            layer_a: row_a.layer.clone(),
                            model_b: row_b.model_id.clone(),
                            layer_b: row_b.layer.clone(),
                            ..old.clone()
                        });
                        c.reused += 1;
                        skip(1);
                        continue;
                    }
                }
                Some(Decision::Compute) => {}
            }
            let (Some(a), Some(b)) = (reps.get(&ra), reps.get(&rb)) else {
                skip(1);
                continue;
            };
            if let (MetricSpec::Msa { eps }, Ok(Some(Prepared::Msa(pa))), Ok(Some(Prepared::Msa(pb))), Some(true)) =
                (&metric.spec, &a.prepared[k], &b.prepared[k], job.geometry.as_ref().map(|g| g.per_point))
                && let Ok(values) = repspace_metrics::geometry::msa_per_point(pa, pb, *eps)
            {
                for (i, d_sr) in values.into_iter().enumerate() {
                    c.msa_points.push(MsaPointRow {
                        metric: metric.name.clone(),
                        model_a: row_a.model_id.clone(),
                        layer_a: row_a.layer.clone(),
                        model_b: row_b.model_id.clone(),
                        layer_b: row_b.layer.clone(),
                        point_index: i as i64,
                        d_sr,
                        run_id: job.run_id.to_string(),
                    });
                }
            }
            let outcome = match (&a.prepared[k], &b.prepared[k]) {
                (Ok(Some(pa)), Ok(Some(pb))) => match scored.remove(&(ra, rb, k)) {
                    Some(result) => result.map_err(|e| e.to_string()),
                    // a reuse whose earlier row has gone is computed here
                    None => compare(&metric.spec, pa, pb).map_err(|e| e.to_string()),
                },
                _ => {
                    // A side this metric could not prepare: its errors row is written already.
                    skip(1);
                    continue;
                }
            };
            if let Ok(score) = &outcome
                && score.held_out_ambiguous
            {
                c.ambiguous_held_out += 1;
                tracing::debug!(metric = %metric.name, model_a = %row_a.model_id, layer_a = %row_a.layer,
                        model_b = %row_b.model_id, layer_b = %row_b.layer,
                        "the fitted cross-covariance is rank deficient: distance_test depends on the SVD's null-space completion and may differ from netrep's");
            }
            if outcome.is_ok() {
                c.computed += 1;
            }
            match outcome {
                Ok(score) => c.distances.push(DistanceRow {
                    metric: metric.name.clone(),
                    metric_spec: spec.clone(),
                    model_a: row_a.model_id.clone(),
                    layer_a: row_a.layer.clone(),
                    model_b: row_b.model_id.clone(),
                    layer_b: row_b.layer.clone(),
                    distance: score.distance,
                    distance_test: score.distance_test,
                    shift_y: score.shift.map(|s| s.0),
                    shift_x: score.shift.map(|s| s.1),
                    hash_a: a.hash.clone(),
                    hash_b: b.hash.clone(),
                    run_id: job.run_id.to_string(),
                }),
                Err(message) => {
                    tracing::error!(metric = %metric.name, model_a = %row_a.model_id, layer_a = %row_a.layer,
                        model_b = %row_b.model_id, layer_b = %row_b.layer, "pair failed: {message}");
                    let mut e = job.error_row(row_a, ReasonCode::PairFailed, message);
                    e.metric = Some(metric.name.clone());
                    e.model_b = Some(row_b.model_id.clone());
                    e.layer_b = Some(row_b.layer.clone());
                    c.errors.push(e);
                }
            }
            skip(1);
        }
    }
}

/// Every pair of the tile the plan decided to compute, metric by metric, scored together by
/// the blocked kernels (`repspace_metrics::compare_block`): (rep_a, rep_b, metric) → score.
/// The kernel's rows are block_a's representations and its columns block_b's, the same list
/// on a diagonal tile (so it can form only one triangle).
fn score_tile(
    job: &AllPairsJob,
    plan: &Plan,
    tile: TileId,
    ctx: &TileContext,
) -> HashMap<(usize, usize, usize), Result<PairScore, MetricError>> {
    let TileContext { decided, reps, refused, .. } = *ctx;
    let mut out = HashMap::new();
    for (k, metric) in job.metrics.iter().enumerate() {
        let usable = |block: u32| -> Vec<(usize, &Prepared)> {
            plan.block_members(tile.group, block)
                .iter()
                .filter(|r| !refused.contains_key(r))
                .filter_map(|r| match reps.get(r).map(|l| &l.prepared[k]) {
                    Some(Ok(Some(p))) => Some((*r, p)),
                    _ => None,
                })
                .collect()
        };
        let row_side = usable(tile.block_a);
        let col_side = if tile.block_a == tile.block_b { row_side.clone() } else { usable(tile.block_b) };
        let mut index_pairs = Vec::new();
        for (i, &(ra, _)) in row_side.iter().enumerate() {
            for (j, &(rb, _)) in col_side.iter().enumerate() {
                // a diagonal tile holds each pair once, in the group's order
                let ordered = tile.block_a != tile.block_b || i < j;
                if ordered && decided.get(&(ra as u32, rb as u32, k as u16)) == Some(&Decision::Compute) {
                    index_pairs.push((i, j));
                }
            }
        }
        let rows: Vec<&Prepared> = row_side.iter().map(|(_, p)| *p).collect();
        let cols: Vec<&Prepared> = col_side.iter().map(|(_, p)| *p).collect();
        let scores = compare_block(&metric.spec, &rows, &cols, &index_pairs, STACK_BYTES);
        for (&(i, j), score) in index_pairs.iter().zip(scores) {
            out.insert((row_side[i].0, col_side[j].0, k), score);
        }
    }
    out
}
