//! Every table round-trips rows → batch → Parquet → batch → rows; the schemas are the ones
//! written before the tables were declared once; a batch that does not fit is an error
//! naming the table and the column.

use std::fmt::Debug;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

use super::*;

fn s(v: &str) -> String {
    v.to_string()
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|n| n.to_string()).collect()
}

/// rows → batch → Parquet → batches → rows, and the schema survives the file.
fn round_trip<T: Table + PartialEq + Debug>(rows: &[T], dynamic: &[String]) {
    let batch = T::to_batch_with(rows, dynamic).unwrap();
    assert_eq!(batch.schema(), T::schema_with(dynamic));
    assert_eq!(batch.num_rows(), rows.len());
    let bytes = encode_parquet(T::NAME, &batch).unwrap();
    let file = ParquetRecordBatchReaderBuilder::try_new(bytes.clone()).unwrap();
    assert_eq!(file.schema(), &T::schema_with(dynamic), "{}: the file's schema", T::NAME);
    let batches = decode_parquet(bytes).unwrap();
    let back: Vec<T> = batches.iter().flat_map(|b| T::from_batch(b).unwrap()).collect();
    assert_eq!(back, rows, "{}", T::NAME);
    // and with no rows at all
    let empty = T::to_batch_with(&[], dynamic).unwrap();
    let batches = decode_parquet(encode_parquet(T::NAME, &empty).unwrap()).unwrap();
    assert!(batches.iter().all(|b| T::from_batch(b).unwrap().is_empty()), "{}: empty", T::NAME);
    assert!(T::from_batch(&empty).unwrap().is_empty());
}

fn model(id: &str, index: Option<i64>, metadata: Vec<Option<String>>) -> ModelRow {
    ModelRow {
        model_id: s(id),
        layer: s("fc1"),
        layer_index: index,
        uri: format!("file:///zoo/{id}.npy"),
        content_hash: s("b3:00ff"),
        n_samples: 40,
        n_features: 6,
        shape: s("40x6"),
        metadata,
    }
}

fn distance(metric: &str, test: Option<f64>, shift: Option<(i64, i64)>) -> DistanceRow {
    DistanceRow {
        metric: s(metric),
        metric_spec: format!("{metric}()"),
        model_a: s("a"),
        layer_a: s("l1"),
        model_b: s("b"),
        layer_b: s("l2"),
        distance: 0.25,
        similarity: None,
        distance_test: test,
        test_underdetermined: test.map(|_| false),
        shift_y: shift.map(|s| s.0),
        shift_x: shift.map(|s| s.1),
        hash_a: s("ha"),
        hash_b: s("hb"),
        run_id: s("r1"),
    }
}

#[test]
fn models_round_trip_with_their_metadata_columns() {
    let meta = names(&["depth", "activation"]);
    let rows = [
        model("m1", Some(0), vec![Some(s("2")), Some(s("relu"))]),
        model("m2", None, vec![None, Some(s("tanh"))]),
        model("m3", Some(3), vec![None, None]),
    ];
    round_trip(&rows, &meta);
    round_trip(&[model("m1", Some(1), vec![])], &[]);
    // a row with fewer metadata values than columns is written with nulls
    let batch = ModelRow::to_batch_with(&[model("m4", None, vec![Some(s("5"))])], &meta).unwrap();
    assert_eq!(ModelRow::from_batch(&batch).unwrap()[0].metadata, vec![Some(s("5")), None]);
}

#[test]
fn distances_round_trip_with_nulls() {
    let rows = [
        distance("cka", None, None),
        distance("procrustes", Some(0.5), Some((1, -2))),
        distance("x", None, Some((0, 0))),
    ];
    round_trip(&rows, &[]);
}

#[test]
fn errors_round_trip_with_nulls() {
    let row = |uri: Option<&str>, pair: bool| ErrorRow {
        model_id: s("m"),
        layer: s("l"),
        uri: uri.map(s),
        reason: s("non_finite"),
        message: s("NaN at (3, 4)"),
        metric: pair.then(|| s("cka")),
        model_b: pair.then(|| s("m2")),
        layer_b: pair.then(|| s("l2")),
        run_id: s("r1"),
    };
    round_trip(&[row(Some("file:///a.npy"), false), row(None, true)], &[]);
}

#[test]
fn paths_and_path_summaries_and_path_distances_round_trip() {
    let layer = |i: i64, step: Option<f64>, angle: Option<f64>| PathRow {
        metric: s("angular"),
        model_id: s("m"),
        layer_index: i,
        layer: format!("l{i}"),
        step_length: step,
        cumulative_length: 1.5 * i as f64,
        distance_to_first: 0.1,
        distance_to_last: 0.2,
        angle,
        projection_t: 0.5,
        distance_to_geodesic: 0.01,
        path_key: s("key"),
        run_id: s("r1"),
    };
    round_trip(&[layer(0, None, None), layer(1, Some(1.5), Some(2.0)), layer(2, Some(1.5), None)], &[]);
    let summary = |turn: Option<f64>| PathSummaryRow {
        metric: s("angular"),
        model_id: s("m"),
        n_layers: 3,
        path_length: 3.0,
        direct_distance: 2.0,
        efficiency: 2.0 / 3.0,
        mean_turning_angle: turn,
        path_key: s("key"),
        run_id: s("r1"),
    };
    round_trip(&[summary(Some(0.3)), summary(None)], &[]);
    let pair = PathDistanceRow {
        metric: s("angular"),
        model_a: s("a"),
        model_b: s("b"),
        n_layers: 4,
        path_distance: 0.7,
        run_id: s("r1"),
    };
    round_trip(&[pair.clone(), PathDistanceRow { model_b: s("c"), ..pair }], &[]);
}

fn embedding(method: &str, coordinates: Vec<f64>, set: Option<&str>) -> EmbeddingRow {
    EmbeddingRow {
        metric: s("cka"),
        group: s("all"),
        model_id: s("m"),
        layer: s("l"),
        method: s(method),
        coordinates,
        landmark_set: set.map(s),
        run_id: s("r1"),
    }
}

#[test]
fn embeddings_round_trip_with_their_coordinate_columns() {
    let rows =
        [embedding("landmark", vec![1.0, -2.0, 3.5], Some("set1")), embedding("placed", vec![0.0, 4.0, -1.0], None)];
    round_trip(&rows, &EmbeddingRow::dim_columns(3));
    round_trip(&[embedding("classical", vec![], None)], &[]);
    // the coordinates sit between `method` and `landmark_set`
    let schema = EmbeddingRow::schema_with(&EmbeddingRow::dim_columns(2));
    let order: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(order, ["metric", "group", "model_id", "layer", "method", "dim_0", "dim_1", "landmark_set", "run_id"]);
    assert_eq!(EmbeddingRow::dynamic_columns(&schema), names(&["dim_0", "dim_1"]));
    // missing coordinates are written as 0
    let batch =
        EmbeddingRow::to_batch_with(&[embedding("tangent", vec![7.0], None)], &EmbeddingRow::dim_columns(2)).unwrap();
    assert_eq!(EmbeddingRow::from_batch(&batch).unwrap()[0].coordinates, vec![7.0, 0.0]);
}

#[test]
fn embedding_summaries_round_trip_with_their_eigenvalue_lists() {
    let row = |eigenvalues: Vec<f64>, complete: bool, set: Option<&str>| EmbeddingSummaryRow {
        metric: s("cka"),
        group: s("all"),
        method: s("classical"),
        n_points: 12,
        dims: 2,
        positive_mass: 0.9,
        negative_mass: 0.1,
        captured: 0.8,
        stress_1: 0.05,
        distance_correlation: 0.99,
        eigenvalues,
        eigenvalues_complete: complete,
        landmark_set: set.map(s),
        run_id: s("r1"),
    };
    round_trip(
        &[row(vec![3.0, 1.0, -0.5], true, None), row(vec![], false, Some("set1")), row(vec![2.0], false, None)],
        &[],
    );
}

#[test]
fn geometry_and_msa_tables_round_trip() {
    let point = |slice: &str, a: Option<f64>, volume: Option<f64>, class: Option<i64>| GeometryPointRow {
        model_id: s("m"),
        layer: s("logits"),
        slice: s(slice),
        point_index: 7,
        coord_a: a,
        coord_b: a.map(|a| -a),
        log10_volume: volume,
        log10_effective_volume: -3.25,
        predicted_class: class,
        entropy: class.map(|_| 0.4),
        run_id: s("r1"),
    };
    round_trip(&[point("probe", None, None, None), point("plane", Some(0.5), Some(-1.0), Some(3))], &[]);
    let summary = |magnification: Option<f64>| GeometrySummaryRow {
        model_id: s("m"),
        layer: s("logits"),
        n_points: 144,
        magnification,
        mean_log10_volume: -2.0,
        run_id: s("r1"),
    };
    round_trip(&[summary(Some(-0.3)), summary(None)], &[]);
    let msa = |i: i64| MsaPointRow {
        metric: s("msa"),
        model_a: s("a"),
        layer_a: s("l"),
        model_b: s("b"),
        layer_b: s("l"),
        point_index: i,
        d_sr: 0.1 * i as f64,
        run_id: s("r1"),
    };
    round_trip(&[msa(0), msa(1), msa(2)], &[]);
}

/// A schema as "name:Type" words, `?` marking a nullable column.
fn signature(schema: &Schema) -> String {
    let kind = |t: &DataType| match t {
        DataType::List(item) => {
            format!("List<{}:{:?}{}>", item.name(), item.data_type(), if item.is_nullable() { "?" } else { "" })
        }
        t => format!("{t:?}"),
    };
    let word =
        |f: &Arc<Field>| format!("{}:{}{}", f.name(), kind(f.data_type()), if f.is_nullable() { "?" } else { "" });
    schema.fields().iter().map(word).collect::<Vec<_>>().join(" ")
}

#[test]
fn the_schemas_are_those_written_before_the_declarations() {
    let meta = names(&["depth", "seed"]);
    let expected = [
        (
            signature(&ModelRow::schema_with(&meta)),
            "model_id:Utf8 layer:Utf8 layer_index:Int64? uri:Utf8 content_hash:Utf8 n_samples:Int64 \
             n_features:Int64 shape:Utf8 depth:Utf8? seed:Utf8?",
        ),
        (
            signature(&DistanceRow::schema()),
            "metric:Utf8 metric_spec:Utf8 model_a:Utf8 layer_a:Utf8 model_b:Utf8 layer_b:Utf8 distance:Float64 \
             similarity:Float64? distance_test:Float64? test_underdetermined:Boolean? shift_y:Int64? shift_x:Int64? hash_a:Utf8 hash_b:Utf8 run_id:Utf8",
        ),
        (
            signature(&ErrorRow::schema()),
            "model_id:Utf8 layer:Utf8 uri:Utf8? reason:Utf8 message:Utf8 metric:Utf8? model_b:Utf8? layer_b:Utf8? \
             run_id:Utf8",
        ),
        (
            signature(&PathRow::schema()),
            "metric:Utf8 model_id:Utf8 layer_index:Int64 layer:Utf8 step_length:Float64? cumulative_length:Float64 \
             distance_to_first:Float64 distance_to_last:Float64 angle:Float64? projection_t:Float64 \
             distance_to_geodesic:Float64 path_key:Utf8 run_id:Utf8",
        ),
        (
            signature(&PathSummaryRow::schema()),
            "metric:Utf8 model_id:Utf8 n_layers:Int64 path_length:Float64 direct_distance:Float64 \
             efficiency:Float64 mean_turning_angle:Float64? path_key:Utf8 run_id:Utf8",
        ),
        (
            signature(&PathDistanceRow::schema()),
            "metric:Utf8 model_a:Utf8 model_b:Utf8 n_layers:Int64 path_distance:Float64 run_id:Utf8",
        ),
        (
            signature(&EmbeddingRow::to_batch_with(&[], &EmbeddingRow::dim_columns(2)).unwrap().schema()),
            "metric:Utf8 group:Utf8 model_id:Utf8 layer:Utf8 method:Utf8 dim_0:Float64 dim_1:Float64 \
             landmark_set:Utf8? run_id:Utf8",
        ),
        (
            signature(&EmbeddingSummaryRow::schema()),
            "metric:Utf8 group:Utf8 method:Utf8 n_points:Int64 dims:Int64 positive_mass:Float64 \
             negative_mass:Float64 captured:Float64 stress_1:Float64 distance_correlation:Float64 \
             eigenvalues:List<item:Float64?> eigenvalues_complete:Boolean landmark_set:Utf8? run_id:Utf8",
        ),
        (
            signature(&GeometryPointRow::schema()),
            "model_id:Utf8 layer:Utf8 slice:Utf8 point_index:Int64 coord_a:Float64? coord_b:Float64? \
             log10_volume:Float64? log10_effective_volume:Float64 predicted_class:Int64? entropy:Float64? \
             run_id:Utf8",
        ),
        (
            signature(&GeometrySummaryRow::schema()),
            "model_id:Utf8 layer:Utf8 n_points:Int64 magnification:Float64? mean_log10_volume:Float64 run_id:Utf8",
        ),
        (
            signature(&MsaPointRow::schema()),
            "metric:Utf8 model_a:Utf8 layer_a:Utf8 model_b:Utf8 layer_b:Utf8 point_index:Int64 d_sr:Float64 \
             run_id:Utf8",
        ),
        (
            signature(&MeasureRow::schema()),
            "name:Utf8 kind:Utf8 parameters:Utf8 fingerprint:Utf8 is_metric:Boolean larger_is_more_similar:Boolean? \
             symmetric:Boolean invariant_to_ortho:Boolean invariant_to_isotropic_scaling:Boolean \
             invariant_to_invertible_linear:Boolean invariant_to_permutation:Boolean \
             invariant_to_translation:Boolean run_id:Utf8",
        ),
    ];
    for (got, want) in expected {
        assert_eq!(got, want);
    }
    assert_eq!(
        ModelRow::COLUMNS,
        ["model_id", "layer", "layer_index", "uri", "content_hash", "n_samples", "n_features", "shape"]
    );
    assert_eq!(
        (ModelRow::DYNAMIC, EmbeddingRow::DYNAMIC, DistanceRow::DYNAMIC),
        (Some("metadata"), Some("coordinates"), None)
    );
    assert_eq!(
        [DistanceRow::NAME, ErrorRow::NAME, PathSummaryRow::NAME, EmbeddingSummaryRow::NAME, MsaPointRow::NAME],
        ["distances", "errors", "path_summary", "embedding_summary", "msa_points"]
    );
}

/// `batch` without `column`.
fn without(batch: &RecordBatch, column: &str) -> RecordBatch {
    let keep: Vec<usize> = (0..batch.num_columns()).filter(|&i| batch.schema().field(i).name() != column).collect();
    batch.project(&keep).unwrap()
}

/// `batch` with `column` replaced by `array` (declared nullable).
fn replaced(batch: &RecordBatch, column: &str, array: ArrayRef) -> RecordBatch {
    let schema = batch.schema();
    let i = schema.index_of(column).unwrap();
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields[i] = Field::new(column, array.data_type().clone(), true);
    let mut columns = batch.columns().to_vec();
    columns[i] = array;
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

#[test]
fn a_batch_that_does_not_fit_the_declaration_is_an_error_naming_table_and_column() {
    let batch = DistanceRow::to_batch(&[distance("cka", None, None)]).unwrap();
    let e = DistanceRow::from_batch(&without(&batch, "metric_spec")).unwrap_err().to_string();
    assert!(e.contains("distances") && e.contains("\"metric_spec\" is missing"), "{e}");
    let e = DistanceRow::from_batch(&replaced(&batch, "shift_y", Arc::new(StringArray::from(vec!["1"])))).unwrap_err();
    assert!(e.to_string().contains("distances") && e.to_string().contains("\"shift_y\" is Utf8, not Int64"), "{e}");
    let e = DistanceRow::from_batch(&replaced(&batch, "metric", Arc::new(StringArray::from(vec![None::<&str>]))))
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"metric\" has nulls"), "{e}");
    let e = ModelRow::from_batch(&without(
        &ModelRow::to_batch_with(&[model("m", None, vec![])], &[]).unwrap(),
        "n_features",
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("models") && e.contains("n_features"), "{e}");
    let e = EmbeddingSummaryRow::from_batch(&replaced(
        &EmbeddingSummaryRow::to_batch(&[]).unwrap(),
        "eigenvalues",
        Arc::new(Int64Array::from(Vec::<i64>::new())),
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("embedding_summary") && e.contains("eigenvalues"), "{e}");
    // a table of fixed columns has no place for dynamic ones
    assert!(DistanceRow::to_batch_with(&[], &names(&["extra"])).is_err());
}

#[test]
fn columns_are_read_by_name_in_any_order_and_undeclared_ones_are_ignored() {
    let rows = [distance("cka", Some(0.1), Some((0, 3)))];
    let batch = DistanceRow::to_batch(&rows).unwrap();
    let reversed = batch.project(&(0..batch.num_columns()).rev().collect::<Vec<_>>()).unwrap();
    assert_eq!(DistanceRow::from_batch(&reversed).unwrap(), rows);
    let extra = replaced(&batch, "hash_a", Arc::new(StringArray::from(vec!["ha"])));
    assert_eq!(DistanceRow::from_batch(&extra).unwrap(), rows, "a nullable column without nulls is read");
}

#[test]
fn reuse_skips_and_counts_the_parts_it_cannot_decode() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, out) = (Storage::new().unwrap(), Location::from_path(dir.path()).unwrap());
    let rows = vec![distance("cka", None, None), distance("cka", Some(0.3), None)];
    let good = DistanceRow::to_batch(&rows).unwrap();
    publish_part(&storage, &out, "distances", "part-r1-w0000.parquet", &good).unwrap();
    publish_part(&storage, &out, "distances", "part-r0-w0000.parquet", &without(&good, "metric_spec")).unwrap();
    storage.put(&out.join("distances/part-r2-w0000.parquet").unwrap(), Bytes::from_static(b"not parquet")).unwrap();
    let (reused, skipped) = read_reusable_distances(&storage, &out).unwrap();
    assert_eq!((reused, skipped), (rows.clone(), 2));
    assert_eq!(read_distances_of(&storage, &out, Some("r1")).unwrap(), rows);
    let e = read_distances_of(&storage, &out, Some("r0")).unwrap_err().to_string();
    assert!(e.contains("distances") && e.contains("metric_spec"), "{e}");
}

#[test]
fn landmark_sets_come_from_the_landmark_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, out) = (Storage::new().unwrap(), Location::from_path(dir.path()).unwrap());
    let rows = [
        embedding("landmark", vec![0.0, 1.0], Some("set1")),
        EmbeddingRow { model_id: s("m2"), ..embedding("landmark", vec![1.0, 0.0], Some("set1")) },
        embedding("placed", vec![0.5, 0.5], Some("set1")),
    ];
    publish_part(
        &storage,
        &out,
        "embeddings",
        "part-r1-post.parquet",
        &EmbeddingRow::to_batch_with(&rows, &EmbeddingRow::dim_columns(2)).unwrap(),
    )
    .unwrap();
    let sets = read_landmark_sets(&storage, &out).unwrap();
    let want = (s("set1"), vec![(s("m"), s("l")), (s("m2"), s("l"))]);
    assert_eq!(sets.into_iter().collect::<Vec<_>>(), vec![((s("cka"), s("all")), want)]);
}

#[test]
fn every_tile_table_has_declared_columns() {
    for table in crate::output::TILE_TABLES {
        assert!(tile_table_schema(table).is_some(), "{table}");
    }
}
