//! Networks as NAS-Bench-101 builds them (`nasbench/lib/model_builder.py`), scaled down, in
//! candle (NCHW).
//!
//! Layout: a 3×3 conv-bn-relu stem to `stem_channels`; `stacks` stacks of `cells_per_stack`
//! copies of the cell, a 2×2 max-pool (stride 2) before every stack but the first with the
//! channel count doubled; global average pool; a dense layer to the 10 classes. Inside a cell
//! (`build_module`): vertex channels from [`vertex_channels`] (the benchmark's rule); a vertex
//! adds its inputs, the input vertex's through a 1×1 conv-bn-relu projection to the vertex's
//! channels, an interior vertex's truncated to the vertex's channels (the first channels);
//! the output concatenates the vertices that feed it (channels split between them) and adds a
//! projection of the input when the input feeds it too (or is that projection alone when no
//! interior vertex does). Convolutions have no bias and 'same' padding; the 3×3 max-pool has
//! stride 1 and 'same' padding (padding never wins a max).
//!
//! What differs from the benchmark, by design: one grey input channel (the digits); batch
//! norm's moving averages decay by 0.9 per step, not 0.997 (a zoo trains for hundreds of
//! steps, not 100,000s, and the probe activations are computed with the moving averages).
//! Initialisation follows TensorFlow 1's defaults for these layers: conv kernels
//! `variance_scaling_initializer()` (truncated normal, |z| ≤ 2, standard deviation
//! √(1/fan_in) / 0.87962566), batch norm γ = 1, β = 0, the dense kernel Glorot-uniform and its
//! bias 0, drawn in construction order from `SplitMix64(seed)`.
//!
//! [`trainable_parameters`] counts what TensorFlow counts as trainable (conv kernels, γ, β,
//! the dense kernel and bias; not the moving averages). It is a closed form over the vertex
//! channels; the built network's variables add up to it (tested), and at the benchmark's
//! configuration it gives the benchmark's published counts (tests/fixtures/nasbench).

use std::cell::RefCell;

use candle_core::{D, DType, Device, Tensor, Var};
use repspace_metrics::rng::SplitMix64;

use super::spec::{Cell, Op};
use crate::ZooError;

/// Batch norm's ε (`base_ops.BN_EPSILON`).
pub const BN_EPSILON: f64 = 1e-5;
/// Batch norm's moving-average decay per training step (see the module docs).
pub const BN_DECAY: f64 = 0.9;
/// Classes of the digits.
pub const LABELS: usize = 10;

fn err(e: candle_core::Error) -> ZooError {
    ZooError::Train(e.to_string())
}

/// `model_builder.compute_vertex_channels(input, output, matrix)` on a pruned cell: the
/// output's channels are split as evenly as possible between the vertices feeding it (the
/// first ones in vertex order get the remainder, one each); every other interior vertex gets
/// the largest count among the interior vertices it feeds.
pub fn vertex_channels(input: usize, output: usize, cell: &Cell) -> Vec<usize> {
    let n = cell.vertices();
    let mut channels = vec![0; n];
    channels[0] = input;
    channels[n - 1] = output;
    if n == 2 {
        return channels;
    }
    // in-degree of the output, not counting the input (≥ 1 for a pruned cell with n > 2)
    let fan_in = (1..n - 1).filter(|&v| cell.edge(v, n - 1)).count().max(1);
    let (interior, mut correction) = (output / fan_in, output % fan_in);
    for (v, c) in channels.iter_mut().enumerate().take(n - 1).skip(1) {
        if cell.edge(v, n - 1) {
            *c = interior;
            if correction > 0 {
                *c += 1;
                correction -= 1;
            }
        }
    }
    for v in (1..n.saturating_sub(2)).rev() {
        if !cell.edge(v, n - 1) {
            for dst in v + 1..n - 1 {
                if cell.edge(v, dst) {
                    channels[v] = channels[v].max(channels[dst]);
                }
            }
        }
    }
    channels
}

/// The shape of a network: everything but the cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Skeleton {
    pub in_channels: usize,
    pub stem_channels: usize,
    pub stacks: usize,
    pub cells_per_stack: usize,
    pub labels: usize,
}

impl Skeleton {
    /// (input channels, output channels) of every cell, stack by stack.
    fn cell_channels(&self) -> Vec<Vec<(usize, usize)>> {
        let mut channels = self.stem_channels;
        (0..self.stacks)
            .map(|s| {
                let out = if s > 0 { channels * 2 } else { channels };
                (0..self.cells_per_stack)
                    .map(|_| {
                        let pair = (channels, out);
                        channels = out;
                        pair
                    })
                    .collect()
            })
            .collect()
    }

    /// Channels of the last stack's output.
    pub fn final_channels(&self) -> usize {
        self.stem_channels << self.stacks.saturating_sub(1)
    }
}

/// Trainable parameters of one cell between `input` and `output` channels.
#[allow(clippy::needless_range_loop)] // vertex indices, as in the reference
fn cell_parameters(cell: &Cell, input: usize, output: usize) -> usize {
    let vc = vertex_channels(input, output, cell);
    let n = cell.vertices();
    let mut total = 0;
    for t in 1..n - 1 {
        if cell.edge(0, t) {
            total += input * vc[t] + 2 * vc[t];
        }
        total += match cell.ops[t] {
            Op::Conv3x3 => 9 * vc[t] * vc[t] + 2 * vc[t],
            Op::Conv1x1 => vc[t] * vc[t] + 2 * vc[t],
            _ => 0,
        };
    }
    if cell.edge(0, n - 1) {
        total += input * output + 2 * output;
    }
    total
}

/// The benchmark's `trainable_parameters` of the network `skeleton` builds around `cell`.
pub fn trainable_parameters(cell: &Cell, skeleton: &Skeleton) -> usize {
    let stem = 9 * skeleton.in_channels * skeleton.stem_channels + 2 * skeleton.stem_channels;
    let cells: usize =
        skeleton.cell_channels().iter().flatten().map(|&(input, output)| cell_parameters(cell, input, output)).sum();
    stem + cells + skeleton.final_channels() * skeleton.labels + skeleton.labels
}

/// One conv-bn-relu with its batch-norm moving averages.
struct ConvBnRelu {
    name: String,
    kernel: Var,
    gamma: Var,
    beta: Var,
    moving_mean: RefCell<Tensor>,
    moving_variance: RefCell<Tensor>,
    padding: usize,
}

impl ConvBnRelu {
    fn new(name: String, size: usize, input: usize, output: usize, rng: &mut SplitMix64) -> Result<Self, ZooError> {
        let fan_in = (input * size * size) as f64;
        let std = (1.0 / fan_in).sqrt() / 0.879_625_661_034_239_8;
        let values: Vec<f32> = (0..output * input * size * size)
            .map(|_| {
                loop {
                    let z = rng.normal();
                    if z.abs() <= 2.0 {
                        break (z * std) as f32;
                    }
                }
            })
            .collect();
        let cpu = &Device::Cpu;
        let kernel = Tensor::from_vec(values, (output, input, size, size), cpu).map_err(err)?;
        let ones = Tensor::ones(output, DType::F32, cpu).map_err(err)?;
        let zeros = Tensor::zeros(output, DType::F32, cpu).map_err(err)?;
        Ok(ConvBnRelu {
            name,
            kernel: Var::from_tensor(&kernel).map_err(err)?,
            gamma: Var::from_tensor(&ones).map_err(err)?,
            beta: Var::from_tensor(&zeros).map_err(err)?,
            moving_mean: RefCell::new(zeros),
            moving_variance: RefCell::new(ones),
            padding: size / 2,
        })
    }

    fn forward(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let z = conv_same(x, self.kernel.as_tensor(), self.padding)?;
        let c = z.dim(1)?;
        let per_channel = |t: &Tensor| t.reshape((1, c, 1, 1));
        let (mean, variance) = if train {
            let mean = z.mean_keepdim((0, 2, 3))?;
            let variance = z.broadcast_sub(&mean)?.sqr()?.mean_keepdim((0, 2, 3))?;
            let (n, _, h, w) = z.dims4()?;
            let m = (n * h * w) as f64;
            let unbiased = (variance.detach().flatten_all()? * (m / (m - 1.0).max(1.0)))?;
            let mut mm = self.moving_mean.borrow_mut();
            *mm = ((&*mm * BN_DECAY)? + (mean.detach().flatten_all()? * (1.0 - BN_DECAY))?)?;
            let mut mv = self.moving_variance.borrow_mut();
            *mv = ((&*mv * BN_DECAY)? + (unbiased * (1.0 - BN_DECAY))?)?;
            (mean, variance)
        } else {
            (per_channel(&self.moving_mean.borrow())?, per_channel(&self.moving_variance.borrow())?)
        };
        let normed = z.broadcast_sub(&mean)?.broadcast_div(&(variance + BN_EPSILON)?.sqrt()?)?;
        normed
            .broadcast_mul(&per_channel(self.gamma.as_tensor())?)?
            .broadcast_add(&per_channel(self.beta.as_tensor())?)?
            .relu()
    }

    fn trainable(&self) -> [&Var; 3] {
        [&self.kernel, &self.gamma, &self.beta]
    }

    fn named(&self, out: &mut Vec<(String, Tensor)>) {
        out.push((format!("{}.kernel", self.name), self.kernel.as_tensor().clone()));
        out.push((format!("{}.gamma", self.name), self.gamma.as_tensor().clone()));
        out.push((format!("{}.beta", self.name), self.beta.as_tensor().clone()));
        out.push((format!("{}.moving_mean", self.name), self.moving_mean.borrow().clone()));
        out.push((format!("{}.moving_variance", self.name), self.moving_variance.borrow().clone()));
    }
}

/// A stride-1 'same' convolution of x [n, c, h, w] with a kernel [o, c, k, k], k = 2·padding
/// plus 1, as one GEMM over shifted copies (im2col): [o, c·k²] × [c·k², n·h·w]. Its gradient
/// is a GEMM too, where candle's conv2d backward goes through a direct transposed convolution
/// (the whole small zoo trained 1.8× slower with it). Every output is the same sum in the same order whatever
/// the thread count (the GEMM splits the output, never the reduction).
fn conv_same(x: &Tensor, kernel: &Tensor, padding: usize) -> candle_core::Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let (o, _, k, _) = kernel.dims4()?;
    let xc = x.transpose(0, 1)?; // [c, n, h, w]
    let cols = if k == 1 {
        xc.contiguous()?.reshape((c, n * h * w))?
    } else {
        let padded = xc.pad_with_zeros(2, padding, padding)?.pad_with_zeros(3, padding, padding)?;
        let mut shifted = Vec::with_capacity(k * k);
        for dy in 0..k {
            for dx in 0..k {
                shifted.push(padded.narrow(2, dy, h)?.narrow(3, dx, w)?);
            }
        }
        Tensor::stack(&shifted, 1)?.reshape((c * k * k, n * h * w))?
    };
    kernel.reshape((o, c * k * k))?.matmul(&cols)?.reshape((o, n, h, w))?.transpose(0, 1)
}

/// 3×3 max-pool, stride 1, 'same' padding: edge replication pads, and a replicated value is
/// a copy of one inside its window, so it never changes the max (TensorFlow pads with −∞).
fn max_pool_3x3_same(x: &Tensor) -> candle_core::Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let padded = x.pad_with_same(2, 1, 1)?.pad_with_same(3, 1, 1)?;
    let mut out: Option<Tensor> = None;
    for dy in 0..3 {
        for dx in 0..3 {
            let window = padded.narrow(2, dy, h)?.narrow(3, dx, w)?;
            out = Some(match out {
                None => window,
                Some(m) => m.maximum(&window)?,
            });
        }
    }
    out.ok_or_else(|| candle_core::Error::Msg("empty pool".into()))
}

/// One copy of the cell (`build_module`).
struct Module {
    cell: Cell,
    channels: Vec<usize>,
    /// Per vertex t (1..n−1): the projection of the input when the input feeds t.
    projections: Vec<Option<ConvBnRelu>>,
    /// Per vertex t: the convolution of a conv vertex (None: max-pool, input, output).
    convs: Vec<Option<ConvBnRelu>>,
    /// The projection of the input into the output, when the input feeds the output.
    output_projection: Option<ConvBnRelu>,
}

impl Module {
    #[allow(clippy::needless_range_loop)] // vertex indices, as in the reference
    fn new(cell: &Cell, input: usize, output: usize, prefix: &str, rng: &mut SplitMix64) -> Result<Self, ZooError> {
        let n = cell.vertices();
        let channels = vertex_channels(input, output, cell);
        let (mut projections, mut convs) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for t in 0..n {
            let interior = t > 0 && t + 1 < n;
            projections.push(if interior && cell.edge(0, t) {
                Some(ConvBnRelu::new(format!("{prefix}.vertex_{t}.projection"), 1, input, channels[t], rng)?)
            } else {
                None
            });
            let size = match cell.ops[t] {
                Op::Conv3x3 => 3,
                Op::Conv1x1 => 1,
                _ => 0,
            };
            convs.push(if interior && size > 0 {
                Some(ConvBnRelu::new(format!("{prefix}.vertex_{t}.conv"), size, channels[t], channels[t], rng)?)
            } else {
                None
            });
        }
        let output_projection = if cell.edge(0, n - 1) {
            Some(ConvBnRelu::new(format!("{prefix}.output.projection"), 1, input, output, rng)?)
        } else {
            None
        };
        Ok(Module { cell: cell.clone(), channels, projections, convs, output_projection })
    }

    fn forward(&self, input: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let n = self.cell.vertices();
        let mut tensors: Vec<Tensor> = vec![input.clone()];
        let mut concat = Vec::new();
        for t in 1..n - 1 {
            let mut sum: Option<Tensor> = None;
            let mut add = |x: Tensor| -> candle_core::Result<()> {
                sum = Some(match sum.take() {
                    None => x,
                    Some(s) => (s + x)?,
                });
                Ok(())
            };
            for (src, value) in tensors.iter().enumerate().take(t).skip(1) {
                if self.cell.edge(src, t) {
                    add(value.narrow(1, 0, self.channels[t])?)?;
                }
            }
            if let Some(p) = &self.projections[t] {
                add(p.forward(input, train)?)?;
            }
            let x = sum.ok_or_else(|| candle_core::Error::Msg(format!("vertex {t} has no input")))?;
            let value = match (&self.convs[t], self.cell.ops[t]) {
                (Some(conv), _) => conv.forward(&x, train)?,
                (None, Op::MaxPool3x3) => max_pool_3x3_same(&x)?,
                (None, op) => return Err(candle_core::Error::Msg(format!("vertex {t}: {} inside a cell", op.name()))),
            };
            if self.cell.edge(t, n - 1) {
                concat.push(value.clone());
            }
            tensors.push(value);
        }
        let projected = match &self.output_projection {
            Some(p) => Some(p.forward(input, train)?),
            None => None,
        };
        match (concat.is_empty(), projected) {
            (true, Some(p)) => Ok(p),
            (true, None) => Err(candle_core::Error::Msg("the output has no input".into())),
            (false, p) => {
                let out = if concat.len() == 1 { concat.remove(0) } else { Tensor::cat(&concat, 1)? };
                match p {
                    Some(p) => out + p,
                    None => Ok(out),
                }
            }
        }
    }

    fn layers(&self) -> impl Iterator<Item = &ConvBnRelu> {
        let per_vertex = self.projections.iter().zip(&self.convs).flat_map(|(p, c)| p.iter().chain(c.iter()));
        per_vertex.chain(self.output_projection.iter())
    }
}

/// A whole network around one cell.
pub struct CellNet {
    pub skeleton: Skeleton,
    stem: ConvBnRelu,
    stacks: Vec<Vec<Module>>,
    dense_kernel: Var,
    dense_bias: Var,
}

/// What one forward pass gives: each stack's output [n, c, h, w] and the logits [n, labels].
pub struct Forward {
    pub stacks: Vec<Tensor>,
    pub logits: Tensor,
}

impl CellNet {
    /// Build and initialise (see the module docs) from `SplitMix64(seed)`.
    pub fn init(cell: &Cell, skeleton: Skeleton, seed: u64) -> Result<CellNet, ZooError> {
        let mut rng = SplitMix64(seed);
        let stem = ConvBnRelu::new("stem".into(), 3, skeleton.in_channels, skeleton.stem_channels, &mut rng)?;
        let mut stacks = Vec::with_capacity(skeleton.stacks);
        for (s, cells) in skeleton.cell_channels().into_iter().enumerate() {
            let mut modules = Vec::with_capacity(cells.len());
            for (m, (input, output)) in cells.into_iter().enumerate() {
                modules.push(Module::new(cell, input, output, &format!("stack{s}.module{m}"), &mut rng)?);
            }
            stacks.push(modules);
        }
        let (fan_in, fan_out) = (skeleton.final_channels(), skeleton.labels);
        let limit = (6.0 / (fan_in + fan_out) as f64).sqrt();
        let values: Vec<f32> = (0..fan_out * fan_in).map(|_| ((2.0 * rng.uniform() - 1.0) * limit) as f32).collect();
        let kernel = Tensor::from_vec(values, (fan_out, fan_in), &Device::Cpu).map_err(err)?;
        let bias = Tensor::zeros(fan_out, DType::F32, &Device::Cpu).map_err(err)?;
        Ok(CellNet {
            skeleton,
            stem,
            stacks,
            dense_kernel: Var::from_tensor(&kernel).map_err(err)?,
            dense_bias: Var::from_tensor(&bias).map_err(err)?,
        })
    }

    /// The forward pass on images [n, in_channels, h, w]; `train` uses batch statistics and
    /// moves the batch-norm averages, otherwise the averages normalise.
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Forward, ZooError> {
        let run = || -> candle_core::Result<Forward> {
            let mut net = self.stem.forward(x, train)?;
            let mut outs = Vec::with_capacity(self.stacks.len());
            for (s, modules) in self.stacks.iter().enumerate() {
                if s > 0 {
                    net = net.max_pool2d(2)?;
                }
                for module in modules {
                    net = module.forward(&net, train)?;
                }
                outs.push(net.clone());
            }
            let pooled = net.mean((2, 3))?;
            let logits =
                pooled.matmul(&self.dense_kernel.as_tensor().t()?)?.broadcast_add(self.dense_bias.as_tensor())?;
            Ok(Forward { stacks: outs, logits })
        };
        run().map_err(err)
    }

    fn layers(&self) -> impl Iterator<Item = &ConvBnRelu> {
        std::iter::once(&self.stem).chain(self.stacks.iter().flatten().flat_map(Module::layers))
    }

    /// The trainable variables (what the optimiser moves).
    pub fn trainable(&self) -> Vec<Var> {
        let mut vars: Vec<Var> = self.layers().flat_map(|l| l.trainable().map(Var::clone)).collect();
        vars.extend([self.dense_kernel.clone(), self.dense_bias.clone()]);
        vars
    }

    /// Elements of the trainable variables.
    pub fn trainable_count(&self) -> usize {
        self.trainable().iter().map(|v| v.as_tensor().elem_count()).sum()
    }

    /// Every tensor of the network, copied, with its name (`stem.kernel`,
    /// `stack0.module0.vertex_2.conv.gamma`, …, `dense.kernel` [labels, channels],
    /// `dense.bias`); kernels are [out, in, h, w].
    pub fn named_tensors(&self) -> Result<Vec<(String, Tensor)>, ZooError> {
        let mut out = Vec::new();
        self.layers().for_each(|l| l.named(&mut out));
        out.push(("dense.kernel".into(), self.dense_kernel.as_tensor().clone()));
        out.push(("dense.bias".into(), self.dense_bias.as_tensor().clone()));
        out.into_iter().map(|(k, t)| Ok((k, t.copy().map_err(err)?))).collect()
    }
}

/// Global average pool of [n, c, h, w] to [n, c].
pub fn global_pool(x: &Tensor) -> Result<Tensor, ZooError> {
    x.mean((2, 3)).map_err(err)
}

/// [n, c, h, w] to [n, h, w, c], contiguous.
pub fn channels_last(x: &Tensor) -> Result<Tensor, ZooError> {
    x.permute((0, 2, 3, 1)).and_then(|t| t.contiguous()).map_err(err)
}

/// Predicted classes of logits.
pub fn predictions(logits: &Tensor) -> Result<Vec<u32>, ZooError> {
    logits.argmax(D::Minus1).and_then(|p| p.to_vec1()).map_err(err)
}
