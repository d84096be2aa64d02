//! The binary as users and scripts see it: formats, exit codes, one-line errors.

mod common;

use common::gpt4calc;
use predicates::prelude::*;
use std::io::Write;

/// `run` with the arguments of one space-separated line (no argument holds a space).
fn run_words(line: &str, code: i32) -> (String, String) {
    run(&line.split_whitespace().collect::<Vec<_>>(), code)
}

/// Run with `args`, expect exit `code`, and return (stdout, stderr).
fn run(args: &[&str], code: i32) -> (String, String) {
    common::run_cli(args, code)
}

/// A bad input: exit 1, one line on stderr starting `error:` that contains every `needles`, no panic.
fn fails(args: &[&str], needles: &[&str]) {
    common::fails_cli(args, needles)
}

#[test]
fn default_sweep_prints_a_readable_table_within_120_columns() {
    let (stdout, stderr) = run(&["sweep", "--preset", "gpt4-8k", "--gpu", "h100"], 0);
    assert!(
        stdout.contains("TPOT") && stdout.contains("[ms]") && stdout.contains("$/1M"),
        "{stdout}"
    );
    let widest = stdout.lines().map(|l| l.chars().count()).max().unwrap();
    assert!(widest <= 120, "table is {widest} columns wide");
    assert!(
        stderr.contains("configurations evaluated")
            && stderr.contains("fit in memory")
            && stderr.contains("showing"),
        "{stderr}"
    );
}

#[test]
fn json_parses_with_schema_version_inputs_and_rows() {
    let (stdout, _) = run(&["sweep", "--format", "json", "--batch", "64,256"], 0);
    let doc: serde_json::Value =
        serde_json::from_str(&stdout).expect("stdout is one JSON document");
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["inputs"]["model"], "gpt4-8k");
    let rows = doc["results"].as_array().unwrap();
    assert!(!rows.is_empty());
    for field in gpt4calc::report::row::FIELDS {
        assert!(rows[0].get(field).is_some(), "row lacks {field}");
    }
    // Sorted cheapest first by default.
    let costs: Vec<f64> = rows
        .iter()
        .map(|r| r["usd_per_1m_output_tokens"].as_f64().unwrap())
        .collect();
    assert!(costs.windows(2).all(|w| w[0] <= w[1]), "{costs:?}");
}

#[test]
fn csv_has_the_contract_header_and_one_line_a_row() {
    let (stdout, _) = run(&["sweep", "--format", "csv", "--top", "5"], 0);
    let mut lines = stdout.lines();
    assert_eq!(
        lines.next().unwrap(),
        gpt4calc::report::row::FIELDS.join(",")
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 5);
    for r in rows {
        assert_eq!(
            r.split(',').count(),
            gpt4calc::report::row::FIELDS.len(),
            "{r}"
        );
        assert!(r.starts_with("gpt4-8k,h100,"), "{r}");
    }
}

#[test]
fn markdown_is_a_pipe_table() {
    let (stdout, _) = run(&["sweep", "--format", "markdown", "--top", "3"], 0);
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 5, "header, rule, 3 rows:\n{stdout}");
    assert!(lines.iter().all(|l| l.starts_with('|')), "{stdout}");
}

#[test]
fn require_that_nothing_meets_exits_3() {
    let (_, stderr) = run(
        &["sweep", "--require", "output_tokens_per_s_per_user>=1e9"],
        3,
    );
    assert!(stderr.contains("--require"), "{stderr}");
    run_words(
        "sweep --require output_tokens_per_s_per_user>=5 --require ttft_s<=2",
        0,
    );
}

#[test]
fn require_filters_rows() {
    let (stdout, _) = run_words(
        "sweep --format json --require batch>=256 --require decode_bound==memory",
        0,
    );
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    for r in doc["results"].as_array().unwrap() {
        assert!(r["batch"].as_u64().unwrap() >= 256);
        assert_eq!(r["decode_bound"], "memory");
    }
}

#[test]
fn nothing_fits_exits_3_and_all_shows_the_rows() {
    run(&["sweep", "--tp", "1", "--pp", "1"], 3);
    // --all prints them, and the exit code still says none fits.
    let (stdout, _) = run_words("sweep --tp 1 --pp 1 --all --format json", 3);
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        doc["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["fits"] == false)
    );
}

/// `estimate --explain` for GPT-4 (8k) on H100 with the given axes (space-separated flags).
fn explain_gpt4_on_h100(axes: &str) -> String {
    run_words(&format!("estimate -m gpt4-8k -g h100 --explain {axes}"), 0).0
}

#[test]
fn estimate_explains_where_time_and_memory_go() {
    let stdout = explain_gpt4_on_h100("--tp 8 --pp 16 --batch 512 --dtype fp8");
    for needle in [
        "experts read per MoE layer",
        "attention over KV",
        "TP all-reduces",
        "TPOT =",
        "TTFT =",
        "Memory on the heaviest GPU",
        "memory-bound",
    ] {
        assert!(
            stdout.contains(needle),
            "explain lacks `{needle}`:\n{stdout}"
        );
    }
}

#[test]
fn explain_shows_the_triton_kernels_row_tiles() {
    // gpt-oss-120b's MXFP4 experts on Hopper run on the Triton kernel, which multiplies whole
    // tiles (methodology §4.4): DEP4 at 375 sequences a rank gathers 1,500 tokens, 6,000 picks
    // over 32 local experts, so a tile of 128 rows; 32 experts × 128 rows = 4,096 multiplied.
    // B200 runs them on TRTLLM-gen, which states no tile.
    let explain = |gpu: &str| {
        run_words(
            &format!(
                "estimate -m gpt-oss-120b -g {gpu} --tp 1 --dp 4 --ep 4 --pp 1 --dtype int4 \
                 --dense-dtype bf16 --kv-dtype bf16 --input-len 1000 --output-len 1000 \
                 --batch 1500 --explain"
            ),
            0,
        )
        .0
    };
    let hopper = explain("h100");
    assert!(
        hopper.contains("multiplies whole tiles of 128 rows: 4096 rows"),
        "{hopper}"
    );
    let blackwell = explain("b200");
    assert!(!blackwell.contains("whole tiles"), "{blackwell}");
}

#[test]
fn explain_shows_what_llama4s_chunked_layers_read() {
    // Maverick at 1,024/8,192: its 36 chunked layers attend to 4,096 keys on average, 4,352 over
    // all 48 (methodology §4.5). TensorRT-LLM decodes them on a per-query-head kernel on Hopper
    // (5 query heads a KV head: 16,640 keys streamed), on its grouped kernel on Blackwell.
    let explain = |gpu: &str| {
        run_words(
            &format!(
                "estimate -m llama4-maverick -g {gpu} --tp 1 --dp 8 --ep 8 --dtype fp8 \
                 --kv-dtype fp8 --input-len 1024 --output-len 8192 --batch 512 --explain"
            ),
            0,
        )
        .0
    };
    let hopper = explain("h200");
    assert!(
        hopper.contains("36 of 48 layers attend within their 8192-token chunk, 4096 keys"),
        "{hopper}"
    );
    assert!(
        hopper.contains("read 5× there: 16640 keys streamed a sequence"),
        "{hopper}"
    );
    let blackwell = explain("b200");
    assert!(blackwell.contains("4352 keys a sequence"), "{blackwell}");
    assert!(!blackwell.contains("streamed"), "{blackwell}");
}

#[test]
fn explain_says_when_the_tp_group_spans_nodes() {
    let across = explain_gpt4_on_h100("--tp 16 --pp 8 --batch 64");
    assert!(
        across.contains("TP 16 spans 2 scale-up domains of 8 GPUs"),
        "{across}"
    );
    let inside = explain_gpt4_on_h100("--tp 8 --pp 8 --batch 64");
    assert!(!inside.contains("spans"), "{inside}");
}

#[test]
fn explain_puts_wide_ep_inside_an_nvl72_rack_on_nvlink_and_on_hgx_at_the_nics() {
    // DeepSeek-V3, DP32 EP32: one NVL72 rack holds the whole stage, so the token exchange stays
    // on NVLink; eight-GPU HGX B200 nodes split it over four nodes and their NICs.
    let run = |gpu: &str| {
        common::run_cli(
            &[
                "estimate",
                "-m",
                "deepseek-v3",
                "-g",
                gpu,
                "--dtype",
                "fp4",
                "--dp",
                "32",
                "--ep",
                "32",
                "--batch",
                "512",
                "--explain",
            ],
            0,
        )
        .0
    };
    let rack = run("gb200-nvl72");
    assert!(
        rack.contains(
            "the stage's 32 GPUs sit in one 72-GPU scale-up domain, so the exchange runs on NVLink"
        ),
        "{rack}"
    );
    assert!(rack.contains("gb200-nvl72 is uncalibrated"), "{rack}");
    let hgx = run("b200");
    assert!(
        hgx.contains("a stage spans 4 scale-up domains of 8, so its traffic to other domains leaves through each GPU's own NIC"),
        "{hgx}"
    );
    assert!(!hgx.contains("uncalibrated"), "{hgx}");
    // Across nodes a decode step runs DeepEP's low-latency kernels; inside the rack it does not.
    let low_latency = "decode steps: the low-latency kernels, one copy per routed expert";
    assert!(hgx.contains(low_latency), "{hgx}");
    assert!(!rack.contains(low_latency), "{rack}");
}

#[test]
fn estimate_that_does_not_fit_is_a_row_with_exit_3() {
    let (stdout, _) = run(&["estimate", "--format", "json"], 3);
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["results"][0]["fits"], false);
}

#[test]
fn estimate_takes_one_value_per_axis() {
    gpt4calc()
        .args(["estimate", "--tp", "1,2"])
        .assert()
        .code(2);
}

#[test]
fn piped_stdout_holds_only_data() {
    // assert_cmd pipes stdout: no progress bar, no ANSI escapes, no notes.
    let (stdout, stderr) = run(&["sweep", "--format", "csv", "--input-len", "2048,8192"], 0);
    assert!(!stdout.contains('\u{1b}'), "ANSI escape in stdout");
    assert!(
        stdout.lines().skip(1).all(|l| l.starts_with("gpt4-8k,")),
        "{stdout}"
    );
    assert!(
        stderr.contains("note: skipped"),
        "the over-long context note belongs on stderr: {stderr}"
    );
}

#[test]
fn unknown_preset_suggests_the_nearest_names() {
    fails(
        &["sweep", "--preset", "gpt4-8"],
        &["unknown model preset `gpt4-8`", "did you mean gpt4-8k"],
    );
    fails(
        &["sweep", "--gpu", "h10"],
        &["unknown gpu preset `h10`", "h100"],
    );
    fails(
        &["presets", "show", "h10"],
        &["unknown preset `h10`", "did you mean h100"],
    );
}

#[test]
fn a_missing_preset_file_is_named_as_a_file_not_an_unknown_name() {
    // `presets show ~/models/X/config.json` with a wrong path used to answer "unknown preset"
    // and list every built-in name; a path is read as `--preset` reads it.
    for (cmd, what) in [
        (
            &["presets", "show", "no-such-dir/config.json"][..],
            "preset",
        ),
        (
            &["sweep", "--preset", "no-such-dir/config.json"][..],
            "model preset",
        ),
    ] {
        fails(
            cmd,
            &[
                &format!("cannot read {what} file `no-such-dir/config.json`"),
                "No such file",
            ],
        );
    }
}

#[test]
fn malformed_toml_names_file_line_and_column() {
    let mut f = temp_toml();
    writeln!(
        f.1,
        "name = \"x\"\ndescription = \"d\"\nsource = \"s\"\n[model]\nlayers = = 3"
    )
    .unwrap();
    fails(&["sweep", "--preset", &f.0], &[&f.0, ":5:"]);
}

#[test]
fn unknown_key_in_a_preset_file_is_named() {
    let text = gpt4calc::presets::MODELS[0]
        .1
        .replace("layers = 120", "layers = 120\nlayerz = 3");
    let mut f = temp_toml();
    write!(f.1, "{text}").unwrap();
    fails(&["sweep", "--preset", &f.0], &["layerz"]);
}

#[test]
fn bad_numbers_are_rejected_with_the_field() {
    for (set, field) in [
        ("gpu.memory_gib=0", "gpu.memory_gib"),
        ("gpu.memory_gib=-80", "gpu.memory_gib"),
        ("gpu.memory_bw_tb_s=nan", "gpu.memory_bw_tb_s"),
        ("gpu.memory_bw_tb_s=inf", "gpu.memory_bw_tb_s"),
        ("gpu.efficiency.matmul=1.5", "gpu.efficiency.matmul"),
        ("model.layers=0", "model.layers"),
        ("model.layers=-3", "model.layers"),
        ("model.top_k=17", "model.top_k"),
    ] {
        fails(&["sweep", "--set", set], &[field]);
    }
}

#[test]
fn tp_must_divide_heads_and_ep_must_divide_experts() {
    fails(&["sweep", "--tp", "5"], &["--tp 5", "96 attention heads"]);
    fails(
        &["estimate", "--tp", "8", "--ep", "3"],
        &["--ep 3", "16 experts"],
    );
}

#[test]
fn an_axis_that_parses_to_nothing_is_an_error() {
    // A word, an empty item or no item where an axis of numbers belongs cannot be parsed: a
    // usage error (exit 2) naming the flag, on sweep and train alike (estimate's one value too).
    for args in [
        &["sweep", "--batch", ","][..],
        &["sweep", "--batch", "1,,2"],
        &["sweep", "--batch", "abc"],
        &["sweep", "--tp", "1..x"],
        &["train", "-m", "llama3-8b", "--gpus", "8", "--tp", "abc"],
        &["estimate", "--batch", "abc"],
    ] {
        let (_, err) = common::run_cli(args, 2);
        let flag = args[args.len() - 2];
        assert!(err.contains(flag), "{args:?}: {err}");
    }
    fails(&["sweep", "--batch", "64..8"], &["--batch", "empty"]);
    fails(&["sweep", "--tp", "0"], &["--tp"]);
    fails(&["sweep", "--dtype", "fp7"], &["--dtype", "fp7", "bf16"]);
}

#[test]
fn a_negative_or_zero_count_names_the_flag_and_what_is_allowed() {
    // `-1` used to read as an unknown flag ("unexpected argument '-1' found"), and a count of 0
    // printed clap's range `1..18446744073709551615`. Both now name the flag, the value and the
    // allowed values: a usage error (exit 2) for the syntax, exit 1 for a range.
    for (args, needles) in [
        (
            &["estimate", "--batch", "-1"][..],
            &["--batch", "-1", "negative"][..],
        ),
        (&["sweep", "--tp", "-2"], &["--tp", "-2", "negative"]),
        (&["sweep", "--top", "0"], &["--top", "at least 1"]),
        (&["sweep", "--top", "-3"], &["--top", "-3", "negative"]),
        (
            &["estimate", "--speculate", "65"],
            &["--speculate", "from 1 to 64"],
        ),
        (&["sweep", "--threads", "0"], &["--threads", "from 1 to"]),
    ] {
        let (out, err) = common::run_cli(args, 2);
        assert!(out.is_empty(), "{args:?}: {out}");
        for n in needles {
            assert!(err.contains(n), "{args:?}: {err}");
        }
        assert!(!err.contains("18446744073709551615"), "{args:?}: {err}");
        assert!(!err.contains("unexpected argument"), "{args:?}: {err}");
    }
    // A negative real number reaches the flag's own range check (exit 1).
    fails(&["estimate", "--rate", "-1"], &["--rate -1", "from 1e-6"]);
    fails(&["train", "--tokens", "-5"], &["--tokens -5", "from 1"]);
}

#[test]
fn train_recompute_modules_reach_the_row() {
    // Megatron-Core's recompute_modules: the row names them, and they cost step time. (DeepSeek-V3
    // on 64 H100 does not fit: exit 3, the row still printed.)
    let args = |extra: &[&'static str]| {
        let mut v = vec![
            "train",
            "-m",
            "deepseek-v3",
            "-g",
            "h100",
            "--gpus",
            "64",
            "--tp",
            "1",
            "--pp",
            "1",
            "--ep",
            "8",
            "--recompute",
            "none",
            "--global-batch-tokens",
            "262144",
            "--seq-len",
            "4096",
            "--format",
            "json",
        ];
        v.extend_from_slice(extra);
        v
    };
    let row = |extra: &[&'static str]| {
        let (out, _) = common::run_cli(&args(extra), 3);
        let d: serde_json::Value = serde_json::from_str(&out).unwrap();
        d["results"][0].clone()
    };
    let plain = row(&[]);
    let with = row(&["--recompute-modules", "mla_up_proj,moe_act"]);
    assert_eq!(plain["recompute_modules"], "none");
    assert_eq!(with["recompute_modules"], "moe_act,mla_up_proj");
    assert!(with["step_time_s"].as_f64().unwrap() > plain["step_time_s"].as_f64().unwrap());
    let (_, err) = common::run_cli(&args(&["--recompute-modules", "moe"]), 2);
    assert!(
        err.contains("--recompute-modules") && err.contains("`moe`"),
        "{err}"
    );
}

#[test]
fn unknown_set_key_and_sort_field_are_named() {
    fails(
        &["sweep", "--set", "model.expertz=32"],
        &["model.expertz", "experts"],
    );
    fails(&["sweep", "--set", "foo.bar=1"], &["foo.bar", "model."]);
    fails(&["sweep", "--sort", "tpot"], &["tpot", "tpot_s"]);
    fails(&["sweep", "--require", "tpot<1"], &["tpot"]);
}

#[test]
fn set_changes_the_answer() {
    let cost = |extra: &[&str]| -> f64 {
        let mut args = vec![
            "estimate", "--tp", "8", "--pp", "16", "--batch", "256", "--format", "json",
        ];
        args.extend_from_slice(extra);
        let (stdout, _) = run(&args, 0);
        let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        doc["results"][0]["usd_per_1m_output_tokens"]
            .as_f64()
            .unwrap()
    };
    let base = cost(&[]);
    let half = cost(&["--set", "gpu.price.usd_per_gpu_hour=1"]);
    gpt4calc::testutil::assert_close(half, base / 2.0, 1e-9);
}

#[test]
fn a_scoped_set_moves_only_the_preset_it_names() {
    let tpot = |args: &[&str]| -> f64 {
        let mut all = vec![
            "estimate", "--tp", "8", "--pp", "16", "--batch", "64", "--format", "json",
        ];
        all.extend_from_slice(args);
        let (stdout, _) = run(&all, 0);
        let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        doc["results"][0]["tpot_s"].as_f64().unwrap()
    };
    let base = tpot(&[]);
    let faster = tpot(&["--set", "h100:gpu.memory_bw_tb_s=4.8"]);
    assert!(faster < 0.9 * base, "{faster} vs {base}");
    // Scoped to the model by its name; the same override unscoped gives the same answer.
    let scoped = tpot(&["--set", "gpt4-8k:model.experts=32"]);
    let unscoped = tpot(&["--set", "model.experts=32"]);
    assert!(scoped > base && (scoped - unscoped).abs() < 1e-12);
    // Every command takes the syntax (this run does not fit: exit 3); a scope naming nothing
    // loaded is one clear error.
    run(
        &[
            "train",
            "--gpus",
            "1024",
            "--tp",
            "8",
            "--pp",
            "8",
            "--set",
            "h100:gpu.price.usd_per_gpu_hour=3",
        ],
        3,
    );
    run(
        &["presets", "show", "h100", "--set", "h100:gpu.memory_gib=96"],
        0,
    );
    fails(
        &["estimate", "--set", "h10:gpu.memory_gib=96"],
        &["h10", "did you mean h100"],
    );
    fails(
        &["sweep", "--set", "a100-40g:gpu.memory_gib=96"],
        &["a100-40g", "loaded", "h100"],
    );
    fails(
        &["train", "--set", "h100:model.experts=8"],
        &["gpu preset", "model.experts"],
    );
    fails(
        &["validate", "--set", "h1000:gpu.memory_gib=96"],
        &["h1000"],
    );
    fails(
        &["reproduce", "--set", "b200:gpu.memory_gib=96"],
        &["b200", "a100-40g", "h100"],
    );
}

#[test]
fn presets_list_and_show() {
    let (stdout, _) = run(&["presets", "list"], 0);
    for name in ["gpt4-8k", "gpt4-32k", "deepseek-v3", "a100-40g", "tpu-v4"] {
        assert!(stdout.contains(name), "{stdout}");
    }
    let (toml_text, _) = run(&["presets", "show", "gpt4-8k"], 0);
    assert!(
        toml_text.contains("[model]") && toml_text.contains("source ="),
        "{toml_text}"
    );
    let (json, _) = run(&["presets", "show", "gpt4-8k", "--format", "json"], 0);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    for k in [
        "total_params",
        "active_params",
        "attention_params",
        "params_per_expert",
        "flops_per_token",
        "kv_bytes_per_token",
    ] {
        assert!(doc["summary"][k].as_f64().unwrap() > 0.0, "{k}");
    }
    let (json32, _) = run_words(
        "presets show gpt4-8k --format json --set model.experts=32",
        0,
    );
    let doc32: serde_json::Value = serde_json::from_str(&json32).unwrap();
    assert!(
        doc32["summary"]["total_params"].as_f64().unwrap()
            > 1.9 * doc["summary"]["total_params"].as_f64().unwrap()
    );
    fails(&["presets", "show", "gpt5"], &["gpt5"]);
}

#[test]
fn help_and_version() {
    gpt4calc()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("sweep"));
    gpt4calc().arg("--version").assert().success();
}

/// A TOML file deleted when the returned handle (`.1`, which writes to it) is dropped.
fn temp_toml() -> (String, tempfile::NamedTempFile) {
    let file = tempfile::Builder::new()
        .prefix("gpt4calc-test-")
        .suffix(".toml")
        .tempfile()
        .unwrap();
    (file.path().to_string_lossy().into_owned(), file)
}

#[test]
fn train_prints_days_mfu_gpu_hours_cost_and_breakdown() {
    let args = [
        "train",
        "--preset",
        "gpt4-8k",
        "--gpu",
        "a100-40g",
        "--gpus",
        "25000",
        "--tp",
        "8",
        "--pp",
        "15",
        "--tokens",
        "13e12",
        "--global-batch-tokens",
        "60e6",
        "--seq-len",
        "8192",
    ];
    // The article's layout with ZeRO-1 does not fit 40 GB: printed, then exit 3.
    let (stdout, stderr) = run(&args, 3);
    for needle in [
        "days",
        "MFU",
        "GPU-hours",
        "cost",
        "pipeline bubble",
        "tensor-parallel collectives",
        "data-parallel sync",
        "DOES NOT FIT",
    ] {
        assert!(stdout.contains(needle), "lacks `{needle}`:\n{stdout}");
    }
    assert!(stderr.contains("40 of 25000 GPUs idle"), "{stderr}");
    let mut fitting = args.to_vec();
    fitting.extend(["--zero", "2", "--recompute", "full"]);
    let (stdout, _) = run(&fitting, 0);
    assert!(stdout.contains("→ fits"), "{stdout}");
}

#[test]
fn train_sweeps_and_formats() {
    let (stdout, stderr) = run_words(
        "train -m llama3-8b -g h100 --gpus 64 --zero 0,1,2,3 --recompute none,full --format json",
        0,
    );
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let rows = doc["results"].as_array().unwrap();
    assert!(rows.len() > 10);
    let days: Vec<f64> = rows
        .iter()
        .map(|r| r["train_days"].as_f64().unwrap())
        .collect();
    assert!(days.windows(2).all(|w| w[0] <= w[1]), "fastest first");
    for f in [
        "tflops_per_gpu",
        "hw_tflops_per_gpu",
        "hfu",
        "bubble_fraction",
        "gpu_hours",
        "cost_usd",
        "zero_stage",
        "dp",
    ] {
        assert!(rows[0].get(f).is_some(), "lacks {f}");
    }
    assert!(rows.iter().all(|r| r["fits"] == true));
    // Throughput per training GPU, as Megatron-Bridge and NeMo publish it.
    for r in rows {
        let per_gpu = r["tokens_per_s"].as_f64().unwrap() / r["gpus"].as_f64().unwrap();
        let got = r["tokens_per_s_per_gpu"].as_f64().unwrap();
        assert!((got / per_gpu - 1.0).abs() < 1e-12, "{got} vs {per_gpu}");
    }
    assert!(stderr.contains("configurations evaluated"), "{stderr}");
    let (csv, _) = run_words(
        "train -m llama3-8b -g h100 --gpus 64 --format csv --top 3",
        0,
    );
    assert_eq!(csv.lines().count(), 4);
    assert!(
        csv.starts_with("model,gpu,gpus,tp,pp,dp,ep,micro_batch"),
        "{csv}"
    );
    run_words(
        "train -m llama3-8b -g h100 --gpus 64 --require mfu>=0.99",
        3,
    );
}

/// Flags nothing would read are not silently dropped: the simulation's without `--rate` are a
/// usage error, the failure model's without `--gpu-mtbf-hours` get a note.
#[test]
fn flags_that_nothing_reads_are_refused_or_noted() {
    for line in [
        "estimate -m llama3-8b --requests 5",
        "estimate -m llama3-8b --seed 3",
        "sweep -m llama3-8b --step-budget 100",
    ] {
        let (_, stderr) = run_words(line, 2);
        assert!(stderr.contains("--rate"), "{line}: {stderr}");
    }
    let (_, stderr) = run_words(
        "train -m llama3-8b -g h100 --gpus 64 --tp 8 --pp 1 --restart-s 5 --checkpoint-write-s 5",
        0,
    );
    assert!(
        stderr.contains(
            "note: --checkpoint-write-s, --restart-s price failures only with --gpu-mtbf-hours"
        ),
        "{stderr}"
    );
}

/// `--all` prints the rows that do not fit, but when none fits the exit code still says so (3).
#[test]
fn all_rows_that_do_not_fit_still_exit_3() {
    let (stdout, stderr) = run_words(
        "sweep -m llama3-8b --set gpu.memory_gib=1 --all --format json",
        3,
    );
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let rows = doc["results"].as_array().unwrap();
    assert!(!rows.is_empty() && rows.iter().all(|r| r["fits"] == false));
    assert!(
        stderr.contains("no configuration fits in memory"),
        "{stderr}"
    );
    // A train sweep (not one pinned configuration, which exits 3 on its own path).
    let (_, stderr) = run_words(
        "train -m llama3-70b -g h100 --gpus 8 --tp 4,8 --pp 1 --zero 0,1 --all --format csv",
        3,
    );
    assert!(
        stderr.contains("no configuration fits in memory (the rows --all shows do not"),
        "{stderr}"
    );
    // Rows that fit but fail --require do not count: none that passes fits.
    let (_, stderr) = run_words(
        "sweep -m llama3-70b --tp 1,8 --pp 1 --dtype fp16 --require tp==1 --all",
        3,
    );
    assert!(
        stderr.contains("no configuration that satisfies every --require fits in memory"),
        "{stderr}"
    );
    run_words("sweep -m llama3-8b --all --format csv", 0);
}

/// `--zero` takes an inclusive range of stages as well as a list (its help says `LIST|A..B`).
#[test]
fn train_zero_takes_a_range_of_stages() {
    let (stdout, _) = run_words(
        "train -m llama3-8b -g h100 --gpus 64 --tp 8 --pp 1 --zero 0..3 --all --format json",
        0,
    );
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["inputs"]["zero"], serde_json::json!([0, 1, 2, 3]));
    let mut stages: Vec<u64> = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["zero_stage"].as_u64().unwrap())
        .collect();
    stages.sort_unstable();
    stages.dedup();
    assert_eq!(stages, [0, 1, 2, 3]);
    fails(&["train", "--zero", "3..1"], &["--zero `3..1`", "1..3"]);
    fails(
        &["train", "--zero", "1..5"],
        &["--zero `1..5`", "0, 1, 2 or 3"],
    );
    // A malformed range is a usage error (exit 2), as for the other axes.
    let (_, stderr) = run_words("train --zero ..3", 2);
    assert!(
        stderr.contains("`..3`: an empty item or range end"),
        "{stderr}"
    );
}

#[test]
fn train_bad_inputs() {
    fails(&["train", "--zero", "4"], &["--zero", "0, 1, 2 or 3"]);
    fails(
        &["train", "--recompute", "some"],
        &["--recompute", "selective"],
    );
    fails(
        &[
            "train", "-g", "a100-40g", "--dtype", "fp8", "--tp", "8", "--pp", "8",
        ],
        &["fp8"],
    );
    fails(
        &["train", "--mfu", "2", "--tp", "8", "--pp", "8"],
        &["--mfu"],
    );
    fails(&["train", "--sort", "days"], &["days", "train_days"]);
}

#[test]
fn validate_prints_cases_and_summary() {
    let (stdout, _) = run(&["validate"], 0);
    for needle in ["megatron-t1-7.5b", "median |err|", "throughput", "gpu h100"] {
        assert!(stdout.contains(needle), "lacks `{needle}`");
    }
    let (json, _) = run(&["validate", "--format", "json"], 0);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["schema_version"], 1);
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 57);
    for c in cases {
        for k in ["id", "metric", "actual", "predicted", "error"] {
            assert!(c.get(k).is_some(), "case lacks {k}");
        }
        // Every shipped case evaluates (the accuracy issue's coverage target).
        assert!(
            c["predicted"].as_f64().is_some(),
            "{} not evaluated",
            c["id"]
        );
    }
    assert!(
        doc["summary"]["by_family"]["throughput"]["median_abs_error"]
            .as_f64()
            .is_some()
    );
}

#[test]
fn validate_runs_a_case_file() {
    let mut f = temp_toml();
    writeln!(
        f.1,
        r#"[[case]]
id = "mine"
source = "a test"
kind = "inference"
model = "llama3-8b"
gpu = "h100"
dtype = "bf16"
tp = 1
pp = 1
batch = 1
input_len = 128
output_len = 128
mode = "fixed"
metric = "tpot_s"
value = 0.01
[[case]]
id = "broken"
source = "a test"
kind = "inference"
model = "nope"
gpu = "h100"
dtype = "bf16"
input_len = 1
output_len = 1
metric = "tpot_s"
value = 1.0"#
    )
    .unwrap();
    let (json, _) = run(&["validate", "--cases", &f.0, "--format", "json"], 0);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(doc["cases"][0]["predicted"].as_f64().unwrap() > 0.0);
    assert!(doc["cases"][1]["predicted"].is_null());
    assert!(
        doc["cases"][1]["reason"]
            .as_str()
            .unwrap()
            .contains("unknown model preset")
    );
    let mut bad = temp_toml();
    writeln!(bad.1, "[[case]]\nid = 3").unwrap();
    fails(&["validate", "--cases", &bad.0], &[&bad.0]);
}

/// A case's draft-step ratio may be written as a number or as its text: the same prediction.
#[test]
fn a_case_draft_ratio_is_a_number_or_its_text() {
    let predicted = |draft: &str| {
        let mut f = temp_toml();
        writeln!(
            f.1,
            "[[case]]\nid = \"c\"\nsource = \"t\"\nkind = \"inference\"\nmodel = \"llama3-70b\"\ngpu = \"h100\"\ndtype = \"fp8\"\ntp = 4\nbatch = 8\ninput_len = 512\noutput_len = 256\nspeculate = 3\ndraft = {draft}\nmetric = \"tpot_s\"\nvalue = 0.01"
        )
        .unwrap();
        let (json, _) = run(&["validate", "--cases", &f.0, "--format", "json"], 0);
        let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
        doc["cases"][0]["predicted"].as_f64().unwrap()
    };
    let (number, text) = (predicted("0.25"), predicted("\"0.25\""));
    assert_eq!(number.to_bits(), text.to_bits());
    // And the ratio is read: a dearer draft step gives another TPOT.
    assert_ne!(number.to_bits(), predicted("0.5").to_bits());
}

#[test]
fn a_case_field_out_of_range_refuses_the_file_naming_case_field_and_range() {
    // Checked when the file is loaded, with the ranges of the flags of the same names: one line,
    // exit 1, no case evaluated. A value too small to divide by (subnormal) is refused too, since
    // the error ratio would be infinite.
    let base = |extra: &str, value: &str| {
        format!(
            "[[case]]\nid = \"c\"\nsource = \"t\"\nkind = \"inference\"\nmodel = \"llama3-8b\"\ngpu = \"h100\"\ndtype = \"bf16\"\ninput_len = 128\noutput_len = 128\nmetric = \"tpot_s\"\nvalue = {value}\n{extra}"
        )
    };
    for (extra, value, needles) in [
        (
            "batch = 0",
            "0.01",
            &["case `c`", "batch = 0", "from 1 to"][..],
        ),
        ("tp = 0", "0.01", &["tp = 0", "from 1 to"]),
        (
            "mode = \"bogus\"",
            "0.01",
            &["mode = \"bogus\"", "max-throughput"],
        ),
        (
            "speculate = 100",
            "0.01",
            &["speculate = 100", "from 1 to 64"],
        ),
        (
            "batch = 1\nprefill_chunk = 0",
            "0.01",
            &["prefill_chunk = 0", "from 1 to"],
        ),
        (
            "batch = 1",
            "1e-320",
            &["value = 1e-320", "from 1e-12 to 1e30"],
        ),
        // A tiny but normal value used to print a 300-digit error and an infinite summary.
        (
            "batch = 1",
            "2.3e-308",
            &["value = 2.3e-308", "from 1e-12 to 1e30"],
        ),
        ("batch = 1", "1.7e308", &["value = 1.7e308", "from 1e-12"]),
        // Text fields with a syntax used to leave the case unevaluated (exit 0) instead.
        (
            "batch = 1\ndisaggregate = \"0:1\"",
            "0.01",
            &["disaggregate = `0:1`", "from 1 to 65,536"],
        ),
        (
            "batch = 1\nrecompute_modules = [\"zzz\"]",
            "0.01",
            &["recompute_modules:", "zzz"],
        ),
        (
            "batch = 1\ncuda_graph_scope = [\"attn\"]",
            "0.01",
            &["`cuda_graph_scope` is a training case's field"],
        ),
        (
            "batch = 1\nsplit = \"x\"",
            "0.01",
            &["split = \"x\"", "calibration or holdout"],
        ),
        (
            "batch = 1\nacceptance = 0.5",
            "0.01",
            &["`acceptance` and `draft` need `speculate`"],
        ),
        (
            "batch = 1\nspeculate = 2\ndraft = \"zzz\"",
            "0.01",
            &[
                "draft = \"zzz\"",
                "\"mtp\" or a draft-step ratio",
                "from 0 to 10",
            ],
        ),
        // A ratio as a number takes --draft-ratio's range, as its text does.
        (
            "batch = 1\nspeculate = 2\ndraft = 20",
            "0.01",
            &["draft = 20", "from 0 to 10"],
        ),
        (
            "batch = 1\nspeculate = 2\ndraft = true",
            "0.01",
            &["`draft`", "\"mtp\" or a draft-step ratio (a number)"],
        ),
        // A `set` key outside model. and gpu. used to be ignored, the case run without it.
        (
            "batch = 1\nset = [\"foo=1\"]",
            "0.01",
            &["case `c`", "set:", "unknown key `foo`", "model."],
        ),
        (
            "batch = 1\nset = [\"novalue\"]",
            "0.01",
            &["case `c`", "set:"],
        ),
        // A field the case does not read used to be ignored, the prediction made without it.
        (
            "batch = 1\nseq_len = 1",
            "0.01",
            &["`seq_len` is a training case's field"],
        ),
        (
            "batch = 1\ngpus = 3",
            "0.01",
            &["`gpus` on a serving case", "a fixed case takes its layout"],
        ),
        (
            "batch = 1\ninteractivity = 5",
            "0.01",
            &["`interactivity` is the floor of a frontier search"],
        ),
        (
            "mode = \"max-throughput\"\nbatch = 4",
            "0.01",
            &[
                "`batch` is a fixed point's",
                "a max-throughput case searches",
            ],
        ),
        // Combinations refused only when the case ran used to leave it unevaluated (exit 0).
        (
            "batch = 1\nrequests = 100",
            "0.01",
            &["`requests` is a max-throughput run's"],
        ),
        (
            "mode = \"max-throughput\"\nconcurrency = 8",
            "0.01",
            &["`concurrency` is a fixed point's"],
        ),
        (
            "batch = 1\nconcurrency = 8",
            "0.01",
            &["state `batch` or `concurrency`, not both"],
        ),
        (
            "batch = 1\nzero3_fetch = \"block\"",
            "0.01",
            &["`zero3_fetch` is a training case's field"],
        ),
    ] {
        let mut f = temp_toml();
        writeln!(f.1, "{}", base(extra, value)).unwrap();
        fails(&["validate", "--cases", &f.0], needles);
    }
    let train = "[[case]]\nid = \"t\"\nsource = \"t\"\nkind = \"training\"\nmodel = \"llama3-8b\"\ngpu = \"h100\"\ndtype = \"bf16\"\ngpus = 8\nmetric = \"mfu\"\nvalue = 0.4\n";
    for (extra, needles) in [
        ("zero = 4", &["zero = 4", "0, 1, 2 or 3"][..]),
        (
            "recompute = \"bogus\"",
            &["recompute = \"bogus\"", "none, selective or full"],
        ),
        ("tokens = nan", &["tokens = NaN", "finite"]),
        (
            "batch = 4",
            &["`batch` is a serving case's field", "kind = \"training\""],
        ),
        (
            "acceptance = 0.5",
            &["`acceptance` is a serving case's field"],
        ),
        (
            "recompute = \"full\"\nrecompute_modules = [\"moe_act\"]",
            &["recompute_modules apply beside recompute none or selective"],
        ),
        (
            "cuda_graph_scope = [\"attn\", \"experts\"]",
            &["cuda_graph_scope:", "`experts`: not a scope"],
        ),
        (
            "cuda_graph_scope = [\"full_iteration\"]",
            &["cuda_graph_scope:", "host_op_scale = 0"],
        ),
        (
            "recompute = \"full\"\ncuda_graph_scope = [\"moe_router\"]",
            &["cuda_graph_scope applies beside recompute none or selective"],
        ),
    ] {
        let mut f = temp_toml();
        writeln!(f.1, "{train}{extra}").unwrap();
        fails(&["validate", "--cases", &f.0], needles);
    }
}

#[test]
fn a_case_prices_its_prefill_with_the_budget_it_states_as_the_flag_does() {
    // `prefill_chunk` is the engine's prompt-token budget per iteration, as `--prefill-chunk`:
    // a case that states it answers what `estimate --prefill-chunk` answers. DeepSeek-V3 fp8 on
    // eight H200s, one 8,000-token prompt: a budget of 16,384 runs it in one pass (the expert
    // weights read once), the default 2,048 in four chunks, which reads them four times.
    let case = |extra: &str| {
        format!(
            "[[case]]\nid = \"c\"\nsource = \"t\"\nkind = \"inference\"\nmodel = \"deepseek-v3\"\ngpu = \"h200\"\ndtype = \"fp8\"\ntp = 8\nbatch = 1\ninput_len = 8000\noutput_len = 100\nmode = \"fixed\"\nmetric = \"ttft_s\"\nvalue = 0.5\n{extra}"
        )
    };
    let predicted = |extra: &str| {
        let mut f = temp_toml();
        writeln!(f.1, "{}", case(extra)).unwrap();
        let (json, _) = run(&["validate", "--cases", &f.0, "--format", "json"], 0);
        let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
        doc["cases"][0]["predicted"].as_f64().unwrap()
    };
    let estimated = |chunk: &str| {
        let (json, _) = run_words(
            &format!(
                "estimate -m deepseek-v3 -g h200 --dtype fp8 --tp 8 --batch 1 --input-len 8000 --output-len 100 --prefill-chunk {chunk} --format json"
            ),
            0,
        );
        let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
        doc["results"][0]["ttft_s"].as_f64().unwrap()
    };
    let one_pass = predicted("prefill_chunk = 16384");
    let chunked = predicted("");
    gpt4calc::testutil::assert_close(one_pass, estimated("16384"), 1e-9);
    gpt4calc::testutil::assert_close(chunked, estimated("2048"), 1e-9);
    assert!(one_pass < 0.9 * chunked, "{one_pass} vs {chunked}");
}

#[test]
fn kv_sharding_by_batch_lifts_the_head_count_limit_and_shrinks_the_cache() {
    // PaLM-540B has 48 query heads and one KV head (multi-query); fp8 over TP × PP 8 fits H100s.
    let args = |tp: &'static str, sharding: &'static str| {
        let mut a = vec!["estimate", "-m", "palm-540b", "-g", "h100", "--pp", "8"];
        a.extend(["--dtype", "fp8", "--batch", "256", "--input-len", "1024"]);
        a.extend(["--output-len", "128", "--format", "json", "--tp", tp]);
        a.extend(["--kv-sharding", sharding]);
        a
    };
    let kv = |tp, sharding| {
        let (json, _) = run(&args(tp, sharding), 0);
        let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
        doc["results"][0]["kv_bytes_per_gpu"].as_f64().unwrap()
    };
    fails(
        &args("32", "heads"),
        &["--tp 32", "48 attention heads", "--kv-sharding batch"],
    );
    // By heads every GPU of TP 8 holds the one KV head of every sequence; by sequence 1/8 of
    // them, and 1/32 at TP 32 (which need not divide the 48 heads).
    let (heads8, batch8, batch32) = (kv("8", "heads"), kv("8", "batch"), kv("32", "batch"));
    assert!((heads8 / batch8 - 8.0).abs() < 1e-9, "{heads8} / {batch8}");
    assert!(
        (batch8 / batch32 - 4.0).abs() < 1e-9,
        "{batch8} / {batch32}"
    );
    let (_, usage) = run(&["estimate", "--kv-sharding", "rows"], 2);
    assert!(usage.contains("heads, batch"), "{usage}");
}

#[test]
fn pareto_rows_are_mutually_non_dominated() {
    let (stdout, stderr) = run_words(
        "sweep -m llama3-70b -g h100 --batch 1..4096 --dtype bf16,fp8 --pareto --format json",
        0,
    );
    assert!(stderr.contains("frontier"), "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let pts: Vec<(f64, f64)> = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["output_tokens_per_s_per_gpu"].as_f64().unwrap(),
                r["output_tokens_per_s_per_user"].as_f64().unwrap(),
            )
        })
        .collect();
    assert!(pts.len() >= 3, "a frontier of {} points", pts.len());
    for (i, a) in pts.iter().enumerate() {
        for (j, b) in pts.iter().enumerate() {
            if i != j {
                assert!(!(a.0 >= b.0 && a.1 >= b.1), "{a:?} dominates {b:?}");
            }
        }
    }
}

#[test]
fn speculation_and_batching_flags() {
    let (stdout, _) = run_words(
        "estimate -m gpt4-8k --tp 8 --pp 16 --dtype fp8 --batch 2048 --speculate 4 --acceptance 0.8 --explain",
        0,
    );
    assert!(
        stdout.contains("speculative decoding: γ = 4")
            && stdout.contains("3.36 tokens per verification"),
        "{stdout}"
    );
    let (stdout, _) = run_words(
        "estimate -m gpt4-8k --tp 8 --pp 16 --dtype fp8 --batch 64 --speculate 4 --draft llama3-8b --format json",
        0,
    );
    assert!(stdout.contains("\"tpot_s\""));
    fails(&["estimate", "--draft-ratio", "0.1"], &["--speculate"]);
    fails(
        &[
            "estimate",
            "--tp",
            "8",
            "--pp",
            "16",
            "--speculate",
            "4",
            "--acceptance",
            "1.5",
        ],
        &["--acceptance"],
    );
    let (stdout, _) = run_words(
        "estimate -m llama3-70b --tp 8 --batch 64 --batching static --output-len-dist geometric --explain",
        0,
    );
    assert!(stdout.contains("useful"), "{stdout}");
}

#[test]
fn rate_simulates_estimates_and_sweep_rows() {
    let (stdout, _) = run_words(
        "estimate -m llama3-70b --tp 8 --batch 64 --dtype fp8 --rate 5 --requests 200",
        0,
    );
    assert!(
        stdout.contains("TTFT [s]:  p50") && stdout.contains("Simulated 200 requests"),
        "{stdout}"
    );
    let (json, _) = run_words(
        "sweep -m llama3-70b --dtype fp8 --batch 64 --rate 5 --requests 200 --format json --top 3",
        0,
    );
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    for r in doc["results"].as_array().unwrap() {
        assert_eq!(r["simulation"]["completed"], 200);
        assert!(r["simulation"]["ttft_s"]["p99"].as_f64().unwrap() > 0.0);
    }
    fails(&["estimate", "--rate", "0"], &["--rate"]);
    // CSV carries the simulation in columns named by their JSON path, estimate's row as a
    // sweep's rows.
    let (csv, _) = run_words(
        "estimate -m llama3-8b --batch 8 --rate 2 --requests 50 --format csv",
        0,
    );
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    let at = |f: &str| header.iter().position(|h| *h == f).unwrap();
    assert_eq!(row[at("simulation.completed")], "50");
    assert!(row[at("simulation.tpot_s.p50")].parse::<f64>().unwrap() > 0.0);
    // One column for each number of the JSON's simulation, no more.
    let (json, _) = run_words(
        "estimate -m llama3-8b --batch 8 --rate 2 --requests 50 --format json",
        0,
    );
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    fn leaves(prefix: &str, v: &serde_json::Value, out: &mut Vec<String>) {
        match v.as_object() {
            Some(o) => o
                .iter()
                .for_each(|(k, x)| leaves(&format!("{prefix}.{k}"), x, out)),
            None => out.push(prefix.to_string()),
        }
    }
    let mut want = Vec::new();
    leaves("simulation", &doc["results"][0]["simulation"], &mut want);
    let mut got: Vec<String> = header
        .iter()
        .filter(|h| h.starts_with("simulation."))
        .map(ToString::to_string)
        .collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    // With --rate every JSON row has the field: null where a row is not simulated (here the
    // ones that do not fit, and those beyond the first 20).
    let (json, _) = run_words(
        "sweep -m llama3-70b --tp 1,2,4,8 --pp 1,2 --batch 1..1024 --rate 1 --requests 20 --all --format json",
        0,
    );
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let rows = doc["results"].as_array().unwrap();
    assert!(rows.iter().all(|r| r.get("simulation").is_some()));
    let simulated = rows.iter().filter(|r| !r["simulation"].is_null()).count();
    assert!(
        simulated > 0 && simulated < rows.len(),
        "{simulated} of {}",
        rows.len()
    );
    // One output token: no TPOT to report, null rather than 0.
    let (json, _) = run_words(
        "estimate -m llama3-8b --output-len 1 --rate 5 --requests 20 --format json",
        0,
    );
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(doc["summary"]["simulation"]["tpot_s"].is_null(), "{json}");
    assert!(doc["results"][0]["simulation"]["tpot_s"].is_null());
    // estimate's inputs name the serving modes in force, as sweep's do.
    let (json, _) = run_words(
        "estimate --tp 8 --pp 16 --speculate 4 --acceptance 0.5 --output-len-dist geometric --redundant-experts 16 --format json",
        0,
    );
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["inputs"]["redundant_experts"], 16);
    assert_eq!(doc["inputs"]["output_len_dist"], "geometric");
    assert!(
        doc["inputs"]["speculation"].is_object(),
        "{}",
        doc["inputs"]
    );
    // The simulation runs one aggregated replica: with disaggregated pools it would put every
    // prefill between the decode pool's steps, so the two are a usage error (exit 2).
    let (_, stderr) = run(
        &[
            "estimate",
            "-m",
            "llama3-70b",
            "--tp",
            "8",
            "--disaggregate",
            "1:1",
            "--rate",
            "5",
        ],
        2,
    );
    assert!(
        stderr.contains("'--disaggregate <P:D>' cannot be used with '--rate"),
        "{stderr}"
    );
}

#[test]
fn reproduce_prints_claims() {
    let (stdout, _) = run(&["reproduce"], 0);
    assert!(
        stdout.contains("total-params")
            && stdout.contains("reproduced")
            && stdout.contains("rows:"),
        "{stdout}"
    );
    let (json, _) = run(&["reproduce", "--format", "json"], 0);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["schema_version"], 1);
    for c in doc["claims"].as_array().unwrap() {
        for k in [
            "id",
            "claim",
            "seed_value",
            "computed_value",
            "unit",
            "ratio",
            "verdict",
            "explanation",
            "section",
            "tolerance",
            "computed_with_article_input",
        ] {
            assert!(c.get(k).is_some(), "claim lacks {k}");
        }
    }
    fails(&["reproduce", "--set", "model.expertz=3"], &["expertz"]);
    fails(
        &["reproduce", "--set", "article.reading_speed=3"],
        &["reading_speed", "reading_tok_s"],
    );
    // Inputs that break the article's layouts are one clear error, not a panic.
    fails(
        &["reproduce", "--set", "article.a100_gpus=10"],
        &["training layout", "--gpus 10"],
    );
    fails(
        &["reproduce", "--set", "article.inference_tp=7"],
        &["serving layout", "96"],
    );
    fails(
        &["reproduce", "--set", "article.small_batch=0.5"],
        &["small_batch", "whole number"],
    );
    fails(
        &["reproduce", "--set", "source.training_tokens=1e13"],
        &["article.training_tokens"],
    );
    // An input what-if moves the rows that read it.
    let (csv, _) = run(
        &[
            "reproduce",
            "--format",
            "csv",
            "--set",
            "article.a100_usd_per_hour=2",
        ],
        0,
    );
    let line = csv
        .lines()
        .find(|l| l.starts_with("price-a100,"))
        .unwrap()
        .to_string();
    let (base, _) = run(&["reproduce", "--format", "csv"], 0);
    assert_ne!(
        line,
        base.lines().find(|l| l.starts_with("price-a100,")).unwrap()
    );
}

#[test]
fn markdown_tables_keep_their_columns() {
    // A `|` inside a cell (the summary's "median |err|") must be escaped, or the table breaks.
    let (md, _) = run(&["validate", "--format", "markdown"], 0);
    let cells = |line: &str| line.replace("\\|", "").matches('|').count();
    for table in md.split("\n\n").filter(|t| t.trim_start().starts_with('|')) {
        let mut lines = table.lines().filter(|l| l.starts_with('|'));
        let header = cells(lines.next().unwrap());
        for l in lines {
            assert_eq!(cells(l), header, "{l}");
        }
    }
}

#[test]
fn a_bad_all_reduce_shape_is_one_clear_error() {
    let h100 = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/presets/gpus/h100.toml"
    ))
    .unwrap();
    let broken = h100.replacen(
        "gpus = 8\nbytes = [512, 1024,",
        "gpus = 8\nbytes = [1024, 512,",
        1,
    );
    assert_ne!(broken, h100, "the preset's 8-GPU shape moved");
    let mut f = temp_toml();
    write!(f.1, "{broken}").unwrap();
    fails(
        &["estimate", "--gpu", &f.0],
        &["gpu.all_reduce_shape[2].bytes", "increasing"],
    );
}

#[test]
fn a_request_overhead_shows_in_ttft_and_a_negative_one_is_one_clear_error() {
    let args = |set: &'static str| {
        vec![
            "estimate",
            "-m",
            "llama3-70b",
            "-g",
            "h100",
            "--tp",
            "8",
            "--batch",
            "1",
            "--format",
            "json",
            "--set",
            set,
        ]
    };
    let ttft = |set: &'static str| -> f64 {
        let (out, _) = run(&args(set), 0);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["results"][0]["ttft_s"].as_f64().expect("ttft_s")
    };
    let base = ttft("gpu.overheads.per_request_us=0");
    let slow = ttft("gpu.overheads.per_request_us=50000");
    assert!((slow - base - 0.05).abs() < 1e-9, "{base} → {slow}");
    fails(
        &args("gpu.overheads.per_request_us=-1"),
        &["gpu.overheads.per_request_us", "-1", "from 0 to"],
    );
}

#[test]
fn attention_data_parallel_layouts_in_rows_and_errors() {
    // DEP8: the layout's name and degrees in JSON; the table shows it compactly.
    let (json, _) = run_words(
        "estimate -m deepseek-v3 -g h200 --dtype fp8 --dp 8 --ep 8 --batch 1024 --format json",
        0,
    );
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let row = &doc["results"][0];
    assert_eq!(row["layout"], "DP8 EP8");
    assert_eq!(row["prefill_layout"], "DP8 EP8");
    assert_eq!((row["tp"].as_u64(), row["dp"].as_u64()), (Some(1), Some(8)));
    assert_eq!(row["gpus"], 8);
    assert!(row["decode_tokens_per_s_per_gpu"].as_f64().unwrap() > 0.0);
    assert!(row["input_tokens_per_s_per_gpu"].as_f64().unwrap() > 0.0);
    let (table, _) = run_words(
        "estimate -m deepseek-v3 -g h200 --dtype fp8 --dp 8 --ep 8 --batch 1024 --explain",
        0,
    );
    assert!(table.contains("DP8 EP8"), "{table}");
    assert!(table.contains("MoE dispatch"), "{table}");
    // Bad degrees: one clear line naming the flag and what is allowed.
    fails(
        &["estimate", "-m", "deepseek-v3", "--dp", "8", "--ep", "3"],
        &["--ep 3", "256 experts"],
    );
    // A wide EP group that does not divide the experts is told how many redundant experts fit
    // it: 256 + 32 = 288 = 4 × 72.
    fails(
        &["estimate", "-m", "deepseek-v3", "--dp", "72", "--ep", "72"],
        &[
            "--ep 72",
            "256 experts",
            "--redundant-experts 32",
            "288 expert slots",
        ],
    );
    fails(&["estimate", "--dp", "0"], &["--dp 0", "from 1 to 65,536"]);
    fails(
        &[
            "estimate",
            "-m",
            "deepseek-v3",
            "--dp",
            "8",
            "--ep",
            "8",
            "--redundant-experts",
            "4",
        ],
        &["--ep 8", "260 expert slots"],
    );
    fails(
        &["estimate", "-m", "llama3-8b", "--redundant-experts", "2"],
        &["--redundant-experts 2", "no routed experts"],
    );
    // An EP degree that does not divide the stage is skipped with a note (exit 3).
    let (_, err) = run_words("estimate -m deepseek-v3 --dp 2 --ep 4", 3);
    assert!(err.contains("does not divide"), "{err}");
}

#[test]
fn a_disaggregated_prefill_pool_takes_its_own_layout() {
    let line = "estimate -m deepseek-v3 -g h200 --dtype fp8 --dp 16 --ep 16 --batch 4096 \
                --disaggregate 1:2 --prefill-dp 8 --format json";
    let (json, _) = run_words(line, 0);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let row = &doc["results"][0];
    assert_eq!(row["layout"], "DP16 EP16");
    // Experts spanning the decode stage keep spanning the prefill one.
    assert_eq!(row["prefill_layout"], "DP8 EP8");
    assert_eq!(row["gpus"], 8 + 2 * 16);
    // --prefill-* without --disaggregate is a usage error.
    let (_, err) = run_words("estimate --prefill-dp 8", 2);
    assert!(err.contains("--disaggregate"), "{err}");
    let (table, _) = run_words(&line.replace("--format json", ""), 0);
    assert!(table.contains("DP16 EP16 (prefill DP8 EP8)"), "{table}");
}

#[test]
fn sweeps_explore_attention_data_parallel_layouts_for_moe_models_only() {
    let (json, _) = run_words(
        "sweep -m deepseek-v3 -g h200 --dtype fp8 --format json --top 400",
        0,
    );
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        doc["inputs"]["dp"],
        serde_json::json!([1, 2, 4, 8, 16, 32, 64])
    );
    let rows = doc["results"].as_array().unwrap();
    assert!(rows.iter().any(|r| r["dp"].as_u64() > Some(1)));
    assert!(rows.iter().any(|r| r["dp"] == 1));
    // With dp > 1 the default EP spans the stage (up to the experts).
    for r in rows.iter().filter(|r| r["dp"].as_u64() > Some(1)) {
        let stage = r["tp"].as_u64().unwrap() * r["dp"].as_u64().unwrap();
        assert_eq!(r["ep"].as_u64().unwrap(), stage.min(256), "{r}");
    }
    let (json, _) = run_words("sweep -m llama3-70b --format json --top 50", 0);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["inputs"]["dp"], serde_json::json!([1]));
}

#[test]
fn validate_runs_the_moe_suite_with_its_splits() {
    let (json, _) = run_words("validate --suite moe --format json", 0);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 58, "{}", cases.len());
    assert!(cases.iter().all(|c| c["suite"] == "moe"));
    for split in ["calibration", "holdout"] {
        assert!(doc["summary"]["by_split"][split]["cases"].as_u64() > Some(10));
    }
    let (table, _) = run_words("validate", 0);
    assert!(table.contains("suite moe") && table.contains("suite public"));
    let (_, err) = run_words("validate --suite moe --cases x.toml", 2);
    assert!(err.contains("cannot be used with"), "{err}");
}

#[test]
fn a_wrong_type_in_a_preset_file_names_the_line_and_the_key() {
    let mut f = temp_toml();
    writeln!(
        f.1,
        "name = \"m\"\ndescription = \"d\"\nsource = \"s\"\n[model]\nlayers = \"many\"\nd_model = 4096"
    )
    .unwrap();
    fails(
        &["presets", "show", &f.0],
        &[
            &format!("{}:5:10: `layers`", f.0),
            "expected a whole number",
        ],
    );
    // The same words for --set, without serde's Rust type names.
    for (set, needle) in [
        ("model.d_model=1.5", "expected a whole number"),
        ("model.d_model=abc", "expected a whole number"),
        ("gpu.memory_gib=abc", "expected a number"),
    ] {
        let (_, err) = common::run_cli(&["estimate", "--set", set], 1);
        assert!(err.contains(needle), "{set}: {err}");
        for rust in ["u64", "u32", "f64", "usize"] {
            assert!(!err.contains(&format!("expected {rust}")), "{set}: {err}");
        }
    }
}

#[test]
fn odd_set_keys_and_plot_names_get_a_clear_message() {
    // A key naming a whole table lists its fields (not serde's "expected struct Price"); a
    // --plot name that is not .svg is a usage error (the chart is SVG).
    fails(
        &["sweep", "--set", "gpu.price=5"],
        &["`gpu.price` is a table", "gpu.price.usd_per_gpu_hour"],
    );
    let (_, err) = common::run_cli(&["sweep", "--plot", "chart.png"], 2);
    assert!(err.contains("chart.png") && err.contains(".svg"), "{err}");
}

/// The README's rack-scale tables (GB200 NVL72 against H200, DeepSeek-V3 at ≥ 50 tokens/s per
/// user; GPT-4 at ≥ 20 on four systems): their commands give their figures, so the tables cannot
/// drift from the model unnoticed.
#[test]
fn the_readme_rack_scale_table_matches_its_commands() {
    let readme = include_str!("../README.md");
    // The best row of `sweep MODEL -g GPU --dtype DTYPE --batch 1..4096 EXTRA… --top 1`: its
    // layout, output tokens/s per GPU and $ per 1M output tokens.
    let best = |model: &str, gpu: &str, dtype: &str, extra: &[&str]| -> (String, f64, f64) {
        let mut args = vec![
            "sweep", "-m", model, "-g", gpu, "--dtype", dtype, "--batch", "1..4096",
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--top", "1", "--format", "json"]);
        let (out, _) = common::run_cli(&args, 0);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let row = &v["results"][0];
        (
            row["layout"].as_str().unwrap().to_string(),
            row["output_tokens_per_s_per_gpu"].as_f64().unwrap(),
            row["usd_per_1m_output_tokens"].as_f64().unwrap(),
        )
    };
    // The README row that starts with `label` and the layout: its cells.
    let cells = |label: &str, layout: &str| -> Vec<&'static str> {
        readme
            .lines()
            .find(|l| l.starts_with(&format!("| {label} | {layout} |")))
            .unwrap_or_else(|| panic!("README has no `{label}` row with layout {layout}"))
            .split('|')
            .map(str::trim)
            .collect()
    };
    let number = |cell: &str| -> f64 { cell.trim_matches('*').replace(',', "").parse().unwrap() };
    // DeepSeek-V3 at ≥ 50 tokens/s per user: | label | layout | GPUs | tok/s/user | tok/s/GPU | $ |.
    for (gpu, dtype, label) in [
        ("gb200-nvl72", "fp4", "GB200 NVL72, NVFP4"),
        ("h200", "fp8", "HGX H200, fp8"),
    ] {
        let (layout, per_gpu, _) = best(
            "deepseek-v3",
            gpu,
            dtype,
            &[
                "--input-len",
                "1024",
                "--output-len",
                "1024",
                "--require",
                "output_tokens_per_s_per_user>=50",
                "--sort",
                "output_tokens_per_s_per_gpu",
            ],
        );
        let shown = number(cells(label, &layout)[5]);
        assert!(
            (per_gpu / shown - 1.0).abs() < 0.01,
            "{gpu}: the command gives {per_gpu:.0} tokens/s per GPU, the README shows {shown}"
        );
    }
    // GPT-4, the cheapest layout at ≥ 20 tokens/s per user: | label | layout | GPUs | tok/s/GPU | $ |.
    for (gpu, dtype, label) in [
        ("h100", "fp8", "H100, fp8"),
        ("h200", "fp8", "H200, fp8"),
        ("b200", "fp4", "B200, NVFP4"),
        ("gb200-nvl72", "fp4", "GB200 NVL72, NVFP4"),
    ] {
        let (layout, got, got_usd) = best(
            "gpt4-8k",
            gpu,
            dtype,
            &["--require", "output_tokens_per_s_per_user>=20"],
        );
        let row = cells(label, &layout);
        let (per_gpu, usd) = (number(row[4]), number(row[5]));
        assert!(
            (got / per_gpu - 1.0).abs() < 0.01 && (got_usd / usd - 1.0).abs() < 0.01,
            "GPT-4 on {gpu}: the command gives {got:.1} tokens/s per GPU at ${got_usd:.2}, the README shows {per_gpu} at ${usd}"
        );
    }
}
