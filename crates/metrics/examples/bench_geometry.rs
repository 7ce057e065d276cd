//! Per-point cost of the pullback geometry's volume elements (issue 17 item 5): MLPs shaped as
//! the demo zoo's (64 inputs, depth 1–3, width 16 or 64, tanh / relu / gelu, PyTorch's default
//! uniform init scaled by `gain`), evaluated at uniform points in [0, 1]⁶⁴. For each network:
//! the Jacobian's evaluation, the volume over all min(n, d) terms by the SVD
//! (`log10_singular_values_by_svd`, summed) and by `log10_volume` (QR, the SVD where its bound
//! is too large) per point, and the largest difference between the two.
//!
//! `cargo run --release --offline -p repspace-metrics --example bench_geometry`
use std::time::Instant;

use faer::Mat;
use repspace_metrics::Matrix;
use repspace_metrics::geometry::{Activation, Dense, Mlp, log10_singular_values_by_svd, log10_volume};
use repspace_metrics::rng::SplitMix64;

const POINTS: usize = 2000;

fn network(rng: &mut SplitMix64, depth: usize, width: usize, activation: Activation, gain: f64) -> Mlp {
    let mut inp = 64;
    let layers = (0..depth)
        .map(|_| {
            let bound = gain / (inp as f64).sqrt();
            let data = (0..width * inp).map(|_| bound * (2.0 * rng.uniform() - 1.0)).collect();
            let weight = Matrix::from_col_major(width, inp, data);
            let bias = (0..width).map(|_| bound * (2.0 * rng.uniform() - 1.0)).collect();
            inp = width;
            Dense { weight, bias, activation, residual: false }
        })
        .collect();
    Mlp { layers, feature_layer: depth, readout: None }
}

fn main() {
    faer::set_global_parallelism(faer::Par::Seq);
    let mut rng = SplitMix64(3);
    let points: Vec<Vec<f64>> = (0..POINTS).map(|_| (0..64).map(|_| rng.uniform()).collect()).collect();
    println!("per point, microseconds: evaluate | SVD | QR or SVD; max |Δ volume| (log₁₀)");
    let (mut total_eval, mut total_svd, mut total_qr) = (0.0, 0.0, 0.0);
    for activation in [Activation::Tanh, Activation::Relu, Activation::Gelu] {
        for depth in [1, 2, 3] {
            for width in [16, 64] {
                for gain in [1.0, 4.0] {
                    let net = network(&mut rng, depth, width, activation, gain);
                    let t = Instant::now();
                    let jac: Vec<Mat<f64>> = points.iter().map(|x| net.evaluate(x).jacobian).collect();
                    let eval = t.elapsed().as_secs_f64();
                    let t = Instant::now();
                    let svd: Vec<f64> = jac
                        .iter()
                        .map(|j| log10_singular_values_by_svd(j.as_ref()).expect("svd").iter().sum())
                        .collect();
                    let by_svd = t.elapsed().as_secs_f64();
                    let t = Instant::now();
                    let qr: Vec<f64> =
                        jac.iter().map(|j| log10_volume(j.as_ref(), 64.min(width)).expect("volume")).collect();
                    let by_qr = t.elapsed().as_secs_f64();
                    let worst = qr.iter().zip(&svd).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
                    total_eval += eval;
                    total_svd += by_svd;
                    total_qr += by_qr;
                    let us = |s: f64| 1e6 * s / POINTS as f64;
                    println!(
                        "{activation:?} depth {depth} width {width:>2} gain {gain}: {:7.1} | {:6.1} | {:6.1}; {worst:.1e}",
                        us(eval),
                        us(by_svd),
                        us(by_qr),
                    );
                }
            }
        }
    }
    println!("all networks: evaluate {total_eval:.3} s, volumes by SVD {total_svd:.3} s, by QR {total_qr:.3} s");
}
