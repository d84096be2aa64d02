//! A tiny deterministic random-number generator for the simulations (`sim`, TensorRT-LLM's
//! held prompts in `perf::admission`): splitmix64 (Steele, Lea & Flood 2014), the same stream for
//! a seed on every platform.

/// splitmix64: a tiny, well-mixed deterministic generator.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator started at `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// A uniform draw in (0, 1).
    pub fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// An exponential draw of mean `mean`.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * self.next_f64().ln()
    }

    /// A uniform draw in `0..n` (`n ≥ 1`).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_f64() * n as f64) as usize).min(n.saturating_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_lie_in_the_open_unit_interval_and_repeat_for_a_seed() {
        let (mut a, mut b) = (Rng::new(42), Rng::new(42));
        for _ in 0..10_000 {
            let x = a.next_f64();
            assert!(x > 0.0 && x < 1.0);
            assert_eq!(x.to_bits(), b.next_f64().to_bits());
        }
        let mut r = Rng::new(1);
        assert!((0..1000).all(|_| r.below(3) < 3));
    }
}
