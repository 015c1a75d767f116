//! `finkctl get topics`: list the Kafka topics produced by the fink-broker.

use std::io::Write;

use crate::cli::{GetArgs, GetCommand, OutputFormat};
use crate::context::{Context, block_on_kube};
use crate::topics::{KafkaSettings, fink_topics};
use common::kube::Deadline;

/// Runs `finkctl get <what>`.
pub(crate) fn run(ctx: &Context, args: &GetArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let GetCommand::Topic(args) = &args.what;
    let settings = KafkaSettings::from_config(&ctx.config(false)?);
    let target = ctx.kube_target()?;
    tracing::info!("List kafka topics produced by the fink-broker");
    let topics = block_on_kube(
        &target,
        Deadline::after(args.timeout),
        "listing Kafka topics",
        fink_topics(&target, &settings, args.source),
    )?;
    write!(out, "{}", format_topics(&topics, args.output))?;
    Ok(())
}

/// The text of `get topics`.
fn format_topics(topics: &[String], format: OutputFormat) -> String {
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
