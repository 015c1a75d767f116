//! What `ktbx apply` applied, recorded in the cluster: the ConfigMap `kube-system/ktbx-stack`, one
//! key per part (`cluster`, `registry`, `mirrors`, `cni`, `addon.<name>`) holding a text summary
//! (settings, or the resolved versions of the add-on's pins). One GET reads it back; comparing it
//! with the stack file gives the drift, and only the parts that drifted are applied again.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};

use crate::addons;
use crate::client_tools;
use crate::config::KindSettings;
use crate::kind_config::PortMapping;
use crate::mirrors::Mirrors;
use crate::stack::Addon;
use crate::targets::Cni;

/// Name of the record ConfigMap.
pub(crate) const RECORD_NAME: &str = "ktbx-stack";
/// Namespace of the record ConfigMap.
pub(crate) const RECORD_NAMESPACE: &str = "kube-system";
/// Key of the cluster settings (fixed once the cluster exists).
pub(crate) const CLUSTER: &str = "cluster";
/// Key of the local registry port.
pub(crate) const REGISTRY: &str = "registry";
/// Key of the mirrors.
pub(crate) const MIRRORS: &str = "mirrors";
/// Key of the CNI and its versions.
pub(crate) const CNI: &str = "cni";

/// The parts of a stack, by record key.
pub(crate) type State = BTreeMap<String, String>;

/// The record key of an add-on.
pub(crate) fn addon_key(addon: Addon) -> String {
    format!("addon.{}", addon.name())
}

/// A port mapping as the stack file spells it.
fn port_line(p: &PortMapping) -> String {
    let mut line = String::new();
    if let Some(addr) = &p.listen_address {
        let _ = write!(line, "{addr}:");
    }
    let _ = write!(line, "{}:{}", p.host_port, p.container_port);
    if let Some(proto) = &p.protocol {
        let _ = write!(line, "/{proto}");
    }
    line
}

/// The cluster settings, one `key=value` line each (empty ones left out).
pub(crate) fn cluster_summary(s: &KindSettings, ports: &[PortMapping]) -> String {
    let mut lines = vec![format!("workers={}", s.workers)];
    let mut add = |key: &str, value: &str| {
        if !value.is_empty() {
            lines.push(format!("{key}={value}"));
        }
    };
    add(
        "cni",
        match s.cni {
            Some(Cni::Calico) => "calico",
            Some(Cni::Cilium) => "cilium",
            None => "",
        },
    );
    add("image", &s.image);
    add("extraMountPath", &s.extra_mount_path);
    add("auditPolicy", &s.audit_policy);
    add("localCertSans", if s.local_cert_sans { "true" } else { "" });
    add("privateRegistry", &s.private_registry);
    for port in ports {
        lines.push(format!("port={}", port_line(port)));
    }
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// `name=version,…` of table entries, resolved for this run.
fn versions(names: &[&str], tools: &client_tools::Settings) -> anyhow::Result<String> {
    Ok(names
        .iter()
        .map(|n| Ok(format!("{n}={}", client_tools::version(n, tools)?)))
        .collect::<anyhow::Result<Vec<_>>>()?
        .join(","))
}

/// What the stack asks for, as a record.
pub(crate) fn desired(
    settings: &KindSettings,
    ports: &[PortMapping],
    registry: Option<u16>,
    mirrors: &Mirrors,
    addons: &[Addon],
    tools: &client_tools::Settings,
) -> anyhow::Result<State> {
    let mut state = State::new();
    state.insert(CLUSTER.into(), cluster_summary(settings, ports));
    if let Some(port) = registry {
        state.insert(REGISTRY.into(), port.to_string());
    }
    if !mirrors.is_empty() {
        state.insert(MIRRORS.into(), mirrors.summary());
    }
    if let Some(cni) = settings.cni {
        state.insert(CNI.into(), versions(addons::cni_pins(cni), tools)?);
    }
    for addon in addons {
        state.insert(
            addon_key(*addon),
            versions(addons::pins(addon.target()), tools)?,
        );
    }
    Ok(state)
}

/// Reads the record (None: the cluster has none).
pub(crate) async fn read(client: Client) -> Result<Option<State>, kube::Error> {
    let api: Api<ConfigMap> = Api::namespaced(client, RECORD_NAMESPACE);
    Ok(api
        .get_opt(RECORD_NAME)
        .await?
        .map(|cm| cm.data.unwrap_or_default().into_iter().collect()))
}

/// Writes the record (server-side apply: keys no longer in `state` are removed).
pub(crate) async fn write(client: Client, state: &State) -> anyhow::Result<()> {
    let api: Api<ConfigMap> = Api::namespaced(client, RECORD_NAMESPACE);
    let body = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": RECORD_NAME,
            "namespace": RECORD_NAMESPACE,
            "labels": {"app.kubernetes.io/managed-by": "ktbx"},
        },
        "data": state,
    });
    api.patch(
        RECORD_NAME,
        &PatchParams::apply(crate::apply::FIELD_MANAGER).force(),
        &Patch::Apply(body),
    )
    .await
    .with_context(|| {
        format!("recording the applied stack in ConfigMap {RECORD_NAMESPACE}/{RECORD_NAME}")
    })?;
    Ok(())
}

/// One difference between the record and the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// In the stack, not applied.
    Add(String, String),
    /// Applied with other settings or versions: (key, applied, wanted).
    Update(String, String, String),
    /// Applied, no longer in the stack.
    Remove(String, String),
}

impl Change {
    /// The record key.
    pub(crate) fn key(&self) -> &str {
        match self {
            Change::Add(k, _) | Change::Update(k, _, _) | Change::Remove(k, _) => k,
        }
    }
}

/// The differences, in key order.
pub(crate) fn drift(recorded: &State, desired: &State) -> Vec<Change> {
    let mut changes = Vec::new();
    for (key, want) in desired {
        match recorded.get(key) {
            None => changes.push(Change::Add(key.clone(), want.clone())),
            Some(have) if have != want => {
                changes.push(Change::Update(key.clone(), have.clone(), want.clone()))
            }
            Some(_) => {}
        }
    }
    for (key, have) in recorded {
        if !desired.contains_key(key) {
            changes.push(Change::Remove(key.clone(), have.clone()));
        }
    }
    changes
}

/// A value on one line (multi-line summaries joined by `; `).
fn one_line(value: &str) -> String {
    value.lines().collect::<Vec<_>>().join("; ")
}

/// Writes the drift as `+`/`~`/`-` lines, with what applying it does.
pub(crate) fn write_drift(
    out: &mut dyn Write,
    changes: &[Change],
    file: &str,
) -> std::io::Result<()> {
    for change in changes {
        match change {
            Change::Add(key, want) => writeln!(out, "+ {key}: {}", one_line(want))?,
            Change::Update(key, have, want) if key == CLUSTER => {
                writeln!(
                    out,
                    "~ {key}: kind cannot change a running cluster: `ktbx delete -f {file}`, then apply"
                )?;
                for line in have.lines().filter(|l| !want.lines().any(|w| w == *l)) {
                    writeln!(out, "    - {line}")?;
                }
                for line in want.lines().filter(|l| !have.lines().any(|h| h == *l)) {
                    writeln!(out, "    + {line}")?;
                }
            }
            Change::Update(key, have, want) => {
                writeln!(out, "~ {key}: {} -> {}", one_line(have), one_line(want))?
            }
            Change::Remove(key, have) => writeln!(
                out,
                "- {key}: {} (no longer in the stack; apply leaves it, `ktbx delete -f` removes the cluster)",
                one_line(have)
            )?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(pairs: &[(&str, &str)]) -> State {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn cluster_summary_lists_what_is_set() {
        let s = KindSettings {
            workers: 1,
            cni: Some(Cni::Calico),
            local_cert_sans: true,
            ..KindSettings::default()
        };
        let ports = [PortMapping::parse("127.0.0.1:8080:80/tcp").unwrap()];
        assert_eq!(
            cluster_summary(&s, &ports),
            "workers=1\ncni=calico\nlocalCertSans=true\nport=127.0.0.1:8080:80/TCP\n"
        );
    }

    #[test]
    fn drift_names_each_part_once() {
        let recorded = state(&[
            ("cluster", "workers=1\n"),
            ("addon.argowf", "argowf=v3.5.2"),
            ("addon.falco", "falco="),
            ("mirrors", "docker.io=http://a\n"),
        ]);
        let desired = state(&[
            ("cluster", "workers=2\n"),
            ("addon.argowf", "argowf=v3.5.3"),
            ("addon.olm", "olm=v0.28.0"),
            ("mirrors", "docker.io=http://a\n"),
        ]);
        let changes = drift(&recorded, &desired);
        let keys: Vec<&str> = changes.iter().map(Change::key).collect();
        assert_eq!(
            keys,
            ["addon.argowf", "addon.olm", "cluster", "addon.falco"]
        );
        let mut out = Vec::new();
        write_drift(&mut out, &changes, "stack.yaml").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "~ addon.argowf: argowf=v3.5.2 -> argowf=v3.5.3
+ addon.olm: olm=v0.28.0
~ cluster: kind cannot change a running cluster: `ktbx delete -f stack.yaml`, then apply
    - workers=1
    + workers=2
- addon.falco: falco= (no longer in the stack; apply leaves it, `ktbx delete -f` removes the cluster)
"
        );
        assert!(drift(&desired, &desired).is_empty());
    }
}
