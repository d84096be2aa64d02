//! Serving throughput and cost (docs/methodology.md §7.3, §7.5, §9): how the decode and prefill
//! phases share a replica (continuous or static batching) or split into pools (disaggregation),
//! and what the GPUs cost per token.

use super::config::{Batching, Config};
use super::context::Context;
use crate::units;

/// What a user and the operator see of the two phases together.
#[derive(Clone, Copy, Debug)]
pub struct Serving {
    /// Time to first token, s: the front end's latency, the wait, the prefill and, disaggregated,
    /// the decode worker's admission.
    pub ttft_s: f64,
    /// The part of it spent in the serving front end, s (0 for a static batch).
    pub latency_s: f64,
    /// The part of it spent waiting for the GPUs, s: for the iteration in flight (continuous
    /// batching), or, disaggregated, for a prefill replica (a prefill pool that is the slower)
    /// or a decode slot (a closed loop larger than the decode pool's slots).
    pub wait_s: f64,
    /// Of that wait, disaggregated: the part a busy prefill worker's forwards in flight take
    /// (`prefill_worker_wait_s`), s.
    pub worker_wait_s: f64,
    /// The part of it a disaggregated decode worker takes to receive and admit the prefilled
    /// request, s (0 otherwise).
    pub admission_s: f64,
    /// Time per output token per user, s.
    pub tpot_s: f64,
    /// Request latency, s.
    pub e2e_s: f64,
    /// Output tokens/s of the whole system (one replica, or both pools).
    pub output_tokens_per_s: f64,
    /// Share of a static batch's slot-steps that produce tokens (1 for continuous batching).
    pub useful_fraction: f64,
    /// What context-generation fusion took off a token's time, as applied (a step never shorter
    /// than its decode), s; 0 where nothing fuses.
    pub fused_saving_s: f64,
}

/// Decode iterations a prefilled request spends at a disaggregated decode worker before its first
/// token leaves, when the worker is busy (docs/methodology.md §7.5). The code paths put a floor
/// under it: TensorRT-LLM's executor takes the request in at its next iteration, starts the KV
/// receive there and schedules it, sending the first token, once a later iteration finds the
/// transfer done (`py_executor.py` `_prepare_disagg_gen_init`, `_check_disagg_gen_transfer_status`,
/// `_handle_first_token_response`): 1.5 iterations and more; SGLang's decode scheduler
/// pre-allocates at its next poll, moves the transferred request to a prebuilt batch an iteration
/// later and streams the token the iteration after (`disaggregation/decode.py`): about 3. The
/// value is measured: the median, over the calibration half of InferenceX's disaggregated
/// DeepSeek-R1 runs at concurrency ≤ 16 with at least two requests a decode replica and no more
/// than its slots, of measured median TTFT less the model's without it, in the model's decode
/// iterations (docs/calibration.md, "Forty-first session").
pub const DECODE_ADMISSION_ITERS: f64 = 5.47;

/// Whether `c`'s first token pays a decode worker's admission: a disaggregated, continuously
/// batched decode replica holding more than one sequence (an idle worker takes a request at
/// once; a static batch has no worker between requests).
pub fn pays_decode_admission(c: &Config) -> bool {
    c.disaggregate.is_some() && c.batching == Batching::Continuous && c.batch > 1
}

/// The decode iterations of that admission: `admission_iters`, and (K − 1)/2 more under a
/// scheduler that polls every K iterations (`recv_interval`).
pub fn decode_admission_iterations(admission_iters: f64, recv_interval: u64) -> f64 {
    admission_iters + (recv_interval.max(1) as f64 - 1.0) / 2.0
}

/// Combine a decode step of `decode_step_s` per token (every sequence gains a token; an
/// iteration yields `tokens_per_step` of them, more than one under speculative decoding), a
/// prefill of `ttft_s` on an idle replica and a rate of `prefill_tokens_per_s` per replica, for
/// requests that each spend `request_latency_s` in the serving front end (continuous batching:
/// a server's requests; a static batch is an offline benchmark's and pays none).
/// `paced_step_s` is the step at the decode pool's occupancy when a disaggregated loop's prefill
/// pool is the slower (`estimate::paced_decode`), else `decode_step_s`. `held_s` is the
/// mean time TensorRT-LLM's attention-DP balancing or batch waiting holds a new prompt
/// (`admission::held`; 0 when neither applies). `admission_iters` are the decode iterations a
/// disaggregated decode worker takes to receive and admit a prefilled request
/// (`DECODE_ADMISSION_ITERS` unless the runtime says otherwise).
#[allow(clippy::too_many_arguments)]
pub fn serving(
    c: &Config,
    decode_step_s: f64,
    fused_saving_s: f64,
    paced_step_s: f64,
    ttft_s: f64,
    prefill_tokens_per_s: f64,
    request_latency_s: f64,
    tokens_per_step: f64,
    recv_interval: u64,
    held_s: f64,
    admission_iters: f64,
    worker: PrefillWorker,
) -> Serving {
    let batch = c.batch as f64;
    let (s_in, n_out) = (c.input_len as f64, c.output_len as f64);
    let request_latency_s = match c.batching {
        Batching::Continuous => request_latency_s,
        Batching::Static => 0.0,
    };
    match (c.disaggregate, c.batching) {
        (Some(d), _) => {
            // TPOT: decode steps with no prefill in between, at the sequences the decode pool
            // holds (fewer than its slots when the prefill pool is the slower: it holds what
            // the prefill pool feeds). Throughput: the slower pool.
            let decode_rate = d.decode_replicas as f64 * batch / decode_step_s;
            let prefill_rate = d.prefill_replicas as f64 * prefill_tokens_per_s / s_in * n_out;
            let output_tokens_per_s = decode_rate.min(prefill_rate);
            // The first token leaves the decode worker, not the prefill pool: a busy worker
            // takes the prefilled request in at its next poll, receives its KV cache and admits
            // it to a batch, `admission_iters` iterations (docs/methodology.md §7.5), and a
            // scheduler that polls every K iterations adds (K − 1)/2 on average. The iterations
            // are the full batch's: where a slower prefill pool paces the decode pool its steps
            // are shorter, but there the prefill pool's queue holds the first token back, and a
            // paced step would let a longer prompt (a slower prefill pool, a lighter decode
            // pool) shorten the first token.
            let admission_s = if pays_decode_admission(c) {
                decode_admission_iterations(admission_iters, recv_interval)
                    * decode_step_s
                    * tokens_per_step
            } else {
                0.0
            };
            let service_s = ttft_s + request_latency_s + admission_s;
            // Requests wait when a prefill pool slower than the decode pool keeps them, or when
            // the closed loop holds more than the decode pool's slots (`queued`): either way a
            // request's cycle is the loop's requests over the slower pool's rate (Little's law).
            // The decode pool's slots; the loop holds `queued` more waiting for one.
            let slots = d.decode_replicas as f64 * batch;
            let little_s = if prefill_rate < decode_rate || d.queued > 0 {
                closed_loop_ttft_s(
                    service_s,
                    slots + d.queued as f64,
                    output_tokens_per_s / n_out,
                    (n_out - 1.0) * paced_step_s,
                )
            } else {
                service_s
            };
            // Below saturation the prompts of the requests holding slots still queue for the
            // prefill pool: an offline static batch is no closed loop and waits only as Little's
            // law says.
            let (queue_s, worker_wait_s) = match c.batching {
                Batching::Continuous => {
                    // The pool's queue as one station (mean-value analysis), and at each worker
                    // the forward in flight, which a request never joins (and, under the
                    // overlap loop, the next one already formed): the worker's requests are
                    // the loop's over the replicas, at the decode pool's rate at most.
                    let mva_s = prefill_queue_wait_s(
                        slots,
                        s_in / (d.prefill_replicas as f64 * prefill_tokens_per_s),
                        service_s + (n_out - 1.0) * paced_step_s,
                    );
                    // The others' requests: an arrival does not wait for itself ((n − 1)/n
                    // of the loop's rate, as in Schweitzer's form above; none for a lone one).
                    let requests_per_s = (slots / (service_s + (n_out - 1.0) * paced_step_s))
                        .min(output_tokens_per_s / n_out)
                        * (slots - 1.0).max(0.0)
                        / slots;
                    let worker_s = prefill_worker_wait_s(
                        requests_per_s / d.prefill_replicas as f64,
                        worker.request_s,
                        worker.forward_s,
                        worker.overlap,
                    );
                    (mva_s + worker_s, worker_s)
                }
                Batching::Static => (0.0, 0.0),
            };
            let ttft_s = little_s.max(service_s + queue_s);
            Serving {
                ttft_s,
                latency_s: request_latency_s,
                wait_s: ttft_s - service_s,
                // Its share of the wait, when the wait is the one it is part of (not where
                // Little's law over the slower pool sets the first token).
                worker_wait_s: if little_s > service_s + queue_s {
                    0.0
                } else {
                    worker_wait_s
                },
                admission_s,
                tpot_s: paced_step_s,
                e2e_s: ttft_s + (n_out - 1.0) * paced_step_s,
                output_tokens_per_s,
                useful_fraction: 1.0,
                fused_saving_s: 0.0,
            }
        }
        (None, Batching::Continuous) => {
            // Every request's prompt costs the replica s_in / prefill rate seconds; B/N requests
            // finish and are replaced per decode step, so each step also carries their prefills.
            // Where the runtime runs a step's decode rows and prompt chunk as one forward,
            // the chunk's linear pass rides the decode step's (`fused_saving_s` a token,
            // `estimate::fused_saving_per_token_s`); a step never takes less than its decode.
            let unfused_s = decode_step_s + batch / n_out * s_in / prefill_tokens_per_s;
            let t = (unfused_s - fused_saving_s).max(decode_step_s);
            // A request arriving at a busy replica waits for the iteration in flight (a closed
            // loop's next request follows the end of the previous one's last iteration, when
            // the next has begun): one iteration, on average `t` per token times the tokens an
            // iteration yields, when others are running. A scheduler that polls for new
            // requests every K decode iterations (SGLang's --scheduler-recv-interval) takes it
            // at the next poll: 1 to K iterations after its arrival, (K + 1)/2 on average.
            // TensorRT-LLM's attention-DP balancing or batch waiting then holds the prompt for
            // others (`admission`): `held_s` more.
            let wait_s = if batch > 1.0 {
                (recv_interval.max(1) as f64 + 1.0) / 2.0 * t * tokens_per_step + held_s
            } else {
                0.0
            };
            let ttft_s = ttft_s + request_latency_s + wait_s;
            Serving {
                ttft_s,
                latency_s: request_latency_s,
                wait_s,
                worker_wait_s: 0.0,
                admission_s: 0.0,
                tpot_s: t,
                e2e_s: ttft_s + (n_out - 1.0) * t,
                output_tokens_per_s: batch / t,
                useful_fraction: 1.0,
                fused_saving_s: unfused_s - t,
            }
        }
        (None, Batching::Static) => {
            // The batch decodes until its longest request ends (E[max] steps); a request's own
            // latency ends with its own last token.
            let (mean_n, max_n) = c.output_dist.mean_and_max(n_out, batch);
            let batch_s = ttft_s + (max_n - 1.0) * decode_step_s;
            Serving {
                ttft_s,
                latency_s: 0.0,
                wait_s: 0.0,
                worker_wait_s: 0.0,
                admission_s: 0.0,
                tpot_s: decode_step_s,
                e2e_s: ttft_s + (mean_n - 1.0) * decode_step_s,
                output_tokens_per_s: batch * mean_n / batch_s,
                useful_fraction: mean_n / max_n,
                fused_saving_s: 0.0,
            }
        }
    }
}

/// Time to first token of a closed loop of `in_flight` requests that complete at
/// `requests_per_s`, each decoding for `decode_s` after its first token: by Little's law a
/// request's cycle lasts `in_flight / requests_per_s`, and what the decode does not take of it
/// is spent waiting for and in the prefill (Little 1961; docs/methodology.md §7.5). For a
/// prefill pool slower than the decode pool, the requests the decode pool cannot hold queue for
/// the prefill; for a loop larger than the decode pool's slots, the extra requests queue for a
/// slot. The wait is the rest of the cycle (at least the prefill's own `service_s`).
pub fn closed_loop_ttft_s(
    service_s: f64,
    in_flight: f64,
    requests_per_s: f64,
    decode_s: f64,
) -> f64 {
    service_s.max(in_flight / requests_per_s - decode_s)
}

/// Mean wait for the prefill pool of a closed loop of `in_flight` requests, each needing
/// `demand_s` of the pool's capacity (its prompt over the pool's prefill rate) and spending
/// `cycle_s` elsewhere (front end, its own prefill, decode): mean-value analysis of a closed
/// network with one queueing station and a delay (Reiser & Lavenberg 1980) in Schweitzer's
/// approximation (the queue an arrival sees is (n − 1)/n of the time-average one), which makes
/// it a quadratic in the queue length Q:  a·Q² + (D + Z − n·a)·Q − n·D = 0,  a = D·(n − 1)/n.
/// The wait is a·Q: the work queued ahead of the arrival.
pub fn prefill_queue_wait_s(in_flight: f64, demand_s: f64, cycle_s: f64) -> f64 {
    let (n, d, z) = (in_flight, demand_s, cycle_s);
    if n <= 1.0 || d <= 0.0 || !d.is_finite() {
        return 0.0;
    }
    let a = d * (n - 1.0) / n;
    let b = d + z - n * a;
    let q = (-b + (b * b + 4.0 * a * n * d).sqrt()) / (2.0 * a);
    a * q
}

/// One disaggregated prefill worker as `serving` sees it: the time a lone request occupies it
/// (`request_s`: its chunks, each taking the slowest stage once the pipeline is full), one forward
/// pass (`forward_s`: a chunk through the slowest stage, after which the worker takes the next)
/// and whether its scheduler runs the overlap loop (the runtime's `prefill_overlap`).
#[derive(Clone, Copy, Debug, Default)]
pub struct PrefillWorker {
    /// A lone request's occupancy of the worker, all its chunks, s.
    pub request_s: f64,
    /// One forward pass: a chunk through the slowest stage, s.
    pub forward_s: f64,
    /// The scheduler forms the next batch before it processes the one in flight.
    pub overlap: bool,
}

/// Mean time a request arriving at one prefill worker of a disaggregated pool waits for the
/// forward passes in flight (docs/methodology.md §7.5). A worker runs one forward at a time, and
/// under attention DP its ranks step together: every rank joins each forward (an idle rank with an
/// idle batch), so a request never joins a forward that has begun, whichever rank it lands on
/// (SGLang `scheduler_dp_attn_mixin.py`, every iteration's all-gather of the ranks' token
/// counts). The worker serves in gated batches: it starts a forward whenever a request waits and
/// takes all that wait. With `rate_per_s` arrivals and `x = rate_per_s · request_s` of work per
/// second, a forward that finds none waiting leaves the worker idle until the next arrival, so the
/// worker is busy a fraction `u = x / (x + e^(−x))` of the time (a cycle of one busy period
/// `request_s` and, with probability e^(−x) that nothing arrived meanwhile, an idle gap of
/// 1/rate). An arrival that finds it busy waits the forward in flight's residual, `forward_s / 2`.
/// Under the overlap loop (SGLang's default `event_loop_overlap_disagg_prefill`; TensorRT-LLM's
/// PyTorch executor without `disable_overlap_scheduler`) the scheduler forms and launches the next
/// batch before it processes the one in flight, so a request arriving during a forward also waits
/// for that next batch when it holds work, again with probability `u`:
///
/// wait = u · (forward_s / 2 + [overlap] · u · forward_s)
///
/// Far below saturation u ≈ x and the wait vanishes; at saturation it tends to 1.5 forwards,
/// beyond which the pool's own queue (`prefill_queue_wait_s`, Little's law) takes over.
pub fn prefill_worker_wait_s(
    rate_per_s: f64,
    request_s: f64,
    forward_s: f64,
    overlap: bool,
) -> f64 {
    let x = rate_per_s * request_s;
    if !(x > 0.0 && x.is_finite() && forward_s > 0.0 && forward_s.is_finite()) {
        return 0.0;
    }
    let u = x / (x + (-x).exp());
    let next_s = if overlap { u * forward_s } else { 0.0 };
    u * (forward_s / 2.0 + next_s)
}

/// GPUs and prices.
#[derive(Clone, Copy, Debug)]
pub struct Prices {
    /// GPUs serving: one replica, or both pools.
    pub gpus: u64,
    /// Price of those GPUs per hour.
    pub cost_per_hour_usd: f64,
    /// USD per million generated tokens.
    pub usd_per_1m_output_tokens: f64,
    /// USD per million prompt tokens.
    pub usd_per_1m_input_tokens: f64,
    /// Prompt tokens/s per GPU of a replica that only prefills.
    pub input_tokens_per_s_per_gpu: f64,
}

/// Prices of `c` given its decode step, the share of a static batch's slot-steps that produce
/// tokens (1 for continuous batching), the system output rate and the per-replica prefill rate.
pub fn prices(
    ctx: &Context,
    c: &Config,
    decode_step_s: f64,
    useful_fraction: f64,
    output_tokens_per_s: f64,
    prefill_tokens_per_s: f64,
) -> Prices {
    let usd_per_gpu_s = ctx.hw.usd_per_gpu_hour / units::S_PER_HOUR;
    let decode_gpus = c.gpus();
    let prefill_gpus = c.prefill_layout().gpus();
    let (s_in, n_out) = (c.input_len as f64, c.output_len as f64);
    let per_million = |usd_per_s: f64, tokens_per_s: f64| usd_per_s / tokens_per_s * 1e6;
    let (gpus, out, inp) = match c.disaggregate {
        // Each pool's cost over the tokens it handles at the system's rate.
        Some(d) => {
            let decode_pool = d.decode_replicas.saturating_mul(decode_gpus);
            let prefill_pool = d.prefill_replicas.saturating_mul(prefill_gpus);
            (
                decode_pool.saturating_add(prefill_pool),
                per_million(usd_per_gpu_s * decode_pool as f64, output_tokens_per_s),
                per_million(
                    usd_per_gpu_s * prefill_pool as f64,
                    output_tokens_per_s / n_out * s_in,
                ),
            )
        }
        None => {
            let replica_usd_per_s = usd_per_gpu_s * decode_gpus as f64;
            (
                decode_gpus,
                // A static batch's idle slot-steps are paid for by the tokens it does produce.
                per_million(
                    replica_usd_per_s * decode_step_s,
                    c.batch as f64 * useful_fraction,
                ),
                per_million(replica_usd_per_s, prefill_tokens_per_s),
            )
        }
    };
    Prices {
        gpus,
        cost_per_hour_usd: gpus as f64 * ctx.hw.usd_per_gpu_hour,
        usd_per_1m_output_tokens: out,
        usd_per_1m_input_tokens: inp,
        input_tokens_per_s_per_gpu: prefill_tokens_per_s / prefill_gpus as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::{prefill_queue_wait_s, prefill_worker_wait_s};
    use crate::testutil::assert_close;

    #[test]
    fn a_busy_prefill_worker_costs_its_forward_in_flight_and_the_next() {
        // By hand: one request a second of 1 s of prefill (x = 1) keeps a worker busy
        // u = 1 / (1 + e^-1) = 0.731059 of the time; forwards of 0.5 s cost an arrival
        // u · 0.25 = 0.182765 s in flight, and u · (0.25 + u · 0.5) = 0.449988 s under the
        // overlap loop.
        let u = 1.0 / (1.0 + (-1.0f64).exp());
        assert_close(u, 0.731_058_578_6, 1e-9);
        assert_close(prefill_worker_wait_s(1.0, 1.0, 0.5, false), u * 0.25, 1e-12);
        assert_close(
            prefill_worker_wait_s(1.0, 1.0, 0.5, true),
            u * (0.25 + u * 0.5),
            1e-12,
        );
        assert_close(prefill_worker_wait_s(1.0, 1.0, 0.5, true), 0.449_988, 1e-5);
        // Idle and saturated limits: nothing without arrivals; half a forward, or one and a
        // half under the overlap loop, when the worker never idles.
        assert!(prefill_worker_wait_s(0.0, 1.0, 0.5, true) == 0.0);
        assert!(prefill_worker_wait_s(1e-9, 1.0, 0.5, true) < 1e-9);
        assert_close(prefill_worker_wait_s(1e3, 1.0, 0.5, false), 0.25, 1e-9);
        assert_close(prefill_worker_wait_s(1e3, 1.0, 0.5, true), 0.75, 1e-9);
        // Never a NaN from a degenerate input.
        assert!(prefill_worker_wait_s(f64::INFINITY, 1.0, 0.5, true) == 0.0);
        assert!(prefill_worker_wait_s(1.0, 1.0, f64::NAN, true) == 0.0);
        // It grows with the load.
        let mut last = 0.0;
        for k in 1..100 {
            let w = prefill_worker_wait_s(0.05 * k as f64, 1.0, 0.5, true);
            assert!(w > last);
            last = w;
        }
    }

    /// Schweitzer's mean-value analysis by hand: two requests, each needing 1 s of the pool and
    /// spending 1 s elsewhere. a = 1·(2 − 1)/2 = 0.5, b = 1 + 1 − 2·0.5 = 1, so
    /// 0.5·Q² + Q − 2 = 0, Q = √5 − 1 and the wait a·Q = (√5 − 1)/2 = 0.618 s (exact MVA: 0.5 s).
    #[test]
    fn the_prefill_queue_wait_solves_schweitzers_quadratic() {
        assert_close(
            prefill_queue_wait_s(2.0, 1.0, 1.0),
            (5f64.sqrt() - 1.0) / 2.0,
            1e-12,
        );
        // Alone, or with no demand on the pool, nobody waits.
        assert!(prefill_queue_wait_s(1.0, 1.0, 1.0) == 0.0);
        assert!(prefill_queue_wait_s(100.0, 0.0, 1.0) == 0.0);
    }

    /// The limits: far below saturation the wait vanishes; far beyond it Little's law holds,
    /// n requests cycle in n·D, so the wait is n·D less the time spent elsewhere and the
    /// request's own share; in between it grows with the load.
    #[test]
    fn the_prefill_queue_wait_meets_littles_law_when_saturated() {
        let (d, z) = (0.01, 10.0);
        assert!(prefill_queue_wait_s(10.0, d, z) < 1e-4);
        let n = 10_000.0;
        assert_close(prefill_queue_wait_s(n, d, z), n * d - z - d, 1e-3);
        let mut last = 0.0;
        for n in (2..4000).step_by(50) {
            let w = prefill_queue_wait_s(n as f64, d, z);
            assert!(w >= last && w.is_finite(), "n {n}: {w} after {last}");
            last = w;
        }
    }
}
