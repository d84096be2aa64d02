//! Serving dynamics: speculative decoding, batching, the SLO frontier.

mod common;

use common::{context, run};
use gpt4calc::dtype::Dtype;
use gpt4calc::perf::lengths::LengthDist;
use gpt4calc::perf::{Batching, Config, DraftCost, Speculation, expected_tokens};
use gpt4calc::testutil::assert_close;

fn gpt4(batch: u64, speculation: Option<Speculation>) -> Config {
    Config {
        speculation,
        ..Config::new(8, 16, batch, 2048, 256, Dtype::Fp8)
    }
}

/// `requests` requests all queued at the start (a benchmark's finite run, as trtllm-bench).
fn all_at_once(requests: u64) -> gpt4calc::sim::Workload {
    gpt4calc::sim::Workload {
        rate_per_s: f64::INFINITY,
        requests,
        seed: 1,
        step_budget: gpt4calc::sim::MAX_STEP_BUDGET,
    }
}

#[test]
fn expected_tokens_per_verification() {
    // Leviathan et al. 2023: (1 − α^(γ+1)) / (1 − α); model-spec §11 table, ±0.01.
    for (alpha, want) in [(0.6, 2.31), (0.8, 3.36), (0.9, 4.10)] {
        assert!(
            (expected_tokens(4, alpha) - want).abs() <= 0.01,
            "α {alpha}"
        );
    }
    assert_close(expected_tokens(4, 1.0), 5.0, 1e-12);
    assert_close(expected_tokens(4, 0.0), 1.0, 1e-12);
}

#[test]
fn an_iteration_yields_no_more_tokens_than_a_request_decodes() {
    // A request of 4 output tokens decodes 3 after its prefill: an iteration yields at most 3 of
    // them however many drafts it accepts, not 65 with 64 drafts all accepted (which priced each
    // iteration as 65 tokens' worth of the replacements' prefills: TTFT 103 s against 1.8 s
    // without speculation for Llama-3-70B on 8 H100s, batch 64).
    let ctx = context("llama3-70b", "h100", &[]);
    let speculate = |gamma: u64, acceptance: f64, output_len: u64| {
        let c = Config {
            speculation: Some(Speculation {
                gamma,
                acceptance,
                draft: DraftCost::Ratio(0.05),
            }),
            ..Config::new(8, 1, 64, 2048, output_len, Dtype::Bf16)
        };
        run(&ctx, &c)
    };
    let (two, many) = (speculate(2, 1.0, 4), speculate(64, 1.0, 4));
    assert_close(two.breakdown.tokens_per_step, 3.0, 1e-12);
    assert_close(many.breakdown.tokens_per_step, 3.0, 1e-12);
    assert!(
        many.ttft_s < 1.5 * two.ttft_s,
        "TTFT {:.3} s with 64 drafts against {:.3} s with 2",
        many.ttft_s,
        two.ttft_s
    );
    // At α = 0.8 an iteration of that request yields E[min(1 + accepted, 3)] = 1 + 0.8 + 0.64.
    assert_close(speculate(4, 0.8, 4).breakdown.tokens_per_step, 2.44, 1e-12);
    // Long outputs keep Leviathan's expectation.
    assert_close(
        speculate(4, 0.8, 256).breakdown.tokens_per_step,
        expected_tokens(4, 0.8),
        1e-12,
    );
}

#[test]
fn speculation_helps_gpt4_only_once_the_batch_touches_every_expert() {
    // model-spec §11: at batch 16 (one sequence per micro-batch) verifying 5 tokens reads ~3.8×
    // the experts, so speculation helps much less than at batch 2048, where every expert is read
    // anyway and the decode speeds up by more than 1.5×. (What it still gains at batch 16 comes
    // from the fixed per-layer times a verify step amortises over more tokens.)
    let ctx = context("gpt4-8k", "h100", &[]);
    let spec = Some(Speculation {
        gamma: 4,
        acceptance: 0.8,
        draft: DraftCost::Ratio(0.05),
    });
    let speedup = |batch: u64| {
        let plain = run(&ctx, &gpt4(batch, None)).breakdown.decode_step_s;
        let fast = run(&ctx, &gpt4(batch, spec));
        assert!(
            fast.breakdown.verify_step_s > plain,
            "verification costs more than one step"
        );
        plain / fast.breakdown.decode_step_s
    };
    let (small, large) = (speedup(16), speedup(2048));
    assert!(large > 1.5, "batch 2048 speed-up {large:.2}");
    assert!(
        small < large,
        "batch 16 speed-up {small:.2} ≥ batch 2048 {large:.2}"
    );
    assert!(
        small < 0.75 * large,
        "batch 16 speed-up {small:.2} vs batch 2048 {large:.2}"
    );
}

#[test]
fn a_draft_model_costs_its_own_decode_step() {
    let ctx = context("gpt4-8k", "h100", &[]);
    let draft = context("llama3-8b", "h100", &[]);
    let spec = Some(Speculation {
        gamma: 4,
        acceptance: 0.8,
        draft: DraftCost::Model,
    });
    let e = gpt4calc::perf::estimate_with_draft(&ctx, Some(&draft), &gpt4(256, spec));
    let c = Config {
        pp: 1,
        speculation: None,
        output_dist: Default::default(),
        disaggregate: None,
        ..gpt4(256, None)
    };
    let draft_step = run(&draft, &c).breakdown.decode_step_s;
    assert_close(e.breakdown.draft_step_s, draft_step, 1e-12);
    let b = &e.breakdown;
    assert_close(
        b.decode_step_s,
        (b.verify_step_s + 4.0 * b.draft_step_s) / 3.36,
        0.001,
    );
}

#[test]
fn a_static_batch_smaller_than_the_attention_groups_prefills_only_its_own_prompts() {
    // DeepSeek-V3 fp8 on GB200, TP4 × DP4 × PP2, one request: the three idle groups used to add
    // a whole chunk each to the experts (361 GFLOP of routed experts against 90), TTFT 0.109 s
    // against the 0.0695 s the same lone prompt takes under continuous batching.
    let ctx = context("deepseek-v3", "gb200-nvl72", &[]);
    let layout = |batching| Config {
        dp: 4,
        ep: 1,
        batching,
        ..Config::new(4, 2, 1, 2048, 256, Dtype::Fp8)
    };
    let stat = run(&ctx, &layout(Batching::Static));
    let cont = run(&ctx, &layout(Batching::Continuous));
    // The continuous request also pays the serving front end (a static batch is offline).
    assert_close(
        stat.ttft_s,
        cont.ttft_s - cont.breakdown.request_latency_s - cont.breakdown.ttft_wait_s,
        1e-9,
    );
}

#[test]
fn static_batching_wastes_slots_on_the_longest_request() {
    // model-spec §10: batch 64 with geometric output lengths (mean 256): a static batch runs until
    // its longest request ends, so ≈ 0.26 of its slot-steps are useful (±0.05); continuous
    // batching refills slots and more than doubles the throughput.
    let ctx = context("llama3-70b", "h100", &[]);
    let base = Config {
        batching: Batching::Static,
        output_dist: LengthDist::Geometric,
        ..Config::new(8, 1, 64, 512, 256, Dtype::Fp8)
    };
    let stat = run(&ctx, &base);
    assert!(
        (stat.breakdown.useful_fraction - 0.26).abs() <= 0.05,
        "{}",
        stat.breakdown.useful_fraction
    );
    let cont = run(
        &ctx,
        &Config {
            batching: Batching::Continuous,
            ..base
        },
    );
    assert!(
        cont.output_tokens_per_s > 2.0 * stat.output_tokens_per_s,
        "continuous {} vs static {}",
        cont.output_tokens_per_s,
        stat.output_tokens_per_s
    );
    // With every request the same length, static batching wastes nothing.
    let fixed = run(
        &ctx,
        &Config {
            output_dist: LengthDist::Fixed,
            ..base
        },
    );
    assert_close(fixed.breakdown.useful_fraction, 1.0, 1e-12);
    assert!(fixed.output_tokens_per_s > stat.output_tokens_per_s);
}

#[test]
fn a_simulated_static_batch_pays_its_pipeline_fill() {
    // A static batch decodes only once its prompts leave the last stage. The simulation charged
    // the prefill at the slowest stage alone, so at PP 8 its saturated throughput read 1.44× the
    // closed form's (411 against 285 tokens/s for Llama-3-8B, batch 2, 1,024/16 tokens).
    use gpt4calc::sim::{Workload, simulate};
    let ctx = context("llama3-8b", "h100", &[]);
    for pp in [1, 2, 4, 8] {
        let c = Config {
            batching: Batching::Static,
            ..Config::new(1, pp, 2, 1024, 16, Dtype::Fp8)
        };
        let closed = run(&ctx, &c).output_tokens_per_s;
        let flood = Workload {
            rate_per_s: 3.0 * closed / 16.0,
            requests: 3000,
            seed: 1,
            step_budget: 1_000_000,
        };
        let s = simulate(&ctx, &c, &flood);
        assert!(s.overloaded, "PP {pp}");
        assert_close(s.output_tokens_per_s, closed, 0.02);
    }
}

#[test]
fn simulation_matches_the_closed_form_at_low_load_and_flags_overload() {
    use gpt4calc::sim::{Workload, simulate};
    let ctx = context("llama3-70b", "h100", &[]);
    let c = Config::new(8, 1, 64, 1024, 256, Dtype::Fp8);
    // One request at a time: the simulated TTFT and TPOT are the closed form's at batch 1, ±5%.
    let quiet = Workload {
        rate_per_s: 0.02,
        requests: 200,
        seed: 7,
        step_budget: 1_000_000,
    };
    let s = simulate(&ctx, &c, &quiet);
    let alone = run(&ctx, &Config { batch: 1, ..c });
    assert_eq!(s.completed, 200);
    assert_close(s.ttft_s.p50, alone.ttft_s, 0.05);
    assert_close(s.tpot_s.expect("a TPOT").p50, alone.tpot_s, 0.05);
    assert!(!s.overloaded);
    // Deterministic for a seed.
    assert_eq!(simulate(&ctx, &c, &quiet), s);
    // Far beyond capacity the queue grows and the result says so.
    let flood = Workload {
        rate_per_s: 100.0,
        requests: 400,
        ..quiet
    };
    let f = simulate(&ctx, &c, &flood);
    assert!(f.overloaded && f.backlog > 64, "backlog {}", f.backlog);
    assert!(f.ttft_s.p99 > 10.0 * s.ttft_s.p99);
    // A tiny step budget is reported, not hidden.
    let cut = simulate(
        &ctx,
        &c,
        &Workload {
            step_budget: 100,
            ..flood
        },
    );
    assert!(cut.budget_exhausted && cut.completed < 400);
    // A light load whose arrivals all come within one request's time is too short to judge: it
    // used to read as overloaded because nothing had finished yet (review of issue 14).
    let short = simulate(
        &context("llama3-8b", "h100", &[]),
        &Config::new(1, 1, 256, 512, 2000, Dtype::Fp8),
        &Workload {
            rate_per_s: 5.0,
            requests: 100,
            ..quiet
        },
    );
    assert!(!short.settled && !short.overloaded && short.backlog == 0);
}

#[test]
fn disaggregation_trades_gpus_for_a_clean_decode() {
    use gpt4calc::perf::Disaggregation;
    let ctx = context("llama3-70b", "h100", &[]);
    let c = Config::new(8, 1, 128, 2048, 256, Dtype::Fp8);
    let co = run(&ctx, &c);
    let pools = Some(Disaggregation {
        prefill_replicas: 2,
        decode_replicas: 1,
        prefill: Default::default(),
        queued: 0,
    });
    let dis = run(
        &ctx,
        &Config {
            disaggregate: pools,
            ..c
        },
    );
    // Decode steps no longer wait for prefills; the first token waits for the KV transfer
    // and, the two prefill replicas being the slower pool here, for a free prefill replica
    // (the closed loop's wait, below). The decode pool then holds only the sequences the
    // prefill pool feeds, and steps at that batch (`paced_decode`).
    assert_close(
        dis.breakdown.decode_step_s,
        co.breakdown.decode_step_s,
        1e-12,
    );
    assert!(dis.breakdown.paced_batch < 128.0);
    assert!(dis.tpot_s < dis.breakdown.decode_step_s);
    assert!(dis.tpot_s < co.tpot_s);
    let kv = gpt4calc::perf::kv_transfer_s(&ctx, &c, 2048.0);
    let cycle_s = 128.0 * 256.0 / dis.output_tokens_per_s;
    let wait_s = cycle_s - 255.0 * dis.tpot_s;
    // The prefill alone: one 2048-token chunk through the single stage (PP 1).
    let service_s = co.breakdown.prefill_stages_sum_s;
    assert_close(co.ttft_s - co.breakdown.ttft_wait_s, service_s, 1e-9);
    // Below saturation a prompt also queues behind the others' (mean-value analysis in
    // Schweitzer's form, by hand): 128 requests each needing 2048 / (2 · rate) s of the pool
    // and spending the rest of their cycle outside it.
    // The decode worker then takes the prefilled request in, receives its KV cache and admits
    // it: `DECODE_ADMISSION_ITERS` of its iterations (one token each here), at the full batch's
    // step (the paced pool's shorter one would let a longer prompt shorten the first token).
    let admission_s = gpt4calc::perf::DECODE_ADMISSION_ITERS * dis.breakdown.decode_step_s;
    assert_close(dis.breakdown.decode_admission_s, admission_s, 1e-12);
    let (n, d) = (128.0, 2048.0 / (2.0 * dis.breakdown.prefill_tokens_per_s));
    let z = service_s + kv + admission_s + dis.breakdown.request_latency_s + 255.0 * dis.tpot_s;
    let a = d * (n - 1.0) / n;
    let b = d + z - n * a;
    let queue_s = a * (-b + (b * b + 4.0 * a * n * d).sqrt()) / (2.0 * a);
    // And at its prefill worker the forward in flight, which it never joins, and under the
    // overlap loop the next one (`prefill_worker_wait_s`, by hand): each of the two workers gets
    // half the others' requests ((n − 1)/n of the loop's), busy u = x / (x + e^−x) of the time
    // with x = rate · prefill.
    let rate = (n / z).min(dis.output_tokens_per_s / 256.0) * (n - 1.0) / n;
    let x = rate / 2.0 * service_s;
    let u = x / (x + (-x).exp());
    let worker_s = u * (service_s / 2.0 + u * service_s);
    assert_close(dis.breakdown.prefill_worker_wait_s, worker_s, 1e-9);
    assert_close(
        dis.ttft_s - dis.breakdown.request_latency_s,
        (service_s + kv + admission_s + queue_s + worker_s).max(wait_s),
        1e-9,
    );
    assert_close(dis.breakdown.kv_transfer_s, kv, 1e-12);
    assert!(kv > 0.0 && kv < 0.01, "KV transfer {kv} s");
    assert_eq!(dis.gpus, 24);
    // The slower pool sets the throughput.
    let decode_rate = 128.0 / dis.breakdown.decode_step_s;
    let prefill_rate = 2.0 * dis.breakdown.prefill_tokens_per_s / 2048.0 * 256.0;
    assert_close(dis.output_tokens_per_s, decode_rate.min(prefill_rate), 1e-9);
}

/// A fixed concurrency is a closed loop: when one prefill replica cannot keep 256 decoding
/// sequences fed, the requests queue for it, and Little's law (L = λW) gives the wait.
/// By hand: the D·B requests complete at throughput / N a second, so a cycle lasts D·B·N /
/// throughput, and the first token comes after the cycle less the N − 1 decode steps.
#[test]
fn a_saturated_prefill_pool_makes_the_first_token_wait() {
    use gpt4calc::perf::Disaggregation;
    let ctx = context("llama3-70b", "h100", &[]);
    let (batch, s_in, n_out) = (256u64, 4096u64, 256u64);
    let c = Config {
        disaggregate: Some(Disaggregation {
            prefill_replicas: 1,
            decode_replicas: 1,
            prefill: Default::default(),
            queued: 0,
        }),
        ..Config::new(8, 1, batch, s_in, n_out, Dtype::Fp8)
    };
    let e = run(&ctx, &c);
    let prefill_rate = e.breakdown.prefill_tokens_per_s / s_in as f64 * n_out as f64;
    assert!(
        prefill_rate < batch as f64 / e.breakdown.decode_step_s,
        "the case must be prefill-bound"
    );
    assert_close(e.output_tokens_per_s, prefill_rate, 1e-9);
    // The decode pool holds what the prefill pool feeds and steps at that batch, faster than at
    // its full batch.
    assert!(e.tpot_s < e.breakdown.decode_step_s);
    assert_close(e.breakdown.paced_batch / e.tpot_s, prefill_rate, 1e-3);
    let step = e.tpot_s;
    let cycle_s = batch as f64 * n_out as f64 / e.output_tokens_per_s;
    assert_close(e.ttft_s, cycle_s - (n_out - 1) as f64 * step, 1e-9);
    // Seconds of queueing, not the prefill's own fraction of a second.
    let service_s = e.breakdown.prefill_stages_sum_s + e.breakdown.kv_transfer_s;
    assert!(
        e.ttft_s > 10.0 * service_s,
        "TTFT {} s, service {service_s} s",
        e.ttft_s
    );
    assert_close(e.e2e_s, cycle_s, 1e-9);

    // Enough prefill replicas: the decode paces the loop and the prefill's own time stands.
    let fed = run(
        &ctx,
        &Config {
            disaggregate: Some(Disaggregation {
                prefill_replicas: 64,
                ..c.disaggregate.unwrap()
            }),
            ..c
        },
    );
    // A worker of sixty-four is busy about a tenth of the time: the forwards in flight cost it
    // a few ms (u ≈ 0.09 here, so about u · (1/2 + u) of a forward).
    assert!(fed.breakdown.prefill_worker_wait_s < 0.1 * service_s);
    assert!(
        fed.ttft_s - fed.breakdown.decode_admission_s - fed.breakdown.prefill_worker_wait_s
            < 2.0 * service_s,
        "TTFT {} s",
        fed.ttft_s
    );
    assert_close(
        fed.breakdown.decode_admission_s,
        gpt4calc::perf::DECODE_ADMISSION_ITERS * fed.breakdown.decode_step_s,
        1e-12,
    );
}

/// A decode pool fed by a slower prefill pool cannot hold more sequences than the prefill pool
/// sends it: by Little's law over the decode pool, it holds `b` a replica with `D·b / step(b)`
/// equal to the prefill pool's output rate, and each decodes at `step(b)`. Slots beyond that
/// change nothing.
#[test]
fn a_prefill_pool_that_paces_the_loop_holds_the_decode_pool_below_its_slots() {
    use gpt4calc::perf::Disaggregation;
    let ctx = context("llama3-70b", "h100", &[]);
    let (s_in, n_out) = (4096u64, 256u64);
    let at = |batch: u64, prefill_replicas: u64| {
        run(
            &ctx,
            &Config {
                disaggregate: Some(Disaggregation {
                    prefill_replicas,
                    decode_replicas: 2,
                    prefill: Default::default(),
                    queued: 0,
                }),
                ..Config::new(8, 1, batch, s_in, n_out, Dtype::Fp8)
            },
        )
    };
    let e = at(256, 1);
    let fed = e.breakdown.prefill_tokens_per_s / s_in as f64 * n_out as f64;
    let b = e.breakdown.paced_batch;
    assert!(b > 1.0 && b < 256.0, "{b}");
    // Conservation: what the decode pool turns out is what the prefill pool feeds (the step
    // interpolated between the integer batches either side).
    assert_close(2.0 * b / e.tpot_s, fed, 1e-3);
    assert_close(e.output_tokens_per_s, fed, 1e-9);
    // The step at that batch, between the steps of the batches either side.
    let below = at(b.floor() as u64, 64);
    let above = at(b.ceil() as u64, 64);
    assert!(below.tpot_s <= e.tpot_s && e.tpot_s <= above.tpot_s);
    assert!(e.tpot_s < e.breakdown.decode_step_s);
    // More slots: the same sequences decode, at the same pace.
    let wider = at(1024, 1);
    assert_close(wider.tpot_s, e.tpot_s, 1e-12);
    assert_close(wider.output_tokens_per_s, e.output_tokens_per_s, 1e-12);
    // Enough prefill replicas: the decode pool paces the loop and holds its whole batch.
    let fed_well = at(256, 64);
    assert_close(fed_well.breakdown.paced_batch, 256.0, 1e-12);
    assert_close(fed_well.tpot_s, fed_well.breakdown.decode_step_s, 1e-12);
}

/// A sweep prices a unit's configurations with shared memos (`estimate_in_unit`): the paced
/// decode reuses the unit's layer steps for the batches it tries, and must give the numbers a
/// lone estimate gives, bit for bit, in any order.
#[test]
fn a_sweep_prices_a_paced_decode_pool_as_a_lone_estimate_does() {
    use gpt4calc::perf::Disaggregation;
    use gpt4calc::perf::estimate::{UnitMemo, estimate_in_unit};
    let ctx = context("deepseek-v3", "h200", &[]);
    let base = Config {
        dp: 8,
        ep: 8,
        disaggregate: Some(Disaggregation {
            prefill_replicas: 1,
            decode_replicas: 2,
            prefill: Default::default(),
            queued: 0,
        }),
        ..Config::new(1, 1, 1, 4096, 512, Dtype::Fp8)
    };
    let mut memo = UnitMemo::default();
    let mut paced = 0;
    for batch in [1024u64, 8, 4096, 64, 512, 1536] {
        let c = Config { batch, ..base };
        ctx.check(&c).expect("valid");
        let lone = gpt4calc::perf::estimate(&ctx, &c);
        let swept = estimate_in_unit(&ctx, None, &c, &mut memo, true);
        assert_eq!(
            lone.tpot_s.to_bits(),
            swept.tpot_s.to_bits(),
            "batch {batch}"
        );
        assert_eq!(
            lone.ttft_s.to_bits(),
            swept.ttft_s.to_bits(),
            "batch {batch}"
        );
        assert_eq!(
            lone.breakdown.paced_batch.to_bits(),
            swept.breakdown.paced_batch.to_bits()
        );
        if lone.breakdown.paced_batch < batch as f64 {
            paced += 1;
        }
    }
    assert!(
        paced >= 2,
        "{paced} paced configurations: the test must exercise the pacing"
    );
}

/// A closed loop larger than the decode pool's slots: the decode replicas run full at their
/// engines' limit and the other requests wait for a slot before their first token (a benchmark
/// at a concurrency above `max_batch` × the pool's attention groups). By hand: `B` slots
/// complete at `B / (N · step)` requests a second with ample prefill, so `B + q` requests cycle
/// in `(B + q) · N · step / B`, and the first token comes after the cycle less the decode.
#[test]
fn a_loop_larger_than_the_decode_slots_waits_for_a_slot() {
    use gpt4calc::perf::Disaggregation;
    let ctx = context("llama3-70b", "h100", &[]);
    let (slots, queued, s_in, n_out) = (64u64, 32u64, 1024u64, 1024u64);
    let pools = Disaggregation {
        prefill_replicas: 8,
        decode_replicas: 1,
        prefill: Default::default(),
        queued: 0,
    };
    let c = Config {
        disaggregate: Some(pools),
        ..Config::new(8, 1, slots, s_in, n_out, Dtype::Fp8)
    };
    let full = run(&ctx, &c);
    let step = full.breakdown.decode_step_s;
    let prefill_rate = 8.0 * full.breakdown.prefill_tokens_per_s / s_in as f64 * n_out as f64;
    assert!(
        prefill_rate > slots as f64 / step,
        "the case must be decode-bound"
    );
    let service_s = full.ttft_s;
    let waiting = run(
        &ctx,
        &Config {
            disaggregate: Some(Disaggregation { queued, ..pools }),
            ..c
        },
    );
    // The queue changes neither the decode step nor the pool's rate, only the first token.
    assert_close(waiting.tpot_s, step, 1e-12);
    assert_close(waiting.output_tokens_per_s, full.output_tokens_per_s, 1e-12);
    let cycle_s = (slots + queued) as f64 * n_out as f64 * step / slots as f64;
    assert_close(waiting.ttft_s, cycle_s - (n_out - 1) as f64 * step, 1e-9);
    // Half the slots' worth waiting: about half a request's decode, seconds beyond the service.
    assert!(
        waiting.ttft_s > service_s + 0.4 * n_out as f64 * step,
        "TTFT {} s, service {service_s} s, step {step} s",
        waiting.ttft_s
    );
}

#[test]
fn mtp_drafts_with_one_layer_and_the_head_of_the_model_itself() {
    // DeepSeek-V3 on 8 B200s, TP8 with EP2, batch 1, NVFP4, MTP with γ = 3 and α = 0.85 (the
    // report's 85–90% second-token acceptance): each draft token is one pass of the MTP module,
    // an MoE layer and the output head at the plain step's shape; the verify step scores 4 tokens.
    let ctx = context("deepseek-v3", "b200", &[]);
    let mtp = Speculation {
        gamma: 3,
        acceptance: 0.85,
        draft: DraftCost::Mtp,
    };
    // A static batch: every step replayed, so the plain and the speculative configuration share
    // the second stream's saving (under continuous batching its share depends on the tokens a
    // step gains).
    let plain_c = Config {
        ep: 2,
        batching: Batching::Static,
        ..Config::new(8, 1, 1, 1024, 2048, Dtype::Nvfp4)
    };
    let spec_c = Config {
        speculation: Some(mtp),
        ..plain_c
    };
    let plain = gpt4calc::perf::decode::decode(&ctx, None, &plain_c, &ctx.rates(&plain_c));
    let spec = gpt4calc::perf::decode::decode(&ctx, None, &spec_c, &ctx.rates(&spec_c));
    let one_layer_and_head = plain.pass.layer.time_s() + plain.pass.head.time_s();
    assert_close(spec.draft_step_s, one_layer_and_head, 1e-12);
    // A 61-layer model's draft costs about 1/61 of its step plus the head.
    assert!(spec.draft_step_s < plain.step_s / 20.0, "{spec:?}");
    let tokens = expected_tokens(3, 0.85);
    assert_close(tokens, (1.0 - 0.85f64.powi(4)) / 0.15, 1e-12);
    assert_close(
        spec.step_s,
        (spec.verify_step_s + 3.0 * spec.draft_step_s) / tokens,
        1e-12,
    );
    // At batch 1 the verify step costs about what a plain step does, so MTP pays: 17.7 → 6.2 ms
    // a token.
    assert!(
        spec.step_s < plain.step_s / 2.0,
        "{} vs {}",
        spec.step_s,
        plain.step_s
    );
    let e = run(&ctx, &spec_c);
    assert!(e.output_tokens_per_s_per_user > 1.9 / plain.step_s);
}

/// A served request's first token under continuous batching, by hand: the serving front end's
/// latency (`gpu.overheads.request_latency_us`, which the runtime profile sets), then the
/// iteration in flight when others are running (on average one iteration, the TPOT), then its
/// prefill. Alone on the replica it waits for nothing.
#[test]
fn a_served_first_token_waits_for_the_front_end_and_the_iteration_in_flight() {
    let bare = context("llama3-70b", "h100", &[]);
    let ctx = context(
        "llama3-70b",
        "h100",
        &["gpu.overheads.request_latency_us=50000"],
    );
    for batch in [1u64, 8, 64] {
        let c = Config::new(8, 1, batch, 2048, 256, Dtype::Fp8);
        let (e0, e) = (run(&bare, &c), run(&ctx, &c));
        // The prefill alone: one 2048-token chunk through the single stage (PP 1).
        let service_s = e.breakdown.prefill_stages_sum_s;
        let wait_s = if batch > 1 { e.tpot_s } else { 0.0 };
        assert_close(e.breakdown.request_latency_s, 0.05, 1e-12);
        assert_close(e.breakdown.ttft_wait_s, wait_s, 1e-12);
        assert_close(e.ttft_s, service_s + 0.05 + wait_s, 1e-12);
        assert_close(e0.ttft_s + 0.05, e.ttft_s, 1e-12);
        // The front end holds no GPU: the decode and the throughput do not move.
        assert_close(e.tpot_s, e0.tpot_s, 1e-12);
        assert_close(e.output_tokens_per_s, e0.output_tokens_per_s, 1e-12);
        assert_close(e.e2e_s, e.ttft_s + 255.0 * e.tpot_s, 1e-12);
    }
    // A static batch is an offline benchmark's: no front end, no iteration in flight, also
    // when its prefill and decode run in pools of their own.
    let pools = gpt4calc::perf::Disaggregation {
        prefill_replicas: 1,
        decode_replicas: 1,
        prefill: Default::default(),
        queued: 0,
    };
    for disaggregate in [None, Some(pools)] {
        let c = Config {
            batching: Batching::Static,
            disaggregate,
            ..Config::new(8, 1, 8, 2048, 256, Dtype::Fp8)
        };
        let (e0, e) = (run(&bare, &c), run(&ctx, &c));
        assert!(e.breakdown.request_latency_s == 0.0 && e.breakdown.ttft_wait_s == 0.0);
        assert_close(e.ttft_s, e0.ttft_s, 1e-12);
    }
    // A scheduler that polls for new requests every K decode iterations (SGLang's
    // --scheduler-recv-interval) takes a request at the next poll, 1 to K iterations after it
    // arrives: (K + 1)/2 on average, 15.5 iterations at K = 30, 5.5 at K = 10. The decode and
    // the throughput do not move; alone on the replica the request still waits for nothing.
    for (k, iterations) in [(10u64, 5.5), (30, 15.5)] {
        let mut polled = ctx.clone();
        polled.scheduler_recv_interval = k;
        let c = Config::new(8, 1, 64, 2048, 256, Dtype::Fp8);
        let (e0, e) = (run(&ctx, &c), run(&polled, &c));
        assert_close(e.breakdown.ttft_wait_s, iterations * e.tpot_s, 1e-12);
        assert_close(e.ttft_s - e0.ttft_s, (iterations - 1.0) * e.tpot_s, 1e-9);
        assert_close(e.tpot_s, e0.tpot_s, 1e-12);
        assert_close(e.output_tokens_per_s, e0.output_tokens_per_s, 1e-12);
        let alone = Config::new(8, 1, 1, 2048, 256, Dtype::Fp8);
        assert_close(run(&polled, &alone).ttft_s, run(&ctx, &alone).ttft_s, 1e-12);
    }
    // Under speculative decoding an iteration yields several tokens: the wait is the whole
    // iteration, the per-token TPOT times the tokens per verification.
    let c = Config {
        speculation: Some(Speculation {
            gamma: 4,
            acceptance: 0.8,
            draft: DraftCost::Ratio(0.05),
        }),
        ..Config::new(8, 1, 16, 2048, 256, Dtype::Fp8)
    };
    let e = run(&ctx, &c);
    let per_step = expected_tokens(4, 0.8);
    assert_close(e.breakdown.ttft_wait_s, e.tpot_s * per_step, 1e-12);

    // The `--rate` simulation adds the front end once to each request's TTFT and latency: at
    // a trickle (a request alone on the replica) its TTFT is the closed form's at batch 1.
    let sim = |ctx: &gpt4calc::perf::Context| {
        let c = Config::new(8, 1, 16, 2048, 256, Dtype::Fp8);
        let quiet = gpt4calc::sim::Workload {
            rate_per_s: 0.02,
            requests: 40,
            seed: 7,
            step_budget: 1_000_000,
        };
        gpt4calc::sim::simulate(ctx, &c, &quiet).ttft_s.p50
    };
    let one = run(&ctx, &Config::new(8, 1, 1, 2048, 256, Dtype::Fp8));
    assert_close(sim(&ctx) - sim(&bare), 0.05, 1e-6);
    assert_close(sim(&ctx), one.ttft_s, 0.05);
}

/// DeepSeek-R1 in NVFP4 (attention and KV in bf16) on 8 B200, attention TP8 and experts EP8 at
/// one user: the decode step of TensorRT-LLM tech blog 1's baseline ("CUDA Graph + EP8TP8").
fn deepseek_b200_one_user(batch: u64, output_len: u64, batching: Batching) -> Config {
    Config {
        ep: 8,
        dense_dtype: Some(Dtype::Bf16),
        kv_dtype: Dtype::Bf16,
        batching,
        ..Config::new(8, 1, batch, 1024, output_len, Dtype::Nvfp4)
    }
}

#[test]
fn shared_experts_beside_the_routed_ones_save_what_blog_1_measured() {
    // TensorRT-LLM tech blog 1 ("Pushing Latency Boundaries", Key Optimizations table): running
    // the shared expert on a second stream beside the sparse experts took DeepSeek-R1 on 8 B200
    // at one user from 67 to 73 tokens/s, 1/67 − 1/73 = 1.23 ms a token. The model's saving
    // (fixed times overlap, work does not) lands within 25% of it.
    let mut ctx = context("deepseek-v3", "b200", &[]);
    let c = deepseek_b200_one_user(1, 2048, Batching::Continuous);
    let beside = run(&ctx, &c).breakdown.decode_step_s;
    ctx.shared_expert_overlap = false;
    let after = run(&ctx, &c);
    assert!(after.breakdown.decode_layer.stream_hidden_s == 0.0);
    let saved_s = after.breakdown.decode_step_s - beside;
    let measured_s = 1.0 / 67.0 - 1.0 / 73.0;
    assert!(
        (saved_s / measured_s - 1.0).abs() < 0.25,
        "saved {:.3} ms, measured {:.3} ms",
        saved_s * 1e3,
        measured_s * 1e3
    );
}

#[test]
fn the_second_stream_runs_only_in_steps_without_a_prompt() {
    // Continuous batching admits B/N prompts a step; a step that carries one runs eagerly
    // (TensorRT-LLM replays CUDA graphs only for pure decode steps), so a share e^(−B/N) of the
    // steps hides the shared experts. A static batch and a disaggregated decode pool hide them in
    // every step; prefill never does.
    let ctx = context("deepseek-v3", "b200", &[]);
    let hidden = |c: &Config| run(&ctx, c).breakdown.decode_layer.stream_hidden_s;
    let every = hidden(&deepseek_b200_one_user(64, 64, Batching::Static));
    let some = hidden(&deepseek_b200_one_user(64, 64, Batching::Continuous));
    assert!(every > 0.0);
    assert_close(some, every * (-1.0f64).exp(), 1e-9);
    let e = run(&ctx, &deepseek_b200_one_user(64, 64, Batching::Continuous));
    assert!(e.breakdown.prefill_layer.stream_hidden_s == 0.0);
    // A disaggregated decode pool admits no prompt: every step is replayed.
    let pool = Config {
        disaggregate: Some(gpt4calc::perf::Disaggregation {
            prefill_replicas: 1,
            decode_replicas: 1,
            prefill: Default::default(),
            queued: 0,
        }),
        ..deepseek_b200_one_user(64, 64, Batching::Continuous)
    };
    assert_close(hidden(&pool), every, 1e-12);
}

#[test]
fn a_simulated_long_prompt_pays_for_the_keys_of_its_earlier_chunks() {
    // A 32k-token prompt runs in chunks of the 2,048-token budget; each chunk attends to the
    // chunks before it. The simulation priced every chunk as a fresh 2,048-token prompt, which
    // left out most of the attention (its TTFT came out far below the closed form's); one request
    // at a time, the two agree within 5%.
    use gpt4calc::sim::{Workload, simulate};
    let ctx = context("llama3-405b", "h100", &[]);
    let c = Config::new(8, 1, 16, 32_768, 64, Dtype::Fp8);
    let quiet = Workload {
        rate_per_s: 0.01,
        requests: 20,
        seed: 7,
        step_budget: 1_000_000,
    };
    let s = simulate(&ctx, &c, &quiet);
    let alone = run(&ctx, &Config { batch: 1, ..c });
    assert_eq!(s.completed, 20);
    assert_close(s.ttft_s.p50, alone.ttft_s, 0.05);
}

/// The `--rate` simulation with a scheduler that reads new requests every K decode iterations
/// (SGLang's --scheduler-recv-interval, docs/methodology.md §7.3): on a busy replica a request
/// waits for the next read, up to K iterations and less on average (a prefill makes the next
/// iteration read); alone on the replica it is read at once, so most of a trickle of requests
/// see exactly what they saw with K = 1; the decode does not move.
#[test]
fn a_simulated_scheduler_that_polls_every_k_iterations_delays_admission() {
    use gpt4calc::sim::{Workload, simulate};
    let ctx = context("llama3-70b", "h100", &[]);
    let mut polled = ctx.clone();
    polled.scheduler_recv_interval = 30;
    let c = Config::new(8, 1, 64, 1024, 256, Dtype::Fp8);
    let busy = Workload {
        rate_per_s: 3.0,
        requests: 400,
        seed: 7,
        step_budget: 1_000_000,
    };
    let (s1, s30) = (simulate(&ctx, &c, &busy), simulate(&polled, &c, &busy));
    assert_eq!((s1.completed, s30.completed), (400, 400));
    let iteration_s = s1.tpot_s.expect("a TPOT").p50;
    let extra = s30.mean_queue_s - s1.mean_queue_s;
    assert!(
        extra > 3.0 * iteration_s && extra < 15.5 * iteration_s,
        "extra wait {extra} s, iteration {iteration_s} s"
    );
    assert!(s30.ttft_s.p50 > s1.ttft_s.p50);
    assert_close(s30.tpot_s.expect("a TPOT").p50, iteration_s, 0.05);
    let quiet = Workload {
        rate_per_s: 0.02,
        requests: 100,
        ..busy
    };
    let (q1, q30) = (simulate(&ctx, &c, &quiet), simulate(&polled, &c, &quiet));
    // Most requests find the replica idle: the same first token (the few that overlap another
    // wait for a read, in the tail).
    assert_eq!(
        (q30.ttft_s.p50, q30.ttft_s.p90),
        (q1.ttft_s.p50, q1.ttft_s.p90)
    );
    assert!(q30.ttft_s.p99 >= q1.ttft_s.p99);
}

#[test]
fn a_draft_model_holds_its_weights_and_kv_cache_beside_the_target() {
    // The draft runs on one stage's GPUs at the target's TP (as its decode step is priced): its
    // weights and its KV cache for the same sequences add to the heaviest stage's memory. It used
    // to cost time only, so a trillion-parameter draft "fitted" beside GPT-4 on 128 H100s.
    let ctx = context("gpt4-8k", "h100", &[]);
    let spec = |draft| {
        Some(Speculation {
            gamma: 4,
            acceptance: 0.8,
            draft,
        })
    };
    let plain = gpt4calc::perf::estimate(&ctx, &gpt4(64, spec(DraftCost::Ratio(0.05))));
    let small = context("llama3-8b", "h100", &[]);
    let with =
        gpt4calc::perf::estimate_with_draft(&ctx, Some(&small), &gpt4(64, spec(DraftCost::Model)));
    // Llama-3-8B in fp8 over TP 8: its 8.03 B weights are ≈ 1.0 GB a GPU (±5%: embeddings and
    // norms at their own precisions).
    let extra_weights = with.weights_bytes_per_gpu - plain.weights_bytes_per_gpu;
    assert_close(extra_weights, small.model.total_params() / 8.0, 0.05);
    // Its KV cache: 64 sequences × (2048 + 256) tokens × 32 layers × 8 KV heads × 128 × 2 (K, V)
    // bytes in fp8, over TP 8.
    let extra_kv = with.kv_bytes_per_gpu - plain.kv_bytes_per_gpu;
    assert_close(
        extra_kv,
        64.0 * 2304.0 * 32.0 * 8.0 * 128.0 * 2.0 / 8.0,
        0.01,
    );
    assert!(with.fits);
    let huge = context("dense-1t", "h100", &[]);
    let e =
        gpt4calc::perf::estimate_with_draft(&ctx, Some(&huge), &gpt4(64, spec(DraftCost::Model)));
    assert!(!e.fits, "a 1T draft beside GPT-4 on 128 H100s");
}

/// The decode worker's admission (docs/methodology.md §7.5) is the busy worker's: `DECODE_ADMISSION_ITERS`
/// of its iterations at the full batch's step, (K − 1)/2 more when it polls every K; none for a
/// lone sequence (an idle worker takes it at once) or a static batch (no worker between
/// requests).
#[test]
fn a_disaggregated_first_token_waits_for_the_decode_workers_admission() {
    use gpt4calc::perf::{DECODE_ADMISSION_ITERS, Disaggregation};
    let mut ctx = context("llama3-70b", "h100", &[]);
    let c = Config {
        disaggregate: Some(Disaggregation {
            prefill_replicas: 4,
            decode_replicas: 1,
            prefill: Default::default(),
            queued: 0,
        }),
        ..Config::new(8, 1, 64, 1024, 256, Dtype::Fp8)
    };
    let e = run(&ctx, &c);
    assert_close(
        e.breakdown.decode_admission_s,
        DECODE_ADMISSION_ITERS * e.breakdown.decode_step_s,
        1e-12,
    );
    ctx.scheduler_recv_interval = 10;
    let polled = run(&ctx, &c);
    assert_close(
        polled.breakdown.decode_admission_s,
        (DECODE_ADMISSION_ITERS + 4.5) * polled.breakdown.decode_step_s,
        1e-12,
    );
    let lone = run(&ctx, &Config { batch: 1, ..c });
    assert!(lone.breakdown.decode_admission_s.abs() < 1e-15);
    let wave = run(
        &ctx,
        &Config {
            batching: Batching::Static,
            ..c
        },
    );
    assert!(wave.breakdown.decode_admission_s.abs() < 1e-15);
}

#[test]
fn decode_tokens_come_out_of_a_shared_iteration_budget() {
    // TensorRT-LLM's micro-batch scheduler and vLLM's scheduler count each decoding sequence's
    // token against the iteration's budget (`max_num_tokens`) before prompts take the rest;
    // SGLang bounds its prefill batches alone. Llama-3-8B on one H100, a 2,048-token budget,
    // 1,000-token prompts: with 1,500 sequences decoding only one prompt fits an iteration (at
    // least one always does), against two with the budget to themselves, so a finite run of
    // requests all queued at the start refills its batch more slowly and finishes later
    // (measured: 7,658 output tokens/s against 7,777, 1.5% fewer).
    let mut ctx = context("llama3-8b", "h100", &[]);
    ctx.prefill_chunk_tokens = 2048;
    // The budget alone: the fused forward that comes with it is `a_fused_iteration_...`'s.
    ctx.fused_iterations = false;
    let run_of = |ctx: &gpt4calc::perf::Context, batch: u64| {
        let c = Config::new(1, 1, batch, 1000, 200, Dtype::Fp8);
        let s = gpt4calc::sim::simulate(ctx, &c, &all_at_once(4 * batch));
        assert_eq!(s.completed, 4 * batch);
        s.output_tokens_per_s
    };
    assert!(ctx.decode_shares_budget, "the default shares the budget");
    let shared = run_of(&ctx, 1500);
    let few_shared = run_of(&ctx, 8);
    ctx.decode_shares_budget = false;
    let apart = run_of(&ctx, 1500);
    let few_apart = run_of(&ctx, 8);
    assert!(shared < 0.99 * apart, "shared {shared}, apart {apart}");
    // A handful of decoding sequences barely dents the budget.
    assert!(
        (few_shared / few_apart - 1.0).abs() < 0.01,
        "{few_shared} against {few_apart}"
    );
    // The profiles: SGLang's bound prefill alone; TensorRT-LLM's and vLLM's share.
    for (profile, shares) in [
        ("sglang-0.5", false),
        ("sglang-0.5.12", false),
        ("trtllm-1.0", true),
        ("trtllm-1.2", true),
        ("vllm-0.8", true),
        ("modern", true),
    ] {
        let rt = gpt4calc::runtime::load(profile).unwrap().runtime;
        assert_eq!(rt.decode_shares_budget(), shares, "{profile}");
    }
}

#[test]
fn a_fused_iteration_runs_the_decode_rows_with_the_prompt_chunk() {
    // TensorRT-LLM (in-flight fused batching, `mCtxGenFusion`) and vLLM run an iteration's
    // decode rows and prompt chunk as one forward: the linear layers stream their weights once
    // for both. Llama-3-70B in fp8 on two H100s, 64 sequences of 2,048 + 256 tokens: the decode
    // step streams the weights for 32 rows a GPU, and in the steps that carry a prompt chunk
    // (64/256 prompts of 2,048 tokens a step, in 2,048-token chunks: a quarter of the steps)
    // those rows ride the chunk's compute-bound GEMMs at their FLOPs' cost.
    let mut ctx = context("llama3-70b", "h100", &[]);
    let c = Config::new(2, 1, 64, 2048, 256, Dtype::Fp8);
    let fused = run(&ctx, &c);
    ctx.fused_iterations = false;
    let apart = run(&ctx, &c);
    let b = &fused.breakdown;
    assert!(apart.breakdown.fused_saving_s.abs() < 1e-300);
    assert_close(apart.tpot_s - fused.tpot_s, b.fused_saving_s, 1e-9);
    // What a fused step saves is the decode's own weight streaming and fixed times: at most the
    // decode layers' linear part, and most of it at 32 rows a GPU.
    let layer = &b.decode_layer;
    let linear_s = layer.time_s()
        - layer.attn_core.time_s()
        - layer.elementwise.time_s()
        - layer.kv_all_to_all_s;
    let per_step_s = b.fused_saving_s * b.tokens_per_step / (64.0 / 256.0 * 2048.0 / 2048.0);
    let model_linear_s = 80.0 * linear_s;
    assert!(
        per_step_s <= model_linear_s && per_step_s >= 0.8 * model_linear_s,
        "{per_step_s} saved of {model_linear_s}"
    );
    // Cost follows: the output tokens pay for the cheaper steps.
    assert!(fused.usd_per_1m_output_tokens < apart.usd_per_1m_output_tokens);
    assert_close(
        fused.usd_per_1m_input_tokens,
        apart.usd_per_1m_input_tokens,
        1e-12,
    );
    // Nothing to fuse in a static batch (it prefills before it decodes) or in a disaggregated
    // decode pool (its steps carry no prompt).
    ctx.fused_iterations = true;
    for other in [
        Config {
            batching: Batching::Static,
            ..c
        },
        Config {
            disaggregate: Some(gpt4calc::perf::Disaggregation {
                prefill_replicas: 1,
                decode_replicas: 1,
                prefill: Default::default(),
                queued: 0,
            }),
            ..c
        },
    ] {
        assert!(run(&ctx, &other).breakdown.fused_saving_s.abs() < 1e-300);
    }
    // The simulation prices each mixed iteration so too: a finite run of 512 requests finishes
    // sooner fused.
    let w = all_at_once(512);
    let finite =
        |ctx: &gpt4calc::perf::Context| gpt4calc::sim::simulate(ctx, &c, &w).output_tokens_per_s;
    let fused_run = finite(&ctx);
    ctx.fused_iterations = false;
    let apart_run = finite(&ctx);
    assert!(
        fused_run > 1.03 * apart_run,
        "{fused_run} against {apart_run}"
    );
    // Speculating, a verification scores γ + 1 rows a sequence, and they ride the chunk at its
    // cost per row: the closed form's gain and the simulation's agree (the closed form once
    // counted one row a sequence, and gained 1.11× where the simulation gained 1.03×).
    let spec = Config {
        speculation: Some(Speculation {
            gamma: 4,
            acceptance: 0.8,
            draft: DraftCost::Ratio(0.0),
        }),
        ..c
    };
    let closed_apart = run(&ctx, &spec).tpot_s;
    let sim_apart = gpt4calc::sim::simulate(&ctx, &spec, &w).output_tokens_per_s;
    ctx.fused_iterations = true;
    let closed = closed_apart / run(&ctx, &spec).tpot_s;
    let simulated = gpt4calc::sim::simulate(&ctx, &spec, &w).output_tokens_per_s / sim_apart;
    assert!(
        closed > 1.0 && (closed / simulated - 1.0).abs() < 0.03,
        "closed form {closed}, simulation {simulated}"
    );
}

/// Llama 4 Maverick at DP 8, EP 8 (attention TP 1): `input_len` + `output_len` tokens in fp8.
fn maverick_dep8(input_len: u64, output_len: u64, speculation: Option<Speculation>) -> Config {
    Config {
        dp: 8,
        ep: 8,
        speculation,
        kv_dtype: Dtype::Fp8,
        ..Config::new(1, 1, 512, input_len, output_len, Dtype::Fp8)
    }
}

#[test]
fn a_chunked_layer_attends_to_its_own_chunk() {
    // Llama 4 Maverick: 8,192-token chunks on 36 of 48 layers. Decoding positions 1,024..9,216,
    // a full layer attends to 5,120 keys on average; a chunked one to p mod 8192: the mean of
    // 1,024..8,192 and 0..1,024 weighted by their 7,168 and 1,024 positions, (7,168·4,608 +
    // 1,024·512)/8,192 = 4,096. Over the layers: 12/48·5,120 + 36/48·4,096 = 4,352. Positions
    // 8,192..9,216 (an 8k prompt's output) sit in a new chunk: 512 keys. Inside the first chunk
    // the two agree.
    let m = common::counts("llama4-maverick", &[]);
    assert_close(m.chunked_over(1024.0, 9216.0), 0.75 * 4096.0, 1e-12);
    assert_close(m.attended_over(1024.0, 9216.0), 4352.0, 1e-12);
    assert_close(m.chunked_over(8192.0, 9216.0), 0.75 * 512.0, 1e-12);
    assert_close(m.attended_over(1000.0, 2000.0), 1500.0, 1e-12);
    // Over many chunks the mean tends to half a chunk: 1,024..33,792 gives 3,920.
    let long = m.chunked_over(1024.0, 33792.0) / 0.75;
    assert!((3900.0..4100.0).contains(&long), "{long}");
    // The KV cache keeps every token (TensorRT-LLM): the same bytes as full attention.
    let full = common::counts("llama4-maverick", &["model.attention_chunk_layers=0"]);
    assert_close(
        m.kv_bytes_per_token(1.0),
        full.kv_bytes_per_token(1.0),
        1e-12,
    );
    assert_close(m.attended(9216.0), 9216.0, 1e-12);
}

#[test]
fn a_per_query_head_kernel_streams_the_chunked_layers_once_per_query_head() {
    // TensorRT-LLM on Hopper decodes the chunked layers on masked multi-head attention (XQA
    // refuses chunked attention): each of a KV head's 40/8 = 5 query heads streams its cache.
    // At 1,024/8,192 the chunked layers attend to 3,072 of the mean 4,352 keys, so the kernels
    // stream 4,352 + 4·3,072 = 16,640 keys a sequence and step; B200's grouped kernel 4,352.
    use gpt4calc::perf::decode::decode_keys;
    let h200 = context("llama4-maverick", "h200", &[]);
    let b200 = context("llama4-maverick", "b200", &[]);
    let c = maverick_dep8(1024, 8192, None);
    let keys = decode_keys(&h200, &c, &h200.rates(&c));
    assert_close(keys.attended, 4352.0, 1e-12);
    assert_close(keys.streamed, 16640.0, 1e-12);
    assert_close(keys.chunked_reads, 5.0, 1e-12);
    let grouped = decode_keys(&b200, &c, &b200.rates(&c));
    assert_close(grouped.streamed, 4352.0, 1e-12);
    // Sequences that never leave their first chunk (max_seq_len < 8,192): chunking off, XQA.
    let short = maverick_dep8(1000, 1000, None);
    let k = decode_keys(&h200, &short, &h200.rates(&short));
    assert_close(k.streamed, k.attended, 1e-12);
    // Speculative decoding on Hopper turns chunking off: the whole context, on XQA.
    let spec = Speculation {
        gamma: 3,
        acceptance: 0.7,
        draft: DraftCost::Ratio(0.05),
    };
    let c = maverick_dep8(1024, 8192, Some(spec));
    let k = decode_keys(&h200, &c, &h200.rates(&c));
    assert_close(k.attended, 5120.0, 1e-12);
    assert_close(k.streamed, 5120.0, 1e-12);
    // The step follows: slower on H200 than with a grouped kernel, by the extra reads.
    let plain = run(&h200, &maverick_dep8(1024, 8192, None));
    let grouped_h200 = context("llama4-maverick", "h200", &["gpu.chunked_decode=grouped"]);
    let faster = run(&grouped_h200, &maverick_dep8(1024, 8192, None));
    assert!(
        plain.breakdown.decode_step_s > 1.3 * faster.breakdown.decode_step_s,
        "{} vs {}",
        plain.breakdown.decode_step_s,
        faster.breakdown.decode_step_s
    );
}
