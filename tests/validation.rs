//! Accuracy guard: the built-in public cases (validation/public.toml) through `validate`.
//! Targets from the accuracy issue where they hold today; the others are held at today's level so
//! that a change cannot make them worse unnoticed (docs/calibration.md has the figures).

use gpt4calc::validate::{CaseResult, Suite, load_suite, run_cases, stats, summarize};

fn results() -> Vec<CaseResult> {
    run_cases(
        &load_suite(None, Suite::Public).expect("built-in cases parse"),
        &[],
    )
}

#[test]
fn every_case_is_evaluated() {
    // The accuracy issue asks for every public inference case (or a reason per case); today every
    // case of either kind evaluates.
    for r in results() {
        assert!(
            r.predicted.is_some(),
            "{} not evaluated: {:?}",
            r.id,
            r.reason
        );
    }
}

#[test]
fn no_case_is_2x_off() {
    for r in results() {
        let e = r.error.expect("evaluated");
        let factor = (1.0 + e).max(1.0 / (1.0 + e));
        assert!(factor < 2.0, "{} is {factor:.2}× off", r.id);
    }
}

#[test]
fn throughput_median_error_within_15_percent_and_none_2x_off() {
    let rs = results();
    let s = stats(rs.iter().filter(|r| r.family == "throughput"));
    assert_eq!(s.evaluated, s.cases, "every throughput case evaluates");
    let median = s.median_abs_error.unwrap();
    assert!(
        median <= 0.15,
        "throughput median |error| {median:.3} > 0.15"
    );
    let worst = s.worst_factor.unwrap();
    assert!(worst < 1.5, "a throughput case is {worst:.2}× off");
}

/// A public case that measures a Mixture-of-Experts model (the rest are dense).
fn moe_case(id: &str) -> bool {
    ["mixtral", "deepseek", "qwen", "gptoss", "gpt4"]
        .iter()
        .any(|m| id.contains(m))
}

#[test]
fn latency_metrics_median_error_within_15_percent() {
    // The accuracy issue's target for latency metrics: TTFT, TPOT and end-to-end latency.
    let rs = results();
    // TTFT of the dense models. The three TensorRT-LLM 0.9 Mixtral TTFT rows (early-2024
    // kernels: Hopper prefill ran Mixtral's experts at about half the rate of today's measured
    // fused-MoE kernels, A100 faster than them) are held at their level below; they are a
    // software-era gap for runtime profiles, not a model one (docs/calibration.md).
    let s = stats(rs.iter().filter(|r| r.family == "ttft" && !moe_case(&r.id)));
    let ttft = s.median_abs_error.unwrap();
    assert!(ttft <= 0.15, "dense ttft median |error| {ttft:.3} > 0.15");
    let s = stats(rs.iter().filter(|r| r.family == "ttft" && moe_case(&r.id)));
    let moe_ttft = s.median_abs_error.unwrap();
    assert!(
        moe_ttft <= 0.46,
        "TensorRT-LLM 0.9 Mixtral ttft median |error| {moe_ttft:.3} > 0.46"
    );
    // The end-to-end/decode family alone: FasterTransformer's GPT-3 and MT-NLG rows and the
    // TPU decode rows (docs/calibration.md).
    let s = stats(rs.iter().filter(|r| r.family == "latency"));
    let e2e = s.median_abs_error.unwrap();
    assert!(e2e <= 0.15, "latency family median |error| {e2e:.3} > 0.15");
    let s = stats(
        rs.iter()
            .filter(|r| r.family == "ttft" || r.family == "latency"),
    );
    let all = s.median_abs_error.unwrap();
    assert!(
        all <= 0.15,
        "latency metrics median |error| {all:.3} > 0.15"
    );
}

#[test]
fn training_and_overall_errors_do_not_regress() {
    let rs = results();
    let sum = summarize(&rs);
    let med = |name: &str| sum.by_family[name].median_abs_error.unwrap();
    // Levels measured when calibrated (docs/calibration.md), with a little room. Training: 9.6%
    // over the 25 public rows since the eleventh session (tokens/s where the source publishes
    // it, the NeMo and MegaScale TP overlaps, the attention backward's measured rate); the
    // training-fidelity issue's target is 10%.
    assert!(
        med("training") <= 0.10,
        "training median {:.3}",
        med("training")
    );
    let all = sum.overall.median_abs_error.unwrap();
    assert!(all <= 0.125, "overall median {all:.3}");
    // Throughput also holds most cases within ±25% (19 of 21: TensorRT-LLM 0.12's Llama-3-70B
    // TP8 2048/128 on H200 at −28% and Llama-3-8B 2048/128 on H100 at −25.1%, prefill-heavy rows
    // that the measured attention kernels' fixed time moved from −24.3%).
    let tp = &sum.by_family["throughput"];
    assert!(
        tp.within_25pct.unwrap() >= 0.90,
        "throughput within 25%: {:?}",
        tp.within_25pct
    );
    // Dense models hold their levels (medians within a point of the calibration's: throughput
    // 10.5%, TTFT 10.9%, latency 6.8%, training 9.6% since the tenth session; throughput 7.4%
    // since the forty-third, which prices a max-throughput run at the largest batch that fits,
    // and 4.1% once serving's low-precision GEMMs took their rate by shape; 8.2% over the 95
    // rows of TensorRT-LLM 1.0's perf overview the same session added, 8.4% on those alone; 7.8%
    // in the forty-fourth, with TensorRT-LLM's padded CUDA graphs and static fp8's fused input;
    // 7.5% in the forty-fifth, with NVFP4's fused input).
    for (family, level) in [
        ("throughput", 0.085),
        ("ttft", 0.119),
        ("latency", 0.078),
        ("training", 0.106),
    ] {
        let s = stats(rs.iter().filter(|r| r.family == family && !moe_case(&r.id)));
        let m = s.median_abs_error.unwrap();
        assert!(m <= level, "dense {family} median {m:.3} > {level}");
    }
}

#[test]
fn megatron_table1_rows_within_15_percent_through_validate() {
    // Narayanan et al. 2021, Table 1, as shipped in the public cases.
    let rs = results();
    let rows: Vec<&CaseResult> = rs
        .iter()
        .filter(|r| r.id.starts_with("megatron-t1-"))
        .collect();
    assert_eq!(rows.len(), 3);
    for r in rows {
        let e = r.error.expect("evaluated");
        assert!(e.abs() <= 0.15, "{}: {:+.1}%", r.id, 100.0 * e);
    }
}

#[test]
fn moe_suite_holds_its_levels() {
    // validation/moe.toml: MoE serving at production scale (attention DP + EP, wide EP, MLA,
    // fine-grained experts) and MoE training. The issue's target (median ≤ 15%, none off by more
    // than 1.5×) is met since the fifty-first session; the
    // bounds hold today's levels (inference 13.4%, holdout 13.7%,
    // worst 1.49×; all 10.6%, training 8.0%; how they got there below), so a change cannot make them worse
    // unnoticed (docs/calibration.md, "MoE at production scale"). The inference median rose from 15.3% when the 13 Blackwell FP4 and 2
    // GB200 serving cases joined (median 27% and 32% on their own); the runtimes' custom
    // all-reduce and the measured small-m GEMM floors took it from 16.2% to 15.2%, gpt-oss's
    // experts-only MXFP4 and B200's measured NVFP4 MoE table to 14.9% (the holdout's from 9.6% to
    // 10.8%: its gpt-oss 20b and B200 FP4 long-output rows moved 1–3 points further under).
    // Giving the last three gpt-oss cases their sliding-window layers (the other 15 had them) and
    // pricing training attention over the attended window took inference to 15.1% and all to
    // 15.9% (worst 1.99×, gpt-oss-120b on GB200): right inputs, a larger error. Blackwell's
    // measured NVFP4 GEMMs took inference back to 14.9%. Serving's per-tensor fp8 GEMMs without
    // the measured dynamic-scale computation (static activation scales) took inference to 13.8%
    // and the public suite's serving rows from 12.0% to 10.9%, but moved the too-fast fp8 DEP rows
    // of Qwen3-235B and Maverick 2–5 points further over (worst 1.66× → 1.71×, Maverick H200
    // 1k/8k) and the whole suite from 15.9% to 16.8%: right physics exposing the 1k/1k gap.
    // Later sessions brought the suite to 14.96% (inference 13.6%, holdout 8.7%). The shared
    // experts beside the routed ones (a second stream in the decode steps a runtime replays from
    // a CUDA graph) made all three worse, to 15.7%, 13.7% and 10.6%: the fp8 DEP rows with long
    // outputs (few prompts a step, so most steps replayed) 3–5 points further over (worst 1.71×
    // → 1.76×, Maverick H200 1k/8k), blog 1's B200 rows at one user from −8…0% to +4…+12% (the
    // best-practice blog's MTP3 row +4% → +16%), while the InferenceX TPOTs went from 15.6% to
    // 12.3%: right physics, kept. The fifteenth session's three facts (MLA's down-projections
    // whole on every GPU of a TP group, checked on NVIDIA's measured MLA module; NVIDIA's NVFP4
    // DeepSeek checkpoints' attention in bf16, the -v2 ones' output projection in NVFP4, from
    // the model cards; blog 1's 253-TPS rows on the CUTLASS fused MoE, from its own table) took
    // the suite to 14.96% and the InferenceX TPOTs to 11.5%, but the holdout's inference median
    // to 12.3%: the best-practice blog's MTP3 row at one user +16% → +39% (its bf16 attention,
    // and bf16 MTP layers the model prices in NVFP4), blog 1's rows +4…+12% → +12…+14% (the
    // blog's next optimisation, of the Fuse_A and router GEMMs, is 340/299 = 1.14×). The
    // sixteenth session refitted B200's NVFP4 fused MoE on the TRTLLM-gen rows priced with the
    // routing the collector ran (half the experts; the old fit mixed it with balanced CUTLASS
    // rows): every FP4 MoE layer about 20% faster, the InferenceX TPOTs 11.5% → 10.4% and the
    // frontier 40.5% → 37.5%, but the FP4 max-throughput rows, at 1k/1k already too fast, 7–16
    // points further over (inference 13.7% → 14.2%, all 15.0% → 15.8%; GB200 DEP4 1k/1k +56%).
    // The runs that name TensorRT-LLM's CUTLASS MoE (the perf overview's DeepSeek-R1 options,
    // `moe_config: backend: CUTLASS`; tech blog 3's runs on the default backend) then stated it:
    // those seven rows' mean |error| 23.6% → 17.3%, the worst +56% → +25% (one case fewer past
    // 1.5×), but the rows near the median moved over it (inference 14.2% → 14.7%, holdout
    // 12.4% → 13.6%, all 15.8% → 16.3%): the CUTLASS fit is 1.15–1.7× slow on DeepSeek-V3's
    // shape, a per-shape residual of one fit over 21 shapes. The seventeenth session priced the
    // 43 perf-overview rows whose request count the overview states (`requests`) as the finite
    // runs trtllm-bench times, ramp and drain included, with the benchmark's own token budget
    // (whole prompts, up to the requests held × (1 + ISL/OSL) tokens an iteration): all 16.3% →
    // 16.1%, holdout 12.4%, the worst rows closer (DeepSeek-R1 H200 1k/8k +61% → +35%), but
    // inference 14.7% → 15.2%: the larger budget prefills the short-prompt rows faster, and the
    // 1k/1k rows were already too fast (B200 gpt-oss-120b +46% → +52%). The eighteenth session
    // stated the engines' prefill token budgets where the sources give them (`prefill_chunk`:
    // SGLang's 16,384 per DP rank on the 96-H100 prefill pool, the blogs' `max_num_tokens`):
    // inference 15.2% → 14.5%, all 16.1% → 15.6%, holdout unchanged. The twenty-second session
    // priced the busiest expert-parallel rank under served traffic's skewed routing (the measured
    // power-law over balanced fused-MoE layers, where it exceeds 1; not with redundant experts):
    // inference 14.4% → 13.0%, holdout 12.4% → 12.2%, all 15.9% → 14.2% (the issue's 15%), cases
    // past 1.5× 7 → 5 (the 1k/1k DEP rows of H100 Qwen3-235B and gpt-oss-120b came under it).
    // The twenty-third session added SGLang's GB200 NVL72 prefill and decode pools as holdout
    // rows (−14…+12%): 93 cases, all 13.8%, inference 12.4%, holdout inference 12.2% (unchanged).
    // The twenty-fourth session added Megatron-Bridge 26.08's eight GB200/GB300 MoE training rows
    // under their recipes' runtime profile (−17…+22%): 101 cases, all 13.0%, training 20.3% →
    // 16.8%; then stating the bucketed data-parallel overlap Megatron-Bridge's recipes set on
    // its 16 older MoE training rows took the training median to 17.0% and one more row past
    // 1.5× (gpt-oss-120b on B200 at 25.11, +27% → +60%: its expert gradients cross the NICs).
    // The twenty-eighth session priced Blackwell's block-scaled fp8 experts on their measured
    // kernels (TRTLLM-gen, DeepGEMM) and stated DeepGEMM for SGLang's two GB200 DeepEP fp8 pools
    // (+12.2% → +13.7%, +2.5% → +5.5%): the first crosses the median, all 13.0% → 13.7%.
    // The twenty-ninth session priced Blackwell's small-GEMM floors inside a decode step at the
    // share B200's measured MLA module runs them (`gemm_memory_step_share` 0.85): tech blog 1's
    // four one-user B200 rows (TensorRT-LLM of early 2025, CUTLASS experts) go +12…+14% →
    // +14…+16% and cross the median: inference 13.0% → 13.8% (holdout, where they are,
    // 12.2% → 13.7%), all 13.7% → 14.01%; frontier
    // 25.2% → 21.9%, past 2× 6 → 3. The thirtieth session priced the EP overlap in
    // Megatron-Core's combined 1F1B stream order (training 17.0% → 15.5%) and added Megatron-
    // Bridge's own verified run of its current 16-GPU H100 Qwen3-30B BF16 recipe as a holdout
    // row (+43%): 102 cases, all 14.01% → 14.07%, training 16.8%. The thirty-first session set
    // the host's time per eager MoE operator to its least-squares value over the calibration
    // rows the host bounds (31 µs on every preset, from 13.48 on x86 and 37.08 on Grace): all
    // 14.07% → 12.7%, training 16.8% → 8.7%, cases past 1.5× 6 → 3. The forty-first session
    // stated the bf16 gradient reduction every Megatron-Bridge performance script sets
    // (`grad_reduce_in_fp32 = False`) on the 19 rows that ran them: the training median stays
    // 8.7%, but gpt-oss-120b on B200 at EP 8 loses half its priced gradient traffic and both its
    // rows go further over (25.11 +60% → +112%, 26.02.01 +34% → +55%): cases past 1.5× 3 → 4,
    // and the H100 gpt-oss row (+12.3% → +13.3%) crosses the median: all 12.65% → 13.13%.
    // The forty-second session stated the 25.11 B200 gpt-oss row's EP 64 (its release's script;
    // the table printed EP 8): +112% → +17%, cases past 1.5× 4 → 3, no median moves.
    // The forty-third priced a max-throughput run at the largest batch whose KV cache fits (an
    // engine admits requests while its KV blocks are free, not on the 1.5× grid) and stated the
    // CUTLASS fused MoE, trtllm-bench's default, on the five Blackwell FP4 rows that set no
    // backend: suite 13.13% → 12.97%, inference 13.81% → 13.74%, but the two gpt-oss 1k/1k
    // rows on H100, whose large-batch gap predates it, now run the engine's full batch
    // (+47% → +66%, +46% → +51%) and Maverick 1k/8k +73% → +78%: past 1.5× 3 → 5.
    let rs = run_cases(
        &load_suite(None, Suite::Moe).expect("built-in MoE cases parse"),
        &[],
    );
    assert!(rs.len() >= 128);
    for r in &rs {
        assert!(
            r.predicted.is_some(),
            "{} not evaluated: {:?}",
            r.id,
            r.reason
        );
    }
    let inference = stats(rs.iter().filter(|r| r.kind == "inference"));
    let m = inference.median_abs_error.unwrap();
    // 12.9% in the forty-fourth session, 11.9% in the forty-fifth (NVFP4's fused input), 13.4%
    // in the forty-sixth: context-generation fusion (a step's decode rows ride its prompt chunk,
    // one forward) speeds every TensorRT-LLM row, and the MoE rows were already too fast at
    // large batch (signed median +6.1% → +7.4%; the dense rows and the MLPerf check improve).
    // Forty-seventh: W4A8 on the two B200 gpt-oss rows (13.4% → 12.9%), then the developer
    // guide's other 26 gpt-oss cells on B200, GB200 and H100 (their median 16.2%, worst +47%,
    // none past 1.5×): 12.9% → 13.4%; then the eight 1000/1000 rows as the 3,000-request runs
    // trtllm-bench makes (closed form before): 13.4% → 13.6%, past 1.5× 6 → 4 (H100 gpt-oss-20b
    // +51% → +30%, Qwen3-235B DEP8 +53% → +37%), B200 Maverick DEP4 +3% → −20%.
    // Fifty-first session (Llama 4's chunks, decoded on TensorRT-LLM's per-query-head kernel on
    // Hopper): 13.6% → 13.4%.
    assert!(m <= 0.14, "MoE inference median {m:.3}");
    // Forty-fourth session (padded CUDA graphs, static fp8's fused input): worst 1.79× → 1.72×,
    // past 1.5× 5 → 4 (trtA gpt-oss-20b H100 1k/1k +51% → +47%); forty-sixth (fusion) 1.73×,
    // past 1.5× 4 → 6 (that row +51%, Qwen3-235B DEP8 H100 1k/1k +49% → +53%).
    // Fiftieth: 1.73× (Maverick H200 1k/8k, the one case past 1.5×); fifty-first, with Llama
    // 4's chunked layers decoded on the kernel TensorRT-LLM runs them on (+73% → +2%): 1.49×
    // (gpt-oss-120b H100 DEP4 1000/1000, on a wave edge): the issue's 1.5×.
    assert!(
        inference.worst_factor.unwrap() < 1.5,
        "{:?}",
        inference.worst_factor
    );
    let holdout = stats(
        rs.iter()
            .filter(|r| r.kind == "inference" && r.split.as_deref() == Some("holdout")),
    );
    let h = holdout.median_abs_error.unwrap();
    // Fiftieth session: the Triton MXFP4 experts' row tile and refit on Hopper (every case past
    // 1.5× but one back inside; the suite 11.7% → 11.4%) take the holdout half 13.7% → 14.1%:
    // gpt-oss-120b H100 DEP4 32k/1k +13% → +18% crosses its median.
    // Fifty-first: 14.1% → 13.7% (the Maverick H200 1k/8k and 1k/32k rows are holdout).
    assert!(h <= 0.14, "MoE inference holdout median {h:.3}");
    let all = stats(&rs).median_abs_error.unwrap();
    // 11.7% in the forty-sixth session; the forty-seventh's W4A8 11.4%, its 26 added gpt-oss
    // cells 13.2% (102 → 128 cases; the training rows, 8.7%, are a smaller share). Forty-eighth
    // (the host's time serialised with the GPU's at the measured 13.48 µs an operator, the
    // recipes' CUDA graph scopes stated, the operators recounted from Megatron-Core 0.16.1):
    // 13.3% → 11.7%.
    // Fiftieth 11.4%; fifty-first 10.6% (Llama 4's chunks).
    assert!(all <= 0.11, "MoE suite median {all:.3}");
    let training = stats(rs.iter().filter(|r| r.kind == "training"));
    let t = training.median_abs_error.unwrap();
    // 8.7% with the fitted 31 µs under max(GPU, host); 10.6% serialised at the measured 13.48 µs
    // with the old count, 8.0% with the operators recounted from Megatron-Core 0.16.1's code
    // (the H100 rows −4…+36% → 0…+24%, the Blackwell MXFP8 rows −9…+24%, the two gpt-oss BF16
    // Blackwell rows +58%/+67% → +35%/+49%; docs/calibration.md, forty-eighth session).
    assert!(t <= 0.09, "MoE training median {t:.3}");
    // The training rows' holdout half: 7.3% → 7.9% the same way.
    let training_holdout = stats(
        rs.iter()
            .filter(|r| r.kind == "training" && r.split.as_deref() == Some("holdout")),
    );
    let th = training_holdout.median_abs_error.unwrap();
    assert!(th <= 0.09, "MoE training holdout median {th:.3}");
    // No training row past 1.5× since the forty-eighth session (the two gpt-oss BF16 rows on
    // B200 and GB200 were +58% and +67%).
    let training_worst = training.worst_factor.unwrap();
    assert!(
        training_worst < 1.5,
        "MoE training worst {training_worst:.3}×"
    );
    let past = rs
        .iter()
        .filter(|r| {
            r.error
                .is_some_and(|e| (1.0 + e).max(1.0 / (1.0 + e)) > 1.5)
        })
        .count();
    // Four since the forty-seventh session (six before: the two 1000/1000 rows above); two
    // since the forty-eighth (the gpt-oss BF16 training rows on B200 and GB200 came in), one
    // since the fiftieth (the Triton MXFP4 tile), none since the fifty-first (Llama 4's chunked
    // decode): the issue's target.
    assert_eq!(past, 0, "MoE cases past 1.5×");
}

#[test]
fn megatron_bridge_26_08_moe_training_rows_hold_within_a_quarter() {
    // Megatron-Bridge's 26.08 table (v0.6.0 docs/performance-summary.md): DeepSeek-V3,
    // Qwen3-235B, Qwen3-30B and gpt-oss-120b pre-training in MXFP8 on GB200 and GB300 NVL72,
    // priced under the `megatron-bridge-26.08` profile (full-iteration CUDA graphs, HybridEP,
    // the all-to-alls overlapped across micro-batches: the recipes' software facts, nothing
    // fitted). Measured at −17…+22%, 7.3% at the median; tolerance 25% on each, 10% on the median.
    let rs = run_cases(
        &load_suite(None, Suite::Moe).expect("built-in MoE cases parse"),
        &[],
    );
    let rows: Vec<_> = rs
        .iter()
        .filter(|r| r.id.starts_with("mbridge2608-"))
        .collect();
    assert_eq!(rows.len(), 8);
    for r in &rows {
        let e = r.error.unwrap_or(f64::NAN);
        assert!(e.abs() <= 0.25, "{}: {e:+.3}", r.id);
    }
    let m = stats(rows.iter().copied()).median_abs_error.unwrap();
    assert!(m <= 0.10, "26.08 median {m:.3}");
}

#[test]
fn a_frontier_case_answers_with_the_best_batch_above_the_interactivity_floor() {
    // DeepSeek-V3 on one H200 node in TP8, fp8, 1k/1k: the case's answer is the most output
    // tokens/s per GPU over the batches whose 1/TPOT reaches 30 tokens/s per user, which a brute
    // force over every integer batch reproduces (the search prices a grid and bisects the gap
    // above the floor's last grid batch, so it must find the same batch, not a grid neighbour).
    let text = &dsv3_h200_tp8_frontier_case(30.0);
    let cases = gpt4calc::validate::parse_cases("test", text).unwrap();
    let got = run_cases(&cases, &[])[0].predicted.expect("evaluated");
    let ctx = dsv3_h200_context();
    let best = best_tp8_fp8_1k1k_at_30_per_user(&ctx, 4096);
    gpt4calc::testutil::assert_close(got, best, 1e-12);
    // `max_batch` bounds the search at the engines' limit (TP 8: one attention group): with 20
    // (between the grid's 16 and 24, so the bisection meets it) the answer is the best batch up
    // to 20, below the unbounded one.
    let capped = text.replace(
        "interactivity = 30.0",
        "interactivity = 30.0\nmax_batch = 20",
    );
    let cases = gpt4calc::validate::parse_cases("test", &capped).unwrap();
    let capped_result = run_cases(&cases, &[]).remove(0);
    let got_capped = capped_result.predicted.expect("evaluated");
    // The result names the configuration the search chose: TP 8 at a batch within the limit.
    let chosen = capped_result.configuration.expect("a configuration");
    let batch: u64 = chosen
        .strip_prefix("TP8, batch ")
        .and_then(|b| b.split(' ').next())
        .unwrap_or_else(|| panic!("{chosen}"))
        .parse()
        .unwrap();
    assert!((1..=20).contains(&batch), "{chosen}");
    // A mix with the next batch stays within the limit too.
    if let Some(upper) = chosen.split(" to ").nth(1) {
        let upper: u64 = upper.split(' ').next().unwrap().parse().unwrap();
        assert!(upper <= 20, "{chosen}");
    }
    let best_capped = best_tp8_fp8_1k1k_at_30_per_user(&ctx, 20);
    gpt4calc::testutil::assert_close(got_capped, best_capped, 1e-12);
    assert!(got_capped < got, "{got_capped} against {got}");
    // So does the run's `concurrency`, the requests the benchmark kept in flight: the search
    // holds no more (here one replica, so the batch stays at or below 20 as well).
    let at_concurrency = text.replace(
        "interactivity = 30.0",
        "interactivity = 30.0\nconcurrency = 20",
    );
    let cases = gpt4calc::validate::parse_cases("test", &at_concurrency).unwrap();
    let got_concurrency = run_cases(&cases, &[])[0].predicted.expect("evaluated");
    gpt4calc::testutil::assert_close(got_concurrency, best_capped, 1e-12);
    // A floor no batch reaches leaves the case unevaluated, with the reason.
    let out_of_reach = text.replace("interactivity = 30.0", "interactivity = 5000.0");
    let cases = gpt4calc::validate::parse_cases("test", &out_of_reach).unwrap();
    let r = &run_cases(&cases, &[])[0];
    assert!(r.predicted.is_none());
    assert!(r.configuration.is_none());
    assert!(
        r.reason
            .as_deref()
            .unwrap_or("")
            .contains("reaches 5000 tokens/s per user"),
        "{:?}",
        r.reason
    );
    // The reason says how far off: the fastest layout at one request in flight, priced by hand.
    let one = gpt4calc::perf::estimate(
        &ctx,
        &gpt4calc::perf::Config::new(8, 1, 1, 1024, 1024, gpt4calc::dtype::Dtype::Fp8),
    );
    let x = one.output_tokens_per_s_per_user;
    let expected = format!(
        "the fastest, TP8, batch 1, serves {x:.1} ({:.1}% short)",
        100.0 * (1.0 - x / 5000.0)
    );
    assert!(
        r.reason.as_deref().unwrap_or("").contains(&expected),
        "{:?} lacks {expected}",
        r.reason
    );
    // A layout the model cannot express leaves the case unevaluated with the layout's own error,
    // not a claim about memory: 256 experts over 48 ranks, without redundant experts.
    let unexpressible = text
        .replace("tp = 8\ndp = 1\nep = 1", "tp = 1\ndp = 48\nep = 48")
        .replace("gpu = \"h200\"", "gpu = \"gb200-nvl72\"");
    let cases = gpt4calc::validate::parse_cases("test", &unexpressible).unwrap();
    let r = &run_cases(&cases, &[])[0];
    let reason = r.reason.as_deref().unwrap_or("");
    assert!(r.predicted.is_none(), "{reason}");
    assert!(
        reason.contains("must divide the model's 256 experts"),
        "{reason}"
    );
}

/// A DeepSeek-V3 fp8 case on H200 pools at a fixed concurrency: decode layout `(tp, dp, ep)`,
/// pools `"P:D"`, any `extra` lines, the `metric` compared (its value is a placeholder).
fn dsv3_h200_concurrency_case(
    (tp, dp, ep): (u64, u64, u64),
    pools: &str,
    concurrency: u64,
    extra: &str,
    metric: &str,
) -> String {
    format!(
        r#"
[[case]]
id = "concurrency-by-hand"
source = "a test"
kind = "inference"
model = "deepseek-v3"
gpu = "h200"
dtype = "fp8"
tp = {tp}
dp = {dp}
ep = {ep}
disaggregate = "{pools}"
input_len = 1024
output_len = 1024
concurrency = {concurrency}
batching = "continuous"
{extra}
metric = "{metric}"
value = 1.0
"#
    )
}

/// The one case of `text`: its prediction (panics with the reason if none).
fn predict_one(text: &str) -> f64 {
    let cases = gpt4calc::validate::parse_cases("test", text).unwrap();
    let r = run_cases(&cases, &[]).remove(0);
    r.predicted.unwrap_or_else(|| panic!("{:?}", r.reason))
}

/// The one case of `text`: the configuration its prediction is for (panics with the reason if
/// none).
fn configuration_of(text: &str) -> String {
    let cases = gpt4calc::validate::parse_cases("test", text).unwrap();
    let r = run_cases(&cases, &[]).remove(0);
    r.configuration.unwrap_or_else(|| panic!("{:?}", r.reason))
}

/// The one case of `text`: why it is not evaluated ("" if it is), or why the file is refused
/// (a combination a case cannot state is refused when it loads).
fn reason_of(text: &str) -> String {
    match gpt4calc::validate::parse_cases("test", text) {
        Err(e) => format!("{e:#}"),
        Ok(cases) => run_cases(&cases, &[]).remove(0).reason.unwrap_or_default(),
    }
}

/// DeepSeek-V3 on H200 at the default prefill budget.
fn dsv3_h200_context() -> gpt4calc::perf::Context {
    let m = gpt4calc::presets::load_model("deepseek-v3", &[])
        .unwrap()
        .model;
    let g = gpt4calc::presets::load_gpu("h200", &[]).unwrap().gpu;
    gpt4calc::perf::Context::new(&m, &g, gpt4calc::perf::DEFAULT_PREFILL_CHUNK_TOKENS)
}

/// A frontier case of DeepSeek-V3 on one H200 node in TP8, fp8, 1k/1k, at `floor` tokens/s per
/// user (written as `interactivity = 30.0` for 30, which the tests replace to vary it).
fn dsv3_h200_tp8_frontier_case(floor: f64) -> String {
    format!(
        r#"
[[case]]
id = "frontier-by-hand"
source = "a test"
kind = "inference"
model = "deepseek-v3"
gpu = "h200"
dtype = "fp8"
tp = 8
dp = 1
ep = 1
input_len = 1024
output_len = 1024
mode = "frontier"
interactivity = {floor:?}
metric = "output_tokens_per_s_per_gpu"
value = 200.0
"#
    )
}

/// Brute force: the most output tokens/s per GPU of DeepSeek-V3 on H200 at TP 8, fp8, 1k/1k,
/// over every batch up to `max_batch` that fits and serves at least 30 tokens/s per user, mixed
/// with the next batch where the floor falls between the two.
fn best_tp8_fp8_1k1k_at_30_per_user(ctx: &gpt4calc::perf::Context, max_batch: u64) -> f64 {
    let at = |batch| {
        let c = gpt4calc::perf::Config::new(8, 1, batch, 1024, 1024, gpt4calc::dtype::Dtype::Fp8);
        gpt4calc::perf::estimate(ctx, &c)
    };
    let meeting: Vec<_> = (1..=max_batch)
        .map(at)
        .filter(|e| e.fits && e.output_tokens_per_s_per_user >= 30.0)
        .collect();
    let best = meeting
        .iter()
        .max_by(|a, b| {
            a.output_tokens_per_s_per_gpu
                .total_cmp(&b.output_tokens_per_s_per_gpu)
        })
        .expect("a batch meets the floor");
    let largest = meeting.iter().map(|e| e.config.batch).max().unwrap();
    // Where the floor falls between the best batch and the next, which misses it, the answer is
    // their mix whose tokens/s per user is the floor (requests in flight averaging b + f; at
    // most `max_batch`, which the cases below state as the cap or as the concurrency).
    if best.config.batch == largest && largest < max_batch {
        let next = at(largest + 1);
        let (u0, u1) = (
            best.output_tokens_per_s_per_user,
            next.output_tokens_per_s_per_user,
        );
        let (v0, v1) = (
            best.output_tokens_per_s_per_gpu,
            next.output_tokens_per_s_per_gpu,
        );
        if next.fits && u1 < 30.0 && v1 > v0 {
            // A share f of the time at b + 1: the requests at each batch weight what they see.
            let b = largest as f64;
            let f = b * (u0 - 30.0) / (b * (u0 - 30.0) + (b + 1.0) * (30.0 - u1));
            return v0 + f * (v1 - v0);
        }
    }
    best.output_tokens_per_s_per_gpu
}

#[test]
fn a_frontier_case_in_dollars_answers_with_the_cheapest_batch_above_the_floor() {
    // The same search for a cost per token takes the smallest (the issue's "or $/1M"): a brute
    // force over every integer batch that fits and reaches 30 tokens/s per user, unmixed (a
    // cost per token is not a rate that adds up over time).
    let text = dsv3_h200_tp8_frontier_case(30.0).replace(
        "metric = \"output_tokens_per_s_per_gpu\"",
        "metric = \"usd_per_1m_output_tokens\"",
    );
    let cases = gpt4calc::validate::parse_cases("test", &text).unwrap();
    let r = run_cases(&cases, &[]).remove(0);
    let ctx = dsv3_h200_context();
    let cheapest = (1..=4096)
        .map(|batch| {
            let c =
                gpt4calc::perf::Config::new(8, 1, batch, 1024, 1024, gpt4calc::dtype::Dtype::Fp8);
            gpt4calc::perf::estimate(&ctx, &c)
        })
        .filter(|e| e.fits && e.output_tokens_per_s_per_user >= 30.0)
        .map(|e| e.usd_per_1m_output_tokens)
        .fold(f64::INFINITY, f64::min);
    gpt4calc::testutil::assert_close(r.predicted.expect("evaluated"), cheapest, 1e-12);
    assert!(
        !r.configuration.as_deref().unwrap_or("").contains(" to "),
        "{:?}",
        r.configuration
    );
}

#[test]
fn a_frontier_answer_moves_continuously_with_the_floor() {
    // DeepSeek-V3 TP8 on H200 at 1k/1k: a floor a hair above and a hair below what batch 2
    // serves. Read at integer batches the answer would halve across it (batch 1 against batch
    // 2); read as the mix of the two batches whose tokens/s per user is the floor, it moves by
    // as little as the floor, and the configuration names the mix.
    let ctx = dsv3_h200_context();
    let two = gpt4calc::perf::estimate(
        &ctx,
        &gpt4calc::perf::Config::new(8, 1, 2, 1024, 1024, gpt4calc::dtype::Dtype::Fp8),
    );
    let u2 = two.output_tokens_per_s_per_user;
    let answer = |floor: f64| {
        let text = dsv3_h200_tp8_frontier_case(floor);
        let cases = gpt4calc::validate::parse_cases("test", &text).unwrap();
        let r = run_cases(&cases, &[]).remove(0);
        (
            r.predicted.expect("evaluated"),
            r.configuration.expect("a configuration"),
        )
    };
    let (above, says_above) = answer(u2 * (1.0 + 1e-6));
    let (below, says_below) = answer(u2 * (1.0 - 1e-6));
    assert!(
        (below / above - 1.0).abs() < 1e-3,
        "{above} ({says_above}) against {below} ({says_below})"
    );
    gpt4calc::testutil::assert_close(above, two.output_tokens_per_s_per_gpu, 1e-3);
    assert!(
        says_above.starts_with("TP8, batch 1 to 2 (mean 2.00"),
        "{says_above}"
    );
    assert!(
        says_below.starts_with("TP8, batch 2 to 3 (mean 2.00"),
        "{says_below}"
    );
}

#[test]
fn a_frontier_mix_holds_no_more_requests_than_the_run() {
    // 32 requests over three TP8 decode replicas on H200: each holds at most 11 (the share
    // rounded up), and a mix of 10 and 11 at most 32/3 on average, however low the floor's
    // tokens/s per user would let it go (33 requests give 10.72 at this floor).
    let text = dsv3_h200_tp8_frontier_case(69.0).replace(
        "mode = \"frontier\"",
        "disaggregate = \"1:3\"\nprefill_tp = 8\nprefill_dp = 1\nprefill_ep = 1\nconcurrency = 32\nmode = \"frontier\"",
    );
    assert_eq!(
        configuration_of(&text),
        "prefill 1 × TP8, decode 3 × TP8, batch 10 to 11 (mean 10.67 at the floor)"
    );
}

#[test]
fn a_disaggregated_cases_configuration_names_both_pools() {
    // Four requests on one prefill replica of DP8 EP8 and two decode replicas of TP8 EP8: each
    // decode replica holds two, and the result says so; an aggregated case names its one layout.
    let pooled = dsv3_h200_concurrency_case(
        (8, 1, 8),
        "1:2",
        4,
        "prefill_tp = 1\nprefill_dp = 8",
        "tpot_s",
    );
    assert_eq!(
        configuration_of(&pooled),
        "prefill 1 × DP8 EP8, decode 2 × TP8 EP8, batch 2"
    );
    let aggregated = pooled
        .replace("disaggregate = \"1:2\"\n", "")
        .replace("prefill_tp = 1\nprefill_dp = 8", "");
    assert_eq!(configuration_of(&aggregated), "TP8 EP8, batch 4");
}

#[test]
fn a_concurrency_point_spreads_its_requests_over_the_decode_replicas_and_counts_the_idle_ones() {
    // One request in flight on 1 prefill + 9 decode replicas of TP8 (an InferenceX Dynamo run):
    // one decode replica holds it at batch 1, the other 8 sit idle. The case's output tokens/s
    // per GPU is the 1:1 deployment's throughput over all 80 GPUs; its tokens/s per user is the
    // 1:1 deployment's. Four requests on two decode replicas: two each, no GPU idle.
    let case = |concurrency: u64, pools: &str, metric: &str| {
        dsv3_h200_concurrency_case((8, 1, 1), pools, concurrency, "", metric)
    };
    let predict = predict_one;
    let ctx = dsv3_h200_context();
    let deployment = |decode_replicas: u64, batch: u64| {
        let mut c =
            gpt4calc::perf::Config::new(8, 1, batch, 1024, 1024, gpt4calc::dtype::Dtype::Fp8);
        c.disaggregate = Some(gpt4calc::perf::Disaggregation {
            prefill_replicas: 1,
            decode_replicas,
            prefill: Default::default(),
            queued: 0,
        });
        gpt4calc::perf::estimate(&ctx, &c)
    };
    let one = deployment(1, 1);
    assert_eq!(one.gpus, 16);
    gpt4calc::testutil::assert_close(
        predict(&case(1, "1:9", "output_tokens_per_s_per_gpu")),
        one.output_tokens_per_s / 80.0,
        1e-12,
    );
    gpt4calc::testutil::assert_close(
        predict(&case(1, "1:9", "output_tokens_per_s_per_user")),
        one.output_tokens_per_s_per_user,
        1e-12,
    );
    let two = deployment(2, 2);
    gpt4calc::testutil::assert_close(
        predict(&case(4, "1:2", "output_tokens_per_s_per_gpu")),
        two.output_tokens_per_s_per_gpu,
        1e-12,
    );
    // Refused, with the reason: both `batch` and `concurrency`; a frontier search at a
    // concurrency that leaves decode replicas idle; a cost with idle GPUs (whose hours fall on
    // neither pool's tokens).
    let reason = reason_of;
    let both = case(1, "1:9", "output_tokens_per_s_per_gpu")
        .replace("concurrency = 1", "concurrency = 1\nbatch = 1");
    assert!(reason(&both).contains("not both"), "{}", reason(&both));
    let frontier = case(1, "1:9", "output_tokens_per_s_per_gpu").replace(
        "concurrency = 1",
        "concurrency = 1\nmode = \"frontier\"\ninteractivity = 10.0",
    );
    // A frontier search at a concurrency the decode replicas share: 40 requests on 2 replicas
    // hold at most 20 each, the same answer as the engines' limit of 20 (TP 8: one attention
    // group a replica), and below the unbounded search's.
    let search = |extra: &str| {
        predict(
            &case(40, "1:2", "output_tokens_per_s_per_gpu")
                .replace("concurrency = 40", extra)
                .replace(
                    "batching",
                    "mode = \"frontier\"\ninteractivity = 30.0\nbatching",
                ),
        )
    };
    let shared = search("concurrency = 40");
    gpt4calc::testutil::assert_close(shared, search("max_batch = 20"), 1e-12);
    assert!(shared < search(""), "{shared} against the unbounded search");
    assert!(
        reason(&frontier).contains("decode replicas idle"),
        "{}",
        reason(&frontier)
    );
    let cost = case(1, "1:9", "usd_per_1m_output_tokens");
    assert!(reason(&cost).contains("not priced"), "{}", reason(&cost));
}

#[test]
fn a_concurrency_above_the_decode_slots_fills_them_and_queues_the_rest() {
    // `max_batch`, the decode engines' limit per attention group: 40 requests on 2 decode
    // replicas of attention DP 4 with max_batch 4 hold 2 × 4 × 4 = 32 slots. The point is the
    // deployment at batch 16 a replica (every slot full) with 8 requests queued for a slot:
    // the same decode step and throughput, a later first token. Below the slots it changes
    // nothing; a `batch`, an aggregated point or a max-throughput search refuses it.
    let case = |concurrency: u64, extra: &str, metric: &str| {
        dsv3_h200_concurrency_case((1, 4, 4), "1:2", concurrency, extra, metric)
    };
    let (predict, reason) = (predict_one, reason_of);
    let ctx = dsv3_h200_context();
    let deployment = |queued: u64| {
        let mut c = gpt4calc::perf::Config::new(1, 1, 16, 1024, 1024, gpt4calc::dtype::Dtype::Fp8);
        c.dp = 4;
        c.ep = 4;
        c.disaggregate = Some(gpt4calc::perf::Disaggregation {
            prefill_replicas: 1,
            decode_replicas: 2,
            prefill: Default::default(),
            queued,
        });
        gpt4calc::perf::estimate(&ctx, &c)
    };
    let (full, waiting) = (deployment(0), deployment(8));
    for (metric, want) in [
        ("ttft_s", waiting.ttft_s),
        ("tpot_s", full.tpot_s),
        ("output_tokens_per_s", full.output_tokens_per_s),
    ] {
        gpt4calc::testutil::assert_close(predict(&case(40, "max_batch = 4", metric)), want, 1e-12);
    }
    assert!(waiting.ttft_s > full.ttft_s + 1.0, "{} s", waiting.ttft_s);
    // 32 requests fill the slots exactly: as without the limit.
    gpt4calc::testutil::assert_close(
        predict(&case(32, "max_batch = 4", "ttft_s")),
        predict(&case(32, "", "ttft_s")),
        1e-12,
    );
    let batch = case(40, "max_batch = 4", "ttft_s").replace("concurrency = 40", "batch = 40");
    assert!(
        reason(&batch).contains("not a `batch`"),
        "{}",
        reason(&batch)
    );
    let aggregated = case(40, "max_batch = 4", "ttft_s").replace("disaggregate = \"1:2\"\n", "");
    assert!(
        reason(&aggregated).contains("state `disaggregate`"),
        "{}",
        reason(&aggregated)
    );
    let max_throughput = case(40, "max_batch = 4", "output_tokens_per_s")
        .replace("concurrency = 40", "mode = \"max-throughput\"");
    assert!(
        reason(&max_throughput).contains("use mode = \"fixed\" or \"frontier\""),
        "{}",
        reason(&max_throughput)
    );
    // A limit of 0 is refused when the file is read, naming the field and the range.
    let zero = gpt4calc::validate::parse_cases("test", &case(40, "max_batch = 0", "ttft_s"))
        .unwrap_err()
        .to_string();
    assert!(
        zero.contains("max_batch = 0: must be an integer from 1"),
        "{zero}"
    );
}

#[test]
fn the_frontier_suite_holds_its_levels() {
    // validation/frontier.toml (InferenceX, DeepSeek-R1): the rack-scale issue's target (median
    // ≤ 20%, none beyond 2×) is met. 83 of 92 cases evaluate (the rest ask for more tokens/s per
    // user than the model's decode floor allows) at a median |error| of 13.5%, none past 2×
    // (worst 1.92×); these guards keep it from getting worse unnoticed (docs/calibration.md, "Frontier"). History: 49
    // evaluated at 93% before the runtimes' custom all-reduce and the measured small-m GEMM
    // floors, 65 at 64% before the AMD presets borrowed their generation's measured fixed times
    // (six MI355X batch-1 points, 4–9× too fast with no floor, went out of reach like B200's), 59
    // at 42.5% before Blackwell's measured NVFP4 GEMM constants. Reading the one case whose single
    // request left 8 of 9 decode replicas idle as a concurrency point (not a frontier search)
    // took its error from +906% to +12%, the median to 42.1% and the worst to 4.89×; MLA decode's
    // per-head latents to 41.5%. Searching every integer batch, not only the grid's (the largest
    // batch above the floor, bisected), took 38.2% to 31.7% (worst 3.74×): the grid's steps of
    // up to 1.5× had left up to a third of each answer out. Stating each run's prefill token
    // budget from its launch script (`prefill_chunk`: TensorRT-LLM's max_num_tokens, SGLang's
    // chunked-prefill size; eighteenth session) took it to 31.2% (29 past 1.5×, from 31), but the
    // worst, MI300X at 4 and 64 users, from 3.74× to 3.90×: its TPOT is already 2.4× too fast,
    // and prefilling each 8k prompt in one pass (SGLang's 131,072-token budget, not 2,048-token
    // chunks) shortens its steps further. The Dynamo-TRT recipes' decode `max_batch` and prefill
    // budget (nineteenth session): 29.6%, 17 past 2× (GB200 FP8 at 1,127 users +198% → +34%).
    // Each case's `concurrency`, the requests the run kept in flight, bounding the search
    // (twenty-first session): 25.3%, 8 past 2×, worst 3.72× (B200 FP4 at 4 users, −73%); the
    // search had answered with batches up to twice what the runs offered (MI300X at 4 users
    // +290% → +94%, GB200 FP8 at 4,096 +107% → +45%). Twenty-third session: the GB200 SGLang
    // point at 2,048 users states the 32 redundant experts its 48-rank decode pool needs and is
    // evaluated (+61%): 74 evaluated, 25.3%. The 18 floors still out of reach say by how much
    // (3–38% short of the published tokens/s per user, 12.6% at the median). Twenty-ninth
    // session: Blackwell's small-GEMM floors inside a decode step at the share B200's measured
    // MLA module runs them (0.85): 76 evaluated, 25.2% → 21.9%, past 2× 6 → 3, worst 3.63×
    // (B200 FP4 TensorRT-LLM at 4 users, −72%: its TPOT at batch 4 is 11% above measured).
    // Thirty-first session: the serving all-to-all's measured floors on NVLink 5 (TensorRT-LLM's
    // one-sided kernels on GB200 NVL72): 21.9% → 20.9%, past 2× 3. Thirty-eighth session: four
    // GB200 Dynamo + SGLang low-latency points read at the TP4 pools their launch scripts ran
    // (the record's DP fields are config metadata): 80 evaluated, 20.9% → 20.5%; then the runs of
    // TensorRT-LLM 1.3.0rc14 and SGLang v0.5.12 under their own release profiles (per-layer cost
    // 12 and 18 µs, fitted on the calibration half of those runs at their recorded layouts): 83
    // evaluated, 16.0%, past 2× 1 (B200 Dynamo + SGLang v0.5.8 at 4 users, −72%: its TPOT at the
    // recorded TP8 decode pool is 7% above the measured 6.94 ms, and the floor amplifies that).
    // Thirty-ninth session: SGLang's ROCm builds for MI300X/MI325X under their own profiles
    // (282 and 154 µs a layer): 14.8%, past 1.5× 13 → 9. Then a floor between two batches of one
    // deployment read as their mix (`at_the_floor` in src/validate.rs), where the integer batch
    // alone had answered a whole request short: 13.5%, past 2× 1 → 0 (that case −72% → −47%),
    // worst 3.58× → 1.92×.
    let rs = run_cases(
        &load_suite(None, Suite::Frontier).expect("built-in frontier cases parse"),
        &[],
    );
    assert!(rs.len() >= 92);
    let s = stats(&rs);
    assert!(s.evaluated >= 83, "{} evaluated", s.evaluated);
    assert!(
        s.median_abs_error.unwrap() <= 0.14,
        "{:?}",
        s.median_abs_error
    );
    assert!(s.worst_factor.unwrap() < 2.0, "{:?}", s.worst_factor);
    let past_2x = rs
        .iter()
        .filter_map(|r| r.error)
        .filter(|e| (1.0 + e).max(1.0 / (1.0 + e)) > 2.0)
        .count();
    assert_eq!(past_2x, 0, "{past_2x} cases past 2×");
}

#[test]
fn the_mlperf_suite_holds_its_levels() {
    // validation/mlperf.toml: NVIDIA's MLPerf Inference Offline results, v4.1 to v6.0, at their
    // shipped configurations; no constant fitted on it (docs/calibration.md, "Forty-sixth
    // session"). Every case evaluates; as added, 16.2% median and one row 2.82× off
    // (Llama-3.1-405B at TP1 PP4 on GB200, 512-token budget: one micro-batch's budget a round);
    // with TensorRT-LLM's PP micro-batches each taking the budget and the batch limit
    // (`max_batch_size × pp`) 14.7%, worst 1.60×; with context-generation fusion 11.6%, worst
    // 1.33× (DeepSeek-R1 on B300 under 6.0's CuTe DSL MoE, −25%).
    let rs = run_cases(
        &load_suite(None, Suite::Mlperf).expect("built-in MLPerf cases parse"),
        &[],
    );
    assert!(rs.len() >= 40, "{}", rs.len());
    assert_eq!(
        stats(&rs).evaluated,
        rs.len(),
        "every MLPerf case evaluates"
    );
    // A family's case count, and its median and worst against their limits.
    let family = |name: &str, cases: usize, median: f64, worst: f64| {
        let s = stats(rs.iter().filter(|r| r.family == name));
        assert_eq!(s.cases, cases, "{name}");
        let (m, w) = (s.median_abs_error.unwrap(), s.worst_factor.unwrap());
        assert!(m <= median, "{name} median {m:.3}");
        assert!(w < worst, "{name} worst {w:.3}");
    };
    family("throughput", 28, 0.12, 1.35);
    // The 12 Server rows' mean TPOT, read at the requests each run held in flight: 16.6%, the
    // model's steps faster than a Poisson stream's (worst DeepSeek-R1 on B200, v5.1, −37%).
    family("latency", 12, 0.18, 1.65);
}

#[test]
fn the_latency_suite_holds_its_levels() {
    // validation/latency.toml (InferenceX, DeepSeek-R1): median TTFT and TPOT at a fixed
    // concurrency. Every case evaluates. TPOT lands near 8%; TTFT near 33% overall, about 26%
    // for single instances up to concurrency 64 (the front-end latency, calibrated on half of
    // them, and the wait for the iteration in flight or, where the launch script set
    // `--scheduler-recv-interval`, for the scheduler's next poll), while the disaggregated runs at
    // high concurrency wait seconds the model sees only where a case states its decode slots
    // (`max_batch`) or its prefill pool runs near capacity (docs/calibration.md, "Latency").
    let cases = load_suite(None, Suite::Latency).expect("built-in latency cases parse");
    assert!(cases.len() >= 1500, "{}", cases.len());
    // Small enough for `--cases validation/latency.toml` too (case files are at most 4 MiB).
    assert!(gpt4calc::validate::LATENCY_CASES.len() as u64 <= gpt4calc::presets::MAX_FILE_BYTES);
    let rs = run_cases(&cases, &[]);
    // The median as `validate` reports it: the mean of the two middle values of an even count.
    let median = |f: &dyn Fn(&CaseResult) -> bool| {
        let mut e: Vec<f64> = rs
            .iter()
            .filter(|r| f(r))
            .map(|r| r.error.expect("every latency case evaluates").abs())
            .collect();
        e.sort_by(f64::total_cmp);
        let n = e.len();
        if n % 2 == 1 {
            e[n / 2]
        } else {
            0.5 * (e[n / 2 - 1] + e[n / 2])
        }
    };
    assert!(rs.iter().all(|r| r.error.is_some()));
    let tpot = median(&|r| r.metric == "tpot_s");
    // 9.09% before the thirty-first session's prefill-paced decode pools and measured NVLink
    // exchange floors, 8.61% after.
    assert!(tpot <= 0.09, "TPOT median |error| {tpot}");
    let ttft = median(&|r| r.metric == "ttft_s");
    // 38.6% before the attention-DP balancing was replayed, 37.7% after (fortieth session);
    // 37.3% before a disaggregated decode worker's admission was priced, 33.4% after (forty-first;
    // 37.5% before on the 762 runs left once a duplicate run was left out); 33.4% before a busy
    // prefill worker's forwards in flight were priced with the recipes' prompt budgets, 31.6%
    // after (forty-second).
    assert!(ttft <= 0.32, "TTFT median |error| {ttft}");
    // The disaggregated runs' first tokens (ids name the prefill pool, `-p<workers>x<layout>`):
    // 50.8% before the admission, 40.8% after (51.25% and 41.25% on the 762 runs); 36.1% with a
    // busy prefill worker's forwards in flight and the recipes' prompt budgets (forty-second).
    let disaggregated = |r: &CaseResult| {
        r.id.split('-')
            .any(|p| p.starts_with('p') && p[1..].starts_with(|c: char| c.is_ascii_digit()))
    };
    let split = median(&|r| r.metric == "ttft_s" && disaggregated(r));
    // 36.7% with the low-precision GEMMs priced by shape (forty-third): the H200 DeepSeek-R1
    // prefill pools' narrow TP 8 block-scaled GEMMs run slower, and those runs were already slow.
    assert!(split <= 0.37, "disaggregated TTFT median |error| {split}");
    // The B200/B300 SGLang runs whose scripts poll for requests every 10 or 30 iterations
    // (67% before the poll was priced, twenty-fifth session; 34.2% → 37.3% when SGLang's front
    // end was re-derived at 86.1 ms with its MI300-series runs at their build's per-layer cost,
    // thirty-ninth session: these runs are all too fast).
    let polled = median(&|r| {
        r.metric == "ttft_s"
            && cases.iter().any(|c| {
                c.id == r.id
                    && c.disaggregate.is_none()
                    && c.scheduler_recv_interval.is_some_and(|k| k > 1)
            })
    });
    assert!(polled <= 0.38, "polled SGLang TTFT median |error| {polled}");
    // The TensorRT-LLM runs whose scripts hold new prompts back on purpose: 11 with attention
    // DP balancing its groups (`attention_dp_config`: timeout 60, no gathering) and 2 without,
    // waiting for a full iteration (`batch_wait_timeout_iters` 40, ratio 0.8): 69-90% too fast
    // before the rules were replayed (fortieth session), 20% after, none past 1.5x.
    let held_back = |r: &CaseResult| {
        r.metric == "ttft_s"
            && cases.iter().any(|c| {
                c.id == r.id
                    && (c.adp_balance_timeout_iters.is_some()
                        || c.batch_wait_timeout_iters.is_some())
            })
    };
    assert_eq!(rs.iter().filter(|r| held_back(r)).count(), 13);
    let held = median(&held_back);
    assert!(held <= 0.22, "held-back TTFT median |error| {held}");
    for r in rs.iter().filter(|r| held_back(r)) {
        let e = r.error.unwrap();
        assert!((1.0 + e).max(1.0 / (1.0 + e)) <= 1.51, "{} {e}", r.id);
    }
    let single = median(&|r| {
        r.metric == "ttft_s"
            // Disaggregated ids name the prefill pool, `-p<workers>x<layout>`.
            && !r
                .id
                .split('-')
                .any(|p| p.starts_with('p') && p[1..].starts_with(|c: char| c.is_ascii_digit()))
            && r.id
                .rsplit_once("-c")
                .and_then(|(_, c)| c.split('-').next()?.parse::<u64>().ok())
                .is_some_and(|c| c <= 64)
    });
    assert!(
        single <= 0.28,
        "single-instance TTFT median |error| {single}"
    );
}

#[test]
fn the_decode_admission_is_its_calibration_median() {
    // The documented rule behind `DECODE_ADMISSION_ITERS` (docs/calibration.md, "Forty-first
    // session"): over the calibration half of InferenceX's disaggregated runs at concurrency
    // <= 16 with at least two requests a decode replica and no more than its slots, the median of
    // measured TTFT less the model's TTFT without the admission, in the model's decode iterations
    // (the sibling TPOT case's prediction; none of these runs speculates). The constant states it
    // to 0.01; a change that moves these runs' prefill, front end or decode step fails here until
    // it is re-derived.
    let cases = load_suite(None, Suite::Latency).expect("built-in latency cases parse");
    let without: Vec<_> = cases
        .iter()
        .cloned()
        .map(|mut c| {
            c.decode_admission_iters = Some(0.0);
            c
        })
        .collect();
    let rs = run_cases(&without, &[]);
    let predicted = |id: &str| {
        rs.iter()
            .find(|r| r.id == id)
            .and_then(|r| r.predicted)
            .expect("evaluates")
    };
    let mut iters: Vec<f64> = cases
        .iter()
        .zip(&rs)
        .filter_map(|(c, r)| {
            let (p, d) = c.disaggregate.as_deref()?.split_once(':')?;
            let (_, d): (u64, u64) = (p.parse().ok()?, d.parse().ok()?);
            let n = c.concurrency?;
            let slots = c.max_batch.map_or(u64::MAX, |b| b * c.dp.unwrap_or(1) * d);
            (r.metric == "ttft_s"
                && r.split.as_deref() == Some("calibration")
                && c.speculate.is_none()
                && n <= 16
                && n >= 2 * d
                && n <= slots)
                .then(|| {
                    let tpot = predicted(&format!("{}-tpot", r.id.trim_end_matches("-ttft")));
                    (r.actual - r.predicted.expect("evaluates")) / tpot
                })
        })
        .collect();
    assert_eq!(iters.len(), 43);
    iters.sort_by(f64::total_cmp);
    let n = iters.len();
    let median = if n % 2 == 1 {
        iters[n / 2]
    } else {
        0.5 * (iters[n / 2 - 1] + iters[n / 2])
    };
    assert!(
        (median - gpt4calc::perf::DECODE_ADMISSION_ITERS).abs() <= 0.01,
        "calibration median {median} iterations, constant {}",
        gpt4calc::perf::DECODE_ADMISSION_ITERS
    );
}

#[test]
fn each_serving_stacks_front_end_is_its_calibration_median() {
    // The documented rule behind `request_latency_us` (docs/calibration.md, "Nineteenth
    // session"): over the calibration half of InferenceX's single-instance runs at concurrency
    // <= 8, the median of measured TTFT less the model's TTFT without the front end, per serving
    // stack. The profiles state it to 0.1 ms; a change of the model that moves the prefill or
    // the iteration wait fails here until the profiles are re-derived (or the gap is explained).
    // A profile that copies its stack's front end (`sglang-0.5.9-rocm-mi30x`, not re-measured)
    // pools its runs with the stack's.
    let cases = load_suite(None, Suite::Latency).expect("built-in latency cases parse");
    let rs = run_cases(&cases, &[]);
    for (profile, copies, runs) in [
        ("trtllm-1.2", &[][..], 12),
        ("sglang-0.5", &["sglang-0.5.9-rocm-mi30x"][..], 28),
        ("atom-0.1", &[][..], 7),
    ] {
        let front_end_s = gpt4calc::runtime::load(profile)
            .expect("built-in profile")
            .runtime
            .overheads
            .request_latency_us
            .expect("the profile states its front end")
            * 1e-6;
        let mut residual_s: Vec<f64> = cases
            .iter()
            .zip(&rs)
            .filter(|(c, r)| {
                r.metric == "ttft_s"
                    && r.split.as_deref() == Some("calibration")
                    && c.runtime
                        .as_deref()
                        .is_some_and(|r| r == profile || copies.contains(&r))
                    && c.concurrency.is_some_and(|n| n <= 8)
            })
            .map(|(_, r)| r.actual - (r.predicted.expect("evaluates") - front_end_s))
            .collect();
        assert_eq!(residual_s.len(), runs, "{profile}");
        for copy in copies {
            let theirs = gpt4calc::runtime::load(copy)
                .expect("built-in profile")
                .runtime
                .overheads
                .request_latency_us;
            assert_eq!(theirs, Some(front_end_s * 1e6), "{copy}");
        }
        residual_s.sort_by(f64::total_cmp);
        let n = residual_s.len();
        let median_s = if n % 2 == 1 {
            residual_s[n / 2]
        } else {
            0.5 * (residual_s[n / 2 - 1] + residual_s[n / 2])
        };
        assert!(
            (median_s - front_end_s).abs() <= 1e-4,
            "{profile}: calibration median {median_s} s, profile {front_end_s} s"
        );
    }
}

/// The frontier runs of the release profiles (`trtllm-1.3`, `sglang-0.5.12`,
/// `sglang-0.5.12-rocm-mi30x`), each read at the
/// layout its note records ("aggregated single instance TPx/EPy/DPattn=z": attention DP over the x
/// GPUs when z, else TP x) and at its concurrency, as a fixed case of the published TPOT
/// (1 / interactivity).
fn release_tpot_cases() -> Vec<gpt4calc::validate::Case> {
    let frontier = load_suite(None, Suite::Frontier).expect("built-in frontier cases parse");
    let number = |s: &str| -> u64 {
        s.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .expect("a number")
    };
    let cases: Vec<_> = frontier
        .into_iter()
        .filter(|c| {
            matches!(
                c.runtime.as_deref(),
                Some("trtllm-1.3" | "sglang-0.5.12" | "sglang-0.5.12-rocm-mi30x")
            )
        })
        .map(|mut c| {
            let note = c.note.clone().expect("note");
            let layout = note
                .split("aggregated single instance TP")
                .nth(1)
                .unwrap_or_else(|| panic!("{}: no recorded layout", c.id));
            let tp = number(layout);
            let ep = number(layout.split("/EP").nth(1).expect("EP"));
            let dp_attention = layout
                .split("DPattn=")
                .nth(1)
                .expect("DPattn")
                .starts_with("true");
            (c.tp, c.dp) = if dp_attention {
                (Some(1), Some(tp))
            } else {
                (Some(tp), Some(1))
            };
            (c.ep, c.pp, c.gpus) = (Some(ep), Some(1), None);
            c.value = 1.0 / c.interactivity.take().expect("interactivity");
            c.mode = Some("fixed".to_string());
            c.metric = "tpot_s".to_string();
            c
        })
        .collect();
    assert_eq!(cases.len(), 30, "the three releases' frontier runs");
    cases
}

#[test]
fn each_release_profiles_per_layer_cost_is_its_calibration_fit() {
    // The documented rule behind `per_layer_us` in the release profiles (docs/calibration.md,
    // "Thirty-eighth session" and "Thirty-ninth session"): over the calibration half of the
    // release's InferenceX runs, each read at its recorded layout and concurrency (the frontier
    // runs through `release_tpot_cases`; v0.5.9-rocm700-mi30x's are the latency suite's TPOT
    // cases), the value on a 2 µs grid whose TPOT has the least rms log error. The holdout half,
    // not fitted, is closer at that value than at the GPU presets' 30 µs (its own optimum may
    // differ: 1.3's is lower still). v0.5.12-rocm700-mi30x has two calibration runs only.
    let mut cases = release_tpot_cases();
    let latency = load_suite(None, Suite::Latency).expect("built-in latency cases parse");
    cases.extend(latency.into_iter().filter(|c| {
        c.metric == "tpot_s" && c.runtime.as_deref() == Some("sglang-0.5.9-rocm-mi30x")
    }));
    let rms = |profile: &str, split: &str, runs: usize, per_layer_us: Option<f64>| -> f64 {
        let set: Vec<gpt4calc::presets::Override> = per_layer_us
            .map(|v| {
                format!("gpu.overheads.per_layer_us={v}")
                    .parse()
                    .expect("override")
            })
            .into_iter()
            .collect();
        let picked: Vec<_> = cases
            .iter()
            .filter(|c| c.runtime.as_deref() == Some(profile) && c.split.as_deref() == Some(split))
            .cloned()
            .collect();
        assert_eq!(picked.len(), runs, "{profile} {split}");
        let rs = run_cases(&picked, &set);
        let sq: f64 = rs
            .iter()
            .map(|r| (1.0 + r.error.expect("evaluates")).ln().powi(2))
            .sum();
        (sq / rs.len() as f64).sqrt()
    };
    // (profile, fitted µs, grid end µs, calibration runs, holdout runs)
    for (profile, fitted_us, grid_end, calibration, holdout) in [
        ("trtllm-1.3", 14.0, 60, 5, 5),
        ("sglang-0.5.12", 18.0, 60, 8, 7),
        ("sglang-0.5.9-rocm-mi30x", 282.0, 400, 17, 13),
        ("sglang-0.5.12-rocm-mi30x", 154.0, 400, 2, 3),
    ] {
        let stated = gpt4calc::runtime::load(profile)
            .expect("built-in profile")
            .runtime
            .overheads
            .per_layer_us
            .expect("the profile states its per-layer cost");
        assert!((stated - fitted_us).abs() < 1e-9, "{profile}: {stated} µs");
        let at = rms(profile, "calibration", calibration, None);
        for other in (0..=grid_end / 2).map(|k| 2.0 * f64::from(k)) {
            let there = rms(profile, "calibration", calibration, Some(other));
            assert!(
                at <= there + 1e-12,
                "{profile}: {at} at {fitted_us} µs, {there} at {other} µs"
            );
        }
        assert!(
            rms(profile, "holdout", holdout, None) < rms(profile, "holdout", holdout, Some(30.0)),
            "{profile}: holdout"
        );
    }
}

#[test]
fn each_release_profile_is_its_predecessor_but_for_the_per_layer_cost() {
    // `trtllm-1.3` copies `trtllm-1.2`; `sglang-0.5.12` and the two ROCm MI300-series builds copy
    // `sglang-0.5` (front end included, not re-measured) and state only their own per-layer cost.
    for (release, predecessor) in [
        ("trtllm-1.3", "trtllm-1.2"),
        ("sglang-0.5.12", "sglang-0.5"),
        ("sglang-0.5.9-rocm-mi30x", "sglang-0.5"),
        ("sglang-0.5.12-rocm-mi30x", "sglang-0.5"),
    ] {
        let load = |name: &str| {
            gpt4calc::runtime::load(name)
                .expect("built-in profile")
                .runtime
        };
        let (mut new, old) = (load(release), load(predecessor));
        assert!(new.overheads.per_layer_us.is_some(), "{release}");
        assert!(old.overheads.per_layer_us.is_none(), "{predecessor}");
        new.overheads.per_layer_us = None;
        assert_eq!(new, old, "{release} against {predecessor}");
    }
}

#[test]
fn a_case_states_its_runtimes_shared_expert_stream() {
    // `shared_expert_overlap = false` in a case overrides its profile (modern: true): DeepSeek-V3
    // at 4 users on 8 B200 decodes slower on one stream, as `estimate --shared-expert-overlap
    // false` does.
    let text = r#"
[[case]]
id = "one-stream"
source = "a test"
kind = "inference"
model = "deepseek-v3"
gpu = "b200"
dtype = "nvfp4"
tp = 8
batch = 4
input_len = 1024
output_len = 1024
metric = "tpot_s"
value = 0.01
"#;
    let tpot = |t: &str| {
        let cases = gpt4calc::validate::parse_cases("test", t).unwrap();
        run_cases(&cases, &[])[0].predicted.expect("evaluated")
    };
    let beside = tpot(text);
    let one_stream = tpot(&text.replace("tp = 8", "tp = 8\nshared_expert_overlap = false"));
    assert!(one_stream > beside, "{one_stream} vs {beside}");
}

/// A serving case of Llama-3-8B fp8 on H100 at 1,024/1,024 tokens with the given extra `fields`
/// (its layout among them), `mode` and `metric`.
fn llama3_8b_h100_1k1k_case(fields: &str, mode: &str, metric: &str) -> String {
    format!(
        r#"
[[case]]
id = "finite-run"
source = "a test"
kind = "inference"
model = "llama3-8b"
gpu = "h100"
dtype = "fp8"
input_len = 1024
output_len = 1024
{fields}
mode = "{mode}"
metric = "{metric}"
value = 1000.0
"#
    )
}

#[test]
fn a_finite_run_of_requests_converges_to_the_steady_state_and_is_refused_elsewhere() {
    // `requests` = N prices a trtllm-bench run of N requests submitted at once, timed from the
    // first start to the last end: the ramp and the drain cost a short run throughput, and a long
    // one converges to the closed form's steady state. Llama-3-8B fp8 on one H100, 1k/1k.
    let case = |extra: &str, mode: &str, metric: &str| {
        llama3_8b_h100_1k1k_case(&format!("tp = 1\n{extra}"), mode, metric)
    };
    let run = |text: &str| {
        let cases = gpt4calc::validate::parse_cases("test", text).unwrap();
        run_cases(&cases, &[]).remove(0)
    };
    let predict = |extra: &str| {
        let r = run(&case(
            extra,
            "max-throughput",
            "output_tokens_per_s_per_gpu",
        ));
        r.predicted.unwrap_or_else(|| panic!("{:?}", r.reason))
    };
    let steady = predict("");
    let long = predict("requests = 100000");
    let short = predict("requests = 300");
    gpt4calc::testutil::assert_close(long, steady, 0.01);
    assert!(short < 0.97 * long, "300 requests {short}, 100,000 {long}");
    // A stated budget replaces trtllm-bench's own (here at least the 1,024-token prompt plus the
    // batch): 256 tokens an iteration splits every prompt into four passes.
    let small_budget = predict("requests = 300\nprefill_chunk = 256");
    assert!(
        small_budget < 0.99 * short,
        "budget 256: {small_budget}, trtllm-bench's: {short}"
    );
    // Refused, with the reason: another mode, another metric, more requests than a simulation
    // runs.
    let reason = reason_of;
    let fixed = case(
        "requests = 300\nbatch = 64",
        "fixed",
        "output_tokens_per_s_per_gpu",
    );
    assert!(
        reason(&fixed).contains("max-throughput run's"),
        "{}",
        reason(&fixed)
    );
    let tpot = case("requests = 300", "max-throughput", "tpot_s");
    assert!(
        reason(&tpot).contains("output throughput"),
        "{}",
        reason(&tpot)
    );
    let many = case(
        "requests = 1000001",
        "max-throughput",
        "output_tokens_per_s_per_gpu",
    );
    let refused = gpt4calc::validate::parse_cases("test", &many);
    assert!(
        refused
            .as_ref()
            .err()
            .is_some_and(|e| format!("{e:#}").contains("requests =")),
        "{:?}",
        refused.err()
    );
}

#[test]
fn a_finite_run_holds_no_more_requests_than_its_engine_s_max_batch() {
    // `max_batch` on a run of `requests` is the engine's max_batch_size per attention group
    // (trtllm-bench takes the LLM API's 2,048 where it has no heuristic for the checkpoint's
    // quantisation): the simulated runs hold at most that many requests a group, which costs
    // throughput where a larger batch would have earned more. Llama-3-8B fp8, 1k/1k, on one and
    // on two attention groups of one H100.
    let case = |layout: &str, extra: &str| {
        llama3_8b_h100_1k1k_case(
            &format!("{layout}\nrequests = 3000\n{extra}"),
            "max-throughput",
            "output_tokens_per_s_per_gpu",
        )
    };
    let run = |text: &str| {
        let cases = gpt4calc::validate::parse_cases("test", text).unwrap();
        let r = run_cases(&cases, &[]).remove(0);
        let batch: u64 = r
            .configuration
            .as_deref()
            .and_then(|c| c.rsplit("batch ").next())
            .and_then(|b| b.trim().parse().ok())
            .unwrap_or_else(|| panic!("{:?} {:?}", r.configuration, r.reason));
        (r.predicted.expect("evaluated"), batch)
    };
    let (free, free_batch) = run(&case("tp = 1", ""));
    assert!(free_batch > 64, "uncapped batch {free_batch}");
    let (capped, capped_batch) = run(&case("tp = 1", "max_batch = 64"));
    assert!(capped_batch <= 64, "capped batch {capped_batch}");
    assert!(capped < 0.9 * free, "capped {capped}, free {free}");
    // The limit is per attention group: two groups hold twice as many.
    let (_, two_groups) = run(&case("tp = 1\ndp = 2\nep = 1", "max_batch = 64"));
    assert!(
        two_groups > 64 && two_groups <= 128,
        "two groups: batch {two_groups}"
    );
    // Without `requests` a max-throughput case searches the steady state's batch: no limit there.
    let steady = case("tp = 1", "max_batch = 64").replace("requests = 3000\n", "");
    let why = reason_of(&steady);
    assert!(why.contains("state `requests`"), "{why}");
}

/// A case that turns TensorRT-LLM's batch waiting on with one of its two settings would hold
/// nothing (docs/methodology.md §7.3): it is left unevaluated with the reason, while both, or
/// either at 0, evaluate.
#[test]
fn a_half_set_batch_wait_rule_is_named_not_ignored() {
    let case = |fields: &str| llama3_8b_h100_1k1k_case(fields, "fixed", "ttft_s");
    let reason = reason_of(&case("concurrency = 64\nbatch_wait_timeout_iters = 40"));
    assert!(
        reason.contains("batch_wait_timeout_iters = 40")
            && reason.contains("batch_wait_max_tokens_ratio = unset")
            && reason.contains("needs both"),
        "{reason}"
    );
    for fields in [
        "concurrency = 64\nbatch_wait_timeout_iters = 40\nbatch_wait_max_tokens_ratio = 0.8",
        "concurrency = 64\nbatch_wait_timeout_iters = 0",
    ] {
        assert_eq!(reason_of(&case(fields)), "", "{fields}");
    }
    let held = predict_one(&case(
        "concurrency = 64\noutput_len_dist = \"range-0.8\"\nprefill_chunk = 8192\nbatch_wait_timeout_iters = 40\nbatch_wait_max_tokens_ratio = 0.8",
    ));
    let free = predict_one(&case(
        "concurrency = 64\noutput_len_dist = \"range-0.8\"\nprefill_chunk = 8192",
    ));
    assert!(held > free, "{held} {free}");
}

/// A decode worker's admission on a case without pools of its own would price nothing: the case
/// is left unevaluated with the reason, while a disaggregated case reads it.
#[test]
fn an_admission_without_a_decode_pool_is_named_not_ignored() {
    let case = |fields: &str| llama3_8b_h100_1k1k_case(fields, "fixed", "ttft_s");
    let reason = reason_of(&case("concurrency = 64\ndecode_admission_iters = 3"));
    assert!(
        reason.contains("decode_admission_iters = 3") && reason.contains("disaggregated"),
        "{reason}"
    );
    let pools = "concurrency = 64\ndisaggregate = \"1:1\"";
    let admitted = predict_one(&case(&format!("{pools}\ndecode_admission_iters = 9")));
    let direct = predict_one(&case(&format!("{pools}\ndecode_admission_iters = 0")));
    assert!(admitted > direct, "{admitted} {direct}");
}

/// A prefill worker's scheduler loop on a case without pools of its own, or on a static batch,
/// would price nothing: the case is left unevaluated with the reason, while a disaggregated,
/// continuously batched case reads it (the overlap loop's next forward lengthens its first
/// token).
#[test]
fn a_prefill_overlap_without_a_busy_prefill_pool_is_named_not_ignored() {
    let case = |fields: &str| llama3_8b_h100_1k1k_case(fields, "fixed", "ttft_s");
    let reason = reason_of(&case("concurrency = 64\nprefill_overlap = false"));
    assert!(
        reason.contains("prefill_overlap = false") && reason.contains("disaggregated"),
        "{reason}"
    );
    let reason = reason_of(&case(
        "batch = 64\ndisaggregate = \"1:1\"\nbatching = \"static\"\nprefill_overlap = true",
    ));
    assert!(
        reason.contains("prefill_overlap = true") && reason.contains("static batch"),
        "{reason}"
    );
    let pools = "concurrency = 64\ndisaggregate = \"1:1\"";
    let overlapped = predict_one(&case(&format!("{pools}\nprefill_overlap = true")));
    let plain = predict_one(&case(&format!("{pools}\nprefill_overlap = false")));
    assert!(overlapped > plain, "{overlapped} {plain}");
}

/// Whether Llama-3-70B in fp8 on one H200 holds `batch` sequences of 128 + 2,048 tokens.
fn llama70b_h200_fits(batch: u64) -> bool {
    use gpt4calc::dtype::Dtype;
    use gpt4calc::perf::{Config, Context, DEFAULT_PREFILL_CHUNK_TOKENS, estimate};
    let m = gpt4calc::presets::load_model("llama3-70b", &[])
        .unwrap()
        .model;
    let g = gpt4calc::presets::load_gpu("h200", &[]).unwrap().gpu;
    let ctx = Context::new(&m, &g, DEFAULT_PREFILL_CHUNK_TOKENS);
    let c = Config {
        kv_dtype: Dtype::Fp8,
        ..Config::new(1, 1, batch, 128, 2048, Dtype::Fp8)
    };
    ctx.check(&c).is_ok() && estimate(&ctx, &c).fits
}

#[test]
fn a_max_throughput_run_holds_the_largest_batch_that_fits() {
    // TensorRT-LLM admits a request while its KV blocks for the whole input and output are free
    // (GUARANTEED_NO_EVICT), not on the search grid's 1.5× steps: a memory-bound engine whose KV
    // cache holds between two grid batches runs the larger number. Llama-3-70B in fp8 on one H200
    // at 128/2,048 holds about 190 sequences (the grid has 128 and 192), and its decode step, a
    // weight stream, barely grows with the batch: the case chooses the largest batch that fits,
    // in the steady state and in a finite run of 3,000 requests alike.
    for requests in ["", "requests = 3000\n"] {
        let text = format!(
            r#"
[[case]]
id = "kv-bound"
source = "a test"
kind = "inference"
model = "llama3-70b"
gpu = "h200"
dtype = "fp8"
kv_dtype = "fp8"
tp = 1
input_len = 128
output_len = 2048
{requests}mode = "max-throughput"
metric = "output_tokens_per_s"
value = 4336.0
"#
        );
        let cases = gpt4calc::validate::parse_cases("test", &text).unwrap();
        let r = run_cases(&cases, &[]).remove(0);
        let chosen = r.configuration.expect("a configuration");
        let batch: u64 = chosen
            .strip_prefix("TP1, batch ")
            .unwrap_or_else(|| panic!("{chosen}"))
            .parse()
            .unwrap();
        assert!(
            llama70b_h200_fits(batch) && !llama70b_h200_fits(batch + 1),
            "{requests}{chosen}"
        );
        assert!(
            !gpt4calc::batch_search::grid().any(|b| b == batch),
            "{chosen}"
        );
    }
}

#[test]
fn a_trtllm_bench_run_stops_at_its_engine_batch_limit() {
    // trtllm-bench builds its engine for at most 4,096 requests (`finetune_setting`, "Cap total
    // batch size to avoid decoder buffer size becoming too large"): Llama-3.1-8B in fp8 on an
    // H200 at 128/128 holds about 7,500 sequences in its KV cache, but a run of 30,000 requests
    // runs at most 4,096 at once. A stated `max_batch` replaces the limit.
    let case = |extra: &str| {
        format!(
            r#"
[[case]]
id = "engine-limit"
source = "a test"
kind = "inference"
model = "llama3.1-8b"
gpu = "h200"
dtype = "fp8"
kv_dtype = "fp8"
tp = 1
input_len = 128
output_len = 128
requests = 30000
{extra}mode = "max-throughput"
metric = "output_tokens_per_s"
value = 27911.0
"#
        )
    };
    let batch = |text: &str| -> u64 {
        let cases = gpt4calc::validate::parse_cases("test", text).unwrap();
        let chosen = run_cases(&cases, &[]).remove(0).configuration.unwrap();
        chosen
            .strip_prefix("TP1, batch ")
            .unwrap_or_else(|| panic!("{chosen}"))
            .parse()
            .unwrap()
    };
    assert!(batch(&case("")) <= 4096);
    assert!(batch(&case("max_batch = 1000\n")) <= 1000);
}

#[test]
fn a_trtllm_bench_run_replays_padded_cuda_graphs() {
    // TensorRT-LLM's perf overview runs gpt-oss with `cuda_graph_config: enable_padding: true`
    // and the batch list 1, 2, 4, … 512, 1024, 2048, 4096, 8192, on the LLM API's default engine
    // limits (max_batch_size 2,048, max_num_tokens 8,192; MXFP4 is not a quantisation
    // trtllm-bench tunes). gpt-oss-20b on one H200 at 1,024/1,024 runs the 1,176 requests its
    // KV cache holds (the engine's own batch, not a smaller cap that would dodge the padding),
    // and each decode-only iteration replays the 2,048 graph: every GEMM, expert and the head on
    // 2,048 rows. Measured (forty-fourth session): 19,555 → 16,332 output tokens/s per GPU
    // (published 14,719). Fiftieth session: 18,211 → 16,991, since the Triton MXFP4 experts
    // already multiply whole tiles (`row_tile`): 1,176 sequences' 147 rows an expert and
    // 2,048's 256 both run in two tiles of 128, so the padded graph costs the experts nothing
    // more and the step less than before.
    let case = |extra: &str| {
        format!(
            r#"
[[case]]
id = "padding"
source = "a test"
kind = "inference"
model = "gpt-oss-20b"
gpu = "h200"
dtype = "int4"
dense_dtype = "bf16"
kv_dtype = "bf16"
tp = 1
input_len = 1024
output_len = 1024
requests = 3000
max_batch = 2048
prefill_chunk = 8192
{extra}mode = "max-throughput"
metric = "output_tokens_per_s_per_gpu"
value = 14719.0
"#
        )
    };
    let run = |text: &str| {
        let cases = gpt4calc::validate::parse_cases("test", text).unwrap();
        run_cases(&cases, &[]).remove(0)
    };
    let plain = run(&case(""));
    let padded = run(&case(
        "cuda_graph_batch_sizes = [1, 2, 4, 8, 16, 32, 64, 128, 256, 384, 512, 1024, 2048, 4096, 8192]\n",
    ));
    assert_eq!(plain.configuration, padded.configuration);
    let batch: u64 = padded
        .configuration
        .as_deref()
        .and_then(|c| c.strip_prefix("TP1, batch "))
        .and_then(|b| b.parse().ok())
        .expect("a TP1 batch");
    assert!((1025..2048).contains(&batch), "batch {batch}");
    let ratio = padded.predicted.unwrap() / plain.predicted.unwrap();
    assert!((0.88..0.97).contains(&ratio), "padded/plain {ratio:.3}");
    // A batch of 0, or past the batch limit, refuses the file with the field named.
    let bad = gpt4calc::validate::parse_cases("test", &case("cuda_graph_batch_sizes = [0]\n"))
        .unwrap_err()
        .to_string();
    assert!(bad.contains("cuda_graph_batch_sizes = 0"), "{bad}");
}

#[test]
fn the_tensorrt_llm_1_0_perf_overview_dense_rows_hold_their_level() {
    // TensorRT-LLM 1.0's perf overview (docs/source/performance/perf-overview.md, the v1.0
    // revision): Llama-3.1-8B, Llama-3.3-70B and Llama-3.1-405B on H100, H200, B200 and GB200 at
    // ten length pairs, each a trtllm-bench run of the page's request count. Measured in the
    // forty-third session: median |error| 8.4%, signed median −8% (the model slower), none past
    // ±25% (the worst, the 8B's 20k/2k on H200, −21%); forty-fourth (the page's padded CUDA
    // graphs and static fp8's fused input): 8.05%, signed −7.7%, none past ±25%; forty-fifth
    // (NVFP4's fused input, the B200 and GB200 rows): 7.46%, signed −6.4%.
    let rs = results();
    let rows: Vec<&CaseResult> = rs.iter().filter(|r| r.id.starts_with("trt10-")).collect();
    assert_eq!(rows.len(), 100);
    let e: Vec<f64> = rows.iter().map(|r| r.error.expect("evaluated")).collect();
    let m = stats(rows.iter().copied()).median_abs_error.unwrap();
    assert!(m <= 0.08, "median {m:.3}");
    assert!(e.iter().all(|x| x.abs() <= 0.25), "{e:?}");
}
