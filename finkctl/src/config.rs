//! `finkctl.yaml` + `finkctl.secret.yaml`: discovery, deep merge, case-insensitive keys, the
//! original's loose typing (numbers read as strings, Go booleans) and secret redaction.
//!
//! Discovery: `--config`/`--secret` name files explicitly; otherwise each file is searched on its
//! own in `$FINKCONFIG` (the only directory when set), else the working directory, then
//! `$HOME/.finkctl`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use common::config::{ConfigLocator, deep_merge, lowercase_keys, parse_yaml, read_config_file};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};
use thiserror::Error;

/// Name of the main configuration file.
pub(crate) const CONFIG_FILE: &str = "finkctl.yaml";
/// Name of the secret configuration file, deep-merged over the main one.
pub(crate) const SECRET_FILE: &str = "finkctl.secret.yaml";

/// Keys whose values are never shown.
const SECRET_KEYS: &[&str] = &["s3.id", "s3.secret", "distribution.kafka.password"];

/// Every key finkctl reads (lower case, dotted). Anything else in the files is warned about.
const KNOWN_KEYS: &[&str] = &[
    "apiversion",
    "run.cpu",
    "run.memory",
    "run.instances",
    "run.fink_trigger_update",
    "run.image",
    "run.online_data_prefix",
    "run.producer",
    "run.log_level",
    "run.night",
    "run.service_account",
    "run.script_dir",
    "run.spark_version",
    "run.extra_args",
    "run.restart_policy",
    "stream2raw.restart_policy",
    "raw2science.restart_policy",
    "distribution.restart_policy",
    "stream2raw.cpu",
    "stream2raw.memory",
    "stream2raw.instances",
    "stream2raw.kafka_socket",
    "stream2raw.fink_alert_schema",
    "stream2raw.kafka_starting_offset",
    "stream2raw.kafka_topic",
    "stream2raw.max_offsets_per_trigger",
    "stream2raw.night_arg",
    "stream2raw.extra_args",
    "raw2science.cpu",
    "raw2science.memory",
    "raw2science.instances",
    "raw2science.mmconfigpath",
    "raw2science.extra_args",
    "distribution.cpu",
    "distribution.memory",
    "distribution.instances",
    "distribution.distribution_servers",
    "distribution.distribution_schema",
    "distribution.substream_prefix",
    "distribution.kafka_buffer_memory",
    "distribution.kafka_delivery_timeout_ms",
    "distribution.mmconfigpath",
    "distribution.kafka_security_protocol",
    "distribution.extra_args",
    "distribution.kafka.username",
    "distribution.kafka.password",
    "s3.endpoint",
    "s3.use_ssl",
    "s3.bucket",
    "s3.id",
    "s3.secret",
    "kafka.namespace",
    "kafka.user_secret",
    "kafka.broker_pod",
    "kafka.broker_container",
    "kafka.bootstrap_server",
    "kafka.topic_prefix",
    "kafka.topics_script",
];

/// A configuration problem.
#[derive(Debug, Error)]
pub(crate) enum ConfigError {
    /// A required file was not found in any searched place.
    #[error(
        "{file} not found (searched {searched}): set FINKCONFIG to the directory that holds it, or pass --{flag} <file>"
    )]
    NotFound {
        /// File name looked for.
        file: &'static str,
        /// The places searched.
        searched: String,
        /// The flag that names the file explicitly.
        flag: &'static str,
    },
    /// A file cannot be found, read or parsed (the message names file, line and column).
    #[error(transparent)]
    File(#[from] common::config::ConfigError),
    /// A value has the wrong shape for its key.
    #[error("config key {key}: {problem}")]
    Value {
        /// Dotted key.
        key: String,
        /// What is wrong.
        problem: String,
    },
}

/// Where to look for the files: explicit paths from the flags, and the search environment.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConfigSources {
    /// `--config <file>`.
    pub(crate) config: Option<PathBuf>,
    /// `--secret <file>`.
    pub(crate) secret: Option<PathBuf>,
    /// `$FINKCONFIG`: when set, the only place searched (a directory, or a file).
    pub(crate) finkconfig: Option<OsString>,
    /// The working directory.
    pub(crate) cwd: PathBuf,
    /// `$HOME`.
    pub(crate) home: Option<PathBuf>,
}

impl ConfigSources {
    /// Sources from the flags and the process environment.
    pub(crate) fn from_env(config: Option<PathBuf>, secret: Option<PathBuf>) -> Self {
        Self {
            config,
            secret,
            finkconfig: std::env::var_os("FINKCONFIG"),
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            home: std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        }
    }

    fn locate(
        &self,
        explicit: Option<&PathBuf>,
        file: &'static str,
        names: &'static [&'static str],
        flag: &'static str,
        required: bool,
    ) -> Result<Option<PathBuf>, ConfigError> {
        let locator = ConfigLocator {
            explicit: explicit.cloned(),
            env_var: "FINKCONFIG",
            file_names: names,
            home_subdir: ".finkctl",
        };
        let found =
            match locator.find_from(self.finkconfig.clone(), &self.cwd, self.home.as_deref()) {
                // Commands that only read optional keys do not fail on a FINKCONFIG directory
                // lacking one of the files (the original did not read them at all).
                Err(common::config::ConfigError::NotInDir { .. })
                    if !required && explicit.is_none() =>
                {
                    None
                }
                other => other?,
            };
        match found {
            None if required => Err(ConfigError::NotFound {
                file,
                searched: locator.searched(),
                flag,
            }),
            found => Ok(found),
        }
    }
}

/// The merged configuration, keys in lower case.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FinkConfig {
    tree: Map<String, Value>,
}

impl FinkConfig {
    /// Finds, reads and merges both files. With `required`, a file that is not found is an
    /// error (commands that build Spark jobs need them); otherwise missing files mean defaults.
    pub(crate) fn load(sources: &ConfigSources, required: bool) -> Result<Self, ConfigError> {
        let main = sources.locate(
            sources.config.as_ref(),
            CONFIG_FILE,
            &[CONFIG_FILE],
            "config",
            required,
        )?;
        let secret = sources.locate(
            sources.secret.as_ref(),
            SECRET_FILE,
            &[SECRET_FILE],
            "secret",
            required,
        )?;
        let mut config = Self { tree: Map::new() };
        for path in main.iter().chain(secret.iter()) {
            tracing::debug!(file = %path.display(), "reading configuration");
            config.merge(parse_document(&read_config_file(path)?, path)?);
        }
        config.warn_unknown_keys();
        Ok(config)
    }

    /// Merges YAML texts in order (tests and embedding); later documents win.
    #[cfg(test)]
    pub(crate) fn from_yaml_texts(texts: &[&str]) -> Result<Self, ConfigError> {
        let mut config = Self { tree: Map::new() };
        for text in texts {
            let origin = Path::new("<inline>");
            config.merge(parse_document(text, origin)?);
        }
        Ok(config)
    }

    fn merge(&mut self, overlay: Map<String, Value>) {
        let mut tree = Value::Object(std::mem::take(&mut self.tree));
        deep_merge(&mut tree, Value::Object(overlay));
        if let Value::Object(map) = tree {
            self.tree = map;
        }
    }

    /// Sets `key` (dotted) to a string, e.g. `s3.endpoint` from `--endpoint`.
    pub(crate) fn set_string(&mut self, key: &str, value: &str) {
        let mut parts: Vec<&str> = key.split('.').collect();
        let last = parts.pop().unwrap_or(key);
        let mut node = &mut self.tree;
        for part in parts {
            let entry = node
                .entry(part.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            node = entry.as_object_mut().expect("just made an object");
        }
        node.insert(last.to_string(), Value::String(value.to_string()));
    }

    fn lookup(&self, key: &str) -> Option<&Value> {
        let mut parts = key.split('.');
        let mut value = self.tree.get(parts.next()?)?;
        for part in parts {
            value = value.as_object()?.get(part)?;
        }
        Some(value)
    }

    /// The raw value of `key` (dotted), for typed sections decoded by their own module.
    pub(crate) fn value(&self, key: &str) -> Option<&Value> {
        self.lookup(key)
    }

    /// The value of `key` as a string: absent or null is `""`, numbers and booleans are
    /// written out (`night: 20240101` reads `"20240101"`); mappings and lists are an error.
    pub(crate) fn string(&self, key: &str) -> Result<String, ConfigError> {
        match self.lookup(key) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            Some(Value::Bool(b)) => Ok(b.to_string()),
            Some(_) => Err(ConfigError::Value {
                key: key.to_string(),
                problem: "expected a single value, found a mapping or a list".into(),
            }),
        }
    }

    /// The value of `key`, or `default` when absent or empty.
    pub(crate) fn string_or(&self, key: &str, default: &str) -> Result<String, ConfigError> {
        let value = self.string(key)?;
        Ok(if value.is_empty() {
            default.to_string()
        } else {
            value
        })
    }

    /// The value of `key` as a boolean, Go style (`1 t T TRUE true True 0 f F FALSE false
    /// False`); absent or empty is `false`.
    pub(crate) fn boolean(&self, key: &str) -> Result<bool, ConfigError> {
        let value = self.string(key)?;
        if value.is_empty() {
            return Ok(false);
        }
        parse_go_bool(&value).ok_or_else(|| ConfigError::Value {
            key: key.to_string(),
            problem: format!("{value:?} is not a boolean (use true or false)"),
        })
    }

    /// The value of `key` as a list of strings; absent is empty, a single value is one item.
    pub(crate) fn list(&self, key: &str) -> Result<Vec<String>, ConfigError> {
        match self.lookup(key) {
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    Value::Bool(b) => Ok(b.to_string()),
                    _ => Err(ConfigError::Value {
                        key: key.to_string(),
                        problem: "list items must be single values".into(),
                    }),
                })
                .collect(),
            _ => {
                let single = self.string(key)?;
                Ok(if single.is_empty() {
                    Vec::new()
                } else {
                    vec![single]
                })
            }
        }
    }

    /// The whole configuration as YAML with secret values replaced by `<redacted>`.
    pub(crate) fn redacted_yaml(&self) -> String {
        let mut tree = Value::Object(self.tree.clone());
        for key in SECRET_KEYS {
            let pointer = format!("/{}", key.replace('.', "/"));
            if let Some(value) = tree.pointer_mut(&pointer)
                && (matches!(value, Value::String(s) if !s.is_empty())
                    || value.is_number()
                    || value.is_boolean())
            {
                *value = Value::String("<redacted>".into());
            }
        }
        serde_saphyr::to_string(&tree).unwrap_or_default()
    }

    /// Dotted keys present in the files that finkctl does not know.
    pub(crate) fn unknown_keys(&self) -> Vec<String> {
        let mut unknown = Vec::new();
        collect_unknown(&self.tree, "", &mut unknown);
        unknown
    }

    fn warn_unknown_keys(&self) {
        for key in self.unknown_keys() {
            tracing::warn!("unknown configuration key {key} is ignored");
        }
    }
}

fn collect_unknown(map: &Map<String, Value>, prefix: &str, out: &mut Vec<String>) {
    for (key, value) in map {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        if KNOWN_KEYS.contains(&path.as_str()) {
            continue;
        }
        let is_section = KNOWN_KEYS
            .iter()
            .any(|k| k.starts_with(&format!("{path}.")));
        match value {
            Value::Object(inner) if is_section => collect_unknown(inner, &path, out),
            _ => out.push(path),
        }
    }
}

/// Go's `strconv.ParseBool`.
pub(crate) fn parse_go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Parses one file: a mapping of sections, keys in lower case. A known section (`run`, `s3`,
/// `distribution.kafka`, ...) that is not a mapping is an error at its line and column.
fn parse_document(text: &str, origin: &Path) -> Result<Map<String, Value>, ConfigError> {
    let Document(value) = parse_yaml(text, origin)?;
    Ok(match lowercase_keys(value) {
        Value::Object(map) => map,
        _ => Map::new(),
    })
}

/// A whole file, checked section by section while it is parsed (positions are known then).
struct Document(Value);

impl<'de> serde::Deserialize<'de> for Document {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Section {
            path: String::new(),
        }
        .deserialize(deserializer)
        .map(Document)
    }
}

/// A section (or the top level): a mapping, or nothing at all.
struct Section {
    path: String,
}

impl Section {
    fn holds(path: &str) -> bool {
        KNOWN_KEYS.iter().any(|k| {
            k.strip_prefix(path)
                .is_some_and(|rest| rest.starts_with('.'))
        })
    }
}

impl<'de> DeserializeSeed<'de> for Section {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Section {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str("a mapping of sections (run:, s3:, ...)")
        } else {
            write!(f, "a mapping of {} settings", self.path)
        }
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let lower = key.to_lowercase();
            let path = if self.path.is_empty() {
                lower
            } else {
                format!("{}.{lower}", self.path)
            };
            let value = if Self::holds(&path) {
                map.next_value_seed(Section { path })?
            } else {
                map.next_value::<Value>()?
            };
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIN: &str = "run:\n  Night: 20240101\n  cpu: 0\n  image: img\ns3:\n  use_ssl: \"false\"\n  bucket: b\ndistribution:\n  kafka:\n    username: u\n";
    const SECRET: &str =
        "s3:\n  id: minioadmin\n  secret: s3cr3t\ndistribution:\n  kafka:\n    password: pw\n";

    #[test]
    fn secret_is_deep_merged_and_keys_lowercased() {
        let c = FinkConfig::from_yaml_texts(&[MAIN, SECRET]).unwrap();
        assert_eq!(c.string("run.night").unwrap(), "20240101");
        assert_eq!(c.string("run.cpu").unwrap(), "0");
        assert_eq!(c.string("s3.bucket").unwrap(), "b");
        assert_eq!(c.string("s3.secret").unwrap(), "s3cr3t");
        assert_eq!(c.string("distribution.kafka.username").unwrap(), "u");
        assert_eq!(c.string("distribution.kafka.password").unwrap(), "pw");
        assert_eq!(c.string("run.absent").unwrap(), "");
    }

    #[test]
    fn go_booleans_and_wrong_shapes() {
        let c = FinkConfig::from_yaml_texts(&[MAIN, "x:\n  t: T\n  bad: maybe\n  n: 1\n"]).unwrap();
        assert!(!c.boolean("s3.use_ssl").unwrap());
        assert!(c.boolean("x.t").unwrap());
        assert!(c.boolean("x.n").unwrap());
        assert!(!c.boolean("x.absent").unwrap());
        assert!(
            c.boolean("x.bad")
                .unwrap_err()
                .to_string()
                .contains("\"maybe\" is not a boolean")
        );
        assert!(
            c.string("run")
                .unwrap_err()
                .to_string()
                .contains("config key run")
        );
    }

    #[test]
    fn lists_accept_one_value_or_many() {
        let c =
            FinkConfig::from_yaml_texts(&["run:\n  extra_args: [-a, 1]\nr:\n  one: -x\n"]).unwrap();
        assert_eq!(c.list("run.extra_args").unwrap(), vec!["-a", "1"]);
        assert_eq!(c.list("r.one").unwrap(), vec!["-x"]);
        assert!(c.list("r.none").unwrap().is_empty());
    }

    #[test]
    fn redaction_hides_secrets_only() {
        let c = FinkConfig::from_yaml_texts(&[MAIN, SECRET]).unwrap();
        let dump = c.redacted_yaml();
        assert!(
            !dump.contains("s3cr3t") && !dump.contains("minioadmin") && !dump.contains("pw\n"),
            "{dump}"
        );
        assert!(
            dump.contains("<redacted>") && dump.contains("image: img"),
            "{dump}"
        );
    }

    #[test]
    fn unknown_keys_are_reported_with_their_path() {
        let c =
            FinkConfig::from_yaml_texts(&["apiVersion: v1\nrun:\n  cpus: 1\n  cpu: 1\nfoo: 2\n"])
                .unwrap();
        assert_eq!(c.unknown_keys(), vec!["foo", "run.cpus"]);
    }

    #[test]
    fn yaml_errors_carry_the_file_and_a_location() {
        let err = FinkConfig::from_yaml_texts(&["run:\n  cpu: 1\n bad: [\n"])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("<inline>:3:"), "{err}");
        assert!(FinkConfig::from_yaml_texts(&["- a\n"]).is_err());
        let err = FinkConfig::from_yaml_texts(&["s3:\n  id: x\nDistribution:\n  kafka: 5\n"])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("<inline>:4:")
                && err.contains("a mapping of distribution.kafka settings"),
            "{err}"
        );
        let c = FinkConfig::from_yaml_texts(&["run:\ns3: ~\n"]).unwrap();
        assert_eq!(c.string("run.night").unwrap(), "");
        assert_eq!(
            FinkConfig::from_yaml_texts(&["# only comments\n"])
                .unwrap()
                .unknown_keys()
                .len(),
            0
        );
    }

    #[test]
    fn set_string_overrides() {
        let mut c = FinkConfig::from_yaml_texts(&[MAIN]).unwrap();
        c.set_string("s3.endpoint", "localhost:9000");
        assert_eq!(c.string("s3.endpoint").unwrap(), "localhost:9000");
    }

    #[test]
    fn discovery_searches_each_file_and_reports_the_directories() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path().join("cwd");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&cwd).unwrap();
        std::fs::create_dir_all(home.join(".finkctl")).unwrap();
        std::fs::write(cwd.join(CONFIG_FILE), "run:\n  night: 1\n").unwrap();
        std::fs::write(home.join(".finkctl").join(SECRET_FILE), "s3:\n  id: i\n").unwrap();
        let sources = ConfigSources {
            cwd: cwd.clone(),
            home: Some(home.clone()),
            ..Default::default()
        };
        let c = FinkConfig::load(&sources, true).unwrap();
        assert_eq!(c.string("run.night").unwrap(), "1");
        assert_eq!(c.string("s3.id").unwrap(), "i");

        // FINKCONFIG is the only place searched.
        let only = ConfigSources {
            finkconfig: Some(home.join(".finkctl").into()),
            ..sources.clone()
        };
        assert_eq!(
            FinkConfig::load(&only, false)
                .unwrap()
                .string("s3.id")
                .unwrap(),
            "i"
        );
        let err = FinkConfig::load(&only, true).unwrap_err().to_string();
        assert!(err.starts_with("no finkctl.yaml in "), "{err}");
        assert!(err.contains("$FINKCONFIG"), "{err}");

        let empty = tempfile::tempdir().unwrap();
        let nowhere = ConfigSources {
            cwd: empty.path().to_path_buf(),
            home: None,
            ..Default::default()
        };
        let err = FinkConfig::load(&nowhere, true).unwrap_err().to_string();
        assert!(
            err.starts_with("finkctl.yaml not found (searched $FINKCONFIG"),
            "{err}"
        );
        assert!(err.contains("--config <file>"), "{err}");
        assert!(FinkConfig::load(&nowhere, false).is_ok());

        let explicit = ConfigSources {
            config: Some(dir.path().join("nope.yaml")),
            ..sources
        };
        let err = FinkConfig::load(&explicit, false).unwrap_err().to_string();
        assert!(
            err.contains("nope.yaml") && err.contains("does not exist"),
            "{err}"
        );
    }
}
