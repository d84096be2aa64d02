//! TensorRT-LLM's two rules for holding new prompts back (docs/methodology.md §7.3): how long a
//! new request waits before its prefill is scheduled when the scheduler gathers prompts on
//! purpose.
//!
//! - *Attention-DP balancing* (`attention_dp_config.enable_balance`): under attention DP every
//!   group runs its own sequences, but a step waits for the slowest group, so TensorRT-LLM holds
//!   a group's new prompts until every group has one (`PyExecutor._balance_adp_requests`): each
//!   iteration in which some group has no scheduled prompt counts towards `timeout_iters`, and
//!   reaching it releases what is waiting; when every group has one, a further
//!   `batching_wait_iters` iterations gather more. The counter runs whether or not anything
//!   waits.
//! - *Batch waiting* (`batch_wait_timeout_iters`, `batch_wait_max_tokens_ratio`; a replica
//!   without attention DP, `PyExecutor._waiting_requests`): while sequences decode, new prompts
//!   wait until the iteration's tokens (the prompts that fit plus one a decoding sequence) reach
//!   the ratio of `max_num_tokens`, or until they have waited `batch_wait_timeout_iters`
//!   iterations. The counter runs only while prompts wait.
//!
//! Either way a release admits only the prompts that fit a group's per-iteration token budget
//! (`max_num_tokens` less one token per decoding sequence), so a prompt that does not fit waits
//! for the next release. The wait depends on when requests finish, which a closed form does not
//! follow: this module replays the rule over a closed loop of the replica's requests (each
//! finished request replaced by a new one on the same group: TensorRT-LLM sends a new request to
//! the group holding the fewest, which in a closed loop is the one a request just left),
//! iteration by iteration, skipping the iterations in which nothing changes, and takes away what
//! the same loop waits with no rule (a token budget too small for the arrivals queues prompts
//! whatever the rule). Deterministic (a fixed seed); about 2 ms a call at a few hundred
//! sequences, remembered per loop.

use super::lengths::LengthDist;
use crate::rng::Rng;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// TensorRT-LLM's default `attention_dp_config.timeout_iters` (`llm_args.AttentionDpConfig`).
pub const TRTLLM_DEFAULT_TIMEOUT_ITERS: u64 = 50;

/// TensorRT-LLM's default `attention_dp_config.batching_wait_iters`.
pub const TRTLLM_DEFAULT_WAIT_ITERS: u64 = 10;

/// The balancing rule's two settings (enabled: `enable_balance: true`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct AdpBalance {
    /// Iterations a held prompt waits at most for every group to have one (`timeout_iters`).
    pub timeout_iters: u64,
    /// Iterations the groups keep gathering prompts once every one has one, while each also has
    /// sequences decoding (`batching_wait_iters`).
    pub wait_iters: u64,
}

impl AdpBalance {
    /// The rule with `timeout_iters` and `wait_iters`, or None for a timeout of 0 (which releases
    /// every prompt at once: the rule off).
    pub fn enabled(timeout_iters: u64, wait_iters: u64) -> Option<Self> {
        (timeout_iters > 0).then_some(AdpBalance {
            timeout_iters,
            wait_iters,
        })
    }

    /// As `--explain` prints it.
    pub fn describe(rule: Option<Self>) -> String {
        match rule {
            Some(b) => format!(
                "timeout {} iterations, gathering {}",
                b.timeout_iters, b.wait_iters
            ),
            None => "off".to_string(),
        }
    }
}

/// TensorRT-LLM's batch waiting for a replica without attention DP (on when both settings are).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct BatchWait {
    /// Iterations new prompts wait at most (`batch_wait_timeout_iters`).
    pub timeout_iters: u64,
    /// Share of `max_num_tokens` an iteration's tokens must reach to release them sooner
    /// (`batch_wait_max_tokens_ratio`, in (0, 1]).
    pub max_tokens_ratio: f64,
}

impl BatchWait {
    /// The rule with both settings, or None when either is 0 (TensorRT-LLM then waits for
    /// nothing: a zero ratio is always reached, a zero timeout always passed).
    pub fn enabled(timeout_iters: u64, max_tokens_ratio: f64) -> Option<Self> {
        (timeout_iters > 0 && max_tokens_ratio > 0.0).then_some(BatchWait {
            timeout_iters,
            max_tokens_ratio,
        })
    }

    /// As `--explain` prints it.
    pub fn describe(rule: Option<Self>) -> String {
        match rule {
            Some(b) => format!(
                "timeout {} iterations, {}% of the token budget",
                b.timeout_iters,
                crate::report::human(100.0 * b.max_tokens_ratio)
            ),
            None => "off".to_string(),
        }
    }
}

/// Which rule holds the prompts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rule {
    /// Attention-DP balancing across the groups.
    Balance(AdpBalance),
    /// Batch waiting on one group.
    BatchWait(BatchWait),
    /// None: every iteration admits what fits (the baseline a rule's wait is measured against).
    Free,
}

/// The closed loop whose admissions the rule paces.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Loop {
    /// Attention groups of the replica.
    pub groups: u64,
    /// Sequences the replica holds (the closed loop's requests), spread over the groups as
    /// evenly as they go.
    pub sequences: u64,
    /// Prompt tokens per request.
    pub input_len: u64,
    /// Mean iterations a request decodes for (its output tokens over the tokens a step yields).
    pub output_iters: f64,
    /// Their distribution.
    pub dist: LengthDist,
    /// Tokens a group's iteration may carry (`max_num_tokens`, per group under attention DP).
    pub budget_tokens: u64,
    /// Tokens a decoding sequence puts in an iteration: 1, or 1 plus its draft tokens under
    /// speculative decoding (TensorRT-LLM counts both against the budget).
    pub decode_tokens: u64,
}

/// Requests replaced before the wait is measured: twice the loop, so the starting phases are
/// forgotten, at most `MAX_WARM_UP` (the phases start drawn from the steady state anyway).
const WARM_UP_LOOPS: u64 = 2;

/// The most requests replaced before the wait is measured (bounds a large loop's replay).
const MAX_WARM_UP: u64 = 50_000;

/// Admissions averaged: the mean wait's sampling error is under 1% of the timeout.
const SAMPLES: u64 = 20_000;

/// The most iterations one replay steps through (a bound on its time: a few milliseconds).
const MAX_EVENTS: u64 = 5_000_000;

/// The seed of every replay.
const SEED: u64 = 0x6770_7434_6361_6c63;

/// How long a new request is held, on average, beyond the iteration in flight.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Held {
    /// Iterations.
    pub iters: f64,
    /// Of them, prompts the busiest group prefilled in the releases the request sat through
    /// (others' prompts released before its own; every other held iteration only decodes).
    pub prefills: f64,
}

/// How long a new request waits for `rule` to release its prompt, beyond the iteration in
/// flight and beyond what the same loop waits with no rule (nothing when the rule cannot hold
/// anything: one attention group under balancing, several under batch waiting, which
/// TensorRT-LLM applies only without attention DP).
pub fn held(l: &Loop, rule: Rule) -> Held {
    let applies = match rule {
        Rule::Balance(b) => l.groups > 1 && b.timeout_iters > 0,
        Rule::BatchWait(w) => l.groups == 1 && w.timeout_iters > 0 && w.max_tokens_ratio > 0.0,
        Rule::Free => false,
    };
    if !applies || l.sequences == 0 {
        return Held::default();
    }
    let (kind, a, b) = match rule {
        Rule::Balance(b) => (0u8, b.timeout_iters, b.wait_iters),
        Rule::BatchWait(w) => (1u8, w.timeout_iters, w.max_tokens_ratio.to_bits()),
        Rule::Free => (2u8, 0, 0),
    };
    type Key = (u64, u64, u64, u64, u8, u64, u64, (u8, u64, u64));
    thread_local! {
        static CACHE: crate::memo::Cache<Key, Held> = Default::default();
    }
    let key = (
        l.groups,
        l.sequences,
        l.input_len,
        l.output_iters.to_bits(),
        l.dist as u8,
        l.budget_tokens,
        l.decode_tokens,
        (kind, a, b),
    );
    crate::memo::remember(&CACHE, key, || {
        let (with, without) = (replay(l, rule), replay(l, Rule::Free));
        Held {
            iters: (with.iters - without.iters).max(0.0),
            prefills: (with.prefills - without.prefills).max(0.0),
        }
    })
}

/// The prompts at the head of a group's queue that fit its iteration's token budget with
/// `running` sequences decoding (at least one: a prompt larger than the budget goes in alone,
/// chunked over iterations).
fn fitting(l: &Loop, waiting: usize, running: u64) -> usize {
    let room = l
        .budget_tokens
        .saturating_sub(running.saturating_mul(l.decode_tokens))
        / l.input_len.max(1);
    waiting.min(room.max(1) as usize)
}

/// The replica's groups as the replay follows them.
struct Groups {
    running: Vec<u64>,
    /// Each waiting request's arrival: its iteration, and the releases' prefills before it.
    waiting: Vec<VecDeque<(u64, u64)>>,
    /// Groups with a prompt waiting, and with nothing decoding.
    with_prompt: usize,
    idle: usize,
    waiting_total: u64,
}

impl Groups {
    fn every_prompt(&self) -> bool {
        self.with_prompt == self.running.len()
    }
    fn every_decode(&self) -> bool {
        self.idle == 0
    }
    fn finish(&mut self, g: usize, now: u64, prefilled: u64) {
        self.running[g] -= 1;
        if self.running[g] == 0 {
            self.idle += 1;
        }
        if self.waiting[g].is_empty() {
            self.with_prompt += 1;
        }
        self.waiting[g].push_back((now, prefilled));
        self.waiting_total += 1;
    }
    fn admit(&mut self, g: usize) -> Option<(u64, u64)> {
        let head = self.waiting[g].pop_front()?;
        self.waiting_total -= 1;
        if self.waiting[g].is_empty() {
            self.with_prompt -= 1;
        }
        if self.running[g] == 0 {
            self.idle -= 1;
        }
        self.running[g] += 1;
        Some(head)
    }
    /// Batch waiting's test on the one group: the prompts that fit and the decoding sequences
    /// fill the share of the budget.
    fn full_enough(&self, l: &Loop, w: BatchWait) -> bool {
        let prompts = fitting(l, self.waiting[0].len(), self.running[0]) as u64;
        let tokens = prompts * l.input_len + self.running[0] * l.decode_tokens;
        tokens as f64 >= w.max_tokens_ratio * l.budget_tokens as f64
    }
}

/// The replay behind `held` (with no baseline taken away), without its memory (benches/sweep.rs
/// times it).
pub fn replay(l: &Loop, rule: Rule) -> Held {
    replay_stepping(l, rule, false)
}

/// `replay`, stepping through every iteration when `every_iteration` (the tests check that the
/// skips change nothing).
fn replay_stepping(l: &Loop, rule: Rule, every_iteration: bool) -> Held {
    let groups = l.groups.clamp(1, u32::MAX as u64) as usize;
    let mut rng = Rng::new(SEED);
    let mean_iters = l.output_iters.max(1.0);
    let draw = |rng: &mut Rng| l.dist.draw(mean_iters, rng.next_f64()).max(1);
    // Iteration at which each decoding sequence finishes, and its group.
    let mut finishing: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
    let mut s = Groups {
        running: vec![0; groups],
        waiting: vec![VecDeque::new(); groups],
        with_prompt: 0,
        idle: 0,
        waiting_total: 0,
    };
    // Start in the steady state's phases: each sequence somewhere in its decode.
    let base = l.sequences / l.groups.max(1);
    let extra = l.sequences % l.groups.max(1);
    for (g, n) in s.running.iter_mut().enumerate() {
        *n = base + u64::from((g as u64) < extra);
        for _ in 0..*n {
            let len = draw(&mut rng);
            finishing.push(Reverse((1 + (rng.next_f64() * len as f64) as u64, g)));
        }
    }
    s.idle = s.running.iter().filter(|&&n| n == 0).count();
    let warm_up = WARM_UP_LOOPS.saturating_mul(l.sequences).min(MAX_WARM_UP);
    // The busiest group's prompts in every release so far.
    let mut prefilled = 0u64;
    let (mut finished, mut samples, mut waited, mut sat) = (0u64, 0u64, 0u64, 0u64);
    // The rule's counters: balancing's timeout and gathering, batch waiting's timeout.
    let (mut counter, mut gathering) = (0u64, 0u64);
    let mut now = 0u64;
    for _ in 0..MAX_EVENTS {
        // The sequences that finish now, each replaced by a new request on its group.
        while let Some(&Reverse((at, g))) = finishing.peek() {
            if at > now {
                break;
            }
            finishing.pop();
            finished += 1;
            s.finish(g, now, prefilled);
        }
        // The rule.
        let release = match rule {
            Rule::Free => s.waiting_total > 0,
            Rule::Balance(b) => {
                if s.every_prompt() {
                    counter = 0;
                    if !s.every_decode() {
                        true
                    } else if gathering < b.wait_iters {
                        gathering += 1;
                        false
                    } else {
                        gathering = 0;
                        true
                    }
                } else {
                    counter += 1;
                    if counter >= b.timeout_iters || !s.every_decode() {
                        counter = 0;
                        true
                    } else {
                        false
                    }
                }
            }
            Rule::BatchWait(w) => {
                if s.waiting_total == 0 || !s.every_decode() {
                    // Nothing to hold, or nothing decoding to wait beside: no waiting.
                    s.waiting_total > 0
                } else if counter >= w.timeout_iters || s.full_enough(l, w) {
                    counter = 0;
                    true
                } else {
                    counter += 1;
                    false
                }
            }
        };
        if release {
            let mut busiest = 0u64;
            for g in 0..groups {
                let admit = fitting(l, s.waiting[g].len(), s.running[g]);
                busiest = busiest.max(admit as u64);
                for _ in 0..admit {
                    let Some((arrived, before)) = s.admit(g) else {
                        break;
                    };
                    if finished > warm_up {
                        waited += now - arrived;
                        sat += prefilled - before;
                        samples += 1;
                    }
                    finishing.push(Reverse((now + draw(&mut rng), g)));
                }
            }
            prefilled += busiest;
            if samples >= SAMPLES {
                break;
            }
        }
        // Skip to the next iteration at which the rule can release or a sequence finishes; the
        // iterations skipped advance the counters as the rule would, releasing nothing.
        let next_finish = finishing.peek().map_or(now + 1, |r| r.0.0).max(now + 1);
        let next = match rule {
            _ if s.waiting_total == 0 => next_finish,
            Rule::Free => now + 1,
            Rule::Balance(_) if !s.every_decode() => now + 1,
            Rule::Balance(b) if s.every_prompt() => {
                next_finish.min(now + 1 + b.wait_iters.saturating_sub(gathering))
            }
            Rule::Balance(b) => {
                next_finish.min(now + b.timeout_iters.saturating_sub(counter).max(1))
            }
            Rule::BatchWait(w) => {
                if !s.every_decode() || counter >= w.timeout_iters || s.full_enough(l, w) {
                    now + 1
                } else {
                    next_finish.min(now + 1 + (w.timeout_iters - counter))
                }
            }
        };
        let next = if every_iteration { now + 1 } else { next };
        let idle = next - now - 1;
        match rule {
            // The balancing counter runs whether or not anything waits.
            Rule::Balance(b) if s.waiting_total == 0 => {
                counter = (counter + idle) % b.timeout_iters;
            }
            Rule::Balance(_) if s.every_prompt() => gathering += idle,
            Rule::Balance(_) => counter += idle,
            // Batch waiting's only while prompts wait.
            Rule::BatchWait(_) if s.waiting_total > 0 => counter += idle,
            _ => {}
        }
        now = next;
    }
    if samples == 0 {
        Held::default()
    } else {
        Held {
            iters: waited as f64 / samples as f64,
            prefills: sat as f64 / samples as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inferencex(groups: u64, per_group: u64, input_len: u64, output_len: u64) -> Loop {
        Loop {
            groups,
            sequences: groups * per_group,
            input_len,
            output_iters: output_len as f64,
            dist: LengthDist::Range08,
            budget_tokens: 1344,
            decode_tokens: 1,
        }
    }

    const INFERENCEX: AdpBalance = AdpBalance {
        timeout_iters: 60,
        wait_iters: 0,
    };

    #[test]
    fn one_group_or_no_timeout_never_waits() {
        let l = inferencex(1, 64, 922, 922);
        assert_eq!(held(&l, Rule::Balance(INFERENCEX)), Held::default());
        let l = inferencex(8, 32, 922, 922);
        let off = AdpBalance {
            timeout_iters: 0,
            wait_iters: 0,
        };
        assert_eq!(held(&l, Rule::Balance(off)), Held::default());
    }

    #[test]
    fn rare_arrivals_wait_about_half_the_timeout_or_more() {
        // 8 groups of 4 sequences decoding 7,373 tokens: a new request every ~230 iterations,
        // far sparser than the timeout, so the free-running counter releases it 0 to 60
        // iterations after it arrives (30 on average); a second prompt in the same group within
        // one cycle (the budget admits one 922-token prompt a release) waits a cycle more.
        let w = held(&inferencex(8, 4, 922, 7373), Rule::Balance(INFERENCEX)).iters;
        assert!((29.0..40.0).contains(&w), "{w}");
    }

    #[test]
    fn the_wait_grows_with_the_timeout_and_shrinks_with_gathering_off() {
        let l = inferencex(8, 32, 922, 922);
        let short = held(
            &l,
            Rule::Balance(AdpBalance {
                timeout_iters: 20,
                wait_iters: 0,
            }),
        )
        .iters;
        let long = held(&l, Rule::Balance(INFERENCEX)).iters;
        let gathering = held(
            &l,
            Rule::Balance(AdpBalance {
                timeout_iters: 60,
                wait_iters: 10,
            }),
        )
        .iters;
        assert!(short < long, "{short} {long}");
        assert!(long <= gathering + 1e-9, "{long} {gathering}");
        // Never more than a few timeouts: the groups keep admitting.
        assert!(long < 4.0 * 60.0, "{long}");
    }

    #[test]
    fn batch_waiting_holds_prompts_for_a_full_iteration_on_one_group_only() {
        // One TP group of 64 sequences decoding 922 tokens under an 8,192-token budget (the FP8
        // B200 runs of 2026-01-29): a new prompt every ~14 iterations, and eight of them (7,376
        // tokens with the 64 decoding) to reach 80% of the budget, so the 40-iteration timeout
        // mostly releases them: the first waits 40, later ones less.
        let l = Loop {
            groups: 1,
            sequences: 64,
            input_len: 922,
            output_iters: 922.0,
            dist: LengthDist::Range08,
            budget_tokens: 8192,
            decode_tokens: 1,
        };
        let rule = |timeout_iters, max_tokens_ratio| {
            Rule::BatchWait(BatchWait {
                timeout_iters,
                max_tokens_ratio,
            })
        };
        let w = held(&l, rule(40, 0.8));
        assert!((15.0..35.0).contains(&w.iters), "{w:?}");
        // A release takes every prompt that fits: nobody sits through another's.
        assert!(w.prefills < 0.05, "{w:?}");
        // A ratio the decoding sequences alone reach holds nothing; a longer timeout holds more.
        assert!(held(&l, rule(40, 0.005)).iters.abs() < 1e-12);
        assert!(held(&l, rule(80, 0.8)).iters > w.iters);
        // TensorRT-LLM applies it only without attention DP.
        let dp = Loop { groups: 4, ..l };
        assert_eq!(held(&dp, rule(40, 0.8)), Held::default());
        assert_eq!(BatchWait::enabled(40, 0.0), None);
        assert_eq!(BatchWait::enabled(0, 0.8), None);
    }

    #[test]
    fn skipping_idle_iterations_changes_nothing() {
        // The replay jumps over iterations in which nothing can change; stepping through each
        // must give the same waits, for both rules, with leftovers (a budget for one prompt),
        // gathering, uneven groups, groups without sequences, speculative decoding's tokens and
        // ratios the decoding sequences alone reach.
        let mut checked = 0;
        for (groups, sequences) in [(1, 1), (1, 24), (3, 7), (4, 2), (8, 64)] {
            for (input_len, budget_tokens) in [(300, 400), (300, 2000), (50, 60)] {
                for decode_tokens in [1, 3] {
                    let l = Loop {
                        groups,
                        sequences,
                        input_len,
                        output_iters: 40.0,
                        dist: LengthDist::Range08,
                        budget_tokens,
                        decode_tokens,
                    };
                    let mut rules = vec![Rule::Free];
                    for (t, w) in [(1, 0), (7, 0), (7, 3)] {
                        rules.push(Rule::Balance(AdpBalance {
                            timeout_iters: t,
                            wait_iters: w,
                        }));
                    }
                    for (t, r) in [(1, 0.5), (9, 0.3), (9, 0.9), (9, 0.01)] {
                        rules.push(Rule::BatchWait(BatchWait {
                            timeout_iters: t,
                            max_tokens_ratio: r,
                        }));
                    }
                    for rule in rules {
                        let fast = replay_stepping(&l, rule, false);
                        let slow = replay_stepping(&l, rule, true);
                        assert_eq!(fast, slow, "{l:?} {rule:?}");
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 5 * 3 * 2 * 8);
    }

    #[test]
    fn the_replay_reproduces_itself() {
        let l = inferencex(4, 64, 922, 7373);
        let a = replay(&l, Rule::Balance(INFERENCEX));
        let b = replay(&l, Rule::Balance(INFERENCEX));
        assert_eq!(a, b);
    }
}
