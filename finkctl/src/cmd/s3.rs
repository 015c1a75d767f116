//! `finkctl s3 [makebucket]`: create the Fink bucket, with object lock, on an S3-compatible
//! service (MinIO, Ceph RGW). Talks to S3 only: no kubeconfig is needed.

use std::io::Write;

use anyhow::bail;

use crate::cli::{S3Args, S3Command};
use crate::context::{Context, block_on};
use crate::night::resolve_night;
use crate::s3::{Endpoint, S3Client, validate_bucket_name};
use crate::sigv4::Credentials;
use crate::template::render_night;

/// Runs `finkctl s3 [makebucket]`.
pub(crate) fn run(ctx: &Context, args: &S3Args, out: &mut dyn Write) -> anyhow::Result<()> {
    let config = ctx.config(true)?;
    tracing::info!("Current finkctl configuration:\n{}", config.redacted_yaml());
    let Some(S3Command::Makebucket) = args.command else {
        return Ok(());
    };
    writeln!(out, "Create S3 bucket for Fink broker")?;
    let template = config.s3.bucket.clone();
    let bucket = if template.contains("{{") {
        let night = resolve_night(
            args.night.tonight,
            args.night.night.as_deref(),
            &config.run.night,
        )?;
        render_night("s3.bucket", &template, &night)?
    } else {
        template
    };
    if bucket.is_empty() {
        bail!("s3.bucket is empty: set it in finkctl.yaml");
    }
    validate_bucket_name(&bucket)?;
    let endpoint = Endpoint::parse(&config.s3.endpoint, config.s3.use_ssl)?;
    if ctx.dry_run {
        writeln!(
            out,
            "would create bucket {bucket} with object lock at {} (dry run)",
            endpoint.url()
        )?;
        return Ok(());
    }
    let credentials = Credentials {
        access_key: config.s3.id.clone(),
        secret_key: config.s3.secret.clone(),
    };
    let client = S3Client::new(endpoint, credentials)?;
    block_on(async {
        let buckets = client.list_buckets().await?;
        for existing in &buckets {
            writeln!(out, "{}", existing.go_format())?;
        }
        if buckets.iter().any(|b| b.name == bucket) {
            tracing::warn!(bucket, "Bucket exists");
            return Ok(());
        }
        client.create_bucket_with_object_lock(&bucket).await?;
        if !client.object_lock_enabled(&bucket).await? {
            bail!(
                "bucket {bucket} was created but object lock is not enabled: check the S3 service supports it"
            );
        }
        tracing::info!(bucket, "Bucket created with object lock");
        Ok(())
    })?
}
