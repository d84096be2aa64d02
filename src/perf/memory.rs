//! Memory per GPU for inference (docs/methodology.md §5): weights of the stage's layers (attention,
//! dense FFN and shared experts split over the attention group's TP and replicated across groups;
//! routed experts split over every GPU of the stage), the KV cache of the stage's layers for the
//! group's sequences in flight (heads split by TP, replicated when `kv_heads < tp`), the
//! activations of one layer for the largest step (`activations`), and the runtime's own memory.

use super::activations::{self, InferencePass};
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

/// Whether an inference memory plan fits `hw`: everything within HBM, and the KV cache within its
/// share of what weights, activations and the runtime leave free.
pub fn fits(hw: &crate::hardware::Hardware, m: &Memory) -> bool {
    let fixed = m.weights_bytes + m.activation_bytes + m.runtime_bytes;
    fixed <= hw.mem_bytes && m.kv_bytes <= hw.kv_cache_free_fraction * (hw.mem_bytes - fixed)
}

/// What the sequences in flight put on every stage.
#[derive(Clone, Copy, Debug)]
pub struct Load {
    /// Sequences in flight on one attention group.
    pub sequences: f64,
    /// Tokens reserved per sequence.
    pub context_tokens: f64,
    /// Sequences in one decode micro-batch (their fp32 logits sit on the last stage).
    pub micro_batch: f64,
    /// Activation bytes of one layer for the largest step: (dense layer, MoE layer).
    pub live_activation_bytes: (f64, f64),
}

impl Load {
    /// A load whose largest step has `step_tokens` tokens on each attention group.
    pub fn new(
        ctx: &Context,
        r: &Rates,
        sequences: f64,
        context_tokens: f64,
        step_tokens: f64,
        micro_batch: f64,
    ) -> Self {
        // One layer's activations are live at a time in inference; a GPU's routed experts hold
        // their share of the stage's token-expert assignments.
        let live = |moe: bool| {
            let m = &ctx.model;
            let pass = InferencePass {
                group_tokens: step_tokens,
                tp: r.tp,
                routed_assignments: step_tokens * r.dp as f64 * m.top_k / r.ep as f64,
                expert_tp: r.expert_tp,
                moe,
                sequence_parallel: r.sequence_parallel,
                // The prefill chunk's activations bound the live memory (decode's latents, even
                // MLA's, are a few hundred kB a sequence).
                decode: false,
            };
            activations::inference_layer_bytes(m, pass, r.act_bytes)
        };
        Load {
            sequences,
            context_tokens,
            micro_batch,
            live_activation_bytes: (live(false), live(true)),
        }
    }
}

/// Memory of one GPU in `stage` under `load`.
pub fn stage_memory(ctx: &Context, r: &Rates, stage: Stage, load: &Load) -> Memory {
    let m = &ctx.model;
    let tp = r.tp as f64;
    // An output projection in a precision of its own is counted apart (`out`).
    let out_per_layer = if r.attn_out != r.dense {
        m.attn_out_params_per_layer / tp
    } else {
        0.0
    };
    let attn = m.attn_params_per_gpu(tp) - out_per_layer + m.norm_params_per_layer / tp;
    let stage_gpus = (r.tp * r.dp) as f64;
    // Routed experts in the experts' precision (per slot, over the stage's GPUs).
    let routed = stage.moe_layers * r.expert_slots * m.ffn_params_per_expert_per_layer / stage_gpus;
    // The MLPs outside the routed experts (shared experts, dense FFN layers) in the experts'
    // precision, the attention, router and embeddings in the dense layers'.
    let moe_layer = attn + m.router_params_per_layer;
    let dense_layer = attn;
    let mlp = stage.moe_layers * m.shared_experts * m.ffn_params_per_expert_per_layer / tp
        + stage.dense_layers * m.dense_ffn_params_per_layer / tp;
    let embed = m.d_model * m.vocab / tp;
    let mut params = stage.dense_layers * dense_layer + stage.moe_layers * moe_layer;
    if stage.first {
        params += embed;
    }
    if stage.last && (m.embed_out_params > 0.0 || !stage.first) {
        params += embed;
    }
    let layers = stage.dense_layers + stage.moe_layers;
    let out = layers * out_per_layer * r.attn_out.weight_bytes;
    let activation = if stage.moe_layers > 0.0 {
        load.live_activation_bytes.1
    } else {
        load.live_activation_bytes.0
    };
    let logits = if stage.last {
        4.0 * load.micro_batch * m.vocab / tp
    } else {
        0.0
    };
    Memory {
        weights_bytes: out
            + if r.mlp == r.dense {
                r.dense.weight_bytes * (params + mlp) + r.weight_bytes * routed
            } else {
                r.dense.weight_bytes * params + r.mlp.weight_bytes * mlp + r.weight_bytes * routed
            },
        kv_bytes: r.kv_bytes_per_token_per_layer
            * r.kv_share(load.sequences)
            * layers
            * load.context_tokens
            * load.sequences,
        activation_bytes: activation + logits,
        runtime_bytes: ctx.hw.runtime_bytes,
    }
}

/// Memory of the heaviest GPU of a replica of `pp` stages under `load`.
pub fn replica_memory(ctx: &Context, r: &Rates, pp: u64, load: &Load) -> Memory {
    replica_memory_and_mean_weights(ctx, r, pp, load).0
}

/// `replica_memory`, and the weight bytes per GPU averaged over the replica's GPUs (every GPU
/// of a stage holds as much: its attention group's share of the replicated attention and dense
/// weights, and its share of the stage's experts).
pub fn replica_memory_and_mean_weights(
    ctx: &Context,
    r: &Rates,
    pp: u64,
    load: &Load,
) -> (Memory, f64) {
    let mut mem = Memory::default();
    let mut weights = 0.0;
    // Identical stages hold identical memory: one evaluation per run of them.
    for &(st, n) in ctx.stage_runs(pp).as_slice() {
        let sm = stage_memory(ctx, r, st, load);
        for _ in 0..n {
            weights += sm.weights_bytes;
        }
        if sm.total_bytes() > mem.total_bytes() {
            mem = sm;
        }
    }
    (mem, weights / pp.max(1) as f64)
}
