use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};
use repspace_metrics::rng::SplitMix64;
use std::time::Instant;
fn main() {
    faer::set_global_parallelism(Par::Seq);
    let h: Vec<_> = (0..2).map(|_| std::thread::spawn(run)).collect();
    for t in h {
        t.join().unwrap();
    }
}
fn run() {
    let (m, n, k) = (2000, 128, 32);
    let mut rng = SplitMix64(7);
    let reps: Vec<Mat<f64>> = (0..2 * k).map(|_| Mat::from_fn(m, n, |_, _| rng.normal())).collect();
    for _ in 0..2 {
        // per pair, cold: a 32 x 32 tile of distinct factors
        let t = Instant::now();
        let mut acc = 0.0;
        for i in 0..k {
            for j in 0..k {
                let c = reps[i].transpose() * &reps[k + j];
                acc += c[(0, 0)];
            }
        }
        let per_pair = t.elapsed().as_secs_f64() / (k * k) as f64;
        // stacked panels of p factors
        for p in [4usize, 8, 16] {
            let t = Instant::now();
            let mut c = Mat::<f64>::zeros(p * n, p * n);
            for bi in 0..k / p {
                let sa = Mat::from_fn(m, p * n, |r, col| reps[bi * p + col / n][(r, col % n)]);
                for bj in 0..k / p {
                    let sb = Mat::from_fn(m, p * n, |r, col| reps[k + bj * p + col / n][(r, col % n)]);
                    matmul(c.as_mut(), Accum::Replace, sa.transpose(), sb.as_ref(), 1.0, Par::Seq);
                    acc += c[(0, 0)];
                }
            }
            let stacked = t.elapsed().as_secs_f64() / (k * k) as f64;
            println!(
                "p={p}: per-pair cold {:.3} ms ({:.1} GF/s), stacked {:.3} ms ({:.1} GF/s) {}",
                per_pair * 1e3,
                2.0 * (m * n * n) as f64 / per_pair / 1e9,
                stacked * 1e3,
                2.0 * (m * n * n) as f64 / stacked / 1e9,
                acc > 1e300
            );
        }
    }
}
