//! `ktbx version`: the original's exact output, which scripts parse (`ktbx version -q`).

use std::io::Write;

use crate::cli::VersionArgs;
use crate::context::Context;

/// The version as the Go module tag would read (`v1.2.0`).
pub(crate) fn version() -> String {
    format!("v{}", env!("CARGO_PKG_VERSION"))
}

/// The text `ktbx version` prints, without a trailing newline (as the original).
pub(crate) fn render(quiet: bool) -> String {
    if quiet {
        version()
    } else {
        // The Go build recorded the module sum here; a Rust build has none, as a local Go build.
        format!("k8s-toolbox, version: {}, checksum: ", version())
    }
}

/// Runs `ktbx version`.
pub(crate) fn run(_ctx: &Context, args: &VersionArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    args.extra.ignore();
    out.write_all(render(args.quiet).as_bytes())?;
    Ok(out.flush()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_the_original() {
        assert_eq!(render(true), format!("v{}", env!("CARGO_PKG_VERSION")));
        assert_eq!(
            render(false),
            format!(
                "k8s-toolbox, version: v{}, checksum: ",
                env!("CARGO_PKG_VERSION")
            )
        );
    }
}
