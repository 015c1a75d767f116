//! Injected faults and the request log.

/// What an injected fault answers instead of the real response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// A `Status` error with this HTTP code (500 `InternalError`, 503 `ServiceUnavailable`...).
    Status(u16),
    /// `429 TooManyRequests` with a `Retry-After: <seconds>` header.
    TooManyRequests {
        /// Seconds the client is asked to wait.
        retry_after_seconds: u64,
    },
}

/// Which requests a fault hits, and how many times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    fault: Fault,
    method: Option<String>,
    path_prefix: String,
    query_contains: Option<String>,
    remaining: Option<usize>,
}

impl FaultRule {
    /// A fault hitting every request (narrow it with the other methods).
    pub fn new(fault: Fault) -> Self {
        Self {
            fault,
            method: None,
            path_prefix: "/".into(),
            query_contains: None,
            remaining: None,
        }
    }

    /// Only requests with this HTTP method (`GET`, `PATCH`...).
    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    /// Only requests whose path starts with this prefix.
    pub fn path_prefix(mut self, prefix: &str) -> Self {
        self.path_prefix = prefix.into();
        self
    }

    /// Only requests whose raw query string contains this text (`watch=true`...).
    pub fn query_contains(mut self, text: &str) -> Self {
        self.query_contains = Some(text.into());
        self
    }

    /// Only the next `n` matching requests; afterwards the rule is spent.
    pub fn times(mut self, n: usize) -> Self {
        self.remaining = Some(n);
        self
    }

    /// Whether the rule hits this request; counts the hit.
    pub(crate) fn hit(&mut self, method: &str, path: &str, query: &str) -> Option<Fault> {
        let matches = self.method.as_deref().is_none_or(|m| m == method)
            && path.starts_with(&self.path_prefix)
            && self
                .query_contains
                .as_deref()
                .is_none_or(|q| query.contains(q))
            && self.remaining != Some(0);
        if !matches {
            return None;
        }
        if let Some(n) = self.remaining.as_mut() {
            *n -= 1;
        }
        Some(self.fault.clone())
    }
}

/// One request the server received (faulted ones included), in arrival order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// Path, without the query.
    pub path: String,
    /// Raw query string ("" when absent).
    pub query: String,
    /// `Content-Type` header ("" when absent).
    pub content_type: String,
    /// `User-Agent` header ("" when absent).
    pub user_agent: String,
    /// Request body as text (lossy UTF-8; empty for GET).
    pub body: String,
}

impl RequestRecord {
    /// The decoded value of a query parameter (first occurrence).
    pub fn query_param(&self, name: &str) -> Option<String> {
        parse_query(&self.query)
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// `a=1&b=x%20y` → `[("a","1"), ("b","x y")]` (`+` is a space).
pub(crate) fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex_digit(bytes[i + 1]), hex_digit(bytes[i + 2]))
            {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_digit(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        assert_eq!(
            parse_query("labelSelector=app%3Dweb%2Ctier+in+(a)&watch=1&x"),
            vec![
                ("labelSelector".into(), "app=web,tier in (a)".into()),
                ("watch".into(), "1".into()),
                ("x".into(), "".into())
            ]
        );
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }

    #[test]
    fn rules_count_down() {
        let mut r = FaultRule::new(Fault::Status(500))
            .method("get")
            .path_prefix("/api/v1")
            .times(1);
        assert_eq!(r.hit("POST", "/api/v1/pods", ""), None);
        assert_eq!(r.hit("GET", "/api/v1/pods", ""), Some(Fault::Status(500)));
        assert_eq!(r.hit("GET", "/api/v1/pods", ""), None);
    }
}
