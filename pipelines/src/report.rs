//! What a run did, summed over its workers. The same value travels from each worker to
//! worker 0 through the barrier and is stored in the run record (`_runs/<run_id>.json`).

use repspace_store::Location;
use serde::{Deserialize, Serialize};

use crate::incremental::TileKey;

/// What a run read of one representation: (rep, content hash, shape, prepared per metric).
pub type RepRecord = (usize, String, Vec<usize>, Vec<bool>);

/// A worker's report, the identities of the tiles it wants (kept or computed), and what it
/// read of each representation it loaded.
pub(crate) type WorkerReport = (RunReport, Vec<TileKey>, Vec<RepRecord>);

/// What one worker (or, summed, the whole run) did.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RunReport {
    pub representations: usize,
    /// Representations taken from the registry without reading their unchanged files.
    pub unread: usize,
    /// Rows of `distances` published.
    pub pairs: usize,
    /// Pair-metric rows computed by this run, and reused from earlier runs.
    pub computed: usize,
    pub reused: usize,
    /// Pair-metric rows copied from an equal-content pair compared once in this run.
    pub deduplicated: usize,
    /// Tiles (per metric) computed by this run, and kept as the output held them.
    pub computed_tiles: usize,
    pub kept_tiles: usize,
    /// (model, path metric) paths analysed.
    pub paths: usize,
    /// Pairs computed by this run whose `distance_test` is underdetermined (rank-deficient
    /// fitted cross-covariance: fewer training rows than units, dead ReLU units): the
    /// `test_underdetermined` rows, scored with the average completion.
    pub test_underdetermined: usize,
    pub errors: usize,
    /// Every part the run published, as URLs.
    pub parts: Vec<Location>,
    /// Every part its commit retired (earlier runs' parts, tiles no longer wanted).
    pub removed: Vec<Location>,
    /// The pair phase: seconds the busiest worker spent computing or copying its tiles'
    /// rows (loading, planning and publishing are outside it).
    #[serde(rename = "pair_phase_seconds")]
    pub pair_seconds: f64,
}

impl RunReport {
    /// Add another worker's report: counts add up, parts gather, and the pair phase lasts
    /// as long as its busiest worker (workers run side by side).
    pub fn absorb(&mut self, other: RunReport) {
        self.representations += other.representations;
        self.unread += other.unread;
        self.pairs += other.pairs;
        self.paths += other.paths;
        self.computed += other.computed;
        self.reused += other.reused;
        self.deduplicated += other.deduplicated;
        self.computed_tiles += other.computed_tiles;
        self.kept_tiles += other.kept_tiles;
        self.test_underdetermined += other.test_underdetermined;
        self.errors += other.errors;
        self.parts.extend(other.parts);
        self.removed.extend(other.removed);
        self.pair_seconds = self.pair_seconds.max(other.pair_seconds);
    }
}
