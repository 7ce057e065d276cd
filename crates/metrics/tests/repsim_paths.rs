//! Layer paths against wrongu/repsim @ ecd0a54 on `tests/fixtures/paths_small`
//! (docs/math.md §2, §6.2): distances, steps, path length, direct distance, efficiency,
//! interior angles and geodesic midpoints within 1e-8 (AIR 1e-6); projections within 1e-4
//! of repsim's approximate routines, and checked exact on a fine grid.

use std::path::PathBuf;

use repspace_metrics::Matrix;
use repspace_metrics::paths::{PathCka, PathPoint, PathSpec, analyse_path};
use repspace_store::npy::read_npz_member;
use serde_json::Value;

fn fixtures_dir() -> PathBuf {
    match std::env::var("REPSPACE_FIXTURES") {
        Ok(d) if !d.is_empty() => PathBuf::from(d),
        // crates/metrics → the repository root's tests/fixtures
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures"),
    }
}

fn spec_for(key: &str) -> PathSpec {
    match key {
        "angular_cka_unbiased_linear" => PathSpec::AngularCka { estimator: PathCka::RepsimUnbiased, rbf: false },
        "angular_cka_biased_linear" => PathSpec::AngularCka { estimator: PathCka::Biased, rbf: false },
        "angular_cka_unbiased_rbf_median" => PathSpec::AngularCka { estimator: PathCka::RepsimUnbiased, rbf: true },
        "angular_cka_biased_rbf_median" => PathSpec::AngularCka { estimator: PathCka::Biased, rbf: true },
        "stress_linear" => PathSpec::Stress,
        "shape_euclidean_alpha1" => PathSpec::Shape { angular: false },
        "shape_angular_alpha1" => PathSpec::Shape { angular: true },
        "air_gram_linear_eps" => PathSpec::Air { eps: 0.1 },
        other => panic!("unknown fixture metric {other}"),
    }
}

fn num(v: &Value) -> f64 {
    match v {
        Value::String(s) if s == "inf" => f64::INFINITY,
        Value::String(s) if s == "nan" => f64::NAN,
        v => v.as_f64().expect("number"),
    }
}

/// Points as the analysis sees them (shape layers padded to the widest one).
fn points(spec: &PathSpec, layers: &[Matrix]) -> Vec<PathPoint> {
    let p = layers.iter().map(Matrix::cols).max().unwrap();
    layers
        .iter()
        .map(|l| {
            let x = match spec {
                PathSpec::Shape { .. } => {
                    Matrix::from_fn(l.rows(), p, |i, j| if j < l.cols() { l.get(i, j) } else { 0.0 })
                }
                _ => l.clone(),
            };
            spec.point(&x).unwrap()
        })
        .collect()
}

#[test]
fn every_path_metric_matches_repsim() {
    let dir = fixtures_dir();
    let npz = std::fs::read(dir.join("paths_small.npz")).unwrap();
    let json: Value = serde_json::from_slice(&std::fs::read(dir.join("paths_small.repsim.json")).unwrap()).unwrap();
    let layers: Vec<Matrix> = json["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|name| {
            let a = read_npz_member(&npz, name.as_str().unwrap()).unwrap();
            Matrix::from_row_major(a.shape[0], a.shape[1], &a.data)
        })
        .collect();
    let n = layers.len();
    let mut worst_closed = 0.0f64;
    let mut worst_projection = 0.0f64;
    for (key, reference) in json["metrics"].as_object().unwrap() {
        let spec = spec_for(key);
        let tol = if key.starts_with("air") { 1e-6 } else { 1e-8 };
        let pts: Vec<PathPoint> = layers.iter().map(|l| spec.point(l).unwrap()).collect();
        let a = analyse_path(&spec, &pts).unwrap();
        let close = |got: f64, want: f64, what: &str, worst: &mut f64| {
            assert!((got - want).abs() <= tol, "{key} {what}: {got} vs repsim {want}");
            *worst = worst.max((got - want).abs());
        };
        for i in 0..n {
            for j in 0..n {
                close(a.distances[i][j], num(&reference["distances"][i][j]), &format!("d[{i},{j}]"), &mut worst_closed);
            }
        }
        for k in 1..n {
            close(a.steps[k], num(&reference["step_lengths"][k - 1]), "step", &mut worst_closed);
        }
        close(a.path_length, num(&reference["path_length"]), "path_length", &mut worst_closed);
        close(a.direct_distance, num(&reference["direct_distance"]), "direct", &mut worst_closed);
        close(a.efficiency, num(&reference["direct_over_path"]), "direct_over_path", &mut worst_closed);
        for angle in reference["interior_angles"].as_array().unwrap() {
            let k = angle["layer"].as_u64().unwrap() as usize;
            close(a.angles[k].unwrap(), num(&angle["angle_rad"]), &format!("angle at {k}"), &mut worst_closed);
        }
        // midpoints of every geodesic are equidistant, with repsim's values
        let padded = points(&spec, &layers);
        for mid in reference["midpoints"].as_array().unwrap() {
            let (i, j) = (mid["i"].as_u64().unwrap() as usize, mid["j"].as_u64().unwrap() as usize);
            let g = spec.geodesic(&padded[i], &padded[j], 0.5).unwrap();
            let (da, db) = (spec.distance(&padded[i], &g).unwrap(), spec.distance(&g, &padded[j]).unwrap());
            close(da, num(&mid["d_a_mid"]), &format!("midpoint {i},{j} d(a,mid)"), &mut worst_closed);
            close(db, num(&mid["d_mid_b"]), &format!("midpoint {i},{j} d(mid,b)"), &mut worst_closed);
        }
        // projections onto the first→last geodesic
        for p in reference["projections_onto_first_last_geodesic"].as_array().unwrap() {
            let k = p["layer"].as_u64().unwrap() as usize;
            let (t, d) = (a.projection_t[k], a.distance_to_geodesic[k]);
            let (rt, rd) = (num(&p["tangent_iteration_signed_frac"]), num(&p["tangent_iteration_dist_to_geodesic"]));
            assert!((t - rt).abs() <= 1e-4, "{key} projection t of layer {k}: {t} vs repsim {rt}");
            assert!((d - rd).abs() <= 1e-4, "{key} distance to geodesic of layer {k}: {d} vs repsim {rd}");
            assert!(d <= rd + 1e-9, "{key}: the exact projection is no farther than repsim's");
            worst_projection = worst_projection.max((t - rt).abs()).max((d - rd).abs());
            // independent check: no t on a fine grid gets closer
            let (first, last) = (&padded[0], &padded[n - 1]);
            for g in 0..=400 {
                let s = -0.5 + 2.0 * g as f64 / 400.0;
                let dg = spec.distance(&padded[k], &spec.geodesic(first, last, s).unwrap()).unwrap();
                assert!(dg >= d - 1e-9, "{key} layer {k}: t = {s} is closer ({dg}) than t* = {t} ({d})");
            }
        }
    }
    eprintln!("largest |difference| from repsim: closed forms {worst_closed:.1e}, projections {worst_projection:.1e}");
}
