//! A run's output location: its tables as directories of part files, the run records, and
//! the commit that makes one run's parts the current rows.
//!
//! Invariants this module keeps:
//! - A part is one Parquet file written with a single `put` (atomic on every backend), so a
//!   reader never sees half a part.
//! - Every part file is named `part-<run_id>-<writer>.parquet` ([`PartName`]); the writer is
//!   `w<4 digits>`, `w<4 digits>-<5 digits>` or `post`. A run id is letters, digits, `-`,
//!   `_` and `.`, so a name is parsed from the right: the run a part belongs to is exact,
//!   never a substring match (`r1` does not own `r10`'s parts).
//! - After [`Output::commit`], each table holds exactly the parts of the committed run: the
//!   run record (`_runs/<run_id>.json`) is written first, then every other part is retired.

use std::fmt;

use crate::{Location, Storage, StoreError};

/// Every table a run may write, in the order a reader meets them.
pub const TABLES: [&str; 11] = [
    "models",
    "distances",
    "errors",
    "paths",
    "path_summary",
    "path_distances",
    "embeddings",
    "embedding_summary",
    "geometry_points",
    "geometry_summary",
    "msa_points",
];

/// A run's identity: non-empty, letters, digits, `-`, `_` and `.` only.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunId(String);

impl RunId {
    pub fn parse(text: &str) -> Result<RunId, String> {
        if text.is_empty() || !text.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            return Err(format!("run id {text:?}: use letters, digits, '-', '_' and '.'"));
        }
        Ok(RunId(text.to_string()))
    }

    /// `YYYYmmddTHHMMSSZ-xxxxxx`: sortable by time, unique across concurrent runs.
    pub fn new_from_clock() -> RunId {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let secs = now.as_secs() as i64;
        let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
        // civil_from_days (Howard Hinnant, "chrono-compatible low-level date algorithms")
        let z = days + 719468;
        let era = z.div_euclid(146097);
        let doe = z - era * 146097;
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
        let nonce = (now.subsec_nanos() as u64 ^ (std::process::id() as u64) << 20) & 0xffffff;
        RunId(format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z-{nonce:06x}", rem / 3600, (rem / 60) % 60, rem % 60))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who wrote a part within a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Writer {
    /// A worker's end-of-run part of a table: `w0003`.
    Worker(u32),
    /// One of a worker's flushes of `distances` while it computes: `w0003-00012`.
    Flush(u32, u32),
    /// The post-steps after the dataflow (embeddings, path distances): `post`.
    Post,
}

/// The name of a part file: `part-<run_id>-<writer>.parquet`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartName {
    pub run_id: RunId,
    pub writer: Writer,
}

impl PartName {
    pub fn new(run_id: &RunId, writer: Writer) -> PartName {
        PartName { run_id: run_id.clone(), writer }
    }

    /// Parse a file name; `None` for anything that is not a part name.
    pub fn parse(file_name: &str) -> Option<PartName> {
        let stem = file_name.strip_prefix("part-")?.strip_suffix(".parquet")?;
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        let worker = |s: &str| s.strip_prefix('w').filter(|d| digits(d, 4)).and_then(|d| d.parse().ok());
        // the longest writer form first: `-wNNNN-NNNNN`, then `-wNNNN`, then `-post`
        let (run, writer) = if let Some((rest, flush)) = stem.rsplit_once('-')
            && digits(flush, 5)
            && let Some((run, w)) = rest.rsplit_once('-')
            && let Some(w) = worker(w)
        {
            (run, Writer::Flush(w, flush.parse().ok()?))
        } else if let Some((run, w)) = stem.rsplit_once('-')
            && let Some(w) = worker(w)
        {
            (run, Writer::Worker(w))
        } else {
            (stem.strip_suffix("-post")?, Writer::Post)
        };
        Some(PartName { run_id: RunId::parse(run).ok()?, writer })
    }
}

impl fmt::Display for PartName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.writer {
            Writer::Worker(w) => write!(f, "part-{}-w{w:04}.parquet", self.run_id),
            Writer::Flush(w, i) => write!(f, "part-{}-w{w:04}-{i:05}.parquet", self.run_id),
            Writer::Post => write!(f, "part-{}-post.parquet", self.run_id),
        }
    }
}

/// An output location and the storage that reaches it.
#[derive(Clone)]
pub struct Output {
    pub storage: Storage,
    pub root: Location,
}

impl Output {
    pub fn new(storage: Storage, root: Location) -> Output {
        Output { storage, root }
    }

    fn table_dir(&self, table: &str) -> Result<Location, StoreError> {
        self.root.join(&format!("{table}/"))
    }

    /// Publish `batch` as the part `name` of `table` (one atomic put).
    pub fn publish(
        &self,
        table: &str,
        name: &PartName,
        batch: &arrow_array::RecordBatch,
    ) -> Result<Location, StoreError> {
        crate::tables::publish_part(&self.storage, &self.root, table, &name.to_string(), batch)
    }

    /// Every part file of `table` with its parsed name (`None`: a `.parquet` file that is
    /// not a part name, e.g. one a user copied in).
    pub fn parts(&self, table: &str) -> Result<Vec<(Location, Option<PartName>)>, StoreError> {
        Ok(self
            .storage
            .list(&self.table_dir(table)?)?
            .into_iter()
            .filter(|p| p.file_name().ends_with(".parquet"))
            .map(|p| {
                let name = PartName::parse(p.file_name());
                (p, name)
            })
            .collect())
    }

    /// The parts of `table` written by exactly run `run_id`.
    pub fn run_parts(&self, table: &str, run_id: &RunId) -> Result<Vec<Location>, StoreError> {
        Ok(self
            .parts(table)?
            .into_iter()
            .filter(|(_, name)| name.as_ref().is_some_and(|n| &n.run_id == run_id))
            .map(|(p, _)| p)
            .collect())
    }

    /// Commit run `run_id`: write its record `_runs/<run_id>.json`, then retire every part
    /// of every table that another run wrote (or that is no part name of this run), so each
    /// table holds exactly this run's rows. Files that are not `part-*` are left alone.
    pub fn commit(&self, run_id: &RunId, record_json: Vec<u8>) -> Result<(), StoreError> {
        self.storage.put(&self.root.join(&format!("_runs/{run_id}.json"))?, record_json.into())?;
        for table in TABLES {
            for (part, name) in self.parts(table)? {
                let ours = name.as_ref().is_some_and(|n| &n.run_id == run_id);
                if part.file_name().starts_with("part-") && !ours {
                    self.storage.delete(&part)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names_round_trip_and_parse_from_the_right() {
        let cases = [
            ("r1", Writer::Worker(0)),
            ("r10", Writer::Flush(3, 12)),
            ("20261130T221500Z-0a1b2c", Writer::Post),
            // run ids that look like writers stay whole
            ("a-w0000", Writer::Worker(1)),
            ("a-w0000-00001", Writer::Flush(2, 7)),
            ("x-post", Writer::Post),
            ("v1.2_b", Writer::Worker(9999)),
        ];
        for (run, writer) in cases {
            let name = PartName::new(&RunId::parse(run).unwrap(), writer);
            let text = name.to_string();
            assert_eq!(PartName::parse(&text), Some(name), "{text}");
        }
        assert_eq!(PartName::parse("part-r1-w0000.parquet").unwrap().run_id.as_str(), "r1");
        assert_eq!(PartName::parse("part-r10-w0000.parquet").unwrap().run_id.as_str(), "r10");
        for bad in ["part-.parquet", "part-w0000.parquet", "data.parquet", "part-r1-w0000.csv", "part-r 1-post.parquet"]
        {
            assert_eq!(PartName::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn run_ids_refuse_separators_and_spaces() {
        for bad in ["", "a/b", "a b", "ü", "a@b"] {
            assert!(RunId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(RunId::parse(RunId::new_from_clock().as_str()).is_ok());
    }

    #[test]
    fn a_commit_keeps_exactly_the_committed_run_and_no_prefix_of_it() {
        let dir = tempfile::tempdir().unwrap();
        let out = Output::new(Storage::new().unwrap(), Location::from_path(dir.path()).unwrap());
        let batch = crate::tables::errors_batch(&[]).unwrap();
        let (r1, r10) = (RunId::parse("r1").unwrap(), RunId::parse("r10").unwrap());
        out.publish("errors", &PartName::new(&r10, Writer::Worker(0)), &batch).unwrap();
        out.publish("errors", &PartName::new(&r1, Writer::Worker(0)), &batch).unwrap();
        out.publish("errors", &PartName::new(&r1, Writer::Flush(0, 1)), &batch).unwrap();
        std::fs::write(dir.path().join("errors/notes.txt"), b"kept").unwrap();
        assert_eq!(out.run_parts("errors", &r1).unwrap().len(), 2);
        assert_eq!(out.run_parts("errors", &r10).unwrap().len(), 1);
        out.commit(&r1, b"{}".to_vec()).unwrap();
        let left: Vec<String> = out.parts("errors").unwrap().iter().map(|(p, _)| p.file_name().to_string()).collect();
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(left.iter().all(|n| PartName::parse(n).unwrap().run_id == r1), "{left:?}");
        assert!(dir.path().join("errors/notes.txt").exists());
        assert!(dir.path().join("_runs/r1.json").exists());
    }
}
