//! Logging to stderr through `tracing`, with the originals' `-v N` levels.
//!
//! `-v 0` shows errors (and warnings, so that config problems are never silent), `-v 1` adds info,
//! `-v 2` or more (and, as in the originals, any negative value) adds debug. At `-v 0` and `-v 1`
//! only the workspace's own crates log: a dependency's events (kube's `failed with error client
//! error (Connect)` before the tool's own `error:` line) are shown from `-v 2` on. `RUST_LOG`,
//! when set, replaces that filter. Colour follows `NO_COLOR` and whether stderr is a terminal.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// The crates whose events are shown at `-v 0` and `-v 1`.
const OWN_CRATES: &[&str] = &["common", "finkctl", "ktbx", "ciux"];

/// The `tracing` filter directives for a `-v` value.
pub fn filter_for(verbosity: i64) -> String {
    let level = match verbosity {
        0 => "warn",
        1 => "info",
        _ => return "debug".to_string(),
    };
    std::iter::once("off".to_string())
        .chain(OWN_CRATES.iter().map(|krate| format!("{krate}={level}")))
        .collect::<Vec<_>>()
        .join(",")
}

/// Installs the stderr subscriber. Safe to call once per process; later calls are ignored.
pub fn init(verbosity: i64) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(filter_for(verbosity)));
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| LogWriter)
        .with_ansi(ansi)
        .with_target(verbosity >= 2)
        .without_time()
        .try_init();
}

/// stderr, with progress bars cleared while a log line is written (each event is one write).
struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        crate::progress::suspend(|| std::io::stderr().write(buf))
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        crate::progress::suspend(|| std::io::stderr().write_all(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::filter_for;

    #[test]
    fn verbosity_levels_match_the_originals() {
        assert_eq!(
            filter_for(0),
            "off,common=warn,finkctl=warn,ktbx=warn,ciux=warn"
        );
        assert_eq!(
            filter_for(1),
            "off,common=info,finkctl=info,ktbx=info,ciux=info"
        );
        assert_eq!(filter_for(2), "debug");
        assert_eq!(filter_for(7), "debug");
        assert_eq!(filter_for(-1), "debug");
    }
}
