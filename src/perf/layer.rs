//! One forward step of one transformer layer on the critical-path GPU of a stage: the attention
//! of the GPU's attention group (projections, scores over the KV cache), the FFN or the MoE
//! experts, the tensor-parallel all-reduces, the MoE token exchange, the elementwise traffic and
//! the fixed per-layer overhead (docs/methodology.md §4, §6.2).

use super::activations::{self, InferencePass};
use super::comm::{all_to_all_s, serving_tp_all_reduce_s, tp_all_reduce_s};
use super::config::{MoeDispatch, MoeOverlap};
use super::context::Rates;
use super::dispatch;
use super::experts::{ExpertLoad, expert_kernels};
use super::moe::busiest_rank_factor;
use super::roofline::{Bound, Op, OpTime, roofline};
use super::{Context, KvSharding};

/// What a step processes in one layer.
#[derive(Clone, Copy, Debug)]
pub struct StepShape {
    /// Tokens through the attention group's GEMMs (decode: sequences in the group's micro-batch;
    /// prefill: chunk tokens).
    pub tokens: f64,
    /// Tokens entering the MoE layer across the stage: the group's tokens times the attention
    /// groups that step together (every group in decode; one in a lone prefill).
    pub moe_tokens: f64,
    /// KV-cache tokens read (decode: Σ context over the sequences; prefill: the prior context once).
    pub kv_tokens_read: f64,
    /// Query-key pairs scored (decode: tokens × context; prefill chunk: tokens × mean causal context).
    pub attn_pairs: f64,
    /// Sequences in the step (decode: the micro-batch; prefill: one prompt's chunk).
    pub sequences: f64,
    /// A decode step (its attention may be sharded by sequence); otherwise a prefill chunk.
    pub decode: bool,
    /// Share of such decode steps the runtime replays from a CUDA graph, the steps in which it
    /// runs the shared experts beside the routed ones (1 when no prompt joins a decode step;
    /// unused in prefill).
    pub graph_share: f64,
}

impl StepShape {
    /// The same step on half the tokens and sequences (one half of a two-batch overlap).
    fn halved(self) -> Self {
        StepShape {
            tokens: self.tokens / 2.0,
            moe_tokens: self.moe_tokens / 2.0,
            kv_tokens_read: self.kv_tokens_read / 2.0,
            attn_pairs: self.attn_pairs / 2.0,
            sequences: self.sequences / 2.0,
            decode: self.decode,
            graph_share: self.graph_share,
        }
    }
}

/// The cost of one layer step on the critical-path GPU.
#[derive(Clone, Copy, Debug, Default)]
pub struct LayerStep {
    /// QKV and output projections.
    pub attn_proj: OpTime,
    /// Attention scores and weighted sum over the KV cache.
    pub attn_core: OpTime,
    /// Dense FFN (dense layer), or the shared experts and the router (MoE layer).
    pub ffn: OpTime,
    /// Routed experts on the busiest expert-parallel rank (MoE layer; zero otherwise).
    pub experts: OpTime,
    /// Norms, activation functions and residual adds: memory traffic of the layer's activations.
    pub elementwise: OpTime,
    /// Tensor-parallel all-reduces of the attention group; with sequence parallelism each is a
    /// reduce-scatter + all-gather pair (the same bytes, twice the start-ups).
    pub all_reduce_s: f64,
    /// How many tensor-parallel reductions `all_reduce_s` holds.
    pub all_reduces: f64,
    /// Two all-to-alls between the head and sequence layouts of the attention (KV sharded by
    /// sequence, decode only).
    pub kv_all_to_all_s: f64,
    /// MoE token dispatch to the expert-parallel ranks (attention data-parallel layouts).
    pub dispatch_s: f64,
    /// MoE combine of the experts' outputs back to their tokens.
    pub combine_s: f64,
    /// Fixed per-layer overhead.
    pub overhead_s: f64,
    /// Time hidden by overlapping the token exchange with compute (two-batch overlap).
    pub hidden_s: f64,
    /// Time the shared experts hide by running beside the router and routed experts (a second
    /// stream; `concurrent_hidden_s`), in the share of decode steps replayed from a CUDA graph.
    pub stream_hidden_s: f64,
    /// Expected distinct routed experts read across the stage (1 for a dense layer).
    pub experts_read: f64,
    /// The skewed-routing factor `experts` carries: the busiest expert-parallel rank's measured
    /// time over its balanced time (`Hardware::routing_skew`; 1 when none applies).
    pub experts_skew: f64,
    /// Which of two measured fused-MoE kernels ran the experts, where the runtime takes the
    /// faster (`ExpertKernels::picked_deepgemm`).
    pub picked_deepgemm: Option<bool>,
    /// Where the experts' kernel multiplies whole row tiles: the tile and the rows
    /// (`ExpertKernels::tiled`).
    pub experts_tiled: Option<super::experts::TiledRows>,
}

impl LayerStep {
    /// Wall time of the step: operators, communication and overhead in sequence, less what
    /// overlap hides.
    pub fn time_s(&self) -> f64 {
        self.compute_s() + self.comm_s() - self.hidden_s - self.stream_hidden_s
    }
    /// Operators and the fixed overhead.
    fn compute_s(&self) -> f64 {
        self.ops().iter().map(OpTime::time_s).sum::<f64>() + self.overhead_s
    }
    /// Communication.
    fn comm_s(&self) -> f64 {
        self.all_reduce_s + self.kv_all_to_all_s + self.dispatch_s + self.combine_s
    }
    fn ops(&self) -> [OpTime; 5] {
        [
            self.attn_proj,
            self.attn_core,
            self.ffn,
            self.experts,
            self.elementwise,
        ]
    }
    /// HBM bytes moved.
    pub fn bytes(&self) -> f64 {
        self.ops().iter().map(|o| o.op.bytes).sum()
    }
    /// FLOPs performed.
    pub fn flops(&self) -> f64 {
        self.ops().iter().map(|o| o.op.flops).sum()
    }
    /// Time of the operators limited by memory, by compute, and spent communicating (what
    /// overlap hides comes off the communication).
    pub fn split_s(&self) -> (f64, f64, f64) {
        let (mut mem, mut comp) = (0.0, 0.0);
        for op in self.ops() {
            match op.bound() {
                Bound::Memory => mem += op.time_s(),
                Bound::Compute => comp += op.time_s(),
            }
        }
        // What the second stream hides comes off the shared experts' side.
        match self.ffn.bound() {
            Bound::Memory => mem -= self.stream_hidden_s,
            Bound::Compute => comp -= self.stream_hidden_s,
        }
        (mem, comp, self.comm_s() - self.hidden_s)
    }
    /// Twice this step (the two halves of a two-batch overlap), with the exchange hidden under
    /// the other half's compute as far as it can be.
    fn two_halves(self) -> Self {
        let twice = |o: OpTime| OpTime {
            op: super::roofline::Op {
                flops: 2.0 * o.op.flops,
                bytes: 2.0 * o.op.bytes,
            },
            compute_s: 2.0 * o.compute_s,
            memory_s: 2.0 * o.memory_s,
            fixed_s: 2.0 * o.fixed_s,
            ..o
        };
        let mut s = LayerStep {
            attn_proj: twice(self.attn_proj),
            attn_core: twice(self.attn_core),
            ffn: twice(self.ffn),
            experts: twice(self.experts),
            elementwise: twice(self.elementwise),
            all_reduce_s: 2.0 * self.all_reduce_s,
            all_reduces: self.all_reduces,
            kv_all_to_all_s: 2.0 * self.kv_all_to_all_s,
            dispatch_s: 2.0 * self.dispatch_s,
            combine_s: 2.0 * self.combine_s,
            overhead_s: 2.0 * self.overhead_s,
            hidden_s: 0.0,
            stream_hidden_s: 2.0 * self.stream_hidden_s,
            experts_read: self.experts_read,
            experts_skew: self.experts_skew,
            picked_deepgemm: self.picked_deepgemm,
            experts_tiled: self.experts_tiled,
        };
        let exchange = s.dispatch_s + s.combine_s;
        s.hidden_s =
            exchange.min(s.compute_s() - s.stream_hidden_s + s.all_reduce_s + s.kv_all_to_all_s);
        s
    }
}

/// One layer step; `moe` selects a routed-expert layer, otherwise the dense FFN. With two-batch
/// overlap on an attention data-parallel MoE layer, the step runs as two halves.
pub fn layer_step(ctx: &Context, r: &Rates, shape: StepShape, moe: bool) -> LayerStep {
    let two = moe && r.dp > 1 && r.moe_overlap == MoeOverlap::TwoBatch && shape.tokens >= 2.0;
    let mut step = layer_step_once(ctx, r, if two { shape.halved() } else { shape }, moe);
    // The share of graph-replayed steps first: a half step's exchange hides under what its
    // compute takes after the second stream.
    step.stream_hidden_s *= shape.graph_share;
    if two { step.two_halves() } else { step }
}

fn layer_step_once(ctx: &Context, r: &Rates, shape: StepShape, moe: bool) -> LayerStep {
    let m = &ctx.model;
    let tp = r.tp as f64;
    let b = shape.tokens;
    // The projection GEMMs (QKV and output; MLA's five or six), each with the fixed time of a GEMM
    // of b rows; an output projection in a precision of its own is a GEMM apart.
    let gemms = if shape.decode {
        m.attn_gemms_decode
    } else {
        m.attn_gemms_prefill
    };
    let apart = r.attn_out != r.dense;
    let out_params = if apart {
        m.attn_out_params_per_layer / tp
    } else {
        0.0
    };
    let rest_params = m.attn_params_per_gpu(tp) - out_params;
    let mut attn_proj = roofline(
        Op {
            flops: 2.0 * b * rest_params,
            bytes: r.dense.weight_bytes * (rest_params + m.norm_params_per_layer / tp),
        },
        r.dense.matmul_flops_per_s,
        r.dense.stream_bytes_per_s,
        ctx.hw.overlap,
    );
    attn_proj.fixed_s = r.dense.gemm_fixed_s(b) * if apart { gemms - 1.0 } else { gemms };
    if apart {
        let mut out = roofline(
            Op {
                flops: 2.0 * b * out_params,
                bytes: r.attn_out.weight_bytes * out_params,
            },
            r.attn_out.matmul_flops_per_s,
            r.attn_out.stream_bytes_per_s,
            ctx.hw.overlap,
        );
        out.fixed_s = r.attn_out.gemm_fixed_s(b);
        attn_proj = attn_proj.then(out);
    }
    let by_sequence = shape.decode && r.kv_sharding == KvSharding::Batch;
    // Set by the routed experts where their kernel multiplies whole row tiles.
    let mut experts_tiled = None;
    let (ffn, experts, experts_read, stream_hidden_s, experts_skew, picked_deepgemm) = if moe {
        // Routed experts: the stage's tokens spread over the expert slots of `ep` ranks; the busiest
        // rank runs the fused-MoE kernel on its share (`experts`).
        let t = shape.moe_tokens;
        let all_to_all = r.dp > 1
            && r.moe_dispatch.resolve(r.tp * r.dp, ctx.hw.gpus_per_node) == MoeDispatch::AllToAll;
        let rows = if all_to_all {
            t * busiest_rank_factor(r.expert_slots, m.top_k, t, r.ep) / r.ep as f64
        } else {
            t
        };
        let kernels = expert_kernels(
            ctx,
            r,
            ExpertLoad {
                stage_tokens: t,
                rows,
            },
        );
        let (mut experts, touched) = (kernels.op(), kernels.touched);
        experts_tiled = kernels.tiled;
        // Served traffic loads some experts more than others, and the busiest expert-parallel
        // rank sets the layer's pace: the measured skewed-over-balanced layer time at this load
        // (`Hardware::routing_skew`). Redundant experts (EPLB) replicate the hot ones to even the
        // ranks out, so a layout with them keeps the balanced time (docs/methodology.md §4.4).
        let skew = if r.expert_slots <= m.experts {
            ctx.hw.routing_skew(r.ep, t * m.top_k / m.experts)
        } else {
            1.0
        };
        experts.compute_s *= skew;
        experts.memory_s *= skew;
        experts.fixed_s *= skew;
        let pe = m.ffn_params_per_expert_per_layer;
        // Shared experts follow the attention group; the router scores every token. The shared
        // experts are MLPs in the experts' precision, the router a linear layer in the dense
        // layers' (one operator when the two rates agree; where low-precision GEMMs run at their
        // own shapes' rates, the router runs apart at the attention projections' rate).
        let shared_flops = 2.0 * b * m.shared_experts * pe / tp;
        let shared_params = m.shared_experts * pe / tp;
        let router_flops = 2.0 * b * m.router_params_per_layer;
        let router_params = m.router_params_per_layer;
        let price = |flops: f64, params: f64, l: &super::context::LinearRates| {
            roofline(
                Op {
                    flops,
                    bytes: l.weight_bytes * params,
                },
                l.matmul_flops_per_s,
                l.stream_bytes_per_s,
                ctx.hw.overlap,
            )
        };
        let shared_fixed_s = if m.shared_experts > 0.0 {
            2.0 * r.mlp.gemm_fixed_s(b)
        } else {
            0.0
        };
        let mut shared = price(shared_flops, shared_params, &r.mlp);
        shared.fixed_s = shared_fixed_s;
        let router = price(router_flops, router_params, &r.dense);
        let ffn = if r.mlp == r.dense {
            let mut ffn = price(
                shared_flops + router_flops,
                shared_params + router_params,
                &r.mlp,
            );
            ffn.fixed_s = shared_fixed_s;
            ffn
        } else {
            shared.then(router)
        };
        // Today's runtimes run the shared experts beside the router and the routed experts in
        // the decode steps they replay from a CUDA graph (TensorRT-LLM's second stream,
        // `maybe_execute_in_parallel`; SGLang fuses them into the routed kernel): their fixed
        // times overlap, their work does not (docs/methodology.md §4.4).
        let stream_hidden_s = if shape.decode && m.shared_experts > 0.0 && ctx.shared_expert_overlap
        {
            let routed_s = router.time_s() + experts.time_s();
            concurrent_hidden_s(
                shared.time_s(),
                shared.fixed_s,
                routed_s,
                router.fixed_s + kernels.kernel_fixed_s,
            )
            .min(ffn.time_s())
        } else {
            0.0
        };
        (
            ffn,
            experts,
            touched,
            stream_hidden_s,
            skew,
            kernels.picked_deepgemm,
        )
    } else {
        let p = m.dense_ffn_params_per_layer;
        let op = Op {
            flops: 2.0 * b * p / tp,
            bytes: r.dense_ffn.weight_bytes * p / tp,
        };
        (
            roofline(
                op,
                r.dense_ffn.matmul_flops_per_s,
                r.dense_ffn.stream_bytes_per_s,
                ctx.hw.overlap,
            ),
            OpTime::default(),
            1.0,
            0.0,
            1.0,
            None,
        )
    };
    // Every activation is written once and read once by the next operator (inference engines
    // replicate the norms across TP unless activations stay sharded: sequence parallelism). The
    // routed experts' own traffic is in `experts`.
    let act = activations::inference_layer_bytes(
        m,
        InferencePass {
            group_tokens: b,
            tp: r.tp,
            routed_assignments: 0.0,
            expert_tp: r.expert_tp,
            moe,
            sequence_parallel: r.sequence_parallel,
            decode: shape.decode,
        },
        r.act_bytes,
    );
    let elementwise = roofline(
        Op {
            flops: 0.0,
            bytes: 2.0 * act,
        },
        r.matmul_flops_per_s,
        r.mem_bytes_per_s,
        ctx.hw.overlap,
    );
    // The attention group's reductions: after attention and after the FFN; in an attention
    // data-parallel MoE layer the second becomes the exchange (the group splits its tokens over
    // its TP ranks before the dispatch and gathers them after the combine: one all-reduce's
    // worth of traffic in all).
    let exchange = moe && r.dp > 1;
    let all_reduces = if exchange {
        1.0
    } else {
        m.tp_reductions_per_layer
    };
    let message_bytes = b * m.d_model * r.act_bytes;
    let (dispatch_s, combine_s) = if exchange {
        dispatch::exchange_s(
            &ctx.hw,
            r,
            m,
            m.routing_groups,
            // Tokens a GPU sends, its group's over the group's TP; a decode batch smaller than
            // the groups leaves some idle, so the stage's mean.
            if shape.decode && shape.moe_tokens < b * r.dp as f64 {
                shape.moe_tokens / (tp * r.dp as f64)
            } else {
                b / tp
            },
            shape.moe_tokens,
            if shape.decode {
                dispatch::Phase::Decode
            } else {
                dispatch::Phase::Prefill
            },
        )
    } else {
        (0.0, 0.0)
    };
    LayerStep {
        attn_proj,
        attn_core: attn_core(ctx, r, shape),
        ffn,
        experts,
        elementwise,
        // With sequence parallelism each reduction is NCCL's reduce-scatter + all-gather (the same
        // bytes, a second start-up); otherwise the runtime's all-reduce (its own kernel for small
        // messages).
        all_reduce_s: if r.sequence_parallel && r.tp > 1 {
            all_reduces * (tp_all_reduce_s(&ctx.hw, message_bytes, r.tp) + r.tp_link.latency_s)
        } else {
            all_reduces * serving_tp_all_reduce_s(&ctx.hw, message_bytes, r.tp)
        },
        all_reduces,
        // Queries to the sequence layout, attention outputs back to the head layout.
        kv_all_to_all_s: if by_sequence {
            2.0 * all_to_all_s(b * m.attn_width * r.act_bytes / tp, r.tp, r.tp_link)
        } else {
            0.0
        },
        dispatch_s,
        combine_s,
        overhead_s: ctx.hw.per_layer_s,
        hidden_s: 0.0,
        stream_hidden_s,
        experts_read,
        experts_skew,
        picked_deepgemm,
        experts_tiled,
    }
}

/// Time hidden when two chains of kernels run on two streams at once: `a_s` and `b_s` long,
/// of which `a_fixed_s` and `b_fixed_s` are fixed times (launch, ramp-up, the tail of a small
/// grid) rather than work. Together they take the longer chain, and at least the two chains'
/// work end to end (they share the SMs and the HBM): `max(a, b, work_a + work_b)`.
pub fn concurrent_hidden_s(a_s: f64, a_fixed_s: f64, b_s: f64, b_fixed_s: f64) -> f64 {
    let work_s = (a_s - a_fixed_s).max(0.0) + (b_s - b_fixed_s).max(0.0);
    (a_s + b_s - a_s.max(b_s).max(work_s)).max(0.0)
}

/// The attention scores over the KV cache: the one part of a layer step that depends on the
/// context (`kv_tokens_read`, `attn_pairs`).
fn attn_core(ctx: &Context, r: &Rates, shape: StepShape) -> OpTime {
    let m = &ctx.model;
    // Decode attention sharded by sequence: the busiest GPU scores and reads ⌈b/TP⌉ sequences
    // with every head. Otherwise split by heads: ⌈n_h/TP⌉ query heads, ⌈n_kv/TP⌉ KV heads.
    let by_sequence = shape.decode && r.kv_sharding == KvSharding::Batch;
    let (score_share, kv_share) = if by_sequence {
        let s = r.kv_share(shape.sequences);
        (s, s)
    } else {
        (r.head_share, r.kv_head_share)
    };
    // Decode runs MLA in its absorbed form (more FLOPs per pair, the latent read once for every
    // head); prefill in the decompressed one. One attention kernel call per layer and step.
    let flops_per_pair = if shape.decode {
        m.attn_decode_flops_per_ctx_per_layer
    } else {
        m.attn_score_flops_per_ctx_per_layer
    };
    // Prefill attention (FMHA over the chunk) runs at its long-context rate scaled by
    // c / (c + c½) for a mean attended context of c keys per query: the measured TensorRT-LLM
    // context-attention kernels (docs/methodology.md §4.5).
    let rate = if shape.decode {
        r.attn_flops_per_s
    } else {
        let c = shape.attn_pairs / shape.tokens.max(1.0);
        let half = ctx.hw.attention_half_context;
        // No pair to score (c = 0) leaves no FLOPs either: keep the rate finite.
        if c > 0.0 {
            r.attn_prefill_flops_per_s * c / (c + half)
        } else {
            r.attn_prefill_flops_per_s
        }
    };
    let mut attn_core = roofline(
        Op {
            flops: shape.attn_pairs * flops_per_pair * score_share,
            bytes: r.kv_bytes_per_token_per_layer * kv_share * shape.kv_tokens_read,
        },
        rate,
        r.attn_mem_bytes_per_s,
        ctx.hw.overlap,
    );
    attn_core.fixed_s = ctx.hw.attention_s
        + if shape.decode && m.grouped_kv {
            pair_floor_excess_s(ctx, r, shape, kv_share, &attn_core)
        } else {
            0.0
        };
    attn_core
}

/// What grouped-query decode attention takes beyond its roofline at a large batch over a short
/// context: the kernel runs a thread block per (sequence, KV head), each with a fixed amount of
/// work, so a layer's call lasts at least `pairs × attention_pair_s` whatever the context
/// (docs/methodology.md §4.5; TensorRT-LLM 1.3's decode attention measured, tests/calibration.rs).
/// The floor and the KV read overlap (the measured time is the larger of the two); windowed and
/// full-attention layers are bounded apart, and the excess is averaged over them.
fn pair_floor_excess_s(
    ctx: &Context,
    r: &Rates,
    shape: StepShape,
    kv_share: f64,
    core: &OpTime,
) -> f64 {
    let m = &ctx.model;
    let kv_elem_bytes = r.kv_bytes_per_token_per_layer / m.kv_elems_per_token_per_layer;
    let pair_s = ctx.hw.attention_pair_s[usize::from(kv_elem_bytes <= 1.0)];
    let floor_s = pair_s * shape.sequences * m.kv_heads * kv_share;
    if floor_s <= 0.0 || shape.sequences <= 0.0 || shape.kv_tokens_read <= 0.0 {
        return 0.0;
    }
    // The mean attended context `a` of the step, split back into a full layer's context `c` and
    // a windowed one's `min(c, W)` (`ModelCounts::attended`), each layer type's roofline its
    // share of the step's.
    let (f, w) = (m.windowed_share, m.window_tokens);
    let a = shape.kv_tokens_read / shape.sequences;
    let c = if a <= w || f >= 1.0 {
        a
    } else {
        (a - w * f) / (1.0 - f)
    };
    let roofline_s = core.time_s() - core.fixed_s;
    let excess = |context: f64| (floor_s - roofline_s * context / a).max(0.0);
    (1.0 - f) * excess(c) + f * excess(c.min(w))
}

/// Layer steps already priced, less their attention scores, by shape (tokens, MoE tokens,
/// sequences): for the decode steps of a sweep unit's configurations, which differ in context
/// only across output lengths. The same function of the same inputs, so the results are
/// bit-identical; `clear` it when the context, rates or layout change.
#[derive(Clone, Debug, Default)]
pub struct LayerMemo {
    slots: Vec<Option<MemoSlot>>,
}

/// A memoised step: its shape's bits, whether MoE, whether decode, and the step (its
/// `stream_hidden_s` before the graph share, which differs across output lengths).
type MemoSlot = ([u64; 3], bool, bool, LayerStep);

/// Slots of a `LayerMemo` (direct-mapped: a clash prices the step again).
const LAYER_MEMO_SLOTS: usize = 64;

impl LayerMemo {
    /// Forget every step.
    pub fn clear(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = None);
    }
}

/// `layer_step` into `out`, with the parts that do not depend on the context kept in `memo`
/// (copied once, from the memo into `out`).
pub fn layer_step_memo(
    ctx: &Context,
    r: &Rates,
    shape: StepShape,
    moe: bool,
    memo: &mut LayerMemo,
    out: &mut LayerStep,
) {
    let two = moe && r.dp > 1 && r.moe_overlap == MoeOverlap::TwoBatch && shape.tokens >= 2.0;
    let once = if two { shape.halved() } else { shape };
    let key = [
        once.tokens.to_bits(),
        once.moe_tokens.to_bits(),
        once.sequences.to_bits(),
    ];
    if memo.slots.is_empty() {
        memo.slots.resize(LAYER_MEMO_SLOTS, None);
    }
    let h = key[0]
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(key[1].wrapping_mul(0xc2b2_ae3d_27d4_eb4f))
        .wrapping_add(key[2])
        .wrapping_add(u64::from(moe) << 1 | u64::from(once.decode));
    let slot = (h.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58) as usize % LAYER_MEMO_SLOTS;
    let entry = &mut memo.slots[slot];
    let hit = matches!(entry, Some((k, m, d, _)) if *k == key && *m == moe && *d == once.decode);
    if !hit {
        *entry = Some((key, moe, once.decode, layer_step_once(ctx, r, once, moe)));
    }
    if let Some((_, _, _, step)) = entry {
        *out = *step;
    }
    out.attn_core = attn_core(ctx, r, once);
    out.stream_hidden_s *= shape.graph_share;
    if two {
        *out = out.two_halves();
    }
}

/// The output head (logits) for `tokens` tokens on the last stage of an attention group.
pub fn head_step(ctx: &Context, r: &Rates, tokens: f64) -> OpTime {
    let m = &ctx.model;
    let params = m.d_model * m.vocab;
    let mut t = roofline(
        Op {
            flops: 2.0 * tokens * params / r.tp as f64,
            bytes: r.dense.weight_bytes * params / r.tp as f64,
        },
        r.dense.matmul_flops_per_s,
        r.dense.stream_bytes_per_s,
        ctx.hw.overlap,
    );
    t.fixed_s = r.dense.gemm_fixed_s(tokens);
    t
}

#[cfg(test)]
mod tests {
    use super::{LayerStep, concurrent_hidden_s};
    use crate::perf::roofline::{Op, OpTime};
    use crate::testutil::assert_close;

    /// An operator of `compute_s` and `memory_s` (fully overlapped) plus `fixed_s`.
    fn op(compute_s: f64, memory_s: f64, fixed_s: f64) -> OpTime {
        OpTime {
            op: Op {
                flops: compute_s * 1e15,
                bytes: memory_s * 1e12,
            },
            compute_s,
            memory_s,
            overlap: 1.0,
            fixed_s,
        }
    }

    /// The attention core of one decode step of one layer on one H100 (TP 1): `batch` sequences
    /// of `context` tokens, bf16 KV, for a model of `heads` query and `kv_heads` KV heads of 64
    /// (`extra`: more spec lines).
    fn h100_attention(heads: u64, kv_heads: u64, extra: &str, batch: f64, context: f64) -> OpTime {
        use crate::dtype::Dtype;
        use crate::perf::{Config, Context};
        let gpu = crate::presets::load_gpu("h100", &[]).unwrap().gpu;
        let spec: crate::model::ModelSpec = toml::from_str(&format!(
            "layers = 2\nd_model = {}\nheads = {heads}\nkv_heads = {kv_heads}\nhead_dim = 64\n\
             ffn_dim = 1024\nffn_gated = true\nvocab = 1024\ntied_embeddings = true\n\
             experts = 1\ntop_k = 1\nshared_experts = 0\nmax_context = 65536\n{extra}",
            heads * 64
        ))
        .unwrap();
        let ctx = Context::new(&spec, &gpu, 2048);
        let c = Config {
            kv_dtype: Dtype::Bf16,
            ..Config::new(1, 1, 1, 1, 1, Dtype::Bf16)
        };
        let shape = super::StepShape {
            tokens: batch,
            moe_tokens: batch,
            kv_tokens_read: batch * ctx.model.attended(context),
            attn_pairs: batch * ctx.model.attended(context),
            sequences: batch,
            decode: true,
            graph_share: 1.0,
        };
        super::layer_step(&ctx, &ctx.rates(&c), shape, false).attn_core
    }

    #[test]
    fn grouped_decode_attention_lasts_its_pair_floor_over_a_short_context() {
        // gpt-oss's heads (64 query, 8 KV, dim 64) on an H100 at 1,024 sequences of 4 tokens:
        // 8,192 (sequence, KV head) blocks × 34.5 ns = 282.6 µs, plus the call's 12 µs. TensorRT-LLM
        // 1.3 measures 269 µs at context 1–15 (validation/kernels/decode_attention_batch.csv);
        // the roofline alone gives 15 µs (8.4 MB of KV read in 3.2 µs, and the call).
        let short = h100_attention(64, 8, "", 1024.0, 4.0);
        assert_close(short.time_s(), 1024.0 * 8.0 * 34.5e-9 + 12e-6, 0.01);
        assert!(short.compute_s.max(short.memory_s) < 4e-6);
        // At 64 sequences of 16k tokens the 1 GiB KV read (about 410 µs) hides the 17.7 µs floor.
        let long = h100_attention(64, 8, "", 64.0, 16384.0);
        assert_close(long.fixed_s, 12e-6, 1e-12);
    }

    #[test]
    fn windowed_layers_meet_the_pair_floor_apart_from_the_full_ones() {
        // Half the layers keep 128 tokens: at 1,024 sequences of 2,000 tokens a full layer reads
        // 4.2 GB of KV (1.6 ms, far above the 283 µs floor), a windowed one 268 MB (103 µs), so
        // the mean layer pays half the windowed layer's shortfall, about (283 − 103) / 2 µs.
        let w = "sliding_window = 128\nsliding_window_layers = 1\n";
        let core = h100_attention(64, 8, w, 1024.0, 2000.0);
        let roofline_s = core.time_s() - core.fixed_s;
        let mean_context = 0.5 * 2000.0 + 0.5 * 128.0;
        let windowed_s = roofline_s * 128.0 / mean_context;
        let floor_s = 1024.0 * 8.0 * 34.5e-9;
        assert_close(core.fixed_s, 12e-6 + 0.5 * (floor_s - windowed_s), 1e-9);
        assert!(roofline_s * 2000.0 / mean_context > floor_s);
    }

    #[test]
    fn the_pair_floor_spares_multi_head_and_mla_attention() {
        // Multi-head kernels pack heads differently (about 10 ns a pair on H100, not 34.5) and
        // MLA runs its own kernel (tests/calibration.rs checks it apart): neither pays the floor.
        let mha = h100_attention(8, 8, "", 1024.0, 4.0);
        assert_close(mha.fixed_s, 12e-6, 1e-12);
        let mla = h100_attention(
            16,
            16,
            "attention = \"mla\"\n[mla]\nq_lora_rank = 0\nkv_lora_rank = 512\n\
             qk_nope_head_dim = 128\nqk_rope_head_dim = 64\nv_head_dim = 128\n",
            1024.0,
            4.0,
        );
        assert_close(mla.fixed_s, 12e-6, 1e-12);
    }

    /// A decode-like MoE layer step whose shared experts hid 12 µs beside the routed ones.
    fn step(ffn_compute_bound: bool) -> LayerStep {
        LayerStep {
            attn_proj: op(2e-6, 5e-6, 20e-6),
            attn_core: op(1e-6, 3e-6, 10e-6),
            ffn: if ffn_compute_bound {
                op(9e-6, 4e-6, 15e-6)
            } else {
                op(1e-6, 4e-6, 15e-6)
            },
            experts: op(3e-6, 8e-6, 25e-6),
            elementwise: op(0.0, 1e-6, 0.0),
            all_reduce_s: 11e-6,
            all_reduces: 2.0,
            dispatch_s: 6e-6,
            combine_s: 7e-6,
            overhead_s: 30e-6,
            stream_hidden_s: 12e-6,
            experts_read: 8.0,
            ..LayerStep::default()
        }
    }

    #[test]
    fn the_time_split_conserves_the_step_with_the_second_stream() {
        // --explain's split (memory-bound, compute-bound, communication) plus the fixed overhead
        // is the step: what the second stream hides comes off the shared experts' side, whichever
        // bound that side has.
        for compute_bound in [false, true] {
            let s = step(compute_bound);
            let (mem, comp, comm) = s.split_s();
            assert_close(mem + comp + comm + s.overhead_s, s.time_s(), 1e-12);
            let (mem0, comp0, _) = LayerStep {
                stream_hidden_s: 0.0,
                ..s
            }
            .split_s();
            let (side, other) = if compute_bound {
                (comp0 - comp, mem0 - mem)
            } else {
                (mem0 - mem, comp0 - comp)
            };
            assert_close(side, 12e-6, 1e-9);
            assert_close(other, 0.0, 1e-12);
        }
    }

    #[test]
    fn two_halves_take_twice_the_half_step_less_the_exchange_they_hide() {
        // Without an exchange, two halves are exactly twice a half step, the second stream's
        // saving included.
        let quiet = LayerStep {
            dispatch_s: 0.0,
            combine_s: 0.0,
            ..step(false)
        };
        assert_close(quiet.two_halves().time_s(), 2.0 * quiet.time_s(), 1e-12);
        // With one, the exchange (2 × 13 µs) hides under the other half's compute, which is
        // longer: two halves cost twice the half step without its exchange.
        let s = step(false);
        let both = s.two_halves();
        assert_close(both.hidden_s, 26e-6, 1e-12);
        assert_close(both.time_s(), 2.0 * (s.time_s() - 13e-6), 1e-12);
        // An exchange longer than the rest binds: it hides the halves' compute after the second
        // stream and their all-reduces, 2 × (121 − 12 + 11) = 240 µs, and the step is the
        // exchange itself, 2 × (400 + 7) = 814 µs.
        let long = LayerStep {
            dispatch_s: 400e-6,
            ..step(false)
        };
        let both = long.two_halves();
        assert_close(both.hidden_s, 240e-6, 1e-9);
        assert_close(both.time_s(), 814e-6, 1e-9);
    }

    #[test]
    fn two_streams_hide_fixed_times_not_work() {
        // Latency-bound chains (20 µs of which 15 fixed, 45 µs of which 30 fixed): together they
        // take the longer one, 45 µs, so the shorter one's 20 µs is hidden.
        assert_close(concurrent_hidden_s(20.0, 15.0, 45.0, 30.0), 20.0, 1e-12);
        // Work-bound chains (60 µs of which 5 fixed, 900 µs of which 30 fixed): the two works end
        // to end, 55 + 870 = 925 µs, so only 960 − 925 = 35 µs of fixed time is hidden.
        assert_close(concurrent_hidden_s(60.0, 5.0, 900.0, 30.0), 35.0, 1e-12);
        // Nothing to overlap.
        assert_close(concurrent_hidden_s(0.0, 0.0, 45.0, 30.0), 0.0, 1e-12);
        // Never more than the shorter chain, never negative.
        for (a, fa, b, fb) in [
            (10.0, 10.0, 10.0, 10.0),
            (5.0, 0.0, 7.0, 0.0),
            (1.0, 2.0, 3.0, 4.0),
        ] {
            let h = concurrent_hidden_s(a, fa, b, fb);
            assert!(
                (0.0..=f64::min(a, b)).contains(&h),
                "{a} {fa} {b} {fb}: {h}"
            );
        }
    }
}
