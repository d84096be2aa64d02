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
    pub fn mean_and_max(self, mean: f64, batch: f64) -> (f64, f64) {
        if self == LengthDist::Fixed || mean <= 1.0 {
            return (mean, mean);
        }
        let cap = self.cap(mean) as u64;
        // E[X] = Σ_{n≥0} P(X > n) for X in 1..=cap; P(X > 0) = 1.
        let (mut e_n, mut e_max) = (0.0, 0.0);
        for n in 0..cap {
            let f = if n == 0 {
                0.0
            } else {
                self.cdf(mean, n as f64)
            };
            e_n += 1.0 - f;
            e_max += 1.0 - f.powf(batch);
        }
        (e_n, e_max)
    }
}

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
    fn normal_cdf_known_values() {
        assert_close(normal_cdf(0.0), 0.5, 1e-7);
        assert_close(normal_cdf(1.0), 0.841_344_7, 1e-6);
        assert_close(normal_cdf(-1.959_964), 0.025, 1e-4);
    }
}
