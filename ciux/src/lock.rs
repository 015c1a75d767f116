//! `.ciux.lock`: what `ignite --lock` resolved (each git dependency's URL, work branch, commit and
//! version, each image dependency's digest, the project's commit and image decision), written in a
//! stable, sorted, diff-friendly YAML, and read back by `ignite --frozen` and `lock diff`.
//!
//! The format (`lockVersion: 1`), one key per line, strings double-quoted, lists sorted:
//!
//! ```yaml
//! # Written by `ciux ignite --lock`; replayed by `ciux ignite --frozen`.
//! lockVersion: 1
//! selector: "itest"
//! project:
//!   branch: "main"
//!   commit: "<40 hex>"
//!   version: "v3.1.0-1-g1234567"
//!   image: "fink-broker"
//!   tag: "v3.1.0"
//!   build: false
//!   reason: {"kind":"image-found","ref":"…/fink-broker:v3.1.0","commit":"<40 hex>"}
//! dependencies:
//!   - url: "https://github.com/astrolabsoftware/fink-alert-simulator"
//!     workbranch: "main"
//!     commit: "<40 hex>"
//!     version: "v3.2.0"
//! images:
//!   - image: "gitlab-registry.in2p3.fr/astrolabsoftware/fink/stackable-hadoop:v24.11.0"
//!     digest: "sha256:…"
//! ```
//!
//! URLs are stored without credentials; `version` is absent for a dependency that is not cloned,
//! `commit` for a remote-only one pinned to an abbreviated hash, `digest` when the registry gave none.

use std::path::{Path, PathBuf};

use git2::Oid;
use serde::Deserialize;

use crate::git;
use crate::image_decision::{BuildReason, ImageDecision};
use crate::project::Project;
use crate::tree_tag::TagScheme;

mod rendered;

/// The lock file's name, at the project root.
pub(crate) const FILE_NAME: &str = ".ciux.lock";

/// The comment line that opens a lock file.
const HEADER: &str = "# Written by `ciux ignite --lock`; replayed by `ciux ignite --frozen`.";

/// The format version this ciux writes and reads.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// A lock file's content.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Lock {
    /// Format version ([`FORMAT_VERSION`]).
    pub(crate) lock_version: u32,
    /// The normalised label selector of the run.
    pub(crate) selector: String,
    /// The project at the time of the lock.
    pub(crate) project: LockedProject,
    /// Git dependencies, sorted by URL.
    #[serde(default)]
    pub(crate) dependencies: Vec<LockedDep>,
    /// Image dependencies, sorted by reference.
    #[serde(default)]
    pub(crate) images: Vec<LockedImage>,
}

/// The project's commit and image decision.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LockedProject {
    /// The project's work branch (`--branch`, or the checked-out branch).
    pub(crate) branch: String,
    /// HEAD's commit id.
    pub(crate) commit: String,
    /// HEAD's tree id: `--frozen` tells a clean project at `commit` from its index with it.
    pub(crate) tree: Option<String>,
    /// HEAD's version (with `-dirty`).
    pub(crate) version: String,
    /// Image name (with suffix).
    pub(crate) image: String,
    /// Chosen tag.
    pub(crate) tag: String,
    /// Whether the image had to be built.
    pub(crate) build: bool,
    /// Why (`CIUX_BUILD_REASON` and its comment line), written as one line of JSON.
    pub(crate) reason: BuildReason,
}

/// A git dependency as resolved.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LockedDep {
    /// The URL without credentials.
    pub(crate) url: String,
    /// The work branch (or pinned revision).
    pub(crate) workbranch: String,
    /// The commit id.
    pub(crate) commit: Option<String>,
    /// The commit's tree id (cloned dependencies only): `--frozen` compares the clone's index with it
    /// without reading the commit.
    pub(crate) tree: Option<String>,
    /// The clone's version (cloned dependencies only).
    pub(crate) version: Option<String>,
}

/// An image dependency and its manifest digest.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LockedImage {
    /// The reference as written in `.ciux`.
    pub(crate) image: String,
    /// The manifest digest the registry reported.
    pub(crate) digest: Option<String>,
}

/// A lock file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LockError {
    /// Missing or unreadable.
    #[error("cannot read the lock file {path}: {error} (write one with `ciux ignite --lock`)")]
    Read {
        /// The file.
        path: PathBuf,
        /// The reason.
        error: std::io::Error,
    },
    /// Not a lock file of this format.
    #[error("{path} is not a valid ciux lock file: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// Written by a newer ciux.
    #[error(
        "{path} has lockVersion {found}; this ciux reads version {FORMAT_VERSION} (upgrade ciux or re-lock with `ciux ignite --lock`)"
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// The version found.
        found: u32,
    },
    /// The lock does not describe this run.
    #[error("{path} does not match this run: {what}; update it with `ciux ignite --lock`")]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// What differs.
        what: String,
    },
}

impl Lock {
    /// The lock file of a project.
    pub(crate) fn path(root: &Path) -> PathBuf {
        root.join(FILE_NAME)
    }

    /// Reads and parses a lock file.
    pub(crate) fn load(path: &Path) -> Result<Lock, LockError> {
        let text = std::fs::read_to_string(path).map_err(|error| LockError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Lock::parse(&text, path)
    }

    /// Parses lock text; `origin` names the file in messages.
    pub(crate) fn parse(text: &str, origin: &Path) -> Result<Lock, LockError> {
        let lock = match rendered::read(text) {
            Some(lock) => lock,
            None => serde_saphyr::from_str(text).map_err(|e| LockError::Parse {
                path: origin.to_path_buf(),
                message: e.to_string().lines().next().unwrap_or_default().to_string(),
            })?,
        };
        if lock.lock_version != FORMAT_VERSION {
            return Err(LockError::Version {
                path: origin.to_path_buf(),
                found: lock.lock_version,
            });
        }
        Ok(lock)
    }

    /// The file text: sorted lists, one key per line, strings JSON-quoted (valid YAML).
    pub(crate) fn render(&self) -> String {
        let q = |s: &str| serde_json::Value::from(s).to_string();
        let p = &self.project;
        let mut out = format!("{HEADER}\n");
        out.push_str(&format!("lockVersion: {}\n", self.lock_version));
        out.push_str(&format!("selector: {}\n", q(&self.selector)));
        out.push_str("project:\n");
        for (key, value) in [
            ("branch", Some(&p.branch)),
            ("commit", Some(&p.commit)),
            ("tree", p.tree.as_ref()),
            ("version", Some(&p.version)),
            ("image", Some(&p.image)),
            ("tag", Some(&p.tag)),
        ] {
            if let Some(value) = value {
                out.push_str(&format!("  {key}: {}\n", q(value)));
            }
        }
        out.push_str(&format!("  build: {}\n", p.build));
        #[allow(
            clippy::expect_used,
            reason = "a BuildReason is strings, numbers and lists: serde_json cannot fail on it"
        )]
        let reason = serde_json::to_string(&p.reason).expect("a build reason serialises");
        out.push_str(&format!("  reason: {reason}\n"));
        let mut deps: Vec<&LockedDep> = self.dependencies.iter().collect();
        deps.sort_by(|a, b| a.url.cmp(&b.url));
        out.push_str(if deps.is_empty() {
            "dependencies: []\n"
        } else {
            "dependencies:\n"
        });
        for d in deps {
            out.push_str(&format!("  - url: {}\n", q(&d.url)));
            out.push_str(&format!("    workbranch: {}\n", q(&d.workbranch)));
            if let Some(commit) = &d.commit {
                out.push_str(&format!("    commit: {}\n", q(commit)));
            }
            if let Some(tree) = &d.tree {
                out.push_str(&format!("    tree: {}\n", q(tree)));
            }
            if let Some(version) = &d.version {
                out.push_str(&format!("    version: {}\n", q(version)));
            }
        }
        let mut images: Vec<&LockedImage> = self.images.iter().collect();
        images.sort_by(|a, b| a.image.cmp(&b.image));
        out.push_str(if images.is_empty() {
            "images: []\n"
        } else {
            "images:\n"
        });
        for i in images {
            out.push_str(&format!("  - image: {}\n", q(&i.image)));
            if let Some(digest) = &i.digest {
                out.push_str(&format!("    digest: {}\n", q(digest)));
            }
        }
        out
    }

    /// The lock of a run: its selector and project branch, its git dependencies, the project's HEAD
    /// commit and image decision, and the image dependencies (as written) with their digests.
    pub(crate) fn of_run(
        selector: &str,
        branch: &str,
        (head, tree): (&str, Option<String>),
        dependencies: Vec<LockedDep>,
        decision: &ImageDecision,
        images: Vec<LockedImage>,
    ) -> Lock {
        Lock {
            lock_version: FORMAT_VERSION,
            selector: selector.to_string(),
            project: LockedProject {
                branch: branch.to_string(),
                commit: head.to_string(),
                tree,
                version: decision.head_version.clone(),
                image: decision.name.clone(),
                tag: decision.tag.clone(),
                build: !decision.in_registry,
                reason: decision.reason.clone(),
            },
            dependencies,
            images,
        }
    }

    /// True when the project is at the locked commit with a clean tree of the locked tree, told
    /// from its files, and tagged by version: its version is then the locked one.
    pub(crate) fn project_unchanged(&self, project: &Project) -> bool {
        let p = &self.project;
        project.file.image_tag == TagScheme::Describe
            && Oid::from_str(&p.commit).is_ok_and(|commit| {
                let tree = p.tree.as_deref().and_then(|t| Oid::from_str(t).ok());
                git::clean_at(&project.root, commit, tree)
            })
    }

    /// The locked image decision applied to `fresh` (the decision made without a registry), when the
    /// project is still at the locked commit and version with the same image name; `None` when the
    /// project moved (then the image must be looked up again).
    pub(crate) fn replay(&self, head: &str, fresh: ImageDecision) -> Option<ImageDecision> {
        let p = &self.project;
        if p.commit != head || p.version != fresh.head_version || p.image != fresh.name {
            return None;
        }
        if p.build {
            return Some(ImageDecision {
                reason: p.reason.clone(),
                ..fresh
            });
        }
        Some(ImageDecision {
            url: format!("{}/{}:{}", fresh.registry, fresh.name, p.tag),
            tag: p.tag.clone(),
            in_registry: true,
            build: false,
            reason: p.reason.clone(),
            ..fresh
        })
    }

    /// The locked dependency of `url` (given without credentials).
    pub(crate) fn dependency(&self, url: &str) -> Option<&LockedDep> {
        self.dependencies.iter().find(|d| d.url == url)
    }

    /// Checks that the lock describes a run with this selector, project branch and these git
    /// dependency URLs (without credentials), and the same image dependencies.
    pub(crate) fn check(
        &self,
        path: &Path,
        selector: &str,
        branch: &str,
        urls: &[String],
        images: &[String],
    ) -> Result<(), LockError> {
        let mismatch = |what: String| LockError::Mismatch {
            path: path.to_path_buf(),
            what,
        };
        if self.selector != selector {
            return Err(mismatch(format!(
                "it was written for selector {:?}, this run has {selector:?}",
                self.selector
            )));
        }
        if self.project.branch != branch {
            return Err(mismatch(format!(
                "it was written on project branch {:?}, this run is on {branch:?} (pass `--branch {}` to replay it)",
                self.project.branch, self.project.branch
            )));
        }
        let missing: Vec<&str> = urls
            .iter()
            .filter(|u| self.dependency(u).is_none())
            .map(String::as_str)
            .collect();
        let extra: Vec<&str> = self
            .dependencies
            .iter()
            .filter(|d| !urls.contains(&d.url))
            .map(|d| d.url.as_str())
            .collect();
        let missing_images: Vec<&str> = images
            .iter()
            .filter(|i| !self.images.iter().any(|l| &l.image == *i))
            .map(String::as_str)
            .collect();
        let extra_images: Vec<&str> = self
            .images
            .iter()
            .filter(|l| !images.contains(&l.image))
            .map(|l| l.image.as_str())
            .collect();
        let mut problems = Vec::new();
        for (list, what) in [
            (missing, "dependency not in the lock"),
            (extra, "locked dependency no longer in .ciux"),
            (missing_images, "image dependency not in the lock"),
            (extra_images, "locked image no longer in .ciux"),
        ] {
            for item in list {
                problems.push(format!("{what}: {item}"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(mismatch(problems.join("; ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn sample() -> Lock {
        Lock {
            lock_version: FORMAT_VERSION,
            selector: "itest".into(),
            project: LockedProject {
                branch: "main".into(),
                commit: "a".repeat(40),
                tree: Some("b".repeat(40)),
                version: "v1.0.0-1-gaaaaaaa".into(),
                image: "fink-broker".into(),
                tag: "v1.0.0".into(),
                build: false,
                reason: BuildReason::ImageFound {
                    reference: "r.io/fink-broker:v1.0.0".into(),
                    commit: "a".repeat(40),
                },
            },
            dependencies: vec![
                LockedDep {
                    tree: None,
                    url: "git://h/z.git".into(),
                    workbranch: "main".into(),
                    commit: Some("b".repeat(40)),
                    version: None,
                },
                LockedDep {
                    tree: Some("d".repeat(40)),
                    url: "git://h/a \"q\".git".into(),
                    workbranch: "dev".into(),
                    commit: Some("c".repeat(40)),
                    version: Some("v2.0.0".into()),
                },
            ],
            images: vec![LockedImage {
                image: "r.io/x:v1".into(),
                digest: Some("sha256:00".into()),
            }],
        }
    }

    #[test]
    fn the_format_is_sorted_stable_and_reads_back() {
        let lock = sample();
        let text = lock.render();
        assert_eq!(
            text,
            format!(
                "# Written by `ciux ignite --lock`; replayed by `ciux ignite --frozen`.
lockVersion: 1
selector: \"itest\"
project:
  branch: \"main\"
  commit: \"{a}\"
  tree: \"{b}\"
  version: \"v1.0.0-1-gaaaaaaa\"
  image: \"fink-broker\"
  tag: \"v1.0.0\"
  build: false
  reason: {{\"kind\":\"image-found\",\"ref\":\"r.io/fink-broker:v1.0.0\",\"commit\":\"{a}\"}}
dependencies:
  - url: \"git://h/a \\\"q\\\".git\"
    workbranch: \"dev\"
    commit: \"{c}\"
    tree: \"{d}\"
    version: \"v2.0.0\"
  - url: \"git://h/z.git\"
    workbranch: \"main\"
    commit: \"{b}\"
images:
  - image: \"r.io/x:v1\"
    digest: \"sha256:00\"
",
                a = "a".repeat(40),
                b = "b".repeat(40),
                c = "c".repeat(40),
                d = "d".repeat(40)
            )
        );
        let back = Lock::parse(&text, Path::new(".ciux.lock")).unwrap();
        assert_eq!(back.render(), text);
        assert_eq!(
            back.dependency("git://h/z.git"),
            lock.dependency("git://h/z.git")
        );
    }

    #[test]
    fn a_lock_without_dependencies_reads_back() {
        let lock = Lock {
            dependencies: Vec::new(),
            images: Vec::new(),
            ..sample()
        };
        let text = lock.render();
        assert!(
            text.ends_with("\"}\ndependencies: []\nimages: []\n"),
            "{text}"
        );
        assert_eq!(Lock::parse(&text, Path::new(".ciux.lock")).unwrap(), lock);
    }

    #[test]
    fn another_format_version_is_refused_with_what_to_do() {
        let text = sample()
            .render()
            .replace("lockVersion: 1", "lockVersion: 2");
        let err = Lock::parse(&text, Path::new("p/.ciux.lock")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "p/.ciux.lock has lockVersion 2; this ciux reads version 1 (upgrade ciux or re-lock with `ciux ignite --lock`)"
        );
    }

    #[test]
    fn a_lock_for_other_dependencies_names_them() {
        let lock = sample();
        let urls = vec!["git://h/z.git".to_string(), "git://h/new.git".to_string()];
        let err = lock
            .check(
                Path::new(".ciux.lock"),
                "itest",
                "main",
                &urls,
                &["r.io/x:v1".to_string()],
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            ".ciux.lock does not match this run: dependency not in the lock: git://h/new.git; \
             locked dependency no longer in .ciux: git://h/a \"q\".git; update it with `ciux ignite --lock`"
        );
        let err = lock
            .check(Path::new(".ciux.lock"), "itest", "dev", &[], &[])
            .unwrap_err();
        assert!(err.to_string().contains("pass `--branch main`"), "{err}");
    }
}
