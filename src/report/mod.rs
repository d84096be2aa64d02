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
    /// `{"schema_version", "inputs", "summary", "results"}` (validate: `{"schema_version",
    /// "summary", "cases"}`).
    Json,
    /// A header line, then one line a row, SI units.
    Csv,
    /// A Markdown table for people.
    Markdown,
}

/// The JSON schema version of every JSON document this tool prints.
pub const SCHEMA_VERSION: u32 = 1;

/// The row fields of an inference CSV: with `--rate` (`simulated`) the simulation's columns too,
/// on every row (empty where a row is not simulated).
pub fn row_fields(simulated: bool) -> &'static [&'static str] {
    if simulated {
        &row::FIELDS_WITH_SIMULATION
    } else {
        &FIELDS
    }
}

/// Write inference rows in `format`. `inputs` and `summary` go into the JSON document only;
/// `varying` names the axes the table shows as columns; `simulated` says `--rate` is in force.
/// Returns the columns the table left out to fit the terminal (for a note on stderr).
pub fn render<I: Serialize, S: Serialize>(
    format: Format,
    rows: &[Row],
    varying: Varying,
    simulated: bool,
    inputs: &I,
    summary: &S,
    out: &mut dyn Write,
) -> Result<Vec<String>> {
    render_with(
        format,
        rows,
        row_fields(simulated),
        human_table,
        varying,
        inputs,
        summary,
        out,
    )
}

/// Axes that take more than one value in a run: each gets a column in the table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Varying {
    /// Several models.
    pub model: bool,
    /// Several GPUs.
    pub gpu: bool,
    /// Several prompt lengths.
    pub input_len: bool,
    /// Several output lengths.
    pub output_len: bool,
}

/// How a table for people is laid out.
#[derive(Clone, Copy, Debug, Default)]
pub struct View {
    /// A Markdown table instead of a terminal one.
    pub markdown: bool,
    /// Fit in this many columns (a terminal's width); `None` keeps every column.
    pub width: Option<usize>,
    /// Axes shown as columns.
    pub varying: Varying,
}

impl View {
    /// The view for `format`: on a terminal, its width.
    pub fn new(format: Format, varying: Varying) -> Self {
        View {
            markdown: format == Format::Markdown,
            width: if format == Format::Table {
                terminal_width()
            } else {
                None
            },
            varying,
        }
    }
}

/// A rendered table and the columns left out to fit the width.
#[derive(Clone, Debug, Default)]
pub struct Fitted {
    /// The table.
    pub text: String,
    /// Headers of the hidden columns, in the order they were hidden.
    pub hidden: Vec<String>,
}

/// The width of the terminal stdout goes to, or `None` when it goes to a pipe or a file (which
/// then gets every column).
pub fn terminal_width() -> Option<usize> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    Table::new().width().map(usize::from).filter(|&w| w > 0)
}

/// The widest line of a rendered table, in characters.
pub fn widest_line(text: &str) -> usize {
    text.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

/// Render `t`; with a `width`, hide the columns of `drop_order` (least needed first) one by one
/// until every line fits, or none is left to hide.
pub fn fit(t: &mut Table, width: Option<usize>, drop_order: &[usize]) -> Fitted {
    let names: Vec<String> = t
        .header()
        .map(|h| {
            h.cell_iter()
                .map(|c| c.content().replace('\n', " "))
                .collect()
        })
        .unwrap_or_default();
    let mut text = t.to_string();
    let mut hidden = Vec::new();
    if let Some(w) = width {
        for &i in drop_order {
            if widest_line(&text) <= w {
                break;
            }
            if let Some(col) = t.column_mut(i) {
                col.set_constraint(comfy_table::ColumnConstraint::Hidden);
                hidden.push(names.get(i).cloned().unwrap_or_default());
                text = t.to_string();
            }
        }
        // The last column shown keeps its right padding, whichever it is.
        let last = (0..names.len()).rev().find(|&i| {
            t.column(i)
                .is_some_and(|c| c.constraint() != Some(&comfy_table::ColumnConstraint::Hidden))
        });
        if !hidden.is_empty()
            && let Some(col) = last.and_then(|i| t.column_mut(i))
        {
            col.set_padding((1, 1));
            text = t.to_string();
        }
    }
    Fitted { text, hidden }
}

/// Wrap the cells of `t` to fit `width` (comfy-table's dynamic arrangement), for tables whose
/// every column is needed (validate, reproduce).
pub fn wrap_to(t: &mut Table, width: Option<usize>) {
    if let Some(w) = width {
        t.set_width(u16::try_from(w).unwrap_or(u16::MAX));
        t.set_content_arrangement(ContentArrangement::Dynamic);
    }
}

/// Write any rows in `format`: JSON and CSV from the rows' serialisation in `fields` order, the
/// table and Markdown from `table(rows, view)`. Returns the columns the table left out to fit.
#[allow(clippy::too_many_arguments)]
pub fn render_with<R: Serialize, I: Serialize, S: Serialize>(
    format: Format,
    rows: &[R],
    fields: &[&str],
    table: impl Fn(&[R], &View) -> Fitted,
    varying: Varying,
    inputs: &I,
    summary: &S,
    out: &mut dyn Write,
) -> Result<Vec<String>> {
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
        Format::Table | Format::Markdown => {
            let fitted = table(rows, &View::new(format, varying));
            writeln!(out, "{}", fitted.text)?;
            return Ok(fitted.hidden);
        }
    }
    Ok(Vec::new())
}

/// The note for columns a table left out to fit the terminal, if any.
pub fn hidden_note(hidden: &[String]) -> Option<String> {
    (!hidden.is_empty()).then(|| {
        format!(
            "note: to fit the terminal the table leaves out {}; a wider terminal, a pipe, or --format csv|json|markdown shows every column",
            hidden.join(", ")
        )
    })
}

fn write_csv<R: Serialize>(rows: &[R], fields: &[&str], out: &mut dyn Write) -> Result<()> {
    let records = rows.iter().map(|r| csv_record(r, fields));
    write_csv_records(fields, records, out)
}

/// One row's CSV fields, in `fields` order.
fn csv_record<R: Serialize>(r: &R, fields: &[&str]) -> Result<Vec<String>> {
    let v = serde_json::to_value(r)?;
    let obj = v.as_object().expect("a row serialises to an object");
    Ok(fields
        .iter()
        .map(|f| {
            // A dotted name is a path into a nested field (`simulation.ttft_s.p50`); one the
            // row does not carry, or a null, is an empty field.
            let value = if f.contains('.') {
                v.pointer(&format!("/{}", f.replace('.', "/")))
            } else {
                obj.get(*f)
            };
            match value {
                Some(serde_json::Value::String(s)) => s.clone(),
                None | Some(serde_json::Value::Null) if f.contains('.') => String::new(),
                Some(other) => other.to_string(),
                None => "null".into(),
            }
        })
        .collect())
}

/// `value` as pretty JSON nested at `indent` (every line after the first indented by it): the
/// bytes `serde_json::to_writer_pretty` writes for it inside a document.
fn pretty_at<T: Serialize + ?Sized>(value: &T, indent: &str) -> Result<String> {
    let text = serde_json::to_string_pretty(value)?;
    Ok(text.replace('\n', &format!("\n{indent}")))
}

/// JSON or CSV rows written one at a time, so that an export of any size holds one row: the same
/// bytes as `render` for the same rows.
pub enum RowStream<'w> {
    /// `{"schema_version", "inputs", "summary", "results"}`.
    Json {
        /// Where it goes.
        out: &'w mut dyn Write,
        /// Rows written so far.
        rows: u64,
    },
    /// A header line, then a line a row.
    Csv(Box<csv::Writer<&'w mut dyn Write>>, &'static [&'static str]),
}

impl<'w> RowStream<'w> {
    /// Start the document: for JSON the inputs and, when known now, the summary (else `end`
    /// writes it after the results); for CSV the header of `fields`.
    pub fn begin<I: Serialize, S: Serialize>(
        format: Format,
        fields: &'static [&'static str],
        inputs: &I,
        summary: Option<&S>,
        out: &'w mut dyn Write,
    ) -> Result<Self> {
        match format {
            Format::Json => {
                write!(
                    out,
                    "{{\n  \"schema_version\": {SCHEMA_VERSION},\n  \"inputs\": {}",
                    pretty_at(inputs, "  ")?
                )?;
                if let Some(s) = summary {
                    write!(out, ",\n  \"summary\": {}", pretty_at(s, "  ")?)?;
                }
                write!(out, ",\n  \"results\": [")?;
                Ok(RowStream::Json { out, rows: 0 })
            }
            Format::Csv => {
                let mut w = csv::Writer::from_writer(out);
                w.write_record(fields)?;
                Ok(RowStream::Csv(Box::new(w), fields))
            }
            Format::Table | Format::Markdown => {
                anyhow::bail!("internal: tables are not streamed")
            }
        }
    }

    /// Write one row.
    pub fn row<R: Serialize>(&mut self, r: &R) -> Result<()> {
        match self {
            RowStream::Json { out, rows } => {
                let sep = if *rows == 0 { "" } else { "," };
                write!(out, "{sep}\n    {}", pretty_at(r, "    ")?)?;
                *rows += 1;
            }
            RowStream::Csv(w, fields) => w.write_record(csv_record(r, fields)?)?,
        }
        Ok(())
    }

    /// End the document, with the summary after the results when `begin` had none.
    pub fn end<S: Serialize>(self, summary: Option<&S>) -> Result<()> {
        match self {
            RowStream::Json { out, rows } => {
                if rows == 0 {
                    write!(out, "]")?;
                } else {
                    write!(out, "\n  ]")?;
                }
                if let Some(s) = summary {
                    write!(out, ",\n  \"summary\": {}", pretty_at(s, "  ")?)?;
                }
                writeln!(out, "\n}}")?;
            }
            RowStream::Csv(mut w, _) => w.flush()?,
        }
        Ok(())
    }
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
    } else if a >= 1e7 || (a > 0.0 && a < 1e-5) {
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

/// 8-bit or FP4 weights whose matmuls run in 16 bits on this GPU (no native rate): the table
/// marks them `w-only`. (int4 always runs so and is not marked.)
fn weight_only(r: &Row) -> bool {
    matches!(r.dtype, "fp8" | "int8" | "nvfp4" | "mxfp4")
        && matches!(r.matmul_dtype, "bf16" | "fp16")
}

/// A column of the main table: its header, whether it is left-aligned, and its rank among the
/// columns hidden on a narrow terminal (lower goes first; `None` never goes).
struct Col {
    header: &'static str,
    left: bool,
    drop: Option<u8>,
    cell: fn(&Row) -> String,
}

fn dtype_cell(r: &Row) -> String {
    let mut w = if weight_only(r) {
        format!("{} w-only", r.dtype)
    } else if !matches!(r.matmul_dtype, "" | "bf16" | "fp16") && r.matmul_dtype != r.dtype {
        // Activations wider than the weights (`--act-dtype`): the math's precision after a `×`.
        format!("{}×{}", r.dtype, r.matmul_dtype)
    } else {
        r.dtype.to_string()
    };
    // Experts-only quantisation: the dense layers' precision after a `+`.
    if r.dense_dtype != r.dtype {
        w = format!("{w}+{}", r.dense_dtype);
    }
    if r.dtype == r.kv_dtype {
        w
    } else {
        format!("{w}/{}", r.kv_dtype)
    }
}

fn main_columns(v: Varying, any_unfit: bool) -> Vec<Col> {
    let col = |header, left, drop, cell| Col {
        header,
        left,
        drop,
        cell,
    };
    let mut cols = Vec::new();
    if v.model {
        cols.push(col("model", true, None, |r: &Row| r.model.clone()));
    }
    if v.gpu {
        cols.push(col("gpu", true, None, |r: &Row| r.gpu.clone()));
    }
    cols.push(col("layout", true, None, |r: &Row| {
        if r.prefill_layout == r.layout {
            r.layout.clone()
        } else {
            format!("{} (prefill {})", r.layout, r.prefill_layout)
        }
    }));
    cols.push(col("GPUs", false, Some(8), |r: &Row| r.gpus.to_string()));
    cols.push(col("batch", false, None, |r: &Row| r.batch.to_string()));
    if v.input_len {
        cols.push(col("in\n[tok]", false, None, |r: &Row| {
            r.input_len.to_string()
        }));
    }
    if v.output_len {
        cols.push(col("out\n[tok]", false, None, |r: &Row| {
            r.output_len.to_string()
        }));
    }
    cols.extend([
        col("dtype\nw/kv", true, None, dtype_cell),
        col("mem/GPU\n[GiB]", false, Some(6), |r: &Row| {
            human(units::bytes_to_gib(r.mem_bytes_per_gpu))
        }),
        col("TTFT\n[s]", false, Some(7), |r: &Row| human(r.ttft_s)),
        // tok/s per user is 1/TPOT: the table keeps the former when it must choose.
        col("TPOT\n[ms]", false, Some(3), |r: &Row| {
            human(units::s_to_ms(r.tpot_s))
        }),
        col("tok/s\n/user", false, None, |r: &Row| {
            human(r.output_tokens_per_s_per_user)
        }),
        col("tok/s\n/GPU", false, None, |r: &Row| {
            human(r.output_tokens_per_s_per_gpu)
        }),
        col("MFU\n[%]", false, Some(4), |r: &Row| human(100.0 * r.mfu)),
        col("MBU\n[%]", false, Some(2), |r: &Row| human(100.0 * r.mbu)),
        col("bound", true, Some(5), |r: &Row| {
            if r.decode_bound == "communication" {
                "comm".into()
            } else {
                r.decode_bound.to_string()
            }
        }),
        col("$/1M\nout", false, None, |r: &Row| {
            human(r.usd_per_1m_output_tokens)
        }),
        col("$/1M\nin", false, Some(1), |r: &Row| {
            human(r.usd_per_1m_input_tokens)
        }),
    ]);
    if any_unfit {
        cols.push(col("fits", false, None, |r: &Row| {
            if r.fits { "yes".into() } else { "NO".into() }
        }));
    }
    cols
}

/// Column indices in the order they are hidden: rank 1 first.
fn drop_order(ranks: impl Iterator<Item = Option<u8>>) -> Vec<usize> {
    let mut order: Vec<(u8, usize)> = ranks
        .enumerate()
        .filter_map(|(i, r)| r.map(|r| (r, i)))
        .collect();
    order.sort_unstable();
    order.into_iter().map(|(_, i)| i).collect()
}

fn human_table(rows: &[Row], view: &View) -> Fitted {
    let cols = main_columns(view.varying, rows.iter().any(|r| !r.fits));
    let header: Vec<&str> = cols.iter().map(|c| c.header).collect();
    let mut t = new_table(&header, view.markdown);
    for r in rows {
        add_row(
            &mut t,
            cols.iter().map(|c| (c.cell)(r)).collect(),
            view.markdown,
        );
    }
    for (i, c) in cols.iter().enumerate() {
        if let Some(col) = t.column_mut(i) {
            col.set_cell_alignment(if c.left {
                CellAlignment::Left
            } else {
                CellAlignment::Right
            });
            // Two spaces between columns rather than three keeps the widest layouts in 120.
            if i + 1 < cols.len() {
                col.set_padding((1, 0));
            }
        }
    }
    fit(&mut t, view.width, &drop_order(cols.iter().map(|c| c.drop)))
}

/// With `--rate`: each shown row's simulated latencies, one line a row.
pub fn simulated_rows(w: &crate::sim::Workload, rows: &[Row], view: &View) -> Fitted {
    let markdown = view.markdown;
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
        let Some(Some(s)) = r.simulation else {
            continue;
        };
        add_row(
            &mut t,
            vec![
                r.layout.clone(),
                r.batch.to_string(),
                r.dtype.to_string(),
                human(s.ttft_s.p50),
                human(s.ttft_s.p99),
                s.tpot_s
                    .map_or("n/a".into(), |t| human(units::s_to_ms(t.p50))),
                s.tpot_s
                    .map_or("n/a".into(), |t| human(units::s_to_ms(t.p99))),
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
    // Hidden first on a narrow terminal: queue, E2E p99, the p50s.
    let fitted = fit(&mut t, view.width, &[9, 7, 3, 5]);
    Fitted {
        text: format!(
            "\nSimulated {} requests at {} req/s (Poisson, seed {}) on each row:\n{}\n",
            w.requests,
            human(w.rate_per_s),
            w.seed,
            fitted.text
        ),
        hidden: fitted.hidden,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct R {
        name: String,
        x: f64,
        n: u64,
        list: Vec<u8>,
        nested: Option<Box<R>>,
    }

    fn rows(n: usize) -> Vec<R> {
        (0..n)
            .map(|i| R {
                name: format!("row \"{i}\",\nsecond line"),
                x: i as f64 / 3.0,
                n: i as u64,
                list: vec![1, 2],
                nested: (i == 1).then(|| {
                    Box::new(R {
                        name: "inner".into(),
                        x: 0.1,
                        n: 0,
                        list: vec![],
                        nested: None,
                    })
                }),
            })
            .collect()
    }

    const FIELDS: &[&str] = &["name", "x", "n"];

    #[test]
    fn a_streamed_document_is_the_rendered_one_byte_for_byte() {
        let inputs = serde_json::json!({"a": [1, 2], "b": {"c": "d"}, "e": []});
        let summary = serde_json::json!({"shown": 3});
        for format in [Format::Json, Format::Csv] {
            for n in [0, 1, 3] {
                let rows = rows(n);
                let mut want = Vec::new();
                render_with(
                    format,
                    &rows,
                    FIELDS,
                    |_, _| Fitted::default(),
                    Varying::default(),
                    &inputs,
                    &summary,
                    &mut want,
                )
                .unwrap();
                let mut got = Vec::new();
                let mut w =
                    RowStream::begin(format, FIELDS, &inputs, Some(&summary), &mut got).unwrap();
                for r in &rows {
                    w.row(r).unwrap();
                }
                w.end::<serde_json::Value>(None).unwrap();
                assert_eq!(
                    String::from_utf8(got).unwrap(),
                    String::from_utf8(want).unwrap(),
                    "{format:?}, {n} rows"
                );
            }
        }
    }

    #[test]
    fn a_summary_written_last_follows_the_results() {
        let mut got = Vec::new();
        let mut w = RowStream::begin::<_, serde_json::Value>(
            Format::Json,
            FIELDS,
            &serde_json::json!({"a": 1}),
            None,
            &mut got,
        )
        .unwrap();
        for r in &rows(2) {
            w.row(r).unwrap();
        }
        w.end(Some(&serde_json::json!({"shown": 2}))).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&got).unwrap();
        assert_eq!(v["summary"]["shown"], 2);
        assert_eq!(v["results"].as_array().unwrap().len(), 2);
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 4);
    }
}
