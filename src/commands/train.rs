//! `train`.

use super::{Loaded, parse_requires, rows_to_show};
use crate::axis::parse_u64_axis;
use crate::cli::TrainArgs;
use crate::exit_code::{NO_FEASIBLE, OK};
use crate::fields::{Record, SortKey};
use crate::perf::Reject;
use crate::report::train_row::{self, TrainRow};
use crate::report::{self, Format};
use crate::train::{self, Recompute, Reliability, TrainConfig};
use anyhow::{Result, anyhow, bail};
use serde::Serialize;
use std::io::{BufWriter, Write};

/// `--checkpoint-write-s` when not given: a minute a checkpoint.
const DEFAULT_CHECKPOINT_WRITE_S: f64 = 60.0;
/// `--restart-s` when not given: ten minutes from a failure to training again.
const DEFAULT_RESTART_S: f64 = 600.0;

/// `--zero`: a comma list of stages 0 – 3, each item a stage or an inclusive range `A..B` of
/// stages (`1..3` = 1, 2, 3; stages are few, so a range is not doubling as the size axes are).
fn parse_zero_axis(text: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for p in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        // The item as typed, in every message about it.
        let stage = |e: &str| match e.trim().parse::<u8>() {
            Ok(z) if z <= 3 => Ok(z),
            _ => Err(anyhow!(
                "--zero `{}`: a stage must be 0, 1, 2 or 3 (a list such as 1,3 or a range such as 1..3)",
                crate::limits::clip(p)
            )),
        };
        match p.split_once("..") {
            Some((a, b)) => {
                let (a, b) = (stage(a)?, stage(b)?);
                if a > b {
                    bail!(
                        "--zero `{p}`: the range runs from the lower stage to the higher, e.g. 1..3"
                    );
                }
                out.extend(a..=b);
            }
            None => out.push(stage(p)?),
        }
    }
    if out.is_empty() {
        bail!("--zero `{text}`: no values; e.g. 1 or 0,1,2,3");
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

fn parse_recompute_axis(text: &str) -> Result<Vec<Recompute>> {
    let mut out = Vec::new();
    for p in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        out.push(
            <Recompute as clap::ValueEnum>::from_str(p, true)
                .map_err(|_| anyhow!("--recompute `{p}`: must be none, selective or full"))?,
        );
    }
    if out.is_empty() {
        bail!("--recompute `{text}`: no values; e.g. selective or none,selective,full");
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

#[derive(Serialize)]
struct TrainInputs<'a> {
    model: &'a str,
    gpu: &'a str,
    gpu_calibration: String,
    gpus: u64,
    tp: &'a [u64],
    pp: &'a [u64],
    ep: &'a [u64],
    micro_batch: &'a [u64],
    zero: &'a [u8],
    recompute: Vec<&'static str>,
    recompute_modules: String,
    cuda_graph_scope: String,
    tokens: f64,
    global_batch_tokens: f64,
    seq_len: u64,
    dtype: &'static str,
    /// None: `auto` (1, 2, 4 and 8 virtual stages when pp > 1).
    interleave: Option<&'a [u64]>,
    runtime: crate::runtime::InForce,
    dp_overlap: f64,
    attention: crate::train::AttentionImpl,
    sequence_parallel: bool,
    zero3_fetch: crate::train::Zero3Fetch,
    grad_reduce: crate::train::GradReduce,
    ep_dispatcher: crate::train::EpDispatcher,
    ep_overlap: crate::train::EpOverlap,
    grad_overlap: crate::train::GradOverlap,
    tp_overlap: crate::train::TpOverlap,
    mtp_layers: u64,
    last_stage_layers: Option<u64>,
    mfu: Option<f64>,
    reliability: Option<Reliability>,
    sort: &'a str,
    require: &'a [String],
    set: Vec<String>,
}

/// Configurations `train` evaluates together on its threads, at a time (the memory it holds).
const TRAIN_BLOCK: usize = 4096;

/// One configuration's result, in the order of the axes. Most outcomes are rows, so a block
/// holds them inline rather than boxed.
#[allow(clippy::large_enum_variant)]
enum Outcome {
    /// An invalid configuration: the run stops with this message.
    Invalid(String),
    /// Skipped, with the reason.
    Skip(String),
    /// Evaluated: the idle-GPU note if any, and the row (or the impossible-number message).
    Row {
        idle: Option<String>,
        row: std::result::Result<TrainRow, String>,
    },
}

/// Goodput below which a training configuration is skipped: failures leave it no progress.
const MIN_GOODPUT: f64 = 1e-3;

fn outcome(ctx: &crate::perf::Context, names: (&str, &str), c: &TrainConfig) -> Outcome {
    match train::check(ctx, c) {
        Err(Reject::Invalid(msg)) => return Outcome::Invalid(msg),
        Err(Reject::Skip(msg)) => return Outcome::Skip(msg),
        Ok(()) => {}
    }
    let idle = (c.used_gpus() < c.gpus).then(|| {
        format!(
            "tp {} × pp {} leaves {} of {} GPUs idle (dp {} uses {})",
            c.tp,
            c.pp,
            c.gpus - c.used_gpus(),
            c.gpus,
            c.dp(),
            c.used_gpus()
        )
    });
    let e = train::estimate(ctx, c);
    // A job that fails far more often than it checkpoints never finishes: skipped, with why.
    if let Some(r) = c.reliability
        && e.goodput < MIN_GOODPUT
    {
        return Outcome::Skip(format!(
            "a failure every {} s ({} h GPU MTBF over {} GPUs) leaves less than {}% of the wall time training (goodput {:.1e})",
            crate::report::human(r.job_mtbf_s(c.used_gpus())),
            crate::report::human(r.gpu_mtbf_hours),
            c.used_gpus(),
            MIN_GOODPUT * 100.0,
            e.goodput
        ));
    }
    // An imposed MFU the hardware cannot run: recomputation and attention add FLOPs beyond the
    // model's, and together they would need more than the GPU's peak.
    if let Some(mfu) = c.mfu
        && !e.runs()
    {
        let extra = match c.recompute {
            train::Recompute::None => "attention runs".to_string(),
            r => format!("{} recomputation and attention run", r.name()),
        };
        return Outcome::Skip(format!(
            "--mfu {mfu} needs {:.1}% of the GPU's peak: its {extra} {:.2}× the model's FLOPs, so its MFU is at most {}",
            100.0 * e.hfu,
            e.hfu / e.mfu,
            e.mfu_ceiling()
        ));
    }
    let row = e
        .check_finite(names.0, names.1)
        .map(|()| TrainRow::new(names.0, names.1, &e));
    Outcome::Row { idle, row }
}

/// The outcomes of `block`, in order, evaluated on up to `threads` threads (contiguous slices).
fn evaluate_block(
    ctx: &crate::perf::Context,
    names: (&str, &str),
    block: &[TrainConfig],
    threads: usize,
) -> Vec<Outcome> {
    let threads = threads.min(block.len() / 16).max(1);
    if threads == 1 {
        return block.iter().map(|c| outcome(ctx, names, c)).collect();
    }
    let per = block.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = block
            .chunks(per)
            .skip(1)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|c| outcome(ctx, names, c))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut out: Vec<Outcome> = block[..per.min(block.len())]
            .iter()
            .map(|c| outcome(ctx, names, c))
            .collect();
        for h in handles {
            out.extend(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        out
    })
}

/// The best `top` rows by (sort key, position): what a stable sort of every row would put first.
struct Best {
    top: Option<usize>,
    heap: std::collections::BinaryHeap<Ranked>,
}

struct Ranked {
    key: f64,
    seq: u64,
    row: TrainRow,
}

impl PartialEq for Ranked {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o).is_eq()
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ranked {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.key.total_cmp(&o.key).then(self.seq.cmp(&o.seq))
    }
}

impl Best {
    fn new(top: Option<usize>) -> Self {
        Best {
            top,
            heap: std::collections::BinaryHeap::new(),
        }
    }

    fn offer(&mut self, key: f64, seq: u64, row: TrainRow) {
        let item = Ranked { key, seq, row };
        match self.top {
            Some(n) if self.heap.len() >= n => {
                if n > 0 && self.heap.peek().is_some_and(|worst| item < *worst) {
                    self.heap.pop();
                    self.heap.push(item);
                }
            }
            _ => self.heap.push(item),
        }
    }

    fn into_sorted(self) -> Vec<TrainRow> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|r| r.row)
            .collect()
    }
}

/// `--plot`'s data: days against cost of every configuration kept, and their frontier.
struct Plotted {
    points: Vec<(f64, f64)>,
    frontier: crate::plot::Frontier,
}

impl Plotted {
    fn new() -> Self {
        Plotted {
            points: Vec::new(),
            frontier: crate::plot::Frontier::new(crate::plot::Better::Smaller),
        }
    }

    /// Add a kept row (`systems`: how many systems the run compares, for the label).
    fn add(&mut self, r: &TrainRow, systems: usize) {
        self.points.push((r.train_days, r.cost_usd));
        self.frontier.offer(r.train_days, r.cost_usd, || {
            let system = if systems > 1 {
                format!("{} on {}: ", r.model, r.gpu)
            } else {
                String::new()
            };
            format!(
                "{system}tp {} × pp {} × dp {}, {} virtual stage(s), ep {}, micro-batch {}, ZeRO-{}, {} recomputation: {} days, ${}M, MFU {}%",
                r.tp,
                r.pp,
                r.dp,
                r.interleave,
                r.ep,
                r.micro_batch,
                r.zero_stage,
                r.recompute,
                report::human(r.train_days),
                report::human(r.cost_usd / 1e6),
                report::human(100.0 * r.mfu)
            )
        });
    }
}

/// `--plot`: write the chart.
fn plot(path: &str, p: &Plotted, systems: &[Loaded]) -> Result<()> {
    use crate::plot::Chart;
    let title = format!(
        "{} on {}: training days against cost",
        super::inference::unique_names(systems, |l| l.model.name.clone()),
        super::inference::unique_names(systems, |l| l.gpu.name.clone())
    );
    crate::plot::write_svg(
        path,
        &Chart {
            title: &title,
            x_desc: "training days",
            y_desc: "cost [USD]",
            points: &p.points,
            frontier: &p.frontier.points,
        },
    )
}

/// `gpt4calc train`.
pub fn train(a: TrainArgs) -> Result<u8> {
    if let Some(path) = &a.plot {
        crate::plot::check_path(path)?;
    }
    let systems = super::load_all(&a.selection, crate::perf::DEFAULT_PREFILL_CHUNK_TOKENS)?;
    let axis = |flag: &str, text: &str| parse_u64_axis(flag, text).map_err(|e| anyhow!(e));
    let (tps, pps, eps, mbs) = (
        axis("tp", &a.tp)?,
        axis("pp", &a.pp)?,
        axis("ep", &a.ep)?,
        axis("micro-batch", &a.micro_batch)?,
    );
    // `auto`: plain 1F1B without a pipeline, else 1, 2, 4 and 8 virtual stages that split a
    // stage's layers evenly (Megatron-Core asserts it for an even layout). An explicit list is
    // taken as given (`train::check` skips more stages than layers).
    let interleaves = if a.interleave.trim().eq_ignore_ascii_case("auto") {
        None
    } else {
        Some(axis("interleave", &a.interleave).map_err(|e| {
            anyhow!("{e}; or `auto` alone (1, 2, 4 and 8 virtual stages where pp > 1)")
        })?)
    };
    let interleaves_for = |l: &Loaded, pp: u64| -> Vec<u64> {
        match &interleaves {
            Some(v) => v.clone(),
            None if pp > 1 => {
                let per_stage = l.ctx.layers / pp;
                [1, 2, 4, 8]
                    .into_iter()
                    .filter(|v| *v == 1 || (per_stage >= *v && per_stage % v == 0))
                    .collect()
            }
            None => vec![1],
        }
    };
    let zeros = parse_zero_axis(&a.zero)?;
    let recomputes = parse_recompute_axis(&a.recompute)?;
    // Pipeline degrees times the virtual-stage counts each one takes (at most 4 under `auto`).
    let pp_points = pps.iter().fold(0u64, |acc, pp| {
        let v = match &interleaves {
            Some(v) => v.len() as u64,
            None if *pp > 1 => 4,
            None => 1,
        };
        acc.saturating_add(v)
    });
    let count = [
        tps.len(),
        eps.len(),
        mbs.len(),
        zeros.len(),
        recomputes.len(),
    ]
    .iter()
    .fold(pp_points, |acc, n| acc.saturating_mul(*n as u64));
    let count = count.saturating_mul(systems.len() as u64);
    crate::sweep::check_work(count, a.max_configurations, "the training axes")
        .map_err(|e| anyhow!(e))?;
    // Without --seq-len, each model's own context, at most 8192.
    let seq_len_for = |l: &Loaded| a.seq_len.unwrap_or(l.ctx.max_context.min(8192));
    // The runtime profile's software, where no flag names it (one profile for every system).
    let rt = &systems[0].runtime.runtime;
    let dp_overlap = a.dp_overlap.unwrap_or_else(|| rt.dp_overlap());
    let grad_reduce = a.grad_reduce.unwrap_or_else(|| rt.grad_reduce());
    let attention = a.attention.unwrap_or_else(|| rt.attention());
    let sequence_parallel = a
        .sequence_parallel
        .unwrap_or_else(|| rt.train_sequence_parallel());
    let zero3_fetch = a.zero3_fetch.unwrap_or_else(|| rt.zero3_fetch());
    let ep_dispatcher = a.ep_dispatcher.unwrap_or_else(|| rt.ep_dispatcher());
    let ep_overlap = a.ep_overlap.unwrap_or_else(|| rt.ep_overlap());
    let grad_overlap = a.grad_overlap.unwrap_or_else(|| rt.grad_overlap());
    if grad_overlap == crate::train::GradOverlap::Bucketed && zeros.contains(&3) {
        eprintln!(
            "note: grad overlap `bucketed` leaves ZeRO-3's per-micro-batch gathers and reductions as they are (docs/methodology.md §16.2)"
        );
    }
    let tp_overlap = a.tp_overlap.unwrap_or_else(|| rt.tp_overlap());
    if !a.cuda_graph_scope.is_empty() {
        let no_host = systems
            .iter()
            .all(|l| l.ctx.model.experts <= 1.0 || l.ctx.hw.host_op_s == 0.0);
        if no_host {
            eprintln!(
                "note: --cuda-graph-scope changes nothing here: only MoE layers are priced host time, and none is (a dense model, or a runtime or GPU with host_op_us 0)"
            );
        } else if recomputes.contains(&Recompute::Full) {
            eprintln!(
                "note: --cuda-graph-scope is ignored under --recompute full (Megatron-Core runs full recomputation only without partial CUDA graphs)"
            );
        }
    }
    let (write_s, restart_s) = (
        a.checkpoint_write_s.unwrap_or(DEFAULT_CHECKPOINT_WRITE_S),
        a.restart_s.unwrap_or(DEFAULT_RESTART_S),
    );
    let reliability = a.gpu_mtbf_hours.map(|h| Reliability {
        gpu_mtbf_hours: h,
        checkpoint_interval_s: a.checkpoint_interval_s,
        checkpoint_write_s: write_s,
        restart_s,
    });
    // Checked whether or not a failure rate uses them: a NaN or negative stall is a typo either way.
    for (flag, v) in [
        ("gpu-mtbf-hours", a.gpu_mtbf_hours.unwrap_or(1.0)),
        ("checkpoint-write-s", write_s),
        ("restart-s", restart_s),
        (
            "checkpoint-interval-s",
            a.checkpoint_interval_s.unwrap_or(1.0),
        ),
    ] {
        crate::limits::check_float_flag(flag, v).map_err(|e| anyhow!(e))?;
    }
    if reliability.is_none() {
        let given: Vec<&str> = [
            ("--checkpoint-interval-s", a.checkpoint_interval_s.is_some()),
            ("--checkpoint-write-s", a.checkpoint_write_s.is_some()),
            ("--restart-s", a.restart_s.is_some()),
        ]
        .iter()
        .filter_map(|(f, on)| on.then_some(*f))
        .collect();
        if !given.is_empty() {
            eprintln!(
                "note: {} {} failures only with --gpu-mtbf-hours; without it no failure is modelled",
                given.join(", "),
                if given.len() == 1 { "prices" } else { "price" }
            );
        }
    }
    let sort = SortKey::parse::<TrainRow>(&a.sort).map_err(|e| anyhow!(e))?;
    let requires = parse_requires::<TrainRow>(&a.output.require)?;
    let top = rows_to_show(a.top, a.output.format);
    let threads = crate::sweep::threads(a.threads);
    let (mut evaluated, mut fit) = (0u64, 0u64);
    let pinned = [
        tps.len(),
        pps.len(),
        eps.len(),
        mbs.len(),
        zeros.len(),
        recomputes.len(),
    ]
    .iter()
    .all(|n| *n == 1);
    // One configuration of the axes, with the settings resolved above.
    let make_config = |tp, pp, ep, micro_batch, zero, recompute, interleave, seq_len| TrainConfig {
        gpus: a.gpus,
        tp,
        pp,
        ep,
        micro_batch,
        global_batch_tokens: a.global_batch_tokens,
        seq_len,
        zero,
        recompute,
        recompute_modules: a.recompute_modules,
        cuda_graph_scope: a.cuda_graph_scope,
        dtype: a.dtype,
        tokens: a.tokens,
        interleave,
        dp_overlap,
        grad_reduce,
        attention,
        sequence_parallel,
        zero3_fetch,
        ep_dispatcher,
        ep_overlap,
        grad_overlap,
        tp_overlap,
        mtp_layers: a.mtp_layers,
        last_stage_layers: a.last_stage_layers,
        mfu: a.mfu,
        reliability,
    };
    // A pinned layout keeps its few rows (the best virtual-stage count is chosen below); any other
    // run keeps the best `--top` rows in a heap, and for `--plot` every point and the frontier.
    let mut rows: Vec<TrainRow> = Vec::new();
    let mut best = Best::new(top);
    let mut passed = 0usize;
    // Of those, the ones that fit (`--all` keeps the others too).
    let mut passed_fit = 0usize;
    let mut plotted = Plotted::new();
    // The first row evaluated: a run of one configuration shows it whether it fits or not.
    let mut lone: Option<TrainRow> = None;
    let mut seq = 0u64;
    let mut noted = std::collections::BTreeSet::new();
    for l in &systems {
        let (m, g) = (l.model.name.as_str(), l.gpu.name.as_str());
        let seq_len = seq_len_for(l);
        // A step trains whole sequences: a global batch between two counts of them runs the
        // next count's micro-batches (the rows keep the tokens as given).
        let seqs = a.global_batch_tokens / seq_len as f64;
        // Only for values in range: one out of range is the configuration check's error.
        let in_range =
            crate::limits::check_float_flag("global-batch-tokens", a.global_batch_tokens).is_ok()
                && crate::limits::check_flag("seq-len", seq_len).is_ok();
        if in_range && seqs.fract() != 0.0 {
            eprintln!(
                "note: --global-batch-tokens {} is {seqs:.4} sequences of {seq_len} tokens{}; a step runs whole sequences, so the micro-batch count rounds up (use a multiple of {seq_len})",
                a.global_batch_tokens,
                if systems.len() > 1 {
                    format!(" for {m}")
                } else {
                    String::new()
                }
            );
        }
        let mut mine: Vec<TrainRow> = Vec::new();
        let mut skipped = crate::sweep::SkipNotes::default();
        let mut idle = crate::sweep::SkipNotes::default();
        // Degrees of the defaults or of a range that this model cannot take are left out with a
        // note; named ones are checked (`fitting_degrees`).
        let tps = super::fitting_degrees(
            "tp",
            &a.tp,
            crate::cli::DEFAULT_TP,
            |t| l.ctx.heads % t == 0,
            &format!("must divide {m}'s {} attention heads", l.ctx.heads),
            &mut noted,
        )?;
        let pps = super::fitting_degrees(
            "pp",
            &a.pp,
            crate::cli::DEFAULT_PP,
            |p| p <= l.ctx.layers,
            &format!("must be at most {m}'s {} layers", l.ctx.layers),
            &mut noted,
        )?;
        let experts = l.ctx.experts.max(1);
        let model_eps = super::fitting_degrees(
            "ep",
            &a.ep,
            "1",
            |e| experts % e == 0,
            &if experts > 1 {
                format!("must divide {m}'s {experts} experts")
            } else {
                format!("{m} is dense (no routed experts)")
            },
            &mut noted,
        )?;
        // Every point of the axes, virtual stages innermost (their choices depend on pp).
        let (ps, es, ms, zs, rs) = (&pps, &model_eps, &mbs, &zeros, &recomputes);
        let points = tps.iter().flat_map(|&tp| {
            ps.iter().flat_map(move |&pp| {
                es.iter().flat_map(move |&ep| {
                    ms.iter().flat_map(move |&micro_batch| {
                        zs.iter().flat_map(move |&zero| {
                            rs.iter()
                                .map(move |&recompute| (tp, pp, ep, micro_batch, zero, recompute))
                        })
                    })
                })
            })
        });
        let mut configs = points.flat_map(|(tp, pp, ep, micro_batch, zero, recompute)| {
            interleaves_for(l, pp).into_iter().map(move |interleave| {
                make_config(
                    tp,
                    pp,
                    ep,
                    micro_batch,
                    zero,
                    recompute,
                    interleave,
                    seq_len,
                )
            })
        });
        // Evaluate a block at a time on every thread, and take the outcomes in order.
        let mut block: Vec<TrainConfig> = Vec::with_capacity(TRAIN_BLOCK);
        loop {
            block.clear();
            block.extend(configs.by_ref().take(TRAIN_BLOCK));
            if block.is_empty() {
                break;
            }
            for outcome in evaluate_block(&l.ctx, (m, g), &block, threads) {
                let (row, fits) = match outcome {
                    Outcome::Invalid(msg) => bail!(msg),
                    Outcome::Skip(msg) => {
                        skipped.add(&msg);
                        continue;
                    }
                    Outcome::Row { idle: note, row } => {
                        if let Some(note) = note {
                            idle.add(&note);
                        }
                        let row = row.map_err(|msg| anyhow!(msg))?;
                        let fits = row.fits;
                        (row, fits)
                    }
                };
                evaluated += 1;
                fit += u64::from(fits);
                seq += 1;
                if evaluated == 1 {
                    lone = Some(row.clone());
                }
                if pinned {
                    mine.push(row);
                } else if (fits || a.all) && requires.iter().all(|q| q.accepts(&row)) {
                    passed += 1;
                    passed_fit += usize::from(fits);
                    if a.plot.is_some() {
                        plotted.add(&row, systems.len());
                    }
                    best.offer(sort.key(&row), seq, row);
                }
            }
        }
        let prefix = if systems.len() > 1 {
            format!("{m} on {g}: ")
        } else {
            String::new()
        };
        for line in idle.idle_lines() {
            eprintln!("note: {prefix}{line}");
        }
        for line in skipped.lines() {
            eprintln!("note: {prefix}{line}");
        }
        // One layout with `--interleave auto` is still one configuration: the virtual-stage count
        // that does best (fitting first) stands for it, explained as a single configuration is.
        if pinned && interleaves.is_none() && mine.len() > 1 {
            mine.sort_by(|x, y| {
                y.fits
                    .cmp(&x.fits)
                    .then(sort.key(x).total_cmp(&sort.key(y)))
            });
            eprintln!(
                "note: {prefix}--interleave auto: {} virtual stage(s) per GPU did best of {}",
                mine[0].interleave,
                mine.iter()
                    .map(|r| r.interleave.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            mine.truncate(1);
        }
        rows.extend(mine);
    }
    let single = systems.len() == 1
        && (evaluated == 1 || (pinned && interleaves.is_none() && rows.len() == 1));
    if pinned || single {
        if !pinned {
            rows = lone.into_iter().collect();
        }
        rows.retain(|r| (r.fits || a.all || single) && requires.iter().all(|q| q.accepts(r)));
        passed = rows.len();
        passed_fit = rows.iter().filter(|r| r.fits).count();
        plotted = Plotted::new();
        if a.plot.is_some() {
            for r in &rows {
                plotted.add(r, systems.len());
            }
        }
        rows.sort_by(|x, y| sort.key(x).total_cmp(&sort.key(y)));
        rows.truncate(top.unwrap_or(usize::MAX));
    } else {
        rows = best.into_sorted();
    }
    if let Some(path) = &a.plot {
        plot(path, &plotted, &systems)?;
    }
    // The JSON inputs name every model and GPU, comma-joined (one name for one system).
    let unique = |f: &dyn Fn(&Loaded) -> String, sep: &str| {
        let mut v: Vec<String> = Vec::new();
        for l in &systems {
            let x = f(l);
            if !v.contains(&x) {
                v.push(x);
            }
        }
        v.join(sep)
    };
    let (model_list, gpu_list) = (
        unique(&|l| l.model.name.clone(), ","),
        unique(&|l| l.gpu.name.clone(), ","),
    );
    let varying = report::Varying {
        model: model_list.contains(','),
        gpu: gpu_list.contains(','),
        ..report::Varying::default()
    };
    let inputs = TrainInputs {
        model: &model_list,
        gpu: &gpu_list,
        gpu_calibration: unique(&|l| l.gpu.gpu.calibration(), "; "),
        gpus: a.gpus,
        tp: &tps,
        pp: &pps,
        ep: &eps,
        micro_batch: &mbs,
        zero: &zeros,
        recompute: recomputes.iter().map(|r| r.name()).collect(),
        recompute_modules: a.recompute_modules.name(),
        cuda_graph_scope: a.cuda_graph_scope.name(),
        tokens: a.tokens,
        global_batch_tokens: a.global_batch_tokens,
        seq_len: seq_len_for(&systems[0]),
        dtype: a.dtype.name(),
        interleave: interleaves.as_deref(),
        runtime: (&systems[0].runtime).into(),
        dp_overlap,
        grad_reduce,
        attention,
        sequence_parallel,
        zero3_fetch,
        ep_dispatcher,
        ep_overlap,
        grad_overlap,
        tp_overlap,
        mtp_layers: a.mtp_layers,
        last_stage_layers: a.last_stage_layers,
        mfu: a.mfu,
        reliability,
        sort: &a.sort,
        require: &a.output.require,
        set: a.selection.set.iter().map(ToString::to_string).collect(),
    };
    let summary = serde_json::json!({"evaluated": evaluated, "fit": fit, "passed": passed, "shown": rows.len()});
    let mut out = BufWriter::new(std::io::stdout().lock());
    let hidden = report::render_with(
        a.output.format,
        &rows,
        TrainRow::FIELDS,
        train_row::table,
        varying,
        &inputs,
        &summary,
        &mut out,
    )?;
    if single && matches!(a.output.format, Format::Table | Format::Markdown) && !rows.is_empty() {
        write!(
            out,
            "\n{}",
            train_row::explain(&rows[0], systems[0].ctx.hw.mem_bytes)
        )?;
        // An MoE model: where one MoE layer's micro-batch goes, on the configuration shown.
        let r = &rows[0];
        let recompute = recomputes.iter().copied().find(|x| x.name() == r.recompute);
        if let (Some(recompute), true) = (recompute, systems[0].model.model.is_moe()) {
            let c = make_config(
                r.tp,
                r.pp,
                r.ep,
                r.micro_batch,
                r.zero_stage as u8,
                recompute,
                r.interleave,
                r.seq_len,
            );
            let t = train::step::layer_time(&systems[0].ctx, &c, true);
            write!(
                out,
                "\n{}",
                train_row::explain_moe_layer(&t, r.micro_batch * r.seq_len)
            )?;
        }
        writeln!(out, "\nruntime profile: {}", systems[0].runtime.summary())?;
        // What the estimate ran with: a flag wins over the profile's line above.
        use crate::runtime::value_name as name;
        writeln!(
            out,
            "training settings in force: attention {}, sequence-parallel {}, dp-overlap {}, grad-reduce {}, ep-dispatcher {}, ep-overlap {}, grad-overlap {}, tp-overlap {}, zero3-fetch {}, cuda-graph-scope {}",
            name(&attention),
            sequence_parallel,
            dp_overlap,
            name(&grad_reduce),
            name(&ep_dispatcher),
            name(&ep_overlap),
            name(&grad_overlap),
            name(&tp_overlap),
            name(&zero3_fetch),
            a.cuda_graph_scope.name(),
        )?;
    }
    out.flush()?;
    if let Some(note) = report::hidden_note(&hidden) {
        eprintln!("{note}");
    }
    if !single {
        eprintln!(
            "{evaluated} configurations evaluated, {fit} fit in memory; showing {} ({} {} first)",
            rows.len(),
            if sort.descending { "highest" } else { "lowest" },
            sort.field.name()
        );
    }
    if rows.is_empty() {
        eprintln!(
            "{}",
            if evaluated == 0 {
                "no configuration could be evaluated (see the notes above)"
            } else if fit == 0 && !a.all {
                "no configuration fits in memory; try --zero 2 or 3, --recompute full, more --pp, or --all to see them"
            } else {
                "no configuration satisfies every --require"
            }
        );
        return Ok(NO_FEASIBLE);
    }
    if single && !rows[0].fits {
        eprintln!(
            "this configuration does not fit in memory (exit code 3); try --zero 2 or 3, --recompute full or more --pp"
        );
        return Ok(NO_FEASIBLE);
    }
    if passed_fit == 0 {
        return Ok(super::none_fits_under_all(
            !a.output.require.is_empty(),
            "try --zero 2 or 3, --recompute full, more --pp",
        ));
    }
    Ok(OK)
}
