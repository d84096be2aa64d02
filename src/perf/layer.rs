//! One forward step of one transformer layer on one GPU of a tensor-parallel group: the
//! operators (attention projections, attention scores over the KV cache, FFN or MoE experts),
//! the tensor-parallel all-reduces and the fixed per-layer overhead (docs/methodology.md §4).

use super::activations;
use super::comm::all_to_all_s;
use super::moe::{busiest_rank_factor, distinct_experts};
use super::roofline::{Bound, Op, OpTime, roofline};
use super::{Context, KvSharding, Rates};

/// What a step processes in one layer.
#[derive(Clone, Copy, Debug)]
pub struct StepShape {
    /// Tokens through the GEMMs (decode: sequences in the micro-batch; prefill: chunk tokens).
    pub tokens: f64,
    /// KV-cache tokens read (decode: Σ context over the sequences; prefill: the prior context once).
    pub kv_tokens_read: f64,
    /// Query-key pairs scored (decode: tokens × context; prefill chunk: tokens × mean causal context).
    pub attn_pairs: f64,
    /// Sequences in the step (decode: the micro-batch; prefill: one prompt's chunk).
    pub sequences: f64,
    /// A decode step (its attention may be sharded by sequence); otherwise a prefill chunk.
    pub decode: bool,
}

/// The cost of one layer step on the critical-path GPU.
#[derive(Clone, Copy, Debug, Default)]
pub struct LayerStep {
    /// QKV and output projections.
    pub attn_proj: OpTime,
    /// Attention scores and weighted sum over the KV cache.
    pub attn_core: OpTime,
    /// FFN (dense) or routed + shared experts (MoE), with the router.
    pub ffn: OpTime,
    /// Norms, activation functions and residual adds: memory traffic of the layer's activations.
    pub elementwise: OpTime,
    /// Tensor-parallel all-reduces: two (after attention and after the FFN), one for a parallel
    /// attention/FFN block; with sequence parallelism each is a reduce-scatter + all-gather pair
    /// (the same bytes, twice the start-ups).
    pub all_reduce_s: f64,
    /// How many tensor-parallel reductions `all_reduce_s` holds (2, or 1 for a parallel block).
    pub all_reduces: f64,
    /// Two all-to-alls between the head and sequence layouts of the attention (KV sharded by
    /// sequence, decode only).
    pub all_to_all_s: f64,
    /// Fixed per-layer overhead.
    pub overhead_s: f64,
    /// Expected distinct routed experts read (1 for a dense layer).
    pub experts_read: f64,
}

impl LayerStep {
    /// Wall time of the step: operators, communication and overhead in sequence.
    pub fn time_s(&self) -> f64 {
        self.attn_proj.time_s()
            + self.attn_core.time_s()
            + self.ffn.time_s()
            + self.elementwise.time_s()
            + self.all_reduce_s
            + self.all_to_all_s
            + self.overhead_s
    }
    /// HBM bytes moved.
    pub fn bytes(&self) -> f64 {
        self.attn_proj.op.bytes
            + self.attn_core.op.bytes
            + self.ffn.op.bytes
            + self.elementwise.op.bytes
    }
    /// FLOPs performed.
    pub fn flops(&self) -> f64 {
        self.attn_proj.op.flops + self.attn_core.op.flops + self.ffn.op.flops
    }
    /// Time of the operators limited by memory, by compute, and spent communicating.
    pub fn split_s(&self) -> (f64, f64, f64) {
        let (mut mem, mut comp) = (0.0, 0.0);
        for op in [self.attn_proj, self.attn_core, self.ffn, self.elementwise] {
            match op.bound() {
                Bound::Memory => mem += op.time_s(),
                Bound::Compute => comp += op.time_s(),
            }
        }
        (mem, comp, self.all_reduce_s + self.all_to_all_s)
    }
}

/// One layer step; `moe` selects a routed-expert layer, otherwise the dense FFN.
pub fn layer_step(ctx: &Context, r: &Rates, shape: StepShape, moe: bool) -> LayerStep {
    let m = &ctx.model;
    let tp = r.tp as f64;
    let b = shape.tokens;
    // Two GEMMs (QKV, output projection), each with its fixed time on the compute side.
    let mut attn_proj = roofline(
        Op {
            flops: 2.0 * b * m.attn_params_per_layer / tp,
            bytes: r.weight_bytes * (m.attn_params_per_layer + m.norm_params_per_layer) / tp,
        },
        r.matmul_flops_per_s,
        r.mem_bytes_per_s,
        ctx.hw.overlap,
    );
    attn_proj.compute_s += 2.0 * r.gemm_s;
    // Decode attention sharded by sequence: the busiest GPU scores and reads ⌈b/TP⌉ sequences
    // with every head. Otherwise split by heads: ⌈n_h/TP⌉ query heads, ⌈n_kv/TP⌉ KV heads.
    let by_sequence = shape.decode && r.kv_sharding == KvSharding::Batch;
    let (score_share, kv_share) = if by_sequence {
        let s = r.kv_share(shape.sequences);
        (s, s)
    } else {
        (r.head_share, r.kv_head_share)
    };
    let attn_core = roofline(
        Op {
            flops: shape.attn_pairs * m.attn_score_flops_per_ctx_per_layer * score_share,
            bytes: r.kv_bytes_per_token_per_layer * kv_share * shape.kv_tokens_read,
        },
        r.attn_flops_per_s,
        r.mem_bytes_per_s,
        ctx.hw.overlap,
    );
    let (ffn, experts_read) = if moe {
        let d = distinct_experts(m.experts, m.top_k, b);
        let imbalance = busiest_rank_factor(m.experts, m.top_k, b, r.ep);
        let pe = m.ffn_params_per_expert_per_layer;
        let routed_flops = 2.0 * b * m.top_k * pe * imbalance / tp;
        let dense_flops =
            2.0 * b * m.shared_experts * pe / tp + 2.0 * b * m.router_params_per_layer;
        let op = Op {
            flops: routed_flops + dense_flops,
            bytes: r.weight_bytes * ((d + m.shared_experts) * pe / tp + m.router_params_per_layer),
        };
        // Routed experts run as grouped GEMMs, slower than dense ones (efficiency.moe).
        let compute_s = routed_flops / (r.matmul_flops_per_s * ctx.hw.moe_efficiency)
            + dense_flops / r.matmul_flops_per_s
            + 2.0 * r.gemm_s;
        let t = OpTime {
            op,
            compute_s,
            memory_s: op.bytes / r.mem_bytes_per_s,
            overlap: ctx.hw.overlap,
        };
        (t, d)
    } else {
        let p = m.dense_ffn_params_per_layer;
        let op = Op {
            flops: 2.0 * b * p / tp,
            bytes: r.weight_bytes * p / tp,
        };
        (
            roofline(op, r.matmul_flops_per_s, r.mem_bytes_per_s, ctx.hw.overlap),
            1.0,
        )
    };
    // Every activation is written once and read once by the next operator (inference engines
    // replicate the norms across TP unless activations stay sharded: sequence parallelism).
    let act = activations::inference_layer_bytes(m, b, r, moe);
    let elementwise = roofline(
        Op {
            flops: 0.0,
            bytes: 2.0 * act,
        },
        r.matmul_flops_per_s,
        r.mem_bytes_per_s,
        ctx.hw.overlap,
    );
    let message_bytes = b * m.d_model * r.act_bytes;
    LayerStep {
        attn_proj,
        attn_core,
        ffn,
        elementwise,
        all_reduce_s: m.tp_reductions_per_layer * ctx.hw.all_reduce_s(message_bytes, r.tp)
            + if r.sequence_parallel && r.tp > 1 {
                m.tp_reductions_per_layer * r.tp_link.latency_s
            } else {
                0.0
            },
        all_reduces: m.tp_reductions_per_layer,
        // Queries to the sequence layout, attention outputs back to the head layout.
        all_to_all_s: if by_sequence {
            2.0 * all_to_all_s(b * m.attn_width * r.act_bytes / tp, r.tp, r.tp_link)
        } else {
            0.0
        },
        overhead_s: ctx.hw.per_layer_s,
        experts_read,
    }
}

/// The output head (logits) for `tokens` tokens on the last stage.
pub fn head_step(ctx: &Context, r: &Rates, tokens: f64) -> OpTime {
    let m = &ctx.model;
    let params = m.d_model * m.vocab;
    let mut t = roofline(
        Op {
            flops: 2.0 * tokens * params / r.tp as f64,
            bytes: r.weight_bytes * params / r.tp as f64,
        },
        r.matmul_flops_per_s,
        r.mem_bytes_per_s,
        ctx.hw.overlap,
    );
    t.compute_s += r.gemm_s;
    t
}
