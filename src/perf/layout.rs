//! The layout of one replica (docs/methodology.md §5.3): how its GPUs split the model.
//!
//! A replica has `pp` pipeline stages of `tp × dp` GPUs. Inside a stage, attention runs in `dp`
//! groups of `tp` GPUs: each group holds the attention weights (split over its `tp` GPUs) and the
//! KV cache of its own sequences. The routed experts of every MoE layer are split over `ep`
//! expert-parallel ranks of the stage, each expert further over `tp·dp / ep` GPUs (expert TP).
//! `dp = 1, ep = 1` is Megatron-style tensor parallelism; `dp = 1, ep = tp` places experts inside
//! the TP group; `tp = 1, dp = ep = n` is attention data parallelism with expert parallelism
//! ("DEP n", wide EP when `n` spans nodes).

use serde::Serialize;

/// The parallel degrees of one replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Layout {
    /// Tensor-parallel degree inside one attention group.
    pub tp: u64,
    /// Attention groups per stage (attention data parallelism).
    pub dp: u64,
    /// Pipeline stages.
    pub pp: u64,
    /// Expert-parallel ranks per stage.
    pub ep: u64,
}

impl Layout {
    /// GPUs of one stage: `tp × dp`.
    pub fn stage_gpus(&self) -> u64 {
        self.tp.saturating_mul(self.dp)
    }

    /// GPUs of the replica: `tp × dp × pp`.
    pub fn gpus(&self) -> u64 {
        self.stage_gpus().saturating_mul(self.pp)
    }

    /// GPUs each expert is split over: `tp × dp / ep`.
    pub fn expert_tp(&self) -> u64 {
        self.stage_gpus() / self.ep.max(1)
    }

    /// A compact name: the non-trivial degrees joined by ×, then the EP degree, e.g. `TP8×PP16`,
    /// `DP8 EP8`, `TP2×DP4 EP8`.
    pub fn name(&self) -> String {
        let mut parts: Vec<String> = [("TP", self.tp), ("DP", self.dp), ("PP", self.pp)]
            .iter()
            .filter(|(_, v)| *v > 1)
            .map(|(k, v)| format!("{k}{v}"))
            .collect();
        if parts.is_empty() {
            parts.push("TP1".into());
        }
        let mut s = parts.join("×");
        if self.ep > 1 {
            s.push_str(&format!(" EP{}", self.ep));
        }
        s
    }
}

/// Degrees that replace some of a layout's (the disaggregated prefill pool's `--prefill-*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LayoutOverride {
    /// Tensor-parallel degree.
    pub tp: Option<u64>,
    /// Attention data-parallel degree.
    pub dp: Option<u64>,
    /// Pipeline-parallel degree.
    pub pp: Option<u64>,
    /// Expert-parallel degree.
    pub ep: Option<u64>,
}

impl LayoutOverride {
    /// `base` with these degrees in place of its own. Without an EP degree, a layout whose
    /// experts span its whole stage over more than one rank keeps doing so; otherwise the base's
    /// EP degree stays (1 for a dense model, or experts split by the TP group).
    pub fn apply(self, base: Layout) -> Layout {
        let tp = self.tp.unwrap_or(base.tp);
        let dp = self.dp.unwrap_or(base.dp);
        let ep = self
            .ep
            .unwrap_or(if base.ep > 1 && base.ep == base.stage_gpus() {
                tp.saturating_mul(dp)
            } else {
                base.ep
            });
        Layout {
            tp,
            dp,
            pp: self.pp.unwrap_or(base.pp),
            ep,
        }
    }

    /// True when no degree is given.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(tp: u64, dp: u64, pp: u64, ep: u64) -> Layout {
        Layout { tp, dp, pp, ep }
    }

    #[test]
    fn names_are_compact_and_gpus_multiply() {
        assert_eq!(l(8, 1, 16, 1).name(), "TP8×PP16");
        assert_eq!(l(1, 8, 1, 8).name(), "DP8 EP8");
        assert_eq!(l(2, 4, 1, 8).name(), "TP2×DP4 EP8");
        assert_eq!(l(1, 1, 1, 1).name(), "TP1");
        assert_eq!(l(2, 4, 2, 8).gpus(), 16);
        assert_eq!(l(2, 4, 2, 4).expert_tp(), 2);
    }

    #[test]
    fn a_prefill_override_keeps_wide_ep_wide() {
        let decode = l(1, 72, 1, 72);
        let o = LayoutOverride {
            dp: Some(32),
            ..LayoutOverride::default()
        };
        assert_eq!(o.apply(decode), l(1, 32, 1, 32));
        let tp = l(8, 1, 2, 1);
        let o = LayoutOverride {
            pp: Some(4),
            ..LayoutOverride::default()
        };
        assert_eq!(o.apply(tp), l(8, 1, 4, 1));
        // A one-GPU decode stage (a dense model, EP 1) keeps EP 1 under a wider prefill pool:
        // `--prefill-tp 8` must not ask a dense model for 8 expert ranks.
        let o = LayoutOverride {
            tp: Some(8),
            ..LayoutOverride::default()
        };
        assert_eq!(o.apply(l(1, 1, 1, 1)), l(8, 1, 1, 1));
        assert!(LayoutOverride::default().is_empty());
    }
}
