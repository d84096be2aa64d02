//! MoE token exchange when attention runs data-parallel (docs/methodology.md §6.2): how many
//! expert-parallel ranks and nodes a token reaches, and what the dispatch before the experts and
//! the combine after them cost on the busiest GPU.
//!
//! - **Ranks and nodes reached.** A token's `k` experts are `k` distinct draws from `E` (uniform
//!   routing). A unit (an EP rank, a node) holding `u` of them is missed with probability
//!   `C(E−u, k)/C(E, k)`. With group-limited routing (DeepSeek-V3 §3.2.2: `n_group` expert
//!   groups, each token restricted to `topk_group` of them, chosen by the sum of their best
//!   experts' scores) every chosen group holds some of the token's experts, `k/topk_group` each:
//!   a unit holding whole groups is reached when one of its groups is chosen, a unit inside a
//!   group when its group is chosen and one of the group's draws lands on it.
//! - **All-to-all** (DeepEP normal mode, TensorRT-LLM wide EP): a token crosses the network once
//!   per remote node it reaches (through its GPU's own NIC, not the node's), and NVLink once per
//!   rank it reaches other than the one it lands on in each node (the sender itself, or the
//!   network receiver that forwards it): `R·(1 − 1/ranks per node)` sends for `R` ranks reached.
//!   NVLink and the NIC run concurrently; the busiest rank receives `imbalance ×` the mean.
//! - **All-gather** (TensorRT-LLM's CUTLASS MoE and SGLang's default with attention DP): every
//!   GPU gathers the other groups' 16-bit tokens and a reduce-scatter returns the partial sums, as
//!   NCCL rings at the measured all-gather bandwidth.
//! - `auto` is what those runtimes do: all-gather inside one node, all-to-all (DeepEP, wide EP)
//!   when the stage spans nodes.

use super::comm;
use super::context::Rates;
use super::moe::busiest_rank_factor;
use crate::hardware::Hardware;
use crate::model::ModelCounts;
pub use crate::model::params::RoutingGroups;

/// Bytes of block scales per fp8 element of a dispatched token (one fp32 scale per 128 values,
/// DeepSeek-V3 §3.3.2 fine-grained quantization; DeepEP's fp8 dispatch).
pub const FP8_SCALE_BYTES_PER_ELEM: f64 = 4.0 / 128.0;

/// Probability that `k` distinct uniform draws from `n` items all miss a set of `u` of them:
/// `C(n−u, k) / C(n, k)`.
pub fn miss_probability(n: f64, u: f64, k: f64) -> f64 {
    if u <= 0.0 {
        return 1.0;
    }
    if n - u < k {
        return 0.0;
    }
    let mut p = 1.0;
    let mut i = 0.0;
    while i < k {
        p *= (n - u - i) / (n - i);
        i += 1.0;
    }
    p
}

/// `miss_probability` for a fractional number of draws `k`: linear between the whole numbers.
fn miss_probability_frac(n: f64, u: f64, k: f64) -> f64 {
    let (lo, hi) = (k.floor(), k.ceil());
    let p_lo = miss_probability(n, u, lo);
    if hi - lo < 0.5 {
        return p_lo;
    }
    p_lo + (k - lo) * (miss_probability(n, u, hi) - p_lo)
}

/// Expected number of `units` equal units (EP ranks, nodes), holding `experts / units` experts
/// each in order, that one token's `top_k` experts reach.
pub fn expected_units_reached(
    experts: f64,
    top_k: f64,
    units: f64,
    groups: Option<RoutingGroups>,
) -> f64 {
    if units <= 1.0 {
        return units.clamp(0.0, 1.0);
    }
    let u = experts / units;
    // A limit that admits every group is no limit.
    let groups = groups.filter(|g| g.per_token < g.groups);
    let miss = match groups {
        None => miss_probability(experts, u, top_k),
        Some(g) => {
            let per_group = experts / g.groups;
            if u >= per_group {
                // The unit holds h whole groups: missed when none of them is chosen.
                let h = (u / per_group).round();
                miss_probability(g.groups, h, g.per_token)
            } else {
                // Inside one group: missed unless its group is chosen and one of the group's
                // k/topk_group draws lands on it.
                let chosen = g.per_token / g.groups;
                let draws = top_k / g.per_token;
                (1.0 - chosen) + chosen * miss_probability_frac(per_group, u, draws)
            }
        }
    };
    units * (1.0 - miss)
}

/// Where a stage's expert-parallel group sits: its GPUs, nodes and ranks.
#[derive(Clone, Copy, Debug)]
pub struct EpPlacement {
    /// Expert-parallel ranks.
    pub ranks: f64,
    /// Nodes the stage spans.
    pub nodes: f64,
    /// GPUs per rank (expert TP): a token routed to a rank goes to each of them.
    pub gpus_per_rank: f64,
}

impl EpPlacement {
    /// The placement of a stage of `stage_gpus` GPUs split into `ep` ranks on `hw`'s nodes.
    pub fn new(hw: &Hardware, stage_gpus: u64, ep: u64) -> Self {
        let nodes = stage_gpus.div_ceil(hw.scaleup_gpus.max(1)).max(1);
        EpPlacement {
            ranks: ep as f64,
            nodes: nodes as f64,
            gpus_per_rank: (stage_gpus / ep.max(1)).max(1) as f64,
        }
    }
}

/// Sends one token makes in an all-to-all: (NVLink sends, network sends).
pub fn sends_per_token(
    m: &ModelCounts,
    groups: Option<RoutingGroups>,
    p: EpPlacement,
) -> (f64, f64) {
    let ranks = expected_units_reached(m.experts, m.top_k, p.ranks, groups);
    let ranks_per_node = (p.ranks / p.nodes).max(1.0);
    let nvlink = ranks * (1.0 - 1.0 / ranks_per_node) * p.gpus_per_rank;
    let net = if p.nodes > 1.0 {
        let nodes = expected_units_reached(m.experts, m.top_k, p.nodes, groups);
        nodes * (1.0 - 1.0 / p.nodes)
    } else {
        0.0
    };
    // A GPU whose expert TP spans more than one GPU also sends to its own rank's other slices.
    let own_slices = if p.gpus_per_rank > 1.0 {
        ranks / p.ranks * (p.gpus_per_rank - 1.0)
    } else {
        0.0
    };
    (nvlink + own_slices, net)
}

/// Sends one token makes in a decode step's exchange across nodes, (NVLink sends, network
/// sends): DeepEP's low-latency kernels, which the runtimes run for decode because they replay in
/// CUDA graphs (SGLang `--deepep-mode auto`, TensorRT-LLM `DeepEPLowLatency`), write one copy
/// per routed expert straight into the expert's buffer, with no per-node deduplication: of a
/// token's k copies, k·(1 − 1/nodes) cross the network and the rest go to the other GPUs of its
/// own node (docs/methodology.md §6.2). With no forwarding, a copy reaches each of its expert's
/// `gpus_per_rank` GPUs itself.
pub fn low_latency_sends_per_token(top_k: f64, p: EpPlacement) -> (f64, f64) {
    let ranks_per_node = (p.ranks / p.nodes).max(1.0);
    let g = p.gpus_per_rank;
    let local = top_k / p.nodes;
    // Local copies to another rank of the node (each of its g GPUs), and to the other g − 1
    // slices of the sender's own rank.
    let nvlink = local * (1.0 - 1.0 / ranks_per_node) * g + local / ranks_per_node * (g - 1.0);
    (nvlink, top_k * (1.0 - 1.0 / p.nodes) * g)
}

/// One all-to-all (a dispatch or a combine) on the busiest GPU, seconds: the GPU's tokens,
/// `bytes` of them in all, each make `sends.0` NVLink sends and `sends.1` network sends. NVLink
/// runs at the measured all-to-all rate, the network through the GPU's own NIC; the two run
/// concurrently, and the busiest rank receives `imbalance ×` the mean bytes (its start-up
/// latency is paid once, however many bytes it receives).
pub fn all_to_all_s(hw: &Hardware, sends: (f64, f64), bytes: f64, imbalance: f64) -> f64 {
    let (nv, net) = sends;
    let nv_s = if nv > 0.0 {
        hw.all_to_all.latency_s + imbalance * nv * bytes / hw.all_to_all.bytes_per_s
    } else {
        0.0
    };
    let net_s = if net > 0.0 {
        hw.scaleout.latency_s + imbalance * net * bytes / hw.scaleout.bytes_per_s
    } else {
        0.0
    };
    nv_s.max(net_s)
}

/// The step an exchange belongs to. Runtimes replay decode steps from CUDA graphs, so a decode
/// step's all-to-all across nodes runs DeepEP's low-latency kernels (their buffers are sized in
/// advance); a prefill chunk runs the normal ones, which deduplicate per node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// A prompt's chunk.
    Prefill,
    /// One token for each sequence in the batch.
    Decode,
}

/// One MoE layer's token exchange on the busiest GPU, seconds: (dispatch, combine), each at
/// least the GPU's measured floor for the runtimes' all-to-all kernels (`moe_dispatch_us`,
/// `moe_combine_us`; docs/methodology.md §6.2).
/// `sent_tokens` is what one GPU sends (its attention group's tokens over the group's TP),
/// `stage_tokens` every token entering the layer across the stage. A decode step whose
/// all-to-all crosses nodes runs the low-latency kernels (`low_latency_sends_per_token`) when
/// each expert-parallel rank is one GPU, as those kernels require.
pub fn exchange_s(
    hw: &Hardware,
    r: &Rates,
    m: &ModelCounts,
    groups: Option<RoutingGroups>,
    sent_tokens: f64,
    stage_tokens: f64,
    phase: Phase,
) -> (f64, f64) {
    let stage_gpus = r.tp * r.dp;
    if r.dp <= 1 || stage_tokens <= 0.0 {
        return (0.0, 0.0);
    }
    let d = m.d_model;
    let dispatch_elem = r.dispatch_bytes
        + if r.dispatch_bytes < 2.0 {
            FP8_SCALE_BYTES_PER_ELEM
        } else {
            0.0
        };
    match r.moe_dispatch.resolve(stage_gpus, hw.gpus_per_node) {
        super::config::MoeDispatch::AllToAll => {
            let p = EpPlacement::new(hw, stage_gpus, r.ep);
            // DeepEP's kernels serve ranks of one GPU each (no expert TP); a layout that splits
            // its experts keeps the forwarding form.
            let (nv, net) = if phase == Phase::Decode && p.nodes > 1.0 && p.gpus_per_rank <= 1.0 {
                low_latency_sends_per_token(m.top_k, p)
            } else {
                sends_per_token(m, groups, p)
            };
            let imbalance = busiest_rank_factor(m.experts, m.top_k, stage_tokens, r.ep);
            let one = |elem_bytes: f64| {
                all_to_all_s(hw, (nv, net), sent_tokens * d * elem_bytes, imbalance)
            };
            // The runtimes' one-sided kernels take a fixed time however few tokens they carry
            // (their flag barriers across the EP group): the measured floors, where a token
            // leaves its GPU at all.
            let (dispatch_floor, combine_floor) = if nv + net > 0.0 {
                hw.moe_exchange_floor_s
            } else {
                (0.0, 0.0)
            };
            (
                one(dispatch_elem).max(dispatch_floor),
                one(r.act_bytes).max(combine_floor),
            )
        }
        _ => {
            // Gather the other groups' tokens in 16 bits, reduce-scatter the outputs.
            let link = if stage_gpus <= hw.scaleup_gpus {
                hw.all_gather
            } else {
                comm::ring_link(hw, stage_gpus)
            };
            let t = comm::all_gather_s(stage_tokens * d * r.act_bytes, r.dp, link);
            (t, t)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::assert_close;

    /// Monte Carlo of `expected_units_reached` with a small LCG: routing draws `k` distinct
    /// experts (within `per_token` random groups of `groups`, if given).
    fn simulate(e: usize, k: usize, units: usize, groups: Option<(usize, usize)>) -> f64 {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: usize| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 33) as usize) % n
        };
        let trials = 20_000;
        let mut total = 0usize;
        for _ in 0..trials {
            let mut picks: Vec<usize> = Vec::new();
            match groups {
                None => {
                    while picks.len() < k {
                        let x = next(e);
                        if !picks.contains(&x) {
                            picks.push(x);
                        }
                    }
                }
                Some((g, t)) => {
                    // t distinct groups, k/t distinct experts in each.
                    let per = e / g;
                    let mut chosen: Vec<usize> = Vec::new();
                    while chosen.len() < t {
                        let x = next(g);
                        if !chosen.contains(&x) {
                            chosen.push(x);
                        }
                    }
                    for c in chosen {
                        let start = picks.len();
                        while picks.len() < start + k / t {
                            let x = c * per + next(per);
                            if !picks[start..].contains(&x) {
                                picks.push(x);
                            }
                        }
                    }
                }
            }
            let mut hit = vec![false; units];
            for p in picks {
                hit[p / (e / units)] = true;
            }
            total += hit.iter().filter(|h| **h).count();
        }
        total as f64 / trials as f64
    }

    #[test]
    fn ranks_and_nodes_reached_match_a_monte_carlo() {
        // DeepSeek-V3: 256 experts, top-8, over 8 ranks, 64 ranks and 8 nodes; Qwen3: 128
        // experts top-8 over 4 ranks; GPT-4: 16 experts top-2 over 8 ranks; and the group-limited
        // routing (8 groups, 4 per token) over 8 nodes, 64 ranks and 4 nodes.
        for (e, k, units, groups) in [
            (256, 8, 8, None),
            (256, 8, 64, None),
            (128, 8, 4, None),
            (16, 2, 8, None),
            (256, 8, 8, Some((8, 4))),
            (256, 8, 64, Some((8, 4))),
            (256, 8, 4, Some((8, 4))),
        ] {
            let g = groups.map(|(g, t)| RoutingGroups {
                groups: g as f64,
                per_token: t as f64,
            });
            let model = expected_units_reached(e as f64, k as f64, units as f64, g);
            let mc = simulate(e, k, units, groups);
            assert_close(model, mc, 0.01);
        }
    }

    #[test]
    fn low_latency_sends_one_copy_per_expert_by_hand() {
        // (ranks, nodes, GPUs a rank, NVLink sends, network sends) for top-8:
        // - EP 32 over 4 nodes of 8: 8 · (1 − 1/4) = 6 copies cross the network and the 8/4 = 2
        //   that stay on the node reach another of its GPUs 7/8 of the time (1.75).
        // - One node: nothing crosses the network; 8 · 7/8 = 7 copies go to other GPUs.
        // - Expert TP 2 (16 ranks of 2 GPUs over 4 nodes): every copy goes to both slices, 12 over
        //   the network; of the 2 local copies, 3/4 reach another rank (2 GPUs each) and 1/4 the
        //   sender's own, whose other slice takes one more: 3 + 0.5 NVLink sends.
        for (ranks, nodes, gpus_per_rank, nvlink, network) in [
            (32.0, 4.0, 1.0, 1.75, 6.0),
            (8.0, 1.0, 1.0, 7.0, 0.0),
            (16.0, 4.0, 2.0, 3.5, 12.0),
        ] {
            let p = EpPlacement {
                ranks,
                nodes,
                gpus_per_rank,
            };
            let (nv, net) = low_latency_sends_per_token(8.0, p);
            assert_close(net, network, 1e-12);
            assert_close(nv, nvlink, 1e-12);
        }
    }

    #[test]
    fn node_limited_routing_reaches_at_most_four_of_eight_nodes() {
        // DeepSeek-V3 over 8 nodes (one expert group each): 5.26 nodes without the limit, exactly
        // the 4 chosen groups' nodes with it (DeepSeek-V3 §3.2.2).
        let free = expected_units_reached(256.0, 8.0, 8.0, None);
        let limited = expected_units_reached(
            256.0,
            8.0,
            8.0,
            Some(RoutingGroups {
                groups: 8.0,
                per_token: 4.0,
            }),
        );
        assert_close(
            free,
            8.0 * (1.0 - miss_probability(256.0, 32.0, 8.0)),
            1e-12,
        );
        assert_close(limited, 4.0, 1e-12);
        assert!(free > 5.0, "{free}");
    }
}
