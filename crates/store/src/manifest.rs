//! The manifest: one row per representation. CSV or Parquet, chosen by extension.
//!
//! Columns: `model_id`, `layer`, `uri` (required); `key`, `test_uri`, `test_key`,
//! `layer_index` (optional). Every other column is metadata passed through to `models`.

use std::collections::HashMap;

use arrow_array::Array;
use bytes::Bytes;

use crate::storage::GetError;
use crate::{LoadError, Location, ReasonCode, Storage, StoreError};

pub const RESERVED: [&str; 9] =
    ["model_id", "layer", "uri", "key", "test_uri", "test_key", "layer_index", "weights_uri", "spec_uri"];

/// One representation named by the manifest.
#[derive(Clone, Debug, PartialEq)]
pub struct ManifestRow {
    /// 1-based data row number in the manifest (for messages).
    pub row: usize,
    pub model_id: String,
    pub layer: String,
    pub layer_index: Option<i64>,
    /// The `uri` column as written, and resolved against the manifest's directory.
    pub uri_text: String,
    pub uri: Location,
    pub key: Option<String>,
    pub test_uri: Option<Location>,
    pub test_key: Option<String>,
    /// A network given by weights (safetensors) and its spec (TOML or JSON).
    pub weights_uri: Option<Location>,
    pub spec_uri: Option<Location>,
    /// Whether `uri` names activations; false for a row given only by weights (then `uri`
    /// is the weights file).
    pub activations: bool,
    /// Values of the metadata columns, in `Manifest::metadata_columns` order.
    pub metadata: Vec<Option<String>>,
}

/// A manifest row that was refused before any file was read.
#[derive(Clone, Debug, PartialEq)]
pub struct RejectedRow {
    pub row: usize,
    pub model_id: String,
    pub layer: String,
    pub uri: String,
    pub error: LoadError,
}

#[derive(Clone, Debug)]
pub struct Manifest {
    pub location: Location,
    pub metadata_columns: Vec<String>,
    /// Accepted rows, in manifest order.
    pub rows: Vec<ManifestRow>,
    /// Rows refused for their content: invalid fields or a duplicate (model_id, layer).
    pub rejected: Vec<RejectedRow>,
}

impl Manifest {
    /// Read and validate the manifest at `location`. File-level problems (missing,
    /// unparsable, no rows, missing required columns) are errors; row-level problems end up
    /// in `rejected` so the rest of the zoo still runs.
    pub fn load(storage: &Storage, location: &Location) -> Result<Manifest, StoreError> {
        let fail = |reason: String| StoreError::Manifest { uri: location.to_string(), reason };
        let bytes = match storage.get(location) {
            Ok(b) => b,
            Err(GetError::NotFound) => return Err(fail("file not found".into())),
            Err(GetError::Other(e)) => return Err(e),
        };
        Manifest::from_bytes(location, bytes)
    }

    /// Parse and validate the bytes of the manifest at `location` (its name says the format).
    pub fn from_bytes(location: &Location, bytes: bytes::Bytes) -> Result<Manifest, StoreError> {
        let fail = |reason: String| StoreError::Manifest { uri: location.to_string(), reason };
        let name = location.file_name().to_ascii_lowercase();
        let table = if name.ends_with(".csv") {
            read_csv(&bytes).map_err(fail)?
        } else if name.ends_with(".parquet") || name.ends_with(".pq") {
            read_parquet_table(bytes).map_err(fail)?
        } else {
            return Err(fail("unknown manifest format: use a .csv or .parquet file".into()));
        };
        Manifest::from_table(location, table)
    }

    fn from_table(location: &Location, table: StringTable) -> Result<Manifest, StoreError> {
        let fail = |reason: String| StoreError::Manifest { uri: location.to_string(), reason };
        let col = |name: &str| table.columns.iter().position(|c| c == name);
        let mut missing: Vec<&str> = ["model_id", "layer"].into_iter().filter(|c| col(c).is_none()).collect();
        if col("uri").is_none() && col("weights_uri").is_none() {
            missing.push("uri");
        }
        if !missing.is_empty() {
            return Err(fail(format!("missing required column(s) {missing:?}; found {:?}", table.columns)));
        }
        if table.rows.is_empty() {
            return Err(fail("the manifest has no rows: nothing to compare".into()));
        }
        let mut seen = std::collections::HashSet::new();
        for c in &table.columns {
            if !seen.insert(c) {
                return Err(fail(format!("column {c:?} appears twice")));
            }
        }
        let metadata_columns: Vec<String> =
            table.columns.iter().filter(|c| !RESERVED.contains(&c.as_str())).cloned().collect();
        let meta_idx: Vec<usize> = metadata_columns.iter().filter_map(|c| col(c)).collect();
        let base = location.parent();
        let get = |r: &Vec<Option<String>>, name: &str| -> Option<String> {
            col(name).and_then(|i| r[i].clone()).map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
        };

        let mut rows = Vec::new();
        let mut rejected = Vec::new();
        for (i, r) in table.rows.iter().enumerate() {
            let row = i + 1;
            let model_id = get(r, "model_id").unwrap_or_default();
            let layer = get(r, "layer").unwrap_or_default();
            let weights_text = get(r, "weights_uri");
            let activations = get(r, "uri").is_some();
            let uri_text = get(r, "uri").or(weights_text.clone()).unwrap_or_default();
            let reject = |reason: String| RejectedRow {
                row,
                model_id: model_id.clone(),
                layer: layer.clone(),
                uri: uri_text.clone(),
                error: LoadError::new(ReasonCode::InvalidRow, format!("manifest row {row}: {reason}")),
            };
            if model_id.is_empty() || layer.is_empty() || uri_text.is_empty() {
                rejected.push(reject("model_id, layer and uri (or weights_uri) must all be non-empty".into()));
                continue;
            }
            let resolve = |name: &str| get(r, name).map(|t| Location::parse(&t, Some(&base)));
            let (weights_uri, spec_uri) = match (resolve("weights_uri"), resolve("spec_uri")) {
                (None, None) => (None, None),
                (Some(Ok(w)), Some(Ok(s))) => (Some(w), Some(s)),
                (Some(Err(e)), _) | (_, Some(Err(e))) => {
                    rejected.push(reject(e.to_string()));
                    continue;
                }
                _ => {
                    rejected.push(reject("weights_uri and spec_uri go together".into()));
                    continue;
                }
            };
            let layer_index = match get(r, "layer_index") {
                None => None,
                Some(s) => match s.parse::<i64>() {
                    Ok(v) => Some(v),
                    Err(_) => {
                        rejected.push(reject(format!("layer_index {s:?} is not an integer")));
                        continue;
                    }
                },
            };
            let uri = match Location::parse(&uri_text, Some(&base)) {
                Ok(u) => u,
                Err(e) => {
                    rejected.push(reject(e.to_string()));
                    continue;
                }
            };
            let test_uri = match get(r, "test_uri").map(|t| Location::parse(&t, Some(&base))) {
                None => None,
                Some(Ok(u)) => Some(u),
                Some(Err(e)) => {
                    rejected.push(reject(e.to_string()));
                    continue;
                }
            };
            let test_key = get(r, "test_key");
            if test_key.is_some() && test_uri.is_none() && get(r, "key").is_none() {
                rejected.push(reject("test_key needs test_uri (or uri with key) to name an .npz".into()));
                continue;
            }
            // A test_key without test_uri refers to the training file.
            let test_uri = test_uri.or_else(|| test_key.as_ref().map(|_| uri.clone()));
            rows.push(ManifestRow {
                row,
                model_id,
                layer,
                layer_index,
                uri_text,
                uri,
                key: get(r, "key"),
                test_uri,
                test_key,
                weights_uri,
                spec_uri,
                activations,
                metadata: meta_idx.iter().map(|&j| r[j].clone()).collect(),
            });
        }

        // Duplicate (model_id, layer): refuse every copy; which one is meant is unknowable.
        let mut count: HashMap<(String, String), Vec<usize>> = HashMap::new();
        for r in &rows {
            count.entry((r.model_id.clone(), r.layer.clone())).or_default().push(r.row);
        }
        let (keep, dups): (Vec<_>, Vec<_>) =
            rows.into_iter().partition(|r| count[&(r.model_id.clone(), r.layer.clone())].len() == 1);
        for r in dups {
            let all = &count[&(r.model_id.clone(), r.layer.clone())];
            rejected.push(RejectedRow {
                row: r.row,
                model_id: r.model_id.clone(),
                layer: r.layer.clone(),
                uri: r.uri_text.clone(),
                error: LoadError::new(
                    ReasonCode::DuplicateKey,
                    format!(
                        "manifest rows {all:?} all name model {:?} layer {:?}; every copy is refused",
                        r.model_id, r.layer
                    ),
                ),
            });
        }
        rejected.sort_by_key(|r| r.row);
        Ok(Manifest { location: location.clone(), metadata_columns, rows: keep, rejected })
    }
}

/// A table of optional strings: the common form of CSV and Parquet manifests.
struct StringTable {
    columns: Vec<String>,
    rows: Vec<Vec<Option<String>>>,
}

fn read_csv(bytes: &[u8]) -> Result<StringTable, String> {
    let mut reader = csv::ReaderBuilder::new().flexible(false).trim(csv::Trim::All).from_reader(bytes);
    let columns: Vec<String> =
        reader.headers().map_err(|e| format!("cannot read the CSV header: {e}"))?.iter().map(String::from).collect();
    let mut rows = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|e| format!("CSV data row {}: {e}", i + 1))?;
        rows.push(rec.iter().map(|s| (!s.is_empty()).then(|| s.to_string())).collect());
    }
    Ok(StringTable { columns, rows })
}

fn read_parquet_table(bytes: Bytes) -> Result<StringTable, String> {
    let batches = crate::tables::decode_parquet(bytes).map_err(|e| e.to_string())?;
    let Some(first) = batches.first() else {
        return Ok(StringTable { columns: Vec::new(), rows: Vec::new() });
    };
    let columns: Vec<String> = first.schema().fields().iter().map(|f| f.name().clone()).collect();
    let mut rows = Vec::new();
    for b in &batches {
        let cols: Vec<Vec<Option<String>>> =
            b.columns().iter().map(|c| stringify_column(c.as_ref())).collect::<Result<_, _>>()?;
        for i in 0..b.num_rows() {
            rows.push(cols.iter().map(|c| c[i].clone()).collect());
        }
    }
    Ok(StringTable { columns, rows })
}

fn stringify_column(col: &dyn Array) -> Result<Vec<Option<String>>, String> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::*;
    use arrow_schema::DataType;
    let n = col.len();
    let out = |f: &dyn Fn(usize) -> String| (0..n).map(|i| (!col.is_null(i)).then(|| f(i))).collect();
    Ok(match col.data_type() {
        DataType::Utf8 => out(&|i| col.as_string::<i32>().value(i).to_string()),
        DataType::LargeUtf8 => out(&|i| col.as_string::<i64>().value(i).to_string()),
        DataType::Utf8View => out(&|i| col.as_string_view().value(i).to_string()),
        DataType::Int64 => out(&|i| col.as_primitive::<Int64Type>().value(i).to_string()),
        DataType::Int32 => out(&|i| col.as_primitive::<Int32Type>().value(i).to_string()),
        DataType::Int16 => out(&|i| col.as_primitive::<Int16Type>().value(i).to_string()),
        DataType::UInt32 => out(&|i| col.as_primitive::<UInt32Type>().value(i).to_string()),
        DataType::UInt64 => out(&|i| col.as_primitive::<UInt64Type>().value(i).to_string()),
        DataType::Float64 => out(&|i| col.as_primitive::<Float64Type>().value(i).to_string()),
        DataType::Float32 => out(&|i| col.as_primitive::<Float32Type>().value(i).to_string()),
        DataType::Boolean => out(&|i| col.as_boolean().value(i).to_string()),
        other => return Err(format!("unsupported manifest column type {other}")),
    })
}

/// Helper for reporting a rejected row as a `LoadError` with its identity.
impl RejectedRow {
    pub fn code(&self) -> ReasonCode {
        self.error.code
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest_from(csv: &str) -> Result<Manifest, StoreError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.csv");
        std::fs::write(&path, csv).unwrap();
        let storage = Storage::new().unwrap();
        Manifest::load(&storage, &Location::from_path(&path).unwrap())
    }

    #[test]
    fn metadata_passes_through_and_uris_resolve_relative_to_the_manifest() {
        let m = manifest_from("model_id,layer,uri,width,seed\na,fc1,acts/a.npy,16,0\nb,fc1,/abs/b.npy,32,1\n").unwrap();
        assert_eq!(m.metadata_columns, vec!["width", "seed"]);
        assert_eq!(m.rows.len(), 2);
        assert_eq!(m.rows[0].metadata, vec![Some("16".into()), Some("0".into())]);
        assert!(m.rows[0].uri.to_string().ends_with("acts/a.npy"));
        assert_eq!(m.rows[0].uri.parent().parent(), m.location.parent());
        assert_eq!(m.rows[1].uri.to_string(), "/abs/b.npy");
    }

    #[test]
    fn duplicates_and_bad_rows_are_rejected_not_fatal() {
        let m = manifest_from(
            "model_id,layer,uri,layer_index\na,l,a.npy,0\na,l,a2.npy,0\nb,l,b.npy,zero\nc,l,c.npy,1\n,l,d.npy,\n",
        )
        .unwrap();
        assert_eq!(m.rows.iter().map(|r| r.model_id.as_str()).collect::<Vec<_>>(), vec!["c"]);
        let codes: Vec<_> = m.rejected.iter().map(|r| (r.row, r.code())).collect();
        assert_eq!(
            codes,
            vec![
                (1, ReasonCode::DuplicateKey),
                (2, ReasonCode::DuplicateKey),
                (3, ReasonCode::InvalidRow),
                (5, ReasonCode::InvalidRow)
            ]
        );
    }

    #[test]
    fn empty_manifest_and_missing_columns_are_errors() {
        let e = manifest_from("model_id,layer,uri\n").unwrap_err().to_string();
        assert!(e.contains("no rows"), "{e}");
        let e = manifest_from("model,layer,uri\na,b,c\n").unwrap_err().to_string();
        assert!(e.contains("model_id"), "{e}");
    }
}
