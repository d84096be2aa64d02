//! `reproduce`.

use crate::exit_code::OK;
use crate::presets;
use crate::report::{self, Format};
use anyhow::Result;
use std::io::{BufWriter, Write};

/// `gpt4calc reproduce`.
pub fn reproduce(a: crate::cli::ReproduceArgs) -> Result<u8> {
    presets::check_override_prefixes(&a.set)?;
    // The profile's fixed costs go first so that an explicit --set of the same field wins. The
    // claims fix their own software (the article's batching and training choices), so only the
    // fixed costs of a profile apply here.
    let runtime = crate::runtime::load(&a.runtime)?;
    let mut set = runtime.runtime.fixed_cost_overrides()?;
    set.extend_from_slice(&a.set);
    if runtime.name != crate::runtime::DEFAULT_RUNTIME {
        eprintln!(
            "note: runtime profile: {} (reproduce applies its fixed costs; each claim fixes its own batching and training software)",
            runtime.summary()
        );
    }
    let claims = crate::reproduce::claims(&set)?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    match a.format {
        Format::Json => {
            let doc =
                serde_json::json!({"schema_version": report::SCHEMA_VERSION, "claims": claims});
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
        }
        Format::Csv => {
            writeln!(out, "id,seed_value,computed_value,unit,ratio,verdict")?;
            for c in &claims {
                let opt = |x: Option<f64>| x.map_or(String::new(), |v| v.to_string());
                writeln!(
                    out,
                    "{},{},{},\"{}\",{},{}",
                    c.id,
                    opt(c.seed_value),
                    c.computed_value,
                    c.unit,
                    opt(c.ratio),
                    c.verdict
                )?;
            }
        }
        Format::Markdown => write!(out, "{}", crate::report::claims::markdown(&claims))?,
        Format::Table => write!(out, "{}", crate::report::claims::table(&claims))?,
    }
    out.flush()?;
    Ok(OK)
}
