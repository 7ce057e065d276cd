use serde::{Deserialize, Serialize};

use crate::MetricError;

/// Which score to report after fitting (§1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Score {
    /// arccos(⟨A,B⟩ / (‖A‖‖B‖)): the Riemannian shape angle.
    Angular,
    /// ‖A − B‖: a size-and-shape distance.
    Euclidean,
}

/// A metric and its parameters, in netrep's meaning (the faithful mode of §1.9).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum MetricSpec {
    /// netrep `LinearMetric(alpha, center_columns=True, zero_pad=True, score_method)` (§1.1–1.4).
    Shape { alpha: f64, score: Score },
    /// netrep `PermutationMetric(center_columns=True, zero_pad=True, score_method)` (§1.5).
    Permutation { score: Score },
    /// netrep `LinearCKA`: arccos of the biased linear CKA of centred data (§1.6).
    Cka,
}

impl MetricSpec {
    pub fn validate(&self) -> Result<(), MetricError> {
        match *self {
            MetricSpec::Shape { alpha, .. } if !(0.0..=1.0).contains(&alpha) => {
                Err(MetricError::AlphaOutOfRange(alpha))
            }
            _ => Ok(()),
        }
    }

    /// Whether the metric scores held-out rows (only fitted metrics do).
    pub fn has_test_score(&self) -> bool {
        !matches!(self, MetricSpec::Cka)
    }
}
