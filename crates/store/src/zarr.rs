//! Zarr arrays (v2 and v3, as zarr-python writes them: zstd for v3, Blosc for v2) read with
//! `zarrs` through the same `object_store` stores as every other read, local or `s3://`.
//!
//! A manifest row names the store (`uri`, a `.zarr` directory or URL) and the array inside
//! it (`key`, e.g. `blocks/3/out`; empty when the store's root is the array).
//!
//! Invariant: memory stays bounded whatever the metadata claims. Before any chunk is read the
//! array's decoded size is checked against the bytes its chunks occupy (one listing of the
//! array's prefix) × [`MAX_DECODED_PER_STORED`], plus [`FILL_ALLOWANCE`] for chunks never
//! written (Zarr reads those as the fill value).

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::prefix::PrefixStore;
use zarrs::array::Array;
use zarrs::array::data_type::{
    BFloat16DataType, BoolDataType, Float16DataType, Float32DataType, Float64DataType, Int8DataType, Int16DataType,
    Int32DataType, Int64DataType, UInt8DataType, UInt16DataType, UInt32DataType, UInt64DataType,
};
use zarrs_object_store::AsyncObjectStore;

use crate::npy::Dtype;
use crate::{LoadError, Location, NdArray, ReasonCode, Storage};

/// Each stored byte may decode to at most this many bytes (zstd and Blosc on constant data
/// reach a few thousand; real activations far less).
pub const MAX_DECODED_PER_STORED: u64 = 1 << 16;
/// Room for chunks never written, read as the fill value.
pub const FILL_ALLOWANCE: u64 = 64 << 20;

/// Whether a location names a Zarr store (`*.zarr`, with or without a trailing slash).
pub fn is_zarr_location(loc: &Location) -> bool {
    loc.url().path().trim_end_matches('/').to_ascii_lowercase().ends_with(".zarr")
}

fn unreadable(loc: &Location, key: &str, reason: impl std::fmt::Display) -> LoadError {
    LoadError::new(ReasonCode::Unreadable, format!("{loc}[{key}]: {reason}"))
}

/// The array `key` of the Zarr store at `loc`, every element as f64 in C order.
pub fn read_array(storage: &Storage, loc: &Location, key: Option<&str>) -> Result<NdArray, LoadError> {
    let key = key.unwrap_or("").trim_matches('/');
    let (store, root) = storage.store_for(loc).map_err(|e| LoadError::new(ReasonCode::Unreadable, e.to_string()))?;
    let prefixed: Arc<dyn ObjectStore> = Arc::new(PrefixStore::new(store, root));
    let zarr = Arc::new(AsyncObjectStore::new(prefixed.clone()));
    let node = format!("/{key}");
    storage.block_on(async {
        let array = Array::async_open(zarr, &node).await.map_err(|e| match e {
            zarrs::array::ArrayCreateError::MissingMetadata => LoadError::new(
                ReasonCode::MissingFile,
                format!("{loc}: the Zarr store has no array {:?}", if key.is_empty() { "/" } else { key }),
            ),
            e => unreadable(loc, key, format!("not a readable Zarr array ({e})")),
        })?;
        let shape: Vec<usize> = array.shape().iter().map(|&d| d as usize).collect();
        let dtype = element_dtype(&array)
            .ok_or_else(|| unreadable(loc, key, format!("element type {:?} is not a number", array.data_type())))?;
        let bytes = dtype.bytes_for(&shape).map_err(|e| unreadable(loc, key, e.reason))?;
        let stored = stored_bytes(&*prefixed, key).await.map_err(|e| unreadable(loc, key, e))?;
        let limit = stored.saturating_mul(MAX_DECODED_PER_STORED).saturating_add(FILL_ALLOWANCE);
        if bytes as u64 > limit {
            return Err(unreadable(
                loc,
                key,
                format!("the array claims shape {shape:?} ({bytes} bytes) but its chunks hold {stored} bytes"),
            ));
        }
        let subset = array.subset_all();
        macro_rules! read {
            ($t:ty, $to:expr) => {{
                let v: Vec<$t> = array
                    .async_retrieve_array_subset::<Vec<$t>>(&subset)
                    .await
                    .map_err(|e| unreadable(loc, key, format!("cannot read: {e}")))?;
                v.into_iter().map($to).collect::<Vec<f64>>()
            }};
        }
        let data = match dtype {
            Dtype::F64 => read!(f64, |x| x),
            Dtype::F32 => read!(f32, f64::from),
            Dtype::F16 => read!(half::f16, |x: half::f16| x.to_f64()),
            Dtype::BF16 => read!(half::bf16, |x: half::bf16| x.to_f64()),
            Dtype::I8 => read!(i8, f64::from),
            Dtype::U8 => read!(u8, f64::from),
            Dtype::I16 => read!(i16, f64::from),
            Dtype::U16 => read!(u16, f64::from),
            Dtype::I32 => read!(i32, f64::from),
            Dtype::U32 => read!(u32, f64::from),
            Dtype::I64 => read!(i64, |x| x as f64),
            Dtype::U64 => read!(u64, |x| x as f64),
            Dtype::Bool => read!(bool, |x| if x { 1.0 } else { 0.0 }),
        };
        Ok(NdArray { shape, data })
    })
}

/// The element type of a numeric Zarr array.
fn element_dtype<S: ?Sized>(array: &Array<S>) -> Option<Dtype> {
    let t = array.data_type();
    Some(if t.is::<Float64DataType>() {
        Dtype::F64
    } else if t.is::<Float32DataType>() {
        Dtype::F32
    } else if t.is::<Float16DataType>() {
        Dtype::F16
    } else if t.is::<BFloat16DataType>() {
        Dtype::BF16
    } else if t.is::<Int8DataType>() {
        Dtype::I8
    } else if t.is::<UInt8DataType>() {
        Dtype::U8
    } else if t.is::<Int16DataType>() {
        Dtype::I16
    } else if t.is::<UInt16DataType>() {
        Dtype::U16
    } else if t.is::<Int32DataType>() {
        Dtype::I32
    } else if t.is::<UInt32DataType>() {
        Dtype::U32
    } else if t.is::<Int64DataType>() {
        Dtype::I64
    } else if t.is::<UInt64DataType>() {
        Dtype::U64
    } else if t.is::<BoolDataType>() {
        Dtype::Bool
    } else {
        return None;
    })
}

/// The bytes stored under the array's prefix (its chunks and metadata), from one listing.
async fn stored_bytes(store: &dyn ObjectStore, key: &str) -> Result<u64, object_store::Error> {
    use futures::TryStreamExt;
    let prefix = (!key.is_empty()).then(|| object_store::path::Path::from(key));
    let listed: Vec<object_store::ObjectMeta> = store.list(prefix.as_ref()).try_collect().await?;
    Ok(listed.iter().map(|m| m.size).sum())
}
