//! What an ingest reads of an NWB file (HDF5, as pynwb and the Allen SDK write it): the
//! session's id and subject, an interval table of presentations, the spike-sorted units with
//! their areas and quality metrics, and two-photon ROI response series.
//!
//! NWB tables are HDF5 groups of equal-length column datasets (`DynamicTable`) with an `id`
//! dataset; a ragged column `c` is a flat `c` plus `c_index`, the cumulative end of each row.
//!
//! Invariant: every failure names the file and the path inside it.

use hdf5_reader::Datatype;
use repspace_store::hdf5::H5File;
use repspace_store::{Location, Storage};

use crate::IngestError;
use crate::config::{ConditionValue, IngestConfig};
use crate::responses::Presentations;

/// An open NWB file.
pub struct NwbFile {
    h5: H5File,
}

/// One spike-sorted unit.
#[derive(Clone, Debug, PartialEq)]
pub struct Unit {
    pub id: i64,
    /// The unit's area (`group_by`); empty or "None" when it has none.
    pub area: String,
    /// Spike times, ascending.
    pub spikes: Vec<f64>,
}

/// A ROI response series: [time, rois] samples, their timestamps and each column's ROI id.
pub struct RoiSeries {
    pub path: String,
    pub timestamps: Vec<f64>,
    pub rois: usize,
    pub data: Vec<f64>,
    pub roi_ids: Vec<i64>,
    /// The imaging plane's location (the area).
    pub area: String,
}

/// Subject fields the manifest carries when the file has them.
pub const SUBJECT_FIELDS: [&str; 4] = ["subject_id", "genotype", "sex", "age"];

impl NwbFile {
    pub fn open(storage: &Storage, loc: &Location) -> Result<NwbFile, IngestError> {
        let h5 = H5File::open(storage, loc).map_err(|e| {
            let prefix = format!("{loc}: ");
            IngestError::session(loc, "/", e.reason.strip_prefix(&prefix).unwrap_or(&e.reason))
        })?;
        Ok(NwbFile { h5 })
    }

    pub fn location(&self) -> &Location {
        &self.h5.loc
    }

    fn err(&self, path: &str, reason: impl Into<String>) -> IngestError {
        IngestError::session(&self.h5.loc, path, reason)
    }

    fn strings(&self, path: &str) -> Result<Vec<String>, IngestError> {
        self.h5.read_strings(path).map_err(|e| self.err(path, e.reason))
    }

    fn numbers(&self, path: &str) -> Result<Vec<f64>, IngestError> {
        self.h5.read_f64(path).map(|a| a.data).map_err(|e| self.err(path, e.reason))
    }

    fn integers(&self, path: &str) -> Result<Vec<i64>, IngestError> {
        self.h5.read_i64(path).map_err(|e| self.err(path, e.reason))
    }

    fn has(&self, path: &str) -> bool {
        self.h5.has(path)
    }

    fn scalar_string(&self, path: &str) -> Result<Option<String>, IngestError> {
        if !self.has(path) {
            return Ok(None);
        }
        Ok(self.strings(path)?.into_iter().next())
    }

    /// The session id: `/general/session_id` (Allen sets it equal to `identifier`), else
    /// `/identifier`.
    pub fn session_id(&self) -> Result<String, IngestError> {
        let id = match self.scalar_string("/general/session_id")? {
            Some(id) if !id.trim().is_empty() => id,
            _ => self.scalar_string("/identifier")?.ok_or_else(|| {
                self.err("/general/session_id", "the file has neither a session_id nor an identifier")
            })?,
        };
        let id = id.trim().to_string();
        if id.is_empty() || id.contains(['/', '\\', ',', '\n']) {
            return Err(self.err("/general/session_id", format!("{id:?} cannot name files")));
        }
        Ok(id)
    }

    /// The subject fields the file has, in [`SUBJECT_FIELDS`] order.
    pub fn subject(&self) -> Result<Vec<Option<String>>, IngestError> {
        SUBJECT_FIELDS.iter().map(|f| self.scalar_string(&format!("/general/subject/{f}"))).collect()
    }

    /// The presentations of `intervals/<stimulus>_presentations`, by `condition`.
    pub fn presentations(&self, cfg: &IngestConfig) -> Result<Presentations, IngestError> {
        let table = cfg.stimulus_table();
        if !self.has(&table) {
            let known = self.h5.member_names("/intervals");
            return Err(
                self.err(&table, format!("the file has no stimulus table {table:?} (its interval tables: {known:?})"))
            );
        }
        let start = self.numbers(&format!("{table}/start_time"))?;
        let column = format!("{table}/{}", cfg.condition);
        let ds = self.h5.dataset(&column).map_err(|e| self.err(&column, e.reason))?;
        let condition: Vec<ConditionValue> = match ds.dtype() {
            Datatype::String { .. } | Datatype::VarLen { .. } => {
                self.strings(&column)?.into_iter().map(ConditionValue::Text).collect()
            }
            _ => self.numbers(&column)?.into_iter().map(ConditionValue::Number).collect(),
        };
        if condition.len() != start.len() {
            return Err(self.err(&column, format!("has {} rows but start_time has {}", condition.len(), start.len())));
        }
        if let Some(i) = start.iter().position(|s| !s.is_finite()) {
            return Err(self.err(&format!("{table}/start_time"), format!("row {i} is not a finite time")));
        }
        if let Some(i) = condition.iter().position(|c| matches!(c, ConditionValue::Number(x) if x.is_nan())) {
            return Err(self.err(&column, format!("row {i} is NaN")));
        }
        Ok(Presentations::new(start, condition))
    }

    /// A ragged column's rows: the flat values split at the cumulative ends of `<col>_index`.
    fn ragged(&self, column: &str, rows: usize) -> Result<Vec<Vec<f64>>, IngestError> {
        let flat = self.numbers(column)?;
        let index_path = format!("{column}_index");
        let ends = self.integers(&index_path)?;
        if ends.len() != rows {
            return Err(self.err(&index_path, format!("has {} rows, the table has {rows}", ends.len())));
        }
        let mut out = Vec::with_capacity(rows);
        let mut begin = 0usize;
        for (i, &end) in ends.iter().enumerate() {
            let end = usize::try_from(end).ok().filter(|&e| e >= begin && e <= flat.len()).ok_or_else(|| {
                self.err(&index_path, format!("row {i} ends at {end}, outside {begin}..={}", flat.len()))
            })?;
            out.push(flat[begin..end].to_vec());
            begin = end;
        }
        Ok(out)
    }

    /// The units that pass the quality filters, with their areas, sorted by unit id.
    pub fn units(&self, cfg: &IngestConfig) -> Result<Vec<Unit>, IngestError> {
        let ids = self.integers("/units/id")?;
        let n = ids.len();
        let mut spikes = self.ragged("/units/spike_times", n)?;
        for (i, s) in spikes.iter_mut().enumerate() {
            if let Some(j) = s.iter().position(|t| !t.is_finite()) {
                return Err(self.err("/units/spike_times", format!("unit {} has a non-finite time at {j}", ids[i])));
            }
            if !s.is_sorted() {
                s.sort_by(f64::total_cmp);
            }
        }
        let areas = self.unit_areas(cfg, n)?;
        let mut keep = vec![true; n];
        if self.has("/units/quality") {
            let quality = self.column_strings("/units/quality", n)?;
            keep.iter_mut().zip(&quality).for_each(|(k, q)| *k &= q == "good");
        }
        let f = &cfg.unit_filter;
        for (name, bound, is_max) in [
            ("isi_violations", f.isi_violations_max, true),
            ("amplitude_cutoff", f.amplitude_cutoff_max, true),
            ("presence_ratio", f.presence_ratio_min, false),
        ] {
            let Some(bound) = bound else { continue };
            let path = format!("/units/{name}");
            if !self.has(&path) {
                tracing::warn!(file = %self.h5.loc, "the units table has no {name} column; that filter is not applied");
                continue;
            }
            let values = self.column_numbers(&path, n)?;
            // NaN fails both comparisons: a unit without the metric is dropped
            keep.iter_mut().zip(&values).for_each(|(k, &v)| *k &= if is_max { v <= bound } else { v >= bound });
        }
        let mut units: Vec<Unit> = (0..n)
            .filter(|&i| keep[i] && !is_no_area(&areas[i]))
            .map(|i| Unit { id: ids[i], area: areas[i].clone(), spikes: std::mem::take(&mut spikes[i]) })
            .collect();
        units.sort_by_key(|u| u.id);
        if let Some(w) = units.windows(2).find(|w| w[0].id == w[1].id) {
            return Err(self.err("/units/id", format!("unit id {} appears twice", w[0].id)));
        }
        Ok(units)
    }

    fn column_strings(&self, path: &str, rows: usize) -> Result<Vec<String>, IngestError> {
        let v = self.strings(path)?;
        if v.len() != rows {
            return Err(self.err(path, format!("has {} rows, the table has {rows}", v.len())));
        }
        Ok(v)
    }

    fn column_numbers(&self, path: &str, rows: usize) -> Result<Vec<f64>, IngestError> {
        let v = self.numbers(path)?;
        if v.len() != rows {
            return Err(self.err(path, format!("has {} rows, the table has {rows}", v.len())));
        }
        Ok(v)
    }

    /// Each unit's area: the units table's own `group_by` column, else the electrodes row
    /// whose id is the unit's `peak_channel_id`.
    fn unit_areas(&self, cfg: &IngestConfig, n: usize) -> Result<Vec<String>, IngestError> {
        let own = format!("/units/{}", cfg.group_by);
        if self.has(&own) {
            return Ok(self.column_strings(&own, n)?.into_iter().map(|a| a.trim().to_string()).collect());
        }
        let electrodes = "/general/extracellular_ephys/electrodes";
        let column = format!("{electrodes}/{}", cfg.group_by);
        if !self.has(&column) {
            return Err(self.err(
                &column,
                format!("neither the units nor the electrodes table has a {:?} column to group units by", cfg.group_by),
            ));
        }
        let electrode_ids = self.integers(&format!("{electrodes}/id"))?;
        let values = self.column_strings(&column, electrode_ids.len())?;
        let by_id: std::collections::HashMap<i64, &String> = electrode_ids.iter().copied().zip(&values).collect();
        if !self.has("/units/peak_channel_id") {
            return Err(self.err(
                "/units/peak_channel_id",
                "the units table has no peak_channel_id column to find each unit's electrode",
            ));
        }
        let peaks = self.integers("/units/peak_channel_id")?;
        if peaks.len() != n {
            return Err(self.err("/units/peak_channel_id", format!("has {} rows, the table has {n}", peaks.len())));
        }
        peaks
            .iter()
            .map(|p| {
                by_id.get(p).map(|s| s.trim().to_string()).ok_or_else(|| {
                    self.err("/units/peak_channel_id", format!("channel {p} is not in the electrodes table"))
                })
            })
            .collect()
    }

    /// The ROI response series at `path`, or the first under `processing/ophys/DfOverF`.
    pub fn roi_series(&self, path: Option<&str>) -> Result<RoiSeries, IngestError> {
        let path = match path {
            Some(p) => format!("/{}", p.trim_start_matches('/')),
            None => {
                let parent = "/processing/ophys/DfOverF";
                let first = self
                    .h5
                    .member_names(parent)
                    .into_iter()
                    .find(|n| self.has(&format!("{parent}/{n}/data")))
                    .ok_or_else(|| self.err(parent, "holds no RoiResponseSeries"))?;
                format!("{parent}/{first}")
            }
        };
        let data_path = format!("{path}/data");
        let data = self.h5.read_f64(&data_path).map_err(|e| self.err(&data_path, e.reason))?;
        let (time, rois) = match data.shape.as_slice() {
            [t, r] => (*t, *r),
            [t] => (*t, 1),
            other => return Err(self.err(&data_path, format!("expected [time, rois], got shape {other:?}"))),
        };
        let timestamps = self.series_timestamps(&path, time)?;
        let region = self.integers(&format!("{path}/rois"))?;
        if region.len() != rois {
            return Err(self.err(&format!("{path}/rois"), format!("names {} ROIs, data has {rois}", region.len())));
        }
        let segmentation = self.roi_table(&path)?;
        let table_ids = self.integers(&format!("{segmentation}/id"))?;
        let roi_ids = region
            .iter()
            .map(|&r| {
                usize::try_from(r).ok().and_then(|r| table_ids.get(r).copied()).ok_or_else(|| {
                    self.err(
                        &format!("{path}/rois"),
                        format!("row {r} is outside {segmentation} ({} rows)", table_ids.len()),
                    )
                })
            })
            .collect::<Result<Vec<i64>, _>>()?;
        let area = self.imaging_plane_location(&segmentation)?;
        Ok(RoiSeries { path, timestamps, rois, data: data.data, roi_ids, area })
    }

    fn series_timestamps(&self, path: &str, time: usize) -> Result<Vec<f64>, IngestError> {
        let ts_path = format!("{path}/timestamps");
        let timestamps = if self.has(&ts_path) {
            self.numbers(&ts_path)?
        } else {
            let rate_path = format!("{path}/starting_time");
            if !self.has(&rate_path) {
                return Err(self.err(path, "has neither timestamps nor starting_time with a rate"));
            }
            let start = self.numbers(&rate_path)?.first().copied().unwrap_or(0.0);
            let rate = self
                .h5
                .dataset(&rate_path)
                .ok()
                .and_then(|d| d.attribute("rate").ok())
                .and_then(|a| a.read_scalar::<f64>().ok())
                .ok_or_else(|| self.err(path, "has neither timestamps nor starting_time with a rate"))?;
            (0..time).map(|k| start + k as f64 / rate).collect()
        };
        if timestamps.len() != time {
            return Err(self.err(&ts_path, format!("has {} samples, data has {time}", timestamps.len())));
        }
        if !timestamps.is_sorted() || timestamps.iter().any(|t| !t.is_finite()) {
            return Err(self.err(&ts_path, "timestamps must be finite and ascending"));
        }
        Ok(timestamps)
    }

    /// The PlaneSegmentation holding the series' ROIs: the only one under ImageSegmentation.
    /// A file with several (multi-plane sessions) is refused rather than guessed at.
    fn roi_table(&self, series: &str) -> Result<String, IngestError> {
        let parent = "/processing/ophys/ImageSegmentation";
        let tables: Vec<String> = self
            .h5
            .member_names(parent)
            .into_iter()
            .map(|n| format!("{parent}/{n}"))
            .filter(|p| self.has(&format!("{p}/id")))
            .collect();
        match tables.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(self.err(&format!("{series}/rois"), "no PlaneSegmentation table holds the ROIs")),
            many => Err(self.err(
                parent,
                format!("{} PlaneSegmentation tables ({many:?}); multi-plane files are not read yet", many.len()),
            )),
        }
    }

    /// The location of the imaging plane (the only one).
    fn imaging_plane_location(&self, segmentation: &str) -> Result<String, IngestError> {
        let parent = "/general/optophysiology";
        let planes: Vec<String> =
            self.h5.member_names(parent).into_iter().filter(|n| self.has(&format!("{parent}/{n}/location"))).collect();
        match planes.as_slice() {
            [one] => {
                Ok(self.scalar_string(&format!("{parent}/{one}/location"))?.unwrap_or_default().trim().to_string())
            }
            [] => Err(self.err(parent, format!("no imaging plane has a location (for {segmentation})"))),
            many => Err(self
                .err(parent, format!("{} imaging planes ({many:?}); multi-plane files are not read yet", many.len()))),
        }
    }
}

/// Allen marks channels outside the brain or unassigned as "" or "None".
pub fn is_no_area(area: &str) -> bool {
    let a = area.trim();
    a.is_empty() || a == "None"
}
