//! `sweep` and `estimate`.

use super::{load, parse_requires, rows_to_show};
use crate::axis::{parse_dtype_axis, parse_u64_axis};
use crate::cli::{EstimateArgs, SweepArgs};
use crate::dtype::Dtype;
use crate::exit_code::{NO_FEASIBLE, OK};
use crate::fields::SortKey;
use crate::perf::{Config, Reject, estimate_with_draft};
use crate::report::row::Named;
use crate::report::{self, Format, explain::explain, row::Row};
use crate::require::Require;
use crate::sweep::{self, Axes, EpAxis, Plan};

/// Rows of a sweep that `--rate` simulates (each simulation is bounded by `--step-budget`).
pub const SIMULATED_ROWS: usize = 20;

/// Simulate with a progress bar on a terminal.
fn simulate_with_bar(
    ctx: &crate::perf::Context,
    c: &Config,
    w: &crate::sim::Workload,
) -> Result<crate::sim::SimResult> {
    let bar = crate::progress::simulation_bar(w.requests, &c.layout().name());
    let s = crate::sim::simulate_with_progress(ctx, c, w, &mut |n| bar.set_position(n));
    bar.finish_and_clear();
    s.check_finite(w).map_err(|e| anyhow!(e))?;
    Ok(s)
}

/// Attention data-parallel degrees a sweep tries for an MoE model by default.
pub const DEFAULT_MOE_DP: [u64; 7] = [1, 2, 4, 8, 16, 32, 64];
use anyhow::{Result, anyhow, bail};
use serde::Serialize;
use std::io::{BufWriter, Write};

#[derive(Serialize)]
struct SweepInputs<'a> {
    model: &'a str,
    gpu: &'a str,
    gpu_calibration: String,
    tp: &'a [u64],
    dp: &'a [u64],
    pp: &'a [u64],
    ep: Option<&'a [u64]>,
    redundant_experts: u64,
    moe_dispatch: crate::perf::MoeDispatch,
    moe_overlap: crate::perf::MoeOverlap,
    batch: &'a [u64],
    input_len: &'a [u64],
    output_len: &'a [u64],
    dtype: Vec<&'static str>,
    kv_dtype: Vec<&'static str>,
    sort: &'a str,
    top: Option<usize>,
    all: bool,
    require: &'a [String],
    set: Vec<String>,
    prefill_chunk: u64,
    runtime: crate::runtime::InForce,
    batching: crate::perf::Batching,
    kv_sharding: crate::perf::KvSharding,
    sequence_parallel: bool,
    output_len_dist: &'static str,
    speculation: Option<crate::perf::Speculation>,
    disaggregate: Option<crate::perf::Disaggregation>,
    pareto: bool,
}

/// The serving software in force: each flag, else the runtime profile's setting, else the default.
struct Software {
    batching: crate::perf::Batching,
    sequence_parallel: bool,
    moe_dispatch: crate::perf::MoeDispatch,
    moe_overlap: crate::perf::MoeOverlap,
}

impl Software {
    fn resolve(s: &crate::cli::Serving, rt: &crate::runtime::Runtime) -> Self {
        Software {
            batching: s.batching.unwrap_or_else(|| rt.batching()),
            sequence_parallel: s
                .sequence_parallel
                .unwrap_or_else(|| rt.serve_sequence_parallel()),
            moe_dispatch: s.moe_dispatch.unwrap_or_else(|| rt.moe_dispatch()),
            moe_overlap: s.moe_overlap.unwrap_or_else(|| rt.moe_overlap()),
        }
    }
}

#[derive(Serialize)]
struct SweepSummary {
    configurations: u64,
    evaluated: u64,
    fit: u64,
    passed: u64,
    shown: usize,
    skipped: u64,
}

fn names(ds: &[Dtype]) -> Vec<&'static str> {
    ds.iter().map(|d| d.name()).collect()
}

/// `gpt4calc sweep`.
pub fn sweep(a: SweepArgs) -> Result<u8> {
    let l = load(&a.selection, a.serving.prefill_chunk)?;
    let (speculation, draft) = super::speculation(&a.serving, &a.selection)?;
    let soft = Software::resolve(&a.serving, &l.runtime.runtime);
    let moe = l.ctx.experts > 1;
    let axes = Axes {
        tp: parse_u64_axis("tp", &a.tp).map_err(|e| anyhow!(e))?,
        dp: match a.dp.trim() {
            "auto" if moe => DEFAULT_MOE_DP.to_vec(),
            "auto" => vec![1],
            t => parse_u64_axis("dp", t).map_err(|e| anyhow!(e))?,
        },
        pp: parse_u64_axis("pp", &a.pp).map_err(|e| anyhow!(e))?,
        ep: match a.ep.trim() {
            "auto" => EpAxis::Auto,
            t => EpAxis::List(parse_u64_axis("ep", t).map_err(|e| anyhow!(e))?),
        },
        expert_slots: l.ctx.experts.saturating_add(a.serving.redundant_experts),
        redundant_experts: a.serving.redundant_experts,
        moe_dispatch: soft.moe_dispatch,
        moe_overlap: soft.moe_overlap,
        batch: parse_u64_axis("batch", &a.batch).map_err(|e| anyhow!(e))?,
        input_len: parse_u64_axis("input-len", &a.input_len).map_err(|e| anyhow!(e))?,
        output_len: parse_u64_axis("output-len", &a.output_len).map_err(|e| anyhow!(e))?,
        dtype: parse_dtype_axis("dtype", &a.dtype).map_err(|e| anyhow!(e))?,
        kv_dtype: match &a.kv_dtype {
            Some(t) => parse_dtype_axis("kv-dtype", t).map_err(|e| anyhow!(e))?,
            None => Vec::new(),
        },
        batching: soft.batching,
        speculation,
        output_dist: a.serving.output_len_dist,
        disaggregate: super::disaggregation(&a.serving),
        kv_sharding: a.serving.kv_sharding,
        sequence_parallel: soft.sequence_parallel,
    };
    let sort = SortKey::parse::<Named>(&a.sort).map_err(|e| anyhow!(e))?;
    let top = rows_to_show(a.top, a.output.format);
    let plan = Plan {
        sort,
        top,
        include_unfit: a.all,
        require: parse_requires::<Named>(&a.output.require)?,
        pareto: a.pareto,
    };
    let total = axes.len();
    sweep::check_work(total, a.max_configurations, "the sweep's axes").map_err(|e| anyhow!(e))?;
    let bar = crate::progress::bar(total);
    let (model_name, gpu_name) = (l.model.name.as_str(), l.gpu.name.as_str());
    let result = sweep::run(
        &l.ctx,
        draft.as_ref(),
        &axes,
        &plan,
        (model_name, gpu_name),
        &mut |n| bar.set_position(n),
    );
    bar.finish_and_clear();
    let (kept, summary) = result.map_err(|e| anyhow!(e))?;
    for line in summary.skipped.lines() {
        eprintln!("note: {line}");
    }
    // With --rate, the first SIMULATED_ROWS rows shown that fit are also simulated.
    let workload = super::workload(&a.serving)?;
    let mut simulated = 0usize;
    let mut unsimulated = (0usize, 0usize);
    let rows: Vec<Row> = kept
        .iter()
        .map(|e| {
            let simulation = match workload {
                Some(_) if !e.fits => {
                    unsimulated.0 += 1;
                    None
                }
                Some(_) if simulated >= SIMULATED_ROWS => {
                    unsimulated.1 += 1;
                    None
                }
                Some(w) => {
                    simulated += 1;
                    Some(simulate_with_bar(&l.ctx, &e.config, &w)?)
                }
                None => None,
            };
            Ok(Row {
                simulation,
                ..Row::new(model_name, gpu_name, e)
            })
        })
        .collect::<Result<_>>()?;
    if unsimulated.0 > 0 {
        eprintln!(
            "note: --rate: {} row(s) that do not fit in memory are not simulated",
            unsimulated.0
        );
    }
    if unsimulated.1 > 0 {
        eprintln!(
            "note: --rate simulates the first {SIMULATED_ROWS} rows that fit; {} more row(s) are not simulated (narrow the sweep or use estimate --rate)",
            unsimulated.1
        );
    }
    let inputs = SweepInputs {
        model: model_name,
        gpu: gpu_name,
        gpu_calibration: l.gpu.gpu.calibration(),
        tp: &axes.tp,
        dp: &axes.dp,
        pp: &axes.pp,
        ep: match &axes.ep {
            EpAxis::List(v) => Some(v),
            EpAxis::Auto => None,
        },
        redundant_experts: axes.redundant_experts,
        moe_dispatch: axes.moe_dispatch,
        moe_overlap: axes.moe_overlap,
        batch: &axes.batch,
        input_len: &axes.input_len,
        output_len: &axes.output_len,
        dtype: names(&axes.dtype),
        kv_dtype: names(&axes.kv_dtype),
        sort: &a.sort,
        top,
        all: a.all,
        require: &a.output.require,
        set: a.selection.set.iter().map(ToString::to_string).collect(),
        prefill_chunk: a.serving.prefill_chunk,
        runtime: (&l.runtime).into(),
        batching: soft.batching,
        kv_sharding: a.serving.kv_sharding,
        sequence_parallel: soft.sequence_parallel,
        output_len_dist: a.serving.output_len_dist.name(),
        speculation,
        disaggregate: axes.disaggregate,
        pareto: a.pareto,
    };
    let skipped: u64 = summary.skipped.total();
    let doc_summary = SweepSummary {
        configurations: total,
        evaluated: summary.evaluated,
        fit: summary.fit,
        passed: summary.passed,
        shown: rows.len(),
        skipped,
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    report::render(a.output.format, &rows, &inputs, &doc_summary, &mut out)?;
    if let (Some(w), Format::Table | Format::Markdown) = (workload, a.output.format) {
        write!(
            out,
            "{}",
            crate::report::simulated_rows(&w, &rows, a.output.format == Format::Markdown)
        )?;
    }
    out.flush()?;
    let direction = if sort.descending { "highest" } else { "lowest" };
    let require_note = if plan.require.is_empty() {
        String::new()
    } else {
        format!(", {} pass --require", summary.passed)
    };
    eprintln!(
        "{} configurations evaluated, {} fit in memory{require_note}; showing {}{} ({direction} {} first){}",
        summary.evaluated,
        summary.fit,
        rows.len(),
        if a.pareto {
            " on the tokens/s-per-GPU vs tokens/s-per-user frontier"
        } else {
            ""
        },
        sort.field.name(),
        if a.all {
            ", including rows that do not fit"
        } else {
            ""
        }
    );
    if rows.is_empty() {
        let why = if summary.fit == 0 && !a.all {
            "no configuration fits in memory; try more GPUs (--tp, --pp), a smaller --dtype, or --all to see them"
        } else if summary.evaluated == 0 {
            "no configuration could be evaluated"
        } else {
            "no configuration satisfies every --require"
        };
        eprintln!("{why}");
        return Ok(NO_FEASIBLE);
    }
    Ok(OK)
}

#[derive(Serialize)]
struct EstimateInputs<'a> {
    model: &'a str,
    gpu: &'a str,
    gpu_calibration: String,
    set: Vec<String>,
    prefill_chunk: u64,
    runtime: crate::runtime::InForce,
    batching: crate::perf::Batching,
    moe_dispatch: crate::perf::MoeDispatch,
    moe_overlap: crate::perf::MoeOverlap,
    kv_sharding: crate::perf::KvSharding,
    sequence_parallel: bool,
}

/// `gpt4calc estimate`.
pub fn estimate(a: EstimateArgs) -> Result<u8> {
    let l = load(&a.selection, a.serving.prefill_chunk)?;
    let (speculation, draft) = super::speculation(&a.serving, &a.selection)?;
    let soft = Software::resolve(&a.serving, &l.runtime.runtime);
    let c = Config {
        tp: a.tp,
        dp: a.dp,
        pp: a.pp,
        ep: a.ep,
        redundant_experts: a.serving.redundant_experts,
        moe_dispatch: soft.moe_dispatch,
        moe_overlap: soft.moe_overlap,
        batch: a.batch,
        input_len: a.input_len,
        output_len: a.output_len,
        dtype: a.dtype,
        kv_dtype: a.kv_dtype.unwrap_or(a.dtype.default_kv()),
        batching: soft.batching,
        speculation,
        output_dist: a.serving.output_len_dist,
        disaggregate: super::disaggregation(&a.serving),
        kv_sharding: a.serving.kv_sharding,
        sequence_parallel: soft.sequence_parallel,
    };
    match l.ctx.check(&c) {
        Err(Reject::Invalid(msg)) => bail!(msg),
        Err(Reject::Skip(msg)) => {
            eprintln!("note: skipped: {msg}");
            return Ok(NO_FEASIBLE);
        }
        Ok(()) => {}
    }
    let requires = parse_requires::<Named>(&a.output.require)?;
    let e = estimate_with_draft(&l.ctx, draft.as_ref(), &c);
    let (m, g) = (l.model.name.as_str(), l.gpu.name.as_str());
    e.check_finite(m, g).map_err(|msg| anyhow!(msg))?;
    let rows = vec![Row::new(m, g, &e)];
    let inputs = EstimateInputs {
        model: m,
        gpu: g,
        gpu_calibration: l.gpu.gpu.calibration(),
        set: a.selection.set.iter().map(ToString::to_string).collect(),
        prefill_chunk: a.serving.prefill_chunk,
        runtime: (&l.runtime).into(),
        batching: soft.batching,
        moe_dispatch: soft.moe_dispatch,
        moe_overlap: soft.moe_overlap,
        kv_sharding: a.serving.kv_sharding,
        sequence_parallel: soft.sequence_parallel,
    };
    let workload = super::workload(&a.serving)?;
    let sim = match workload {
        Some(_) if !e.fits => {
            eprintln!(
                "note: --rate: the configuration does not fit in memory, so it is not simulated"
            );
            None
        }
        Some(w) => Some(simulate_with_bar(&l.ctx, &c, &w)?),
        None => None,
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    report::render(
        a.output.format,
        &rows,
        &inputs,
        &serde_json::json!({ "workload": workload, "simulation": sim }),
        &mut out,
    )?;
    if let (Some(w), Some(s), Format::Table | Format::Markdown) = (workload, sim, a.output.format) {
        write!(out, "\n{}", crate::report::explain::simulation(&w, &s))?;
    }
    if a.explain {
        match a.output.format {
            Format::Table | Format::Markdown => {
                write!(out, "\n{}", explain(&l.ctx, m, g, &e))?;
                writeln!(out, "\nruntime profile: {}", l.runtime.summary())?;
            }
            _ => eprintln!("note: --explain prints with --format table or markdown"),
        }
    }
    out.flush()?;
    if !e.fits {
        eprintln!(
            "this configuration does not fit in memory (exit code 3); try more GPUs (--tp, --pp, --dp with --ep), a smaller --dtype or --kv-dtype, or a smaller --batch"
        );
        return Ok(NO_FEASIBLE);
    }
    let named = Named {
        est: &e,
        model: m,
        gpu: g,
    };
    if !requires.iter().all(|r| r.accepts(&named)) {
        let failed: Vec<&str> = requires
            .iter()
            .filter(|r| !r.accepts(&named))
            .map(Require::text)
            .collect();
        eprintln!(
            "the configuration does not satisfy --require {}",
            failed.join(", ")
        );
        return Ok(NO_FEASIBLE);
    }
    Ok(OK)
}
