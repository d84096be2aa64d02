//! Activation bytes of one transformer layer (Korthikanti et al. 2022, arXiv 2205.05198,
//! Table 2): what training stores for the backward pass, and what the elementwise operators
//! (norms, activation functions, dropouts, residual adds) of any forward pass read and write.

use crate::model::ModelCounts;

/// Activation bytes per token per hidden unit that stay replicated across TP without sequence
/// parallelism (Korthikanti et al. 2022: `sbh·(10 + 24/t + 5as/(ht))`).
pub const REPLICATED_WITHOUT_SP: f64 = 10.0;

/// The shape of one layer's pass.
#[derive(Clone, Copy, Debug)]
pub struct LayerPass {
    /// Tokens through the layer.
    pub tokens: f64,
    /// Tensor-parallel degree.
    pub tp: u64,
    /// Sequence length (for the attention-score term).
    pub seq_len: f64,
    /// A routed-expert layer (its MLP activations count once per expert a token visits).
    pub moe: bool,
    /// Norms, dropouts and residuals sharded across the TP group.
    pub sequence_parallel: bool,
    /// The s×s attention scores are materialised and kept.
    pub keep_scores: bool,
}

/// Bytes of 16-bit activations one layer produces: `s·b·h/t · (15 + f·(3 + 16·r))` with
/// sequence parallelism, `f` experts per token, `r` the FFN size relative to a 4h MLP; `+ 5·a·s/h`
/// when the scores are kept; without sequence parallelism `10·s·b·h` of it is replicated.
pub fn layer_bytes(m: &ModelCounts, p: LayerPass) -> f64 {
    let h = m.d_model;
    let t = p.tp as f64;
    let (ffn, per_token) = if p.moe {
        (
            m.ffn_params_per_expert_per_layer,
            m.top_k + m.shared_experts,
        )
    } else {
        (m.dense_ffn_params_per_layer, 1.0)
    };
    let r = ffn / (8.0 * h * h);
    let mut units = 15.0 + per_token * (3.0 + 16.0 * r);
    if p.keep_scores {
        units += 5.0 * m.heads * p.seq_len / h;
    }
    if p.sequence_parallel {
        p.tokens * h / t * units
    } else {
        p.tokens * h * (REPLICATED_WITHOUT_SP + (units - REPLICATED_WITHOUT_SP) / t)
    }
}

/// 16-bit activation units per token per hidden unit of the attention side of a layer (norms,
/// QKV, attention output, residuals: Korthikanti's 15 = 10 replicated across TP + 5 split).
pub const ATTENTION_SIDE_UNITS: f64 = 15.0;

/// The TP-split part of `ATTENTION_SIDE_UNITS`: queries, keys, values and the attention output.
pub const ATTENTION_SPLIT_UNITS: f64 = 5.0;

/// 16-bit activation units per token per hidden unit that one FFN (or one expert a token visits)
/// adds: `3 + 16·r` (its input and dropout mask, and the two `4h·r`-wide intermediates).
fn ffn_units(ffn_params: f64, h: f64) -> f64 {
    3.0 + 16.0 * ffn_params / (8.0 * h * h)
}

/// Where one inference layer's activations sit on one GPU.
#[derive(Clone, Copy, Debug)]
pub struct InferencePass {
    /// Tokens of the GPU's attention group (replicated or sequence-sharded across its TP).
    pub group_tokens: f64,
    /// Tensor-parallel degree inside the attention group.
    pub tp: u64,
    /// Token-expert assignments the GPU's routed experts process (MoE layer), each an expert
    /// slice of `1/expert_tp`.
    pub routed_assignments: f64,
    /// GPUs each routed expert is split over.
    pub expert_tp: u64,
    /// A routed-expert layer (otherwise the dense FFN).
    pub moe: bool,
    /// Norms and residuals sharded across the TP group.
    pub sequence_parallel: bool,
    /// A decode step: the attention side's split part is the model's decode width
    /// (`ModelCounts::attn_decode_split_units`: MLA's absorbed latents), not Korthikanti's 5.
    pub decode: bool,
}

/// One inference layer's activations on one GPU at `act_bytes` bytes a value: attention is fused,
/// so no scores are kept. The attention side and the dense or shared FFN follow the attention
/// group (`10` units replicated across its TP unless sequence-parallel, the rest split); the routed
/// experts' units follow the assignments the GPU's experts process. With `dp = 1, ep = 1` this is
/// `layer_bytes` exactly. The elementwise traffic of a forward step and the live activation
/// memory both use it.
pub fn inference_layer_bytes(m: &ModelCounts, p: InferencePass, act_bytes: f64) -> f64 {
    let h = m.d_model;
    let t = p.tp as f64;
    let attention_units = if p.decode {
        ATTENTION_SIDE_UNITS - ATTENTION_SPLIT_UNITS + m.attn_decode_split_units
    } else {
        ATTENTION_SIDE_UNITS
    };
    let (group_units, routed_units) = if p.moe {
        (
            attention_units + m.shared_experts * ffn_units(m.ffn_params_per_expert_per_layer, h),
            ffn_units(m.ffn_params_per_expert_per_layer, h),
        )
    } else {
        (
            attention_units + ffn_units(m.dense_ffn_params_per_layer, h),
            0.0,
        )
    };
    let group = if p.sequence_parallel {
        p.group_tokens * h / t * group_units
    } else {
        p.group_tokens * h * (REPLICATED_WITHOUT_SP + (group_units - REPLICATED_WITHOUT_SP) / t)
    };
    let routed = p.routed_assignments * h * routed_units / p.expert_tp.max(1) as f64;
    (group + routed) * act_bytes / 2.0
}
