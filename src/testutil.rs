//! Float comparison for tests: one helper, a relative tolerance, a message that shows both numbers.

/// Panic unless `got` is within `rel_tol` (relative) of `want`; `want = 0` compares absolutely.
#[track_caller]
pub fn assert_close(got: f64, want: f64, rel_tol: f64) {
    let scale = want.abs().max(f64::MIN_POSITIVE);
    let err = if want == 0.0 {
        got.abs()
    } else {
        (got - want).abs() / scale
    };
    assert!(
        got.is_finite() && err <= rel_tol,
        "got {got:.6e}, want {want:.6e} (relative error {err:.3e} > tolerance {rel_tol:.1e})"
    );
}

/// Panic unless `lo <= got <= hi`.
#[track_caller]
pub fn assert_within(got: f64, lo: f64, hi: f64) {
    assert!(
        got.is_finite() && got >= lo && got <= hi,
        "got {got:.6e}, want within [{lo:.6e}, {hi:.6e}]"
    );
}
