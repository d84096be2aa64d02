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

/// One inference layer's activations for `tokens` tokens at `act_bytes` bytes a value: attention
/// is fused, so no scores are kept, and `layer_bytes`' 16-bit count is rescaled. The elementwise
/// traffic of a forward step and the live activation memory both use it.
pub fn inference_layer_bytes(m: &ModelCounts, tokens: f64, r: &super::Rates, moe: bool) -> f64 {
    let pass = LayerPass {
        tokens,
        tp: r.tp,
        seq_len: 0.0,
        moe,
        sequence_parallel: r.sequence_parallel,
        keep_scores: false,
    };
    layer_bytes(m, pass) * r.act_bytes / 2.0
}
