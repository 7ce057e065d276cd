//! The figures, each drawn once per backend (SVG and PNG) from prepared data.

use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;

use crate::ReportError;

/// A figure that can draw itself on any plotters backend.
pub trait Figure {
    fn size(&self) -> (u32, u32) {
        (900, 700)
    }
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

pub fn de<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

static FONT: std::sync::Once = std::sync::Once::new();

/// DejaVu Sans (Bitstream Vera licence, assets/DejaVuSans.LICENSE), embedded so the
/// figures render the same on a machine without fonts.
fn register_font() {
    FONT.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../assets/DejaVuSans.ttf");
        if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_err() {
            tracing::warn!("the embedded font did not load; figures will have no text");
        }
    });
}

/// (SVG text, PNG bytes) of a figure. The PNG goes through a file in `scratch`.
pub fn render(figure: &impl Figure, scratch: &Path, stem: &str) -> Result<(Vec<u8>, Vec<u8>), ReportError> {
    register_font();
    let size = figure.size();
    let fail = |e: String| ReportError::Draw(format!("{stem}: {e}"));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(de(e)))?;
        figure.draw(&root).map_err(fail)?;
        root.present().map_err(|e| fail(de(e)))?;
    }
    let png_path = scratch.join(format!("{stem}.png"));
    {
        let root = BitMapBackend::new(&png_path, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(de(e)))?;
        figure.draw(&root).map_err(fail)?;
        root.present().map_err(|e| fail(de(e)))?;
    }
    let png = std::fs::read(&png_path).map_err(|e| fail(e.to_string()))?;
    Ok((svg.into_bytes(), png))
}

/// Tableau 10: distinct colours for categories.
const CATEGORICAL: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

pub fn category_color(i: usize) -> RGBColor {
    CATEGORICAL[i % CATEGORICAL.len()]
}

/// Viridis over [lo, hi]; grey for a value or range that is not finite (−∞ log volumes of
/// a collapsed map, say).
pub fn viridis(v: f64, lo: f64, hi: f64) -> RGBColor {
    if !(v.is_finite() && lo.is_finite() && hi.is_finite()) {
        return RGBColor(190, 190, 190);
    }
    let (lo, hi) = if hi > lo { (lo, hi) } else { (lo - 0.5, lo + 0.5) };
    ViridisRGB.get_color_normalized(v.clamp(lo, hi) as f32, lo as f32, hi as f32)
}

/// Padded [min, max] of finite values (a unit range around a single value).
pub fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) =
        values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo { 0.06 * (hi - lo) } else { 0.5 };
    (lo - pad, hi + pad)
}

/// Points in groups, each group one colour and one legend entry.
pub struct Scatter {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub groups: Vec<(String, RGBColor, Vec<(f64, f64)>)>,
}

impl Figure for Scatter {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let all = self.groups.iter().flat_map(|g| g.2.iter().copied());
        let mut chart = axes(area, &self.title, all, &self.x_label, &self.y_label)?;
        for (label, color, points) in &self.groups {
            let color = *color;
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 4, color.mix(0.8).filled())))
                .map_err(de)?
                .label(label.as_str())
                .legend(move |(x, y)| Circle::new((x + 6, y), 4, color.filled()));
        }
        legend(&mut chart)
    }
}

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A titled chart with labelled axes spanning `points`.
fn axes<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    points: impl Iterator<Item = (f64, f64)> + Clone,
    x_label: &str,
    y_label: &str,
) -> Result<Chart<'a, DB>, String> {
    let (xr, yr) = (span(points.clone().map(|p| p.0)), span(points.map(|p| p.1)));
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 22))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)
        .map_err(de)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(de)?;
    Ok(chart)
}

/// The series labels, boxed in the upper right.
fn legend<'a, DB: DrawingBackend + 'a>(chart: &mut Chart<'a, DB>) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(160, 160, 160))
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(de)
}

/// Polylines through 2-D points (one per network), a marker at every vertex and a larger
/// one at each line's start.
pub struct Polylines {
    pub title: String,
    pub lines: Vec<(RGBColor, Vec<(f64, f64)>)>,
    pub legend: Vec<(String, RGBColor)>,
    pub start_label: String,
}

impl Figure for Polylines {
    fn size(&self) -> (u32, u32) {
        (1000, 800)
    }
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let all = self.lines.iter().flat_map(|l| l.1.iter().copied());
        let mut chart = axes(area, &self.title, all, "MDS 1", "MDS 2")?;
        for (color, points) in &self.lines {
            chart.draw_series(LineSeries::new(points.iter().copied(), color.mix(0.55).stroke_width(2))).map_err(de)?;
            chart.draw_series(points.iter().skip(1).map(|&p| Circle::new(p, 3, color.filled()))).map_err(de)?;
        }
        let starts: Vec<(f64, f64)> = self.lines.iter().filter_map(|l| l.1.first().copied()).collect();
        chart
            .draw_series(starts.iter().map(|&p| Circle::new(p, 7, BLACK.filled())))
            .map_err(de)?
            .label(self.start_label.as_str())
            .legend(|(x, y)| Circle::new((x + 6, y), 5, BLACK.filled()));
        for (label, color) in &self.legend {
            let color = *color;
            chart
                .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
                .map_err(de)?
                .label(label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], color.stroke_width(3)));
        }
        legend(&mut chart)
    }
}

/// Side-by-side scatter panels.
pub struct Panels {
    pub title: String,
    pub panels: Vec<Scatter>,
}

impl Figure for Panels {
    fn size(&self) -> (u32, u32) {
        (560 * self.panels.len().max(1) as u32, 620)
    }
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let area = area.titled(&self.title, ("sans-serif", 24)).map_err(de)?;
        for (panel, sub) in self.panels.iter().zip(area.split_evenly((1, self.panels.len().max(1)))) {
            panel.draw(&sub)?;
        }
        Ok(())
    }
}

/// A matrix of values as coloured cells (row 0 at the top), with a colour bar.
pub struct Heatmap {
    pub title: String,
    pub values: Vec<Vec<f64>>,
    pub axis_label: String,
    pub value_label: String,
}

impl Figure for Heatmap {
    fn size(&self) -> (u32, u32) {
        (900, 800)
    }
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let (main, bar) = area.split_horizontally(780);
        let n = self.values.len();
        let (lo, hi) = span(self.values.iter().flatten().copied());
        let (lo, hi) = (lo.max(0.0), hi);
        let mut chart = ChartBuilder::on(&main)
            .caption(&self.title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(0f64..n as f64, 0f64..n as f64)
            .map_err(de)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(self.axis_label.as_str())
            .y_desc(self.axis_label.as_str())
            .x_label_formatter(&|v| format!("{}", *v as i64))
            // row 0 is drawn at the top
            .y_label_formatter(&|v| format!("{}", n as i64 - *v as i64))
            .draw()
            .map_err(de)?;
        chart
            .draw_series(self.values.iter().enumerate().flat_map(|(i, row)| {
                row.iter().enumerate().map(move |(j, &v)| {
                    let y = (n - 1 - i) as f64;
                    Rectangle::new([(j as f64, y), (j as f64 + 1.0, y + 1.0)], viridis(v, lo, hi).filled())
                })
            }))
            .map_err(de)?;
        color_bar(&bar, 0.0, 1.0, &format!("{} (each panel: min → max)", self.value_label))
    }
}

fn color_bar<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, lo: f64, hi: f64, label: &str) -> Result<(), String> {
    let hi = if hi > lo { hi } else { lo + 1.0 };
    let mut chart = ChartBuilder::on(area)
        .margin_top(50)
        .margin_bottom(50)
        .margin_right(10)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..1.0, lo..hi)
        .map_err(de)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_desc(label)
        .y_label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .y_labels(6)
        .y_label_formatter(&|v| format!("{v:.2}"))
        .draw()
        .map_err(de)?;
    let steps = 64;
    chart
        .draw_series((0..steps).map(|k| {
            let (a, b) = (lo + (hi - lo) * k as f64 / steps as f64, lo + (hi - lo) * (k + 1) as f64 / steps as f64);
            Rectangle::new([(0.0, a), (1.0, b)], viridis(0.5 * (a + b), lo, hi).filled())
        }))
        .map_err(de)?;
    Ok(())
}

/// A value on a regular 2-D grid, one panel per network, each panel coloured over its own
/// range (its title gives the range), with a marker where the predicted class changes
/// between neighbouring cells (the decision boundaries).
pub struct GridMaps {
    pub title: String,
    pub value_label: String,
    /// (panel title, cells (a, b, value, class)).
    pub panels: Vec<(String, Vec<(f64, f64, f64, Option<i64>)>)>,
}

impl Figure for GridMaps {
    fn size(&self) -> (u32, u32) {
        let cols = self.panels.len().clamp(1, 3) as u32;
        let rows = self.panels.len().div_ceil(3).max(1) as u32;
        (cols * 380 + 110, rows * 380 + 50)
    }
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let area = area.titled(&self.title, ("sans-serif", 22)).map_err(de)?;
        let (w, _) = area.dim_in_pixel();
        let (grid, bar) = area.split_horizontally(w.saturating_sub(110));
        let cols = self.panels.len().clamp(1, 3);
        let rows = self.panels.len().div_ceil(3).max(1);
        for ((name, cells), sub) in self.panels.iter().zip(grid.split_evenly((rows, cols))) {
            let mut a_vals: Vec<f64> = cells.iter().map(|c| c.0).collect();
            let mut b_vals: Vec<f64> = cells.iter().map(|c| c.1).collect();
            for v in [&mut a_vals, &mut b_vals] {
                v.sort_by(f64::total_cmp);
                v.dedup();
            }
            let step = |v: &[f64]| if v.len() > 1 { (v[v.len() - 1] - v[0]) / (v.len() - 1) as f64 } else { 1.0 };
            let (da, db) = (step(&a_vals), step(&b_vals));
            let (ar, br) = (span(a_vals.iter().copied()), span(b_vals.iter().copied()));
            let finite = || cells.iter().map(|c| c.2).filter(|v| v.is_finite());
            let (lo, hi) = (finite().fold(f64::INFINITY, f64::min), finite().fold(f64::NEG_INFINITY, f64::max));
            let mut chart = ChartBuilder::on(&sub)
                .caption(format!("{name}: {lo:.1} … {hi:.1}"), ("sans-serif", 13))
                .margin(8)
                .x_label_area_size(26)
                .y_label_area_size(34)
                .build_cartesian_2d(ar.0..ar.1, br.0..br.1)
                .map_err(de)?;
            chart.configure_mesh().disable_mesh().x_labels(4).y_labels(4).draw().map_err(de)?;
            chart
                .draw_series(cells.iter().map(|&(a, b, v, _)| {
                    Rectangle::new(
                        [(a - da / 2.0, b - db / 2.0), (a + da / 2.0, b + db / 2.0)],
                        viridis(v, lo, hi).filled(),
                    )
                }))
                .map_err(de)?;
            // boundaries: a cell whose right or upper neighbour predicts another class
            let class_at = |a: f64, b: f64| {
                cells.iter().find(|c| (c.0 - a).abs() < da * 0.25 && (c.1 - b).abs() < db * 0.25).and_then(|c| c.3)
            };
            let boundary: Vec<(f64, f64)> = cells
                .iter()
                .filter(|c| {
                    c.3.is_some()
                        && ((class_at(c.0 + da, c.1).is_some_and(|k| Some(k) != c.3))
                            || (class_at(c.0, c.1 + db).is_some_and(|k| Some(k) != c.3)))
                })
                .map(|c| (c.0, c.1))
                .collect();
            chart.draw_series(boundary.iter().map(|&p| Circle::new(p, 1, WHITE.filled()))).map_err(de)?;
        }
        color_bar(&bar, 0.0, 1.0, &format!("{} (each panel: min → max)", self.value_label))
    }
}
