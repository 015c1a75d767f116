//! Kafka topics produced by the fink-broker: listed by running `kafka-topics.sh` in the broker pod
//! (`pods/exec`), or from Strimzi `KafkaTopic` resources; `get topics` prints them.

use anyhow::{Context as _, bail};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{AttachParams, DynamicObject, ListParams};
use kube::discovery::ApiResource;
use tokio::io::AsyncReadExt;

use crate::Context;
use crate::cli::{OutputFormat, TopicArgs, TopicSource};
use crate::config::FinkConfig;
use crate::run::DEFAULT_KAFKA_NAMESPACE;
use common::kube::{Deadline, KubeTarget};

/// Where the Kafka broker is and how fink topics are named (config section `kafka`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSettings {
    /// Namespace of the Kafka cluster.
    pub namespace: String,
    /// Broker pod that runs `kafka-topics.sh`.
    pub broker_pod: String,
    /// Container of the broker pod.
    pub broker_container: String,
    /// Bootstrap server given to `kafka-topics.sh`.
    pub bootstrap_server: String,
    /// Prefix of the topics produced by the fink-broker.
    pub topic_prefix: String,
    /// Path of `kafka-topics.sh` in the container.
    pub topics_script: String,
}

impl KafkaSettings {
    /// Reads the settings, with the original's hard-coded values as defaults.
    pub fn from_config(config: &FinkConfig) -> anyhow::Result<Self> {
        Ok(Self {
            namespace: config.string_or("kafka.namespace", DEFAULT_KAFKA_NAMESPACE)?,
            broker_pod: config.string_or("kafka.broker_pod", "kafka-cluster-dual-role-0")?,
            broker_container: config.string_or("kafka.broker_container", "kafka")?,
            bootstrap_server: config.string_or(
                "kafka.bootstrap_server",
                "kafka-cluster-kafka-bootstrap.kafka:9092",
            )?,
            topic_prefix: config.string_or("kafka.topic_prefix", "fink_")?,
            topics_script: config.string_or("kafka.topics_script", "bin/kafka-topics.sh")?,
        })
    }

    /// The command run in the broker container.
    pub fn list_command(&self) -> Vec<String> {
        vec![
            self.topics_script.clone(),
            "--bootstrap-server".into(),
            self.bootstrap_server.clone(),
            "--list".into(),
        ]
    }
}

/// The KafkaTopic API resource (Strimzi).
pub fn kafka_topic_resource() -> ApiResource {
    ApiResource {
        group: "kafka.strimzi.io".into(),
        version: "v1beta2".into(),
        api_version: "kafka.strimzi.io/v1beta2".into(),
        kind: "KafkaTopic".into(),
        plural: "kafkatopics".into(),
    }
}

/// Lists the fink topics (those starting with the prefix), sorted as listed.
pub async fn fink_topics(
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
                .map_err(crate::api_error)
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
pub fn kafka_topics_api(client: kube::Client, settings: &KafkaSettings) -> Api<DynamicObject> {
    Api::namespaced_with(client, &settings.namespace, &kafka_topic_resource())
}

/// The names of the fink topics among KafkaTopic resources: `spec.topicName`, else the
/// resource name, kept when it starts with `prefix`.
pub fn fink_topic_names<'a>(
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
        .map_err(crate::api_error)
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

/// Runs `finkctl get topics`.
pub fn get_command(ctx: &Context, args: &TopicArgs) -> anyhow::Result<()> {
    let settings = KafkaSettings::from_config(&ctx.config(false)?)?;
    let target = ctx.kube_target()?;
    tracing::info!("List kafka topics produced by the fink-broker");
    let topics = crate::block_on_kube(
        &target,
        Deadline::after(args.timeout),
        "listing Kafka topics",
        fink_topics(&target, &settings, args.source),
    )?;
    print!("{}", format_topics(&topics, args.output));
    Ok(())
}

/// The text of `get topics`.
pub fn format_topics(topics: &[String], format: OutputFormat) -> String {
    match format {
        OutputFormat::Json => format!("{}\n", serde_json::Value::from(topics.to_vec())),
        OutputFormat::Text if topics.is_empty() => {
            "Filtered Kafka topics:\nNo fink topics found\n".into()
        }
        OutputFormat::Text => format!("Filtered Kafka topics:\n{}\n", topics.join("\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_original_constants_and_config_overrides_them() {
        let settings =
            KafkaSettings::from_config(&FinkConfig::from_yaml_texts(&[]).unwrap()).unwrap();
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
        let settings = KafkaSettings::from_config(&c).unwrap();
        assert_eq!(
            (settings.topic_prefix.as_str(), settings.namespace.as_str()),
            ("fink-", "k")
        );
    }

    #[test]
    fn text_and_json_output() {
        let topics = vec!["fink_a".to_string(), "fink_b".to_string()];
        assert_eq!(
            format_topics(&topics, OutputFormat::Text),
            "Filtered Kafka topics:\nfink_a\nfink_b\n"
        );
        assert_eq!(
            format_topics(&[], OutputFormat::Text),
            "Filtered Kafka topics:\nNo fink topics found\n"
        );
        assert_eq!(
            format_topics(&topics, OutputFormat::Json),
            "[\"fink_a\",\"fink_b\"]\n"
        );
    }
}
