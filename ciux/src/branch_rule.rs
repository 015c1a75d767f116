//! The work branch of a dependency: the project's branch if the dependency has it, else `main`,
//! else `master` (exact names, from one remote listing).

/// Branch names (`refs/heads/<name>`) of a remote listing.
pub(crate) fn remote_branches(listing: &[(String, git2::Oid)]) -> Vec<String> {
    listing
        .iter()
        .filter_map(|(name, _)| name.strip_prefix("refs/heads/").map(str::to_string))
        .collect()
}

/// The branches the rule tries, in order, each once: the project's branch, `main`, `master`.
pub(crate) fn candidates(project_branch: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for b in [project_branch, "main", "master"] {
        if !b.is_empty() && !out.contains(&b) {
            out.push(b);
        }
    }
    out
}

/// Applies the rule; `None` when the remote has none of the [`candidates`].
pub(crate) fn work_branch(project_branch: &str, branches: &[String]) -> Option<String> {
    candidates(project_branch)
        .into_iter()
        .find(|b| branches.iter().any(|have| have == b))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn same_branch_then_main_then_master() {
        assert_eq!(
            work_branch("feat", &names(&["master", "feat", "main"])).as_deref(),
            Some("feat")
        );
        assert_eq!(
            work_branch("feat", &names(&["master", "main"])).as_deref(),
            Some("main")
        );
        assert_eq!(
            work_branch("feat", &names(&["master"])).as_deref(),
            Some("master")
        );
        assert_eq!(work_branch("feat", &names(&["dev", "feat-2"])), None);
        assert_eq!(
            work_branch("HEAD", &names(&["master"])).as_deref(),
            Some("master")
        );
    }

    #[test]
    fn each_candidate_once() {
        assert_eq!(candidates("master"), ["master", "main"]);
        assert_eq!(candidates("main"), ["main", "master"]);
        assert_eq!(candidates(""), ["main", "master"]);
        assert_eq!(candidates("feat"), ["feat", "main", "master"]);
    }

    #[test]
    fn listing_keeps_only_branch_heads() {
        let oid = git2::Oid::ZERO_SHA1;
        let listing = vec![
            ("HEAD".to_string(), oid),
            ("refs/heads/main".to_string(), oid),
            ("refs/tags/v1.0.0".to_string(), oid),
            ("refs/heads/feature/x".to_string(), oid),
        ];
        assert_eq!(remote_branches(&listing), names(&["main", "feature/x"]));
    }
}
