//! Time one model's layer path in the shape spaces at transformer width: 7 layers of 149
//! stimuli × 384 units (a shared 32-dimensional signal drifting through the layers, plus
//! noise), as issue 17 describes. `cargo run --release -p repspace-metrics --example bench_path`
use std::time::Instant;

use repspace_metrics::Matrix;
use repspace_metrics::paths::{PathSpec, analyse_path};
use repspace_metrics::rng::SplitMix64;

fn main() {
    let (layers, m, d, k) = (7, 149, 384, 32);
    let mut rng = SplitMix64(5);
    let signal: Vec<f64> = (0..m * k).map(|_| rng.normal()).collect();
    let xs: Vec<Matrix> = (0..layers)
        .map(|l| {
            let readout: Vec<f64> = (0..k * d).map(|_| rng.normal()).collect();
            Matrix::from_fn(m, d, |i, j| {
                let s: f64 = (0..k).map(|c| signal[i * k + c] * readout[c * d + j]).sum::<f64>();
                s * (1.0 + 0.1 * l as f64) + 0.3 * rng_noise(i, j, l)
            })
        })
        .collect();
    for (name, spec) in
        [("shape angular", PathSpec::Shape { angular: true }), ("shape euclidean", PathSpec::Shape { angular: false })]
    {
        let points: Vec<_> = xs.iter().map(|x| spec.point(x).expect("point")).collect();
        let t = Instant::now();
        let a = analyse_path(&spec, &points).expect("path");
        println!(
            "{name}: {layers} layers x {m} x {d}: {:.3} s  (length {:.12}, efficiency {:.12}, projection_t[3] {:.12})",
            t.elapsed().as_secs_f64(),
            a.path_length,
            a.efficiency,
            a.projection_t[3]
        );
    }
}

/// Deterministic noise without shared state.
fn rng_noise(i: usize, j: usize, l: usize) -> f64 {
    let mut r = SplitMix64((i as u64) << 40 ^ (j as u64) << 8 ^ l as u64);
    r.normal()
}
