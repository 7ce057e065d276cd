//! The metric math against the reference values netrep @ 0186b8a computed on
//! `tests/fixtures/shape_{small,medium}` (docs/math.md §6.1). Tolerances: §6.3.

use std::path::PathBuf;

use repspace_metrics::{Matrix, MetricSpec, Score, compare, prepare_matrix as prepare};
use repspace_store::npy::read_npz_member;
use serde_json::Value;

fn fixtures_dir() -> PathBuf {
    match std::env::var("REPSPACE_FIXTURES") {
        Ok(dir) if !dir.is_empty() => PathBuf::from(dir),
        // crates/metrics → the repository root's tests/fixtures
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures"),
    }
}

fn matrix(npz: &[u8], key: &str) -> Matrix {
    let a = read_npz_member(npz, key).unwrap_or_else(|e| panic!("fixture array {key}: {e}"));
    assert_eq!(a.shape.len(), 2);
    Matrix::from_row_major(a.shape[0], a.shape[1], &a.data)
}

fn spec_for(name: &str, params: &Value) -> Option<MetricSpec> {
    let score = match params.get("score_method").and_then(Value::as_str) {
        Some("angular") => Score::Angular,
        Some("euclidean") => Score::Euclidean,
        _ => Score::Angular,
    };
    if name.starts_with("linear_alpha") {
        Some(MetricSpec::shape(params["alpha"].as_f64()?, score))
    } else if name.starts_with("permutation_") {
        Some(MetricSpec::Permutation { score })
    } else if name == "linear_cka_angular" {
        Some(MetricSpec::linear_cka())
    } else {
        None
    }
}

/// A shape fixture: netrep's values, K, and each network's training and held-out rows.
struct Fixture {
    json: Value,
    k: usize,
    xs: Vec<Matrix>,
    ts: Vec<Matrix>,
}

impl Fixture {
    fn load(fixture: &str) -> Fixture {
        let dir = fixtures_dir();
        let npz = std::fs::read(dir.join(format!("{fixture}.npz"))).expect("fixture npz");
        let json: Value =
            serde_json::from_slice(&std::fs::read(dir.join(format!("{fixture}.netrep.json"))).expect("fixture json"))
                .expect("fixture json parses");
        let k = json["K"].as_u64().expect("K") as usize;
        let xs = (0..k).map(|i| matrix(&npz, &format!("X{i}"))).collect();
        let ts = (0..k).map(|i| matrix(&npz, &format!("T{i}"))).collect();
        Fixture { json, k, xs, ts }
    }
}

fn check(fixture: &str) {
    let Fixture { json, k, xs, ts } = Fixture::load(fixture);
    let mut checked = 0;
    let mut worst = 0.0f64;
    for (name, entry) in json["metrics"].as_object().unwrap() {
        let Some(spec) = spec_for(name, &entry["params"]) else { continue };
        let prepared: Vec<_> = (0..k).map(|i| prepare(&spec, &xs[i], Some(&ts[i])).unwrap()).collect();
        for i in 0..k {
            for j in (i + 1)..k {
                let got = compare(&spec, &prepared[i], &prepared[j]).unwrap();
                let want = entry["D"][i][j].as_f64().unwrap();
                let tol = if want.abs() < 1e-6 { 1e-7 } else { 1e-8 };
                assert!(
                    (got.distance - want).abs() <= tol,
                    "{fixture} {name} D[{i},{j}]: {} vs netrep {want}",
                    got.distance
                );
                worst = worst.max((got.distance - want).abs());
                if let Some(dt) = entry.get("D_test") {
                    let want = dt[i][j].as_f64().unwrap();
                    let got = got.distance_test.expect("held-out score");
                    assert!((got - want).abs() <= tol, "{fixture} {name} D_test[{i},{j}]: {got} vs netrep {want}");
                    worst = worst.max((got - want).abs());
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 9 * k * (k - 1) / 2, "all nine faithful metrics were checked");
    eprintln!("{fixture}: largest |difference| from netrep over D and D_test of 9 metrics: {worst:.1e}");
}

#[test]
fn shape_small_matches_netrep() {
    check("shape_small");
}

#[test]
fn shape_medium_matches_netrep() {
    check("shape_medium");
}

/// `precision = "f32"` on the shape metrics (every alpha and score netrep computed): the
/// largest difference from netrep's f64 values over D and D_test, which the README states.
fn f32_error(fixture: &str) -> f64 {
    use repspace_metrics::{Precision, prepare_matrix_with_precision};
    let Fixture { json, k, xs, ts } = Fixture::load(fixture);
    let mut worst = 0.0f64;
    let mut metrics = 0;
    for (name, entry) in json["metrics"].as_object().unwrap() {
        let Some(spec @ MetricSpec::Shape { .. }) = spec_for(name, &entry["params"]) else { continue };
        metrics += 1;
        let prep = |i: usize| prepare_matrix_with_precision(&spec, Precision::F32, &xs[i], Some(&ts[i])).unwrap();
        let prepared: Vec<_> = (0..k).map(prep).collect();
        for i in 0..k {
            for j in (i + 1)..k {
                let got = compare(&spec, &prepared[i], &prepared[j]).unwrap();
                worst = worst.max((got.distance - entry["D"][i][j].as_f64().unwrap()).abs());
                if let Some(dt) = entry.get("D_test") {
                    let got = got.distance_test.expect("held-out score");
                    worst = worst.max((got - dt[i][j].as_f64().unwrap()).abs());
                }
            }
        }
    }
    assert!(metrics >= 6, "{fixture}: the shape metrics were checked ({metrics})");
    eprintln!("{fixture}: precision = \"f32\": largest |difference| from netrep over D and D_test: {worst:.1e}");
    worst
}

#[test]
fn f32_cross_products_cost_at_most_1e_5_against_netrep() {
    for fixture in ["shape_small", "shape_medium"] {
        let worst = f32_error(fixture);
        assert!(worst <= 1e-5, "{fixture}: f32 error {worst:e}");
        // f32 rounding is visible: the option really changes the arithmetic
        assert!(worst > 1e-12, "{fixture}: f32 error {worst:e} is suspiciously small");
    }
}

fn tensor(npz: &[u8], key: &str) -> repspace_metrics::Tensor {
    let a = read_npz_member(npz, key).unwrap_or_else(|e| panic!("fixture array {key}: {e}"));
    repspace_metrics::Tensor::new(a.shape, a.data)
}

/// The conv metric (every shift-grid entry and the minimum), Gaussian (α = 0, 1, 2) and
/// Energy stochastic metrics against netrep.
fn check_family(fixture: &str) {
    use repspace_metrics::{PairScore, conv_grid, prepare as prepare_any};
    let dir = fixtures_dir();
    let npz = std::fs::read(dir.join(format!("{fixture}.npz"))).expect("fixture npz");
    let json: Value =
        serde_json::from_slice(&std::fs::read(dir.join(format!("{fixture}.netrep.json"))).unwrap()).unwrap();
    let k = json["K"].as_u64().unwrap() as usize;
    let mut worst: std::collections::BTreeMap<&str, f64> = Default::default();

    // convolutional, alpha = 1, angular: every grid cell and the minimum within 1e-8
    let conv = &json["metrics"]["conv_linear_alpha1_angular"];
    let spec = MetricSpec::ConvShape { alpha: 1.0, score: Score::Angular };
    let cs: Vec<_> = (0..k).map(|i| prepare_any(&spec, &tensor(&npz, &format!("C{i}")), None).unwrap()).collect();
    for i in 0..k {
        for j in (i + 1)..k {
            let (repspace_metrics::Prepared::Conv(a), repspace_metrics::Prepared::Conv(b)) = (&cs[i], &cs[j]) else {
                panic!("conv prepared")
            };
            let grid = conv_grid(a, b, Score::Angular).unwrap();
            let want = &conv["grids"][format!("{i},{j}")];
            for (gy, row) in grid.iter().enumerate() {
                for (gx, &v) in row.iter().enumerate() {
                    let w = want[gy][gx].as_f64().unwrap();
                    assert!((v - w).abs() <= 1e-8, "{fixture} conv grid {i},{j}[{gy}][{gx}]: {v} vs netrep {w}");
                    let e = worst.entry("conv grid").or_default();
                    *e = e.max((v - w).abs());
                }
            }
            let PairScore { distance, shift, .. } = compare(&spec, &cs[i], &cs[j]).unwrap();
            let w = conv["D"][i][j].as_f64().unwrap();
            assert!((distance - w).abs() <= 1e-8, "{fixture} conv D[{i},{j}]: {distance} vs {w}");
            let (dy, dx) = shift.expect("conv reports its argmin shift");
            let h = grid.len() as i64;
            let wd = grid[0].len() as i64;
            assert_eq!(grid[(dy + h / 2) as usize][(dx + wd / 2) as usize], distance);
        }
    }

    // stochastic: iterative, 1e-5
    let mut specs = vec![("energy_orth", MetricSpec::EnergyStochastic { max_iter: 100, tol: 1e-6 })];
    for (name, alpha) in [("gaussian_alpha0_orth", 0.0), ("gaussian_alpha1_orth", 1.0), ("gaussian_alpha2_orth", 2.0)] {
        specs.push((name, MetricSpec::GaussianStochastic { alpha, max_iter: 1000, tol: 1e-8, cov_eps: 1e-6 }));
    }
    for (name, spec) in specs {
        let ss: Vec<_> = (0..k).map(|i| prepare_any(&spec, &tensor(&npz, &format!("S{i}")), None).unwrap()).collect();
        for i in 0..k {
            for j in (i + 1)..k {
                let got = compare(&spec, &ss[i], &ss[j]).unwrap().distance;
                let want = json["metrics"][name]["D"][i][j].as_f64().unwrap();
                assert!((got - want).abs() <= 1e-5, "{fixture} {name} D[{i},{j}]: {got} vs netrep {want}");
                let e = worst.entry(name).or_default();
                *e = e.max((got - want).abs());
            }
        }
    }
    for (what, e) in &worst {
        eprintln!("{fixture}: {what}: largest |difference| from netrep {e:.1e}");
    }
}

#[test]
fn shape_small_conv_and_stochastic_match_netrep() {
    check_family("shape_small");
}

#[test]
fn shape_medium_conv_and_stochastic_match_netrep() {
    check_family("shape_medium");
}
