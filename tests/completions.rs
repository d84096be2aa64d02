//! `completions SHELL`, `man [COMMAND]` and `--help`'s wrapping and axis syntax.

mod common;

use common::{fails_cli, gpt4calc, run_cli};

#[test]
fn completions_for_every_shell_name_the_commands_and_flags() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef gpt4calc"),
        ("fish", "complete -c gpt4calc"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion:arg-completer[gpt4calc]"),
    ] {
        let (script, stderr) = run_cli(&["completions", shell], 0);
        assert!(stderr.is_empty(), "{shell}: {stderr}");
        assert!(script.contains(marker), "{shell} lacks `{marker}`");
        for word in ["sweep", "train", "presets", "import", "preset", "require"] {
            assert!(script.contains(word), "{shell} lacks `{word}`");
        }
    }
    fails_completions_usage();
}

fn fails_completions_usage() {
    // An unknown shell is a usage error (exit 2) that lists the shells.
    let (_, stderr) = run_cli(&["completions", "tcsh"], 2);
    assert!(
        stderr.contains("bash") && stderr.contains("elvish"),
        "{stderr}"
    );
}

#[test]
fn bash_completion_script_is_valid_bash() {
    // Only where bash is installed: `bash -n` parses the script without running it.
    if std::process::Command::new("bash")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("bash not found; skipped");
        return;
    }
    let (script, _) = run_cli(&["completions", "bash"], 0);
    let path = std::env::temp_dir().join(format!("gpt4calc-{}.bash", std::process::id()));
    std::fs::write(&path, script).unwrap();
    let ok = std::process::Command::new("bash")
        .arg("-n")
        .arg(&path)
        .status()
        .unwrap();
    std::fs::remove_file(&path).ok();
    assert!(ok.success());
}

#[test]
fn man_pages_are_roff() {
    let (page, _) = run_cli(&["man"], 0);
    assert!(page.contains(".TH gpt4calc 1"), "{page}");
    assert!(page.contains(".SH SUBCOMMANDS"), "{page}");
    assert!(page.contains("gpt4calc\\-sweep(1)"), "{page}");
    let (sweep, _) = run_cli(&["man", "sweep"], 0);
    assert!(sweep.contains(".TH gpt4calc-sweep 1"), "{sweep}");
    assert!(sweep.contains("\\fB\\-\\-tp\\fR"), "{sweep}");
    assert!(sweep.contains("1..4096"), "the axis syntax is in the page");
    fails_cli(
        &["man", "swep"],
        &["unknown command `swep`", "did you mean sweep"],
    );
}

#[test]
fn help_wraps_to_columns_and_shows_the_range_syntax() {
    // Off a terminal clap's wrap_help reads COLUMNS (on a terminal it asks the terminal itself).
    for width in [60usize, 100] {
        let out = gpt4calc()
            .args(["sweep", "--help"])
            .env("COLUMNS", width.to_string())
            .output()
            .unwrap();
        assert!(out.status.success());
        let help = String::from_utf8(out.stdout).unwrap();
        let widest = help.lines().map(|l| l.chars().count()).max().unwrap();
        assert!(
            widest <= width,
            "a line of {widest} columns at COLUMNS={width}"
        );
        assert!(help.contains("--tp <LIST|A..B>"), "{help}");
        assert!(help.contains("1..4096"), "{help}");
    }
    let (train, _) = run_cli(&["train", "--help"], 0);
    assert!(train.contains("1..4096") && train.contains("--pp <LIST|A..B>"));
}
