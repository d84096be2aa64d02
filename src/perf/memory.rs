//! Memory per GPU for inference (docs/methodology.md §5): weights of the stage's layers sharded
//! by TP (experts by EP × expert-TP), the KV cache of the stage's layers for every sequence in
//! flight (heads sharded by TP, replicated when `kv_heads < tp`), the activations of one layer
//! for the largest step (`activations`), and the runtime's own memory.

use super::activations;
use super::pipeline::Stage;
use super::{Context, Rates};

/// Memory of one GPU of one stage, bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    /// Weights.
    pub weights_bytes: f64,
    /// KV cache.
    pub kv_bytes: f64,
    /// Activations of the largest step (prefill chunk or decode micro-batch) and the logits.
    pub activation_bytes: f64,
    /// CUDA context, workspaces, communication buffers.
    pub runtime_bytes: f64,
}

impl Memory {
    /// Everything.
    pub fn total_bytes(&self) -> f64 {
        self.weights_bytes + self.kv_bytes + self.activation_bytes + self.runtime_bytes
    }
}

/// Memory of one GPU in `stage` with `sequences` in flight, each reserving `context_tokens`,
/// whose largest step has `step_tokens` tokens and whose decode micro-batch has `micro_batch`.
pub fn stage_memory(
    ctx: &Context,
    r: &Rates,
    stage: Stage,
    sequences: f64,
    context_tokens: f64,
    step_tokens: f64,
    micro_batch: f64,
) -> Memory {
    let m = &ctx.model;
    let tp = r.tp as f64;
    let attn = (m.attn_params_per_layer + m.norm_params_per_layer) / tp;
    let moe_layer = attn
        + (m.experts + m.shared_experts) * m.ffn_params_per_expert_per_layer / tp
        + m.router_params_per_layer;
    let dense_layer = attn + m.dense_ffn_params_per_layer / tp;
    let embed = m.d_model * m.vocab / tp;
    let mut params = stage.dense_layers * dense_layer + stage.moe_layers * moe_layer;
    if stage.first {
        params += embed;
    }
    if stage.last && (m.embed_out_params > 0.0 || !stage.first) {
        params += embed;
    }
    let layers = stage.dense_layers + stage.moe_layers;
    // One layer's activations are live at a time in inference.
    let activation = activations::layer_bytes(
        m,
        activations::LayerPass {
            tokens: step_tokens,
            tp: r.tp,
            seq_len: 0.0,
            moe: stage.moe_layers > 0.0,
            sequence_parallel: false,
            keep_scores: false,
        },
    ) * r.act_bytes
        / 2.0;
    let logits = if stage.last {
        4.0 * micro_batch * m.vocab / tp
    } else {
        0.0
    };
    Memory {
        weights_bytes: r.weight_bytes * params,
        kv_bytes: r.kv_bytes_per_token_per_layer_per_gpu * layers * context_tokens * sequences,
        activation_bytes: activation + logits,
        runtime_bytes: ctx.hw.runtime_bytes,
    }
}
