use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};

/// A dense column-major f64 matrix that can travel between workers (serde) and be viewed
/// as a faer matrix without copying.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Matrix {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

impl Matrix {
    /// From column-major data. Panics if `data.len() != rows * cols` (a programming error).
    pub fn from_col_major(rows: usize, cols: usize, data: Vec<f64>) -> Self {
        assert_eq!(data.len(), rows * cols, "Matrix::from_col_major: length mismatch");
        Matrix { rows, cols, data }
    }

    /// From row-major data. Panics if `data.len() != rows * cols`.
    pub fn from_row_major(rows: usize, cols: usize, data: &[f64]) -> Self {
        assert_eq!(data.len(), rows * cols, "Matrix::from_row_major: length mismatch");
        let mut out = vec![0.0; rows * cols];
        for i in 0..rows {
            for j in 0..cols {
                out[j * rows + i] = data[i * cols + j];
            }
        }
        Matrix { rows, cols, data: out }
    }

    pub fn from_fn(rows: usize, cols: usize, f: impl Fn(usize, usize) -> f64) -> Self {
        let mut data = Vec::with_capacity(rows * cols);
        for j in 0..cols {
            for i in 0..rows {
                data.push(f(i, j));
            }
        }
        Matrix { rows, cols, data }
    }

    pub fn from_faer(m: MatRef<'_, f64>) -> Self {
        Self::from_fn(m.nrows(), m.ncols(), |i, j| m[(i, j)])
    }

    pub fn rows(&self) -> usize {
        self.rows
    }
    pub fn cols(&self) -> usize {
        self.cols
    }
    pub fn col_major(&self) -> &[f64] {
        &self.data
    }
    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.data[j * self.rows + i]
    }

    pub fn view(&self) -> MatRef<'_, f64> {
        MatRef::from_column_major_slice(&self.data, self.rows, self.cols)
    }

    pub fn to_faer(&self) -> Mat<f64> {
        self.view().to_owned()
    }

    /// True when every entry is finite.
    pub fn is_finite(&self) -> bool {
        self.data.iter().all(|v| v.is_finite())
    }
}

/// An n-dimensional f64 array in row-major (C) order: the input of [`crate::prepare`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tensor {
    shape: Vec<usize>,
    data: Vec<f64>,
}

impl Tensor {
    /// Panics if `data.len()` differs from the product of `shape` (a programming error).
    pub fn new(shape: Vec<usize>, data: Vec<f64>) -> Tensor {
        assert_eq!(shape.iter().product::<usize>(), data.len(), "Tensor::new: length mismatch");
        Tensor { shape, data }
    }
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    pub fn data(&self) -> &[f64] {
        &self.data
    }
    /// The array as [first axis × product of the others].
    pub fn to_matrix(&self) -> Matrix {
        let rows = self.shape.first().copied().unwrap_or(0);
        let cols = self.data.len().checked_div(rows).unwrap_or(0);
        Matrix::from_row_major(rows, cols, &self.data)
    }
}

impl From<&Matrix> for Tensor {
    fn from(m: &Matrix) -> Tensor {
        Tensor {
            shape: vec![m.rows(), m.cols()],
            data: (0..m.rows()).flat_map(|i| (0..m.cols()).map(move |j| m.get(i, j))).collect(),
        }
    }
}
