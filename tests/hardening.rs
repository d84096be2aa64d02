//! Issue 14 (bounded work, no impossible numbers, consistency): the binary stops early with one
//! clear line instead of working without bound, and never prints an impossible number.

mod common;

fn run(args: &[&str], code: i32) -> (String, String) {
    common::run_cli(args, code)
}

fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// Exit 1, nothing on stdout, one `error:` line holding every needle.
fn fails(line: &str, needles: &[&str]) {
    common::fails_cli(&words(line), needles)
}

#[test]
fn a_range_to_the_largest_integer_is_refused_before_it_expands() {
    // It used to double forever at u64::MAX, building its list until memory ran out. The end of
    // the range is now checked against the flag's range first (the doubling loop also stops at
    // overflow, src/axis.rs).
    fails(
        "sweep -m llama3-8b --tp 1 --pp 1 --batch 1..18446744073709551615 --format csv",
        &["--batch", "from 1 to 1,048,576"],
    );
}

#[test]
fn too_many_configurations_stop_before_any_work_with_the_count_and_the_flag() {
    fails(
        "sweep --batch 1..1m --input-len 1..1073741824 --output-len 1..1073741824",
        &[
            "2825340 configurations",
            "limit of 2000000",
            "--max-configurations 2825340",
        ],
    );
    fails(
        "sweep -m llama3-8b --tp 1,2 --pp 1 --batch 1..8 --max-configurations 7",
        &["8 configurations", "limit of 7", "--max-configurations 8"],
    );
    run(
        &words("sweep -m llama3-8b --tp 1,2 --pp 1 --batch 1..8 --max-configurations 8"),
        0,
    );
    fails(
        "train -m llama3-8b --gpus 64 --tp 1,2 --pp 1,2 --interleave 1 --max-configurations 3",
        &["4 configurations", "--max-configurations 4"],
    );
    // `--interleave auto` tries 1, 2, 4 and 8 virtual stages wherever pp > 1: 2 × (1 + 4).
    fails(
        "train -m llama3-8b --gpus 64 --tp 1,2 --pp 1,2 --max-configurations 3",
        &["10 configurations", "--max-configurations 10"],
    );
}

#[test]
fn skip_notes_are_one_line_per_reason() {
    // 21 × 21 prompt and output lengths, most beyond the context: one note for all of them.
    let (_, stderr) = run(
        &words("sweep -m llama3-8b --tp 1 --pp 1 --batch 1 --input-len 1..1m --output-len 1..1m"),
        0,
    );
    let notes: Vec<&str> = stderr.lines().filter(|l| l.starts_with("note:")).collect();
    assert_eq!(notes.len(), 1, "{stderr}");
    assert!(notes[0].contains("exceeds the model's"), "{stderr}");
}

#[test]
fn a_non_finite_result_is_an_error_naming_the_field() {
    // Preset ranges now stop the inputs that produced NaN (a bandwidth of 1e-320 TB/s) at load...
    fails(
        "estimate -m llama3-8b --set gpu.memory_bw_tb_s=1e-320",
        &["gpu.memory_bw_tb_s = 1e-320", "from 0.001 to 1000"],
    );
    // ...and the last guard still names any impossible field that gets through.
    let ctx = common::context("llama3-8b", "h100", &[]);
    let c = gpt4calc::perf::Config::new(1, 1, 8, 1024, 256, gpt4calc::dtype::Dtype::Bf16);
    let mut e = common::run(&ctx, &c);
    assert!(e.check_finite("llama3-8b", "h100").is_ok());
    e.ttft_s = f64::NAN;
    let msg = e.check_finite("llama3-8b", "h100").unwrap_err();
    assert!(
        msg.starts_with("ttft_s came out as NaN for llama3-8b on h100"),
        "{msg}"
    );
}

#[test]
fn mfu_stays_below_one_for_an_fp32_model_at_long_context() {
    // Attention was timed at the 16-bit rate and divided by the fp32 peak: MFU 1.7–3.6.
    let (stdout, _) = run(
        &words(
            "estimate -m deepseek-v3 -g a100-80g --tp 1 --batch 1024 --input-len 130000 --output-len 1000 --dtype fp32 --kv-dtype fp8 --format json",
        ),
        3,
    );
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let r = &v["results"][0];
    for f in ["mfu", "mbu"] {
        let x = r[f].as_f64().unwrap();
        assert!(x > 0.0 && x <= 1.0, "{f} = {x}");
    }
}

fn estimate_json(line: &str, code: i32) -> serde_json::Value {
    let (stdout, _) = run(&words(line), code);
    serde_json::from_str(&stdout).unwrap()
}

#[test]
fn the_simulation_saturates_at_the_closed_form_throughput_with_a_pipeline() {
    // Each iteration's prefill used to cost the chunk's whole trip through the pipeline, not its
    // slowest stage: at PP 4–8 the simulation saturated at a fraction of the closed form.
    for pp in [1, 4, 8] {
        let d = estimate_json(
            &format!(
                "estimate -m llama3-8b --pp {pp} --batch 64 --dtype fp8 --rate 200 --requests 2000 --format json"
            ),
            0,
        );
        let closed = d["results"][0]["output_tokens_per_s"].as_f64().unwrap();
        let sim = &d["summary"]["simulation"];
        let simulated = sim["output_tokens_per_s"].as_f64().unwrap();
        assert!(
            (simulated / closed - 1.0).abs() < 0.05,
            "pp {pp}: simulated {simulated}, closed form {closed}"
        );
        assert_eq!(
            sim["overloaded"], true,
            "pp {pp}: 200 req/s is far beyond it"
        );
    }
}

#[test]
fn the_simulation_saturates_at_the_closed_form_throughput_with_attention_data_parallelism() {
    // Each attention group prefills its own prompts up to its chunk budget: the simulation used to
    // give a replica of 8 groups one budget and price every prefill on one group with the others
    // idle, and saturated at a third of the closed form (2,241 against 6,393 output tokens/s).
    let d = estimate_json(
        "estimate -m deepseek-v3 -g h200 --dtype fp8 --tp 1 --dp 8 --ep 8 --batch 1024 --input-len 1000 --output-len 200 --rate 200 --requests 4000 --format json",
        0,
    );
    let closed = d["results"][0]["output_tokens_per_s"].as_f64().unwrap();
    let sim = &d["summary"]["simulation"];
    let simulated = sim["output_tokens_per_s"].as_f64().unwrap();
    assert!(
        (simulated / closed - 1.0).abs() < 0.06,
        "simulated {simulated}, closed form {closed}"
    );
    assert_eq!(sim["overloaded"], true);
}

#[test]
fn overload_is_judged_by_what_is_served_not_by_the_queue_for_a_slot() {
    // Batch 256 admits every request at once, so none waits for a slot, but prefills starve:
    // 1024 output tok/s offered, about 850 served (650 before the decode rows rode the prompts'
    // chunks), TTFT in tens of seconds.
    let d = estimate_json(
        "estimate -m llama3-70b --tp 8 --batch 256 --dtype fp8 --input-len 7000 --output-len 256 --rate 4 --requests 500 --format json",
        0,
    );
    let s = &d["summary"]["simulation"];
    assert_eq!(s["overloaded"], true, "{s}");
    assert!(s["served_output_tokens_per_s"].as_f64().unwrap() < 0.9 * 1024.0);
    // Half the rate is served in full.
    let d = estimate_json(
        "estimate -m llama3-70b --tp 8 --batch 256 --dtype fp8 --input-len 7000 --output-len 256 --rate 2 --requests 500 --format json",
        0,
    );
    assert_eq!(d["summary"]["simulation"]["overloaded"], false);
}

#[test]
fn a_configuration_that_does_not_fit_is_not_simulated() {
    let (stdout, stderr) = run(
        &words(
            "estimate -m llama3-70b --tp 8 --batch 1024 --dtype fp8 --input-len 7000 --rate 1 --format json",
        ),
        3,
    );
    let d: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(d["summary"]["simulation"].is_null());
    assert!(stderr.contains("not simulated"), "{stderr}");
}

#[test]
fn simulations_are_bounded() {
    // 10M requests took 2 GB; the limit is 1M, which finishes in about a second.
    let (_, stderr) = run(
        &words("estimate -m llama3-8b --rate 5 --requests 10000000"),
        2,
    );
    assert!(stderr.contains("from 1 to 1,000,000"), "{stderr}");
    let d = estimate_json(
        "estimate -m llama3-8b --batch 64 --rate 20 --requests 1000000 --format json",
        0,
    );
    assert!(d["summary"]["simulation"]["completed"].as_u64().unwrap() > 0);
    // A sweep simulates at most 20 rows.
    let (json, stderr) = run(
        &words("sweep -m llama3-8b --dtype fp8 --rate 5 --requests 100 --format json --all"),
        0,
    );
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let simulated = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !r["simulation"].is_null())
        .count();
    assert!(simulated <= 20 && simulated > 0, "{simulated}");
    assert!(stderr.contains("not simulated"), "{stderr}");
}

mod consistency {
    //! Issue 14 §6: the numbers of one configuration agree with each other.

    use super::common::{context, run};
    use gpt4calc::dtype::Dtype;
    use gpt4calc::perf::lengths::LengthDist;
    use gpt4calc::perf::{Batching, Config};

    #[test]
    fn a_static_batch_pays_for_its_idle_slots_in_the_output_price() {
        // Geometric lengths leave 26% of a static batch's slot-steps useful: the output tokens it
        // does produce carry the rest (the price used to stay at the fixed-length one).
        let ctx = context("llama3-70b", "h100", &[]);
        let fixed = Config {
            batching: Batching::Static,
            ..Config::new(8, 1, 64, 2048, 256, Dtype::Fp8)
        };
        let geo = Config {
            output_dist: LengthDist::Geometric,
            ..fixed
        };
        let (f, g) = (run(&ctx, &fixed), run(&ctx, &geo));
        let u = g.breakdown.useful_fraction;
        assert!(u < 0.3, "{u}");
        let ratio = g.usd_per_1m_output_tokens / f.usd_per_1m_output_tokens;
        assert!((ratio * u - 1.0).abs() < 1e-9, "ratio {ratio}, useful {u}");
    }

    #[test]
    fn mean_weights_per_gpu_count_the_replicated_attention() {
        // DP72 EP72: every GPU holds the attention and dense layers and 1/72 of the experts, so
        // with one stage the mean is the heaviest GPU's (it was total parameters / 72, 3× less).
        let ctx = context("deepseek-v3", "h100", &[]);
        let c = Config {
            dp: 72,
            ep: 72,
            redundant_experts: 32,
            ..Config::new(1, 1, 18432, 2000, 100, Dtype::Fp8)
        };
        let e = run(&ctx, &c);
        let mean = e.breakdown.mean_weights_bytes_per_gpu;
        assert!(
            (mean / e.weights_bytes_per_gpu - 1.0).abs() < 1e-9,
            "{mean}"
        );
    }

    #[test]
    fn tpot_is_the_decode_step_plus_the_interleaved_prefills() {
        // The terms --explain prints add up to the TPOT it prints: the decode step, the
        // replacements' prefills, less what context-generation fusion saves (the default
        // runtime runs a step's decode rows and prompt chunk as one forward).
        let ctx = context("llama3-70b", "h100", &[]);
        let c = Config::new(8, 2, 64, 2048, 256, Dtype::Fp8);
        let e = run(&ctx, &c);
        let b = &e.breakdown;
        assert!(b.fused_saving_s > 0.0, "{}", b.fused_saving_s);
        let sum =
            b.decode_step_s + 64.0 / 256.0 * 2048.0 / b.prefill_tokens_per_s - b.fused_saving_s;
        assert!(
            (sum / e.tpot_s - 1.0).abs() < 1e-12,
            "{sum} vs {}",
            e.tpot_s
        );
    }
}

#[test]
fn explain_prints_the_interleaved_prefill_and_both_pools() {
    let (stdout, _) = run(
        &words("estimate -m llama3-70b --tp 8 --pp 2 --batch 64 --dtype fp8 --explain"),
        0,
    );
    assert!(stdout.contains("TPOT = decode step + "), "{stdout}");
    let (stdout, _) = run(
        &words(
            "estimate -m llama3-70b --tp 8 --batch 128 --dtype fp8 --disaggregate 3:1 --prefill-tp 4 --explain",
        ),
        0,
    );
    assert!(
        stdout.contains("20 GPUs (3 prefill replica(s) × 4 GPUs + 1 decode replica(s) × 8 GPUs)"),
        "{stdout}"
    );
}

#[test]
fn weight_only_fp8_says_so_in_the_row() {
    let d = estimate_json(
        "estimate -m llama3-70b -g a100-80g --tp 8 --dtype fp8 --batch 8 --format json",
        0,
    );
    assert_eq!(d["results"][0]["dtype"], "fp8");
    assert_eq!(d["results"][0]["matmul_dtype"], "fp16");
    let (table, _) = run(
        &words("estimate -m llama3-70b -g a100-80g --tp 8 --dtype fp8 --batch 8"),
        0,
    );
    assert!(table.contains("fp8 w-only"), "{table}");
    let d = estimate_json(
        "estimate -m llama3-70b --tp 8 --dtype fp8 --batch 8 --format json",
        0,
    );
    assert_eq!(d["results"][0]["matmul_dtype"], "fp8");
    // FP4 weights on Hopper (no FP4 tensor cores) run 16-bit math and say so; on B200 they do not.
    let (table, _) = run(
        &words("estimate -m llama3-70b -g h100 --tp 2 --dtype nvfp4 --batch 8"),
        0,
    );
    assert!(table.contains("nvfp4 w-only/fp8"), "{table}");
    let d = estimate_json(
        "estimate -m llama3-70b -g b200 --tp 2 --dtype fp4 --batch 8 --format json",
        0,
    );
    assert_eq!(d["results"][0]["dtype"], "nvfp4");
    assert_eq!(d["results"][0]["matmul_dtype"], "nvfp4");
    assert_eq!(d["results"][0]["kv_dtype"], "fp8");
}

#[test]
fn a_simulation_that_cannot_produce_a_number_is_an_error() {
    // A rate so low the first arrival never comes gave NaN latencies; the rate's range now
    // refuses it before the simulation runs.
    fails(
        "estimate -m llama3-8b --rate 1e-310",
        &["--rate 1e-310", "from 1e-6 to 1e6"],
    );
    fails("sweep -m llama3-8b --rate 1e-310", &["--rate 1e-310"]);
}

#[test]
fn a_set_integer_beyond_toml_range_names_the_range_not_a_type() {
    // TOML integers are i64: a larger literal used to reach the preset as a string and be refused
    // with `invalid type: string "…", expected u64`. A field with a range names it.
    fails(
        "estimate -m gpt4-8k -g h100 --set model.d_model=18446744073709551615",
        &[
            "--set model.d_model=18446744073709551615",
            "`model.d_model` must be an integer from 1 to 1,048,576",
        ],
    );
    fails(
        "estimate -m gpt4-8k -g h100 --set h100:gpu.memory_gib=-1_000_000_000_000_000_000_000",
        &["`gpu.memory_gib` must be a finite number from 1 to 1048576"],
    );
    // A key with no range of its own is read as the number it is and the preset answers: here
    // `name` is no field of `model` (it named TOML's integer range before).
    fails(
        "estimate -m gpt4-8k -g h100 --set model.name=18446744073709551615",
        &["unknown field `name`"],
    );
    // Within i64, the field's own range speaks.
    fails(
        "estimate -m gpt4-8k -g h100 --set model.d_model=9223372036854775807",
        &["model.d_model"],
    );
    // Malformed numbers are not called out of range: they stay strings, for string fields too.
    for bad in ["007", "+-5", "1__0", "_1"] {
        let (_, err) = run(
            &words(&format!(
                "estimate -m gpt4-8k -g h100 --set model.d_model={bad}"
            )),
            1,
        );
        assert!(!err.contains("out of range"), "{bad}: {err}");
    }
    run(
        &words("estimate -m llama3-8b -g h100 --set gpu.node.fabric=0123 --format json"),
        0,
    );
}

#[test]
fn reproduce_says_not_computable_where_a_what_if_leaves_a_value_undefined() {
    // A price of 0 (inside the documented range) makes the cost ratios 0/0, and a 1 GiB GPU
    // leaves no configuration of the article's layout to price. Those rows are verdicted
    // `not computable`, with a null value and a reason; no format prints NaN or inf.
    for set in ["gpu.price.usd_per_gpu_hour=0", "gpu.memory_gib=1"] {
        for format in ["table", "json", "csv", "markdown"] {
            let (out, _) = run(&["reproduce", "--set", set, "--format", format], 0);
            let lower = out.to_lowercase();
            let bad = lower
                .split(|c: char| !c.is_ascii_alphanumeric())
                .find(|w| ["nan", "inf", "infinity"].contains(w));
            assert!(bad.is_none(), "{set} {format}: {bad:?} in {out}");
            assert!(out.contains("not computable"), "{set} {format}");
        }
        let (out, _) = run(&["reproduce", "--set", set, "--format", "json"], 0);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let rows = v["claims"].as_array().unwrap();
        let undefined: Vec<_> = rows
            .iter()
            .filter(|c| c["verdict"] == "not computable")
            .collect();
        assert!(!undefined.is_empty(), "{set}");
        for c in undefined {
            assert!(c["computed_value"].is_null() && c["ratio"].is_null(), "{c}");
            assert!(
                c["explanation"]
                    .as_str()
                    .unwrap()
                    .contains("Not computable")
            );
        }
    }
}

#[test]
fn explain_never_prints_a_negative_room_for_the_kv_cache() {
    // GPT-4 on one H100 cannot hold its weights: the explanation says by how much they exceed
    // the GPU and that no room is left for the KV cache, instead of "may take -3006".
    let (out, _) = run(&["estimate", "--explain"], 3);
    let line = out
        .lines()
        .find(|l| l.starts_with("Memory on the heaviest GPU"))
        .expect("memory line");
    assert!(line.contains("leaving no room for the KV cache"), "{line}");
    assert!(!line.contains(" -"), "{line}");
    let (out, _) = run(
        &["estimate", "-m", "llama3-8b", "-g", "h100", "--explain"],
        0,
    );
    assert!(out.contains("the KV cache may take"));
}

#[test]
fn a_run_too_short_to_settle_reports_what_it_served_not_what_was_offered() {
    // 1,000 requests at 1,000 req/s on one batch-1 replica: no request finishes before the
    // middle arrival, so the served rate is the run's own (127 tok/s), not the 256,000 offered;
    // the queue piling up still says OVERLOADED, without the contradictory "too short to judge".
    let line = "estimate -m llama3-8b --rate 1000 --requests 1000";
    let v = estimate_json(&format!("{line} --format json"), 0);
    let r = &v["summary"]["simulation"];
    let served = r["served_output_tokens_per_s"].as_f64().unwrap();
    let offered = r["offered_output_tokens_per_s"].as_f64().unwrap();
    assert!(served < 0.01 * offered, "{served} vs {offered}");
    assert!(r["overloaded"].as_bool().unwrap());
    let (out, _) = run(&words(line), 0);
    assert!(
        out.contains("OVERLOADED") && !out.contains("too short to judge"),
        "{out}"
    );
}

#[test]
fn a_dense_model_takes_a_wider_prefill_pool_without_expert_ranks() {
    // `--prefill-tp 8` on a dense model served at TP1 used to fail on `--prefill-ep 8`, a flag
    // never given: the prefill pool keeps the decode pool's EP 1.
    let v = estimate_json(
        "estimate -m llama3-8b --disaggregate 3:1 --prefill-tp 8 --format json",
        0,
    );
    assert_eq!(v["results"][0]["gpus"].as_u64(), Some(25));
    run(
        &words("sweep -m llama3-8b --disaggregate 1:1 --prefill-tp 8 --format csv"),
        0,
    );
}

#[test]
fn a_training_run_shorter_than_one_step_is_refused_and_the_memory_line_names_the_runtime() {
    // One token against an 8,192-token step printed 1.2e-9 days beside a 0.84 s step.
    fails(
        "train -m llama3-8b -g h100 --gpus 1 --tp 1 --pp 1 --tokens 1 --global-batch-tokens 8192",
        &[
            "--tokens 1",
            "--global-batch-tokens 8192",
            "one optimizer step",
        ],
    );
    // The memory sum printed "+ runtime =" with its value missing.
    let (out, _) = run(
        &words("train -m llama3-8b -g h100 --gpus 8 --tp 1 --pp 1 --micro-batch 1 --zero 1"),
        3,
    );
    let line = out
        .lines()
        .find(|l| l.starts_with("Memory on the heaviest GPU"))
        .expect("memory line");
    assert!(line.contains("+ runtime 3.60 ="), "{line}");
}

#[test]
fn an_estimate_skipped_for_its_context_still_prints_a_document_to_scripts() {
    // Input longer than the model's context: exit 3 with a note, and JSON/CSV readers get their
    // document (inputs and no row) as from a sweep that keeps nothing, not an empty stdout.
    let v = estimate_json("estimate --input-len 1m --format json", 3);
    assert!(v["results"].as_array().unwrap().is_empty());
    assert_eq!(v["inputs"]["model"], "gpt4-8k");
    let (csv, err) = run(&words("estimate --input-len 1m --format csv"), 3);
    assert_eq!(csv.lines().count(), 1, "{csv}");
    assert!(
        err.contains("exceeds the model's 8192-token context"),
        "{err}"
    );
}

#[test]
fn default_degrees_the_model_cannot_take_are_left_out_with_a_note() {
    // A 12-layer model with 20 heads: the default --pp 16 exceeds its layers and the default
    // --tp 8 does not divide its heads. Both used to stop the default sweep (and train) with an
    // error about a flag the user never typed.
    let set = ["--set", "model.layers=12", "--set", "model.heads=20"];
    let sweep = [
        &["sweep", "-m", "llama3-8b", "--set", "model.kv_heads=4"][..],
        &set,
        &["--format", "csv"],
    ]
    .concat();
    let (stdout, stderr) = run(&sweep, 0);
    assert!(
        stderr.contains("note: default --pp 16 left out: must be at most llama3-8b's 12 layers"),
        "{stderr}"
    );
    assert!(
        stderr
            .contains("note: default --tp 8 left out: must divide llama3-8b's 20 attention heads"),
        "{stderr}"
    );
    let mut lines = stdout.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let (tp, pp) = (
        header.iter().position(|h| *h == "tp").expect("tp column"),
        header.iter().position(|h| *h == "pp").expect("pp column"),
    );
    let rows: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    assert!(!rows.is_empty());
    for r in &rows {
        assert!(["1", "2", "4"].contains(&r[tp].as_str()), "tp {}", r[tp]);
        assert!(
            ["1", "2", "4", "8"].contains(&r[pp].as_str()),
            "pp {}",
            r[pp]
        );
    }
    let train = [
        &[
            "train",
            "-m",
            "llama3-8b",
            "--set",
            "model.kv_heads=4",
            "-g",
            "h100",
            "--gpus",
            "64",
            "--tokens",
            "1e12",
        ][..],
        &set,
        &["--format", "json"],
    ]
    .concat();
    let (_, stderr) = run(&train, 0);
    assert!(
        stderr.contains("note: default --pp 16 left out"),
        "{stderr}"
    );
    assert!(stderr.contains("note: default --tp 8 left out"), "{stderr}");
    // A degree the user names is still checked.
    fails(
        "sweep -m llama3-8b --set model.layers=12 --pp 16",
        &["--pp 16", "at most the model's 12 layers"],
    );
}

#[test]
fn a_range_explores_the_degrees_the_model_takes_and_a_named_one_is_checked() {
    // Llama-4 Maverick has 40 attention heads and 128 experts. `--tp 1..16` (1, 2, 4, 8, 16) used
    // to stop the whole sweep at 16; a range now leaves it out with a note, as the defaults do.
    let maverick = |axis: &'static str, v: &'static str| {
        [
            "sweep",
            "-m",
            "llama4-maverick",
            "-g",
            "h200",
            "--dtype",
            "fp8",
            axis,
            v,
        ]
    };
    let sweep = [
        &maverick("--tp", "1..16")[..],
        &["--ep", "1..256", "--batch", "64", "--format", "csv"],
    ]
    .concat();
    let (stdout, stderr) = run(&sweep, 0);
    assert!(
        stderr.contains("note: --tp 16 left out: must divide llama4-maverick's 40 attention heads"),
        "{stderr}"
    );
    assert!(
        stderr.contains("note: --ep 256 left out: must divide llama4-maverick's 128 expert slots"),
        "{stderr}"
    );
    let mut lines = stdout.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let tp = header.iter().position(|h| *h == "tp").expect("tp column");
    let tps: std::collections::BTreeSet<String> = lines
        .map(|l| l.split(',').nth(tp).expect("tp").to_string())
        .collect();
    assert_eq!(tps, ["1", "2", "4", "8"].map(String::from).into());
    // Training explores its ranges the same way.
    let (_, stderr) = run(
        &[
            "train",
            "-m",
            "llama4-maverick",
            "-g",
            "h100",
            "--dtype",
            "bf16",
            "--gpus",
            "256",
            "--tp",
            "1..16",
            "--ep",
            "1..256",
            "--tokens",
            "1e12",
            "--format",
            "json",
        ],
        0,
    );
    assert!(stderr.contains("note: --tp 16 left out"), "{stderr}");
    assert!(
        stderr.contains("note: --ep 256 left out: must divide llama4-maverick's 128 experts"),
        "{stderr}"
    );
    // A degree named alone, or beside a range, is still an error; so is a range none of whose
    // degrees the model takes.
    for tp in ["16", "1..8,16", "16..32"] {
        common::fails_cli(
            &maverick("--tp", tp),
            &["--tp 16", "must divide the model's 40 attention heads"],
        );
    }
    common::fails_cli(
        &maverick("--ep", "3"),
        &["--ep 3", "must divide the model's 128 experts"],
    );
    // Two GPUs, one model: the note once.
    let (_, stderr) = run(
        &[
            "sweep",
            "-m",
            "llama4-maverick",
            "-g",
            "h200,b200",
            "--dtype",
            "fp8",
            "--tp",
            "1..16",
            "--batch",
            "64",
            "--top",
            "1",
        ],
        0,
    );
    assert_eq!(stderr.matches("--tp 16 left out").count(), 1, "{stderr}");
    // A named degree that fails is the answer alone: no note about the range beside it.
    for (tp, named) in [("3,1..16", "--tp 3:"), ("1..16,24", "--tp 24:")] {
        let (_, stderr) = run(&maverick("--tp", tp), 1);
        assert!(stderr.contains(named), "{tp}: {stderr}");
        assert!(!stderr.contains("left out"), "{tp}: {stderr}");
    }
    // A dense model explores an --ep range at 1 only, and names a larger one as dense.
    let (_, stderr) = run(
        &[
            "sweep",
            "-m",
            "llama3-8b",
            "-g",
            "h100",
            "--tp",
            "1",
            "--ep",
            "1..8",
            "--batch",
            "8",
        ],
        0,
    );
    assert!(
        stderr.contains("note: --ep 2,4,8 left out: llama3-8b is dense (no routed experts)"),
        "{stderr}"
    );
    for cmd in [
        &["sweep", "-m", "llama3-8b", "-g", "h100", "--ep", "2"][..],
        &[
            "train",
            "-m",
            "llama3-8b",
            "-g",
            "h100",
            "--gpus",
            "64",
            "--ep",
            "2",
            "--tokens",
            "1e12",
        ],
    ] {
        common::fails_cli(cmd, &["--ep 2", "the model is dense"]);
    }
}

#[test]
fn a_sweep_whose_every_configuration_is_skipped_says_so_not_to_add_gpus() {
    // GPT-3's 2,048-token context cannot hold the default 2,048 + 256 tokens: every configuration
    // is skipped, and the closing line used to blame memory and suggest more GPUs.
    let (_, stderr) = run(&["sweep", "-m", "gpt3-175b", "-g", "h100"], 3);
    assert!(
        stderr.contains("exceeds the model's 2048-token context"),
        "{stderr}"
    );
    assert!(
        stderr.contains("no configuration could be evaluated: every one was skipped"),
        "{stderr}"
    );
    assert!(!stderr.contains("try more GPUs"), "{stderr}");
}

#[test]
fn a_training_job_that_fails_faster_than_it_checkpoints_is_skipped_with_why() {
    // 100,000 H100s at a 10-hour MTBF fail every 0.36 s against 60 s checkpoints. Goodput used
    // to be floored at 1% without a word (1,809 days printed); now the row is skipped and the
    // note gives the failure interval.
    let (stdout, stderr) = run(
        &[
            "train",
            "-m",
            "gpt4-8k",
            "-g",
            "h100",
            "--gpus",
            "100000",
            "--tp",
            "8",
            "--pp",
            "16",
            "--tokens",
            "13e12",
            "--global-batch-tokens",
            "60e6",
            "--gpu-mtbf-hours",
            "10",
        ],
        3,
    );
    assert!(!stdout.contains("│"), "{stdout}");
    assert!(
        stderr.contains("a failure every 0.360 s (10.0 h GPU MTBF over 99968 GPUs)")
            && stderr.contains("less than 0.1% of the wall time"),
        "{stderr}"
    );
}

#[test]
fn train_with_a_given_mfu_reports_no_bubble_of_its_own() {
    // `--mfu` prices the step from the given utilisation, bubble included: the row used to say
    // bubble_fraction 0.65 beside bubble_s 0.
    let (stdout, _) = run(
        &[
            "train",
            "-m",
            "gpt4-8k",
            "-g",
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
            "--mfu",
            "0.34",
            "--format",
            "json",
        ],
        3,
    );
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let row = &doc["results"][0];
    assert_eq!(row["bubble_fraction"].as_f64(), Some(0.0), "{row}");
    assert_eq!(row["bubble_s"].as_f64(), Some(0.0), "{row}");
    assert!((row["mfu"].as_f64().unwrap() - 0.34).abs() < 1e-9);
}

#[test]
fn odd_names_and_numbers_get_one_plain_line() {
    // A float where a count goes used to print serde's every digit of 1e308; a whole one is out
    // of the field's range, a fractional one is no count.
    fails(
        "estimate -m llama3-8b --set model.layers=1e308",
        &["`model.layers` must be an integer from 1 to 65,536"],
    );
    fails(
        "estimate -m llama3-8b --set model.layers=61.5",
        &[
            "`61.5` is not an integer literal",
            "model.layers",
            "e.g. 61",
        ],
    );
    // A GPU name is not pointed to a Hugging Face config.json, which describes models.
    let (_, stderr) = run(&["estimate", "-g", "nope"], 1);
    assert!(stderr.contains("unknown gpu preset `nope`"), "{stderr}");
    assert!(!stderr.contains("config.json"), "{stderr}");
    // An empty name says it is empty rather than guessing at b200.
    let (_, stderr) = run(&["presets", "show", ""], 1);
    assert!(stderr.contains("a preset name is empty"), "{stderr}");
    assert!(!stderr.contains("did you mean"), "{stderr}");
}

/// No number in `text` is infinite or runs to more than 20 digits in a row.
fn assert_printable_numbers(text: &str) {
    assert!(
        !text
            .split(|c: char| !c.is_alphanumeric())
            .any(|w| w == "inf"),
        "an infinite number: {text}"
    );
    let longest = text
        .split(|c: char| !c.is_ascii_digit())
        .map(str::len)
        .max()
        .unwrap_or(0);
    assert!(longest <= 20, "a {longest}-digit number: {text}");
}

#[test]
fn a_run_slowed_past_its_failure_rate_reads_as_never_finishing_not_inf() {
    // A thousandth of a TFLOP/s makes the article's A100 run outlast its GPUs' MTBF: its goodput
    // underflows to 0 and its length to infinity. The reproduce explanations used to print
    // "about inf restarts"; at a hundredth they printed a 93-digit count.
    let (out, _) = run(
        &words("reproduce --set gpu.tflops.bf16=0.001 --format json"),
        0,
    );
    assert_printable_numbers(&out);
    assert!(out.contains("never reaches its end"), "{out}");
    assert!(out.contains("which never finishes"), "{out}");
    let (out, _) = run(
        &words("reproduce --set gpu.tflops.bf16=0.01 --format markdown"),
        0,
    );
    assert_printable_numbers(&out);
    assert!(out.contains("e92 restarts"), "{out}");
}

#[test]
fn a_validation_case_with_a_wild_error_prints_it_compactly() {
    // 1e-11 tokens/s measured against a prediction near 1,800: the error is 1.8e16%, printed in
    // scientific notation in the table, not as a 17-digit integer.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wild.toml");
    std::fs::write(
        &path,
        "[[case]]\nid = \"c1\"\nsource = \"t\"\nkind = \"inference\"\nmodel = \"mixtral-8x7b\"\ngpu = \"h100\"\ndtype = \"fp16\"\ntp = 2\nbatch = 64\ninput_len = 128\noutput_len = 128\nmode = \"fixed\"\nmetric = \"output_tokens_per_s\"\nvalue = 1e-11\n",
    )
    .unwrap();
    let path = path.to_str().unwrap();
    for format in ["table", "markdown"] {
        let (out, _) = run(&["validate", "--cases", path, "--format", format], 0);
        assert_printable_numbers(&out);
        assert!(out.contains("e16%"), "{out}");
        assert!(out.contains("e14×"), "{out}");
    }
}

#[test]
fn checkpoint_flags_are_checked_without_a_failure_rate_too() {
    // They were range-checked only beside --gpu-mtbf-hours, so a NaN passed unseen without it.
    let base = "train -m llama3-8b -g h100 --gpus 8 --tp 1 --pp 1 --zero 3 --format csv";
    fails(
        &format!("{base} --checkpoint-write-s nan"),
        &["--checkpoint-write-s NaN", "from 0 to 1e9"],
    );
    fails(
        &format!("{base} --restart-s -1"),
        &["--restart-s -1", "from 0 to 1e9"],
    );
    fails(
        &format!("{base} --checkpoint-write-s 1e10"),
        &["--checkpoint-write-s", "from 0 to 1e9"],
    );
    let (_, stderr) = run(&words(&format!("{base} --checkpoint-interval-s 100")), 0);
    assert!(stderr.contains("only with --gpu-mtbf-hours"), "{stderr}");
}

#[test]
fn a_preset_name_with_a_newline_or_nothing_is_refused() {
    // It broke the table cell and the notes in two, and left an empty `model` in CSV and JSON.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/presets/models/llama3-8b.toml"
    ))
    .unwrap();
    for (file, name, shown) in [
        ("newline.toml", "\"a\\nb\"", "name = \"a\\nb\""),
        ("empty.toml", "\"\"", "name = \"\""),
    ] {
        let path = dir.path().join(file);
        let renamed: String = text
            .lines()
            .map(|l| {
                if l.starts_with("name = ") {
                    format!("name = {name}")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(&path, renamed).unwrap();
        let path = path.to_str().unwrap();
        common::fails_cli(
            &["estimate", "-m", path, "-g", "h100"],
            &[shown, "1 to 128 characters", "no control characters"],
        );
    }
}

#[test]
fn a_derived_prefill_ep_that_does_not_divide_the_experts_skips_not_aborts() {
    // The prefill pool takes the decode pool's full EP over its own tp × dp: 16 for mixtral's 8
    // experts at --prefill-tp 4 and dp 4. It used to end the whole sweep with an error naming a
    // --prefill-ep the user never gave.
    let (out, stderr) = run(
        &words("sweep -m mixtral-8x7b -g h100 --disaggregate 1:1 --prefill-tp 4 --format csv"),
        0,
    );
    assert!(out.lines().count() > 1, "{out}");
    assert!(
        stderr.contains("the prefill pool's expert parallelism, 16")
            && stderr.contains("set --prefill-ep"),
        "{stderr}"
    );
    // A --prefill-ep the user names is still checked as given.
    fails(
        "estimate -m mixtral-8x7b -g h100 --tp 1 --dp 8 --ep 8 --disaggregate 1:1 --prefill-tp 4 --prefill-ep 16",
        &["--prefill-ep 16", "must divide the model's 8 experts"],
    );
}

#[test]
fn negative_values_name_their_flag_and_range() {
    // Clap took `-1` for an unknown flag ("unexpected argument '-1' found") and the integer
    // parser said "invalid digit found in string": neither named the flag's range.
    for (args, code, needles) in [
        (
            "estimate --scheduler-recv-interval -1",
            2,
            &["--scheduler-recv-interval", "negative", "from 1 to 1,000"][..],
        ),
        (
            "estimate --adp-balance-wait -1",
            2,
            &["--adp-balance-wait", "negative", "from 0 to 1,000"][..],
        ),
        (
            "estimate --redundant-experts -1",
            2,
            &["--redundant-experts", "negative", "from 0 to 65,536"],
        ),
        (
            "train -m llama3-8b --mtp-layers 1.5",
            2,
            &["--mtp-layers", "not a whole number", "from 0 to 64"],
        ),
        (
            "train -m llama3-8b --zero -1",
            2,
            &["--zero", "`-1`: not a ZeRO stage", "0, 1, 2 or 3"],
        ),
        (
            "train -m llama3-8b --restart-s -1",
            1,
            &["--restart-s -1", "from 0 to 1e9"],
        ),
        // A dense model's expert parallelism: no redundant experts to suggest.
        (
            "estimate -m llama3-8b --tp 2 --ep 2",
            1,
            &["--ep 2", "dense", "must be 1"],
        ),
    ] {
        let (_, stderr) = run(&words(args), code);
        for n in needles {
            assert!(stderr.contains(n), "{args}: {n:?} not in {stderr}");
        }
        assert!(!stderr.contains("unexpected argument"), "{args}: {stderr}");
    }
}

#[test]
fn a_toml_number_too_large_names_its_key() {
    // "number too large to fit in target type" alone left the user to find the key at line:col.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/presets/models/llama3-8b.toml"
    ))
    .unwrap();
    let (huge, float) = (dir.path().join("huge.toml"), dir.path().join("float.toml"));
    std::fs::write(
        &huge,
        text.replace("d_model = 4096", "d_model = 18446744073709551615"),
    )
    .unwrap();
    std::fs::write(&float, text.replace("d_model = 4096", "d_model = 1e400")).unwrap();
    for (path, msg) in [
        (&huge, "number too large"),
        (&float, "invalid floating-point number"),
    ] {
        common::fails_cli(
            &["estimate", "-m", path.to_str().unwrap(), "-g", "h100"],
            &["`d_model`", msg],
        );
    }
}

#[test]
fn a_set_of_a_whole_table_says_which_table_and_borrow_says_where_it_goes() {
    fails(
        "estimate --set gpu.fused_moe.fp4={compute=0.5,memory=0.5}",
        &["in `gpu.fused_moe.fp4`", "missing field `fixed_us`"],
    );
    fails(
        "estimate --set gpu.custom_all_reduce=[{gpus=8,bytes=1,us=0.01}]",
        &["in `gpu.custom_all_reduce`", "expected a sequence"],
    );
    // `borrow` is documented as a preset field, so "unknown field" was wrong.
    fails(
        "estimate --set gpu.borrow=h100",
        &[
            "`gpu.borrow` is read from the preset file",
            "before any --set",
        ],
    );
}

#[test]
fn a_require_bound_must_be_finite() {
    // `ttft_s<=inf` was accepted and kept every row; 1e400 parses to infinity too.
    for bound in ["inf", "1e400", "-inf"] {
        fails(
            &format!("sweep -m llama3-8b --require ttft_s<={bound}"),
            &["--require", "is not a finite number", "numeric"],
        );
    }
}

#[test]
fn a_global_batch_of_partial_sequences_is_noted_and_interleave_names_auto() {
    let (_, stderr) = run(
        &words(
            "train -m llama3-8b --gpus 64 --tp 1 --pp 1 --zero 3 --seq-len 8192 --global-batch-tokens 4194305",
        ),
        0,
    );
    assert!(
        stderr.contains("512.0001 sequences of 8192 tokens") && stderr.contains("rounds up"),
        "{stderr}"
    );
    fails(
        "train -m llama3-8b --interleave auto,1",
        &["--interleave", "or `auto` alone"],
    );
}

#[test]
fn a_sweep_row_whose_simulation_cannot_finish_keeps_the_sweep() {
    // Ten steps cannot finish a 1,000-token output: that row has no simulation, with a note,
    // where one such row used to end the whole sweep with an error.
    let (out, stderr) = run(
        &words(
            "sweep -m llama3-8b -g h100 --tp 1 --pp 1 --batch 8 --output-len 1000 --rate 1 --requests 2 --step-budget 10",
        ),
        0,
    );
    assert!(out.contains("TP1"), "{out}");
    assert!(!out.contains("Simulated 2 requests"), "{out}");
    assert!(
        stderr.contains("note: --rate 1.0: 1 row is not simulated: no request finished")
            && stderr.contains("shorten --output-len"),
        "{stderr}"
    );
}

#[test]
fn presets_show_refuses_a_set_of_the_other_kind() {
    // It was accepted and changed nothing shown.
    fails(
        "presets show h100 --set model.experts=8",
        &[
            "`model.experts` is not a field of the GPU preset `h100`",
            "`gpu.`",
        ],
    );
    fails(
        "presets show mixtral-8x7b --set gpu.memory_gib=1",
        &["`gpu.memory_gib`", "model preset `mixtral-8x7b`"],
    );
}

#[test]
fn a_whole_number_written_as_a_float_sets_a_count() {
    // `1e8` for attention_params_per_layer, whose documented range reaches 1e15, used to be
    // refused as "not an integer literal"; a fraction still is.
    let (out, _) = run(
        &words("presets show llama3-8b --set model.attention_params_per_layer=1e8"),
        0,
    );
    assert!(
        out.contains("attention_params_per_layer = 100000000"),
        "{out}"
    );
    fails(
        "estimate --set model.layers=1.5",
        &["`1.5` is not an integer literal for `model.layers`"],
    );
}

#[test]
fn an_imposed_mfu_the_hardware_cannot_run_is_skipped_with_its_ceiling() {
    // `--mfu 0.8` with full recomputation printed HFU 115% (1,133 TFLOP/s on a 989 TFLOP/s H100).
    let (_, stderr) = run(
        &words("train -m llama3-70b -g h100 --gpus 1024 --tp 8 --pp 4 --recompute full --mfu 0.8"),
        3,
    );
    assert!(
        stderr.contains("--mfu 0.8 needs 114.5% of the GPU's peak")
            && stderr.contains("its full recomputation and attention run 1.43×")
            && stderr.contains("so its MFU is at most 0.698"),
        "{stderr}"
    );
    // The ceiling it prints runs.
    run(
        &words(
            "train -m llama3-70b -g h100 --gpus 1024 --tp 8 --pp 4 --recompute full --mfu 0.698",
        ),
        0,
    );
    // The configurations that can run it stay, and none reports an HFU past 1.
    let (out, _) = run(
        &words(
            "train -m llama3-70b -g h100 --gpus 1024 --tp 8 --pp 4 --recompute none,full --mfu 0.8 --format json",
        ),
        0,
    );
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = doc["results"].as_array().unwrap();
    assert!(!rows.is_empty());
    for r in rows {
        assert!(r["hfu"].as_f64().unwrap() <= 1.0, "{r}");
        assert_eq!(r["recompute"], "none", "{r}");
    }
}

#[test]
fn interleaving_without_a_pipeline_is_skipped() {
    // `--interleave 32 --pp 1` showed v = 32 with the step time of v = 1.
    let (_, stderr) = run(
        &words("train -m llama3-8b -g h100 --gpus 64 --tp 1 --pp 1 --interleave 32"),
        3,
    );
    assert!(
        stderr.contains("interleave 32 needs pipeline parallelism"),
        "{stderr}"
    );
}

#[test]
fn reproduce_inputs_keep_to_ranges_whose_claims_stay_finite() {
    // 1e308 printed "the article's inf% MFU" and "$inf per 1M"; an acceptance of 5 was clamped
    // to 1 while the text said 5.0; a price of 1e20 was refused under an internal key with
    // TOML's integer range.
    fails(
        "reproduce --set article.a100_mfu_low=5",
        &["`a100_mfu_low` (fraction) must be from 1e-6 to 1"],
    );
    fails(
        "reproduce --set source.acceptance=5",
        &["`acceptance` (probability) must be from 1e-6 to 1"],
    );
    fails(
        "reproduce --set article.a100_cost_usd_per_1k=1e308",
        &["`a100_cost_usd_per_1k`", "from 1e-9 to 1e15"],
    );
    fails(
        "reproduce --set article.a100_usd_per_hour=1e20",
        &["`a100_usd_per_hour` (USD/GPU-hour) must be from 1e-9 to 10000"],
    );
    fails(
        "reproduce --set article.a100_mfu_low=0.5",
        &["article.a100_mfu_low = 0.5 exceeds article.a100_mfu_high = 0.36"],
    );
    // A claim's own preset error keeps its reason (it printed only the preset and its --set).
    fails(
        "reproduce --set article.segment_gbit_s_per_node=1e9",
        &[
            "claim segments-allreduce",
            "gpu.node.scaleout_gbit_s = 1.25e8: must be a finite number from 0.01 to 1e6",
        ],
    );
    // A faster memory than the article's moves the parameter limit down, and says so ("up by
    // -66%" before).
    let (out, _) = run(&words("reproduce --set article.h100_tb_s=10"), 0);
    assert!(out.contains("moves the limit down by 66%"), "{out}");
}

#[test]
fn an_integer_past_toml_gets_the_fields_own_range() {
    // It named TOML's i64 range, not the field's.
    fails(
        "presets show gpt4-8k --set model.layers=9223372036854775808",
        &["`model.layers` must be an integer from 1 to 65,536"],
    );
}

#[test]
fn a_frontier_floor_out_of_reach_is_named_compactly() {
    // An interactivity of 1e300 was spelled out as a 301-digit number in the case's reason.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.toml");
    std::fs::write(
        &path,
        "[[case]]\nid = \"f\"\nsource = \"s\"\nkind = \"inference\"\nmodel = \"llama3-8b\"\ngpu = \"h100\"\ndtype = \"bf16\"\ngpus = 8\ninput_len = 128\noutput_len = 128\nmode = \"frontier\"\ninteractivity = 1e300\nmetric = \"output_tokens_per_s_per_gpu\"\nvalue = 1\n",
    )
    .unwrap();
    let (out, _) = run(
        &[
            "validate",
            "--cases",
            path.to_str().unwrap(),
            "--format",
            "json",
        ],
        0,
    );
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let reason = doc["cases"][0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("no layout and batch that fits reaches 1e300 tokens/s per user"),
        "{reason}"
    );
}

#[test]
fn reproduce_gives_no_value_for_an_article_mfu_past_the_peak() {
    // 92% MFU under full recomputation needs about 1.3× the A100's peak: the what-if used to
    // print "at its 92% the run takes 35 days".
    let (out, _) = run(
        &words(
            "reproduce --set article.a100_mfu_low=0.9 --set article.a100_mfu_high=0.95 --format json",
        ),
        0,
    );
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let claim = |id: &str| {
        doc["claims"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()
            .clone()
    };
    for id in ["training-days", "training-cost", "h100-days"] {
        assert!(claim(id)["computed_with_article_input"].is_null(), "{id}");
    }
    let why = claim("training-days")["explanation"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        why.contains("the article's 92% would need more than the GPU's peak"),
        "{why}"
    );
}

#[test]
fn a_flag_given_no_value_says_so() {
    // With hyphen values allowed, `--tokens --gpus 8` took `--gpus` for the token count and
    // reported "unexpected argument '8' found". (`-inf` and `-13T` are usage errors now.)
    for (args, flag) in [
        ("train -m llama3-8b --tokens --gpus 8", "--tokens"),
        ("sweep --disaggregate --rate 3", "--disaggregate"),
        ("train --mfu --all", "--mfu"),
    ] {
        let (_, stderr) = run(&words(args), 2);
        assert!(
            stderr.contains(&format!("a value is required for '{flag}")),
            "{args}: {stderr}"
        );
    }
}

#[test]
fn a_number_past_what_a_field_holds_gets_the_fields_range() {
    // A float field past i64 was told TOML's integer range; a count past 2^53 written as a
    // float was "not an integer literal".
    fails(
        "estimate --set gpu.tflops.bf16=99999999999999999999",
        &["`gpu.tflops.bf16` must be a finite number from 0.001 to 1e6"],
    );
    fails(
        "estimate --set model.layers=1e20",
        &["`model.layers` must be an integer from 1 to 65,536"],
    );
    fails(
        "estimate --set gpu.overheads.per_layer_us=99999999999999999999",
        &["`gpu.overheads.per_layer_us` must be a finite number from 0 to 1e6"],
    );
    // A whole number past u64 for an integer flag is out of range, not malformed.
    let (_, stderr) = run(&words("train --mtp-layers 99999999999999999999999"), 2);
    assert!(
        stderr.contains("must be an integer from 0 to 64") && !stderr.contains("not a whole"),
        "{stderr}"
    );
}

#[test]
fn a_model_takes_a_window_or_chunks_but_not_both() {
    // gpt-oss has a 128-token sliding window; chunked attention on top of it is refused in one
    // line naming both fields, and a chunk count without a chunk is too.
    fails(
        "estimate -m gpt-oss-120b -g h100 --set model.attention_chunk=8192",
        &["model.attention_chunk = 8192", "model.sliding_window = 128"],
    );
    fails(
        "estimate -m llama3-8b -g h100 --set model.attention_chunk_layers=4",
        &[
            "model.attention_chunk_layers = 4",
            "needs model.attention_chunk",
        ],
    );
    fails(
        "estimate -m llama4-maverick -g h100 --set model.attention_chunk_layers=49",
        &[
            "model.attention_chunk_layers = 49",
            "at most model.layers = 48",
        ],
    );
}
