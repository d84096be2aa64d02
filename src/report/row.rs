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
    pub tp: u64,
    pub pp: u64,
    pub ep: u64,
    pub batch: u64,
    pub input_len: u64,
    pub output_len: u64,
    pub dtype: &'static str,
    pub kv_dtype: &'static str,
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
    /// With `--rate`: the simulated request stream on this configuration (JSON only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub simulation: Option<crate::sim::SimResult>,
}

impl Row {
    /// A row for an estimate of `model` on `gpu`.
    pub fn new(model: &str, gpu: &str, e: &Estimate) -> Self {
        let c = &e.config;
        Row {
            model: model.to_string(),
            gpu: gpu.to_string(),
            gpus: e.gpus,
            tp: c.tp,
            pp: c.pp,
            ep: c.ep,
            batch: c.batch,
            input_len: c.input_len,
            output_len: c.output_len,
            dtype: c.dtype.name(),
            kv_dtype: c.kv_dtype.name(),
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
            simulation: None,
        }
    }
}

/// Every row field name, in order (the CSV header).
pub const FIELDS: [&str; 29] = [
    "model",
    "gpu",
    "gpus",
    "tp",
    "pp",
    "ep",
    "batch",
    "input_len",
    "output_len",
    "dtype",
    "kv_dtype",
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
];

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
        match index {
            0 => Value::Str(self.model),
            1 => Value::Str(self.gpu),
            2 => n(e.gpus),
            3 => n(c.tp),
            4 => n(c.pp),
            5 => n(c.ep),
            6 => n(c.batch),
            7 => n(c.input_len),
            8 => n(c.output_len),
            9 => Value::Str(c.dtype.name()),
            10 => Value::Str(c.kv_dtype.name()),
            11 => Value::Bool(e.fits),
            12 => Value::Num(e.weights_bytes_per_gpu),
            13 => Value::Num(e.kv_bytes_per_gpu),
            14 => Value::Num(e.mem_bytes_per_gpu),
            15 => Value::Num(e.gpu_mem_bytes),
            16 => Value::Num(e.ttft_s),
            17 => Value::Num(e.tpot_s),
            18 => Value::Num(e.e2e_s),
            19 => Value::Num(e.output_tokens_per_s),
            20 => Value::Num(e.output_tokens_per_s_per_gpu),
            21 => Value::Num(e.output_tokens_per_s_per_user),
            22 => Value::Num(e.mfu),
            23 => Value::Num(e.mbu),
            24 => Value::Str(e.decode_bound.name()),
            25 => Value::Num(e.experts_per_step),
            26 => Value::Num(e.cost_per_hour_usd),
            27 => Value::Num(e.usd_per_1m_output_tokens),
            _ => Value::Num(e.usd_per_1m_input_tokens),
        }
    }

    fn kind(index: usize) -> Kind {
        match index {
            0 | 1 | 9 | 10 | 24 => Kind::Str,
            11 => Kind::Bool,
            _ => Kind::Num,
        }
    }

    fn higher_is_better(index: usize) -> bool {
        matches!(index, 11 | 19 | 20 | 21 | 22 | 23)
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
            tp: 0,
            pp: 0,
            ep: 0,
            batch: 0,
            input_len: 0,
            output_len: 0,
            dtype: "",
            kv_dtype: "",
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
