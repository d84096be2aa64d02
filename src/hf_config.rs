//! Hugging Face `config.json` → model preset. Every open model ships a `config.json`; this reads
//! the fields that size it (widths, heads, experts, MLA ranks, windows) and writes the equivalent
//! `[model]` table, so that `--preset path/to/config.json` and `presets import` work.
//!
//! Families (by `model_type`): `llama` (Llama 2/3/3.1/3.2), `mistral`, `mixtral`, `qwen2`,
//! `qwen2_moe`, `qwen3`, `qwen3_moe`, `deepseek_v2`, `deepseek_v3`, `gpt_oss`, `llama4` /
//! `llama4_text` (the text model of `Llama4ForConditionalGeneration`).
//!
//! What the preset schema does not hold is left out and said so in the preset's `source`: biases
//! (Qwen2 QKV, gpt-oss), QK-norm gains, attention sinks, the final norm, vision towers and
//! multi-token-prediction modules. Each is under 0.1% of the parameters of the models above.
//! Dense layers interleaved with MoE layers (Llama 4 Maverick, Qwen2-MoE `mlp_only_layers`) are
//! counted as leading dense layers: the same parameters and FLOPs, a different pipeline split.

use crate::model::{AttentionKind, MlaSpec, ModelPreset, ModelSpec};
use anyhow::{Result, anyhow, bail, ensure};
use serde_json::{Map, Value};
use std::path::Path;

/// The `model_type`s this module maps.
pub const FAMILIES: &[&str] = &[
    "llama",
    "mistral",
    "mixtral",
    "qwen2",
    "qwen2_moe",
    "qwen3",
    "qwen3_moe",
    "deepseek_v2",
    "deepseek_v3",
    "gpt_oss",
    "llama4",
    "llama4_text",
];

/// True when `text` is a JSON object (a Hugging Face config), not TOML: a TOML document cannot
/// start with `{`.
pub fn is_json(text: &str) -> bool {
    text.trim_start_matches('\u{feff}')
        .trim_start()
        .starts_with('{')
}

/// A config's fields, with errors that name the file, the family and the field.
struct Fields<'a> {
    obj: &'a Map<String, Value>,
    origin: &'a str,
    family: &'a str,
}

impl Fields<'_> {
    fn present(&self, key: &str) -> Option<&Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }

    /// A required non-negative integer.
    fn int(&self, key: &str) -> Result<u64> {
        self.opt_int(key)?.ok_or_else(|| {
            anyhow!(
                "{}: missing field \"{key}\" (model_type \"{}\"); a {} config.json needs it",
                self.origin,
                self.family,
                self.family
            )
        })
    }

    /// An optional non-negative integer (absent or null = `None`).
    fn opt_int(&self, key: &str) -> Result<Option<u64>> {
        match self.present(key) {
            None => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                anyhow!(
                    "{}: field \"{key}\" = {}: expected a non-negative integer",
                    self.origin,
                    crate::limits::clip(&v.to_string())
                )
            }),
        }
    }

    /// An optional finite number (absent or null = `None`).
    fn opt_f64(&self, key: &str) -> Result<Option<f64>> {
        match self.present(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|x| x.is_finite())
                .map(Some)
                .ok_or_else(|| {
                    anyhow!(
                        "{}: field \"{key}\" = {}: expected a number",
                        self.origin,
                        crate::limits::clip(&v.to_string())
                    )
                }),
        }
    }

    fn int_or(&self, key: &str, default: u64) -> Result<u64> {
        Ok(self.opt_int(key)?.unwrap_or(default))
    }

    /// A step or period (every k-th layer): a positive integer, `default` when absent.
    fn step_or(&self, key: &str, default: u64) -> Result<u64> {
        let k = self.int_or(key, default)?;
        ensure!(
            k >= 1,
            "{}: field \"{key}\" = {k}: must be at least 1 (every k-th layer)",
            self.origin
        );
        Ok(k)
    }

    fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.present(key) {
            None => Ok(default),
            Some(v) => v.as_bool().ok_or_else(|| {
                anyhow!(
                    "{}: field \"{key}\" = {}: expected true or false",
                    self.origin,
                    crate::limits::clip(&v.to_string())
                )
            }),
        }
    }

    /// An optional list of integers (absent or null = empty).
    fn int_list(&self, key: &str) -> Result<Vec<u64>> {
        let Some(v) = self.present(key) else {
            return Ok(Vec::new());
        };
        v.as_array()
            .and_then(|a| a.iter().map(Value::as_u64).collect::<Option<Vec<u64>>>())
            .ok_or_else(|| {
                anyhow!(
                    "{}: field \"{key}\" = {}: expected a list of non-negative integers",
                    self.origin,
                    crate::limits::clip(&v.to_string())
                )
            })
    }

    /// An optional list of layer indices (absent or null = empty), each below `layers`, as a set
    /// (a layer listed twice counts once).
    fn layer_set(&self, key: &str, layers: u64) -> Result<std::collections::BTreeSet<u64>> {
        let list = self.int_list(key)?;
        if let Some(bad) = list.iter().find(|&&i| i >= layers) {
            bail!(
                "{}: field \"{key}\" lists layer {bad}: the model's {layers} layers are numbered 0 to {}",
                self.origin,
                layers - 1
            );
        }
        Ok(list.into_iter().collect())
    }

    /// `a` must be a multiple of `b`; returns `a / b`.
    fn ratio(&self, a: (&str, u64), b: (&str, u64), why: &str) -> Result<u64> {
        if b.1 == 0 || a.1 % b.1 != 0 {
            bail!(
                "{}: field \"{}\" = {} is not a multiple of \"{}\" = {}; {why}",
                self.origin,
                a.0,
                a.1,
                b.0,
                b.1
            );
        }
        Ok(a.1 / b.1)
    }
}

/// The attention and vocabulary fields every family shares.
struct Common {
    layers: u64,
    d_model: u64,
    heads: u64,
    kv_heads: u64,
    head_dim: u64,
    vocab: u64,
    tied: bool,
    max_context: u64,
}

fn common(f: &Fields) -> Result<Common> {
    let d_model = f.int("hidden_size")?;
    let heads = f.int("num_attention_heads")?;
    let head_dim = match f.opt_int("head_dim")? {
        Some(h) => h,
        None => f.ratio(
            ("hidden_size", d_model),
            ("num_attention_heads", heads),
            "give \"head_dim\"",
        )?,
    };
    // Checked before any per-layer work (a billion layers would be counted one by one).
    let layers = f.int("num_hidden_layers")?;
    crate::limits::model_int("model.layers")
        .check(
            &format!("{}: field \"num_hidden_layers\" =", f.origin),
            layers,
        )
        .map_err(|e| anyhow!(e))?;
    Ok(Common {
        layers,
        d_model,
        heads,
        // Transformers' default: multi-head attention.
        kv_heads: f.int_or("num_key_value_heads", heads)?,
        head_dim,
        vocab: f.int("vocab_size")?,
        // Every family mapped here defaults to an untied output head.
        tied: f.bool_or("tie_word_embeddings", false)?,
        max_context: f.int("max_position_embeddings")?,
    })
}

fn spec(c: &Common, ffn_dim: u64) -> ModelSpec {
    ModelSpec {
        layers: c.layers,
        d_model: c.d_model,
        heads: c.heads,
        kv_heads: c.kv_heads,
        head_dim: c.head_dim,
        ffn_dim,
        ffn_gated: true,
        vocab: c.vocab,
        tied_embeddings: c.tied,
        experts: 1,
        top_k: 1,
        shared_experts: 0,
        max_context: c.max_context,
        attention_params_per_layer: None,
        dense_layers: 0,
        dense_ffn_dim: None,
        attention: AttentionKind::Standard,
        mla: None,
        parallel_block: false,
        routing_groups: None,
        routing_groups_per_token: None,
        sliding_window: None,
        sliding_window_layers: None,
        attention_chunk: None,
        attention_chunk_layers: None,
        fp8_block_scaled: false,
        expert_bias: false,
        swiglu_limit: None,
    }
}

/// A window shorter than the context, else none.
fn window(w: Option<u64>, max_context: u64) -> Option<u64> {
    w.filter(|&w| w > 0 && w < max_context)
}

/// Set the experts of an MoE spec from `experts_key` and `num_experts_per_tok`; `moe_layers` of
/// the layers are MoE, the rest dense with `dense_ffn_dim`. A count of 0, or more experts a token
/// than there are, is an error: an MoE config.json that says so is broken, not dense.
fn set_moe(
    m: &mut ModelSpec,
    f: &Fields,
    experts_key: &str,
    moe_layers: u64,
    dense_ffn_dim: u64,
) -> Result<()> {
    let experts = f.int(experts_key)?;
    let top_k = f.int("num_experts_per_tok")?;
    if experts == 0 {
        bail!(
            "{}: \"{experts_key}\" = 0: must be at least 1 (model_type \"{}\" routes every token to experts)",
            f.origin,
            f.family
        );
    }
    if !(1..=experts).contains(&top_k) {
        bail!(
            "{}: \"num_experts_per_tok\" = {top_k}: must be from 1 to \"{experts_key}\" ({experts})",
            f.origin
        );
    }
    m.experts = experts;
    m.top_k = top_k;
    if experts > 1 && moe_layers < m.layers {
        m.dense_layers = m.layers - moe_layers;
        m.dense_ffn_dim = Some(dense_ffn_dim);
    }
    Ok(())
}

/// What a family leaves out of the count, for the preset's `source`.
fn left_out(family: &str) -> &'static str {
    match family {
        "qwen2" | "qwen2_moe" => "the QKV biases and the final norm",
        "qwen3" | "qwen3_moe" => "the QK-norm gains and the final norm",
        "deepseek_v2" | "deepseek_v3" => {
            "the latent norms, the final norm and the multi-token-prediction module"
        }
        "gpt_oss" => {
            "the attention and expert bias vectors (expert_bias marks the experts' for their training cost), the attention sinks and the final norm"
        }
        "llama4" | "llama4_text" => {
            "the vision tower and the final norm; chunked attention is modelled as a sliding window"
        }
        _ => "the final norm",
    }
}

fn map(f: &Fields) -> Result<ModelSpec> {
    let c = common(f)?;
    let mut m = match f.family {
        "llama" => spec(&c, f.int("intermediate_size")?),
        "mistral" | "mixtral" => {
            let mut m = spec(&c, f.int("intermediate_size")?);
            m.sliding_window = window(f.opt_int("sliding_window")?, c.max_context);
            if f.family == "mixtral" {
                set_moe(&mut m, f, "num_local_experts", c.layers, 0)?;
            }
            m
        }
        "qwen2" | "qwen3" => {
            let mut m = spec(&c, f.int("intermediate_size")?);
            qwen_window(f, &mut m)?;
            m
        }
        "qwen2_moe" | "qwen3_moe" => {
            let expert_ffn = f.int("moe_intermediate_size")?;
            let mut m = spec(&c, expert_ffn);
            let shared_width = f.int_or("shared_expert_intermediate_size", 0)?;
            m.shared_experts = f.ratio(
                ("shared_expert_intermediate_size", shared_width),
                ("moe_intermediate_size", expert_ffn),
                "the preset's shared experts have the routed experts' width",
            )?;
            let step = f.step_or("decoder_sparse_step", 1)?;
            let dense_only = f.layer_set("mlp_only_layers", c.layers)?;
            let moe_layers = (0..c.layers)
                .filter(|i| !dense_only.contains(i) && (i + 1) % step == 0)
                .count() as u64;
            let dense_ffn = if moe_layers < c.layers {
                f.int("intermediate_size")?
            } else {
                0
            };
            set_moe(&mut m, f, "num_experts", moe_layers, dense_ffn)?;
            qwen_window(f, &mut m)?;
            m
        }
        "deepseek_v2" | "deepseek_v3" => {
            let mut m = spec(&c, f.int("moe_intermediate_size")?);
            let freq = f.int_or("moe_layer_freq", 1)?;
            if freq != 1 {
                bail!(
                    "{}: field \"moe_layer_freq\" = {freq}: only 1 (every layer after the first dense ones is MoE) is supported",
                    f.origin
                );
            }
            let first_dense = f.int_or("first_k_dense_replace", 0)?;
            ensure!(
                first_dense < c.layers,
                "{}: field \"first_k_dense_replace\" = {first_dense}: must be less than \"num_hidden_layers\" = {} (a MoE model keeps at least one MoE layer)",
                f.origin,
                c.layers
            );
            let dense_ffn = f.int("intermediate_size")?;
            set_moe(
                &mut m,
                f,
                "n_routed_experts",
                c.layers.saturating_sub(first_dense),
                dense_ffn,
            )?;
            m.shared_experts = f.int_or("n_shared_experts", 0)?;
            let mla = MlaSpec {
                q_lora_rank: f.int_or("q_lora_rank", 0)?,
                kv_lora_rank: f.int("kv_lora_rank")?,
                qk_nope_head_dim: f.int("qk_nope_head_dim")?,
                qk_rope_head_dim: f.int("qk_rope_head_dim")?,
                v_head_dim: f.int("v_head_dim")?,
            };
            m.head_dim = mla.v_head_dim;
            m.attention = AttentionKind::Mla;
            m.mla = Some(mla);
            let groups = f.int_or("n_group", 1)?;
            if groups > 1 {
                m.routing_groups = Some(groups);
                m.routing_groups_per_token = Some(f.int("topk_group")?);
            }
            m.fp8_block_scaled = f
                .present("quantization_config")
                .and_then(|q| q.get("weight_block_size"))
                .and_then(Value::as_array)
                .is_some_and(|b| b.iter().all(|x| x.as_u64() == Some(128)) && b.len() == 2);
            m
        }
        "gpt_oss" => {
            let mut m = spec(&c, f.int("intermediate_size")?);
            set_moe(&mut m, f, "num_local_experts", c.layers, 0)?;
            m.sliding_window = window(f.opt_int("sliding_window")?, c.max_context);
            if m.sliding_window.is_some() {
                // layer_types lists "sliding_attention" / "full_attention"; transformers' default
                // alternates, starting with a sliding layer.
                let windowed = match f.present("layer_types") {
                    Some(v) => {
                        let types = v.as_array().filter(|t| {
                            t.len() as u64 == c.layers
                                && t.iter().all(|x| {
                                    matches!(
                                        x.as_str(),
                                        Some("sliding_attention" | "full_attention")
                                    )
                                })
                        });
                        let Some(types) = types else {
                            bail!(
                                "{}: field \"layer_types\" = {}: must list \"sliding_attention\" or \"full_attention\" for each of the {} layers",
                                f.origin,
                                crate::limits::clip(&v.to_string()),
                                c.layers
                            );
                        };
                        types
                            .iter()
                            .filter(|t| t.as_str() == Some("sliding_attention"))
                            .count() as u64
                    }
                    None => c.layers.div_ceil(2),
                };
                m.sliding_window_layers = Some(windowed);
            }
            // openai/gpt-oss: every expert projection is biased (`gate_up_proj_bias`,
            // `down_proj_bias`) and the SwiGLU clamps its inputs at `swiglu_limit` (7.0).
            m.expert_bias = true;
            m.swiglu_limit = f.opt_f64("swiglu_limit")?;
            if let Some(v) = m.swiglu_limit {
                ensure!(
                    v > 0.0,
                    "{}: field \"swiglu_limit\" = {}: must be positive (the clamp of the SwiGLU's inputs)",
                    f.origin,
                    crate::limits::short(v)
                );
            }
            m
        }
        "llama4" | "llama4_text" => {
            let mut m = spec(&c, f.int("intermediate_size")?);
            let step = f.step_or("interleave_moe_layer_step", 1)?;
            let listed = f.layer_set("moe_layers", c.layers)?;
            let moe_layers = if listed.is_empty() {
                (0..c.layers).filter(|i| (i + 1) % step == 0).count() as u64
            } else {
                listed.len() as u64
            };
            let dense_ffn = if moe_layers < c.layers {
                f.int("intermediate_size_mlp")?
            } else {
                0
            };
            set_moe(&mut m, f, "num_local_experts", moe_layers, dense_ffn)?;
            // Every Llama 4 MoE layer has one shared expert of the routed experts' width.
            m.shared_experts = u64::from(m.experts > 1);
            // Chunked attention on the RoPE layers (no_rope_layers[i] = 1); by default three in
            // four, every fourth layer attends globally without RoPE.
            m.attention_chunk = window(f.opt_int("attention_chunk_size")?, c.max_context);
            if m.attention_chunk.is_some() {
                let listed = f.int_list("no_rope_layers")?;
                let chunked = if listed.is_empty() {
                    let interval = f.step_or("no_rope_layer_interval", 4)?;
                    (0..c.layers).filter(|i| (i + 1) % interval != 0).count() as u64
                } else {
                    listed.iter().filter(|&&x| x == 1).count() as u64
                };
                m.attention_chunk_layers = Some(chunked);
            }
            m
        }
        other => bail!("{}: model_type \"{other}\" is not mapped", f.origin),
    };
    if m.experts <= 1 {
        m.experts = 1;
        m.top_k = 1;
        m.shared_experts = 0;
        m.dense_layers = 0;
        m.dense_ffn_dim = None;
    }
    Ok(m)
}

/// Qwen2/Qwen3: `use_sliding_window` turns the window on for layers from `max_window_layers` on.
fn qwen_window(f: &Fields, m: &mut ModelSpec) -> Result<()> {
    if f.bool_or("use_sliding_window", false)? {
        m.sliding_window = window(f.opt_int("sliding_window")?, m.max_context);
        if m.sliding_window.is_some() {
            let full = f.int_or("max_window_layers", 0)?.min(m.layers);
            m.sliding_window_layers = Some(m.layers - full);
        }
    }
    Ok(())
}

/// The preset name: the last part of `_name_or_path`, else the folder of a `config.json`, else
/// the file's stem; lower case.
fn preset_name(obj: &Map<String, Value>, path: &str) -> String {
    let from_config = obj
        .get("_name_or_path")
        .and_then(Value::as_str)
        .and_then(|s| s.trim_end_matches('/').rsplit(['/', '\\']).next())
        .filter(|s| !s.is_empty());
    let p = Path::new(path);
    let from_path = || {
        let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
        if stem == "config" {
            p.parent()
                .and_then(|d| std::fs::canonicalize(d).ok())
                .and_then(|d| d.file_name().and_then(|n| n.to_str()).map(str::to_string))
                .unwrap_or_else(|| stem.to_string())
        } else {
            stem.to_string()
        }
    };
    from_config
        .map(str::to_string)
        .unwrap_or_else(from_path)
        .to_lowercase()
}

/// Read a Hugging Face `config.json` (`path` names it in errors and gives the preset its name)
/// into a model preset. The preset is not yet validated against the schema's ranges.
pub fn import(path: &str, text: &str) -> Result<ModelPreset> {
    let origin = crate::limits::clip(path);
    let doc: Value = serde_json::from_str(text.trim_start_matches('\u{feff}')).map_err(|e| {
        anyhow!(
            "{origin}:{}:{}: not a valid config.json: {e}",
            e.line(),
            e.column()
        )
    })?;
    let top = doc
        .as_object()
        .ok_or_else(|| anyhow!("{origin}: a config.json is a JSON object"))?;
    let architectures: Vec<&str> = top
        .get("architectures")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let model_type = top.get("model_type").and_then(Value::as_str).ok_or_else(|| {
        anyhow!(
            "{origin}: missing field \"model_type\"; a Hugging Face config.json names its family there (supported: {})",
            FAMILIES.join(", ")
        )
    })?;
    if !FAMILIES.contains(&model_type) {
        let arch = if architectures.is_empty() {
            String::new()
        } else {
            format!(" ({})", architectures.join(", "))
        };
        bail!(
            "{origin}: model_type \"{}\"{arch} is not a supported architecture; supported: {} (or write a TOML preset, see docs/usage.md)",
            crate::limits::clip(model_type),
            FAMILIES.join(", ")
        );
    }
    // Llama 4 (and other multimodal configs) nest the language model under text_config.
    let obj = match top.get("text_config").and_then(Value::as_object) {
        Some(text_cfg) if model_type == "llama4" => text_cfg,
        _ => top,
    };
    let f = Fields {
        obj,
        origin: &origin,
        family: model_type,
    };
    let mut model = map(&f)?;
    if model_type == "llama4" && !obj.contains_key("tie_word_embeddings") {
        model.tied_embeddings = Fields {
            obj: top,
            origin: &origin,
            family: model_type,
        }
        .bool_or("tie_word_embeddings", false)?;
    }
    let name = preset_name(top, path);
    // The name comes from `_name_or_path` (or the file's folder): say so, not `name`, which
    // the config.json does not have.
    crate::limits::check_name("the preset name", &name).map_err(|e| {
        anyhow!("{origin}: {e} (it comes from \"_name_or_path\", else the file's folder or name)")
    })?;
    let kind = if model.experts > 1 {
        format!(
            "MoE, {} experts top-{}{}",
            model.experts,
            model.top_k,
            if model.shared_experts > 0 {
                format!(" plus {} shared", model.shared_experts)
            } else {
                String::new()
            }
        )
    } else {
        "dense".to_string()
    };
    let attention = match model.attention {
        AttentionKind::Mla => "MLA".to_string(),
        AttentionKind::Standard if model.kv_heads == model.heads => "MHA".to_string(),
        AttentionKind::Standard if model.kv_heads == 1 => "MQA".to_string(),
        AttentionKind::Standard => format!("GQA-{}", model.kv_heads),
    };
    let arch = architectures.first().copied().unwrap_or(model_type);
    Ok(ModelPreset {
        description: format!(
            "{name}: {kind}, {attention}, {} layers, d_model {} (imported from a Hugging Face config.json, {arch})",
            model.layers, model.d_model
        ),
        source: format!(
            "Hugging Face config.json `{origin}` (model_type \"{model_type}\"), imported by gpt4calc; not counted: {}",
            left_out(model_type)
        ),
        name,
        model,
    })
}

/// A preset as TOML text, the form `presets import` prints and `--preset` loads.
pub fn to_toml(p: &ModelPreset) -> Result<String> {
    let mut text = toml::to_string_pretty(p)?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// Read a config.json into the preset's TOML text.
pub fn import_toml(path: &str, text: &str) -> Result<String> {
    to_toml(&import(path, text)?)
}
