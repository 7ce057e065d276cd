//! `[zoo] kind = "nasbench101"`: how many cells, how the networks around them are shaped, and
//! the training schedule (configs/zoo_nasbench.toml).

use serde::Deserialize;

use super::network::{LABELS, Skeleton};
use super::sample::UNIQUE_CELLS;
use crate::ZooError;
use crate::config::ZooKind;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NasBenchFile {
    pub zoo: NasBenchConfig,
}

/// N distinct cells sampled with `seed`; each trained once, saved at every checkpoint epoch
/// (0 = at initialisation).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NasBenchConfig {
    /// Must be "nasbench101".
    pub kind: ZooKind,
    /// Output directory (or URL), relative to the config file.
    pub out: String,
    /// Distinct cells (no two isomorphic).
    pub cells: usize,
    /// Seed of the cell sample; each network's initialisation and minibatch order also mix
    /// it with the cell's module hash.
    #[serde(default)]
    pub seed: u64,
    /// Channels after the stem (the benchmark: 128).
    #[serde(default = "default_stem_channels")]
    pub stem_channels: usize,
    /// Stacks of cells (the benchmark: 3); channels double and the image halves between stacks.
    #[serde(default = "default_stacks")]
    pub stacks: usize,
    /// Cells per stack (the benchmark: 3).
    #[serde(default = "default_cells_per_stack")]
    pub cells_per_stack: usize,
    /// Side of the square input: the 8×8 digits upsampled by nearest neighbour.
    #[serde(default = "default_image_size")]
    pub image_size: usize,
    /// Epochs at which weights and activations are written; 0 is the initialisation.
    pub checkpoints: Vec<usize>,
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Adam's step size.
    #[serde(default = "default_learning_rate")]
    pub learning_rate: f64,
    /// Held-out test images; also the probe set whose activations are written.
    #[serde(default = "default_test_size")]
    pub test_size: usize,
    /// Seed of the train/test split (fixed across the zoo).
    #[serde(default)]
    pub split_seed: u64,
}

fn default_stem_channels() -> usize {
    16
}
fn default_stacks() -> usize {
    2
}
fn default_cells_per_stack() -> usize {
    1
}
fn default_image_size() -> usize {
    16
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

/// Cells a config may ask for: sampling slows as the sample nears the whole space.
pub const MAX_CELLS: usize = 100_000;

impl NasBenchConfig {
    /// Reject out-of-range values, naming the key.
    pub fn validate(&self) -> Result<(), ZooError> {
        let bad = |key: &str, why: String| Err(ZooError::Config(format!("zoo.{key}: {why}")));
        if self.kind != ZooKind::NasBench101 {
            return bad("kind", "must be \"nasbench101\" for this table".into());
        }
        if self.cells == 0 || self.cells > MAX_CELLS {
            return bad("cells", format!("must be in 1..={MAX_CELLS} (the space has {UNIQUE_CELLS})"));
        }
        if !(1..=1024).contains(&self.stem_channels) {
            return bad("stem_channels", "must be in 1..=1024".into());
        }
        if !(1..=5).contains(&self.stacks) {
            return bad("stacks", "must be in 1..=5".into());
        }
        if !(1..=5).contains(&self.cells_per_stack) {
            return bad("cells_per_stack", "must be in 1..=5".into());
        }
        let halvings = 1usize << (self.stacks - 1);
        if self.image_size < 2 * halvings || self.image_size > 64 || !self.image_size.is_multiple_of(halvings) {
            return bad(
                "image_size",
                format!("must be in 2^stacks..=64 and divisible by {halvings} (2^(stacks-1), the max-pools)"),
            );
        }
        if self.checkpoints.is_empty() {
            return bad("checkpoints", "must list at least one epoch".into());
        }
        let mut sorted = self.checkpoints.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != self.checkpoints.len() {
            return bad("checkpoints", "epochs must be distinct".into());
        }
        if self.batch_size < 2 {
            return bad("batch_size", "must be at least 2 (batch norm)".into());
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return bad("learning_rate", "must be a positive number".into());
        }
        if self.test_size < 20 || self.test_size > 1000 {
            return bad("test_size", "must be in 20..=1000 (of 1,797 images)".into());
        }
        Ok(())
    }

    /// The network around every cell.
    pub fn skeleton(&self) -> Skeleton {
        Skeleton {
            in_channels: 1,
            stem_channels: self.stem_channels,
            stacks: self.stacks,
            cells_per_stack: self.cells_per_stack,
            labels: LABELS,
        }
    }
}
