//! The one place that decides whether a Kubernetes API error is worth retrying, and the retries
//! of idempotent requests.
//!
//! Transient: 5xx answers, 429 (after the server's `retryAfterSeconds`, capped), dropped or reset
//! connections and timeouts. Permanent, returned at once with their cause: TLS failures (wrong or
//! missing CA, bad certificate), refused connections, and other 4xx answers (not found, conflict,
//! unauthorised, forbidden, invalid).
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

/// Whether retrying `err` may help (see the module documentation).
pub fn is_transient(err: &::kube::Error) -> bool {
    transient_delay(err, FIRST_DELAY).is_some()
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
        ::kube::Error::HyperError(_) | ::kube::Error::Service(_)
            if !connection_refused_or_tls(err) =>
        {
            Some(backoff)
        }
        _ => None,
    }
}

/// A refused connection or a TLS failure somewhere in the error's causes.
fn connection_refused_or_tls(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(err) = next {
        if err.is::<rustls::Error>() {
            return true;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return true;
            }
            // An io::Error's source() skips the error it wraps: look at that one too.
            if let Some(inner) = io.get_ref()
                && connection_refused_or_tls(inner)
            {
                return true;
            }
        }
        next = err.source();
    }
    false
}

/// The error and its causes on one line (`client error (Connect): tcp connect error: Connection
/// refused (os error 111)`); for API errors, the server's message and HTTP code.
pub fn describe(err: &::kube::Error) -> String {
    match err {
        ::kube::Error::Api(status) => format!("HTTP {}: {}", status.code, status.message),
        other => describe_chain(other),
    }
}

/// Any error and its causes on one line, leaving out causes its text already ends with.
pub fn describe_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut next = err.source();
    while let Some(cause) = next {
        let part = cause.to_string();
        if !text.ends_with(&part) {
            text = format!("{text}: {part}");
        }
        next = cause.source();
    }
    text
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
    async fn refused_connections_fail_at_once_with_their_cause() {
        // Nothing listens on port 1 of the loopback interface: the connection is refused.
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
        assert!(!is_transient(&err), "{err}");
        assert_eq!(tries.load(Ordering::SeqCst), 1);
        assert!(
            describe(&err).contains("Connection refused"),
            "{}",
            describe(&err)
        );
    }

    #[tokio::test]
    async fn dropped_connections_are_retried_then_returned() {
        // A server that accepts and closes every connection at once.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                drop(stream);
            }
        });
        let mut config = ::kube::Config::new(url.parse().unwrap());
        config.default_retry = false;
        let client = ::kube::Client::try_from(config).unwrap();
        let tries = AtomicU32::new(0);
        let err = retry_transient("get the API versions", || {
            tries.fetch_add(1, Ordering::SeqCst);
            client.list_core_api_versions()
        })
        .await
        .unwrap_err();
        assert!(is_transient(&err), "{}", describe(&err));
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
