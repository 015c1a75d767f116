//! Ready-made CustomResourceDefinitions of the operators the tools talk to.

use serde_json::{Value, json};

/// A namespaced CRD with one served storage version, a status subresource and an open schema.
pub fn definition(
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    short_names: &[&str],
) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": format!("{plural}.{group}") },
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": format!("{kind}List"),
                "plural": plural,
                "singular": kind.to_ascii_lowercase(),
                "shortNames": short_names,
            },
            "versions": [{
                "name": version,
                "served": true,
                "storage": true,
                "subresources": { "status": {} },
                "schema": { "openAPIV3Schema": { "type": "object", "x-kubernetes-preserve-unknown-fields": true } },
            }],
        },
    })
}

/// Strimzi `KafkaTopic` (`kafka.strimzi.io/v1beta2`, short name `kt`).
pub fn kafka_topic() -> Value {
    definition(
        "kafka.strimzi.io",
        "v1beta2",
        "KafkaTopic",
        "kafkatopics",
        &["kt"],
    )
}

/// Strimzi `KafkaUser` (`kafka.strimzi.io/v1beta2`, short name `ku`).
pub fn kafka_user() -> Value {
    definition(
        "kafka.strimzi.io",
        "v1beta2",
        "KafkaUser",
        "kafkausers",
        &["ku"],
    )
}

/// spark-operator `SparkApplication` (`sparkoperator.k8s.io/v1beta2`, short name `sparkapp`),
/// with the `api-approved.kubernetes.io` annotation its protected group needs, as the real one.
pub fn spark_application() -> Value {
    let mut crd = definition(
        "sparkoperator.k8s.io",
        "v1beta2",
        "SparkApplication",
        "sparkapplications",
        &["sparkapp"],
    );
    crd["metadata"]["annotations"] = json!({
        "api-approved.kubernetes.io": "https://github.com/kubeflow/spark-operator/pull/1298",
    });
    crd
}
