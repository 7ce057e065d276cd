//! Pure math on representation matrices (stimuli × units): centring, netrep's partial
//! whitening, the generalized shape metrics, the permutation metric and angular CKA.
//!
//! Nothing here knows about files, tables or dataflow. The formulas and their sources are
//! in `shared/docs/reference-math.md` (§1); each function names the section it follows.
//!
//! The pattern is *prepare once, pair many*: [`prepare`] turns one representation into a
//! [`Prepared`] value (centred and whitened factors, norms, held-out rows mapped the same
//! way), and [`compare`] scores a pair of prepared values. Prepared values are plain data
//! (serde) so a dataflow can ship them between workers and processes.

mod assignment;
mod cka;
mod error;
mod matrix;
mod permutation;
mod shape;
mod spec;

pub use assignment::max_weight_assignment;
pub use cka::PreparedCka;
pub use error::MetricError;
pub use matrix::Matrix;
pub use permutation::PreparedCentered;
pub use shape::{PreparedShape, whitening_scale};
pub use spec::{MetricSpec, Score};

use serde::{Deserialize, Serialize};

/// One representation prepared for a metric: everything every pair needs, computed once.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Prepared {
    Shape(PreparedShape),
    Permutation(PreparedCentered),
    Cka(PreparedCka),
}

/// Training (fitted) distance and, when both sides have held-out rows and the metric has
/// a held-out score, the score of the fitted maps on the held-out rows (§1.3).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairScore {
    pub distance: f64,
    pub distance_test: Option<f64>,
    /// The fitted cross-covariance is genuinely rank deficient (not from padding), so the
    /// held-out score depends on how the SVD completes its null space, which no port can
    /// pin to netrep's (§1.3 caution). Only set when a held-out score was computed.
    pub held_out_ambiguous: bool,
}

/// Prepare one representation `x` (m × n) and its optional held-out rows `test`
/// (m_test × n) for `spec`.
pub fn prepare(spec: &MetricSpec, x: &Matrix, test: Option<&Matrix>) -> Result<Prepared, MetricError> {
    spec.validate()?;
    if let Some(t) = test {
        if t.cols() != x.cols() {
            return Err(MetricError::TestWidth { train: x.cols(), test: t.cols() });
        }
    }
    if x.rows() < 2 || x.cols() == 0 {
        return Err(MetricError::TooSmall { rows: x.rows(), cols: x.cols() });
    }
    Ok(match *spec {
        MetricSpec::Shape { alpha, .. } => Prepared::Shape(PreparedShape::new(x, test, alpha)?),
        MetricSpec::Permutation { .. } => Prepared::Permutation(PreparedCentered::new(x, test)),
        MetricSpec::Cka => Prepared::Cka(PreparedCka::new(x)),
    })
}

/// Score a pair of representations prepared with the same `spec`.
pub fn compare(spec: &MetricSpec, a: &Prepared, b: &Prepared) -> Result<PairScore, MetricError> {
    match (spec, a, b) {
        (MetricSpec::Shape { score, .. }, Prepared::Shape(a), Prepared::Shape(b)) => shape::compare(a, b, *score),
        (MetricSpec::Permutation { score }, Prepared::Permutation(a), Prepared::Permutation(b)) => {
            permutation::compare(a, b, *score)
        }
        (MetricSpec::Cka, Prepared::Cka(a), Prepared::Cka(b)) => cka::compare(a, b),
        _ => Err(MetricError::PreparedMismatch),
    }
}

/// arccos with its argument clipped to [−1, 1], as netrep does.
pub(crate) fn clipped_arccos(c: f64) -> f64 {
    c.clamp(-1.0, 1.0).acos()
}

/// The two scores of §1.2 from the three inner products they need:
/// angular = arccos(⟨A,B⟩/(‖A‖‖B‖)), euclidean = √(‖A‖² + ‖B‖² − 2⟨A,B⟩).
pub(crate) fn score_from_inner(score: Score, inner: f64, norm_a: f64, norm_b: f64) -> f64 {
    match score {
        Score::Angular => clipped_arccos(inner / (norm_a * norm_b)),
        Score::Euclidean => (norm_a * norm_a + norm_b * norm_b - 2.0 * inner).max(0.0).sqrt(),
    }
}

/// Threads faer may use inside one metric computation. With several dataflow workers
/// already using the cores, 1 (sequential) avoids oversubscription.
pub fn set_linear_algebra_threads(threads: usize) {
    let par = if threads <= 1 { faer::Par::Seq } else { faer::Par::rayon(threads) };
    faer::set_global_parallelism(par);
}
