//! The env file that `ignite` writes (`.ciux.d/ciux_<selector>.sh` or `$CIUXCONFIG`), its exact
//! content and order, and the `.ciux.d/ciuxconfig.sh` helper.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::selector::Selector;

/// `_DIR`, `_VERSION` and `_WORKBRANCH` of one git repository (a dependency or the project).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RepoVars {
    /// Variable prefix (`FINK_ALERT_SIMULATOR`).
    pub(crate) prefix: String,
    /// Local checkout and its version, when the repository is on disk.
    pub(crate) local: Option<(PathBuf, String)>,
    /// Work branch (empty when unknown).
    pub(crate) workbranch: String,
}

/// Everything the env file says, in the order it says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EnvFile {
    /// Normalised selector string of the comment line.
    pub(crate) selector: String,
    /// Git dependencies in `.ciux` order, then the project.
    pub(crate) repos: Vec<RepoVars>,
    /// Image dependencies: prefix and the reference as written.
    pub(crate) images: Vec<(String, String)>,
    /// Configured registry.
    pub(crate) registry: String,
    /// Image name (with suffix).
    pub(crate) image_name: String,
    /// Prefix of the project (for the comment line).
    pub(crate) project_prefix: String,
    /// Chosen tag.
    pub(crate) image_tag: String,
    /// Chosen image URL.
    pub(crate) image_url: String,
    /// Whether the image must be built.
    pub(crate) build: bool,
    /// Why: `CIUX_BUILD_REASON` and its one-line explanation.
    pub(crate) reason: (&'static str, String),
    /// Image URL with HEAD's version.
    pub(crate) promoted_url: String,
    /// Image URL in the temporary registry, with `--tmp-registry`.
    pub(crate) temporary_url: Option<String>,
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
        lines.push(Line::Comment(format!("Build reason: {}", self.reason.1)));
        lines.push(var("CIUX_BUILD_REASON".into(), self.reason.0));
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
    pub(crate) fn render(&self) -> String {
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
    pub(crate) fn vars(&self) -> Vec<(String, String)> {
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
pub(crate) fn quote(value: &str) -> String {
    if value.is_empty() {
        String::new()
    } else {
        common::process::shell_quote(OsStr::new(value))
    }
}

/// The longest file name Linux file systems take (`NAME_MAX`).
const NAME_MAX: usize = 255;

/// A selector whose env-file name no file system takes.
#[derive(Debug, thiserror::Error)]
#[error(
    "the selector {selector:?} makes an env-file name of {len} bytes (at most {NAME_MAX}): use a shorter selector or set CIUXCONFIG to the file to write"
)]
pub(crate) struct NameTooLong {
    selector: String,
    len: usize,
}

/// `$CIUXCONFIG` when set and non-empty, else `<root>/.ciux.d/ciux<selector suffix>.sh`. Checked
/// before any work, so that a selector giving an impossible file name fails at once.
pub(crate) fn path(root: &Path, selector: &Selector) -> Result<PathBuf, NameTooLong> {
    if let Some(p) = std::env::var_os("CIUXCONFIG").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let name = format!("ciux{}.sh", selector.file_suffix());
    if name.len() > NAME_MAX {
        return Err(NameTooLong {
            selector: selector.to_string(),
            len: name.len(),
        });
    }
    Ok(root.join(".ciux.d").join(name))
}

/// The helper sourced as `SELECTOR=<sel> . .ciux.d/ciuxconfig.sh` (bash): it loads the env file of that
/// selector. It `return`s on error, so the sourcing shell survives.
pub(crate) const HELPER: &str = r#"# Generated by ciux. Usage (bash): SELECTOR=<label selector> . .ciux.d/ciuxconfig.sh
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

/// How old a temporary file of an interrupted write must be before a later run removes it: a writer
/// holds its temporary file for milliseconds, so an older one belongs to a killed run (never to a
/// concurrent one).
const STALE_AFTER: Duration = Duration::from_secs(600);

/// Writes the env file atomically (0644) and, in `<root>/.ciux.d/`, the helper script; first removes the
/// temporary files that killed runs left behind.
pub(crate) fn write(root: &Path, file: &Path, content: &str) -> Result<(), common::fs::FsError> {
    let dir = root.join(".ciux.d");
    std::fs::create_dir_all(&dir).map_err(|source| common::fs::FsError {
        action: "create directory",
        path: dir.clone(),
        source,
    })?;
    let helper = dir.join("ciuxconfig.sh");
    remove_stale_temp_files(&[&helper, file]);
    write_if_changed(&helper, HELPER.as_bytes())?;
    write_if_changed(file, content.as_bytes())
}

/// Writes `bytes` atomically (mode 0644) unless the file already holds exactly them with that mode: a
/// rerun that changes nothing (`ignite --frozen`) costs no fsync.
fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<(), common::fs::FsError> {
    use std::os::unix::fs::PermissionsExt as _;
    let unchanged = std::fs::metadata(path)
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o7777 == 0o644)
        && std::fs::read(path).is_ok_and(|old| old == bytes);
    if unchanged {
        return Ok(());
    }
    common::fs::atomic_write(path, bytes, 0o644)
}

/// Whether `name` is a temporary file of an atomic write of `target` (`.<target>.XXXXXX.tmp`, the
/// naming of `common::fs::AtomicFile`), or in `.ciux.d/` of any env file (`.ciux*.sh.XXXXXX.tmp`).
fn is_temp_of(name: &str, target: &str, in_ciux_dir: bool) -> bool {
    let Some(middle) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")) else {
        return false;
    };
    let Some((written, random)) = middle.rsplit_once('.') else {
        return false;
    };
    let ours = written == target
        || (in_ciux_dir && written.starts_with("ciux") && written.ends_with(".sh"));
    ours && random.len() == 6 && random.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Removes the temporary files of atomic writes of `targets` (and, in `.ciux.d/`, of any env file) left
/// by a killed run: only files named as ciux names them and last modified [`STALE_AFTER`] ago or more,
/// so a concurrent run's file in the making is never touched. Failures are only logged.
fn remove_stale_temp_files(targets: &[&Path]) {
    let now = SystemTime::now();
    for target in targets {
        let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
            continue;
        };
        let name = name.to_string_lossy();
        let in_ciux_dir = dir.file_name() == Some(OsStr::new(".ciux.d"));
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let entry_name = entry.file_name();
            if !is_temp_of(&entry_name.to_string_lossy(), &name, in_ciux_dir) {
                continue;
            }
            let stale = entry
                .metadata()
                .ok()
                .filter(std::fs::Metadata::is_file)
                .and_then(|m| m.modified().ok())
                .and_then(|modified| now.duration_since(modified).ok())
                .is_some_and(|age| age >= STALE_AFTER);
            if !stale {
                continue;
            }
            let path = entry.path();
            match std::fs::remove_file(&path) {
                Ok(()) => tracing::info!("removed {}, left by an interrupted run", path.display()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!("unable to remove {}: {e}", path.display()),
            }
        }
    }
}

/// Appends the variables to the files named by `$GITHUB_ENV` and `$GITHUB_OUTPUT`, when set:
/// `NAME=value`, or GitHub's multi-line form (`NAME<<DELIMITER`, the value, `DELIMITER`) for a value
/// holding a newline, with a random delimiter that is none of its lines.
pub(crate) fn append_github(vars: &[(String, String)]) -> std::io::Result<()> {
    use std::io::Write;
    let text = github_lines(vars);
    for key in ["GITHUB_ENV", "GITHUB_OUTPUT"] {
        let Some(path) = std::env::var_os(key).filter(|v| !v.is_empty()) else {
            continue;
        };
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)?;
        f.write_all(text.as_bytes())?;
    }
    Ok(())
}

/// The `$GITHUB_ENV` lines of the variables (see [`append_github`]).
fn github_lines(vars: &[(String, String)]) -> String {
    let mut text = String::new();
    for (k, v) in vars {
        if !v.contains('\n') && !v.contains('\r') {
            text.push_str(&format!("{k}={v}\n"));
            continue;
        }
        let delimiter = loop {
            let candidate = format!("ghadelimiter_{:016x}", random_u64());
            if !v.lines().any(|line| line == candidate) {
                break candidate;
            }
        };
        text.push_str(&format!("{k}<<{delimiter}\n{v}\n{delimiter}\n"));
    }
    text
}

/// A random number from the standard library's per-process hash keys (no extra dependency).
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    hasher.finish()
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
            reason: ("image-found", "gitlab-registry.in2p3.fr/astrolabsoftware/fink/fink-broker-noscience:v3.2.0-rc0-43-g560772a (commit 560772a) holds the current sources: reused".into()),
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
# Build reason: gitlab-registry.in2p3.fr/astrolabsoftware/fink/fink-broker-noscience:v3.2.0-rc0-43-g560772a (commit 560772a) holds the current sources: reused
export CIUX_BUILD_REASON=image-found
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
        assert_eq!(tmp.vars().len(), 16);
    }

    #[test]
    fn temp_file_names() {
        assert!(is_temp_of(
            ".ciux_itest.sh.aB3xYz.tmp",
            "ciux_itest.sh",
            false
        ));
        assert!(is_temp_of(".ciux_e2e.sh.aB3xYz.tmp", "ciux_itest.sh", true));
        assert!(is_temp_of(
            ".ciuxconfig.sh.000000.tmp",
            "ciuxconfig.sh",
            true
        ));
        assert!(!is_temp_of(".ciux_e2e.sh.aB3xYz.tmp", "ciux.sh", false));
        for other in [
            "ciux_itest.sh",
            ".ciux_itest.sh.tmp",
            ".ciux_itest.sh.aB3x.tmp",
            ".ciux_itest.sh.aB3x-z.tmp",
            ".other.sh.aB3xYz.tmp",
            ".ciux_itest.sh.aB3xYz.tmp~",
        ] {
            assert!(!is_temp_of(other, "ciux_itest.sh", true), "{other}");
        }
    }

    #[test]
    fn github_multi_line_values() {
        let vars = vec![
            ("A".to_string(), "one".to_string()),
            ("B".to_string(), "x\ny".to_string()),
        ];
        let text = github_lines(&vars);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "A=one");
        let delimiter = lines[1].strip_prefix("B<<").unwrap();
        assert!(delimiter.starts_with("ghadelimiter_"));
        assert_eq!(&lines[2..], ["x", "y", delimiter]);
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn quoting() {
        assert_eq!(quote(""), "");
        assert_eq!(quote("a/b:c-1.2"), "a/b:c-1.2");
        assert_eq!(quote("it's"), r"'it'\''s'");
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    /// GitHub's reading of the lines: `NAME=value`, or `NAME<<D` … `D` (the first line equal to `D`).
    fn read_github(text: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut lines = text.split('\n');
        while let Some(line) = lines.next() {
            if line.is_empty() {
                continue;
            }
            // As the runner does: whichever of `=` and `<<` comes first.
            let eq = line.find('=').unwrap_or(usize::MAX);
            let heredoc = line.find("<<").unwrap_or(usize::MAX);
            if heredoc < eq {
                let (k, d) = (&line[..heredoc], &line[heredoc + 2..]);
                let value: Vec<&str> = lines.by_ref().take_while(|l| *l != d).collect();
                out.push((k.to_string(), value.join("\n")));
            } else if let Some((k, v)) = line.split_once('=') {
                out.push((k.to_string(), v.to_string()));
            }
        }
        out
    }

    proptest! {
        /// Every value reads back as written (a value holding a delimiter-like line included).
        #[test]
        fn github_lines_read_back(values in proptest::collection::vec("[a-z =<_]{0,8}(\n[a-z =<_]{0,8}){0,3}", 1..4)) {
            let vars: Vec<(String, String)> = values
                .into_iter()
                .enumerate()
                .map(|(i, v)| (format!("V{i}"), v))
                .collect();
            prop_assert_eq!(read_github(&github_lines(&vars)), vars);
        }
    }
}
