//! A small Docker Registry v2 client: the client, its errors and manifest look-ups (404 = absent,
//! anything else that is not a success is an error, after retries). Requests, retries and
//! authentication (bearer token or basic, with credentials from the environment or
//! `~/.docker/config.json`) are in [`auth`]; promoting a tag and copying an image across repositories
//! and registries (blobs streamed, never held whole) in [`copy`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::{Method, StatusCode};

use crate::credentials::{Credentials, RegistryAuth};
use crate::image_ref::{ImageRef, ImageRefExt};

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
pub(crate) const ATTEMPTS: u32 = 3;

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

    /// The HTTP status the registry answered, if it answered.
    pub(crate) fn status(&self) -> Option<u16> {
        match self {
            RegistryError::Denied { status, .. } | RegistryError::Status { status, .. } => {
                Some(*status)
            }
            RegistryError::Transport { .. } | RegistryError::Protocol { .. } => None,
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
    /// The `Docker-Content-Digest` header (manifests).
    digest: Option<String>,
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
        Ok(self.find(image).await?.is_some())
    }

    /// `Some(digest)` when the image exists (as [`RegistryClient::exists`] checks), with the manifest
    /// digest the registry reported, `None` when it does not.
    pub(crate) async fn find(
        &self,
        image: &ImageRef,
    ) -> Result<Option<Option<String>>, RegistryError> {
        let url = format!(
            "{}/v2/{}/manifests/{}",
            image.api_base(),
            image.repository,
            image.reference
        );
        let scope = pull_scope(image);
        let reply = self.send(image, Method::HEAD, &url, &scope, None).await?;
        match reply.status {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => {
                if !INDEX_TYPES.contains(&reply.content_type.as_str()) {
                    return Ok(Some(reply.digest));
                }
                let full = self.send(image, Method::GET, &url, &scope, None).await?;
                if !full.status.is_success() {
                    return Err(status_error(image, &full));
                }
                Ok(has_amd64(image, &full.body)?.then_some(reply.digest))
            }
            _ => Err(status_error(image, &reply)),
        }
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
}

fn pull_scope(image: &ImageRef) -> String {
    format!("repository:{}:pull", image.repository)
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

mod auth;
mod base;
mod copy;

pub(crate) use base::{Fetched, RecordedBase};

#[cfg(test)]
mod protocol_tests;
