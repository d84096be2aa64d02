//! Hostile and extreme inputs (issue 14, items 1, 3, 5, 6): every one exits 1 (bad value) or
//! 2 (usage) with one clear line, quickly, and never with a panic or a number made from a wrapped
//! integer.

mod common;

use common::gpt4calc;

fn run(args: &[&str], code: i32) -> (String, String) {
    common::run_cli(args, code)
}

/// A bad value: exit 1, nothing on stdout, one `error:` line holding every needle.
fn bad(args: &[&str], needles: &[&str]) {
    common::fails_cli(args, needles)
}

/// A usage error: exit 2, clap's message (the error, then a usage hint) holding every needle.
fn usage(args: &[&str], needles: &[&str]) {
    let (stdout, stderr) = run(args, 2);
    assert!(
        stdout.is_empty(),
        "stdout should be empty on error: {stdout}"
    );
    assert!(stderr.starts_with("error: "), "{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "stderr lacks `{n}`:\n{stderr}");
    }
}

const HUGE: &str = "18446744073709551615";

#[test]
fn huge_integers_are_out_of_range_not_wrapped() {
    bad(
        &[
            "train",
            "-m",
            "llama3-8b",
            "--gpus",
            "2",
            "--tp",
            "1",
            "--pp",
            "1",
            "--micro-batch",
            "9223372036854775808",
        ],
        &["--micro-batch", "9223372036854775808", "1 to 1,048,576"],
    );
    bad(
        &["estimate", "--input-len", HUGE, "--output-len", "1"],
        &["--input-len", HUGE, "1 to 1,073,741,824"],
    );
    bad(
        &["estimate", "--batch", HUGE],
        &["--batch", HUGE, "1 to 1,048,576"],
    );
    bad(
        &["estimate", "--disaggregate", "1:1", "--prefill-tp", HUGE],
        &["--prefill-tp", HUGE, "1 to 65,536"],
    );
    bad(
        &["estimate", "--redundant-experts", HUGE],
        &["--redundant-experts", HUGE, "0 to 65,536"],
    );
    bad(
        &[
            "train",
            "--gpus",
            "1k",
            "--tp",
            "1",
            "--pp",
            "1",
            "--seq-len",
            HUGE,
        ],
        &["--seq-len", HUGE],
    );
    bad(
        &["estimate", "--prefill-chunk", HUGE],
        &["--prefill-chunk", HUGE],
    );
    bad(
        &["sweep", "--batch", &format!("1..{HUGE}")],
        &["--batch", HUGE, "1 to 1,048,576"],
    );
    usage(
        &[
            "estimate",
            "-m",
            "llama3-8b",
            "--disaggregate",
            &format!("{HUGE}:1"),
        ],
        &["--disaggregate", "1 to 65,536"],
    );
}

#[test]
fn a_replica_has_at_most_16m_gpus() {
    bad(
        &[
            "estimate", "-m", "gpt4-8k", "--tp", "8", "--dp", "65536", "--pp", "64",
        ],
        &["GPUs per replica", "16,777,216"],
    );
}

#[test]
fn huge_model_fields_are_out_of_range() {
    // A huge head count with a matching --tp divided by zero in train/step.rs.
    bad(
        &[
            "train",
            "-m",
            "llama3-8b",
            "--set",
            "model.heads=4294967296",
            "--set",
            "model.kv_heads=1",
            "--tp",
            "1",
            "--pp",
            "1",
            "--gpus",
            "8",
        ],
        &["model.heads = 4294967296", "1 to 65,536"],
    );
    for (key, value) in [
        ("model.layers", "0"),
        ("model.d_model", "9999999999"),
        ("model.vocab", HUGE),
        ("model.experts", "100000"),
        ("model.max_context", "2000000000"),
        ("model.shared_experts", "70000"),
    ] {
        bad(
            &[
                "estimate",
                "-m",
                "llama3-8b",
                "--set",
                &format!("{key}={value}"),
            ],
            &[key, value],
        );
    }
}

#[test]
fn float_flags_and_fields_have_physical_ranges() {
    bad(
        &["estimate", "--speculate", "2", "--draft-ratio", "1e308"],
        &["--draft-ratio 1e308", "0 to 10"],
    );
    bad(
        &[
            "train",
            "-m",
            "llama3-8b",
            "--tokens",
            "1e308",
            "--tp",
            "1",
            "--pp",
            "1",
            "--gpus",
            "8",
        ],
        &["--tokens 1e308", "1 to 1e18"],
    );
    bad(
        &[
            "train",
            "-m",
            "llama3-8b",
            "--mfu",
            "1e-320",
            "--tp",
            "1",
            "--pp",
            "1",
            "--gpus",
            "8",
        ],
        &["--mfu", "1e-6 to 1"],
    );
    bad(
        &[
            "train",
            "-m",
            "llama3-8b",
            "--global-batch-tokens",
            "inf",
            "--tp",
            "1",
            "--pp",
            "1",
        ],
        &["--global-batch-tokens inf"],
    );
    bad(
        &["estimate", "-m", "llama3-8b", "--rate", "1e-310"],
        &["--rate", "1e-6 to 1e6"],
    );
    bad(
        &["estimate", "-m", "llama3-8b", "--rate", "NaN"],
        &["--rate NaN"],
    );
    bad(
        &[
            "estimate",
            "-m",
            "llama3-8b",
            "--set",
            "gpu.memory_gib=1e300",
        ],
        &["gpu.memory_gib = 1e300", "1 to 1048576"],
    );
    bad(
        &[
            "estimate",
            "-m",
            "llama3-8b",
            "--set",
            "gpu.memory_bw_tb_s=1e-320",
        ],
        &["gpu.memory_bw_tb_s", "0.001 to 1000"],
    );
    for (key, value) in [
        ("gpu.tflops.bf16", "inf"),
        ("gpu.tflops.fp8", "-1"),
        ("gpu.efficiency.matmul", "1e-300"),
        ("gpu.efficiency.memory", "1.5"),
        ("gpu.price.usd_per_gpu_hour", "-0.5"),
        ("gpu.node.scaleup_gb_s", "0"),
        ("gpu.overheads.per_layer_us", "1e300"),
        ("gpu.node.gpus_per_node", "0"),
    ] {
        bad(
            &[
                "estimate",
                "-m",
                "llama3-8b",
                "--set",
                &format!("{key}={value}"),
            ],
            &[key, value],
        );
    }
    bad(
        &[
            "train",
            "--gpu-mtbf-hours",
            "1e-320",
            "--tp",
            "1",
            "--pp",
            "1",
        ],
        &["--gpu-mtbf-hours"],
    );
}

#[test]
fn estimate_reads_axis_values_as_sweep_does() {
    let (json, _) = run(
        &[
            "estimate",
            "-m",
            "llama3-8b",
            "--input-len",
            "2k",
            "--output-len",
            "1k",
            "--format",
            "json",
        ],
        0,
    );
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["results"][0]["input_len"], 2048);
    assert_eq!(doc["results"][0]["output_len"], 1024);
    usage(&["estimate", "--batch", "1,2"], &["--batch", "one value"]);
    usage(
        &["estimate", "--batch", "x"],
        &["--batch", "not a positive integer"],
    );
}

#[test]
fn repeated_axis_values_give_no_duplicate_rows() {
    let rows = |dtype: &str| {
        let (json, _) = run(
            &[
                "sweep",
                "-m",
                "llama3-8b",
                "--tp",
                "1",
                "--pp",
                "1",
                "--batch",
                "1,1,8",
                "--dtype",
                dtype,
                "--format",
                "json",
            ],
            0,
        );
        let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
        let rows: Vec<(String, u64)> = doc["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["dtype"].as_str().unwrap().to_string(),
                    r["batch"].as_u64().unwrap(),
                )
            })
            .collect();
        rows
    };
    let repeated = rows("bf16,fp8,bf16");
    assert_eq!(repeated.len(), 4, "{repeated:?}");
    let mut unique = repeated.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), repeated.len(), "{repeated:?}");
}

#[test]
fn acceptance_needs_speculate() {
    usage(&["estimate", "--acceptance", "0.5"], &["--speculate"]);
    run(
        &[
            "estimate",
            "-m",
            "llama3-8b",
            "--speculate",
            "4",
            "--acceptance",
            "0.5",
        ],
        0,
    );
}

/// A file in a directory of its own; both are deleted when it is dropped.
struct TempFile {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

impl std::ops::Deref for TempFile {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.path
    }
}

fn temp_file(name: &str, text: &str) -> TempFile {
    let dir = tempfile::Builder::new()
        .prefix("gpt4calc-hardening-")
        .tempdir()
        .unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    TempFile { _dir: dir, path }
}

#[test]
fn files_are_refused_by_type_and_size_before_reading() {
    bad(
        &["estimate", "-m", "/dev/zero"],
        &["/dev/zero", "not a regular file"],
    );
    bad(
        &["validate", "--cases", "/dev/zero"],
        &["/dev/zero", "not a regular file"],
    );
    bad(
        &["presets", "show", "/dev/zero"],
        &["/dev/zero", "not a regular file"],
    );
    let dir = std::env::temp_dir();
    let dir = dir.to_str().unwrap();
    bad(&["estimate", "-g", dir], &["a directory"]);
    bad(&["validate", "--cases", dir], &["a directory"]);
    let big_file = temp_file("big.toml", &"# padding\n".repeat(430_000));
    let big = big_file.to_str().unwrap();
    bad(&["estimate", "-m", big], &["4300000 bytes", "4 MiB"]);
    bad(&["validate", "--cases", big], &["4300000 bytes", "4 MiB"]);
    // Deep nesting inside the size limit is a parse error, not a stack overflow.
    let deep = temp_file("deep.toml", &format!("a = {}", "[".repeat(500_000)));
    bad(
        &["estimate", "-m", deep.to_str().unwrap()],
        &["recursion limit"],
    );
}

#[cfg(unix)]
#[test]
fn a_fifo_is_refused_without_blocking() {
    let dir = tempfile::Builder::new()
        .prefix("gpt4calc-fifo-")
        .tempdir()
        .unwrap();
    let fifo = dir.path().join("preset.toml");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("mkfifo unavailable; skipped");
        return;
    }
    bad(
        &["estimate", "-g", fifo.to_str().unwrap()],
        &["not a regular file"],
    );
}

#[test]
fn set_keys_and_values_are_bounded() {
    let deep = format!("model.{}=1", vec!["a"; 60_000].join("."));
    let (_, stderr) = run(&["estimate", "--set", &deep], 2);
    assert!(
        stderr.len() < 1000,
        "the error echoes the argument: {} bytes",
        stderr.len()
    );
    assert!(stderr.contains("keys are at most 200"), "{stderr}");
    usage(
        &["estimate", "--set", "model.a.b.c.d.e.f.g.h=1"],
        &["9 dotted parts", "at most 8"],
    );
    usage(
        &["estimate", "--set", "model..experts=8"],
        &["dotted names"],
    );
    usage(
        &["estimate", "--set", "model.experts=8\n[gpu]"],
        &["newline"],
    );
    usage(
        &[
            "estimate",
            "--set",
            &format!("model.experts={}", "9".repeat(2000)),
        ],
        &["at most 1000"],
    );
}

#[test]
fn presets_show_prints_only_valid_presets() {
    bad(
        &["presets", "show", "Cargo.toml"],
        &["Cargo.toml", "unknown field"],
    );
    let bad_gpu = temp_file(
        "bad-gpu.toml",
        &gpt4calc::presets::GPUS
            .iter()
            .find(|(n, _)| *n == "h100")
            .unwrap()
            .1
            .replace("memory_gib = 79.65", "memory_gib = 1e300"),
    );
    bad(
        &["presets", "show", bad_gpu.to_str().unwrap()],
        &["gpu.memory_gib = 1e300"],
    );
    let (toml, _) = run(&["presets", "show", "h100"], 0);
    let good = temp_file("good-gpu.toml", &toml);
    let (shown, _) = run(&["presets", "show", good.to_str().unwrap()], 0);
    assert_eq!(shown, toml);
}

const CASE: &str = r#"
[[case]]
id = "ID"
source = "test"
kind = "inference"
model = "llama3-8b"
gpu = "h100"
dtype = "bf16"
tp = 1
batch = 1
input_len = 128
output_len = 128
metric = "METRIC"
value = VALUE
"#;

fn case(id: &str, metric: &str, value: &str) -> String {
    CASE.replace("ID", id)
        .replace("METRIC", metric)
        .replace("VALUE", value)
}

#[test]
fn validate_refuses_impossible_cases_naming_them() {
    let good = case("ok", "output_tokens_per_s", "100.0");
    let file = temp_file("good-cases.toml", &good);
    run(&["validate", "--cases", file.to_str().unwrap()], 0);
    for (name, text, needles) in [
        (
            "zero",
            case("zero-case", "output_tokens_per_s", "0.0"),
            vec!["zero-case", "value = 0"],
        ),
        (
            "neg",
            case("neg-case", "ttft_s", "-1.0"),
            vec!["neg-case", "value = -1"],
        ),
        (
            "nan",
            case("nan-case", "ttft_s", "nan"),
            vec!["nan-case", "NaN"],
        ),
        (
            "inf",
            case("inf-case", "ttft_s", "inf"),
            vec!["inf-case", "inf"],
        ),
        (
            "metric",
            case("typo-case", "ttft_z", "1.0"),
            vec!["typo-case", "ttft_z", "ttft_s"],
        ),
        (
            "text",
            case("text-case", "decode_bound", "1.0"),
            vec!["text-case", "not numeric"],
        ),
        (
            "dup",
            format!(
                "{}{}",
                case("twice", "ttft_s", "1.0"),
                case("twice", "tpot_s", "1.0")
            ),
            vec!["twice", "unique"],
        ),
    ] {
        let file = temp_file(&format!("{name}-cases.toml"), &text);
        bad(&["validate", "--cases", file.to_str().unwrap()], &needles);
    }
}

#[test]
fn validate_set_must_apply() {
    bad(
        &["validate", "--set", "gpu.memory_gib=abc"],
        &["gpu.memory_gib=abc", "expected a number"],
    );
    bad(
        &["validate", "--set", "gpu.memory_gib=1e300"],
        &["gpu.memory_gib = 1e300"],
    );
    bad(
        &["validate", "--set", "model.expertz=3"],
        &["expertz", "experts"],
    );
}

#[test]
fn require_checks_the_values_of_text_fields() {
    bad(
        &[
            "estimate",
            "-m",
            "llama3-8b",
            "--require",
            "decode_bound!=memroy",
        ],
        &["memroy", "memory, compute, communication"],
    );
    bad(
        &["sweep", "-m", "llama3-8b", "--require", "dtype==bf61"],
        &["bf61", "bf16"],
    );
    bad(
        &["train", "-m", "llama3-8b", "--require", "recompute==ful"],
        &["ful", "selective"],
    );
    run(
        &[
            "estimate",
            "-m",
            "llama3-8b",
            "--require",
            "decode_bound!=compute",
        ],
        0,
    );
}

#[test]
fn estimate_that_does_not_fit_says_what_to_try() {
    let (stdout, stderr) = run(&["estimate", "-m", "llama3-405b", "--tp", "1"], 3);
    assert!(!stdout.is_empty(), "the row is still printed");
    assert!(stderr.contains("does not fit"), "{stderr}");
    assert!(stderr.contains("try "), "{stderr}");
}

/// The arguments of the README's `train` example whose comment holds `marker`.
fn readme_train_example(marker: &str) -> Vec<&'static str> {
    let readme: &'static str = include_str!("../README.md");
    let line = readme
        .lines()
        .find(|l| l.contains(marker))
        .expect("README has the example");
    let command = line.split('#').next().unwrap();
    let args: Vec<&str> = command.split_whitespace().skip(1).collect();
    assert_eq!(args.first(), Some(&"train"), "{line}");
    args
}

#[test]
fn the_readme_mfu_example_runs() {
    run(&readme_train_example("# impose an MFU"), 0);
}

#[test]
fn the_readme_megatron_bridge_recipe_example_runs_and_recomputes_its_module() {
    let mut args = readme_train_example("# Megatron-Bridge's DeepSeek-V3 recipe");
    args.extend(["--format", "json"]);
    let (out, _) = run(&args, 0);
    let d: serde_json::Value = serde_json::from_str(&out).unwrap();
    let row = &d["results"][0];
    assert_eq!(row["recompute_modules"], "mla_up_proj");
    // The README's figure: about 2,680 tokens/s per GPU on 256 GPUs.
    let per_gpu = row["tokens_per_s"].as_f64().unwrap() / 256.0;
    assert!((per_gpu / 2680.0 - 1.0).abs() < 0.02, "{per_gpu}");
}

#[test]
fn the_readme_gb200_recipe_example_runs_under_its_runtime_profile() {
    let mut args = readme_train_example("# the same on a GB200 rack, today's recipe");
    args.extend(["--format", "json"]);
    let (out, _) = run(&args, 0);
    let d: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(d["inputs"]["runtime"]["name"], "megatron-bridge-26.08");
    let row = &d["results"][0];
    assert_eq!(row["host_s"].as_f64(), Some(0.0));
    // The README's figure: about 5,100 tokens/s per GPU on 256 GPUs (measured 4,912).
    let per_gpu = row["tokens_per_s"].as_f64().unwrap() / 256.0;
    assert!((per_gpu / 5100.0 - 1.0).abs() < 0.02, "{per_gpu}");
}

#[test]
fn validate_set_may_target_fields_some_presets_lack() {
    // Only the MLA model has [model.mla]; the override still applies to its cases.
    run(
        &[
            "validate",
            "--suite",
            "moe",
            "--set",
            "model.mla.kv_lora_rank=512",
            "--format",
            "json",
        ],
        0,
    );
}

#[test]
fn a_huge_argument_makes_a_short_error() {
    let long = "a".repeat(100_000);
    let path = format!("/tmp/{long}");
    let require = format!("ttft_s<={long}");
    let set = format!("model.{long}=1");
    for args in [
        vec!["estimate", "-m", long.as_str()],
        vec!["estimate", "-g", path.as_str()],
        vec!["estimate", "--require", long.as_str()],
        vec!["estimate", "--require", require.as_str()],
        vec!["estimate", "--sort", long.as_str()],
        vec!["sweep", "--sort", long.as_str()],
        vec!["presets", "show", long.as_str()],
        vec!["estimate", "--set", set.as_str()],
    ] {
        let out = gpt4calc().args(&args).output().expect("runs");
        assert!(matches!(out.status.code(), Some(1 | 2)), "{:?}", out.status);
        assert!(
            out.stderr.len() < 2000,
            "{} bytes of stderr for {}",
            out.stderr.len(),
            args[..2].join(" ")
        );
    }
}
