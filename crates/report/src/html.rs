//! `index.html`: the figures with captions and the summary tables, one self-contained page
//! (figures are referenced beside it as SVG with a PNG link).

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::{Frame, Models};

pub(crate) struct Page<'a> {
    pub models: &'a Models,
    pub tables: &'a BTreeMap<&'a str, Frame>,
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

pub(crate) fn index(p: &Page) -> String {
    let t = |name: &str| &p.tables[name];
    let mut body = String::new();
    // what the run holds
    let distances = t("distances");
    let mut per_metric: BTreeMap<String, usize> = BTreeMap::new();
    for m in distances.text("metric") {
        *per_metric.entry(m).or_default() += 1;
    }
    let reps = p.models.layer_index.len();
    let _ = write!(
        body,
        "<p>{} models, {} representations; {} distance rows ({}); {} errors rows.</p>\n",
        p.models.order.len(),
        reps,
        distances.len(),
        per_metric.iter().map(|(m, n)| format!("{} {n}", escape(m))).collect::<Vec<_>>().join(", "),
        t("errors").len()
    );
    if let (Some(m), Some(l)) = (p.metric, p.layer) {
        let _ = write!(body, "<p>Figures use the metric <b>{}</b> at layer <b>{}</b>", escape(m), escape(l));
        if let Some(path) = p.path_metric {
            let _ = write!(body, " and the path metric <b>{}</b>", escape(path));
        }
        body.push_str(".</p>\n");
    }
    for (stem, caption) in p.figures {
        let _ = write!(
            body,
            "<figure><img src=\"{stem}.svg\" alt=\"{c}\"><figcaption>{c} <a href=\"{stem}.png\">PNG</a> · <a href=\"{stem}.svg\">SVG</a></figcaption></figure>\n",
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
        let ps = t("path_summary");
        let (metric, ids, eff, len) =
            (ps.text("metric"), ps.text("model_id"), ps.numbers("efficiency"), ps.numbers("path_length"));
        let mut by_model: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
        for i in 0..metric.len() {
            if metric[i] == path {
                if let (Some(e), Some(l)) = (eff[i], len[i]) {
                    by_model.insert(ids[i].as_str(), (e, l));
                }
            }
        }
        let e = |m: &str| by_model.get(m).map(|v| v.0);
        let l = |m: &str| by_model.get(m).map(|v| v.1);
        if let Some((h, r)) = pivot(models, "depth", "width", &e, &|v| format!("{v:.3}")) {
            body.push_str(&table(&format!("{path}: final-epoch mean path efficiency"), &h, &r));
        }
        if let Some((h, r)) = pivot(models, "depth", "width", &l, &|v| format!("{v:.3}")) {
            body.push_str(&table(&format!("{path}: final-epoch mean path length"), &h, &r));
        }
    }
    let es = t("embedding_summary");
    if !es.is_empty() {
        let cols =
            ["metric", "group", "method", "n_points", "captured", "negative_mass", "stress_1", "distance_correlation"];
        let data: Vec<Vec<Option<String>>> = cols.iter().map(|c| es.strings(c)).collect();
        let nums: Vec<Vec<Option<f64>>> = cols.iter().map(|c| es.numbers(c)).collect();
        let rows: Vec<Vec<String>> = (0..es.len())
            .map(|i| {
                cols.iter()
                    .enumerate()
                    .map(|(k, _)| match (k >= 4, nums[k][i]) {
                        (true, Some(v)) => format!("{v:.4}"),
                        _ => data[k][i].clone().unwrap_or_default(),
                    })
                    .collect()
            })
            .collect();
        body.push_str(&table("Embeddings (embedding_summary)", &cols.map(String::from), &rows));
    }
    let gs = t("geometry_summary");
    if !gs.is_empty() {
        let (ids, mag, vol) = (gs.text("model_id"), gs.numbers("magnification"), gs.numbers("mean_log10_volume"));
        let mut by_epoch: BTreeMap<String, (Vec<f64>, Vec<f64>, usize)> = BTreeMap::new();
        for i in 0..ids.len() {
            let key = models.get(&ids[i], "epoch").unwrap_or("all").to_string();
            let e = by_epoch.entry(key).or_default();
            e.2 += 1;
            if let Some(m) = mag[i] {
                e.0.push(m);
            }
            if let Some(v) = vol[i].filter(|v| v.is_finite()) {
                e.1.push(v);
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
    let errors = t("errors");
    if !errors.is_empty() {
        let mut by_reason: BTreeMap<String, usize> = BTreeMap::new();
        for r in errors.text("reason") {
            *by_reason.entry(r).or_default() += 1;
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
