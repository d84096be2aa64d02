//! Accuracy guard: the built-in public cases (validation/public.toml) through `validate`.
//! Targets from the accuracy issue where they hold today; the others are held at today's level so
//! that a change cannot make them worse unnoticed (docs/calibration.md has the figures).

use gpt4calc::validate::{CaseResult, load_cases, run_cases, stats, summarize};

fn results() -> Vec<CaseResult> {
    run_cases(&load_cases(None).expect("built-in cases parse"), &[])
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

#[test]
fn latency_metrics_median_error_within_15_percent() {
    // The accuracy issue's target for latency metrics: TTFT, TPOT and end-to-end latency.
    let rs = results();
    let s = stats(rs.iter().filter(|r| r.family == "ttft"));
    let ttft = s.median_abs_error.unwrap();
    assert!(ttft <= 0.15, "ttft median |error| {ttft:.3} > 0.15");
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
    // Levels measured when calibrated (docs/calibration.md), with a little room.
    assert!(
        med("training") <= 0.15,
        "training median {:.3}",
        med("training")
    );
    let all = sum.overall.median_abs_error.unwrap();
    assert!(all <= 0.125, "overall median {all:.3}");
    // Throughput also holds most cases within ±25%.
    let tp = &sum.by_family["throughput"];
    assert!(
        tp.within_25pct.unwrap() >= 0.95,
        "throughput within 25%: {:?}",
        tp.within_25pct
    );
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
