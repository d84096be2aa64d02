//! Prefill (docs/methodology.md §7.2): a prompt runs in chunks through the pipeline on its
//! attention group. TTFT is the request overhead, then the first chunk through every stage, the
//! other full chunks one slowest stage apart, the remainder as a smaller chunk, and the hops.
//! Under load every group fills its chunks with several prompts up to the budget, and the groups
//! step together through the MoE layers.

use super::config::{Batching, Config};
use super::context::{Context, Rates};
use super::layer::{LayerStep, StepShape};
use super::layout::Layout;
use super::pipeline::pass;

/// The prefill phase of one configuration.
#[derive(Clone, Copy, Debug)]
pub struct Prefill {
    /// Prompt tokens per chunk of the measured request.
    pub chunk: f64,
    /// Chunks per prompt.
    pub chunks: f64,
    /// Tokens per chunk under load (several prompts per chunk, up to the budget).
    pub busy_chunk: f64,
    /// One MoE (or dense-model) layer on the first chunk.
    pub layer: LayerStep,
    /// The slowest stage on one chunk.
    pub stage_max_s: f64,
    /// Σ over stages on one chunk.
    pub stages_sum_s: f64,
    /// Time to first token of a lone request (static: of the batch), without a KV transfer.
    pub ttft_s: f64,
    /// Prompt tokens per second of one replica of layout `l` that only prefills, pipeline full.
    pub tokens_per_s: f64,
}

/// The prefill phase of `c` on layout `l` (rates `r`).
pub fn prefill(ctx: &Context, c: &Config, r: &Rates, l: Layout) -> Prefill {
    let (batch, pp, dp) = (c.batch as f64, l.pp as f64, l.dp as f64);
    let s_in = c.input_len as f64;
    let per_group = (batch / dp).ceil();
    // Static batching prefills every prompt of the batch (each group its own) before the first
    // token, all groups together; continuous batching prefills one request's prompt alone.
    let (prompt_tokens, groups) = match c.batching {
        Batching::Static => (per_group * s_in, dp),
        Batching::Continuous => (s_in, 1.0),
    };
    // One chunk of `chunk` prompt tokens per group, `groups` groups at once.
    let run = |chunk: f64, groups: f64| {
        let shape = StepShape {
            tokens: chunk,
            moe_tokens: chunk * groups,
            kv_tokens_read: ctx.model.attended(s_in / 2.0) + chunk,
            attn_pairs: chunk * ctx.model.attended((s_in / 2.0).max(chunk.min(s_in) / 2.0)),
            sequences: 1.0,
            decode: false,
        };
        pass(ctx, r, l.pp, shape, 1.0)
    };
    let budget = ctx.prefill_chunk_tokens as f64;
    let chunk = prompt_tokens.min(budget);
    let first = run(chunk, groups);
    // Full chunks, then the remainder as a smaller last chunk (not another full one).
    let full_chunks = (prompt_tokens / chunk).floor();
    let rest = prompt_tokens - full_chunks * chunk;
    let rest_s = if rest >= 1.0 {
        run(rest, groups).max_s
    } else {
        0.0
    };
    let ttft_s = ctx.hw.per_request_s
        + first.sum_s
        + (full_chunks - 1.0) * first.max_s
        + rest_s
        + (pp - 1.0) * first.hop_s;
    // Under load every group batches prompts into each chunk, up to the budget.
    let busy_chunk = (per_group * s_in).min(budget).max(chunk);
    let busy_pass;
    let busy = if busy_chunk > chunk || groups < dp {
        busy_pass = run(busy_chunk, dp);
        &busy_pass
    } else {
        &first
    };
    Prefill {
        chunk,
        chunks: (prompt_tokens / chunk).ceil(),
        busy_chunk,
        layer: first.layer,
        stage_max_s: first.max_s,
        stages_sum_s: first.sum_s,
        ttft_s,
        tokens_per_s: dp * busy_chunk / busy.max_s.max(busy.hop_s),
    }
}
