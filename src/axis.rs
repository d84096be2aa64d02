//! Axis values on the command line: a comma list (`1,2,4,8`), a doubling range (`1..4096` =
//! 1, 2, 4, …, 4096), or a mix (`1..8,12`); `k`/`m` suffixes multiply by 1024/1048576
//! (`2k` = 2048 tokens).

/// Parse an axis of positive integers. The error names the flag, the text and what is allowed.
/// Every value, and both ends of a range, must lie in the flag's range (`limits::flag_range`).
pub fn parse_u64_axis(flag: &str, text: &str) -> Result<Vec<u64>, String> {
    let range = crate::limits::flag_range(flag);
    let parse_count = |flag: &str, s: &str| {
        let v = parse_count(flag, s)?;
        range
            .check(&format!("--{flag}"), v)
            .map_err(|_| format!("--{flag} `{}`: {}", s.trim(), range.allowed()))
    };
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim) {
        if part.is_empty() {
            continue;
        }
        if let Some((a, b)) = part.split_once("..") {
            let lo = parse_count(flag, a.trim_end_matches('='))?;
            let hi = parse_count(flag, b.trim_start_matches('='))?;
            if lo > hi {
                return Err(format!(
                    "--{flag} `{part}`: the range is empty (start {lo} > end {hi})"
                ));
            }
            // At most 64 doublings: stop when the next one would pass `hi` or overflow.
            let mut v = lo;
            while v <= hi {
                out.push(v);
                match v.checked_mul(2) {
                    Some(next) => v = next,
                    None => break,
                }
            }
        } else {
            out.push(parse_count(flag, part)?);
        }
    }
    if out.is_empty() {
        return Err(format!(
            "--{flag} `{text}`: no values; give a list like 1,2,4 or a doubling range like 1..64"
        ));
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// The values of an axis the user names one by one (`8` in `1..4,8`), not through a range:
/// those a command keeps even where the model cannot take them, for the check to report.
pub fn named_values(flag: &str, text: &str) -> Result<Vec<u64>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim) {
        if !part.is_empty() && !part.contains("..") {
            out.extend(parse_u64_axis(flag, part)?);
        }
    }
    Ok(out)
}

/// The syntax of an integer axis, for clap's `value_parser` (a word where a number belongs is a
/// usage error, exit 2): every comma-separated item is a number (`8`, `2k`, `1m`) or a range of
/// two (`1..64`), and no item is empty; or `auto`. Returns the text unchanged; the values'
/// ranges are checked with the configuration (`parse_u64_axis`, exit 1).
pub fn syntax(flag: &'static str) -> impl Fn(&str) -> Result<String, String> + Clone + Send + Sync {
    move |text: &str| {
        // `auto` (where the flag takes it: --ep, --interleave) is the command's to judge.
        if text.trim().eq_ignore_ascii_case("auto") {
            return Ok(text.to_string());
        }
        let items: Vec<&str> = text.split(',').map(str::trim).collect();
        if items.iter().any(|i| i.is_empty()) {
            return Err(format!(
                "`{text}`: an empty item in --{flag}; give a list like 1,2,4 or a doubling range like 1..64"
            ));
        }
        for item in items {
            let ends: Vec<&str> = match item.split_once("..") {
                Some((a, b)) => vec![a.trim_end_matches('='), b.trim_start_matches('=')],
                None => vec![item],
            };
            for e in ends {
                if parse_number(e.trim()).is_none() {
                    return Err(format!(
                        "`{}`: {} in --{flag} (allowed: 8, 2k, 1,2,4 or 1..64)",
                        crate::limits::clip(e.trim()),
                        not_a_count(e.trim())
                    ));
                }
            }
        }
        Ok(text.to_string())
    }
}

/// `--zero`'s form, for clap's `value_parser` (a malformed value is a usage error, exit 2, as the
/// other axes'): a comma list of whole numbers and inclusive ranges `A..B`. Whether each stage
/// is 0 – 3 is the command's to judge (exit 1).
pub fn zero_syntax(text: &str) -> Result<String, String> {
    const ALLOWED: &str = "allowed: 0, 1, 2 or 3, a list such as 1,3 or a range such as 0..3";
    for item in text.split(',').map(str::trim) {
        let ends: Vec<&str> = match item.split_once("..") {
            Some((a, b)) => vec![a.trim(), b.trim()],
            None => vec![item],
        };
        if ends.iter().any(|e| e.is_empty()) {
            return Err(format!(
                "`{}`: an empty item or range end in --zero ({ALLOWED})",
                crate::limits::clip(if item.is_empty() { text } else { item })
            ));
        }
        if let Some(e) = ends.iter().find(|e| !e.bytes().all(|c| c.is_ascii_digit())) {
            return Err(format!(
                "`{}`: not a ZeRO stage in --zero ({ALLOWED})",
                crate::limits::clip(e)
            ));
        }
    }
    Ok(text.to_string())
}

/// One value of an axis (`estimate`, `train --gpus`): the axis syntax (`8`, `2k`) without lists or
/// ranges. For clap's `value_parser`, which names the flag itself. The flag's range is checked
/// with the configuration (exit 1, one line naming the flag, the value and the range).
pub fn one_value(flag: &'static str) -> impl Fn(&str) -> Result<u64, String> + Clone + Send + Sync {
    move |text: &str| {
        if text.contains(',') || text.contains("..") {
            return Err(format!(
                "`{text}`: --{flag} takes one value here; sweep takes lists and ranges"
            ));
        }
        parse_number(text.trim()).ok_or_else(|| {
            format!(
                "`{text}`: {} (allowed: e.g. 8, 2k or 1m)",
                not_a_count(text.trim())
            )
        })
    }
}

/// A count flag (`--top`, `--threads`, `--speculate`, …) for clap's `value_parser`: a plain
/// whole number from 1 to `max`. The message says what is allowed, without clap's range
/// notation (`1..18446744073709551615`).
pub fn count_up_to(max: u64) -> impl Fn(&str) -> Result<u64, String> + Clone + Send + Sync {
    move |text: &str| {
        let allowed = if max == u64::MAX {
            "must be a whole number, at least 1".to_string()
        } else {
            format!(
                "must be a whole number from 1 to {}",
                crate::limits::grouped(max)
            )
        };
        match text.trim().parse::<u64>() {
            Ok(v) if (1..=max).contains(&v) => Ok(v),
            Ok(_) => Err(format!("`{text}`: {allowed}")),
            Err(_) if is_negative(text.trim()) => Err(format!("`{text}`: negative; {allowed}")),
            Err(_) if all_digits(text.trim()) => Err(format!("`{text}`: {allowed}")),
            Err(_) => Err(format!("`{text}`: not a whole number; {allowed}")),
        }
    }
}

/// A number flag for clap's `value_parser`, in the range `limits::float_flag_range` gives the
/// flag (`--decode-admission-iters`): finite, within its bounds.
pub fn number_in(flag: &'static str) -> impl Fn(&str) -> Result<f64, String> + Clone + Send + Sync {
    move |text: &str| {
        let range = crate::limits::float_flag_range(flag);
        match text.trim().parse::<f64>() {
            Ok(v) if v.is_finite() && v >= range.min && v <= range.max => Ok(v),
            Ok(_) => Err(format!("`{text}`: {}", range.allowed())),
            Err(_) => Err(format!("`{text}`: not a number; {}", range.allowed())),
        }
    }
}

/// `--batch-wait TIMEOUT:RATIO` for clap's `value_parser`: TensorRT-LLM's batch waiting, a
/// timeout of 1 to `MAX_BALANCE_ITERS` iterations and a share of the token budget in (0, 1], or
/// `off` (0 and 0).
pub fn batch_wait(text: &str) -> Result<(u64, f64), String> {
    let allowed = format!(
        "allowed: TIMEOUT:RATIO, a timeout from 1 to {} iterations and a ratio above 0 and at most 1, e.g. 40:0.8, or off",
        crate::limits::grouped(crate::limits::MAX_BALANCE_ITERS)
    );
    if text.trim() == "off" {
        return Ok((0, 0.0));
    }
    let Some((t, r)) = text.trim().split_once(':') else {
        return Err(format!("`{text}`: {allowed}"));
    };
    match (t.trim().parse::<u64>(), r.trim().parse::<f64>()) {
        (Ok(t), Ok(r))
            if (1..=crate::limits::MAX_BALANCE_ITERS).contains(&t) && r > 0.0 && r <= 1.0 =>
        {
            Ok((t, r))
        }
        _ => Err(format!("`{text}`: {allowed}")),
    }
}

/// A whole-number flag that may be 0 (`--adp-balance-wait`) for clap's `value_parser`: a plain
/// whole number from 0 to `max`, with the message `count_up_to` gives.
pub fn whole_up_to(max: u64) -> impl Fn(&str) -> Result<u64, String> + Clone + Send + Sync {
    move |text: &str| {
        let allowed = format!(
            "must be a whole number from 0 to {}",
            crate::limits::grouped(max)
        );
        match text.trim().parse::<u64>() {
            Ok(v) if v <= max => Ok(v),
            Ok(_) => Err(format!("`{text}`: {allowed}")),
            Err(_) if is_negative(text.trim()) => Err(format!("`{text}`: negative; {allowed}")),
            Err(_) if all_digits(text.trim()) => Err(format!("`{text}`: {allowed}")),
            Err(_) => Err(format!("`{text}`: not a whole number; {allowed}")),
        }
    }
}

/// A whole-number flag with a range in `limits::flag_range` (`--redundant-experts`,
/// `--mtp-layers`, …) for clap's `value_parser`: a negative or fractional value gets the flag's
/// range in the message, not the integer parser's "invalid digit found in string".
pub fn ranged(flag: &'static str) -> impl Fn(&str) -> Result<u64, String> + Clone + Send + Sync {
    // A whole number passes: its range is checked with the configuration (exit 1, like every
    // other range); only text that is not one is a usage error here.
    move |text: &str| {
        let allowed = || crate::limits::flag_range(flag).allowed();
        match text.trim().parse::<u64>() {
            Ok(v) => Ok(v),
            Err(_) if is_negative(text.trim()) => Err(format!("`{text}`: negative; {}", allowed())),
            // A whole number past u64: out of range, not malformed.
            Err(_) if all_digits(text.trim()) => Err(format!("`{text}`: {}", allowed())),
            Err(_) => Err(format!("`{text}`: not a whole number; {}", allowed())),
        }
    }
}

/// Whether `s` is a run of decimal digits (a whole number, however large).
fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Why `s` is not a count: a negative number, or not a whole number at all.
fn not_a_count(s: &str) -> &'static str {
    let negative = s.strip_prefix('-').is_some_and(|rest| {
        rest.trim_start()
            .starts_with(|c: char| c.is_ascii_digit() || c == '.')
    });
    if negative {
        "negative; must be a positive integer"
    } else {
        "not a positive integer"
    }
}

/// Whether `s` reads as a negative number (`-1`, `-0.5`).
fn is_negative(s: &str) -> bool {
    s.strip_prefix('-')
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit() || c == '.'))
}

/// `8`, `2k` (×1024), `1m` (×1048576); `None` when not a number or beyond u64.
fn parse_number(s: &str) -> Option<u64> {
    let (digits, mult) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 1024),
        Some('m' | 'M') => (&s[..s.len() - 1], 1024 * 1024),
        _ => (s, 1),
    };
    digits.parse::<u64>().ok()?.checked_mul(mult)
}

fn parse_count(flag: &str, s: &str) -> Result<u64, String> {
    let s = s.trim();
    let v = parse_number(s).ok_or_else(|| {
        format!(
            "--{flag} `{s}`: {} (allowed: 8, 2k, 1,2,4 or 1..64)",
            not_a_count(s)
        )
    })?;
    Ok(v)
}

/// Parse a comma list of dtypes.
pub fn parse_dtype_axis(flag: &str, text: &str) -> Result<Vec<crate::dtype::Dtype>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let d = part
            .parse()
            .map_err(|e| format!("--{flag} `{part}`: {e}"))?;
        // A repeated value would only repeat rows: keep the first.
        if !out.contains(&d) {
            out.push(d);
        }
    }
    if out.is_empty() {
        return Err(format!(
            "--{flag} `{text}`: no values; e.g. bf16 or fp8,bf16"
        ));
    }
    Ok(out)
}

/// Parser of a token count (`--tokens`, `--global-batch-tokens`): a number (`13e12`,
/// `4194304`), or one with a decimal suffix, as token counts are quoted: `k` (10^3), `M` (10^6),
/// `B` or `G` (10^9), `T` (10^12), so `13T` = 13e12 and `60M` = 6e7. (A lower-case `m` is
/// refused: axes read it as ×1,048,576.) Ranges are the command's to check.
pub fn token_count(
    flag: &'static str,
) -> impl Fn(&str) -> Result<f64, String> + Clone + Send + Sync {
    move |text: &str| {
        let t = text.trim();
        let (digits, scale) = match t.chars().last() {
            Some('k' | 'K') => (&t[..t.len() - 1], 1e3),
            Some('M') => (&t[..t.len() - 1], 1e6),
            Some('B' | 'b' | 'G' | 'g') => (&t[..t.len() - 1], 1e9),
            Some('T' | 't') => (&t[..t.len() - 1], 1e12),
            _ => (t, 1.0),
        };
        match digits.trim().parse::<f64>() {
            Ok(v) if !(scale > 1.0 && v.is_nan()) => Ok(v * scale),
            _ => Err(format!(
                "`{}`: not a token count for --{flag}; write a number (13e12) or one with a suffix k, M, B or T (13T)",
                crate::limits::clip(t)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn named_values_are_the_items_outside_ranges() {
        assert_eq!(super::named_values("tp", "1..8,12"), Ok(vec![12]));
        assert_eq!(super::named_values("tp", "1..8"), Ok(vec![]));
        assert_eq!(super::named_values("tp", "2k, 4"), Ok(vec![2048, 4]));
        assert!(super::named_values("tp", "0").is_err());
    }

    #[test]
    fn token_counts_take_decimal_suffixes() {
        let p = super::token_count("tokens");
        assert_eq!(p("13T"), Ok(13e12));
        assert_eq!(p("60M"), Ok(60e6));
        assert_eq!(p("1.5B"), Ok(1.5e9));
        assert_eq!(p("4k"), Ok(4e3));
        assert_eq!(p("13e12"), Ok(13e12));
        for bad in ["13m", "13X", "T", "", "1..2"] {
            let e = p(bad).unwrap_err();
            assert!(e.contains("--tokens") && e.contains("13T"), "{bad}: {e}");
        }
    }

    use super::*;

    #[test]
    fn counts_name_what_is_allowed() {
        let top = count_up_to(u64::MAX);
        assert_eq!(top("5"), Ok(5));
        assert_eq!(
            top("0").unwrap_err(),
            "`0`: must be a whole number, at least 1"
        );
        assert_eq!(
            top("-3").unwrap_err(),
            "`-3`: negative; must be a whole number, at least 1"
        );
        let gamma = count_up_to(64);
        assert_eq!(gamma("64"), Ok(64));
        assert_eq!(
            gamma("65").unwrap_err(),
            "`65`: must be a whole number from 1 to 64"
        );
        assert_eq!(
            gamma("x").unwrap_err(),
            "`x`: not a whole number; must be a whole number from 1 to 64"
        );
        assert!(one_value("batch")("-1").unwrap_err().contains("negative"));
        assert!(syntax("tp")("2,-4").unwrap_err().contains("`-4`: negative"));
        assert!(!syntax("tp")("2,x").unwrap_err().contains("negative"));
    }

    #[test]
    fn lists_ranges_and_suffixes() {
        assert_eq!(parse_u64_axis("tp", "1,2,4,8").unwrap(), vec![1, 2, 4, 8]);
        assert_eq!(
            parse_u64_axis("batch", "1..16").unwrap(),
            vec![1, 2, 4, 8, 16]
        );
        assert_eq!(parse_u64_axis("batch", "3..20").unwrap(), vec![3, 6, 12]);
        assert_eq!(
            parse_u64_axis("input-len", "2k,8k").unwrap(),
            vec![2048, 8192]
        );
        assert_eq!(parse_u64_axis("pp", "4,1..2").unwrap(), vec![1, 2, 4]);
    }

    #[test]
    fn a_range_to_the_largest_integer_is_refused_before_it_expands() {
        // The end is checked against the flag's range before any doubling (the doubling loop
        // also stops at overflow, a backstop for a flag whose range reaches u64::MAX).
        let e = parse_u64_axis("batch", "1..18446744073709551615").unwrap_err();
        assert!(e.contains("--batch") && e.contains("1,048,576"), "{e}");
        let v = parse_u64_axis("batch", "1..1048576").unwrap();
        assert_eq!(v.len(), 21);
    }

    #[test]
    fn rejects_empty_zero_and_garbage() {
        for bad in [
            "",
            ",",
            "8..4",
            "0",
            "-1",
            "x",
            "1.5",
            "2..x",
            "1..18446744073709551615",
            "2000000",
            "18446744073709551615m",
        ] {
            let err = parse_u64_axis("batch", bad).unwrap_err();
            assert!(err.starts_with("--batch"), "{err}");
        }
    }

    #[test]
    fn dtypes_dedupe_in_first_seen_order() {
        use crate::dtype::Dtype;
        assert_eq!(
            parse_dtype_axis("dtype", "bf16,fp8,bf16").unwrap(),
            vec![Dtype::Bf16, Dtype::Fp8]
        );
    }

    #[test]
    fn one_value_takes_the_axis_syntax_without_lists() {
        let len = one_value("input-len");
        assert_eq!(len("8k"), Ok(8192));
        assert_eq!(len("0"), Ok(0));
        assert!(len("1,2").is_err());
        assert!(len("1..4").is_err());
        assert!(len("x").is_err());
        assert!(len("18446744073709551615k").is_err());
    }
}
