//! A commit's describe-style revision (`v1.0.0-1-g1234567-dirty`) and its formats.

use std::fmt;

/// The version facts of one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Revision {
    /// Nearest annotated version tag, if any.
    pub(crate) tag: Option<String>,
    /// Commits between the tag and this commit (graph distance, like `git describe`).
    pub(crate) counter: usize,
    /// Full 40-hex commit id.
    pub(crate) hash: String,
    /// Tracked files changed in the worktree (only ever set for HEAD).
    pub(crate) dirty: bool,
    /// HEAD's short branch name (`HEAD` when detached).
    pub(crate) branch: String,
}

impl Revision {
    /// The first 7 hex digits of the hash (always 7, like the original).
    pub(crate) fn short_hash(&self) -> &str {
        self.hash.get(..7).unwrap_or(&self.hash)
    }

    /// The version string: `<tag>`, `<tag>-<n>-g<7hex>`, each with `-dirty` when dirty, or the bare
    /// 7-hex hash when no tag is reachable (then `-dirty` is appended too: see COMPAT.md).
    pub(crate) fn version(&self) -> String {
        let mut v = match &self.tag {
            None => self.short_hash().to_string(),
            Some(tag) if self.counter == 0 => tag.clone(),
            Some(tag) => format!("{tag}-{}-g{}", self.counter, self.short_hash()),
        };
        if self.dirty {
            v.push_str("-dirty");
        }
        v
    }

    /// A release: exactly on a tag, clean, on `main` or `master`.
    pub(crate) fn is_release(&self) -> bool {
        self.tag.is_some()
            && self.counter == 0
            && !self.dirty
            && (self.branch == "main" || self.branch == "master")
    }
}

/// The original's `Revision: &{Tag:… Counter:… Hash:… Dirty:… Branch:…}` line of `get revision`.
impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "&{{Tag:{} Counter:{} Hash:{} Dirty:{} Branch:{}}}",
            self.tag.as_deref().unwrap_or(""),
            self.counter,
            self.hash,
            self.dirty,
            self.branch
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rev(tag: Option<&str>, counter: usize, dirty: bool) -> Revision {
        Revision {
            tag: tag.map(str::to_string),
            counter,
            hash: "1234567890abcdef".into(),
            dirty,
            branch: "master".into(),
        }
    }

    #[test]
    fn version_formats_of_gitrevision_test() {
        assert_eq!(rev(Some("v1.0.0"), 1, false).version(), "v1.0.0-1-g1234567");
        assert_eq!(
            rev(Some("v1.0.0"), 1, true).version(),
            "v1.0.0-1-g1234567-dirty"
        );
        assert_eq!(rev(Some("v1.0.0"), 0, false).version(), "v1.0.0");
        assert_eq!(rev(Some("v1.0.0"), 0, true).version(), "v1.0.0-dirty");
        assert_eq!(rev(None, 3, false).version(), "1234567");
        assert_eq!(rev(None, 3, true).version(), "1234567-dirty");
    }

    #[test]
    fn release_rule() {
        assert!(rev(Some("v1.0.0"), 0, false).is_release());
        assert!(!rev(Some("v1.0.0"), 1, false).is_release());
        assert!(!rev(Some("v1.0.0"), 0, true).is_release());
        assert!(!rev(None, 0, false).is_release());
        let mut detached = rev(Some("v1.0.0"), 0, false);
        detached.branch = "HEAD".into();
        assert!(!detached.is_release());
        detached.branch = "main".into();
        assert!(detached.is_release());
    }

    #[test]
    fn go_struct_line() {
        assert_eq!(
            rev(Some("v1.0.0"), 0, false).to_string(),
            "&{Tag:v1.0.0 Counter:0 Hash:1234567890abcdef Dirty:false Branch:master}"
        );
    }

    proptest! {
        #[test]
        fn version_never_panics(tag in proptest::option::of("\\PC{0,12}"), counter in 0usize..1000, hash in "[0-9a-f]{0,40}", dirty: bool) {
            let r = Revision { tag, counter, hash, dirty, branch: "b".into() };
            let v = r.version();
            prop_assert_eq!(v.ends_with("-dirty"), dirty);
        }
    }
}
