//! Readers for NumPy `.npy` (format 1.0–3.0, C or Fortran order) and `.npz` archives (stored
//! or deflated members). Every element type numpy writes for numbers is read and upcast to
//! f64: float16/32/64, signed and unsigned integers of 1–8 bytes (exact up to 2⁵³), bool;
//! anything else is refused by name.
//!
//! Bounds, whatever a file claims: the declared array's byte count is computed with checked
//! arithmetic and compared with what the file (or the archive member) can hold *before*
//! anything is allocated, and an `.npz` member is never decompressed past its declared
//! array. Bytes after the declared array of an `.npy` file are ignored, as numpy does; an
//! `.npz` member whose archive entry declares more bytes than its header and array is
//! refused without inflating it (numpy never writes such a member; a zip bomb does).

use std::io::{Cursor, Read};

use crate::{LoadError, NdArray, ReasonCode};

fn unreadable(msg: impl Into<String>) -> LoadError {
    LoadError::new(ReasonCode::Unreadable, msg)
}

/// An `.npy` header longer than this is refused (numpy writes at most a few hundred bytes and
/// reads at most 10,000 without `allow_pickle`-style overrides).
const MAX_HEADER: usize = 1 << 20;

/// Deflate expands at most about 1032:1, so a deflated member of c bytes cannot hold more
/// than this many times c (plus slack for the smallest members).
const MAX_DEFLATE_RATIO: u64 = 1032;

/// An element type of a stored array, read as f64.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    F64,
    F32,
    F16,
    BF16,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    Bool,
}

impl Dtype {
    /// Bytes per element.
    pub fn width(self) -> usize {
        match self {
            Dtype::F64 | Dtype::I64 | Dtype::U64 => 8,
            Dtype::F32 | Dtype::I32 | Dtype::U32 => 4,
            Dtype::F16 | Dtype::BF16 | Dtype::I16 | Dtype::U16 => 2,
            Dtype::I8 | Dtype::U8 | Dtype::Bool => 1,
        }
    }

    /// The numpy type string without byte order (`f8`, `u1`, …); `bf16` has none in numpy.
    fn from_numpy(kind: &str) -> Option<Dtype> {
        Some(match kind {
            "f8" => Dtype::F64,
            "f4" => Dtype::F32,
            "f2" => Dtype::F16,
            "i1" => Dtype::I8,
            "i2" => Dtype::I16,
            "i4" => Dtype::I32,
            "i8" => Dtype::I64,
            "u1" => Dtype::U8,
            "u2" => Dtype::U16,
            "u4" => Dtype::U32,
            "u8" => Dtype::U64,
            "b1" => Dtype::Bool,
            _ => return None,
        })
    }

    /// A safetensors dtype name.
    pub fn from_safetensors(name: &str) -> Option<Dtype> {
        Some(match name {
            "F64" => Dtype::F64,
            "F32" => Dtype::F32,
            "F16" => Dtype::F16,
            "BF16" => Dtype::BF16,
            "I8" => Dtype::I8,
            "I16" => Dtype::I16,
            "I32" => Dtype::I32,
            "I64" => Dtype::I64,
            "U8" => Dtype::U8,
            "U16" => Dtype::U16,
            "U32" => Dtype::U32,
            "U64" => Dtype::U64,
            "BOOL" => Dtype::Bool,
            _ => return None,
        })
    }

    /// The bytes of `count` elements for `shape`, or why there is no such count.
    pub fn bytes_for(self, shape: &[usize]) -> Result<usize, LoadError> {
        shape
            .iter()
            .try_fold(self.width(), |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| unreadable(format!("shape {shape:?} has more elements than any file can hold")))
    }

    /// Decode `raw` (a whole number of elements) as f64, little or big endian.
    pub fn decode(self, raw: &[u8], little: bool) -> Vec<f64> {
        macro_rules! each {
            ($n:literal, $f:expr) => {
                raw.chunks_exact($n)
                    .map(|c| {
                        let b: [u8; $n] = c.try_into().expect("chunks_exact");
                        $f(b)
                    })
                    .collect()
            };
        }
        macro_rules! num {
            ($t:ty, $n:literal) => {
                each!($n, |b| if little { <$t>::from_le_bytes(b) } else { <$t>::from_be_bytes(b) } as f64)
            };
        }
        match self {
            Dtype::F64 => num!(f64, 8),
            Dtype::F32 => num!(f32, 4),
            Dtype::I64 => num!(i64, 8),
            Dtype::U64 => num!(u64, 8),
            Dtype::I32 => num!(i32, 4),
            Dtype::U32 => num!(u32, 4),
            Dtype::I16 => num!(i16, 2),
            Dtype::U16 => num!(u16, 2),
            Dtype::I8 => each!(1, |b: [u8; 1]| b[0] as i8 as f64),
            Dtype::U8 => each!(1, |b: [u8; 1]| b[0] as f64),
            Dtype::Bool => each!(1, |b: [u8; 1]| if b[0] != 0 { 1.0 } else { 0.0 }),
            Dtype::F16 => each!(2, |b| {
                let bits = if little { u16::from_le_bytes(b) } else { u16::from_be_bytes(b) };
                half::f16::from_bits(bits).to_f64()
            }),
            Dtype::BF16 => each!(2, |b| {
                let bits = if little { u16::from_le_bytes(b) } else { u16::from_be_bytes(b) };
                half::bf16::from_bits(bits).to_f64()
            }),
        }
    }
}

/// What an `.npy` header says.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyHeader {
    pub shape: Vec<usize>,
    pub dtype: Dtype,
    pub little: bool,
    pub fortran: bool,
    /// Where the data starts: the length of the preamble and header.
    pub data_start: usize,
    /// The declared array's bytes (checked).
    pub data_bytes: usize,
}

/// The preamble of an `.npy` file: (header length, where the header starts).
fn npy_preamble(bytes: &[u8]) -> Result<(usize, usize), LoadError> {
    const MAGIC: &[u8] = b"\x93NUMPY";
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(unreadable("not a .npy file (bad magic bytes)"));
    }
    let (len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        2 | 3 => return Err(unreadable("truncated .npy header")),
        v => return Err(unreadable(format!("unsupported .npy format version {v}"))),
    };
    if len > MAX_HEADER {
        return Err(unreadable(format!("the .npy header claims {len} bytes (at most {MAX_HEADER} are read)")));
    }
    Ok((len, start))
}

/// Parse the header at the start of `bytes` (which must hold at least the whole header).
pub fn parse_npy_header(bytes: &[u8]) -> Result<NpyHeader, LoadError> {
    let (header_len, header_start) = npy_preamble(bytes)?;
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
    let (order, kind) = match descr.as_bytes().first() {
        Some(b'<' | b'>' | b'|' | b'=') => descr.split_at(1),
        _ => ("", descr),
    };
    let dtype = Dtype::from_numpy(kind).ok_or_else(|| {
        unreadable(format!(
            "unsupported dtype {descr:?}; expected a float (f2, f4, f8), an integer (i1–i8, u1–u8) or bool"
        ))
    })?;
    let little = order != ">" || dtype.width() == 1;
    let data_bytes = dtype.bytes_for(&shape)?;
    Ok(NpyHeader { shape, dtype, little, fortran, data_start, data_bytes })
}

/// The array of `header` from `payload` (the bytes after the header; at least
/// `header.data_bytes` of them, the rest ignored).
fn decode_npy(header: NpyHeader, payload: &[u8]) -> Result<NdArray, LoadError> {
    if payload.len() < header.data_bytes {
        return Err(unreadable(format!(
            "truncated data: shape {:?} needs {} bytes, the file has {}",
            header.shape,
            header.data_bytes,
            payload.len()
        )));
    }
    let mut data = header.dtype.decode(&payload[..header.data_bytes], header.little);
    if header.fortran && header.shape.len() > 1 {
        data = fortran_to_c(&data, &header.shape);
    }
    Ok(NdArray { shape: header.shape, data })
}

/// Parse the bytes of one `.npy` file.
pub fn parse_npy(bytes: &[u8]) -> Result<NdArray, LoadError> {
    let header = parse_npy_header(bytes)?;
    let payload = &bytes[header.data_start..];
    decode_npy(header, payload)
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
    let (declared, compressed) = (member.size(), member.compressed_size());
    read_npy_stream(&mut member, declared, compressed, key)
}

/// The array of an `.npz` member streamed from `reader`, whose archive entry declares
/// `declared` bytes uncompressed and `compressed` stored: the header is read first, the
/// declared array is checked against both before anything is allocated, and the stream is
/// read no further than the array.
fn read_npy_stream(reader: &mut impl Read, declared: u64, compressed: u64, key: &str) -> Result<NdArray, LoadError> {
    let fail = |e: std::io::Error| unreadable(format!("cannot decompress array {key:?}: {e}"));
    let mut prefix = Vec::with_capacity(12);
    reader.by_ref().take(12).read_to_end(&mut prefix).map_err(fail)?;
    let (header_len, header_start) = npy_preamble(&prefix)?;
    let rest = (header_start + header_len).saturating_sub(prefix.len());
    reader.by_ref().take(rest as u64).read_to_end(&mut prefix).map_err(fail)?;
    let header = parse_npy_header(&prefix)?;
    let needed = header.data_bytes as u64;
    let room = declared.saturating_sub(header.data_start as u64);
    if needed > room {
        return Err(unreadable(format!(
            "array {key:?}: shape {:?} needs {needed} bytes, the archive member holds {room}",
            header.shape
        )));
    }
    if room > needed {
        return Err(unreadable(format!(
            "array {key:?}: the archive member declares {} bytes of trailing data after its {:?} array \
             (numpy never writes any; a zip bomb might): not read",
            room - needed,
            header.shape
        )));
    }
    if needed > compressed.saturating_mul(MAX_DEFLATE_RATIO).saturating_add(1 << 16) {
        return Err(unreadable(format!(
            "array {key:?}: shape {:?} needs {needed} bytes, more than {compressed} compressed bytes can inflate to",
            header.shape
        )));
    }
    // grow as bytes arrive (a member that ends early allocates only what it held)
    let mut payload = Vec::with_capacity(header.data_bytes.min(1 << 26));
    reader.take(needed).read_to_end(&mut payload).map_err(fail)?;
    decode_npy(header, &payload)
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

    /// An .npy file with header text `descr`, `shape` and raw `payload`.
    fn npy_raw(descr: &str, shape: &str, payload: &[u8]) -> Vec<u8> {
        let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        header.push_str(&" ".repeat((64 - (10 + header.len() + 1) % 64) % 64));
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn every_numeric_dtype_is_upcast_exactly() {
        let halves: Vec<u8> =
            [1.5f64, -0.25, 65504.0].iter().flat_map(|v| half::f16::from_f64(*v).to_le_bytes()).collect();
        assert_eq!(parse_npy(&npy_raw("<f2", "(3,)", &halves)).unwrap().data, vec![1.5, -0.25, 65504.0]);
        let big: Vec<u8> = [2.5f64, -8.0].iter().flat_map(|v| half::f16::from_f64(*v).to_be_bytes()).collect();
        assert_eq!(parse_npy(&npy_raw(">f2", "(2,)", &big)).unwrap().data, vec![2.5, -8.0]);
        assert_eq!(parse_npy(&npy_raw("|i1", "(3,)", &[0xff, 0x7f, 0x80])).unwrap().data, vec![-1.0, 127.0, -128.0]);
        assert_eq!(parse_npy(&npy_raw("|u1", "(2,)", &[0xff, 3])).unwrap().data, vec![255.0, 3.0]);
        assert_eq!(parse_npy(&npy_raw("|b1", "(3,)", &[0, 1, 2])).unwrap().data, vec![0.0, 1.0, 1.0]);
        let i64s: Vec<u8> = [-(1i64 << 53), 7].iter().flat_map(|v| v.to_be_bytes()).collect();
        assert_eq!(parse_npy(&npy_raw(">i8", "(2,)", &i64s)).unwrap().data, vec![-(2f64.powi(53)), 7.0]);
        let u16s: Vec<u8> = [65535u16, 1].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(parse_npy(&npy_raw("<u2", "(2, 1)", &u16s)).unwrap().shape, vec![2, 1]);
        let e = parse_npy(&npy_raw("<c16", "(1,)", &[0; 16])).unwrap_err();
        assert!(e.reason.contains("unsupported dtype \"<c16\""), "{}", e.reason);
    }

    #[test]
    fn a_header_claiming_more_than_the_file_fails_before_allocating() {
        let e = parse_npy(&npy_raw("<f8", "(1000000, 1000000)", &[0; 64])).unwrap_err();
        assert_eq!(e.code, ReasonCode::Unreadable);
        assert!(e.reason.contains("needs 8000000000000 bytes, the file has 64"), "{}", e.reason);
        let e = parse_npy(&npy_raw("<f8", "(4294967296, 4294967296, 4294967296)", &[])).unwrap_err();
        assert!(e.reason.contains("more elements than any file can hold"), "{}", e.reason);
        // bytes after the declared array are ignored, as numpy does
        let mut bytes = write_npy(&[2, 2], &[1.0, 2.0, 3.0, 4.0], false);
        bytes.extend_from_slice(&[7; 100]);
        assert_eq!(parse_npy(&bytes).unwrap().data, vec![1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn an_npz_member_is_never_inflated_past_its_array() {
        // a 60 × 7 array followed by 64 MB of zeros (deflates to about 64 kB): refused from
        // the archive's directory, before inflating anything
        let mut member = write_npy(&[60, 7], &vec![0.5; 420], false);
        member.resize(member.len() + (64 << 20), 0);
        let zip = write_npz(&[("bomb", member)]).unwrap();
        assert!(zip.len() < 1 << 20, "{}", zip.len());
        let e = read_npz_member(&zip, "bomb").unwrap_err();
        assert_eq!(e.code, ReasonCode::Unreadable);
        assert!(e.reason.contains("trailing"), "{}", e.reason);
        // a header that claims more than the member holds
        let liar = npy_raw("<f8", "(100000, 100000)", &[0; 80]);
        let e = read_npz_member(&write_npz(&[("liar", liar)]).unwrap(), "liar").unwrap_err();
        assert!(e.reason.contains("the archive member holds"), "{}", e.reason);
        // f16 members read like .npy files
        let halves: Vec<u8> = [1.0f64, 2.0].iter().flat_map(|v| half::f16::from_f64(*v).to_le_bytes()).collect();
        let zip = write_npz(&[("h", npy_raw("<f2", "(1, 2)", &halves))]).unwrap();
        assert_eq!(read_npz_member(&zip, "h").unwrap().data, vec![1.0, 2.0]);
    }
}
