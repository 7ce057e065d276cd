//! The all-pairs job: manifest → load + validate (on the worker owning the representation)
//! → prepare once per metric → exchange prepared factors to the owners of tiles → compare
//! → each worker publishes its own Parquet parts.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::Arc;

use differential_dataflow::AsCollection;
use indicatif::ProgressBar;
use repspace_metrics::{
    MetricError, MetricSpec, PairScore, Precision, Prepared, STACK_BYTES, Tensor, compare, compare_block,
    prepare_with_precision,
};
use repspace_store::hash::content_hash;
use repspace_store::load::read_array;
use repspace_store::tables::{self, DistanceRow, ErrorRow, ModelRow};
use repspace_store::{LoadError, Location, Manifest, ManifestRow, ReasonCode, Storage, StoreError};
use serde::{Deserialize, Serialize};
use timely::dataflow::ProbeHandle;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::{Broadcast, Map, ToStream};
use timely::dataflow::operators::{Inspect, Probe};

use crate::incremental::{Decision, PairKey, Wanted, pair_key};
use crate::layer_paths::{NamedPath, PathLayer, analyse_model, layer_points, model_route};
use crate::plan::{PairScope, Plan, TileId};

/// A metric as the config names it.
#[derive(Clone, Debug)]
pub struct NamedMetric {
    pub name: String,
    pub spec: MetricSpec,
    /// The arithmetic of the cross products (shape metrics).
    pub precision: Precision,
}

impl NamedMetric {
    /// The identity of the metric's kind, parameters and precision (not its name). The f64
    /// fingerprint is the spec's alone, as before precision existed, so earlier rows stay reusable.
    pub fn fingerprint(&self) -> String {
        match self.precision {
            Precision::F64 => fingerprint(&format!("{:?}", self.spec)),
            Precision::F32 => fingerprint(&format!("{:?} precision=f32", self.spec)),
        }
    }
}

/// A short stable hash of a description (FNV-1a 64, hex).
pub fn fingerprint(text: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

/// Rows of earlier runs that this run may reuse: (metric_spec, hash_a, hash_b) → row.
pub type Reusable = HashMap<(String, String, String), DistanceRow>;

/// Everything a run needs; shared read-only by all workers.
pub struct AllPairsJob {
    pub run_id: String,
    pub output: Location,
    pub manifest: Manifest,
    pub metrics: Vec<NamedMetric>,
    /// Layer-path metrics over the layers of each model.
    pub paths: Vec<NamedPath>,
    /// Where to evaluate the geometry of networks given by weights.
    pub geometry: Option<crate::geometry::GeometryJob>,
    pub scope: PairScope,
    /// Representations per side of a tile; `None`: [`Plan::auto`] for the run's workers.
    pub tile_size: Option<usize>,
    pub storage: Storage,
    /// Advanced once per pair and metric; `None` for no progress display.
    pub progress: Option<ProgressBar>,
    /// Earlier runs' distances: a pair with the same metric fingerprint and content hashes
    /// is reused, not recomputed.
    pub reusable: Reusable,
    /// A worker publishes its `distances` rows as a part whenever this many have gathered,
    /// so a killed run's finished pairs survive for the rerun to reuse.
    pub flush_rows: usize,
    /// Bytes of prepared representations one worker may hold while comparing. `None`: the
    /// loaders send every factor to the tile owners, which keep them all (fastest; one copy
    /// per worker). `Some(b)`: tile owners load the representations of their tiles
    /// themselves, tile by tile in block order, keeping at most about `b` bytes of them
    /// (a representation may be loaded several times).
    pub worker_memory_budget: Option<u64>,
    /// Earlier runs' paths by `path_key`: a model whose path metric and layers (names,
    /// order, content hashes) are unchanged keeps its rows instead of being re-analysed.
    pub reusable_paths: ReusablePaths,
}

/// Earlier paths by key: (summary row, per-layer rows).
pub type ReusablePaths = std::collections::HashMap<String, (tables::PathSummaryRow, Vec<tables::PathRow>)>;

/// What one worker did.
#[derive(Clone, Debug, Default)]
pub struct RunReport {
    pub representations: usize,
    pub pairs: usize,
    /// Pair-metric rows computed by this run, and reused from earlier runs.
    pub computed: usize,
    pub reused: usize,
    /// (model, path metric) paths analysed.
    pub paths: usize,
    /// Pairs whose `distance_test` depends on how the SVD completes a genuine null space
    /// (rank-deficient cross-covariance, e.g. dead ReLU units): it may differ from netrep's.
    pub ambiguous_held_out: usize,
    pub errors: usize,
    pub parts: Vec<Location>,
    /// The pair phase: seconds the busiest worker spent computing or copying its tiles'
    /// rows (loading, planning and publishing are outside it).
    pub pair_seconds: f64,
}

impl RunReport {
    fn absorb(&mut self, other: RunReport) {
        self.representations += other.representations;
        self.pairs += other.pairs;
        self.paths += other.paths;
        self.computed += other.computed;
        self.reused += other.reused;
        self.ambiguous_held_out += other.ambiguous_held_out;
        self.errors += other.errors;
        self.parts.extend(other.parts);
        // workers run side by side: the phase lasts as long as its busiest worker
        self.pair_seconds = self.pair_seconds.max(other.pair_seconds);
    }
}

/// What the tile owners learn besides the factors: the sample-count refusals (broadcast)
/// and the plan's decisions for their own tiles.
#[derive(Clone, Debug, Serialize, Deserialize)]
enum Control {
    Refused(usize, String),
    Decide(Wanted, Decision),
    /// A representation's content hash (broadcast): a reused row is found by it.
    Hash(usize, String),
}

/// A loaded and prepared representation, as it travels to tile owners.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Loaded {
    rep: usize,
    hash: String,
    shape: Vec<usize>,
    /// One entry per metric of the job, in order; a failure names its reason code.
    /// `Ok(None)`: prepared, then dropped (a budgeted loader keeps only the outcome).
    prepared: Vec<Result<Option<Prepared>, (ReasonCode, String)>>,
    /// One entry per path metric of the job: whether the layer can be a point of it. The
    /// points themselves (an m × m Gram matrix for CKA paths) are built again by the
    /// model's owner, one model at a time, so they never all live at once.
    path_points: Vec<Result<(), (ReasonCode, String)>>,
    /// The layer's activations, for the model's owner (only when the job has paths).
    path_input: Option<Tensor>,
    /// A network's geometry rows (networks given by weights, with `[geometry]`).
    geometry: Option<(Vec<tables::GeometryPointRow>, tables::GeometrySummaryRow)>,
}

impl Loaded {
    /// An estimate of the memory its prepared factors take: the array once per metric,
    /// twice when the metric keeps a transformed copy beside it.
    fn approx_bytes(&self) -> u64 {
        let array = self.shape.iter().product::<usize>() as u64 * 8;
        array * (1 + 2 * self.prepared.len() as u64)
    }

    fn n_samples(&self) -> usize {
        self.shape.first().copied().unwrap_or(0)
    }
}

/// Rows a worker publishes when the dataflow is done.
#[derive(Default)]
struct Collected {
    models: Vec<(usize, ModelRow)>,
    distances: Vec<DistanceRow>,
    paths: Vec<tables::PathRow>,
    path_summaries: Vec<tables::PathSummaryRow>,
    geometry_points: Vec<tables::GeometryPointRow>,
    geometry_summaries: Vec<(usize, tables::GeometrySummaryRow)>,
    msa_points: Vec<tables::MsaPointRow>,
    errors: Vec<ErrorRow>,
    /// Pairs whose held-out score depends on the SVD's null-space completion.
    ambiguous_held_out: usize,
    computed: usize,
    reused: usize,
    /// Seconds spent in `compute_tile`.
    pair_seconds: f64,
    /// Distances parts already published by this worker, their row count, and the first
    /// publishing error (reported when the dataflow ends).
    flushed_parts: Vec<Location>,
    flushed_rows: usize,
    flush_error: Option<StoreError>,
    /// Representations refused by the group sample-count check: rep → message.
    refused: HashMap<usize, String>,
}

fn error_row(job: &AllPairsJob, row: &ManifestRow, code: ReasonCode, message: String) -> ErrorRow {
    ErrorRow {
        model_id: row.model_id.clone(),
        layer: row.layer.clone(),
        uri: Some(row.uri.to_string()),
        reason: code.as_str().into(),
        message,
        metric: None,
        model_b: None,
        layer_b: None,
        run_id: job.run_id.clone(),
    }
}

/// Load, validate, hash and prepare one representation for every metric. The array's
/// rank is checked per metric (a [conditions, repeats, units] array suits the stochastic
/// metrics and no others); held-out rows must have the training rows' trailing shape.
fn load_and_prepare(job: &AllPairsJob, rep: usize) -> Result<Loaded, LoadError> {
    let row = &job.manifest.rows[rep];
    // a network given by weights: its geometry, and its pullback metrics for MSA
    let (network, geometry) = match &row.weights_uri {
        Some(_) => {
            let mlp = crate::geometry::load_network(&job.storage, row)?;
            let evaluated = match &job.geometry {
                Some(g) => {
                    let msa = job.metrics.iter().any(|m| matches!(m.spec, MetricSpec::Msa { .. }));
                    Some(crate::geometry::evaluate_network(g, &mlp, row, &job.run_id, msa)?)
                }
                None => None,
            };
            (true, evaluated)
        }
        None => (false, None),
    };
    let activations = if row.activations {
        let train = read_array(&job.storage, &row.uri, row.key.as_deref())?;
        let test = match &row.test_uri {
            Some(loc) => Some(read_array(&job.storage, loc, row.test_key.as_deref().or(row.key.as_deref()))?),
            None => None,
        };
        train.check_finite()?;
        if train.shape.len() < 2 {
            return Err(LoadError::new(
                ReasonCode::WrongRank,
                format!("expected at least a 2-D array [samples, ...], got shape {:?}", train.shape),
            ));
        }
        if let Some(t) = &test {
            t.check_finite().map_err(|e| LoadError::new(e.code, format!("held-out rows: {}", e.reason)))?;
            if t.shape.len() != train.shape.len() || t.shape[1..] != train.shape[1..] {
                return Err(LoadError::new(
                    ReasonCode::WrongRank,
                    format!("held-out rows have shape {:?} but training rows have {:?}", t.shape, train.shape),
                ));
            }
        }
        let hash = content_hash(&train, test.as_ref());
        Some((hash, Tensor::new(train.shape.clone(), train.data), test.map(|t| Tensor::new(t.shape, t.data))))
    } else {
        None
    };
    let metrics_tensor = geometry.as_ref().map(|(_, _, g)| g);
    let hash = match (&activations, metrics_tensor) {
        (Some((h, _, _)), _) => h.clone(),
        (None, Some(g)) => {
            content_hash(&repspace_store::NdArray { shape: g.shape().to_vec(), data: g.data().to_vec() }, None)
        }
        (None, None) => content_hash(&repspace_store::NdArray { shape: vec![0], data: Vec::new() }, None),
    };
    let prepared = job
        .metrics
        .iter()
        .map(|metric| {
            let input = match (&metric.spec, &activations, metrics_tensor) {
                (MetricSpec::Msa { .. }, _, Some(g)) => Ok((g, None)),
                (MetricSpec::Msa { .. }, _, None) => Err(if network {
                    "msa needs a [geometry] section with probe points".to_string()
                } else {
                    "msa compares networks given by weights (weights_uri, spec_uri); this row has only activations"
                        .to_string()
                }),
                (_, Some((_, x, t)), _) => Ok((x, t.as_ref())),
                (_, None, _) => Err("this row is a network without activations (no uri)".to_string()),
            };
            let (x, t) = input.map_err(|m| (ReasonCode::WrongRank, format!("metric {:?}: {m}", metric.name)))?;
            prepare_with_precision(&metric.spec, metric.precision, x, t).map(Some).map_err(|e| {
                let code = match e {
                    MetricError::WrongRank { .. } => ReasonCode::WrongRank,
                    MetricError::NotFinite(_) => ReasonCode::NonFinite,
                    _ => ReasonCode::PrepareFailed,
                };
                (code, format!("metric {:?}: {e}", metric.name))
            })
        })
        .collect();
    let shape = match (&activations, metrics_tensor) {
        (Some((_, x, _)), _) => x.shape().to_vec(),
        (None, Some(g)) => g.shape().to_vec(),
        (None, None) => vec![0, 0],
    };
    let path_points = match &activations {
        Some((_, x, _)) => layer_points(&job.paths, x).into_iter().map(|p| p.map(drop)).collect(),
        None => job
            .paths
            .iter()
            .map(|p| Err((ReasonCode::WrongRank, format!("path {:?}: no activations", p.name))))
            .collect(),
    };
    let geometry = geometry.map(|(points, summary, _)| (points, summary));
    let path_input = if job.paths.is_empty() { None } else { activations.map(|(_, x, _)| x) };
    Ok(Loaded { rep, hash, shape, prepared, path_points, path_input, geometry })
}

/// The most common sample count of a group; ties go to the count seen first in group order.
fn expected_samples(counts: &[(usize, usize)]) -> Option<usize> {
    let mut tally: BTreeMap<usize, (usize, usize)> = BTreeMap::new(); // m → (count, first position)
    for (pos, &(_, m)) in counts.iter().enumerate() {
        let e = tally.entry(m).or_insert((0, pos));
        e.0 += 1;
    }
    tally.into_iter().max_by(|a, b| a.1.0.cmp(&b.1.0).then(b.1.1.cmp(&a.1.1))).map(|(m, _)| m)
}

/// Run the all-pairs job on a timely cluster described by `config`. Each worker publishes
/// its own parts; the reports of this process's workers are summed.
/// Returns the whole run's report in the process hosting worker 0 (the one that commits),
/// `None` in the other processes of a cluster.
pub fn run_all_pairs(job: Arc<AllPairsJob>, config: timely::Config) -> Result<Option<RunReport>, String> {
    let keys: Vec<(String, String)> = job.manifest.rows.iter().map(|r| (r.model_id.clone(), r.layer.clone())).collect();
    let workers = match &config.communication {
        timely::CommunicationConfig::Thread => 1,
        timely::CommunicationConfig::Process(n) | timely::CommunicationConfig::ProcessBinary(n) => *n,
        timely::CommunicationConfig::Cluster { threads, addresses, .. } => threads * addresses.len(),
    };
    let plan = Arc::new(match job.tile_size {
        Some(size) => Plan::new(&keys, job.scope, size),
        None => Plan::auto(&keys, job.scope, workers),
    });
    tracing::debug!(tile_size = plan.tile_size, tiles = plan.tiles().count(), workers, "plan");
    if let Some(bar) = &job.progress {
        bar.set_length((plan.pair_count() * job.metrics.len()) as u64);
    }
    let guards = timely::execute(config, move |worker| {
        let report = worker_main(worker, job.clone(), plan.clone());
        gather_reports(worker, report)
    })?;
    let mut total = None;
    for result in guards.join() {
        if let Some(report) = result?? {
            total = Some(report);
        }
    }
    Ok(total)
}

/// What a worker reports as it travels to worker 0: its counts, the parts it published
/// (as URLs) and its pair-phase seconds.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct ReportWire {
    representations: usize,
    pairs: usize,
    computed: usize,
    reused: usize,
    paths: usize,
    ambiguous_held_out: usize,
    errors: usize,
    parts: Vec<String>,
    pair_seconds: f64,
}

impl ReportWire {
    fn from_report(r: &RunReport) -> ReportWire {
        ReportWire {
            representations: r.representations,
            pairs: r.pairs,
            computed: r.computed,
            reused: r.reused,
            paths: r.paths,
            ambiguous_held_out: r.ambiguous_held_out,
            errors: r.errors,
            parts: r.parts.iter().map(|p| p.url().to_string()).collect(),
            pair_seconds: r.pair_seconds,
        }
    }

    fn into_report(self) -> Result<RunReport, String> {
        let parts =
            self.parts.iter().map(|u| Location::parse(u, None).map_err(|e| e.to_string())).collect::<Result<_, _>>()?;
        Ok(RunReport {
            representations: self.representations,
            pairs: self.pairs,
            computed: self.computed,
            reused: self.reused,
            paths: self.paths,
            ambiguous_held_out: self.ambiguous_held_out,
            errors: self.errors,
            parts,
            pair_seconds: self.pair_seconds,
        })
    }
}

type ReportMessage = Result<ReportWire, String>;

/// A barrier after publishing: each worker's report travels to worker 0, which therefore
/// learns of it only once that worker has published its parts, in any process.
fn gather_reports(
    worker: &mut timely::worker::Worker,
    report: Result<RunReport, StoreError>,
) -> Result<Option<RunReport>, String> {
    use timely::dataflow::operators::Exchange as _;
    let message: ReportMessage = report.map_err(|e| e.to_string()).map(|r| ReportWire::from_report(&r));
    let received: Rc<RefCell<Vec<ReportMessage>>> = Rc::default();
    let probe = ProbeHandle::new();
    let sink = received.clone();
    worker.dataflow::<u64, _, _>(|scope| {
        vec![message]
            .to_stream(scope)
            .exchange(|_| 0)
            .inspect(move |m: &ReportMessage| sink.borrow_mut().push(m.clone()))
            .probe_with(&probe);
    });
    while !probe.done() {
        worker.step();
    }
    if worker.index() != 0 {
        return Ok(None);
    }
    let mut total = RunReport::default();
    for m in received.borrow().iter() {
        total.absorb(m.clone()?.into_report()?);
    }
    Ok(Some(total))
}

fn worker_main(
    worker: &mut timely::worker::Worker,
    job: Arc<AllPairsJob>,
    plan: Arc<Plan>,
) -> Result<RunReport, StoreError> {
    let index = worker.index();
    let peers = worker.peers();
    // who owns each tile (the same balanced map on every worker)
    let owners = Arc::new(plan.owners(peers));
    let collected = Rc::new(RefCell::new(Collected::default()));
    let probe = ProbeHandle::new();

    worker.dataflow::<u64, _, _>(|scope| {
        // Load on the worker that owns the representation (r mod peers).
        let mine: Vec<usize> = (0..job.manifest.rows.len()).filter(|r| r % peers == index).collect();
        let load_job = job.clone();
        let loaded = mine.to_stream(scope).map(move |rep| {
            let outcome = load_and_prepare(&load_job, rep);
            // with a memory budget, tile owners prepare again what they compare: keep only
            // whether each metric prepared, so the loaded zoo is never held at once
            let outcome = match (outcome, load_job.worker_memory_budget) {
                (Ok(l), Some(_)) => {
                    Ok(Loaded { prepared: l.prepared.into_iter().map(|p| p.map(|_| None)).collect(), ..l })
                }
                (other, _) => other,
            };
            (rep, outcome)
        });

        // Record this worker's load errors and model rows.
        let (sink, sink_job) = (collected.clone(), job.clone());
        let loaded = loaded.inspect(move |(rep, outcome)| {
            let row = &sink_job.manifest.rows[*rep];
            let mut c = sink.borrow_mut();
            match outcome {
                Ok(l) => {
                    c.models.push((
                        *rep,
                        ModelRow {
                            model_id: row.model_id.clone(),
                            layer: row.layer.clone(),
                            layer_index: row.layer_index,
                            uri: row.uri_text.clone(),
                            content_hash: l.hash.clone(),
                            n_samples: l.n_samples() as i64,
                            n_features: l.shape[1..].iter().product::<usize>() as i64,
                            shape: l.shape.iter().map(|s| s.to_string()).collect::<Vec<_>>().join("x"),
                            metadata: row.metadata.clone(),
                        },
                    ));
                    // A metric that cannot use this representation: one row, no pair rows.
                    if let Some((points, summary)) = &l.geometry {
                        c.geometry_points.extend(points.iter().cloned());
                        c.geometry_summaries.push((*rep, summary.clone()));
                    }
                    let names = sink_job.metrics.iter().map(|m| &m.name).chain(sink_job.paths.iter().map(|p| &p.name));
                    let failures = l.prepared.iter().map(|p| p.as_ref().err()).chain(l.path_points.iter().map(|p| p.as_ref().err()));
                    for (name, failure) in names.zip(failures) {
                        if let Some((code, message)) = failure {
                            tracing::error!(model = %row.model_id, layer = %row.layer, file = %row.uri, metric = %name, reason = code.as_str(), "{message}");
                            let mut e = error_row(&sink_job, row, *code, message.clone());
                            e.metric = Some(name.clone());
                            c.errors.push(e);
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(model = %row.model_id, layer = %row.layer, file = %row.uri, reason = e.code.as_str(), "{}", e.reason);
                    c.errors.push(error_row(&sink_job, row, e.code, e.reason.clone()));
                }
            }
        });

        // Sample counts must agree within a comparison group: worker 0 sees every count,
        // refuses the representations that disagree with the group's majority, and tells
        // every worker.
        let meta_plan = plan.clone();
        let verdicts = loaded
            .clone()
            .flat_map(|(rep, outcome)| outcome.ok().map(|l| (rep, l.n_samples())))
            .unary_frontier(Exchange::new(|_: &(usize, usize)| 0u64), "SampleCounts", move |cap, _| {
                let mut cap = Some(cap);
                let mut seen: Vec<(usize, usize)> = Vec::new();
                move |(input, frontier), output| {
                    input.for_each_stamp(|_, data| {
                        for batch in data {
                            seen.append(batch);
                        }
                    });
                    if frontier.is_empty()
                        && let Some(cap) = cap.take() {
                            let mut session = output.session(&cap);
                            let mut by_group: BTreeMap<u32, Vec<(usize, usize)>> = BTreeMap::new();
                            for &(rep, m) in &seen {
                                by_group.entry(meta_plan.slot[rep].0).or_default().push((rep, m));
                            }
                            for (group, mut members) in by_group {
                                members.sort_by_key(|&(rep, _)| meta_plan.slot[rep].1);
                                let Some(expected) = expected_samples(&members) else { continue };
                                let agree = members.iter().filter(|&&(_, m)| m == expected).count();
                                for &(rep, m) in members.iter().filter(|&&(_, m)| m != expected) {
                                    let message = format!(
                                        "has {m} samples but {agree} of {} representations in comparison group {:?} have {expected}",
                                        members.len(),
                                        meta_plan.group_name(group)
                                    );
                                    session.give((rep, message));
                                }
                            }
                        }
                }
            })
            .broadcast();

        let refused_sink = collected.clone();
        let verdicts = verdicts.inspect(move |(rep, message)| {
            refused_sink.borrow_mut().refused.insert(*rep, message.clone());
        });

        // Layer paths: each layer travels to the worker owning its model.
        if !job.paths.is_empty() {
            let (layer_job, path_job, path_sink) = (job.clone(), job.clone(), collected.clone());
            loaded
                .clone()
                .flat_map(move |(rep, outcome)| {
                    outcome.ok().map(|l| {
                        let route = model_route(&layer_job.manifest.rows[rep].model_id);
                        let usable = l.path_points.iter().map(Result::is_ok).collect();
                        (route, PathLayer { rep, hash: l.hash, usable, x: l.path_input })
                    })
                })
                .binary_frontier(
                    verdicts.clone(),
                    Exchange::new(|(route, _): &(u64, PathLayer)| *route),
                    Pipeline,
                    "Paths",
                    move |cap, _| {
                        let mut cap = Some(cap);
                        let mut models: BTreeMap<String, Vec<PathLayer>> = BTreeMap::new();
                        let mut refused: HashMap<usize, String> = HashMap::new();
                        move |(in_layers, f1), (in_verdicts, f2), output| {
                            in_layers.for_each_stamp(|_, data| {
                                for batch in data {
                                    for (_, layer) in batch.drain(..) {
                                        let model = path_job.manifest.rows[layer.rep].model_id.clone();
                                        models.entry(model).or_default().push(layer);
                                    }
                                }
                            });
                            in_verdicts.for_each_stamp(|_, data| {
                                for batch in data {
                                    refused.extend(batch.drain(..));
                                }
                            });
                            if f1.is_empty() && f2.is_empty()
                                && let Some(cap) = cap.take() {
                                    let mut c = path_sink.borrow_mut();
                                    let mut reused = 0;
                                    for (_, layers) in std::mem::take(&mut models) {
                                        let layers = layers.into_iter().filter(|l| !refused.contains_key(&l.rep)).collect();
                                        let rows = analyse_model(&path_job, layers);
                                        reused += rows.reused;
                                        c.paths.extend(rows.paths);
                                        c.path_summaries.extend(rows.summaries);
                                        c.distances.extend(rows.distances);
                                        c.errors.extend(rows.errors);
                                    }
                                    tracing::info!(worker = index, reused, "paths copied from earlier runs");
                                    output.session(&cap).give(());
                                }
                        }
                    },
                )
                .container::<Vec<()>>()
                .probe_with(&probe);
        }

        // Plan the work with differential (incremental.rs): every worker learns every
        // representation's hash and which metrics it prepared for, lists the wanted
        // (pair, metric)s of its own tiles, and differential splits them against the pairs
        // earlier runs hold into `todo` and `reuse`; each decision goes to its tile's owner.
        let (want_plan, want_job, want_owners) = (plan.clone(), job.clone(), owners.clone());
        let hashes = loaded
            .clone()
            .flat_map(|(rep, outcome)| {
                outcome.ok().map(|l| (rep, l.hash.clone(), l.prepared.iter().map(Result::is_ok).collect::<Vec<bool>>()))
            })
            .broadcast();
        let hash_control = hashes.clone().map(|(rep, hash, _)| Control::Hash(rep, hash));
        let wanted = hashes
            .unary_frontier(Pipeline, "Wanted", move |cap, _| {
                let mut cap = Some(cap);
                let mut known: HashMap<usize, (String, Vec<bool>)> = HashMap::new();
                let specs: Vec<String> = want_job.metrics.iter().map(NamedMetric::fingerprint).collect();
                move |(input, frontier), output| {
                    input.for_each_stamp(|_, data| {
                        for batch in data {
                            for (rep, hash, ok) in batch.drain(..) {
                                known.insert(rep, (hash, ok));
                            }
                        }
                    });
                    if frontier.is_empty()
                        && let Some(cap) = cap.take()
                    {
                        let time = *cap.time();
                        let mut session = output.session(&cap);
                        for tile in want_plan.tiles().filter(|t| want_owners.get(t) == Some(&(index as u64))) {
                            for (ra, rb) in want_plan.pairs_of(tile) {
                                let (Some((ha, oka)), Some((hb, okb))) = (known.get(&ra), known.get(&rb)) else {
                                    continue;
                                };
                                for (k, spec) in specs.iter().enumerate().filter(|(k, _)| oka[*k] && okb[*k]) {
                                    let w = Wanted { tile, rep_a: ra as u32, rep_b: rb as u32, metric: k as u16 };
                                    session.give(((pair_key(spec, ha, hb), w), time, 1isize));
                                }
                            }
                        }
                    }
                }
            })
            .as_collection();
        let existing: Vec<(PairKey, u64, isize)> = job
            .reusable
            .keys()
            .map(|(spec, a, b)| pair_key(spec, a, b))
            .filter(|k| k % peers as u128 == index as u128)
            .map(|k| (k, 0u64, 1isize))
            .collect();
        let existing = existing.to_stream(scope).as_collection();
        let reuse = wanted.clone().semijoin(existing);
        let todo = wanted.concat(reuse.clone().negate()).consolidate();
        let decide_owners = owners.clone();
        let decisions = {
            use timely::dataflow::operators::{Concat, Exchange as _};
            todo.inner
                .flat_map(|((_, w), _, d)| (d > 0).then_some(Control::Decide(w, Decision::Compute)))
                .concat(reuse.inner.flat_map(|((_, w), _, d)| (d > 0).then_some(Control::Decide(w, Decision::Reuse))))
                .exchange(move |c: &Control| match c {
                    Control::Decide(w, _) => decide_owners.get(&w.tile).copied().unwrap_or(0),
                    Control::Refused(..) | Control::Hash(..) => 0,
                })
                // the refusals and hashes are already on every worker
                .concat(verdicts.map(|(rep, message)| Control::Refused(rep, message)))
                .concat(hash_control)
        };

        // Ship each prepared representation once to every worker that owns a tile needing
        // it (the owner of a tile from `owners`, as the decisions are routed); a worker
        // keeps one copy per representation however many of its tiles use it.
        let (route_plan, factor_owners) = (plan.clone(), owners.clone());
        let budgeted = job.worker_memory_budget.is_some();
        let factors = loaded.flat_map(move |(rep, outcome)| {
            let mut by_worker: BTreeMap<u64, Vec<TileId>> = BTreeMap::new();
            // with a memory budget the tile owners load what they need themselves
            if outcome.is_ok() && !budgeted {
                for t in route_plan.tiles_of(rep) {
                    by_worker.entry(factor_owners.get(&t).copied().unwrap_or(0)).or_default().push(t);
                }
            }
            // tiles need only the pair metrics' factors
            let loaded = outcome.ok().map(|l| Loaded { path_points: Vec::new(), path_input: None, geometry: None, ..l });
            by_worker.into_iter().filter_map(move |(w, tiles)| loaded.clone().map(|l| (w, tiles, l)))
        });

        let (tile_plan, tile_job, tile_sink) = (plan.clone(), job.clone(), collected.clone());
        factors
            .binary_frontier(
                decisions,
                Exchange::new(|(w, _, _): &(u64, Vec<TileId>, Loaded)| *w),
                Pipeline,
                "Tiles",
                move |cap, _| {
                    let mut cap = Some(cap);
                    let mut tiles: BTreeMap<TileId, HashMap<(u32, u32, u16), Decision>> = BTreeMap::new();
                    let mut reps: HashMap<usize, Loaded> = HashMap::new();
                    let mut refused: HashMap<usize, String> = HashMap::new();
                    let mut hashes: HashMap<usize, String> = HashMap::new();
                    move |(in_factors, f1), (in_control, f2), output| {
                        in_factors.for_each_stamp(|_, data| {
                            for batch in data {
                                for (_, owned, l) in batch.drain(..) {
                                    for t in owned {
                                        tiles.entry(t).or_default();
                                    }
                                    reps.insert(l.rep, l);
                                }
                            }
                        });
                        in_control.for_each_stamp(|_, data| {
                            for batch in data {
                                for c in batch.drain(..) {
                                    match c {
                                        Control::Refused(rep, message) => {
                                            refused.insert(rep, message);
                                        }
                                        Control::Decide(w, d) => {
                                            tiles.entry(w.tile).or_default().insert((w.rep_a, w.rep_b, w.metric), d);
                                        }
                                        Control::Hash(rep, hash) => {
                                            hashes.insert(rep, hash);
                                        }
                                    }
                                }
                            }
                        });
                        if f1.is_empty() && f2.is_empty()
                            && let Some(cap) = cap.take() {
                                let mut session = output.session(&cap);
                                let tiles: Vec<(TileId, HashMap<(u32, u32, u16), Decision>)> =
                                    std::mem::take(&mut tiles).into_iter().collect();
                                let mut cache = RepCache::default();
                                for (i, (tile, decided)) in tiles.iter().enumerate() {
                                    if let Some(budget) = tile_job.worker_memory_budget {
                                        let next = tiles.get(i + 1).map(|t| &t.1);
                                        cache.prepare_for(&tile_job, decided, next, budget, &mut reps);
                                    }
                                    let ctx = TileContext { decided, hashes: &hashes, reps: &reps, refused: &refused };
                                    let started = std::time::Instant::now();
                                    compute_tile(&tile_job, &tile_plan, *tile, &ctx, &tile_sink);
                                    tile_sink.borrow_mut().pair_seconds += started.elapsed().as_secs_f64();
                                    flush_distances(index, &tile_job, &mut tile_sink.borrow_mut(), false);
                                }
                                if tile_job.worker_memory_budget.is_some() {
                                    tracing::info!(worker = index, loads = cache.loads, peak_bytes = cache.peak_bytes, "budgeted tiles done");
                                }
                                session.give(());
                            }
                    }
                },
            )
            .container::<Vec<()>>()
            .probe_with(&probe);
    });

    while !probe.done() {
        worker.step();
    }
    publish(worker.index(), &job, &mut collected.borrow_mut())
}

/// What a tile owner knows when it computes a tile.
#[derive(Clone, Copy)]
struct TileContext<'a> {
    decided: &'a HashMap<(u32, u32, u16), Decision>,
    hashes: &'a HashMap<usize, String>,
    reps: &'a HashMap<usize, Loaded>,
    refused: &'a HashMap<usize, String>,
}

/// The prepared representations a budgeted tile owner holds (`worker_memory_budget`).
#[derive(Default)]
struct RepCache {
    bytes: HashMap<usize, u64>,
    held: u64,
    peak_bytes: u64,
    loads: usize,
    warned: bool,
}

impl RepCache {
    /// Make `reps` hold every representation the tile's computed pairs need: first drop what
    /// neither this tile nor the next needs while over `budget`, then load what is missing.
    /// A tile's own needs are always loaded (the budget can only be kept when two blocks
    /// of `tile_size` fit in it).
    fn prepare_for(
        &mut self,
        job: &AllPairsJob,
        decided: &HashMap<(u32, u32, u16), Decision>,
        next: Option<&HashMap<(u32, u32, u16), Decision>>,
        budget: u64,
        reps: &mut HashMap<usize, Loaded>,
    ) {
        let needs = |d: &HashMap<(u32, u32, u16), Decision>| -> std::collections::BTreeSet<usize> {
            d.iter()
                .filter(|(_, d)| **d == Decision::Compute)
                .flat_map(|((a, b, _), _)| [*a as usize, *b as usize])
                .collect()
        };
        let now = needs(decided);
        let later = next.map(needs).unwrap_or_default();
        let incoming: u64 = now.iter().filter(|r| !reps.contains_key(r)).map(|_| self.typical()).sum();
        if self.held + incoming > budget {
            let drop: Vec<usize> = reps.keys().filter(|r| !now.contains(r) && !later.contains(r)).copied().collect();
            for r in drop {
                reps.remove(&r);
                self.held -= self.bytes.remove(&r).unwrap_or(0);
            }
        }
        if self.held + incoming > budget {
            let drop: Vec<usize> = reps.keys().filter(|r| !now.contains(r)).copied().collect();
            for r in drop {
                reps.remove(&r);
                self.held -= self.bytes.remove(&r).unwrap_or(0);
            }
        }
        for r in now {
            if reps.contains_key(&r) {
                continue;
            }
            // failures were reported by the loader; the pair is skipped here
            if let Ok(l) = load_and_prepare(job, r) {
                let l = Loaded { path_points: Vec::new(), path_input: None, geometry: None, ..l };
                let b = l.approx_bytes();
                self.bytes.insert(r, b);
                self.held += b;
                self.loads += 1;
                reps.insert(r, l);
            }
        }
        self.peak_bytes = self.peak_bytes.max(self.held);
        if self.held > budget && !self.warned {
            self.warned = true;
            tracing::warn!(
                held = self.held,
                budget,
                "one tile's representations need more than this worker's share of [execution] memory_budget; \
                 lower [execution] tile_size to keep within it"
            );
        }
    }

    /// The mean size of what is held (a first guess before anything is).
    fn typical(&self) -> u64 {
        if self.bytes.is_empty() { 0 } else { self.held / self.bytes.len() as u64 }
    }
}

/// Every pair of one tile, every metric, as the plan decided: copy the earlier row or
/// compute. A (pair, metric) without a decision has a side that failed to load or prepare
/// (its errors row is written already).
fn compute_tile(job: &AllPairsJob, plan: &Plan, tile: TileId, ctx: &TileContext, sink: &Rc<RefCell<Collected>>) {
    let TileContext { decided, hashes, reps, refused } = *ctx;
    let mut scored = score_tile(job, plan, tile, ctx);
    let mut c = sink.borrow_mut();
    // metric fingerprints once per tile, not once per pair
    let specs: Vec<String> = job.metrics.iter().map(NamedMetric::fingerprint).collect();
    let skip = |n: usize| {
        if let Some(bar) = &job.progress {
            bar.inc(n as u64);
        }
    };
    for (ra, rb) in plan.pairs_of(tile) {
        if refused.contains_key(&ra) || refused.contains_key(&rb) {
            skip(job.metrics.len());
            continue;
        }
        let (row_a, row_b) = (&job.manifest.rows[ra], &job.manifest.rows[rb]);
        for (k, metric) in job.metrics.iter().enumerate() {
            let spec = &specs[k];
            match decided.get(&(ra as u32, rb as u32, k as u16)) {
                // a side failed to load or to prepare for this metric: its errors row is written
                None => {
                    skip(1);
                    continue;
                }
                Some(Decision::Reuse) => {
                    let old = hashes
                        .get(&ra)
                        .zip(hashes.get(&rb))
                        .and_then(|(ha, hb)| job.reusable.get(&(spec.clone(), ha.clone(), hb.clone())));
                    if let Some(old) = old {
                        c.distances.push(DistanceRow {
                            metric: metric.name.clone(),
                            model_a: row_a.model_id.clone(),
                            layer_a: row_a.layer.clone(),
                            model_b: row_b.model_id.clone(),
                            layer_b: row_b.layer.clone(),
                            ..old.clone()
                        });
                        c.reused += 1;
                        skip(1);
                        continue;
                    }
                }
                Some(Decision::Compute) => {}
            }
            let (Some(a), Some(b)) = (reps.get(&ra), reps.get(&rb)) else {
                skip(1);
                continue;
            };
            if let (MetricSpec::Msa { eps }, Ok(Some(Prepared::Msa(pa))), Ok(Some(Prepared::Msa(pb))), Some(true)) =
                (&metric.spec, &a.prepared[k], &b.prepared[k], job.geometry.as_ref().map(|g| g.per_point))
                && let Ok(values) = repspace_metrics::geometry::msa_per_point(pa, pb, *eps)
            {
                for (i, d_sr) in values.into_iter().enumerate() {
                    c.msa_points.push(tables::MsaPointRow {
                        metric: metric.name.clone(),
                        model_a: row_a.model_id.clone(),
                        layer_a: row_a.layer.clone(),
                        model_b: row_b.model_id.clone(),
                        layer_b: row_b.layer.clone(),
                        point_index: i as i64,
                        d_sr,
                        run_id: job.run_id.clone(),
                    });
                }
            }
            let outcome = match (&a.prepared[k], &b.prepared[k]) {
                (Ok(Some(pa)), Ok(Some(pb))) => match scored.remove(&(ra, rb, k)) {
                    Some(result) => result.map_err(|e| e.to_string()),
                    // a reuse whose earlier row has gone is computed here
                    None => compare(&metric.spec, pa, pb).map_err(|e| e.to_string()),
                },
                _ => {
                    // A side this metric could not prepare: its errors row is written already.
                    if let Some(bar) = &job.progress {
                        bar.inc(1);
                    }
                    continue;
                }
            };
            if let Ok(score) = &outcome
                && score.held_out_ambiguous
            {
                c.ambiguous_held_out += 1;
                tracing::debug!(metric = %metric.name, model_a = %row_a.model_id, layer_a = %row_a.layer,
                        model_b = %row_b.model_id, layer_b = %row_b.layer,
                        "the fitted cross-covariance is rank deficient: distance_test depends on the SVD's null-space completion and may differ from netrep's");
            }
            if outcome.is_ok() {
                c.computed += 1;
            }
            match outcome {
                Ok(score) => c.distances.push(DistanceRow {
                    metric: metric.name.clone(),
                    metric_spec: spec.clone(),
                    model_a: row_a.model_id.clone(),
                    layer_a: row_a.layer.clone(),
                    model_b: row_b.model_id.clone(),
                    layer_b: row_b.layer.clone(),
                    distance: score.distance,
                    distance_test: score.distance_test,
                    shift_y: score.shift.map(|s| s.0),
                    shift_x: score.shift.map(|s| s.1),
                    hash_a: a.hash.clone(),
                    hash_b: b.hash.clone(),
                    run_id: job.run_id.clone(),
                }),
                Err(message) => {
                    tracing::error!(metric = %metric.name, model_a = %row_a.model_id, layer_a = %row_a.layer,
                        model_b = %row_b.model_id, layer_b = %row_b.layer, "pair failed: {message}");
                    let mut e = error_row(job, row_a, ReasonCode::PairFailed, message);
                    e.metric = Some(metric.name.clone());
                    e.model_b = Some(row_b.model_id.clone());
                    e.layer_b = Some(row_b.layer.clone());
                    c.errors.push(e);
                }
            }
            if let Some(bar) = &job.progress {
                bar.inc(1);
            }
        }
    }
}

/// Every pair of the tile the plan decided to compute, metric by metric, scored together by
/// the blocked kernels (`repspace_metrics::compare_block`): (rep_a, rep_b, metric) → score.
/// The kernel's rows are block_a's representations and its columns block_b's, the same list
/// on a diagonal tile (so it can form only one triangle).
fn score_tile(
    job: &AllPairsJob,
    plan: &Plan,
    tile: TileId,
    ctx: &TileContext,
) -> HashMap<(usize, usize, usize), Result<PairScore, MetricError>> {
    let TileContext { decided, reps, refused, .. } = *ctx;
    let mut out = HashMap::new();
    for (k, metric) in job.metrics.iter().enumerate() {
        let usable = |block: u32| -> Vec<(usize, &Prepared)> {
            plan.block_members(tile.group, block)
                .iter()
                .filter(|r| !refused.contains_key(r))
                .filter_map(|r| match reps.get(r).map(|l| &l.prepared[k]) {
                    Some(Ok(Some(p))) => Some((*r, p)),
                    _ => None,
                })
                .collect()
        };
        let row_side = usable(tile.block_a);
        let col_side = if tile.block_a == tile.block_b { row_side.clone() } else { usable(tile.block_b) };
        let mut index_pairs = Vec::new();
        for (i, &(ra, _)) in row_side.iter().enumerate() {
            for (j, &(rb, _)) in col_side.iter().enumerate() {
                // a diagonal tile holds each pair once, in the group's order
                let ordered = tile.block_a != tile.block_b || i < j;
                if ordered && decided.get(&(ra as u32, rb as u32, k as u16)) == Some(&Decision::Compute) {
                    index_pairs.push((i, j));
                }
            }
        }
        let rows: Vec<&Prepared> = row_side.iter().map(|(_, p)| *p).collect();
        let cols: Vec<&Prepared> = col_side.iter().map(|(_, p)| *p).collect();
        let scores = compare_block(&metric.spec, &rows, &cols, &index_pairs, STACK_BYTES);
        for (&(i, j), score) in index_pairs.iter().zip(scores) {
            out.insert((row_side[i].0, col_side[j].0, k), score);
        }
    }
    out
}

/// Publish the gathered `distances` rows as a part when there are `flush_rows` of them
/// (or any, when `all`).
fn flush_distances(worker: usize, job: &AllPairsJob, c: &mut Collected, all: bool) {
    let enough = c.distances.len() >= job.flush_rows.max(1) || (all && !c.distances.is_empty());
    if !enough || c.flush_error.is_some() {
        return;
    }
    let name = format!("part-{}-w{worker:04}-{:05}.parquet", job.run_id, c.flushed_parts.len());
    let result = tables::distances_batch(&c.distances)
        .and_then(|b| tables::publish_part(&job.storage, &job.output, "distances", &name, &b));
    match result {
        Ok(loc) => {
            c.flushed_parts.push(loc);
            c.flushed_rows += c.distances.len();
            c.distances.clear();
        }
        Err(e) => c.flush_error = Some(e),
    }
}

/// Publish this worker's parts: models, distances, errors (each one atomic put).
fn publish(worker: usize, job: &AllPairsJob, c: &mut Collected) -> Result<RunReport, StoreError> {
    flush_distances(worker, job, c, true);
    if let Some(e) = c.flush_error.take() {
        return Err(e);
    }
    let mut errors = c.errors.clone();
    let mut models = Vec::new();
    for (rep, m) in &c.models {
        match c.refused.get(rep) {
            Some(message) => {
                let row = &job.manifest.rows[*rep];
                tracing::error!(model = %row.model_id, layer = %row.layer, file = %row.uri, reason = "sample_count_mismatch", "{message}");
                errors.push(error_row(job, row, ReasonCode::SampleCountMismatch, message.clone()));
            }
            None => models.push(m.clone()),
        }
    }
    if worker == 0 {
        for r in &job.manifest.rejected {
            tracing::error!(model = %r.model_id, layer = %r.layer, file = %r.uri, reason = r.error.code.as_str(), "{}", r.error.reason);
            errors.push(ErrorRow {
                model_id: r.model_id.clone(),
                layer: r.layer.clone(),
                uri: Some(r.uri.clone()),
                reason: r.error.code.as_str().into(),
                message: r.error.reason.clone(),
                metric: None,
                model_b: None,
                layer_b: None,
                run_id: job.run_id.clone(),
            });
        }
    }
    let name = format!("part-{}-w{worker:04}.parquet", job.run_id);
    let meta = &job.manifest.metadata_columns;
    let mut parts = vec![
        tables::publish_part(&job.storage, &job.output, "models", &name, &tables::models_batch(&models, meta)?)?,
        tables::publish_part(&job.storage, &job.output, "errors", &name, &tables::errors_batch(&errors)?)?,
    ];
    parts.extend(c.flushed_parts.iter().cloned());
    if let Some(g) = &job.geometry {
        let summaries: Vec<_> = c
            .geometry_summaries
            .iter()
            .filter(|(rep, _)| !c.refused.contains_key(rep))
            .map(|(_, s)| s.clone())
            .collect();
        let out = &job.output;
        parts.push(tables::publish_part(
            &job.storage,
            out,
            "geometry_points",
            &name,
            &tables::geometry_points_batch(&c.geometry_points)?,
        )?);
        parts.push(tables::publish_part(
            &job.storage,
            out,
            "geometry_summary",
            &name,
            &tables::geometry_summary_batch(&summaries)?,
        )?);
        if g.per_point {
            parts.push(tables::publish_part(
                &job.storage,
                out,
                "msa_points",
                &name,
                &tables::msa_points_batch(&c.msa_points)?,
            )?);
        }
    }
    if !job.paths.is_empty() {
        parts.push(tables::publish_part(&job.storage, &job.output, "paths", &name, &tables::paths_batch(&c.paths)?)?);
        parts.push(tables::publish_part(
            &job.storage,
            &job.output,
            "path_summary",
            &name,
            &tables::path_summary_batch(&c.path_summaries)?,
        )?);
    }
    Ok(RunReport {
        representations: models.len(),
        pairs: c.flushed_rows,
        paths: c.path_summaries.len(),
        ambiguous_held_out: c.ambiguous_held_out,
        computed: c.computed,
        reused: c.reused,
        errors: errors.len(),
        parts,
        pair_seconds: c.pair_seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::expected_samples;

    #[test]
    fn majority_sample_count_wins_and_ties_go_to_the_first() {
        assert_eq!(expected_samples(&[(0, 40), (1, 30), (2, 40)]), Some(40));
        assert_eq!(expected_samples(&[(0, 30), (1, 40)]), Some(30));
        assert_eq!(expected_samples(&[]), None);
    }
}
