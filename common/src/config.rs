//! Config-file discovery and YAML loading shared by the three tools.
//!
//! Discovery follows the originals (viper): an explicit path (a flag), else the tool's environment
//! variable, else the working directory, else `$HOME/.<tool>`. A path given explicitly or through
//! the environment must exist. Loading never falls back silently: a file that cannot be read or
//! parsed is an error naming the file, line and column; keys the tool does not know are reported
//! as warnings with their dotted path (`kind.wrokers`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// Where a tool looks for its config file.
#[derive(Debug, Clone)]
pub struct ConfigLocator {
    /// A path given on the command line (a file, or a directory to search).
    pub explicit: Option<PathBuf>,
    /// The environment variable naming a file or a directory to search, such as `KTBXCONFIG`.
    pub env_var: &'static str,
    /// File names tried in each directory, in order, such as `["config.yaml", "config"]`.
    pub file_names: &'static [&'static str],
    /// The directory under `$HOME` searched last, such as `.ktbx`.
    pub home_subdir: &'static str,
}

/// A config file that could not be found, read or decoded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A path given explicitly or through the environment does not exist.
    #[error("config file {} (from {origin}) does not exist", path.display())]
    Missing {
        /// The path.
        path: PathBuf,
        /// Where it came from: `--config` or `$KTBXCONFIG`.
        origin: String,
    },
    /// A directory given explicitly or through the environment has none of the file names.
    #[error("no {names} in {} (from {origin})", dir.display())]
    NotInDir {
        /// The directory.
        dir: PathBuf,
        /// Where it came from.
        origin: String,
        /// The file names tried.
        names: String,
    },
    /// The path names a FIFO, a device, a socket or a directory: reading it could block forever.
    #[error("config file {} is not a regular file (it is {kind}): give the path of a YAML file", path.display())]
    NotRegular {
        /// The path.
        path: PathBuf,
        /// What it is instead (`a FIFO`, `a directory`, ...).
        kind: &'static str,
    },
    /// The file exists but cannot be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// YAML syntax error or a value of the wrong type, with its position.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// 1-based column.
        column: u64,
        /// What is wrong (with the key path when known).
        message: String,
    },
    /// A value of the wrong type found after merging or normalising (no position is known).
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The file the value came from.
        path: PathBuf,
        /// What is wrong, starting with the dotted key path.
        message: String,
    },
}

impl ConfigLocator {
    /// Finds the config file: `Ok(None)` when nothing exists in the working directory or under
    /// `$HOME` (the caller decides between defaults and an error naming [`ConfigLocator::searched`]).
    pub fn find(&self) -> Result<Option<PathBuf>, ConfigError> {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from);
        self.find_from(std::env::var_os(self.env_var), &cwd, home.as_deref())
    }

    /// [`ConfigLocator::find`] with the environment value, working directory and home given.
    pub fn find_from(
        &self,
        env_value: Option<OsString>,
        cwd: &Path,
        home: Option<&Path>,
    ) -> Result<Option<PathBuf>, ConfigError> {
        if let Some(path) = &self.explicit {
            return self.pinned(&cwd.join(path), "the command line").map(Some);
        }
        if let Some(value) = env_value.filter(|v| !v.is_empty()) {
            return self
                .pinned(&cwd.join(value), &format!("${}", self.env_var))
                .map(Some);
        }
        if let Some(found) = self.in_dir(cwd) {
            return Ok(Some(found));
        }
        Ok(home.and_then(|home| self.in_dir(&home.join(self.home_subdir))))
    }

    /// A human description of the search order, for help texts and errors.
    pub fn searched(&self) -> String {
        format!(
            "${}, the working directory, $HOME/{}",
            self.env_var, self.home_subdir
        )
    }

    fn names(&self) -> String {
        self.file_names.join(" or ")
    }

    fn pinned(&self, path: &Path, origin: &str) -> Result<PathBuf, ConfigError> {
        if path.is_dir() {
            return self.in_dir(path).ok_or_else(|| ConfigError::NotInDir {
                dir: path.to_path_buf(),
                origin: origin.to_string(),
                names: self.names(),
            });
        }
        if path.exists() {
            Ok(path.to_path_buf())
        } else {
            Err(ConfigError::Missing {
                path: path.to_path_buf(),
                origin: origin.to_string(),
            })
        }
    }

    fn in_dir(&self, dir: &Path) -> Option<PathBuf> {
        self.file_names
            .iter()
            .map(|name| dir.join(name))
            .find(|candidate| candidate.is_file())
    }
}

/// Reads and decodes a YAML file into `T` (see [`parse_yaml`]).
pub fn load_yaml<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    parse_yaml(&read_config_file(path)?, path)
}

/// Decodes YAML `text` read from `origin` into `T`. Syntax and type errors carry the file, line,
/// column and key path; unknown keys are logged as warnings with their dotted path.
pub fn parse_yaml<T: DeserializeOwned>(text: &str, origin: &Path) -> Result<T, ConfigError> {
    let (value, unknown) = parse_yaml_reporting(text, origin)?;
    warn_unknown(origin, &unknown);
    Ok(value)
}

/// Reads a YAML file as a generic tree (for tools that merge or normalise before decoding, see
/// [`from_value`]). Syntax errors carry the file, line and column.
pub fn load_yaml_value(path: &Path) -> Result<serde_json::Value, ConfigError> {
    parse_yaml::<serde_json::Value>(&read_config_file(path)?, path)
}

/// Decodes a tree produced by [`load_yaml_value`] (possibly merged or normalised) into `T`. Type
/// errors name `origin` and the dotted key path; unknown keys are logged as warnings.
pub fn from_value<T: DeserializeOwned>(
    value: serde_json::Value,
    origin: &Path,
) -> Result<T, ConfigError> {
    let (value, unknown) = from_value_reporting(value, origin)?;
    warn_unknown(origin, &unknown);
    Ok(value)
}

/// Lower-cases every mapping key, recursively (viper's case-insensitive keys). When two keys
/// differ only by case, the later one wins, as with viper.
pub fn lowercase_keys(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.into_iter()
                .map(|(k, v)| (k.to_lowercase(), lowercase_keys(v)))
                .collect(),
        ),
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(lowercase_keys).collect())
        }
        other => other,
    }
}

/// Merges `overlay` into `base`: mappings merge key by key, recursively; any other value in
/// `overlay` replaces the one in `base` (viper's `MergeInConfig`).
pub fn deep_merge(base: &mut serde_json::Value, overlay: serde_json::Value) {
    match (base, overlay) {
        (serde_json::Value::Object(base), serde_json::Value::Object(overlay)) => {
            for (key, value) in overlay {
                match base.get_mut(&key) {
                    Some(existing) => deep_merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, overlay) => *base = overlay,
    }
}

/// Reads a config file as text. Only regular files (or symbolic links to one) are read: a FIFO,
/// a device or a socket given as a config file is refused at once instead of blocking forever.
pub fn read_config_file(path: &Path) -> Result<String, ConfigError> {
    let read_error = |source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    };
    let metadata = std::fs::metadata(path).map_err(read_error)?;
    if !metadata.is_file() {
        return Err(ConfigError::NotRegular {
            path: path.to_path_buf(),
            kind: file_kind(&metadata.file_type()),
        });
    }
    std::fs::read_to_string(path).map_err(read_error)
}

fn file_kind(file_type: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_char_device() || file_type.is_block_device() {
        "a device"
    } else {
        "an unusual file"
    }
}

fn warn_unknown(origin: &Path, unknown: &[String]) {
    for key in unknown {
        tracing::warn!("{}: unknown key `{key}` ignored", origin.display());
    }
}

/// Decodes `text` and returns the unknown keys instead of logging them.
fn parse_yaml_reporting<T: DeserializeOwned>(
    text: &str,
    origin: &Path,
) -> Result<(T, Vec<String>), ConfigError> {
    let mut unknown = Vec::new();
    let mut track = serde_path_to_error::Track::new();
    let result = serde_saphyr::with_deserializer_from_str(text, |de| {
        let de = serde_path_to_error::Deserializer::new(de, &mut track);
        serde_ignored::deserialize(de, |path| unknown.push(path.to_string()))
    });
    match result {
        Ok(value) => Ok((value, unknown)),
        Err(err) => {
            let message = with_key(&track.path().to_string(), yaml_message(&err));
            let location = err.location().filter(|l| l.line() > 0);
            Err(ConfigError::Parse {
                path: origin.to_path_buf(),
                line: location.map_or(1, |l| l.line()),
                column: location.map_or(1, |l| l.column()),
                message,
            })
        }
    }
}

fn from_value_reporting<T: DeserializeOwned>(
    value: serde_json::Value,
    origin: &Path,
) -> Result<(T, Vec<String>), ConfigError> {
    let mut unknown = Vec::new();
    let mut track = serde_path_to_error::Track::new();
    let de = serde_path_to_error::Deserializer::new(value, &mut track);
    match serde_ignored::deserialize(de, |path| unknown.push(path.to_string())) {
        Ok(value) => Ok((value, unknown)),
        Err(err) => {
            let message = with_key(&track.path().to_string(), err.to_string());
            Err(ConfigError::Invalid {
                path: origin.to_path_buf(),
                message,
            })
        }
    }
}

/// Prefixes `message` with the dotted key path, leaving out the parts serde could not name.
fn with_key(path: &str, message: String) -> String {
    let known: Vec<&str> = path
        .split('.')
        .take_while(|part| *part != "?")
        .filter(|p| !p.is_empty())
        .collect();
    if known.is_empty() {
        message
    } else {
        format!("{}: {message}", known.join("."))
    }
}

/// The bare, single-line message of a serde-saphyr error (its position is reported separately).
pub(crate) fn yaml_message(err: &serde_saphyr::Error) -> String {
    use serde_saphyr::MessageFormatter;
    let mut inner = err;
    while let serde_saphyr::Error::WithSnippet { error, .. }
    | serde_saphyr::Error::AliasError { error, .. } = inner
    {
        inner = error;
    }
    serde_saphyr::UserMessageFormatter
        .format_message(inner)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KTBX: ConfigLocator = ConfigLocator {
        explicit: None,
        env_var: "KTBXCONFIG",
        file_names: &["config.yaml", "config.yml", "config"],
        home_subdir: ".ktbx",
    };

    #[derive(Debug, PartialEq, serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Kind {
        #[serde(default)]
        workers: u32,
        #[serde(default)]
        extra_mount_path: Option<String>,
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct KtbxConfig {
        kind: Kind,
        #[serde(default)]
        single: bool,
    }

    struct Dirs {
        _root: tempfile::TempDir,
        cwd: PathBuf,
        home: PathBuf,
    }

    fn dirs() -> Dirs {
        let root = tempfile::tempdir().unwrap();
        let cwd = root.path().join("work");
        let home = root.path().join("home");
        std::fs::create_dir_all(&cwd).unwrap();
        std::fs::create_dir_all(home.join(".ktbx")).unwrap();
        Dirs {
            cwd,
            home,
            _root: root,
        }
    }

    #[test]
    fn search_order_is_explicit_env_cwd_home() {
        let d = dirs();
        let home_file = d.home.join(".ktbx/config");
        std::fs::write(&home_file, "").unwrap();
        assert_eq!(
            KTBX.find_from(None, &d.cwd, Some(&d.home)).unwrap(),
            Some(home_file)
        );

        let cwd_file = d.cwd.join("config.yml");
        std::fs::write(&cwd_file, "").unwrap();
        assert_eq!(
            KTBX.find_from(None, &d.cwd, Some(&d.home)).unwrap(),
            Some(cwd_file.clone())
        );
        // The first name in the list wins within a directory.
        std::fs::write(d.cwd.join("config.yaml"), "").unwrap();
        assert_eq!(
            KTBX.find_from(None, &d.cwd, Some(&d.home)).unwrap(),
            Some(d.cwd.join("config.yaml"))
        );

        let env_file = d.home.join("elsewhere.yaml");
        std::fs::write(&env_file, "").unwrap();
        let found = KTBX
            .find_from(Some(env_file.clone().into()), &d.cwd, Some(&d.home))
            .unwrap();
        assert_eq!(found, Some(env_file.clone()));
        // An empty variable counts as unset, as in the originals.
        assert_eq!(
            KTBX.find_from(Some("".into()), &d.cwd, Some(&d.home))
                .unwrap(),
            Some(d.cwd.join("config.yaml"))
        );

        let explicit = ConfigLocator {
            explicit: Some("mine.yaml".into()),
            ..KTBX
        };
        std::fs::write(d.cwd.join("mine.yaml"), "").unwrap();
        let found = explicit
            .find_from(Some(env_file.into()), &d.cwd, Some(&d.home))
            .unwrap();
        assert_eq!(found, Some(d.cwd.join("mine.yaml")));
    }

    #[test]
    fn nothing_found_is_none_and_the_search_is_described() {
        let d = dirs();
        assert_eq!(KTBX.find_from(None, &d.cwd, Some(&d.home)).unwrap(), None);
        assert_eq!(KTBX.find_from(None, &d.cwd, None).unwrap(), None);
        assert_eq!(
            KTBX.searched(),
            "$KTBXCONFIG, the working directory, $HOME/.ktbx"
        );
    }

    #[test]
    fn env_var_naming_a_directory_searches_only_there() {
        let d = dirs();
        std::fs::write(d.cwd.join("config"), "").unwrap();
        let only = d.home.join("only");
        std::fs::create_dir(&only).unwrap();
        let err = KTBX
            .find_from(Some(only.clone().into()), &d.cwd, Some(&d.home))
            .unwrap_err();
        assert!(matches!(err, ConfigError::NotInDir { .. }));
        assert!(err.to_string().contains("(from $KTBXCONFIG)"), "{err}");
        std::fs::write(only.join("config"), "").unwrap();
        let found = KTBX
            .find_from(Some(only.clone().into()), &d.cwd, Some(&d.home))
            .unwrap();
        assert_eq!(found, Some(only.join("config")));
    }

    #[test]
    fn missing_explicit_or_env_file_is_an_error_not_a_fallback() {
        let d = dirs();
        std::fs::write(d.cwd.join("config"), "").unwrap();
        let err = KTBX
            .find_from(Some("/nonexistent/ktbx.yaml".into()), &d.cwd, Some(&d.home))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "config file /nonexistent/ktbx.yaml (from $KTBXCONFIG) does not exist"
        );
        let explicit = ConfigLocator {
            explicit: Some("/nonexistent/x.yaml".into()),
            ..KTBX
        };
        let err = explicit.find_from(None, &d.cwd, Some(&d.home)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config file /nonexistent/x.yaml (from the command line) does not exist"
        );
    }

    #[test]
    fn parses_valid_yaml() {
        let text = "single: true\nkind:\n  workers: 2\n  extraMountPath: /data\n";
        let (config, unknown) =
            parse_yaml_reporting::<KtbxConfig>(text, Path::new("config")).unwrap();
        assert_eq!(
            config,
            KtbxConfig {
                kind: Kind {
                    workers: 2,
                    extra_mount_path: Some("/data".into())
                },
                single: true
            }
        );
        assert!(unknown.is_empty());
    }

    #[test]
    fn unknown_keys_are_reported_with_their_path() {
        let text = "kind:\n  wrokers: 2\n  workers: 1\napiVersion: v1\n";
        let (config, unknown) =
            parse_yaml_reporting::<KtbxConfig>(text, Path::new("config")).unwrap();
        assert_eq!(config.kind.workers, 1);
        assert_eq!(unknown, ["kind.wrokers", "apiVersion"]);
    }

    #[test]
    fn syntax_error_reports_file_line_and_column() {
        let text = "kind:\n  workers: 2\n  bad: [1, 2\nsingle: true\n";
        let err = parse_yaml::<KtbxConfig>(text, Path::new("/etc/ktbx/config")).unwrap_err();
        let ConfigError::Parse {
            line,
            column,
            ref path,
            ..
        } = err
        else {
            panic!("{err:?}")
        };
        assert_eq!(path, Path::new("/etc/ktbx/config"));
        assert!(line >= 3, "line {line}: {err}");
        assert!(column >= 1);
        assert!(
            err.to_string()
                .starts_with(&format!("/etc/ktbx/config:{line}:{column}: ")),
            "{err}"
        );
    }

    #[test]
    fn type_error_reports_line_column_and_key() {
        let text = "kind:\n  workers: three\n";
        let err = parse_yaml::<KtbxConfig>(text, Path::new("config.yaml")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("config.yaml:2:12: kind.workers: "), "{msg}");
        let err = parse_yaml::<KtbxConfig>("kind:\n  workers: -1\n", Path::new("c")).unwrap_err();
        assert!(
            err.to_string().starts_with("c:2:12: kind.workers: "),
            "{err}"
        );
    }

    #[test]
    fn missing_required_key_is_an_error() {
        let err = parse_yaml::<KtbxConfig>("single: true\n", Path::new("c")).unwrap_err();
        assert!(err.to_string().contains("kind"), "{err}");
    }

    #[test]
    fn duplicate_keys_are_an_error() {
        let err = parse_yaml::<KtbxConfig>("kind:\n  workers: 1\n  workers: 2\n", Path::new("c"))
            .unwrap_err();
        assert!(matches!(err, ConfigError::Parse { line: 3, .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with("c:3:3: kind: duplicate mapping key"),
            "{err}"
        );
    }

    #[test]
    fn key_paths_leave_out_unnamed_parts() {
        assert_eq!(with_key(".", "m".into()), "m");
        assert_eq!(with_key("?", "m".into()), "m");
        assert_eq!(with_key("kind.?", "m".into()), "kind: m");
        assert_eq!(with_key("run.cpu", "m".into()), "run.cpu: m");
        assert_eq!(
            with_key("dependencies[1].url", "m".into()),
            "dependencies[1].url: m"
        );
    }

    #[test]
    fn unreadable_file_is_an_error_naming_it() {
        let err = load_yaml::<KtbxConfig>(Path::new("/nonexistent/config")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read config file /nonexistent/config: "),
            "{err}"
        );
    }

    #[test]
    fn a_fifo_or_a_directory_is_refused_without_blocking() {
        let d = dirs();
        let fifo = d.cwd.join("config.fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let err = load_yaml::<KtbxConfig>(&fifo).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "config file {} is not a regular file (it is a FIFO): give the path of a YAML file",
                fifo.display()
            )
        );
        let err = read_config_file(&d.cwd).unwrap_err();
        assert!(err.to_string().contains("(it is a directory)"), "{err}");
    }

    #[test]
    fn load_yaml_reads_the_file() {
        let d = dirs();
        let path = d.cwd.join("config");
        std::fs::write(&path, "kind:\n  workers: 0\n").unwrap();
        assert_eq!(load_yaml::<KtbxConfig>(&path).unwrap().kind.workers, 0);
    }

    #[test]
    fn values_can_be_merged_normalised_and_decoded() {
        let d = dirs();
        let main = d.cwd.join("finkctl.yaml");
        let secret = d.cwd.join("finkctl.secret.yaml");
        std::fs::write(
            &main,
            "Kind:\n  Workers: 3\n  extraMountPath: /a\nsingle: false\n",
        )
        .unwrap();
        std::fs::write(&secret, "kind:\n  workers: 5\n").unwrap();
        let mut value = lowercase_keys(load_yaml_value(&main).unwrap());
        deep_merge(
            &mut value,
            lowercase_keys(load_yaml_value(&secret).unwrap()),
        );
        assert_eq!(
            value,
            serde_json::json!({"kind": {"workers": 5, "extramountpath": "/a"}, "single": false})
        );
        let (config, unknown) = from_value_reporting::<KtbxConfig>(value, &main).unwrap();
        assert_eq!(config.kind.workers, 5);
        assert_eq!(unknown, ["kind.extramountpath"]);

        let err = from_value::<KtbxConfig>(serde_json::json!({"kind": {"workers": "x"}}), &main)
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("{}: kind.workers: invalid type", main.display())),
            "{err}"
        );
    }

    #[test]
    fn bad_yaml_value_reports_location() {
        let d = dirs();
        let path = d.cwd.join("finkctl.yaml");
        std::fs::write(&path, "run:\n  cpu: [\n").unwrap();
        let err = load_yaml_value(&path).unwrap_err();
        assert!(matches!(err, ConfigError::Parse { .. }), "{err}");
        assert!(
            err.to_string().starts_with(&format!("{}:", path.display())),
            "{err}"
        );
    }
}
