//! The tiny template language of `finkctl.yaml`: `{{.Night}}` (spaces allowed inside the braces)
//! is the only variable; anything else is an error that names the key and the variable.

use thiserror::Error;

/// A template that cannot be rendered.
#[derive(Debug, Error, PartialEq, Eq)]
pub(crate) enum TemplateError {
    /// A `{{ … }}` action other than `.Night`.
    #[error(
        "{key}: unsupported template variable `{{{{{action}}}}}`: only {{{{.Night}}}} is available"
    )]
    UnknownVariable {
        /// Config key holding the template.
        key: String,
        /// The action text between the braces, trimmed.
        action: String,
    },
    /// A `{{` without its closing `}}`.
    #[error("{key}: unclosed `{{{{` in {value:?}: write {{{{.Night}}}}")]
    Unclosed {
        /// Config key holding the template.
        key: String,
        /// The whole value.
        value: String,
    },
}

/// Replaces every `{{.Night}}` in `value` (the value of config key `key`) by `night`.
pub(crate) fn render_night(key: &str, value: &str, night: &str) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(TemplateError::Unclosed {
                key: key.to_string(),
                value: value.to_string(),
            });
        };
        let action = after[..end].trim();
        if action != ".Night" {
            return Err(TemplateError::UnknownVariable {
                key: key.to_string(),
                action: action.to_string(),
            });
        }
        out.push_str(night);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn night_is_substituted_with_or_without_spaces() {
        assert_eq!(
            render_night("k", "ztf-stream-{{.Night}}", "20000101").unwrap(),
            "ztf-stream-20000101"
        );
        assert_eq!(
            render_night("k", "a{{ .Night }}b{{.Night}}", "1").unwrap(),
            "a1b1"
        );
        assert_eq!(render_night("k", "plain", "1").unwrap(), "plain");
    }

    #[test]
    fn other_variables_are_rejected_with_the_key() {
        let err = render_night("s3.bucket", "b-{{.Image}}", "1").unwrap_err();
        assert_eq!(
            err.to_string(),
            "s3.bucket: unsupported template variable `{{.Image}}`: only {{.Night}} is available"
        );
        let err = render_night("s3.bucket", "b-{{.Night", "1").unwrap_err();
        assert!(err.to_string().contains("unclosed `{{`"), "{err}");
    }
}
