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

mod de;
mod tree;

pub use de::{Scalars, go_bool, parse_go_bool};
pub use tree::{Node, Position};

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

/// A decoded config value and the keys it did not use, as dotted paths (`kind.wrokers`).
#[derive(Debug)]
pub struct Decoded<T> {
    /// The value.
    pub value: T,
    /// Keys present in the file that `T` has no field for, in file order.
    pub unknown: Vec<String>,
}

/// Reads a YAML file into a tree that keeps each node's position (see [`decode`]).
pub fn read_tree(path: &Path) -> Result<Node, ConfigError> {
    tree::parse(&read_config_file(path)?, path)
}

/// Parses YAML `text` read from `origin` into a tree (see [`decode`]).
pub fn parse_tree(text: &str, origin: &Path) -> Result<Node, ConfigError> {
    tree::parse(text, origin)
}

/// Reads and decodes a YAML file into `T` (see [`decode`]).
pub fn load<T: DeserializeOwned>(path: &Path, scalars: Scalars) -> Result<Decoded<T>, ConfigError> {
    decode(&read_tree(path)?, scalars)
}

/// Decodes YAML `text` read from `origin` into `T` (see [`decode`]).
pub fn parse<T: DeserializeOwned>(
    text: &str,
    origin: &Path,
    scalars: Scalars,
) -> Result<Decoded<T>, ConfigError> {
    decode(&parse_tree(text, origin)?, scalars)
}

/// Decodes a tree (possibly merged from several files, see [`Node::merge`]) into `T`, the way
/// viper and mapstructure did: struct fields match keys without case, a null or empty value is
/// the empty string, `false`, or an empty list or map, and `scalars` says whether Go's loose
/// booleans and numbers are accepted. Every error names the file, line and column of the node
/// it is about, and its dotted key path.
pub fn decode<T: DeserializeOwned>(
    node: &Node,
    scalars: Scalars,
) -> Result<Decoded<T>, ConfigError> {
    let cx = de::Context {
        scalars,
        unknown: Default::default(),
    };
    let de = de::NodeDe {
        node,
        path: String::new(),
        cx: &cx,
    };
    match T::deserialize(de) {
        Ok(value) => Ok(Decoded {
            value,
            unknown: cx.unknown.into_inner(),
        }),
        Err(err) => {
            let (origin, at, path) = err
                .at
                .unwrap_or_else(|| (node.origin.clone(), node.at, String::new()));
            Err(ConfigError::Parse {
                path: origin.to_path_buf(),
                line: at.line,
                column: at.column,
                message: with_key(&path, err.message),
            })
        }
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

/// Prefixes `message` with the dotted key path, if any.
fn with_key(path: &str, message: String) -> String {
    if path.is_empty() {
        message
    } else {
        format!("{path}: {message}")
    }
}

/// The bare, single-line message of a serde-saphyr error (its position is reported separately).
#[cfg(feature = "kube")]
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

    fn parse_ktbx(text: &str) -> Result<Decoded<KtbxConfig>, ConfigError> {
        parse(text, Path::new("config"), Scalars::Strict)
    }

    #[test]
    fn parses_valid_yaml() {
        let text = "single: true\nkind:\n  workers: 2\n  extraMountPath: /data\n";
        let decoded = parse_ktbx(text).unwrap();
        assert_eq!(
            decoded.value,
            KtbxConfig {
                kind: Kind {
                    workers: 2,
                    extra_mount_path: Some("/data".into())
                },
                single: true
            }
        );
        assert!(decoded.unknown.is_empty());
    }

    #[test]
    fn keys_match_fields_without_case() {
        let decoded =
            parse_ktbx("SINGLE: true\nKind:\n  WORKERS: 2\n  extramountpath: /d\n").unwrap();
        assert_eq!(decoded.value.kind.workers, 2);
        assert_eq!(decoded.value.kind.extra_mount_path.as_deref(), Some("/d"));
        assert!(decoded.value.single);
        assert!(decoded.unknown.is_empty(), "{:?}", decoded.unknown);
        // Two spellings of one key are one key twice.
        let err = parse_ktbx("kind:\n  workers: 1\n  Workers: 2\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("config:2:3: kind: duplicate field `workers`"),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_are_reported_with_their_path() {
        let text = "kind:\n  wrokers: 2\n  workers: 1\napiVersion: v1\n";
        let decoded = parse_ktbx(text).unwrap();
        assert_eq!(decoded.value.kind.workers, 1);
        assert_eq!(decoded.unknown, ["kind.wrokers", "apiVersion"]);
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Project {
        #[serde(default)]
        dependencies: Vec<Dependency>,
        #[serde(default)]
        labels: std::collections::BTreeMap<String, String>,
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Dependency {
        url: String,
        #[serde(default)]
        clone: bool,
        #[serde(default)]
        port: Option<u16>,
    }

    #[test]
    fn sequence_paths_name_the_index() {
        let text = "dependencies:\n  - url: a\n  - url: b\n    clon: true\n    port: 70000\n";
        let err = parse::<Project>(text, Path::new("p"), Scalars::Strict).unwrap_err();
        assert_eq!(
            err.to_string(),
            "p:5:11: dependencies[1].port: invalid value: integer `70000`, expected u16"
        );
        let text = "dependencies:\n  - url: a\n  - url: b\n    clon: true\n";
        let decoded = parse::<Project>(text, Path::new("p"), Scalars::Strict).unwrap();
        assert_eq!(decoded.unknown, ["dependencies[1].clon"]);
        let err = parse::<Project>(
            "dependencies:\n  - clone: true\n",
            Path::new("p"),
            Scalars::Strict,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "p:2:5: dependencies[0]: missing field `url`"
        );
    }

    #[test]
    fn scalars_of_any_type_read_as_strings_and_null_as_empty() {
        let text = "labels:\n  a: true\n  b: 3\n  c: 1.50\n  d:\n  e: \"x\"\n";
        let decoded = parse::<Project>(text, Path::new("p"), Scalars::Strict).unwrap();
        let labels: Vec<(&str, &str)> = decoded
            .value
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            labels,
            [
                ("a", "true"),
                ("b", "3"),
                ("c", "1.50"),
                ("d", ""),
                ("e", "x")
            ]
        );
        let decoded = parse::<Project>(
            "dependencies:\nlabels: ~\n",
            Path::new("p"),
            Scalars::Strict,
        )
        .unwrap();
        assert!(decoded.value.dependencies.is_empty() && decoded.value.labels.is_empty());
        let err =
            parse::<Project>("labels:\n  a: [1]\n", Path::new("p"), Scalars::Strict).unwrap_err();
        assert_eq!(
            err.to_string(),
            "p:2:6: labels.a: invalid type: sequence, expected a string"
        );
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Loose {
        #[serde(default)]
        flag: bool,
        #[serde(default)]
        count: u32,
        #[serde(default)]
        args: Vec<String>,
    }

    #[test]
    fn loose_scalars_follow_go() {
        let loose = |text: &str| parse::<Loose>(text, Path::new("l"), Scalars::Loose);
        let strict = |text: &str| parse::<Loose>(text, Path::new("l"), Scalars::Strict);
        for (text, want) in [
            ("1", true),
            ("\"T\"", true),
            ("\"false\"", false),
            ("F", false),
        ] {
            assert_eq!(
                loose(&format!("flag: {text}\n")).unwrap().value.flag,
                want,
                "{text}"
            );
        }
        assert_eq!(
            loose("flag: maybe\n").unwrap_err().to_string(),
            "l:1:7: flag: \"maybe\" is not a boolean (use true or false)"
        );
        assert_eq!(
            strict("flag: \"true\"\n").unwrap_err().to_string(),
            "l:1:7: flag: \"true\" is not a boolean (use true or false)"
        );
        assert!(strict("flag: True\n").unwrap().value.flag);
        assert_eq!(loose("count: \"12\"\n").unwrap().value.count, 12);
        assert_eq!(
            strict("count: \"12\"\n").unwrap_err().to_string(),
            "l:1:8: count: invalid type: string \"12\", expected u32"
        );
        assert_eq!(loose("args: -x\n").unwrap().value.args, ["-x"]);
        assert!(loose("args: \"\"\n").unwrap().value.args.is_empty());
        assert_eq!(loose("args: [a, 1]\n").unwrap().value.args, ["a", "1"]);
        assert!(strict("args: -x\n").is_err());
        assert_eq!(
            loose("count: 0x10\nflag:\n").unwrap().value,
            Loose {
                flag: false,
                count: 16,
                args: vec![]
            }
        );
    }

    #[test]
    fn errors_of_the_target_type_carry_the_node_position() {
        #[derive(Debug, serde::Deserialize)]
        struct Timed {
            #[serde(deserialize_with = "duration")]
            #[allow(dead_code)]
            timeout: std::time::Duration,
        }
        fn duration<'de, D: serde::Deserializer<'de>>(
            d: D,
        ) -> Result<std::time::Duration, D::Error> {
            let text = <String as serde::Deserialize>::deserialize(d)?;
            crate::duration::parse_duration(&text).map_err(serde::de::Error::custom)
        }
        let err =
            parse::<Timed>("\n\ntimeout:   soon\n", Path::new("t"), Scalars::Strict).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("t:3:12: timeout: invalid duration \"soon\""),
            "{err}"
        );
    }

    #[test]
    fn anchors_aliases_and_several_documents() {
        let decoded = parse::<Project>(
            "labels: &l {a: x}\ndependencies:\n  - url: *u\n",
            Path::new("p"),
            Scalars::Strict,
        );
        assert!(decoded.unwrap_err().to_string().starts_with("p:3:"));
        let text = "dependencies:\n  - &d {url: a}\n  - *d\n";
        let decoded = parse::<Project>(text, Path::new("p"), Scalars::Strict).unwrap();
        assert_eq!(decoded.value.dependencies[1].url, "a");
        let err = parse::<Project>(
            "labels: {}\n---\nlabels: {}\n",
            Path::new("p"),
            Scalars::Strict,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "p:3:1: the file holds more than one YAML document"
        );
    }

    #[test]
    fn comments_anywhere_and_alias_bombs() {
        let comments = "# c\n".repeat(300);
        let text = format!("{comments}kind:\n{comments}  workers: 1 # w\n{comments}");
        assert_eq!(parse_ktbx(&text).unwrap().value.kind.workers, 1);
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for (i, prev) in ["b", "c", "d", "e", "f", "g"]
            .iter()
            .zip(["a", "b", "c", "d", "e", "f"])
        {
            bomb.push_str(&format!("{i}: &{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        let err = parse_tree(&bomb, Path::new("b")).unwrap_err();
        assert!(
            err.to_string()
                .contains("aliases expand to more than 100000 nodes"),
            "{err}"
        );
    }

    #[test]
    fn syntax_error_reports_file_line_and_column() {
        let text = "kind:\n  workers: 2\n  bad: [1, 2\nsingle: true\n";
        let err =
            parse::<KtbxConfig>(text, Path::new("/etc/ktbx/config"), Scalars::Strict).unwrap_err();
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
        let err = parse::<KtbxConfig>(
            "kind:\n  workers: three\n",
            Path::new("config.yaml"),
            Scalars::Strict,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.yaml:2:12: kind.workers: invalid type: string \"three\", expected u32"
        );
        let err = parse::<KtbxConfig>("kind:\n  workers: -1\n", Path::new("c"), Scalars::Strict)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "c:2:12: kind.workers: invalid value: integer `-1`, expected u32"
        );
    }

    #[test]
    fn missing_required_key_is_an_error() {
        let err = parse_ktbx("single: true\n").unwrap_err();
        assert_eq!(err.to_string(), "config:1:1: missing field `kind`");
    }

    #[test]
    fn duplicate_keys_are_an_error() {
        let err = parse_ktbx("kind:\n  workers: 1\n  workers: 2\n").unwrap_err();
        assert!(matches!(err, ConfigError::Parse { line: 3, .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "config:3:3: kind: duplicate mapping key `workers`"
        );
    }

    #[test]
    fn unreadable_file_is_an_error_naming_it() {
        let err =
            load::<KtbxConfig>(Path::new("/nonexistent/config"), Scalars::Strict).unwrap_err();
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
        let err = load::<KtbxConfig>(&fifo, Scalars::Strict).unwrap_err();
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
    fn load_reads_the_file() {
        let d = dirs();
        let path = d.cwd.join("config");
        std::fs::write(&path, "kind:\n  workers: 0\n").unwrap();
        assert_eq!(
            load::<KtbxConfig>(&path, Scalars::Strict)
                .unwrap()
                .value
                .kind
                .workers,
            0
        );
    }

    #[test]
    fn trees_merge_without_case_and_errors_name_the_file_of_the_node() {
        let d = dirs();
        let main = d.cwd.join("finkctl.yaml");
        let secret = d.cwd.join("finkctl.secret.yaml");
        std::fs::write(
            &main,
            "Kind:\n  Workers: 3\n  extraMountPath: /a\nsingle: false\n",
        )
        .unwrap();
        std::fs::write(&secret, "kind:\n  workers: 5\n  other: x\n").unwrap();
        let mut tree = read_tree(&main).unwrap();
        tree.merge(read_tree(&secret).unwrap());
        let decoded = decode::<KtbxConfig>(&tree, Scalars::Strict).unwrap();
        assert_eq!(decoded.value.kind.workers, 5);
        assert_eq!(decoded.value.kind.extra_mount_path.as_deref(), Some("/a"));
        assert_eq!(decoded.unknown, ["Kind.other"]);

        std::fs::write(&secret, "kind:\n  workers: x\n").unwrap();
        let mut tree = read_tree(&main).unwrap();
        tree.merge(read_tree(&secret).unwrap());
        let err = decode::<KtbxConfig>(&tree, Scalars::Strict).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}:2:12: Kind.workers: invalid type: string \"x\", expected u32",
                secret.display()
            )
        );
        // A null overlay keeps the base; an empty file is null.
        let mut tree = read_tree(&main).unwrap();
        tree.merge(parse_tree("# nothing\n", &secret).unwrap());
        assert_eq!(
            decode::<KtbxConfig>(&tree, Scalars::Strict)
                .unwrap()
                .value
                .kind
                .workers,
            3
        );
    }

    #[test]
    fn bad_yaml_reports_location() {
        let d = dirs();
        let path = d.cwd.join("finkctl.yaml");
        std::fs::write(&path, "run:\n  cpu: [\n").unwrap();
        let err = read_tree(&path).unwrap_err();
        assert!(matches!(err, ConfigError::Parse { .. }), "{err}");
        assert!(
            err.to_string().starts_with(&format!("{}:", path.display())),
            "{err}"
        );
        let err = parse_tree("a: 1\n- b\n", Path::new("x")).unwrap_err();
        assert!(err.to_string().starts_with("x:2:"), "{err}");
        let err = parse_tree("? [a]\n: 1\n", Path::new("x")).unwrap_err();
        assert_eq!(err.to_string(), "x:1:3: mapping keys must be scalars");
    }
}
