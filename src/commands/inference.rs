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
    shared_expert_overlap: bool,
    moe_backend: crate::perf::MoeBackend,
    cuda_graph_batch_sizes: Vec<u64>,
    scheduler_recv_interval: u64,
    decode_admission_iters: f64,
    prefill_overlap: bool,
    adp_balance: Option<crate::perf::admission::AdpBalance>,
    batch_wait: Option<crate::perf::admission::BatchWait>,
    batch: &'a [u64],
    input_len: &'a [u64],
    output_len: &'a [u64],
    dtype: Vec<&'static str>,
    kv_dtype: Vec<&'static str>,
    /// The dense layers' precision when it differs from the experts' (`--dense-dtype`).
    #[serde(skip_serializing_if = "Option::is_none")]
    dense_dtype: Option<&'static str>,
    /// The attention output projection's precision when it differs (`--attn-out-dtype`).
    #[serde(skip_serializing_if = "Option::is_none")]
    attn_out_dtype: Option<&'static str>,
    /// The activations' (and so the MLP matmuls') precision when set (`--act-dtype`).
    #[serde(skip_serializing_if = "Option::is_none")]
    act_dtype: Option<&'static str>,
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
    shared_expert_overlap: bool,
    moe_backend: crate::perf::MoeBackend,
    cuda_graph_batch_sizes: Vec<u64>,
    fused_input_quant: bool,
    nvfp4_fused_input: bool,
    decode_shares_budget: bool,
    scheduler_recv_interval: u64,
    decode_admission_iters: f64,
    prefill_overlap: bool,
    adp_balance: Option<crate::perf::admission::AdpBalance>,
    batch_wait: Option<crate::perf::admission::BatchWait>,
}

impl Software {
    /// The settings in force; an error when `--rate` would simulate a run the runtime profile
    /// holds prompts back in (the simulation does not replay TensorRT-LLM's rules, so its TTFT
    /// would silently leave the wait out).
    fn resolve_checked(s: &crate::cli::Serving, rt: &crate::runtime::Runtime) -> Result<Self> {
        let soft = Self::resolve(s, rt);
        if s.rate.is_some() && (soft.adp_balance.is_some() || soft.batch_wait.is_some()) {
            anyhow::bail!(
                "--rate: TensorRT-LLM's held prompts (--adp-balance or --batch-wait, or the runtime profile's) are not replayed by the simulation; turn them off (--adp-balance 0, --batch-wait off) or drop --rate"
            );
        }
        Ok(soft)
    }

    fn resolve(s: &crate::cli::Serving, rt: &crate::runtime::Runtime) -> Self {
        Software {
            batching: s.batching.unwrap_or_else(|| rt.batching()),
            sequence_parallel: s
                .sequence_parallel
                .unwrap_or_else(|| rt.serve_sequence_parallel()),
            moe_dispatch: s.moe_dispatch.unwrap_or_else(|| rt.moe_dispatch()),
            moe_overlap: s.moe_overlap.unwrap_or_else(|| rt.moe_overlap()),
            shared_expert_overlap: s
                .shared_expert_overlap
                .unwrap_or_else(|| rt.shared_expert_overlap()),
            moe_backend: s.moe_backend.unwrap_or_else(|| rt.moe_backend()),
            cuda_graph_batch_sizes: s
                .cuda_graph_batch_sizes
                .clone()
                .unwrap_or_else(|| rt.cuda_graph_batch_sizes()),
            fused_input_quant: rt.fused_input_quant(),
            nvfp4_fused_input: rt.nvfp4_fused_input(),
            decode_shares_budget: rt.decode_shares_budget(),
            scheduler_recv_interval: s
                .scheduler_recv_interval
                .unwrap_or_else(|| rt.scheduler_recv_interval()),
            decode_admission_iters: s
                .decode_admission_iters
                .unwrap_or_else(|| rt.decode_admission_iters()),
            prefill_overlap: s.prefill_overlap.unwrap_or_else(|| rt.prefill_overlap()),
            adp_balance: rt.adp_balance_over(s.adp_balance, s.adp_balance_wait),
            batch_wait: rt.batch_wait_over(s.batch_wait.map(|w| w.0), s.batch_wait.map(|w| w.1)),
        }
    }

    /// The settings as `--explain` prints them (a flag wins over the profile's line above).
    fn summary(&self) -> String {
        format!(
            "batching {}, sequence-parallel {}, moe-dispatch {}, moe-overlap {}, shared-expert-overlap {}, moe-backend {}, cuda-graph-batch-sizes {}, scheduler-recv-interval {}, decode-admission-iters {}, prefill-overlap {}, decode-shares-budget {}, adp-balance {}, batch-wait {}",
            self.batching.name(),
            self.sequence_parallel,
            self.moe_dispatch.name(),
            self.moe_overlap.name(),
            self.shared_expert_overlap,
            self.moe_backend.name(),
            if self.cuda_graph_batch_sizes.is_empty() {
                "none".to_string()
            } else {
                self.cuda_graph_batch_sizes
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            },
            self.scheduler_recv_interval,
            self.decode_admission_iters,
            self.prefill_overlap,
            self.decode_shares_budget,
            crate::perf::admission::AdpBalance::describe(self.adp_balance),
            crate::perf::admission::BatchWait::describe(self.batch_wait)
        )
    }

    /// Put the settings a context carries into `ctx` (a system's, or its draft model's).
    fn apply(&self, ctx: &mut crate::perf::Context) {
        ctx.shared_expert_overlap = self.shared_expert_overlap;
        ctx.moe_backend = self.moe_backend;
        ctx.fused_input_quant = self.fused_input_quant;
        ctx.nvfp4_fused_input = self.nvfp4_fused_input;
        ctx.decode_shares_budget = self.decode_shares_budget;
        ctx.fused_iterations = ctx.decode_shares_budget;
        // The engine's largest decode-only batch is its token budget (its batch limit is not
        // known here, so it does not bound the list): a larger listed size pads to that budget.
        ctx.cuda_graph_batch_sizes = crate::perf::decode::captured_batch_sizes(
            &self.cuda_graph_batch_sizes,
            u64::MAX,
            ctx.prefill_chunk_tokens,
        );
        ctx.scheduler_recv_interval = self.scheduler_recv_interval;
        ctx.decode_admission_iters = self.decode_admission_iters;
        ctx.prefill_overlap = self.prefill_overlap;
        ctx.adp_balance = self.adp_balance;
        ctx.batch_wait = self.batch_wait;
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

/// One system's share of a sweep: its estimates and where they came from.
struct SystemRun {
    /// Index into the loaded systems.
    system: usize,
    est: crate::perf::Estimate,
}

/// A plotted point: (tokens/s per user, tokens/s per GPU).
fn plot_xy(e: &crate::perf::Estimate) -> (f64, f64) {
    (
        e.output_tokens_per_s_per_user,
        e.output_tokens_per_s_per_gpu,
    )
}

/// `--plot`'s share of one thread of a sweep: its points, and the candidates for the frontier
/// (each with its position in the single-threaded order).
#[derive(Default)]
struct PlotPoints {
    on: bool,
    points: Vec<(u64, f64, f64)>,
    /// The thread's own frontier (the `plot::Frontier` rule): every point of the run's frontier
    /// this thread met is on it.
    frontier: Vec<(u64, crate::perf::Estimate)>,
}

impl sweep::Observer for PlotPoints {
    fn observe(&mut self, seq: u64, e: &crate::perf::Estimate) {
        if !self.on {
            return;
        }
        let (x, y) = plot_xy(e);
        self.points.push((seq, x, y));
        if !(x.is_finite() && y.is_finite()) {
            return;
        }
        let better = crate::plot::Better::Larger;
        let on = |f: &crate::perf::Estimate| plot_xy(f);
        if self.frontier.iter().any(|(_, f)| {
            let p = on(f);
            crate::plot::dominates(p, (x, y), better)
                || (p.0.total_cmp(&x).is_eq() && p.1.total_cmp(&y).is_eq())
        }) {
            return;
        }
        self.frontier
            .retain(|(_, f)| !crate::plot::dominates((x, y), on(f), better));
        self.frontier.push((seq, *e));
    }
}

/// The distinct names of the systems, comma-joined in their order.
pub(crate) fn unique_names(
    systems: &[super::Loaded],
    f: impl Fn(&super::Loaded) -> String,
) -> String {
    let mut v: Vec<String> = Vec::new();
    for l in systems {
        let x = f(l);
        if !v.contains(&x) {
            v.push(x);
        }
    }
    v.join(",")
}

/// The axes of `a` for one loaded model (the `auto` data-parallel degrees and expert slots
/// depend on it).
fn axes_for(
    a: &SweepArgs,
    model: &str,
    ctx: &crate::perf::Context,
    speculation: Option<crate::perf::Speculation>,
    soft: &Software,
    noted: &mut std::collections::BTreeSet<String>,
) -> Result<Axes> {
    let moe = ctx.experts > 1;
    // Degrees of the defaults or of a range that the model cannot take are dropped with a note;
    // named ones are checked (`fitting_degrees`).
    let (width, what) = match a.serving.kv_sharding {
        crate::perf::KvSharding::Heads => (ctx.heads, "attention heads"),
        crate::perf::KvSharding::Batch => (ctx.attn_width, "query width"),
    };
    let tp = super::fitting_degrees(
        "tp",
        &a.tp,
        crate::cli::DEFAULT_TP,
        |t| width % t == 0,
        &format!("must divide {model}'s {width} {what}"),
        noted,
    )?;
    let pp = super::fitting_degrees(
        "pp",
        &a.pp,
        crate::cli::DEFAULT_PP,
        |p| p <= ctx.layers,
        &format!("must be at most {model}'s {} layers", ctx.layers),
        noted,
    )?;
    Ok(Axes {
        tp,
        dp: match a.dp.trim() {
            "auto" if moe => DEFAULT_MOE_DP.to_vec(),
            "auto" => vec![1],
            t => parse_u64_axis("dp", t).map_err(|e| anyhow!(e))?,
        },
        pp,
        ep: match a.ep.trim() {
            "auto" => EpAxis::Auto,
            t => {
                let slots = ctx
                    .experts
                    .max(1)
                    .saturating_add(a.serving.redundant_experts);
                // `auto` (the default) is the arm above: the text here is the user's own.
                EpAxis::List(super::fitting_degrees(
                    "ep",
                    t,
                    "auto",
                    |e| slots % e == 0,
                    &if moe {
                        format!("must divide {model}'s {slots} expert slots")
                    } else {
                        format!("{model} is dense (no routed experts)")
                    },
                    noted,
                )?)
            }
        },
        expert_slots: ctx.experts.saturating_add(a.serving.redundant_experts),
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
        dense_dtype: a.serving.dense_dtype,
        attn_out_dtype: a.serving.attn_out_dtype,
        act_dtype: a.serving.act_dtype,
        batching: soft.batching,
        speculation,
        output_dist: a.serving.output_len_dist,
        disaggregate: super::disaggregation(&a.serving),
        kv_sharding: a.serving.kv_sharding,
        sequence_parallel: soft.sequence_parallel,
    })
}

/// `gpt4calc sweep`: every configuration of the axes on every (model, GPU) pair of the
/// selection, ranked together.
pub fn sweep(a: SweepArgs) -> Result<u8> {
    if let Some(path) = &a.plot {
        crate::plot::check_path(path)?;
    }
    let mut systems = super::load_all(&a.selection, a.serving.prefill_chunk)?;
    // One runtime profile for every system of the run.
    let soft = Software::resolve_checked(&a.serving, &systems[0].runtime.runtime)?;
    for l in &mut systems {
        soft.apply(&mut l.ctx);
    }
    if a.serving.decode_admission_iters.is_some() && a.serving.disaggregate.is_none() {
        eprintln!(
            "note: --decode-admission-iters prices a disaggregated decode worker's admission (with --disaggregate); it adds nothing here"
        );
    }
    if a.serving.prefill_overlap.is_some()
        && (a.serving.disaggregate.is_none() || soft.batching != crate::perf::Batching::Continuous)
    {
        eprintln!(
            "note: --prefill-overlap prices a busy disaggregated prefill worker's scheduler (--disaggregate, continuous batching); it changes nothing here"
        );
    }
    let mut plans = Vec::with_capacity(systems.len());
    let mut noted = std::collections::BTreeSet::new();
    for l in &systems {
        let (speculation, mut draft) = super::speculation(&a.serving, &l.gpu)?;
        if let Some(d) = draft.as_mut() {
            soft.apply(d);
        }
        let axes = axes_for(&a, &l.model.name, &l.ctx, speculation, &soft, &mut noted)?;
        plans.push((axes, draft));
    }
    // `--sort none`: the configurations' order.
    let sort = if a.sort.trim().eq_ignore_ascii_case("none") {
        None
    } else {
        Some(SortKey::parse::<Named>(&a.sort).map_err(|e| anyhow!(e))?)
    };
    let top = rows_to_show(a.top, a.output.format);
    let plan = Plan {
        sort,
        top,
        include_unfit: a.all,
        require: parse_requires::<Named>(&a.output.require)?,
        pareto: a.pareto,
        threads: sweep::threads(a.threads),
    };
    let total = plans
        .iter()
        .fold(0u64, |acc, (axes, _)| acc.saturating_add(axes.len()));
    let what = if systems.len() > 1 {
        "the sweep's axes over every model and GPU"
    } else {
        "the sweep's axes"
    };
    sweep::check_work(total, a.max_configurations, what).map_err(|e| anyhow!(e))?;
    // JSON and CSV without --top show every row: sorted, from an index of every row (16 bytes
    // each) evaluated again as it is written; with --sort none, written as the sweep goes.
    let mode = match (top, a.pareto, sort) {
        (Some(_), _, _) | (_, true, _) => Mode::Best,
        (None, false, Some(_)) => Mode::Index,
        (None, false, None) => Mode::Stream,
    };
    if mode == Mode::Index
        && plans
            .iter()
            .any(|(axes, _)| axes.len() > sweep::Indexed::MAX_SEQ)
    {
        bail!(
            "the sweep's axes span too many configurations to export every row sorted; add --top N or --sort none"
        );
    }
    let bar = crate::progress::bar(total);
    let mut summary = sweep::Summary::default();
    let mut skipped = 0u64;
    let mut runs: Vec<SystemRun> = Vec::new();
    let mut index: Vec<sweep::Indexed> = Vec::new();
    // --plot: every kept configuration's (tokens/s per GPU, per user), and their frontier.
    let mut plot = SweepPlot::new();
    let (model_names, gpu_names) = (
        super::name_list("preset", &a.selection.preset)?,
        super::name_list("gpu", &a.selection.gpu)?,
    );
    // The JSON inputs name every model and GPU, comma-joined as given (one name for one system).
    let unique = |f: &dyn Fn(&super::Loaded) -> String, sep: &str| {
        let mut v: Vec<String> = Vec::new();
        for l in &systems {
            let x = f(l);
            if !v.contains(&x) {
                v.push(x);
            }
        }
        v.join(sep)
    };
    let model_list = unique(&|l| l.model.name.clone(), ",");
    let gpu_list = unique(&|l| l.gpu.name.clone(), ",");
    let calibration = unique(&|l| l.gpu.gpu.calibration(), "; ");
    let axes = &plans[0].0;
    let inputs = SweepInputs {
        model: &model_list,
        gpu: &gpu_list,
        gpu_calibration: calibration,
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
        shared_expert_overlap: soft.shared_expert_overlap,
        moe_backend: soft.moe_backend,
        cuda_graph_batch_sizes: soft.cuda_graph_batch_sizes.clone(),
        scheduler_recv_interval: soft.scheduler_recv_interval,
        decode_admission_iters: soft.decode_admission_iters,
        prefill_overlap: soft.prefill_overlap,
        adp_balance: soft.adp_balance,
        batch_wait: soft.batch_wait,
        batch: &axes.batch,
        input_len: &axes.input_len,
        output_len: &axes.output_len,
        dtype: names(&axes.dtype),
        kv_dtype: names(&axes.kv_dtype),
        dense_dtype: axes.dense_dtype.map(|d| d.name()),
        attn_out_dtype: axes.attn_out_dtype.map(|d| d.name()),
        act_dtype: axes.act_dtype.map(|d| d.name()),
        sort: &a.sort,
        top,
        all: a.all,
        require: &a.output.require,
        set: a.selection.set.iter().map(ToString::to_string).collect(),
        prefill_chunk: a.serving.prefill_chunk,
        runtime: (&systems[0].runtime).into(),
        batching: soft.batching,
        kv_sharding: a.serving.kv_sharding,
        sequence_parallel: soft.sequence_parallel,
        output_len_dist: a.serving.output_len_dist.name(),
        speculation: axes.speculation,
        disaggregate: axes.disaggregate,
        pareto: a.pareto,
    };
    let varying = report::Varying {
        model: model_names.len() > 1,
        gpu: gpu_names.len() > 1,
        input_len: axes.input_len.len() > 1,
        output_len: axes.output_len.len() > 1,
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    // --rate: the first SIMULATED_ROWS rows shown that fit are also simulated.
    let mut rate = RateRows::default();
    let mut shown = 0usize;
    let mut stream_workload = None;
    let mut stream = if mode == Mode::Stream {
        stream_workload = super::workload(&a.serving)?;
        Some(report::RowStream::begin::<_, SweepSummary>(
            a.output.format,
            report::row_fields(stream_workload.is_some()),
            &inputs,
            None,
            &mut out,
        )?)
    } else {
        None
    };
    let observe = a.plot.is_some();
    let make = || PlotPoints {
        on: observe,
        ..PlotPoints::default()
    };
    for (i, (l, (axes, draft))) in systems.iter().zip(&plans).enumerate() {
        let names = (l.model.name.as_str(), l.gpu.name.as_str());
        let progress = |n| bar.inc(n);
        let (s, observers) = match mode {
            Mode::Best => {
                let (kept, s, observers) = sweep::run_observed(
                    &l.ctx,
                    draft.as_ref(),
                    axes,
                    &plan,
                    names,
                    &progress,
                    &make,
                )
                .map_err(|e| anyhow!(e))?;
                runs.extend(kept.into_iter().map(|est| SystemRun { system: i, est }));
                (s, observers)
            }
            Mode::Index => {
                let (mine, s, observers) =
                    sweep::run_index(&l.ctx, draft.as_ref(), axes, &plan, names, &progress, &make)
                        .map_err(|e| anyhow!(e))?;
                if index.is_empty() {
                    // The first system's rows become the index (no copy).
                    index = mine;
                    index.iter_mut().for_each(|x| *x = x.with_system(i));
                } else {
                    index.extend(mine.into_iter().map(|x| x.with_system(i)));
                }
                (s, observers)
            }
            Mode::Stream => {
                let w = stream.as_mut().expect("a stream in stream mode");
                sweep::run_stream(
                    &l.ctx,
                    draft.as_ref(),
                    axes,
                    &plan,
                    names,
                    &progress,
                    &make,
                    &mut |e| {
                        shown += 1;
                        let simulation = rate.simulate(stream_workload, &l.ctx, e)?;
                        w.row(&Row {
                            simulation,
                            ..Row::new(names.0, names.1, e)
                        })
                    },
                )?
            }
        };
        if observe {
            plot.add(observers, names, systems.len());
        }
        let prefix = if systems.len() > 1 {
            format!("{} on {}: ", names.0, names.1)
        } else {
            String::new()
        };
        for line in s.skipped.lines() {
            eprintln!("note: {prefix}{line}");
        }
        summary.evaluated += s.evaluated;
        summary.fit += s.fit;
        summary.passed += s.passed;
        summary.passed_fit += s.passed_fit;
        skipped = skipped.saturating_add(s.skipped.total());
    }
    bar.finish_and_clear();
    if let Some(path) = &a.plot {
        plot.write(path, &systems)?;
    }
    if let Some(w) = stream.take() {
        // --sort none: the summary follows the rows.
        w.end(Some(&SweepSummary {
            configurations: total,
            evaluated: summary.evaluated,
            fit: summary.fit,
            passed: summary.passed,
            shown,
            skipped,
        }))?;
        rate.notes();
    }
    drop(stream);
    let mut hidden = Vec::new();
    match mode {
        Mode::Best => {
            // Rank the systems' best rows together (one system's are already in order; the sort is stable).
            let key = |r: &SystemRun| {
                plan.key(&Named {
                    est: &r.est,
                    model: systems[r.system].model.name.as_str(),
                    gpu: systems[r.system].gpu.name.as_str(),
                })
            };
            if a.pareto && systems.len() > 1 {
                let all: Vec<crate::perf::Estimate> = runs.iter().map(|r| r.est).collect();
                runs.retain(|r| !all.iter().any(|o| sweep::strictly_dominates(o, &r.est)));
            }
            runs.sort_by(|x, y| key(x).total_cmp(&key(y)));
            runs.truncate(top.unwrap_or(usize::MAX));
            let workload = super::workload(&a.serving)?;
            let rows: Vec<Row> = runs
                .iter()
                .map(|r| {
                    let l = &systems[r.system];
                    Ok(Row {
                        simulation: rate.simulate(workload, &l.ctx, &r.est)?,
                        ..Row::new(&l.model.name, &l.gpu.name, &r.est)
                    })
                })
                .collect::<Result<_>>()?;
            rate.notes();
            shown = rows.len();
            let doc_summary = SweepSummary {
                configurations: total,
                evaluated: summary.evaluated,
                fit: summary.fit,
                passed: summary.passed,
                shown,
                skipped,
            };
            hidden = report::render(
                a.output.format,
                &rows,
                varying,
                workload.is_some(),
                &inputs,
                &doc_summary,
                &mut out,
            )?;
            // The simulations' table, unless no row got one (the notes say why).
            if let (Some(w), Format::Table | Format::Markdown) = (workload, a.output.format)
                && rows.iter().any(|r| matches!(r.simulation, Some(Some(_))))
            {
                let sim = crate::report::simulated_rows(
                    &w,
                    &rows,
                    &report::View::new(a.output.format, varying),
                );
                write!(out, "{}", sim.text)?;
                hidden.extend(sim.hidden);
            }
        }
        Mode::Index => {
            // Every system's rows by (key, system, position): the order of a stable sort of
            // the systems' sorted rows.
            index.sort_unstable_by(|x, y| x.key.total_cmp(&y.key).then(x.bits().cmp(&y.bits())));
            let workload = super::workload(&a.serving)?;
            shown = index.len();
            let doc_summary = SweepSummary {
                configurations: total,
                evaluated: summary.evaluated,
                fit: summary.fit,
                passed: summary.passed,
                shown,
                skipped,
            };
            let mut w = report::RowStream::begin(
                a.output.format,
                report::row_fields(workload.is_some()),
                &inputs,
                Some(&doc_summary),
                &mut out,
            )?;
            let window = INDEX_WINDOW_ROWS * plan.threads.max(1);
            for part in index.chunks(window) {
                let ests = estimates_at(&systems, &plans, part, plan.threads);
                for (x, e) in part.iter().zip(&ests) {
                    let l = &systems[x.system()];
                    w.row(&Row {
                        simulation: rate.simulate(workload, &l.ctx, e)?,
                        ..Row::new(&l.model.name, &l.gpu.name, e)
                    })?;
                }
            }
            w.end::<SweepSummary>(None)?;
            rate.notes();
        }
        // Written as the sweep went.
        Mode::Stream => {}
    }
    out.flush()?;
    if let Some(note) = report::hidden_note(&hidden) {
        eprintln!("{note}");
    }
    let order = match &sort {
        Some(sort) => format!(
            "{} {} first",
            if sort.descending { "highest" } else { "lowest" },
            sort.field.name()
        ),
        None => "in the configurations' order".to_string(),
    };
    let require_note = if plan.require.is_empty() {
        String::new()
    } else {
        format!(", {} pass --require", summary.passed)
    };
    let systems_note = if systems.len() > 1 {
        format!(
            " over {} model(s) × {} GPU(s)",
            model_names.len(),
            gpu_names.len()
        )
    } else {
        String::new()
    };
    eprintln!(
        "{} configurations evaluated{systems_note}, {} fit in memory{require_note}; showing {}{} ({order}){}",
        summary.evaluated,
        summary.fit,
        shown,
        if a.pareto {
            " on the tokens/s-per-GPU vs tokens/s-per-user frontier"
        } else {
            ""
        },
        if a.all {
            ", including rows that do not fit"
        } else {
            ""
        }
    );
    if shown == 0 {
        let why = if summary.evaluated == 0 {
            "no configuration could be evaluated: every one was skipped (the notes above say why)"
        } else if summary.fit == 0 && !a.all {
            "no configuration fits in memory; try more GPUs (--tp, --pp), a smaller --dtype, or --all to see them"
        } else {
            "no configuration satisfies every --require"
        };
        eprintln!("{why}");
        return Ok(NO_FEASIBLE);
    }
    if summary.passed_fit == 0 {
        return Ok(super::none_fits_under_all(
            !a.output.require.is_empty(),
            "try more GPUs (--tp, --pp), a smaller --dtype or --kv-dtype",
        ));
    }
    Ok(OK)
}

/// How a sweep keeps its rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// The best `--top` rows, or the frontier.
    Best,
    /// Every row, sorted, by reference (JSON and CSV without `--top`).
    Index,
    /// Every row in the configurations' order, written as the sweep goes (`--sort none`).
    Stream,
}

/// Rows of an index evaluated together on the threads between writes.
const INDEX_WINDOW_ROWS: usize = 512;

/// The estimates of `part` of an index, in order, on up to `threads` threads.
fn estimates_at(
    systems: &[super::Loaded],
    plans: &[(Axes, Option<crate::perf::Context>)],
    part: &[sweep::Indexed],
    threads: usize,
) -> Vec<crate::perf::Estimate> {
    let one = |x: &sweep::Indexed| {
        let (axes, draft) = &plans[x.system()];
        sweep::estimate_at(&systems[x.system()].ctx, draft.as_ref(), axes, x.seq())
    };
    let threads = threads.min(part.len() / 64).max(1);
    if threads == 1 {
        return part.iter().map(one).collect();
    }
    let per = part.len().div_ceil(threads);
    std::thread::scope(|s| {
        let one = &one;
        let handles: Vec<_> = part
            .chunks(per)
            .skip(1)
            .map(|c| s.spawn(move || c.iter().map(one).collect::<Vec<_>>()))
            .collect();
        let mut out: Vec<crate::perf::Estimate> = part[..per].iter().map(one).collect();
        for h in handles {
            out.extend(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        out
    })
}

/// `--rate` over the rows shown: the first `SIMULATED_ROWS` that fit are simulated; the notes
/// say how many were not.
#[derive(Default)]
struct RateRows {
    simulated: usize,
    unfit: usize,
    beyond: usize,
    /// Rows whose simulation ended without a latency to report, and the first one's reason.
    unfinished: usize,
    unfinished_why: Option<String>,
}

impl RateRows {
    /// The simulation of the next row shown: `None` without `--rate`, `Some(None)` for a row it
    /// does not simulate.
    fn simulate(
        &mut self,
        workload: Option<crate::sim::Workload>,
        ctx: &crate::perf::Context,
        e: &crate::perf::Estimate,
    ) -> Result<Option<Option<crate::sim::SimResult>>> {
        match workload {
            Some(_) if !e.fits => {
                self.unfit += 1;
                Ok(Some(None))
            }
            Some(_) if self.simulated >= SIMULATED_ROWS => {
                self.beyond += 1;
                Ok(Some(None))
            }
            Some(w) => {
                self.simulated += 1;
                // One row's run that cannot finish (its outputs outlast the step budget) leaves
                // that row without a simulation, not the sweep without rows.
                match simulate_with_bar(ctx, &e.config, &w) {
                    Ok(s) => Ok(Some(Some(s))),
                    Err(why) => {
                        self.unfinished += 1;
                        self.unfinished_why.get_or_insert_with(|| why.to_string());
                        Ok(Some(None))
                    }
                }
            }
            None => Ok(None),
        }
    }

    fn notes(&self) {
        if let Some(why) = &self.unfinished_why {
            // "--rate R: why": the rate, then the count, then why.
            let (rate, why) = why.split_once(": ").unwrap_or(("--rate", why));
            if self.unfinished == 1 {
                eprintln!("note: {rate}: 1 row is not simulated: {why}");
            } else {
                eprintln!(
                    "note: {rate}: {} rows are not simulated; the first: {why}",
                    self.unfinished
                );
            }
        }
        if self.unfit > 0 {
            eprintln!(
                "note: --rate: {} row(s) that do not fit in memory are not simulated",
                self.unfit
            );
        }
        if self.beyond > 0 {
            eprintln!(
                "note: --rate simulates the first {SIMULATED_ROWS} rows that fit; {} more row(s) are not simulated (narrow the sweep or use estimate --rate)",
                self.beyond
            );
        }
    }
}

/// `--plot` of a sweep: every kept configuration's point and the frontier, over the systems.
struct SweepPlot {
    points: Vec<(f64, f64)>,
    frontier: crate::plot::Frontier,
}

impl SweepPlot {
    fn new() -> Self {
        SweepPlot {
            points: Vec::new(),
            frontier: crate::plot::Frontier::new(crate::plot::Better::Larger),
        }
    }

    /// One system's points from its threads' observers, in the single-threaded order.
    fn add(&mut self, observers: Vec<PlotPoints>, names: (&str, &str), systems: usize) {
        let mut points: Vec<(u64, f64, f64)> = Vec::new();
        let mut candidates: Vec<(u64, crate::perf::Estimate)> = Vec::new();
        for o in observers {
            points.extend(o.points);
            candidates.extend(o.frontier);
        }
        points.sort_unstable_by_key(|p| p.0);
        candidates.sort_unstable_by_key(|p| p.0);
        self.points.extend(points.iter().map(|&(_, x, y)| (x, y)));
        for (_, e) in &candidates {
            let (x, y) = plot_xy(e);
            self.frontier.offer(x, y, || {
                let r = Row::new(names.0, names.1, e);
                let system = if systems > 1 {
                    format!("{} on {}: ", r.model, r.gpu)
                } else {
                    String::new()
                };
                format!(
                    "{system}{}, batch {}, {} in / {} out, {}: {} tok/s per user, {} tok/s per GPU, ${}/1M out",
                    r.layout,
                    r.batch,
                    r.input_len,
                    r.output_len,
                    r.dtype,
                    report::human(x),
                    report::human(y),
                    report::human(r.usd_per_1m_output_tokens)
                )
            });
        }
    }

    fn write(&self, path: &str, systems: &[super::Loaded]) -> Result<()> {
        let title = format!(
            "{} on {}: output tokens/s per GPU against per user",
            unique_names(systems, |l| l.model.name.clone()),
            unique_names(systems, |l| l.gpu.name.clone())
        );
        crate::plot::write_svg(
            path,
            &crate::plot::Chart {
                title: &title,
                x_desc: "output tokens/s per user",
                y_desc: "output tokens/s per GPU",
                points: &self.points,
                frontier: &self.frontier.points,
            },
        )
    }
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
    shared_expert_overlap: bool,
    moe_backend: crate::perf::MoeBackend,
    cuda_graph_batch_sizes: Vec<u64>,
    scheduler_recv_interval: u64,
    decode_admission_iters: f64,
    prefill_overlap: bool,
    adp_balance: Option<crate::perf::admission::AdpBalance>,
    batch_wait: Option<crate::perf::admission::BatchWait>,
    kv_sharding: crate::perf::KvSharding,
    sequence_parallel: bool,
    redundant_experts: u64,
    output_len_dist: &'static str,
    speculation: Option<crate::perf::Speculation>,
    disaggregate: Option<crate::perf::Disaggregation>,
}

/// `gpt4calc estimate`.
pub fn estimate(a: EstimateArgs) -> Result<u8> {
    let mut l = load(&a.selection, a.serving.prefill_chunk)?;
    let (speculation, mut draft) = super::speculation(&a.serving, &l.gpu)?;
    let soft = Software::resolve_checked(&a.serving, &l.runtime.runtime)?;
    soft.apply(&mut l.ctx);
    if let Some(d) = draft.as_mut() {
        soft.apply(d);
    }
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
        dense_dtype: a.serving.dense_dtype,
        attn_out_dtype: a.serving.attn_out_dtype,
        act_dtype: a.serving.act_dtype,
        kv_dtype: a.kv_dtype.unwrap_or(a.dtype.default_kv()),
        batching: soft.batching,
        speculation,
        output_dist: a.serving.output_len_dist,
        disaggregate: super::disaggregation(&a.serving),
        kv_sharding: a.serving.kv_sharding,
        sequence_parallel: soft.sequence_parallel,
    };
    // A rule for holding prompts back that cannot hold this configuration's is said, not
    // silently priced at nothing.
    let replica = c.disaggregate.is_none() && c.batching == crate::perf::Batching::Continuous;
    if soft.adp_balance.is_some() && !(replica && c.dp > 1) {
        eprintln!(
            "note: attention-DP balancing (--adp-balance, or the runtime profile's) holds prompts only in a continuously batched replica with attention DP (--dp > 1, not disaggregated); it holds nothing here"
        );
    }
    if a.serving.prefill_overlap.is_some()
        && (c.disaggregate.is_none() || c.batching != crate::perf::Batching::Continuous)
    {
        eprintln!(
            "note: --prefill-overlap prices a busy disaggregated prefill worker's scheduler (--disaggregate, continuous batching); it changes nothing here"
        );
    }
    if a.serving.decode_admission_iters.is_some() && !crate::perf::cost::pays_decode_admission(&c) {
        eprintln!(
            "note: --decode-admission-iters prices a busy disaggregated decode worker (--disaggregate, continuous batching, --batch > 1); it adds nothing here"
        );
    }
    if soft.batch_wait.is_some() && !(replica && c.dp == 1) {
        eprintln!(
            "note: batch waiting (--batch-wait, or the runtime profile's) holds prompts only in a continuously batched replica without attention DP (--dp 1, not disaggregated); it holds nothing here"
        );
    }
    let (m, g) = (l.model.name.as_str(), l.gpu.name.as_str());
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
        shared_expert_overlap: soft.shared_expert_overlap,
        moe_backend: soft.moe_backend,
        cuda_graph_batch_sizes: soft.cuda_graph_batch_sizes.clone(),
        scheduler_recv_interval: soft.scheduler_recv_interval,
        decode_admission_iters: soft.decode_admission_iters,
        prefill_overlap: soft.prefill_overlap,
        adp_balance: soft.adp_balance,
        batch_wait: soft.batch_wait,
        kv_sharding: a.serving.kv_sharding,
        sequence_parallel: soft.sequence_parallel,
        redundant_experts: c.redundant_experts,
        output_len_dist: c.output_dist.name(),
        speculation: c.speculation,
        disaggregate: c.disaggregate,
    };
    match l.ctx.check(&c) {
        Err(Reject::Invalid(msg)) => bail!(msg),
        Err(Reject::Skip(msg)) => {
            // A script reading JSON or CSV still gets a document (its inputs, no row), as a
            // sweep that keeps nothing does.
            if matches!(a.output.format, Format::Json | Format::Csv) {
                let mut out = BufWriter::new(std::io::stdout().lock());
                report::render(
                    a.output.format,
                    &[],
                    report::Varying::default(),
                    super::workload(&a.serving)?.is_some(),
                    &inputs,
                    &serde_json::json!({}),
                    &mut out,
                )?;
                out.flush()?;
            }
            eprintln!("note: skipped: {msg}");
            return Ok(NO_FEASIBLE);
        }
        Ok(()) => {}
    }
    let requires = parse_requires::<Named>(&a.output.require)?;
    let e = estimate_with_draft(&l.ctx, draft.as_ref(), &c);
    e.check_finite(m, g).map_err(|msg| anyhow!(msg))?;
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
    // The row carries the simulation as a sweep's rows do (and CSV its columns); the JSON
    // summary keeps it too, with the workload.
    let rows = vec![Row {
        simulation: workload.map(|_| sim),
        ..Row::new(m, g, &e)
    }];
    let mut out = BufWriter::new(std::io::stdout().lock());
    let hidden = report::render(
        a.output.format,
        &rows,
        report::Varying::default(),
        workload.is_some(),
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
                writeln!(out, "serving settings in force: {}", soft.summary())?;
            }
            _ => eprintln!("note: --explain prints with --format table or markdown"),
        }
    }
    out.flush()?;
    if let Some(note) = report::hidden_note(&hidden) {
        eprintln!("{note}");
    }
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
