//! The subcommands: turn flags into domain values, call the model, hand rows to `report`.
//! Notes and the summary line go to stderr; data goes to stdout. One file per command.

mod inference;
mod presets_cmd;
mod reproduce;
mod train;
mod validate;

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
}

pub(crate) fn load(sel: &Selection, prefill_chunk: u64) -> Result<Loaded> {
    crate::limits::check_flag("prefill-chunk", prefill_chunk).map_err(|e| anyhow!(e))?;
    presets::check_override_prefixes(&sel.set)?;
    let model = presets::load_model(&sel.preset, &sel.set)?;
    let gpu = presets::load_gpu(&sel.gpu, &sel.set)?;
    presets::check_scopes(
        &sel.set,
        &[
            (
                presets::Kind::Model,
                vec![model.name.clone(), sel.preset.clone()],
            ),
            (presets::Kind::Gpu, vec![gpu.name.clone(), sel.gpu.clone()]),
        ],
    )?;
    let ctx = Context::new(&model.model, &gpu.gpu, prefill_chunk);
    Ok(Loaded { model, gpu, ctx })
}

/// The speculative-decoding settings and, with `--draft`, the draft model's context.
pub(crate) fn speculation(
    s: &crate::cli::Serving,
    sel: &Selection,
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
            let gpu = presets::load_gpu(&sel.gpu, &sel.set)?;
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
