//! `ktbx delete`: one cluster (`kind delete cluster [--name N]`, idempotent through kind) or every
//! cluster whose name matches `-p REGEX` anywhere (unanchored, as the original; empty lines of
//! `kind get clusters` never match).

use std::io::Write;

use anyhow::Context as _;
use common::process::Runner;
use regex::Regex;

use crate::cli::DeleteArgs;
use crate::cluster;
use crate::context::Context;

/// The names of `clusters` that `pattern` matches anywhere.
pub(crate) fn matching<'a>(pattern: &Regex, clusters: &'a [String]) -> Vec<&'a str> {
    clusters
        .iter()
        .map(String::as_str)
        .filter(|c| !c.is_empty() && pattern.is_match(c))
        .collect()
}

/// Runs `ktbx delete`.
pub(crate) fn run(ctx: &Context, args: &DeleteArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let name = ctx.name.as_deref();
    let runner = &Runner::new(args.dry_run);
    args.extra.ignore();
    let targets: Vec<Option<String>> = match &args.pattern {
        Some(pattern) => {
            let re =
                Regex::new(pattern).with_context(|| format!("invalid --pattern {pattern:?}"))?;
            let clusters = cluster::list_clusters(runner)?;
            let found: Vec<Option<String>> = matching(&re, &clusters)
                .into_iter()
                .map(|c| Some(c.to_string()))
                .collect();
            if found.is_empty() {
                writeln!(out, "No kind cluster matches {pattern:?}")?;
            }
            found
        }
        None => {
            if let Some(name) = name {
                cluster::validate_name(name)?;
            }
            vec![name.map(str::to_string)]
        }
    };
    for target in targets {
        let shown = target.as_deref().unwrap_or("<kind default>");
        writeln!(out, "Delete kind cluster {shown}")?;
        out.flush()?;
        runner
            .run_logged(&cluster::kind_cluster_cmd("delete", target.as_deref()))
            .with_context(|| format!("Error while deleting cluster {shown}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unanchored_and_never_the_empty_line() {
        let clusters: Vec<String> = ["fink-ci-1", "kind", "my-fink-ci", ""]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            matching(&Regex::new("fink-ci").unwrap(), &clusters),
            vec!["fink-ci-1", "my-fink-ci"]
        );
        assert_eq!(
            matching(&Regex::new(".*").unwrap(), &clusters),
            vec!["fink-ci-1", "kind", "my-fink-ci"]
        );
        assert_eq!(
            matching(&Regex::new("^kind$").unwrap(), &clusters),
            vec!["kind"]
        );
        assert!(matching(&Regex::new("x*").unwrap(), &[String::new()]).is_empty());
    }
}
