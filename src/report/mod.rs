//! Output: rows to table, JSON, CSV or Markdown on any writer; `--explain` text.
//! Data goes to the writer given (stdout); nothing here prints notes or progress.

pub mod claims;
pub mod explain;
pub mod row;
pub mod train_row;
pub mod validation;

use crate::units;
use anyhow::Result;
use comfy_table::{CellAlignment, ContentArrangement, Table, presets};
use row::{FIELDS, Row};
use serde::Serialize;
use std::io::Write;

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table for people.
    Table,
    /// `{"schema_version", "inputs", "results"}`.
    Json,
    /// A header line, then one line a row, SI units.
    Csv,
    /// A Markdown table for people.
    Markdown,
}

/// The JSON schema version of every JSON document this tool prints.
pub const SCHEMA_VERSION: u32 = 1;

/// Write inference rows in `format`. `inputs` and `summary` go into the JSON document only.
pub fn render<I: Serialize, S: Serialize>(
    format: Format,
    rows: &[Row],
    inputs: &I,
    summary: &S,
    out: &mut dyn Write,
) -> Result<()> {
    render_with(format, rows, &FIELDS, human_table, inputs, summary, out)
}

/// Write any rows in `format`: JSON and CSV from the rows' serialisation in `fields` order, the
/// table and Markdown from `table(rows, markdown)`.
pub fn render_with<R: Serialize, I: Serialize, S: Serialize>(
    format: Format,
    rows: &[R],
    fields: &[&str],
    table: impl Fn(&[R], bool) -> String,
    inputs: &I,
    summary: &S,
    out: &mut dyn Write,
) -> Result<()> {
    match format {
        Format::Json => {
            #[derive(Serialize)]
            struct Doc<'a, R, I, S> {
                schema_version: u32,
                inputs: &'a I,
                summary: &'a S,
                results: &'a [R],
            }
            let doc = Doc {
                schema_version: SCHEMA_VERSION,
                inputs,
                summary,
                results: rows,
            };
            serde_json::to_writer_pretty(&mut *out, &doc)?;
            writeln!(out)?;
        }
        Format::Csv => write_csv(rows, fields, out)?,
        // No rows, no table: the reason goes to stderr.
        Format::Table | Format::Markdown if rows.is_empty() => {}
        Format::Table => writeln!(out, "{}", table(rows, false))?,
        Format::Markdown => writeln!(out, "{}", table(rows, true))?,
    }
    Ok(())
}

fn write_csv<R: Serialize>(rows: &[R], fields: &[&str], out: &mut dyn Write) -> Result<()> {
    let records = rows.iter().map(|r| {
        let v = serde_json::to_value(r)?;
        let obj = v.as_object().expect("a row serialises to an object");
        Ok(fields
            .iter()
            .map(|f| match &obj[*f] {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect())
    });
    write_csv_records(fields, records, out)
}

/// The one CSV writer of the tool: a header line, then one record a row, each field quoted when
/// it holds a comma, a quote or a line break (RFC 4180, by the csv crate).
pub fn write_csv_records(
    header: &[&str],
    records: impl IntoIterator<Item = Result<Vec<String>>>,
    out: &mut dyn Write,
) -> Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(header)?;
    for r in records {
        w.write_record(r?)?;
    }
    w.flush()?;
    Ok(())
}

/// A Markdown table cell: `|` escaped so that it does not end the cell, `\` so that it does not
/// escape what follows, and line breaks as `<br>` so that the row stays on one line.
pub fn markdown_cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace("\r\n", "<br>")
        .replace(['\n', '\r'], "<br>")
}

/// Add a row of cells, escaped for Markdown when `markdown`.
pub fn add_row(t: &mut Table, cells: Vec<String>, markdown: bool) {
    if markdown {
        t.add_row(cells.iter().map(|c| markdown_cell(c)).collect::<Vec<_>>());
    } else {
        t.add_row(cells);
    }
}

/// A comfy-table in the house style (borders only, or Markdown), headers given.
pub fn new_table(header: &[&str], markdown: bool) -> Table {
    let mut t = Table::new();
    if markdown {
        t.load_preset(presets::ASCII_MARKDOWN);
        // A header's line break is a space here; the rest as any cell.
        t.set_header(header.iter().map(|h| markdown_cell(&h.replace('\n', " "))));
    } else {
        t.load_preset(presets::UTF8_BORDERS_ONLY);
        t.set_header(header.to_vec());
    }
    t.set_content_arrangement(ContentArrangement::Disabled);
    t
}

/// Right-align every column but the `left` ones.
pub fn align(t: &mut Table, columns: usize, left: &[usize]) {
    for i in 0..columns {
        if let Some(col) = t.column_mut(i) {
            col.set_cell_alignment(if left.contains(&i) {
                CellAlignment::Left
            } else {
                CellAlignment::Right
            });
        }
    }
}

/// A number with about three significant digits, for people.
pub fn human(x: f64) -> String {
    let a = x.abs();
    if !x.is_finite() {
        "-".to_string()
    } else if a >= 1e7 {
        format!("{x:.3e}")
    } else if a >= 100.0 || a == 0.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else {
        let digits = (2.0 - a.log10().floor()).clamp(3.0, 8.0) as usize;
        format!("{x:.digits$}")
    }
}

/// An 8-bit weight dtype run as weight-only quantisation with 16-bit math (no 8-bit rate on the
/// GPU): the table says so next to the dtype.
/// 8-bit or FP4 weights whose matmuls run in 16 bits on this GPU (no native rate): the table
/// marks them `w-only`. (int4 always runs so and is not marked.)
fn weight_only(r: &Row) -> bool {
    matches!(r.dtype, "fp8" | "int8" | "nvfp4" | "mxfp4") && r.matmul_dtype != r.dtype
}

fn human_table(rows: &[Row], markdown: bool) -> String {
    let any_unfit = rows.iter().any(|r| !r.fits);
    let mut header = vec![
        "layout",
        "GPUs",
        "batch",
        "dtype\nw/kv",
        "mem/GPU\n[GiB]",
        "TTFT\n[s]",
        "TPOT\n[ms]",
        "tok/s\n/user",
        "tok/s\n/GPU",
        "MFU\n[%]",
        "MBU\n[%]",
        "bound",
        "$/1M\nout",
        "$/1M\nin",
    ];
    if any_unfit {
        header.push("fits");
    }
    let mut t = new_table(&header, markdown);
    for r in rows {
        let mut cells = vec![
            if r.prefill_layout == r.layout {
                r.layout.clone()
            } else {
                format!("{} (prefill {})", r.layout, r.prefill_layout)
            },
            r.gpus.to_string(),
            r.batch.to_string(),
            {
                let w = if weight_only(r) {
                    format!("{} w-only", r.dtype)
                } else {
                    r.dtype.to_string()
                };
                if r.dtype == r.kv_dtype {
                    w
                } else {
                    format!("{w}/{}", r.kv_dtype)
                }
            },
            human(units::bytes_to_gib(r.mem_bytes_per_gpu)),
            human(r.ttft_s),
            human(units::s_to_ms(r.tpot_s)),
            human(r.output_tokens_per_s_per_user),
            human(r.output_tokens_per_s_per_gpu),
            human(100.0 * r.mfu),
            human(100.0 * r.mbu),
            if r.decode_bound == "communication" {
                "comm".into()
            } else {
                r.decode_bound.to_string()
            },
            human(r.usd_per_1m_output_tokens),
            human(r.usd_per_1m_input_tokens),
        ];
        if any_unfit {
            cells.push(if r.fits { "yes".into() } else { "NO".into() });
        }
        add_row(&mut t, cells, markdown);
    }
    for i in 0..header.len() {
        if let Some(col) = t.column_mut(i) {
            col.set_cell_alignment(if i == 0 || i == 3 || i == 11 {
                CellAlignment::Left
            } else {
                CellAlignment::Right
            });
            // Two spaces between columns rather than three keeps the widest layouts in 120.
            if i + 1 < header.len() {
                col.set_padding((1, 0));
            }
        }
    }
    t.to_string()
}

/// With `--rate`: each shown row's simulated latencies, one line a row.
pub fn simulated_rows(w: &crate::sim::Workload, rows: &[Row], markdown: bool) -> String {
    let header = [
        "layout",
        "batch",
        "dtype",
        "TTFT p50\n[s]",
        "TTFT p99\n[s]",
        "TPOT p50\n[ms]",
        "TPOT p99\n[ms]",
        "E2E p99\n[s]",
        "tok/s",
        "queue\n[s]",
        "load",
    ];
    let mut t = new_table(&header, markdown);
    for r in rows {
        let Some(s) = r.simulation else { continue };
        add_row(
            &mut t,
            vec![
                r.layout.clone(),
                r.batch.to_string(),
                r.dtype.to_string(),
                human(s.ttft_s.p50),
                human(s.ttft_s.p99),
                human(units::s_to_ms(s.tpot_s.p50)),
                human(units::s_to_ms(s.tpot_s.p99)),
                human(s.e2e_s.p99),
                human(s.output_tokens_per_s),
                human(s.mean_queue_s),
                if s.overloaded {
                    "OVERLOADED".into()
                } else if s.budget_exhausted {
                    "budget out".into()
                } else {
                    "ok".into()
                },
            ],
            markdown,
        );
    }
    align(&mut t, header.len(), &[0, 2, 10]);
    format!(
        "\nSimulated {} requests at {} req/s (Poisson, seed {}) on each row:\n{t}\n",
        w.requests,
        human(w.rate_per_s),
        w.seed
    )
}
