//! Where a wide model's layer path spends its time (issue 17 item 4): 7 layers of 149 stimuli
//! × 384 units, as a tanh network of random weights over a Gaussian input and as a shared
//! low-rank signal plus noise, in the `shape` (angular, Euclidean) and `air` spaces. Prints the
//! whole `analyse_path` and its parts (all pairwise distances, the interior angles, the
//! projections onto the first-to-last geodesic), each the best of `REPEATS` runs, and the
//! values a change must keep (to 1e-10).
//!
//! `cargo run --release --offline -p repspace-metrics --example bench_paths [-- --save FILE | --check FILE]`:
//! `--save` writes every value of every analysis (JSON), `--check` compares with such a file
//! and prints the largest relative difference per analysis.
use std::time::Instant;

use repspace_metrics::Matrix;
use repspace_metrics::paths::{PathPoint, PathSpec, analyse_path};
use repspace_metrics::rng::SplitMix64;

const REPEATS: usize = 3;
const LAYERS: usize = 7;
const STIMULI: usize = 149;
const WIDTH: usize = 384;

/// Layer l = tanh(g · X_{l−1} W_l / √width), W_l standard normal, X_0 a Gaussian input.
fn tanh_model(seed: u64) -> Vec<Matrix> {
    let mut rng = SplitMix64(seed);
    let mut x = rng.normal_matrix(STIMULI, WIDTH);
    let mut out = Vec::with_capacity(LAYERS);
    for _ in 0..LAYERS {
        let w = rng.normal_matrix(WIDTH, WIDTH);
        let z = x.view() * w.view() * (1.5 / (WIDTH as f64).sqrt());
        x = Matrix::from_fn(STIMULI, WIDTH, |i, j| z[(i, j)].tanh());
        out.push(x.clone());
    }
    out
}

/// A 32-dimensional signal read out differently by each layer, growing with depth, plus noise.
fn low_rank_model(seed: u64) -> Vec<Matrix> {
    let k = 32;
    let mut rng = SplitMix64(seed);
    let signal = rng.normal_matrix(STIMULI, k);
    (0..LAYERS)
        .map(|l| {
            let readout = rng.normal_matrix(k, WIDTH);
            let noise = rng.normal_matrix(STIMULI, WIDTH);
            let s = signal.view() * readout.view();
            Matrix::from_fn(STIMULI, WIDTH, |i, j| s[(i, j)] * (1.0 + 0.1 * l as f64) + 0.3 * noise.get(i, j))
        })
        .collect()
}

fn best_of(mut f: impl FnMut()) -> f64 {
    (0..REPEATS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// Every number of an analysis, in a fixed order.
fn values(a: &repspace_metrics::paths::PathAnalysis) -> Vec<f64> {
    let mut v: Vec<f64> = a.distances.iter().flatten().copied().collect();
    v.extend(a.angles.iter().flatten());
    v.extend(&a.projection_t);
    v.extend(&a.distance_to_geodesic);
    v.extend([a.path_length, a.efficiency, a.mean_turning_angle.unwrap_or(0.0)]);
    v
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let (save, check) = (flag("--save"), flag("--check"));
    let reference: Option<serde_json::Value> =
        check.map(|f| serde_json::from_str(&std::fs::read_to_string(f).expect("--check file")).expect("JSON"));
    let mut saved = serde_json::Map::new();
    for (model, layers) in [("tanh", tanh_model(17)), ("low-rank", low_rank_model(5))] {
        for (name, spec) in [
            ("shape angular", PathSpec::Shape { angular: true }),
            ("shape euclidean", PathSpec::Shape { angular: false }),
            ("air 0.1", PathSpec::Air { eps: 0.1 }),
        ] {
            let points: Vec<PathPoint> = layers.iter().map(|x| spec.point(x).expect("point")).collect();
            let mut analysis = None;
            let whole = best_of(|| analysis = Some(analyse_path(&spec, &points).expect("path")));
            let n = points.len();
            let distances = best_of(|| {
                for i in 0..n {
                    for j in (i + 1)..n {
                        spec.distance(&points[i], &points[j]).expect("distance");
                    }
                }
            });
            let angles = best_of(|| {
                for k in 1..n - 1 {
                    spec.angle(&points[k - 1], &points[k], &points[k + 1]).expect("angle");
                }
            });
            let projections = best_of(|| {
                for c in &points[1..n - 1] {
                    spec.project(&points[0], &points[n - 1], c).expect("projection");
                }
            });
            let a = analysis.expect("ran");
            let key = format!("{model} {name}");
            let got = values(&a);
            if let Some(r) = reference.as_ref().and_then(|r| r.get(&key)) {
                let want: Vec<f64> = serde_json::from_value(r.clone()).expect("numbers");
                let worst = got.iter().zip(&want).map(|(g, w)| (g - w).abs() / w.abs().max(1.0)).fold(0.0, f64::max);
                println!(
                    "         largest difference from the saved values (relative, or absolute below 1): {worst:.2e}"
                );
            }
            saved.insert(key, serde_json::to_value(&got).expect("numbers"));
            println!(
                "{model:>8} {name:<15} {LAYERS} x {STIMULI} x {WIDTH}: path {whole:.3} s | distances {distances:.3} s, \
                 angles {angles:.3} s, projections {projections:.3} s (apart from analyse_path)"
            );
            println!(
                "         length {:.15e} efficiency {:.15e} turning {:.15e}\n         t {:?}\n         d {:?}",
                a.path_length,
                a.efficiency,
                a.mean_turning_angle.unwrap_or(f64::NAN),
                a.projection_t,
                a.distance_to_geodesic
            );
        }
    }
    if let Some(f) = save {
        std::fs::write(f, serde_json::Value::Object(saved).to_string()).expect("--save file");
    }
}
