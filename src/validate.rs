//! `gpt4calc validate`: predictions against published measurements. Each case names an operating
//! point (model, GPU, precision, layout, workload) and a measured row field; the case is run
//! through the same model as `estimate` and `train` and compared: `error = predicted/actual − 1`.

use crate::dtype::Dtype;
use crate::fields::{Field, Value};
use crate::perf::{Config, Context, DEFAULT_PREFILL_CHUNK_TOKENS, Reject, estimate};
use crate::presets::{self, Override};
use crate::report::row::Named;
use crate::report::train_row::TrainRow;
use crate::runtime::Runtime;
use crate::train::{self, AttentionImpl, Recompute, TrainConfig};
use anyhow::{Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The built-in public cases (validation/public.toml).
pub const PUBLIC_CASES: &str = include_str!("../validation/public.toml");

/// The built-in MoE serving and training cases (validation/moe.toml).
pub const MOE_CASES: &str = include_str!("../validation/moe.toml");
/// The built-in frontier cases (validation/frontier.toml).
pub const FRONTIER_CASES: &str = include_str!("../validation/frontier.toml");
/// The built-in latency cases (validation/latency.toml).
pub const LATENCY_CASES: &str = include_str!("../validation/latency.toml");
/// MLPerf Inference results (validation/mlperf.toml): a check no constant is fitted on.
pub const MLPERF_CASES: &str = include_str!("../validation/mlperf.toml");

/// Which built-in cases `validate` runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Suite {
    /// The public and MoE suites: every shipped point measurement.
    #[default]
    All,
    /// validation/public.toml: dense and coarse-MoE serving, training, the article's checks.
    Public,
    /// validation/moe.toml: MoE serving (attention DP + EP, fine-grained experts, MLA) and training.
    Moe,
    /// validation/frontier.toml: the best output tokens/s per GPU at an interactivity floor
    /// (SemiAnalysis InferenceX, DeepSeek-R1 on Hopper, Blackwell, NVL72 racks and MI3xx). Run on
    /// request: a frontier point is a search, and a floor the model cannot reach leaves the case
    /// unevaluated.
    Frontier,
    /// validation/latency.toml: median TTFT and TPOT at a fixed concurrency (SemiAnalysis
    /// InferenceX, DeepSeek-R1, aggregated and disaggregated: 762 runs, 1,524 cases). Run on request.
    Latency,
    /// validation/mlperf.toml: MLPerf Inference results of NVIDIA's submissions (v4.1 to v6.0:
    /// Llama-2-70B, Mixtral-8x7B, Llama-3.1-405B and 8B, DeepSeek-R1) at their shipped
    /// configurations, Offline throughput and Server TPOT. A check no constant is fitted on; run
    /// on request.
    Mlperf,
}

/// A case file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    /// The cases.
    pub case: Vec<Case>,
}

/// A case's `draft`: `"mtp"`, or a draft-step ratio written as a number or as text.
#[derive(Clone, Debug)]
pub enum CaseDraft {
    /// `draft = 0.5`.
    Ratio(f64),
    /// `draft = "mtp"` or `draft = "0.5"`.
    Text(String),
}

impl<'de> serde::Deserialize<'de> for CaseDraft {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = CaseDraft;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("\"mtp\" or a draft-step ratio (a number)")
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<CaseDraft, E> {
                Ok(CaseDraft::Ratio(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<CaseDraft, E> {
                Ok(CaseDraft::Ratio(v as f64))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<CaseDraft, E> {
                Ok(CaseDraft::Ratio(v as f64))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<CaseDraft, E> {
                Ok(CaseDraft::Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// One published measurement and its operating point (schema: docs/usage.md, "Validation cases").
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // field names are the schema
pub struct Case {
    pub id: String,
    /// "calibration" or "holdout" (a check never tuned on).
    pub split: Option<String>,
    /// The file the case came from (set when loading, not read).
    #[serde(skip)]
    pub suite: String,
    pub source: String,
    pub kind: String,
    pub model: Option<String>,
    pub model_spec: Option<toml::Table>,
    pub gpu: String,
    pub dtype: Dtype,
    pub kv_dtype: Option<Dtype>,
    /// Precision of the linear layers outside the MLPs: attention, router, head (default `dtype`).
    pub dense_dtype: Option<Dtype>,
    /// Precision of the attention output projection when it differs from `dense_dtype`.
    pub attn_out_dtype: Option<Dtype>,
    /// Precision the `dtype` layers' activations run in when wider than the weights (W4A8).
    pub act_dtype: Option<Dtype>,
    pub tp: Option<u64>,
    pub pp: Option<u64>,
    pub ep: Option<u64>,
    pub redundant_experts: Option<u64>,
    pub moe_dispatch: Option<crate::perf::MoeDispatch>,
    pub moe_overlap: Option<crate::perf::MoeOverlap>,
    /// Shared experts beside the routed ones in graph-replayed decode steps (default: the
    /// runtime profile's).
    pub shared_expert_overlap: Option<bool>,
    /// The fused-MoE kernels the run used (default: the runtime profile's).
    pub moe_backend: Option<crate::perf::MoeBackend>,
    /// The decode batches the run captured CUDA graphs for, with padding (TensorRT-LLM's
    /// `cuda_graph_config.batch_sizes` with `enable_padding`; default: the runtime profile's).
    pub cuda_graph_batch_sizes: Option<Vec<u64>>,
    /// Decode iterations between the scheduler's polls for new requests the run's launch
    /// script set (SGLang's `--scheduler-recv-interval`; default: the runtime profile's).
    pub scheduler_recv_interval: Option<u64>,
    /// Decode iterations a prefilled request spends at a disaggregated decode worker before its
    /// first token (default: the runtime profile's).
    pub decode_admission_iters: Option<f64>,
    /// Whether the run's disaggregated prefill workers ran the overlap loop (TensorRT-LLM's
    /// `disable_overlap_scheduler` negated; default: the runtime profile's).
    pub prefill_overlap: Option<bool>,
    /// TensorRT-LLM's attention-DP balancing the run's launch script set
    /// (`attention_dp_config` with `enable_balance`: `timeout_iters`; 0 = off; default: the
    /// runtime profile's).
    pub adp_balance_timeout_iters: Option<u64>,
    /// Its `batching_wait_iters` (default: the runtime profile's, else TensorRT-LLM's 10).
    pub adp_balance_wait_iters: Option<u64>,
    /// TensorRT-LLM's batch waiting the run's launch script set (`batch_wait_timeout_iters`;
    /// default: the runtime profile's, off).
    pub batch_wait_timeout_iters: Option<u64>,
    /// Its `batch_wait_max_tokens_ratio` (default: the runtime profile's, off).
    pub batch_wait_max_tokens_ratio: Option<f64>,
    /// The distribution of the run's output lengths (default fixed): e.g. `range-0.8` for
    /// `benchmark_serving.py --random-range-ratio 0.8`.
    pub output_len_dist: Option<crate::perf::lengths::LengthDist>,
    pub disaggregate: Option<String>,
    pub prefill_tp: Option<u64>,
    pub prefill_dp: Option<u64>,
    pub prefill_pp: Option<u64>,
    pub prefill_ep: Option<u64>,
    pub batch: Option<u64>,
    /// A fixed point measured at this many requests in flight over the whole deployment (instead
    /// of `batch`): with disaggregation they spread over the decode replicas, and replicas they
    /// leave idle still count as GPUs. In a frontier case, the run's requests in flight: the
    /// search's decode batch stays at or below each decode replica's share.
    pub concurrency: Option<u64>,
    /// A max-throughput run of this many requests, all submitted at once and timed from the
    /// first start to the last end (trtllm-bench `throughput`): simulated, ramp and drain
    /// included, instead of the steady state.
    pub requests: Option<u64>,
    /// The engine's prompt-token budget per iteration and attention group (TensorRT-LLM's
    /// `max_num_tokens` with chunking off, SGLang's `--chunked-prefill-size` per DP rank, vLLM's
    /// `max_num_batched_tokens`), as `--prefill-chunk` (default 2048). With `requests` it
    /// replaces trtllm-bench's own budget.
    pub prefill_chunk: Option<u64>,
    /// The decode engines' batch limit per attention group (TensorRT-LLM's `max_batch_size`,
    /// per rank under attention DP; SGLang's `--max-running-requests` over its DP ranks): a
    /// disaggregated `concurrency` point above the decode pool's slots (`max_batch` × attention
    /// groups × decode replicas) decodes at that limit while the other requests wait for a slot.
    /// On a max-throughput run of `requests` it caps the requests in flight per attention group.
    pub max_batch: Option<u64>,
    pub input_len: Option<u64>,
    pub output_len: Option<u64>,
    pub mode: Option<String>,
    /// `mode = "frontier"`: the interactivity floor, output tokens/s per user (1 / TPOT).
    pub interactivity: Option<f64>,
    #[serde(default)]
    pub set: Vec<String>,
    pub metric: String,
    pub value: f64,
    pub confidence: Option<String>,
    pub note: Option<String>,
    // Training.
    pub gpus: Option<u64>,
    /// Inference: attention data-parallel degree; training: data-parallel degree (checked).
    pub dp: Option<u64>,
    pub zero: Option<u8>,
    pub micro_batch: Option<u64>,
    pub global_batch_tokens: Option<f64>,
    pub seq_len: Option<u64>,
    pub recompute: Option<String>,
    /// Megatron-Core `recompute_modules` beside the attention core, e.g. `["layernorm", "moe_act"]`.
    pub recompute_modules: Option<Vec<String>>,
    /// Megatron-Core `cuda_graph_scope` of a run with Transformer Engine CUDA graphs, e.g.
    /// `["attn", "moe_router", "moe_preprocess"]` (absent: eager).
    pub cuda_graph_scope: Option<Vec<String>>,
    pub tokens: Option<f64>,
    pub attention: Option<String>,
    pub sequence_parallel: Option<bool>,
    pub interleave: Option<u64>,
    pub batching: Option<crate::perf::Batching>,
    pub kv_sharding: Option<crate::perf::KvSharding>,
    pub zero3_fetch: Option<crate::train::Zero3Fetch>,
    /// Gradient-reduction precision (default fp32).
    pub grad_reduce: Option<crate::train::GradReduce>,
    /// Speculative decoding: draft tokens per verification step.
    pub speculate: Option<u64>,
    /// Speculative decoding: per-token acceptance (default 0.8, as `--acceptance`).
    pub acceptance: Option<f64>,
    /// Speculative decoding: `"mtp"` (the model's own MTP layer) or a draft-step ratio, a number
    /// or its text (default: `--draft-ratio`'s default).
    pub draft: Option<CaseDraft>,
    pub ep_dispatcher: Option<crate::train::EpDispatcher>,
    pub ep_overlap: Option<crate::train::EpOverlap>,
    /// Training: data-parallel traffic bucketed and overlapped (default: the runtime's).
    pub grad_overlap: Option<crate::train::GradOverlap>,
    pub tp_overlap: Option<crate::train::TpOverlap>,
    pub mtp_layers: Option<u64>,
    pub last_stage_layers: Option<u64>,
    /// Runtime profile of the run (a built-in name or a path; default: `validate --runtime`,
    /// itself `modern` by default). The case's own software fields override it.
    pub runtime: Option<String>,
}

impl<'de> Deserialize<'de> for Dtype {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The outcome of one case.
#[derive(Clone, Debug, Serialize)]
pub struct CaseResult {
    /// Case id.
    pub id: String,
    /// inference or training.
    pub kind: String,
    /// Metric family (throughput, ttft, latency, memory, training).
    pub family: &'static str,
    /// The case file (public, moe, or a path).
    pub suite: String,
    /// calibration or holdout.
    pub split: Option<String>,
    /// GPU preset.
    pub gpu: String,
    /// Row field compared.
    pub metric: String,
    /// Published value.
    pub actual: f64,
    /// Predicted value, or null when the case cannot be evaluated.
    pub predicted: Option<f64>,
    /// predicted/actual − 1.
    pub error: Option<f64>,
    /// Whether the predicted configuration fits in memory.
    pub fits: Option<bool>,
    /// The configuration the prediction is for, e.g. `DP8 EP8, batch 512` (the one a search
    /// chose, for max-throughput and frontier cases), or null when not evaluated.
    pub configuration: Option<String>,
    /// Why the case cannot be evaluated.
    pub reason: Option<String>,
    /// Source of the measurement.
    pub source: String,
    /// How far the reading of the source can be trusted.
    pub confidence: Option<String>,
}

/// Statistics over a group of cases.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Stats {
    /// Cases in the group.
    pub cases: usize,
    /// Of which evaluated.
    pub evaluated: usize,
    /// Median |error|.
    pub median_abs_error: Option<f64>,
    /// Mean |error|.
    pub mean_abs_error: Option<f64>,
    /// Share with |error| ≤ 10%.
    pub within_10pct: Option<f64>,
    /// Share with |error| ≤ 25%.
    pub within_25pct: Option<f64>,
    /// Largest |log(predicted/actual)| as a factor (2 = two times off either way).
    pub worst_factor: Option<f64>,
}

/// The summary: overall, by metric family, by GPU.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// All cases.
    pub overall: Stats,
    /// By metric family.
    pub by_family: BTreeMap<&'static str, Stats>,
    /// By GPU preset.
    pub by_gpu: BTreeMap<String, Stats>,
    /// By case file.
    pub by_suite: BTreeMap<String, Stats>,
    /// By split (cases that declare one).
    pub by_split: BTreeMap<String, Stats>,
}

/// Group statistics.
pub fn stats<'a>(results: impl IntoIterator<Item = &'a CaseResult>) -> Stats {
    let mut n = 0;
    let mut errs: Vec<f64> = Vec::new();
    let mut worst: f64 = 1.0;
    for r in results {
        n += 1;
        if let (Some(e), Some(p)) = (r.error, r.predicted) {
            errs.push(e.abs());
            let f = p / r.actual;
            worst = worst.max(f.max(1.0 / f));
        }
    }
    if errs.is_empty() {
        return Stats {
            cases: n,
            ..Stats::default()
        };
    }
    errs.sort_by(f64::total_cmp);
    let k = errs.len();
    let median = if k % 2 == 1 {
        errs[k / 2]
    } else {
        (errs[k / 2 - 1] + errs[k / 2]) / 2.0
    };
    let share = |lim: f64| errs.iter().filter(|e| **e <= lim).count() as f64 / k as f64;
    Stats {
        cases: n,
        evaluated: k,
        median_abs_error: Some(median),
        mean_abs_error: Some(errs.iter().sum::<f64>() / k as f64),
        within_10pct: Some(share(0.10)),
        within_25pct: Some(share(0.25)),
        worst_factor: Some(worst),
    }
}

/// Summarise results.
pub fn summarize(results: &[CaseResult]) -> Summary {
    let mut by_family: BTreeMap<&'static str, Vec<&CaseResult>> = BTreeMap::new();
    let mut by_gpu: BTreeMap<String, Vec<&CaseResult>> = BTreeMap::new();
    let mut by_suite: BTreeMap<String, Vec<&CaseResult>> = BTreeMap::new();
    let mut by_split: BTreeMap<String, Vec<&CaseResult>> = BTreeMap::new();
    for r in results {
        by_family.entry(r.family).or_default().push(r);
        by_gpu.entry(r.gpu.clone()).or_default().push(r);
        by_suite.entry(r.suite.clone()).or_default().push(r);
        if let Some(s) = &r.split {
            by_split.entry(s.clone()).or_default().push(r);
        }
    }
    let group =
        |m: BTreeMap<String, Vec<&CaseResult>>| m.into_iter().map(|(k, v)| (k, stats(v))).collect();
    Summary {
        overall: stats(results),
        by_family: by_family.into_iter().map(|(k, v)| (k, stats(v))).collect(),
        by_gpu: group(by_gpu),
        by_suite: group(by_suite),
        by_split: group(by_split),
    }
}

/// Parse a case file.
pub fn parse_cases(origin: &str, text: &str) -> Result<Vec<Case>> {
    let file: CaseFile = toml::from_str(text)
        .map_err(|e| anyhow!("{}", crate::presets::located_key(origin, text, &e)))?;
    check_cases(origin, &file.case)?;
    Ok(file.case)
}

/// The smallest and the largest measured value a case may state (SI units).
pub const CASE_VALUE_MIN: f64 = 1e-12;
/// See [`CASE_VALUE_MIN`].
pub const CASE_VALUE_MAX: f64 = 1e30;

/// Every case has a unique id, a known kind, a numeric metric of its kind's rows and a measured
/// value in [`CASE_VALUE_MIN`, `CASE_VALUE_MAX`]; the error names the case.
fn check_cases(origin: &str, cases: &[Case]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for c in cases {
        let id = &c.id;
        if !seen.insert(id.as_str()) {
            bail!("{origin}: case `{id}`: the id is used by an earlier case; ids must be unique");
        }
        let field = match c.kind.as_str() {
            "inference" => Field::parse::<Named>(&c.metric),
            "training" => Field::parse::<TrainRow>(&c.metric),
            k => bail!("{origin}: case `{id}`: kind `{k}` must be inference or training"),
        }
        .map_err(|e| anyhow!("{origin}: case `{id}`: metric: {e}"))?;
        if field.kind() != crate::fields::Kind::Num {
            bail!(
                "{origin}: case `{id}`: metric `{}` is not numeric",
                c.metric
            );
        }
        check_case_ranges(c).map_err(|e| anyhow!("{origin}: case `{id}`: {e}"))?;
        // `set` takes `--set`'s keys: a key outside `model.` and `gpu.` would be ignored.
        let overrides: Vec<Override> = c
            .set
            .iter()
            .map(|s| s.parse::<Override>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| anyhow!("{origin}: case `{id}`: set: {e}"))?;
        presets::check_override_prefixes(&overrides)
            .map_err(|e| anyhow!("{origin}: case `{id}`: set: {e}"))?;
        // A measurement, in SI units: from 1e-12 (a picosecond) to 1e30 (past any cluster's
        // FLOPs). Outside it the error ratio leaves the range a report can print (a 300-digit
        // percentage at 1e-300, an infinite one for a subnormal value).
        if !(CASE_VALUE_MIN..=CASE_VALUE_MAX).contains(&c.value) {
            bail!(
                "{origin}: case `{id}`: value = {}: must be a positive number from {CASE_VALUE_MIN:e} to {CASE_VALUE_MAX:e}",
                if c.value.is_finite() && c.value != 0.0 && !(1e-6..1e15).contains(&c.value.abs()) {
                    format!("{:e}", c.value)
                } else {
                    c.value.to_string()
                },
            );
        }
    }
    Ok(())
}

/// The case fields that have a range or a fixed set of values, checked when the file is loaded
/// with the ranges of the flags of the same names (docs/usage.md, Input ranges): a bad one refuses
/// the file with one line naming the case, the field, the value and what is allowed.
fn check_case_ranges(c: &Case) -> Result<()> {
    use crate::limits::{flag_range, float_flag_range};
    let ints = [
        ("tp", "tp", c.tp),
        ("pp", "pp", c.pp),
        ("ep", "ep", c.ep),
        ("dp", "dp", c.dp),
        ("prefill_tp", "prefill-tp", c.prefill_tp),
        ("prefill_dp", "prefill-dp", c.prefill_dp),
        ("prefill_pp", "prefill-pp", c.prefill_pp),
        ("prefill_ep", "prefill-ep", c.prefill_ep),
        (
            "redundant_experts",
            "redundant-experts",
            c.redundant_experts,
        ),
        ("batch", "batch", c.batch),
        ("concurrency", "batch", c.concurrency),
        ("requests", "requests", c.requests),
        ("prefill_chunk", "prefill-chunk", c.prefill_chunk),
        (
            "scheduler_recv_interval",
            "scheduler-recv-interval",
            c.scheduler_recv_interval,
        ),
        (
            "adp_balance_timeout_iters",
            "adp-balance",
            c.adp_balance_timeout_iters,
        ),
        (
            "adp_balance_wait_iters",
            "adp-balance-wait",
            c.adp_balance_wait_iters,
        ),
        (
            "batch_wait_timeout_iters",
            "batch-wait",
            c.batch_wait_timeout_iters,
        ),
        ("max_batch", "batch", c.max_batch),
        ("input_len", "input-len", c.input_len),
        ("output_len", "output-len", c.output_len),
        ("gpus", "gpus", c.gpus),
        ("micro_batch", "micro-batch", c.micro_batch),
        ("seq_len", "seq-len", c.seq_len),
        ("interleave", "interleave", c.interleave),
        ("speculate", "speculate", c.speculate),
        ("mtp_layers", "mtp-layers", c.mtp_layers),
        (
            "last_stage_layers",
            "last-stage-layers",
            c.last_stage_layers,
        ),
    ];
    for (field, flag, v) in ints {
        if let Some(v) = v {
            flag_range(flag)
                .check(&format!("{field} ="), v)
                .map_err(anyhow::Error::msg)?;
        }
    }
    for &v in c.cuda_graph_batch_sizes.iter().flatten() {
        flag_range("batch")
            .check("cuda_graph_batch_sizes =", v)
            .map_err(anyhow::Error::msg)?;
    }
    let floats = [
        ("tokens", "tokens", c.tokens),
        (
            "global_batch_tokens",
            "global-batch-tokens",
            c.global_batch_tokens,
        ),
        ("acceptance", "acceptance", c.acceptance),
        (
            "decode_admission_iters",
            "decode-admission-iters",
            c.decode_admission_iters,
        ),
        (
            "batch_wait_max_tokens_ratio",
            "batch-wait-ratio",
            c.batch_wait_max_tokens_ratio,
        ),
    ];
    for (field, flag, v) in floats {
        if let Some(v) = v {
            float_flag_range(flag)
                .check(&format!("{field} ="), v)
                .map_err(anyhow::Error::msg)?;
        }
    }
    if let Some(z) = c.zero
        && z > 3
    {
        bail!("zero = {z}: must be 0, 1, 2 or 3 (the ZeRO stage)");
    }
    if let Some(m) = c.mode.as_deref()
        && !["fixed", "max-throughput", "frontier"].contains(&m)
    {
        bail!("mode = \"{m}\": must be fixed, max-throughput or frontier");
    }
    if let Some(r) = c.recompute.as_deref()
        && <Recompute as clap::ValueEnum>::from_str(r, true).is_err()
    {
        bail!("recompute = \"{r}\": must be none, selective or full");
    }
    if let Some(a) = c.attention.as_deref()
        && !["flash", "eager"].contains(&a)
    {
        bail!("attention = \"{a}\": must be flash or eager");
    }
    if let Some(f) = c.interactivity
        && !(f.is_finite() && f > 0.0)
    {
        bail!(
            "interactivity = {}: must be a positive number of tokens/s per user",
            crate::limits::short(f)
        );
    }
    // The text fields with a syntax: refused with the file, like the ranges above, rather than
    // leaving the case unevaluated with a reason.
    if let Some(s) = c.split.as_deref()
        && !["calibration", "holdout"].contains(&s)
    {
        bail!(
            "split = \"{}\": must be calibration or holdout",
            crate::limits::clip(s)
        );
    }
    if let Some(d) = c.disaggregate.as_deref() {
        crate::cli::parse_pools(d).map_err(|e| anyhow!("disaggregate = {e}"))?;
    }
    if let Some(list) = &c.recompute_modules {
        crate::train::RecomputeModules::parse(&list.join(","))
            .map_err(|e| anyhow!("recompute_modules: {e}"))?;
    }
    if let Some(list) = &c.cuda_graph_scope {
        crate::train::CudaGraphScope::parse(&list.join(","))
            .map_err(|e| anyhow!("cuda_graph_scope: {e}"))?;
    }
    // Which fields the case reads first: a training case's `acceptance` is a serving field, not
    // a speculation without `speculate`.
    check_fields_in_use(c)?;
    speculation(c)?;
    Ok(())
}

/// A field the case's kind (or its inference mode) does not read is refused rather than left
/// unread: `seq_len` on a serving case, `batch` on a max-throughput one, `interactivity` off a
/// frontier search would otherwise say what the prediction never used.
fn check_fields_in_use(c: &Case) -> Result<()> {
    let set = |present: bool, name: &'static str| present.then_some(name);
    let training_only = [
        set(c.zero.is_some(), "zero"),
        set(c.micro_batch.is_some(), "micro_batch"),
        set(c.global_batch_tokens.is_some(), "global_batch_tokens"),
        set(c.seq_len.is_some(), "seq_len"),
        set(c.recompute.is_some(), "recompute"),
        set(c.recompute_modules.is_some(), "recompute_modules"),
        set(c.cuda_graph_scope.is_some(), "cuda_graph_scope"),
        set(c.tokens.is_some(), "tokens"),
        set(c.attention.is_some(), "attention"),
        set(c.interleave.is_some(), "interleave"),
        set(c.grad_reduce.is_some(), "grad_reduce"),
        set(c.ep_dispatcher.is_some(), "ep_dispatcher"),
        set(c.ep_overlap.is_some(), "ep_overlap"),
        set(c.grad_overlap.is_some(), "grad_overlap"),
        set(c.tp_overlap.is_some(), "tp_overlap"),
        set(c.mtp_layers.is_some(), "mtp_layers"),
        set(c.last_stage_layers.is_some(), "last_stage_layers"),
        set(c.zero3_fetch.is_some(), "zero3_fetch"),
    ];
    let inference_only = [
        set(c.batch.is_some(), "batch"),
        set(c.concurrency.is_some(), "concurrency"),
        set(c.requests.is_some(), "requests"),
        set(c.prefill_chunk.is_some(), "prefill_chunk"),
        set(c.max_batch.is_some(), "max_batch"),
        set(c.input_len.is_some(), "input_len"),
        set(c.output_len.is_some(), "output_len"),
        set(c.mode.is_some(), "mode"),
        set(c.interactivity.is_some(), "interactivity"),
        set(c.disaggregate.is_some(), "disaggregate"),
        set(c.prefill_tp.is_some(), "prefill_tp"),
        set(c.prefill_dp.is_some(), "prefill_dp"),
        set(c.prefill_pp.is_some(), "prefill_pp"),
        set(c.prefill_ep.is_some(), "prefill_ep"),
        set(
            c.scheduler_recv_interval.is_some(),
            "scheduler_recv_interval",
        ),
        set(
            c.adp_balance_timeout_iters.is_some(),
            "adp_balance_timeout_iters",
        ),
        set(c.adp_balance_wait_iters.is_some(), "adp_balance_wait_iters"),
        set(c.decode_admission_iters.is_some(), "decode_admission_iters"),
        set(c.prefill_overlap.is_some(), "prefill_overlap"),
        set(
            c.batch_wait_timeout_iters.is_some(),
            "batch_wait_timeout_iters",
        ),
        set(
            c.batch_wait_max_tokens_ratio.is_some(),
            "batch_wait_max_tokens_ratio",
        ),
        set(c.output_len_dist.is_some(), "output_len_dist"),
        set(c.batching.is_some(), "batching"),
        set(c.kv_sharding.is_some(), "kv_sharding"),
        set(c.speculate.is_some(), "speculate"),
        set(c.redundant_experts.is_some(), "redundant_experts"),
        set(c.moe_dispatch.is_some(), "moe_dispatch"),
        set(c.moe_overlap.is_some(), "moe_overlap"),
        set(c.kv_dtype.is_some(), "kv_dtype"),
        set(c.dense_dtype.is_some(), "dense_dtype"),
        set(c.attn_out_dtype.is_some(), "attn_out_dtype"),
        set(c.act_dtype.is_some(), "act_dtype"),
        set(c.shared_expert_overlap.is_some(), "shared_expert_overlap"),
        set(c.cuda_graph_batch_sizes.is_some(), "cuda_graph_batch_sizes"),
        set(c.acceptance.is_some(), "acceptance"),
        set(c.draft.is_some(), "draft"),
    ];
    let (unread, kind): (Vec<&str>, &str) = match c.kind.as_str() {
        "training" => (inference_only.into_iter().flatten().collect(), "a serving"),
        "inference" => (training_only.into_iter().flatten().collect(), "a training"),
        _ => return Ok(()),
    };
    if let Some(f) = unread.first() {
        bail!(
            "`{f}` is {kind} case's field; this case is kind = \"{}\"",
            c.kind
        );
    }
    if c.kind != "inference" {
        let modules = c
            .recompute_modules
            .as_ref()
            .map(|l| crate::train::RecomputeModules::parse(&l.join(",")).unwrap_or_default());
        if c.recompute.as_deref() == Some("full") && modules.is_some_and(|m| !m.is_empty()) {
            bail!(
                "recompute_modules apply beside recompute none or selective (full re-runs every module)"
            );
        }
        let scope = c
            .cuda_graph_scope
            .as_ref()
            .map(|l| crate::train::CudaGraphScope::parse(&l.join(",")).unwrap_or_default());
        if c.recompute.as_deref() == Some("full") && scope.is_some_and(|g| !g.is_empty()) {
            bail!(
                "cuda_graph_scope applies beside recompute none or selective (Megatron-Core runs full recomputation only without partial CUDA graphs)"
            );
        }
        return Ok(());
    }
    let mode = c.mode.as_deref().unwrap_or("fixed");
    if c.requests.is_some() && mode != "max-throughput" {
        bail!("`requests` is a max-throughput run's: use mode = \"max-throughput\"");
    }
    if mode == "max-throughput" && c.max_batch.is_some() && c.requests.is_none() {
        bail!("{MAX_BATCH_PLACES}");
    }
    if mode == "max-throughput" && c.concurrency.is_some() {
        bail!(
            "`concurrency` is a fixed point's or bounds a frontier search: use mode = \"fixed\" or \"frontier\""
        );
    }
    if c.batch.is_some() && c.concurrency.is_some() {
        bail!("state `batch` or `concurrency`, not both");
    }
    if mode == "frontier" && c.gpus.is_some() && c.tp.is_some() && c.dp.is_some() && c.ep.is_some()
    {
        bail!(
            "`gpus` is what a frontier search lays out when tp, dp and ep are not all given; this case gives them"
        );
    }
    if c.interactivity.is_some() && mode != "frontier" {
        bail!("`interactivity` is the floor of a frontier search: use mode = \"frontier\"");
    }
    if c.gpus.is_some() && mode != "frontier" {
        bail!(
            "`gpus` on a serving case is the GPUs a frontier search lays out: a {mode} case takes its layout from tp, dp, pp and ep"
        );
    }
    if c.batch.is_some() && mode != "fixed" {
        bail!(
            "`batch` is a fixed point's: a {mode} case searches the batch (bound it with `concurrency` or `max_batch` on a frontier search)"
        );
    }
    Ok(())
}

fn family(kind: &str, metric: &str) -> &'static str {
    match (kind, metric) {
        ("training", _) => "training",
        (_, "ttft_s") => "ttft",
        (_, "tpot_s" | "e2e_s") => "latency",
        (_, m) if m.starts_with("mem") || m.ends_with("_bytes_per_gpu") => "memory",
        _ => "throughput",
    }
}

/// Evaluate every case (`extra` overrides are appended to each case's own `set`, for calibration)
/// under the default runtime profile for cases that name none.
pub fn run_cases(cases: &[Case], extra: &[Override]) -> Vec<CaseResult> {
    run_cases_with(cases, extra, crate::runtime::DEFAULT_RUNTIME)
}

/// [`run_cases`] with `runtime` as the profile of the cases that name none.
pub fn run_cases_with(cases: &[Case], extra: &[Override], runtime: &str) -> Vec<CaseResult> {
    cases
        .iter()
        .map(|c| {
            let outcome = evaluate(c, extra, runtime);
            let (predicted, fits, configuration, reason) = match outcome {
                Ok(p) => (Some(p.value), Some(p.fits), Some(p.configuration), None),
                Err(e) => (None, None, None, Some(format!("{e:#}"))),
            };
            CaseResult {
                id: c.id.clone(),
                kind: c.kind.clone(),
                family: family(&c.kind, &c.metric),
                suite: c.suite.clone(),
                split: c.split.clone(),
                gpu: c.gpu.clone(),
                metric: c.metric.clone(),
                actual: c.value,
                error: predicted.map(|p| p / c.value - 1.0),
                predicted,
                fits,
                configuration,
                reason,
                source: c.source.clone(),
                confidence: c.confidence.clone(),
            }
        })
        .collect()
}

fn context_for(c: &Case, extra: &[Override], rt: &Runtime) -> Result<(Context, String)> {
    let mut overrides: Vec<Override> = c
        .set
        .iter()
        .map(|s| s.parse::<Override>().map_err(|e| anyhow!(e)))
        .collect::<Result<_>>()?;
    overrides.extend_from_slice(extra);
    let model = match (&c.model, &c.model_spec) {
        (Some(name), None) => presets::load_model(name, &overrides)?,
        (None, Some(spec)) => {
            let mut spec = spec.clone();
            let name = spec
                .remove("name")
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| c.id.clone());
            let mut doc = toml::Table::new();
            doc.insert("name".into(), name.clone().into());
            doc.insert(
                "description".into(),
                format!("model of case {}", c.id).into(),
            );
            doc.insert("source".into(), c.source.clone().into());
            doc.insert("model".into(), toml::Value::Table(spec));
            let text = toml::to_string(&doc)?;
            presets::load_model_text(&format!("case {} model_spec", c.id), &text, &overrides)?
        }
        _ => bail!("give exactly one of `model` and `model_spec`"),
    };
    let mut gpu = presets::load_gpu(&c.gpu, &overrides)?;
    rt.apply_to_gpu(&mut gpu, &overrides, &c.gpu)?;
    let mut ctx = Context::new(
        &model.model,
        &gpu.gpu,
        c.prefill_chunk.unwrap_or(DEFAULT_PREFILL_CHUNK_TOKENS),
    );
    ctx.shared_expert_overlap = c
        .shared_expert_overlap
        .unwrap_or_else(|| rt.shared_expert_overlap());
    ctx.moe_backend = c.moe_backend.unwrap_or_else(|| rt.moe_backend());
    ctx.fused_input_quant = rt.fused_input_quant();
    ctx.nvfp4_fused_input = rt.nvfp4_fused_input();
    ctx.decode_shares_budget = rt.decode_shares_budget();
    ctx.fused_iterations = ctx.decode_shares_budget;
    ctx.cuda_graph_batch_sizes = crate::perf::decode::captured_batch_sizes(
        &graph_list(c, rt),
        c.max_batch.unwrap_or(u64::MAX),
        ctx.prefill_chunk_tokens,
    );
    ctx.scheduler_recv_interval = c
        .scheduler_recv_interval
        .unwrap_or_else(|| rt.scheduler_recv_interval());
    ctx.decode_admission_iters = c
        .decode_admission_iters
        .unwrap_or_else(|| rt.decode_admission_iters());
    ctx.prefill_overlap = c.prefill_overlap.unwrap_or_else(|| rt.prefill_overlap());
    ctx.adp_balance = rt.adp_balance_over(c.adp_balance_timeout_iters, c.adp_balance_wait_iters);
    ctx.batch_wait = rt.batch_wait_over(c.batch_wait_timeout_iters, c.batch_wait_max_tokens_ratio);
    // An admission with no decode worker of its own would silently price nothing.
    if let (Some(j), None) = (c.decode_admission_iters, &c.disaggregate) {
        bail!(
            "decode_admission_iters = {}: only a disaggregated case (disaggregate = \"P:D\") has a decode worker that admits its requests; drop it or state the pools",
            crate::limits::short(j)
        );
    }
    if let (Some(o), None) = (c.prefill_overlap, &c.disaggregate) {
        bail!(
            "prefill_overlap = {o}: only a disaggregated case (disaggregate = \"P:D\") has prefill workers of its own; drop it or state the pools"
        );
    }
    let batching = c.batching.unwrap_or_else(|| rt.batching());
    if let (Some(o), crate::perf::Batching::Static) = (c.prefill_overlap, batching) {
        bail!(
            "prefill_overlap = {o}: a static batch prefills once, with no closed loop to keep a prefill worker busy; drop it or use continuous batching"
        );
    }
    // Half a batch-waiting rule would silently hold nothing: a case that turns it on names both.
    let on = c.batch_wait_timeout_iters.is_some_and(|t| t > 0)
        || c.batch_wait_max_tokens_ratio.is_some_and(|r| r > 0.0);
    if on && ctx.batch_wait.is_none() {
        bail!(
            "batch_wait_timeout_iters = {}, batch_wait_max_tokens_ratio = {}: batch waiting needs both above 0 (from the case or its runtime profile), or either 0 to leave it off",
            c.batch_wait_timeout_iters
                .or(rt.serving.batch_wait_timeout_iters)
                .map_or("unset".to_string(), |v| v.to_string()),
            c.batch_wait_max_tokens_ratio
                .or(rt.serving.batch_wait_max_tokens_ratio)
                .map_or("unset".to_string(), crate::limits::short)
        );
    }
    Ok((ctx, model.name))
}

fn number(v: Value<'_>, metric: &str) -> Result<f64> {
    match v {
        Value::Num(x) => Ok(x),
        _ => bail!("metric `{metric}` is not numeric"),
    }
}

/// A case's prediction: the metric's value, whether its configuration fits, and which
/// configuration it is.
struct Prediction {
    value: f64,
    fits: bool,
    configuration: String,
}

/// Predicted value and fit of one case (`runtime`: the profile if the case names none).
fn evaluate(c: &Case, extra: &[Override], runtime: &str) -> Result<Prediction> {
    let rt = crate::runtime::load(c.runtime.as_deref().unwrap_or(runtime))?.runtime;
    let (ctx, model) = context_for(c, extra, &rt)?;
    match c.kind.as_str() {
        "inference" => evaluate_inference(c, &ctx, &model, &rt),
        "training" => evaluate_training(c, &ctx, &model, &rt),
        k => bail!("kind `{k}` must be inference or training"),
    }
}

/// Batch sizes tried for `mode = "max-throughput"`: the grid 1, 2, 3, 4, 6, 8, 12, … 98,304
/// (`batch_search::grid`).
pub fn throughput_batches() -> impl Iterator<Item = u64> {
    crate::batch_search::grid()
}

/// A case's speculative decoding, if it names `speculate`.
fn speculation(c: &Case) -> Result<Option<crate::perf::Speculation>> {
    use crate::perf::DraftCost;
    let Some(gamma) = c.speculate else {
        if c.acceptance.is_some() || c.draft.is_some() {
            bail!("`acceptance` and `draft` need `speculate`");
        }
        return Ok(None);
    };
    if !(1..=64).contains(&gamma) {
        bail!("speculate = {gamma} must be 1 to 64 draft tokens");
    }
    let acceptance = c.acceptance.unwrap_or(0.8);
    if !(0.0..=1.0).contains(&acceptance) {
        bail!("acceptance = {acceptance} must be between 0 and 1");
    }
    // A ratio takes `--draft-ratio`'s range.
    let ratio = |r: f64, shown: &str| match crate::limits::check_float_flag("draft-ratio", r) {
        Ok(r) => Ok(DraftCost::Ratio(r)),
        Err(_) => Err(anyhow!(
            "draft = {shown} must be \"mtp\" or a draft-step ratio from 0 to 10 (as --draft-ratio)"
        )),
    };
    let draft = match &c.draft {
        None => DraftCost::Ratio(crate::perf::DEFAULT_DRAFT_RATIO),
        Some(CaseDraft::Text(x)) if x == "mtp" => DraftCost::Mtp,
        Some(CaseDraft::Text(x)) => {
            let shown = format!("\"{}\"", crate::limits::clip(x));
            match x.trim().parse::<f64>() {
                Ok(r) => ratio(r, &shown)?,
                Err(_) => ratio(f64::NAN, &shown)?,
            }
        }
        Some(CaseDraft::Ratio(r)) => ratio(*r, &crate::limits::short(*r))?,
    };
    Ok(Some(crate::perf::Speculation {
        gamma,
        acceptance,
        draft,
    }))
}

fn evaluate_inference(c: &Case, ctx: &Context, model: &str, rt: &Runtime) -> Result<Prediction> {
    let field = Field::parse::<Named>(&c.metric).map_err(|e| anyhow!(e))?;
    let need = |v: Option<u64>, f: &str| v.ok_or_else(|| anyhow!("inference case lacks `{f}`"));
    let disaggregate = match &c.disaggregate {
        None => None,
        Some(text) => Some(crate::perf::Disaggregation {
            prefill: crate::perf::layout::LayoutOverride {
                tp: c.prefill_tp,
                dp: c.prefill_dp,
                pp: c.prefill_pp,
                ep: c.prefill_ep,
            },
            ..crate::cli::parse_pools(text).map_err(|e| anyhow!("disaggregate {e}"))?
        }),
    };
    let base = Config {
        tp: c.tp.unwrap_or(1),
        dp: c.dp.unwrap_or(1),
        pp: c.pp.unwrap_or(1),
        ep: c.ep.unwrap_or(1),
        redundant_experts: c.redundant_experts.unwrap_or(0),
        moe_dispatch: c.moe_dispatch.unwrap_or_else(|| rt.moe_dispatch()),
        moe_overlap: c.moe_overlap.unwrap_or_else(|| rt.moe_overlap()),
        batch: c.batch.unwrap_or(1),
        input_len: need(c.input_len, "input_len")?,
        output_len: need(c.output_len, "output_len")?,
        dtype: c.dtype,
        dense_dtype: c.dense_dtype,
        attn_out_dtype: c.attn_out_dtype,
        act_dtype: c.act_dtype,
        kv_dtype: c.kv_dtype.unwrap_or(c.dtype.default_kv()),
        batching: c.batching.unwrap_or_else(|| rt.batching()),
        speculation: speculation(c)?,
        output_dist: c.output_len_dist.unwrap_or_default(),
        disaggregate,
        kv_sharding: c.kv_sharding.unwrap_or_default(),
        sequence_parallel: c
            .sequence_parallel
            .unwrap_or_else(|| rt.serve_sequence_parallel()),
    };
    let run = |cfg: &Config| -> Result<crate::perf::Estimate> {
        match ctx.check(cfg) {
            Ok(()) => Ok(estimate(ctx, cfg)),
            Err(Reject::Invalid(m) | Reject::Skip(m)) => Err(anyhow!(m)),
        }
    };
    // A concurrency point's correction for the requests it does not place and the decode
    // replicas it leaves idle (`fixed_point`).
    let mut point = FixedPoint::default();
    if c.requests.is_some() && c.mode.as_deref() != Some("max-throughput") {
        bail!("`requests` is a max-throughput run's: use mode = \"max-throughput\"");
    }
    if c.max_batch.is_some() && c.mode.as_deref() == Some("max-throughput") && c.requests.is_none()
    {
        bail!("{MAX_BATCH_PLACES}");
    }
    // A frontier answer's value, and its mean batch where it mixes two (`at_the_floor`).
    let mut frontier_value: Option<(f64, Option<f64>)> = None;
    let est = match c.mode.as_deref().unwrap_or("fixed") {
        "fixed" => {
            let (cfg, p) = fixed_point(c, base)?;
            point = p;
            run(&cfg)?
        }
        "max-throughput" if c.concurrency.is_some() => {
            bail!(
                "`concurrency` is a fixed point's or bounds a frontier search: use mode = \"fixed\" or \"frontier\""
            )
        }
        "max-throughput" => {
            // The grid's batches that fit, and the largest integer batch that fits: an engine
            // admits requests while its KV cache holds them, not on a grid, and where memory
            // binds the best batch is that one.
            let fitting = crate::batch_search::largest_meeting(
                |b| run(&Config { batch: b, ..base }).ok(),
                |e| e.fits,
            );
            let largest = fitting.iter().map(|e| e.config.batch).max();
            let best = fitting
                .into_iter()
                .max_by(|a, b| a.output_tokens_per_s.total_cmp(&b.output_tokens_per_s))
                .ok_or_else(|| anyhow!("no batch size fits in memory"))?;
            match c.requests {
                None => best,
                Some(n) => finite_run(c, ctx, base, largest, n, &graph_list(c, rt), run)?,
            }
        }
        "frontier" => {
            let floor = c.interactivity.ok_or_else(|| {
                anyhow!("frontier case lacks `interactivity` (tokens/s per user)")
            })?;
            if !(floor.is_finite() && floor > 0.0) {
                bail!("interactivity = {floor} must be a positive number of tokens/s per user");
            }
            // The metric as a number (`check_cases` refuses non-numeric ones), and its rank: the
            // best is the largest where larger is better (tokens/s), else the smallest (a cost
            // per token, a latency).
            let value = |e: &crate::perf::Estimate| match field.get(&Named {
                est: e,
                model,
                gpu: &c.gpu,
            }) {
                Value::Num(x) => x,
                _ => f64::NAN,
            };
            let rank = |v: f64| if field.higher_is_better() { v } else { -v };
            let meets =
                |e: &crate::perf::Estimate| e.fits && e.output_tokens_per_s_per_user >= floor;
            // The run's concurrency, when stated, bounds the requests in flight: each decode
            // replica holds at most its share of them (the benchmark never offered more). Fewer
            // requests than decode replicas leave some idle: a fixed point, not a search.
            let replicas = base.disaggregate.map_or(1, |d| d.decode_replicas.max(1));
            let in_flight = match c.concurrency {
                None => u64::MAX,
                Some(n) if n < replicas => bail!(
                    "concurrency = {n} leaves some of the {replicas} decode replicas idle: read it as a fixed point (mode = \"fixed\")"
                ),
                Some(n) => n.div_ceil(replicas),
            };
            // A mix of two batches holds at most the run's requests on average (its share per
            // decode replica, which `in_flight` rounds up), and mixes only a rate that adds up
            // over time (tokens/s, per GPU or in all; not a cost per token or a per-user rate).
            let mean_limit = c
                .concurrency
                .map_or(f64::INFINITY, |n| n as f64 / replicas as f64);
            let mixes = c.metric.contains("tokens_per_s") && !c.metric.ends_with("_per_user");
            // Per layout: the best batch that meets the floor and, where it is the largest that
            // does and the next batch misses the floor, their mix whose tokens/s per user is the
            // floor (`at_the_floor`). A best batch below the largest that meets the floor (the
            // metric falling with the batch) is not mixed.
            let mut best: Option<(crate::perf::Estimate, f64, Option<f64>)> = None;
            for (tp, dp, ep) in frontier_layouts(c)? {
                // The engines' batch limit per attention group, when the case states it.
                let cap = c
                    .max_batch
                    .map_or(u64::MAX, |m| m.saturating_mul(dp))
                    .min(in_flight);
                let at = |batch| {
                    if batch > cap {
                        return None;
                    }
                    run(&Config {
                        tp,
                        dp,
                        ep,
                        batch,
                        ..base
                    })
                    .ok()
                };
                let kept = crate::batch_search::largest_meeting(at, meets);
                let Some(top) = kept
                    .iter()
                    .max_by(|a, b| rank(value(a)).total_cmp(&rank(value(b))))
                    .copied()
                else {
                    continue;
                };
                let largest = kept.iter().map(|e| e.config.batch).max();
                let next = (mixes && largest == Some(top.config.batch))
                    .then(|| at(top.config.batch + 1))
                    .flatten()
                    .filter(|e| e.fits && !meets(e));
                let (v, mean) = match next {
                    Some(n) => at_the_floor(
                        (top.output_tokens_per_s_per_user, value(&top)),
                        (n.output_tokens_per_s_per_user, value(&n)),
                        floor,
                        top.config.batch,
                        mean_limit,
                    ),
                    None => (value(&top), None),
                };
                if best
                    .as_ref()
                    .is_none_or(|(_, bv, _)| rank(v).total_cmp(&rank(*bv)).is_ge())
                {
                    best = Some((top, v, mean));
                }
            }
            match best {
                Some((e, v, mean)) => {
                    frontier_value = Some((v, mean));
                    e
                }
                None => return Err(frontier_out_of_reach(c, base, floor, &run)),
            }
        }
        m => bail!("mode `{m}` must be fixed, max-throughput or frontier"),
    };
    let named = Named {
        est: &est,
        model,
        gpu: &c.gpu,
    };
    let value = match frontier_value {
        Some((v, _)) => v,
        None => number(field.get(&named), &c.metric)?,
    };
    let mut configuration = inference_configuration(&est.config);
    if let Some((_, Some(mean))) = frontier_value {
        use std::fmt::Write as _;
        let _ = write!(
            configuration,
            " to {} (mean {mean:.2} at the floor)",
            est.config.batch + 1
        );
    }
    Ok(Prediction {
        value: point.correct(&c.metric, value, est.gpus)?,
        fits: est.fits,
        configuration,
    })
}

/// Why a frontier case's floor is out of reach: how far off the fastest a user is served, one
/// request in flight on the quickest layout that fits (a larger batch only slows each user), or
/// the layouts' own error.
fn frontier_out_of_reach(
    c: &Case,
    base: Config,
    floor: f64,
    run: &dyn Fn(&Config) -> Result<crate::perf::Estimate>,
) -> anyhow::Error {
    let tried: Vec<Result<crate::perf::Estimate>> = frontier_layouts(c)
        .into_iter()
        .flatten()
        .map(|(tp, dp, ep)| {
            run(&Config {
                tp,
                dp,
                ep,
                batch: 1,
                ..base
            })
        })
        .collect();
    let fastest = tried
        .iter()
        .flatten()
        .filter(|e| e.fits && e.output_tokens_per_s_per_user.is_finite())
        .max_by(|a, b| {
            a.output_tokens_per_s_per_user
                .total_cmp(&b.output_tokens_per_s_per_user)
        });
    let short = format!(
        "no layout and batch that fits reaches {} tokens/s per user",
        crate::limits::short(floor)
    );
    match (fastest, tried.iter().find_map(|t| t.as_ref().err())) {
        (Some(e), _) => anyhow!(
            "{short}: the fastest, {}, serves {:.1} ({:.1}% short)",
            inference_configuration(&e.config),
            e.output_tokens_per_s_per_user,
            100.0 * (1.0 - e.output_tokens_per_s_per_user / floor)
        ),
        (None, Some(err)) if tried.iter().all(Result::is_err) => {
            anyhow!("{short}: {err:#}")
        }
        (None, _) => anyhow!("{short}: no layout fits in memory"),
    }
}

/// The frontier's value at an interactivity floor that falls between two consecutive batches of
/// one deployment: `meets` = (tokens/s per user, value) at batch `b`, at or above the floor, and
/// `misses` the same at `b + 1`, below it. A deployment whose requests in flight average
/// `b + f` runs `b` of them a share `1 − f` of the time and `b + 1` the rest: its value, a rate
/// over time, is the time-weighted mix, and the tokens/s per user its requests see is weighted
/// by the requests in each phase, `b(1 − f)` and `(b + 1)f`. The `f` at which that is the floor,
/// `b(u0 − X) / (b(u0 − X) + (b + 1)(X − u1))`, gives the value, held to a mean batch of at most
/// `most` (the run's requests per decode replica; below the floor's `f` the mix serves more than
/// the floor). Returns the value and the mean batch `b + f`, or `None` where no mix adds anything
/// (`f` = 0, no more value at `b + 1`, or `b` already at `most`): the batch `b` answer stands.
/// Read this way the answer moves continuously with the modelled step, where the integer batch
/// alone drops a whole request (at 4 users, a step 0.1% over the floor answers with 3 or fewer).
fn at_the_floor(
    meets: (f64, f64),
    misses: (f64, f64),
    floor: f64,
    b: u64,
    most: f64,
) -> (f64, Option<f64>) {
    let ((u0, v0), (u1, v1)) = (meets, misses);
    if !(v1 > v0 && u0 >= floor && u1 < floor && u0.is_finite() && u1.is_finite()) {
        return (v0, None);
    }
    let b = b as f64;
    let (above, below) = (b * (u0 - floor), (b + 1.0) * (floor - u1));
    let f = (above / (above + below)).min(most - b);
    if f.is_nan() || f <= 0.0 {
        return (v0, None);
    }
    (v0 + f * (v1 - v0), Some(b + f))
}

/// An inference prediction's configuration as `validate` prints it: the layout and the batch
/// (per replica), e.g. `DP8 EP8, batch 512`; a disaggregated one names both pools, e.g.
/// `prefill 1 × DP16 EP16, decode 3 × TP16 EP16, batch 2` (the batch is each decode replica's).
fn inference_configuration(c: &Config) -> String {
    match c.disaggregate {
        Some(d) => format!(
            "prefill {} × {}, decode {} × {}, batch {}",
            d.prefill_replicas,
            c.prefill_layout().name(),
            d.decode_replicas,
            c.layout().name(),
            c.batch
        ),
        None => format!("{}, batch {}", c.layout().name(), c.batch),
    }
}

/// Where `max_batch` applies: the refusal when a case states it elsewhere.
const MAX_BATCH_PLACES: &str = "`max_batch` limits a fixed `concurrency` point, a frontier search or \
     the requests in flight of a max-throughput run of `requests`: use mode = \"fixed\" or \
     \"frontier\", or state `requests`";

/// A max-throughput run of `n` requests submitted at once (`requests`): the simulation
/// (`crate::sim`) of the whole run at the engine's own batch, every request it has room for: `n`,
/// the engine's limit per attention group (the case's `max_batch`, else trtllm-bench's from its
/// KV estimate, `trtllm_bench_max_batch`) or the largest batch that fits (`largest_fitting`,
/// where the KV cache binds), whichever is least; a smaller cap of the grid (down to half of it)
/// only where that one does not fit or run to the end. Its output tokens over the time from the
/// first start to the last end (the ramp, while the first prompts fill, and the drain, as the
/// last requests finish, included). Decode-only iterations replay the CUDA graphs the engine
/// captured from `cuda_graph_batch_sizes`, padded (`perf::decode::captured_batch_sizes`). Only
/// the output throughput is priced so.
fn finite_run(
    c: &Case,
    ctx: &Context,
    base: Config,
    largest_fitting: Option<u64>,
    n: u64,
    cuda_graph_batch_sizes: &[u64],
    run: impl Fn(&Config) -> Result<crate::perf::Estimate>,
) -> Result<crate::perf::Estimate> {
    if !["output_tokens_per_s", "output_tokens_per_s_per_gpu"].contains(&c.metric.as_str()) {
        bail!(
            "`requests` prices a run's output throughput (output_tokens_per_s or \
             output_tokens_per_s_per_gpu), not `{}`",
            c.metric
        );
    }
    if base.disaggregate.is_some() {
        bail!("`requests` simulates one aggregated replica: leave out `disaggregate`");
    }
    if base.batching == crate::perf::Batching::Static {
        bail!(
            "`requests` prices an in-flight-batching run (trtllm-bench); this case batches \
             statically (`batching` or its runtime profile)"
        );
    }
    // Every request arrives at the start (an infinite rate: every gap is 0).
    let workload = crate::sim::Workload {
        rate_per_s: f64::INFINITY,
        requests: n,
        seed: 1,
        step_budget: crate::sim::MAX_STEP_BUDGET,
    };
    // The engine's batch limit per attention group: the case's `max_batch`, else the one
    // trtllm-bench derives for a tuned quantisation from its KV estimate (the replica's requests,
    // the model's own capacity standing in for it), capped at `TRTLLM_BENCH_MAX_BATCH` over the
    // pipeline stages and rounded up; the KV cache itself binds below it.
    let kv_requests = largest_fitting.map_or(f64::INFINITY, |b| b as f64);
    let per_group = c
        .max_batch
        .unwrap_or_else(|| trtllm_bench_max_batch(kv_requests, base.pp));
    // A pipeline of `pp` stages keeps `pp` micro-batches in flight, each up to the engine's batch
    // limit: TensorRT-LLM's capacity scheduler admits `max_batch_size × pp` requests
    // (`trtGptModelInflightBatching.cpp`, `CapacityScheduler(getMaxBatchSize() * mNumMicroBatches)`,
    // `mNumMicroBatches = pp`).
    let limit = per_group
        .saturating_mul(base.dp)
        .saturating_mul(base.pp.max(1))
        .min(n);
    let top = largest_fitting.map_or(limit, |f| f.min(limit));
    let from = (top / 2).max(1);
    // The engine runs every request it has room for: its own batch, the largest cap, priced
    // first; a smaller one only where that one does not fit or run to the end.
    let caps = throughput_batches()
        .chain([limit])
        .chain(largest_fitting)
        .filter(|&b| b >= from && b <= limit)
        .collect::<std::collections::BTreeSet<_>>();
    let mut out: Option<crate::perf::Estimate> = None;
    let mut cut_short = false;
    for b in caps.into_iter().rev() {
        let cfg = Config { batch: b, ..base };
        let Ok(mut e) = run(&cfg) else { continue };
        if !e.fits {
            continue;
        }
        let mut sim_ctx = ctx.clone();
        sim_ctx.prefill_chunk_tokens = c.prefill_chunk.unwrap_or_else(|| {
            trtllm_bench_max_num_tokens(b, base.pp, base.input_len, base.output_len)
        });
        // The CUDA graphs the engine captured: the case's list up to its batch limit and token
        // budget (`perf::decode::captured_batch_sizes`).
        sim_ctx.cuda_graph_batch_sizes = crate::perf::decode::captured_batch_sizes(
            cuda_graph_batch_sizes,
            per_group,
            sim_ctx.prefill_chunk_tokens,
        );
        let s = crate::sim::simulate(&sim_ctx, &cfg, &workload);
        if s.completed < n {
            cut_short = true;
            continue;
        }
        e.output_tokens_per_s = s.output_tokens_per_s;
        e.output_tokens_per_s_per_gpu = s.output_tokens_per_s / e.gpus as f64;
        out = Some(e);
        break;
    }
    out.ok_or_else(|| {
        if cut_short {
            anyhow!(
                "requests = {}: the simulation ran out of its {} iterations; state fewer requests",
                crate::limits::grouped(n),
                crate::limits::grouped(crate::sim::MAX_STEP_BUDGET)
            )
        } else {
            anyhow!(
                "no batch of at most {} requests fits in memory",
                crate::limits::grouped(limit)
            )
        }
    })
}

/// The CUDA-graph batch list a case's run captured: its own, else its runtime profile's.
fn graph_list(c: &Case, rt: &Runtime) -> Vec<u64> {
    c.cuda_graph_batch_sizes
        .clone()
        .unwrap_or_else(|| rt.cuda_graph_batch_sizes())
}

/// trtllm-bench's cap on the batch it builds an engine for: `finetune_setting` takes the requests
/// its KV estimate holds, at most 4,096, over the pipeline stages ("Cap total batch size to avoid
/// decoder buffer size becoming too large", `bench/build/tuning.py`). A case's `max_batch`
/// replaces it (the LLM API's default 2,048 where trtllm-bench does not tune the quantisation).
const TRTLLM_BENCH_MAX_BATCH: u64 = 4096;

/// trtllm-bench's `max_batch_size` for a KV estimate of `kv_requests` requests and `pp` pipeline
/// stages: `min(kv_requests, TRTLLM_BENCH_MAX_BATCH)/pp` rounded up as `finetune_setting` rounds
/// (to 32, at least 64, below 256; to 128 below 1,024; to 256 above). The KV cache itself binds
/// below it; its rounding is the largest batch a CUDA-graph list pads to.
fn trtllm_bench_max_batch(kv_requests: f64, pp: u64) -> u64 {
    let raw = kv_requests.min(TRTLLM_BENCH_MAX_BATCH as f64) / pp.max(1) as f64;
    let round_up = |step: f64| (step * (raw / step).ceil()) as u64;
    if raw < 256.0 {
        round_up(32.0).max(64)
    } else if raw < 1024.0 {
        round_up(128.0)
    } else {
        round_up(256.0)
    }
}

/// The iteration token budget (`max_num_tokens`, per attention group) that trtllm-bench sets
/// when a run names none, for a replica that holds `cap` requests: from the requests the KV cache
/// holds, `raw = min(cap / pp × (1 + ISL/OSL), 32,768)`, rounded up to a multiple of 256 (at
/// least 2,048) below 4,096 tokens, of 512 below 8,192, of 1,024 above
/// (`bench/build/tuning.py`, `finetune_setting`); then, chunked prefill being off by default,
/// at least the longest prompt plus the batch, so a prompt is never split
/// (`bench/benchmark/utils/general.py`, `get_settings`).
fn trtllm_bench_max_num_tokens(cap: u64, pp: u64, input_len: u64, output_len: u64) -> u64 {
    let per_stage = cap as f64 / pp.max(1) as f64;
    let raw = (per_stage * (1.0 + input_len as f64 / output_len.max(1) as f64)).min(32768.0);
    let round_up = |step: f64| step * (raw / step).ceil();
    let tuned = if raw < 4096.0 {
        round_up(256.0).max(2048.0)
    } else if raw < 8192.0 {
        round_up(512.0)
    } else {
        round_up(1024.0)
    } as u64;
    tuned.max(input_len.saturating_add(per_stage.ceil() as u64))
}

#[cfg(test)]
mod trtllm_bench_tests {
    use super::trtllm_bench_max_batch;

    #[test]
    fn the_engine_limit_rounds_as_trtllm_bench_does() {
        // `finetune_setting` on a KV estimate above 4,096 requests: 4,096/pp, rounded up.
        let many = f64::INFINITY;
        assert_eq!(trtllm_bench_max_batch(many, 1), 4096);
        assert_eq!(trtllm_bench_max_batch(many, 2), 2048);
        assert_eq!(trtllm_bench_max_batch(many, 3), 1536); // 1,365.3 → 256 · 6
        assert_eq!(trtllm_bench_max_batch(many, 5), 896); // 819.2 → 128 · 7
        assert_eq!(trtllm_bench_max_batch(many, 32), 128);
        assert_eq!(trtllm_bench_max_batch(many, 100), 64); // 41 → at least 64
        // Below the cap the estimate itself, rounded up: `calc_engine_setting` for Llama-3.1-405B
        // fp8 (fp8 KV) on 8 H200 at 128 + 2,048 tokens estimates (8 · 131.3 GiB − 377.9 GiB) ·
        // 0.95 / (2 · 126 · 8 · 128 B · 2,176) = 1,222 requests: 256 · 5 = 1,280.
        assert_eq!(trtllm_bench_max_batch(1222.0, 1), 1280);
        assert_eq!(trtllm_bench_max_batch(375.0, 1), 384); // 128 · 3
        assert_eq!(trtllm_bench_max_batch(117.0, 1), 128); // 32 · 4
        assert_eq!(trtllm_bench_max_batch(40.0, 1), 64);
    }
}

/// How a `concurrency` point maps onto the model: the requests its busiest replicas hold beyond
/// the concurrency and the GPUs of the decode replicas it leaves idle.
#[derive(Clone, Copy, Debug, Default)]
struct FixedPoint {
    /// Requests the decode replicas hold: `c`, or their slots when `max_batch` queues the rest
    /// (0: not a concurrency point).
    requests: u64,
    /// Requests the busy replicas are priced with, `A·⌈c/A⌉` (`c` when it divides evenly).
    priced: u64,
    /// GPUs of the decode replicas without a request.
    idle_gpus: u64,
}

impl FixedPoint {
    /// The metric of the whole deployment at its concurrency: the output throughput counts only
    /// the requests in flight, per GPU also the idle replicas' GPUs; latencies and the per-user
    /// rate are the busiest replica's. Any other metric is refused there (a cost or a pool's own
    /// rate would need the idle GPUs charged to one pool), so no number is silently wrong.
    fn correct(&self, metric: &str, value: f64, gpus: u64) -> Result<f64> {
        if self.requests == self.priced && self.idle_gpus == 0 {
            return Ok(value);
        }
        let placed = self.requests as f64 / self.priced as f64;
        match metric {
            "ttft_s" | "tpot_s" | "e2e_s" | "output_tokens_per_s_per_user" => Ok(value),
            "output_tokens_per_s" => Ok(value * placed),
            "output_tokens_per_s_per_gpu" => {
                Ok(value * placed * gpus as f64 / (gpus + self.idle_gpus) as f64)
            }
            _ => bail!(
                "metric `{metric}` is not priced at a concurrency that leaves decode replicas idle or unevenly loaded (take output_tokens_per_s, its per-GPU or per-user rate, or a latency)"
            ),
        }
    }
}

/// A fixed case's configuration: its `batch`, or its `concurrency` spread over the decode
/// replicas. `c` requests over `D` decode replicas keep `A = min(c, D)` of them busy with
/// `⌈c/A⌉` each (the busiest replica's step paces the point); the other `D − A` replicas' GPUs
/// are counted idle. With `max_batch` the decode replicas hold at most `max_batch` requests per
/// attention group: a concurrency above the pool's slots fills every slot and queues the rest
/// (`Disaggregation::queued`). Without disaggregation the concurrency is the batch.
fn fixed_point(c: &Case, base: Config) -> Result<(Config, FixedPoint)> {
    let n = match (c.batch, c.concurrency) {
        (Some(_), Some(_)) => bail!("state `batch` or `concurrency`, not both"),
        (None, None) => bail!("inference case lacks `batch` (or `concurrency`)"),
        (Some(b), None) => {
            if c.max_batch.is_some() {
                bail!("`max_batch` limits a disaggregated `concurrency` point, not a `batch`");
            }
            return Ok((Config { batch: b, ..base }, FixedPoint::default()));
        }
        (None, Some(n)) => n,
    };
    crate::limits::flag_range("batch")
        .check("concurrency", n)
        .map_err(anyhow::Error::msg)?;
    let Some(d) = base.disaggregate else {
        if c.max_batch.is_some() {
            bail!("`max_batch` limits a disaggregated `concurrency` point (state `disaggregate`)");
        }
        return Ok((Config { batch: n, ..base }, FixedPoint::default()));
    };
    let busy = d.decode_replicas.min(n);
    let spread = n.div_ceil(busy);
    // The slots of one decode replica: the engine's limit in each attention group.
    let slots = c
        .max_batch
        .map_or(u64::MAX, |m| m.saturating_mul(base.dp.max(1)));
    let replica_gpus = base.tp * base.dp * base.pp;
    let idle_gpus = (d.decode_replicas - busy) * replica_gpus;
    if spread > slots {
        // Every replica full at its slots; the rest of the loop waits for one.
        return Ok((
            Config {
                batch: slots,
                disaggregate: Some(crate::perf::Disaggregation {
                    decode_replicas: busy,
                    queued: n - busy * slots,
                    ..d
                }),
                ..base
            },
            FixedPoint {
                requests: busy * slots,
                priced: busy * slots,
                idle_gpus,
            },
        ));
    }
    Ok((
        Config {
            batch: spread,
            disaggregate: Some(crate::perf::Disaggregation {
                decode_replicas: busy,
                ..d
            }),
            ..base
        },
        FixedPoint {
            requests: n,
            priced: busy * spread,
            idle_gpus,
        },
    ))
}

/// The (tp, dp, ep) layouts a frontier case allows: its own where it states `tp`, `dp` and `ep`;
/// otherwise every single-stage layout of its `gpus` GPUs, attention TP 1–8 times attention DP,
/// the experts over the whole stage (and, with DP 1, also split by the TP group).
fn frontier_layouts(c: &Case) -> Result<Vec<(u64, u64, u64)>> {
    if let (Some(tp), Some(dp), Some(ep)) = (c.tp, c.dp, c.ep) {
        return Ok(vec![(tp, dp, ep)]);
    }
    let gpus = c.gpus.ok_or_else(|| {
        anyhow!("frontier case needs `tp`, `dp` and `ep`, or `gpus` to search layouts over")
    })?;
    Ok([1u64, 2, 4, 8]
        .into_iter()
        .filter(|tp| gpus % tp == 0)
        .flat_map(|tp| {
            let dp = gpus / tp;
            match (tp, dp) {
                // One GPU: the experts are whole either way.
                (1, 1) => vec![(1, 1, 1)],
                (_, 1) => vec![(tp, 1, 1), (tp, 1, tp)],
                _ => vec![(tp, dp, gpus)],
            }
        })
        .collect())
}

fn evaluate_training(c: &Case, ctx: &Context, model: &str, rt: &Runtime) -> Result<Prediction> {
    let field = Field::parse::<TrainRow>(&c.metric).map_err(|e| anyhow!(e))?;
    let gpus = c
        .gpus
        .ok_or_else(|| anyhow!("training case lacks `gpus`"))?;
    let recompute = match c.recompute.as_deref() {
        None => Recompute::Selective,
        Some(r) => <Recompute as clap::ValueEnum>::from_str(r, true)
            .map_err(|_| anyhow!("recompute `{r}`"))?,
    };
    let recompute_modules = match &c.recompute_modules {
        None => crate::train::RecomputeModules::default(),
        Some(list) => crate::train::RecomputeModules::parse(&list.join(","))
            .map_err(|e| anyhow!("recompute_modules {e}"))?,
    };
    let cuda_graph_scope = match &c.cuda_graph_scope {
        None => crate::train::CudaGraphScope::default(),
        Some(list) => crate::train::CudaGraphScope::parse(&list.join(","))
            .map_err(|e| anyhow!("cuda_graph_scope: {e}"))?,
    };
    if recompute == Recompute::Full && !recompute_modules.is_empty() {
        bail!(
            "recompute_modules apply beside recompute none or selective (full re-runs every module)"
        );
    }
    let attention = match c.attention.as_deref() {
        None => rt.attention(),
        Some("flash") => AttentionImpl::Flash,
        Some("eager") => AttentionImpl::Eager,
        Some(a) => bail!("attention `{a}` must be flash or eager"),
    };
    let base = TrainConfig {
        gpus,
        tp: 1,
        pp: 1,
        ep: c.ep.unwrap_or(1),
        micro_batch: 1,
        global_batch_tokens: c.global_batch_tokens.unwrap_or(4_194_304.0),
        seq_len: c.seq_len.unwrap_or(2048),
        zero: c.zero.unwrap_or(1),
        recompute,
        recompute_modules,
        cuda_graph_scope,
        dtype: c.dtype,
        tokens: c.tokens.unwrap_or(1e12),
        interleave: c.interleave.unwrap_or(1),
        dp_overlap: rt.dp_overlap(),
        grad_reduce: c.grad_reduce.unwrap_or_else(|| rt.grad_reduce()),
        attention,
        sequence_parallel: c
            .sequence_parallel
            .unwrap_or_else(|| rt.train_sequence_parallel()),
        zero3_fetch: c.zero3_fetch.unwrap_or_else(|| rt.zero3_fetch()),
        ep_dispatcher: c.ep_dispatcher.unwrap_or_else(|| rt.ep_dispatcher()),
        ep_overlap: c.ep_overlap.unwrap_or_else(|| rt.ep_overlap()),
        grad_overlap: c.grad_overlap.unwrap_or_else(|| rt.grad_overlap()),
        tp_overlap: c.tp_overlap.unwrap_or_else(|| rt.tp_overlap()),
        mtp_layers: c.mtp_layers.unwrap_or(0),
        last_stage_layers: c.last_stage_layers,
        mfu: None,
        reliability: None,
    };
    // A case without a layout (or micro-batch) is run at the planner's fastest one that fits.
    let micro_batches: Vec<u64> = match c.micro_batch {
        Some(mb) => vec![mb],
        None => vec![1, 2, 4, 8, 16],
    };
    let layouts: Vec<(u64, u64, u64)> = match (c.tp, c.pp) {
        (Some(tp), Some(pp)) => micro_batches.iter().map(|mb| (tp, pp, *mb)).collect(),
        _ => [1, 2, 4, 8]
            .iter()
            .flat_map(|t| [1, 2, 4, 8, 16].map(|p| (*t, p)))
            .flat_map(|(t, p)| micro_batches.iter().map(move |mb| (t, p, *mb)))
            .collect(),
    };
    let mut best: Option<crate::train::TrainEstimate> = None;
    let mut last_err = None;
    for (tp, pp, micro_batch) in layouts {
        let cfg = TrainConfig {
            tp,
            pp,
            micro_batch,
            ..base
        };
        if let (Some(dp), true) = (c.dp, c.tp.is_some()) {
            if dp != cfg.dp() {
                bail!("dp {dp} ≠ gpus {gpus} / (tp {tp} × pp {pp}) = {}", cfg.dp());
            }
        }
        match train::check(ctx, &cfg) {
            Ok(()) => {
                let e = train::estimate(ctx, &cfg);
                let better = best
                    .as_ref()
                    .is_none_or(|b| (e.fits, -e.step_time_s) > (b.fits, -b.step_time_s));
                if better {
                    best = Some(e);
                }
            }
            Err(Reject::Invalid(m) | Reject::Skip(m)) => last_err = Some(m),
        }
    }
    let e = best.ok_or_else(|| anyhow!(last_err.unwrap_or_else(|| "no layout".into())))?;
    let row = TrainRow::new(model, &c.gpu, &e);
    let t = &e.config;
    Ok(Prediction {
        value: number(field.get(&row), &c.metric)?,
        fits: e.fits,
        configuration: format!(
            "TP{} × PP{} × DP{}, EP{}, micro-batch {}, {} virtual stage(s)",
            t.tp,
            t.pp,
            t.dp(),
            t.ep,
            t.micro_batch,
            t.interleave
        ),
    })
}

/// Read cases from a file path, or the built-in suite.
pub fn load_cases(path: Option<&str>) -> Result<Vec<Case>> {
    load_suite(path, Suite::All)
}

/// The presets the cases load, for scoped `--set` overrides: each model (its preset name, or a
/// `model_spec`'s `name`, else the case id) and each GPU.
pub fn loaded_presets(cases: &[Case]) -> Vec<(presets::Kind, Vec<String>)> {
    let mut v = Vec::new();
    for c in cases {
        let model = match (&c.model, &c.model_spec) {
            (Some(name), _) => name.clone(),
            (None, Some(spec)) => spec
                .get("name")
                .and_then(|v| v.as_str())
                .map_or_else(|| c.id.clone(), str::to_string),
            (None, None) => continue,
        };
        v.push((presets::Kind::Model, vec![model]));
        v.push((presets::Kind::Gpu, vec![c.gpu.clone()]));
    }
    v.sort_by(|a, b| a.1.cmp(&b.1));
    v.dedup();
    v
}

/// Read cases from a file path, or the built-in `suite`.
pub fn load_suite(path: Option<&str>, suite: Suite) -> Result<Vec<Case>> {
    let tagged = |name: &str, text: &str| -> Result<Vec<Case>> {
        let mut cases = parse_cases(&format!("built-in validation/{name}.toml"), text)?;
        for c in &mut cases {
            c.suite = name.to_string();
        }
        Ok(cases)
    };
    match (path, suite) {
        (Some(p), _) => {
            let text = crate::presets::read_file(p, "case")?;
            let mut cases = parse_cases(p, &text)?;
            for c in &mut cases {
                c.suite = p.to_string();
            }
            Ok(cases)
        }
        (None, Suite::Public) => tagged("public", PUBLIC_CASES),
        (None, Suite::Moe) => tagged("moe", MOE_CASES),
        (None, Suite::Frontier) => tagged("frontier", FRONTIER_CASES),
        (None, Suite::Latency) => tagged("latency", LATENCY_CASES),
        (None, Suite::Mlperf) => tagged("mlperf", MLPERF_CASES),
        (None, Suite::All) => {
            let mut cases = tagged("public", PUBLIC_CASES)?;
            cases.extend(tagged("moe", MOE_CASES)?);
            Ok(cases)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{at_the_floor, trtllm_bench_max_num_tokens};
    use crate::testutil::assert_close;

    #[test]
    fn the_floor_between_two_batches_reads_their_mix() {
        // Batch 4 serves 150 tokens/s per user at 10 tokens/s per GPU, batch 5 140 at 12, floor
        // 144: a share f of the time at batch 5 puts 5f of every 4(1 − f) + 5f requests at 140,
        // so 4(1 − f)·6 = 5f·4, f = 24/44 = 6/11, and the value 10 + 2·6/11.
        let inf = f64::INFINITY;
        let (v, mean) = at_the_floor((150.0, 10.0), (140.0, 12.0), 144.0, 4, inf);
        assert_close(v, 10.0 + 12.0 / 11.0, 1e-12);
        assert_close(mean.unwrap(), 4.0 + 6.0 / 11.0, 1e-12);
        // The per-user rate the requests see at that mix is the floor.
        let f = 6.0 / 11.0;
        let (r0, r1) = (4.0 * (1.0 - f), 5.0 * f);
        assert_close((r0 * 150.0 + r1 * 140.0) / (r0 + r1), 144.0, 1e-12);
        // Held to the run's requests: at most 4.25 on average.
        let (v, mean) = at_the_floor((150.0, 10.0), (140.0, 12.0), 144.0, 4, 4.25);
        assert_close(v, 10.5, 1e-12);
        assert_close(mean.unwrap(), 4.25, 1e-12);
        // At the first batch's own tokens/s per user, or with no room above it: that batch.
        for (floor, most) in [(150.0, inf), (144.0, 4.0)] {
            assert_eq!(
                at_the_floor((150.0, 10.0), (140.0, 12.0), floor, 4, most),
                (10.0, None)
            );
        }
        // A next batch that gives no more, one that meets the floor too, or no number: the
        // batch stands.
        for misses in [(140.0, 9.0), (145.0, 12.0), (f64::NAN, 12.0)] {
            assert_eq!(
                at_the_floor((150.0, 10.0), misses, 144.0, 4, inf),
                (10.0, None)
            );
        }
    }

    #[test]
    fn trtllm_bench_sizes_the_token_budget_from_the_batch_and_the_longest_prompt() {
        // bench/build/tuning.py `finetune_setting` and bench/benchmark/utils/general.py, by
        // hand: 3,000 requests at 1k/1k → 6,000 tokens → a multiple of 512 → 6,144 (more than
        // 1,024 + 3,000); 64 at 8k/1k → 576 → 2,048, raised to the prompt plus the batch, 8,256;
        // 4,096 at 1k/1k → 8,192 → a multiple of 1,024; 4,096 at 32k/1k → capped at 32,768, then
        // raised to 32,768 + 4,096; PP 2 halves the requests a stage holds.
        assert_eq!(trtllm_bench_max_num_tokens(3000, 1, 1024, 1024), 6144);
        assert_eq!(trtllm_bench_max_num_tokens(64, 1, 8192, 1024), 8256);
        assert_eq!(trtllm_bench_max_num_tokens(4096, 1, 1024, 1024), 8192);
        assert_eq!(trtllm_bench_max_num_tokens(4096, 1, 32768, 1024), 36864);
        assert_eq!(trtllm_bench_max_num_tokens(1000, 2, 128, 128), 2048);
    }
}
