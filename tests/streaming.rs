//! Exports of every row: JSON and CSV without `--top` print what a large enough `--top` prints,
//! holding an index of the rows instead of the rows; `--sort none` streams them in the
//! configurations' order.

mod common;

use common::run_cli;

const SWEEP: &[&str] = &[
    "sweep",
    "-m",
    "gpt4-8k,llama3-70b",
    "-g",
    "h100,mi300x",
    "--tp",
    "1,2,4,8",
    "--pp",
    "1,2,4",
    "--batch",
    "1..1024",
    "--input-len",
    "512,2048",
    "--output-len",
    "128,512",
    "--all",
];

fn with(extra: &[&str]) -> Vec<String> {
    SWEEP
        .iter()
        .chain(extra)
        .map(|s| (*s).to_string())
        .collect()
}

fn run(args: &[String]) -> (String, String) {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run_cli(&refs, 0)
}

#[test]
fn an_export_of_every_row_is_the_top_n_export_with_n_large() {
    for t in ["1", "2"] {
        let (every, err) = run(&with(&["--format", "csv", "--threads", t]));
        let (top, _) = run(&with(&[
            "--format",
            "csv",
            "--top",
            "1000000",
            "--threads",
            t,
        ]));
        assert_eq!(every, top, "{t} thread(s)");
        assert!(every.lines().count() > 2000, "{err}");
        let (desc, _) = run(&with(&[
            "--format",
            "csv",
            "--sort",
            "output_tokens_per_s_per_gpu",
            "--threads",
            t,
        ]));
        let (desc_top, _) = run(&with(&[
            "--format",
            "csv",
            "--sort",
            "output_tokens_per_s_per_gpu",
            "--top",
            "1000000",
            "--threads",
            t,
        ]));
        assert_eq!(desc, desc_top);
    }
}

#[test]
fn sort_none_streams_the_rows_in_the_configurations_order() {
    let (stream, err) = run(&with(&["--format", "csv", "--sort", "none"]));
    assert!(err.contains("(in the configurations' order)"), "{err}");
    // A heap of every row with no key keeps the same order.
    let (kept, _) = run(&with(&[
        "--format",
        "csv",
        "--sort",
        "none",
        "--top",
        "1000000",
        "--threads",
        "1",
    ]));
    assert_eq!(stream, kept);
    let (sorted, _) = run(&with(&["--format", "csv"]));
    let mut a: Vec<&str> = stream.lines().collect();
    let mut b: Vec<&str> = sorted.lines().collect();
    assert_ne!(a, b);
    a.sort_unstable();
    b.sort_unstable();
    assert_eq!(a, b, "the same rows in another order");
    // The first rows are the first configurations: model, GPU, then tp 1.
    let first = stream.lines().nth(1).unwrap();
    assert!(first.starts_with("gpt4-8k,h100,"), "{first}");
    for t in ["2", "3"] {
        let (again, _) = run(&with(&[
            "--format",
            "csv",
            "--sort",
            "none",
            "--threads",
            t,
        ]));
        assert_eq!(again, stream, "{t} threads");
    }
}

#[test]
fn sort_none_json_puts_the_summary_after_the_results() {
    let (json, _) = run(&with(&["--format", "json", "--sort", "none"]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let results = v["results"].as_array().unwrap();
    assert_eq!(
        v["summary"]["shown"].as_u64().unwrap(),
        results.len() as u64
    );
    assert_eq!(v["inputs"]["sort"], "none");
    assert!(json.find("\"results\"").unwrap() < json.find("\"summary\"").unwrap());
    let (sorted, _) = run(&with(&["--format", "json"]));
    let w: serde_json::Value = serde_json::from_str(&sorted).unwrap();
    assert_eq!(w["summary"], v["summary"]);
    assert!(sorted.find("\"summary\"").unwrap() < sorted.find("\"results\"").unwrap());
}

#[test]
fn sort_none_with_rate_simulates_the_first_rows_that_fit() {
    let (csv, err) = run_cli(
        &[
            "sweep",
            "--tp",
            "8",
            "--pp",
            "1..16",
            "--batch",
            "1..512",
            "--rate",
            "5",
            "--requests",
            "50",
            "--format",
            "csv",
            "--sort",
            "none",
        ],
        0,
    );
    assert!(csv.lines().count() > 21, "{csv}");
    assert!(err.contains("rows that fit;"), "{err}");
    let (table, err) = run_cli(&["sweep", "--sort", "none", "--top", "3"], 0);
    assert!(
        err.contains("showing 3 (in the configurations' order)"),
        "{err}"
    );
    assert!(table.contains("TP"), "{table}");
}
