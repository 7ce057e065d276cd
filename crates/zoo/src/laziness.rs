//! How lazy a network's training was: how far its weights and its last hidden layer's
//! kernel moved from initialisation.
//!
//! - relative weight change ‖W_t − W_0‖_F / ‖W_0‖_F, per layer and over all hidden layers
//!   (Chizat, Oyallon & Bach 2019: → 0 in the lazy limit);
//! - kernel distance 1 − CKA(Φ_0, Φ_t) of the last hidden layer's features on the probe set
//!   (linear CKA: the centred kernel alignment of Φ_0Φ_0ᵀ and Φ_tΦ_tᵀ; Fort et al. 2020 use
//!   the same distance on the tangent kernel): 0 when the features do not move;
//! - label alignment CKA(Φ, Y) of the features with the one-hot labels (the centred
//!   kernel-target alignment of Cristianini et al. 2002, Baratin et al. 2021), at
//!   initialisation and at the checkpoint: rich training aligns the kernel with the task,
//!   lazy training keeps the initial kernel.

/// A network's state at initialisation, to measure checkpoints against.
#[derive(Clone, Debug)]
pub struct Initial {
    /// Every layer's weight then bias, flattened, in layer order (the readout last).
    pub layers: Vec<Vec<f64>>,
    /// The last hidden layer on the probe set, [probe × width].
    pub features: Vec<f64>,
    pub width: usize,
    pub label_alignment: f64,
}

/// The laziness measures of one checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct Laziness {
    /// Per hidden layer, then the readout.
    pub weight_change: Vec<f64>,
    /// Over all hidden layers' weights and biases at once.
    pub hidden_weight_change: f64,
    pub kernel_distance: f64,
    pub label_alignment_init: f64,
    pub label_alignment: f64,
}

/// ‖a − b‖ / ‖b‖ over the concatenation of the given parts.
fn relative_change<'a>(now: impl Iterator<Item = &'a [f64]>, then: impl Iterator<Item = &'a [f64]>) -> f64 {
    let (mut diff, mut base) = (0.0, 0.0);
    for (a, b) in now.zip(then) {
        for (x, y) in a.iter().zip(b) {
            diff += (x - y) * (x - y);
            base += y * y;
        }
    }
    (diff / base).sqrt()
}

/// Linear CKA of [n × p] and [n × q] row-major matrices: ‖X̃ᵀỸ‖²_F / (‖X̃ᵀX̃‖_F ‖ỸᵀỸ‖_F), the
/// columns centred (Kornblith et al. 2019, eq. 3).
pub fn linear_cka(x: &[f64], p: usize, y: &[f64], q: usize) -> f64 {
    let n = x.len() / p.max(1);
    let centred = |m: &[f64], k: usize| -> Vec<f64> {
        let mut c = m.to_vec();
        for j in 0..k {
            let mean = (0..n).map(|i| m[i * k + j]).sum::<f64>() / n as f64;
            (0..n).for_each(|i| c[i * k + j] -= mean);
        }
        c
    };
    let (x, y) = (centred(x, p), centred(y, q));
    let cross = |a: &[f64], ka: usize, b: &[f64], kb: usize| -> f64 {
        let mut total = 0.0;
        for s in 0..ka {
            for t in 0..kb {
                let v: f64 = (0..n).map(|i| a[i * ka + s] * b[i * kb + t]).sum();
                total += v * v;
            }
        }
        total
    };
    cross(&x, p, &y, q) / (cross(&x, p, &x, p).sqrt() * cross(&y, q, &y, q).sqrt())
}

/// One-hot rows of `labels` over `classes`.
pub fn one_hot(labels: &[u32], classes: usize) -> Vec<f64> {
    let mut y = vec![0.0; labels.len() * classes];
    for (i, &l) in labels.iter().enumerate() {
        y[i * classes + l as usize] = 1.0;
    }
    y
}

impl Initial {
    pub fn new(layers: Vec<Vec<f64>>, features: Vec<f64>, width: usize, labels: &[f64], classes: usize) -> Initial {
        let label_alignment = linear_cka(&features, width, labels, classes);
        Initial { layers, features, width, label_alignment }
    }

    /// The measures of a checkpoint with these `layers` (as in [`Initial::layers`]) and
    /// last-hidden-layer `features`.
    pub fn laziness(&self, layers: &[Vec<f64>], features: &[f64], labels: &[f64], classes: usize) -> Laziness {
        let per_layer: Vec<f64> = layers
            .chunks(2)
            .zip(self.layers.chunks(2))
            .map(|(now, then)| relative_change(now.iter().map(Vec::as_slice), then.iter().map(Vec::as_slice)))
            .collect();
        let hidden = layers.len().saturating_sub(2);
        Laziness {
            weight_change: per_layer,
            hidden_weight_change: relative_change(
                layers[..hidden].iter().map(Vec::as_slice),
                self.layers[..hidden].iter().map(Vec::as_slice),
            ),
            kernel_distance: 1.0 - linear_cka(&self.features, self.width, features, self.width),
            label_alignment_init: self.label_alignment,
            label_alignment: linear_cka(features, self.width, labels, classes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cka_is_one_for_an_orthogonal_transform_and_scale_and_small_for_unrelated_features() {
        let n = 50;
        let x: Vec<f64> = (0..n * 2).map(|k| ((k * 37 % 11) as f64).sin()).collect();
        // rotate by 90° and scale by 3: CKA is invariant to both
        let y: Vec<f64> = (0..n).flat_map(|i| [-3.0 * x[i * 2 + 1], 3.0 * x[i * 2]]).collect();
        assert!((linear_cka(&x, 2, &y, 2) - 1.0).abs() < 1e-12);
        let z: Vec<f64> = (0..n).map(|i| if i % 2 == 0 { 1.0 } else { -1.0 }).collect();
        assert!(linear_cka(&x, 2, &z, 1) < 0.5);
    }

    #[test]
    fn an_unchanged_network_has_zero_change_and_distance() {
        let layers = vec![vec![1.0, 2.0], vec![0.5], vec![3.0, -1.0], vec![0.0]];
        let features: Vec<f64> = (0..20).map(|k| (k as f64 * 0.7).cos()).collect();
        let labels = one_hot(&(0..10).map(|i| (i % 2) as u32).collect::<Vec<_>>(), 2);
        let init = Initial::new(layers.clone(), features.clone(), 2, &labels, 2);
        let lazy = init.laziness(&layers, &features, &labels, 2);
        assert_eq!(lazy.weight_change, vec![0.0, 0.0]);
        assert_eq!(lazy.hidden_weight_change, 0.0);
        assert!(lazy.kernel_distance.abs() < 1e-12);
        assert_eq!(lazy.label_alignment, lazy.label_alignment_init);
        // doubling the first layer's weights is a relative change of 1 there
        let mut moved = layers.clone();
        moved[0] = vec![2.0, 4.0];
        moved[1] = vec![1.0];
        assert!((init.laziness(&moved, &features, &labels, 2).weight_change[0] - 1.0).abs() < 1e-15);
    }
}
