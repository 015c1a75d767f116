//! A project as `.ciux` and the command line describe it: root, names, selected dependencies.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::ciux_file::{CiuxFile, DependencySpec};
use crate::image_ref::{env_name, repo_name};
use crate::remote_url::redact;
use crate::selector::{Selector, SelectorError};

/// What a dependency is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DepKind {
    /// A tool to install (`go install` or `cargo install`).
    Package(String),
    /// A prebuilt fink-tools release to install (`release: ktbx-v0.2.0`; takes precedence over
    /// `package`, which the Go ciux reads instead).
    Release(String),
    /// A container image that must exist.
    Image(String),
    /// A git repository.
    Git {
        /// Its URL.
        url: String,
        /// Cloned next to the project.
        clone: bool,
        /// Its image `<registry>/<name>:<version>` must exist.
        pull: bool,
        /// Pinned tag, branch or commit.
        revision: Option<String>,
    },
}

impl DepKind {
    fn from_spec(spec: &DependencySpec) -> Self {
        if !spec.release.is_empty() {
            DepKind::Release(spec.release.clone())
        } else if !spec.package.is_empty() {
            DepKind::Package(spec.package.clone())
        } else if !spec.image.is_empty() {
            DepKind::Image(spec.image.clone())
        } else {
            DepKind::Git {
                url: spec.url.clone(),
                clone: spec.clone,
                pull: spec.pull,
                revision: spec.revision.clone().filter(|r| !r.is_empty()),
            }
        }
    }

    /// The line of `get deps`: package, image reference or URL (without credentials).
    pub(crate) fn label(&self) -> String {
        match self {
            DepKind::Package(p) | DepKind::Release(p) => p.clone(),
            DepKind::Image(i) => i.clone(),
            DepKind::Git { url, .. } => redact(url),
        }
    }
}

/// A project and its selected dependencies.
#[derive(Debug, Clone)]
pub(crate) struct Project {
    /// Absolute git root.
    pub(crate) root: PathBuf,
    /// The parsed `.ciux`.
    pub(crate) file: CiuxFile,
    /// The selector that names the env file (`project=core` unless `--selector` is given).
    pub(crate) selector: Selector,
    /// Selected dependencies in `.ciux` order.
    pub(crate) deps: Vec<DepKind>,
    /// The clone directories that existed when the project was loaded, with their symbolic links
    /// resolved (the check of each clone directory resolves them).
    resolved_dirs: HashMap<PathBuf, PathBuf>,
}

/// Why a project cannot be set up.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProjectError {
    /// A bad `--selector`.
    #[error(transparent)]
    Selector(#[from] SelectorError),
    /// A git dependency without URL.
    #[error("{file}: dependency {index} has none of url, image or package")]
    EmptyDependency {
        /// The `.ciux` path.
        file: PathBuf,
        /// 0-based index in `dependencies`.
        index: usize,
    },
    /// A git dependency whose URL, repository name or clone directory is refused.
    #[error("{file}: dependency {url:?}: {reason}")]
    BadGitDependency {
        /// The `.ciux` path.
        file: PathBuf,
        /// Its URL, without credentials.
        url: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// A `release:` value that is not a fink-tools release tag.
    #[error("{file}: dependency {index}: release {release:?} {reason}")]
    Release {
        /// The `.ciux` path.
        file: PathBuf,
        /// 0-based index in `dependencies`.
        index: usize,
        /// The value.
        release: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `package:` value that cannot be installed safely (see [`crate::install::check_package`]).
    #[error("{file}: dependency {index}: package {package:?} {reason}")]
    Package {
        /// The `.ciux` path.
        file: PathBuf,
        /// 0-based index in `dependencies`.
        index: usize,
        /// The value.
        package: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl Project {
    /// Selects dependencies: none with `main_only`, all with an empty selector, else those whose
    /// labels match.
    pub(crate) fn new(
        root: &Path,
        file: CiuxFile,
        selector: Option<&Selector>,
        main_only: bool,
    ) -> Result<Self, ProjectError> {
        let (stored, filter) = match selector {
            Some(s) if !main_only && !s.is_empty() => (s.clone(), s.clone()),
            _ => (Selector::project_core(), Selector::everything()),
        };
        let mut deps = Vec::new();
        let mut clone_dirs = HashMap::new();
        let mut resolved_dirs = HashMap::new();
        // Resolved once: each dependency's clone directory is compared with it.
        let real_root = root.canonicalize().ok();
        if !main_only {
            for (index, spec) in file.dependencies.iter().enumerate() {
                if !filter.matches(&spec.labels) {
                    continue;
                }
                let kind = DepKind::from_spec(spec);
                if let DepKind::Git { url, clone, .. } = &kind {
                    if url.is_empty() {
                        return Err(ProjectError::EmptyDependency {
                            file: root.join(".ciux"),
                            index,
                        });
                    }
                    let resolved = check_git_dependency(
                        root,
                        real_root.as_deref(),
                        url,
                        *clone,
                        &mut clone_dirs,
                    )
                    .map_err(|reason| ProjectError::BadGitDependency {
                        file: root.join(".ciux"),
                        url: redact(url),
                        reason,
                    })?;
                    if let Some(real_dir) = resolved {
                        resolved_dirs.insert(clone_dir(root, url), real_dir);
                    }
                }
                if let DepKind::Package(package) = &kind {
                    crate::install::check_package(package).map_err(|reason| {
                        ProjectError::Package {
                            file: root.join(".ciux"),
                            index,
                            package: package.clone(),
                            reason,
                        }
                    })?;
                }
                if let DepKind::Release(release) = &kind {
                    crate::install::Release::parse(release).map_err(|reason| {
                        ProjectError::Release {
                            file: root.join(".ciux"),
                            index,
                            release: release.clone(),
                            reason,
                        }
                    })?;
                }
                deps.push(kind);
            }
        }
        Ok(Self {
            root: root.to_path_buf(),
            file,
            selector: stored,
            deps,
            resolved_dirs,
        })
    }

    /// Base name of the git root: names the main project's variables.
    pub(crate) fn dir_name(&self) -> String {
        self.root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// Env-variable prefix of the project (from the directory name).
    pub(crate) fn prefix(&self) -> String {
        env_name(&self.dir_name())
    }

    /// Image name: lower-case `project:` (or directory name), plus `-<suffix>`.
    pub(crate) fn image_name(&self, suffix: &str) -> String {
        let base = self
            .file
            .project
            .clone()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| self.dir_name())
            .to_lowercase();
        if suffix.is_empty() {
            base
        } else {
            format!("{base}-{suffix}")
        }
    }

    /// Where a cloned dependency lives: a sibling of the project, named after the repository
    /// ([`Project::new`] has checked that it is neither the project nor shared).
    pub(crate) fn dep_dir(&self, url: &str) -> PathBuf {
        clone_dir(&self.root, url)
    }

    /// [`Project::dep_dir`] with its symbolic links resolved, as libgit2 gives a work tree:
    /// resolved when the project was loaded if the directory existed then, else now.
    pub(crate) fn resolved_dep_dir(&self, url: &str) -> std::io::Result<PathBuf> {
        let dir = self.dep_dir(url);
        match self.resolved_dirs.get(&dir) {
            Some(real_dir) => Ok(real_dir.clone()),
            None => dir.canonicalize(),
        }
    }
}

fn clone_dir(root: &Path, url: &str) -> PathBuf {
    root.parent().unwrap_or(Path::new("/")).join(repo_name(url))
}

/// Refuses, before any git operation, a git dependency whose URL or repository name cannot be used
/// (see [`check_repository_name`]) and, when cloned, one whose clone directory would be the project, contain
/// it, lie inside it or outside the project's parent, or be the clone directory of another dependency
/// (`clone_dirs`, filled as dependencies are checked). `real_root` is `root` with its symbolic links
/// resolved. Gives the clone directory with its symbolic links resolved, when it exists.
fn check_git_dependency(
    root: &Path,
    real_root: Option<&Path>,
    url: &str,
    clone: bool,
    clone_dirs: &mut HashMap<PathBuf, String>,
) -> Result<Option<PathBuf>, String> {
    check_repository_name(url)?;
    if !clone {
        return Ok(None);
    }
    let dir = clone_dir(root, url);
    let fix = "check the URL, or clone the project into a directory of another name";
    if dir.parent() != root.parent() {
        return Err(format!(
            "its clone directory {} is not next to the project",
            dir.display()
        ));
    }
    if dir == root {
        return Err(format!(
            "it would be cloned into {}, the project itself; {fix}",
            dir.display()
        ));
    }
    // Through symbolic links too.
    let real_dir = dir.canonicalize().ok();
    if let (Some(real_dir), Some(real_root)) = (&real_dir, real_root) {
        let relation = if real_dir == real_root {
            Some("is the project")
        } else if real_root.starts_with(real_dir) {
            Some("contains the project")
        } else if real_dir.starts_with(real_root) {
            Some("lies inside the project")
        } else {
            None
        };
        if let Some(relation) = relation {
            return Err(format!(
                "its clone directory {} {relation} ({}); {fix}",
                dir.display(),
                real_dir.display()
            ));
        }
    }
    if let Some(other) = clone_dirs.insert(dir.clone(), redact(url)) {
        return Err(format!(
            "its clone directory {} is also the one of dependency {other:?}; clone only one of them",
            dir.display()
        ));
    }
    Ok(real_dir)
}

/// Refuses a git dependency's URL with control characters or surrounding blanks, or whose repository
/// name (which names its clone directory and its variables) cannot name a directory (`.`, `..`).
pub(crate) fn check_repository_name(url: &str) -> Result<(), String> {
    if url.chars().any(char::is_control) {
        return Err("the URL contains a control character (a stray newline?)".to_string());
    }
    if url.trim() != url {
        return Err("the URL starts or ends with blanks".to_string());
    }
    let name = repo_name(url);
    if matches!(name.as_str(), "" | "." | "..") {
        return Err(format!(
            "its repository name (the URL's last path segment) is {name:?}, which cannot name a directory"
        ));
    }
    Ok(())
}

/// Makes a user path absolute and clean (`.` and `..` resolved lexically, symlinks kept).
pub(crate) fn absolute(path: &Path) -> std::io::Result<PathBuf> {
    let abs = std::path::absolute(path)?;
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(selector: &str, main: bool) -> Project {
        let file = CiuxFile::parse(
            include_str!("../tests/fixtures/fink-broker.ciux"),
            Path::new(".ciux"),
        )
        .unwrap();
        let selector = Selector::parse(selector).unwrap();
        Project::new(Path::new("/w/fink-broker"), file, Some(&selector), main).unwrap()
    }

    #[test]
    fn selection() {
        assert_eq!(project("", false).deps.len(), 10);
        assert_eq!(project("", false).selector.to_string(), "project=core");
        assert!(project("itest", true).deps.is_empty());
        let itest: Vec<_> = project("itest", false)
            .deps
            .iter()
            .map(|d| d.label().to_string())
            .collect();
        assert_eq!(
            itest,
            [
                "github.com/k8s-school/ink@v0.0.1-rc5",
                "https://github.com/astrolabsoftware/fink-alert-simulator",
                "https://github.com/astrolabsoftware/fink-cd",
                "github.com/k8s-school/home-ci-reporter@v0.0.2-rc8",
                "gitlab-registry.in2p3.fr/astrolabsoftware/fink/stackable-hadoop:v24.11.0",
                "github.com/k8s-school/ktbx@v1.1.6-rc5",
                "github.com/astrolabsoftware/finkctl/v3@v3.1.3-rc3",
            ]
        );
        assert_eq!(project("build=noscience", false).deps.len(), 1);
        assert!(project("itest=true", false).deps.len() == 5);
    }

    #[test]
    fn names() {
        let p = project("", false);
        assert_eq!(p.prefix(), "FINK_BROKER");
        assert_eq!(p.image_name("noscience"), "fink-broker-noscience");
        assert_eq!(
            p.dep_dir("https://x/y/fink-cd.git"),
            Path::new("/w/fink-cd")
        );
        let mut custom = p.clone();
        custom.file.project = Some("My-Custom-Project".into());
        assert_eq!(custom.image_name(""), "my-custom-project");
        assert_eq!(custom.prefix(), "FINK_BROKER");
    }

    fn git_deps(root: &Path, deps: &[(&str, bool)]) -> Result<Project, ProjectError> {
        let mut text = String::from("registry: r.io\ndependencies:\n");
        for (url, clone) in deps {
            text.push_str(&format!("  - url: {url:?}\n    clone: {clone}\n"));
        }
        let file = CiuxFile::parse(&text, Path::new(".ciux")).unwrap();
        Project::new(root, file, None, false)
    }

    #[test]
    fn repository_names_must_name_a_directory() {
        let root = Path::new("/w/proj");
        for (url, reason) in [
            (
                "file:///w/other/..",
                "is \"..\", which cannot name a directory",
            ),
            (
                "https://host/org/.",
                "is \".\", which cannot name a directory",
            ),
            ("https://host/", "is \".\""),
            ("git://127.0.0.1/dep\n", "a control character"),
            ("git://127.0.0.1/d\tep", "a control character"),
        ] {
            for clone in [true, false] {
                let err = git_deps(root, &[(url, clone)]).unwrap_err().to_string();
                assert!(err.contains(reason), "{url:?}: {err}");
                assert!(
                    err.contains(&format!(".ciux: dependency {url:?}:")),
                    "{err}"
                );
            }
        }
        let err = git_deps(root, &[("https://ci:tok@host/", false)]).unwrap_err();
        assert!(!err.to_string().contains("tok"), "{err}");
        assert!(git_deps(root, &[("https://host/org/.github", true)]).is_ok());
    }

    #[test]
    fn clone_directories_are_siblings_of_their_own() {
        let root = Path::new("/w/proj");
        let err = git_deps(root, &[("git://h/org/proj.git", true)]).unwrap_err();
        assert!(
            err.to_string()
                .contains("it would be cloned into /w/proj, the project itself"),
            "{err}"
        );
        // Not cloned: only its name matters.
        assert!(git_deps(root, &[("git://h/org/proj.git", false)]).is_ok());
        let err = git_deps(
            root,
            &[("git://h/a/dep", true), ("git://h/b/dep.git", true)],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("\"git://h/b/dep.git\": its clone directory /w/dep is also the one of dependency \"git://h/a/dep\""),
            "{err}"
        );

        // Through symbolic links: the sibling is the project, or one of its ancestors, or inside it.
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("proj");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        for (link, target, relation) in [
            ("alias", root.clone(), "is the project"),
            ("up", d.path().to_path_buf(), "contains the project"),
            ("down", root.join("sub"), "lies inside the project"),
        ] {
            std::os::unix::fs::symlink(&target, d.path().join(link)).unwrap();
            let err = git_deps(&root, &[(&format!("git://h/{link}"), true)])
                .unwrap_err()
                .to_string();
            assert!(err.contains(relation), "{err}");
        }
    }

    #[test]
    fn absolute_paths_are_clean() {
        assert_eq!(
            absolute(Path::new("/a/b/../c/./d")).unwrap(),
            Path::new("/a/c/d")
        );
    }
}
