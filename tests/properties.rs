//! Property-based tests (issue 14): random valid inference configurations over every built-in
//! model and GPU, and the invariants no input may break. A failing case prints the configuration
//! proptest shrank it to.

mod common;

use common::context;
use gpt4calc::dtype::Dtype;
use gpt4calc::perf::lengths::LengthDist;
use gpt4calc::perf::{
    Batching, Config, Context, Disaggregation, DraftCost, Estimate, KvSharding, Speculation,
    estimate,
};
use gpt4calc::presets::{GPUS, MODELS};
use gpt4calc::sim::{Workload, simulate};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// One context per (model, GPU), built once for the whole run.
fn ctx(model: usize, gpu: usize) -> Context {
    static CACHE: OnceLock<Mutex<HashMap<(usize, usize), Context>>> = OnceLock::new();
    let mut cache = CACHE.get_or_init(Default::default).lock().unwrap();
    cache
        .entry((model, gpu))
        .or_insert_with(|| context(MODELS[model].0, GPUS[gpu].0, &[]))
        .clone()
}

/// A configuration and the (model, GPU) it runs on.
#[derive(Clone, Debug)]
struct Case {
    model: usize,
    gpu: usize,
    c: Config,
}

fn pow2(max_log2: u32) -> impl Strategy<Value = u64> {
    (0..=max_log2).prop_map(|k| 1u64 << k)
}

prop_compose! {
    fn case()(
        model in 0..MODELS.len(),
        gpu in 0..GPUS.len(),
        tp in prop_oneof![4 => pow2(3), 1 => pow2(5)],
        dp in pow2(3),
        pp in pow2(3),
        ep_wide in any::<bool>(),
        batch in 1u64..=4096,
        input_len in prop_oneof![1u64..=16, 1u64..=8000],
        output_len in 1u64..=2000,
        dtype in prop::sample::select(vec![Dtype::Fp32, Dtype::Bf16, Dtype::Fp16, Dtype::Fp8, Dtype::Int8, Dtype::Int4]),
        kv8 in any::<bool>(),
        static_batching in any::<bool>(),
        dist in prop::sample::select(vec![LengthDist::Fixed, LengthDist::Uniform, LengthDist::Geometric, LengthDist::Lognormal]),
        spec in prop::option::of((1u64..=6, 0.0f64..=1.0)),
        disagg in prop::option::of((1u64..=4, 1u64..=4)),
        kv_batch in any::<bool>(),
        sequence_parallel in any::<bool>(),
    ) -> Case {
        let ep = if ep_wide { tp * dp } else { 1 };
        Case {
            model,
            gpu,
            c: Config {
                dp,
                ep,
                kv_dtype: if kv8 { Dtype::Fp8 } else { dtype.default_kv() },
                batching: if static_batching { Batching::Static } else { Batching::Continuous },
                output_dist: dist,
                speculation: spec.map(|(gamma, acceptance)| Speculation {
                    gamma,
                    acceptance,
                    draft: DraftCost::Ratio(0.05),
                }),
                disaggregate: disagg.map(|(p, d)| Disaggregation {
                    prefill_replicas: p,
                    decode_replicas: d,
                    prefill: Default::default(),
                    queued: 0,
                }),
                kv_sharding: if kv_batch { KvSharding::Batch } else { KvSharding::Heads },
                sequence_parallel,
                ..Config::new(tp, pp, batch, input_len, output_len, dtype)
            },
        }
    }
}

/// The estimate, when the model and GPU accept the configuration.
fn eval(ctx: &Context, c: &Config) -> Option<Estimate> {
    ctx.check(c).ok().map(|()| estimate(ctx, c))
}

/// `a ≤ b` up to rounding.
fn le(a: f64, b: f64) -> bool {
    a <= b * (1.0 + 1e-9) + 1e-15
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn every_result_is_possible(case in case()) {
        let ctx = ctx(case.model, case.gpu);
        let Some(e) = eval(&ctx, &case.c) else { return Ok(()) };
        prop_assert_eq!(e.impossible_field(), None, "{:?}", case);
        prop_assert!(le(e.ttft_s, e.e2e_s), "e2e {} < TTFT {}", e.e2e_s, e.ttft_s);
        prop_assert!(le(e.mfu, 1.0) && le(e.mbu, 1.0), "MFU {} MBU {}", e.mfu, e.mbu);
        if e.fits {
            prop_assert!(le(e.mem_bytes_per_gpu, e.gpu_mem_bytes));
        }
        prop_assert!(
            (e.output_tokens_per_s_per_gpu * e.gpus as f64 / e.output_tokens_per_s - 1.0).abs() < 1e-9,
            "per GPU {} × {} GPUs ≠ {}", e.output_tokens_per_s_per_gpu, e.gpus, e.output_tokens_per_s
        );
    }

    #[test]
    fn cost_is_linear_in_the_price(case in case(), k in 0.01f64..100.0) {
        let ctx = ctx(case.model, case.gpu);
        let Some(e) = eval(&ctx, &case.c) else { return Ok(()) };
        let mut dear = ctx.clone();
        dear.hw.usd_per_gpu_hour *= k;
        let d = estimate(&dear, &case.c);
        for (a, b) in [
            (e.cost_per_hour_usd, d.cost_per_hour_usd),
            (e.usd_per_1m_output_tokens, d.usd_per_1m_output_tokens),
            (e.usd_per_1m_input_tokens, d.usd_per_1m_input_tokens),
        ] {
            prop_assert!((b / (k * a) - 1.0).abs() < 1e-9, "{} × {} ≠ {}", a, k, b);
        }
        prop_assert!((d.ttft_s / e.ttft_s - 1.0).abs() < 1e-12);
    }

    #[test]
    fn weights_per_gpu_do_not_grow_with_tp(case in case()) {
        let ctx = ctx(case.model, case.gpu);
        let Some(e) = eval(&ctx, &case.c) else { return Ok(()) };
        let wider = Config { tp: case.c.tp * 2, ..case.c };
        let Some(w) = eval(&ctx, &wider) else { return Ok(()) };
        prop_assert!(
            le(w.weights_bytes_per_gpu, e.weights_bytes_per_gpu),
            "tp {}: {} B, tp {}: {} B", case.c.tp, e.weights_bytes_per_gpu, wider.tp, w.weights_bytes_per_gpu
        );
    }

    #[test]
    fn ttft_does_not_fall_as_the_prompt_grows(
        case in case(), more in prop_oneof![1u64..=16, 1u64..=3000],
    ) {
        let ctx = ctx(case.model, case.gpu);
        // Not for chunked attention (Llama 4): a longer prompt can move a sequence's decode into
        // a new chunk, whose layers then read fewer keys, and a TTFT that waits on decode steps
        // (a disaggregated decode worker's admission) shortens with them.
        if ctx.model.chunked_share > 0.0 {
            return Ok(());
        }
        let Some(e) = eval(&ctx, &case.c) else { return Ok(()) };
        let longer = Config { input_len: case.c.input_len + more, ..case.c };
        let Some(l) = eval(&ctx, &longer) else { return Ok(()) };
        prop_assert!(
            le(e.ttft_s, l.ttft_s),
            "input {}: TTFT {} s; input {}: {} s", case.c.input_len, e.ttft_s, longer.input_len, l.ttft_s
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// One request at a time (a rate far below one per request's latency): the simulated TTFT
    /// is the closed form's at batch 1, and the TPOT its decode step. Prompts within one chunk
    /// (the simulation prices a chunk as a prompt of its own length; docs/methodology.md §7.6).
    #[test]
    fn the_simulation_at_low_load_agrees_with_the_closed_form(
        case in case(), input_len in 1u64..=2048, output_len in 2u64..=300,
    ) {
        let ctx = ctx(case.model, case.gpu);
        let c = Config {
            batch: 1,
            input_len,
            output_len,
            batching: Batching::Continuous,
            output_dist: LengthDist::Fixed,
            speculation: None,
            disaggregate: None,
            ..case.c
        };
        let Some(e) = eval(&ctx, &c) else { return Ok(()) };
        prop_assume!(e.fits);
        let w = Workload {
            rate_per_s: 0.01 / e.e2e_s,
            requests: 12,
            seed: 3,
            step_budget: 1_000_000,
        };
        let s = simulate(&ctx, &c, &w);
        prop_assert_eq!(s.completed, 12);
        prop_assert!(!s.overloaded, "{:?}", s);
        let close = |a: f64, b: f64| (a / b - 1.0).abs() < 0.02;
        prop_assert!(close(s.ttft_s.p50, e.ttft_s), "TTFT sim {} closed {}", s.ttft_s.p50, e.ttft_s);
        let tpot = s.tpot_s.expect("every request has more than one output token").p50;
        prop_assert!(
            close(tpot, e.breakdown.decode_step_s),
            "TPOT sim {} closed {}", tpot, e.breakdown.decode_step_s
        );
    }
}

#[test]
fn the_generator_yields_valid_configurations() {
    // A third or more of the random configurations pass the model's checks, so the properties
    // above run on hundreds of them.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut accepted = 0;
    for _ in 0..600 {
        let case = case().new_tree(&mut runner).unwrap().current();
        accepted += usize::from(eval(&ctx(case.model, case.gpu), &case.c).is_some());
    }
    assert!(accepted >= 150, "only {accepted} of 600 accepted");
}
