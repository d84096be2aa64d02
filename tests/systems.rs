//! Several systems in one run: `--preset a,b` × `--gpu x,y` sweeps the product, ranked together,
//! with `model` and `gpu` in every row and as table columns.

mod common;

use common::{fails_cli, run_cli};
use gpt4calc::testutil::assert_close;
use serde_json::Value;
use std::collections::BTreeSet;

fn json(args: &[&str]) -> Value {
    let (stdout, _) = run_cli(args, 0);
    serde_json::from_str(&stdout).expect("JSON")
}

fn pairs(doc: &Value) -> BTreeSet<(String, String)> {
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["model"].as_str().unwrap().to_string(),
                r["gpu"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

const AXES: [&str; 6] = ["--tp", "1,2,4,8", "--pp", "1,2", "--dtype", "fp8"];

#[test]
fn sweep_covers_every_model_and_gpu_and_ranks_them_together() {
    let mut args = vec![
        "sweep",
        "-m",
        "llama3-70b,mixtral-8x7b",
        "-g",
        "h100,h200,b200",
        "--format",
        "json",
    ];
    args.extend(AXES);
    let doc = json(&args);
    assert_eq!(doc["inputs"]["model"], "llama3-70b,mixtral-8x7b");
    assert_eq!(doc["inputs"]["gpu"], "h100,h200,b200");
    let want: BTreeSet<(String, String)> = ["llama3-70b", "mixtral-8x7b"]
        .iter()
        .flat_map(|m| {
            ["h100", "h200", "b200"]
                .iter()
                .map(move |g| (m.to_string(), g.to_string()))
        })
        .collect();
    assert_eq!(pairs(&doc), want);
    let costs: Vec<f64> = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["usd_per_1m_output_tokens"].as_f64().unwrap())
        .collect();
    assert!(costs.windows(2).all(|w| w[0] <= w[1]), "cheapest first");

    // Each system's rows are exactly what a sweep of that system alone gives.
    for (m, g) in [("llama3-70b", "b200"), ("mixtral-8x7b", "h100")] {
        let mut one = vec!["sweep", "-m", m, "-g", g, "--format", "json"];
        one.extend(AXES);
        let alone = json(&one);
        let mine: Vec<&Value> = doc["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["model"] == m && r["gpu"] == g)
            .collect();
        let alone = alone["results"].as_array().unwrap();
        assert_eq!(mine.len(), alone.len(), "{m} on {g}");
        for (a, b) in mine.iter().zip(alone) {
            assert_eq!(*a, b, "{m} on {g}");
        }
    }
}

#[test]
fn the_table_gets_model_and_gpu_columns() {
    let mut args = vec![
        "sweep",
        "-m",
        "llama3-70b,mixtral-8x7b",
        "-g",
        "h100,b200",
        "--top",
        "30",
    ];
    args.extend(AXES);
    let (table, stderr) = run_cli(&args, 0);
    let header = table.lines().nth(1).unwrap();
    assert!(
        header.contains("model") && header.contains("gpu"),
        "{table}"
    );
    assert!(
        table.contains("mixtral-8x7b") && table.contains("b200"),
        "{table}"
    );
    assert!(stderr.contains("over 2 model(s) × 2 GPU(s)"), "{stderr}");
    // One system: no such columns.
    let mut args = vec!["sweep", "-m", "llama3-70b", "-g", "h100", "--top", "3"];
    args.extend(AXES);
    let (table, _) = run_cli(&args, 0);
    assert!(!table.lines().nth(1).unwrap().contains("model"), "{table}");
}

#[test]
fn pareto_over_several_gpus_is_one_frontier() {
    let mut args = vec![
        "sweep",
        "-m",
        "llama3-70b",
        "-g",
        "h100,b200",
        "--pareto",
        "--format",
        "json",
    ];
    args.extend(AXES);
    let doc = json(&args);
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
    assert!(pts.len() > 1);
    for (i, a) in pts.iter().enumerate() {
        for (j, b) in pts.iter().enumerate() {
            let dominated = b.0 >= a.0 && b.1 >= a.1 && (b.0 > a.0 || b.1 > a.1);
            assert!(i == j || !dominated, "{b:?} dominates {a:?}");
        }
    }
}

#[test]
fn train_compares_gpus_and_a_config_json_joins_a_list() {
    let doc = json(&[
        "train",
        "-m",
        "gpt4-8k",
        "-g",
        "a100-40g,h100",
        "--gpus",
        "25000",
        "--tp",
        "8",
        "--pp",
        "8,16",
        "--zero",
        "2",
        "--recompute",
        "full",
        "--format",
        "json",
    ]);
    let gpus: BTreeSet<String> = pairs(&doc).into_iter().map(|(_, g)| g).collect();
    assert_eq!(gpus.len(), 2, "{doc}");
    let qwen = format!(
        "{}/tests/fixtures/hf/Qwen3-8B.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut args = vec!["sweep", "-m", "llama3-8b", "-g", "h100", "--format", "json"];
    args.extend(AXES);
    let list = format!("llama3-8b,{qwen}");
    args[2] = &list;
    let models: BTreeSet<String> = pairs(&json(&args)).into_iter().map(|(m, _)| m).collect();
    assert_eq!(
        models,
        ["llama3-8b", "qwen3-8b"]
            .map(String::from)
            .into_iter()
            .collect()
    );
}

#[test]
fn estimate_takes_one_system_and_lists_are_checked() {
    fails_cli(
        &["estimate", "-g", "h100,h200"],
        &["estimate evaluates one model on one GPU", "sweep or train"],
    );
    fails_cli(&["sweep", "-g", ","], &["--gpu `,`: no preset named"]);
    fails_cli(
        &["sweep", "-g", "h100,h2000"],
        &["unknown gpu preset `h2000`"],
    );
}

#[test]
fn amd_presets_borrow_their_generations_measured_kernels_and_say_so() {
    // methodology §8, uncalibrated presets: no ROCm kernel is measured, so MI300X/MI325X take
    // H200's measured efficiencies, fixed times and kernel fits, MI355X B200's, and all three
    // H200's runtime all-reduce; each keeps its own peak rates, fabric and MAMF matmul rate.
    use gpt4calc::presets::load_gpu;
    let gpu = |name: &str| serde_json::to_value(load_gpu(name, &[]).unwrap().gpu).unwrap();
    let h200 = gpu("h200");
    for (amd, peer_name) in [("mi300x", "h200"), ("mi325x", "h200"), ("mi355x", "b200")] {
        let (a, p) = (gpu(amd), gpu(peer_name));
        for key in ["fused_moe", "all_reduce_shape"] {
            assert_eq!(a[key], p[key], "{amd}.{key}");
        }
        assert_eq!(a["custom_all_reduce"], h200["custom_all_reduce"], "{amd}");
        for key in [
            "memory",
            "matmul_fp8",
            "matmul_fp8_block",
            "attention",
            "attention_memory",
            "overlap",
            "all_to_all",
            "all_gather",
        ] {
            assert!(
                !p["efficiency"][key].is_null(),
                "{peer_name}.{key} measured"
            );
            assert_eq!(a["efficiency"][key], p["efficiency"][key], "{amd}.{key}");
        }
        for key in [
            "gemm_us",
            "gemm_fp8_us",
            "gemm_memory_us",
            "gemm_fp8_memory_us",
            "gemm_fp8_block_us",
            "gemm_fp8_block_memory_us",
            "fp8_dynamic_scale_us",
            "attention_us",
            "attention_pair_ns",
            "attention_pair_fp8_ns",
            "scaleup_latency_us",
            "all_to_all_latency_us",
            "all_gather_latency_us",
        ] {
            assert!(!p["overheads"][key].is_null(), "{peer_name}.{key} measured");
            assert_eq!(a["overheads"][key], p["overheads"][key], "{amd}.{key}");
        }
        // FP4 math where the accelerator has it (MI355X), at B200's measured NVFP4 GEMMs.
        if !a["tflops"]["fp4"].is_null() {
            for key in ["matmul_fp4", "memory_fp4"] {
                assert!(
                    !p["efficiency"][key].is_null(),
                    "{peer_name}.{key} measured"
                );
                assert_eq!(a["efficiency"][key], p["efficiency"][key], "{amd}.{key}");
            }
            for key in ["gemm_fp4_us", "gemm_fp4_memory_us"] {
                assert!(!p["overheads"][key].is_null(), "{peer_name}.{key} measured");
                assert_eq!(a["overheads"][key], p["overheads"][key], "{amd}.{key}");
            }
        }
        assert_ne!(
            a["efficiency"]["matmul"], p["efficiency"]["matmul"],
            "{amd}: MAMF"
        );
        assert_ne!(a["tflops"]["bf16"], p["tflops"]["bf16"], "{amd}: own peak");
        let note = a["uncalibrated"].as_str().unwrap();
        assert!(
            note.contains(&format!("the {peer_name} preset's")),
            "{amd}: {note}"
        );
    }
}

#[test]
fn borrow_fills_only_the_measured_tables_and_the_presets_own_values_win() {
    // `borrow = "NAME"` in [gpu] (methodology §8): the fields of efficiency, overheads, fused_moe
    // and the collective curves that a preset leaves out come from the built-in NAME; its peaks,
    // memory, node and price are its own, a field it states wins, and NAME may not borrow itself.
    use gpt4calc::presets::{load_gpu, load_gpu_text};
    let own = r#"
name = "my-gpu"
description = "a test accelerator"
source = "a test"

[gpu]
borrow = "h200"
memory_gib = 100.0
memory_bw_tb_s = 4.0

[gpu.tflops]
fp32 = 60.0
bf16 = 900.0
fp16 = 900.0
fp8 = 1800.0
int8 = 1800.0

[gpu.node]
gpus_per_node = 8
scaleup_gb_s = 400.0
scaleout_gbit_s = 400.0
fabric = "test fabric"

[gpu.price]
usd_per_gpu_hour = 1.0

[gpu.efficiency]
matmul = 0.5
scaleup = 0.7
scaleout = 0.8

[gpu.overheads]
per_layer_us = 20.0
"#;
    let mine = load_gpu_text("test.toml", own, &[]).unwrap().gpu;
    let h200 = load_gpu("h200", &[]).unwrap().gpu;
    fn json<T: serde::Serialize>(v: &T) -> serde_json::Value {
        serde_json::to_value(v).unwrap()
    }
    // Own values win; what the file leaves out is h200's.
    // Parsed values are compared bit for bit: the merge copies, it does not compute.
    assert_eq!(mine.efficiency.matmul.to_bits(), 0.5f64.to_bits());
    assert_eq!(mine.overheads.per_layer_us.to_bits(), 20.0f64.to_bits());
    assert_eq!(
        mine.efficiency.memory.to_bits(),
        h200.efficiency.memory.to_bits()
    );
    assert_eq!(mine.overheads.gemm_fp8_us, h200.overheads.gemm_fp8_us);
    assert_eq!(json(&mine.fused_moe), json(&h200.fused_moe));
    assert_eq!(json(&mine.all_reduce_shape), json(&h200.all_reduce_shape));
    assert_eq!(mine.memory_gib.to_bits(), 100.0f64.to_bits());
    // Only the measured tables: a file without its own [gpu.node] is refused, not given h200's.
    let no_node = own.replace("[gpu.node]\ngpus_per_node = 8\nscaleup_gb_s = 400.0\nscaleout_gbit_s = 400.0\nfabric = \"test fabric\"\n", "");
    let e = load_gpu_text("test.toml", &no_node, &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("node") && !e.contains('\n'), "{e}");
    // A name that is not a built-in, and a preset that borrows in turn, are one-line errors.
    let e = load_gpu_text("test.toml", &own.replace("\"h200\"", "\"h2000\""), &[])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("gpu.borrow") && e.contains("h200") && !e.contains('\n'),
        "{e}"
    );
    let e = load_gpu_text("test.toml", &own.replace("\"h200\"", "\"mi300x\""), &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("borrows in turn"), "{e}");
}

#[test]
fn the_contracts_minimal_gpu_preset_loads_and_says_what_it_borrowed() {
    // The interface's GPU preset example gives peaks, memory, node, price and four efficiencies,
    // no [gpu.overheads]: its fixed costs are the h100 preset's, and the output says so. It used
    // to stop with "missing field `overheads`".
    let path = format!(
        "{}/tests/fixtures/presets/contract_gpu.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let (stdout, _) = common::run_cli(
        &[
            "estimate",
            "-m",
            "llama3-8b",
            "-g",
            &path,
            "--format",
            "json",
        ],
        0,
    );
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let calibration = doc["inputs"]["gpu_calibration"]
        .as_str()
        .expect("calibration");
    assert!(
        calibration.contains("no [gpu.overheads] given") && calibration.contains("h100"),
        "{calibration}"
    );
    let own = gpt4calc::presets::load_gpu(&path, &[]).expect("loads").gpu;
    let h100 = gpt4calc::presets::load_gpu("h100", &[]).expect("loads").gpu;
    gpt4calc::testutil::assert_close(own.overheads.per_layer_us, h100.overheads.per_layer_us, 0.0);
    gpt4calc::testutil::assert_close(own.efficiency.matmul, 0.80, 0.0);
}

#[test]
fn the_small_gemm_step_share_is_b200s_on_nvidia_blackwell_only() {
    // `overheads.gemm_memory_step_share` is fitted on B200's measured MLA module (0.85;
    // tests/calibration.rs). B300, GB200 and GB300 borrow it; Hopper's own fit is 1, the
    // default; MI355X, which borrows B200's other fixed times, keeps 1: nothing measured on ROCm.
    let share = |name: &str| {
        gpt4calc::presets::load_gpu(name, &[])
            .unwrap()
            .gpu
            .overheads
            .gemm_memory_step_share
            .unwrap_or(1.0)
    };
    assert_close(share("b200"), 0.85, 1e-12);
    for g in ["b300", "gb200-nvl72", "gb300-nvl72"] {
        assert_close(share(g), share("b200"), 1e-12);
    }
    for g in ["h100", "h200", "mi355x", "mi300x", "a100-80g"] {
        assert_close(share(g), 1.0, 1e-12);
    }
    // It shortens a served decode step at one sequence, and leaves training alone.
    let at = |share: &str, args: &[&str], field: &str| {
        let set = format!("gpu.overheads.gemm_memory_step_share={share}");
        let mut all = args.to_vec();
        all.extend(["--set", &set, "--format", "json"]);
        json(&all)["results"][0][field].as_f64().unwrap()
    };
    let serve = [
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
        "1",
    ];
    assert!(at("0.85", &serve, "tpot_s") < at("1", &serve, "tpot_s"));
    let train = ["train", "-m", "llama3-8b", "-g", "b200", "--gpus", "8"];
    assert_close(
        at("0.85", &train, "step_time_s"),
        at("1", &train, "step_time_s"),
        1e-12,
    );
}
