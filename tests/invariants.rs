//! Invariants over many generated configurations: properties that must hold for every model,
//! GPU and parallel layout, whatever the calibration.

mod common;

use common::{context, run};
use gpt4calc::dtype::Dtype;
use gpt4calc::perf::{Config, Context, Estimate, Reject};
use gpt4calc::presets::{GPUS, MODELS};

const TP: [u64; 4] = [1, 2, 4, 8];
const PP: [u64; 5] = [1, 2, 4, 8, 16];
const BATCH: [u64; 5] = [1, 8, 64, 512, 4096];
const DTYPES: [Dtype; 3] = [Dtype::Bf16, Dtype::Fp8, Dtype::Int4];
const GPUS_USED: [&str; 3] = ["a100-40g", "h100", "mi300x"];

fn try_run(ctx: &Context, c: &Config) -> Option<Estimate> {
    match ctx.check(c) {
        Ok(()) => Some(gpt4calc::perf::estimate(ctx, c)),
        Err(Reject::Skip(_) | Reject::Invalid(_)) => None,
    }
}

fn cfg(tp: u64, pp: u64, batch: u64, dtype: Dtype) -> Config {
    Config::new(tp, pp, batch, 1024, 256, dtype)
}

/// Every (model, gpu, dtype, batch) with every valid tp and pp, as a grid indexed [tp][pp].
fn for_each_grid(mut f: impl FnMut(&str, &Context, Dtype, u64, &[[Option<Estimate>; 5]; 4])) {
    for (model, _) in MODELS {
        for gpu in GPUS_USED {
            let ctx = context(model, gpu, &[]);
            for dtype in DTYPES {
                for batch in BATCH {
                    let mut grid = [[None; 5]; 4];
                    for (i, tp) in TP.iter().enumerate() {
                        for (j, pp) in PP.iter().enumerate() {
                            grid[i][j] = try_run(&ctx, &cfg(*tp, *pp, batch, dtype));
                        }
                    }
                    f(model, &ctx, dtype, batch, &grid);
                }
            }
        }
    }
}

#[test]
fn more_tp_or_pp_never_raises_weights_per_gpu() {
    let mut checked = 0;
    for_each_grid(|model, _, dtype, batch, g| {
        for i in 0..TP.len() {
            for j in 0..PP.len() {
                let Some(e) = g[i][j] else { continue };
                for (a, b) in [(i + 1, j), (i, j + 1)] {
                    if let Some(more) = g.get(a).and_then(|r| r.get(b)).copied().flatten() {
                        checked += 1;
                        assert!(
                            more.weights_bytes_per_gpu <= e.weights_bytes_per_gpu * (1.0 + 1e-12),
                            "{model} {dtype} batch {batch}: tp {}→{} pp {}→{} raised weights {} → {}",
                            TP[i],
                            TP[a.min(3)],
                            PP[j],
                            PP[b.min(4)],
                            e.weights_bytes_per_gpu,
                            more.weights_bytes_per_gpu
                        );
                    }
                }
            }
        }
    });
    assert!(checked > 1000, "only {checked} comparisons");
}

#[test]
fn decode_is_never_faster_than_bytes_over_peak_bandwidth() {
    let mut checked = 0;
    for_each_grid(|model, ctx, _, _, g| {
        for e in g.iter().flatten().flatten() {
            checked += 1;
            let b = &e.breakdown;
            let floor_s = b.decode_bytes_per_gpu_step / ctx.hw.mem_bw_bytes_per_s;
            assert!(
                b.decode_stage_max_s >= floor_s,
                "{model}: stage {} s < floor {floor_s} s",
                b.decode_stage_max_s
            );
            assert!(
                e.mbu <= 1.0 && e.mbu > 0.0,
                "{model}: MBU {} outside (0, 1]",
                e.mbu
            );
            assert!(
                e.mfu <= 1.0 && e.mfu > 0.0,
                "{model}: MFU {} outside (0, 1]",
                e.mfu
            );
        }
    });
    assert!(checked > 1000, "only {checked} configurations");
}

#[test]
fn one_expert_moe_equals_the_dense_model() {
    // Mixtral with one expert routed top-1 is Mistral-shaped dense: every output must match the
    // same architecture written as a dense preset.
    let moe = context(
        "mixtral-8x7b",
        "h100",
        &["model.experts=1", "model.top_k=1"],
    );
    let dense = context(
        "llama3-8b",
        "h100",
        &["model.vocab=32000", "model.max_context=32768"],
    );
    for c in [
        cfg(1, 1, 1, Dtype::Bf16),
        cfg(2, 4, 64, Dtype::Fp8),
        cfg(8, 2, 4096, Dtype::Int4),
    ] {
        let (a, b) = (run(&moe, &c), run(&dense, &c));
        for (name, x, y) in [
            ("tpot", a.tpot_s, b.tpot_s),
            ("ttft", a.ttft_s, b.ttft_s),
            ("mem", a.mem_bytes_per_gpu, b.mem_bytes_per_gpu),
            ("mfu", a.mfu, b.mfu),
        ] {
            gpt4calc::testutil::assert_close(x, y, 1e-12);
            let _ = name;
        }
        assert!((a.experts_per_step - 1.0).abs() < 1e-12);
    }
}

#[test]
fn moe_with_every_expert_active_matches_dense_of_same_width() {
    // Top-E of E experts of width d_ff/E is a dense FFN of width d_ff: the same weights read and
    // FLOPs done, so the same memory and, at batch 1, the same TPOT within 1% when the fused-MoE
    // kernel runs at dense rates with no fixed time. At a larger batch the MoE is slower by
    // what a fused-MoE kernel really adds: each token's activations are permuted, activated and
    // reduced once per expert it visits (E copies instead of one, here +8% on a step), and
    // never faster. The measured grouped kernels only ever add time.
    let moe = context(
        "llama3-8b",
        "h100",
        &[
            "model.experts=4",
            "model.top_k=4",
            "model.ffn_dim=3584",
            "gpu.fused_moe.bf16.compute=0.775",
            "gpu.fused_moe.bf16.memory=0.74",
            "gpu.fused_moe.bf16.fixed_us=0",
            "gpu.fused_moe.bf16.routing_ns=0",
        ],
    );
    let grouped = context(
        "llama3-8b",
        "h100",
        &["model.experts=4", "model.top_k=4", "model.ffn_dim=3584"],
    );
    let dense = context("llama3-8b", "h100", &[]);
    for (c, slower_at_most) in [
        (cfg(1, 1, 1, Dtype::Bf16), 1.01),
        (cfg(4, 2, 256, Dtype::Bf16), 1.12),
    ] {
        let (a, b) = (run(&moe, &c), run(&dense, &c));
        let ratio = a.tpot_s / b.tpot_s;
        assert!(
            (0.995..=slower_at_most).contains(&ratio),
            "{c:?}: MoE/dense TPOT {ratio:.3}"
        );
        gpt4calc::testutil::assert_close(a.mem_bytes_per_gpu, b.mem_bytes_per_gpu, 0.005);
        assert!(run(&grouped, &c).tpot_s >= a.tpot_s);
    }
}

#[test]
fn doubling_memory_bandwidth_never_raises_tpot() {
    let mut checked = 0;
    for gpu in GPUS.iter().map(|(n, _)| *n) {
        for model in ["gpt4-8k", "llama3-70b", "deepseek-v3", "mixtral-8x7b"] {
            let base = context(model, gpu, &[]);
            let bw: f64 = gpt4calc::presets::load_gpu(gpu, &[])
                .unwrap()
                .gpu
                .memory_bw_tb_s;
            let fast = context(model, gpu, &[&format!("gpu.memory_bw_tb_s={}", 2.0 * bw)]);
            for tp in TP {
                for pp in PP {
                    for batch in BATCH {
                        let c = cfg(tp, pp, batch, Dtype::Bf16);
                        if let (Some(a), Some(b)) = (try_run(&base, &c), try_run(&fast, &c)) {
                            checked += 1;
                            assert!(
                                b.tpot_s <= a.tpot_s,
                                "{model} {gpu} {c:?}: {} > {}",
                                b.tpot_s,
                                a.tpot_s
                            );
                            assert!(b.ttft_s <= a.ttft_s, "{model} {gpu} {c:?}: TTFT rose");
                        }
                    }
                }
            }
        }
    }
    assert!(checked > 500, "only {checked} configurations");
}

#[test]
fn more_pp_never_lowers_tpot_at_a_fixed_micro_batch() {
    // PP adds capacity and throughput, never latency (methodology §7): with the same micro-batch
    // per stage (batch = pp × b), a token still crosses every layer, plus the hand-offs. This is
    // the decode step; the prefill stalls that continuous batching adds scale with throughput.
    let mut checked = 0;
    for (model, _) in MODELS {
        let ctx = context(model, "h100", &[]);
        for tp in TP {
            for b in [1, 4, 32, 256] {
                let mut prev: Option<f64> = None;
                for pp in PP {
                    let Some(e) = try_run(&ctx, &cfg(tp, pp, pp * b, Dtype::Bf16)) else {
                        continue;
                    };
                    let step = e.breakdown.decode_step_s;
                    if let Some(p) = prev {
                        checked += 1;
                        assert!(
                            step >= p * (1.0 - 1e-12),
                            "{model} tp {tp} b {b}: pp {pp} lowered the decode step {p} → {step}"
                        );
                    }
                    prev = Some(step);
                }
            }
        }
    }
    assert!(checked > 100, "only {checked} comparisons");
}

#[test]
fn memory_grows_with_batch_and_context() {
    for (model, _) in MODELS {
        let ctx = context(model, "h200", &[]);
        let mut prev = 0.0;
        for batch in BATCH {
            let Some(e) = try_run(&ctx, &cfg(8, 2, batch, Dtype::Bf16)) else {
                continue;
            };
            assert!(
                e.kv_bytes_per_gpu > prev,
                "{model}: KV did not grow with batch"
            );
            prev = e.kv_bytes_per_gpu;
        }
        let short = try_run(
            &ctx,
            &Config {
                input_len: 512,
                ..cfg(8, 2, 64, Dtype::Bf16)
            },
        );
        let long = try_run(
            &ctx,
            &Config {
                input_len: 1536,
                ..cfg(8, 2, 64, Dtype::Bf16)
            },
        );
        if let (Some(s), Some(l)) = (short, long) {
            gpt4calc::testutil::assert_close(
                l.kv_bytes_per_gpu / s.kv_bytes_per_gpu,
                (1536.0 + 256.0) / (512.0 + 256.0),
                1e-9,
            );
            assert!(
                l.ttft_s > s.ttft_s,
                "{model}: a longer prompt did not raise TTFT"
            );
        }
    }
}

#[test]
fn throughput_equals_batch_over_tpot_and_cost_follows() {
    for_each_grid(|model, ctx, _, _, g| {
        for e in g.iter().flatten().flatten() {
            let c = &e.config;
            gpt4calc::testutil::assert_close(
                e.output_tokens_per_s * e.tpot_s,
                c.batch as f64,
                1e-9,
            );
            // Output tokens pay for the decode steps, input tokens for the prefill: together they
            // account for every second of the replica (continuous batching, methodology §7.3).
            let usd_per_s = c.gpus() as f64 * ctx.hw.usd_per_gpu_hour / 3600.0;
            let (n_in, n_out) = (c.input_len as f64, c.output_len as f64);
            let usd_per_request =
                (n_out * e.usd_per_1m_output_tokens + n_in * e.usd_per_1m_input_tokens) / 1e6;
            gpt4calc::testutil::assert_close(
                usd_per_request * e.output_tokens_per_s / n_out,
                usd_per_s,
                1e-9,
            );
            assert!(
                e.tpot_s >= e.breakdown.decode_step_s,
                "{model}: prefill interleaving cannot speed decode"
            );
            // The terms --explain prints add up: decode step, the replacements' prefills, less
            // what context-generation fusion saves (as applied: never more than the prefills).
            let b = &e.breakdown;
            let prefills_s = c.batch as f64 / n_out * n_in / b.prefill_tokens_per_s;
            assert!(
                b.fused_saving_s >= 0.0 && b.fused_saving_s <= prefills_s * (1.0 + 1e-12),
                "{model}: saving {} against prefills {prefills_s}",
                b.fused_saving_s
            );
            gpt4calc::testutil::assert_close(
                e.tpot_s,
                b.decode_step_s + prefills_s - b.fused_saving_s,
                1e-9,
            );
            gpt4calc::testutil::assert_close(
                e.e2e_s,
                e.ttft_s + (c.output_len as f64 - 1.0) * e.tpot_s,
                1e-9,
            );
            assert!(
                e.ttft_s > 0.0 && e.tpot_s > 0.0,
                "{model}: non-positive latency"
            );
        }
    });
}

#[test]
fn kv_cache_split_by_sequence_is_conserved_and_never_larger_than_replicated_heads() {
    use gpt4calc::perf::KvSharding;
    let mut checked = 0;
    for (model, _) in MODELS {
        let ctx = context(model, "h100", &[]);
        for tp in TP {
            for batch in [8, 64, 512] {
                let by_heads = cfg(tp, 1, batch, Dtype::Fp8);
                let by_seq = Config {
                    kv_sharding: KvSharding::Batch,
                    ..by_heads
                };
                let (Some(h), Some(s)) = (try_run(&ctx, &by_heads), try_run(&ctx, &by_seq)) else {
                    continue;
                };
                // Conservation: split by sequence, the TP group holds the cache exactly once.
                let total = ctx.model.kv_elems_per_token_per_layer
                    * Dtype::Fp8.bytes()
                    * ctx.model.layers
                    * (1024.0 + 256.0)
                    * batch as f64;
                let tol = 1e-9 * total;
                assert!(
                    (s.kv_bytes_per_gpu * tp as f64 - total).abs() < tol,
                    "{model} tp {tp} batch {batch}: {} × {tp} ≠ {total}",
                    s.kv_bytes_per_gpu
                );
                // Split by heads the group holds it at least once (more when n_kv < TP), and
                // the two agree when the KV heads divide evenly.
                assert!(
                    h.kv_bytes_per_gpu * tp as f64 >= total - tol,
                    "{model} tp {tp}"
                );
                assert!(
                    s.kv_bytes_per_gpu <= h.kv_bytes_per_gpu + tol,
                    "{model} tp {tp} batch {batch}: split by sequence holds more"
                );
                if ctx.model.kv_heads >= tp as f64 {
                    assert!((h.kv_bytes_per_gpu - s.kv_bytes_per_gpu).abs() < tol);
                }
                // Fewer bytes read per decode step never slows it.
                assert!(
                    s.breakdown.decode_layer.attn_core.memory_s
                        <= h.breakdown.decode_layer.attn_core.memory_s * (1.0 + 1e-12)
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 50, "only {checked} configurations checked");
}

#[test]
fn a_parallel_block_reduces_once_per_layer_and_changes_nothing_else() {
    // PaLM §2 / Pope et al. 2022: attention and FFN partial sums are added before one reduction.
    let mut checked = 0;
    for (model, _) in MODELS {
        let serial = context(model, "h100", &["model.parallel_block=false"]);
        let parallel = context(model, "h100", &["model.parallel_block=true"]);
        for tp in TP {
            for batch in [1, 64, 512] {
                let c = cfg(tp, 1, batch, Dtype::Bf16);
                let (Some(s), Some(p)) = (try_run(&serial, &c), try_run(&parallel, &c)) else {
                    continue;
                };
                for (a, b) in [
                    (&s.breakdown.decode_layer, &p.breakdown.decode_layer),
                    (&s.breakdown.prefill_layer, &p.breakdown.prefill_layer),
                ] {
                    let tol = 1e-12 * a.all_reduce_s.max(1e-9);
                    assert!(
                        (b.all_reduce_s - a.all_reduce_s / 2.0).abs() <= tol,
                        "{model} tp {tp} batch {batch}: {} vs half of {}",
                        b.all_reduce_s,
                        a.all_reduce_s
                    );
                    gpt4calc::testutil::assert_close(b.flops(), a.flops(), 1e-12);
                    gpt4calc::testutil::assert_close(b.bytes(), a.bytes(), 1e-12);
                    if tp == 1 {
                        assert!(a.all_reduce_s.abs() < 1e-15, "{model}: TP 1 reduces");
                    }
                }
                assert!(
                    p.tpot_s <= s.tpot_s,
                    "{model} tp {tp}: slower with fewer reductions"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 50, "only {checked} configurations checked");
}

#[test]
fn a_prompt_just_past_a_chunk_costs_a_small_last_chunk_not_a_full_one() {
    // 2,048-token chunks (DEFAULT_PREFILL_CHUNK_TOKENS): 2,048 + 64 tokens run one full chunk and
    // a 64-token one, so TTFT rises by far less than a second full chunk, and never falls.
    let ctx = context("llama3-70b", "h100", &[]);
    let ttft = |input: u64| run(&ctx, &Config::new(8, 1, 1, input, 16, Dtype::Fp8)).ttft_s;
    let (one, just_past, two) = (ttft(2048), ttft(2048 + 64), ttft(4096));
    assert!(
        one < just_past && just_past < two,
        "{one} {just_past} {two}"
    );
    assert!(
        just_past - one < 0.25 * (two - one),
        "64 extra tokens cost {} s, a full chunk {} s",
        just_past - one,
        two - one
    );
}
