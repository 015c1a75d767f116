//! `lock diff`: what changed between two lock files, per dependency: the commits between the two
//! locked commits (one line each: short id, subject, author), added and removed dependencies,
//! rewritten histories, image digests. History is read from the dependency's clone next to the
//! project of the newer lock when it holds both commits, else fetched once into a temporary bare
//! repository.

use std::collections::BTreeSet;
use std::path::Path;

use git2::{Oid, Repository};

use crate::git::{self, CommitLine, GitError};
use crate::image_ref::repo_name;
use crate::lock::{Lock, LockedDep};

/// The report lines, dependencies sorted by URL, then the project, then images.
pub(crate) fn diff(old: &Lock, new: &Lock, new_path: &Path) -> Result<Vec<String>, GitError> {
    let mut lines = Vec::new();
    let urls: BTreeSet<&str> = old
        .dependencies
        .iter()
        .chain(&new.dependencies)
        .map(|d| d.url.as_str())
        .collect();
    let clones = new_path
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf);
    for url in urls {
        match (old.dependency(url), new.dependency(url)) {
            (None, Some(n)) => lines.push(format!("{url}: added, {}", at(n))),
            (Some(o), None) => lines.push(format!("{url}: removed (was {})", at(o))),
            (Some(o), Some(n)) => {
                let clone = clones.as_ref().map(|dir| dir.join(repo_name(url)));
                dependency(url, o, n, clone.as_deref(), &mut lines)?;
            }
            (None, None) => {}
        }
    }
    if old.project.version != new.project.version {
        lines.push(format!(
            "project {}: {} → {}",
            new.project.image, old.project.version, new.project.version
        ));
    }
    let images: BTreeSet<&str> = old
        .images
        .iter()
        .chain(&new.images)
        .map(|i| i.image.as_str())
        .collect();
    for image in images {
        let digest = |lock: &Lock| {
            lock.images
                .iter()
                .find(|i| i.image == image)
                .map(|i| i.digest.clone().unwrap_or_else(|| "unknown digest".into()))
        };
        match (digest(old), digest(new)) {
            (None, Some(d)) => lines.push(format!("image {image}: added, {d}")),
            (Some(d), None) => lines.push(format!("image {image}: removed (was {d})")),
            (Some(a), Some(b)) if a != b => lines.push(format!("image {image}: {a} → {b}")),
            _ => {}
        }
    }
    Ok(lines)
}

/// `<branch> at <short id>`.
fn at(d: &LockedDep) -> String {
    match &d.commit {
        Some(c) => format!("{} at {}", d.workbranch, short(c)),
        None => d.workbranch.clone(),
    }
}

fn short(commit: &str) -> &str {
    commit.get(..7).unwrap_or(commit)
}

/// The lines of a dependency in both locks.
fn dependency(
    url: &str,
    old: &LockedDep,
    new: &LockedDep,
    clone: Option<&Path>,
    lines: &mut Vec<String>,
) -> Result<(), GitError> {
    let branch = if old.workbranch == new.workbranch {
        new.workbranch.clone()
    } else {
        format!("{} → {}", old.workbranch, new.workbranch)
    };
    let (Some(a), Some(b)) = (&old.commit, &new.commit) else {
        lines.push(format!("{url}: {branch}, no locked commit to compare"));
        return Ok(());
    };
    if a == b {
        if old.workbranch != new.workbranch {
            lines.push(format!("{url}: {branch}, same commit {}", short(b)));
        }
        return Ok(());
    }
    let parse = |c: &str| {
        Oid::from_str(c).map_err(git::ctx(|| format!("{url}: invalid locked commit {c:?}")))
    };
    let (a_oid, b_oid) = (parse(a)?, parse(b)?);
    let holds = |repo: &Repository| git::has_commit(repo, a_oid) && git::has_commit(repo, b_oid);
    let local = clone
        .filter(|dir| dir.join(".git").exists())
        .and_then(|dir| Repository::open(dir).ok())
        .filter(holds);
    let (_temp, repo) = match local {
        Some(repo) => (None, repo),
        None => {
            let (temp, repo) = git::mirror(url)?;
            (Some(temp), repo)
        }
    };
    let range = format!("{}..{}", short(a), short(b));
    for (oid, which) in [(a_oid, "old"), (b_oid, "new")] {
        if !git::has_commit(&repo, oid) {
            lines.push(format!(
                "{url}: {branch} {range}, the {which} commit is no longer on the remote"
            ));
            return Ok(());
        }
    }
    let added = git::commits_between(&repo, a_oid, b_oid)?;
    let count = |n: usize| format!("{n} commit{}", if n == 1 { "" } else { "s" });
    if git::contains(&repo, b_oid, a_oid) {
        lines.push(format!("{url}: {branch} {range}, {}", count(added.len())));
        lines.extend(added.iter().map(|c| format!("  {}", line(c))));
    } else if git::contains(&repo, a_oid, b_oid) {
        let dropped = git::commits_between(&repo, b_oid, a_oid)?;
        lines.push(format!(
            "{url}: {branch} {range}, went back {}",
            count(dropped.len())
        ));
        lines.extend(dropped.iter().map(|c| format!("  - {}", line(c))));
    } else {
        let dropped = git::commits_between(&repo, b_oid, a_oid)?;
        lines.push(format!(
            "{url}: {branch} {range}, not a fast-forward (history rewritten): {} only in the new lock, {} only in the old",
            count(added.len()),
            count(dropped.len())
        ));
        lines.extend(added.iter().map(|c| format!("  + {}", line(c))));
        lines.extend(dropped.iter().map(|c| format!("  - {}", line(c))));
    }
    Ok(())
}

fn line(c: &CommitLine) -> String {
    format!("{} {} ({})", c.short, c.subject, c.author)
}
