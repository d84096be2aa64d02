//! Hugging Face `config.json` import: known parameter counts, agreement with the shipped TOML
//! presets, the CLI (`--preset config.json` on every command, `presets import`), and one-line
//! errors. The fixtures under tests/fixtures/hf/ are hand-copied from the public configs on the
//! Hugging Face Hub (the repository named in each test); nothing is fetched.

mod common;

use common::{fails_cli, run_cli};
use gpt4calc::model::{ModelCounts, ModelPreset};
use gpt4calc::presets;
use gpt4calc::testutil::{assert_close, assert_within};

fn fixture(name: &str) -> String {
    format!(
        "{}/tests/fixtures/hf/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// A fixture's config.json, parsed, to edit a field of.
fn fixture_json(name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap()
}

/// Writes `cfg` as `dir/file` and returns its path.
fn write_json(dir: &std::path::Path, file: &str, cfg: &serde_json::Value) -> String {
    let path = dir.join(file);
    std::fs::write(&path, cfg.to_string()).unwrap();
    path.to_string_lossy().into_owned()
}

fn load(name: &str) -> ModelPreset {
    presets::load_model(&fixture(name), &[]).expect("fixture loads")
}

fn counts(name: &str) -> ModelCounts {
    ModelCounts::new(&load(name).model)
}

/// Active parameters as DeepSeek and OpenAI count them: the output head but not the input
/// embedding (a lookup, no FLOPs). `active_params()` counts both.
fn active_with_head_only(c: &ModelCounts) -> f64 {
    c.active_params() - c.embed_in_params
}

/// A published figure rounded to `digits` significant digits: the tolerance of its last digit
/// (half a unit), relative.
fn rounding_tol(published: f64, unit: f64) -> f64 {
    0.5 * unit / published
}

#[test]
fn llama3_8b_has_8_03b_parameters() {
    // meta-llama/Meta-Llama-3-8B: 8.03B (Hugging Face safetensors: 8,030,261,248), ±0.5%.
    assert_close(counts("Meta-Llama-3-8B").total_params(), 8.03e9, 0.005);
    // Llama 3.1 only lengthens the context (rope_scaling "llama3", 131072 positions).
    let m = load("Llama-3.1-8B");
    assert_eq!(m.model.max_context, 131_072);
    assert_close(ModelCounts::new(&m.model).total_params(), 8.03e9, 0.005);
}

#[test]
fn llama3_70b_has_70_6b_parameters() {
    // meta-llama/Meta-Llama-3-70B: 70.6B (safetensors: 70,553,706,496), ±0.5%.
    assert_close(counts("Meta-Llama-3-70B").total_params(), 70.6e9, 0.005);
}

#[test]
fn mistral_7b_has_7_24b_parameters_and_a_4k_window() {
    // mistralai/Mistral-7B-v0.1: 7.24B (safetensors: 7,241,732,096), ±0.5%; sliding window 4096.
    let m = load("Mistral-7B-v0.1");
    assert_eq!(m.model.sliding_window, Some(4096));
    assert_close(ModelCounts::new(&m.model).total_params(), 7.24e9, 0.005);
}

#[test]
fn mixtral_8x7b_has_46_7b_total_and_12_9b_active() {
    // Mistral AI, "Mixtral of experts" (2023-12-11): 46.7B total, 12.9B used per token, ±0.5%.
    // Mistral counts both embeddings in the active figure.
    let c = counts("Mixtral-8x7B-v0.1");
    assert_close(c.total_params(), 46.7e9, 0.005);
    assert_close(c.active_params(), 12.9e9, 0.005);
}

#[test]
fn deepseek_v3_has_671b_total_and_37b_active() {
    // DeepSeek-V3 Technical Report (arXiv 2412.19437) §1: 671B total, 37B activated per token;
    // the multi-token-prediction module (14B) is not in the 671B. Total ±0.5%. The active figure
    // is given to two digits: 36.63B with the output head but not the input embedding lookup
    // rounds to it, within its last digit (±0.5B, 1.35%); counting both embeddings gives 37.55B.
    let c = counts("DeepSeek-V3");
    assert_close(c.total_params(), 671e9, 0.005);
    assert_close(active_with_head_only(&c), 37e9, rounding_tol(37e9, 1e9));
    assert_close(active_with_head_only(&c), 36.63e9, 0.001);
}

#[test]
fn deepseek_v2_lite_has_15_7b_parameters_and_no_query_compression() {
    // deepseek-ai/DeepSeek-V2-Lite model card: 15.7B total, ±0.5%; q_lora_rank null.
    let m = load("DeepSeek-V2-Lite");
    assert_eq!(m.model.mla.unwrap().q_lora_rank, 0);
    assert_eq!(m.model.routing(), None, "n_group 1 is no group limit");
    assert_eq!((m.model.dense_layers, m.model.shared_experts), (1, 2));
    assert_close(ModelCounts::new(&m.model).total_params(), 15.7e9, 0.005);
}

#[test]
fn qwen3_235b_a22b_has_235b_total_and_22b_active() {
    // Qwen/Qwen3-235B-A22B model card: 235B total (234B non-embedding), 22B activated. Total
    // ±0.5%; the non-embedding total ±0.5%; the active figure to its last digit (±0.5B): 22.19B.
    let c = counts("Qwen3-235B-A22B");
    assert_close(c.total_params(), 235e9, 0.005);
    assert_close(c.total_params() - c.embedding_params(), 234e9, 0.005);
    assert_close(c.active_params(), 22e9, rounding_tol(22e9, 1e9));
}

#[test]
fn qwen_dense_and_moe_with_shared_experts() {
    // Qwen2-7B model card: 7.62B total, 7.07B without the input embedding (Qwen2 counts the
    // untied head as non-embedding); Qwen3-8B: 8.2B, 6.95B without both embeddings; Qwen2-57B-A14B (Qwen2 report, arXiv 2407.10671, Table 1): 57B total, 14B
    // activated, its shared expert 20480 wide = 8 experts of 2560. ±0.5% where four digits are
    // published, else to the last digit.
    let c = counts("Qwen2-7B");
    assert_close(c.total_params(), 7.62e9, 0.005);
    assert_close(c.total_params() - c.embed_in_params, 7.07e9, 0.005);
    let c = counts("Qwen3-8B");
    assert_close(c.total_params(), 8.2e9, rounding_tol(8.2e9, 0.1e9));
    assert_close(c.total_params() - c.embedding_params(), 6.95e9, 0.005);
    let m = load("Qwen2-57B-A14B");
    assert_eq!((m.model.experts, m.model.shared_experts), (64, 8));
    let c = ModelCounts::new(&m.model);
    assert_close(c.total_params(), 57e9, rounding_tol(57e9, 1e9));
    assert_close(c.active_params(), 14e9, rounding_tol(14e9, 1e9));
}

#[test]
fn gpt_oss_120b_has_116_83b_total_and_5_13b_active() {
    // OpenAI, gpt-oss-120b & gpt-oss-20b model card (2025), Table 1: 116.83B total, 5.13B active
    // (counting the unembedding, not the embedding). The biases and attention sinks the counts
    // leave out are under 0.05%. ±0.5%. Half the layers use a 128-token window; the experts
    // are biased and the SwiGLU clamps at config.json's `swiglu_limit`, 7.0.
    let m = load("gpt-oss-120b");
    assert_eq!(m.model.sliding_window, Some(128));
    assert_eq!(m.model.sliding_window_layers, Some(18));
    assert!(m.model.expert_bias);
    assert_eq!(m.model.swiglu_limit, Some(7.0));
    let c = ModelCounts::new(&m.model);
    assert_close(c.total_params(), 116.83e9, 0.005);
    assert_close(active_with_head_only(&c), 5.13e9, 0.005);
}

#[test]
fn llama4_maverick_has_400b_total_and_17b_active() {
    // Meta, Llama 4 model card: Maverick 400B total, 17B active; MoE every second layer (24 MoE
    // layers of 128 experts plus a shared one, 24 dense layers of 16384). Total ±0.5%, active to
    // its last digit. Chunked attention (8192) on 3 of 4 layers.
    let m = load("Llama-4-Maverick-17B-128E");
    assert_eq!(
        (
            m.model.experts,
            m.model.shared_experts,
            m.model.dense_layers
        ),
        (128, 1, 24)
    );
    assert_eq!(
        (m.model.attention_chunk, m.model.attention_chunk_layers),
        (Some(8192), Some(36))
    );
    assert_eq!(m.model.sliding_window, None);
    let c = ModelCounts::new(&m.model);
    assert_close(c.total_params(), 400e9, 0.005);
    assert_close(c.active_params(), 17e9, rounding_tol(17e9, 1e9));
}

#[test]
fn imports_match_the_shipped_presets() {
    // The same model from its config.json and from presets/models/*.toml: the same architecture
    // (the context may differ: DeepSeek-V3's config allows 163840 positions, the preset the
    // report's 128k) and so the same counts, to rounding.
    for (fixture_name, shipped) in [
        ("Meta-Llama-3-8B", "llama3-8b"),
        ("Meta-Llama-3-70B", "llama3-70b"),
        ("Llama-2-70b-hf", "llama2-70b"),
        ("Mixtral-8x7B-v0.1", "mixtral-8x7b"),
        ("DeepSeek-V3", "deepseek-v3"),
        ("Llama-3.1-8B", "llama3.1-8b"),
        ("Qwen3-235B-A22B", "qwen3-235b-a22b"),
        ("gpt-oss-120b", "gpt-oss-120b"),
        ("Llama-4-Maverick-17B-128E", "llama4-maverick"),
    ] {
        let mut a = serde_json::to_value(load(fixture_name).model).unwrap();
        let mut b = serde_json::to_value(presets::load_model(shipped, &[]).unwrap().model).unwrap();
        a["max_context"] = 0.into();
        b["max_context"] = 0.into();
        assert_eq!(a, b, "{fixture_name} vs {shipped}");
        let (ca, cb) = (counts(fixture_name), common::counts(shipped, &[]));
        assert_close(ca.total_params(), cb.total_params(), 1e-12);
        assert_close(ca.active_params(), cb.active_params(), 1e-12);
        assert_close(ca.flops_per_token(), cb.flops_per_token(), 1e-12);
        assert_close(
            ca.kv_bytes_per_token(2.0),
            cb.kv_bytes_per_token(2.0),
            1e-12,
        );
    }
}

#[test]
fn shipped_presets_without_a_fixture_match_their_model_cards() {
    // Presets written from config.json values with no fixture here, against the counts their
    // cards publish. Qwen/Qwen3-30B-A3B model card: 30.5B total and 29.9B non-embedding (±0.5%),
    // 3.3B activated: 3.35B counted, which the card truncates as it does Qwen3-235B-A22B's 22.19B
    // ("22B"). OpenAI gpt-oss model card, Table 1: gpt-oss-20b 20.91B total, 3.61B active
    // counting the unembedding and not the embedding (±0.5%), half its 24 layers windowed to 128
    // tokens. Llama 3.1 70B: the Llama 3 70B shape (70.6B, ±0.5%) with 131,072 positions.
    let c = common::counts("qwen3-30b-a3b", &[]);
    assert_close(c.total_params(), 30.5e9, 0.005);
    assert_close(c.total_params() - c.embedding_params(), 29.9e9, 0.005);
    assert!(
        (3.3e9..3.4e9).contains(&c.active_params()),
        "{}",
        c.active_params()
    );
    let m = presets::load_model("gpt-oss-20b", &[]).unwrap().model;
    assert_eq!(
        (m.sliding_window, m.sliding_window_layers),
        (Some(128), Some(12))
    );
    let c = common::counts("gpt-oss-20b", &[]);
    assert_close(c.total_params(), 20.91e9, 0.005);
    assert_close(active_with_head_only(&c), 3.61e9, 0.005);
    let m = presets::load_model("llama3.1-70b", &[]).unwrap().model;
    assert_eq!(m.max_context, 131_072);
    assert_close(
        common::counts("llama3.1-70b", &[]).total_params(),
        70.6e9,
        0.005,
    );
}

#[test]
fn presets_import_prints_toml_that_loads_to_the_same_model() {
    let path = fixture("Qwen3-235B-A22B");
    let (toml, stderr) = run_cli(&["presets", "import", &path], 0);
    assert!(stderr.is_empty(), "{stderr}");
    assert!(toml.starts_with("name = \"qwen3-235b-a22b\""), "{toml}");
    assert!(
        toml.contains("[model]") && toml.contains("experts = 128"),
        "{toml}"
    );
    let p = presets::load_model_text("imported", &toml, &[]).unwrap();
    assert_close(
        ModelCounts::new(&p.model).total_params(),
        counts("Qwen3-235B-A22B").total_params(),
        1e-12,
    );
}

#[test]
fn a_config_json_works_as_preset_on_every_command() {
    let path = fixture("Mixtral-8x7B-v0.1");
    let (json, _) = run_cli(
        &[
            "sweep", "--preset", &path, "--tp", "2,4", "--pp", "1", "--format", "json",
        ],
        0,
    );
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["results"][0]["model"], "mixtral-8x7b-v0.1");
    let (json, _) = run_cli(
        &[
            "estimate", "-m", &path, "--tp", "2", "--batch", "8", "--format", "json",
        ],
        0,
    );
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["results"][0]["model"], "mixtral-8x7b-v0.1");
    run_cli(
        &[
            "train", "-m", &path, "--gpus", "64", "--tp", "8", "--pp", "1", "--format", "csv",
        ],
        0,
    );
    // --set applies on top, and presets show reads the config too.
    let (json, _) = run_cli(
        &[
            "presets",
            "show",
            &path,
            "--format",
            "json",
            "--set",
            "model.top_k=1",
        ],
        0,
    );
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["preset"]["model"]["top_k"], 1);
    let active = doc["summary"]["active_params"].as_f64().unwrap();
    assert_within(active, 7e9, 7.5e9);
}

#[test]
fn unknown_architecture_missing_field_and_bad_json_are_one_line_errors() {
    fails_cli(
        &["presets", "import", &fixture("unknown-gpt2")],
        &[
            "model_type \"gpt2\"",
            "GPT2LMHeadModel",
            "not a supported architecture",
            "llama",
        ],
    );
    fails_cli(
        &["sweep", "--preset", &fixture("missing-field")],
        &[
            "missing-field.json",
            "missing field \"num_hidden_layers\"",
            "llama",
        ],
    );
    let dir = std::env::temp_dir().join(format!("gpt4calc-hf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("config.json");
    std::fs::write(
        &bad,
        "{\n  \"model_type\": \"llama\",\n  \"hidden_size\": \"4096\"\n}\n",
    )
    .unwrap();
    let bad = bad.to_string_lossy().into_owned();
    fails_cli(
        &["estimate", "--preset", &bad],
        &[
            "field \"hidden_size\" =",
            "4096",
            "expected a non-negative integer",
        ],
    );
    std::fs::write(
        &bad,
        "{\n  \"model_type\": \"llama\",\n  \"hidden_size\": 4096,,\n}\n",
    )
    .unwrap();
    fails_cli(
        &["estimate", "--preset", &bad],
        &["config.json:3:", "not a valid config.json"],
    );
    fails_cli(
        &["estimate", "--gpu", &fixture("Meta-Llama-3-8B")],
        &["describes a model, not a GPU"],
    );
    std::fs::write(&bad, "name = \"x\"\n").unwrap();
    fails_cli(&["presets", "import", &bad], &["not a JSON object"]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_config_without_a_name_takes_its_folders() {
    // `models/<name>/config.json`, the Hub's layout: the preset is named after the folder.
    let dir = std::env::temp_dir().join(format!(
        "gpt4calc-hf-name-{}/My-Model-8B",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("config.json");
    std::fs::copy(fixture("Meta-Llama-3-8B"), &cfg).unwrap();
    let (toml, _) = run_cli(&["presets", "import", &cfg.to_string_lossy()], 0);
    assert!(toml.starts_with("name = \"my-model-8b\""), "{toml}");
    std::fs::remove_dir_all(dir.parent().unwrap()).ok();
}

#[test]
fn an_moe_config_with_no_experts_or_too_many_a_token_is_refused() {
    // It used to import as a dense model (experts = 1, top_k = 1) without a word.
    let dir = tempfile::tempdir().unwrap();
    let base = r#""model_type": "mixtral", "hidden_size": 512, "num_hidden_layers": 4, "num_attention_heads": 8, "num_key_value_heads": 8, "intermediate_size": 2048, "vocab_size": 32000, "max_position_embeddings": 4096"#;
    for (experts, top_k, needles) in [
        (0, 0, &["\"num_local_experts\" = 0", "at least 1"][..]),
        (
            8,
            9,
            &[
                "\"num_experts_per_tok\" = 9",
                "from 1 to \"num_local_experts\" (8)",
            ],
        ),
        (8, 0, &["\"num_experts_per_tok\" = 0", "from 1 to"]),
    ] {
        let path = dir.path().join(format!("m{experts}_{top_k}.json"));
        std::fs::write(
            &path,
            format!(
                "{{{base}, \"num_local_experts\": {experts}, \"num_experts_per_tok\": {top_k}}}"
            ),
        )
        .unwrap();
        fails_cli(&["presets", "import", path.to_str().unwrap()], needles);
    }
}

#[test]
fn layer_counts_and_layer_lists_are_checked_before_any_per_layer_work() {
    // `num_hidden_layers` = i64::MAX was counted layer by layer (killed after 25 s), and an
    // `mlp_only_layers` past the last layer was accepted without a word.
    let dir = tempfile::tempdir().unwrap();
    let mut big = fixture_json("Qwen3-235B-A22B");
    big["num_hidden_layers"] = serde_json::json!(9_223_372_036_854_775_807_u64);
    fails_cli(
        &["presets", "show", &write_json(dir.path(), "big.json", &big)],
        &[
            "field \"num_hidden_layers\" = 9223372036854775807",
            "must be an integer from 1 to 65,536",
        ],
    );
    let mut bad = big.clone();
    bad["num_hidden_layers"] = serde_json::json!(94);
    bad["mlp_only_layers"] = serde_json::json!([3, 200]);
    fails_cli(
        &["presets", "show", &write_json(dir.path(), "bad.json", &bad)],
        &[
            "field \"mlp_only_layers\" lists layer 200",
            "numbered 0 to 93",
        ],
    );
    // A layer listed twice is one dense layer.
    let mut twice = bad;
    twice["mlp_only_layers"] = serde_json::json!([3, 3]);
    let (toml, _) = run_cli(
        &[
            "presets",
            "import",
            &write_json(dir.path(), "twice.json", &twice),
        ],
        0,
    );
    assert!(toml.contains("dense_layers = 1"), "{toml}");
}

/// Values that cannot describe the model are refused naming the field, not clamped or dropped.
#[test]
fn impossible_layer_plans_and_clamps_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let edited = |name: &str, key: &str, value: serde_json::Value| {
        let mut cfg = fixture_json(name);
        cfg[key] = value;
        write_json(dir.path(), &format!("{key}.json"), &cfg)
    };
    for (path, needles) in [
        (
            edited("DeepSeek-V3", "first_k_dense_replace", 100.into()),
            &[
                "\"first_k_dense_replace\" = 100",
                "less than \"num_hidden_layers\" = 61",
            ][..],
        ),
        (
            edited("Qwen2-57B-A14B", "decoder_sparse_step", 0.into()),
            &["\"decoder_sparse_step\" = 0", "at least 1"],
        ),
        (
            edited("gpt-oss-120b", "swiglu_limit", (-1.0).into()),
            &["\"swiglu_limit\" = -1", "must be positive"],
        ),
        (
            edited(
                "gpt-oss-120b",
                "layer_types",
                serde_json::json!(["sliding_attention"]),
            ),
            &["\"layer_types\"", "for each of the 36 layers"],
        ),
    ] {
        fails_cli(&["presets", "show", &path], needles);
    }
    // JSON that is no object is named as such, not parsed as TOML.
    let arr = dir.path().join("arr.json");
    std::fs::write(&arr, "[]").unwrap();
    fails_cli(
        &["estimate", "-m", &arr.to_string_lossy()],
        &["a JSON document that is not an object"],
    );
}

#[test]
fn a_name_too_long_points_at_where_it_comes_from() {
    // It failed on `name = "…"`, a field the config.json does not have.
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = fixture_json("Meta-Llama-3-8B");
    cfg["_name_or_path"] = serde_json::json!("a".repeat(200));
    fails_cli(
        &[
            "presets",
            "import",
            &write_json(dir.path(), "long.json", &cfg),
        ],
        &["must be 1 to 128 characters", "\"_name_or_path\""],
    );
}
