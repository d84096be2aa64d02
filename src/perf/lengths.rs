//! Output-length distributions and what they cost a static batch (docs/methodology.md §7.3,
//! model-spec §10): a static batch decodes until its longest request ends, so only
//! `E[N] / E[max_{i≤B} N_i]` of its slot-steps produce tokens; continuous batching refills a
//! finished slot at the next step.

use clap::ValueEnum;
use serde::{Deserialize, Serialize};

/// The distribution of generated tokens per request, with mean `--output-len`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LengthDist {
    /// Every request generates exactly the mean (benchmarks).
    #[default]
    Fixed,
    /// Uniform on 1 … 2·mean − 1.
    Uniform,
    /// Geometric (a constant chance to stop after each token), capped at 4·mean.
    Geometric,
    /// Log-normal with σ = 1 (median = mean / e^½), capped at 8·mean.
    Lognormal,
}

impl LengthDist {
    /// Name as printed.
    pub fn name(self) -> &'static str {
        match self {
            LengthDist::Fixed => "fixed",
            LengthDist::Uniform => "uniform",
            LengthDist::Geometric => "geometric",
            LengthDist::Lognormal => "lognormal",
        }
    }

    /// P(N ≤ n) and the cap, for a distribution of mean `mean`.
    fn cdf(self, mean: f64, n: f64) -> f64 {
        match self {
            LengthDist::Fixed => {
                if n >= mean {
                    1.0
                } else {
                    0.0
                }
            }
            LengthDist::Uniform => (n / (2.0 * mean - 1.0)).clamp(0.0, 1.0),
            LengthDist::Geometric => 1.0 - (1.0 - 1.0 / mean).powf(n),
            LengthDist::Lognormal => {
                if n <= 0.0 {
                    0.0
                } else {
                    normal_cdf((n.ln() - (mean.ln() - 0.5)) / 1.0)
                }
            }
        }
    }

    fn cap(self, mean: f64) -> f64 {
        match self {
            LengthDist::Fixed => mean,
            LengthDist::Uniform => (2.0 * mean - 1.0).max(1.0),
            LengthDist::Geometric => 4.0 * mean,
            LengthDist::Lognormal => 8.0 * mean,
        }
        .round()
    }

    /// (E[N], E[max of `batch` draws]) for the capped distribution of mean `mean` (tokens ≥ 1).
    /// At most `EXACT_SUM_TERMS` terms are summed exactly; a longer distribution is integrated
    /// with a fixed-size quadrature, so the cost does not grow with the output length.
    pub fn mean_and_max(self, mean: f64, batch: f64) -> (f64, f64) {
        if self == LengthDist::Fixed || mean <= 1.0 {
            return (mean, mean);
        }
        // A sweep asks for the same (distribution, mean, batch) under every layout and dtype:
        // remember the last few thousand answers (bounded memory).
        type Cache = std::collections::HashMap<(u8, u64, u64), (f64, f64)>;
        thread_local! {
            static CACHE: std::cell::RefCell<Cache> = std::cell::RefCell::new(Cache::new());
        }
        let key = (self as u8, mean.to_bits(), batch.to_bits());
        if let Some(hit) = CACHE.with(|c| c.borrow().get(&key).copied()) {
            return hit;
        }
        let out = self.mean_and_max_uncached(mean, batch);
        CACHE.with(|c| {
            let mut c = c.borrow_mut();
            if c.len() >= 4096 {
                c.clear();
            }
            c.insert(key, out);
        });
        out
    }

    fn mean_and_max_uncached(self, mean: f64, batch: f64) -> (f64, f64) {
        let cap = self.cap(mean);
        // P(X > n) with P(X > 0) = 1.
        let survival = |n: f64, b: f64| {
            if n <= 0.0 {
                1.0
            } else {
                1.0 - self.cdf(mean, n).powf(b)
            }
        };
        if cap <= EXACT_SUM_TERMS {
            // E[X] = Σ_{n≥0} P(X > n) for X in 1..=cap.
            let (mut e_n, mut e_max) = (0.0, 0.0);
            for n in 0..cap as u64 {
                let f = if n == 0 {
                    0.0
                } else {
                    self.cdf(mean, n as f64)
                };
                e_n += 1.0 - f;
                e_max += 1.0 - f.powf(batch);
            }
            return (e_n, e_max);
        }
        // Σ_{n=0}^{cap−1} g(n) = ∫_0^cap g + (g(0) − g(cap))/2 + a remainder under half a token
        // for a monotone g; the integral by composite Simpson on QUADRATURE_PANELS panels.
        let sum = |b: f64| {
            let g = |x: f64| survival(x, b);
            let h = cap / QUADRATURE_PANELS as f64;
            let mut acc = g(0.0) + g(cap);
            for i in 1..QUADRATURE_PANELS {
                acc += if i % 2 == 1 { 4.0 } else { 2.0 } * g(i as f64 * h);
            }
            acc * h / 3.0 + (g(0.0) - g(cap)) / 2.0
        };
        let e_n = sum(1.0);
        (e_n, sum(batch).max(e_n))
    }
}

/// Distributions capped at up to this many tokens are summed exactly (every output length up to
/// 256 under every distribution, as before the quadrature).
const EXACT_SUM_TERMS: f64 = 2048.0;

/// Simpson panels (even) over a longer capped distribution: about as many evaluations as the
/// exact sum at its limit.
const QUADRATURE_PANELS: usize = 1024;

/// Φ(x) via erfc (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7).
pub fn normal_cdf(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erfc = poly * (-z * z).exp();
    if x >= 0.0 {
        1.0 - 0.5 * erfc
    } else {
        0.5 * erfc
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::assert_close;

    #[test]
    fn static_useful_fraction_matches_monte_carlo() {
        // model-spec §10 (Monte Carlo): geometric mean 256 cap 1024: B = 8 → 0.38, 64 → 0.26,
        // 256 → 0.25; uniform: B = 64 → 0.51 (±0.03).
        for (b, want) in [(8.0, 0.38), (64.0, 0.26), (256.0, 0.25)] {
            let (n, m) = LengthDist::Geometric.mean_and_max(256.0, b);
            assert_close(n / m, want, 0.1);
        }
        let (n, m) = LengthDist::Uniform.mean_and_max(512.0, 64.0);
        assert_close(n / m, 0.51, 0.03);
        let (n, m) = LengthDist::Fixed.mean_and_max(256.0, 64.0);
        assert_close(n / m, 1.0, 1e-12);
    }

    #[test]
    fn the_quadrature_agrees_with_the_exact_sum() {
        // Just above the exact-sum limit, and far above it (the exact sum computed here).
        let exact = |d: LengthDist, mean: f64, b: f64| {
            let cap = d.cap(mean) as u64;
            let (mut e_n, mut e_max) = (0.0, 0.0);
            for n in 0..cap {
                let f = if n == 0 { 0.0 } else { d.cdf(mean, n as f64) };
                e_n += 1.0 - f;
                e_max += 1.0 - f.powf(b);
            }
            (e_n, e_max)
        };
        for d in [
            LengthDist::Uniform,
            LengthDist::Geometric,
            LengthDist::Lognormal,
        ] {
            for mean in [300.0, 1000.0, 20_000.0] {
                for b in [1.0, 8.0, 64.0, 4096.0] {
                    let (n, m) = d.mean_and_max(mean, b);
                    let (en, em) = exact(d, mean, b);
                    assert_close(n / en, 1.0, 2e-3);
                    assert_close(m / em, 1.0, 2e-3);
                }
            }
        }
    }

    #[test]
    fn normal_cdf_known_values() {
        assert_close(normal_cdf(0.0), 0.5, 1e-7);
        assert_close(normal_cdf(1.0), 0.841_344_7, 1e-6);
        assert_close(normal_cdf(-1.959_964), 0.025, 1e-4);
    }
}
