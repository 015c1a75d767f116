//! A small Docker Registry v2 client: manifest existence checks (404 = absent, anything else that is
//! not a success is an error, after retries), manifest copy to promote a tag, image copy across
//! repositories and registries (blobs streamed, never held whole), bearer-token and basic
//! authentication with credentials from the environment or `~/.docker/config.json`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};

use crate::credentials::{Credentials, RegistryAuth};
use crate::image_ref::ImageRef;

const MANIFEST_TYPES: &str = "application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v1+prettyjws";

const INDEX_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// How many times a request is sent when the registry fails transiently (5xx, 429, network, timeout).
const ATTEMPTS: u32 = 3;

/// How many blobs of one image are copied at once.
const BLOB_COPIES: usize = 4;

/// A registry request that failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RegistryError {
    /// Authentication was refused.
    #[error(
        "registry refused access to {image} (HTTP {status}): log in with `docker login {host}` or set CIUX_REGISTRY_USERNAME/CIUX_REGISTRY_PASSWORD"
    )]
    Denied {
        /// The image.
        image: String,
        /// The registry host.
        host: String,
        /// 401 or 403.
        status: u16,
    },
    /// An unexpected HTTP status, after retries.
    #[error("registry answered HTTP {status} for {image}{detail}")]
    Status {
        /// The image.
        image: String,
        /// The status code.
        status: u16,
        /// Start of the body.
        detail: String,
    },
    /// Network failure or timeout, after retries.
    #[error("cannot reach the registry for {image}")]
    Transport {
        /// The image.
        image: String,
        /// reqwest's error.
        source: reqwest::Error,
    },
    /// The registry's answer did not make sense.
    #[error("invalid registry answer for {image}: {reason}")]
    Protocol {
        /// The image.
        image: String,
        /// What was wrong.
        reason: String,
    },
}

impl RegistryError {
    /// Whether the registry could not be reached or kept failing: network error, timeout, or HTTP
    /// 5xx/429 after the retries.
    pub(crate) fn is_unreachable(&self) -> bool {
        match self {
            RegistryError::Transport { .. } => true,
            RegistryError::Status { status, .. } => *status >= 500 || *status == 429,
            RegistryError::Denied { .. } | RegistryError::Protocol { .. } => false,
        }
    }
}

/// One HTTP client and one token cache for the whole run.
pub(crate) struct RegistryClient {
    http: reqwest::Client,
    credentials: Credentials,
    /// Authentication by (registry, scope): bearer tokens fetched once and reused, basic credentials
    /// once a registry asked for them.
    auths: Mutex<HashMap<(String, String), RegistryAuth>>,
    /// Held while a token is fetched, so that concurrent look-ups wait for it instead of asking too.
    token_fetch: tokio::sync::Mutex<()>,
    backoff: Duration,
}

struct Reply {
    status: StatusCode,
    content_type: String,
    /// The `Location` header (blob uploads).
    location: Option<String>,
    body: Vec<u8>,
}

impl RegistryClient {
    /// A client with the given request timeout (also the connect timeout).
    pub(crate) fn new(timeout: Duration, credentials: Credentials) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("ciux/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            credentials,
            auths: Mutex::new(HashMap::new()),
            token_fetch: tokio::sync::Mutex::new(()),
            backoff: Duration::from_millis(300),
        })
    }

    /// Whether credentials are configured for a registry host (environment or Docker's config).
    pub(crate) fn has_credentials(&self, host: &str) -> bool {
        self.credentials.for_registry(host).is_some()
    }

    /// Whether the image exists. An index must hold a `linux/amd64` image.
    pub(crate) async fn exists(&self, image: &ImageRef) -> Result<bool, RegistryError> {
        let url = format!(
            "{}/v2/{}/manifests/{}",
            image.api_base(),
            image.repository,
            image.reference
        );
        let scope = pull_scope(image);
        let reply = self.send(image, Method::HEAD, &url, &scope, None).await?;
        match reply.status {
            StatusCode::NOT_FOUND => Ok(false),
            s if s.is_success() => {
                if !INDEX_TYPES.contains(&reply.content_type.as_str()) {
                    return Ok(true);
                }
                let full = self.send(image, Method::GET, &url, &scope, None).await?;
                if !full.status.is_success() {
                    return Err(status_error(image, &full));
                }
                has_amd64(image, &full.body)
            }
            _ => Err(status_error(image, &reply)),
        }
    }

    /// Gives `image` the tag `new_tag` in the same repository by copying its manifest (no layer moves).
    pub(crate) async fn promote(
        &self,
        image: &ImageRef,
        new_tag: &str,
    ) -> Result<(), RegistryError> {
        // One scope (pull and push) for both requests: one token.
        let manifest = self.manifest(image, &push_scope(image)).await?;
        self.put_manifest(image, new_tag, manifest).await
    }

    /// Copies `src` to `dst` in another repository or registry: the blobs `dst` lacks (streamed from
    /// `src`), the images of an index, then the manifest under `dst`'s tag. Within one repository this
    /// is [`RegistryClient::promote`].
    pub(crate) async fn copy(&self, src: &ImageRef, dst: &ImageRef) -> Result<(), RegistryError> {
        if src.registry == dst.registry && src.repository == dst.repository {
            return self.promote(src, &dst.reference).await;
        }
        let manifest = self.manifest(src, &pull_scope(src)).await?;
        if INDEX_TYPES.contains(&manifest.content_type.as_str()) {
            for digest in referenced(src, &manifest.body, "manifests")? {
                let child_src = ImageRef {
                    reference: digest.clone(),
                    ..src.clone()
                };
                let child = self.manifest(&child_src, &pull_scope(src)).await?;
                if INDEX_TYPES.contains(&child.content_type.as_str()) {
                    return Err(RegistryError::Protocol {
                        image: child_src.to_string(),
                        reason: "an index inside an index cannot be copied".into(),
                    });
                }
                self.copy_blobs(&child_src, dst, &child).await?;
                self.put_manifest(dst, &digest, child).await?;
            }
        } else {
            self.copy_blobs(src, dst, &manifest).await?;
        }
        self.put_manifest(dst, &dst.reference, manifest).await
    }

    async fn manifest(&self, image: &ImageRef, scope: &str) -> Result<Reply, RegistryError> {
        let url = format!(
            "{}/v2/{}/manifests/{}",
            image.api_base(),
            image.repository,
            image.reference
        );
        let reply = self.send(image, Method::GET, &url, scope, None).await?;
        if reply.status.is_success() {
            Ok(reply)
        } else {
            Err(status_error(image, &reply))
        }
    }

    async fn put_manifest(
        &self,
        image: &ImageRef,
        reference: &str,
        manifest: Reply,
    ) -> Result<(), RegistryError> {
        let url = format!(
            "{}/v2/{}/manifests/{reference}",
            image.api_base(),
            image.repository
        );
        let body = Some((manifest.content_type, manifest.body));
        let put = self
            .send(image, Method::PUT, &url, &push_scope(image), body)
            .await?;
        if put.status.is_success() {
            Ok(())
        } else {
            Err(status_error(image, &put))
        }
    }

    /// Copies the config and layers of an image manifest, [`BLOB_COPIES`] at a time.
    async fn copy_blobs(
        &self,
        src: &ImageRef,
        dst: &ImageRef,
        manifest: &Reply,
    ) -> Result<(), RegistryError> {
        let mut blobs = referenced(src, &manifest.body, "config")?;
        blobs.extend(referenced(src, &manifest.body, "layers")?);
        if blobs.is_empty() {
            return Err(RegistryError::Protocol {
                image: src.to_string(),
                reason: format!(
                    "manifest type {:?} has no config or layers to copy",
                    manifest.content_type
                ),
            });
        }
        futures::stream::iter(blobs)
            .map(|digest| async move { self.copy_blob(src, dst, &digest).await })
            .buffer_unordered(BLOB_COPIES)
            .try_collect::<()>()
            .await
    }

    /// Copies one blob unless `dst` has it: mounted within one registry when it can, else the upload is
    /// opened first (so that `dst`'s credentials are known) and `src`'s blob is streamed into it.
    async fn copy_blob(
        &self,
        src: &ImageRef,
        dst: &ImageRef,
        digest: &str,
    ) -> Result<(), RegistryError> {
        let blob_url = |image: &ImageRef| {
            format!(
                "{}/v2/{}/blobs/{digest}",
                image.api_base(),
                image.repository
            )
        };
        let push = push_scope(dst);
        let present = self
            .send(dst, Method::HEAD, &blob_url(dst), &push, None)
            .await?;
        if present.status.is_success() {
            tracing::debug!("{dst}: blob {digest} already there");
            return Ok(());
        }
        let mut uploads = format!("{}/v2/{}/blobs/uploads/", dst.api_base(), dst.repository);
        if src.registry == dst.registry {
            // Within one registry the blob is mounted from the source repository when the registry
            // can (201); otherwise it opens an ordinary upload (202).
            uploads.push_str(&format!("?mount={digest}&from={}", src.repository));
        }
        let started = self.send(dst, Method::POST, &uploads, &push, None).await?;
        let location = match (started.status, &started.location) {
            (StatusCode::CREATED, _) => {
                tracing::debug!("{dst}: blob {digest} mounted from {src}");
                return Ok(());
            }
            (StatusCode::ACCEPTED, Some(location)) => location.clone(),
            _ => return Err(status_error(dst, &started)),
        };
        let location = reqwest::Url::parse(&dst.api_base())
            .and_then(|base| base.join(&location))
            .map_err(|e| RegistryError::Protocol {
                image: dst.to_string(),
                reason: format!("invalid upload location {location:?}: {e}"),
            })?;
        let mut target = location.clone();
        target.query_pairs_mut().append_pair("digest", digest);

        // The blob as a stream, with the source credentials that fetching its manifest established.
        let pull = pull_scope(src);
        let transport = |image: &ImageRef| {
            let image = image.to_string();
            move |source| RegistryError::Transport { image, source }
        };
        let mut get = self.http.get(blob_url(src));
        if let Some(auth) = self.cached_auth(&(src.registry.clone(), pull)) {
            get = with_auth(get, &auth);
        }
        let blob = get.send().await.map_err(transport(src))?;
        if matches!(
            blob.status(),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) {
            return Err(denied(src, blob.status()));
        }
        if !blob.status().is_success() {
            return Err(RegistryError::Status {
                image: src.to_string(),
                status: blob.status().as_u16(),
                detail: format!(" (blob {digest})"),
            });
        }
        let length = blob.content_length();
        let mut put = self
            .http
            .put(target)
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(reqwest::Body::wrap_stream(blob.bytes_stream()));
        if let Some(length) = length {
            put = put.header(CONTENT_LENGTH, length);
        }
        if let Some(auth) = self.cached_auth(&(dst.registry.clone(), push)) {
            put = with_auth(put, &auth);
        }
        let stored = put.send().await.map_err(transport(dst))?;
        if stored.status() == StatusCode::CREATED {
            tracing::debug!("{dst}: blob {digest} copied from {src}");
            Ok(())
        } else {
            Err(RegistryError::Status {
                image: dst.to_string(),
                status: stored.status().as_u16(),
                detail: format!(" (upload of blob {digest})"),
            })
        }
    }

    async fn send(
        &self,
        image: &ImageRef,
        method: Method,
        url: &str,
        scope: &str,
        body: Option<(String, Vec<u8>)>,
    ) -> Result<Reply, RegistryError> {
        let key = (image.registry.clone(), scope.to_string());
        let mut auth = self.cached_auth(&key);
        let mut challenged = false;
        loop {
            let reply = self
                .send_with_retries(image, &method, url, auth.as_ref(), body.as_ref())
                .await?;
            let unauthorized = reply.0.status == StatusCode::UNAUTHORIZED;
            if !unauthorized {
                return Ok(reply.0);
            }
            if challenged {
                return Err(denied(image, reply.0.status));
            }
            challenged = true;
            let Some(challenge) = reply.1 else {
                return Err(denied(image, reply.0.status));
            };
            let used = match &auth {
                Some(RegistryAuth::Bearer(t)) => Some(t.clone()),
                _ => None,
            };
            auth = Some(
                self.answer_challenge(image, &challenge, scope, &key, used)
                    .await?,
            );
        }
    }

    fn cached_auth(&self, key: &(String, String)) -> Option<RegistryAuth> {
        self.auths.lock().ok()?.get(key).cloned()
    }

    fn cache_auth(&self, key: &(String, String), auth: &RegistryAuth) {
        if let Ok(mut auths) = self.auths.lock() {
            auths.insert(key.clone(), auth.clone());
        }
    }

    async fn answer_challenge(
        &self,
        image: &ImageRef,
        challenge: &str,
        scope: &str,
        key: &(String, String),
        used: Option<String>,
    ) -> Result<RegistryAuth, RegistryError> {
        let creds = self.credentials.for_registry(&image.registry);
        let (scheme, params) = parse_challenge(challenge);
        if scheme.eq_ignore_ascii_case("basic") {
            return match creds {
                Some((user, pass)) => {
                    let auth = RegistryAuth::Basic(user, pass);
                    self.cache_auth(key, &auth);
                    Ok(auth)
                }
                None => Err(denied(image, StatusCode::UNAUTHORIZED)),
            };
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(RegistryError::Protocol {
                image: image.to_string(),
                reason: format!("unsupported authentication scheme {scheme:?}"),
            });
        }
        let _fetching = self.token_fetch.lock().await;
        if let Some(RegistryAuth::Bearer(token)) = self.cached_auth(key)
            && Some(&token) != used.as_ref()
        {
            return Ok(RegistryAuth::Bearer(token));
        }
        let realm = params.get("realm").ok_or_else(|| RegistryError::Protocol {
            image: image.to_string(),
            reason: "bearer challenge without realm".into(),
        })?;
        let mut query: Vec<(&str, &str)> = vec![("scope", scope)];
        if let Some(service) = params.get("service") {
            query.push(("service", service));
        }
        let token_url = reqwest::Url::parse_with_params(realm, &query).map_err(|e| {
            RegistryError::Protocol {
                image: image.to_string(),
                reason: format!("invalid token realm {realm:?}: {e}"),
            }
        })?;
        let mut attempt = 0;
        let reply = loop {
            let mut req = self.http.get(token_url.clone());
            if let Some((user, pass)) = &creds {
                req = req.basic_auth(user, Some(pass));
            }
            match req.send().await {
                Ok(r) if r.status().is_server_error() && attempt + 1 < ATTEMPTS => {}
                Ok(r) => break r,
                Err(e) if attempt + 1 < ATTEMPTS => tracing::debug!("token request failed: {e}"),
                Err(source) => {
                    return Err(RegistryError::Transport {
                        image: image.to_string(),
                        source,
                    });
                }
            }
            attempt += 1;
            tokio::time::sleep(self.backoff * 2u32.pow(attempt - 1)).await;
        };
        let status = reply.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(denied(image, status));
        }
        if !status.is_success() {
            return Err(RegistryError::Status {
                image: image.to_string(),
                status: status.as_u16(),
                detail: " (token service)".into(),
            });
        }
        let json: serde_json::Value =
            reply
                .json()
                .await
                .map_err(|source| RegistryError::Transport {
                    image: image.to_string(),
                    source,
                })?;
        let token = json
            .get("token")
            .or_else(|| json.get("access_token"))
            .and_then(|t| t.as_str())
            .ok_or_else(|| RegistryError::Protocol {
                image: image.to_string(),
                reason: "token service answered without a token".into(),
            })?
            .to_string();
        let auth = RegistryAuth::Bearer(token);
        self.cache_auth(key, &auth);
        Ok(auth)
    }

    /// Sends one request, retrying with exponential backoff on 5xx, 429 and network errors. Returns the
    /// reply and its `WWW-Authenticate` challenge.
    async fn send_with_retries(
        &self,
        image: &ImageRef,
        method: &Method,
        url: &str,
        auth: Option<&RegistryAuth>,
        body: Option<&(String, Vec<u8>)>,
    ) -> Result<(Reply, Option<String>), RegistryError> {
        let mut attempt = 0;
        loop {
            let mut req = self
                .http
                .request(method.clone(), url)
                .header(ACCEPT, MANIFEST_TYPES);
            if let Some(auth) = auth {
                req = with_auth(req, auth);
            }
            if let Some((ct, bytes)) = body {
                req = req.header(CONTENT_TYPE, ct.as_str()).body(bytes.clone());
            }
            let last = attempt + 1 >= ATTEMPTS;
            match req.send().await {
                Ok(r) => {
                    let status = r.status();
                    if (status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS)
                        && !last
                    {
                        tracing::debug!("{method} {url}: HTTP {status}, retrying");
                    } else {
                        let challenge = r
                            .headers()
                            .get(WWW_AUTHENTICATE)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string);
                        let location = r
                            .headers()
                            .get(LOCATION)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string);
                        let content_type = r
                            .headers()
                            .get(CONTENT_TYPE)
                            .and_then(|v| v.to_str().ok())
                            .map(|v| v.split(';').next().unwrap_or(v).trim().to_string())
                            .unwrap_or_default();
                        let body = r.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
                        return Ok((
                            Reply {
                                status,
                                content_type,
                                location,
                                body,
                            },
                            challenge,
                        ));
                    }
                }
                Err(source) if last => {
                    return Err(RegistryError::Transport {
                        image: image.to_string(),
                        source,
                    });
                }
                Err(e) => tracing::debug!("{method} {url}: {e}, retrying"),
            }
            attempt += 1;
            tokio::time::sleep(self.backoff * 2u32.pow(attempt - 1)).await;
        }
    }
}

fn with_auth(req: reqwest::RequestBuilder, auth: &RegistryAuth) -> reqwest::RequestBuilder {
    match auth {
        RegistryAuth::Bearer(t) => req.bearer_auth(t),
        RegistryAuth::Basic(u, p) => req.basic_auth(u, Some(p)),
    }
}

fn pull_scope(image: &ImageRef) -> String {
    format!("repository:{}:pull", image.repository)
}

fn push_scope(image: &ImageRef) -> String {
    format!("repository:{}:pull,push", image.repository)
}

/// The digests a manifest refers to under `field`: `config` (one object), `layers` or `manifests`.
fn referenced(
    image: &ImageRef,
    manifest: &[u8],
    field: &str,
) -> Result<Vec<String>, RegistryError> {
    let doc: serde_json::Value =
        serde_json::from_slice(manifest).map_err(|e| RegistryError::Protocol {
            image: image.to_string(),
            reason: format!("unreadable manifest: {e}"),
        })?;
    let entries = match &doc[field] {
        serde_json::Value::Null => Vec::new(),
        serde_json::Value::Array(items) => items.iter().collect(),
        single => vec![single],
    };
    entries
        .into_iter()
        .map(|e| {
            e["digest"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| RegistryError::Protocol {
                    image: image.to_string(),
                    reason: format!("a `{field}` entry of the manifest has no digest"),
                })
        })
        .collect()
}

fn denied(image: &ImageRef, status: StatusCode) -> RegistryError {
    RegistryError::Denied {
        image: image.to_string(),
        host: image.registry.clone(),
        status: status.as_u16(),
    }
}

fn status_error(image: &ImageRef, reply: &Reply) -> RegistryError {
    if reply.status == StatusCode::UNAUTHORIZED || reply.status == StatusCode::FORBIDDEN {
        return denied(image, reply.status);
    }
    let text = String::from_utf8_lossy(&reply.body);
    let text: String = text.chars().take(200).collect();
    RegistryError::Status {
        image: image.to_string(),
        status: reply.status.as_u16(),
        detail: if text.trim().is_empty() {
            String::new()
        } else {
            format!(": {}", text.trim())
        },
    }
}

fn has_amd64(image: &ImageRef, body: &[u8]) -> Result<bool, RegistryError> {
    let index: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| RegistryError::Protocol {
            image: image.to_string(),
            reason: format!("unreadable image index: {e}"),
        })?;
    let found = index["manifests"].as_array().is_some_and(|m| {
        m.iter()
            .any(|m| m["platform"]["os"] == "linux" && m["platform"]["architecture"] == "amd64")
    });
    if !found {
        tracing::warn!("{image} is an index without a linux/amd64 image: treated as absent");
    }
    Ok(found)
}

/// Splits `Bearer realm="…",service="…"` into its scheme and parameters (quoted values may hold commas).
fn parse_challenge(header: &str) -> (String, HashMap<String, String>) {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ',' || c.is_whitespace()).is_some() {}
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
        if key.is_empty() || chars.next().is_none() {
            break;
        }
        let value: String = if chars.next_if_eq(&'"').is_some() {
            let mut v = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => v.extend(chars.next()),
                    c => v.push(c),
                }
            }
            v
        } else {
            std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect()
        };
        params.insert(key.trim().to_ascii_lowercase(), value);
    }
    (scheme.to_string(), params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let (s, p) = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(s, "Bearer");
        assert_eq!(p["realm"], "https://auth.docker.io/token");
        assert_eq!(p["service"], "registry.docker.io");
        assert_eq!(p["scope"], "repository:a/b:pull,push");
        let (s, p) = parse_challenge(r#"Basic realm="Registry Realm""#);
        assert_eq!(
            (s.as_str(), p["realm"].as_str()),
            ("Basic", "Registry Realm")
        );
        let (s, p) = parse_challenge("Bearer");
        assert_eq!((s.as_str(), p.len()), ("Bearer", 0));
    }
}

#[cfg(test)]
mod protocol_tests;
