//! The layer-path stage: each layer becomes a point of every path metric at load time
//! (prepare once); the layers of a model meet on the worker that owns the model, which
//! analyses the path and emits `paths`, `path_summary` and within-model `distances` rows.
//!
//! Invariant: a model's points are built one model at a time on its owner (a CKA path
//! point is an m × m Gram matrix), so they never all live at once; a model whose path key
//! (metric, layer names, order and content hashes) is unchanged copies its earlier rows.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::Arc;

use repspace_metrics::paths::{PathPoint, analyse_path};
use repspace_metrics::{MetricError, Tensor};
use repspace_store::ReasonCode;
use repspace_store::tables::{DistanceRow, ErrorRow, PathRow, PathSummaryRow};
use serde::{Deserialize, Serialize};
use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::Operator;

use crate::fingerprint::fnv_hex;
use crate::job::{AllPairsJob, NamedPath};
use crate::publish::Collected;

/// The stage: layers (already routed by [`model_route`]) and the sample-count refusals in;
/// once both are complete, every model this worker owns is analysed into `sink`.
pub(crate) fn analyse_paths<'s>(
    layers: StreamVec<'s, u64, (u64, PathLayer)>,
    refusals: StreamVec<'s, u64, (usize, String)>,
    job: Arc<AllPairsJob>,
    index: usize,
    sink: Rc<RefCell<Collected>>,
) -> StreamVec<'s, u64, ()> {
    let route = Exchange::new(|(route, _): &(u64, PathLayer)| *route);
    layers.binary_frontier(refusals, route, Pipeline, "Paths", move |cap, _| {
        let mut cap = Some(cap);
        let mut models: BTreeMap<String, Vec<PathLayer>> = BTreeMap::new();
        let mut refused: HashMap<usize, String> = HashMap::new();
        move |(in_layers, f1), (in_refusals, f2), output| {
            in_layers.for_each_stamp(|_, data| {
                for batch in data {
                    for (_, layer) in batch.drain(..) {
                        let model = job.manifest.rows[layer.rep].model_id.clone();
                        models.entry(model).or_default().push(layer);
                    }
                }
            });
            in_refusals.for_each_stamp(|_, data| {
                for batch in data {
                    refused.extend(batch.drain(..));
                }
            });
            if f1.is_empty()
                && f2.is_empty()
                && let Some(cap) = cap.take()
            {
                let mut c = sink.borrow_mut();
                let mut reused = 0;
                for (_, layers) in std::mem::take(&mut models) {
                    let layers = layers.into_iter().filter(|l| !refused.contains_key(&l.rep)).collect();
                    let rows = analyse_model(&job, layers);
                    reused += rows.reused;
                    c.paths.extend(rows.paths);
                    c.path_summaries.extend(rows.summaries);
                    c.distances.extend(rows.distances);
                    c.errors.extend(rows.errors);
                }
                tracing::info!(worker = index, reused, "paths copied from earlier runs");
                output.session(&cap).give(());
            }
        }
    })
}

/// One layer on its way to the owner of its model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct PathLayer {
    pub rep: usize,
    pub hash: String,
    /// One entry per path metric: whether the layer became a point of it at load (a
    /// failure is reported there).
    pub usable: Vec<bool>,
    /// The layer's activations [samples, units].
    pub x: Option<Tensor>,
}

/// The well-mixed route of a model id (FNV-1a then splitmix64).
pub(crate) fn model_route(model_id: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in model_id.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100000001b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d049bb133111eb);
    h ^ (h >> 31)
}

/// Rows produced by analysing one model.
#[derive(Default)]
pub(crate) struct ModelPathRows {
    pub paths: Vec<PathRow>,
    pub summaries: Vec<PathSummaryRow>,
    pub distances: Vec<DistanceRow>,
    pub errors: Vec<ErrorRow>,
    /// Paths copied from an earlier run.
    pub reused: usize,
}

/// Analyse every path metric over the layers of one model (any order in; sorted here by
/// `layer_index`, then manifest order).
pub(crate) fn analyse_model(job: &AllPairsJob, mut layers: Vec<PathLayer>) -> ModelPathRows {
    let mut out = ModelPathRows::default();
    let rows = &job.manifest.rows;
    layers.sort_by_key(|l| (rows[l.rep].layer_index.unwrap_or(i64::MAX), rows[l.rep].row));
    if layers.len() < 2 {
        return out;
    }
    let model_id = rows[layers[0].rep].model_id.clone();
    for (k, path) in job.paths.iter().enumerate() {
        let usable: Vec<&PathLayer> = layers.iter().filter(|l| l.usable[k] && l.x.is_some()).collect();
        if usable.len() < 2 {
            continue;
        }
        let spec_fp = path.fingerprint();
        let key = fnv_hex(&format!(
            "{spec_fp}|{}",
            usable
                .iter()
                .map(|l| format!("{}@{}:{}", rows[l.rep].layer, rows[l.rep].layer_index.unwrap_or(-1), l.hash))
                .collect::<Vec<_>>()
                .join(",")
        ));
        if reuse_path(job, path, &model_id, &key, &spec_fp, &usable, &mut out) {
            continue;
        }
        // the points of this model only (deterministic: the same as at load)
        let points: Vec<PathPoint> =
            usable.iter().filter_map(|l| l.x.as_ref().and_then(|x| path.spec.point(&x.to_matrix()).ok())).collect();
        if points.len() != usable.len() {
            continue;
        }
        let finite = |a: repspace_metrics::paths::PathAnalysis| {
            if a.distances.iter().flatten().all(|d| d.is_finite()) && a.path_length.is_finite() {
                Ok(a)
            } else {
                Err(MetricError::NotFinite("the path's layer distances are not all finite numbers".into()))
            }
        };
        let analysis = match analyse_path(&path.spec, &points).and_then(finite) {
            Ok(a) => a,
            Err(e) => {
                let code = match e {
                    MetricError::SampleCountMismatch { .. } => ReasonCode::SampleCountMismatch,
                    _ => ReasonCode::PairFailed,
                };
                let message = format!("path {:?} of model {model_id:?}: {e}", path.name);
                tracing::error!(model = %model_id, metric = %path.name, reason = code.as_str(), "{message}");
                out.errors.push(ErrorRow {
                    model_id: model_id.clone(),
                    layer: rows[usable[0].rep].layer.clone(),
                    uri: None,
                    reason: code.as_str().into(),
                    message,
                    metric: Some(path.name.clone()),
                    model_b: None,
                    layer_b: None,
                    run_id: job.run_id.to_string(),
                });
                continue;
            }
        };
        let n = usable.len();
        for (i, l) in usable.iter().enumerate() {
            let row = &rows[l.rep];
            out.paths.push(PathRow {
                metric: path.name.clone(),
                model_id: model_id.clone(),
                layer_index: row.layer_index.unwrap_or(i as i64),
                layer: row.layer.clone(),
                step_length: (i > 0).then(|| analysis.steps[i]),
                cumulative_length: analysis.cumulative[i],
                distance_to_first: analysis.distances[0][i],
                distance_to_last: analysis.distances[i][n - 1],
                angle: analysis.angles[i],
                projection_t: analysis.projection_t[i],
                distance_to_geodesic: analysis.distance_to_geodesic[i],
                path_key: key.clone(),
                run_id: job.run_id.to_string(),
            });
            for (j, other) in usable.iter().enumerate().skip(i + 1) {
                // one row per unordered layer pair, the smaller layer name first
                let (a, b) = if rows[l.rep].layer <= rows[other.rep].layer { (*l, *other) } else { (*other, *l) };
                out.distances.push(DistanceRow {
                    metric: path.name.clone(),
                    metric_spec: spec_fp.clone(),
                    model_a: model_id.clone(),
                    layer_a: rows[a.rep].layer.clone(),
                    model_b: model_id.clone(),
                    layer_b: rows[b.rep].layer.clone(),
                    distance: analysis.distances[i][j],
                    similarity: None,
                    distance_test: None,
                    test_underdetermined: None,
                    shift_y: None,
                    shift_x: None,
                    hash_a: a.hash.clone(),
                    hash_b: b.hash.clone(),
                    run_id: job.run_id.to_string(),
                });
            }
        }
        out.summaries.push(PathSummaryRow {
            metric: path.name.clone(),
            model_id: model_id.clone(),
            n_layers: n as i64,
            path_length: analysis.path_length,
            direct_distance: analysis.direct_distance,
            efficiency: analysis.efficiency,
            mean_turning_angle: analysis.mean_turning_angle,
            path_key: key.clone(),
            run_id: job.run_id.to_string(),
        });
    }
    out
}

/// Copy an earlier run's rows for this path (same key: same path metric parameters and the
/// same layers in the same order with the same contents), under today's names. Returns
/// false, copying nothing, when any row is missing.
fn reuse_path(
    job: &AllPairsJob,
    path: &NamedPath,
    model_id: &str,
    key: &str,
    spec_fp: &str,
    usable: &[&PathLayer],
    out: &mut ModelPathRows,
) -> bool {
    let Some((summary, layer_rows)) = job.reusable_paths.get(key) else { return false };
    let rows = &job.manifest.rows;
    let mut distances = Vec::new();
    for (i, l) in usable.iter().enumerate() {
        for other in usable.iter().skip(i + 1) {
            let (a, b) = if rows[l.rep].layer <= rows[other.rep].layer { (*l, *other) } else { (*other, *l) };
            let Some(old) = job.reusable.get(&(spec_fp.to_string(), a.hash.clone(), b.hash.clone())) else {
                return false;
            };
            distances.push(DistanceRow {
                metric: path.name.clone(),
                model_a: model_id.to_string(),
                layer_a: rows[a.rep].layer.clone(),
                model_b: model_id.to_string(),
                layer_b: rows[b.rep].layer.clone(),
                ..old.clone()
            });
        }
    }
    out.distances.extend(distances);
    out.paths.extend(layer_rows.iter().map(|r| PathRow {
        metric: path.name.clone(),
        model_id: model_id.to_string(),
        ..r.clone()
    }));
    out.summaries.push(PathSummaryRow { metric: path.name.clone(), model_id: model_id.to_string(), ..summary.clone() });
    out.reused += 1;
    true
}
