//! TensorRT-LLM's attention-DP context balancing (`attention_dp_config.enable_balance`;
//! docs/methodology.md §7.3): how long a new request waits before its prefill is scheduled when a
//! replica's attention groups admit prompts together.
//!
//! Under attention DP every group runs its own sequences, but a step waits for the slowest group,
//! so TensorRT-LLM holds a group's new prompts until every group has one (`PyExecutor.
//! _balance_adp_requests`): each iteration in which some group has no scheduled prompt counts
//! towards `timeout_iters`, and reaching it releases what is waiting; when every group has one, a
//! further `batching_wait_iters` iterations gather more. The counter runs whether or not anything
//! waits, and a group admits at a release only the prompts that fit its per-iteration token
//! budget (`max_num_tokens` less one token per decoding sequence), so a group with two prompts
//! waiting keeps the second until the next release.
//!
//! The wait depends on when requests finish in each group, which a closed form does not follow:
//! this module replays the rule over a closed loop of the replica's requests (each finished
//! request replaced by a new one sent to the group with the fewest, as TensorRT-LLM assigns them),
//! iteration by iteration, skipping the iterations in which nothing changes. Deterministic (a
//! fixed seed); a few milliseconds a call, remembered per loop.

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

/// Mean iterations a new request waits for the rule to release its prompt, beyond the iteration
/// in flight (0 with one group, or when the timeout is 0).
pub fn mean_wait_iters(l: &Loop, b: AdpBalance) -> f64 {
    if l.groups <= 1 || b.timeout_iters == 0 || l.per_group == 0 {
        return 0.0;
    }
    type Key = (u64, u64, u64, u64, u8, u64, AdpBalance);
    thread_local! {
        static CACHE: crate::memo::Cache<Key, f64> = Default::default();
    }
    let key = (
        l.groups,
        l.per_group,
        l.input_len,
        l.output_iters.to_bits(),
        l.dist as u8,
        l.budget_tokens,
        b,
    );
    crate::memo::remember(&CACHE, key, || replay(l, b))
}

/// The replay behind `mean_wait_iters`.
fn replay(l: &Loop, b: AdpBalance) -> f64 {
    let groups = l.groups.min(u32::MAX as u64) as usize;
    let mut rng = Rng::new(SEED);
    let mean_iters = l.output_iters.max(1.0);
    let draw = |rng: &mut Rng| l.dist.draw(mean_iters, rng.next_f64()).max(1);
    // Iteration at which each decoding sequence finishes, and its group.
    let mut finishing: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
    let mut running = vec![0u64; groups];
    let mut waiting: Vec<VecDeque<u64>> = vec![VecDeque::new(); groups];
    // Start in the steady state's phases: each sequence somewhere in its decode.
    for (g, n) in running.iter_mut().enumerate() {
        for _ in 0..l.per_group {
            let len = draw(&mut rng);
            finishing.push(Reverse((1 + (rng.next_f64() * len as f64) as u64, g)));
            *n += 1;
        }
    }
    let warm_up = WARM_UP_LOOPS.saturating_mul(l.groups.saturating_mul(l.per_group));
    let (mut finished, mut samples, mut waited) = (0u64, 0u64, 0u64);
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
            waiting[to].push_back(now);
            waiting_total += 1;
        }
        // The rule.
        let every_prompt = waiting.iter().all(|w| !w.is_empty());
        let every_decode = running.iter().all(|&n| n > 0);
        let release = if every_prompt {
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
        };
        if release {
            for g in 0..groups {
                let mut budget = l.budget_tokens.saturating_sub(running[g]);
                let mut admitted = 0u64;
                // A prompt larger than the budget still goes in alone (chunked over iterations).
                while let Some(&arrived) = waiting[g].front() {
                    if admitted > 0 && budget < l.input_len {
                        break;
                    }
                    waiting[g].pop_front();
                    waiting_total -= 1;
                    budget = budget.saturating_sub(l.input_len);
                    admitted += 1;
                    if finished > warm_up {
                        waited += now - arrived;
                        samples += 1;
                    }
                    running[g] += 1;
                    finishing.push(Reverse((now + draw(&mut rng), g)));
                }
            }
            if samples >= SAMPLES {
                break;
            }
        }
        // Skip to the next iteration at which something can change: a sequence finishes, the
        // timeout releases what waits, or the gathering ends.
        let next_finish = finishing.peek().map_or(now + 1, |r| r.0.0).max(now + 1);
        let every_prompt = waiting.iter().all(|w| !w.is_empty());
        let next = if waiting_total == 0 {
            next_finish
        } else if every_prompt {
            next_finish.min(now + 1 + b.wait_iters.saturating_sub(gathering))
        } else {
            next_finish.min(now + b.timeout_iters.saturating_sub(counter).max(1))
        };
        // The iterations skipped advance the counters as the rule would, releasing nothing.
        let idle = next - now - 1;
        if waiting_total == 0 {
            counter = (counter + idle) % b.timeout_iters;
        } else if every_prompt {
            gathering += idle;
        } else {
            counter += idle;
        }
        now = next;
    }
    if samples == 0 {
        0.0
    } else {
        waited as f64 / samples as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::assert_close;

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
        assert_close(mean_wait_iters(&l, INFERENCEX), 0.0, 0.0);
        let l = inferencex(8, 32, 922, 922);
        let off = AdpBalance {
            timeout_iters: 0,
            wait_iters: 0,
        };
        assert_close(mean_wait_iters(&l, off), 0.0, 0.0);
    }

    #[test]
    fn rare_arrivals_wait_about_half_the_timeout_or_more() {
        // 8 groups of 4 sequences decoding 7,373 tokens: a new request every ~230 iterations,
        // far sparser than the timeout, so the free-running counter releases it 0 to 60
        // iterations after it arrives (30 on average); a second prompt in the same group within
        // one cycle (the budget admits one 922-token prompt a release) waits a cycle more.
        let w = mean_wait_iters(&inferencex(8, 4, 922, 7373), INFERENCEX);
        assert!((29.0..40.0).contains(&w), "{w}");
    }

    #[test]
    fn the_wait_grows_with_the_timeout_and_shrinks_with_gathering_off() {
        let l = inferencex(8, 32, 922, 922);
        let short = mean_wait_iters(
            &l,
            AdpBalance {
                timeout_iters: 20,
                wait_iters: 0,
            },
        );
        let long = mean_wait_iters(&l, INFERENCEX);
        let gathering = mean_wait_iters(
            &l,
            AdpBalance {
                timeout_iters: 60,
                wait_iters: 10,
            },
        );
        assert!(short < long, "{short} {long}");
        assert!(long <= gathering + 1e-9, "{long} {gathering}");
        // Never more than a few timeouts: the groups keep admitting.
        assert!(long < 4.0 * 60.0, "{long}");
    }

    #[test]
    fn the_replay_reproduces_itself() {
        let l = inferencex(4, 64, 922, 7373);
        let a = replay(&l, INFERENCEX);
        let b = replay(&l, INFERENCEX);
        assert_close(a, b, 0.0);
    }
}
