//! Eigenvalues of symmetric tridiagonal matrices by implicit QL with Wilkinson's shift
//! (Bowdler, Martin, Reinsch & Wilkinson 1968, `tql1`), several problems at once.
//!
//! One QL rotation waits on the last (a chain of a square root and a division), so
//! [`tridiagonal_eigenvalues_interleaved`] advances independent problems a rotation at a time
//! side by side, keeping the core busy; each problem's arithmetic is exactly what it would be
//! alone (tested). The nuclear norm's Gram and bidiagonal paths (`crate::nuclear`) end here.

/// Eigenvalues of the symmetric tridiagonal matrix with diagonal `d` and subdiagonal `e`
/// (`e[i]` couples i and i+1; the last entry is ignored) by implicit QL with Wilkinson's
/// shift, in place in `d`. `None` if an eigenvalue needs more than 60 sweeps.
pub fn tridiagonal_eigenvalues(d: &mut [f64], e: &mut [f64]) -> Option<()> {
    tridiagonal_eigenvalues_interleaved(&mut [(d, e)])[0].then_some(())
}

/// [`tridiagonal_eigenvalues`] of several problems, their rotations interleaved; returns
/// whether each converged.
pub fn tridiagonal_eigenvalues_interleaved(problems: &mut [(&mut [f64], &mut [f64])]) -> Vec<bool> {
    let mut lanes: Vec<Ql<'_>> = problems.iter_mut().map(|(d, e)| Ql::new(d, e)).collect();
    for q in lanes.iter_mut() {
        q.next_sweep();
    }
    // after `next_sweep` every lane is in a sweep or finished
    while !lanes.iter().all(|q| q.finished) {
        // one rotation of every lane in a sweep, until one of them ends its sweep
        let mut all_continue = true;
        while all_continue {
            for q in lanes.iter_mut().filter(|q| q.in_sweep) {
                all_continue &= q.rotate();
            }
        }
        for q in lanes.iter_mut().filter(|q| !q.in_sweep && !q.finished) {
            q.next_sweep();
        }
    }
    lanes.iter().map(|q| !q.failed).collect()
}

/// One implicit-QL problem, advanced a rotation at a time (Bowdler et al. 1968, `tql1`).
struct Ql<'a> {
    d: &'a mut [f64],
    e: &'a mut [f64],
    /// the eigenvalue being found
    l: usize,
    sweeps: usize,
    /// an off-diagonal below ε‖T‖ is dropped: within the absolute error the QL already
    /// makes, and it keeps clusters of tiny eigenvalues from stalling
    floor: f64,
    in_sweep: bool,
    finished: bool,
    failed: bool,
    // the sweep in progress: rotations at i−1, i−2, …, l over the block l..=m
    m: usize,
    i: usize,
    s: f64,
    c: f64,
    p: f64,
    g: f64,
}

impl<'a> Ql<'a> {
    fn new(d: &'a mut [f64], e: &'a mut [f64]) -> Self {
        let n = d.len();
        if n > 0 {
            e[n - 1] = 0.0;
        }
        let norm =
            (0..n).map(|i| d[i].abs() + e[i].abs() + if i > 0 { e[i - 1].abs() } else { 0.0 }).fold(0.0, f64::max);
        let finished = n == 0;
        Ql {
            d,
            e,
            l: 0,
            sweeps: 0,
            floor: f64::EPSILON * norm,
            in_sweep: false,
            finished,
            failed: false,
            m: 0,
            i: 0,
            s: 0.0,
            c: 0.0,
            p: 0.0,
            g: 0.0,
        }
    }

    /// Set up the next sweep, moving past eigenvalues that have converged.
    fn next_sweep(&mut self) {
        let n = self.d.len();
        while self.l < n {
            let l = self.l;
            // the first negligible off-diagonal at or after l splits the matrix
            let mut m = l;
            while m + 1 < n {
                let dd = self.d[m].abs() + self.d[m + 1].abs();
                if self.e[m].abs() <= f64::EPSILON * dd || self.e[m].abs() <= self.floor {
                    break;
                }
                m += 1;
            }
            if m == l {
                self.l += 1;
                self.sweeps = 0;
                continue;
            }
            self.sweeps += 1;
            if self.sweeps > 60 {
                self.failed = true;
                break;
            }
            // Wilkinson shift from the leading 2×2 block
            let mut g = (self.d[l + 1] - self.d[l]) / (2.0 * self.e[l]);
            let r = g.hypot(1.0);
            g = self.d[m] - self.d[l] + self.e[l] / (g + r.copysign(g));
            (self.m, self.i, self.s, self.c, self.p, self.g) = (m, m, 1.0, 1.0, 0.0, g);
            self.in_sweep = true;
            return;
        }
        self.in_sweep = false;
        self.finished = true;
    }

    /// One rotation of the sweep; false when the sweep has ended.
    #[inline(always)]
    fn rotate(&mut self) -> bool {
        let i = self.i - 1;
        let f = self.s * self.e[i];
        let b = self.c * self.e[i];
        let r2 = f * f + self.g * self.g;
        if r2 == 0.0 {
            // the rotation vanished: the matrix split at i+1
            self.e[i + 1] = 0.0;
            self.d[i + 1] -= self.p;
            self.e[self.m] = 0.0;
            self.in_sweep = false;
            return false;
        }
        // one square root and one division per rotation: r = √r2, (s, c) = (f, g)/r
        let inv = 1.0 / r2.sqrt();
        self.e[i + 1] = r2 * inv;
        self.s = f * inv;
        self.c = self.g * inv;
        let gi = self.d[i + 1] - self.p;
        let t = (self.d[i] - gi) * self.s + 2.0 * self.c * b;
        self.p = self.s * t;
        self.d[i + 1] = gi + self.p;
        self.g = self.c * t - b;
        self.i = i;
        if i == self.l {
            self.d[self.l] -= self.p;
            self.e[self.l] = self.g;
            self.e[self.m] = 0.0;
            self.in_sweep = false;
            return false;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    #[test]
    fn tridiagonal_eigenvalues_match_the_closed_form_of_the_second_difference_matrix() {
        // tridiag(-1, 2, -1) of size n has eigenvalues 2 − 2cos(kπ/(n+1)), k = 1..n
        let n = 50;
        let mut d = vec![2.0; n];
        let mut e = vec![-1.0; n];
        tridiagonal_eigenvalues(&mut d, &mut e).expect("converges");
        d.sort_by(f64::total_cmp);
        for (k, got) in d.iter().enumerate() {
            let want = 2.0 - 2.0 * (((k + 1) as f64) * std::f64::consts::PI / (n as f64 + 1.0)).cos();
            assert!((got - want).abs() < 1e-13, "k={k}: {got} vs {want}");
        }
    }

    #[test]
    fn interleaved_problems_give_exactly_the_eigenvalues_of_each_alone() {
        let mut rng = SplitMix64(13);
        let problems: Vec<(Vec<f64>, Vec<f64>)> = (0..7)
            .map(|k| {
                let n = [1, 2, 5, 40, 64, 3, 17][k];
                let d = (0..n).map(|_| rng.normal()).collect();
                // one problem with an exactly split off-diagonal
                let e = (0..n).map(|i| if k == 3 && i == 20 { 0.0 } else { rng.normal() }).collect();
                (d, e)
            })
            .collect();
        let alone: Vec<Vec<f64>> = problems
            .iter()
            .map(|(d, e)| {
                let (mut d, mut e) = (d.clone(), e.clone());
                tridiagonal_eigenvalues(&mut d, &mut e).expect("converges");
                d
            })
            .collect();
        let mut together = problems.clone();
        let mut lanes: Vec<(&mut [f64], &mut [f64])> =
            together.iter_mut().map(|(d, e)| (d.as_mut_slice(), e.as_mut_slice())).collect();
        assert!(tridiagonal_eigenvalues_interleaved(&mut lanes).into_iter().all(|ok| ok));
        for (k, ((d, _), want)) in together.iter().zip(&alone).enumerate() {
            assert_eq!(d, want, "problem {k}");
        }
        // and the eigenvalues are right: trace and Frobenius norm are preserved
        for ((d0, e0), d) in problems.iter().zip(&alone) {
            let n = d0.len();
            let trace: f64 = d0.iter().sum();
            let frob: f64 =
                d0.iter().map(|v| v * v).sum::<f64>() + 2.0 * e0[..n - 1].iter().map(|v| v * v).sum::<f64>();
            assert!((d.iter().sum::<f64>() - trace).abs() < 1e-12 * (1.0 + frob.sqrt()) * n as f64);
            assert!((d.iter().map(|v| v * v).sum::<f64>() - frob).abs() < 1e-12 * frob * n as f64);
        }
    }
}
