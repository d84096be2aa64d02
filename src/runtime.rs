//! Runtime profiles (docs/methodology.md §18): the software a run used, as a named TOML preset
//! under presets/runtimes/ (compiled into the binary) or a path. A profile states the software
//! facts that change the prediction: the attention kernel, sequence parallelism, gradient and
//! all-to-all overlap, the MoE dispatcher, the gradient-reduction precision, the batching, and the
//! runtime's fixed costs. A setting a profile leaves out keeps the built-in default; an explicit
//! flag or validation-case field wins over the profile (flag > profile > default).

use crate::hardware::GpuPreset;
use crate::perf::{Batching, MoeDispatch, MoeOverlap};
use crate::presets::Override;
use crate::train::{
    AttentionImpl, EpDispatcher, EpOverlap, GradOverlap, GradReduce, TpOverlap, Zero3Fetch,
};
use anyhow::{Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use std::path::Path;

macro_rules! runtimes {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../presets/runtimes/", $name, ".toml")))),*]
    };
}

/// Built-in runtime profiles: (name, TOML text).
pub const RUNTIMES: &[(&str, &str)] = runtimes!(
    "modern",
    "megatron-2021",
    "deepspeed-2022",
    "megatron-core-2024",
    "megatron-bridge-26.08",
    "llm-foundry-2023",
    "fastertransformer-5",
    "trtllm-0.9",
    "trtllm-1.0",
    "trtllm-1.2",
    "trtllm-1.3",
    "sglang-0.5",
    "sglang-0.5.12",
    "sglang-0.5.9-rocm-mi30x",
    "sglang-0.5.12-rocm-mi30x",
    "atom-0.1",
    "vllm-0.8",
);

/// The profile in force when none is named: today's software, the built-in defaults.
pub const DEFAULT_RUNTIME: &str = "modern";

/// A runtime profile file.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimePreset {
    /// Short name (the file name of a built-in profile).
    pub name: String,
    /// One line: which software, which versions.
    pub description: String,
    /// Where the settings come from (each setting also names its source in a comment).
    pub source: String,
    /// The settings.
    pub runtime: Runtime,
}

/// The settings of a profile; every one optional (absent = the built-in default).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Runtime {
    /// Training settings (`train`, training cases).
    #[serde(default)]
    pub training: TrainingRuntime,
    /// Serving settings (`sweep`, `estimate`, inference cases).
    #[serde(default)]
    pub serving: ServingRuntime,
    /// Fixed costs that replace the GPU preset's `[gpu.overheads]` values.
    #[serde(default)]
    pub overheads: RuntimeOverheads,
}

/// Training software facts.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainingRuntime {
    /// Attention kernel (default flash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention: Option<AttentionImpl>,
    /// Sequence parallelism with tensor parallelism (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_parallel: Option<bool>,
    /// Fraction of the data-parallel gradient traffic hidden behind the backward pass (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dp_overlap: Option<f64>,
    /// Precision of the data-parallel gradient reduction (default auto).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grad_reduce: Option<GradReduce>,
    /// MoE token dispatcher (default alltoall).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ep_dispatcher: Option<EpDispatcher>,
    /// Expert-parallel all-to-all overlap (default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ep_overlap: Option<EpOverlap>,
    /// Data-parallel traffic bucketed and overlapped with compute (default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grad_overlap: Option<GradOverlap>,
    /// Tensor-parallel collectives overlapped with their GEMMs (default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tp_overlap: Option<TpOverlap>,
    /// ZeRO-3 parameter-gather granularity (default block).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zero3_fetch: Option<Zero3Fetch>,
    /// Multiplier of the GPU preset's `host_op_us` (the host time added to a training MoE layer);
    /// 0 = no host time (full CUDA graphs, XLA). Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_op_scale: Option<f64>,
}

/// Serving software facts.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServingRuntime {
    /// continuous (in-flight) or static batching (default continuous).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batching: Option<Batching>,
    /// Activations sharded over TP between layers (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_parallel: Option<bool>,
    /// MoE token exchange under attention DP (default auto).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moe_dispatch: Option<MoeDispatch>,
    /// MoE exchange overlap (default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moe_overlap: Option<MoeOverlap>,
    /// How per-tensor fp8 and NVFP4 GEMMs get their activation scale (default static): static
    /// scales also let the kernel before the GEMM write its quantised input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fp8_activation_scales: Option<Fp8Scales>,
    /// The shared experts run beside the routed experts (a second CUDA stream in decode steps
    /// replayed from a CUDA graph, or fused into the routed experts' kernel), not after them
    /// (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_expert_overlap: Option<bool>,
    /// The fused-MoE kernels the runtime runs (default the faster measured kernel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moe_backend: Option<crate::perf::MoeBackend>,
    /// The decode batches the runtime captures CUDA graphs for, padding a step to the next
    /// (default none: a graph at every batch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuda_graph_batch_sizes: Option<Vec<u64>>,
    /// Decode iterations between the scheduler's polls for new requests (SGLang's
    /// `--scheduler-recv-interval`; default 1, every iteration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler_recv_interval: Option<u64>,
    /// TensorRT-LLM's attention-DP balancing: `attention_dp_config.timeout_iters` with
    /// `enable_balance` (default 0, off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adp_balance_timeout_iters: Option<u64>,
    /// Its `batching_wait_iters` (default TensorRT-LLM's 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adp_balance_wait_iters: Option<u64>,
    /// TensorRT-LLM's batch waiting without attention DP: `batch_wait_timeout_iters` (default 0,
    /// off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_wait_timeout_iters: Option<u64>,
    /// Its `batch_wait_max_tokens_ratio` (default 0, off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_wait_max_tokens_ratio: Option<f64>,
    /// Decode iterations a prefilled request spends at a disaggregated decode worker before its
    /// first token leaves (taken in, its KV cache received, admitted to a batch; default
    /// `perf::DECODE_ADMISSION_ITERS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_admission_iters: Option<f64>,
    /// Whether a disaggregated prefill worker's scheduler runs the overlap loop: it forms and
    /// launches the next batch before it processes the one in flight, so a request arriving
    /// during a forward also waits for the next (default true: SGLang's
    /// `event_loop_overlap_disagg_prefill`, TensorRT-LLM's PyTorch executor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefill_overlap: Option<bool>,
    /// Whether an iteration's decode tokens count against its token budget (`max_num_tokens`),
    /// leaving the rest to prompts: TensorRT-LLM's micro-batch scheduler and vLLM's scheduler
    /// share one budget (default true); SGLang bounds its prefill batches alone
    /// (`--chunked-prefill-size`). Priced by the simulation (`estimate --requests`, a
    /// `requests` case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_shares_budget: Option<bool>,
    /// Whether, under static scales, the kernel before an NVFP4 GEMM writes its input in NVFP4
    /// (TensorRT-LLM's RMSNorm with `quantize_type = "nvfp4"` and its fused all-reduce; default
    /// true), or the linear quantises its bf16 input itself (SGLang's and vLLM's
    /// `ModelOptFp4LinearMethod`: `scaled_fp4_quant` before the GEMM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nvfp4_fused_input: Option<bool>,
}

/// Where a per-tensor fp8 GEMM's activation scale comes from (docs/methodology.md §4.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fp8Scales {
    /// Calibrated with the checkpoint (ModelOpt FP8 checkpoints, TensorRT-LLM's fp8 recipes,
    /// vLLM's static fp8 checkpoints): a quantize kernel only.
    #[default]
    Static,
    /// Computed from each activation at run time (vLLM `--quantization fp8` on a 16-bit
    /// checkpoint): an amax reduction before every quantize, `gpu.overheads.fp8_dynamic_scale_us`.
    Dynamic,
}

/// Fixed costs of the runtime, replacing the GPU preset's (absent = the GPU preset's value).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuntimeOverheads {
    /// `gpu.overheads.per_layer_us`: fixed time per transformer layer per forward step, µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_layer_us: Option<f64>,
    /// `gpu.overheads.per_request_us`: fixed time a request (a static batch) pays before its
    /// prefill, µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_request_us: Option<f64>,
    /// `gpu.overheads.request_latency_us`: time a served request's first token spends in the
    /// front end, the scheduler and the host's prefill preparation, outside the GPUs' work, µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_latency_us: Option<f64>,
}

/// The GPU preset fields a profile's overheads replace.
const PER_LAYER_KEY: &str = "gpu.overheads.per_layer_us";
const PER_REQUEST_KEY: &str = "gpu.overheads.per_request_us";
const REQUEST_LATENCY_KEY: &str = "gpu.overheads.request_latency_us";
const HOST_OP_KEY: &str = "gpu.overheads.host_op_us";
const FP8_SCALE_KEY: &str = "gpu.overheads.fp8_dynamic_scale_us";

impl Runtime {
    /// Training attention kernel in force.
    pub fn attention(&self) -> AttentionImpl {
        self.training.attention.unwrap_or(AttentionImpl::Flash)
    }
    /// Training sequence parallelism in force.
    pub fn train_sequence_parallel(&self) -> bool {
        self.training.sequence_parallel.unwrap_or(true)
    }
    /// DP overlap in force.
    pub fn dp_overlap(&self) -> f64 {
        self.training.dp_overlap.unwrap_or(0.0)
    }
    /// Gradient-reduction precision in force.
    pub fn grad_reduce(&self) -> GradReduce {
        self.training.grad_reduce.unwrap_or_default()
    }
    /// MoE dispatcher in force (training).
    pub fn ep_dispatcher(&self) -> EpDispatcher {
        self.training.ep_dispatcher.unwrap_or_default()
    }
    /// EP overlap in force (training).
    pub fn ep_overlap(&self) -> EpOverlap {
        self.training.ep_overlap.unwrap_or_default()
    }
    /// Bucketed DP overlap in force (training).
    pub fn grad_overlap(&self) -> GradOverlap {
        self.training.grad_overlap.unwrap_or_default()
    }
    /// TP overlap in force (training).
    pub fn tp_overlap(&self) -> TpOverlap {
        self.training.tp_overlap.unwrap_or_default()
    }
    /// ZeRO-3 gather granularity in force.
    pub fn zero3_fetch(&self) -> Zero3Fetch {
        self.training.zero3_fetch.unwrap_or_default()
    }
    /// Batching in force (serving).
    pub fn batching(&self) -> Batching {
        self.serving.batching.unwrap_or_default()
    }
    /// Serving sequence parallelism in force.
    pub fn serve_sequence_parallel(&self) -> bool {
        self.serving.sequence_parallel.unwrap_or(false)
    }
    /// MoE exchange in force (serving).
    pub fn moe_dispatch(&self) -> MoeDispatch {
        self.serving.moe_dispatch.unwrap_or_default()
    }
    /// MoE overlap in force (serving).
    pub fn moe_overlap(&self) -> MoeOverlap {
        self.serving.moe_overlap.unwrap_or_default()
    }
    /// fp8 activation scales in force (serving).
    pub fn fp8_activation_scales(&self) -> Fp8Scales {
        self.serving.fp8_activation_scales.unwrap_or_default()
    }
    /// Whether the shared experts run beside the routed experts in a decode step (serving).
    pub fn shared_expert_overlap(&self) -> bool {
        self.serving.shared_expert_overlap.unwrap_or(true)
    }
    /// The fused-MoE kernels in force (serving).
    pub fn moe_backend(&self) -> crate::perf::MoeBackend {
        self.serving.moe_backend.unwrap_or_default()
    }
    /// Whether per-tensor fp8 GEMMs read an input the kernel before them quantised (static
    /// scales; `Context::fused_input_quant`).
    pub fn fused_input_quant(&self) -> bool {
        self.fp8_activation_scales() == Fp8Scales::Static
    }
    /// The decode batches captured as CUDA graphs, with padding (serving; empty: none).
    pub fn cuda_graph_batch_sizes(&self) -> Vec<u64> {
        self.serving
            .cuda_graph_batch_sizes
            .clone()
            .unwrap_or_default()
    }
    /// Decode iterations between the scheduler's polls for new requests (serving).
    pub fn scheduler_recv_interval(&self) -> u64 {
        self.serving.scheduler_recv_interval.unwrap_or(1)
    }
    /// Decode iterations a prefilled request spends at a disaggregated decode worker before its
    /// first token (serving).
    pub fn decode_admission_iters(&self) -> f64 {
        self.serving
            .decode_admission_iters
            .unwrap_or(crate::perf::DECODE_ADMISSION_ITERS)
    }
    /// Whether a disaggregated prefill worker runs the overlap loop (serving).
    pub fn prefill_overlap(&self) -> bool {
        self.serving.prefill_overlap.unwrap_or(true)
    }
    /// Whether decode tokens count against an iteration's token budget (serving).
    pub fn decode_shares_budget(&self) -> bool {
        self.serving.decode_shares_budget.unwrap_or(true)
    }
    /// Whether NVFP4 GEMMs read an input the kernel before them quantised (static scales and
    /// `nvfp4_fused_input`; `Context::nvfp4_fused_input`).
    pub fn nvfp4_fused_input(&self) -> bool {
        self.fused_input_quant() && self.serving.nvfp4_fused_input.unwrap_or(true)
    }
    /// TensorRT-LLM's attention-DP balancing, when on (serving).
    pub fn adp_balance(&self) -> Option<crate::perf::admission::AdpBalance> {
        self.adp_balance_over(None, None)
    }
    /// The rule with a flag's or a case's settings over the profile's: a timeout given turns it
    /// on (0: off), a gathering given wins.
    pub fn adp_balance_over(
        &self,
        timeout_iters: Option<u64>,
        wait_iters: Option<u64>,
    ) -> Option<crate::perf::admission::AdpBalance> {
        crate::perf::admission::AdpBalance::enabled(
            timeout_iters
                .or(self.serving.adp_balance_timeout_iters)
                .unwrap_or(0),
            wait_iters.unwrap_or_else(|| self.adp_balance_wait_iters()),
        )
    }
    /// TensorRT-LLM's batch waiting, when on (serving), with a flag's or a case's settings over
    /// the profile's: each one given wins.
    pub fn batch_wait_over(
        &self,
        timeout_iters: Option<u64>,
        max_tokens_ratio: Option<f64>,
    ) -> Option<crate::perf::admission::BatchWait> {
        crate::perf::admission::BatchWait::enabled(
            timeout_iters
                .or(self.serving.batch_wait_timeout_iters)
                .unwrap_or(0),
            max_tokens_ratio
                .or(self.serving.batch_wait_max_tokens_ratio)
                .unwrap_or(0.0),
        )
    }
    /// Its gathering iterations (serving; TensorRT-LLM's default 10).
    pub fn adp_balance_wait_iters(&self) -> u64 {
        self.serving
            .adp_balance_wait_iters
            .unwrap_or(crate::perf::admission::TRTLLM_DEFAULT_WAIT_ITERS)
    }

    /// Put the profile's fixed costs into a loaded GPU preset, except where `user` overrides
    /// (`--set`, a case's `set`) that apply to this GPU name the same field: those win. `loaded_as`
    /// is the name or path the preset was loaded by (a scope may name either, as `--set` does).
    /// Validates the result.
    pub fn apply_to_gpu(
        &self,
        gpu: &mut GpuPreset,
        user: &[Override],
        loaded_as: &str,
    ) -> Result<()> {
        let names = [gpu.name.clone(), loaded_as.to_string()];
        let names = [names[0].as_str(), names[1].as_str()];
        let user_sets = |key: &str| user.iter().any(|o| o.key == key && o.applies_to(&names));
        let o = &mut gpu.gpu.overheads;
        if let (Some(v), false) = (self.overheads.per_layer_us, user_sets(PER_LAYER_KEY)) {
            o.per_layer_us = v;
        }
        if let (Some(v), false) = (self.overheads.per_request_us, user_sets(PER_REQUEST_KEY)) {
            o.per_request_us = v;
        }
        if let (Some(v), false) = (
            self.overheads.request_latency_us,
            user_sets(REQUEST_LATENCY_KEY),
        ) {
            o.request_latency_us = v;
        }
        if let (Some(k), false) = (self.training.host_op_scale, user_sets(HOST_OP_KEY)) {
            o.host_op_us *= k;
        }
        // Serving subtracts the measured scale computation from the per-tensor fp8 GEMM times
        // only when scales are static: a dynamic runtime keeps all of it.
        if self.fp8_activation_scales() == Fp8Scales::Dynamic && !user_sets(FP8_SCALE_KEY) {
            o.fp8_dynamic_scale_us = 0.0;
        }
        gpu.gpu.validate()
    }

    /// The profile's fixed costs as `--set` overrides of every GPU preset (for `reproduce`, whose
    /// claims fix their own software). A host-op scale other than 0 or 1 cannot be written as
    /// one value for every GPU and is refused.
    pub fn fixed_cost_overrides(&self) -> Result<Vec<Override>> {
        let mut out = Vec::new();
        let mut push = |key: &str, v: f64| -> Result<()> {
            out.push(
                format!("{key}={v}")
                    .parse()
                    .map_err(|e: String| anyhow!(e))?,
            );
            Ok(())
        };
        if let Some(v) = self.overheads.per_layer_us {
            push(PER_LAYER_KEY, v)?;
        }
        if let Some(v) = self.overheads.per_request_us {
            push(PER_REQUEST_KEY, v)?;
        }
        if let Some(v) = self.overheads.request_latency_us {
            push(REQUEST_LATENCY_KEY, v)?;
        }
        match self.training.host_op_scale {
            None => {}
            Some(1.0) => {}
            Some(0.0) => push(HOST_OP_KEY, 0.0)?,
            Some(k) => bail!(
                "runtime.training.host_op_scale = {k}: reproduce takes 0 (no host time) or 1 (the GPU preset's)"
            ),
        }
        if self.fp8_activation_scales() == Fp8Scales::Dynamic {
            push(FP8_SCALE_KEY, 0.0)?;
        }
        Ok(out)
    }

    /// Check ranges: one line naming the field, its value and what is allowed.
    pub fn validate(&self) -> Result<()> {
        let frac = |key: &str, v: Option<f64>| -> Result<()> {
            match v {
                Some(x) if !(x.is_finite() && (0.0..=1.0).contains(&x)) => {
                    bail!(
                        "runtime.{key} = {}: must be a fraction from 0 to 1",
                        crate::limits::short(x)
                    )
                }
                _ => Ok(()),
            }
        };
        let nonneg = |key: &str, v: Option<f64>, max: f64| -> Result<()> {
            match v {
                Some(x) if !(x.is_finite() && (0.0..=max).contains(&x)) => {
                    bail!(
                        "runtime.{key} = {}: must be a number from 0 to {}",
                        crate::limits::short(x),
                        crate::limits::short(max)
                    )
                }
                _ => Ok(()),
            }
        };
        frac("training.dp_overlap", self.training.dp_overlap)?;
        frac(
            "serving.batch_wait_max_tokens_ratio",
            self.serving.batch_wait_max_tokens_ratio,
        )?;
        if let Some(j) = self.serving.decode_admission_iters {
            crate::limits::float_flag_range("decode-admission-iters")
                .check("runtime.serving.decode_admission_iters =", j)
                .map_err(anyhow::Error::msg)?;
        }
        for &b in self.serving.cuda_graph_batch_sizes.iter().flatten() {
            crate::limits::flag_range("batch")
                .check("runtime.serving.cuda_graph_batch_sizes =", b)
                .map_err(anyhow::Error::msg)?;
        }
        if let Some(k) = self.serving.scheduler_recv_interval {
            crate::limits::flag_range("scheduler-recv-interval")
                .check("runtime.serving.scheduler_recv_interval =", k)
                .map_err(anyhow::Error::msg)?;
        }
        for (key, flag, v) in [
            (
                "runtime.serving.adp_balance_timeout_iters =",
                "adp-balance",
                self.serving.adp_balance_timeout_iters,
            ),
            (
                "runtime.serving.adp_balance_wait_iters =",
                "adp-balance-wait",
                self.serving.adp_balance_wait_iters,
            ),
            (
                "runtime.serving.batch_wait_timeout_iters =",
                "batch-wait",
                self.serving.batch_wait_timeout_iters,
            ),
        ] {
            if let Some(k) = v {
                crate::limits::flag_range(flag)
                    .check(key, k)
                    .map_err(anyhow::Error::msg)?;
            }
        }
        nonneg("training.host_op_scale", self.training.host_op_scale, 100.0)?;
        nonneg("overheads.per_layer_us", self.overheads.per_layer_us, 1e6)?;
        nonneg(
            "overheads.per_request_us",
            self.overheads.per_request_us,
            1e8,
        )?;
        nonneg(
            "overheads.request_latency_us",
            self.overheads.request_latency_us,
            1e6,
        )?;
        Ok(())
    }
}

impl RuntimePreset {
    /// One line for `--explain` and notes: the name and every setting it states.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        let t = &self.runtime.training;
        let s = &self.runtime.serving;
        let o = &self.runtime.overheads;
        let mut push = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                parts.push(format!("{k} {v}"));
            }
        };
        push("attention", t.attention.as_ref().map(value_name));
        push(
            "sequence-parallel (training)",
            t.sequence_parallel.map(|v| v.to_string()),
        );
        push("dp-overlap", t.dp_overlap.map(|v| v.to_string()));
        push("grad-reduce", t.grad_reduce.as_ref().map(value_name));
        push("ep-dispatcher", t.ep_dispatcher.as_ref().map(value_name));
        push("ep-overlap", t.ep_overlap.as_ref().map(value_name));
        push("grad-overlap", t.grad_overlap.as_ref().map(value_name));
        push("tp-overlap", t.tp_overlap.as_ref().map(value_name));
        push("zero3-fetch", t.zero3_fetch.as_ref().map(value_name));
        push("host-op ×", t.host_op_scale.map(|v| v.to_string()));
        push("batching", s.batching.as_ref().map(value_name));
        push(
            "sequence-parallel (serving)",
            s.sequence_parallel.map(|v| v.to_string()),
        );
        push("moe-dispatch", s.moe_dispatch.as_ref().map(value_name));
        push("moe-overlap", s.moe_overlap.as_ref().map(value_name));
        push(
            "fp8-activation-scales",
            s.fp8_activation_scales.as_ref().map(value_name),
        );
        push(
            "shared-expert-overlap",
            s.shared_expert_overlap.map(|v| v.to_string()),
        );
        push("moe-backend", s.moe_backend.as_ref().map(value_name));
        push(
            "cuda-graph-batch-sizes",
            s.cuda_graph_batch_sizes
                .as_ref()
                .map(|v| v.iter().map(u64::to_string).collect::<Vec<_>>().join(",")),
        );
        push(
            "scheduler-recv-interval",
            s.scheduler_recv_interval.map(|v| v.to_string()),
        );
        push(
            "decode-shares-budget",
            s.decode_shares_budget.map(|v| v.to_string()),
        );
        push(
            "nvfp4-fused-input",
            s.nvfp4_fused_input.map(|v| v.to_string()),
        );
        push(
            "adp-balance",
            s.adp_balance_timeout_iters.map(|v| v.to_string()),
        );
        push(
            "adp-balance-wait",
            s.adp_balance_wait_iters.map(|v| v.to_string()),
        );
        push(
            "batch-wait",
            s.batch_wait_timeout_iters.map(|v| v.to_string()),
        );
        push(
            "batch-wait-ratio",
            s.batch_wait_max_tokens_ratio.map(|v| v.to_string()),
        );
        push(
            "decode-admission-iters",
            s.decode_admission_iters.map(|v| v.to_string()),
        );
        push("prefill-overlap", s.prefill_overlap.map(|v| v.to_string()));
        push("per-layer µs", o.per_layer_us.map(|v| v.to_string()));
        push("per-request µs", o.per_request_us.map(|v| v.to_string()));
        push(
            "request latency µs",
            o.request_latency_us.map(|v| v.to_string()),
        );
        let settings = if parts.is_empty() {
            "the built-in defaults".to_string()
        } else {
            parts.join(", ")
        };
        format!("{} ({}): {settings}", self.name, self.description)
    }
}

/// An enum value as its command-line name.
/// A setting's name as its flag and the profiles spell it.
pub fn value_name<T: clap::ValueEnum>(v: &T) -> String {
    v.to_possible_value()
        .map(|p| p.get_name().to_string())
        .unwrap_or_default()
}

/// Load a runtime profile: a built-in name or a path to a TOML file; validated.
pub fn load(name_or_path: &str) -> Result<RuntimePreset> {
    let (origin, text) = read_source(name_or_path)?;
    load_text(&origin, &text)
}

/// Load a runtime profile from TOML text (`origin` names it in errors); validated.
pub fn load_text(origin: &str, text: &str) -> Result<RuntimePreset> {
    let p: RuntimePreset = toml::from_str(text)
        .map_err(|e| anyhow!("{}", crate::presets::located_key(origin, text, &e)))?;
    crate::limits::check_name("name", &p.name).map_err(|e| anyhow!("{origin}: {e}"))?;
    p.runtime.validate().map_err(|e| anyhow!("{origin}: {e}"))?;
    Ok(p)
}

/// The profile's TOML text: a built-in name, or a path to a file. Returns (origin, text).
pub fn read_source(name_or_path: &str) -> Result<(String, String)> {
    if let Some((_, text)) = RUNTIMES.iter().find(|(n, _)| *n == name_or_path) {
        return Ok((
            format!("built-in runtime `{name_or_path}`"),
            (*text).to_string(),
        ));
    }
    let looks_like_path = name_or_path.contains('/')
        || name_or_path.contains('\\')
        || name_or_path.ends_with(".toml")
        || Path::new(name_or_path).exists();
    if looks_like_path {
        let text = crate::presets::read_file(name_or_path, "runtime profile")?;
        return Ok((name_or_path.to_string(), text));
    }
    let names: Vec<&str> = RUNTIMES.iter().map(|(n, _)| *n).collect();
    let near = crate::presets::nearest(name_or_path, &names);
    let hint = if near.is_empty() {
        String::new()
    } else {
        format!("did you mean {}? ", near.join(" or "))
    };
    bail!(
        "runtime `{}`: unknown runtime profile; {hint}built-in profiles: {} (or give a path to a .toml file)",
        crate::limits::clip(name_or_path),
        names.join(", ")
    )
}

/// The JSON `inputs` entry: the profile's name, origin and the settings it states.
#[derive(Clone, Debug, Serialize)]
pub struct InForce {
    /// Profile name.
    pub name: String,
    /// What it describes.
    pub description: String,
    /// The settings the profile states (flags and case fields may override them).
    pub settings: Runtime,
}

impl From<&RuntimePreset> for InForce {
    fn from(p: &RuntimePreset) -> Self {
        InForce {
            name: p.name.clone(),
            description: p.description.clone(),
            settings: p.runtime.clone(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // the values are copied, not computed
mod tests {
    use super::*;

    #[test]
    fn every_builtin_profile_parses_and_is_named_after_its_file() {
        for (name, _) in RUNTIMES {
            let p = load(name).unwrap();
            assert_eq!(&p.name, name, "profile file name and `name` field differ");
        }
    }

    #[test]
    fn modern_states_the_builtin_defaults_and_the_front_end_latency() {
        let m = load(DEFAULT_RUNTIME).unwrap().runtime;
        let d = Runtime::default();
        assert_eq!(m.attention(), d.attention());
        assert_eq!(m.train_sequence_parallel(), d.train_sequence_parallel());
        assert_eq!(m.dp_overlap(), d.dp_overlap());
        assert_eq!(m.grad_reduce(), d.grad_reduce());
        assert_eq!(m.ep_dispatcher(), d.ep_dispatcher());
        assert_eq!(m.ep_overlap(), d.ep_overlap());
        assert_eq!(m.grad_overlap(), d.grad_overlap());
        assert_eq!(m.tp_overlap(), d.tp_overlap());
        assert_eq!(m.zero3_fetch(), d.zero3_fetch());
        assert_eq!(m.batching(), d.batching());
        assert_eq!(m.serve_sequence_parallel(), d.serve_sequence_parallel());
        assert_eq!(m.moe_dispatch(), d.moe_dispatch());
        assert_eq!(m.moe_overlap(), d.moe_overlap());
        assert_eq!(m.fp8_activation_scales(), d.fp8_activation_scales());
        assert_eq!(m.serving.fp8_activation_scales, Some(Fp8Scales::Static));
        assert_eq!(
            m.serving.decode_admission_iters,
            Some(d.decode_admission_iters())
        );
        assert_eq!(m.serving.prefill_overlap, Some(d.prefill_overlap()));
        assert_eq!(
            m.serving.decode_shares_budget,
            Some(d.decode_shares_budget())
        );
        assert_eq!(m.serving.nvfp4_fused_input, Some(d.nvfp4_fused_input()));
        // The one fixed cost it states: the serving front end's, which no GPU preset holds.
        assert_eq!(
            m.overheads,
            RuntimeOverheads {
                request_latency_us: Some(76_500.0),
                ..RuntimeOverheads::default()
            }
        );
        assert_eq!(m.training.host_op_scale.unwrap_or(1.0), 1.0);
    }

    #[test]
    fn unknown_names_and_bad_values_are_one_line_errors() {
        let e = load("megatron-2012").unwrap_err().to_string();
        assert!(e.contains("megatron-2021") && !e.contains('\n'), "{e}");
        let bad = "name = \"x\"\ndescription = \"x\"\nsource = \"x\"\n[runtime.training]\ndp_overlap = 2.0\n";
        let e = load_text("t.toml", bad).unwrap_err().to_string();
        assert!(e.contains("runtime.training.dp_overlap = 2"), "{e}");
        let bad = "name = \"x\"\ndescription = \"x\"\nsource = \"x\"\n[runtime.training]\nattention = \"fast\"\n";
        let e = load_text("t.toml", bad).unwrap_err().to_string();
        assert!(e.contains("fast") && e.contains("flash"), "{e}");
    }

    #[test]
    fn user_sets_win_over_the_profile_overheads() {
        let rt = Runtime {
            overheads: RuntimeOverheads {
                per_layer_us: Some(80.0),
                per_request_us: Some(75_000.0),
                request_latency_us: None,
            },
            training: TrainingRuntime {
                host_op_scale: Some(0.0),
                ..Default::default()
            },
            ..Default::default()
        };
        let mut g = crate::presets::load_gpu("h100", &[]).unwrap();
        rt.apply_to_gpu(&mut g, &[], "h100").unwrap();
        assert_eq!(g.gpu.overheads.per_layer_us, 80.0);
        assert_eq!(g.gpu.overheads.per_request_us, 75_000.0);
        assert_eq!(g.gpu.overheads.host_op_us, 0.0);
        let user: Vec<Override> = vec!["gpu.overheads.per_layer_us=10".parse().unwrap()];
        let mut g = crate::presets::load_gpu("h100", &user).unwrap();
        rt.apply_to_gpu(&mut g, &user, "h100").unwrap();
        assert_eq!(g.gpu.overheads.per_layer_us, 10.0);
        // A scoped override wins on the GPU it names only: scoped to the H100, it leaves the
        // profile's host-op scale in force on a GB200.
        let user: Vec<Override> = vec!["h100:gpu.overheads.host_op_us=20".parse().unwrap()];
        let mut g = crate::presets::load_gpu("gb200-nvl72", &user).unwrap();
        rt.apply_to_gpu(&mut g, &user, "gb200-nvl72").unwrap();
        assert_eq!(g.gpu.overheads.host_op_us, 0.0);
        let mut g = crate::presets::load_gpu("h100", &user).unwrap();
        rt.apply_to_gpu(&mut g, &user, "h100").unwrap();
        assert_eq!(g.gpu.overheads.host_op_us, 20.0);
    }

    #[test]
    fn dynamic_fp8_scales_keep_the_measured_scale_computation() {
        // Static scales (the default) leave the GPU's measured dynamic-scale time for serving to
        // subtract; a dynamic profile zeroes it, in `apply_to_gpu` and in `reproduce`'s overrides.
        let measured = crate::presets::load_gpu("h100", &[])
            .unwrap()
            .gpu
            .overheads
            .fp8_dynamic_scale_us;
        assert_eq!(measured, 7.30);
        let mut g = crate::presets::load_gpu("h100", &[]).unwrap();
        Runtime::default()
            .apply_to_gpu(&mut g, &[], "h100")
            .unwrap();
        assert_eq!(g.gpu.overheads.fp8_dynamic_scale_us, measured);
        let dynamic = Runtime {
            serving: ServingRuntime {
                fp8_activation_scales: Some(Fp8Scales::Dynamic),
                ..Default::default()
            },
            ..Default::default()
        };
        dynamic.apply_to_gpu(&mut g, &[], "h100").unwrap();
        assert_eq!(g.gpu.overheads.fp8_dynamic_scale_us, 0.0);
        let keys: Vec<String> = dynamic
            .fixed_cost_overrides()
            .unwrap()
            .iter()
            .map(|o| o.key.clone())
            .collect();
        assert_eq!(keys, ["gpu.overheads.fp8_dynamic_scale_us"]);
        assert!(
            Runtime::default()
                .fixed_cost_overrides()
                .unwrap()
                .is_empty()
        );
    }
}
