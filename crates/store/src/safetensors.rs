//! The safetensors format (what PyTorch and candle write): an 8-byte little-endian header
//! length, a JSON header naming each tensor's dtype, shape and byte range, then the data.

use std::collections::BTreeMap;

use crate::npy::Dtype;
use crate::{LoadError, NdArray, ReasonCode};

fn unreadable(msg: impl Into<String>) -> LoadError {
    LoadError::new(ReasonCode::Unreadable, msg)
}

/// Every tensor of a safetensors file, by name (as f64, row-major): floats (F16, BF16, F32,
/// F64), integers and BOOL upcast; a tensor whose bytes are not exactly its shape's is refused.
pub fn parse_safetensors(bytes: &[u8]) -> Result<BTreeMap<String, NdArray>, LoadError> {
    if bytes.len() < 8 {
        return Err(unreadable("not a safetensors file (shorter than its 8-byte header length)"));
    }
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let start = 8usize
        .checked_add(n)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| unreadable("truncated safetensors header"))?;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..start])
        .map_err(|e| unreadable(format!("safetensors header is not JSON: {e}")))?;
    let obj = header.as_object().ok_or_else(|| unreadable("safetensors header is not an object"))?;
    let data = &bytes[start..];
    let mut out = BTreeMap::new();
    for (name, info) in obj {
        if name == "__metadata__" {
            continue;
        }
        let dtype = info["dtype"].as_str().unwrap_or("");
        let shape: Vec<usize> = info["shape"]
            .as_array()
            .ok_or_else(|| unreadable(format!("tensor {name:?} has no shape")))?
            .iter()
            .map(|v| v.as_u64().map(|u| u as usize).ok_or_else(|| unreadable(format!("tensor {name:?}: bad shape"))))
            .collect::<Result<_, _>>()?;
        let offsets = info["data_offsets"]
            .as_array()
            .ok_or_else(|| unreadable(format!("tensor {name:?} has no data_offsets")))?;
        let (a, b) = match (offsets.first().and_then(|v| v.as_u64()), offsets.get(1).and_then(|v| v.as_u64())) {
            (Some(a), Some(b)) if a <= b && (b as usize) <= data.len() => (a as usize, b as usize),
            _ => return Err(unreadable(format!("tensor {name:?}: data offsets outside the file (truncated?)"))),
        };
        let raw = &data[a..b];
        let dtype = Dtype::from_safetensors(dtype).ok_or_else(|| {
            unreadable(format!(
                "tensor {name:?}: unsupported dtype {dtype:?} (floats F16, BF16, F32, F64; integers; BOOL)"
            ))
        })?;
        // checked before decoding: the declared shape must be exactly the stored bytes
        let needed = dtype.bytes_for(&shape)?;
        if raw.len() != needed {
            return Err(unreadable(format!(
                "tensor {name:?}: {} bytes for shape {shape:?} ({needed} expected)",
                raw.len()
            )));
        }
        let values = dtype.decode(raw, true);
        out.insert(name.clone(), NdArray { shape, data: values });
    }
    Ok(out)
}

/// Encode named f32 tensors as safetensors (tests, generated zoos).
pub fn write_safetensors(tensors: &[(&str, &[usize], &[f64])]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    let mut data = Vec::new();
    for (name, shape, values) in tensors {
        let len = values.len() * 4;
        header.insert(
            name.to_string(),
            serde_json::json!({ "dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len] }),
        );
        for v in *values {
            data.extend_from_slice(&(*v as f32).to_le_bytes());
        }
        offset += len;
    }
    let mut text = serde_json::Value::Object(header).to_string().into_bytes();
    while !text.len().is_multiple_of(8) {
        text.push(b' ');
    }
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend(text);
    out.extend(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let bytes = write_safetensors(&[
            ("fc.weight", &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
            ("fc.bias", &[2], &[0.5, -0.5]),
        ]);
        let t = parse_safetensors(&bytes).unwrap();
        assert_eq!(t["fc.weight"].shape, vec![2, 3]);
        assert_eq!(t["fc.bias"].data, vec![0.5, -0.5]);
        let err = parse_safetensors(&bytes[..bytes.len() - 4]).unwrap_err();
        assert_eq!(err.code, ReasonCode::Unreadable);
        assert!(err.reason.contains("outside the file"), "{}", err.reason);
    }

    /// A safetensors file of one tensor with a raw dtype and bytes.
    fn one(dtype: &str, shape: &[u64], raw: &[u8]) -> Vec<u8> {
        let header = serde_json::json!({ "t": { "dtype": dtype, "shape": shape, "data_offsets": [0, raw.len()] } });
        let text = header.to_string().into_bytes();
        let mut out = (text.len() as u64).to_le_bytes().to_vec();
        out.extend(text);
        out.extend_from_slice(raw);
        out
    }

    #[test]
    fn half_precision_and_integers_are_upcast_and_sizes_checked() {
        let f16: Vec<u8> = [0.5f64, -3.0].iter().flat_map(|v| half::f16::from_f64(*v).to_le_bytes()).collect();
        assert_eq!(parse_safetensors(&one("F16", &[2], &f16)).unwrap()["t"].data, vec![0.5, -3.0]);
        let bf16: Vec<u8> = [1.0f64, -256.0].iter().flat_map(|v| half::bf16::from_f64(*v).to_le_bytes()).collect();
        assert_eq!(parse_safetensors(&one("BF16", &[1, 2], &bf16)).unwrap()["t"].data, vec![1.0, -256.0]);
        assert_eq!(parse_safetensors(&one("I8", &[2], &[0xfe, 5])).unwrap()["t"].data, vec![-2.0, 5.0]);
        let e = parse_safetensors(&one("F16", &[3], &f16)).unwrap_err();
        assert!(e.reason.contains("4 bytes for shape [3] (6 expected)"), "{}", e.reason);
        let e = parse_safetensors(&one("F32", &[1 << 40, 1 << 40], &[0; 8])).unwrap_err();
        assert!(e.reason.contains("more elements than any file can hold"), "{}", e.reason);
        let e = parse_safetensors(&one("C64", &[1], &[0; 8])).unwrap_err();
        assert!(e.reason.contains("unsupported dtype \"C64\""), "{}", e.reason);
    }
}
