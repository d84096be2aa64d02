//! The documented range of every user-supplied number (docs/usage.md, "Input ranges and limits").
//!
//! Every integer flag, axis and preset field is checked against its range where it is parsed or
//! loaded, so that the products the model forms from them (GPUs = replicas × tp × dp × pp,
//! tokens = batch × length, …) stay far below `u64::MAX`, and every float is finite and in a
//! physical range, so that no result is infinite or NaN because an input was.

/// Largest parallel degree (`--tp`, `--dp`, `--pp`, `--ep`, `--prefill-*`), replica count
/// (`--disaggregate P:D`) and expert count.
pub const MAX_DEGREE: u64 = 65_536;
/// Largest GPU count of a job (`train --gpus`).
pub const MAX_GPUS: u64 = 16_777_216;
/// Largest batch (`--batch`) and micro-batch (`--micro-batch`).
pub const MAX_BATCH: u64 = 1_048_576;
/// Largest token count of a sequence, prompt, output, chunk or context (2^30).
pub const MAX_TOKENS: u64 = 1_073_741_824;

/// An inclusive range of integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntRange {
    /// Smallest allowed value.
    pub min: u64,
    /// Largest allowed value.
    pub max: u64,
}

/// An inclusive range of floats.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FloatRange {
    /// Smallest allowed value.
    pub min: f64,
    /// Largest allowed value.
    pub max: f64,
}

/// Most decode iterations between a serving scheduler's polls for new requests
/// (`--scheduler-recv-interval`; InferenceX's SGLang scripts set 10 and 30).
pub const MAX_RECV_INTERVAL: u64 = 1000;

/// Most iterations of TensorRT-LLM's rules for holding prompts back (`--adp-balance`,
/// `--adp-balance-wait`, `--batch-wait`; TensorRT-LLM's balancing defaults are 50 and 10,
/// InferenceX's scripts set 60 and 0, and 40 for batch waiting).
pub const MAX_BALANCE_ITERS: u64 = 1000;

/// Most decode iterations a prefilled request may spend at a disaggregated decode worker before
/// its first token (`--decode-admission-iters`; the built-in 5.47, docs/methodology.md §7.5).
pub const MAX_ADMISSION_ITERS: f64 = 1000.0;

const fn int(min: u64, max: u64) -> IntRange {
    IntRange { min, max }
}

const fn float(min: f64, max: f64) -> FloatRange {
    FloatRange { min, max }
}

/// The range of an integer command-line flag or axis, by its name without dashes.
pub fn flag_range(flag: &str) -> IntRange {
    match flag {
        "tp" | "dp" | "pp" | "ep" | "prefill-tp" | "prefill-dp" | "prefill-pp" | "prefill-ep" => {
            int(1, MAX_DEGREE)
        }
        "disaggregate" => int(1, MAX_DEGREE),
        "batch" | "micro-batch" => int(1, MAX_BATCH),
        "input-len" | "output-len" | "seq-len" | "prefill-chunk" => int(1, MAX_TOKENS),
        "gpus" => int(1, MAX_GPUS),
        "redundant-experts" => int(0, MAX_DEGREE),
        "interleave" => int(1, 1024),
        "scheduler-recv-interval" => int(1, MAX_RECV_INTERVAL),
        "adp-balance" => int(0, MAX_BALANCE_ITERS),
        "adp-balance-wait" => int(0, MAX_BALANCE_ITERS),
        "batch-wait" => int(0, MAX_BALANCE_ITERS),
        "mtp-layers" => int(0, 64),
        "last-stage-layers" => int(1, MAX_DEGREE),
        "speculate" => int(1, 64),
        "requests" => int(1, crate::sim::MAX_REQUESTS),
        _ => int(1, u64::MAX),
    }
}

/// Ranges of the float flags, by name without dashes.
pub fn float_flag_range(flag: &str) -> FloatRange {
    match flag {
        "tokens" => float(1.0, 1e18),
        "global-batch-tokens" => float(1.0, 1e12),
        "mfu" => float(1e-6, 1.0),
        "acceptance" | "dp-overlap" | "batch-wait-ratio" => float(0.0, 1.0),
        "draft-ratio" => float(0.0, 10.0),
        "rate" => float(1e-6, 1e6),
        "gpu-mtbf-hours" => float(1e-3, 1e9),
        "checkpoint-interval-s" => float(1e-3, 1e9),
        "checkpoint-write-s" | "restart-s" => float(0.0, 1e9),
        "decode-admission-iters" => float(0.0, MAX_ADMISSION_ITERS),
        _ => float(f64::MIN, f64::MAX),
    }
}

/// Model preset integer fields: (key, range). `kv_heads` must also divide `heads`, `top_k` is at
/// most `experts`, and so on (checked by `ModelSpec::validate`).
pub const MODEL_INTS: &[(&str, IntRange)] = &[
    ("model.layers", int(1, MAX_DEGREE)),
    ("model.d_model", int(1, 1_048_576)),
    ("model.heads", int(1, MAX_DEGREE)),
    ("model.kv_heads", int(1, MAX_DEGREE)),
    ("model.head_dim", int(1, MAX_DEGREE)),
    ("model.ffn_dim", int(1, 16_777_216)),
    ("model.vocab", int(1, 16_777_216)),
    ("model.experts", int(1, MAX_DEGREE)),
    ("model.top_k", int(1, MAX_DEGREE)),
    ("model.shared_experts", int(0, MAX_DEGREE)),
    ("model.max_context", int(1, MAX_TOKENS)),
    (
        "model.attention_params_per_layer",
        int(1, 1_000_000_000_000_000),
    ),
    ("model.dense_layers", int(0, MAX_DEGREE)),
    ("model.dense_ffn_dim", int(1, 16_777_216)),
    ("model.routing_groups", int(1, MAX_DEGREE)),
    ("model.routing_groups_per_token", int(1, MAX_DEGREE)),
    ("model.sliding_window", int(1, MAX_TOKENS)),
    ("model.sliding_window_layers", int(0, MAX_DEGREE)),
    ("model.attention_chunk", int(1, MAX_TOKENS)),
    ("model.attention_chunk_layers", int(0, MAX_DEGREE)),
    ("model.mla.q_lora_rank", int(0, 1_048_576)),
    ("model.mla.kv_lora_rank", int(1, 1_048_576)),
    ("model.mla.qk_nope_head_dim", int(1, MAX_DEGREE)),
    ("model.mla.qk_rope_head_dim", int(1, MAX_DEGREE)),
    ("model.mla.v_head_dim", int(1, MAX_DEGREE)),
];

/// GPU preset integer fields.
pub const GPU_INTS: &[(&str, IntRange)] = &[
    ("gpu.node.gpus_per_node", int(1, MAX_DEGREE)),
    ("gpu.node.scaleup_domain", int(1, MAX_DEGREE)),
    ("gpu.all_reduce_shape.gpus", int(2, MAX_DEGREE)),
    ("gpu.custom_all_reduce.gpus", int(2, MAX_DEGREE)),
    ("gpu.routing_skew.ep", int(2, MAX_DEGREE)),
];

/// Efficiencies and fractions: (0, 1], at least 0.001 so that no rate divides to infinity.
pub const FRACTION: FloatRange = float(0.001, 1.0);
/// Bytes moved per element of a GEMM's input or output: 0 to 100.
pub const BYTES_PER_ELEMENT: FloatRange = float(0.0, 100.0);
/// Fixed times in µs or ns: 0 to 1 s (1e6 µs).
pub const FIXED_TIME: FloatRange = float(0.0, 1e6);
/// A context length in tokens given as a number: 0 to 1e9.
pub const CONTEXT_TOKENS: FloatRange = float(0.0, 1e9);

/// GPU preset float fields other than the fractions and fixed times above.
pub const GPU_FLOATS: &[(&str, FloatRange)] = &[
    // 1 GiB to 1 PiB.
    ("gpu.memory_gib", float(1.0, 1_048_576.0)),
    ("gpu.memory_bw_tb_s", float(0.001, 1000.0)),
    ("gpu.tflops.*", float(0.001, 1e6)),
    ("gpu.node.scaleup_gb_s", float(0.01, 1e6)),
    ("gpu.node.scaleout_gbit_s", float(0.01, 1e6)),
    ("gpu.price.usd_per_gpu_hour", float(0.0, 10_000.0)),
    ("gpu.overheads.runtime_gib", float(0.0, 1024.0)),
    ("gpu.all_reduce_shape.bytes", float(1.0, 1e15)),
    ("gpu.all_reduce_shape.over_alpha_beta", float(0.01, 100.0)),
    ("gpu.custom_all_reduce.bytes", float(1.0, 1e15)),
    ("gpu.routing_skew.tokens_per_expert", float(0.001, 1e9)),
    ("gpu.routing_skew.over_balanced", float(0.01, 100.0)),
    // 10 ns to 1 s, like the other fixed times but positive.
    ("gpu.custom_all_reduce.us", float(0.01, 1e6)),
];

/// The range of a GPU float field listed in [`GPU_FLOATS`].
pub fn gpu_float(key: &str) -> FloatRange {
    GPU_FLOATS
        .iter()
        .find(|(k, _)| *k == key)
        .map_or(float(f64::MIN, f64::MAX), |(_, r)| *r)
}

/// The range of a model integer field listed in [`MODEL_INTS`].
pub fn model_int(key: &str) -> IntRange {
    MODEL_INTS
        .iter()
        .chain(GPU_INTS)
        .find(|(k, _)| *k == key)
        .map_or(int(0, u64::MAX), |(_, r)| *r)
}

/// What a preset field allows, for messages ("must be an integer from 1 to 65,536"), or `None`
/// for a field with no range here: the tables above, `gpu.tflops.*`, and by the GPU preset's
/// naming (methodology §8) the fixed times (`*_us`, `*_ns`: [`FIXED_TIME`]) and the
/// efficiencies and shares ([`FRACTION`]).
pub fn field_allowed(key: &str) -> Option<String> {
    if let Some((_, r)) = MODEL_INTS.iter().chain(GPU_INTS).find(|(k, _)| *k == key) {
        return Some(r.allowed());
    }
    if let Some((_, r)) = GPU_FLOATS.iter().find(|(k, _)| {
        *k == key
            || k.strip_suffix('*')
                .is_some_and(|prefix| key.starts_with(prefix))
    }) {
        return Some(r.allowed());
    }
    let gpu = key.strip_prefix("gpu.")?;
    if gpu == "efficiency.attention_half_context" {
        Some(CONTEXT_TOKENS.allowed())
    } else if gpu.ends_with("_us") || gpu.ends_with("_ns") {
        Some(FIXED_TIME.allowed())
    } else if gpu.starts_with("efficiency.")
        || gpu.ends_with("_fraction")
        || gpu.ends_with("_share")
        || (gpu.starts_with("fused_moe.")
            && (gpu.ends_with(".compute") || gpu.ends_with(".memory")))
    {
        Some(FRACTION.allowed())
    } else {
        None
    }
}

/// Thousands separators for messages: 65536 → "65,536".
pub fn grouped(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

impl IntRange {
    /// `Ok(v)` when in range, else "`what` `v`: must be an integer from MIN to MAX".
    pub fn check(self, what: &str, v: u64) -> Result<u64, String> {
        if (self.min..=self.max).contains(&v) {
            Ok(v)
        } else {
            Err(format!("{what} {v}: {}", self.allowed()))
        }
    }

    /// "must be an integer from MIN to MAX".
    pub fn allowed(self) -> String {
        format!(
            "must be an integer from {} to {}",
            grouped(self.min),
            grouped(self.max)
        )
    }
}

impl FloatRange {
    /// `Ok(v)` when finite and in range, else "`what` `v`: must be a number from MIN to MAX".
    pub fn check(self, what: &str, v: f64) -> Result<f64, String> {
        if v.is_finite() && v >= self.min && v <= self.max {
            Ok(v)
        } else {
            Err(format!("{what} {}: {}", short(v), self.allowed()))
        }
    }

    /// "must be a finite number from MIN to MAX".
    pub fn allowed(self) -> String {
        format!(
            "must be a finite number from {} to {}",
            short(self.min),
            short(self.max)
        )
    }
}

/// A number for messages, in its shorter form: `1e18`, `0.001`, `1e-6`, `1048576`.
pub fn short(v: f64) -> String {
    let (plain, exp) = (format!("{v}"), format!("{v:e}"));
    if exp.len() + 3 <= plain.len() {
        exp
    } else {
        plain
    }
}

/// User text quoted in a message: at most 60 characters, escaped, with its length when cut, so
/// that a megabyte-long argument makes a one-line error.
pub fn clip(text: &str) -> String {
    const KEEP: usize = 60;
    if text.chars().count() <= KEEP {
        text.escape_debug().to_string()
    } else {
        let head: String = text.chars().take(KEEP).collect();
        format!("{}… ({} bytes)", head.escape_debug(), text.len())
    }
}

/// Longest preset name, in characters.
pub const NAME_MAX_CHARS: usize = 128;

/// Check a preset's `name` (it heads table cells, CSV fields and notes): 1 to 128 characters,
/// none of them a control character such as a newline.
pub fn check_name(field: &str, name: &str) -> Result<(), String> {
    let n = name.chars().count();
    if n == 0 || n > NAME_MAX_CHARS || name.chars().any(char::is_control) {
        return Err(format!(
            "{field} = \"{}\": must be 1 to {NAME_MAX_CHARS} characters, with no control characters such as a newline",
            clip(name)
        ));
    }
    Ok(())
}

/// Check an integer flag by name: "--tp 100000: must be an integer from 1 to 65,536".
pub fn check_flag(flag: &str, v: u64) -> Result<u64, String> {
    let range = flag_range(flag);
    if (range.min..=range.max).contains(&v) {
        // The hot path (every configuration of a sweep): no message built.
        return Ok(v);
    }
    range.check(&format!("--{flag}"), v)
}

/// Check a float flag by name.
pub fn check_float_flag(flag: &str, v: f64) -> Result<f64, String> {
    float_flag_range(flag).check(&format!("--{flag}"), v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_accept_their_ends_and_reject_outside() {
        assert_eq!(check_flag("tp", 65_536), Ok(65_536));
        let err = check_flag("tp", 65_537).unwrap_err();
        assert_eq!(err, "--tp 65537: must be an integer from 1 to 65,536");
        assert!(check_flag("batch", 0).is_err());
        assert!(check_float_flag("mfu", 1e-320).is_err());
        assert!(check_float_flag("mfu", f64::NAN).is_err());
        assert!(check_float_flag("rate", 1e-310).is_err());
        assert!(check_float_flag("tokens", 1e308).is_err());
        assert!(check_float_flag("draft-ratio", 0.0).is_ok());
    }

    #[test]
    fn float_messages_stay_short() {
        let err = check_float_flag("tokens", 1e308).unwrap_err();
        assert_eq!(
            err,
            "--tokens 1e308: must be a finite number from 1 to 1e18"
        );
        let err = check_float_flag("rate", f64::INFINITY).unwrap_err();
        assert_eq!(err, "--rate inf: must be a finite number from 1e-6 to 1e6");
    }

    #[test]
    fn clip_keeps_messages_short() {
        assert_eq!(clip("h100"), "h100");
        assert_eq!(clip("a\nb"), "a\\nb");
        let long = "x".repeat(100_000);
        let c = clip(&long);
        assert!(c.len() < 100 && c.ends_with("(100000 bytes)"), "{c}");
    }

    #[test]
    fn grouped_digits() {
        assert_eq!(grouped(1), "1");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(1_073_741_824), "1,073,741,824");
    }

    #[test]
    fn worst_case_products_do_not_overflow() {
        // Two pools of replicas × a replica's GPUs (at most MAX_GPUS, checked with the layout).
        let pools = MAX_DEGREE
            .checked_mul(MAX_GPUS)
            .and_then(|g| g.checked_mul(2));
        assert!(pools.is_some());
        // A replica's tp × dp × pp before that check.
        assert!(MAX_DEGREE.checked_pow(3).is_some());
        // train: seq_len × micro_batch, and dp × micro_batch.
        assert!(MAX_TOKENS.checked_mul(MAX_BATCH).is_some());
        assert!(MAX_GPUS.checked_mul(MAX_BATCH).is_some());
    }
}
