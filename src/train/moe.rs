//! The routed-expert side of one MoE layer in a training step (docs/methodology.md §16.1), per
//! micro-batch on the busiest GPU: the expert-parallel all-to-alls, the routed experts' grouped
//! GEMMs, and the router and permutation traffic around them.
//!
//! - **Placement.** Megatron-Core orders ranks `tp-cp-ep-dp-pp`: the `ep` expert-parallel ranks
//!   (each `etp` GPUs of expert tensor parallelism) are consecutive GPUs carved out of data
//!   parallelism, so a group of `ep·etp ≤ scaleup_gpus` GPUs stays inside one scale-up domain.
//! - **Dispatchers.** Megatron's default `alltoall` dispatcher permutes every token into one copy
//!   per routed expert and moves the copies in one NCCL all-to-all: `k·(1 − 1/ep)` copies leave
//!   the GPU, those for other nodes through the GPU's own NIC. The `flex` dispatcher (DeepEP,
//!   HybridEP) sends one copy per EP rank a token reaches and one per node over the network, so
//!   node-limited routing (DeepSeek-V3's `routing_groups`) cuts it (`perf::dispatch`).
//! - **Passes.** Forward: a dispatch and a combine; backward: the same two again; full
//!   recomputation adds the forward's. Every all-to-all moves 16-bit activations (Megatron
//!   dispatches in bf16 and quantises behind the dispatch).
//! - **Routed experts.** The fused-MoE kernel model (`perf::experts`, grouped-GEMM rates fitted
//!   on measured fused-MoE layers) prices the forward pass's GEMM work and glue traffic; the
//!   backward pass runs twice its GEMM work (data and weight gradients) plus the glue again.
//!   Transformer Engine launches one GEMM per local expert, so every expert GEMM pays the
//!   measured per-GEMM fixed time (`gemm_us`, `gemm_fp8_us`): `2·E_local` forward, `4·E_local`
//!   backward.
//! - **Router and permutation.** The router's fp32 scores and the dispatcher's permute and
//!   unpermute (Megatron's `moe_permute_fusion` kernels) are memory traffic, forward and again
//!   backward.
//! - **Host.** Megatron's dropless dispatch needs the token counts on the host (to size the
//!   all-to-all and the experts' GEMMs), so the CPU waits for the GPU's queue to drain every layer
//!   and cannot run ahead: behind the sync the GPU runs each operator as the host issues it, and
//!   an eager layer takes its GPU time plus the host's time to issue its operators, one call each
//!   (`host_s`). Transformer Engine CUDA graphs (`cuda_graph_scope`) replay the attention block,
//!   the router and the dispatcher's preprocessing in one call each; the routed experts stay
//!   eager, and Transformer Engine's grouped linear issues one GEMM per local expert.
//! - **Overlap.** With `EpOverlap::MicroBatch` (Megatron's `--overlap-moe-expert-parallel-comm`
//!   with `--delay-wgrad-compute`, DualPipe) one micro-batch's all-to-alls run under another's
//!   compute in Megatron-Core's combined 1F1B order (`super::overlap`): each hides under the
//!   other pass's independent work beside it, which the communication kernels' SMs slow by a
//!   fifth meanwhile.

use super::{EpDispatcher, EpOverlap, Recompute, TrainConfig};
use crate::hardware::Hardware;
use crate::model::ModelCounts;
use crate::perf::dispatch::{self, EpPlacement, RoutingGroups};
use crate::perf::experts::{ExpertLoad, expert_kernels};
use crate::perf::moe::busiest_rank_factor;
use crate::perf::{Config, Context, Layout};

/// Bytes of router traffic per token per routed expert in one pass: the router GEMM writes the
/// fp32 score (4), the fused top-k/softmax/aux-loss kernel reads it (4) and writes the fp32
/// probability (4) and the routing-map byte (1) the permute reads.
pub const ROUTER_BYTES_PER_EXPERT: f64 = 13.0;

/// Bytes of one activation value the EP all-to-alls move (bf16).
pub const DISPATCH_ELEM_BYTES: f64 = 2.0;

/// Operators the host issues for one MoE layer's forward pass outside its experts' GEMMs:
/// counted from Megatron-Core 0.16.1's MoE layer (tag `core_v0.16.1`, Transformer Engine 2.12 for
/// what a call issues inside; docs/calibration.md, thirtieth session): 49 Python-level calls
/// (attention block, router, the dispatcher's counts, copies, permute, all-to-all and sort, the
/// grouped linears' splits and allocations, unpermute, combine, residual) and about half of the
/// ~23 Triton launches and allocations inside Transformer Engine's calls (docs/methodology.md
/// §16.1).
pub const HOST_OPS_FORWARD: f64 = 60.0;

/// The same for the backward pass: 38–44 gradient calls autograd issues and the other half of
/// the launches and allocations inside Transformer Engine's calls.
pub const HOST_OPS_BACKWARD: f64 = 53.0;

/// Of `HOST_OPS_FORWARD` and `HOST_OPS_BACKWARD`, the attention block's operators (forward,
/// backward): what a Transformer Engine CUDA graph of scope `attn` replays in one call a pass.
/// With `attn`, `moe_router` and `moe_preprocess` graphed, 27 forward and 19 backward fixed
/// operators stay eager in Megatron-Core 0.16.1's layer (the host copies, the sync, the
/// all-to-alls and the expert side): the three scopes take 33 and 34, shared here in the
/// proportion of their modules' calls.
pub const HOST_OPS_ATTN: [f64; 2] = [13.0, 19.0];

/// The pre-MLP norm's and the router's (scope `moe_router`).
pub const HOST_OPS_ROUTER: [f64; 2] = [10.0, 15.0];

/// The dispatcher's preprocessing, forward only (scope `moe_preprocess`): the token counts, their
/// all-gather and the permute (integer metadata and a gather: no gradient of its own here).
pub const HOST_OPS_PREPROCESS: f64 = 10.0;

/// Host operators of 8-bit precisions per grouped linear and pass: Transformer Engine quantises
/// a grouped linear's inputs (forward) and output gradients (backward) in one fused call for all
/// its experts (`split_quantize`; the per-expert kernels launch from C++).
pub const HOST_OPS_QUANTISE_PER_LINEAR: f64 = 1.0;

/// Bytes per element of the routed experts' output (one token-expert assignment × d) that
/// Megatron-Core 0.16 moves to add a biased expert's output bias (`TEGroupedMLP._apply_bias`:
/// per local expert `t + b·p` in 16 bits, then concatenated). Forward: `b·p` written, `t` and
/// `b·p` read and the sum written, the sum read and written by the concatenation (6 passes × 2
/// bytes). Backward: the probability's and the bias's gradients, each the output gradient read
/// and multiplied into a written and re-read product before its reduction (6 passes × 2 bytes).
pub const EXPERT_BIAS_BYTES: [f64; 2] = [12.0, 12.0];

/// Bytes per fc1-output element (one assignment × 2F) that Megatron-Core 0.16 moves to clamp a
/// clamped SwiGLU's inputs outside its fused activation (`weighted_bias_quick_geglu_impl`: both
/// halves clamped, then concatenated back). Forward: each element read and written by its
/// clamp, then read and written by the concatenation (4 passes × 2 bytes); backward: each clamp's
/// gradient reads the output gradient and the input and writes the input gradient (3 × 2 bytes).
pub const SWIGLU_CLAMP_BYTES: [f64; 2] = [8.0, 6.0];

/// Host operators of the expert-bias path: forward the split of the output and the
/// probabilities, the concatenation and the cast (4) plus a multiply and an add per local
/// expert; backward two products and two reductions per local expert.
pub const EXPERT_BIAS_HOST_OPS: [f64; 4] = [4.0, 2.0, 0.0, 4.0];

/// Host operators of the clamps: forward the two clamps, the concatenation and the offset
/// tensor (4); backward the two clamps' gradients (2).
pub const SWIGLU_CLAMP_HOST_OPS: [f64; 2] = [4.0, 2.0];

/// Bytes the routed experts' activation moves per token-expert assignment in one pass, for an
/// inner width `f` on this GPU: the fc1 output read (`g·f` values), the output written (`f`),
/// both 16-bit, and the fp32 routing probability it is weighted by (Megatron-Core
/// `bias_act_func`, what `moe_act` recomputation re-runs).
pub fn moe_act_bytes(m: &ModelCounts, f: f64) -> f64 {
    2.0 * (m.ffn_up_matrices + 1.0) * f + 4.0
}

/// Host operators one recomputed module adds to an MoE layer's backward pass: the activation
/// (`moe_act`, one fused call), the two norms (`layernorm`), MLA's two up-projection GEMMs and
/// the rotary on query and key (`mla_up_proj`).
pub const RECOMPUTE_HOST_OPS: [f64; 3] = [1.0, 2.0, 4.0];

/// Routed experts each GPU holds: `E / ep` (at least one).
pub fn local_experts(m: &ModelCounts, c: &TrainConfig) -> f64 {
    (m.experts / c.ep.max(1) as f64).max(1.0)
}

/// Operators the host issues for one MoE layer and micro-batch on one GPU, all passes: the fixed
/// ones less what the graphed scopes replay, one fused quantisation per grouped linear and pass
/// in 8-bit precisions, and per local expert and for each of the two grouped linears one GEMM
/// forward and two backward (data and weight gradients); the expert bias's and the clamps'
/// operators and the recomputed modules outside the graphs on top.
pub fn host_ops(m: &ModelCounts, c: &TrainConfig) -> f64 {
    let local_experts = local_experts(m, c);
    // The two grouped linears (up and down projections) quantise once a pass in 8-bit.
    let quant = if c.dtype.bytes() < 2.0 {
        2.0 * HOST_OPS_QUANTISE_PER_LINEAR
    } else {
        0.0
    };
    // Each captured scope costs one replay a pass instead of its operators.
    let g = c.effective_cuda_graph_scope();
    let captured =
        |on: bool, [fwd, bwd]: [f64; 2]| if on { [fwd - 1.0, bwd - 1.0] } else { [0.0; 2] };
    let [attn_f, attn_b] = captured(g.attn, HOST_OPS_ATTN);
    let [router_f, router_b] = captured(g.moe_router, HOST_OPS_ROUTER);
    let preprocess_f = if g.moe_preprocess {
        HOST_OPS_PREPROCESS - 1.0
    } else {
        0.0
    };
    // Transformer Engine's grouped linear issues one GEMM per local expert from Python: one
    // forward, two backward (data and weight gradients), for each of the two linears.
    let mut forward =
        HOST_OPS_FORWARD + quant - attn_f - router_f - preprocess_f + local_experts * 2.0;
    let mut backward = HOST_OPS_BACKWARD + quant - attn_b - router_b + local_experts * 4.0;
    if m.expert_bias {
        let [fixed_fwd, per_expert_fwd, fixed_bwd, per_expert_bwd] = EXPERT_BIAS_HOST_OPS;
        forward += fixed_fwd + per_expert_fwd * local_experts;
        backward += fixed_bwd + per_expert_bwd * local_experts;
    }
    if m.swiglu_clamped {
        forward += SWIGLU_CLAMP_HOST_OPS[0];
        backward += SWIGLU_CLAMP_HOST_OPS[1];
    }
    let rm = c.effective_recompute_modules();
    let [act, norms, mla] = RECOMPUTE_HOST_OPS;
    if rm.moe_act {
        backward += act
            + if m.swiglu_clamped {
                SWIGLU_CLAMP_HOST_OPS[0]
            } else {
                0.0
            };
    }
    // A recomputed module inside a graphed part re-runs inside its replay: the input norm and
    // MLA's up-projections in `attn`, the pre-MLP norm in `moe_router`.
    if rm.layernorm {
        let eager = f64::from(u8::from(!g.attn)) + f64::from(u8::from(!g.moe_router));
        backward += norms * eager / 2.0;
    }
    if rm.mla_up_proj && m.mla_up_params_per_layer > 0.0 && !g.attn {
        backward += mla;
    }
    forward_passes(c) * forward + backward
}

/// Host time to issue one MoE layer's eager operators for one micro-batch, seconds: added to the
/// layer's GPU time (the per-layer sync serialises the two).
pub fn host_s(ctx: &Context, c: &TrainConfig) -> f64 {
    host_ops(&ctx.model, c) * ctx.hw.host_op_s
}

/// GPUs each routed expert is split over: `expert_shards / ep` (the TP group when `ep ≤ dp`,
/// fewer when the experts also take the TP ranks).
pub fn expert_tp(c: &TrainConfig) -> u64 {
    (c.expert_shards() / c.ep.max(1)).max(1)
}

/// Where a training EP group sits: `ep` ranks of `expert_tp` consecutive GPUs each.
pub fn placement(hw: &Hardware, c: &TrainConfig) -> EpPlacement {
    let etp = expert_tp(c);
    let gpus = c.ep * etp;
    EpPlacement {
        ranks: c.ep as f64,
        nodes: gpus.div_ceil(hw.scaleup_gpus.max(1)).max(1) as f64,
        gpus_per_rank: etp as f64,
    }
}

/// Sends one token makes in one training all-to-all: (NVLink sends, network sends).
///
/// `alltoall`: `k` copies, each to a uniformly drawn expert's rank. A copy for another rank of the
/// node crosses NVLink, one for another node the NIC; with expert TP the receiving rank then
/// all-gathers it over its other `etp − 1` GPUs. Per token: NVLink `k·((etp − 1) + (r − 1)/ep)`,
/// network `k·(ep − r)/ep`, `r` ranks per node. `flex`: `perf::dispatch::sends_per_token`.
pub fn sends_per_token(
    m: &ModelCounts,
    groups: Option<RoutingGroups>,
    p: EpPlacement,
    dispatcher: EpDispatcher,
) -> (f64, f64) {
    if p.ranks <= 1.0 && p.gpus_per_rank <= 1.0 {
        return (0.0, 0.0);
    }
    match dispatcher {
        EpDispatcher::Alltoall => {
            let k = m.top_k;
            let ep = p.ranks;
            let per_node = (ep / p.nodes).max(1.0);
            (
                k * ((p.gpus_per_rank - 1.0) + (per_node - 1.0) / ep),
                k * (ep - per_node) / ep,
            )
        }
        EpDispatcher::Flex => dispatch::sends_per_token(m, groups, p),
    }
}

/// Tokens one GPU holds in a micro-batch: `s·b/tp` (sequence parallelism; Megatron requires it
/// for MoE with TP).
pub fn gpu_tokens(c: &TrainConfig) -> f64 {
    (c.seq_len * c.micro_batch) as f64 / c.tp as f64
}

/// One all-to-all (a dispatch or a combine) of one MoE layer and micro-batch on the busiest GPU,
/// seconds. None without expert parallelism: the experts then follow the TP group, whose
/// collectives carry the tokens.
pub fn all_to_all_s(ctx: &Context, c: &TrainConfig) -> f64 {
    if c.ep <= 1 {
        return 0.0;
    }
    let m = &ctx.model;
    let p = placement(&ctx.hw, c);
    let sends = sends_per_token(m, m.routing_groups, p, c.ep_dispatcher);
    let t = gpu_tokens(c);
    let group_tokens = t * p.ranks * p.gpus_per_rank;
    let imbalance = busiest_rank_factor(m.experts, m.top_k, group_tokens, c.ep);
    dispatch::all_to_all_s(
        &ctx.hw,
        sends,
        t * m.d_model * DISPATCH_ELEM_BYTES,
        imbalance,
    )
}

/// How much slower the compute runs while an all-to-all overlaps it (`super::overlap`): the
/// communication kernels hold SMs the GEMMs then lack. Megatron-Core's MoE report measures
/// "roughly 20% GEMM-efficiency overhead" with DeepEP on 20 SMs per GPU (arXiv 2603.07685
/// §4.2.3); DeepSeek's DualPipe gives the same 20 of H800's 132 SMs to communication
/// (DeepSeek-V3 §3.2.2).
pub const OVERLAP_COMPUTE_SLOWDOWN: f64 = 0.20;

/// Forward passes of one micro-batch through a layer: 1, or 2 with full recomputation.
pub fn forward_passes(c: &TrainConfig) -> f64 {
    if c.recompute == Recompute::Full {
        2.0
    } else {
        1.0
    }
}

/// The routed-expert side of one MoE layer for one micro-batch on the busiest GPU, seconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct MoeLayer {
    /// Routed experts: grouped GEMMs, their glue traffic and fixed time, every pass.
    pub experts_s: f64,
    /// Router scores and the dispatcher's permute and unpermute, every pass.
    pub routing_s: f64,
    /// All-to-alls, every pass.
    pub all_to_all_s: f64,
    /// The part of `all_to_all_s` hidden under another micro-batch's compute.
    pub hidden_s: f64,
}

impl MoeLayer {
    /// All-to-all time not hidden.
    pub fn exposed_all_to_all_s(&self) -> f64 {
        self.all_to_all_s - self.hidden_s
    }
}

/// The rest of an MoE layer's compute for one micro-batch (attention, shared experts, norms,
/// elementwise), seconds: what an overlapped all-to-all may also hide under.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AttentionSide {
    /// The forward pass.
    pub fwd_s: f64,
    /// The weight gradients of its GEMMs (Megatron delays them to the end of the merged layer).
    pub wgrad_s: f64,
    /// All of it, every pass.
    pub total_s: f64,
}

/// The routed-expert side of one MoE layer and micro-batch beside the rest of the layer's
/// compute, `other`.
pub fn moe_layer(ctx: &Context, c: &TrainConfig, other: AttentionSide) -> MoeLayer {
    let m = &ctx.model;
    let hw = &ctx.hw;
    let etp = expert_tp(c);
    let p = placement(hw, c);
    let t = gpu_tokens(c);
    let group_tokens = t * p.ranks * p.gpus_per_rank;
    let imbalance = busiest_rank_factor(m.experts, m.top_k, group_tokens, c.ep);
    let layout = Layout {
        tp: 1,
        dp: c.ep * etp,
        pp: 1,
        ep: c.ep,
    };
    let mut rates = ctx.rates_for(&Config::new(1, 1, 1, 1, 1, c.dtype), layout);
    // `[gpu.fused_moe.fp8_block]` is TensorRT-LLM's block-scaled inference kernel, measured;
    // training runs its grouped GEMMs in Transformer Engine (or DeepSeek's own kernels), whose
    // block-scaled rate no table here holds, so it keeps the per-tensor fp8 rates.
    rates.fp8_block_scaled = false;
    let k = expert_kernels(
        ctx,
        &rates,
        ExpertLoad {
            stage_tokens: group_tokens,
            rows: group_tokens * imbalance / c.ep as f64,
        },
    );
    let forwards = forward_passes(c);
    // Transformer Engine's grouped linear runs one cuBLAS GEMM per local expert (multi-stream,
    // TE 2.x), so each expert's GEMMs pay the measured per-GEMM fixed time: two forward, four
    // backward (data and weight gradients), in place of the fused inference kernel's one.
    let gemm_fixed_s = local_experts(m, c) * hw.gemm_overhead_s(c.dtype);
    let glue = k.glue_s;
    // fp8: every token-expert assignment's up and down GEMM inputs and output gradients are
    // quantised (`step::fp8_quant_s`).
    let assignments = group_tokens * m.top_k * imbalance / c.ep as f64;
    let quant_s = super::step::fp8_quant_s(
        ctx,
        c,
        assignments,
        super::step::ffn_linear_io(m.d_model, m.ffn_up_matrices, m.ffn_dim / etp as f64),
    );
    // Biased experts and clamped SwiGLU inputs: Megatron-Core's unfused traffic per assignment,
    // each forward pass and the backward.
    let per_pass_bytes = |fwd_or_bwd: usize| {
        let bias = if m.expert_bias {
            EXPERT_BIAS_BYTES[fwd_or_bwd] * m.d_model
        } else {
            0.0
        };
        let clamp = if m.swiglu_clamped {
            SWIGLU_CLAMP_BYTES[fwd_or_bwd] * 2.0 * m.ffn_dim / etp as f64
        } else {
            0.0
        };
        assignments * (bias + clamp)
    };
    let unfused_s = (forwards * per_pass_bytes(0) + per_pass_bytes(1)) / hw.eff_mem_bw_bytes_per_s;
    // `moe_act` recomputation: the activation runs again in the backward pass (its output was
    // discarded once fc2 had read it), with its clamps.
    let act_recompute_s = if c.effective_recompute_modules().moe_act {
        let f = m.ffn_dim / etp as f64;
        let clamp = if m.swiglu_clamped {
            SWIGLU_CLAMP_BYTES[0] * 2.0 * f
        } else {
            0.0
        };
        assignments * (moe_act_bytes(m, f) + clamp) / hw.eff_mem_bw_bytes_per_s
    } else {
        0.0
    };
    let experts_s = forwards * (k.gemms_s() + glue + 2.0 * gemm_fixed_s)
        + 2.0 * k.gemms_s()
        + glue
        + 4.0 * gemm_fixed_s
        + quant_s
        + unfused_s
        + act_recompute_s;
    // The sender's permute (read a token, write its copies) and unpermute (the reverse), in 16
    // bits: `k` copies under `alltoall`, one per rank reached under `flex`.
    let copies = match c.ep_dispatcher {
        EpDispatcher::Alltoall => m.top_k,
        EpDispatcher::Flex => {
            dispatch::expected_units_reached(m.experts, m.top_k, c.ep as f64, m.routing_groups)
                .max(1.0)
        }
    };
    let pass_bytes = t
        * (ROUTER_BYTES_PER_EXPERT * m.experts
            + 2.0 * DISPATCH_ELEM_BYTES * m.d_model * (1.0 + copies));
    let routing_s = (forwards + 1.0) * pass_bytes / hw.eff_mem_bw_bytes_per_s;
    let all_to_all_s = 2.0 * (forwards + 1.0) * all_to_all_s(ctx, c);
    let hidden_s = match c.ep_overlap {
        EpOverlap::None => 0.0,
        EpOverlap::MicroBatch => {
            // The phases of Megatron-Core's combined 1F1B schedule (`super::overlap`): the
            // router and permute run before the dispatch, with the attention side; the experts'
            // forward is its GEMMs, glue, fixed times, the forward's share of the quantisation
            // and its unfused bias and clamp traffic; their weight gradients one GEMM pass.
            let pass_s = pass_bytes / hw.eff_mem_bw_bytes_per_s;
            let mlp_fwd_s = k.gemms_s()
                + glue
                + 2.0 * gemm_fixed_s
                + quant_s / 3.0
                + per_pass_bytes(0) / hw.eff_mem_bw_bytes_per_s;
            let mlp_wgrad_s = k.gemms_s() + 2.0 * gemm_fixed_s;
            let attn_fwd_s = other.fwd_s + pass_s;
            let phases = super::overlap::LayerPhases {
                attn_fwd_s,
                attn_dgrad_s: (other.total_s + routing_s - attn_fwd_s - other.wgrad_s).max(0.0),
                attn_wgrad_s: other.wgrad_s,
                mlp_fwd_s,
                mlp_dgrad_s: (experts_s - mlp_fwd_s - mlp_wgrad_s).max(0.0),
                mlp_wgrad_s,
                a2a_s: all_to_all_s / 4.0,
            };
            all_to_all_s
                - super::overlap::exposed_all_to_all_s(&phases, true, OVERLAP_COMPUTE_SLOWDOWN)
        }
    };
    MoeLayer {
        experts_s,
        routing_s,
        all_to_all_s,
        hidden_s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::Dtype;
    use crate::presets::{load_gpu, load_model};
    use crate::testutil::assert_close;
    use crate::train::{CudaGraphScope, RecomputeModules};

    /// DeepSeek-V3 on H100 nodes (NVLink 450 GB/s × 0.7 measured all-to-all, α 7.2 µs; one
    /// 400 Gb/s NIC per GPU × 0.85, α 20 µs), one 4096-token sequence per micro-batch, TP 1.
    fn dsv3(gpus: u64, ep: u64) -> (Context, TrainConfig) {
        let m = load_model("deepseek-v3", &[]).unwrap().model;
        let g = load_gpu("h100", &[]).unwrap().gpu;
        let ctx = Context::new(&m, &g, 2048);
        let c = TrainConfig {
            ep,
            ..TrainConfig::new(gpus, 1, 1, 4096.0 * gpus as f64, 4096, 1e12, Dtype::Fp8)
        };
        (ctx, c)
    }

    /// One token's activations, 7168 × 2 bytes, for the GPU's 4096 tokens.
    const BYTES: f64 = 4096.0 * 7168.0 * 2.0;
    const NVLINK: f64 = 450e9 * 0.7;
    const NIC: f64 = 400e9 / 8.0 * 0.85;

    /// The busiest rank's load over the mean (§3.2) for the EP group's tokens.
    fn imbalance(c: &TrainConfig) -> f64 {
        busiest_rank_factor(256.0, 8.0, 4096.0 * c.ep as f64, c.ep)
    }

    #[test]
    fn an_all_to_all_inside_one_node_moves_seven_of_eight_copies_over_nvlink() {
        // EP 8 in one node, Megatron's alltoall dispatcher: each token's 8 copies go to uniformly
        // drawn ranks, 7/8 of them to another GPU of the node: 7 sends of the token over NVLink,
        // none over the network.
        let (ctx, c) = dsv3(8, 8);
        let p = placement(&ctx.hw, &c);
        let sends = sends_per_token(&ctx.model, ctx.model.routing_groups, p, c.ep_dispatcher);
        assert_close(sends.0, 7.0, 1e-12);
        assert_close(sends.1, 0.0, 1e-12);
        let by_hand = 7.4e-6 + imbalance(&c) * 7.0 * BYTES / NVLINK;
        assert_close(all_to_all_s(&ctx, &c), by_hand, 1e-9);
        // 1.3 ms: 7 × 58.7 MB at 315 GB/s, before the busiest rank's excess.
        assert_close(7.0 * BYTES / NVLINK, 1.305e-3, 1e-3);
    }

    #[test]
    fn an_all_to_all_across_nodes_leaves_through_one_nic_per_gpu() {
        // EP 32 over 4 nodes: of a token's 8 copies, 8·7/32 = 1.75 go to other ranks of its node
        // (NVLink) and 8·24/32 = 6 to other nodes, each through the sending GPU's own NIC, not
        // the node's eight (the ring all-reduce rule would give 8 × 42.5 GB/s). The NIC is the
        // slower side: 20 µs + 6 × 58.7 MB / 42.5 GB/s = 8.31 ms.
        let (ctx, c) = dsv3(32, 32);
        let p = placement(&ctx.hw, &c);
        assert_close(p.nodes, 4.0, 1e-12);
        let sends = sends_per_token(&ctx.model, ctx.model.routing_groups, p, c.ep_dispatcher);
        assert_close(sends.0, 1.75, 1e-12);
        assert_close(sends.1, 6.0, 1e-12);
        let net_s = 20e-6 + 6.0 * BYTES / NIC;
        assert_close(net_s, 8.311e-3, 1e-3);
        assert!(7.4e-6 + 1.75 * BYTES / NVLINK < net_s);
        assert_close(
            all_to_all_s(&ctx, &c),
            20e-6 + imbalance(&c) * 6.0 * BYTES / NIC,
            1e-9,
        );
        let ring_rule = 20e-6 + 6.0 * BYTES / (8.0 * NIC);
        assert!(all_to_all_s(&ctx, &c) > 7.0 * ring_rule);
    }

    #[test]
    fn node_limited_routing_halves_the_network_sends_of_the_flex_dispatcher() {
        // EP 64 over 8 nodes, one expert group of 32 per node; each token within 4 of the 8
        // groups (DeepSeek-V3 §3.2.2). The flex dispatcher sends a token once to each other node
        // it reaches: exactly 4 nodes, 4 · 7/8 = 3.5 network sends. Inside a group a token's 2
        // experts miss one rank's 4 with probability C(28,2)/C(32,2) = 378/496, so it reaches
        // 64 · 0.5 · (1 − 378/496) = 7.6129 ranks: 7.6129 · 7/8 = 6.661 NVLink sends.
        // The plain alltoall dispatcher sends 8 · 56/64 = 7 copies over the network instead.
        let (ctx, c) = dsv3(64, 64);
        let flex = TrainConfig {
            ep_dispatcher: EpDispatcher::Flex,
            ..c
        };
        let p = placement(&ctx.hw, &flex);
        let sends = sends_per_token(&ctx.model, ctx.model.routing_groups, p, flex.ep_dispatcher);
        let ranks = 64.0 * 0.5 * (1.0 - 378.0 / 496.0);
        assert_close(sends.0, ranks * 7.0 / 8.0, 1e-9);
        assert_close(sends.1, 3.5, 1e-12);
        let net_s = 20e-6 + 3.5 * BYTES / NIC;
        assert!(7.4e-6 + sends.0 * BYTES / NVLINK < net_s);
        assert_close(
            all_to_all_s(&ctx, &flex),
            20e-6 + imbalance(&flex) * 3.5 * BYTES / NIC,
            1e-9,
        );
        let plain = sends_per_token(&ctx.model, ctx.model.routing_groups, p, c.ep_dispatcher);
        assert_close(plain.1, 7.0, 1e-12);
        // Without the node limit the flex dispatcher reaches 8·(1 − C(224,8)/C(256,8)) = 5.26
        // nodes: 4.6 network sends.
        let free = sends_per_token(&ctx.model, None, p, EpDispatcher::Flex);
        assert!(free.1 > 4.5 && free.1 < 4.7, "{}", free.1);
    }

    #[test]
    fn a_layer_runs_four_all_to_alls_six_with_full_recomputation_and_hides_them_on_request() {
        let (ctx, c) = dsv3(8, 8);
        let one = all_to_all_s(&ctx, &c);
        assert_close(
            moe_layer(&ctx, &c, AttentionSide::default()).all_to_all_s,
            4.0 * one,
            1e-12,
        );
        let full = TrainConfig {
            recompute: Recompute::Full,
            ..c
        };
        assert_close(
            moe_layer(&ctx, &full, AttentionSide::default()).all_to_all_s,
            6.0 * one,
            1e-12,
        );
        assert_close(
            moe_layer(&ctx, &c, AttentionSide::default()).hidden_s,
            0.0,
            0.0,
        );
        // Overlapped: hidden under the other pass's compute, never more than there is of it.
        let overlapped = TrainConfig {
            ep_overlap: EpOverlap::MicroBatch,
            ..c
        };
        let alone = moe_layer(&ctx, &overlapped, AttentionSide::default());
        assert!(alone.hidden_s > 0.0 && alone.hidden_s < alone.all_to_all_s);
        // With compute to spare on the attention side every all-to-all hides whole, but the
        // compute beside them runs a fifth slower: a sixth of their time shows.
        let side = AttentionSide {
            fwd_s: 1.0,
            wgrad_s: 1.0,
            total_s: 3.0,
        };
        let lots = moe_layer(&ctx, &overlapped, side);
        assert_close(lots.hidden_s, lots.all_to_all_s / 1.2, 1e-9);
        assert_close(lots.exposed_all_to_all_s(), lots.all_to_all_s / 6.0, 1e-9);
        // More compute beside them hides more.
        assert!(lots.hidden_s > alone.hidden_s);
    }

    #[test]
    fn the_backward_pass_runs_twice_the_expert_gemms() {
        // Forward: GEMMs + glue + fixed; backward: 2 × GEMMs + glue + fixed.
        let (ctx, c) = dsv3(8, 8);
        let layer = moe_layer(&ctx, &c, AttentionSide::default());
        let full = moe_layer(
            &ctx,
            &TrainConfig {
                recompute: Recompute::Full,
                ..c
            },
            AttentionSide::default(),
        );
        let forward = full.experts_s - layer.experts_s;
        assert!(forward > 0.0);
        let backward = layer.experts_s - forward;
        assert!(
            backward > forward && backward < 2.0 * forward,
            "{forward} {backward}"
        );
    }

    /// DeepSeek-V3 on `gpu` with the host's per-operator time set to `host_op_us`.
    fn dsv3_host(gpu: &str, host_op_us: f64, dtype: Dtype) -> (Context, TrainConfig) {
        let m = load_model("deepseek-v3", &[]).unwrap().model;
        let mut g = load_gpu(gpu, &[]).unwrap().gpu;
        g.overheads.host_op_us = host_op_us;
        let ctx = Context::new(&m, &g, 2048);
        let c = TrainConfig {
            ep: 8,
            ..TrainConfig::new(8, 1, 1, 4096.0 * 8.0, 4096, 1e12, dtype)
        };
        (ctx, c)
    }

    #[test]
    fn the_host_issues_the_fixed_operators_and_one_gemm_per_local_expert_and_linear() {
        // 256 experts over EP 8: 32 local. Forward: 60 fixed + 2 quantisations (one fused call
        // per grouped linear in fp8) + 32 · 2 GEMMs = 126; backward: 53 + 2 + 32 · 4 (data and
        // weight gradients) = 183.
        let (ctx, c) = dsv3_host("h100", 13.48, Dtype::Fp8);
        assert_close(host_ops(&ctx.model, &c), 126.0 + 183.0, 1e-12);
        // At 13.48 µs an operator (one torch.nn.Linear on an x86 host, TransformerEngine issue
        // #2053): 4.17 ms.
        assert_close(host_s(&ctx, &c), 309.0 * 13.48e-6, 1e-9);
        // bf16 quantises nothing: 60 + 32·2 and 53 + 32·4.
        let (ctx, bf16) = dsv3_host("h100", 13.48, Dtype::Bf16);
        assert_close(host_ops(&ctx.model, &bf16), 124.0 + 181.0, 1e-12);
        // Full recomputation issues the forward pass twice.
        let full = TrainConfig {
            recompute: Recompute::Full,
            ..c
        };
        assert_close(host_ops(&ctx.model, &full), 2.0 * 126.0 + 183.0, 1e-12);
        // Wider EP, fewer local experts: EP 64 holds 4.
        let wide = TrainConfig { ep: 64, ..c };
        assert_close(
            host_ops(&ctx.model, &wide),
            62.0 + 4.0 * 2.0 + 55.0 + 4.0 * 4.0,
            1e-12,
        );
    }

    #[test]
    fn cuda_graph_scopes_replay_their_operators_in_one_call_a_pass() {
        // DeepSeek-V3 at EP 8 in fp8: 126 forward and 183 backward operators eager (above).
        // Graphed attention replays its 13 forward and 19 backward operators in one call each,
        // the router its 10 and 15, the preprocessing its 10 forward (no backward of its own):
        // 126 − 12 − 9 − 9 = 96 and 183 − 18 − 14 = 151.
        let (ctx, c) = dsv3_host("h100", 13.48, Dtype::Fp8);
        let all = CudaGraphScope::parse("attn,moe_router,moe_preprocess").unwrap();
        let graphed = TrainConfig {
            cuda_graph_scope: all,
            ..c
        };
        assert_close(host_ops(&ctx.model, &graphed), 96.0 + 151.0, 1e-12);
        let router = TrainConfig {
            cuda_graph_scope: CudaGraphScope::parse("moe_router").unwrap(),
            ..c
        };
        assert_close(host_ops(&ctx.model, &router), 117.0 + 169.0, 1e-12);
        // Full recomputation runs without partial graphs: all eager, the forward twice.
        let full = TrainConfig {
            recompute: Recompute::Full,
            ..graphed
        };
        assert_close(host_ops(&ctx.model, &full), 2.0 * 126.0 + 183.0, 1e-12);
        // Recomputed modules inside a graphed part re-run in its replay: MLA's up-projections
        // (4 backward operators) and the input norm inside `attn`, the pre-MLP norm inside
        // `moe_router` (the two norms are 2).
        let rm = RecomputeModules::parse("layernorm,mla_up_proj").unwrap();
        let eager_rm = TrainConfig {
            recompute_modules: rm,
            ..c
        };
        assert_close(
            host_ops(&ctx.model, &eager_rm),
            126.0 + 183.0 + 2.0 + 4.0,
            1e-12,
        );
        let attn_rm = TrainConfig {
            recompute_modules: rm,
            cuda_graph_scope: CudaGraphScope::parse("attn").unwrap(),
            ..c
        };
        assert_close(host_ops(&ctx.model, &attn_rm), 114.0 + 165.0 + 1.0, 1e-12);
        let all_rm = TrainConfig {
            recompute_modules: rm,
            ..graphed
        };
        assert_close(host_ops(&ctx.model, &all_rm), 96.0 + 151.0, 1e-12);
        // The routed experts stay eager: their 6 GEMMs an expert remain.
        let wide = TrainConfig { ep: 64, ..graphed };
        assert_close(
            host_ops(&ctx.model, &wide),
            (62.0 - 30.0) + 4.0 * 2.0 + (55.0 - 32.0) + 4.0 * 4.0,
            1e-12,
        );
    }

    #[test]
    fn the_host_time_of_a_moe_layer_adds_to_its_gpu_time() {
        use crate::train::step::{layer_time, step_time};
        // No host cost: no host time.
        let (ctx, c) = dsv3_host("b200", 0.0, Dtype::Fp8);
        let free = step_time(&ctx, &c, 8.0);
        assert_close(free.host_s, 0.0, 0.0);
        // At 13.48 µs an operator the layer's sync serialises the host's 309 operators with the
        // GPU's work: the layer takes the sum, though the GPU's part alone is the longer.
        let (ctx, c) = dsv3_host("b200", 13.48, Dtype::Fp8);
        let t = layer_time(&ctx, &c, true);
        assert_close(t.host_issue_s, 309.0 * 13.48e-6, 1e-9);
        assert_close(t.host_s, t.host_issue_s, 0.0);
        assert!(
            t.compute_s > t.host_issue_s,
            "the GPU's work is the longer here"
        );
        // Each of the 8 micro-batches' 58 MoE layers (3 of DeepSeek-V3's 61 are dense) adds it.
        let timed = step_time(&ctx, &c, 8.0);
        assert_close(timed.host_s, 8.0 * 58.0 * t.host_issue_s, 1e-9);
        assert_close(
            timed.total_s() - free.total_s(),
            8.0 * 58.0 * t.host_issue_s,
            1e-6,
        );
    }

    #[test]
    fn each_local_expert_pays_six_gemm_fixed_times_a_micro_batch() {
        // One GEMM per local expert (Transformer Engine): two forward, four backward, each with
        // the measured fixed time `gemm_fp8_us`.
        let m = load_model("deepseek-v3", &[]).unwrap().model;
        let layer = |gemm_fp8_us: f64, ep: u64| {
            let mut g = load_gpu("h100", &[]).unwrap().gpu;
            g.overheads.gemm_fp8_us = Some(gemm_fp8_us);
            let ctx = Context::new(&m, &g, 2048);
            let c = TrainConfig {
                ep,
                ..TrainConfig::new(ep, 1, 1, 4096.0 * ep as f64, 4096, 1e12, Dtype::Fp8)
            };
            moe_layer(&ctx, &c, AttentionSide::default()).experts_s
        };
        assert_close(layer(20.0, 8) - layer(0.0, 8), 6.0 * 32.0 * 20e-6, 1e-9);
        assert_close(layer(20.0, 64) - layer(0.0, 64), 6.0 * 4.0 * 20e-6, 1e-9);
    }

    #[test]
    fn biased_experts_and_clamped_swiglu_cost_megatrons_unfused_passes() {
        // gpt-oss's expert biases and clamped SwiGLU, on DeepSeek-V3's shape for the by-hand
        // numbers: EP 8 on H100, one 4096-token sequence a GPU, 8 copies of each token over the
        // 8 ranks, so the busiest GPU runs 4096 · 8 · imbalance assignments. Each costs
        // (12 + 12) · 7168 bytes of bias traffic (`_apply_bias`, forward and backward) and
        // (8 + 6) · 2 · 2048 of clamps (d = 7168, F = 2048), at H100's streaming bandwidth; the
        // host issues 4 + 2·32 more operators forward and 4·32 backward (32 local experts), and
        // 4 + 2 for the clamps.
        let (ctx, c) = dsv3(8, 8);
        let set = |bias: bool, clamp: bool| {
            let mut m = load_model("deepseek-v3", &[]).unwrap().model;
            m.expert_bias = bias;
            m.swiglu_limit = clamp.then_some(7.0);
            Context::new(&m, &load_gpu("h100", &[]).unwrap().gpu, 2048)
        };
        let base = moe_layer(&ctx, &c, AttentionSide::default()).experts_s;
        let assignments = 4096.0 * 8.0 * imbalance(&c);
        let bw = ctx.hw.eff_mem_bw_bytes_per_s;
        let bias_s = assignments * 24.0 * 7168.0 / bw;
        let clamp_s = assignments * 14.0 * 2.0 * 2048.0 / bw;
        assert_close(
            moe_layer(&set(true, false), &c, AttentionSide::default()).experts_s - base,
            bias_s,
            1e-9,
        );
        assert_close(
            moe_layer(&set(false, true), &c, AttentionSide::default()).experts_s - base,
            clamp_s,
            1e-9,
        );
        assert_close(
            moe_layer(&set(true, true), &c, AttentionSide::default()).experts_s - base,
            bias_s + clamp_s,
            1e-9,
        );
        let ops = |ctx: &Context| host_ops(&ctx.model, &c);
        assert_close(
            ops(&set(true, false)) - ops(&ctx),
            4.0 + 2.0 * 32.0 + 4.0 * 32.0,
            1e-12,
        );
        assert_close(ops(&set(false, true)) - ops(&ctx), 6.0, 1e-12);
        // Full recomputation runs the forward's passes twice.
        let full = TrainConfig {
            recompute: Recompute::Full,
            ..c
        };
        let extra = |ctx: &Context| moe_layer(ctx, &full, AttentionSide::default()).experts_s;
        assert_close(
            extra(&set(true, false)) - extra(&ctx),
            assignments * (2.0 * 12.0 + 12.0) * 7168.0 / bw,
            1e-9,
        );
    }

    /// Megatron-Core's MoE-layer benchmark, H100, EP 8, one 4096-token sequence per GPU, force
    /// balanced (Megatron-LM `tests/functional_tests/test_cases/common/moe_perf/test_cases.py` and
    /// `baseline.json`: forward and backward milliseconds of the MoE layer alone, router to
    /// combine): a Mixtral proxy (d 4096, 8 experts of 14336, top-2) and a DeepSeek proxy (d 7168,
    /// 32 experts of 2048 and one shared, top-8 within 4 of 8 groups), each with the `alltoall`
    /// dispatcher and HybridEP (`flex`), in bf16 and in blockwise fp8 (the model prices per-tensor
    /// fp8: training's grouped GEMMs have no measured block-scaled rate). The model's layer is the
    /// routed experts, router and permutation and all-to-alls of `moe_layer`, plus the router and
    /// shared-expert GEMMs the step prices beside them (`step::layer_mb`), forward once and
    /// backward twice. Tolerance: 25% on each of the eight timings; they land −11…+20%.
    #[test]
    fn the_moe_layer_matches_megatron_cores_measured_benchmark_on_h100() {
        let proxy = |d: u64, ffn: u64, experts: u64, top_k: u64, shared: u64, groups: &str| {
            format!(
                "name = \"proxy\"\ndescription = \"x\"\nsource = \"x\"\n[model]\nlayers = 1\n\
                 d_model = {d}\nheads = 8\nkv_heads = 8\nhead_dim = 128\nffn_dim = {ffn}\n\
                 ffn_gated = true\nvocab = 32000\ntied_embeddings = false\nexperts = {experts}\n\
                 top_k = {top_k}\nshared_experts = {shared}\nmax_context = 4096\n{groups}"
            )
        };
        let mixtral = proxy(4096, 14336, 8, 2, 0, "");
        let deepseek = proxy(
            7168,
            2048,
            32,
            8,
            1,
            "routing_groups = 8\nrouting_groups_per_token = 4\n",
        );
        let g = load_gpu("h100", &[]).unwrap().gpu;
        // (model, dispatcher, dtype, measured forward + backward ms)
        let measured = [
            (&mixtral, EpDispatcher::Alltoall, Dtype::Bf16, 4.327 + 7.684),
            (&mixtral, EpDispatcher::Alltoall, Dtype::Fp8, 3.788 + 6.618),
            (&mixtral, EpDispatcher::Flex, Dtype::Bf16, 4.343 + 7.741),
            (&mixtral, EpDispatcher::Flex, Dtype::Fp8, 3.701 + 6.572),
            (
                &deepseek,
                EpDispatcher::Alltoall,
                Dtype::Bf16,
                7.119 + 10.483,
            ),
            (
                &deepseek,
                EpDispatcher::Alltoall,
                Dtype::Fp8,
                7.609 + 10.126,
            ),
            (&deepseek, EpDispatcher::Flex, Dtype::Bf16, 5.391 + 8.795),
            (&deepseek, EpDispatcher::Flex, Dtype::Fp8, 5.143 + 7.687),
        ];
        for (text, dispatcher, dtype, measured_ms) in measured {
            let m = crate::presets::load_model_text("proxy", text, &[])
                .unwrap()
                .model;
            let ctx = Context::new(&m, &g, 2048);
            let c = TrainConfig {
                ep: 8,
                recompute: Recompute::None,
                ep_dispatcher: dispatcher,
                ..TrainConfig::new(8, 1, 1, 4096.0 * 8.0, 4096, 1e12, dtype)
            };
            let layer = moe_layer(&ctx, &c, AttentionSide::default());
            let mc = &ctx.model;
            let rate = ctx.math(dtype).unwrap().1 * ctx.hw.matmul_efficiency_for(dtype);
            let fixed = ctx.hw.gemm_overhead_s(dtype);
            let t = 4096.0;
            let beside = 2.0 * t * mc.shared_experts * mc.ffn_params_per_expert_per_layer / rate
                + 2.0 * mc.shared_experts * fixed
                + 2.0 * t * mc.router_params_per_layer / rate
                + fixed;
            let model_ms =
                (layer.experts_s + layer.routing_s + layer.all_to_all_s + 3.0 * beside) * 1e3;
            let error = model_ms / measured_ms - 1.0;
            assert!(
                error.abs() < 0.25,
                "{dispatcher:?} {dtype:?} d {}: model {model_ms:.2} ms, measured {measured_ms:.2} ms",
                mc.d_model
            );
        }
    }
}
