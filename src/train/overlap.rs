//! Megatron-Core's expert-parallel all-to-all overlap (`--overlap-moe-expert-parallel-comm`,
//! docs/methodology.md §16.1): the combined 1F1B schedule that runs one micro-batch's forward
//! pass through a layer beside another micro-batch's backward pass through a layer, the
//! all-to-alls on a communication stream and the compute on a compute stream.
//!
//! Megatron-LM `megatron/core/models/common/model_chunk_schedule_plan.py`
//! (`TransformerLayerSchedulePlan.run`) orders one merged layer so:
//!
//! ```text
//! comm stream:    combine_bwd      | dispatch_fwd → dispatch_bwd      | combine_fwd
//! compute stream: pre_dispatch_fwd | mlp_bwd → mlp_bwd_dw → mlp_fwd   | pre_dispatch_bwd → its dw
//! ```
//!
//! with the data dependencies of the two passes: the experts' backward needs the backward
//! combine, the forward dispatch the attention side's forward, the backward dispatch the experts'
//! data gradients (and their weight gradients too unless `--delay-wgrad-compute` splits them
//! off), the experts' forward the forward dispatch, the forward combine the experts' forward, the
//! attention side's backward the backward dispatch. A merged layer's backward input is the
//! previous merged layer's attention-side data gradient, its forward input the previous forward
//! combine. An all-to-all hides where the other stream has independent work; where it has none,
//! the layer waits. While a communication kernel runs, the compute beside it loses the SMs it
//! holds (`OVERLAP_COMPUTE_SLOWDOWN`).

/// One layer's work for one micro-batch in each pass, seconds, the all-to-all time per
/// all-to-all (a layer runs four: dispatch and combine, forward and backward).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LayerPhases {
    /// Attention side forward: norms, projections, attention, router, shared experts, permute
    /// (Megatron's `pre_dispatch_computation`).
    pub attn_fwd_s: f64,
    /// Attention side backward, data gradients (and everything but the weight gradients).
    pub attn_dgrad_s: f64,
    /// Attention side backward, weight gradients (delayed to the end of the merged layer).
    pub attn_wgrad_s: f64,
    /// Routed experts forward.
    pub mlp_fwd_s: f64,
    /// Routed experts backward, data gradients and the rest but the weight gradients.
    pub mlp_dgrad_s: f64,
    /// Routed experts backward, weight gradients.
    pub mlp_wgrad_s: f64,
    /// One all-to-all.
    pub a2a_s: f64,
}

impl LayerPhases {
    /// The compute of one layer, both passes, seconds.
    pub fn compute_s(&self) -> f64 {
        self.attn_fwd_s
            + self.attn_dgrad_s
            + self.attn_wgrad_s
            + self.mlp_fwd_s
            + self.mlp_dgrad_s
            + self.mlp_wgrad_s
    }
}

/// The two streams: compute and communication.
const COMP: usize = 0;
const COMM: usize = 1;

// Task indices within a merged layer.
const AF: usize = 0; // pre_dispatch forward
const MD: usize = 1; // mlp backward (data gradients)
const MW: usize = 2; // mlp backward weight gradients
const MF: usize = 3; // mlp forward
const AD: usize = 4; // pre_dispatch backward
const AW: usize = 5; // pre_dispatch backward weight gradients
const CB: usize = 6; // combine backward
const DF: usize = 7; // dispatch forward
const DB: usize = 8; // dispatch backward
const CF: usize = 9; // combine forward
const TASKS: usize = 10;

/// Stream order of the tasks of a merged layer: compute, communication.
const ORDER: [&[usize]; 2] = [&[AF, MD, MW, MF, AD, AW], &[CB, DF, DB, CF]];

/// Merged layers a run simulates back to back to reach the steady state.
const RUN_LAYERS: usize = 5;

/// When each of `RUN_LAYERS` merged layers run back to back ends (its last task on either
/// stream), seconds: an event-driven run of the two streams in which compute progresses at
/// `1/(1 + slowdown)` of its rate while an all-to-all runs.
fn layer_ends_s(p: &LayerPhases, delay_wgrad: bool, slowdown: f64) -> [f64; RUN_LAYERS] {
    let layers = RUN_LAYERS;
    // Without `--delay-wgrad-compute` the experts' weight gradients are part of their backward
    // node: the backward dispatch waits for them too.
    let (md, mw) = if delay_wgrad {
        (p.mlp_dgrad_s, p.mlp_wgrad_s)
    } else {
        (p.mlp_dgrad_s + p.mlp_wgrad_s, 0.0)
    };
    let mut work = [0.0; TASKS];
    work[AF] = p.attn_fwd_s;
    work[MD] = md;
    work[MW] = mw;
    work[MF] = p.mlp_fwd_s;
    work[AD] = p.attn_dgrad_s;
    work[AW] = p.attn_wgrad_s;
    work[CB] = p.a2a_s;
    work[DF] = p.a2a_s;
    work[DB] = p.a2a_s;
    work[CF] = p.a2a_s;
    let total = layers * TASKS;
    let mut done_at = vec![f64::NAN; total];
    let mut left: Vec<f64> = (0..total).map(|i| work[i % TASKS]).collect();
    // The task a task waits for beside its stream predecessor (an index into the whole run).
    let dep = |i: usize| -> Option<usize> {
        let (layer, task) = (i / TASKS, i % TASKS);
        let at = |t: usize| Some(layer * TASKS + t);
        let prev = |t: usize| layer.checked_sub(1).map(|l| l * TASKS + t);
        match task {
            AF => prev(CF),
            CB => prev(AD),
            MD => at(CB),
            DF => at(AF),
            DB => at(if delay_wgrad { MD } else { MW }),
            MF => at(DF),
            CF => at(MF),
            AD => at(DB),
            _ => None,
        }
    };
    let order: [Vec<usize>; 2] = [COMP, COMM].map(|s| {
        (0..layers)
            .flat_map(|l| ORDER[s].iter().map(move |&t| l * TASKS + t))
            .collect()
    });
    let mut head = [0usize; 2];
    let mut now = 0.0_f64;
    loop {
        // The task each stream would run now, if its dependencies are done.
        let mut running = [None; 2];
        for s in [COMP, COMM] {
            // Zero-length tasks finish the moment they may start.
            while let Some(&i) = order[s].get(head[s]) {
                let ready = dep(i).is_none_or(|d| !done_at[d].is_nan());
                if !ready {
                    break;
                }
                if left[i] <= 0.0 {
                    done_at[i] = now;
                    head[s] += 1;
                    continue;
                }
                running[s] = Some(i);
                break;
            }
        }
        if running.iter().all(Option::is_none) {
            break;
        }
        let comp_rate = if running[COMM].is_some() {
            1.0 / (1.0 + slowdown)
        } else {
            1.0
        };
        let rate = [comp_rate, 1.0];
        let step = [COMP, COMM]
            .iter()
            .filter_map(|&s| running[s].map(|i| left[i] / rate[s]))
            .fold(f64::INFINITY, f64::min);
        now += step;
        for s in [COMP, COMM] {
            if let Some(i) = running[s] {
                // The task that set the step ends exactly; the other one runs on.
                let ends = left[i] / rate[s] <= step * (1.0 + 1e-12);
                left[i] -= step * rate[s];
                if ends {
                    left[i] = 0.0;
                    done_at[i] = now;
                    head[s] += 1;
                }
            }
        }
    }
    std::array::from_fn(|l| done_at[l * TASKS + AW].max(done_at[l * TASKS + CF]))
}

/// All-to-all time that shows in one layer and micro-batch under the combined 1F1B schedule,
/// seconds: the steady-state time of a merged layer (in a run of merged layers back to back)
/// less its compute, between 0 and the four all-to-alls.
/// Not a number when a time is not a finite non-negative number (the estimate then reports it),
/// so the run always ends: each of its steps finishes a task.
pub fn exposed_all_to_all_s(p: &LayerPhases, delay_wgrad: bool, slowdown: f64) -> f64 {
    let inputs = [
        p.attn_fwd_s,
        p.attn_dgrad_s,
        p.attn_wgrad_s,
        p.mlp_fwd_s,
        p.mlp_dgrad_s,
        p.mlp_wgrad_s,
        p.a2a_s,
        slowdown,
    ];
    if inputs.iter().any(|v| !v.is_finite() || *v < 0.0) {
        return f64::NAN;
    }
    if p.a2a_s == 0.0 {
        return 0.0;
    }
    // The period between the second merged layer's end and the last but one's: the first starts
    // with idle streams, and the last has no successor whose all-to-alls slow its compute.
    let ends = layer_ends_s(p, delay_wgrad, slowdown);
    let per_layer = (ends[RUN_LAYERS - 2] - ends[1]) / (RUN_LAYERS - 3) as f64;
    (per_layer - p.compute_s()).clamp(0.0, 4.0 * p.a2a_s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::assert_close;

    fn phases(attn: f64, mlp: f64, a2a: f64) -> LayerPhases {
        // Forward 1, data gradients 1, weight gradients 1 (a backward twice the forward).
        LayerPhases {
            attn_fwd_s: attn,
            attn_dgrad_s: attn,
            attn_wgrad_s: attn,
            mlp_fwd_s: mlp,
            mlp_dgrad_s: mlp,
            mlp_wgrad_s: mlp,
            a2a_s: a2a,
        }
    }

    #[test]
    fn without_communication_nothing_shows() {
        assert_close(
            exposed_all_to_all_s(&phases(1e-3, 2e-3, 0.0), true, 0.2),
            0.0,
            0.0,
        );
    }

    #[test]
    fn all_to_alls_shorter_than_every_paired_compute_cost_only_the_slowdown() {
        // Each all-to-all (0.5 ms) runs beside at least 1 ms of independent compute, so all four
        // hide; the compute beside them loses a fifth of its rate for 4 × 0.5 ms, 2/1.2 ms of its
        // work done there, so the layer lasts its compute plus 2 − 2/1.2 = 1/3 ms.
        let p = phases(1e-3, 2e-3, 0.5e-3);
        assert_close(exposed_all_to_all_s(&p, true, 0.2), 2e-3 - 2e-3 / 1.2, 1e-9);
        // Without the slowdown, nothing shows.
        assert_close(exposed_all_to_all_s(&p, true, 0.0), 0.0, 1e-9);
    }

    #[test]
    fn an_all_to_all_longer_than_the_compute_beside_it_shows_the_difference() {
        // Attention side 0.2 ms a phase, experts 2 ms, all-to-alls 1 ms, no slowdown. In steady
        // state a merged layer runs: forward attention 0–0.2 beside the backward combine 0–1
        // (the stream's previous forward combine has ended at 0); the experts' data gradients
        // wait for it, 1–3, beside the forward dispatch 1–2; their weight gradients 3–5 beside
        // the backward dispatch 3–4; the experts' forward 5–7; the forward combine 7–8 beside
        // the attention backward 7–7.4; the next layer starts at 8. 8 ms for 6.6 of compute:
        // 1.4 ms show.
        let p = phases(0.2e-3, 2e-3, 1e-3);
        assert_close(exposed_all_to_all_s(&p, true, 0.0), 1.4e-3, 1e-9);
        // With 1 ms a phase on the attention side, every all-to-all has as much beside it.
        let q = phases(1e-3, 2e-3, 1e-3);
        assert_close(exposed_all_to_all_s(&q, true, 0.0), 0.0, 1e-9);
    }

    #[test]
    fn delaying_the_weight_gradients_lets_the_backward_dispatch_start_sooner() {
        // The backward dispatch runs beside the experts' weight gradients only when they are
        // delayed; otherwise it waits for them and only the experts' forward is beside it.
        let p = LayerPhases {
            attn_fwd_s: 2e-3,
            attn_dgrad_s: 2e-3,
            attn_wgrad_s: 2e-3,
            mlp_fwd_s: 0.2e-3,
            mlp_dgrad_s: 2e-3,
            mlp_wgrad_s: 2e-3,
            a2a_s: 1e-3,
        };
        let delayed = exposed_all_to_all_s(&p, true, 0.0);
        let fused = exposed_all_to_all_s(&p, false, 0.0);
        assert!(fused > delayed + 0.5e-3, "{delayed} {fused}");
    }

    #[test]
    fn never_more_than_the_four_all_to_alls_show() {
        // No compute at all: the layer is its four all-to-alls.
        let p = phases(0.0, 0.0, 1e-3);
        assert_close(exposed_all_to_all_s(&p, true, 0.2), 4e-3, 1e-9);
    }

    #[test]
    fn more_compute_never_shows_more_and_the_shown_stays_within_the_all_to_alls() {
        // Over a grid of attention, expert and all-to-all times, both weight-gradient modes and
        // slowdowns: 0 ≤ shown ≤ 4 all-to-alls, and doubling every compute phase never shows
        // more of them.
        let ms = [0.05e-3, 0.3e-3, 1e-3, 3e-3];
        for &attn in &ms {
            for &mlp in &ms {
                for &a2a in &ms {
                    for delay in [true, false] {
                        for slowdown in [0.0, 0.2] {
                            let p = phases(attn, mlp, a2a);
                            let shown = exposed_all_to_all_s(&p, delay, slowdown);
                            assert!(
                                (-1e-12..=4.0 * a2a + 1e-12).contains(&shown),
                                "{attn} {mlp} {a2a} {delay} {slowdown}: {shown}"
                            );
                            let more = exposed_all_to_all_s(
                                &phases(2.0 * attn, 2.0 * mlp, a2a),
                                delay,
                                slowdown,
                            );
                            assert!(
                                more <= shown + 1e-12,
                                "{attn} {mlp} {a2a} {delay} {slowdown}: {shown} -> {more}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_time_that_is_not_a_number_gives_not_a_number_and_never_hangs() {
        for bad in [f64::NAN, f64::INFINITY, -1e-3] {
            let mut p = phases(1e-3, 2e-3, 1e-3);
            p.mlp_fwd_s = bad;
            assert!(exposed_all_to_all_s(&p, true, 0.2).is_nan(), "{bad}");
            let q = phases(1e-3, 2e-3, bad);
            assert!(exposed_all_to_all_s(&q, true, 0.2).is_nan(), "{bad}");
        }
        assert!(exposed_all_to_all_s(&phases(1e-3, 2e-3, 1e-3), true, f64::NAN).is_nan());
    }
}
