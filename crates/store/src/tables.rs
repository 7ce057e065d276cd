//! The output tables: schemas, row types, Parquet encoding, and atomic part publishing.
//!
//! Each table is a directory (`models/`, `distances/`, `errors/`) of part files
//! `part-<run_id>-<writer>.parquet`. A part is encoded in memory and written with one
//! object_store `put`, which is atomic on every backend, so a reader never sees half a file.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{Float64Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::storage::GetError;
use crate::{Location, Storage, StoreError};

/// One row of `models`.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelRow {
    pub model_id: String,
    pub layer: String,
    pub layer_index: Option<i64>,
    pub uri: String,
    pub content_hash: String,
    pub n_samples: i64,
    pub n_features: i64,
    /// The array's shape, e.g. "40x6" or "3x4x4x3".
    pub shape: String,
    pub metadata: Vec<Option<String>>,
}

/// One row of `distances`: an unordered pair, (model_a, layer_a) < (model_b, layer_b).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DistanceRow {
    pub metric: String,
    /// Fingerprint of the metric's kind and parameters: a row is reused by a later run only
    /// for the same fingerprint and the same content hashes.
    pub metric_spec: String,
    pub model_a: String,
    pub layer_a: String,
    pub model_b: String,
    pub layer_b: String,
    pub distance: f64,
    pub distance_test: Option<f64>,
    /// Convolutional metrics: the circular shift of the first representation at the minimum.
    pub shift_y: Option<i64>,
    pub shift_x: Option<i64>,
    pub hash_a: String,
    pub hash_b: String,
    pub run_id: String,
}

/// One row of `errors`: a representation (or a pair, with the partner and metric set)
/// that was rejected.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ErrorRow {
    pub model_id: String,
    pub layer: String,
    pub uri: Option<String>,
    pub reason: String,
    pub message: String,
    pub metric: Option<String>,
    pub model_b: Option<String>,
    pub layer_b: Option<String>,
    pub run_id: String,
}

fn utf8(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

pub fn models_schema(metadata_columns: &[String]) -> SchemaRef {
    let mut fields = vec![
        utf8("model_id", false),
        utf8("layer", false),
        Field::new("layer_index", DataType::Int64, true),
        utf8("uri", false),
        utf8("content_hash", false),
        Field::new("n_samples", DataType::Int64, false),
        Field::new("n_features", DataType::Int64, false),
        utf8("shape", false),
    ];
    fields.extend(metadata_columns.iter().map(|c| utf8(c, true)));
    Arc::new(Schema::new(fields))
}

pub fn distances_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("metric", false),
        utf8("metric_spec", false),
        utf8("model_a", false),
        utf8("layer_a", false),
        utf8("model_b", false),
        utf8("layer_b", false),
        Field::new("distance", DataType::Float64, false),
        Field::new("distance_test", DataType::Float64, true),
        Field::new("shift_y", DataType::Int64, true),
        Field::new("shift_x", DataType::Int64, true),
        utf8("hash_a", false),
        utf8("hash_b", false),
        utf8("run_id", false),
    ]))
}

pub fn errors_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("model_id", false),
        utf8("layer", false),
        utf8("uri", true),
        utf8("reason", false),
        utf8("message", false),
        utf8("metric", true),
        utf8("model_b", true),
        utf8("layer_b", true),
        utf8("run_id", false),
    ]))
}

fn strings<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    let mut b = StringBuilder::new();
    for v in values {
        b.append_option(v);
    }
    Arc::new(b.finish())
}

fn floats(values: impl Iterator<Item = Option<f64>>) -> ArrayRef {
    let mut b = Float64Builder::new();
    for v in values {
        b.append_option(v);
    }
    Arc::new(b.finish())
}

fn ints(values: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    let mut b = Int64Builder::new();
    for v in values {
        b.append_option(v);
    }
    Arc::new(b.finish())
}

fn batch(table: &str, schema: SchemaRef, columns: Vec<ArrayRef>) -> Result<RecordBatch, StoreError> {
    RecordBatch::try_new(schema, columns).map_err(|source| StoreError::Arrow { table: table.into(), source })
}

pub fn models_batch(rows: &[ModelRow], metadata_columns: &[String]) -> Result<RecordBatch, StoreError> {
    let mut cols = vec![
        strings(rows.iter().map(|r| Some(r.model_id.as_str()))),
        strings(rows.iter().map(|r| Some(r.layer.as_str()))),
        ints(rows.iter().map(|r| r.layer_index)),
        strings(rows.iter().map(|r| Some(r.uri.as_str()))),
        strings(rows.iter().map(|r| Some(r.content_hash.as_str()))),
        ints(rows.iter().map(|r| Some(r.n_samples))),
        ints(rows.iter().map(|r| Some(r.n_features))),
        strings(rows.iter().map(|r| Some(r.shape.as_str()))),
    ];
    for j in 0..metadata_columns.len() {
        cols.push(strings(rows.iter().map(|r| r.metadata.get(j).and_then(|v| v.as_deref()))));
    }
    batch("models", models_schema(metadata_columns), cols)
}

pub fn distances_batch(rows: &[DistanceRow]) -> Result<RecordBatch, StoreError> {
    let s = |f: fn(&DistanceRow) -> &str| strings(rows.iter().map(|r| Some(f(r))));
    batch(
        "distances",
        distances_schema(),
        vec![
            s(|r| &r.metric),
            s(|r| &r.metric_spec),
            s(|r| &r.model_a),
            s(|r| &r.layer_a),
            s(|r| &r.model_b),
            s(|r| &r.layer_b),
            floats(rows.iter().map(|r| Some(r.distance))),
            floats(rows.iter().map(|r| r.distance_test)),
            ints(rows.iter().map(|r| r.shift_y)),
            ints(rows.iter().map(|r| r.shift_x)),
            s(|r| &r.hash_a),
            s(|r| &r.hash_b),
            s(|r| &r.run_id),
        ],
    )
}

pub fn errors_batch(rows: &[ErrorRow]) -> Result<RecordBatch, StoreError> {
    let s = |f: fn(&ErrorRow) -> Option<&str>| strings(rows.iter().map(f));
    batch(
        "errors",
        errors_schema(),
        vec![
            s(|r| Some(&r.model_id)),
            s(|r| Some(&r.layer)),
            s(|r| r.uri.as_deref()),
            s(|r| Some(&r.reason)),
            s(|r| Some(&r.message)),
            s(|r| r.metric.as_deref()),
            s(|r| r.model_b.as_deref()),
            s(|r| r.layer_b.as_deref()),
            s(|r| Some(&r.run_id)),
        ],
    )
}

/// Encode one batch as a complete Parquet file (zstd).
pub fn encode_parquet(table: &str, batch: &RecordBatch) -> Result<Bytes, StoreError> {
    let err = |source| StoreError::Parquet { table: table.into(), source };
    let props =
        WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::try_new(3).map_err(err)?)).build();
    let mut buf = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut buf, batch.schema(), Some(props)).map_err(err)?;
    writer.write(batch).map_err(err)?;
    writer.close().map_err(err)?;
    Ok(Bytes::from(buf))
}

/// Decode a whole Parquet file.
pub fn decode_parquet(bytes: Bytes) -> Result<Vec<RecordBatch>, parquet::errors::ParquetError> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()?;
    reader.collect::<Result<Vec<_>, _>>().map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))
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
        if !name.ends_with(".parquet") || run_id.is_some_and(|r| !name.contains(r)) {
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

/// All rows of the `distances` table under `out`.
pub fn read_distances(storage: &Storage, out: &Location) -> Result<Vec<DistanceRow>, StoreError> {
    read_distances_of(storage, out, None)
}

/// The rows of `distances` under `out`, only from run `run_id`'s parts when given.
pub fn read_distances_of(
    storage: &Storage,
    out: &Location,
    run_id: Option<&str>,
) -> Result<Vec<DistanceRow>, StoreError> {
    let mut rows = Vec::new();
    for b in read_table_parts(storage, out, "distances", run_id)? {
        rows.extend(distance_rows(out, &b)?);
    }
    Ok(rows)
}

/// Every `distances` row of earlier runs that can be read with this version's schema;
/// parts that cannot (older schemas, damaged files) are skipped and counted.
pub fn read_reusable_distances(storage: &Storage, out: &Location) -> Result<(Vec<DistanceRow>, usize), StoreError> {
    reusable_rows(storage, out, "distances", |b| distance_rows(out, b).ok())
}

/// The rows `rows_of` decodes from every part of `out/<table>/`, and how many parts were
/// skipped: a part that cannot be read or decoded (an older schema, damage) is left out
/// with a warning, and its rows are recomputed by the run.
fn reusable_rows<T>(
    storage: &Storage,
    out: &Location,
    table: &str,
    rows_of: impl Fn(&RecordBatch) -> Option<Vec<T>>,
) -> Result<(Vec<T>, usize), StoreError> {
    let (mut rows, mut skipped) = (Vec::new(), 0);
    for part in storage.list(&out.join(&format!("{table}/"))?)? {
        if !part.file_name().ends_with(".parquet") {
            continue;
        }
        let decoded = storage.get(&part).ok().and_then(|bytes| decode_parquet(bytes).ok());
        match decoded.and_then(|batches| batches.iter().map(&rows_of).collect::<Option<Vec<_>>>()) {
            Some(parts) => rows.extend(parts.into_iter().flatten()),
            None => {
                tracing::warn!(part = %part, "cannot reuse this part (older schema or damaged); its rows are recomputed");
                skipped += 1;
            }
        }
    }
    Ok((rows, skipped))
}

fn distance_rows(out: &Location, b: &RecordBatch) -> Result<Vec<DistanceRow>, StoreError> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::Float64Type;
    let mut rows = Vec::new();

    let s = |name: &str| b.column_by_name(name).map(|c| c.as_string::<i32>().clone());
    let f = |name: &str| b.column_by_name(name).map(|c| c.as_primitive::<Float64Type>().clone());
    let bad = || StoreError::Other { uri: out.to_string(), reason: "distances table has an unexpected schema".into() };
    let spec = s("metric_spec").ok_or_else(bad)?;
    let (metric, ma, la, mb, lb) = (
        s("metric").ok_or_else(bad)?,
        s("model_a").ok_or_else(bad)?,
        s("layer_a").ok_or_else(bad)?,
        s("model_b").ok_or_else(bad)?,
        s("layer_b").ok_or_else(bad)?,
    );
    let (d, dt) = (f("distance").ok_or_else(bad)?, f("distance_test").ok_or_else(bad)?);
    let (ha, hb, run) = (s("hash_a").ok_or_else(bad)?, s("hash_b").ok_or_else(bad)?, s("run_id").ok_or_else(bad)?);
    let int_col =
        |name: &str| b.column_by_name(name).map(|c| c.as_primitive::<arrow_array::types::Int64Type>().clone());
    let (sy, sx) = (int_col("shift_y").ok_or_else(bad)?, int_col("shift_x").ok_or_else(bad)?);
    for i in 0..b.num_rows() {
        use arrow_array::Array;
        rows.push(DistanceRow {
            metric: metric.value(i).into(),
            metric_spec: spec.value(i).into(),
            model_a: ma.value(i).into(),
            layer_a: la.value(i).into(),
            model_b: mb.value(i).into(),
            layer_b: lb.value(i).into(),
            distance: d.value(i),
            distance_test: (!dt.is_null(i)).then(|| dt.value(i)),
            shift_y: (!sy.is_null(i)).then(|| sy.value(i)),
            shift_x: (!sx.is_null(i)).then(|| sx.value(i)),
            hash_a: ha.value(i).into(),
            hash_b: hb.value(i).into(),
            run_id: run.value(i).into(),
        });
    }

    Ok(rows)
}

/// Earlier paths by `path_key`: the summary row and the per-layer rows of each. Parts of an
/// older schema (no `path_key`) or damaged ones are skipped: those paths are recomputed.
pub fn read_reusable_paths(
    storage: &Storage,
    out: &Location,
) -> Result<HashMap<String, (PathSummaryRow, Vec<PathRow>)>, StoreError> {
    let (summaries, _) = reusable_rows(storage, out, "path_summary", path_summary_rows)?;
    let (layers, _) = reusable_rows(storage, out, "paths", path_rows)?;
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

fn path_summary_rows(b: &RecordBatch) -> Option<Vec<PathSummaryRow>> {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type};
    let s = |n: &str| b.column_by_name(n).map(|c| c.as_string::<i32>().clone());
    let f = |n: &str| b.column_by_name(n).map(|c| c.as_primitive::<Float64Type>().clone());
    let (metric, model, key, run) = (s("metric")?, s("model_id")?, s("path_key")?, s("run_id")?);
    let n = b.column_by_name("n_layers")?.as_primitive::<Int64Type>().clone();
    let (len, direct, eff, turn) =
        (f("path_length")?, f("direct_distance")?, f("efficiency")?, f("mean_turning_angle")?);
    Some(
        (0..b.num_rows())
            .map(|r| PathSummaryRow {
                metric: metric.value(r).into(),
                model_id: model.value(r).into(),
                n_layers: n.value(r),
                path_length: len.value(r),
                direct_distance: direct.value(r),
                efficiency: eff.value(r),
                mean_turning_angle: (!turn.is_null(r)).then(|| turn.value(r)),
                path_key: key.value(r).into(),
                run_id: run.value(r).into(),
            })
            .collect(),
    )
}

fn path_rows(b: &RecordBatch) -> Option<Vec<PathRow>> {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type};
    let s = |n: &str| b.column_by_name(n).map(|c| c.as_string::<i32>().clone());
    let f = |n: &str| b.column_by_name(n).map(|c| c.as_primitive::<Float64Type>().clone());
    let (metric, model, layer, key, run) = (s("metric")?, s("model_id")?, s("layer")?, s("path_key")?, s("run_id")?);
    let index = b.column_by_name("layer_index")?.as_primitive::<Int64Type>().clone();
    let (step, cumulative, first, last) =
        (f("step_length")?, f("cumulative_length")?, f("distance_to_first")?, f("distance_to_last")?);
    let (angle, t, to_geodesic) = (f("angle")?, f("projection_t")?, f("distance_to_geodesic")?);
    let opt = |c: &arrow_array::Float64Array, r: usize| (!c.is_null(r)).then(|| c.value(r));
    Some(
        (0..b.num_rows())
            .map(|r| PathRow {
                metric: metric.value(r).into(),
                model_id: model.value(r).into(),
                layer_index: index.value(r),
                layer: layer.value(r).into(),
                step_length: opt(&step, r),
                cumulative_length: cumulative.value(r),
                distance_to_first: first.value(r),
                distance_to_last: last.value(r),
                angle: opt(&angle, r),
                projection_t: t.value(r),
                distance_to_geodesic: to_geodesic.value(r),
                path_key: key.value(r).into(),
                run_id: run.value(r).into(),
            })
            .collect(),
    )
}

/// All rows of the `errors` table under `out`.
pub fn read_errors(storage: &Storage, out: &Location) -> Result<Vec<ErrorRow>, StoreError> {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    let mut rows = Vec::new();
    for b in read_table(storage, out, "errors")? {
        let bad = || StoreError::Other { uri: out.to_string(), reason: "errors table has an unexpected schema".into() };
        let col = |name: &str| b.column_by_name(name).map(|c| c.as_string::<i32>().clone()).ok_or_else(bad);
        let (m, l, u, r, msg, met, mb, lb, run) = (
            col("model_id")?,
            col("layer")?,
            col("uri")?,
            col("reason")?,
            col("message")?,
            col("metric")?,
            col("model_b")?,
            col("layer_b")?,
            col("run_id")?,
        );
        let opt = |a: &arrow_array::StringArray, i: usize| (!a.is_null(i)).then(|| a.value(i).to_string());
        for i in 0..b.num_rows() {
            rows.push(ErrorRow {
                model_id: m.value(i).into(),
                layer: l.value(i).into(),
                uri: opt(&u, i),
                reason: r.value(i).into(),
                message: msg.value(i).into(),
                metric: opt(&met, i),
                model_b: opt(&mb, i),
                layer_b: opt(&lb, i),
                run_id: run.value(i).into(),
            });
        }
    }
    Ok(rows)
}

/// One row of `paths`: one layer of one model on one path metric.
#[derive(Clone, Debug, PartialEq)]
pub struct PathRow {
    pub metric: String,
    pub model_id: String,
    pub layer_index: i64,
    pub layer: String,
    /// Distance from the previous layer; null for the first.
    pub step_length: Option<f64>,
    pub cumulative_length: f64,
    pub distance_to_first: f64,
    pub distance_to_last: f64,
    /// Angle at this layer between the step back and the step forward; null at the ends.
    pub angle: Option<f64>,
    /// Exact projection onto the first→last geodesic (0 at the first layer, 1 at the last).
    pub projection_t: f64,
    pub distance_to_geodesic: f64,
    /// The path's identity: path metric parameters and the ordered layers' names, indices
    /// and content hashes. A rerun reuses a path whose key is unchanged.
    pub path_key: String,
    pub run_id: String,
}

/// One row of `path_summary`: one model on one path metric.
#[derive(Clone, Debug, PartialEq)]
pub struct PathSummaryRow {
    pub metric: String,
    pub model_id: String,
    pub n_layers: i64,
    pub path_length: f64,
    pub direct_distance: f64,
    pub efficiency: f64,
    pub mean_turning_angle: Option<f64>,
    /// As in `paths`.
    pub path_key: String,
    pub run_id: String,
}

/// One row of `path_distances`: two models of equal depth compared layer by layer.
#[derive(Clone, Debug, PartialEq)]
pub struct PathDistanceRow {
    pub metric: String,
    pub model_a: String,
    pub model_b: String,
    pub n_layers: i64,
    /// Mean over the aligned (same-named) layers of the pair metric's distance.
    pub path_distance: f64,
    pub run_id: String,
}

fn f64_field(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Float64, nullable)
}

pub fn paths_batch(rows: &[PathRow]) -> Result<RecordBatch, StoreError> {
    let schema = Arc::new(Schema::new(vec![
        utf8("metric", false),
        utf8("model_id", false),
        Field::new("layer_index", DataType::Int64, false),
        utf8("layer", false),
        f64_field("step_length", true),
        f64_field("cumulative_length", false),
        f64_field("distance_to_first", false),
        f64_field("distance_to_last", false),
        f64_field("angle", true),
        f64_field("projection_t", false),
        f64_field("distance_to_geodesic", false),
        utf8("path_key", false),
        utf8("run_id", false),
    ]));
    let s = |f: fn(&PathRow) -> &str| strings(rows.iter().map(|r| Some(f(r))));
    batch(
        "paths",
        schema,
        vec![
            s(|r| &r.metric),
            s(|r| &r.model_id),
            ints(rows.iter().map(|r| Some(r.layer_index))),
            s(|r| &r.layer),
            floats(rows.iter().map(|r| r.step_length)),
            floats(rows.iter().map(|r| Some(r.cumulative_length))),
            floats(rows.iter().map(|r| Some(r.distance_to_first))),
            floats(rows.iter().map(|r| Some(r.distance_to_last))),
            floats(rows.iter().map(|r| r.angle)),
            floats(rows.iter().map(|r| Some(r.projection_t))),
            floats(rows.iter().map(|r| Some(r.distance_to_geodesic))),
            s(|r| &r.path_key),
            s(|r| &r.run_id),
        ],
    )
}

pub fn path_summary_batch(rows: &[PathSummaryRow]) -> Result<RecordBatch, StoreError> {
    let schema = Arc::new(Schema::new(vec![
        utf8("metric", false),
        utf8("model_id", false),
        Field::new("n_layers", DataType::Int64, false),
        f64_field("path_length", false),
        f64_field("direct_distance", false),
        f64_field("efficiency", false),
        f64_field("mean_turning_angle", true),
        utf8("path_key", false),
        utf8("run_id", false),
    ]));
    let s = |f: fn(&PathSummaryRow) -> &str| strings(rows.iter().map(|r| Some(f(r))));
    batch(
        "path_summary",
        schema,
        vec![
            s(|r| &r.metric),
            s(|r| &r.model_id),
            ints(rows.iter().map(|r| Some(r.n_layers))),
            floats(rows.iter().map(|r| Some(r.path_length))),
            floats(rows.iter().map(|r| Some(r.direct_distance))),
            floats(rows.iter().map(|r| Some(r.efficiency))),
            floats(rows.iter().map(|r| r.mean_turning_angle)),
            s(|r| &r.path_key),
            s(|r| &r.run_id),
        ],
    )
}

pub fn path_distances_batch(rows: &[PathDistanceRow]) -> Result<RecordBatch, StoreError> {
    let schema = Arc::new(Schema::new(vec![
        utf8("metric", false),
        utf8("model_a", false),
        utf8("model_b", false),
        Field::new("n_layers", DataType::Int64, false),
        f64_field("path_distance", false),
        utf8("run_id", false),
    ]));
    let s = |f: fn(&PathDistanceRow) -> &str| strings(rows.iter().map(|r| Some(f(r))));
    batch(
        "path_distances",
        schema,
        vec![
            s(|r| &r.metric),
            s(|r| &r.model_a),
            s(|r| &r.model_b),
            ints(rows.iter().map(|r| Some(r.n_layers))),
            floats(rows.iter().map(|r| Some(r.path_distance))),
            s(|r| &r.run_id),
        ],
    )
}

/// One row of `embeddings`: a representation's coordinates for one (metric, group).
#[derive(Clone, Debug, PartialEq)]
pub struct EmbeddingRow {
    pub metric: String,
    /// The comparison group: the layer name with scope `within_layer`, "all" otherwise.
    pub group: String,
    pub model_id: String,
    pub layer: String,
    /// "classical", "landmark" (a landmark's own MDS coordinates), "placed" (out-of-sample
    /// from its distances to the landmarks) or "tangent".
    pub method: String,
    pub coordinates: Vec<f64>,
    /// Identity of the landmark set the coordinates belong to (landmark methods only).
    pub landmark_set: Option<String>,
    pub run_id: String,
}

/// One row of `embedding_summary`.
#[derive(Clone, Debug, PartialEq)]
pub struct EmbeddingSummaryRow {
    pub metric: String,
    pub group: String,
    pub method: String,
    pub n_points: i64,
    pub dims: i64,
    pub positive_mass: f64,
    pub negative_mass: f64,
    pub captured: f64,
    pub stress_1: f64,
    pub distance_correlation: f64,
    /// Descending; every eigenvalue when `eigenvalues_complete`, else the extreme ones found.
    pub eigenvalues: Vec<f64>,
    pub eigenvalues_complete: bool,
    pub landmark_set: Option<String>,
    pub run_id: String,
}

pub fn embeddings_batch(rows: &[EmbeddingRow], dims: usize) -> Result<RecordBatch, StoreError> {
    let mut fields = vec![
        utf8("metric", false),
        utf8("group", false),
        utf8("model_id", false),
        utf8("layer", false),
        utf8("method", false),
    ];
    fields.extend((0..dims).map(|d| f64_field(&format!("dim_{d}"), false)));
    fields.push(utf8("landmark_set", true));
    fields.push(utf8("run_id", false));
    let s = |f: fn(&EmbeddingRow) -> &str| strings(rows.iter().map(|r| Some(f(r))));
    let mut cols = vec![s(|r| &r.metric), s(|r| &r.group), s(|r| &r.model_id), s(|r| &r.layer), s(|r| &r.method)];
    for d in 0..dims {
        cols.push(floats(rows.iter().map(|r| Some(r.coordinates.get(d).copied().unwrap_or(0.0)))));
    }
    cols.push(strings(rows.iter().map(|r| r.landmark_set.as_deref())));
    cols.push(s(|r| &r.run_id));
    batch("embeddings", Arc::new(Schema::new(fields)), cols)
}

pub fn embedding_summary_batch(rows: &[EmbeddingSummaryRow]) -> Result<RecordBatch, StoreError> {
    use arrow_array::builder::{BooleanBuilder, ListBuilder};
    let list_field =
        Field::new("eigenvalues", DataType::List(Arc::new(Field::new("item", DataType::Float64, true))), false);
    let schema = Arc::new(Schema::new(vec![
        utf8("metric", false),
        utf8("group", false),
        utf8("method", false),
        Field::new("n_points", DataType::Int64, false),
        Field::new("dims", DataType::Int64, false),
        f64_field("positive_mass", false),
        f64_field("negative_mass", false),
        f64_field("captured", false),
        f64_field("stress_1", false),
        f64_field("distance_correlation", false),
        list_field,
        Field::new("eigenvalues_complete", DataType::Boolean, false),
        utf8("landmark_set", true),
        utf8("run_id", false),
    ]));
    let s = |f: fn(&EmbeddingSummaryRow) -> &str| strings(rows.iter().map(|r| Some(f(r))));
    let f = |f: fn(&EmbeddingSummaryRow) -> f64| floats(rows.iter().map(|r| Some(f(r))));
    let mut eig = ListBuilder::new(Float64Builder::new());
    for r in rows {
        for &v in &r.eigenvalues {
            eig.values().append_value(v);
        }
        eig.append(true);
    }
    let mut complete = BooleanBuilder::new();
    for r in rows {
        complete.append_value(r.eigenvalues_complete);
    }
    batch(
        "embedding_summary",
        schema,
        vec![
            s(|r| &r.metric),
            s(|r| &r.group),
            s(|r| &r.method),
            ints(rows.iter().map(|r| Some(r.n_points))),
            ints(rows.iter().map(|r| Some(r.dims))),
            f(|r| r.positive_mass),
            f(|r| r.negative_mass),
            f(|r| r.captured),
            f(|r| r.stress_1),
            f(|r| r.distance_correlation),
            Arc::new(eig.finish()),
            Arc::new(complete.finish()),
            strings(rows.iter().map(|r| r.landmark_set.as_deref())),
            s(|r| &r.run_id),
        ],
    )
}

/// Landmark sets of earlier runs: (metric, group) → (landmark_set, [(model_id, layer)]).
pub fn read_landmark_sets(
    storage: &Storage,
    out: &Location,
) -> Result<std::collections::BTreeMap<(String, String), (String, Vec<(String, String)>)>, StoreError> {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    let mut sets: std::collections::BTreeMap<(String, String), (String, Vec<(String, String)>)> = Default::default();
    for b in read_table(storage, out, "embeddings")? {
        let col = |name: &str| b.column_by_name(name).map(|c| c.as_string::<i32>().clone());
        let (Some(metric), Some(group), Some(model), Some(layer), Some(method), Some(set)) =
            (col("metric"), col("group"), col("model_id"), col("layer"), col("method"), col("landmark_set"))
        else {
            continue;
        };
        for i in 0..b.num_rows() {
            if method.value(i) != "landmark" || set.is_null(i) {
                continue;
            }
            let e = sets
                .entry((metric.value(i).to_string(), group.value(i).to_string()))
                .or_insert_with(|| (set.value(i).to_string(), Vec::new()));
            if e.0 == set.value(i) {
                e.1.push((model.value(i).to_string(), layer.value(i).to_string()));
            }
        }
    }
    Ok(sets)
}

/// One row of `geometry_points`: the pullback geometry of a network at one input.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GeometryPointRow {
    pub model_id: String,
    pub layer: String,
    /// "probe", "line" or "plane".
    pub slice: String,
    pub point_index: i64,
    /// Slice coordinates: t on a line; (a, b) on the plane; null for probe points.
    pub coord_a: Option<f64>,
    pub coord_b: Option<f64>,
    /// log₁₀ √det g (null when the input has more dimensions than the features).
    pub log10_volume: Option<f64>,
    /// Σ_{i≤k} log₁₀ σ_i(J/√n) over the top k singular values.
    pub log10_effective_volume: f64,
    pub predicted_class: Option<i64>,
    /// Softmax entropy of the readout, in nats.
    pub entropy: Option<f64>,
    pub run_id: String,
}

/// One row of `geometry_summary`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GeometrySummaryRow {
    pub model_id: String,
    pub layer: String,
    pub n_points: i64,
    /// Spearman correlation of log volume and entropy over the evaluated points.
    pub magnification: Option<f64>,
    pub mean_log10_volume: f64,
    pub run_id: String,
}

/// One row of `msa_points`: a pair's spectral-ratio distance at one probe point.
#[derive(Clone, Debug, PartialEq)]
pub struct MsaPointRow {
    pub metric: String,
    pub model_a: String,
    pub layer_a: String,
    pub model_b: String,
    pub layer_b: String,
    pub point_index: i64,
    pub d_sr: f64,
    pub run_id: String,
}

pub fn geometry_points_batch(rows: &[GeometryPointRow]) -> Result<RecordBatch, StoreError> {
    let schema = Arc::new(Schema::new(vec![
        utf8("model_id", false),
        utf8("layer", false),
        utf8("slice", false),
        Field::new("point_index", DataType::Int64, false),
        f64_field("coord_a", true),
        f64_field("coord_b", true),
        f64_field("log10_volume", true),
        f64_field("log10_effective_volume", false),
        Field::new("predicted_class", DataType::Int64, true),
        f64_field("entropy", true),
        utf8("run_id", false),
    ]));
    let s = |f: fn(&GeometryPointRow) -> &str| strings(rows.iter().map(|r| Some(f(r))));
    batch(
        "geometry_points",
        schema,
        vec![
            s(|r| &r.model_id),
            s(|r| &r.layer),
            s(|r| &r.slice),
            ints(rows.iter().map(|r| Some(r.point_index))),
            floats(rows.iter().map(|r| r.coord_a)),
            floats(rows.iter().map(|r| r.coord_b)),
            floats(rows.iter().map(|r| r.log10_volume)),
            floats(rows.iter().map(|r| Some(r.log10_effective_volume))),
            ints(rows.iter().map(|r| r.predicted_class)),
            floats(rows.iter().map(|r| r.entropy)),
            s(|r| &r.run_id),
        ],
    )
}

pub fn geometry_summary_batch(rows: &[GeometrySummaryRow]) -> Result<RecordBatch, StoreError> {
    let schema = Arc::new(Schema::new(vec![
        utf8("model_id", false),
        utf8("layer", false),
        Field::new("n_points", DataType::Int64, false),
        f64_field("magnification", true),
        f64_field("mean_log10_volume", false),
        utf8("run_id", false),
    ]));
    let s = |f: fn(&GeometrySummaryRow) -> &str| strings(rows.iter().map(|r| Some(f(r))));
    batch(
        "geometry_summary",
        schema,
        vec![
            s(|r| &r.model_id),
            s(|r| &r.layer),
            ints(rows.iter().map(|r| Some(r.n_points))),
            floats(rows.iter().map(|r| r.magnification)),
            floats(rows.iter().map(|r| Some(r.mean_log10_volume))),
            s(|r| &r.run_id),
        ],
    )
}

pub fn msa_points_batch(rows: &[MsaPointRow]) -> Result<RecordBatch, StoreError> {
    let schema = Arc::new(Schema::new(vec![
        utf8("metric", false),
        utf8("model_a", false),
        utf8("layer_a", false),
        utf8("model_b", false),
        utf8("layer_b", false),
        Field::new("point_index", DataType::Int64, false),
        f64_field("d_sr", false),
        utf8("run_id", false),
    ]));
    let s = |f: fn(&MsaPointRow) -> &str| strings(rows.iter().map(|r| Some(f(r))));
    batch(
        "msa_points",
        schema,
        vec![
            s(|r| &r.metric),
            s(|r| &r.model_a),
            s(|r| &r.layer_a),
            s(|r| &r.model_b),
            s(|r| &r.layer_b),
            ints(rows.iter().map(|r| Some(r.point_index))),
            floats(rows.iter().map(|r| Some(r.d_sr))),
            s(|r| &r.run_id),
        ],
    )
}
