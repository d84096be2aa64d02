//! MoE routing at run time (not parameter counting, which is `model::params`): how many
//! distinct experts a step of `b` tokens touches, and how much busier than average the busiest
//! expert-parallel rank is.
//!
//! - Distinct experts: with uniform routing each token avoids a given expert with probability
//!   `1 − k/E` exactly, so `D(b) = E·(1 − (1 − k/E)^b)` (docs/methodology.md §3.1).
//! - Busiest rank: the per-rank load `X_g` of `b·k` assignments over `ep` ranks has mean
//!   `μ = b·k/ep` and variance `σ² ≈ b·k·(1/ep)(1 − 1/ep)·(E − k)/(E − 1)` (k distinct picks per
//!   token); the expected maximum of `ep` such loads is `μ + σ·√(ep/(ep−1))·z_ep` with Blom's
//!   `z_n = Φ⁻¹((n − 0.375)/(n + 0.25))` (Raab & Steger 1998, Gaussian regime), and never less
//!   than `⌈μ⌉`.

/// Expected distinct experts touched by a step of `tokens` tokens (uniform routing).
/// A dense model (one expert) always touches 1.
pub fn distinct_experts(experts: f64, top_k: f64, tokens: f64) -> f64 {
    if experts <= 1.0 {
        return 1.0;
    }
    experts * (1.0 - (1.0 - top_k / experts).powf(tokens))
}

/// `−ln` of the largest miss chance `(1 − k/E)^tokens` at which `distinct_experts` is exactly
/// `E`: e^-40 < 2^-54, and below 2^-54 the difference `1 − miss` rounds to 1.
const ALL_EXPERTS_NEG_LN_MISS: f64 = 40.0;

/// Tokens above which `distinct_experts(experts, top_k, tokens)` is exactly `experts` (every
/// expert touched to the last bit), so a caller can skip its `powf`; infinite when there is no
/// such count. Prepared once per model and redundancy, it saves most steps' `powf`.
pub fn all_experts_tokens(experts: f64, top_k: f64) -> f64 {
    let miss = 1.0 - top_k / experts;
    if (0.0..1.0).contains(&miss) {
        ALL_EXPERTS_NEG_LN_MISS / -miss.ln()
    } else {
        f64::INFINITY
    }
}

/// Expected load of the busiest of `ep` expert-parallel ranks divided by the mean load.
/// 1 when there is no expert parallelism.
pub fn busiest_rank_factor(experts: f64, top_k: f64, tokens: f64, ep: u64) -> f64 {
    if ep <= 1 || experts <= 1.0 || tokens <= 0.0 {
        return 1.0;
    }
    let n = ep as f64;
    let assignments = tokens * top_k;
    let mean = assignments / n;
    let var = assignments * (1.0 / n) * (1.0 - 1.0 / n) * (experts - top_k) / (experts - 1.0);
    let z = inverse_normal_cdf((n - 0.375) / (n + 0.25));
    let max = (mean + var.sqrt() * (n / (n - 1.0)).sqrt() * z).max(mean.ceil());
    (max / mean).max(1.0)
}

/// Φ⁻¹(p) for p in (0, 1): P. J. Acklam's rational approximation (relative error < 1.2e-9).
pub fn inverse_normal_cdf(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    const P_LOW: f64 = 0.024_25;
    if p < P_LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - P_LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::assert_close;

    #[test]
    fn distinct_experts_match_monte_carlo_table() {
        // model-spec §3.1 (formula = Monte Carlo), E = 16, k = 2; the table rounds to 2 decimals.
        for (b, want) in [
            (1.0, 2.0),
            (2.0, 3.75),
            (8.0, 10.50),
            (16.0, 14.11),
            (32.0, 15.78),
        ] {
            assert_close(distinct_experts(16.0, 2.0, b), want, 0.001);
        }
        assert_close(distinct_experts(1.0, 1.0, 64.0), 1.0, 1e-12);
    }

    #[test]
    fn past_all_experts_tokens_every_expert_is_touched_exactly() {
        for (e, k) in [
            (8.0, 2.0),
            (16.0, 2.0),
            (16.0, 16.0),
            (64.0, 6.0),
            (256.0, 8.0),
            (288.0, 8.0),
            (320.0, 8.0),
            (1024.0, 1.0),
            (4096.0, 1.0),
        ] {
            let from = all_experts_tokens(e, k);
            assert!(from.is_finite() && from >= 0.0, "{e} {k}: {from}");
            // Every token count past the threshold, and a few thousand more.
            let first = from.floor() + 1.0;
            for t in (0..5000)
                .map(|i| first + i as f64)
                .chain([first + 0.5, 1e6, 1e9])
            {
                let d = distinct_experts(e, k, t);
                assert!(d.to_bits() == e.to_bits(), "{e} {k} {t}: {d}");
            }
        }
        assert!(all_experts_tokens(16.0, 0.0).is_infinite());
        assert!(all_experts_tokens(1.0, 2.0).is_infinite());
    }

    #[test]
    fn blom_z16_is_1_768() {
        // Blom's approximation for n = 16 (model-spec §3.2: z_16 = 1.768).
        assert_close(inverse_normal_cdf((16.0 - 0.375) / 16.25), 1.768, 0.001);
    }

    #[test]
    fn busiest_rank_matches_simulated_ep8_table_at_large_batch() {
        // model-spec §3.2, EP = 8 (2 experts per GPU), simulated busiest GPU / mean; the Gaussian
        // approximation is good for b >= 32 (within 3% here), poor below.
        for (b, want) in [(64.0, 1.35), (256.0, 1.18), (1024.0, 1.09), (4096.0, 1.04)] {
            assert_close(busiest_rank_factor(16.0, 2.0, b, 8), want, 0.03);
        }
        assert_close(busiest_rank_factor(16.0, 2.0, 64.0, 1), 1.0, 1e-12);
    }
}
