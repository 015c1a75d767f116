//! The project image: name, tag and whether it must be built (`CIUX_BUILD`), from the commits since the
//! last change of the source paths.

use futures::StreamExt;
use serde::Serialize;

use crate::git::{self, GitError, SourcePaths};
use crate::image_ref::{ImageRef, ImageRefError};
use crate::project::Project;
use crate::registry::{RegistryClient, RegistryError};
use crate::revision::Revision;

/// The outcome of the image search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageDecision {
    /// Configured registry (`CIUX_IMAGE_REGISTRY`).
    pub registry: String,
    /// Image name with suffix.
    pub name: String,
    /// Chosen tag.
    pub tag: String,
    /// Chosen image URL.
    pub url: String,
    /// An image holding the current sources exists.
    pub in_registry: bool,
    /// HEAD's version (with `-dirty`).
    pub head_version: String,
    /// `<registry>/<name>:<HEAD version>`.
    pub promoted_url: String,
    /// `<tmp registry>/<name>:<HEAD version>` with `--tmp-registry`.
    pub temporary_url: Option<String>,
}

/// Why the image decision failed.
#[derive(Debug, thiserror::Error)]
pub enum ImageDecisionError {
    /// Git failure.
    #[error(transparent)]
    Git(#[from] GitError),
    /// The configured registry and name make no valid reference.
    #[error("cannot check the project image (check `registry:` in .ciux): {0}")]
    Reference(#[from] ImageRefError),
    /// Registry failure (not "absent").
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// HEAD's revision and the versions of the candidate commits, oldest first.
pub fn candidates(project: &Project) -> Result<(Revision, Vec<String>), GitError> {
    let repo = git::open_root(&project.root)?;
    let head = git::head_revision(&repo)?;
    let sources = SourcePaths::new(&project.root, &project.file.source_pathes)?;
    let head_oid = git::head_commit(&repo)?;
    let tags = git::version_tags(&repo)?;
    let versions = git::code_change_commits(&repo, head_oid, &sources)?
        .into_iter()
        .map(|oid| git::revision_of(&repo, oid, &tags).map(|r| r.version()))
        .collect::<Result<_, _>>()?;
    Ok((head, versions))
}

/// Decides the image. With a client, the candidates are looked up oldest first and the first that exists
/// wins; a registry error (anything but 404) fails the decision.
pub async fn decide(
    project: &Project,
    suffix: &str,
    tmp_registry: &str,
    client: Option<&RegistryClient>,
) -> Result<ImageDecision, ImageDecisionError> {
    let (head, versions) = candidates(project)?;
    let registry = project.file.registry.clone();
    let name = project.image_name(suffix);
    let url_in = |reg: &str, tag: &str| format!("{reg}/{name}:{tag}");
    let mut found = None;
    if let Some(client) = client {
        let refs = versions
            .iter()
            .map(|v| ImageRef::parse(&url_in(&registry, v)).map(|r| (v.clone(), r)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut results = futures::stream::iter(refs.iter())
            .map(|(v, r)| async move { client.exists(r).await.map(|ok| (v, ok)) })
            .buffered(crate::parallel::REGISTRY_LOOKUPS);
        while let Some(result) = results.next().await {
            let (version, exists) = result?;
            tracing::debug!("{}: in registry = {exists}", url_in(&registry, version));
            if exists {
                found = Some(version.clone());
                break;
            }
        }
    }
    let head_version = head.version();
    let (tag, url, in_registry) = match found {
        Some(tag) => (tag.clone(), url_in(&registry, &tag), true),
        None => {
            let reg = if tmp_registry.is_empty() {
                &registry
            } else {
                tmp_registry
            };
            (head_version.clone(), url_in(reg, &head_version), false)
        }
    };
    Ok(ImageDecision {
        promoted_url: url_in(&registry, &head_version),
        temporary_url: (!tmp_registry.is_empty()).then(|| url_in(tmp_registry, &head_version)),
        registry,
        name,
        tag,
        url,
        in_registry,
        head_version,
    })
}
