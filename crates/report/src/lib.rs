//! The report of a run: figures (plotters, each as SVG and PNG) and an `index.html` that
//! shows them beside summary tables, all read back from the run's Parquet tables.
//!
//! - `zoo_mds_<column>`: classical MDS of the models at one layer (default: the layer most
//!   models end on), coloured by a metadata column;
//! - `layer_paths`: every final-epoch network's path input→output drawn in the run's
//!   cross-layer embedding (scope "all" with an `[embedding]`);
//! - `path_efficiency`: path efficiency against depth and width;
//! - `distance_heatmap`: the models' distance matrix at that layer;
//! - `volume_maps`: log₁₀ volume element on the geometry stage's 2-D plane slice.

pub mod figures;
mod html;
mod prepare;
mod tables;

use repspace_store::{Location, Storage};

use figures::{Heatmap, Scatter, render};
use prepare::{
    busiest_layer, color_groups, default_layer, first_distinct, layer_paths, path_efficiency, volume_maps, zoo_layer,
};
use tables::Tables;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("reading table {0}")]
    Read(String),
    #[error("drawing {0}")]
    Draw(String),
    #[error("writing {path}: {reason}")]
    Write { path: String, reason: String },
}

/// What to draw (a run config's `[report]`); every field has a default chosen from the tables.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSpec {
    /// The pair metric of the scatter, heatmap and path drawing (default: the first by name).
    pub metric: Option<String>,
    /// The layer that stands for each model in the scatter and heatmap.
    pub layer: Option<String>,
    /// The path metric of the efficiency plot (default: the first by name).
    pub path: Option<String>,
    /// Model metadata columns to colour the scatter by (default: depth, width, activation,
    /// test_accuracy, epoch, those present).
    #[serde(default)]
    pub color_by: Vec<String>,
    /// Directory under the output (default "report").
    pub dir: Option<String>,
}

/// What was written.
#[derive(Clone, Debug)]
pub struct ReportSummary {
    pub index: Location,
    /// Figure stems written (each as .svg and .png).
    pub figures: Vec<String>,
    /// Figures not drawn, with the reason.
    pub skipped: Vec<(String, String)>,
}

/// Draw every figure the tables allow and write them with `index.html` under
/// `<out>/<dir>/`. A figure whose data is missing is skipped with the reason (listed in the
/// summary and on the page).
pub fn write_report(storage: &Storage, out: &Location, spec: &ReportSpec) -> Result<ReportSummary, ReportError> {
    let dir_name = spec.dir.clone().unwrap_or_else(|| "report".into());
    let dir = out
        .join(&format!("{dir_name}/"))
        .map_err(|e| ReportError::Write { path: dir_name.clone(), reason: e.to_string() })?;
    let (models, tables) = Tables::read(storage, out)?;
    let metric = spec.metric.clone().or_else(|| first_distinct(tables.distances.iter().map(|r| r.metric.as_str())));
    let layer = spec.layer.clone().or_else(|| default_layer(&models));

    let scratch =
        tempfile::tempdir().map_err(|e| ReportError::Write { path: "scratch".into(), reason: e.to_string() })?;
    let mut written: Vec<(String, String)> = Vec::new(); // (stem, caption)
    let mut skipped: Vec<(String, String)> = Vec::new();
    let put = |rel: &str, bytes: Vec<u8>| -> Result<(), ReportError> {
        let loc = dir.join(rel).map_err(|e| ReportError::Write { path: rel.into(), reason: e.to_string() })?;
        storage.put(&loc, bytes.into()).map_err(|e| ReportError::Write { path: loc.to_string(), reason: e.to_string() })
    };
    let mut emit =
        |stem: &str, caption: String, figure: Result<(Vec<u8>, Vec<u8>), String>| -> Result<(), ReportError> {
            match figure {
                Ok((svg, png)) => {
                    put(&format!("{stem}.svg"), svg)?;
                    put(&format!("{stem}.png"), png)?;
                    written.push((stem.to_string(), caption));
                }
                Err(why) => {
                    tracing::info!(figure = stem, reason = %why, "figure skipped");
                    skipped.push((stem.to_string(), why));
                }
            }
            Ok(())
        };
    let scratch = scratch.path();

    // 1. the zoo at one layer: MDS scatter per colouring, and the distance heatmap
    let zoo = match (&metric, &layer) {
        (Some(metric), Some(layer)) => zoo_layer(&models, &tables.distances, metric, layer),
        _ => Err("the run wrote no distances".to_string()),
    };
    let color_by: Vec<String> = if spec.color_by.is_empty() {
        ["depth", "width", "activation", "test_accuracy", "epoch"]
            .iter()
            .filter(|c| models.metadata_columns.iter().any(|m| m == *c))
            .map(|c| c.to_string())
            .collect()
    } else {
        spec.color_by.clone()
    };
    let label = format!("{} at layer {}", metric.clone().unwrap_or_default(), layer.clone().unwrap_or_default());
    for column in &color_by {
        let stem = format!("zoo_mds_{}", sanitize(column));
        let fig = zoo.as_ref().map_err(Clone::clone).and_then(|(reps, _, coords)| {
            Ok(Scatter {
                title: format!("Models by {column}: MDS of {label}"),
                x_label: "MDS 1".into(),
                y_label: "MDS 2".into(),
                groups: color_groups(&models, reps.iter().map(|r| r.0.as_str()), column, coords)?,
            })
        });
        let figure = draw(fig, scratch, &stem)?;
        emit(&stem, format!("Classical MDS of every model's {label}, coloured by {column}."), figure)?;
    }
    let fig = zoo.as_ref().map_err(Clone::clone).map(|(reps, d, _)| {
        let n = reps.len();
        Heatmap {
            title: format!("{label}: {n} models, sorted by epoch, depth, width, activation, seed"),
            values: (0..n).map(|i| (0..n).map(|j| d[(i, j)]).collect()).collect(),
            axis_label: "model".into(),
            value_label: "distance".into(),
        }
    });
    let figure = draw(fig, scratch, "distance_heatmap")?;
    emit("distance_heatmap", format!("Pairwise {label} distances."), figure)?;

    // 2. layer paths in the run's cross-layer embedding
    let fig = metric
        .as_ref()
        .ok_or_else(|| "the run wrote no distances".to_string())
        .and_then(|m| layer_paths(&models, &tables.embeddings, m));
    let figure = draw(fig, scratch, "layer_paths")?;
    emit(
        "layer_paths",
        format!(
            "Each final-epoch network's layers, input → output, in the {} embedding of all representations.",
            metric.clone().unwrap_or_default()
        ),
        figure,
    )?;

    // 3. path efficiency against depth and width
    let path_summary = &tables.path_summary;
    let path_metric = spec.path.clone().or_else(|| first_distinct(path_summary.iter().map(|r| r.metric.as_str())));
    let fig = path_metric
        .as_ref()
        .ok_or_else(|| "the run has no [[paths]]".to_string())
        .and_then(|p| path_efficiency(&models, path_summary, p));
    let figure = draw(fig, scratch, "path_efficiency")?;
    emit(
        "path_efficiency",
        format!(
            "Path efficiency (direct distance / path length) of the {} path, final-epoch networks.",
            path_metric.clone().unwrap_or_default()
        ),
        figure,
    )?;

    // 4. volume element on the plane slice
    let figure = draw(volume_maps(&models, &tables.geometry_points), scratch, "volume_maps")?;
    emit(
        "volume_maps",
        "log₁₀ volume element of the feature map on the plane through three probe images; white dots mark where the predicted class changes.".into(),
        figure,
    )?;

    // 5. learning regimes: when the zoo has a `regime` column, every metric's MDS at its
    // busiest layer, coloured by regime (MSA compares networks at their weights' rows)
    if models.metadata_columns.iter().any(|c| c == "regime") {
        let mut metrics: Vec<&str> = tables.distances.iter().map(|r| r.metric.as_str()).collect();
        metrics.sort_unstable();
        metrics.dedup();
        for m in metrics {
            let Some(busiest) = busiest_layer(&tables.distances, m) else { continue };
            let stem = format!("regimes_mds_{}", sanitize(m));
            let fig = zoo_layer(&models, &tables.distances, m, &busiest).and_then(|(reps, _, coords)| {
                Ok(Scatter {
                    title: format!("Learning regimes: MDS of {m} at layer {busiest}"),
                    x_label: "MDS 1".into(),
                    y_label: "MDS 2".into(),
                    groups: color_groups(&models, reps.iter().map(|r| r.0.as_str()), "regime", &coords)?,
                })
            });
            let figure = draw(fig, scratch, &stem)?;
            emit(&stem, format!("Classical MDS of {m} at layer {busiest}, coloured by learning regime."), figure)?;
        }
    }

    let page = html::index(&html::Page {
        models: &models,
        tables: &tables,
        figures: &written,
        skipped: &skipped,
        metric: metric.as_deref(),
        layer: layer.as_deref(),
        path_metric: path_metric.as_deref(),
    });
    put("index.html", page.into_bytes())?;
    let index =
        dir.join("index.html").map_err(|e| ReportError::Write { path: "index.html".into(), reason: e.to_string() })?;
    Ok(ReportSummary { index, figures: written.into_iter().map(|w| w.0).collect(), skipped })
}

/// Render a prepared figure; a figure without data stays the reason it has none.
fn draw<F: figures::Figure>(
    prepared: Result<F, String>,
    scratch: &std::path::Path,
    stem: &str,
) -> Result<Result<(Vec<u8>, Vec<u8>), String>, ReportError> {
    match prepared {
        Ok(fig) => Ok(Ok(render(&fig, scratch, stem)?)),
        Err(why) => Ok(Err(why)),
    }
}

fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect()
}
