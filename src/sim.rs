//! A small discrete-event simulation of one replica serving a Poisson stream of requests
//! (model-spec §10; Orca/vLLM/Sarathi-style scheduling). Each iteration decodes one token for
//! every running request and prefills up to a token budget of waiting prompts; its time comes from
//! the performance model (`perf`). Deterministic for a seed; bounded by a step budget.

use crate::perf::lengths::LengthDist;
use crate::perf::{Batching, Config, Context, estimate};
use std::collections::{HashMap, VecDeque};

/// What to simulate.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Workload {
    /// Requests per second (Poisson arrivals).
    pub rate_per_s: f64,
    /// Requests to run.
    pub requests: u64,
    /// RNG seed.
    pub seed: u64,
    /// Iterations before giving up.
    pub step_budget: u64,
}

/// Percentiles of a latency, seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// The outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct SimResult {
    /// Requests that finished.
    pub completed: u64,
    /// Time to first token.
    pub ttft_s: Percentiles,
    /// Time per output token after the first, per request.
    pub tpot_s: Percentiles,
    /// Request latency.
    pub e2e_s: Percentiles,
    /// Mean wait in the queue before admission.
    pub mean_queue_s: f64,
    /// Output tokens per second over the run.
    pub output_tokens_per_s: f64,
    /// Mean requests decoding per iteration.
    pub mean_batch: f64,
    /// Requests still waiting when the last request arrived (or at the end, if the budget ran out).
    pub backlog: u64,
    /// The arrival rate exceeds what the replica serves: a backlog built up while requests arrived.
    pub overloaded: bool,
    /// The step budget ran out before every request finished.
    pub budget_exhausted: bool,
}

/// splitmix64: a tiny, well-mixed deterministic generator.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn exponential(&mut self, mean: f64) -> f64 {
        -mean * self.next_f64().ln()
    }
    /// A draw of the output length (≥ 1) with mean `mean`.
    fn length(&mut self, dist: LengthDist, mean: f64) -> u64 {
        let u = self.next_f64();
        let n = match dist {
            LengthDist::Fixed => mean,
            LengthDist::Uniform => 1.0 + (u * (2.0 * mean - 1.0)).floor(),
            LengthDist::Geometric => (u.ln() / (1.0 - 1.0 / mean).ln()).ceil().min(4.0 * mean),
            LengthDist::Lognormal => {
                let z = crate::perf::moe::inverse_normal_cdf(u);
                ((mean.ln() - 0.5) + z).exp().round().min(8.0 * mean)
            }
        };
        n.max(1.0) as u64
    }
}

struct Request {
    arrival_s: f64,
    output: u64,
    prefilled: u64,
    generated: u64,
    admitted_s: f64,
    first_token_s: f64,
    finish_s: f64,
}

fn percentiles(mut v: Vec<f64>) -> Percentiles {
    if v.is_empty() {
        return Percentiles::default();
    }
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((q * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)];
    Percentiles {
        p50: at(0.5),
        p90: at(0.9),
        p99: at(0.99),
    }
}

/// Simulate `w` on the replica `c` (its `batch` caps running requests; its KV memory caps
/// admission). `c.output_len` is the mean output length, drawn from `c.output_dist`.
pub fn simulate(ctx: &Context, c: &Config, w: &Workload) -> SimResult {
    let mut rng = Rng(w.seed);
    let prompt = c.input_len;
    let mean_out = c.output_len as f64;
    let full = estimate(ctx, c);
    // The KV capacity in tokens: what the memory rule of `perf::memory` lets the heaviest GPU hold.
    let kv_per_token =
        full.kv_bytes_per_gpu / (c.batch as f64 * (c.input_len + c.output_len) as f64);
    let m = &full.breakdown.memory;
    let fixed = m.weights_bytes + m.activation_bytes + m.runtime_bytes;
    let kv_capacity_tokens =
        (ctx.hw.kv_cache_free_fraction * (ctx.hw.mem_bytes - fixed) / kv_per_token).max(0.0);
    let budget = ctx.prefill_chunk_tokens;
    let mut step_cache: HashMap<u64, f64> = HashMap::new();
    let mut prefill_cache: HashMap<u64, f64> = HashMap::new();
    // Prefill of `n` prompt tokens in one iteration: the model's TTFT for an n-token prompt.
    let mut prefill = |n: u64| -> f64 {
        if n == 0 {
            return 0.0;
        }
        *prefill_cache.entry(n).or_insert_with(|| {
            let cfg = Config {
                batch: 1,
                input_len: n,
                output_len: 1,
                batching: Batching::Continuous,
                speculation: None,
                ..*c
            };
            estimate(ctx, &cfg).ttft_s
        })
    };
    let mut decode_step = |b: u64| -> f64 {
        *step_cache.entry(b).or_insert_with(|| {
            let cfg = Config {
                batch: b.max(1),
                speculation: c.speculation,
                ..*c
            };
            estimate(ctx, &cfg).breakdown.decode_step_s
        })
    };

    let mut arrivals: VecDeque<Request> = VecDeque::with_capacity(w.requests as usize);
    let mut t = 0.0;
    for _ in 0..w.requests {
        t += rng.exponential(1.0 / w.rate_per_s);
        arrivals.push_back(Request {
            arrival_s: t,
            output: rng.length(c.output_dist, mean_out),
            prefilled: 0,
            generated: 0,
            admitted_s: 0.0,
            first_token_s: 0.0,
            finish_s: 0.0,
        });
    }
    let mut queue: VecDeque<Request> = VecDeque::new();
    let mut running: Vec<Request> = Vec::new();
    let mut done: Vec<Request> = Vec::new();
    let (mut now, mut kv_used, mut steps, mut batch_sum, mut out_tokens) =
        (0.0_f64, 0.0_f64, 0u64, 0.0, 0u64);
    let mut queue_at_last_arrival: Option<usize> = None;
    while (done.len() as u64) < w.requests && steps < w.step_budget {
        while arrivals.front().is_some_and(|r| r.arrival_s <= now) {
            queue.push_back(arrivals.pop_front().expect("checked"));
        }
        if running.is_empty() && queue.is_empty() {
            now = arrivals.front().map_or(now, |r| r.arrival_s);
            continue;
        }
        // Admission: continuous batching refills free slots while the KV cache has room for the
        // prompt and the mean output; static batching only starts a new batch when it is empty.
        let may_admit = c.batching == Batching::Continuous || running.is_empty();
        while may_admit && (running.len() as u64) < c.batch {
            let need = (prompt as f64) + mean_out;
            match queue.front() {
                Some(_) if kv_used + need <= kv_capacity_tokens || running.is_empty() => {
                    let mut r = queue.pop_front().expect("checked");
                    r.admitted_s = now;
                    kv_used += need;
                    running.push(r);
                }
                _ => break,
            }
        }
        // One iteration: prefill up to the token budget (all prompts at once when static), then
        // one decode token for every request whose prompt is done.
        let mut prefill_tokens = 0u64;
        let chunk_cap = if c.batching == Batching::Static {
            u64::MAX
        } else {
            budget
        };
        for r in running.iter_mut().filter(|r| r.prefilled < prompt) {
            let take = (prompt - r.prefilled).min(chunk_cap.saturating_sub(prefill_tokens));
            r.prefilled += take;
            prefill_tokens += take;
        }
        let decoding = running
            .iter()
            .filter(|r| r.prefilled >= prompt && r.generated > 0)
            .count() as u64;
        let t = if decoding > 0 {
            decode_step(decoding)
        } else {
            0.0
        } + prefill(prefill_tokens);
        now += t.max(1e-6);
        steps += 1;
        batch_sum += decoding as f64;
        for r in running.iter_mut().filter(|r| r.prefilled >= prompt) {
            if r.generated == 0 {
                r.first_token_s = now;
            }
            r.generated += 1;
            out_tokens += 1;
        }
        let (mut finished, still): (Vec<Request>, Vec<Request>) =
            running.drain(..).partition(|r| r.generated >= r.output);
        running = still;
        for r in &mut finished {
            r.finish_s = now;
        }
        match c.batching {
            Batching::Continuous => kv_used -= finished.len() as f64 * (prompt as f64 + mean_out),
            // A static batch holds its memory until its last request ends.
            Batching::Static if running.is_empty() => kv_used = 0.0,
            Batching::Static => {}
        }
        done.extend(finished);
        if arrivals.is_empty() && queue_at_last_arrival.is_none() {
            queue_at_last_arrival = Some(queue.len());
        }
    }
    let ttft: Vec<f64> = done.iter().map(|r| r.first_token_s - r.arrival_s).collect();
    let e2e: Vec<f64> = done.iter().map(|r| r.finish_s - r.arrival_s).collect();
    let tpot: Vec<f64> = done
        .iter()
        .filter(|r| r.output > 1)
        .map(|r| (r.finish_s - r.first_token_s) / (r.output - 1) as f64)
        .collect();
    let waits: Vec<f64> = done.iter().map(|r| r.admitted_s - r.arrival_s).collect();
    // Overloaded: when the last request arrived, a backlog of more than a batch (and more than 5%
    // of the requests) was still waiting — arrivals outran service.
    let backlog = queue_at_last_arrival.unwrap_or(queue.len()) as u64;
    let overloaded = backlog > c.batch.max(w.requests / 20);
    SimResult {
        completed: done.len() as u64,
        ttft_s: percentiles(ttft),
        tpot_s: percentiles(tpot),
        e2e_s: percentiles(e2e),
        mean_queue_s: if waits.is_empty() {
            0.0
        } else {
            waits.iter().sum::<f64>() / waits.len() as f64
        },
        output_tokens_per_s: out_tokens as f64 / now.max(f64::MIN_POSITIVE),
        mean_batch: batch_sum / steps.max(1) as f64,
        backlog: if (done.len() as u64) < w.requests {
            (queue.len() + arrivals.len()) as u64
        } else {
            backlog
        },
        overloaded,
        budget_exhausted: (done.len() as u64) < w.requests,
    }
}
