//! Tables on a terminal fit its width; piped output keeps every column; axes that vary get a
//! column. The terminal is a real pseudo-terminal of 80 columns made by util-linux `script`
//! (`stty cols 80` inside it), so the width comes from the same ioctl a user's terminal answers;
//! where `script` is missing the pseudo-terminal tests say so and pass without checking.

mod common;

use common::run_cli;
use std::process::Command;

/// Run the binary on an 80-column pseudo-terminal; stdout and stderr both arrive on it.
fn on_terminal(cols: usize, args: &str) -> Option<String> {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("util-linux `script` not found: the pseudo-terminal test is skipped");
        return None;
    }
    let bin = assert_cmd::cargo::cargo_bin("gpt4calc");
    let out = Command::new("script")
        .args(["-qec"])
        .arg(format!(
            "stty cols {cols} rows 50; exec '{}' {args}",
            bin.display()
        ))
        .arg("/dev/null")
        .output()
        .expect("script runs");
    assert!(out.status.success(), "{out:?}");
    Some(String::from_utf8_lossy(&out.stdout).replace('\r', ""))
}

/// The lines of the table (those drawn with box characters).
fn table_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.starts_with(['│', '┌', '└', '╞']))
        .collect()
}

#[test]
fn sweep_fits_an_80_column_terminal_and_says_what_it_left_out() {
    let Some(text) = on_terminal(80, "sweep") else {
        return;
    };
    let table = table_lines(&text);
    assert!(table.len() > 10, "{text}");
    for l in &table {
        assert!(
            l.chars().count() <= 80,
            "{} columns: {l}",
            l.chars().count()
        );
    }
    assert!(
        text.contains("note: to fit the terminal the table leaves out $/1M in"),
        "{text}"
    );
    // The columns that answer the question stay.
    for kept in ["layout", "batch", "tok/s", "$/1M"] {
        assert!(table[1].contains(kept), "lacks {kept}: {}", table[1]);
    }
    assert!(!table[1].contains("MBU"), "{}", table[1]);
}

#[test]
fn train_and_validate_fit_an_80_column_terminal() {
    for args in [
        "train -m gpt4-8k -g a100-40g --gpus 25000 --tp 8 --pp 8,16 --zero 2 --recompute full",
        "validate --suite public",
    ] {
        let Some(text) = on_terminal(80, args) else {
            return;
        };
        let table = table_lines(&text);
        assert!(!table.is_empty(), "{args}: {text}");
        for l in &table {
            assert!(l.chars().count() <= 80, "{args}: {l}");
        }
    }
}

#[test]
fn a_wide_terminal_keeps_every_column() {
    let Some(text) = on_terminal(200, "sweep --top 3") else {
        return;
    };
    assert!(!text.contains("leaves out"), "{text}");
    assert!(table_lines(&text)[1].contains("MBU"), "{text}");
}

#[test]
fn piped_output_keeps_every_column() {
    let (stdout, stderr) = run_cli(&["sweep", "--top", "3"], 0);
    for h in ["mem/GPU", "TTFT", "TPOT", "MFU", "MBU", "bound", "$/1M"] {
        assert!(stdout.contains(h), "lacks {h}:\n{stdout}");
    }
    assert!(!stderr.contains("leaves out"), "{stderr}");
}

#[test]
fn swept_lengths_get_columns() {
    let (stdout, _) = run_cli(
        &[
            "sweep",
            "--input-len",
            "1k,4k",
            "--output-len",
            "128,512",
            "--top",
            "40",
            "--format",
            "markdown",
        ],
        0,
    );
    let cells =
        |line: &str| -> Vec<String> { line.split('|').map(|c| c.trim().to_string()).collect() };
    let header = cells(stdout.lines().next().unwrap());
    let (i, o) = (
        header
            .iter()
            .position(|h| h == "in [tok]")
            .expect("an input column"),
        header
            .iter()
            .position(|h| h == "out [tok]")
            .expect("an output column"),
    );
    let rows: Vec<Vec<String>> = stdout.lines().skip(2).map(cells).collect();
    let seen = |col: usize| {
        let mut v: Vec<&str> = rows.iter().map(|r| r[col].as_str()).collect();
        v.sort_unstable();
        v.dedup();
        v.join(",")
    };
    assert_eq!(seen(i), "1024,4096", "{stdout}");
    assert_eq!(seen(o), "128,512", "{stdout}");
    // One value per axis: no column.
    let (stdout, _) = run_cli(&["sweep", "--top", "3", "--format", "markdown"], 0);
    assert!(
        !stdout.lines().next().unwrap().contains("[tok]"),
        "{stdout}"
    );
}
