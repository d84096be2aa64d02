//! One configuration in, one `Estimate` out (docs/methodology.md §3–§9), in phases, each a small
//! pure function: the layout and its rates (`context`), the layer step (`layer`), decode
//! (`decode`), prefill (`prefill`), memory (`memory`), serving and cost (`cost`).

use super::config::Config;
use super::context::Context;
use super::context::Rates;
use super::cost::{prices, serving};
use super::decode::{bound, decode_into, decode_memo, time_split_s};
use super::layer::LayerStep;
use super::memory::{self, Load, Memory, replica_memory, replica_memory_and_mean_weights};
use super::prefill::{PassMemo, Prefill, prefill, prefill_with};
use super::roofline::OpTime;
use super::{Batching, DecodeBound};
use crate::dtype::Dtype;

/// Where the time, bytes and memory go (for `--explain`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Breakdown {
    /// Sequences per attention group in one decode micro-batch.
    pub micro_batch: f64,
    /// Micro-batches in flight.
    pub micro_batches: f64,
    /// One MoE (or dense-model) layer's decode step.
    pub decode_layer: LayerStep,
    /// One leading dense layer's decode step (MoE models with dense layers).
    pub decode_dense_layer: LayerStep,
    /// The output head in a decode step.
    pub decode_head: OpTime,
    /// Pipeline hand-off per decode micro-batch.
    pub decode_hop_s: f64,
    /// Time per generated token of the whole batch in steady decode (TPOT without prefill
    /// interleaving; with speculation, a verify step and γ draft steps over the tokens accepted).
    pub decode_step_s: f64,
    /// Sequences each decode replica holds: the batch, or fewer when a disaggregated loop's
    /// prefill pool is the slower and feeds only these (`paced_decode`).
    pub paced_batch: f64,
    /// The plain (non-speculative) decode step.
    pub plain_decode_step_s: f64,
    /// One target step: the plain step, or the verification of γ+1 tokens per sequence.
    pub verify_step_s: f64,
    /// One draft step (0 without speculation).
    pub draft_step_s: f64,
    /// Tokens generated per sequence per target step (1 without speculation).
    pub tokens_per_step: f64,
    /// Share of a static batch's slot-steps that produce tokens (1 for continuous batching).
    pub useful_fraction: f64,
    /// Σ over stages of one decode micro-batch step.
    pub decode_stages_sum_s: f64,
    /// The slowest stage's decode step.
    pub decode_stage_max_s: f64,
    /// Weight + KV bytes one GPU reads per decode micro-batch step, averaged over stages.
    pub decode_bytes_per_gpu_step: f64,
    /// Prefill chunk, tokens.
    pub prefill_chunk: f64,
    /// Chunks per prompt.
    pub prefill_chunks: f64,
    /// One MoE (or dense-model) layer's step on a prefill chunk.
    pub prefill_layer: LayerStep,
    /// The slowest stage on one chunk.
    pub prefill_stage_max_s: f64,
    /// Σ over stages on one chunk.
    pub prefill_stages_sum_s: f64,
    /// Prefill throughput of one prefill replica with its pipeline full, tokens/s.
    pub prefill_tokens_per_s: f64,
    /// What context-generation fusion saves per generated token: the decode rows ride the
    /// replacements' prompt chunks (`fused_saving_per_token_s`; 0 where the runtime runs them
    /// apart, in a static batch or a disaggregated pool).
    pub fused_saving_s: f64,
    /// Seconds to ship one prompt's KV cache to a decode replica (0 when co-located).
    pub kv_transfer_s: f64,
    /// Seconds a request's first token spends in the serving front end (0 for static batches).
    pub request_latency_s: f64,
    /// Seconds a request waits for the GPUs before its prefill: the iteration in flight under
    /// continuous batching, or, disaggregated, a prefill replica when the prefill pool is the
    /// slower or a decode slot when the loop exceeds the decode pool's slots (Little's law over
    /// the closed loop); under TensorRT-LLM's attention-DP balancing or batch waiting also the
    /// time it holds the prompt.
    pub ttft_wait_s: f64,
    /// Of those, disaggregated: the forwards in flight at a busy prefill worker
    /// (`cost::prefill_worker_wait_s`).
    pub prefill_worker_wait_s: f64,
    /// Seconds a disaggregated decode worker takes to receive and admit the prefilled request
    /// before its first token (0 otherwise; docs/methodology.md §7.5).
    pub decode_admission_s: f64,
    /// Of those, the mean iterations TensorRT-LLM's attention-DP balancing or batch waiting
    /// holds a new prompt (`admission`; 0 when neither applies).
    pub held_iters: f64,
    /// Their seconds: every held iteration decodes, and the releases the request sits through
    /// also prefill others' prompts.
    pub held_s: f64,
    /// Memory of the heaviest prefill GPU (disaggregated with its own layout; else `memory`).
    pub prefill_memory: Memory,
    /// Memory of the heaviest GPU.
    pub memory: Memory,
    /// Mean weight bytes per GPU over the replica (replicated attention weights counted on every
    /// attention group that holds them).
    pub mean_weights_bytes_per_gpu: f64,
    /// Time per token cycle in memory-bound ops, compute-bound ops, communication, overhead.
    pub time_split_s: [f64; 4],
    /// The matmul precision.
    pub math_dtype: Option<Dtype>,
}

/// The result for one configuration (every row field of the contract, in SI units).
#[derive(Clone, Copy, Debug)]
pub struct Estimate {
    /// The configuration.
    pub config: Config,
    /// Fits in memory.
    pub fits: bool,
    /// Weights on the heaviest GPU.
    pub weights_bytes_per_gpu: f64,
    /// KV cache on the heaviest GPU.
    pub kv_bytes_per_gpu: f64,
    /// Everything on the heaviest GPU.
    pub mem_bytes_per_gpu: f64,
    /// HBM capacity.
    pub gpu_mem_bytes: f64,
    /// GPUs serving: one replica, or both pools when disaggregated.
    pub gpus: u64,
    /// Time to first token, s.
    pub ttft_s: f64,
    /// Time per output token per user, s.
    pub tpot_s: f64,
    /// Request latency, s.
    pub e2e_s: f64,
    /// Replica output tokens/s.
    pub output_tokens_per_s: f64,
    /// Per GPU.
    pub output_tokens_per_s_per_gpu: f64,
    /// Per user.
    pub output_tokens_per_s_per_user: f64,
    /// Model FLOPs utilisation in decode.
    pub mfu: f64,
    /// Memory bandwidth utilisation in decode.
    pub mbu: f64,
    /// Largest term of a decode step.
    pub decode_bound: DecodeBound,
    /// Distinct experts read per MoE layer per decode step.
    pub experts_per_step: f64,
    /// Replica price per hour.
    pub cost_per_hour_usd: f64,
    /// USD per million generated tokens.
    pub usd_per_1m_output_tokens: f64,
    /// USD per million prompt tokens (prefill throughput).
    pub usd_per_1m_input_tokens: f64,
    /// Prompt tokens/s per GPU of a replica that only prefills.
    pub input_tokens_per_s_per_gpu: f64,
    /// Output tokens/s per GPU of a replica that only decodes (no prefills between its steps).
    pub decode_tokens_per_s_per_gpu: f64,
    /// Details.
    pub breakdown: Breakdown,
}

impl Estimate {
    /// The engine's share of the TTFT: the prefill (and a disaggregated KV transfer) alone,
    /// without the serving front end, the wait for the GPUs and a decode worker's admission.
    /// Reads the breakdown, which `estimate` fills (a sweep's lean estimates leave it empty).
    pub fn prefill_ttft_s(&self) -> f64 {
        self.ttft_s
            - self.breakdown.request_latency_s
            - self.breakdown.ttft_wait_s
            - self.breakdown.decode_admission_s
    }

    /// The first number field that is not finite or is negative, with its value: an impossible
    /// result, which the commands report as an error instead of printing.
    pub fn impossible_field(&self) -> Option<(&'static str, f64)> {
        // The common case first, without the names (this runs for every configuration of a
        // sweep): every value in [0, MAX] (NaN fails every comparison). Independent comparisons,
        // not a sum: a chain of 18 additions cost more than the rest of the check.
        let v = [
            self.weights_bytes_per_gpu,
            self.kv_bytes_per_gpu,
            self.mem_bytes_per_gpu,
            self.gpu_mem_bytes,
            self.ttft_s,
            self.tpot_s,
            self.e2e_s,
            self.output_tokens_per_s,
            self.output_tokens_per_s_per_gpu,
            self.output_tokens_per_s_per_user,
            self.mfu,
            self.mbu,
            self.experts_per_step,
            self.cost_per_hour_usd,
            self.usd_per_1m_output_tokens,
            self.usd_per_1m_input_tokens,
            self.input_tokens_per_s_per_gpu,
            self.decode_tokens_per_s_per_gpu,
        ];
        if v.iter()
            .fold(true, |ok, x| ok & (0.0..=f64::MAX).contains(x))
        {
            return None;
        }
        [
            ("weights_bytes_per_gpu", self.weights_bytes_per_gpu),
            ("kv_bytes_per_gpu", self.kv_bytes_per_gpu),
            ("mem_bytes_per_gpu", self.mem_bytes_per_gpu),
            ("gpu_mem_bytes", self.gpu_mem_bytes),
            ("ttft_s", self.ttft_s),
            ("tpot_s", self.tpot_s),
            ("e2e_s", self.e2e_s),
            ("output_tokens_per_s", self.output_tokens_per_s),
            (
                "output_tokens_per_s_per_gpu",
                self.output_tokens_per_s_per_gpu,
            ),
            (
                "output_tokens_per_s_per_user",
                self.output_tokens_per_s_per_user,
            ),
            ("mfu", self.mfu),
            ("mbu", self.mbu),
            ("experts_per_step", self.experts_per_step),
            ("cost_per_hour_usd", self.cost_per_hour_usd),
            ("usd_per_1m_output_tokens", self.usd_per_1m_output_tokens),
            ("usd_per_1m_input_tokens", self.usd_per_1m_input_tokens),
            (
                "input_tokens_per_s_per_gpu",
                self.input_tokens_per_s_per_gpu,
            ),
            (
                "decode_tokens_per_s_per_gpu",
                self.decode_tokens_per_s_per_gpu,
            ),
        ]
        .into_iter()
        .find(|(_, v)| !(v.is_finite() && *v >= 0.0))
    }

    /// `Err` with one line naming the impossible field, its value and the configuration, when
    /// `impossible_field` finds one.
    pub fn check_finite(&self, model: &str, gpu: &str) -> Result<(), String> {
        let Some((field, v)) = self.impossible_field() else {
            return Ok(());
        };
        let c = &self.config;
        Err(format!(
            "{field} came out as {v} for {model} on {gpu}, {} batch {}, input {} + output {} tokens, {} weights, {} KV: an input is outside the range the model handles (check --set values and preset fields)",
            c.layout(),
            c.batch,
            c.input_len,
            c.output_len,
            c.dtype,
            c.kv_dtype
        ))
    }
}

/// Seconds to ship one request's KV cache (`s_in` tokens, all layers) from a prefill replica to
/// a decode replica: the request's attention group on every stage sends its share over its
/// GPUs' own NICs, to a group as wide on the other side.
pub fn kv_transfer_s(ctx: &Context, c: &Config, s_in: f64) -> f64 {
    let bytes = ctx.model.kv_bytes_per_token(c.kv_dtype.bytes()) * ctx.model.attended(s_in);
    let (p, d) = (c.prefill_layout(), c.layout());
    let senders = (p.tp * p.pp).min(d.tp * d.pp).max(1) as f64;
    ctx.hw.scaleout.latency_s + bytes / (ctx.hw.scaleout.bytes_per_s * senders)
}

/// Evaluate one configuration (call `Context::check` first).
pub fn estimate(ctx: &Context, c: &Config) -> Estimate {
    estimate_with_draft(ctx, None, c)
}

/// Evaluate one configuration whose speculative draft, if `DraftCost::Model`, is `draft`.
pub fn estimate_with_draft(ctx: &Context, draft: Option<&Context>, c: &Config) -> Estimate {
    let r = ctx.rates(c);
    let prefill_layout = c.prefill_layout();
    let own = (prefill_layout != c.layout()).then(|| ctx.rates_for(c, prefill_layout));
    let pr = own.as_ref().unwrap_or(&r);
    let pre = prefill(ctx, c, pr, prefill_layout, None);
    let dec = decode_memo(ctx, draft, c, &r, None);
    let paced = paced_decode(ctx, draft, c, &r, pre.tokens_per_s, dec.step_s, None);
    finish::<true>(ctx, draft, c, &r, pr, &pre, &dec, paced, &mut None)
}

/// The decode pool's occupancy and step (per token) in a disaggregated closed loop.
#[derive(Clone, Copy, Debug)]
pub struct Paced {
    /// Sequences each decode replica holds.
    pub batch: f64,
    /// The decode step at that occupancy, s per token.
    pub step_s: f64,
}

/// Where a disaggregated loop's prefill pool is the slower, the decode pool holds only the
/// requests it feeds: `b` per replica with `D·b / step(b)` equal to the prefill pool's output
/// rate `P · prefill tokens/s / S · N` (Little's law over the decode pool; docs/methodology.md
/// §7.5), and each decodes at `step(b)`, faster than at the full batch. The integer batches
/// either side of that rate are priced and the step interpolated between them. The batch and
/// its step otherwise (a decode pool that paces the loop, aggregated serving, a static batch).
pub fn paced_decode(
    ctx: &Context,
    draft: Option<&Context>,
    c: &Config,
    r: &Rates,
    prefill_tokens_per_s: f64,
    step_s: f64,
    mut memo: Option<&mut super::layer::LayerMemo>,
) -> Paced {
    let full = Paced {
        batch: c.batch as f64,
        step_s,
    };
    let Some(d) = c.disaggregate else {
        return full;
    };
    if c.batching != super::Batching::Continuous || c.batch <= 1 {
        return full;
    }
    let replicas = d.decode_replicas as f64;
    let fed =
        d.prefill_replicas as f64 * prefill_tokens_per_s / c.input_len as f64 * c.output_len as f64;
    let rate = |b: u64, step: f64| replicas * b as f64 / step;
    if !(fed.is_finite() && fed > 0.0) || rate(c.batch, step_s) <= fed {
        return full;
    }
    let mut step_at = |b: u64| {
        let cb = Config { batch: b, ..*c };
        decode_memo(ctx, draft, &cb, r, memo.as_deref_mut()).step_s
    };
    // The decode rate grows with the batch, but not strictly: it dips just past each multiple
    // of the attention groups and micro-batches a batch is rounded up to. The bisection keeps
    // rate(lo) <= fed < rate(hi), so it ends at a crossing, within a batch of the first (under
    // 1% in the step). Like `serving`'s throughput, the decode pool's rate counts all N tokens
    // of a request.
    let (mut lo, mut hi) = (1u64, c.batch);
    let (mut lo_step, mut hi_step) = (step_at(lo), step_s);
    if rate(lo, lo_step) >= fed {
        // Even one sequence a replica outruns the prefill pool.
        return Paced {
            batch: 1.0,
            step_s: lo_step,
        };
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        let mid_step = step_at(mid);
        if rate(mid, mid_step) <= fed {
            (lo, lo_step) = (mid, mid_step);
        } else {
            (hi, hi_step) = (mid, mid_step);
        }
    }
    let (r_lo, r_hi) = (rate(lo, lo_step), rate(hi, hi_step));
    let f = if r_hi > r_lo {
        ((fed - r_lo) / (r_hi - r_lo)).clamp(0.0, 1.0)
    } else {
        0.0
    };
    Paced {
        batch: lo as f64 + f * (hi - lo) as f64,
        step_s: lo_step + f * (hi_step - lo_step),
    }
}

/// What the configurations of a sweep unit share (the same context, draft, dtypes, layout,
/// options and prompt length; batch and output length vary): the rates, and the prefill passes
/// priced so far. `clear` it for the next unit.
#[derive(Clone, Debug, Default)]
pub struct UnitMemo {
    /// The unit's checks (`Context::check_in_unit`).
    pub check: Option<Result<(), super::Reject>>,
    /// The decode layout's rates and, when prefill runs on a layout of its own, that one's.
    rates: Option<(Rates, Option<Rates>)>,
    passes: PassMemo,
    /// Decode layer steps less their attention scores.
    layers: super::layer::LayerMemo,
    /// The decode phase of the configuration at hand (written whole each time; kept to fill in
    /// place).
    decode: super::decode::Decode,
    /// The linear part and cost per row of the unit's busy prompt chunk, for context-generation
    /// fusion.
    fused_chunk: Option<FusedChunk>,
}

/// A busy chunk's (tokens, groups) bits and its linear part and cost per row (`fused::chunk`).
type FusedChunk = ((u64, u64), super::fused::Chunk);

impl UnitMemo {
    /// Forget the unit.
    pub fn clear(&mut self) {
        self.check = None;
        self.rates = None;
        self.passes.clear();
        self.layers.clear();
        self.fused_chunk = None;
    }
}

/// `estimate_with_draft` for a configuration of the unit `memo` holds (or a new one after
/// `clear`): the same bits, with the rates and the prefill passes shared.
///
/// Without `full`, the breakdown holds only the matmul precision (the one field of it a row
/// shows): a sweep ranks and filters on the row fields, and evaluates the rows it keeps again
/// in full.
pub fn estimate_in_unit(
    ctx: &Context,
    draft: Option<&Context>,
    c: &Config,
    memo: &mut UnitMemo,
    full: bool,
) -> Estimate {
    let prefill_layout = c.prefill_layout();
    let (r, own) = memo.rates.get_or_insert_with(|| {
        (
            ctx.rates(c),
            (prefill_layout != c.layout()).then(|| ctx.rates_for(c, prefill_layout)),
        )
    });
    let pr = own.as_ref().unwrap_or(r);
    let dec = &mut memo.decode;
    decode_into(ctx, draft, c, r, Some(&mut memo.layers), dec);
    let pre = if full {
        prefill(ctx, c, pr, prefill_layout, Some(&mut memo.passes))
    } else {
        prefill_with::<false>(ctx, c, pr, prefill_layout, Some(&mut memo.passes))
    };
    let paced = paced_decode(
        ctx,
        draft,
        c,
        r,
        pre.tokens_per_s,
        dec.step_s,
        Some(&mut memo.layers),
    );
    let fc = &mut memo.fused_chunk;
    if full {
        finish::<true>(ctx, draft, c, r, pr, &pre, dec, paced, fc)
    } else {
        finish::<false>(ctx, draft, c, r, pr, &pre, dec, paced, fc)
    }
}

/// How long TensorRT-LLM holds a new prompt of `c` on purpose (nothing unless a continuously
/// batched, aggregated replica runs a rule that applies to it: attention-DP balancing with
/// several attention groups, batch waiting with one): the replica's closed loop replayed under
/// the rule (`admission`).
fn held(ctx: &Context, c: &Config, tokens_per_step: f64) -> super::admission::Held {
    use super::admission::{Held, Loop, Rule, held};
    if c.disaggregate.is_some() || c.batching != Batching::Continuous || c.batch <= 1 {
        return Held::default();
    }
    let rule = match (ctx.adp_balance, ctx.batch_wait) {
        (Some(b), _) if c.dp > 1 => Rule::Balance(b),
        (_, Some(w)) if c.dp == 1 => Rule::BatchWait(w),
        _ => return Held::default(),
    };
    let l = Loop {
        groups: c.dp,
        sequences: c.batch,
        input_len: c.input_len,
        output_iters: c.output_len as f64 / tokens_per_step.max(1.0),
        dist: c.output_dist,
        budget_tokens: ctx.prefill_chunk_tokens,
        decode_tokens: 1 + c.speculation.map_or(0, |sp| sp.gamma),
    };
    held(&l, rule)
}

/// What context-generation fusion (`fused`) saves a continuously batched, aggregated replica per
/// generated token: every decode step admits `B·τ/N` prompts of `S` tokens (τ tokens a step),
/// `x = (B/dp)·τ·S/N / chunk` busy chunks a group, each riding in one of the round's `pp`
/// micro-batches with its decode rows, so a round saves `min(pp, x)` chunks' linear passes at
/// the slowest stage (`1/pp` of the model's layers each). Nothing where the runtime forms the
/// two batches apart (`decode_shares_budget` false: SGLang), in a static batch or in a
/// disaggregated decode pool, whose steps carry no prompt.
fn fused_saving_per_token_s(
    ctx: &Context,
    c: &Config,
    r: &Rates,
    pre: &Prefill,
    dec: &super::decode::Decode,
    chunk_memo: &mut Option<FusedChunk>,
) -> f64 {
    if !ctx.fused_iterations
        || c.batching != Batching::Continuous
        || c.disaggregate.is_some()
        || c.batch <= 1
    {
        return 0.0;
    }
    let (dp, pp) = (c.dp as f64, c.pp as f64);
    let prompt_tokens_per_group = c.batch as f64 / dp * dec.tokens_per_step * c.input_len as f64
        / (c.output_len as f64).max(1.0);
    // Chunks a round carries: as many as the prompts need, at most one for each micro-batch
    // that has decode rows.
    let chunks = (prompt_tokens_per_group / pre.busy_chunk).min(dec.micro_batches);
    // The decode step's own linear part and rows (its pass, as the step was priced: the
    // verification's γ + 1 tokens a sequence when speculating); the chunk's from the unit's
    // memo: the busy chunk stops growing with the batch once it fills the budget.
    let key = (pre.busy_chunk.to_bits(), dp.to_bits());
    let chunk = match chunk_memo {
        Some(m) if m.0 == key => m.1,
        _ => {
            let l = super::fused::chunk(ctx, r, pre.busy_chunk, dp);
            *chunk_memo = Some((key, l));
            l
        }
    };
    let dec_linear = super::fused::Linear::of_pass(&dec.pass);
    let one = super::fused::saving_s(ctx, dec_linear, chunk, dec.rows);
    chunks * one / pp / dec.tokens_per_step
}

/// The estimate from the rates (`r`; `pr` for the prefill layout), the prefill and the decode
/// phases; the breakdown only when `FULL` (else its matmul precision alone).
#[allow(clippy::too_many_arguments)]
fn finish<const FULL: bool>(
    ctx: &Context,
    draft: Option<&Context>,
    c: &Config,
    r: &Rates,
    pr: &Rates,
    pre: &Prefill,
    dec: &super::decode::Decode,
    paced: Paced,
    fused_chunk: &mut Option<FusedChunk>,
) -> Estimate {
    let m = &ctx.model;
    let prefill_layout = c.prefill_layout();
    let transfer_s = c
        .disaggregate
        .map_or(0.0, |_| kv_transfer_s(ctx, c, c.input_len as f64));
    let ttft_s = pre.ttft_s + transfer_s;
    let held = held(ctx, c, dec.tokens_per_step);
    // Every held iteration decodes; the releases sat through also prefill, a group's prompts at
    // its share of the replica's prefill rate.
    let held_prefill_s = if held.prefills > 0.0 {
        held.prefills * c.input_len as f64 * c.dp as f64 / pre.tokens_per_s
    } else {
        0.0
    };
    let held_s = held.iters * dec.step_s * dec.tokens_per_step + held_prefill_s;
    let fused_s = fused_saving_per_token_s(ctx, c, r, pre, dec, fused_chunk);
    let served = serving(
        c,
        dec.step_s,
        fused_s,
        paced.step_s,
        ttft_s,
        pre.tokens_per_s,
        ctx.hw.request_latency_s,
        dec.tokens_per_step,
        ctx.scheduler_recv_interval,
        held_s,
        ctx.decode_admission_iters,
        super::cost::PrefillWorker {
            request_s: pre.chunks * pre.stage_max_s,
            forward_s: pre.stage_max_s,
            overlap: ctx.prefill_overlap,
        },
    );
    // Output tokens pay for the decode steps less what the fused iterations save them (the
    // decode rows ride the prompts' chunks: the saving as applied), input tokens for the
    // prefill: together every second of the replica.
    let fused_s = served.fused_saving_s;
    let priced_step_s = dec.step_s - fused_s;
    let cost = prices(
        ctx,
        c,
        priced_step_s,
        served.useful_fraction,
        served.output_tokens_per_s,
        pre.tokens_per_s,
    );

    // Memory on the heaviest GPU: the group's sequences at full context, the largest step.
    let (batch, s_in, n_out) = (c.batch as f64, c.input_len as f64, c.output_len as f64);
    let per_group = (batch / c.dp as f64).ceil();
    let step_tokens = pre.chunk.max(pre.busy_chunk).max(dec.micro_batch);
    let load = Load::new(
        ctx,
        r,
        per_group,
        s_in + n_out,
        step_tokens,
        dec.micro_batch,
    );
    let (mut mem, mean_weights_bytes) = replica_memory_and_mean_weights(ctx, r, c.pp, &load);
    // A draft model runs beside the target on one stage's GPUs, at the target's tensor and data
    // parallelism (as `decode` prices it): its weights and its KV cache for the same sequences
    // share the heaviest stage's memory; its activations come and go between the target's.
    if let (Some(d), Some(sp)) = (draft, c.speculation)
        && sp.draft == super::DraftCost::Model
    {
        let dc = Config {
            pp: 1,
            speculation: None,
            ..*c
        };
        let dr = d.rates(&dc);
        let dload = Load::new(
            d,
            &dr,
            per_group,
            s_in + n_out,
            step_tokens,
            dec.micro_batch,
        );
        let dm = replica_memory(d, &dr, 1, &dload);
        mem.weights_bytes += dm.weights_bytes;
        mem.kv_bytes += dm.kv_bytes;
        mem.activation_bytes = mem.activation_bytes.max(dm.activation_bytes);
    }
    // A prefill pool of its own holds the prompts of one busy chunk per group.
    let prefill_mem = if c.disaggregate.is_some() && prefill_layout != c.layout() {
        let seqs = (pre.busy_chunk / s_in).ceil().max(1.0);
        let load = Load::new(ctx, pr, seqs, s_in, pre.busy_chunk, 1.0);
        replica_memory(ctx, pr, prefill_layout.pp, &load)
    } else {
        mem
    };
    let fits = memory::fits(&ctx.hw, &mem) && memory::fits(&ctx.hw, &prefill_mem);

    let split = time_split_s(ctx, c.pp, &dec.pass);
    let flops_per_token = m.flops_per_token() + m.attention_flops_for_keys(dec.keys.attended);
    let bytes_per_gpu_step = dec.pass.bytes / c.pp as f64;
    let moe_model = ctx.dense_layers != ctx.layers;
    Estimate {
        config: *c,
        fits,
        weights_bytes_per_gpu: mem.weights_bytes,
        kv_bytes_per_gpu: mem.kv_bytes,
        mem_bytes_per_gpu: mem.total_bytes(),
        gpu_mem_bytes: ctx.hw.mem_bytes,
        gpus: cost.gpus,
        ttft_s: served.ttft_s,
        tpot_s: served.tpot_s,
        e2e_s: served.e2e_s,
        output_tokens_per_s: served.output_tokens_per_s,
        output_tokens_per_s_per_gpu: served.output_tokens_per_s / cost.gpus as f64,
        output_tokens_per_s_per_user: 1.0 / served.tpot_s,
        mfu: batch / dec.step_s * flops_per_token / (c.gpus() as f64 * r.mfu_peak_flops_per_s),
        mbu: dec.micro_batches * bytes_per_gpu_step
            / (dec.verify_step_s * ctx.hw.mem_bw_bytes_per_s),
        decode_bound: bound(split),
        experts_per_step: if moe_model {
            dec.pass.layer.experts_read
        } else {
            1.0
        },
        cost_per_hour_usd: cost.cost_per_hour_usd,
        usd_per_1m_output_tokens: cost.usd_per_1m_output_tokens,
        usd_per_1m_input_tokens: cost.usd_per_1m_input_tokens,
        input_tokens_per_s_per_gpu: cost.input_tokens_per_s_per_gpu,
        decode_tokens_per_s_per_gpu: batch / dec.step_s / c.gpus() as f64,
        breakdown: if !FULL {
            Breakdown {
                math_dtype: Some(r.math_dtype),
                ..Breakdown::default()
            }
        } else {
            Breakdown {
                micro_batch: dec.micro_batch,
                micro_batches: dec.micro_batches,
                decode_layer: dec.pass.layer,
                decode_dense_layer: dec.pass.dense,
                decode_head: dec.pass.head,
                decode_hop_s: dec.pass.hop_s,
                decode_step_s: dec.step_s,
                paced_batch: paced.batch,
                plain_decode_step_s: dec.plain_step_s,
                verify_step_s: dec.verify_step_s,
                draft_step_s: dec.draft_step_s,
                tokens_per_step: dec.tokens_per_step,
                useful_fraction: served.useful_fraction,
                decode_stages_sum_s: dec.pass.sum_s,
                decode_stage_max_s: dec.pass.max_s,
                decode_bytes_per_gpu_step: bytes_per_gpu_step,
                prefill_chunk: pre.chunk,
                prefill_chunks: pre.chunks,
                prefill_layer: pre.layer,
                prefill_stage_max_s: pre.stage_max_s,
                prefill_stages_sum_s: pre.stages_sum_s,
                prefill_tokens_per_s: pre.tokens_per_s,
                fused_saving_s: fused_s,
                kv_transfer_s: transfer_s,
                request_latency_s: served.latency_s,
                ttft_wait_s: served.wait_s,
                prefill_worker_wait_s: served.worker_wait_s,
                decode_admission_s: served.admission_s,
                held_iters: held.iters,
                held_s,
                prefill_memory: prefill_mem,
                memory: mem,
                mean_weights_bytes_per_gpu: mean_weights_bytes,
                time_split_s: split,
                math_dtype: Some(r.math_dtype),
            }
        },
    }
}
