//! Orthogonal Procrustes: the rotation that best maps one point set onto another.

use faer::{Mat, MatRef};

use crate::MetricError;

/// R = argmin_{R ∈ O(n)} ‖X R − Y‖ = U Vᵀ, where XᵀY = UΣVᵀ (Schönemann 1966; scipy's
/// `orthogonal_procrustes(X, Y)`, netrep's `align(X, Y, "orth")`).
pub fn orthogonal_procrustes(x: MatRef<'_, f64>, y: MatRef<'_, f64>) -> Result<Mat<f64>, MetricError> {
    procrustes_from_cross(x.transpose() * y)
}

/// The same from the cross product XᵀY alone.
pub(crate) fn procrustes_from_cross(cross: Mat<f64>) -> Result<Mat<f64>, MetricError> {
    let svd = cross.svd().map_err(|_| MetricError::Svd)?;
    Ok(svd.U() * svd.V().transpose())
}
