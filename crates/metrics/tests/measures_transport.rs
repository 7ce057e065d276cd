//! The soft-matching distance (`repspace_metrics::soft_matching`) against POT 0.9.7's
//! `ot.emd`, and distance correlation (`repspace_metrics::dcor`) against dcor 0.7, on
//! `tests/fixtures/measures/soft_matching_dcor.npz`
//! (scripts/fixtures/transport_dcor_reference.py); and the identities both satisfy.

mod common;

use common::Fixture;
use faer::Mat;
use repspace_metrics::dcor::{PreparedDcor, distance_correlation, distance_correlations};
use repspace_metrics::rng::SplitMix64;
use repspace_metrics::soft_matching::{PreparedUnits, soft_matching_distance, uniform_transport};
use repspace_metrics::{Matrix, MetricError, MetricSpec, Score, compare, max_weight_assignment, prepare_matrix};
use serde_json::Value;

struct Cases {
    json: Value,
    /// (case name, its representations)
    cases: Vec<(String, Vec<Matrix>)>,
}

fn load() -> Cases {
    let fixture = Fixture::load("soft_matching_dcor");
    let cases = fixture.keyed_cases();
    assert_eq!(cases.len(), 2);
    Cases { json: fixture.json, cases }
}

/// Σ_i ‖x_i‖² / N over the units.
fn mean_sq_norm(x: &Matrix) -> f64 {
    x.col_major().iter().map(|v| v * v).sum::<f64>() / x.cols() as f64
}

fn units(xs: &[Matrix]) -> Vec<PreparedUnits> {
    xs.iter().map(|x| PreparedUnits::new(x).expect("prepare")).collect()
}

fn dcors(xs: &[Matrix]) -> Vec<PreparedDcor> {
    xs.iter().map(|x| PreparedDcor::new(x).expect("prepare")).collect()
}

fn permuted_columns(rng: &mut SplitMix64, x: &Matrix) -> Matrix {
    let n = x.cols();
    let mut perm: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        perm.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    Matrix::from_fn(x.rows(), n, |i, j| x.get(i, perm[j]))
}

fn orthogonal(rng: &mut SplitMix64, n: usize) -> Mat<f64> {
    Mat::from_fn(n, n, |_, _| rng.normal()).qr().compute_Q()
}

// ---- soft matching -------------------------------------------------------------------

#[test]
fn soft_matching_matches_pot_on_every_ordered_pair() {
    let Cases { json, cases } = load();
    let (mut worst, mut checked) = (0.0f64, 0);
    for (case, xs) in &cases {
        let prepared = units(xs);
        let want = &json["values"]["soft_matching"][case];
        for i in 0..xs.len() {
            for j in 0..xs.len() {
                let want = want[i][j].as_f64().expect("value");
                let got = soft_matching_distance(&prepared[i], &prepared[j]).expect("pair");
                // POT's costs ‖x‖² + ‖y‖² − 2⟨x, y⟩ carry an absolute rounding of order
                // ε(‖x‖² + ‖y‖²), which the root turns into ~1e-8 at d = 0 (self-pairs, where
                // ours is exactly 0): compare d² relative to 1e-6, plus that rounding
                let scale = mean_sq_norm(&xs[i]) + mean_sq_norm(&xs[j]);
                assert!(
                    (got * got - want * want).abs() <= 1e-6 * want * want + 1e3 * f64::EPSILON * scale,
                    "{case} ({i},{j}): {got} vs POT {want}"
                );
                if i != j {
                    worst = worst.max((got - want).abs() / want);
                }
                checked += 1;
            }
        }
    }
    eprintln!("soft matching: max relative |ours − POT| off the diagonal = {worst:.3e}");
    assert_eq!(checked, 25 + 36);
}

/// min over permutations π of Σ_i ‖x_i − y_π(i)‖², by enumeration.
fn brute_force_permutation(x: &Matrix, y: &Matrix) -> f64 {
    fn rec(c: &[Vec<f64>], i: usize, used: &mut [bool]) -> f64 {
        if i == c.len() {
            return 0.0;
        }
        let mut best = f64::INFINITY;
        for j in 0..c.len() {
            if !used[j] {
                used[j] = true;
                best = best.min(c[i][j] + rec(c, i + 1, used));
                used[j] = false;
            }
        }
        best
    }
    let n = x.cols();
    let c: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| (0..x.rows()).map(|s| (x.get(s, i) - y.get(s, j)).powi(2)).sum()).collect())
        .collect();
    rec(&c, 0, &mut vec![false; n])
}

#[test]
fn equal_widths_give_the_permutation_distance_over_root_n() {
    // tiny widths: every permutation enumerated
    let mut rng = SplitMix64(11);
    for n in 1..=7 {
        for m in [3, 10] {
            let x = rng.normal_matrix(m, n);
            let y = rng.normal_matrix(m, n);
            let got =
                soft_matching_distance(&PreparedUnits::new(&x).unwrap(), &PreparedUnits::new(&y).unwrap()).unwrap();
            let want = (brute_force_permutation(&x, &y) / n as f64).sqrt();
            assert!((got - want).abs() <= 1e-12 * want, "n={n}: {got} vs {want}");
        }
    }
    // the fixture's equal-width pairs, against the best assignment and against netrep's
    // PermutationMetric (euclidean score) on column-centred inputs
    let Cases { cases, .. } = load();
    let spec = MetricSpec::Permutation { score: Score::Euclidean };
    let mut pairs = 0;
    for (_, xs) in &cases {
        for (a, x) in xs.iter().enumerate() {
            for (b, y) in xs.iter().enumerate() {
                // distinct pairs: netrep's √(‖A‖² + ‖B‖² − 2⟨A, B⟩) is only √ε-accurate near 0
                if x.cols() != y.cols() || a == b {
                    continue;
                }
                let n = x.cols();
                let matching = max_weight_assignment((x.view().transpose() * y.view()).as_ref());
                let frob2: f64 = (0..n)
                    .map(|i| (0..x.rows()).map(|s| (x.get(s, i) - y.get(s, matching[i])).powi(2)).sum::<f64>())
                    .sum();
                let got =
                    soft_matching_distance(&PreparedUnits::new(x).unwrap(), &PreparedUnits::new(y).unwrap()).unwrap();
                assert!((got - (frob2 / n as f64).sqrt()).abs() <= 1e-9 * got.max(1e-300));

                let centre = |a: &Matrix| {
                    let mu: Vec<f64> =
                        (0..n).map(|j| (0..a.rows()).map(|s| a.get(s, j)).sum::<f64>() / a.rows() as f64).collect();
                    Matrix::from_fn(a.rows(), n, |s, j| a.get(s, j) - mu[j])
                };
                let (xc, yc) = (centre(x), centre(y));
                let netrep = compare(
                    &spec,
                    &prepare_matrix(&spec, &xc, None).unwrap(),
                    &prepare_matrix(&spec, &yc, None).unwrap(),
                )
                .unwrap()
                .distance;
                let soft = soft_matching_distance(&PreparedUnits::new(&xc).unwrap(), &PreparedUnits::new(&yc).unwrap())
                    .unwrap();
                assert!((soft - netrep / (n as f64).sqrt()).abs() <= 1e-8 * soft.max(1e-6), "{soft} vs {netrep}");
                pairs += 1;
            }
        }
    }
    // s0: widths 50, 64, 50, 64, 57; s1: 12, 20, 17, 12, 20, 9
    assert_eq!(pairs, 8);
}

#[test]
fn soft_matching_is_a_metric_on_the_fixtures() {
    let Cases { cases, .. } = load();
    for (_, xs) in &cases {
        let p = units(xs);
        let r = xs.len();
        let d: Vec<Vec<f64>> =
            (0..r).map(|i| (0..r).map(|j| soft_matching_distance(&p[i], &p[j]).unwrap()).collect()).collect();
        for i in 0..r {
            assert_eq!(d[i][i], 0.0, "identical inputs");
            for j in 0..r {
                assert!((d[i][j] - d[j][i]).abs() <= 1e-12 * d[i][j], "symmetry");
                for k in 0..r {
                    assert!(d[i][k] <= d[i][j] + d[j][k] + 1e-12, "triangle inequality");
                }
            }
        }
    }
}

#[test]
fn units_permuted_or_duplicated_are_at_distance_zero() {
    let Cases { cases, .. } = load();
    let mut rng = SplitMix64(4);
    for (_, xs) in &cases {
        for x in xs {
            let p = PreparedUnits::new(x).unwrap();
            let permuted = PreparedUnits::new(&permuted_columns(&mut rng, x)).unwrap();
            assert_eq!(soft_matching_distance(&p, &permuted).unwrap(), 0.0);
            // every unit twice: each carries its mass to its two copies
            let twice = Matrix::from_fn(x.rows(), 2 * x.cols(), |s, j| x.get(s, j % x.cols()));
            assert_eq!(soft_matching_distance(&p, &PreparedUnits::new(&twice).unwrap()).unwrap(), 0.0);
        }
    }
}

#[test]
fn soft_matching_invariances() {
    let Cases { cases, .. } = load();
    let mut rng = SplitMix64(5);
    for (_, xs) in &cases {
        let m = xs[0].rows();
        let q = orthogonal(&mut rng, m);
        let p = units(xs);
        for i in 0..xs.len() {
            for j in 0..xs.len() {
                let d = soft_matching_distance(&p[i], &p[j]).unwrap();
                // permuting the units of one side
                let permuted = PreparedUnits::new(&permuted_columns(&mut rng, &xs[i])).unwrap();
                let dp = soft_matching_distance(&permuted, &p[j]).unwrap();
                assert!((dp - d).abs() <= 1e-10 * d.max(1.0), "permutation: {dp} vs {d}");
                // an orthogonal map of the stimulus space applied to both
                let (qx, qy) =
                    (Matrix::from_faer((&q * xs[i].view()).as_ref()), Matrix::from_faer((&q * xs[j].view()).as_ref()));
                let dq = soft_matching_distance(&PreparedUnits::new(&qx).unwrap(), &PreparedUnits::new(&qy).unwrap())
                    .unwrap();
                assert!((dq - d).abs() <= 1e-9 * d.max(1.0), "orthogonal: {dq} vs {d}");
                // scaling both by s scales d by s
                let s = 2.5;
                let scale = |x: &Matrix| Matrix::from_fn(x.rows(), x.cols(), |a, b| s * x.get(a, b));
                let ds = soft_matching_distance(
                    &PreparedUnits::new(&scale(&xs[i])).unwrap(),
                    &PreparedUnits::new(&scale(&xs[j])).unwrap(),
                )
                .unwrap();
                assert!((ds - s * d).abs() <= 1e-10 * ds.max(1.0), "scaling: {ds} vs {}", s * d);
            }
        }
    }
}

#[test]
fn wide_layers_are_solved_exactly() {
    // 512 against 512 (the Hungarian case), 384 (L = 1536) and 511 (coprime: L = 261632),
    // checked by the plan's dual certificate
    let mut rng = SplitMix64(99);
    let m = 64;
    let x = rng.normal_matrix(m, 512);
    for ny in [512, 384, 511] {
        let mix = rng.normal_matrix(512, ny);
        let y0 = x.view() * mix.view();
        let noise = rng.normal_matrix(m, ny);
        let y = Matrix::from_fn(m, ny, |i, j| y0[(i, j)] / 20.0 + noise.get(i, j));
        let (px, py) = (PreparedUnits::new(&x).unwrap(), PreparedUnits::new(&y).unwrap());
        let d = soft_matching_distance(&px, &py).unwrap();
        let cost = Mat::from_fn(512, ny, |i, j| (0..m).map(|s| (x.get(s, i) - y.get(s, j)).powi(2)).sum::<f64>());
        let plan = uniform_transport(cost.as_ref()).unwrap();
        assert!((plan.cost.sqrt() - d).abs() <= 1e-10 * d);
        let (mut rows, mut cols) = (vec![0.0; 512], vec![0.0; ny]);
        for &(i, j, mass) in &plan.flows {
            rows[i] += mass;
            cols[j] += mass;
            assert!((plan.u[i] + plan.v[j] - cost[(i, j)]).abs() <= 1e-9 * plan.cost);
        }
        assert!(rows.iter().all(|r| (r * 512.0 - 1.0).abs() < 1e-12));
        assert!(cols.iter().all(|c| (c * ny as f64 - 1.0).abs() < 1e-12));
        let mut violation = 0.0f64;
        for i in 0..512 {
            for j in 0..ny {
                violation = violation.max(plan.u[i] + plan.v[j] - cost[(i, j)]);
            }
        }
        assert!(violation <= 1e-9 * plan.cost, "dual infeasible by {violation}");
        let dual = plan.u.iter().sum::<f64>() / 512.0 + plan.v.iter().sum::<f64>() / ny as f64;
        assert!((dual - plan.cost).abs() <= 1e-9 * plan.cost, "duality gap: {dual} vs {}", plan.cost);
    }
}

#[test]
fn soft_matching_refuses_mismatched_stimuli() {
    let mut rng = SplitMix64(1);
    let (a, b) = (rng.normal_matrix(10, 3), rng.normal_matrix(11, 3));
    assert!(matches!(
        soft_matching_distance(&PreparedUnits::new(&a).unwrap(), &PreparedUnits::new(&b).unwrap()),
        Err(MetricError::SampleCountMismatch { a: 10, b: 11 })
    ));
}

// ---- distance correlation ------------------------------------------------------------

#[test]
fn distance_correlation_matches_dcor_on_every_ordered_pair() {
    let Cases { json, cases } = load();
    let (mut worst, mut checked) = (0.0f64, 0);
    for (case, xs) in &cases {
        let prepared = dcors(xs);
        let want = &json["values"]["distance_correlation"][case];
        for i in 0..xs.len() {
            for j in 0..xs.len() {
                let want = want[i][j].as_f64().expect("value");
                let got = distance_correlation(&prepared[i], &prepared[j]).expect("pair");
                assert!((got - want).abs() <= 1e-10, "{case} ({i},{j}): {got} vs dcor {want}");
                worst = worst.max((got - want).abs());
                checked += 1;
            }
        }
    }
    eprintln!("distance correlation: max |ours − dcor| = {worst:.3e}");
    assert_eq!(checked, 25 + 36);
}

#[test]
fn the_batched_form_gives_the_pairwise_values() {
    let Cases { cases, .. } = load();
    for (_, xs) in &cases {
        let p = dcors(xs);
        let rows: Vec<&PreparedDcor> = p.iter().take(3).collect();
        let cols: Vec<&PreparedDcor> = p.iter().skip(1).collect();
        let pairs: Vec<(usize, usize)> = (0..rows.len())
            .flat_map(|r| (0..cols.len()).map(move |c| (r, c)))
            .filter(|(r, c)| (r + c) % 3 != 1)
            .collect();
        let batched = distance_correlations(&rows, &cols, &pairs).unwrap();
        assert_eq!(batched.len(), pairs.len());
        for (&(r, c), got) in pairs.iter().zip(&batched) {
            let want = distance_correlation(rows[r], cols[c]).unwrap();
            assert!((got - want).abs() <= 1e-13, "({r},{c}): {got} vs {want}");
        }
        assert!(matches!(distance_correlations(&rows, &cols, &[(3, 0)]), Err(MetricError::Parameter { .. })));
    }
}

#[test]
fn distance_correlation_is_symmetric_bounded_and_one_for_identical_inputs() {
    let Cases { cases, .. } = load();
    for (_, xs) in &cases {
        let p = dcors(xs);
        for i in 0..xs.len() {
            assert!((distance_correlation(&p[i], &p[i]).unwrap() - 1.0).abs() <= 1e-14);
            for j in 0..xs.len() {
                let d = distance_correlation(&p[i], &p[j]).unwrap();
                assert_eq!(d, distance_correlation(&p[j], &p[i]).unwrap());
                assert!((0.0..=1.0 + 1e-15).contains(&d));
            }
        }
    }
}

#[test]
fn distance_correlation_invariances() {
    // orthogonal maps, permutations and translations of the units, isotropic scaling
    let Cases { cases, .. } = load();
    let mut rng = SplitMix64(6);
    for (_, xs) in &cases {
        let p = dcors(xs);
        for (i, x) in xs.iter().enumerate() {
            let n = x.cols();
            let q = orthogonal(&mut rng, n);
            let xq = x.view() * &q;
            let shift: Vec<f64> = (0..n).map(|_| 10.0 * rng.normal()).collect();
            let moved = permuted_columns(&mut rng, &Matrix::from_fn(x.rows(), n, |s, j| 3.5 * (xq[(s, j)] + shift[j])));
            let pm = PreparedDcor::new(&moved).unwrap();
            for (j, other) in p.iter().enumerate() {
                let before = distance_correlation(&p[i], other).unwrap();
                let after = distance_correlation(&pm, other).unwrap();
                assert!((before - after).abs() <= 1e-10, "({i},{j}): {before} vs {after}");
            }
        }
    }
}

#[test]
fn distance_correlation_edge_cases() {
    let mut rng = SplitMix64(7);
    let x = rng.normal_matrix(9, 3);
    // all stimuli equal: dVar = 0, and dcor returns 0
    let constant = Matrix::from_fn(9, 2, |_, j| j as f64);
    let (px, pc) = (PreparedDcor::new(&x).unwrap(), PreparedDcor::new(&constant).unwrap());
    assert_eq!(pc.distance_variance_sqr(), 0.0);
    assert_eq!(distance_correlation(&px, &pc).unwrap(), 0.0);
    // dcor's documented example: a 4 × 4 matrix against a column
    let a = Matrix::from_row_major(4, 4, &(1..=16).map(f64::from).collect::<Vec<_>>());
    let b = Matrix::from_row_major(4, 1, &[1.0, 0.0, 0.0, 1.0]);
    let d = distance_correlation(&PreparedDcor::new(&a).unwrap(), &PreparedDcor::new(&b).unwrap()).unwrap();
    // `dcor.distance_correlation_sqr(a, b)` is 0.2773500...: d² within its printed digits
    assert!((d * d - 0.27735).abs() < 1e-6, "{}", d * d);
    let y = rng.normal_matrix(10, 3);
    assert!(matches!(
        distance_correlation(&px, &PreparedDcor::new(&y).unwrap()),
        Err(MetricError::SampleCountMismatch { a: 9, b: 10 })
    ));
}
