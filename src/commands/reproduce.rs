//! `reproduce`.

use crate::exit_code::OK;
use crate::report::{self, Format};
use anyhow::Result;
use std::io::{BufWriter, Write};

/// `gpt4calc reproduce`.
pub fn reproduce(a: crate::cli::ReproduceArgs) -> Result<u8> {
    // `--set` keys are checked by the claims: `model.`/`gpu.` ones and the article's own inputs
    // (`article.`, `source.`).
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
            let opt = |x: Option<f64>| x.map_or(String::new(), |v| v.to_string());
            report::write_csv_records(
                &[
                    "id",
                    "seed_value",
                    "computed_value",
                    "unit",
                    "ratio",
                    "verdict",
                    "computed_with_article_input",
                ],
                claims.iter().map(|c| {
                    Ok(vec![
                        c.id.to_string(),
                        opt(c.seed_value),
                        opt(c.computed_value),
                        c.unit.to_string(),
                        opt(c.ratio),
                        c.verdict.to_string(),
                        opt(c.computed_with_article_input),
                    ])
                }),
                &mut out,
            )?;
        }
        Format::Markdown => write!(out, "{}", crate::report::claims::markdown(&claims))?,
        Format::Table => write!(
            out,
            "{}",
            crate::report::claims::table(&claims, report::terminal_width())
        )?,
    }
    out.flush()?;
    Ok(OK)
}
