//! Per-point cost of the pullback geometry's volume elements (issue 17 item 5): MLPs shaped as
//! the demo zoo's (64 inputs, depth 1–3, width 16 or 64, tanh / relu / gelu, PyTorch's default
//! uniform init scaled by `gain`), evaluated at uniform points in [0, 1]⁶⁴. For each network:
//! the Jacobian's evaluation, the SVD (`log10_singular_values_by_svd`) and the Gram eigenvalues
//! (`log10_singular_values_by_gram`) per point, how often the Gram bound sends a point to the
//! SVD, the cost of that gated choice, and the largest difference between the two where the
//! Gram path is taken.
//!
//! `cargo run --release --offline -p repspace-metrics --example bench_geometry`
use std::time::Instant;

use faer::Mat;
use repspace_metrics::Matrix;
use repspace_metrics::geometry::{
    Activation, Dense, GRAM_LOG10_TOLERANCE, Mlp, log10_singular_values_by_gram, log10_singular_values_by_svd,
};
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
    let mut rng = SplitMix64(3);
    let points: Vec<Vec<f64>> = (0..POINTS).map(|_| (0..64).map(|_| rng.uniform()).collect()).collect();
    println!("per point, microseconds: evaluate | SVD | Gram | chosen; Gram fallback rate; max |Δ sum| where taken");
    let (mut total_svd, mut total_chosen) = (0.0, 0.0);
    for activation in [Activation::Tanh, Activation::Relu, Activation::Gelu] {
        for depth in [1, 2, 3] {
            for width in [16, 64] {
                for gain in [1.0, 4.0] {
                    let net = network(&mut rng, depth, width, activation, gain);
                    let t = Instant::now();
                    let jac: Vec<Mat<f64>> = points.iter().map(|x| net.evaluate(x).jacobian).collect();
                    let eval = t.elapsed().as_secs_f64();
                    let t = Instant::now();
                    let svd: Vec<Vec<f64>> =
                        jac.iter().map(|j| log10_singular_values_by_svd(j.as_ref()).expect("svd")).collect();
                    let by_svd = t.elapsed().as_secs_f64();
                    let t = Instant::now();
                    let gram: Vec<_> = jac.iter().map(|j| log10_singular_values_by_gram(j.as_ref())).collect();
                    let by_gram = t.elapsed().as_secs_f64();
                    // the Gram eigenvalues where their bound allows, the SVD elsewhere
                    let t = Instant::now();
                    for j in &jac {
                        match log10_singular_values_by_gram(j.as_ref()) {
                            Some((_, bound)) if bound <= GRAM_LOG10_TOLERANCE => {}
                            _ => {
                                log10_singular_values_by_svd(j.as_ref()).expect("svd");
                            }
                        }
                    }
                    let chosen = t.elapsed().as_secs_f64();
                    let (mut fallbacks, mut worst) = (0, 0.0f64);
                    for (g, s) in gram.iter().zip(&svd) {
                        match g {
                            Some((logs, bound)) if *bound <= GRAM_LOG10_TOLERANCE => {
                                let diff = (logs.iter().sum::<f64>() - s.iter().sum::<f64>()).abs();
                                worst = worst.max(diff);
                            }
                            _ => fallbacks += 1,
                        }
                    }
                    total_svd += by_svd;
                    total_chosen += chosen;
                    let us = |s: f64| 1e6 * s / POINTS as f64;
                    println!(
                        "{activation:?} depth {depth} width {width:>2} gain {gain}: {:7.1} | {:6.1} | {:6.1} | {:6.1}; fallback {:5.1} %; {worst:.1e}",
                        us(eval),
                        us(by_svd),
                        us(by_gram),
                        us(chosen),
                        100.0 * fallbacks as f64 / POINTS as f64
                    );
                }
            }
        }
    }
    println!("volumes, all networks: SVD {total_svd:.3} s, chosen {total_chosen:.3} s");
}
