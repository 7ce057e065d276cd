//! The worker's sink and its parts. Every stage of a worker adds rows to one [`Collected`].
//! A computed tile's rows are published at once as tile parts named by the tile's identity
//! (a killed run's finished tiles survive for the rerun to keep); the within-model path
//! rows of `distances` whenever `flush_rows` have gathered; everything else when the
//! dataflow is done. Each part is one atomic put.
//!
//! Invariant: a worker publishes only rows it produced, under names that carry the run id
//! and the worker's index (`repspace_store::output::PartName`) or the tile's identity, so
//! parts of the workers of every process never collide.

use std::collections::HashMap;

use repspace_store::tables::{
    DistanceRow, ErrorRow, GeometryPointRow, GeometrySummaryRow, ModelRow, MsaPointRow, PathRow, PathSummaryRow,
};
use repspace_store::{Location, PartName, ReasonCode, StoreError, TilePart, Writer};

use crate::incremental::TileKey;
use crate::job::AllPairsJob;
use crate::load::LoadOutcome;
use crate::report::{RepRecord, RunReport, WorkerReport};

/// The rows of one tile and metric.
#[derive(Default)]
pub(crate) struct TileRows {
    pub distances: Vec<DistanceRow>,
    pub errors: Vec<ErrorRow>,
    pub msa_points: Vec<MsaPointRow>,
    /// Pairs scored by the kernel, copied from a duplicate, copied from an earlier row.
    pub computed: usize,
    pub deduplicated: usize,
    pub reused: usize,
    pub test_underdetermined: usize,
}

/// Rows a worker publishes when the dataflow is done.
#[derive(Default)]
pub(crate) struct Collected {
    pub models: Vec<(usize, ModelRow)>,
    pub distances: Vec<DistanceRow>,
    pub paths: Vec<PathRow>,
    pub path_summaries: Vec<PathSummaryRow>,
    pub geometry_points: Vec<GeometryPointRow>,
    pub geometry_summaries: Vec<(usize, GeometrySummaryRow)>,
    pub msa_points: Vec<MsaPointRow>,
    pub errors: Vec<ErrorRow>,
    /// Pairs whose held-out score depends on the SVD's null-space completion.
    pub test_underdetermined: usize,
    pub computed: usize,
    pub reused: usize,
    /// Pairs copied from an equal-content pair scored in this run.
    pub deduplicated: usize,
    /// Pairs of tiles whose parts the output holds already, and those tiles' identities.
    pub kept_pairs: usize,
    pub kept_tiles: Vec<TileKey>,
    /// Identities of the tiles this worker computed, the parts it published for them, their
    /// rows and pair errors.
    pub computed_tiles: Vec<TileKey>,
    pub tile_parts: Vec<Location>,
    pub tile_rows: usize,
    pub tile_errors: usize,
    /// Seconds spent in the tiles.
    pub pair_seconds: f64,
    /// Distances parts already published by this worker, their row count, and the first
    /// publishing error (reported when the dataflow ends).
    pub flushed_parts: Vec<Location>,
    pub flushed_rows: usize,
    pub flush_error: Option<StoreError>,
    /// Representations refused by the group sample-count check: rep → message.
    pub refused: HashMap<usize, String>,
    /// What was read of each loaded representation, for the registry.
    pub records: Vec<RepRecord>,
}

impl Collected {
    /// Record one load outcome: its `models` row, geometry rows, and an `errors` row per
    /// failure (the whole representation, or one metric or path that cannot use it).
    pub fn record_load(&mut self, job: &AllPairsJob, (rep, outcome): &LoadOutcome) {
        let row = &job.manifest.rows[*rep];
        let l = match outcome {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(model = %row.model_id, layer = %row.layer, file = %row.uri, reason = e.code.as_str(), "{}", e.reason);
                self.errors.push(job.error_row(row, e.code, e.reason.clone()));
                return;
            }
        };
        self.records.push((*rep, l.hash.clone(), l.shape.clone(), l.prepared.iter().map(Result::is_ok).collect()));
        self.models.push((
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
        if let Some((points, summary)) = &l.geometry {
            self.geometry_points.extend(points.iter().cloned());
            self.geometry_summaries.push((*rep, summary.clone()));
        }
        // A metric that cannot use this representation: one row, no pair rows.
        let names = job.metrics.iter().map(|m| &m.name).chain(job.paths.iter().map(|p| &p.name));
        let failures =
            l.prepared.iter().map(|p| p.as_ref().err()).chain(l.path_points.iter().map(|p| p.as_ref().err()));
        for (name, failure) in names.zip(failures) {
            if let Some((code, message)) = failure {
                tracing::error!(model = %row.model_id, layer = %row.layer, file = %row.uri, metric = %name, reason = code.as_str(), "{message}");
                let mut e = job.error_row(row, *code, message.clone());
                e.metric = Some(name.clone());
                self.errors.push(e);
            }
        }
    }

    /// Publish one computed tile's rows: its `distances` part (even when empty: the identity
    /// is then known to hold no rows), and its `errors` and `msa_points` parts when it has
    /// such rows.
    pub fn publish_tile(&mut self, job: &AllPairsJob, tile: &TilePart, rows: TileRows) {
        if self.flush_error.is_some() {
            return;
        }
        let out = &job.output;
        let mut publish = || -> Result<(), StoreError> {
            if !rows.errors.is_empty() {
                self.tile_parts.push(out.publish_tile_rows(tile, &rows.errors)?);
            }
            if !rows.msa_points.is_empty() {
                self.tile_parts.push(out.publish_tile_rows(tile, &rows.msa_points)?);
            }
            // the distances part last: its presence marks the tile as done
            self.tile_parts.push(out.publish_tile_rows(tile, &rows.distances)?);
            Ok(())
        };
        match publish() {
            Ok(()) => {
                self.computed += rows.computed;
                self.reused += rows.reused;
                self.deduplicated += rows.deduplicated;
                self.test_underdetermined += rows.test_underdetermined;
                self.tile_rows += rows.distances.len();
                self.tile_errors += rows.errors.len();
                self.computed_tiles.push(tile.key);
            }
            Err(e) => self.flush_error = Some(e),
        }
    }

    /// Publish the gathered `distances` rows as a part when there are `flush_rows` of them
    /// (or any, when `all`).
    pub fn flush_distances(&mut self, worker: usize, job: &AllPairsJob, all: bool) {
        let enough = self.distances.len() >= job.flush_rows.max(1) || (all && !self.distances.is_empty());
        if !enough || self.flush_error.is_some() {
            return;
        }
        let name = PartName::new(&job.run_id, Writer::Flush(worker as u32, self.flushed_parts.len() as u32));
        match job.output.publish_rows(&name, &self.distances) {
            Ok(loc) => {
                self.flushed_parts.push(loc);
                self.flushed_rows += self.distances.len();
                self.distances.clear();
            }
            Err(e) => self.flush_error = Some(e),
        }
    }

    /// Publish this worker's parts of every table the job writes (each one atomic put).
    pub fn publish(&mut self, worker: usize, job: &AllPairsJob) -> Result<WorkerReport, StoreError> {
        self.flush_distances(worker, job, true);
        if let Some(e) = self.flush_error.take() {
            return Err(e);
        }
        let mut errors = self.errors.clone();
        let mut models = Vec::new();
        for (rep, m) in &self.models {
            match self.refused.get(rep) {
                Some(message) => {
                    let row = &job.manifest.rows[*rep];
                    tracing::error!(model = %row.model_id, layer = %row.layer, file = %row.uri, reason = "sample_count_mismatch", "{message}");
                    errors.push(job.error_row(row, ReasonCode::SampleCountMismatch, message.clone()));
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
                    run_id: job.run_id.to_string(),
                });
            }
        }
        let name = PartName::new(&job.run_id, Writer::Worker(worker as u32));
        let out = &job.output;
        let mut parts = vec![
            out.publish_rows_with(&name, &models, &job.manifest.metadata_columns)?,
            out.publish_rows(&name, &errors)?,
        ];
        parts.extend(self.flushed_parts.iter().cloned());
        parts.extend(self.tile_parts.iter().cloned());
        if let Some(g) = &job.geometry {
            let summaries: Vec<_> = self
                .geometry_summaries
                .iter()
                .filter(|(rep, _)| !self.refused.contains_key(rep))
                .map(|(_, s)| s.clone())
                .collect();
            parts.push(out.publish_rows(&name, &self.geometry_points)?);
            parts.push(out.publish_rows(&name, &summaries)?);
            if g.per_point {
                parts.push(out.publish_rows(&name, &self.msa_points)?);
            }
        }
        if !job.paths.is_empty() {
            parts.push(out.publish_rows(&name, &self.paths)?);
            parts.push(out.publish_rows(&name, &self.path_summaries)?);
        }
        let wanted = self.kept_tiles.iter().chain(&self.computed_tiles).copied().collect();
        let records = std::mem::take(&mut self.records);
        Ok((
            RunReport {
                representations: models.len(),
                unread: 0,
                pairs: self.flushed_rows + self.tile_rows + self.kept_pairs,
                paths: self.path_summaries.len(),
                test_underdetermined: self.test_underdetermined,
                computed: self.computed,
                reused: self.reused + self.kept_pairs,
                deduplicated: self.deduplicated,
                computed_tiles: self.computed_tiles.len(),
                kept_tiles: self.kept_tiles.len(),
                errors: errors.len() + self.tile_errors,
                parts,
                removed: Vec::new(),
                pair_seconds: self.pair_seconds,
            },
            wanted,
            records,
        ))
    }
}
