//! Representational similarity analysis (RSA) as rsatoolbox 0.3.2 computes it: each
//! representation becomes a representational dissimilarity matrix (RDM) over its m
//! conditions, and a pair of representations is scored by comparing their RDMs.
//!
//! **RDM.** The vector d ∈ ℝᴺ, N = m(m−1)/2, of the entries above the diagonal, row by row
//! ((0,1), (0,2), …, (0,m−1), (1,2), …: rsatoolbox's `_extract_triu_` order), of
//! - `Euclidean`, x = [conditions, units] (m × n): d_ij = ‖x_i − x_j‖²/n, computed as
//!   rsatoolbox does, (‖x_i‖² + ‖x_j‖² − 2⟨x_i, x_j⟩)/n: exact for integer data; for two
//!   near-identical conditions it may be −O(ε‖x‖²), as in rsatoolbox. Equals
//!   `calc_rdm(Dataset(x, obs_descriptors={'conds': np.arange(m)}), method='euclidean',
//!   descriptor='conds')` (remove_mean=False).
//! - `Correlation`, x = [conditions, units]: d_ij = 1 − r_ij, r the Pearson correlation of
//!   the two patterns across units (not divided by n). The same call with
//!   `method='correlation'`.
//! - `Crossnobis`, x = [conditions, repeats, units] (m × R × n, each repeat one run): the
//!   leave-one-run-out crossnobis distance. rsatoolbox's fold k scores the mean of the other
//!   runs against run k, x̄₋ₖPx_kᵀ, and averages the folds; summed over k that is
//!   d_ij = (K_ii + K_jj − 2K_ij) / (R(R−1)·n),  K = SPSᵀ − Σ_k x_kPx_kᵀ,  S = Σ_k x_k,
//!   the mean over ordered run pairs k ≠ l of (x_k,i − x_k,j)ᵀP(x_l,i − x_l,j)/n. Equals
//!   `calc_rdm(Dataset(x.reshape(m*R, n), obs_descriptors={'conds': np.repeat(np.arange(m), R),
//!   'runs': np.tile(np.arange(R), m)}), method='crossnobis', descriptor='conds',
//!   cv_descriptor='runs', noise=P)` with
//!   - `Noise::Identity`: P = I (`noise=None`);
//!   - `Noise::ShrinkageDiag`: P = `prec_from_measurements(dataset, obs_desc='conds',
//!     method='shrinkage_diag')`, the inverse of Schäfer & Strimmer's (2005) shrinkage of
//!     the residual covariance towards its diagonal. Residuals e = x_{c,k} − mean_k x_{c,k}
//!     (N_e = mR rows) with rsatoolbox's `_check_demean` degrees of freedom, which for its
//!     [conds, units, repeats] tensor are dof = (m−1)·R (not m(R−1)): s = EᵀE/dof,
//!     ρ_uv = (EᵀE)_uv/(√s_uu√s_vv (N_e−1)), ρ²_uv = ((E∘E)ᵀ(E∘E))_uv/(s_uu s_vv (N_e−1)),
//!     Var̂ = N_e/dof²·(ρ² − ρ∘ρ), λ = clamp(Σ_{u≠v} Var̂ / Σ_{u≠v} ρ², 0, 1), and
//!     Σ = s with its off-diagonal scaled by 1 − λ. P is applied as the whitening
//!     x ↦ xL⁻ᵀ with Σ = LLᵀ.
//!
//! **Comparison** (`compare(rdm1, rdm2, method=…)`, sigma_k=None), all symmetric:
//! `Pearson` ('corr'), `Spearman` ('spearman': Pearson of scipy's average ranks),
//! `KendallTauA` ('tau-a': (concordant − discordant)/(N(N−1)/2), a pair tied in either RDM
//! counting as neither), `Cosine` ('cosine'), `CorrCov` ('corr_cov') and `CosineCov`
//! ('cosine_cov'). The last two are rsatoolbox's whitened cosine vᵀV⁻¹w/√(vᵀV⁻¹v·wᵀV⁻¹w)
//! with V = Ξ∘Ξ, Ξ = CCᵀ (C the pairwise contrasts, `_get_v(m, None)`), which rsatoolbox
//! (and this module) computes without V: with G = −D/2 (zero diagonal) double centred,
//! HGH, the vector [√2·(HGH)_ij for i < j, (HGH)_ii] has V⁻¹'s inner product up to a
//! constant factor, so the comparison is a plain cosine of such vectors. `CorrCov`
//! first subtracts the mean RDM entry. The fixtures record rsatoolbox's V⁻¹ path agreeing
//! with it to 1.7e-15.
//!
//! **Prepare once, pair many.** [`PreparedRsa`] holds the RDM already transformed for the
//! comparison, so that every comparison except tau-a is ⟨u_a, u_b⟩ of unit vectors: d
//! centred (pearson), its ranks centred (spearman), d itself (cosine), the double-centred
//! vectors above (the *_cov ones), each scaled to unit norm. [`similarities`] forms all the
//! inner products a block of pairs needs with GEMMs over panels of the entries. Tau-a keeps
//! each RDM's dense ranks, the order of its entries and its count of tied pairs; a pair
//! then costs one merge sort of the other RDM's ranks in that order (Knight 1966),
//! O(N log N).
//!
//! **Invariants.** Every comparison is symmetric and in [−1, 1] (clamped, as rsatoolbox
//! does for tau-a only); every one but tau-a is 1 for identical inputs (tau-a of an RDM with
//! itself is 1 − tied pairs/(N(N−1)/2)). All are invariant under positive scaling of an RDM,
//! so the euclidean and crossnobis comparisons are invariant under isotropic scaling of
//! the units; the euclidean and identity-noise crossnobis RDMs are invariant under
//! orthogonal maps and translations of the units; the correlation RDM under per-condition
//! positive affine maps; the shrinkage-noise crossnobis RDM under positive per-unit scaling
//! and permutation of the units (not under rotations).
//!
//! **Where this departs from rsatoolbox.** A constant RDM (all entries equal up to rounding;
//! for `Cosine` and `CosineCov` a zero one) has no defined correlation: [`PreparedRsa::new`]
//! returns [`MetricError::Undefined`] where rsatoolbox returns 0 (its `_cosine` masks zero
//! norms and tau-a's formula gives 0). A pattern constant across units makes the
//! correlation RDM undefined (rsatoolbox: NaN entries). With one unit, shrinkage_diag has
//! no off-diagonal to shrink and Σ = s (rsatoolbox: λ = 0/0, NaN).

mod rdm;
mod tau;

use serde::{Deserialize, Serialize};

pub use rdm::rdm_vector;
use rdm::{conditions_of, pairs_of, upper_pairs};
use tau::{TauRanks, tau_a};

use crate::{MetricError, Tensor};

/// The noise precision P of the crossnobis RDM.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Noise {
    /// P = I (rsatoolbox's `noise=None`).
    Identity,
    /// P = Σ⁻¹, Σ rsatoolbox's shrinkage_diag estimate from the residuals across repeats.
    ShrinkageDiag,
}

/// How a representation becomes an RDM.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rdm {
    /// Squared Euclidean distance over the number of units; reads [conditions, units].
    Euclidean,
    /// 1 − Pearson correlation of the patterns; reads [conditions, units].
    Correlation,
    /// Leave-one-repeat-out crossnobis; reads [conditions, repeats, units].
    Crossnobis { noise: Noise },
}

impl Rdm {
    /// The rank of the input array: 2 ([conditions, units]) or 3 for crossnobis
    /// ([conditions, repeats, units]).
    pub fn input_rank(self) -> usize {
        match self {
            Rdm::Euclidean | Rdm::Correlation => 2,
            Rdm::Crossnobis { .. } => 3,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Rdm::Euclidean => "euclidean",
            Rdm::Correlation => "correlation",
            Rdm::Crossnobis { .. } => "crossnobis",
        }
    }
}

/// How two RDMs are compared (rsatoolbox's `compare` method in [`Self::rsatoolbox_method`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RdmComparison {
    Pearson,
    Spearman,
    KendallTauA,
    Cosine,
    CorrCov,
    CosineCov,
}

impl RdmComparison {
    /// The `method` string of rsatoolbox's `compare` this equals.
    pub fn rsatoolbox_method(self) -> &'static str {
        match self {
            RdmComparison::Pearson => "corr",
            RdmComparison::Spearman => "spearman",
            RdmComparison::KendallTauA => "tau-a",
            RdmComparison::Cosine => "cosine",
            RdmComparison::CorrCov => "corr_cov",
            RdmComparison::CosineCov => "cosine_cov",
        }
    }
}

/// One representation's RDM, transformed for its comparison.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PreparedRsa {
    rdm: Rdm,
    comparison: RdmComparison,
    conditions: usize,
    form: Form,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
enum Form {
    /// A unit vector u: the similarity of a pair is ⟨u_a, u_b⟩.
    Unit(Vec<f64>),
    /// What Kendall's tau-a needs of one RDM.
    Ranks(TauRanks),
}

impl PreparedRsa {
    /// The RDM of `x` ([`rdm_vector`]) prepared for `comparison`.
    pub fn new(x: &Tensor, rdm: Rdm, comparison: RdmComparison) -> Result<PreparedRsa, MetricError> {
        PreparedRsa::from_rdm_vector(rdm_vector(x, rdm)?, rdm, comparison)
    }

    /// An RDM computed elsewhere (upper triangle, row by row), prepared for `comparison`;
    /// `rdm` only labels it (pairs must share it).
    pub fn from_rdm_vector(d: Vec<f64>, rdm: Rdm, comparison: RdmComparison) -> Result<PreparedRsa, MetricError> {
        let conditions = conditions_of(d.len())?;
        if !d.iter().all(|v| v.is_finite()) {
            return Err(MetricError::NotFinite(format!("the {} RDM has a non-finite entry", rdm.name())));
        }
        let constant = || {
            MetricError::Undefined(format!(
                "the {} RDM is constant over its {} entries (e.g. all conditions alike): its {} comparison is \
                 undefined (rsatoolbox returns 0)",
                rdm.name(),
                d.len(),
                comparison.rsatoolbox_method()
            ))
        };
        let form = match comparison {
            RdmComparison::Pearson => Form::Unit(unit(centred(&d), norm(&d)).ok_or_else(constant)?),
            RdmComparison::Spearman => {
                let r = average_ranks(&d);
                Form::Unit(unit(centred(&r), norm(&r)).ok_or_else(constant)?)
            }
            RdmComparison::Cosine => Form::Unit(unit(d.clone(), 0.0).ok_or_else(constant)?),
            RdmComparison::CorrCov => {
                Form::Unit(unit(double_centred(&centred(&d), conditions), norm(&d)).ok_or_else(constant)?)
            }
            RdmComparison::CosineCov => Form::Unit(unit(double_centred(&d, conditions), 0.0).ok_or_else(constant)?),
            RdmComparison::KendallTauA => {
                let ranks = TauRanks::new(&d)?;
                if ranks.tied_pairs == pairs_of(d.len()) {
                    return Err(constant());
                }
                Form::Ranks(ranks)
            }
        };
        Ok(PreparedRsa { rdm, comparison, conditions, form })
    }

    pub fn rdm(&self) -> Rdm {
        self.rdm
    }
    pub fn comparison(&self) -> RdmComparison {
        self.comparison
    }
    /// The number of conditions m (the RDM has m(m−1)/2 entries).
    pub fn conditions(&self) -> usize {
        self.conditions
    }
}

/// rsatoolbox's comparison value of two prepared RDMs.
pub fn similarity(a: &PreparedRsa, b: &PreparedRsa) -> Result<f64, MetricError> {
    check_pair(a, b)?;
    match (&a.form, &b.form) {
        (Form::Unit(u), Form::Unit(v)) => Ok(u.iter().zip(v).map(|(x, y)| x * y).sum::<f64>().clamp(-1.0, 1.0)),
        (Form::Ranks(p), Form::Ranks(q)) => Ok(tau_a(p, q)),
        _ => Err(MetricError::PreparedMismatch),
    }
}

/// [`similarity`] of `(rows[i], cols[j])` for each `(i, j)` in `pairs`, in order. The
/// inner-product comparisons take every inner product the pairs need from one GEMM of the
/// stacked vectors ([`crate::inner::inner_products`]); tau-a goes pair by pair.
pub fn similarities(
    rows: &[&PreparedRsa],
    cols: &[&PreparedRsa],
    pairs: &[(usize, usize)],
) -> Result<Vec<f64>, MetricError> {
    for &(i, j) in pairs {
        let (Some(a), Some(b)) = (rows.get(i), cols.get(j)) else {
            return Err(MetricError::Parameter {
                key: "pairs",
                reason: format!("pair ({i}, {j}) is outside the {} × {} block", rows.len(), cols.len()),
            });
        };
        check_pair(a, b)?;
    }
    let Some(&(i0, _)) = pairs.first() else { return Ok(Vec::new()) };
    if let Form::Ranks(_) = rows[i0].form {
        return pairs.iter().map(|&(i, j)| similarity(rows[i], cols[j])).collect();
    }
    let (row_vecs, col_vecs) = (unit_vectors(rows)?, unit_vectors(cols)?);
    Ok(crate::inner::inner_products(&row_vecs, &col_vecs, pairs).into_iter().map(|v| v.clamp(-1.0, 1.0)).collect())
}

fn check_pair(a: &PreparedRsa, b: &PreparedRsa) -> Result<(), MetricError> {
    if a.rdm != b.rdm || a.comparison != b.comparison {
        return Err(MetricError::PreparedMismatch);
    }
    if a.conditions != b.conditions {
        return Err(MetricError::SampleCountMismatch { a: a.conditions, b: b.conditions });
    }
    Ok(())
}

fn unit_vectors<'a>(ps: &[&'a PreparedRsa]) -> Result<Vec<&'a [f64]>, MetricError> {
    ps.iter()
        .map(|p| match &p.form {
            Form::Unit(u) => Ok(u.as_slice()),
            Form::Ranks(_) => Err(MetricError::PreparedMismatch),
        })
        .collect()
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// v − mean(v).
fn centred(v: &[f64]) -> Vec<f64> {
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    v.iter().map(|x| x - mean).collect()
}

/// v/‖v‖, or `None` when ‖v‖ is zero or within rounding of zero relative to `scale` (the
/// norm of what v was centred from): a constant vector centred is rounding noise.
fn unit(mut v: Vec<f64>, scale: f64) -> Option<Vec<f64>> {
    let n = norm(&v);
    let noise = 16.0 * f64::EPSILON * (v.len() as f64).sqrt() * scale;
    if !(n > noise) || !n.is_finite() {
        return None;
    }
    v.iter_mut().for_each(|x| *x /= n);
    Some(v)
}

/// scipy's `rankdata(v)` (method='average'): 1-based ranks, ties given their mean rank.
fn average_ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
    let mut ranks = vec![0.0; v.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && v[order[end]] == v[order[start]] {
            end += 1;
        }
        // positions start+1 ..= end, averaged
        let rank = (start + 1 + end) as f64 / 2.0;
        for &k in &order[start..end] {
            ranks[k] = rank;
        }
        start = end;
    }
    ranks
}

/// rsatoolbox's `_cov_weighting` (sigma_k = None): G = −D/2 with a zero diagonal, double
/// centred, C = HGH, as [√2·C_ij for i < j in RDM order, then C_ii].
fn double_centred(d: &[f64], m: usize) -> Vec<f64> {
    let mut row_mean = vec![0.0; m];
    for ((i, j), &dij) in upper_pairs(m).zip(d) {
        row_mean[i] -= 0.5 * dij;
        row_mean[j] -= 0.5 * dij;
    }
    row_mean.iter_mut().for_each(|r| *r /= m as f64);
    let grand = row_mean.iter().sum::<f64>() / m as f64;
    let off = upper_pairs(m)
        .zip(d)
        .map(|((i, j), &dij)| std::f64::consts::SQRT_2 * (-0.5 * dij - row_mean[i] - row_mean[j] + grand));
    let diagonal = row_mean.iter().map(|&r| -2.0 * r + grand);
    off.chain(diagonal).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;
    use faer::Mat;

    #[test]
    fn average_ranks_are_scipys() {
        // scipy.stats.rankdata([10, 20, 10, 30, 20, 20]) = [1.5, 4, 1.5, 6, 4, 4]
        assert_eq!(average_ranks(&[10.0, 20.0, 10.0, 30.0, 20.0, 20.0]), [1.5, 4.0, 1.5, 6.0, 4.0, 4.0]);
        // −0 and +0 tie, as in numpy
        assert_eq!(average_ranks(&[0.0, -0.0, 1.0]), [1.5, 1.5, 3.0]);
    }

    #[test]
    fn the_double_centred_form_is_hgh_of_minus_half_d() {
        let mut rng = SplitMix64(4);
        let m = 6;
        let d: Vec<f64> = upper_pairs(m).map(|_| rng.uniform()).collect();
        let mut g = Mat::<f64>::zeros(m, m);
        for ((i, j), &v) in upper_pairs(m).zip(&d) {
            g[(i, j)] = -0.5 * v;
            g[(j, i)] = -0.5 * v;
        }
        let h = Mat::from_fn(m, m, |i, j| if i == j { 1.0 } else { 0.0 } - 1.0 / m as f64);
        let c = &h * &g * &h;
        let w = double_centred(&d, m);
        for ((i, j), k) in upper_pairs(m).zip(0..) {
            assert!((w[k] - std::f64::consts::SQRT_2 * c[(i, j)]).abs() < 1e-15);
        }
        for i in 0..m {
            assert!((w[d.len() + i] - c[(i, i)]).abs() < 1e-15);
        }
    }
}
