//! Known answers: each test names its source and tolerance (docs/methodology.md §12).

mod common;

use common::{context, counts, run};
use gpt4calc::dtype::Dtype;
use gpt4calc::perf::Config;
use gpt4calc::perf::moe::distinct_experts;
use gpt4calc::testutil::assert_close;

fn config(tp: u64, pp: u64, batch: u64, input_len: u64, output_len: u64, dtype: Dtype) -> Config {
    Config::new(tp, pp, batch, input_len, output_len, dtype)
}

#[test]
fn gpt4_total_parameters_1_833t() {
    // SemiAnalysis 2023 "~1.8T"; GPT4-A reconstruction (methodology §1.2): 1.833T, ±1%.
    assert_close(counts("gpt4-8k", &[]).total_params(), 1.833e12, 0.01);
}

#[test]
fn gpt4_active_parameters_279_6b() {
    // SemiAnalysis 2023 "~280B" active; GPT4-A: 279.6B, ±1%.
    assert_close(counts("gpt4-8k", &[]).active_params(), 279.6e9, 0.01);
}

#[test]
fn gpt4_forward_flops_per_token_559_gflop() {
    // SemiAnalysis 2023 "~560 TFLOP" (a unit slip for GFLOP); GPT4-A 2 × 279.6B = 559 GFLOP, ±1%.
    assert_close(counts("gpt4-8k", &[]).flops_per_token(), 559e9, 0.01);
}

#[test]
fn gpt4_attention_and_expert_parameters() {
    // SemiAnalysis 2023: ~55B shared attention, ~111B per expert; GPT4-A 55.49B and 110.98B, ±0.5%.
    let c = counts("gpt4-8k", &[]);
    assert_close(c.attention_params(), 55.49e9, 0.005);
    assert_close(c.params_per_expert(), 110.98e9, 0.005);
}

#[test]
fn distinct_experts_e16_k2() {
    // Uniform routing, E = 16, k = 2: D(b) = 16·(1 − (7/8)^b) = 10.50, 14.11, 15.78 (methodology
    // §3.1, matching Monte Carlo); ±0.1%.
    for (b, want) in [(8.0, 10.50), (16.0, 14.11), (32.0, 15.78)] {
        assert_close(distinct_experts(16.0, 2.0, b), want, 0.001);
    }
}

#[test]
fn gpt4_decode_reports_experts_per_step() {
    // The row's experts_per_step is the same D(b) for a micro-batch of b = batch / pp.
    let ctx = context("gpt4-8k", "h100", &[]);
    let e = run(&ctx, &config(8, 1, 8, 2048, 256, Dtype::Bf16));
    assert_close(e.experts_per_step, 10.50, 0.001);
    let e1 = run(&ctx, &config(8, 1, 1, 2048, 256, Dtype::Bf16));
    assert_close(e1.experts_per_step, 2.0, 1e-9);
}

#[test]
fn palm_540b_mha_kv_cache_6_08_tb() {
    // Pope et al. 2022 (arXiv 2211.05102) intro: batch 512 at context 2048 on a 500B+ MHA model;
    // with PaLM-540B dimensions in bf16, K and V: 2·118·48·256·2 B·2048·512 = 6.08 TB, ±1%.
    let c = counts("palm-540b", &["model.kv_heads=48"]);
    assert_close(c.kv_bytes_per_token(2.0) * 2048.0 * 512.0, 6.08e12, 0.01);
    // The same through the memory model: one GPU, 2047 prompt + 1 output token.
    let ctx = context("palm-540b", "h100", &["model.kv_heads=48"]);
    let e = run(&ctx, &config(1, 1, 512, 2047, 1, Dtype::Bf16));
    assert_close(e.kv_bytes_per_gpu, 6.08e12, 0.01);
    // int8 KV halves it to the article's "3 TB".
    let e8 = run(
        &ctx,
        &Config {
            kv_dtype: Dtype::Int8,
            ..config(1, 1, 512, 2047, 1, Dtype::Bf16)
        },
    );
    assert_close(e8.kv_bytes_per_gpu, 3.04e12, 0.01);
}

#[test]
fn gpt4_fp16_weights_on_tp8_pp16_28_6_gb_per_gpu() {
    // SemiAnalysis 2023: "less than 30GB per GPU at FP16" on 128 GPUs; 1.833T × 2 B / 128 = 28.6 GB,
    // ±2%. 120 layers do not split evenly over 16 stages: the heaviest stage holds 8 layers plus
    // the input embedding, (8 × 15.26B + 1.08B) × 2 B / 8 = 30.8 GB, ±1%.
    let ctx = context("gpt4-8k", "a100-40g", &[]);
    let e = run(&ctx, &config(8, 16, 1, 2048, 256, Dtype::Fp16));
    assert_close(e.breakdown.mean_weights_bytes_per_gpu, 28.6e9, 0.02);
    assert_close(e.weights_bytes_per_gpu, 30.8e9, 0.01);
    // At fp8 the mean halves (the article: "<15GB").
    let e8 = run(&ctx, &config(8, 16, 1, 2048, 256, Dtype::Fp8));
    assert_close(e8.breakdown.mean_weights_bytes_per_gpu, 14.3e9, 0.02);
}

#[test]
fn gpt4_runs_on_128_a100_40g_at_fp16() {
    // SemiAnalysis 2023: TP8 × PP16 "can run on 40GB A100s"; weights 30.8 GB + runtime on the
    // heaviest GPU leave room for a KV cache.
    let ctx = context("gpt4-8k", "a100-40g", &[]);
    let e = run(&ctx, &config(8, 16, 64, 2048, 256, Dtype::Fp16));
    assert!(
        e.fits,
        "gpt4-8k fp16 TP8×PP16 batch 64 should fit on A100-40G: {} bytes",
        e.mem_bytes_per_gpu
    );
}

#[test]
fn batch_one_decode_is_bandwidth_bound_at_roofline() {
    // Batch 1 on one 8-GPU stage (pp = 1) of Llama-3-70B, H100 bf16. The weights read at the
    // achievable bandwidth are a floor (scaling-book "T_min"): 2 B × 70.55B / (8 × BW × η_m).
    // On top come 80 layers × (fixed overhead + the attention kernel's 12 µs floor, measured on
    // TensorRT-LLM's decode attention + the two projection GEMMs' small-m floor of 2.74 µs each,
    // measured on bf16 GEMMs with m ≤ 64 + 2 all-reduces of one token's 16 KB), and the output
    // head's GEMM floor. TensorRT-LLM's measured 8-GPU all-reduce of 16 KB on H100 takes 3.56 µs
    // (its one-shot kernel, validation/kernels/custom_all_reduce.csv; NCCL 2.29's takes 18.98 µs).
    // TPOT = floor + fixed, ±3%. The decode is memory-bound.
    let ctx = context("llama3-70b", "h100", &[]);
    let e = run(&ctx, &config(8, 1, 1, 128, 128, Dtype::Bf16));
    let floor_s = 2.0 * 70.55e9 / (8.0 * ctx.hw.eff_mem_bw_bytes_per_s);
    let fixed_s = 80.0 * (ctx.hw.per_layer_s + 12e-6 + 2.0 * 2.74e-6 + 2.0 * 3.5587e-6) + 2.74e-6;
    assert_close(e.tpot_s, floor_s + fixed_s, 0.03);
    assert_eq!(e.decode_bound.name(), "memory");
}

#[test]
fn large_batch_dense_decode_becomes_compute_bound() {
    // The dense critical batch on H100 bf16 is F/BW·w/2 ≈ 295 tokens (methodology §4): at 4096
    // sequences of short context the FFN GEMMs are compute-bound.
    let ctx = context("llama3-70b", "h100", &[]);
    let e = run(&ctx, &config(8, 1, 4096, 128, 128, Dtype::Bf16));
    assert_eq!(e.decode_bound.name(), "compute");
}

#[test]
fn mla_absorbed_decode_writes_its_per_head_latents() {
    // DeepSeek-V3 config.json: 128 heads, qk_nope 128, qk_rope 64, kv_lora 512, v_head 128, hidden
    // 7168. Absorbed decode writes and reads per token the query 128·192, the latent query and
    // latent output 2·128·512 and the value 128·128: 172,032 16-bit values, 48.0 of Korthikanti's
    // units (bytes per token per hidden width; exact), against 5 for MHA/GQA (Llama-3-70B keeps 5).
    // Checked on NVIDIA's measured MLA module (docs/calibration.md): at 1,024 sequences and 1k
    // context on one H200 the module took 1.19 ms a layer where the model's operators took
    // 0.96 ms; written and read, these latents are 0.19 ms more.
    use gpt4calc::perf::activations::{InferencePass, inference_layer_bytes};
    let dsv3 = counts("deepseek-v3", &[]);
    assert_close(
        dsv3.attn_decode_split_units,
        2.0 * 172_032.0 / 7168.0,
        1e-12,
    );
    assert_close(counts("llama3-70b", &[]).attn_decode_split_units, 5.0, 0.0);
    let pass = |decode: bool, tp: u64| InferencePass {
        group_tokens: 1024.0,
        tp,
        routed_assignments: 0.0,
        expert_tp: 1,
        moe: true,
        sequence_parallel: false,
        decode,
    };
    for tp in [1, 8] {
        // The extra 43 units are split over the TP group (each GPU holds its heads' latents):
        // 16-bit activations, bytes = units · hidden · tokens.
        let extra = inference_layer_bytes(&dsv3, pass(true, tp), 2.0)
            - inference_layer_bytes(&dsv3, pass(false, tp), 2.0);
        assert_close(extra, 43.0 * 7168.0 * 1024.0 / tp as f64, 1e-9);
    }
}

#[test]
fn a_low_precision_linear_runs_at_the_rate_its_shapes_give() {
    // Llama-3-70B in per-tensor fp8 on one H200 (docs/methodology.md §4.1, `[gpu.gemm_shape.fp8]`:
    // efficiency 0.775, 10.06 bytes a input element and 1.88 an output element at 4.8 TB/s; with
    // static scales, the default, the input is written in fp8 by the kernel before the GEMM,
    // which reads one byte an element).
    // Per token, the attention projections are QKV (8,192 in, 8,192 + 2·1,024 out) and the
    // output projection (8,192 in, 8,192 out): 2·(8,192·10,240 + 8,192²) FLOPs; the FFN is gate
    // and up (8,192 in, 2·28,672 out) and down (28,672 in, 8,192 out).
    use gpt4calc::dtype::Dtype;
    use gpt4calc::perf::{Config, Context, DEFAULT_PREFILL_CHUNK_TOKENS};
    let m = gpt4calc::presets::load_model("llama3-70b", &[])
        .unwrap()
        .model;
    let g = gpt4calc::presets::load_gpu("h200", &[]).unwrap().gpu;
    let mut ctx = Context::new(&m, &g, DEFAULT_PREFILL_CHUNK_TOKENS);
    let rate_at = |input_bytes: f64| {
        move |flops: f64, inputs: f64, outputs: f64| {
            let peak = 1978.9e12;
            let t = flops / (peak * 0.775) + (inputs * input_bytes + outputs * 1.88) / 4.8e12;
            flops / t
        }
    };
    let rate = rate_at(1.0);
    let r = ctx.rates(&Config::new(1, 1, 1, 2048, 128, Dtype::Fp8));
    let attn = rate(
        2.0 * (8192.0 * 10240.0 + 8192.0 * 8192.0),
        8192.0 + 8192.0,
        10240.0 + 8192.0,
    );
    assert_close(r.dense.matmul_flops_per_s, attn, 1e-9);
    let ffn = rate(
        2.0 * 3.0 * 8192.0 * 28672.0,
        8192.0 + 28672.0,
        2.0 * 28672.0 + 8192.0,
    );
    assert_close(r.mlp.matmul_flops_per_s, ffn, 1e-9);
    // Both above the flat fit's 0.570 of the peak (these shapes are large), the FFN the more.
    assert!(attn > 0.62 * 1978.9e12 && ffn > attn);
    // The fixed time is the shape fit's, less the dynamic-scale reduction a static-scale
    // checkpoint skips (10.80 − 7.27 µs).
    assert_close(r.dense.gemm_s, (10.80 - 7.27) * 1e-6, 1e-9);
    // At TP 8 the per-GPU GEMMs are narrower and the quantisation pass weighs more.
    let tp8 = ctx.rates(&Config::new(8, 1, 1, 2048, 128, Dtype::Fp8));
    assert!(tp8.mlp.matmul_flops_per_s < r.mlp.matmul_flops_per_s);
    // 16-bit linears keep the flat fit.
    let bf16 = ctx.rates(&Config::new(1, 1, 1, 2048, 128, Dtype::Bf16));
    assert_close(bf16.dense.matmul_flops_per_s, 989.4e12 * 0.776, 1e-9);
    // Dynamic scales: the GEMM quantises its own input, as measured (the fit's 10.06 bytes).
    ctx.fused_input_quant = false;
    let dynamic = ctx.rates(&Config::new(1, 1, 1, 2048, 128, Dtype::Fp8));
    let ffn_dynamic = rate_at(10.06)(
        2.0 * 3.0 * 8192.0 * 28672.0,
        8192.0 + 28672.0,
        2.0 * 28672.0 + 8192.0,
    );
    assert_close(dynamic.mlp.matmul_flops_per_s, ffn_dynamic, 1e-9);
    assert!(ffn_dynamic < ffn);
}

#[test]
fn an_nvfp4_linear_reads_the_input_its_producer_quantised() {
    // Llama-3-70B's FFN in NVFP4 on one B200 (docs/methodology.md §4.1, `[gpu.gemm_shape.fp4]`:
    // efficiency 0.506 of the 9,000 TFLOP/s FP4 peak, 5.86 bytes an input element and 2.03 an
    // output element at 8.0 TB/s). With static scales (the default) the input arrives in NVFP4
    // from the kernel before the GEMM (TensorRT-LLM's RMSNorm with quantize_type "nvfp4", its
    // all-reduce with RESIDUAL_RMS_NORM_QUANT_NVFP4; the profile's nvfp4_fused_input): 4.5 bits
    // an element, 0.5625 bytes.
    // Per token the FFN is gate and up (8,192 in, 2·28,672 out) and down (28,672 in, 8,192 out).
    use gpt4calc::dtype::Dtype;
    use gpt4calc::perf::{Config, Context, DEFAULT_PREFILL_CHUNK_TOKENS};
    let m = gpt4calc::presets::load_model("llama3-70b", &[])
        .unwrap()
        .model;
    let g = gpt4calc::presets::load_gpu("b200", &[]).unwrap().gpu;
    let mut ctx = Context::new(&m, &g, DEFAULT_PREFILL_CHUNK_TOKENS);
    let ffn_at = |input_bytes: f64| {
        let (flops, inputs, outputs) = (
            2.0 * 3.0 * 8192.0 * 28672.0,
            8192.0 + 28672.0,
            2.0 * 28672.0 + 8192.0,
        );
        flops / (flops / (9000e12 * 0.506) + (inputs * input_bytes + outputs * 2.03) / 8.0e12)
    };
    let cfg = Config::new(1, 1, 1, 2048, 128, Dtype::Nvfp4);
    assert_close(ctx.rates(&cfg).mlp.matmul_flops_per_s, ffn_at(0.5625), 1e-9);
    // A runtime whose linear quantises its own bf16 input (SGLang's and vLLM's
    // ModelOptFp4LinearMethod: scaled_fp4_quant before the GEMM) pays the measured pass.
    ctx.nvfp4_fused_input = false;
    let own = ctx.rates(&cfg).mlp.matmul_flops_per_s;
    assert_close(own, ffn_at(5.86), 1e-9);
    assert!(own < ffn_at(0.5625));
    for (profile, fused) in [
        ("modern", true),
        ("trtllm-1.2", true),
        ("sglang-0.5", false),
        ("vllm-0.8", false),
    ] {
        let rt = gpt4calc::runtime::load(profile).unwrap().runtime;
        assert_eq!(rt.nvfp4_fused_input(), fused, "{profile}");
    }
}

#[test]
fn mla_and_shared_expert_linears_take_their_own_widths() {
    // DeepSeek-V3: MLA's fused down-projection reads the hidden state once (q_a and kv_a as one
    // GEMM, d → 1,536 + 512 + 64), so the projections' input and output widths sum to the
    // fp8-training I/O count less one d; the three dense layers' FFN (18,432 wide) runs its
    // block-scaled GEMMs faster than the 2,048-wide shared expert at the same TP.
    use gpt4calc::dtype::Dtype;
    use gpt4calc::perf::{Config, Context, DEFAULT_PREFILL_CHUNK_TOKENS};
    let spec = gpt4calc::presets::load_model("deepseek-v3", &[])
        .unwrap()
        .model;
    let counts = gpt4calc::model::ModelCounts::new(&spec);
    let (inputs, outputs) = counts.attn_widths.on_gpu(1.0);
    assert_close(
        inputs + outputs,
        counts.attn_linear_io_per_layer - counts.d_model,
        1e-12,
    );
    let g = gpt4calc::presets::load_gpu("h200", &[]).unwrap().gpu;
    let ctx = Context::new(&spec, &g, DEFAULT_PREFILL_CHUNK_TOKENS);
    let r = ctx.rates(&Config::new(8, 1, 1, 2048, 128, Dtype::Fp8));
    assert!(r.dense_ffn.matmul_flops_per_s > 1.5 * r.mlp.matmul_flops_per_s);
    // Both below the block-scaled multiply's own rate: the quantisation pass weighs on them.
    let peak_rate = 1978.9e12 * g.gemm_shape.fp8_block.unwrap().efficiency;
    assert!(r.dense_ffn.matmul_flops_per_s < peak_rate);
}
