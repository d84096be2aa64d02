//! `gpt4calc reproduce`: every quantitative claim of the SemiAnalysis GPT-4 article (10 July
//! 2023) recomputed with the calculator's own model, the same functions `sweep`, `estimate` and
//! `train` use, fed the article's stated inputs. Nothing computed here is typed in: change a
//! preset (`--set`) and the computed column moves.

use crate::dtype::Dtype;
use crate::model::ModelCounts;
use crate::perf::lengths::LengthDist;
use crate::perf::moe::{busiest_rank_factor, distinct_experts};
use crate::perf::{
    Batching, Config, Context, DraftCost, Estimate, KvSharding, Speculation, estimate,
    expected_tokens,
};
use crate::presets::{self, Override};
use crate::train::{self, Recompute, TrainConfig};
use anyhow::Result;
use serde::Serialize;

/// One claim of the article next to the calculator's value.
#[derive(Clone, Debug, Serialize)]
pub struct Claim {
    /// Stable identifier.
    pub id: &'static str,
    /// The claim, paraphrased from the article.
    pub claim: &'static str,
    /// The article's number, in `unit` (null for a qualitative claim).
    pub seed_value: Option<f64>,
    /// What the calculator computes, in `unit`.
    pub computed_value: f64,
    /// Unit of both values.
    pub unit: &'static str,
    /// computed / seed.
    pub ratio: Option<f64>,
    /// "reproduced" or "differs".
    pub verdict: &'static str,
    /// How the value was computed and, where it differs, why.
    pub explanation: String,
}

/// How a claim is judged.
enum Check {
    /// Within a relative tolerance of the article's value.
    Near(f64),
    /// Inside a range [lo, hi].
    Within(f64, f64),
    /// Below the article's value (e.g. "cannot reach").
    Below,
    /// A qualitative claim judged by a condition computed alongside.
    Holds(bool),
}

struct Builder {
    claims: Vec<Claim>,
}

impl Builder {
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        id: &'static str,
        claim: &'static str,
        seed: Option<f64>,
        computed: f64,
        unit: &'static str,
        check: Check,
        how: String,
        why_differs: &str,
    ) {
        let ok = match check {
            Check::Near(tol) => seed.is_some_and(|s| (computed / s - 1.0).abs() <= tol),
            Check::Within(lo, hi) => computed >= lo && computed <= hi,
            Check::Below => seed.is_some_and(|s| computed < s),
            Check::Holds(b) => b,
        };
        let explanation = if ok || why_differs.is_empty() {
            how
        } else {
            format!("{how} {why_differs}")
        };
        self.claims.push(Claim {
            id,
            claim,
            seed_value: seed,
            computed_value: computed,
            unit,
            ratio: seed.map(|s| computed / s),
            verdict: if ok { "reproduced" } else { "differs" },
            explanation,
        });
    }
}

fn ctx(model: &str, gpu: &str, set: &[Override], extra: &[&str]) -> Result<(Context, ModelCounts)> {
    // The user's model overrides apply to GPT-4 only; GPU overrides to every GPU; the claim's own
    // inputs (`extra`) always.
    let mut o: Vec<Override> = set
        .iter()
        .filter(|x| model.starts_with("gpt4") || !x.key.starts_with("model.") || x.scope.is_some())
        .cloned()
        .collect();
    for e in extra {
        o.push(e.parse().map_err(|e: String| anyhow::anyhow!(e))?);
    }
    let model_o = o.clone();
    let m = presets::load_model(model, &model_o)?;
    let g = presets::load_gpu(gpu, &o)?;
    let counts = ModelCounts::new(&m.model);
    Ok((
        Context::new(&m.model, &g.gpu, crate::perf::DEFAULT_PREFILL_CHUNK_TOKENS),
        counts,
    ))
}

fn infer(tp: u64, pp: u64, batch: u64, input_len: u64, output_len: u64, dtype: Dtype) -> Config {
    Config::new(tp, pp, batch, input_len, output_len, dtype)
}

/// The article's GPT-4 training run: 60M-token batches of 8k sequences, 13T tokens, on `gpus`
/// GPUs as TP `tp` × PP `pp`.
pub fn gpt4_training(
    gpus: u64,
    tp: u64,
    pp: u64,
    zero: u8,
    recompute: Recompute,
    dtype: Dtype,
    mfu: Option<f64>,
) -> TrainConfig {
    TrainConfig {
        zero,
        recompute,
        mfu,
        ..TrainConfig::new(gpus, tp, pp, 60e6, 8192, 13e12, dtype)
    }
}

/// The largest batch in 1 … 65,536 that fits (bisection on the memory model).
fn max_batch(c: &Context, base: Config) -> u64 {
    let fits = |b: u64| estimate(c, &Config { batch: b, ..base }).fits;
    if !fits(1) {
        return 0;
    }
    let (mut lo, mut hi) = (1u64, 65_536u64);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if fits(mid) { lo = mid } else { hi = mid - 1 }
    }
    lo
}

/// The smallest batch whose output tokens cost at most `usd_per_1m`, if any fits.
fn batch_for_price(c: &Context, base: Config, usd_per_1m: f64) -> Option<Estimate> {
    (0..160)
        .map(|i| (16.0 * 1.06_f64.powi(i)).round() as u64)
        .map(|b| estimate(c, &Config { batch: b, ..base }))
        .take_while(|e| e.fits)
        .find(|e| e.usd_per_1m_output_tokens <= usd_per_1m)
}

/// The model presets `reproduce` loads.
pub const MODELS: &[&str] = &[
    "gpt4-8k",
    "gpt4-32k",
    "gpt3-175b",
    "dense-1t",
    "palm-540b",
    "llama3-70b",
];
/// The GPU presets `reproduce` loads.
pub const GPUS: &[&str] = &["a100-40g", "h100"];

/// Every claim, with `set` applied to the presets.
pub fn claims(set: &[Override]) -> Result<Vec<Claim>> {
    let loaded: Vec<(presets::Kind, Vec<String>)> = MODELS
        .iter()
        .map(|m| (presets::Kind::Model, vec![(*m).to_string()]))
        .chain(
            GPUS.iter()
                .map(|g| (presets::Kind::Gpu, vec![(*g).to_string()])),
        )
        .collect();
    presets::check_scopes(set, &loaded)?;
    let mut b = Builder { claims: Vec::new() };
    let (a100, gpt4) = ctx(
        "gpt4-8k",
        "a100-40g",
        set,
        &["gpu.price.usd_per_gpu_hour=1"],
    )?;
    let (h100, _) = ctx("gpt4-8k", "h100", set, &["gpu.price.usd_per_gpu_hour=2"])?;
    let (_, gpt3) = ctx("gpt3-175b", "a100-40g", set, &[])?;

    // Architecture.
    b.add(
        "total-params",
        "GPT-4 has ~1.8 trillion parameters",
        Some(1.8e12),
        gpt4.total_params(),
        "parameters",
        Check::Near(0.05),
        "Counted from the GPT4-A architecture (docs/methodology.md §1.2).".into(),
        "",
    );
    b.add(
        "layers",
        "across 120 layers",
        Some(120.0),
        gpt4.layers,
        "layers",
        Check::Near(0.0),
        "An input of the reconstruction (the preset's layer count).".into(),
        "",
    );
    b.add(
        "expert-params",
        "16 experts of ~111B MLP parameters each",
        Some(111e9),
        gpt4.params_per_expert(),
        "parameters",
        Check::Near(0.02),
        format!(
            "{} experts of 8·d² per layer over {} layers.",
            gpt4.experts, gpt4.layers
        ),
        "",
    );
    b.add(
        "attention-params",
        "~55B shared parameters for attention",
        Some(55e9),
        gpt4.attention_params(),
        "parameters",
        Check::Near(0.03),
        "MHA-shaped 4·d² per layer (the KV cache stays MQA).".into(),
        "",
    );
    b.add(
        "active-params",
        "~280B parameters used per forward pass",
        Some(280e9),
        gpt4.active_params(),
        "parameters",
        Check::Near(0.02),
        "Attention, top-2 experts, routers and embeddings.".into(),
        "",
    );
    b.add("flops-per-token", "~560 TFLOPs per forward pass (per token)", Some(560e12), gpt4.flops_per_token(), "FLOP",
        Check::Near(0.02), "2 × active non-embedding parameters + the logits.".into(),
        "The article's TFLOP is a unit slip for GFLOP: 2 × 279.6B = 559 GFLOP per token, so the ratio is 1/1000.");
    let dense_flops = 2.0 * gpt4.total_params();
    b.add(
        "dense-flops-per-token",
        "~3,700 TFLOP per forward pass for a dense model of the same size",
        Some(3700e12),
        dense_flops,
        "FLOP",
        Check::Near(0.02),
        "2 × total parameters.".into(),
        "The same unit slip: 3.7 TFLOP, not 3,700.",
    );

    // Training.
    let imposed = train::estimate(
        &a100,
        &gpt4_training(
            25_000,
            8,
            15,
            1,
            Recompute::Selective,
            Dtype::Bf16,
            Some(0.34),
        ),
    );
    b.add(
        "training-flops",
        "~2.15e25 FLOPs to train on ~13T tokens",
        Some(2.15e25),
        imposed.total_flops,
        "FLOP",
        Check::Near(0.03),
        "6 × active parameters × 13T tokens (parameter FLOPs; attention adds 3.8% at 8k).".into(),
        "",
    );
    b.add(
        "training-days",
        "~25,000 A100s for 90-100 days",
        Some(95.0),
        imposed.train_days,
        "days",
        Check::Within(90.0, 100.0),
        "At the article's mid-range MFU of 34%, on 24,960 GPUs (TP8 × PP15 × DP208).".into(),
        "",
    );
    let fit = train::estimate(
        &a100,
        &gpt4_training(25_000, 8, 15, 2, Recompute::Full, Dtype::Bf16, None),
    );
    b.add("training-mfu", "at 32-36% MFU", Some(0.34), fit.mfu, "fraction",
        Check::Within(0.30, 0.38),
        format!("Modelled, not imposed: the layout that fits 40 GB (ZeRO-2, full recomputation) with a {:.0}% pipeline bubble.", 100.0 * fit.bubble_fraction),
        "");
    b.add(
        "training-cost",
        "~$63M at $1 per A100-hour",
        Some(63e6),
        fit.cost_usd,
        "USD",
        Check::Near(0.10),
        format!(
            "The modelled run: {:.0} days on 24,960 A100s.",
            fit.train_days
        ),
        "",
    );
    let h = train::estimate(
        &h100,
        &gpt4_training(8192, 8, 16, 1, Recompute::Selective, Dtype::Fp8, Some(0.28)),
    );
    b.add(
        "h100-days",
        "~8,192 H100s for ~55 days",
        Some(55.0),
        h.train_days,
        "days",
        Check::Near(0.05),
        "At an fp8 MFU of 28% (equivalently 56% of the bf16 peak, which would be optimistic)."
            .into(),
        "",
    );
    b.add(
        "h100-cost",
        "~$21.5M at $2 per H100-hour",
        Some(21.5e6),
        h.cost_usd,
        "USD",
        Check::Near(0.05),
        "The same run's GPU-hours at $2.".into(),
        "",
    );
    let per_expert = 60e6 * gpt4.top_k / gpt4.experts;
    b.add(
        "tokens-per-expert",
        "a 60M-token batch is ~7.5M tokens per expert",
        Some(7.5e6),
        per_expert,
        "tokens",
        Check::Near(0.01),
        "60M × top-k / experts, with balanced routing.".into(),
        "",
    );
    let train_weights = 2.0 * gpt4.total_params() / 120.0;
    b.add(
        "training-weights-per-gpu",
        "TP8 × PP15 training holds ~30GB of parameters per GPU at FP16",
        Some(30e9),
        train_weights,
        "bytes",
        Check::Near(0.05),
        "2 bytes × total parameters / 120 GPUs per replica.".into(),
        "",
    );

    // Inference layout.
    let inf16 = estimate(&a100, &infer(8, 16, 64, 2048, 256, Dtype::Fp16));
    b.add("inference-fp16-per-gpu", "128 GPUs (TP8 × PP16) hold <30GB per GPU at FP16", Some(30e9), inf16.breakdown.mean_weights_bytes_per_gpu, "bytes",
        Check::Below, format!("Mean over the replica; the heaviest stage (8 of 120 layers plus the embedding) holds {:.1} GB.", inf16.weights_bytes_per_gpu / 1e9), "");
    let inf8 = estimate(&a100, &infer(8, 16, 64, 2048, 256, Dtype::Fp8));
    b.add(
        "inference-fp8-per-gpu",
        "and <15GB per GPU at FP8",
        Some(15e9),
        inf8.breakdown.mean_weights_bytes_per_gpu,
        "bytes",
        Check::Below,
        "Mean over the replica.".into(),
        "",
    );
    b.add(
        "runs-on-a100-40g",
        "so inference can run on 40GB A100s",
        None,
        f64::from(u8::from(inf16.fits)),
        "fits (1 = yes)",
        Check::Holds(inf16.fits),
        format!(
            "Batch 64 at 8k context fits on 128 A100-40G at fp16: {:.1} GiB on the heaviest GPU.",
            crate::units::bytes_to_gib(inf16.mem_bytes_per_gpu)
        ),
        "",
    );

    // Bandwidth arithmetic.
    let (h100_dense, dense) = ctx("dense-1t", "h100", set, &[])?;
    let d1 = estimate(&h100_dense, &infer(8, 1, 1, 128, 128, Dtype::Fp16));
    b.add(
        "dense-1t-33-tok-s",
        "8x H100 cannot serve a 1T dense model at 33.33 tokens/s",
        Some(33.33),
        d1.output_tokens_per_s_per_user,
        "tokens/s",
        Check::Below,
        "The modelled batch-1 decode of dense-1t on 8 H100s at fp16.".into(),
        "",
    );
    let peak = 8.0 * h100.math(Dtype::Bf16).map_or(f64::NAN, |(_, p)| p);
    let util20 = 20.0 * dense.flops_per_token() / peak;
    b.add(
        "dense-1t-utilisation",
        "and its FLOPS utilisation at 20 tokens/s is under 5%",
        Some(0.05),
        util20,
        "fraction",
        Check::Below,
        "20 tokens/s × 2 FLOP per parameter / 8 × the bf16 peak.".into(),
        "",
    );
    // The article's own bandwidth figure (3 TB/s), fp16 weights, reads doubled by overheads.
    let bw_article = 3e12;
    let ffn_limit = 8.0 * bw_article / (20.0 * Dtype::Fp16.bytes() * 2.0);
    b.add(
        "ffn-limit",
        "~300B feed-forward parameters is the limit for 8-way TP H100",
        Some(300e9),
        ffn_limit,
        "parameters",
        Check::Near(0.02),
        "8 × 3 TB/s / (20 tokens/s × 2 bytes × 2 for overheads): the chart's 20 tokens/s point."
            .into(),
        "",
    );
    b.add("reading-speed-low", "humans read ~250 words/min: at least 8.33 tokens/s", Some(8.33), 250.0 * 2.0 / 60.0, "tokens/s",
        Check::Near(0.01), "250 words/min × 2 tokens per word / 60 (the article's implied 2 tokens per word; cl100k averages ~1.3).".into(), "");
    b.add(
        "reading-speed-high",
        "up to ~1,000 words/min: 33.33 tokens/s",
        Some(33.33),
        1000.0 * 2.0 / 60.0,
        "tokens/s",
        Check::Near(0.01),
        "1,000 words/min × 2 tokens per word / 60.".into(),
        "",
    );
    let fp8_tflops = h100.math(Dtype::Fp8).map_or(f64::NAN, |(_, p)| p);
    b.add(
        "h100-fp8-flops",
        "H100 SXM has 2,000 TFLOP/s of FP8",
        Some(2000e12),
        fp8_tflops,
        "FLOP/s",
        Check::Near(0.02),
        "Dense peak from the H100 preset (datasheet, no sparsity).".into(),
        "",
    );
    b.add(
        "h100-bandwidth",
        "but only 3TB/s of memory bandwidth",
        Some(3e12),
        h100.hw.mem_bw_bytes_per_s,
        "bytes/s",
        Check::Near(0.05),
        "The H100 preset's datasheet bandwidth.".into(),
        "The datasheet says 3.35 TB/s; 3 TB/s was early material.",
    );
    let intensity = |batch: f64| {
        2.0 * batch * gpt4.active_nonembed_params()
            / (Dtype::Fp8.bytes() * gpt4.active_nonembed_params())
    };
    b.add(
        "intensity-256",
        "at batch 256 there are 512 FLOP per byte",
        Some(512.0),
        intensity(256.0),
        "FLOP/byte",
        Check::Near(0.01),
        "2 FLOP per parameter per sequence over 1 byte per fp8 parameter.".into(),
        "",
    );
    b.add(
        "intensity-512",
        "and at batch 512, 1,024 FLOP per byte",
        Some(1024.0),
        intensity(512.0),
        "FLOP/byte",
        Check::Near(0.01),
        format!(
            "Against the H100 fp8 ridge of {:.0} FLOP/byte, batch 512 is compute-bound.",
            fp8_tflops / h100.hw.mem_bw_bytes_per_s
        ),
        "",
    );
    let (_, palm) = ctx("palm-540b", "h100", set, &["model.kv_heads=48"])?;
    let kv8 = palm.kv_bytes_per_token(Dtype::Int8.bytes()) * 2048.0 * 512.0;
    let kv16 = palm.kv_bytes_per_token(Dtype::Bf16.bytes()) * 2048.0 * 512.0;
    b.add(
        "kv-cache-3tb",
        "a 500B+ MHA model's KV cache at batch 512, context 2048 is 3TB",
        Some(3e12),
        kv8,
        "bytes",
        Check::Near(0.05),
        format!(
            "PaLM-540B with MHA and an 8-bit cache; bf16 gives {:.2} TB (Pope et al. 2022).",
            kv16 / 1e12
        ),
        "",
    );
    let (_, palm_published) = ctx("palm-540b", "h100", set, &[])?;
    b.add(
        "kv-cache-vs-params",
        "3 times the size of the model's parameters",
        Some(3.0),
        kv8 / (2.0 * palm_published.total_params()),
        "ratio",
        Check::Near(0.1),
        "The 8-bit MHA cache over PaLM-540B's bf16 weights (1.08 TB).".into(),
        "",
    );

    // MoE batch arithmetic.
    let mean4k = 4096.0 * gpt4.top_k / gpt4.experts;
    let busiest4k =
        mean4k * busiest_rank_factor(gpt4.experts, gpt4.top_k, 4096.0, gpt4.experts as u64);
    b.add(
        "experts-at-4k",
        "at batch 4k+ experts only have batch sizes of ~500",
        Some(500.0),
        mean4k,
        "tokens per expert",
        Check::Near(0.05),
        format!("4096 × 2 / 16; the busiest expert gets ≈ {busiest4k:.0} (balls into bins)."),
        "",
    );
    let d8 = distinct_experts(gpt4.experts, gpt4.top_k, 8.0);
    b.add(
        "experts-at-8",
        "at batch 8 an expert could be at batch 1",
        Some(1.0),
        8.0 * gpt4.top_k / d8,
        "tokens per active expert",
        Check::Near(0.6),
        format!(
            "A step of 8 tokens reads {d8:.1} of 16 experts on average, each for ~1.5 tokens; the busiest expert gets ≈ {:.1} (Gaussian balls into bins, optimistic below 16 tokens: Monte Carlo gives 2.95).",
            8.0 * gpt4.top_k / gpt4.experts
                * busiest_rank_factor(gpt4.experts, gpt4.top_k, 8.0, gpt4.experts as u64)
        ),
        "",
    );
    b.add(
        "ffn-vs-davinci",
        "GPT-4 has 1.6x the feed-forward parameters of 175B davinci",
        Some(1.6),
        gpt4.active_params() / gpt3.total_params(),
        "ratio",
        Check::Near(0.03),
        "Active parameters over GPT-3 175B's.".into(),
        "",
    );
    let g4 = best_cost(&a100, Dtype::Fp16, 8, 16);
    let (g3ctx, _) = ctx(
        "gpt3-175b",
        "a100-40g",
        set,
        &["gpu.price.usd_per_gpu_hour=1"],
    )?;
    let g3 = best_cost(&g3ctx, Dtype::Fp16, 8, 2);
    b.add("cost-vs-davinci", "GPT-4 costs 3x davinci", Some(3.0), g4 / g3, "ratio",
        Check::Near(0.3), "The cheapest output token of each on A100-40G at fp16 (GPT-4 on TP8 × PP16, GPT-3 175B on TP8 × PP2).".into(),
        "Serving at equal batch efficiency, GPT-4 costs what its extra active parameters and 16× larger weights imply; the article's 3× also folds in utilisation we do not know.");

    // The article's prices per 1k tokens, as dollars (not cents).
    for (id, claim, c, dtype, price) in [
        (
            "price-a100",
            "$0.0049 per 1k tokens on 128 A100s",
            &a100,
            Dtype::Fp16,
            4.9,
        ),
        (
            "price-h100",
            "$0.0021 per 1k tokens on 128 H100s",
            &h100,
            Dtype::Fp8,
            2.1,
        ),
    ] {
        let base = Config {
            input_len: 1792,
            output_len: 512,
            ..infer(8, 16, 1, 1792, 512, dtype)
        };
        // First with the cache split by KV head (replicated across TP8, as vLLM and TRT-LLM
        // lay out MQA), then split by sequence (Pope et al. 2022).
        let by_seq = Config {
            kv_sharding: KvSharding::Batch,
            ..base
        };
        let reached = batch_for_price(c, base, price)
            .map(|e| (e, ""))
            .or_else(|| {
                batch_for_price(c, by_seq, price).map(|e| {
                    (
                        e,
                        ", with the MQA cache split by sequence (`--kv-sharding batch`)",
                    )
                })
            });
        match reached {
            Some((e, how)) => b.add(id, claim, Some(price), e.usd_per_1m_output_tokens, "USD per 1M tokens", Check::Near(0.07),
                format!("Reached at batch {} ({}, mean context 2,048{how}): {:.1} tokens/s per user, MBU {:.0}%.", e.config.batch, dtype, e.output_tokens_per_s_per_user, 100.0 * e.mbu),
                if how.is_empty() { "" } else { "Only with the cache split by sequence: replicated on every TP rank it caps the batch below what this price needs." }),
            None => {
                let best = (0..160)
                    .map(|i| (16.0 * 1.06_f64.powi(i)).round() as u64)
                    .flat_map(|b| [Config { batch: b, ..base }, Config { batch: b, ..by_seq }])
                    .map(|cfg| estimate(c, &cfg))
                    .filter(|e| e.fits)
                    .min_by(|x, y| x.usd_per_1m_output_tokens.total_cmp(&y.usd_per_1m_output_tokens));
                let (cost, how) = match best {
                    Some(e) => (e.usd_per_1m_output_tokens, format!("The cheapest batch that fits is {} ({}, mean context 2,048, KV split by {}): {:.1} tokens/s per user.", e.config.batch, dtype, e.config.kv_sharding.name(), e.output_tokens_per_s_per_user)),
                    None => (f64::NAN, "Nothing fits.".into()),
                };
                b.add(id, claim, Some(price), cost, "USD per 1M tokens", Check::Near(0.07), how,
                    "Out of reach with either KV layout at these efficiencies.")
            }
        }
    }

    // Memory: MQA and the largest batch.
    let base8k = infer(8, 16, 1, 7936, 256, Dtype::Fp16);
    let mqa8 = max_batch(&a100, base8k);
    let (a100_mha, _) = ctx("gpt4-8k", "a100-40g", set, &["model.kv_heads=96"])?;
    let mha8 = max_batch(&a100_mha, base8k);
    b.add("mqa-8k", "with MQA the 8k model is capped on max batch size; without it, far more so", None, mqa8 as f64, "sequences",
        Check::Holds(mha8 * 4 < mqa8), format!("Largest batch on 128 A100-40G at fp16, 8k context: {mqa8} with MQA, {mha8} with MHA (KV replicated across TP8)."), "");
    let (a100_32k, _) = ctx("gpt4-32k", "a100-40g", set, &[])?;
    let mqa32 = max_batch(&a100_32k, infer(8, 16, 1, 32_512, 256, Dtype::Fp16));
    b.add("mqa-32k", "the 32k model definitely cannot run on 40GB A100s", None, mqa32 as f64, "sequences",
        Check::Holds(mqa32 < 64), format!("Largest batch at 32k context: {mqa32}. It runs, but only at a batch too small to be economical."),
        "Overstated: a small batch fits.");

    // Speculative decoding.
    let spec = |alpha: f64| expected_tokens(4, alpha);
    b.add(
        "speculation-tokens",
        "speculative decoding of ~4 tokens",
        Some(4.0),
        spec(0.9),
        "tokens per step",
        Check::Within(2.0, 5.0),
        format!(
            "Expected tokens per verification with γ = 4: {:.2} (α 0.6) to {:.2} (α 0.9).",
            spec(0.6),
            spec(0.9)
        ),
        "",
    );
    let sp = Some(Speculation {
        gamma: 4,
        acceptance: 0.8,
        draft: DraftCost::Ratio(0.05),
    });
    let speedup = |batch: u64| {
        let c = infer(8, 16, batch, 2048, 256, Dtype::Fp8);
        estimate(&h100, &c).breakdown.decode_step_s
            / estimate(
                &h100,
                &Config {
                    speculation: sp,
                    ..c
                },
            )
            .breakdown
            .decode_step_s
    };
    let (s16, s2048) = (speedup(16), speedup(2048));
    b.add("speculation-batch", "speculative decoding is only useful in small-batch settings", None, s16, "speed-up at batch 16",
        Check::Holds(s16 >= s2048), format!("For GPT-4 it is the reverse: ×{s16:.2} at batch 16, ×{s2048:.2} at batch 2048."),
        "An MoE's verify step reads more experts at small batch (7.8 instead of 2 per layer at one sequence per micro-batch); at large batch every expert is read anyway (methodology §7.4).");

    // Batching.
    let (llama, _) = ctx("llama3-70b", "h100", set, &[])?;
    let st = Config {
        batching: Batching::Static,
        output_dist: LengthDist::Geometric,
        ..infer(8, 1, 64, 512, 256, Dtype::Fp8)
    };
    let stat = estimate(&llama, &st);
    let cont = estimate(
        &llama,
        &Config {
            batching: Batching::Continuous,
            ..st
        },
    );
    b.add("continuous-batching", "continuous batching keeps utilisation high where static batching cannot", None,
        cont.output_tokens_per_s / stat.output_tokens_per_s, "continuous / static throughput",
        Check::Holds(cont.output_tokens_per_s > stat.output_tokens_per_s),
        format!("At batch 64 with geometric output lengths a static batch uses {:.0}% of its slot-steps.", 100.0 * stat.breakdown.useful_fraction), "");

    // Vision IO.
    b.add(
        "vision-io",
        "vision data loading is ~150x the IO of text: ~600 vs ~4 bytes per token",
        Some(150.0),
        600.0 / 4.0,
        "ratio",
        Check::Near(0.01),
        "The article's per-token bytes.".into(),
        "",
    );
    Ok(b.claims)
}

/// The lowest USD per 1M output tokens over batch sizes that fit.
fn best_cost(c: &Context, dtype: Dtype, tp: u64, pp: u64) -> f64 {
    (0..15)
        .map(|i| estimate(c, &infer(tp, pp, 1 << i, 1792, 256, dtype)))
        .filter(|e| e.fits)
        .map(|e| e.usd_per_1m_output_tokens)
        .fold(f64::INFINITY, f64::min)
}
