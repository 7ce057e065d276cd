//! Post-steps that read this run's published tables: they run after the dataflow and
//! before the run is committed.

use std::collections::{BTreeMap, HashMap};

use anyhow::Result;
use repspace_pipelines::AllPairsJob;
use repspace_store::Location;
use repspace_store::tables::{self, PathDistanceRow};

/// `path_distances`: for every pair metric and every two models with the same number of
/// layers, the mean over their same-named layers of the metric's distance, provided every
/// layer pair was compared (scope `within_layer` computes exactly these rows).
pub fn publish_path_distances(job: &AllPairsJob) -> Result<Location> {
    let mut depth: HashMap<&str, usize> = HashMap::new();
    for row in &job.manifest.rows {
        *depth.entry(row.model_id.as_str()).or_default() += 1;
    }
    let pair_metrics: Vec<&str> = job.metrics.iter().map(|m| m.name.as_str()).collect();
    let mut sums: BTreeMap<(String, String, String), (f64, usize)> = BTreeMap::new();
    for d in tables::read_distances_of(&job.storage, &job.output, Some(&job.run_id))? {
        if d.model_a == d.model_b || d.layer_a != d.layer_b {
            continue;
        }
        if !pair_metrics.contains(&d.metric.as_str()) {
            continue;
        }
        let e = sums.entry((d.metric, d.model_a, d.model_b)).or_default();
        e.0 += d.distance;
        e.1 += 1;
    }
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
            run_id: job.run_id.clone(),
        })
        .collect();
    let name = format!("part-{}-post.parquet", job.run_id);
    Ok(tables::publish_part(&job.storage, &job.output, "path_distances", &name, &tables::path_distances_batch(&rows)?)?)
}
