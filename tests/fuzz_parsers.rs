//! Fuzzing by property (issue 14, item 7): the preset and case parsers and `--set` take arbitrary
//! text and bytes, and mutated built-in presets, and answer with a value or an error, never a
//! panic. What loads is then evaluated once, which must not panic either (the test profile checks
//! overflow; release builds rely on the input ranges, docs/performance.md). Case counts are modest so that this runs in seconds in `cargo test`.

use gpt4calc::axis::parse_u64_axis;
use gpt4calc::dtype::Dtype;
use gpt4calc::perf::{Config, Context, DEFAULT_PREFILL_CHUNK_TOKENS, estimate};
use gpt4calc::presets::{self, GPUS, MODELS, Override};
use gpt4calc::validate::parse_cases;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    // PROPTEST_CASES=20000 for a longer run.
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Values a mutated field may take: numbers at and beyond every edge, wrong types, TOML syntax.
fn tricky_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u64>().prop_map(|v| v.to_string()),
        any::<i64>().prop_map(|v| v.to_string()),
        any::<f64>().prop_map(|v| format!("{v:e}")),
        prop::sample::select(vec![
            "0",
            "-0",
            "1",
            "-1",
            "0.0",
            "1e-320",
            "1e308",
            "inf",
            "-inf",
            "nan",
            "1e300",
            "18446744073709551615",
            "18446744073709551616",
            "9223372036854775808",
            "4294967296",
            "65536",
            "65537",
            "true",
            "\"x\"",
            "[]",
            "{}",
            "[1, 2]",
            "{ a = 1 }",
            "\"\"",
            "",
            "0x10",
            "1_000",
        ])
        .prop_map(str::to_string),
        "[ -~]{0,20}",
    ]
}

/// A built-in preset with the value of one `key = value` line replaced.
fn mutate(text: &str, line: usize, value: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let assignments: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains(" = ") && !lines[i].trim_start().starts_with('#'))
        .collect();
    let target = assignments[line % assignments.len()];
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if i == target {
                let key = l.split(" = ").next().unwrap_or_default();
                format!("{key} = {value}")
            } else {
                (*l).to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Evaluate one small configuration on a loaded model and GPU: it must not panic.
fn evaluate(model: &gpt4calc::model::ModelSpec, gpu: &gpt4calc::hardware::GpuSpec) {
    let ctx = Context::new(model, gpu, DEFAULT_PREFILL_CHUNK_TOKENS);
    let c = Config::new(1, 1, 8, 512, 64, Dtype::Bf16);
    if ctx.check(&c).is_ok() {
        let _ = estimate(&ctx, &c);
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn model_and_gpu_text_never_panics(text in "\\PC{0,400}") {
        let _ = presets::load_model_text("fuzz", &text, &[]);
        let _ = presets::load_gpu_text("fuzz", &text, &[]);
        let _ = parse_cases("fuzz", &text);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = presets::load_model_text("fuzz", &text, &[]);
        let _ = presets::load_gpu_text("fuzz", &text, &[]);
        let _ = parse_cases("fuzz", &text);
        let _ = text.parse::<Override>();
    }

    #[test]
    fn mutated_presets_load_or_fail_cleanly(
        model in 0..MODELS.len(),
        gpu in 0..GPUS.len(),
        model_line in any::<usize>(),
        gpu_line in any::<usize>(),
        value in tricky_value(),
    ) {
        let model_text = mutate(MODELS[model].1, model_line, &value);
        let gpu_text = mutate(GPUS[gpu].1, gpu_line, &value);
        let m = presets::load_model_text("fuzz", &model_text, &[]);
        let g = presets::load_gpu_text("fuzz", &gpu_text, &[]);
        let base_gpu = presets::load_gpu(GPUS[gpu].0, &[]).unwrap();
        let base_model = presets::load_model(MODELS[model].0, &[]).unwrap();
        if let Ok(m) = &m {
            evaluate(&m.model, &base_gpu.gpu);
        }
        if let Ok(g) = &g {
            evaluate(&base_model.model, &g.gpu);
        }
    }

    #[test]
    fn set_overrides_parse_or_fail_cleanly(
        key in prop_oneof![
            "(model|gpu)(\\.[a-z_]{1,12}){1,3}",
            "[ -~]{0,40}",
            Just("model.a".repeat(40)),
        ],
        value in tricky_value(),
    ) {
        let arg = format!("{key}={value}");
        if let Ok(o) = arg.parse::<Override>() {
            let sets = [o];
            if let Ok(m) = presets::load_model("llama3-8b", &sets) {
                let g = presets::load_gpu("h100", &[]).unwrap();
                evaluate(&m.model, &g.gpu);
            }
            if let Ok(g) = presets::load_gpu("h100", &sets) {
                let m = presets::load_model("llama3-8b", &[]).unwrap();
                evaluate(&m.model, &g.gpu);
            }
        }
    }

    #[test]
    fn set_with_real_keys_and_tricky_values(
        which in 0usize..2,
        field in any::<prop::sample::Index>(),
        value in tricky_value(),
    ) {
        const KEYS: [&[&str]; 2] = [
            &[
                "model.layers", "model.d_model", "model.heads", "model.kv_heads", "model.head_dim",
                "model.ffn_dim", "model.vocab", "model.experts", "model.top_k",
                "model.shared_experts", "model.max_context", "model.dense_layers",
                "model.sliding_window", "model.attention_params_per_layer",
                "model.attention_chunk", "model.attention_chunk_layers",
            ],
            &[
                "gpu.memory_gib", "gpu.memory_bw_tb_s", "gpu.tflops.bf16", "gpu.tflops.fp8",
                "gpu.node.gpus_per_node", "gpu.node.scaleup_gb_s", "gpu.node.scaleout_gbit_s",
                "gpu.price.usd_per_gpu_hour", "gpu.efficiency.matmul", "gpu.efficiency.memory",
                "gpu.overheads.per_layer_us", "gpu.overheads.runtime_gib",
                "gpu.overheads.kv_cache_free_fraction",
            ],
        ];
        let key = field.get(KEYS[which]);
        if let Ok(o) = format!("{key}={value}").parse::<Override>() {
            let sets = [o];
            let m = presets::load_model("mixtral-8x7b", &sets);
            let g = presets::load_gpu("h100", &sets);
            if let (Ok(m), Ok(g)) = (m, g) {
                evaluate(&m.model, &g.gpu);
            }
        }
    }

    #[test]
    fn axes_stay_in_range_and_small(
        flag in prop::sample::select(vec!["tp", "batch", "input-len", "micro-batch", "gpus"]),
        text in prop_oneof![
            "[0-9km,.]{0,30}",
            "[ -~]{0,30}",
            (any::<u64>(), any::<u64>()).prop_map(|(a, b)| format!("{a}..{b}")),
        ],
    ) {
        let range = gpt4calc::limits::flag_range(flag);
        if let Ok(values) = parse_u64_axis(flag, &text) {
            prop_assert!(!values.is_empty() && values.len() <= 64 * text.len().max(1));
            for v in values {
                prop_assert!(range.min <= v && v <= range.max, "{flag} {text}: {v}");
            }
        }
    }
}
