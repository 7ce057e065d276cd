//! A NAS-Bench-101 cell as the benchmark defines it (google-research/nasbench,
//! `nasbench/lib/model_spec.py` and `api.py`): an upper-triangular 0/1 adjacency matrix over
//! V vertices, vertex 0 the input and V − 1 the output, and one operation per vertex.
//!
//! Invariants of a [`ModelSpec`] (checked by [`ModelSpec::new`], as the reference's
//! constructor checks them): the matrix is square, strictly upper triangular, 0/1, and has as
//! many rows as there are operations. Pruning (`ModelSpec._prune`) keeps exactly the vertices
//! that lie on a path from the input to the output; a cell whose input does not reach its
//! output has no pruned form (`valid_spec = False`). A cell is in the benchmark's space
//! (`api.NASBench._check_spec`) when its pruned form exists, has at most 7 vertices and 9
//! edges, starts with `input`, ends with `output` and uses only the three operations.

use serde::{Deserialize, Serialize};

/// Vertices of a cell in the benchmark's space.
pub const MAX_VERTICES: usize = 7;
/// Edges of a cell in the benchmark's space.
pub const MAX_EDGES: usize = 9;

/// A vertex's operation. The interior ones are the benchmark's `available_ops`, in its order
/// (`config['available_ops']`), which fixes their labels in the module hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Op {
    #[serde(rename = "input")]
    Input,
    #[serde(rename = "conv3x3-bn-relu")]
    Conv3x3,
    #[serde(rename = "conv1x1-bn-relu")]
    Conv1x1,
    #[serde(rename = "maxpool3x3")]
    MaxPool3x3,
    #[serde(rename = "output")]
    Output,
}

/// The benchmark's `available_ops`, in its order.
pub const AVAILABLE_OPS: [Op; 3] = [Op::Conv3x3, Op::Conv1x1, Op::MaxPool3x3];

impl Op {
    /// The benchmark's name of the operation.
    pub fn name(self) -> &'static str {
        match self {
            Op::Input => "input",
            Op::Conv3x3 => "conv3x3-bn-relu",
            Op::Conv1x1 => "conv1x1-bn-relu",
            Op::MaxPool3x3 => "maxpool3x3",
            Op::Output => "output",
        }
    }

    pub fn parse(name: &str) -> Option<Op> {
        [Op::Input, Op::Conv3x3, Op::Conv1x1, Op::MaxPool3x3, Op::Output].into_iter().find(|op| op.name() == name)
    }

    /// The label `hash_spec` gives the vertex: −1 input, −2 output, else the index in
    /// [`AVAILABLE_OPS`].
    pub fn hash_label(self) -> i64 {
        match self {
            Op::Input => -1,
            Op::Output => -2,
            op => AVAILABLE_OPS.iter().position(|&a| a == op).map_or(-3, |i| i as i64),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("the matrix must be square, with one row per operation ({rows} rows, {ops} operations)")]
    Shape { rows: usize, ops: usize },
    #[error("the matrix must be strictly upper triangular: entry ({0}, {1}) is set")]
    NotUpperTriangular(usize, usize),
    #[error("matrix entries must be 0 or 1: entry ({0}, {1}) is {2}")]
    NotBinary(usize, usize, u8),
    #[error("a cell needs at least the input and output vertices")]
    TooSmall,
}

/// A cell as given (`original_matrix`, `original_ops`) and its pruned form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelSpec {
    pub original_matrix: Vec<Vec<u8>>,
    pub original_ops: Vec<Op>,
    /// The pruned cell; `None` when the input does not reach the output.
    pub pruned: Option<Cell>,
}

/// A pruned cell: every vertex on an input–output path.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cell {
    pub matrix: Vec<Vec<u8>>,
    pub ops: Vec<Op>,
}

impl ModelSpec {
    pub fn new(matrix: Vec<Vec<u8>>, ops: Vec<Op>) -> Result<ModelSpec, SpecError> {
        let n = ops.len();
        if matrix.len() != n || matrix.iter().any(|r| r.len() != n) {
            return Err(SpecError::Shape { rows: matrix.len(), ops: n });
        }
        if n < 2 {
            return Err(SpecError::TooSmall);
        }
        for (i, row) in matrix.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                if v > 1 {
                    return Err(SpecError::NotBinary(i, j, v));
                }
                if v == 1 && j <= i {
                    return Err(SpecError::NotUpperTriangular(i, j));
                }
            }
        }
        let pruned = prune(&matrix, &ops);
        Ok(ModelSpec { original_matrix: matrix, original_ops: ops, pruned })
    }

    /// `api.NASBench.is_valid`: the pruned cell exists and lies in the benchmark's space.
    pub fn in_domain(&self) -> bool {
        self.pruned.as_ref().is_some_and(Cell::in_domain)
    }
}

/// `ModelSpec._prune`: delete every vertex not both reachable from the input and reaching the
/// output; `None` when the input does not reach the output.
pub fn prune(matrix: &[Vec<u8>], ops: &[Op]) -> Option<Cell> {
    let n = ops.len();
    let mut from_input = vec![false; n];
    from_input[0] = true;
    for v in 0..n {
        if from_input[v] {
            (v + 1..n).filter(|&w| matrix[v][w] == 1).for_each(|w| from_input[w] = true);
        }
    }
    let mut to_output = vec![false; n];
    to_output[n - 1] = true;
    for v in (0..n).rev() {
        if to_output[v] {
            (0..v).filter(|&u| matrix[u][v] == 1).for_each(|u| to_output[u] = true);
        }
    }
    let keep: Vec<usize> = (0..n).filter(|&v| from_input[v] && to_output[v]).collect();
    // the input reaches the output exactly when both survive (then keep has ≥ 2 vertices)
    if keep.len() < 2 {
        return None;
    }
    let matrix = keep.iter().map(|&i| keep.iter().map(|&j| matrix[i][j]).collect()).collect();
    Some(Cell { matrix, ops: keep.iter().map(|&v| ops[v]).collect() })
}

impl Cell {
    pub fn vertices(&self) -> usize {
        self.ops.len()
    }

    pub fn edges(&self) -> usize {
        self.matrix.iter().flatten().map(|&v| v as usize).sum()
    }

    pub fn edge(&self, from: usize, to: usize) -> bool {
        self.matrix[from][to] == 1
    }

    /// `api.NASBench._check_spec` on a pruned cell.
    pub fn in_domain(&self) -> bool {
        let n = self.vertices();
        n <= MAX_VERTICES
            && self.edges() <= MAX_EDGES
            && self.ops[0] == Op::Input
            && self.ops[n - 1] == Op::Output
            && self.ops[1..n - 1].iter().all(|op| AVAILABLE_OPS.contains(op))
    }

    /// The benchmark's isomorphism-invariant module hash (see [`super::hash`]).
    pub fn module_hash(&self) -> String {
        super::hash::hash_module(&self.matrix, &self.ops.iter().map(|op| op.hash_label()).collect::<Vec<_>>())
    }

    /// How many interior vertices carry each operation, in [`AVAILABLE_OPS`] order.
    pub fn op_counts(&self) -> [usize; 3] {
        let mut counts = [0; 3];
        for op in &self.ops {
            if let Some(i) = AVAILABLE_OPS.iter().position(|a| a == op) {
                counts[i] += 1;
            }
        }
        counts
    }

    /// `module_adjacency` as JSON: a list of lists of 0/1.
    pub fn adjacency_json(&self) -> String {
        serde_json::to_string(&self.matrix).unwrap_or_default()
    }

    /// `module_operations` as JSON: the operation names, `input` first and `output` last.
    pub fn operations_json(&self) -> String {
        serde_json::to_string(&self.ops.iter().map(|op| op.name()).collect::<Vec<_>>()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_matrices_are_refused_by_name() {
        let ops = vec![Op::Input, Op::Conv3x3, Op::Output];
        let lower = vec![vec![0, 1, 0], vec![1, 0, 1], vec![0, 0, 0]];
        assert_eq!(ModelSpec::new(lower, ops.clone()), Err(SpecError::NotUpperTriangular(1, 0)));
        let diagonal = vec![vec![1, 1, 0], vec![0, 0, 1], vec![0, 0, 0]];
        assert_eq!(ModelSpec::new(diagonal, ops.clone()), Err(SpecError::NotUpperTriangular(0, 0)));
        let two = vec![vec![0, 2, 0], vec![0, 0, 1], vec![0, 0, 0]];
        assert_eq!(ModelSpec::new(two, ops.clone()), Err(SpecError::NotBinary(0, 1, 2)));
        assert!(matches!(ModelSpec::new(vec![vec![0, 1], vec![0, 0]], ops), Err(SpecError::Shape { .. })));
    }

    #[test]
    fn op_names_round_trip() {
        for op in [Op::Input, Op::Conv3x3, Op::Conv1x1, Op::MaxPool3x3, Op::Output] {
            assert_eq!(Op::parse(op.name()), Some(op));
        }
        assert_eq!(Op::parse("identity"), None);
    }
}
