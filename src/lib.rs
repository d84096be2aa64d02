//! gpt4calc: size GPU clusters for GPT-4-class (Mixture-of-Experts) LLM inference from first
//! principles. The binary is a thin shell over [`run`]; everything below `model`, `hardware`,
//! `perf` and `sweep` is a pure function of plain data.
//!
//! Module map: `model` (architecture, parameter/FLOP/KV counts), `hardware` (accelerator and
//! node), `presets` (built-in TOML, `--set`), `runtime` (runtime profiles, `--runtime`), `perf` (roofline, MoE routing, communication,
//! pipeline, memory, the estimate), `sweep` (axes, best-N), `batch_search` (the serving batch grid
//! and the exact searches at a threshold), `report` (table/JSON/CSV/Markdown,
//! `--explain`), `cli` (flags), `units` (the only unit conversions).

pub mod axis;
pub mod batch_search;
pub mod cli;
pub mod commands;
pub mod dtype;
pub mod exit_code;
pub mod fields;
pub mod hardware;
pub mod hf_config;
pub mod limits;
pub mod memo;
pub mod model;
pub mod perf;
pub mod plot;
pub mod presets;
pub mod progress;
pub mod report;
pub mod reproduce;
pub mod require;
pub mod rng;
pub mod runtime;
pub mod sim;
pub mod sweep;
pub mod testutil;
pub mod train;
pub mod units;
pub mod validate;

use cli::{Cli, Command};
use std::process::ExitCode;

/// Run a parsed command line; returns the exit code, or an error to print once in `main`.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let code = match cli.command {
        Command::Sweep(args) => commands::sweep(*args)?,
        Command::Estimate(args) => commands::estimate(*args)?,
        Command::Train(args) => commands::train(*args)?,
        Command::Validate(args) => commands::validate(args)?,
        Command::Reproduce(args) => commands::reproduce(args)?,
        Command::Presets(cmd) => commands::presets(cmd)?,
        Command::Completions(args) => commands::completions(args)?,
        Command::Man(args) => commands::man(args)?,
    };
    Ok(ExitCode::from(code))
}

/// True when the error is a closed pipe (e.g. `gpt4calc sweep | head`), which is not a failure.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == BrokenPipe)
            || e.downcast_ref::<serde_json::Error>()
                .is_some_and(|j| j.io_error_kind() == Some(BrokenPipe))
            || e.downcast_ref::<csv::Error>().is_some_and(
                |c| matches!(c.kind(), csv::ErrorKind::Io(io) if io.kind() == BrokenPipe),
            )
    })
}
