//! The subcommands: turn flags into domain values, call the model, hand rows to `report`.
//! Notes and the summary line go to stderr; data goes to stdout. One file per command.

mod inference;
mod presets_cmd;
mod train;
mod validate;

pub use inference::{estimate, sweep};
pub use presets_cmd::presets;
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
    presets::check_override_prefixes(&sel.set)?;
    let model = presets::load_model(&sel.preset, &sel.set)?;
    let gpu = presets::load_gpu(&sel.gpu, &sel.set)?;
    let ctx = Context::new(&model.model, &gpu.gpu, prefill_chunk);
    Ok(Loaded { model, gpu, ctx })
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
