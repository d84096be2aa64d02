//! `gpt4calc reproduce`: every checkable claim of the SemiAnalysis GPT-4 article (10 July 2023)
//! recomputed with the calculator's own model, at the operating point the article states.
//!
//! Each claim is a small entry of data (`list.rs`): its id, the article's words, the article's
//! value and unit, a tolerance fixed by the article's own precision, and a computation that
//! reads only the presets and the inputs of `inputs.rs` (the article's stated operating points
//! and documented figures) and returns its value with an explanation built from the values it
//! computed. The article's claimed value never reaches the computation, so no row is typed in
//! or searched towards the answer; a row that echoes an input is labelled `input`.

mod inputs;
mod list;

pub use inputs::Inputs;
pub use list::SPECS;

use crate::dtype::Dtype;
use crate::model::ModelCounts;
use crate::perf::{Config, Context, Estimate, KvSharding, estimate};
use crate::presets::{self, Kind as PresetKind, Override};
use crate::train::{self, Recompute, TrainConfig, TrainEstimate};
use anyhow::{Result, anyhow, bail};
use serde::Serialize;
use std::cell::OnceCell;

/// How a claim is judged, from the article's own precision.
#[derive(Clone, Copy, Debug)]
pub enum Tolerance {
    /// "~x": within ±10% of x.
    About,
    /// A stated range, in the claim's unit.
    Range(f64, f64),
    /// "under", "less than", "cannot reach": below the article's value.
    Under,
    /// "more than", "at least": above the article's value.
    Over,
    /// A number stated without "~": within half a unit of its last significant digit (the
    /// count of significant digits as written).
    Digits(u32),
    /// A qualitative claim: judged by a condition the computation returns.
    Holds,
    /// A claim that hinges on a figure the article does not give (a fleet size, a traffic
    /// profile): the row computes the threshold and is verdicted `open`.
    Open,
}

impl Tolerance {
    /// The rule in words, for the table.
    pub fn describe(self, article: Option<f64>) -> String {
        match self {
            Tolerance::About => "~: ±10%".into(),
            Tolerance::Range(lo, hi) => format!(
                "range {} to {}",
                crate::report::human(lo),
                crate::report::human(hi)
            ),
            Tolerance::Under => "below".into(),
            Tolerance::Over => "above".into(),
            Tolerance::Digits(n) => match article {
                Some(a) => format!("as written: ±{}", crate::report::human(half_digit(a, n))),
                None => "as written".into(),
            },
            Tolerance::Holds => "holds".into(),
            Tolerance::Open => "open: needs a figure the article does not give".into(),
        }
    }
}

/// Half a unit of the `digits`-th significant digit of `x`.
fn half_digit(x: f64, digits: u32) -> f64 {
    let exp = x.abs().log10().floor() as i32 - digits as i32 + 1;
    0.5 * 10f64.powi(exp)
}

/// What a claim row is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A value the calculator computes and checks against the article.
    Check,
    /// An input echoed back (a preset field set to the article's number, or the article's own
    /// operating point): shown, never verdicted as reproduced.
    Input,
}

/// A claim of the article as data.
pub struct Spec {
    /// Stable identifier.
    pub id: &'static str,
    /// The article's section.
    pub section: &'static str,
    /// The article's words.
    pub words: &'static str,
    /// The article's number, in `unit` (None for a qualitative claim).
    pub article: Option<f64>,
    /// Unit of the article's and the computed value.
    pub unit: &'static str,
    /// Check or input echo.
    pub role: Role,
    /// The tolerance rule.
    pub tolerance: Tolerance,
    /// What-ifs (`--set` entries) that must move the computed value: the inputs it depends on.
    pub depends: &'static [&'static str],
    /// The computation: a function of the presets and inputs only.
    pub compute: fn(&Ctx) -> Result<Out>,
}

/// A computed value and its explanation.
#[derive(Clone, Debug, Default)]
pub struct Out {
    /// The value, in the claim's unit.
    pub value: f64,
    /// For a qualitative claim: whether it holds.
    pub holds: Option<bool>,
    /// How it was computed, from the computed values.
    pub how: String,
    /// Why it differs (shown only when it does).
    pub why: String,
    /// Where the article states an input the presets disagree with: that input, and the value
    /// computed with it.
    pub alt: Option<(String, f64)>,
}

impl Out {
    /// A value and how it was computed.
    pub fn new(value: f64, how: String) -> Self {
        Out {
            value,
            how,
            ..Out::default()
        }
    }
    /// A qualitative verdict.
    pub fn holds(mut self, h: bool) -> Self {
        self.holds = Some(h);
        self
    }
    /// The reason shown when it differs.
    pub fn why(mut self, why: String) -> Self {
        self.why = why;
        self
    }
    /// The value under the article's own input.
    pub fn alt(mut self, input: String, value: f64) -> Self {
        self.alt = Some((input, value));
        self
    }

    /// `alt` with a training run that imposes the article's MFU, when the hardware could run it
    /// (`TrainEstimate::runs`): an MFU whose recomputation and attention pass the GPU's peak
    /// gives no value at all.
    pub fn alt_if_it_runs(
        self,
        input: String,
        imposed: &crate::train::TrainEstimate,
        value: f64,
    ) -> Self {
        if imposed.runs() {
            self.alt(input, value)
        } else {
            self
        }
    }
}

/// One claim of the article next to the calculator's value.
#[derive(Clone, Debug, Serialize)]
pub struct Claim {
    /// Stable identifier.
    pub id: &'static str,
    /// The article's section.
    pub section: &'static str,
    /// The article's words.
    pub claim: &'static str,
    /// The article's number, in `unit` (null for a qualitative claim).
    pub seed_value: Option<f64>,
    /// What the calculator computes, in `unit` (null when the inputs as set leave it undefined:
    /// verdict `not computable`).
    pub computed_value: Option<f64>,
    /// Unit of both values.
    pub unit: &'static str,
    /// computed / seed.
    pub ratio: Option<f64>,
    /// "reproduced", "differs", "open" (hinges on a figure the article does not give), "input"
    /// (echoes an input) or "not computable" (a what-if leaves the value undefined).
    pub verdict: &'static str,
    /// The tolerance rule, from the article's precision.
    pub tolerance: String,
    /// An input the article states where the presets hold another value (e.g. "3 TB/s").
    pub article_input: Option<String>,
    /// The value computed with the article's input instead.
    pub computed_with_article_input: Option<f64>,
    /// How the value was computed and, where it differs, why.
    pub explanation: String,
}

/// Judge a computed value by a spec's rule.
fn judge(s: &Spec, o: &Out) -> &'static str {
    if s.role == Role::Input {
        return "input";
    }
    if let Tolerance::Open = s.tolerance {
        return "open";
    }
    let v = o.value;
    let ok = match (s.tolerance, s.article) {
        (Tolerance::Holds, _) => o.holds.unwrap_or(false),
        (Tolerance::Range(lo, hi), _) => v >= lo && v <= hi,
        (Tolerance::About, Some(a)) => (v / a - 1.0).abs() <= 0.10,
        (Tolerance::Under, Some(a)) => v < a,
        (Tolerance::Over, Some(a)) => v > a,
        (Tolerance::Digits(n), Some(a)) => (v - a).abs() <= half_digit(a, n) * (1.0 + 1e-9),
        _ => false,
    };
    if ok { "reproduced" } else { "differs" }
}

/// The model presets `reproduce` loads.
pub const MODELS: &[&str] = &[
    "gpt4-8k",
    "gpt4-32k",
    "gpt3-175b",
    "dense-1t",
    "palm-540b",
    "llama3-70b",
];
/// The GPU presets `reproduce` loads: the article's A100s (40 GB, its "40GB A100s") and H100s.
pub const GPUS: &[&str] = &["a100-40g", "h100"];

/// What the computations read: the user's overrides, the inputs, and the loaded contexts
/// (GPT-4 on A100 and on H100 kept apart, so a what-if on one GPU moves only its rows).
pub struct Ctx {
    set: Vec<Override>,
    /// The article's inputs and the documented figures.
    pub input: Inputs,
    /// GPT-4 (gpt4-8k) on A100-40G at the article's A100 price.
    pub a100: Context,
    /// GPT-4 (gpt4-8k) on H100 at the article's H100 price.
    pub h100: Context,
    /// GPT-4's counts.
    pub gpt4: ModelCounts,
    /// GPT-3 175B's counts.
    pub gpt3: ModelCounts,
    a100_run: OnceCell<TrainEstimate>,
    h100_run: OnceCell<TrainEstimate>,
    a100_reading: OnceCell<Option<Estimate>>,
    h100_reading: OnceCell<Option<Estimate>>,
}

impl Ctx {
    fn new(set: &[Override], input: Inputs) -> Result<Self> {
        let a100 = load(set, "gpt4-8k", "a100-40g", &price(input.a100_usd_per_hour))?;
        let h100 = load(set, "gpt4-8k", "h100", &price(input.h100_usd_per_hour))?;
        let gpt4 = a100.model;
        let gpt3 = load(set, "gpt3-175b", "a100-40g", &[])?.model;
        Ok(Ctx {
            set: set.to_vec(),
            input,
            a100,
            h100,
            gpt4,
            gpt3,
            a100_run: OnceCell::new(),
            h100_run: OnceCell::new(),
            a100_reading: OnceCell::new(),
            h100_reading: OnceCell::new(),
        })
    }

    /// Another model or GPU with the user's overrides and `extra` (applied first: the user's
    /// what-ifs win).
    pub fn load(&self, model: &str, gpu: &str, extra: &[String]) -> Result<Context> {
        load(&self.set, model, gpu, extra)
    }

    /// The article's training run on A100s (`training_run`).
    pub fn a100_run(&self) -> &TrainEstimate {
        self.a100_run.get_or_init(|| {
            let i = &self.input;
            training_run(&self.a100, i, i.a100_gpus, Dtype::Bf16, true)
        })
    }

    /// The article's H100 run: the same layout and recipe on the H100 GPU count.
    pub fn h100_run(&self) -> &TrainEstimate {
        self.h100_run.get_or_init(|| {
            let i = &self.input;
            training_run(&self.h100, i, i.h100_gpus, Dtype::Bf16, true)
        })
    }

    /// The article's inference layout on `gpus` (TP × PP from the article), at `batch` with the
    /// default workload.
    pub fn serving(&self, batch: u64, dtype: Dtype) -> Config {
        let i = &self.input;
        Config::new(
            i.inference_tp as u64,
            i.inference_pp as u64,
            batch,
            i.input_len as u64,
            i.output_len as u64,
            dtype,
        )
    }

    /// The cheapest configuration of the article's 128-A100 layout that serves every user at
    /// the article's reading speed or faster (fp16; either KV layout).
    pub fn a100_reading(&self) -> Option<&Estimate> {
        self.a100_reading
            .get_or_init(|| {
                cheapest_at_speed(
                    &self.a100,
                    self.serving(1, Dtype::Fp16),
                    self.input.reading_tok_s,
                )
            })
            .as_ref()
    }

    /// The same on the article's 128 H100s (fp8).
    pub fn h100_reading(&self) -> Option<&Estimate> {
        self.h100_reading
            .get_or_init(|| {
                cheapest_at_speed(
                    &self.h100,
                    self.serving(1, Dtype::Fp8),
                    self.input.reading_tok_s,
                )
            })
            .as_ref()
    }
}

fn price(usd: f64) -> Vec<String> {
    vec![format!("gpu.price.usd_per_gpu_hour={usd}")]
}

/// Load `model` on `gpu` with `extra` first, then the user's overrides: unscoped `model.*`
/// keys apply to GPT-4 (gpt4-8k, gpt4-32k) only, scoped ones to the preset they name.
fn load(set: &[Override], model: &str, gpu: &str, extra: &[String]) -> Result<Context> {
    let mut o: Vec<Override> = extra
        .iter()
        .map(|e| e.parse().map_err(|e: String| anyhow!(e)))
        .collect::<Result<_>>()?;
    o.extend(
        set.iter()
            .filter(|x| {
                x.kind() == Some(PresetKind::Gpu) || x.scope.is_some() || model.starts_with("gpt4")
            })
            .cloned(),
    );
    let m = presets::load_model(model, &o)?;
    let g = presets::load_gpu(gpu, &o)?;
    Ok(Context::new(
        &m.model,
        &g.gpu,
        crate::perf::DEFAULT_PREFILL_CHUNK_TOKENS,
    ))
}

/// The article's GPT-4 training run: 60M-token batches of 8k sequences, 13T tokens, on `gpus`
/// GPUs as TP `tp` × PP `pp`.
pub fn gpt4_training(
    gpus: u64,
    tp: u64,
    pp: u64,
    zero: u8,
    recompute: Recompute,
    dtype: Dtype,
    mfu: Option<f64>,
) -> TrainConfig {
    TrainConfig {
        zero,
        recompute,
        mfu,
        ..TrainConfig::new(gpus, tp, pp, 60e6, 8192, 13e12, dtype)
    }
}

/// The article's training recipe on `gpus` GPUs at the article's ZeRO stage, with failures
/// and restarts at the documented GPU MTBF when `failures`.
pub fn training_config(i: &Inputs, gpus: f64, dtype: Dtype, failures: bool) -> TrainConfig {
    TrainConfig {
        zero: i.training_zero.clamp(0.0, 3.0) as u8,
        reliability: failures.then_some(train::Reliability {
            gpu_mtbf_hours: i.gpu_mtbf_hours,
            checkpoint_interval_s: None,
            checkpoint_write_s: i.checkpoint_write_s,
            restart_s: i.restart_s,
        }),
        ..TrainConfig::new(
            gpus as u64,
            i.training_tp as u64,
            i.training_pp as u64,
            i.training_batch_tokens,
            i.training_seq as u64,
            i.training_tokens,
            dtype,
        )
    }
}

/// The article's training recipe on `gpus` GPUs of `ctx`: its batch, sequence, tokens, TP and
/// PP, with the least memory-saving that fits (the article's ZeRO stage with selective
/// recomputation first, then full recomputation, then ZeRO-2 and ZeRO-3), modelled (not an
/// imposed MFU), with failures and restarts at the documented GPU MTBF when `failures`.
pub fn training_run(
    ctx: &Context,
    i: &Inputs,
    gpus: f64,
    dtype: Dtype,
    failures: bool,
) -> TrainEstimate {
    let base = training_config(i, gpus, dtype, failures);
    let zero = base.zero;
    let tries = [
        (zero, Recompute::Selective),
        (zero, Recompute::Full),
        (zero.max(2), Recompute::Selective),
        (zero.max(2), Recompute::Full),
        (3, Recompute::Full),
    ];
    let mut last = None;
    for (zero, recompute) in tries {
        let e = train::estimate(
            ctx,
            &TrainConfig {
                zero,
                recompute,
                ..base
            },
        );
        if e.fits {
            return e;
        }
        last = Some(e);
    }
    last.expect("at least one layout was tried")
}

/// The serving points of `base` for a search at a threshold: for each KV layout, every batch of
/// the grid 1, 2, 3, 4, 6, … 98,304 that fits, prices finitely and `meets` it, plus the integers
/// bisected at the threshold (`batch_search`): `largest` for a threshold small batches meet (a
/// speed per user), else one large batches meet (a price).
fn serving_points(
    ctx: &Context,
    base: Config,
    largest: bool,
    meets: impl Fn(&Estimate) -> bool,
) -> Vec<Estimate> {
    [KvSharding::Heads, KvSharding::Batch]
        .into_iter()
        .flat_map(|k| {
            let at = |b: u64| {
                let c = Config {
                    batch: b,
                    kv_sharding: k,
                    ..base
                };
                ctx.check(&c).is_ok().then(|| estimate(ctx, &c))
            };
            let ok = |e: &Estimate| e.fits && e.usd_per_1m_output_tokens.is_finite() && meets(e);
            if largest {
                crate::batch_search::largest_meeting(at, ok)
            } else {
                crate::batch_search::smallest_meeting(at, ok)
            }
        })
        .collect()
}

/// The cheapest point of `base` whose users each get at least `tok_s` tokens/s: the cost per
/// token falls as the batch grows and the speed per user with it, so the answer is the largest
/// batch at that speed, found exactly.
pub fn cheapest_at_speed(ctx: &Context, base: Config, tok_s: f64) -> Option<Estimate> {
    serving_points(ctx, base, true, |e| e.output_tokens_per_s_per_user >= tok_s)
        .into_iter()
        .min_by(|x, y| {
            x.usd_per_1m_output_tokens
                .total_cmp(&y.usd_per_1m_output_tokens)
        })
}

/// The fastest point per user of `base` whose output tokens cost at most `usd_per_1m`: the
/// smallest batch at that price, found exactly.
pub fn fastest_at_price(ctx: &Context, base: Config, usd_per_1m: f64) -> Option<Estimate> {
    serving_points(ctx, base, false, |e| {
        e.usd_per_1m_output_tokens <= usd_per_1m
    })
    .into_iter()
    .max_by(|x, y| {
        x.output_tokens_per_s_per_user
            .total_cmp(&y.output_tokens_per_s_per_user)
    })
}

/// The cheapest point of `base` at any speed.
pub fn cheapest(ctx: &Context, base: Config) -> Option<Estimate> {
    cheapest_at_speed(ctx, base, 0.0)
}

/// The largest batch of `base` (its KV layout) in 1 … 65,536 that fits.
pub fn max_batch(ctx: &Context, base: Config) -> u64 {
    let fits = |b: u64| {
        let c = Config { batch: b, ..base };
        ctx.check(&c).is_ok() && estimate(ctx, &c).fits
    };
    if !fits(1) {
        return 0;
    }
    let (mut lo, mut hi) = (1u64, 65_536u64);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if fits(mid) { lo = mid } else { hi = mid - 1 }
    }
    lo
}

/// Units of the inputs that are counts (GPUs, stages, sequences, …): whole numbers.
const WHOLE_UNITS: &[&str] = &[
    "GPUs",
    "stages",
    "stage",
    "sequences",
    "nodes",
    "tokens",
    "epochs",
    "pixels",
    "channels",
    "layers",
];
/// The largest count an input may take.
const MAX_WHOLE_INPUT: f64 = 1e15;

/// The range of an input that is not a count: a fraction or probability lies in [1e-6, 1] (like
/// `--mfu`), a price per GPU-hour within a GPU preset's (it becomes one), anything else in
/// [1e-9, 1e15], so that what a claim derives from it (days, dollars, percentages) stays finite.
fn input_range(unit: &str) -> (f64, f64) {
    match unit {
        "fraction" | "probability" => (1e-6, 1.0),
        "USD/GPU-hour" => (
            1e-9,
            crate::limits::gpu_float("gpu.price.usd_per_gpu_hour").max,
        ),
        _ => (1e-9, MAX_WHOLE_INPUT),
    }
}

/// The flag an input becomes in the runs `reproduce` prices, whose range it then takes.
fn input_flag(name: &str) -> Option<&'static str> {
    Some(match name {
        "gpu_mtbf_hours" => "gpu-mtbf-hours",
        "checkpoint_write_s" => "checkpoint-write-s",
        "restart_s" => "restart-s",
        "input_len" | "kv_context" => "input-len",
        "output_len" => "output-len",
        "training_seq" => "seq-len",
        "spec_tokens" => "speculate",
        _ => return None,
    })
}

/// Split `--set` into preset overrides and input overrides (`article.NAME` / `source.NAME`).
pub fn split_set(set: &[Override]) -> Result<(Vec<Override>, Inputs)> {
    let mut input = Inputs::default();
    let mut presets_set = Vec::new();
    for o in set {
        let Some((prefix, name)) = o.key.split_once('.') else {
            presets_set.push(o.clone());
            continue;
        };
        if prefix != "article" && prefix != "source" {
            presets_set.push(o.clone());
            continue;
        }
        let names: Vec<&str> = Inputs::LIST.iter().map(|(n, _, _)| *n).collect();
        if o.scope.is_some() {
            bail!("--set {o}: `{prefix}.*` inputs take no preset scope");
        }
        let Some(&(_, unit, from)) = Inputs::LIST.iter().find(|(n, _, _)| *n == name) else {
            let near = presets::nearest(name, &names);
            bail!(
                "--set {o}: unknown input `{name}`{}; inputs: {}",
                if near.is_empty() {
                    String::new()
                } else {
                    format!(" (did you mean {}?)", near.join(" or "))
                },
                names.join(", ")
            );
        };
        let want = if from.starts_with("article") {
            "article"
        } else {
            "source"
        };
        if prefix != want {
            let article = if want == "article" { "an" } else { "a" };
            bail!("--set {o}: `{name}` is {article} {want} input; write {want}.{name}=VALUE");
        }
        // What the input allows, in every message about its value: its unit's range, narrowed
        // to the flag's where the input becomes one (`--gpu-mtbf-hours`, `--input-len`, ...).
        let whole = WHOLE_UNITS.contains(&unit);
        let (mut lo, mut hi) = if whole {
            (1.0, MAX_WHOLE_INPUT)
        } else {
            input_range(unit)
        };
        if let Some(flag) = input_flag(name) {
            let (flo, fhi) = if whole {
                let r = crate::limits::flag_range(flag);
                (r.min as f64, r.max as f64)
            } else {
                let r = crate::limits::float_flag_range(flag);
                (r.min, r.max)
            };
            // The flag's range as it is: what the flag takes, the input takes (a restart of 0
            // s included); every such flag's bounds are finite.
            (lo, hi) = (flo, fhi);
        }
        if name == "training_zero" {
            (lo, hi) = (1.0, 3.0);
        }
        let allowed = if name == "training_zero" {
            "is a ZeRO stage: 1, 2 or 3".to_string()
        } else if whole {
            format!(
                "is a count: a whole number from 1 to {}",
                // 1e15, or a flag's bound digit-grouped (1,073,741,824).
                if hi < 1e12 {
                    crate::limits::grouped(hi as u64)
                } else {
                    crate::limits::short(hi)
                }
            )
        } else {
            format!(
                "({unit}) must be from {} to {}",
                crate::limits::short(lo),
                crate::limits::short(hi)
            )
        };
        let value = o
            .raw
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && (lo..=hi).contains(v) && !(whole && v.fract() != 0.0))
            .ok_or_else(|| {
                anyhow!(
                    "--set {o}: `{name}` {allowed} (not `{}`)",
                    crate::limits::clip(o.raw.trim())
                )
            })?;
        input.set(name, value);
    }
    // The article's ranges read low to high ("32% to 36% MFU", "batch size of 256 or 512").
    for (low, high) in [
        ("a100_mfu_low", "a100_mfu_high"),
        ("intensity_batch_low", "intensity_batch_high"),
        ("words_per_min_average", "words_per_min_fast"),
    ] {
        let (lo, hi) = (input.get(low), input.get(high));
        if let (Some(lo), Some(hi)) = (lo, hi)
            && lo > hi
        {
            bail!(
                "--set: article.{low} = {} exceeds article.{high} = {}: the low end of a range may not pass its high end",
                crate::limits::short(lo),
                crate::limits::short(hi)
            );
        }
    }
    Ok((presets_set, input))
}

/// Every claim, with `set` applied: preset overrides to the presets (scoped ones to the preset
/// they name), `article.*` and `source.*` to the inputs.
pub fn claims(set: &[Override]) -> Result<Vec<Claim>> {
    let (preset_set, input) = split_set(set)?;
    presets::check_override_prefixes(&preset_set).map_err(|e| {
        anyhow::anyhow!("{e}, or here `article.` and `source.` (the article's inputs)")
    })?;
    let loaded: Vec<(PresetKind, Vec<String>)> = MODELS
        .iter()
        .map(|m| (PresetKind::Model, vec![(*m).to_string()]))
        .chain(
            GPUS.iter()
                .map(|g| (PresetKind::Gpu, vec![(*g).to_string()])),
        )
        .collect();
    presets::check_scopes(&preset_set, &loaded)?;
    let ctx = Ctx::new(&preset_set, input)?;
    // The article's layouts must apply to the models as set.
    for (c, dtype) in [(&ctx.a100, Dtype::Fp16), (&ctx.h100, Dtype::Fp8)] {
        if let Err(crate::perf::Reject::Invalid(why) | crate::perf::Reject::Skip(why)) =
            c.check(&ctx.serving(1, dtype))
        {
            bail!(
                "the article's serving layout (article.inference_tp, article.inference_pp) does not apply: {why}"
            );
        }
    }
    let i = &ctx.input;
    for (c, gpus) in [(&ctx.a100, i.a100_gpus), (&ctx.h100, i.h100_gpus)] {
        let run = training_config(i, gpus, Dtype::Bf16, true);
        if let Err(crate::perf::Reject::Invalid(why) | crate::perf::Reject::Skip(why)) =
            train::check(c, &run)
        {
            bail!(
                "the article's training layout (article.training_tp, article.training_pp, article.*_gpus) does not apply: {why}"
            );
        }
    }
    SPECS
        .iter()
        .map(|s| {
            let mut o = (s.compute)(&ctx).map_err(|e| anyhow!("claim {}: {e:#}", s.id))?;
            if !o.value.is_finite() {
                // A what-if can leave a value undefined: a price of 0 makes cost ratios 0/0, a
                // GPU too small for the article's layout leaves no configuration to price, and a
                // step longer than the job's time between failures makes no progress.
                // The row says so instead of printing NaN.
                return Ok(Claim {
                    id: s.id,
                    section: s.section,
                    claim: s.words,
                    seed_value: s.article,
                    computed_value: None,
                    unit: s.unit,
                    ratio: None,
                    verdict: NOT_COMPUTABLE,
                    tolerance: s.tolerance.describe(s.article),
                    article_input: None,
                    computed_with_article_input: None,
                    explanation: NOT_COMPUTABLE_WHY.into(),
                });
            }
            if o.alt.as_ref().is_some_and(|(_, v)| !v.is_finite()) {
                o.alt = None;
            }
            let verdict = judge(s, &o);
            let explanation = compact_numbers(&if verdict == "differs" && !o.why.is_empty() {
                format!("{} {}", o.how, o.why)
            } else {
                o.how.clone()
            });
            Ok(Claim {
                id: s.id,
                section: s.section,
                claim: s.words,
                seed_value: s.article,
                computed_value: Some(o.value),
                unit: s.unit,
                ratio: s.article.map(|a| o.value / a),
                verdict,
                tolerance: if s.role == Role::Input {
                    "input".into()
                } else {
                    s.tolerance.describe(s.article)
                },
                article_input: o.alt.as_ref().map(|(d, _)| d.clone()),
                computed_with_article_input: o.alt.as_ref().map(|(_, v)| *v),
                explanation,
            })
        })
        .collect()
}

/// `text` with every number whose whole part runs past twelve digits rewritten in scientific
/// notation. A what-if far outside the article (a thousandth of a TFLOP/s) stretches its
/// explanations' dollars, days and GPU-hours to 90-digit figures; 1.43e97 says the same.
pub fn compact_numbers(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            let ch = text[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
            continue;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let whole = i - start;
        if i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        }
        let number = &text[start..i];
        match number.parse::<f64>() {
            Ok(v) if whole > 12 => out.push_str(&format!("{v:.3e}")),
            _ => out.push_str(number),
        }
    }
    out
}

/// The verdict of a claim the inputs as set leave undefined.
pub const NOT_COMPUTABLE: &str = "not computable";

/// Its explanation.
pub const NOT_COMPUTABLE_WHY: &str = "Not computable with these inputs: a ratio of costs at a price of 0, no configuration of the article's layout that fits in memory, or a run whose steps and checkpoints outlast its time between failures (source.gpu_mtbf_hours: no progress) leaves it undefined.";

/// Training FLOPs of `tokens` tokens: a forward and a backward pass (twice the forward's FLOPs)
/// of the model's FLOPs per token, as `train` counts them (6·N·D plus the logits).
pub fn training_flops(m: &ModelCounts, tokens: f64) -> f64 {
    3.0 * m.flops_per_token() * tokens
}

/// Bytes of one stored token id for a vocabulary of `vocab`: the smallest power-of-two
/// integer width that holds it (a 100k vocabulary needs 17 bits, so int32).
pub fn token_id_bytes(vocab: f64) -> f64 {
    let bits = vocab.max(2.0).log2().ceil();
    (bits / 8.0).ceil().max(1.0).log2().ceil().exp2()
}

/// Seconds per day.
pub const S_PER_DAY: f64 = 86_400.0;
/// The longest draft the speculation search tries (γ = 1 … 16; `--speculate` allows 64).
pub const MAX_DRAFT: u64 = 16;
/// ZeRO stage of "full model FSDP": parameters, gradients and optimizer states all sharded.
pub const FSDP_ZERO_STAGE: u8 = 3;
/// Days per year.
pub const DAYS_PER_YEAR: f64 = 365.0;

#[cfg(test)]
mod tests {
    use super::compact_numbers;

    #[test]
    fn only_numbers_past_twelve_whole_digits_are_rewritten() {
        assert_eq!(
            compact_numbers("$14283251881166337483762M for 2384.50 days × 1.5 — ±10%"),
            "$1.428e22M for 2384.50 days × 1.5 — ±10%"
        );
        assert_eq!(
            compact_numbers("123456789012.75 and 1234567890123.75"),
            "123456789012.75 and 1.235e12"
        );
        assert_eq!(
            compact_numbers("TP8 × PP16, 3.34e24 FLOP."),
            "TP8 × PP16, 3.34e24 FLOP."
        );
    }
}
