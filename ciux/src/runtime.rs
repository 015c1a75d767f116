//! The one async runtime builder of ciux: a small current-thread runtime per blocking call
//! (registry look-ups, downloads).

use std::future::Future;

use anyhow::{Context as _, Result};

/// Runs a fallible future to completion; a runtime that cannot start is an error, not a panic.
pub(crate) fn block_on<T, E>(f: impl Future<Output = Result<T, E>>) -> Result<T>
where
    anyhow::Error: From<E>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("unable to start the async runtime")?;
    Ok(runtime.block_on(f)?)
}
