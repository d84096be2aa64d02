//! `reproduce`.

use crate::exit_code::OK;
use crate::report::{self, Format};
use anyhow::Result;
use std::io::{BufWriter, Write};

/// `gpt4calc reproduce`.
pub fn reproduce(a: crate::cli::ReproduceArgs) -> Result<u8> {
    let claims = crate::reproduce::claims(&a.set)?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    match a.format {
        Format::Json => {
            let doc =
                serde_json::json!({"schema_version": report::SCHEMA_VERSION, "claims": claims});
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
        }
        Format::Csv => {
            writeln!(
                out,
                "id,seed_value,computed_value,unit,ratio,verdict,computed_with_article_input"
            )?;
            for c in &claims {
                let opt = |x: Option<f64>| x.map_or(String::new(), |v| v.to_string());
                writeln!(
                    out,
                    "{},{},{},\"{}\",{},{},{}",
                    c.id,
                    opt(c.seed_value),
                    c.computed_value,
                    c.unit,
                    opt(c.ratio),
                    c.verdict,
                    opt(c.computed_with_article_input)
                )?;
            }
        }
        Format::Markdown => write!(out, "{}", crate::report::claims::markdown(&claims))?,
        Format::Table => write!(out, "{}", crate::report::claims::table(&claims))?,
    }
    out.flush()?;
    Ok(OK)
}
