//! Hardware description: the `[gpu]` table of a GPU preset (accelerator, node, price and the
//! achievable-rate parameters), validated, and its conversion to SI rates (`Hardware`).

use crate::dtype::Dtype;
use crate::limits;
use crate::units;
use anyhow::{Result, ensure};
use serde::{Deserialize, Serialize};

/// A GPU preset file: metadata plus the accelerator.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GpuPreset {
    /// Preset name, e.g. `h100`.
    pub name: String,
    /// One line on what the accelerator and node are.
    pub description: String,
    /// Where its numbers come from.
    pub source: String,
    /// The accelerator.
    pub gpu: GpuSpec,
}

/// One accelerator in its node.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GpuSpec {
    /// Usable HBM capacity, GiB.
    pub memory_gib: f64,
    /// Peak HBM bandwidth, TB/s (1e12 bytes/s).
    pub memory_bw_tb_s: f64,
    /// Dense peak TFLOP/s per precision (no sparsity).
    pub tflops: Tflops,
    /// Node and network.
    pub node: Node,
    /// Price.
    pub price: Price,
    /// Achievable fractions of the peaks.
    pub efficiency: Efficiency,
    /// Fixed costs: latencies, per-layer overhead, runtime memory.
    pub overheads: Overheads,
    /// The fused-MoE kernel's rates and fixed times per weight precision, fitted on measured
    /// fused-MoE layers (optional; absent precisions fall back, see `FusedMoe`).
    #[serde(default, skip_serializing_if = "FusedMoe::is_empty")]
    pub fused_moe: FusedMoe,
    /// The low-precision GEMMs' time by shape, fitted on measured GEMMs (optional; serving only,
    /// docs/methodology.md §4.1): absent, the flat `efficiency.matmul_*` and `overheads.gemm_*_us`.
    #[serde(default, skip_serializing_if = "GemmShapes::is_empty")]
    pub gemm_shape: GemmShapes,
    /// Measured shape of the all-reduce inside one node, per group size (optional).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub all_reduce_shape: Vec<AllReduceShape>,
    /// The serving runtimes' own all-reduce kernels inside one node, measured, per group size
    /// (optional): inference TP all-reduces take the faster of these and NCCL.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_all_reduce: Vec<CustomAllReduce>,
    /// The fused-MoE layer under skewed expert routing, measured, per expert-parallel degree
    /// (optional; docs/methodology.md §4.4): serving prices its busiest rank with it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routing_skew: Vec<RoutingSkew>,
    /// How the serving runtime's decode attention runs a chunked-attention layer (Llama 4) on
    /// this accelerator (optional; default `grouped`, the grouped-query kernel of every other
    /// layer; docs/methodology.md §4.5).
    #[serde(default, skip_serializing_if = "ChunkedDecode::is_grouped")]
    pub chunked_decode: ChunkedDecode,
    /// Set when not every kernel and collective has been measured on this accelerator: what is
    /// measured and what is borrowed (and from which preset). `--explain` and the JSON inputs
    /// print it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncalibrated: Option<String>,
}

/// The decode-attention kernel a serving runtime runs over a chunked-attention layer.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ChunkedDecode {
    /// The grouped-query kernel that runs the other layers: each KV head's cache read once for
    /// all the query heads that share it.
    #[default]
    Grouped,
    /// A kernel with a thread block per query head, each streaming its KV head's cache on its
    /// own, so the cache is read once per query head. TensorRT-LLM before Blackwell: its XQA
    /// kernels refuse chunked attention (`supportConfigCommon`: "chunked attention is not
    /// supported yet"), and the generation phase falls back to masked multi-head attention
    /// (`decoderMaskedMultiheadAttention`, grid of query heads × sequences, `hi_kv = hi /
    /// qhead_per_kv`), "slower" (PR #6306); it keeps the grouped kernel while the sequences are
    /// shorter than the chunk (`max_seq_len < attention_chunk_size` turns chunking off) and
    /// turns chunking off under speculative decoding.
    PerQueryHead,
}

impl ChunkedDecode {
    /// Whether this is the default, grouped kernel.
    pub fn is_grouped(&self) -> bool {
        *self == ChunkedDecode::Grouped
    }
}

impl GpuSpec {
    /// `measured`, or `uncalibrated: <what the efficiencies are borrowed from>`.
    pub fn calibration(&self) -> String {
        match &self.uncalibrated {
            None => "measured".to_string(),
            Some(note) => format!("uncalibrated: {note}"),
        }
    }
}

/// NCCL's measured all-reduce time over `gpus` GPUs of one node, divided by the α–β model of
/// the same preset, by message size: the shape the single α and bus efficiency miss (protocol
/// changes, small-group latencies; docs/methodology.md §6).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AllReduceShape {
    /// GPUs in the group.
    pub gpus: u64,
    /// Message sizes per rank, bytes, increasing.
    pub bytes: Vec<f64>,
    /// Measured time / α–β time at each size.
    pub over_alpha_beta: Vec<f64>,
}

/// A serving runtime's own all-reduce over `gpus` GPUs of one node, measured (TensorRT-LLM's
/// one-shot and two-shot kernels for small messages, NCCL for large ones; SGLang's and vLLM's
/// custom all-reduce are within a few µs of it): its time by message size (docs/methodology.md §6).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CustomAllReduce {
    /// GPUs in the group.
    pub gpus: u64,
    /// Message sizes per rank, bytes, increasing.
    pub bytes: Vec<f64>,
    /// Measured time at each size, µs.
    pub us: Vec<f64>,
}

/// The fused-MoE layer's measured time under skewed routing over its time under balanced
/// routing, on the busiest of `ep` expert-parallel ranks, by the mean token-expert assignments
/// per expert (`tokens · top_k / experts`; docs/methodology.md §4.4).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingSkew {
    /// Expert-parallel ranks.
    pub ep: u64,
    /// Mean assignments per expert, increasing.
    pub tokens_per_expert: Vec<f64>,
    /// Skewed over balanced layer time at each.
    pub over_balanced: Vec<f64>,
}

/// A low-precision GEMM's time by its shape (docs/methodology.md §4.1): for `m × k` inputs and
/// `k × n` weights with m ≥ 1,024, `t = 2mnk / (peak · efficiency) + (m·k·input_bytes_per_elem +
/// m·n·output_bytes_per_elem) / peak bandwidth + fixed_us`. The input term is the activation's
/// quantisation pass (its scale and its cast to 8 or 4 bits, which the measured operator runs
/// apart), the output term the 16-bit result: a per-tensor fp8 GEMM's matrix multiply runs at a
/// 16-bit one's efficiency, and what makes it slower is proportional to its input, so it depends
/// on the shape (a large n amortises it).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GemmShapeFit {
    /// The multiply's FLOP rate as a fraction of the precision's dense peak.
    pub efficiency: f64,
    /// Bytes moved per input element, at the peak HBM bandwidth.
    pub input_bytes_per_elem: f64,
    /// Bytes moved per output element, at the peak HBM bandwidth.
    pub output_bytes_per_elem: f64,
    /// Fixed time of one GEMM, µs.
    pub fixed_us: f64,
}

/// `GemmShapeFit`s per low-precision GEMM kind: `fp8` (per-tensor scales), `fp8_block` (128×128
/// block scales), `fp4` (NVFP4). A kind without one keeps the flat fit.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GemmShapes {
    /// Per-tensor fp8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fp8: Option<GemmShapeFit>,
    /// fp8 with 128×128 block scales.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fp8_block: Option<GemmShapeFit>,
    /// NVFP4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fp4: Option<GemmShapeFit>,
}

impl GemmShapes {
    /// Whether no kind has a fit.
    pub fn is_empty(&self) -> bool {
        *self == GemmShapes::default()
    }
}

/// A fused-MoE layer's rates on one GPU for one weight precision (docs/methodology.md §4.4).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FusedMoeRates {
    /// Grouped-GEMM FLOP rate as a fraction of the dense peak of the math precision.
    pub compute: f64,
    /// Fraction of peak HBM bandwidth at which the layer streams expert weights and activations.
    pub memory: f64,
    /// Fixed time of one layer (routing, permute, activation, finalize kernels), µs.
    pub fixed_us: f64,
    /// Routing, sort and scatter time per token-expert assignment handled, ns.
    pub routing_ns: f64,
    /// How the kernel tiles each expert's token rows, where the tile is padded (absent: the
    /// grouped GEMMs multiply the exact rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_tile: Option<RowTile>,
}

/// The row tile a fused-MoE kernel pads each expert's tokens to (docs/methodology.md §4.4).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub enum RowTile {
    /// OpenAI's `triton_kernels` `matmul_ogs` (TensorRT-LLM's Triton MoE backend: MXFP4 experts
    /// on Hopper): the tile height `block_m` follows from the rows the kernel receives over its
    /// local experts, `t = max(1, ⌊rows·k / local experts⌋)`: the next power of two of `2t`
    /// within 16–64 for `t ≤ 64`, of `t` within 16–128 above (`opt_flags.py`,
    /// `make_default_opt_flags_nvidia`), and every expert's rows run in whole tiles.
    #[serde(rename = "triton-ogs")]
    TritonOgs,
}

impl RowTile {
    /// Tile height for a kernel that receives `rows` token rows of `top_k` picks each over
    /// `local_experts` experts.
    pub fn block_rows(self, rows: f64, top_k: f64, local_experts: f64) -> f64 {
        match self {
            RowTile::TritonOgs => {
                let t = (rows * top_k / local_experts.max(1.0)).floor().max(1.0);
                let pow2 = |x: f64| 2f64.powf(x.log2().ceil());
                if t <= 64.0 {
                    pow2(2.0 * t).clamp(16.0, 64.0)
                } else {
                    pow2(t).clamp(16.0, 128.0)
                }
            }
        }
    }
}

/// Fused-MoE rates per weight precision: `bf16` (16- and 32-bit weights), `fp8` (8-bit weights and
/// math), `int4` (4-bit weights, 16-bit math), `fp8_block` (8-bit with 128×128 block scales),
/// `fp4` (NVFP4/MXFP4 weights with FP4 math), `w4a8` (4-bit weights with fp8 math). A missing
/// precision takes `bf16`'s (`fp8_block`, `fp4` and `w4a8` take `fp8`'s); without `bf16`, the
/// dense GEMM efficiencies and no fixed time.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FusedMoe {
    /// 16-bit weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bf16: Option<FusedMoeRates>,
    /// 8-bit weights and math.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fp8: Option<FusedMoeRates>,
    /// 4-bit weights, 16-bit math (weight-only quantisation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub int4: Option<FusedMoeRates>,
    /// 8-bit weights and math with one scale per 128×128 block (DeepSeek's checkpoints); absent,
    /// `fp8`'s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fp8_block: Option<FusedMoeRates>,
    /// 4-bit floating-point weights with FP4 math (NVFP4 on Blackwell): TensorRT-LLM's TRTLLM-gen
    /// kernel, the faster of its two (`moe_backend = "fastest"`); absent, `fp8`'s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fp4: Option<FusedMoeRates>,
    /// The same with TensorRT-LLM's CUTLASS fused-MoE kernel alone (`moe_backend = "cutlass"`);
    /// absent, `fp4`'s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fp4_cutlass: Option<FusedMoeRates>,
    /// Block-scaled fp8 experts on DeepGEMM's grouped GEMMs (`moe_backend = "deepgemm"`: the
    /// runner behind DeepEP in SGLang and TensorRT-LLM's `DEEPGEMM` backend); absent,
    /// `fp8_block`'s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fp8_block_deepgemm: Option<FusedMoeRates>,
    /// 4-bit weights with 8-bit activations and fp8-rate math (W4A8: MXFP4 weights with MXFP8
    /// activations, TensorRT-LLM's gpt-oss MoE on Blackwell, `--act-dtype fp8`); absent, `fp8`'s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub w4a8: Option<FusedMoeRates>,
}

/// The family of fused-MoE kernels a runtime runs, as far as the measured tables tell them apart
/// (the serving runtime's `moe_backend` picks it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MoeKernelFamily {
    /// Each precision's first measured kernel: TRTLLM-gen for FP4 and block-scaled fp8 experts on
    /// Blackwell, the one measured kernel elsewhere (`fastest` compares it with DeepGEMM's).
    Primary,
    /// TensorRT-LLM's CUTLASS kernel alone (FP4 experts; the others keep the primary kernel).
    Cutlass,
    /// DeepGEMM's grouped GEMMs (block-scaled fp8 experts; the others keep the primary kernel).
    DeepGemm,
}

impl FusedMoe {
    /// No precision given.
    pub fn is_empty(&self) -> bool {
        self.bf16.is_none()
            && self.fp8.is_none()
            && self.int4.is_none()
            && self.fp8_block.is_none()
            && self.fp4.is_none()
            && self.fp4_cutlass.is_none()
            && self.fp8_block_deepgemm.is_none()
    }
}

/// Dense peak TFLOP/s per precision; a missing precision is unsupported by the tensor cores.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Tflops {
    /// FP32 (non-tensor) rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fp32: Option<f64>,
    /// BF16 dense rate.
    pub bf16: f64,
    /// FP16 dense rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fp16: Option<f64>,
    /// FP8 dense rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fp8: Option<f64>,
    /// INT8 dense rate (TOPS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub int8: Option<f64>,
    /// FP4 (NVFP4/MXFP4) dense rate, where the tensor cores run 4-bit floats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fp4: Option<f64>,
}

/// Node and network.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// GPUs in one host, sharing its CPUs and NICs (8 in an HGX server, 4 in a GB200 compute tray).
    pub gpus_per_node: u64,
    /// GPUs joined by one scale-up fabric (NVLink/NVSwitch, ICI) at `scaleup_gb_s` each: 8 in an
    /// HGX node, 72 in an NVL72 rack, a pod for TPUs. Default: `gpus_per_node`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaleup_domain: Option<u64>,
    /// The scale-up fabric's name as printed (default `NVLink`; `Infinity Fabric`, `ICI`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fabric: Option<String>,
    /// Scale-up bandwidth per GPU, one direction, GB/s.
    pub scaleup_gb_s: f64,
    /// Scale-out NIC bandwidth per GPU, Gbit/s.
    pub scaleout_gbit_s: f64,
}

/// Price.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Rental price per GPU-hour, USD.
    pub usd_per_gpu_hour: f64,
}

/// Achievable fractions of the peak rates (each in (0, 1]).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Efficiency {
    /// Large-GEMM fraction of dense peak FLOP/s (16-bit and fp32 math).
    pub matmul: f64,
    /// Large-GEMM fraction of dense peak for 8-bit math (fp8, int8); defaults to `matmul`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matmul_fp8: Option<f64>,
    /// The same for fp8 weights with one scale per 128×128 block (DeepSeek's checkpoints) in
    /// serving; defaults to `matmul_fp8`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matmul_fp8_block: Option<f64>,
    /// Large-GEMM fraction of the FP4 dense peak for FP4 math (NVFP4/MXFP4 weights and inputs on
    /// tensor cores that run them); defaults to `matmul_fp8`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matmul_fp4: Option<f64>,
    /// Fraction of peak HBM bandwidth reached by large streaming reads.
    pub memory: f64,
    /// Fraction of peak HBM bandwidth at which GEMMs in FP4 math stream their weights (decode);
    /// defaults to `memory`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_fp4: Option<f64>,
    /// Attention kernels' (FMHA prefill, decode attention, MLA) FLOP rate as a fraction of the 16-bit
    /// dense peak, from measured attention kernels (default `matmul`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention: Option<f64>,
    /// Prefill attention's (FMHA over a prompt chunk) FLOP rate at long context, as a fraction of
    /// the 16-bit dense peak; with `attention_half_context` the rate at a mean attended context
    /// of c keys is `attention_prefill · c / (c + attention_half_context)` (default `attention`,
    /// flat).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_prefill: Option<f64>,
    /// The mean attended context (keys per query) at which prefill attention reaches half its
    /// long-context rate, tokens (default 0: no dependence on the context).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_half_context: Option<f64>,
    /// Training attention's backward kernel FLOP rate (its FLOPs counted as 2.5× the forward's,
    /// FlashAttention's convention) as a fraction of the forward kernel's rate, from measured
    /// training attention kernels (default 1: the forward's rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_backward: Option<f64>,
    /// Fraction of peak HBM bandwidth decode-attention kernels read the KV cache at (default
    /// `memory`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_memory: Option<f64>,
    /// Compute/memory overlap inside one operator: time = max + (1 − overlap)·min (default 1,
    /// the pure roofline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap: Option<f64>,
    /// Collective bus-bandwidth fraction of the scale-up link.
    pub scaleup: f64,
    /// All-to-all bandwidth per GPU over the scale-up link, as a fraction of its peak: what each
    /// GPU sends to the others per second, `(n−1)/n · bytes / time` (default `scaleup`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_to_all: Option<f64>,
    /// All-gather and reduce-scatter bus bandwidth over the scale-up link, as a fraction of its
    /// peak: `(n−1)/n · total bytes / time` (default `scaleup`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_gather: Option<f64>,
    /// Collective bus-bandwidth fraction of the NIC.
    pub scaleout: f64,
}

/// Fixed costs.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Overheads {
    /// Fixed time per transformer layer per forward step (kernel launches, small ops), µs.
    pub per_layer_us: f64,
    /// Fixed time a request (a static batch) pays in the serving runtime before its prefill
    /// starts, µs: request handling and hand-out to the ranks. 0 for the TensorRT-LLM defaults.
    #[serde(default)]
    pub per_request_us: f64,
    /// Time a served request's first token spends outside the GPUs' work, µs: the serving front
    /// end (HTTP, tokenizer, detokenizer), the scheduler and the host's preparation of the
    /// prefill. It lengthens the TTFT of continuous batching and disaggregated serving only, and
    /// occupies no GPU. 0 in the GPU presets; the runtime profile sets it (docs/methodology.md §7.3).
    #[serde(default)]
    pub request_latency_us: f64,
    /// Fixed time of one GEMM beyond its FLOPs at the achievable rate (16-bit and fp32), µs.
    #[serde(default)]
    pub gemm_us: f64,
    /// The same for 8-bit GEMMs, µs (defaults to `gemm_us`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gemm_fp8_us: Option<f64>,
    /// Fixed time of one memory-bound (small-m) GEMM beyond its weight stream (16-bit and fp32),
    /// µs: the floor of GEMMs with at most 64 rows (default `gemm_us`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gemm_memory_us: Option<f64>,
    /// The same for 8-bit GEMMs, µs (defaults to `gemm_fp8_us`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gemm_fp8_memory_us: Option<f64>,
    /// Fixed time of one compute-bound GEMM on fp8 weights with 128×128 block scales, µs
    /// (defaults to `gemm_fp8_us`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gemm_fp8_block_us: Option<f64>,
    /// Fixed time of one memory-bound GEMM on fp8 weights with 128×128 block scales, µs (defaults
    /// to `gemm_fp8_memory_us`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gemm_fp8_block_memory_us: Option<f64>,
    /// Fixed time of one compute-bound GEMM in FP4 math, µs (defaults to `gemm_fp8_us`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gemm_fp4_us: Option<f64>,
    /// Fixed time of one memory-bound GEMM in FP4 math, µs (defaults to `gemm_fp8_memory_us`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gemm_fp4_memory_us: Option<f64>,
    /// The share of a memory-bound GEMM's fixed time, as timed alone (the `gemm_*memory_us`
    /// above), that it adds inside a served decode step, where the runtime runs the layer's
    /// kernels back to back in one CUDA graph: least-squares fit of the model's attention
    /// operators on the measured MLA module, projections and attention timed together
    /// (docs/methodology.md §4.1). B200 0.85; 1 (the default) where the module runs at the sum of
    /// its parts, as on Hopper.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gemm_memory_step_share: Option<f64>,
    /// The part of the measured per-tensor fp8 GEMM times above that computes the activation's
    /// scale at run time (an amax reduction before the quantize kernel), µs: TensorRT-LLM 1.3's
    /// `compute_scale` measured alone at m ≤ 64 (docs/methodology.md §4.2). Serving with static
    /// activation scales (calibrated checkpoints) subtracts it; a runtime profile with dynamic
    /// scales sets it to 0, so nothing is subtracted (default 0).
    #[serde(default)]
    pub fp8_dynamic_scale_us: f64,
    /// Fixed time of one attention kernel call (a layer's decode attention or prefill chunk),
    /// µs (default 0).
    #[serde(default)]
    pub attention_us: f64,
    /// Decode attention's floor per sequence and KV head on one GPU, ns: grouped-query decode
    /// kernels run a thread block per (sequence, KV head), whose fixed work bounds a step over a
    /// short context at a large batch (docs/methodology.md §4.5). 16-bit KV cache; default 0.
    #[serde(default)]
    pub attention_pair_ns: f64,
    /// The same floor with an 8-bit KV cache, ns (defaults to `attention_pair_ns`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_pair_fp8_ns: Option<f64>,
    /// Time the host spends issuing one eager operator of a Megatron-Core MoE layer (the Python
    /// call, PyTorch and Transformer Engine dispatch, the kernel launch), µs: added to a training
    /// MoE layer's GPU time behind the dropless dispatch's device-to-host sync
    /// (docs/methodology.md §16.1; the shipped GPU presets carry 13.48, one torch.nn.Linear's CPU
    /// time measured on a DGX H100). Default 0: no host time (XLA compiles the step on TPUs).
    #[serde(default)]
    pub host_op_us: f64,
    /// Start-up latency α of a collective over the scale-up fabric, µs.
    pub scaleup_latency_us: f64,
    /// Start-up latency α of an all-to-all over the scale-up fabric, µs (default
    /// `scaleup_latency_us`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_to_all_latency_us: Option<f64>,
    /// The serving runtime's MoE dispatch over NVLink at a few tokens a rank, µs: the floor of an
    /// inference all-to-all dispatch (one-sided kernels with flag barriers), below which fewer
    /// tokens cost nothing less. Default 0: the all-to-all's α–β time alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moe_dispatch_us: Option<f64>,
    /// The same for the combine (which also reduces the top-k outputs), µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moe_combine_us: Option<f64>,
    /// Start-up latency α of an all-gather or reduce-scatter over the scale-up fabric, µs
    /// (default `scaleup_latency_us`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_gather_latency_us: Option<f64>,
    /// Start-up latency α of a transfer over the NIC, µs.
    pub scaleout_latency_us: f64,
    /// Memory the runtime holds per GPU (CUDA context, workspaces, NCCL buffers), GiB.
    pub runtime_gib: f64,
    /// Share of the memory left after weights, activations and the runtime that the KV cache may
    /// take (TensorRT-LLM `kv_cache_free_gpu_mem_fraction`).
    pub kv_cache_free_fraction: f64,
}

impl GpuSpec {
    /// Check every field; the error names the field, its value and what is allowed.
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("gpu.memory_gib", self.memory_gib),
            ("gpu.memory_bw_tb_s", self.memory_bw_tb_s),
            ("gpu.tflops.bf16", self.tflops.bf16),
            ("gpu.node.scaleup_gb_s", self.node.scaleup_gb_s),
            ("gpu.node.scaleout_gbit_s", self.node.scaleout_gbit_s),
        ];
        // The documented ranges (docs/usage.md): physical, and far from overflow and underflow.
        let range = |key: &str, name: &str, v: f64| -> Result<()> {
            limits::gpu_float(key)
                .check(&format!("{name} ="), v)
                .map(|_| ())
                .map_err(anyhow::Error::msg)
        };
        for (name, v) in positive {
            let key = if name.starts_with("gpu.tflops.") {
                "gpu.tflops.*"
            } else {
                name
            };
            range(key, name, v)?;
        }
        for (name, v) in [
            ("gpu.tflops.fp32", self.tflops.fp32),
            ("gpu.tflops.fp16", self.tflops.fp16),
            ("gpu.tflops.fp8", self.tflops.fp8),
            ("gpu.tflops.int8", self.tflops.int8),
            ("gpu.tflops.fp4", self.tflops.fp4),
        ] {
            if let Some(v) = v {
                range("gpu.tflops.*", name, v)?;
            }
        }
        limits::model_int("gpu.node.gpus_per_node")
            .check("gpu.node.gpus_per_node =", self.node.gpus_per_node)
            .map_err(anyhow::Error::msg)?;
        if let Some(domain) = self.node.scaleup_domain {
            limits::model_int("gpu.node.scaleup_domain")
                .check("gpu.node.scaleup_domain =", domain)
                .map_err(anyhow::Error::msg)?;
            if domain % self.node.gpus_per_node != 0 {
                anyhow::bail!(
                    "gpu.node.scaleup_domain = {domain} must be a whole number of nodes of gpus_per_node = {}",
                    self.node.gpus_per_node
                );
            }
        }
        range(
            "gpu.price.usd_per_gpu_hour",
            "gpu.price.usd_per_gpu_hour",
            self.price.usd_per_gpu_hour,
        )?;
        range(
            "gpu.overheads.runtime_gib",
            "gpu.overheads.runtime_gib",
            self.overheads.runtime_gib,
        )?;
        for (name, v) in [
            ("gpu.efficiency.matmul", self.efficiency.matmul),
            (
                "gpu.efficiency.matmul_fp8",
                self.efficiency.matmul_fp8.unwrap_or(self.efficiency.matmul),
            ),
            (
                "gpu.efficiency.matmul_fp8_block",
                self.efficiency
                    .matmul_fp8_block
                    .or(self.efficiency.matmul_fp8)
                    .unwrap_or(self.efficiency.matmul),
            ),
            (
                "gpu.efficiency.matmul_fp4",
                self.efficiency
                    .matmul_fp4
                    .or(self.efficiency.matmul_fp8)
                    .unwrap_or(self.efficiency.matmul),
            ),
            ("gpu.efficiency.memory", self.efficiency.memory),
            (
                "gpu.efficiency.memory_fp4",
                self.efficiency.memory_fp4.unwrap_or(self.efficiency.memory),
            ),
            (
                "gpu.efficiency.attention",
                self.efficiency.attention.unwrap_or(self.efficiency.matmul),
            ),
            (
                "gpu.efficiency.attention_prefill",
                self.efficiency
                    .attention_prefill
                    .or(self.efficiency.attention)
                    .unwrap_or(self.efficiency.matmul),
            ),
            (
                "gpu.efficiency.attention_backward",
                self.efficiency.attention_backward.unwrap_or(1.0),
            ),
            (
                "gpu.efficiency.attention_memory",
                self.efficiency
                    .attention_memory
                    .unwrap_or(self.efficiency.memory),
            ),
            (
                "gpu.efficiency.overlap",
                self.efficiency.overlap.unwrap_or(1.0),
            ),
            ("gpu.efficiency.scaleup", self.efficiency.scaleup),
            (
                "gpu.efficiency.all_to_all",
                self.efficiency
                    .all_to_all
                    .unwrap_or(self.efficiency.scaleup),
            ),
            (
                "gpu.efficiency.all_gather",
                self.efficiency
                    .all_gather
                    .unwrap_or(self.efficiency.scaleup),
            ),
            ("gpu.efficiency.scaleout", self.efficiency.scaleout),
            (
                "gpu.overheads.kv_cache_free_fraction",
                self.overheads.kv_cache_free_fraction,
            ),
            (
                "gpu.overheads.gemm_memory_step_share",
                self.overheads.gemm_memory_step_share.unwrap_or(1.0),
            ),
        ] {
            limits::FRACTION
                .check(&format!("{name} ="), v)
                .map_err(anyhow::Error::msg)?;
        }
        for (name, v) in [
            ("gpu.overheads.per_layer_us", self.overheads.per_layer_us),
            (
                "gpu.overheads.per_request_us",
                self.overheads.per_request_us,
            ),
            (
                "gpu.overheads.request_latency_us",
                self.overheads.request_latency_us,
            ),
            ("gpu.overheads.gemm_us", self.overheads.gemm_us),
            ("gpu.overheads.attention_us", self.overheads.attention_us),
            (
                "gpu.overheads.attention_pair_ns",
                self.overheads.attention_pair_ns,
            ),
            (
                "gpu.overheads.attention_pair_fp8_ns",
                self.overheads.attention_pair_fp8_ns.unwrap_or(0.0),
            ),
            (
                "gpu.overheads.fp8_dynamic_scale_us",
                self.overheads.fp8_dynamic_scale_us,
            ),
            ("gpu.overheads.host_op_us", self.overheads.host_op_us),
            (
                "gpu.overheads.gemm_fp8_us",
                self.overheads.gemm_fp8_us.unwrap_or(0.0),
            ),
            (
                "gpu.overheads.gemm_memory_us",
                self.overheads.gemm_memory_us.unwrap_or(0.0),
            ),
            (
                "gpu.overheads.gemm_fp8_memory_us",
                self.overheads.gemm_fp8_memory_us.unwrap_or(0.0),
            ),
            (
                "gpu.overheads.gemm_fp8_block_us",
                self.overheads.gemm_fp8_block_us.unwrap_or(0.0),
            ),
            (
                "gpu.overheads.gemm_fp8_block_memory_us",
                self.overheads.gemm_fp8_block_memory_us.unwrap_or(0.0),
            ),
            (
                "gpu.overheads.gemm_fp4_us",
                self.overheads.gemm_fp4_us.unwrap_or(0.0),
            ),
            (
                "gpu.overheads.gemm_fp4_memory_us",
                self.overheads.gemm_fp4_memory_us.unwrap_or(0.0),
            ),
            (
                "gpu.overheads.scaleup_latency_us",
                self.overheads.scaleup_latency_us,
            ),
            (
                "gpu.overheads.all_to_all_latency_us",
                self.overheads.all_to_all_latency_us.unwrap_or(0.0),
            ),
            (
                "gpu.overheads.all_gather_latency_us",
                self.overheads.all_gather_latency_us.unwrap_or(0.0),
            ),
            (
                "gpu.overheads.moe_dispatch_us",
                self.overheads.moe_dispatch_us.unwrap_or(0.0),
            ),
            (
                "gpu.overheads.moe_combine_us",
                self.overheads.moe_combine_us.unwrap_or(0.0),
            ),
            (
                "gpu.overheads.scaleout_latency_us",
                self.overheads.scaleout_latency_us,
            ),
        ] {
            limits::FIXED_TIME
                .check(&format!("{name} ="), v)
                .map_err(anyhow::Error::msg)?;
        }
        if let Some(c) = self.efficiency.attention_half_context {
            limits::CONTEXT_TOKENS
                .check("gpu.efficiency.attention_half_context =", c)
                .map_err(anyhow::Error::msg)?;
        }
        for (name, rates) in [
            ("bf16", self.fused_moe.bf16),
            ("fp8", self.fused_moe.fp8),
            ("int4", self.fused_moe.int4),
            ("fp8_block", self.fused_moe.fp8_block),
            ("fp4", self.fused_moe.fp4),
            ("fp4_cutlass", self.fused_moe.fp4_cutlass),
            ("fp8_block_deepgemm", self.fused_moe.fp8_block_deepgemm),
            ("w4a8", self.fused_moe.w4a8),
        ] {
            let Some(r) = rates else { continue };
            for (field, v) in [("compute", r.compute), ("memory", r.memory)] {
                limits::FRACTION
                    .check(&format!("gpu.fused_moe.{name}.{field} ="), v)
                    .map_err(anyhow::Error::msg)?;
            }
            for (field, v) in [("fixed_us", r.fixed_us), ("routing_ns", r.routing_ns)] {
                limits::FIXED_TIME
                    .check(&format!("gpu.fused_moe.{name}.{field} ="), v)
                    .map_err(anyhow::Error::msg)?;
            }
        }
        for (name, fit) in [
            ("fp8", self.gemm_shape.fp8),
            ("fp8_block", self.gemm_shape.fp8_block),
            ("fp4", self.gemm_shape.fp4),
        ] {
            let Some(f) = fit else { continue };
            limits::FRACTION
                .check(&format!("gpu.gemm_shape.{name}.efficiency ="), f.efficiency)
                .map_err(anyhow::Error::msg)?;
            for (field, v) in [
                ("input_bytes_per_elem", f.input_bytes_per_elem),
                ("output_bytes_per_elem", f.output_bytes_per_elem),
            ] {
                limits::BYTES_PER_ELEMENT
                    .check(&format!("gpu.gemm_shape.{name}.{field} ="), v)
                    .map_err(anyhow::Error::msg)?;
            }
            limits::FIXED_TIME
                .check(&format!("gpu.gemm_shape.{name}.fixed_us ="), f.fixed_us)
                .map_err(anyhow::Error::msg)?;
        }
        for (i, sh) in self.all_reduce_shape.iter().enumerate() {
            let name = format!("gpu.all_reduce_shape[{i}]");
            limits::model_int("gpu.all_reduce_shape.gpus")
                .check(&format!("{name}.gpus ="), sh.gpus)
                .map_err(anyhow::Error::msg)?;
            ensure!(
                sh.bytes.len() >= 2 && sh.bytes.len() == sh.over_alpha_beta.len(),
                "{name}: bytes ({}) and over_alpha_beta ({}) must have the same length, at least 2",
                sh.bytes.len(),
                sh.over_alpha_beta.len()
            );
            for b in &sh.bytes {
                range("gpu.all_reduce_shape.bytes", &format!("{name}.bytes"), *b)?;
            }
            ensure!(
                sh.bytes.windows(2).all(|w| w[0] < w[1]),
                "{name}.bytes: must be increasing"
            );
            for r in &sh.over_alpha_beta {
                range(
                    "gpu.all_reduce_shape.over_alpha_beta",
                    &format!("{name}.over_alpha_beta"),
                    *r,
                )?;
            }
        }
        for (i, sk) in self.routing_skew.iter().enumerate() {
            let name = format!("gpu.routing_skew[{i}]");
            limits::model_int("gpu.routing_skew.ep")
                .check(&format!("{name}.ep ="), sk.ep)
                .map_err(anyhow::Error::msg)?;
            ensure!(
                sk.tokens_per_expert.len() >= 2
                    && sk.tokens_per_expert.len() == sk.over_balanced.len(),
                "{name}: tokens_per_expert ({}) and over_balanced ({}) must have the same length, at least 2",
                sk.tokens_per_expert.len(),
                sk.over_balanced.len()
            );
            for x in &sk.tokens_per_expert {
                range(
                    "gpu.routing_skew.tokens_per_expert",
                    &format!("{name}.tokens_per_expert"),
                    *x,
                )?;
            }
            ensure!(
                sk.tokens_per_expert.windows(2).all(|w| w[0] < w[1]),
                "{name}.tokens_per_expert: must be increasing"
            );
            for r in &sk.over_balanced {
                range(
                    "gpu.routing_skew.over_balanced",
                    &format!("{name}.over_balanced"),
                    *r,
                )?;
            }
        }
        ensure!(
            self.routing_skew.windows(2).all(|w| w[0].ep < w[1].ep),
            "gpu.routing_skew: the rows' ep must be increasing"
        );
        for (i, c) in self.custom_all_reduce.iter().enumerate() {
            let name = format!("gpu.custom_all_reduce[{i}]");
            limits::model_int("gpu.custom_all_reduce.gpus")
                .check(&format!("{name}.gpus ="), c.gpus)
                .map_err(anyhow::Error::msg)?;
            ensure!(
                c.bytes.len() >= 2 && c.bytes.len() == c.us.len(),
                "{name}: bytes ({}) and us ({}) must have the same length, at least 2",
                c.bytes.len(),
                c.us.len()
            );
            for b in &c.bytes {
                range("gpu.custom_all_reduce.bytes", &format!("{name}.bytes"), *b)?;
            }
            ensure!(
                c.bytes.windows(2).all(|w| w[0] < w[1]),
                "{name}.bytes: must be increasing"
            );
            for t in &c.us {
                range("gpu.custom_all_reduce.us", &format!("{name}.us"), *t)?;
            }
        }
        Ok(())
    }

    /// Dense peak TFLOP/s for matmuls in `dtype`, if the tensor cores support it.
    pub fn tflops_for(&self, dtype: Dtype) -> Option<f64> {
        match dtype {
            Dtype::Fp32 => self.tflops.fp32,
            Dtype::Bf16 => Some(self.tflops.bf16),
            Dtype::Fp16 => self.tflops.fp16,
            Dtype::Fp8 => self.tflops.fp8,
            Dtype::Int8 => self.tflops.int8,
            Dtype::Int4 => None,
            Dtype::Nvfp4 | Dtype::Mxfp4 => self.tflops.fp4,
        }
    }
}

/// A low-precision GEMM's time by shape in SI (`GemmShapeFit`, `Hardware::gemm_shape`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GemmShape {
    /// The multiply's FLOP rate as a fraction of the precision's dense peak.
    pub efficiency: f64,
    /// Seconds per input element (its quantisation pass).
    pub input_s_per_elem: f64,
    /// Seconds per output element.
    pub output_s_per_elem: f64,
    /// Fixed time of one GEMM, seconds.
    pub fixed_s: f64,
}

impl GemmShape {
    /// The FLOP rate of a group of GEMMs at large m, per row: `flops` FLOPs over `inputs` input
    /// and `outputs` output elements, on a precision of peak `peak_flops_per_s`.
    pub fn rate_flops_per_s(
        &self,
        peak_flops_per_s: f64,
        flops: f64,
        inputs: f64,
        outputs: f64,
    ) -> f64 {
        let t = flops / (peak_flops_per_s * self.efficiency)
            + inputs * self.input_s_per_elem
            + outputs * self.output_s_per_elem;
        if t > 0.0 {
            flops / t
        } else {
            peak_flops_per_s * self.efficiency
        }
    }
}

/// A fused-MoE kernel's rates in SI (`Hardware::fused_moe`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MoeKernel {
    /// Grouped-GEMM FLOP rate as a fraction of the math precision's dense peak.
    pub compute: f64,
    /// Streaming bandwidth, bytes/s.
    pub mem_bytes_per_s: f64,
    /// Fixed time per layer, seconds.
    pub fixed_s: f64,
    /// Routing time per token-expert assignment, seconds.
    pub routing_s: f64,
    /// The tile each expert's rows are padded to (`None`: exact rows).
    pub row_tile: Option<RowTile>,
}

/// A link's achievable rate and start-up latency.
#[derive(Clone, Copy, Debug)]
pub struct Link {
    /// Achievable bytes/s per GPU, one direction (peak × efficiency).
    pub bytes_per_s: f64,
    /// Start-up latency α, seconds.
    pub latency_s: f64,
}

/// A measured all-reduce shape, ready for interpolation.
#[derive(Clone, Debug)]
struct Shape {
    gpus: u64,
    bytes: Vec<f64>,
    factor: Vec<f64>,
    /// Smallest group size that uses this shape (one more than the next smaller shape's).
    min_gpus: u64,
    /// The least factor: α times it bounds the modelled all-reduce from below at any size.
    min_factor: f64,
    /// For each group size `min_gpus..=gpus` and each measured size k: the least modelled time
    /// of an all-reduce of `bytes[j]`, j ≥ k (α–β times the factor), seconds. A message is never
    /// priced above a larger one: it could be padded to it.
    suffix_min_s: Vec<Vec<f64>>,
}

impl Shape {
    /// The factor at `bytes`: linear in bytes between the measured sizes (a binary search, no
    /// logarithm: this runs in every layer step), the end values outside them; and the index of
    /// the first measured size above `bytes`.
    fn at(&self, bytes: f64) -> (f64, usize) {
        let (xs, ys) = (&self.bytes, &self.factor);
        let last = xs.len() - 1;
        if bytes < xs[0] {
            return (ys[0], 0);
        }
        if bytes >= xs[last] {
            return (ys[last], last + 1);
        }
        let i = xs.partition_point(|v| *v <= bytes).clamp(1, last);
        let t = (bytes - xs[i - 1]) / (xs[i] - xs[i - 1]);
        (ys[i - 1] + t * (ys[i] - ys[i - 1]), i)
    }
}

/// A measured custom all-reduce curve, ready for interpolation: the least time measured at each
/// size or any larger one (a message can be padded), in seconds.
#[derive(Clone, Debug)]
struct CustomCurve {
    gpus: u64,
    bytes: Vec<f64>,
    envelope_s: Vec<f64>,
}

impl CustomCurve {
    fn new(c: &CustomAllReduce) -> Self {
        let mut m = f64::INFINITY;
        let mut envelope_s: Vec<f64> =
            c.us.iter()
                .rev()
                .map(|t| {
                    m = m.min(units::us_to_s(*t));
                    m
                })
                .collect();
        envelope_s.reverse();
        Self {
            gpus: c.gpus,
            bytes: c.bytes.clone(),
            envelope_s,
        }
    }

    /// The time at `bytes`: the smallest size's below it, linear in bytes between measured sizes,
    /// and in proportion to the message beyond the largest (bandwidth-bound there). Never less
    /// for a larger message, and continuous.
    fn at(&self, bytes: f64) -> f64 {
        let (xs, ys) = (&self.bytes, &self.envelope_s);
        let last = xs.len() - 1;
        if bytes <= xs[0] {
            return ys[0];
        }
        if bytes >= xs[last] {
            return ys[last] * bytes / xs[last];
        }
        let i = xs.partition_point(|v| *v <= bytes).clamp(1, last);
        let t = (bytes - xs[i - 1]) / (xs[i] - xs[i - 1]);
        ys[i - 1] + t * (ys[i] - ys[i - 1])
    }
}

/// The hardware in SI units, ready for the performance model.
#[derive(Clone, Debug)]
pub struct Hardware {
    /// HBM capacity, bytes.
    pub mem_bytes: f64,
    /// Share of the free memory the KV cache may take.
    pub kv_cache_free_fraction: f64,
    /// Runtime memory per GPU, bytes.
    pub runtime_bytes: f64,
    /// Peak HBM bandwidth, bytes/s.
    pub mem_bw_bytes_per_s: f64,
    /// Achievable HBM bandwidth, bytes/s.
    pub eff_mem_bw_bytes_per_s: f64,
    /// Bandwidth at which GEMMs in FP4 math stream their weights, bytes/s.
    pub fp4_stream_bytes_per_s: f64,
    /// Matmul efficiency for 16-bit and fp32 math (fraction of peak).
    pub matmul_efficiency: f64,
    /// Matmul efficiency for 8-bit math.
    pub matmul_fp8_efficiency: f64,
    /// Matmul efficiency for fp8 weights with 128×128 block scales (serving).
    pub matmul_fp8_block_efficiency: f64,
    /// Matmul efficiency for FP4 math.
    pub matmul_fp4_efficiency: f64,
    /// Attention kernels' FLOP rate, fraction of the 16-bit peak.
    pub attention_efficiency: f64,
    /// Training attention's backward FLOP rate over its forward rate (`efficiency.attention_backward`).
    pub attention_backward_ratio: f64,
    /// Prefill attention's long-context fraction of the 16-bit peak (`efficiency.attention_prefill`).
    pub attention_prefill_efficiency: f64,
    /// Mean attended keys at which prefill attention runs at half that rate, tokens.
    pub attention_half_context: f64,
    /// KV-cache read bandwidth of attention kernels, bytes/s.
    pub attention_mem_bytes_per_s: f64,
    /// Fixed time of one attention kernel call, seconds.
    pub attention_s: f64,
    /// Grouped-query decode attention's floor per (sequence, KV head) on one GPU, seconds:
    /// [16-bit KV cache, 8-bit KV cache].
    pub attention_pair_s: [f64; 2],
    /// Fused-MoE rates per weight precision, in SI: [16-bit, 8-bit, 4-bit, 8-bit block-scaled, FP4,
    /// FP4 with the CUTLASS kernel alone, 8-bit block-scaled on DeepGEMM, 4-bit weights with fp8
    /// math].
    fused_moe: [MoeKernel; 8],
    /// Low-precision GEMM time by shape, in SI (`GemmShapeFit`): [per-tensor fp8, block-scaled
    /// fp8, FP4]; `None` keeps the flat fit.
    gemm_shape: [Option<GemmShape>; 3],
    /// Compute/memory overlap inside an operator.
    pub overlap: f64,
    /// GPUs in one host (sharing its CPUs and NICs).
    pub gpus_per_node: u64,
    /// GPUs on one scale-up fabric (NVLink domain, TPU pod): collectives and all-to-alls inside it
    /// run at the scale-up link, across it at the NICs.
    pub scaleup_gpus: u64,
    /// The scale-up fabric's name as printed.
    pub fabric: String,
    /// What the efficiencies are borrowed from, when nothing was measured on this accelerator.
    pub uncalibrated: Option<String>,
    /// The decode-attention kernel over chunked-attention layers (`gpu.chunked_decode`).
    pub chunked_decode: ChunkedDecode,
    /// Whether the preset has its own W4A8 fused-MoE rates (`[gpu.fused_moe.w4a8]`); without
    /// them 4-bit weights under fp8 activations take its fp8 kernel's.
    pub w4a8_moe_measured: bool,
    /// Scale-up link.
    pub scaleup: Link,
    /// Scale-out link.
    pub scaleout: Link,
    /// All-to-all over the scale-up fabric: what one GPU sends to the others per second.
    pub all_to_all: Link,
    /// All-gather and reduce-scatter over the scale-up fabric (bus bandwidth).
    pub all_gather: Link,
    /// Fixed time per layer per forward step, seconds.
    pub per_layer_s: f64,
    /// Host CPU time to issue one eager framework operator, seconds.
    pub host_op_s: f64,
    /// Floors of a serving MoE dispatch and combine over NVLink, seconds (0: none).
    pub moe_exchange_floor_s: (f64, f64),
    /// Fixed time per request before its prefill, seconds.
    pub per_request_s: f64,
    /// Time a served request's first token spends outside the GPUs' work, seconds.
    pub request_latency_s: f64,
    /// Fixed time per GEMM (16-bit/fp32 math), seconds.
    pub gemm_s: f64,
    /// Fixed time per GEMM (8-bit math), seconds.
    pub gemm_fp8_s: f64,
    /// Fixed time per memory-bound (small-m) GEMM (16-bit/fp32 math), seconds.
    pub gemm_memory_s: f64,
    /// Fixed time per memory-bound (small-m) GEMM (8-bit math), seconds.
    pub gemm_fp8_memory_s: f64,
    /// Fixed time per compute-bound GEMM on block-scaled fp8 weights, seconds.
    pub gemm_fp8_block_s: f64,
    /// Fixed time per memory-bound GEMM on block-scaled fp8 weights, seconds.
    pub gemm_fp8_block_memory_s: f64,
    /// Fixed time per compute-bound GEMM in FP4 math, seconds.
    pub gemm_fp4_s: f64,
    /// Fixed time per memory-bound GEMM in FP4 math, seconds.
    pub gemm_fp4_memory_s: f64,
    /// The run-time activation-scale computation inside the per-tensor fp8 GEMM times, seconds
    /// (what static activation scales save).
    pub fp8_dynamic_scale_s: f64,
    /// The share of a memory-bound GEMM's fixed time, timed alone, that it adds inside a served
    /// decode step (`overheads.gemm_memory_step_share`).
    pub gemm_memory_step_share: f64,
    /// USD per GPU-hour.
    pub usd_per_gpu_hour: f64,
    /// Measured all-reduce shapes inside a node, by increasing group size.
    all_reduce_shapes: Vec<Shape>,
    /// The serving runtime's measured custom all-reduce inside a node, by increasing group size.
    custom_all_reduce: Vec<CustomCurve>,
    /// The fused-MoE layer's measured skewed-over-balanced time, by increasing EP degree.
    routing_skew: Vec<RoutingSkew>,
}

impl Hardware {
    /// Convert a validated spec to SI.
    pub fn new(g: &GpuSpec) -> Self {
        let mem_bytes = units::gib_to_bytes(g.memory_gib);
        let bw = units::tb_per_s_to_bytes_per_s(g.memory_bw_tb_s);
        Self {
            mem_bytes,
            kv_cache_free_fraction: g.overheads.kv_cache_free_fraction,
            runtime_bytes: units::gib_to_bytes(g.overheads.runtime_gib),
            mem_bw_bytes_per_s: bw,
            eff_mem_bw_bytes_per_s: bw * g.efficiency.memory,
            fp4_stream_bytes_per_s: bw * g.efficiency.memory_fp4.unwrap_or(g.efficiency.memory),
            matmul_efficiency: g.efficiency.matmul,
            matmul_fp8_efficiency: g.efficiency.matmul_fp8.unwrap_or(g.efficiency.matmul),
            matmul_fp8_block_efficiency: g
                .efficiency
                .matmul_fp8_block
                .or(g.efficiency.matmul_fp8)
                .unwrap_or(g.efficiency.matmul),
            matmul_fp4_efficiency: g
                .efficiency
                .matmul_fp4
                .or(g.efficiency.matmul_fp8)
                .unwrap_or(g.efficiency.matmul),
            attention_efficiency: g.efficiency.attention.unwrap_or(g.efficiency.matmul),
            attention_backward_ratio: g.efficiency.attention_backward.unwrap_or(1.0),
            attention_prefill_efficiency: g
                .efficiency
                .attention_prefill
                .or(g.efficiency.attention)
                .unwrap_or(g.efficiency.matmul),
            attention_half_context: g.efficiency.attention_half_context.unwrap_or(0.0),
            attention_mem_bytes_per_s: bw
                * g.efficiency.attention_memory.unwrap_or(g.efficiency.memory),
            attention_s: units::us_to_s(g.overheads.attention_us),
            chunked_decode: g.chunked_decode,
            attention_pair_s: [
                units::ns_to_s(g.overheads.attention_pair_ns),
                units::ns_to_s(
                    g.overheads
                        .attention_pair_fp8_ns
                        .unwrap_or(g.overheads.attention_pair_ns),
                ),
            ],
            gemm_shape: {
                let si = |f: Option<GemmShapeFit>| {
                    f.map(|f| GemmShape {
                        efficiency: f.efficiency,
                        input_s_per_elem: f.input_bytes_per_elem / bw,
                        output_s_per_elem: f.output_bytes_per_elem / bw,
                        fixed_s: units::us_to_s(f.fixed_us),
                    })
                };
                [
                    si(g.gemm_shape.fp8),
                    si(g.gemm_shape.fp8_block),
                    si(g.gemm_shape.fp4),
                ]
            },
            fused_moe: {
                let dense = MoeKernel {
                    compute: 0.0,
                    mem_bytes_per_s: bw * g.efficiency.memory,
                    fixed_s: 0.0,
                    routing_s: 0.0,
                    row_tile: None,
                };
                let si = |r: FusedMoeRates| MoeKernel {
                    compute: r.compute,
                    mem_bytes_per_s: bw * r.memory,
                    fixed_s: units::us_to_s(r.fixed_us),
                    routing_s: units::ns_to_s(r.routing_ns),
                    row_tile: r.row_tile,
                };
                let sixteen = g.fused_moe.bf16.map_or(dense, si);
                let eight = g.fused_moe.fp8.map_or(sixteen, si);
                let four = g.fused_moe.fp4.map_or(eight, si);
                let block = g.fused_moe.fp8_block.map_or(eight, si);
                [
                    sixteen,
                    eight,
                    g.fused_moe.int4.map_or(sixteen, si),
                    block,
                    four,
                    g.fused_moe.fp4_cutlass.map_or(four, si),
                    g.fused_moe.fp8_block_deepgemm.map_or(block, si),
                    g.fused_moe.w4a8.map_or(eight, si),
                ]
            },
            overlap: g.efficiency.overlap.unwrap_or(1.0),
            gpus_per_node: g.node.gpus_per_node,
            scaleup_gpus: g.node.scaleup_domain.unwrap_or(g.node.gpus_per_node),
            fabric: g
                .node
                .fabric
                .clone()
                .unwrap_or_else(|| "NVLink".to_string()),
            uncalibrated: g.uncalibrated.clone(),
            w4a8_moe_measured: g.fused_moe.w4a8.is_some(),
            scaleup: Link {
                bytes_per_s: units::gb_per_s_to_bytes_per_s(g.node.scaleup_gb_s)
                    * g.efficiency.scaleup,
                latency_s: units::us_to_s(g.overheads.scaleup_latency_us),
            },
            all_to_all: Link {
                bytes_per_s: units::gb_per_s_to_bytes_per_s(g.node.scaleup_gb_s)
                    * g.efficiency.all_to_all.unwrap_or(g.efficiency.scaleup),
                latency_s: units::us_to_s(
                    g.overheads
                        .all_to_all_latency_us
                        .unwrap_or(g.overheads.scaleup_latency_us),
                ),
            },
            all_gather: Link {
                bytes_per_s: units::gb_per_s_to_bytes_per_s(g.node.scaleup_gb_s)
                    * g.efficiency.all_gather.unwrap_or(g.efficiency.scaleup),
                latency_s: units::us_to_s(
                    g.overheads
                        .all_gather_latency_us
                        .unwrap_or(g.overheads.scaleup_latency_us),
                ),
            },
            scaleout: Link {
                bytes_per_s: units::gbit_per_s_to_bytes_per_s(g.node.scaleout_gbit_s)
                    * g.efficiency.scaleout,
                latency_s: units::us_to_s(g.overheads.scaleout_latency_us),
            },
            per_layer_s: units::us_to_s(g.overheads.per_layer_us),
            host_op_s: units::us_to_s(g.overheads.host_op_us),
            moe_exchange_floor_s: (
                units::us_to_s(g.overheads.moe_dispatch_us.unwrap_or(0.0)),
                units::us_to_s(g.overheads.moe_combine_us.unwrap_or(0.0)),
            ),
            per_request_s: units::us_to_s(g.overheads.per_request_us),
            request_latency_s: units::us_to_s(g.overheads.request_latency_us),
            gemm_s: units::us_to_s(g.overheads.gemm_us),
            gemm_fp8_s: units::us_to_s(g.overheads.gemm_fp8_us.unwrap_or(g.overheads.gemm_us)),
            gemm_memory_s: units::us_to_s(
                g.overheads.gemm_memory_us.unwrap_or(g.overheads.gemm_us),
            ),
            gemm_fp8_memory_s: units::us_to_s(
                g.overheads
                    .gemm_fp8_memory_us
                    .or(g.overheads.gemm_fp8_us)
                    .unwrap_or(g.overheads.gemm_us),
            ),
            gemm_fp8_block_s: units::us_to_s(
                g.overheads
                    .gemm_fp8_block_us
                    .or(g.overheads.gemm_fp8_us)
                    .unwrap_or(g.overheads.gemm_us),
            ),
            gemm_fp8_block_memory_s: units::us_to_s(
                g.overheads
                    .gemm_fp8_block_memory_us
                    .or(g.overheads.gemm_fp8_memory_us)
                    .or(g.overheads.gemm_fp8_us)
                    .unwrap_or(g.overheads.gemm_us),
            ),
            gemm_fp4_s: units::us_to_s(
                g.overheads
                    .gemm_fp4_us
                    .or(g.overheads.gemm_fp8_us)
                    .unwrap_or(g.overheads.gemm_us),
            ),
            gemm_fp4_memory_s: units::us_to_s(
                g.overheads
                    .gemm_fp4_memory_us
                    .or(g.overheads.gemm_fp8_memory_us)
                    .or(g.overheads.gemm_fp8_us)
                    .unwrap_or(g.overheads.gemm_us),
            ),
            fp8_dynamic_scale_s: units::us_to_s(g.overheads.fp8_dynamic_scale_us),
            gemm_memory_step_share: g.overheads.gemm_memory_step_share.unwrap_or(1.0),
            usd_per_gpu_hour: g.price.usd_per_gpu_hour,
            all_reduce_shapes: {
                let scaleup = Link {
                    bytes_per_s: units::gb_per_s_to_bytes_per_s(g.node.scaleup_gb_s)
                        * g.efficiency.scaleup,
                    latency_s: units::us_to_s(g.overheads.scaleup_latency_us),
                };
                let mut v: Vec<Shape> = g
                    .all_reduce_shape
                    .iter()
                    .filter(|s| !s.bytes.is_empty() && s.bytes.len() == s.over_alpha_beta.len())
                    .map(|s| Shape {
                        gpus: s.gpus,
                        bytes: s.bytes.clone(),
                        factor: s.over_alpha_beta.clone(),
                        min_gpus: 2,
                        min_factor: s
                            .over_alpha_beta
                            .iter()
                            .copied()
                            .fold(f64::INFINITY, f64::min),
                        suffix_min_s: Vec::new(),
                    })
                    .collect();
                v.sort_by_key(|s| s.gpus);
                let mut lo = 2;
                for s in &mut v {
                    s.min_gpus = lo;
                    s.suffix_min_s = (lo..=s.gpus.max(lo))
                        .map(|n| {
                            let mut m = f64::INFINITY;
                            let mut out: Vec<f64> = s
                                .bytes
                                .iter()
                                .zip(&s.factor)
                                .rev()
                                .map(|(b, f)| {
                                    m = m.min(all_reduce_alpha_beta_s(*b, n, scaleup) * f);
                                    m
                                })
                                .collect();
                            out.reverse();
                            out
                        })
                        .collect();
                    lo = s.gpus.max(lo) + 1;
                }
                v
            },
            custom_all_reduce: {
                let mut v: Vec<CustomCurve> = g
                    .custom_all_reduce
                    .iter()
                    .filter(|c| !c.bytes.is_empty() && c.bytes.len() == c.us.len())
                    .map(CustomCurve::new)
                    .collect();
                v.sort_by_key(|c| c.gpus);
                v
            },
            routing_skew: {
                let mut v: Vec<RoutingSkew> = g
                    .routing_skew
                    .iter()
                    .filter(|r| {
                        r.tokens_per_expert.len() >= 2
                            && r.tokens_per_expert.len() == r.over_balanced.len()
                    })
                    .cloned()
                    .collect();
                v.sort_by_key(|r| r.ep);
                v
            },
        }
    }

    /// How much longer the busiest of `ep` expert-parallel ranks runs its fused-MoE layer under
    /// skewed routing than under balanced routing, at `tokens_per_expert` mean token-expert
    /// assignments per expert (docs/methodology.md §4.4): the measured ratio of the smallest
    /// measured degree that holds `ep` (the largest one beyond them), linear between the measured
    /// loads and the end values outside them, and never below 1 (the light loads at which the
    /// skewed kernels ran faster, on fewer hot experts, are left to the uniform routing the
    /// model prices them with). 1 without expert parallelism or a measurement.
    pub fn routing_skew(&self, ep: u64, tokens_per_expert: f64) -> f64 {
        if ep <= 1 {
            return 1.0;
        }
        let Some(row) = self
            .routing_skew
            .iter()
            .find(|r| r.ep >= ep)
            .or(self.routing_skew.last())
        else {
            return 1.0;
        };
        let (xs, ys) = (&row.tokens_per_expert, &row.over_balanced);
        let i = xs.partition_point(|&x| x < tokens_per_expert);
        let ratio = if i == 0 {
            ys[0]
        } else if i == xs.len() {
            ys[xs.len() - 1]
        } else {
            let f = (tokens_per_expert - xs[i - 1]) / (xs[i] - xs[i - 1]);
            ys[i - 1] + f * (ys[i] - ys[i - 1])
        };
        ratio.max(1.0)
    }

    /// The serving runtime's own all-reduce of `bytes` per rank over `n` GPUs inside one node, as
    /// measured (the curve of the smallest measured group that holds `n` GPUs), or `None` when the
    /// preset measured none that large.
    pub fn custom_all_reduce_s(&self, n: u64, bytes: f64) -> Option<f64> {
        self.custom_all_reduce
            .iter()
            .find(|c| c.gpus >= n)
            .map(|c| c.at(bytes))
    }

    /// The measured all-reduce shape for a group of `n` GPUs inside one node at `bytes` per rank
    /// (measured time over the α–β time): the shape of the smallest measured group that holds
    /// `n` GPUs, or `None` when the preset measured none that large.
    pub fn all_reduce_shape(&self, n: u64, bytes: f64) -> Option<f64> {
        self.all_reduce_shapes
            .iter()
            .find(|s| s.gpus >= n)
            .map(|s| s.at(bytes).0)
    }

    /// A lower bound of `all_reduce_in_node_s(n, ·)` at every message size: α times the least
    /// measured factor of the group's shape (α alone without one).
    pub fn all_reduce_in_node_floor_s(&self, n: u64) -> f64 {
        self.scaleup.latency_s
            * self
                .all_reduce_shapes
                .iter()
                .find(|s| s.gpus >= n)
                .map_or(1.0, |s| s.min_factor)
    }

    /// An all-reduce of `bytes` per rank over `n` GPUs inside one node (`2 ≤ n`): the α–β ring
    /// over the scale-up link times the measured shape, never more than the same model gives a
    /// larger measured message (the measured curve dips in places; a message can be padded).
    pub fn all_reduce_in_node_s(&self, n: u64, bytes: f64) -> f64 {
        let t = all_reduce_alpha_beta_s(bytes, n, self.scaleup);
        let Some(s) = self.all_reduce_shapes.iter().find(|s| s.gpus >= n) else {
            return t;
        };
        let (factor, next) = s.at(bytes);
        let t = t * factor;
        match s
            .suffix_min_s
            .get(n.saturating_sub(s.min_gpus) as usize)
            .and_then(|v| v.get(next))
        {
            Some(&m) => t.min(m),
            None => t,
        }
    }

    /// Fixed time of one compute-bound GEMM (m ≥ 1024 rows) whose math runs in `dtype` (FP4 math
    /// its own measured time, `gemm_fp4_us`; the fp8 one where the preset has none).
    pub fn gemm_overhead_s(&self, dtype: Dtype) -> f64 {
        match dtype {
            Dtype::Nvfp4 | Dtype::Mxfp4 => self.gemm_fp4_s,
            Dtype::Fp8 | Dtype::Int8 => self.gemm_fp8_s,
            _ => self.gemm_s,
        }
    }

    /// Fixed time of one memory-bound GEMM (m ≤ 64 rows) whose math runs in `dtype`.
    pub fn gemm_memory_overhead_s(&self, dtype: Dtype) -> f64 {
        match dtype {
            Dtype::Nvfp4 | Dtype::Mxfp4 => self.gemm_fp4_memory_s,
            Dtype::Fp8 | Dtype::Int8 => self.gemm_fp8_memory_s,
            _ => self.gemm_memory_s,
        }
    }

    /// Fixed time of one GEMM of `m` rows whose math runs in `dtype` (docs/methodology.md §4.1).
    pub fn gemm_fixed_s(&self, dtype: Dtype, m: f64) -> f64 {
        gemm_fixed_s(
            self.gemm_memory_overhead_s(dtype),
            self.gemm_overhead_s(dtype),
            m,
        )
    }

    /// The shape fit of GEMMs whose math runs in `math` (`block_scaled`: fp8 with 128×128 block
    /// scales), if the preset has one (per-tensor fp8, block-scaled fp8, FP4).
    pub fn gemm_shape(&self, math: Dtype, block_scaled: bool) -> Option<GemmShape> {
        match math {
            Dtype::Fp8 if block_scaled => self.gemm_shape[1],
            Dtype::Fp8 => self.gemm_shape[0],
            Dtype::Nvfp4 | Dtype::Mxfp4 => self.gemm_shape[2],
            _ => None,
        }
    }

    /// The fused-MoE kernel for weights in `dtype` whose matmuls run in `math`: its compute
    /// efficiency (fraction of `math`'s peak; the dense matmul efficiency when the preset gives
    /// none), streaming bandwidth and fixed times. `block_scaled` fp8 weights (one scale per
    /// 128×128 block) take the block-scaled kernel. FP4 weights take the FP4 kernel
    /// (`[gpu.fused_moe.fp4]`, the 8-bit one's where the preset has none; `fp4_cutlass` when the
    /// runtime runs TensorRT-LLM's CUTLASS kernel alone, `cutlass`) where the math runs in FP4,
    /// and the 4-bit weight-only kernel's where it runs in 16 bits. Block-scaled fp8 on DeepGEMM
    /// takes `fp8_block_deepgemm`.
    pub fn fused_moe(
        &self,
        dtype: Dtype,
        math: Dtype,
        block_scaled: bool,
        family: MoeKernelFamily,
    ) -> MoeKernel {
        let cutlass = family == MoeKernelFamily::Cutlass;
        let k = self.fused_moe[match dtype {
            Dtype::Fp8 if block_scaled && family == MoeKernelFamily::DeepGemm => 6,
            Dtype::Fp8 if block_scaled => 3,
            Dtype::Fp8 | Dtype::Int8 => 1,
            Dtype::Nvfp4 if math.is_fp4() && cutlass => 5,
            Dtype::Nvfp4 | Dtype::Mxfp4 if math.is_fp4() => 4,
            Dtype::Int4 | Dtype::Nvfp4 | Dtype::Mxfp4 if math == Dtype::Fp8 => 7,
            Dtype::Int4 | Dtype::Nvfp4 | Dtype::Mxfp4 => 2,
            _ => 0,
        }];
        MoeKernel {
            compute: if k.compute > 0.0 {
                k.compute
            } else {
                self.matmul_efficiency_for(math)
            },
            ..k
        }
    }

    /// Bandwidth at which a GEMM whose math runs in `dtype` streams its weights: FP4 kernels'
    /// own (`memory_fp4`), every other precision's `memory`.
    pub fn stream_bytes_per_s(&self, dtype: Dtype) -> f64 {
        if dtype.is_fp4() {
            self.fp4_stream_bytes_per_s
        } else {
            self.eff_mem_bw_bytes_per_s
        }
    }

    /// Matmul efficiency for math in `dtype` (FP4 math its own measured fraction of the FP4 peak,
    /// `matmul_fp4`; the fp8 fraction where the preset has none).
    pub fn matmul_efficiency_for(&self, dtype: Dtype) -> f64 {
        match dtype {
            Dtype::Nvfp4 | Dtype::Mxfp4 => self.matmul_fp4_efficiency,
            Dtype::Fp8 | Dtype::Int8 => self.matmul_fp8_efficiency,
            _ => self.matmul_efficiency,
        }
    }
}

/// GEMMs of at most this many rows (tokens) are in the memory-bound regime: they stream their
/// weights, and their fixed time is the measured small-m floor (`gemm_memory_us`, fitted on m ≤ 64).
pub const GEMM_MEMORY_ROWS: f64 = 64.0;
/// GEMMs of at least this many rows are in the compute-bound regime: their fixed time is the
/// intercept of the large-GEMM fit (`gemm_us`, fitted on m ≥ 1024).
pub const GEMM_COMPUTE_ROWS: f64 = 1024.0;

/// The fixed time of one GEMM of `m` rows between the two measured regimes: the small-m floor
/// `memory_s` up to 64 rows, the large-GEMM intercept `compute_s` from 1024 rows (never below the
/// floor), linear in m between the two fitted ranges, so the time is continuous and never falls as
/// m grows.
pub fn gemm_fixed_s(memory_s: f64, compute_s: f64, m: f64) -> f64 {
    let share = ((m - GEMM_MEMORY_ROWS) / (GEMM_COMPUTE_ROWS - GEMM_MEMORY_ROWS)).clamp(0.0, 1.0);
    memory_s + share * (compute_s.max(memory_s) - memory_s)
}

/// Ring all-reduce of `bytes` per rank over `n` ranks joined by `link` under the α–β model.
fn all_reduce_alpha_beta_s(bytes: f64, n: u64, link: Link) -> f64 {
    let n = n as f64;
    link.latency_s + 2.0 * (n - 1.0) / n * bytes / link.bytes_per_s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::assert_close;

    #[test]
    fn the_triton_row_tile_follows_matmul_ogs_heuristic() {
        // triton_kernels opt_flags.py (make_default_opt_flags_nvidia): t = max(1, ⌊m / experts⌋);
        // t ≤ 64: next_pow2(2t) within 16–64; above: next_pow2(t) within 16–128. gpt-oss-120b's
        // top-4 of 128 on EP 4 (32 local experts), rows = tokens gathered to the rank.
        let tile = RowTile::TritonOgs;
        for (rows, want) in [
            (1.0, 16.0),    // t = max(1, 0) = 1 → 2 → 16
            (64.0, 16.0),   // t = 8 → 16
            (128.0, 32.0),  // t = 16 → 32
            (160.0, 64.0),  // t = 20 → 64 (the measured 0.25 → 0.32 ms step)
            (512.0, 64.0),  // t = 64 → 128, held at 64
            (768.0, 128.0), // t = 96 → 128 (the measured 0.33 → 0.61 ms step)
            (16384.0, 128.0),
        ] {
            assert_close(tile.block_rows(rows, 4.0, 32.0), want, 0.0);
        }
    }

    #[test]
    fn the_shape_interpolates_between_sizes_and_holds_its_ends() {
        let s = Shape {
            gpus: 8,
            bytes: vec![1000.0, 2000.0, 4000.0],
            factor: vec![1.0, 2.0, 0.5],
            min_gpus: 2,
            min_factor: 0.5,
            suffix_min_s: Vec::new(),
        };
        assert_close(s.at(1000.0).0, 1.0, 1e-12);
        assert_close(s.at(1500.0).0, 1.5, 1e-12);
        assert_close(s.at(3000.0).0, 1.25, 1e-12);
        assert_close(s.at(1.0).0, 1.0, 1e-12);
        assert_close(s.at(1e12).0, 0.5, 1e-12);
    }

    #[test]
    fn the_custom_curve_interpolates_takes_its_envelope_and_scales_beyond_its_end() {
        let c = CustomCurve::new(&CustomAllReduce {
            gpus: 8,
            bytes: vec![1000.0, 2000.0, 4000.0, 8000.0],
            us: vec![3.0, 5.0, 4.0, 8.0],
        });
        // The 2000 B point (5 µs) is above the 4000 B one: the envelope takes 4 µs there.
        assert_close(c.at(10.0), 3e-6, 1e-12);
        assert_close(c.at(1500.0), 3.5e-6, 1e-12);
        assert_close(c.at(2000.0), 4e-6, 1e-12);
        assert_close(c.at(3000.0), 4e-6, 1e-12);
        assert_close(c.at(6000.0), 6e-6, 1e-12);
        assert_close(c.at(16000.0), 16e-6, 1e-12);
    }

    #[test]
    fn an_all_reduce_never_takes_less_time_for_a_larger_message() {
        // H100's measured 4-GPU shape dips (0.796 at 16 KiB, 0.71 at 32 KiB): priced as is, a
        // 128 KiB all-reduce took less than a 16 KiB one, and TTFT fell as the prompt grew.
        let g = crate::presets::load_gpu("h100", &[]).unwrap();
        let hw = Hardware::new(&g.gpu);
        for n in [2, 3, 4, 6, 8] {
            let mut prev = 0.0;
            let mut bytes = 64.0;
            while bytes < 1e9 {
                let t = hw.all_reduce_in_node_s(n, bytes);
                assert!(t >= prev, "n {n}, {bytes} B: {t} < {prev}");
                assert!(
                    t >= hw.all_reduce_in_node_floor_s(n),
                    "n {n}, {bytes} B: below the floor"
                );
                prev = t;
                bytes *= 1.09;
            }
        }
    }
}
