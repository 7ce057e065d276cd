//! Euclidean embeddings (docs/math.md §3) on configurations with known answers.

use faer::{Mat, MatRef, Side};
use repspace_metrics::Matrix;
use repspace_metrics::embedding::{
    DENSE_LIMIT, LandmarkMds, classical_mds, distortion, frechet_mean, lanczos_mds, maxmin_landmarks, tangent_embedding,
};

use repspace_metrics::rng::SplitMix64 as Rng;

/// Draws used by these tests.
trait Draw {
    fn points(&mut self, n: usize, d: usize) -> Mat<f64>;
}

impl Draw for Rng {
    fn points(&mut self, n: usize, d: usize) -> Mat<f64> {
        Mat::from_fn(n, d, |_, _| self.normal())
    }
}

fn euclidean(x: MatRef<'_, f64>) -> Mat<f64> {
    let n = x.nrows();
    Mat::from_fn(n, n, |i, j| (0..x.ncols()).map(|c| (x[(i, c)] - x[(j, c)]).powi(2)).sum::<f64>().sqrt())
}

/// Largest residual after the best rigid motion (translation + orthogonal map) of y onto x.
fn aligned_error(x: MatRef<'_, f64>, y: MatRef<'_, f64>) -> f64 {
    let centre = |a: MatRef<'_, f64>| {
        let means: Vec<f64> = (0..a.ncols()).map(|c| a.col(c).iter().sum::<f64>() / a.nrows() as f64).collect();
        Mat::from_fn(a.nrows(), a.ncols(), |i, j| a[(i, j)] - means[j])
    };
    let (xc, yc) = (centre(x), centre(y));
    let svd = (yc.transpose() * &xc).svd().unwrap();
    let r = svd.U() * svd.V().transpose();
    let fitted = &yc * r;
    (0..xc.nrows())
        .flat_map(|i| (0..xc.ncols()).map(move |j| (i, j)))
        .map(|(i, j)| (fitted[(i, j)] - xc[(i, j)]).abs())
        .fold(0.0, f64::max)
}

#[test]
fn points_in_r5_are_recovered_exactly() {
    let mut rng = Rng(1);
    let x = rng.points(40, 5);
    let d = euclidean(x.as_ref());
    let e = classical_mds(d.as_ref(), 5).unwrap();
    assert!(e.complete);
    let err = aligned_error(x.as_ref(), e.coordinates.as_ref());
    assert!(err < 1e-9, "coordinates recovered up to a rigid motion: {err}");
    let f = distortion(d.as_ref(), e.coordinates.as_ref(), &e.eigenvalues, 5);
    assert!(f.negative_mass < 1e-12, "a Euclidean configuration has no negative mass: {}", f.negative_mass);
    assert!(f.stress_1 < 1e-10, "stress {}", f.stress_1);
    assert!((f.captured - 1.0).abs() < 1e-12);
    assert!((f.distance_correlation - 1.0).abs() < 1e-12);
    assert_eq!(e.eigenvalues.iter().filter(|&&l| l > 1e-8).count(), 5, "rank 5");
}

#[test]
fn great_circle_distances_are_not_euclidean_and_chords_are() {
    let mut rng = Rng(2);
    let raw = rng.points(60, 3);
    let sphere = Mat::from_fn(60, 3, |i, j| raw[(i, j)] / (0..3).map(|c| raw[(i, c)].powi(2)).sum::<f64>().sqrt());
    let n = sphere.nrows();
    let dot = |i: usize, j: usize| (0..3).map(|c| sphere[(i, c)] * sphere[(j, c)]).sum::<f64>().clamp(-1.0, 1.0);
    let great = Mat::from_fn(n, n, |i, j| if i == j { 0.0 } else { dot(i, j).acos() });
    let e = classical_mds(great.as_ref(), 3).unwrap();
    let f = distortion(great.as_ref(), e.coordinates.as_ref(), &e.eigenvalues, 3);
    // direct computation: B by explicit sums, its eigenvalues, ν and stress
    let mut b = Mat::<f64>::zeros(n, n);
    let sq = |i: usize, j: usize| great[(i, j)] * great[(i, j)];
    let row: Vec<f64> = (0..n).map(|i| (0..n).map(|j| sq(i, j)).sum::<f64>() / n as f64).collect();
    let all: f64 = row.iter().sum::<f64>() / n as f64;
    for i in 0..n {
        for j in 0..n {
            b[(i, j)] = -0.5 * (sq(i, j) - row[i] - row[j] + all);
        }
    }
    let lams = b.self_adjoint_eigenvalues(Side::Lower).unwrap();
    let neg: f64 = lams.iter().filter(|&&l| l < 0.0).map(|l| -l).sum();
    let abs: f64 = lams.iter().map(|l| l.abs()).sum();
    assert!(neg / abs > 1e-3, "great circles on S² are not Euclidean: ν = {}", neg / abs);
    assert!((f.negative_mass - neg / abs).abs() < 1e-12, "ν {} vs direct {}", f.negative_mass, neg / abs);
    let (mut num, mut den) = (0.0, 0.0);
    for i in 0..n {
        for j in (i + 1)..n {
            let e_ij = (0..3).map(|c| (e.coordinates[(i, c)] - e.coordinates[(j, c)]).powi(2)).sum::<f64>().sqrt();
            num += (great[(i, j)] - e_ij).powi(2);
            den += great[(i, j)].powi(2);
        }
    }
    assert!(f.stress_1 > 1e-3 && (f.stress_1 - (num / den).sqrt()).abs() < 1e-12, "stress {}", f.stress_1);
    // chord distances 2 sin(d/2) embed exactly in R³ (§3.1)
    let chord = Mat::from_fn(n, n, |i, j| 2.0 * (great[(i, j)] / 2.0).sin());
    let c = classical_mds(chord.as_ref(), 3).unwrap();
    let fc = distortion(chord.as_ref(), c.coordinates.as_ref(), &c.eigenvalues, 3);
    assert!(fc.negative_mass < 1e-12 && fc.stress_1 < 1e-10, "chords: ν {} stress {}", fc.negative_mass, fc.stress_1);
}

#[test]
fn held_back_points_are_placed_at_their_full_mds_coordinates() {
    let mut rng = Rng(3);
    let x = rng.points(45, 4);
    let d = euclidean(x.as_ref());
    let full = classical_mds(d.as_ref(), 4).unwrap().coordinates;
    // landmarks among the first 40 points only; the last 5 are held back
    let first40 = Mat::from_fn(40, 40, |i, j| d[(i, j)]);
    let landmarks = maxmin_landmarks(first40.as_ref(), 12);
    assert_eq!(landmarks.len(), 12);
    let ld = Mat::from_fn(12, 12, |a, b| d[(landmarks[a], landmarks[b])]);
    let lmds = LandmarkMds::new(ld.as_ref(), 4).unwrap();
    let placed = Mat::from_fn(45, 4, |i, j| {
        let to: Vec<f64> = landmarks.iter().map(|&l| d[(i, l)]).collect();
        lmds.place(&to)[j]
    });
    let err = aligned_error(full.as_ref(), placed.as_ref());
    assert!(err < 1e-8, "placed coordinates match full MDS after alignment: {err}");
    // landmarks map to their own landmark-MDS coordinates, and placing never moves others
    let again = lmds.place(&landmarks.iter().map(|&l| d[(44, l)]).collect::<Vec<_>>());
    assert!((0..4).all(|j| (again[j] - placed[(44, j)]).abs() < 1e-14));
}

#[test]
fn lanczos_agrees_with_the_dense_solver() {
    let mut rng = Rng(4);
    // a non-Euclidean metric: great circles on S⁴ (both ends of the spectrum matter)
    let raw = rng.points(300, 5);
    let n = raw.nrows();
    let norm = |i: usize| (0..5).map(|c| raw[(i, c)].powi(2)).sum::<f64>().sqrt();
    let d = Mat::from_fn(n, n, |i, j| {
        if i == j {
            0.0
        } else {
            ((0..5).map(|c| raw[(i, c)] * raw[(j, c)]).sum::<f64>() / (norm(i) * norm(j))).clamp(-1.0, 1.0).acos()
        }
    });
    assert!(n <= DENSE_LIMIT);
    let dense = classical_mds(d.as_ref(), 6).unwrap();
    let lanczos = lanczos_mds(d.as_ref(), 6).unwrap();
    for j in 0..6 {
        assert!((dense.eigenvalues[j] - lanczos.eigenvalues[j]).abs() < 1e-8 * dense.eigenvalues[0], "λ_{j}");
    }
    assert!((dense.trace - lanczos.trace).abs() < 1e-9 * dense.trace.abs());
    let diff = (0..n)
        .flat_map(|i| (0..6).map(move |j| (i, j)))
        .map(|(i, j)| (dense.coordinates[(i, j)] - lanczos.coordinates[(i, j)]).abs())
        .fold(0.0, f64::max);
    assert!(diff < 1e-6, "same coordinates (signs fixed the same way): {diff}");
}

#[test]
fn frechet_mean_of_rotated_copies_and_its_tangent_embedding() {
    let mut rng = Rng(5);
    let base = rng.points(30, 4);
    let xs: Vec<Matrix> = (0..8)
        .map(|k| {
            let q = rng.points(4, 4).qr().compute_Q();
            let noisy = Mat::from_fn(30, 4, |i, j| base[(i, j)] + 0.05 * (k as f64 + 1.0) * rng.normal());
            let rotated = &noisy * q;
            let means: Vec<f64> = (0..4).map(|c| rotated.col(c).iter().sum::<f64>() / 30.0).collect();
            Matrix::from_fn(30, 4, |i, j| rotated[(i, j)] - means[j])
        })
        .collect();
    let (mean, aligned, iterations) = frechet_mean(&xs, 1e-10, 100).unwrap();
    assert!(iterations < 100, "converged");
    // the mean is a stationary point: every aligned copy's rotation onto it is the identity
    for a in &aligned {
        let svd = (a.transpose() * &mean).svd().unwrap();
        let r = svd.U() * svd.V().transpose();
        let off = (&r - Mat::<f64>::identity(4, 4)).norm_l2();
        assert!(off < 1e-6, "re-aligning the aligned copies changes nothing: {off}");
    }
    // tangent distances approximate the Euclidean shape distances near the mean
    let (coords, vals) = tangent_embedding(mean.as_ref(), &aligned, 8).unwrap();
    assert!(vals.iter().all(|&l| l > -1e-9), "a Gram matrix has no negative eigenvalues");
    let shape = |a: &Matrix, b: &Matrix| {
        let nuc: f64 = (a.view().transpose() * b.view()).singular_values().unwrap().iter().sum();
        (a.view().squared_norm_l2() + b.view().squared_norm_l2() - 2.0 * nuc).max(0.0).sqrt()
    };
    let d = Mat::from_fn(8, 8, |i, j| shape(&xs[i], &xs[j]));
    let f = distortion(d.as_ref(), coords.as_ref(), &vals, 8);
    assert!(f.distance_correlation > 0.99 && f.stress_1 < 0.1, "tangent embedding: {f:?}");
}
