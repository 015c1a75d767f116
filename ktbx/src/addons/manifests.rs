//! Server-side apply of manifests: downloaded from the version table or given inline.

use std::io::Write;

use super::Target;
use crate::apply::{Applier, describe, parse_manifests};
use crate::client_tools;

/// Downloads and server-side applies the manifests of a table entry, in order.
pub(super) async fn apply_manifests(
    target: &Target,
    name: &str,
    default_ns: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    for url in client_tools::manifest_urls(name, &target.tools)? {
        apply_url(target, &url, default_ns, out).await?;
    }
    Ok(())
}

/// Downloads and server-side applies a manifest URL.
pub(super) async fn apply_url(
    target: &Target,
    url: &str,
    default_ns: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let Some(client) = target
        .live(out, [format!("apply --server-side {url}")])
        .await?
    else {
        return Ok(());
    };
    let text = client_tools::fetch_text(url).await?;
    let objects = parse_manifests(&text, url)?;
    Applier::new(client)
        .apply_all(objects, default_ns, target.timeout)
        .await
}

/// Server-side applies objects given inline.
pub(super) async fn apply_objects(
    target: &Target,
    yaml: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let objects = parse_manifests(yaml, "ktbx")?;
    let lines = objects
        .iter()
        .map(|obj| format!("apply --server-side {}", describe(obj)));
    let Some(client) = target.live(out, lines).await? else {
        return Ok(());
    };
    Applier::new(client)
        .apply_all(objects, "default", target.timeout)
        .await
}
