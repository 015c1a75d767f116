//! CLI output as insta snapshots: one run of a tool binary (exit code, stdout, stderr) as one
//! text, with what changes from run to run redacted: temporary directories (`[TMP]`), loopback
//! ports (`127.0.0.1:[PORT]`) and any literal the test names.
//!
//! ```ignore
//! harness::assert_cli_snapshot!("create_dry_run", w.ktbx().args(["create", "--dry-run"]));
//! harness::assert_cli_snapshot!("status", cmd, [(&sha, "[SHA]")]);
//! ```
//!
//! Snapshots live in `snapshots/` next to the test file and are committed. A mismatch or a missing
//! snapshot fails the test; insta writes the new output as `.snap.new` for `cargo insta review`
//! unless `CI` is set (`INSTA_UPDATE=no` never writes), so CI fails and leaves the tree clean.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::LazyLock;

use regex::Regex;

pub use insta;

/// A command that can be run for its output: `std::process::Command` or `assert_cmd::Command`.
pub trait Run: std::fmt::Debug {
    /// Runs it to completion, capturing stdout and stderr.
    fn run(&mut self) -> std::io::Result<Output>;
}

impl Run for Command {
    fn run(&mut self) -> std::io::Result<Output> {
        self.output()
    }
}

impl Run for assert_cmd::Command {
    fn run(&mut self) -> std::io::Result<Output> {
        self.output()
    }
}

/// Runs `cmd` and returns its exit code, stdout and stderr as one redacted text.
pub fn cli_output(cmd: &mut dyn Run, literals: &[(&str, &str)]) -> String {
    let output = cmd
        .run()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let code = output
        .status
        .code()
        .map_or_else(|| "killed by a signal".to_string(), |c| c.to_string());
    let text = format!(
        "exit code: {code}\n----- stdout -----\n{}----- stderr -----\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    redact(&text, literals)
}

/// Replaces each literal by its placeholder (longest first), then temporary directories and
/// loopback ports.
pub fn redact(text: &str, literals: &[(&str, &str)]) -> String {
    let mut literals = literals.to_vec();
    literals.sort_by_key(|(literal, _)| std::cmp::Reverse(literal.len()));
    let mut text = text.to_string();
    for (literal, placeholder) in literals {
        if !literal.is_empty() {
            text = text.replace(literal, placeholder);
        }
    }
    static TEMP: LazyLock<Regex> = LazyLock::new(|| {
        let tmp = std::env::temp_dir();
        let tmp = tmp.to_str().unwrap_or("/tmp").trim_end_matches('/');
        Regex::new(&format!(r"{}/\.tmp[A-Za-z0-9]{{6}}", regex::escape(tmp))).expect("valid")
    });
    static PORT: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(127\.0\.0\.1|localhost|\[::1\]):\d+").expect("valid"));
    let text = TEMP.replace_all(&text, "[TMP]");
    PORT.replace_all(&text, "$1:[PORT]").into_owned()
}

/// The placeholder pair for a temporary directory known to the test (e.g. a `TempDir`'s path),
/// for paths that are not under the system's temporary directory.
pub fn dir(path: &Path, placeholder: &'static str) -> (String, &'static str) {
    (path.display().to_string(), placeholder)
}

/// Asserts that one run of a command matches the snapshot `name` (see the module documentation).
#[macro_export]
macro_rules! assert_cli_snapshot {
    ($name:expr, $cmd:expr $(,)?) => {
        $crate::assert_cli_snapshot!($name, $cmd, [])
    };
    ($name:expr, $cmd:expr, [$(($literal:expr, $placeholder:expr)),* $(,)?] $(,)?) => {{
        let output = $crate::snapshot::cli_output(
            $cmd,
            &[$((::std::convert::AsRef::<str>::as_ref(&$literal), $placeholder)),*],
        );
        $crate::snapshot::insta::assert_snapshot!($name, output)
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_dirs_ports_and_literals_are_redacted() {
        let tmp = tempfile::tempdir().unwrap();
        let text = format!(
            "{}/config.yaml at 127.0.0.1:43123 and [::1]:80, sha abc123\n",
            tmp.path().display()
        );
        assert_eq!(
            redact(&text, &[("abc123", "[SHA]"), ("abc", "[NO]")]),
            "[TMP]/config.yaml at 127.0.0.1:[PORT] and [::1]:[PORT], sha [SHA]\n"
        );
    }

    #[test]
    fn the_run_is_one_text_with_the_exit_code() {
        let text = cli_output(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            &[],
        );
        let via_assert_cmd = cli_output(
            assert_cmd::Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            &[],
        );
        assert_eq!(text, via_assert_cmd);
        assert_eq!(
            text,
            "exit code: 3\n----- stdout -----\nout\n----- stderr -----\nerr\n"
        );
    }
}
