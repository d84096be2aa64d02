//! `presets list`, `presets show` and `presets import`.

use crate::cli::{PresetsCommand, ShowArgs, ShowFormat};
use crate::dtype::Dtype;
use crate::exit_code::OK;
use crate::model::ModelCounts;
use crate::presets::{self, Kind};
use crate::report;
use anyhow::{Result, bail};
use serde::Serialize;
use std::io::{BufWriter, Write};

/// `gpt4calc presets`.
pub fn presets(cmd: PresetsCommand) -> Result<u8> {
    let mut out = BufWriter::new(std::io::stdout().lock());
    match cmd {
        PresetsCommand::List => {
            let mut t = comfy_table::Table::new();
            t.load_preset(comfy_table::presets::NOTHING);
            t.set_header(["kind", "name", "description"]);
            for (kind, list) in [
                ("model", presets::MODELS),
                ("gpu", presets::GPUS),
                ("runtime", crate::runtime::RUNTIMES),
            ] {
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
        PresetsCommand::Import(args) => import(&args.file, &mut out)?,
    }
    out.flush()?;
    Ok(OK)
}

/// `presets import FILE`: a Hugging Face config.json as preset TOML, checked to load.
fn import(path: &str, out: &mut dyn Write) -> Result<()> {
    let text = presets::read_file(path, "config.json")?;
    if !crate::hf_config::is_json(&text) {
        bail!(
            "{}: not a JSON object; `presets import` reads a Hugging Face config.json (a TOML preset loads as it is, see `presets show`)",
            crate::limits::clip(path)
        );
    }
    let toml = crate::hf_config::import_toml(path, &text)?;
    presets::load_model_text(path, &toml, &[])?;
    write!(out, "{toml}")?;
    Ok(())
}

fn kind_of(name: &str) -> Result<Kind> {
    if presets::MODELS.iter().any(|(n, _)| *n == name) {
        return Ok(Kind::Model);
    }
    if presets::GPUS.iter().any(|(n, _)| *n == name) {
        return Ok(Kind::Gpu);
    }
    if presets::looks_like_path(name) {
        let text = presets::read_file(name, "preset")?;
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
        .chain(crate::runtime::RUNTIMES)
        .map(|(n, _)| *n)
        .collect();
    if name.trim().is_empty() {
        bail!(
            "a preset name is empty: built-in presets: {}",
            all.join(", ")
        );
    }
    let near = presets::nearest(name, &all);
    let hint = if near.is_empty() {
        String::new()
    } else {
        format!("did you mean {}? ", near.join(" or "))
    };
    bail!(
        "unknown preset `{}`: {hint}built-in presets: {}",
        crate::limits::clip(name),
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

/// Whether `name` is a runtime profile: a built-in one, or a file with a `[runtime…]` table.
fn is_runtime(name: &str) -> bool {
    crate::runtime::RUNTIMES.iter().any(|(n, _)| *n == name)
        || (!presets::MODELS.iter().any(|(n, _)| *n == name)
            && !presets::GPUS.iter().any(|(n, _)| *n == name)
            && std::path::Path::new(name).is_file()
            && presets::read_file(name, "preset")
                .is_ok_and(|t| t.lines().any(|l| l.trim_start().starts_with("[runtime"))))
}

/// `presets show` of a runtime profile: the file as written, or the parsed profile as JSON.
fn show_runtime(args: &ShowArgs, out: &mut dyn Write) -> Result<()> {
    if !args.set.is_empty() {
        bail!(
            "--set: runtime profiles take no --set; override a setting with its flag (e.g. --attention eager) or write a profile file"
        );
    }
    let p = crate::runtime::load(&args.name)?;
    match args.format {
        ShowFormat::Toml => write!(out, "{}", crate::runtime::read_source(&args.name)?.1)?,
        ShowFormat::Json => {
            let doc = serde_json::json!({"schema_version": report::SCHEMA_VERSION, "kind": "runtime", "preset": p});
            serde_json::to_writer_pretty(&mut *out, &doc)?;
            writeln!(out)?;
        }
    }
    Ok(())
}

fn show(args: ShowArgs, out: &mut dyn Write) -> Result<()> {
    if is_runtime(&args.name) {
        return show_runtime(&args, out);
    }
    presets::check_override_prefixes(&args.set)?;
    let kind = kind_of(&args.name)?;
    let shown = match kind {
        Kind::Model => presets::load_model(&args.name, &[])?.name,
        Kind::Gpu => presets::load_gpu(&args.name, &[])?.name,
    };
    presets::check_scopes(&args.set, &[(kind, vec![shown, args.name.clone()])])?;
    // A `gpu.*` key on a model preset (or `model.*` on a GPU's) changes nothing shown.
    let table = match kind {
        Kind::Model => "model.",
        Kind::Gpu => "gpu.",
    };
    if let Some(o) = args.set.iter().find(|o| !o.key.starts_with(table)) {
        bail!(
            "--set {o}: `{}` is not a field of {} preset `{}`; its keys start with `{table}`",
            o.key,
            match kind {
                Kind::Model => "the model",
                Kind::Gpu => "the GPU",
            },
            args.name
        );
    }
    match (kind, args.format) {
        (_, ShowFormat::Toml) if args.set.is_empty() => {
            // Print the file as written, once it has loaded as a valid preset.
            match kind {
                Kind::Model => drop(presets::load_model(&args.name, &[])?),
                Kind::Gpu => drop(presets::load_gpu(&args.name, &[])?),
            }
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
