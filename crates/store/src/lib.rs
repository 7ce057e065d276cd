//! Storage for repspace: manifests, activation readers (.npy, .npz), content hashes,
//! every read and write through `object_store`, and the Parquet output tables.
//!
//! Nothing here knows any metric math or the dataflow.

// `!(x > 0.0)` is deliberate throughout: NaN must fail these checks.
#![allow(clippy::neg_cmp_op_on_partial_ord)]
// Results of parsing and dataflow stages carry several values; aliases would hide them.
#![allow(clippy::type_complexity)]

pub mod array;
pub mod error;
pub mod hash;
pub mod load;
pub mod manifest;
pub mod npy;
pub mod safetensors;
pub mod storage;
pub mod tables;

pub use array::NdArray;
pub use error::{LoadError, ReasonCode, StoreError};
pub use manifest::{Manifest, ManifestRow};
pub use storage::{Location, Storage};
