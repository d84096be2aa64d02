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
    /// Uniform on ⌊0.8·L⌋ … L with L ≈ mean / 0.9: the lengths `benchmark_serving.py` draws at
    /// `--random-range-ratio 0.8` (`randint(int(L·r), L + 1)`; SemiAnalysis InferenceX, the
    /// vLLM and SGLang benchmark scripts), whose mean is 0.9·L.
    #[value(name = "range-0.8")]
    #[serde(rename = "range-0.8")]
    Range08,
}

/// The lower end of `LengthDist::Range08` as a share of its upper end.
const RANGE08_RATIO: f64 = 0.8;

impl LengthDist {
    /// Name as printed.
    pub fn name(self) -> &'static str {
        match self {
            LengthDist::Fixed => "fixed",
            LengthDist::Uniform => "uniform",
            LengthDist::Geometric => "geometric",
            LengthDist::Lognormal => "lognormal",
            LengthDist::Range08 => "range-0.8",
        }
    }

    /// The integer support `lo ..= hi` of `Range08` for mean `mean`: `hi` the nominal length
    /// whose draws `randint(int(0.8·hi), hi + 1)` average `mean`.
    fn range08_bounds(mean: f64) -> (f64, f64) {
        let hi = (2.0 * mean / (1.0 + RANGE08_RATIO)).round().max(1.0);
        ((RANGE08_RATIO * hi).floor().max(1.0), hi)
    }

    /// The length (≥ 1) at quantile `u` in (0, 1) of the distribution of mean `mean`: a draw
    /// when `u` is uniform (the simulations' `rng::Rng::next_f64`).
    pub fn draw(self, mean: f64, u: f64) -> u64 {
        let n = match self {
            LengthDist::Fixed => mean,
            LengthDist::Uniform => 1.0 + (u * (2.0 * mean - 1.0)).floor(),
            LengthDist::Geometric => (u.ln() / (1.0 - 1.0 / mean).ln()).ceil().min(4.0 * mean),
            LengthDist::Lognormal => {
                let z = crate::perf::moe::inverse_normal_cdf(u);
                ((mean.ln() - 0.5) + z).exp().round().min(8.0 * mean)
            }
            LengthDist::Range08 => {
                let (lo, hi) = Self::range08_bounds(mean);
                (lo + (u * (hi - lo + 1.0)).floor()).min(hi)
            }
        };
        n.max(1.0) as u64
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
            LengthDist::Range08 => {
                let (lo, hi) = Self::range08_bounds(mean);
                ((n.floor() - lo + 1.0) / (hi - lo + 1.0)).clamp(0.0, 1.0)
            }
        }
    }

    fn cap(self, mean: f64) -> f64 {
        match self {
            LengthDist::Fixed => mean,
            LengthDist::Uniform => (2.0 * mean - 1.0).max(1.0),
            LengthDist::Geometric => 4.0 * mean,
            LengthDist::Lognormal => 8.0 * mean,
            LengthDist::Range08 => Self::range08_bounds(mean).1,
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
        // A sweep asks for the same (distribution, mean, batch) under every layout and dtype.
        thread_local! {
            static CACHE: crate::memo::Cache<(u8, u64, u64), (f64, f64)> = Default::default();
        }
        crate::memo::remember(
            &CACHE,
            (self as u8, mean.to_bits(), batch.to_bits()),
            || self.mean_and_max_uncached(mean, batch),
        )
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
    fn the_benchmark_range_averages_its_mean_over_its_support() {
        // benchmark_serving.py at --random-range-ratio 0.8 and nominal 1,024 tokens draws
        // randint(819, 1025): mean 921.5, maximum 1,024 (InferenceX's "1k" lengths).
        let d = LengthDist::Range08;
        assert_eq!(LengthDist::range08_bounds(921.5), (819.0, 1024.0));
        let (n, max64) = d.mean_and_max(921.5, 64.0);
        assert_close(n, 921.5, 1e-9);
        // E[max of 64 draws] over 206 equally likely values: 1,024 − Σ_j (j/206)^64 ≈ 1,020.8.
        let want = 1024.0 - (1..206).map(|j| (j as f64 / 206.0).powi(64)).sum::<f64>();
        assert_close(max64, want, 1e-9);
        // Quantiles: the ends and the middle of the support; the sample mean of a fine grid.
        assert_eq!(d.draw(921.5, 1e-12), 819);
        assert_eq!(d.draw(921.5, 1.0 - 1e-12), 1024);
        let grid: f64 = (0..10_000)
            .map(|i| d.draw(921.5, (i as f64 + 0.5) / 10_000.0) as f64)
            .sum::<f64>()
            / 10_000.0;
        assert_close(grid, 921.5, 1e-3);
    }

    #[test]
    fn normal_cdf_known_values() {
        assert_close(normal_cdf(0.0), 0.5, 1e-7);
        assert_close(normal_cdf(1.0), 0.841_344_7, 1e-6);
        assert_close(normal_cdf(-1.959_964), 0.025, 1e-4);
    }
}
