//! Training step time (docs/methodology.md §16). Per micro-batch and layer on the critical stage:
//! forward and backward matmuls (backward = 2× forward) at the achievable matmul rate, causal
//! attention at the 16-bit rate, elementwise traffic at the achievable bandwidth, TP collectives
//! (not overlapped), EP all-to-alls, and recomputation. The 1F1B pipeline runs `m` micro-batches
//! plus a bubble of `(p−1)/v` stage times; the data-parallel gradient traffic is partly hidden.

use super::memory::{layer_activation_bytes, stage, stage_params};
use super::{AttentionImpl, GradOverlap, Recompute, TpOverlap, TrainConfig, moe};
use crate::dtype::Dtype;
use crate::perf::Context;
use crate::perf::activations::{self, InferencePass};
use crate::perf::comm::p2p_s;

/// Bytes the optimizer step reads and writes per locally updated parameter (fp32 master, m, v
/// read and written; bf16 gradient read, bf16 weight written).
pub const OPTIMIZER_BYTES_PER_PARAM: f64 = 30.0;

/// Bytes of HBM traffic per attention-score element in one eager forward pass: the QKᵀ GEMM
/// writes it (2), the fused scale-mask-softmax reads and writes it (4), dropout reads it and writes
/// it and its mask (5), the AV GEMM reads it (2).
pub const EAGER_SCORE_BYTES: f64 = 13.0;

/// Bytes an fp8 training step's quantisation kernels move per token and element of linear width
/// (Transformer Engine's fp8 recipes): the forward pass reads each GEMM input in 16 bits and writes
/// it twice in 8 bits, row-wise for the forward GEMM and column-wise (transposed) for the weight
/// gradient, 2 + 1 + 1 bytes per input element; the backward pass does the same to each output
/// gradient. MXFP8 on Blackwell needs both copies too (their scales run along different axes).
pub const FP8_QUANT_BYTES_PER_ELEM: f64 = 4.0;

/// Σ (input + output width) of one FFN of inner width `inner`: the up projection(s) (`d` in,
/// `g·inner` out) and the down projection (`inner` in, `d` out).
pub fn ffn_linear_io(d: f64, up_matrices: f64, inner: f64) -> f64 {
    2.0 * d + (up_matrices + 1.0) * inner
}

/// Time of the fp8 quantisation kernels for `tokens` tokens through linears of total width
/// `io` (Σ input + output), all passes of one micro-batch, on one GPU: 0 unless the step runs in
/// fp8. Full recomputation quantises the forward's inputs again (taken as half the width).
pub fn fp8_quant_s(ctx: &Context, c: &TrainConfig, tokens: f64, io: f64) -> f64 {
    if c.dtype != Dtype::Fp8 {
        return 0.0;
    }
    let passes = 1.0 + (moe::forward_passes(c) - 1.0) / 2.0;
    passes * FP8_QUANT_BYTES_PER_ELEM * tokens * io / ctx.hw.eff_mem_bw_bytes_per_s
}

/// Start-up time of one ring collective over `n` ranks, `g` of them per node: `n − 1` steps, of
/// which `nodes − 1` cross the network at the NIC's α and the rest cross NVLink at the per-step
/// share of the measured 8-GPU all-reduce start-up (`2(g−1)` steps).
pub fn ring_latency_s(ctx: &Context, n: u64, g: u64) -> f64 {
    if n <= 1 {
        return 0.0;
    }
    let nodes = n.div_ceil(g.max(1));
    let inter = nodes.saturating_sub(1) as f64;
    let intra = (n - 1) as f64 - inter;
    let node = ctx.hw.scaleup_gpus.max(2) as f64;
    let nvlink_step_s = ctx.hw.scaleup.latency_s / (2.0 * (node - 1.0));
    intra * nvlink_step_s + inter * ctx.hw.scaleout.latency_s
}

/// The tensor-parallel collectives' time left exposed, of `tp_all_s` for one micro-batch through
/// one layer whose forward linears take `matmul_fwd_s`. Without overlap all of it. With
/// userbuffers (`TpOverlap::Gemm`) each collective runs in chunks under the GEMM beside it, so the
/// layer's GEMMs hide up to their own time: the forward passes' (1, or 2 with full recomputation)
/// and the backward's two (data and weight gradients). An upper bound on the hiding: the first
/// and last chunk and the GEMM's slowdown while it shares the GPU are not charged.
pub fn tp_exposed_s(c: &TrainConfig, tp_all_s: f64, matmul_fwd_s: f64) -> f64 {
    match c.tp_overlap {
        TpOverlap::None => tp_all_s,
        TpOverlap::Gemm => {
            let gemm_s = (moe::forward_passes(c) + 2.0) * matmul_fwd_s;
            (tp_all_s - gemm_s).max(0.0)
        }
    }
}

/// Mean keys per query whose scores are computed: s/2 for causal flash, s for eager.
pub fn attention_context(c: &TrainConfig) -> f64 {
    match c.attention {
        AttentionImpl::Flash => c.seq_len as f64 / 2.0,
        AttentionImpl::Eager => c.seq_len as f64,
    }
}

/// Keys each query's attention scores, averaged over the layers: FlashAttention skips what a
/// windowed or chunked layer masks, so it attends to at most its window, or to its own chunk
/// (`ModelCounts::attended_over`); eager attention computes every score and masks them.
pub fn scored_keys(m: &crate::model::ModelCounts, c: &TrainConfig) -> f64 {
    match c.attention {
        AttentionImpl::Flash => m.attended_over(0.0, c.seq_len as f64),
        AttentionImpl::Eager => attention_context(c),
    }
}

/// Where one optimizer step's time goes on the critical GPU, seconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct StepTime {
    /// Matmuls, attention, elementwise ops and recomputation of all micro-batches.
    pub compute_s: f64,
    /// Pipeline fill and drain.
    pub bubble_s: f64,
    /// Tensor-parallel collectives.
    pub tp_comm_s: f64,
    /// Pipeline sends and receives.
    pub pp_comm_s: f64,
    /// Data-parallel gradient (and ZeRO parameter) traffic not hidden behind compute.
    pub dp_comm_s: f64,
    /// Expert-parallel all-to-alls.
    pub ep_comm_s: f64,
    /// The GPU waiting for the host to issue MoE layers' operators (`moe::host_s`).
    pub host_s: f64,
    /// The optimizer update.
    pub optimizer_s: f64,
}

impl StepTime {
    /// The step.
    pub fn total_s(&self) -> f64 {
        self.compute_s
            + self.bubble_s
            + self.tp_comm_s
            + self.pp_comm_s
            + self.dp_comm_s
            + self.ep_comm_s
            + self.host_s
            + self.optimizer_s
    }
}

/// FLOPs of FlashAttention's backward pass over its forward pass: five matmuls (the recomputed
/// scores, dV, dP, dQ, dK) against two (Dao et al., flash-attention's benchmark convention).
pub const FLASH_BACKWARD_FLOPS: f64 = 2.5;

/// One micro-batch through one layer on the busiest GPU, every pass, seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LayerTime {
    /// All compute: the attention side's and, in an MoE layer, the experts' and routing's.
    pub compute_s: f64,
    /// The attention side (projections, attention, shared experts or dense FFN, norms and
    /// elementwise, small kernels, quantisation, recomputation).
    pub attention_side_s: f64,
    /// The routed experts (`moe::MoeLayer::experts_s`).
    pub experts_s: f64,
    /// The router and the dispatcher's permute and unpermute (`moe::MoeLayer::routing_s`).
    pub routing_s: f64,
    /// Tensor-parallel collectives, exposed.
    pub tp_comm_s: f64,
    /// The expert-parallel all-to-alls, all of them.
    pub all_to_all_s: f64,
    /// The all-to-alls, exposed (what the overlap does not hide).
    pub ep_comm_s: f64,
    /// The operators the host issues for an MoE layer (`moe::host_ops`).
    pub host_ops: f64,
    /// The host's time to issue them (`moe::host_s`).
    pub host_issue_s: f64,
    /// The GPU waiting for the host: all of `host_issue_s` under the serialised rule
    /// (docs/methodology.md §16.1); kept apart so a rule that hides part of it has its place.
    pub host_s: f64,
}

/// One micro-batch through one layer: (compute, TP communication, EP communication, host time
/// beyond the GPU's), seconds.
fn layer_mb(ctx: &Context, c: &TrainConfig, moe: bool) -> (f64, f64, f64, f64) {
    let t = layer_time(ctx, c, moe);
    (t.compute_s, t.tp_comm_s, t.ep_comm_s, t.host_s)
}

/// Where one micro-batch's time through one layer goes (`moe`: an MoE layer, else a dense one).
pub fn layer_time(ctx: &Context, c: &TrainConfig, moe: bool) -> LayerTime {
    let m = &ctx.model;
    let (_, peak) = ctx.math(c.dtype).unwrap_or((c.dtype, f64::NAN));
    let matmul_rate = peak * ctx.hw.matmul_efficiency_for(c.dtype);
    let tp = c.tp as f64;
    let tokens = (c.seq_len * c.micro_batch) as f64;
    // Dense FFN, or the shared experts and the router GEMM of an MoE layer (its routed experts
    // are `moe::moe_layer`'s). GEMMs with their fixed time: QKV and output, then up and down, or
    // the shared experts' two and the router.
    let (ffn_flops, gemms) = if moe {
        let pe = m.ffn_params_per_expert_per_layer;
        (
            2.0 * tokens * m.shared_experts * pe / tp + 2.0 * tokens * m.router_params_per_layer,
            2.0 + if m.shared_experts > 0.0 { 2.0 } else { 0.0 } + 1.0,
        )
    } else {
        (2.0 * tokens * m.dense_ffn_params_per_layer / tp, 4.0)
    };
    // The linears' fp8 quantisation (attention projections, and the dense FFN or shared experts).
    let g = m.ffn_up_matrices;
    let ffn_io = if moe {
        m.shared_experts * ffn_linear_io(m.d_model, g, m.ffn_dim)
    } else {
        let inner = m.dense_ffn_params_per_layer / ((g + 1.0) * m.d_model);
        ffn_linear_io(m.d_model, g, inner)
    };
    let quant = fp8_quant_s(ctx, c, tokens / tp, m.attn_linear_io_per_layer + ffn_io);
    let matmul_fwd = (2.0 * tokens * m.attn_params_per_layer / tp + ffn_flops) / matmul_rate
        + gemms * ctx.hw.gemm_overhead_s(c.dtype);
    let scored = scored_keys(m, c);
    let attn_flops = tokens * scored * m.attn_score_flops_per_ctx_per_layer / tp;
    // FlashAttention at the measured attention-kernel rate with its fixed time per call, the
    // backward pass 2.5× the forward's FLOPs at the measured backward rate
    // (`efficiency.attention_backward` of the forward's); eager attention is batched GEMMs at
    // the matmul rate, its backward twice the forward.
    let (attn_fwd, attn_bwd) = match c.attention {
        AttentionImpl::Flash => {
            let rate = ctx.attn_peak_flops_for(c.dtype) * ctx.hw.attention_efficiency;
            (
                attn_flops / rate + ctx.hw.attention_s,
                FLASH_BACKWARD_FLOPS * attn_flops / (rate * ctx.hw.attention_backward_ratio)
                    + ctx.hw.attention_s,
            )
        }
        AttentionImpl::Eager => {
            let t = attn_flops / (ctx.attn_peak_flops_for(c.dtype) * ctx.hw.matmul_efficiency);
            (t, 2.0 * t)
        }
    };
    let score_bytes = match c.attention {
        AttentionImpl::Flash => 0.0,
        AttentionImpl::Eager => EAGER_SCORE_BYTES * m.heads / tp * tokens * c.seq_len as f64,
    };
    let act_bytes = if c.dtype == Dtype::Fp32 { 4.0 } else { 2.0 };
    // Elementwise traffic: every stored activation written and read once. An MoE layer's routed
    // experts move their own (`moe::moe_layer`); the attention side and shared experts remain.
    let stored = if moe {
        activations::inference_layer_bytes(
            m,
            InferencePass {
                group_tokens: tokens,
                tp: c.tp,
                routed_assignments: 0.0,
                expert_tp: 1,
                moe: true,
                sequence_parallel: c.sequence_parallel,
                decode: false,
            },
            2.0,
        )
    } else {
        layer_activation_bytes(ctx, c, false, false)
    };
    let elem_fwd = (2.0 * stored + score_bytes) / ctx.hw.eff_mem_bw_bytes_per_s;
    let rest_fwd = matmul_fwd + elem_fwd;
    let recompute = match c.recompute {
        Recompute::None => 0.0,
        Recompute::Selective => attn_fwd,
        Recompute::Full => rest_fwd + attn_fwd,
    };
    // The small kernels beside the modelled operators (norms, rotary, activations, residuals,
    // casts; §4.3's `per_layer_us`) run once per forward pass and about twice in the backward.
    let small_kernels = (2.0 + moe::forward_passes(c)) * ctx.hw.per_layer_s;
    let modules = recomputed_modules_s(ctx, c, moe, matmul_rate);
    let mut compute =
        3.0 * rest_fwd + attn_fwd + attn_bwd + recompute + small_kernels + quant + modules;
    let passes = if c.recompute == Recompute::Full {
        3.0
    } else {
        2.0
    };
    let tp_all = passes
        * m.tp_reductions_per_layer
        * crate::perf::comm::tp_all_reduce_s(&ctx.hw, tokens * m.d_model * act_bytes, c.tp);
    let tp_comm = tp_exposed_s(c, tp_all, matmul_fwd);
    let mut t = LayerTime {
        attention_side_s: compute,
        tp_comm_s: tp_comm,
        ..LayerTime::default()
    };
    if moe {
        // The attention side's phases for the all-to-all overlap schedule: its forward pass
        // (with one pass of the small kernels and the forward's third of the quantisation), and
        // its GEMMs' weight gradients, one forward's GEMM work.
        let other = moe::AttentionSide {
            fwd_s: rest_fwd + attn_fwd + ctx.hw.per_layer_s + quant / 3.0,
            wgrad_s: matmul_fwd,
            total_s: compute,
        };
        let layer = moe::moe_layer(ctx, c, other);
        compute += layer.experts_s + layer.routing_s;
        t.experts_s = layer.experts_s;
        t.routing_s = layer.routing_s;
        t.all_to_all_s = layer.all_to_all_s;
        t.ep_comm_s = layer.exposed_all_to_all_s();
        // The dropless dispatch's device-to-host syncs keep the CPU from running ahead: the layer
        // takes its GPU time plus the host's time to issue its eager operators (`moe::host_s`).
        // Dense layers have no sync, and the CPU runs ahead of them.
        t.host_ops = moe::host_ops(&ctx.model, c);
        t.host_issue_s = moe::host_s(ctx, c);
        // The host's issue time does not hide under the GPU's: the sync leaves the GPU's queue
        // empty, and behind it the GPU runs each operator as the host issues it (serialised).
        t.host_s = t.host_issue_s;
    }
    t.compute_s = compute;
    t
}

/// Bytes an RMSNorm moves per element in one pass: the input read and the output written, 16-bit.
pub const NORM_BYTES_PER_ELEM: f64 = 4.0;

/// Tokens a GPU's norms run on in one micro-batch: its share of the sequence under sequence
/// parallelism, else all of it.
pub fn norm_tokens(c: &TrainConfig) -> f64 {
    let tokens = (c.seq_len * c.micro_batch) as f64;
    if c.sequence_parallel {
        tokens / c.tp as f64
    } else {
        tokens
    }
}

/// GEMMs Megatron-Core's `mla_up_proj` recomputation re-runs: the query's and the key/value's
/// up-projections.
pub const MLA_UP_GEMMS: f64 = 2.0;

/// GEMMs of a dense MLP's forward pass: the (fused gate and) up projection and the down one.
pub const MLP_GEMMS: f64 = 2.0;

/// The `recompute_modules` of one layer and micro-batch outside the routed experts (whose
/// `moe_act` is `moe::moe_layer`'s), seconds: the layer's two norms again (`layernorm`), MLA's
/// up-projection GEMMs (`mla_up_proj`), and a dense layer's MLP forward pass (`mlp`, dense layers
/// only), each once more in the backward pass. Nothing under full recomputation, which re-runs
/// them already.
pub fn recomputed_modules_s(ctx: &Context, c: &TrainConfig, moe: bool, matmul_rate: f64) -> f64 {
    let rm = c.effective_recompute_modules();
    if rm.is_empty() {
        return 0.0;
    }
    let m = &ctx.model;
    let tp = c.tp as f64;
    let tokens = (c.seq_len * c.micro_batch) as f64;
    let bw = ctx.hw.eff_mem_bw_bytes_per_s;
    let gemm = ctx.hw.gemm_overhead_s(c.dtype);
    let mut t = 0.0;
    if rm.layernorm {
        t += 2.0 * NORM_BYTES_PER_ELEM * norm_tokens(c) * m.d_model / bw;
    }
    if rm.mla_up_proj && m.mla_up_params_per_layer > 0.0 {
        t += 2.0 * tokens * m.mla_up_params_per_layer / tp / matmul_rate + MLA_UP_GEMMS * gemm;
    }
    if rm.mlp && !moe {
        let g = m.ffn_up_matrices;
        let inner = m.dense_ffn_params_per_layer / ((g + 1.0) * m.d_model);
        t += 2.0 * tokens * m.dense_ffn_params_per_layer / tp / matmul_rate
            + MLP_GEMMS * gemm
            // fp8: the forward's GEMM inputs quantised again (half the linears' width, as for
            // full recomputation in `fp8_quant_s`).
            + if c.dtype == Dtype::Fp8 {
                FP8_QUANT_BYTES_PER_ELEM * tokens / tp * ffn_linear_io(m.d_model, g, inner) / 2.0
                    / bw
            } else {
                0.0
            }
            // The activation between the GEMMs: g·inner read, inner written, 16-bit.
            + 2.0 * (g + 1.0) * inner * tokens / tp / bw;
    }
    t
}

/// Parameters in one data-parallel communication bucket: Megatron-Core's default,
/// `max(40,000,000, 1,000,000 · dp)` (`DistributedDataParallel`: larger DP groups get larger
/// buckets so the collectives stay bandwidth-bound).
pub fn grad_bucket_params(dp: u64) -> f64 {
    (1e6 * dp as f64).max(40e6)
}

/// The backward pass's share of a micro-batch's time on a stage: two of three GEMM passes
/// (data and weight gradients), three of four with full recomputation (the recomputed forward
/// runs in the backward).
pub fn backward_share(c: &TrainConfig) -> f64 {
    if c.recompute == Recompute::Full {
        0.75
    } else {
        2.0 / 3.0
    }
}

/// Exposed time of bucketed data-parallel traffic `total_s` overlapped with `window_s` of
/// compute (Megatron-Core `--overlap-grad-reduce`: each bucket's collective launches once the
/// last micro-batch's backward pass has produced it; `--overlap-param-gather`: each bucket's
/// gather runs ahead of the next step's first forward pass): what the window cannot hide, and
/// at least the bucket that has no compute left to hide under (`edge_bucket_s`: the last
/// gradient bucket, the first weight bucket).
pub fn bucketed_exposed_s(total_s: f64, edge_bucket_s: f64, window_s: f64) -> f64 {
    (total_s - window_s)
        .max(edge_bucket_s)
        .min(total_s)
        .max(0.0)
}

/// The modelled step time.
pub fn step_time(ctx: &Context, c: &TrainConfig, micro_batches: f64) -> StepTime {
    let m = &ctx.model;
    let (moe_c, moe_tp, moe_ep, moe_host) = layer_mb(ctx, c, true);
    let (dense_c, dense_tp, _, _) = layer_mb(ctx, c, false);
    let tokens = (c.seq_len * c.micro_batch) as f64;
    let tp = c.tp as f64;
    let (_, peak) = ctx.math(c.dtype).unwrap_or((c.dtype, f64::NAN));
    let matmul_rate = peak * ctx.hw.matmul_efficiency_for(c.dtype);
    // The output head and its fp32 logits, once plus once per prediction depth, and each
    // depth's projection (its transformer block is counted with the stage's layers).
    let mtp = c.mtp_layers as f64;
    let head_compute = (1.0 + mtp)
        * (3.0 * 2.0 * tokens * m.d_model * m.vocab / tp / matmul_rate
            + 3.0 * 4.0 * tokens * m.vocab / tp / ctx.hw.eff_mem_bw_bytes_per_s)
        + mtp * 3.0 * 2.0 * tokens * super::memory::mtp_projection_params(ctx) / tp / matmul_rate;
    // The critical stage: the one with the longest micro-batch time.
    let (mut crit, mut crit_total, mut crit_layers) = ((0.0, 0.0, 0.0, 0.0), 0.0, 1.0_f64);
    for s in 0..c.pp {
        let st = stage(ctx, c, s);
        let (moe_layers, dense_layers) = (st.moe_layers, st.dense_layers);
        let compute =
            moe_layers * moe_c + dense_layers * dense_c + if st.last { head_compute } else { 0.0 };
        let tpc = moe_layers * moe_tp + dense_layers * dense_tp;
        let epc = moe_layers * moe_ep;
        let host = moe_layers * moe_host;
        if compute + tpc + epc + host > crit_total {
            crit = (compute, tpc, epc, host);
            crit_total = compute + tpc + epc + host;
            crit_layers = moe_layers + dense_layers;
        }
    }
    let act_bytes = if c.dtype == Dtype::Fp32 { 4.0 } else { 2.0 };
    let hop = if c.pp > 1 {
        2.0 * c.interleave as f64
            * p2p_s(
                tokens * m.d_model * act_bytes / tp,
                crate::perf::comm::pipeline_link(&ctx.hw, c.tp * c.pp),
            )
    } else {
        0.0
    };
    let pp = c.pp as f64;
    // Virtual stages that do not split the stage's layers evenly: the bubble is set by the
    // largest chunk, ⌈layers / v⌉ of them, so the schedule behaves as `layers / ⌈layers / v⌉`
    // equal chunks (16 layers in 3 chunks of 6, 5, 5: 2.67, not 3).
    let v = if c.interleave > 1 && crit_layers >= 1.0 {
        crit_layers / (crit_layers / c.interleave as f64).ceil()
    } else {
        c.interleave as f64
    };
    let per_mb = crit_total + hop;

    // Data parallelism: gradients (and ZeRO-3 parameters) of the heaviest stage.
    let (pd, pe) = (0..c.pp)
        .map(|s| stage_params(ctx, c, stage(ctx, c, s)))
        .fold((0.0_f64, 0.0_f64), |a, b| {
            if b.0 + b.1 > a.0 + a.1 { b } else { a }
        });
    let dp = c.dp();
    let expert_dp = c.dp() * c.tp / c.expert_shards();
    // Bytes per parameter of one pass: the weights' all-gathers move them in their own precision,
    // the gradients' reductions in `grad_reduce` (fp32 unless the run is fp16, `GradReduce`).
    let weight_bytes = if c.dtype == Dtype::Fp32 { 4.0 } else { 2.0 };
    let reduce_bytes = c.grad_reduce.bytes(c.dtype, weight_bytes);
    // ZeRO-0: one gradient all-reduce per step, a reduce-scatter and an all-gather of the
    // gradients. ZeRO-1/2 (Megatron's distributed optimizer): the gradients are reduce-scattered
    // and the updated weights all-gathered. ZeRO-3 re-gathers the weights before every
    // micro-batch's forward pass, again before the recomputed forward (full recomputation) and
    // before its backward pass, and reduce-scatters its gradients: one pass of the data each,
    // every micro-batch (DeepSpeed ZeRO-3, PyTorch FSDP).
    let zero3 = c.zero >= 3;
    // (bytes per parameter over all passes, passes, rounds per step)
    let (pass_bytes, passes, rounds) = if zero3 {
        let gathers = if c.recompute == Recompute::Full {
            3.0
        } else {
            2.0
        };
        (
            gathers * weight_bytes + reduce_bytes,
            gathers + 1.0,
            micro_batches,
        )
    } else if c.zero == 0 {
        (2.0 * reduce_bytes, 2.0, 1.0)
    } else {
        (reduce_bytes + weight_bytes, 2.0, 1.0)
    };
    let stage_layers = (m.layers / c.pp as f64).ceil();
    // Hierarchical: the ranks of a DP group that share a scale-up domain (an HGX node, an NVL72
    // rack) reduce over its fabric, and only 1/g of the data crosses the NICs between domains. A
    // dense DP group has `scaleup_gpus / (tp·pp)` ranks in a domain (replicas fill domains). An
    // expert DP group follows Megatron-Core's rank order `tp-cp-ep-dp-pp`: its ranks sit `ep·etp`
    // GPUs apart, so an EP group that fills its domain leaves one expert DP rank per domain. (Megatron places dense DP the
    // same way, `tp` apart with pipeline stages outermost; that change to dense training is left to
    // the training-fidelity work, docs/calibration.md.)
    let gpn = ctx.hw.scaleup_gpus;
    let dense_per_node = (gpn / (c.tp * c.pp).max(1)).max(1);
    let expert_per_node = (gpn / (c.ep * moe::expert_tp(c)).max(1)).max(1);
    let sync = |params: f64, n: u64, per_node: u64| {
        if n <= 1 {
            return 0.0;
        }
        let bytes = pass_bytes * params;
        let g = per_node.min(n);
        let nodes = n.div_ceil(g);
        let level = |bytes: f64, n: u64, link: crate::hardware::Link| {
            if n <= 1 {
                0.0
            } else {
                let n = n as f64;
                // ZeRO-3's start-ups are its rings' (below), not one α per level.
                let start_s = if zero3 { 0.0 } else { link.latency_s };
                rounds * (start_s + (n - 1.0) / n * bytes / link.bytes_per_s)
            }
        };
        let bandwidth_s =
            level(bytes, g, ctx.hw.scaleup) + level(bytes / g as f64, nodes, ctx.hw.scaleout);
        if !zero3 {
            return bandwidth_s;
        }
        // ZeRO-3's collectives are rings over the whole DP group, one or more per layer
        // (`zero3_fetch`) and pass: each pays the ring's start-up, n − 1 hops of
        // which nodes − 1 cross the network (NCCL's ring latency model, tuning.cc).
        ring_latency_s(ctx, n, g) * rounds * passes * stage_layers * c.zero3_fetch.per_layer()
            + bandwidth_s
    };
    let (dense_s, expert_s) = (
        sync(pd, dp, dense_per_node),
        sync(pe, expert_dp, expert_per_node),
    );
    let dp_s = match c.grad_overlap {
        GradOverlap::Bucketed if !zero3 => {
            // The gradients' share of the bytes (ZeRO-0 all-reduces gradients only; ZeRO-1/2
            // reduce-scatter them and all-gather the updated weights).
            let reduce_share = if c.zero == 0 {
                1.0
            } else {
                reduce_bytes / pass_bytes
            };
            let buckets = |params: f64, n: u64| (params / grad_bucket_params(n)).ceil().max(1.0);
            let (nd, ne) = (buckets(pd, dp), buckets(pe, expert_dp));
            let backward = backward_share(c) * crit_total;
            let reduce = reduce_share * (dense_s + expert_s);
            let reduce_last = reduce_share * (dense_s / nd).max(expert_s / ne);
            let gather = (1.0 - reduce_share) * (dense_s + expert_s);
            let gather_first = (1.0 - reduce_share) * (dense_s / nd).max(expert_s / ne);
            bucketed_exposed_s(reduce, reduce_last, backward)
                + bucketed_exposed_s(gather, gather_first, crit_total - backward)
        }
        _ => dense_s + expert_s,
    };
    let shard = |n: u64| if c.zero >= 1 { n as f64 } else { 1.0 };
    let optimizer_s = OPTIMIZER_BYTES_PER_PARAM * (pd / shard(dp) + pe / shard(expert_dp))
        / ctx.hw.eff_mem_bw_bytes_per_s;
    StepTime {
        compute_s: micro_batches * crit.0,
        bubble_s: (pp - 1.0) / v * per_mb,
        tp_comm_s: micro_batches * crit.1,
        pp_comm_s: micro_batches * hop,
        dp_comm_s: (1.0 - c.dp_overlap) * dp_s,
        ep_comm_s: micro_batches * crit.2,
        host_s: micro_batches * crit.3,
        optimizer_s,
    }
}
