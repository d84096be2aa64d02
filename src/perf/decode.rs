//! Decode (docs/methodology.md §7.1, §7.4): each attention group's sequences run through the
//! pipeline in micro-batches; a token of every sequence takes one cycle,
//! `max(Σ stages + hops, micro-batches × slowest stage)`. With speculative decoding the target
//! verifies γ + 1 tokens per sequence in one step and a draft proposes them.

use super::DecodeBound;
use super::config::{Batching, Config, DraftCost};
use super::context::{Context, Rates};
use super::layer::LayerMemo;
use super::layer::StepShape;
use super::pipeline::{Pass, pass_into, pass_memo_into};
use crate::hardware::ChunkedDecode;

/// The decode phase of one configuration.
#[derive(Clone, Copy, Debug, Default)]
pub struct Decode {
    /// Sequences per attention group in one pipeline micro-batch.
    pub micro_batch: f64,
    /// Micro-batches in flight.
    pub micro_batches: f64,
    /// Mean context a decode step reads, tokens.
    pub mean_context: f64,
    /// The keys a decode query attends to and streams (`decode_keys`).
    pub keys: DecodeKeys,
    /// The target step through every stage (a verification of γ + 1 tokens when speculating).
    pub pass: Pass,
    /// The rows `pass` runs per attention group and micro-batch: its sequences (padded as its
    /// mean graph-replayed step pads them) times the tokens it scores of each.
    pub rows: f64,
    /// One plain cycle: a token of every sequence, no speculation.
    pub plain_step_s: f64,
    /// One target cycle: the plain one, or the verification.
    pub verify_step_s: f64,
    /// One draft step (0 without speculation).
    pub draft_step_s: f64,
    /// Tokens each sequence gains per target step (1 without speculation).
    pub tokens_per_step: f64,
    /// Time per generated token of every sequence in steady decode, without prefills.
    pub step_s: f64,
}

/// The keys of one decode query, per sequence and averaged over the layers and the run's
/// positions (`s_in` to `s_in + n_out`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DecodeKeys {
    /// Keys it attends to (`ModelCounts::attended_over`: a chunked layer's own chunk).
    pub attended: f64,
    /// Keys its attention kernels stream from memory: `attended`, or more where the runtime runs
    /// chunked layers on a kernel that reads each KV head once per query head.
    pub streamed: f64,
    /// The chunked layers' part of `attended` (their share times their mean keys; 0 without
    /// chunks, or where the runtime turns chunking off).
    pub chunked: f64,
    /// Query heads that read each KV head's cache on the chunked layers: 1 for the grouped
    /// kernel, the GPU's query heads over its KV heads for a per-query-head kernel.
    pub chunked_reads: f64,
}

/// Where the keys of a decode query go (docs/methodology.md §4.5). A chunked layer attends to the
/// tokens since its chunk began (`chunked_over`); on a GPU whose runtime runs such layers on a
/// per-query-head kernel (`ChunkedDecode::PerQueryHead`: TensorRT-LLM before Blackwell) each of
/// a KV head's query heads streams its cache, so the layer reads `heads/kv_heads` times what it
/// attends to. That runtime keeps its grouped kernel where a sequence never leaves its first
/// chunk (`max_seq_len < attention_chunk_size` turns chunking off: the same keys), and turns
/// chunking off under speculative decoding (the layers then attend to the whole sequence, on
/// the grouped kernel).
pub fn decode_keys(ctx: &Context, c: &Config, r: &Rates) -> DecodeKeys {
    let m = &ctx.model;
    let (from, to) = (c.input_len as f64, c.input_len as f64 + c.output_len as f64);
    let plain = |attended: f64, chunked: f64| DecodeKeys {
        attended,
        streamed: attended,
        chunked,
        chunked_reads: 1.0,
    };
    let runs_chunks = m.chunked_share > 0.0 && to >= m.chunk_tokens;
    if !runs_chunks || ctx.hw.chunked_decode == ChunkedDecode::Grouped {
        return plain(m.attended_over(from, to), m.chunked_over(from, to));
    }
    if c.speculation.is_some() {
        return plain(m.attended((from + to) / 2.0), 0.0);
    }
    let attended = m.attended_over(from, to);
    let chunked = m.chunked_over(from, to);
    // The query heads over the KV heads one GPU holds (KV heads replicated when TP exceeds them).
    let reads = (m.heads * r.head_share / (m.kv_heads * r.kv_head_share)).max(1.0);
    DecodeKeys {
        attended,
        streamed: attended + chunked * (reads - 1.0),
        chunked,
        chunked_reads: reads,
    }
}

/// The decode phase of `c` on its own layout (rates `r`); `draft` prices a draft model.
pub fn decode(ctx: &Context, draft: Option<&Context>, c: &Config, r: &Rates) -> Decode {
    decode_memo(ctx, draft, c, r, None)
}

/// `decode`; `memo`, if given, holds layer steps of configurations that differ from `c` only in
/// output length.
pub fn decode_memo(
    ctx: &Context,
    draft: Option<&Context>,
    c: &Config,
    r: &Rates,
    memo: Option<&mut LayerMemo>,
) -> Decode {
    let mut out = Decode::default();
    decode_into(ctx, draft, c, r, memo, &mut out);
    out
}

/// `decode_memo` into `out` (every field written; a sweep reuses one).
pub fn decode_into(
    ctx: &Context,
    draft: Option<&Context>,
    c: &Config,
    r: &Rates,
    memo: Option<&mut LayerMemo>,
    out: &mut Decode,
) {
    decode_with_share(ctx, draft, c, r, memo, out, None);
}

/// `decode_into`, with the share of CUDA-graph steps given (`Some`) instead of derived from `c`:
/// a draft model runs in the target's iterations, so it takes the target's share.
fn decode_with_share(
    ctx: &Context,
    draft: Option<&Context>,
    c: &Config,
    r: &Rates,
    mut memo: Option<&mut LayerMemo>,
    out: &mut Decode,
    share: Option<f64>,
) {
    let (batch, pp, dp) = (c.batch as f64, c.pp as f64, c.dp as f64);
    let (s_in, n_out) = (c.input_len as f64, c.output_len as f64);
    let per_group = (batch / dp).ceil();
    let b = (per_group / pp).ceil();
    let n_mb = (per_group / b).ceil();
    let mean_context = s_in + n_out / 2.0;
    let keys = decode_keys(ctx, c, r);
    // The share of decode steps with no prompt in them, which a runtime replays from a CUDA
    // graph: all of them in a static batch or a disaggregated decode pool; under continuous
    // batching a step admits B·τ/N prompts on average (one per sequence that finished, τ tokens
    // a step with speculation), so a share e^(−B·τ/N) of the steps admits none (TensorRT-LLM runs
    // a step that carries a prompt eagerly, and under attention DP every rank then does).
    let graph_share = share.or(ctx.decode_graph_share).unwrap_or_else(|| {
        if c.batching == Batching::Static || c.disaggregate.is_some() {
            1.0
        } else {
            (-batch * tokens_per_step(c) / n_out.max(1.0)).exp()
        }
    });
    // The rows a step's GEMMs, experts and head run: a graph-replayed step pads its `b`
    // sequences to the captured batch (dummy requests that read no KV cache), an eager one runs
    // them as they are; the mean over the steps (`replayed_rows`).
    let rows = b + graph_share * (replayed_rows(ctx, c, b) - b);
    // One step of `per_seq` tokens per sequence through the pipeline, and its cycle time.
    let mut step = |per_seq: f64, p: &mut Pass| {
        let shape = StepShape {
            tokens: rows * per_seq,
            // The stage's sequences of one micro-batch over all its attention groups: `b` on
            // each, or the whole batch when it is smaller (idle groups send none); padded as
            // the groups' GEMMs are.
            moe_tokens: per_seq * (b * dp).min(batch) * rows / b,
            kv_tokens_read: b * keys.streamed,
            attn_pairs: b * per_seq * keys.attended,
            sequences: b,
            decode: true,
            graph_share,
        };
        match memo.as_deref_mut() {
            Some(m) => pass_memo_into(ctx, r, c.pp, shape, rows * per_seq, m, p),
            None => pass_into(ctx, r, c.pp, shape, rows * per_seq, p),
        }
    };
    let cycle_s = |p: &Pass| (p.sum_s + (pp - 1.0) * p.hop_s).max(n_mb * p.max_s);
    // The plain pass is the target's too unless speculating (no copy of it then). The result is
    // filled in place: a pass is 688 bytes, and moved into it at the end it would be copied.
    out.micro_batch = b;
    out.micro_batches = n_mb;
    out.mean_context = mean_context;
    out.keys = keys;
    step(1.0, &mut out.pass);
    out.rows = rows;
    let plain_step_s = cycle_s(&out.pass);
    // An MTP draft token: one more layer like the model's and the output head, at the plain shape.
    let mtp_layer_and_head_s = out.pass.layer.time_s() + out.pass.head.time_s();
    let verify_step_s = match c.speculation {
        // The verify step scores γ+1 tokens of every sequence: more distinct experts, same KV.
        Some(sp) => {
            step(sp.gamma as f64 + 1.0, &mut out.pass);
            out.rows = rows * (sp.gamma as f64 + 1.0);
            cycle_s(&out.pass)
        }
        None => plain_step_s,
    };
    let (draft_step_s, tokens_per_step, gamma) = match c.speculation {
        None => (0.0, 1.0, 0.0),
        Some(sp) => {
            let draft_s = match (sp.draft, draft) {
                (DraftCost::Ratio(x), _) => x * plain_step_s,
                (DraftCost::Model, Some(d)) => {
                    let dc = Config {
                        pp: 1,
                        speculation: None,
                        ..*c
                    };
                    let mut draft_decode = Decode::default();
                    decode_with_share(
                        d,
                        None,
                        &dc,
                        &d.rates(&dc),
                        None,
                        &mut draft_decode,
                        Some(graph_share),
                    );
                    draft_decode.step_s
                }
                (DraftCost::Model, None) => f64::NAN,
                // One pass of the MTP module: an MoE (or dense) layer like the model's own, on every
                // stage's micro-batch in turn, and the output head.
                (DraftCost::Mtp, _) => n_mb * mtp_layer_and_head_s,
            };
            (draft_s, tokens_per_step(c), sp.gamma as f64)
        }
    };
    out.plain_step_s = plain_step_s;
    out.verify_step_s = verify_step_s;
    out.draft_step_s = draft_step_s;
    out.tokens_per_step = tokens_per_step;
    out.step_s = (verify_step_s + gamma * draft_step_s) / tokens_per_step;
}

/// Tokens a sequence gains per decode iteration: 1, or under speculative decoding the expected
/// accepted tokens plus the target's own (Leviathan et al. 2023, eq. 1), capped at the tokens the
/// request decodes (`D = output_len − 1` after the prefill's first): `E[min(1 + accepted, D)]`,
/// which is Leviathan's expectation with `min(γ, D − 1)` drafts. A request of 4 output tokens
/// gains at most 3 an iteration however many drafts it could accept.
fn tokens_per_step(c: &Config) -> f64 {
    let useful_drafts = c.output_len.saturating_sub(2);
    c.speculation.map_or(1.0, |sp| {
        crate::perf::expected_tokens(sp.gamma.min(useful_drafts), sp.acceptance)
    })
}

/// Time along a token's path through every layer: memory-bound ops, compute-bound ops,
/// communication (with the pipeline hops), fixed overhead.
pub fn time_split_s(ctx: &Context, pp: u64, p: &Pass) -> [f64; 4] {
    let m = &ctx.model;
    let (lm, lc, la) = p.layer.split_s();
    let (dm, dc, da) = p.dense.split_s();
    let (moe_n, dense_n) = if ctx.dense_layers != ctx.layers {
        (m.moe_layers, m.dense_layers)
    } else {
        (0.0, m.layers)
    };
    let head_is_mem = p.head.memory_s >= p.head.compute_s;
    let head_s = p.head.time_s();
    [
        moe_n * lm + dense_n * dm + if head_is_mem { head_s } else { 0.0 },
        moe_n * lc + dense_n * dc + if head_is_mem { 0.0 } else { head_s },
        moe_n * la + dense_n * da + (pp as f64 - 1.0) * p.hop_s,
        m.layers * ctx.hw.per_layer_s,
    ]
}

/// The largest of the memory, compute and communication terms of a token's path.
pub fn bound(split: [f64; 4]) -> DecodeBound {
    let [mem, comp, comm, _] = split;
    if comm > mem && comm > comp {
        DecodeBound::Communication
    } else if comp > mem {
        DecodeBound::Compute
    } else {
        DecodeBound::Memory
    }
}

/// The rows a CUDA-graph-replayed decode step of `b` sequences per attention group runs under
/// `ctx`'s captured batches, for `c`'s speculation: a speculating step's requests each take
/// γ + 1 tokens of the budget, so its largest decode-only batch is the budget over that.
pub fn replayed_rows(ctx: &Context, c: &Config, b: f64) -> f64 {
    let bound = ctx.prefill_chunk_tokens / (1 + c.speculation.map_or(0, |sp| sp.gamma));
    padded_rows_within(&ctx.cuda_graph_batch_sizes, b, bound)
}

/// The rows a CUDA-graph-replayed decode step of `b` sequences runs: the smallest captured batch
/// ≥ `b`, or `b` itself where none is (the step runs eagerly) or nothing is captured (a graph at
/// every batch).
pub fn padded_rows(captured: &[u64], b: f64) -> f64 {
    padded_rows_within(captured, b, u64::MAX)
}

/// `padded_rows` with the captured batches at most `bound` (a larger one pads to `bound`, as
/// `captured_batch_sizes` would have kept it): the list of an engine whose largest decode-only
/// batch is smaller than the one it was captured for, a speculating one's.
pub fn padded_rows_within(captured: &[u64], b: f64, bound: u64) -> f64 {
    captured
        .iter()
        .map(|&s| s.min(bound) as f64)
        .find(|&s| s >= b)
        .unwrap_or(b)
}

/// The decode batches a TensorRT-LLM engine captures from a `cuda_graph_config.batch_sizes` list
/// with `enable_padding`: the sizes up to `min(max_batch_size, max_num_tokens)` (the largest
/// decode-only batch without draft tokens; a speculating step divides the budget by γ + 1 on top,
/// `padded_rows_within`), and that bound itself when the list goes past it, since a user who pads
/// to a larger batch pads to it too (`_filter_cuda_graph_batch_sizes`,
/// tensorrt_llm/_torch/pyexecutor/model_engine.py). Ascending, without repeats.
pub fn captured_batch_sizes(list: &[u64], max_batch: u64, max_num_tokens: u64) -> Vec<u64> {
    let bound = max_batch.min(max_num_tokens).max(1);
    let mut out: Vec<u64> = list
        .iter()
        .map(|&s| s.min(bound))
        .filter(|&s| s > 0)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::{captured_batch_sizes, padded_rows, padded_rows_within};
    use crate::testutil::assert_close;

    /// TensorRT-LLM's perf-overview list (`llm_options.yml`).
    const PERF_OVERVIEW: [u64; 15] = [
        1, 2, 4, 8, 16, 32, 64, 128, 256, 384, 512, 1024, 2048, 4096, 8192,
    ];

    #[test]
    fn an_engine_captures_its_list_up_to_its_largest_decode_batch() {
        // `_filter_cuda_graph_batch_sizes`: the sizes up to min(max_batch_size, max_num_tokens),
        // and that bound when the list goes past it.
        let gpt_oss = captured_batch_sizes(&PERF_OVERVIEW, 2048, 8192);
        assert_eq!(gpt_oss.last(), Some(&2048));
        assert_eq!(gpt_oss.len(), 13);
        let tuned = captured_batch_sizes(&PERF_OVERVIEW, 1280, 2048);
        assert_eq!(&tuned[10..], &[512, 1024, 1280]);
        // The token budget binds below the batch limit.
        assert_eq!(
            captured_batch_sizes(&PERF_OVERVIEW, 4096, 3000).last(),
            Some(&3000)
        );
        // A list that stops below the bound is not extended.
        assert_eq!(captured_batch_sizes(&[1, 2, 4], 2048, 8192), vec![1, 2, 4]);
        assert!(captured_batch_sizes(&[], 2048, 8192).is_empty());
    }

    #[test]
    fn a_replayed_step_runs_the_next_captured_batch() {
        let gpt_oss = captured_batch_sizes(&PERF_OVERVIEW, 2048, 8192);
        assert_close(padded_rows(&gpt_oss, 1176.0), 2048.0, 1e-12);
        assert_close(padded_rows(&gpt_oss, 384.0), 384.0, 1e-12);
        assert_close(padded_rows(&gpt_oss, 385.0), 512.0, 1e-12);
        // Past the largest captured batch the step runs eagerly, as it is; nothing captured
        // means a graph at every batch.
        assert_close(padded_rows(&[1, 2, 4], 5.0), 5.0, 1e-12);
        assert_close(padded_rows(&[], 1176.0), 1176.0, 1e-12);
        // Three draft tokens a request on a budget of 2,048: the largest decode-only batch is
        // 512, so 600 sequences run eagerly and 500 pad to 512, not 1,024.
        assert_close(padded_rows_within(&gpt_oss, 600.0, 512), 600.0, 1e-12);
        assert_close(padded_rows_within(&gpt_oss, 500.0, 512), 512.0, 1e-12);
    }
}
