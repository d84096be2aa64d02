//! `completions` and `man`: the command line described for shells and for man(1), generated from
//! the same clap definition that parses it.

use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::exit_code::OK;
use anyhow::{Result, bail};
use clap::CommandFactory;
use std::io::{BufWriter, Write};

/// `gpt4calc completions SHELL`.
pub fn completions(a: CompletionsArgs) -> Result<u8> {
    let mut cmd = Cli::command();
    // clap_complete panics when its writer fails: generate in memory, then write (a closed
    // stdout is then an ordinary error, which `main` takes as success).
    let mut script = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "gpt4calc", &mut script);
    let mut out = std::io::stdout().lock();
    out.write_all(&script)?;
    out.flush()?;
    Ok(OK)
}

/// `gpt4calc man [COMMAND]`: the tool's page, or `gpt4calc-COMMAND(1)`.
pub fn man(a: ManArgs) -> Result<u8> {
    let mut cmd = Cli::command();
    cmd.build();
    let page = match a.command.as_deref() {
        None => cmd,
        Some(name) => {
            let names: Vec<String> = cmd
                .get_subcommands()
                .map(|c| c.get_name().to_string())
                .filter(|n| n != "help")
                .collect();
            let Some(sub) = cmd.find_subcommand(name).filter(|_| name != "help") else {
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                let near = crate::presets::nearest(name, &refs);
                let hint = if near.is_empty() {
                    String::new()
                } else {
                    format!("did you mean {}? ", near.join(" or "))
                };
                bail!(
                    "man: unknown command `{}`: {hint}commands: {}",
                    crate::limits::clip(name),
                    names.join(", ")
                );
            };
            let sub = sub.clone();
            let full = format!("gpt4calc-{}", sub.get_name());
            sub.name(full.clone())
                .bin_name(full.replace('-', " "))
                .version(env!("CARGO_PKG_VERSION"))
        }
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    clap_mangen::Man::new(page).render(&mut out)?;
    out.flush()?;
    Ok(OK)
}
