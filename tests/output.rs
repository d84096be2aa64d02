//! Output plumbing: a closed stdout ends quietly, CSV is quoted by one writer, Markdown cells are
//! escaped, near names are suggested.

mod common;

use common::{fails_cli, run_cli};
use std::io::Read;
use std::process::{Command, Stdio};

/// Run the binary with stdout to a pipe, read the first `lines` lines, close the pipe, and
/// return (exit code, stderr). The output is far larger than a pipe's buffer, so the program is
/// still writing when the reader goes away.
fn read_then_close(args: &[&str], lines: usize) -> (Option<i32>, String) {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("gpt4calc"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = 0;
    let mut byte = [0u8; 1];
    while seen < lines && stdout.read(&mut byte).unwrap() == 1 {
        seen += usize::from(byte[0] == b'\n');
    }
    drop(stdout);
    let out = child.wait_with_output().expect("exits");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_closed_stdout_ends_quietly_with_exit_0_in_every_format() {
    // `gpt4calc sweep --format json | head -n 3`
    for format in ["json", "csv", "table", "markdown"] {
        let (code, stderr) = read_then_close(
            &[
                "sweep", "--batch", "1..4096", "--all", "--top", "100000", "--format", format,
            ],
            3,
        );
        assert_eq!(code, Some(0), "{format}: {stderr}");
        assert!(!stderr.contains("error"), "{format}: {stderr}");
        assert!(!stderr.contains("panicked"), "{format}: {stderr}");
    }
    // Training rows that fit (exit 0 had the reader stayed) and far more of them than a pipe
    // holds (1.5 MB): the 37 kB of an earlier command here could be written whole before the
    // reader left, and its exit code was then the run's own 3 (nothing fit), not the closed
    // pipe's 0.
    let (code, stderr) = read_then_close(
        &[
            "train",
            "--gpus",
            "1024",
            "--tp",
            "1..8",
            "--pp",
            "1..16",
            "--micro-batch",
            "1..4",
            "--zero",
            "0..3",
            "--recompute",
            "none,selective,full",
            "--all",
            "--format",
            "json",
        ],
        3,
    );
    assert_eq!(code, Some(0), "train: {stderr}");
    assert!(!stderr.contains("error"), "train: {stderr}");
}

fn case_file(id: &str) -> (std::path::PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("gpt4calc-output-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("cases-{}.toml", id.len()));
    let toml = format!(
        "[[case]]\nid = {}\nsource = \"a test\"\nkind = \"inference\"\nmodel = \"llama2-70b\"\n\
         gpu = \"h100\"\ndtype = \"fp8\"\nkv_dtype = \"fp8\"\ntp = 2\npp = 1\nbatch = 64\n\
         input_len = 128\noutput_len = 128\nmode = \"fixed\"\nmetric = \"output_tokens_per_s_per_gpu\"\n\
         value = 1000.0\n",
        toml::Value::String(id.to_string())
    );
    std::fs::write(&path, toml).unwrap();
    let p = path.to_string_lossy().into_owned();
    (dir, p)
}

#[test]
fn csv_quotes_a_comma_and_a_quote_in_a_validate_case_id() {
    let id = r#"tp2, "fp8" | bs64"#;
    let (dir, path) = case_file(id);
    let (csv_text, _) = run_cli(&["validate", "--cases", &path, "--format", "csv"], 0);
    assert_eq!(csv_text.lines().count(), 2, "{csv_text}");
    assert!(
        csv_text.contains(r#""tp2, ""fp8"" | bs64""#),
        "RFC 4180 quoting: {csv_text}"
    );
    let mut r = csv::Reader::from_reader(csv_text.as_bytes());
    let header = r.headers().unwrap().clone();
    let rec = r.records().next().unwrap().unwrap();
    assert_eq!(rec.len(), header.len(), "{csv_text}");
    assert_eq!(&rec[0], id);
    assert_eq!(&header[0], "id");
    assert_eq!(&header[5], "actual");
    assert_eq!(&rec[5], "1000");

    // The same id in a Markdown table stays in its cell: every line has as many unescaped `|`.
    let (md, _) = run_cli(&["validate", "--cases", &path, "--format", "markdown"], 0);
    let table: Vec<&str> = md.lines().take_while(|l| l.starts_with('|')).collect();
    assert_eq!(table.len(), 3, "header, rule, one case:\n{md}");
    let bars = |l: &str| l.replace("\\|", "").matches('|').count();
    assert!(
        table.iter().all(|l| bars(l) == bars(table[0])),
        "a cell's `|` is not escaped:\n{md}"
    );
    assert!(table[2].contains(r#"tp2, "fp8" \| bs64"#), "{md}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn sweep_csv_parses_with_a_csv_reader() {
    let (text, _) = run_cli(&["sweep", "--format", "csv", "--top", "5"], 0);
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let width = r.headers().unwrap().len();
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 5);
    assert!(rows.iter().all(|row| row.len() == width));
}

#[test]
fn markdown_cell_escapes_pipes_backslashes_and_line_breaks() {
    use gpt4calc::report::markdown_cell;
    assert_eq!(markdown_cell("a|b"), r"a\|b");
    assert_eq!(markdown_cell(r"a\b"), r"a\\b");
    assert_eq!(markdown_cell("a\nb\r\nc"), "a<br>b<br>c");
}

#[test]
fn near_names_are_suggested_for_presets_and_fields() {
    fails_cli(
        &["sweep", "--preset", "mixtral-8x7"],
        &["did you mean mixtral-8x7b"],
    );
    fails_cli(&["sweep", "--gpu", "h20"], &["did you mean h200"]);
    fails_cli(&["sweep", "--sort", "ttft"], &["did you mean ttft_s"]);
}
