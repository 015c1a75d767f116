//! The ktbx configuration file: discovery (`$KTBXCONFIG`, then `./config[.json|.yaml|.yml]`, then
//! `~/.ktbx/config[…]`), YAML decoding with case-insensitive keys (as viper did), defaults and
//! strict types. A broken file is an error naming the file and the place, never a silent default.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::config::ConfigLocator;
use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::targets::Cni;

/// Environment variable naming the config file explicitly.
pub(crate) const CONFIG_ENV: &str = "KTBXCONFIG";

/// File names tried in each directory, in viper's order (only the formats that parse as YAML).
pub(crate) const FILE_NAMES: &[&str] = &["config.json", "config.yaml", "config.yml", "config"];

/// Default number of worker nodes.
pub(crate) const DEFAULT_WORKERS: u32 = 3;

/// Errors of config decoding (discovery errors are `common::config::ConfigError`).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// The file could not be found or read.
    #[error(transparent)]
    Locate(#[from] common::config::ConfigError),
    /// The file is not valid YAML or has a value of the wrong type.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The path.
        path: PathBuf,
        /// Parser message, with line and column.
        message: String,
    },
}

/// The kind settings (`kind:` map of the file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KindSettings {
    /// Number of worker nodes (`kind.workers`, default 3).
    pub(crate) workers: u32,
    /// CNI replacing kindnet (`kind.cni`).
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ToolSettings {
    /// Version replacing the pinned one.
    pub(crate) version: Option<String>,
    /// Download URL template replacing the built-in one (`{version}`, `{os}`, `{arch}` are substituted).
    pub(crate) url: Option<String>,
}

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Config {
    /// Top-level `single`: same as `--single`.
    pub(crate) single: bool,
    /// The `kind:` map.
    pub(crate) kind: KindSettings,
    /// The `tools:` map, keyed by lower-case tool name.
    pub(crate) tools: BTreeMap<String, ToolSettings>,
    /// Top-level `timeout` (`90s`, `5m`): how long each wait may take when `--timeout` is not given.
    pub(crate) timeout: Option<Duration>,
    /// Keys that were ignored, as dotted paths (reported as warnings).
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
        let text = common::config::read_config_file(path)?;
        Self::parse(&text, path, is_tool)
    }

    /// Parses the text of a config file (`origin` only names it in errors).
    pub(crate) fn parse(
        text: &str,
        origin: &Path,
        is_tool: IsTool<'_>,
    ) -> Result<Self, ConfigError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let parsed = serde_saphyr::with_deserializer_from_str(text, |d| {
            d.deserialize_option(ConfigVisitor { is_tool })
        })
        .map_err(|e| ConfigError::Parse {
            path: origin.to_path_buf(),
            message: e.to_string(),
        })?;
        Ok(parsed.unwrap_or_default())
    }
}

/// Visits a map whose keys are matched case-insensitively; `field` handles a lower-cased key and
/// returns false when it does not know it.
fn visit_map_ci<'de, A, F>(
    mut map: A,
    prefix: &str,
    unknown: &mut Vec<String>,
    mut field: F,
) -> Result<(), A::Error>
where
    A: MapAccess<'de>,
    F: FnMut(&str, &mut A, &mut Vec<String>) -> Result<bool, A::Error>,
{
    while let Some(key) = map.next_key::<String>()? {
        let lower = key.to_ascii_lowercase();
        if !field(&lower, &mut map, unknown)? {
            map.next_value::<IgnoredAny>()?;
            unknown.push(format!("{prefix}{key}"));
        }
    }
    Ok(())
}

/// A string value where YAML null (`key:`) means empty.
fn opt_string<'de, A: MapAccess<'de>>(map: &mut A) -> Result<String, A::Error> {
    Ok(map.next_value::<Option<String>>()?.unwrap_or_default())
}

/// A string value (YAML null: empty) and where it is, for errors about a valid YAML value that ktbx rejects.
fn located_string<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(String, String), A::Error> {
    Ok(
        match map.next_value::<Option<serde_saphyr::Spanned<String>>>()? {
            Some(s) => {
                let at = format!(
                    "at line {} column {}",
                    s.referenced.line(),
                    s.referenced.column()
                );
                (s.value, at)
            }
            None => (String::new(), String::new()),
        },
    )
}

/// Tells whether a lower-case name is a tool of the version table (given by the caller, so that
/// the config module stays below the table).
pub(crate) type IsTool<'a> = &'a dyn Fn(&str) -> bool;

/// Decodes the whole file (None: a null document).
struct ConfigVisitor<'a> {
    is_tool: IsTool<'a>,
}

impl<'de> Visitor<'de> for ConfigVisitor<'_> {
    type Value = Option<Config>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map with the keys kind, single, timeout, tools")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let is_tool = self.is_tool;
        let mut config = Config::default();
        let mut unknown = Vec::new();
        visit_map_ci(map, "", &mut unknown, |key, map, unknown| {
            match key {
                "single" => config.single = map.next_value::<Option<bool>>()?.unwrap_or(false),
                "timeout" => {
                    let (text, at) = located_string(map)?;
                    config.timeout = if text.is_empty() {
                        None
                    } else {
                        Some(
                            common::duration::parse_duration(&text)
                                .map_err(|e| de::Error::custom(format!("timeout: {e} {at}")))?,
                        )
                    };
                }
                "kind" => {
                    let section = map.next_value::<Option<KindSection>>()?.unwrap_or_default();
                    config.kind = section.settings;
                    unknown.extend(section.unknown);
                }
                "tools" => {
                    let section = map.next_value_seed(ToolsVisitor { is_tool })?;
                    config.tools = section.tools;
                    unknown.extend(section.unknown);
                }
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        config.unknown_keys = unknown;
        Ok(Some(config))
    }
}

#[derive(Default)]
struct KindSection {
    settings: KindSettings,
    unknown: Vec<String>,
}

impl<'de> Deserialize<'de> for KindSection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KindSection;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the kind map (workers, cni, extraMountPath, auditPolicy, localCertSans, privateRegistry, image)")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<KindSection, A::Error> {
                let mut s = KindSettings::default();
                let mut unknown = Vec::new();
                visit_map_ci(map, "kind.", &mut unknown, |key, map, _| {
                    match key {
                        "workers" => {
                            s.workers = map.next_value::<Option<u32>>()?.unwrap_or(DEFAULT_WORKERS)
                        }
                        "cni" => {
                            let (value, at) = located_string(map)?;
                            s.cni = match value.as_str() {
                                "" => None,
                                "calico" => Some(Cni::Calico),
                                "cilium" => Some(Cni::Cilium),
                                other => {
                                    return Err(de::Error::custom(format!(
                                        "kind.cni: unsupported cni plugin {other:?} (expected calico or cilium) {at}"
                                    )));
                                }
                            };
                        }
                        "extramountpath" => s.extra_mount_path = opt_string(map)?,
                        "auditpolicy" => s.audit_policy = opt_string(map)?,
                        "localcertsans" => {
                            s.local_cert_sans = map.next_value::<Option<bool>>()?.unwrap_or(false)
                        }
                        "privateregistry" => s.private_registry = opt_string(map)?,
                        "image" => {
                            let (value, at) = located_string(map)?;
                            if !value.is_empty() {
                                common::image_ref::checked(&value).map_err(|e| {
                                    de::Error::custom(format!("kind.image: {e} {at}"))
                                })?;
                            }
                            s.image = value;
                        }
                        _ => return Ok(false),
                    }
                    Ok(true)
                })?;
                Ok(KindSection {
                    settings: s,
                    unknown,
                })
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Default)]
struct ToolsSection {
    tools: BTreeMap<String, ToolSettings>,
    unknown: Vec<String>,
}

struct ToolEntry {
    settings: ToolSettings,
    unknown: Vec<String>,
}

impl<'de> Deserialize<'de> for ToolEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ToolEntry;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map with the keys version and url")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ToolEntry, A::Error> {
                let mut s = ToolSettings::default();
                let mut unknown = Vec::new();
                visit_map_ci(map, "", &mut unknown, |key, map, _| {
                    match key {
                        "version" => s.version = Some(opt_string(map)?).filter(|v| !v.is_empty()),
                        "url" => s.url = Some(opt_string(map)?).filter(|v| !v.is_empty()),
                        _ => return Ok(false),
                    }
                    Ok(true)
                })?;
                Ok(ToolEntry {
                    settings: s,
                    unknown,
                })
            }
        }
        d.deserialize_map(V)
    }
}

/// Decodes the `tools:` map (null: empty).
struct ToolsVisitor<'a> {
    is_tool: IsTool<'a>,
}

impl<'de> DeserializeSeed<'de> for ToolsVisitor<'_> {
    type Value = ToolsSection;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<ToolsSection, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for ToolsVisitor<'_> {
    type Value = ToolsSection;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map from tool name to {version, url}")
    }

    fn visit_none<E: de::Error>(self) -> Result<ToolsSection, E> {
        Ok(ToolsSection::default())
    }

    fn visit_unit<E: de::Error>(self) -> Result<ToolsSection, E> {
        Ok(ToolsSection::default())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<ToolsSection, D::Error> {
        d.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ToolsSection, A::Error> {
        let mut section = ToolsSection::default();
        while let Some(key) = map.next_key::<String>()? {
            let name = key.to_ascii_lowercase();
            let entry = map.next_value::<Option<ToolEntry>>()?;
            if !(self.is_tool)(&name) {
                section.unknown.push(format!("tools.{key}"));
                continue;
            }
            if let Some(entry) = entry {
                section.unknown.extend(
                    entry
                        .unknown
                        .into_iter()
                        .map(|k| format!("tools.{key}.{k}")),
                );
                section.tools.insert(name, entry.settings);
            }
        }
        Ok(section)
    }
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
            assert!(err.contains("/cfg/config.yaml"), "{err}");
            assert!(err.contains("line 2") || err.contains("2:"), "{err}");
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
                "invalid config file /cfg/config.yaml: timeout: invalid duration \"soon\""
            ),
            "{err}"
        );
        assert!(err.contains(" at line 2 column 10"), "{err}");
    }

    #[test]
    fn unsupported_cni_in_the_file_is_rejected() {
        let err = parse("kind:\n  cni: flannel\n").unwrap_err().to_string();
        assert!(
            err.contains(
                "unsupported cni plugin \"flannel\" (expected calico or cilium) at line 2 column 8"
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
