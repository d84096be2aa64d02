//! Training memory per GPU (docs/methodology.md §15): mixed-precision weights, gradients and Adam
//! states sharded by ZeRO stage, activations per Korthikanti et al. 2022 with sequence
//! parallelism for the chosen recomputation, times the micro-batches in flight under 1F1B.

use super::{AttentionImpl, Recompute, TrainConfig};
use crate::dtype::Dtype;
use crate::perf::activations::{self, LayerPass};
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
    if st.last {
        dense += c.mtp_layers as f64 * mtp_projection_params(ctx) / tp;
    }
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

/// Stage `s` with dense models' layers counted as dense; the last stage also runs the
/// multi-token-prediction blocks (`TrainConfig::mtp_layers`), each one more transformer layer of
/// the model's kind (Megatron-Core places them with the loss).
///
/// With `last_stage_layers` (Megatron-Core `--decoder-last-pipeline-num-layers`) the last stage
/// holds that many layers and the others split the rest evenly, extra layers first.
pub fn stage(ctx: &Context, c: &TrainConfig, s: u64) -> pipeline::Stage {
    let mut st = match c.last_stage_layers {
        Some(last) if c.pp > 1 => {
            let rest = ctx.layers.saturating_sub(last);
            if s + 1 == c.pp {
                let dense = ctx.dense_layers.saturating_sub(rest).min(last);
                pipeline::Stage {
                    dense_layers: dense as f64,
                    moe_layers: (last - dense) as f64,
                    first: false,
                    last: true,
                }
            } else {
                pipeline::Stage {
                    last: false,
                    ..pipeline::stage(rest, ctx.dense_layers.min(rest), c.pp - 1, s)
                }
            }
        }
        _ => pipeline::stage(ctx.layers, ctx.dense_layers, c.pp, s),
    };
    if st.last {
        let mtp = c.mtp_layers as f64;
        if ctx.dense_layers < ctx.layers {
            st.moe_layers += mtp;
        } else {
            st.dense_layers += mtp;
        }
    }
    st
}

/// Parameters of one multi-token-prediction block beyond its transformer layer: the projection
/// of the concatenated normalised embedding and hidden state, `2d → d` (DeepSeek-V3 §2.2).
pub fn mtp_projection_params(ctx: &Context) -> f64 {
    2.0 * ctx.model.d_model * ctx.model.d_model
}

/// Activation bytes one layer stores for one micro-batch (`perf::activations`).
pub fn layer_activation_bytes(ctx: &Context, c: &TrainConfig, moe: bool, keep_scores: bool) -> f64 {
    activations::layer_bytes(
        &ctx.model,
        LayerPass {
            tokens: (c.seq_len * c.micro_batch) as f64,
            tp: c.tp,
            seq_len: c.seq_len as f64,
            moe,
            sequence_parallel: c.sequence_parallel,
            keep_scores,
        },
    )
}

/// Activation bytes one layer and micro-batch does not keep because `recompute_modules` re-runs
/// what produced them (in `layer_activation_bytes`' units): the two norms' outputs (`layernorm`,
/// 4 bytes per token and `d_model` element), the routed experts' activation output (`moe_act`,
/// 2 bytes per assignment and inner element), a dense layer's MLP beyond its input (`mlp`). MLA's
/// up-projection outputs (`mla_up_proj`) are not in the activation count, so nothing is taken
/// off for them.
pub fn discarded_bytes(ctx: &Context, c: &TrainConfig, moe: bool) -> f64 {
    let rm = c.effective_recompute_modules();
    let m = &ctx.model;
    let t = c.tp as f64;
    let tokens = (c.seq_len * c.micro_batch) as f64;
    let mut b = 0.0;
    if rm.layernorm {
        // Two norms' 16-bit outputs.
        b += 2.0 * 2.0 * super::step::norm_tokens(c) * m.d_model;
    }
    if rm.moe_act && moe {
        b += m.top_k * 2.0 * m.ffn_dim * tokens / t;
    }
    if rm.mlp && !moe {
        // Korthikanti's MLP units (3 + 16·r per token and `d_model`) less the kept input (2).
        let r = m.dense_ffn_params_per_layer / (8.0 * m.d_model * m.d_model);
        b += (1.0 + 16.0 * r) * m.d_model * tokens / t;
    }
    b
}

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
        let st = stage(ctx, c, s);
        let (pd, pe) = stage_params(ctx, c, st);
        let params_over = |bytes: f64, stage_min: u8| {
            bytes * (pd / shard(stage_min, dp) + pe / shard(stage_min, expert_dp))
        };
        let per_layer = |moe: bool| match c.recompute {
            Recompute::None => {
                layer_activation_bytes(ctx, c, moe, c.attention == AttentionImpl::Eager)
                    - discarded_bytes(ctx, c, moe)
            }
            Recompute::Selective => {
                layer_activation_bytes(ctx, c, moe, false) - discarded_bytes(ctx, c, moe)
            }
            Recompute::Full => 2.0 * tokens * m.d_model / c.tp as f64,
        };
        let mut act =
            in_flight * (st.dense_layers * per_layer(false) + st.moe_layers * per_layer(true));
        if c.recompute == Recompute::Full {
            // One layer's full working set while it is recomputed.
            act += layer_activation_bytes(ctx, c, st.moe_layers > 0.0, false);
        }
        if st.last {
            // fp32 logits for the loss, and again for each prediction depth.
            act += (1.0 + c.mtp_layers as f64) * 4.0 * tokens * m.vocab / c.tp as f64;
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
