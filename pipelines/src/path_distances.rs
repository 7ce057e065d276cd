//! Post-step `path_distances`: it runs in the committing process after the dataflow and
//! before the commit, from the run's current `distances` rows (`current.rs`).

use std::collections::{BTreeMap, HashMap, HashSet};

use repspace_store::tables::PathDistanceRow;
use repspace_store::{Location, PartName, StoreError, Writer};

use crate::current::visit_current_distances;
use crate::incremental::TileKey;
use crate::job::AllPairsJob;

/// A post-step that could not finish.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Metric(#[from] repspace_metrics::MetricError),
    #[error("{0}")]
    Input(String),
}

/// `path_distances`: for every pair metric and every two models with the same number of
/// layers, the mean over their same-named layers of the metric's distance, provided every
/// layer pair was compared (scope `within_layer` computes exactly these rows).
pub fn publish_path_distances(job: &AllPairsJob, tiles: &HashSet<TileKey>) -> Result<Location, PostError> {
    let mut depth: HashMap<&str, usize> = HashMap::new();
    for row in &job.manifest.rows {
        *depth.entry(row.model_id.as_str()).or_default() += 1;
    }
    let pair_metrics: Vec<&str> = job.metrics.iter().map(|m| m.name.as_str()).collect();
    let mut sums: BTreeMap<(String, String, String), (f64, usize)> = BTreeMap::new();
    visit_current_distances(job, tiles, |d| {
        if d.model_a == d.model_b || d.layer_a != d.layer_b || !pair_metrics.contains(&d.metric.as_str()) {
            return;
        }
        let e = sums.entry((d.metric, d.model_a, d.model_b)).or_default();
        e.0 += d.distance;
        e.1 += 1;
    })?;
    let rows: Vec<PathDistanceRow> = sums
        .into_iter()
        .filter(|((_, a, b), (_, n))| {
            let (da, db) = (depth.get(a.as_str()).copied(), depth.get(b.as_str()).copied());
            da.is_some() && da == db && da == Some(*n)
        })
        .map(|((metric, model_a, model_b), (sum, n))| PathDistanceRow {
            metric,
            model_a,
            model_b,
            n_layers: n as i64,
            path_distance: sum / n as f64,
            run_id: job.run_id.to_string(),
        })
        .collect();
    let name = PartName::new(&job.run_id, Writer::Post);
    Ok(job.output.publish_rows(&name, &rows)?)
}
