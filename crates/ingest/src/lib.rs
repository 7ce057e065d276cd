//! Recordings into zoos. `repspace ingest CONFIG` reads NWB sessions (the Allen Brain
//! Observatory layouts: spike-sorted units, or two-photon ROI responses) and writes one
//! `.npy` per (session, area) plus a `manifest.csv`, so the pipeline's input stays uniform
//! and a new session is new files (the run's incremental reuse does the rest).
//!
//! Stages, one module each: [`config`] (the `[ingest]` table), [`sessions`] (paths and globs
//! to session files), [`nwb`] (what is read of a file), [`responses`] (windows, conditions,
//! means and trial tensors), [`write`] (arrays and manifest).
//!
//! Invariants: a bad session file is an error naming the file and the path inside it, and
//! the other sessions are still written; arrays are float64; an array whose bytes are already
//! there is not rewritten (its file keeps its modification time, so runs do not read it again);
//! the manifest is written last, in one put.

pub mod config;
pub mod nwb;
pub mod responses;
pub mod sessions;
pub mod write;

use repspace_store::{Location, Storage, StoreError};

pub use config::{IngestConfig, IngestFile, IngestKind};
pub use write::{IngestReport, ingest};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("ingest config: {key}: {reason}")]
    Config { key: String, reason: String },
    #[error("{file}: {path}: {reason}")]
    Session { file: String, path: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl IngestError {
    pub fn session(file: &Location, path: &str, reason: impl Into<String>) -> IngestError {
        IngestError::Session { file: file.to_string(), path: path.to_string(), reason: reason.into() }
    }
}

/// Read an ingest config; `out` and the sessions resolve against the config's directory.
pub fn load_config(storage: &Storage, config: &Location) -> Result<IngestConfig, IngestError> {
    let text = storage
        .get(config)
        .map_err(|e| IngestError::Config { key: "file".into(), reason: format!("cannot read {config}: {e}") })?;
    let text = String::from_utf8(text.to_vec())
        .map_err(|_| IngestError::Config { key: "file".into(), reason: format!("{config}: not UTF-8 text") })?;
    let file: IngestFile = toml::from_str(&text)
        .map_err(|e| IngestError::Config { key: "file".into(), reason: format!("{config}: {e}") })?;
    file.ingest.validate()?;
    Ok(file.ingest)
}
