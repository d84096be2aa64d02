//! Progress on stderr: an indicatif bar, drawn only when stderr is a terminal and the sweep is
//! long enough to need one.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// Sweeps smaller than this finish before a bar would be useful.
const MIN_CONFIGS_FOR_BAR: u64 = 200_000;

/// A bar for `total` configurations, hidden when not useful.
pub fn bar(total: u64) -> ProgressBar {
    if total < MIN_CONFIGS_FOR_BAR || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {pos}/{len} configurations [{wide_bar}] {eta}")
            .expect("static template is valid")
            .progress_chars("=> "),
    );
    bar
}

/// A bar for a simulation of `requests` requests, on a terminal only.
pub fn simulation_bar(requests: u64, label: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(requests), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} simulating {label}: {{pos}}/{{len}} requests [{{wide_bar}}] {{eta}}"
        ))
        .expect("the template is valid")
        .progress_chars("=> "),
    );
    bar
}
