//! The command line (clap derive). Flags only; `lib::run` turns them into validated domain values.

use crate::presets::Override;
use crate::report::Format;
use clap::{Args, Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  gpt4calc sweep --preset gpt4-8k --gpu h100
  gpt4calc sweep -m gpt4-8k -g a100-40g --tp 8 --pp 16 --dp 1 --batch 1..4096 --dtype fp16
  gpt4calc estimate -m gpt4-8k -g h100 --tp 8 --pp 16 --batch 512 --dtype fp8 --explain
  gpt4calc sweep --require 'output_tokens_per_s_per_user>=20' --format json
  gpt4calc train -m gpt4-8k -g a100-40g --gpus 25000 --tp 8 --pp 15 --zero 2 --recompute full
  gpt4calc reproduce
  gpt4calc validate --format json
  gpt4calc presets show gpt4-8k --format json
  gpt4calc presets import path/to/config.json
  gpt4calc completions bash > ~/.local/share/bash-completion/completions/gpt4calc
  gpt4calc man > ~/.local/share/man/man1/gpt4calc.1

Exit codes: 0 success, 1 error, 2 usage, 3 no configuration fits or satisfies --require.";

/// `sweep` and `train`'s default tensor-parallel degrees. Defaults that cannot apply to the model
/// (a degree that does not divide its heads) are dropped with a note; a degree the user names is
/// checked.
pub const DEFAULT_TP: &str = "1,2,4,8";
/// `sweep` and `train`'s default pipeline-parallel degrees (those above the model's layers are
/// dropped with a note).
pub const DEFAULT_PP: &str = "1,2,4,8,16";

/// Size GPU clusters for GPT-4-class (Mixture-of-Experts) LLM inference from first principles.
#[derive(Debug, Parser)]
#[command(name = "gpt4calc", version, about, after_help = EXAMPLES, max_term_width = 100)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluate every combination of the inference axes and print the best rows.
    Sweep(Box<SweepArgs>),
    /// Evaluate one inference configuration (`--explain` shows where time and memory go).
    Estimate(Box<EstimateArgs>),
    /// Plan a training run: FLOPs, memory per GPU, step time, MFU, days, GPU-hours and cost.
    Train(Box<TrainArgs>),
    /// Every quantitative claim of the GPT-4 article next to what the calculator computes.
    Reproduce(ReproduceArgs),
    /// Compare predictions with published measurements (built-in set, or --cases FILE).
    Validate(ValidateArgs),
    /// List or show the built-in model, GPU and runtime presets, or import a Hugging Face config.json.
    #[command(subcommand)]
    Presets(PresetsCommand),
    /// Print shell completions: bash, zsh, fish, powershell or elvish.
    Completions(CompletionsArgs),
    /// Print the man page (roff), of the tool or of one command.
    Man(ManArgs),
}

/// `completions` flags.
#[derive(Debug, Args)]
#[command(after_help = "\
Set up:
  bash:        gpt4calc completions bash > ~/.local/share/bash-completion/completions/gpt4calc
  zsh:         gpt4calc completions zsh > ~/.zfunc/_gpt4calc   (with fpath+=~/.zfunc before compinit)
  fish:        gpt4calc completions fish > ~/.config/fish/completions/gpt4calc.fish
  powershell:  gpt4calc completions powershell >> $PROFILE
  elvish:      gpt4calc completions elvish >> ~/.config/elvish/rc.elv")]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `man` flags.
#[derive(Debug, Args)]
#[command(after_help = "\
Install: gpt4calc man > ~/.local/share/man/man1/gpt4calc.1
         gpt4calc man sweep > ~/.local/share/man/man1/gpt4calc-sweep.1")]
pub struct ManArgs {
    /// A command (e.g. sweep) for its own page; the tool's page by default.
    #[arg(value_name = "COMMAND")]
    pub command: Option<String>,
}

/// Model, GPU and overrides.
#[derive(Debug, Args)]
#[command(next_help_heading = "Model and hardware")]
pub struct Selection {
    /// Model: a built-in preset name, a path to a TOML preset, or a Hugging Face config.json; sweep and train take a comma list to compare several.
    #[arg(
        short = 'm',
        long = "preset",
        default_value = "gpt4-8k",
        value_name = "NAME|PATH"
    )]
    pub preset: String,
    /// Accelerator and its node: a built-in preset name or a path to a TOML file; sweep and train take a comma list to compare several.
    #[arg(short = 'g', long, default_value = "h100", value_name = "NAME|PATH")]
    pub gpu: String,
    /// Override any preset field, e.g. model.experts=32 or gpu.price.usd_per_gpu_hour=1; PRESET:KEY=VALUE sets one preset only, e.g. h100:gpu.memory_bw_tb_s=4.8 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = crate::presets::OverrideParser)]
    pub set: Vec<Override>,
    /// Runtime profile: the software the run uses (attention kernel, batching, overlaps, fixed costs), a built-in name (`gpt4calc presets list`) or a path to a TOML file; explicit flags override it.
    #[arg(long, default_value = crate::runtime::DEFAULT_RUNTIME, value_name = "NAME|PATH")]
    pub runtime: String,
}

/// Inference options shared by sweep and estimate.
#[derive(Debug, Args)]
#[command(next_help_heading = "Serving")]
pub struct Serving {
    /// Disaggregated serving: PREFILL:DECODE replicas of this layout (e.g. 1:3); KV crosses the NIC.
    #[arg(long, value_name = "P:D", value_parser = parse_pools)]
    pub disaggregate: Option<crate::perf::Disaggregation>,
    /// Simulate a Poisson stream of this many requests per second (percentiles of TTFT, TPOT, E2E)
    /// on one aggregated replica (its prefills run between its decode steps, so not with
    /// --disaggregate).
    #[arg(
        allow_negative_numbers = true,
        long,
        value_name = "REQ_PER_S",
        conflicts_with = "disaggregate"
    )]
    pub rate: Option<f64>,
    /// Requests to simulate with --rate (at most 1,000,000).
    #[arg(allow_negative_numbers = true, long, default_value_t = 1000, requires = "rate", value_parser = crate::axis::count_up_to(crate::sim::MAX_REQUESTS))]
    pub requests: u64,
    /// Seed of the simulation's random arrivals and lengths.
    #[arg(
        allow_negative_numbers = true,
        long,
        default_value_t = 1,
        requires = "rate"
    )]
    pub seed: u64,
    /// Simulation iterations before giving up (reported when it runs out; at most 20,000,000).
    #[arg(allow_negative_numbers = true, long, default_value_t = 2_000_000, requires = "rate", value_parser = crate::axis::count_up_to(crate::sim::MAX_STEP_BUDGET))]
    pub step_budget: u64,
    /// Distribution of generated tokens per request; --output-len is its mean.
    #[arg(long, value_enum, default_value_t = crate::perf::lengths::LengthDist::Fixed)]
    pub output_len_dist: crate::perf::lengths::LengthDist,
    /// Speculative decoding: draft tokens per verification step (γ).
    #[arg(allow_negative_numbers = true, long, value_name = "GAMMA", value_parser = crate::axis::count_up_to(64))]
    pub speculate: Option<u64>,
    /// Speculative decoding: per-token acceptance probability (α).
    #[arg(
        allow_negative_numbers = true,
        long,
        default_value_t = 0.8,
        value_name = "ALPHA",
        requires = "speculate"
    )]
    pub acceptance: f64,
    /// Speculative decoding: the draft model (a preset or TOML path) run on the same GPUs, or `mtp` for the model's own multi-token-prediction layer (DeepSeek-V3: one layer and the output head per draft token).
    #[arg(long, value_name = "NAME|PATH|mtp", conflicts_with = "draft_ratio")]
    pub draft: Option<String>,
    /// Speculative decoding: a draft step's cost as a fraction of a plain target step.
    #[arg(allow_negative_numbers = true, long, value_name = "RATIO")]
    pub draft_ratio: Option<f64>,
    /// continuous (iteration-level, prefills interleaved with decode) or static (a fixed batch of --batch identical requests submitted together: prefill the batch, decode it to the end, as gptSessionBenchmark and FasterTransformer run). Default: the runtime profile's (modern: continuous).
    #[arg(long, value_enum)]
    pub batching: Option<crate::perf::Batching>,
    /// How TP splits the KV cache and decode attention: heads (replicated when KV heads < TP) or batch (by sequence, Pope et al.; TP need not divide the heads).
    #[arg(long, value_enum, default_value_t = crate::perf::KvSharding::Heads)]
    pub kv_sharding: crate::perf::KvSharding,
    /// Precision of the linear layers a checkpoint that quantises only its MLPs leaves apart (attention projections, router, output head; routed and shared experts and dense FFNs take --dtype), e.g. --dtype mxfp4 --dense-dtype bf16 for gpt-oss (default: --dtype).
    #[arg(long, value_name = "DTYPE")]
    pub dense_dtype: Option<crate::dtype::Dtype>,
    /// Precision of the attention output projection when the checkpoint quantises it apart from the rest of the attention, e.g. --dtype nvfp4 --dense-dtype bf16 --attn-out-dtype nvfp4 for NVIDIA's -v2 NVFP4 DeepSeek-R1 checkpoints (default: --dense-dtype).
    #[arg(long, value_name = "DTYPE")]
    pub attn_out_dtype: Option<crate::dtype::Dtype>,
    /// Precision the --dtype layers' activations are quantised to, which their matmuls then run in, where the runtime runs them wider than the weights: e.g. --dtype mxfp4 --dense-dtype bf16 --act-dtype fp8 for gpt-oss on Blackwell under TensorRT-LLM (MXFP4 weights with MXFP8 activations, W4A8). At least as wide as --dtype (default: the weights' own math where the GPU has it, else 16-bit).
    #[arg(long, value_name = "DTYPE")]
    pub act_dtype: Option<crate::dtype::Dtype>,
    /// Sequence parallelism: activations stay sharded over TP between layers (reduce-scatter + all-gather instead of all-reduce). Default: the runtime profile's (modern: false).
    #[arg(long, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub sequence_parallel: Option<bool>,
    /// Extra expert replicas per MoE layer (EPLB's redundant experts), spread over the EP ranks.
    #[arg(
        allow_negative_numbers = true,
        long,
        default_value_t = 0,
        value_name = "N",
        help_heading = "Mixture of experts",
        value_parser = crate::axis::ranged("redundant-experts")
    )]
    pub redundant_experts: u64,
    /// How tokens reach the experts when attention runs data-parallel (--dp > 1): alltoall (DeepEP, wide EP), allgather (gather every token, reduce-scatter the outputs), or auto (allgather inside a node, alltoall across nodes). Default: the runtime profile's (modern: auto).
    #[arg(long, value_enum, help_heading = "Mixture of experts")]
    pub moe_dispatch: Option<crate::perf::MoeDispatch>,
    /// Overlap the MoE token exchange with compute: none, or two-batch (DeepSeek, SGLang TBO). Default: the runtime profile's (modern: none).
    #[arg(long, value_enum, help_heading = "Mixture of experts")]
    pub moe_overlap: Option<crate::perf::MoeOverlap>,
    /// Run the shared experts beside the router and the routed experts in the decode steps replayed from a CUDA graph (TensorRT-LLM's second stream, SGLang's fused shared experts): their fixed times overlap, their work does not. Default: the runtime profile's (modern: true).
    #[arg(long, action = clap::ArgAction::Set, value_name = "BOOL", help_heading = "Mixture of experts")]
    pub shared_expert_overlap: Option<bool>,
    /// The fused-MoE kernels: fastest (the faster measured kernel, as a tuned deployment picks: TRTLLM-gen for FP4 and block-scaled fp8 experts on Blackwell), cutlass (TensorRT-LLM's CUTLASS kernel alone, its default moe_config.backend; FP4 experts), trtllm (the TRTLLM-gen kernel alone, also for prefill: TensorRT-LLM's TRTLLM backend, SGLang's flashinfer_trtllm) or deepgemm (DeepGEMM's grouped GEMMs, SGLang's runner behind DeepEP; block-scaled fp8 experts). Only Blackwell has these measured apart. Default: the runtime profile's (modern: fastest).
    #[arg(long, value_enum, help_heading = "Mixture of experts")]
    pub moe_backend: Option<crate::perf::MoeBackend>,
    /// The decode batches (sequences per attention group) the runtime captured CUDA graphs for, with padding (TensorRT-LLM's cuda_graph_config batch_sizes with enable_padding: true): a decode step with no prompt in it replays the smallest of them at least its batch, its dummy rows running every GEMM, the experts and the head (not the attention over the KV cache); sizes above the iteration token budget (--prefill-chunk; over γ + 1 with --speculate) count as that budget. A comma list, e.g. 1,2,4,8,16,32,64,128,256,384,512,1024,2048 (TensorRT-LLM's perf overview). Default: the runtime profile's (modern: none, a graph at every batch).
    #[arg(long, value_delimiter = ',', value_name = "LIST", value_parser = crate::axis::count_up_to(crate::limits::MAX_BATCH))]
    pub cuda_graph_batch_sizes: Option<Vec<u64>>,
    /// Decode iterations between the scheduler's polls for new requests (SGLang's --scheduler-recv-interval): a request arriving at a busy replica waits (N + 1)/2 iterations on average before its prefill, not one; with --disaggregate, a busy decode worker takes a prefilled request in (N - 1)/2 iterations later (--decode-admission-iters). 1 to 1000. Default: the runtime profile's (modern: 1).
    #[arg(allow_negative_numbers = true, long, value_name = "N", value_parser = crate::axis::count_up_to(crate::limits::MAX_RECV_INTERVAL))]
    pub scheduler_recv_interval: Option<u64>,
    /// Decode iterations a prefilled request spends at a disaggregated decode worker before its first token leaves (taken in at the worker's next iteration, its KV cache received, admitted to a batch; with --scheduler-recv-interval K, (K - 1)/2 more): with --disaggregate, the TTFT gains that many decode steps while the worker is busy. 0 to 1000. Default: the runtime profile's (modern: 5.47, measured on InferenceX's disaggregated runs; docs/methodology.md §7.5).
    #[arg(allow_negative_numbers = true, long, value_name = "ITERS", value_parser = crate::axis::number_in("decode-admission-iters"))]
    pub decode_admission_iters: Option<f64>,
    /// Whether a disaggregated prefill worker's scheduler runs the overlap loop (SGLang's default; TensorRT-LLM's PyTorch executor unless disable_overlap_scheduler: true, which Dynamo's TensorRT-LLM recipes set on their prefill workers): it forms and launches the next batch before it finishes the one in flight, so a request arriving at a busy prefill worker also waits for that next forward. With --disaggregate. Default: the runtime profile's (modern: true; docs/methodology.md §7.5).
    #[arg(long, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub prefill_overlap: Option<bool>,
    /// TensorRT-LLM's attention-DP balancing (attention_dp_config enable_balance with timeout_iters N): with --dp > 1 a new prompt waits until every attention group has one, or N iterations since the last release; its mean wait, from a replay of the replica's closed loop, joins the TTFT (the --rate simulation does not replay it: not with --rate). 1 to 1000 (TensorRT-LLM's default timeout is 50; InferenceX's DeepSeek-R1 scripts set 60); 0 turns off a profile's. Default: the runtime profile's (modern: off).
    #[arg(allow_negative_numbers = true, long, value_name = "TIMEOUT_ITERS", value_parser = crate::axis::whole_up_to(crate::limits::MAX_BALANCE_ITERS))]
    pub adp_balance: Option<u64>,
    /// Iterations the attention groups keep gathering prompts once every one has one (TensorRT-LLM's attention_dp_config batching_wait_iters). 0 to 1000. Default: the runtime profile's, else TensorRT-LLM's 10.
    #[arg(allow_negative_numbers = true, long, value_name = "ITERS", value_parser = crate::axis::whole_up_to(crate::limits::MAX_BALANCE_ITERS))]
    pub adp_balance_wait: Option<u64>,
    /// TensorRT-LLM's batch waiting (batch_wait_timeout_iters T with batch_wait_max_tokens_ratio R): with --dp 1 and sequences decoding, new prompts wait until they and the decoding sequences fill R of the iteration's token budget (--prefill-chunk), or T iterations; the mean wait, from a replay of the closed loop, joins the TTFT (the --rate simulation does not replay it: not with --rate). T from 1 to 1000, R in (0, 1] (InferenceX's DeepSeek-R1 FP8 B200 script: 40:0.8 at 1k/1k from 64 users); `off` turns off a profile's. Default: the runtime profile's (modern: off).
    #[arg(long, value_name = "TIMEOUT:RATIO", value_parser = crate::axis::batch_wait)]
    pub batch_wait: Option<(u64, f64)>,
    /// Layout of the disaggregated prefill pool: tensor-parallel degree (default: the decode layout's).
    #[arg(allow_negative_numbers = true,
        long,
        value_name = "N",
        requires = "disaggregate",
        help_heading = "Disaggregated prefill pool",
        value_parser = crate::axis::one_value("prefill-tp")
    )]
    pub prefill_tp: Option<u64>,
    /// Layout of the disaggregated prefill pool: attention data-parallel degree.
    #[arg(allow_negative_numbers = true,
        long,
        value_name = "N",
        requires = "disaggregate",
        help_heading = "Disaggregated prefill pool",
        value_parser = crate::axis::one_value("prefill-dp")
    )]
    pub prefill_dp: Option<u64>,
    /// Layout of the disaggregated prefill pool: pipeline-parallel degree.
    #[arg(allow_negative_numbers = true,
        long,
        value_name = "N",
        requires = "disaggregate",
        help_heading = "Disaggregated prefill pool",
        value_parser = crate::axis::one_value("prefill-pp")
    )]
    pub prefill_pp: Option<u64>,
    /// Layout of the disaggregated prefill pool: expert-parallel degree (default: all its stage's GPUs when the decode layout's experts span its stage, else the decode layout's).
    #[arg(allow_negative_numbers = true,
        long,
        value_name = "N",
        requires = "disaggregate",
        help_heading = "Disaggregated prefill pool",
        value_parser = crate::axis::one_value("prefill-ep")
    )]
    pub prefill_ep: Option<u64>,
    /// Prompt tokens processed per prefill chunk.
    #[arg(allow_negative_numbers = true, long, default_value_t = crate::perf::DEFAULT_PREFILL_CHUNK_TOKENS, value_name = "TOKENS",
          value_parser = crate::axis::one_value("prefill-chunk"))]
    pub prefill_chunk: u64,
}

/// Output options shared by sweep and estimate.
#[derive(Debug, Args)]
#[command(next_help_heading = "Output")]
pub struct Output {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Keep only rows satisfying FIELD OP VALUE, e.g. 'ttft_s<=2' (repeatable; exit 3 if none do).
    #[arg(long, value_name = "EXPR")]
    pub require: Vec<String>,
}

/// How every axis flag is written, shown under `sweep --help` and `train --help`.
pub const AXES_HELP: &str = "Axes (LIST|A..B) take a comma list (1,2,4,8), a doubling range (1..4096 = 1,2,4,...,4096), or a mix (1,3,8..64); k means x1024 (2k = 2048), m x1048576 (1m).";

/// `sweep` flags. Axes take a comma list (1,2,4,8) or a doubling range (1..4096).
#[derive(Debug, Args)]
#[command(after_help = AXES_HELP)]
pub struct SweepArgs {
    /// Model, GPU and overrides.
    #[command(flatten)]
    pub selection: Selection,
    /// Serving options.
    #[command(flatten)]
    pub serving: Serving,
    /// Tensor-parallel degrees (inside one attention group).
    #[arg(allow_negative_numbers = true,
        long,
        help_heading = "Axes",
        default_value = DEFAULT_TP,
        value_name = "LIST|A..B",
        value_parser = crate::axis::syntax("tp")
    )]
    pub tp: String,
    /// Attention data-parallel degrees: attention groups per stage (auto: 1 for dense models, 1..64 for MoE).
    #[arg(allow_negative_numbers = true,
        long,
        help_heading = "Axes",
        default_value = "auto",
        value_name = "LIST|A..B",
        value_parser = crate::axis::syntax("dp")
    )]
    pub dp: String,
    /// Pipeline-parallel degrees.
    #[arg(allow_negative_numbers = true,
        long,
        help_heading = "Axes",
        default_value = DEFAULT_PP,
        value_name = "LIST|A..B",
        value_parser = crate::axis::syntax("pp")
    )]
    pub pp: String,
    /// Expert-parallel degrees over the tp × dp GPUs of a stage (auto: 1 when dp = 1, else the most ranks that divide both the stage and the experts).
    #[arg(allow_negative_numbers = true,
        long,
        help_heading = "Axes",
        default_value = "auto",
        value_name = "LIST|A..B",
        value_parser = crate::axis::syntax("ep")
    )]
    pub ep: String,
    /// Concurrent sequences per replica.
    #[arg(allow_negative_numbers = true,
        long,
        help_heading = "Axes",
        default_value = "1,8,64,256,1024,4096",
        value_name = "LIST|A..B",
        value_parser = crate::axis::syntax("batch")
    )]
    pub batch: String,
    /// Prompt tokens per request.
    #[arg(allow_negative_numbers = true,
        long,
        help_heading = "Axes",
        default_value = "2048",
        value_name = "LIST|A..B",
        value_parser = crate::axis::syntax("input-len")
    )]
    pub input_len: String,
    /// Generated tokens per request.
    #[arg(allow_negative_numbers = true,
        long,
        help_heading = "Axes",
        default_value = "256",
        value_name = "LIST|A..B",
        value_parser = crate::axis::syntax("output-len")
    )]
    pub output_len: String,
    /// Weight and matmul precisions: fp32, bf16, fp16, fp8, int8, int4, nvfp4, mxfp4 (fp4 = nvfp4).
    #[arg(
        long,
        help_heading = "Axes",
        default_value = "bf16",
        value_name = "LIST"
    )]
    pub dtype: String,
    /// KV-cache precisions (default: each weight dtype; int4 weights keep a 16-bit cache, FP4 weights an fp8 one).
    #[arg(long, help_heading = "Axes", value_name = "LIST")]
    pub kv_dtype: Option<String>,
    /// Output options.
    #[command(flatten)]
    pub output: Output,
    /// Rank by this row field; append :asc or :desc to force a direction; `none` keeps the configurations' order (JSON and CSV without --top then stream every row as it is evaluated).
    #[arg(
        long,
        help_heading = "Output",
        default_value = "usd_per_1m_output_tokens",
        value_name = "FIELD"
    )]
    pub sort: String,
    /// Rows to print (default: 20 for table/markdown, all for json/csv).
    #[arg(allow_negative_numbers = true, long, help_heading = "Output", value_name = "N", value_parser = crate::axis::count_up_to(u64::MAX))]
    pub top: Option<u64>,
    /// Include configurations that do not fit in memory.
    #[arg(long, help_heading = "Output")]
    pub all: bool,
    /// Keep only the frontier of output tokens/s per GPU against output tokens/s per user.
    #[arg(long, help_heading = "Output")]
    pub pareto: bool,
    /// Also write an SVG chart: every configuration kept (faint) and the frontier (bold) of output tokens/s per GPU against per user, log axes; the data output is unchanged.
    #[arg(long, help_heading = "Output", value_name = "FILE.svg", value_parser = crate::plot::svg_path)]
    pub plot: Option<String>,
    /// Stop before any work when the axes span more configurations than this (about 1 s per million).
    #[arg(allow_negative_numbers = true, long, help_heading = "Work limits", value_name = "N", default_value_t = crate::sweep::DEFAULT_MAX_CONFIGURATIONS, value_parser = crate::axis::count_up_to(u64::MAX))]
    pub max_configurations: u64,
    /// Threads to evaluate on (default: the available cores); the output does not depend on it.
    #[arg(allow_negative_numbers = true, long, help_heading = "Work limits", value_name = "N", value_parser = crate::axis::count_up_to(crate::sweep::MAX_THREADS))]
    pub threads: Option<u64>,
}

/// `estimate` flags: one value per axis.
#[derive(Debug, Args)]
pub struct EstimateArgs {
    /// Model, GPU and overrides.
    #[command(flatten)]
    pub selection: Selection,
    /// Serving options.
    #[command(flatten)]
    pub serving: Serving,
    /// Tensor-parallel degree (inside one attention group).
    #[arg(allow_negative_numbers = true, long, help_heading = "Axes", default_value_t = 1, value_name = "N", value_parser = crate::axis::one_value("tp"))]
    pub tp: u64,
    /// Attention data-parallel degree: attention groups per stage, each with its own sequences, attention weights and KV cache.
    #[arg(allow_negative_numbers = true, long, help_heading = "Axes", default_value_t = 1, value_name = "N", value_parser = crate::axis::one_value("dp"))]
    pub dp: u64,
    /// Pipeline-parallel degree.
    #[arg(allow_negative_numbers = true, long, help_heading = "Axes", default_value_t = 1, value_name = "N", value_parser = crate::axis::one_value("pp"))]
    pub pp: u64,
    /// Expert-parallel degree over the tp × dp GPUs of a stage (the rest splits each expert).
    #[arg(allow_negative_numbers = true, long, help_heading = "Axes", default_value_t = 1, value_name = "N", value_parser = crate::axis::one_value("ep"))]
    pub ep: u64,
    /// Concurrent sequences per replica.
    #[arg(allow_negative_numbers = true, long, help_heading = "Axes", default_value_t = 1, value_name = "N", value_parser = crate::axis::one_value("batch"))]
    pub batch: u64,
    /// Prompt tokens per request.
    #[arg(allow_negative_numbers = true, long, help_heading = "Axes", default_value_t = 2048, value_name = "N", value_parser = crate::axis::one_value("input-len"))]
    pub input_len: u64,
    /// Generated tokens per request.
    #[arg(allow_negative_numbers = true, long, help_heading = "Axes", default_value_t = 256, value_name = "N", value_parser = crate::axis::one_value("output-len"))]
    pub output_len: u64,
    /// Weight and matmul precision: fp32, bf16, fp16, fp8, int8, int4, nvfp4, mxfp4 (fp4 = nvfp4).
    #[arg(long, help_heading = "Axes", default_value = "bf16")]
    pub dtype: crate::dtype::Dtype,
    /// KV-cache precision (default: the weight dtype; int4 weights keep a 16-bit cache, FP4 weights an fp8 one).
    #[arg(long, help_heading = "Axes")]
    pub kv_dtype: Option<crate::dtype::Dtype>,
    /// Output options.
    #[command(flatten)]
    pub output: Output,
    /// Explain where the time, bytes, FLOPs and memory go.
    #[arg(long)]
    pub explain: bool,
}

/// `train` flags. Axes (tp, pp, ep, micro-batch, zero, recompute) take lists; dp = gpus / (tp·pp).
#[derive(Debug, Args)]
#[command(after_help = AXES_HELP)]
pub struct TrainArgs {
    /// Model, GPU and overrides.
    #[command(flatten)]
    pub selection: Selection,
    /// GPUs in the job.
    #[arg(allow_negative_numbers = true, long, help_heading = "Axes", default_value_t = 1024, value_parser = crate::axis::one_value("gpus"))]
    pub gpus: u64,
    /// Tensor-parallel degrees.
    #[arg(allow_negative_numbers = true,
        long,
        help_heading = "Axes",
        default_value = DEFAULT_TP,
        value_name = "LIST|A..B",
        value_parser = crate::axis::syntax("tp")
    )]
    pub tp: String,
    /// Pipeline-parallel degrees.
    #[arg(allow_negative_numbers = true,
        long,
        help_heading = "Axes",
        default_value = DEFAULT_PP,
        value_name = "LIST|A..B",
        value_parser = crate::axis::syntax("pp")
    )]
    pub pp: String,
    /// Expert-parallel degrees (carved out of the data-parallel ranks).
    #[arg(allow_negative_numbers = true,
        long,
        help_heading = "Axes",
        default_value = "1",
        value_name = "LIST|A..B",
        value_parser = crate::axis::syntax("ep")
    )]
    pub ep: String,
    /// Sequences per micro-batch.
    #[arg(allow_negative_numbers = true,
        long,
        help_heading = "Axes",
        default_value = "1",
        value_name = "LIST|A..B",
        value_parser = crate::axis::syntax("micro-batch")
    )]
    pub micro_batch: String,
    /// ZeRO stages (0-3): a comma list or an inclusive range, e.g. 1,3 or 0..3.
    #[arg(
        allow_negative_numbers = true,
        long,
        help_heading = "Axes",
        default_value = "1",
        value_name = "LIST|A..B",
        value_parser = crate::axis::zero_syntax
    )]
    pub zero: String,
    /// Activation recomputation: none, selective, full (comma list).
    #[arg(
        long,
        help_heading = "Axes",
        default_value = "selective",
        value_name = "LIST"
    )]
    pub recompute: String,
    /// Submodules also recomputed, as Megatron-Core's `recompute_modules` (comma list):
    /// layernorm, moe_act, mla_up_proj, mlp (the dense layers' MLP), or none. Re-run in the
    /// backward pass, their outputs not kept; ignored under --recompute full
    #[arg(
        long,
        help_heading = "Axes",
        default_value = "none",
        value_name = "LIST",
        value_parser = crate::train::RecomputeModules::parse
    )]
    pub recompute_modules: crate::train::RecomputeModules,
    /// Parts of each layer replayed from Transformer Engine CUDA graphs, as Megatron-Core's
    /// `cuda_graph_scope` with `cuda_graph_impl = transformer_engine` (comma list): attn, mlp,
    /// moe_router, moe_preprocess (with moe_router), or none (eager). Their operators cost the
    /// host one replay instead of a call each; the routed experts stay eager. Ignored under
    /// --recompute full. A whole step from one graph is --runtime megatron-bridge-26.08
    #[arg(
        long,
        help_heading = "Training",
        default_value = "none",
        value_name = "LIST",
        value_parser = crate::train::CudaGraphScope::parse
    )]
    pub cuda_graph_scope: crate::train::CudaGraphScope,
    /// Training tokens (e.g. 13e12 or 13T).
    #[arg(
        allow_negative_numbers = true,
        long,
        help_heading = "Training",
        default_value_t = 1e12,
        value_parser = crate::axis::token_count("tokens")
    )]
    pub tokens: f64,
    /// Tokens per optimizer step (e.g. 60e6 or 60M).
    #[arg(
        allow_negative_numbers = true,
        long,
        help_heading = "Training",
        default_value_t = 4_194_304.0,
        value_parser = crate::axis::token_count("global-batch-tokens")
    )]
    pub global_batch_tokens: f64,
    /// Tokens per sequence (default: the model's context, at most 8192).
    #[arg(allow_negative_numbers = true, long, help_heading = "Training", value_parser = crate::axis::one_value("seq-len"))]
    pub seq_len: Option<u64>,
    /// Matmul precision: fp32, bf16, fp16 or fp8.
    #[arg(long, help_heading = "Training", default_value = "bf16")]
    pub dtype: crate::dtype::Dtype,
    /// Model chunks per GPU in the interleaved 1F1B schedule (1 = plain 1F1B); auto searches 1, 2, 4 and 8 when pp > 1 (Megatron's virtual pipeline stages).
    #[arg(
        long,
        help_heading = "Axes",
        default_value = "auto",
        value_name = "LIST|A..B"
    )]
    pub interleave: String,
    /// Fraction of data-parallel gradient traffic hidden behind the backward pass. Default: the runtime profile's (modern: 0).
    #[arg(allow_negative_numbers = true, long, help_heading = "Training")]
    pub dp_overlap: Option<f64>,
    /// Precision of the data-parallel gradient reduction: auto (Megatron-LM's rule: fp32, fp16 in fp16 runs), fp32 (NeMo, Megatron-Bridge, torchtitan) or param (the weights' own: PyTorch FSDP PURE, DeepSpeed). Default: the runtime profile's (modern: auto).
    #[arg(long, help_heading = "Training", value_enum)]
    pub grad_reduce: Option<crate::train::GradReduce>,
    /// Attention kernel: flash (fused, causal) or eager (scores materialised, as in Megatron-LM 2021). Default: the runtime profile's (modern: flash).
    #[arg(long, help_heading = "Training", value_enum)]
    pub attention: Option<crate::train::AttentionImpl>,
    /// Sequence parallelism: shard norms, dropouts and residuals across the TP group (false = Megatron-LM 2021). Default: the runtime profile's (modern: true).
    #[arg(long, help_heading = "Training", action = clap::ArgAction::Set, value_name = "BOOL")]
    pub sequence_parallel: Option<bool>,
    /// ZeRO-3 parameter gathers: block (one collective per layer, FSDP) or module (one per weight matrix and norm, DeepSpeed 2021). Default: the runtime profile's (modern: block).
    #[arg(long, help_heading = "Training", value_enum)]
    pub zero3_fetch: Option<crate::train::Zero3Fetch>,
    /// MoE token dispatcher: alltoall (Megatron-Core's default: one copy per routed expert in one NCCL all-to-all) or flex (DeepEP/HybridEP: one copy per EP rank reached, one per node over the network). Default: the runtime profile's (modern: alltoall).
    #[arg(long, help_heading = "Training", value_enum)]
    pub ep_dispatcher: Option<crate::train::EpDispatcher>,
    /// Expert-parallel all-to-all overlap: none (Megatron-Core's default) or micro-batch (--overlap-moe-expert-parallel-comm, DualPipe: hidden under another micro-batch's compute, which runs a fifth slower beside it). Default: the runtime profile's (modern: none).
    #[arg(long, help_heading = "Training", value_enum)]
    pub ep_overlap: Option<crate::train::EpOverlap>,
    /// Data-parallel traffic: none (Megatron-Core's DDP default: gradients reduced after the last backward, weights gathered before the next step) or bucketed (--overlap-grad-reduce with --overlap-param-gather, Megatron-Bridge's default with DP: hidden under the last micro-batch's backward and the next step's first forward, less one bucket). Default: the runtime profile's (modern: none).
    #[arg(long, help_heading = "Training", value_enum)]
    pub grad_overlap: Option<crate::train::GradOverlap>,
    /// Tensor-parallel collectives: none (Megatron-Core's default: exposed between the GEMMs) or gemm (Transformer Engine userbuffers, --tp-comm-overlap: pipelined with the GEMMs beside them, hidden up to their time). Default: the runtime profile's (modern: none).
    #[arg(long, help_heading = "Training", value_enum)]
    pub tp_overlap: Option<crate::train::TpOverlap>,
    /// Multi-token-prediction depths trained with the model (DeepSeek-V3: 1): each adds a transformer layer, a projection and an output-head pass on the last stage.
    #[arg(
        allow_negative_numbers = true,
        long,
        help_heading = "Training",
        default_value_t = 0,
        value_parser = crate::axis::ranged("mtp-layers")
    )]
    pub mtp_layers: u64,
    /// Layers on the last pipeline stage (Megatron --decoder-last-pipeline-num-layers); the other stages split the rest (default: all stages even).
    #[arg(
        allow_negative_numbers = true,
        long,
        help_heading = "Training",
        value_parser = crate::axis::ranged("last-stage-layers")
    )]
    pub last_stage_layers: Option<u64>,
    /// Impose this MFU (0-1) instead of modelling the step time.
    #[arg(allow_negative_numbers = true, long, help_heading = "Training")]
    pub mfu: Option<f64>,
    /// Mean time between failures of one GPU, hours (turns on the failure/checkpoint model).
    #[arg(
        allow_negative_numbers = true,
        long,
        help_heading = "Training",
        value_name = "HOURS"
    )]
    pub gpu_mtbf_hours: Option<f64>,
    /// Seconds of work between checkpoints (default: Daly's optimum, docs/methodology.md §17).
    #[arg(
        allow_negative_numbers = true,
        long,
        help_heading = "Training",
        value_name = "S"
    )]
    pub checkpoint_interval_s: Option<f64>,
    /// Seconds one checkpoint stalls training (with --gpu-mtbf-hours; default 60).
    #[arg(
        allow_negative_numbers = true,
        long,
        help_heading = "Training",
        value_name = "S"
    )]
    pub checkpoint_write_s: Option<f64>,
    /// Seconds from a failure to training again (with --gpu-mtbf-hours; default 600).
    #[arg(
        allow_negative_numbers = true,
        long,
        help_heading = "Training",
        value_name = "S"
    )]
    pub restart_s: Option<f64>,
    /// Output options.
    #[command(flatten)]
    pub output: Output,
    /// Rank by this row field; append :asc or :desc to force a direction.
    #[arg(long, default_value = "train_days", value_name = "FIELD")]
    pub sort: String,
    /// Rows to print (default: 20 for table/markdown, all for json/csv).
    #[arg(allow_negative_numbers = true, long, value_name = "N", value_parser = crate::axis::count_up_to(u64::MAX))]
    pub top: Option<u64>,
    /// Include configurations that do not fit in memory.
    #[arg(long)]
    pub all: bool,
    /// Also write an SVG chart: training days against cost for every configuration kept (faint) and their frontier (bold), log axes; the data output is unchanged.
    #[arg(long, value_name = "FILE.svg", value_parser = crate::plot::svg_path)]
    pub plot: Option<String>,
    /// Stop before any work when the axes span more configurations than this (train keeps the rows it shows).
    #[arg(allow_negative_numbers = true, long, help_heading = "Work limits", value_name = "N", default_value_t = crate::train::DEFAULT_MAX_CONFIGURATIONS, value_parser = crate::axis::count_up_to(u64::MAX))]
    pub max_configurations: u64,
    /// Threads to evaluate on (default: the available cores); the output does not depend on it.
    #[arg(allow_negative_numbers = true, long, help_heading = "Work limits", value_name = "N", value_parser = crate::axis::count_up_to(crate::sweep::MAX_THREADS))]
    pub threads: Option<u64>,
}

/// `reproduce` flags.
#[derive(Debug, Args)]
pub struct ReproduceArgs {
    /// table, json, csv or markdown (docs/seed-claims.md is the markdown).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Override preset fields first: gpu.* applies to every GPU, model.* to GPT-4 (gpt4-8k, gpt4-32k); PRESET:KEY=VALUE to that preset only, e.g. h100:gpu.memory_bw_tb_s=4.8 or gpt3-175b:model.layers=96.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = crate::presets::OverrideParser)]
    pub set: Vec<Override>,
    /// Runtime profile of every computed claim: a built-in name or a path to a TOML file.
    #[arg(long, default_value = crate::runtime::DEFAULT_RUNTIME, value_name = "NAME|PATH")]
    pub runtime: String,
}

/// `validate` flags.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// A TOML file of [[case]] tables (default: the built-in suite).
    #[arg(long, value_name = "FILE")]
    pub cases: Option<String>,
    /// Built-in cases: all (public and moe), public (dense and coarse MoE, training, the article), moe (MoE serving and training), frontier (best tokens/s per GPU at an interactivity floor, InferenceX; not part of all), latency (median TTFT and TPOT at a fixed concurrency, InferenceX; not part of all) or mlperf (MLPerf Inference results of NVIDIA's submissions; not part of all).
    #[arg(long, value_enum, default_value_t = crate::validate::Suite::All, conflicts_with = "cases")]
    pub suite: crate::validate::Suite,
    /// table, json, csv or markdown.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Override any preset field for every case, e.g. gpu.efficiency.memory=0.8; PRESET:KEY=VALUE only for cases that load that preset, e.g. h100:gpu.efficiency.memory=0.8 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = crate::presets::OverrideParser)]
    pub set: Vec<Override>,
    /// Runtime profile of the cases that name none (a case's own `runtime` field wins): a built-in name or a path to a TOML file.
    #[arg(long, default_value = crate::runtime::DEFAULT_RUNTIME, value_name = "NAME|PATH")]
    pub runtime: String,
}

/// `presets` subcommands.
#[derive(Debug, Subcommand)]
pub enum PresetsCommand {
    /// List the built-in presets.
    List,
    /// Print a preset's TOML, or with --format json the preset and its derived summary.
    Show(ShowArgs),
    /// Read a Hugging Face config.json and print the equivalent model preset TOML.
    Import(ImportArgs),
}

/// `presets import` flags.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A Hugging Face config.json (Llama, Mistral, Mixtral, Qwen2/3, DeepSeek-V2/V3, gpt-oss, Llama 4).
    #[arg(value_name = "CONFIG_JSON")]
    pub file: String,
}

/// `presets show` flags.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A built-in model, GPU or runtime preset name, or a path to a TOML file or a Hugging Face config.json.
    pub name: String,
    /// toml or json.
    #[arg(long, value_enum, default_value_t = ShowFormat::Toml)]
    pub format: ShowFormat,
    /// Override fields before showing, e.g. model.experts=32 (or gpt4-8k:model.experts=32).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = crate::presets::OverrideParser)]
    pub set: Vec<Override>,
}

/// `presets show` output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ShowFormat {
    /// The preset file.
    Toml,
    /// The preset and its derived summary.
    Json,
}

/// `P:D`, both at least 1.
pub fn parse_pools(s: &str) -> Result<crate::perf::Disaggregation, String> {
    let (p, d) = s
        .split_once(':')
        .ok_or_else(|| format!("`{s}`: expected PREFILL:DECODE replicas, e.g. 1:3"))?;
    let range = crate::limits::flag_range("disaggregate");
    let n = |x: &str| {
        x.trim()
            .parse::<u64>()
            .ok()
            .filter(|v| range.check("", *v).is_ok())
    };
    match (n(p), n(d)) {
        (Some(prefill_replicas), Some(decode_replicas)) => Ok(crate::perf::Disaggregation {
            prefill_replicas,
            decode_replicas,
            prefill: crate::perf::layout::LayoutOverride::default(),
            queued: 0,
        }),
        _ => Err(format!(
            "`{s}`: both replica counts must be integers from 1 to 65,536, e.g. 1:3"
        )),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn verify_cli() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
