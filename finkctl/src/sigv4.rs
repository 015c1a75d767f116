//! AWS Signature Version 4 for S3 requests (header-based, path-style), over `sha2`.

use sha2::{Digest, Sha256};

/// Static S3 credentials.
#[derive(Clone)]
pub(crate) struct Credentials {
    /// Access key id.
    pub(crate) access_key: String,
    /// Secret access key.
    pub(crate) secret_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// The parts of a request that are signed.
#[derive(Debug)]
pub(crate) struct Request<'a> {
    /// HTTP method.
    pub(crate) method: &'a str,
    /// `host[:port]` as sent in the Host header.
    pub(crate) host: &'a str,
    /// Absolute path, already URI-encoded (`/`, `/bucket`).
    pub(crate) path: &'a str,
    /// Query parameters (unencoded names and values).
    pub(crate) query: &'a [(&'a str, &'a str)],
    /// Extra headers to sign (lower-case names).
    pub(crate) headers: &'a [(&'a str, &'a str)],
    /// Hex SHA-256 of the body.
    pub payload_sha256: &'a str,
    /// `YYYYMMDDTHHMMSSZ`.
    pub(crate) amz_date: &'a str,
    /// Region, e.g. `us-east-1`.
    pub(crate) region: &'a str,
}

/// Hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// HMAC-SHA256 (RFC 2104).
pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(data);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

fn uri_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Headers to add to the request: `x-amz-date`, `x-amz-content-sha256` and `authorization`.
pub(crate) fn sign(request: &Request<'_>, credentials: &Credentials) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = vec![
        ("host".into(), request.host.to_string()),
        (
            "x-amz-content-sha256".into(),
            request.payload_sha256.to_string(),
        ),
        ("x-amz-date".into(), request.amz_date.to_string()),
    ];
    headers.extend(
        request
            .headers
            .iter()
            .map(|(k, v)| (k.to_lowercase(), v.trim().to_string())),
    );
    headers.sort();
    let signed_headers = headers
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let mut query: Vec<(String, String)> = request
        .query
        .iter()
        .map(|(k, v)| (uri_encode(k), uri_encode(v)))
        .collect();
    query.sort();
    let canonical_query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let canonical_request = format!(
        "{}\n{}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{}",
        request.method, request.path, request.payload_sha256
    );
    let date = &request.amz_date[..8];
    let scope = format!("{date}/{}/s3/aws4_request", request.region);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{scope}\n{}",
        request.amz_date,
        sha256_hex(canonical_request.as_bytes())
    );
    let mut key = hmac_sha256(
        format!("AWS4{}", credentials.secret_key).as_bytes(),
        date.as_bytes(),
    );
    for part in [request.region, "s3", "aws4_request"] {
        key = hmac_sha256(&key, part.as_bytes());
    }
    let signature = hex::encode(hmac_sha256(&key, string_to_sign.as_bytes()));
    vec![
        ("x-amz-date".into(), request.amz_date.to_string()),
        (
            "x-amz-content-sha256".into(),
            request.payload_sha256.to_string(),
        ),
        (
            "authorization".into(),
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
                credentials.access_key
            ),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn signature_matches_the_aws_documentation_example() {
        // "Example: GET Object" of the AWS S3 SigV4 header-based authentication documentation.
        let credentials = Credentials {
            access_key: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
        };
        let request = Request {
            method: "GET",
            host: "examplebucket.s3.amazonaws.com",
            path: "/test.txt",
            query: &[],
            headers: &[("range", "bytes=0-9")],
            payload_sha256: &sha256_hex(b""),
            amz_date: "20130524T000000Z",
            region: "us-east-1",
        };
        let headers = sign(&request, &credentials);
        assert_eq!(
            headers[2].1,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }
}
