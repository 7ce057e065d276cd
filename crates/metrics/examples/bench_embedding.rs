//! Embedding benchmark: classical MDS of N points of a non-Euclidean metric (great circles
//! on S⁹) into k = 10 dimensions with Lanczos, against the dense eigensolver measured at
//! a size where both run, in the same process.
//!
//!     cargo run --release -p repspace-metrics --example bench_embedding [N]
//!
//! Prints times, the Lanczos/dense speed ratio at the shared size, and peak RSS.

use std::time::Instant;

use faer::Mat;
use repspace_metrics::embedding::{classical_mds, lanczos_mds, lanczos_mds_squared};

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse::<f64>().unwrap_or(0.0))
        })
        .unwrap_or(0.0)
        / 1024.0
}

fn sphere_points(n: usize, dim: usize) -> Mat<f64> {
    let mut rng = repspace_metrics::rng::SplitMix64(0x1234_5678);
    let raw = Mat::from_fn(n, dim, |_, _| rng.uniform() - 0.5);
    Mat::from_fn(n, dim, |i, j| raw[(i, j)] / (0..dim).map(|c| raw[(i, c)].powi(2)).sum::<f64>().sqrt())
}

/// Squared great-circle distances, transformed in place from the Gram matrix (one N × N).
fn great_circle_squared(x: &Mat<f64>) -> Mat<f64> {
    let mut g = x * x.transpose();
    for j in 0..g.ncols() {
        for i in 0..g.nrows() {
            g[(i, j)] = if i == j { 0.0 } else { g[(i, j)].clamp(-1.0, 1.0).acos().powi(2) };
        }
    }
    g
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let k = 10;
    // shared size: dense vs Lanczos
    let small = 2000;
    let xs = sphere_points(small, 10);
    let ds = great_circle_squared(&xs);
    let d_small = Mat::from_fn(small, small, |i, j| ds[(i, j)].sqrt());
    let t = Instant::now();
    let dense = classical_mds(d_small.as_ref(), k).expect("dense");
    let t_dense = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let lanczos = lanczos_mds(d_small.as_ref(), k).expect("lanczos");
    let t_lanczos = t.elapsed().as_secs_f64();
    let err = (0..k)
        .map(|j| (dense.eigenvalues[j] - lanczos.eigenvalues[j]).abs() / dense.eigenvalues[0])
        .fold(0.0, f64::max);
    println!(
        "N = {small}: dense eigensolver {t_dense:.2} s, Lanczos {t_lanczos:.2} s, ratio {:.1}x, top-{k} eigenvalue rel. diff {err:.1e}",
        t_dense / t_lanczos
    );
    drop((xs, ds, d_small));
    // the large case
    let t = Instant::now();
    let x = sphere_points(n, 10);
    let sq = great_circle_squared(&x);
    drop(x);
    let t_build = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let e = lanczos_mds_squared(sq, k).expect("lanczos");
    let t_embed = t.elapsed().as_secs_f64();
    let top: Vec<String> = e.eigenvalues.iter().take(3).map(|v| format!("{v:.4e}")).collect();
    let bottom: Vec<String> = e.eigenvalues.iter().rev().take(2).map(|v| format!("{v:.4e}")).collect();
    println!(
        "N = {n}, k = {k}: distance matrix built in {t_build:.1} s, Lanczos MDS {t_embed:.1} s; top eigenvalues [{}], most negative [{}]; peak RSS {:.0} MiB ({:.0} MiB is the N×N matrix)",
        top.join(", "),
        bottom.join(", "),
        peak_rss_mib(),
        (n * n * 8) as f64 / (1024.0 * 1024.0)
    );
}
