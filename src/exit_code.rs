//! Exit codes (the contract): documented constants, used only by `main` and `run`.

/// Success.
pub const OK: u8 = 0;
/// An error: bad preset, bad value, I/O.
pub const ERROR: u8 = 1;
/// A usage error (clap's own code).
pub const USAGE: u8 = 2;
/// No configuration satisfies `--require`, or nothing fits.
pub const NO_FEASIBLE: u8 = 3;
