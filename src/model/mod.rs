//! Model description: the `[model]` table of a model preset, validated, and the parameter,
//! FLOP and KV-cache counts derived from it (`params`).

pub mod params;

use anyhow::{Result, bail, ensure};
use serde::{Deserialize, Serialize};

pub use params::{LinearWidths, ModelCounts};

/// A model preset file: metadata plus the architecture.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPreset {
    /// Preset name, e.g. `gpt4-8k`.
    pub name: String,
    /// One line on what the model is.
    pub description: String,
    /// Where its numbers come from.
    pub source: String,
    /// The architecture.
    pub model: ModelSpec,
}

/// Attention variant.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AttentionKind {
    /// Multi-head, grouped-query or multi-query attention (by `kv_heads`).
    #[default]
    Standard,
    /// Multi-head latent attention (DeepSeek-V2/V3): low-rank K/V, a compressed cache.
    Mla,
}

/// Ranks of multi-head latent attention (DeepSeek-V2, arXiv 2405.04434, §2.1).
#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MlaSpec {
    /// Query compression rank d_c' (0 = no query compression).
    pub q_lora_rank: u64,
    /// KV compression rank d_c (the cached latent).
    pub kv_lora_rank: u64,
    /// Per-head query/key dimension without rotary position.
    pub qk_nope_head_dim: u64,
    /// Decoupled rotary dimension d_R (shared key, cached).
    pub qk_rope_head_dim: u64,
    /// Per-head value dimension.
    pub v_head_dim: u64,
}

/// The architecture of a (dense or Mixture-of-Experts) decoder-only transformer.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Transformer layers L.
    pub layers: u64,
    /// Residual width d.
    pub d_model: u64,
    /// Query heads n_h.
    pub heads: u64,
    /// Key/value heads n_kv: = heads for MHA, 1 for MQA, between for GQA.
    pub kv_heads: u64,
    /// Per-head dimension d_h.
    pub head_dim: u64,
    /// FFN inner width (per expert for MoE).
    pub ffn_dim: u64,
    /// Gated FFN (SwiGLU/GeGLU: three matrices) or plain (two).
    pub ffn_gated: bool,
    /// Vocabulary size V.
    pub vocab: u64,
    /// Input embedding shared with the output head.
    pub tied_embeddings: bool,
    /// Routed experts E (1 = dense).
    pub experts: u64,
    /// Experts per token k.
    pub top_k: u64,
    /// Always-on shared experts E_s.
    pub shared_experts: u64,
    /// Longest sequence (prompt + output) the model accepts.
    pub max_context: u64,
    /// Override of the attention parameters per layer (for FLOP and weight counts only; the KV
    /// cache still follows `kv_heads`). GPT-4 uses it: the article's 55B of attention is
    /// MHA-shaped while its KV cache is MQA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_params_per_layer: Option<u64>,
    /// Leading dense (non-MoE) layers, e.g. DeepSeek-V3's first 3.
    #[serde(default)]
    pub dense_layers: u64,
    /// FFN width of the leading dense layers (defaults to `ffn_dim`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dense_ffn_dim: Option<u64>,
    /// Attention variant.
    #[serde(default)]
    pub attention: AttentionKind,
    /// MLA ranks (required when `attention = "mla"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mla: Option<MlaSpec>,
    /// Parallel attention and FFN (GPT-J, PaLM): both read the same normed input and add to
    /// the residual together, so tensor parallelism reduces their partial sums once per layer
    /// instead of twice (PaLM §2; Pope et al. 2022).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub parallel_block: bool,
    /// Group-limited routing (DeepSeek-V3 §3.2.2, `n_group`): the routed experts form this many
    /// equal groups, and each token's experts come from `routing_groups_per_token` of them. With
    /// expert parallelism over nodes that hold whole groups, a token reaches at most that many
    /// nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_groups: Option<u64>,
    /// Groups one token may route to (`topk_group`; required with `routing_groups`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_groups_per_token: Option<u64>,
    /// Sliding-window attention (Mistral, gpt-oss, Gemma): the windowed layers attend to only the
    /// last `sliding_window` tokens (their KV cache is still reserved for the whole context, as
    /// TensorRT-LLM does unless given per-layer windows; docs/methodology.md §4.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sliding_window: Option<u64>,
    /// How many of the layers use the window (default: all of them; gpt-oss alternates, 18 of 36).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sliding_window_layers: Option<u64>,
    /// Chunked attention (Llama 4's `attention_chunk_size`): the chunked layers split the sequence
    /// into aligned chunks of this many tokens, and a token attends only to the tokens of its own
    /// chunk before it (position p sees the `p mod attention_chunk` keys since its chunk began,
    /// not the last `attention_chunk`). The KV cache still holds every token: TensorRT-LLM keeps
    /// them (docs/methodology.md §4.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_chunk: Option<u64>,
    /// How many of the layers are chunked (default: all of them; Llama 4 chunks its RoPE layers,
    /// 36 of 48, and every fourth layer attends to the whole sequence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_chunk_layers: Option<u64>,
    /// The checkpoint's fp8 weights carry one scale per 128×128 block (DeepSeek-V3 §3.3.2), not
    /// one per tensor: run in fp8, its routed experts take the block-scaled fused-MoE kernel
    /// (`[gpu.fused_moe.fp8_block]`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fp8_block_scaled: bool,
    /// The routed experts' linears carry bias vectors (gpt-oss). Training prices how
    /// Megatron-Core adds the output bias expert by expert (docs/methodology.md §16.1); the
    /// parameter and FLOP counts leave the vectors out (d + 2F numbers an expert, 0.03% of
    /// gpt-oss-120b's parameters).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub expert_bias: bool,
    /// Clamped SwiGLU (gpt-oss's `swiglu_limit`): the gate input is clamped above and the linear
    /// input on both sides at this value. Training prices the clamps Megatron-Core runs outside
    /// its fused activation (docs/methodology.md §16.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swiglu_limit: Option<f64>,
}

impl ModelSpec {
    /// Check that every field is in range; the error names the field, its value and what is allowed.
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("model.layers", self.layers),
            ("model.d_model", self.d_model),
            ("model.heads", self.heads),
            ("model.kv_heads", self.kv_heads),
            ("model.head_dim", self.head_dim),
            ("model.ffn_dim", self.ffn_dim),
            ("model.vocab", self.vocab),
            ("model.experts", self.experts),
            ("model.top_k", self.top_k),
            ("model.max_context", self.max_context),
        ];
        // The documented ranges (docs/usage.md), which keep every product of them exact.
        let mla = self.mla.as_ref();
        for (name, v) in positive.into_iter().map(|(n, v)| (n, Some(v))).chain([
            ("model.shared_experts", Some(self.shared_experts)),
            (
                "model.attention_params_per_layer",
                self.attention_params_per_layer,
            ),
            ("model.dense_layers", Some(self.dense_layers)),
            ("model.dense_ffn_dim", self.dense_ffn_dim),
            ("model.routing_groups", self.routing_groups),
            (
                "model.routing_groups_per_token",
                self.routing_groups_per_token,
            ),
            ("model.sliding_window", self.sliding_window),
            ("model.sliding_window_layers", self.sliding_window_layers),
            ("model.attention_chunk", self.attention_chunk),
            ("model.attention_chunk_layers", self.attention_chunk_layers),
            ("model.mla.q_lora_rank", mla.map(|m| m.q_lora_rank)),
            ("model.mla.kv_lora_rank", mla.map(|m| m.kv_lora_rank)),
            (
                "model.mla.qk_nope_head_dim",
                mla.map(|m| m.qk_nope_head_dim),
            ),
            (
                "model.mla.qk_rope_head_dim",
                mla.map(|m| m.qk_rope_head_dim),
            ),
            ("model.mla.v_head_dim", mla.map(|m| m.v_head_dim)),
        ]) {
            if let Some(v) = v {
                crate::limits::model_int(name)
                    .check(&format!("{name} ="), v)
                    .map_err(anyhow::Error::msg)?;
            }
        }
        ensure!(
            self.kv_heads <= self.heads && self.heads % self.kv_heads == 0,
            "model.kv_heads = {}: must divide model.heads = {}",
            self.kv_heads,
            self.heads
        );
        ensure!(
            self.top_k <= self.experts,
            "model.top_k = {}: must be at most model.experts = {}",
            self.top_k,
            self.experts
        );
        ensure!(
            self.dense_layers < self.layers
                || (self.experts == 1 && self.dense_layers <= self.layers),
            "model.dense_layers = {}: must be less than model.layers = {}",
            self.dense_layers,
            self.layers
        );
        if let Some(v) = self.attention_params_per_layer {
            ensure!(
                v > 0,
                "model.attention_params_per_layer = {v}: must be positive"
            );
        }
        if let Some(v) = self.dense_ffn_dim {
            ensure!(v > 0, "model.dense_ffn_dim = {v}: must be positive");
        }
        if let Some(w) = self.sliding_window {
            ensure!(
                w > 0,
                "model.sliding_window = 0: must be a positive number of tokens"
            );
        }
        if let Some(n) = self.sliding_window_layers {
            ensure!(
                self.sliding_window.is_some(),
                "model.sliding_window_layers = {n}: needs model.sliding_window"
            );
            ensure!(
                n <= self.layers,
                "model.sliding_window_layers = {n}: must be at most model.layers = {}",
                self.layers
            );
        }
        if let Some(n) = self.attention_chunk_layers {
            ensure!(
                self.attention_chunk.is_some(),
                "model.attention_chunk_layers = {n}: needs model.attention_chunk"
            );
            ensure!(
                n <= self.layers,
                "model.attention_chunk_layers = {n}: must be at most model.layers = {}",
                self.layers
            );
        }
        if let (Some(w), Some(k)) = (self.sliding_window, self.attention_chunk) {
            bail!(
                "model.attention_chunk = {k}: a model takes a sliding window or chunked attention, \
                 not both (model.sliding_window = {w})"
            );
        }
        if let Some(v) = self.swiglu_limit {
            ensure!(
                v.is_finite() && v > 0.0,
                "model.swiglu_limit = {}: must be a positive finite number",
                crate::limits::short(v)
            );
            ensure!(
                self.ffn_gated,
                "model.swiglu_limit = {}: needs a gated FFN (model.ffn_gated = true)",
                crate::limits::short(v)
            );
        }
        match (self.routing_groups, self.routing_groups_per_token) {
            (None, None) => {}
            (Some(g), Some(t)) => {
                ensure!(
                    g > 0 && self.experts % g == 0,
                    "model.routing_groups = {g}: must be a positive divisor of model.experts = {}",
                    self.experts
                );
                ensure!(
                    t > 0 && t <= g,
                    "model.routing_groups_per_token = {t}: must be between 1 and model.routing_groups = {g}"
                );
                ensure!(
                    t * (self.experts / g) >= self.top_k,
                    "model.routing_groups_per_token = {t}: {t} groups of {} experts cannot hold model.top_k = {} experts",
                    self.experts / g,
                    self.top_k
                );
            }
            _ => bail!(
                "model.routing_groups and model.routing_groups_per_token must be given together"
            ),
        }
        match (self.attention, &self.mla) {
            (AttentionKind::Mla, None) => {
                bail!("model.attention = \"mla\" needs a [model.mla] table with its ranks")
            }
            (AttentionKind::Standard, Some(_)) => {
                bail!("model.mla is set but model.attention is not \"mla\"")
            }
            (AttentionKind::Mla, Some(m)) => {
                for (name, v) in [
                    ("model.mla.kv_lora_rank", m.kv_lora_rank),
                    ("model.mla.qk_nope_head_dim", m.qk_nope_head_dim),
                    ("model.mla.qk_rope_head_dim", m.qk_rope_head_dim),
                    ("model.mla.v_head_dim", m.v_head_dim),
                ] {
                    ensure!(v > 0, "{name} = {v}: must be a positive integer");
                }
            }
            (AttentionKind::Standard, None) => {}
        }
        Ok(())
    }

    /// Group-limited routing as (groups, groups per token), if declared.
    pub fn routing(&self) -> Option<(u64, u64)> {
        self.routing_groups.zip(self.routing_groups_per_token)
    }

    /// True for a Mixture-of-Experts model (more than one routed expert).
    pub fn is_moe(&self) -> bool {
        self.experts > 1
    }
}
