use thiserror::Error;

/// Why a metric could not be prepared or a pair could not be scored.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum MetricError {
    #[error("alpha must lie in [0, 1] for shape metrics, got {0}")]
    AlphaOutOfRange(f64),
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
    #[error("the two representations were prepared for different metrics")]
    PreparedMismatch,
}
