//! Bounded per-thread memoisation for the pure functions a sweep asks again and again with the
//! same arguments (a static batch's `E[max]`, the attention-DP balancing replay).

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;
use std::thread::LocalKey;

/// Entries a cache holds before it is emptied (bounded memory).
const MAX_ENTRIES: usize = 4096;

/// A per-thread cache: declare one with `thread_local!` and pass it to `remember`.
pub type Cache<K, V> = RefCell<HashMap<K, V>>;

/// `compute()`'s value for `key`, from `cache` when it was asked before on this thread.
pub fn remember<K: Hash + Eq, V: Copy>(
    cache: &'static LocalKey<Cache<K, V>>,
    key: K,
    compute: impl FnOnce() -> V,
) -> V {
    if let Some(hit) = cache.with(|c| c.borrow().get(&key).copied()) {
        return hit;
    }
    let out = compute();
    cache.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= MAX_ENTRIES {
            c.clear();
        }
        c.insert(key, out);
    });
    out
}
