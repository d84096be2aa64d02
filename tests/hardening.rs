//! Hostile and extreme inputs (issue 14): every one exits 1 (bad value) or 2 (usage) with one
//! clear line, quickly, and never with a panic or a number made from a wrapped integer.

use assert_cmd::Command;
use std::time::{Duration, Instant};

fn gpt4calc() -> Command {
    Command::cargo_bin("gpt4calc").expect("binary builds")
}

/// Run with `args`, expect exit `code` within 10 s, return (stdout, stderr).
fn run(args: &[&str], code: i32) -> (String, String) {
    let start = Instant::now();
    let out = gpt4calc()
        .args(args)
        .timeout(Duration::from_secs(20))
        .output()
        .expect("runs");
    let took = start.elapsed();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert_eq!(
        out.status.code(),
        Some(code),
        "args {args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        took < Duration::from_secs(10),
        "args {args:?} took {took:?}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
    (stdout, stderr)
}

/// A bad value: exit 1, nothing on stdout, one `error:` line holding every needle.
fn bad(args: &[&str], needles: &[&str]) {
    let (stdout, stderr) = run(args, 1);
    assert!(
        stdout.is_empty(),
        "stdout should be empty on error: {stdout}"
    );
    assert_eq!(stderr.lines().count(), 1, "want one line, got:\n{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "stderr lacks `{n}`:\n{stderr}");
    }
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
        &["--batch", "not an integer"],
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
