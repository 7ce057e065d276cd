//! HDF5 files (`.h5`, `.hdf5`, and NWB files, which are HDF5) read through `object_store`
//! with `hdf5-reader`, a pure-Rust decoder (no libhdf5).
//!
//! A file is opened over byte-range reads of its object, behind a block cache: a run reads the
//! superblock, the object headers and B-trees on the way to one dataset, and that dataset's
//! chunks, never the whole file (an activation store holding every layer of a zoo stays cheap
//! to read one layer of, locally or on S3).
//!
//! Invariant: memory stays bounded whatever the file claims. Let L = [`MAX_DECODED_PER_STORED`]
//! × the file's size + [`SMALL_ALLOWANCE`] (deflate cannot expand more than 1032:1). Before any
//! element is read, a dataset's values *as f64* (8 bytes each, the widest form a read holds)
//! must fit in L; the decoder refuses to read more than L bytes or to allocate a chunk larger
//! than min(L, [`MAX_CHUNK_BYTES`]). So a read holds at most the decoded bytes, one chunk and
//! the f64 values at once: 3L, plus the block cache of a file opened over range reads.

use std::sync::Arc;

use hdf5_reader::{BlockCacheStorage, Dataset, Datatype, Hdf5File, OpenOptions, RangeRequestStorage};

use crate::npy::Dtype;
use crate::storage::GetError;
use crate::{LoadError, Location, NdArray, ReasonCode, Storage};

/// The largest decoded chunk a read allocates (h5py's chunks are ≤ 1 MiB by default).
pub const MAX_CHUNK_BYTES: usize = 256 << 20;
/// Deflate's largest expansion is 1032:1; a dataset's f64 values may not take more than this
/// many bytes per byte of the file (plus [`SMALL_ALLOWANCE`]).
pub const MAX_DECODED_PER_STORED: u64 = 1032;
/// Room beyond the proportional bound, for small files whose datasets are fill-valued
/// (unallocated chunks) or contiguous and uncompressed.
pub const SMALL_ALLOWANCE: u64 = 1 << 20;
/// Range reads are rounded out to blocks of this size and cached (per open file).
const BLOCK_BYTES: usize = 256 << 10;
const CACHED_BLOCKS: usize = 64;

fn unreadable(loc: &Location, reason: impl std::fmt::Display) -> LoadError {
    LoadError::new(ReasonCode::Unreadable, format!("{loc}: {reason}"))
}

/// An HDF5 file opened over range reads of its object.
pub struct H5File {
    pub file: Hdf5File,
    pub loc: Location,
    size: u64,
}

impl H5File {
    /// Open the file at `loc` (its superblock and root group are read).
    pub fn open(storage: &Storage, loc: &Location) -> Result<H5File, LoadError> {
        let size = match storage.size(loc) {
            Ok(s) => s,
            Err(GetError::NotFound) => {
                return Err(LoadError::new(ReasonCode::MissingFile, format!("file not found: {loc}")));
            }
            Err(GetError::Other(e)) => return Err(LoadError::new(ReasonCode::Unreadable, e.to_string())),
        };
        let (reader_storage, reader_loc) = (storage.clone(), loc.clone());
        let ranges = RangeRequestStorage::new(size, move |offset, len| {
            reader_storage
                .get_range(&reader_loc, offset, len as u64)
                .map(|b| b.to_vec())
                .map_err(|e| hdf5_reader::error::Error::Io(std::io::Error::other(e.to_string())))
        });
        let cached = BlockCacheStorage::new(Arc::new(ranges), BLOCK_BYTES, CACHED_BLOCKS);
        let file = Hdf5File::from_storage_with_options(Arc::new(cached), options(size))
            .map_err(|e| unreadable(loc, format!("not a readable HDF5 file ({e})")))?;
        Ok(H5File { file, loc: loc.clone(), size })
    }

    /// An HDF5 file held in memory (named `loc` in errors), with the same bounds.
    pub fn from_bytes(loc: &Location, bytes: bytes::Bytes) -> Result<H5File, LoadError> {
        let size = bytes.len() as u64;
        let file = Hdf5File::from_owner(bytes, options(size))
            .map_err(|e| unreadable(loc, format!("not a readable HDF5 file ({e})")))?;
        Ok(H5File { file, loc: loc.clone(), size })
    }

    /// The dataset at `path` (e.g. `/blocks/3/out`); a missing one is a `missing_file` error (as a missing `.npz` member is)
    /// naming file and path.
    pub fn dataset(&self, path: &str) -> Result<Dataset, LoadError> {
        let absolute = if path.starts_with('/') { path.to_string() } else { format!("/{path}") };
        self.file.dataset(&absolute).map_err(|e| {
            LoadError::new(ReasonCode::MissingFile, format!("{}: no dataset {absolute:?} ({e})", self.loc))
        })
    }

    /// Whether an object (group or dataset) exists at `path`.
    pub fn has(&self, path: &str) -> bool {
        self.file.dataset(path).is_ok() || self.file.group(path).is_ok()
    }

    /// The numeric dataset at `path`, every element as f64 (exact for every stored type but
    /// 64-bit integers beyond 2^53), in C order.
    pub fn read_f64(&self, path: &str) -> Result<NdArray, LoadError> {
        let ds = self.dataset(path)?;
        let shape: Vec<usize> = ds.shape().iter().map(|&d| d as usize).collect();
        let dtype = numeric_dtype(ds.dtype()).ok_or_else(|| {
            LoadError::new(
                ReasonCode::Unreadable,
                format!("{}: dataset {path:?} has type {:?}, not a number", self.loc, ds.dtype()),
            )
        })?;
        let bytes = dtype.bytes_for(&shape).map_err(|e| unreadable(&self.loc, format!("{path}: {}", e.reason)))?;
        self.check_claim(path, &shape, as_f64_bytes(&shape))?;
        let raw = ds.read_native_bytes().map_err(|e| unreadable(&self.loc, format!("dataset {path:?}: {e}")))?;
        if raw.len() != bytes {
            return Err(unreadable(
                &self.loc,
                format!("dataset {path:?} decoded to {} bytes, expected {bytes}", raw.len()),
            ));
        }
        Ok(NdArray { shape, data: dtype.decode(&raw, cfg!(target_endian = "little")) })
    }

    /// Refuse a dataset whose values, as f64, would take more than L bytes (the module's
    /// invariant), before anything is read or allocated.
    fn check_claim(&self, path: &str, shape: &[usize], f64_bytes: u64) -> Result<(), LoadError> {
        if f64_bytes > decoded_limit(self.size) {
            return Err(unreadable(
                &self.loc,
                format!(
                    "dataset {path:?} claims shape {shape:?} ({f64_bytes} bytes as f64), more than a {}-byte file can hold",
                    self.size
                ),
            ));
        }
        Ok(())
    }

    /// The integer dataset at `path` (any width, signed or not), flattened.
    pub fn read_i64(&self, path: &str) -> Result<Vec<i64>, LoadError> {
        let ds = self.dataset(path)?;
        let (size, signed) = match ds.dtype() {
            Datatype::FixedPoint { size, signed, .. } if (1..=8).contains(size) => (*size as usize, *signed),
            other => {
                return Err(LoadError::new(
                    ReasonCode::Unreadable,
                    format!("{}: dataset {path:?} has type {other:?}, not integers", self.loc),
                ));
            }
        };
        let n = ds.shape().iter().product::<u64>();
        let shape: Vec<usize> = ds.shape().iter().map(|&d| d as usize).collect();
        self.check_claim(path, &shape, as_f64_bytes(&shape))?;
        let raw = ds.read_native_bytes().map_err(|e| unreadable(&self.loc, format!("dataset {path:?}: {e}")))?;
        if raw.len() as u64 != n.saturating_mul(size as u64) {
            return Err(unreadable(
                &self.loc,
                format!("dataset {path:?} decoded to {} bytes, expected {n} × {size}", raw.len()),
            ));
        }
        let mut out = Vec::with_capacity(raw.len() / size);
        for c in raw.chunks_exact(size) {
            let mut b = [0u8; 8];
            let v = if cfg!(target_endian = "little") {
                b[..size].copy_from_slice(c);
                if signed && c[size - 1] & 0x80 != 0 {
                    b[size..].fill(0xff);
                }
                u64::from_le_bytes(b)
            } else {
                b[8 - size..].copy_from_slice(c);
                if signed && c[0] & 0x80 != 0 {
                    b[..8 - size].fill(0xff);
                }
                u64::from_be_bytes(b)
            };
            if !signed && v > i64::MAX as u64 {
                return Err(unreadable(&self.loc, format!("dataset {path:?} holds {v}, beyond a signed 64-bit id")));
            }
            out.push(v as i64);
        }
        Ok(out)
    }

    /// The names of a group's members (sub-groups and datasets), sorted; empty when there is
    /// no such group.
    pub fn member_names(&self, path: &str) -> Vec<String> {
        let Ok(group) = self.file.group(path) else { return Vec::new() };
        let Ok((groups, datasets)) = group.member_names() else { return Vec::new() };
        let mut all: Vec<String> = groups.into_iter().chain(datasets).collect();
        all.sort();
        all
    }

    /// The strings of the dataset at `path` (fixed or variable length).
    pub fn read_strings(&self, path: &str) -> Result<Vec<String>, LoadError> {
        let ds = self.dataset(path)?;
        let n = ds.shape().iter().product::<u64>();
        if ds.shape().is_empty() {
            return ds
                .read_string()
                .map(|s| vec![s])
                .map_err(|e| unreadable(&self.loc, format!("dataset {path:?}: {e}")));
        }
        if n > self.size {
            return Err(unreadable(
                &self.loc,
                format!("dataset {path:?} claims {n} strings in a {}-byte file", self.size),
            ));
        }
        ds.read_strings().map_err(|e| unreadable(&self.loc, format!("dataset {path:?}: {e}")))
    }
}

/// L of the module's invariant, for a file of `size` bytes.
fn decoded_limit(size: u64) -> u64 {
    size.saturating_mul(MAX_DECODED_PER_STORED).saturating_add(SMALL_ALLOWANCE)
}

/// The bytes of a dataset of `shape` as f64 values (saturating).
fn as_f64_bytes(shape: &[usize]) -> u64 {
    shape.iter().fold(8u64, |n, &d| n.saturating_mul(d as u64))
}

/// The decoder's bounds for a file of `size` bytes: at most L bytes read, no chunk larger
/// than min(L, [`MAX_CHUNK_BYTES`]).
fn options(size: u64) -> OpenOptions {
    let limit = usize::try_from(decoded_limit(size)).unwrap_or(usize::MAX);
    OpenOptions::default().with_max_chunk_bytes(limit.min(MAX_CHUNK_BYTES)).with_max_read_bytes(limit)
}

/// The element type of a numeric HDF5 datatype.
fn numeric_dtype(dtype: &Datatype) -> Option<Dtype> {
    Some(match *dtype {
        Datatype::FloatingPoint { size: 2, .. } => Dtype::F16,
        Datatype::FloatingPoint { size: 4, .. } => Dtype::F32,
        Datatype::FloatingPoint { size: 8, .. } => Dtype::F64,
        Datatype::FixedPoint { size: 1, signed, .. } => pick(signed, Dtype::I8, Dtype::U8),
        Datatype::FixedPoint { size: 2, signed, .. } => pick(signed, Dtype::I16, Dtype::U16),
        Datatype::FixedPoint { size: 4, signed, .. } => pick(signed, Dtype::I32, Dtype::U32),
        Datatype::FixedPoint { size: 8, signed, .. } => pick(signed, Dtype::I64, Dtype::U64),
        Datatype::Enum { ref base, .. } => return numeric_dtype(base),
        _ => return None,
    })
}

fn pick(signed: bool, s: Dtype, u: Dtype) -> Dtype {
    if signed { s } else { u }
}

/// Whether the file name says HDF5.
pub fn is_hdf5_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.ends_with(".h5") || n.ends_with(".hdf5") || n.ends_with(".nwb")
}

/// The array at dataset `key` of the HDF5 file at `loc`.
pub fn read_array(storage: &Storage, loc: &Location, key: Option<&str>) -> Result<NdArray, LoadError> {
    let key = key.ok_or_else(|| {
        LoadError::new(ReasonCode::InvalidRow, format!("{loc}: an HDF5 file needs a `key` column naming the dataset"))
    })?;
    H5File::open(storage, loc)?.read_f64(key)
}
