//! The tag syntax ciux accepts as a version (`v1.2.3-rc1+build`), kept as permissive as the original
//! (any letters-only prefix, leading zeros), the release-candidate rule and the next-tag suggestion.

use std::cmp::Ordering;
use std::fmt;

/// A version tag: prefix, three numbers, prerelease and build identifiers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct TagVersion {
    /// Letters before the numbers (`v`, `release`), possibly empty.
    pub(crate) prefix: String,
    /// Major number, as written.
    pub(crate) major: String,
    /// Minor number, as written.
    pub(crate) minor: String,
    /// Patch number, as written.
    pub(crate) patch: String,
    /// Dot-separated prerelease identifiers.
    pub(crate) prerelease: Vec<String>,
    /// Dot-separated build metadata identifiers.
    pub(crate) build: Vec<String>,
}

/// Why no next tag can be suggested.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum TagError {
    /// The prerelease does not start with `rcN`.
    #[error(
        "unable to parse release candidate of tag {0:?}: invalid release candidate prefix (expected `rcN`)"
    )]
    NotReleaseCandidate(String),
    /// A number does not fit in 64 bits.
    #[error("tag {0:?} has a number too large to increment")]
    Overflow(String),
}

/// Dot-separated non-empty identifiers of `[0-9A-Za-z-]`; `None` when `s` is not that.
fn identifiers(s: &str) -> Option<Vec<String>> {
    s.split('.')
        .map(|id| {
            (!id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
                .then(|| id.to_string())
        })
        .collect()
}

impl TagVersion {
    /// Parses a tag name; `None` when it is not a version tag. The syntax is the original's
    /// `^([A-Za-z]+)?(\d+)\.(\d+)\.(\d+)(?:-(ids))?(?:\+(ids))?$`, where `ids` are dot-separated
    /// non-empty runs of `[0-9A-Za-z-]`, read by hand: a regex compiled at each run costs more than
    /// the whole `ignite --frozen` it serves.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        let (main, build) = match s.split_once('+') {
            Some((main, build)) => (main, Some(identifiers(build)?)),
            None => (s, None),
        };
        let numbers_at = main
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(main.len());
        let (prefix, rest) = main.split_at(numbers_at);
        let (core, prerelease) = match rest.split_once('-') {
            Some((core, pre)) => (core, Some(identifiers(pre)?)),
            None => (rest, None),
        };
        let mut numbers = core.split('.');
        let mut number = || {
            numbers
                .next()
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .map(str::to_string)
        };
        let (major, minor, patch) = (number()?, number()?, number()?);
        if numbers.next().is_some() {
            return None;
        }
        Some(Self {
            prefix: prefix.to_string(),
            major,
            minor,
            patch,
            prerelease: prerelease.unwrap_or_default(),
            build: build.unwrap_or_default(),
        })
    }

    /// `None` without prerelease, `Some(Ok(n))` for `rcN…`, `Some(Err(_))` for another prerelease.
    pub(crate) fn release_candidate(&self) -> Option<Result<u64, ()>> {
        let first = self.prerelease.first()?;
        Some(
            first
                .strip_prefix("rc")
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|n| n.parse().ok())
                .ok_or(()),
        )
    }

    /// Semver precedence (numbers compared numerically, prefix and build metadata ignored); used only to
    /// choose between several tags on one commit.
    pub(crate) fn precedence(&self, other: &Self) -> Ordering {
        let num = |s: &str| s.parse::<u128>().unwrap_or(u128::MAX);
        let nums = |v: &Self| (num(&v.major), num(&v.minor), num(&v.patch));
        nums(self).cmp(&nums(other)).then_with(|| {
            let pre =
                |v: &Self| semver::Prerelease::new(&v.prerelease.join(".")).unwrap_or_default();
            match (self.prerelease.is_empty(), other.prerelease.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => match (self.release_candidate(), other.release_candidate()) {
                    (Some(Ok(a)), Some(Ok(b))) if a != b => a.cmp(&b),
                    _ => pre(self).cmp(&pre(other)),
                },
            }
        })
    }
}

impl fmt::Display for TagVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let z = |s: &str| {
            if s.is_empty() {
                "0".to_string()
            } else {
                s.to_string()
            }
        };
        write!(
            f,
            "{}{}.{}.{}",
            self.prefix,
            z(&self.major),
            z(&self.minor),
            z(&self.patch)
        )?;
        if !self.prerelease.is_empty() {
            write!(f, "-{}", self.prerelease.join("."))?;
        }
        if !self.build.is_empty() {
            write!(f, "+{}", self.build.join("."))?;
        }
        Ok(())
    }
}

/// The next release-candidate tag after `tag` (`ciux tag`): none → `v0.0.1-rc0`, `vX.Y.Z` →
/// `vX.Y.(Z+1)-rc0`, `…-rcN…` → `…-rc(N+1)…`, any other prerelease is an error.
pub(crate) fn next_release_candidate(tag: Option<&TagVersion>) -> Result<TagVersion, TagError> {
    let Some(tag) = tag else {
        return Ok(TagVersion {
            prefix: "v".into(),
            major: "0".into(),
            minor: "0".into(),
            patch: "1".into(),
            prerelease: vec!["rc0".into()],
            build: Vec::new(),
        });
    };
    let mut next = tag.clone();
    match tag.release_candidate() {
        None => {
            let patch: u64 = tag
                .patch
                .parse()
                .map_err(|_| TagError::Overflow(tag.to_string()))?;
            let patch = patch
                .checked_add(1)
                .ok_or_else(|| TagError::Overflow(tag.to_string()))?;
            next.patch = patch.to_string();
            next.prerelease = vec!["rc0".into()];
        }
        Some(Ok(n)) => {
            let n = n
                .checked_add(1)
                .ok_or_else(|| TagError::Overflow(tag.to_string()))?;
            next.prerelease[0] = format!("rc{n}");
        }
        Some(Err(())) => return Err(TagError::NotReleaseCandidate(tag.to_string())),
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v(prefix: &str, nums: [&str; 3], pre: &[&str], build: &[&str]) -> TagVersion {
        TagVersion {
            prefix: prefix.into(),
            major: nums[0].into(),
            minor: nums[1].into(),
            patch: nums[2].into(),
            prerelease: pre.iter().map(|s| s.to_string()).collect(),
            build: build.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn string_cases_of_semver_test() {
        assert_eq!(TagVersion::default().to_string(), "0.0.0");
        assert_eq!(v("v", ["", "", ""], &[], &[]).to_string(), "v0.0.0");
        assert_eq!(v("", ["1", "2", "3"], &[], &[]).to_string(), "1.2.3");
        assert_eq!(
            v("", ["0", "0", "0"], &["rc", "1"], &[]).to_string(),
            "0.0.0-rc.1"
        );
        assert_eq!(
            v("", ["0", "0", "0"], &["alpha-version", "1"], &[]).to_string(),
            "0.0.0-alpha-version.1"
        );
        assert_eq!(
            v("", ["0", "0", "0"], &[], &["foo", "bar"]).to_string(),
            "0.0.0+foo.bar"
        );
        assert_eq!(
            v("v", ["1", "2", "3"], &["rc", "1"], &["foo", "bar"]).to_string(),
            "v1.2.3-rc.1+foo.bar"
        );
    }

    #[test]
    fn parse_cases_of_semver_test() {
        assert_eq!(
            TagVersion::parse("0.0.0"),
            Some(v("", ["0", "0", "0"], &[], &[]))
        );
        assert_eq!(
            TagVersion::parse("v0.0.0"),
            Some(v("v", ["0", "0", "0"], &[], &[]))
        );
        assert_eq!(
            TagVersion::parse("1.2.3"),
            Some(v("", ["1", "2", "3"], &[], &[]))
        );
        assert_eq!(
            TagVersion::parse("0.0.0-rc.1").unwrap().prerelease,
            ["rc", "1"]
        );
        assert_eq!(TagVersion::parse("0.0.0-rc2").unwrap().prerelease, ["rc2"]);
        assert_eq!(
            TagVersion::parse("0.0.0-alpha-version.1")
                .unwrap()
                .prerelease,
            ["alpha-version", "1"]
        );
        assert_eq!(
            TagVersion::parse("0.0.0+foo.bar").unwrap().build,
            ["foo", "bar"]
        );
        assert_eq!(
            TagVersion::parse("v1.2.3-rc.1+foo.bar"),
            Some(v("v", ["1", "2", "3"], &["rc", "1"], &["foo", "bar"]))
        );
        for bad in [
            "invalid",
            "v1.2",
            "release-1.2.3",
            "1.2.3-",
            "1.2.3+",
            "no-semver",
            "é1.2.3",
            "v١.2.3",
        ] {
            assert_eq!(TagVersion::parse(bad), None, "{bad}");
        }
        assert_eq!(
            TagVersion::parse("release01.02.03").unwrap().to_string(),
            "release01.02.03"
        );
    }

    #[test]
    fn equality_compares_every_field() {
        let base = v("v", ["1", "2", "3"], &["rc1"], &["b"]);
        assert_eq!(base, base.clone());
        for other in [
            v("v", ["2", "2", "3"], &["rc1"], &["b"]),
            v("v", ["1", "3", "3"], &["rc1"], &["b"]),
            v("v", ["1", "2", "4"], &["rc1"], &["b"]),
            v("v", ["1", "2", "3"], &[], &["b"]),
            v("v", ["1", "2", "3"], &["rc1"], &[]),
            v("", ["1", "2", "3"], &["rc1"], &["b"]),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn release_candidate_numbers() {
        let rc = |pre: &[&str]| v("", ["0", "0", "0"], pre, &[]).release_candidate();
        assert_eq!(rc(&["rc1"]), Some(Ok(1)));
        assert_eq!(rc(&["rc2"]), Some(Ok(2)));
        assert_eq!(rc(&["rc10"]), Some(Ok(10)));
        assert_eq!(rc(&["invalid"]), Some(Err(())));
        assert_eq!(rc(&[]), None);
    }

    #[test]
    fn tag_suggestions() {
        let next = |s: Option<&str>| {
            let parsed = s.map(|s| TagVersion::parse(s).unwrap());
            next_release_candidate(parsed.as_ref()).map(|t| t.to_string())
        };
        assert_eq!(next(None).unwrap(), "v0.0.1-rc0");
        assert_eq!(next(Some("v1.0.0")).unwrap(), "v1.0.1-rc0");
        assert_eq!(next(Some("v1.0.0-rc0")).unwrap(), "v1.0.0-rc1");
        assert_eq!(next(Some("v1.2.3-rc1.4")).unwrap(), "v1.2.3-rc2.4");
        assert_eq!(next(Some("v1.0.0+meta")).unwrap(), "v1.0.1-rc0+meta");
        for bad in ["v1.0.0-beta", "v1.0.0-rc.1"] {
            let e = next(Some(bad)).unwrap_err();
            assert!(
                e.to_string().contains("invalid release candidate prefix"),
                "{e}"
            );
        }
    }

    #[test]
    fn precedence_orders_numerically_and_puts_releases_last() {
        let p = |s: &str| TagVersion::parse(s).unwrap();
        assert_eq!(p("v1.10.0").precedence(&p("v1.9.0")), Ordering::Greater);
        assert_eq!(p("v1.0.0").precedence(&p("v1.0.0-rc1")), Ordering::Greater);
        assert_eq!(
            p("v1.0.0-rc2").precedence(&p("v1.0.0-rc10")),
            Ordering::Less
        );
    }

    /// The original's tag syntax as a regular expression: the oracle of the hand-written parser.
    fn original(s: &str) -> Option<Vec<Option<String>>> {
        let ids = r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*";
        let re = regex::Regex::new(&format!(
            r"^([A-Za-z]+)?([0-9]+)\.([0-9]+)\.([0-9]+)(?:-({ids}))?(?:\+({ids}))?$"
        ))
        .unwrap();
        let c = re.captures(s)?;
        Some(
            (1..=6)
                .map(|i| c.get(i).map(|m| m.as_str().to_string()))
                .collect(),
        )
    }

    fn fields(t: &TagVersion) -> Vec<Option<String>> {
        let ids = |v: &[String]| (!v.is_empty()).then(|| v.join("."));
        let prefix = (!t.prefix.is_empty()).then(|| t.prefix.clone());
        vec![
            prefix,
            Some(t.major.clone()),
            Some(t.minor.clone()),
            Some(t.patch.clone()),
            ids(&t.prerelease),
            ids(&t.build),
        ]
    }

    proptest! {
        #[test]
        fn the_parser_reads_what_the_original_regex_matches(
            s in "[vVé]{0,2}[0-9١]{1,2}\\.[0-9]{0,2}\\.[0-9.]{1,3}(-[a-z0-9.+-]{0,5})?(\\+[a-z0-9.+-]{0,5})?|[a-zA-Zé0-9١.+-]{0,12}"
        ) {
            prop_assert_eq!(TagVersion::parse(&s).as_ref().map(fields), original(&s), "{}", s);
        }

        #[test]
        fn parse_and_suggest_never_panic(s in "[vV]?[0-9]{1,25}\\.[0-9]{1,3}\\.[0-9]{1,25}(-[a-z0-9.]{1,8})?") {
            if let Some(t) = TagVersion::parse(&s) {
                let _ = next_release_candidate(Some(&t));
                prop_assert_eq!(t.to_string(), s);
            }
        }
    }
}
