//! The default job's shape on a tiny digits zoo: `repspace run` trains the zoo on first
//! use, runs metrics, paths, embedding and geometry, and draws the report; every figure is
//! a valid PNG and SVG of non-trivial size; the Python analysis scripts run on the tables.

mod common;

use common::*;

/// configs/demo.toml and configs/zoo_demo.toml, pointed at a temp dir, with a smaller grid.
fn tiny_default_job(run: &RunDir) -> std::path::PathBuf {
    let zoo = std::fs::read_to_string(repo_dir().join("configs/zoo_demo.toml")).unwrap();
    let zoo = zoo
        .replace("depths = [1, 2, 3]", "depths = [1, 2]")
        .replace("widths = [16, 64]", "widths = [16]")
        .replace("seeds = [0, 1]", "seeds = [0]")
        .replace("checkpoints = [0, 5, 20]", "checkpoints = [0, 2, 6]");
    assert!(
        zoo.contains("depths = [1, 2]\n") && zoo.contains("checkpoints = [0, 2, 6]"),
        "zoo_demo.toml changed shape"
    );
    run.write("zoo_demo.toml", zoo);
    let demo = std::fs::read_to_string(repo_dir().join("configs/demo.toml")).unwrap();
    let demo = demo.replace("plane_steps = 30", "plane_steps = 12");
    assert!(demo.contains("zoo = \"zoo_demo.toml\"") && demo.contains("[report]"), "demo.toml changed shape");
    run.write("config.toml", demo)
}

fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR", "the first PNG chunk is not IHDR");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    assert!(bytes.ends_with(&[0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]), "PNG does not end with IEND");
    (be(&bytes[16..20]), be(&bytes[20..24]))
}

#[test]
fn the_default_job_trains_its_zoo_and_draws_every_figure() {
    let run = RunDir::new();
    let config = tiny_default_job(&run);
    let out = repspace(&["run", config.to_str().unwrap(), "-w", "2"]);
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("training the zoo"), "{stdout}");
    let report_dir = run.path("out/demo/report");
    assert!(
        stdout.contains(&report_dir.join("index.html").display().to_string()),
        "the report path is printed:\n{stdout}"
    );

    let stems = [
        "zoo_mds_depth",
        "zoo_mds_width",
        "zoo_mds_activation",
        "zoo_mds_test_accuracy",
        "zoo_mds_epoch",
        "distance_heatmap",
        "layer_paths",
        "path_efficiency",
        "volume_maps",
    ];
    let index = std::fs::read_to_string(report_dir.join("index.html")).unwrap();
    assert!(!index.contains("Not drawn"), "a figure was skipped:\n{index}");
    for stem in stems {
        let png = std::fs::read(report_dir.join(format!("{stem}.png"))).unwrap_or_else(|e| panic!("{stem}.png: {e}"));
        let (w, h) = png_size(&png);
        assert!(w >= 600 && h >= 500, "{stem}.png is {w}×{h}");
        assert!(png.len() > 15_000, "{stem}.png has only {} bytes", png.len());
        let svg = std::fs::read_to_string(report_dir.join(format!("{stem}.svg"))).unwrap();
        assert!(svg.contains("<svg") && svg.trim_end().ends_with("</svg>"), "{stem}.svg is not a whole SVG document");
        assert!(svg.len() > 5_000 && svg.matches("<text").count() >= 5, "{stem}.svg has no real content");
        assert!(index.contains(&format!("src=\"{stem}.svg\"")), "index.html does not show {stem}");
    }
    for caption in
        ["Final-epoch mean test accuracy", "path efficiency", "Embeddings (embedding_summary)", "Input-space geometry"]
    {
        assert!(index.contains(caption), "index.html lacks {caption:?}");
    }

    // `repspace report` redraws from the tables alone
    std::fs::remove_dir_all(&report_dir).unwrap();
    assert_success(&repspace(&["report", config.to_str().unwrap()]));
    assert!(report_dir.join("layer_paths.svg").exists() && report_dir.join("index.html").exists());

    // the analysis scripts reproduce their findings' numbers on these tables
    let env = std::process::Command::new("bash").arg(repo_dir().join("scripts/python_env.sh")).output().unwrap();
    assert!(env.status.success(), "{}", String::from_utf8_lossy(&env.stderr));
    let python = String::from_utf8(env.stdout).unwrap().trim().to_string();
    let script = |name: &str, extra: &[&str]| {
        let out = std::process::Command::new(&python)
            .arg(repo_dir().join("scripts").join(name))
            .arg(run.path("out/demo"))
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let knn = script("analyze_accuracy_knn.py", &["--k", "2", "--permutations", "200"]);
    assert!(knn.contains("all checkpoints: 18 models") && knn.contains("k-NN MAE"), "{knn}");
    let paths = script("analyze_paths.py", &["--path", "procrustes_path"]);
    assert!(paths.contains("procrustes_path: 6 networks") && paths.contains("depth ~ efficiency"), "{paths}");
}

#[test]
fn a_zoo_config_with_a_bad_key_is_refused_before_any_training() {
    let run = RunDir::new();
    let config = tiny_default_job(&run);
    let zoo = std::fs::read_to_string(run.path("zoo_demo.toml")).unwrap();
    run.write("zoo_demo.toml", zoo.replace("seeds = [0]", "seeds = [0]\nlearning_rte = 0.1"));
    let out = repspace(&["run", config.to_str().unwrap(), "--quiet"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("learning_rte") && stderr.contains("zoo_demo.toml"), "{stderr}");
    assert!(!run.path("out/zoo_demo/manifest.csv").exists());
}
