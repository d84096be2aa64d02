//! The subcommands: turn flags into domain values, call the model, hand rows to `report`.
//! Notes and the summary line go to stderr; data goes to stdout. One file per command.

mod docs;
mod inference;
mod presets_cmd;
mod reproduce;
mod train;
mod validate;

pub use docs::{completions, man};
pub use inference::{estimate, sweep};
pub use presets_cmd::presets;
pub use reproduce::reproduce;
pub use train::train;
pub use validate::validate;

use crate::cli::Selection;
use crate::hardware::GpuPreset;
use crate::model::ModelPreset;
use crate::perf::Context;
use crate::presets;
use crate::report::Format;
use crate::require::Require;
use anyhow::{Result, anyhow};

pub(crate) struct Loaded {
    pub model: ModelPreset,
    pub gpu: GpuPreset,
    pub ctx: Context,
    /// The runtime profile in force (`--runtime`).
    pub runtime: crate::runtime::RuntimePreset,
}

/// `--all` printed the rows, but none that passes `--require` fits: say so, with the command's
/// `hint`, and exit 3, as a script expects (sweep and train alike).
pub(crate) fn none_fits_under_all(required: bool, hint: &str) -> u8 {
    eprintln!(
        "no configuration{} fits in memory (the rows --all shows do not; exit code 3); {hint}",
        if required {
            " that satisfies every --require"
        } else {
            ""
        }
    );
    crate::exit_code::NO_FEASIBLE
}

/// Most presets in one `--preset` or `--gpu` list.
pub const MAX_SYSTEM_NAMES: usize = 64;

/// The names of a `--preset` or `--gpu` list: `a,b` → [a, b] (blank parts dropped, a repeated
/// name once).
pub(crate) fn name_list(flag: &str, text: &str) -> Result<Vec<String>> {
    let mut names: Vec<String> = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if !names.iter().any(|n| n == part) {
            names.push(part.to_string());
        }
    }
    if names.is_empty() {
        anyhow::bail!(
            "--{flag} `{}`: no preset named; give a name or path, or a comma list",
            crate::limits::clip(text)
        );
    }
    if names.len() > MAX_SYSTEM_NAMES {
        anyhow::bail!(
            "--{flag}: {} presets listed; a run compares at most {MAX_SYSTEM_NAMES}",
            names.len()
        );
    }
    Ok(names)
}

/// One model on one GPU (`estimate`): a list is an error that says where lists go.
pub(crate) fn load(sel: &Selection, prefill_chunk: u64) -> Result<Loaded> {
    let mut all = load_all(sel, prefill_chunk)?;
    if all.len() > 1 {
        anyhow::bail!(
            "--preset {} --gpu {}: estimate evaluates one model on one GPU; compare several with sweep or train",
            crate::limits::clip(&sel.preset),
            crate::limits::clip(&sel.gpu)
        );
    }
    Ok(all.remove(0))
}

/// Every (model, GPU) pair of `--preset a,b` × `--gpu x,y`, loaded with the `--set` overrides,
/// models outer.
pub(crate) fn load_all(sel: &Selection, prefill_chunk: u64) -> Result<Vec<Loaded>> {
    crate::limits::check_flag("prefill-chunk", prefill_chunk).map_err(|e| anyhow!(e))?;
    presets::check_override_prefixes(&sel.set)?;
    let runtime = crate::runtime::load(&sel.runtime)?;
    let models = name_list("preset", &sel.preset)?
        .iter()
        .map(|m| presets::load_model(m, &sel.set))
        .collect::<Result<Vec<_>>>()?;
    let gpus = name_list("gpu", &sel.gpu)?
        .iter()
        .map(|g| load_gpu(g, sel, &runtime))
        .collect::<Result<Vec<_>>>()?;
    presets::check_scopes(
        &sel.set,
        &[
            (
                presets::Kind::Model,
                models
                    .iter()
                    .map(|m| m.name.clone())
                    .chain(name_list("preset", &sel.preset)?)
                    .collect(),
            ),
            (
                presets::Kind::Gpu,
                gpus.iter()
                    .map(|g| g.name.clone())
                    .chain(name_list("gpu", &sel.gpu)?)
                    .collect(),
            ),
        ],
    )?;
    let mut out = Vec::with_capacity(models.len() * gpus.len());
    for model in &models {
        for gpu in &gpus {
            let mut ctx = Context::new(&model.model, &gpu.gpu, prefill_chunk);
            ctx.shared_expert_overlap = runtime.runtime.shared_expert_overlap();
            ctx.moe_backend = runtime.runtime.moe_backend();
            ctx.fused_input_quant = runtime.runtime.fused_input_quant();
            ctx.nvfp4_fused_input = runtime.runtime.nvfp4_fused_input();
            ctx.decode_shares_budget = runtime.runtime.decode_shares_budget();
            ctx.fused_iterations = ctx.decode_shares_budget;
            ctx.scheduler_recv_interval = runtime.runtime.scheduler_recv_interval();
            ctx.decode_admission_iters = runtime.runtime.decode_admission_iters();
            ctx.prefill_overlap = runtime.runtime.prefill_overlap();
            ctx.adp_balance = runtime.runtime.adp_balance();
            ctx.batch_wait = runtime.runtime.batch_wait_over(None, None);
            out.push(Loaded {
                model: model.clone(),
                gpu: gpu.clone(),
                ctx,
                runtime: runtime.clone(),
            });
        }
    }
    Ok(out)
}

/// GPU preset `name` with the `--set` overrides and the runtime profile's fixed costs (`--set`
/// wins).
fn load_gpu(
    name: &str,
    sel: &Selection,
    runtime: &crate::runtime::RuntimePreset,
) -> Result<GpuPreset> {
    let mut gpu = presets::load_gpu(name, &sel.set)?;
    runtime
        .runtime
        .apply_to_gpu(&mut gpu, &sel.set, name)
        .map_err(|e| anyhow!("runtime `{}`: {e}", runtime.name))?;
    Ok(gpu)
}

/// The speculative-decoding settings and, with `--draft`, the draft model's context.
pub(crate) fn speculation(
    s: &crate::cli::Serving,
    gpu: &GpuPreset,
) -> Result<(Option<crate::perf::Speculation>, Option<Context>)> {
    use crate::perf::{DraftCost, Speculation};
    let Some(gamma) = s.speculate else {
        if s.draft.is_some() || s.draft_ratio.is_some() {
            anyhow::bail!("--draft and --draft-ratio need --speculate GAMMA");
        }
        return Ok((None, None));
    };
    crate::limits::check_float_flag("acceptance", s.acceptance).map_err(|e| anyhow!(e))?;
    let (draft, ctx) = match (&s.draft, s.draft_ratio) {
        (Some(name), _) if name == "mtp" => (DraftCost::Mtp, None),
        (Some(name), _) => {
            let model = presets::load_model(name, &[])?;
            (
                DraftCost::Model,
                Some(Context::new(&model.model, &gpu.gpu, s.prefill_chunk)),
            )
        }
        (None, Some(x)) => (
            DraftCost::Ratio(
                crate::limits::check_float_flag("draft-ratio", x).map_err(|e| anyhow!(e))?,
            ),
            None,
        ),
        (None, None) => (DraftCost::Ratio(crate::perf::DEFAULT_DRAFT_RATIO), None),
    };
    Ok((
        Some(Speculation {
            gamma,
            acceptance: s.acceptance,
            draft,
        }),
        ctx,
    ))
}

/// `--disaggregate` with the prefill pool's `--prefill-*` degrees.
pub(crate) fn disaggregation(s: &crate::cli::Serving) -> Option<crate::perf::Disaggregation> {
    s.disaggregate.map(|d| crate::perf::Disaggregation {
        prefill: crate::perf::layout::LayoutOverride {
            tp: s.prefill_tp,
            dp: s.prefill_dp,
            pp: s.prefill_pp,
            ep: s.prefill_ep,
        },
        ..d
    })
}

/// The simulated workload, if `--rate` is given.
pub(crate) fn workload(s: &crate::cli::Serving) -> Result<Option<crate::sim::Workload>> {
    match s.rate {
        None => Ok(None),
        Some(r) => Ok(Some(crate::sim::Workload {
            rate_per_s: crate::limits::check_float_flag("rate", r).map_err(|e| anyhow!(e))?,
            requests: s.requests,
            seed: s.seed,
            step_budget: s.step_budget,
        })),
    }
}

pub(crate) fn parse_requires<R: crate::fields::Record>(texts: &[String]) -> Result<Vec<Require>> {
    Require::parse_all::<R>(texts).map_err(|e| anyhow!(e))
}

/// `--top N`, or by default 20 rows for people (table, Markdown) and every row for machines.
pub(crate) fn rows_to_show(top: Option<u64>, format: Format) -> Option<usize> {
    match (top, format) {
        (Some(n), _) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
        (None, Format::Table | Format::Markdown) => Some(20),
        (None, _) => None,
    }
}

/// The degrees of axis `flag` given as `text`. Degrees `fits` rejects are dropped, with a note on
/// stderr saying why (`why`), where they come from the axis's default or only from a range
/// (`1..16` explores the powers of two up to 16; a model with 40 heads takes 1, 2, 4 and 8 of
/// them). A degree the user names alone (`--tp 16`, `--tp 4,16`) is kept, for the configuration
/// check to report, and so is every degree when none fits; when a named one does not fit, the
/// range's misfits go without a note, its error being the answer. A note already in `noted` (the same model on
/// another GPU) is not printed again.
pub(crate) fn fitting_degrees(
    flag: &str,
    text: &str,
    default: &str,
    fits: impl Fn(u64) -> bool,
    why: &str,
    noted: &mut std::collections::BTreeSet<String>,
) -> Result<Vec<u64>> {
    let mut v = crate::axis::parse_u64_axis(flag, text).map_err(|e| anyhow!(e))?;
    let named = if text == default {
        Vec::new()
    } else {
        crate::axis::named_values(flag, text).map_err(|e| anyhow!(e))?
    };
    let droppable = |x: u64| !fits(x) && !named.contains(&x);
    if named.iter().any(|&x| !fits(x)) {
        // The named degree's error answers: the range's own misfits go quietly, so that it is
        // the one the check meets.
        v.retain(|&x| !droppable(x));
        return Ok(v);
    }
    let dropped: Vec<String> = v
        .iter()
        .filter(|&&x| droppable(x))
        .map(ToString::to_string)
        .collect();
    if !dropped.is_empty() && v.iter().any(|&x| !droppable(x)) {
        v.retain(|&x| !droppable(x));
        let whose = if text == default { "default " } else { "" };
        let note = format!(
            "note: {whose}--{flag} {} left out: {why}",
            dropped.join(",")
        );
        if !noted.contains(&note) {
            eprintln!("{note}");
            noted.insert(note);
        }
    }
    Ok(v)
}
