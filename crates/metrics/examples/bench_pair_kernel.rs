//! Where a W1 pair's time goes: the cross product X_wᵀY_w (2000 × 128 each) against the
//! nuclear norm of the 128 × 128 result by SVD and by the eigenvalues of MᵀM, single thread,
//! best of 5. Also faer's GEMM throughput at a large size, for reference.
//!
//!     cargo run --release -p repspace-metrics --example bench_pair_kernel

use std::time::Instant;

use faer::{Mat, Par, Side};

fn best<T>(mut f: impl FnMut() -> T) -> (f64, T) {
    let mut out = None;
    let mut t_best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        let v = f();
        t_best = t_best.min(t.elapsed().as_secs_f64());
        out = Some(v);
    }
    (t_best, out.expect("ran"))
}

fn main() {
    faer::set_global_parallelism(Par::Seq);
    let (m, n) = (2000, 128);
    let x = Mat::from_fn(m, n, |i, j| ((i * 31 + j * 17) % 97) as f64 / 97.0 - 0.5 + 0.01 * (i as f64).sin());
    let y = Mat::from_fn(m, n, |i, j| ((i * 13 + j * 29) % 89) as f64 / 89.0 - 0.5 + 0.01 * (j as f64).cos());
    let (t_gemm, c) = best(|| x.transpose() * &y);
    let (t_svd, s) = best(|| c.singular_values().unwrap());
    let (t_eig, l) = best(|| (c.transpose() * &c).self_adjoint_eigenvalues(Side::Lower).unwrap());
    let nuc_svd: f64 = s.iter().sum();
    let nuc_eig: f64 = l.iter().map(|v| v.max(0.0).sqrt()).sum();
    let big = 1024;
    let a = Mat::from_fn(big, big, |i, j| ((i + 3 * j) % 7) as f64);
    let (t_big, _) = best(|| &a * &a);
    let gflops = |flops: f64, t: f64| flops / t / 1e9;
    println!("pair kernel (m = {m}, n = {n}, 1 thread):");
    println!("  XᵀY  {:.2} ms  ({:.1} GFLOP/s)", t_gemm * 1e3, gflops(2.0 * (m * n * n) as f64, t_gemm));
    println!("  nuclear norm by SVD            {:.2} ms", t_svd * 1e3);
    println!(
        "  nuclear norm by eig(MᵀM)       {:.2} ms  (relative difference {:.1e})",
        t_eig * 1e3,
        (nuc_eig - nuc_svd).abs() / nuc_svd
    );
    println!("faer GEMM {big}³: {:.1} GFLOP/s (1 thread)", gflops(2.0 * (big * big * big) as f64, t_big));
    // the same product on every core (rayon), the machine's GEMM ceiling for the run
    let threads = std::thread::available_parallelism().map(|t| t.get()).unwrap_or(1);
    faer::set_global_parallelism(Par::rayon(threads));
    let a = Mat::from_fn(big, big, |i, j| ((i + 3 * j) % 7) as f64 - 3.0);
    let b = Mat::from_fn(big, big, |i, j| ((2 * i + j) % 5) as f64 - 2.0);
    let (t_par, _) = best(|| &a * &b);
    println!("faer GEMM {big}³: {:.1} GFLOP/s ({threads} threads)", gflops(2.0 * (big * big * big) as f64, t_par));
}
