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
