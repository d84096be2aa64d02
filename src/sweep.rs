//! Sweeps: every combination of the inference axes, evaluated one at a time, filtered (fits,
//! `--require`) and kept in a bounded best-N heap, so memory stays flat however large the sweep.

use crate::dtype::Dtype;
use crate::fields::SortKey;
use crate::perf::{Batching, Config, Context, Estimate, Reject, Speculation, estimate_with_draft};
use crate::report::row::Named;
use crate::require::Require;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};

/// The most configurations a sweep evaluates unless `--max-configurations` raises it: about 1–2 s
/// of work at 1–2 million configurations per second (docs/usage.md, "Work limits").
pub const DEFAULT_MAX_CONFIGURATIONS: u64 = 2_000_000;

/// `Err` with one line giving the count, the limit and how to proceed when `count` exceeds
/// `limit`; `what` names the axes' product for the message.
pub fn check_work(count: u64, limit: u64, what: &str) -> Result<(), String> {
    if count <= limit {
        return Ok(());
    }
    let count_text = if count == u64::MAX {
        "more than 18446744073709551614".to_string()
    } else {
        count.to_string()
    };
    Err(format!(
        "{what} span {count_text} configurations, above the limit of {limit}: narrow an axis, or raise the limit with --max-configurations {count}"
    ))
}

/// Expert-parallel degrees to try for each (tp, dp).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EpAxis {
    /// These degrees, wherever they divide the stage.
    List(Vec<u64>),
    /// 1 when `dp = 1` (experts split by the TP group); otherwise the most ranks that divide both
    /// the stage's GPUs and the model's expert slots (wide EP).
    Auto,
}

impl EpAxis {
    /// The degrees for a stage of `tp × dp` GPUs and `expert_slots` experts.
    pub fn values(&self, tp: u64, dp: u64, expert_slots: u64) -> Vec<u64> {
        match self {
            EpAxis::List(v) => v.clone(),
            EpAxis::Auto => vec![widest_ep(tp, dp, expert_slots)],
        }
    }

    /// How many degrees `values` gives (without allocating).
    fn count(&self) -> usize {
        match self {
            EpAxis::List(v) => v.len(),
            EpAxis::Auto => 1,
        }
    }
}

/// The `auto` expert-parallel degree: 1 for `dp = 1`, else the largest divisor of `tp × dp` that
/// also divides `expert_slots`.
pub fn widest_ep(tp: u64, dp: u64, expert_slots: u64) -> u64 {
    if dp <= 1 {
        return 1;
    }
    let stage = tp.saturating_mul(dp);
    let mut g = gcd(stage, expert_slots.max(1));
    while g > 1 && stage % g != 0 {
        g -= 1;
    }
    g.max(1)
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The axes of a sweep.
#[derive(Clone, Debug)]
pub struct Axes {
    /// Tensor-parallel degrees.
    pub tp: Vec<u64>,
    /// Attention data-parallel degrees.
    pub dp: Vec<u64>,
    /// Pipeline-parallel degrees.
    pub pp: Vec<u64>,
    /// Expert-parallel degrees.
    pub ep: EpAxis,
    /// Routed experts plus redundant replicas per layer (for `EpAxis::Auto`).
    pub expert_slots: u64,
    /// Redundant expert replicas per layer.
    pub redundant_experts: u64,
    /// How tokens reach the experts under attention data parallelism.
    pub moe_dispatch: crate::perf::MoeDispatch,
    /// Overlap of the token exchange with compute.
    pub moe_overlap: crate::perf::MoeOverlap,
    /// Concurrent sequences per replica.
    pub batch: Vec<u64>,
    /// Prompt lengths.
    pub input_len: Vec<u64>,
    /// Output lengths.
    pub output_len: Vec<u64>,
    /// Weight precisions.
    pub dtype: Vec<Dtype>,
    /// KV precisions; empty = follow each weight dtype.
    pub kv_dtype: Vec<Dtype>,
    /// Precision of the linear layers outside the routed experts; None = each weight dtype.
    pub dense_dtype: Option<Dtype>,
    /// How requests are batched.
    pub batching: Batching,
    /// Speculative decoding.
    pub speculation: Option<Speculation>,
    /// Output-length distribution.
    pub output_dist: crate::perf::lengths::LengthDist,
    /// Disaggregated pools.
    pub disaggregate: Option<crate::perf::Disaggregation>,
    /// KV-cache layout over the TP group.
    pub kv_sharding: crate::perf::KvSharding,
    /// Activations sharded over TP between layers.
    pub sequence_parallel: bool,
}

impl Axes {
    /// Number of configurations the axes span (saturating at `u64::MAX`).
    pub fn len(&self) -> u64 {
        let kv = self.kv_dtype.len().max(1);
        [
            self.tp.len(),
            self.dp.len(),
            self.pp.len(),
            self.ep.count(),
            self.batch.len(),
            self.input_len.len(),
            self.output_len.len(),
            self.dtype.len(),
            kv,
        ]
        .iter()
        .fold(1u64, |acc, n| acc.saturating_mul(*n as u64))
    }

    /// True when an axis has no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Call `f` on every configuration, in a fixed order.
    pub fn for_each(&self, mut f: impl FnMut(Config)) {
        for &dtype in &self.dtype {
            let kvs: &[Dtype] = if self.kv_dtype.is_empty() {
                &[]
            } else {
                &self.kv_dtype
            };
            let default_kv = [dtype.default_kv()];
            let kvs = if kvs.is_empty() { &default_kv[..] } else { kvs };
            for &kv_dtype in kvs {
                for &tp in &self.tp {
                    for &dp in &self.dp {
                        let eps = self.ep.values(tp, dp, self.expert_slots);
                        for &pp in &self.pp {
                            for &ep in &eps {
                                for &input_len in &self.input_len {
                                    for &output_len in &self.output_len {
                                        for &batch in &self.batch {
                                            f(Config {
                                                tp,
                                                dp,
                                                pp,
                                                ep,
                                                redundant_experts: self.redundant_experts,
                                                moe_dispatch: self.moe_dispatch,
                                                moe_overlap: self.moe_overlap,
                                                batch,
                                                input_len,
                                                output_len,
                                                dtype,
                                                dense_dtype: self.dense_dtype,
                                                kv_dtype,
                                                batching: self.batching,
                                                speculation: self.speculation,
                                                output_dist: self.output_dist,
                                                disaggregate: self.disaggregate,
                                                kv_sharding: self.kv_sharding,
                                                sequence_parallel: self.sequence_parallel,
                                            });
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// What a sweep keeps and how.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Ranking.
    pub sort: SortKey,
    /// Keep at most this many (None = all).
    pub top: Option<usize>,
    /// Keep rows that do not fit.
    pub include_unfit: bool,
    /// Filters.
    pub require: Vec<Require>,
    /// Keep only the rows no other row beats on both output tokens/s per GPU and per user.
    pub pareto: bool,
}

/// True when `a` is at least as good as `b` on both frontier axes (tokens/s per GPU, per user).
fn dominates(a: &Estimate, b: &Estimate) -> bool {
    a.output_tokens_per_s_per_gpu >= b.output_tokens_per_s_per_gpu
        && a.output_tokens_per_s_per_user >= b.output_tokens_per_s_per_user
}

/// True when `a` is at least as good as `b` on both frontier axes and better on one: merging
/// frontiers (several systems) drops `b`, and keeps both of two equal points.
pub fn strictly_dominates(a: &Estimate, b: &Estimate) -> bool {
    dominates(a, b)
        && (a.output_tokens_per_s_per_gpu > b.output_tokens_per_s_per_gpu
            || a.output_tokens_per_s_per_user > b.output_tokens_per_s_per_user)
}

/// Skip notes grouped by reason: configurations skipped for the same reason with different
/// values (every digit run aside) make one note with a count, however many there are.
#[derive(Clone, Debug, Default)]
pub struct SkipNotes {
    by_reason: BTreeMap<String, SkipNote>,
    /// The last message and its reason, as a sweep's inner axes repeat a message many times.
    last: Option<(String, String)>,
}

/// One reason's note.
#[derive(Clone, Debug)]
struct SkipNote {
    count: u64,
    example: String,
    varied: bool,
}

impl SkipNotes {
    /// Count one configuration skipped with message `msg`.
    pub fn add(&mut self, msg: &str) {
        let key = match &self.last {
            Some((m, k)) if m == msg => k.clone(),
            _ => {
                let mut key = String::with_capacity(msg.len());
                for ch in msg.chars() {
                    if ch.is_ascii_digit() {
                        if !key.ends_with('#') {
                            key.push('#');
                        }
                    } else {
                        key.push(ch);
                    }
                }
                self.last = Some((msg.to_string(), key.clone()));
                key
            }
        };
        match self.by_reason.get_mut(&key) {
            Some(n) => {
                n.count += 1;
                n.varied |= n.example != msg;
            }
            None => {
                self.by_reason.insert(
                    key,
                    SkipNote {
                        count: 1,
                        example: msg.to_string(),
                        varied: false,
                    },
                );
            }
        }
    }

    /// One line per kind of note that is not a skip (train's idle GPUs): the first message, and
    /// how many configurations share the kind when there are others.
    pub fn idle_lines(&self) -> Vec<String> {
        self.by_reason
            .values()
            .map(|n| {
                if n.varied {
                    format!(
                        "{} (and {} more configuration(s) like it)",
                        n.example,
                        n.count - 1
                    )
                } else {
                    n.example.clone()
                }
            })
            .collect()
    }

    /// Configurations skipped.
    pub fn total(&self) -> u64 {
        self.by_reason.values().map(|n| n.count).sum()
    }

    /// One line per reason: `skipped N configuration(s): <the first message>[, and the like]`.
    pub fn lines(&self) -> Vec<String> {
        self.by_reason
            .values()
            .map(|n| {
                format!(
                    "skipped {} configuration(s): {}{}",
                    n.count,
                    n.example,
                    if n.varied {
                        " (the first; the others differ only in their values)"
                    } else {
                        ""
                    }
                )
            })
            .collect()
    }
}

/// Counts and notes from a sweep.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Configurations evaluated.
    pub evaluated: u64,
    /// Of those, fitting in memory.
    pub fit: u64,
    /// Of the kept kind (fitting unless --all), passing every --require.
    pub passed: u64,
    /// Skipped, by reason.
    pub skipped: SkipNotes,
}

struct Ranked {
    key: f64,
    seq: u64,
    est: Estimate,
}

impl PartialEq for Ranked {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ranked {
    /// Worse rows compare greater: a larger key (after direction), then a later position.
    fn cmp(&self, o: &Self) -> Ordering {
        self.key.total_cmp(&o.key).then(self.seq.cmp(&o.seq))
    }
}

/// Run a sweep. `progress` is called with the number of configurations done so far, now and then.
/// Returns the kept estimates, best first, or the first invalid configuration's message.
pub fn run(
    ctx: &Context,
    draft: Option<&Context>,
    axes: &Axes,
    plan: &Plan,
    names: (&str, &str),
    progress: &mut dyn FnMut(u64),
) -> Result<(Vec<Estimate>, Summary), String> {
    run_observed(ctx, draft, axes, plan, names, progress, &mut |_| {})
}

/// `run`, calling `observe` with every estimate that is kept's kind (fits, unless `--all`) and
/// passes every `--require`, before ranking (what `--plot` draws).
pub fn run_observed(
    ctx: &Context,
    draft: Option<&Context>,
    axes: &Axes,
    plan: &Plan,
    names: (&str, &str),
    progress: &mut dyn FnMut(u64),
    observe: &mut dyn FnMut(&Estimate),
) -> Result<(Vec<Estimate>, Summary), String> {
    let mut heap: BinaryHeap<Ranked> = BinaryHeap::new();
    let mut frontier: Vec<Estimate> = Vec::new();
    let mut summary = Summary::default();
    let mut error: Option<String> = None;
    let mut seq = 0u64;
    axes.for_each(|c| {
        if error.is_some() {
            return;
        }
        seq += 1;
        if seq % 8192 == 0 {
            progress(seq);
        }
        match ctx.check(&c) {
            Err(Reject::Invalid(msg)) => {
                error = Some(msg);
                return;
            }
            Err(Reject::Skip(msg)) => {
                summary.skipped.add(&msg);
                return;
            }
            Ok(()) => {}
        }
        let e = estimate_with_draft(ctx, draft, &c);
        if let Err(msg) = e.check_finite(names.0, names.1) {
            error = Some(msg);
            return;
        }
        summary.evaluated += 1;
        summary.fit += u64::from(e.fits);
        let named = Named {
            est: &e,
            model: names.0,
            gpu: names.1,
        };
        if !(e.fits || plan.include_unfit) || !plan.require.iter().all(|r| r.accepts(&named)) {
            return;
        }
        summary.passed += 1;
        observe(&e);
        if plan.pareto {
            // The frontier stays small, so a linear scan per candidate keeps memory flat.
            if frontier.iter().any(|f| dominates(f, &e)) {
                return;
            }
            frontier.retain(|f| !dominates(&e, f));
            frontier.push(e);
            return;
        }
        let key = plan.sort.key(&named);
        let item = Ranked { key, seq, est: e };
        match plan.top {
            Some(n) if heap.len() >= n => {
                if n > 0 && heap.peek().is_some_and(|worst| item < *worst) {
                    heap.pop();
                    heap.push(item);
                }
            }
            _ => heap.push(item),
        }
    });
    progress(seq);
    if let Some(msg) = error {
        return Err(msg);
    }
    if plan.pareto {
        let (model, gpu) = names;
        let key = |e: &Estimate| plan.sort.key(&Named { est: e, model, gpu });
        frontier.sort_by(|a, b| key(a).total_cmp(&key(b)));
        frontier.truncate(plan.top.unwrap_or(usize::MAX));
        return Ok((frontier, summary));
    }
    let rows = heap.into_sorted_vec().into_iter().map(|r| r.est).collect();
    Ok((rows, summary))
}
