//! Pipeline layout: which layers each of `pp` stages holds, and one step through every stage.
//! Layers are split as evenly as integers allow, the extra layers going to the first stages
//! because the last stage also holds the output head; MoE models' leading dense layers are the
//! first layers (docs/methodology.md §7).

use super::Context;
use super::comm::p2p_s;
use super::context::Rates;
use super::layer::{LayerMemo, LayerStep, StepShape, head_step, layer_step, layer_step_memo};
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

/// The most runs `StageRuns` holds.
const MAX_RUNS: usize = 6;

/// The `pp` stages in order as runs of identical stages: `(stage, stages in the run)`. A run
/// ends only where a stage can differ from the one before it (after the first stage, where the
/// stages of `base + 1` layers end, around the stage where the dense layers end, before the last
/// stage), so there are at most six runs whatever `pp`: a sum over the stages costs one addition
/// per stage and everything else once per run. `Context` holds them for every valid `pp`.
#[derive(Clone, Copy, Debug)]
pub struct StageRuns {
    runs: [(Stage, u64); MAX_RUNS],
    len: usize,
}

impl StageRuns {
    /// The runs of `pp` stages for a model of `layers` layers whose first `dense_layers` are
    /// dense (`stage` for each stage, grouped).
    pub fn new(layers: u64, dense_layers: u64, pp: u64) -> Self {
        let mut runs = StageRuns {
            runs: [(Stage::default(), 0); MAX_RUNS],
            len: 0,
        };
        if pp == 0 {
            return runs;
        }
        let (base, rem) = (layers / pp, layers % pp);
        // Stages holding only dense layers: the first `rem` stages hold `base + 1` layers, the
        // others `base`.
        let wide = rem * (base + 1);
        let dense_stages = if dense_layers < wide {
            dense_layers / (base + 1)
        } else {
            rem + (dense_layers - wide) / base.max(1)
        };
        let breaks = [1, rem, dense_stages, dense_stages + 1, pp - 1];
        let mut s = 0;
        while s < pp {
            let end = breaks
                .iter()
                .fold(pp, |e, &b| if b > s { e.min(b) } else { e });
            runs.runs[runs.len] = (stage(layers, dense_layers, pp, s), end - s);
            runs.len += 1;
            s = end;
        }
        runs
    }

    /// The runs, first stage first.
    pub fn as_slice(&self) -> &[(Stage, u64)] {
        &self.runs[..self.len]
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
    let mut p = Pass::default();
    pass_with(ctx, pp, shape, head_tokens, r, &mut p, |moe, out| {
        *out = layer_step(ctx, r, shape, moe)
    });
    p
}

/// `pass` into `p` (every field written).
pub fn pass_into(
    ctx: &Context,
    r: &Rates,
    pp: u64,
    shape: StepShape,
    head_tokens: f64,
    p: &mut Pass,
) {
    pass_with(ctx, pp, shape, head_tokens, r, p, |moe, out| {
        *out = layer_step(ctx, r, shape, moe)
    });
}

/// `pass` into `p` (every field written), with the layer steps' parts that do not depend on the
/// context kept in `memo`.
pub fn pass_memo_into(
    ctx: &Context,
    r: &Rates,
    pp: u64,
    shape: StepShape,
    head_tokens: f64,
    memo: &mut LayerMemo,
    p: &mut Pass,
) {
    pass_with(ctx, pp, shape, head_tokens, r, p, |moe, out| {
        layer_step_memo(ctx, r, shape, moe, memo, out)
    });
}

/// A pass into `p` (every field written) whose layer steps `step(moe, out)` writes
/// (monomorphised for each way of pricing them).
fn pass_with(
    ctx: &Context,
    pp: u64,
    shape: StepShape,
    head_tokens: f64,
    r: &Rates,
    p: &mut Pass,
    mut step: impl FnMut(bool, &mut LayerStep),
) {
    let moe_model = ctx.dense_layers != ctx.layers;
    // Filled in place, field by field: a layer step is a few hundred bytes, and built in a
    // local and moved in (or with `..Default::default()`), it is copied field by field.
    (p.sum_s, p.max_s, p.bytes) = (0.0, 0.0, 0.0);
    step(moe_model, &mut p.layer);
    // A dense model's layers are all `layer`; an MoE model without leading dense layers has none.
    let (dt, db) = if !moe_model {
        p.dense = p.layer;
        (p.dense.time_s(), p.dense.bytes())
    } else if ctx.dense_layers > 0 {
        step(false, &mut p.dense);
        (p.dense.time_s(), p.dense.bytes())
    } else {
        p.dense = LayerStep::default();
        (0.0, 0.0)
    };
    p.head = head_step(ctx, r, head_tokens);
    p.hop_s = p2p_s(
        shape.tokens * ctx.model.d_model * r.act_bytes / r.tp as f64,
        r.pp_link,
    );
    let (lt, ht) = (p.layer.time_s(), p.head.time_s());
    let (lb, hb) = (p.layer.bytes(), p.head.op.bytes);
    for &(st, n) in ctx.stage_runs(pp).as_slice() {
        let mut t = st.moe_layers * lt + st.dense_layers * dt;
        let mut b = st.moe_layers * lb + st.dense_layers * db;
        if st.last {
            t += ht;
            b += hb;
        }
        p.max_s = p.max_s.max(t);
        // Stage by stage, in order, as the sums always ran.
        for _ in 0..n {
            p.sum_s += t;
            p.bytes += b;
        }
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

    #[test]
    fn stage_runs_list_every_stage_in_order() {
        for layers in 1..=130 {
            for pp in 1..=layers.min(70) {
                for dense in [0, 1, 2, 3, 5, 7, layers / 2, layers - 1, layers] {
                    let dense = dense.min(layers);
                    let mut s = 0;
                    for &(st, n) in StageRuns::new(layers, dense, pp).as_slice() {
                        assert!(n >= 1);
                        for _ in 0..n {
                            assert_eq!(
                                st,
                                stage(layers, dense, pp, s),
                                "{layers} {dense} {pp} {s}"
                            );
                            s += 1;
                        }
                    }
                    assert_eq!(s, pp, "{layers} {dense} {pp}");
                }
            }
        }
    }

    #[test]
    fn the_context_gives_the_runs_of_every_depth_in_and_beyond_its_table() {
        use crate::presets::{Override, load_gpu, load_model};
        let set: Vec<Override> = ["model.layers=700", "model.dense_layers=3"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let m = load_model("deepseek-v3", &set).unwrap();
        let g = load_gpu("h100", &[]).unwrap();
        let ctx = Context::new(&m.model, &g.gpu, 2048);
        for pp in [1, 2, 3, 61, 511, 512, 513, 699, 700] {
            let mut s = 0;
            for &(st, n) in ctx.stage_runs(pp).as_slice() {
                for _ in 0..n {
                    assert_eq!(st, stage(700, 3, pp, s), "pp {pp}, stage {s}");
                    s += 1;
                }
            }
            assert_eq!(s, pp);
        }
    }
}
