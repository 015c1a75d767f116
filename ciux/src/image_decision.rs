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
pub(crate) struct ImageDecision {
    /// Configured registry (`CIUX_IMAGE_REGISTRY`).
    pub(crate) registry: String,
    /// Image name with suffix.
    pub(crate) name: String,
    /// Chosen tag.
    pub(crate) tag: String,
    /// Chosen image URL.
    pub(crate) url: String,
    /// An image holding the current sources exists.
    pub(crate) in_registry: bool,
    /// HEAD's version (with `-dirty`).
    pub(crate) head_version: String,
    /// `<registry>/<name>:<HEAD version>`.
    pub(crate) promoted_url: String,
    /// `<tmp registry>/<name>:<HEAD version>` with `--tmp-registry`.
    pub(crate) temporary_url: Option<String>,
}

/// Why the image decision failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ImageDecisionError {
    /// Git failure.
    #[error(transparent)]
    Git(#[from] GitError),
    /// The configured registry and name make no valid reference.
    #[error("cannot check the project image (check `registry:` in .ciux): {0}")]
    Reference(#[from] ImageRefError),
    /// Registry failure (not "absent").
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The registry cannot be reached and `--registry-unreachable` is `fail`.
    #[error(
        "registry {host} unreachable (to build the image anyway: --registry-unreachable=build or CIUX_REGISTRY_UNREACHABLE=build)"
    )]
    Unreachable {
        /// The registry host.
        host: String,
        /// The look-up's failure.
        source: RegistryError,
    },
}

/// What a project-image look-up does when the registry cannot be reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum RegistryUnreachable {
    /// Fail (exit 1)
    #[default]
    Fail,
    /// Take the image as absent, with a warning: CIUX_BUILD=true (the original ciux's behaviour)
    Build,
}

/// How the project image is looked up: the client, and what an unreachable registry means.
#[derive(Clone, Copy)]
pub(crate) struct Lookup<'a> {
    /// The registry client of the run.
    pub(crate) client: &'a RegistryClient,
    /// `--registry-unreachable`.
    pub(crate) unreachable: RegistryUnreachable,
}

/// HEAD's revision and the versions of the candidate commits, oldest first.
pub(crate) fn candidates(project: &Project) -> Result<(Revision, Vec<String>), GitError> {
    let repo = git::open_root(&project.root)?;
    let head = git::head_revision(&repo)?;
    let sources = SourcePaths::new(&project.root, &project.file.source_pathes);
    let head_oid = git::head_commit(&repo)?;
    let tags = git::version_tags(&repo)?;
    let versions = git::code_change_commits(&repo, head_oid, &sources)?
        .into_iter()
        .map(|oid| git::revision_of(&repo, oid, &tags).map(|r| r.version()))
        .collect::<Result<_, _>>()?;
    Ok((head, versions))
}

/// Decides the image. With a look-up, the candidates are looked up oldest first and the first that
/// exists wins. A registry error (anything but 404) fails the decision, except a refusal (401/403)
/// from a registry without configured credentials (Docker Hub's answer for a repository never
/// pushed) and, with `--registry-unreachable=build`, an unreachable registry: the image is then
/// absent, with one warning.
pub(crate) async fn decide(
    project: &Project,
    suffix: Option<&str>,
    tmp_registry: Option<&str>,
    lookup: Option<Lookup<'_>>,
) -> Result<ImageDecision, ImageDecisionError> {
    let (head, versions) = candidates(project)?;
    let registry = project.file.registry.clone();
    let name = project.image_name(suffix.unwrap_or(""));
    let url_in = |reg: &str, tag: &str| format!("{reg}/{name}:{tag}");
    let mut found = None;
    if let Some(lookup) = lookup {
        let refs = versions
            .iter()
            .map(|v| ImageRef::parse(&url_in(&registry, v)).map(|r| (v.clone(), r)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut results = futures::stream::iter(refs.iter())
            .map(|(v, r)| async move { lookup.client.exists(r).await.map(|ok| (v, ok)) })
            .buffered(crate::parallel::REGISTRY_LOOKUPS);
        while let Some(result) = results.next().await {
            let (version, exists) = match result {
                Ok(checked) => checked,
                Err(e) => {
                    let warning = absent_despite(e, &refs[0].1.registry, lookup)?;
                    tracing::warn!("{warning}");
                    break;
                }
            };
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
            let reg = tmp_registry.unwrap_or(&registry);
            (head_version.clone(), url_in(reg, &head_version), false)
        }
    };
    Ok(ImageDecision {
        promoted_url: url_in(&registry, &head_version),
        temporary_url: tmp_registry.map(|reg| url_in(reg, &head_version)),
        registry,
        name,
        tag,
        url,
        in_registry,
        head_version,
    })
}

/// The warning when a failed look-up of the project image in registry `host` still means "absent,
/// build it", else the error to fail with.
fn absent_despite(
    error: RegistryError,
    host: &str,
    lookup: Lookup<'_>,
) -> Result<String, ImageDecisionError> {
    if let RegistryError::Denied { image, status, .. } = &error
        && !lookup.client.has_credentials(host)
    {
        return Ok(format!(
            "registry {host} answered HTTP {status} for {image} and no credentials are configured \
             for it: taken as a repository never pushed, the image will be built (CIUX_BUILD=true); \
             configure credentials if the repository is private"
        ));
    }
    if !error.is_unreachable() {
        return Err(error.into());
    }
    match lookup.unreachable {
        RegistryUnreachable::Build => {
            let cause =
                std::iter::successors(Some(&error as &dyn std::error::Error), |e| e.source())
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(": ");
            Ok(format!(
                "{cause}; registry {host} taken as not holding the image \
                 (--registry-unreachable=build): the image will be built (CIUX_BUILD=true)"
            ))
        }
        RegistryUnreachable::Fail => Err(ImageDecisionError::Unreachable {
            host: host.to_string(),
            source: error,
        }),
    }
}
