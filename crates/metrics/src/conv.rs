//! The convolutional (translation-invariant) shape metric: the minimum of netrep's
//! LinearMetric over all circular spatial shifts (§1.7, netrep `convolve_metric`).
//!
//! A circular shift permutes rows, so centring and whitening do not depend on it: each
//! representation is whitened once. Only M(s) = Σ_p X_w(p − s)ᵀ Y_w(p) changes with the
//! shift s, and all h·w of them are one circular cross-correlation per channel pair:
//! M(s) = (1/hw) Re Σ_k X̂_w(k)ᵀ conj(Ŷ_w(k)) e^{−2πi(k₁s₁/h + k₂s₂/w)}. The spatial DFT of
//! the whitened factors is computed once per representation; a pair costs 4 real GEMMs
//! per frequency plus one inverse transform for all shifts (netrep refits per shift).

use std::f64::consts::PI;

use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};

use crate::{Matrix, MetricError, PairScore, PreparedShape, Score, Tensor, Whitening};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PreparedConv {
    images: usize,
    height: usize,
    width: usize,
    /// Centring, whitening, norms and padding rescale (rows (image, y, x) × channels).
    shape: PreparedShape,
    /// Spatial DFT of the whitened factors: rows (frequency k₁·w + k₂, image) × channels.
    spectrum_re: Matrix,
    spectrum_im: Matrix,
}

impl PreparedConv {
    /// `x` is [images, height, width, channels].
    pub fn new(x: &Tensor, alpha: f64) -> Result<Self, MetricError> {
        let (images, height, width, channels) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
        let m = Matrix::from_row_major(images * height * width, channels, x.data());
        let shape = PreparedShape::new(&m, None, alpha, Whitening::Netrep)?;
        let xw = shape.xw().ok_or(MetricError::PreparedMismatch)?;
        let (spectrum_re, spectrum_im) = spatial_dft(xw.view(), images, height, width);
        Ok(PreparedConv { images, height, width, shape, spectrum_re, spectrum_im })
    }
}

/// X̂(k) = Σ_{y,x} X(y, x) e^{−2πi(k₁y/h + k₂x/w)} for every image and channel.
fn spatial_dft(xw: MatRef<'_, f64>, images: usize, h: usize, w: usize) -> (Matrix, Matrix) {
    let c = xw.ncols();
    let n = h * w;
    let (mut re, mut im) = (Mat::<f64>::zeros(n * images, c), Mat::<f64>::zeros(n * images, c));
    let (cos_h, sin_h) = twiddles(h);
    let (cos_w, sin_w) = twiddles(w);
    for img in 0..images {
        for ch in 0..c {
            // along x: A[y][k₂]
            let mut a_re = vec![0.0; n];
            let mut a_im = vec![0.0; n];
            for y in 0..h {
                for k2 in 0..w {
                    let (mut sr, mut si) = (0.0, 0.0);
                    for xx in 0..w {
                        let v = xw[((img * h + y) * w + xx, ch)];
                        let t = (k2 * xx) % w;
                        sr += v * cos_w[t];
                        si -= v * sin_w[t];
                    }
                    a_re[y * w + k2] = sr;
                    a_im[y * w + k2] = si;
                }
            }
            // along y
            for k1 in 0..h {
                for k2 in 0..w {
                    let (mut sr, mut si) = (0.0, 0.0);
                    for y in 0..h {
                        let t = (k1 * y) % h;
                        let (cr, ci) = (cos_h[t], -sin_h[t]);
                        let (ar, ai) = (a_re[y * w + k2], a_im[y * w + k2]);
                        sr += ar * cr - ai * ci;
                        si += ar * ci + ai * cr;
                    }
                    let row = (k1 * w + k2) * images + img;
                    re[(row, ch)] = sr;
                    im[(row, ch)] = si;
                }
            }
        }
    }
    (Matrix::from_faer(re.as_ref()), Matrix::from_faer(im.as_ref()))
}

/// cos and sin of 2πt/n for t = 0..n.
fn twiddles(n: usize) -> (Vec<f64>, Vec<f64>) {
    (0..n).map(|t| (2.0 * PI * t as f64 / n as f64).sin_cos()).map(|(s, c)| (c, s)).unzip()
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
    let (h, w, images) = (a.height, a.width, a.images);
    let n = h * w;
    let (ca, cb) = (a.shape.n_features(), b.shape.n_features());
    let channels = ca.max(cb);
    let (sa, sb) = (a.shape.scale_at(channels), b.shape.scale_at(channels));
    // cross-spectra C_k = X̂(k)ᵀ conj(Ŷ(k)), flattened to rows k of (ca·cb) columns
    let (mut c_re, mut c_im) = (Mat::<f64>::zeros(n, ca * cb), Mat::<f64>::zeros(n, ca * cb));
    for k in 0..n {
        fn rows(m: &Matrix, k: usize, images: usize) -> MatRef<'_, f64> {
            m.view().subrows(k * images, images)
        }
        let (xr, xi) = (rows(&a.spectrum_re, k, images), rows(&a.spectrum_im, k, images));
        let (yr, yi) = (rows(&b.spectrum_re, k, images), rows(&b.spectrum_im, k, images));
        let re = xr.transpose() * yr + xi.transpose() * yi;
        let im = xi.transpose() * yr - xr.transpose() * yi;
        for j in 0..cb {
            for i in 0..ca {
                c_re[(k, j * ca + i)] = re[(i, j)];
                c_im[(k, j * ca + i)] = im[(i, j)];
            }
        }
    }
    // M(s) = (1/n) Σ_k [Re C_k cos θ_ks + Im C_k sin θ_ks], θ = 2π(k₁s₁/h + k₂s₂/w): two GEMMs
    let shift = |g: usize, len: usize| g as i64 - (len / 2) as i64;
    let angle = |s: usize, k: usize| {
        let (s1, s2) = (shift(s / w, h), shift(s % w, w));
        let (k1, k2) = ((k / w) as i64, (k % w) as i64);
        2.0 * PI * ((k1 * s1).rem_euclid(h as i64) as f64 / h as f64 + (k2 * s2).rem_euclid(w as i64) as f64 / w as f64)
    };
    let cos = Mat::from_fn(n, n, |s, k| angle(s, k).cos() / n as f64);
    let sin = Mat::from_fn(n, n, |s, k| angle(s, k).sin() / n as f64);
    let all = &cos * &c_re + &sin * &c_im;
    let mut grid = vec![vec![0.0; w]; h];
    for s in 0..n {
        let m = Mat::from_fn(ca, cb, |i, j| all[(s, j * ca + i)]);
        grid[s / w][s % w] =
            crate::score_from_cross(score, m.as_ref(), sa * sb, sa * a.shape.norm_xw(), sb * b.shape.norm_xw())?;
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
