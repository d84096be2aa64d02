//! Reliability: how failures, checkpoints and restarts stretch a training run's wall clock.
//!
//! With a job of `n` GPUs each failing at rate 1/MTBF, the job fails every `MTBF/n` hours. A run
//! that checkpoints every `τ` seconds at a cost of `δ` seconds loses, per unit of time, the
//! checkpoint overhead `δ/τ` and, per failure, half an interval of lost work plus the restart
//! time `R` (Young 1974; Daly 2006, first-order):
//! `waste = δ/τ + (τ/2 + R) / MTBF_job`, `goodput = 1 − waste` (floored at 1%).

/// Failure and checkpoint parameters.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Reliability {
    /// Mean time between failures of one GPU (with its share of host, network, software), hours.
    pub gpu_mtbf_hours: f64,
    /// Seconds between checkpoints; `None` = Young's optimum √(2·δ·MTBF_job).
    pub checkpoint_interval_s: Option<f64>,
    /// Seconds the job stalls to write one checkpoint.
    pub checkpoint_write_s: f64,
    /// Seconds from a failure to training again (detection, rescheduling, reload).
    pub restart_s: f64,
}

impl Reliability {
    /// Useful fraction of wall time for a job of `gpus` GPUs (step time bounds the interval below).
    pub fn goodput(&self, gpus: u64, step_time_s: f64) -> f64 {
        let mtbf_job_s = self.gpu_mtbf_hours * 3600.0 / gpus.max(1) as f64;
        let tau = self
            .checkpoint_interval_s
            .unwrap_or_else(|| (2.0 * self.checkpoint_write_s * mtbf_job_s).sqrt())
            .max(step_time_s);
        let waste = self.checkpoint_write_s / tau + (tau / 2.0 + self.restart_s) / mtbf_job_s;
        (1.0 - waste).max(0.01)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::assert_close;

    #[test]
    fn young_daly_waste() {
        // 25,000 GPUs at a 50,000-hour MTBF fail every 2 h = 7,200 s. Checkpoint every 1,800 s at
        // 60 s, restart 600 s: waste = 60/1800 + (900 + 600)/7200 = 0.0333 + 0.2083.
        let r = Reliability {
            gpu_mtbf_hours: 50_000.0,
            checkpoint_interval_s: Some(1800.0),
            checkpoint_write_s: 60.0,
            restart_s: 600.0,
        };
        assert_close(r.goodput(25_000, 30.0), 1.0 - 0.033_333 - 0.208_333, 1e-4);
        // Never failing GPUs cost only the checkpoints.
        let ideal = Reliability {
            gpu_mtbf_hours: f64::INFINITY,
            ..r
        };
        assert_close(ideal.goodput(25_000, 30.0), 1.0 - 60.0 / 1800.0, 1e-9);
    }
}
