//! The embedded demo zoo: forward passes of small random MLPs of varied width, depth and
//! activation on one fixed set of stimuli, written as one `.npz` per model plus a CSV
//! manifest. Deterministic: the same arguments write the same bytes.

use std::path::PathBuf;

use anyhow::{Context, Result};
use repspace_metrics::rng::SplitMix64;
use repspace_store::npy::{write_npy, write_npz};
use repspace_store::{Location, Storage};

#[derive(clap::Args, Debug)]
pub struct DemoZooArgs {
    /// Directory to write `manifest.csv` and `models/*.npz` into.
    #[arg(long, default_value = "configs/demo_zoo")]
    pub out: PathBuf,
    /// Training stimuli (rows of every representation).
    #[arg(long, default_value_t = 120)]
    pub stimuli: usize,
    /// Held-out stimuli.
    #[arg(long, default_value_t = 60)]
    pub test_stimuli: usize,
    /// Seeds per (width, depth, activation) architecture.
    #[arg(long, default_value_t = 2)]
    pub seeds: usize,
}

/// SplitMix64 with Box–Muller normals. The demo zoo's uniforms sit at bin centres
/// ((k + ½)/2⁵³, never 0); kept as they are so the committed zoo stays byte-identical.
struct Rng(SplitMix64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        ((self.0.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

const INPUT_DIM: usize = 12;
const CLUSTERS: usize = 6;

/// Stimuli: a mixture of Gaussian clusters in INPUT_DIM dimensions (row-major).
fn stimuli(rng: &mut Rng, centres: &[Vec<f64>], count: usize) -> Vec<f64> {
    let mut x = Vec::with_capacity(count * INPUT_DIM);
    for i in 0..count {
        let c = &centres[i % CLUSTERS];
        for &mu in c.iter() {
            x.push(mu + 0.6 * rng.normal());
        }
    }
    x
}

/// One dense layer with activation: y = act(x W / √fan_in + b), row-major.
fn layer(x: &[f64], rows: usize, fan_in: usize, w: &[f64], b: &[f64], act: &str) -> Vec<f64> {
    let width = b.len();
    let mut y = vec![0.0; rows * width];
    let scale = 1.0 / (fan_in as f64).sqrt();
    for i in 0..rows {
        for j in 0..width {
            let mut s = b[j];
            for k in 0..fan_in {
                s += x[i * fan_in + k] * w[k * width + j] * scale * 1.5;
            }
            y[i * width + j] = match act {
                "relu" => s.max(0.0),
                _ => s.tanh(),
            };
        }
    }
    y
}

pub fn write_demo_zoo(args: &DemoZooArgs) -> Result<()> {
    let storage = Storage::new()?;
    let root = Location::from_path(&args.out)?;
    let mut rng = Rng(SplitMix64(20_261_123));
    let centres: Vec<Vec<f64>> = (0..CLUSTERS).map(|_| (0..INPUT_DIM).map(|_| 2.0 * rng.normal()).collect()).collect();
    let train = stimuli(&mut rng, &centres, args.stimuli);
    let test = stimuli(&mut rng, &centres, args.test_stimuli);
    let mut manifest = String::from("model_id,layer,layer_index,uri,key,test_key,width,depth,activation,seed\n");
    let mut count = 0;
    for &act in &["tanh", "relu"] {
        for &depth in &[2usize, 3, 4] {
            for &width in &[8usize, 16, 32, 48] {
                for seed in 0..args.seeds {
                    let model_id = format!("mlp-{act}-d{depth}-w{width}-s{seed}");
                    let mut wrng = Rng(SplitMix64(
                        0x5eed ^ (seed as u64) << 32 ^ (width as u64) << 16 ^ (depth as u64) << 8 ^ act.len() as u64,
                    ));
                    let (mut h_train, mut h_test, mut fan_in) = (train.clone(), test.clone(), INPUT_DIM);
                    let mut members = Vec::new();
                    for l in 1..=depth {
                        let w: Vec<f64> = (0..fan_in * width).map(|_| wrng.normal()).collect();
                        let b: Vec<f64> = (0..width).map(|_| 0.1 * wrng.normal()).collect();
                        h_train = layer(&h_train, args.stimuli, fan_in, &w, &b, act);
                        h_test = layer(&h_test, args.test_stimuli, fan_in, &w, &b, act);
                        fan_in = width;
                        members.push((format!("layer{l}"), write_npy(&[args.stimuli, width], &h_train, true)));
                        members.push((format!("test_layer{l}"), write_npy(&[args.test_stimuli, width], &h_test, true)));
                        manifest.push_str(&format!(
                            "{model_id},layer{l},{l},models/{model_id}.npz,layer{l},test_layer{l},{width},{depth},{act},{seed}\n"
                        ));
                    }
                    let refs: Vec<(&str, Vec<u8>)> = members.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
                    let bytes = write_npz(&refs).map_err(|e| anyhow::anyhow!("{model_id}: {e}"))?;
                    storage.put(&root.join(&format!("models/{model_id}.npz"))?, bytes.into())?;
                    count += 1;
                }
            }
        }
    }
    storage
        .put(&root.join("manifest.csv")?, manifest.into_bytes().into())
        .with_context(|| format!("writing {root}/manifest.csv"))?;
    println!("wrote {count} models to {root} (manifest.csv, models/*.npz)");
    Ok(())
}
