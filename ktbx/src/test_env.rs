//! A fake process environment for unit tests of functions that take an `env` lookup.

/// Looks names up in `vars` (name, value) only.
pub(crate) fn env(
    vars: &'static [(&'static str, &'static str)],
) -> impl Fn(&str) -> Option<String> {
    move |k| {
        vars.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    }
}
