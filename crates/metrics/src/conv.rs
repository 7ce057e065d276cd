//! The convolutional (translation-invariant) shape metric: the minimum of netrep's
//! LinearMetric over all circular spatial shifts (§1.7, netrep `convolve_metric`).
//!
//! A circular shift permutes rows, so centring and whitening do not depend on it: each
//! representation is whitened once, and a shift only changes M(s) = X_{w,s}ᵀ Y_w, one GEMM
//! per shift on the prepared factors (netrep refits everything per shift).

use serde::{Deserialize, Serialize};

use crate::{Matrix, MetricError, PairScore, PreparedShape, Score, Tensor, Whitening, score_from_inner};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PreparedConv {
    images: usize,
    height: usize,
    width: usize,
    /// Rows (image, y, x), columns channels: centred and whitened once.
    shape: PreparedShape,
}

impl PreparedConv {
    /// `x` is [images, height, width, channels].
    pub fn new(x: &Tensor, alpha: f64) -> Result<Self, MetricError> {
        let (images, height, width) = (x.shape()[0], x.shape()[1], x.shape()[2]);
        let flat = x.to_matrix(); // [images, h·w·c] → reshape to rows (image, y, x)
        let channels = x.shape()[3];
        let rows = images * height * width;
        let m = Matrix::from_row_major(rows, channels, x.data());
        debug_assert_eq!(flat.rows() * flat.cols(), rows * channels);
        Ok(PreparedConv { images, height, width, shape: PreparedShape::new(&m, None, alpha, Whitening::Netrep)? })
    }
}

/// The full grid: entry [a][b] scores X rolled by (a − ⌊h/2⌋, b − ⌊w/2⌋) against Y.
pub fn conv_grid(a: &PreparedConv, b: &PreparedConv, score: Score) -> Result<Vec<Vec<f64>>, MetricError> {
    if (a.images, a.height, a.width) != (b.images, b.height, b.width) {
        return Err(MetricError::ShapeMismatch {
            a: vec![a.images, a.height, a.width],
            b: vec![b.images, b.height, b.width],
            what: "images, height and width must agree",
        });
    }
    let (h, w) = (a.height, a.width);
    let channels = a.shape.n_features().max(b.shape.n_features());
    let (sa, sb) = (a.shape.scale_at(channels), b.shape.scale_at(channels));
    let (xa, yb) = (a.shape.xw(), b.shape.xw());
    let ca = xa.cols();
    let mut grid = vec![vec![0.0; w]; h];
    for (gy, row) in grid.iter_mut().enumerate() {
        for (gx, cell) in row.iter_mut().enumerate() {
            let (s1, s2) = (gy as i64 - (h / 2) as i64, gx as i64 - (w / 2) as i64);
            // X_s[·, y, x] = X[·, (y − s1) mod h, (x − s2) mod w]
            let source = |r: usize| {
                let (img, rem) = (r / (h * w), r % (h * w));
                let (y, x) = ((rem / w) as i64, (rem % w) as i64);
                let (ys, xs) = ((y - s1).rem_euclid(h as i64) as usize, (x - s2).rem_euclid(w as i64) as usize);
                (img * h + ys) * w + xs
            };
            let rolled = faer::Mat::from_fn(xa.rows(), ca, |r, c| xa.get(source(r), c));
            let cross = rolled.transpose() * yb.view();
            let nuclear: f64 = cross.singular_values().map_err(|_| MetricError::Svd)?.iter().sum();
            *cell = score_from_inner(score, sa * sb * nuclear, sa * a.shape.norm_xw(), sb * b.shape.norm_xw());
        }
    }
    Ok(grid)
}

/// The minimum over the shift grid and the shift (dy, dx) that reaches it (first in grid order).
pub(crate) fn compare(a: &PreparedConv, b: &PreparedConv, score: Score) -> Result<PairScore, MetricError> {
    let grid = conv_grid(a, b, score)?;
    let (h, w) = (a.height as i64, a.width as i64);
    let mut best = (f64::INFINITY, (0i64, 0i64));
    for (gy, row) in grid.iter().enumerate() {
        for (gx, &v) in row.iter().enumerate() {
            if v < best.0 {
                best = (v, (gy as i64 - h / 2, gx as i64 - w / 2));
            }
        }
    }
    Ok(PairScore { distance: best.0, shift: Some(best.1), ..PairScore::default() })
}
