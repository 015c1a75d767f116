//! Logging to stderr through `tracing`, with the originals' `-v N` levels.
//!
//! `-v 0` shows errors (and warnings, so that config problems are never silent), `-v 1` adds info,
//! `-v 2` or more (and, as in the originals, any negative value) adds debug. `RUST_LOG`, when set,
//! replaces that filter. Colour follows `NO_COLOR` and whether stderr is a terminal.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// The `tracing` filter directive for a `-v` value.
pub fn level_for(verbosity: i64) -> &'static str {
    match verbosity {
        0 => "warn",
        1 => "info",
        _ => "debug",
    }
}

/// Installs the stderr subscriber. Safe to call once per process; later calls are ignored.
pub fn init(verbosity: i64) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(level_for(verbosity)));
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
    use super::level_for;

    #[test]
    fn verbosity_levels_match_the_originals() {
        assert_eq!(level_for(0), "warn");
        assert_eq!(level_for(1), "info");
        assert_eq!(level_for(2), "debug");
        assert_eq!(level_for(7), "debug");
        assert_eq!(level_for(-1), "debug");
    }
}
