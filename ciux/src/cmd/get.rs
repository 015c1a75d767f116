//! `ciux get image | revision | dependencies | clustername | configpath`.

use std::io::Write;
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use serde_json::json;

use crate::cli::{
    GetCommand, GetImageArgs, GetRevisionArgs, OutputFormat, SelectorRepoArgs, given,
};
use crate::context::{Context, load_project};
use crate::env_file;
use crate::git;
use crate::image_decision;
use crate::project::absolute;
use crate::revision::Revision;

/// Runs a `get` sub-command.
pub(crate) fn run(ctx: &Context, cmd: &GetCommand, out: &mut dyn Write) -> Result<()> {
    match cmd {
        GetCommand::Image(a) => image(ctx, a, out),
        GetCommand::Revision(a) => revision(a, out),
        GetCommand::Dependencies(a) => dependencies(a, out),
        GetCommand::Clustername(a) => clustername(a, out),
        GetCommand::Configpath(a) => configpath(a, out),
    }
}

fn print_json(out: &mut dyn Write, value: &serde_json::Value) -> Result<()> {
    writeln!(out, "{}", serde_json::to_string_pretty(value)?)?;
    Ok(())
}

fn image(ctx: &Context, a: &GetImageArgs, out: &mut dyn Write) -> Result<()> {
    let project = load_project(&a.repository, None, true)?;
    let client = if a.check {
        Some(ctx.registry_client()?)
    } else {
        None
    };
    let lookup = client.as_ref().map(|client| image_decision::Lookup {
        client,
        unreachable: a.lookup.registry_unreachable,
    });
    let decision = ctx.block_on(image_decision::decide(
        &project,
        given(&a.suffix),
        given(&a.tmp_registry),
        lookup,
    ))?;
    if a.output.format == OutputFormat::Json {
        return print_json(out, &serde_json::to_value(&decision)?);
    }
    if a.env {
        writeln!(
            out,
            "export CIUX_IMAGE_URL={}",
            env_file::quote(&decision.url)
        )?;
        writeln!(out, "export CIUX_BUILD={}", !decision.in_registry)?;
    } else {
        writeln!(
            out,
            "Image: {}, in registry: {}",
            decision.url, decision.in_registry
        )?;
    }
    Ok(())
}

fn head_revision(path: &Path) -> Result<Revision> {
    let root = absolute(path).with_context(|| format!("invalid path {}", path.display()))?;
    let repo = git::open_root(&root)?;
    Ok(git::head_revision(&repo)?)
}

fn revision(a: &GetRevisionArgs, out: &mut dyn Write) -> Result<()> {
    let rev = head_revision(&a.repository)?;
    if a.output.format == OutputFormat::Json {
        return print_json(
            out,
            &json!({
                "tag": rev.tag, "counter": rev.counter, "hash": rev.hash, "dirty": rev.dirty,
                "branch": rev.branch, "version": rev.version(), "isRelease": rev.is_release(),
            }),
        );
    }
    if a.isrelease {
        if rev.is_release()
            && let Some(tag) = &rev.tag
        {
            writeln!(out, "{tag}")?;
        }
    } else {
        writeln!(out, "Revision: {rev}")?;
    }
    Ok(())
}

fn dependencies(a: &SelectorRepoArgs, out: &mut dyn Write) -> Result<()> {
    let project = load_project(&a.repository, a.selector.as_ref(), false)?;
    if a.output.format == OutputFormat::Json {
        let deps: Vec<_> = project
            .deps
            .iter()
            .map(|d| match d {
                crate::project::DepKind::Package(p) => json!({"kind": "package", "package": p}),
                crate::project::DepKind::Image(i) => json!({"kind": "image", "image": i}),
                crate::project::DepKind::Git { url, clone, pull, revision } => {
                    json!({"kind": "git", "url": crate::remote_url::redact(url), "clone": clone, "pull": pull, "revision": revision})
                }
            })
            .collect();
        return print_json(out, &json!({ "dependencies": deps }));
    }
    for dep in &project.deps {
        writeln!(out, "  {}", dep.label())?;
    }
    Ok(())
}

/// `<user>-<branch>-<6 hex>[-dirty]`, non-alphanumeric runs → `-`, lower case, at most 49 characters.
/// A user or branch with no ASCII letter or digit (a non-ASCII `$USER`) counts as `unknown`, so that
/// the name never starts with `-` nor loses a part; the cut may leave a trailing `-` (kind accepts it).
pub(crate) fn cluster_name(user: &str, branch: &str, hash: &str, dirty: bool) -> String {
    let part = |s: &str| {
        let squeezed = squeeze(s);
        let trimmed = squeezed.trim_matches('-');
        if trimmed.is_empty() {
            "unknown".to_string()
        } else {
            trimmed.to_string()
        }
    };
    let mut name = format!(
        "{}-{}-{}",
        part(user),
        part(branch),
        squeeze(hash.get(..6).unwrap_or(hash))
    );
    if dirty {
        name.push_str("-dirty");
    }
    name.chars().take(49).collect()
}

/// Lower case, every run of characters outside `[A-Za-z0-9]` turned into one `-`.
fn squeeze(s: &str) -> String {
    let mut out = String::new();
    let mut in_run = false;
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
            in_run = false;
        } else if !in_run {
            out.push('-');
            in_run = true;
        }
    }
    out
}

fn clustername(a: &SelectorRepoArgs, out: &mut dyn Write) -> Result<()> {
    let rev = head_revision(&a.repository)?;
    let name = cluster_name(
        &std::env::var("USER").unwrap_or_default(),
        &rev.branch,
        &rev.hash,
        rev.dirty,
    );
    if a.output.format == OutputFormat::Json {
        return print_json(out, &json!({ "clusterName": name }));
    }
    writeln!(out, "{name}")?;
    Ok(())
}

fn configpath(a: &SelectorRepoArgs, out: &mut dyn Write) -> Result<()> {
    let project = load_project(&a.repository, a.selector.as_ref(), false)?;
    let path = env_file::path(&project.root, &project.selector)?;
    if !path.exists() {
        bail!(
            "ciux configuration file not found at {} (run `ciux ignite{} {}` first)",
            path.display(),
            match &a.selector {
                Some(s) if !s.is_empty() => format!(" --selector {s}"),
                _ => String::new(),
            },
            project.root.display()
        );
    }
    if a.output.format == OutputFormat::Json {
        return print_json(out, &json!({ "path": path }));
    }
    writeln!(out, "{}", path.display())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cluster_names() {
        assert_eq!(
            cluster_name("fink-ci", "master", "3a5b12c0ffee", false),
            "fink-ci-master-3a5b12"
        );
        assert_eq!(
            cluster_name("", "HEAD", "abcdef12", true),
            "unknown-head-abcdef-dirty"
        );
        assert_eq!(
            cluster_name("Me", "feature/My_Branch", "abcdef12", false),
            "me-feature-my-branch-abcdef"
        );
        let long = cluster_name("user", &"b".repeat(80), "abcdef12", false);
        assert_eq!(long.len(), 49);
        assert_eq!(cluster_name("a", "x--//y", "123456", false), "a-x-y-123456");
    }

    #[test]
    fn cluster_names_never_start_with_a_dash_nor_lose_a_part() {
        assert_eq!(
            cluster_name("\u{e9}\u{e8}", "master", "3a5b12c0ffee", false),
            "unknown-master-3a5b12"
        );
        assert_eq!(
            cluster_name("_ci", "\u{65e5}\u{672c}", "3a5b12c0ffee", true),
            "ci-unknown-3a5b12-dirty"
        );
        assert_eq!(
            cluster_name("-", "--", "abcdef12", false),
            "unknown-unknown-abcdef"
        );
    }

    /// The spec's rule: `lower(squash_nonalnum("$USER-<branch>-<6hex>[-dirty]"))[:49]`.
    fn original(user: &str, branch: &str, hash: &str, dirty: bool) -> String {
        let user = if user.is_empty() { "unknown" } else { user };
        let dirty = if dirty { "-dirty" } else { "" };
        squeeze(&format!(
            "{user}-{branch}-{}{dirty}",
            hash.get(..6).unwrap_or(hash)
        ))
        .chars()
        .take(49)
        .collect()
    }

    proptest! {
        #[test]
        fn cluster_name_is_a_short_lowercase_label(user in "\\PC{0,20}", branch in "\\PC{0,60}", hash in "[0-9a-f]{6,40}", dirty: bool) {
            let n = cluster_name(&user, &branch, &hash, dirty);
            prop_assert!(n.len() <= 49);
            prop_assert!(n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
            prop_assert!(n.starts_with(|c: char| c.is_ascii_alphanumeric()));
            prop_assert!(!n.contains("--"));
        }

        /// Wherever the spec's rule gives a name starting with a letter or digit and keeps both the
        /// user and the branch, the output is the same.
        #[test]
        fn cluster_name_is_the_original_for_normal_inputs(user in "[A-Za-z0-9._-]{0,12}", branch in "[A-Za-z0-9/_.-]{1,60}", hash in "[0-9a-f]{40}", dirty: bool) {
            let has_alnum = |s: &str| s.chars().any(|c| c.is_ascii_alphanumeric());
            let old = original(&user, &branch, &hash, dirty);
            prop_assume!(old.starts_with(|c: char| c.is_ascii_alphanumeric()));
            prop_assume!((user.is_empty() || has_alnum(&user)) && has_alnum(&branch));
            prop_assert_eq!(cluster_name(&user, &branch, &hash, dirty), old);
        }
    }
}
