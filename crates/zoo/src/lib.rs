//! A zoo of MLPs trained on the handwritten digits with candle, written as repspace input:
//! weights (safetensors) and network specs for the geometry stage, activations of every
//! layer on a fixed probe set (the held-out test images), and a manifest with
//! depth/width/activation/seed/epoch/accuracy metadata. Deterministic for a given config:
//! each network's initialisation and minibatch order come from its own seeded generator.

pub mod config;
pub mod digits;
pub mod laziness;
pub mod nasbench;
mod parallel;
pub mod train;

use repspace_store::npy::{write_npy, write_npz};
use repspace_store::{Location, Storage};

pub use config::{Activation, Regime, ZooConfig, ZooFile, ZooKind, ZooKindFile};
use digits::{Digits, PIXELS};
pub use nasbench::{NasBenchConfig, NasBenchFile, build_nasbench_zoo};
use train::{Checkpoint, Mlp, TrainingData};

#[derive(Debug, thiserror::Error)]
pub enum ZooError {
    #[error("zoo config: {0}")]
    Config(String),
    #[error("digits data: {0}")]
    Data(String),
    #[error("training: {0}")]
    Train(String),
    #[error("writing {path}: {reason}")]
    Write { path: String, reason: String },
}

/// One network of the grid (all its checkpoints share it).
#[derive(Clone, Debug)]
pub struct NetworkSpec {
    pub depth: usize,
    pub width: usize,
    pub activation: Activation,
    pub seed: u64,
    pub regime: Regime,
}

impl NetworkSpec {
    /// e.g. `d3-w64-relu-s0`, and `d3-w64-relu-s0-lazy` in a regime other than the standard one.
    pub fn name(&self) -> String {
        let base = format!("d{}-w{}-{}-s{}", self.depth, self.width, self.activation.name(), self.seed);
        if self.regime == Regime::standard() { base } else { format!("{base}-{}", self.regime.name) }
    }

    /// The generator seed of this network: its config seed mixed with its architecture, so
    /// that seed 0 of two architectures are different draws. Not with its regime: a seed's
    /// networks in every regime start from the same draw (a paired design).
    pub fn rng_seed(&self) -> u64 {
        let arch = (self.depth as u64) << 48 ^ (self.width as u64) << 24 ^ self.activation as u64;
        self.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ arch
    }
}

/// The networks of a config, in manifest order (depth, width, activation, regime, seed).
pub fn networks(config: &ZooConfig) -> Vec<NetworkSpec> {
    let mut out = Vec::new();
    for &depth in &config.depths {
        for &width in &config.widths {
            for &activation in &config.activations {
                for regime in config.regime_axis() {
                    for &seed in &config.seeds {
                        out.push(NetworkSpec { depth, width, activation, seed, regime: regime.clone() });
                    }
                }
            }
        }
    }
    out
}

/// What was written.
#[derive(Clone, Debug)]
pub struct ZooSummary {
    pub networks: usize,
    pub models: usize,
    pub representations: usize,
    /// (network name, final test accuracy), in manifest order.
    pub final_accuracy: Vec<(String, f64)>,
}

impl ZooSummary {
    pub fn best(&self) -> Option<&(String, f64)> {
        self.final_accuracy.iter().max_by(|a, b| a.1.total_cmp(&b.1))
    }
}

const MANIFEST_HEADER: &str = "model_id,layer,layer_index,uri,key,weights_uri,spec_uri,network,role,\
depth,width,activation,seed,epoch,train_accuracy,test_accuracy";

/// The manifest's header: the regime and laziness columns only when the zoo has regimes.
fn manifest_header(config: &ZooConfig) -> String {
    let mut h = MANIFEST_HEADER.to_string();
    if !config.regimes.is_empty() {
        h.push_str(",regime,init_scale,output_scale");
        let max_depth = config.depths.iter().copied().max().unwrap_or(0);
        (1..=max_depth).for_each(|l| h.push_str(&format!(",weight_change_fc{l}")));
        h.push_str(",weight_change_out,hidden_weight_change,kernel_distance,label_alignment_init,label_alignment");
    }
    h + "\n"
}

/// The regime and laziness cells of a checkpoint's rows (see [`manifest_header`]).
fn regime_cells(config: &ZooConfig, net: &NetworkSpec, lazy: &laziness::Laziness) -> String {
    let max_depth = config.depths.iter().copied().max().unwrap_or(0);
    let mut cells = format!(",{},{},{}", net.regime.name, net.regime.init_scale, net.regime.output_scale);
    for l in 0..max_depth {
        match lazy.weight_change.get(l).filter(|_| l < net.depth) {
            Some(v) => cells.push_str(&format!(",{v:.6}")),
            None => cells.push(','),
        }
    }
    let out = lazy.weight_change.last().copied().unwrap_or(f64::NAN);
    cells.push_str(&format!(
        ",{out:.6},{:.6},{:.6},{:.6},{:.6}",
        lazy.hidden_weight_change, lazy.kernel_distance, lazy.label_alignment_init, lazy.label_alignment
    ));
    cells
}

/// The embedded digits split once for a zoo (`test_size` held out with `split_seed`): the
/// training images and labels, and the held-out probe images and labels.
pub(crate) struct Split {
    pub train_x: Vec<f32>,
    pub train_labels: Vec<u32>,
    pub probe_x: Vec<f32>,
    pub probe_labels: Vec<u32>,
}

/// Split the digits and write the probe labels (`probe_labels.npy`) with `put`.
pub(crate) fn split_and_write_labels(
    put: &impl Fn(&str, Vec<u8>) -> Result<(), ZooError>,
    test_size: usize,
    split_seed: u64,
) -> Result<Split, ZooError> {
    let digits = Digits::embedded()?;
    let (train_idx, test_idx) = digits.split(test_size, split_seed);
    let (train_x, train_labels) = digits.subset(&train_idx);
    let (probe_x, probe_labels) = digits.subset(&test_idx);
    let labels_f64: Vec<f64> = probe_labels.iter().map(|&l| l as f64).collect();
    put("probe_labels.npy", write_npy(&[test_idx.len()], &labels_f64, true))?;
    Ok(Split { train_x, train_labels, probe_x, probe_labels })
}

/// A writer of the file `rel` under `out`, its errors naming the file.
pub(crate) fn writer<'a>(
    storage: &'a Storage,
    out: &'a Location,
) -> impl Fn(&str, Vec<u8>) -> Result<(), ZooError> + Sync + 'a {
    move |rel: &str, bytes: Vec<u8>| {
        let write_err = |reason: String| ZooError::Write { path: format!("{out}/{rel}"), reason };
        let loc = out.join(rel).map_err(|e| write_err(e.to_string()))?;
        storage.put(&loc, bytes.into()).map_err(|e| write_err(e.to_string()))
    }
}

/// Train every network of `config` (on `jobs` threads, one network each) and write the zoo
/// under `out`: probe.npy, probe_labels.npy, specs/*.json, models/<model_id>.{safetensors,npz},
/// then manifest.csv last (so a manifest only exists for a complete zoo).
pub fn build_zoo(storage: &Storage, out: &Location, config: &ZooConfig, jobs: usize) -> Result<ZooSummary, ZooError> {
    config.validate()?;
    let put = writer(storage, out);
    let Split { train_x, train_labels, probe_x, probe_labels } =
        split_and_write_labels(&put, config.test_size, config.split_seed)?;
    let probe_f64: Vec<f64> = probe_x.iter().map(|&v| v as f64).collect();
    put("probe.npy", write_npy(&[probe_labels.len(), PIXELS], &probe_f64, true))?;
    let mut specs: Vec<(usize, Activation)> =
        config.depths.iter().flat_map(|&d| config.activations.iter().map(move |&a| (d, a))).collect();
    specs.sort();
    specs.dedup();
    for (depth, act) in specs {
        put(&spec_path(depth, act), network_spec_json(depth, act).into_bytes())?;
    }

    let (train_x, train_y) = train::tensors(train_x, &train_labels)?;
    let (probe_x, _) = train::tensors(probe_x, &probe_labels)?;
    let data = TrainingData {
        train_x: &train_x,
        train_y: &train_y,
        probe_x: &probe_x,
        probe_y: &probe_labels,
        train_labels: &train_labels,
    };
    let nets = networks(config);
    let probe_onehot = laziness::one_hot(&probe_labels, digits::CLASSES);
    let mut checkpoints = config.checkpoints.clone();
    checkpoints.sort_unstable();
    let (rows, final_accuracy) = parallel::train_all(nets.len(), jobs, |i| {
        let net = &nets[i];
        let mut net_rows = Vec::new();
        let mut last = 0.0;
        let outcome = Mlp::init(net.depth, net.width, net.activation, net.rng_seed(), &net.regime).and_then(|mlp| {
            // laziness is measured only in zoos with a regime axis
            let initial =
                if config.regimes.is_empty() { None } else { Some(initial_state(&mlp, &data, &probe_onehot)?) };
            train::train(
                &mlp,
                &data,
                net.rng_seed(),
                &checkpoints,
                config.batch_size,
                train::adam(config.learning_rate / net.regime.output_scale, config.weight_decay),
                |cp| {
                    last = cp.test_accuracy;
                    let cells = match &initial {
                        Some(initial) => regime_cells(config, net, &checkpoint_laziness(initial, &cp, &probe_onehot)?),
                        None => String::new(),
                    };
                    net_rows.extend(write_checkpoint(&put, net, &cp, &cells)?);
                    Ok(())
                },
            )
        });
        outcome
            .map(|()| parallel::Trained { name: net.name(), test_accuracy: last, rows: net_rows })
            .map_err(|e| ZooError::Train(format!("{}: {e}", net.name())))
    })?;
    let mut manifest = manifest_header(config);
    let mut representations = 0;
    for line in &rows {
        manifest.push_str(line);
        representations += 1;
    }
    put("manifest.csv", manifest.into_bytes())?;
    Ok(ZooSummary { networks: nets.len(), models: nets.len() * checkpoints.len(), representations, final_accuracy })
}

fn spec_path(depth: usize, act: Activation) -> String {
    format!("specs/d{depth}-{}.json", act.name())
}

/// The geometry stage's network spec: fc1..fcD with the activation, the last hidden layer
/// as the feature map, `out` as the readout.
fn network_spec_json(depth: usize, act: Activation) -> String {
    let layers: Vec<serde_json::Value> = (1..=depth)
        .map(|l| {
            serde_json::json!({"weight": format!("fc{l}.weight"), "bias": format!("fc{l}.bias"), "activation": act.name()})
        })
        .collect();
    let spec = serde_json::json!({
        "layers": layers,
        "feature_layer": depth,
        "readout": {"weight": "out.weight", "bias": "out.bias"},
    });
    serde_json::to_string_pretty(&spec).unwrap_or_default() + "\n"
}

/// Write one checkpoint's weights and activations; return its manifest lines.
fn write_checkpoint(
    put: &dyn Fn(&str, Vec<u8>) -> Result<(), ZooError>,
    net: &NetworkSpec,
    cp: &Checkpoint,
    regime_cells: &str,
) -> Result<Vec<String>, ZooError> {
    let model_id = format!("{}-e{}", net.name(), cp.epoch);
    let weights = safetensors::serialize(cp.weights.iter().map(|(k, t)| (k.as_str(), t)), None)
        .map_err(|e| ZooError::Write { path: format!("models/{model_id}.safetensors"), reason: e.to_string() })?;
    put(&format!("models/{model_id}.safetensors"), weights)?;
    let depth = net.depth;
    let mut members = Vec::with_capacity(cp.activations.len());
    for (l, a) in cp.activations.iter().enumerate() {
        let (rows, cols) = a.dims2().map_err(|e| ZooError::Train(e.to_string()))?;
        let data = values(a)?;
        let key = if l == depth { "logits".to_string() } else { format!("hidden{}", l + 1) };
        members.push((key, write_npy(&[rows, cols], &data, true)));
    }
    let refs: Vec<(&str, Vec<u8>)> = members.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let npz = write_npz(&refs)
        .map_err(|e| ZooError::Write { path: format!("models/{model_id}.npz"), reason: e.to_string() })?;
    put(&format!("models/{model_id}.npz"), npz)?;

    // the metadata columns after `role`: depth,width,activation,seed,epoch,train_accuracy,test_accuracy
    let tail = format!(
        "{depth},{},{},{},{},{:.4},{:.4}{regime_cells}",
        net.width,
        net.activation.name(),
        net.seed,
        cp.epoch,
        cp.train_accuracy,
        cp.test_accuracy
    );
    let mut lines = vec![format!("{model_id},input,0,probe.npy,,,,{},input,{tail}\n", net.name())];
    for l in 1..=depth {
        lines
            .push(format!("{model_id},hidden{l},{l},models/{model_id}.npz,hidden{l},,,{},hidden,{tail}\n", net.name()));
    }
    lines.push(format!(
        "{model_id},logits,{},models/{model_id}.npz,logits,models/{model_id}.safetensors,{},{},output,{tail}\n",
        depth + 1,
        spec_path(depth, net.activation),
        net.name()
    ));
    Ok(lines)
}

/// A tensor's values as f64.
pub(crate) fn values(t: &candle_core::Tensor) -> Result<Vec<f64>, ZooError> {
    Ok(t.flatten_all()
        .and_then(|t| t.to_vec1::<f32>())
        .map_err(|e| ZooError::Train(e.to_string()))?
        .into_iter()
        .map(f64::from)
        .collect())
}

/// Weights and last hidden features at initialisation (see [`laziness`]).
fn initial_state(mlp: &Mlp, data: &TrainingData, onehot: &[f64]) -> Result<laziness::Initial, ZooError> {
    let layers = mlp.named_weights()?.iter().map(|(_, t)| values(t)).collect::<Result<Vec<_>, _>>()?;
    let outs = mlp.forward_all(data.probe_x)?;
    let features = values(&outs[mlp.depth() - 1])?;
    let width = features.len() / data.probe_y.len().max(1);
    Ok(laziness::Initial::new(layers, features, width, onehot, digits::CLASSES))
}

/// A checkpoint's laziness measures against the initial state.
fn checkpoint_laziness(
    initial: &laziness::Initial,
    cp: &Checkpoint,
    onehot: &[f64],
) -> Result<laziness::Laziness, ZooError> {
    let layers = cp.weights.iter().map(|(_, t)| values(t)).collect::<Result<Vec<_>, _>>()?;
    let depth = cp.activations.len() - 1;
    let features = values(&cp.activations[depth - 1])?;
    Ok(initial.laziness(&layers, &features, onehot, digits::CLASSES))
}
