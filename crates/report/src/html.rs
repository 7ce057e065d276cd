//! `index.html`: the figures with captions and the summary tables, one self-contained page
//! (figures are referenced beside it as SVG with a PNG link).

use std::collections::BTreeMap;
use std::fmt::Write;

use repspace_store::tables::EmbeddingSummaryRow;

use crate::tables::{Models, Tables};

pub(crate) struct Page<'a> {
    pub models: &'a Models,
    pub tables: &'a Tables,
    /// (stem, caption)
    pub figures: &'a [(String, String)],
    /// (stem, why not drawn)
    pub skipped: &'a [(String, String)],
    pub metric: Option<&'a str>,
    pub layer: Option<&'a str>,
    pub path_metric: Option<&'a str>,
}

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// An HTML table from a header and rows of cells (escaped here).
fn table(caption: &str, header: &[String], rows: &[Vec<String>]) -> String {
    let mut s = format!("<table><caption>{}</caption><thead><tr>", escape(caption));
    for h in header {
        let _ = write!(s, "<th>{}</th>", escape(h));
    }
    s.push_str("</tr></thead><tbody>");
    for r in rows {
        s.push_str("<tr>");
        for c in r {
            let _ = write!(s, "<td>{}</td>", escape(c));
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>\n");
    s
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Numbers in numeric order, text after.
fn numeric_order(keys: &mut [String]) {
    keys.sort_by(|a, b| match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y),
        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
        _ => a.cmp(b),
    });
}

/// Final-epoch mean of `value(model)` in a `row_col` × `col_col` grid of metadata.
fn pivot(
    models: &Models,
    row_col: &str,
    col_col: &str,
    value: &dyn Fn(&str) -> Option<f64>,
    fmt: &dyn Fn(f64) -> String,
) -> Option<(Vec<String>, Vec<Vec<String>>)> {
    let mut cells: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for m in models.final_models() {
        if let (Some(r), Some(c), Some(v)) = (models.get(&m, row_col), models.get(&m, col_col), value(&m)) {
            cells.entry((r.to_string(), c.to_string())).or_default().push(v);
        }
    }
    if cells.is_empty() {
        return None;
    }
    let mut rows: Vec<String> =
        cells.keys().map(|k| k.0.clone()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let mut cols: Vec<String> =
        cells.keys().map(|k| k.1.clone()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    numeric_order(&mut rows);
    numeric_order(&mut cols);
    let header = std::iter::once(format!("{row_col} \\ {col_col}")).chain(cols.iter().cloned()).collect();
    let body = rows
        .iter()
        .map(|r| {
            std::iter::once(r.clone())
                .chain(
                    cols.iter().map(|c| cells.get(&(r.clone(), c.clone())).map(|v| fmt(mean(v))).unwrap_or_default()),
                )
                .collect()
        })
        .collect();
    Some((header, body))
}

/// The columns of `embedding_summary` shown on the page (named as declared), and each cell.
const EMBEDDING_SUMMARY_COLUMNS: [(&str, fn(&EmbeddingSummaryRow) -> String); 8] = [
    ("metric", |r| r.metric.clone()),
    ("group", |r| r.group.clone()),
    ("method", |r| r.method.clone()),
    ("n_points", |r| r.n_points.to_string()),
    ("captured", |r| format!("{:.4}", r.captured)),
    ("negative_mass", |r| format!("{:.4}", r.negative_mass)),
    ("stress_1", |r| format!("{:.4}", r.stress_1)),
    ("distance_correlation", |r| format!("{:.4}", r.distance_correlation)),
];

pub(crate) fn index(p: &Page) -> String {
    let t = p.tables;
    let mut body = String::new();
    // what the run holds
    let distances = &t.distances;
    let mut per_metric: BTreeMap<&str, usize> = BTreeMap::new();
    for r in distances {
        *per_metric.entry(r.metric.as_str()).or_default() += 1;
    }
    let reps = p.models.layer_index.len();
    let _ = writeln!(
        body,
        "<p>{} models, {} representations; {} distance rows ({}); {} errors rows.</p>",
        p.models.order.len(),
        reps,
        distances.len(),
        per_metric.iter().map(|(m, n)| format!("{} {n}", escape(m))).collect::<Vec<_>>().join(", "),
        t.errors.len()
    );
    if let (Some(m), Some(l)) = (p.metric, p.layer) {
        let _ = write!(body, "<p>Figures use the metric <b>{}</b> at layer <b>{}</b>", escape(m), escape(l));
        if let Some(path) = p.path_metric {
            let _ = write!(body, " and the path metric <b>{}</b>", escape(path));
        }
        body.push_str(".</p>\n");
    }
    for (stem, caption) in p.figures {
        let _ = writeln!(
            body,
            "<figure><img src=\"{stem}.svg\" alt=\"{c}\"><figcaption>{c} <a href=\"{stem}.png\">PNG</a> · <a href=\"{stem}.svg\">SVG</a></figcaption></figure>",
            c = escape(caption)
        );
    }
    if !p.skipped.is_empty() {
        body.push_str("<h2>Not drawn</h2><ul>");
        for (stem, why) in p.skipped {
            let _ = write!(body, "<li><code>{}</code>: {}</li>", escape(stem), escape(why));
        }
        body.push_str("</ul>\n");
    }
    body.push_str("<h2>Summary tables</h2>\n");
    let models = p.models;
    if let Some((h, r)) =
        pivot(models, "depth", "width", &|m| models.number(m, "test_accuracy"), &|v| format!("{:.1} %", 100.0 * v))
    {
        body.push_str(&table("Final-epoch mean test accuracy by depth and width", &h, &r));
    }
    if let Some(path) = p.path_metric {
        let by_model: BTreeMap<&str, (f64, f64)> = t
            .path_summary
            .iter()
            .filter(|r| r.metric == path)
            .map(|r| (r.model_id.as_str(), (r.efficiency, r.path_length)))
            .collect();
        let e = |m: &str| by_model.get(m).map(|v| v.0);
        let l = |m: &str| by_model.get(m).map(|v| v.1);
        if let Some((h, r)) = pivot(models, "depth", "width", &e, &|v| format!("{v:.3}")) {
            body.push_str(&table(&format!("{path}: final-epoch mean path efficiency"), &h, &r));
        }
        if let Some((h, r)) = pivot(models, "depth", "width", &l, &|v| format!("{v:.3}")) {
            body.push_str(&table(&format!("{path}: final-epoch mean path length"), &h, &r));
        }
    }
    if !t.embedding_summary.is_empty() {
        let header = EMBEDDING_SUMMARY_COLUMNS.map(|(c, _)| c.to_string());
        let rows: Vec<Vec<String>> = t
            .embedding_summary
            .iter()
            .map(|r| EMBEDDING_SUMMARY_COLUMNS.iter().map(|(_, cell)| cell(r)).collect())
            .collect();
        body.push_str(&table("Embeddings (embedding_summary)", &header, &rows));
    }
    if !t.geometry_summary.is_empty() {
        let mut by_epoch: BTreeMap<String, (Vec<f64>, Vec<f64>, usize)> = BTreeMap::new();
        for r in &t.geometry_summary {
            let key = models.get(&r.model_id, "epoch").unwrap_or("all").to_string();
            let e = by_epoch.entry(key).or_default();
            e.2 += 1;
            if let Some(m) = r.magnification {
                e.0.push(m);
            }
            if r.mean_log10_volume.is_finite() {
                e.1.push(r.mean_log10_volume);
            }
        }
        let mut keys: Vec<String> = by_epoch.keys().cloned().collect();
        numeric_order(&mut keys);
        let rows: Vec<Vec<String>> = keys
            .iter()
            .map(|k| {
                let (m, v, n) = &by_epoch[k];
                let pos = m.iter().filter(|&&x| x > 0.0).count();
                vec![
                    k.clone(),
                    n.to_string(),
                    format!("{:.3}", mean(m)),
                    format!("{pos}/{}", m.len()),
                    format!("{:.3}", mean(v)),
                ]
            })
            .collect();
        let header = ["epoch", "networks", "mean magnification", "positive", "mean log₁₀ volume"].map(String::from);
        body.push_str(&table("Input-space geometry by epoch (geometry_summary)", &header, &rows));
    }
    if !t.errors.is_empty() {
        let mut by_reason: BTreeMap<String, usize> = BTreeMap::new();
        for r in &t.errors {
            *by_reason.entry(r.reason.clone()).or_default() += 1;
        }
        let rows: Vec<Vec<String>> = by_reason.into_iter().map(|(r, n)| vec![r, n.to_string()]).collect();
        body.push_str(&table("Errors by reason (see the errors table)", &["reason".into(), "rows".into()], &rows));
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>repspace report</title>\n<style>\
body{{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}}\
figure{{margin:1.5em 0}}img{{max-width:100%;border:1px solid #ddd}}figcaption{{color:#555;font-size:90%}}\
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}\
caption{{font-weight:bold;text-align:left;padding:4px 0}}</style></head>\n<body><h1>repspace report</h1>\n{body}</body></html>\n"
    )
}

#[cfg(test)]
mod tests {
    use repspace_store::tables::Table;

    use super::*;

    #[test]
    fn the_embedding_summary_columns_shown_are_declared_ones() {
        for (column, _) in EMBEDDING_SUMMARY_COLUMNS {
            assert!(EmbeddingSummaryRow::COLUMNS.contains(&column), "{column} is not a column of embedding_summary");
        }
    }
}
