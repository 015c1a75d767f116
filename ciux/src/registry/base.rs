//! What an image records about the base it was built on, and a base image's current digest. The
//! record is the OCI pre-defined annotations `org.opencontainers.image.base.name` and
//! `org.opencontainers.image.base.digest`: in the manifest (or index) annotations, where buildah and
//! `docker buildx build --annotation manifest:…` put them, else in the labels of the image config
//! (`docker build --label …`).

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::{INDEX_TYPES, RegistryClient, RegistryError, has_amd64, pull_scope, status_error};
use crate::image_ref::{ImageRef, ImageRefExt};

/// Annotation (or label) naming the base image.
pub(crate) const BASE_NAME: &str = "org.opencontainers.image.base.name";
/// Annotation (or label) holding the digest of the base image's manifest.
pub(crate) const BASE_DIGEST: &str = "org.opencontainers.image.base.digest";

/// A manifest fetched by tag.
pub(crate) struct Fetched {
    /// The digest of what the tag points at (`Docker-Content-Digest`, else the body's sha256).
    pub(crate) digest: String,
    /// For an index, the digests of its images.
    pub(crate) children: Vec<String>,
    doc: Value,
    is_index: bool,
}

/// The base an image says it was built on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct RecordedBase {
    /// `org.opencontainers.image.base.name`.
    pub(crate) name: Option<String>,
    /// `org.opencontainers.image.base.digest`.
    pub(crate) digest: Option<String>,
}

impl RecordedBase {
    /// The record in an annotation or label map, if it holds either key.
    fn from_map(map: &Value) -> Option<Self> {
        let get = |key: &str| map[key].as_str().map(str::to_string);
        let recorded = RecordedBase {
            name: get(BASE_NAME),
            digest: get(BASE_DIGEST),
        };
        (recorded.name.is_some() || recorded.digest.is_some()).then_some(recorded)
    }
}

impl RegistryClient {
    /// Fetches the manifest `image` points at (one GET); `None` when absent (404), or when it is an
    /// index without a `linux/amd64` image (as [`RegistryClient::exists`]).
    pub(crate) async fn fetch(&self, image: &ImageRef) -> Result<Option<Fetched>, RegistryError> {
        let url = format!(
            "{}/v2/{}/manifests/{}",
            image.api_base(),
            image.repository,
            image.reference
        );
        let reply = self
            .send(image, Method::GET, &url, &pull_scope(image), None)
            .await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !reply.status.is_success() {
            return Err(status_error(image, &reply));
        }
        let is_index = INDEX_TYPES.contains(&reply.content_type.as_str());
        if is_index && !has_amd64(image, &reply.body)? {
            return Ok(None);
        }
        let doc = parse(image, &reply.body)?;
        let digest = reply
            .digest
            .clone()
            .unwrap_or_else(|| format!("sha256:{:x}", Sha256::digest(&reply.body)));
        let children = doc["manifests"]
            .as_array()
            .map(|m| {
                m.iter()
                    .filter_map(|d| d["digest"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Some(Fetched {
            digest,
            children,
            doc,
            is_index,
        }))
    }

    /// The base a fetched image records: the annotations of its manifest (or index), else of its
    /// `linux/amd64` image (descriptor, then manifest: one more GET), else the labels of its config
    /// (one blob GET). Empty when none records it.
    pub(crate) async fn recorded_base(
        &self,
        image: &ImageRef,
        fetched: &Fetched,
    ) -> Result<RecordedBase, RegistryError> {
        if let Some(recorded) = RecordedBase::from_map(&fetched.doc["annotations"]) {
            return Ok(recorded);
        }
        let child_doc;
        let manifest = if fetched.is_index {
            let Some(child) = fetched.doc["manifests"].as_array().and_then(|m| {
                m.iter().find(|m| {
                    m["platform"]["os"] == "linux" && m["platform"]["architecture"] == "amd64"
                })
            }) else {
                return Ok(RecordedBase::default());
            };
            if let Some(recorded) = RecordedBase::from_map(&child["annotations"]) {
                return Ok(recorded);
            }
            let Some(digest) = child["digest"].as_str() else {
                return Ok(RecordedBase::default());
            };
            let child_ref = ImageRef {
                reference: digest.to_string(),
                ..image.clone()
            };
            let reply = self.manifest(&child_ref, &pull_scope(image)).await?;
            child_doc = parse(&child_ref, &reply.body)?;
            if let Some(recorded) = RecordedBase::from_map(&child_doc["annotations"]) {
                return Ok(recorded);
            }
            &child_doc
        } else {
            &fetched.doc
        };
        let Some(config) = manifest["config"]["digest"].as_str() else {
            return Ok(RecordedBase::default());
        };
        let url = format!(
            "{}/v2/{}/blobs/{config}",
            image.api_base(),
            image.repository
        );
        let reply = self
            .send(image, Method::GET, &url, &pull_scope(image), None)
            .await?;
        if !reply.status.is_success() {
            return Err(status_error(image, &reply));
        }
        let config = parse(image, &reply.body)?;
        Ok(RecordedBase::from_map(&config["config"]["Labels"]).unwrap_or_default())
    }
}

fn parse(image: &ImageRef, body: &[u8]) -> Result<Value, RegistryError> {
    serde_json::from_slice(body).map_err(|e| RegistryError::Protocol {
        image: image.to_string(),
        reason: format!("unreadable manifest: {e}"),
    })
}
