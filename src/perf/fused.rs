//! Context-generation fusion (docs/methodology.md §7.3): a runtime whose iteration takes its
//! decode tokens and its prompt chunk out of one token budget runs them as one forward —
//! TensorRT-LLM's in-flight *fused* batching (`TrtGptModelInflightBatching`, `mCtxGenFusion`;
//! its PyTorch executor's `_forward_step` over the scheduled context and generation requests),
//! vLLM's unified batch. The linear layers then stream their weights once for both, run one GEMM
//! over the decode rows and the chunk's, exchange and reduce them once and pay a layer's fixed
//! time once; attention (decode over the cache, the chunk's own) and the elementwise traffic
//! stay each its own. SGLang forms prefill and decode batches apart (its profiles say
//! `decode_shares_budget = false`) and pays both in full.

use super::context::{Context, Rates};
use super::layer::{LayerStep, StepShape, layer_step};
use super::pipeline::Pass;

/// The part of a layer step that one forward pays once whatever phase its tokens are in: the
/// projection GEMMs, the FFN (or shared experts and router) and the routed experts, the
/// tensor-parallel reductions and the MoE exchange, and the fixed per-layer time, less what
/// overlap hides. Attention over the KV cache, the elementwise traffic and the KV all-to-all of
/// sequence-sharded decode scale with their own tokens and are left out.
fn linear_s(s: &LayerStep) -> f64 {
    s.time_s() - s.attn_core.time_s() - s.elementwise.time_s() - s.kv_all_to_all_s
}

/// The linear part (`linear_s`) of one MoE layer and one dense layer of a step (for a dense
/// model both are its layer).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Linear {
    /// One MoE layer.
    pub moe_s: f64,
    /// One dense layer (a dense model's layer, or an MoE model's leading dense layer).
    pub dense_s: f64,
}

impl Linear {
    /// The linear part of a pass's layers.
    pub fn of_pass(p: &Pass) -> Self {
        Linear {
            moe_s: linear_s(&p.layer),
            dense_s: linear_s(&p.dense),
        }
    }

    /// Over every layer of the model.
    fn model_s(self, ctx: &Context) -> f64 {
        if ctx.dense_layers == ctx.layers {
            ctx.layers as f64 * self.dense_s
        } else {
            (ctx.layers - ctx.dense_layers) as f64 * self.moe_s
                + ctx.dense_layers as f64 * self.dense_s
        }
    }
}

/// The linear part of one step of `tokens` rows per attention group, `groups` groups stepping
/// together through the MoE layers; a decode step's (`decode`, `decode_rows` sequences) or a
/// prompt chunk's.
pub fn linear(ctx: &Context, r: &Rates, tokens: f64, groups: f64, decode: bool) -> Linear {
    let shape = StepShape {
        tokens,
        moe_tokens: tokens * groups,
        kv_tokens_read: 0.0,
        attn_pairs: 0.0,
        sequences: if decode { tokens } else { 1.0 },
        decode,
        graph_share: 0.0,
    };
    let moe_model = ctx.dense_layers != ctx.layers;
    let first = linear_s(&layer_step(ctx, r, shape, moe_model));
    let dense_s = if !moe_model {
        first
    } else if ctx.dense_layers > 0 {
        linear_s(&layer_step(ctx, r, shape, false))
    } else {
        0.0
    };
    Linear {
        moe_s: if moe_model { first } else { 0.0 },
        dense_s,
    }
}

/// A prompt chunk's linear part and what one more row adds to it (`chunk`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Chunk {
    /// The chunk's own linear part.
    pub linear: Linear,
    /// The linear part one more row adds: the chunk's growth from one chunk to two, per row. A
    /// chunk whose GEMMs are compute-bound grows by each row's FLOPs; one still streaming its
    /// weights barely grows until it turns compute-bound.
    pub per_row: Linear,
}

/// The linear part of a prompt chunk of `chunk_tokens` tokens per attention group (`groups`
/// stepping together) and its cost per added row.
pub fn chunk(ctx: &Context, r: &Rates, chunk_tokens: f64, groups: f64) -> Chunk {
    let one = linear(ctx, r, chunk_tokens, groups, false);
    let two = linear(ctx, r, 2.0 * chunk_tokens, groups, false);
    Chunk {
        linear: one,
        per_row: Linear {
            moe_s: ((two.moe_s - one.moe_s) / chunk_tokens).max(0.0),
            dense_s: ((two.dense_s - one.dense_s) / chunk_tokens).max(0.0),
        },
    }
}

/// The time one fused iteration saves over a decode step whose linear part is `dec`, over its
/// `decode_rows` rows, and a prompt chunk priced apart, over every layer of the model: the decode
/// rows ride the chunk's pass at its cost per row (`Chunk::per_row`) instead of a pass of their
/// own, `lin(dec) − rows · ∂lin/∂row`; never more than the smaller of the two passes (one step of
/// both rows costs at least the larger: where the rows outnumber a memory-bound chunk it is the
/// chunk that rides), never negative. A pipeline stage saves its own layers' share (the caller
/// divides by the stages).
pub fn saving_s(ctx: &Context, dec: Linear, chunk: Chunk, decode_rows: f64) -> f64 {
    if decode_rows <= 0.0 {
        return 0.0;
    }
    let (dec_s, chunk_s) = (dec.model_s(ctx), chunk.linear.model_s(ctx));
    (dec_s - decode_rows * chunk.per_row.model_s(ctx))
        .min(dec_s)
        .min(chunk_s)
        .max(0.0)
}
