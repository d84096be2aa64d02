//! The subcommands: turn flags into domain values, call the model, hand rows to `report`.
//! Notes and the summary line go to stderr; data goes to stdout.

use crate::axis::{parse_dtype_axis, parse_u64_axis};
use crate::cli::{
    EstimateArgs, PresetsCommand, Selection, ShowArgs, ShowFormat, SweepArgs, TrainArgs,
};
use crate::dtype::Dtype;
use crate::exit_code::{NO_FEASIBLE, OK};
use crate::fields::Record;
use crate::fields::SortKey;
use crate::hardware::GpuPreset;
use crate::model::{ModelCounts, ModelPreset};
use crate::perf::{Config, Context, Reject, estimate as evaluate};
use crate::presets::{self, Kind};
use crate::report::row::Named;
use crate::report::train_row::{self, TrainRow};
use crate::report::{self, Format, explain::explain, row::Row};
use crate::require::Require;
use crate::sweep::{self, Axes, Plan};
use crate::train::{self, Recompute, Reliability, TrainConfig};
use anyhow::{Result, anyhow, bail};
use serde::Serialize;
use std::io::{BufWriter, Write};

struct Loaded {
    model: ModelPreset,
    gpu: GpuPreset,
    ctx: Context,
}

fn load(sel: &Selection, prefill_chunk: u64) -> Result<Loaded> {
    presets::check_override_prefixes(&sel.set)?;
    let model = presets::load_model(&sel.preset, &sel.set)?;
    let gpu = presets::load_gpu(&sel.gpu, &sel.set)?;
    let ctx = Context::new(&model.model, &gpu.gpu, prefill_chunk);
    Ok(Loaded { model, gpu, ctx })
}

fn parse_requires<R: crate::fields::Record>(texts: &[String]) -> Result<Vec<Require>> {
    Require::parse_all::<R>(texts).map_err(|e| anyhow!(e))
}

#[derive(Serialize)]
struct SweepInputs<'a> {
    model: &'a str,
    gpu: &'a str,
    tp: &'a [u64],
    pp: &'a [u64],
    ep: &'a [u64],
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
    batching: crate::perf::Batching,
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
    let axes = Axes {
        tp: parse_u64_axis("tp", &a.tp).map_err(|e| anyhow!(e))?,
        pp: parse_u64_axis("pp", &a.pp).map_err(|e| anyhow!(e))?,
        ep: parse_u64_axis("ep", &a.ep).map_err(|e| anyhow!(e))?,
        batch: parse_u64_axis("batch", &a.batch).map_err(|e| anyhow!(e))?,
        input_len: parse_u64_axis("input-len", &a.input_len).map_err(|e| anyhow!(e))?,
        output_len: parse_u64_axis("output-len", &a.output_len).map_err(|e| anyhow!(e))?,
        dtype: parse_dtype_axis("dtype", &a.dtype).map_err(|e| anyhow!(e))?,
        kv_dtype: match &a.kv_dtype {
            Some(t) => parse_dtype_axis("kv-dtype", t).map_err(|e| anyhow!(e))?,
            None => Vec::new(),
        },
        batching: a.serving.batching,
    };
    let sort = SortKey::parse::<Named>(&a.sort).map_err(|e| anyhow!(e))?;
    let top = match (a.top, a.output.format) {
        (Some(n), _) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
        (None, Format::Table | Format::Markdown) => Some(20),
        (None, _) => None,
    };
    let plan = Plan {
        sort,
        top,
        include_unfit: a.all,
        require: parse_requires::<Named>(&a.output.require)?,
    };
    let total = axes.len();
    let bar = crate::progress::bar(total);
    let (model_name, gpu_name) = (l.model.name.as_str(), l.gpu.name.as_str());
    let result = sweep::run(&l.ctx, &axes, &plan, (model_name, gpu_name), &mut |n| {
        bar.set_position(n)
    });
    bar.finish_and_clear();
    let (kept, summary) = result.map_err(|e| anyhow!(e))?;
    for (reason, n) in &summary.skipped {
        eprintln!("note: skipped {n} configuration(s): {reason}");
    }
    let rows: Vec<Row> = kept
        .iter()
        .map(|e| Row::new(model_name, gpu_name, e))
        .collect();
    let inputs = SweepInputs {
        model: model_name,
        gpu: gpu_name,
        tp: &axes.tp,
        pp: &axes.pp,
        ep: &axes.ep,
        batch: &axes.batch,
        input_len: &axes.input_len,
        output_len: &axes.output_len,
        dtype: names(&axes.dtype),
        kv_dtype: names(&axes.kv_dtype),
        sort: &a.sort,
        top,
        all: a.all,
        require: &a.output.require,
        set: a
            .selection
            .set
            .iter()
            .map(|o| format!("{}={}", o.key, o.raw))
            .collect(),
        prefill_chunk: a.serving.prefill_chunk,
        batching: a.serving.batching,
    };
    let skipped: u64 = summary.skipped.values().sum();
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
    out.flush()?;
    let direction = if sort.descending { "highest" } else { "lowest" };
    let require_note = if plan.require.is_empty() {
        String::new()
    } else {
        format!(", {} pass --require", summary.passed)
    };
    eprintln!(
        "{} configurations evaluated, {} fit in memory{require_note}; showing {} ({direction} {} first){}",
        summary.evaluated,
        summary.fit,
        rows.len(),
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
    set: Vec<String>,
    prefill_chunk: u64,
}

/// `gpt4calc estimate`.
pub fn estimate(a: EstimateArgs) -> Result<u8> {
    let l = load(&a.selection, a.serving.prefill_chunk)?;
    let c = Config {
        tp: a.tp,
        pp: a.pp,
        ep: a.ep,
        batch: a.batch,
        input_len: a.input_len,
        output_len: a.output_len,
        dtype: a.dtype,
        kv_dtype: a.kv_dtype.unwrap_or(a.dtype.default_kv()),
        batching: a.serving.batching,
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
    let e = evaluate(&l.ctx, &c);
    let (m, g) = (l.model.name.as_str(), l.gpu.name.as_str());
    let rows = vec![Row::new(m, g, &e)];
    let inputs = EstimateInputs {
        model: m,
        gpu: g,
        set: a
            .selection
            .set
            .iter()
            .map(|o| format!("{}={}", o.key, o.raw))
            .collect(),
        prefill_chunk: a.serving.prefill_chunk,
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    report::render(
        a.output.format,
        &rows,
        &inputs,
        &serde_json::json!({}),
        &mut out,
    )?;
    if a.explain {
        match a.output.format {
            Format::Table | Format::Markdown => write!(out, "\n{}", explain(&l.ctx, m, g, &e))?,
            _ => eprintln!("note: --explain prints with --format table or markdown"),
        }
    }
    out.flush()?;
    if !e.fits {
        eprintln!("this configuration does not fit in memory (exit code 3)");
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

/// `gpt4calc presets`.
pub fn presets(cmd: PresetsCommand) -> Result<u8> {
    let mut out = BufWriter::new(std::io::stdout().lock());
    match cmd {
        PresetsCommand::List => {
            let mut t = comfy_table::Table::new();
            t.load_preset(comfy_table::presets::NOTHING);
            t.set_header(["kind", "name", "description"]);
            for (kind, list) in [("model", presets::MODELS), ("gpu", presets::GPUS)] {
                for (name, text) in list {
                    let desc = toml::from_str::<toml::Table>(text)
                        .ok()
                        .and_then(|t| {
                            t.get("description")
                                .and_then(|d| d.as_str().map(str::to_string))
                        })
                        .unwrap_or_default();
                    t.add_row([kind, name, desc.as_str()]);
                }
            }
            writeln!(out, "{t}")?;
        }
        PresetsCommand::Show(args) => show(args, &mut out)?,
    }
    out.flush()?;
    Ok(OK)
}

fn kind_of(name: &str) -> Result<Kind> {
    if presets::MODELS.iter().any(|(n, _)| *n == name) {
        return Ok(Kind::Model);
    }
    if presets::GPUS.iter().any(|(n, _)| *n == name) {
        return Ok(Kind::Gpu);
    }
    if std::path::Path::new(name).is_file() {
        let text = std::fs::read_to_string(name)?;
        return Ok(
            if text.lines().any(|l| l.trim_start().starts_with("[gpu")) {
                Kind::Gpu
            } else {
                Kind::Model
            },
        );
    }
    let all: Vec<&str> = presets::MODELS
        .iter()
        .chain(presets::GPUS)
        .map(|(n, _)| *n)
        .collect();
    let near = presets::nearest(name, &all);
    let hint = if near.is_empty() {
        String::new()
    } else {
        format!("did you mean {}? ", near.join(" or "))
    };
    bail!(
        "unknown preset `{name}`: {hint}built-in presets: {}",
        all.join(", ")
    )
}

#[derive(Serialize)]
struct ModelSummary {
    total_params: f64,
    active_params: f64,
    attention_params: f64,
    params_per_expert: f64,
    flops_per_token: f64,
    kv_bytes_per_token: f64,
    kv_dtype: &'static str,
}

fn show(args: ShowArgs, out: &mut dyn Write) -> Result<()> {
    presets::check_override_prefixes(&args.set)?;
    let kind = kind_of(&args.name)?;
    match (kind, args.format) {
        (_, ShowFormat::Toml) if args.set.is_empty() => {
            let (_, text) = presets::read_source(kind, &args.name)?;
            write!(out, "{text}")?;
        }
        (Kind::Model, ShowFormat::Toml) => write!(
            out,
            "{}",
            toml::to_string_pretty(&presets::load_model(&args.name, &args.set)?)?
        )?,
        (Kind::Gpu, ShowFormat::Toml) => write!(
            out,
            "{}",
            toml::to_string_pretty(&presets::load_gpu(&args.name, &args.set)?)?
        )?,
        (Kind::Model, ShowFormat::Json) => {
            let p = presets::load_model(&args.name, &args.set)?;
            let c = ModelCounts::new(&p.model);
            let summary = ModelSummary {
                total_params: c.total_params(),
                active_params: c.active_params(),
                attention_params: c.attention_params(),
                params_per_expert: c.params_per_expert(),
                flops_per_token: c.flops_per_token(),
                kv_bytes_per_token: c.kv_bytes_per_token(Dtype::Bf16.bytes()),
                kv_dtype: Dtype::Bf16.name(),
            };
            let doc = serde_json::json!({"schema_version": report::SCHEMA_VERSION, "kind": "model", "preset": p, "summary": summary});
            serde_json::to_writer_pretty(&mut *out, &doc)?;
            writeln!(out)?;
        }
        (Kind::Gpu, ShowFormat::Json) => {
            let p = presets::load_gpu(&args.name, &args.set)?;
            let hw = crate::hardware::Hardware::new(&p.gpu);
            let summary = serde_json::json!({
                "memory_bytes": hw.mem_bytes,
                "memory_bw_bytes_per_s": hw.mem_bw_bytes_per_s,
                "bf16_flops_per_s": crate::units::tflops_to_flops_per_s(p.gpu.tflops.bf16),
                "ridge_flops_per_byte_bf16": crate::units::tflops_to_flops_per_s(p.gpu.tflops.bf16) / hw.mem_bw_bytes_per_s,
            });
            let doc = serde_json::json!({"schema_version": report::SCHEMA_VERSION, "kind": "gpu", "preset": p, "summary": summary});
            serde_json::to_writer_pretty(&mut *out, &doc)?;
            writeln!(out)?;
        }
    }
    Ok(())
}

fn parse_zero_axis(text: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for p in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match p.parse::<u8>() {
            Ok(z) if z <= 3 => out.push(z),
            _ => bail!("--zero `{p}`: must be 0, 1, 2 or 3"),
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
    gpus: u64,
    tp: &'a [u64],
    pp: &'a [u64],
    ep: &'a [u64],
    micro_batch: &'a [u64],
    zero: &'a [u8],
    recompute: Vec<&'static str>,
    tokens: f64,
    global_batch_tokens: f64,
    seq_len: u64,
    dtype: &'static str,
    interleave: u64,
    dp_overlap: f64,
    attention: crate::train::AttentionImpl,
    sequence_parallel: bool,
    mfu: Option<f64>,
    reliability: Option<Reliability>,
    sort: &'a str,
    require: &'a [String],
    set: Vec<String>,
}

/// `gpt4calc train`.
pub fn train(a: TrainArgs) -> Result<u8> {
    let l = load(&a.selection, crate::perf::DEFAULT_PREFILL_CHUNK_TOKENS)?;
    let axis = |flag: &str, text: &str| parse_u64_axis(flag, text).map_err(|e| anyhow!(e));
    let (tps, pps, eps, mbs) = (
        axis("tp", &a.tp)?,
        axis("pp", &a.pp)?,
        axis("ep", &a.ep)?,
        axis("micro-batch", &a.micro_batch)?,
    );
    let zeros = parse_zero_axis(&a.zero)?;
    let recomputes = parse_recompute_axis(&a.recompute)?;
    let seq_len = a.seq_len.unwrap_or(l.ctx.max_context.min(8192));
    let reliability = a.gpu_mtbf_hours.map(|h| Reliability {
        gpu_mtbf_hours: h,
        checkpoint_interval_s: a.checkpoint_interval_s,
        checkpoint_write_s: a.checkpoint_write_s,
        restart_s: a.restart_s,
    });
    if let Some(r) = &reliability {
        for (flag, v) in [
            ("gpu-mtbf-hours", r.gpu_mtbf_hours),
            ("checkpoint-write-s", r.checkpoint_write_s),
            ("restart-s", r.restart_s),
            (
                "checkpoint-interval-s",
                r.checkpoint_interval_s.unwrap_or(1.0),
            ),
        ] {
            if !(v.is_finite() && v >= 0.0)
                || (flag != "restart-s" && flag != "checkpoint-write-s" && v <= 0.0)
            {
                bail!("--{flag} {v}: must be a positive finite number");
            }
        }
    }
    let sort = SortKey::parse::<TrainRow>(&a.sort).map_err(|e| anyhow!(e))?;
    let requires = parse_requires::<TrainRow>(&a.output.require)?;
    let (m, g) = (l.model.name.as_str(), l.gpu.name.as_str());
    let mut rows: Vec<TrainRow> = Vec::new();
    let mut skipped: std::collections::BTreeMap<String, u64> = Default::default();
    let (mut evaluated, mut fit) = (0u64, 0u64);
    for &tp in &tps {
        for &pp in &pps {
            for &ep in &eps {
                for &micro_batch in &mbs {
                    for &zero in &zeros {
                        for &recompute in &recomputes {
                            let c = TrainConfig {
                                gpus: a.gpus,
                                tp,
                                pp,
                                ep,
                                micro_batch,
                                global_batch_tokens: a.global_batch_tokens,
                                seq_len,
                                zero,
                                recompute,
                                dtype: a.dtype,
                                tokens: a.tokens,
                                interleave: a.interleave,
                                dp_overlap: a.dp_overlap,
                                attention: a.attention,
                                sequence_parallel: a.sequence_parallel,
                                mfu: a.mfu,
                                reliability,
                            };
                            match train::check(&l.ctx, &c) {
                                Err(Reject::Invalid(msg)) => bail!(msg),
                                Err(Reject::Skip(msg)) => {
                                    *skipped.entry(msg).or_default() += 1;
                                    continue;
                                }
                                Ok(()) => {}
                            }
                            if c.used_gpus() < c.gpus {
                                *skipped
                                    .entry(format!(
                                        "note-idle: tp {tp} × pp {pp} leaves {} of {} GPUs idle (dp {} uses {})",
                                        c.gpus - c.used_gpus(),
                                        c.gpus,
                                        c.dp(),
                                        c.used_gpus()
                                    ))
                                    .or_default() += 0;
                            }
                            let e = train::estimate(&l.ctx, &c);
                            evaluated += 1;
                            fit += u64::from(e.fits);
                            let row = TrainRow::new(m, g, &e);
                            rows.push(row);
                        }
                    }
                }
            }
        }
    }
    for (reason, n) in &skipped {
        match reason.strip_prefix("note-idle: ") {
            Some(idle) => eprintln!("note: {idle}"),
            None => eprintln!("note: skipped {n} configuration(s): {reason}"),
        }
    }
    let single = evaluated == 1;
    rows.retain(|r| (r.fits || a.all || single) && requires.iter().all(|q| q.accepts(r)));
    let passed = rows.len();
    rows.sort_by(|x, y| sort.key(x).total_cmp(&sort.key(y)));
    let top = match (a.top, a.output.format) {
        (Some(n), _) => usize::try_from(n).unwrap_or(usize::MAX),
        (None, Format::Table | Format::Markdown) => 20,
        (None, _) => usize::MAX,
    };
    rows.truncate(top);
    let inputs = TrainInputs {
        model: m,
        gpu: g,
        gpus: a.gpus,
        tp: &tps,
        pp: &pps,
        ep: &eps,
        micro_batch: &mbs,
        zero: &zeros,
        recompute: recomputes.iter().map(|r| r.name()).collect(),
        tokens: a.tokens,
        global_batch_tokens: a.global_batch_tokens,
        seq_len,
        dtype: a.dtype.name(),
        interleave: a.interleave,
        dp_overlap: a.dp_overlap,
        attention: a.attention,
        sequence_parallel: a.sequence_parallel,
        mfu: a.mfu,
        reliability,
        sort: &a.sort,
        require: &a.output.require,
        set: a
            .selection
            .set
            .iter()
            .map(|o| format!("{}={}", o.key, o.raw))
            .collect(),
    };
    let summary = serde_json::json!({"evaluated": evaluated, "fit": fit, "passed": passed, "shown": rows.len()});
    let mut out = BufWriter::new(std::io::stdout().lock());
    report::render_with(
        a.output.format,
        &rows,
        TrainRow::FIELDS,
        train_row::table,
        &inputs,
        &summary,
        &mut out,
    )?;
    if single && matches!(a.output.format, Format::Table | Format::Markdown) && !rows.is_empty() {
        write!(
            out,
            "\n{}",
            train_row::explain(&rows[0], l.ctx.hw.mem_bytes)
        )?;
    }
    out.flush()?;
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
            if fit == 0 && !a.all {
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
    Ok(OK)
}

/// `gpt4calc validate`.
pub fn validate(a: crate::cli::ValidateArgs) -> Result<u8> {
    presets::check_override_prefixes(&a.set)?;
    let cases = crate::validate::load_cases(a.cases.as_deref())?;
    let results = crate::validate::run_cases(&cases, &a.set);
    let summary = crate::validate::summarize(&results);
    let mut out = BufWriter::new(std::io::stdout().lock());
    match a.format {
        Format::Json => {
            let doc = serde_json::json!({"schema_version": report::SCHEMA_VERSION, "cases": results, "summary": summary});
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
        }
        Format::Csv => {
            writeln!(
                out,
                "id,kind,family,gpu,metric,actual,predicted,error,fits,reason"
            )?;
            for r in &results {
                let opt = |x: Option<f64>| x.map_or(String::new(), |v| v.to_string());
                let reason = r.reason.as_deref().unwrap_or("").replace('"', "'");
                writeln!(
                    out,
                    "{},{},{},{},{},{},{},{},{},\"{}\"",
                    r.id,
                    r.kind,
                    r.family,
                    r.gpu,
                    r.metric,
                    r.actual,
                    opt(r.predicted),
                    opt(r.error),
                    r.fits.map_or(String::new(), |f| f.to_string()),
                    reason
                )?;
            }
        }
        f => write!(
            out,
            "{}",
            crate::report::validation::render(&results, &summary, f == Format::Markdown)
        )?,
    }
    out.flush()?;
    Ok(OK)
}
