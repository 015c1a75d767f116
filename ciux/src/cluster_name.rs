//! The kind cluster name of `get clustername`: `<user>-<branch>-<6 hex>[-dirty]`, a valid label.

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
