//! The soft-matching distance between the units of two representations of the same m
//! stimuli (Khosla & Williams 2023, "Soft matching distance: a metric on neural
//! representations that captures single-neuron tuning"): with x_i (i < N_x) and y_j
//! (j < N_y) the units' raw tuning curves (the columns, not centred),
//!
//!   d(X, Y)² = min over P ≥ 0 with P1 = 1/N_x, Pᵀ1 = 1/N_y of Σ_ij P_ij ‖x_i − y_j‖²,
//!
//! the squared 2-Wasserstein distance between the uniform distributions over the two sets of
//! tuning curves. It equals POT's `ot.emd(ones(N_x)/N_x, ones(N_y)/N_y, M)` with
//! `M = ot.dist(X.T, Y.T, metric='sqeuclidean')`, d = √Σ P∘M (the fixtures: POT 0.9.7). For
//! equal widths N the optimal plan is a permutation over N (Birkhoff), so d equals the
//! permutation distance min_Π ‖X − YΠ‖_F divided by √N; on column-centred inputs that is
//! netrep's PermutationMetric with the euclidean score, / √N.
//!
//! **Solver.** Exact. The masses are scaled to integers, L = lcm(N_x, N_y): each unit of X
//! supplies L/N_x, each unit of Y demands L/N_y, and the transportation problem is solved by
//! successive shortest paths with potentials (u, v) keeping every reduced cost
//! c_ij − u_i − v_j ≥ 0 and every arc that carries flow at 0: for each unit of X in turn,
//! while it has supply left, a Dijkstra search from it over the residual graph (arcs i → j
//! always, j → i where flow runs) finds the nearest unit of Y with demand left, the potentials
//! move by the distances, and the path carries as much as its ends and reverse arcs allow.
//! The search is dense, in the style of the Hungarian method (for N_x = N_y it is the
//! Hungarian method, O(N³)). Integer masses make the flow exact and the solver terminate;
//! the final potentials are an optimal dual solution (returned in [`TransportPlan`], so the
//! optimality of a plan can be checked from its certificate).
//!
//! **Prepare once, pair many.** [`PreparedUnits`] keeps the tuning curves and their squared
//! norms; a pair forms XᵀY (one GEMM), the cost matrix ‖x_i‖² + ‖y_j‖² − 2⟨x_i, y_j⟩ (as
//! POT's `euclidean_distances`, but with entries that cancel badly summed from the
//! differences instead, so never below 0 and exactly 0 for equal curves), and solves the
//! transport problem.
//!
//! **Invariants.** A metric: symmetric, 0 for identical inputs (and for inputs whose units
//! are a permutation, or a duplication, of one another's), invariant under permutations of
//! the units and under orthogonal maps of the stimulus space applied to both (X ↦ QX);
//! scaling both by s scales d by |s|. Not invariant under per-representation translation or
//! scaling.

use faer::MatRef;
use serde::{Deserialize, Serialize};

use crate::{Matrix, MetricError};

/// One representation's units: tuning curves and their squared norms.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PreparedUnits {
    /// The tuning curves as given: stimuli × units (not centred).
    curves: Matrix,
    /// ‖x_i‖² of each unit's tuning curve.
    sq_norms: Vec<f64>,
}

impl PreparedUnits {
    pub fn new(x: &Matrix) -> Result<Self, MetricError> {
        if x.rows() == 0 || x.cols() == 0 {
            return Err(MetricError::TooSmall { rows: x.rows(), cols: x.cols() });
        }
        if !x.is_finite() {
            return Err(MetricError::NotFinite("the representation has non-finite entries".into()));
        }
        let sq_norms = (0..x.cols()).map(|j| x.view().col(j).iter().map(|v| v * v).sum()).collect();
        Ok(PreparedUnits { curves: x.clone(), sq_norms })
    }

    pub fn units(&self) -> usize {
        self.curves.cols()
    }

    pub fn samples(&self) -> usize {
        self.curves.rows()
    }
}

/// d(X, Y) = √(min_P Σ P_ij ‖x_i − y_j‖²) over plans with uniform marginals.
pub fn soft_matching_distance(a: &PreparedUnits, b: &PreparedUnits) -> Result<f64, MetricError> {
    if a.samples() != b.samples() {
        return Err(MetricError::SampleCountMismatch { a: a.samples(), b: b.samples() });
    }
    let plan = solve(&squared_distances(a, b), a.units(), b.units())?;
    Ok(plan.cost.max(0.0).sqrt())
}

/// C_ij = ‖x_i − y_j‖², row-major N_x × N_y: ‖x_i‖² + ‖y_j‖² − 2⟨x_i, y_j⟩ from one GEMM,
/// except where that cancels badly (C_ij < 2⁻¹⁰(‖x_i‖² + ‖y_j‖²), near units), where the
/// entry is summed from the differences, so that identical tuning curves cost exactly 0.
fn squared_distances(a: &PreparedUnits, b: &PreparedUnits) -> Vec<f64> {
    let (x, y) = (a.curves.view(), b.curves.view());
    let cross = x.transpose() * y;
    let (nx, ny) = (a.units(), b.units());
    let mut cost = Vec::with_capacity(nx * ny);
    for i in 0..nx {
        cost.extend((0..ny).map(|j| {
            let scale = a.sq_norms[i] + b.sq_norms[j];
            let c = scale - 2.0 * cross[(i, j)];
            if c < scale / 1024.0 {
                x.col(i).iter().zip(y.col(j).iter()).map(|(p, q)| (p - q) * (p - q)).sum()
            } else {
                c
            }
        }));
    }
    cost
}

/// An optimal plan of the transport problem between uniform marginals, with its dual.
#[derive(Clone, Debug, PartialEq)]
pub struct TransportPlan {
    /// min ⟨P, C⟩.
    pub cost: f64,
    /// The nonzero entries (i, j, P_ij) of the plan; Σ_j P_ij = 1/N_x, Σ_i P_ij = 1/N_y.
    pub flows: Vec<(usize, usize, f64)>,
    /// Dual potentials: u_i + v_j ≤ C_ij for all i, j, with equality where P_ij > 0, and
    /// Σ u_i/N_x + Σ v_j/N_y = cost (up to rounding).
    pub u: Vec<f64>,
    pub v: Vec<f64>,
}

/// The exact optimal transport between the uniform distributions over the rows and the
/// columns of `cost` (N_x × N_y): min ⟨P, C⟩ over P ≥ 0, P1 = 1/N_x, Pᵀ1 = 1/N_y.
pub fn uniform_transport(cost: MatRef<'_, f64>) -> Result<TransportPlan, MetricError> {
    let (nx, ny) = (cost.nrows(), cost.ncols());
    let mut c = Vec::with_capacity(nx * ny);
    for i in 0..nx {
        c.extend((0..ny).map(|j| cost[(i, j)]));
    }
    solve(&c, nx, ny)
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Successive shortest paths on integer masses; `cost` row-major N_x × N_y.
fn solve(cost: &[f64], nx: usize, ny: usize) -> Result<TransportPlan, MetricError> {
    if nx == 0 || ny == 0 {
        return Err(MetricError::TooSmall { rows: nx, cols: ny });
    }
    if cost.iter().any(|c| !c.is_finite()) {
        return Err(MetricError::NotFinite("the transport cost has non-finite entries".into()));
    }
    let g = gcd(nx, ny);
    // L = lcm(N_x, N_y): each source supplies L/N_x = N_y/g, each sink demands N_x/g
    let (supply, demand) = ((ny / g) as u64, (nx / g) as u64);
    let total = supply as f64 * nx as f64;
    let mut solver = Solver::new(cost, nx, ny, supply, demand);
    for s in 0..nx {
        while solver.excess[s] > 0 {
            let (t, distance) = solver.shortest_path(s)?;
            solver.update_potentials(distance);
            solver.augment(s, t);
        }
    }
    let mut flows = Vec::new();
    let mut sum = 0.0;
    for i in 0..nx {
        for j in 0..ny {
            let f = solver.flow[i * ny + j];
            if f > 0 {
                sum += f as f64 * cost[i * ny + j];
                flows.push((i, j, f as f64 / total));
            }
        }
    }
    Ok(TransportPlan { cost: sum / total, flows, u: solver.u, v: solver.v })
}

/// The state of successive shortest paths: potentials, remaining masses, flow, and the
/// scratch of the Dijkstra search.
struct Solver<'c> {
    cost: &'c [f64],
    ny: usize,
    u: Vec<f64>,
    v: Vec<f64>,
    excess: Vec<u64>,
    deficit: Vec<u64>,
    /// flow[i*ny + j]: mass units on arc i → j
    flow: Vec<u64>,
    /// for each sink j, the sources with flow into it (the reverse arcs j → i)
    support: Vec<Vec<usize>>,
    // Dijkstra scratch
    dist_sink: Vec<f64>,
    /// the source whose arc gave `dist_sink`
    way: Vec<usize>,
    dist_source: Vec<f64>,
    /// the sink through whose reverse arc a source was reached
    via: Vec<usize>,
    source_done: Vec<bool>,
    settled_sources: Vec<usize>,
    settled_sinks: Vec<usize>,
    open: Vec<usize>,
}

impl<'c> Solver<'c> {
    fn new(cost: &'c [f64], nx: usize, ny: usize, supply: u64, demand: u64) -> Self {
        // feasible start: v_j = min_i c_ij, u_i = min_j (c_ij − v_j), so c − u − v ≥ 0
        let mut v = vec![f64::INFINITY; ny];
        for i in 0..nx {
            for (vj, &c) in v.iter_mut().zip(&cost[i * ny..(i + 1) * ny]) {
                *vj = vj.min(c);
            }
        }
        let u = (0..nx)
            .map(|i| cost[i * ny..(i + 1) * ny].iter().zip(&v).map(|(c, vj)| c - vj).fold(f64::INFINITY, f64::min))
            .collect();
        Solver {
            cost,
            ny,
            u,
            v,
            excess: vec![supply; nx],
            deficit: vec![demand; ny],
            flow: vec![0; nx * ny],
            support: vec![Vec::new(); ny],
            dist_sink: vec![0.0; ny],
            way: vec![0; ny],
            dist_source: vec![0.0; nx],
            via: vec![0; nx],
            source_done: vec![false; nx],
            settled_sources: Vec::with_capacity(nx),
            settled_sinks: Vec::with_capacity(ny),
            open: Vec::with_capacity(ny),
        }
    }

    /// Dijkstra from source `s` in reduced costs until a sink with demand left is settled;
    /// returns it and its distance.
    fn shortest_path(&mut self, s: usize) -> Result<(usize, f64), MetricError> {
        let ny = self.ny;
        self.dist_sink.fill(f64::INFINITY);
        for &i in &self.settled_sources {
            self.source_done[i] = false;
        }
        self.settled_sources.clear();
        self.settled_sinks.clear();
        self.open.clear();
        self.open.extend(0..ny);
        self.source_done[s] = true;
        self.dist_source[s] = 0.0;
        self.settled_sources.push(s);
        let mut frontier = 0; // settled sources from here on have not relaxed their arcs
        loop {
            while frontier < self.settled_sources.len() {
                let i = self.settled_sources[frontier];
                frontier += 1;
                let (di, ui) = (self.dist_source[i], self.u[i]);
                let row = &self.cost[i * ny..(i + 1) * ny];
                for &j in &self.open {
                    let d = di + row[j] - ui - self.v[j];
                    if d < self.dist_sink[j] {
                        self.dist_sink[j] = d;
                        self.way[j] = i;
                    }
                }
            }
            // the nearest open sink
            let mut best = None;
            let mut best_dist = f64::INFINITY;
            for (p, &j) in self.open.iter().enumerate() {
                if self.dist_sink[j] < best_dist || best.is_none() {
                    best_dist = self.dist_sink[j];
                    best = Some(p);
                }
            }
            let Some(p) = best else {
                return Err(MetricError::Undefined("transport: no sink with demand left is reachable".into()));
            };
            let j = self.open.swap_remove(p);
            self.settled_sinks.push(j);
            if self.deficit[j] > 0 {
                return Ok((j, best_dist));
            }
            // arcs carrying flow have reduced cost 0: their sources are as far as j
            for &i in &self.support[j] {
                if !self.source_done[i] {
                    self.source_done[i] = true;
                    self.dist_source[i] = best_dist;
                    self.via[i] = j;
                    self.settled_sources.push(i);
                }
            }
        }
    }

    /// π ← π + min(dist, D) on the settled nodes, written as u_i += D − d_i, v_j −= D − d_j.
    fn update_potentials(&mut self, distance: f64) {
        for &i in &self.settled_sources {
            self.u[i] += distance - self.dist_source[i];
        }
        for &j in &self.settled_sinks {
            self.v[j] -= distance - self.dist_sink[j];
        }
    }

    /// Send as much as possible from `s` to `t` along the search's path.
    fn augment(&mut self, s: usize, t: usize) {
        let ny = self.ny;
        let mut delta = self.excess[s].min(self.deficit[t]);
        let mut j = t;
        loop {
            let i = self.way[j];
            if i == s {
                break;
            }
            j = self.via[i];
            delta = delta.min(self.flow[i * ny + j]);
        }
        let mut j = t;
        loop {
            let i = self.way[j];
            if self.flow[i * ny + j] == 0 {
                self.support[j].push(i);
            }
            self.flow[i * ny + j] += delta;
            if i == s {
                break;
            }
            let back = self.via[i];
            self.flow[i * ny + back] -= delta;
            if self.flow[i * ny + back] == 0 {
                self.support[back].retain(|&r| r != i);
            }
            j = back;
        }
        self.excess[s] -= delta;
        self.deficit[t] -= delta;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;
    use faer::Mat;

    /// Checks a plan against its certificate: marginals, dual feasibility, equal objectives.
    fn assert_optimal(cost: &Mat<f64>, plan: &TransportPlan) {
        let (nx, ny) = (cost.nrows(), cost.ncols());
        let (mut rows, mut cols) = (vec![0.0; nx], vec![0.0; ny]);
        let mut primal = 0.0;
        let scale = cost.norm_max().max(1.0);
        for &(i, j, p) in &plan.flows {
            assert!(p > 0.0);
            rows[i] += p;
            cols[j] += p;
            primal += p * cost[(i, j)];
            assert!((plan.u[i] + plan.v[j] - cost[(i, j)]).abs() <= 1e-9 * scale, "complementary slackness");
        }
        assert!(rows.iter().all(|r| (r - 1.0 / nx as f64).abs() < 1e-12));
        assert!(cols.iter().all(|c| (c - 1.0 / ny as f64).abs() < 1e-12));
        for i in 0..nx {
            for j in 0..ny {
                assert!(plan.u[i] + plan.v[j] <= cost[(i, j)] + 1e-9 * scale, "dual feasibility at {i},{j}");
            }
        }
        let dual = plan.u.iter().sum::<f64>() / nx as f64 + plan.v.iter().sum::<f64>() / ny as f64;
        assert!((primal - plan.cost).abs() <= 1e-12 * scale);
        assert!((dual - plan.cost).abs() <= 1e-9 * scale, "duality gap {primal} vs {dual}");
    }

    #[test]
    fn plans_come_with_an_optimality_certificate() {
        let mut rng = SplitMix64(77);
        for (nx, ny) in [(1, 1), (1, 5), (5, 1), (3, 3), (4, 6), (6, 4), (7, 11), (12, 8), (30, 45), (45, 30)] {
            for integer in [false, true] {
                // integer costs have many ties (degenerate plans)
                let cost = Mat::from_fn(nx, ny, |_, _| {
                    let c = rng.uniform() * 10.0;
                    if integer { c.floor() } else { c }
                });
                let plan = uniform_transport(cost.as_ref()).expect("plan");
                assert_optimal(&cost, &plan);
            }
        }
    }

    #[test]
    fn equal_widths_give_the_best_assignment() {
        let mut rng = SplitMix64(5);
        for n in 1..=7 {
            let cost = Mat::from_fn(n, n, |_, _| rng.uniform());
            let plan = uniform_transport(cost.as_ref()).expect("plan");
            let matching = crate::max_weight_assignment((-&cost).as_ref());
            let best: f64 = matching.iter().enumerate().map(|(i, &j)| cost[(i, j)]).sum::<f64>() / n as f64;
            assert!((plan.cost - best).abs() < 1e-14, "n={n}: {} vs {best}", plan.cost);
            assert_eq!(plan.flows.len(), n, "a permutation");
        }
    }
}
