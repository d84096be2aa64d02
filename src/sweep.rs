//! Sweeps: every combination of the inference axes, evaluated one at a time, filtered (fits,
//! `--require`) and kept in a bounded best-N heap, so memory stays flat however large the sweep.

use crate::dtype::Dtype;
use crate::fields::SortKey;
use crate::perf::estimate::{UnitMemo, estimate_in_unit};
use crate::perf::{Batching, Config, Context, Estimate, Reject, Speculation, estimate_with_draft};
use crate::report::row::Named;
use crate::require::Require;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

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
    /// Precision of the linear layers outside the MLPs (attention, router, head); None = each
    /// weight dtype.
    pub dense_dtype: Option<Dtype>,
    /// Precision of the attention output projection; None = the dense layers'.
    pub attn_out_dtype: Option<Dtype>,
    /// Precision of the weight dtype's activations (its matmuls' math); None = the weights' own.
    pub act_dtype: Option<Dtype>,
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
                                                attn_out_dtype: self.attn_out_dtype,
                                                act_dtype: self.act_dtype,
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
    /// Ranking; None (`--sort none`) keeps the configurations' order.
    pub sort: Option<SortKey>,
    /// Keep at most this many (None = all).
    pub top: Option<usize>,
    /// Keep rows that do not fit.
    pub include_unfit: bool,
    /// Filters.
    pub require: Vec<Require>,
    /// Keep only the rows no other row beats on both output tokens/s per GPU and per user.
    pub pareto: bool,
    /// Threads to evaluate on (the result does not depend on it).
    pub threads: usize,
}

impl Plan {
    /// The ranking key of a row: smaller is better; every row alike without a sort.
    pub fn key(&self, named: &Named<'_>) -> f64 {
        self.sort.as_ref().map_or(0.0, |s| s.key(named))
    }
}

/// A kept row by reference (`run_index`), 16 bytes: its ranking key, and packed together its
/// system (an index the caller gives, 12 bits), its position in the single-threaded order (from
/// 1, 50 bits) and whether it fits. Ordered by (key, system, position).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Indexed {
    /// The ranking key (smaller is better).
    pub key: f64,
    bits: u64,
}

impl Indexed {
    /// The largest position an index holds.
    pub const MAX_SEQ: u64 = (1 << 50) - 1;
    /// The largest system index.
    pub const MAX_SYSTEM: usize = (1 << 12) - 1;

    fn new(key: f64, seq: u64, fits: bool) -> Self {
        Indexed {
            key,
            bits: (seq.min(Self::MAX_SEQ) << 1) | u64::from(fits),
        }
    }

    /// The same row, of system `i` (at most `MAX_SYSTEM`).
    pub fn with_system(self, i: usize) -> Self {
        Indexed {
            key: self.key,
            bits: (self.bits & ((1 << 51) - 1)) | ((i.min(Self::MAX_SYSTEM) as u64) << 51),
        }
    }

    /// The position in its system's single-threaded order (from 1): `estimate_at` evaluates it.
    pub fn seq(self) -> u64 {
        (self.bits >> 1) & Self::MAX_SEQ
    }

    /// Whether the row fits in memory.
    pub fn fits(self) -> bool {
        self.bits & 1 == 1
    }

    /// The system index given by `with_system`.
    pub fn system(self) -> usize {
        (self.bits >> 51) as usize
    }

    /// The packed system, position and fit: after the key, the order of rows.
    pub fn bits(self) -> u64 {
        self.bits
    }
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
    /// Messages added by `add` (their positions).
    added: u64,
}

/// One reason's note.
#[derive(Clone, Debug)]
struct SkipNote {
    count: u64,
    example: String,
    /// Position of the example in the run (notes gathered by threads merge by it).
    first: u64,
    varied: bool,
}

impl SkipNotes {
    /// Count one configuration skipped with message `msg`.
    pub fn add(&mut self, msg: &str) {
        self.added += 1;
        self.add_at(self.added, msg);
    }

    /// Count one configuration skipped with message `msg` at position `seq` of the run; a thread
    /// adds its positions in increasing order.
    pub fn add_at(&mut self, seq: u64, msg: &str) {
        if !matches!(&self.last, Some((m, _)) if m == msg) {
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
            self.last = Some((msg.to_string(), key));
        }
        let key = match &self.last {
            Some((_, k)) => k.as_str(),
            None => return,
        };
        match self.by_reason.get_mut(key) {
            Some(n) => {
                n.count += 1;
                n.varied |= n.example != msg;
            }
            None => {
                self.by_reason.insert(
                    key.to_string(),
                    SkipNote {
                        count: 1,
                        example: msg.to_string(),
                        first: seq,
                        varied: false,
                    },
                );
            }
        }
    }

    /// Add the notes of another part of the same run: each reason keeps the example of the
    /// earliest position, so the notes are those of one pass in order.
    pub fn merge(&mut self, other: SkipNotes) {
        for (key, o) in other.by_reason {
            match self.by_reason.get_mut(&key) {
                Some(n) => {
                    let differ = n.example != o.example;
                    if o.first < n.first {
                        n.example = o.example;
                        n.first = o.first;
                    }
                    n.count += o.count;
                    n.varied |= o.varied || differ;
                }
                None => {
                    self.by_reason.insert(key, o);
                }
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
    /// Of those, fitting in memory (`passed` less the rows only `--all` keeps).
    pub passed_fit: u64,
    /// Skipped, by reason.
    pub skipped: SkipNotes,
}

impl Summary {
    /// Add another part of the same run.
    pub fn merge(&mut self, o: Summary) {
        self.evaluated += o.evaluated;
        self.fit += o.fit;
        self.passed += o.passed;
        self.passed_fit += o.passed_fit;
        self.skipped.merge(o.skipped);
    }
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

/// The most threads `--threads` takes.
pub const MAX_THREADS: u64 = 256;

/// `--threads N`, or the available cores.
pub fn threads(flag: Option<u64>) -> usize {
    flag.map_or_else(default_threads, |n| n.min(MAX_THREADS) as usize)
}

/// The threads a run uses by default: the available cores.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// What a sweep hands every estimate of the kept kind (fits, unless `--all`) that passes every
/// `--require`, before ranking (what `--plot` draws). Each thread has its own observer and feeds
/// it in increasing position (`seq`, the configuration's place in the single-threaded order);
/// the caller merges the observers by position.
pub trait Observer: Send {
    /// One estimate at position `seq`.
    fn observe(&mut self, seq: u64, e: &Estimate);
}

impl Observer for () {
    fn observe(&mut self, _: u64, _: &Estimate) {}
}

/// The configurations of `Axes` as units of work: a unit is one (dtype, KV dtype, tp, dp, pp, ep,
/// input length), and holds every (output length, batch) in the single-threaded order.
struct Grid<'a> {
    axes: &'a Axes,
    n_kv: u64,
    n_ep: u64,
    units: u64,
    /// Configurations per unit.
    inner: u64,
}

/// The axis values of one unit.
struct Unit {
    dtype: Dtype,
    kv_dtype: Dtype,
    tp: u64,
    dp: u64,
    pp: u64,
    ep: u64,
    input_len: u64,
}

impl<'a> Grid<'a> {
    fn new(axes: &'a Axes) -> Self {
        let n_kv = axes.kv_dtype.len().max(1) as u64;
        let n_ep = axes.ep.count() as u64;
        let units = [
            axes.dtype.len() as u64,
            n_kv,
            axes.tp.len() as u64,
            axes.dp.len() as u64,
            axes.pp.len() as u64,
            n_ep,
            axes.input_len.len() as u64,
        ]
        .iter()
        .fold(1u64, |acc, n| acc.saturating_mul(*n));
        let inner = (axes.output_len.len() as u64).saturating_mul(axes.batch.len() as u64);
        Grid {
            axes,
            n_kv,
            n_ep,
            units,
            inner,
        }
    }

    /// Unit `u`, in the order of `Axes::for_each`.
    fn unit(&self, mut u: u64) -> Unit {
        let a = self.axes;
        let mut take = |n: u64| {
            let i = u % n;
            u /= n;
            i as usize
        };
        let input_i = take(a.input_len.len() as u64);
        let ep_i = take(self.n_ep);
        let pp_i = take(a.pp.len() as u64);
        let dp_i = take(a.dp.len() as u64);
        let tp_i = take(a.tp.len() as u64);
        let kv_i = take(self.n_kv);
        let dtype = a.dtype[u as usize];
        let (tp, dp) = (a.tp[tp_i], a.dp[dp_i]);
        Unit {
            dtype,
            kv_dtype: if a.kv_dtype.is_empty() {
                dtype.default_kv()
            } else {
                a.kv_dtype[kv_i]
            },
            tp,
            dp,
            pp: a.pp[pp_i],
            ep: match &a.ep {
                EpAxis::List(v) => v[ep_i],
                EpAxis::Auto => widest_ep(tp, dp, a.expert_slots),
            },
            input_len: a.input_len[input_i],
        }
    }
}

impl Grid<'_> {
    /// The configuration of `unit` with this output length and batch.
    fn config(&self, unit: &Unit, output_len: u64, batch: u64) -> Config {
        let axes = self.axes;
        Config {
            tp: unit.tp,
            dp: unit.dp,
            pp: unit.pp,
            ep: unit.ep,
            redundant_experts: axes.redundant_experts,
            moe_dispatch: axes.moe_dispatch,
            moe_overlap: axes.moe_overlap,
            batch,
            input_len: unit.input_len,
            output_len,
            dtype: unit.dtype,
            dense_dtype: axes.dense_dtype,
            attn_out_dtype: axes.attn_out_dtype,
            act_dtype: axes.act_dtype,
            kv_dtype: unit.kv_dtype,
            batching: axes.batching,
            speculation: axes.speculation,
            output_dist: axes.output_dist,
            disaggregate: axes.disaggregate,
            kv_sharding: axes.kv_sharding,
            sequence_parallel: axes.sequence_parallel,
        }
    }

    /// The configuration at position `seq` (from 1) of the single-threaded order.
    fn config_at(&self, seq: u64) -> Config {
        let i = seq - 1;
        let (u, k) = (i / self.inner, i % self.inner);
        let nb = self.axes.batch.len() as u64;
        let (o, b) = ((k / nb) as usize, (k % nb) as usize);
        self.config(&self.unit(u), self.axes.output_len[o], self.axes.batch[b])
    }
}

/// The estimate of the configuration at position `seq` of `axes` (an `Indexed` row's): the same
/// bits as when the sweep evaluated it.
pub fn estimate_at(ctx: &Context, draft: Option<&Context>, axes: &Axes, seq: u64) -> Estimate {
    estimate_with_draft(ctx, draft, &Grid::new(axes).config_at(seq))
}

/// What the threads of a run keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Keep {
    /// The best `--top` (or the frontier), as estimates.
    Best,
    /// Every kept row by reference.
    Index,
    /// Every kept row of a window, in order.
    Stream,
}

/// Configurations a thread claims at a time (whole units, at least one).
const CLAIM_CONFIGS: u64 = 256;
/// Configurations between progress reports of a thread.
const PROGRESS_CONFIGS: u64 = 8192;

/// One thread's share of a run.
struct Part<O> {
    heap: BinaryHeap<Ranked>,
    /// `Keep::Index`: every kept row by reference.
    index: Vec<Indexed>,
    /// `Keep::Stream`: every kept row, with its position, in position order.
    rows: Vec<(u64, Estimate)>,
    /// The frontier so far, with positions, in position order.
    frontier: Vec<(u64, Estimate)>,
    summary: Summary,
    /// The first invalid configuration met (position, message).
    error: Option<(u64, String)>,
    observer: O,
}

/// A counter on a cache line of its own: the threads write it, and the data they only read
/// (the context, the plan, the axes) stays in their caches.
#[repr(align(128))]
struct Line(AtomicU64);

/// What every thread of a run shares.
struct Shared<'a> {
    ctx: &'a Context,
    draft: Option<&'a Context>,
    grid: Grid<'a>,
    plan: &'a Plan,
    names: (&'a str, &'a str),
    progress: &'a (dyn Fn(u64) + Sync),
    /// What the threads keep.
    keep: Keep,
    /// The next unit to claim, and the unit to stop before.
    next: Line,
    end: u64,
    /// The least position of an invalid configuration found so far: no thread starts a unit past it.
    stop: Line,
}

/// Offer `e` to a frontier in position order (the single-threaded rule: a point any point
/// already on it dominates is dropped; a new point drops the points it dominates).
fn offer_frontier(frontier: &mut Vec<(u64, Estimate)>, seq: u64, e: Estimate) {
    // The frontier stays small, so a linear scan per candidate keeps memory flat.
    if frontier.iter().any(|(_, f)| dominates(f, &e)) {
        return;
    }
    frontier.retain(|(_, f)| !dominates(&e, f));
    frontier.push((seq, e));
}

/// Claim units until none is left and evaluate them.
fn work<O: Observer>(sh: &Shared<'_>, observer: O) -> Part<O> {
    let mut part = Part {
        heap: BinaryHeap::new(),
        index: Vec::new(),
        rows: Vec::new(),
        frontier: Vec::new(),
        summary: Summary::default(),
        error: None,
        observer,
    };
    let (grid, axes) = (&sh.grid, sh.grid.axes);
    let claim = (CLAIM_CONFIGS / grid.inner.max(1)).max(1);
    let mut unreported = 0u64;
    // What the unit's configurations share (rates, prefill passes).
    let mut memo = UnitMemo::default();
    loop {
        let first = sh.next.0.fetch_add(claim, AtomicOrdering::Relaxed);
        if first >= sh.end {
            break;
        }
        for u in first..(first + claim).min(sh.end) {
            let base = u * grid.inner;
            if base >= sh.stop.0.load(AtomicOrdering::Relaxed) {
                (sh.progress)(unreported);
                return part;
            }
            let unit = grid.unit(u);
            memo.clear();
            let mut seq = base;
            for &output_len in &axes.output_len {
                for &batch in &axes.batch {
                    seq += 1;
                    let c = grid.config(&unit, output_len, batch);
                    if let Err(msg) = evaluate(sh, &mut part, &mut memo, seq, &c) {
                        part.error = Some((seq, msg));
                        sh.stop.0.fetch_min(seq, AtomicOrdering::Relaxed);
                        (sh.progress)(unreported);
                        return part;
                    }
                }
            }
            unreported += grid.inner;
            if unreported >= PROGRESS_CONFIGS {
                (sh.progress)(unreported);
                unreported = 0;
            }
        }
    }
    (sh.progress)(unreported);
    part
}

/// Check, evaluate and keep (or not) configuration `c` at position `seq`.
fn evaluate<O: Observer>(
    sh: &Shared<'_>,
    part: &mut Part<O>,
    memo: &mut UnitMemo,
    seq: u64,
    c: &Config,
) -> Result<(), String> {
    let plan = sh.plan;
    if let Err(r) = sh.ctx.check_in_unit(c, &mut memo.check) {
        match r.as_ref() {
            Reject::Invalid(msg) => return Err(msg.clone()),
            Reject::Skip(msg) => {
                part.summary.skipped.add_at(seq, msg);
                return Ok(());
            }
        }
    }
    // Kept rows are evaluated again in full (`merge`); a stream writes every row it evaluates.
    let e = estimate_in_unit(sh.ctx, sh.draft, c, memo, sh.keep == Keep::Stream);
    e.check_finite(sh.names.0, sh.names.1)?;
    part.summary.evaluated += 1;
    part.summary.fit += u64::from(e.fits);
    let named = Named {
        est: &e,
        model: sh.names.0,
        gpu: sh.names.1,
    };
    if !(e.fits || plan.include_unfit) || !plan.require.iter().all(|r| r.accepts(&named)) {
        return Ok(());
    }
    part.summary.passed += 1;
    part.summary.passed_fit += u64::from(e.fits);
    part.observer.observe(seq, &e);
    if plan.pareto {
        offer_frontier(&mut part.frontier, seq, e);
        return Ok(());
    }
    let key = plan.key(&named);
    match sh.keep {
        Keep::Best => {}
        Keep::Index => {
            part.index.push(Indexed::new(key, seq, e.fits));
            return Ok(());
        }
        Keep::Stream => {
            part.rows.push((seq, e));
            return Ok(());
        }
    }
    let item = Ranked { key, seq, est: e };
    match plan.top {
        Some(n) if part.heap.len() >= n => {
            if n > 0 && part.heap.peek().is_some_and(|worst| item < *worst) {
                part.heap.pop();
                part.heap.push(item);
            }
        }
        _ => part.heap.push(item),
    }
    Ok(())
}

/// Run a sweep on `plan.threads` threads. `progress` is called with the number of
/// configurations done since its last call, now and then. Returns the kept estimates, best first,
/// or the first invalid configuration's message: the same as on one thread.
pub fn run(
    ctx: &Context,
    draft: Option<&Context>,
    axes: &Axes,
    plan: &Plan,
    names: (&str, &str),
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(Vec<Estimate>, Summary), String> {
    run_observed(ctx, draft, axes, plan, names, progress, &|| ()).map(|(rows, s, _)| (rows, s))
}

/// `run`, with an observer per thread from `make` (see `Observer`), returned in no particular
/// order: merge them by the positions they were given.
pub fn run_observed<O: Observer>(
    ctx: &Context,
    draft: Option<&Context>,
    axes: &Axes,
    plan: &Plan,
    names: (&str, &str),
    progress: &(dyn Fn(u64) + Sync),
    make: &(dyn Fn() -> O + Sync),
) -> Result<(Vec<Estimate>, Summary, Vec<O>), String> {
    let sh = Shared::new(ctx, draft, axes, plan, names, progress, Keep::Best);
    let parts = run_parts(&sh, make);
    let (rows, summary, observers) = merge(parts, plan, names)?;
    // The rows kept, with their breakdown (the same numbers).
    let rows = rows
        .iter()
        .map(|e| estimate_with_draft(ctx, draft, &e.config))
        .collect();
    Ok((rows, summary, observers))
}

impl<'a> Shared<'a> {
    fn new(
        ctx: &'a Context,
        draft: Option<&'a Context>,
        axes: &'a Axes,
        plan: &'a Plan,
        names: (&'a str, &'a str),
        progress: &'a (dyn Fn(u64) + Sync),
        keep: Keep,
    ) -> Self {
        let grid = Grid::new(axes);
        let end = grid.units;
        Shared {
            ctx,
            draft,
            grid,
            plan,
            names,
            progress,
            keep,
            next: Line(AtomicU64::new(0)),
            end,
            stop: Line(AtomicU64::new(u64::MAX)),
        }
    }
}

/// Evaluate the units `sh.next..sh.end` on `sh.plan.threads` threads.
fn run_parts<O: Observer>(sh: &Shared<'_>, make: &(dyn Fn() -> O + Sync)) -> Vec<Part<O>> {
    let units = sh
        .end
        .saturating_sub(sh.next.0.load(AtomicOrdering::Relaxed));
    let threads = (sh.plan.threads.max(1) as u64).min(units.max(1)) as usize;
    if threads == 1 {
        return vec![work(sh, make())];
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = (1..threads)
            .map(|_| s.spawn(move || work(sh, make())))
            .collect();
        let mut parts = vec![work(sh, make())];
        for h in handles {
            parts.push(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        parts
    })
}

/// The first invalid configuration's message of a run's parts, if any.
fn first_error<O>(parts: &[Part<O>]) -> Option<String> {
    parts
        .iter()
        .filter_map(|p| p.error.as_ref())
        .min_by_key(|(seq, _)| *seq)
        .map(|(_, msg)| msg.clone())
}

/// `run` keeping every row that passes by reference (16 bytes and a flag each, not the 1.5 kB
/// estimate): the rows best first, ties in the configurations' order. `estimate_at` gives each
/// row's estimate again, so an export of every row sorted holds only this index.
pub fn run_index<O: Observer>(
    ctx: &Context,
    draft: Option<&Context>,
    axes: &Axes,
    plan: &Plan,
    names: (&str, &str),
    progress: &(dyn Fn(u64) + Sync),
    make: &(dyn Fn() -> O + Sync),
) -> Result<(Vec<Indexed>, Summary, Vec<O>), String> {
    let sh = Shared::new(ctx, draft, axes, plan, names, progress, Keep::Index);
    let parts = run_parts(&sh, make);
    if let Some(msg) = first_error(&parts) {
        return Err(msg);
    }
    let mut summary = Summary::default();
    let mut observers = Vec::with_capacity(parts.len());
    // Grown from the largest part's rows (a large vector grows in place), not copied into a new one.
    let total: usize = parts.iter().map(|p| p.index.len()).sum();
    let mut index: Vec<Indexed> = Vec::new();
    for mut p in parts {
        summary.merge(p.summary);
        observers.push(p.observer);
        if p.index.len() > index.len() {
            std::mem::swap(&mut index, &mut p.index);
        }
        index.reserve(total - index.len());
        index.append(&mut p.index);
    }
    index.sort_unstable_by(|a, b| a.key.total_cmp(&b.key).then(a.bits.cmp(&b.bits)));
    Ok((index, summary, observers))
}

/// Configurations a streamed run evaluates per thread between writes (its memory: about 1.5 kB
/// each).
const STREAM_WINDOW_CONFIGS: u64 = 512;

/// `run` without ranking or keeping: every row that passes goes to `emit` in the configurations'
/// order, a window of units at a time, so memory does not grow with the sweep. An invalid
/// configuration stops the run with its message after the rows before it were emitted.
#[allow(clippy::too_many_arguments)]
pub fn run_stream<O: Observer>(
    ctx: &Context,
    draft: Option<&Context>,
    axes: &Axes,
    plan: &Plan,
    names: (&str, &str),
    progress: &(dyn Fn(u64) + Sync),
    make: &(dyn Fn() -> O + Sync),
    emit: &mut dyn FnMut(&Estimate) -> anyhow::Result<()>,
) -> anyhow::Result<(Summary, Vec<O>)> {
    let grid = Grid::new(axes);
    let window = (STREAM_WINDOW_CONFIGS * plan.threads.max(1) as u64 / grid.inner.max(1)).max(1);
    let mut summary = Summary::default();
    let mut observers = Vec::new();
    let mut start = 0u64;
    while start < grid.units {
        let mut sh = Shared::new(ctx, draft, axes, plan, names, progress, Keep::Stream);
        sh.next = Line(AtomicU64::new(start));
        sh.end = (start + window).min(grid.units);
        start = sh.end;
        let parts = run_parts(&sh, make);
        if let Some(msg) = first_error(&parts) {
            anyhow::bail!(msg);
        }
        let mut rows: Vec<(u64, Estimate)> = Vec::new();
        for p in parts {
            summary.merge(p.summary);
            observers.push(p.observer);
            rows.extend(p.rows);
        }
        rows.sort_unstable_by_key(|(seq, _)| *seq);
        for (_, e) in &rows {
            emit(e)?;
        }
    }
    Ok((summary, observers))
}

/// The result of one run from its threads' parts: what one thread would have found.
fn merge<O>(
    parts: Vec<Part<O>>,
    plan: &Plan,
    names: (&str, &str),
) -> Result<(Vec<Estimate>, Summary, Vec<O>), String> {
    if let Some(msg) = first_error(&parts) {
        return Err(msg);
    }
    let single = parts.len() == 1;
    let mut summary = Summary::default();
    let mut observers = Vec::with_capacity(parts.len());
    let mut heaps = Vec::with_capacity(parts.len());
    let mut candidates: Vec<(u64, Estimate)> = Vec::new();
    for p in parts {
        summary.merge(p.summary);
        observers.push(p.observer);
        heaps.push(p.heap);
        candidates.extend(p.frontier);
    }
    if plan.pareto {
        // Each thread's frontier holds every point of the run's frontier it met (a point another
        // of its points beats is beaten by the run's frontier too); offered again in position
        // order they give the single-threaded frontier, in its order.
        let mut frontier = if single {
            candidates
        } else {
            candidates.sort_unstable_by_key(|(seq, _)| *seq);
            let mut f = Vec::new();
            for (seq, e) in candidates {
                offer_frontier(&mut f, seq, e);
            }
            f
        };
        let (model, gpu) = names;
        let key = |e: &Estimate| plan.key(&Named { est: e, model, gpu });
        frontier.sort_by(|a, b| key(&a.1).total_cmp(&key(&b.1)));
        frontier.truncate(plan.top.unwrap_or(usize::MAX));
        return Ok((
            frontier.into_iter().map(|(_, e)| e).collect(),
            summary,
            observers,
        ));
    }
    let mut ranked: Vec<Ranked> = if single {
        heaps
            .pop()
            .map(BinaryHeap::into_sorted_vec)
            .unwrap_or_default()
    } else {
        // (key, position) orders the rows totally: the best `top` of all threads' best are the
        // run's best, in the single-threaded order.
        let mut all: Vec<Ranked> = heaps.into_iter().flat_map(BinaryHeap::into_vec).collect();
        all.sort_unstable();
        all
    };
    ranked.truncate(plan.top.unwrap_or(usize::MAX));
    Ok((
        ranked.into_iter().map(|r| r.est).collect(),
        summary,
        observers,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perf::DEFAULT_PREFILL_CHUNK_TOKENS;
    use crate::presets::{load_gpu, load_model};

    fn context(model: &str, gpu: &str) -> Context {
        let m = load_model(model, &[]).unwrap();
        let g = load_gpu(gpu, &[]).unwrap();
        Context::new(&m.model, &g.gpu, DEFAULT_PREFILL_CHUNK_TOKENS)
    }

    fn axes() -> Axes {
        Axes {
            tp: vec![1, 2, 4, 8],
            dp: vec![1, 2],
            pp: vec![1, 2, 4],
            ep: EpAxis::List(vec![1, 2, 16]),
            expert_slots: 16,
            redundant_experts: 0,
            moe_dispatch: Default::default(),
            moe_overlap: Default::default(),
            batch: vec![1, 8, 64, 512],
            input_len: vec![256, 2048],
            output_len: vec![64, 512],
            dtype: vec![Dtype::Bf16, Dtype::Fp8],
            kv_dtype: vec![],
            dense_dtype: None,
            attn_out_dtype: None,
            act_dtype: None,
            batching: crate::perf::Batching::Continuous,
            speculation: None,
            output_dist: Default::default(),
            disaggregate: None,
            kv_sharding: Default::default(),
            sequence_parallel: false,
        }
    }

    fn plan(top: Option<usize>, pareto: bool, threads: usize) -> Plan {
        Plan {
            sort: Some(SortKey::parse::<Named>("usd_per_1m_output_tokens").unwrap()),
            top,
            include_unfit: true,
            require: vec![],
            pareto,
            threads,
        }
    }

    /// Everything a run returns, as text (`{:?}` prints every float's shortest exact form).
    fn outcome(r: Result<(Vec<Estimate>, Summary), String>) -> String {
        match r {
            Ok((rows, s)) => format!(
                "{rows:?}\n{} {} {} {}\n{:?}",
                s.evaluated,
                s.fit,
                s.passed,
                s.skipped.total(),
                s.skipped.lines()
            ),
            Err(e) => e,
        }
    }

    #[test]
    fn the_grid_visits_the_configurations_of_for_each_in_order() {
        let a = axes();
        let g = Grid::new(&a);
        assert_eq!(g.units * g.inner, a.len());
        let mut got = Vec::new();
        for u in 0..g.units {
            let unit = g.unit(u);
            for &output_len in &a.output_len {
                for &batch in &a.batch {
                    got.push(format!(
                        "{:?}",
                        (
                            unit.dtype,
                            unit.kv_dtype,
                            (unit.tp, unit.dp, unit.pp, unit.ep),
                            (unit.input_len, output_len, batch)
                        )
                    ));
                }
            }
        }
        let mut want = Vec::new();
        a.for_each(|c| {
            want.push(format!(
                "{:?}",
                (
                    c.dtype,
                    c.kv_dtype,
                    (c.tp, c.dp, c.pp, c.ep),
                    (c.input_len, c.output_len, c.batch)
                )
            ))
        });
        assert_eq!(got, want);
    }

    #[test]
    fn any_thread_count_gives_the_single_threaded_result() {
        let ctx = context("gpt4-8k", "h100");
        for (top, pareto) in [
            (Some(7), false),
            (None, false),
            (None, true),
            (Some(3), true),
        ] {
            let one = outcome(run(
                &ctx,
                None,
                &axes(),
                &plan(top, pareto, 1),
                ("m", "g"),
                &|_| {},
            ));
            for threads in [2, 3, 8] {
                let many = run(
                    &ctx,
                    None,
                    &axes(),
                    &plan(top, pareto, threads),
                    ("m", "g"),
                    &|_| {},
                );
                assert_eq!(
                    outcome(many),
                    one,
                    "top {top:?}, pareto {pareto}, {threads} threads"
                );
            }
        }
    }

    #[test]
    fn the_first_invalid_configuration_is_reported_whatever_the_threads() {
        let ctx = context("gpt4-8k", "h100");
        let run_with = |a: &Axes, threads: usize| {
            outcome(run(
                &ctx,
                None,
                a,
                &plan(Some(5), false, threads),
                ("m", "g"),
                &|_| {},
            ))
        };
        // tp 0 is met late in the order; an input length of 0 early (in the second unit).
        let mut a = axes();
        a.tp = vec![1, 2, 4, 0];
        let tp = run_with(&a, 1);
        assert!(tp.starts_with("--tp 0"), "{tp}");
        a.input_len = vec![256, 0];
        let input = run_with(&a, 1);
        assert!(input.starts_with("--input-len 0"), "{input}");
        for threads in [2, 5] {
            assert_eq!(run_with(&a, threads), input);
            a.input_len = vec![256, 2048];
            assert_eq!(run_with(&a, threads), tp);
            a.input_len = vec![256, 0];
        }
    }

    #[test]
    fn kept_rows_are_whole_estimates() {
        let ctx = context("gpt4-8k", "h100");
        for pareto in [false, true] {
            let (rows, _) = run(
                &ctx,
                None,
                &axes(),
                &plan(Some(9), pareto, 2),
                ("m", "g"),
                &|_| {},
            )
            .unwrap();
            assert!(!rows.is_empty());
            for e in &rows {
                let want = crate::perf::estimate(&ctx, &e.config);
                assert_eq!(format!("{e:?}"), format!("{want:?}"));
            }
        }
    }

    #[test]
    fn merged_skip_notes_keep_the_earliest_example() {
        let mut a = SkipNotes::default();
        a.add_at(5, "x 5");
        a.add_at(9, "x 5");
        let mut b = SkipNotes::default();
        b.add_at(2, "x 2");
        a.merge(b);
        assert_eq!(
            a.lines(),
            vec![
                "skipped 3 configuration(s): x 2 (the first; the others differ only in their values)"
            ]
        );
        let mut c = SkipNotes::default();
        c.add_at(1, "y 1");
        let mut d = SkipNotes::default();
        d.add_at(3, "y 1");
        c.merge(d);
        assert_eq!(c.lines(), vec!["skipped 2 configuration(s): y 1"]);
    }
}
