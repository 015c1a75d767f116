//! Copying images: a new tag in the same repository (manifest only), or the blobs the destination
//! lacks, streamed, then the manifests, to another repository or registry.

use futures::{StreamExt, TryStreamExt};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Method, StatusCode};

use super::auth::with_auth;
use super::{
    BLOB_COPIES, INDEX_TYPES, RegistryClient, RegistryError, Reply, denied, pull_scope,
    status_error,
};
use crate::image_ref::{ImageRef, ImageRefExt};

impl RegistryClient {
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
}

pub(super) fn push_scope(image: &ImageRef) -> String {
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
