//! Stacked panels: the factors of P representations laid side by side, so that one GEMM
//! forms the cross products X_iᵀY_j of all pairs of two panels at once (`crate::block`, for
//! the shape metric and linear CKA).
//!
//! Panel model ([`PanelPlan::choose`]): P = 1 from [`STACK_BELOW`] units on (measured on a
//! 2-core EPYC: a 2000 × 64 pair GEMM runs at the 1024³ rate, a 2000 × 32 one about 10 %
//! below it), else P·n ≈ [`PANEL_COLUMNS`] columns, the width at which faer's GEMM reaches
//! its peak on one core; c rows so that both stacked chunks (2·c·P·n values) fit in
//! `stack_bytes` (the pipeline passes [`STACK_BYTES`], a core's share of L3 on common
//! servers, whatever the memory budget: 8 MB per worker is small beside any budget that
//! holds two representations). P and c depend only on the shapes, so a pair's value does
//! not depend on the worker count or the memory budget.
//!

use faer::linalg::matmul::triangular::{BlockStructure, matmul as triangular_matmul};
use faer::{Accum, Mat, MatMut, MatRef};

use crate::shape::Factor;

/// Columns of a stacked panel (P·n).
pub const PANEL_COLUMNS: usize = 1024;

/// Factors this wide or wider are not stacked (P = 1).
pub const STACK_BELOW: usize = 64;

/// Default room for the two stacked chunks of a panel pair.
pub const STACK_BYTES: usize = 8 << 20;

/// How a block's factors are stacked: `per_panel` representations side by side, GEMMs over
/// `chunk_rows` stimuli at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PanelPlan {
    pub per_panel: usize,
    pub chunk_rows: usize,
}

impl PanelPlan {
    /// The model in the module docs, for `m` stimuli, factors up to `width` units wide,
    /// `value_bytes` per value (8 for f64, 4 for f32).
    pub fn choose(m: usize, width: usize, value_bytes: usize, stack_bytes: usize) -> PanelPlan {
        let width = width.max(1);
        if width >= STACK_BELOW {
            return PanelPlan { per_panel: 1, chunk_rows: m.max(1) };
        }
        let per_panel = (PANEL_COLUMNS / width).max(1);
        let row_bytes = 2 * per_panel * width * value_bytes;
        let chunk_rows = (stack_bytes / row_bytes).clamp(1, m.max(1));
        PanelPlan { per_panel, chunk_rows }
    }
}

/// Buffers for stacked chunks, kept across the panel pairs of a block.
pub(crate) struct Stacks {
    a64: Mat<f64>,
    b64: Mat<f64>,
    a32: Mat<f32>,
    b32: Mat<f32>,
    acc32: Mat<f32>,
}

impl Stacks {
    pub(crate) fn new() -> Self {
        Stacks { a64: Mat::new(), b64: Mat::new(), a32: Mat::new(), b32: Mat::new(), acc32: Mat::new() }
    }

    /// All cross products of two panels in one f64 matrix, with each factor's first row
    /// (`row_at`) and first column (`col_at`) in it; only the upper triangle when `upper`.
    pub(crate) fn cross(
        &mut self,
        rows: &[&Factor],
        cols: &[&Factor],
        chunk: usize,
        upper: bool,
    ) -> (Mat<f64>, Vec<usize>, Vec<usize>) {
        let (row_at, row_width) = offsets(rows);
        let (col_at, col_width) = offsets(cols);
        let m = rows.first().map(|f| f.rows()).unwrap_or(0);
        let par = faer::get_global_parallelism();
        let dst = if upper { BlockStructure::TriangularUpper } else { BlockStructure::Rectangular };
        let is_f32 = matches!(rows.first(), Some(Factor::F32 { .. }));
        let rect = BlockStructure::Rectangular;
        let chunks = (0..m)
            .step_by(chunk)
            .enumerate()
            .map(|(c, start)| (if c == 0 { Accum::Replace } else { Accum::Add }, start, chunk.min(m - start)));
        let cross = if is_f32 {
            self.acc32.resize_with(row_width, col_width, |_, _| 0.0);
            for (accum, start, len) in chunks {
                stack(&mut self.a32, rows, start, len, row_width);
                stack(&mut self.b32, cols, start, len, col_width);
                let (a, b) = (self.a32.as_ref(), self.b32.as_ref());
                triangular_matmul(self.acc32.as_mut(), dst, accum, a.transpose(), rect, b, rect, 1.0f32, par);
            }
            Mat::from_fn(row_width, col_width, |i, j| self.acc32[(i, j)] as f64)
        } else {
            let mut cross = Mat::<f64>::zeros(row_width, col_width);
            for (accum, start, len) in chunks {
                stack(&mut self.a64, rows, start, len, row_width);
                stack(&mut self.b64, cols, start, len, col_width);
                let (a, b) = (self.a64.as_ref(), self.b64.as_ref());
                triangular_matmul(cross.as_mut(), dst, accum, a.transpose(), rect, b, rect, 1.0, par);
            }
            cross
        };
        (cross, row_at, col_at)
    }
}

/// Each factor's first column when laid side by side, and the total width.
fn offsets(side: &[&Factor]) -> (Vec<usize>, usize) {
    let mut at = Vec::with_capacity(side.len());
    let mut total = 0;
    for f in side {
        at.push(total);
        total += f.cols();
    }
    (at, total)
}

/// A factor value type that can be stacked.
trait Stackable: faer::traits::ComplexField + Copy {
    fn view(factor: &Factor) -> Option<MatRef<'_, Self>>;
}

impl Stackable for f64 {
    fn view(factor: &Factor) -> Option<MatRef<'_, f64>> {
        match factor {
            Factor::F64(x) => Some(x.view()),
            Factor::F32 { .. } => None,
        }
    }
}

impl Stackable for f32 {
    fn view(factor: &Factor) -> Option<MatRef<'_, f32>> {
        match factor {
            Factor::F32 { rows, cols, data } => Some(MatRef::from_column_major_slice(data, *rows, *cols)),
            Factor::F64(_) => None,
        }
    }
}

/// Rows `start..start+len` of each factor side by side in `buffer` (resized to len × width).
fn stack<T: Stackable>(buffer: &mut Mat<T>, side: &[&Factor], start: usize, len: usize, width: usize) {
    if buffer.nrows() != len || buffer.ncols() != width {
        *buffer = Mat::zeros(len, width);
    }
    let mut at = 0;
    for f in side {
        if let Some(x) = T::view(f) {
            let n = x.ncols();
            let mut dst: MatMut<'_, T> = buffer.as_mut().submatrix_mut(0, at, len, n);
            dst.copy_from(x.submatrix(start, 0, len, n));
        }
        at += f.cols();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panel_plan_follows_the_model() {
        assert_eq!(PanelPlan::choose(2000, 128, 8, STACK_BYTES), PanelPlan { per_panel: 1, chunk_rows: 2000 });
        assert_eq!(PanelPlan::choose(2000, 32, 8, STACK_BYTES), PanelPlan { per_panel: 32, chunk_rows: 512 });
        assert_eq!(PanelPlan::choose(2000, 32, 4, STACK_BYTES), PanelPlan { per_panel: 32, chunk_rows: 1024 });
        assert_eq!(PanelPlan::choose(300, 16, 8, STACK_BYTES).chunk_rows, 300, "never more rows than stimuli");
        assert_eq!(PanelPlan::choose(10, 16, 8, 1).chunk_rows, 1, "at least one row");
    }
}
