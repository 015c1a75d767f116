//! The `.ciux` file: project name, registry, source paths and dependencies.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, Visitor};

use crate::base_image::BaseFlag;
use crate::tree_tag::TagSetting;

/// The parsed `.ciux` file.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct CiuxFile {
    /// `v1alpha1`; read so that it is not reported as unknown, and otherwise unused.
    #[serde(default, rename = "apiVersion", alias = "apiversion")]
    pub(crate) _api_version: Option<String>,
    /// Image name override.
    #[serde(default)]
    pub(crate) project: Option<String>,
    /// Registry and namespace of the project image and of `pull` dependency images.
    #[serde(default)]
    pub(crate) registry: String,
    /// Files or directories whose changes require a new image.
    #[serde(
        default,
        rename = "sourcePathes",
        alias = "sourcepathes",
        alias = "sourcePaths"
    )]
    pub(crate) source_pathes: Vec<String>,
    /// Dependencies, in file order.
    #[serde(default)]
    pub(crate) dependencies: Vec<DependencySpec>,
    /// `imageTag:` (tree tags, opt-in).
    #[serde(flatten)]
    pub(crate) tag: TagSetting,
    /// Keys that ciux does not know (warned about).
    #[serde(flatten)]
    pub(crate) unknown: BTreeMap<String, IgnoredAny>,
}

/// One entry of `dependencies`; its kind is `package` > `image` > git `url`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct DependencySpec {
    /// Git URL of a source dependency.
    #[serde(default)]
    pub(crate) url: String,
    /// Clone it next to the project.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub(crate) clone: bool,
    /// Check that `<registry>/<name>:<dependency version>` exists.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub(crate) pull: bool,
    /// Container image dependency.
    #[serde(default)]
    pub(crate) image: String,
    /// Tool to install: Go module `path@version`, or Rust `crate@version`.
    #[serde(default)]
    pub(crate) package: String,
    /// A prebuilt fink-tools release to install instead of `package` (`ktbx-v0.2.0`).
    #[serde(default)]
    pub(crate) release: String,
    /// Pinned tag, branch or commit of a git dependency.
    #[serde(default)]
    pub(crate) revision: Option<String>,
    /// Labels matched by `--selector` (scalars of any type are kept as their text).
    #[serde(default, deserialize_with = "labels")]
    pub(crate) labels: BTreeMap<String, String>,
    /// `base:` (the image is a base of the project image).
    #[serde(flatten)]
    pub(crate) base: BaseFlag,
    /// Keys that ciux does not know (warned about).
    #[serde(flatten)]
    pub(crate) unknown: BTreeMap<String, IgnoredAny>,
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
    /// Invalid YAML or a wrong type.
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when unknown).
        line: u64,
        /// 1-based column (0 when unknown).
        column: u64,
        /// The parser's message.
        message: String,
    },
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
        let file: CiuxFile = if text.trim().is_empty() {
            CiuxFile::default()
        } else {
            serde_saphyr::from_str(text).map_err(|e| {
                let loc = e.location();
                CiuxFileError::Parse {
                    path: origin.to_path_buf(),
                    line: loc.as_ref().map_or(0, |l| l.line()),
                    column: loc.as_ref().map_or(0, |l| l.column()),
                    message: first_line(&e.to_string()),
                }
            })?
        };
        for key in file.unknown.keys() {
            tracing::warn!("{}: unknown key {key:?} ignored", origin.display());
        }
        for (i, dep) in file.dependencies.iter().enumerate() {
            for key in dep.unknown.keys() {
                tracing::warn!(
                    "{}: unknown key \"dependencies[{i}].{key}\" ignored",
                    origin.display()
                );
            }
        }
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
        Ok(file)
    }
}

/// The parser's first message line, without its own `error: line L column C:` prefix.
fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or(s);
    let trimmed = line.strip_prefix("error: ").unwrap_or(line);
    match trimmed
        .strip_prefix("line ")
        .and_then(|rest| rest.split_once(": "))
    {
        Some((position, message)) if position.contains("column") => message.to_string(),
        _ => trimmed.to_string(),
    }
}

/// `filepath.Clean(p) == p` for a relative path.
fn is_clean(p: &str) -> bool {
    !p.is_empty() && (p == "." || p.split('/').all(|c| !c.is_empty() && c != "." && c != ".."))
}

/// Accepts `true`/`false` and their quoted forms.
fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a boolean (true or false)")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
            match v.to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
            }
        }
        fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
            Ok(false)
        }
    }
    d.deserialize_any(V)
}

/// A label value: any scalar, kept as text (`itest: true` → `"true"`).
struct LabelValue(String);

impl<'de> Deserialize<'de> for LabelValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = LabelValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a label value (a string, number or boolean)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LabelValue, E> {
                Ok(LabelValue(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<LabelValue, E> {
                Ok(LabelValue(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LabelValue, E> {
                Ok(LabelValue(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LabelValue, E> {
                Ok(LabelValue(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<LabelValue, E> {
                Ok(LabelValue(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<LabelValue, E> {
                Ok(LabelValue(String::new()))
            }
        }
        d.deserialize_any(V)
    }
}

fn labels<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let map = Option::<BTreeMap<String, LabelValue>>::deserialize(d)?;
    Ok(map
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect())
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
        let s = e.to_string();
        assert!(s.starts_with("/p/.ciux:4:"), "{s}");
        let e = parse("sourcePathes: 3\n").unwrap_err().to_string();
        assert!(e.starts_with("/p/.ciux:1:"), "{e}");
        let e = parse("registry: [\n").unwrap_err().to_string();
        assert!(e.starts_with("/p/.ciux:"), "{e}");
    }

    #[test]
    fn unknown_keys_are_accepted() {
        let f = parse("registry: r\nfoo: 1\ndependencies:\n  - url: x\n    bar: y\n").unwrap();
        assert!(f.unknown.contains_key("foo"));
        assert!(f.dependencies[0].unknown.contains_key("bar"));
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
