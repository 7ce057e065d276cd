use thiserror::Error;

/// The reason codes written to the `errors` table's `reason` column. Stable: users filter on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum ReasonCode {
    NonFinite,
    SampleCountMismatch,
    Unreadable,
    MissingFile,
    DuplicateKey,
    WrongRank,
    InvalidRow,
    PairFailed,
    PrepareFailed,
    Degenerate,
}

impl ReasonCode {
    pub fn as_str(&self) -> &'static str {
        match self {
            ReasonCode::NonFinite => "non_finite",
            ReasonCode::SampleCountMismatch => "sample_count_mismatch",
            ReasonCode::Unreadable => "unreadable",
            ReasonCode::MissingFile => "missing_file",
            ReasonCode::DuplicateKey => "duplicate_key",
            ReasonCode::WrongRank => "wrong_rank",
            ReasonCode::InvalidRow => "invalid_row",
            ReasonCode::PairFailed => "pair_failed",
            ReasonCode::PrepareFailed => "prepare_failed",
            ReasonCode::Degenerate => "degenerate",
        }
    }
}

/// Failures of the storage layer itself (manifest, output location, table writing).
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("{uri}: {source}")]
    ObjectStore { uri: String, source: object_store::Error },
    #[error("invalid location {uri:?}: {reason}")]
    BadLocation { uri: String, reason: String },
    #[error("manifest {uri}: {reason}")]
    Manifest { uri: String, reason: String },
    #[error("table {table}: {source}")]
    Parquet { table: String, source: parquet::errors::ParquetError },
    #[error("table {table}: {source}")]
    Arrow { table: String, source: arrow_schema::ArrowError },
    #[error("{uri}: {reason}")]
    Other { uri: String, reason: String },
}

/// Why one representation could not be loaded: becomes a row of the `errors` table.
#[derive(Debug, Error, Clone, PartialEq)]
#[error("{reason}")]
pub struct LoadError {
    pub code: ReasonCode,
    pub reason: String,
}

impl LoadError {
    pub fn new(code: ReasonCode, reason: impl Into<String>) -> Self {
        LoadError { code, reason: reason.into() }
    }
}
