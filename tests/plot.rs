//! `--plot FILE.svg`: the SVG parses, holds one faint point per configuration kept and one bold
//! point (with a tooltip) per frontier configuration, and the data output is unchanged.

mod common;

use common::run_cli;

struct Svg {
    faint: usize,
    frontier: Vec<String>,
    texts: Vec<String>,
}

fn parse(path: &std::path::Path) -> Svg {
    let text = std::fs::read_to_string(path).expect("the plot was written");
    let doc = roxmltree::Document::parse(&text).expect("the SVG is well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let circles: Vec<roxmltree::Node> = doc
        .descendants()
        .filter(|n| n.has_tag_name("circle"))
        .collect();
    // plotters draws the faint points as r=2, a quarter opaque (the legend's marker is r=3).
    let faint = circles
        .iter()
        .filter(|c| c.attribute("r") == Some("2") && c.attribute("opacity") == Some("0.25"))
        .count();
    let frontier = circles
        .iter()
        .filter(|c| c.attribute("class") == Some("frontier-point"))
        .map(|c| {
            c.children()
                .find(|n| n.has_tag_name("title"))
                .and_then(|t| t.text())
                .expect("a frontier point has a tooltip")
                .to_string()
        })
        .collect();
    let texts = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text().map(|t| t.trim().to_string()))
        .collect();
    Svg {
        faint,
        frontier,
        texts,
    }
}

/// A directory of its own for a test's files, deleted when dropped.
fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("gpt4calc-plot-")
        .tempdir()
        .unwrap()
}

const AXES: [&str; 8] = [
    "--dtype", "fp8", "--batch", "1..4096", "--tp", "1..8", "--pp", "1,2,4",
];

#[test]
fn sweep_plot_has_every_kept_configuration_and_the_frontier() {
    let dir = temp_dir();
    let path = dir.path().join("sweep.svg");
    let p = path.to_string_lossy().into_owned();
    let mut args = vec!["sweep", "-m", "llama3-70b", "--format", "json"];
    args.extend(AXES);
    let (plain, _) = run_cli(&args, 0);
    args.extend(["--plot", &p]);
    let (with_plot, stderr) = run_cli(&args, 0);
    assert_eq!(plain, with_plot, "--plot leaves the data output as it is");
    assert!(stderr.contains("--plot wrote"), "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&plain).unwrap();
    let passed = doc["summary"]["passed"].as_u64().unwrap() as usize;

    let mut pareto = vec!["sweep", "-m", "llama3-70b", "--format", "json", "--pareto"];
    pareto.extend(AXES);
    let (front, _) = run_cli(&pareto, 0);
    let front: serde_json::Value = serde_json::from_str(&front).unwrap();
    let front = front["results"].as_array().unwrap();

    let svg = parse(&path);
    assert_eq!(svg.faint, passed, "one faint point per configuration kept");
    assert_eq!(
        svg.frontier.len(),
        front.len(),
        "one bold point per --pareto row"
    );
    for r in front {
        let layout = r["layout"].as_str().unwrap();
        let batch = format!("batch {},", r["batch"]);
        assert!(
            svg.frontier
                .iter()
                .any(|t| t.starts_with(layout) && t.contains(&batch)),
            "no tooltip for {layout} {batch}: {:?}",
            svg.frontier
        );
    }
    for want in ["output tokens/s per user", "output tokens/s per GPU"] {
        assert!(
            svg.texts.iter().any(|t| t == want),
            "axis `{want}`: {:?}",
            svg.texts
        );
    }
}

#[test]
fn train_plot_shows_days_against_cost() {
    let dir = temp_dir();
    let path = dir.path().join("train.svg");
    let p = path.to_string_lossy().into_owned();
    let (json, _) = run_cli(
        &[
            "train",
            "-m",
            "llama3-70b",
            "--gpus",
            "1024",
            "--tp",
            "1..8",
            "--pp",
            "1..8",
            "--zero",
            "1,2",
            "--format",
            "json",
            "--plot",
            &p,
        ],
        0,
    );
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let rows = doc["results"].as_array().unwrap();
    let svg = parse(&path);
    assert_eq!(svg.faint, rows.len());
    assert!(!svg.frontier.is_empty() && svg.frontier.len() <= rows.len());
    // The fastest configuration is on the frontier (nothing is both faster and cheaper).
    let fastest = &rows[0];
    let tp = format!(
        "tp {} × pp {} × dp {}",
        fastest["tp"], fastest["pp"], fastest["dp"]
    );
    assert!(
        svg.frontier.iter().any(|t| t.starts_with(&tp)),
        "{tp}: {:?}",
        svg.frontier
    );
    assert!(
        svg.texts.iter().any(|t| t == "training days"),
        "{:?}",
        svg.texts
    );
}

/// A path whose directory is missing is refused before the work, by sweep and train alike (the
/// run's results are not computed only to be lost).
#[test]
fn an_unwritable_plot_path_is_one_error() {
    for cmd in ["sweep", "train"] {
        let (_, stderr) = run_cli(
            &[
                cmd,
                "-m",
                "llama3-70b",
                "--top",
                "1",
                "--plot",
                "/nonexistent-dir/x.svg",
            ],
            1,
        );
        assert!(
            stderr.starts_with("error: --plot `/nonexistent-dir/x.svg`: the directory")
                && stderr.contains("does not exist")
                && !stderr.contains("note:")
                && !stderr.contains("configurations evaluated"),
            "{cmd}: {stderr}"
        );
    }
}
