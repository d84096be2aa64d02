//! Parameter, FLOP and KV-cache counts from the architecture (static; no hardware).
//!
//! Formulas (model-spec §1–2, docs/methodology.md §1):
//! - attention per layer: `2·d·n_h·d_h + 2·d·n_kv·d_h` (W_Q, W_O, W_K, W_V); MLA per DeepSeek-V2;
//! - FFN per expert per layer: `m·d·d_ff`, m = 3 gated, 2 plain;
//! - router `d·E` per MoE layer, norms `2·d` per layer, embeddings `V·d` (twice if untied);
//! - forward FLOP per token = `2·P_active_nonembed + 2·d·V` (Kaplan et al. 2020, Table 1);
//! - KV elements per token per layer = `2·n_kv·d_h`, or `d_c + d_R` for MLA.

use super::{AttentionKind, ModelSpec};

/// Group-limited routing (DeepSeek-V3 §3.2.2): experts form `groups` groups and each token's
/// experts come from `per_token` of them (`n_group`, `topk_group` in the model's config).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RoutingGroups {
    /// Expert groups.
    pub groups: f64,
    /// Groups one token may use.
    pub per_token: f64,
}

/// Σ of the input and of the output widths of a layer's linear projections, each apart by whether
/// a tensor-parallel split divides it (`*_split`) or not (`*_full`): what a GEMM's activation
/// traffic scales with, per token (`LinearWidths::on_gpu`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LinearWidths {
    /// Input widths a TP split keeps whole (column-parallel and replicated projections).
    pub in_full: f64,
    /// Input widths a TP split divides (row-parallel projections).
    pub in_split: f64,
    /// Output widths a TP split keeps whole (row-parallel and replicated projections).
    pub out_full: f64,
    /// Output widths a TP split divides (column-parallel projections).
    pub out_split: f64,
}

impl LinearWidths {
    /// (inputs, outputs) per token on one GPU of a TP group of `tp`.
    pub fn on_gpu(&self, tp: f64) -> (f64, f64) {
        (
            self.in_full + self.in_split / tp,
            self.out_full + self.out_split / tp,
        )
    }

    /// An FFN of inner width `inner` with `up` up-projection matrices (2 gated): up (d in,
    /// up·inner out, column-parallel) and down (inner in, d out, row-parallel).
    pub fn ffn(d: f64, up: f64, inner: f64) -> Self {
        LinearWidths {
            in_full: d,
            in_split: inner,
            out_full: d,
            out_split: up * inner,
        }
    }
}

/// Everything about a model that does not depend on hardware or parallelism, as f64 counts.
#[derive(Clone, Copy, Debug)]
pub struct ModelCounts {
    /// Layers L.
    pub layers: f64,
    /// Leading dense layers.
    pub dense_layers: f64,
    /// MoE layers (L − dense layers; 0 for a dense model).
    pub moe_layers: f64,
    /// d_model.
    pub d_model: f64,
    /// Vocabulary.
    pub vocab: f64,
    /// Routed experts E.
    pub experts: f64,
    /// Experts per token k.
    pub top_k: f64,
    /// Shared experts E_s.
    pub shared_experts: f64,
    /// Query heads.
    pub heads: f64,
    /// KV heads (1 for MLA: the latent is shared by all heads).
    pub kv_heads: f64,
    /// Grouped-query attention: standard attention with more query heads than KV heads (GQA,
    /// MQA), whose decode kernels run a thread block per sequence and KV head (not MLA, not MHA).
    pub grouped_kv: bool,
    /// Width of the attention output, `n_h·d_h` (MLA: `n_h·d_v`): the per-token activation an
    /// attention layout reshards.
    pub attn_width: f64,
    /// Attention parameters per layer (override applied).
    pub attn_params_per_layer: f64,
    /// Of those, the ones every GPU of a tensor-parallel attention group holds whole: MLA's
    /// down-projections to the query and KV latents (`d·(d_c' + d_c + d_R)`), which the serving
    /// runtimes run replicated because every head needs the whole latent (SGLang and vLLM
    /// `fused_qkv_a_proj_with_mqa = ReplicatedLinear`; TensorRT-LLM's `fused_a`, "Data
    /// Parallelism 8" in its tech blog 1); 0 for standard attention.
    pub attn_replicated_params_per_layer: f64,
    /// Of those, the output projection's (`n_h·d_v·d`, split by rows over TP): the module a
    /// checkpoint may quantise apart from the rest of the attention (`Config::attn_out_dtype`).
    pub attn_out_params_per_layer: f64,
    /// Σ (input width + output width) over the attention projections of a layer (QKV and output;
    /// MLA's down- and up-projections): what an fp8 training step quantises per token.
    pub attn_linear_io_per_layer: f64,
    /// The attention projections' input and output widths, apart by what a TP split divides.
    pub attn_widths: LinearWidths,
    /// FFN parameters of one expert in one MoE layer (or of the FFN of a dense layer).
    pub ffn_params_per_expert_per_layer: f64,
    /// Inner width of one expert's FFN (`ffn_dim`).
    pub ffn_dim: f64,
    /// Up-projection matrices of an FFN: 2 gated (gate and up), 1 plain.
    pub ffn_up_matrices: f64,
    /// FFN parameters of one leading dense layer.
    pub dense_ffn_params_per_layer: f64,
    /// GEMM kernels of one layer's attention projections in decode: 2 for standard attention (QKV,
    /// output); for MLA the query path (1, or 2 with a query low rank), the latent KV projection,
    /// the two absorbed per-head products (W_UK into the query, W_UV out of the latent) and the
    /// output.
    pub attn_gemms_decode: f64,
    /// Activation units (16-bit bytes per token per `d_model` width, Korthikanti's unit) that the
    /// TP-split part of the attention side writes in a decode step: 5 for MHA/GQA
    /// (`ATTENTION_SPLIT_UNITS`); for MLA's absorbed decode two bytes for each value of the
    /// per-head query `n_h·(d_nope + d_rope)`, the latent query and latent attention output
    /// `2·n_h·d_c` and the value `n_h·d_v` (DeepSeek-V3: 2·128·(192 + 1024 + 128)/7168 = 48.0;
    /// docs/methodology.md §4.5).
    pub attn_decode_split_units: f64,
    /// The same in prefill: MLA decompresses the latent with one up-projection instead of the two
    /// absorbed products.
    pub attn_gemms_prefill: f64,
    /// Router parameters per MoE layer.
    pub router_params_per_layer: f64,
    /// Norm gains per layer.
    pub norm_params_per_layer: f64,
    /// Input embedding parameters.
    pub embed_in_params: f64,
    /// Output head parameters (0 when tied: the head reuses the input embedding).
    pub embed_out_params: f64,
    /// Attention-score FLOP per token per unit of context per layer: `4·n_h·d_h`
    /// (2 for QKᵀ, 2 for AV); for MLA `2·n_h·(d_qk + d_v)`.
    pub attn_score_flops_per_ctx_per_layer: f64,
    /// Attention FLOP per (query, cached key) pair per layer in decode: as `attn_score_…` for
    /// standard attention; for MLA the absorbed form the kernels run, QK over the latent and rotary
    /// key `2·n_h·(d_c + d_R)` and PV over the latent `2·n_h·d_c` (FlashMLA's count).
    pub attn_decode_flops_per_ctx_per_layer: f64,
    /// KV-cache elements per token per layer, before any sharding.
    pub kv_elems_per_token_per_layer: f64,
    /// Tensor-parallel reductions of a layer's activations per pass: 2 (after attention, after
    /// the FFN), 1 for a parallel attention/FFN block.
    pub tp_reductions_per_layer: f64,
    /// Group-limited routing, if the model declares it.
    pub routing_groups: Option<RoutingGroups>,
    /// Sliding window, tokens (infinite without one).
    pub window_tokens: f64,
    /// Share of the layers that use the window.
    pub windowed_share: f64,
    /// Attention chunk, tokens (infinite without chunked attention).
    pub chunk_tokens: f64,
    /// Share of the layers that attend within their chunk.
    pub chunked_share: f64,
    /// fp8 weights scaled per 128×128 block (`ModelSpec::fp8_block_scaled`).
    pub fp8_block_scaled: bool,
    /// Biased routed experts (`ModelSpec::expert_bias`).
    pub expert_bias: bool,
    /// Clamped SwiGLU inputs (`ModelSpec::swiglu_limit` set).
    pub swiglu_clamped: bool,
    /// MLA's up-projections per layer: the query's from its low rank (`d_c'·n_h·(d_nope + d_R)`;
    /// none without a query low rank) and the keys' and values' from the latent
    /// (`d_c·n_h·(d_nope + d_v)`); 0 for standard attention. What Megatron-Core's `mla_up_proj`
    /// recomputation re-runs.
    pub mla_up_params_per_layer: f64,
}

impl ModelCounts {
    /// Derive the counts from a validated spec.
    pub fn new(m: &ModelSpec) -> Self {
        let d = m.d_model as f64;
        let ffn_mats = if m.ffn_gated { 3.0 } else { 2.0 };
        // The attention projections' input and output widths (`attn_widths`), apart by whether a
        // TP split divides them: a column-parallel projection keeps its input and splits its
        // output, a row-parallel one (the output projection) the reverse; MLA's down-projections
        // run replicated.
        let (
            (computed_attn, score_width, decode_width, kv_elems, kv_heads, attn_width, q_gemms),
            attn_io,
            attn_widths,
        ) = match (m.attention, &m.mla) {
            (AttentionKind::Mla, Some(mla)) => {
                let h = m.heads as f64;
                let qk = (mla.qk_nope_head_dim + mla.qk_rope_head_dim) as f64;
                let v = mla.v_head_dim as f64;
                let dc = mla.kv_lora_rank as f64;
                let dr = mla.qk_rope_head_dim as f64;
                let q = if mla.q_lora_rank > 0 {
                    let dcq = mla.q_lora_rank as f64;
                    d * dcq + dcq * h * qk
                } else {
                    d * h * qk
                };
                let kv = d * (dc + dr) + dc * h * (mla.qk_nope_head_dim as f64 + v);
                let o = h * v * d;
                let q_io = if mla.q_lora_rank > 0 {
                    let dcq = mla.q_lora_rank as f64;
                    d + 2.0 * dcq + h * qk
                } else {
                    d + h * qk
                };
                let kv_io = d + 2.0 * dc + dr + h * (mla.qk_nope_head_dim as f64 + v);
                // With a query latent, q_a and kv_a run as one GEMM on the hidden state
                // (d → dcq + dc + dr, TensorRT-LLM's `fused_a`, SGLang's
                // `fused_qkv_a_proj_with_mqa`), then q_b (dcq → h·qk); without, q (d → h·qk)
                // and kv_a (d → dc + dr) each read it. Then kv_b (dc → h·(nope + v)) and the
                // output (h·v → d).
                let dcq = mla.q_lora_rank as f64;
                let (q_in, q_out) = if mla.q_lora_rank > 0 {
                    (dcq, dcq)
                } else {
                    (d, 0.0)
                };
                (
                    (
                        q + kv + o,
                        2.0 * h * (qk + v),
                        2.0 * h * (2.0 * dc + dr),
                        dc + dr,
                        1.0,
                        h * v,
                        if mla.q_lora_rank > 0 { 2.0 } else { 1.0 },
                    ),
                    q_io + kv_io + h * v + d,
                    LinearWidths {
                        in_full: q_in + d + dc,
                        in_split: h * v,
                        out_full: q_out + dc + dr + d,
                        out_split: h * qk + h * (mla.qk_nope_head_dim as f64 + v),
                    },
                )
            }
            _ => {
                let attn_width = (m.heads * m.head_dim) as f64;
                let kv_width = (m.kv_heads * m.head_dim) as f64;
                (
                    (
                        2.0 * d * attn_width + 2.0 * d * kv_width,
                        4.0 * attn_width,
                        4.0 * attn_width,
                        2.0 * kv_width,
                        m.kv_heads as f64,
                        attn_width,
                        0.0,
                    ),
                    // QKV (d in, q + 2·kv out) and the output projection.
                    2.0 * d + 2.0 * attn_width + 2.0 * kv_width,
                    LinearWidths {
                        in_full: d,
                        in_split: attn_width,
                        out_full: d,
                        out_split: attn_width + 2.0 * kv_width,
                    },
                )
            }
        };
        let attn_replicated = match (m.attention, &m.mla) {
            (AttentionKind::Mla, Some(mla)) => {
                d * (mla.q_lora_rank + mla.kv_lora_rank + mla.qk_rope_head_dim) as f64
            }
            _ => 0.0,
        };
        let mla_up = match (m.attention, &m.mla) {
            (AttentionKind::Mla, Some(mla)) => {
                let h = m.heads as f64;
                let q_up = mla.q_lora_rank as f64
                    * h
                    * (mla.qk_nope_head_dim + mla.qk_rope_head_dim) as f64;
                q_up + mla.kv_lora_rank as f64 * h * (mla.qk_nope_head_dim + mla.v_head_dim) as f64
            }
            _ => 0.0,
        };
        let moe = m.is_moe();
        let dense_layers = if moe {
            m.dense_layers as f64
        } else {
            m.layers as f64
        };
        Self {
            layers: m.layers as f64,
            dense_layers,
            moe_layers: m.layers as f64 - dense_layers,
            d_model: d,
            vocab: m.vocab as f64,
            experts: m.experts as f64,
            top_k: m.top_k as f64,
            shared_experts: m.shared_experts as f64,
            heads: m.heads as f64,
            kv_heads,
            grouped_kv: m.attention != AttentionKind::Mla && m.kv_heads < m.heads,
            attn_width,
            attn_params_per_layer: m
                .attention_params_per_layer
                .map_or(computed_attn, |v| v as f64),
            attn_out_params_per_layer: (attn_width * d).min(
                m.attention_params_per_layer
                    .map_or(computed_attn, |v| v as f64),
            ),
            attn_replicated_params_per_layer: attn_replicated.min(
                m.attention_params_per_layer
                    .map_or(computed_attn, |v| v as f64),
            ),
            attn_linear_io_per_layer: attn_io,
            attn_widths,
            ffn_params_per_expert_per_layer: ffn_mats * d * m.ffn_dim as f64,
            ffn_dim: m.ffn_dim as f64,
            ffn_up_matrices: ffn_mats - 1.0,
            dense_ffn_params_per_layer: ffn_mats * d * m.dense_ffn_dim.unwrap_or(m.ffn_dim) as f64,
            attn_gemms_decode: if q_gemms > 0.0 { q_gemms + 4.0 } else { 2.0 },
            attn_decode_split_units: match (m.attention, &m.mla) {
                (AttentionKind::Mla, Some(mla)) => {
                    2.0 * m.heads as f64
                        * (mla.qk_nope_head_dim
                            + mla.qk_rope_head_dim
                            + 2 * mla.kv_lora_rank
                            + mla.v_head_dim) as f64
                        / d
                }
                _ => crate::perf::activations::ATTENTION_SPLIT_UNITS,
            },
            attn_gemms_prefill: if q_gemms > 0.0 { q_gemms + 3.0 } else { 2.0 },
            router_params_per_layer: if moe { d * m.experts as f64 } else { 0.0 },
            norm_params_per_layer: 2.0 * d,
            embed_in_params: m.vocab as f64 * d,
            embed_out_params: if m.tied_embeddings {
                0.0
            } else {
                m.vocab as f64 * d
            },
            attn_score_flops_per_ctx_per_layer: score_width,
            attn_decode_flops_per_ctx_per_layer: decode_width,
            kv_elems_per_token_per_layer: kv_elems,
            tp_reductions_per_layer: if m.parallel_block { 1.0 } else { 2.0 },
            window_tokens: m.sliding_window.map_or(f64::INFINITY, |w| w as f64),
            windowed_share: m.sliding_window.map_or(0.0, |_| {
                m.sliding_window_layers.unwrap_or(m.layers) as f64 / m.layers as f64
            }),
            chunk_tokens: m.attention_chunk.map_or(f64::INFINITY, |k| k as f64),
            chunked_share: m.attention_chunk.map_or(0.0, |_| {
                m.attention_chunk_layers.unwrap_or(m.layers) as f64 / m.layers as f64
            }),
            fp8_block_scaled: m.fp8_block_scaled,
            expert_bias: m.expert_bias,
            swiglu_clamped: m.swiglu_limit.is_some(),
            mla_up_params_per_layer: mla_up,
            routing_groups: m.routing().map(|(groups, per_token)| RoutingGroups {
                groups: groups as f64,
                per_token: per_token as f64,
            }),
        }
    }

    /// Parameters of one MoE layer with `experts_counted` routed experts present.
    fn moe_layer_params(&self, experts_counted: f64) -> f64 {
        self.attn_params_per_layer
            + (experts_counted + self.shared_experts) * self.ffn_params_per_expert_per_layer
            + self.router_params_per_layer
            + self.norm_params_per_layer
    }

    /// Parameters of one leading dense layer.
    fn dense_layer_params(&self) -> f64 {
        self.attn_params_per_layer + self.dense_ffn_params_per_layer + self.norm_params_per_layer
    }

    /// Embedding and head parameters.
    pub fn embedding_params(&self) -> f64 {
        self.embed_in_params + self.embed_out_params
    }

    /// Total parameters.
    pub fn total_params(&self) -> f64 {
        self.dense_layers * self.dense_layer_params()
            + self.moe_layers * self.moe_layer_params(self.experts)
            + self.embedding_params()
    }

    /// Parameters touched by one token (top-k routed plus shared experts).
    pub fn active_params(&self) -> f64 {
        self.active_nonembed_params() + self.embedding_params()
    }

    /// Active parameters outside the embeddings.
    pub fn active_nonembed_params(&self) -> f64 {
        self.dense_layers * self.dense_layer_params()
            + self.moe_layers * self.moe_layer_params(self.top_k)
    }

    /// Attention parameters of one layer on one GPU of a tensor-parallel group of `tp`: the
    /// replicated down-projections whole, the rest split.
    pub fn attn_params_per_gpu(&self, tp: f64) -> f64 {
        self.attn_replicated_params_per_layer
            + (self.attn_params_per_layer - self.attn_replicated_params_per_layer) / tp
    }

    /// Attention parameters over all layers.
    pub fn attention_params(&self) -> f64 {
        self.layers * self.attn_params_per_layer
    }

    /// Parameters of one routed expert over all MoE layers (0 for a dense model).
    pub fn params_per_expert(&self) -> f64 {
        self.moe_layers * self.ffn_params_per_expert_per_layer
    }

    /// Forward matmul FLOP per token: `2·P_active_nonembed + 2·d·V` (the logits; the input
    /// embedding is a lookup).
    pub fn flops_per_token(&self) -> f64 {
        2.0 * self.active_nonembed_params() + 2.0 * self.d_model * self.vocab
    }

    /// Attention-score FLOP per token at context `ctx_tokens` over all layers (`4·L·c·n_h·d_h`;
    /// windowed layers see at most their window).
    pub fn attention_flops_per_token(&self, ctx_tokens: f64) -> f64 {
        self.attention_flops_for_keys(self.attended(ctx_tokens))
    }

    /// Attention-score FLOP per token over all layers when a query attends to `keys` keys,
    /// averaged over the layers (`attended_over`'s).
    pub fn attention_flops_for_keys(&self, keys: f64) -> f64 {
        self.layers * self.attn_score_flops_per_ctx_per_layer * keys
    }

    /// The context one layer caches, averaged over the layers: `ctx` for a full-attention or a
    /// chunked layer (the cache keeps every token), `min(ctx, window)` for a windowed one. Also
    /// what a query at `ctx` attends to where the runtime runs chunked layers over the whole
    /// sequence.
    pub fn attended(&self, ctx_tokens: f64) -> f64 {
        ctx_tokens * (1.0 - self.windowed_share)
            + ctx_tokens.min(self.window_tokens) * self.windowed_share
    }

    /// The keys one layer attends to, averaged over the layers and over queries spread evenly
    /// over the positions `from..to`: the mean position for a full layer, the window's part of
    /// it for a windowed one (`attended` at the mean), and for a chunked one the exact mean of
    /// `p mod chunk`, the keys since the query's chunk began (`chunked_over`).
    pub fn attended_over(&self, from: f64, to: f64) -> f64 {
        let mid = (from + to) / 2.0;
        // A model has a window or chunks, never both (`ModelSpec::validate`).
        self.attended(mid) * (1.0 - self.chunked_share) + self.chunked_over(from, to)
    }

    /// The chunked layers' part of `attended_over`: their share of the layers times the mean of
    /// `p mod chunk` over `from..to` (0 without chunked attention).
    pub fn chunked_over(&self, from: f64, to: f64) -> f64 {
        if self.chunked_share <= 0.0 {
            return 0.0;
        }
        let k = self.chunk_tokens;
        // ∫₀ˣ (p mod k) dp: k²/2 for every whole chunk, r²/2 for the part of the last.
        let integral = |x: f64| {
            let whole = (x / k).floor();
            let r = x - whole * k;
            whole * k * k / 2.0 + r * r / 2.0
        };
        let mean = if to > from {
            (integral(to) - integral(from)) / (to - from)
        } else {
            from - (from / k).floor() * k
        };
        // Within [0, chunk) by construction; the clamp keeps rounding of two large integrals there.
        self.chunked_share * mean.clamp(0.0, k)
    }

    /// KV-cache bytes per token over all layers at `kv_bytes_per_elem` bytes per element.
    pub fn kv_bytes_per_token(&self, kv_bytes_per_elem: f64) -> f64 {
        self.layers * self.kv_elems_per_token_per_layer * kv_bytes_per_elem
    }
}
