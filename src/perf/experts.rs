//! The routed experts of one MoE layer on the busiest expert-parallel rank, as a fused-MoE kernel
//! runs them (docs/methodology.md §4.4): routing over the rank's token-expert assignments, then
//! two grouped GEMMs over the experts the step touches (up: `d → g·I`, `g` = 2 gated, 1 plain;
//! down: `I → d`, `I` the expert width over expert TP, padded to a 64-wide tile), then the
//! permute, activation and finalize traffic.
//!
//! Each grouped GEMM is a roofline: its FLOPs at the grouped-GEMM rate, and its touched experts'
//! weights plus its own activations at the fused kernel's bandwidth, overlapped as any GEMM.
//! The glue kernels move activations only. A fixed time per layer and a routing time per
//! assignment complete it. The rates and the two fixed terms are fitted per GPU and precision on
//! NVIDIA's measured fused-MoE layers (validation/kernels/moe_trtllm.csv; docs/calibration.md).

use super::context::{Context, Rates};
use super::moe::{busiest_rank_factor, distinct_experts};
use super::roofline::{Op, OpTime, roofline};

/// Width of the tile an expert's inner dimension is padded to per GPU (the tile the fused-MoE fit found best).
pub const INNER_TILE: f64 = 64.0;

/// What the busiest rank's experts process in one layer step.
#[derive(Clone, Copy, Debug)]
pub struct ExpertLoad {
    /// Tokens entering the layer across the stage.
    pub stage_tokens: f64,
    /// Token rows the rank's routing and finalize kernels handle (every stage token when the
    /// tokens are gathered or replicated; the assignments it receives under an all-to-all).
    pub rows: f64,
}

/// The routed experts' kernels on the busiest rank for one layer step: the two grouped GEMMs,
/// the glue kernels' traffic and the fixed time, apart (training prices the backward pass from
/// them: twice the GEMMs, the glue and fixed time again).
#[derive(Clone, Copy, Debug)]
pub struct ExpertKernels {
    /// Up projection (`d → g·I`).
    pub up: OpTime,
    /// Down projection (`I → d`).
    pub down: OpTime,
    /// Bytes the permute, activation and finalize kernels move.
    pub glue_bytes: f64,
    /// Their time at the fused kernel's bandwidth.
    pub glue_s: f64,
    /// Fixed time: the layer's and the routing per assignment.
    pub fixed_s: f64,
    /// The kernel's own fixed time per layer (within `fixed_s`), which a second stream overlaps.
    pub kernel_fixed_s: f64,
    /// Where the runtime takes the faster of two measured kernels (block-scaled fp8 on
    /// Blackwell): whether DeepGEMM's was faster than TRTLLM-gen's at this load.
    pub picked_deepgemm: Option<bool>,
    /// Distinct expert slots the stage touches.
    pub touched: f64,
    /// Where the kernel multiplies whole row tiles (`RowTile`): the tile and the rows multiplied.
    pub tiled: Option<TiledRows>,
}

/// The rows a tiling fused-MoE kernel multiplies on the busiest rank (`RowTile`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TiledRows {
    /// Tile height (`block_m`), rows.
    pub block_rows: f64,
    /// Rows the grouped GEMMs multiply: each touched expert's rows rounded up to whole tiles.
    pub multiplied_rows: f64,
    /// The token-expert assignments the rank receives (the real rows).
    pub assignments: f64,
}

impl ExpertKernels {
    /// The two grouped GEMMs, each with its own overlap.
    pub fn gemms_s(&self) -> f64 {
        self.up.time_s() + self.down.time_s()
    }

    /// The whole step as one operator: the GEMMs' sum on each side (so `bound` tells which
    /// dominates), the glue and fixed terms beside them.
    pub fn op(&self) -> OpTime {
        let (up, down) = (self.up, self.down);
        let gemms_s = self.gemms_s();
        let compute_bound = up.compute_s + down.compute_s > up.memory_s + down.memory_s;
        OpTime {
            op: Op {
                flops: up.op.flops + down.op.flops,
                bytes: up.op.bytes + down.op.bytes + self.glue_bytes,
            },
            compute_s: if compute_bound { gemms_s } else { 0.0 },
            memory_s: if compute_bound {
                self.glue_s
            } else {
                gemms_s + self.glue_s
            },
            overlap: 0.0,
            fixed_s: self.fixed_s,
        }
    }
}

/// The routed experts' kernels on the busiest rank (`ExpertKernels`).
pub fn expert_kernels(ctx: &Context, r: &Rates, load: ExpertLoad) -> ExpertKernels {
    let m = &ctx.model;
    let t = load.stage_tokens;
    let slots = r.expert_slots;
    let ep = r.ep as f64;
    // Past `all_slots_tokens` every slot is touched exactly: no `powf`.
    let touched = if t > r.all_slots_tokens {
        slots
    } else {
        distinct_experts(slots, m.top_k, t)
    };
    let imbalance = busiest_rank_factor(slots, m.top_k, t, r.ep);
    let k = expert_kernels_at(
        ctx,
        r,
        touched / ep,
        t * m.top_k * imbalance / ep,
        load.rows,
    );
    ExpertKernels { touched, ..k }
}

/// The kernels of one rank that holds `touched_local` distinct experts with work and receives
/// `assignments` token-expert pairs, over `rows` token rows (`expert_kernels` with the routing
/// given instead of drawn; the calibration tests replay a measured run's routing through it).
/// `touched` is left at `touched_local`. Where the GPU has two measured kernels for the experts'
/// precision and the runtime takes the faster (`Context::fused_moe_candidates`), the faster at
/// this load.
pub fn expert_kernels_at(
    ctx: &Context,
    r: &Rates,
    touched_local: f64,
    assignments: f64,
    rows: f64,
) -> ExpertKernels {
    let (first, second) = ctx.fused_moe_candidates(r);
    let a = kernels_on(ctx, r, first, touched_local, assignments, rows);
    match second {
        Some(kernel) => {
            let b = kernels_on(ctx, r, kernel, touched_local, assignments, rows);
            let deepgemm = b.op().time_s() < a.op().time_s();
            ExpertKernels {
                picked_deepgemm: Some(deepgemm),
                ..if deepgemm { b } else { a }
            }
        }
        None => a,
    }
}

/// `expert_kernels_at` on one fused-MoE kernel.
fn kernels_on(
    ctx: &Context,
    r: &Rates,
    kernel: crate::hardware::MoeKernel,
    touched_local: f64,
    assignments: f64,
    rows: f64,
) -> ExpertKernels {
    let m = &ctx.model;
    let hw = &ctx.hw;
    let d = m.d_model;
    let g = m.ffn_up_matrices;
    let inner = (m.ffn_dim / r.expert_tp as f64 / INNER_TILE).ceil() * INNER_TILE;
    let (w, a) = (r.weight_bytes, r.dispatch_bytes);
    // Outputs and intermediates stay in 16 bits.
    let out = 2.0;
    let peak = r.peak_flops_per_s * kernel.compute;
    let bw = kernel.mem_bytes_per_s;
    let gemm = |flops: f64, bytes: f64| roofline(Op { flops, bytes }, peak, bw, hw.overlap);
    // The rows the GEMMs multiply: each touched expert's in whole tiles where the kernel pads.
    let tiled = match kernel.row_tile {
        Some(tile) if touched_local > 0.0 => {
            let block = tile.block_rows(rows, m.top_k, r.expert_slots / r.ep as f64);
            Some(TiledRows {
                block_rows: block,
                multiplied_rows: touched_local
                    * (assignments / touched_local / block).ceil()
                    * block,
                assignments,
            })
        }
        _ => None,
    };
    let mma_rows = tiled.map_or(assignments, |t| t.multiplied_rows);
    let up = gemm(
        2.0 * mma_rows * d * g * inner,
        touched_local * g * inner * d * w + assignments * d * a + assignments * g * inner * out,
    );
    let down = gemm(
        2.0 * mma_rows * inner * d,
        touched_local * inner * d * w + assignments * inner * a + assignments * d * out,
    );
    // Permute (read, write quantized), activation (read g·I, write I), finalize (read the
    // expert outputs, write a row per token).
    let glue_bytes = assignments * d * (out + a)
        + assignments * inner * (g * out + a)
        + assignments * d * out
        + rows * d * out;
    ExpertKernels {
        up,
        down,
        glue_bytes,
        glue_s: glue_bytes / bw,
        fixed_s: kernel.fixed_s + kernel.routing_s * rows * m.top_k,
        kernel_fixed_s: kernel.fixed_s,
        picked_deepgemm: None,
        touched: touched_local,
        tiled,
    }
}

/// The routed experts' step on the busiest rank, and the distinct expert slots the stage touches.
pub fn routed_experts(ctx: &Context, r: &Rates, load: ExpertLoad) -> (OpTime, f64) {
    let k = expert_kernels(ctx, r, load);
    (k.op(), k.touched)
}
