//! The layer-path stage: each layer becomes a point of every path metric at load time
//! (prepare once); the layers of a model meet on the worker that owns the model, which
//! analyses the path and emits `paths`, `path_summary` and within-model `distances` rows.

use repspace_metrics::paths::{PathPoint, PathSpec, analyse_path};
use repspace_metrics::{MetricError, Tensor};
use repspace_store::ReasonCode;
use repspace_store::tables::{DistanceRow, ErrorRow, PathRow, PathSummaryRow};
use serde::{Deserialize, Serialize};

use crate::allpairs::AllPairsJob;

/// A path metric as the config names it.
#[derive(Clone, Debug)]
pub struct NamedPath {
    pub name: String,
    pub spec: PathSpec,
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

/// The points of one layer for every path metric (layers are [samples, units] arrays).
pub(crate) fn layer_points(paths: &[NamedPath], x: &Tensor) -> Vec<Result<PathPoint, (ReasonCode, String)>> {
    paths
        .iter()
        .map(|p| {
            if x.shape().len() != 2 {
                return Err((
                    ReasonCode::WrongRank,
                    format!("path {:?}: layers must be 2-D [samples, units], got shape {:?}", p.name, x.shape()),
                ));
            }
            p.spec.point(&x.to_matrix()).map_err(|e| (ReasonCode::PrepareFailed, format!("path {:?}: {e}", p.name)))
        })
        .collect()
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
        let spec_fp = crate::allpairs::fingerprint(&format!("path {:?}", path.spec));
        let key = crate::allpairs::fingerprint(&format!(
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
        let analysis = match analyse_path(&path.spec, &points) {
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
                    run_id: job.run_id.clone(),
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
                run_id: job.run_id.clone(),
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
                    distance_test: None,
                    shift_y: None,
                    shift_x: None,
                    hash_a: a.hash.clone(),
                    hash_b: b.hash.clone(),
                    run_id: job.run_id.clone(),
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
            run_id: job.run_id.clone(),
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
