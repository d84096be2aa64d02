//! Prefill (docs/methodology.md §7.2): a prompt runs in chunks through the pipeline on its
//! attention group. TTFT is the request overhead, then the first chunk through every stage, the
//! other full chunks one slowest stage apart, the remainder as a smaller chunk, and the hops.
//! Under load every group fills its chunks with several prompts up to the budget, and the groups
//! step together through the MoE layers.

use super::config::{Batching, Config};
use super::context::{Context, Rates};
use super::layer::{LayerStep, StepShape};
use super::layout::Layout;
use super::pipeline::{Pass, pass};

/// Prefill passes already priced, by (chunk tokens, groups): for the configurations of a sweep
/// that share the context, rates, layout and prompt length (a sweep's unit), which differ only
/// in batch and output length. The passes are the same function of the same inputs, so the
/// results are bit-identical; `clear` it when any of those change.
#[derive(Clone, Debug, Default)]
pub struct PassMemo {
    entries: Vec<((u64, u64), Pass)>,
    next: usize,
}

/// Passes a memo keeps (the first chunk, the remainder and the busy chunks of a unit's batches
/// until the chunk budget saturates).
const MEMO_PASSES: usize = 16;

impl PassMemo {
    /// Forget every pass (a new unit).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.next = 0;
    }

    fn get(&mut self, chunk: f64, groups: f64, price: impl FnOnce() -> Pass) -> &Pass {
        let key = (chunk.to_bits(), groups.to_bits());
        if let Some(i) = self.entries.iter().position(|(k, _)| *k == key) {
            return &self.entries[i].1;
        }
        let i = if self.entries.len() < MEMO_PASSES {
            self.entries.push((key, price()));
            self.entries.len() - 1
        } else {
            let i = self.next;
            self.entries[i] = (key, price());
            self.next = (self.next + 1) % MEMO_PASSES;
            i
        };
        &self.entries[i].1
    }
}

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

/// The prefill phase of `c` on layout `l` (rates `r`); `memo`, if given, holds the passes of
/// configurations that differ from `c` only in batch and output length.
pub fn prefill(
    ctx: &Context,
    c: &Config,
    r: &Rates,
    l: Layout,
    memo: Option<&mut PassMemo>,
) -> Prefill {
    prefill_with::<true>(ctx, c, r, l, memo)
}

/// `prefill`; without `LAYER` the result's `layer` is left empty (a sweep that does not show
/// the breakdown).
pub fn prefill_with<const LAYER: bool>(
    ctx: &Context,
    c: &Config,
    r: &Rates,
    l: Layout,
    mut memo: Option<&mut PassMemo>,
) -> Prefill {
    let (batch, pp, dp) = (c.batch as f64, l.pp as f64, l.dp as f64);
    let s_in = c.input_len as f64;
    let per_group = (batch / dp).ceil();
    // Static batching prefills every prompt of the batch (each group its own) before the first
    // token, all groups together (a batch smaller than the groups leaves the rest idle: they add
    // no tokens to the experts); continuous batching prefills one request's prompt alone.
    let (prompt_tokens, groups) = match c.batching {
        Batching::Static => (per_group * s_in, dp.min(batch)),
        Batching::Continuous => (s_in, 1.0),
    };
    // One chunk of `chunk` prompt tokens per group, `groups` groups at once: its (slowest
    // stage, Σ stages, hop) times, and its layer step copied into `layer` when given (a pass is
    // 688 bytes; only the first chunk's layer is kept).
    let price = |chunk: f64, groups: f64| chunk_pass(ctx, r, l, s_in, chunk, groups);
    // A chunk's (slowest stage, hop) times.
    let mut times = |chunk: f64, groups: f64| match memo.as_deref_mut() {
        Some(m) => {
            let p = m.get(chunk, groups, || price(chunk, groups));
            (p.max_s, p.hop_s)
        }
        None => {
            let p = price(chunk, groups);
            (p.max_s, p.hop_s)
        }
    };
    let budget = ctx.prefill_chunk_tokens as f64;
    let chunk = prompt_tokens.min(budget);
    // Full chunks, then the remainder as a smaller last chunk (not another full one).
    let full_chunks = (prompt_tokens / chunk).floor();
    let rest = prompt_tokens - full_chunks * chunk;
    let rest_s = if rest >= 1.0 {
        times(rest, groups).0
    } else {
        0.0
    };
    // Under load every group batches prompts into each chunk, up to the budget.
    let busy_chunk = (per_group * s_in).min(budget).max(chunk);
    let busy = (busy_chunk > chunk || groups < dp).then(|| times(busy_chunk, dp));
    // The first chunk last, so that its pass (and its layer, which the result keeps) is read in
    // place, from the memo or from a local: the passes are independent of one another.
    let priced;
    let first: &Pass = match memo {
        Some(m) => m.get(chunk, groups, || price(chunk, groups)),
        None => {
            priced = price(chunk, groups);
            &priced
        }
    };
    let ttft_s = ctx.hw.per_request_s
        + first.sum_s
        + (full_chunks - 1.0) * first.max_s
        + rest_s
        + (pp - 1.0) * first.hop_s;
    let (busy_max_s, busy_hop_s) = busy.unwrap_or((first.max_s, first.hop_s));
    Prefill {
        chunk,
        chunks: (prompt_tokens / chunk).ceil(),
        busy_chunk,
        layer: if LAYER {
            first.layer
        } else {
            LayerStep::default()
        },
        stage_max_s: first.max_s,
        stages_sum_s: first.sum_s,
        ttft_s,
        tokens_per_s: dp * busy_chunk / busy_max_s.max(busy_hop_s),
    }
}

/// The pass of one prefill chunk: `chunk` prompt tokens on each of `groups` attention groups at
/// once (the groups meet in the MoE layers), taken from prompts of `s_in` tokens. Each token
/// attends to its prompt's mean context, so a chunk of a long prompt pays for the keys of the
/// chunks before it and a chunk of several short prompts only for each prompt's own.
fn chunk_pass(ctx: &Context, r: &Rates, l: Layout, s_in: f64, chunk: f64, groups: f64) -> Pass {
    let shape = StepShape {
        tokens: chunk,
        moe_tokens: chunk * groups,
        kv_tokens_read: ctx.model.attended_over(0.0, s_in) + chunk,
        attn_pairs: chunk * ctx.model.attended_over(0.0, s_in),
        sequences: 1.0,
        decode: false,
        graph_share: 0.0,
    };
    pass(ctx, r, l.pp, shape, 1.0)
}

/// One serving iteration's prefill, for the simulation (`crate::sim`): `tokens` prompt tokens on
/// each of `groups` attention groups, taken from prompts of `c.input_len` tokens in chunks of at
/// most the budget, on the prefill layout. Returns the time it adds to the iteration (the request
/// overhead, then each chunk's slowest stage) and the pipeline fill after it (the last chunk's
/// other stages and hand-offs, which the first token of a prompt finished in it waits for).
pub fn iteration_prefill_s(ctx: &Context, c: &Config, tokens: f64, groups: f64) -> (f64, f64) {
    if tokens <= 0.0 {
        return (0.0, 0.0);
    }
    let l = c.prefill_layout();
    let r = ctx.rates_for(c, l);
    let s_in = c.input_len as f64;
    let chunk = tokens.min(ctx.prefill_chunk_tokens as f64);
    let full_chunks = (tokens / chunk).floor();
    let rest = tokens - full_chunks * chunk;
    let first = chunk_pass(ctx, &r, l, s_in, chunk, groups);
    let rest_s = if rest >= 1.0 {
        chunk_pass(ctx, &r, l, s_in, rest, groups).max_s
    } else {
        0.0
    };
    let fill_s = (first.sum_s - first.max_s + (l.pp as f64 - 1.0) * first.hop_s).max(0.0);
    (
        ctx.hw.per_request_s + full_chunks * first.max_s + rest_s,
        fill_s,
    )
}
