//! The resource table: built-in kinds and the custom resources that CRDs register.

use serde_json::Value;

/// One served resource (a group/version/plural), as discovery describes it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResourceDef {
    pub(crate) group: String,
    pub(crate) version: String,
    pub(crate) kind: String,
    pub(crate) plural: String,
    pub(crate) singular: String,
    pub(crate) namespaced: bool,
    pub(crate) short_names: Vec<String>,
    /// Discovery categories (`all` for the workload kinds `kubectl get all` shows).
    pub(crate) categories: Vec<String>,
    /// Subresources served besides the main resource (`status`, `exec`...).
    pub(crate) subresources: Vec<String>,
}

impl ResourceDef {
    /// `apiVersion` of objects served at this version.
    pub(crate) fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether writes through the main endpoint keep the stored `status` (status subresource).
    pub(crate) fn has_status(&self) -> bool {
        self.subresources.iter().any(|s| s == "status")
    }

    /// Whether this is a built-in kind (not one a CRD defines).
    pub(crate) fn is_builtin(&self) -> bool {
        BUILTINS
            .iter()
            .any(|b| b.group == self.group && b.plural == self.plural)
    }

    /// Whether `token` names this resource (kind, plural, singular or short name).
    fn is_named(&self, token: &str) -> bool {
        self.kind == token
            || self.plural == token
            || self.singular == token
            || self.kind.eq_ignore_ascii_case(token)
            || self.short_names.iter().any(|s| s == token)
    }

    /// Field selector labels the resource supports besides `metadata.name` / `metadata.namespace`.
    pub(crate) fn field_labels(&self) -> &'static [&'static str] {
        match (self.group.as_str(), self.plural.as_str()) {
            ("", "pods") => &[
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.serviceAccountName",
                "spec.hostNetwork",
                "status.phase",
                "status.podIP",
                "status.nominatedNodeName",
            ],
            ("", "secrets") => &["type"],
            ("", "nodes") => &["spec.unschedulable"],
            ("", "namespaces") => &["status.phase"],
            ("", "events") => &[
                "involvedObject.kind",
                "involvedObject.namespace",
                "involvedObject.name",
                "involvedObject.uid",
                "involvedObject.apiVersion",
                "involvedObject.resourceVersion",
                "involvedObject.fieldPath",
                "reason",
                "reportingComponent",
                "source",
                "type",
            ],
            _ => &[],
        }
    }
}

struct Builtin {
    group: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    sub: &'static [&'static str],
}

const fn b(
    group: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    sub: &'static [&'static str],
) -> Builtin {
    Builtin {
        group,
        kind,
        plural,
        namespaced,
        short,
        sub,
    }
}

const NS: bool = true;
const CLUSTER: bool = false;
const STATUS: &[&str] = &["status"];

/// The built-in kinds served at `v1` of their group (those the tools and common manifests use).
#[rustfmt::skip]
const BUILTINS: &[Builtin] = &[
    b("", "Namespace", "namespaces", CLUSTER, &["ns"], STATUS),
    b("", "Node", "nodes", CLUSTER, &["no"], STATUS),
    b("", "Pod", "pods", NS, &["po"], &["status", "exec", "log"]),
    b("", "Secret", "secrets", NS, &[], &[]),
    b("", "ConfigMap", "configmaps", NS, &["cm"], &[]),
    b("", "Service", "services", NS, &["svc"], STATUS),
    b("", "ServiceAccount", "serviceaccounts", NS, &["sa"], &[]),
    b("", "Endpoints", "endpoints", NS, &["ep"], &[]),
    b("", "Event", "events", NS, &["ev"], &[]),
    b("", "PersistentVolumeClaim", "persistentvolumeclaims", NS, &["pvc"], STATUS),
    b("", "PersistentVolume", "persistentvolumes", CLUSTER, &["pv"], STATUS),
    b("", "ResourceQuota", "resourcequotas", NS, &["quota"], STATUS),
    b("", "LimitRange", "limitranges", NS, &["limits"], &[]),
    b("apps", "Deployment", "deployments", NS, &["deploy"], STATUS),
    b("apps", "DaemonSet", "daemonsets", NS, &["ds"], STATUS),
    b("apps", "StatefulSet", "statefulsets", NS, &["sts"], STATUS),
    b("apps", "ReplicaSet", "replicasets", NS, &["rs"], STATUS),
    b("batch", "Job", "jobs", NS, &[], STATUS),
    b("batch", "CronJob", "cronjobs", NS, &["cj"], STATUS),
    b("rbac.authorization.k8s.io", "Role", "roles", NS, &[], &[]),
    b("rbac.authorization.k8s.io", "RoleBinding", "rolebindings", NS, &[], &[]),
    b("rbac.authorization.k8s.io", "ClusterRole", "clusterroles", CLUSTER, &[], &[]),
    b("rbac.authorization.k8s.io", "ClusterRoleBinding", "clusterrolebindings", CLUSTER, &[], &[]),
    b("networking.k8s.io", "Ingress", "ingresses", NS, &["ing"], STATUS),
    b("networking.k8s.io", "NetworkPolicy", "networkpolicies", NS, &["netpol"], &[]),
    b("policy", "PodDisruptionBudget", "poddisruptionbudgets", NS, &["pdb"], STATUS),
    b("scheduling.k8s.io", "PriorityClass", "priorityclasses", CLUSTER, &["pc"], &[]),
    b("storage.k8s.io", "StorageClass", "storageclasses", CLUSTER, &["sc"], &[]),
    b("coordination.k8s.io", "Lease", "leases", NS, &[], &[]),
    b("admissionregistration.k8s.io", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations", CLUSTER, &[], &[]),
    b("admissionregistration.k8s.io", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations", CLUSTER, &[], &[]),
    b("apiextensions.k8s.io", "CustomResourceDefinition", "customresourcedefinitions", CLUSTER, &["crd", "crds"], STATUS),
];

/// Resources served now: the built-ins plus those of the registered CRDs.
#[derive(Debug, Clone)]
pub(crate) struct Registry {
    defs: Vec<ResourceDef>,
}

impl Default for Registry {
    fn default() -> Self {
        let defs = BUILTINS
            .iter()
            .map(|b| ResourceDef {
                group: b.group.into(),
                version: "v1".into(),
                kind: b.kind.into(),
                plural: b.plural.into(),
                singular: b.kind.to_ascii_lowercase(),
                namespaced: b.namespaced,
                short_names: b.short.iter().map(|s| s.to_string()).collect(),
                categories: if matches!(
                    b.plural,
                    "pods"
                        | "services"
                        | "deployments"
                        | "daemonsets"
                        | "statefulsets"
                        | "replicasets"
                        | "jobs"
                        | "cronjobs"
                ) {
                    vec!["all".to_string()]
                } else {
                    Vec::new()
                },
                subresources: b.sub.iter().map(|s| s.to_string()).collect(),
            })
            .collect();
        Self { defs }
    }
}

impl Registry {
    /// Every served group/version/resource.
    pub(crate) fn all(&self) -> &[ResourceDef] {
        &self.defs
    }

    /// The resource at `group`/`version` with this plural.
    pub(crate) fn by_plural(
        &self,
        group: &str,
        version: &str,
        plural: &str,
    ) -> Option<&ResourceDef> {
        self.defs
            .iter()
            .find(|d| d.group == group && d.version == version && d.plural == plural)
    }

    /// The resource of `apiVersion` named by kind, plural, singular or short name.
    pub(crate) fn resolve(&self, api_version: &str, name: &str) -> Option<&ResourceDef> {
        let (group, version) = split_api_version(api_version);
        self.defs
            .iter()
            .find(|d| d.group == group && d.version == version && d.is_named(name))
    }

    /// Served versions of a group, most preferred first.
    pub(crate) fn group_versions(&self, group: &str) -> Vec<String> {
        let mut versions: Vec<String> = Vec::new();
        for d in self.defs.iter().filter(|d| d.group == group) {
            if !versions.contains(&d.version) {
                versions.push(d.version.clone());
            }
        }
        versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        versions
    }

    /// Named groups (not the core group), in registration order.
    pub(crate) fn groups(&self) -> Vec<String> {
        let mut groups: Vec<String> = Vec::new();
        for d in self.defs.iter().filter(|d| !d.group.is_empty()) {
            if !groups.contains(&d.group) {
                groups.push(d.group.clone());
            }
        }
        groups
    }

    /// Registers (or re-registers) the resources a CRD object defines; returns them.
    pub(crate) fn register_crd(&mut self, crd: &Value) -> Result<Vec<ResourceDef>, String> {
        let spec = &crd["spec"];
        let group = spec["group"].as_str().ok_or("spec.group: Required value")?;
        let names = &spec["names"];
        let kind = names["kind"]
            .as_str()
            .ok_or("spec.names.kind: Required value")?;
        let plural = names["plural"]
            .as_str()
            .ok_or("spec.names.plural: Required value")?;
        let expected = format!("{plural}.{group}");
        if crd["metadata"]["name"].as_str() != Some(expected.as_str()) {
            return Err(format!(
                "metadata.name: Invalid value: must be spec.names.plural+\".\"+spec.group ({expected})"
            ));
        }
        if super::builtin::is_protected_group(group)
            && crd["metadata"]["annotations"]["api-approved.kubernetes.io"].is_null()
        {
            return Err("metadata.annotations[api-approved.kubernetes.io]: Required value: protected groups must have approval annotation \"api-approved.kubernetes.io\", see https://github.com/kubernetes/enhancements/pull/1111"
                .into());
        }
        let versions = spec["versions"]
            .as_array()
            .ok_or("spec.versions: Required value")?;
        if versions
            .iter()
            .filter(|v| v["storage"].as_bool() == Some(true))
            .count()
            != 1
        {
            return Err("spec.versions: Invalid value: must have exactly one version marked as storage version".into());
        }
        let namespaced = spec["scope"].as_str() != Some("Cluster");
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        self.unregister_group_resource(group, plural);
        let mut added = Vec::new();
        for v in versions
            .iter()
            .filter(|v| v["served"].as_bool() != Some(false))
        {
            let Some(version) = v["name"].as_str() else {
                continue;
            };
            let mut subresources = Vec::new();
            if v["subresources"]["status"].is_object() {
                subresources.push("status".to_string());
            }
            let def = ResourceDef {
                group: group.into(),
                version: version.into(),
                kind: kind.into(),
                plural: plural.into(),
                singular: names["singular"]
                    .as_str()
                    .map(String::from)
                    .unwrap_or_else(|| kind.to_ascii_lowercase()),
                namespaced,
                short_names: strings(&names["shortNames"]),
                categories: strings(&names["categories"]),
                subresources,
            };
            added.push(def.clone());
            self.defs.push(def);
        }
        Ok(added)
    }

    /// Removes every version of a group/plural (a deleted CRD).
    pub(crate) fn unregister_group_resource(&mut self, group: &str, plural: &str) {
        self.defs
            .retain(|d| !(d.group == group && d.plural == plural));
    }
}

/// Whether `apiVersion`/`kind` name a built-in kind (not a custom resource).
pub(crate) fn is_builtin_api_kind(api_version: &str, kind: &str) -> bool {
    let (group, _) = split_api_version(api_version);
    BUILTINS.iter().any(|b| b.group == group && b.kind == kind)
}

/// `("apps", "v1")` from `apps/v1`, `("", "v1")` from `v1`.
pub(crate) fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}

/// Kubernetes version priority: GA before beta before alpha, higher numbers first, others last.
fn version_priority(v: &str) -> (u8, u32, u32) {
    let Some(rest) = v.strip_prefix('v') else {
        return (0, 0, 0);
    };
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let Ok(major) = digits.parse::<u32>() else {
        return (0, 0, 0);
    };
    let tail = &rest[digits.len()..];
    let (level, num) = if tail.is_empty() {
        (3, 0)
    } else if let Some(n) = tail.strip_prefix("beta") {
        (2, n.parse().unwrap_or(0))
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, n.parse().unwrap_or(0))
    } else {
        return (0, 0, 0);
    };
    (level, major, num)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resolves_kind_plural_and_short_names() {
        let r = Registry::default();
        assert_eq!(
            r.resolve("v1", "Pod").map(|d| d.plural.as_str()),
            Some("pods")
        );
        assert_eq!(
            r.resolve("apps/v1", "deploy").map(|d| d.kind.as_str()),
            Some("Deployment")
        );
        assert!(r.resolve("v1", "Deployment").is_none());
    }

    #[test]
    fn versions_sort_by_kubernetes_priority() {
        let mut v = vec!["v1alpha1", "v1beta2", "v2", "v1", "foo"];
        v.sort_by_key(|x| std::cmp::Reverse(version_priority(x)));
        assert_eq!(v, ["v2", "v1", "v1beta2", "v1alpha1", "foo"]);
    }

    #[test]
    fn crd_registration_requires_matching_name() {
        let mut r = Registry::default();
        let crd = json!({"metadata": {"name": "wrong"}, "spec": {"group": "g.io", "names": {"kind": "W", "plural": "ws"}, "scope": "Namespaced", "versions": [{"name": "v1", "served": true, "storage": true}]}});
        assert!(r.register_crd(&crd).is_err());
        let mut two_storage = crd.clone();
        two_storage["metadata"]["name"] = json!("ws.g.io");
        two_storage["spec"]["versions"] =
            json!([{"name": "v1", "storage": true}, {"name": "v2", "storage": true}]);
        assert!(
            r.register_crd(&two_storage)
                .unwrap_err()
                .contains("exactly one version")
        );
        two_storage["spec"]["versions"][1]["storage"] = json!(false);
        assert_eq!(r.register_crd(&two_storage).unwrap().len(), 2);
        assert_eq!(r.group_versions("g.io"), ["v2", "v1"]);
    }
}
