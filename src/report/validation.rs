//! The `validate` report for people: one line a case, then the summary by metric family and GPU.

use super::{align, human, new_table};
use crate::validate::{CaseResult, Stats, Summary};

/// A signed error in percent; past a million percent (10,000× off) in scientific notation, so a
/// wild case keeps its column narrow.
fn pct(x: Option<f64>) -> String {
    x.map_or("-".into(), |v| {
        let p = 100.0 * v;
        if p.abs() >= 1e6 {
            format!("{p:+.1e}%")
        } else {
            format!("{p:+.0}%")
        }
    })
}

/// The worst case's factor off, the same way.
fn factor(x: Option<f64>) -> String {
    x.map_or("-".into(), |v| {
        if v >= 1e4 {
            format!("{v:.1e}×")
        } else {
            format!("{v:.2}×")
        }
    })
}

/// A median or mean |error| in percent, one decimal; scientific past a million percent.
fn abs_pct(x: Option<f64>) -> String {
    x.map_or("-".into(), |v| {
        let p = 100.0 * v;
        if p >= 1e6 {
            format!("{p:.1e}%")
        } else {
            format!("{p:.1}%")
        }
    })
}

fn share(x: Option<f64>) -> String {
    x.map_or("-".into(), |v| format!("{:.0}%", 100.0 * v))
}

fn stats_row(name: &str, s: &Stats) -> Vec<String> {
    vec![
        name.to_string(),
        s.cases.to_string(),
        s.evaluated.to_string(),
        abs_pct(s.median_abs_error),
        abs_pct(s.mean_abs_error),
        share(s.within_10pct),
        share(s.within_25pct),
        factor(s.worst_factor),
    ]
}

/// Render the case table and the summary.
pub fn render(
    results: &[CaseResult],
    summary: &Summary,
    markdown: bool,
    width: Option<usize>,
) -> String {
    let header = ["case", "metric", "actual", "predicted", "error", "fits"];
    let mut t = new_table(&header, markdown);
    let mut notes = Vec::new();
    for r in results {
        let fits = match r.fits {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "-",
        };
        super::add_row(
            &mut t,
            vec![
                r.id.clone(),
                r.metric.clone(),
                human(r.actual),
                r.predicted.map_or("n/a".into(), human),
                pct(r.error),
                fits.to_string(),
            ],
            markdown,
        );
        if let Some(reason) = &r.reason {
            notes.push(format!("  {}: not evaluated: {reason}", r.id));
        }
    }
    align(&mut t, header.len(), &[0, 1]);
    super::wrap_to(&mut t, width);
    let sh = [
        "group",
        "cases",
        "evaluated",
        "median |err|",
        "mean |err|",
        "≤10%",
        "≤25%",
        "worst",
    ];
    let mut s = new_table(&sh, markdown);
    super::add_row(&mut s, stats_row("all", &summary.overall), markdown);
    for (k, v) in &summary.by_family {
        super::add_row(&mut s, stats_row(k, v), markdown);
    }
    for (k, v) in &summary.by_gpu {
        super::add_row(&mut s, stats_row(&format!("gpu {k}"), v), markdown);
    }
    if summary.by_suite.len() > 1 {
        for (k, v) in &summary.by_suite {
            super::add_row(&mut s, stats_row(&format!("suite {k}"), v), markdown);
        }
    }
    for (k, v) in &summary.by_split {
        super::add_row(&mut s, stats_row(&format!("split {k}"), v), markdown);
    }
    align(&mut s, sh.len(), &[0]);
    super::wrap_to(&mut s, width);
    let mut out = format!("{t}\n");
    if !notes.is_empty() {
        out.push_str(&notes.join("\n"));
        out.push('\n');
    }
    out.push_str(&format!("\n{s}\n"));
    out
}
