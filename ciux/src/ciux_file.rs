//! The `.ciux` file: project name, registry, source paths and dependencies.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::config::{Scalars, go_bool};
use serde::Deserialize;

use crate::tree_tag::TagScheme;

/// The parsed `.ciux` file. Keys match without case, as with viper.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct CiuxFile {
    /// `v1alpha1`; read so that it is not reported as unknown, and otherwise unused.
    #[serde(rename = "apiVersion")]
    pub(crate) _api_version: Option<String>,
    /// Image name override.
    pub(crate) project: Option<String>,
    /// Registry and namespace of the project image and of `pull` dependency images.
    pub(crate) registry: String,
    /// Files or directories whose changes require a new image.
    #[serde(rename = "sourcePathes", alias = "sourcePaths")]
    pub(crate) source_pathes: Vec<String>,
    /// Dependencies, in file order.
    pub(crate) dependencies: Vec<DependencySpec>,
    /// `imageTag:`: `describe` (default) or `tree` (tree tags, opt-in).
    #[serde(rename = "imageTag")]
    pub(crate) image_tag: TagScheme,
}

/// One entry of `dependencies`; its kind is `package` > `image` > git `url`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct DependencySpec {
    /// Git URL of a source dependency.
    pub(crate) url: String,
    /// Clone it next to the project (`true`, or a quoted Go boolean such as `"true"`).
    #[serde(deserialize_with = "go_bool")]
    pub(crate) clone: bool,
    /// Check that `<registry>/<name>:<dependency version>` exists.
    #[serde(deserialize_with = "go_bool")]
    pub(crate) pull: bool,
    /// Container image dependency.
    pub(crate) image: String,
    /// Tool to install: Go module `path@version`, or Rust `crate@version`.
    pub(crate) package: String,
    /// A prebuilt fink-tools release to install instead of `package` (`ktbx-v0.2.0`).
    pub(crate) release: String,
    /// Pinned tag, branch or commit of a git dependency.
    pub(crate) revision: Option<String>,
    /// Labels matched by `--selector` (scalars of any type are kept as their text).
    pub(crate) labels: BTreeMap<String, String>,
    /// `base:`: the image is a base of the project image (a Go boolean).
    #[serde(deserialize_with = "go_bool")]
    pub(crate) base: bool,
}

/// Why `.ciux` could not be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CiuxFileError {
    /// Missing or unreadable file.
    #[error(
        "unable to read {path}: {error} (every ciux project has a `.ciux` file at its git root)"
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error (in the message, not a `source`, so that it is printed once).
        error: std::io::Error,
    },
    /// Invalid YAML or a wrong type, at `file:line:column`.
    #[error(transparent)]
    Parse(#[from] common::config::ConfigError),
    /// A `sourcePathes` entry that is absolute or not clean.
    #[error("{path}: source path {entry:?} must be {what}")]
    SourcePath {
        /// The file.
        path: PathBuf,
        /// The entry.
        entry: String,
        /// `relative` or `clean (no ./, .., // or trailing /)`.
        what: &'static str,
    },
}

impl CiuxFile {
    /// Reads `<root>/.ciux`.
    pub(crate) fn load(root: &Path) -> Result<Self, CiuxFileError> {
        let path = root.join(".ciux");
        let text = std::fs::read_to_string(&path).map_err(|error| CiuxFileError::Read {
            path: path.clone(),
            error,
        })?;
        Self::parse(&text, &path)
    }

    /// Parses `.ciux` text; `origin` names the file in messages. Unknown keys are warnings.
    pub(crate) fn parse(text: &str, origin: &Path) -> Result<Self, CiuxFileError> {
        let (file, _) = Self::parse_reporting(text, origin)?;
        Ok(file)
    }

    /// [`CiuxFile::parse`], also returning the unknown keys it warned about.
    fn parse_reporting(text: &str, origin: &Path) -> Result<(Self, Vec<String>), CiuxFileError> {
        let decoded = common::config::parse::<CiuxFile>(text, origin, Scalars::Strict)?;
        for key in &decoded.unknown {
            tracing::warn!("{}: unknown key {key:?} ignored", origin.display());
        }
        let file = decoded.value;
        for entry in &file.source_pathes {
            let what = if entry.starts_with('/') {
                Some("relative")
            } else if !is_clean(entry) {
                Some("clean (no ./, .., // or trailing /)")
            } else {
                None
            };
            if let Some(what) = what {
                return Err(CiuxFileError::SourcePath {
                    path: origin.to_path_buf(),
                    entry: entry.clone(),
                    what,
                });
            }
        }
        Ok((file, decoded.unknown))
    }
}

/// `filepath.Clean(p) == p` for a relative path.
fn is_clean(p: &str) -> bool {
    !p.is_empty() && (p == "." || p.split('/').all(|c| !c.is_empty() && c != "." && c != ".."))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<CiuxFile, CiuxFileError> {
        CiuxFile::parse(text, Path::new("/p/.ciux"))
    }

    #[test]
    fn internal_test_fixture_of_config_test() {
        let f = parse(include_str!("../tests/fixtures/internal-test.ciux")).unwrap();
        assert_eq!(f.registry, "test-registry.io");
        assert_eq!(f.source_pathes, ["rootfs", "homefs"]);
        let d = &f.dependencies[0];
        assert_eq!(d.url, "file:///tmp/ciux-dep-test");
        assert!(d.clone && d.pull);
        assert_eq!(d.labels.get("key1").map(String::as_str), Some("value1"));
        assert_eq!(d.labels.get("key2").map(String::as_str), Some("value2"));
        assert!(d.image.is_empty() && d.package.is_empty());
    }

    #[test]
    fn real_files_load() {
        let fb = parse(include_str!("../tests/fixtures/fink-broker.ciux")).unwrap();
        assert_eq!(fb.dependencies.len(), 10);
        assert_eq!(fb.source_pathes, ["Dockerfile", "fink_broker", "bin"]);
        assert_eq!(fb.dependencies[8].labels["itest"], "optional");
        let c = parse(include_str!("../tests/fixtures/ciux.ciux")).unwrap();
        assert_eq!(c.project.as_deref(), Some("ciux"));
        assert_eq!(
            parse(include_str!("../tests/fixtures/ktbx.ciux"))
                .unwrap()
                .registry,
            "k8sschool"
        );
        parse(include_str!("../tests/fixtures/finkctl.ciux")).unwrap();
    }

    #[test]
    fn unquoted_booleans_of_the_example_are_accepted() {
        let f = parse(include_str!("../tests/fixtures/dot-ciux.example")).unwrap();
        assert_eq!(f.dependencies[0].labels["itest"], "true");
        assert_eq!(f.dependencies[3].labels["itest"], "optional");
        let f =
            parse("dependencies:\n  - url: x\n    clone: \"true\"\n    labels: {n: 3}\n").unwrap();
        assert!(f.dependencies[0].clone);
        assert_eq!(f.dependencies[0].labels["n"], "3");
    }

    #[test]
    fn wrong_types_carry_file_line_and_column() {
        let e = parse("registry: r\ndependencies:\n  - url: x\n    clone: maybe\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/p/.ciux:4:12: dependencies[0].clone: \"maybe\" is not a boolean (use true or false)"
        );
        let e = parse("sourcePathes: 3\n").unwrap_err().to_string();
        assert_eq!(
            e,
            "/p/.ciux:1:15: sourcePathes: invalid type: string \"3\", expected a sequence"
        );
        let e = parse("registry: [\n").unwrap_err().to_string();
        assert!(e.starts_with("/p/.ciux:"), "{e}");
    }

    #[test]
    fn unknown_keys_are_accepted_and_reported_with_their_path() {
        let (f, unknown) = CiuxFile::parse_reporting(
            "Registry: r\nfoo: 1\nDependencies:\n  - URL: x\n    bar: y\n",
            Path::new("/p/.ciux"),
        )
        .unwrap();
        assert_eq!(
            (f.registry.as_str(), f.dependencies[0].url.as_str()),
            ("r", "x")
        );
        assert_eq!(unknown, ["foo", "Dependencies[0].bar"]);
    }

    #[test]
    fn source_paths_must_be_relative_and_clean() {
        for (bad, what) in [
            ("/abs", "relative"),
            ("rootfs/", "clean"),
            ("./rootfs", "clean"),
            ("\"\"", "clean"),
            ("a/../b", "clean"),
        ] {
            let e = parse(&format!("sourcePathes: [{bad}]\n"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(&format!("must be {what}")), "{bad}: {e}");
        }
        assert!(parse("sourcePathes: [rootfs, a/b, Dockerfile]\n").is_ok());
    }
}
