//! Axis values on the command line: a comma list (`1,2,4,8`), a doubling range (`1..4096` =
//! 1, 2, 4, …, 4096), or a mix (`1..8,12`); `k`/`m` suffixes multiply by 1024/1048576
//! (`2k` = 2048 tokens).

/// Parse an axis of positive integers. The error names the flag, the text and what is allowed.
pub fn parse_u64_axis(flag: &str, text: &str) -> Result<Vec<u64>, String> {
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

fn parse_count(flag: &str, s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (digits, mult) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 1024),
        Some('m' | 'M') => (&s[..s.len() - 1], 1024 * 1024),
        _ => (s, 1),
    };
    let v: u64 = digits.parse().map_err(|_| {
        format!("--{flag} `{s}`: not a positive integer (allowed: 8, 2k, 1,2,4 or 1..64)")
    })?;
    if v == 0 {
        return Err(format!("--{flag} `{s}`: must be at least 1"));
    }
    v.checked_mul(mult)
        .ok_or_else(|| format!("--{flag} `{s}`: too large"))
}

/// Parse a comma list of dtypes.
pub fn parse_dtype_axis(flag: &str, text: &str) -> Result<Vec<crate::dtype::Dtype>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        out.push(
            part.parse()
                .map_err(|e| format!("--{flag} `{part}`: {e}"))?,
        );
    }
    if out.is_empty() {
        return Err(format!(
            "--{flag} `{text}`: no values; e.g. bf16 or fp8,bf16"
        ));
    }
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_range_to_the_largest_integer_ends() {
        let v = parse_u64_axis("batch", "1..18446744073709551615").unwrap();
        assert_eq!(v.len(), 64);
        assert_eq!(*v.last().unwrap(), 1 << 63);
    }

    #[test]
    fn rejects_empty_zero_and_garbage() {
        for bad in ["", ",", "8..4", "0", "-1", "x", "1.5", "2..x"] {
            let err = parse_u64_axis("batch", bad).unwrap_err();
            assert!(err.starts_with("--batch"), "{err}");
        }
    }
}
