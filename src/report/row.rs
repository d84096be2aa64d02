//! The inference row: the contract's field names in the contract's order, SI units, and access to
//! any field by name (for `--sort` and `--require`).

use crate::fields::{Kind, Record, Value};
use crate::perf::Estimate;
use serde::Serialize;

/// One output row (`sweep`, `estimate`), serialised as-is to JSON and CSV.
#[derive(Clone, Debug, Serialize)]
#[allow(missing_docs)] // the field names are the contract (docs/output.md)
pub struct Row {
    pub model: String,
    pub gpu: String,
    pub gpus: u64,
    pub layout: String,
    pub tp: u64,
    pub dp: u64,
    pub pp: u64,
    pub ep: u64,
    pub prefill_layout: String,
    pub batch: u64,
    pub input_len: u64,
    pub output_len: u64,
    pub dtype: &'static str,
    pub kv_dtype: &'static str,
    /// Precision of the linear layers outside the MLPs: attention projections, router, head (=
    /// `dtype` unless the checkpoint quantises only its MLPs).
    pub dense_dtype: &'static str,
    /// Precision of the attention output projection (= `dense_dtype` unless the checkpoint
    /// quantises it apart).
    pub attn_out_dtype: &'static str,
    pub fits: bool,
    pub weights_bytes_per_gpu: f64,
    pub kv_bytes_per_gpu: f64,
    pub mem_bytes_per_gpu: f64,
    pub gpu_mem_bytes: f64,
    pub ttft_s: f64,
    pub tpot_s: f64,
    pub e2e_s: f64,
    pub output_tokens_per_s: f64,
    pub output_tokens_per_s_per_gpu: f64,
    pub output_tokens_per_s_per_user: f64,
    pub mfu: f64,
    pub mbu: f64,
    pub decode_bound: &'static str,
    pub experts_per_step: f64,
    pub cost_per_hour_usd: f64,
    pub usd_per_1m_output_tokens: f64,
    pub usd_per_1m_input_tokens: f64,
    pub input_tokens_per_s_per_gpu: f64,
    pub decode_tokens_per_s_per_gpu: f64,
    /// The precision the matmuls run in: the weight dtype, or 16 bits for weight-only
    /// quantisation (int4 everywhere; fp8 and int8 on a GPU without an 8-bit rate).
    pub matmul_dtype: &'static str,
    /// The simulated request stream on this configuration: `None` without `--rate` (no field in
    /// the JSON), `Some(None)` for a row `--rate` does not simulate (`null`: it does not fit, lies
    /// beyond the rows simulated, or its run could not finish), `Some(Some(_))` for one it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub simulation: Option<Option<crate::sim::SimResult>>,
}

impl Row {
    /// A row for an estimate of `model` on `gpu`.
    pub fn new(model: &str, gpu: &str, e: &Estimate) -> Self {
        let c = &e.config;
        Row {
            model: model.to_string(),
            gpu: gpu.to_string(),
            gpus: e.gpus,
            layout: c.layout().name(),
            tp: c.tp,
            dp: c.dp,
            pp: c.pp,
            ep: c.ep,
            prefill_layout: c.prefill_layout().name(),
            batch: c.batch,
            input_len: c.input_len,
            output_len: c.output_len,
            dtype: c.dtype.name(),
            kv_dtype: c.kv_dtype.name(),
            dense_dtype: c.dense_dtype().name(),
            attn_out_dtype: c.attn_out_dtype().name(),
            fits: e.fits,
            weights_bytes_per_gpu: e.weights_bytes_per_gpu,
            kv_bytes_per_gpu: e.kv_bytes_per_gpu,
            mem_bytes_per_gpu: e.mem_bytes_per_gpu,
            gpu_mem_bytes: e.gpu_mem_bytes,
            ttft_s: e.ttft_s,
            tpot_s: e.tpot_s,
            e2e_s: e.e2e_s,
            output_tokens_per_s: e.output_tokens_per_s,
            output_tokens_per_s_per_gpu: e.output_tokens_per_s_per_gpu,
            output_tokens_per_s_per_user: e.output_tokens_per_s_per_user,
            mfu: e.mfu,
            mbu: e.mbu,
            decode_bound: e.decode_bound.name(),
            experts_per_step: e.experts_per_step,
            cost_per_hour_usd: e.cost_per_hour_usd,
            usd_per_1m_output_tokens: e.usd_per_1m_output_tokens,
            usd_per_1m_input_tokens: e.usd_per_1m_input_tokens,
            input_tokens_per_s_per_gpu: e.input_tokens_per_s_per_gpu,
            decode_tokens_per_s_per_gpu: e.decode_tokens_per_s_per_gpu,
            matmul_dtype: e.breakdown.math_dtype.map_or(c.dtype.name(), |d| d.name()),
            simulation: None,
        }
    }
}

/// Every row field name, in order (the CSV header).
pub const FIELDS: [&str; 37] = [
    "model",
    "gpu",
    "gpus",
    "layout",
    "tp",
    "dp",
    "pp",
    "ep",
    "prefill_layout",
    "batch",
    "input_len",
    "output_len",
    "dtype",
    "kv_dtype",
    "dense_dtype",
    "attn_out_dtype",
    "fits",
    "weights_bytes_per_gpu",
    "kv_bytes_per_gpu",
    "mem_bytes_per_gpu",
    "gpu_mem_bytes",
    "ttft_s",
    "tpot_s",
    "e2e_s",
    "output_tokens_per_s",
    "output_tokens_per_s_per_gpu",
    "output_tokens_per_s_per_user",
    "mfu",
    "mbu",
    "decode_bound",
    "experts_per_step",
    "cost_per_hour_usd",
    "usd_per_1m_output_tokens",
    "usd_per_1m_input_tokens",
    "input_tokens_per_s_per_gpu",
    "decode_tokens_per_s_per_gpu",
    "matmul_dtype",
];

/// The CSV header with `--rate`: every row field, then the simulation's, each named by its path in
/// the row's JSON (`simulation.ttft_s.p50`); empty on a row that is not simulated, and the TPOT
/// percentiles empty when no request produced a second token.
pub const FIELDS_WITH_SIMULATION: [&str; 37 + 21] = {
    const SIM: [&str; 21] = [
        "simulation.completed",
        "simulation.ttft_s.p50",
        "simulation.ttft_s.p90",
        "simulation.ttft_s.p99",
        "simulation.tpot_s.p50",
        "simulation.tpot_s.p90",
        "simulation.tpot_s.p99",
        "simulation.e2e_s.p50",
        "simulation.e2e_s.p90",
        "simulation.e2e_s.p99",
        "simulation.mean_queue_s",
        "simulation.output_tokens_per_s",
        "simulation.mean_batch",
        "simulation.backlog",
        "simulation.offered_output_tokens_per_s",
        "simulation.served_output_tokens_per_s",
        "simulation.in_system_at_half",
        "simulation.in_system_at_last",
        "simulation.overloaded",
        "simulation.budget_exhausted",
        "simulation.settled",
    ];
    let mut out = [""; 37 + 21];
    let mut i = 0;
    while i < FIELDS.len() {
        out[i] = FIELDS[i];
        i += 1;
    }
    while i < out.len() {
        out[i] = SIM[i - FIELDS.len()];
        i += 1;
    }
    out
};

/// An estimate with the names a row carries: the record `--sort` and `--require` read.
#[derive(Clone, Copy, Debug)]
pub struct Named<'a> {
    /// The estimate.
    pub est: &'a Estimate,
    /// Model preset name.
    pub model: &'a str,
    /// GPU preset name.
    pub gpu: &'a str,
}

impl Record for Named<'_> {
    const FIELDS: &'static [&'static str] = &FIELDS;

    fn value(&self, index: usize) -> Value<'_> {
        let (e, c) = (self.est, &self.est.config);
        let n = |x: u64| Value::Num(x as f64);
        match FIELDS[index] {
            "model" => Value::Str(self.model),
            "gpu" => Value::Str(self.gpu),
            "gpus" => n(e.gpus),
            "layout" => Value::Owned(c.layout().name()),
            "tp" => n(c.tp),
            "dp" => n(c.dp),
            "pp" => n(c.pp),
            "ep" => n(c.ep),
            "prefill_layout" => Value::Owned(c.prefill_layout().name()),
            "batch" => n(c.batch),
            "input_len" => n(c.input_len),
            "output_len" => n(c.output_len),
            "dtype" => Value::Str(c.dtype.name()),
            "kv_dtype" => Value::Str(c.kv_dtype.name()),
            "dense_dtype" => Value::Str(c.dense_dtype().name()),
            "attn_out_dtype" => Value::Str(c.attn_out_dtype().name()),
            "fits" => Value::Bool(e.fits),
            "weights_bytes_per_gpu" => Value::Num(e.weights_bytes_per_gpu),
            "kv_bytes_per_gpu" => Value::Num(e.kv_bytes_per_gpu),
            "mem_bytes_per_gpu" => Value::Num(e.mem_bytes_per_gpu),
            "gpu_mem_bytes" => Value::Num(e.gpu_mem_bytes),
            "ttft_s" => Value::Num(e.ttft_s),
            "tpot_s" => Value::Num(e.tpot_s),
            "e2e_s" => Value::Num(e.e2e_s),
            "output_tokens_per_s" => Value::Num(e.output_tokens_per_s),
            "output_tokens_per_s_per_gpu" => Value::Num(e.output_tokens_per_s_per_gpu),
            "output_tokens_per_s_per_user" => Value::Num(e.output_tokens_per_s_per_user),
            "mfu" => Value::Num(e.mfu),
            "mbu" => Value::Num(e.mbu),
            "decode_bound" => Value::Str(e.decode_bound.name()),
            "experts_per_step" => Value::Num(e.experts_per_step),
            "cost_per_hour_usd" => Value::Num(e.cost_per_hour_usd),
            "usd_per_1m_output_tokens" => Value::Num(e.usd_per_1m_output_tokens),
            "usd_per_1m_input_tokens" => Value::Num(e.usd_per_1m_input_tokens),
            "input_tokens_per_s_per_gpu" => Value::Num(e.input_tokens_per_s_per_gpu),
            "matmul_dtype" => {
                Value::Str(e.breakdown.math_dtype.map_or(c.dtype.name(), |d| d.name()))
            }
            _ => Value::Num(e.decode_tokens_per_s_per_gpu),
        }
    }

    fn kind(index: usize) -> Kind {
        match FIELDS[index] {
            "model" | "gpu" | "layout" | "prefill_layout" | "dtype" | "kv_dtype"
            | "dense_dtype" | "attn_out_dtype" | "decode_bound" | "matmul_dtype" => Kind::Str,
            "fits" => Kind::Bool,
            _ => Kind::Num,
        }
    }

    fn higher_is_better(index: usize) -> bool {
        matches!(
            FIELDS[index],
            "fits"
                | "output_tokens_per_s"
                | "output_tokens_per_s_per_gpu"
                | "output_tokens_per_s_per_user"
                | "mfu"
                | "mbu"
                | "input_tokens_per_s_per_gpu"
                | "decode_tokens_per_s_per_gpu"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_match_the_serialised_row() {
        let json = serde_json::to_value(Row {
            model: "m".into(),
            gpu: "g".into(),
            gpus: 0,
            layout: String::new(),
            tp: 0,
            dp: 0,
            pp: 0,
            ep: 0,
            prefill_layout: String::new(),
            batch: 0,
            input_len: 0,
            output_len: 0,
            dtype: "",
            kv_dtype: "",
            dense_dtype: "",
            attn_out_dtype: "",
            fits: false,
            weights_bytes_per_gpu: 0.0,
            kv_bytes_per_gpu: 0.0,
            mem_bytes_per_gpu: 0.0,
            gpu_mem_bytes: 0.0,
            ttft_s: 0.0,
            tpot_s: 0.0,
            e2e_s: 0.0,
            output_tokens_per_s: 0.0,
            output_tokens_per_s_per_gpu: 0.0,
            output_tokens_per_s_per_user: 0.0,
            mfu: 0.0,
            mbu: 0.0,
            decode_bound: "",
            experts_per_step: 0.0,
            cost_per_hour_usd: 0.0,
            usd_per_1m_output_tokens: 0.0,
            usd_per_1m_input_tokens: 0.0,
            input_tokens_per_s_per_gpu: 0.0,
            decode_tokens_per_s_per_gpu: 0.0,
            matmul_dtype: "",
            simulation: None,
        })
        .unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut want = FIELDS.to_vec();
        let mut got = keys.clone();
        want.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, want);
    }
}
