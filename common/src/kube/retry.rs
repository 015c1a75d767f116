//! Retries of transient Kubernetes API errors: 5xx answers, 429 (after the server's
//! `retryAfterSeconds`, capped), and connection failures. Other errors (4xx: not found, conflict,
//! forbidden, invalid) are returned at once.
//!
//! kube's client already retries 429, 503 and 504 itself; this covers the rest (500 from an
//! overloaded API server or webhook, a dropped connection). Use it for idempotent requests (get,
//! list, server-side apply, delete): a create that failed with a 500 may have been stored.

use std::future::Future;
use std::time::Duration;

use crate::duration::format_duration;

/// How many times a request is tried in all.
pub const ATTEMPTS: u32 = 5;
const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(2);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// Runs `request` until it succeeds, fails with a non-transient error, or was tried [`ATTEMPTS`]
/// times, waiting 100 ms, 200 ms, ... up to 2 s between tries (or the server's Retry-After, at
/// most 10 s). Each retry is logged as a warning naming `what` (such as `apply
/// sparkapplication/stream2raw`). Returns the last error.
pub async fn retry_transient<T, F, Fut>(what: &str, mut request: F) -> Result<T, ::kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ::kube::Error>>,
{
    let mut backoff = FIRST_DELAY;
    let mut attempt = 1;
    loop {
        let err = match request().await {
            Ok(value) => return Ok(value),
            Err(err) => err,
        };
        let Some(delay) = transient_delay(&err, backoff) else {
            return Err(err);
        };
        if attempt >= ATTEMPTS {
            return Err(err);
        }
        attempt += 1;
        tracing::warn!(
            "{what} failed ({}), retrying in {} (attempt {attempt} of {ATTEMPTS})",
            describe(&err),
            format_duration(delay)
        );
        tokio::time::sleep(delay).await;
        backoff = (backoff * 2).min(MAX_DELAY);
    }
}

/// How long to wait before retrying `err`, or `None` when retrying cannot help.
fn transient_delay(err: &::kube::Error, backoff: Duration) -> Option<Duration> {
    match err {
        ::kube::Error::Api(status) if status.code == 429 => {
            let seconds = status.details.as_ref().map_or(0, |d| d.retry_after_seconds);
            Some(if seconds > 0 {
                Duration::from_secs(u64::from(seconds)).min(MAX_RETRY_AFTER)
            } else {
                backoff
            })
        }
        ::kube::Error::Api(status) if status.code >= 500 => Some(backoff),
        ::kube::Error::HyperError(_) | ::kube::Error::Service(_) => Some(backoff),
        _ => None,
    }
}

fn describe(err: &::kube::Error) -> String {
    match err {
        ::kube::Error::Api(status) => format!("HTTP {}: {}", status.code, status.message),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn api(code: u16, retry_after: Option<u32>) -> ::kube::Error {
        let details = retry_after.map(|seconds| ::kube::core::response::StatusDetails {
            name: String::new(),
            group: String::new(),
            kind: String::new(),
            uid: String::new(),
            causes: Vec::new(),
            retry_after_seconds: seconds,
        });
        ::kube::Error::Api(Box::new(::kube::core::Status {
            code,
            message: "m".into(),
            reason: "r".into(),
            details,
            ..Default::default()
        }))
    }

    #[test]
    fn server_errors_and_throttling_are_transient() {
        let backoff = Duration::from_millis(100);
        assert_eq!(transient_delay(&api(500, None), backoff), Some(backoff));
        assert_eq!(transient_delay(&api(503, None), backoff), Some(backoff));
        assert_eq!(transient_delay(&api(429, None), backoff), Some(backoff));
        assert_eq!(
            transient_delay(&api(429, Some(3)), backoff),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            transient_delay(&api(429, Some(3600)), backoff),
            Some(MAX_RETRY_AFTER)
        );
        for code in [400, 401, 403, 404, 409, 410, 422] {
            assert_eq!(transient_delay(&api(code, None), backoff), None, "{code}");
        }
    }

    #[tokio::test]
    async fn connection_failures_are_retried_then_returned() {
        // Nothing listens on port 1 of the loopback interface: every try is refused.
        let mut config = ::kube::Config::new("http://127.0.0.1:1".parse().unwrap());
        config.default_retry = false;
        let client = ::kube::Client::try_from(config).unwrap();
        let tries = AtomicU32::new(0);
        let result = retry_transient("get the API versions", || {
            tries.fetch_add(1, Ordering::SeqCst);
            client.list_core_api_versions()
        })
        .await;
        let err = result.unwrap_err();
        assert!(transient_delay(&err, FIRST_DELAY).is_some(), "{err}");
        assert_eq!(tries.load(Ordering::SeqCst), ATTEMPTS);
    }

    #[tokio::test]
    async fn success_after_failures_and_permanent_errors_at_once() {
        let tries = AtomicU32::new(0);
        let value = retry_transient("flaky", || {
            let n = tries.fetch_add(1, Ordering::SeqCst);
            async move { if n < 2 { Err(api(500, None)) } else { Ok(n) } }
        })
        .await
        .unwrap();
        assert_eq!(value, 2);
        let tries = AtomicU32::new(0);
        let err = retry_transient("missing", || {
            tries.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), _>(api(404, None)) }
        })
        .await
        .unwrap_err();
        assert!(matches!(err, ::kube::Error::Api(ref s) if s.code == 404));
        assert_eq!(tries.load(Ordering::SeqCst), 1);
    }
}
