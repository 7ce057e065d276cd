//! Each figure's data, prepared from the run's tables: distance matrices of one metric, the
//! layer a figure shows, the models at a layer with their classical MDS, colour groups from a
//! metadata column, layer paths, path efficiency and volume maps. A figure without data is its
//! reason (`Err(String)`), never a failed report.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use faer::Mat;
use repspace_store::tables::{DistanceRow, EmbeddingRow, GeometryPointRow, PathSummaryRow};

use crate::figures::{GridMaps, Panels, Polylines, Scatter, category_color, viridis};
use crate::tables::Models;

/// Distances of one metric between (model, layer) representations.
pub(crate) struct Distances {
    /// ((model_a, layer_a), (model_b, layer_b)) → distance, both orders.
    d: HashMap<((String, String), (String, String)), f64>,
}

impl Distances {
    pub(crate) fn of(rows: &[DistanceRow], metric: &str) -> Distances {
        let mut out = HashMap::new();
        for r in rows.iter().filter(|r| r.metric == metric) {
            let (a, b) = ((r.model_a.clone(), r.layer_a.clone()), (r.model_b.clone(), r.layer_b.clone()));
            out.insert((b.clone(), a.clone()), r.distance);
            out.insert((a, b), r.distance);
        }
        Distances { d: out }
    }

    /// The square matrix over `reps`, or None when a pair is missing.
    pub(crate) fn matrix(&self, reps: &[(String, String)]) -> Option<Mat<f64>> {
        let n = reps.len();
        let mut m = Mat::zeros(n, n);
        for i in 0..n {
            for j in (i + 1)..n {
                let v = *self.d.get(&(reps[i].clone(), reps[j].clone()))?;
                m[(i, j)] = v;
                m[(j, i)] = v;
            }
        }
        Some(m)
    }
}

/// The first non-empty value in sort order.
pub(crate) fn first_distinct<'a>(values: impl Iterator<Item = &'a str>) -> Option<String> {
    values.filter(|v| !v.is_empty()).min().map(str::to_string)
}

/// The layer most models end on (their highest layer_index).
pub(crate) fn default_layer(models: &Models) -> Option<String> {
    let mut last: HashMap<&str, (i64, &str)> = HashMap::new();
    for ((m, l), &i) in &models.layer_index {
        let e = last.entry(m.as_str()).or_insert((i, l.as_str()));
        if i > e.0 || (i == e.0 && l.as_str() < e.1) {
            *e = (i, l.as_str());
        }
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, l) in last.values() {
        *counts.entry(l).or_default() += 1;
    }
    counts.into_iter().max_by_key(|&(l, c)| (c, std::cmp::Reverse(l))).map(|(l, _)| l.to_string())
}

/// The layer with the most within-layer rows of `metric` (ties: the first by name).
pub(crate) fn busiest_layer(distances: &[DistanceRow], metric: &str) -> Option<String> {
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for r in distances.iter().filter(|r| r.metric == metric && r.layer_a == r.layer_b) {
        *counts.entry(r.layer_a.as_str()).or_default() += 1;
    }
    counts.into_iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0))).map(|(l, _)| l.to_string())
}

/// The models that have `layer`, sorted by architecture; their distance matrix; 2-D MDS.
pub(crate) fn zoo_layer(
    models: &Models,
    distances: &[DistanceRow],
    metric: &str,
    layer: &str,
) -> Result<(Vec<(String, String)>, Mat<f64>, Vec<(f64, f64)>), String> {
    let d = Distances::of(distances, metric);
    let mut reps: Vec<(String, String)> = models
        .order
        .iter()
        .filter(|m| models.layer_index.contains_key(&((*m).clone(), layer.to_string())))
        .map(|m| (m.clone(), layer.to_string()))
        .collect();
    reps.sort_by_key(|r| models.sort_key(&r.0));
    if reps.len() < 3 {
        return Err(format!("fewer than 3 models have layer {layer:?}"));
    }
    if reps.len() > 2500 {
        return Err(format!("{} models at layer {layer:?}; the report draws at most 2,500", reps.len()));
    }
    let m = d
        .matrix(&reps)
        .ok_or_else(|| format!("not every pair of models at layer {layer:?} has a {metric} distance"))?;
    let e = repspace_metrics::embedding::classical_mds(m.as_ref(), 2).map_err(|e| e.to_string())?;
    let coords = (0..reps.len()).map(|i| (e.coordinates[(i, 0)], e.coordinates[(i, 1)])).collect();
    Ok((reps, m, coords))
}

/// Colour groups for a metadata column: one group per value when there are at most ten
/// distinct values (numbers in numeric order), else five equal-width viridis bins.
pub(crate) fn color_groups<'a>(
    models: &Models,
    ids: impl Iterator<Item = &'a str>,
    column: &str,
    coords: &[(f64, f64)],
) -> Result<Vec<(String, plotters::style::RGBColor, Vec<(f64, f64)>)>, String> {
    let values: Vec<Option<String>> = ids.map(|m| models.get(m, column).map(str::to_string)).collect();
    if values.iter().all(Option::is_none) {
        return Err(format!("no model has a {column:?} column"));
    }
    let distinct: BTreeSet<&str> = values.iter().flatten().map(String::as_str).collect();
    let numeric: Option<Vec<f64>> = distinct.iter().map(|v| v.parse::<f64>().ok()).collect();
    let mut groups: Vec<(String, plotters::style::RGBColor, Vec<(f64, f64)>)> = Vec::new();
    if distinct.len() <= 10 {
        let mut keys: Vec<&str> = distinct.into_iter().collect();
        if numeric.is_some() {
            keys.sort_by(|a, b| a.parse::<f64>().unwrap_or(0.0).total_cmp(&b.parse::<f64>().unwrap_or(0.0)));
        }
        for (k, key) in keys.iter().enumerate() {
            let points =
                values.iter().zip(coords).filter(|(v, _)| v.as_deref() == Some(*key)).map(|(_, &p)| p).collect();
            groups.push((format!("{column} = {key}"), category_color(k), points));
        }
    } else if let Some(nums) = numeric {
        let (lo, hi) = nums.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
        let bins = 5;
        let width = (hi - lo) / bins as f64;
        for b in 0..bins {
            let (a, z) = (lo + width * b as f64, lo + width * (b + 1) as f64);
            let points: Vec<(f64, f64)> = values
                .iter()
                .zip(coords)
                .filter_map(|(v, &p)| v.as_ref().and_then(|v| v.parse::<f64>().ok()).map(|x| (x, p)))
                .filter(|&(x, _)| x >= a && (x < z || (b == bins - 1 && x <= hi)))
                .map(|(_, p)| p)
                .collect();
            if !points.is_empty() {
                groups.push((format!("{column} {a:.3}–{z:.3}"), viridis(0.5 * (a + z), lo, hi), points));
            }
        }
    } else {
        return Err(format!("{column:?} has more than ten distinct text values"));
    }
    Ok(groups)
}

/// Each final-epoch model's representations in layer order, located in the embedding of
/// `metric` whose group holds the most distinct layers.
pub(crate) fn layer_paths(models: &Models, embeddings: &[EmbeddingRow], metric: &str) -> Result<Polylines, String> {
    let rows: Vec<&EmbeddingRow> = embeddings.iter().filter(|r| r.metric == metric && r.method != "tangent").collect();
    let mut layer_sets: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for r in &rows {
        layer_sets.entry(r.group.as_str()).or_default().insert(r.layer.as_str());
    }
    let group =
        layer_sets.iter().filter(|(_, l)| l.len() > 1).max_by_key(|(_, l)| l.len()).map(|(g, _)| *g).ok_or_else(
            || format!("no {metric} embedding spans several layers: use [pairs] scope = \"all\" with an [embedding]"),
        )?;
    let mut at: HashMap<(&str, &str), (f64, f64)> = HashMap::new();
    for r in rows.iter().filter(|r| r.group == group) {
        if let [a, b, ..] = r.coordinates[..] {
            at.insert((r.model_id.as_str(), r.layer.as_str()), (a, b));
        }
    }
    let color_column = ["depth", "width"].into_iter().find(|c| models.metadata_columns.iter().any(|m| m == c));
    let final_models = models.final_models();
    let keys: BTreeSet<String> =
        final_models.iter().filter_map(|m| color_column.and_then(|c| models.get(m, c)).map(str::to_string)).collect();
    let mut keys: Vec<String> = keys.into_iter().collect();
    keys.sort_by(|a, b| a.parse::<f64>().unwrap_or(0.0).total_cmp(&b.parse::<f64>().unwrap_or(0.0)).then(a.cmp(b)));
    let mut lines = Vec::new();
    for model in &final_models {
        let mut points: Vec<(i64, (f64, f64))> = models
            .layer_index
            .iter()
            .filter(|((m, _), _)| m == model)
            .filter_map(|((m, l), &i)| at.get(&(m.as_str(), l.as_str())).map(|&p| (i, p)))
            .collect();
        if points.len() < 2 {
            continue;
        }
        points.sort_by_key(|p| p.0);
        let key = color_column.and_then(|c| models.get(model, c)).unwrap_or("");
        let k = keys.iter().position(|v| v == key).unwrap_or(0);
        lines.push((category_color(k), points.into_iter().map(|p| p.1).collect()));
    }
    if lines.is_empty() {
        return Err("no final-epoch model has two embedded layers".into());
    }
    let legend = match color_column {
        Some(c) => keys.iter().enumerate().map(|(k, v)| (format!("{c} = {v}"), category_color(k))).collect(),
        None => Vec::new(),
    };
    Ok(Polylines {
        title: format!("Layer paths in the {metric} embedding ({} networks)", lines.len()),
        lines,
        legend,
        start_label: "first layer (the input when the manifest lists it)".into(),
    })
}

/// Efficiency against depth (coloured by width) and against log₂ width (coloured by depth).
pub(crate) fn path_efficiency(models: &Models, path_summary: &[PathSummaryRow], path: &str) -> Result<Panels, String> {
    let final_models: BTreeSet<String> = models.final_models().into_iter().collect();
    let rows: Vec<(f64, f64, f64)> = path_summary
        .iter()
        .filter(|r| r.metric == path && final_models.contains(&r.model_id))
        .filter_map(|r| {
            Some((models.number(&r.model_id, "depth")?, models.number(&r.model_id, "width")?, r.efficiency))
        })
        .collect();
    if rows.is_empty() {
        return Err(format!("no final-epoch model has {path} efficiency with numeric depth and width metadata"));
    }
    let panel =
        |x_of: &dyn Fn(&(f64, f64, f64)) -> f64, key_of: &dyn Fn(&(f64, f64, f64)) -> f64, x_label: &str, key: &str| {
            let mut keys: Vec<f64> = rows.iter().map(key_of).collect();
            keys.sort_by(f64::total_cmp);
            keys.dedup();
            let spread = 0.3 / keys.len().max(1) as f64;
            let groups = keys
                .iter()
                .enumerate()
                .map(|(k, &kv)| {
                    let offset = (k as f64 - (keys.len() as f64 - 1.0) / 2.0) * spread;
                    let points = rows.iter().filter(|r| key_of(r) == kv).map(|r| (x_of(r) + offset, r.2)).collect();
                    (format!("{key} = {kv}"), category_color(k), points)
                })
                .collect();
            Scatter {
                title: format!("efficiency vs {x_label}"),
                x_label: x_label.into(),
                y_label: "path efficiency".into(),
                groups,
            }
        };
    Ok(Panels {
        title: format!("{path}: path efficiency of {} final-epoch networks", rows.len()),
        panels: vec![
            panel(&|r| r.0, &|r| r.1, "depth (hidden layers)", "width"),
            panel(&|r| r.1.log2(), &|r| r.0, "log₂ width", "depth"),
        ],
    })
}

/// Up to six final-epoch networks' plane slices (spread over depth), log₁₀ volume (or the
/// effective volume when the input has more dimensions than the features).
pub(crate) fn volume_maps(models: &Models, points: &[GeometryPointRow]) -> Result<GridMaps, String> {
    let mut by_model: BTreeMap<&str, Vec<&GeometryPointRow>> = BTreeMap::new();
    for p in points.iter().filter(|p| p.slice == "plane" && p.coord_a.is_some() && p.coord_b.is_some()) {
        by_model.entry(p.model_id.as_str()).or_default().push(p);
    }
    if by_model.is_empty() {
        return Err("the run has no geometry plane slice ([geometry] plane)".into());
    }
    let use_volume = by_model.values().flatten().all(|p| p.log10_volume.is_some());
    let mut candidates: Vec<String> =
        models.final_models().into_iter().filter(|m| by_model.contains_key(m.as_str())).collect();
    if candidates.is_empty() {
        candidates = by_model.keys().map(|s| s.to_string()).collect();
    }
    candidates.sort_by_key(|m| models.sort_key(m));
    // one network per (depth, activation), the widest of the first seed, then spread
    let mut firsts: BTreeMap<(String, String), &String> = BTreeMap::new();
    for m in &candidates {
        let key =
            (models.get(m, "depth").unwrap_or("").to_string(), models.get(m, "activation").unwrap_or("").to_string());
        let keep = firsts.get(&key).is_none_or(|&old| {
            let w = |x: &str| models.number(x, "width").unwrap_or(0.0);
            let s = |x: &str| models.number(x, "seed").unwrap_or(0.0);
            (s(m), -w(m)) < (s(old), -w(old))
        });
        if keep {
            firsts.insert(key, m);
        }
    }
    let pool: Vec<&String> = firsts.into_values().collect();
    let take = pool.len().min(6);
    let chosen: Vec<&String> = (0..take).map(|k| pool[k * pool.len() / take]).collect();
    let panels = chosen
        .into_iter()
        .map(|model| {
            let cells = by_model[model.as_str()]
                .iter()
                .map(|p| {
                    let v = if use_volume { p.log10_volume } else { Some(p.log10_effective_volume) };
                    (p.coord_a.unwrap_or(0.0), p.coord_b.unwrap_or(0.0), v.unwrap_or(f64::NAN), p.predicted_class)
                })
                .collect();
            let acc = models.get(model, "test_accuracy").map(|v| format!(" (acc {v})")).unwrap_or_default();
            (format!("{model}{acc}"), cells)
        })
        .collect();
    Ok(GridMaps {
        title: "Volume element on a 2-D slice of input space".into(),
        value_label: if use_volume { "log₁₀ √det g" } else { "log₁₀ effective volume" }.into(),
        panels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn models(rows: &[(&str, &str, i64, &[(&str, &str)])]) -> Models {
        let mut m = Models {
            order: Vec::new(),
            meta: HashMap::new(),
            layer_index: HashMap::new(),
            metadata_columns: Vec::new(),
        };
        for (id, layer, index, meta) in rows {
            if !m.meta.contains_key(*id) {
                m.order.push(id.to_string());
                m.meta.insert(id.to_string(), meta.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
            }
            m.layer_index.insert((id.to_string(), layer.to_string()), *index);
            for (k, _) in meta.iter() {
                if !m.metadata_columns.iter().any(|c| c == k) {
                    m.metadata_columns.push(k.to_string());
                }
            }
        }
        m
    }

    #[test]
    fn the_default_layer_is_where_most_models_end() {
        let m = models(&[
            ("a", "input", 0, &[]),
            ("a", "logits", 2, &[]),
            ("b", "input", 0, &[]),
            ("b", "logits", 3, &[]),
            ("c", "input", 0, &[]),
            ("c", "hidden1", 1, &[]),
        ]);
        assert_eq!(default_layer(&m).as_deref(), Some("logits"));
    }

    #[test]
    fn final_models_are_those_of_the_last_epoch_sorted_numerically() {
        let m = models(&[
            ("x-e5", "l", 0, &[("epoch", "5")]),
            ("x-e20", "l", 0, &[("epoch", "20")]),
            ("y-e20", "l", 0, &[("epoch", "20")]),
        ]);
        assert_eq!(m.final_models(), vec!["x-e20".to_string(), "y-e20".to_string()]);
    }

    #[test]
    fn few_values_are_categories_in_numeric_order_and_many_are_five_bins() {
        let ids: Vec<String> = (0..12).map(|i| format!("m{i}")).collect();
        let values: Vec<String> = (0..12).map(|i| format!("{}", i * 10)).collect();
        let metas: Vec<[(&str, &str); 1]> = values.iter().map(|v| [("depth", v.as_str())]).collect();
        let rows: Vec<(&str, &str, i64, &[(&str, &str)])> =
            ids.iter().zip(&metas).map(|(id, meta)| (id.as_str(), "l", 0, &meta[..])).collect();
        let m = models(&rows);
        let coords: Vec<(f64, f64)> = (0..12).map(|i| (i as f64, 0.0)).collect();
        // 12 distinct numbers: binned, every point in exactly one bin
        let g = color_groups(&m, ids.iter().map(String::as_str), "depth", &coords).unwrap();
        assert!(g.len() <= 5);
        assert_eq!(g.iter().map(|x| x.2.len()).sum::<usize>(), 12);
        // 3 distinct numbers: categories, numerically ordered (2 before 10)
        let m = models(&[("a", "l", 0, &[("w", "10")]), ("b", "l", 0, &[("w", "2")]), ("c", "l", 0, &[("w", "2")])]);
        let g = color_groups(&m, ["a", "b", "c"].into_iter(), "w", &[(0.0, 0.0); 3]).unwrap();
        let labels: Vec<&str> = g.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(labels, vec!["w = 2", "w = 10"]);
        assert_eq!(g[0].2.len(), 2);
        assert!(color_groups(&m, ["a"].into_iter(), "missing", &[(0.0, 0.0)]).is_err());
    }

    #[test]
    fn colours_of_non_finite_values_are_grey_not_a_panic() {
        assert_eq!(viridis(f64::NEG_INFINITY, 0.0, 1.0), plotters::style::RGBColor(190, 190, 190));
        assert_eq!(viridis(0.5, f64::NAN, 1.0), plotters::style::RGBColor(190, 190, 190));
        assert_ne!(viridis(0.0, 0.0, 1.0), viridis(1.0, 0.0, 1.0));
    }
}
