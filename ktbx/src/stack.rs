//! The stack file of `ktbx apply -f` / `ktbx delete -f`: one cluster (every setting of the
//! config file's `kind:` map, plus name, ports and image), the local registry, registry mirrors,
//! version pins and the add-ons in install order. Plain serde structs; keys are case-insensitive
//! (as in the config file): they are lower-cased in the text before decoding, which keeps every
//! error's line and column.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::config::Scalars;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::config::{DEFAULT_WORKERS, KindSettings};
use crate::kind_config::PortMapping;
use crate::mirrors::Mirrors;
use crate::targets::{Cni, InstallTarget};

/// Default port of the local registry.
pub(crate) const DEFAULT_REGISTRY_PORT: u16 = 5001;

/// Errors of a stack file.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StackError {
    /// Not found, not readable, not YAML, or a value of the wrong type (with file:line:column).
    #[error(transparent)]
    Decode(#[from] common::config::ConfigError),
    /// A well-typed value ktbx rejects.
    #[error("{}: {key}: {message}", path.display())]
    Invalid {
        /// The stack file.
        path: PathBuf,
        /// Dotted key path.
        key: String,
        /// What is wrong and what to do.
        message: String,
    },
}

/// The whole stack file.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(default)]
pub(crate) struct Stack {
    /// The kind cluster.
    pub(crate) cluster: ClusterSpec,
    /// The local registry container (`kind-registry` on 127.0.0.1:<port>), when present.
    pub(crate) registry: Option<RegistrySpec>,
    /// Registry mirrors: registry name to one URL or a list of URLs.
    pub(crate) mirrors: BTreeMap<String, Endpoints>,
    /// Versions replacing ktbx's pins (`--pin NAME=VERSION`), by table name.
    pub(crate) pins: BTreeMap<String, String>,
    /// Cluster add-ons, installed in this order and removed in the reverse order.
    pub(crate) addons: Vec<Addon>,
    /// How long each wait may take (`90s`, `10m`).
    pub(crate) timeout: Option<String>,
}

/// The `cluster:` map: the config file's `kind:` settings plus name, ports and image.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(default)]
pub(crate) struct ClusterSpec {
    /// Cluster name (default: global `--name`, else `$KIND_CLUSTER_NAME`, else `kind`).
    pub(crate) name: Option<String>,
    /// Number of worker nodes (default 3; 0 for a single node).
    pub(crate) workers: Option<u32>,
    /// CNI replacing kindnet: calico or cilium.
    pub(crate) cni: Option<Cni>,
    /// Node image (`kindest/node:v1.35.0`).
    pub(crate) image: Option<String>,
    /// Host ports mapped to the control plane: `[ADDRESS:]HOST_PORT:CONTAINER_PORT[/PROTOCOL]`.
    pub(crate) ports: Vec<String>,
    /// Host directory mounted at `/mnt/extra` on every node (relative: to the stack file).
    #[serde(rename = "extramountpath")]
    #[schemars(rename = "extraMountPath")]
    pub(crate) extra_mount_path: Option<String>,
    /// API-server audit policy file (relative: to the stack file).
    #[serde(rename = "auditpolicy")]
    #[schemars(rename = "auditPolicy")]
    pub(crate) audit_policy: Option<String>,
    /// Adds 127.0.0.1 to the API server certificate SANs.
    #[serde(rename = "localcertsans")]
    #[schemars(rename = "localCertSans")]
    pub(crate) local_cert_sans: bool,
    /// `host:port` of a registry trusted without TLS verification.
    #[serde(rename = "privateregistry")]
    #[schemars(rename = "privateRegistry")]
    pub(crate) private_registry: Option<String>,
}

/// The `registry:` map.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub(crate) struct RegistrySpec {
    /// Host port of the registry (default 5001).
    #[serde(default = "default_registry_port")]
    pub(crate) port: u16,
}

fn default_registry_port() -> u16 {
    DEFAULT_REGISTRY_PORT
}

/// One mirror URL or several, tried in order.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum Endpoints {
    /// `docker.io: http://127.0.0.1:5001`
    One(String),
    /// `docker.io: [http://a, http://b]`
    Many(Vec<String>),
}

/// The add-ons a stack can hold (the cluster add-ons of `ktbx install`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Addon {
    /// Operator Lifecycle Manager
    Olm,
    /// ArgoCD through OLM
    Argocd,
    /// Argo Workflows
    Argowf,
    /// Falco (helm)
    Falco,
    /// kube-prometheus-stack (helm)
    Prometheus,
}

impl Addon {
    /// The `ktbx install` target.
    pub(crate) fn target(self) -> InstallTarget {
        match self {
            Addon::Olm => InstallTarget::Olm,
            Addon::Argocd => InstallTarget::Argocd,
            Addon::Argowf => InstallTarget::Argowf,
            Addon::Falco => InstallTarget::Falco,
            Addon::Prometheus => InstallTarget::Prometheus,
        }
    }

    /// The name in the stack file.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Addon::Olm => "olm",
            Addon::Argocd => "argocd",
            Addon::Argowf => "argowf",
            Addon::Falco => "falco",
            Addon::Prometheus => "prometheus",
        }
    }
}

/// A stack file decoded and checked, paths made absolute.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    /// `cluster.name`.
    pub(crate) name: Option<String>,
    /// The kind settings.
    pub(crate) settings: KindSettings,
    /// Port mappings of the control plane.
    pub(crate) ports: Vec<PortMapping>,
    /// Port of the local registry, if declared.
    pub(crate) registry: Option<u16>,
    /// Registry mirrors.
    pub(crate) mirrors: Mirrors,
    /// Version pins, by table name.
    pub(crate) pins: Vec<(String, String)>,
    /// Add-ons in install order, without duplicates.
    pub(crate) addons: Vec<Addon>,
    /// Timeout of each wait.
    pub(crate) timeout: Option<Duration>,
}

/// Reads, decodes and checks a stack file.
pub(crate) fn load(path: &Path) -> Result<Resolved, StackError> {
    let text = common::config::read_config_file(path)?;
    parse(&text, path)
}

/// Decodes and checks the text of a stack file read from `path`.
pub(crate) fn parse(text: &str, path: &Path) -> Result<Resolved, StackError> {
    let stack: Stack = if text.trim().is_empty() {
        Stack::default()
    } else {
        let decoded = common::config::parse::<Stack>(text, path, Scalars::Strict)?;
        for key in &decoded.unknown {
            tracing::warn!("{}: unknown key {key} (ignored)", path.display());
        }
        decoded.value
    };
    let base = path.parent().unwrap_or(Path::new("."));
    stack.resolve(path, base)
}

impl Stack {
    /// Checks the values serde cannot (names, images, ports, pins, URLs, durations).
    fn resolve(self, path: &Path, base: &Path) -> Result<Resolved, StackError> {
        let invalid = |key: &str, message: String| StackError::Invalid {
            path: path.to_path_buf(),
            key: key.to_string(),
            message,
        };
        let c = self.cluster;
        if let Some(name) = &c.name {
            crate::cluster::validate_name(name)
                .map_err(|e| invalid("cluster.name", e.to_string()))?;
        }
        if let Some(image) = &c.image {
            common::image_ref::checked(image)
                .map_err(|e| invalid("cluster.image", e.to_string()))?;
        }
        let ports = c
            .ports
            .iter()
            .enumerate()
            .map(|(i, p)| {
                PortMapping::parse(p).map_err(|e| invalid(&format!("cluster.ports[{i}]"), e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let absolute = |p: Option<String>| {
            p.filter(|p| !p.is_empty())
                .map(|p| base.join(p).display().to_string())
                .unwrap_or_default()
        };
        let settings = KindSettings {
            workers: c.workers.unwrap_or(DEFAULT_WORKERS),
            cni: c.cni,
            extra_mount_path: absolute(c.extra_mount_path),
            audit_policy: absolute(c.audit_policy),
            local_cert_sans: c.local_cert_sans,
            private_registry: c.private_registry.unwrap_or_default(),
            image: c.image.unwrap_or_default(),
        };
        let mut mirrors = Mirrors::default();
        for (registry, endpoints) in self.mirrors {
            let urls = match endpoints {
                Endpoints::One(url) => vec![url],
                Endpoints::Many(urls) => urls,
            };
            mirrors
                .set(&registry, urls)
                .map_err(|e| invalid(&format!("mirrors.{registry}"), e.to_string()))?;
        }
        let mut pins = Vec::new();
        for (name, version) in self.pins {
            // Tool names are keys: without case, as every key of ktbx's files.
            let name = name.to_ascii_lowercase();
            let tool = crate::tools::lookup(&name)
                .map_err(|e| invalid(&format!("pins.{name}"), e.to_string()))?;
            crate::tools::validate_version(tool, &version)
                .map_err(|e| invalid(&format!("pins.{name}"), e.to_string()))?;
            pins.push((name, version));
        }
        let mut addons = Vec::new();
        for addon in self.addons {
            if !addons.contains(&addon) {
                addons.push(addon);
            }
        }
        if let (Some(i), Some(o)) = (
            addons.iter().position(|a| *a == Addon::Argocd),
            addons.iter().position(|a| *a == Addon::Olm),
        ) && i < o
        {
            return Err(invalid(
                "addons",
                "argocd is installed through OLM: list olm before argocd".to_string(),
            ));
        }
        let timeout = self
            .timeout
            .filter(|t| !t.is_empty())
            .map(|t| {
                common::duration::parse_duration(&t).map_err(|e| invalid("timeout", e.to_string()))
            })
            .transpose()?;
        Ok(Resolved {
            name: c.name,
            settings,
            ports,
            registry: self.registry.map(|r| r.port),
            mirrors,
            pins,
            addons,
            timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_at(text: &str) -> Result<Resolved, StackError> {
        parse(text, Path::new("/s/stack.yaml"))
    }

    /// The JSON schema of the stack file, as committed for editors.
    fn json_schema() -> String {
        let mut schema = serde_json::to_value(schemars::schema_for!(Stack)).unwrap();
        schema["title"] = "ktbx stack file (ktbx apply -f)".into();
        schema["$id"] =
            "https://raw.githubusercontent.com/astrolabsoftware/fink-tools/main/ktbx/stack.schema.json".into();
        serde_json::to_string_pretty(&schema).unwrap() + "\n"
    }

    /// Every key of `value` is a property of `schema` (following `$ref`, `anyOf`, `items`).
    fn assert_keys_known(
        value: &serde_json::Value,
        schema: &serde_json::Value,
        root: &serde_json::Value,
        path: &str,
    ) {
        let schema = match schema.get("$ref").and_then(|r| r.as_str()) {
            Some(r) => root.pointer(r.trim_start_matches('#')).expect(r),
            None => schema,
        };
        if let Some(any) = schema.get("anyOf").and_then(|a| a.as_array()) {
            for s in any.iter().filter(|s| s.get("type") != Some(&"null".into())) {
                assert_keys_known(value, s, root, path);
            }
            return;
        }
        match value {
            serde_json::Value::Object(map) => {
                for (key, v) in map {
                    let props = schema.get("properties");
                    let sub = match props {
                        Some(p) => p
                            .as_object()
                            .unwrap()
                            .iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case(key))
                            .map(|(_, s)| s)
                            .unwrap_or_else(|| panic!("{path}.{key} is not in the schema")),
                        None => schema.get("additionalProperties").expect(path),
                    };
                    assert_keys_known(v, sub, root, &format!("{path}.{key}"));
                }
            }
            serde_json::Value::Array(items) => {
                if let Some(item) = schema.get("items") {
                    for v in items {
                        assert_keys_known(v, item, root, path);
                    }
                }
            }
            _ => {}
        }
    }

    #[test]
    fn the_committed_json_schema_is_generated_and_knows_the_example() {
        let committed = include_str!("../stack.schema.json");
        assert_eq!(
            committed,
            json_schema(),
            "regenerate ktbx/stack.schema.json (the test prints the new one with --nocapture)"
        );
        let schema: serde_json::Value = serde_json::from_str(committed).unwrap();
        let example: serde_json::Value =
            serde_saphyr::from_str(include_str!("../tests/fixtures/stack.yaml")).unwrap();
        assert_keys_known(&example, &schema, &schema, "");
        let typo = serde_json::json!({"cluster": {"extraMountPaths": "x"}});
        assert!(
            std::panic::catch_unwind(|| assert_keys_known(&typo, &schema, &schema, "")).is_err()
        );
        assert!(committed.contains("\"extraMountPath\""));
    }

    #[test]
    fn the_readme_example_decodes() {
        let example = include_str!("../tests/fixtures/stack.yaml");
        assert!(
            include_str!("../README.md").contains(&format!("```yaml\n{example}```\n")),
            "the README shows tests/fixtures/stack.yaml as it is"
        );
        let s = parse_at(example).unwrap();
        assert_eq!(s.name.as_deref(), Some("fink"));
        assert_eq!(
            s.settings,
            KindSettings {
                workers: 1,
                cni: Some(Cni::Calico),
                extra_mount_path: "/s/data".into(),
                audit_policy: "/s/audit-policy.yaml".into(),
                local_cert_sans: true,
                private_registry: "docker-registry.docker-registry:5000".into(),
                image: "kindest/node:v1.35.0".into(),
            }
        );
        assert_eq!(
            s.ports,
            [PortMapping::parse("127.0.0.1:8080:80/tcp").unwrap()]
        );
        assert_eq!(s.registry, Some(5001));
        assert_eq!(s.mirrors.summary(), "docker.io=https://mirror.gcr.io\n");
        assert_eq!(s.pins, [("argowf".to_string(), "v3.5.2".to_string())]);
        assert_eq!(s.addons, [Addon::Olm, Addon::Argocd, Addon::Argowf]);
        assert_eq!(s.timeout, Some(Duration::from_secs(600)));
    }

    #[test]
    fn keys_are_case_insensitive_values_are_not() {
        let s = parse_at(
            "Cluster:\n  NAME: ci\n  ExtraMountPath: /Data\n  WORKERS: 0\nMIRRORS:\n  Docker.IO: [http://A:1, http://b:2]\naddons: [falco]\n",
        )
        .unwrap();
        assert_eq!(s.name.as_deref(), Some("ci"));
        assert_eq!(s.settings.extra_mount_path, "/Data");
        assert_eq!(s.settings.workers, 0);
        assert_eq!(s.mirrors.summary(), "docker.io=http://A:1,http://b:2\n");
        assert_eq!(s.addons, [Addon::Falco]);
    }

    #[test]
    fn defaults_without_keys() {
        let s = parse_at("").unwrap();
        assert_eq!(s.settings, KindSettings::default());
        assert!(s.addons.is_empty() && s.registry.is_none() && s.mirrors.is_empty());
        assert_eq!(parse_at("registry: {}\n").unwrap().registry, Some(5001));
    }

    #[test]
    fn type_errors_carry_file_line_and_column() {
        let err = parse_at("cluster:\n  name: ci\n  workers: many\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("/s/stack.yaml:3:12: cluster.workers: "),
            "{err}"
        );
        let err = parse_at("addons:\n  - olm\n  - flannel\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("/s/stack.yaml:3:5: "), "{err}");
        assert!(err.contains("flannel"), "{err}");
        let err = parse_at("cluster:\n  cni: weave\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("/s/stack.yaml:2:8: cluster.cni: "), "{err}");
    }

    #[test]
    fn values_ktbx_rejects_name_their_key() {
        for (text, expected) in [
            (
                "cluster:\n  name: My_Cluster\n",
                "/s/stack.yaml: cluster.name: invalid cluster name",
            ),
            (
                "cluster:\n  ports: [\"80\"]\n",
                "/s/stack.yaml: cluster.ports[0]: invalid port mapping",
            ),
            (
                "pins:\n  flannel: v1\n",
                "/s/stack.yaml: pins.flannel: unknown tool \"flannel\"",
            ),
            ("pins:\n  olm: \"v1;rm\"\n", "/s/stack.yaml: pins.olm: "),
            (
                "mirrors:\n  docker.io: 127.0.0.1:5001\n",
                "/s/stack.yaml: mirrors.docker.io: invalid mirror URL",
            ),
            (
                "timeout: soon\n",
                "/s/stack.yaml: timeout: invalid duration",
            ),
            (
                "addons: [argocd, olm]\n",
                "/s/stack.yaml: addons: argocd is installed through OLM",
            ),
        ] {
            let err = parse_at(text).unwrap_err().to_string();
            assert!(err.starts_with(expected), "{text:?}: {err}");
        }
    }
}
