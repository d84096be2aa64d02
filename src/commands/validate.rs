//! `validate`.

use crate::exit_code::OK;
use crate::presets;
use crate::report::{self, Format};
use anyhow::Result;
use std::io::{BufWriter, Write};

/// `gpt4calc validate`.
pub fn validate(a: crate::cli::ValidateArgs) -> Result<u8> {
    presets::check_overrides_alone(&a.set)?;
    // An unknown or broken profile is the user's error, not every case's.
    crate::runtime::load(&a.runtime)?;
    let cases = crate::validate::load_suite(a.cases.as_deref(), a.suite)?;
    presets::check_scopes(&a.set, &crate::validate::loaded_presets(&cases))?;
    let results = crate::validate::run_cases_with(&cases, &a.set, &a.runtime);
    let summary = crate::validate::summarize(&results);
    let mut out = BufWriter::new(std::io::stdout().lock());
    match a.format {
        Format::Json => {
            let doc = serde_json::json!({"schema_version": report::SCHEMA_VERSION, "cases": results, "summary": summary});
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
        }
        Format::Csv => {
            let opt = |x: Option<f64>| x.map_or(String::new(), |v| v.to_string());
            report::write_csv_records(
                &[
                    "id",
                    "kind",
                    "family",
                    "gpu",
                    "metric",
                    "actual",
                    "predicted",
                    "error",
                    "fits",
                    "reason",
                    "suite",
                    "split",
                    "configuration",
                ],
                results.iter().map(|r| {
                    Ok(vec![
                        r.id.clone(),
                        r.kind.clone(),
                        r.family.to_string(),
                        r.gpu.clone(),
                        r.metric.clone(),
                        r.actual.to_string(),
                        opt(r.predicted),
                        opt(r.error),
                        r.fits.map_or(String::new(), |f| f.to_string()),
                        r.reason.clone().unwrap_or_default(),
                        r.suite.clone(),
                        r.split.clone().unwrap_or_default(),
                        r.configuration.clone().unwrap_or_default(),
                    ])
                }),
                &mut out,
            )?;
        }
        f => write!(
            out,
            "{}",
            crate::report::validation::render(
                &results,
                &summary,
                f == Format::Markdown,
                if f == Format::Table {
                    report::terminal_width()
                } else {
                    None
                }
            )
        )?,
    }
    out.flush()?;
    Ok(OK)
}
