//! Euclidean embeddings of a metric space (docs/math.md §3): classical MDS with its
//! distortion figures, landmark MDS and out-of-sample placement (de Silva & Tenenbaum
//! 2004; Gower 1968), and the generalized Procrustes (Fréchet) mean with its tangent-space
//! embedding (netrep's `frechet_mean`, full batch).

use faer::{Mat, MatRef, Side};

use crate::procrustes::procrustes_from_cross;
use crate::{Matrix, MetricError};

/// Below this many points the double-centred matrix is decomposed densely (all
/// eigenvalues, exact distortion figures); above, Lanczos finds the extreme eigenpairs.
pub const DENSE_LIMIT: usize = 2500;

/// A classical-MDS embedding.
#[derive(Clone, Debug)]
pub struct Embedding {
    /// n × k coordinates.
    pub coordinates: Mat<f64>,
    /// Eigenvalues found, in descending order. All n when `complete`; otherwise the
    /// extreme ones at both ends of the spectrum.
    pub eigenvalues: Vec<f64>,
    pub complete: bool,
    /// tr B = Σλ (always exact).
    pub trace: f64,
}

/// Distortion figures of an embedding against the distances it embeds (§3.2).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Distortion {
    /// Σ_{λ>0} λ / Σ|λ| (over the eigenvalues found).
    pub positive_mass: f64,
    /// ν = Σ_{λ<0} |λ| / Σ|λ|: how far the space is from Euclidean.
    pub negative_mass: f64,
    /// Σ_{i≤k} λ_i / Σ_{λ>0} λ.
    pub captured: f64,
    /// Kruskal stress-1: √(Σ(d − e)² / Σd²) over i < j.
    pub stress_1: f64,
    /// Pearson correlation of d and e over i < j.
    pub distance_correlation: f64,
}

/// Fix eigenvector signs: the largest-magnitude entry of each column is positive.
fn fix_signs(v: &mut Mat<f64>) {
    for j in 0..v.ncols() {
        let (mut best, mut at) = (0.0, 0);
        for i in 0..v.nrows() {
            if v[(i, j)].abs() > best {
                best = v[(i, j)].abs();
                at = i;
            }
        }
        if v[(at, j)] < 0.0 {
            for i in 0..v.nrows() {
                v[(i, j)] = -v[(i, j)];
            }
        }
    }
}

/// Squared distances, double-centred: B = −½ J (D∘D) J, J = I − 11ᵀ/n.
fn double_centred(d: MatRef<'_, f64>) -> Mat<f64> {
    let n = d.nrows();
    let sq = Mat::from_fn(n, n, |i, j| d[(i, j)] * d[(i, j)]);
    let rows: Vec<f64> = (0..n).map(|i| (0..n).map(|j| sq[(i, j)]).sum::<f64>() / n as f64).collect();
    let grand = rows.iter().sum::<f64>() / n as f64;
    Mat::from_fn(n, n, |i, j| -0.5 * (sq[(i, j)] - rows[i] - rows[j] + grand))
}

/// Classical MDS of a symmetric distance matrix into `dims` dimensions (§3.1). Dimensions
/// beyond the positive eigenvalues are zero.
pub fn classical_mds(d: MatRef<'_, f64>, dims: usize) -> Result<Embedding, MetricError> {
    let n = d.nrows();
    if n < 2 {
        return Err(MetricError::TooSmall { rows: n, cols: n });
    }
    if n <= DENSE_LIMIT {
        let b = double_centred(d);
        let trace = (0..n).map(|i| b[(i, i)]).sum();
        let e = b.self_adjoint_eigen(Side::Lower).map_err(|_| MetricError::Eigen)?;
        // faer sorts ascending; take descending
        let order: Vec<usize> = (0..n).rev().collect();
        let eigenvalues: Vec<f64> = order.iter().map(|&i| e.S().column_vector()[i]).collect();
        let mut v = Mat::from_fn(n, dims.min(n), |i, j| e.U()[(i, order[j])]);
        fix_signs(&mut v);
        Ok(Embedding { coordinates: scale_columns(v, &eigenvalues), eigenvalues, complete: true, trace })
    } else {
        lanczos_mds(d, dims)
    }
}

/// Y = V_k Λ_k^{½}, with zero columns where λ ≤ 0.
fn scale_columns(v: Mat<f64>, eigenvalues: &[f64]) -> Mat<f64> {
    Mat::from_fn(v.nrows(), v.ncols(), |i, j| v[(i, j)] * eigenvalues[j].max(0.0).sqrt())
}

/// MDS through Lanczos with full reorthogonalisation on the implicitly double-centred
/// matrix: B v = −½ J (D∘D) J v, so only D∘D is stored. Steps grow until the top `dims`
/// Ritz pairs have residual < 1e-10·|λ_max|.
pub fn lanczos_mds(d: MatRef<'_, f64>, dims: usize) -> Result<Embedding, MetricError> {
    let n = d.nrows();
    lanczos_mds_squared(Mat::from_fn(n, n, |i, j| d[(i, j)] * d[(i, j)]), dims)
}

/// [`lanczos_mds`] from the squared distances, taken by value: the only n × n matrix held.
pub fn lanczos_mds_squared(sq: Mat<f64>, dims: usize) -> Result<Embedding, MetricError> {
    let n = sq.nrows();
    let centre = |v: &mut [f64]| {
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        v.iter_mut().for_each(|x| *x -= mean);
    };
    let apply = |x: &[f64]| -> Vec<f64> {
        let mut jx = x.to_vec();
        centre(&mut jx);
        let jxm = MatRef::from_column_major_slice(&jx, n, 1);
        let y = sq.as_ref() * jxm;
        let mut out: Vec<f64> = (0..n).map(|i| -0.5 * y[(i, 0)]).collect();
        centre(&mut out);
        out
    };
    // tr B = −½ Σ_i (D²_ii − 2 r_i + g) = Σ_i r_i − n g / ... computed directly:
    let rows: Vec<f64> = (0..n).map(|i| (0..n).map(|j| sq[(i, j)]).sum::<f64>() / n as f64).collect();
    let grand = rows.iter().sum::<f64>() / n as f64;
    let trace = (0..n).map(|i| -0.5 * (sq[(i, i)] - 2.0 * rows[i] + grand)).sum();
    let mut steps = (3 * dims + 40).min(n - 1);
    loop {
        let (vals, vecs, converged) = lanczos(&apply, n, steps, dims)?;
        if converged || steps >= n - 1 {
            let mut v = Mat::from_fn(n, dims.min(vecs.ncols()), |i, j| vecs[(i, j)]);
            fix_signs(&mut v);
            return Ok(Embedding { coordinates: scale_columns(v, &vals), eigenvalues: vals, complete: false, trace });
        }
        steps = (steps * 2).min(n - 1);
    }
}

/// `steps` Lanczos steps from a deterministic start; returns all Ritz values (descending),
/// the Ritz vectors of the top `want`, and whether those converged.
fn lanczos(
    apply: &dyn Fn(&[f64]) -> Vec<f64>,
    n: usize,
    steps: usize,
    want: usize,
) -> Result<(Vec<f64>, Mat<f64>, bool), MetricError> {
    let mut q: Vec<Vec<f64>> = Vec::with_capacity(steps + 1);
    // a start vector orthogonal to 1 (B annihilates 1) with no special structure
    let mut v: Vec<f64> = (0..n).map(|i| ((i as f64 + 1.0) * 0.618_033_988_75).fract() - 0.5).collect();
    let mean = v.iter().sum::<f64>() / n as f64;
    v.iter_mut().for_each(|x| *x -= mean);
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    v.iter_mut().for_each(|x| *x /= norm);
    q.push(v);
    let (mut alpha, mut beta) = (Vec::new(), Vec::new());
    for j in 0..steps {
        let mut w = apply(&q[j]);
        let a: f64 = w.iter().zip(&q[j]).map(|(x, y)| x * y).sum();
        alpha.push(a);
        // full reorthogonalisation (twice is enough)
        for _ in 0..2 {
            for qi in &q {
                let c: f64 = w.iter().zip(qi).map(|(x, y)| x * y).sum();
                w.iter_mut().zip(qi).for_each(|(x, y)| *x -= c * y);
            }
        }
        let b = w.iter().map(|x| x * x).sum::<f64>().sqrt();
        if j + 1 == steps || b < 1e-12 {
            break;
        }
        beta.push(b);
        q.push(w.into_iter().map(|x| x / b).collect());
    }
    let m = alpha.len();
    let t = Mat::from_fn(m, m, |i, j| {
        if i == j {
            alpha[i]
        } else if i + 1 == j || j + 1 == i {
            beta[i.min(j)]
        } else {
            0.0
        }
    });
    let e = t.self_adjoint_eigen(Side::Lower).map_err(|_| MetricError::Eigen)?;
    let order: Vec<usize> = (0..m).rev().collect();
    let vals: Vec<f64> = order.iter().map(|&i| e.S().column_vector()[i]).collect();
    let k = want.min(m);
    let last_beta = if beta.len() == m { beta[m - 1] } else { 0.0 };
    let scale = vals.iter().fold(0.0f64, |a, v| a.max(v.abs())).max(1e-300);
    let converged = (0..k).all(|j| (last_beta * e.U()[(m - 1, order[j])]).abs() < 1e-10 * scale);
    let vecs = Mat::from_fn(n, k, |i, j| (0..m).map(|s| q[s][i] * e.U()[(s, order[j])]).sum());
    Ok((vals, vecs, converged))
}

/// Euclidean distances between the rows of `y`.
pub fn embedded_distances(y: MatRef<'_, f64>) -> Mat<f64> {
    let n = y.nrows();
    Mat::from_fn(n, n, |i, j| (0..y.ncols()).map(|c| (y[(i, c)] - y[(j, c)]).powi(2)).sum::<f64>().sqrt())
}

/// The distortion of coordinates `y` against distances `d`, with the spectrum `eigenvalues`
/// (descending) of which the first `dims` were used.
pub fn distortion(d: MatRef<'_, f64>, y: MatRef<'_, f64>, eigenvalues: &[f64], dims: usize) -> Distortion {
    let n = d.nrows();
    // (+ 0.0 turns the −0.0 of an empty float sum into 0.0)
    let pos: f64 = eigenvalues.iter().filter(|&&l| l > 0.0).sum::<f64>() + 0.0;
    let neg: f64 = eigenvalues.iter().filter(|&&l| l < 0.0).map(|l| -l).sum::<f64>() + 0.0;
    let used: f64 = eigenvalues.iter().take(dims).filter(|&&l| l > 0.0).sum();
    let (mut num, mut den) = (0.0, 0.0);
    let (mut sd, mut se, mut sdd, mut see, mut sde, mut count) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for i in 0..n {
        for j in (i + 1)..n {
            let dij = d[(i, j)];
            let eij = (0..y.ncols()).map(|c| (y[(i, c)] - y[(j, c)]).powi(2)).sum::<f64>().sqrt();
            num += (dij - eij).powi(2);
            den += dij * dij;
            sd += dij;
            se += eij;
            sdd += dij * dij;
            see += eij * eij;
            sde += dij * eij;
            count += 1.0;
        }
    }
    let cov = sde / count - (sd / count) * (se / count);
    let var_d = sdd / count - (sd / count).powi(2);
    let var_e = see / count - (se / count).powi(2);
    Distortion {
        positive_mass: pos / (pos + neg),
        negative_mass: neg / (pos + neg),
        captured: if pos > 0.0 { used / pos } else { 0.0 },
        stress_1: (num / den).sqrt(),
        distance_correlation: cov / (var_d * var_e).sqrt(),
    }
}

/// Maxmin landmark choice: start at point 0, then repeatedly the point farthest from the
/// chosen set. Deterministic.
pub fn maxmin_landmarks(d: MatRef<'_, f64>, count: usize) -> Vec<usize> {
    let n = d.nrows();
    let count = count.min(n);
    let mut chosen = vec![0usize];
    let mut nearest: Vec<f64> = (0..n).map(|i| d[(i, 0)]).collect();
    while chosen.len() < count {
        let next = (0..n).max_by(|&a, &b| nearest[a].total_cmp(&nearest[b])).unwrap_or(0);
        if nearest[next] <= 0.0 {
            break;
        }
        chosen.push(next);
        for i in 0..n {
            nearest[i] = nearest[i].min(d[(i, next)]);
        }
    }
    chosen
}

/// Landmark MDS (§3.3): classical MDS of the landmarks, kept to place any point from its
/// distances to them without moving anything already placed.
#[derive(Clone, Debug)]
pub struct LandmarkMds {
    /// Λ_k^{−½} V_kᵀ scaled by −½: k × L.
    projector: Mat<f64>,
    /// δ̄: mean squared distance from each landmark to the landmarks.
    mean_sq: Vec<f64>,
    pub eigenvalues: Vec<f64>,
    pub dims: usize,
}

impl LandmarkMds {
    /// From the L × L distances between landmarks; keeps the positive eigenpairs among the
    /// top `dims`.
    pub fn new(landmark_d: MatRef<'_, f64>, dims: usize) -> Result<LandmarkMds, MetricError> {
        let l = landmark_d.nrows();
        if l <= dims {
            return Err(MetricError::Parameter {
                key: "landmarks",
                reason: format!("need more landmarks ({l}) than dimensions ({dims})"),
            });
        }
        let b = double_centred(landmark_d);
        let e = b.self_adjoint_eigen(Side::Lower).map_err(|_| MetricError::Eigen)?;
        let order: Vec<usize> = (0..l).rev().collect();
        let eigenvalues: Vec<f64> = order.iter().map(|&i| e.S().column_vector()[i]).collect();
        let mut v = Mat::from_fn(l, dims, |i, j| e.U()[(i, order[j])]);
        fix_signs(&mut v);
        let projector = Mat::from_fn(dims, l, |j, i| {
            let lam = eigenvalues[j];
            if lam > 0.0 { -0.5 * v[(i, j)] / lam.sqrt() } else { 0.0 }
        });
        let mean_sq = (0..l).map(|i| (0..l).map(|j| landmark_d[(i, j)].powi(2)).sum::<f64>() / l as f64).collect();
        Ok(LandmarkMds { projector, mean_sq, eigenvalues, dims })
    }

    /// y_x = −½ Λ_k^{−½} V_kᵀ (δ_x − δ̄), from the point's distances to the landmarks.
    pub fn place(&self, to_landmarks: &[f64]) -> Vec<f64> {
        (0..self.dims)
            .map(|j| {
                to_landmarks
                    .iter()
                    .zip(&self.mean_sq)
                    .enumerate()
                    .map(|(i, (d, m))| self.projector[(j, i)] * (d * d - m))
                    .sum()
            })
            .collect()
    }
}

/// The generalized Procrustes (Fréchet) mean under the Euclidean shape metric
/// min_R ‖X − Y R‖ (netrep `frechet_mean`, method "full_batch"): X̄ ← mean_i X_i R_i(X̄),
/// starting from the first input, until ‖X̄ − X̄_old‖/√(mn) < tol or `max_iter`. Inputs
/// share one shape (pad and centre beforehand). Returns (X̄, aligned X_i R_i, iterations).
pub fn frechet_mean(xs: &[Matrix], tol: f64, max_iter: usize) -> Result<(Mat<f64>, Vec<Mat<f64>>, usize), MetricError> {
    let first = xs.first().ok_or(MetricError::TooSmall { rows: 0, cols: 0 })?;
    let (m, n) = (first.rows(), first.cols());
    if let Some(bad) = xs.iter().find(|x| x.rows() != m || x.cols() != n) {
        return Err(MetricError::ShapeMismatch {
            a: vec![m, n],
            b: vec![bad.rows(), bad.cols()],
            what: "pad inputs to one shape",
        });
    }
    let mut mean = first.to_faer();
    let mut aligned = Vec::new();
    for it in 1..=max_iter {
        aligned = xs
            .iter()
            .map(|x| procrustes_from_cross(x.view().transpose() * mean.as_ref()).map(|r| x.view() * r))
            .collect::<Result<Vec<_>, _>>()?;
        let mut next = Mat::<f64>::zeros(m, n);
        for a in &aligned {
            next += a;
        }
        next *= faer::Scale(1.0 / xs.len() as f64);
        let change = (&next - &mean).norm_l2() / ((m * n) as f64).sqrt();
        mean = next;
        if change < tol {
            return Ok((mean, aligned, it));
        }
    }
    Ok((mean, aligned, max_iter))
}

/// Tangent-space embedding at the Fréchet mean: v_i = vec(X̄ − X_i R_i), PCA through the
/// K × K Gram matrix of the centred v_i (§3.4). Returns (coordinates, eigenvalues).
pub fn tangent_embedding(
    mean: MatRef<'_, f64>,
    aligned: &[Mat<f64>],
    dims: usize,
) -> Result<(Mat<f64>, Vec<f64>), MetricError> {
    let k = aligned.len();
    let tangents: Vec<Mat<f64>> = aligned.iter().map(|a| mean - a).collect();
    let mut avg = Mat::<f64>::zeros(mean.nrows(), mean.ncols());
    for t in &tangents {
        avg += t;
    }
    avg *= faer::Scale(1.0 / k as f64);
    let centred: Vec<Mat<f64>> = tangents.iter().map(|t| t - &avg).collect();
    let gram = Mat::from_fn(k, k, |i, j| {
        let (a, b) = (&centred[i], &centred[j]);
        let mut s = 0.0;
        for c in 0..a.ncols() {
            for r in 0..a.nrows() {
                s += a[(r, c)] * b[(r, c)];
            }
        }
        s
    });
    let e = gram.self_adjoint_eigen(Side::Lower).map_err(|_| MetricError::Eigen)?;
    let order: Vec<usize> = (0..k).rev().collect();
    let vals: Vec<f64> = order.iter().map(|&i| e.S().column_vector()[i]).collect();
    let mut v = Mat::from_fn(k, dims.min(k), |i, j| e.U()[(i, order[j])]);
    fix_signs(&mut v);
    Ok((scale_columns(v, &vals), vals))
}
