//! `repspace._repspace`: the native half of the Python package (`python/repspace/` is the
//! other half, with netrep's class names and signatures).
//!
//! - A metric crosses the boundary as its `[[metrics]]` table (TOML text), parsed and checked
//!   by the same code as a config file, so Python errors read like the command line's.
//! - Arrays cross as numpy arrays (float32 or float64, any layout; the `numpy` crate's
//!   `ndarray` views), copied once into the metric's row-major tensors.
//! - All pairs run with the GIL released, on `workers` threads, over tiles of the pair matrix
//!   scored by the same blocked kernels (`compare_block`) as the pipeline.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray2, PyReadonlyArrayDyn};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use repspace_metrics::{
    MetricError, MetricSpec, PairScore, Precision, Prepared, STACK_BYTES, Tensor, compare, compare_block,
    prepare_with_precision,
};
use repspace_store::{NdArray, RunId};

/// Representations per side of a tile of the pair matrix.
const TILE: usize = 32;

/// The metric a `[[metrics]]` table describes.
fn spec_of(table: &str) -> PyResult<(MetricSpec, Precision)> {
    repspace_cli::config::metric_from_table(table).map_err(PyValueError::new_err)
}

/// A float32 or float64 numpy array as a row-major tensor; `what` names it in errors.
fn tensor_of(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Tensor> {
    let (shape, data): (Vec<usize>, Vec<f64>) = if let Ok(a) = obj.extract::<PyReadonlyArrayDyn<'_, f64>>() {
        let v = a.as_array();
        (v.shape().to_vec(), v.iter().copied().collect())
    } else if let Ok(a) = obj.extract::<PyReadonlyArrayDyn<'_, f32>>() {
        let v = a.as_array();
        (v.shape().to_vec(), v.iter().map(|&x| x as f64).collect())
    } else {
        return Err(PyTypeError::new_err(format!("{what}: expected a float32 or float64 numpy array")));
    };
    // ndarray iterates in logical (row-major) order whatever the memory layout
    let array = NdArray { shape, data };
    array.check_finite().map_err(|e| PyValueError::new_err(format!("{what}: {} ({})", e.reason, e.code.as_str())))?;
    if let Some(reason) = array.degeneracy() {
        return Err(PyValueError::new_err(format!("{what}: {reason} (degenerate)")));
    }
    Ok(Tensor::new(array.shape, array.data))
}

fn metric_error(what: &str, e: MetricError) -> PyErr {
    PyValueError::new_err(format!("{what}: {e}"))
}

/// One pair: fit on (x, y), score on the training rows and, when given, on held-out rows.
/// Returns (distance, distance_test or None, test_underdetermined).
#[pyfunction]
#[pyo3(signature = (table, x, y, x_test=None, y_test=None))]
fn fit_score(
    py: Python<'_>,
    table: &str,
    x: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
    x_test: Option<&Bound<'_, PyAny>>,
    y_test: Option<&Bound<'_, PyAny>>,
) -> PyResult<(f64, Option<f64>, bool)> {
    let (spec, precision) = spec_of(table)?;
    let (x, y) = (tensor_of(x, "X")?, tensor_of(y, "Y")?);
    let test = |t: Option<&Bound<'_, PyAny>>, what: &str| t.map(|t| tensor_of(t, what)).transpose();
    let (xt, yt) = (test(x_test, "X (held out)")?, test(y_test, "Y (held out)")?);
    let score = py.detach(|| -> Result<PairScore, PyErr> {
        let a = prepare_with_precision(&spec, precision, &x, xt.as_ref()).map_err(|e| metric_error("X", e))?;
        let b = prepare_with_precision(&spec, precision, &y, yt.as_ref()).map_err(|e| metric_error("Y", e))?;
        compare(&spec, &a, &b).map_err(|e| metric_error("the pair", e))
    })?;
    Ok((score.distance, score.distance_test, score.test_underdetermined))
}

/// Prepare every representation on `workers` threads; the first failure names its index.
fn prepare_all(
    spec: &MetricSpec,
    precision: Precision,
    train: &[Tensor],
    test: Option<&[Tensor]>,
    workers: usize,
) -> Result<Vec<Prepared>, String> {
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<Result<Prepared, MetricError>>>> = train.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= train.len() {
                        break;
                    }
                    let prepared = prepare_with_precision(spec, precision, &train[i], test.map(|t| &t[i]));
                    if let Ok(mut slot) = slots[i].lock() {
                        *slot = Some(prepared);
                    }
                }
            });
        }
    });
    let mut out = Vec::with_capacity(train.len());
    for (i, slot) in slots.into_iter().enumerate() {
        match slot.into_inner().ok().flatten() {
            Some(Ok(p)) => out.push(p),
            Some(Err(e)) => return Err(format!("traindata[{i}]: {e}")),
            None => return Err(format!("traindata[{i}]: not prepared")),
        }
    }
    Ok(out)
}

/// Every pair (i < j) of `prepared`, tile by tile on `workers` threads: (D_train, D_test).
fn all_pairs(
    spec: &MetricSpec,
    prepared: &[Prepared],
    with_test: bool,
    workers: usize,
    progress: Option<&ProgressBar>,
) -> Result<(Array2<f64>, Option<Array2<f64>>), String> {
    let k = prepared.len();
    let blocks = k.div_ceil(TILE);
    let tiles: Vec<(usize, usize)> = (0..blocks).flat_map(|a| (a..blocks).map(move |b| (a, b))).collect();
    let next = AtomicUsize::new(0);
    let d = Mutex::new(Array2::<f64>::zeros((k, k)));
    let dt = Mutex::new(with_test.then(|| Array2::<f64>::zeros((k, k))));
    let failure: Mutex<Option<String>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let t = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(a, b)) = tiles.get(t) else { break };
                    let rows: Vec<&Prepared> = prepared[a * TILE..((a + 1) * TILE).min(k)].iter().collect();
                    let cols: Vec<&Prepared> = prepared[b * TILE..((b + 1) * TILE).min(k)].iter().collect();
                    let pairs: Vec<(usize, usize)> = (0..rows.len())
                        .flat_map(|i| (0..cols.len()).map(move |j| (i, j)))
                        .filter(|&(i, j)| a * TILE + i < b * TILE + j)
                        .collect();
                    let scores = compare_block(spec, &rows, &cols, &pairs, STACK_BYTES);
                    let (Ok(mut d), Ok(mut dt)) = (d.lock(), dt.lock()) else { break };
                    for (&(i, j), score) in pairs.iter().zip(scores) {
                        let (p, q) = (a * TILE + i, b * TILE + j);
                        match score {
                            Ok(s) if s.distance.is_finite() => {
                                d[(p, q)] = s.distance;
                                d[(q, p)] = s.distance;
                                if let (Some(dt), Some(v)) = (dt.as_mut(), s.distance_test) {
                                    dt[(p, q)] = v;
                                    dt[(q, p)] = v;
                                }
                            }
                            other => {
                                let reason = match other {
                                    Err(e) => e.to_string(),
                                    Ok(s) => format!("the score is not a finite number ({})", s.distance),
                                };
                                if let Ok(mut f) = failure.lock() {
                                    f.get_or_insert(format!("pair ({p}, {q}): {reason}"));
                                }
                            }
                        }
                    }
                    if let Some(bar) = progress {
                        bar.inc(pairs.len() as u64);
                    }
                }
            });
        }
    });
    if let Some(f) = failure.into_inner().ok().flatten() {
        return Err(f);
    }
    let d = d.into_inner().map_err(|_| "a worker failed".to_string())?;
    let dt = dt.into_inner().map_err(|_| "a worker failed".to_string())?;
    Ok((d, dt))
}

/// A progress bar of pairs on stderr.
fn progress_bar(pairs: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(pairs), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} pairs {bar:40} {pos}/{len} [{elapsed_precise}, eta {eta}]")
    {
        bar.set_style(style);
    }
    bar
}

/// netrep's `pairwise_distances`: the K × K matrix of training distances (zero diagonal), and
/// with held-out data the matrix of held-out scores.
#[pyfunction]
#[pyo3(signature = (table, traindata, testdata=None, workers=None, verbose=false))]
#[allow(clippy::type_complexity)]
fn pairwise(
    py: Python<'_>,
    table: &str,
    traindata: Vec<Bound<'_, PyAny>>,
    testdata: Option<Vec<Bound<'_, PyAny>>>,
    workers: Option<usize>,
    verbose: bool,
) -> PyResult<(Py<PyArray2<f64>>, Option<Py<PyArray2<f64>>>)> {
    let (spec, precision) = spec_of(table)?;
    let train: Vec<Tensor> =
        traindata.iter().enumerate().map(|(i, a)| tensor_of(a, &format!("traindata[{i}]"))).collect::<PyResult<_>>()?;
    let test: Option<Vec<Tensor>> = match testdata {
        Some(t) if t.len() != train.len() => {
            return Err(PyValueError::new_err(format!(
                "testdata has {} arrays, traindata {}: give one held-out array per network",
                t.len(),
                train.len()
            )));
        }
        Some(t) => {
            Some(t.iter().enumerate().map(|(i, a)| tensor_of(a, &format!("testdata[{i}]"))).collect::<PyResult<_>>()?)
        }
        None => None,
    };
    let workers = workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    let k = train.len();
    let bar = verbose.then(|| progress_bar((k * k.saturating_sub(1) / 2) as u64));
    // one thread per worker does the linear algebra
    repspace_metrics::set_linear_algebra_threads(if workers > 1 { 1 } else { 0 });
    let (d, dt) = py
        .detach(|| -> Result<_, String> {
            let prepared = prepare_all(&spec, precision, &train, test.as_deref(), workers)?;
            all_pairs(&spec, &prepared, test.is_some(), workers, bar.as_ref())
        })
        .map_err(PyValueError::new_err)?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok((d.into_pyarray(py).unbind(), dt.map(|dt| dt.into_pyarray(py).unbind())))
}

/// Run the job a config describes (`repspace run CONFIG -w WORKERS`); returns (run id, the
/// output location, whether the run recorded errors).
#[pyfunction]
#[pyo3(signature = (config, workers=None, quiet=true))]
fn run(py: Python<'_>, config: String, workers: Option<usize>, quiet: bool) -> PyResult<(String, String, bool)> {
    let workers = workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    let run_id = RunId::new_from_clock().to_string();
    let output = repspace_cli::run::output_location(&config).map_err(|e| PyRuntimeError::new_err(format!("{e:#}")))?;
    let args = repspace_cli::run::RunArgs::new(config, workers, run_id.clone(), quiet);
    let outcome = py.detach(|| repspace_cli::run::run(&args)).map_err(|e| PyRuntimeError::new_err(format!("{e:#}")))?;
    Ok((run_id, output, outcome == repspace_cli::run::Outcome::WithErrors))
}

#[pymodule]
fn _repspace(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(fit_score, m)?)?;
    m.add_function(wrap_pyfunction!(pairwise, m)?)?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
