//! A small client of S3-compatible services (MinIO, Ceph RGW): list buckets, create one with object
//! lock, check that object lock is on (requests signed with AWS Signature Version 4).

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use reqwest::Method;

use crate::night::civil_from_days;
use crate::sigv4::{Credentials, Request, sha256_hex, sign};

/// Region used for every request (MinIO's default; the original's `MakeBucket` region).
const REGION: &str = "us-east-1";

/// An S3 endpoint: `http(s)://host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// `http` or `https`.
    pub(crate) scheme: &'static str,
    /// `host[:port]`.
    pub(crate) host: String,
}

impl Endpoint {
    /// Parses `localhost:9000`, `http://minio.minio:9000` or `https://s3.example.org/`; without a
    /// scheme, `use_ssl` chooses https. The host and port must form a valid URL with nothing else
    /// (no user, path or query), so that what a dry run accepts is what a real run can reach.
    pub(crate) fn parse(endpoint: &str, use_ssl: bool) -> anyhow::Result<Self> {
        let trimmed = endpoint.trim();
        let (scheme, rest) = if let Some(rest) = trimmed.strip_prefix("https://") {
            ("https", rest)
        } else if let Some(rest) = trimmed.strip_prefix("http://") {
            ("http", rest)
        } else if trimmed.contains("://") {
            bail!("S3 endpoint {endpoint:?}: only http:// and https:// are supported");
        } else {
            (if use_ssl { "https" } else { "http" }, trimmed)
        };
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() {
            bail!("the S3 endpoint is empty: set s3.endpoint in finkctl.yaml or pass --endpoint");
        }
        if authority.contains(['/', '?', '#']) {
            bail!("S3 endpoint {endpoint:?}: a path is not supported, give scheme://host:port");
        }
        if authority.contains('@') {
            bail!(
                "S3 endpoint {endpoint:?}: credentials do not belong in the endpoint, set s3.id and s3.secret"
            );
        }
        let url = reqwest::Url::parse(&format!("{scheme}://{authority}")).map_err(|err| {
            anyhow::anyhow!("S3 endpoint {endpoint:?} is not a valid host[:port]: {err}")
        })?;
        let Some(host) = url.host_str() else {
            bail!("S3 endpoint {endpoint:?} has no host");
        };
        // The form reqwest sends in the Host header (lower case, default port left out), which
        // the signature must cover.
        let host = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        Ok(Self { scheme, host })
    }

    /// `scheme://host`.
    pub(crate) fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.host)
    }
}

/// One bucket of ListBuckets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bucket {
    /// Bucket name.
    pub(crate) name: String,
    /// Creation date as returned (ISO 8601).
    pub(crate) creation_date: String,
}

impl Bucket {
    /// Go's `%v` of minio's BucketInfo: `{name 2024-01-02 03:04:05 +0000 UTC}`.
    pub(crate) fn go_format(&self) -> String {
        let date = self
            .creation_date
            .trim_end_matches('Z')
            .replacen('T', " ", 1);
        let date = match date.split_once('.') {
            Some((whole, fraction)) => {
                let fraction = fraction.trim_end_matches('0');
                if fraction.is_empty() {
                    whole.to_string()
                } else {
                    format!("{whole}.{fraction}")
                }
            }
            None => date,
        };
        format!("{{{} {date} +0000 UTC}}", self.name)
    }
}

/// A minimal S3 client: ListBuckets, CreateBucket with object lock, GetObjectLockConfiguration.
#[derive(Debug, Clone)]
pub(crate) struct S3Client {
    http: reqwest::Client,
    endpoint: Endpoint,
    credentials: Credentials,
}

impl S3Client {
    /// A client for `endpoint` with static credentials.
    pub(crate) fn new(endpoint: Endpoint, credentials: Credentials) -> anyhow::Result<Self> {
        let http = common::download::http_client().context("cannot build the HTTP client")?;
        Ok(Self {
            http,
            endpoint,
            credentials,
        })
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> anyhow::Result<(reqwest::StatusCode, String)> {
        let amz_date = amz_date_now();
        let payload = sha256_hex(b"");
        let request = Request {
            method: method.as_str(),
            host: &self.endpoint.host,
            path,
            query,
            headers,
            payload_sha256: &payload,
            amz_date: &amz_date,
            region: REGION,
        };
        let signed = sign(&request, &self.credentials);
        let mut url = format!("{}{path}", self.endpoint.url());
        if !query.is_empty() {
            let q: Vec<String> = query
                .iter()
                .map(|(k, v)| {
                    if v.is_empty() {
                        k.to_string()
                    } else {
                        format!("{k}={v}")
                    }
                })
                .collect();
            url = format!("{url}?{}", q.join("&"));
        }
        let mut builder = self.http.request(method.clone(), &url);
        for (name, value) in headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain(signed)
        {
            builder = builder.header(name, value);
        }
        let response = builder
            .send()
            .await
            .with_context(|| format!("S3 request {method} {url} failed"))?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        Ok((status, body))
    }

    /// All buckets.
    pub(crate) async fn list_buckets(&self) -> anyhow::Result<Vec<Bucket>> {
        let (status, body) = self.send(Method::GET, "/", &[], &[]).await?;
        if !status.is_success() {
            bail!(
                "cannot list S3 buckets at {}: {}",
                self.endpoint.url(),
                s3_error(status, &body)
            );
        }
        Ok(xml_blocks(&body, "Bucket")
            .into_iter()
            .map(|b| Bucket {
                name: xml_value(b, "Name").unwrap_or_default(),
                creation_date: xml_value(b, "CreationDate").unwrap_or_default(),
            })
            .collect())
    }

    /// Creates `bucket` with object lock enabled (which also enables versioning).
    pub(crate) async fn create_bucket_with_object_lock(&self, bucket: &str) -> anyhow::Result<()> {
        let path = format!("/{bucket}");
        let headers = [("x-amz-bucket-object-lock-enabled", "true")];
        let (status, body) = self.send(Method::PUT, &path, &[], &headers).await?;
        if !status.is_success() {
            bail!(
                "cannot create S3 bucket {bucket} at {}: {}",
                self.endpoint.url(),
                s3_error(status, &body)
            );
        }
        Ok(())
    }

    /// Whether object lock is enabled on `bucket` (GetObjectLockConfiguration).
    pub(crate) async fn object_lock_enabled(&self, bucket: &str) -> anyhow::Result<bool> {
        let path = format!("/{bucket}");
        let (status, body) = self
            .send(Method::GET, &path, &[("object-lock", "")], &[])
            .await?;
        if status == reqwest::StatusCode::NOT_FOUND
            && body.contains("ObjectLockConfigurationNotFound")
        {
            return Ok(false);
        }
        if !status.is_success() {
            bail!(
                "cannot read the object lock configuration of {bucket}: {}",
                s3_error(status, &body)
            );
        }
        Ok(xml_value(&body, "ObjectLockEnabled").as_deref() == Some("Enabled"))
    }
}

fn s3_error(status: reqwest::StatusCode, body: &str) -> String {
    match (xml_value(body, "Code"), xml_value(body, "Message")) {
        (Some(code), Some(message)) => format!("{code}: {message} (HTTP {status})"),
        (Some(code), None) => format!("{code} (HTTP {status})"),
        _ => format!("HTTP {status}"),
    }
}

fn xml_blocks<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        out.push(&after[..end]);
        rest = &after[end + close.len()..];
    }
    out
}

fn xml_value(xml: &str, tag: &str) -> Option<String> {
    xml_blocks(xml, tag).first().map(|v| v.trim().to_string())
}

fn amz_date_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Checks `name` against the S3 bucket naming rules (3 to 63 characters: lower-case letters,
/// digits, dots and hyphens, starting and ending with a letter or digit, no `..`, not an IPv4
/// address, none of the reserved prefixes and suffixes).
pub(crate) fn validate_bucket_name(name: &str) -> anyhow::Result<()> {
    let problem = if !(3..=63).contains(&name.len()) {
        Some("it must be 3 to 63 characters long")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        Some("only lower-case letters, digits, dots and hyphens are allowed")
    } else if !name.starts_with(|c: char| c.is_ascii_alphanumeric())
        || !name.ends_with(|c: char| c.is_ascii_alphanumeric())
    {
        Some("it must start and end with a letter or a digit")
    } else if name.contains("..") {
        Some("it must not contain two dots in a row")
    } else if name.parse::<std::net::Ipv4Addr>().is_ok() {
        Some("it must not look like an IP address")
    } else if ["xn--", "sthree-", "amzn-s3-demo-"]
        .iter()
        .any(|p| name.starts_with(p))
        || ["-s3alias", "--ol-s3", ".mrap", "--x-s3"]
            .iter()
            .any(|s| name.ends_with(s))
    {
        Some("it uses a prefix or suffix reserved by S3")
    } else {
        None
    };
    match problem {
        Some(problem) => bail!("invalid S3 bucket name {name:?} (from s3.bucket): {problem}"),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_with_or_without_scheme() {
        assert_eq!(
            Endpoint::parse("localhost:9000", false).unwrap().url(),
            "http://localhost:9000"
        );
        assert_eq!(
            Endpoint::parse("localhost:9000", true).unwrap().url(),
            "https://localhost:9000"
        );
        assert_eq!(
            Endpoint::parse("http://minio.minio:9000", true)
                .unwrap()
                .url(),
            "http://minio.minio:9000"
        );
        assert_eq!(
            Endpoint::parse("https://h:8081/", false).unwrap().url(),
            "https://h:8081"
        );
        assert!(
            Endpoint::parse("", false)
                .unwrap_err()
                .to_string()
                .contains("s3.endpoint")
        );
        assert!(Endpoint::parse("ftp://h", false).is_err());
        assert_eq!(
            Endpoint::parse("MinIO.example:9000", false).unwrap().host,
            "minio.example:9000"
        );
        assert_eq!(Endpoint::parse("https://h:443", false).unwrap().host, "h");
        for bad in [
            "h:99999",
            "h o:1",
            "u:p@h:1",
            "h:1?x",
            "http://:9000",
            "[::1",
        ] {
            assert!(Endpoint::parse(bad, false).is_err(), "{bad}");
        }
        assert!(Endpoint::parse("http://h/p", false).is_err());
    }

    #[test]
    fn bucket_names_follow_the_s3_rules() {
        for good in [
            "fink-broker-online-20000101",
            "abc",
            "a.b-c",
            &"a".repeat(63),
        ] {
            validate_bucket_name(good).unwrap();
        }
        for bad in [
            "Bad_Bucket/../x",
            "ab",
            &"a".repeat(64),
            "-abc",
            "abc.",
            "a..b",
            "192.168.0.1",
            "xn--abc",
            "abc-s3alias",
            "a b",
        ] {
            assert!(validate_bucket_name(bad).is_err(), "{bad}");
        }
        assert_eq!(
            validate_bucket_name("Bad_Bucket/../x")
                .unwrap_err()
                .to_string(),
            "invalid S3 bucket name \"Bad_Bucket/../x\" (from s3.bucket): only lower-case letters, digits, dots and hyphens are allowed"
        );
    }

    #[test]
    fn list_buckets_xml_and_go_format() {
        let xml = "<ListAllMyBucketsResult><Buckets><Bucket><Name>a</Name><CreationDate>2024-01-02T03:04:05.000Z</CreationDate></Bucket><Bucket><Name>b</Name><CreationDate>2024-01-02T03:04:05.120Z</CreationDate></Bucket></Buckets></ListAllMyBucketsResult>";
        let buckets: Vec<String> = xml_blocks(xml, "Bucket")
            .into_iter()
            .map(|b| {
                Bucket {
                    name: xml_value(b, "Name").unwrap(),
                    creation_date: xml_value(b, "CreationDate").unwrap(),
                }
                .go_format()
            })
            .collect();
        assert_eq!(
            buckets,
            [
                "{a 2024-01-02 03:04:05 +0000 UTC}",
                "{b 2024-01-02 03:04:05.12 +0000 UTC}"
            ]
        );
        assert_eq!(
            s3_error(
                reqwest::StatusCode::FORBIDDEN,
                "<Error><Code>AccessDenied</Code><Message>no</Message></Error>"
            ),
            "AccessDenied: no (HTTP 403 Forbidden)"
        );
    }
}
