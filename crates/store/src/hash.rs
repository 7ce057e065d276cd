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
        // the values as one little-endian byte stream, fed in chunks (the same hash as one
        // update per value: BLAKE3 hashes the concatenation)
        let mut buf = vec![0u8; 8 * a.data.len().min(8192)];
        for chunk in a.data.chunks(8192) {
            for (dst, v) in buf.chunks_exact_mut(8).zip(chunk) {
                dst.copy_from_slice(&v.to_le_bytes());
            }
            h.update(&buf[..8 * chunk.len()]);
        }
    }
    h.finalize().to_hex()[..32].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chunked stream is the same hash as one update per value (the definition).
    #[test]
    fn chunked_hash_equals_the_value_by_value_definition() {
        let data: Vec<f64> = (0..20_000).map(|i| (i as f64).sin()).collect();
        let a = NdArray { shape: vec![100, 200], data };
        let mut h = blake3::Hasher::new();
        h.update(&2u64.to_le_bytes());
        h.update(&100u64.to_le_bytes());
        h.update(&200u64.to_le_bytes());
        for v in &a.data {
            h.update(&v.to_le_bytes());
        }
        assert_eq!(content_hash(&a, None), h.finalize().to_hex()[..32].to_string());
    }
}
