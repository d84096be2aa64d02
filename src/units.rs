//! Unit conversions. The only place in the crate that knows how many bytes are in a GiB or how
//! many FLOP/s are in a TFLOP/s: everything else works in SI base units (bytes, seconds, FLOP,
//! bytes/s, FLOP/s) and calls these helpers at the edges (preset loading and display).

/// Bytes in a decimal gigabyte (GB).
pub const BYTES_PER_GB: f64 = 1e9;
/// Bytes in a binary gibibyte (GiB).
pub const BYTES_PER_GIB: f64 = 1_073_741_824.0;
/// Bytes in a decimal terabyte (TB).
pub const BYTES_PER_TB: f64 = 1e12;
/// Seconds in an hour.
pub const S_PER_HOUR: f64 = 3600.0;
/// Seconds in a day.
pub const S_PER_DAY: f64 = 86_400.0;

/// GiB → bytes.
pub fn gib_to_bytes(gib: f64) -> f64 {
    gib * BYTES_PER_GIB
}
/// Bytes → GiB (display only).
pub fn bytes_to_gib(bytes: f64) -> f64 {
    bytes / BYTES_PER_GIB
}
/// Bytes → GB (display only).
pub fn bytes_to_gb(bytes: f64) -> f64 {
    bytes / BYTES_PER_GB
}
/// TB/s (1e12 bytes/s, as on datasheets) → bytes/s.
pub fn tb_per_s_to_bytes_per_s(tb_s: f64) -> f64 {
    tb_s * BYTES_PER_TB
}
/// GB/s (1e9 bytes/s) → bytes/s.
pub fn gb_per_s_to_bytes_per_s(gb_s: f64) -> f64 {
    gb_s * BYTES_PER_GB
}
/// Gbit/s (network, 1e9 bits/s) → bytes/s.
pub fn gbit_per_s_to_bytes_per_s(gbit_s: f64) -> f64 {
    gbit_s * 1e9 / 8.0
}
/// TFLOP/s → FLOP/s.
pub fn tflops_to_flops_per_s(tflops: f64) -> f64 {
    tflops * 1e12
}
/// FLOP/s → TFLOP/s (display only).
pub fn flops_per_s_to_tflops(flops_per_s: f64) -> f64 {
    flops_per_s / 1e12
}
/// Microseconds → seconds.
pub fn us_to_s(us: f64) -> f64 {
    us * 1e-6
}
/// Nanoseconds → seconds.
pub fn ns_to_s(ns: f64) -> f64 {
    ns * 1e-9
}
/// Seconds → milliseconds (display only).
pub fn s_to_ms(s: f64) -> f64 {
    s * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gib_is_binary_and_gb_is_decimal() {
        assert!((gib_to_bytes(1.0) - 1_073_741_824.0).abs() < 1e-6);
        assert!((bytes_to_gb(1e9) - 1.0).abs() < 1e-12);
        assert!((gbit_per_s_to_bytes_per_s(400.0) - 50e9).abs() < 1e-3);
    }
}
