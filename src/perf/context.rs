//! The model and hardware prepared once for many configurations (`Context`), the checks a
//! configuration must pass, and the rates and sizes of one configuration (`Rates`).

use super::comm;
use super::config::{Config, KvSharding, MoeDispatch, MoeOverlap, Reject};
use super::layout::Layout;
use super::moe;
use super::pipeline::StageRuns;
use crate::dtype::{ALL as ALL_DTYPES, Dtype};
use crate::hardware::{GpuSpec, Hardware, Link};
use crate::model::{ModelCounts, ModelSpec};
use crate::units;
use std::borrow::Cow;

/// Pipeline depths whose stage runs `Context` tables (a model may have up to 65,536 layers;
/// 200 bytes a depth).
const TABLED_DEPTHS: u64 = 512;

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
    math: [Option<(Dtype, f64)>; ALL_DTYPES.len()],
    /// Dense peak for 16-bit math (attention scores run in 16 bits unless the model runs in
    /// fp32), FLOP/s.
    attn_peak_flops_per_s: f64,
    /// Prefill chunk, tokens.
    pub prefill_chunk_tokens: u64,
    /// The serving runtime runs an MoE layer's shared experts beside its routed experts in the
    /// decode steps it replays from a CUDA graph (the runtime profile's `shared_expert_overlap`;
    /// default true, today's runtimes).
    pub shared_expert_overlap: bool,
    /// The fused-MoE kernels the serving runtime runs (the runtime profile's `moe_backend`;
    /// default the faster measured kernel).
    pub moe_backend: super::MoeBackend,
    /// The decode batches (sequences per attention group) the runtime captured CUDA graphs for,
    /// ascending, with padding: a graph-replayed decode step of `b` sequences runs as the smallest
    /// of them ≥ `b` (`captured_batch_sizes`; TensorRT-LLM's `cuda_graph_config` with
    /// `enable_padding`). Empty: a graph at every batch, no padding.
    pub cuda_graph_batch_sizes: Vec<u64>,
    /// Activation scales are static (calibrated): the serving runtime writes a per-tensor fp8
    /// GEMM's input in the kernel that produces it (TensorRT-LLM's all-reduce with
    /// `RESIDUAL_RMS_NORM_QUANT_FP8`), so the GEMM reads one byte an input element, not the
    /// measured GEMM's own quantisation pass (the runtime profile's `fp8_activation_scales`;
    /// default static; docs/methodology.md §4.1).
    pub fused_input_quant: bool,
    /// The same for NVFP4 GEMMs, 4.5 bits an input element (TensorRT-LLM's RMSNorm with
    /// `quantize_type = "nvfp4"`, its all-reduce with `RESIDUAL_RMS_NORM_QUANT_NVFP4`): static
    /// scales and the profile's `nvfp4_fused_input` (default true; false where the linear
    /// quantises its own input, SGLang and vLLM).
    pub nvfp4_fused_input: bool,
    /// The share of decode steps replayed from a CUDA graph where the caller knows it (a simulated
    /// iteration with or without a prompt in it); `None` derives it from the batch.
    pub decode_graph_share: Option<f64>,
    /// Decode iterations between the serving scheduler's polls for new requests (the runtime
    /// profile's `scheduler_recv_interval`; default 1, every iteration).
    pub scheduler_recv_interval: u64,
    /// Decode iterations a prefilled request spends at a disaggregated decode worker before its
    /// first token (the runtime profile's `decode_admission_iters`; default
    /// `DECODE_ADMISSION_ITERS`).
    pub decode_admission_iters: f64,
    /// Whether a disaggregated prefill worker's scheduler runs the overlap loop, forming and
    /// launching the next batch before it processes the one in flight (the runtime profile's
    /// `prefill_overlap`; default true: SGLang's and TensorRT-LLM's PyTorch executor's default).
    pub prefill_overlap: bool,
    /// Whether an iteration's decode tokens count against its token budget, leaving the rest to
    /// prompts (the runtime profile's `decode_shares_budget`; default true: TensorRT-LLM, vLLM).
    /// The simulation prices it.
    pub decode_shares_budget: bool,
    /// Whether an iteration runs its decode rows and its prompt chunk as one forward
    /// (context-generation fusion, `perf::fused`): the same software fact as a shared budget
    /// (the runtime profile's `decode_shares_budget`), kept apart so each can be studied alone.
    pub fused_iterations: bool,
    /// TensorRT-LLM's attention-DP balancing, when on (the runtime profile's
    /// `adp_balance_timeout_iters`; default off): new prompts wait for every attention group to
    /// have one (`admission`).
    pub adp_balance: Option<super::admission::AdpBalance>,
    /// TensorRT-LLM's batch waiting, when on (the runtime profile's `batch_wait_timeout_iters`
    /// and `batch_wait_max_tokens_ratio`; default off): without attention DP, new prompts wait
    /// for an iteration's worth of tokens (`admission`).
    pub batch_wait: Option<super::admission::BatchWait>,
    /// The stages of every pipeline depth from 1 to `layers` (at most `TABLED_DEPTHS`), as runs
    /// (index `pp − 1`).
    stage_runs: Vec<StageRuns>,
    /// Stage tokens above which a step touches every routed expert (no redundant experts).
    all_experts_tokens: f64,
}

/// A group of linear layers' weight size, matmul rate and GEMM fixed times.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinearRates {
    /// Bytes per weight.
    pub weight_bytes: f64,
    /// Achievable matmul FLOP/s.
    pub matmul_flops_per_s: f64,
    /// Fixed time of one compute-bound GEMM.
    pub gemm_s: f64,
    /// Fixed time of one memory-bound (small-m) GEMM.
    pub gemm_memory_s: f64,
    /// Bandwidth at which these GEMMs stream their weights, bytes/s (FP4 kernels stream slower
    /// than 8- and 16-bit ones, `efficiency.memory_fp4`).
    pub stream_bytes_per_s: f64,
}

impl LinearRates {
    /// Fixed time of one GEMM of `m` rows: the small-m floor while it streams weights, the
    /// large-GEMM intercept once compute-bound (docs/methodology.md §4.1).
    pub fn gemm_fixed_s(&self, m: f64) -> f64 {
        crate::hardware::gemm_fixed_s(self.gemm_memory_s, self.gemm_s, m)
    }
}

/// Rates and sizes for one configuration's dtypes and parallelism.
#[derive(Clone, Copy, Debug)]
pub struct Rates {
    /// Tensor-parallel degree inside an attention group.
    pub tp: u64,
    /// Attention groups per stage.
    pub dp: u64,
    /// Expert-parallel ranks per stage.
    pub ep: u64,
    /// GPUs each expert is split over (`tp·dp / ep`).
    pub expert_tp: u64,
    /// Expert slots per MoE layer: the routed experts plus the redundant replicas.
    pub expert_slots: f64,
    /// Stage tokens above which a step touches every expert slot (`moe::all_experts_tokens`).
    pub all_slots_tokens: f64,
    /// How tokens reach the experts when attention runs data-parallel.
    pub moe_dispatch: MoeDispatch,
    /// Whether the token exchange overlaps compute.
    pub moe_overlap: MoeOverlap,
    /// Bytes per element of a dispatched token (the expert GEMMs' input precision: 1 for 8-bit
    /// math, else the activation width).
    pub dispatch_bytes: f64,
    /// Link for the TP all-reduces.
    pub tp_link: Link,
    /// Link for pipeline hand-offs.
    pub pp_link: Link,
    /// Bytes per weight.
    pub weight_bytes: f64,
    /// The weight precision.
    pub weight_dtype: Dtype,
    /// fp8 weights with 128×128 block scales run the block-scaled fused-MoE kernel
    /// (`ModelSpec::fp8_block_scaled`).
    pub fp8_block_scaled: bool,
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
    /// Dense peak FLOP/s of the matmul precision.
    pub peak_flops_per_s: f64,
    /// The MFU denominator: the dense peak of the fastest precision the step computes in (the
    /// matmuls' or the attention's), so no operator can run faster than it and MFU ≤ 1.
    pub mfu_peak_flops_per_s: f64,
    /// Achievable matmul FLOP/s.
    pub matmul_flops_per_s: f64,
    /// Achievable attention-score FLOP/s (decode).
    pub attn_flops_per_s: f64,
    /// Prefill attention's achievable FLOP/s at long context (`efficiency.attention_prefill`).
    pub attn_prefill_flops_per_s: f64,
    /// Achievable KV-cache read bandwidth of attention kernels, bytes/s.
    pub attn_mem_bytes_per_s: f64,
    /// Achievable HBM bytes/s.
    pub mem_bytes_per_s: f64,
    /// The linear layers a checkpoint that quantises only its MLPs leaves in their own precision
    /// (attention projections, router, output head; `Config::dense_dtype`), else the same as the
    /// experts'.
    pub dense: LinearRates,
    /// The attention output projection (`Config::attn_out_dtype`), else `dense`.
    pub attn_out: LinearRates,
    /// The MLPs outside the routed experts (an MoE layer's shared experts; a dense model's
    /// FFN): the experts' precision.
    pub mlp: LinearRates,
    /// The dense layers' FFN, in the experts' precision (`mlp` but for its shape: low-precision
    /// GEMMs run at the rate their own widths give).
    pub dense_ffn: LinearRates,
}

impl Context {
    /// Prepare a validated model and GPU.
    pub fn new(model: &ModelSpec, gpu: &GpuSpec, prefill_chunk_tokens: u64) -> Self {
        let math = ALL_DTYPES.map(|d| math_for(gpu, d));
        let counts = ModelCounts::new(model);
        let dense_layers = if model.is_moe() {
            model.dense_layers
        } else {
            model.layers
        };
        Self {
            model: counts,
            layers: model.layers,
            dense_layers,
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
            shared_expert_overlap: true,
            moe_backend: super::MoeBackend::Fastest,
            cuda_graph_batch_sizes: Vec::new(),
            fused_input_quant: true,
            nvfp4_fused_input: true,
            decode_graph_share: None,
            scheduler_recv_interval: 1,
            decode_admission_iters: super::cost::DECODE_ADMISSION_ITERS,
            prefill_overlap: true,
            decode_shares_budget: true,
            fused_iterations: true,
            adp_balance: None,
            batch_wait: None,
            stage_runs: (1..=model.layers.min(TABLED_DEPTHS))
                .map(|pp| StageRuns::new(model.layers, dense_layers, pp))
                .collect(),
            all_experts_tokens: moe::all_experts_tokens(model.experts as f64, counts.top_k),
        }
    }

    /// The `pp` stages as runs of identical stages: from the table up to `TABLED_DEPTHS` stages
    /// (`check` allows `pp` up to the layers), worked out here beyond it.
    pub fn stage_runs(&self, pp: u64) -> Cow<'_, StageRuns> {
        match self.stage_runs.get((pp as usize).wrapping_sub(1)) {
            Some(runs) => Cow::Borrowed(runs),
            None => Cow::Owned(StageRuns::new(self.layers, self.dense_layers, pp)),
        }
    }

    /// Check a configuration against the model and hardware.
    pub fn check(&self, c: &Config) -> Result<(), Reject> {
        // The documented ranges (a validation case or a library caller bypasses the flags'). The
        // sweep checks every configuration, so the common case is one comparison per field and
        // the named messages are built only when one is out of range.
        use crate::limits::{MAX_BATCH, MAX_DEGREE, MAX_TOKENS};
        let degrees_ok = [c.tp, c.dp, c.pp, c.ep]
            .iter()
            .all(|v| (1..=MAX_DEGREE).contains(v))
            && c.redundant_experts <= MAX_DEGREE;
        let in_range = degrees_ok
            && (1..=MAX_BATCH).contains(&c.batch)
            && (1..=MAX_TOKENS).contains(&c.input_len)
            && (1..=MAX_TOKENS).contains(&c.output_len);
        if !in_range {
            for (f, v) in [
                ("tp", c.tp),
                ("dp", c.dp),
                ("pp", c.pp),
                ("ep", c.ep),
                ("batch", c.batch),
                ("input-len", c.input_len),
                ("output-len", c.output_len),
                ("redundant-experts", c.redundant_experts),
            ] {
                crate::limits::check_flag(f, v).map_err(Reject::Invalid)?;
            }
        }
        self.check_unit(c)?;
        self.check_context(c)
    }

    /// `check` for a configuration of a sweep unit (configurations that differ only in batch
    /// and lengths): what depends on neither runs once and is kept in `unit` (None for a new
    /// unit). The same result as `check`.
    pub fn check_in_unit<'m>(
        &self,
        c: &Config,
        unit: &'m mut Option<Result<(), Reject>>,
    ) -> Result<(), Cow<'m, Reject>> {
        use crate::limits::{MAX_BATCH, MAX_DEGREE, MAX_TOKENS};
        let in_range = [c.tp, c.dp, c.pp, c.ep]
            .iter()
            .all(|v| (1..=MAX_DEGREE).contains(v))
            && c.redundant_experts <= MAX_DEGREE
            && (1..=MAX_BATCH).contains(&c.batch)
            && (1..=MAX_TOKENS).contains(&c.input_len)
            && (1..=MAX_TOKENS).contains(&c.output_len);
        if !in_range {
            return self.check(c).map_err(Cow::Owned);
        }
        if let Err(r) = unit.get_or_insert_with(|| self.check_unit(c)) {
            return Err(Cow::Borrowed(r));
        }
        self.check_context(c).map_err(Cow::Owned)
    }

    /// The checks of `check` that depend on the layout, dtypes and options only.
    fn check_unit(&self, c: &Config) -> Result<(), Reject> {
        if let Some(d) = c.disaggregate {
            for v in [d.prefill_replicas, d.decode_replicas] {
                crate::limits::check_flag("disaggregate", v).map_err(Reject::Invalid)?;
            }
        }
        if self.math[dtype_index(c.dtype)].is_none() {
            return Err(Reject::Invalid(format!(
                "--dtype {}: this GPU has no {} matmul rate (gpu.tflops.{} is not set)",
                c.dtype, c.dtype, c.dtype
            )));
        }
        if let Some(d) = c.dense_dtype
            && d != c.dtype
            && self.experts <= 1
        {
            return Err(Reject::Invalid(format!(
                "--dense-dtype {d}: the model has no routed experts (--dense-dtype sets the attention, router and head of MoE checkpoints that quantise only their MLPs); set the precision with --dtype {d}"
            )));
        }
        if let Some(d) = c.dense_dtype
            && self.math[dtype_index(d)].is_none()
        {
            return Err(Reject::Invalid(format!(
                "--dense-dtype {d}: this GPU has no {d} matmul rate (gpu.tflops.{d} is not set)"
            )));
        }
        if let Some(d) = c.attn_out_dtype
            && self.math[dtype_index(d)].is_none()
        {
            return Err(Reject::Invalid(format!(
                "--attn-out-dtype {d}: this GPU has no {d} matmul rate (gpu.tflops.{d} is not set)"
            )));
        }
        if let Some(a) = c.act_dtype {
            if !matches!(a, Dtype::Bf16 | Dtype::Fp16 | Dtype::Fp8) {
                return Err(Reject::Invalid(format!(
                    "--act-dtype {a}: activations run in bf16, fp16 or fp8 (e.g. --dtype mxfp4 --act-dtype fp8)"
                )));
            }
            if self.math[dtype_index(a)].is_none_or(|(m, _)| m != a) {
                return Err(Reject::Invalid(format!(
                    "--act-dtype {a}: this GPU has no {a} matmul rate (gpu.tflops.{a} is not set), so it cannot run the matmuls in {a}"
                )));
            }
            // A combination of a dtype axis that does not apply (a sweep skips it with a note).
            if a.bytes() < c.dtype.bytes() {
                return Err(Reject::Skip(format!(
                    "--act-dtype {a}: narrower than the weights (--dtype {}); the activations run at least as wide as the weights (e.g. --dtype mxfp4 --act-dtype fp8)",
                    c.dtype
                )));
            }
        }
        if c.redundant_experts > 0 && self.experts <= 1 {
            return Err(Reject::Invalid(format!(
                "--redundant-experts {}: the model has no routed experts to replicate",
                c.redundant_experts
            )));
        }
        self.check_layout(c, c.layout(), "", false)?;
        if let Some(d) = c.disaggregate.filter(|d| !d.prefill.is_empty()) {
            self.check_layout(c, c.prefill_layout(), "prefill-", d.prefill.ep.is_none())?;
        }
        Ok(())
    }

    /// The check of `check` on the lengths: the model's context.
    fn check_context(&self, c: &Config) -> Result<(), Reject> {
        let seq = c.input_len.saturating_add(c.output_len);
        if seq > self.max_context {
            return Err(Reject::Skip(format!(
                "input {} + output {} = {seq} tokens exceeds the model's {}-token context",
                c.input_len, c.output_len, self.max_context
            )));
        }
        Ok(())
    }

    /// Check one layout (`flag` prefixes the flag names: "" or "prefill-"). `derived_ep`: the
    /// layout's EP was not given but follows its other degrees (a prefill pool's full EP), so
    /// one that does not divide the experts skips the configuration instead of failing the run.
    fn check_layout(
        &self,
        c: &Config,
        l: Layout,
        flag: &str,
        derived_ep: bool,
    ) -> Result<(), Reject> {
        let degree_ok = |v: u64| (1..=crate::limits::MAX_DEGREE).contains(&v);
        if !(degree_ok(l.tp) && degree_ok(l.dp) && degree_ok(l.pp) && degree_ok(l.ep)) {
            for (f, v) in [("tp", l.tp), ("dp", l.dp), ("pp", l.pp), ("ep", l.ep)] {
                if !degree_ok(v) {
                    crate::limits::flag_range(f)
                        .check(&format!("--{flag}{f}"), v)
                        .map_err(Reject::Invalid)?;
                }
            }
        }
        // Each degree is at most 65,536, so the product is exact in u64.
        if l.gpus() > crate::limits::MAX_GPUS {
            return Err(Reject::Invalid(format!(
                "--{flag}tp {} × --{flag}dp {} × --{flag}pp {} = {} GPUs per replica: must be at most {}",
                l.tp,
                l.dp,
                l.pp,
                l.gpus(),
                crate::limits::grouped(crate::limits::MAX_GPUS)
            )));
        }
        match c.kv_sharding {
            KvSharding::Heads if self.heads % l.tp != 0 => {
                return Err(Reject::Invalid(format!(
                    "--{flag}tp {}: must divide the model's {} attention heads (or use --kv-sharding batch)",
                    l.tp, self.heads
                )));
            }
            KvSharding::Batch if self.attn_width % l.tp != 0 => {
                return Err(Reject::Invalid(format!(
                    "--{flag}tp {}: must divide the model's query width heads × head_dim = {}",
                    l.tp, self.attn_width
                )));
            }
            _ => {}
        }
        let slots = self.experts.saturating_add(c.redundant_experts);
        if slots % l.ep != 0 && derived_ep {
            return Err(Reject::Skip(format!(
                "the prefill pool's expert parallelism, {} (its tp {} × dp {}, as the decode pool spreads its experts), does not divide the model's {slots} expert slots; set --{flag}ep",
                l.ep, l.tp, l.dp
            )));
        }
        if slots % l.ep != 0 {
            return Err(Reject::Invalid(if self.experts <= 1 {
                // A dense model: no routed experts to spread, nor to replicate.
                format!(
                    "--{flag}ep {}: the model is dense (no routed experts), so expert parallelism must be 1",
                    l.ep
                )
            } else if c.redundant_experts > 0 {
                format!(
                    "--{flag}ep {}: must divide the model's {} experts + {} redundant = {slots} expert slots",
                    l.ep, self.experts, c.redundant_experts
                )
            } else {
                // The fewest redundant experts that make the slots divide: a wide EP group that
                // does not divide the experts is what `--redundant-experts` is for.
                let fill = l.ep - self.experts % l.ep;
                format!(
                    "--{flag}ep {}: must divide the model's {} experts (or add --redundant-experts {fill} for {} expert slots)",
                    l.ep,
                    self.experts,
                    self.experts.saturating_add(fill)
                )
            }));
        }
        if l.pp > self.layers {
            return Err(Reject::Invalid(format!(
                "--{flag}pp {}: must be at most the model's {} layers",
                l.pp, self.layers
            )));
        }
        if l.stage_gpus() % l.ep != 0 {
            return Err(Reject::Skip(format!(
                "ep {} does not divide tp {} × dp {} (experts are split over the GPUs of a stage)",
                l.ep, l.tp, l.dp
            )));
        }
        if self.experts > 1 && l.dp > 1 && l.expert_tp() > self.hw.scaleup_gpus {
            return Err(Reject::Skip(format!(
                "each expert would be split over {} GPUs, more than a node's {} (expert tensor parallelism across nodes is not modelled)",
                l.expert_tp(),
                self.hw.scaleup_gpus
            )));
        }
        Ok(())
    }

    /// The precision matmuls run in for weights in `dtype` and its dense peak FLOP/s, if the GPU
    /// can run it (§4.2 of docs/methodology.md).
    pub fn math(&self, dtype: Dtype) -> Option<(Dtype, f64)> {
        self.math[dtype_index(dtype)]
    }

    /// Dense peak FLOP/s of the precision attention computes in for weights in `dtype`: fp32
    /// for an fp32 model (its activations are fp32), else 16 bits (FlashAttention).
    pub fn attn_peak_flops_for(&self, dtype: Dtype) -> f64 {
        match (dtype, self.math(Dtype::Fp32)) {
            (Dtype::Fp32, Some((_, fp32))) => fp32,
            _ => self.attn_peak_flops_per_s,
        }
    }

    /// The utilisation denominator for weights in `dtype`: the dense peak of the fastest
    /// precision its step computes in (matmuls or attention), so MFU ≤ 1 by construction.
    pub fn mfu_peak_flops_for(&self, dtype: Dtype) -> f64 {
        let matmul = self.math(dtype).map_or(f64::NAN, |(_, p)| p);
        matmul.max(self.attn_peak_flops_for(dtype))
    }

    /// The fused-MoE kernel that runs experts at `r`'s precisions under this context's
    /// `moe_backend`.
    pub fn fused_moe(&self, r: &Rates) -> crate::hardware::MoeKernel {
        self.hw.fused_moe(
            r.weight_dtype,
            r.math_dtype,
            r.fp8_block_scaled,
            self.moe_backend.family(),
        )
    }

    /// The fused-MoE kernels a runtime on `moe_backend` may run at `r`'s precisions: its kernel,
    /// and with block-scaled fp8 experts under `fastest` (or `cutlass`, which names only FP4's
    /// kernel) also DeepGEMM's, the faster of the two at each load being what a tuned deployment
    /// picks (Blackwell: TRTLLM-gen at decode batches, DeepGEMM for prefill; NVIDIA's srt-slurm
    /// recipes choose so, docs/methodology.md §4.4). Where the GPU measured no DeepGEMM kernel,
    /// there is no second.
    pub fn fused_moe_candidates(
        &self,
        r: &Rates,
    ) -> (
        crate::hardware::MoeKernel,
        Option<crate::hardware::MoeKernel>,
    ) {
        let first = self.fused_moe(r);
        let block_fp8 = r.fp8_block_scaled && r.weight_dtype == Dtype::Fp8;
        let either = matches!(
            self.moe_backend,
            super::MoeBackend::Fastest | super::MoeBackend::Cutlass
        );
        let second = (either && block_fp8).then(|| {
            self.hw.fused_moe(
                r.weight_dtype,
                r.math_dtype,
                r.fp8_block_scaled,
                crate::hardware::MoeKernelFamily::DeepGemm,
            )
        });
        (first, second.filter(|k| *k != first))
    }

    /// Rates for a configuration's own layout (assumes `check` passed).
    pub fn rates(&self, c: &Config) -> Rates {
        self.rates_for(c, c.layout())
    }

    /// The precision the matmuls of `c`'s weights in `dtype` run in, and its dense peak: the
    /// activations' (`act_dtype`) for the layers in `c.dtype`, else the weights' own (`math`).
    fn math_of(&self, c: &Config, dtype: Dtype) -> Option<(Dtype, f64)> {
        match c.act_dtype {
            Some(a) if dtype == c.dtype => self.math(a),
            _ => self.math(dtype),
        }
    }

    /// Rates for a configuration's precisions and options on layout `l`.
    pub fn rates_for(&self, c: &Config, l: Layout) -> Rates {
        let (math_dtype, peak) = self.math_of(c, c.dtype).unwrap_or((Dtype::Bf16, f64::NAN));
        let tp = l.tp as f64;
        let (kv_heads, heads) = (self.model.kv_heads, self.model.heads);
        let act_bytes = if c.dtype == Dtype::Fp32 { 4.0 } else { 2.0 };
        let slots = (self.experts + c.redundant_experts) as f64;
        // fp8 weights with 128×128 block scales run the block-scaled GEMMs, measured apart
        // (DeepSeek's checkpoints; docs/methodology.md §4.2).
        // A group of linear layers in `dtype` with `flops` FLOPs, `inputs` input and `outputs`
        // output elements per token on one GPU: low-precision GEMMs with a shape fit run at the
        // rate their shapes give (the quantisation pass and the 16-bit output beside the
        // multiply, docs/methodology.md §4.1), others at the flat fit's.
        let linear = |dtype: Dtype, (flops, inputs, outputs): (f64, f64, f64)| {
            let (math, peak) = self.math_of(c, dtype).unwrap_or((Dtype::Bf16, f64::NAN));
            let block = self.model.fp8_block_scaled && dtype == Dtype::Fp8 && math == Dtype::Fp8;
            // A group without FLOPs (an override leaving no attention parameters) has no shape.
            // With static scales a per-tensor fp8 or an NVFP4 GEMM reads its input once, written
            // in its format by the kernel before it, in place of the measured GEMM's own
            // quantisation pass (block-scaled fp8 keeps it: its per-token scales are dynamic;
            // MXFP4 math, whose activation scales are all computed at run time, too, and 4-bit
            // weights under fp8 activations, `act_dtype`: MXFP8's block scales are dynamic).
            let shape = self
                .hw
                .gemm_shape(math, block)
                .filter(|_| flops > 0.0)
                .map(|f| {
                    if dtype == Dtype::Fp8 && math == Dtype::Fp8 && !block && self.fused_input_quant
                        || math == Dtype::Nvfp4 && self.nvfp4_fused_input
                    {
                        crate::hardware::GemmShape {
                            input_s_per_elem: math.bytes() / self.hw.mem_bw_bytes_per_s,
                            ..f
                        }
                    } else {
                        f
                    }
                });
            // Per-tensor fp8 GEMMs were measured computing their activation's scale at run time;
            // serving with static (calibrated) scales skips that reduction, down to no less than
            // the 16-bit GEMM's fixed time (docs/methodology.md §4.2).
            let static_scale = |fp8_s: f64, bf16_s: f64| {
                if dtype == Dtype::Fp8 && math == Dtype::Fp8 && !block {
                    (fp8_s - self.hw.fp8_dynamic_scale_s).max(bf16_s.min(fp8_s))
                } else {
                    fp8_s
                }
            };
            let flat_gemm_s = if block {
                self.hw.gemm_fp8_block_s
            } else {
                self.hw.gemm_overhead_s(math)
            };
            LinearRates {
                weight_bytes: dtype.bytes(),
                matmul_flops_per_s: match shape {
                    Some(f) => f.rate_flops_per_s(peak, flops, inputs, outputs),
                    _ => {
                        peak * if block {
                            self.hw.matmul_fp8_block_efficiency
                        } else {
                            self.hw.matmul_efficiency_for(math)
                        }
                    }
                },
                gemm_s: {
                    let fixed_s = shape.map_or(flat_gemm_s, |f| f.fixed_s);
                    if block {
                        fixed_s
                    } else {
                        static_scale(fixed_s, self.hw.gemm_s)
                    }
                },
                // Timed alone, less what running back to back in the step's graph hides
                // (`gemm_memory_step_share`, docs/methodology.md §4.1).
                gemm_memory_s: self.hw.gemm_memory_step_share
                    * if block {
                        self.hw.gemm_fp8_block_memory_s
                    } else {
                        static_scale(self.hw.gemm_memory_overhead_s(math), self.hw.gemm_memory_s)
                    },
                stream_bytes_per_s: self.hw.stream_bytes_per_s(math),
            }
        };
        // Per token on one GPU: the attention projections (less the output projection where it
        // runs in a precision of its own), the output projection, and the FFN of the dense layers
        // or the shared experts.
        let m = &self.model;
        let (attn_in, attn_out_elems) = m.attn_widths.on_gpu(tp);
        let out_apart = matches!(c.attn_out_dtype, Some(d) if d != c.dense_dtype());
        let o_proj = (
            2.0 * m.attn_out_params_per_layer / tp,
            m.attn_widths.in_split / tp,
            m.d_model,
        );
        let attn_all = (2.0 * m.attn_params_per_gpu(tp), attn_in, attn_out_elems);
        let attn_shape = if out_apart {
            (
                attn_all.0 - o_proj.0,
                attn_all.1 - o_proj.1,
                attn_all.2 - o_proj.2,
            )
        } else {
            attn_all
        };
        // An FFN of inner width `inner` (the whole layer's, split over the TP group).
        let up = m.ffn_up_matrices;
        let ffn_shape = |inner: f64| {
            let (inputs, outputs) =
                crate::model::LinearWidths::ffn(m.d_model, up, inner).on_gpu(tp);
            (2.0 * (up + 1.0) * m.d_model * inner / tp, inputs, outputs)
        };
        let dense_inner = m.dense_ffn_params_per_layer / ((up + 1.0) * m.d_model);
        let dense_ffn = linear(c.dtype, ffn_shape(dense_inner));
        // The MoE layers' MLP outside the routed experts: their shared experts.
        let experts = if m.experts > 1.0 && m.shared_experts > 0.0 {
            linear(c.dtype, ffn_shape(m.ffn_dim * m.shared_experts))
        } else {
            dense_ffn
        };
        let dense = linear(c.dense_dtype(), attn_shape);
        Rates {
            tp: l.tp,
            dp: l.dp,
            ep: l.ep,
            expert_tp: l.expert_tp(),
            expert_slots: slots,
            all_slots_tokens: if c.redundant_experts == 0 {
                self.all_experts_tokens
            } else {
                moe::all_experts_tokens(slots, self.model.top_k)
            },
            moe_dispatch: c.moe_dispatch,
            moe_overlap: c.moe_overlap,
            // Low-precision models dispatch fp8 tokens (DeepEP; TensorRT-LLM's wide EP), FP4 ones too.
            dispatch_bytes: match math_dtype {
                Dtype::Fp8 | Dtype::Int8 | Dtype::Nvfp4 | Dtype::Mxfp4 => 1.0,
                _ => act_bytes,
            },
            tp_link: comm::ring_link(&self.hw, l.tp),
            pp_link: comm::pipeline_link(&self.hw, l.gpus()),
            weight_bytes: c.dtype.bytes(),
            weight_dtype: c.dtype,
            fp8_block_scaled: self.model.fp8_block_scaled,
            act_bytes,
            kv_bytes_per_token_per_layer: self.model.kv_elems_per_token_per_layer
                * c.kv_dtype.bytes(),
            kv_sharding: c.kv_sharding,
            kv_head_share: (kv_heads / tp).ceil() / kv_heads,
            head_share: (heads / tp).ceil() / heads,
            sequence_parallel: c.sequence_parallel,
            math_dtype,
            peak_flops_per_s: peak,
            mfu_peak_flops_per_s: peak.max(self.attn_peak_flops_for(c.dtype)),
            matmul_flops_per_s: experts.matmul_flops_per_s,
            attn_flops_per_s: self.attn_peak_flops_for(c.dtype) * self.hw.attention_efficiency,
            attn_prefill_flops_per_s: self.attn_peak_flops_for(c.dtype)
                * self.hw.attention_prefill_efficiency,
            attn_mem_bytes_per_s: self.hw.attention_mem_bytes_per_s,
            mem_bytes_per_s: self.hw.eff_mem_bw_bytes_per_s,
            dense,
            attn_out: match c.attn_out_dtype {
                Some(d) if out_apart => linear(d, o_proj),
                _ => dense,
            },
            mlp: experts,
            dense_ffn,
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
/// support it (FP4 formats at the preset's `tflops.fp4`); otherwise weight-only quantisation with
/// 16-bit math (int4 always is).
fn math_for(gpu: &GpuSpec, d: Dtype) -> Option<(Dtype, f64)> {
    let sixteen = gpu
        .tflops_for(Dtype::Fp16)
        .map_or((Dtype::Bf16, gpu.tflops.bf16), |f| (Dtype::Fp16, f));
    let (dtype, tflops) = match (d, gpu.tflops_for(d)) {
        (Dtype::Int4, _) => sixteen,
        (Dtype::Fp16 | Dtype::Bf16, None) => (Dtype::Bf16, gpu.tflops.bf16),
        (Dtype::Fp32, None) => return None,
        (Dtype::Fp8 | Dtype::Int8 | Dtype::Nvfp4 | Dtype::Mxfp4, None) => sixteen,
        (d, Some(t)) => (d, t),
    };
    Some((dtype, units::tflops_to_flops_per_s(tflops)))
}
