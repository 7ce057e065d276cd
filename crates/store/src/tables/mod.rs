//! The output tables: each declared once ([`rows`]) as a row type whose [`Table`] impl gives
//! the Arrow schema, the encoder and the decoder; Parquet encoding; atomic part publishing.
//!
//! Each table is a directory (`models/`, `distances/`, `errors/`, …) of part files
//! `part-<run_id>-<writer>.parquet`. A part is encoded in memory and written with one
//! object_store `put`, which is atomic on every backend, so a reader never sees half a file.

pub(crate) mod declare;
mod rows;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};

use arrow_array::RecordBatch;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

pub use declare::Table;
pub use rows::{
    DistanceRow, EmbeddingRow, EmbeddingSummaryRow, ErrorRow, GeometryPointRow, GeometrySummaryRow, MeasureRow,
    ModelRow, MsaPointRow, PathDistanceRow, PathRow, PathSummaryRow, RepresentationRow,
};

use crate::storage::GetError;
use crate::{Location, Storage, StoreError};

/// The declared columns of a table whose pair rows live in tile parts
/// ([`crate::output::TILE_TABLES`]).
pub fn tile_table_schema(table: &str) -> Option<arrow_schema::SchemaRef> {
    match table {
        DistanceRow::NAME => Some(DistanceRow::schema()),
        ErrorRow::NAME => Some(ErrorRow::schema()),
        MsaPointRow::NAME => Some(MsaPointRow::schema()),
        _ => None,
    }
}

/// How every part is written: zstd level 3, the crate's defaults otherwise.
pub fn writer_properties(table: &str) -> Result<WriterProperties, StoreError> {
    let level = ZstdLevel::try_new(3).map_err(|source| StoreError::Parquet { table: table.into(), source })?;
    Ok(WriterProperties::builder().set_compression(Compression::ZSTD(level)).build())
}

/// Encode one batch as a complete Parquet file (zstd).
pub fn encode_parquet(table: &str, batch: &RecordBatch) -> Result<Bytes, StoreError> {
    encode_batches(table, batch.schema(), std::slice::from_ref(batch))
}

/// Encode batches of one schema as a complete Parquet file (zstd).
pub fn encode_batches(
    table: &str,
    schema: arrow_schema::SchemaRef,
    batches: &[RecordBatch],
) -> Result<Bytes, StoreError> {
    let err = |source| StoreError::Parquet { table: table.into(), source };
    let mut buf = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut buf, schema, Some(writer_properties(table)?)).map_err(err)?;
    for batch in batches {
        writer.write(batch).map_err(err)?;
    }
    writer.close().map_err(err)?;
    Ok(Bytes::from(buf))
}

/// Decode a whole Parquet file.
pub fn decode_parquet(bytes: Bytes) -> Result<Vec<RecordBatch>, parquet::errors::ParquetError> {
    guarded(|| {
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()?;
        reader.collect::<Result<Vec<_>, _>>().map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))
    })
}

/// `decode`, with a panic of the Parquet reader turned into an error: parquet 60 asserts on
/// some malformed footers (e.g. negative column offsets, found by `tests/fuzz.rs`), and a
/// damaged or hostile file must be an error naming it, never a crash.
pub fn guarded<T>(
    decode: impl FnOnce() -> Result<T, parquet::errors::ParquetError>,
) -> Result<T, parquet::errors::ParquetError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(parquet::errors::ParquetError::General(format!("malformed Parquet file ({message})")))
    })
}

/// Publish one part of `table` under `out/<table>/<name>` with a single atomic put.
pub fn publish_part(
    storage: &Storage,
    out: &Location,
    table: &str,
    name: &str,
    batch: &RecordBatch,
) -> Result<Location, StoreError> {
    let loc = out.join(&format!("{table}/{name}"))?;
    storage.put(&loc, encode_parquet(table, batch)?)?;
    Ok(loc)
}

/// Every batch of every part file of `out/<table>/`.
pub fn read_table(storage: &Storage, out: &Location, table: &str) -> Result<Vec<RecordBatch>, StoreError> {
    read_table_parts(storage, out, table, None)
}

/// The batches of `out/<table>/`, only from the parts of run `run_id` when given (other
/// runs' parts may predate a schema change and are about to be retired).
pub fn read_table_parts(
    storage: &Storage,
    out: &Location,
    table: &str,
    run_id: Option<&str>,
) -> Result<Vec<RecordBatch>, StoreError> {
    let dir = out.join(&format!("{table}/"))?;
    let mut batches = Vec::new();
    for part in storage.list(&dir)? {
        let name = part.file_name();
        let of_run = |r: &str| crate::PartName::parse(name).is_some_and(|n| n.run_id.as_str() == r);
        if !name.ends_with(".parquet") || run_id.is_some_and(|r| !of_run(r)) {
            continue;
        }
        let bytes = storage.get(&part).map_err(|e| match e {
            GetError::NotFound => StoreError::Other { uri: part.to_string(), reason: "vanished while reading".into() },
            GetError::Other(e) => e,
        })?;
        batches.extend(decode_parquet(bytes).map_err(|source| StoreError::Parquet { table: table.into(), source })?);
    }
    Ok(batches)
}

/// The rows of table `T` under `out`, only from run `run_id`'s parts when given. A part that
/// does not have `T`'s declared columns is an error.
pub fn read_rows<T: Table>(storage: &Storage, out: &Location, run_id: Option<&str>) -> Result<Vec<T>, StoreError> {
    let mut rows = Vec::new();
    for b in read_table_parts(storage, out, T::NAME, run_id)? {
        rows.extend(T::from_batch(&b)?);
    }
    Ok(rows)
}

/// All rows of the `distances` table under `out`.
pub fn read_distances(storage: &Storage, out: &Location) -> Result<Vec<DistanceRow>, StoreError> {
    read_rows(storage, out, None)
}

/// The rows of `distances` under `out`, only from run `run_id`'s parts when given.
pub fn read_distances_of(
    storage: &Storage,
    out: &Location,
    run_id: Option<&str>,
) -> Result<Vec<DistanceRow>, StoreError> {
    read_rows(storage, out, run_id)
}

/// All rows of the `errors` table under `out`.
pub fn read_errors(storage: &Storage, out: &Location) -> Result<Vec<ErrorRow>, StoreError> {
    read_rows(storage, out, None)
}

/// Every `distances` row of earlier runs' run parts that can be read with this version's
/// schema: within-model path rows, and the pair rows of versions before tile parts (reused
/// pair by pair). Parts that cannot be read (older schemas, damage) are skipped and counted.
pub fn read_reusable_distances(storage: &Storage, out: &Location) -> Result<(Vec<DistanceRow>, usize), StoreError> {
    reusable_rows(storage, out)
}

/// Every row of `T` that can be read from every part of `out/<T>/`, for a best-effort read
/// of an earlier run's small tables (e.g. the registry); parts that cannot be read are
/// skipped and counted.
pub fn read_tolerant<T: Table>(storage: &Storage, out: &Location) -> Result<(Vec<T>, usize), StoreError> {
    reusable_rows(storage, out)
}

/// The rows of every run part (not the tile parts) of table `T` under `out`, and how many parts were skipped: a part
/// that cannot be read or decoded (an older schema, damage) is left out with a warning, and
/// its rows are recomputed by the run.
fn reusable_rows<T: Table>(storage: &Storage, out: &Location) -> Result<(Vec<T>, usize), StoreError> {
    read_run_parts(storage, &storage.list(&out.join(&format!("{}/", T::NAME))?)?)
}

/// The rows of `T` in the run parts among `parts` (tile parts and bundles are kept whole by
/// their identity and never read here; other files are not the output's), and how many parts could not be read or decoded.
pub fn read_run_parts<T: Table>(storage: &Storage, parts: &[Location]) -> Result<(Vec<T>, usize), StoreError> {
    let (mut rows, mut skipped) = (Vec::new(), 0);
    for part in parts {
        if crate::PartName::parse(part.file_name()).is_none() {
            continue;
        }
        let decoded = storage.get(part).ok().and_then(|bytes| decode_parquet(bytes).ok());
        match decoded.and_then(|batches| batches.iter().map(|b| T::from_batch(b).ok()).collect::<Option<Vec<_>>>()) {
            Some(parts) => rows.extend(parts.into_iter().flatten()),
            None => {
                tracing::warn!(part = %part, "cannot reuse this part (older schema or damaged); its rows are recomputed");
                skipped += 1;
            }
        }
    }
    Ok((rows, skipped))
}

/// Earlier paths by `path_key`: the summary row and the per-layer rows of each. Parts of an
/// older schema (no `path_key`) or damaged ones are skipped: those paths are recomputed.
pub fn read_reusable_paths(
    storage: &Storage,
    out: &Location,
) -> Result<HashMap<String, (PathSummaryRow, Vec<PathRow>)>, StoreError> {
    let (summaries, _) = reusable_rows::<PathSummaryRow>(storage, out)?;
    let (layers, _) = reusable_rows::<PathRow>(storage, out)?;
    let mut by_key: HashMap<String, (PathSummaryRow, Vec<PathRow>)> =
        summaries.into_iter().map(|s| (s.path_key.clone(), (s, Vec::new()))).collect();
    for row in layers {
        if let Some(entry) = by_key.get_mut(&row.path_key) {
            entry.1.push(row);
        }
    }
    for entry in by_key.values_mut() {
        entry.1.sort_by_key(|r| r.layer_index);
    }
    // a summary without all its layers is not reusable
    by_key.retain(|_, (s, layers)| layers.len() as i64 == s.n_layers);
    Ok(by_key)
}

/// Landmark sets of earlier runs: (metric, group) → (landmark_set, [(model_id, layer)]).
/// A part that does not have this version's `embeddings` columns is passed over: its sets
/// are chosen anew.
pub fn read_landmark_sets(
    storage: &Storage,
    out: &Location,
) -> Result<BTreeMap<(String, String), (String, Vec<(String, String)>)>, StoreError> {
    let mut sets: BTreeMap<(String, String), (String, Vec<(String, String)>)> = BTreeMap::new();
    for b in read_table(storage, out, EmbeddingRow::NAME)? {
        let Ok(rows) = EmbeddingRow::from_batch(&b) else {
            continue;
        };
        for row in rows {
            let Some(set) = row.landmark_set.filter(|_| row.method == "landmark") else {
                continue;
            };
            let e = sets.entry((row.metric, row.group)).or_insert_with(|| (set.clone(), Vec::new()));
            if e.0 == set {
                e.1.push((row.model_id, row.layer));
            }
        }
    }
    Ok(sets)
}
