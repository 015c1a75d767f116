//! The env file that `ignite` writes (`.ciux.d/ciux_<selector>.sh` or `$CIUXCONFIG`), its exact
//! content and order, and the `.ciux.d/ciuxconfig.sh` helper.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::selector::Selector;

/// `_DIR`, `_VERSION` and `_WORKBRANCH` of one git repository (a dependency or the project).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoVars {
    /// Variable prefix (`FINK_ALERT_SIMULATOR`).
    pub prefix: String,
    /// Local checkout and its version, when the repository is on disk.
    pub local: Option<(PathBuf, String)>,
    /// Work branch (empty when unknown).
    pub workbranch: String,
}

/// Everything the env file says, in the order it says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvFile {
    /// Normalised selector string of the comment line.
    pub selector: String,
    /// Git dependencies in `.ciux` order, then the project.
    pub repos: Vec<RepoVars>,
    /// Image dependencies: prefix and the reference as written.
    pub images: Vec<(String, String)>,
    /// Configured registry.
    pub registry: String,
    /// Image name (with suffix).
    pub image_name: String,
    /// Prefix of the project (for the comment line).
    pub project_prefix: String,
    /// Chosen tag.
    pub image_tag: String,
    /// Chosen image URL.
    pub image_url: String,
    /// Whether the image must be built.
    pub build: bool,
    /// Image URL with HEAD's version.
    pub promoted_url: String,
    /// Image URL in the temporary registry, with `--tmp-registry`.
    pub temporary_url: Option<String>,
}

enum Line {
    Comment(String),
    Var(String, String),
}

impl EnvFile {
    fn lines(&self) -> Vec<Line> {
        let var = |k: String, v: &str| Line::Var(k, v.to_string());
        let mut lines = vec![Line::Comment(format!("Label selector: {}", self.selector))];
        for r in &self.repos {
            if let Some((dir, version)) = &r.local {
                lines.push(var(format!("{}_DIR", r.prefix), &dir.to_string_lossy()));
                lines.push(var(format!("{}_VERSION", r.prefix), version));
            }
            lines.push(var(format!("{}_WORKBRANCH", r.prefix), &r.workbranch));
        }
        for (prefix, reference) in &self.images {
            lines.push(var(format!("{prefix}_IMAGE"), reference));
        }
        lines.push(var("CIUX_IMAGE_REGISTRY".into(), &self.registry));
        lines.push(var("CIUX_IMAGE_NAME".into(), &self.image_name));
        lines.push(Line::Comment(format!(
            "Image which contains latest code source changes {}_VERSION",
            self.project_prefix
        )));
        lines.push(var("CIUX_IMAGE_TAG".into(), &self.image_tag));
        lines.push(var("CIUX_IMAGE_URL".into(), &self.image_url));
        lines.push(Line::Comment(
            "True if CIUX_IMAGE_URL need to be built".into(),
        ));
        lines.push(var("CIUX_BUILD".into(), &self.build.to_string()));
        lines.push(Line::Comment(
            "Promoted image is the image which will be push if CI run successfully".into(),
        ));
        lines.push(var("CIUX_PROMOTED_IMAGE_URL".into(), &self.promoted_url));
        if let Some(tmp) = &self.temporary_url {
            lines.push(Line::Comment(
                "Temporary image is the image which will be push if CI run successfully".into(),
            ));
            lines.push(var("CIUX_TEMPORARY_IMAGE_URL".into(), tmp));
        }
        lines
    }

    /// The file content: every line ends with a newline, values are shell-quoted when needed.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for line in self.lines() {
            match line {
                Line::Comment(c) => out.push_str(&format!("# {c}\n")),
                Line::Var(k, v) => out.push_str(&format!("export {k}={}\n", quote(&v))),
            }
        }
        out
    }

    /// The variables as `(name, raw value)` pairs, in file order.
    pub fn vars(&self) -> Vec<(String, String)> {
        self.lines()
            .into_iter()
            .filter_map(|l| match l {
                Line::Var(k, v) => Some((k, v)),
                Line::Comment(_) => None,
            })
            .collect()
    }
}

/// A value as the shell must read it: bare when safe (or empty), single-quoted otherwise.
pub fn quote(value: &str) -> String {
    if value.is_empty() {
        String::new()
    } else {
        common::process::shell_quote(OsStr::new(value))
    }
}

/// `$CIUXCONFIG` when set and non-empty, else `<root>/.ciux.d/ciux<selector suffix>.sh`.
pub fn path(root: &Path, selector: &Selector) -> PathBuf {
    match std::env::var_os("CIUXCONFIG").filter(|v| !v.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => root
            .join(".ciux.d")
            .join(format!("ciux{}.sh", selector.file_suffix())),
    }
}

/// The helper sourced as `SELECTOR=<sel> . .ciux.d/ciuxconfig.sh` (bash): it loads the env file of that
/// selector. It `return`s on error, so the sourcing shell survives.
pub const HELPER: &str = r#"# Generated by ciux. Usage (bash): SELECTOR=<label selector> . .ciux.d/ciuxconfig.sh
if [ -z "${BASH_VERSION:-}" ]; then
    echo "Error: .ciux.d/ciuxconfig.sh needs bash" >&2
    return 1 2>/dev/null || exit 1
fi
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
project_dir="$(dirname "$dir")"
if [ -z "${SELECTOR:-}" ]; then
    echo "Error: Selector environment variable (\$SELECTOR) is required." >&2
    return 1 2>/dev/null || exit 1
fi
selector_opt="--selector=$SELECTOR"
echo "Using selector: $SELECTOR"
if ciuxconfig="$(ciux get configpath "$selector_opt" "$project_dir")"; then
    # shellcheck disable=SC1090
    . "$ciuxconfig"
else
    echo "Error while loading ciux config : $ciuxconfig" >&2
    return 1 2>/dev/null || exit 1
fi
"#;

/// Writes the env file atomically (0644) and, in `<root>/.ciux.d/`, the helper script.
pub fn write(root: &Path, file: &Path, content: &str) -> Result<(), common::fs::FsError> {
    let dir = root.join(".ciux.d");
    std::fs::create_dir_all(&dir).map_err(|source| common::fs::FsError {
        action: "create directory",
        path: dir.clone(),
        source,
    })?;
    common::fs::atomic_write(&dir.join("ciuxconfig.sh"), HELPER.as_bytes(), 0o644)?;
    common::fs::atomic_write(file, content.as_bytes(), 0o644)
}

/// Appends `NAME=value` lines to the files named by `$GITHUB_ENV` and `$GITHUB_OUTPUT`, when set.
pub fn append_github(vars: &[(String, String)]) -> std::io::Result<()> {
    use std::io::Write;
    for key in ["GITHUB_ENV", "GITHUB_OUTPUT"] {
        let Some(path) = std::env::var_os(key).filter(|v| !v.is_empty()) else {
            continue;
        };
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)?;
        let mut text = String::new();
        for (k, v) in vars {
            if v.contains('\n') {
                continue;
            }
            text.push_str(&format!("{k}={v}\n"));
        }
        f.write_all(text.as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The §3.4 example of the spec, byte for byte (plus the final newline).
    #[test]
    fn fink_broker_example() {
        let file = EnvFile {
            selector: "itest".into(),
            repos: vec![
                RepoVars {
                    prefix: "FINK_ALERT_SIMULATOR".into(),
                    local: Some((
                        "/home/runner/work/fink-broker/fink-alert-simulator".into(),
                        "v3.2.0-rc0-1-gbf62692".into(),
                    )),
                    workbranch: "master".into(),
                },
                RepoVars {
                    prefix: "FINK_CD".into(),
                    local: None,
                    workbranch: "main".into(),
                },
                RepoVars {
                    prefix: "FINK_BROKER".into(),
                    local: Some((
                        "/home/runner/work/fink-broker/fink-broker".into(),
                        "v3.2.0-rc0-49-gf1b49e3".into(),
                    )),
                    workbranch: "my-feature".into(),
                },
            ],
            images: vec![(
                "ASTROLABSOFTWARE_FINK_STACKABLE_HADOOP".into(),
                "gitlab-registry.in2p3.fr/astrolabsoftware/fink/stackable-hadoop:v24.11.0".into(),
            )],
            registry: "gitlab-registry.in2p3.fr/astrolabsoftware/fink".into(),
            image_name: "fink-broker-noscience".into(),
            project_prefix: "FINK_BROKER".into(),
            image_tag: "v3.2.0-rc0-43-g560772a".into(),
            image_url: "gitlab-registry.in2p3.fr/astrolabsoftware/fink/fink-broker-noscience:v3.2.0-rc0-43-g560772a"
                .into(),
            build: false,
            promoted_url:
                "gitlab-registry.in2p3.fr/astrolabsoftware/fink/fink-broker-noscience:v3.2.0-rc0-49-gf1b49e3".into(),
            temporary_url: None,
        };
        let expected = "\
# Label selector: itest
export FINK_ALERT_SIMULATOR_DIR=/home/runner/work/fink-broker/fink-alert-simulator
export FINK_ALERT_SIMULATOR_VERSION=v3.2.0-rc0-1-gbf62692
export FINK_ALERT_SIMULATOR_WORKBRANCH=master
export FINK_CD_WORKBRANCH=main
export FINK_BROKER_DIR=/home/runner/work/fink-broker/fink-broker
export FINK_BROKER_VERSION=v3.2.0-rc0-49-gf1b49e3
export FINK_BROKER_WORKBRANCH=my-feature
export ASTROLABSOFTWARE_FINK_STACKABLE_HADOOP_IMAGE=gitlab-registry.in2p3.fr/astrolabsoftware/fink/stackable-hadoop:v24.11.0
export CIUX_IMAGE_REGISTRY=gitlab-registry.in2p3.fr/astrolabsoftware/fink
export CIUX_IMAGE_NAME=fink-broker-noscience
# Image which contains latest code source changes FINK_BROKER_VERSION
export CIUX_IMAGE_TAG=v3.2.0-rc0-43-g560772a
export CIUX_IMAGE_URL=gitlab-registry.in2p3.fr/astrolabsoftware/fink/fink-broker-noscience:v3.2.0-rc0-43-g560772a
# True if CIUX_IMAGE_URL need to be built
export CIUX_BUILD=false
# Promoted image is the image which will be push if CI run successfully
export CIUX_PROMOTED_IMAGE_URL=gitlab-registry.in2p3.fr/astrolabsoftware/fink/fink-broker-noscience:v3.2.0-rc0-49-gf1b49e3
";
        assert_eq!(file.render(), expected);

        let mut tmp = file.clone();
        tmp.temporary_url = Some("tmp.io/fink-broker-noscience:v3".into());
        tmp.repos[2].local = Some(("/home/my dir/fink-broker".into(), "v1".into()));
        let text = tmp.render();
        assert!(text.ends_with(
            "-gf1b49e3\n# Temporary image is the image which will be push if CI run successfully\n\
             export CIUX_TEMPORARY_IMAGE_URL=tmp.io/fink-broker-noscience:v3\n"
        ));
        assert!(text.contains("export FINK_BROKER_DIR='/home/my dir/fink-broker'\n"));
        assert_eq!(tmp.vars().len(), 15);
    }

    #[test]
    fn quoting() {
        assert_eq!(quote(""), "");
        assert_eq!(quote("a/b:c-1.2"), "a/b:c-1.2");
        assert_eq!(quote("it's"), r"'it'\''s'");
    }
}
