//! The inference performance model as pure functions: one configuration in, one `Estimate` out
//! (docs/methodology.md §3–§9). No I/O.
//!
//! Phases, one file each: the configuration (`config`) and its layout (`layout`), the model and
//! hardware prepared with the rates of a layout (`context`), one layer's step (`layer`, with the
//! roofline in `roofline`, the MoE routing statistics in `moe`, the token exchange in
//! `dispatch`, the collectives in `comm`, the activation bytes in `activations`), one step
//! through the pipeline (`pipeline`), decode (`decode`), prefill (`prefill`), memory
//! (`memory`), serving and cost (`cost`, with TensorRT-LLM's rules for holding new prompts in
//! `admission`), all assembled by `estimate`.

pub mod activations;
pub mod admission;
pub mod comm;
pub mod config;
pub mod context;
pub mod cost;
pub mod decode;
pub mod dispatch;
pub mod estimate;
pub mod experts;
pub mod fused;
pub mod layer;
pub mod layout;
pub mod lengths;
pub mod memory;
pub mod moe;
pub mod pipeline;
pub mod prefill;
pub mod roofline;

pub use config::{
    Batching, Config, DEFAULT_DRAFT_RATIO, DEFAULT_PREFILL_CHUNK_TOKENS, DecodeBound,
    Disaggregation, DraftCost, KvSharding, MoeBackend, MoeDispatch, MoeOverlap, Reject,
    Speculation, expected_tokens,
};
pub use context::{Context, Rates};
pub use cost::DECODE_ADMISSION_ITERS;
pub use estimate::{Breakdown, Estimate, estimate, estimate_with_draft, kv_transfer_s};
pub use layout::Layout;
