//! A NAS-Bench-101 zoo (Ying et al. 2019, "NAS-Bench-101: Towards Reproducible Neural
//! Architecture Search"; code: google-research/nasbench): distinct cells sampled from the
//! benchmark's space, each built into a small CNN the way the benchmark builds its networks,
//! trained on the digits, and written as repspace input.
//!
//! - [`spec`]: cells, pruning, the benchmark's validity rule;
//! - [`hash`]: the benchmark's module hash (`graph_util.hash_module`), so every model joins
//!   the official table on `module_hash`;
//! - [`sample`]: seeded sampling of distinct (non-isomorphic) cells;
//! - [`network`]: the network around a cell, the vertex-channel rule and the benchmark's
//!   `trainable_parameters`;
//! - [`train`]: training and evaluation;
//! - [`config`]: the `[zoo]` table with `kind = "nasbench101"`.
//!
//! Every value the benchmark defines (pruning, validity, hash, vertex channels, parameter
//! counts) equals the reference code's on the cells of `tests/fixtures/nasbench`, which
//! `scripts/fixtures/nasbench_reference.py` computes with google-research/nasbench itself.
//!
//! Written under `out`: `probe_labels.npy`; per model (a cell at a checkpoint epoch)
//! `models/<model_id>.npz` (members `stack<k>`: stack k's output on the held-out images as
//! [images, h, w, c], for `conv_shape`; `stack<k>_pool`: its global average pool, [images, c])
//! and `models/<model_id>.safetensors` (every tensor of the network, batch-norm moving
//! averages included); then `manifest.csv` last, so a manifest only exists for a complete zoo.
//! The same config writes the same bytes whatever the number of threads.

pub mod config;
pub mod hash;
pub mod network;
pub mod sample;
pub mod spec;
pub mod train;

use repspace_store::npy::{write_npy, write_npz};
use repspace_store::{Location, Storage};

pub use config::{NasBenchConfig, NasBenchFile};
use network::{CellNet, channels_last, global_pool, trainable_parameters};
use sample::SampledCell;
use spec::AVAILABLE_OPS;
use train::{Checkpoint, ImageData};

use crate::{Split, ZooError, ZooSummary, parallel, split_and_write_labels, values, writer};

/// One network of the zoo.
#[derive(Clone, Debug)]
pub struct CellNetwork {
    /// Position in the sample (0-based).
    pub index: usize,
    pub sampled: SampledCell,
    pub seed: u64,
}

impl CellNetwork {
    /// e.g. `nb0007-28cfc787`: the sample position and the module hash's first 8 digits.
    pub fn name(&self) -> String {
        format!("nb{:04}-{}", self.index, &self.sampled.module_hash[..8])
    }

    /// The generator seed of this network: the config's seed mixed with the cell's module
    /// hash, so a cell starts from the same draw wherever it falls in a sample.
    pub fn rng_seed(&self) -> u64 {
        let hash = u64::from_str_radix(&self.sampled.module_hash[..16], 16).unwrap_or(0);
        self.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ hash
    }
}

/// The networks of a config, in sample order.
pub fn networks(config: &NasBenchConfig) -> Result<Vec<CellNetwork>, ZooError> {
    let cells = sample::sample_cells(config.cells, config.seed)
        .ok_or_else(|| ZooError::Config(format!("zoo.cells: {} exceeds the space", config.cells)))?;
    Ok(cells
        .into_iter()
        .enumerate()
        .map(|(index, sampled)| CellNetwork { index, sampled, seed: config.seed })
        .collect())
}

const MANIFEST_HEADER: &str = "model_id,layer,uri,key,network,cell_index,module_hash,module_adjacency,\
module_operations,trainable_parameters,vertices,edges,conv3x3,conv1x1,maxpool3x3,weights,seed,epoch,\
train_accuracy,test_accuracy\n";

/// A CSV field: quoted (inner quotes doubled) when it holds a comma or a quote.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_string() }
}

/// Train every network of `config` (on `jobs` threads, one network each) and write the zoo
/// under `out` (see the module docs).
pub fn build_nasbench_zoo(
    storage: &Storage,
    out: &Location,
    config: &NasBenchConfig,
    jobs: usize,
) -> Result<ZooSummary, ZooError> {
    config.validate()?;
    let put = writer(storage, out);
    let Split { train_x, train_labels, probe_x, probe_labels } =
        split_and_write_labels(&put, config.test_size, config.split_seed)?;
    let size = config.image_size;
    let data = ImageData {
        train_x: train::images(train_x, train_labels.len(), size)?,
        train_y: train::labels(&train_labels)?,
        train_labels,
        probe_x: train::images(probe_x, probe_labels.len(), size)?,
        probe_labels,
    };
    let nets = networks(config)?;
    let skeleton = config.skeleton();
    let mut checkpoints = config.checkpoints.clone();
    checkpoints.sort_unstable();
    let (rows, final_accuracy) = parallel::train_all(nets.len(), jobs, |i| {
        let net = &nets[i];
        let mut net_rows = Vec::new();
        let mut last = 0.0;
        let outcome = CellNet::init(&net.sampled.cell, skeleton, net.rng_seed()).and_then(|model| {
            let params = trainable_parameters(&net.sampled.cell, &skeleton);
            if model.trainable_count() != params {
                return Err(ZooError::Train(format!(
                    "{} trainable values, the benchmark's rule counts {params}",
                    model.trainable_count()
                )));
            }
            train::train(&model, &data, net.rng_seed(), &checkpoints, config.batch_size, config.learning_rate, |cp| {
                last = cp.test_accuracy;
                net_rows.extend(write_checkpoint(&put, net, params, &cp)?);
                Ok(())
            })
        });
        outcome
            .map(|()| parallel::Trained { name: net.name(), test_accuracy: last, rows: net_rows })
            .map_err(|e| ZooError::Train(format!("{}: {e}", net.name())))
    })?;
    let mut manifest = MANIFEST_HEADER.to_string();
    let mut representations = 0;
    for line in &rows {
        manifest.push_str(line);
        representations += 1;
    }
    put("manifest.csv", manifest.into_bytes())?;
    Ok(ZooSummary { networks: nets.len(), models: nets.len() * checkpoints.len(), representations, final_accuracy })
}

/// Write one checkpoint's weights and activations; return its manifest lines.
fn write_checkpoint(
    put: &dyn Fn(&str, Vec<u8>) -> Result<(), ZooError>,
    net: &CellNetwork,
    params: usize,
    cp: &Checkpoint,
) -> Result<Vec<String>, ZooError> {
    let model_id = format!("{}-e{}", net.name(), cp.epoch);
    let weights_path = format!("models/{model_id}.safetensors");
    let weights = safetensors::serialize(cp.weights.iter().map(|(k, t)| (k.as_str(), t)), None)
        .map_err(|e| ZooError::Write { path: weights_path.clone(), reason: e.to_string() })?;
    put(&weights_path, weights)?;
    let mut members = Vec::with_capacity(2 * cp.stacks.len());
    for (k, stack) in cp.stacks.iter().enumerate() {
        let nhwc = channels_last(stack)?;
        members.push((format!("stack{k}"), write_npy(nhwc.dims(), &values(&nhwc)?, true)));
        let pooled = global_pool(stack)?;
        members.push((format!("stack{k}_pool"), write_npy(pooled.dims(), &values(&pooled)?, true)));
    }
    let refs: Vec<(&str, Vec<u8>)> = members.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let npz_path = format!("models/{model_id}.npz");
    let npz = write_npz(&refs).map_err(|e| ZooError::Write { path: npz_path.clone(), reason: e.to_string() })?;
    put(&npz_path, npz)?;

    let cell = &net.sampled.cell;
    let counts = cell.op_counts();
    debug_assert_eq!(AVAILABLE_OPS.len(), counts.len());
    // the columns after `key`
    let tail = format!(
        "{},{},{},{},{},{params},{},{},{},{},{},{weights_path},{},{},{:.4},{:.4}\n",
        net.name(),
        net.index,
        net.sampled.module_hash,
        csv_field(&cell.adjacency_json()),
        csv_field(&cell.operations_json()),
        cell.vertices(),
        cell.edges(),
        counts[0],
        counts[1],
        counts[2],
        net.seed,
        cp.epoch,
        cp.train_accuracy,
        cp.test_accuracy
    );
    Ok(members.iter().map(|(key, _)| format!("{model_id},{key},{npz_path},{key},{tail}")).collect())
}
