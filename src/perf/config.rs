//! One inference configuration and its options: the layout's degrees, the workload, precisions,
//! batching, speculation, disaggregation and the MoE runtime choices (docs/methodology.md §5–§7).

use super::layout::{Layout, LayoutOverride};
use super::lengths;
use crate::dtype::Dtype;
use clap::ValueEnum;
use serde::{Deserialize, Serialize};

/// Default prefill chunk, tokens per chunk (vLLM/Sarathi `max_num_batched_tokens` order).
pub const DEFAULT_PREFILL_CHUNK_TOKENS: u64 = 2048;

/// One inference configuration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
    /// Tensor-parallel degree inside one attention group.
    pub tp: u64,
    /// Attention data-parallel degree: attention groups per pipeline stage, each running
    /// attention for its own sequences with its own copy of the attention weights.
    pub dp: u64,
    /// Pipeline-parallel degree.
    pub pp: u64,
    /// Expert-parallel degree over the `tp × dp` GPUs of a stage (the rest is expert TP).
    pub ep: u64,
    /// Extra expert replicas per MoE layer beyond the model's experts (EPLB's redundant experts).
    pub redundant_experts: u64,
    /// How tokens reach the experts when attention runs data-parallel.
    pub moe_dispatch: MoeDispatch,
    /// Whether the MoE token exchange overlaps compute (two-batch overlap).
    pub moe_overlap: MoeOverlap,
    /// Concurrent sequences on one replica.
    pub batch: u64,
    /// Prompt tokens per request.
    pub input_len: u64,
    /// Generated tokens per request.
    pub output_len: u64,
    /// Weight and matmul precision (of every linear layer, or of the MLPs — routed and shared
    /// experts, dense FFNs — when `dense_dtype` is set).
    pub dtype: Dtype,
    /// Weight and matmul precision of the linear layers a checkpoint that quantises only its MLPs
    /// leaves apart (attention projections, router, output head: NVIDIA's NVFP4 DeepSeek-R1,
    /// OpenAI's MXFP4 gpt-oss). None: `dtype`.
    pub dense_dtype: Option<Dtype>,
    /// Weight and matmul precision of the attention output projection when a checkpoint quantises
    /// it apart from the rest of the attention (NVIDIA's `-v2` NVFP4 DeepSeek-R1 checkpoints
    /// "additionally quantize the wo module"). None: `dense_dtype`.
    pub attn_out_dtype: Option<Dtype>,
    /// Precision the `dtype` layers' activations are quantised to, and so their matmuls' math,
    /// where the runtime runs them wider than the weights' own format (W4A8: MXFP4 weights with
    /// MXFP8 activations, TensorRT-LLM's gpt-oss MoE on Blackwell). None: the weights' own math
    /// where the GPU has it, else 16 bits (docs/methodology.md §4.2).
    pub act_dtype: Option<Dtype>,
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

/// How tokens reach the experts of a layer whose attention runs data-parallel (`dp > 1`;
/// docs/methodology.md §6.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MoeDispatch {
    /// What the common runtimes do: `allgather` while the stage fits one node (TensorRT-LLM's
    /// CUTLASS MoE, SGLang without DeepEP), `alltoall` when it spans nodes (DeepEP, wide EP).
    #[default]
    Auto,
    /// Each GPU sends a token only to the expert-parallel ranks that hold its routed experts, and
    /// gets the weighted outputs back (DeepEP, TensorRT-LLM wide EP, SGLang `--moe-a2a-backend`);
    /// a decode step across nodes sends one copy per routed expert (DeepEP's low-latency kernels).
    #[value(name = "alltoall")]
    AllToAll,
    /// Every GPU gathers every token of the stage, runs its local experts on the ones routed to
    /// them, and a reduce-scatter returns the sums (TensorRT-LLM attention DP without all-to-all).
    #[value(name = "allgather")]
    AllGather,
}

impl MoeDispatch {
    /// The exchange a stage of `stage_gpus` GPUs uses on hosts of `host_gpus`: the runtimes'
    /// all-gather path while the stage fits one host (8 on HGX, 4 on a GB200 tray), their
    /// all-to-all kernels beyond it (DeepEP; TensorRT-LLM's wide EP, on NVL72 over NVLink).
    pub fn resolve(self, stage_gpus: u64, host_gpus: u64) -> Self {
        match self {
            MoeDispatch::Auto if stage_gpus <= host_gpus => MoeDispatch::AllGather,
            MoeDispatch::Auto => MoeDispatch::AllToAll,
            d => d,
        }
    }

    /// Name as printed.
    pub fn name(self) -> &'static str {
        match self {
            MoeDispatch::Auto => "auto",
            MoeDispatch::AllToAll => "alltoall",
            MoeDispatch::AllGather => "allgather",
        }
    }
}

/// Overlap of the MoE token exchange with compute (docs/methodology.md §6.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MoeOverlap {
    /// Dispatch and combine run between the layer's kernels (TensorRT-LLM, vLLM and SGLang
    /// defaults).
    #[default]
    None,
    /// Two-batch overlap (DeepSeek, SGLang `--enable-two-batch-overlap`): each step runs as two
    /// half batches, one communicating while the other computes.
    TwoBatch,
}

impl MoeOverlap {
    /// Name as printed.
    pub fn name(self) -> &'static str {
        match self {
            MoeOverlap::None => "none",
            MoeOverlap::TwoBatch => "two-batch",
        }
    }
}

/// Which fused-MoE kernels the serving runtime runs (docs/methodology.md §4.4). FP4 and
/// block-scaled fp8 experts on Blackwell have their kernels measured apart; every other
/// precision has one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MoeBackend {
    /// The faster of the runtime's measured kernels, as a tuned deployment picks: for FP4 and
    /// block-scaled fp8 experts on Blackwell TensorRT-LLM's TRTLLM-gen kernel (its `TRTLLM` MoE
    /// backend; SGLang's `flashinfer_trtllm`), which under the same routing outruns CUTLASS at
    /// every batch and DeepGEMM at decode batches.
    #[default]
    Fastest,
    /// TensorRT-LLM's CUTLASS fused MoE alone: its default `moe_config.backend`, and all early-2025
    /// releases had (the TRTLLM backend arrived with PR #4280, May 2025).
    Cutlass,
    /// The TRTLLM-gen fused MoE alone at every load: TensorRT-LLM's `TRTLLM` backend, SGLang's
    /// `flashinfer_trtllm` runner (what `fastest` runs at decode batches, kept for prefill too).
    Trtllm,
    /// DeepGEMM's grouped GEMMs for block-scaled fp8 experts: what SGLang runs behind DeepEP
    /// (`--moe-a2a-backend deepep`, whose `auto` runner is `deep_gemm`) and TensorRT-LLM's
    /// `DEEPGEMM` backend. Other precisions keep the fastest kernel.
    #[value(name = "deepgemm")]
    #[serde(rename = "deepgemm")]
    DeepGemm,
}

impl MoeBackend {
    /// Name as printed.
    pub fn name(self) -> &'static str {
        match self {
            MoeBackend::Fastest => "fastest",
            MoeBackend::Cutlass => "cutlass",
            MoeBackend::Trtllm => "trtllm",
            MoeBackend::DeepGemm => "deepgemm",
        }
    }

    /// The measured kernel family it runs.
    pub fn family(self) -> crate::hardware::MoeKernelFamily {
        use crate::hardware::MoeKernelFamily;
        match self {
            MoeBackend::Fastest | MoeBackend::Trtllm => MoeKernelFamily::Primary,
            MoeBackend::Cutlass => MoeKernelFamily::Cutlass,
            MoeBackend::DeepGemm => MoeKernelFamily::DeepGemm,
        }
    }
}

/// Disaggregated serving (DistServe, Splitwise): `prefill_replicas` replicas only prefill and
/// ship each request's KV cache over the NIC to `decode_replicas` replicas that only decode
/// (docs/methodology.md §7.5). The prefill pool has its own layout, or the decode pool's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Disaggregation {
    /// Prefill-only replicas.
    pub prefill_replicas: u64,
    /// Decode-only replicas.
    pub decode_replicas: u64,
    /// The prefill replicas' degrees where they differ from the decode replicas'.
    pub prefill: LayoutOverride,
    /// Requests of a closed loop waiting for a decode slot, beyond the `decode_replicas × batch`
    /// the decode pool holds (its engines at their maximum batch): 0 unless a fixed concurrency
    /// exceeds the pool's slots (validation's `max_batch`).
    pub queued: u64,
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

/// A draft step's cost relative to a plain target step when neither a draft model nor a ratio is
/// given (model-spec §11's c = 0.05).
pub const DEFAULT_DRAFT_RATIO: f64 = 0.05;

/// The cost of one draft step.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DraftCost {
    /// A fixed fraction of the target's plain decode step.
    Ratio(f64),
    /// The draft model's own decode step (the draft context given to `estimate_with_draft`).
    Model,
    /// Multi-token prediction (DeepSeek-V3 §2.2; TensorRT-LLM and SGLang `MTP`): the model's own
    /// extra transformer layer drafts each token, one pass of one layer and the shared output
    /// head at the same batch.
    Mtp,
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
            dp: 1,
            pp,
            ep: 1,
            redundant_experts: 0,
            moe_dispatch: MoeDispatch::Auto,
            moe_overlap: MoeOverlap::None,
            batch,
            input_len,
            output_len,
            dtype,
            dense_dtype: None,
            attn_out_dtype: None,
            act_dtype: None,
            kv_dtype: dtype.default_kv(),
            batching: Batching::Continuous,
            speculation: None,
            output_dist: lengths::LengthDist::Fixed,
            disaggregate: None,
            kv_sharding: KvSharding::Heads,
            sequence_parallel: false,
        }
    }

    /// The replica's layout.
    pub fn layout(&self) -> Layout {
        Layout {
            tp: self.tp,
            dp: self.dp,
            pp: self.pp,
            ep: self.ep,
        }
    }

    /// The prefill layout: the prefill pool's when disaggregated with its own, else the replica's.
    pub fn prefill_layout(&self) -> Layout {
        match self.disaggregate {
            Some(d) => d.prefill.apply(self.layout()),
            None => self.layout(),
        }
    }

    /// GPUs in one replica.
    pub fn gpus(&self) -> u64 {
        self.layout().gpus()
    }

    /// The precision of the linear layers outside the MLPs (attention projections, router, head).
    pub fn dense_dtype(&self) -> Dtype {
        self.dense_dtype.unwrap_or(self.dtype)
    }

    /// Precision of the attention output projection (`attn_out_dtype`, else `dense_dtype()`).
    pub fn attn_out_dtype(&self) -> Dtype {
        self.attn_out_dtype.unwrap_or(self.dense_dtype())
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
