//! Per-operator roofline: an operator's time is the larger of its FLOPs at the achievable
//! FLOP/s and its bytes at the achievable HBM bandwidth (Williams et al. 2009; per-op max summed
//! over ops as in LLM-Viewer, GenZ and aiconfigurator; docs/methodology.md §4), plus the part of
//! the smaller term a real kernel does not hide: `max + (1 − overlap)·min`.

/// What the operator is limited by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// FLOPs dominate.
    Compute,
    /// Bytes dominate.
    Memory,
}

/// The work of one operator on one GPU.
#[derive(Clone, Copy, Debug, Default)]
pub struct Op {
    /// Floating-point operations.
    pub flops: f64,
    /// Bytes read or written in HBM.
    pub bytes: f64,
}

/// An operator's time under the roofline.
#[derive(Clone, Copy, Debug, Default)]
pub struct OpTime {
    /// The work.
    pub op: Op,
    /// FLOPs / achievable FLOP/s.
    pub compute_s: f64,
    /// Bytes / achievable bandwidth.
    pub memory_s: f64,
    /// Share of the smaller term hidden under the larger (1 = pure roofline).
    pub overlap: f64,
    /// Fixed time beyond both terms (a kernel's floor: launch, setup, synchronisation).
    pub fixed_s: f64,
}

impl OpTime {
    /// Time the operator takes: the larger term plus the unhidden part of the smaller, plus the
    /// fixed time.
    pub fn time_s(&self) -> f64 {
        self.compute_s.max(self.memory_s)
            + (1.0 - self.overlap) * self.compute_s.min(self.memory_s)
            + self.fixed_s
    }
    /// This operator, then `next`: one operator whose work, compute and memory terms are the two
    /// summed and whose time is exactly the sum of the two times (the difference sits in
    /// `fixed_s`).
    pub fn then(self, next: OpTime) -> OpTime {
        // time = c + m − overlap·min(c, m), so the two times' sum exceeds the summed terms'
        // time by overlap·(min(Σc, Σm) − min(c₁, m₁) − min(c₂, m₂)) (with the shared overlap;
        // written without a difference of times, which an infinite term would turn into NaN).
        let (compute_s, memory_s) = (
            self.compute_s + next.compute_s,
            self.memory_s + next.memory_s,
        );
        OpTime {
            op: Op {
                flops: self.op.flops + next.op.flops,
                bytes: self.op.bytes + next.op.bytes,
            },
            compute_s,
            memory_s,
            overlap: self.overlap,
            fixed_s: self.fixed_s
                + next.fixed_s
                + self.overlap
                    * (compute_s.min(memory_s)
                        - self.compute_s.min(self.memory_s)
                        - next.compute_s.min(next.memory_s)),
        }
    }

    /// Which term sets the time.
    pub fn bound(&self) -> Bound {
        if self.compute_s > self.memory_s {
            Bound::Compute
        } else {
            Bound::Memory
        }
    }
}

/// Time `op` at `flops_per_s` and `bytes_per_s` (both achievable rates) with `overlap`.
pub fn roofline(op: Op, flops_per_s: f64, bytes_per_s: f64, overlap: f64) -> OpTime {
    OpTime {
        op,
        compute_s: op.flops / flops_per_s,
        memory_s: op.bytes / bytes_per_s,
        overlap,
        fixed_s: 0.0,
    }
}
