//! The metric family through the whole pipeline: 4-D conv arrays, 3-D stochastic arrays and
//! 2-D matrices in one manifest; each metric uses the arrays of its rank, the others get
//! one `wrong_rank` row per (representation, metric), and values match netrep.

mod common;

use common::*;
use serde_json::Value;

#[test]
fn conv_and_stochastic_metrics_through_the_pipeline() {
    let fixture = "shape_small";
    let npz = fixtures_dir().join(format!("{fixture}.npz"));
    let json: Value =
        serde_json::from_slice(&std::fs::read(fixtures_dir().join(format!("{fixture}.netrep.json"))).unwrap()).unwrap();
    let run = RunDir::new();
    let mut manifest = String::from("model_id,layer,uri,key\n");
    for i in 0..4 {
        manifest.push_str(&format!("net{i},conv,{0},C{i}\nnet{i},trials,{0},S{i}\n", path_str(&npz)));
    }
    run.write("manifest.csv", manifest);
    run.config(
        "within_layer",
        "[[metrics]]\nname = \"conv\"\nkind = \"conv_shape\"\nalpha = 1.0\nscore = \"angular\"\n\
         [[metrics]]\nname = \"wasserstein\"\nkind = \"gaussian_stochastic\"\nalpha = 1.0\n\
         [[metrics]]\nname = \"energy\"\nkind = \"energy_stochastic\"\n",
    );
    let out = run.run(&["-w", "2"]);
    assert_eq!(out.status.code(), Some(2), "wrong-rank rows make the exit code 2");
    let rows = run.distances();
    let key = |name: &str| match name {
        "conv" => "conv_linear_alpha1_angular",
        "wasserstein" => "gaussian_alpha1_orth",
        _ => "energy_orth",
    };
    let mut seen = std::collections::HashMap::new();
    for r in &rows {
        let (i, j): (usize, usize) = (r.model_a[3..].parse().unwrap(), r.model_b[3..].parse().unwrap());
        let want = json["metrics"][key(&r.metric)]["D"][i][j].as_f64().unwrap();
        let tol = if r.metric == "conv" { 1e-8 } else { 1e-5 };
        assert!((r.distance - want).abs() <= tol, "{} {i},{j}: {} vs netrep {want}", r.metric, r.distance);
        assert_eq!(r.layer_a, if r.metric == "conv" { "conv" } else { "trials" });
        assert_eq!(r.shift_y.is_some(), r.metric == "conv", "only conv rows carry a shift");
        *seen.entry(r.metric.clone()).or_insert(0) += 1;
    }
    assert_eq!(seen.get("conv"), Some(&6));
    assert_eq!(seen.get("wasserstein"), Some(&6));
    assert_eq!(seen.get("energy"), Some(&6));
    // conv cannot read the 3-D arrays, the stochastic metrics cannot read the 4-D ones
    let errors = run.errors();
    assert_eq!(errors.len(), 4 * 3, "{errors:?}");
    assert!(errors.iter().all(|e| e.reason == "wrong_rank" && e.metric.is_some()));
    assert!(
        errors.iter().any(|e| e.layer == "trials" && e.metric.as_deref() == Some("conv") && e.message.contains("4-D"))
    );
}

#[test]
fn family_parameters_are_validated_before_any_work() {
    let run = RunDir::new();
    run.write("manifest.csv", "model_id,layer,uri\na,l,a.npy\n");
    for (metrics, expect) in [
        ("name = \"p\"\nkind = \"permutation\"\nalpha = 0.5\n", "metrics[0].alpha"),
        ("name = \"g\"\nkind = \"gaussian_stochastic\"\nalpha = 2.5\n", "[0, 2]"),
        ("name = \"b\"\nkind = \"shape\"\nalpha = 0.5\nestimator = \"bias_corrected\"\n", "alpha = 1"),
        ("name = \"c\"\nkind = \"cka\"\nkernel = \"rbf\"\nlength_scale = \"mean\"\n", "metrics[0].length_scale"),
        ("name = \"c\"\nkind = \"cka\"\nestimator = \"bias_corrected\"\n", "metrics[0].estimator"),
        ("name = \"s\"\nkind = \"shape\"\nrank_tol = 1e-6\n", "metrics[0].rank_tol"),
        ("name = \"e\"\nkind = \"energy_stochastic\"\ncov_eps = 1e-6\n", "metrics[0].cov_eps"),
        ("name = \"v\"\nkind = \"conv_shape\"\nscore = \"cosine\"\n", "cosine"),
    ] {
        run.config("within_layer", &format!("[[metrics]]\n{metrics}"));
        let out = run.run(&[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{metrics}: {stderr}");
        assert!(stderr.contains(expect), "{metrics}: expected {expect:?} in\n{stderr}");
        assert!(!run.path("out").exists(), "nothing is written");
    }
}
