//! Every output table, declared once: the row type's fields are the table's columns, in
//! file order (see [`super::declare`] for the column kinds).

use super::declare::table;

table! {
    /// One row of `models`: a representation (one layer of one model) that was loaded.
    #[derive(Clone, Debug, PartialEq)]
    pub struct ModelRow in "models" {
        model_id: String,
        layer: String,
        layer_index: Option<i64>,
        uri: String,
        content_hash: String,
        n_samples: i64,
        n_features: i64,
        /// The array's shape, e.g. "40x6" or "3x4x4x3".
        shape: String,
        /// The manifest's metadata columns, one nullable text column each, named by the
        /// manifest.
        #[dynamic]
        metadata: Vec<Option<String>>,
    }
}

table! {
    /// One row of `distances`: an unordered pair, (model_a, layer_a) < (model_b, layer_b).
    #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    pub struct DistanceRow in "distances" {
        metric: String,
        /// Fingerprint of the metric's kind and parameters: a row is reused by a later run only
        /// for the same fingerprint and the same content hashes.
        metric_spec: String,
        model_a: String,
        layer_a: String,
        model_b: String,
        layer_b: String,
        /// For measures that are distances, the distance; for similarity measures (rsa, svcca,
        /// pwcca, ridge, knn, distance_correlation), 1 − `similarity`.
        distance: f64,
        /// A similarity measure's own value (larger is more similar; `measures` says which
        /// metrics have one); null for distances.
        similarity: Option<f64>,
        distance_test: Option<f64>,
        /// True when `distance_test` depends on how the fitted map is completed where the
        /// training rows do not determine it (README, "Held-out scores"); then the documented
        /// deterministic completion is used. Null without a held-out score.
        test_underdetermined: Option<bool>,
        /// Convolutional metrics: the circular shift of the first representation at the minimum.
        shift_y: Option<i64>,
        shift_x: Option<i64>,
        hash_a: String,
        hash_b: String,
        run_id: String,
    }
}

impl DistanceRow {
    /// Whether this version may copy the row as it is: a row with a held-out score written
    /// before `test_underdetermined` existed may hold an arbitrary completion, so it is
    /// scored again; every other row is copied (its new column stays null without a
    /// held-out score).
    pub fn reusable_now(&self) -> bool {
        self.distance_test.is_none() || self.test_underdetermined.is_some()
    }
}

table! {
    /// One row of `measures`: a configured metric, what its numbers mean and which
    /// transformations of a representation leave them unchanged (ReSi's record of a measure).
    #[derive(Clone, Debug, PartialEq)]
    pub struct MeasureRow in "measures" {
        /// The metric's name, as in `distances.metric`.
        name: String,
        /// The `[[metrics]]` kind.
        kind: String,
        /// The resolved parameters, as JSON.
        parameters: String,
        /// As `distances.metric_spec`.
        fingerprint: String,
        /// Whether `distance` is a metric (symmetric, zero only for equivalent inputs, triangle
        /// inequality) on the equivalence classes of the invariances below.
        is_metric: bool,
        /// For measures with a `similarity`: true (larger is more similar); null otherwise.
        larger_is_more_similar: Option<bool>,
        /// Whether the value of (a, b) equals that of (b, a).
        symmetric: bool,
        invariant_to_ortho: bool,
        invariant_to_isotropic_scaling: bool,
        invariant_to_invertible_linear: bool,
        invariant_to_permutation: bool,
        invariant_to_translation: bool,
        run_id: String,
    }
}

table! {
    /// One row of `errors`: a representation (or a pair, with the partner and metric set)
    /// that was rejected.
    #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    pub struct ErrorRow in "errors" {
        model_id: String,
        layer: String,
        uri: Option<String>,
        reason: String,
        message: String,
        metric: Option<String>,
        model_b: Option<String>,
        layer_b: Option<String>,
        run_id: String,
    }
}

table! {
    /// One row of `paths`: one layer of one model on one path metric.
    #[derive(Clone, Debug, PartialEq)]
    pub struct PathRow in "paths" {
        metric: String,
        model_id: String,
        layer_index: i64,
        layer: String,
        /// Distance from the previous layer; null for the first.
        step_length: Option<f64>,
        cumulative_length: f64,
        distance_to_first: f64,
        distance_to_last: f64,
        /// Angle at this layer between the step back and the step forward; null at the ends.
        angle: Option<f64>,
        /// Exact projection onto the first→last geodesic (0 at the first layer, 1 at the last).
        projection_t: f64,
        distance_to_geodesic: f64,
        /// The path's identity: path metric parameters and the ordered layers' names, indices
        /// and content hashes. A rerun reuses a path whose key is unchanged.
        path_key: String,
        run_id: String,
    }
}

table! {
    /// One row of `path_summary`: one model on one path metric.
    #[derive(Clone, Debug, PartialEq)]
    pub struct PathSummaryRow in "path_summary" {
        metric: String,
        model_id: String,
        n_layers: i64,
        path_length: f64,
        direct_distance: f64,
        efficiency: f64,
        mean_turning_angle: Option<f64>,
        /// As in `paths`.
        path_key: String,
        run_id: String,
    }
}

table! {
    /// One row of `path_distances`: two models of equal depth compared layer by layer.
    #[derive(Clone, Debug, PartialEq)]
    pub struct PathDistanceRow in "path_distances" {
        metric: String,
        model_a: String,
        model_b: String,
        n_layers: i64,
        /// Mean over the aligned (same-named) layers of the pair metric's distance.
        path_distance: f64,
        run_id: String,
    }
}

table! {
    /// One row of `embeddings`: a representation's coordinates for one (metric, group).
    #[derive(Clone, Debug, PartialEq)]
    pub struct EmbeddingRow in "embeddings" {
        metric: String,
        /// The comparison group: the layer name with scope `within_layer`, "all" otherwise.
        group: String,
        model_id: String,
        layer: String,
        /// "classical", "landmark" (a landmark's own MDS coordinates), "placed" (out-of-sample
        /// from its distances to the landmarks) or "tangent".
        method: String,
        /// One column per dimension, `dim_0`, `dim_1`, … ([`EmbeddingRow::dim_columns`]).
        #[dynamic]
        coordinates: Vec<f64>,
        /// Identity of the landmark set the coordinates belong to (landmark methods only).
        landmark_set: Option<String>,
        run_id: String,
    }
}

impl EmbeddingRow {
    /// The names of the coordinate columns of a `dims`-dimensional embedding.
    pub fn dim_columns(dims: usize) -> Vec<String> {
        (0..dims).map(|d| format!("dim_{d}")).collect()
    }
}

table! {
    /// One row of `embedding_summary`.
    #[derive(Clone, Debug, PartialEq)]
    pub struct EmbeddingSummaryRow in "embedding_summary" {
        metric: String,
        group: String,
        method: String,
        n_points: i64,
        dims: i64,
        positive_mass: f64,
        negative_mass: f64,
        captured: f64,
        stress_1: f64,
        distance_correlation: f64,
        /// Descending; every eigenvalue when `eigenvalues_complete`, else the extreme ones found.
        eigenvalues: Vec<f64>,
        eigenvalues_complete: bool,
        landmark_set: Option<String>,
        run_id: String,
    }
}

table! {
    /// One row of `geometry_points`: the pullback geometry of a network at one input.
    #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    pub struct GeometryPointRow in "geometry_points" {
        model_id: String,
        layer: String,
        /// "probe", "line" or "plane".
        slice: String,
        point_index: i64,
        /// Slice coordinates: t on a line; (a, b) on the plane; null for probe points.
        coord_a: Option<f64>,
        coord_b: Option<f64>,
        /// log₁₀ √det g (null when the input has more dimensions than the features).
        log10_volume: Option<f64>,
        /// Σ_{i≤k} log₁₀ σ_i(J/√n) over the top k singular values.
        log10_effective_volume: f64,
        predicted_class: Option<i64>,
        /// Softmax entropy of the readout, in nats.
        entropy: Option<f64>,
        run_id: String,
    }
}

table! {
    /// One row of `geometry_summary`.
    #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    pub struct GeometrySummaryRow in "geometry_summary" {
        model_id: String,
        layer: String,
        n_points: i64,
        /// Spearman correlation of log volume and entropy over the evaluated points.
        magnification: Option<f64>,
        mean_log10_volume: f64,
        run_id: String,
    }
}

table! {
    /// One row of `msa_points`: a pair's spectral-ratio distance at one probe point.
    #[derive(Clone, Debug, PartialEq)]
    pub struct MsaPointRow in "msa_points" {
        metric: String,
        model_a: String,
        layer_a: String,
        model_b: String,
        layer_b: String,
        point_index: i64,
        d_sr: f64,
        run_id: String,
    }
}

table! {
    /// One row of `representations`: the registry that gives each representation a stable
    /// ordinal in its comparison group (blocks of tiles are ordinal ranges), and the tile
    /// size the group is cut with.
    #[derive(Clone, Debug, PartialEq)]
    pub struct RepresentationRow in "representations" {
        /// The layer with scope `within_layer`, "" with scope `all`.
        group: String,
        ordinal: i64,
        model_id: String,
        layer: String,
        tile_size: i64,
        /// What the run read: the content hash and shape ("40x8"), the fingerprints of the
        /// metrics it prepared for (space-separated), and where it came from (uri, key,
        /// held-out uri and key, tab-separated) with the file's size, modification time (ms
        /// since the epoch) and e-tag when it was read, and when that run started. A later
        /// run trusts these instead of reading the file again only while all of them match.
        content_hash: Option<String>,
        shape: Option<String>,
        prepared: Option<String>,
        source: Option<String>,
        file_size: Option<i64>,
        file_modified: Option<i64>,
        file_etag: Option<String>,
        run_started: Option<i64>,
        run_id: String,
    }
}
