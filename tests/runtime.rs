//! Runtime profiles (`--runtime`, a case's `runtime`) and fixed-batch semantics
//! (docs/methodology.md §18, docs/calibration.md "Runtime profiles and benchmark modes").

// Exact equality is the claim: a profile and the flags it stands for run the same arithmetic.
#![allow(clippy::float_cmp)]

mod common;

use common::{fails_cli, run_cli};
use gpt4calc::validate::{Case, CaseResult, Suite, load_suite, run_cases};

fn case(id: &str) -> Case {
    load_suite(None, Suite::All)
        .unwrap()
        .into_iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("case {id} is shipped"))
}

fn one(c: &Case) -> CaseResult {
    run_cases(std::slice::from_ref(c), &[]).remove(0)
}

fn json(args: &[&str]) -> serde_json::Value {
    let (out, _) = run_cli(args, 0);
    serde_json::from_str(&out).expect("JSON output")
}

/// The JSON document of `base` followed by `extra`.
fn json_with(base: &[&str], extra: &[&str]) -> serde_json::Value {
    json(&[base, extra].concat())
}

/// The first row's TTFT and TPOT and the JSON inputs' `key`, for `base` plus `extra`.
fn ttft_tpot_and_input(base: &[&str], extra: &[&str], key: &str) -> (f64, f64, serde_json::Value) {
    let j = json_with(base, extra);
    let r = &j["results"][0];
    (
        r["ttft_s"].as_f64().unwrap(),
        r["tpot_s"].as_f64().unwrap(),
        j["inputs"][key].clone(),
    )
}

/// The first row's TPOT and the MoE backend the JSON inputs report, for `base` plus `extra`.
fn tpot_and_moe_backend(base: &[&str], extra: &[&str]) -> (f64, String) {
    let j = json_with(base, extra);
    (
        j["results"][0]["tpot_s"].as_f64().unwrap(),
        j["inputs"]["moe_backend"].as_str().unwrap().to_string(),
    )
}

/// A runtime profile written to `<temp>/gpt4calc-<tag>-<pid>/<file>`: a header (name, description,
/// source) and `tables` (the `[runtime.*]` part). The caller removes the directory.
fn runtime_file(tag: &str, file: &str, tables: &str) -> (std::path::PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("gpt4calc-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(file);
    std::fs::write(
        &path,
        format!("name = \"{tag}\"\ndescription = \"test\"\nsource = \"test\"\n{tables}"),
    )
    .unwrap();
    let path = path.to_str().unwrap().to_string();
    (dir, path)
}

/// The 2021 Megatron rows (Narayanan et al. 2021, Tables 1-2 and the Sec. 5.1 estimate) name the
/// `megatron-2021` profile and no software field of their own, and predict exactly what the same
/// rows predicted with the per-case flags they used to carry (eager attention, no sequence
/// parallelism) under the modern profile. Tolerance: none (the same arithmetic).
#[test]
fn megatron_2021_profile_reproduces_the_2021_megatron_rows_without_per_case_flags() {
    let ids = [
        "megatron-t1-7.5b",
        "megatron-t1-145.6b",
        "megatron-t1-310.1b",
        "megatron-t2-ptd-174.6b-384gpu",
        "megatron-gpt3-train-time-estimate",
    ];
    for id in ids {
        let c = case(id);
        assert_eq!(c.runtime.as_deref(), Some("megatron-2021"), "{id}");
        assert!(
            c.attention.is_none() && c.sequence_parallel.is_none(),
            "{id} still carries per-case software flags"
        );
        let by_profile = one(&c);
        let by_flags = one(&Case {
            runtime: None,
            attention: Some("eager".into()),
            sequence_parallel: Some(false),
            ..c.clone()
        });
        let p = by_profile.predicted.expect("evaluated");
        assert_eq!(Some(p), by_flags.predicted, "{id}");
        // And the profile matters: today's software predicts something else.
        let modern = one(&Case {
            runtime: Some("modern".into()),
            ..c.clone()
        });
        assert_ne!(Some(p), modern.predicted, "{id}");
    }
}

/// The other families whose per-case flags moved into a profile predict what the flags did.
#[test]
fn deepspeed_llm_foundry_and_fastertransformer_profiles_match_the_flags_they_replace() {
    let ds = case("megatron-t2-zero3-174.6b-1536gpu");
    assert_eq!(ds.runtime.as_deref(), Some("deepspeed-2022"));
    let flags = Case {
        runtime: None,
        attention: Some("eager".into()),
        sequence_parallel: Some(false),
        zero3_fetch: Some(gpt4calc::train::Zero3Fetch::Module),
        ..ds.clone()
    };
    assert_eq!(one(&ds).predicted, one(&flags).predicted);

    let mpt = case("mpt-h100-70b-64gpu");
    assert_eq!(mpt.runtime.as_deref(), Some("llm-foundry-2023"));
    let flags = Case {
        runtime: None,
        grad_reduce: Some(gpt4calc::train::GradReduce::Param),
        ..mpt.clone()
    };
    assert_eq!(one(&mpt).predicted, one(&flags).predicted);

    let ft = case("ft-gpt175b-tp8-bs32-128x8");
    assert_eq!(ft.runtime.as_deref(), Some("fastertransformer-5"));
    let flags = Case {
        runtime: None,
        set: vec![
            "gpu.overheads.per_layer_us=80".into(),
            "gpu.overheads.per_request_us=80000".into(),
        ],
        batching: Some(gpt4calc::perf::Batching::Static),
        ..ft.clone()
    };
    assert_eq!(one(&ft).predicted, one(&flags).predicted);
}

/// A benchmark-style row (TensorRT-LLM 0.9 performance.md, Peak Throughput: gptSessionBenchmark,
/// one static batch of 64 identical 2048/2048 requests on 2 H100s) is priced as a static wave:
/// output tokens/s = B·N / (TTFT of the batch + (N − 1)·TPOT), per GPU. Tolerance 1e-9 relative.
#[test]
fn a_fixed_batch_benchmark_row_is_priced_as_static_waves() {
    let c = case("trt09-h100-llama2-70b-tp2-bs64-2048x2048");
    assert_eq!(c.batching, Some(gpt4calc::perf::Batching::Static));
    let predicted = one(&c).predicted.expect("evaluated");
    let args = |batching: &str| {
        json(&[
            "estimate",
            "-m",
            "llama2-70b",
            "-g",
            "h100",
            "--tp",
            "2",
            "--batch",
            "64",
            "--input-len",
            "2048",
            "--output-len",
            "2048",
            "--dtype",
            "fp8",
            "--kv-dtype",
            "fp8",
            "--batching",
            batching,
            "--format",
            "json",
        ])
    };
    let doc = args("static");
    assert_eq!(doc["inputs"]["batching"], "static");
    let row = &doc["results"][0];
    let f = |k: &str| row[k].as_f64().unwrap_or_else(|| panic!("{k}"));
    let per_gpu = f("output_tokens_per_s_per_gpu");
    assert!(
        (per_gpu / predicted - 1.0).abs() < 1e-9,
        "{per_gpu} vs {predicted}"
    );
    let wave = 64.0 * 2048.0 / (f("ttft_s") + 2047.0 * f("tpot_s")) / 2.0;
    assert!((per_gpu / wave - 1.0).abs() < 1e-9, "{per_gpu} vs {wave}");
    // Continuous batching would price the same row differently (prefills between decode steps).
    let cont = args("continuous")["results"][0]["output_tokens_per_s_per_gpu"]
        .as_f64()
        .unwrap();
    assert!((cont / per_gpu - 1.0).abs() > 1e-6);
}

/// Every shipped fixed-batch inference case states its batching mode, itself or through its
/// runtime profile (docs/calibration.md lists which benchmark ran which mode).
#[test]
fn every_fixed_batch_case_states_its_batching_mode() {
    for c in load_suite(None, Suite::All).unwrap() {
        if c.kind != "inference" || c.mode.as_deref().unwrap_or("fixed") != "fixed" {
            continue;
        }
        let by_profile = c.runtime.as_deref().is_some_and(|r| {
            gpt4calc::runtime::load(r)
                .unwrap()
                .runtime
                .serving
                .batching
                .is_some()
        });
        assert!(
            c.batching.is_some() || by_profile,
            "{}: fixed batch without a batching mode",
            c.id
        );
    }
}

/// `train --runtime megatron-2021` equals the flags it stands for; an explicit flag wins over it.
#[test]
fn train_runtime_equals_its_flags_and_flags_override_it() {
    let base = [
        "train",
        "-m",
        "gpt3-175b",
        "-g",
        "a100-80g",
        "--gpus",
        "384",
        "--tp",
        "8",
        "--pp",
        "12",
        "--interleave",
        "1",
        "--recompute",
        "full",
        "--global-batch-tokens",
        "3145728",
        "--seq-len",
        "2048",
        "--format",
        "json",
    ];
    let step = |extra: &[&str]| {
        let doc = json_with(&base, extra);
        (
            doc["results"][0]["step_time_s"].as_f64().unwrap(),
            doc["inputs"].clone(),
        )
    };
    let (profile, inputs) = step(&["--runtime", "megatron-2021"]);
    assert_eq!(inputs["runtime"]["name"], "megatron-2021");
    assert_eq!(inputs["attention"], "eager");
    assert_eq!(inputs["sequence_parallel"], false);
    let (flags, _) = step(&["--attention", "eager", "--sequence-parallel", "false"]);
    assert_eq!(profile, flags);
    let (overridden, inputs) = step(&["--runtime", "megatron-2021", "--attention", "flash"]);
    assert_eq!(inputs["attention"], "flash");
    let (expect, _) = step(&["--sequence-parallel", "false"]);
    assert_eq!(overridden, expect);
    let (modern, inputs) = step(&[]);
    assert_eq!(inputs["runtime"]["name"], "modern");
    assert_eq!(inputs["tp_overlap"], "none");
    assert_ne!(modern, profile);

    // A profile's `tp_overlap` is the flag's: userbuffers hide TP 8's collectives; the flag
    // overrides the profile back.
    let (dir, path) = runtime_file(
        "tp-overlap",
        "ub.toml",
        "[runtime.training]\ntp_overlap = \"gemm\"\n",
    );
    let path = path.as_str();
    let (ub_profile, inputs) = step(&["--runtime", path]);
    assert_eq!(inputs["tp_overlap"], "gemm");
    assert_eq!(
        inputs["runtime"]["settings"]["training"]["tp_overlap"],
        "gemm"
    );
    let (ub_flag, _) = step(&["--tp-overlap", "gemm"]);
    assert_eq!(ub_profile, ub_flag);
    assert!(ub_flag < modern, "{ub_flag} vs {modern}");
    let (back, _) = step(&["--runtime", path, "--tp-overlap", "none"]);
    assert_eq!(back, modern);
    std::fs::remove_dir_all(&dir).ok();
}

/// A profile's fixed costs replace the GPU preset's; an explicit --set wins over the profile.
#[test]
fn estimate_runtime_fixed_costs_and_batching_with_set_precedence() {
    let base = [
        "estimate",
        "-m",
        "gpt3-175b",
        "-g",
        "a100-80g",
        "--tp",
        "8",
        "--batch",
        "32",
        "--input-len",
        "128",
        "--output-len",
        "8",
        "--dtype",
        "fp16",
        "--format",
        "json",
    ];
    let e2e = |extra: &[&str]| {
        json_with(&base, extra)["results"][0]["e2e_s"]
            .as_f64()
            .unwrap()
    };
    let profile = e2e(&["--runtime", "fastertransformer-5"]);
    let flags = e2e(&[
        "--batching",
        "static",
        "--set",
        "gpu.overheads.per_layer_us=80",
        "--set",
        "gpu.overheads.per_request_us=80000",
    ]);
    assert_eq!(profile, flags);
    let set_wins = e2e(&[
        "--runtime",
        "fastertransformer-5",
        "--set",
        "gpu.overheads.per_request_us=0",
    ]);
    let expect = e2e(&[
        "--batching",
        "static",
        "--set",
        "gpu.overheads.per_layer_us=80",
    ]);
    assert_eq!(set_wins, expect);
}

/// Per-tensor fp8 GEMMs were measured with dynamic activation scales (docs/methodology.md §4.2):
/// serving with static scales (the default) saves the measured `compute_scale`, 7.30 µs on H100,
/// per GEMM call, and the GEMM's own quantisation pass (the kernel before it writes the fp8
/// input, §4.1); a profile with dynamic scales keeps both, and `--set` wins over the profile for
/// the reduction. Llama-3-8B's prefill of one 128-token chunk issues 65 fp8 GEMMs with a fixed
/// time (32 layers × the fused QKV and the output projection, plus the head), so `--set`ting the
/// reduction to 0 moves TTFT by exactly 65 × 7.30 µs. 16-bit weights and DeepSeek's block-scaled
/// fp8 (its own measured GEMMs) do not move.
#[test]
fn static_fp8_activation_scales_save_the_measured_scale_computation() {
    let (dir, dynamic) = runtime_file(
        "fp8-scales",
        "dynamic.toml",
        // The modern profile's front-end latency kept, so that only the scales differ.
        "[runtime.serving]\nfp8_activation_scales = \"dynamic\"\n[runtime.overheads]\nrequest_latency_us = 76500.0\n",
    );
    let dynamic = dynamic.as_str();
    let ttft = |model: &str, dtype: &str, extra: &[&str]| {
        let mut a = vec![
            "estimate",
            "-m",
            model,
            "-g",
            "h100",
            "--dtype",
            dtype,
            "--batch",
            "1",
            "--input-len",
            "128",
            "--output-len",
            "128",
            "--format",
            "json",
        ];
        a.extend_from_slice(extra);
        json(&a)["results"][0]["ttft_s"].as_f64().unwrap()
    };
    let unsaved = ttft(
        "llama3-8b",
        "fp8",
        &["--set", "gpu.overheads.fp8_dynamic_scale_us=0"],
    );
    let saved = unsaved - ttft("llama3-8b", "fp8", &[]);
    assert!((saved - 65.0 * 7.30e-6).abs() < 1e-12, "saved {saved} s");
    // The dynamic profile pays the reduction and the GEMMs' own quantisation pass; `--set`
    // gives the reduction back over the profile (the pass stays the profile's).
    let dynamic_ttft = ttft("llama3-8b", "fp8", &["--runtime", dynamic]);
    assert!(dynamic_ttft > unsaved);
    let set_back = ttft(
        "llama3-8b",
        "fp8",
        &[
            "--runtime",
            dynamic,
            "--set",
            "gpu.overheads.fp8_dynamic_scale_us=7.3",
        ],
    );
    assert!((dynamic_ttft - set_back - 65.0 * 7.30e-6).abs() < 1e-12);
    for (model, dtype) in [("llama3-8b", "bf16"), ("deepseek-v3", "fp8")] {
        let mut extra = vec!["--runtime", dynamic];
        if model == "deepseek-v3" {
            extra.extend_from_slice(&["--tp", "8", "--pp", "2", "--ep", "8"]);
        }
        let base: Vec<&str> = extra[2..].to_vec();
        assert_eq!(
            ttft(model, dtype, &extra),
            ttft(model, dtype, &base),
            "{model} {dtype}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn explain_prints_the_profile_in_force() {
    let (out, _) = run_cli(
        &[
            "estimate",
            "-m",
            "llama3-8b",
            "-g",
            "h100",
            "--batch",
            "8",
            "--explain",
        ],
        0,
    );
    assert!(out.contains("runtime profile: modern"), "{out}");
    let (out, _) = run_cli(
        &[
            "estimate",
            "-m",
            "llama3-8b",
            "-g",
            "h100",
            "--batch",
            "8",
            "--explain",
            "--runtime",
            "trtllm-0.9",
        ],
        0,
    );
    assert!(out.contains("runtime profile: trtllm-0.9"), "{out}");
}

#[test]
fn presets_list_and_show_include_the_runtime_profiles() {
    let (out, _) = run_cli(&["presets", "list"], 0);
    for (name, _) in gpt4calc::runtime::RUNTIMES {
        assert!(out.contains(name), "{name} missing from presets list");
    }
    let doc = json(&["presets", "show", "megatron-2021", "--format", "json"]);
    assert_eq!(doc["kind"], "runtime");
    assert_eq!(doc["preset"]["runtime"]["training"]["attention"], "eager");
}

#[test]
fn bad_runtime_is_one_line_naming_it_and_the_choices() {
    for cmd in [
        &["estimate", "--runtime", "megatron-2012"][..],
        &["train", "--runtime", "megatron-2012"],
        &["sweep", "--runtime", "megatron-2012"],
        &["validate", "--runtime", "megatron-2012"],
        &["reproduce", "--runtime", "megatron-2012"],
    ] {
        fails_cli(cmd, &["runtime `megatron-2012`", "megatron-2021", "modern"]);
    }
    let (dir, bad) = runtime_file("rt", "bad.toml", "[runtime.training]\ndp_overlap = 1.5\n");
    fails_cli(
        &["train", "--runtime", &bad],
        &["runtime.training.dp_overlap = 1.5", "from 0 to 1"],
    );
    let (_, bad) = runtime_file(
        "rt",
        "bad.toml",
        "[runtime.serving]\nbatching = \"waves\"\n",
    );
    fails_cli(
        &["estimate", "--runtime", &bad],
        &["waves", "continuous", "static"],
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// A case naming an unknown profile is not evaluated, with the reason; the others run.
#[test]
fn a_case_with_an_unknown_runtime_is_unevaluated_with_the_reason() {
    let c = Case {
        runtime: Some("nope".into()),
        ..case("megatron-t1-7.5b")
    };
    let r = one(&c);
    assert!(r.predicted.is_none());
    assert!(
        r.reason.as_deref().unwrap_or("").contains("runtime `nope`"),
        "{:?}",
        r.reason
    );
}

/// The shared experts beside the routed ones (docs/methodology.md §4.4): on in `modern`, off in
/// `vllm-0.8`; `--shared-expert-overlap` overrides the profile, the JSON inputs carry the value
/// in force, and a profile file states it too. DeepSeek-V3 at 4 users: one stream is slower. In
/// block-scaled fp8, where `vllm-0.8` and `modern` differ in nothing else (in NVFP4 they differ
/// in `nvfp4_fused_input` too).
#[test]
fn shared_expert_overlap_flag_profile_and_inputs_agree() {
    let base = [
        "estimate",
        "-m",
        "deepseek-v3",
        "-g",
        "b200",
        "--dtype",
        "fp8",
        "--tp",
        "8",
        "--batch",
        "4",
        "--format",
        "json",
    ];
    let run = |extra: &[&str]| {
        let j = json_with(&base, extra);
        (
            j["results"][0]["tpot_s"].as_f64().unwrap(),
            j["inputs"]["shared_expert_overlap"].as_bool().unwrap(),
        )
    };
    let (beside, on) = run(&[]);
    assert!(on);
    let (one_stream, off) = run(&["--shared-expert-overlap", "false"]);
    assert!(!off);
    assert!(one_stream > beside, "{one_stream} vs {beside}");
    // vllm-0.8 runs one stream (and shares modern's front end): the same TPOT as the flag's.
    assert_eq!(run(&["--runtime", "vllm-0.8"]), (one_stream, false));
    // The flag wins over the profile.
    assert_eq!(
        run(&["--runtime", "vllm-0.8", "--shared-expert-overlap", "true"]),
        (beside, true)
    );
    let (dir, path) = runtime_file(
        "shared-experts",
        "one-stream.toml",
        "[runtime.serving]\nshared_expert_overlap = false\n",
    );
    assert_eq!(run(&["--runtime", &path]).0, one_stream);
    std::fs::remove_dir_all(dir).ok();
}

/// CUDA graphs with padding (docs/methodology.md §7.6): none by default; `--cuda-graph-batch-sizes`
/// pads a decode step with no prompt in it to the next listed batch (its dummy rows running the
/// GEMMs and the head), a list that holds the batch itself pads nothing, a profile file states
/// it too, and the JSON inputs carry the list in force. gpt-oss-20b on an H200 at 1,176
/// sequences replayed as 2,048 is slower; sizes past the token budget count as that budget.
#[test]
fn cuda_graph_padding_flag_profile_and_inputs_agree() {
    let base = [
        "estimate",
        "-m",
        "gpt-oss-20b",
        "-g",
        "h200",
        "--dtype",
        "int4",
        "--dense-dtype",
        "bf16",
        "--batch",
        "1176",
        "--input-len",
        "1024",
        "--output-len",
        "1024",
        "--prefill-chunk",
        "8192",
        "--format",
        "json",
    ];
    let run = |extra: &[&str]| {
        let j = json_with(&base, extra);
        (
            j["results"][0]["tpot_s"].as_f64().unwrap(),
            j["inputs"]["cuda_graph_batch_sizes"]
                .as_array()
                .unwrap()
                .len(),
        )
    };
    let (plain, none) = run(&[]);
    assert_eq!(none, 0);
    let list = "1,2,4,8,16,32,64,128,256,384,512,1024,2048,4096,8192";
    let (padded, listed) = run(&["--cuda-graph-batch-sizes", list]);
    assert_eq!(listed, 15);
    assert!(padded > plain * 1.03, "{padded} vs {plain}");
    // The batch itself captured: nothing to pad.
    assert_eq!(
        run(&["--cuda-graph-batch-sizes", "1024,1176,2048"]).0,
        plain
    );
    let (dir, path) = runtime_file(
        "cuda-graphs",
        "padded.toml",
        "[runtime.serving]\ncuda_graph_batch_sizes = [1024, 2048]\n",
    );
    assert_eq!(run(&["--runtime", &path]).0, padded);
    std::fs::remove_dir_all(dir).ok();
    // A profile's list is range-checked as the flag is.
    let (dir, path) = runtime_file(
        "cuda-graphs-bad",
        "zero.toml",
        "[runtime.serving]\ncuda_graph_batch_sizes = [0, 2048]\n",
    );
    let mut with_bad_profile = base.to_vec();
    with_bad_profile.extend(["--runtime", &path]);
    fails_cli(
        &with_bad_profile,
        &["runtime.serving.cuda_graph_batch_sizes = 0", "1 to"],
    );
    std::fs::remove_dir_all(dir).ok();
    // A batch of 0 is a usage error naming the flag and what it allows.
    let mut bad = base.to_vec();
    bad.extend(["--cuda-graph-batch-sizes", "1,0"]);
    let (_, err) = run_cli(&bad, 2);
    assert!(
        err.contains("--cuda-graph-batch-sizes") && err.contains("from 1 to"),
        "{err}"
    );
}

/// The fused-MoE kernels (docs/methodology.md §4.4): `modern` takes the faster kernel (B200's
/// NVFP4 experts on the TRTLLM-gen fit); `--moe-backend cutlass` (TensorRT-LLM's default backend alone) prices B200's
/// NVFP4 experts on the CUTLASS fit, slower at a few tokens; a profile file says the same; the
/// JSON inputs carry the value in force; fp8 experts, with one measured kernel, do not move.
#[test]
fn moe_backend_flag_profile_and_inputs_agree() {
    let base = [
        "estimate",
        "-m",
        "deepseek-v3",
        "-g",
        "b200",
        "--dtype",
        "nvfp4",
        "--tp",
        "8",
        "--ep",
        "8",
        "--batch",
        "4",
        "--format",
        "json",
    ];
    let run = |extra: &[&str]| tpot_and_moe_backend(&base, extra);
    let (fastest, name) = run(&[]);
    assert_eq!(name, "fastest");
    let (cutlass, name) = run(&["--moe-backend", "cutlass"]);
    assert_eq!(name, "cutlass");
    assert!(cutlass > fastest, "{cutlass} vs {fastest}");
    let (dir, path) = runtime_file(
        "moe-backend",
        "cutlass.toml",
        "[runtime.serving]\nmoe_backend = \"cutlass\"\n",
    );
    assert_eq!(run(&["--runtime", &path]), (cutlass, "cutlass".to_string()));
    // Experts with one measured kernel do not move: fp8, and MXFP4 (the CUTLASS table is NVFP4's).
    for dtype in ["fp8", "mxfp4"] {
        let tpot = |extra: &[&str]| {
            let mut args = base.to_vec();
            args[6] = dtype;
            json_with(&args, extra)["results"][0]["tpot_s"]
                .as_f64()
                .unwrap()
        };
        assert_eq!(tpot(&[]), tpot(&["--moe-backend", "cutlass"]), "{dtype}");
    }
    // A flag wins over a profile in `sweep` too.
    let sweep = |extra: &[&str]| {
        let mut args = base.to_vec();
        args[0] = "sweep";
        args.extend(["--runtime", path.as_str()]);
        tpot_and_moe_backend(&args, extra)
    };
    assert_eq!(sweep(&[]), (cutlass, "cutlass".to_string()));
    assert_eq!(
        sweep(&["--moe-backend", "fastest"]),
        (fastest, "fastest".to_string())
    );
    std::fs::remove_dir_all(dir).ok();
    // --explain prints the profile's line, then the settings in force: the flag's value.
    let out = common::gpt4calc()
        .args(&base[..base.len() - 2])
        .args([
            "--moe-backend",
            "cutlass",
            "--moe-overlap",
            "two-batch",
            "--explain",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("serving settings in force:"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains("moe-backend cutlass") && line.contains("moe-overlap two-batch"),
        "{line}"
    );
}

/// A draft model's context takes the setting in force as the target's does: with the model as its
/// own draft, a draft step equals a plain step, flag on or off (`--explain` prints both).
#[test]
fn a_draft_model_runs_under_the_same_shared_expert_setting() {
    for flag in ["true", "false"] {
        let out = common::gpt4calc()
            .args([
                "estimate",
                "-m",
                "deepseek-v3",
                "-g",
                "b200",
                "--dtype",
                "nvfp4",
                "--tp",
                "8",
                "--ep",
                "8",
                "--batch",
                "8",
                "--speculate",
                "2",
                "--draft",
                "deepseek-v3",
                "--shared-expert-overlap",
                flag,
                "--explain",
            ])
            .output()
            .expect("runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let after = |key: &str| -> String {
            let at = text
                .find(key)
                .unwrap_or_else(|| panic!("no `{key}` in {text}"));
            text[at + key.len()..]
                .split_whitespace()
                .next()
                .unwrap()
                .to_string()
        };
        assert_eq!(
            after("a plain step's "),
            after("plus 2 × "),
            "--shared-expert-overlap {flag}"
        );
    }
}

#[test]
fn the_megatron_bridge_26_08_profile_states_its_recipes_software() {
    // Megatron-Bridge 26.08's MoE recipes (v0.6.0 perf_recipes): the whole step replayed from one
    // CUDA graph (no host time), HybridEP (`flex`) dispatch, the all-to-alls overlapped across
    // micro-batches. Qwen3-30B on one B200 node at micro-batch 1 waits on its host when eager (the
    // modern profile: one device-to-host sync a MoE layer, 16 local experts), not under the
    // profile; the profile's step is faster, and an explicit flag still wins over it.
    let base = [
        "train",
        "-m",
        "qwen3-30b-a3b",
        "-g",
        "b200",
        "--gpus",
        "8",
        "--tp",
        "1",
        "--pp",
        "1",
        "--ep",
        "8",
        "--micro-batch",
        "1",
        "--dtype",
        "fp8",
        "--seq-len",
        "4096",
        "--global-batch-tokens",
        "2097152",
        "--recompute",
        "none",
    ];
    let eager = &json_with(&base, &["--format", "json"])["results"][0];
    let doc = json_with(
        &base,
        &["--runtime", "megatron-bridge-26.08", "--format", "json"],
    );
    let graphed = &doc["results"][0];
    assert!(eager["host_s"].as_f64().unwrap() > 0.0, "{eager}");
    assert_eq!(graphed["host_s"].as_f64().unwrap(), 0.0, "{graphed}");
    assert!(graphed["step_time_s"].as_f64().unwrap() < eager["step_time_s"].as_f64().unwrap());
    let settings = &doc["inputs"]["runtime"]["settings"];
    assert_eq!(doc["inputs"]["runtime"]["name"], "megatron-bridge-26.08");
    assert!(settings.to_string().contains("flex"), "{settings}");
    assert!(settings.to_string().contains("micro-batch"), "{settings}");
    // A flag overrides the profile: the plain dispatcher without overlap pays its all-to-alls.
    let flagged = &json_with(
        &base,
        &[
            "--runtime",
            "megatron-bridge-26.08",
            "--ep-overlap",
            "none",
            "--format",
            "json",
        ],
    )["results"][0];
    assert!(flagged["ep_comm_s"].as_f64().unwrap() > graphed["ep_comm_s"].as_f64().unwrap());
    let (out, _) = run_cli(
        &[&base[..], &["--runtime", "megatron-bridge-26.08"]].concat(),
        0,
    );
    assert!(out.contains("ZeRO-1, no recomputation, fp8"), "{out}");
    assert!(
        out.contains("runtime profile: megatron-bridge-26.08"),
        "{out}"
    );
    // The settings the estimate ran with follow the profile's line: the profile's where no flag
    // names one, the flag's where one does.
    assert!(
        out.contains("training settings in force: attention flash, sequence-parallel true, dp-overlap 0, grad-reduce param, ep-dispatcher flex, ep-overlap micro-batch, grad-overlap bucketed,"),
        "{out}"
    );
    let (out, _) = run_cli(
        &[
            &base[..],
            &["--runtime", "megatron-bridge-26.08", "--ep-overlap", "none"],
        ]
        .concat(),
        0,
    );
    assert!(
        out.contains("ep-overlap micro-batch, grad-overlap bucketed"),
        "{out}"
    );
    assert!(
        out.contains("in force: attention flash, sequence-parallel true, dp-overlap 0, grad-reduce param, ep-dispatcher flex, ep-overlap none,"),
        "{out}"
    );
}

#[test]
fn bucketed_grad_overlap_says_it_leaves_zero3_alone() {
    let args = [
        "train",
        "-m",
        "llama3-8b",
        "-g",
        "h100",
        "--gpus",
        "16",
        "--tp",
        "1",
        "--pp",
        "1",
        "--micro-batch",
        "1",
        "--recompute",
        "full",
        "--grad-overlap",
        "bucketed",
    ];
    let (_, err) = run_cli(&[&args[..], &["--zero", "3"]].concat(), 0);
    assert!(err.contains("leaves ZeRO-3"), "{err}");
    let (_, err) = run_cli(&[&args[..], &["--zero", "1"]].concat(), 0);
    assert!(!err.contains("ZeRO-3"), "{err}");
}

/// The scheduler's poll interval (SGLang's `--scheduler-recv-interval`, docs/methodology.md
/// §7.3): the flag, a profile file and the JSON inputs agree; only the first token moves, by
/// (K − 1)/2 iterations over the one-iteration wait; out-of-range values are one-line errors
/// naming the flag or the profile key.
#[test]
fn scheduler_recv_interval_flag_profile_and_inputs_agree() {
    let base = [
        "estimate",
        "-m",
        "llama3-70b",
        "-g",
        "h100",
        "--dtype",
        "fp8",
        "--tp",
        "8",
        "--batch",
        "64",
        "--format",
        "json",
    ];
    let run = |extra: &[&str]| {
        let (ttft, tpot, k) = ttft_tpot_and_input(&base, extra, "scheduler_recv_interval");
        (ttft, tpot, k.as_u64().unwrap())
    };
    let (ttft, tpot, k) = run(&[]);
    assert_eq!(k, 1);
    let (polled, polled_tpot, k) = run(&["--scheduler-recv-interval", "30"]);
    assert_eq!(k, 30);
    assert!((polled_tpot - tpot).abs() <= 1e-12 * tpot);
    let want = ttft + 14.5 * tpot;
    assert!((polled - want).abs() <= 1e-9 * want, "{polled} vs {want}");
    let (dir, path) = runtime_file(
        "recv-interval",
        "polled.toml",
        // modern's front end, which a profile file without it would not have.
        "[runtime.serving]\nscheduler_recv_interval = 30\n[runtime.overheads]\nrequest_latency_us = 76500.0\n",
    );
    assert_eq!(run(&["--runtime", &path]), (polled, polled_tpot, 30));
    // The flag wins over the profile.
    assert_eq!(
        run(&["--runtime", &path, "--scheduler-recv-interval", "1"]),
        (ttft, tpot, 1)
    );
    refuses_out_of_range(
        &base,
        ("--scheduler-recv-interval", "0", "1 to 1,000"),
        "scheduler_recv_interval",
    );
    std::fs::remove_dir_all(dir).ok();
}

/// `flag value` is a usage error naming the flag and its `range`, and a profile file setting
/// `[runtime.serving] key` out of range a one-line error naming the key.
fn refuses_out_of_range(base: &[&str], (flag, value, range): (&str, &str, &str), key: &str) {
    let (_, err) = run_cli(&[base, &[flag, value]].concat(), 2);
    assert!(err.contains(flag) && err.contains(range), "{err}");
    let (dir, bad) = runtime_file(
        &format!("{key}-bad"),
        "bad.toml",
        &format!("[runtime.serving]\n{key} = 5000\n"),
    );
    let (_, err) = run_cli(&[base, &["--runtime", &bad]].concat(), 1);
    assert!(
        err.contains(&format!("runtime.serving.{key} = 5000")) && err.lines().count() == 1,
        "{err}"
    );
    std::fs::remove_dir_all(dir).ok();
}

/// TensorRT-LLM's attention-DP admission rule (`--adp-balance`, docs/methodology.md §7.3): the
/// flag, a profile file and the JSON inputs agree; it holds new prompts, so only the first token
/// moves and only where a replica has several attention groups; `--explain` says why; bad values
/// are one-line errors naming the flag or the profile key.
#[test]
fn adp_balance_flag_profile_and_inputs_agree() {
    let base = [
        "estimate",
        "-m",
        "deepseek-v3",
        "-g",
        "b200",
        "--dtype",
        "fp8",
        "--tp",
        "1",
        "--dp",
        "8",
        "--ep",
        "8",
        "--batch",
        "256",
        "--input-len",
        "922",
        "--output-len",
        "7373",
        "--prefill-chunk",
        "1344",
        "--output-len-dist",
        "range-0.8",
        "--format",
        "json",
    ];
    let run = |extra: &[&str]| ttft_tpot_and_input(&base, extra, "adp_balance");
    let (ttft, tpot, rule) = run(&[]);
    assert!(rule.is_null(), "{rule}");
    let flags = ["--adp-balance", "60", "--adp-balance-wait", "0"];
    let (held, held_tpot, rule) = run(&flags);
    assert_eq!(rule["timeout_iters"].as_u64(), Some(60));
    assert_eq!(rule["wait_iters"].as_u64(), Some(0));
    assert!((held_tpot - tpot).abs() <= 1e-12 * tpot);
    // 8 groups of 32 sequences, a new request every ~29 iterations: tens of iterations more.
    let extra_iters = (held - ttft) / tpot;
    assert!((20.0..80.0).contains(&extra_iters), "{extra_iters}");
    // The gathering defaults to TensorRT-LLM's 10 iterations, which only adds to the wait.
    let (gathering, _, rule) = run(&["--adp-balance", "60"]);
    assert_eq!(rule["wait_iters"].as_u64(), Some(10));
    assert!(gathering >= held, "{gathering} {held}");
    let (dir, path) = runtime_file(
        "adp-balance",
        "balanced.toml",
        "[runtime.serving]\nadp_balance_timeout_iters = 60\nadp_balance_wait_iters = 0\n[runtime.overheads]\nrequest_latency_us = 76500.0\n",
    );
    assert_eq!(run(&["--runtime", &path]).0, held);
    // 0 turns a profile's rule off; with a rule on, --rate is refused (the simulation does not
    // replay it), from a flag or from the profile.
    assert_eq!(run(&["--runtime", &path, "--adp-balance", "0"]).0, ttft);
    for extra in [&["--adp-balance", "60"][..], &["--runtime", &path]] {
        let (_, err) = run_cli(&[&base[..], extra, &["--rate", "1"]].concat(), 1);
        assert!(
            err.contains("--rate") && err.contains("--adp-balance 0"),
            "{err}"
        );
    }
    // One attention group has nothing to balance.
    let one = |extra: &[&str]| {
        let j = json_with(
            &[
                "estimate",
                "-m",
                "deepseek-v3",
                "-g",
                "b200",
                "--dtype",
                "fp8",
                "--tp",
                "8",
                "--ep",
                "8",
                "--batch",
                "64",
                "--format",
                "json",
            ],
            extra,
        );
        j["results"][0]["ttft_s"].as_f64().unwrap()
    };
    assert_eq!(one(&[]), one(&flags));
    // ... and says so rather than pricing the rule at nothing in silence.
    let (_, err) = run_cli(
        &[
            "estimate",
            "-m",
            "deepseek-v3",
            "-g",
            "b200",
            "--dtype",
            "fp8",
            "--tp",
            "8",
            "--adp-balance",
            "60",
        ],
        0,
    );
    assert!(
        err.contains("attention-DP balancing") && err.contains("holds nothing here"),
        "{err}"
    );
    let (out, _) = run_cli(
        &[&base[..base.len() - 2], &flags[..], &["--explain"]].concat(),
        0,
    );
    assert!(
        out.contains(
            "attention-DP balancing holds a new prompt until each of the 8 attention groups"
        ),
        "{out}"
    );
    refuses_out_of_range(
        &base,
        ("--adp-balance", "1001", "0 to 1,000"),
        "adp_balance_wait_iters",
    );
    std::fs::remove_dir_all(dir).ok();
}

/// TensorRT-LLM's batch waiting (`--batch-wait T:R`, docs/methodology.md §7.3): a replica
/// without attention DP holds new prompts for an iteration's worth of tokens; the flag, a profile
/// file and the JSON inputs agree, only the first token moves, and malformed values are usage
/// errors that say what is allowed.
#[test]
fn batch_wait_flag_profile_and_inputs_agree() {
    let base = [
        "estimate",
        "-m",
        "deepseek-v3",
        "-g",
        "b200",
        "--dtype",
        "fp8",
        "--tp",
        "8",
        "--batch",
        "64",
        "--input-len",
        "922",
        "--output-len",
        "922",
        "--prefill-chunk",
        "8192",
        "--output-len-dist",
        "range-0.8",
        "--format",
        "json",
    ];
    let run = |extra: &[&str]| ttft_tpot_and_input(&base, extra, "batch_wait");
    let (ttft, tpot, rule) = run(&[]);
    assert!(rule.is_null(), "{rule}");
    let (held, held_tpot, rule) = run(&["--batch-wait", "40:0.8"]);
    assert_eq!(rule["timeout_iters"].as_u64(), Some(40));
    assert_eq!(rule["max_tokens_ratio"].as_f64(), Some(0.8));
    assert!((held_tpot - tpot).abs() <= 1e-12 * tpot);
    // Eight prompts to fill 80% of the budget, one every ~14 iterations: most wait for the
    // 40-iteration timeout, the first the whole of it.
    let extra_iters = (held - ttft) / tpot;
    assert!((10.0..40.0).contains(&extra_iters), "{extra_iters}");
    let (dir, path) = runtime_file(
        "batch-wait",
        "waiting.toml",
        "[runtime.serving]\nbatch_wait_timeout_iters = 40\nbatch_wait_max_tokens_ratio = 0.8\n[runtime.overheads]\nrequest_latency_us = 76500.0\n",
    );
    assert_eq!(run(&["--runtime", &path]).0, held);
    assert_eq!(run(&["--runtime", &path, "--batch-wait", "off"]).0, ttft);
    // Attention DP takes the balancing rule instead: batch waiting holds nothing there.
    let dp = |extra: &[&str]| {
        let mut args = base.to_vec();
        args[8] = "1";
        let j = json_with(&[&args[..], &["--dp", "8", "--ep", "8"]].concat(), extra);
        j["results"][0]["ttft_s"].as_f64().unwrap()
    };
    assert_eq!(dp(&[]), dp(&["--batch-wait", "40:0.8"]));
    let mut args = base[..base.len() - 2].to_vec();
    args[8] = "1";
    let (_, err) = run_cli(
        &[
            &args[..],
            &["--dp", "8", "--ep", "8", "--batch-wait", "40:0.8"],
        ]
        .concat(),
        0,
    );
    assert!(
        err.contains("batch waiting") && err.contains("holds nothing here"),
        "{err}"
    );
    for bad in ["40", "0:0.8", "40:0", "40:1.5", "x:0.8"] {
        let (_, err) = run_cli(&[&base[..], &["--batch-wait", bad]].concat(), 2);
        assert!(
            err.contains("TIMEOUT:RATIO") && err.contains("40:0.8"),
            "{err}"
        );
    }
    std::fs::remove_dir_all(dir).ok();
}

/// Block-scaled fp8 experts on Blackwell have two measured kernels (docs/methodology.md §4.4):
/// at a decode batch `fastest` is TRTLLM-gen (`--moe-backend trtllm` gives the same step) and
/// `deepgemm` is slower; a profile file names either, and the JSON inputs carry it.
#[test]
fn block_fp8_moe_backends_trtllm_and_deepgemm() {
    let base = [
        "estimate",
        "-m",
        "deepseek-v3",
        "-g",
        "b200",
        "--dtype",
        "fp8",
        "--tp",
        "8",
        "--batch",
        "4",
        // A static batch's TPOT is its decode step alone: under continuous batching it also
        // carries the prompts' chunks, whose kernels the backend picks at their own sizes.
        "--batching",
        "static",
        "--format",
        "json",
    ];
    let run = |extra: &[&str]| tpot_and_moe_backend(&base, extra);
    let (fastest, _) = run(&[]);
    let (trtllm, name) = run(&["--moe-backend", "trtllm"]);
    assert_eq!(name, "trtllm");
    assert_eq!(trtllm, fastest);
    let (deepgemm, name) = run(&["--moe-backend", "deepgemm"]);
    assert_eq!(name, "deepgemm");
    assert!(deepgemm > fastest, "{deepgemm} vs {fastest}");
    let (dir, path) = runtime_file(
        "moe-backend-deepgemm",
        "deepgemm.toml",
        "[runtime.serving]\nmoe_backend = \"deepgemm\"\n",
    );
    assert_eq!(
        run(&["--runtime", &path]),
        (deepgemm, "deepgemm".to_string())
    );
    std::fs::remove_dir_all(dir).ok();
    // --explain names the kernel `fastest` took at the decode batch.
    let out = common::gpt4calc()
        .args(&base[..base.len() - 2])
        .arg("--explain")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("routed experts on TRTLLM-gen's fused MoE, faster than DeepGEMM's"),
        "{text}"
    );
}

/// A busy disaggregated prefill worker's overlap loop (docs/methodology.md §7.5): the flag, a
/// profile file and the JSON inputs agree; only the first token moves; a co-located replica
/// notes that the flag changes nothing.
#[test]
fn prefill_overlap_flag_profile_and_inputs_agree() {
    // Two prefill replicas for one decode replica of 256 sequences: the prefill workers are
    // busy most of the time, so the next forward matters.
    let base = [
        "estimate",
        "-m",
        "llama3-70b",
        "-g",
        "h100",
        "--dtype",
        "fp8",
        "--tp",
        "8",
        "--batch",
        "256",
        "--input-len",
        "2048",
        "--output-len",
        "256",
        "--disaggregate",
        "2:1",
        "--format",
        "json",
    ];
    let run = |extra: &[&str]| {
        let (ttft, tpot, o) = ttft_tpot_and_input(&base, extra, "prefill_overlap");
        (ttft, tpot, o.as_bool().unwrap())
    };
    let (on, on_tpot, o) = run(&[]);
    assert!(o, "the modern profile runs the overlap loop");
    let (off, off_tpot, o) = run(&["--prefill-overlap", "false"]);
    assert!(!o);
    assert!((on_tpot - off_tpot).abs() <= 1e-12 * on_tpot);
    assert!(on > off, "{on} vs {off}");
    let (dir, path) = runtime_file(
        "overlap",
        "overlap.toml",
        "[runtime.serving]\nprefill_overlap = false\n[runtime.overheads]\nrequest_latency_us = 76500.0\n",
    );
    assert_eq!(run(&["--runtime", &path]), (off, off_tpot, false));
    // The flag wins over the profile.
    assert_eq!(
        run(&["--runtime", &path, "--prefill-overlap", "true"]),
        (on, on_tpot, true)
    );
    std::fs::remove_dir_all(dir).unwrap();
    let colocated: Vec<&str> = base
        .iter()
        .copied()
        .filter(|a| *a != "--disaggregate" && *a != "2:1")
        .chain(["--prefill-overlap", "false"])
        .collect();
    let (_, stderr) = run_cli(&colocated, 0);
    assert!(
        stderr.contains("note: --prefill-overlap prices a busy disaggregated prefill worker"),
        "{stderr}"
    );
}

/// A disaggregated decode worker's admission (docs/methodology.md §7.5): the flag, a profile
/// file and the JSON inputs agree; only a disaggregated first token moves, by the iterations
/// given (and (K − 1)/2 more under a scheduler that polls every K); `--explain` names it;
/// out-of-range values are one-line errors naming the flag or the profile key.
#[test]
fn decode_admission_flag_profile_and_inputs_agree() {
    let base = [
        "estimate",
        "-m",
        "llama3-70b",
        "-g",
        "h100",
        "--dtype",
        "fp8",
        "--tp",
        "8",
        "--batch",
        "64",
        "--input-len",
        "1024",
        "--output-len",
        "256",
        "--disaggregate",
        "4:1",
        "--format",
        "json",
    ];
    let run = |extra: &[&str]| {
        let (ttft, tpot, j) = ttft_tpot_and_input(&base, extra, "decode_admission_iters");
        (ttft, tpot, j.as_f64().unwrap())
    };
    let (ttft, tpot, j) = run(&[]);
    assert!((j - gpt4calc::perf::DECODE_ADMISSION_ITERS).abs() < 1e-12);
    let (none, none_tpot, j0) = run(&["--decode-admission-iters", "0"]);
    assert!(j0.abs() < 1e-12);
    assert!((none_tpot - tpot).abs() <= 1e-12 * tpot);
    // Four prefill replicas for one decode replica: the prompts barely queue, so the first token
    // moves by the admission alone (the queue's and the busy prefill worker's shares of the
    // longer cycle are a hair).
    let want = none + gpt4calc::perf::DECODE_ADMISSION_ITERS * tpot;
    assert!(
        (ttft - want).abs() <= 1e-2 * (ttft - none),
        "{ttft} vs {want}"
    );
    let (polled, _, _) = run(&[
        "--decode-admission-iters",
        "3",
        "--scheduler-recv-interval",
        "10",
    ]);
    let want = none + 7.5 * tpot;
    assert!(
        (polled - want).abs() <= 1e-2 * (polled - none),
        "{polled} vs {want}"
    );
    let (dir, path) = runtime_file(
        "admission",
        "admission.toml",
        "[runtime.serving]\ndecode_admission_iters = 3\n[runtime.overheads]\nrequest_latency_us = 76500.0\n",
    );
    let three = run(&["--decode-admission-iters", "3"]);
    assert_eq!(run(&["--runtime", &path]), three);
    // The flag wins over the profile.
    assert_eq!(
        run(&["--runtime", &path, "--decode-admission-iters", "0"]),
        (none, none_tpot, 0.0)
    );
    // A co-located replica's first token does not leave a decode worker of its own.
    let colocated = |extra: &[&str]| {
        let args: Vec<&str> = base
            .iter()
            .copied()
            .filter(|a| *a != "--disaggregate" && *a != "4:1")
            .collect();
        json_with(&args, extra)["results"][0]["ttft_s"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(
        colocated(&["--decode-admission-iters", "0"]),
        colocated(&["--decode-admission-iters", "20"])
    );
    let args: Vec<&str> = base
        .iter()
        .copied()
        .filter(|a| *a != "--format" && *a != "json")
        .chain(["--explain"])
        .collect();
    let (out, _) = run_cli(&args, 0);
    assert!(
        out.contains("decode worker's admission")
            && out.contains("iterations of")
            && out.contains("decode-admission-iters 5.47"),
        "{out}"
    );
    // Given where it cannot apply, the flag says so.
    let lone: Vec<&str> = args
        .iter()
        .map(|a| if *a == "64" { "1" } else { a })
        .chain(["--decode-admission-iters", "3"])
        .collect();
    let (_, err) = run_cli(&lone, 0);
    assert!(err.contains("adds nothing here"), "{err}");
    refuses_out_of_range(
        &base,
        ("--decode-admission-iters", "2000", "0 to 1000"),
        "decode_admission_iters",
    );
    std::fs::remove_dir_all(dir).ok();
}
