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
        let mut sorted = self.checkpoints.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != self.checkpoints.len() {
            return bad("checkpoints", "epochs must be distinct");
        }
        Ok(())
    }

    /// The last checkpoint: how long every network trains.
    pub fn epochs(&self) -> usize {
        self.checkpoints.iter().copied().max().unwrap_or(0)
    }
}
