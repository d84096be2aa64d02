//! Communication under the α–β model: `t = α + bytes_on_wire / achievable_bandwidth`, with the
//! NCCL bus-bandwidth factors (nccl-tests doc/PERFORMANCE.md): all-reduce moves `2(n−1)/n` of
//! the message per rank, all-to-all `(n−1)/n`, a point-to-point send moves it once (docs/methodology.md §6).

use crate::hardware::Link;

/// Ring all-reduce of `bytes` per rank over `n` ranks joined by `link`; 0 for one rank.
pub fn all_reduce_s(bytes: f64, n: u64, link: Link) -> f64 {
    if n <= 1 {
        return 0.0;
    }
    let n = n as f64;
    link.latency_s + 2.0 * (n - 1.0) / n * bytes / link.bytes_per_s
}

/// All-to-all of `bytes` per rank over `n` ranks joined by `link`: each rank keeps `1/n` of its
/// data and sends the rest; 0 for one rank.
pub fn all_to_all_s(bytes: f64, n: u64, link: Link) -> f64 {
    if n <= 1 {
        return 0.0;
    }
    let n = n as f64;
    link.latency_s + (n - 1.0) / n * bytes / link.bytes_per_s
}

/// Point-to-point send of `bytes` over `link`.
pub fn p2p_s(bytes: f64, link: Link) -> f64 {
    link.latency_s + bytes / link.bytes_per_s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::assert_close;

    #[test]
    fn gpt4_tp8_decode_all_reduce_on_a100_nvlink() {
        // model-spec §7.1: b = 1, 21.5 KB per all-reduce over 8 GPUs at 0.65 × 300 GB/s and
        // α = 10 µs → 10.2 µs; b = 128, 2.75 MB → 34.7 µs.
        let link = Link {
            bytes_per_s: 0.65 * 300e9,
            latency_s: 10e-6,
        };
        assert_close(all_reduce_s(10752.0 * 2.0, 8, link), 10.2e-6, 0.01);
        assert_close(all_reduce_s(128.0 * 10752.0 * 2.0, 8, link), 34.7e-6, 0.01);
        assert_close(all_reduce_s(1e9, 1, link), 0.0, 1e-12);
    }

    #[test]
    fn all_to_all_moves_all_but_the_local_share() {
        // 8 ranks, 8 MB each: 7/8 of it crosses the link at 100 GB/s after α = 10 µs → 80 µs.
        let link = Link {
            bytes_per_s: 100e9,
            latency_s: 10e-6,
        };
        assert_close(all_to_all_s(8e6, 8, link), 80e-6, 1e-9);
        assert_close(all_to_all_s(8e6, 1, link), 0.0, 1e-12);
    }
}
