//! The ktbx configuration file: discovery (`$KTBXCONFIG`, then `./config[.json|.yaml|.yml]`, then
//! `~/.ktbx/config[…]`), YAML decoding with case-insensitive keys (as viper did), defaults and
//! strict types. A broken file is an error naming the file and the place, never a silent default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::config::{ConfigLocator, Scalars};
use serde::{Deserialize, Deserializer};

use crate::targets::Cni;

/// Environment variable naming the config file explicitly.
pub(crate) const CONFIG_ENV: &str = "KTBXCONFIG";

/// File names tried in each directory, in viper's order (only the formats that parse as YAML).
pub(crate) const FILE_NAMES: &[&str] = &["config.json", "config.yaml", "config.yml", "config"];

/// Default number of worker nodes.
pub(crate) const DEFAULT_WORKERS: u32 = 3;

/// Errors of config loading.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// The file could not be found or read.
    #[error(transparent)]
    Locate(common::config::ConfigError),
    /// The file is not valid YAML or has a value of the wrong type (the message names the file,
    /// line and column).
    #[error("invalid config file {0}")]
    Parse(common::config::ConfigError),
}

impl From<common::config::ConfigError> for ConfigError {
    fn from(e: common::config::ConfigError) -> Self {
        match e {
            common::config::ConfigError::Parse { .. } => Self::Parse(e),
            other => Self::Locate(other),
        }
    }
}

/// The kind settings (`kind:` map of the file).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct KindSettings {
    /// Number of worker nodes (`kind.workers`, default 3).
    #[serde(deserialize_with = "workers")]
    pub(crate) workers: u32,
    /// CNI replacing kindnet (`kind.cni`).
    #[serde(deserialize_with = "cni")]
    pub(crate) cni: Option<Cni>,
    /// Host directory mounted at `/mnt/extra` on every node (`kind.extraMountPath`).
    pub(crate) extra_mount_path: String,
    /// API-server audit policy file (`kind.auditPolicy`).
    pub(crate) audit_policy: String,
    /// Adds 127.0.0.1 to the API server certificate SANs (`kind.localCertSans`).
    pub(crate) local_cert_sans: bool,
    /// `host:port` of a registry trusted without TLS verification (`kind.privateRegistry`).
    pub(crate) private_registry: String,
    /// Node image (`kind.image`, new in the Rust port).
    #[serde(deserialize_with = "image")]
    pub(crate) image: String,
}

impl Default for KindSettings {
    fn default() -> Self {
        Self {
            workers: DEFAULT_WORKERS,
            cni: None,
            extra_mount_path: String::new(),
            audit_policy: String::new(),
            local_cert_sans: false,
            private_registry: String::new(),
            image: String::new(),
        }
    }
}

/// Per-tool overrides of the config file (`tools.<tool>.version`, `tools.<tool>.url`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub(crate) struct ToolSettings {
    /// Version replacing the pinned one.
    #[serde(deserialize_with = "non_empty")]
    pub(crate) version: Option<String>,
    /// Download URL template replacing the built-in one (`{version}`, `{os}`, `{arch}` are substituted).
    #[serde(deserialize_with = "non_empty")]
    pub(crate) url: Option<String>,
}

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub(crate) struct Config {
    /// Top-level `single`: same as `--single`.
    pub(crate) single: bool,
    /// The `kind:` map.
    pub(crate) kind: KindSettings,
    /// The `tools:` map, keyed by lower-case tool name.
    pub(crate) tools: BTreeMap<String, ToolSettings>,
    /// Top-level `timeout` (`90s`, `5m`): how long each wait may take when `--timeout` is not given.
    #[serde(deserialize_with = "timeout")]
    pub(crate) timeout: Option<Duration>,
    /// Keys that were ignored, as dotted paths (reported as warnings).
    #[serde(skip)]
    pub(crate) unknown_keys: Vec<String>,
}

/// Where ktbx looks for its config file: `$KTBXCONFIG`, the working directory, `~/.ktbx`.
pub(crate) fn locator() -> ConfigLocator {
    ConfigLocator {
        explicit: None,
        env_var: CONFIG_ENV,
        file_names: FILE_NAMES,
        home_subdir: ".ktbx",
    }
}

impl Config {
    /// Finds and loads the config file; defaults when there is none. `is_tool` tells the tool
    /// names of the `tools:` map from unknown keys.
    pub(crate) fn discover(
        found: Option<PathBuf>,
        is_tool: IsTool<'_>,
    ) -> Result<(Self, Option<PathBuf>), ConfigError> {
        match found {
            Some(path) => Ok((Self::load(&path, is_tool)?, Some(path))),
            None => Ok((Self::default(), None)),
        }
    }

    /// Loads one file.
    pub(crate) fn load(path: &Path, is_tool: IsTool<'_>) -> Result<Self, ConfigError> {
        Self::from_tree(&common::config::read_tree(path)?, is_tool)
    }

    /// Parses the text of a config file (`origin` only names it in errors).
    #[cfg(test)]
    pub(crate) fn parse(
        text: &str,
        origin: &Path,
        is_tool: IsTool<'_>,
    ) -> Result<Self, ConfigError> {
        Self::from_tree(&common::config::parse_tree(text, origin)?, is_tool)
    }

    /// Decodes a file's tree strictly (viper decoded ktbx's keys without weak typing), keeping
    /// the `tools:` entries that name a tool of the version table, by lower-case name.
    fn from_tree(tree: &common::config::Node, is_tool: IsTool<'_>) -> Result<Self, ConfigError> {
        let decoded = common::config::decode::<Self>(tree, Scalars::Strict)?;
        let mut config = decoded.value;
        config.unknown_keys = decoded.unknown;
        for (key, settings) in std::mem::take(&mut config.tools) {
            let name = key.to_ascii_lowercase();
            if is_tool(&name) {
                config.tools.insert(name, settings);
            } else {
                config.unknown_keys.push(format!("tools.{key}"));
            }
        }
        Ok(config)
    }
}

/// Tells whether a lower-case name is a tool of the version table (given by the caller, so that
/// the config module stays below the table).
pub(crate) type IsTool<'a> = &'a dyn Fn(&str) -> bool;

/// `kind.workers`; null is the default.
fn workers<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    Ok(Option::<u32>::deserialize(d)?.unwrap_or(DEFAULT_WORKERS))
}

/// A string where empty (or null) means unset.
fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Some(String::deserialize(d)?).filter(|v| !v.is_empty()))
}

/// `kind.cni`: `calico`, `cilium`, or empty.
fn cni<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cni>, D::Error> {
    match String::deserialize(d)?.as_str() {
        "" => Ok(None),
        "calico" => Ok(Some(Cni::Calico)),
        "cilium" => Ok(Some(Cni::Cilium)),
        other => Err(serde::de::Error::custom(format!(
            "unsupported cni plugin {other:?} (expected calico or cilium)"
        ))),
    }
}

/// `kind.image`: empty, or a valid image reference.
fn image<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let value = String::deserialize(d)?;
    if !value.is_empty() {
        common::image_ref::checked(&value).map_err(serde::de::Error::custom)?;
    }
    Ok(value)
}

/// `timeout`: a Go duration, or empty.
fn timeout<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    if text.is_empty() {
        return Ok(None);
    }
    common::duration::parse_duration(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stands for the version table (which this module does not know).
    fn is_tool(name: &str) -> bool {
        ["kind", "kubectl", "helm"].contains(&name)
    }

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/cfg/config.yaml"), &is_tool)
    }

    #[test]
    fn sample_configs_decode_like_the_original() {
        let audit = parse(include_str!("../tests/fixtures/dot-config-audit")).unwrap();
        assert_eq!(audit.kind.workers, 1);
        assert_eq!(audit.kind.cni, None);
        assert_eq!(audit.kind.extra_mount_path, "/media");
        assert!(!audit.kind.local_cert_sans);
        assert_eq!(
            audit.kind.private_registry,
            "docker-registry.docker-registry:5000"
        );
        assert_eq!(audit.kind.audit_policy, "/tmp/audit-policy.yaml");
        assert!(audit.unknown_keys.is_empty());
        let example = parse(include_str!("../tests/fixtures/dot-config.example")).unwrap();
        assert_eq!(example.kind.audit_policy, "");
        assert_eq!(example.kind.workers, 1);
    }

    #[test]
    fn defaults_without_keys() {
        let c = parse("").unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.kind.workers, 3);
        assert_eq!(parse("kind:\n").unwrap().kind.workers, 3);
    }

    #[test]
    fn keys_are_case_insensitive_and_single_is_top_level() {
        let c = parse("SINGLE: true\nKind:\n  WORKERS: 2\n  ExtraMountPath: /d\n  CNI: cilium\n  localcertsans: true\n")
            .unwrap();
        assert!(c.single);
        assert_eq!(c.kind.workers, 2);
        assert_eq!(c.kind.extra_mount_path, "/d");
        assert_eq!(c.kind.cni, Some(Cni::Cilium));
        assert!(c.kind.local_cert_sans);
    }

    #[test]
    fn strict_types_fail_with_the_location() {
        for bad in [
            "kind:\n  workers: -1\n",
            "kind:\n  workers: many\n",
            "kind:\n  workers: [1]\n",
        ] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(
                err.starts_with("invalid config file /cfg/config.yaml:2:12: kind.workers: "),
                "{err}"
            );
        }
    }

    #[test]
    fn yaml_syntax_errors_are_errors_not_defaults() {
        let err = parse("kind:\n  workers: 1\n bad: [\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("invalid config file /cfg/config.yaml"),
            "{err}"
        );
    }

    #[test]
    fn timeout_is_a_go_duration() {
        assert_eq!(
            parse("timeout: 5m\n").unwrap().timeout,
            Some(Duration::from_secs(300))
        );
        assert_eq!(parse("timeout:\n").unwrap().timeout, None);
        let err = parse("single: false\ntimeout: soon\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "invalid config file /cfg/config.yaml:2:10: timeout: invalid duration \"soon\""
            ),
            "{err}"
        );
    }

    #[test]
    fn unsupported_cni_in_the_file_is_rejected() {
        let err = parse("kind:\n  cni: flannel\n").unwrap_err().to_string();
        assert!(
            err.contains(
                "/cfg/config.yaml:2:8: kind.cni: unsupported cni plugin \"flannel\" (expected calico or cilium)"
            ),
            "{err}"
        );
        assert_eq!(parse("kind:\n  cni: \"\"\n").unwrap().kind.cni, None);
    }

    #[test]
    fn unknown_keys_are_collected_with_their_path() {
        let c = parse(
            "kind:\n  wrokers: 1\nother: 2\ntools:\n  kind:\n    version: v0.30.0\n    sha: x\n  flannel:\n    version: v1.0.0\n",
        )
        .unwrap();
        assert_eq!(
            c.unknown_keys,
            vec!["kind.wrokers", "other", "tools.kind.sha", "tools.flannel"]
        );
        assert_eq!(c.tools["kind"].version.as_deref(), Some("v0.30.0"));
    }

    #[test]
    fn discovery_order_env_then_cwd_then_home() {
        let tmp = tempfile::tempdir().unwrap();
        let cwd = tmp.path().join("cwd");
        let home = tmp.path().join("home");
        std::fs::create_dir_all(&cwd).unwrap();
        std::fs::create_dir_all(home.join(".ktbx")).unwrap();
        let find = |env: Option<&Path>| {
            locator().find_from(env.map(|p| p.as_os_str().to_owned()), &cwd, Some(&home))
        };
        assert_eq!(find(None).unwrap(), None);
        std::fs::write(home.join(".ktbx/config"), "kind:\n  workers: 2\n").unwrap();
        assert_eq!(find(None).unwrap(), Some(home.join(".ktbx/config")));
        std::fs::create_dir(cwd.join("config")).unwrap(); // a directory is not a config file
        assert_eq!(find(None).unwrap(), Some(home.join(".ktbx/config")));
        std::fs::write(cwd.join("config.yml"), "kind:\n  workers: 1\n").unwrap();
        assert_eq!(find(None).unwrap(), Some(cwd.join("config.yml")));
        std::fs::write(cwd.join("config.json"), "{\"kind\": {\"workers\": 0}}").unwrap();
        let (c, path) = Config::discover(find(None).unwrap(), &is_tool).unwrap();
        assert_eq!((c.kind.workers, path), (0, Some(cwd.join("config.json"))));
        assert_eq!(
            find(Some(&home.join(".ktbx/config"))).unwrap(),
            Some(home.join(".ktbx/config"))
        );
        assert!(find(Some(&tmp.path().join("nope"))).is_err());
    }
}
