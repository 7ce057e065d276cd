//! A metric's identity across runs. A stored row is reused only when its metric fingerprint
//! and both content hashes match, so the fingerprint must change exactly when the numbers
//! would: with the metric's kind, parameters and precision, never with its name, and never
//! with how the Rust types happen to be spelled.
//!
//! The fingerprint is FNV-1a 64 (hex) of a *canonical text* written out here field by field.
//! Version 1 of that text is the one repspace 0.1 wrote (it coincided with the types' derived
//! `Debug` then); it is frozen: renaming a field or variant in `MetricSpec` or `PathSpec`
//! does not change it, and the unit tests below pin it with literal strings. A change to
//! the text is a new [`FINGERPRINT_VERSION`], and [`metric_fingerprints`] lists every
//! version's value so rows written under earlier versions stay reusable.

use repspace_metrics::cca::Keep;
use repspace_metrics::knn::KnnVariant;
use repspace_metrics::paths::{PathCka, PathSpec};
use repspace_metrics::ridge::{RidgeDirection, RidgeParams};
use repspace_metrics::rsa::{Noise, Rdm, RdmComparison};
use repspace_metrics::{CkaEstimator, Kernel, LengthScale, MetricSpec, Precision, Score, Whitening};

/// The version of the canonical text that new rows carry.
pub const FINGERPRINT_VERSION: u32 = 1;

/// A short stable hash of a text (FNV-1a 64, hex).
pub fn fnv_hex(text: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

/// The fingerprint new rows of this metric carry (version [`FINGERPRINT_VERSION`]).
pub fn metric_fingerprint(spec: &MetricSpec, precision: Precision) -> String {
    let text = canonical_metric_v1(spec);
    match precision {
        // f64 was the only precision when version 1 was written: its text has no suffix
        Precision::F64 => fnv_hex(&text),
        Precision::F32 => fnv_hex(&format!("{text} precision=f32")),
    }
}

/// Every fingerprint under which a stored row of this metric is valid, newest first.
pub fn metric_fingerprints(spec: &MetricSpec, precision: Precision) -> Vec<String> {
    vec![metric_fingerprint(spec, precision)]
}

/// The fingerprint of a layer-path metric (its within-model `distances` rows and path keys).
pub fn path_fingerprint(spec: &PathSpec) -> String {
    fnv_hex(&format!("path {}", canonical_path_v1(spec)))
}

fn score(s: Score) -> &'static str {
    match s {
        Score::Angular => "Angular",
        Score::Euclidean => "Euclidean",
    }
}

/// Version 1 of a metric's canonical text. f64 values are written in Rust's shortest
/// round-trip form with a decimal point (`1.0`, `0.5`, `1e-7`).
pub fn canonical_metric_v1(spec: &MetricSpec) -> String {
    match *spec {
        MetricSpec::Shape { alpha, score: s, whitening } => {
            let w = match whitening {
                Whitening::Netrep => "Netrep".to_string(),
                Whitening::Relative { rank_tol } => format!("Relative {{ rank_tol: {rank_tol:?} }}"),
            };
            format!("Shape {{ alpha: {alpha:?}, score: {}, whitening: {w} }}", score(s))
        }
        MetricSpec::BiasCorrectedShape { alpha, score: s, moments } => {
            format!("BiasCorrectedShape {{ alpha: {alpha:?}, score: {}, moments: {moments} }}", score(s))
        }
        MetricSpec::Permutation { score: s } => format!("Permutation {{ score: {} }}", score(s)),
        MetricSpec::Cka { estimator, kernel } => {
            let e = match estimator {
                CkaEstimator::Biased => "Biased",
                CkaEstimator::Debiased => "Debiased",
            };
            let k = match kernel {
                Kernel::Linear => "Linear".to_string(),
                Kernel::Rbf { length_scale: LengthScale::Median } => "Rbf { length_scale: Median }".to_string(),
                Kernel::Rbf { length_scale: LengthScale::Fixed(l) } => format!("Rbf {{ length_scale: Fixed({l:?}) }}"),
            };
            format!("Cka {{ estimator: {e}, kernel: {k} }}")
        }
        MetricSpec::ConvShape { alpha, score: s } => format!("ConvShape {{ alpha: {alpha:?}, score: {} }}", score(s)),
        MetricSpec::GaussianStochastic { alpha, max_iter, tol, cov_eps } => format!(
            "GaussianStochastic {{ alpha: {alpha:?}, max_iter: {max_iter}, tol: {tol:?}, cov_eps: {cov_eps:?} }}"
        ),
        MetricSpec::EnergyStochastic { max_iter, tol } => {
            format!("EnergyStochastic {{ max_iter: {max_iter}, tol: {tol:?} }}")
        }
        MetricSpec::Msa { eps } => format!("Msa {{ eps: {eps:?} }}"),
        MetricSpec::Rsa { rdm, comparison } => {
            let r = match rdm {
                Rdm::Euclidean => "Euclidean",
                Rdm::Correlation => "Correlation",
                Rdm::Crossnobis { noise: Noise::Identity } => "Crossnobis { noise: Identity }",
                Rdm::Crossnobis { noise: Noise::ShrinkageDiag } => "Crossnobis { noise: ShrinkageDiag }",
            };
            let c = match comparison {
                RdmComparison::Pearson => "Pearson",
                RdmComparison::Spearman => "Spearman",
                RdmComparison::KendallTauA => "KendallTauA",
                RdmComparison::Cosine => "Cosine",
                RdmComparison::CorrCov => "CorrCov",
                RdmComparison::CosineCov => "CosineCov",
            };
            format!("Rsa {{ rdm: {r}, comparison: {c} }}")
        }
        MetricSpec::Svcca { keep: Keep::Directions(k) } => format!("Svcca {{ keep: Directions({k}) }}"),
        MetricSpec::Svcca { keep: Keep::Variance(v) } => format!("Svcca {{ keep: Variance({v:?}) }}"),
        MetricSpec::Pwcca => "Pwcca".to_string(),
        MetricSpec::Ridge(RidgeParams { folds, alphas, direction }) => {
            let d = match direction {
                RidgeDirection::Forward => "Forward",
                RidgeDirection::Reverse => "Reverse",
                RidgeDirection::Mean => "Mean",
            };
            format!("Ridge {{ folds: {folds}, alphas: {:?}, direction: {d} }}", alphas.as_slice())
        }
        MetricSpec::Knn { variant, k } => {
            let v = match variant {
                KnnVariant::Mutual => "Mutual",
                KnnVariant::Jaccard => "Jaccard",
                KnnVariant::Cknna => "Cknna",
            };
            format!("Knn {{ variant: {v}, k: {k} }}")
        }
        MetricSpec::SoftMatching => "SoftMatching".to_string(),
        MetricSpec::DistanceCorrelation => "DistanceCorrelation".to_string(),
    }
}

/// Version 1 of a path metric's canonical text.
pub fn canonical_path_v1(spec: &PathSpec) -> String {
    match *spec {
        PathSpec::AngularCka { estimator, rbf } => {
            let e = match estimator {
                PathCka::Biased => "Biased",
                PathCka::RepsimUnbiased => "RepsimUnbiased",
            };
            format!("AngularCka {{ estimator: {e}, rbf: {rbf} }}")
        }
        PathSpec::Stress => "Stress".to_string(),
        PathSpec::Shape { angular } => format!("Shape {{ angular: {angular} }}"),
        PathSpec::Air { eps } => format!("Air {{ eps: {eps:?} }}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The frozen version-1 texts, literally: rows written since 0.1 carry their hashes.
    #[test]
    fn version_one_texts_are_frozen() {
        let cases: [(MetricSpec, &str); 9] = [
            (MetricSpec::shape(1.0, Score::Angular), "Shape { alpha: 1.0, score: Angular, whitening: Netrep }"),
            (
                MetricSpec::Shape {
                    alpha: 0.5,
                    score: Score::Euclidean,
                    whitening: Whitening::Relative { rank_tol: 1e-7 },
                },
                "Shape { alpha: 0.5, score: Euclidean, whitening: Relative { rank_tol: 1e-7 } }",
            ),
            (
                MetricSpec::BiasCorrectedShape { alpha: 1.0, score: Score::Angular, moments: 4 },
                "BiasCorrectedShape { alpha: 1.0, score: Angular, moments: 4 }",
            ),
            (MetricSpec::Permutation { score: Score::Angular }, "Permutation { score: Angular }"),
            (MetricSpec::linear_cka(), "Cka { estimator: Biased, kernel: Linear }"),
            (
                MetricSpec::Cka {
                    estimator: CkaEstimator::Debiased,
                    kernel: Kernel::Rbf { length_scale: LengthScale::Fixed(2.0) },
                },
                "Cka { estimator: Debiased, kernel: Rbf { length_scale: Fixed(2.0) } }",
            ),
            (
                MetricSpec::GaussianStochastic { alpha: 1.0, max_iter: 1000, tol: 1e-8, cov_eps: 1e-6 },
                "GaussianStochastic { alpha: 1.0, max_iter: 1000, tol: 1e-8, cov_eps: 1e-6 }",
            ),
            (
                MetricSpec::EnergyStochastic { max_iter: 100, tol: 1e-6 },
                "EnergyStochastic { max_iter: 100, tol: 1e-6 }",
            ),
            (MetricSpec::Msa { eps: 1e-6 }, "Msa { eps: 1e-6 }"),
        ];
        for (spec, text) in cases {
            assert_eq!(canonical_metric_v1(&spec), text);
            assert_eq!(metric_fingerprint(&spec, Precision::F64), fnv_hex(text));
        }
        assert_eq!(
            canonical_metric_v1(&MetricSpec::ConvShape { alpha: 1.0, score: Score::Angular }),
            "ConvShape { alpha: 1.0, score: Angular }"
        );
        assert_eq!(
            canonical_path_v1(&PathSpec::AngularCka { estimator: PathCka::RepsimUnbiased, rbf: true }),
            "AngularCka { estimator: RepsimUnbiased, rbf: true }"
        );
        assert_eq!(canonical_path_v1(&PathSpec::Air { eps: 0.1 }), "Air { eps: 0.1 }");
        assert_eq!(canonical_path_v1(&PathSpec::Shape { angular: false }), "Shape { angular: false }");
        assert_eq!(canonical_path_v1(&PathSpec::Stress), "Stress");
    }

    /// The texts of the measures added after version 1 was frozen (issue 22), pinned the
    /// same way.
    #[test]
    fn measure_texts_are_pinned() {
        let alphas = repspace_metrics::ridge::Alphas::new(&[0.1, 1.0, 10.0]).unwrap();
        let cases: [(MetricSpec, &str); 7] = [
            (
                MetricSpec::Rsa {
                    rdm: Rdm::Crossnobis { noise: Noise::ShrinkageDiag },
                    comparison: RdmComparison::KendallTauA,
                },
                "Rsa { rdm: Crossnobis { noise: ShrinkageDiag }, comparison: KendallTauA }",
            ),
            (MetricSpec::Svcca { keep: Keep::Variance(0.99) }, "Svcca { keep: Variance(0.99) }"),
            (MetricSpec::Pwcca, "Pwcca"),
            (
                MetricSpec::Ridge(RidgeParams { folds: 5, alphas, direction: RidgeDirection::Mean }),
                "Ridge { folds: 5, alphas: [0.1, 1.0, 10.0], direction: Mean }",
            ),
            (MetricSpec::Knn { variant: KnnVariant::Cknna, k: 10 }, "Knn { variant: Cknna, k: 10 }"),
            (MetricSpec::SoftMatching, "SoftMatching"),
            (MetricSpec::DistanceCorrelation, "DistanceCorrelation"),
        ];
        for (spec, text) in cases {
            assert_eq!(canonical_metric_v1(&spec), text);
        }
    }

    #[test]
    fn precision_and_parameters_separate_fingerprints_and_names_do_not_enter() {
        let s = MetricSpec::shape(1.0, Score::Angular);
        assert_ne!(metric_fingerprint(&s, Precision::F64), metric_fingerprint(&s, Precision::F32));
        assert_ne!(
            metric_fingerprint(&s, Precision::F64),
            metric_fingerprint(&MetricSpec::shape(0.5, Score::Angular), Precision::F64)
        );
        // FNV-1a 64 of the empty text is its offset basis
        assert_eq!(fnv_hex(""), "cbf29ce484222325");
    }
}
