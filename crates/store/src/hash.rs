//! Content hashes: a representation's identity is the hash of its decoded values and shape.

use crate::NdArray;

/// blake3 over shape and little-endian f64 values of the training array and, if present,
/// the held-out array. Hex, 32 characters (128 bits).
pub fn content_hash(train: &NdArray, test: Option<&NdArray>) -> String {
    let mut h = blake3::Hasher::new();
    for a in std::iter::once(train).chain(test) {
        h.update(&(a.shape.len() as u64).to_le_bytes());
        for &s in &a.shape {
            h.update(&(s as u64).to_le_bytes());
        }
        for &v in &a.data {
            h.update(&v.to_le_bytes());
        }
    }
    h.finalize().to_hex()[..32].to_string()
}
