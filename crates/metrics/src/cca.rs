//! SVCCA and PWCCA in google/svcca's convention (Raghu, Gilmer, Yosinski & Sohl-Dickstein
//! 2017, arXiv 1706.05806; Morcos, Raghu & Bengio 2018, arXiv 1806.05759), on
//! [stimuli × units] matrices. The reference is google/svcca @ 1f3fbf1 (`cca_core.py`,
//! `pwcca.py`), which takes [neurons × datapoints]: every statement below about its calls is
//! on the transposes of our matrices.
//!
//! **CCA of two subspaces.** With X̃ = X − 1μᵀ centred (m stimuli × n units) and Q_x an
//! orthonormal basis of its columns, the canonical correlations of X and Y are the singular
//! values of Q_xᵀQ_y (the cosines of the principal angles between the column spaces). The
//! reference computes them as the singular values of Σxx^{-½} Σxy Σyy^{-½} from `np.cov`
//! (each block rescaled by its largest entry, which cancels), with Σ^{-½} the square root of
//! `np.linalg.pinv(Σ)`; with X̃ = Z_x H_x its polar decomposition (Z_x = X̃(X̃ᵀX̃)^{-½}
//! orthonormal) that matrix is Z_xᵀZ_y: the same singular values, squaring the condition
//! number on the way. `epsilon = 0` (its default) removes no neuron (`remove_small` keeps
//! |Σ_ii| ≥ 0) and adds nothing to the diagonal, so nothing else happens.
//!
//! **SVCCA** (`get_cca_similarity` after the SVD reduction of google/svcca's tutorial 001):
//! each centred network X̃ = U S Vᵀ is reduced to its top k directions U_k S_k, and the
//! similarity is the mean of *all* min(k_x, k_y) CCA coefficients (`np.mean(cca_coef1)`),
//! i.e. mean σ(U_{x,k}ᵀ U_{y,k}). The dict's `"mean"` key is something else: the mean of the
//! coefficients up to its `threshold = 0.98` share of their sum. Which k:
//! - [`Keep::Directions`]`(k)`: min(k, units) directions, as the tutorial's slicing `V[:k]`
//!   keeps at most `units` rows. The reference asserts directions < datapoints, so
//!   min(k, units) ≥ stimuli is refused; so is a kept direction the reference's `pinv` would
//!   drop (σ_k² ≤ k·ε·σ_1², its `rtol` on the k × k covariance): the representation has
//!   numerical rank < k.
//! - [`Keep::Variance`]`(v)`: the smallest k with Σ_{i≤k} σ_i² ≥ v·Σ_i σ_i² (σ of the
//!   centred network, largest first), capped at the directions the reference resolves (the
//!   largest k with σ_k² > k·ε·σ_1²) and at stimuli − 1. google/svcca has no such rule;
//!   mklabunde/resi's `top_k_pca_comps` means this one but compares the normalised cumulative
//!   sum with `threshold * total_variance`, which is not it.
//!
//! SVCCA is symmetric, in [0, 1], 1 for identical inputs, and invariant to translation,
//! isotropic scaling, permutations and orthogonal transforms of either network's units (all
//! of which leave U_k unchanged).
//!
//! **PWCCA** (`pwcca.compute_pwcca(x, y, epsilon=0)` on unit-centred data): the CCA
//! coefficients ρ_i of the full networks, weighted by how much of the first network's units
//! lies on each of its canonical variables. The reference's canonical variables are
//! `dirns = u.T @ X̃ᵀ` with u the left singular vectors of Σxx^{-½}ΣxyΣyy^{-½} (it does not
//! apply Σxx^{-½}), orthonormalised by `np.linalg.qr(dirns.T)` *in coefficient order*;
//! weight_i = Σ_units |⟨p_i, x̃_unit⟩|, normalised to sum 1, and the value is Σ w_i ρ_i. In the
//! singular basis of the first network (X̃ = U S Vᵀ, thin): u = V u′ with u′ the left singular
//! vectors of UᵀU_y, so X̃u = U (S u′); QR of the n × n matrix S u′ = Q R gives p = U Q, and the
//! projections of the units are Qᵀ S Vᵀ. QR is unique up to column signs, which the absolute
//! values remove. Conventions:
//! - the narrower network comes first (the reference's other branch indexes the first
//!   network with the second's mask and raises IndexError); with equal widths the given
//!   order is kept, and the weights come from `a`: PWCCA is symmetric except between
//!   networks of equal width;
//! - defined for fewer units than stimuli only (the reference asserts it, and with more
//!   units Σ is singular): [`PreparedPwcca::new`] refuses every other representation with
//!   [`MetricError::Undefined`], as it does centred units that are linearly dependent to
//!   working precision (σ_n² ≤ n·ε·σ_1², where the reference's `pinv` drops a direction);
//! - the data are centred here: the reference adds the means back to `dirns` and weights
//!   with uncentred activations, so on raw data its weights depend on the offsets.
//!
//! PWCCA is in [0, 1], 1 for identical inputs, and invariant to translation, isotropic
//! scaling and unit permutations of either network, and to orthogonal transforms of the
//! second (wider) network's units; not to orthogonal transforms of the first's.

use faer::Mat;
use serde::{Deserialize, Serialize};

use crate::shape::{column_means, subtract_means};
use crate::{Matrix, MetricError};

/// How many SVD directions of each centred network SVCCA keeps.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Keep {
    /// The top min(k, units) directions.
    Directions(usize),
    /// The fewest top directions holding this fraction (0, 1] of Σσ².
    Variance(f64),
}

impl Keep {
    pub fn validate(&self) -> Result<(), MetricError> {
        match *self {
            Keep::Directions(0) => {
                Err(MetricError::Parameter { key: "keep", reason: "SVCCA needs at least 1 direction".into() })
            }
            Keep::Variance(v) if !(v > 0.0 && v <= 1.0) => Err(MetricError::Parameter {
                key: "variance",
                reason: format!("the fraction of variance kept must be in (0, 1], got {v}"),
            }),
            _ => Ok(()),
        }
    }
}

/// One network for SVCCA: an orthonormal basis of its top centred directions.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PreparedSvcca {
    /// U_k: the top k left singular vectors of X̃ (m × k).
    basis: Matrix,
}

impl PreparedSvcca {
    pub fn new(x: &Matrix, keep: Keep) -> Result<Self, MetricError> {
        keep.validate()?;
        let (m, n) = (x.rows(), x.cols());
        let (u, s, _) = centred_svd(x, "SVCCA")?;
        let resolved = resolved_directions(&s);
        let k = match keep {
            Keep::Directions(k) => {
                let k = k.min(n);
                if k >= m {
                    return Err(MetricError::Undefined(format!(
                        "SVCCA keeps {k} directions but there are only {m} stimuli: it needs fewer directions than \
                         stimuli (google/svcca asserts it; centred data have rank at most {})",
                        m - 1
                    )));
                }
                if k > resolved {
                    return Err(MetricError::Undefined(format!(
                        "SVCCA keeps {k} directions but the centred representation resolves only {resolved} \
                         (σ_{k} = {:e} against σ_1 = {:e}: google/svcca's pseudo-inverse drops it)",
                        s[k - 1],
                        s[0]
                    )));
                }
                k
            }
            Keep::Variance(v) => variance_directions(&s, v).min(resolved).min(m - 1),
        };
        if k == 0 {
            return Err(MetricError::Undefined(
                "SVCCA: the representation is constant over the stimuli (no direction of variance)".into(),
            ));
        }
        Ok(PreparedSvcca { basis: Matrix::from_faer(u.as_ref().subcols(0, k)) })
    }

    /// Directions kept.
    pub fn kept(&self) -> usize {
        self.basis.cols()
    }

    pub fn n_samples(&self) -> usize {
        self.basis.rows()
    }
}

/// SVCCA similarity: the mean of the canonical correlations of the kept directions,
/// mean σ(U_aᵀU_b) over min(k_a, k_b) values. Symmetric.
pub fn svcca_similarity(a: &PreparedSvcca, b: &PreparedSvcca) -> Result<f64, MetricError> {
    if a.n_samples() != b.n_samples() {
        return Err(MetricError::SampleCountMismatch { a: a.n_samples(), b: b.n_samples() });
    }
    let rho = (a.basis.view().transpose() * b.basis.view()).singular_values().map_err(|_| MetricError::Svd)?;
    Ok(rho.iter().sum::<f64>() / rho.len() as f64)
}

/// One network for PWCCA: its centred thin SVD X̃ = U S Vᵀ.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PreparedPwcca {
    /// U (m × n), orthonormal.
    basis: Matrix,
    /// σ (n), largest first.
    singular: Vec<f64>,
    /// S Vᵀ (n × n) = UᵀX̃: the units in the basis.
    units: Matrix,
}

impl PreparedPwcca {
    pub fn new(x: &Matrix) -> Result<Self, MetricError> {
        let (m, n) = (x.rows(), x.cols());
        if n >= m {
            return Err(MetricError::Undefined(format!(
                "PWCCA is defined for fewer units than stimuli; this representation has {n} units on {m} stimuli"
            )));
        }
        let (u, s, v) = centred_svd(x, "PWCCA")?;
        if resolved_directions(&s) < n {
            return Err(MetricError::Undefined(format!(
                "PWCCA needs linearly independent centred units: σ_{n} = {:e} against σ_1 = {:e} (google/svcca's \
                 pseudo-inverse drops that direction)",
                s[n - 1],
                s[0]
            )));
        }
        Ok(PreparedPwcca {
            basis: Matrix::from_faer(u.as_ref()),
            units: Matrix::from_fn(n, n, |i, j| s[i] * v[(j, i)]),
            singular: s,
        })
    }

    pub fn units(&self) -> usize {
        self.basis.cols()
    }

    pub fn n_samples(&self) -> usize {
        self.basis.rows()
    }
}

/// PWCCA similarity, weights from the narrower network (from `a` when the widths are equal).
pub fn pwcca_similarity(a: &PreparedPwcca, b: &PreparedPwcca) -> Result<f64, MetricError> {
    if a.n_samples() != b.n_samples() {
        return Err(MetricError::SampleCountMismatch { a: a.n_samples(), b: b.n_samples() });
    }
    let (first, second) = if a.units() <= b.units() { (a, b) } else { (b, a) };
    let n = first.units();
    // ρ and u′: Σxx^{-½}ΣxyΣyy^{-½} = V_x (U_xᵀU_y) V_yᵀ
    let svd = (first.basis.view().transpose() * second.basis.view()).thin_svd().map_err(|_| MetricError::Svd)?;
    let rho = svd.S().column_vector();
    let u = svd.U();
    // the canonical variables X̃u = U (S u′), orthonormalised in coefficient order: U Q
    let c = Mat::from_fn(n, n, |i, j| first.singular[i] * u[(i, j)]);
    let q = c.as_ref().qr().compute_Q();
    // each unit on each orthonormalised variable: Qᵀ S Vᵀ
    let projections = q.transpose() * first.units.view();
    let weights: Vec<f64> = (0..n).map(|i| (0..n).map(|j| projections[(i, j)].abs()).sum()).collect();
    let total: f64 = weights.iter().sum();
    Ok(weights.iter().zip(rho.iter()).map(|(w, r)| w * r).sum::<f64>() / total)
}

fn check_finite(x: &Matrix, measure: &str) -> Result<(), MetricError> {
    if x.is_finite() {
        Ok(())
    } else {
        Err(MetricError::NotFinite(format!("{measure}: the representation has non-finite entries")))
    }
}

/// U, σ and V of the thin SVD of the centred representation.
fn centred_svd(x: &Matrix, measure: &str) -> Result<(Mat<f64>, Vec<f64>, Mat<f64>), MetricError> {
    if x.rows() < 2 || x.cols() == 0 {
        return Err(MetricError::TooSmall { rows: x.rows(), cols: x.cols() });
    }
    check_finite(x, measure)?;
    let xc = subtract_means(x.view(), &column_means(x.view()));
    let svd = xc.thin_svd().map_err(|_| MetricError::Svd)?;
    Ok((svd.U().to_owned(), svd.S().column_vector().iter().copied().collect(), svd.V().to_owned()))
}

/// The largest k with σ_k² > k·ε·σ_1²: the top k directions whose k × k covariance
/// `np.linalg.pinv` inverts in full (its `rtol` is k·ε relative to the largest eigenvalue).
/// The condition fails from some k on, as σ_k falls and k grows.
fn resolved_directions(s: &[f64]) -> usize {
    let top = s.first().copied().unwrap_or(0.0);
    s.iter().enumerate().take_while(|&(i, &si)| si * si > (i + 1) as f64 * f64::EPSILON * top * top).count()
}

/// The smallest k with Σ_{i≤k} σ_i² ≥ v·Σσ² (all of them if rounding never gets there).
fn variance_directions(s: &[f64], v: f64) -> usize {
    let total: f64 = s.iter().map(|x| x * x).sum();
    let mut explained = 0.0;
    for (i, si) in s.iter().enumerate() {
        explained += si * si;
        if explained >= v * total {
            return i + 1;
        }
    }
    s.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    /// x with a given spectrum: orthonormal U (m × r, centred) and V, X = U diag(s) Vᵀ + 1·offsetᵀ.
    fn with_spectrum(rng: &mut SplitMix64, m: usize, n: usize, s: &[f64]) -> Matrix {
        let g = rng.normal_matrix(m, s.len());
        let gc = subtract_means(g.view(), &column_means(g.view()));
        let u = gc.as_ref().qr().compute_thin_Q();
        let v = rng.normal_matrix(n, s.len()).view().qr().compute_thin_Q();
        let offsets: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        Matrix::from_fn(m, n, |i, j| (0..s.len()).map(|k| u[(i, k)] * s[k] * v[(j, k)]).sum::<f64>() + offsets[j])
    }

    #[test]
    fn variance_rule_takes_the_fewest_directions_reaching_the_fraction() {
        let s = [3.0, 2.0, 1.0, 1.0];
        // σ² = 9, 4, 1, 1 of 15: 9/15 = 0.6, 13/15 ≈ 0.867, 14/15 ≈ 0.933, 1
        assert_eq!(variance_directions(&s, 0.6), 1);
        assert_eq!(variance_directions(&s, 0.61), 2);
        assert_eq!(variance_directions(&s, 0.9), 3);
        assert_eq!(variance_directions(&s, 1.0), 4);
    }

    #[test]
    fn resolved_directions_stop_where_pinv_would_drop_one() {
        assert_eq!(resolved_directions(&[1.0, 1e-3, 1e-7, 1e-9]), 3);
        assert_eq!(resolved_directions(&[0.0, 0.0]), 0);
        assert_eq!(resolved_directions(&[2.0, 2.0]), 2);
    }

    #[test]
    fn keep_refuses_what_the_reference_cannot_do() {
        let mut rng = SplitMix64(1);
        let x = with_spectrum(&mut rng, 12, 30, &[5.0, 4.0, 3.0, 2.0, 1.0]);
        // rank 5: a 6th direction is noise at rounding level
        assert!(matches!(PreparedSvcca::new(&x, Keep::Directions(6)), Err(MetricError::Undefined(_))));
        assert_eq!(PreparedSvcca::new(&x, Keep::Directions(5)).expect("rank 5").kept(), 5);
        // the variance rule never goes past the resolved directions
        assert_eq!(PreparedSvcca::new(&x, Keep::Variance(1.0)).expect("variance").kept(), 5);
        // as many directions as stimuli: refused whatever the data
        let wide = rng.normal_matrix(8, 20);
        assert!(matches!(PreparedSvcca::new(&wide, Keep::Directions(8)), Err(MetricError::Undefined(_))));
        assert_eq!(PreparedSvcca::new(&wide, Keep::Directions(7)).expect("7 of 8").kept(), 7);
        // a narrow network keeps all its units
        let narrow = rng.normal_matrix(30, 4);
        assert_eq!(PreparedSvcca::new(&narrow, Keep::Directions(10)).expect("narrow").kept(), 4);
        for bad in [Keep::Directions(0), Keep::Variance(0.0), Keep::Variance(1.5), Keep::Variance(f64::NAN)] {
            assert!(matches!(PreparedSvcca::new(&narrow, bad), Err(MetricError::Parameter { .. })), "{bad:?}");
        }
        let constant = Matrix::from_fn(10, 3, |_, j| j as f64);
        assert!(matches!(PreparedSvcca::new(&constant, Keep::Variance(0.9)), Err(MetricError::Undefined(_))));
    }

    #[test]
    fn pwcca_refuses_wide_and_dependent_units() {
        let mut rng = SplitMix64(2);
        let square = rng.normal_matrix(10, 10);
        let err = PreparedPwcca::new(&square).expect_err("10 units on 10 stimuli");
        assert!(matches!(&err, MetricError::Undefined(s) if s.contains("fewer units than stimuli")), "{err}");
        let x = rng.normal_matrix(20, 3);
        // a fourth unit that is a combination of the others
        let dependent =
            Matrix::from_fn(20, 4, |i, j| if j < 3 { x.get(i, j) } else { x.get(i, 0) - 2.0 * x.get(i, 2) });
        assert!(matches!(PreparedPwcca::new(&dependent), Err(MetricError::Undefined(_))));
    }

    #[test]
    fn nested_subspaces_have_unit_canonical_correlations() {
        // b's units are a's plus more: every canonical correlation of the narrower is 1
        let mut rng = SplitMix64(3);
        let b = rng.normal_matrix(40, 9);
        let a = Matrix::from_fn(40, 4, |i, j| b.get(i, j) + 0.5 * b.get(i, j + 1));
        let (pa, pb) = (PreparedPwcca::new(&a).expect("a"), PreparedPwcca::new(&b).expect("b"));
        assert!((pwcca_similarity(&pa, &pb).expect("pair") - 1.0).abs() < 1e-12);
        let (sa, sb) = (PreparedSvcca::new(&a, Keep::Directions(4)), PreparedSvcca::new(&b, Keep::Directions(9)));
        assert!((svcca_similarity(&sa.expect("a"), &sb.expect("b")).expect("pair") - 1.0).abs() < 1e-12);
    }
}
