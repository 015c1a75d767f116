//! Tree tags (opt-in, `.ciux` `imageTag: tree`): the project image is tagged by the git trees of its
//! `sourcePathes` at HEAD, so that one registry request decides, whatever the history length.
//!
//! The tag is `tree-` and the first 12 hex digits of the git blob id of the lines
//! `<object id> <path>\n`, one per `sourcePathes` entry present at HEAD in `.ciux` order (the whole
//! tree, as `.`, when `sourcePathes` is empty); the same as
//! `for p in …; do echo "$(git rev-parse HEAD:$p) $p"; done | git hash-object --stdin | cut -c1-12`.

use std::path::Path;

use git2::{ObjectType, Oid, Repository};
use serde::Deserialize;

use crate::git::{GitError, ctx};

/// How the project image is tagged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TagScheme {
    /// HEAD's describe-style version; the commits since the last source change are looked up.
    #[default]
    Describe,
    /// `tree-<12 hex>` from the source trees at HEAD; one look-up.
    Tree,
}

/// Prefix of tree tags.
const PREFIX: &str = "tree-";
/// Hex digits of the id in a tree tag.
const DIGITS: usize = 12;

/// The tree tag of commit `head` for the source paths `entries`.
pub(crate) fn tree_tag(
    repo: &Repository,
    head: Oid,
    entries: &[String],
) -> Result<String, GitError> {
    let tree = repo
        .find_commit(head)
        .and_then(|c| c.tree())
        .map_err(ctx(|| format!("reading the tree of {head}")))?;
    let mut lines = String::new();
    if entries.is_empty() {
        lines.push_str(&format!("{} .\n", tree.id()));
    }
    for entry in entries {
        match tree.get_path(Path::new(entry)) {
            Ok(found) => lines.push_str(&format!("{} {entry}\n", found.id())),
            Err(e) if e.code() == git2::ErrorCode::NotFound => {
                tracing::debug!("source path {entry:?} is not in HEAD's tree: left out of the tag");
            }
            Err(e) => return Err(ctx(|| format!("reading {entry} at {head}"))(e)),
        }
    }
    let id = Oid::hash_object(ObjectType::Blob, lines.as_bytes())
        .map_err(ctx(|| "hashing the source tree ids".to_string()))?;
    Ok(format!("{PREFIX}{}", &id.to_string()[..DIGITS]))
}
