//! Reading one representation named by a manifest row.

use crate::npy::{parse_npy, read_npz_member};
use crate::storage::GetError;
use crate::{LoadError, Location, NdArray, ReasonCode, Storage};

/// Read the array at `loc`: an `.npy` file, or member `key` of an `.npz` archive.
pub fn read_array(storage: &Storage, loc: &Location, key: Option<&str>) -> Result<NdArray, LoadError> {
    parse_array(storage.get(loc), loc, key)
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
