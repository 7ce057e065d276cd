//! Angular linear CKA (netrep's LinearCKA), in the n-space form of §1.6:
//! cos d = ‖X̃ᵀỸ‖² / (‖X̃ᵀX̃‖ ‖ỸᵀỸ‖).

use serde::{Deserialize, Serialize};

use crate::shape::{column_means, subtract_means};
use crate::{Matrix, MetricError, PairScore, clipped_arccos};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PreparedCka {
    xc: Matrix,
    /// ‖X̃ᵀX̃‖_F
    self_norm: f64,
}

impl PreparedCka {
    pub fn new(x: &Matrix) -> Self {
        let xc = subtract_means(x.view(), &column_means(x.view()));
        let self_norm = (xc.transpose() * &xc).norm_l2();
        PreparedCka { xc: Matrix::from_faer(xc.as_ref()), self_norm }
    }
}

pub(crate) fn compare(a: &PreparedCka, b: &PreparedCka) -> Result<PairScore, MetricError> {
    if a.xc.rows() != b.xc.rows() {
        return Err(MetricError::SampleCountMismatch { a: a.xc.rows(), b: b.xc.rows() });
    }
    let cross = (a.xc.view().transpose() * b.xc.view()).norm_l2();
    let distance = clipped_arccos(cross * cross / (a.self_norm * b.self_norm));
    Ok(PairScore { distance, distance_test: None, held_out_ambiguous: false })
}
