//! Where a W1 pair's time goes, single thread, best of several, on two zoo families (tanh
//! layers like scripts/bench_pairs.py): `gaussian`, each layer over a shared full-rank
//! Gaussian input, and `low-rank`, each layer over a shared 24-dimensional signal plus
//! independent noise (a few dozen large singular values of XᵀY and a long tail, as trained
//! zoos have). For each: the cross product X_wᵀY_w (2000 × 128 each) and the nuclear norm of
//! the 128 × 128 result by faer's SVD, by the Gram eigenvalue path (one pair at a time and
//! batched), with how often its error estimate sends a pair to the SVD (estimate above 1e-10
//! of the norm) and its largest relative difference from the SVD on the others; then a whole tile through
//! `compare_block`. Also faer's GEMM throughput at 1024³ on one thread and on all threads.
//!
//!     cargo run --release -p repspace-metrics --example bench_pair_kernel

use std::time::Instant;

use faer::{Mat, MatRef, Par};
use repspace_metrics::nuclear::{
    nuclear_norm_by_eigen, nuclear_norm_by_svd, nuclear_norms_by_bidiagonal, nuclear_norms_by_eigen,
};
use repspace_metrics::rng::SplitMix64;
use repspace_metrics::{Matrix, MetricSpec, Prepared, STACK_BYTES, Score, compare, compare_block, prepare_matrix};

fn best<T>(reps: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut out = None;
    let mut t_best = f64::INFINITY;
    for _ in 0..reps {
        let t = Instant::now();
        let v = f();
        t_best = t_best.min(t.elapsed().as_secs_f64());
        out = Some(v);
    }
    (t_best, out.expect("ran"))
}

/// A centred tanh layer over the shared input `base` (m × r): weights r × n, plus noise.
fn tanh_layer(rng: &mut SplitMix64, base: &Mat<f64>, n: usize, noise: f64) -> Mat<f64> {
    let (m, r) = (base.nrows(), base.ncols());
    let w = Mat::from_fn(r, n, |_, _| rng.normal() / (r as f64).sqrt());
    let z = base * &w;
    let x = Mat::from_fn(m, n, |i, j| (z[(i, j)] + noise * rng.normal()).tanh());
    let mu: Vec<f64> = (0..n).map(|j| x.col(j).iter().sum::<f64>() / m as f64).collect();
    Mat::from_fn(m, n, |i, j| x[(i, j)] - mu[j])
}

/// Fraction of estimates above 1e-10 of the norm, and the largest relative difference from
/// the SVD of the others.
fn fallback_and_error(views: &[MatRef<'_, f64>], est: &[Option<(f64, f64)>], svd: &[f64]) -> (usize, f64) {
    let (mut fallback, mut worst) = (0, 0.0f64);
    for ((_, e), s) in views.iter().zip(est).zip(svd) {
        match e {
            Some((v, err)) if *err <= 1e-10 * v => worst = worst.max((v - s).abs() / s),
            _ => fallback += 1,
        }
    }
    (fallback, worst)
}

fn family(label: &str, rank: usize, noise: f64, rng: &mut SplitMix64) {
    let (m, n, k) = (2000, 128, 24);
    let base = Mat::from_fn(m, rank, |_, _| rng.normal());
    let reps: Vec<Mat<f64>> = (0..k).map(|_| tanh_layer(rng, &base, n, noise)).collect();
    let crosses: Vec<Mat<f64>> =
        (0..k).flat_map(|i| ((i + 1)..k).map(move |j| (i, j))).map(|(i, j)| reps[i].transpose() * &reps[j]).collect();
    let views: Vec<MatRef<'_, f64>> = crosses.iter().map(|c| c.as_ref()).collect();
    let pairs = views.len() as f64;

    let (t_gemm, _) = best(20, || reps[0].transpose() * &reps[1]);
    let (t_svd, svd) = best(3, || views.iter().map(|c| nuclear_norm_by_svd(*c).expect("svd")).collect::<Vec<f64>>());
    let (t_eig, _) = best(3, || views.iter().map(|c| nuclear_norm_by_eigen(*c).map(|v| v.0)).sum::<Option<f64>>());
    let (t_batch, est) = best(3, || nuclear_norms_by_eigen(&views));
    let (fb_eig, err_eig) = fallback_and_error(&views, &est, &svd);
    // with the SVD where the estimate is too large, as the kernel does
    let t_eig_total = t_batch + t_svd / pairs * fb_eig as f64;
    let gflops = |flops: f64, t: f64| flops / t / 1e9;
    println!(
        "{label} zoo (m = {m}, n = {n}, shared input rank {rank}, noise {noise}, 1 thread, {} pairs):",
        pairs as usize
    );
    println!("  XᵀY  {:.3} ms  ({:.1} GFLOP/s)", t_gemm * 1e3, gflops(2.0 * (m * n * n) as f64, t_gemm));
    println!("  nuclear norm by SVD                          {:.3} ms", t_svd / pairs * 1e3);
    println!("  nuclear norm by Gram eigenvalues, one by one {:.3} ms", t_eig / pairs * 1e3);
    println!(
        "  nuclear norm by Gram eigenvalues, batched    {:.3} ms; fallback {fb_eig} of {} pairs; \
         max relative difference from the SVD {err_eig:.1e}; with its fallbacks {:.3} ms",
        t_batch / pairs * 1e3,
        pairs as usize,
        t_eig_total / pairs * 1e3
    );

    let (t_bidiag, est_b) = best(3, || nuclear_norms_by_bidiagonal(&views));
    let (fb_b, err_b) = fallback_and_error(&views, &est_b, &svd);
    let bound_b = est_b.iter().flatten().map(|(v, e)| e / v).fold(0.0, f64::max);
    println!(
        "  nuclear norm by bidiagonal + Golub–Kahan QL  {:.3} ms; fallback {fb_b} of {} pairs; \
         max relative difference from the SVD {err_b:.1e} (bound {bound_b:.1e})",
        t_bidiag / pairs * 1e3,
        pairs as usize,
    );

    // a whole tile: 16 × 16 representations (off-diagonal) and 16 among themselves (diagonal)
    let spec = MetricSpec::shape(1.0, Score::Angular);
    let tile: Vec<Prepared> = (0..32)
        .map(|_| {
            let x = tanh_layer(rng, &base, n, noise);
            prepare_matrix(&spec, &Matrix::from_faer(x.as_ref()), None).expect("prepare")
        })
        .collect();
    let (left, right): (Vec<&Prepared>, Vec<&Prepared>) = (tile[..16].iter().collect(), tile[16..].iter().collect());
    let off: Vec<(usize, usize)> = (0..16).flat_map(|i| (0..16).map(move |j| (i, j))).collect();
    let diag: Vec<(usize, usize)> = (0..16).flat_map(|i| ((i + 1)..16).map(move |j| (i, j))).collect();
    for (label, cols, pairs) in [("off-diagonal", &right, &off), ("diagonal", &left, &diag)] {
        let per_pair =
            |_: ()| pairs.iter().map(|&(i, j)| compare(&spec, left[i], cols[j]).expect("pair").distance).sum::<f64>();
        let (t_one, _) = best(2, || per_pair(()));
        let (t_block, scores) = best(2, || compare_block(&spec, &left, cols, pairs, STACK_BYTES));
        let distances: Vec<f64> = scores.iter().map(|s| s.as_ref().expect("pair").distance).collect();
        let (lo, hi) = distances.iter().fold((f64::INFINITY, 0.0f64), |(l, h), &d| (l.min(d), h.max(d)));
        let n_pairs = pairs.len() as f64;
        println!(
            "  tile kernel, {label} ({} pairs, distances {lo:.2}–{hi:.2} rad): pair by pair {:.3} ms/pair, \
             blocked {:.3} ms/pair ({:.1} GFLOP/s of XᵀY = {:.2} of the XᵀY GEMM alone)",
            pairs.len(),
            t_one / n_pairs * 1e3,
            t_block / n_pairs * 1e3,
            gflops(2.0 * (m * n * n) as f64 * n_pairs, t_block),
            t_gemm * n_pairs / t_block
        );
    }
}

fn main() {
    faer::set_global_parallelism(Par::Seq);
    let mut rng = SplitMix64(7);
    family("gaussian", 128, 0.3, &mut rng);
    family("low-rank", 24, 0.3, &mut rng);
    let gflops = |flops: f64, t: f64| flops / t / 1e9;

    // the sample-space form: 100 stimuli × 1000 units (a recording with more neurons than stimuli)
    let (ms, ns) = (100, 1000);
    let xs = Mat::from_fn(ms, ns, |_, _| rng.normal());
    let ys = Mat::from_fn(ms, ns, |_, _| rng.normal());
    let (t_full, full) = best(2, || nuclear_norm_by_svd((xs.transpose() * &ys).as_ref()).expect("svd"));
    let (rx, ry) = (xs.transpose().qr().thin_R().to_owned(), ys.transpose().qr().thin_R().to_owned());
    let (t_thin, thin) = best(5, || nuclear_norm_by_svd((&rx * ry.transpose()).as_ref()).expect("svd"));
    println!(
        "sample-space form (m = {ms}, n = {ns}): n × n cross product + SVD {:.1} ms, m × m {:.3} ms; relative difference {:.1e}",
        t_full * 1e3,
        t_thin * 1e3,
        (full - thin).abs() / full
    );

    let big = 1024;
    let a = Mat::from_fn(big, big, |i, j| ((i + 3 * j) % 7) as f64);
    let (t_big, _) = best(5, || &a * &a);
    println!("faer GEMM {big}³: {:.1} GFLOP/s (1 thread)", gflops(2.0 * (big * big * big) as f64, t_big));
    // the same product on every core (rayon), the machine's GEMM ceiling for the run
    let threads = std::thread::available_parallelism().map(|t| t.get()).unwrap_or(1);
    faer::set_global_parallelism(Par::rayon(threads));
    let a = Mat::from_fn(big, big, |i, j| ((i + 3 * j) % 7) as f64 - 3.0);
    let b = Mat::from_fn(big, big, |i, j| ((2 * i + j) % 5) as f64 - 2.0);
    let (t_par, _) = best(5, || &a * &b);
    println!("faer GEMM {big}³: {:.1} GFLOP/s ({threads} threads)", gflops(2.0 * (big * big * big) as f64, t_par));
}
