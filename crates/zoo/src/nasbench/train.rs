//! Training one cell network on the digits: minibatch Adam on the cross-entropy, in the MLP
//! zoo's manner (shuffled order from the network's own generator, checkpoints handed to a
//! callback). Evaluation (accuracies, probe activations) uses the batch-norm moving averages
//! and runs in chunks of [`EVAL_CHUNK`] images, which bounds memory and changes no value (no
//! image's output depends on another's in evaluation).

use candle_core::{DType, Device, Tensor};
use candle_nn::optim::{AdamW, Optimizer};
use repspace_metrics::rng::SplitMix64;

use super::network::{CellNet, predictions};
use crate::ZooError;
use crate::digits::PIXELS;

/// Images per evaluation forward pass.
pub const EVAL_CHUNK: usize = 256;

fn err(e: candle_core::Error) -> ZooError {
    ZooError::Train(e.to_string())
}

/// The images a network trains and is probed on, [n, 1, size, size].
pub struct ImageData {
    pub train_x: Tensor,
    pub train_y: Tensor,
    pub train_labels: Vec<u32>,
    pub probe_x: Tensor,
    pub probe_labels: Vec<u32>,
}

/// Row-major [n, 64] digits in [0, 1] as [n, 1, size, size], upsampled by nearest neighbour.
pub fn images(x: Vec<f32>, n: usize, size: usize) -> Result<Tensor, ZooError> {
    Tensor::from_vec(x, (n, PIXELS), &Device::Cpu)
        .and_then(|t| t.reshape((n, 1, 8, 8)))
        .and_then(|t| t.upsample_nearest2d(size, size))
        .map_err(err)
}

pub fn labels(y: &[u32]) -> Result<Tensor, ZooError> {
    Tensor::new(y, &Device::Cpu).and_then(|t| t.to_dtype(DType::U32)).map_err(err)
}

/// What a checkpoint gives the caller.
pub struct Checkpoint {
    pub epoch: usize,
    /// Every tensor of the network (see [`CellNet::named_tensors`]).
    pub weights: Vec<(String, Tensor)>,
    /// Each stack's output on the probe images, [probe, c, h, w].
    pub stacks: Vec<Tensor>,
    pub train_accuracy: f64,
    pub test_accuracy: f64,
}

/// Evaluation in chunks: each stack's output (when `keep_stacks`) and the predictions.
fn evaluate(net: &CellNet, x: &Tensor, keep_stacks: bool) -> Result<(Vec<Tensor>, Vec<u32>), ZooError> {
    let n = x.dim(0).map_err(err)?;
    let mut parts: Vec<Vec<Tensor>> = vec![Vec::new(); net.skeleton.stacks];
    let mut predicted = Vec::with_capacity(n);
    for start in (0..n).step_by(EVAL_CHUNK) {
        let chunk = x.narrow(0, start, EVAL_CHUNK.min(n - start)).map_err(err)?;
        let out = net.forward(&chunk, false)?;
        predicted.extend(predictions(&out.logits)?);
        if keep_stacks {
            out.stacks.into_iter().zip(parts.iter_mut()).for_each(|(t, p)| p.push(t));
        }
    }
    let stacks = if keep_stacks {
        parts.iter().map(|p| Tensor::cat(p, 0).map_err(err)).collect::<Result<_, _>>()?
    } else {
        Vec::new()
    };
    Ok((stacks, predicted))
}

fn accuracy(predicted: &[u32], labels: &[u32]) -> f64 {
    predicted.iter().zip(labels).filter(|(p, y)| p == y).count() as f64 / labels.len().max(1) as f64
}

fn checkpoint(net: &CellNet, epoch: usize, data: &ImageData) -> Result<Checkpoint, ZooError> {
    let (_, train_pred) = evaluate(net, &data.train_x, false)?;
    let (stacks, probe_pred) = evaluate(net, &data.probe_x, true)?;
    Ok(Checkpoint {
        epoch,
        weights: net.named_tensors()?,
        stacks,
        train_accuracy: accuracy(&train_pred, &data.train_labels),
        test_accuracy: accuracy(&probe_pred, &data.probe_labels),
    })
}

/// Train for max(checkpoints) epochs of shuffled minibatches (order from SplitMix64 of
/// `seed`), calling `save` at every checkpoint epoch (0 before the first step).
pub fn train(
    net: &CellNet,
    data: &ImageData,
    seed: u64,
    checkpoints: &[usize],
    batch_size: usize,
    learning_rate: f64,
    mut save: impl FnMut(Checkpoint) -> Result<(), ZooError>,
) -> Result<(), ZooError> {
    let epochs = checkpoints.iter().copied().max().unwrap_or(0);
    let mut opt = AdamW::new(net.trainable(), crate::train::adam(learning_rate, 0.0)).map_err(err)?;
    let n = data.train_labels.len();
    let mut rng = SplitMix64(seed ^ 0x0b5e_55ed);
    let mut order: Vec<u32> = (0..n as u32).collect();
    if checkpoints.contains(&0) {
        save(checkpoint(net, 0, data)?)?;
    }
    for epoch in 1..=epochs {
        for i in (1..n).rev() {
            order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
        }
        // a last batch of one image would give batch norm a single sample per pixel grid;
        // it is merged into the batch before it
        let mut batches: Vec<&[u32]> = order.chunks(batch_size).collect();
        if batches.len() > 1 && batches.last().is_some_and(|b| b.len() < 2) {
            batches.pop();
            let k = batches.len() - 1;
            batches[k] = &order[k * batch_size..];
        }
        for batch in batches {
            let idx = Tensor::new(batch, &Device::Cpu).map_err(err)?;
            let x = data.train_x.index_select(&idx, 0).map_err(err)?;
            let y = data.train_y.index_select(&idx, 0).map_err(err)?;
            let logits = net.forward(&x, true)?.logits;
            let loss = candle_nn::loss::cross_entropy(&logits, &y).map_err(err)?;
            opt.backward_step(&loss).map_err(err)?;
        }
        if checkpoints.contains(&epoch) {
            save(checkpoint(net, epoch, data)?)?;
        }
    }
    Ok(())
}
