//! The ingest itself: each session's representations computed and written as `.npy`, then
//! the zoo's `manifest.csv`.
//!
//! Manifest columns: `model_id` (`<session_id>_<area>`), `layer` (the area, or
//! `<area>_trials` for the [conditions, r, units] tensor), `uri`, then the metadata
//! `session_id`, `area`, `n_units`, `n_conditions`, `n_repeats` (null when repeat counts
//! differ) and the subject fields any session has.

use repspace_store::npy::write_npy;
use repspace_store::{Location, Storage};

use crate::config::{IngestConfig, IngestKind};
use crate::nwb::{NwbFile, SUBJECT_FIELDS, Unit};
use crate::responses::{Design, Table, condition_means, trial_tensor, window_counts, window_samples};
use crate::{IngestError, sessions};

/// One array to write and its manifest row.
#[derive(Clone, Debug)]
pub struct Representation {
    pub model_id: String,
    pub layer: String,
    pub file: String,
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
    pub session_id: String,
    pub area: String,
    pub n_units: usize,
    pub n_conditions: usize,
    pub n_repeats: Option<usize>,
    pub subject: Vec<Option<String>>,
}

/// What an ingest did.
#[derive(Debug)]
pub struct IngestReport {
    pub manifest: Location,
    pub sessions: usize,
    pub representations: Vec<Representation>,
    /// Arrays whose bytes were already there (not rewritten).
    pub unchanged: usize,
    /// Areas skipped for having fewer than `min_units` units: (session, area, units).
    pub skipped_areas: Vec<(String, String, usize)>,
    /// Sessions that could not be ingested, each with its reason.
    pub failures: Vec<IngestError>,
}

/// Ingest every session `cfg` names (relative to `base`) into `cfg.out`.
pub fn ingest(storage: &Storage, cfg: &IngestConfig, base: &Location) -> Result<IngestReport, IngestError> {
    let files = sessions::resolve(storage, &cfg.sessions, base)?;
    let out = Location::parse(&cfg.out, Some(base))?;
    let mut reps = Vec::new();
    let mut skipped_areas = Vec::new();
    let mut failures = Vec::new();
    let mut seen: Vec<(String, Location)> = Vec::new();
    for file in &files {
        let span = tracing::info_span!("session", file = %file);
        let _guard = span.enter();
        match session(storage, file, cfg) {
            Ok(s) => {
                if let Some((_, first)) = seen.iter().find(|(id, _)| *id == s.session_id) {
                    failures.push(IngestError::session(
                        file,
                        "/general/session_id",
                        format!("session {} was already read from {first}", s.session_id),
                    ));
                    continue;
                }
                seen.push((s.session_id.clone(), file.clone()));
                skipped_areas.extend(s.skipped.into_iter().map(|(a, n)| (s.session_id.clone(), a, n)));
                reps.extend(s.representations);
            }
            Err(e) => failures.push(e),
        }
    }
    let manifest = out.join("manifest.csv")?;
    let mut unchanged = 0;
    if !reps.is_empty() {
        for r in &reps {
            let loc = out.join(&r.file)?;
            let bytes = bytes::Bytes::from(write_npy(&r.shape, &r.data, false));
            if storage.get(&loc).is_ok_and(|old| old == bytes) {
                unchanged += 1;
                continue;
            }
            storage.put(&loc, bytes)?;
        }
        storage.put(&manifest, bytes::Bytes::from(manifest_csv(&reps)))?;
    }
    Ok(IngestReport { manifest, sessions: seen.len(), representations: reps, unchanged, skipped_areas, failures })
}

/// One session's representations, and the areas it skipped.
struct Session {
    session_id: String,
    representations: Vec<Representation>,
    skipped: Vec<(String, usize)>,
}

fn session(storage: &Storage, loc: &Location, cfg: &IngestConfig) -> Result<Session, IngestError> {
    let nwb = NwbFile::open(storage, loc)?;
    let session_id = nwb.session_id()?;
    let subject = nwb.subject()?;
    let presentations = nwb.presentations(cfg)?;
    let design = Design::new(&presentations, &cfg.exclude_conditions);
    if design.conditions.is_empty() {
        return Err(IngestError::session(
            loc,
            &format!("{}/{}", cfg.stimulus_table(), cfg.condition),
            "no presentation is left after exclude_conditions",
        ));
    }
    // per area: its units' (or ROIs') responses, one row per presentation
    let areas: Vec<(String, Table)> = match cfg.kind {
        IngestKind::NwbUnits => {
            let units = nwb.units(cfg)?;
            by_area(&units)
                .into_iter()
                .map(|(area, members)| {
                    let mut per = Table::zeros(presentations.start.len(), members.len());
                    for (j, u) in members.iter().enumerate() {
                        for (i, c) in window_counts(&u.spikes, &presentations.start, cfg.window).into_iter().enumerate()
                        {
                            per.data[i * per.cols + j] = c;
                        }
                    }
                    (area, per)
                })
                .collect()
        }
        IngestKind::NwbRoiResponse => {
            let series = nwb.roi_series(cfg.series.as_deref())?;
            let mut order: Vec<usize> = (0..series.rois).collect();
            order.sort_by_key(|&j| series.roi_ids[j]);
            let mut per = Table::zeros(presentations.start.len(), series.rois);
            for i in design.used() {
                let start = presentations.start[i];
                let samples = window_samples(&series.timestamps, start, cfg.window);
                if samples.is_empty() {
                    return Err(IngestError::session(
                        loc,
                        &format!("{}/timestamps", series.path),
                        format!(
                            "no sample lies in the window of the presentation at {start} s (window [{}, {}))",
                            cfg.window[0], cfg.window[1]
                        ),
                    ));
                }
                let n = samples.len() as f64;
                let row = per.row_mut(i);
                for t in samples {
                    let sample = &series.data[t * series.rois..(t + 1) * series.rois];
                    for (acc, &j) in row.iter_mut().zip(&order) {
                        *acc += sample[j];
                    }
                }
                row.iter_mut().for_each(|v| *v /= n);
            }
            vec![(series.area.clone(), per)]
        }
    };
    let mut representations = Vec::new();
    let mut skipped = Vec::new();
    for (area, per) in areas {
        if per.cols < cfg.min_units {
            tracing::info!(session = %session_id, area, units = per.cols, "area skipped: fewer than min_units units");
            skipped.push((area, per.cols));
            continue;
        }
        let model_id = format!("{session_id}_{}", file_safe(&area));
        let means = condition_means(&per, &design);
        let trials = trial_tensor(&per, &design);
        let base = Representation {
            model_id: model_id.clone(),
            layer: area.clone(),
            file: format!("{model_id}.npy"),
            shape: vec![means.rows, means.cols],
            data: means.data,
            session_id: session_id.clone(),
            area: area.clone(),
            n_units: per.cols,
            n_conditions: design.conditions.len(),
            n_repeats: trials.as_ref().map(|(r, _)| *r),
            subject: subject.clone(),
        };
        let trials_row = trials.map(|(r, data)| Representation {
            layer: format!("{area}_trials"),
            file: format!("{model_id}_trials.npy"),
            shape: vec![base.n_conditions, r, base.n_units],
            data,
            ..base.clone()
        });
        representations.push(base);
        representations.extend(trials_row);
    }
    // areas that differ only in characters a file name cannot hold would share a file
    let mut ids: Vec<(&str, &str)> = representations.iter().map(|r| (r.model_id.as_str(), r.layer.as_str())).collect();
    ids.sort_unstable();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        return Err(IngestError::session(
            loc,
            &cfg.group_by,
            format!("two areas both become {} (rename them or group by another column)", w[0].0),
        ));
    }
    Ok(Session { session_id, representations, skipped })
}

/// Units grouped by area (areas ascending; units keep their id order).
fn by_area(units: &[Unit]) -> Vec<(String, Vec<&Unit>)> {
    let mut areas: std::collections::BTreeMap<&str, Vec<&Unit>> = Default::default();
    for u in units {
        areas.entry(u.area.as_str()).or_default().push(u);
    }
    areas.into_iter().map(|(a, us)| (a.to_string(), us)).collect()
}

/// An area name as part of a file name and model id (path separators and spaces replaced).
fn file_safe(area: &str) -> String {
    area.trim().chars().map(|c| if c.is_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect()
}

/// The manifest: header, then one row per representation.
fn manifest_csv(reps: &[Representation]) -> Vec<u8> {
    let subject_cols: Vec<usize> =
        (0..SUBJECT_FIELDS.len()).filter(|&f| reps.iter().any(|r| r.subject[f].is_some())).collect();
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<&str> =
        vec!["model_id", "layer", "uri", "session_id", "area", "n_units", "n_conditions", "n_repeats"];
    header.extend(subject_cols.iter().map(|&f| SUBJECT_FIELDS[f]));
    // writing to a Vec cannot fail
    let _ = w.write_record(&header);
    for r in reps {
        let mut rec = vec![
            r.model_id.clone(),
            r.layer.clone(),
            r.file.clone(),
            r.session_id.clone(),
            r.area.clone(),
            r.n_units.to_string(),
            r.n_conditions.to_string(),
            r.n_repeats.map(|n| n.to_string()).unwrap_or_default(),
        ];
        rec.extend(subject_cols.iter().map(|&f| r.subject[f].clone().unwrap_or_default()));
        let _ = w.write_record(&rec);
    }
    w.into_inner().unwrap_or_default()
}
