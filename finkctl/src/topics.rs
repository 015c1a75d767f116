//! Kafka topics produced by the fink-broker: listed by running `kafka-topics.sh` in the broker pod
//! (`pods/exec`), or from Strimzi `KafkaTopic` resources.

use anyhow::{Context as _, bail};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{AttachParams, DynamicObject, ListParams};
use kube::discovery::ApiResource;
use tokio::io::AsyncReadExt;

use crate::config::{FinkConfig, or_default};
use crate::kafka::DEFAULT_KAFKA_NAMESPACE;
use crate::kube_api::api_error;
use common::kube::KubeTarget;

/// How topics are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum TopicSource {
    /// wait topics: watch KafkaTopic resources when their CRD is served, and run
    /// kafka-topics.sh every --interval as well (topics the broker creates itself have no
    /// KafkaTopic resource with Strimzi's unidirectional topic operator); get topics: exec
    Auto,
    /// Run kafka-topics.sh in the Kafka broker pod
    Exec,
    /// List Strimzi KafkaTopic resources
    Crd,
}

/// Where the Kafka broker is and how fink topics are named (config section `kafka`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KafkaSettings {
    /// Namespace of the Kafka cluster.
    pub(crate) namespace: String,
    /// Broker pod that runs `kafka-topics.sh`.
    pub(crate) broker_pod: String,
    /// Container of the broker pod.
    pub(crate) broker_container: String,
    /// Bootstrap server given to `kafka-topics.sh`.
    pub(crate) bootstrap_server: String,
    /// Prefix of the topics produced by the fink-broker.
    pub(crate) topic_prefix: String,
    /// Path of `kafka-topics.sh` in the container.
    pub(crate) topics_script: String,
}

impl KafkaSettings {
    /// Reads the settings, with the original's hard-coded values as defaults.
    pub(crate) fn from_config(config: &FinkConfig) -> Self {
        let k = &config.kafka;
        Self {
            namespace: or_default(&k.namespace, DEFAULT_KAFKA_NAMESPACE),
            broker_pod: or_default(&k.broker_pod, "kafka-cluster-dual-role-0"),
            broker_container: or_default(&k.broker_container, "kafka"),
            bootstrap_server: or_default(
                &k.bootstrap_server,
                "kafka-cluster-kafka-bootstrap.kafka:9092",
            ),
            topic_prefix: or_default(&k.topic_prefix, "fink_"),
            topics_script: or_default(&k.topics_script, "bin/kafka-topics.sh"),
        }
    }

    /// The command run in the broker container.
    pub(crate) fn list_command(&self) -> Vec<String> {
        vec![
            self.topics_script.clone(),
            "--bootstrap-server".into(),
            self.bootstrap_server.clone(),
            "--list".into(),
        ]
    }
}

/// The KafkaTopic API resource (Strimzi).
pub(crate) fn kafka_topic_resource() -> ApiResource {
    ApiResource {
        group: "kafka.strimzi.io".into(),
        version: "v1beta2".into(),
        api_version: "kafka.strimzi.io/v1beta2".into(),
        kind: "KafkaTopic".into(),
        plural: "kafkatopics".into(),
    }
}

/// Lists the fink topics (those starting with the prefix), sorted as listed.
pub(crate) async fn fink_topics(
    target: &KubeTarget,
    settings: &KafkaSettings,
    source: TopicSource,
) -> anyhow::Result<Vec<String>> {
    let client = target.client().await?;
    match source {
        TopicSource::Exec | TopicSource::Auto => Ok(exec_list(client, settings)
            .await?
            .into_iter()
            .filter(|n| n.starts_with(&settings.topic_prefix))
            .collect()),
        TopicSource::Crd => {
            let list = kafka_topics_api(client, settings)
                .list(&ListParams::default())
                .await
                .map_err(api_error)
                .with_context(|| {
                    format!(
                        "cannot list KafkaTopic resources in namespace {}",
                        settings.namespace
                    )
                })?;
            Ok(fink_topic_names(&list.items, &settings.topic_prefix))
        }
    }
}

/// The KafkaTopic resources of the Kafka namespace.
pub(crate) fn kafka_topics_api(
    client: kube::Client,
    settings: &KafkaSettings,
) -> Api<DynamicObject> {
    Api::namespaced_with(client, &settings.namespace, &kafka_topic_resource())
}

/// The names of the fink topics among KafkaTopic resources: `spec.topicName`, else the
/// resource name, kept when it starts with `prefix`.
pub(crate) fn fink_topic_names<'a>(
    topics: impl IntoIterator<Item = &'a DynamicObject>,
    prefix: &str,
) -> Vec<String> {
    topics
        .into_iter()
        .filter_map(|topic| {
            topic.data["spec"]["topicName"]
                .as_str()
                .map(str::to_string)
                .or_else(|| topic.metadata.name.clone())
        })
        .filter(|name| name.starts_with(prefix))
        .collect()
}

async fn exec_list(client: kube::Client, settings: &KafkaSettings) -> anyhow::Result<Vec<String>> {
    let where_ = format!(
        "pod {}/{} container {}",
        settings.namespace, settings.broker_pod, settings.broker_container
    );
    let api: Api<Pod> = Api::namespaced(client, &settings.namespace);
    let params = AttachParams::default()
        .container(settings.broker_container.clone())
        .stdin(false)
        .stdout(true)
        .stderr(true);
    let mut process = api
        .exec(&settings.broker_pod, settings.list_command(), &params)
        .await
        .map_err(api_error)
        .with_context(|| format!("cannot run kafka-topics.sh in {where_}"))?;
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut out) = process.stdout() {
        out.read_to_string(&mut stdout)
            .await
            .context("cannot read kafka-topics.sh output")?;
    }
    if let Some(mut err) = process.stderr() {
        err.read_to_string(&mut stderr)
            .await
            .context("cannot read kafka-topics.sh errors")?;
    }
    let status = match process.take_status() {
        Some(status) => status.await,
        None => None,
    };
    process.join().await.ok();
    if let Some(status) = status
        && status.status.as_deref() == Some("Failure")
    {
        bail!(
            "kafka-topics.sh failed in {where_}: {}{}",
            status.message.unwrap_or_default(),
            if stderr.trim().is_empty() {
                String::new()
            } else {
                format!(": {}", stderr.trim())
            }
        );
    }
    Ok(stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_original_constants_and_config_overrides_them() {
        let settings = KafkaSettings::from_config(&FinkConfig::from_yaml_texts(&[]).unwrap());
        assert_eq!(
            settings.list_command(),
            [
                "bin/kafka-topics.sh",
                "--bootstrap-server",
                "kafka-cluster-kafka-bootstrap.kafka:9092",
                "--list"
            ]
        );
        assert_eq!(
            (settings.namespace.as_str(), settings.broker_pod.as_str()),
            ("kafka", "kafka-cluster-dual-role-0")
        );
        let c = FinkConfig::from_yaml_texts(&["kafka:\n  topic_prefix: fink-\n  namespace: k\n"])
            .unwrap();
        let settings = KafkaSettings::from_config(&c);
        assert_eq!(
            (settings.topic_prefix.as_str(), settings.namespace.as_str()),
            ("fink-", "k")
        );
    }
}
