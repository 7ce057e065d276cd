//! The dataflow jobs of repspace. Each wires library stages (store: load; metrics:
//! prepare and compare; store: sink) into a timely dataflow graph.
//!
//! - [`allpairs`]: manifest → load + validate → prepare → tiles of the pair matrix →
//!   compare → Parquet parts.

pub mod allpairs;
pub mod plan;

pub use allpairs::{AllPairsJob, NamedMetric, RunReport, run_all_pairs};
pub use plan::{PairScope, Plan, TileId};
