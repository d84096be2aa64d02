//! The memory rule (docs/methodology.md §5) against TensorRT-LLM's measured KV-cache capacity:
//! the most requests in flight trtllm-bench reached for Qwen3-32B-FP8 and Llama-3.1-8B on H100
//! and GB300 at TP 1, 2 and 4, four sequence lengths and two memory fractions
//! (validation/kv_capacity.csv, 72 runs from NVIDIA aiconfigurator's integration tests). Nothing
//! is fitted on them: the weights, activations and runtime of the presets leave the free memory,
//! the run's fraction of it holds the 16-bit KV cache, and every request reserves its
//! `max_seq_len` (ISL + OSL + 1,000).

mod common;

use common::sets;
use gpt4calc::dtype::Dtype;
use gpt4calc::perf::{Config, Context, estimate};

/// Qwen/Qwen3-32B's config.json (64 layers, hidden 5,120, 64 query / 8 KV heads of 128,
/// intermediate 25,600, vocab 151,936, untied).
const QWEN3_32B: &str = r#"name = "qwen3-32b"
description = "Qwen3-32B (dense), for the KV capacity check"
source = "Hugging Face Qwen/Qwen3-32B config.json"

[model]
layers = 64
d_model = 5120
heads = 64
kv_heads = 8
head_dim = 128
ffn_dim = 25600
ffn_gated = true
vocab = 151936
tied_embeddings = false
experts = 1
top_k = 1
shared_experts = 0
max_context = 40960
"#;

/// One measured run and the model's count for it.
struct Row {
    /// The GPU and the model, the group a systematic error would show in.
    group: String,
    label: String,
    measured: f64,
    modelled: f64,
}

/// The largest batch whose KV cache fits the run's memory fraction, under the run's settings:
/// the prompt budget (`max_num_tokens`) of 2 × ISL sizes the activations, and each sequence
/// reserves ISL + OSL + 1,000 tokens (the run's `max_seq_len`).
fn modelled_capacity(model: &str, gpu: &str, tp: u64, isl: u64, osl: u64, fraction: f64) -> u64 {
    let overrides = sets(&[&format!("gpu.overheads.kv_cache_free_fraction={fraction}")]);
    let (spec, dtype) = if model.starts_with("Qwen") {
        let m = gpt4calc::presets::load_model_text("qwen3-32b", QWEN3_32B, &[])
            .expect("the inline Qwen3-32B spec loads");
        (m.model, Dtype::Fp8)
    } else {
        let m = gpt4calc::presets::load_model("llama3.1-8b", &[]).expect("preset loads");
        (m.model, Dtype::Bf16)
    };
    let preset = match gpu {
        "h100_sxm" => "h100",
        "gb300" => "gb300-nvl72",
        other => panic!("no preset for {other}"),
    };
    let g = gpt4calc::presets::load_gpu(preset, &overrides).expect("gpu loads");
    let ctx = Context::new(&spec, &g.gpu, 2 * isl);
    let fits = |batch: u64| {
        let c = Config {
            kv_dtype: Dtype::Bf16,
            ..Config::new(tp, 1, batch, isl, osl + 1000, dtype)
        };
        ctx.check(&c).expect("a valid layout");
        estimate(&ctx, &c).fits
    };
    assert!(fits(1), "{model} on {gpu} TP{tp}: one request must fit");
    // Bisect the largest fitting batch (fitting is monotone in the batch).
    let (mut lo, mut hi) = (1u64, 1u64 << 16);
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if fits(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

fn rows() -> Vec<Row> {
    let path = format!("{}/validation/kv_capacity.csv", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let header = lines.next().expect("header");
    assert_eq!(
        header,
        "gpu,model,tp,isl,osl,free_gpu_memory_fraction,bench_max_bs"
    );
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let n = |i: usize| f[i].parse::<u64>().unwrap_or_else(|_| panic!("{l}"));
            let fraction: f64 = f[5].parse().expect("fraction");
            let modelled = modelled_capacity(f[1], f[0], n(2), n(3), n(4), fraction);
            Row {
                group: format!("{} {}", f[0], f[1]),
                label: format!("{} {} TP{} {}/{} f{}", f[0], f[1], f[2], f[3], f[4], f[5]),
                measured: n(6) as f64,
                modelled: modelled as f64,
            }
        })
        .collect()
}

#[test]
fn kv_capacity_matches_tensorrt_llm_measured_concurrency() {
    let rows = rows();
    assert_eq!(rows.len(), 72, "every measured run is checked");
    let mut errors: Vec<f64> = rows
        .iter()
        .map(|r| (r.modelled / r.measured - 1.0).abs())
        .collect();
    for r in &rows {
        // Measured (forty-ninth session): every run within 7.1% (the H100 Qwen3-32B-FP8 runs
        // +2.4…+7.1%: the checkpoint keeps its embeddings and head in bf16, which the model stores
        // in fp8; Llama-3.1-8B on H100 −1.8…+2.3%; GB300 +0.4…+2.8% at nvidia-smi's 284,208 MiB,
        // −1.2…−3.4% at the 288 GB nominal the preset held before).
        let err = r.modelled / r.measured - 1.0;
        assert!(
            err.abs() <= 0.08,
            "{}: modelled {} requests, measured {} ({:+.1}%)",
            r.label,
            r.modelled,
            r.measured,
            100.0 * err
        );
    }
    errors.sort_by(f64::total_cmp);
    let median = (errors[35] + errors[36]) / 2.0;
    // Measured: 1.6% (2.3% with GB300 at its nominal 288 GB).
    assert!(median <= 0.025, "median |error| {:.1}%", 100.0 * median);
    // Each GPU and model on its own (18 runs each): the signed median, where a memory term off
    // by a few GiB on one GPU shows. Measured: H100 Qwen3-32B +3.8%, Llama-3.1-8B +1.1%;
    // GB300 +1.7% and +0.9%.
    let mut groups: std::collections::BTreeMap<&str, Vec<f64>> = Default::default();
    for r in &rows {
        groups
            .entry(r.group.as_str())
            .or_default()
            .push(r.modelled / r.measured - 1.0);
    }
    assert_eq!(groups.len(), 4);
    for (group, mut errs) in groups {
        errs.sort_by(f64::total_cmp);
        let mid = (errs[errs.len() / 2 - 1] + errs[errs.len() / 2]) / 2.0;
        assert!(
            mid.abs() <= 0.045,
            "{group}: median error {:+.1}%",
            100.0 * mid
        );
    }
}

#[test]
fn kv_capacity_follows_the_memory_fraction_and_the_sequence_length() {
    // An invariant the measurements show: capacity grows with the fraction and TP, and falls as
    // the reservation grows.
    let llama = |tp, isl, osl, fraction| {
        modelled_capacity(
            "meta-llama/Meta-Llama-3.1-8B",
            "h100_sxm",
            tp,
            isl,
            osl,
            fraction,
        )
    };
    let base = llama(1, 2048, 2048, 0.8);
    assert!(llama(1, 2048, 2048, 0.9) > base);
    assert!(llama(2, 2048, 2048, 0.8) > base);
    assert!(llama(1, 4096, 4096, 0.8) < base);
}
