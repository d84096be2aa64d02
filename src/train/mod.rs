//! The training model as pure functions (docs/methodology.md §13–§17): FLOPs (6·N·D, plus
//! attention and recomputation as hardware FLOPs), memory per GPU under ZeRO and activation
//! recomputation, step time from compute, the pipeline bubble and the TP, PP, DP and EP
//! communication, and the wall-clock days a run takes with failures and checkpoints.

pub mod goodput;
pub mod memory;
pub mod moe;
pub mod overlap;
pub mod step;

use crate::dtype::Dtype;
use crate::perf::Context;
use crate::units;
use clap::ValueEnum;
pub use goodput::Reliability;
pub use memory::TrainMemory;
pub use moe::MoeLayer;
use serde::{Deserialize, Serialize};
pub use step::StepTime;

/// Activation recomputation (Korthikanti et al. 2022).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Recompute {
    /// Keep every activation (attention scores materialised).
    None,
    /// Recompute the attention core (FlashAttention behaves the same way).
    Selective,
    /// Keep only each layer's input; recompute the whole forward pass in the backward pass.
    Full,
}

impl Recompute {
    /// Name as printed.
    pub fn name(self) -> &'static str {
        match self {
            Recompute::None => "none",
            Recompute::Selective => "selective",
            Recompute::Full => "full",
        }
    }
}

/// Megatron-Core's `recompute_modules` beside the attention core (`Recompute::Selective`):
/// submodules re-run in the backward pass with their outputs discarded after use (Megatron-Core
/// `TransformerConfig.recompute_modules`; Megatron-Bridge's performance recipes name them, e.g.
/// `layernorm` and `moe_act` for gpt-oss, `mla_up_proj` for DeepSeek-V3). Under full
/// recomputation every module is re-run anyway.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecomputeModules {
    /// The two RMSNorms of a layer (input and pre-MLP): re-run, outputs not kept.
    pub layernorm: bool,
    /// The routed experts' activation (the GLU between fc1 and fc2): re-run, output not kept.
    pub moe_act: bool,
    /// MLA's query and key/value up-projections and rotary: re-run, outputs not kept.
    pub mla_up_proj: bool,
    /// The dense layers' MLP (not the MoE layers'): re-run from its input.
    pub mlp: bool,
}

impl RecomputeModules {
    /// The module names, as Megatron-Core spells them.
    pub const NAMES: [&'static str; 4] = ["layernorm", "moe_act", "mla_up_proj", "mlp"];

    /// A comma list of module names; `none` or nothing for none.
    pub fn parse(text: &str) -> Result<Self, String> {
        let [layernorm, moe_act, mla_up_proj, mlp] = parse_name_list(
            text,
            Self::NAMES,
            "module",
            &[("core_attn", "the attention core is `--recompute selective`")],
        )?;
        Ok(RecomputeModules {
            layernorm,
            moe_act,
            mla_up_proj,
            mlp,
        })
    }

    /// No module.
    pub fn is_empty(self) -> bool {
        self == RecomputeModules::default()
    }

    /// The modules as a comma list, or `none`.
    pub fn name(self) -> String {
        name_list(
            Self::NAMES,
            [self.layernorm, self.moe_act, self.mla_up_proj, self.mlp],
        )
    }
}

/// A comma list of `names` (`none` or nothing for none) as one flag each; a name of `refused`
/// gets its own message, any other unknown name the list of allowed ones (`what` names a member).
fn parse_name_list<const N: usize>(
    text: &str,
    names: [&str; N],
    what: &str,
    refused: &[(&str, &str)],
) -> Result<[bool; N], String> {
    let mut on = [false; N];
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if part == "none" {
            continue;
        }
        if let Some(i) = names.iter().position(|n| *n == part) {
            on[i] = true;
        } else if let Some((name, why)) = refused.iter().find(|(n, _)| *n == part) {
            return Err(format!("`{name}`: {why}"));
        } else {
            return Err(format!(
                "`{}`: not a {what} (allowed: {}, or none)",
                crate::limits::clip(part),
                names.join(", ")
            ));
        }
    }
    Ok(on)
}

/// The flags that are on, as a comma list of their names, or `none`.
fn name_list<const N: usize>(names: [&str; N], on: [bool; N]) -> String {
    let set: Vec<&str> = names
        .iter()
        .zip(on)
        .filter(|(_, on)| *on)
        .map(|(n, _)| *n)
        .collect();
    if set.is_empty() {
        "none".to_string()
    } else {
        set.join(",")
    }
}

/// Transformer Engine CUDA graphs over parts of every layer (Megatron-Core `cuda_graph_impl =
/// "transformer_engine"` with `cuda_graph_scope`, as Megatron-Bridge's performance recipes set
/// them): each captured module runs forward and backward from one graph replay, so the host
/// issues one call for it instead of its operators. The routed experts, whose token counts change
/// every step, stay eager. A whole step replayed from one graph (`full_iteration`) is the runtime
/// profile's `host_op_scale = 0`; token-dropping MoE graphs (`moe`) are not priced here (the
/// model's dispatch is dropless).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CudaGraphScope {
    /// The attention block: input norm, QKV and output projections, rotary, attention, residual.
    pub attn: bool,
    /// The dense layers' MLP. The model prices no host time for dense layers (no sync: the CPU
    /// runs ahead of them), so it changes nothing; accepted as recipes name it.
    pub mlp: bool,
    /// The pre-MLP norm and the router: its GEMM, scores, top-k and auxiliary loss.
    pub moe_router: bool,
    /// The token dispatcher's preprocessing: token counts, split sizes and the routing map
    /// (captured with the router: Megatron-Core requires `moe_router` beside it).
    pub moe_preprocess: bool,
}

impl CudaGraphScope {
    /// The scope names, as Megatron-Core spells them.
    pub const NAMES: [&'static str; 4] = ["attn", "mlp", "moe_router", "moe_preprocess"];

    /// A comma list of scope names; `none` or nothing for none (an eager layer).
    pub fn parse(text: &str) -> Result<Self, String> {
        let [attn, mlp, moe_router, moe_preprocess] = parse_name_list(
            text,
            Self::NAMES,
            "scope",
            &[
                (
                    "full_iteration",
                    "a step replayed from one graph is a runtime profile's `host_op_scale = 0` (e.g. --runtime megatron-bridge-26.08)",
                ),
                (
                    "moe",
                    "graphs a token-dropping MoE layer (static shapes); the model prices dropless dispatch, whose experts stay eager (use moe_router,moe_preprocess)",
                ),
            ],
        )?;
        if moe_preprocess && !moe_router {
            return Err(
                "`moe_preprocess` needs `moe_router` beside it (Megatron-Core captures the preprocessing with the router)"
                    .to_string(),
            );
        }
        Ok(CudaGraphScope {
            attn,
            mlp,
            moe_router,
            moe_preprocess,
        })
    }

    /// No scope: every operator is issued eagerly.
    pub fn is_empty(self) -> bool {
        self == CudaGraphScope::default()
    }

    /// The scopes as a comma list, or `none`.
    pub fn name(self) -> String {
        name_list(
            Self::NAMES,
            [self.attn, self.mlp, self.moe_router, self.moe_preprocess],
        )
    }
}

/// How attention is computed in training.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum AttentionImpl {
    /// Fused, tiled, causal (FlashAttention, Dao et al. 2022): scores never reach HBM and the
    /// masked half is skipped.
    Flash,
    /// Unfused (Megatron-LM 2021): the full s×s scores are computed, written, soft-maxed and
    /// dropped out in HBM.
    Eager,
}

/// How ZeRO-3 gathers parameters: how many collectives per layer and pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Zero3Fetch {
    /// One collective per transformer block (PyTorch FSDP wrapped per block; DeepSpeed with
    /// coalesced prefetch).
    #[default]
    Block,
    /// One per parameterised module: QKV, attention output, the two FFN matrices and the two
    /// norms (DeepSpeed ZeRO-3 as in 2021).
    Module,
}

impl Zero3Fetch {
    /// Collectives per layer and pass.
    pub fn per_layer(self) -> f64 {
        match self {
            Zero3Fetch::Block => 1.0,
            Zero3Fetch::Module => 6.0,
        }
    }
}

/// The precision data-parallel gradients are reduced in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GradReduce {
    /// Megatron-LM's rule: fp32 unless the run trains in fp16, whose gradients are reduced in fp16
    /// (Megatron forces `accumulate_allreduce_grads_in_fp32` for bf16 only).
    #[default]
    Auto,
    /// fp32 (4 bytes a value): Megatron-LM with bf16, NeMo and Megatron-Bridge
    /// (`grad_reduce_in_fp32=True`), torchtitan, Llama 3 (§3.3.2), PyTorch FSDP's `DEFAULT` mixed
    /// precision.
    Fp32,
    /// The weights' precision (2 bytes in bf16/fp16/fp8 training): PyTorch FSDP `PURE`
    /// (llm-foundry's MPT configurations), DeepSpeed's default.
    Param,
}

impl GradReduce {
    /// Bytes of one reduced gradient value in a run whose matmuls run in `dtype` and whose weights
    /// take `weight_bytes`.
    pub fn bytes(self, dtype: Dtype, weight_bytes: f64) -> f64 {
        match self {
            GradReduce::Auto if dtype == Dtype::Fp16 => weight_bytes,
            GradReduce::Auto | GradReduce::Fp32 => 4.0,
            GradReduce::Param => weight_bytes,
        }
    }
}

/// How tokens reach the routed experts (Megatron-Core `--moe-token-dispatcher-type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EpDispatcher {
    /// Megatron-Core's default: every token is permuted into one copy per routed expert and the
    /// copies move in one NCCL all-to-all over the expert-parallel group.
    #[default]
    Alltoall,
    /// `flex` (DeepEP, HybridEP): one copy per expert-parallel rank a token reaches, one per node
    /// over the network; node-limited routing cuts the network traffic.
    Flex,
}

/// Whether the expert-parallel all-to-alls overlap compute.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EpOverlap {
    /// Megatron-Core's default: the all-to-alls wait for, and are waited for by, the compute.
    #[default]
    None,
    /// One micro-batch's all-to-alls run under another's compute (Megatron-Core
    /// `--overlap-moe-expert-parallel-comm` with `--delay-wgrad-compute`; DeepSeek's DualPipe),
    /// each hidden under the independent work beside it in Megatron's combined 1F1B order.
    MicroBatch,
}

/// Whether the data-parallel gradient and parameter traffic overlaps compute.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GradOverlap {
    /// Megatron-Core's DDP default: the gradients are reduced after the step's last backward
    /// pass and the updated weights gathered before the next step, exposed.
    #[default]
    None,
    /// Megatron-Core `--overlap-grad-reduce` with `--overlap-param-gather` (Megatron-Bridge's
    /// default with data parallelism): each bucket of gradients is reduced as soon as the last
    /// micro-batch's backward pass has produced it, and each bucket of updated weights gathered
    /// during the next step's first forward pass; hidden up to that one micro-batch's backward
    /// (forward) time, less the last (first) bucket.
    Bucketed,
}

/// Whether the tensor-parallel collectives overlap the GEMMs beside them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TpOverlap {
    /// Megatron-Core's default: each all-gather and reduce-scatter (or all-reduce) runs between
    /// the GEMMs, exposed.
    #[default]
    None,
    /// Transformer Engine's userbuffers (`--tp-comm-overlap`, NeMo `ub_tp_comm_overlap`): each
    /// collective is split into chunks pipelined with the GEMM that consumes or produces it,
    /// hidden up to the layer's GEMM time.
    Gemm,
}

/// One training configuration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainConfig {
    /// GPUs in the job.
    pub gpus: u64,
    /// Tensor-parallel degree (with sequence parallelism).
    pub tp: u64,
    /// Pipeline-parallel degree.
    pub pp: u64,
    /// Expert-parallel degree, carved out of the data-parallel (and, past dp, the TP) ranks.
    pub ep: u64,
    /// Sequences per micro-batch.
    pub micro_batch: u64,
    /// Tokens per optimizer step.
    pub global_batch_tokens: f64,
    /// Tokens per sequence.
    pub seq_len: u64,
    /// ZeRO stage 0–3.
    pub zero: u8,
    /// Activation recomputation.
    pub recompute: Recompute,
    /// Submodules recomputed beside `recompute` (Megatron-Core `recompute_modules`).
    pub recompute_modules: RecomputeModules,
    /// The layer's modules replayed from Transformer Engine CUDA graphs (none: eager).
    pub cuda_graph_scope: CudaGraphScope,
    /// Matmul precision (mixed precision: bf16 weights and grads, fp32 optimizer states).
    pub dtype: Dtype,
    /// Tokens in the whole run.
    pub tokens: f64,
    /// Model chunks per GPU in the interleaved 1F1B schedule (1 = plain 1F1B).
    pub interleave: u64,
    /// Fraction of the data-parallel gradient traffic hidden behind the backward pass.
    pub dp_overlap: f64,
    /// Whether the data-parallel traffic is bucketed and overlapped (before `dp_overlap`).
    pub grad_overlap: GradOverlap,
    /// The precision gradients are reduced in.
    pub grad_reduce: GradReduce,
    /// Attention kernel.
    pub attention: AttentionImpl,
    /// Sequence parallelism (Korthikanti et al. 2022): norms, dropouts and residuals sharded
    /// across the TP group instead of replicated.
    pub sequence_parallel: bool,
    /// ZeRO-3 parameter-gather granularity.
    pub zero3_fetch: Zero3Fetch,
    /// How tokens reach the routed experts.
    pub ep_dispatcher: EpDispatcher,
    /// Whether the expert-parallel all-to-alls overlap another micro-batch's compute.
    pub ep_overlap: EpOverlap,
    /// Whether the tensor-parallel collectives overlap their GEMMs.
    pub tp_overlap: TpOverlap,
    /// Multi-token-prediction depths trained with the model (DeepSeek-V3 §2.2): each one more
    /// transformer layer, a `2d → d` projection and another pass of the output head, on the last
    /// pipeline stage. Not counted in the model FLOPs (6·N·D); counted in the hardware FLOPs.
    pub mtp_layers: u64,
    /// Layers on the last pipeline stage (Megatron-Core `--decoder-last-pipeline-num-layers`),
    /// the others splitting the rest; None splits all layers evenly, extra layers first.
    pub last_stage_layers: Option<u64>,
    /// Impose this MFU instead of modelling the step time.
    pub mfu: Option<f64>,
    /// Failures, checkpoints and restarts (None = a run that never fails).
    pub reliability: Option<Reliability>,
}

impl TrainConfig {
    /// The CUDA graph scopes in force: none under full recomputation, which Megatron-Core runs
    /// only without partial graphs (a layer graphed whole is a runtime profile).
    pub fn effective_cuda_graph_scope(&self) -> CudaGraphScope {
        if self.recompute == Recompute::Full {
            CudaGraphScope::default()
        } else {
            self.cuda_graph_scope
        }
    }

    /// The recomputed modules that cost anything: none under full recomputation, which re-runs
    /// every module anyway.
    pub fn effective_recompute_modules(&self) -> RecomputeModules {
        if self.recompute == Recompute::Full {
            RecomputeModules::default()
        } else {
            self.recompute_modules
        }
    }

    /// A configuration with the common defaults: no expert parallelism, one sequence per
    /// micro-batch, ZeRO-1, selective recomputation, plain 1F1B, no DP overlap, gradients reduced
    /// in fp32 (fp16 in fp16 runs), FlashAttention, sequence parallelism, Megatron's `alltoall`
    /// dispatcher without EP or TP overlap, a modelled (not imposed) MFU and no failures.
    pub fn new(
        gpus: u64,
        tp: u64,
        pp: u64,
        global_batch_tokens: f64,
        seq_len: u64,
        tokens: f64,
        dtype: Dtype,
    ) -> Self {
        TrainConfig {
            gpus,
            tp,
            pp,
            ep: 1,
            micro_batch: 1,
            global_batch_tokens,
            seq_len,
            zero: 1,
            recompute: Recompute::Selective,
            recompute_modules: RecomputeModules::default(),
            cuda_graph_scope: CudaGraphScope::default(),
            dtype,
            tokens,
            interleave: 1,
            dp_overlap: 0.0,
            grad_overlap: GradOverlap::None,
            grad_reduce: GradReduce::Auto,
            attention: AttentionImpl::Flash,
            sequence_parallel: true,
            zero3_fetch: Zero3Fetch::Block,
            ep_dispatcher: EpDispatcher::Alltoall,
            ep_overlap: EpOverlap::None,
            tp_overlap: TpOverlap::None,
            mtp_layers: 0,
            last_stage_layers: None,
            mfu: None,
            reliability: None,
        }
    }

    /// Data-parallel degree: ⌊gpus / (tp · pp)⌋.
    pub fn dp(&self) -> u64 {
        self.gpus / (self.tp * self.pp).max(1)
    }
    /// GPUs that train: dp · tp · pp (the rest of `gpus`, if any, idle).
    pub fn used_gpus(&self) -> u64 {
        self.dp() * self.tp * self.pp
    }
    /// GPUs sharing one expert shard's parameters: tp · min(ep, dp).
    pub fn expert_shards(&self) -> u64 {
        self.tp * self.ep.min(self.dp())
    }
}

/// The result of one training configuration.
#[derive(Clone, Copy, Debug)]
pub struct TrainEstimate {
    /// The configuration.
    pub config: TrainConfig,
    /// Micro-batches per step per pipeline.
    pub micro_batches: f64,
    /// Memory on the heaviest GPU.
    pub memory: TrainMemory,
    /// Fits in HBM.
    pub fits: bool,
    /// Model FLOPs of the whole run: 6·N·D (3 × the forward parameter FLOPs per token × tokens).
    pub total_flops: f64,
    /// Attention-score FLOPs of the whole run (forward and backward, causal).
    pub attention_flops: f64,
    /// Where one step's time goes.
    pub step: StepTime,
    /// Seconds per optimizer step.
    pub step_time_s: f64,
    /// Training tokens per second.
    pub tokens_per_s: f64,
    /// Model TFLOP/s per GPU.
    pub tflops_per_gpu: f64,
    /// Model FLOPs utilisation against the dense peak of the chosen dtype.
    pub mfu: f64,
    /// Hardware TFLOP/s per GPU (adds attention and recomputation).
    pub hw_tflops_per_gpu: f64,
    /// Hardware FLOPs utilisation.
    pub hfu: f64,
    /// (p−1)/(v·m + p − 1) of the modelled schedule; 0 with `--mfu` (the given MFU holds the
    /// bubble, and the step has no pipeline term).
    pub bubble_fraction: f64,
    /// Useful fraction of wall time after failures and checkpoints.
    pub goodput: f64,
    /// Wall-clock days.
    pub train_days: f64,
    /// GPU-hours.
    pub gpu_hours: f64,
    /// USD.
    pub cost_usd: f64,
    /// Model TFLOP/s per GPU counting causal attention as Megatron-LM (2024 on) and
    /// Megatron-Bridge do: `tflops_per_gpu` plus `3·4·L·n_h·d_h·(s/2)` per token.
    pub tflops_per_gpu_causal: f64,
    /// MFU under the same convention.
    pub mfu_causal: f64,
    /// Model TFLOP/s per GPU counting full (non-causal) attention as NeMo 24.x, MegaScale,
    /// llm-foundry and PaLM do (`6N + 12·L·d·s`): `tflops_per_gpu` plus `3·4·L·n_h·d_h·s` per token.
    pub tflops_per_gpu_full_attn: f64,
    /// MFU under the same convention.
    pub mfu_full_attn: f64,
}

impl TrainEstimate {
    /// Whether the hardware could run this estimate: an imposed MFU (`--mfu`) can ask for more
    /// FLOPs than the GPU's peak once recomputation and attention are added (HFU above 1).
    pub fn runs(&self) -> bool {
        self.hfu <= 1.0 + 1e-9
    }

    /// The highest MFU this configuration could reach with every FLOP at the GPU's peak (HFU 1),
    /// rounded down to three decimals, so that the value printed runs.
    pub fn mfu_ceiling(&self) -> f64 {
        (1000.0 * self.mfu / self.hfu).floor() / 1000.0
    }

    /// `Err` with one line naming the first number field that is not finite or is negative, its
    /// value and the configuration: an impossible result is an error, never printed.
    pub fn check_finite(&self, model: &str, gpu: &str) -> Result<(), String> {
        let m = &self.memory;
        let found = [
            ("mem_bytes_per_gpu", m.total_bytes()),
            ("total_flops", self.total_flops),
            ("step_time_s", self.step_time_s),
            ("tokens_per_s", self.tokens_per_s),
            ("tflops_per_gpu", self.tflops_per_gpu),
            ("mfu", self.mfu),
            ("hw_tflops_per_gpu", self.hw_tflops_per_gpu),
            ("hfu", self.hfu),
            ("bubble_fraction", self.bubble_fraction),
            ("goodput", self.goodput),
            ("train_days", self.train_days),
            ("gpu_hours", self.gpu_hours),
            ("cost_usd", self.cost_usd),
            ("tflops_per_gpu_causal", self.tflops_per_gpu_causal),
            ("mfu_causal", self.mfu_causal),
            ("tflops_per_gpu_full_attn", self.tflops_per_gpu_full_attn),
            ("mfu_full_attn", self.mfu_full_attn),
        ]
        .into_iter()
        .find(|(_, v)| !(v.is_finite() && *v >= 0.0));
        let Some((field, v)) = found else {
            return Ok(());
        };
        let c = &self.config;
        Err(format!(
            "{field} came out as {v} for {model} on {gpu}, {} GPUs, tp {} × pp {} × dp {}, micro-batch {}, {}: an input is outside the range the model handles (check --set values and preset fields)",
            c.gpus,
            c.tp,
            c.pp,
            c.dp(),
            c.micro_batch,
            c.dtype
        ))
    }
}

/// Why a training configuration cannot be evaluated.
pub use crate::perf::Reject;

/// Check a training configuration against the model and hardware.
pub fn check(ctx: &Context, c: &TrainConfig) -> Result<(), Reject> {
    let invalid = |s: String| Err(Reject::Invalid(s));
    // The documented ranges, each from 1 but `mtp-layers` from 0 (a validation case bypasses the
    // flags' own checks).
    for (f, v) in [
        ("gpus", c.gpus),
        ("tp", c.tp),
        ("pp", c.pp),
        ("ep", c.ep),
        ("micro-batch", c.micro_batch),
        ("seq-len", c.seq_len),
        ("interleave", c.interleave),
        ("mtp-layers", c.mtp_layers),
    ] {
        if let Err(e) = crate::limits::check_flag(f, v) {
            return invalid(e);
        }
    }
    for (f, v) in [
        ("global-batch-tokens", c.global_batch_tokens),
        ("tokens", c.tokens),
        ("dp-overlap", c.dp_overlap),
    ] {
        if let Err(e) = crate::limits::check_float_flag(f, v) {
            return invalid(e);
        }
    }
    if c.tokens < c.global_batch_tokens {
        return invalid(format!(
            "--tokens {}: must be at least --global-batch-tokens {} (one optimizer step)",
            crate::limits::short(c.tokens),
            crate::limits::short(c.global_batch_tokens)
        ));
    }
    if let Some(last) = c.last_stage_layers
        && let Err(e) = crate::limits::check_flag("last-stage-layers", last)
    {
        return invalid(e);
    }
    if let Some(m) = c.mfu
        && let Err(e) = crate::limits::check_float_flag("mfu", m)
    {
        return invalid(e);
    }
    if let Some(r) = &c.reliability {
        for (f, v) in [
            ("gpu-mtbf-hours", Some(r.gpu_mtbf_hours)),
            ("checkpoint-interval-s", r.checkpoint_interval_s),
            ("checkpoint-write-s", Some(r.checkpoint_write_s)),
            ("restart-s", Some(r.restart_s)),
        ] {
            if let Some(v) = v
                && let Err(e) = crate::limits::check_float_flag(f, v)
            {
                return invalid(e);
            }
        }
    }
    if c.zero > 3 {
        return invalid(format!("--zero {}: must be 0, 1, 2 or 3", c.zero));
    }
    if matches!(
        c.dtype,
        Dtype::Int8 | Dtype::Int4 | Dtype::Nvfp4 | Dtype::Mxfp4
    ) {
        return invalid(format!(
            "--dtype {}: training runs in fp32, bf16, fp16 or fp8",
            c.dtype
        ));
    }
    match ctx.math(c.dtype) {
        Some((d, _)) if d == c.dtype => {}
        _ => {
            return invalid(format!(
                "--dtype {}: this GPU has no {} tensor-core rate (gpu.tflops.{})",
                c.dtype, c.dtype, c.dtype
            ));
        }
    }
    if ctx.heads % c.tp != 0 {
        return invalid(format!(
            "--tp {}: must divide the model's {} attention heads",
            c.tp, ctx.heads
        ));
    }
    if c.pp > ctx.layers {
        return invalid(format!(
            "--pp {}: must be at most the model's {} layers",
            c.pp, ctx.layers
        ));
    }
    if ctx.experts <= 1 && c.ep > 1 {
        return invalid(format!(
            "--ep {}: the model is dense (no routed experts), so expert parallelism must be 1",
            c.ep
        ));
    }
    if ctx.experts % c.ep != 0 {
        return invalid(format!(
            "--ep {}: must divide the model's {} experts",
            c.ep, ctx.experts
        ));
    }
    if c.seq_len > ctx.max_context {
        return invalid(format!(
            "--seq-len {}: exceeds the model's {}-token context (raise it with --set model.max_context=N)",
            c.seq_len, ctx.max_context
        ));
    }
    let skip = |s: String| Err(Reject::Skip(s));
    if c.gpus < c.tp * c.pp {
        return skip(format!(
            "--gpus {} is fewer than tp {} × pp {}",
            c.gpus, c.tp, c.pp
        ));
    }
    let dp = c.dp();
    let ep_fits = if c.ep <= dp {
        dp % c.ep == 0
    } else {
        c.ep % dp == 0 && c.tp % (c.ep / dp) == 0
    };
    if !ep_fits {
        return skip(format!(
            "ep {} does not divide dp {} (or dp × tp)",
            c.ep, dp
        ));
    }
    let seqs = c.global_batch_tokens / c.seq_len as f64;
    if seqs < (dp * c.micro_batch) as f64 {
        return skip(format!(
            "a global batch of {seqs} sequences cannot feed dp {dp} × micro-batch {}",
            c.micro_batch
        ));
    }
    if let Some(last) = c.last_stage_layers
        && c.pp > 1
        && last + (c.pp - 1) > ctx.layers
    {
        return invalid(format!(
            "--last-stage-layers {last}: leaves fewer than one of the model's {} layers for each of the other {} stages",
            ctx.layers,
            c.pp - 1
        ));
    }
    if c.interleave > 1 && c.pp == 1 {
        return skip(format!(
            "interleave {} needs pipeline parallelism: with pp 1 there is one stage and nothing to interleave",
            c.interleave
        ));
    }
    if c.interleave > 1 && ctx.layers / c.pp < c.interleave {
        return skip(format!(
            "interleave {} exceeds the {} layers per stage",
            c.interleave,
            ctx.layers / c.pp
        ));
    }
    Ok(())
}

/// The most configurations `train` evaluates unless `--max-configurations` raises it
/// (docs/usage.md, "Work limits").
pub const DEFAULT_MAX_CONFIGURATIONS: u64 = 100_000;

/// Evaluate one training configuration (call `check` first).
pub fn estimate(ctx: &Context, c: &TrainConfig) -> TrainEstimate {
    let m = &ctx.model;
    // The fastest precision the step computes in: no operator beats it, so MFU, HFU ≤ 1.
    let peak = ctx.mfu_peak_flops_for(c.dtype);
    let gpus = c.used_gpus() as f64;
    let dp = c.dp() as f64;
    let seqs = c.global_batch_tokens / c.seq_len as f64;
    let micro_batches = (seqs / (dp * c.micro_batch as f64)).ceil();
    let steps = c.tokens / c.global_batch_tokens;

    let model_flops_per_token = 3.0 * m.flops_per_token();
    let attn_flops_per_token = 3.0 * m.attention_flops_for_keys(step::scored_keys(m, c));
    let recompute_flops_per_token = match c.recompute {
        Recompute::None => 0.0,
        Recompute::Selective => attn_flops_per_token / 3.0,
        // The output head is not recomputed (Megatron recomputes the transformer layers only;
        // its Eq. 3 counts the logits' 2·d·V three times, forward and backward).
        Recompute::Full => {
            (model_flops_per_token + attn_flops_per_token) / 3.0 - 2.0 * m.d_model * m.vocab
        }
    } + {
        // Recomputed modules with GEMMs: MLA's up-projections in every layer, the dense layers'
        // MLP (the norms and the experts' activation are memory traffic, no FLOPs counted).
        let rm = c.effective_recompute_modules();
        let mla = if rm.mla_up_proj {
            2.0 * m.mla_up_params_per_layer * m.layers
        } else {
            0.0
        };
        let mlp = if rm.mlp {
            2.0 * m.dense_ffn_params_per_layer * m.dense_layers
        } else {
            0.0
        };
        mla + mlp
    };
    // Each prediction depth: one more layer of the model's last kind, its projection and the
    // output head, forward and backward (hardware FLOPs only).
    let last_layer_params = m.attn_params_per_layer
        + if ctx.dense_layers < ctx.layers {
            (m.top_k + m.shared_experts) * m.ffn_params_per_expert_per_layer
                + m.router_params_per_layer
        } else {
            m.dense_ffn_params_per_layer
        };
    let mtp_flops_per_token = 3.0
        * c.mtp_layers as f64
        * (2.0 * (last_layer_params + memory::mtp_projection_params(ctx))
            + 2.0 * m.d_model * m.vocab
            + m.attn_score_flops_per_ctx_per_layer * step::attention_context(c));
    let model_flops_step = model_flops_per_token * c.global_batch_tokens;
    // The sources' other conventions: model FLOPs plus forward and backward attention scores
    // over half the sequence (causal) or all of it (full attention).
    let seq = c.seq_len as f64;
    let causal_flops_step = (model_flops_per_token + 3.0 * m.attention_flops_per_token(seq / 2.0))
        * c.global_batch_tokens;
    let full_attn_flops_step =
        (model_flops_per_token + 3.0 * m.attention_flops_per_token(seq)) * c.global_batch_tokens;
    let hw_flops_step = (model_flops_per_token
        + attn_flops_per_token
        + recompute_flops_per_token
        + mtp_flops_per_token)
        * c.global_batch_tokens;

    let memory = memory::train_memory(ctx, c, micro_batches);
    let modelled = step::step_time(ctx, c, micro_batches);
    let (step, step_time_s) = match c.mfu {
        Some(mfu) => {
            let t = model_flops_step / (gpus * peak * mfu);
            (
                StepTime {
                    compute_s: t,
                    ..StepTime::default()
                },
                t,
            )
        }
        None => (modelled, modelled.total_s()),
    };
    let goodput = c
        .reliability
        .map_or(1.0, |r| r.goodput(c.used_gpus(), step_time_s));
    let train_days = steps * step_time_s / goodput / units::S_PER_DAY;
    let gpu_hours = gpus * train_days * 24.0;
    let pp = c.pp as f64;
    let v = c.interleave as f64;
    TrainEstimate {
        config: *c,
        micro_batches,
        memory,
        fits: memory.total_bytes() <= ctx.hw.mem_bytes,
        total_flops: model_flops_step * steps,
        attention_flops: attn_flops_per_token * c.tokens,
        step,
        step_time_s,
        tokens_per_s: c.global_batch_tokens / step_time_s,
        tflops_per_gpu: units::flops_per_s_to_tflops(model_flops_step / step_time_s / gpus),
        mfu: model_flops_step / (step_time_s * gpus * peak),
        hw_tflops_per_gpu: units::flops_per_s_to_tflops(hw_flops_step / step_time_s / gpus),
        hfu: hw_flops_step / (step_time_s * gpus * peak),
        bubble_fraction: if c.mfu.is_some() {
            0.0
        } else {
            (pp - 1.0) / (v * micro_batches + pp - 1.0)
        },
        goodput,
        train_days,
        gpu_hours,
        cost_usd: gpu_hours * ctx.hw.usd_per_gpu_hour,
        tflops_per_gpu_causal: units::flops_per_s_to_tflops(causal_flops_step / step_time_s / gpus),
        mfu_causal: causal_flops_step / (step_time_s * gpus * peak),
        tflops_per_gpu_full_attn: units::flops_per_s_to_tflops(
            full_attn_flops_step / step_time_s / gpus,
        ),
        mfu_full_attn: full_attn_flops_step / (step_time_s * gpus * peak),
    }
}
