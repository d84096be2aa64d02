//! `estimate --explain`: where the time, bytes, FLOPs and memory of one configuration go, so a
//! reader sees why it is memory-, compute- or communication-bound.

use super::human;
use crate::perf::layer::LayerStep;
use crate::perf::roofline::{Bound, OpTime};
use crate::perf::{Context, Estimate};
use crate::units::{bytes_to_gb, bytes_to_gib, s_to_ms};
use std::fmt::Write;

fn us(s: f64) -> String {
    human(s * 1e6)
}

fn op_line(out: &mut String, name: &str, op: &OpTime) {
    let bound = match op.bound() {
        Bound::Memory => "memory",
        Bound::Compute => "compute",
    };
    let _ = writeln!(
        out,
        "    {name:<22} {:>10} {:>10} {:>10} {:>10} {:>10}  {bound}",
        human(op.op.flops / 1e9),
        human(op.op.bytes / 1e6),
        us(op.compute_s),
        us(op.memory_s),
        us(op.time_s()),
    );
}

fn layer_block(out: &mut String, title: &str, l: &LayerStep) {
    let _ = writeln!(out, "  {title}");
    let _ = writeln!(
        out,
        "    {:<22} {:>10} {:>10} {:>10} {:>10} {:>10}  bound",
        "operator", "GFLOP", "MB", "compute µs", "memory µs", "time µs"
    );
    op_line(out, "attention projections", &l.attn_proj);
    op_line(out, "attention over KV", &l.attn_core);
    if l.experts.op.flops > 0.0 || l.experts.op.bytes > 0.0 {
        op_line(out, "shared experts, router", &l.ffn);
        op_line(out, "routed experts", &l.experts);
    } else {
        op_line(out, "FFN", &l.ffn);
    }
    op_line(out, "norms, activations", &l.elementwise);
    let _ = writeln!(
        out,
        "    {:<22} {:>54}",
        format!("TP all-reduces ({})", l.all_reduces),
        us(l.all_reduce_s)
    );
    if l.kv_all_to_all_s > 0.0 {
        let _ = writeln!(
            out,
            "    {:<22} {:>54}",
            "KV-layout all-to-alls",
            us(l.kv_all_to_all_s)
        );
    }
    if l.dispatch_s > 0.0 {
        let _ = writeln!(out, "    {:<22} {:>54}", "MoE dispatch", us(l.dispatch_s));
        let _ = writeln!(out, "    {:<22} {:>54}", "MoE combine", us(l.combine_s));
    }
    for (label, s) in [
        ("hidden by overlap", l.hidden_s),
        ("shared beside routed", l.stream_hidden_s),
    ] {
        if s > 0.0 {
            let _ = writeln!(out, "    {label:<22} {:>54}", format!("−{}", us(s)));
        }
    }
    let _ = writeln!(out, "    {:<22} {:>54}", "fixed overhead", us(l.overhead_s));
    let _ = writeln!(out, "    {:<22} {:>54}", "layer total", us(l.time_s()));
}

/// The decode step's chunked-attention lines (docs/methodology.md §4.5): what the chunked layers
/// attend to, and what a per-query-head kernel streams for it. None without chunked layers.
fn chunk_note(ctx: &Context, c: &crate::perf::Config) -> Option<String> {
    let m = &ctx.model;
    if m.chunked_share <= 0.0 {
        return None;
    }
    let keys = crate::perf::decode::decode_keys(ctx, c, &ctx.rates(c));
    let chunked_layers = (m.chunked_share * m.layers).round();
    if keys.chunked <= 0.0 {
        return Some(format!(
            "  chunked attention: the runtime turns it off under speculative decoding on this GPU (TensorRT-LLM before Blackwell), so its {chunked_layers} chunked layers attend to the whole context, {} keys a sequence",
            human(keys.attended)
        ));
    }
    let mut note = format!(
        "  chunked attention: {chunked_layers} of {} layers attend within their {}-token chunk, {} keys on average over the run; {} keys a sequence over all layers",
        m.layers,
        m.chunk_tokens,
        human(keys.chunked / m.chunked_share),
        human(keys.attended)
    );
    if keys.streamed > keys.attended {
        let _ = write!(
            note,
            "\n  the chunked layers decode on a kernel with a block per query head (TensorRT-LLM before Blackwell: masked multi-head attention, as XQA refuses chunked attention), so each KV head's cache is read {}× there: {} keys streamed a sequence",
            if keys.chunked_reads.fract() == 0.0 {
                format!("{}", keys.chunked_reads)
            } else {
                human(keys.chunked_reads)
            },
            human(keys.streamed)
        );
    }
    Some(note)
}

/// The explanation text for one estimate.
pub fn explain(ctx: &Context, model: &str, gpu: &str, e: &Estimate) -> String {
    let c = &e.config;
    let b = &e.breakdown;
    let mut o = String::new();
    let math = b.math_dtype.map_or("?", |d| d.name());
    let _ = writeln!(
        o,
        "{model} on {gpu}: {} (tp {} × dp {} × pp {}, ep {}) = {} GPUs{}, batch {}, input {} + output {} tokens, weights {} (matmuls in {math}){}, KV {} split by {}{}",
        c.layout(),
        c.tp,
        c.dp,
        c.pp,
        c.ep,
        c.gpus(),
        if c.disaggregate.is_some() {
            format!(" a decode replica ({} in all)", e.gpus)
        } else {
            String::new()
        },
        c.batch,
        c.input_len,
        c.output_len,
        c.dtype,
        match (c.dense_dtype, c.attn_out_dtype) {
            (_, Some(o)) if o != c.dense_dtype() => format!(
                " in the MLPs, {} in attention projections, router and head, {o} in the attention output projection",
                c.dense_dtype()
            ),
            (Some(d), _) if d != c.dtype =>
                format!(" in the MLPs, {d} in attention projections, router and head"),
            _ => String::new(),
        },
        c.kv_dtype,
        c.kv_sharding.name(),
        if c.sequence_parallel {
            ", activations sharded over TP"
        } else {
            ""
        }
    );
    if let Some(note) = &ctx.hw.uncalibrated {
        let _ = writeln!(o, "{gpu} is uncalibrated: {note}");
    }
    // 4-bit weights under fp8 activations (W4A8) on a GPU with no such kernel measured.
    if c.act_dtype == Some(crate::dtype::Dtype::Fp8)
        && c.dtype.bytes() < 1.0
        && ctx.model.experts > 1.0
        && !ctx.hw.w4a8_moe_measured
    {
        let _ = writeln!(
            o,
            "{gpu} has no measured W4A8 fused-MoE kernel: the routed experts take its fp8 kernel's rates ([gpu.fused_moe.fp8]; docs/methodology.md §4.4)"
        );
    }
    if c.tp > 1
        && !c.sequence_parallel
        && c.tp <= ctx.hw.scaleup_gpus
        && ctx.hw.custom_all_reduce_s(c.tp, 1.0).is_some()
    {
        let _ = writeln!(
            o,
            "TP all-reduces: the faster of NCCL and the serving runtime's own all-reduce kernel, as measured (docs/methodology.md §6)"
        );
    }
    if c.tp > ctx.hw.scaleup_gpus {
        let _ = writeln!(
            o,
            "TP {} spans {} scale-up domains of {} GPUs: its all-reduces cross the network, priced by NCCL's ring/tree cost model (docs/methodology.md §6)",
            c.tp,
            c.tp.div_ceil(ctx.hw.scaleup_gpus),
            ctx.hw.scaleup_gpus
        );
    }
    let moe = ctx.dense_layers != ctx.layers;
    if moe {
        let l = c.layout();
        let stage = l.stage_gpus();
        let placement = if c.dp > 1 {
            let dispatch = c.moe_dispatch.resolve(stage, ctx.hw.gpus_per_node);
            format!(
                "{} attention groups of {} GPU(s) per stage, each with its own sequences, attention weights and KV cache; tokens reach the experts by {}{}",
                c.dp,
                c.tp,
                match dispatch {
                    crate::perf::MoeDispatch::AllGather =>
                        "an all-gather and return by a reduce-scatter",
                    _ if stage > ctx.hw.scaleup_gpus && l.expert_tp() == 1 =>
                        "an all-to-all dispatch and combine (decode steps: the low-latency kernels, one copy per routed expert)",
                    _ => "an all-to-all dispatch and combine",
                },
                if c.moe_overlap == crate::perf::MoeOverlap::TwoBatch {
                    ", overlapped with compute in two half batches"
                } else {
                    ""
                }
            )
        } else {
            "attention split over the TP group; the experts' partial sums join its all-reduce"
                .to_string()
        };
        let _ = writeln!(
            o,
            "Experts: {} slots ({} routed{}) over {} EP rank(s) of {} GPU(s) each; {}{}",
            ctx.experts + c.redundant_experts,
            ctx.experts,
            if c.redundant_experts > 0 {
                format!(" + {} redundant", c.redundant_experts)
            } else {
                String::new()
            },
            c.ep,
            l.expert_tp(),
            placement,
            if stage > ctx.hw.scaleup_gpus {
                format!(
                    "; a stage spans {} scale-up domains of {}, so its traffic to other domains leaves through each GPU's own NIC",
                    stage.div_ceil(ctx.hw.scaleup_gpus),
                    ctx.hw.scaleup_gpus
                )
            } else if stage > 1 {
                format!(
                    "; the stage's {stage} GPUs sit in one {}-GPU scale-up domain, so the exchange runs on {}",
                    ctx.hw.scaleup_gpus, ctx.hw.fabric
                )
            } else {
                String::new()
            }
        );
    }
    let _ = writeln!(
        o,
        "\nDecode step (one micro-batch of {} sequences per attention group, {} micro-batches in flight, mean context {} tokens)",
        b.micro_batch,
        b.micro_batches,
        c.input_len as f64 + c.output_len as f64 / 2.0
    );
    if let Some(note) = chunk_note(ctx, c) {
        let _ = writeln!(o, "{note}");
    }
    let padded = crate::perf::decode::replayed_rows(ctx, c, b.micro_batch);
    if padded > b.micro_batch {
        let _ = writeln!(
            o,
            "  a decode step with no prompt in it replays the CUDA graph captured for {padded} sequences: its GEMMs, experts and head run {} padding rows (methodology §7.6)",
            padded - b.micro_batch
        );
    }
    if moe {
        let slots = if c.redundant_experts > 0 {
            format!(
                "{} slots ({} experts + {} redundant)",
                ctx.experts + c.redundant_experts,
                ctx.experts,
                c.redundant_experts
            )
        } else {
            ctx.experts.to_string()
        };
        let _ = writeln!(
            o,
            "  experts read per MoE layer: {:.2} of {slots} (uniform routing, E·(1−(1−k/E)^b))",
            b.decode_layer.experts_read
        );
        if let Some(deepgemm) = b.decode_layer.picked_deepgemm {
            let _ = writeln!(o, "  {}", kernel_pick(deepgemm));
        }
        if let Some(t) = b.decode_layer.experts_tiled {
            let _ = writeln!(o, "  {}", tile_note(t));
        }
        if b.decode_layer.experts_skew > 1.0 {
            let _ = writeln!(
                o,
                "  routed experts on the busiest expert-parallel rank: {:.3}× their balanced time under served traffic's skewed routing (measured fused-MoE layers, power-law over balanced; redundant experts remove it; docs/methodology.md §4.4)",
                b.decode_layer.experts_skew
            );
        }
    }
    layer_block(
        &mut o,
        if moe {
            "per MoE layer, per GPU:"
        } else {
            "per layer, per GPU:"
        },
        &b.decode_layer,
    );
    if moe && ctx.dense_layers > 0 {
        layer_block(
            &mut o,
            "per leading dense layer, per GPU:",
            &b.decode_dense_layer,
        );
    }
    let _ = writeln!(
        o,
        "  output head (last stage): {} µs",
        us(b.decode_head.time_s())
    );
    let _ = writeln!(
        o,
        "  pipeline hand-off per stage boundary: {} µs",
        us(b.decode_hop_s)
    );
    let _ = writeln!(
        o,
        "  stages: slowest {} ms, sum {} ms",
        human(s_to_ms(b.decode_stage_max_s)),
        human(s_to_ms(b.decode_stages_sum_s))
    );
    let [mem, comp, comm, over] = b.time_split_s;
    let total = mem + comp + comm + over;
    let pct = |x: f64| human(100.0 * x / total);
    let _ = writeln!(
        o,
        "  a token's path through all {} layers: {} ms = memory-bound ops {} ms ({}%) + compute-bound ops {} ms ({}%) + communication {} ms ({}%) + overhead {} ms ({}%)",
        ctx.layers,
        human(s_to_ms(total)),
        human(s_to_ms(mem)),
        pct(mem),
        human(s_to_ms(comp)),
        pct(comp),
        human(s_to_ms(comm)),
        pct(comm),
        human(s_to_ms(over)),
        pct(over)
    );
    let _ = writeln!(
        o,
        "  decode step = max(Σ stages + hops, micro-batches × slowest stage) = max({} + {}, {} × {}) = {} ms{}",
        human(s_to_ms(b.decode_stages_sum_s)),
        human(s_to_ms((c.pp as f64 - 1.0) * b.decode_hop_s)),
        b.micro_batches,
        human(s_to_ms(b.decode_stage_max_s)),
        human(s_to_ms(b.verify_step_s)),
        if c.speculation.is_some() {
            format!(
                " per verification; {} ms per token with the draft steps (below)",
                human(s_to_ms(b.decode_step_s))
            )
        } else {
            String::new()
        }
    );
    let interleaved = c.disaggregate.is_none() && c.batching == crate::perf::Batching::Continuous;
    if interleaved {
        // The replacements' prefills, and what context-generation fusion takes off them (as
        // applied: the breakdown's saving never makes a step shorter than its decode).
        let saved_s = b.fused_saving_s;
        let prefills_s = e.tpot_s - b.decode_step_s + saved_s;
        let (rule, less) = if saved_s > 0.0 {
            (
                ", less what running each with the decode rows in one forward saves (context-generation fusion: the rows ride the chunk's linear layers)",
                format!(" − {}", human(s_to_ms(saved_s))),
            )
        } else {
            ("", String::new())
        };
        let _ = writeln!(
            o,
            "  TPOT = decode step + the replacements' prefills between steps, (B/N)·S/P{rule} = {} + ({}/{})·{}/{} tok/s{less} = {} + {}{less} = {} ms → {} tok/s per user; decode is {}-bound",
            human(s_to_ms(b.decode_step_s)),
            c.batch,
            c.output_len,
            c.input_len,
            human(b.prefill_tokens_per_s),
            human(s_to_ms(b.decode_step_s)),
            human(s_to_ms(prefills_s)),
            human(s_to_ms(e.tpot_s)),
            human(e.output_tokens_per_s_per_user),
            e.decode_bound.name()
        );
    } else {
        if let Some(d) = c.disaggregate
            && b.paced_batch < c.batch as f64
        {
            let fed = d.prefill_replicas as f64 * b.prefill_tokens_per_s / c.input_len as f64
                * c.output_len as f64;
            let holding = if b.paced_batch > 1.0 {
                format!(
                    "keeps up with holding {} of its {} sequences a replica (D·b/step(b) = the prefill pool's rate)",
                    human(b.paced_batch),
                    c.batch
                )
            } else {
                format!(
                    "outruns it with one sequence a replica of its {}, and holds that one",
                    c.batch
                )
            };
            let _ = writeln!(
                o,
                "  the prefill pool paces the loop: it feeds {} output tokens/s, which the decode pool {holding}; the decode step above is at the full batch of {}, {} ms",
                human(fed),
                c.batch,
                human(s_to_ms(b.decode_step_s))
            );
        }
        let _ = writeln!(
            o,
            "  TPOT = decode step ({}) = {} ms → {} tok/s per user; decode is {}-bound",
            if c.disaggregate.is_some() {
                "no prefills between decode steps in a decode pool, at the sequences it holds"
            } else {
                "a static batch is prefilled before it decodes"
            },
            human(s_to_ms(e.tpot_s)),
            human(e.output_tokens_per_s_per_user),
            e.decode_bound.name()
        );
    }
    let _ = writeln!(
        o,
        "  bytes read per GPU per micro-batch step: {} GB; MBU {}%, MFU {}%",
        human(bytes_to_gb(b.decode_bytes_per_gpu_step)),
        human(100.0 * e.mbu),
        human(100.0 * e.mfu)
    );
    if let Some(d) = c.disaggregate {
        let _ = writeln!(
            o,
            "  disaggregated: {} prefill replicas of {} ({} GPUs) + {} decode replicas of {} ({} GPUs); decode steps run without prefills, and each prompt's KV cache ({} ms over the NICs) joins the TTFT",
            d.prefill_replicas,
            c.prefill_layout(),
            c.prefill_layout().gpus(),
            d.decode_replicas,
            c.layout(),
            c.gpus(),
            human(s_to_ms(crate::perf::kv_transfer_s(
                ctx,
                c,
                c.input_len as f64
            )))
        );
    }
    if c.batching == crate::perf::Batching::Static {
        let _ = writeln!(
            o,
            "  static batching, {} output lengths: the batch decodes until its longest request ends; {}% of its slot-steps are useful",
            c.output_dist.name(),
            human(100.0 * b.useful_fraction)
        );
    }
    if let Some(sp) = c.speculation {
        let _ = writeln!(
            o,
            "  speculative decoding: γ = {} draft tokens, α = {} → {:.2} tokens per verification; the verify step ({} tokens per micro-batch, {:.2} experts per MoE layer) takes {} ms against a plain step's {} ms, plus {} × {} ms of draft steps → {} ms per token ({:.2}× the plain decode)",
            sp.gamma,
            sp.acceptance,
            b.tokens_per_step,
            b.micro_batch * (sp.gamma as f64 + 1.0),
            b.decode_layer.experts_read,
            human(s_to_ms(b.verify_step_s)),
            human(s_to_ms(b.plain_decode_step_s)),
            sp.gamma,
            human(s_to_ms(b.draft_step_s)),
            human(s_to_ms(b.decode_step_s)),
            b.plain_decode_step_s / b.decode_step_s
        );
    }

    let _ = writeln!(
        o,
        "\nPrefill ({} chunk(s) of {} tokens through {} stage(s) of {})",
        b.prefill_chunks,
        b.prefill_chunk,
        c.prefill_layout().pp,
        c.prefill_layout()
    );
    if let Some(deepgemm) = b.prefill_layer.picked_deepgemm {
        let _ = writeln!(o, "  {}", kernel_pick(deepgemm));
    }
    if let Some(t) = b.prefill_layer.experts_tiled {
        let _ = writeln!(o, "  {}", tile_note(t));
    }
    layer_block(
        &mut o,
        if moe {
            "per MoE layer, per GPU, one chunk:"
        } else {
            "per layer, per GPU, one chunk:"
        },
        &b.prefill_layer,
    );
    let request = if ctx.hw.per_request_s > 0.0 {
        format!(
            " + request overhead {} ms",
            human(crate::units::s_to_ms(ctx.hw.per_request_s))
        )
    } else {
        String::new()
    };
    let transfer = if c.disaggregate.is_some() {
        format!(
            " + KV transfer {} ms",
            human(crate::units::s_to_ms(b.kv_transfer_s))
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        o,
        "  prefill = Σ stages + (chunks − 1) × slowest stage + hops{request}{transfer} = {} s; prefill throughput {} tok/s",
        human(e.prefill_ttft_s()),
        human(b.prefill_tokens_per_s)
    );
    let admit = if b.decode_admission_s > 0.0 {
        let polls = if ctx.scheduler_recv_interval > 1 {
            format!(
                ", {} more as its scheduler polls every {} iterations",
                human((ctx.scheduler_recv_interval as f64 - 1.0) / 2.0),
                ctx.scheduler_recv_interval
            )
        } else {
            String::new()
        };
        let iters = crate::perf::cost::decode_admission_iterations(
            ctx.decode_admission_iters,
            ctx.scheduler_recv_interval,
        );
        format!(
            " + decode worker's admission {} ms ({} iterations of {} ms, the full batch's, to take the request in, receive its KV cache and admit it to a batch{polls})",
            human(crate::units::s_to_ms(b.decode_admission_s)),
            human(ctx.decode_admission_iters),
            human(crate::units::s_to_ms(b.decode_admission_s / iters)),
        )
    } else {
        String::new()
    };
    if b.request_latency_s > 0.0 || b.ttft_wait_s > 0.0 || b.decode_admission_s > 0.0 {
        let wait = match c.disaggregate {
            Some(d) if b.ttft_wait_s > 0.0 && d.queued > 0 => format!(
                " + queue {} s (the {} requests in flight, {} beyond the decode pool's slots, complete at {} a second, the slower pool's rate; Little's law over the closed loop)",
                human(b.ttft_wait_s),
                (d.decode_replicas * c.batch).saturating_add(d.queued),
                d.queued,
                human(e.output_tokens_per_s / c.output_len as f64),
            ),
            Some(d) if b.ttft_wait_s > 0.0 => {
                let requests_per_s = e.output_tokens_per_s / c.output_len as f64;
                let capacity_per_s =
                    d.prefill_replicas as f64 * b.prefill_tokens_per_s / c.input_len as f64;
                let worker = if b.prefill_worker_wait_s > 0.0 {
                    let next = if ctx.prefill_overlap {
                        " and, under its overlap loop, the next one already formed"
                    } else {
                        ""
                    };
                    format!(
                        "; of it {} ms at the request's prefill worker, for the forward in flight{next}",
                        human(crate::units::s_to_ms(b.prefill_worker_wait_s)),
                    )
                } else {
                    String::new()
                };
                format!(
                    " + wait for the prefill pool {} s (the {} requests in flight complete at {} a second, {}% of the prefill pool's {} a second; mean-value analysis of the closed loop, Little's law once the pool is the slower{worker})",
                    human(b.ttft_wait_s),
                    d.decode_replicas * c.batch,
                    human(requests_per_s),
                    human(100.0 * requests_per_s / capacity_per_s),
                    human(capacity_per_s),
                )
            }
            None if b.held_iters > 0.0 => {
                let poll = (ctx.scheduler_recv_interval.max(1) as f64 + 1.0) / 2.0;
                let why = match (ctx.adp_balance, ctx.batch_wait) {
                    (Some(rule), _) if c.dp > 1 => format!(
                        "TensorRT-LLM's attention-DP balancing holds a new prompt until each of the {} attention groups has one or {} iterations pass, gathering {}",
                        c.dp, rule.timeout_iters, rule.wait_iters
                    ),
                    (_, Some(rule)) => format!(
                        "TensorRT-LLM's batch waiting holds new prompts until they and the decoding sequences fill {}% of the {}-token iteration budget or {} iterations pass",
                        human(100.0 * rule.max_tokens_ratio),
                        ctx.prefill_chunk_tokens,
                        rule.timeout_iters
                    ),
                    _ => String::new(),
                };
                format!(
                    " + wait {} ms ({} ms for the iteration in flight or the scheduler's poll, {} iterations on average, then {} ms for {} iterations more on average, decoding and prefilling the prompts released before it: {why}; replayed over the closed loop)",
                    human(crate::units::s_to_ms(b.ttft_wait_s)),
                    human(crate::units::s_to_ms(b.ttft_wait_s - b.held_s)),
                    human(poll),
                    human(crate::units::s_to_ms(b.held_s)),
                    human(b.held_iters),
                )
            }
            None if b.ttft_wait_s > 0.0 && ctx.scheduler_recv_interval > 1 => format!(
                " + wait for the scheduler's next poll {} ms (it takes new requests every {} decode iterations: {} on average)",
                human(crate::units::s_to_ms(b.ttft_wait_s)),
                ctx.scheduler_recv_interval,
                human((ctx.scheduler_recv_interval as f64 + 1.0) / 2.0)
            ),
            None if b.ttft_wait_s > 0.0 => format!(
                " + wait for the iteration in flight {} ms",
                human(crate::units::s_to_ms(b.ttft_wait_s))
            ),
            _ => String::new(),
        };
        let _ = writeln!(
            o,
            "  TTFT = front end {} ms{wait} + prefill{admit} = {} s",
            human(crate::units::s_to_ms(b.request_latency_s)),
            human(e.ttft_s)
        );
    } else {
        let _ = writeln!(o, "  TTFT = prefill = {} s", human(e.ttft_s));
    }

    let m = &b.memory;
    // What is left for the KV cache: none when the weights, activations and runtime alone
    // overflow the GPU (a negative room is never printed).
    let room = ctx.hw.mem_bytes - m.weights_bytes - m.activation_bytes - m.runtime_bytes;
    let kv_room = if room > 0.0 {
        format!(
            "the KV cache may take {}",
            human(bytes_to_gib(ctx.hw.kv_cache_free_fraction * room))
        )
    } else {
        format!(
            "weights, activations and runtime alone exceed it by {}, leaving no room for the KV cache",
            human(bytes_to_gib(-room))
        )
    };
    let _ = writeln!(
        o,
        "\nMemory on the heaviest GPU (GiB): weights {} + KV cache {} + activations {} + runtime {} = {} of {} total; {kv_room} → {}",
        human(bytes_to_gib(m.weights_bytes)),
        human(bytes_to_gib(m.kv_bytes)),
        human(bytes_to_gib(m.activation_bytes)),
        human(bytes_to_gib(m.runtime_bytes)),
        human(bytes_to_gib(e.mem_bytes_per_gpu)),
        human(bytes_to_gib(e.gpu_mem_bytes)),
        if e.fits { "fits" } else { "DOES NOT FIT" }
    );
    let _ = writeln!(
        o,
        "  mean weights per GPU over the {}replica: {} GB (the heaviest stage holds more when layers do not split evenly)",
        if c.disaggregate.is_some() {
            "decode "
        } else {
            ""
        },
        human(bytes_to_gb(b.mean_weights_bytes_per_gpu))
    );
    let pools = match c.disaggregate {
        Some(d) => format!(
            " ({} prefill replica(s) × {} GPUs + {} decode replica(s) × {} GPUs)",
            d.prefill_replicas,
            c.prefill_layout().gpus(),
            d.decode_replicas,
            c.gpus()
        ),
        None => String::new(),
    };
    let _ = writeln!(
        o,
        "\nCost: {} GPUs{pools} × ${}/h = ${}/h → ${} per 1M output tokens, ${} per 1M input tokens{}",
        e.gpus,
        human(ctx.hw.usd_per_gpu_hour),
        human(e.cost_per_hour_usd),
        human(e.usd_per_1m_output_tokens),
        human(e.usd_per_1m_input_tokens),
        if c.batching == crate::perf::Batching::Static && b.useful_fraction < 1.0 {
            format!(
                " (output tokens pay for the static batch's idle slot-steps: ÷ {})",
                human(b.useful_fraction)
            )
        } else {
            String::new()
        }
    );
    o
}

/// The simulation's outcome, for people.
pub fn simulation(w: &crate::sim::Workload, s: &crate::sim::SimResult) -> String {
    let mut o = String::new();
    let p = |x: &crate::sim::Percentiles, scale: f64| {
        format!(
            "p50 {} · p90 {} · p99 {}",
            human(x.p50 * scale),
            human(x.p90 * scale),
            human(x.p99 * scale)
        )
    };
    let _ = writeln!(
        o,
        "Simulated {} requests at {} req/s (Poisson, seed {}): {} finished, mean {} running per iteration",
        w.requests,
        human(w.rate_per_s),
        w.seed,
        s.completed,
        human(s.mean_batch)
    );
    let _ = writeln!(o, "  TTFT [s]:  {}", p(&s.ttft_s, 1.0));
    match &s.tpot_s {
        Some(t) => {
            let _ = writeln!(o, "  TPOT [ms]: {}", p(t, 1e3));
        }
        None => {
            let _ = writeln!(
                o,
                "  TPOT [ms]: n/a (every request ends with its first token)"
            );
        }
    }
    let _ = writeln!(o, "  E2E [s]:   {}", p(&s.e2e_s, 1.0));
    let _ = writeln!(
        o,
        "  output {} tok/s; mean wait in queue {} s",
        human(s.output_tokens_per_s),
        human(s.mean_queue_s)
    );
    if s.settled {
        let _ = writeln!(
            o,
            "  from the middle to the last arrival: served {} of {} offered output tok/s; {} requests in the replica at the middle arrival, {} at the last",
            human(s.served_output_tokens_per_s),
            human(s.offered_output_tokens_per_s),
            s.in_system_at_half,
            s.in_system_at_last
        );
    } else if !s.overloaded && !s.budget_exhausted {
        let _ = writeln!(
            o,
            "  too short to judge overload: no request finished before the middle arrival (raise --requests)"
        );
    }
    if s.overloaded {
        let _ = writeln!(
            o,
            "  OVERLOADED: the replica fell behind the arrivals (served below the offered rate, or the requests in it kept growing; {} waiting for a slot when the last one came); lower --rate or add replicas",
            s.backlog
        );
    }
    if s.budget_exhausted {
        let _ = writeln!(
            o,
            "  the step budget ran out before every request finished (raise --step-budget)"
        );
    }
    o
}

/// The line naming which of the two measured block-scaled fp8 fused-MoE kernels `fastest` took.
fn kernel_pick(deepgemm: bool) -> &'static str {
    if deepgemm {
        "routed experts on DeepGEMM's grouped GEMMs, faster than TRTLLM-gen's fused MoE at this load (moe-backend fastest; docs/methodology.md §4.4)"
    } else {
        "routed experts on TRTLLM-gen's fused MoE, faster than DeepGEMM's grouped GEMMs at this load (moe-backend fastest; docs/methodology.md §4.4)"
    }
}

/// The line on a fused-MoE kernel that multiplies whole row tiles (`RowTile`).
fn tile_note(t: crate::perf::experts::TiledRows) -> String {
    format!(
        "the experts' Triton kernel multiplies whole tiles of {:.0} rows: {:.0} rows for the busiest rank's {:.0} token-expert assignments ({:.2}×; methodology §4.4)",
        t.block_rows,
        t.multiplied_rows,
        t.assignments,
        t.multiplied_rows / t.assignments.max(1e-300)
    )
}
