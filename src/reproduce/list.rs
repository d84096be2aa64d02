//! The article's claims, in the article's order. Each entry: its id, the article's words, its
//! value and unit, whether it is checked or echoes an input, the tolerance the article's own
//! precision sets, the what-ifs that must move it, and the computation. Computations read the
//! presets (`c.a100`, `c.h100`, `c.gpt4`, …) and the inputs (`c.input`, src/reproduce/inputs.rs)
//! only; a test scans this file for numbers typed into a computation.

use super::{
    Out, Role, S_PER_DAY, Spec, Tolerance, cheapest, cheapest_at_speed, fastest_at_price,
    max_batch, token_id_bytes, training_flops, training_run,
};
use crate::dtype::Dtype;
use crate::perf::lengths::LengthDist;
use crate::perf::moe::{busiest_rank_factor, distinct_experts};
use crate::perf::pipeline::stage;
use crate::perf::{
    Batching, Config, DraftCost, KvSharding, Speculation, estimate, expected_tokens,
};
use crate::train::TrainConfig;

const INTRO: &str = "Introduction";
const ARCH: &str = "Model Architecture";
const DATA: &str = "Dataset Composition";
const PAR: &str = "Parallelism Strategies";
const TRAIN: &str = "Training Cost";
const MOE: &str = "Mixture of Expert Tradeoffs";
const INF: &str = "Inference Tradeoffs";
const GPT4INF: &str = "GPT-4 Inference Tradeoffs And Infrastructure";
const COST: &str = "GPT-4 Inference Cost";
const MQA: &str = "Multi-Query Attention";
const BATCH: &str = "Continuous batching";
const SPEC: &str = "Speculative Decoding";
const VISION: &str = "Vision Multi-Modal";

fn gb(bytes: f64) -> f64 {
    bytes / 1e9
}
fn bn(params: f64) -> f64 {
    params / 1e9
}
fn pct(x: f64) -> f64 {
    x * 100.0
}
/// A relative change for a sentence: "up by 12%", "down by 66%".
fn up_or_down(change: f64) -> String {
    if change >= 0.0 {
        format!("up by {:.0}%", pct(change))
    } else {
        format!("down by {:.0}%", pct(-change))
    }
}
/// A count for a sentence: whole below a million, in scientific notation above (an input that
/// slows a run a billionfold gives 1e90 restarts, not a 90-digit number).
fn count(x: f64) -> String {
    if x.abs() < 1e6 {
        format!("{x:.0}")
    } else {
        format!("{x:.2e}")
    }
}
fn tokens_per_s(words_per_min: f64, tokens_per_word: f64) -> f64 {
    words_per_min * tokens_per_word / 60.0
}
/// Peak dense FLOP/s of a context's GPU at `dtype` (NaN without a rate).
fn peak(c: &crate::perf::Context, dtype: Dtype) -> f64 {
    c.math(dtype).map_or(f64::NAN, |(_, p)| p)
}
/// The effective MFU of a training run over its wall clock (failures included).
fn wall_mfu(e: &crate::train::TrainEstimate, ctx: &crate::perf::Context) -> f64 {
    e.total_flops
        / (e.config.used_gpus() as f64 * peak(ctx, e.config.dtype) * e.train_days * S_PER_DAY)
}
fn layout(e: &crate::train::TrainEstimate) -> String {
    let t = &e.config;
    format!(
        "TP{} × PP{} × DP{}, ZeRO-{}, {} recomputation",
        t.tp,
        t.pp,
        t.dp(),
        t.zero,
        t.recompute.name()
    )
}
/// The fastest serving point of the article's `gpu` cluster (`ctx`, layout `base`) at or below
/// `target` USD per 1M output tokens: each user's tokens/s there, with `why` it falls short of
/// reading speed; 0 with the cheapest price when none is that cheap, NaN when nothing fits.
fn what_the_price_takes(
    ctx: &crate::perf::Context,
    base: crate::perf::Config,
    target: f64,
    gpu: &str,
    why: &str,
) -> Out {
    let Some(e) = fastest_at_price(ctx, base, target) else {
        // Nothing fits at all: the claim is not computable (`claims`).
        let Some(best) = cheapest(ctx, base) else {
            return Out::new(f64::NAN, String::new());
        };
        return Out::new(
            0.0,
            format!(
                "No batch of the article's {gpu} cluster reaches ${target:.1} per 1M; the cheapest costs ${:.1}.",
                best.usd_per_1m_output_tokens
            ),
        )
        .why("Out of reach at these efficiencies.".into());
    };
    Out::new(
        e.output_tokens_per_s_per_user,
        format!(
            "What the article's ${target:.1} per 1M takes: {} (MBU {:.0}%); the fastest such point gives each user {:.1} tokens/s.",
            serving_layout(&e),
            pct(e.mbu),
            e.output_tokens_per_s_per_user
        ),
    )
    .why(why.into())
}

fn serving_layout(e: &crate::perf::Estimate) -> String {
    let k = &e.config;
    format!(
        "{} GPUs as TP{} × PP{}, batch {}, {}, KV split by {}",
        e.gpus,
        k.tp,
        k.pp,
        k.batch,
        k.dtype.name(),
        k.kv_sharding.name()
    )
}

/// Every claim, in the article's order.
pub static SPECS: &[Spec] = &[
    // ---------------------------------------------------------------- Introduction
    Spec {
        id: "scale-up-100x",
        section: INTRO,
        words: "From GPT-3 to 4, OpenAI wanted to scale 100x",
        article: Some(100.0),
        unit: "x GPT-3's training compute",
        role: Role::Check,
        tolerance: Tolerance::About,
        depends: &[
            "gpt4-8k:model.top_k=4",
            "source.gpt3_training_tokens=500e9",
            "article.training_tokens=20e12",
        ],
        compute: |c| {
            let g4 = training_flops(&c.gpt4, c.input.training_tokens);
            let g3 = training_flops(&c.gpt3, c.input.gpt3_training_tokens);
            Ok(Out::new(g4 / g3, format!(
                "Training compute: GPT-4 {:.2e} FLOP ({:.0}B active parameters × {:.0}T tokens) over GPT-3 {:.2e} FLOP ({:.0}B × {:.0}B tokens). In parameters the step is {:.1}×.",
                g4, bn(c.gpt4.active_params()), c.input.training_tokens / 1e12, g3, bn(c.gpt3.total_params()), c.input.gpt3_training_tokens / 1e9,
                c.gpt4.total_params() / c.gpt3.total_params()))
                .why("The article's 100× is neither: the compute grew less, the parameter count far less.".into()))
        },
    },
    Spec {
        id: "training-compute-cost",
        section: INTRO,
        words: "tens of millions if not hundreds of millions of dollars of compute time to train a model",
        article: None,
        unit: "USD",
        role: Role::Check,
        tolerance: Tolerance::Range(1e7, 1e9),
        depends: &[
            "a100-40g:gpu.memory_bw_tb_s=2",
            "article.a100_usd_per_hour=2",
        ],
        compute: |c| {
            let e = c.a100_run();
            Ok(Out::new(
                e.cost_usd,
                format!(
                    "The article's GPT-4 run as modelled (training-days): ${:.0}M for {:.0} days on {} A100s.",
                    e.cost_usd / 1e6,
                    e.train_days,
                    e.config.used_gpus()
                ),
            ))
        },
    },
    Spec {
        id: "inference-exceeds-training",
        section: INTRO,
        words: "The costs of inference exceed that of training by multiple folds",
        article: None,
        unit: "output tokens",
        role: Role::Check,
        tolerance: Tolerance::Open,
        depends: &[
            "a100-40g:gpu.memory_bw_tb_s=2",
            "article.training_tokens=20e12",
        ],
        compute: |c| {
            let run = c.a100_run();
            let Some(p) = c.a100_reading() else {
                return Ok(Out::new(
                    f64::NAN,
                    "Nothing on the article's A100 cluster serves at reading speed.".into(),
                )
                .holds(false));
            };
            let tokens = run.cost_usd / (p.usd_per_1m_output_tokens / 1e6);
            let cluster_years = run.gpu_hours / (p.gpus as f64 * 24.0 * super::DAYS_PER_YEAR);
            Ok(Out::new(tokens, format!(
                "Inference costs what the training run cost (${:.0}M) after {:.2e} output tokens at reading speed on the article's A100s (${:.0} per 1M), i.e. {:.2}× the {:.0}T training tokens; the run's GPU-hours buy {:.0} years of one {}-GPU inference cluster. Inference exceeds training by multiples once the fleet has run several times that many cluster-years; the article gives no fleet size.",
                run.cost_usd / 1e6, tokens, p.usd_per_1m_output_tokens, tokens / c.input.training_tokens, c.input.training_tokens / 1e12, cluster_years, p.gpus))
                .holds(false))
        },
    },
    Spec {
        id: "reading-speed-low",
        section: INTRO,
        words: "Humans on average read at ~250 words per minute … you need to output at least 8.33 tokens per second",
        article: Some(8.33),
        unit: "tokens/s",
        role: Role::Check,
        tolerance: Tolerance::Digits(3),
        depends: &[
            "source.tokens_per_word=1.5",
            "article.words_per_min_average=300",
        ],
        compute: |c| {
            let i = &c.input;
            let v = tokens_per_s(i.words_per_min_average, i.tokens_per_word);
            Ok(Out::new(
                v,
                format!(
                    "{:.0} words/min × {:.2} tokens per word (OpenAI's rule of thumb) / 60 s.",
                    i.words_per_min_average, i.tokens_per_word
                ),
            )
            .why(
                "The article converts words to tokens at a higher rate than the tokenizer does."
                    .into(),
            ))
        },
    },
    Spec {
        id: "reading-speed-high",
        section: INTRO,
        words: "some reach as high as ~1,000 words per minute … more like 33.33 tokens per second",
        article: Some(33.33),
        unit: "tokens/s",
        role: Role::Check,
        tolerance: Tolerance::Digits(4),
        depends: &[
            "source.tokens_per_word=1.5",
            "article.words_per_min_fast=1200",
        ],
        compute: |c| {
            let i = &c.input;
            let v = tokens_per_s(i.words_per_min_fast, i.tokens_per_word);
            Ok(Out::new(
                v,
                format!(
                    "{:.0} words/min × {:.2} tokens per word / 60 s.",
                    i.words_per_min_fast, i.tokens_per_word
                ),
            )
            .why("The same conversion.".into()))
        },
    },
    Spec {
        id: "dense-1t-33-tok-s",
        section: INTRO,
        words: "even 8x H100 cannot serve a 1 trillion parameter dense model at 33.33 tokens per second",
        article: Some(33.33),
        unit: "tokens/s",
        role: Role::Check,
        tolerance: Tolerance::Under,
        depends: &["h100:gpu.memory_bw_tb_s=6.7", "dense-1t:model.layers=64"],
        compute: |c| {
            let d = c.load("dense-1t", "h100", &[])?;
            let i = &c.input;
            let e = estimate(
                &d,
                &Config::new(
                    i.chart_gpus as u64,
                    1,
                    1,
                    i.input_len as u64,
                    i.output_len as u64,
                    Dtype::Fp16,
                ),
            );
            Ok(Out::new(
                e.output_tokens_per_s_per_user,
                format!(
                    "The modelled batch-1 decode of dense-1t ({:.2}T parameters) on {} H100s at fp16: {:.1} ms per token.",
                    d.model.total_params() / 1e12,
                    e.gpus,
                    e.tpot_s * 1e3
                ),
            ))
        },
    },
    Spec {
        id: "dense-1t-chart-bound",
        section: INTRO,
        words: "The chart … shows that even 8x H100 cannot serve a 1 trillion parameter dense model at 33.33 tokens per second",
        article: Some(33.33),
        unit: "tokens/s",
        role: Role::Check,
        tolerance: Tolerance::Under,
        depends: &["h100:gpu.memory_bw_tb_s=6.7", "article.chart_overhead=1.5"],
        compute: |c| {
            let d = c.load("dense-1t", "h100", &[])?;
            let i = &c.input;
            let bytes = d.model.total_params() * Dtype::Fp16.bytes() * i.chart_overhead;
            let bound = |bw: f64| i.chart_gpus * bw / bytes;
            let art = bound(i.h100_tb_s * 1e12);
            Ok(Out::new(bound(c.h100.hw.mem_bw_bytes_per_s), format!(
                "The chart's arithmetic: {:.0} GPUs × {:.2} TB/s / ({:.2}T parameters × 2 bytes × {:.0} for overheads).",
                i.chart_gpus, c.h100.hw.mem_bw_bytes_per_s / 1e12, d.model.total_params() / 1e12, i.chart_overhead))
                .alt(format!("{} TB/s per H100", i.h100_tb_s), art))
        },
    },
    Spec {
        id: "dense-1t-utilisation",
        section: INTRO,
        words: "the FLOPS utilization rate of the 8xH100's at 20 tokens per second would still be under 5%",
        article: Some(0.05),
        unit: "fraction",
        role: Role::Check,
        tolerance: Tolerance::Under,
        depends: &["h100:gpu.tflops.bf16=500", "article.chart_tok_s=40"],
        compute: |c| {
            let d = c.load("dense-1t", "h100", &[])?;
            let i = &c.input;
            let v = i.chart_tok_s * d.model.flops_per_token()
                / (i.chart_gpus * peak(&c.h100, Dtype::Bf16));
            Ok(Out::new(
                v,
                format!(
                    "{:.0} tokens/s × {:.2} TFLOP per token / ({:.0} × {:.0} TFLOP/s bf16).",
                    i.chart_tok_s,
                    d.model.flops_per_token() / 1e12,
                    i.chart_gpus,
                    peak(&c.h100, Dtype::Bf16) / 1e12
                ),
            ))
        },
    },
    Spec {
        id: "ffn-limit",
        section: INTRO,
        words: "there is an inference constraint around ~300 billion feed-forward parameters for an 8-way tensor parallel H100 system",
        article: Some(300e9),
        unit: "parameters",
        role: Role::Check,
        tolerance: Tolerance::About,
        depends: &["h100:gpu.memory_bw_tb_s=4.8", "article.chart_tok_s=33.33"],
        compute: |c| {
            let i = &c.input;
            let limit = |bw: f64| {
                i.chart_gpus * bw / (i.chart_tok_s * Dtype::Fp16.bytes() * i.chart_overhead)
            };
            let bw = c.h100.hw.mem_bw_bytes_per_s;
            Ok(Out::new(limit(bw), format!(
                "The chart's point: {:.0} × {:.2} TB/s (the H100 preset) / ({:.0} tokens/s × 2 bytes × {:.0} for overheads).",
                i.chart_gpus, bw / 1e12, i.chart_tok_s, i.chart_overhead))
                .alt(format!("{} TB/s per H100", i.h100_tb_s), limit(i.h100_tb_s * 1e12))
                .why(format!("The ~{:.0}B follows from the article's {} TB/s; the datasheet's {:.2} TB/s moves the limit {}.", bn(limit(i.h100_tb_s * 1e12)), i.h100_tb_s, bw / 1e12, up_or_down(bw / (i.h100_tb_s * 1e12) - 1.0))))
        },
    },
    Spec {
        id: "a100-reading-speed",
        section: INTRO,
        words: "Yet OpenAI is achieving human reading speed, with A100s, with a model larger than 1 trillion parameters",
        article: Some(8.33),
        unit: "tokens/s per user",
        role: Role::Check,
        tolerance: Tolerance::Over,
        depends: &["a100-40g:gpu.memory_bw_tb_s=1", "gpt4-8k:model.top_k=4"],
        compute: |c| {
            let e = estimate(&c.a100, &c.serving(1, Dtype::Fp16));
            Ok(Out::new(
                e.output_tokens_per_s_per_user,
                format!(
                    "GPT-4 at batch 1 on the article's layout ({}): {:.0} ms per token. Reading speed holds only at small batches: the cheapest batch that keeps it is the price row's.",
                    serving_layout(&e),
                    e.tpot_s * 1e3
                ),
            ))
        },
    },
    Spec {
        id: "price-covers-cost",
        section: INTRO,
        words: "they are offering it broadly at a low price of only $0.06 per 1,000 tokens",
        article: Some(60.0),
        unit: "USD per 1M output tokens (cost)",
        role: Role::Check,
        tolerance: Tolerance::Under,
        depends: &[
            "a100-40g:gpu.memory_bw_tb_s=4",
            "article.a100_usd_per_hour=0.5",
        ],
        compute: |c| {
            let Some(e) = c.a100_reading() else {
                return Ok(Out::new(
                    f64::NAN,
                    "Nothing on the article's A100 cluster serves at reading speed.".into(),
                ));
            };
            Ok(Out::new(e.usd_per_1m_output_tokens, format!(
                "The cheapest output token at the article's reading speed ({:.2} tokens/s per user) on its A100 cluster ({}) costs ${:.0} per 1M against the ${:.0} per 1M (${:.2} per 1k) price.",
                c.input.reading_tok_s, serving_layout(e), e.usd_per_1m_output_tokens, c.input.api_usd_per_1k * 1e3, c.input.api_usd_per_1k))
                .why("At reading speed the price does not cover the modelled cost; it covers it only at the large batches where users get far less than reading speed (price-a100-what-it-takes).".into()))
        },
    },
    // ---------------------------------------------------------------- Model Architecture
    Spec {
        id: "gpt3-params",
        section: ARCH,
        words: "the ~175 billion parameters of GPT-3",
        article: Some(175e9),
        unit: "parameters",
        role: Role::Check,
        tolerance: Tolerance::About,
        depends: &["gpt3-175b:model.layers=80"],
        compute: |c| {
            Ok(Out::new(
                c.gpt3.total_params(),
                format!(
                    "Counted from the gpt3-175b preset (Brown et al.: {:.0} layers, d_model {:.0}).",
                    c.gpt3.layers, c.gpt3.d_model
                ),
            ))
        },
    },
    Spec {
        id: "more-than-10x-gpt3",
        section: ARCH,
        words: "GPT-4 is more than 10x the size of GPT-3",
        article: Some(10.0),
        unit: "x GPT-3's parameters",
        role: Role::Check,
        tolerance: Tolerance::Over,
        depends: &["gpt4-8k:model.experts=8"],
        compute: |c| {
            Ok(Out::new(
                c.gpt4.total_params() / c.gpt3.total_params(),
                format!(
                    "{:.0}B / {:.0}B total parameters.",
                    bn(c.gpt4.total_params()),
                    bn(c.gpt3.total_params())
                ),
            ))
        },
    },
    Spec {
        id: "total-params",
        section: ARCH,
        words: "a total of ~1.8 trillion parameters",
        article: Some(1.8e12),
        unit: "parameters",
        role: Role::Check,
        tolerance: Tolerance::About,
        depends: &["gpt4-8k:model.experts=32"],
        compute: |c| {
            Ok(Out::new(
                c.gpt4.total_params(),
                format!(
                    "Counted from the GPT4-A reconstruction: {:.0} layers of attention and {:.0} experts, plus {:.1}B of embeddings (docs/methodology.md §1).",
                    c.gpt4.layers,
                    c.gpt4.experts,
                    bn(c.gpt4.embedding_params())
                ),
            ))
        },
    },
    Spec {
        id: "layers",
        section: ARCH,
        words: "across 120 layers",
        article: Some(120.0),
        unit: "layers",
        role: Role::Input,
        tolerance: Tolerance::Digits(3),
        depends: &["gpt4-8k:model.layers=96"],
        compute: |c| {
            Ok(Out::new(
                c.gpt4.layers,
                "The preset's layer count, set to the article's.".into(),
            ))
        },
    },
    Spec {
        id: "experts",
        section: ARCH,
        words: "OpenAI utilizes 16 experts within their model",
        article: Some(16.0),
        unit: "experts",
        role: Role::Input,
        tolerance: Tolerance::Digits(2),
        depends: &["gpt4-8k:model.experts=32"],
        compute: |c| {
            Ok(Out::new(
                c.gpt4.experts,
                "The preset's expert count, set to the article's.".into(),
            ))
        },
    },
    Spec {
        id: "expert-params",
        section: ARCH,
        words: "each is about ~111B parameters for MLP",
        article: Some(111e9),
        unit: "parameters",
        role: Role::Check,
        tolerance: Tolerance::About,
        depends: &["gpt4-8k:model.ffn_dim=50000"],
        compute: |c| {
            Ok(Out::new(
                c.gpt4.params_per_expert(),
                format!(
                    "A plain FFN {:.0}× d_model wide (2 × d_model × ffn_dim = {:.1}M per layer) over {:.0} layers, d_model {:.0} being the width that gives the article's attention parameters (attention-params): the two figures agree.",
                    c.gpt4.ffn_dim / c.gpt4.d_model,
                    c.gpt4.ffn_params_per_expert_per_layer / 1e6,
                    c.gpt4.layers,
                    c.gpt4.d_model
                ),
            ))
        },
    },
    Spec {
        id: "top-k",
        section: ARCH,
        words: "2 of these experts are routed to per forward pass",
        article: Some(2.0),
        unit: "experts per token",
        role: Role::Input,
        tolerance: Tolerance::Digits(1),
        depends: &["gpt4-8k:model.top_k=4"],
        compute: |c| {
            Ok(Out::new(
                c.gpt4.top_k,
                "The preset's top-k, set to the article's.".into(),
            ))
        },
    },
    Spec {
        id: "attention-params",
        section: ARCH,
        words: "there are roughly ~55B shared parameters for attention",
        article: Some(55e9),
        unit: "parameters",
        role: Role::Input,
        tolerance: Tolerance::About,
        depends: &["gpt4-8k:model.attention_params_per_layer=300000000"],
        compute: |c| {
            Ok(Out::new(
                c.gpt4.attention_params(),
                format!(
                    "The preset's attention_params_per_layer ({:.1}M, MHA-shaped: {:.0}·d²) × {:.0} layers: the reconstruction's starting point, not a result.",
                    c.gpt4.attn_params_per_layer / 1e6,
                    c.gpt4.attn_params_per_layer / (c.gpt4.d_model * c.gpt4.d_model),
                    c.gpt4.layers
                ),
            ))
        },
    },
    Spec {
        id: "active-params",
        section: ARCH,
        words: "Each forward pass inference (generation of 1 token) only utilizes ~280B parameters",
        article: Some(280e9),
        unit: "parameters",
        role: Role::Check,
        tolerance: Tolerance::About,
        depends: &["gpt4-8k:model.top_k=4"],
        compute: |c| {
            Ok(Out::new(
                c.gpt4.active_params(),
                format!(
                    "Attention ({:.1}B), {:.0} experts of {:.1}B, routers and embeddings.",
                    bn(c.gpt4.attention_params()),
                    c.gpt4.top_k,
                    bn(c.gpt4.params_per_expert())
                ),
            ))
        },
    },
    Spec {
        id: "flops-per-token",
        section: ARCH,
        words: "and ~560 TFLOPs",
        article: Some(560e12),
        unit: "FLOP per token",
        role: Role::Check,
        tolerance: Tolerance::About,
        depends: &["gpt4-8k:model.top_k=4"],
        compute: |c| {
            let f = c.gpt4.flops_per_token();
            Ok(Out::new(
                f,
                format!(
                    "2 FLOP per active non-embedding parameter, plus the logits: {:.0} GFLOP.",
                    f / 1e9
                ),
            )
            .why(format!(
                "The article's TFLOP is a unit slip for GFLOP: {:.0} GFLOP, a ratio of 1/1000.",
                f / 1e9
            )))
        },
    },
    Spec {
        id: "dense-flops-per-token",
        section: ARCH,
        words: "the ~1.8 trillion parameters and ~3,700 TFLOP that would be required per forward pass of a purely dense model",
        article: Some(3700e12),
        unit: "FLOP per token",
        role: Role::Check,
        tolerance: Tolerance::About,
        depends: &["gpt4-8k:model.experts=32"],
        compute: |c| {
            let f = 2.0 * c.gpt4.total_params();
            Ok(Out::new(
                f,
                format!(
                    "2 FLOP per parameter of all {:.2}T.",
                    c.gpt4.total_params() / 1e12
                ),
            )
            .why(format!(
                "The same unit slip: {:.1} TFLOP, not thousands.",
                f / 1e12
            )))
        },
    },
    // ---------------------------------------------------------------- Dataset Composition
    Spec {
        id: "training-tokens",
        section: DATA,
        words: "OpenAI trained GPT-4 on ~13 trillion tokens",
        article: Some(13e12),
        unit: "tokens",
        role: Role::Input,
        tolerance: Tolerance::About,
        depends: &["article.training_tokens=20e12"],
        compute: |c| {
            Ok(Out::new(
                c.input.training_tokens,
                "The article's figure, the training runs' input.".into(),
            ))
        },
    },
    Spec {
        id: "epochs",
        section: DATA,
        words: "This dataset is not 13 trillion unique tokens … 2 epochs for text-based data and 4 for code-based data",
        article: None,
        unit: "unique tokens (at most)",
        role: Role::Check,
        tolerance: Tolerance::Holds,
        depends: &["article.text_epochs=3", "article.training_tokens=20e12"],
        compute: |c| {
            let i = &c.input;
            let most = i.training_tokens / i.text_epochs;
            let least = i.training_tokens / i.code_epochs;
            Ok(Out::new(most, format!(
                "{:.0}T tokens seen over {:.0} to {:.0} epochs hold {:.2}T to {:.1}T unique tokens, which brackets the article's ~{:.0}T high-quality RefinedWeb tokens.",
                i.training_tokens / 1e12, i.text_epochs, i.code_epochs, least / 1e12, most / 1e12, i.refinedweb_tokens / 1e12))
                .holds(least <= i.refinedweb_tokens && i.refinedweb_tokens <= most))
        },
    },
    Spec {
        id: "chinchilla-short",
        section: DATA,
        words: "Interestingly, this is far short of Chinchilla optimal",
        article: None,
        unit: "tokens (Chinchilla-optimal)",
        role: Role::Check,
        tolerance: Tolerance::Holds,
        depends: &[
            "gpt4-8k:model.experts=32",
            "source.chinchilla_tokens_per_param=10",
        ],
        compute: |c| {
            let i = &c.input;
            let opt = i.chinchilla_tokens_per_param * c.gpt4.total_params();
            let active = i.chinchilla_tokens_per_param * c.gpt4.active_params();
            Ok(Out::new(opt, format!(
                "{:.0} tokens per parameter × {:.2}T total parameters = {:.1}T tokens, against the {:.0}T trained. Counted on the {:.0}B active parameters the optimum is {:.1}T, which GPT-4 passes.",
                i.chinchilla_tokens_per_param, c.gpt4.total_params() / 1e12, opt / 1e12, i.training_tokens / 1e12, bn(c.gpt4.active_params()), active / 1e12))
                .holds(i.training_tokens < opt))
        },
    },
    Spec {
        id: "chinchilla-double",
        section: DATA,
        words: "indicating the need to train the model on double the token count (… would have had to train on 2x the tokens if they were actually trying to go Chinchilla optimal)",
        article: Some(2.0),
        unit: "x the tokens trained",
        role: Role::Check,
        tolerance: Tolerance::Digits(1),
        depends: &["gpt4-8k:model.experts=32", "article.training_tokens=20e12"],
        compute: |c| {
            let i = &c.input;
            let v = i.chinchilla_tokens_per_param * c.gpt4.total_params() / i.training_tokens;
            Ok(Out::new(v, format!(
                "Chinchilla-optimal tokens ({:.0} per parameter × {:.2}T) / {:.0}T trained.",
                i.chinchilla_tokens_per_param, c.gpt4.total_params() / 1e12, i.training_tokens / 1e12))
                .why(format!("On total parameters it is {v:.1}×, more than double; on active parameters GPT-4 is already past the optimum.")))
        },
    },
    Spec {
        id: "training-seq-len",
        section: DATA,
        words: "There was an 8k context length (seqlen) for the pre-training phase",
        article: Some(8192.0),
        unit: "tokens",
        role: Role::Input,
        tolerance: Tolerance::Digits(1),
        depends: &["article.training_seq=4096"],
        compute: |c| {
            Ok(Out::new(
                c.input.training_seq,
                "The article's figure, the training runs' sequence length.".into(),
            ))
        },
    },
    Spec {
        id: "training-batch",
        section: DATA,
        words: "by the end, OpenAI was using a batch size of 60 million",
        article: Some(60e6),
        unit: "tokens",
        role: Role::Input,
        tolerance: Tolerance::Digits(2),
        depends: &["article.training_batch_tokens=30e6"],
        compute: |c| {
            Ok(Out::new(
                c.input.training_batch_tokens,
                "The article's figure, the training runs' batch.".into(),
            ))
        },
    },
    Spec {
        id: "tokens-per-expert",
        section: DATA,
        words: "This, of course, is \"only\" a batch size of 7.5 million tokens per expert",
        article: Some(7.5e6),
        unit: "tokens",
        role: Role::Check,
        tolerance: Tolerance::Digits(2),
        depends: &[
            "gpt4-8k:model.experts=32",
            "article.training_batch_tokens=30e6",
        ],
        compute: |c| {
            let v = c.input.training_batch_tokens * c.gpt4.top_k / c.gpt4.experts;
            Ok(Out::new(
                v,
                format!(
                    "{:.0}M tokens × top-{:.0} / {:.0} experts, with balanced routing.",
                    c.input.training_batch_tokens / 1e6,
                    c.gpt4.top_k,
                    c.gpt4.experts
                ),
            ))
        },
    },
    // ---------------------------------------------------------------- Parallelism Strategies
    Spec {
        id: "tp-nvlink-limit",
        section: PAR,
        words: "They utilized 8-way tensor parallelism as that is the limit for NVLink",
        article: Some(8.0),
        unit: "GPUs per NVLink domain",
        role: Role::Input,
        tolerance: Tolerance::Digits(1),
        depends: &["a100-40g:gpu.node.gpus_per_node=16"],
        compute: |c| {
            Ok(Out::new(
                c.a100.hw.gpus_per_node as f64,
                "The A100 preset's GPUs per NVLink node (HGX A100).".into(),
            ))
        },
    },
    Spec {
        id: "training-pp",
        section: PAR,
        words: "we hear they are using 15-way pipeline parallelism",
        article: Some(15.0),
        unit: "stages",
        role: Role::Input,
        tolerance: Tolerance::Digits(2),
        depends: &["article.training_pp=12"],
        compute: |c| {
            Ok(Out::new(
                c.input.training_pp,
                "The article's figure, the training runs' layout.".into(),
            ))
        },
    },
    Spec {
        id: "pipeline-bubble",
        section: PAR,
        words: "Theoretically, this is too many pipelines … We don't understand how they avoid having huge bubbles … It's likely they just ate the cost",
        article: None,
        unit: "fraction of the step",
        role: Role::Check,
        tolerance: Tolerance::Holds,
        depends: &[
            "article.training_pp=8",
            "article.training_batch_tokens=120e6",
        ],
        compute: |c| {
            let e = c.a100_run();
            let s = &e.step;
            Ok(Out::new(e.bubble_fraction, format!(
                "The modelled run ({}): {} micro-batches per pipeline, so the bubble takes {:.0}% of the step, against {:.0}% for the data-parallel gradient exchange.",
                layout(e), e.micro_batches, pct(e.bubble_fraction), pct(s.dp_comm_s / s.total_s())))
                .holds(s.bubble_s > s.dp_comm_s))
        },
    },
    Spec {
        id: "training-weights-per-gpu",
        section: PAR,
        words: "It is ~30GB just for the parameters at FP16 per GPU when purely pipeline + tensor parallel",
        article: Some(30e9),
        unit: "bytes",
        role: Role::Check,
        tolerance: Tolerance::About,
        depends: &["gpt4-8k:model.experts=32", "article.training_pp=12"],
        compute: |c| {
            let gpus = c.input.training_tp * c.input.training_pp;
            let v = Dtype::Fp16.bytes() * c.gpt4.total_params() / gpus;
            Ok(Out::new(
                v,
                format!(
                    "2 bytes × {:.2}T parameters / {:.0} GPUs per replica (TP{:.0} × PP{:.0}).",
                    c.gpt4.total_params() / 1e12,
                    gpus,
                    c.input.training_tp,
                    c.input.training_pp
                ),
            ))
        },
    },
    Spec {
        id: "zero1-on-40gb",
        section: PAR,
        words: "this theoretically makes sense if a large portion of OpenAI's GPUs are 40GB A100s. They likely used ZeRo Stage 1",
        article: None,
        unit: "bytes per GPU",
        role: Role::Check,
        tolerance: Tolerance::Holds,
        depends: &["gpt4-8k:model.experts=32", "article.training_pp=30"],
        compute: |c| {
            let i = &c.input;
            let cfg = TrainConfig {
                zero: i.training_zero as u8,
                ..TrainConfig::new(
                    i.a100_gpus as u64,
                    i.training_tp as u64,
                    i.training_pp as u64,
                    i.training_batch_tokens,
                    i.training_seq as u64,
                    i.training_tokens,
                    Dtype::Bf16,
                )
            };
            let e = crate::train::estimate(&c.a100, &cfg);
            let m = &e.memory;
            let fits = c.a100_run();
            Ok(Out::new(m.total_bytes(), format!(
                "ZeRO-{} with selective recomputation on TP{:.0} × PP{:.0} × DP{} needs {:.1} GB per GPU (weights {:.1}, gradients {:.1}, optimizer {:.1}, activations {:.1}) against {:.1} GB.",
                cfg.zero, i.training_tp, i.training_pp, cfg.dp(), gb(m.total_bytes()), gb(m.weights_bytes), gb(m.grads_bytes), gb(m.optimizer_bytes), gb(m.activation_bytes), gb(c.a100.hw.mem_bytes)))
                .holds(e.fits)
                .why(format!("It does not fit: the least memory-saving that fits {:.1} GB is {} ({:.1} GB), which the training rows use.", gb(c.a100.hw.mem_bytes), layout(fits), gb(fits.memory.total_bytes()))))
        },
    },
    Spec {
        id: "fsdp-overhead",
        section: PAR,
        words: "As for why they didn't use full model FSDP, it could be because of the higher communication overhead",
        article: None,
        unit: "x the step time",
        role: Role::Check,
        tolerance: Tolerance::Holds,
        depends: &["a100-40g:gpu.node.scaleout_gbit_s=100"],
        compute: |c| {
            let e = c.a100_run();
            let full = crate::train::estimate(
                &c.a100,
                &TrainConfig {
                    zero: super::FSDP_ZERO_STAGE,
                    reliability: None,
                    ..e.config
                },
            );
            let same = crate::train::estimate(
                &c.a100,
                &TrainConfig {
                    reliability: None,
                    ..e.config
                },
            );
            let r = full.step_time_s / same.step_time_s;
            Ok(Out::new(r, format!(
                "Full sharding (ZeRO-3) of the modelled run: {:.1} s per step against {:.1} s with ZeRO-{}; data-parallel traffic {:.1} s against {:.1} s.",
                full.step_time_s, same.step_time_s, e.config.zero, full.step.dp_comm_s, same.step.dp_comm_s))
                .holds(r > 1.0))
        },
    },
    // ---------------------------------------------------------------- Training Cost
    Spec {
        id: "training-flops",
        section: TRAIN,
        words: "OpenAI's training FLOPS for GPT-4 is ~2.15e25",
        article: Some(2.15e25),
        unit: "FLOP",
        role: Role::Check,
        tolerance: Tolerance::About,
        depends: &["gpt4-8k:model.top_k=4", "article.training_tokens=20e12"],
        compute: |c| {
            let v = training_flops(&c.gpt4, c.input.training_tokens);
            Ok(Out::new(
                v,
                format!(
                    "6 × {:.1}B active parameters × {:.0}T tokens, plus the logits (attention adds {:.1}% more at {:.0} tokens).",
                    bn(c.gpt4.active_params()),
                    c.input.training_tokens / 1e12,
                    pct(c.a100_run().attention_flops / c.a100_run().total_flops),
                    c.input.training_seq
                ),
            ))
        },
    },
    Spec {
        id: "training-gpus",
        section: TRAIN,
        words: "on ~25,000 A100s",
        article: Some(25_000.0),
        unit: "GPUs",
        role: Role::Input,
        tolerance: Tolerance::About,
        depends: &["article.a100_gpus=20000"],
        compute: |c| {
            Ok(Out::new(
                c.input.a100_gpus,
                format!(
                    "The article's figure; TP × PP × DP uses {} of them.",
                    c.a100_run().config.used_gpus()
                ),
            ))
        },
    },
    Spec {
        id: "training-days",
        section: TRAIN,
        words: "for 90 to 100 days",
        article: Some(95.0),
        unit: "days",
        role: Role::Check,
        tolerance: Tolerance::Range(90.0, 100.0),
        depends: &["a100-40g:gpu.tflops.bf16=400", "article.a100_gpus=20000"],
        compute: |c| {
            let e = c.a100_run();
            let i = &c.input;
            let mid = (i.a100_mfu_low + i.a100_mfu_high) / 2.0;
            let imposed = crate::train::estimate(
                &c.a100,
                &TrainConfig {
                    mfu: Some(mid),
                    reliability: None,
                    ..e.config
                },
            );
            Ok(Out::new(e.train_days, format!(
                "The modelled run: {} on {} A100-40G, {:.1} s per step, {:.0}% of wall time lost to failures and restarts.",
                layout(e), e.config.used_gpus(), e.step_time_s, pct(1.0 - e.goodput)))
                .alt_if_it_runs(format!("the article's {:.0}% MFU", pct(mid)), &imposed, imposed.train_days)
                .why(if imposed.runs() {
                    format!("The modelled step reaches {:.0}% MFU, below the article's; at its {:.0}% the run takes {:.0} days.", pct(e.mfu), pct(mid), imposed.train_days)
                } else {
                    format!("The modelled step reaches {:.0}% MFU; the article's {:.0}% would need more than the GPU's peak in this layout (at most {:.0}%).", pct(e.mfu), pct(mid), pct(imposed.mfu_ceiling()))
                }))
        },
    },
    Spec {
        id: "training-mfu",
        section: TRAIN,
        words: "at about 32% to 36% MFU. Part of this extremely low utilization is due to an absurd number of failures",
        article: Some(0.34),
        unit: "fraction",
        role: Role::Check,
        tolerance: Tolerance::Range(0.32, 0.36),
        depends: &["a100-40g:gpu.tflops.bf16=400", "source.gpu_mtbf_hours=5000"],
        compute: |c| {
            let e = c.a100_run();
            let v = wall_mfu(e, &c.a100);
            Ok(Out::new(v, format!(
                "Over the wall clock, failures included: the modelled step's {:.1}% MFU ({}, bubble {:.0}%) × {:.0}% goodput.",
                pct(e.mfu), layout(e), pct(e.bubble_fraction), pct(e.goodput)))
                .why(format!("The layout that fits {:.1} GB recomputes activations and pays a large bubble; the article's {:.0}-{:.0}% needs a lighter layout than the A100's memory allows.", gb(c.a100.hw.mem_bytes), pct(c.input.a100_mfu_low), pct(c.input.a100_mfu_high))))
        },
    },
    Spec {
        id: "failures-restarts",
        section: TRAIN,
        words: "Part of this extremely low utilization is due to an absurd number of failures requiring checkpoints that needed to be restarted from",
        article: None,
        unit: "fraction of wall time lost",
        role: Role::Check,
        tolerance: Tolerance::Holds,
        depends: &["source.gpu_mtbf_hours=5000", "article.a100_gpus=20000"],
        compute: |c| {
            let e = c.a100_run();
            let i = &c.input;
            let mtbf_job_h = i.gpu_mtbf_hours / e.config.used_gpus() as f64;
            let failures = e.train_days * 24.0 / mtbf_job_h;
            let restarts = if failures.is_finite() {
                format!("about {} restarts over the run", count(failures))
            } else {
                "so often that the run never reaches its end".to_string()
            };
            Ok(Out::new(1.0 - e.goodput, format!(
                "At the documented GPU MTBF of {:.0} h (source.gpu_mtbf_hours), {} GPUs fail every {:.1} h: {restarts}, costing {:.0}% of wall time (checkpoints at Daly's optimum interval, {:.0} s to restart).",
                i.gpu_mtbf_hours, e.config.used_gpus(), mtbf_job_h, pct(1.0 - e.goodput), i.restart_s))
                .holds(e.goodput < 1.0))
        },
    },
    Spec {
        id: "segments-allreduce",
        section: TRAIN,
        words: "all-reduce between that many GPUs is extremely costly … 800G/1.6T non-blocking between segments of the cluster, but those segments are only connected at 200G/400G",
        article: None,
        unit: "x the step time",
        role: Role::Check,
        tolerance: Tolerance::Holds,
        depends: &[
            "article.segment_gbit_s_per_node=200",
            "a100-40g:gpu.node.scaleout_gbit_s=100",
        ],
        compute: |c| {
            let e = c.a100_run();
            let i = &c.input;
            let per_gpu = i.segment_gbit_s_per_node / c.a100.hw.gpus_per_node as f64;
            let slow = c.load(
                "gpt4-8k",
                "a100-40g",
                &[format!("gpu.node.scaleout_gbit_s={per_gpu}")],
            )?;
            let base = TrainConfig {
                reliability: None,
                ..e.config
            };
            let fast = crate::train::estimate(&c.a100, &base);
            let seg = crate::train::estimate(&slow, &base);
            Ok(Out::new(seg.step_time_s / fast.step_time_s, format!(
                "The gradient exchange of the modelled run takes {:.1} s of a {:.1} s step at the A100 preset's NICs (a non-blocking segment); at {:.0} Gbit/s per node between segments it takes {:.1} s of {:.1} s.",
                fast.step.dp_comm_s, fast.step_time_s, i.segment_gbit_s_per_node, seg.step.dp_comm_s, seg.step_time_s))
                .holds(seg.step_time_s > fast.step_time_s))
        },
    },
    Spec {
        id: "a100-price",
        section: TRAIN,
        words: "If their cost in the cloud was about $1 per A100 hour",
        article: Some(1.0),
        unit: "USD per GPU-hour",
        role: Role::Input,
        tolerance: Tolerance::About,
        depends: &["article.a100_usd_per_hour=2"],
        compute: |c| {
            Ok(Out::new(c.a100.hw.usd_per_gpu_hour, "The article's price, set on the A100 rows (a100-40g:gpu.price.usd_per_gpu_hour overrides it).".into()))
        },
    },
    Spec {
        id: "training-cost",
        section: TRAIN,
        words: "the training costs for this run alone would be about $63 million",
        article: Some(63e6),
        unit: "USD",
        role: Role::Check,
        tolerance: Tolerance::About,
        depends: &[
            "a100-40g:gpu.tflops.bf16=400",
            "article.a100_usd_per_hour=2",
        ],
        compute: |c| {
            let e = c.a100_run();
            let i = &c.input;
            let mid = (i.a100_mfu_low + i.a100_mfu_high) / 2.0;
            let imposed = crate::train::estimate(
                &c.a100,
                &TrainConfig {
                    mfu: Some(mid),
                    reliability: None,
                    ..e.config
                },
            );
            Ok(Out::new(
                e.cost_usd,
                format!(
                    "The same modelled run: {:.2}M GPU-hours ({:.0} days on {} GPUs) at ${:.2}.",
                    e.gpu_hours / 1e6,
                    e.train_days,
                    e.config.used_gpus(),
                    c.a100.hw.usd_per_gpu_hour
                ),
            )
            .alt_if_it_runs(
                format!("the article's {:.0}% MFU", pct(mid)),
                &imposed,
                imposed.cost_usd,
            ))
        },
    },
    Spec {
        id: "h100-gpus",
        section: TRAIN,
        words: "Today, the pre-training could be done with ~8,192 H100",
        article: Some(8192.0),
        unit: "GPUs",
        role: Role::Input,
        tolerance: Tolerance::About,
        depends: &["article.h100_gpus=4096"],
        compute: |c| {
            Ok(Out::new(
                c.input.h100_gpus,
                format!(
                    "The article's figure; TP × PP × DP uses {} of them.",
                    c.h100_run().config.used_gpus()
                ),
            ))
        },
    },
    Spec {
        id: "h100-days",
        section: TRAIN,
        words: "in ~55 days",
        article: Some(55.0),
        unit: "days",
        role: Role::Check,
        tolerance: Tolerance::About,
        depends: &["h100:gpu.tflops.bf16=1500", "article.h100_gpus=4096"],
        compute: |c| {
            let e = c.h100_run();
            let i = &c.input;
            let fp8 = training_run(&c.h100, i, i.h100_gpus, Dtype::Fp8, true);
            let mid = (i.a100_mfu_low + i.a100_mfu_high) / 2.0;
            let imposed = crate::train::estimate(
                &c.h100,
                &TrainConfig {
                    mfu: Some(mid),
                    reliability: None,
                    ..e.config
                },
            );
            Ok(Out::new(e.train_days, format!(
                "The article's recipe modelled on {} H100s at bf16 ({}, {:.0}% MFU, {:.0}% goodput); at fp8 it takes {:.0} days.",
                e.config.used_gpus(), layout(e), pct(e.mfu), pct(e.goodput), fp8.train_days))
                .alt_if_it_runs(format!("the article's A100 MFU of {:.0}%, bf16", pct(mid)), &imposed, imposed.train_days))
        },
    },
    Spec {
        id: "h100-cost",
        section: TRAIN,
        words: "for $21.5 million at $2 per H100 hour",
        article: Some(21.5e6),
        unit: "USD",
        role: Role::Check,
        tolerance: Tolerance::Digits(3),
        depends: &["h100:gpu.tflops.bf16=1500", "article.h100_usd_per_hour=3"],
        compute: |c| {
            let e = c.h100_run();
            let i = &c.input;
            let stated = i.h100_gpus * i.h100_days * 24.0 * i.h100_usd_per_hour;
            Ok(Out::new(
                e.cost_usd,
                format!(
                    "The modelled H100 run: {:.2}M GPU-hours at ${:.2}.",
                    e.gpu_hours / 1e6,
                    c.h100.hw.usd_per_gpu_hour
                ),
            )
            .alt(
                format!(
                    "the article's {:.0} GPUs for {:.0} days",
                    i.h100_gpus, i.h100_days
                ),
                stated,
            ))
        },
    },
    Spec {
        id: "h100-implied-mfu",
        section: TRAIN,
        words: "~8,192 H100 in ~55 days (against 32% to 36% MFU on A100s)",
        article: Some(0.34),
        unit: "fraction of the bf16 peak",
        role: Role::Check,
        tolerance: Tolerance::Range(0.32, 0.36),
        depends: &["h100:gpu.tflops.bf16=1500", "article.h100_days=80"],
        compute: |c| {
            let i = &c.input;
            let flops = training_flops(&c.gpt4, i.training_tokens);
            let need = |p: f64| flops / (i.h100_gpus * p * i.h100_days * S_PER_DAY);
            Ok(Out::new(need(peak(&c.h100, Dtype::Bf16)), format!(
                "The MFU the article's H100 run implies: {:.2e} FLOP / ({:.0} GPUs × {:.0} TFLOP/s × {:.0} days) at bf16; {:.0}% of the fp8 peak.",
                flops, i.h100_gpus, peak(&c.h100, Dtype::Bf16) / 1e12, i.h100_days, pct(need(peak(&c.h100, Dtype::Fp8)))))
                .why("The run needs either a bf16 MFU far above the A100 run's or fp8 training below it; the article says neither.".into()))
        },
    },
    // ---------------------------------------------------------------- Mixture of Expert Tradeoffs
    Spec {
        id: "fewer-experts-inference",
        section: MOE,
        words: "running with fewer experts also helps with their inference infrastructure … If they went with an even larger number of experts, memory bandwidth would bottleneck inference even more",
        article: None,
        unit: "x the cost per output token",
        role: Role::Check,
        tolerance: Tolerance::Holds,
        depends: &["h100:gpu.memory_bw_tb_s=1", "article.big_batch=1024"],
        compute: |c| {
            let more = c.load(
                "gpt4-8k",
                "h100",
                &[
                    format!("gpu.price.usd_per_gpu_hour={}", c.input.h100_usd_per_hour),
                    format!("model.experts={}", c.gpt4.experts * 2.0),
                ],
            )?;
            let cfg = c.serving(c.input.big_batch as u64, Dtype::Fp8);
            let (a, b) = (estimate(&c.h100, &cfg), estimate(&more, &cfg));
            Ok(Out::new(b.usd_per_1m_output_tokens / a.usd_per_1m_output_tokens, format!(
                "Twice the experts ({:.0}, same size, same top-{:.0}) on the article's H100 cluster at batch {} (fp8): {:.1} of {:.0} experts read per layer and step instead of {:.1} of {:.0}, ${:.2} against ${:.2} per 1M output tokens.",
                c.gpt4.experts * 2.0, c.gpt4.top_k, cfg.batch, b.experts_per_step, c.gpt4.experts * 2.0, a.experts_per_step, c.gpt4.experts, b.usd_per_1m_output_tokens, a.usd_per_1m_output_tokens))
                .holds(b.usd_per_1m_output_tokens > a.usd_per_1m_output_tokens))
        },
    },
    // ---------------------------------------------------------------- Inference Tradeoffs
    Spec {
        id: "h100-fp8-flops",
        section: INF,
        words: "2,000 TFLOP/s of FP8",
        article: Some(2000e12),
        unit: "FLOP/s",
        role: Role::Check,
        tolerance: Tolerance::Digits(1),
        depends: &["h100:gpu.tflops.fp8=1000"],
        compute: |c| {
            Ok(Out::new(
                peak(&c.h100, Dtype::Fp8),
                "The H100 preset's dense fp8 peak (NVIDIA datasheet, no sparsity).".into(),
            ))
        },
    },
    Spec {
        id: "h100-bandwidth",
        section: INF,
        words: "H100 SXM only has 3TB/s of memory bandwidth",
        article: Some(3e12),
        unit: "bytes/s",
        role: Role::Check,
        tolerance: Tolerance::Digits(1),
        depends: &["h100:gpu.memory_bw_tb_s=4.8"],
        compute: |c| {
            Ok(Out::new(
                c.h100.hw.mem_bw_bytes_per_s,
                format!(
                    "The H100 preset's datasheet bandwidth, {:.2} TB/s: the article's {} TB/s is it to one figure.",
                    c.h100.hw.mem_bw_bytes_per_s / 1e12,
                    c.input.h100_tb_s
                ),
            ))
        },
    },
    Spec {
        id: "batch-1-imbalanced",
        section: INF,
        words: "the ratio of most chips … is completely imbalanced for inference at batch size 1 … memory bandwidth … dominates inference time. Compute time is near nothing",
        article: None,
        unit: "x (matmul compute / weight reads)",
        role: Role::Check,
        tolerance: Tolerance::Holds,
        depends: &["h100:gpu.tflops.fp8=100"],
        compute: |c| {
            let e = estimate(&c.h100, &c.serving(1, Dtype::Fp8));
            let l = e.breakdown.decode_layer;
            let ops = [l.attn_proj, l.ffn, l.experts];
            let compute: f64 = ops.iter().map(|o| o.compute_s).sum();
            let memory: f64 = ops.iter().map(|o| o.memory_s).sum();
            Ok(Out::new(compute / memory, format!(
                "GPT-4 at batch 1 on the article's H100 cluster (fp8), per layer: the matmuls' compute takes {:.2} µs against {:.0} µs of weight reads; the fp8 ridge is {:.0} FLOP per byte against 2 at batch 1.",
                compute * 1e6, memory * 1e6, peak(&c.h100, Dtype::Fp8) / c.h100.hw.mem_bw_bytes_per_s))
                .holds(compute < memory))
        },
    },
    Spec {
        id: "intensity-256",
        section: INF,
        words: "at batch size of 256 … there are 512 FLOP/s … for each byte of memory that read in",
        article: Some(512.0),
        unit: "FLOP/byte",
        role: Role::Check,
        tolerance: Tolerance::Digits(3),
        depends: &["article.intensity_batch_low=128"],
        compute: |c| {
            let b = c.input.intensity_batch_low;
            Ok(Out::new(
                2.0 * b / Dtype::Fp8.bytes(),
                format!(
                    "2 FLOP per parameter per sequence × {b:.0} sequences / {:.0} byte per fp8 parameter.",
                    Dtype::Fp8.bytes()
                ),
            ))
        },
    },
    Spec {
        id: "intensity-512",
        section: INF,
        words: "or 512 … 1024 FLOP/s for each byte of memory that read in",
        article: Some(1024.0),
        unit: "FLOP/byte",
        role: Role::Check,
        tolerance: Tolerance::Digits(4),
        depends: &["article.intensity_batch_high=1024"],
        compute: |c| {
            let b = c.input.intensity_batch_high;
            Ok(Out::new(
                2.0 * b / Dtype::Fp8.bytes(),
                format!(
                    "2 FLOP per parameter per sequence × {b:.0} sequences / {:.0} byte per fp8 parameter.",
                    Dtype::Fp8.bytes()
                ),
            ))
        },
    },
    Spec {
        id: "intensity-matches-h100",
        section: INF,
        words: "This ratio more closely matches the H100's memory bandwidth versus FLOPS",
        article: None,
        unit: "FLOP/byte (H100 fp8 ridge)",
        role: Role::Check,
        tolerance: Tolerance::Holds,
        depends: &["h100:gpu.memory_bw_tb_s=1.5"],
        compute: |c| {
            let ridge = peak(&c.h100, Dtype::Fp8) / c.h100.hw.mem_bw_bytes_per_s;
            let (lo, hi) = (
                2.0 * c.input.intensity_batch_low / Dtype::Fp8.bytes(),
                2.0 * c.input.intensity_batch_high / Dtype::Fp8.bytes(),
            );
            Ok(Out::new(ridge, format!("The H100 preset's fp8 peak / bandwidth, {ridge:.0} FLOP per byte, lies between {lo:.0} and {hi:.0}.")).holds(lo <= ridge && ridge <= hi))
        },
    },
    Spec {
        id: "more-chips-than-capacity",
        section: INF,
        words: "it is actually better to use more chips than is required capacity-wise so … throughput can be increased, and larger batch sizes can be used",
        article: None,
        unit: "x the cheapest cost per token",
        role: Role::Check,
        tolerance: Tolerance::Holds,
        depends: &["h100:gpu.memory_gib=200"],
        compute: |c| {
            let base = c.serving(1, Dtype::Fp8);
            let mut pp = 1;
            while pp < base.pp && max_batch(&c.h100, Config { pp, ..base }) == 0 {
                pp *= 2;
            }
            let few = cheapest(&c.h100, Config { pp, ..base });
            let many = cheapest(&c.h100, base);
            let (Some(few), Some(many)) = (few, many) else {
                return Ok(Out::new(
                    f64::NAN,
                    "Nothing fits on the article's H100 cluster.".into(),
                )
                .holds(false));
            };
            Ok(Out::new(few.usd_per_1m_output_tokens / many.usd_per_1m_output_tokens, format!(
                "GPT-4 at fp8 on H100: the fewest GPUs that hold it ({}) serve at best ${:.2} per 1M output tokens (batch {}); the article's {} GPUs at ${:.2} (batch {}).",
                few.gpus, few.usd_per_1m_output_tokens, few.config.batch, many.gpus, many.usd_per_1m_output_tokens, many.config.batch))
                .holds(many.usd_per_1m_output_tokens < few.usd_per_1m_output_tokens))
        },
    },
    Spec {
        id: "smaller-batch-costlier",
        section: INF,
        words: "Lower latency can often be achieved with smaller batch sizes, but smaller batch sizes also result in worse MFU, resulting in a higher total cost … per token",
        article: None,
        unit: "x the cost per token",
        role: Role::Check,
        tolerance: Tolerance::Holds,
        depends: &["a100-40g:gpu.memory_bw_tb_s=1", "article.small_batch=16"],
        compute: |c| {
            let small = estimate(&c.a100, &c.serving(c.input.small_batch as u64, Dtype::Fp16));
            let big = estimate(
                &c.a100,
                &Config {
                    kv_sharding: KvSharding::Batch,
                    ..c.serving(c.input.big_batch as u64, Dtype::Fp16)
                },
            );
            Ok(Out::new(small.usd_per_1m_output_tokens / big.usd_per_1m_output_tokens, format!(
                "On the article's A100 cluster: batch {} gives {:.0} ms per token at {:.1}% MFU and ${:.0} per 1M; batch {} (KV split by sequence) {:.0} ms at {:.1}% MFU and ${:.1}.",
                small.config.batch, small.tpot_s * 1e3, pct(small.mfu), small.usd_per_1m_output_tokens, big.config.batch, big.tpot_s * 1e3, pct(big.mfu), big.usd_per_1m_output_tokens))
                .holds(small.tpot_s < big.tpot_s && small.mfu < big.mfu && small.usd_per_1m_output_tokens > big.usd_per_1m_output_tokens))
        },
    },
    Spec {
        id: "chip-to-chip",
        section: INF,
        words: "the time needed for chip-to-chip communication decreases less quickly (or not at all) with the number of chips used",
        article: None,
        unit: "x communication's share of a layer (TP8 / TP2)",
        role: Role::Check,
        tolerance: Tolerance::Holds,
        depends: &["h100:gpu.memory_bw_tb_s=1"],
        compute: |c| {
            let l = c.load("llama3-70b", "h100", &[])?;
            let at = |tp: u64| {
                let e = estimate(
                    &l,
                    &Config::new(
                        tp,
                        1,
                        c.input.small_batch as u64,
                        c.input.input_len as u64,
                        c.input.output_len as u64,
                        Dtype::Bf16,
                    ),
                );
                let s = e.breakdown.decode_layer;
                (s.attn_proj.memory_s + s.ffn.memory_s, s.all_reduce_s)
            };
            let wide = c.input.inference_tp as u64;
            let ((m2, a2), (mw, aw)) = (at(2), at(wide));
            let (share2, sharew) = (a2 / (m2 + a2), aw / (mw + aw));
            Ok(Out::new(sharew / share2, format!(
                "llama3-70b decode at batch {:.0} on H100, per layer: from TP2 to TP{wide} the weight reads fall {:.1}× ({:.0} → {:.0} µs) while the all-reduces go from {:.0} to {:.0} µs, so communication's share of the two rises from {:.0}% to {:.0}%.",
                c.input.small_batch, m2 / mw, m2 * 1e6, mw * 1e6, a2 * 1e6, aw * 1e6, pct(share2), pct(sharew)))
                .holds(a2 / aw < m2 / mw))
        },
    },
    Spec {
        id: "kv-cache-3tb",
        section: INF,
        words: "for batch size 512 and context length 2048, the KV cache totals 3TB",
        article: Some(3e12),
        unit: "bytes",
        role: Role::Check,
        tolerance: Tolerance::Digits(1),
        depends: &["palm-540b:model.layers=64", "article.kv_context=4096"],
        compute: |c| {
            let p = c.load("palm-540b", "h100", &[])?;
            let mha = c.load(
                "palm-540b",
                "h100",
                &[format!("model.kv_heads={}", p.model.heads)],
            )?;
            let n = c.input.kv_batch * c.input.kv_context;
            let bf16 = mha.model.kv_bytes_per_token(Dtype::Bf16.bytes()) * n;
            let int8 = mha.model.kv_bytes_per_token(Dtype::Int8.bytes()) * n;
            Ok(Out::new(bf16, format!(
                "palm-540b (the model behind Pope et al.'s figure) with multi-head attention, K and V in bf16: {:.2} TB.", bf16 / 1e12))
                .why(format!("The article's figure needs one byte per element (a {:.0}-byte cache gives {:.2} TB) or counts only K or V.", Dtype::Int8.bytes(), int8 / 1e12)))
        },
    },
    Spec {
        id: "kv-cache-vs-params",
        section: INF,
        words: "which is 3 times the size of the model's parameters",
        article: Some(3.0),
        unit: "x the bf16 weights",
        role: Role::Check,
        tolerance: Tolerance::Digits(1),
        depends: &["palm-540b:model.layers=64"],
        compute: |c| {
            let p = c.load("palm-540b", "h100", &[])?;
            let mha = c.load(
                "palm-540b",
                "h100",
                &[format!("model.kv_heads={}", p.model.heads)],
            )?;
            let n = c.input.kv_batch * c.input.kv_context;
            let w = Dtype::Bf16.bytes() * p.model.total_params();
            let r = |bytes: f64| mha.model.kv_bytes_per_token(bytes) * n / w;
            Ok(Out::new(
                r(Dtype::Bf16.bytes()),
                format!(
                    "The bf16 MHA cache over PaLM-540B's {:.2} TB of bf16 weights.",
                    w / 1e12
                ),
            )
            .why(format!(
                "A {:.0}-byte cache gives {:.1}×.",
                Dtype::Int8.bytes(),
                r(Dtype::Int8.bytes())
            )))
        },
    },
    Spec {
        id: "longer-context-costlier",
        section: INF,
        words: "32k seq len GPT 4 are so much more expensive because they cannot utilize larger batch sizes due to memory constraints",
        article: None,
        unit: "x the cheapest 8k cost per token",
        role: Role::Check,
        tolerance: Tolerance::Holds,
        depends: &["a100-40g:gpu.memory_gib=80"],
        compute: |c| {
            let long = c.load(
                "gpt4-32k",
                "a100-40g",
                &[format!(
                    "gpu.price.usd_per_gpu_hour={}",
                    c.input.a100_usd_per_hour
                )],
            )?;
            let base = c.serving(1, Dtype::Fp16);
            let short_cfg = Config {
                input_len: c.a100.max_context.saturating_sub(base.output_len).max(1),
                ..base
            };
            let long_cfg = Config {
                input_len: long.max_context.saturating_sub(base.output_len).max(1),
                ..base
            };
            let (Some(s), Some(l)) = (cheapest(&c.a100, short_cfg), cheapest(&long, long_cfg))
            else {
                return Ok(Out::new(
                    f64::NAN,
                    "The gpt4-32k model does not fit on the article's A100 cluster.".into(),
                )
                .holds(true));
            };
            Ok(Out::new(l.usd_per_1m_output_tokens / s.usd_per_1m_output_tokens, format!(
                "Full contexts on the article's A100 cluster: the gpt4-8k model's cheapest batch is {} (${:.0} per 1M), the gpt4-32k model's {} (${:.0}).",
                s.config.batch, s.usd_per_1m_output_tokens, l.config.batch, l.usd_per_1m_output_tokens))
                .holds(l.config.batch < s.config.batch && l.usd_per_1m_output_tokens > s.usd_per_1m_output_tokens))
        },
    },
    // ---------------------------------------------------------------- GPT-4 Inference Tradeoffs
    Spec {
        id: "experts-at-8",
        section: GPT4INF,
        words: "if there is a batch size of 8, the parameter read for each expert could be at only batch size 1",
        article: Some(1.0),
        unit: "tokens per expert",
        role: Role::Check,
        tolerance: Tolerance::Digits(1),
        depends: &["gpt4-8k:model.experts=32", "article.small_batch=16"],
        compute: |c| {
            let b = c.input.small_batch;
            let read = distinct_experts(c.gpt4.experts, c.gpt4.top_k, b);
            Ok(Out::new(
                b * c.gpt4.top_k / c.gpt4.experts,
                format!(
                    "{b:.0} tokens × top-{:.0} / {:.0} experts with balanced routing. With random routing {:.1} of the {:.0} experts are read, each for {:.2} tokens on average.",
                    c.gpt4.top_k,
                    c.gpt4.experts,
                    read,
                    c.gpt4.experts,
                    b * c.gpt4.top_k / read
                ),
            ))
        },
    },
    Spec {
        id: "experts-uneven-at-8",
        section: GPT4INF,
        words: "it could mean 1 expert could be at a batch size of 8 and others could be at 4 or 1 or 0",
        article: None,
        unit: "experts idle per layer and step",
        role: Role::Check,
        tolerance: Tolerance::Holds,
        depends: &["gpt4-8k:model.experts=32", "article.small_batch=4"],
        compute: |c| {
            let b = c.input.small_batch;
            let (e, k) = (c.gpt4.experts, c.gpt4.top_k);
            let idle = e - distinct_experts(e, k, b);
            let busiest = b * k / e * busiest_rank_factor(e, k, b, e as u64);
            Ok(Out::new(idle, format!(
                "At {b:.0} tokens per step {idle:.1} of {e:.0} experts get none, while the busiest gets about {busiest:.1} (balls into bins, a Gaussian estimate that is optimistic this small)."))
                .holds(idle > 0.0 && busiest > b * k / e))
        },
    },
    Spec {
        id: "experts-at-4k",
        section: GPT4INF,
        words: "OpenAI regularly hits a batch size of 4k+ … the experts only have batch sizes of ~500",
        article: Some(500.0),
        unit: "tokens per expert",
        role: Role::Check,
        tolerance: Tolerance::About,
        depends: &["gpt4-8k:model.experts=32", "article.big_batch=8192"],
        compute: |c| {
            let b = c.input.big_batch;
            let (e, k) = (c.gpt4.experts, c.gpt4.top_k);
            let mean = b * k / e;
            Ok(Out::new(
                mean,
                format!(
                    "{b:.0} × top-{k:.0} / {e:.0} experts; the busiest gets ≈ {:.0} (balls into bins).",
                    mean * busiest_rank_factor(e, k, b, e as u64)
                ),
            ))
        },
    },
    Spec {
        id: "inference-gpus",
        section: GPT4INF,
        words: "OpenAI runs inference on a cluster of 128 GPUs … 8-way tensor parallelism and 16-way pipeline parallelism",
        article: Some(128.0),
        unit: "GPUs",
        role: Role::Input,
        tolerance: Tolerance::Digits(3),
        depends: &["article.inference_pp=8"],
        compute: |c| {
            Ok(Out::new(
                c.input.inference_tp * c.input.inference_pp,
                format!(
                    "The article's TP{:.0} × PP{:.0}, the serving rows' layout.",
                    c.input.inference_tp, c.input.inference_pp
                ),
            ))
        },
    },
    Spec {
        id: "params-per-node",
        section: GPT4INF,
        words: "Each node of 8 GPUs has only ~130B parameters",
        article: Some(130e9),
        unit: "parameters",
        role: Role::Check,
        tolerance: Tolerance::About,
        depends: &["gpt4-8k:model.experts=32", "article.inference_pp=8"],
        compute: |c| {
            let e = estimate(&c.a100, &c.serving(1, Dtype::Fp16));
            let per_node = e.weights_bytes_per_gpu * e.config.tp as f64 / Dtype::Fp16.bytes();
            Ok(Out::new(
                per_node,
                format!(
                    "The heaviest node of the article's TP{} × PP{}: {:.1}B parameters ({} layers and an embedding); the mean is {:.1}B ({:.2}T / {}).",
                    e.config.tp,
                    e.config.pp,
                    bn(per_node),
                    stage(c.gpt4.layers as u64, 0, e.config.pp, 0).moe_layers,
                    bn(c.gpt4.total_params() / e.config.pp as f64),
                    c.gpt4.total_params() / 1e12,
                    e.config.pp
                ),
            ))
        },
    },
    Spec {
        id: "inference-fp16-per-gpu",
        section: GPT4INF,
        words: "or less than 30GB per GPU at FP16",
        article: Some(30e9),
        unit: "bytes",
        role: Role::Check,
        tolerance: Tolerance::Under,
        depends: &["gpt4-8k:model.experts=32", "article.inference_pp=32"],
        compute: |c| {
            let e = estimate(&c.a100, &c.serving(1, Dtype::Fp16));
            Ok(Out::new(e.weights_bytes_per_gpu, format!(
                "Weights on the heaviest GPU of the article's layout at fp16; the mean over the {} GPUs is {:.1} GB.", e.gpus, gb(e.breakdown.mean_weights_bytes_per_gpu)))
                .why(format!("{} layers do not split evenly over {} stages: the first stages hold one layer more, and the mean ({:.1} GB) is what stays under.", c.gpt4.layers, e.config.pp, gb(e.breakdown.mean_weights_bytes_per_gpu))))
        },
    },
    Spec {
        id: "inference-fp8-per-gpu",
        section: GPT4INF,
        words: "and less than 15GB at FP8/int8",
        article: Some(15e9),
        unit: "bytes",
        role: Role::Check,
        tolerance: Tolerance::Under,
        depends: &["gpt4-8k:model.experts=32", "article.inference_pp=32"],
        compute: |c| {
            let e = estimate(&c.a100, &c.serving(1, Dtype::Int8));
            Ok(Out::new(
                e.weights_bytes_per_gpu,
                format!(
                    "The same at int8: the heaviest GPU; the mean is {:.1} GB.",
                    gb(e.breakdown.mean_weights_bytes_per_gpu)
                ),
            )
            .why(
                "The uneven split again: the mean stays under, the heaviest stage does not.".into(),
            ))
        },
    },
    Spec {
        id: "runs-on-a100-40g",
        section: GPT4INF,
        words: "This enables inference to be run on 40GB A100's as long as the KV cache size across all batches doesn't balloon too large",
        article: None,
        unit: "sequences (largest batch at the full 8k context)",
        role: Role::Check,
        tolerance: Tolerance::Holds,
        depends: &["a100-40g:gpu.memory_gib=48"],
        compute: |c| {
            let base = c.serving(1, Dtype::Fp16);
            let full = Config {
                input_len: c.a100.max_context.saturating_sub(base.output_len).max(1),
                ..base
            };
            let b = max_batch(&c.a100, full);
            Ok(Out::new(b as f64, format!(
                "On the article's A100-40G cluster at fp16 with full {}-token contexts, {b} sequences fit (the MQA cache copied on every TP rank).", c.a100.max_context)).holds(b >= 1))
        },
    },
    Spec {
        id: "fifteen-nodes",
        section: GPT4INF,
        words: "The layer count is 120, so it is simple to dive that among 15 different nodes",
        article: Some(8.0),
        unit: "layers per node",
        role: Role::Check,
        tolerance: Tolerance::Holds,
        depends: &["gpt4-8k:model.layers=96"],
        compute: |c| {
            let n = c.input.inference_nodes_split;
            let per = c.gpt4.layers / n;
            Ok(Out::new(per, format!(
                "{:.0} layers / {n:.0} nodes = {per:.1}; over the {:.0} pipeline stages the article gives for inference it is {:.1}.",
                c.gpt4.layers, c.input.inference_pp, c.gpt4.layers / c.input.inference_pp))
                .holds(per.fract() == 0.0))
        },
    },
    Spec {
        id: "head-node-fewer-layers",
        section: GPT4INF,
        words: "because the first node needs to do dataloading and embedding, it would make sense to put fewer layers on the head node",
        article: None,
        unit: "x one layer's active weights (the head node's extra reads)",
        role: Role::Check,
        tolerance: Tolerance::Holds,
        depends: &["gpt4-8k:model.top_k=4"],
        compute: |c| {
            let m = &c.gpt4;
            let pp = c.input.inference_pp as u64;
            let layer = m.attn_params_per_layer + m.top_k * m.ffn_params_per_expert_per_layer;
            let head = stage(m.layers as u64, 0, pp, 0);
            let tail = stage(m.layers as u64, 0, pp, pp - 1);
            let head_extra = m.d_model;
            let tail_extra = m.embed_out_params;
            Ok(Out::new(head_extra / layer, format!(
                "Per decode token, the head node reads one embedding row ({:.0} parameters) beyond its layers; the last node reads the {:.2}B-parameter output head, {:.1}% of a layer's active weights. The calculator splits {:.0} layers as {} on the first stages and {} on the last.",
                head_extra, bn(tail_extra), pct(tail_extra / layer), m.layers, head.moe_layers, tail.moe_layers))
                .holds(head_extra > tail_extra)
                .why("The embedding is a lookup; the output head, on the last node, is what adds weight reads, so it is the last node that would take fewer layers.".into()))
        },
    },
    // ---------------------------------------------------------------- GPT-4 Inference Cost
    Spec {
        id: "ffn-vs-davinci",
        section: COST,
        words: "despite being only 1.6x the feed-forward parameters",
        article: Some(1.6),
        unit: "x GPT-3's feed-forward parameters",
        role: Role::Check,
        tolerance: Tolerance::Digits(2),
        depends: &["gpt4-8k:model.top_k=4"],
        compute: |c| {
            let g4 = c.gpt4.top_k * c.gpt4.params_per_expert();
            let g3 = c.gpt3.active_nonembed_params() - c.gpt3.attention_params();
            Ok(Out::new(g4 / g3, format!(
                "Active feed-forward parameters: {:.0} experts × {:.0}B = {:.0}B against GPT-3's {:.0}B.", c.gpt4.top_k, bn(c.gpt4.params_per_expert()), bn(g4), bn(g3)))
                .why(format!("The article's ratio is that of all active parameters ({:.0}B / {:.0}B = {:.2}), not of the feed-forward ones.",
                    bn(c.gpt4.active_params()), bn(c.gpt3.total_params()), c.gpt4.active_params() / c.gpt3.total_params())))
        },
    },
    Spec {
        id: "cost-vs-davinci",
        section: COST,
        words: "GPT-4 costs 3x that of the 175B parameter Davinchi model",
        article: Some(3.0),
        unit: "x GPT-3's cost per output token",
        role: Role::Check,
        tolerance: Tolerance::Digits(1),
        depends: &["a100-40g:gpu.memory_bw_tb_s=1", "gpt3-175b:model.layers=48"],
        compute: |c| {
            let g3 = c.load(
                "gpt3-175b",
                "a100-40g",
                &[format!(
                    "gpu.price.usd_per_gpu_hour={}",
                    c.input.a100_usd_per_hour
                )],
            )?;
            let mut pp = 1;
            let base = c.serving(1, Dtype::Fp16);
            // GPT-3's context is shorter: the prompt is cut to fit it.
            let base = Config {
                input_len: base
                    .input_len
                    .min(g3.max_context.saturating_sub(base.output_len).max(1)),
                ..base
            };
            while max_batch(&g3, Config { pp, ..base }) == 0 && pp < base.pp {
                pp *= 2;
            }
            let davinci = cheapest_at_speed(&g3, Config { pp, ..base }, c.input.reading_tok_s);
            let gpt4 = cheapest_at_speed(
                &c.a100,
                Config {
                    input_len: base.input_len,
                    ..c.serving(1, Dtype::Fp16)
                },
                c.input.reading_tok_s,
            );
            let (Some(g4), Some(g3e)) = (gpt4, davinci) else {
                return Ok(Out::new(
                    f64::NAN,
                    "One of the two cannot serve at reading speed on A100-40G.".into(),
                ));
            };
            Ok(Out::new(g4.usd_per_1m_output_tokens / g3e.usd_per_1m_output_tokens, format!(
                "Cheapest output token at reading speed on A100-40G with {}-token prompts: GPT-4 ${:.0} per 1M ({}), gpt3-175b ${:.1} ({}).",
                base.input_len,
                g4.usd_per_1m_output_tokens, serving_layout(&g4), g3e.usd_per_1m_output_tokens, serving_layout(&g3e)))
                .why("At the same speed floor GPT-4's larger cluster and smaller batches cost more than the article says.".into()))
        },
    },
    Spec {
        id: "price-a100",
        section: COST,
        words: "it costs $0.0049 cents per 1k tokens for 128 A100s to inference GPT-4 8k seqLen",
        article: Some(4.9),
        unit: "USD per 1M output tokens",
        role: Role::Check,
        tolerance: Tolerance::Digits(2),
        depends: &[
            "a100-40g:gpu.memory_bw_tb_s=4",
            "article.a100_usd_per_hour=0.5",
        ],
        compute: |c| {
            let Some(e) = c.a100_reading() else {
                return Ok(Out::new(
                    f64::NAN,
                    "Nothing on the article's A100 cluster serves at reading speed.".into(),
                ));
            };
            Ok(Out::new(e.usd_per_1m_output_tokens, format!(
                "At the article's operating point: its A100-40G cluster, the gpt4-8k model, every user at {:.2} tokens/s or more (its reading speed), ${:.2} per GPU-hour. The cheapest such point is {} at {:.1} tokens/s per user, MBU {:.0}%.",
                c.input.reading_tok_s, c.a100.hw.usd_per_gpu_hour, serving_layout(e), e.output_tokens_per_s_per_user, pct(e.mbu)))
                .why("At reading speed the batch stays small and every step streams the weights for few users; the article's figure needs far larger batches (price-a100-what-it-takes). Its \"cents\" are dollars (price-in-cents).".into()))
        },
    },
    Spec {
        id: "price-a100-what-it-takes",
        section: COST,
        words: "($0.0049 per 1k tokens on 128 A100s) … we assume decent high utilization, and keeping batch sizes high",
        article: Some(8.33),
        unit: "tokens/s per user at the article's price",
        role: Role::Check,
        tolerance: Tolerance::Over,
        depends: &[
            "a100-40g:gpu.memory_bw_tb_s=4",
            "article.a100_cost_usd_per_1k=0.01",
        ],
        compute: |c| {
            Ok(what_the_price_takes(
                &c.a100,
                c.serving(1, Dtype::Fp16),
                c.input.a100_cost_usd_per_1k * 1e3,
                "A100",
                "The price holds only far below the article's own reading speed: it assumes batches that no user reading along would accept.",
            ))
        },
    },
    Spec {
        id: "price-h100",
        section: COST,
        words: "and $0.0021 cents per 1k tokens for 128 H100's to inference GPT-4 8k seqLen",
        article: Some(2.1),
        unit: "USD per 1M output tokens",
        role: Role::Check,
        tolerance: Tolerance::Digits(2),
        depends: &["h100:gpu.memory_bw_tb_s=4.8", "article.h100_usd_per_hour=1"],
        compute: |c| {
            let Some(e) = c.h100_reading() else {
                return Ok(Out::new(
                    f64::NAN,
                    "Nothing on the article's H100 cluster serves at reading speed.".into(),
                ));
            };
            Ok(Out::new(e.usd_per_1m_output_tokens, format!(
                "At the article's operating point: its H100 cluster, the gpt4-8k model at fp8, every user at {:.2} tokens/s or more, ${:.2} per GPU-hour. The cheapest such point is {} at {:.1} tokens/s per user, MBU {:.0}%.",
                c.input.reading_tok_s, c.h100.hw.usd_per_gpu_hour, serving_layout(e), e.output_tokens_per_s_per_user, pct(e.mbu)))
                .why("As on A100s: the article's figure needs batches far past reading speed (price-h100-what-it-takes).".into()))
        },
    },
    Spec {
        id: "price-h100-what-it-takes",
        section: COST,
        words: "($0.0021 per 1k tokens on 128 H100s) … keeping batch sizes high",
        article: Some(8.33),
        unit: "tokens/s per user at the article's price",
        role: Role::Check,
        tolerance: Tolerance::Over,
        depends: &[
            "h100:gpu.memory_bw_tb_s=4.8",
            "article.h100_cost_usd_per_1k=0.005",
        ],
        compute: |c| {
            Ok(what_the_price_takes(
                &c.h100,
                c.serving(1, Dtype::Fp8),
                c.input.h100_cost_usd_per_1k * 1e3,
                "H100",
                "Again only below the article's reading speed.",
            ))
        },
    },
    Spec {
        id: "price-h100-vs-a100",
        section: COST,
        words: "$0.0049 … for 128 A100s … and $0.0021 … for 128 H100's",
        article: Some(0.0021 / 0.0049),
        unit: "x the A100 cost per token",
        role: Role::Check,
        tolerance: Tolerance::About,
        depends: &[
            "h100:gpu.memory_bw_tb_s=4.8",
            "a100-40g:gpu.memory_bw_tb_s=4",
        ],
        compute: |c| {
            let (Some(a), Some(h)) = (c.a100_reading(), c.h100_reading()) else {
                return Ok(Out::new(
                    f64::NAN,
                    "One of the two cannot serve at reading speed.".into(),
                ));
            };
            Ok(Out::new(
                h.usd_per_1m_output_tokens / a.usd_per_1m_output_tokens,
                format!(
                    "At reading speed: H100 (fp8, ${:.2}/h) ${:.1} per 1M against A100 (fp16, ${:.2}/h) ${:.1}.",
                    c.h100.hw.usd_per_gpu_hour,
                    h.usd_per_1m_output_tokens,
                    c.a100.hw.usd_per_gpu_hour,
                    a.usd_per_1m_output_tokens
                ),
            ))
        },
    },
    Spec {
        id: "price-in-cents",
        section: COST,
        words: "it costs $0.0049 cents per 1k tokens for 128 A100s",
        article: None,
        unit: "x the A100's peak throughput",
        role: Role::Check,
        tolerance: Tolerance::Holds,
        depends: &[
            "a100-40g:gpu.tflops.fp16=100",
            "article.a100_usd_per_hour=2",
        ],
        compute: |c| {
            let usd_per_token = c.input.a100_cost_usd_per_1k / 100.0 / 1e3;
            let need = c.a100.hw.usd_per_gpu_hour / crate::units::S_PER_HOUR / usd_per_token;
            let most = peak(&c.a100, Dtype::Fp16) / c.gpt4.flops_per_token();
            Ok(Out::new(need / most, format!(
                "Read as cents, the price needs {need:.0} tokens/s per A100 at ${:.2}/h; at full fp16 peak an A100 produces {most:.0}.", c.a100.hw.usd_per_gpu_hour))
                .holds(need <= most)
                .why("Impossible: the figure is dollars, not cents.".into()))
        },
    },
    Spec {
        id: "offpeak-doubling",
        section: COST,
        words: "If OpenAI does not do this [repurpose nodes in trough hours], their utilization rates would be even lower, and our cost estimates would more than double",
        article: Some(2.0),
        unit: "x the cost per token",
        role: Role::Check,
        tolerance: Tolerance::Open,
        depends: &["a100-40g:gpu.memory_bw_tb_s=4", "article.big_batch=2048"],
        compute: |c| {
            let full = Config {
                kv_sharding: KvSharding::Batch,
                ..c.serving(c.input.big_batch as u64, Dtype::Fp16)
            };
            let half = Config {
                batch: full.batch / 2,
                ..full
            };
            let (f, h) = (estimate(&c.a100, &full), estimate(&c.a100, &half));
            Ok(Out::new(h.usd_per_1m_output_tokens / f.usd_per_1m_output_tokens, format!(
                "If trough traffic halves the article's batch of {} on the article's A100 cluster and the idle capacity is not repurposed, a token costs ${:.2} per 1M instead of ${:.2}: the weights are shared by fewer users, the KV reads shrink with them. More than double needs troughs deeper than half the load; the article gives no traffic profile.",
                full.batch, h.usd_per_1m_output_tokens, f.usd_per_1m_output_tokens))
                .why(String::new()))
        },
    },
    // ---------------------------------------------------------------- Multi-Query Attention
    Spec {
        id: "mqa-kv-reduction",
        section: MQA,
        words: "only 1 head is needed and memory capacity can be significantly reduced for the KV cache",
        article: None,
        unit: "x smaller KV cache",
        role: Role::Check,
        tolerance: Tolerance::Holds,
        depends: &["gpt4-8k:model.kv_heads=8"],
        compute: |c| {
            let mha = c.load(
                "gpt4-8k",
                "a100-40g",
                &[format!("model.kv_heads={}", c.gpt4.heads)],
            )?;
            let kv = |m: &crate::model::ModelCounts| m.kv_bytes_per_token(Dtype::Fp16.bytes());
            let r = kv(&mha.model) / kv(&c.gpt4);
            Ok(Out::new(r, format!(
                "KV bytes per token at fp16: {:.1} KB with {:.0} KV heads against {:.0} KB with one per query head ({:.0}).",
                kv(&c.gpt4) / 1e3, c.gpt4.kv_heads, kv(&mha.model) / 1e3, c.gpt4.heads)).holds(r > 1.0))
        },
    },
    Spec {
        id: "mqa-8k",
        section: MQA,
        words: "the 8k is capped on max batch size. Without it, the 8k would be significantly capped on max batch size to the point where it's uneconomical",
        article: None,
        unit: "sequences",
        role: Role::Check,
        tolerance: Tolerance::Holds,
        depends: &["a100-40g:gpu.memory_gib=80"],
        compute: |c| {
            let base = c.serving(1, Dtype::Fp16);
            let full = Config {
                input_len: c.a100.max_context.saturating_sub(base.output_len).max(1),
                ..base
            };
            let mqa = max_batch(&c.a100, full);
            let mha_ctx = c.load(
                "gpt4-8k",
                "a100-40g",
                &[format!("model.kv_heads={}", c.gpt4.heads)],
            )?;
            let mha = max_batch(&mha_ctx, full);
            Ok(Out::new(mqa as f64, format!(
                "Largest batch on the article's A100-40G cluster at fp16 with full {}-token contexts: {mqa} with MQA, {mha} with multi-head attention.", c.a100.max_context))
                .holds(mha < mqa))
        },
    },
    Spec {
        id: "mqa-32k",
        section: MQA,
        words: "Even then, the 32k seqLen GPT-4 definitely cannot run on 40GB A100s",
        article: None,
        unit: "sequences",
        role: Role::Check,
        tolerance: Tolerance::Holds,
        depends: &["a100-40g:gpu.memory_gib=32"],
        compute: |c| {
            let long = c.load("gpt4-32k", "a100-40g", &[])?;
            let base = c.serving(1, Dtype::Fp16);
            let full = Config {
                input_len: long.max_context.saturating_sub(base.output_len).max(1),
                ..base
            };
            let b = max_batch(&long, full);
            Ok(Out::new(
                b as f64,
                format!("Largest batch of the gpt4-32k model at full context on the article's A100-40G cluster: {b}."),
            )
            .holds(b == 0)
            .why("Overstated: it runs, at a small batch.".into()))
        },
    },
    // ---------------------------------------------------------------- Continuous batching
    Spec {
        id: "continuous-batching",
        section: BATCH,
        words: "OpenAI implements both variable batch sizes and continuous batching … optimizing the inference costs",
        article: None,
        unit: "x static batching's throughput",
        role: Role::Check,
        tolerance: Tolerance::Holds,
        depends: &["article.small_batch=32"],
        compute: |c| {
            let st = Config {
                batching: Batching::Static,
                output_dist: LengthDist::Geometric,
                kv_sharding: KvSharding::Batch,
                ..c.serving(c.input.small_batch as u64, Dtype::Fp16)
            };
            let stat = estimate(&c.a100, &st);
            let cont = estimate(
                &c.a100,
                &Config {
                    batching: Batching::Continuous,
                    ..st
                },
            );
            Ok(Out::new(cont.output_tokens_per_s / stat.output_tokens_per_s, format!(
                "GPT-4 on the article's A100 cluster at batch {} with geometric output lengths: a static batch uses {:.0}% of its slot-steps.",
                st.batch, pct(stat.breakdown.useful_fraction)))
                .holds(cont.output_tokens_per_s > stat.output_tokens_per_s))
        },
    },
    // ---------------------------------------------------------------- Speculative Decoding
    Spec {
        id: "prefill-fast",
        section: SPEC,
        words: "First, prefill … This is usually fast, as the entire prompt can be handled in parallel",
        article: None,
        unit: "x decode's tokens/s",
        role: Role::Check,
        tolerance: Tolerance::Holds,
        depends: &["a100-40g:gpu.tflops.fp16=50"],
        compute: |c| {
            let e = estimate(&c.a100, &c.serving(c.input.small_batch as u64, Dtype::Fp16));
            let r = e.breakdown.prefill_tokens_per_s / e.output_tokens_per_s;
            Ok(Out::new(r, format!(
                "On the article's A100 cluster at batch {}: prefill runs {:.0} tokens/s, decode {:.0}.", e.config.batch, e.breakdown.prefill_tokens_per_s, e.output_tokens_per_s)).holds(r > 1.0))
        },
    },
    Spec {
        id: "input-cheaper",
        section: SPEC,
        words: "This is why input tokens are much cheaper than output tokens in OpenAI's API calls",
        article: None,
        unit: "x the input token's cost",
        role: Role::Check,
        tolerance: Tolerance::Holds,
        depends: &["a100-40g:gpu.tflops.fp16=50"],
        compute: |c| {
            let e = estimate(&c.a100, &c.serving(c.input.small_batch as u64, Dtype::Fp16));
            let r = e.usd_per_1m_output_tokens / e.usd_per_1m_input_tokens;
            Ok(Out::new(r, format!(
                "On the article's A100 cluster at batch {}: ${:.2} per 1M input tokens, ${:.0} per 1M output tokens.", e.config.batch, e.usd_per_1m_input_tokens, e.usd_per_1m_output_tokens)).holds(r > 1.0))
        },
    },
    Spec {
        id: "speculation-tokens",
        section: SPEC,
        words: "if OpenAI is using speculative decoding, they are likely only using it for sequences of ~4 tokens",
        article: Some(4.0),
        unit: "draft tokens (best)",
        role: Role::Check,
        tolerance: Tolerance::About,
        depends: &["source.acceptance=0.6"],
        compute: |c| {
            let base = Config {
                kv_sharding: KvSharding::Batch,
                ..c.serving(c.input.small_batch as u64, Dtype::Fp16)
            };
            let plain = estimate(&c.a100, &base).breakdown.decode_step_s;
            let speedup = |gamma: u64| {
                let s = Speculation {
                    gamma,
                    acceptance: c.input.acceptance,
                    draft: DraftCost::Ratio(crate::perf::DEFAULT_DRAFT_RATIO),
                };
                plain
                    / estimate(
                        &c.a100,
                        &Config {
                            speculation: Some(s),
                            ..base
                        },
                    )
                    .breakdown
                    .decode_step_s
            };
            let best = (1..=super::MAX_DRAFT)
                .max_by(|a, b| speedup(*a).total_cmp(&speedup(*b)))
                .unwrap_or(1);
            Ok(Out::new(best as f64, format!(
                "The draft length with the best speed-up (×{:.2}) for GPT-4 on the article's A100 cluster at batch {}, acceptance {:.1}, a draft costing {:.0}% of a step; γ = 1 gives ×{:.2}.",
                speedup(best), base.batch, c.input.acceptance, pct(crate::perf::DEFAULT_DRAFT_RATIO), speedup(1)))
                .why(format!("Each draft token makes the MoE's verify step read more experts, so the gain peaks at γ = {best}.")))
        },
    },
    Spec {
        id: "speculation-batch",
        section: SPEC,
        words: "Note this is only useful in small-batch settings where bandwidth is the bottleneck",
        article: None,
        unit: "speed-up at the small batch",
        role: Role::Check,
        tolerance: Tolerance::Holds,
        depends: &["source.acceptance=0.6"],
        compute: |c| {
            let sp = Speculation {
                gamma: c.input.spec_tokens as u64,
                acceptance: c.input.acceptance,
                draft: DraftCost::Ratio(crate::perf::DEFAULT_DRAFT_RATIO),
            };
            let speedup = |batch: u64| {
                let cfg = Config {
                    kv_sharding: KvSharding::Batch,
                    ..c.serving(batch, Dtype::Fp8)
                };
                estimate(&c.h100, &cfg).breakdown.decode_step_s
                    / estimate(
                        &c.h100,
                        &Config {
                            speculation: Some(sp),
                            ..cfg
                        },
                    )
                    .breakdown
                    .decode_step_s
            };
            let (s, b) = (
                speedup(c.input.small_batch as u64),
                speedup(c.input.big_batch as u64),
            );
            Ok(Out::new(s, format!(
                "GPT-4 on the article's H100 cluster at fp8, γ = {}: ×{s:.2} at batch {:.0}, ×{b:.2} at batch {:.0}.", sp.gamma, c.input.small_batch, c.input.big_batch))
                .holds(s >= b)
                .why("For an MoE it is the reverse: a small batch's verify step reads many more experts, while a large batch reads every expert anyway (docs/methodology.md, speculative decoding).".into()))
        },
    },
    Spec {
        id: "speculation-diminishing",
        section: SPEC,
        words: "the probability that two models agree for long consecutive sequences of tokens is exponentially low … rapidly diminishing returns",
        article: None,
        unit: "extra tokens per step from the last draft token",
        role: Role::Check,
        tolerance: Tolerance::Holds,
        depends: &["source.acceptance=0.6"],
        compute: |c| {
            let g = c.input.spec_tokens as u64;
            let a = c.input.acceptance;
            let first = expected_tokens(1, a) - expected_tokens(0, a);
            let last = expected_tokens(g, a) - expected_tokens(g - 1, a);
            Ok(Out::new(last, format!(
                "Expected tokens per verification (Leviathan et al.) at acceptance {a:.1}: the first draft token adds {first:.2}, the {g}th {last:.2}.")).holds(last < first))
        },
    },
    // ---------------------------------------------------------------- Vision Multi-Modal
    Spec {
        id: "vision-extra-params",
        section: VISION,
        words: "It is a separate vision encoder from the text encoder, but there is cross-attention … This adds more parameters on top of the 1.8T of GPT-4",
        article: None,
        unit: "parameters",
        role: Role::Check,
        tolerance: Tolerance::Holds,
        depends: &["source.flamingo_xattn_every=4"],
        compute: |c| {
            let m = &c.gpt4;
            let blocks = (m.layers / c.input.flamingo_xattn_every).floor();
            let per = m.attn_params_per_layer + m.ffn_params_per_expert_per_layer;
            let extra = blocks * per;
            Ok(Out::new(extra, format!(
                "Flamingo-style: a cross-attention block (attention and a dense FFN of GPT-4's widths, {:.2}B) before every {:.0}th of {:.0} layers adds {:.0}B, {:.1}% on top of {:.2}T, before the vision encoder itself.",
                bn(per), c.input.flamingo_xattn_every, m.layers, bn(extra), pct(extra / m.total_params()), m.total_params() / 1e12)).holds(extra > 0.0))
        },
    },
    Spec {
        id: "vision-finetune",
        section: VISION,
        words: "It is fine-tuned with another ~2 trillion tokens, after the text only pre-training",
        article: Some(2e12),
        unit: "tokens",
        role: Role::Input,
        tolerance: Tolerance::About,
        depends: &["article.vision_finetune_tokens=4e12"],
        compute: |c| {
            let f = training_flops(&c.gpt4, c.input.vision_finetune_tokens);
            let run = c.a100_run();
            let days = run.train_days * c.input.vision_finetune_tokens / c.input.training_tokens;
            let run_days = if days.is_finite() {
                format!("about {} more days of the modelled A100 run", count(days))
            } else {
                "more than the modelled A100 run, which never finishes, can give".to_string()
            };
            Ok(Out::new(
                c.input.vision_finetune_tokens,
                format!(
                    "The article's figure: {:.2e} FLOP, {:.0}% of the pre-training, or {run_days}.",
                    f,
                    pct(f / training_flops(&c.gpt4, c.input.training_tokens)),
                ),
            ))
        },
    },
    Spec {
        id: "text-bytes-per-token",
        section: VISION,
        words: "600 bytes per token rather than 4 like with text",
        article: Some(4.0),
        unit: "bytes per token",
        role: Role::Check,
        tolerance: Tolerance::Digits(1),
        depends: &["gpt4-8k:model.vocab=50000"],
        compute: |c| {
            let b = token_id_bytes(c.gpt4.vocab);
            Ok(Out::new(
                b,
                format!(
                    "A token id of a {:.0}-entry vocabulary needs {:.0} bits, stored as a {:.0}-byte integer.",
                    c.gpt4.vocab,
                    c.gpt4.vocab.log2().ceil(),
                    b
                ),
            ))
        },
    },
    Spec {
        id: "vision-bytes-per-token",
        section: VISION,
        words: "600 bytes per token",
        article: Some(600.0),
        unit: "bytes per token",
        role: Role::Check,
        tolerance: Tolerance::Digits(1),
        depends: &["source.vit_patch=16"],
        compute: |c| {
            let i = &c.input;
            let b = i.vit_patch * i.vit_patch * i.image_channels;
            Ok(Out::new(
                b,
                format!(
                    "One image token is a {:.0}×{:.0}-pixel patch of {:.0} one-byte channels (a ViT-L patch).",
                    i.vit_patch, i.vit_patch, i.image_channels
                ),
            ))
        },
    },
    Spec {
        id: "vision-io",
        section: VISION,
        words: "On vision, the data-loading is ~150x higher IO",
        article: Some(150.0),
        unit: "x text's bytes per token",
        role: Role::Check,
        tolerance: Tolerance::About,
        depends: &["source.vit_patch=16", "gpt4-8k:model.vocab=50000"],
        compute: |c| {
            let i = &c.input;
            let img = i.vit_patch * i.vit_patch * i.image_channels;
            let txt = token_id_bytes(c.gpt4.vocab);
            Ok(Out::new(
                img / txt,
                format!("{img:.0} bytes per image patch / {txt:.0} bytes per text token id."),
            ))
        },
    },
];
