//! Reading one representation named by a manifest row.

use crate::npy::{parse_npy, read_npz_member};
use crate::storage::GetError;
use crate::{LoadError, Location, NdArray, ReasonCode, Storage};

/// How a representation's file is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `.npy`, or a member of an `.npz`: read whole, then parsed.
    Numpy,
    /// An HDF5 file (`.h5`, `.hdf5`, `.nwb`): dataset `key`, by range reads.
    Hdf5,
    /// A Zarr store (`.zarr`): array `key`, object by object.
    Zarr,
}

impl Format {
    pub fn of(loc: &Location) -> Format {
        if crate::zarr::is_zarr_location(loc) {
            Format::Zarr
        } else if crate::hdf5::is_hdf5_name(loc.file_name()) {
            Format::Hdf5
        } else {
            Format::Numpy
        }
    }

    /// Whether the whole object is read and then parsed (so reads can be batched).
    pub fn reads_whole_object(self) -> bool {
        self == Format::Numpy
    }
}

/// Read the array at `loc`: an `.npy` file, member `key` of an `.npz` archive, dataset `key`
/// of an HDF5 file, or array `key` of a Zarr store.
pub fn read_array(storage: &Storage, loc: &Location, key: Option<&str>) -> Result<NdArray, LoadError> {
    match Format::of(loc) {
        Format::Numpy => parse_array(storage.get(loc), loc, key),
        Format::Hdf5 => crate::hdf5::read_array(storage, loc, key),
        Format::Zarr => crate::zarr::read_array(storage, loc, key),
    }
}

/// The array in the bytes read from `loc` (see [`read_array`]).
pub fn parse_array(
    read: Result<bytes::Bytes, GetError>,
    loc: &Location,
    key: Option<&str>,
) -> Result<NdArray, LoadError> {
    let bytes = match read {
        Ok(b) => b,
        Err(GetError::NotFound) => {
            return Err(LoadError::new(ReasonCode::MissingFile, format!("file not found: {loc}")));
        }
        Err(GetError::Other(e)) => return Err(LoadError::new(ReasonCode::Unreadable, e.to_string())),
    };
    let name = loc.file_name().to_ascii_lowercase();
    let is_npz = name.ends_with(".npz") || (key.is_some() && !name.ends_with(".npy"));
    let parsed = match (is_npz, key) {
        (true, Some(k)) => read_npz_member(&bytes, k),
        (true, None) => Err(LoadError::new(
            ReasonCode::InvalidRow,
            "an .npz file needs a `key` column naming the array to read".to_string(),
        )),
        (false, _) => parse_npy(&bytes),
    };
    parsed.map_err(|e| {
        LoadError::new(e.code, format!("{loc}{}: {}", key.map(|k| format!("[{k}]")).unwrap_or_default(), e.reason))
    })
}
