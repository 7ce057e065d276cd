//! The load stage: each representation is loaded by the worker `r mod W`, validated
//! (finite values, held-out shape), hashed, and prepared once for every metric of the job.
//! A network given by weights is built and evaluated on `[geometry]`'s points here.
//!
//! Invariant: a `Prepared` value is computed once per representation and metric here (or
//! again by a budgeted tile owner, `rep_cache`), never per pair; failures become values
//! (`LoadError`, or a reason per metric), never a stopped run.

use std::sync::Arc;

use repspace_metrics::{MetricError, MetricSpec, Prepared, Tensor, prepare_with_precision};
use repspace_store::Location;
use repspace_store::hash::content_hash;
use repspace_store::load::{Format, parse_array, read_array};
use repspace_store::storage::GetError;
use repspace_store::tables::{GeometryPointRow, GeometrySummaryRow};
use repspace_store::{LoadError, ReasonCode};
use serde::{Deserialize, Serialize};
use timely::dataflow::operators::vec::{Map, ToStream};
use timely::dataflow::{Scope, StreamVec};

use crate::job::{AllPairsJob, Cached, layer_points};

/// A representation's load outcome, by manifest row.
pub(crate) type LoadOutcome = (usize, Result<Loaded, LoadError>);

/// Load and prepare this worker's share of the manifest ([`share`]). With a memory budget the
/// factors are dropped after preparing (the tile owners prepare again what they compare), so
/// the loaded zoo is never held at once.
pub(crate) fn load<'s>(
    scope: Scope<'s, u64>,
    job: Arc<AllPairsJob>,
    index: usize,
    peers: usize,
) -> StreamVec<'s, u64, LoadOutcome> {
    let has_weights: Vec<bool> = job.manifest.rows.iter().map(|r| r.weights_uri.is_some()).collect();
    let mine = share(&has_weights, index, peers);
    let batches: Vec<Vec<usize>> = mine.chunks(READ_BATCH).map(<[usize]>::to_vec).collect();
    batches.to_stream(scope).flat_map(move |batch| {
        // the activation files of a batch are read together (overlapping their latency)
        let with_activations: Vec<usize> = batch
            .iter()
            .copied()
            .filter(|&r| {
                let row = &job.manifest.rows[r];
                row.activations && job.cached[r].is_none() && Format::of(&row.uri).reads_whole_object()
            })
            .collect();
        let locs: Vec<Location> = with_activations.iter().map(|&r| job.manifest.rows[r].uri.clone()).collect();
        let mut fetched = with_activations.into_iter().zip(job.storage.get_many(&locs, READ_CONCURRENCY));
        let mut next = fetched.next();
        let reads: Vec<Option<Result<bytes::Bytes, GetError>>> = batch
            .iter()
            .map(|&r| match next.take() {
                Some((rep, read)) if rep == r => {
                    next = fetched.next();
                    Some(read)
                }
                other => {
                    next = other;
                    None
                }
            })
            .collect();
        let job = job.clone();
        batch.into_iter().zip(reads).map(move |(rep, read)| {
            if let Some(cached) = &job.cached[rep] {
                return (rep, Ok(Loaded::from_cache(&job, rep, cached)));
            }
            let outcome = match (load_and_prepare_read(&job, rep, read), job.worker_memory_budget) {
                (Ok(l), Some(_)) => Ok(l.outcomes_only()),
                (other, _) => other,
            };
            (rep, outcome)
        })
    })
}

/// The manifest rows worker `index` of `peers` loads: the rows given by weights (networks,
/// whose geometry costs far more than reading an array) dealt round-robin among themselves,
/// the other rows likewise. Dealing all rows together would follow the manifest's layout: a
/// zoo listing each model's layers then its network row puts every network on the same
/// parity when models have an odd number of rows (the demo zoo: 72 networks on one worker of
/// two, 36 on the other).
fn share(has_weights: &[bool], index: usize, peers: usize) -> Vec<usize> {
    let mut seen = [0usize; 2];
    has_weights
        .iter()
        .enumerate()
        .filter(|&(_, &weights)| {
            let kind = &mut seen[usize::from(weights)];
            *kind += 1;
            (*kind - 1) % peers == index
        })
        .map(|(r, _)| r)
        .collect()
}

/// Representations a loader reads together, and how many reads it overlaps.
const READ_BATCH: usize = 64;
const READ_CONCURRENCY: usize = 16;

/// A loaded and prepared representation, as it travels to tile owners.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Loaded {
    pub rep: usize,
    pub hash: String,
    pub shape: Vec<usize>,
    /// One entry per metric of the job, in order; a failure names its reason code.
    /// `Ok(None)`: prepared, then dropped (a budgeted loader keeps only the outcome).
    pub prepared: Vec<Result<Option<Prepared>, (ReasonCode, String)>>,
    /// One entry per path metric of the job: whether the layer can be a point of it. The
    /// points themselves (an m × m Gram matrix for CKA paths) are built again by the
    /// model's owner, one model at a time, so they never all live at once.
    pub path_points: Vec<Result<(), (ReasonCode, String)>>,
    /// The layer's activations, for the model's owner (only when the job has paths).
    pub path_input: Option<Tensor>,
    /// A network's geometry rows (networks given by weights, with `[geometry]`).
    pub geometry: Option<(Vec<GeometryPointRow>, GeometrySummaryRow)>,
}

impl Loaded {
    /// An estimate of the memory it takes: the array, and what each metric it was prepared
    /// for keeps ([`repspace_metrics::MetricSpec::prepared_bytes`]).
    pub fn approx_bytes(&self, metrics: &[crate::job::NamedMetric]) -> u64 {
        let array = self.shape.iter().product::<usize>() as u64 * 8;
        let prepared: u64 = metrics
            .iter()
            .zip(&self.prepared)
            .filter(|(_, p)| matches!(p, Ok(Some(_))))
            .map(|(m, _)| m.spec.prepared_bytes(&self.shape))
            .sum();
        array.saturating_add(prepared)
    }

    pub fn n_samples(&self) -> usize {
        self.shape.first().copied().unwrap_or(0)
    }

    /// Keep whether each metric prepared, not the factors (`Ok(None)`).
    pub fn outcomes_only(self) -> Loaded {
        Loaded { prepared: self.prepared.into_iter().map(|p| p.map(|_| None)).collect(), ..self }
    }

    /// A representation an earlier run read from its unchanged file: hash and shape, every
    /// metric prepared (it did then) but no factor held (`Ok(None)`).
    pub fn from_cache(job: &AllPairsJob, rep: usize, cached: &Cached) -> Loaded {
        Loaded {
            rep,
            hash: cached.hash.clone(),
            shape: cached.shape.clone(),
            prepared: job.metrics.iter().map(|_| Ok(None)).collect(),
            path_points: Vec::new(),
            path_input: None,
            geometry: None,
        }
    }

    /// Whether every metric's factor is held (or failed): nothing to prepare again.
    pub fn has_factors(&self) -> bool {
        self.prepared.iter().all(|p| !matches!(p, Ok(None)))
    }

    /// Only what the tiles need: the pair metrics' factors (no path input or geometry).
    pub fn for_tiles(self) -> Loaded {
        Loaded { path_points: Vec::new(), path_input: None, geometry: None, ..self }
    }
}

/// Load, validate, hash and prepare one representation for every metric. The array's
/// rank is checked per metric (a [conditions, repeats, units] array suits the stochastic
/// metrics and no others); held-out rows must have the training rows' trailing shape.
pub(crate) fn load_and_prepare(job: &AllPairsJob, rep: usize) -> Result<Loaded, LoadError> {
    load_and_prepare_read(job, rep, None)
}

/// [`load_and_prepare`], with the activation file already read when `read` is given.
fn load_and_prepare_read(
    job: &AllPairsJob,
    rep: usize,
    read: Option<Result<bytes::Bytes, GetError>>,
) -> Result<Loaded, LoadError> {
    let row = &job.manifest.rows[rep];
    // a network given by weights: its geometry, and its pullback metrics for MSA
    let (network, geometry) = match &row.weights_uri {
        Some(_) => {
            let mlp = crate::geometry::load_network(&job.storage, row)?;
            let evaluated = match &job.geometry {
                Some(g) => {
                    let msa = job.metrics.iter().any(|m| matches!(m.spec, MetricSpec::Msa { .. }));
                    Some(crate::geometry::evaluate_network(g, &mlp, row, job.run_id.as_str(), msa)?)
                }
                None => None,
            };
            (true, evaluated)
        }
        None => (false, None),
    };
    let activations = if row.activations {
        let train = match read {
            Some(read) => parse_array(read, &row.uri, row.key.as_deref())?,
            None => read_array(&job.storage, &row.uri, row.key.as_deref())?,
        };
        let test = match &row.test_uri {
            Some(loc) => Some(read_array(&job.storage, loc, row.test_key.as_deref().or(row.key.as_deref()))?),
            None => None,
        };
        train.check_finite()?;
        if train.shape.len() < 2 {
            return Err(LoadError::new(
                ReasonCode::WrongRank,
                format!(
                    "{}{}: expected at least a 2-D array [samples, ...], got shape {:?}",
                    row.uri,
                    row.key.as_deref().map(|k| format!("[{k}]")).unwrap_or_default(),
                    train.shape
                ),
            ));
        }
        if let Some(reason) = train.degeneracy() {
            return Err(LoadError::new(ReasonCode::Degenerate, format!("{}: {reason}", row.uri)));
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

#[cfg(test)]
mod tests {
    use super::share;

    #[test]
    fn shares_deal_networks_and_arrays_evenly_and_cover_every_row_once() {
        // each model: three activation rows, then its network row
        let rows: Vec<bool> = (0..40).map(|r| r % 4 == 3).collect();
        for peers in [1, 2, 3, 5] {
            let shares: Vec<Vec<usize>> = (0..peers).map(|w| share(&rows, w, peers)).collect();
            let mut all: Vec<usize> = shares.concat();
            all.sort_unstable();
            assert_eq!(all, (0..rows.len()).collect::<Vec<_>>(), "{peers} workers: every row once");
            for kind in [true, false] {
                let counts: Vec<usize> =
                    shares.iter().map(|s| s.iter().filter(|&&r| rows[r] == kind).count()).collect();
                let (lo, hi) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
                assert!(hi - lo <= 1, "{peers} workers, networks = {kind}: {counts:?}");
            }
        }
    }
}
