//! Storage for repspace: manifests, activation readers (.npy, .npz, HDF5, Zarr), content hashes,
//! every read and write through `object_store`, and the Parquet output tables.
//!
//! Nothing here knows any metric math or the dataflow.

pub mod array;
pub mod bundle;
pub mod error;
pub mod faults;
pub mod hash;
pub mod hdf5;
pub mod load;
pub mod manifest;
pub mod npy;
pub mod output;
pub mod safetensors;
pub mod storage;
pub mod tables;
pub mod zarr;

pub use array::NdArray;
pub use error::{LoadError, ReasonCode, StoreError};
pub use manifest::{Manifest, ManifestRow};
pub use output::{Output, PartName, RunId, TilePart, Writer};
pub use storage::{Location, Storage};
