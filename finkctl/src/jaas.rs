//! The Kafka JAAS file mounted by the distribution executors, and the Secret that holds it.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::ObjectMeta;

use crate::spark_job::{JAAS_FILE, JAAS_SECRET};

/// The JAAS text for a SCRAM user (no trailing newline, as the original's template). Quotes and
/// backslashes in the credentials are escaped for the JAAS parser.
pub(crate) fn jaas_text(username: &str, password: &str) -> String {
    format!(
        "// Configuration for secure kafka authentication\nKafkaClient {{\n    org.apache.kafka.common.security.scram.ScramLoginModule required\n    username=\"{}\"\n    password=\"{}\";\n}};",
        escape(username),
        escape(password)
    )
}

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The `fink-kafka-jaas` Secret in `namespace`, with the JAAS text under `kafka-jaas.conf`.
pub(crate) fn jaas_secret(namespace: &str, jaas: &str) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(JAAS_SECRET.to_string()),
            namespace: Some(namespace.to_string()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            JAAS_FILE.to_string(),
            ByteString(jaas.as_bytes().to_vec()),
        )])),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_matches_the_original_template() {
        let template = include_str!("../tests/fixtures/kafka-jaas.conf");
        let expected = template
            .replace("{{ .KafkaCreds.Username }}", "fink-producer")
            .replace("{{ .KafkaCreds.Password }}", "changeme");
        assert_eq!(jaas_text("fink-producer", "changeme"), expected);
    }

    #[test]
    fn credentials_are_escaped() {
        let text = jaas_text("u", r#"p"a\s"#);
        assert!(text.contains(r#"password="p\"a\\s";"#), "{text}");
    }
}
