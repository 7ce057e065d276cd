//! Layer paths (Lange et al., arXiv 2206.10999; wrongu/repsim @ ecd0a54): each layer of a
//! network is a point in a metric space, and the network a path through it (§2).
//!
//! Every space provides distance, geodesic γ(t), log and exp maps, the inner product at a
//! point, the angle at a point between two others, and the *exact* projection of a point
//! onto a geodesic (closed form on the sphere and in flat space; otherwise a bracketed
//! search on t over t ∈ [−½, 3/2]: the root of the distance's slope where it is smooth (the
//! shape spaces and AIR, to |Δt| < 1e-12), else Brent's method on its values).
//!
//! Wide layers (m stimuli < d units) never form a d × d matrix: distances, logs at a layer and
//! projections of the shape spaces go through the layers' m × m triangular factors
//! (`ShapeSegment`, `shape_log_in_sample_space`), and an AIR projection factors its three
//! points once (`AirLine`), so each step of a search is one m × m singular value or symmetric
//! eigenvalue problem.

use faer::{Mat, MatRef, Side};
use serde::{Deserialize, Serialize};

use crate::cka::lower_median_upper_triangle;
use crate::shape::{column_means, subtract_means};
use crate::{Matrix, MetricError};

mod analysis;
mod search;

pub use analysis::{PathAnalysis, analyse_path};
use search::{minimise_by_slope, minimise_on_line};

/// Which CKA variant a path uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PathCka {
    /// N(HKH): arccos of classic (biased) CKA.
    Biased,
    /// N(M ∘ HKH), repsim's default `use_unbiased_hsic=True`: centre, zero the diagonal,
    /// normalise. Not Song's unbiased HSIC.
    RepsimUnbiased,
}

/// A path metric and its parameters (§2.1).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum PathSpec {
    /// Angular CKA; `rbf` uses K = exp(−d²/ℓ²) with ℓ² the lower median of squared distances.
    AngularCka { estimator: PathCka, rbf: bool },
    /// Stress: points are the matrices of Euclidean distances between stimuli.
    Stress,
    /// Shape metric, alpha = 1, centred layers zero-padded to the widest layer of the model.
    /// Euclidean = the Bures distance of the centred linear Gram matrices.
    Shape { angular: bool },
    /// Affine-invariant Riemannian metric on X̃X̃ᵀ + εI.
    Air { eps: f64 },
}

/// A layer as a point of the path space.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PathPoint {
    pub(crate) data: Matrix,
}

impl PathPoint {
    /// A point from its matrix (an m × m kernel, distance or SPD matrix, or an m × p layer).
    pub fn from_matrix(data: Matrix) -> PathPoint {
        PathPoint { data }
    }
    pub fn matrix(&self) -> &Matrix {
        &self.data
    }
}

/// A tangent vector at a point.
pub type Tangent = Mat<f64>;

fn frob(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> f64 {
    let mut s = 0.0;
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            s += a[(i, j)] * b[(i, j)];
        }
    }
    s
}

fn normalised(a: Mat<f64>) -> Mat<f64> {
    let n = a.norm_l2();
    a * (1.0 / n)
}

/// f(A) for symmetric A through its eigendecomposition.
fn sym_fn(a: MatRef<'_, f64>, f: impl Fn(f64) -> f64) -> Result<Mat<f64>, MetricError> {
    let n = a.nrows();
    let sym = Mat::from_fn(n, n, |i, j| 0.5 * (a[(i, j)] + a[(j, i)]));
    let e = sym.self_adjoint_eigen(Side::Lower).map_err(|_| MetricError::Eigen)?;
    let vals: Vec<f64> = (0..n).map(|k| f(e.S().column_vector()[k])).collect();
    let u = e.U();
    let scaled = Mat::from_fn(n, n, |i, k| u[(i, k)] * vals[k]);
    Ok(&scaled * u.transpose())
}

/// R of the thin QR xᵀ = Q R (R m × m) for a layer with fewer stimuli than units: the
/// shape geometry of such layers lives in sample space (§2.2), aᵀb = Q_a (R_a R_bᵀ) Q_bᵀ.
pub(crate) fn sample_r(x: MatRef<'_, f64>) -> Mat<f64> {
    x.transpose().qr().thin_R().to_owned()
}

/// Σσ(aᵀb), through the m × m product R_a R_bᵀ when the layers are wider than they are tall.
fn shape_nuclear(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Result<f64, MetricError> {
    let sigma = if a.nrows() < a.ncols() {
        (sample_r(a) * sample_r(b).transpose()).singular_values()
    } else {
        (a.transpose() * b).singular_values()
    };
    Ok(sigma.map_err(|_| MetricError::Svd)?.iter().sum())
}

/// The shape distance from ⟨a, b⟩ after alignment (the nuclear norm) and the squared norms:
/// arccos on the sphere, √(‖a‖² + ‖b‖² − 2N) in flat space.
pub(crate) fn shape_score(angular: bool, inner: f64, aa: f64, bb: f64) -> f64 {
    if angular { inner.clamp(-1.0, 1.0).acos() } else { (aa + bb - 2.0 * inner).max(0.0).sqrt() }
}

/// Σσ(M) for a small dense M.
pub(crate) fn nuclear(m: MatRef<'_, f64>) -> Result<f64, MetricError> {
    Ok(m.singular_values().map_err(|_| MetricError::Svd)?.iter().sum())
}

impl PathSpec {
    /// The point of one layer `x` (stimuli × units). Shape points are centred but not yet
    /// padded: [`analyse_path`] pads a model's layers to its widest layer.
    pub fn point(&self, x: &Matrix) -> Result<PathPoint, MetricError> {
        let (m, d) = (x.rows(), x.cols());
        if m < 2 || d == 0 {
            return Err(MetricError::TooSmall { rows: m, cols: d });
        }
        let xc = subtract_means(x.view(), &column_means(x.view()));
        let data = match *self {
            PathSpec::AngularCka { estimator, rbf } => {
                let k = if rbf {
                    if m < d {
                        return Err(MetricError::Parameter {
                            key: "length_scale",
                            reason: format!(
                                "the median length scale is refused when samples ({m}) < units ({d}), as repsim does"
                            ),
                        });
                    }
                    let g = &xc * xc.transpose();
                    let d2 = Mat::from_fn(m, m, |i, j| (g[(i, i)] + g[(j, j)] - 2.0 * g[(i, j)]).max(0.0));
                    let l2 = lower_median_upper_triangle(d2.as_ref());
                    Mat::from_fn(m, m, |i, j| (-d2[(i, j)] / l2).exp())
                } else {
                    &xc * xc.transpose()
                };
                let rows: Vec<f64> = (0..m).map(|i| (0..m).map(|j| k[(i, j)]).sum::<f64>() / m as f64).collect();
                let grand = rows.iter().sum::<f64>() / m as f64;
                let masked = estimator == PathCka::RepsimUnbiased;
                let hkh =
                    Mat::from_fn(
                        m,
                        m,
                        |i, j| {
                            if masked && i == j { 0.0 } else { k[(i, j)] - rows[i] - rows[j] + grand }
                        },
                    );
                normalised(hkh)
            }
            PathSpec::Stress => {
                let g = x.view() * x.view().transpose();
                Mat::from_fn(m, m, |i, j| (g[(i, i)] + g[(j, j)] - 2.0 * g[(i, j)]).max(0.0).sqrt())
            }
            PathSpec::Shape { angular } => {
                if angular {
                    normalised(xc)
                } else {
                    xc
                }
            }
            PathSpec::Air { eps } => {
                let mut k = &xc * xc.transpose();
                for i in 0..m {
                    k[(i, i)] += eps;
                }
                k
            }
        };
        Ok(PathPoint { data: Matrix::from_faer(data.as_ref()) })
    }

    fn is_sphere(&self) -> bool {
        matches!(self, PathSpec::AngularCka { .. } | PathSpec::Shape { angular: true })
    }

    /// Shape spaces: b rotated onto a, b′ = b V Uᵀ with aᵀb = UΣVᵀ.
    fn aligned(&self, a: &PathPoint, b: &PathPoint) -> Result<Mat<f64>, MetricError> {
        match self {
            PathSpec::Shape { .. } if a.data.rows() < a.data.cols() => {
                // aᵀb = (Q_a U_k) Σ (Q_b V_k)ᵀ with R_a R_bᵀ = U_k Σ V_kᵀ, and b Q_b = R_bᵀ, so
                // b V Uᵀ = R_bᵀ V_k U_kᵀ Q_aᵀ: m × m work, one m × d product
                let qa = a.data.view().transpose().qr();
                let (q, ra) = (qa.compute_thin_Q(), qa.thin_R().to_owned());
                let rb = sample_r(b.data.view());
                let svd = (&ra * rb.transpose()).svd().map_err(|_| MetricError::Svd)?;
                Ok(rb.transpose() * svd.V() * svd.U().transpose() * q.transpose())
            }
            PathSpec::Shape { .. } => {
                let svd = (a.data.view().transpose() * b.data.view()).svd().map_err(|_| MetricError::Svd)?;
                Ok(b.data.view() * svd.V() * svd.U().transpose())
            }
            _ => Ok(b.data.to_faer()),
        }
    }

    /// ⟨v, w⟩ at `a`.
    pub fn inner(&self, a: &PathPoint, v: MatRef<'_, f64>, w: MatRef<'_, f64>) -> Result<f64, MetricError> {
        match self {
            PathSpec::Stress => {
                let m = v.nrows();
                let mut s = 0.0;
                for j in 0..m {
                    for i in 0..j {
                        s += v[(i, j)] * w[(i, j)];
                    }
                }
                Ok(s / (m * (m - 1) / 2) as f64)
            }
            PathSpec::Air { .. } => {
                // tr(A⁻¹ V A⁻¹ W)
                let inv = sym_fn(a.data.view(), |l| 1.0 / l)?;
                Ok(frob((&inv * v * &inv).transpose().as_ref(), w))
            }
            _ => Ok(frob(v, w)),
        }
    }

    /// d(a, b).
    pub fn distance(&self, a: &PathPoint, b: &PathPoint) -> Result<f64, MetricError> {
        let (av, bv) = (a.data.view(), b.data.view());
        Ok(match self {
            PathSpec::AngularCka { .. } => frob(av, bv).clamp(-1.0, 1.0).acos(),
            PathSpec::Stress => {
                let diff = av - bv;
                self.inner(a, diff.as_ref(), diff.as_ref())?.max(0.0).sqrt()
            }
            PathSpec::Shape { angular } => {
                shape_score(*angular, shape_nuclear(av, bv)?, av.squared_norm_l2(), bv.squared_norm_l2())
            }
            PathSpec::Air { .. } => {
                // generalised eigenvalues of Q v = λ P v through P = LLᵀ
                let Ok(llt) = av.llt(Side::Lower) else { return Ok(f64::INFINITY) };
                let l = llt.L();
                // M = L⁻¹ Q L⁻ᵀ = L⁻¹ (L⁻¹ Q)ᵀ for symmetric Q
                let mut half = bv.to_owned();
                l.solve_lower_triangular_in_place(half.as_mut());
                let mut m = half.transpose().to_owned();
                l.solve_lower_triangular_in_place(m.as_mut());
                let sym = Mat::from_fn(m.nrows(), m.ncols(), |i, j| 0.5 * (m[(i, j)] + m[(j, i)]));
                let vals = sym.self_adjoint_eigenvalues(Side::Lower).map_err(|_| MetricError::Eigen)?;
                if vals.iter().any(|&v| v <= 0.0) {
                    return Ok(f64::INFINITY);
                }
                vals.iter().map(|v| v.ln().powi(2)).sum::<f64>().sqrt()
            }
        })
    }

    /// γ(t) on the geodesic from a (t = 0) to b (t = 1), constant speed.
    pub fn geodesic(&self, a: &PathPoint, b: &PathPoint, t: f64) -> Result<PathPoint, MetricError> {
        let av = a.data.view();
        let b2 = self.aligned(a, b)?;
        let data = match self {
            _ if self.is_sphere() => slerp(av, b2.as_ref(), t)?,
            PathSpec::Air { .. } => {
                let half = sym_fn(av, |l| l.sqrt())?;
                let inv_half = sym_fn(av, |l| 1.0 / l.sqrt())?;
                let inner = sym_fn((&inv_half * &b2 * &inv_half).as_ref(), |l| l.powf(t))?;
                &half * inner * &half
            }
            _ => av * (1.0 - t) + &b2 * t,
        };
        Ok(PathPoint { data: Matrix::from_faer(data.as_ref()) })
    }

    /// log_a b: the tangent at a pointing to b, with length d(a, b).
    pub fn log(&self, a: &PathPoint, b: &PathPoint) -> Result<Tangent, MetricError> {
        let av = a.data.view();
        let b2 = self.aligned(a, b)?;
        Ok(match self {
            _ if self.is_sphere() => {
                let c = frob(av, b2.as_ref()).clamp(-1.0, 1.0);
                let u = &b2 - av * c;
                let scale = c.acos() / u.norm_l2().max(1e-7);
                u * scale
            }
            PathSpec::Air { .. } => {
                let half = sym_fn(av, |l| l.sqrt())?;
                let inv_half = sym_fn(av, |l| 1.0 / l.sqrt())?;
                let inner = sym_fn((&inv_half * &b2 * &inv_half).as_ref(), |l| l.ln())?;
                &half * inner * &half
            }
            _ => &b2 - av,
        })
    }

    /// exp_a w.
    pub fn exp(&self, a: &PathPoint, w: MatRef<'_, f64>) -> Result<PathPoint, MetricError> {
        let av = a.data.view();
        let data = match self {
            _ if self.is_sphere() => {
                let n = w.norm_l2();
                if n == 0.0 { av.to_owned() } else { av * n.cos() + w * (n.sin() / n) }
            }
            PathSpec::Air { .. } => {
                let half = sym_fn(av, |l| l.sqrt())?;
                let inv_half = sym_fn(av, |l| 1.0 / l.sqrt())?;
                let inner = sym_fn((&inv_half * w * &inv_half).as_ref(), |l| l.exp())?;
                &half * inner * &half
            }
            _ => av + w,
        };
        Ok(PathPoint { data: Matrix::from_faer(data.as_ref()) })
    }

    /// ∠abc, the angle at b: π when b lies on the geodesic between a and c.
    pub fn angle(&self, a: &PathPoint, b: &PathPoint, c: &PathPoint) -> Result<f64, MetricError> {
        let (u, v) = (self.log(b, a)?, self.log(b, c)?);
        let uv = self.inner(b, u.as_ref(), v.as_ref())?;
        let uu = self.inner(b, u.as_ref(), u.as_ref())?;
        let vv = self.inner(b, v.as_ref(), v.as_ref())?;
        Ok((uv / (uu.sqrt() * vv.sqrt())).clamp(-1.0, 1.0).acos())
    }

    /// The exact projection of c onto the geodesic γ from a to b: (t*, d(c, γ(t*))).
    pub fn project(&self, a: &PathPoint, b: &PathPoint, c: &PathPoint) -> Result<(f64, f64), MetricError> {
        match self {
            PathSpec::AngularCka { .. } => {
                // t* = atan2(⟨c,e⟩, ⟨c,a⟩)/θ, e = (b − cos θ a)/sin θ (§2.3)
                let (av, bv, cv) = (a.data.view(), b.data.view(), c.data.view());
                let cos = frob(av, bv).clamp(-1.0, 1.0);
                let theta = cos.acos();
                let e = (bv - av * cos) * (1.0 / theta.sin());
                let (ca, ce) = (frob(cv, av), frob(cv, e.as_ref()));
                Ok((ce.atan2(ca) / theta, (ca * ca + ce * ce).sqrt().clamp(-1.0, 1.0).acos()))
            }
            PathSpec::Stress => {
                let d_ab = b.data.view() - a.data.view();
                let d_ac = c.data.view() - a.data.view();
                let t = self.inner(a, d_ac.as_ref(), d_ab.as_ref())? / self.inner(a, d_ab.as_ref(), d_ab.as_ref())?;
                Ok((t, self.distance(c, &self.geodesic(a, b, t)?)?))
            }
            PathSpec::Shape { angular } => self.project_shape(*angular, a, b, c),
            PathSpec::Air { .. } => {
                let line = AirLine::new(a, b, c)?;
                if line.k.is_some() && line.lambda.iter().all(|&l| l > 0.0) {
                    minimise_by_slope(|t| line.distance(t), |t| line.slope(t), -0.5, 1.5)
                } else {
                    minimise_on_line(|t| line.distance(t), -0.5, 1.5)
                }
            }
        }
    }

    /// [`PathSpec::project`] in the shape spaces: the segment from a to b reduced once
    /// ([`ShapeSegment`]), then the search on c's sample-space factor.
    fn project_shape(
        &self,
        angular: bool,
        a: &PathPoint,
        b: &PathPoint,
        c: &PathPoint,
    ) -> Result<(f64, f64), MetricError> {
        let segment = ShapeSegment::new(self, a, b, None)?;
        segment.project(angular, sample_r(c.data.view()).as_ref(), c.data.view().squared_norm_l2())
    }
}

/// A shape geodesic γ(t) = α(t) a + β(t) b′ (b′ = b aligned onto a, once, not per t) in the
/// coordinates where projections onto it are smallest.
///
/// Wide layers (m < d): aᵀ = Q_a R_a, so a = R_aᵀ Q_aᵀ, and the aligned b′ = R_bᵀ V Uᵀ Q_aᵀ
/// (R_a R_bᵀ = UΣVᵀ, see `aligned`) lies in the same m rows of Q_aᵀ. Both are kept as their
/// m × m coordinates A = R_aᵀ, B = R_bᵀ V Uᵀ, and for a third layer cᵀ = Q_c R_c,
/// Σσ(cᵀγ) = Σσ(R_c (αA + βB)): every step of a projection's search is an m × m singular
/// value problem, and Q_a is never formed. Inner products are those of the d-space points
/// (Q_a has orthonormal columns), so this is the full-space definition exactly in exact
/// arithmetic; in floating point the values differ from the d-space forms by rounding only
/// (‖a − R_aᵀQ_aᵀ‖ ≈ ε·m·‖a‖ for Householder QR).
///
/// Otherwise (m ≥ d) A = a, B = b′ themselves (m × d), and the steps are R_c A, R_c B with
/// R_c the d × m triangular factor.
pub(crate) struct ShapeSegment {
    a: Mat<f64>,
    b: Mat<f64>,
    aa: f64,
    ab: f64,
    bb: f64,
}

impl ShapeSegment {
    /// The segment from `a` to `b`; `factors` = (R_a, R_b) when the caller holds them.
    pub(crate) fn new(
        spec: &PathSpec,
        from: &PathPoint,
        to: &PathPoint,
        factors: Option<(MatRef<'_, f64>, MatRef<'_, f64>)>,
    ) -> Result<ShapeSegment, MetricError> {
        let (av, bv) = (from.data.view(), to.data.view());
        let (a, b) = if av.nrows() < av.ncols() {
            let owned;
            let (ra, rb) = match factors {
                Some(f) => f,
                None => {
                    owned = (sample_r(av), sample_r(bv));
                    (owned.0.as_ref(), owned.1.as_ref())
                }
            };
            let svd = (ra * rb.transpose()).svd().map_err(|_| MetricError::Svd)?;
            (ra.transpose().to_owned(), rb.transpose() * svd.V() * svd.U().transpose())
        } else {
            (av.to_owned(), spec.aligned(from, to)?)
        };
        let (aa, ab, bb) = (frob(a.as_ref(), a.as_ref()), frob(a.as_ref(), b.as_ref()), frob(b.as_ref(), b.as_ref()));
        Ok(ShapeSegment { a, b, aa, ab, bb })
    }

    /// The geodesic's coefficients (α, β) at t, as `geodesic` (and `slerp`) form them.
    fn coefficients(&self, angular: bool, t: f64) -> Result<(f64, f64), MetricError> {
        let (aa, ab, bb) = (self.aa, self.ab, self.bb);
        if !angular {
            return Ok((1.0 - t, t));
        }
        if ab > 1.0 - 1e-6 {
            let n = ((1.0 - t) * (1.0 - t) * aa + 2.0 * t * (1.0 - t) * ab + t * t * bb).sqrt();
            return Ok(((1.0 - t) / n, t / n));
        }
        if ab < -1.0 + 1e-6 {
            return Err(MetricError::Parameter {
                key: "geodesic",
                reason: "antipodal points have no unique geodesic".into(),
            });
        }
        let theta = ab.acos();
        Ok((((1.0 - t) * theta).sin() / theta.sin(), (t * theta).sin() / theta.sin()))
    }

    /// The exact projection of the layer with sample-space factor `rc` (R_c) and squared norm
    /// `cc` onto the segment: (t*, d(c, γ(t*))).
    pub(crate) fn project(&self, angular: bool, rc: MatRef<'_, f64>, cc: f64) -> Result<(f64, f64), MetricError> {
        let (p, q) = (rc * &self.a, rc * &self.b);
        let (aa, ab, bb) = (self.aa, self.ab, self.bb);
        let f = |t: f64| -> Result<f64, MetricError> {
            let (alpha, beta) = self.coefficients(angular, t)?;
            let inner = nuclear((&p * alpha + &q * beta).as_ref())?;
            let gg = alpha * alpha * aa + 2.0 * alpha * beta * ab + beta * beta * bb;
            Ok(shape_score(angular, inner, cc, gg))
        };
        // The slope of the distance, up to a positive factor: with M = αP + βQ = UΣVᵀ,
        // d/dt Σσ(M) = ⟨α′P + β′Q, UVᵀ⟩ (distinct, nonzero σ). Angular: −N′ (arccos falls);
        // Euclidean: d/dt (‖γ‖² − 2N).
        let theta = ab.clamp(-1.0, 1.0).acos();
        let smooth = !angular || (-1.0 + 1e-6..=1.0 - 1e-6).contains(&ab);
        let slope = |t: f64| -> Result<f64, MetricError> {
            let (alpha, beta) = self.coefficients(angular, t)?;
            let (da, db) = if angular {
                (-theta * ((1.0 - t) * theta).cos() / theta.sin(), theta * (t * theta).cos() / theta.sin())
            } else {
                (-1.0, 1.0)
            };
            let svd = (&p * alpha + &q * beta).thin_svd().map_err(|_| MetricError::Svd)?;
            let polar = svd.U() * svd.V().transpose();
            let dn = da * frob(p.as_ref(), polar.as_ref()) + db * frob(q.as_ref(), polar.as_ref());
            Ok(if angular {
                -dn
            } else {
                let dgg = 2.0 * alpha * da * aa + 2.0 * (da * beta + alpha * db) * ab + 2.0 * beta * db * bb;
                dgg - 2.0 * dn
            })
        };
        if smooth { minimise_by_slope(f, slope, -0.5, 1.5) } else { minimise_on_line(f, -0.5, 1.5) }
    }
}

/// d(c, γ(t)) along an AIR geodesic from a to b, with every factorisation done once.
///
/// With a = A, S = A^{-1/2} b A^{-1/2} = U diag(λ) Uᵀ, the geodesic is
/// γ(t) = A^{1/2} U diag(λᵗ) Uᵀ A^{1/2}, and with c = LLᵀ the generalised eigenvalues of
/// (γ(t), c) are the eigenvalues of L⁻¹γ(t)L⁻ᵀ = K diag(λᵗ) Kᵀ, K = L⁻¹A^{1/2}U. Each t then
/// costs one m × m product and one symmetric eigenvalue problem, where `geodesic` followed by
/// `distance` costs three eigendecompositions, a Cholesky factorisation and the eigenvalues.
/// Equal to that composition in exact arithmetic; a non-SPD c gives ∞ for every t, as
/// `distance` does.
struct AirLine {
    /// K, or None when c is not positive definite.
    k: Option<Mat<f64>>,
    lambda: Vec<f64>,
}

impl AirLine {
    fn new(a: &PathPoint, b: &PathPoint, c: &PathPoint) -> Result<AirLine, MetricError> {
        let av = a.data.view();
        let half = sym_fn(av, |l| l.sqrt())?;
        let inv_half = sym_fn(av, |l| 1.0 / l.sqrt())?;
        let inner = &inv_half * b.data.view() * &inv_half;
        let n = inner.nrows();
        let sym = Mat::from_fn(n, n, |i, j| 0.5 * (inner[(i, j)] + inner[(j, i)]));
        let e = sym.self_adjoint_eigen(Side::Lower).map_err(|_| MetricError::Eigen)?;
        let lambda: Vec<f64> = (0..n).map(|i| e.S().column_vector()[i]).collect();
        let Ok(llt) = c.data.view().llt(Side::Lower) else { return Ok(AirLine { k: None, lambda }) };
        let mut k = half * e.U();
        llt.L().solve_lower_triangular_in_place(k.as_mut());
        Ok(AirLine { k: Some(k), lambda })
    }

    fn distance(&self, t: f64) -> Result<f64, MetricError> {
        let Some(k) = &self.k else { return Ok(f64::INFINITY) };
        let scaled = Mat::from_fn(k.nrows(), k.ncols(), |i, j| k[(i, j)] * self.lambda[j].powf(0.5 * t));
        let m = &scaled * scaled.transpose();
        let vals = m.self_adjoint_eigenvalues(Side::Lower).map_err(|_| MetricError::Eigen)?;
        if vals.iter().any(|&v| v <= 0.0) {
            return Ok(f64::INFINITY);
        }
        Ok(vals.iter().map(|v| v.ln().powi(2)).sum::<f64>().sqrt())
    }
}

impl AirLine {
    /// ½ d/dt d²(c, γ(t)) = Σ ln μ_i · μ_i′/μ_i for the eigenpairs (μ_i, v_i) of
    /// M(t) = S Sᵀ, S = K diag(λ^{t/2}): μ_i′ = v_iᵀ S diag(ln λ) Sᵀ v_i = Σ_j Y_ij² ln λ_j with
    /// Y = VᵀS (distinct μ). Same sign as the slope of d.
    fn slope(&self, t: f64) -> Result<f64, MetricError> {
        let Some(k) = &self.k else { return Ok(f64::NAN) };
        let scaled = Mat::from_fn(k.nrows(), k.ncols(), |i, j| k[(i, j)] * self.lambda[j].powf(0.5 * t));
        let m = &scaled * scaled.transpose();
        let e = m.self_adjoint_eigen(Side::Lower).map_err(|_| MetricError::Eigen)?;
        let y = e.U().transpose() * &scaled;
        let logs: Vec<f64> = self.lambda.iter().map(|l| l.ln()).collect();
        let mut total = 0.0;
        for i in 0..y.nrows() {
            let mu = e.S().column_vector()[i];
            if mu <= 0.0 {
                return Ok(f64::NAN);
            }
            let dmu: f64 = (0..y.ncols()).map(|j| y[(i, j)] * y[(i, j)] * logs[j]).sum();
            total += mu.ln() * dmu / mu;
        }
        Ok(total)
    }
}

/// log_b a of wide shape layers (m < d) in the m × m coordinates of the rows of Q_bᵀ
/// (bᵀ = Q_b R_b), from the layers' factors R_b, R_a and b's squared norm: a aligned onto b
/// is A′ Q_bᵀ with A′ = R_aᵀ V Uᵀ (R_b R_aᵀ = UΣVᵀ), and b = R_bᵀ Q_bᵀ, so the log is
/// (log in coordinates) Q_bᵀ and inner products of logs at b are those of their coordinates.
pub(crate) fn shape_log_in_sample_space(
    angular: bool,
    rb: MatRef<'_, f64>,
    ra: MatRef<'_, f64>,
) -> Result<Mat<f64>, MetricError> {
    let svd = (rb * ra.transpose()).svd().map_err(|_| MetricError::Svd)?;
    let a2 = ra.transpose() * svd.V() * svd.U().transpose();
    Ok(if angular {
        let c = frob(rb.transpose(), a2.as_ref()).clamp(-1.0, 1.0);
        let u = &a2 - rb.transpose() * c;
        let scale = c.acos() / u.norm_l2().max(1e-7);
        u * scale
    } else {
        a2 - rb.transpose()
    })
}

/// Spherical interpolation with repsim's edge cases: nearly equal points interpolate
/// linearly and renormalise; antipodal points have no unique geodesic.
fn slerp(a: MatRef<'_, f64>, b: MatRef<'_, f64>, t: f64) -> Result<Mat<f64>, MetricError> {
    let c = frob(a, b);
    if c > 1.0 - 1e-6 {
        return Ok(normalised(a * (1.0 - t) + b * t));
    }
    if c < -1.0 + 1e-6 {
        return Err(MetricError::Parameter {
            key: "geodesic",
            reason: "antipodal points have no unique geodesic".into(),
        });
    }
    let theta = c.acos();
    Ok((a * ((1.0 - t) * theta).sin() + b * (t * theta).sin()) * (1.0 / theta.sin()))
}
