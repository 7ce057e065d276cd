//! Every measure's [`Properties`] (the `measures` table) checked on numbers: each claimed
//! invariance holds when either representation is transformed, each disclaimed one fails
//! for a generic transformation of that kind, symmetry is what is claimed, and a claimed
//! metric satisfies d(x, x) = 0 and the triangle inequality on random triples.
//!
//! Inputs are low-rank signal plus noise (a zoo's representations share a few directions),
//! [stimuli, units] or [conditions, repeats, units] or [images, h, w, channels], transformed
//! along their last axis (units).

use faer::Mat;
use repspace_metrics::cca::Keep;
use repspace_metrics::knn::KnnVariant;
use repspace_metrics::ridge::{Alphas, RidgeDirection, RidgeParams};
use repspace_metrics::rng::SplitMix64 as Rng;
use repspace_metrics::rsa::{Noise, Rdm, RdmComparison};
use repspace_metrics::{CkaEstimator, Kernel, LengthScale, MetricSpec, Score, Tensor, Whitening, compare, prepare};

const UNITS: usize = 6;

/// The value a measure reports: its similarity when it has one, else its distance.
fn value(spec: &MetricSpec, x: &Tensor, y: &Tensor) -> f64 {
    let (a, b) = (prepare(spec, x, None), prepare(spec, y, None));
    let score = compare(spec, &a.expect("prepare x"), &b.expect("prepare y")).expect("compare");
    score.similarity.unwrap_or(score.distance)
}

/// Apply `f` to each unit vector (the last axis) of `x`.
fn map_units(x: &Tensor, f: impl Fn(&[f64]) -> Vec<f64>) -> Tensor {
    let n = *x.shape().last().unwrap();
    Tensor::new(x.shape().to_vec(), x.data().chunks(n).flat_map(f).collect())
}

fn times(x: &Tensor, m: &Mat<f64>) -> Tensor {
    map_units(x, |row| (0..m.ncols()).map(|j| (0..row.len()).map(|k| row[k] * m[(k, j)]).sum()).collect())
}

struct Transforms {
    ortho: Mat<f64>,
    /// Invertible, far from orthogonal (condition number ~ 30).
    linear: Mat<f64>,
    permutation: Vec<usize>,
    shift: Vec<f64>,
}

impl Transforms {
    fn draw(rng: &mut Rng) -> Transforms {
        let ortho = Mat::from_fn(UNITS, UNITS, |_, _| rng.normal()).qr().compute_Q();
        let other = Mat::from_fn(UNITS, UNITS, |_, _| rng.normal()).qr().compute_Q();
        let diag =
            Mat::from_fn(UNITS, UNITS, |i, j| if i == j { 30f64.powf(i as f64 / (UNITS - 1) as f64) } else { 0.0 });
        let linear = &ortho * &diag * &other;
        let permutation = vec![3, 0, 5, 1, 4, 2];
        let shift = (0..UNITS).map(|_| 4.0 * rng.normal()).collect();
        Transforms { ortho, linear, permutation, shift }
    }

    /// (name, claimed by `p`, the transformation).
    fn all(&self, spec: &MetricSpec) -> Vec<(&'static str, bool, Box<dyn Fn(&Tensor) -> Tensor + '_>)> {
        let p = spec.properties();
        vec![
            ("orthogonal", p.ortho, Box::new(|x| times(x, &self.ortho))),
            (
                "isotropic scaling",
                p.isotropic_scaling,
                Box::new(|x| map_units(x, |r| r.iter().map(|v| 3.7 * v).collect())),
            ),
            ("invertible linear", p.invertible_linear, Box::new(|x| times(x, &self.linear))),
            (
                "permutation",
                p.permutation,
                Box::new(|x| map_units(x, |r| self.permutation.iter().map(|&k| r[k]).collect())),
            ),
            (
                "translation",
                p.translation,
                Box::new(|x| map_units(x, |r| r.iter().zip(&self.shift).map(|(v, s)| v + s).collect())),
            ),
        ]
    }
}

/// A representation of `shape` (last axis = units): a 3-dimensional signal shared through
/// `mix`, its own readout, plus noise.
fn representation(rng: &mut Rng, signal: &[f64], shape: &[usize], noise: f64) -> Tensor {
    let rows: usize = shape[..shape.len() - 1].iter().product();
    let readout: Vec<f64> = (0..3 * UNITS).map(|_| rng.normal()).collect();
    let data = (0..rows)
        .flat_map(|i| (0..UNITS).map(move |j| (i, j)))
        .map(|(i, j)| (0..3).map(|k| signal[i * 3 + k] * readout[k * UNITS + j]).sum::<f64>() + noise * rng.normal())
        .collect();
    Tensor::new(shape.to_vec(), data)
}

fn specs() -> Vec<(MetricSpec, Vec<usize>)> {
    let m = vec![40, UNITS];
    let trials = vec![12, 4, UNITS];
    let rsa = |rdm, comparison| MetricSpec::Rsa { rdm, comparison };
    let ridge = |direction| {
        MetricSpec::Ridge(RidgeParams { folds: 4, alphas: Alphas::new(&[0.1, 1.0, 10.0]).unwrap(), direction })
    };
    let mut out = vec![
        (MetricSpec::shape(1.0, Score::Angular), m.clone()),
        (MetricSpec::shape(0.5, Score::Angular), m.clone()),
        (MetricSpec::shape(0.0, Score::Angular), m.clone()),
        (MetricSpec::shape(1.0, Score::Euclidean), m.clone()),
        (
            MetricSpec::Shape { alpha: 0.5, score: Score::Angular, whitening: Whitening::Relative { rank_tol: 1e-7 } },
            m.clone(),
        ),
        (MetricSpec::BiasCorrectedShape { alpha: 1.0, score: Score::Angular, moments: 4 }, m.clone()),
        (MetricSpec::Permutation { score: Score::Angular }, m.clone()),
        (MetricSpec::linear_cka(), m.clone()),
        (MetricSpec::Cka { estimator: CkaEstimator::Debiased, kernel: Kernel::Linear }, m.clone()),
        (
            MetricSpec::Cka {
                estimator: CkaEstimator::Biased,
                kernel: Kernel::Rbf { length_scale: LengthScale::Median },
            },
            m.clone(),
        ),
        (MetricSpec::ConvShape { alpha: 1.0, score: Score::Angular }, vec![10, 3, 3, UNITS]),
        (MetricSpec::GaussianStochastic { alpha: 1.0, max_iter: 1000, tol: 1e-10, cov_eps: 1e-6 }, trials.clone()),
        (MetricSpec::EnergyStochastic { max_iter: 200, tol: 1e-10 }, trials.clone()),
        (MetricSpec::Svcca { keep: Keep::Directions(4) }, m.clone()),
        (MetricSpec::Svcca { keep: Keep::Variance(0.99) }, m.clone()),
        (MetricSpec::Pwcca, m.clone()),
        (ridge(RidgeDirection::Forward), m.clone()),
        (ridge(RidgeDirection::Reverse), m.clone()),
        (ridge(RidgeDirection::Mean), m.clone()),
        (MetricSpec::Knn { variant: KnnVariant::Mutual, k: 5 }, m.clone()),
        (MetricSpec::Knn { variant: KnnVariant::Jaccard, k: 5 }, m.clone()),
        (MetricSpec::Knn { variant: KnnVariant::Cknna, k: 5 }, m.clone()),
        (MetricSpec::SoftMatching, m.clone()),
        (MetricSpec::DistanceCorrelation, m.clone()),
        (rsa(Rdm::Correlation, RdmComparison::Pearson), m.clone()),
        (rsa(Rdm::Crossnobis { noise: Noise::Identity }, RdmComparison::Pearson), trials.clone()),
        (rsa(Rdm::Crossnobis { noise: Noise::ShrinkageDiag }, RdmComparison::Cosine), trials.clone()),
    ];
    for comparison in [
        RdmComparison::Pearson,
        RdmComparison::Spearman,
        RdmComparison::KendallTauA,
        RdmComparison::Cosine,
        RdmComparison::CorrCov,
        RdmComparison::CosineCov,
    ] {
        out.push((rsa(Rdm::Euclidean, comparison), m.clone()));
    }
    out
}

#[test]
fn claimed_invariances_hold_and_disclaimed_ones_do_not() {
    let mut rng = Rng(22);
    let transforms = Transforms::draw(&mut rng);
    let mut wrong = Vec::new();
    for (spec, shape) in specs() {
        let rows: usize = shape[..shape.len() - 1].iter().product();
        let signal: Vec<f64> = (0..rows * 3).map(|_| rng.normal()).collect();
        let x = representation(&mut rng, &signal, &shape, 0.5);
        let y = representation(&mut rng, &signal, &shape, 0.5);
        let v = value(&spec, &x, &y);
        for (name, claimed, transform) in transforms.all(&spec) {
            let (tx, ty) = (value(&spec, &transform(&x), &y), value(&spec, &x, &transform(&y)));
            let change = (tx - v).abs().max((ty - v).abs());
            let tolerance = 1e-8 * (1.0 + v.abs());
            if claimed && change > tolerance {
                wrong.push(format!("{spec:?}: claims {name} invariance, but the value moved {change:.2e} (from {v})"));
            }
            if !claimed && change <= 1e-6 {
                wrong.push(format!(
                    "{spec:?}: disclaims {name} invariance, but a generic one moved it only {change:.2e}"
                ));
            }
        }
        let swapped = value(&spec, &y, &x);
        let symmetric = (swapped - v).abs() <= 1e-9 * (1.0 + v.abs());
        if symmetric != spec.properties().symmetric {
            wrong.push(format!(
                "{spec:?}: claims symmetric = {}, but (a, b) = {v} and (b, a) = {swapped}",
                spec.properties().symmetric
            ));
        }
    }
    assert!(wrong.is_empty(), "{} wrong claims:\n{}", wrong.len(), wrong.join("\n"));
}

#[test]
fn claimed_metrics_vanish_on_equal_inputs_and_satisfy_the_triangle_inequality() {
    let mut rng = Rng(7);
    for (spec, shape) in specs().into_iter().filter(|(s, _)| s.properties().is_metric) {
        let rows: usize = shape[..shape.len() - 1].iter().product();
        let signal: Vec<f64> = (0..rows * 3).map(|_| rng.normal()).collect();
        let d = |a: &Tensor, b: &Tensor| {
            let (pa, pb) = (prepare(&spec, a, None).unwrap(), prepare(&spec, b, None).unwrap());
            compare(&spec, &pa, &pb).unwrap().distance
        };
        for _ in 0..4 {
            let xs: Vec<Tensor> = (0..3).map(|_| representation(&mut rng, &signal, &shape, 0.8)).collect();
            assert!(d(&xs[0], &xs[0]).abs() < 1e-6, "{spec:?}: d(x, x) = {}", d(&xs[0], &xs[0]));
            let (ab, bc, ac) = (d(&xs[0], &xs[1]), d(&xs[1], &xs[2]), d(&xs[0], &xs[2]));
            assert!(ac <= ab + bc + 1e-9, "{spec:?}: triangle inequality fails: {ac} > {ab} + {bc}");
        }
    }
}
