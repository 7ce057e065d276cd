//! Geometric identities of the path spaces on random layers: midpoints are equidistant,
//! the angle is π for a point on the geodesic, exp(log) round-trips, AIR is invariant to a
//! common congruence, steps sum to the path length.

use std::f64::consts::PI;

use faer::Mat;
use repspace_metrics::Matrix;
use repspace_metrics::paths::{PathCka, PathPoint, PathSpec, analyse_path};

use repspace_metrics::rng::SplitMix64 as Rng;

/// Draws used by these tests.
trait Draw {
    fn layer(&mut self, m: usize, n: usize) -> Matrix;
}

impl Draw for Rng {
    fn layer(&mut self, m: usize, n: usize) -> Matrix {
        let data: Vec<f64> = (0..m * n).map(|_| self.normal()).collect();
        Matrix::from_col_major(m, n, data)
    }
}

fn specs() -> Vec<PathSpec> {
    vec![
        PathSpec::AngularCka { estimator: PathCka::Biased, rbf: false },
        PathSpec::AngularCka { estimator: PathCka::RepsimUnbiased, rbf: true },
        PathSpec::Stress,
        PathSpec::Shape { angular: false },
        PathSpec::Shape { angular: true },
        PathSpec::Air { eps: 0.1 },
    ]
}

fn three(rng: &mut Rng, spec: &PathSpec) -> Vec<PathPoint> {
    (0..3).map(|_| spec.point(&rng.layer(15, 4)).unwrap()).collect()
}

#[test]
fn geodesic_midpoints_are_equidistant() {
    let mut rng = Rng(1);
    for spec in specs() {
        let p = three(&mut rng, &spec);
        let g = spec.geodesic(&p[0], &p[1], 0.5).unwrap();
        let d = spec.distance(&p[0], &p[1]).unwrap();
        let (da, db) = (spec.distance(&p[0], &g).unwrap(), spec.distance(&g, &p[1]).unwrap());
        assert!((da - d / 2.0).abs() < 1e-10 && (db - d / 2.0).abs() < 1e-10, "{spec:?}: {da}, {db} vs {}", d / 2.0);
    }
}

#[test]
fn the_angle_is_pi_for_a_point_on_the_geodesic_between_its_neighbours() {
    let mut rng = Rng(2);
    for spec in specs() {
        let p = three(&mut rng, &spec);
        let on = spec.geodesic(&p[0], &p[1], 0.3).unwrap();
        let angle = spec.angle(&p[0], &on, &p[1]).unwrap();
        assert!((angle - PI).abs() < 1e-6, "{spec:?}: angle {angle}");
        let a = analyse_path(&spec, &[p[0].clone(), on.clone(), p[1].clone()]).unwrap();
        assert!((a.efficiency - 1.0).abs() < 1e-10, "{spec:?}: a geodesic path has efficiency 1");
        assert!((a.projection_t[1] - 0.3).abs() < 1e-6, "{spec:?}: projects to its own t: {}", a.projection_t[1]);
        assert!(a.distance_to_geodesic[1] < 1e-6);
    }
}

#[test]
fn exp_of_log_round_trips() {
    let mut rng = Rng(3);
    for spec in specs() {
        let p = three(&mut rng, &spec);
        let back = spec.exp(&p[0], spec.log(&p[0], &p[1]).unwrap().as_ref()).unwrap();
        // arccos(1 − ε) ≈ √(2ε): a round trip exact to 1e-16 reads as ~1e-8 here (§6.3)
        assert!(spec.distance(&back, &p[1]).unwrap() < 1e-7, "{spec:?}");
        let w = spec.log(&p[0], &p[1]).unwrap();
        let len = spec.inner(&p[0], w.as_ref(), w.as_ref()).unwrap().sqrt();
        assert!((len - spec.distance(&p[0], &p[1]).unwrap()).abs() < 1e-8, "{spec:?}: |log| = d");
    }
}

#[test]
fn air_is_invariant_to_a_common_congruence() {
    let mut rng = Rng(4);
    let spec = PathSpec::Air { eps: 0.1 };
    let p = three(&mut rng, &spec);
    let g = Mat::from_fn(15, 15, |i, j| if i == j { 2.0 } else { 0.0 } + 0.2 * rng.normal());
    let moved =
        |q: &PathPoint| PathPoint::from_matrix(Matrix::from_faer((&g * q.matrix().view() * g.transpose()).as_ref()));
    let (before, after) = (spec.distance(&p[0], &p[1]).unwrap(), spec.distance(&moved(&p[0]), &moved(&p[1])).unwrap());
    assert!((before - after).abs() < 1e-8, "{before} vs {after}");
}

#[test]
fn steps_sum_to_the_path_length() {
    let mut rng = Rng(5);
    for spec in specs() {
        let layers: Vec<PathPoint> = (0..5).map(|k| spec.point(&rng.layer(15, 3 + k)).unwrap()).collect();
        let a = analyse_path(&spec, &layers).unwrap();
        let sum: f64 = a.steps.iter().sum();
        assert!((sum - a.path_length).abs() < 1e-12);
        assert!((a.cumulative[4] - a.path_length).abs() < 1e-12);
        assert!(a.efficiency > 0.0 && a.efficiency <= 1.0 + 1e-12, "{spec:?}: efficiency {}", a.efficiency);
        assert!(a.direct_distance <= a.path_length + 1e-12, "triangle inequality along the path");
        assert!(a.angles[0].is_none() && a.angles[4].is_none() && a.angles[2].is_some());
    }
}

/// Layers with fewer stimuli than units are handled in sample space (m × m and m × 2m
/// problems); the results equal the d × d definitions: distances Σσ(aᵀb), and the projection
/// onto the geodesic found by brute force over the full-space geodesic (b aligned by the
/// d × d SVD of aᵀb).
#[test]
fn wide_layers_in_sample_space_match_the_full_space_definitions() {
    let mut rng = Rng(21);
    let (m, d) = (12, 40);
    for angular in [true, false] {
        let spec = PathSpec::Shape { angular };
        let layers: Vec<PathPoint> = (0..5).map(|_| spec.point(&rng.layer(m, d)).unwrap()).collect();
        let full = |p: &PathPoint| p.matrix().to_faer();
        let nuclear =
            |a: &Mat<f64>, b: &Mat<f64>| -> f64 { (a.transpose() * b).singular_values().unwrap().iter().sum() };
        let dist = |a: &Mat<f64>, b: &Mat<f64>| {
            let n = nuclear(a, b);
            if angular {
                n.clamp(-1.0, 1.0).acos()
            } else {
                (a.squared_norm_l2() + b.squared_norm_l2() - 2.0 * n).max(0.0).sqrt()
            }
        };
        let analysis = analyse_path(&spec, &layers).unwrap();
        for i in 0..5 {
            for j in (i + 1)..5 {
                let want = dist(&full(&layers[i]), &full(&layers[j]));
                assert!((analysis.distances[i][j] - want).abs() < 1e-10, "angular {angular} ({i}, {j})");
            }
        }
        // the full-space geodesic from the first to the last layer, and c = layer 2 against it
        let (a, b, c) = (full(&layers[0]), full(&layers[4]), full(&layers[2]));
        let svd = (a.transpose() * &b).svd().unwrap();
        let b2 = &b * svd.V() * svd.U().transpose();
        let theta =
            (0..m).flat_map(|i| (0..d).map(move |j| (i, j))).map(|(i, j)| a[(i, j)] * b2[(i, j)]).sum::<f64>().acos();
        let gamma = |t: f64| -> Mat<f64> {
            if angular {
                (&a * ((1.0 - t) * theta).sin() + &b2 * (t * theta).sin()) * (1.0 / theta.sin())
            } else {
                &a * (1.0 - t) + &b2 * t
            }
        };
        let (mut best_t, mut best) = (0.0, f64::INFINITY);
        for k in 0..=4000 {
            let t = -0.5 + 2.0 * k as f64 / 4000.0;
            let v = dist(&c, &gamma(t));
            if v < best {
                (best_t, best) = (t, v);
            }
        }
        assert!(
            (analysis.distance_to_geodesic[2] - best).abs() < 1e-6,
            "angular {angular}: {} vs {best}",
            analysis.distance_to_geodesic[2]
        );
        assert!(
            analysis.distance_to_geodesic[2] <= best + 1e-12,
            "the search finds the minimum the grid sees, or better"
        );
        assert!(
            (analysis.projection_t[2] - best_t).abs() < 1e-3,
            "angular {angular}: t {} vs {best_t}",
            analysis.projection_t[2]
        );
        // finer: the full-space distance around the returned t* is smallest within 1e-5 of it
        let t_star = analysis.projection_t[2];
        let (mut fine_t, mut fine) = (t_star, f64::INFINITY);
        for k in 0..=2000 {
            let t = t_star - 1e-3 + 2e-3 * k as f64 / 2000.0;
            let v = dist(&c, &gamma(t));
            if v < fine {
                (fine_t, fine) = (t, v);
            }
        }
        assert!((fine_t - t_star).abs() < 1e-5, "angular {angular}: t* {t_star}, the finer scan's minimum at {fine_t}");
    }
}

/// The AIR projection (one factorisation of its three points, then the slope's root) is the
/// minimum of the composition of the definitions, `distance(c, geodesic(a, b, t))`: its
/// distance is that composition's value at t*, and the composition is larger on either side.
#[test]
fn air_projection_is_the_minimum_of_distance_along_the_geodesic() {
    let mut rng = Rng(31);
    let spec = PathSpec::Air { eps: 0.1 };
    for _ in 0..4 {
        let p: Vec<PathPoint> = (0..3).map(|_| spec.point(&rng.layer(12, 20)).unwrap()).collect();
        let (t, d) = spec.project(&p[0], &p[1], &p[2]).unwrap();
        let along = |t: f64| spec.distance(&p[2], &spec.geodesic(&p[0], &p[1], t).unwrap()).unwrap();
        assert!((d - along(t)).abs() < 1e-10 * d.max(1.0), "{d} vs {}", along(t));
        for h in [1e-3, 1e-2] {
            assert!(along(t - h) > d && along(t + h) > d, "t* = {t} is a minimum (h = {h})");
        }
    }
}

/// Wide shape layers: a path's angles (from the layers' m × m factors) equal `angle` on the
/// points, and its projections equal `project` on the points.
#[test]
fn wide_shape_angles_and_projections_match_the_pointwise_definitions() {
    let mut rng = Rng(32);
    for angular in [true, false] {
        let spec = PathSpec::Shape { angular };
        let layers: Vec<PathPoint> = (0..5).map(|_| spec.point(&rng.layer(10, 30)).unwrap()).collect();
        let a = analyse_path(&spec, &layers).unwrap();
        for k in 1..4 {
            let want = spec.angle(&layers[k - 1], &layers[k], &layers[k + 1]).unwrap();
            assert!((a.angles[k].unwrap() - want).abs() < 1e-10, "angular {angular}: angle {k}");
            let (t, d) = spec.project(&layers[0], &layers[4], &layers[k]).unwrap();
            assert!((a.projection_t[k] - t).abs() < 1e-10 && (a.distance_to_geodesic[k] - d).abs() < 1e-10);
        }
    }
}
