//! Networks given by weights through the binary: small MLPs trained here (full-batch
//! gradient descent on three Gaussian classes in 2-D), saved as safetensors + a TOML spec at
//! initialisation and after training. The pullback geometry is evaluated on the probe set,
//! a line and the ternary plane; MSA compares every pair. After training the volume element
//! is magnified where the classifier is uncertain (the paper's observation), so the
//! magnification statistic is positive and larger than at initialisation for most models.

// layer loops index the parallel arrays DIMS, w and b together
#![allow(clippy::needless_range_loop)]

mod common;

use std::collections::HashMap;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use common::*;
use repspace_store::Storage;
use repspace_store::safetensors::write_safetensors;
use repspace_store::tables::read_table;

use repspace_metrics::rng::SplitMix64 as Rng;

/// Three Gaussian classes at 120° on a circle of radius 2.
fn data(rng: &mut Rng, n: usize) -> (Vec<[f64; 2]>, Vec<usize>) {
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for i in 0..n {
        let c = i % 3;
        let a = 2.0 * std::f64::consts::PI * c as f64 / 3.0;
        xs.push([2.0 * a.cos() + 0.8 * rng.normal(), 2.0 * a.sin() + 0.8 * rng.normal()]);
        ys.push(c);
    }
    (xs, ys)
}

/// A 2 → H → H → 3 tanh MLP: weights [out, in] row-major.
#[derive(Clone)]
struct Net {
    w: [Vec<f64>; 3],
    b: [Vec<f64>; 3],
}

const H: usize = 16;
const STEPS: usize = 1500;
const LR: f64 = 1.0;
const DIMS: [(usize, usize); 3] = [(H, 2), (H, H), (3, H)];

impl Net {
    /// PyTorch's default: weights and biases uniform in ±1/√fan_in.
    fn init(rng: &mut Rng) -> Net {
        let uniform = |rng: &mut Rng, count: usize, fan_in: usize| {
            (0..count).map(|_| (2.0 * rng.uniform() - 1.0) / (fan_in as f64).sqrt()).collect::<Vec<_>>()
        };
        Net {
            w: [uniform(rng, H * 2, 2), uniform(rng, H * H, H), uniform(rng, 3 * H, H)],
            b: [uniform(rng, H, 2), uniform(rng, H, H), uniform(rng, 3, H)],
        }
    }

    /// Activations of each layer (pre-readout tanh) and logits.
    fn forward(&self, x: &[f64; 2]) -> (Vec<Vec<f64>>, Vec<f64>) {
        let mut h = x.to_vec();
        let mut acts = vec![h.clone()];
        for l in 0..3 {
            let (o, i) = DIMS[l];
            let z: Vec<f64> =
                (0..o).map(|r| self.b[l][r] + (0..i).map(|c| self.w[l][r * i + c] * h[c]).sum::<f64>()).collect();
            h = if l < 2 { z.iter().map(|v| v.tanh()).collect() } else { z };
            acts.push(h.clone());
        }
        let logits = acts.pop().expect("logits");
        (acts, logits)
    }

    /// One full-batch gradient step of softmax cross-entropy.
    fn step(&mut self, xs: &[[f64; 2]], ys: &[usize], lr: f64) {
        let mut gw = [vec![0.0; H * 2], vec![0.0; H * H], vec![0.0; 3 * H]];
        let mut gb = [vec![0.0; H], vec![0.0; H], vec![0.0; 3]];
        for (x, &y) in xs.iter().zip(ys) {
            let (acts, logits) = self.forward(x);
            let m = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = logits.iter().map(|l| (l - m).exp()).collect();
            let s: f64 = e.iter().sum();
            let mut delta: Vec<f64> = e.iter().enumerate().map(|(k, v)| v / s - f64::from(u8::from(k == y))).collect();
            for l in (0..3).rev() {
                let (o, i) = DIMS[l];
                for r in 0..o {
                    gb[l][r] += delta[r];
                    for c in 0..i {
                        gw[l][r * i + c] += delta[r] * acts[l][c];
                    }
                }
                if l > 0 {
                    delta = (0..i)
                        .map(|c| {
                            (0..o).map(|r| self.w[l][r * i + c] * delta[r]).sum::<f64>() * (1.0 - acts[l][c].powi(2))
                        })
                        .collect();
                }
            }
        }
        let n = xs.len() as f64;
        for l in 0..3 {
            self.w[l].iter_mut().zip(&gw[l]).for_each(|(w, g)| *w -= lr * g / n);
            self.b[l].iter_mut().zip(&gb[l]).for_each(|(b, g)| *b -= lr * g / n);
        }
    }

    fn accuracy(&self, xs: &[[f64; 2]], ys: &[usize]) -> f64 {
        let ok = xs.iter().zip(ys).filter(|(x, y)| {
            let l = self.forward(x).1;
            (0..3).max_by(|&a, &b| l[a].total_cmp(&l[b])) == Some(**y)
        });
        ok.count() as f64 / xs.len() as f64
    }

    fn safetensors(&self) -> Vec<u8> {
        write_safetensors(&[
            ("fc1.weight", &[H, 2], &self.w[0]),
            ("fc1.bias", &[H], &self.b[0]),
            ("fc2.weight", &[H, H], &self.w[1]),
            ("fc2.bias", &[H], &self.b[1]),
            ("out.weight", &[3, H], &self.w[2]),
            ("out.bias", &[3], &self.b[2]),
        ])
    }
}

const SPEC: &str = "feature_layer = 2\n\
    [[layers]]\nweight = \"fc1.weight\"\nbias = \"fc1.bias\"\nactivation = \"tanh\"\n\
    [[layers]]\nweight = \"fc2.weight\"\nbias = \"fc2.bias\"\nactivation = \"tanh\"\n\
    [readout]\nweight = \"out.weight\"\nbias = \"out.bias\"\n";

#[test]
fn trained_networks_magnify_volume_where_they_are_uncertain() {
    let run = RunDir::new();
    let mut rng = Rng(7);
    let (train_x, train_y) = data(&mut rng, 300);
    let (probe_x, _) = data(&mut rng, 90);
    let probe: Vec<f64> = probe_x.iter().flat_map(|p| p.iter().copied()).collect();
    // probe rows 0, 1, 2 are one point of each class: the plane through them spans all three
    run.write("probe.npy", npy(90, 2, &probe));
    run.write("spec.toml", SPEC);
    let mut manifest = String::from("model_id,layer,weights_uri,spec_uri,stage,seed\n");
    let seeds = 8;
    for seed in 0..seeds {
        let mut net = Net::init(&mut Rng(1000 + seed));
        run.write(&format!("nets/s{seed}-init.safetensors"), net.safetensors());
        for _ in 0..STEPS {
            net.step(&train_x, &train_y, LR);
        }
        assert!(net.accuracy(&train_x, &train_y) > 0.85, "seed {seed} trains");
        run.write(&format!("nets/s{seed}-trained.safetensors"), net.safetensors());
        for stage in ["init", "trained"] {
            manifest.push_str(&format!(
                "s{seed}-{stage},features,nets/s{seed}-{stage}.safetensors,spec.toml,{stage},{seed}\n"
            ));
        }
    }
    run.write("manifest.csv", manifest);
    run.write(
        "config.toml",
        "[input]\nmanifest = \"manifest.csv\"\n[output]\nuri = \"out\"\n\
         [[metrics]]\nname = \"msa\"\nkind = \"msa\"\neps = 1e-6\n\
         [geometry]\nprobe = \"probe.npy\"\nline = [0, 1]\nline_steps = 32\nplane = [0, 1, 2]\nplane_steps = 25\nper_point = true\n",
    );
    let out = run.run(&["-w", "2"]);
    assert_success(&out);
    let storage = Storage::new().unwrap();
    let mut magnification: HashMap<String, f64> = HashMap::new();
    for b in read_table(&storage, &run.out(), "geometry_summary").unwrap() {
        let ids = b.column_by_name("model_id").unwrap().as_string::<i32>();
        let m = b.column_by_name("magnification").unwrap().as_primitive::<Float64Type>();
        for i in 0..b.num_rows() {
            assert!(!m.is_null(i));
            magnification.insert(ids.value(i).to_string(), m.value(i));
        }
    }
    assert_eq!(magnification.len(), 2 * seeds as usize);
    let (mut better, mut positive) = (0, 0);
    for seed in 0..seeds {
        let (init, trained) = (magnification[&format!("s{seed}-init")], magnification[&format!("s{seed}-trained")]);
        eprintln!(
            "seed {seed}: magnification (Spearman of log volume vs entropy) init {init:+.3}, trained {trained:+.3}"
        );
        better += usize::from(trained > init);
        positive += usize::from(trained > 0.0);
    }
    // per-slice statistics, for the record
    let mut by: HashMap<(String, String), (Vec<f64>, Vec<f64>)> = HashMap::new();
    for b in read_table(&storage, &run.out(), "geometry_points").unwrap() {
        let ids = b.column_by_name("model_id").unwrap().as_string::<i32>();
        let slice = b.column_by_name("slice").unwrap().as_string::<i32>();
        let vol = b.column_by_name("log10_effective_volume").unwrap().as_primitive::<Float64Type>();
        let ent = b.column_by_name("entropy").unwrap().as_primitive::<Float64Type>();
        for i in 0..b.num_rows() {
            let e = by.entry((ids.value(i).to_string(), slice.value(i).to_string())).or_default();
            e.0.push(vol.value(i));
            e.1.push(ent.value(i));
        }
    }
    let mut keys: Vec<_> = by.keys().cloned().collect();
    keys.sort();
    for k in keys {
        let (v, e) = &by[&k];
        eprintln!("{k:?}: spearman {:+.3}", repspace_metrics::geometry::spearman(v, e));
    }
    // at initialisation the logits are nearly constant, so the statistic there is noise
    // (it ranges over ±0.8 between seeds); after training it is consistently positive
    assert!(positive >= 7, "positive after training: {positive} of {seeds}");
    assert!(better >= 5, "larger than at initialisation for most models: {better} of {seeds}");
    // geometry points: probe + line + plane for every network
    let points: usize = read_table(&storage, &run.out(), "geometry_points").unwrap().iter().map(|b| b.num_rows()).sum();
    assert_eq!(points, 2 * seeds as usize * (90 + 32 + 25 * 25));
    // MSA between every pair of networks, in [0, 1], with per-point values
    let networks = 2 * seeds as usize;
    let pairs = networks * (networks - 1) / 2;
    let msa = run.distances();
    assert_eq!(msa.len(), pairs);
    assert!(msa.iter().all(|d| d.metric == "msa" && (0.0..=1.0).contains(&d.distance)));
    let per_point: usize = read_table(&storage, &run.out(), "msa_points").unwrap().iter().map(|b| b.num_rows()).sum();
    assert_eq!(per_point, pairs * 90);
    // no two networks induce the same geometry (not even init and trained of one seed)
    assert!(msa.iter().all(|d| d.distance > 0.0));
}
