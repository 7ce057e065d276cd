//! Linear assignment (Hungarian algorithm with potentials, O(n³)).

use faer::MatRef;

/// For a square weight matrix W, the permutation π maximising Σ_i W[i, π(i)].
/// Returns π as a vector: row i is matched to column π[i].
pub fn max_weight_assignment(w: MatRef<'_, f64>) -> Vec<usize> {
    let n = w.nrows();
    assert_eq!(n, w.ncols(), "max_weight_assignment needs a square matrix");
    if n == 0 {
        return Vec::new();
    }
    // Minimise cost = −W. Potentials u (rows), v (columns); p[j] = row matched to column j
    // (1-based, 0 = none); the classic shortest-augmenting-path formulation.
    let cost = |i: usize, j: usize| -w[(i - 1, j - 1)];
    let inf = f64::INFINITY;
    let mut u = vec![0.0; n + 1];
    let mut v = vec![0.0; n + 1];
    let mut p = vec![0usize; n + 1];
    let mut way = vec![0usize; n + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0;
        let mut minv = vec![inf; n + 1];
        let mut used = vec![false; n + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = inf;
            let mut j1 = 0;
            for j in 1..=n {
                if !used[j] {
                    let cur = cost(i0, j) - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=n {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut matching = vec![0usize; n];
    for j in 1..=n {
        matching[p[j] - 1] = j - 1;
    }
    matching
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::Mat;

    fn brute_force_best(w: &Mat<f64>) -> f64 {
        fn rec(w: &Mat<f64>, i: usize, used: &mut Vec<bool>) -> f64 {
            if i == w.nrows() {
                return 0.0;
            }
            let mut best = f64::NEG_INFINITY;
            for j in 0..w.ncols() {
                if !used[j] {
                    used[j] = true;
                    best = best.max(w[(i, j)] + rec(w, i + 1, used));
                    used[j] = false;
                }
            }
            best
        }
        rec(w, 0, &mut vec![false; w.ncols()])
    }

    #[test]
    fn matches_brute_force_on_small_matrices() {
        let mut state = 12345u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        };
        for n in 1..=7 {
            for _ in 0..5 {
                let w = Mat::from_fn(n, n, |_, _| next());
                let pi = max_weight_assignment(w.as_ref());
                let mut seen = vec![false; n];
                for &j in &pi {
                    assert!(!seen[j], "not a permutation");
                    seen[j] = true;
                }
                let got: f64 = pi.iter().enumerate().map(|(i, &j)| w[(i, j)]).sum();
                assert!((got - brute_force_best(&w)).abs() < 1e-12, "n={n}: {got} vs brute force");
            }
        }
    }
}
