//! A small, portable, seeded generator for reproducible synthetic data (tests, benchmarks,
//! examples): SplitMix64 (Steele, Lea, Flood 2014) with Box–Muller normals.

/// SplitMix64. `SplitMix64(seed)`; the same seed gives the same stream on every platform.
#[derive(Clone, Debug)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// An m × n matrix of standard normals, drawn column by column.
    pub fn normal_matrix(&mut self, m: usize, n: usize) -> crate::Matrix {
        let data = (0..m * n).map(|_| self.normal()).collect();
        crate::Matrix::from_col_major(m, n, data)
    }

    /// Standard normal (Box–Muller, cosine branch).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-300), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}
