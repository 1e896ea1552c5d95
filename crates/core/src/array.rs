//! `Array`: an n-dimensional numeric array as read from `.npy`/`.npz`, held as row-major `f64`.
//!
//! Every dtype we accept (f32/f64/int/uint/bool) is widened to `f64` on load: measures compute in
//! f64, and integers up to 2^53 (labels, spike counts) are exact. The original dtype is kept so that
//! responses and reproducibility records can report what was uploaded.

use faer::Mat;
use serde::{Deserialize, Serialize};

/// The element type of an uploaded array, in numpy's spelling (`"<f8"`, `"<i4"`, `"|b1"` …) reduced
/// to the kinds we accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    Bool,
    Int8,
    Int16,
    Int32,
    Int64,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    Float32,
    Float64,
}

impl Dtype {
    /// numpy's name for the dtype (`float64`, `int32`, …).
    pub fn name(self) -> &'static str {
        match self {
            Dtype::Bool => "bool",
            Dtype::Int8 => "int8",
            Dtype::Int16 => "int16",
            Dtype::Int32 => "int32",
            Dtype::Int64 => "int64",
            Dtype::Uint8 => "uint8",
            Dtype::Uint16 => "uint16",
            Dtype::Uint32 => "uint32",
            Dtype::Uint64 => "uint64",
            Dtype::Float32 => "float32",
            Dtype::Float64 => "float64",
        }
    }

    /// Size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            Dtype::Bool | Dtype::Int8 | Dtype::Uint8 => 1,
            Dtype::Int16 | Dtype::Uint16 => 2,
            Dtype::Int32 | Dtype::Uint32 | Dtype::Float32 => 4,
            Dtype::Int64 | Dtype::Uint64 | Dtype::Float64 => 8,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, Dtype::Float32 | Dtype::Float64)
    }
}

/// A dense array in row-major (C) order.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub dtype: Dtype,
    pub data: Vec<f64>,
}

/// Why an array cannot be used as a representation matrix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ShapeError {
    #[error(
        "expected a 2-D (stimuli, units) or 3-D (time, conditions, units) array, got shape {0:?}"
    )]
    Rank(Vec<usize>),
    #[error("the array has no rows or no columns (shape {0:?})")]
    Empty(Vec<usize>),
}

impl Array {
    pub fn new(shape: Vec<usize>, dtype: Dtype, data: Vec<f64>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Array { shape, dtype, data }
    }

    /// A 2-D float64 array from a faer matrix.
    pub fn from_mat(m: &Mat<f64>) -> Self {
        let (n, p) = (m.nrows(), m.ncols());
        let mut data = Vec::with_capacity(n * p);
        for i in 0..n {
            for j in 0..p {
                data.push(m[(i, j)]);
            }
        }
        Array::new(vec![n, p], Dtype::Float64, data)
    }

    /// Rows × columns of the matrix this array stands for: 2-D as is, 3-D `(T, C, N)` flattened
    /// row-major to `(T·C, N)` (row index `t·C + c`, as diffscore's `reshape2d`).
    pub fn matrix_shape(&self) -> Result<(usize, usize), ShapeError> {
        let (n, p) = match self.shape.as_slice() {
            [n, p] => (*n, *p),
            [t, c, p] => (t * c, *p),
            _ => return Err(ShapeError::Rank(self.shape.clone())),
        };
        if n == 0 || p == 0 {
            return Err(ShapeError::Empty(self.shape.clone()));
        }
        Ok((n, p))
    }

    /// The representation matrix (rows = stimuli/conditions, columns = units).
    pub fn to_mat(&self) -> Result<Mat<f64>, ShapeError> {
        let (n, p) = self.matrix_shape()?;
        Ok(Mat::from_fn(n, p, |i, j| self.data[i * p + j]))
    }
}

/// `(T, C)` of a 3-D `(time, conditions, units)` shape, `None` otherwise.
pub fn time_conditions(shape: &[usize]) -> Option<(usize, usize)> {
    match shape {
        [t, c, _] => Some((*t, *c)),
        _ => None,
    }
}

/// The condition count `C` shared by a pair of arrays, when both are 3-D with the same `(T, C)`:
/// what the measures cross-validated over conditions need.
pub fn pair_conditions(x_shape: &[usize], y_shape: &[usize]) -> Option<usize> {
    match (time_conditions(x_shape), time_conditions(y_shape)) {
        (Some(a), Some(b)) if a == b => Some(a.1),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_d_flattens_time_major() {
        // (T=2, C=3, N=2): row t*C + c holds element [t, c, :].
        let data: Vec<f64> = (0..12).map(f64::from).collect();
        let a = Array::new(vec![2, 3, 2], Dtype::Float64, data);
        let m = a.to_mat().unwrap();
        assert_eq!((m.nrows(), m.ncols()), (6, 2));
        assert_eq!(m[(4, 1)], 9.0); // t=1, c=1, n=1 → flat index 1*6 + 1*2 + 1
    }

    #[test]
    fn rejects_bad_ranks_and_empty() {
        let a = Array::new(vec![4], Dtype::Float64, vec![0.0; 4]);
        assert!(matches!(a.matrix_shape(), Err(ShapeError::Rank(_))));
        let e = Array::new(vec![0, 3], Dtype::Float64, vec![]);
        assert!(matches!(e.matrix_shape(), Err(ShapeError::Empty(_))));
    }
}
