//! Spinners and progress bars on stderr that draw only when stderr is a terminal (never in CI logs
//! or pipes), and without colour when `NO_COLOR` is set.
//!
//! Every bar belongs to one process-wide [`MultiProgress`], so parallel bars stack instead of
//! overwriting each other, and log lines ([`crate::logging`] writes through [`suspend`]) are
//! printed above the bars instead of through them.

use std::io::IsTerminal;
use std::sync::OnceLock;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Whether progress is drawn: stderr is a terminal.
pub fn enabled() -> bool {
    std::io::stderr().is_terminal()
}

fn colour() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn spinner_style(colour: bool) -> ProgressStyle {
    let template = if colour {
        "{spinner:.cyan} {msg} {elapsed:.dim}"
    } else {
        "{spinner} {msg} {elapsed}"
    };
    style(template)
}

fn bytes_style(colour: bool) -> ProgressStyle {
    let template = if colour {
        "{msg} [{bar:30.cyan/blue}] {bytes}/{total_bytes} {bytes_per_sec} {eta}"
    } else {
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}"
    };
    style(template).progress_chars("=> ")
}

fn unknown_bytes_style(colour: bool) -> ProgressStyle {
    let template = if colour {
        "{spinner:.cyan} {msg} {bytes} {bytes_per_sec}"
    } else {
        "{spinner} {msg} {bytes} {bytes_per_sec}"
    };
    style(template)
}

/// The style of one of the constant templates above.
#[allow(
    clippy::expect_used,
    reason = "constant templates, each parsed by styles_render_with_and_without_colour"
)]
fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).expect("valid template")
}

/// The process-wide group every bar of this module is drawn in (add your own bars with
/// `multi().add(..)`); hidden when stderr is not a terminal.
pub fn multi() -> &'static MultiProgress {
    static MULTI: OnceLock<MultiProgress> = OnceLock::new();
    MULTI.get_or_init(|| {
        let target = if enabled() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        MultiProgress::with_draw_target(target)
    })
}

/// Runs `f` with the bars cleared from the terminal, then redraws them: for writing log lines.
pub fn suspend<R>(f: impl FnOnce() -> R) -> R {
    multi().suspend(f)
}

/// A ticking spinner with `msg`; hidden when stderr is not a terminal. Finish it with
/// `finish_and_clear()` (or drop it).
pub fn spinner(msg: &str) -> ProgressBar {
    let bar = multi().add(ProgressBar::no_length().with_style(spinner_style(colour())));
    bar.set_message(msg.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// A byte-count bar for a transfer of `total` bytes (a spinner with a byte counter when the size
/// is unknown); hidden when stderr is not a terminal or `draw` is false.
pub fn bytes_bar(total: Option<u64>, msg: &str, draw: bool) -> ProgressBar {
    let style = if total.is_some() {
        bytes_style(colour())
    } else {
        unknown_bytes_style(colour())
    };
    let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::hidden()).with_style(style);
    let bar = if draw { multi().add(bar) } else { bar };
    bar.set_message(msg.to_string());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_hidden_when_stderr_is_not_a_terminal() {
        // Test runners capture stderr, so nothing may be drawn.
        if enabled() {
            return;
        }
        assert!(spinner("waiting").is_hidden());
        assert!(bytes_bar(Some(10), "kind", true).is_hidden());
        assert!(multi().add(ProgressBar::new(3)).is_hidden());
    }

    #[test]
    fn bytes_bar_is_hidden_when_not_asked_to_draw() {
        assert!(bytes_bar(Some(10), "kind", false).is_hidden());
    }

    #[test]
    fn suspend_runs_the_closure_and_returns_its_value() {
        let bar = spinner("waiting");
        assert_eq!(suspend(|| 42), 42);
        bar.finish_and_clear();
    }

    #[test]
    fn styles_render_with_and_without_colour() {
        for colour in [true, false] {
            // Templates are parsed at construction; this proves each one is valid.
            let _ = (
                spinner_style(colour),
                bytes_style(colour),
                unknown_bytes_style(colour),
            );
        }
    }
}
