//! The handwritten digits (UCI optdigits test set as scikit-learn ships it; see
//! data/digits/README.md): 1,797 images of 8×8 pixel counts in 0..16 and their labels.

use std::io::Read;

use repspace_metrics::rng::SplitMix64;

use crate::ZooError;

/// The compressed CSV, embedded: 64 pixel columns then the label, no header.
const DIGITS_CSV_GZ: &[u8] = include_bytes!("../../../data/digits/digits.csv.gz");

pub const PIXELS: usize = 64;
pub const CLASSES: usize = 10;

/// Images scaled to [0, 1] (pixel / 16), row-major [n, 64], with labels 0..9.
#[derive(Clone, Debug)]
pub struct Digits {
    pub images: Vec<f32>,
    pub labels: Vec<u32>,
}

impl Digits {
    /// The embedded data set.
    pub fn embedded() -> Result<Digits, ZooError> {
        let mut text = String::new();
        flate2::read::GzDecoder::new(DIGITS_CSV_GZ)
            .read_to_string(&mut text)
            .map_err(|e| ZooError::Data(format!("embedded digits.csv.gz: {e}")))?;
        Digits::parse_csv(&text)
    }

    fn parse_csv(text: &str) -> Result<Digits, ZooError> {
        let (mut images, mut labels) = (Vec::new(), Vec::new());
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let fields: Vec<&str> = line.split(',').collect();
            if fields.len() != PIXELS + 1 {
                return Err(ZooError::Data(format!("digits line {}: {} fields, expected 65", i + 1, fields.len())));
            }
            for f in &fields[..PIXELS] {
                let v: f32 = f.trim().parse().map_err(|_| ZooError::Data(format!("digits line {}: {f:?}", i + 1)))?;
                images.push(v / 16.0);
            }
            let label: u32 = fields[PIXELS]
                .trim()
                .parse()
                .ok()
                .filter(|&l| (l as usize) < CLASSES)
                .ok_or_else(|| ZooError::Data(format!("digits line {}: bad label", i + 1)))?;
            labels.push(label);
        }
        Ok(Digits { images, labels })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// A fixed split: a seeded Fisher–Yates permutation, the last `test_size` rows held out.
    /// Both halves are returned in ascending index order.
    pub fn split(&self, test_size: usize, seed: u64) -> (Vec<usize>, Vec<usize>) {
        let mut order: Vec<usize> = (0..self.len()).collect();
        let mut rng = SplitMix64(seed ^ 0xd161_7500);
        for i in (1..order.len()).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        let cut = self.len().saturating_sub(test_size);
        let (mut train, mut test) = (order[..cut].to_vec(), order[cut..].to_vec());
        train.sort_unstable();
        test.sort_unstable();
        (train, test)
    }

    /// The rows `idx` as a row-major [idx.len(), 64] block and their labels.
    pub fn subset(&self, idx: &[usize]) -> (Vec<f32>, Vec<u32>) {
        let mut x = Vec::with_capacity(idx.len() * PIXELS);
        for &i in idx {
            x.extend_from_slice(&self.images[i * PIXELS..(i + 1) * PIXELS]);
        }
        (x, idx.iter().map(|&i| self.labels[i]).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_set_has_1797_images_of_ten_classes() {
        let d = Digits::embedded().unwrap();
        assert_eq!(d.len(), 1797);
        assert_eq!(d.images.len(), 1797 * 64);
        assert!(d.images.iter().all(|&v| (0.0..=1.0).contains(&v)));
        let mut counts = [0usize; 10];
        d.labels.iter().for_each(|&l| counts[l as usize] += 1);
        // every class has between 174 and 183 images (the UCI test set's class sizes)
        assert!(counts.iter().all(|&c| (174..=183).contains(&c)), "{counts:?}");
    }

    #[test]
    fn the_split_is_a_partition_and_depends_only_on_the_seed() {
        let d = Digits::embedded().unwrap();
        let (a, b) = d.split(500, 3);
        assert_eq!((a.len(), b.len()), (1297, 500));
        let mut all: Vec<usize> = a.iter().chain(&b).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..1797).collect::<Vec<_>>());
        assert_eq!(d.split(500, 3), (a, b.clone()));
        assert_ne!(d.split(500, 4).1, b);
    }

    #[test]
    fn malformed_lines_are_named() {
        let err = Digits::parse_csv("1,2,3\n").unwrap_err().to_string();
        assert!(err.contains("line 1") && err.contains("3 fields"), "{err}");
    }
}
