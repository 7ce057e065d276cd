//! The `[ingest]` table of an ingest config (keys validated: an unknown key is an error).

use serde::Deserialize;

use crate::IngestError;

/// A whole ingest config file: one `[ingest]` table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestFile {
    pub ingest: IngestConfig,
}

/// What a recording yields per presentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IngestKind {
    /// Spike-sorted units (`/units`): the spike count in each presentation's window.
    NwbUnits,
    /// A two-photon `RoiResponseSeries` (e.g. DfOverF): the mean of its samples in the window.
    NwbRoiResponse,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    pub kind: IngestKind,
    /// Session files: paths, globs (`sessions/*.nwb`) or URLs, relative to the config.
    pub sessions: Vec<String>,
    /// Where the zoo is written (its `manifest.csv` and one `.npy` per representation).
    pub out: String,
    /// The interval table `intervals/<stimulus>_presentations`.
    pub stimulus: String,
    /// The interval table's column that names the condition.
    #[serde(default = "default_condition")]
    pub condition: String,
    /// [w0, w1): seconds after each presentation's `start_time`.
    pub window: [f64; 2],
    /// Condition values left out (numbers or strings), e.g. Allen's blank frame -1.
    #[serde(default)]
    pub exclude_conditions: Vec<ConditionValue>,
    /// Units: the column naming a unit's area (the units table's own, else the electrodes
    /// table's through `peak_channel_id`).
    #[serde(default = "default_group_by")]
    pub group_by: String,
    /// Areas with fewer units (or ROIs) after filtering are skipped.
    #[serde(default = "default_min_units")]
    pub min_units: usize,
    #[serde(default)]
    pub unit_filter: UnitFilter,
    /// ROI responses: the `RoiResponseSeries` path inside the file (default: the first series
    /// of `processing/ophys/DfOverF`).
    #[serde(default)]
    pub series: Option<String>,
}

/// Allen's unit quality bounds, inclusive; a bound whose column the units table lacks is not
/// applied (and said so in the log).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitFilter {
    pub isi_violations_max: Option<f64>,
    pub amplitude_cutoff_max: Option<f64>,
    pub presence_ratio_min: Option<f64>,
}

/// A condition's value: the interval table's column holds numbers (Allen's `frame`) or text.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum ConditionValue {
    Number(f64),
    Text(String),
}

impl ConditionValue {
    /// Ascending order: numbers before text, numbers by value, text by bytes.
    pub fn ordering(&self, other: &ConditionValue) -> std::cmp::Ordering {
        use ConditionValue::*;
        match (self, other) {
            (Number(a), Number(b)) => a.total_cmp(b),
            (Number(_), Text(_)) => std::cmp::Ordering::Less,
            (Text(_), Number(_)) => std::cmp::Ordering::Greater,
            (Text(a), Text(b)) => a.cmp(b),
        }
    }

    pub fn to_json(&self) -> String {
        match self {
            ConditionValue::Number(x) => format!("{x}"),
            ConditionValue::Text(t) => format!("{t:?}"),
        }
    }
}

fn default_condition() -> String {
    "frame".into()
}
fn default_group_by() -> String {
    "location".into()
}
fn default_min_units() -> usize {
    1
}

impl IngestConfig {
    pub fn validate(&self) -> Result<(), IngestError> {
        let bad = |key: &str, reason: String| Err(IngestError::Config { key: key.to_string(), reason });
        let [w0, w1] = self.window;
        if !(w0.is_finite() && w1.is_finite() && w0 < w1) {
            return bad("window", format!("must be [w0, w1] with w0 < w1 (seconds), got [{w0}, {w1}]"));
        }
        if self.sessions.is_empty() {
            return bad("sessions", "names no session file".into());
        }
        if self.stimulus.is_empty() || self.stimulus.contains('/') {
            return bad("stimulus", format!("must name an interval table, got {:?}", self.stimulus));
        }
        if self.min_units == 0 {
            return bad("min_units", "must be at least 1".into());
        }
        for (key, v) in [
            ("unit_filter.isi_violations_max", self.unit_filter.isi_violations_max),
            ("unit_filter.amplitude_cutoff_max", self.unit_filter.amplitude_cutoff_max),
            ("unit_filter.presence_ratio_min", self.unit_filter.presence_ratio_min),
        ] {
            if let Some(v) = v
                && !v.is_finite()
            {
                return bad(key, format!("must be a number, got {v}"));
            }
        }
        Ok(())
    }

    /// The interval table's path inside the file.
    pub fn stimulus_table(&self) -> String {
        format!("/intervals/{}_presentations", self.stimulus)
    }
}
