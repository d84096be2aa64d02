//! Benchmarks of the inference model: one configuration, and the sweeps the issue targets
//! (figures in docs/performance.md). Run with `cargo bench`.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gpt4calc::dtype::Dtype;
use gpt4calc::fields::SortKey;
use gpt4calc::perf::{Config, Context, DEFAULT_PREFILL_CHUNK_TOKENS, estimate};
use gpt4calc::presets::{load_gpu, load_model};
use gpt4calc::report::row::Named;
use gpt4calc::sweep::{self, Axes, EpAxis, Plan};
use std::hint::black_box;

fn context() -> Context {
    let m = load_model("gpt4-8k", &[]).unwrap();
    let g = load_gpu("h100", &[]).unwrap();
    Context::new(&m.model, &g.gpu, DEFAULT_PREFILL_CHUNK_TOKENS)
}

/// 4 tp × 5 pp × 2 ep × 15 batch × 5 input × 4 output × 5 dtype = 60,000 configurations.
pub fn axes_60k() -> Axes {
    let doubling = |lo: u64, n: u32| (0..n).map(|i| lo << i).collect::<Vec<_>>();
    Axes {
        tp: doubling(1, 4),
        dp: vec![1],
        pp: doubling(1, 5),
        ep: EpAxis::List(vec![1, 2]),
        expert_slots: 16,
        redundant_experts: 0,
        moe_dispatch: Default::default(),
        moe_overlap: Default::default(),
        batch: doubling(1, 15),
        input_len: doubling(256, 5),
        output_len: doubling(64, 4),
        dtype: vec![
            Dtype::Fp32,
            Dtype::Bf16,
            Dtype::Fp16,
            Dtype::Fp8,
            Dtype::Int4,
        ],
        kv_dtype: vec![],
        dense_dtype: None,
        attn_out_dtype: None,
        act_dtype: None,
        batching: gpt4calc::perf::Batching::Continuous,
        speculation: None,
        output_dist: Default::default(),
        disaggregate: None,
        kv_sharding: Default::default(),
        sequence_parallel: false,
    }
}

fn bench(c: &mut Criterion) {
    let ctx = context();
    let cfg = Config {
        kv_dtype: Dtype::Fp8,
        ..Config::new(8, 16, 1024, 2048, 256, Dtype::Fp8)
    };
    let mut g = c.benchmark_group("inference");
    g.throughput(Throughput::Elements(1));
    g.bench_function("estimate_gpt4_8k_one_config", |b| {
        b.iter(|| estimate(black_box(&ctx), black_box(&cfg)))
    });
    let axes = axes_60k();
    assert_eq!(axes.len(), 60_000);
    let plan = Plan {
        sort: Some(SortKey::parse::<Named>("usd_per_1m_output_tokens").unwrap()),
        top: Some(20),
        include_unfit: false,
        require: vec![],
        pareto: false,
        threads: 1,
    };
    g.throughput(Throughput::Elements(axes.len()));
    g.sample_size(20);
    g.bench_function("sweep_gpt4_8k_60k_top20", |b| {
        b.iter(|| {
            sweep::run(
                &ctx,
                None,
                black_box(&axes),
                &plan,
                ("gpt4-8k", "h100"),
                &|_| {},
            )
            .unwrap()
        })
    });
    // The same sweep on every core (the result is the same; docs/performance.md).
    let threads = gpt4calc::sweep::default_threads();
    let plan_all = Plan {
        threads,
        ..plan.clone()
    };
    g.bench_function(format!("sweep_gpt4_8k_60k_top20_{threads}_threads"), |b| {
        b.iter(|| {
            sweep::run(
                &ctx,
                None,
                black_box(&axes),
                &plan_all,
                ("gpt4-8k", "h100"),
                &|_| {},
            )
            .unwrap()
        })
    });
    // One replay of TensorRT-LLM's attention-DP balancing (`--adp-balance`): 8 groups of 32
    // sequences, InferenceX's 1k/8k lengths (docs/performance.md, "Fortieth session").
    let l = gpt4calc::perf::admission::Loop {
        groups: 8,
        sequences: 256,
        input_len: 922,
        output_iters: 7373.0,
        dist: gpt4calc::perf::lengths::LengthDist::Range08,
        budget_tokens: 1344,
        decode_tokens: 1,
    };
    let rule = gpt4calc::perf::admission::Rule::Balance(gpt4calc::perf::admission::AdpBalance {
        timeout_iters: 60,
        wait_iters: 0,
    });
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    g.bench_function("admission_replay_dp8_256_users", |b| {
        b.iter(|| gpt4calc::perf::admission::replay(black_box(&l), rule))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
