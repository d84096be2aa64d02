//! `--plot FILE.svg`: a scatter of every configuration kept, faint, and its Pareto frontier, bold,
//! on log–log axes (plotters' SVG backend: no system fonts or libraries). Each frontier point
//! carries its configuration as an SVG `<title>`, the tooltip a browser shows on hover.

use anyhow::{Result, anyhow};
use plotters::prelude::*;

/// Most faint points drawn; above it, one point per cell of a 256 × 256 log grid.
pub const MAX_POINTS: usize = 5000;

/// A frontier point and what it is.
#[derive(Clone, Debug, PartialEq)]
pub struct Labeled {
    /// x value.
    pub x: f64,
    /// y value.
    pub y: f64,
    /// The configuration, shown as the point's tooltip.
    pub label: String,
}

/// Which way the frontier goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    /// Larger x and larger y are better (tokens/s per GPU against per user).
    Larger,
    /// Smaller x and smaller y are better (days against cost).
    Smaller,
}

/// A chart: points, frontier and the words around them.
#[derive(Clone, Debug)]
pub struct Chart<'a> {
    /// The title.
    pub title: &'a str,
    /// The x axis' name and unit.
    pub x_desc: &'a str,
    /// The y axis' name and unit.
    pub y_desc: &'a str,
    /// Every configuration kept (positive, finite values only are drawn).
    pub points: &'a [(f64, f64)],
    /// The frontier, any order.
    pub frontier: &'a [Labeled],
}

/// True when `a` is at least as good as `b` on both axes and better on one.
pub fn dominates(a: (f64, f64), b: (f64, f64), better: Better) -> bool {
    let (ge, gt) = match better {
        Better::Larger => (a.0 >= b.0 && a.1 >= b.1, a.0 > b.0 || a.1 > b.1),
        Better::Smaller => (a.0 <= b.0 && a.1 <= b.1, a.0 < b.0 || a.1 < b.1),
    };
    ge && gt
}

/// A frontier that grows one candidate at a time (memory: the frontier only).
#[derive(Clone, Debug)]
pub struct Frontier {
    better: Better,
    /// The points on it so far.
    pub points: Vec<Labeled>,
}

impl Frontier {
    /// An empty frontier.
    pub fn new(better: Better) -> Self {
        Frontier {
            better,
            points: Vec::new(),
        }
    }

    /// Offer a point; `label` is called only when it joins the frontier.
    pub fn offer(&mut self, x: f64, y: f64, label: impl FnOnce() -> String) {
        if !(x.is_finite() && y.is_finite()) {
            return;
        }
        let b = self.better;
        if self.points.iter().any(|p| {
            dominates((p.x, p.y), (x, y), b)
                || (p.x.total_cmp(&x).is_eq() && p.y.total_cmp(&y).is_eq())
        }) {
            return;
        }
        self.points.retain(|p| !dominates((x, y), (p.x, p.y), b));
        self.points.push(Labeled {
            x,
            y,
            label: label(),
        });
    }
}

/// The points to draw: all of them up to `MAX_POINTS`, else one per cell of a 256 × 256 grid
/// over the log of both axes (the picture is the same; the file stays small).
pub fn thin(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let ok: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite() && *x > 0.0 && *y > 0.0)
        .collect();
    if ok.len() <= MAX_POINTS {
        return ok;
    }
    let (lo, hi) = bounds(&ok);
    let cell = |v: f64, a: f64, b: f64| {
        let span = (b.ln() - a.ln()).max(f64::MIN_POSITIVE);
        (((v.ln() - a.ln()) / span) * 255.0).round() as u16
    };
    let mut seen = std::collections::HashSet::new();
    ok.into_iter()
        .filter(|&(x, y)| seen.insert((cell(x, lo.0, hi.0), cell(y, lo.1, hi.1))))
        .collect()
}

fn bounds(points: &[(f64, f64)]) -> ((f64, f64), (f64, f64)) {
    points.iter().fold(
        ((f64::INFINITY, f64::INFINITY), (0.0f64, 0.0f64)),
        |(lo, hi), &(x, y)| ((lo.0.min(x), lo.1.min(y)), (hi.0.max(x), hi.1.max(y))),
    )
}

/// A log axis' range around `lo..hi`, with a margin; one value gets a decade around it.
fn log_range(lo: f64, hi: f64) -> std::ops::Range<f64> {
    if !(lo.is_finite() && hi.is_finite() && lo > 0.0) {
        return 0.1..10.0;
    }
    if hi <= lo * 1.0001 {
        return lo / 3.0..hi * 3.0;
    }
    lo / 1.25..hi * 1.25
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The chart as an SVG document.
pub fn render_svg(c: &Chart) -> Result<String> {
    let points = thin(c.points);
    let mut frontier: Vec<&Labeled> = c
        .frontier
        .iter()
        .filter(|p| p.x.is_finite() && p.y.is_finite() && p.x > 0.0 && p.y > 0.0)
        .collect();
    frontier.sort_by(|a, b| a.x.total_cmp(&b.x));
    let all: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .chain(frontier.iter().map(|p| (p.x, p.y)))
        .collect();
    let (lo, hi) = if all.is_empty() {
        ((1.0, 1.0), (1.0, 1.0))
    } else {
        bounds(&all)
    };
    let err = |e: &dyn std::fmt::Display| anyhow!("--plot: {e}");
    let mut svg = String::new();
    let mut marks: Vec<(i32, i32, String)> = Vec::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 640)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(c.title, ("sans-serif", 20))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(
                log_range(lo.0, hi.0).log_scale(),
                log_range(lo.1, hi.1).log_scale(),
            )
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc(c.x_desc)
            .y_desc(c.y_desc)
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 15))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(|e| err(&e))?;
        let faint = RGBColor(31, 119, 180);
        chart
            .draw_series(
                points
                    .iter()
                    .map(|&(x, y)| Circle::new((x, y), 2, faint.mix(0.25).filled())),
            )
            .map_err(|e| err(&e))?
            .label(format!("every configuration kept ({})", points.len()))
            .legend(move |(x, y)| Circle::new((x, y), 3, faint.mix(0.5).filled()));
        let bold = RGBColor(214, 39, 40);
        chart
            .draw_series(LineSeries::new(
                frontier.iter().map(|p| (p.x, p.y)),
                bold.stroke_width(2),
            ))
            .map_err(|e| err(&e))?
            .label(format!(
                "frontier ({}; hover a point for its configuration)",
                frontier.len()
            ))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x - 8, y), (x + 8, y)], bold.stroke_width(2))
            });
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .draw()
            .map_err(|e| err(&e))?;
        for p in &frontier {
            let (x, y) = chart.backend_coord(&(p.x, p.y));
            marks.push((x, y, p.label.clone()));
        }
        root.present().map_err(|e| err(&e))?;
    }
    // The frontier's points, bold, each with its configuration as a tooltip.
    let mut extra = String::from("<g class=\"frontier\">\n");
    for (x, y, label) in &marks {
        extra.push_str(&format!(
            "<circle class=\"frontier-point\" cx=\"{x}\" cy=\"{y}\" r=\"4.5\" fill=\"#D62728\" stroke=\"#000000\" stroke-width=\"0.8\"><title>{}</title></circle>\n",
            xml_escape(label)
        ));
    }
    extra.push_str("</g>\n");
    match svg.rfind("</svg>") {
        Some(i) => svg.insert_str(i, &extra),
        None => return Err(anyhow!("--plot: the SVG backend wrote no closing tag")),
    }
    Ok(svg)
}

/// `--plot`'s path, for clap's `value_parser`: the chart is SVG, so the name must end in `.svg`
/// (a `.png` name would hold SVG text).
pub fn svg_path(path: &str) -> Result<String, String> {
    if path.to_ascii_lowercase().ends_with(".svg") {
        Ok(path.to_string())
    } else {
        Err(format!(
            "`{}`: the chart is SVG; give a file name ending in .svg",
            crate::limits::clip(path)
        ))
    }
}

/// Refuse a `--plot` path that cannot be written before any work is done: its directory must
/// exist and the path must not be a directory (a permission error still shows at the write).
pub fn check_path(path: &str) -> Result<()> {
    let p = std::path::Path::new(path);
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    if p.is_dir() {
        anyhow::bail!(
            "--plot `{}`: is a directory; give a file name such as frontier.svg",
            crate::limits::clip(path)
        );
    }
    if !dir.is_dir() {
        anyhow::bail!(
            "--plot `{}`: the directory `{}` does not exist",
            crate::limits::clip(path),
            crate::limits::clip(&dir.to_string_lossy())
        );
    }
    Ok(())
}

/// Write the chart to `path` and say so on stderr (how many configurations, how many on the frontier).
pub fn write_svg(path: &str, c: &Chart) -> Result<()> {
    let svg = render_svg(c)?;
    std::fs::write(path, svg)
        .map_err(|e| anyhow!("--plot: cannot write `{}`: {e}", crate::limits::clip(path)))?;
    eprintln!(
        "note: --plot wrote {} ({} configurations, {} on the frontier)",
        crate::limits::clip(path),
        c.points.len(),
        c.frontier.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frontier_keeps_the_undominated_points() {
        let mut f = Frontier::new(Better::Larger);
        for (x, y) in [(1.0, 5.0), (2.0, 4.0), (1.5, 3.0), (3.0, 1.0), (2.0, 4.0)] {
            f.offer(x, y, || format!("{x},{y}"));
        }
        let mut got: Vec<(f64, f64)> = f.points.iter().map(|p| (p.x, p.y)).collect();
        got.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert_eq!(got, vec![(1.0, 5.0), (2.0, 4.0), (3.0, 1.0)]);
        let mut g = Frontier::new(Better::Smaller);
        for (x, y) in [(1.0, 5.0), (2.0, 4.0), (2.5, 4.5), (3.0, 1.0)] {
            g.offer(x, y, String::new);
        }
        assert_eq!(g.points.len(), 3);
    }

    #[test]
    fn thinning_keeps_small_sets_and_bounds_large_ones() {
        let small: Vec<(f64, f64)> = (1..100).map(|i| (f64::from(i), 1.0)).collect();
        assert_eq!(thin(&small).len(), 99);
        let large: Vec<(f64, f64)> = (1..100_000)
            .map(|i| (f64::from(i), f64::from(i % 977 + 1)))
            .collect();
        let t = thin(&large);
        assert!(
            t.len() <= 256 * 256 && t.len() > MAX_POINTS / 10,
            "{}",
            t.len()
        );
    }
}
