//! Post-step: Euclidean embeddings of each (pair metric, comparison group) of this run's
//! `distances` (docs/math.md §3): classical MDS, landmark MDS with out-of-sample placement,
//! or the tangent space at the Fréchet mean; and their distortion (`embedding_summary`).
//!
//! Invariant: a group is embedded from a complete distance matrix (items missing a distance
//! are dropped, most-missing first, with a warning); the landmark method keeps the previous
//! run's landmark set while all its landmarks are present, so earlier points keep their
//! coordinates.

use std::collections::{BTreeMap, HashMap, HashSet};

use repspace_metrics::MetricSpec;
use repspace_metrics::embedding::{
    LandmarkMds, classical_mds, distortion, frechet_mean, maxmin_landmarks, tangent_embedding,
};
use repspace_store::tables;
use repspace_store::{Location, PartName, Writer};
use serde::Deserialize;

use crate::current::visit_current_distances;
use crate::fingerprint::fnv_hex;
use crate::incremental::TileKey;
use crate::job::AllPairsJob;
use crate::path_distances::PostError;
use crate::plan::PairScope;

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum EmbeddingMethod {
    /// Classical MDS of all points (dense below 2,500 points, Lanczos above).
    #[default]
    Classical,
    /// Landmark MDS: MDS of the landmarks, every other point placed from its distances to them.
    Landmark,
    /// Fréchet mean and tangent-space PCA (shape metrics with alpha = 1; others fall back to classical).
    Tangent,
}

/// `[embedding]`: Euclidean embeddings of each (metric, comparison group) after the pair phase.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingSpec {
    /// Coordinates written per row (the summary keeps every eigenvalue).
    #[serde(default = "default_dims")]
    pub dims: usize,
    #[serde(default)]
    pub method: EmbeddingMethod,
    /// Landmark method only: how many landmarks (maxmin choice). Default 1000.
    pub landmarks: Option<usize>,
}

fn default_dims() -> usize {
    2
}

/// Embed every (pair metric, comparison group) of this run (§3), and publish `embeddings`
/// and `embedding_summary`. Returns the parts written and the summary rows.
pub fn publish_embeddings(
    job: &AllPairsJob,
    tiles: &HashSet<TileKey>,
    config: &EmbeddingSpec,
    reembed: bool,
) -> Result<(Vec<Location>, Vec<tables::EmbeddingSummaryRow>), PostError> {
    let dims = config.dims;
    let previous =
        if reembed { Default::default() } else { tables::read_landmark_sets(&job.output.storage, &job.output.root)? };
    let pair_metrics: HashMap<&str, &MetricSpec> = job.metrics.iter().map(|m| (m.name.as_str(), &m.spec)).collect();
    // each (metric, group)'s items, known before any row is read, and its matrix filled
    // from the rows as they stream past (NaN: no row)
    let group_of = |layer: &str| match job.scope {
        PairScope::WithinLayer => layer.to_string(),
        PairScope::All => "all".to_string(),
    };
    let mut items: BTreeMap<String, Vec<Item>> = BTreeMap::new();
    for row in &job.manifest.rows {
        items.entry(group_of(&row.layer)).or_default().push((row.model_id.clone(), row.layer.clone()));
    }
    for list in items.values_mut() {
        list.sort();
        list.dedup();
    }
    let index: HashMap<&Item, usize> =
        items.values().flat_map(|list| list.iter().enumerate().map(|(i, it)| (it, i))).collect();
    let mut matrices: BTreeMap<(String, String), faer::Mat<f64>> = BTreeMap::new();
    for metric in job.metrics.iter().map(|m| &m.name) {
        for (group, list) in &items {
            let n = list.len();
            matrices.insert(
                (metric.clone(), group.clone()),
                faer::Mat::from_fn(n, n, |i, j| if i == j { 0.0 } else { f64::NAN }),
            );
        }
    }
    visit_current_distances(job, tiles, |d| {
        if !pair_metrics.contains_key(d.metric.as_str()) {
            return;
        }
        let (a, b) = ((d.model_a, d.layer_a), (d.model_b, d.layer_b));
        let (Some(&i), Some(&j)) = (index.get(&a), index.get(&b)) else { return };
        if let Some(m) = matrices.get_mut(&(d.metric, group_of(&a.1))) {
            m[(i, j)] = d.distance;
            m[(j, i)] = d.distance;
        }
    })?;
    let mut rows = Vec::new();
    let mut summaries = Vec::new();
    for ((metric, group), full) in matrices {
        let Some((items, d)) = complete_matrix(&items[&group], full) else { continue };
        let n = items.len();
        if n <= dims {
            tracing::info!(%metric, %group, points = n, "too few points to embed in {dims} dimensions");
            continue;
        }
        let spec = pair_metrics[metric.as_str()];
        let tangent_ok = matches!(spec, MetricSpec::Shape { alpha, .. } if *alpha == 1.0);
        let method = match config.method {
            EmbeddingMethod::Tangent if !tangent_ok => {
                tracing::warn!(%metric, "the tangent embedding needs a shape metric with alpha = 1; using classical MDS");
                EmbeddingMethod::Classical
            }
            m => m,
        };
        let embedded = match method {
            EmbeddingMethod::Classical => classical(&d, dims)?,
            EmbeddingMethod::Landmark => {
                let prior = previous.get(&(metric.clone(), group.clone()));
                landmark(&items, &d, dims, config.landmarks.unwrap_or(1000), prior)?
            }
            EmbeddingMethod::Tangent => tangent(job, &items, dims)?,
        };
        for (i, (model_id, layer)) in items.iter().enumerate() {
            rows.push(tables::EmbeddingRow {
                metric: metric.clone(),
                group: group.clone(),
                model_id: model_id.clone(),
                layer: layer.clone(),
                method: embedded.methods[i].to_string(),
                coordinates: (0..dims)
                    .map(|j| embedded.coordinates.get(i * dims + j).copied().unwrap_or(0.0))
                    .collect(),
                landmark_set: embedded.landmark_set.clone(),
                run_id: job.run_id.to_string(),
            });
        }
        let y = faer::Mat::from_fn(n, dims, |i, j| embedded.coordinates[i * dims + j]);
        let f = distortion(d.as_ref(), y.as_ref(), &embedded.eigenvalues, dims);
        summaries.push(tables::EmbeddingSummaryRow {
            metric: metric.clone(),
            group: group.clone(),
            method: embedded.summary_method.to_string(),
            n_points: n as i64,
            dims: dims as i64,
            positive_mass: f.positive_mass,
            negative_mass: f.negative_mass,
            captured: f.captured,
            stress_1: f.stress_1,
            distance_correlation: f.distance_correlation,
            eigenvalues: embedded.eigenvalues,
            eigenvalues_complete: embedded.complete,
            landmark_set: embedded.landmark_set,
            run_id: job.run_id.to_string(),
        });
    }
    let name = PartName::new(&job.run_id, Writer::Post);
    let parts = vec![
        job.output.publish_rows_with(&name, &rows, &tables::EmbeddingRow::dim_columns(dims))?,
        job.output.publish_rows(&name, &summaries)?,
    ];
    Ok((parts, summaries))
}

type Item = (String, String);

/// The items of a group and their distance matrix, from the full matrix (NaN: no row).
/// Items missing some distance (a failed pair, a failed representation) are dropped,
/// most-missing first, until the matrix is complete.
fn complete_matrix(all: &[Item], d: faer::Mat<f64>) -> Option<(Vec<Item>, faer::Mat<f64>)> {
    let n = all.len();
    // representations with no row at all (they failed to load or prepare: said already) go first, at once
    let mut keep: Vec<usize> = (0..n).filter(|&i| (0..n).any(|j| j != i && !d[(i, j)].is_nan())).collect();
    loop {
        let missing: Vec<usize> = keep.iter().map(|&i| keep.iter().filter(|&&j| d[(i, j)].is_nan()).count()).collect();
        match missing.iter().enumerate().max_by_key(|(_, m)| **m) {
            Some((worst, &m)) if m > 0 => {
                let (model, layer) = &all[keep[worst]];
                tracing::warn!(model = %model, layer = %layer, "left out of the embedding: {m} distance(s) missing");
                keep.remove(worst);
            }
            _ => break,
        }
    }
    if keep.len() < 2 {
        return None;
    }
    let n = keep.len();
    let sub = faer::Mat::from_fn(n, n, |i, j| d[(keep[i], keep[j])]);
    Some((keep.iter().map(|&i| all[i].clone()).collect(), sub))
}

/// Coordinates (row-major n × dims), per-point method, and the spectrum for the summary.
struct Embedded {
    coordinates: Vec<f64>,
    methods: Vec<&'static str>,
    summary_method: &'static str,
    eigenvalues: Vec<f64>,
    complete: bool,
    landmark_set: Option<String>,
}

fn row_major(y: faer::MatRef<'_, f64>, dims: usize) -> Vec<f64> {
    (0..y.nrows()).flat_map(|i| (0..dims).map(move |j| if j < y.ncols() { y[(i, j)] } else { 0.0 })).collect()
}

fn classical(d: &faer::Mat<f64>, dims: usize) -> Result<Embedded, PostError> {
    let e = classical_mds(d.as_ref(), dims)?;
    Ok(Embedded {
        coordinates: row_major(e.coordinates.as_ref(), dims),
        methods: vec!["classical"; d.nrows()],
        summary_method: "classical",
        eigenvalues: e.eigenvalues,
        complete: e.complete,
        landmark_set: None,
    })
}

/// Landmark MDS; reuses the previous run's landmark set when all its landmarks are still
/// present, so earlier points keep their coordinates and new ones are placed among them.
fn landmark(
    items: &[Item],
    d: &faer::Mat<f64>,
    dims: usize,
    count: usize,
    prior: Option<&(String, Vec<Item>)>,
) -> Result<Embedded, PostError> {
    let n = items.len();
    if count >= n {
        return classical(d, dims);
    }
    let index: HashMap<&Item, usize> = items.iter().enumerate().map(|(i, it)| (it, i)).collect();
    let reused = prior.and_then(|(_, ls)| ls.iter().map(|l| index.get(l).copied()).collect::<Option<Vec<usize>>>());
    let landmarks = match reused {
        Some(mut ls) if ls.len() > dims => {
            ls.sort_by(|&a, &b| items[a].cmp(&items[b]));
            ls
        }
        _ => {
            let mut ls = maxmin_landmarks(d.as_ref(), count);
            ls.sort_by(|&a, &b| items[a].cmp(&items[b]));
            ls
        }
    };
    let set_id = {
        let listed: String = landmarks.iter().map(|&i| format!("{}\u{1f}{}\u{1e}", items[i].0, items[i].1)).collect();
        fnv_hex(&listed)
    };
    let l = landmarks.len();
    let ld = faer::Mat::from_fn(l, l, |a, b| d[(landmarks[a], landmarks[b])]);
    let lmds = LandmarkMds::new(ld.as_ref(), dims)?;
    let is_landmark: std::collections::HashSet<usize> = landmarks.iter().copied().collect();
    let mut coordinates = Vec::with_capacity(n * dims);
    let mut methods = Vec::with_capacity(n);
    for i in 0..n {
        let to: Vec<f64> = landmarks.iter().map(|&j| d[(i, j)]).collect();
        coordinates.extend(lmds.place(&to));
        methods.push(if is_landmark.contains(&i) { "landmark" } else { "placed" });
    }
    Ok(Embedded {
        coordinates,
        methods,
        summary_method: "landmark",
        eigenvalues: lmds.eigenvalues.clone(),
        complete: true,
        landmark_set: Some(set_id),
    })
}

/// Fréchet mean and tangent PCA of the group's representations (re-read, centred, padded).
fn tangent(job: &AllPairsJob, items: &[Item], dims: usize) -> Result<Embedded, PostError> {
    use repspace_metrics::Matrix;
    let rows: HashMap<(&str, &str), &repspace_store::ManifestRow> =
        job.manifest.rows.iter().map(|r| ((r.model_id.as_str(), r.layer.as_str()), r)).collect();
    let mut mats = Vec::with_capacity(items.len());
    for (model, layer) in items {
        let row = rows[&(model.as_str(), layer.as_str())];
        let a = repspace_store::load::read_array(&job.storage, &row.uri, row.key.as_deref())
            .map_err(|e| PostError::Input(format!("tangent embedding: {model}/{layer}: {e}")))?;
        let (m, n) =
            a.expect_matrix().map_err(|e| PostError::Input(format!("tangent embedding: {model}/{layer}: {e}")))?;
        mats.push(Matrix::from_row_major(m, n, &a.data));
    }
    let width = mats.iter().map(Matrix::cols).max().unwrap_or(0);
    let centred: Vec<Matrix> = mats
        .iter()
        .map(|x| {
            let means: Vec<f64> =
                (0..x.cols()).map(|j| (0..x.rows()).map(|i| x.get(i, j)).sum::<f64>() / x.rows() as f64).collect();
            Matrix::from_fn(x.rows(), width, |i, j| if j < x.cols() { x.get(i, j) - means[j] } else { 0.0 })
        })
        .collect();
    let (mean, aligned, iterations) = frechet_mean(&centred, 1e-10, 100)?;
    tracing::info!(points = items.len(), iterations, "Fréchet mean");
    let (y, eigenvalues) = tangent_embedding(mean.as_ref(), &aligned, dims)?;
    Ok(Embedded {
        coordinates: row_major(y.as_ref(), dims),
        methods: vec!["tangent"; items.len()],
        summary_method: "tangent",
        eigenvalues,
        complete: true,
        landmark_set: None,
    })
}
