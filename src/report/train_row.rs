//! The training row (contract field names and order, then the time and memory breakdown), its
//! table, and the explanation printed for a single configuration.

use super::{align, human, new_table};
use crate::train::TrainEstimate;
use crate::units::{bytes_to_gib, s_to_ms};
use std::fmt::Write;

crate::record! {
    /// One training row (`train`), serialised as-is to JSON and CSV.
    #[allow(missing_docs)] // the field names are the contract (docs/usage.md)
    pub struct TrainRow {
        model: String,
        gpu: String,
        gpus: u64,
        tp: u64,
        pp: u64,
        dp: u64,
        ep: u64,
        micro_batch: u64,
        global_batch_tokens: f64,
        seq_len: u64,
        dtype: &'static str,
        zero_stage: u64,
        recompute: &'static str,
        fits: bool,
        mem_bytes_per_gpu: f64,
        total_flops: f64,
        step_time_s: f64,
        tokens_per_s: f64,
        tflops_per_gpu: f64,
        mfu: f64,
        hw_tflops_per_gpu: f64,
        hfu: f64,
        bubble_fraction: f64,
        train_days: f64,
        gpu_hours: f64,
        cost_usd: f64,
        micro_batches: f64,
        interleave: u64,
        recompute_modules: String,
        cuda_graph_scope: String,
        attention_flops: f64,
        compute_s: f64,
        bubble_s: f64,
        tp_comm_s: f64,
        pp_comm_s: f64,
        dp_comm_s: f64,
        ep_comm_s: f64,
        host_s: f64,
        optimizer_s: f64,
        goodput: f64,
        weights_bytes_per_gpu: f64,
        grads_bytes_per_gpu: f64,
        optimizer_bytes_per_gpu: f64,
        activation_bytes_per_gpu: f64,
        tflops_per_gpu_causal: f64,
        mfu_causal: f64,
        tflops_per_gpu_full_attn: f64,
        mfu_full_attn: f64,
        tokens_per_s_per_gpu: f64,
    }
    higher: [fits, tokens_per_s, tflops_per_gpu, mfu, hw_tflops_per_gpu, hfu, goodput,
        tflops_per_gpu_causal, mfu_causal, tflops_per_gpu_full_attn, mfu_full_attn,
        tokens_per_s_per_gpu]
}

impl TrainRow {
    /// A row for `model` on `gpu`.
    pub fn new(model: &str, gpu: &str, e: &TrainEstimate) -> Self {
        let c = &e.config;
        let (s, m) = (&e.step, &e.memory);
        TrainRow {
            model: model.to_string(),
            gpu: gpu.to_string(),
            gpus: c.used_gpus(),
            tp: c.tp,
            pp: c.pp,
            dp: c.dp(),
            ep: c.ep,
            micro_batch: c.micro_batch,
            global_batch_tokens: c.global_batch_tokens,
            seq_len: c.seq_len,
            dtype: c.dtype.name(),
            zero_stage: u64::from(c.zero),
            recompute: c.recompute.name(),
            fits: e.fits,
            mem_bytes_per_gpu: m.total_bytes(),
            total_flops: e.total_flops,
            step_time_s: e.step_time_s,
            tokens_per_s: e.tokens_per_s,
            tflops_per_gpu: e.tflops_per_gpu,
            mfu: e.mfu,
            hw_tflops_per_gpu: e.hw_tflops_per_gpu,
            hfu: e.hfu,
            bubble_fraction: e.bubble_fraction,
            train_days: e.train_days,
            gpu_hours: e.gpu_hours,
            cost_usd: e.cost_usd,
            micro_batches: e.micro_batches,
            interleave: c.interleave,
            recompute_modules: c.effective_recompute_modules().name(),
            cuda_graph_scope: c.effective_cuda_graph_scope().name(),
            attention_flops: e.attention_flops,
            compute_s: s.compute_s,
            bubble_s: s.bubble_s,
            tp_comm_s: s.tp_comm_s,
            pp_comm_s: s.pp_comm_s,
            dp_comm_s: s.dp_comm_s,
            ep_comm_s: s.ep_comm_s,
            host_s: s.host_s,
            optimizer_s: s.optimizer_s,
            goodput: e.goodput,
            weights_bytes_per_gpu: m.weights_bytes,
            grads_bytes_per_gpu: m.grads_bytes,
            optimizer_bytes_per_gpu: m.optimizer_bytes,
            activation_bytes_per_gpu: m.activation_bytes,
            tflops_per_gpu_causal: e.tflops_per_gpu_causal,
            mfu_causal: e.mfu_causal,
            tflops_per_gpu_full_attn: e.tflops_per_gpu_full_attn,
            mfu_full_attn: e.mfu_full_attn,
            // The global batch over the step, per training GPU (how Megatron-Bridge and NeMo
            // publish throughput).
            tokens_per_s_per_gpu: e.tokens_per_s / c.used_gpus() as f64,
        }
    }
}

/// The training table.
pub fn table(rows: &[TrainRow], view: &super::View) -> super::Fitted {
    let markdown = view.markdown;
    let any_unfit = rows.iter().any(|r| !r.fits);
    // Model and GPU columns when the run compares several.
    let lead: Vec<&str> = [("model", view.varying.model), ("gpu", view.varying.gpu)]
        .into_iter()
        .filter_map(|(h, on)| on.then_some(h))
        .collect();
    let mut header = lead.clone();
    header.extend([
        "tp×pp×dp",
        "v",
        "ep",
        "mb",
        "zero",
        "recompute",
        "mem/GPU\n[GiB]",
        "step\n[s]",
        "MFU\n[%]",
        "HFU\n[%]",
        "bubble\n[%]",
        "comm\n[%]",
        "days",
        "GPU-hours\n[M]",
        "cost\n[$M]",
    ]);
    if any_unfit {
        header.push("fits");
    }
    let mut t = new_table(&header, markdown);
    for r in rows {
        let comm = r.tp_comm_s + r.pp_comm_s + r.dp_comm_s + r.ep_comm_s;
        let mut cells: Vec<String> = lead
            .iter()
            .map(|h| if *h == "model" { &r.model } else { &r.gpu }.clone())
            .collect();
        cells.extend([
            format!("{}×{}×{}", r.tp, r.pp, r.dp),
            r.interleave.to_string(),
            r.ep.to_string(),
            r.micro_batch.to_string(),
            r.zero_stage.to_string(),
            r.recompute.to_string(),
            human(bytes_to_gib(r.mem_bytes_per_gpu)),
            human(r.step_time_s),
            human(100.0 * r.mfu),
            human(100.0 * r.hfu),
            human(100.0 * r.bubble_fraction),
            human(100.0 * comm / r.step_time_s),
            human(r.train_days),
            human(r.gpu_hours / 1e6),
            human(r.cost_usd / 1e6),
        ]);
        if any_unfit {
            cells.push(if r.fits { "yes".into() } else { "NO".into() });
        }
        super::add_row(&mut t, cells, markdown);
    }
    let n = lead.len();
    let left: Vec<usize> = (0..n).chain([n + 5]).collect();
    align(&mut t, header.len(), &left);
    // Hidden first on a narrow terminal: HFU, bubble, comm, GPU-hours, interleave, memory, step
    // time, then the smaller axes.
    let order: Vec<usize> = [9, 10, 11, 13, 1, 6, 7, 4, 3, 2]
        .iter()
        .map(|i| i + n)
        .collect();
    super::fit(&mut t, view.width, &order)
}

/// "selective recomputation", "no recomputation", "recomputation of the modules layernorm, moe_act
/// only", "full recomputation": the run's recomputation in words.
fn recomputation_phrase(recompute: &str, modules: &str) -> String {
    match (recompute, modules) {
        ("none", "none") => "no recomputation".to_string(),
        ("none", m) => format!("recomputation of the modules {m} only"),
        (r, "none") => format!("{r} recomputation"),
        (r, m) => format!("{r} recomputation and the modules {m}"),
    }
}

/// Where one configuration's step time and memory go.
pub fn explain(r: &TrainRow, usable_hbm_bytes: f64) -> String {
    let mut o = String::new();
    let st = r.step_time_s;
    let pct = |x: f64| human(100.0 * x / st);
    let _ = writeln!(
        o,
        "{} on {} × {}: tp {} × pp {} × dp {}{}, ep {}, micro-batch {} × {} tokens, {} micro-batches per step, ZeRO-{}, {}, {}",
        r.model,
        r.gpus,
        r.gpu,
        r.tp,
        r.pp,
        r.dp,
        if r.interleave > 1 {
            format!(
                " ({} virtual stages per GPU, interleaved 1F1B)",
                r.interleave
            )
        } else {
            String::new()
        },
        r.ep,
        r.micro_batch,
        r.seq_len,
        r.micro_batches,
        r.zero_stage,
        recomputation_phrase(r.recompute, &r.recompute_modules),
        r.dtype
    );
    let _ = writeln!(
        o,
        "\nStep time {} s ({} tokens: {} tokens/s, {} per GPU):",
        human(st),
        human(r.global_batch_tokens),
        human(r.tokens_per_s),
        human(r.tokens_per_s_per_gpu)
    );
    for (name, v) in [
        (
            "compute (matmuls, attention, experts, elementwise, recompute)",
            r.compute_s,
        ),
        ("pipeline bubble", r.bubble_s),
        ("tensor-parallel collectives", r.tp_comm_s),
        ("pipeline sends", r.pp_comm_s),
        ("data-parallel sync, exposed", r.dp_comm_s),
        ("expert-parallel all-to-all, exposed", r.ep_comm_s),
        ("MoE layers' host time (GPU waiting for the CPU)", r.host_s),
        ("optimizer update", r.optimizer_s),
    ] {
        let _ = writeln!(
            o,
            "  {name:<61} {:>10} ms  {:>6}%",
            human(s_to_ms(v)),
            pct(v)
        );
    }
    let _ = writeln!(
        o,
        "  bubble fraction (p−1)/(v·m+p−1) = {}%; MFU {}% ({} TFLOP/s per GPU), HFU {}% ({} TFLOP/s)",
        human(100.0 * r.bubble_fraction),
        human(100.0 * r.mfu),
        human(r.tflops_per_gpu),
        human(100.0 * r.hfu),
        human(r.hw_tflops_per_gpu)
    );
    let _ = writeln!(
        o,
        "\nMemory on the heaviest GPU (GiB): weights {} + gradients {} + optimizer {} + activations {} + runtime {} = {} of {} → {}",
        human(bytes_to_gib(r.weights_bytes_per_gpu)),
        human(bytes_to_gib(r.grads_bytes_per_gpu)),
        human(bytes_to_gib(r.optimizer_bytes_per_gpu)),
        human(bytes_to_gib(r.activation_bytes_per_gpu)),
        // The framework's own memory (CUDA context, allocator reserve): the rest of the total.
        human(bytes_to_gib(
            (r.mem_bytes_per_gpu
                - r.weights_bytes_per_gpu
                - r.grads_bytes_per_gpu
                - r.optimizer_bytes_per_gpu
                - r.activation_bytes_per_gpu)
                .max(0.0)
        )),
        human(bytes_to_gib(r.mem_bytes_per_gpu)),
        human(bytes_to_gib(usable_hbm_bytes)),
        if r.fits { "fits" } else { "DOES NOT FIT" }
    );
    let _ = writeln!(
        o,
        "\nRun: {:.3e} FLOP (6·N·D) + {:.3e} FLOP of attention → {} days{}, {} M GPU-hours, ${} M",
        r.total_flops,
        r.attention_flops,
        human(r.train_days),
        if r.goodput < 1.0 {
            format!(" at {}% goodput", human(100.0 * r.goodput))
        } else {
            String::new()
        },
        human(r.gpu_hours / 1e6),
        human(r.cost_usd / 1e6)
    );
    o
}

/// Where one MoE layer's micro-batch goes on the busiest GPU, all passes (`train::step::layer_time`).
pub fn explain_moe_layer(t: &crate::train::step::LayerTime, tokens: u64) -> String {
    let mut o = String::new();
    let ms = |x: f64| human(s_to_ms(x));
    let _ = writeln!(
        o,
        "One MoE layer, one micro-batch of {tokens} tokens, forward and backward, on the busiest GPU:"
    );
    for (name, v) in [
        (
            "attention side (projections, attention, shared experts, norms, elementwise)",
            t.attention_side_s,
        ),
        (
            "routed experts (grouped GEMMs, their glue and fixed times)",
            t.experts_s,
        ),
        ("router scores, permute and unpermute", t.routing_s),
        ("tensor-parallel collectives, exposed", t.tp_comm_s),
    ] {
        let _ = writeln!(o, "  {name:<76} {:>8} ms", ms(v));
    }
    let _ = writeln!(
        o,
        "  {:<76} {:>8} ms",
        format!(
            "expert-parallel all-to-alls {} ms, {} ms hidden under compute; exposed",
            ms(t.all_to_all_s),
            ms(t.all_to_all_s - t.ep_comm_s)
        ),
        ms(t.ep_comm_s)
    );
    let host = if t.host_issue_s > 0.0 {
        format!(
            "behind the layer's sync the host issues {} eager operators; the GPU waits",
            human(t.host_ops)
        )
    } else {
        // A runtime that replays the step from CUDA graphs (host_op_scale 0), or a host priced
        // at no time per operator.
        "no host time (the layer replays from a CUDA graph); the GPU waits".to_string()
    };
    let _ = writeln!(o, "  {host:<76} {:>8} ms", ms(t.host_s));
    let _ = writeln!(
        o,
        "  {:<76} {:>8} ms",
        "layer",
        ms(t.compute_s + t.tp_comm_s + t.ep_comm_s + t.host_s)
    );
    o
}
