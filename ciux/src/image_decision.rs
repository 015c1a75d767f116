//! The project image: name, tag, whether it must be built (`CIUX_BUILD`) and why ([`BuildReason`]),
//! from the commits since the last change of the source paths (or the tree tag, see
//! [`crate::tree_tag`]) and, for declared base images, the base the found image records.

use futures::StreamExt;
use git2::{Oid, Repository};
use serde::{Deserialize, Serialize};

use crate::base_image::Bases;
use crate::git::{self, GitError, IndexRefresh, SourcePaths};
use crate::image_ref::{ImageRef, ImageRefError};
use crate::project::Project;
use crate::registry::{ATTEMPTS, RegistryClient, RegistryError};
use crate::tree_tag::{TagScheme, tree_tag};

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
    /// `CIUX_BUILD`: the image must be built (`!in_registry`).
    pub(crate) build: bool,
    /// Why.
    pub(crate) reason: BuildReason,
}

/// Why the image is built or not: made where the decision is made. Serialised as an object whose
/// `kind` is the value of `CIUX_BUILD_REASON`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub(crate) enum BuildReason {
    /// An image holding the current sources exists: it is reused (`CIUX_BUILD=false`).
    ImageFound {
        /// The image.
        #[serde(rename = "ref")]
        reference: String,
        /// The commit whose version tags it.
        commit: String,
    },
    /// The source paths last changed in `commit` and no image exists from it up to HEAD.
    SourceChange {
        /// The last commit that changed the source paths.
        commit: String,
        /// The `sourcePathes` entries it changed (`.` when none is listed).
        paths: Vec<String>,
    },
    /// No image holds the current sources: the registry answered `status` for the first one looked
    /// up (404, or Docker Hub's 401/403 for a repository never pushed, without credentials).
    ImageMissing {
        /// The first image looked up.
        #[serde(rename = "ref")]
        reference: String,
        /// The registry's answer.
        status: u16,
    },
    /// The registry kept failing and `--registry-unreachable=build` takes the image as absent.
    RegistryError {
        /// The registry's last HTTP status (none: no answer).
        status: Option<u16>,
        /// How many times the request was sent.
        attempts: u32,
    },
    /// Tracked files under the source paths have uncommitted changes, which no image holds.
    DirtyTree {
        /// The `sourcePathes` entries with changes.
        paths: Vec<String>,
    },
    /// The images found were built on another base than the current one.
    BaseImageChanged {
        /// The declared base image.
        #[serde(rename = "ref")]
        reference: String,
        /// The base digest the found image records (none: it records no base).
        old: Option<String>,
        /// The base's current digest.
        new: String,
    },
    /// HEAD is the first commit of the repository and has no image.
    RootCommit {
        /// HEAD.
        commit: String,
    },
    /// `--force-build` (or `CIUX_FORCE_BUILD=true`).
    Forced,
    /// The registry was not asked (`get image` without `--check`, `ignite env`).
    NotChecked,
}

impl BuildReason {
    /// The `kind`, the value of `CIUX_BUILD_REASON`.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            BuildReason::ImageFound { .. } => "image-found",
            BuildReason::SourceChange { .. } => "source-change",
            BuildReason::ImageMissing { .. } => "image-missing",
            BuildReason::RegistryError { .. } => "registry-error",
            BuildReason::DirtyTree { .. } => "dirty-tree",
            BuildReason::BaseImageChanged { .. } => "base-image-changed",
            BuildReason::RootCommit { .. } => "root-commit",
            BuildReason::Forced => "forced",
            BuildReason::NotChecked => "not-checked",
        }
    }

    /// One line saying why, for people (the env file's comment, `--explain`).
    pub(crate) fn summary(&self) -> String {
        let short = |c: &str| c.chars().take(12).collect::<String>();
        let text = match self {
            BuildReason::ImageFound { reference, commit } => format!(
                "{reference} (commit {}) holds the current sources: reused",
                short(commit)
            ),
            BuildReason::SourceChange { commit, paths } => format!(
                "commit {} changed {} and no image exists from it up to HEAD",
                short(commit),
                paths.join(", ")
            ),
            BuildReason::ImageMissing { reference, status } => {
                format!("no image holds the current sources ({reference}: HTTP {status})")
            }
            BuildReason::RegistryError { status, attempts } => format!(
                "the registry failed ({} after {attempts} attempts): taken as not holding the image (--registry-unreachable=build)",
                status.map_or("no answer".to_string(), |s| format!("HTTP {s}"))
            ),
            BuildReason::DirtyTree { paths } => format!(
                "uncommitted changes in {}, which no image holds",
                paths.join(", ")
            ),
            BuildReason::BaseImageChanged {
                reference,
                old,
                new,
            } => format!(
                "base image {reference} is now {new}; the image found was built on {}",
                old.as_deref()
                    .unwrap_or("an unrecorded base (no org.opencontainers.image.base.digest)")
            ),
            BuildReason::RootCommit { commit } => {
                format!(
                    "HEAD ({}) is the first commit and has no image",
                    short(commit)
                )
            }
            BuildReason::Forced => "forced (--force-build)".to_string(),
            BuildReason::NotChecked => "the registry was not checked".to_string(),
        };
        // Paths and references come from files: one line, whatever they hold.
        text.chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect()
    }
}

impl ImageDecision {
    /// The decision for people: `--explain`.
    pub(crate) fn explain(&self) -> String {
        format!(
            "Build: {} ({})\nImage: {}\nReason: {}\n",
            self.build,
            self.reason.kind(),
            self.url,
            self.reason.summary()
        )
    }
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

/// How the project image is looked up: the client, what an unreachable registry means, and
/// whether the build is forced.
#[derive(Clone, Copy)]
pub(crate) struct Lookup<'a> {
    /// The registry client of the run.
    pub(crate) client: &'a RegistryClient,
    /// `--registry-unreachable`.
    pub(crate) unreachable: RegistryUnreachable,
    /// `--force-build`: build without asking the registry.
    pub(crate) force: bool,
    /// Whether HEAD's dirty check may rewrite a racily clean index.
    pub(crate) index: IndexRefresh,
}

/// A tag that may already hold the current sources, and the commit it names.
struct Candidate {
    commit: Oid,
    tag: String,
}

/// The candidate tags, oldest first: the versions of the commits since the last change of the source
/// paths, or the one tree tag.
fn candidates(
    repo: &Repository,
    head: Oid,
    tree: Option<&str>,
    sources: &SourcePaths,
) -> Result<Vec<Candidate>, GitError> {
    if let Some(tag) = tree {
        return Ok(vec![Candidate {
            commit: head,
            tag: tag.to_string(),
        }]);
    }
    let tags = git::version_tags(repo)?;
    git::code_change_commits(repo, head, sources)?
        .into_iter()
        .map(|commit| {
            git::revision_of(repo, commit, &tags).map(|r| Candidate {
                commit,
                tag: r.version(),
            })
        })
        .collect()
}

/// The image's names for HEAD.
struct Naming {
    registry: String,
    name: String,
    head_version: String,
    /// The tag of the image to build: HEAD's version, or the tree tag (`-dirty` when HEAD is).
    own_tag: String,
}

/// What the decision knows before any registry request: HEAD, the tags it can give, the source
/// paths with uncommitted changes.
struct Local {
    naming: Naming,
    head_oid: Oid,
    /// The tree tag (`imageTag: tree`).
    tree: Option<String>,
    sources: SourcePaths,
    /// The source entries with uncommitted changes (looked up only for a registry check).
    dirty_sources: Vec<String>,
}

impl Local {
    fn of(
        project: &Project,
        repo: &Repository,
        suffix: Option<&str>,
        checked: bool,
        refresh: IndexRefresh,
    ) -> Result<Local, ImageDecisionError> {
        let head = git::head_revision(repo, refresh)?;
        let head_oid = git::head_commit(repo)?;
        let tree = match project.file.image_tag {
            TagScheme::Tree => Some(tree_tag(repo, head_oid, &project.file.source_pathes)?),
            TagScheme::Describe => None,
        };
        let sources = SourcePaths::new(&project.root, &project.file.source_pathes);
        let head_version = head.version();
        let dirty_sources = if checked && head.dirty {
            git::dirty_entries(repo, &sources)?
        } else {
            Vec::new()
        };
        let own_tag = match &tree {
            Some(tree) if head.dirty => format!("{tree}-dirty"),
            Some(tree) => tree.clone(),
            None => head_version.clone(),
        };
        Ok(Local {
            naming: Naming {
                registry: project.file.registry.clone(),
                name: project.image_name(suffix.unwrap_or("")),
                head_version,
                own_tag,
            },
            head_oid,
            tree,
            sources,
            dirty_sources,
        })
    }
}

impl Naming {
    fn url_in(&self, registry: &str, tag: &str) -> String {
        format!("{registry}/{}:{tag}", self.name)
    }

    /// The decision: the tag `found` in the registry, else the image to build.
    fn decision(
        self,
        tmp_registry: Option<&str>,
        found: Option<String>,
        reason: BuildReason,
    ) -> ImageDecision {
        let (tag, url, in_registry) = match found {
            Some(tag) => (tag.clone(), self.url_in(&self.registry, &tag), true),
            None => {
                let reg = tmp_registry.unwrap_or(&self.registry);
                (self.own_tag.clone(), self.url_in(reg, &self.own_tag), false)
            }
        };
        ImageDecision {
            promoted_url: self.url_in(&self.registry, &self.own_tag),
            temporary_url: tmp_registry.map(|reg| self.url_in(reg, &self.own_tag)),
            registry: self.registry,
            name: self.name,
            tag,
            url,
            in_registry,
            head_version: self.head_version,
            build: !in_registry,
            reason,
        }
    }
}

/// Decides the image without asking the registry (`NotChecked`, so `CIUX_BUILD=true`): no I/O to
/// wait for, hence no async runtime.
pub(crate) fn decide_unchecked(
    project: &Project,
    repo: &Repository,
    suffix: Option<&str>,
    tmp_registry: Option<&str>,
    refresh: IndexRefresh,
) -> Result<ImageDecision, ImageDecisionError> {
    let local = Local::of(project, repo, suffix, false, refresh)?;
    Ok(local
        .naming
        .decision(tmp_registry, None, BuildReason::NotChecked))
}

/// [`decide_unchecked`] for a project whose clean HEAD is known to have `version` (a locked one),
/// tagged by its version (not `imageTag: tree`): from names alone, no repository read.
pub(crate) fn decide_at_version(
    project: &Project,
    suffix: Option<&str>,
    tmp_registry: Option<&str>,
    version: &str,
) -> ImageDecision {
    let naming = Naming {
        registry: project.file.registry.clone(),
        name: project.image_name(suffix.unwrap_or("")),
        head_version: version.to_string(),
        own_tag: version.to_string(),
    };
    naming.decision(tmp_registry, None, BuildReason::NotChecked)
}

/// Decides the image. Unless forced, or the source paths have uncommitted changes, the candidates are
/// looked up oldest first and the first that exists (and, with declared base images, records a
/// current base) wins. A registry error (anything but 404) fails the decision, except a refusal
/// (401/403) from a registry without configured credentials (Docker Hub's answer for a repository
/// never pushed) and, with `--registry-unreachable=build`, an unreachable registry: the image is then
/// absent, with one warning.
pub(crate) async fn decide(
    project: &Project,
    repo: &Repository,
    suffix: Option<&str>,
    tmp_registry: Option<&str>,
    lookup: Lookup<'_>,
) -> Result<ImageDecision, ImageDecisionError> {
    let mut local = Local::of(project, repo, suffix, true, lookup.index)?;
    let mut found = None;
    let reason = if lookup.force {
        BuildReason::Forced
    } else if !local.dirty_sources.is_empty() {
        BuildReason::DirtyTree {
            paths: std::mem::take(&mut local.dirty_sources),
        }
    } else {
        let candidates = candidates(repo, local.head_oid, local.tree.as_deref(), &local.sources)?;
        let refs = candidates
            .iter()
            .map(|c| ImageRef::parse(&local.naming.url_in(&local.naming.registry, &c.tag)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut bases = Bases::new(declared_bases(project)?);
        match search(&refs, lookup, &mut bases).await? {
            Searched::Found(i) => {
                found = Some(candidates[i].tag.clone());
                BuildReason::ImageFound {
                    reference: refs[i].to_string(),
                    commit: candidates[i].commit.to_string(),
                }
            }
            Searched::Absent(Some(reason)) => reason,
            Searched::Absent(None) if local.tree.is_some() => BuildReason::ImageMissing {
                reference: refs[0].to_string(),
                status: 404,
            },
            Searched::Absent(None) => not_found(
                repo,
                local.head_oid,
                &candidates[0],
                &refs[0],
                &local.sources,
            )?,
        }
    };
    Ok(local.naming.decision(tmp_registry, found, reason))
}

/// The image dependencies of `.ciux` marked `base: true`, whatever the selector (an image records
/// one base, which must be one of them). `base: true` on another kind of dependency is ignored with
/// a warning.
fn declared_bases(project: &Project) -> Result<Vec<ImageRef>, ImageRefError> {
    let mut declared = Vec::new();
    for (i, spec) in project.file.dependencies.iter().enumerate() {
        if !spec.base {
            continue;
        }
        if spec.image.is_empty() || !spec.package.is_empty() || !spec.release.is_empty() {
            tracing::warn!(
                "{}/.ciux: dependency {i} is not an image: `base: true` ignored",
                project.root.display()
            );
            continue;
        }
        declared.push(ImageRef::parse(&spec.image)?);
    }
    Ok(declared)
}

/// The outcome of the look-ups.
enum Searched {
    /// The candidate at this index is reused.
    Found(usize),
    /// None is: the reason when the search itself says it (a failure taken as absence, a changed
    /// base), else `None`.
    Absent(Option<BuildReason>),
}

/// Looks the candidates up, [`crate::parallel::REGISTRY_LOOKUPS`] at a time, and takes the first
/// found (oldest first) whose recorded base is current. Without declared bases a look-up is a HEAD
/// request; with them a GET, whose manifest tells the base.
async fn search(
    refs: &[ImageRef],
    lookup: Lookup<'_>,
    bases: &mut Bases,
) -> Result<Searched, ImageDecisionError> {
    let client = lookup.client;
    let with_bases = !bases.is_empty();
    let mut results = futures::stream::iter(refs.iter().enumerate())
        .map(|(i, r)| async move {
            if with_bases {
                client.fetch(r).await.map(|f| (i, f.map(Some)))
            } else {
                client.exists(r).await.map(|ok| (i, ok.then_some(None)))
            }
        })
        .buffered(crate::parallel::REGISTRY_LOOKUPS);
    let mut changed = None;
    while let Some(result) = results.next().await {
        let checked = match result {
            Ok((i, None)) => {
                tracing::debug!("{}: absent", refs[i]);
                continue;
            }
            Ok((i, Some(None))) => Ok(Some(i)),
            Ok((i, Some(Some(fetched)))) => {
                let base = async {
                    let recorded = client.recorded_base(&refs[i], &fetched).await?;
                    bases.check(client, &recorded).await
                };
                match base.await {
                    Ok(None) => Ok(Some(i)),
                    Ok(Some(change)) => {
                        tracing::debug!("{}: built on another base: {change:?}", refs[i]);
                        changed.get_or_insert(change);
                        Ok(None)
                    }
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        };
        match checked {
            Ok(Some(i)) => {
                tracing::debug!("{}: reused", refs[i]);
                return Ok(Searched::Found(i));
            }
            Ok(None) => {}
            Err(e) => {
                let (warning, reason) = absent_despite(e, &refs[0].registry, lookup)?;
                tracing::warn!("{warning}");
                return Ok(Searched::Absent(Some(reason)));
            }
        }
    }
    Ok(Searched::Absent(changed.map(|c| {
        BuildReason::BaseImageChanged {
            reference: c.reference,
            old: c.old,
            new: c.new,
        }
    })))
}

/// Why no version tag was found, from the oldest candidate: HEAD is the root commit, or it is the
/// last change of the source paths, or (the sources never changed) the image is missing.
fn not_found(
    repo: &Repository,
    head: Oid,
    oldest: &Candidate,
    oldest_ref: &ImageRef,
    sources: &SourcePaths,
) -> Result<BuildReason, GitError> {
    let is_root = repo
        .find_commit(oldest.commit)
        .map(|c| c.parent_count() == 0)
        .unwrap_or(false);
    if is_root && oldest.commit == head {
        return Ok(BuildReason::RootCommit {
            commit: head.to_string(),
        });
    }
    let paths = git::touched_entries(repo, oldest.commit, sources)?;
    if paths.is_empty() {
        return Ok(BuildReason::ImageMissing {
            reference: oldest_ref.to_string(),
            status: 404,
        });
    }
    Ok(BuildReason::SourceChange {
        commit: oldest.commit.to_string(),
        paths,
    })
}

/// The warning and the reason when a failed look-up of the project image in registry `host` still
/// means "absent, build it", else the error to fail with.
fn absent_despite(
    error: RegistryError,
    host: &str,
    lookup: Lookup<'_>,
) -> Result<(String, BuildReason), ImageDecisionError> {
    if let RegistryError::Denied { image, status, .. } = &error
        && !lookup.client.has_credentials(host)
    {
        let warning = format!(
            "registry {host} answered HTTP {status} for {image} and no credentials are configured \
             for it: taken as a repository never pushed, the image will be built (CIUX_BUILD=true); \
             configure credentials if the repository is private"
        );
        let reason = BuildReason::ImageMissing {
            reference: image.clone(),
            status: *status,
        };
        return Ok((warning, reason));
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
            let warning = format!(
                "{cause}; registry {host} taken as not holding the image \
                 (--registry-unreachable=build): the image will be built (CIUX_BUILD=true)"
            );
            let reason = BuildReason::RegistryError {
                status: error.status(),
                attempts: ATTEMPTS,
            };
            Ok((warning, reason))
        }
        RegistryUnreachable::Fail => Err(ImageDecisionError::Unreachable {
            host: host.to_string(),
            source: error,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reason's line goes into the env file as a comment: whatever a path holds, it stays one
    /// line (a newline would start a command in the sourced file).
    #[test]
    fn a_summary_is_one_line() {
        let reason = BuildReason::DirtyTree {
            paths: vec!["src\nexport CIUX_BUILD=false".into(), "bin".into()],
        };
        assert_eq!(
            reason.summary(),
            "uncommitted changes in src?export CIUX_BUILD=false, bin, which no image holds"
        );
        assert_eq!(reason.kind(), "dirty-tree");
    }

    /// The JSON of each kind: `kind` first, fields in camelCase, `ref` for references.
    #[test]
    fn reasons_serialise_with_their_kind() {
        let json = |r: &BuildReason| serde_json::to_string(r).unwrap();
        assert_eq!(
            json(&BuildReason::RegistryError {
                status: Some(503),
                attempts: 3
            }),
            r#"{"kind":"registry-error","status":503,"attempts":3}"#
        );
        assert_eq!(
            json(&BuildReason::BaseImageChanged {
                reference: "r.io/deps:v1".into(),
                old: None,
                new: "sha256:1".into()
            }),
            r#"{"kind":"base-image-changed","ref":"r.io/deps:v1","old":null,"new":"sha256:1"}"#
        );
        assert_eq!(json(&BuildReason::Forced), r#"{"kind":"forced"}"#);
        assert_eq!(json(&BuildReason::NotChecked), r#"{"kind":"not-checked"}"#);
    }
}
