//! Network timeouts read from the environment (`CIUX_GIT_TIMEOUT`, `CIUX_REGISTRY_TIMEOUT`).

use std::time::Duration;

/// A timeout in seconds from the environment variable `var` (a positive number), else `default`.
pub(crate) fn from_env(var: &str, default: f64) -> Duration {
    parse(std::env::var(var).ok().as_deref()).unwrap_or_else(|| Duration::from_secs_f64(default))
}

/// A positive, finite number of seconds; anything else is `None`.
fn parse(value: Option<&str>) -> Option<Duration> {
    value
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v > 0.0)
        .map(Duration::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positive_seconds_only() {
        assert_eq!(parse(Some("2.5")), Some(Duration::from_millis(2500)));
        for bad in [
            None,
            Some(""),
            Some("0"),
            Some("-1"),
            Some("inf"),
            Some("NaN"),
            Some("x"),
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
