//! netrep's PermutationMetric: centre, pad, best one-to-one matching of units (§1.5).

use faer::Mat;
use serde::{Deserialize, Serialize};

use crate::shape::{column_means, subtract_means};
use crate::{Matrix, MetricError, PairScore, Score, max_weight_assignment, score_from_inner};

/// Centred training rows and held-out rows centred with the training means.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PreparedCentered {
    xc: Matrix,
    norm: f64,
    test_c: Option<Matrix>,
}

impl PreparedCentered {
    pub fn new(x: &Matrix, test: Option<&Matrix>) -> Self {
        let mu = column_means(x.view());
        let xc = subtract_means(x.view(), &mu);
        let test_c = test.map(|t| Matrix::from_faer(subtract_means(t.view(), &mu).as_ref()));
        PreparedCentered { norm: xc.norm_l2(), xc: Matrix::from_faer(xc.as_ref()), test_c }
    }
}

pub(crate) fn compare(a: &PreparedCentered, b: &PreparedCentered, score: Score) -> Result<PairScore, MetricError> {
    if a.xc.rows() != b.xc.rows() {
        return Err(MetricError::SampleCountMismatch { a: a.xc.rows(), b: b.xc.rows() });
    }
    let (na, nb) = (a.xc.cols(), b.xc.cols());
    let width = na.max(nb);
    let cross = a.xc.view().transpose() * b.xc.view();
    // Zero-padded square weight matrix; padded units match with weight 0 (ties, harmless).
    let weights = Mat::from_fn(width, width, |i, j| if i < na && j < nb { cross[(i, j)] } else { 0.0 });
    let matching = max_weight_assignment(weights.as_ref());
    let matched = |m: &Mat<f64>| -> f64 {
        matching.iter().enumerate().filter(|&(i, &j)| i < na && j < nb).map(|(i, &j)| m[(i, j)]).sum()
    };
    let distance = score_from_inner(score, matched(&cross), a.norm, b.norm);
    let distance_test = match (&a.test_c, &b.test_c) {
        (Some(ta), Some(tb)) => {
            if ta.rows() != tb.rows() {
                return Err(MetricError::TestCountMismatch { a: ta.rows(), b: tb.rows() });
            }
            let g = ta.view().transpose() * tb.view();
            Some(score_from_inner(score, matched(&g), ta.view().norm_l2(), tb.view().norm_l2()))
        }
        _ => None,
    };
    Ok(PairScore { distance, distance_test, ..PairScore::default() })
}
