use crate::{LoadError, ReasonCode};

/// An n-dimensional f64 array in row-major (C) order, as read from a file.
#[derive(Clone, Debug, PartialEq)]
pub struct NdArray {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

impl NdArray {
    /// The array as a matrix [samples × features]; refuses other ranks.
    pub fn expect_matrix(&self) -> Result<(usize, usize), LoadError> {
        match self.shape.as_slice() {
            [m, n] => Ok((*m, *n)),
            other => Err(LoadError::new(
                ReasonCode::WrongRank,
                format!("expected a 2-D array [samples × features], got shape {other:?}"),
            )),
        }
    }

    /// Refuse NaN and ±Inf, naming the first offending position.
    pub fn check_finite(&self) -> Result<(), LoadError> {
        match self.data.iter().position(|v| !v.is_finite()) {
            None => Ok(()),
            Some(pos) => {
                let count = self.data.iter().filter(|v| !v.is_finite()).count();
                Err(LoadError::new(
                    ReasonCode::NonFinite,
                    format!(
                        "{count} non-finite value(s); first at {:?} = {}",
                        unravel(pos, &self.shape),
                        self.data[pos]
                    ),
                ))
            }
        }
    }
}

fn unravel(mut pos: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for (d, &len) in shape.iter().enumerate().rev() {
        if len > 0 {
            idx[d] = pos % len;
            pos /= len;
        }
    }
    idx
}
