//! What the real API server does to built-in kinds besides storing them: decoding into typed
//! structs (a wrong JSON type is a 400), defaulting of pods and services, and which kinds count
//! a `metadata.generation`.

use serde_json::{Value, json};

use super::resources::ResourceDef;
use super::status::ApiError;

/// Fields that decode as `map[string]string`: (kind, Go field name, path).
const STRING_MAPS: &[(&str, &str, &[&str])] = &[
    ("", "ObjectMeta.metadata.labels", &["metadata", "labels"]),
    (
        "",
        "ObjectMeta.metadata.annotations",
        &["metadata", "annotations"],
    ),
    ("ConfigMap", "ConfigMap.data", &["data"]),
    ("ConfigMap", "ConfigMap.binaryData", &["binaryData"]),
    ("Secret", "Secret.data", &["data"]),
    ("Secret", "Secret.stringData", &["stringData"]),
];

/// The Go JSON decoder's name for a value's type.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The typed-decoding error of a built-in kind.
fn undecodable(def: &ResourceDef, found: &Value, go_field: &str, expected: &str) -> ApiError {
    ApiError::bad_request(format!(
        "{kind} in version \"{version}\" cannot be handled as a {kind}: json: cannot unmarshal {found} into Go struct field {go_field} of type {expected}",
        kind = def.kind,
        version = def.version,
        found = json_type(found),
    ))
}

/// Container fields the tools and manifests write: strings and lists of strings.
fn check_containers(def: &ResourceDef, spec: &Value, at: &str) -> Result<(), ApiError> {
    for list in ["initContainers", "containers"] {
        for c in spec[list].as_array().into_iter().flatten() {
            let field = |f: &str| format!("Container.{at}.{list}.{f}");
            for f in ["name", "image", "workingDir"] {
                if let Some(v) = c.get(f).filter(|v| !v.is_string() && !v.is_null()) {
                    return Err(undecodable(def, v, &field(f), "string"));
                }
            }
            for f in ["command", "args"] {
                match c.get(f) {
                    None | Some(Value::Null) => {}
                    Some(Value::Array(items)) => {
                        if let Some(v) = items.iter().find(|v| !v.is_string()) {
                            return Err(undecodable(def, v, &field(f), "string"));
                        }
                    }
                    Some(v) => return Err(undecodable(def, v, &field(f), "[]string")),
                }
            }
            for e in c["env"].as_array().into_iter().flatten() {
                if let Some(v) = e.get("value").filter(|v| !v.is_string() && !v.is_null()) {
                    let go_field = format!("EnvVar.{at}.{list}.env.value");
                    return Err(undecodable(def, v, &go_field, "string"));
                }
            }
        }
    }
    Ok(())
}

/// Checks what the typed decoding of a built-in kind rejects: non-string values in the string
/// maps (labels, annotations, ConfigMap and Secret data) and in containers' names, images,
/// commands, arguments and environment values. Custom resources are not checked here.
pub(crate) fn check_types(def: &ResourceDef, obj: &Value) -> Result<(), ApiError> {
    if !def.is_builtin() {
        return Ok(());
    }
    if def.group.is_empty() && def.plural == "pods" {
        check_containers(def, &obj["spec"], "spec")?;
    }
    let template = match def.plural.as_str() {
        "deployments" | "daemonsets" | "statefulsets" | "replicasets" | "jobs" => {
            Some(("/spec/template/spec", "spec.template.spec"))
        }
        "cronjobs" => Some((
            "/spec/jobTemplate/spec/template/spec",
            "spec.jobTemplate.spec.template.spec",
        )),
        _ => None,
    };
    if let Some((pointer, at)) = template
        && let Some(spec) = obj.pointer(pointer)
    {
        check_containers(def, spec, at)?;
    }
    for (kind, go_field, path) in STRING_MAPS {
        if !kind.is_empty() && *kind != def.kind {
            continue;
        }
        let Some(value) = path.iter().try_fold(obj, |v, k| v.get(*k)) else {
            continue;
        };
        let bad = match value {
            Value::Null => None,
            Value::Object(m) => m.values().find(|v| !v.is_string()),
            other => Some(other),
        };
        if let Some(found) = bad {
            let expected = if value.is_object() {
                "string"
            } else {
                "map[string]string"
            };
            return Err(undecodable(def, found, go_field, expected));
        }
    }
    Ok(())
}

/// Whether the kind counts `metadata.generation` (its strategy bumps it on spec changes): the
/// workloads, pods, policies, webhooks, CRDs and every custom resource; not ConfigMap, Secret,
/// Namespace, Service, ServiceAccount and the other plain kinds.
pub(crate) fn has_generation(def: &ResourceDef) -> bool {
    !def.is_builtin()
        || matches!(
            def.plural.as_str(),
            "pods"
                | "deployments"
                | "daemonsets"
                | "statefulsets"
                | "replicasets"
                | "jobs"
                | "cronjobs"
                | "ingresses"
                | "networkpolicies"
                | "poddisruptionbudgets"
                | "validatingwebhookconfigurations"
                | "mutatingwebhookconfigurations"
                | "customresourcedefinitions"
        )
}

fn set_default(obj: &mut Value, key: &str, value: Value) {
    if obj.get(key).is_none_or(Value::is_null) {
        obj[key] = value;
    }
}

/// Pod spec defaults (pods and the templates of workloads), as `SetDefaults_PodSpec` and
/// `SetDefaults_Container` fill them in.
pub(crate) fn default_pod_spec(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    set_default(spec, "securityContext", json!({}));
    set_default(spec, "enableServiceLinks", json!(true));
    for list in ["initContainers", "containers"] {
        for c in spec[list].as_array_mut().into_iter().flatten() {
            default_container(c);
        }
    }
}

fn default_container(c: &mut Value) {
    if !c.is_object() {
        return;
    }
    let image = c["image"].as_str().unwrap_or_default();
    let tag = image
        .rsplit_once('/')
        .map_or(image, |(_, last)| last)
        .split_once(':')
        .map(|(_, t)| t);
    let pull = if image.contains('@') || !matches!(tag, None | Some("latest")) {
        "IfNotPresent"
    } else {
        "Always"
    };
    set_default(c, "imagePullPolicy", json!(pull));
    set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(c, "terminationMessagePolicy", json!("File"));
    set_default(c, "resources", json!({}));
    for port in c["ports"].as_array_mut().into_iter().flatten() {
        set_default(port, "protocol", json!("TCP"));
    }
}

/// Service defaults: type ClusterIP, session affinity, and per port the protocol and the target
/// port (the port itself).
pub(crate) fn default_service(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    set_default(spec, "type", json!("ClusterIP"));
    set_default(spec, "sessionAffinity", json!("None"));
    if spec["type"] != "ExternalName" {
        set_default(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    for port in spec["ports"].as_array_mut().into_iter().flatten() {
        set_default(port, "protocol", json!("TCP"));
        let number = port["port"].clone();
        set_default(port, "targetPort", number);
    }
}

/// The pod template spec inside a workload's spec, if it has one.
pub(crate) fn pod_template_spec<'a>(plural: &str, spec: &'a mut Value) -> Option<&'a mut Value> {
    match plural {
        "deployments" | "daemonsets" | "statefulsets" | "replicasets" | "jobs" => {
            spec.pointer_mut("/template/spec")
        }
        "cronjobs" => spec.pointer_mut("/jobTemplate/spec/template/spec"),
        _ => None,
    }
}

/// Groups whose CRDs need the `api-approved.kubernetes.io` annotation (since 1.16).
pub(crate) fn is_protected_group(group: &str) -> bool {
    ["k8s.io", "kubernetes.io"]
        .iter()
        .any(|g| group == *g || group.ends_with(&format!(".{g}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_pull_policy_follows_the_tag() {
        for (image, policy) in [
            ("busybox", "Always"),
            ("busybox:latest", "Always"),
            ("busybox:1.36", "IfNotPresent"),
            ("localhost:5000/busybox", "Always"),
            ("r/busybox@sha256:00", "IfNotPresent"),
        ] {
            let mut c = json!({"name": "c", "image": image});
            default_container(&mut c);
            assert_eq!(c["imagePullPolicy"], policy, "{image}");
        }
    }

    #[test]
    fn container_fields_are_type_checked() {
        let registry = super::super::resources::Registry::default();
        let deployments = registry.by_plural("apps", "v1", "deployments").unwrap();
        let d = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "i", "args": ["--n", 3]},
        ]}}}});
        assert_eq!(
            check_types(deployments, &d).unwrap_err().message,
            "Deployment in version \"v1\" cannot be handled as a Deployment: json: cannot unmarshal number into Go struct field Container.spec.template.spec.containers.args of type string"
        );
        let pods = registry.by_plural("", "v1", "pods").unwrap();
        let p =
            json!({"spec": {"containers": [{"name": "c", "env": [{"name": "N", "value": 1}]}]}});
        assert_eq!(check_types(pods, &p).unwrap_err().code, 400);
        let ok = json!({"spec": {"containers": [{"name": "c", "command": ["sh"], "env": [{"name": "N", "value": "1"}]}]}});
        assert!(check_types(pods, &ok).is_ok());
    }

    #[test]
    fn protected_groups() {
        assert!(is_protected_group("sparkoperator.k8s.io"));
        assert!(is_protected_group("x.kubernetes.io"));
        assert!(!is_protected_group("kafka.strimzi.io"));
        assert!(!is_protected_group("notk8s.io"));
    }
}
