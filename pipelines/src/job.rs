//! What a run is: the job every worker shares read-only, the metrics and paths it names,
//! and what earlier runs left that it may reuse.

use std::collections::HashMap;

use indicatif::ProgressBar;
use repspace_metrics::Tensor;
use repspace_metrics::paths::{PathPoint, PathSpec};
use repspace_metrics::{MetricSpec, Precision};
use repspace_store::tables::{DistanceRow, ErrorRow, PathRow, PathSummaryRow};
use repspace_store::{Manifest, ManifestRow, Output, ReasonCode, RunId, Storage};

use crate::fingerprint::{metric_fingerprint, path_fingerprint};
use crate::geometry::GeometryJob;
use crate::incremental::TileKey;
use crate::plan::PairScope;
use crate::registry::Ordinals;

/// A metric as the config names it.
#[derive(Clone, Debug)]
pub struct NamedMetric {
    pub name: String,
    pub spec: MetricSpec,
    /// The arithmetic of the cross products (shape metrics).
    pub precision: Precision,
}

impl NamedMetric {
    /// The identity of the metric's kind, parameters and precision (not its name):
    /// see [`crate::fingerprint`].
    pub fn fingerprint(&self) -> String {
        metric_fingerprint(&self.spec, self.precision)
    }
}

/// A path metric as the config names it.
#[derive(Clone, Debug)]
pub struct NamedPath {
    pub name: String,
    pub spec: PathSpec,
}

impl NamedPath {
    pub fn fingerprint(&self) -> String {
        path_fingerprint(&self.spec)
    }
}

/// The points of one layer for every path metric (layers are [samples, units] arrays).
pub(crate) fn layer_points(paths: &[NamedPath], x: &Tensor) -> Vec<Result<PathPoint, (ReasonCode, String)>> {
    paths
        .iter()
        .map(|p| {
            if x.shape().len() != 2 {
                return Err((
                    ReasonCode::WrongRank,
                    format!("path {:?}: layers must be 2-D [samples, units], got shape {:?}", p.name, x.shape()),
                ));
            }
            p.spec.point(&x.to_matrix()).map_err(|e| (ReasonCode::PrepareFailed, format!("path {:?}: {e}", p.name)))
        })
        .collect()
}

/// Rows of earlier runs that this run may reuse: (metric fingerprint, hash_a, hash_b) → row.
pub type Reusable = HashMap<(String, String, String), DistanceRow>;

/// Earlier paths by `path_key`: (summary row, per-layer rows).
pub type ReusablePaths = HashMap<String, (PathSummaryRow, Vec<PathRow>)>;

/// Where the rows of an earlier run's tiles are, for pair-level reuse inside changed tiles.
#[derive(Clone, Debug, Default)]
pub struct EarlierTiles {
    pub parts: HashMap<(String, u64, u32, u32), Vec<repspace_store::bundle::RowSource>>,
    pub blocks: HashMap<(String, String), Vec<u32>>,
    /// Every file of `distances/` when the run started, and its tile parts and bundles (the
    /// commit settles them without listing or reading footers again).
    pub listing: Vec<repspace_store::Location>,
    pub sources: std::sync::Arc<repspace_store::bundle::TileSources>,
}

/// What an earlier run read from a file that has not changed since (same size, time and
/// e-tag, older than that run by more than the clock's resolution): the load stage takes it
/// instead of reading the file again, and prepares the representation only if a tile to
/// compute needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cached {
    pub hash: String,
    pub shape: Vec<usize>,
}

/// Everything a run needs; shared read-only by all workers.
pub struct AllPairsJob {
    pub run_id: RunId,
    pub output: Output,
    pub manifest: Manifest,
    pub metrics: Vec<NamedMetric>,
    /// Layer-path metrics over the layers of each model.
    pub paths: Vec<NamedPath>,
    /// Where to evaluate the geometry of networks given by weights.
    pub geometry: Option<GeometryJob>,
    pub scope: PairScope,
    /// Each representation's comparison group and stable ordinal, and each group's tile
    /// size (`registry.rs`): the plan's blocks.
    pub ordinals: Ordinals,
    /// The identities of the tile parts the output holds (listed by name): such tiles are
    /// kept, not recomputed.
    pub committed_tiles: Vec<TileKey>,
    /// The earlier tiles' `distances` rows (tile parts or bundle members) by place (metric fingerprint, group hash, blocks),
    /// and the blocks each content hash sat in (group, content hash → blocks) under the
    /// earlier registry: a recomputed tile copies its unchanged pairs from there.
    pub earlier: EarlierTiles,
    /// Per manifest row: what an earlier run read from its unchanged file, if trusted.
    pub cached: Vec<Option<Cached>>,
    /// Reads the inputs (the output has its own handle).
    pub storage: Storage,
    /// Advanced once per pair and metric; `None` for no progress display.
    pub progress: Option<ProgressBar>,
    /// Rows of earlier runs' run parts (within-model path rows, and pair rows of versions
    /// before tile parts): a pair with the same metric fingerprint and content hashes is
    /// copied, not recomputed.
    pub reusable: Reusable,
    /// A worker publishes its `distances` rows as a part whenever this many have gathered,
    /// so a killed run's finished pairs survive for the rerun to reuse.
    pub flush_rows: usize,
    /// Bytes of prepared representations one worker may hold while comparing. `None`: the
    /// loaders send every factor to the tile owners, which keep them all (fastest; one copy
    /// per worker). `Some(b)`: tile owners load the representations of their tiles
    /// themselves, tile by tile in block order, keeping at most about `b` bytes of them
    /// (a representation may be loaded several times).
    pub worker_memory_budget: Option<u64>,
    /// Earlier runs' paths by `path_key`: a model whose path metric and layers (names,
    /// order, content hashes) are unchanged keeps its rows instead of being re-analysed.
    pub reusable_paths: ReusablePaths,
}

impl AllPairsJob {
    /// An `errors` row about one manifest row.
    pub(crate) fn error_row(&self, row: &ManifestRow, code: ReasonCode, message: String) -> ErrorRow {
        ErrorRow {
            model_id: row.model_id.clone(),
            layer: row.layer.clone(),
            uri: Some(row.uri.to_string()),
            reason: code.as_str().into(),
            message,
            metric: None,
            model_b: None,
            layer_b: None,
            run_id: self.run_id.to_string(),
        }
    }

    /// Advance the progress bar by `n` (pair, metric)s.
    pub(crate) fn advance(&self, n: usize) {
        if let Some(bar) = &self.progress {
            bar.inc(n as u64);
        }
    }
}
