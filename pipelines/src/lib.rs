//! The dataflow jobs of repspace. Each wires library stages (store: load; metrics:
//! prepare and compare; store: sink) into a timely dataflow graph.
//!
//! - [`allpairs`]: manifest → load + validate → prepare → tiles of the pair matrix →
//!   compare → Parquet parts; and the layers of each model → [`layer_paths`] on the model's
//!   owner. Which pairs are computed and which are copied from earlier runs is planned
//!   with differential dataflow ([`incremental`]).

// `!(x > 0.0)` is deliberate throughout: NaN must fail these checks.
#![allow(clippy::neg_cmp_op_on_partial_ord)]
// Results of parsing and dataflow stages carry several values; aliases would hide them.
#![allow(clippy::type_complexity)]

pub mod allpairs;
pub mod geometry;
pub mod incremental;
pub mod layer_paths;
pub mod plan;

pub use allpairs::{AllPairsJob, NamedMetric, Reusable, RunReport, fingerprint, run_all_pairs};
pub use geometry::GeometryJob;
pub use layer_paths::NamedPath;
pub use plan::{PairScope, Plan, TileId};
