//! Training memory per GPU (docs/methodology.md §15): mixed-precision weights, gradients and Adam
//! states sharded by ZeRO stage, activations per Korthikanti et al. 2022 with sequence
//! parallelism for the chosen recomputation, times the micro-batches in flight under 1F1B.

use super::{AttentionImpl, Recompute, TrainConfig};
use crate::dtype::Dtype;
use crate::perf::{Context, pipeline};

/// Bytes of fp32 master weights plus Adam's two moments per parameter.
pub const ADAM_STATE_BYTES: f64 = 12.0;

/// Memory of the heaviest GPU, bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct TrainMemory {
    /// Weights.
    pub weights_bytes: f64,
    /// Gradients.
    pub grads_bytes: f64,
    /// Optimizer states (fp32 master copy, Adam m and v).
    pub optimizer_bytes: f64,
    /// Activations of the micro-batches in flight.
    pub activation_bytes: f64,
    /// CUDA context, workspaces, communication buffers.
    pub runtime_bytes: f64,
}

impl TrainMemory {
    /// Everything.
    pub fn total_bytes(&self) -> f64 {
        self.weights_bytes
            + self.grads_bytes
            + self.optimizer_bytes
            + self.activation_bytes
            + self.runtime_bytes
    }
}

/// Parameters one GPU of a stage holds: (replicated over dp, expert parameters).
pub fn stage_params(ctx: &Context, c: &TrainConfig, st: pipeline::Stage) -> (f64, f64) {
    let m = &ctx.model;
    let tp = c.tp as f64;
    let attn = (m.attn_params_per_layer + m.norm_params_per_layer) / tp;
    let mut dense = st.dense_layers * (attn + m.dense_ffn_params_per_layer / tp)
        + st.moe_layers
            * (attn
                + m.shared_experts * m.ffn_params_per_expert_per_layer / tp
                + m.router_params_per_layer);
    let embed = m.d_model * m.vocab / tp;
    if st.first {
        dense += embed;
    }
    if st.last && (m.embed_out_params > 0.0 || !st.first) {
        dense += embed;
    }
    let experts =
        st.moe_layers * m.experts * m.ffn_params_per_expert_per_layer / c.expert_shards() as f64;
    (dense, experts)
}

/// Stage `s` with dense models' layers counted as dense.
pub fn stage(ctx: &Context, pp: u64, s: u64) -> pipeline::Stage {
    pipeline::stage(ctx.layers, ctx.dense_layers, pp, s)
}

/// Activation bytes one layer stores for one micro-batch of `tokens` tokens, in units from
/// Korthikanti et al. 2022 (Table 2, with sequence parallelism): `s·b·h/t · (11 + 4 + MLP)` with
/// `MLP = 3 + 16·r` per expert-token (`r` = FFN size relative to a 4h MLP), `+ 5·a·s/h` when the
/// attention scores are kept (no recomputation).
pub fn layer_activation_bytes(ctx: &Context, c: &TrainConfig, moe: bool, keep_scores: bool) -> f64 {
    let m = &ctx.model;
    let (h, t, s) = (m.d_model, c.tp as f64, c.seq_len as f64);
    let tokens = s * c.micro_batch as f64;
    let (ffn, per_token) = if moe {
        (
            m.ffn_params_per_expert_per_layer,
            m.top_k + m.shared_experts,
        )
    } else {
        (m.dense_ffn_params_per_layer, 1.0)
    };
    let r = ffn / (8.0 * h * h);
    let mut units = 15.0 + per_token * (3.0 + 16.0 * r);
    if keep_scores {
        units += 5.0 * m.heads * s / h;
    }
    if c.sequence_parallel {
        tokens * h / t * units
    } else {
        // Without sequence parallelism the norms' inputs, the dropout masks and the residual
        // inputs (10·s·b·h) are replicated on every TP rank (Korthikanti et al. 2022, eq. 2).
        tokens * h * (REPLICATED_WITHOUT_SP + (units - REPLICATED_WITHOUT_SP) / t)
    }
}

/// Activation bytes per token per hidden unit that stay replicated across TP without sequence
/// parallelism (Korthikanti et al. 2022: `sbh·(10 + 24/t + 5as/(ht))`).
pub const REPLICATED_WITHOUT_SP: f64 = 10.0;

/// Memory of the heaviest GPU.
pub fn train_memory(ctx: &Context, c: &TrainConfig, micro_batches: f64) -> TrainMemory {
    let m = &ctx.model;
    let dp = c.dp() as f64;
    let expert_dp = (c.dp() * c.tp) as f64 / c.expert_shards() as f64;
    let (w, g) = if c.dtype == Dtype::Fp32 {
        (4.0, 4.0)
    } else {
        (2.0, 2.0)
    };
    let shard = |stage_min: u8, replicas: f64| if c.zero >= stage_min { replicas } else { 1.0 };
    let pp = c.pp as f64;
    let in_flight = pp.min(micro_batches)
        * if c.interleave > 1 {
            1.0 + (pp - 1.0) / (pp * micro_batches)
        } else {
            1.0
        };
    let tokens = (c.seq_len * c.micro_batch) as f64;
    let mut worst = TrainMemory::default();
    for s in 0..c.pp {
        let st = stage(ctx, c.pp, s);
        let (pd, pe) = stage_params(ctx, c, st);
        let params_over = |bytes: f64, stage_min: u8| {
            bytes * (pd / shard(stage_min, dp) + pe / shard(stage_min, expert_dp))
        };
        let per_layer = |moe: bool| match c.recompute {
            Recompute::None => {
                layer_activation_bytes(ctx, c, moe, c.attention == AttentionImpl::Eager)
            }
            Recompute::Selective => layer_activation_bytes(ctx, c, moe, false),
            Recompute::Full => 2.0 * tokens * m.d_model / c.tp as f64,
        };
        let mut act =
            in_flight * (st.dense_layers * per_layer(false) + st.moe_layers * per_layer(true));
        if c.recompute == Recompute::Full {
            // One layer's full working set while it is recomputed.
            act += layer_activation_bytes(ctx, c, st.moe_layers > 0.0, false);
        }
        if st.last {
            act += 4.0 * tokens * m.vocab / c.tp as f64; // fp32 logits for the loss
        }
        let mem = TrainMemory {
            weights_bytes: params_over(w, 3),
            grads_bytes: params_over(g, 2),
            optimizer_bytes: params_over(ADAM_STATE_BYTES, 1),
            activation_bytes: act,
            runtime_bytes: ctx.hw.runtime_bytes,
        };
        if mem.total_bytes() > worst.total_bytes() {
            worst = mem;
        }
    }
    worst
}
