//! A model's path through a space (§2.4): every layer-to-layer distance, steps, angles, the
//! projection of each layer onto the geodesic from the first to the last, and summaries.

use std::f64::consts::PI;

use faer::Mat;

use super::{PathPoint, PathSpec, ShapeSegment, frob, nuclear, sample_r, shape_log_in_sample_space, shape_score};
use crate::{Matrix, MetricError};

/// Everything a path yields for one model (§2.4).
#[derive(Clone, Debug, PartialEq)]
pub struct PathAnalysis {
    /// Layer × layer distances.
    pub distances: Vec<Vec<f64>>,
    /// step[k] = d(L_{k−1}, L_k) for k ≥ 1; step[0] = 0.
    pub steps: Vec<f64>,
    pub cumulative: Vec<f64>,
    /// Angle at each interior layer between the step back and the step forward; None at the ends.
    pub angles: Vec<Option<f64>>,
    /// Exact projection of each layer onto the geodesic from the first to the last layer.
    pub projection_t: Vec<f64>,
    pub distance_to_geodesic: Vec<f64>,
    pub path_length: f64,
    pub direct_distance: f64,
    /// direct / path ∈ (0, 1]; 1 iff the layers lie in order on one geodesic.
    pub efficiency: f64,
    /// Mean of π − angle over the interior layers (None with fewer than 3 layers).
    pub mean_turning_angle: Option<f64>,
}

/// Analyse the path through `layers` (in order), each already a point of `spec`'s space.
/// Shape points are zero-padded to the widest layer first.
pub fn analyse_path(spec: &PathSpec, layers: &[PathPoint]) -> Result<PathAnalysis, MetricError> {
    let n = layers.len();
    if n < 2 {
        return Err(MetricError::TooSmall { rows: n, cols: 0 });
    }
    let rows = layers[0].data.rows();
    if let Some(bad) = layers.iter().find(|l| l.data.rows() != rows) {
        return Err(MetricError::SampleCountMismatch { a: rows, b: bad.data.rows() });
    }
    let padded: Vec<PathPoint>;
    let layers = if matches!(spec, PathSpec::Shape { .. }) {
        let p = layers.iter().map(|l| l.data.cols()).max().unwrap_or(0);
        padded = layers
            .iter()
            .map(|l| PathPoint {
                data: Matrix::from_fn(rows, p, |i, j| if j < l.data.cols() { l.data.get(i, j) } else { 0.0 }),
            })
            .collect();
        &padded[..]
    } else {
        layers
    };
    // wide shape layers: each layer's sample-space factor once, not once per pair
    let factors: Option<Vec<Mat<f64>>> = match spec {
        PathSpec::Shape { .. } if rows < layers[0].data.cols() => {
            Some(layers.iter().map(|l| sample_r(l.data.view())).collect())
        }
        _ => None,
    };
    let mut distances = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in (i + 1)..n {
            let d = match (&factors, spec) {
                (Some(r), PathSpec::Shape { angular }) => {
                    let inner = nuclear((&r[i] * r[j].transpose()).as_ref())?;
                    let (a, b) = (layers[i].data.view(), layers[j].data.view());
                    shape_score(*angular, inner, a.squared_norm_l2(), b.squared_norm_l2())
                }
                _ => spec.distance(&layers[i], &layers[j])?,
            };
            distances[i][j] = d;
            distances[j][i] = d;
        }
    }
    let steps: Vec<f64> = (0..n).map(|k| if k == 0 { 0.0 } else { distances[k - 1][k] }).collect();
    let cumulative: Vec<f64> = steps
        .iter()
        .scan(0.0, |acc, s| {
            *acc += s;
            Some(*acc)
        })
        .collect();
    let angles: Vec<Option<f64>> = (0..n)
        .map(|k| {
            (k > 0 && k + 1 < n)
                .then(|| match (&factors, spec) {
                    // the logs at layer k in the coordinates of its own sample space
                    (Some(r), PathSpec::Shape { angular }) => {
                        let u = shape_log_in_sample_space(*angular, r[k].as_ref(), r[k - 1].as_ref())?;
                        let v = shape_log_in_sample_space(*angular, r[k].as_ref(), r[k + 1].as_ref())?;
                        let (uv, uu, vv) = (frob(u.as_ref(), v.as_ref()), u.squared_norm_l2(), v.squared_norm_l2());
                        Ok((uv / (uu.sqrt() * vv.sqrt())).clamp(-1.0, 1.0).acos())
                    }
                    _ => spec.angle(&layers[k - 1], &layers[k], &layers[k + 1]),
                })
                .transpose()
        })
        .collect::<Result<_, _>>()?;
    let (first, last) = (&layers[0], &layers[n - 1]);
    // shape spaces: the segment from the first to the last layer once for every projection
    let segment = match (spec, &factors) {
        (PathSpec::Shape { .. }, Some(r)) if n > 2 => {
            Some(ShapeSegment::new(spec, first, last, Some((r[0].as_ref(), r[n - 1].as_ref())))?)
        }
        (PathSpec::Shape { .. }, None) if n > 2 => Some(ShapeSegment::new(spec, first, last, None)?),
        _ => None,
    };
    let mut projection_t = Vec::with_capacity(n);
    let mut distance_to_geodesic = Vec::with_capacity(n);
    for (k, layer) in layers.iter().enumerate() {
        let (t, d) = if k == 0 {
            (0.0, 0.0)
        } else if k == n - 1 {
            (1.0, 0.0)
        } else {
            match (&segment, spec) {
                (Some(s), PathSpec::Shape { angular }) => {
                    let owned;
                    let rc = match &factors {
                        Some(r) => r[k].as_ref(),
                        None => {
                            owned = sample_r(layer.data.view());
                            owned.as_ref()
                        }
                    };
                    s.project(*angular, rc, layer.data.view().squared_norm_l2())?
                }
                _ => spec.project(first, last, layer)?,
            }
        };
        projection_t.push(t);
        distance_to_geodesic.push(d);
    }
    let path_length = cumulative[n - 1];
    let direct_distance = distances[0][n - 1];
    let turns: Vec<f64> = angles.iter().flatten().map(|a| PI - a).collect();
    Ok(PathAnalysis {
        distances,
        steps,
        cumulative,
        angles,
        projection_t,
        distance_to_geodesic,
        path_length,
        direct_distance,
        efficiency: direct_distance / path_length,
        mean_turning_angle: (!turns.is_empty()).then(|| turns.iter().sum::<f64>() / turns.len() as f64),
    })
}
