//! `finkctl version`: the original's `<module version>  <module sum>`.

use std::io::Write;

use crate::cli::VersionArgs;
use crate::context::Context;

/// Runs `finkctl version`: the second field is the commit of a release build (`cargo xtask
/// dist`), empty for other builds; no trailing newline, as the original.
pub(crate) fn run(_ctx: &Context, _args: &VersionArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    write!(
        out,
        "v{}  {}",
        env!("CARGO_PKG_VERSION"),
        option_env!("FINK_TOOLS_COMMIT").unwrap_or("")
    )?;
    Ok(out.flush()?)
}
