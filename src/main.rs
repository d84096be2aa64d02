//! The `gpt4calc` binary: parse, run, print an error once, exit with the contract's code.

use clap::Parser;
use gpt4calc::{cli::Cli, exit_code, is_broken_pipe, run};
use std::process::ExitCode;

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(exit_code::ERROR)
        }
    }
}
