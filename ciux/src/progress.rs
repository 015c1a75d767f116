//! One status line per dependency on stderr, drawn only when stderr is a terminal.
//!
//! The lines live in `common::progress`'s process-wide group, through which `common::logging`
//! writes, so warnings are printed above the lines instead of through them.

use indicatif::{ProgressBar, ProgressStyle};

/// Status lines, one per dependency, in `.ciux` order.
pub(crate) struct DepProgress {
    bars: Vec<ProgressBar>,
}

impl DepProgress {
    /// A line per label (hidden when stderr is not a terminal). The lines stay until the end of
    /// the process, as the final status of each dependency.
    pub(crate) fn new<'a>(labels: impl IntoIterator<Item = &'a str>) -> Self {
        let multi = common::progress::multi();
        if multi.is_hidden() {
            // Nothing is drawn: no bar to build (a template to parse, a style per line).
            return Self { bars: Vec::new() };
        }
        let style = ProgressStyle::with_template("{spinner} {prefix} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let bars = labels
            .into_iter()
            .map(|label| {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(style.clone());
                bar.set_prefix(label.to_string());
                // Only drawn lines get here: each ticks on a thread of its own.
                bar.enable_steady_tick(std::time::Duration::from_millis(120));
                bar
            })
            .collect();
        Self { bars }
    }

    /// Sets the status of line `i`.
    pub(crate) fn set(&self, i: usize, msg: impl Into<String>) {
        if let Some(bar) = self.bars.get(i) {
            bar.set_message(msg.into());
        }
    }

    /// Freezes line `i` with a final status.
    pub(crate) fn finish(&self, i: usize, msg: impl Into<String>) {
        if let Some(bar) = self.bars.get(i) {
            bar.finish_with_message(msg.into());
        }
    }
}
