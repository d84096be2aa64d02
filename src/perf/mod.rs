//! The inference performance model as pure functions: one configuration in, one `Estimate` out
//! (docs/methodology.md §3–§9). No I/O.
//!
//! Decode: each pipeline stage runs micro-batches of `b = ⌈B/pp⌉` sequences; a layer step is the
//! sum of per-operator rooflines, the TP all-reduces and a fixed overhead. TPOT is the time for a
//! token to cross every stage — `max(Σ stages + hops, n_mb · slowest stage)` — and throughput is
//! `B / TPOT`. Prefill runs the prompt in chunks through the pipeline:
//! `TTFT = request overhead + Σ stages(chunk) + (n_full − 1) · slowest stage(chunk)
//! + slowest stage(rest) + hops`.

pub mod activations;
pub mod comm;
pub mod layer;
pub mod lengths;
pub mod memory;
pub mod moe;
pub mod pipeline;
pub mod roofline;

use crate::dtype::{ALL as ALL_DTYPES, Dtype};
use crate::hardware::{GpuSpec, Hardware, Link};
use crate::model::{ModelCounts, ModelSpec};
use crate::units;
use clap::ValueEnum;
use layer::{LayerStep, StepShape, head_step, layer_step};
use memory::{Load, Memory, stage_memory};
use roofline::OpTime;
use serde::{Deserialize, Serialize};

/// Default prefill chunk, tokens per chunk (vLLM/Sarathi `max_num_batched_tokens` order).
pub const DEFAULT_PREFILL_CHUNK_TOKENS: u64 = 2048;

/// One inference configuration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
    /// Tensor-parallel degree.
    pub tp: u64,
    /// Pipeline-parallel degree.
    pub pp: u64,
    /// Expert-parallel degree inside the TP group.
    pub ep: u64,
    /// Concurrent sequences on one replica.
    pub batch: u64,
    /// Prompt tokens per request.
    pub input_len: u64,
    /// Generated tokens per request.
    pub output_len: u64,
    /// Weight and matmul precision.
    pub dtype: Dtype,
    /// KV-cache precision.
    pub kv_dtype: Dtype,
    /// How requests share the replica.
    pub batching: Batching,
    /// Speculative decoding, if any.
    pub speculation: Option<Speculation>,
    /// Distribution of generated tokens per request (mean `output_len`).
    pub output_dist: lengths::LengthDist,
    /// Separate prefill and decode pools, if any.
    pub disaggregate: Option<Disaggregation>,
    /// How the KV cache and the decode attention split over the TP group.
    pub kv_sharding: KvSharding,
    /// Activations stay sharded across the TP group between layers (reduce-scatter + all-gather
    /// instead of all-reduce; norms and residuals on 1/TP of the tokens).
    pub sequence_parallel: bool,
}

/// How the tensor-parallel group splits the KV cache and the decode attention
/// (docs/methodology.md §5.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KvSharding {
    /// By KV head (Megatron TP; vLLM, TensorRT-LLM): a GPU holds ⌈n_kv/TP⌉ heads of every
    /// sequence, so with fewer KV heads than GPUs the cache is replicated.
    #[default]
    Heads,
    /// By sequence (Pope et al. 2022, multi-query batch sharding): a GPU holds every KV head of
    /// ⌈B/TP⌉ sequences and runs their decode attention; two all-to-alls per layer move the
    /// queries and attention outputs between the head and batch layouts. Prefill attention stays
    /// split by heads.
    Batch,
}

impl KvSharding {
    /// Name as printed.
    pub fn name(self) -> &'static str {
        match self {
            KvSharding::Heads => "heads",
            KvSharding::Batch => "batch",
        }
    }
}

/// Disaggregated serving (DistServe, Splitwise): `prefill_replicas` replicas of the same layout
/// only prefill and ship each request's KV cache over the NIC to `decode_replicas` replicas that
/// only decode (docs/methodology.md §7.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Disaggregation {
    /// Prefill-only replicas.
    pub prefill_replicas: u64,
    /// Decode-only replicas.
    pub decode_replicas: u64,
}

/// Speculative decoding (Leviathan et al. 2023): a draft proposes `gamma` tokens, the target
/// verifies them in one step of `gamma + 1` tokens per sequence, accepting each with
/// probability `acceptance` (docs/methodology.md §7.4).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Speculation {
    /// Draft tokens per verification step.
    pub gamma: u64,
    /// Per-token acceptance probability α in [0, 1].
    pub acceptance: f64,
    /// What one draft step costs.
    pub draft: DraftCost,
}

/// The cost of one draft step.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DraftCost {
    /// A fixed fraction of the target's plain decode step.
    Ratio(f64),
    /// The draft model's own decode step (the draft context given to `estimate_with_draft`).
    Model,
}

impl Speculation {
    /// Expected tokens per verification step: (1 − α^(γ+1)) / (1 − α), γ + 1 at α = 1.
    pub fn expected_tokens(&self) -> f64 {
        expected_tokens(self.gamma, self.acceptance)
    }
}

/// Expected tokens per target step with `gamma` draft tokens accepted i.i.d. with probability
/// `acceptance` (Leviathan et al. 2023, eq. 1).
pub fn expected_tokens(gamma: u64, acceptance: f64) -> f64 {
    let g = gamma as f64;
    if acceptance >= 1.0 {
        g + 1.0
    } else {
        (1.0 - acceptance.powf(g + 1.0)) / (1.0 - acceptance)
    }
}

/// How requests are batched (docs/methodology.md §7.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Batching {
    /// Iteration-level (Orca, vLLM, TRT-LLM in-flight): a finished sequence's slot is refilled at
    /// the next step, and the newcomer's prefill runs between decode steps.
    #[default]
    Continuous,
    /// Request-level: the whole batch is prefilled, then decoded together to the end
    /// (gptSessionBenchmark, FasterTransformer).
    Static,
}

impl Batching {
    /// Name as printed.
    pub fn name(self) -> &'static str {
        match self {
            Batching::Continuous => "continuous",
            Batching::Static => "static",
        }
    }
}

impl Config {
    /// A plain configuration: no expert parallelism, KV cache in the default precision for
    /// `dtype`, continuous batching, fixed output lengths, no speculation, co-located serving.
    pub fn new(
        tp: u64,
        pp: u64,
        batch: u64,
        input_len: u64,
        output_len: u64,
        dtype: Dtype,
    ) -> Self {
        Config {
            tp,
            pp,
            ep: 1,
            batch,
            input_len,
            output_len,
            dtype,
            kv_dtype: dtype.default_kv(),
            batching: Batching::Continuous,
            speculation: None,
            output_dist: lengths::LengthDist::Fixed,
            disaggregate: None,
            kv_sharding: KvSharding::Heads,
            sequence_parallel: false,
        }
    }

    /// GPUs in one replica.
    pub fn gpus(&self) -> u64 {
        self.tp * self.pp
    }
}

/// Why a configuration cannot be evaluated.
#[derive(Clone, Debug, PartialEq)]
pub enum Reject {
    /// Invalid for this model or hardware: an error for the user.
    Invalid(String),
    /// Outside the model's context, or an axis combination that does not apply: skipped with a note.
    Skip(String),
}

/// The decision of what a decode step is limited by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeBound {
    /// Weight and KV reads.
    Memory,
    /// Matmul FLOPs.
    Compute,
    /// Collectives and pipeline hand-offs.
    Communication,
}

impl DecodeBound {
    /// Name as printed.
    pub fn name(self) -> &'static str {
        match self {
            DecodeBound::Memory => "memory",
            DecodeBound::Compute => "compute",
            DecodeBound::Communication => "communication",
        }
    }
}

/// Model and hardware, prepared once for many configurations.
#[derive(Clone, Debug)]
pub struct Context {
    /// Model counts.
    pub model: ModelCounts,
    /// Layers as an integer.
    pub layers: u64,
    /// Leading dense layers as an integer (all layers for a dense model).
    pub dense_layers: u64,
    /// Query heads.
    pub heads: u64,
    /// Query width `n_h·d_h` (MLA: `n_h·d_v`), the dimension the attention projections split over.
    pub attn_width: u64,
    /// Routed experts.
    pub experts: u64,
    /// Longest sequence the model takes.
    pub max_context: u64,
    /// Hardware in SI.
    pub hw: Hardware,
    /// Per weight dtype: (the dtype the matmuls run in, its dense peak FLOP/s), if runnable.
    math: [Option<(Dtype, f64)>; 6],
    /// Dense peak for 16-bit math (attention scores run in 16 bits), FLOP/s.
    attn_peak_flops_per_s: f64,
    /// Prefill chunk, tokens.
    pub prefill_chunk_tokens: u64,
}

/// Rates and sizes for one configuration's dtypes and parallelism.
#[derive(Clone, Copy, Debug)]
pub struct Rates {
    /// Tensor-parallel degree.
    pub tp: u64,
    /// Expert-parallel degree.
    pub ep: u64,
    /// Link for the TP all-reduces.
    pub tp_link: Link,
    /// Link for pipeline hand-offs.
    pub pp_link: Link,
    /// Bytes per weight.
    pub weight_bytes: f64,
    /// Bytes per activation element.
    pub act_bytes: f64,
    /// KV bytes per token per layer, all KV heads.
    pub kv_bytes_per_token_per_layer: f64,
    /// How the KV cache splits over the TP group.
    pub kv_sharding: KvSharding,
    /// Share of the KV heads one GPU holds when split by heads: ⌈n_kv/TP⌉ / n_kv.
    pub kv_head_share: f64,
    /// Share of the query heads one GPU computes: ⌈n_h/TP⌉ / n_h.
    pub head_share: f64,
    /// Activations sharded across TP between layers.
    pub sequence_parallel: bool,
    /// The precision the matmuls run in.
    pub math_dtype: Dtype,
    /// Dense peak FLOP/s of the matmul precision (the MFU denominator).
    pub peak_flops_per_s: f64,
    /// Achievable matmul FLOP/s.
    pub matmul_flops_per_s: f64,
    /// Achievable attention-score FLOP/s.
    pub attn_flops_per_s: f64,
    /// Achievable HBM bytes/s.
    pub mem_bytes_per_s: f64,
    /// Fixed time of one GEMM in the matmul precision.
    pub gemm_s: f64,
}

impl Context {
    /// Prepare a validated model and GPU.
    pub fn new(model: &ModelSpec, gpu: &GpuSpec, prefill_chunk_tokens: u64) -> Self {
        let math = ALL_DTYPES.map(|d| math_for(gpu, d));
        let counts = ModelCounts::new(model);
        Self {
            model: counts,
            layers: model.layers,
            dense_layers: if model.is_moe() {
                model.dense_layers
            } else {
                model.layers
            },
            heads: model.heads,
            attn_width: counts.attn_width as u64,
            experts: model.experts,
            max_context: model.max_context,
            hw: Hardware::new(gpu),
            math,
            attn_peak_flops_per_s: units::tflops_to_flops_per_s(
                gpu.tflops
                    .fp16
                    .unwrap_or(gpu.tflops.bf16)
                    .max(gpu.tflops.bf16),
            ),
            prefill_chunk_tokens: prefill_chunk_tokens.max(1),
        }
    }

    /// Check a configuration against the model and hardware.
    pub fn check(&self, c: &Config) -> Result<(), Reject> {
        let bad =
            |field: &str, v: u64| Reject::Invalid(format!("--{field} {v}: must be at least 1"));
        for (f, v) in [("tp", c.tp), ("pp", c.pp), ("ep", c.ep), ("batch", c.batch)] {
            if v == 0 {
                return Err(bad(f, v));
            }
        }
        if c.input_len == 0 {
            return Err(bad("input-len", 0));
        }
        if c.output_len == 0 {
            return Err(bad("output-len", 0));
        }
        match c.kv_sharding {
            KvSharding::Heads if self.heads % c.tp != 0 => {
                return Err(Reject::Invalid(format!(
                    "--tp {}: must divide the model's {} attention heads (or use --kv-sharding batch)",
                    c.tp, self.heads
                )));
            }
            KvSharding::Batch if self.attn_width % c.tp != 0 => {
                return Err(Reject::Invalid(format!(
                    "--tp {}: must divide the model's query width heads × head_dim = {}",
                    c.tp, self.attn_width
                )));
            }
            _ => {}
        }
        if self.experts % c.ep != 0 {
            return Err(Reject::Invalid(format!(
                "--ep {}: must divide the model's {} experts",
                c.ep, self.experts
            )));
        }
        if c.pp > self.layers {
            return Err(Reject::Invalid(format!(
                "--pp {}: must be at most the model's {} layers",
                c.pp, self.layers
            )));
        }
        if self.math[dtype_index(c.dtype)].is_none() {
            return Err(Reject::Invalid(format!(
                "--dtype {}: this GPU has no {} matmul rate (gpu.tflops.{} is not set)",
                c.dtype, c.dtype, c.dtype
            )));
        }
        if c.tp % c.ep != 0 {
            return Err(Reject::Skip(format!(
                "ep {} does not divide tp {} (experts are placed inside the TP group)",
                c.ep, c.tp
            )));
        }
        let seq = c.input_len + c.output_len;
        if seq > self.max_context {
            return Err(Reject::Skip(format!(
                "input {} + output {} = {seq} tokens exceeds the model's {}-token context",
                c.input_len, c.output_len, self.max_context
            )));
        }
        Ok(())
    }

    /// The precision matmuls run in for weights in `dtype` and its dense peak FLOP/s, if the GPU
    /// can run it (§4.2 of docs/methodology.md).
    pub fn math(&self, dtype: Dtype) -> Option<(Dtype, f64)> {
        self.math[dtype_index(dtype)]
    }

    /// Dense peak FLOP/s of 16-bit math (attention scores run in 16 bits).
    pub fn attn_peak_flops_per_s(&self) -> f64 {
        self.attn_peak_flops_per_s
    }

    /// Rates for a configuration (assumes `check` passed).
    pub fn rates(&self, c: &Config) -> Rates {
        let (math_dtype, peak) = self.math[dtype_index(c.dtype)].unwrap_or((Dtype::Bf16, f64::NAN));
        let tp = c.tp as f64;
        let (kv_heads, heads) = (self.model.kv_heads, self.model.heads);
        Rates {
            tp: c.tp,
            ep: c.ep,
            tp_link: self.hw.link_for_group(c.tp),
            pp_link: self.hw.link_across_nodes(c.tp * c.pp),
            weight_bytes: c.dtype.bytes(),
            act_bytes: if c.dtype == Dtype::Fp32 { 4.0 } else { 2.0 },
            kv_bytes_per_token_per_layer: self.model.kv_elems_per_token_per_layer
                * c.kv_dtype.bytes(),
            kv_sharding: c.kv_sharding,
            kv_head_share: (kv_heads / tp).ceil() / kv_heads,
            head_share: (heads / tp).ceil() / heads,
            sequence_parallel: c.sequence_parallel,
            math_dtype,
            peak_flops_per_s: peak,
            matmul_flops_per_s: peak * self.hw.matmul_efficiency_for(math_dtype),
            attn_flops_per_s: self.attn_peak_flops_per_s * self.hw.matmul_efficiency,
            mem_bytes_per_s: self.hw.eff_mem_bw_bytes_per_s,
            gemm_s: self.hw.gemm_overhead_s(math_dtype),
        }
    }
}

impl Rates {
    /// Share of the KV cache of `sequences` sequences that one GPU holds and reads in decode:
    /// its KV heads' share (replicated when n_kv < TP), or ⌈sequences/TP⌉ / sequences when the
    /// cache is sharded by sequence.
    pub fn kv_share(&self, sequences: f64) -> f64 {
        match self.kv_sharding {
            KvSharding::Heads => self.kv_head_share,
            KvSharding::Batch => (sequences / self.tp as f64).ceil() / sequences.max(1.0),
        }
    }
}

fn dtype_index(d: Dtype) -> usize {
    ALL_DTYPES
        .iter()
        .position(|x| *x == d)
        .expect("every dtype is in ALL")
}

/// The precision matmuls run in for weights in `d`, and its peak: native where the tensor cores
/// support it; otherwise weight-only quantisation with 16-bit math (int4 always is).
fn math_for(gpu: &GpuSpec, d: Dtype) -> Option<(Dtype, f64)> {
    let sixteen = gpu
        .tflops_for(Dtype::Fp16)
        .map_or((Dtype::Bf16, gpu.tflops.bf16), |f| (Dtype::Fp16, f));
    let (dtype, tflops) = match (d, gpu.tflops_for(d)) {
        (Dtype::Int4, _) => sixteen,
        (Dtype::Fp16 | Dtype::Bf16, None) => (Dtype::Bf16, gpu.tflops.bf16),
        (Dtype::Fp32, None) => return None,
        (Dtype::Fp8 | Dtype::Int8, None) => sixteen,
        (d, Some(t)) => (d, t),
    };
    Some((dtype, units::tflops_to_flops_per_s(tflops)))
}

/// Where the time, bytes and memory go (for `--explain`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Breakdown {
    /// Sequences per decode micro-batch.
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
    /// Prefill throughput of the replica with its pipeline full, tokens/s.
    pub prefill_tokens_per_s: f64,
    /// Memory of the heaviest GPU.
    pub memory: Memory,
    /// Mean weight bytes per GPU over the replica (total weights / GPUs).
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
    /// Details.
    pub breakdown: Breakdown,
}

/// Seconds to ship one request's KV cache (`s_in` tokens, all layers) from a prefill replica to
/// a decode replica: every GPU of the replica sends its share over its own NIC.
pub fn kv_transfer_s(ctx: &Context, c: &Config, s_in: f64) -> f64 {
    let bytes = ctx.model.kv_bytes_per_token(c.kv_dtype.bytes()) * s_in;
    ctx.hw.scaleout.latency_s + bytes / (ctx.hw.scaleout.bytes_per_s * c.gpus() as f64)
}

/// Per-stage sums of a step: (Σ stage times, slowest stage time, Σ bytes).
fn stages(
    ctx: &Context,
    pp: u64,
    layer: &LayerStep,
    dense: &LayerStep,
    head: &OpTime,
) -> (f64, f64, f64) {
    let (mut sum, mut max, mut bytes) = (0.0, 0.0_f64, 0.0);
    let (lt, dt, ht) = (layer.time_s(), dense.time_s(), head.time_s());
    for s in 0..pp {
        let st = pipeline::stage(ctx.layers, ctx.dense_layers, pp, s);
        let mut t = st.moe_layers * lt + st.dense_layers * dt;
        let mut b = st.moe_layers * layer.bytes() + st.dense_layers * dense.bytes();
        if st.last {
            t += ht;
            b += head.op.bytes;
        }
        sum += t;
        max = max.max(t);
        bytes += b;
    }
    (sum, max, bytes)
}

/// Evaluate one configuration (call `Context::check` first).
pub fn estimate(ctx: &Context, c: &Config) -> Estimate {
    estimate_with_draft(ctx, None, c)
}

/// Evaluate one configuration whose speculative draft, if `DraftCost::Model`, is `draft`.
pub fn estimate_with_draft(ctx: &Context, draft: Option<&Context>, c: &Config) -> Estimate {
    let r = ctx.rates(c);
    let m = &ctx.model;
    let moe_model = ctx.dense_layers != ctx.layers;
    let (batch, pp) = (c.batch as f64, c.pp as f64);
    let (s_in, n_out) = (c.input_len as f64, c.output_len as f64);

    // Decode.
    let b = (batch / pp).ceil();
    let n_mb = (batch / b).ceil();
    let ctx_mean = s_in + n_out / 2.0;
    let shape = StepShape {
        tokens: b,
        kv_tokens_read: b * ctx_mean,
        attn_pairs: b * ctx_mean,
        sequences: b,
        decode: true,
    };
    // One pass of `per_seq` tokens per sequence through every stage: (layer, dense layer, head,
    // hop, Σ stages, slowest stage, Σ bytes, cycle time).
    let pass = |per_seq: f64| {
        let shape = StepShape {
            tokens: b * per_seq,
            attn_pairs: b * per_seq * ctx_mean,
            ..shape
        };
        let layer = layer_step(ctx, &r, shape, moe_model);
        let dense = layer_step(ctx, &r, shape, false);
        let head = head_step(ctx, &r, b * per_seq);
        let hop_s = comm::p2p_s(
            b * per_seq * m.d_model * r.act_bytes / r.tp as f64,
            r.pp_link,
        );
        let (sum_s, max_s, bytes) = stages(ctx, c.pp, &layer, &dense, &head);
        let cycle_s = (sum_s + (pp - 1.0) * hop_s).max(n_mb * max_s);
        (layer, dense, head, hop_s, sum_s, max_s, bytes, cycle_s)
    };
    let plain = pass(1.0);
    let (layer, dense, head, hop_s, sum_s, max_s, bytes_all_stages, verify_step_s) =
        match c.speculation {
            // The verify step scores γ+1 tokens of every sequence: more distinct experts, same KV.
            Some(sp) => pass(sp.gamma as f64 + 1.0),
            None => plain,
        };
    let plain_step_s = plain.7;
    let hops_s = (pp - 1.0) * hop_s;
    let (draft_step_s, tokens_per_step) = match c.speculation {
        None => (0.0, 1.0),
        Some(sp) => {
            let draft_s = match (sp.draft, draft) {
                (DraftCost::Ratio(x), _) => x * plain_step_s,
                (DraftCost::Model, Some(d)) => {
                    let dc = Config {
                        pp: 1,
                        speculation: None,
                        ..*c
                    };
                    estimate(d, &dc).breakdown.decode_step_s
                }
                (DraftCost::Model, None) => f64::NAN,
            };
            (draft_s, sp.expected_tokens())
        }
    };
    let gamma = c.speculation.map_or(0.0, |sp| sp.gamma as f64);
    // Time per generated token of every sequence in steady decode.
    let decode_step_s = (verify_step_s + gamma * draft_step_s) / tokens_per_step;
    let gpus = (c.gpus()
        * c.disaggregate
            .map_or(1, |d| d.prefill_replicas + d.decode_replicas)) as f64;

    // Time split over a token's path (for decode_bound and --explain).
    let (lm, lc, la) = layer.split_s();
    let (dm, dc, da) = dense.split_s();
    let (moe_n, dense_n) = if moe_model {
        (m.moe_layers, m.dense_layers)
    } else {
        (0.0, m.layers)
    };
    let head_is_mem = head.memory_s >= head.compute_s;
    let mem_s = moe_n * lm + dense_n * dm + if head_is_mem { head.time_s() } else { 0.0 };
    let comp_s = moe_n * lc + dense_n * dc + if head_is_mem { 0.0 } else { head.time_s() };
    let comm_s = moe_n * la + dense_n * da + hops_s;
    let overhead_s = m.layers * ctx.hw.per_layer_s;
    let decode_bound = if comm_s > mem_s && comm_s > comp_s {
        DecodeBound::Communication
    } else if comp_s > mem_s {
        DecodeBound::Compute
    } else {
        DecodeBound::Memory
    };

    // Prefill (chunked through the pipeline).
    // Static batching prefills every prompt of the batch before the first token; continuous
    // batching prefills one request's prompt.
    let prompt_tokens = match c.batching {
        Batching::Static => batch * s_in,
        Batching::Continuous => s_in,
    };
    // One chunk of `chunk` prompt tokens through every stage: (layer, Σ stages, slowest, hop).
    let prefill = |chunk: f64| {
        let shape = StepShape {
            tokens: chunk,
            kv_tokens_read: s_in / 2.0 + chunk,
            attn_pairs: chunk * (s_in / 2.0).max(chunk.min(s_in) / 2.0),
            sequences: 1.0,
            decode: false,
        };
        let layer = layer_step(ctx, &r, shape, moe_model);
        let dense = layer_step(ctx, &r, shape, false);
        let head = head_step(ctx, &r, 1.0);
        let hop_s = comm::p2p_s(chunk * m.d_model * r.act_bytes / r.tp as f64, r.pp_link);
        let (sum_s, max_s, _) = stages(ctx, c.pp, &layer, &dense, &head);
        (layer, sum_s, max_s, hop_s)
    };
    let budget = ctx.prefill_chunk_tokens as f64;
    let chunk = prompt_tokens.min(budget);
    let n_chunks = (prompt_tokens / chunk).ceil();
    let (player, psum_s, pmax_s, phop_s) = prefill(chunk);
    // Full chunks, then the remainder as a smaller last chunk (not another full one).
    let full_chunks = (prompt_tokens / chunk).floor();
    let rest = prompt_tokens - full_chunks * chunk;
    let rest_s = if rest >= 1.0 { prefill(rest).2 } else { 0.0 };
    let ttft_s =
        ctx.hw.per_request_s + psum_s + (full_chunks - 1.0) * pmax_s + rest_s + (pp - 1.0) * phop_s;
    // Under load the engine batches several requests' prompts into each chunk, up to the budget.
    let busy_chunk = (batch * s_in).min(budget);
    let (_, _, busy_max_s, busy_hop_s) = if busy_chunk > chunk {
        prefill(busy_chunk)
    } else {
        (player, psum_s, pmax_s, phop_s)
    };
    let prefill_tps = busy_chunk.max(chunk) / busy_max_s.max(busy_hop_s);
    // Disaggregated: the prompt's KV cache then crosses the NICs to a decode replica.
    let ttft_s = ttft_s + c.disaggregate.map_or(0.0, |_| kv_transfer_s(ctx, c, s_in));
    // Every request's prompt costs the replica s_in / prefill_tps seconds. Under continuous
    // batching B/N requests finish and are replaced per decode step, so each step also carries
    // their prefills; under static batching the prefill comes first, once per batch.
    let (tpot_s, e2e_s, output_tps) = match (c.disaggregate, c.batching) {
        (Some(d), _) => {
            // TPOT: decode steps with no prefill in between. Throughput: the slower pool.
            let decode_rate = d.decode_replicas as f64 * batch / decode_step_s;
            let prefill_rate = d.prefill_replicas as f64 * prefill_tps / s_in * n_out;
            (
                decode_step_s,
                ttft_s + (n_out - 1.0) * decode_step_s,
                decode_rate.min(prefill_rate),
            )
        }
        (None, Batching::Continuous) => {
            let t = decode_step_s + batch / n_out * s_in / prefill_tps;
            (t, ttft_s + (n_out - 1.0) * t, batch / t)
        }
        (None, Batching::Static) => {
            // The batch decodes until its longest request ends (E[max] steps); a request's own
            // latency ends with its own last token.
            let (mean_n, max_n) = c.output_dist.mean_and_max(n_out, batch);
            let batch_s = ttft_s + (max_n - 1.0) * decode_step_s;
            (
                decode_step_s,
                ttft_s + (mean_n - 1.0) * decode_step_s,
                batch * mean_n / batch_s,
            )
        }
    };

    // Memory on the heaviest GPU.
    let load = Load::new(
        ctx,
        &r,
        batch,
        s_in + n_out,
        chunk.max(busy_chunk).max(b),
        b,
    );
    let mut mem = Memory::default();
    for s in 0..c.pp {
        let st = pipeline::stage(ctx.layers, ctx.dense_layers, c.pp, s);
        let sm = stage_memory(ctx, &r, st, &load);
        if sm.total_bytes() > mem.total_bytes() {
            mem = sm;
        }
    }
    let mean_weights = r.weight_bytes * m.total_params() / gpus;

    let flops_per_token = m.flops_per_token() + m.attention_flops_per_token(ctx_mean);
    let cost_per_hour_usd = gpus * ctx.hw.usd_per_gpu_hour;
    let cost_per_s = cost_per_hour_usd / units::S_PER_HOUR;
    let bytes_per_gpu_step = bytes_all_stages / pp;
    Estimate {
        config: *c,
        fits: ctx.hw.fits(&mem),
        weights_bytes_per_gpu: mem.weights_bytes,
        kv_bytes_per_gpu: mem.kv_bytes,
        mem_bytes_per_gpu: mem.total_bytes(),
        gpu_mem_bytes: ctx.hw.mem_bytes,
        gpus: gpus as u64,
        ttft_s,
        tpot_s,
        e2e_s,
        output_tokens_per_s: output_tps,
        output_tokens_per_s_per_gpu: output_tps / gpus,
        output_tokens_per_s_per_user: 1.0 / tpot_s,
        mfu: batch / decode_step_s * flops_per_token / (c.gpus() as f64 * r.peak_flops_per_s),
        mbu: n_mb * bytes_per_gpu_step / (verify_step_s * ctx.hw.mem_bw_bytes_per_s),
        decode_bound,
        experts_per_step: if moe_model { layer.experts_read } else { 1.0 },
        cost_per_hour_usd,
        usd_per_1m_output_tokens: match c.disaggregate {
            // Each pool's cost over the tokens it handles at the system's rate.
            Some(d) => {
                cost_per_s * d.decode_replicas as f64 / gpus * c.gpus() as f64 / output_tps * 1e6
            }
            None => cost_per_s * decode_step_s / batch * 1e6,
        },
        usd_per_1m_input_tokens: match c.disaggregate {
            Some(d) => {
                cost_per_s * d.prefill_replicas as f64 / gpus * c.gpus() as f64
                    / (output_tps / n_out * s_in)
                    * 1e6
            }
            None => cost_per_s / prefill_tps * 1e6,
        },
        breakdown: Breakdown {
            micro_batch: b,
            micro_batches: n_mb,
            decode_layer: layer,
            decode_dense_layer: dense,
            decode_head: head,
            decode_hop_s: hop_s,
            decode_step_s,
            plain_decode_step_s: plain_step_s,
            verify_step_s,
            draft_step_s,
            tokens_per_step,
            useful_fraction: match c.batching {
                Batching::Static => {
                    let (mean_n, max_n) = c.output_dist.mean_and_max(n_out, batch);
                    mean_n / max_n
                }
                Batching::Continuous => 1.0,
            },
            decode_stages_sum_s: sum_s,
            decode_stage_max_s: max_s,
            decode_bytes_per_gpu_step: bytes_per_gpu_step,
            prefill_chunk: chunk,
            prefill_chunks: n_chunks,
            prefill_layer: player,
            prefill_stage_max_s: pmax_s,
            prefill_stages_sum_s: psum_s,
            prefill_tokens_per_s: prefill_tps,
            memory: mem,
            mean_weights_bytes_per_gpu: mean_weights,
            time_split_s: [mem_s, comp_s, comm_s, overhead_s],
            math_dtype: Some(r.math_dtype),
        },
    }
}
