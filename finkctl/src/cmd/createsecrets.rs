//! `finkctl createsecrets`: the Kafka JAAS Secret in the current namespace, by server-side apply,
//! once the namespace exists.

use std::io::Write;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::runtime::watcher;

use crate::cli::CreateSecretsArgs;
use crate::context::{Context, block_on_kube};
use crate::jaas::{jaas_secret, jaas_text};
use crate::kafka::{apply_secret, kafka_password};
use common::duration::format_duration;
use common::kube::wait::{WaitError, wait_for};
use common::kube::{Deadline, KubeTarget};

/// Runs `finkctl createsecrets`.
pub(crate) fn run(
    ctx: &Context,
    args: &CreateSecretsArgs,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let config = ctx.config(false)?;
    let target = ctx.kube_target()?;
    if ctx.dry_run {
        // The password (given, or read from the Kafka user's Secret) is never shown.
        let mut secret = jaas_secret(
            target.namespace(),
            &jaas_text(&args.kafka_username, "<redacted>"),
        );
        // Show the text, never the password (nor the base64 of it).
        secret.string_data = secret.data.take().map(|d| {
            d.into_iter()
                .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
                .collect()
        });
        write!(
            out,
            "{}",
            serde_saphyr::to_string(&secret).context("cannot print the Secret")?
        )?;
        return Ok(());
    }
    let deadline = Deadline::after(args.timeout);
    block_on_kube(&target, deadline, "creating the JAAS Secret", async {
        // `-p ""` is no password, as in the original: read it from the Kafka user's Secret.
        let password = match args.kafka_password.as_deref().filter(|p| !p.is_empty()) {
            Some(password) => password.to_string(),
            None => kafka_password(&config, &target).await?,
        };
        wait_for_namespace(&target, deadline).await?;
        apply_secret(&target, &args.kafka_username, &password).await
    })
}

async fn wait_for_namespace(target: &KubeTarget, deadline: Deadline) -> anyhow::Result<()> {
    let namespace = target.namespace();
    let api: Api<Namespace> = Api::all(target.client().await?);
    let config = watcher::Config::default().fields(&format!("metadata.name={namespace}"));
    let what = format!("namespace {namespace}");
    wait_for(
        api,
        config,
        |namespaces| !namespaces.is_empty(),
        deadline.remaining(),
        &what,
    )
    .await
    .map_err(|err| match err {
        WaitError::Timeout { .. } => anyhow::Error::new(err).context(format!(
            "namespace {namespace:?} is not available after {}",
            format_duration(deadline.timeout)
        )),
        other => anyhow::Error::new(other),
    })?;
    Ok(())
}
