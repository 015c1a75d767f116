//! The Kafka side of Fink on Kubernetes: the Kafka user's password and the JAAS Secret that hands
//! it to the Spark pods.

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{Patch, PatchParams};

use crate::config::{FinkConfig, or_default};
use crate::jaas::{jaas_secret, jaas_text};
use crate::kube_api::{FIELD_MANAGER, api_error};
use crate::spark_job::JAAS_SECRET;
use common::kube::KubeTarget;
use common::kube::retry::retry_transient;

/// Default namespace of the Kafka cluster.
pub(crate) const DEFAULT_KAFKA_NAMESPACE: &str = "kafka";
/// Default name of the Kafka user (and of its Secret).
pub(crate) const DEFAULT_KAFKA_USER: &str = "fink-producer";

/// Reads the Kafka user's password from its Secret (`kafka/fink-producer`, key `password`).
pub(crate) async fn kafka_password(
    config: &FinkConfig,
    target: &KubeTarget,
) -> anyhow::Result<String> {
    let namespace = or_default(&config.kafka.namespace, DEFAULT_KAFKA_NAMESPACE);
    let name = or_default(&config.kafka.user_secret, DEFAULT_KAFKA_USER);
    let api: Api<Secret> = Api::namespaced(target.client().await?, &namespace);
    let secret = retry_transient(&format!("reading Secret {namespace}/{name}"), || {
        api.get(&name)
    })
    .await
    .map_err(api_error)
    .with_context(|| {
        format!("cannot read the Kafka password from Secret {namespace}/{name}: pass it explicitly")
    })?;
    let bytes = secret
        .data
        .and_then(|mut d| d.remove("password"))
        .with_context(|| format!("Secret {namespace}/{name} has no key \"password\""))?;
    String::from_utf8(bytes.0)
        .with_context(|| format!("Secret {namespace}/{name}: the password is not UTF-8"))
}

/// Server-side applies the JAAS Secret in the target namespace.
pub(crate) async fn apply_secret(
    target: &KubeTarget,
    username: &str,
    password: &str,
) -> anyhow::Result<()> {
    let namespace = target.namespace();
    let secret = jaas_secret(namespace, &jaas_text(username, password));
    let api: Api<Secret> = Api::namespaced(target.client().await?, namespace);
    let params = PatchParams::apply(FIELD_MANAGER);
    let patch = Patch::Apply(&secret);
    retry_transient(&format!("applying Secret {JAAS_SECRET}"), || {
        api.patch(JAAS_SECRET, &params, &patch)
    })
    .await
    .map_err(api_error)
    .with_context(|| format!("cannot apply Secret {namespace}/{JAAS_SECRET}"))?;
    tracing::info!(namespace, "Secret {JAAS_SECRET} applied");
    Ok(())
}

/// Applies the JAAS Secret for `distribution.kafka.username` and `.password` (by default, the
/// Kafka user's own password, read from its Secret).
pub(crate) async fn apply_jaas_secret(
    config: &FinkConfig,
    target: &KubeTarget,
) -> anyhow::Result<()> {
    let username = or_default(&config.distribution.kafka.username, DEFAULT_KAFKA_USER);
    let mut password = config.distribution.kafka.password.clone();
    if password.is_empty() {
        password = kafka_password(config, target).await?;
    }
    apply_secret(target, &username, &password).await
}
