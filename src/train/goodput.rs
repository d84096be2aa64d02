//! Reliability: how failures, checkpoints and restarts stretch a training run's wall clock.
//!
//! With a job of `n` GPUs each failing at rate 1/MTBF, the job fails every `M = MTBF/n` seconds.
//! A run that computes `τ` seconds between checkpoints that take `δ` seconds, and restarts in `R`
//! seconds after a failure, spends in expectation `M·e^(R/M)·(e^((τ+δ)/M) − 1)` wall seconds per
//! `τ` seconds of work under exponential failures (Daly 2006, "A higher order estimate of the
//! optimum checkpoint interval", eq. 13), so
//! `goodput = τ / (M·e^(R/M)·(e^((τ+δ)/M) − 1))`: in (0, 1] at any failure rate, and
//! `1 − δ/τ − (τ/2 + R)/M` to first order (Young 1974).

/// Failure and checkpoint parameters.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Reliability {
    /// Mean time between failures of one GPU (with its share of host, network, software), hours.
    pub gpu_mtbf_hours: f64,
    /// Seconds of work between checkpoints; `None` = Daly's optimum (`optimum_interval_s`).
    pub checkpoint_interval_s: Option<f64>,
    /// Seconds the job stalls to write one checkpoint.
    pub checkpoint_write_s: f64,
    /// Seconds from a failure to training again (detection, rescheduling, reload).
    pub restart_s: f64,
}

impl Reliability {
    /// Useful fraction of wall time for a job of `gpus` GPUs (a step bounds the interval below):
    /// Daly's expected wall time per interval of work, computed in logarithms so that a job that
    /// fails far more often than it can checkpoint gets a goodput near 0, never an overflow.
    pub fn goodput(&self, gpus: u64, step_time_s: f64) -> f64 {
        let m = self.job_mtbf_s(gpus);
        if m.is_infinite() {
            let tau = self.interval_s(m).max(step_time_s);
            return tau / (tau + self.checkpoint_write_s);
        }
        let tau = self.interval_s(m).max(step_time_s);
        let x = (tau + self.checkpoint_write_s) / m;
        // ln(e^x − 1), exact for small x and without overflow for large.
        let ln_expm1 = if x < 30.0 {
            x.exp_m1().ln()
        } else {
            x + (-(-x).exp()).ln_1p()
        };
        (tau.ln() - m.ln() - self.restart_s / m - ln_expm1)
            .exp()
            .min(1.0)
    }

    /// Seconds between failures of a job of `gpus` GPUs.
    pub fn job_mtbf_s(&self, gpus: u64) -> f64 {
        self.gpu_mtbf_hours * 3600.0 / gpus.max(1) as f64
    }

    /// The interval of work between checkpoints for a job failing every `m` seconds: the given
    /// one, or Daly 2006's higher-order optimum (eq. 37): √(2δm)·(1 + √(δ/2m)/3 + (δ/2m)/9) − δ
    /// for δ < 2m, else m.
    fn interval_s(&self, m: f64) -> f64 {
        self.checkpoint_interval_s.unwrap_or_else(|| {
            let d = self.checkpoint_write_s;
            if d < 2.0 * m {
                let r = d / (2.0 * m);
                (2.0 * d * m).sqrt() * (1.0 + r.sqrt() / 3.0 + r / 9.0) - d
            } else {
                m
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::assert_close;

    #[test]
    fn daly_expected_wall_time() {
        // 25,000 GPUs at a 50,000-hour MTBF fail every 2 h = 7,200 s. Checkpoint every 1,800 s at
        // 60 s, restart 600 s: Daly's wall time per interval 7200·e^(600/7200)·(e^(1860/7200) − 1)
        // = 2,306.6 s, goodput 1800 / 2306.6 = 0.7804 (first order, Young: 1 − 0.0333 − 0.2083 =
        // 0.758).
        let r = Reliability {
            gpu_mtbf_hours: 50_000.0,
            checkpoint_interval_s: Some(1800.0),
            checkpoint_write_s: 60.0,
            restart_s: 600.0,
        };
        let want = 1800.0 / (7200.0 * (600.0f64 / 7200.0).exp() * (1860.0f64 / 7200.0).exp_m1());
        assert_close(r.goodput(25_000, 30.0), want, 1e-12);
        assert_close(want, 0.7804, 1e-3);
        // Never failing GPUs cost only the checkpoints.
        let ideal = Reliability {
            gpu_mtbf_hours: f64::INFINITY,
            ..r
        };
        assert_close(ideal.goodput(25_000, 30.0), 1800.0 / 1860.0, 1e-12);
    }

    #[test]
    fn rare_failures_reduce_to_young_first_order() {
        // Failures every 10^7 s, checkpoints of 10 s every 10^4 s, restarts of 100 s: the exact
        // form and 1 − δ/τ − (τ/2 + R)/M agree to second order (≈ 1e-6 here).
        let r = Reliability {
            gpu_mtbf_hours: 1e7 / 3600.0,
            checkpoint_interval_s: Some(1e4),
            checkpoint_write_s: 10.0,
            restart_s: 100.0,
        };
        let first = 1.0 - 10.0 / 1e4 - (5e3 + 100.0) / 1e7;
        assert!((r.goodput(1, 1.0) - first).abs() < 2e-6);
    }

    #[test]
    fn failures_faster_than_a_checkpoint_leave_almost_nothing_and_no_overflow() {
        // 100,000 GPUs at 10 h: a failure every 0.36 s against 60 s checkpoints. The first-order
        // form went negative (and was floored at 1%); the exact one is tiny, positive and finite,
        // and reaches exactly 0 only past f64's range, never NaN.
        let r = Reliability {
            gpu_mtbf_hours: 10.0,
            checkpoint_interval_s: None,
            checkpoint_write_s: 60.0,
            restart_s: 600.0,
        };
        for (gpus, step) in [(100_000, 30.0), (1_000_000, 1e5), (10_000, 5.0)] {
            let g = r.goodput(gpus, step);
            assert!((0.0..1e-3).contains(&g), "{gpus} GPUs: {g}");
        }
        // Daly's optimum interval shortens toward the failure interval as failures quicken.
        assert!(r.interval_s(1e5) < r.interval_s(1e6));
        assert_close(r.interval_s(20.0), 20.0, 1e-12);
    }
}
