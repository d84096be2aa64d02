//! Searches over the serving batch: the grid 1, 2, 3, 4, 6, 8, 12, … 98,304 that `validate`'s
//! max-throughput cases and `reproduce`'s serving points price, and the exact searches on top of
//! it for an answer that sits at a threshold (an interactivity floor, a speed, a price).
//!
//! A threshold answer between two grid batches, whose steps are up to 1.5×, would otherwise come
//! out up to a third off; the searches below price the grid, then bisect the integers between the
//! grid batch at the threshold and its neighbour, so the batch at the threshold is found exactly
//! for about log2 of the gap more estimates.

/// The grid: 1, 2, 3, 4, 6, 8, 12, … 65,536, 98,304 (powers of two up to 2^16 and 1.5× them).
pub fn grid() -> impl Iterator<Item = u64> {
    (0..17)
        .flat_map(|i| [1u64 << i, 3u64 << i >> 1])
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
}

/// Every priced batch that `meets` a threshold which small batches meet and large ones do not
/// (tokens/s per user above a floor, memory that fits): the grid's, then the integers between the
/// largest grid batch that meets it and the next grid batch (past the grid's end, the tool's
/// largest batch, 1,048,576), bisected, so the largest integer batch that meets it is among them.
/// `at` prices a batch (`None`: not a valid configuration).
pub fn largest_meeting<E>(at: impl Fn(u64) -> Option<E>, meets: impl Fn(&E) -> bool) -> Vec<E> {
    let grid: Vec<u64> = grid().collect();
    let mut kept = Vec::new();
    // The largest grid batch that meets the threshold, and the grid batch after it.
    let mut bracket = None;
    for (i, &b) in grid.iter().enumerate() {
        if let Some(e) = at(b).filter(&meets) {
            kept.push(e);
            // Past the grid's end, up to the largest batch the tool takes.
            let next = grid
                .get(i + 1)
                .copied()
                .unwrap_or(crate::limits::MAX_BATCH + 1);
            bracket = Some((b, next));
        }
    }
    if let Some((mut lo, mut hi)) = bracket {
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            match at(mid).filter(&meets) {
                Some(e) => {
                    kept.push(e);
                    lo = mid;
                }
                None => hi = mid,
            }
        }
    }
    kept
}

/// Every priced batch that `meets` a threshold which large batches meet and small ones do not (a
/// cost per token under a price): the grid's, then the integers between the smallest grid batch
/// that meets it and the grid batch before it, bisected, so the smallest integer batch that meets
/// it is among them. A threshold met only between two grid batches (a price reached just below
/// the batch at which memory runs out, with no grid batch in between) is not found.
pub fn smallest_meeting<E>(at: impl Fn(u64) -> Option<E>, meets: impl Fn(&E) -> bool) -> Vec<E> {
    let grid: Vec<u64> = grid().collect();
    let mut kept = Vec::new();
    // The grid batch before the smallest grid batch that meets the threshold, and that batch.
    let mut bracket = None;
    for (i, &b) in grid.iter().enumerate() {
        if let Some(e) = at(b).filter(&meets) {
            if kept.is_empty() && i > 0 {
                bracket = Some((grid[i - 1], b));
            }
            kept.push(e);
        }
    }
    if let Some((mut lo, mut hi)) = bracket {
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            match at(mid).filter(&meets) {
                Some(e) => {
                    kept.push(e);
                    hi = mid;
                }
                None => lo = mid,
            }
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_is_powers_of_two_and_one_and_a_half_times_them() {
        let g: Vec<u64> = grid().collect();
        assert_eq!(&g[..8], &[1, 2, 3, 4, 6, 8, 12, 16]);
        assert_eq!(&g[g.len() - 2..], &[65_536, 98_304]);
        assert!(g.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn the_searches_find_the_integer_at_the_threshold_as_a_brute_force_does() {
        // Every threshold from 1 to 5,000: the largest batch under it and the smallest over it,
        // against a scan of every batch.
        for t in 1..5_000u64 {
            let below = largest_meeting(Some, |&b| b <= t);
            assert_eq!(below.iter().max(), Some(&t), "largest ≤ {t}");
            assert!(below.iter().all(|&b| b <= t));
            let above = smallest_meeting(Some, |&b| b >= t);
            assert_eq!(above.iter().min(), Some(&t), "smallest ≥ {t}");
            assert!(above.iter().all(|&b| b >= t));
        }
        // Nothing meets: nothing kept. A batch the pricing refuses counts as not meeting.
        assert!(largest_meeting(Some, |_: &u64| false).is_empty());
        assert!(smallest_meeting(Some, |_: &u64| false).is_empty());
        // Past the grid's end: up to the largest batch the tool takes.
        assert_eq!(
            largest_meeting(Some, |&b| b <= 110_000).iter().max(),
            Some(&110_000)
        );
        assert_eq!(
            largest_meeting(Some, |_: &u64| true).iter().max(),
            Some(&crate::limits::MAX_BATCH)
        );
        let refuses_60 = |b: u64| (b != 60).then_some(b);
        assert_eq!(
            largest_meeting(refuses_60, |&b| b <= 60).iter().max(),
            Some(&59)
        );
    }
}
