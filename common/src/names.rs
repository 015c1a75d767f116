//! DNS-1123 name validation (Kubernetes object names, kind cluster names), with messages that say
//! what is wrong and suggest a valid name.

/// Longest DNS-1123 label (namespace, cluster, service names).
const LABEL_MAX_LEN: usize = 63;
/// Longest DNS-1123 subdomain (most object names).
const SUBDOMAIN_MAX_LEN: usize = 253;

/// A name that is not a valid DNS-1123 label or subdomain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {name:?}: {problem}{}", suggestion_text(.suggestion))]
pub struct NameError {
    /// What the name is for, such as `cluster name`.
    pub what: String,
    /// The rejected name.
    pub name: String,
    /// What rule it breaks.
    pub problem: String,
    /// A valid name close to the rejected one, when one can be derived.
    pub suggestion: Option<String>,
}

fn suggestion_text(suggestion: &Option<String>) -> String {
    suggestion
        .as_ref()
        .map(|s| format!(" (for example {s:?})"))
        .unwrap_or_default()
}

const LABEL_RULE: &str =
    "must consist of lower case letters, digits or '-', and start and end with a letter or digit";

/// Checks that `name` is a DNS-1123 label: at most 63 characters of `a-z`, `0-9` and `-`,
/// starting and ending with a letter or digit. `what` names it in the error (`"cluster name"`).
pub fn validate_dns1123_label(what: &str, name: &str) -> Result<(), NameError> {
    let fail = |problem: String| NameError {
        what: what.to_string(),
        name: name.to_string(),
        problem,
        suggestion: suggest(name, LABEL_MAX_LEN, false),
    };
    if let Some(problem) = label_problem(name, LABEL_MAX_LEN) {
        return Err(fail(problem));
    }
    Ok(())
}

/// Checks that `name` is a DNS-1123 subdomain: at most 253 characters, dot-separated labels that
/// each follow the label rule. `what` names it in the error.
pub fn validate_dns1123_subdomain(what: &str, name: &str) -> Result<(), NameError> {
    let fail = |problem: String| NameError {
        what: what.to_string(),
        name: name.to_string(),
        problem,
        suggestion: suggest(name, SUBDOMAIN_MAX_LEN, true),
    };
    if name.is_empty() {
        return Err(fail("must not be empty".to_string()));
    }
    if name.len() > SUBDOMAIN_MAX_LEN {
        return Err(fail(format!(
            "must be at most {SUBDOMAIN_MAX_LEN} characters (it has {})",
            name.len()
        )));
    }
    for part in name.split('.') {
        if part.is_empty() {
            return Err(fail(
                "must not start or end with '.' or contain '..'".to_string(),
            ));
        }
        if let Some(problem) = label_problem(part, SUBDOMAIN_MAX_LEN) {
            return Err(fail(problem));
        }
    }
    Ok(())
}

fn label_problem(label: &str, max_len: usize) -> Option<String> {
    if label.is_empty() {
        return Some("must not be empty".to_string());
    }
    if label.len() > max_len {
        return Some(format!(
            "must be at most {max_len} characters (it has {})",
            label.len()
        ));
    }
    if let Some(bad) = label.chars().find(|c| !is_label_char(*c)) {
        let hint = if bad.is_ascii_uppercase() {
            " (use lower case)"
        } else {
            ""
        };
        return Some(format!("{LABEL_RULE}; {bad:?} is not allowed{hint}"));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Some(format!("{LABEL_RULE}; it starts or ends with '-'"));
    }
    None
}

fn is_label_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
}

/// Lower-cases, replaces invalid characters with `-`, trims separators and truncates.
fn suggest(name: &str, max_len: usize, keep_dots: bool) -> Option<String> {
    let mapped: String = name
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if is_label_char(c) || (keep_dots && c == '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let mut parts = Vec::new();
    for part in mapped.split('.') {
        let part = part.trim_matches('-');
        if !part.is_empty() {
            parts.push(part);
        }
    }
    let mut candidate = parts.join(".");
    candidate.truncate(max_len);
    let candidate = candidate.trim_end_matches(['-', '.']).to_string();
    (!candidate.is_empty() && candidate != name).then_some(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_labels() {
        for name in ["kind", "fink-ci", "a", "0abc", "abc-123", &"a".repeat(63)] {
            assert_eq!(
                validate_dns1123_label("cluster name", name),
                Ok(()),
                "{name}"
            );
        }
    }

    #[test]
    fn rejects_bad_labels_with_a_suggestion() {
        let err = validate_dns1123_label("cluster name", "My_Cluster").unwrap_err();
        assert_eq!(err.suggestion.as_deref(), Some("my-cluster"));
        let msg = err.to_string();
        assert!(
            msg.starts_with("invalid cluster name \"My_Cluster\": must consist of lower case"),
            "{msg}"
        );
        assert!(msg.contains("'M' is not allowed (use lower case)"), "{msg}");
        assert!(msg.ends_with("(for example \"my-cluster\")"), "{msg}");

        let err = validate_dns1123_label("cluster name", "-kind").unwrap_err();
        assert!(err.problem.contains("starts or ends with '-'"), "{err}");
        assert_eq!(err.suggestion.as_deref(), Some("kind"));

        let err = validate_dns1123_label("namespace", "a.b").unwrap_err();
        assert!(err.problem.contains("'.' is not allowed"), "{err}");

        let err = validate_dns1123_label("namespace", "").unwrap_err();
        assert_eq!(err.to_string(), "invalid namespace \"\": must not be empty");

        let long = "a".repeat(64);
        let err = validate_dns1123_label("cluster name", &long).unwrap_err();
        assert!(
            err.problem.contains("at most 63 characters (it has 64)"),
            "{err}"
        );
        assert_eq!(err.suggestion, Some("a".repeat(63)));

        assert!(validate_dns1123_label("x", "a$(rm -rf)").is_err());
        assert!(validate_dns1123_label("x", "é").is_err());
    }

    #[test]
    fn subdomains_allow_dots_between_labels() {
        for name in [
            "fink-broker",
            "kafka.strimzi.io",
            "a.b-c.d",
            &"a".repeat(253),
        ] {
            assert_eq!(
                validate_dns1123_subdomain("object name", name),
                Ok(()),
                "{name}"
            );
        }
        for name in [
            "",
            ".a",
            "a.",
            "a..b",
            "A.b",
            "a.-b",
            &"a".repeat(254),
            "a_b",
        ] {
            assert!(
                validate_dns1123_subdomain("object name", name).is_err(),
                "{name:?}"
            );
        }
        let err = validate_dns1123_subdomain("secret name", "Fink_Producer.Kafka").unwrap_err();
        assert_eq!(err.suggestion.as_deref(), Some("fink-producer.kafka"));
    }
}
