//! Bounded parallel map over blocking work (git operations), results in input order, and the bounds
//! of ciux's concurrent network work.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many git remotes (listings, clones, fetches) are worked on at once. A remote round trip is mostly
/// waiting, so this is above the core count; clones of large repositories stay few enough to index.
pub(crate) const GIT_REMOTES: usize = 8;

/// How many registry look-ups (manifest HEAD requests) are in flight at once: enough for a typical image
/// scan to take one or two round trips.
pub(crate) const REGISTRY_LOOKUPS: usize = 16;

/// Runs `f` on every item with at most `limit` threads; the results keep the order of `items`.
pub(crate) fn map<T: Sync, R: Send>(
    items: &[T],
    limit: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    if items.len() <= 1 || limit <= 1 {
        // No thread for a single item (or no parallelism): its start-up would be all the cost.
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new(items.iter().map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..limit.min(items.len()) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    if let Ok(mut results) = results.lock() {
                        results[i] = Some(r);
                    }
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_order() {
        let items: Vec<u32> = (0..20).collect();
        assert_eq!(
            super::map(&items, 4, |x| x * 2),
            items.iter().map(|x| x * 2).collect::<Vec<_>>()
        );
        assert!(super::map(&[] as &[u32], 4, |x| *x).is_empty());
    }
}
