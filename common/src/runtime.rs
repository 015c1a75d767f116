//! The one async runtime of the three tools.
//!
//! Its flavour is a **current-thread** runtime, **one per OS thread**, built on first use and kept
//! for the thread's life:
//! - current-thread, because the tools' async work is I/O (HTTP downloads, registry look-ups,
//!   Kubernetes requests and watches) for one command at a time; what runs side by side (parallel
//!   downloads, several watches) is joined futures, which one thread drives. No worker pool is
//!   started for a run that mostly waits, and the synchronous process runs between two awaits
//!   (`helm`, `kind`) stop nothing that would otherwise progress.
//! - kept per thread, because a client built inside one call (a kube client, whose connection
//!   tasks live on the runtime that made it) must still work in the next call of the same run;
//!   each test thread gets its own.
//!
//! It cannot be entered from inside itself: async code awaits, it never calls [`block_on`].

use std::cell::OnceCell;
use std::future::Future;

/// The runtime could not be started (out of file descriptors or threads).
#[derive(Debug, thiserror::Error)]
#[error("cannot start the async runtime: {0}")]
pub struct RuntimeError(#[from] std::io::Error);

thread_local! {
    static RUNTIME: OnceCell<tokio::runtime::Runtime> = const { OnceCell::new() };
}

/// Runs `future` to completion on this thread's runtime (see the module documentation).
pub fn block_on<F: Future>(future: F) -> Result<F::Output, RuntimeError> {
    RUNTIME.with(|cell| {
        let runtime = match cell.get() {
            Some(runtime) => runtime,
            None => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                cell.get_or_init(|| runtime)
            }
        };
        Ok(runtime.block_on(future))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_runtime_per_thread_is_kept_between_calls() {
        // A task spawned in one call still runs in the next: the runtime was not dropped.
        let (tx, rx) = tokio::sync::oneshot::channel();
        block_on(async {
            tokio::spawn(async move {
                tokio::task::yield_now().await;
                let _ = tx.send(7);
            });
        })
        .unwrap();
        assert_eq!(block_on(rx).unwrap().unwrap(), 7);
        let here = block_on(async { tokio::runtime::Handle::current().id() }).unwrap();
        let again = block_on(async { tokio::runtime::Handle::current().id() }).unwrap();
        assert_eq!(here, again);
        let elsewhere = std::thread::spawn(|| {
            block_on(async { tokio::runtime::Handle::current().id() }).unwrap()
        })
        .join()
        .unwrap();
        assert_ne!(here, elsewhere);
        assert_eq!(
            block_on(async { tokio::runtime::Handle::current().runtime_flavor() }).unwrap(),
            tokio::runtime::RuntimeFlavor::CurrentThread
        );
    }
}
