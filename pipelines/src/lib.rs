//! The dataflow jobs of repspace: library stages (store: load; metrics: prepare and
//! compare; store: parts) wired into a timely dataflow graph, one file per stage.
//!
//! - [`dataflow`]: the graph of one worker, stage by stage, and [`run_all_pairs`];
//! - [`job`]: what a run is ([`AllPairsJob`], [`NamedMetric`], [`NamedPath`]);
//!   [`fingerprint`]: a metric's identity across runs;
//! - stages: [`load`] → [`sample_counts`] → [`incremental`] (which tiles to compute, with
//!   differential dataflow) → [`tiles`] (routing, the tile operator) → [`compare_tile`]
//!   (+ [`rep_cache`] under a memory budget) → [`publish`] → [`barrier`];
//!   [`layer_paths`] on each model's owner; [`geometry`] for networks given by weights;
//! - [`plan`]: comparison groups, tiles of the pair matrix and their owners; [`registry`]:
//!   stable ordinals, so tiles stay put as models arrive;
//! - post-steps after the dataflow, from the run's [`current`] rows: [`path_distances`],
//!   [`embeddings`].

pub mod barrier;
pub mod compare_tile;
pub mod current;
pub mod dataflow;
pub mod embeddings;
pub mod fingerprint;
pub mod geometry;
pub mod incremental;
pub mod job;
pub mod layer_paths;
pub mod load;
pub mod path_distances;
pub mod plan;
pub mod publish;
pub mod registry;
pub mod rep_cache;
pub mod report;
pub mod sample_counts;
pub mod tiles;

pub use dataflow::{RunOutcome, run_all_pairs, worker_count};
pub use embeddings::{EmbeddingMethod, EmbeddingSpec, publish_embeddings};
pub use geometry::GeometryJob;
pub use job::{AllPairsJob, Cached, EarlierTiles, NamedMetric, NamedPath, Reusable, ReusablePaths};
pub use path_distances::{PostError, publish_path_distances};
pub use plan::{PairScope, Plan, TileId};
pub use registry::{Ordinals, Registered};
pub use report::RunReport;
