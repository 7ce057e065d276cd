//! One MLP on the digits with candle: PyTorch's default initialisation from a seeded
//! generator, minibatch Adam(W) on the cross-entropy, checkpoints handed to a callback.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};
use repspace_metrics::rng::SplitMix64;

use crate::ZooError;
use crate::config::{Activation, Regime};
use crate::digits::{CLASSES, PIXELS};

/// depth hidden layers of `width` units with one activation, then a linear readout to the
/// ten class logits.
pub struct Mlp {
    pub activation: Activation,
    /// (weight [out, in], bias [out]) per hidden layer, then the readout.
    layers: Vec<(Var, Var)>,
    /// α: logits = α·(h W_outᵀ + b_out) (see [`Regime`]).
    pub output_scale: f64,
}

/// The data a network trains and is probed on (row-major [n, 64] blocks).
pub struct TrainingData<'a> {
    pub train_x: &'a Tensor,
    pub train_y: &'a Tensor,
    pub probe_x: &'a Tensor,
    pub probe_y: &'a [u32],
    pub train_labels: &'a [u32],
}

/// What a checkpoint gives the caller.
pub struct Checkpoint {
    pub epoch: usize,
    /// Named weights in PyTorch's layout: fc{l}.weight [out, in], fc{l}.bias, out.weight, out.bias.
    pub weights: Vec<(String, Tensor)>,
    /// Activations on the probe set: hidden1..hiddenD then the logits, each [probe, units].
    pub activations: Vec<Tensor>,
    pub train_accuracy: f64,
    pub test_accuracy: f64,
}

fn err(e: candle_core::Error) -> ZooError {
    ZooError::Train(e.to_string())
}

impl Mlp {
    /// PyTorch's nn.Linear default: weight and bias uniform in ±1/√fan_in, drawn from
    /// SplitMix64(seed) in row-major order, layer by layer; then the regime's changes: hidden
    /// layers × init_scale, and with `centered` the last hidden layer's second half of units a
    /// copy of its first half with negated readout weights and a zero readout bias.
    pub fn init(
        depth: usize,
        width: usize,
        activation: Activation,
        seed: u64,
        regime: &Regime,
    ) -> Result<Mlp, ZooError> {
        let mut rng = SplitMix64(seed);
        let mut drawn: Vec<(Vec<f32>, Vec<f32>, usize, usize)> = Vec::with_capacity(depth + 1);
        let mut fan_in = PIXELS;
        for l in 0..=depth {
            let out = if l == depth { CLASSES } else { width };
            let bound = 1.0 / (fan_in as f64).sqrt();
            let mut draw =
                |n: usize| -> Vec<f32> { (0..n).map(|_| ((2.0 * rng.uniform() - 1.0) * bound) as f32).collect() };
            let (w, b) = (draw(out * fan_in), draw(out));
            drawn.push((w, b, out, fan_in));
            fan_in = out;
        }
        if regime.init_scale != 1.0 {
            for (w, b, _, _) in drawn.iter_mut().take(depth) {
                w.iter_mut().chain(b.iter_mut()).for_each(|v| *v = (*v as f64 * regime.init_scale) as f32);
            }
        }
        if regime.centered {
            let half = width / 2;
            let (w, b, _, fan) = &mut drawn[depth - 1];
            let fan = *fan;
            w.copy_within(..half * fan, half * fan);
            b.copy_within(..half, half);
            let (v, c, classes, _) = &mut drawn[depth];
            for k in 0..*classes {
                let row = &mut v[k * width..(k + 1) * width];
                for j in 0..half {
                    row[half + j] = -row[j];
                }
            }
            c.iter_mut().for_each(|x| *x = 0.0);
        }
        let mut layers = Vec::with_capacity(depth + 1);
        for (w, b, out, fan_in) in drawn {
            let w = Tensor::from_vec(w, (out, fan_in), &Device::Cpu).map_err(err)?;
            let b = Tensor::from_vec(b, out, &Device::Cpu).map_err(err)?;
            layers.push((Var::from_tensor(&w).map_err(err)?, Var::from_tensor(&b).map_err(err)?));
        }
        Ok(Mlp { activation, layers, output_scale: regime.output_scale })
    }

    pub fn depth(&self) -> usize {
        self.layers.len() - 1
    }

    fn act(&self, z: &Tensor) -> candle_core::Result<Tensor> {
        match self.activation {
            Activation::Tanh => z.tanh(),
            Activation::Relu => z.relu(),
            Activation::Gelu => z.gelu_erf(),
        }
    }

    /// Every layer's output on x: hidden1..hiddenD (after the activation) and the logits.
    pub fn forward_all(&self, x: &Tensor) -> Result<Vec<Tensor>, ZooError> {
        let mut outs = Vec::with_capacity(self.layers.len());
        let mut h = x.clone();
        for (l, (w, b)) in self.layers.iter().enumerate() {
            // y = h Wᵀ + b
            let z =
                h.matmul(&w.as_tensor().t().map_err(err)?).and_then(|z| z.broadcast_add(b.as_tensor())).map_err(err)?;
            h = if l + 1 == self.layers.len() {
                if self.output_scale == 1.0 { z } else { (z * self.output_scale).map_err(err)? }
            } else {
                self.act(&z).map_err(err)?
            };
            outs.push(h.clone());
        }
        Ok(outs)
    }

    fn logits(&self, x: &Tensor) -> Result<Tensor, ZooError> {
        self.forward_all(x)?.pop().ok_or_else(|| ZooError::Train("network without layers".into()))
    }

    fn accuracy(&self, x: &Tensor, labels: &[u32]) -> Result<f64, ZooError> {
        let predicted: Vec<u32> = self.logits(x)?.argmax(1).and_then(|p| p.to_vec1()).map_err(err)?;
        let correct = predicted.iter().zip(labels).filter(|(p, y)| p == y).count();
        Ok(correct as f64 / labels.len().max(1) as f64)
    }

    /// The weights as the network computes with them (the readout × α), copied.
    pub fn named_weights(&self) -> Result<Vec<(String, Tensor)>, ZooError> {
        let mut named = Vec::with_capacity(2 * self.layers.len());
        for (l, (w, b)) in self.layers.iter().enumerate() {
            let readout = l == self.depth();
            let prefix = if readout { "out".to_string() } else { format!("fc{}", l + 1) };
            for (suffix, t) in [("weight", w), ("bias", b)] {
                let t = t.as_tensor();
                let t = if readout && self.output_scale != 1.0 { t * self.output_scale } else { t.copy() };
                named.push((format!("{prefix}.{suffix}"), t.map_err(err)?));
            }
        }
        Ok(named)
    }

    fn checkpoint(&self, epoch: usize, data: &TrainingData) -> Result<Checkpoint, ZooError> {
        Ok(Checkpoint {
            epoch,
            weights: self.named_weights()?,
            activations: self.forward_all(data.probe_x)?,
            train_accuracy: self.accuracy(data.train_x, data.train_labels)?,
            test_accuracy: self.accuracy(data.probe_x, data.probe_y)?,
        })
    }
}

/// Train for max(checkpoints) epochs of shuffled minibatches (order from SplitMix64 of the
/// network's seed), calling `save` at every checkpoint epoch (0 before the first step).
pub fn train(
    mlp: &Mlp,
    data: &TrainingData,
    seed: u64,
    checkpoints: &[usize],
    batch_size: usize,
    params: ParamsAdamW,
    mut save: impl FnMut(Checkpoint) -> Result<(), ZooError>,
) -> Result<(), ZooError> {
    let epochs = checkpoints.iter().copied().max().unwrap_or(0);
    let vars: Vec<Var> = mlp.layers.iter().flat_map(|(w, b)| [w.clone(), b.clone()]).collect();
    let mut opt = AdamW::new(vars, params).map_err(err)?;
    let n = data.train_labels.len();
    let mut rng = SplitMix64(seed ^ 0x0b5e_55ed);
    let mut order: Vec<u32> = (0..n as u32).collect();
    if checkpoints.contains(&0) {
        save(mlp.checkpoint(0, data)?)?;
    }
    for epoch in 1..=epochs {
        for i in (1..n).rev() {
            order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
        }
        for batch in order.chunks(batch_size) {
            let idx = Tensor::new(batch, &Device::Cpu).map_err(err)?;
            let x = data.train_x.index_select(&idx, 0).map_err(err)?;
            let y = data.train_y.index_select(&idx, 0).map_err(err)?;
            let loss = candle_nn::loss::cross_entropy(&mlp.logits(&x)?, &y).map_err(err)?;
            opt.backward_step(&loss).map_err(err)?;
        }
        if checkpoints.contains(&epoch) {
            save(mlp.checkpoint(epoch, data)?)?;
        }
    }
    Ok(())
}

/// A [n, 64] f32 tensor and a [n] u32 label tensor.
pub fn tensors(x: Vec<f32>, y: &[u32]) -> Result<(Tensor, Tensor), ZooError> {
    let n = y.len();
    let x = Tensor::from_vec(x, (n, PIXELS), &Device::Cpu).map_err(err)?;
    let y = Tensor::new(y, &Device::Cpu).and_then(|t| t.to_dtype(DType::U32)).map_err(err)?;
    Ok((x, y))
}

/// Adam(W) with PyTorch's defaults besides the step size and decay.
pub fn adam(learning_rate: f64, weight_decay: f64) -> ParamsAdamW {
    ParamsAdamW { lr: learning_rate, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights(mlp: &Mlp) -> Vec<Vec<f32>> {
        mlp.named_weights().unwrap().iter().map(|(_, t)| t.flatten_all().unwrap().to_vec1::<f32>().unwrap()).collect()
    }

    fn regime(output_scale: f64, init_scale: f64, centered: bool) -> Regime {
        Regime { name: "r".into(), output_scale, init_scale, centered }
    }

    #[test]
    fn the_antisymmetric_initialisation_outputs_zero_up_to_rounding() {
        // the paired units cancel exactly in exact arithmetic; f32 sums leave rounding only
        let x: Vec<f32> = (0..50 * PIXELS).map(|k| ((k * 31 % 17) as f32) / 17.0).collect();
        let x = Tensor::from_vec(x, (50, PIXELS), &Device::Cpu).unwrap();
        let largest = |mlp: &Mlp| {
            let logits = mlp.logits(&x).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            logits.iter().fold(0.0f32, |m, v| m.max(v.abs()))
        };
        for (depth, width, seed) in [(1, 64, 0), (2, 64, 1), (3, 128, 2), (2, 256, 3)] {
            let centered = largest(&Mlp::init(depth, width, Activation::Tanh, seed, &regime(10.0, 1.0, true)).unwrap());
            let plain = largest(&Mlp::init(depth, width, Activation::Tanh, seed, &regime(10.0, 1.0, false)).unwrap());
            assert!(centered <= 1e-5 * plain, "depth {depth} width {width}: |f0| up to {centered} (uncentred {plain})");
        }
        let mlp = Mlp::init(2, 8, Activation::Tanh, 7, &regime(10.0, 1.0, true)).unwrap();
        // the hidden layers are those of the standard draw (a paired design across regimes)
        let standard = weights(&Mlp::init(2, 8, Activation::Tanh, 7, &Regime::standard()).unwrap());
        assert_eq!(weights(&mlp)[0], standard[0]);
    }

    #[test]
    fn init_scale_multiplies_the_hidden_layers_and_output_scale_the_saved_readout() {
        let standard = weights(&Mlp::init(2, 6, Activation::Relu, 3, &Regime::standard()).unwrap());
        let scaled = weights(&Mlp::init(2, 6, Activation::Relu, 3, &regime(4.0, 0.5, false)).unwrap());
        for l in 0..4 {
            for (a, b) in scaled[l].iter().zip(&standard[l]) {
                assert_eq!(*a, (*b as f64 * 0.5) as f32);
            }
        }
        for l in 4..6 {
            for (a, b) in scaled[l].iter().zip(&standard[l]) {
                assert_eq!(*a, b * 4.0, "the readout is saved as the network computes with it");
            }
        }
    }
}
