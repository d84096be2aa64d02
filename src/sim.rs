//! A small discrete-event simulation of one replica serving a Poisson stream of requests
//! (model-spec §10; Orca/vLLM/Sarathi-style scheduling). Each iteration decodes one token for
//! every running request and prefills up to a token budget of waiting prompts; its time comes from
//! the performance model (`perf`). Deterministic for a seed.
//!
//! Bounded (docs/usage.md, "Work limits"): arrivals are drawn one at a time, the requests that
//! decode advance together (a heap of their finishing iterations, not a pass over each), so an
//! iteration costs O(log running) and the run at most `step_budget` iterations; memory is the
//! running requests plus four numbers per finished request.

use crate::perf::{Batching, Config, Context, estimate};
use crate::rng::Rng;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

/// The most requests one simulation runs (`--requests`): 32 MB of latency samples.
pub const MAX_REQUESTS: u64 = 1_000_000;

/// The most iterations one simulation runs (`--step-budget`): a few seconds.
pub const MAX_STEP_BUDGET: u64 = 20_000_000;

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
    /// Time per output token after the first, per request; `None` when no request produced a
    /// second token (`--output-len 1`: there is no TPOT to report).
    pub tpot_s: Option<Percentiles>,
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
    /// Output tokens per second the arrivals ask for: rate × mean output length.
    pub offered_output_tokens_per_s: f64,
    /// Output tokens per second served between the middle and the last arrival seen (over the
    /// whole run when it never settled, below).
    pub served_output_tokens_per_s: f64,
    /// Requests in the replica (waiting, prefilling or decoding) at the middle arrival (of those
    /// that arrived before the end of the run).
    pub in_system_at_half: u64,
    /// The same at the last arrival.
    pub in_system_at_last: u64,
    /// The arrival rate exceeds what the replica serves: the requests in the replica grew by more
    /// than 5% of the requests between the middle and the last arrival (the queue trend), or less
    /// than 80% of the offered tokens were served in that window (judged only once the run has
    /// settled, i.e. a request finished before the middle arrival); or, however short the run,
    /// more requests wait for a slot at the last arrival than the batch holds and than 5% of the
    /// arrivals.
    pub overloaded: bool,
    /// The step budget ran out before every request finished.
    pub budget_exhausted: bool,
    /// A request finished before the middle arrival, so the window from the middle to the last
    /// arrival sees the replica in its steady state and overload can be judged.
    pub settled: bool,
}

impl SimResult {
    /// `Err` with one line naming the first number that is not finite or is negative (a rate
    /// so low that the first arrival never comes, for one): never printed.
    pub fn check_finite(&self, w: &Workload) -> Result<(), String> {
        if self.completed == 0 {
            return Err(format!(
                "--rate {:?}: no request finished within --step-budget {} steps, so there is no latency to report; a request needs a step for each output token after its prefill, and arrivals are about 1/rate s apart: shorten --output-len, or raise --step-budget (at most {}) or --rate",
                w.rate_per_s,
                crate::limits::grouped(w.step_budget),
                crate::limits::grouped(MAX_STEP_BUDGET)
            ));
        }
        let p = |x: Percentiles| [x.p50, x.p90, x.p99];
        let [a, b, c] = p(self.ttft_s);
        let [d, e, f] = self.tpot_s.map_or([0.0; 3], p);
        let [g, h, i] = p(self.e2e_s);
        let fields = [
            ("ttft_s", a),
            ("ttft_s", b),
            ("ttft_s", c),
            ("tpot_s", d),
            ("tpot_s", e),
            ("tpot_s", f),
            ("e2e_s", g),
            ("e2e_s", h),
            ("e2e_s", i),
            ("mean_queue_s", self.mean_queue_s),
            ("output_tokens_per_s", self.output_tokens_per_s),
            ("mean_batch", self.mean_batch),
            (
                "offered_output_tokens_per_s",
                self.offered_output_tokens_per_s,
            ),
            (
                "served_output_tokens_per_s",
                self.served_output_tokens_per_s,
            ),
        ];
        match fields.iter().find(|(_, v)| !(v.is_finite() && *v >= 0.0)) {
            None => Ok(()),
            Some((name, v)) => Err(format!(
                "--rate {:?}: the simulation's {name} came out as {v}; give a rate the replica sees at least one request at within a finite time",
                w.rate_per_s
            )),
        }
    }
}

/// A request in the replica.
#[derive(Clone, Copy)]
struct Request {
    arrival_s: f64,
    output: u64,
    admitted_s: f64,
}

/// Latency samples of finished requests.
#[derive(Default)]
struct Samples {
    ttft: Vec<f64>,
    tpot: Vec<f64>,
    e2e: Vec<f64>,
    wait: Vec<f64>,
}

/// The 50th, 90th and 99th percentiles: the values a sort would put at those ranks, found by
/// selection (linear time; the same values, as `total_cmp` ranks every bit pattern apart).
fn percentiles(mut v: Vec<f64>) -> Percentiles {
    if v.is_empty() {
        return Percentiles::default();
    }
    let n = v.len();
    let rank = |q: f64| ((q * (n - 1) as f64).round() as usize).min(n - 1);
    let (k50, k90, k99) = (rank(0.5), rank(0.9), rank(0.99));
    // Select the highest rank first; the lower ones then lie in the part below it.
    let p99 = *v.select_nth_unstable_by(k99, f64::total_cmp).1;
    let p90 = *v[..=k99].select_nth_unstable_by(k90, f64::total_cmp).1;
    let p50 = *v[..=k90].select_nth_unstable_by(k50, f64::total_cmp).1;
    Percentiles { p50, p90, p99 }
}

/// A hasher for the simulation's integer keys (batch sizes, token counts, request ids): one
/// multiply, where SipHash cost a fifth of a run.
#[derive(Default)]
struct IntHasher(u64);

impl std::hash::Hasher for IntHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type IntMap<V> = HashMap<u64, V, std::hash::BuildHasherDefault<IntHasher>>;

/// Simulate `w` on the replica `c` (its `batch` caps running requests; its KV memory caps
/// admission). `c.output_len` is the mean output length, drawn from `c.output_dist`. One
/// aggregated replica, whose prefills run between its decode steps: `c.disaggregate` must be
/// `None` (the CLI refuses `--rate` with `--disaggregate`). An infinite `w.rate_per_s` queues
/// every request at time 0 (an offline benchmark's run).
pub fn simulate(ctx: &Context, c: &Config, w: &Workload) -> SimResult {
    simulate_with_progress(ctx, c, w, &mut |_| {})
}

/// `simulate`, calling `progress` with the requests finished so far now and then.
pub fn simulate_with_progress(
    ctx: &Context,
    c: &Config,
    w: &Workload,
    progress: &mut dyn FnMut(u64),
) -> SimResult {
    debug_assert!(
        c.disaggregate.is_none(),
        "the simulation runs one aggregated replica"
    );
    let requests = w.requests.min(MAX_REQUESTS);
    let step_budget = w.step_budget.min(MAX_STEP_BUDGET);
    let mut rng = Rng::new(w.seed);
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
    // Every attention group prefills its own prompts up to the chunk budget in an iteration, so a
    // replica of `dp` groups takes `dp` budgets. A prompt stays on its group: with at least `dp`
    // prompts in an iteration they spread evenly (the runtimes balance attention data
    // parallelism) and every group prefills at once; with fewer, the largest chunk sets the time.
    // A pipeline of `pp` stages runs `pp` micro-batches in an iteration (one round of the
    // pipeline), each formed under the budget: TensorRT-LLM schedules each of its `pp`
    // micro-batches against max_num_tokens (`trtGptModelInflightBatching.cpp`,
    // `mNumMicroBatches = pp`), and a round prices its prompts one slowest stage a chunk.
    let groups = c.dp.max(1);
    let budget = ctx.prefill_chunk_tokens;
    let replica_budget = budget.saturating_mul(groups).saturating_mul(c.pp.max(1));
    let mut step_cache: IntMap<f64> = IntMap::default();
    let mut prefill_cache: IntMap<(f64, f64)> = IntMap::default();
    // Prefill of `n` prompt tokens in one iteration: (what it adds to the iteration, the extra
    // latency before a prompt finished in it has its first token). The iteration pays the
    // request overhead and the chunk's slowest pipeline stage: with PP > 1 the stages work on
    // different micro-batches at once, as for the closed form's prefill rate. The first token
    // also waits for the chunk's trip through the other stages and the hand-offs (0 at PP 1).
    let mut prefill = |n: u64, on: u64| -> (f64, f64) {
        if n == 0 {
            return (0.0, 0.0);
        }
        // n tokens on each of `on` groups at once (they meet in the MoE layers), each token
        // attending to its prompt's context (`iteration_prefill_s`). Cached by (n, on) packed in
        // one key (on ≤ 65,536 < 2^17); a count too large to pack is priced each time.
        let price = || crate::perf::prefill::iteration_prefill_s(ctx, c, n as f64, on as f64);
        if n >= 1 << 46 {
            return price();
        }
        *prefill_cache.entry(n << 17 | on).or_insert_with(price)
    };
    // The serving front end's share of each request's TTFT and latency (continuous batching: a
    // server's requests), outside the engine's iterations.
    let front_end_s = match c.batching {
        Batching::Continuous => ctx.hw.request_latency_s,
        Batching::Static => 0.0,
    };
    // A decode-only iteration is replayed from a CUDA graph (padded to its captured batch); one
    // that carries a prompt runs eagerly (TensorRT-LLM; under attention DP every rank then does):
    // each priced as such, not at the steady state's mean share.
    let mut graph_ctx = ctx.clone();
    graph_ctx.decode_graph_share = Some(1.0);
    let mut eager_ctx = ctx.clone();
    eager_ctx.decode_graph_share = Some(0.0);
    let mut graph_cache: IntMap<f64> = IntMap::default();
    let mut decode_step = |b: u64, with_prompt: bool| -> f64 {
        let (cache, cx) = if with_prompt {
            (&mut step_cache, &eager_ctx)
        } else {
            (&mut graph_cache, &graph_ctx)
        };
        *cache.entry(b).or_insert_with(|| {
            let cfg = Config {
                batch: b.max(1),
                speculation: c.speculation,
                ..*c
            };
            estimate(cx, &cfg).breakdown.decode_step_s
        })
    };

    // Context-generation fusion: where the decode tokens come out of the prompts' budget the
    // runtime runs both in one forward (`perf::fused`), and an iteration that carries a prompt
    // chunk saves the linear layers' second pass. `pp` micro-batches a round, each with its
    // decode rows (every group's) and at most one chunk of the budget (on the groups that have
    // prompts); the slowest stage saves its share for each micro-batch that carries both.
    let fuse = ctx.fused_iterations && c.batching == Batching::Continuous;
    let pp = c.pp.max(1);
    let fused_rates = ctx.rates(c);
    let mut fused_cache: IntMap<f64> = IntMap::default();
    let mut fused_saving = |decode_rows: u64, chunk: u64, on: u64, carried: u64| -> f64 {
        let price = || {
            use crate::perf::fused::{chunk as chunk_of, linear, saving_s};
            let (rows, tokens) = (decode_rows as f64, chunk as f64);
            let dec = linear(ctx, &fused_rates, rows, groups as f64, true);
            let pre = chunk_of(ctx, &fused_rates, tokens, on as f64);
            saving_s(ctx, dec, pre, rows) * carried.min(pp) as f64 / pp as f64
        };
        if decode_rows >= 1 << 24 || chunk >= 1 << 24 || on >= 1 << 10 || carried >= 1 << 6 {
            return price();
        }
        *fused_cache
            .entry(decode_rows << 40 | chunk << 16 | on << 6 | carried)
            .or_insert_with(price)
    };

    // Arrivals, drawn one at a time.
    let (mut drawn, mut arrival_t) = (0u64, 0.0_f64);
    let mut next_arrival = |rng: &mut Rng, drawn: &mut u64| -> Option<Request> {
        if *drawn >= requests {
            return None;
        }
        *drawn += 1;
        arrival_t += rng.exponential(1.0 / w.rate_per_s);
        Some(Request {
            arrival_s: arrival_t,
            output: c.output_dist.draw(mean_out, rng.next_f64()),
            admitted_s: 0.0,
        })
    };
    let mut pending = next_arrival(&mut rng, &mut drawn);
    // Arrived requests the scheduler has not read yet, and those it has, waiting for admission.
    // A scheduler that polls every K decode iterations (SGLang's --scheduler-recv-interval)
    // reads them when K decode iterations, or any prefill, have passed since its last read, and
    // at once when it is idle (docs/methodology.md §7.3).
    let mut socket: VecDeque<Request> = VecDeque::new();
    let mut queue: VecDeque<Request> = VecDeque::new();
    let poll_every = match c.batching {
        Batching::Continuous => ctx.scheduler_recv_interval.max(1),
        Batching::Static => 1,
    };
    let mut since_poll = poll_every;
    // Admitted requests still prefilling, in admission order: (request, prompt tokens done).
    let mut prefilling: VecDeque<(Request, u64)> = VecDeque::new();
    // Decoding requests: their finishing iteration, and the request with its first-token time.
    let mut decoding: BinaryHeap<Reverse<(u64, u64)>> = BinaryHeap::new();
    // Each with its first-token time and its pipeline fill (its tokens leave the last stage
    // that much after the iteration that computes them).
    let mut live: IntMap<(Request, f64, f64)> = IntMap::default();
    let mut next_id = 0u64;
    // Every sample and arrival has its place from the start (at most `requests` of each, at most
    // 1,000,000): no step allocates.
    let cap = usize::try_from(requests).unwrap_or(usize::MAX);
    let mut samples = Samples {
        ttft: Vec::with_capacity(cap),
        tpot: Vec::with_capacity(cap),
        e2e: Vec::with_capacity(cap),
        wait: Vec::with_capacity(cap),
    };
    // The requests that end in an iteration (cleared every iteration, kept allocated).
    let mut ended: Vec<(Request, f64, f64)> = Vec::new();
    let (mut now, mut kv_used, mut steps, mut batch_sum, mut out_tokens) =
        (0.0_f64, 0.0_f64, 0u64, 0.0, 0u64);
    let (mut completed, mut arrived) = (0u64, 0u64);
    let mut queue_at_last_arrival: Option<usize> = None;
    // Requests in the replica at each arrival (4 bytes each), and the tokens served by the latest.
    let mut in_system_at: Vec<u32> = Vec::with_capacity(cap);
    let (mut tokens_at_last, mut time_at_last) = (0u64, 0.0_f64);
    // The same at the middle arrival, and when the first request finished.
    let mid_arrival = requests.div_ceil(2).max(1);
    let (mut tokens_at_mid, mut time_at_mid) = (0u64, 0.0_f64);
    let mut first_finish_s = f64::INFINITY;
    while completed < requests && steps < step_budget {
        while pending.is_some_and(|r| r.arrival_s <= now) {
            socket.push_back(pending.take().expect("checked"));
            arrived += 1;
            pending = next_arrival(&mut rng, &mut drawn);
            let in_system = socket.len() + queue.len() + prefilling.len() + decoding.len();
            in_system_at.push(u32::try_from(in_system).unwrap_or(u32::MAX));
            tokens_at_last = out_tokens;
            time_at_last = now;
            if arrived == mid_arrival {
                (tokens_at_mid, time_at_mid) = (out_tokens, now);
            }
        }
        let running = (prefilling.len() + decoding.len()) as u64;
        let idle = running == 0 && queue.is_empty();
        if idle && socket.is_empty() {
            now = pending.map_or(now, |r| r.arrival_s);
            continue;
        }
        if idle || since_poll >= poll_every {
            queue.extend(socket.drain(..));
            since_poll = 0;
        }
        // Admission: continuous batching refills free slots while the KV cache has room for the
        // prompt and the mean output; static batching only starts a new batch when it is empty.
        let may_admit = c.batching == Batching::Continuous || running == 0;
        let mut running = running;
        while may_admit && running < c.batch {
            let need = (prompt as f64) + mean_out;
            match queue.front() {
                Some(_) if kv_used + need <= kv_capacity_tokens || running == 0 => {
                    let mut r = queue.pop_front().expect("checked");
                    r.admitted_s = now;
                    kv_used += need;
                    prefilling.push_back((r, 0));
                    running += 1;
                }
                _ => break,
            }
        }
        // One iteration: prefill up to the token budget (all prompts at once when static), then
        // one decode token for every request whose prompt was already done.
        // Under a shared budget (TensorRT-LLM, vLLM) the decoding sequences' tokens come out of
        // it first; a prompt alone always has room (trtllm-bench sizes the budget to the longest
        // prompt plus the batch).
        let chunk_cap = if c.batching == Batching::Static {
            u64::MAX
        } else if ctx.decode_shares_budget {
            let decode_tokens =
                decoding.len() as u64 * (1 + c.speculation.map_or(0, |sp| sp.gamma));
            replica_budget
                .saturating_sub(decode_tokens)
                .max(budget.min(prompt))
        } else {
            replica_budget
        };
        let mut prefill_tokens = 0u64;
        let mut finished_prefill = 0usize;
        let (mut prompts, mut largest) = (0u64, 0u64);
        for (_, done) in prefilling.iter_mut() {
            if prefill_tokens >= chunk_cap {
                break;
            }
            // A prompt stays on its group, and in one micro-batch of a pipeline's round
            // (TensorRT-LLM schedules a request into one micro-batch): one budget an iteration.
            let take = (prompt - *done).min(chunk_cap - prefill_tokens).min(
                if (groups > 1 || pp > 1) && c.batching == Batching::Continuous {
                    budget
                } else {
                    u64::MAX
                },
            );
            *done += take;
            prefill_tokens += take;
            prompts += 1;
            largest = largest.max(take);
            if *done >= prompt {
                finished_prefill += 1;
            }
        }
        let n_decoding = decoding.len() as u64;
        // The prompt tokens a group carries, and the groups that carry them. Fewer prompts than
        // groups: each on a group of its own, the largest setting the pace, the others' tokens
        // meeting it in the experts.
        let (group_prefill, on) = if groups == 1 {
            (prefill_tokens, 1)
        } else if prompts >= groups {
            (prefill_tokens.div_ceil(groups), groups)
        } else {
            (largest, prompts)
        };
        let (mut prefill_s, mut fill_s) = prefill(group_prefill, on);
        // A static batch starts decoding only once its prompts' first tokens leave the last
        // stage, and nothing else runs beside that fill: the replica spends it.
        if c.batching == Batching::Static {
            prefill_s += fill_s;
            fill_s = 0.0;
        }
        let saved_s = if fuse && n_decoding > 0 && prefill_tokens > 0 {
            let per_seq = 1 + c.speculation.map_or(0, |sp| sp.gamma);
            let per_group = n_decoding.div_ceil(groups);
            let seqs = per_group.div_ceil(pp);
            let chunk = group_prefill.min(budget);
            // Micro-batches that carry both decode rows and a chunk.
            let carried = group_prefill
                .div_ceil(budget.max(1))
                .min(per_group.div_ceil(seqs));
            fused_saving(seqs * per_seq, chunk, on, carried)
        } else {
            0.0
        };
        let decode_s = if n_decoding > 0 {
            decode_step(n_decoding, prefill_tokens > 0)
        } else {
            0.0
        };
        // A fused iteration never takes less than its decode alone.
        let t = (decode_s + prefill_s - saved_s).max(decode_s);
        now += t.max(1e-6);
        steps += 1;
        // A prefill (weight 1,000 in SGLang's count) makes the next iteration read; a decode-only
        // iteration counts one.
        since_poll = if prefill_tokens > 0 {
            poll_every
        } else {
            since_poll + 1
        };
        batch_sum += n_decoding as f64;
        out_tokens += n_decoding;
        // Prompts done in this iteration have their first token (after the pipeline fill) and
        // decode from the next iteration on: a request of N tokens ends N − 1 iterations later.
        // Prompts are filled in admission order, so the finished ones lead the queue.
        ended.clear();
        for _ in 0..finished_prefill {
            let (r, _) = prefilling.pop_front().expect("finished prompts lead");
            out_tokens += 1;
            let first = now + fill_s;
            if r.output <= 1 {
                ended.push((r, first, fill_s));
            } else {
                decoding.push(Reverse((steps + r.output - 1, next_id)));
                live.insert(next_id, (r, first, fill_s));
                next_id += 1;
            }
        }
        while let Some(&Reverse((end, id))) = decoding.peek() {
            if end > steps {
                break;
            }
            decoding.pop();
            ended.push(live.remove(&id).expect("a decoding request is live"));
        }
        for (r, first, fill) in &ended {
            let finish = now + fill;
            first_finish_s = first_finish_s.min(finish);
            samples.ttft.push(first - r.arrival_s + front_end_s);
            samples.e2e.push(finish - r.arrival_s + front_end_s);
            samples.wait.push(r.admitted_s - r.arrival_s);
            if r.output > 1 {
                samples.tpot.push((finish - first) / (r.output - 1) as f64);
            }
        }
        completed += ended.len() as u64;
        match c.batching {
            Batching::Continuous => kv_used -= ended.len() as f64 * (prompt as f64 + mean_out),
            // A static batch holds its memory until its last request ends.
            Batching::Static if prefilling.is_empty() && decoding.is_empty() => kv_used = 0.0,
            Batching::Static => {}
        }
        if pending.is_none() && queue_at_last_arrival.is_none() {
            queue_at_last_arrival = Some(queue.len() + socket.len());
        }
        if steps % 65_536 == 0 {
            progress(completed);
        }
    }
    progress(completed);
    let backlog = queue_at_last_arrival.unwrap_or(queue.len() + socket.len()) as u64;
    let offered = w.rate_per_s * c.output_dist.mean_and_max(mean_out, 1.0).0;
    let settled = first_finish_s <= time_at_mid && time_at_last > time_at_mid;
    let run_tokens_per_s = out_tokens as f64 / now.max(f64::MIN_POSITIVE);
    let served = if settled {
        (tokens_at_last - tokens_at_mid) as f64 / (time_at_last - time_at_mid)
    } else {
        run_tokens_per_s
    };
    // Between the middle and the last arrival seen (all of them unless the budget ran out).
    let (half, last) = match in_system_at.len() {
        0 => (0, 0),
        n => (
            u64::from(in_system_at[(n - 1) / 2]),
            u64::from(in_system_at[n - 1]),
        ),
    };
    // Growth beyond the fluctuation of a stable queue (about √n), and beyond 5% of the arrivals.
    let growing = last.saturating_sub(half) as f64
        > (0.05 * arrived as f64).max(3.0 * (half as f64).sqrt() + 2.0);
    // However short the run, more requests waiting for a slot than the replica runs at once (and
    // than 5% of the arrivals) when the last one comes is a queue piling up.
    let piling_up = backlog as f64 > (c.batch as f64).max(0.05 * arrived as f64);
    let overloaded = piling_up || (settled && (growing || served < 0.8 * offered));
    let waits = std::mem::take(&mut samples.wait);
    SimResult {
        completed,
        ttft_s: percentiles(samples.ttft),
        tpot_s: (!samples.tpot.is_empty()).then(|| percentiles(samples.tpot)),
        e2e_s: percentiles(samples.e2e),
        mean_queue_s: if waits.is_empty() {
            0.0
        } else {
            waits.iter().sum::<f64>() / waits.len() as f64
        },
        output_tokens_per_s: run_tokens_per_s,
        mean_batch: batch_sum / steps.max(1) as f64,
        backlog: if completed < requests {
            ((queue.len() + socket.len()) as u64)
                + (requests - drawn)
                + u64::from(pending.is_some())
        } else {
            backlog
        },
        offered_output_tokens_per_s: offered,
        served_output_tokens_per_s: served,
        in_system_at_half: half,
        in_system_at_last: last,
        overloaded,
        budget_exhausted: completed < requests,
        settled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The percentiles by sorting, as before selection.
    fn sorted_percentiles(mut v: Vec<f64>) -> Percentiles {
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((q * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)];
        Percentiles {
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
        }
    }

    #[test]
    fn percentiles_by_selection_are_those_of_a_sort() {
        let mut rng = Rng::new(7);
        for n in [1usize, 2, 3, 10, 101, 1000, 4097] {
            // Repeated values, a zero and a negative zero among them.
            let v: Vec<f64> = (0..n)
                .map(|i| match i % 7 {
                    0 => 0.0,
                    1 => -0.0,
                    2 => 1.5,
                    _ => rng.exponential(3.0),
                })
                .collect();
            let (a, b) = (percentiles(v.clone()), sorted_percentiles(v));
            for (x, y) in [(a.p50, b.p50), (a.p90, b.p90), (a.p99, b.p99)] {
                assert_eq!(x.to_bits(), y.to_bits(), "{n} samples");
            }
        }
    }
}
