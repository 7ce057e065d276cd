//! Readers for NumPy `.npy` (format 1.0–3.0; f32/f64, little or big endian, C or Fortran
//! order) and `.npz` archives (stored or deflated members).

use std::io::{Cursor, Read};

use crate::{LoadError, NdArray, ReasonCode};

fn unreadable(msg: impl Into<String>) -> LoadError {
    LoadError::new(ReasonCode::Unreadable, msg)
}

/// Parse the bytes of one `.npy` file.
pub fn parse_npy(bytes: &[u8]) -> Result<NdArray, LoadError> {
    const MAGIC: &[u8] = b"\x93NUMPY";
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(unreadable("not a .npy file (bad magic bytes)"));
    }
    let major = bytes[6];
    let (header_len, header_start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(unreadable("truncated .npy header"));
            }
            (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12)
        }
        v => return Err(unreadable(format!("unsupported .npy format version {v}"))),
    };
    let data_start = header_start + header_len;
    if bytes.len() < data_start {
        return Err(unreadable("truncated .npy header"));
    }
    let header =
        std::str::from_utf8(&bytes[header_start..data_start]).map_err(|_| unreadable("the .npy header is not text"))?;
    let descr = dict_value(header, "descr").ok_or_else(|| unreadable("the .npy header has no 'descr'"))?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let fortran = match dict_value(header, "fortran_order").map(str::trim) {
        Some("True") => true,
        Some("False") => false,
        _ => return Err(unreadable("the .npy header has no valid 'fortran_order'")),
    };
    let shape_text = dict_value(header, "shape").ok_or_else(|| unreadable("the .npy header has no 'shape'"))?;
    let shape = parse_shape(shape_text)?;
    let count: usize = shape.iter().product();
    let (width, little, float) = match descr {
        "<f8" | "f8" => (8, true, true),
        ">f8" => (8, false, true),
        "<f4" | "f4" => (4, true, true),
        ">f4" => (4, false, true),
        other => return Err(unreadable(format!("unsupported dtype {other:?}; expected float32 or float64"))),
    };
    debug_assert!(float);
    let payload = &bytes[data_start..];
    let needed = count.checked_mul(width).ok_or_else(|| unreadable("shape overflows"))?;
    if payload.len() < needed {
        return Err(unreadable(format!(
            "truncated data: shape {shape:?} needs {needed} bytes, the file has {}",
            payload.len()
        )));
    }
    let mut data: Vec<f64> = payload[..needed]
        .chunks_exact(width)
        .map(|c| match (width, little) {
            (8, true) => f64::from_le_bytes(c.try_into().expect("8 bytes")),
            (8, false) => f64::from_be_bytes(c.try_into().expect("8 bytes")),
            (4, true) => f32::from_le_bytes(c.try_into().expect("4 bytes")) as f64,
            _ => f32::from_be_bytes(c.try_into().expect("4 bytes")) as f64,
        })
        .collect();
    if fortran && shape.len() > 1 {
        data = fortran_to_c(&data, &shape);
    }
    Ok(NdArray { shape, data })
}

/// The text of `key`'s value in a Python dict literal such as the .npy header.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let pos = header.find(&format!("'{key}'")).or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = &header[pos + key.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    if rest.starts_with('(') {
        let end = rest.find(')')?;
        Some(&rest[..=end])
    } else {
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        Some(rest[..end].trim())
    }
}

fn parse_shape(text: &str) -> Result<Vec<usize>, LoadError> {
    let inner = text.trim().trim_start_matches('(').trim_end_matches(')');
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| unreadable(format!("bad shape {text:?} in .npy header"))))
        .collect()
}

fn fortran_to_c(data: &[f64], shape: &[usize]) -> Vec<f64> {
    let nd = shape.len();
    // strides of Fortran order
    let mut fstride = vec![1usize; nd];
    for d in 1..nd {
        fstride[d] = fstride[d - 1] * shape[d - 1];
    }
    let mut out = Vec::with_capacity(data.len());
    let mut idx = vec![0usize; nd];
    for _ in 0..data.len() {
        let off: usize = idx.iter().zip(&fstride).map(|(i, s)| i * s).sum();
        out.push(data[off]);
        for d in (0..nd).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
}

/// Read member `key` (with or without the `.npy` suffix) of an `.npz` archive.
pub fn read_npz_member(bytes: &[u8], key: &str) -> Result<NdArray, LoadError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| unreadable(format!("not a readable .npz archive: {e}")))?;
    let name = if key.ends_with(".npy") { key.to_string() } else { format!("{key}.npy") };
    let names: Vec<String> =
        archive.file_names().filter_map(|n| n.ok()).map(|n| n.trim_end_matches(".npy").to_string()).take(20).collect();
    let mut member = match archive.by_name(&name) {
        Ok(m) => m,
        Err(zip::result::ZipError::FileNotFound) => {
            return Err(LoadError::new(
                ReasonCode::MissingFile,
                format!("the .npz has no array {key:?}; it holds {names:?}"),
            ));
        }
        Err(e) => return Err(unreadable(format!("cannot open array {key:?} in .npz: {e}"))),
    };
    let mut buf = Vec::with_capacity(member.size() as usize);
    member.read_to_end(&mut buf).map_err(|e| unreadable(format!("cannot decompress array {key:?}: {e}")))?;
    parse_npy(&buf)
}

/// Names of the arrays in an `.npz` archive (without the `.npy` suffix).
pub fn npz_keys(bytes: &[u8]) -> Result<Vec<String>, LoadError> {
    let archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| unreadable(format!("not a readable .npz archive: {e}")))?;
    Ok(archive.file_names().filter_map(|n| n.ok()).map(|n| n.trim_end_matches(".npy").to_string()).collect())
}

/// Encode a row-major f64 or f32 array as `.npy` (format 1.0, C order).
pub fn write_npy(shape: &[usize], data: &[f64], as_f32: bool) -> Vec<u8> {
    let shape_txt = match shape {
        [n] => format!("({n},)"),
        _ => format!("({})", shape.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let descr = if as_f32 { "<f4" } else { "<f8" };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_txt}, }}");
    // pad so that magic(6)+version(2)+len(2)+header is a multiple of 64, ending in '\n'
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len() * 8);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for &v in data {
        if as_f32 {
            out.extend_from_slice(&(v as f32).to_le_bytes());
        } else {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

/// Encode named arrays as an `.npz` archive (deflated members), as `numpy.savez_compressed`.
pub fn write_npz(members: &[(&str, Vec<u8>)]) -> Result<Vec<u8>, LoadError> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in members {
        w.start_file(format!("{name}.npy"), opts).map_err(|e| unreadable(e.to_string()))?;
        w.write_all(bytes).map_err(|e| unreadable(e.to_string()))?;
    }
    Ok(w.finish().map_err(|e| unreadable(e.to_string()))?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_round_trip_f64_and_f32() {
        let data: Vec<f64> = (0..12).map(|v| v as f64 * 0.5 - 2.0).collect();
        let a = parse_npy(&write_npy(&[3, 4], &data, false)).unwrap();
        assert_eq!(a.shape, vec![3, 4]);
        assert_eq!(a.data, data);
        let b = parse_npy(&write_npy(&[3, 4], &data, true)).unwrap();
        assert_eq!(b.data, data); // these values are exact in f32
    }

    #[test]
    fn fortran_order_is_transposed_to_c_order() {
        // a 2×3 array [[0,1,2],[3,4,5]] stored in Fortran order is 0,3,1,4,2,5
        let mut bytes = write_npy(&[2, 3], &[0.0, 3.0, 1.0, 4.0, 2.0, 5.0], false);
        let needle = b"'fortran_order': False";
        let at = bytes.windows(needle.len()).position(|w| w == needle).unwrap();
        bytes[at..at + needle.len()].copy_from_slice(b"'fortran_order': True ");
        let a = parse_npy(&bytes).unwrap();
        assert_eq!(a.data, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    }

    #[test]
    fn truncated_and_garbage_files_are_unreadable() {
        let bytes = write_npy(&[10, 10], &vec![1.0; 100], false);
        let err = parse_npy(&bytes[..bytes.len() - 8]).unwrap_err();
        assert_eq!(err.code, ReasonCode::Unreadable);
        assert!(err.reason.contains("truncated"), "{}", err.reason);
        assert_eq!(parse_npy(b"hello world").unwrap_err().code, ReasonCode::Unreadable);
    }

    #[test]
    fn npz_members_by_key() {
        let a = write_npy(&[2, 2], &[1.0, 2.0, 3.0, 4.0], false);
        let zip = write_npz(&[("layer1", a)]).unwrap();
        assert_eq!(read_npz_member(&zip, "layer1").unwrap().data, vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(read_npz_member(&zip, "layer1.npy").unwrap().shape, vec![2, 2]);
        assert_eq!(read_npz_member(&zip, "nope").unwrap_err().code, ReasonCode::MissingFile);
        assert_eq!(read_npz_member(&zip[..zip.len() / 2], "layer1").unwrap_err().code, ReasonCode::Unreadable);
    }
}
