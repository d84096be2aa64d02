//! Shared helpers for the integration tests.
#![allow(dead_code)]

use gpt4calc::model::ModelCounts;
use gpt4calc::perf::{Config, Context, DEFAULT_PREFILL_CHUNK_TOKENS, Estimate, estimate};
use gpt4calc::presets::{self, Override};

/// Parse `--set` style overrides.
pub fn sets(list: &[&str]) -> Vec<Override> {
    list.iter()
        .map(|s| s.parse().expect("test override is well formed"))
        .collect()
}

/// Model counts of a built-in preset with overrides.
pub fn counts(model: &str, set: &[&str]) -> ModelCounts {
    let m = presets::load_model(model, &sets(set)).expect("built-in preset loads");
    ModelCounts::new(&m.model)
}

/// A context for a built-in model and GPU with overrides.
pub fn context(model: &str, gpu: &str, set: &[&str]) -> Context {
    let o = sets(set);
    let m = presets::load_model(model, &o).expect("model loads");
    let g = presets::load_gpu(gpu, &o).expect("gpu loads");
    Context::new(&m.model, &g.gpu, DEFAULT_PREFILL_CHUNK_TOKENS)
}

/// Estimate a configuration that must be valid.
pub fn run(ctx: &Context, c: &Config) -> Estimate {
    ctx.check(c)
        .unwrap_or_else(|r| panic!("config {c:?} rejected: {r:?}"));
    estimate(ctx, c)
}

/// The binary, for CLI tests.
pub fn gpt4calc() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("gpt4calc").expect("binary builds")
}

/// Run the binary with `args` (killed after 60 s: a hang fails the test), expect exit `code`, no
/// panic on stderr, and return (stdout, stderr). Invalid UTF-8 in the output shows as U+FFFD.
pub fn run_cli(args: &[&str], code: i32) -> (String, String) {
    let out = gpt4calc()
        .args(args)
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .expect("runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert_eq!(
        out.status.code(),
        Some(code),
        "args {args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
    (stdout, stderr)
}

/// A bad input: exit 1, nothing on stdout, one line on stderr starting `error:` that contains
/// every needle.
pub fn fails_cli(args: &[&str], needles: &[&str]) {
    let (stdout, stderr) = run_cli(args, 1);
    assert!(
        stdout.is_empty(),
        "stdout should be empty on error: {stdout}"
    );
    assert_eq!(stderr.lines().count(), 1, "want one line, got:\n{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "stderr lacks `{n}`:\n{stderr}");
    }
}
