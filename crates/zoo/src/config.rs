//! `[zoo]`: the grid of architectures and the training schedule (configs/zoo_digits.toml).

use serde::Deserialize;

use crate::ZooError;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZooFile {
    pub zoo: ZooConfig,
}

/// Every combination of depth × width × activation × seed is one network; each network is
/// saved at every checkpoint epoch (0 = at initialisation).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZooConfig {
    /// Which zoo the table describes: "mlp" (the default) here; `"nasbench101"` tables are
    /// [`crate::NasBenchConfig`]s.
    #[serde(default)]
    pub kind: ZooKind,
    /// Output directory (or URL), relative to the config file.
    pub out: String,
    /// Hidden layers per network (1–6 in the full zoo).
    pub depths: Vec<usize>,
    /// Units per hidden layer (16–256 in the full zoo).
    pub widths: Vec<usize>,
    /// tanh | relu | gelu (exact, z·Φ(z)).
    pub activations: Vec<Activation>,
    pub seeds: Vec<u64>,
    /// Epochs at which weights and activations are written; 0 is the initialisation.
    pub checkpoints: Vec<usize>,
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Adam's step size.
    #[serde(default = "default_learning_rate")]
    pub learning_rate: f64,
    /// Decoupled weight decay (AdamW); 0 = plain Adam.
    #[serde(default)]
    pub weight_decay: f64,
    /// Held-out test images; they are also the probe set whose activations are written.
    #[serde(default = "default_test_size")]
    pub test_size: usize,
    /// Seed of the train/test split (fixed across the zoo).
    #[serde(default)]
    pub split_seed: u64,
    /// Learning regimes, one more axis of the grid (default: none, the standard
    /// parametrisation, and no regime columns in the manifest).
    #[serde(default)]
    pub regimes: Vec<Regime>,
}

/// A learning regime: where a network sits between rich (feature-learning) and lazy (kernel)
/// training. The output scale α follows Chizat, Oyallon & Bach (2019, "On lazy training in
/// differentiable programming") and Geiger et al. (2020): logits = α·readout(h) with the step
/// size divided by α, so the function moves at a comparable rate for every α while the weights
/// move ∝ 1/α (Adam's steps do not depend on the gradient's scale): large α is lazy, small α
/// rich. With `centered`, the last hidden layer's units come in identical pairs with opposite
/// readout weights (Chizat et al.'s antisymmetric initialisation), so the network's initial
/// output is 0 up to f32 rounding whatever α.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Regime {
    /// The label written to the manifest's `regime` column (e.g. "rich", "lazy").
    pub name: String,
    /// α: multiplies the logits; Adam's step size is divided by it.
    #[serde(default = "one")]
    pub output_scale: f64,
    /// Multiplies every initial hidden weight and bias (PyTorch's default × init_scale).
    #[serde(default = "one")]
    pub init_scale: f64,
    #[serde(default)]
    pub centered: bool,
}

/// The kinds of zoo a `[zoo]` table can describe.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub enum ZooKind {
    /// MLPs on the digits ([`ZooConfig`]).
    #[default]
    #[serde(rename = "mlp")]
    Mlp,
    /// NAS-Bench-101 cells ([`crate::NasBenchConfig`]).
    #[serde(rename = "nasbench101")]
    NasBench101,
}

/// Only `[zoo] kind`: which config type the rest of the table is.
#[derive(Clone, Debug, Deserialize)]
pub struct ZooKindFile {
    pub zoo: ZooKindOnly,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ZooKindOnly {
    #[serde(default)]
    pub kind: ZooKind,
}

fn one() -> f64 {
    1.0
}

impl Regime {
    /// PyTorch's defaults: no regime axis.
    pub fn standard() -> Regime {
        Regime { name: "standard".into(), output_scale: 1.0, init_scale: 1.0, centered: false }
    }
}

fn default_batch_size() -> usize {
    64
}
fn default_learning_rate() -> f64 {
    2e-3
}
fn default_test_size() -> usize {
    500
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Tanh,
    Relu,
    Gelu,
}

impl Activation {
    pub fn name(self) -> &'static str {
        match self {
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::Gelu => "gelu",
        }
    }
}

impl ZooConfig {
    /// Reject an empty grid or out-of-range values, naming the key.
    pub fn validate(&self) -> Result<(), ZooError> {
        let bad = |key: &str, why: &str| Err(ZooError::Config(format!("zoo.{key}: {why}")));
        if self.kind != ZooKind::Mlp {
            return bad("kind", "this table is read as an MLP zoo; \"nasbench101\" tables have their own keys");
        }
        for (key, empty) in [
            ("depths", self.depths.is_empty()),
            ("widths", self.widths.is_empty()),
            ("activations", self.activations.is_empty()),
            ("seeds", self.seeds.is_empty()),
            ("checkpoints", self.checkpoints.is_empty()),
        ] {
            if empty {
                return bad(key, "must list at least one value");
            }
        }
        if self.depths.iter().any(|&d| d == 0 || d > 16) {
            return bad("depths", "hidden layers must be in 1..=16");
        }
        if self.widths.iter().any(|&w| w == 0 || w > 4096) {
            return bad("widths", "widths must be in 1..=4096");
        }
        if self.batch_size == 0 {
            return bad("batch_size", "must be positive");
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return bad("learning_rate", "must be a positive number");
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return bad("weight_decay", "must be ≥ 0");
        }
        if self.test_size < 20 || self.test_size > 1000 {
            return bad("test_size", "must be in 20..=1000 (of 1,797 images)");
        }
        for r in &self.regimes {
            if r.name.is_empty() || !r.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return bad("regimes.name", "must be a non-empty name of letters, digits and _");
            }
            if !(r.output_scale > 0.0 && r.output_scale.is_finite()) {
                return bad("regimes.output_scale", "must be a positive number");
            }
            if !(r.init_scale > 0.0 && r.init_scale.is_finite()) {
                return bad("regimes.init_scale", "must be a positive number");
            }
            if r.centered && self.widths.iter().any(|w| w % 2 == 1) {
                return bad("regimes.centered", "needs even widths (units come in pairs)");
            }
        }
        let mut names: Vec<&str> = self.regimes.iter().map(|r| r.name.as_str()).collect();
        names.sort_unstable();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return bad("regimes", "names must be distinct");
        }
        let mut sorted = self.checkpoints.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != self.checkpoints.len() {
            return bad("checkpoints", "epochs must be distinct");
        }
        Ok(())
    }

    /// The regimes of the grid: the configured ones, or the standard parametrisation.
    pub fn regime_axis(&self) -> Vec<Regime> {
        if self.regimes.is_empty() { vec![Regime::standard()] } else { self.regimes.clone() }
    }

    /// The last checkpoint: how long every network trains.
    pub fn epochs(&self) -> usize {
        self.checkpoints.iter().copied().max().unwrap_or(0)
    }
}
