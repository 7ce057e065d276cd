use thiserror::Error;

/// Why a metric could not be prepared or a pair could not be scored.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum MetricError {
    #[error("{key}: {reason}")]
    Parameter { key: &'static str, reason: String },
    #[error("expected a {expected}-D array {layout}, got shape {shape:?}")]
    WrongRank { expected: usize, layout: &'static str, shape: Vec<usize> },
    #[error("shapes differ: {a:?} against {b:?} ({what})")]
    ShapeMismatch { a: Vec<usize>, b: Vec<usize>, what: &'static str },
    #[error("{0}")]
    NotFinite(String),
    #[error("sample counts differ: {a} rows against {b} rows")]
    SampleCountMismatch { a: usize, b: usize },
    #[error("held-out rows differ in count: {a} against {b}")]
    TestCountMismatch { a: usize, b: usize },
    #[error("held-out rows have {test} columns but training rows have {train}")]
    TestWidth { train: usize, test: usize },
    #[error("a representation needs at least 2 rows and 1 column, got {rows}×{cols}")]
    TooSmall { rows: usize, cols: usize },
    #[error("eigendecomposition did not converge")]
    Eigen,
    #[error("singular value decomposition did not converge")]
    Svd,
    /// The measure is not defined for these inputs (e.g. PWCCA with more units than stimuli).
    #[error("{0}")]
    Undefined(String),
    #[error("the two representations were prepared for different metrics")]
    PreparedMismatch,
}
