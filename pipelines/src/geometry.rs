//! The geometry stage for networks given by weights: build the MLP from its safetensors
//! and spec, evaluate the pullback geometry at the probe points and on the configured
//! slices, and provide the [points, d, d] pullback metrics that MSA compares.

use repspace_metrics::Matrix;
use repspace_metrics::Tensor;
use repspace_metrics::geometry::{
    Activation, Dense, Mlp, class_and_entropy, line_slice, log10_singular_values, log10_volume, plane_slice,
    pullback_metric, spearman,
};
use repspace_store::load::read_array;
use repspace_store::safetensors::parse_safetensors;
use repspace_store::storage::GetError;
use repspace_store::tables::{GeometryPointRow, GeometrySummaryRow};
use repspace_store::{LoadError, Location, ManifestRow, ReasonCode, Storage};
use serde::Deserialize;

/// `[geometry]`: where to evaluate, resolved.
#[derive(Clone, Debug)]
pub struct GeometryJob {
    /// Probe inputs, points × d (row-major per point).
    pub probe: Vec<Vec<f64>>,
    /// Two probe indices and the steps of a 1-D slice between them.
    pub line: Option<(usize, usize, usize)>,
    /// Three probe indices and the steps per axis of the ternary plane through them.
    pub plane: Option<(usize, usize, usize, usize)>,
    /// Rank cap k of the effective volume; default min(d, n).
    pub rank: Option<usize>,
    /// Write MSA's per-point spectral ratios to `msa_points`.
    pub per_point: bool,
}

impl GeometryJob {
    /// Read the probe inputs ([points, d] .npy/.npz) and check the slice indices.
    pub fn load(
        storage: &Storage,
        probe: &Location,
        key: Option<&str>,
        line: Option<(usize, usize, usize)>,
        plane: Option<(usize, usize, usize, usize)>,
        rank: Option<usize>,
        per_point: bool,
    ) -> Result<GeometryJob, LoadError> {
        let a = read_array(storage, probe, key)?;
        let (p, d) = a.expect_matrix()?;
        a.check_finite()?;
        let points: Vec<Vec<f64>> = (0..p).map(|i| a.data[i * d..(i + 1) * d].to_vec()).collect();
        let bad = line.map(|l| l.0.max(l.1)).into_iter().chain(plane.map(|q| q.0.max(q.1).max(q.2))).find(|&i| i >= p);
        if let Some(i) = bad {
            return Err(LoadError::new(
                ReasonCode::InvalidRow,
                format!("slice index {i} is outside the {p} probe points"),
            ));
        }
        Ok(GeometryJob { probe: points, line, plane, rank, per_point })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LayerSpec {
    weight: String,
    bias: Option<String>,
    #[serde(default = "identity")]
    activation: Activation,
    #[serde(default)]
    residual: bool,
}

fn identity() -> Activation {
    Activation::Identity
}

/// The network spec: layer order, activations, the feature layer, an optional readout.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkSpec {
    layers: Vec<LayerSpec>,
    /// 1-based; default the last hidden layer.
    feature_layer: Option<usize>,
    readout: Option<LayerSpec>,
}

fn fetch(storage: &Storage, loc: &Location) -> Result<Vec<u8>, LoadError> {
    storage.get(loc).map(|b| b.to_vec()).map_err(|e| match e {
        GetError::NotFound => LoadError::new(ReasonCode::MissingFile, format!("file not found: {loc}")),
        GetError::Other(e) => LoadError::new(ReasonCode::Unreadable, e.to_string()),
    })
}

/// Build the MLP of a manifest row from its weights and spec.
pub fn load_network(storage: &Storage, row: &ManifestRow) -> Result<Mlp, LoadError> {
    let (Some(weights), Some(spec_loc)) = (&row.weights_uri, &row.spec_uri) else {
        return Err(LoadError::new(ReasonCode::InvalidRow, "the row has no weights_uri/spec_uri"));
    };
    parse_network(weights, &fetch(storage, weights)?, spec_loc, fetch(storage, spec_loc)?)
}

/// Build an MLP from the bytes of its weights (safetensors, read from `weights`) and of its
/// spec (TOML, or JSON when `spec_loc` ends in `.json`).
pub fn parse_network(
    weights: &Location,
    weight_bytes: &[u8],
    spec_loc: &Location,
    spec_bytes: Vec<u8>,
) -> Result<Mlp, LoadError> {
    let tensors =
        parse_safetensors(weight_bytes).map_err(|e| LoadError::new(e.code, format!("{weights}: {}", e.reason)))?;
    let text = String::from_utf8(spec_bytes)
        .map_err(|_| LoadError::new(ReasonCode::Unreadable, format!("{spec_loc}: not UTF-8 text")))?;
    let spec: NetworkSpec = if spec_loc.file_name().ends_with(".json") {
        serde_json::from_str(&text).map_err(|e| LoadError::new(ReasonCode::Unreadable, format!("{spec_loc}: {e}")))?
    } else {
        toml::from_str(&text).map_err(|e| LoadError::new(ReasonCode::Unreadable, format!("{spec_loc}: {e}")))?
    };
    let dense = |l: &LayerSpec| -> Result<Dense, LoadError> {
        let w = tensors.get(&l.weight).ok_or_else(|| {
            LoadError::new(
                ReasonCode::MissingFile,
                format!("{weights}: no tensor {:?} (it holds {:?})", l.weight, tensors.keys().collect::<Vec<_>>()),
            )
        })?;
        let [out, inp] = w.shape[..] else {
            return Err(LoadError::new(
                ReasonCode::WrongRank,
                format!("{weights}: {:?} must be 2-D [out, in], got {:?}", l.weight, w.shape),
            ));
        };
        let bias = match &l.bias {
            Some(b) => tensors
                .get(b)
                .map(|t| t.data.clone())
                .ok_or_else(|| LoadError::new(ReasonCode::MissingFile, format!("{weights}: no tensor {b:?}")))?,
            None => vec![0.0; out],
        };
        Ok(Dense {
            weight: Matrix::from_row_major(out, inp, &w.data),
            bias,
            activation: l.activation,
            residual: l.residual,
        })
    };
    let layers = spec.layers.iter().map(dense).collect::<Result<Vec<_>, _>>()?;
    let readout = spec.readout.as_ref().map(dense).transpose()?;
    let mlp = Mlp { feature_layer: spec.feature_layer.unwrap_or(layers.len()), layers, readout };
    mlp.validate(mlp.input_dim()).map_err(|e| LoadError::new(ReasonCode::InvalidRow, format!("{spec_loc}: {e}")))?;
    for t in tensors.values() {
        if t.data.iter().any(|v| !v.is_finite()) {
            return Err(LoadError::new(ReasonCode::NonFinite, format!("{weights}: non-finite weights")));
        }
    }
    Ok(mlp)
}

/// The effective volume (top `k` terms) and, when d ≤ n, the full volume √det g (all d
/// terms) of one n × d Jacobian: one SVD for both, or with k = min(n, d) (both every term)
/// one `log10_volume`.
fn volumes(jacobian: faer::MatRef<'_, f64>, k: usize) -> Result<(f64, Option<f64>), repspace_metrics::MetricError> {
    let (n, d) = (jacobian.nrows(), jacobian.ncols());
    if k == n.min(d) {
        let all = log10_volume(jacobian, k)?;
        return Ok((all, (d <= n).then_some(all)));
    }
    let logs = log10_singular_values(jacobian)?;
    Ok((logs.iter().take(k).sum(), (d <= n).then(|| logs.iter().take(d).sum::<f64>())))
}

/// Geometry rows of one network, and its pullback metrics at the probe points
/// ([points, d, d], for MSA).
/// The rows of one network, and (when `with_metrics`, for MSA) its pullback metrics at the
/// probe points as a [points, d, d] tensor (empty otherwise).
pub fn evaluate_network(
    job: &GeometryJob,
    mlp: &Mlp,
    row: &ManifestRow,
    run_id: &str,
    with_metrics: bool,
) -> Result<(Vec<GeometryPointRow>, GeometrySummaryRow, Tensor), LoadError> {
    let d = mlp.input_dim();
    if job.probe.first().map(Vec::len) != Some(d) {
        return Err(LoadError::new(
            ReasonCode::WrongRank,
            format!(
                "the network's input has {d} dimensions but the probe points have {:?}",
                job.probe.first().map(Vec::len)
            ),
        ));
    }
    let mut slices: Vec<(&str, Vec<(Vec<f64>, Vec<f64>)>)> =
        vec![("probe", job.probe.iter().map(|x| (Vec::new(), x.clone())).collect())];
    if let Some((a, b, steps)) = job.line {
        slices.push(("line", line_slice(&job.probe[a], &job.probe[b], steps)));
    }
    if let Some((a, b, c, steps)) = job.plane {
        slices.push(("plane", plane_slice(&job.probe[a], &job.probe[b], &job.probe[c], steps)));
    }
    let mut rows = Vec::new();
    let mut metrics = Vec::with_capacity(job.probe.len() * d * d);
    let fail = |e: repspace_metrics::MetricError| LoadError::new(ReasonCode::PrepareFailed, e.to_string());
    for (slice, points) in slices {
        for (i, (coords, x)) in points.iter().enumerate() {
            let e = mlp.evaluate(x);
            let n = e.features.len();
            let k = job.rank.unwrap_or(d.min(n)).min(d.min(n));
            let (effective, full) = volumes(e.jacobian.as_ref(), k).map_err(fail)?;
            let (class, entropy) = match &e.logits {
                Some(l) => {
                    let (c, h) = class_and_entropy(l);
                    (Some(c as i64), Some(h))
                }
                None => (None, None),
            };
            if with_metrics && slice == "probe" {
                let g = pullback_metric(e.jacobian.as_ref());
                for r in 0..d {
                    for c in 0..d {
                        metrics.push(g[(r, c)]);
                    }
                }
            }
            rows.push(GeometryPointRow {
                model_id: row.model_id.clone(),
                layer: row.layer.clone(),
                slice: slice.to_string(),
                point_index: i as i64,
                coord_a: coords.first().copied(),
                coord_b: coords.get(1).copied(),
                log10_volume: full,
                log10_effective_volume: effective,
                predicted_class: class,
                entropy,
                run_id: run_id.to_string(),
            });
        }
    }
    let vols: Vec<f64> = rows.iter().map(|r| r.log10_effective_volume).collect();
    let magnification = rows
        .iter()
        .map(|r| r.entropy)
        .collect::<Option<Vec<f64>>>()
        .filter(|e| e.len() > 2)
        .map(|ent| spearman(&vols, &ent))
        .filter(|s| s.is_finite());
    let summary = GeometrySummaryRow {
        model_id: row.model_id.clone(),
        layer: row.layer.clone(),
        n_points: rows.len() as i64,
        magnification,
        mean_log10_volume: vols.iter().sum::<f64>() / vols.len() as f64,
        run_id: run_id.to_string(),
    };
    let shape = if with_metrics { vec![job.probe.len(), d, d] } else { vec![0, d, d] };
    Ok((rows, summary, Tensor::new(shape, metrics)))
}
