//! The kind cluster configuration, built as typed structs from the effective settings and
//! rendered as YAML. For the original's inputs the output is byte-identical to the Go template's
//! (comments and quoting included); values are quoted whenever they are not plain YAML scalars.

use std::fmt::Write;

use crate::config::KindSettings;

/// The comment the original puts above its containerd registry patch.
const REGISTRY_PATCH_COMMENT: &str = "# FIXME deprecated replace with https://github.com/kubernetes-sigs/kind/issues/3310#issuecomment-1641515799";
/// Pod subnet used with a custom CNI (Calico's default pool).
pub(crate) const CUSTOM_CNI_POD_SUBNET: &str = "192.168.0.0/16";
/// Where the host's extra mount appears in every node.
pub(crate) const EXTRA_MOUNT_CONTAINER_PATH: &str = "/mnt/extra";
/// Where the audit policy file appears in the control-plane node.
pub(crate) const AUDIT_POLICY_CONTAINER_PATH: &str = "/etc/kubernetes/policies/audit-policy.yaml";
const ADMISSION_PLUGINS: &str = "NodeRestriction,ResourceQuota";
const AUDIT_LOG_PATH: &str = "/var/log/kubernetes/kube-apiserver-audit.log";

/// Which kubeadm config API versions the control-plane patch is written for.
///
/// kind matches a patch only when its `apiVersion` equals the document's; kind ≥ v0.32 uses
/// v1beta4 for Kubernetes ≥ 1.36, where a v1beta3-only patch is silently skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KubeadmApis {
    /// One v1beta3 patch (kind < v0.32 with node images < 1.36; the original's output).
    V1beta3,
    /// A v1beta3 patch and an equivalent v1beta4 patch (list-form `extraArgs`); each applies to its own version.
    V1beta3AndV1beta4,
}

/// A host path mounted into a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mount {
    /// Path on the host.
    pub(crate) host_path: String,
    /// Path inside the node.
    pub(crate) container_path: String,
    /// Mounted read-only.
    pub(crate) read_only: bool,
}

/// A host port forwarded to a control-plane port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PortMapping {
    /// Port inside the node.
    pub(crate) container_port: u16,
    /// Port on the host.
    pub(crate) host_port: u16,
    /// Host address to bind (kind's default is 0.0.0.0).
    pub(crate) listen_address: Option<String>,
    /// TCP, UDP or SCTP.
    pub(crate) protocol: Option<String>,
}

impl PortMapping {
    /// Parses `[LISTEN_ADDRESS:]HOST_PORT:CONTAINER_PORT[/PROTOCOL]`.
    pub(crate) fn parse(spec: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "invalid port mapping {spec:?}: expected [LISTEN_ADDRESS:]HOST_PORT:CONTAINER_PORT[/tcp|udp|sctp]"
            )
        };
        let (ports, protocol) = match spec.rsplit_once('/') {
            Some((p, proto)) => {
                let proto = proto.to_ascii_uppercase();
                if !["TCP", "UDP", "SCTP"].contains(&proto.as_str()) {
                    return Err(bad());
                }
                (p, Some(proto))
            }
            None => (spec, None),
        };
        let parts: Vec<&str> = ports.rsplitn(3, ':').collect();
        let port = |s: &str| s.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(bad);
        let (container_port, host_port, listen_address) = match parts.as_slice() {
            [c, h] => (port(c)?, port(h)?, None),
            [c, h, addr] => {
                let addr = addr.trim_start_matches('[').trim_end_matches(']');
                addr.parse::<std::net::IpAddr>().map_err(|_| bad())?;
                (port(c)?, port(h)?, Some(addr.to_string()))
            }
            _ => return Err(bad()),
        };
        Ok(Self {
            container_port,
            host_port,
            listen_address,
            protocol,
        })
    }
}

/// The API server settings carried by the control-plane kubeadm patch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiServerPatch {
    /// Turn on auditing (flags, policy and log volumes).
    pub(crate) audit: bool,
    /// Extra certificate SANs.
    pub(crate) cert_sans: Vec<String>,
}

/// Node role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The (single) control-plane node.
    ControlPlane,
    /// A worker node.
    Worker,
}

/// One node of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    /// Role.
    pub(crate) role: Role,
    /// kubeadm patch (control plane only).
    pub(crate) api_server: Option<ApiServerPatch>,
    /// Host mounts.
    pub(crate) extra_mounts: Vec<Mount>,
    /// Port mappings.
    pub(crate) port_mappings: Vec<PortMapping>,
}

/// A kind `Cluster` (`kind.x-k8s.io/v1alpha4`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KindCluster {
    /// Registries given the legacy containerd TLS-skip patch (kept for node images with containerd 1.x).
    pub(crate) insecure_registries: Vec<String>,
    /// Disable kindnet and use the Calico pod subnet.
    pub(crate) custom_cni: bool,
    /// The nodes, control plane first.
    pub(crate) nodes: Vec<Node>,
    /// kubeadm API versions to patch.
    pub(crate) kubeadm: KubeadmApis,
}

impl KindCluster {
    /// Builds the cluster config from the effective settings.
    pub(crate) fn from_settings(
        s: &KindSettings,
        ports: &[PortMapping],
        kubeadm: KubeadmApis,
    ) -> Self {
        let extra = (!s.extra_mount_path.is_empty()).then(|| Mount {
            host_path: s.extra_mount_path.clone(),
            container_path: EXTRA_MOUNT_CONTAINER_PATH.to_string(),
            read_only: false,
        });
        let audit = (!s.audit_policy.is_empty()).then(|| Mount {
            host_path: s.audit_policy.clone(),
            container_path: AUDIT_POLICY_CONTAINER_PATH.to_string(),
            read_only: true,
        });
        let control_plane = Node {
            role: Role::ControlPlane,
            api_server: Some(ApiServerPatch {
                audit: audit.is_some(),
                cert_sans: if s.local_cert_sans {
                    vec!["127.0.0.1".to_string()]
                } else {
                    Vec::new()
                },
            }),
            extra_mounts: extra.iter().cloned().chain(audit).collect(),
            port_mappings: ports.to_vec(),
        };
        let worker = Node {
            role: Role::Worker,
            api_server: None,
            extra_mounts: extra.into_iter().collect(),
            port_mappings: Vec::new(),
        };
        let nodes = std::iter::once(control_plane)
            .chain((0..s.workers).map(|_| worker.clone()))
            .collect();
        Self {
            insecure_registries: (!s.private_registry.is_empty())
                .then(|| s.private_registry.clone())
                .into_iter()
                .collect(),
            custom_cni: s.cni.is_some(),
            nodes,
            kubeadm,
        }
    }

    /// Renders the YAML document (ends with one newline).
    pub(crate) fn render(&self) -> String {
        let mut out = String::from("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n");
        if !self.insecure_registries.is_empty() {
            out.push_str("containerdConfigPatches:\n");
            for registry in &self.insecure_registries {
                let _ = write!(
                    out,
                    "- |-\n  {REGISTRY_PATCH_COMMENT}\n  [plugins.\"io.containerd.grpc.v1.cri\".registry.configs.{}.tls]\n     insecure_skip_verify = true\n",
                    toml_quoted(registry)
                );
            }
        }
        if self.custom_cni {
            let _ = write!(
                out,
                "networking:\n  disableDefaultCNI: true # disable kindnet\n  podSubnet: \"{CUSTOM_CNI_POD_SUBNET}\"\n"
            );
        }
        out.push_str("nodes:\n");
        for node in &self.nodes {
            render_node(&mut out, node, self.kubeadm);
        }
        out
    }
}

fn render_node(out: &mut String, node: &Node, kubeadm: KubeadmApis) {
    match node.role {
        Role::ControlPlane => out.push_str("- role: control-plane\n"),
        Role::Worker => out.push_str("- role: worker\n"),
    }
    if let Some(patch) = &node.api_server {
        out.push_str("  kubeadmConfigPatches:\n");
        render_v1beta3(out, patch);
        if kubeadm == KubeadmApis::V1beta3AndV1beta4 {
            render_v1beta4(out, patch);
        }
    }
    if !node.extra_mounts.is_empty() {
        out.push_str("  extraMounts:\n");
        for m in &node.extra_mounts {
            let _ = write!(
                out,
                "  - hostPath: {}\n    containerPath: {}\n",
                scalar(&m.host_path),
                m.container_path
            );
            if m.read_only {
                out.push_str("    readOnly: true\n");
            }
        }
    }
    if !node.port_mappings.is_empty() {
        out.push_str("  extraPortMappings:\n");
        for p in &node.port_mappings {
            let _ = write!(
                out,
                "  - containerPort: {}\n    hostPort: {}\n",
                p.container_port, p.host_port
            );
            if let Some(addr) = &p.listen_address {
                let _ = writeln!(out, "    listenAddress: \"{addr}\"");
            }
            if let Some(proto) = &p.protocol {
                let _ = writeln!(out, "    protocol: {proto}");
            }
        }
    }
}

fn patch_header(out: &mut String, version: &str) {
    let _ = write!(
        out,
        "  - |\n    apiVersion: kubeadm.k8s.io/{version}\n    kind: ClusterConfiguration\n    metadata:\n      name: config\n    apiServer:\n      extraArgs:\n"
    );
}

const AUDIT_VOLUMES: &str = "      # mount new files / directories on the control plane
      extraVolumes:
        - name: audit-policies
          hostPath: /etc/kubernetes/policies
          mountPath: /etc/kubernetes/policies
          readOnly: true
          pathType: \"DirectoryOrCreate\"
        - name: \"audit-logs\"
          hostPath: \"/var/log/kubernetes\"
          mountPath: \"/var/log/kubernetes\"
          readOnly: false
          pathType: DirectoryOrCreate
";

fn render_cert_sans(out: &mut String, patch: &ApiServerPatch) {
    if !patch.cert_sans.is_empty() {
        out.push_str("      certSANs:\n");
        for san in &patch.cert_sans {
            let _ = writeln!(out, "        - {}", double_quoted(san));
        }
    }
}

/// The original's patch: map-form `extraArgs`.
fn render_v1beta3(out: &mut String, patch: &ApiServerPatch) {
    patch_header(out, "v1beta3");
    let _ = writeln!(out, "        enable-admission-plugins: {ADMISSION_PLUGINS}");
    if patch.audit {
        let _ = write!(
            out,
            "        # enable auditing flags on the API server\n        audit-log-path: {AUDIT_LOG_PATH}\n        audit-policy-file: {AUDIT_POLICY_CONTAINER_PATH}\n"
        );
        out.push_str(AUDIT_VOLUMES);
    }
    render_cert_sans(out, patch);
}

/// The same settings for kubeadm v1beta4: list-form `extraArgs`.
fn render_v1beta4(out: &mut String, patch: &ApiServerPatch) {
    patch_header(out, "v1beta4");
    let mut arg = |name: &str, value: &str| {
        let _ = write!(out, "        - name: {name}\n          value: {value}\n");
    };
    arg("enable-admission-plugins", ADMISSION_PLUGINS);
    if patch.audit {
        arg("audit-log-path", AUDIT_LOG_PATH);
        arg("audit-policy-file", AUDIT_POLICY_CONTAINER_PATH);
        out.push_str(AUDIT_VOLUMES);
    }
    render_cert_sans(out, patch);
}

/// A YAML scalar: plain when that is unambiguous, else double-quoted.
fn scalar(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-~+@".contains(c))
        && !value.starts_with(['-', '~', '@'])
        && !matches!(
            value,
            "true" | "false" | "null" | "yes" | "no" | "on" | "off"
        )
        && value.parse::<f64>().is_err();
    if plain {
        value.to_string()
    } else {
        double_quoted(value)
    }
}

/// A double-quoted YAML (and JSON/TOML basic) string.
fn double_quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A TOML quoted key.
fn toml_quoted(value: &str) -> String {
    double_quoted(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::Cni;

    fn golden_settings() -> KindSettings {
        KindSettings {
            workers: 1,
            cni: Some(Cni::Calico),
            audit_policy: "/tmp/audit-policy.yaml".into(),
            extra_mount_path: "/tmp/extra-mount-path".into(),
            local_cert_sans: true,
            private_registry: "docker-registry.docker-registry:5000".into(),
            image: String::new(),
        }
    }

    fn render(s: &KindSettings) -> String {
        KindCluster::from_settings(s, &[], KubeadmApis::V1beta3).render()
    }

    const CONTROL_PLANE: &str = "- role: control-plane
  kubeadmConfigPatches:
  - |
    apiVersion: kubeadm.k8s.io/v1beta3
    kind: ClusterConfiguration
    metadata:
      name: config
    apiServer:
      extraArgs:
        enable-admission-plugins: NodeRestriction,ResourceQuota
";

    #[test]
    fn golden_kind_config_is_byte_identical() {
        assert_eq!(
            render(&golden_settings()),
            include_str!("../tests/fixtures/kind-config.yaml")
        );
    }

    #[test]
    fn defaults_give_three_bare_workers() {
        let expected = format!(
            "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n{CONTROL_PLANE}- role: worker\n- role: worker\n- role: worker\n"
        );
        assert_eq!(render(&KindSettings::default()), expected);
    }

    #[test]
    fn single_with_calico() {
        let s = KindSettings {
            workers: 0,
            cni: Some(Cni::Calico),
            ..KindSettings::default()
        };
        let expected = format!(
            "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnetworking:\n  disableDefaultCNI: true # disable kindnet\n  podSubnet: \"192.168.0.0/16\"\nnodes:\n{CONTROL_PLANE}"
        );
        assert_eq!(render(&s), expected);
        let single = KindSettings {
            workers: 0,
            ..KindSettings::default()
        };
        assert_eq!(
            render(&single),
            format!("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n{CONTROL_PLANE}")
        );
    }

    #[test]
    fn extra_mount_on_every_node() {
        let s = KindSettings {
            workers: 1,
            extra_mount_path: "/data".into(),
            ..KindSettings::default()
        };
        let mount = "  extraMounts:\n  - hostPath: /data\n    containerPath: /mnt/extra\n";
        let expected = format!(
            "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n{CONTROL_PLANE}{mount}- role: worker\n{mount}"
        );
        assert_eq!(render(&s), expected);
    }

    #[test]
    fn odd_values_are_quoted_not_interpreted() {
        let s = KindSettings {
            workers: 0,
            extra_mount_path: "/tmp/a b: $(touch x)\n- hostPath: /etc".into(),
            ..KindSettings::default()
        };
        let out = render(&s);
        assert!(
            out.contains("  - hostPath: \"/tmp/a b: $(touch x)\\n- hostPath: /etc\"\n"),
            "{out}"
        );
        assert_eq!(scalar("true"), "\"true\"");
        assert_eq!(scalar("123"), "\"123\"");
        assert_eq!(scalar("/media"), "/media");
    }

    #[test]
    fn dual_patch_carries_the_same_settings_for_v1beta4() {
        let out =
            KindCluster::from_settings(&golden_settings(), &[], KubeadmApis::V1beta3AndV1beta4)
                .render();
        let v1beta4 = out
            .split("apiVersion: kubeadm.k8s.io/v1beta4\n")
            .nth(1)
            .expect("v1beta4 patch");
        assert!(v1beta4.contains(
            "      extraArgs:\n        - name: enable-admission-plugins\n          value: NodeRestriction,ResourceQuota\n        - name: audit-log-path\n          value: /var/log/kubernetes/kube-apiserver-audit.log\n        - name: audit-policy-file\n          value: /etc/kubernetes/policies/audit-policy.yaml\n"
        ));
        assert!(v1beta4.contains("      extraVolumes:\n        - name: audit-policies\n"));
        assert!(v1beta4.contains("      certSANs:\n        - \"127.0.0.1\"\n  extraMounts:\n"));
        assert_eq!(out.matches("  - |\n").count(), 2);
        assert!(out.starts_with(&render(&golden_settings())[..400]));
    }

    #[test]
    fn port_mappings_go_on_the_control_plane() {
        let ports = [
            PortMapping::parse("127.0.0.1:8080:80/tcp").unwrap(),
            PortMapping::parse("8443:443").unwrap(),
        ];
        let s = KindSettings {
            workers: 1,
            ..KindSettings::default()
        };
        let out = KindCluster::from_settings(&s, &ports, KubeadmApis::V1beta3).render();
        assert!(out.ends_with(
            "  extraPortMappings:\n  - containerPort: 80\n    hostPort: 8080\n    listenAddress: \"127.0.0.1\"\n    protocol: TCP\n  - containerPort: 443\n    hostPort: 8443\n- role: worker\n"
        ), "{out}");
    }

    #[test]
    fn bad_port_mappings_are_rejected() {
        for bad in [
            "80",
            "a:80",
            "0:80",
            "1.2.3:80:80",
            "80:80/icmp",
            "70000:80",
            "x;y:80:80",
        ] {
            assert!(PortMapping::parse(bad).is_err(), "{bad}");
        }
    }
}
