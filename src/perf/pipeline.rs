//! Pipeline layout: which layers each of `pp` stages holds, and one step through every stage.
//! Layers are split as evenly as integers allow, the extra layers going to the first stages
//! because the last stage also holds the output head; MoE models' leading dense layers are the
//! first layers (docs/methodology.md §7).

use super::Context;
use super::comm::p2p_s;
use super::context::Rates;
use super::layer::{LayerStep, StepShape, head_step, layer_step};
use super::roofline::OpTime;

/// The layers one stage holds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stage {
    /// Leading dense layers in this stage.
    pub dense_layers: f64,
    /// MoE (or, for a dense model, ordinary) layers in this stage.
    pub moe_layers: f64,
    /// Holds the input embedding.
    pub first: bool,
    /// Holds the output head.
    pub last: bool,
}

/// Stage `s` of `pp` for a model of `layers` layers whose first `dense_layers` are dense.
pub fn stage(layers: u64, dense_layers: u64, pp: u64, s: u64) -> Stage {
    let base = layers / pp;
    let rem = layers % pp;
    let start = s * base + s.min(rem);
    let count = base + u64::from(s < rem);
    let end = start + count;
    let dense = dense_layers.min(end).saturating_sub(start);
    Stage {
        dense_layers: dense as f64,
        moe_layers: (count - dense) as f64,
        first: s == 0,
        last: s + 1 == pp,
    }
}

/// One step through every stage of the pipeline.
#[derive(Clone, Copy, Debug, Default)]
pub struct Pass {
    /// One MoE (or, for a dense model, ordinary) layer.
    pub layer: LayerStep,
    /// One leading dense layer of an MoE model.
    pub dense: LayerStep,
    /// The output head on the last stage.
    pub head: OpTime,
    /// One hand-off between stages.
    pub hop_s: f64,
    /// Σ over stages.
    pub sum_s: f64,
    /// The slowest stage.
    pub max_s: f64,
    /// Σ over stages of the HBM bytes one GPU moves.
    pub bytes: f64,
}

/// A step of `shape` through the `pp` stages of a replica with rates `r`: the head scores
/// `head_tokens` tokens and each hand-off carries `shape.tokens` activations (split over TP).
pub fn pass(ctx: &Context, r: &Rates, pp: u64, shape: StepShape, head_tokens: f64) -> Pass {
    let moe_model = ctx.dense_layers != ctx.layers;
    let layer = layer_step(ctx, r, shape, moe_model);
    // A dense model's layers are all `layer`; an MoE model without leading dense layers has none.
    let dense = match (moe_model, ctx.dense_layers) {
        (false, _) => layer,
        (true, 0) => LayerStep::default(),
        (true, _) => layer_step(ctx, r, shape, false),
    };
    let head = head_step(ctx, r, head_tokens);
    let hop_s = p2p_s(
        shape.tokens * ctx.model.d_model * r.act_bytes / r.tp as f64,
        r.pp_link,
    );
    let (mut sum_s, mut max_s, mut bytes) = (0.0, 0.0_f64, 0.0);
    let (lt, dt, ht) = (layer.time_s(), dense.time_s(), head.time_s());
    for s in 0..pp {
        let st = stage(ctx.layers, ctx.dense_layers, pp, s);
        let mut t = st.moe_layers * lt + st.dense_layers * dt;
        let mut b = st.moe_layers * layer.bytes() + st.dense_layers * dense.bytes();
        if st.last {
            t += ht;
            b += head.op.bytes;
        }
        sum_s += t;
        max_s = max_s.max(t);
        bytes += b;
    }
    Pass {
        layer,
        dense,
        head,
        hop_s,
        sum_s,
        max_s,
        bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_cover_every_layer_once() {
        for (layers, dense, pp) in [(120, 0, 16), (61, 3, 8), (32, 0, 1), (61, 3, 61), (7, 7, 3)] {
            let (mut d, mut m) = (0.0, 0.0);
            for s in 0..pp {
                let st = stage(layers, dense, pp, s);
                d += st.dense_layers;
                m += st.moe_layers;
            }
            assert!((d - dense as f64).abs() < 1e-9 && (d + m - layers as f64).abs() < 1e-9);
        }
        crate::testutil::assert_close(stage(120, 0, 16, 0).moe_layers, 8.0, 0.0);
        crate::testutil::assert_close(stage(120, 0, 16, 15).moe_layers, 7.0, 0.0);
    }
}
