//! The dataflow jobs of repspace. Each wires library stages (store: load; metrics:
//! prepare and compare; store: sink) into a timely dataflow graph.
//!
//! - [`allpairs`]: manifest → load + validate → prepare → tiles of the pair matrix →
//!   compare → Parquet parts; and the layers of each model → [`layer_paths`] on the model's
//!   owner.

pub mod allpairs;
pub mod geometry;
pub mod layer_paths;
pub mod plan;

pub use allpairs::{AllPairsJob, NamedMetric, RunReport, run_all_pairs};
pub use geometry::GeometryJob;
pub use layer_paths::NamedPath;
pub use plan::{PairScope, Plan, TileId};
