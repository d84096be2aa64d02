//! `validate`.

use crate::exit_code::OK;
use crate::presets;
use crate::report::{self, Format};
use anyhow::Result;
use std::io::{BufWriter, Write};

/// `gpt4calc validate`.
pub fn validate(a: crate::cli::ValidateArgs) -> Result<u8> {
    presets::check_overrides_alone(&a.set)?;
    let cases = crate::validate::load_suite(a.cases.as_deref(), a.suite)?;
    presets::check_scopes(&a.set, &crate::validate::loaded_presets(&cases))?;
    let results = crate::validate::run_cases(&cases, &a.set);
    let summary = crate::validate::summarize(&results);
    let mut out = BufWriter::new(std::io::stdout().lock());
    match a.format {
        Format::Json => {
            let doc = serde_json::json!({"schema_version": report::SCHEMA_VERSION, "cases": results, "summary": summary});
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
        }
        Format::Csv => {
            writeln!(
                out,
                "id,kind,family,gpu,metric,actual,predicted,error,fits,reason,suite,split"
            )?;
            for r in &results {
                let opt = |x: Option<f64>| x.map_or(String::new(), |v| v.to_string());
                let reason = r.reason.as_deref().unwrap_or("").replace('"', "'");
                writeln!(
                    out,
                    "{},{},{},{},{},{},{},{},{},\"{}\",{},{}",
                    r.id,
                    r.kind,
                    r.family,
                    r.gpu,
                    r.metric,
                    r.actual,
                    opt(r.predicted),
                    opt(r.error),
                    r.fits.map_or(String::new(), |f| f.to_string()),
                    reason,
                    r.suite,
                    r.split.as_deref().unwrap_or("")
                )?;
            }
        }
        f => write!(
            out,
            "{}",
            crate::report::validation::render(&results, &summary, f == Format::Markdown)
        )?,
    }
    out.flush()?;
    Ok(OK)
}
