//! Several systems in one run: `--preset a,b` × `--gpu x,y` sweeps the product, ranked together,
//! with `model` and `gpu` in every row and as table columns.

mod common;

use common::{fails_cli, run_cli};
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
