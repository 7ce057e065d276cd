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

impl NdArray {
    /// Why the array cannot be a representation although every value is finite: fewer than
    /// two samples (axis 0), or no variance across samples (every unit, i.e. every position of
    /// the trailing axes, constant after centring; within rounding: the centred sum of squares
    /// at most 10⁻²⁴ of the raw one). Shape metrics would divide by its zero norm.
    pub fn degeneracy(&self) -> Option<String> {
        let samples = self.shape.first().copied().unwrap_or(0);
        if samples < 2 {
            return Some(format!("{samples} sample(s) (shape {:?}): a representation needs at least 2", self.shape));
        }
        let units = self.data.len() / samples;
        let mut mean = vec![0.0; units];
        for row in self.data.chunks_exact(units.max(1)) {
            mean.iter_mut().zip(row).for_each(|(m, v)| *m += v);
        }
        mean.iter_mut().for_each(|m| *m /= samples as f64);
        let (mut centred, mut raw) = (0.0f64, 0.0f64);
        for row in self.data.chunks_exact(units.max(1)) {
            for (v, m) in row.iter().zip(&mean) {
                centred += (v - m) * (v - m);
                raw += v * v;
            }
        }
        (centred <= 1e-24 * raw).then(|| {
            format!(
                "no variance across its {samples} samples (shape {:?}; every unit is constant{}): \
                 a constant representation has no shape to compare",
                self.shape,
                if raw == 0.0 { ", all zero" } else { "" }
            )
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_and_single_sample_arrays_are_degenerate() {
        let zeros = NdArray { shape: vec![60, 7], data: vec![0.0; 420] };
        assert!(zeros.degeneracy().unwrap().contains("all zero"));
        // constant columns of different values
        let columns = NdArray { shape: vec![4, 3], data: (0..12).map(|i| (i % 3) as f64 * 1.5 + 0.1).collect() };
        assert!(columns.degeneracy().unwrap().contains("every unit is constant"));
        let one = NdArray { shape: vec![1, 5], data: vec![1.0, 2.0, 3.0, 4.0, 5.0] };
        assert!(one.degeneracy().unwrap().contains("at least 2"));
        // one varying unit is enough, however small against the others
        let mut data: Vec<f64> = (0..12).map(|i| (i % 3) as f64 * 1e6).collect();
        data[4] += 1e-3;
        assert_eq!(NdArray { shape: vec![4, 3], data }.degeneracy(), None);
        let conv = NdArray { shape: vec![2, 2, 2, 1], data: vec![1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.5] };
        assert_eq!(conv.degeneracy(), None);
    }
}
