//! MoE at production scale: the token exchange computed by hand (on a node, across nodes through
//! one NIC per GPU, with node-limited routing), what an attention data-parallel layout holds, and
//! MLA decode turning compute-bound (docs/methodology.md §5.3, §6.2, §4.1).

mod common;

use common::{context, run, run_cli};
use gpt4calc::dtype::Dtype;
use gpt4calc::perf::dispatch::{
    EpPlacement, FP8_SCALE_BYTES_PER_ELEM, Phase, exchange_s, expected_units_reached,
    miss_probability, sends_per_token,
};
use gpt4calc::perf::moe::busiest_rank_factor;
use gpt4calc::perf::{Config, Layout, MoeDispatch, Reject};
use gpt4calc::testutil::assert_close;

/// A 16-expert top-2 model small enough to follow by hand (GPT-4's routing, d = 4096).
const SMALL_MOE: [&str; 5] = [
    "model.experts=16",
    "model.top_k=2",
    "model.d_model=4096",
    "model.heads=32",
    "model.head_dim=128",
];

fn dep(tp: u64, dp: u64, ep: u64, dispatch: MoeDispatch) -> Config {
    Config {
        dp,
        ep,
        moe_dispatch: dispatch,
        ..Config::new(tp, 1, 128 * dp, 1024, 256, Dtype::Fp8)
    }
}

#[test]
fn all_to_all_on_one_node_by_hand() {
    // 8 ranks of 2 experts (E = 16, k = 2) on one H100 node. A token misses a rank with
    // probability C(14,2)/C(16,2) = 91/120, so it reaches 8 · 29/120 = 1.9333 ranks and crosses
    // NVLink 1.9333 · (1 − 1/8) = 1.6917 times. Each GPU sends 128 tokens of 4096 fp8 values plus
    // one fp32 scale per 128 (540,672 B a send): 914,637 B at 450 GB/s × 0.70 (NCCL's measured
    // all-to-all) = 2.904 µs, times the busiest rank's load over 1024 tokens, after α = 7.4 µs
    // (paid once: the busiest rank receives more bytes, not more start-ups).
    let ctx = context("gpt4-8k", "h100", &SMALL_MOE);
    let c = dep(1, 8, 8, MoeDispatch::AllToAll);
    let r = ctx.rates(&c);
    let p = EpPlacement::new(&ctx.hw, 8, 8);
    let (nv, net) = sends_per_token(&ctx.model, None, p);
    assert_close(nv, 8.0 * 29.0 / 120.0 * 7.0 / 8.0, 1e-12);
    assert_close(net, 0.0, 0.0);
    let bytes = 128.0 * 4096.0 * (1.0 + FP8_SCALE_BYTES_PER_ELEM);
    assert_close(bytes, 540_672.0, 1e-12);
    let imbalance = busiest_rank_factor(16.0, 2.0, 1024.0, 8);
    let want = 7.4e-6 + imbalance * nv * bytes / (450e9 * 0.70);
    let (dispatch_s, combine_s) =
        exchange_s(&ctx.hw, &r, &ctx.model, None, 128.0, 1024.0, Phase::Prefill);
    assert_close(dispatch_s, want, 1e-9);
    assert_close(nv * bytes / (450e9 * 0.70), 2.904e-6, 1e-3);
    // The combine carries 16-bit outputs back: 2 bytes per element, no scales.
    let want_combine = 7.4e-6 + imbalance * nv * 128.0 * 4096.0 * 2.0 / (450e9 * 0.70);
    assert_close(combine_s, want_combine, 1e-9);
}

#[test]
fn all_to_all_across_nodes_leaves_through_one_nic_per_gpu() {
    // 16 ranks of one expert over two H100 nodes. A token reaches k = 2 ranks (16 · 15/120) and
    // 2 · (1 − C(8,2)/C(16,2)) = 1.5333 nodes: it crosses NVLink 2 · (1 − 1/8) = 1.75 times and
    // the network 1.5333 · (1 − 1/2) = 0.7667 times. The network part goes through the sending
    // GPU's own 400 Gb/s NIC (× 0.85 = 42.5 GB/s, α 20 µs), not the node's eight: with 128 tokens
    // of 4096 fp8 values, 20 + 0.7667 · 540,672 / 42.5e9 s = 29.75 µs, which outlasts NVLink's
    // 7.4 + 1.75 · 540,672 / 315e9 s = 10.4 µs. Eight NICs would have made it 21.2 µs.
    let ctx = context("gpt4-8k", "h100", &SMALL_MOE);
    let c = dep(1, 16, 16, MoeDispatch::AllToAll);
    let r = ctx.rates(&c);
    let p = EpPlacement::new(&ctx.hw, 16, 16);
    let (nv, net) = sends_per_token(&ctx.model, None, p);
    assert_close(nv, 2.0 * 7.0 / 8.0, 1e-12);
    assert_close(net, 2.0 * (1.0 - 28.0 / 120.0) * 0.5, 1e-12);
    let bytes = 128.0 * 4096.0 * (1.0 + FP8_SCALE_BYTES_PER_ELEM);
    let nic = 50e9 * 0.85;
    let one_nic_s = 20e-6 + net * bytes / nic;
    assert_close(one_nic_s, 29.755e-6, 1e-3);
    let imbalance = busiest_rank_factor(16.0, 2.0, 2048.0, 16);
    let (dispatch_s, _) = exchange_s(&ctx.hw, &r, &ctx.model, None, 128.0, 2048.0, Phase::Prefill);
    assert_close(dispatch_s, 20e-6 + imbalance * net * bytes / nic, 1e-9);
    let eight_nics_s = 20e-6 + net * bytes / (8.0 * nic);
    assert!(dispatch_s > 1.3 * eight_nics_s);
}

#[test]
fn node_limited_routing_caps_the_nodes_a_token_reaches() {
    // DeepSeek-V3 (256 experts, top-8, 8 groups of which 4 per token; report §3.2.2) with EP 64
    // over 8 nodes, one expert group per node: a token reaches exactly the 4 chosen groups' nodes,
    // so it crosses the network 4 · (1 − 1/8) = 3.5 times. Without the limit it would reach
    // 8 · (1 − C(224,8)/C(256,8)) = 5.29 nodes, 4.6 network sends.
    let ctx = context("deepseek-v3", "h100", &[]);
    let p = EpPlacement::new(&ctx.hw, 64, 64);
    let groups = ctx.model.routing_groups;
    assert!(groups.is_some(), "deepseek-v3 declares its routing groups");
    let (_, net) = sends_per_token(&ctx.model, groups, p);
    assert_close(net, 3.5, 1e-12);
    let (_, free) = sends_per_token(&ctx.model, None, p);
    let nodes = 8.0 * (1.0 - miss_probability(256.0, 32.0, 8.0));
    assert_close(free, nodes * 7.0 / 8.0, 1e-12);
    assert_close(nodes, 5.295, 0.001);
    assert_close(expected_units_reached(256.0, 8.0, 8.0, groups), 4.0, 1e-12);
    // End to end, the limit shortens DeepSeek's wide-EP dispatch.
    let c = dep(1, 64, 64, MoeDispatch::AllToAll);
    let r = ctx.rates(&c);
    let with = exchange_s(
        &ctx.hw,
        &r,
        &ctx.model,
        groups,
        128.0,
        8192.0,
        Phase::Prefill,
    )
    .0;
    let without = exchange_s(&ctx.hw, &r, &ctx.model, None, 128.0, 8192.0, Phase::Prefill).0;
    assert!(with < 0.85 * without, "{with} vs {without}");
}

#[test]
fn an_attention_data_parallel_layout_replicates_attention_and_keeps_its_own_kv() {
    // DeepSeek-V3 on 8 H200, fp8: TP8 splits the attention weights 8 ways (all but MLA's
    // down-projections to the latents, which every GPU of the group holds whole) but, MLA's latent
    // being one KV head, copies every sequence's cache to all 8 GPUs. DEP8 (tp 1, dp 8, ep 8)
    // holds all attention weights on every GPU (and what follows the attention group: the three
    // leading dense FFNs, the shared expert, the embeddings and head) and only its own 1/8 of the
    // sequences' cache. The routed experts are split 8 ways in both.
    let ctx = context("deepseek-v3", "h200", &[]);
    let m = ctx.model;
    let tp8 = Config {
        ep: 8,
        ..Config::new(8, 1, 256, 2048, 256, Dtype::Fp8)
    };
    let dep8 = Config {
        dp: 8,
        ep: 8,
        ..Config::new(1, 1, 256, 2048, 256, Dtype::Fp8)
    };
    let (a, b) = (run(&ctx, &tp8), run(&ctx, &dep8));
    let attn_per_layer =
        m.attn_params_per_layer - m.attn_replicated_params_per_layer + m.norm_params_per_layer;
    // d·(d_c' + d_c + d_R) = 7168 · (1536 + 512 + 64) held whole on every GPU either way.
    assert_close(m.attn_replicated_params_per_layer, 15_138_816.0, 0.0);
    let weights_gap = b.weights_bytes_per_gpu - a.weights_bytes_per_gpu;
    // Replicated instead of split by 8: attention (61 layers), the 3 dense FFNs, the shared
    // expert of the 58 MoE layers, the embeddings and the head (V·d each).
    let replicated = m.layers * attn_per_layer
        + m.dense_layers * m.dense_ffn_params_per_layer
        + m.moe_layers * m.shared_experts * m.ffn_params_per_expert_per_layer
        + 2.0 * m.vocab * m.d_model;
    let want = replicated * (1.0 - 1.0 / 8.0);
    assert_close(weights_gap, want, 1e-9);
    // Each GPU's KV cache: every sequence under TP8 (a replicated latent), its own 32 under DEP8.
    assert_close(a.kv_bytes_per_gpu / b.kv_bytes_per_gpu, 8.0, 1e-9);
    let per_seq = m.kv_bytes_per_token(1.0) * (2048.0 + 256.0);
    assert_close(b.kv_bytes_per_gpu, 32.0 * per_seq, 1e-9);
    // The layouts' names and GPU counts.
    assert_eq!(dep8.layout().name(), "DP8 EP8");
    assert_eq!(tp8.layout().name(), "TP8 EP8");
    assert_eq!(dep8.gpus(), 8);
}

#[test]
fn mla_decode_turns_compute_bound_at_long_context() {
    // DeepSeek-V3 decode runs MLA absorbed: 2·128·(2·512 + 64) = 278,528 FLOP per layer for each
    // (sequence, cached token) pair against 576 cached bytes (fp8), 484 FLOP a byte, above the
    // H200's attention ridge. With all 128 heads on a GPU (DEP8), the attention core is
    // compute-bound at any context, and as the context grows it takes over the step: the decode
    // step is memory-bound at 1k and compute-bound at 64k. (At 32k it is not quite: the six
    // projection GEMMs at 32 rows stream their weights, and their measured small-m floor, 74 µs a
    // layer, counts with that memory-bound time.)
    let ctx = context("deepseek-v3", "h200", &[]);
    assert_close(
        ctx.model.attn_decode_flops_per_ctx_per_layer,
        2.0 * 128.0 * (2.0 * 512.0 + 64.0),
        1e-12,
    );
    let at = |input_len: u64| {
        let c = Config {
            dp: 8,
            ep: 8,
            kv_dtype: Dtype::Fp8,
            ..Config::new(1, 1, 256, input_len, 256, Dtype::Fp8)
        };
        run(&ctx, &c)
    };
    let (short, long) = (at(1024), at(65536));
    let core = long.breakdown.decode_layer.attn_core;
    assert!(core.compute_s > core.memory_s, "{core:?}");
    assert_eq!(short.decode_bound.name(), "memory");
    assert_eq!(long.decode_bound.name(), "compute");
    // Prefill keeps the decompressed form: 2·128·(192 + 128) per pair.
    assert_close(
        ctx.model.attn_score_flops_per_ctx_per_layer,
        2.0 * 128.0 * 320.0,
        1e-12,
    );
}

#[test]
fn wide_ep_splits_the_experts_over_every_gpu_of_the_stage() {
    // Qwen3-like fine-grained MoE on DeepSeek: DEP 32 over four nodes holds 256/32 = 8 experts
    // per GPU; with 32 redundant replicas 288/32 = 9. Expert TP is tp·dp/ep.
    let ctx = context("deepseek-v3", "h100", &[]);
    let base = Config {
        dp: 32,
        ep: 32,
        ..Config::new(1, 1, 1024, 2048, 256, Dtype::Fp8)
    };
    let redundant = Config {
        redundant_experts: 32,
        ..base
    };
    let (a, b) = (run(&ctx, &base), run(&ctx, &redundant));
    let expert_layer = ctx.model.ffn_params_per_expert_per_layer * ctx.model.moe_layers;
    assert_close(
        b.weights_bytes_per_gpu - a.weights_bytes_per_gpu,
        expert_layer,
        1e-9,
    );
    let l = Layout {
        tp: 2,
        dp: 16,
        pp: 1,
        ep: 8,
    };
    assert_eq!(l.expert_tp(), 4);
    assert_eq!(l.gpus(), 32);
}

#[test]
fn the_all_to_all_reproduces_deepep_normal_kernels_across_nodes() {
    // DeepEP README (deepseek-ai/DeepEP, April 2025 table): normal kernels on H800 (NVLink 200 GB/s
    // a direction) with one 400 Gb/s CX7 NIC per GPU, 4096 tokens per GPU, hidden 7168, top-8 of
    // 256 experts, fp8 dispatch and bf16 combine, the test's group-limited routing (as many groups
    // as nodes, at most 4 per token). Measured: EP32 dispatch 1888 µs, combine 3726 µs; EP64
    // dispatch 2365 µs, combine 4678 µs. The model, with the H100 preset's NIC efficiency (0.85)
    // and NCCL's measured NVLink all-to-all efficiency, gives 1.045, 1.022, 1.076 and 1.051 of
    // them (checked within −5%…+15%): the NIC, each GPU's own, is the bottleneck.
    for (ep, groups, dispatch_us, combine_us) in [(32, 4, 1888.0, 3726.0), (64, 8, 2365.0, 4678.0)]
    {
        let g = format!("model.routing_groups={groups}");
        let ctx = context(
            "deepseek-v3",
            "h100",
            &[
                "gpu.node.scaleup_gb_s=200",
                &g,
                "model.routing_groups_per_token=4",
            ],
        );
        let c = dep(1, ep, ep, MoeDispatch::AllToAll);
        let r = ctx.rates(&c);
        let tokens = 4096.0;
        let (d, cb) = exchange_s(
            &ctx.hw,
            &r,
            &ctx.model,
            ctx.model.routing_groups,
            tokens,
            tokens * ep as f64,
            Phase::Prefill,
        );
        for (what, model_s, measured_us) in
            [("dispatch", d, dispatch_us), ("combine", cb, combine_us)]
        {
            let ratio = model_s / (measured_us * 1e-6);
            assert!(
                (0.95..=1.15).contains(&ratio),
                "EP{ep} {what}: model/measured {ratio:.3}"
            );
        }
    }
}

#[test]
fn a_decode_exchange_across_nodes_reproduces_deepep_low_latency_kernels() {
    // DeepEP's low-latency kernels (deepseek-ai/DeepEP docs/legacy.md, V1 table): H800 with one
    // 400 Gb/s CX7 NIC per GPU, 128 tokens a GPU, hidden 7168, top-8 of 256 experts (uniform
    // routing), fp8 dispatch and bf16 combine, 8 GPUs a node. Each (token, expert) copy goes to its
    // expert on its own; of a token's 8 copies 8·(1 − 1/nodes) cross the network. Measured (µs):
    // dispatch 118, 155, 173, 192, 194 and combine 195, 273, 314, 369, 360 at EP 16 … 256. The
    // model prices a decode step's exchange so, at the H100 preset's NIC (400 Gb/s × 0.85) and
    // start-up (20 µs), no constant of its own: 0.96–1.10 of every measurement. The same
    // exchange priced as the normal kernels (one copy per node a token reaches) is 1.1–2.4×
    // faster: the low-latency kernels trade bytes for CUDA-graph replay.
    let measured = [
        (16, 118.0, 195.0),
        (32, 155.0, 273.0),
        (64, 173.0, 314.0),
        (128, 192.0, 369.0),
        (256, 194.0, 360.0),
    ];
    for (ep, dispatch_us, combine_us) in measured {
        let ctx = context("deepseek-v3", "h100", &["gpu.node.scaleup_gb_s=200"]);
        let c = dep(1, ep, ep, MoeDispatch::AllToAll);
        let r = ctx.rates(&c);
        let tokens = 128.0;
        let stage = tokens * ep as f64;
        let exchange = |phase| exchange_s(&ctx.hw, &r, &ctx.model, None, tokens, stage, phase);
        let (d, cb) = exchange(Phase::Decode);
        for (what, model_s, measured_us) in
            [("dispatch", d, dispatch_us), ("combine", cb, combine_us)]
        {
            let ratio = model_s / (measured_us * 1e-6);
            assert!(
                (0.95..=1.11).contains(&ratio),
                "EP{ep} {what}: model/measured {ratio:.3}"
            );
        }
        let (normal_d, normal_cb) = exchange(Phase::Prefill);
        assert!(
            normal_d < d && normal_cb < cb,
            "EP{ep}: the normal kernels' deduplicated sends should cost less"
        );
    }
}

#[test]
fn the_same_wide_ep_layout_stays_on_nvlink_in_an_nvl72_rack_and_pays_the_nics_on_hgx() {
    // DeepSeek-V3 in NVFP4, attention DP 32 + EP 32 (8 experts a rank), 128 tokens a GPU sent
    // as fp8 with one fp32 scale per 128 values.
    // - GB200 NVL72: the 32 GPUs sit in one 72-GPU NVLink domain (8 of its 4-GPU trays), so no
    //   token leaves NVLink. A token reaches `expected_units_reached` ranks under the routing
    //   groups' limit, every one but its own an NVLink send at NVLink 5's 900 GB/s × 0.63 (the
    //   B200 all-to-all measurement the uncalibrated preset borrows), after α = 10.7 µs.
    // - HGX B200: the same layout spans 4 nodes of 8, two routing groups a node. A token's 4 groups
    //   land on 4 · (1 − C(6,4)/C(8,4)) = 3.143 nodes: 3.143 · (1 − 1/4) = 2.357 network sends
    //   through the GPU's own 400 Gb/s NIC (× 0.85), after α = 20 µs, several times slower.
    let sent = 128.0;
    let bytes = sent * 7168.0 * (1.0 + FP8_SCALE_BYTES_PER_ELEM);
    let at = |gpu: &str| {
        let ctx = context("deepseek-v3", gpu, &[]);
        let c = Config {
            dp: 32,
            ep: 32,
            ..Config::new(1, 1, 128 * 32, 1024, 256, Dtype::Nvfp4)
        };
        let r = ctx.rates(&c);
        let groups = ctx.model.routing_groups;
        let p = EpPlacement::new(&ctx.hw, 32, 32);
        let sends = sends_per_token(&ctx.model, groups, p);
        let imbalance = busiest_rank_factor(256.0, 8.0, 128.0 * 32.0, 32);
        let (dispatch_s, _) = exchange_s(
            &ctx.hw,
            &r,
            &ctx.model,
            groups,
            sent,
            sent * 32.0,
            Phase::Prefill,
        );
        (sends, imbalance, dispatch_s)
    };
    let ((nv, net), imbalance, rack_s) = at("gb200-nvl72");
    assert_close(net, 0.0, 0.0);
    let ranks = expected_units_reached(256.0, 8.0, 32.0, Some(gpt4calc_groups()));
    assert_close(nv, ranks * 31.0 / 32.0, 1e-12);
    assert_close(
        rack_s,
        10.7e-6 + imbalance * nv * bytes / (900e9 * 0.63),
        1e-9,
    );
    let ((_, hgx_net), hgx_imbalance, hgx_s) = at("b200");
    let nodes = 4.0 * (1.0 - 15.0 / 70.0);
    assert_close(hgx_net, nodes * (1.0 - 1.0 / 4.0), 1e-12);
    assert_close(hgx_net, 2.357, 1e-3);
    assert_close(
        hgx_s,
        20e-6 + hgx_imbalance * hgx_net * bytes / (50e9 * 0.85),
        1e-9,
    );
    assert!(hgx_s > 3.0 * rack_s, "HGX {hgx_s} vs NVL72 {rack_s}");
}

/// DeepSeek-V3's node-limited routing: 8 groups, a token within 4 of them.
fn gpt4calc_groups() -> gpt4calc::perf::dispatch::RoutingGroups {
    context("deepseek-v3", "h100", &[])
        .model
        .routing_groups
        .expect("deepseek-v3 declares routing groups")
}

#[test]
fn fp4_weights_run_fp4_math_only_where_the_tensor_cores_have_it() {
    // B200 (9 PF dense FP4) and MI355X (10.07 PF MXFP4) multiply in FP4; H200 has no FP4 tensor
    // cores, so its FP4 weights are dequantised into 16-bit math (989.4 TFLOP/s).
    for (gpu, dtype, math, tflops) in [
        ("b200", Dtype::Nvfp4, Dtype::Nvfp4, 9000.0),
        ("gb300-nvl72", Dtype::Nvfp4, Dtype::Nvfp4, 15000.0),
        ("mi355x", Dtype::Mxfp4, Dtype::Mxfp4, 10066.3),
        ("h200", Dtype::Nvfp4, Dtype::Fp16, 989.4),
    ] {
        let ctx = context("deepseek-v3", gpu, &[]);
        let (d, peak) = ctx.math(dtype).expect("a math precision");
        assert_eq!(d, math, "{gpu}");
        assert_close(peak, tflops * 1e12, 1e-12);
    }
    // The weights take 4.5 bits a value whichever math runs them.
    let ctx = context("deepseek-v3", "h200", &[]);
    let r = ctx.rates(&Config::new(8, 1, 1, 1024, 256, Dtype::Nvfp4));
    assert_close(r.weight_bytes, 0.5625, 1e-12);
}

#[test]
fn mxfp4_weights_with_fp8_activations_multiply_at_the_fp8_rate() {
    // W4A8 (`act_dtype = fp8`): gpt-oss's MXFP4 experts with MXFP8 activations, what TensorRT-LLM
    // runs on Blackwell (examples/models/core/gpt_oss/README.md). The weights keep 4.25 bits a
    // value; the math runs at B200's fp8 peak (4.5 PF dense) on the W4A8 fused-MoE kernel
    // (`[gpu.fused_moe.w4a8]`: compute 0.49, memory 0.53, 24.4 µs, 1.68 ns). Its compute share is
    // the FP4 kernel's (both 0.49), so the same experts' grouped-GEMM compute takes exactly twice
    // the FP4-math time (9 PF over 4.5 PF) at a prefill-sized load.
    use gpt4calc::perf::experts::{ExpertLoad, expert_kernels};
    let ctx = context("gpt-oss-120b", "b200", &[]);
    let fp4 = Config {
        dense_dtype: Some(Dtype::Bf16),
        ..Config::new(1, 1, 1, 1024, 1024, Dtype::Mxfp4)
    };
    let w4a8 = Config {
        act_dtype: Some(Dtype::Fp8),
        ..fp4
    };
    let (a, b) = (ctx.rates(&fp4), ctx.rates(&w4a8));
    assert_eq!((a.math_dtype, b.math_dtype), (Dtype::Mxfp4, Dtype::Fp8));
    assert_close(b.peak_flops_per_s, 4500e12, 1e-12);
    assert_close(a.weight_bytes, 4.25 / 8.0, 1e-12);
    assert_close(b.weight_bytes, a.weight_bytes, 0.0);
    let k = ctx.fused_moe(&b);
    assert_close(k.compute, 0.49, 0.0);
    assert_close(k.fixed_s, 24.4e-6, 1e-12);
    assert_close(k.routing_s, 1.68e-9, 1e-12);
    let load = ExpertLoad {
        stage_tokens: 8192.0,
        rows: 8192.0,
    };
    let compute_s = |r| {
        let e = expert_kernels(&ctx, r, load);
        e.up.compute_s + e.down.compute_s
    };
    assert_close(compute_s(&b) / compute_s(&a), 2.0, 1e-12);
    // Whole deployments: the same weights in memory, slower prefill.
    let (ea, eb) = (run(&ctx, &fp4), run(&ctx, &w4a8));
    assert_close(eb.weights_bytes_per_gpu, ea.weights_bytes_per_gpu, 0.0);
    assert!(eb.ttft_s > ea.ttft_s && eb.usd_per_1m_input_tokens > ea.usd_per_1m_input_tokens);
    // Activations narrower than the weights do not apply (a sweep skips them); a GPU without
    // the precision's rate is an error naming the flag.
    let narrow = Config {
        act_dtype: Some(Dtype::Fp8),
        ..Config::new(1, 1, 1, 1024, 1024, Dtype::Bf16)
    };
    assert!(matches!(ctx.check(&narrow), Err(Reject::Skip(m)) if m.contains("--act-dtype fp8")));
    // The table names the math after the weights, `×`; an A100 has no fp8 to run it in.
    let args = [
        "estimate",
        "-m",
        "gpt-oss-120b",
        "-g",
        "b200",
        "--dtype",
        "mxfp4",
        "--dense-dtype",
        "bf16",
        "--act-dtype",
        "fp8",
    ];
    let (out, _) = run_cli(&args, 0);
    assert!(out.contains("mxfp4×fp8+bf16"), "{out}");
    // --explain says when a GPU has no W4A8 kernel of its own (H100 takes its fp8 kernel's).
    let explain = |gpu: &str| {
        let (out, _) = run_cli(
            &[&args[..4], &[gpu], &args[5..], &["--explain"]].concat(),
            0,
        );
        out.contains("no measured W4A8 fused-MoE kernel")
    };
    assert!(!explain("b200") && explain("h100"));
    let (_, err) = run_cli(&[&args[..4], &["a100-80g"], &args[5..]].concat(), 1);
    assert!(
        err.contains("--act-dtype fp8") && err.contains("gpu.tflops.fp8"),
        "{err}"
    );
    // Activations are 16- or 8-bit floating point.
    let int4_acts = Config {
        act_dtype: Some(Dtype::Int4),
        ..fp4
    };
    assert!(
        matches!(ctx.check(&int4_acts), Err(Reject::Invalid(m)) if m.contains("bf16, fp16 or fp8"))
    );
    let a100 = context("gpt-oss-120b", "a100-80g", &[]);
    let no_fp8 = Config {
        act_dtype: Some(Dtype::Fp8),
        ..Config::new(1, 1, 1, 1024, 1024, Dtype::Int4)
    };
    assert!(
        matches!(a100.check(&no_fp8), Err(Reject::Invalid(m)) if m.contains("--act-dtype fp8") && m.contains("gpu.tflops.fp8"))
    );
}

/// DeepSeek-V3 on one HGX B200 node, TP 8 × EP 8, with the routed experts in `dtype` and the
/// other linear layers in `dense`.
fn quantised(dtype: Dtype, dense: Option<Dtype>, batch: u64) -> Config {
    Config {
        ep: 8,
        dense_dtype: dense,
        ..Config::new(8, 1, batch, 4096, 256, dtype)
    }
}

#[test]
fn experts_only_quantisation_weighs_each_part_in_its_own_precision() {
    // Weights per GPU are D·w_dense + R·w_experts (D the attention, router and embedding
    // parameters on the GPU, R its routed experts', shared experts' and dense FFNs'). Swapping the two
    // precisions and adding gives (D + R)·(w_a + w_b) = the all-bf16 weights · (2 + 0.5625) / 2,
    // whatever D and R are (NVFP4: 4 bits + one fp8 scale per 16 = 0.5625 bytes).
    let ctx = context("deepseek-v3", "b200", &[]);
    let w =
        |d: Dtype, dense: Option<Dtype>| run(&ctx, &quantised(d, dense, 1)).weights_bytes_per_gpu;
    let experts_fp4 = w(Dtype::Nvfp4, Some(Dtype::Bf16));
    let dense_fp4 = w(Dtype::Bf16, Some(Dtype::Nvfp4));
    let all_bf16 = w(Dtype::Bf16, None);
    assert_close(
        experts_fp4 + dense_fp4,
        all_bf16 * (2.0 + 0.5625) / 2.0,
        1e-9,
    );
    // The routed experts are most of DeepSeek-V3 (654B of 671B): the dense part in bf16 adds
    // about 1.4375 bytes × 13B / 8 GPUs ≈ 2.4 GB a GPU.
    let all_fp4 = w(Dtype::Nvfp4, None);
    let extra = experts_fp4 - all_fp4;
    assert!(extra > 2.0e9 && extra < 5.0e9, "{extra}");
}

#[test]
fn a_dense_precision_equal_to_the_weights_changes_nothing() {
    let ctx = context("deepseek-v3", "b200", &[]);
    for batch in [1, 64, 1024] {
        let plain = run(&ctx, &quantised(Dtype::Nvfp4, None, batch));
        let same = run(&ctx, &quantised(Dtype::Nvfp4, Some(Dtype::Nvfp4), batch));
        // Bit for bit: the same rates are taken, not recomputed.
        assert_eq!(plain.tpot_s.to_bits(), same.tpot_s.to_bits());
        assert_eq!(plain.ttft_s.to_bits(), same.ttft_s.to_bits());
        assert_eq!(
            plain.weights_bytes_per_gpu.to_bits(),
            same.weights_bytes_per_gpu.to_bits()
        );
    }
}

#[test]
fn bf16_dense_layers_pay_the_smaller_bf16_gemm_floor_at_batch_one() {
    // Batch-1 decode is floor-bound: a bf16 GEMM's measured small-m floor on B200 (2.3 µs) is
    // below an NVFP4 GEMM's (8.9 µs, the activation quantisation included), and MLA has five
    // projections a layer, so the mixed checkpoint decodes faster than an all-FP4 one although
    // it reads 2.4 GB more weights a GPU.
    let ctx = context("deepseek-v3", "b200", &[]);
    let fp4 = run(&ctx, &quantised(Dtype::Nvfp4, None, 1));
    let mixed = run(&ctx, &quantised(Dtype::Nvfp4, Some(Dtype::Bf16), 1));
    assert!(mixed.tpot_s < fp4.tpot_s, "{} {}", mixed.tpot_s, fp4.tpot_s);
    assert!(mixed.weights_bytes_per_gpu > fp4.weights_bytes_per_gpu);
}

#[test]
fn dense_dtype_on_the_command_line() {
    let args = [
        "estimate",
        "-m",
        "deepseek-v3",
        "-g",
        "b200",
        "--dtype",
        "nvfp4",
        "--dense-dtype",
        "bf16",
        "--tp",
        "8",
        "--ep",
        "8",
        "--batch",
        "1",
    ];
    let (table, _) = run_cli(&args, 0);
    assert!(table.contains("nvfp4+bf16"), "{table}");
    let mut json = args.to_vec();
    json.extend(["--format", "json"]);
    let (out, _) = run_cli(&json, 0);
    assert!(out.contains("\"dense_dtype\": \"bf16\""), "{out}");
    assert!(out.contains("\"attn_out_dtype\": \"bf16\""), "{out}");
    // NVIDIA's -v2 checkpoints: the attention output projection in NVFP4 too, named in the row
    // and in --explain.
    let mut v2 = args.to_vec();
    v2.extend(["--attn-out-dtype", "nvfp4"]);
    let mut v2_json = v2.clone();
    v2_json.extend(["--format", "json"]);
    let (out, _) = run_cli(&v2_json, 0);
    assert!(out.contains("\"attn_out_dtype\": \"nvfp4\""), "{out}");
    v2.push("--explain");
    let (explain, _) = run_cli(&v2, 0);
    assert!(
        explain.contains("bf16 in attention projections, router and head, nvfp4 in the attention output projection"),
        "{explain}"
    );
    // On a model without routed experts the flag has nothing to split: one clear error.
    let (_, err) = run_cli(
        &[
            "estimate",
            "-m",
            "llama3-70b",
            "-g",
            "h100",
            "--dtype",
            "fp8",
            "--dense-dtype",
            "bf16",
            "--tp",
            "4",
        ],
        1,
    );
    assert!(
        err.contains("--dense-dtype bf16") && err.contains("no routed experts"),
        "{err}"
    );
    // An unknown precision is a usage error naming the flag.
    for flag in ["--dense-dtype", "--attn-out-dtype", "--act-dtype"] {
        let (_, err) = run_cli(
            &["estimate", "-m", "deepseek-v3", "-g", "b200", flag, "fp3"],
            2,
        );
        assert!(err.contains(flag), "{err}");
    }
}

#[test]
fn an_mlp_only_checkpoint_keeps_shared_experts_and_dense_ffns_in_the_experts_precision() {
    // NVIDIA's NVFP4 DeepSeek-R1 quantises every MLP (routed and shared experts, the three dense
    // FFN layers) and leaves attention, router and head unquantised: `--dense-dtype` covers the
    // latter only. On TP 8 with one stage the bf16 part is every layer's attention and norms over
    // 8 (its down-projections whole), every MoE layer's router (replicated) and the embedding and
    // head over 8, so the mixed checkpoint weighs exactly (2 − 0.5625) bytes more for each of
    // those parameters. The -v2 checkpoints quantise the attention output projection too
    // (`--attn-out-dtype nvfp4`): its n_h·d_v·d parameters a layer, over 8, come back.
    let ctx = context("deepseek-v3", "b200", &[]);
    let m = common::counts("deepseek-v3", &[]);
    let w =
        |d: Dtype, dense: Option<Dtype>| run(&ctx, &quantised(d, dense, 1)).weights_bytes_per_gpu;
    let bf16_params = m.layers * (m.attn_params_per_gpu(8.0) + m.norm_params_per_layer / 8.0)
        + m.moe_layers * m.router_params_per_layer
        + 2.0 * m.d_model * m.vocab / 8.0;
    assert_close(
        w(Dtype::Nvfp4, Some(Dtype::Bf16)) - w(Dtype::Nvfp4, None),
        (2.0 - 0.5625) * bf16_params,
        1e-9,
    );
    let v2 = Config {
        attn_out_dtype: Some(Dtype::Nvfp4),
        ..quantised(Dtype::Nvfp4, Some(Dtype::Bf16), 1)
    };
    assert_close(m.attn_out_params_per_layer, 128.0 * 128.0 * 7168.0, 0.0);
    assert_close(
        w(Dtype::Nvfp4, Some(Dtype::Bf16)) - run(&ctx, &v2).weights_bytes_per_gpu,
        (2.0 - 0.5625) * m.layers * m.attn_out_params_per_layer / 8.0,
        1e-9,
    );
    // The output projection in the dense precision is no split at all: the same estimate.
    let same = Config {
        attn_out_dtype: Some(Dtype::Bf16),
        ..quantised(Dtype::Nvfp4, Some(Dtype::Bf16), 1)
    };
    let (a, b) = (
        run(&ctx, &same),
        run(&ctx, &quantised(Dtype::Nvfp4, Some(Dtype::Bf16), 1)),
    );
    assert_eq!(a.tpot_s.to_bits(), b.tpot_s.to_bits());
    assert_eq!(a.ttft_s.to_bits(), b.ttft_s.to_bits());
}

#[test]
fn the_busiest_expert_parallel_rank_takes_the_measured_routing_skew() {
    // H200's `[[gpu.routing_skew]]` (its measured power-law over balanced fused-MoE layers), read
    // by hand: EP 8 at 64 and 128 assignments per expert, 1.203 and 1.261; halfway, linear,
    // 1.232; a light load, where the skewed layers ran faster (0.863 at 1), stays 1; EP 24 takes
    // the smallest measured degree that holds it (EP 32: 1.303 at 128); beyond EP 256 the largest;
    // no expert parallelism, or a GPU with no measurement (A100), is 1.
    let h200 = context("deepseek-v3", "h200", &[]);
    let hw = &h200.hw;
    assert_close(hw.routing_skew(8, 64.0), 1.203, 1e-12);
    assert_close(hw.routing_skew(8, 128.0), 1.261, 1e-12);
    assert_close(hw.routing_skew(8, 96.0), (1.203 + 1.261) / 2.0, 1e-12);
    assert_close(hw.routing_skew(8, 1.0), 1.0, 1e-12);
    assert_close(hw.routing_skew(8, 0.01), 1.0, 1e-12);
    assert_close(hw.routing_skew(24, 128.0), 1.303, 1e-12);
    assert_close(hw.routing_skew(512, 512.0), 2.487, 1e-12);
    assert_close(hw.routing_skew(1, 512.0), 1.0, 1e-12);
    assert_close(hw.routing_skew(8, f64::NAN), 1.0, 1e-12);
    let a100 = context("llama3-70b", "a100-80g", &[]);
    assert_close(a100.hw.routing_skew(8, 128.0), 1.0, 1e-12);
}

#[test]
fn skewed_routing_slows_the_routed_experts_unless_redundant_experts_balance_them() {
    // DeepSeek-V3 in fp8 on 8 H200, attention DP 8 + EP 8, a decode step of 512 sequences a
    // rank: 4,096 tokens enter each MoE layer, 4,096 · 8 / 256 = 128 assignments per expert, so
    // the busiest rank's fused-MoE layer takes 1.261× its balanced time (every term of the
    // operator). With 32 redundant experts (EPLB) the ranks are evened out: no skew.
    use gpt4calc::perf::layer::{StepShape, layer_step};
    let shape = StepShape {
        tokens: 512.0,
        moe_tokens: 4096.0,
        kv_tokens_read: 512.0 * 1024.0,
        attn_pairs: 512.0 * 1024.0,
        sequences: 512.0,
        decode: true,
        graph_share: 1.0,
    };
    let experts_s = |ctx: &gpt4calc::perf::Context, c: &Config| {
        layer_step(ctx, &ctx.rates(c), shape, true).experts.time_s()
    };
    let skewed = context("deepseek-v3", "h200", &[]);
    let m = gpt4calc::presets::load_model("deepseek-v3", &[])
        .unwrap()
        .model;
    let mut g = gpt4calc::presets::load_gpu("h200", &[]).unwrap().gpu;
    g.routing_skew.clear();
    let balanced =
        gpt4calc::perf::Context::new(&m, &g, gpt4calc::perf::DEFAULT_PREFILL_CHUNK_TOKENS);
    let c = dep(1, 8, 8, MoeDispatch::AllToAll);
    assert_close(
        experts_s(&skewed, &c),
        1.261 * experts_s(&balanced, &c),
        1e-12,
    );
    let eplb = Config {
        redundant_experts: 32,
        ..c
    };
    assert_close(
        experts_s(&skewed, &eplb),
        experts_s(&balanced, &eplb),
        1e-12,
    );
}

#[test]
fn a_batch_smaller_than_the_attention_groups_routes_only_its_own_tokens() {
    // GPT-4 (16 experts, top-2) over DP16 × EP16: one sequence sits in one attention group, the
    // other fifteen are idle, so a decode step routes one token to 2 experts. It used to count a
    // sequence in every group (16 tokens, 14.1 experts), pricing batch 1 as batch 16.
    let ctx = context("gpt4-8k", "h100", &[]);
    let at = |batch: u64| {
        run(
            &ctx,
            &Config {
                tp: 8,
                dp: 16,
                ep: 16,
                ..Config::new(8, 1, batch, 2048, 256, Dtype::Fp8)
            },
        )
    };
    let (one, two, sixteen) = (at(1), at(2), at(16));
    assert_close(one.experts_per_step, 2.0, 1e-9);
    // Two tokens: 16 · (1 − (14/16)²) = 3.75 distinct experts.
    assert_close(two.experts_per_step, 3.75, 1e-9);
    assert!(one.tpot_s < two.tpot_s && two.tpot_s < sixteen.tpot_s);
    // Across nodes the exchange prices the busiest receiver as the mean times the skew of the
    // stage's own tokens: DeepSeek-V3 over TP4 × DP64 (EP256, 32 nodes) at batch 1 steps faster
    // than at batch 64, one sequence a group (its exchange took a 32× skew on 64 tokens' mean).
    let ds = context("deepseek-v3", "h200", &[]);
    let step = |batch: u64| {
        run(
            &ds,
            &Config {
                tp: 4,
                dp: 64,
                ep: 256,
                ..Config::new(4, 1, batch, 1024, 1024, Dtype::Fp8)
            },
        )
        .tpot_s
    };
    assert!(step(1) < step(64), "{} vs {}", step(1), step(64));
}

#[test]
fn fastest_runs_each_load_on_the_faster_measured_block_fp8_kernel() {
    // DeepSeek-V3's block-scaled fp8 experts on B200 (TP 8, every expert on every GPU, 4 or
    // 16,384 tokens a step): `fastest` prices the routed experts with whichever of the two
    // measured Blackwell kernels is faster at that load (docs/methodology.md §4.4) — TRTLLM-gen
    // (`[gpu.fused_moe.fp8_block]`, TensorRT-LLM's TRTLLM backend) at a decode batch, DeepGEMM
    // (`fp8_block_deepgemm`) for a prefill chunk, as NVIDIA's srt-slurm recipes choose them;
    // `trtllm` and `deepgemm` pin one. On H100, which measured one block-scaled kernel, the
    // three agree.
    use gpt4calc::perf::MoeBackend;
    use gpt4calc::perf::experts::{ExpertLoad, expert_kernels};
    let time_s = |gpu: &str, backend: MoeBackend, tokens: f64| {
        let mut ctx = context("deepseek-v3", gpu, &[]);
        ctx.moe_backend = backend;
        let r = ctx.rates(&Config::new(8, 1, 4, 1024, 128, Dtype::Fp8));
        let load = ExpertLoad {
            stage_tokens: tokens,
            rows: tokens,
        };
        expert_kernels(&ctx, &r, load).op().time_s()
    };
    for tokens in [4.0, 16_384.0] {
        let trtllm = time_s("b200", MoeBackend::Trtllm, tokens);
        let deepgemm = time_s("b200", MoeBackend::DeepGemm, tokens);
        assert_close(
            time_s("b200", MoeBackend::Fastest, tokens),
            trtllm.min(deepgemm),
            1e-12,
        );
        if tokens < 100.0 {
            assert!(trtllm < deepgemm, "{tokens} tokens: {trtllm} vs {deepgemm}");
        } else {
            assert!(deepgemm < trtllm, "{tokens} tokens: {deepgemm} vs {trtllm}");
        }
        let h100 = time_s("h100", MoeBackend::Fastest, tokens);
        assert_close(time_s("h100", MoeBackend::DeepGemm, tokens), h100, 1e-12);
        assert_close(time_s("h100", MoeBackend::Trtllm, tokens), h100, 1e-12);
    }
}

/// TensorRT-LLM's one-sided NVLink all-to-all measured on GB200 NVL72 (tech blog 18,
/// validation/kernels/moe_alltoall_nvlink.csv: DeepSeek-V3's hidden 7168, top-8 of 256, BF16
/// dispatch and combine). At a few tokens a rank the kernels take their floors, the preset's
/// `moe_dispatch_us` and `moe_combine_us`; from 512 tokens a rank the α–β exchange carries them
/// at EP 32 and 64 within 12% (at EP 8 the benchmark's perfect router sends each token to eight
/// ranks, where random routing reaches 5.3: no bandwidth check there).
#[test]
fn the_serving_exchange_takes_the_measured_nvlink_kernels_floors_and_bandwidth() {
    let path = format!(
        "{}/validation/kernels/moe_alltoall_nvlink.csv",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let ctx = context("deepseek-v3", "gb200-nvl72", &[]);
    let (dispatch_floor, combine_floor) = ctx.hw.moe_exchange_floor_s;
    assert_close(dispatch_floor, 19.0e-6, 1e-9);
    assert_close(combine_floor, 31.7e-6, 1e-9);
    let mut checked = 0;
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (ep, tokens): (u64, f64) = (f[7].parse().unwrap(), f[8].parse().unwrap());
        let (dispatch_us, combine_us): (f64, f64) = (f[9].parse().unwrap(), f[11].parse().unwrap());
        let c = Config {
            dp: ep,
            ep,
            moe_dispatch: MoeDispatch::AllToAll,
            ..Config::new(1, 1, ep * tokens as u64, 1024, 256, Dtype::Bf16)
        };
        let r = ctx.rates(&c);
        let groups = ctx.model.routing_groups;
        let (d, cb) = exchange_s(
            &ctx.hw,
            &r,
            &ctx.model,
            groups,
            tokens,
            tokens * ep as f64,
            Phase::Decode,
        );
        if tokens <= 16.0 {
            // Below the floors the kernels' times do not move with the tokens.
            assert_close(d, dispatch_floor, 1e-12);
            assert_close(cb, combine_floor, 1e-12);
            checked += 1;
        } else if tokens >= 512.0 && ep >= 32 {
            for (model, measured) in [(d, dispatch_us), (cb, combine_us)] {
                let ratio = model / (measured * 1e-6);
                assert!(
                    (0.88..=1.12).contains(&ratio),
                    "EP {ep}, {tokens} tokens: model {:.1} µs vs measured {measured} µs",
                    model * 1e6
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 20 + 6, "rows checked");
}
