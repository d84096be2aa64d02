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
//! finished request replaced by a new one sent to the group with the fewest, as TensorRT-LLM
//! assigns them), iteration by iteration, skipping the iterations in which nothing changes.
//! Deterministic (a fixed seed); a few milliseconds a call, remembered per loop.

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
}

/// The closed loop whose admissions the rule paces.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Loop {
    /// Attention groups of the replica.
    pub groups: u64,
    /// Sequences each group holds (the closed loop's requests over the groups).
    pub per_group: u64,
    /// Prompt tokens per request.
    pub input_len: u64,
    /// Mean iterations a request decodes for (its output tokens over the tokens a step yields).
    pub output_iters: f64,
    /// Their distribution.
    pub dist: LengthDist,
    /// Tokens a group's iteration may carry (`max_num_tokens`, per group under attention DP).
    pub budget_tokens: u64,
}

/// Requests replaced before the wait is measured: twice the loop, so the starting phases are
/// forgotten.
const WARM_UP_LOOPS: u64 = 2;

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
/// flight (nothing when nothing waits: one attention group under balancing, several under batch
/// waiting, which TensorRT-LLM applies only without attention DP).
pub fn held(l: &Loop, rule: Rule) -> Held {
    let applies = match rule {
        Rule::Balance(b) => l.groups > 1 && b.timeout_iters > 0,
        Rule::BatchWait(w) => l.groups == 1 && w.timeout_iters > 0 && w.max_tokens_ratio > 0.0,
    };
    if !applies || l.per_group == 0 {
        return Held::default();
    }
    let (kind, a, b) = match rule {
        Rule::Balance(b) => (0u8, b.timeout_iters, b.wait_iters),
        Rule::BatchWait(w) => (1u8, w.timeout_iters, w.max_tokens_ratio.to_bits()),
    };
    type Key = (u64, u64, u64, u64, u8, u64, (u8, u64, u64));
    thread_local! {
        static CACHE: crate::memo::Cache<Key, Held> = Default::default();
    }
    let key = (
        l.groups,
        l.per_group,
        l.input_len,
        l.output_iters.to_bits(),
        l.dist as u8,
        l.budget_tokens,
        (kind, a, b),
    );
    crate::memo::remember(&CACHE, key, || replay(l, rule))
}

/// The prompts at the head of a group's queue that fit its iteration's token budget with
/// `running` sequences decoding (at least one: a prompt larger than the budget goes in alone,
/// chunked over iterations).
fn fitting(l: &Loop, waiting: usize, running: u64) -> usize {
    let room = l.budget_tokens.saturating_sub(running) / l.input_len.max(1);
    waiting.min(room.max(1) as usize)
}

/// The replay behind `held`, without its memory (benches/sweep.rs times it).
pub fn replay(l: &Loop, rule: Rule) -> Held {
    let groups = l.groups.min(u32::MAX as u64) as usize;
    let mut rng = Rng::new(SEED);
    let mean_iters = l.output_iters.max(1.0);
    let draw = |rng: &mut Rng| l.dist.draw(mean_iters, rng.next_f64()).max(1);
    // Iteration at which each decoding sequence finishes, and its group.
    let mut finishing: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
    let mut running = vec![0u64; groups];
    // Each waiting request's arrival: its iteration, and the releases' prefills before it.
    let mut waiting: Vec<VecDeque<(u64, u64)>> = vec![VecDeque::new(); groups];
    // The busiest group's prompts in every release so far.
    let mut prefilled = 0u64;
    // Start in the steady state's phases: each sequence somewhere in its decode.
    for (g, n) in running.iter_mut().enumerate() {
        for _ in 0..l.per_group {
            let len = draw(&mut rng);
            finishing.push(Reverse((1 + (rng.next_f64() * len as f64) as u64, g)));
            *n += 1;
        }
    }
    let warm_up = WARM_UP_LOOPS.saturating_mul(l.groups.saturating_mul(l.per_group));
    let (mut finished, mut samples, mut waited, mut sat) = (0u64, 0u64, 0u64, 0u64);
    // The rule's counters: balancing's timeout and gathering, batch waiting's timeout.
    let (mut counter, mut gathering) = (0u64, 0u64);
    let mut waiting_total = 0u64;
    let mut now = 0u64;
    for _ in 0..MAX_EVENTS {
        // The sequences that finish now; each is replaced by a new request, sent to the group
        // with the fewest (ties at random).
        while let Some(&Reverse((at, g))) = finishing.peek() {
            if at > now {
                break;
            }
            finishing.pop();
            running[g] -= 1;
            finished += 1;
            let active = |i: usize| running[i] + waiting[i].len() as u64;
            let fewest = (0..groups).map(active).min().unwrap_or(0);
            let ties = (0..groups).filter(|&i| active(i) == fewest).count();
            let pick = rng.below(ties);
            let to = (0..groups)
                .filter(|&i| active(i) == fewest)
                .nth(pick)
                .unwrap_or(0);
            waiting[to].push_back((now, prefilled));
            waiting_total += 1;
        }
        // The rule.
        let every_prompt = waiting.iter().all(|w| !w.is_empty());
        let every_decode = running.iter().all(|&n| n > 0);
        let release = match rule {
            Rule::Balance(b) => {
                if every_prompt {
                    counter = 0;
                    if every_decode && gathering < b.wait_iters {
                        gathering += 1;
                        false
                    } else {
                        gathering = 0;
                        true
                    }
                } else {
                    counter += 1;
                    if counter >= b.timeout_iters || !every_decode {
                        counter = 0;
                        true
                    } else {
                        false
                    }
                }
            }
            Rule::BatchWait(w) => {
                if waiting_total == 0 || !every_decode {
                    // Nothing to hold, or nothing decoding to wait beside: no waiting.
                    waiting_total > 0
                } else {
                    let prompts = fitting(l, waiting[0].len(), running[0]) as u64;
                    let tokens = (prompts * l.input_len + running[0]) as f64;
                    if counter >= w.timeout_iters
                        || tokens >= w.max_tokens_ratio * l.budget_tokens as f64
                    {
                        counter = 0;
                        true
                    } else {
                        counter += 1;
                        false
                    }
                }
            }
        };
        if release {
            let mut busiest = 0u64;
            for g in 0..groups {
                let admit = fitting(l, waiting[g].len(), running[g]);
                busiest = busiest.max(admit as u64);
                for _ in 0..admit {
                    let Some((arrived, before)) = waiting[g].pop_front() else {
                        break;
                    };
                    waiting_total -= 1;
                    if finished > warm_up {
                        waited += now - arrived;
                        sat += prefilled - before;
                        samples += 1;
                    }
                    running[g] += 1;
                    finishing.push(Reverse((now + draw(&mut rng), g)));
                }
            }
            prefilled += busiest;
            if samples >= SAMPLES {
                break;
            }
        }
        // Skip to the next iteration at which something can change: a sequence finishes, the
        // timeout releases what waits, or the gathering ends. The iterations skipped advance the
        // counters as the rule would, releasing nothing.
        let next_finish = finishing.peek().map_or(now + 1, |r| r.0.0).max(now + 1);
        let next = match rule {
            Rule::Balance(b) => {
                let every_prompt = waiting.iter().all(|w| !w.is_empty());
                let next = if waiting_total == 0 {
                    next_finish
                } else if every_prompt {
                    next_finish.min(now + 1 + b.wait_iters.saturating_sub(gathering))
                } else {
                    next_finish.min(now + b.timeout_iters.saturating_sub(counter).max(1))
                };
                let idle = next - now - 1;
                if waiting_total == 0 {
                    counter = (counter + idle) % b.timeout_iters;
                } else if every_prompt {
                    gathering += idle;
                } else {
                    counter += idle;
                }
                next
            }
            Rule::BatchWait(w) => {
                if waiting_total == 0 {
                    next_finish
                } else {
                    let next = next_finish.min(now + 1 + w.timeout_iters.saturating_sub(counter));
                    counter += next - now - 1;
                    next
                }
            }
        };
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
            per_group,
            input_len,
            output_iters: output_len as f64,
            dist: LengthDist::Range08,
            budget_tokens: 1344,
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
            per_group: 64,
            input_len: 922,
            output_iters: 922.0,
            dist: LengthDist::Range08,
            budget_tokens: 8192,
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
    fn the_replay_reproduces_itself() {
        let l = inferencex(4, 64, 922, 7373);
        let a = replay(&l, Rule::Balance(INFERENCEX));
        let b = replay(&l, Rule::Balance(INFERENCEX));
        assert_eq!(a, b);
    }
}
