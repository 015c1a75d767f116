//! `cargo xtask bench [ktbx|ciux|finkctl]...`: one table of figures measured in one run, each next
//! to its baseline measured the same way on the same machine (never part of `cargo xtask ci`).
//!
//! The tools are release builds (`cargo build --release -p ktbx -p ciux -p finkctl`, or the
//! executables in `$FINK_TOOLS_BIN_DIR`). The servers they talk to (release server, latency proxy,
//! git daemon, fake API server) come from the `harness` library and run inside this process, for
//! the figure and its baseline alike. Each figure is the median of several runs.

mod ciux;
mod finkctl;
mod install_sh;
mod ktbx;

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use harness::tools::{Profile, TOOL_NAMES, Tools};

/// The target of a figure: an upper limit.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Limit {
    /// figure / baseline must not exceed this.
    Ratio(f64),
    /// The figure must not exceed this many seconds.
    Seconds(f64),
    /// The figure must not exceed this many MiB.
    Mib(f64),
    /// The command must return at most `slack` seconds after the event at the baseline's time.
    Slack(f64),
}

/// The unit of a figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unit {
    Seconds,
    Mib,
}

/// One line of the table.
pub(crate) struct Row {
    tool: &'static str,
    name: String,
    unit: Unit,
    figure: Result<f64, String>,
    baseline: Option<(f64, String)>,
    target: Limit,
}

impl Row {
    /// A timed figure (seconds).
    pub(crate) fn seconds(
        tool: &'static str,
        name: &str,
        figure: Result<Duration>,
        target: Limit,
    ) -> Row {
        Row {
            tool,
            name: name.to_string(),
            unit: Unit::Seconds,
            figure: figure
                .map(|d| d.as_secs_f64())
                .map_err(|e| format!("{e:#}")),
            baseline: None,
            target,
        }
    }

    /// A memory figure (MiB).
    pub(crate) fn mib(tool: &'static str, name: &str, figure: Result<f64>, target: Limit) -> Row {
        Row {
            tool,
            name: name.to_string(),
            unit: Unit::Mib,
            figure: figure.map_err(|e| format!("{e:#}")),
            baseline: None,
            target,
        }
    }

    /// Adds the baseline (same unit) and what it is.
    pub(crate) fn baseline(mut self, what: &str, value: Result<Duration>) -> Row {
        match value {
            Ok(d) => self.baseline = Some((d.as_secs_f64(), what.to_string())),
            Err(e) => {
                self.baseline = None;
                self.name = format!("{} (baseline {what} failed: {e:#})", self.name);
            }
        }
        self
    }

    fn ratio(&self) -> Option<f64> {
        match (&self.figure, &self.baseline) {
            (Ok(f), Some((b, _))) if *b > 0.0 => Some(f / b),
            _ => None,
        }
    }

    fn passes(&self) -> bool {
        let Ok(figure) = self.figure else {
            return false;
        };
        match self.target {
            Limit::Ratio(max) => self.ratio().is_some_and(|r| r <= max),
            Limit::Seconds(max) | Limit::Mib(max) => figure <= max,
            Limit::Slack(slack) => self
                .baseline
                .as_ref()
                .is_some_and(|(event, _)| figure - event <= slack),
        }
    }

    fn format(&self, value: f64) -> String {
        match self.unit {
            Unit::Seconds if value < 1.0 => format!("{:.1} ms", value * 1000.0),
            Unit::Seconds => format!("{value:.3} s"),
            Unit::Mib => format!("{value:.1} MiB"),
        }
    }

    fn target_text(&self) -> String {
        match self.target {
            Limit::Ratio(max) => format!("ratio ≤ {max:.2}"),
            Limit::Seconds(max) => format!("≤ {}", self.format(max)),
            Limit::Mib(max) => format!("≤ {max} MiB"),
            Limit::Slack(slack) => format!("≤ baseline + {}", self.format(slack)),
        }
    }

    fn markdown(&self) -> String {
        let figure = match &self.figure {
            Ok(f) => self.format(*f),
            Err(e) => format!("error: {}", e.replace('|', "/").replace('\n', " ")),
        };
        let baseline = self.baseline.as_ref().map_or("—".to_string(), |(b, what)| {
            format!("{} ({what})", self.format(*b))
        });
        let ratio = self.ratio().map_or("—".to_string(), |r| format!("{r:.2}"));
        let result = if self.passes() { "pass" } else { "FAIL" };
        format!(
            "| {} | {} | {figure} | {baseline} | {ratio} | {} | {result} |",
            self.tool,
            self.name,
            self.target_text()
        )
    }
}

/// Runs the selected benchmarks (all by default) and prints the table.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let selected: Vec<&str> = if args.is_empty() {
        TOOL_NAMES.to_vec()
    } else {
        args.iter().map(String::as_str).collect()
    };
    if let Some(unknown) = selected.iter().find(|t| !TOOL_NAMES.contains(t)) {
        bail!("unknown benchmark group {unknown:?}: expected ktbx, ciux or finkctl");
    }
    eprintln!(
        "xtask: building ktbx, ciux and finkctl (release, unless $FINK_TOOLS_BIN_DIR is set)"
    );
    let tools = Tools::build(Profile::Release).map_err(anyhow::Error::msg)?;
    let mut rows = Vec::new();
    for group in selected {
        eprintln!("xtask: benchmarking {group}");
        match group {
            "ktbx" => rows.extend(ktbx::run(&tools)?),
            "ciux" => {
                rows.extend(ciux::run(&tools)?);
                rows.push(install_sh::run(&tools)?);
            }
            _ => rows.extend(finkctl::run(&tools)?),
        }
    }
    println!("{}\n", machine());
    println!("Tools: {}\n", tools.origin);
    println!("| tool | benchmark | figure | baseline | ratio | target | result |");
    println!("|---|---|---|---|---|---|---|");
    for row in &rows {
        println!("{}", row.markdown());
    }
    let failed = rows.iter().filter(|r| !r.passes()).count();
    if failed > 0 {
        bail!("{failed} of {} benchmarks missed their target", rows.len());
    }
    Ok(())
}

/// nproc, CPU model and load, for the table's heading.
fn machine() -> String {
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU".to_string(), |(_, m)| m.trim().to_string());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!(
        "Machine: {nproc} CPUs ({model}), load average {}",
        load.join(" ")
    )
}

/// Runs `command` to completion and returns how long it took; fails with its stderr if it fails.
pub(crate) fn time(command: &mut Command) -> Result<Duration> {
    let start = Instant::now();
    let output = command
        .output()
        .with_context(|| format!("running {:?}", command.get_program()))?;
    let elapsed = start.elapsed();
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
        bail!(
            "{:?} failed ({}): {}",
            command.get_program(),
            output.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
        );
    }
    Ok(elapsed)
}

/// The median of `runs` measurements (each may prepare its own state first).
pub(crate) fn median(
    runs: usize,
    mut measure: impl FnMut() -> Result<Duration>,
) -> Result<Duration> {
    let [figure] = interleaved(runs, [&mut measure])?;
    Ok(figure)
}

/// Runs the measures one after the other, `runs` times, so that the machine's drift touches them
/// alike; the median of each.
pub(crate) fn interleaved<const N: usize>(
    runs: usize,
    mut measures: [&mut dyn FnMut() -> Result<Duration>; N],
) -> Result<[Duration; N]> {
    let mut all: [Vec<Duration>; N] = std::array::from_fn(|_| Vec::with_capacity(runs));
    for _ in 0..runs {
        for (measure, figures) in measures.iter_mut().zip(all.iter_mut()) {
            figures.push(measure()?);
        }
    }
    Ok(all.map(|mut figures| {
        figures.sort();
        figures[figures.len() / 2]
    }))
}

/// A figure and its baseline measured together (see [`interleaved`]): when the runs failed, the
/// figure carries the error.
pub(crate) fn figure_and_baseline(
    measured: Result<[Duration; 2]>,
) -> (Result<Duration>, Result<Duration>) {
    match measured {
        Ok([figure, baseline]) => (Ok(figure), Ok(baseline)),
        Err(e) => (Err(e), Err(anyhow::anyhow!("not measured"))),
    }
}

/// A fresh temporary directory for one benchmark.
pub(crate) fn scratch(prefix: &str) -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .context("creating a temporary directory")
}

/// Start-up baseline: the time to run `true`.
pub(crate) fn process_baseline() -> Result<Duration> {
    median(21, || time(&mut Command::new("true")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ratio_target_needs_a_baseline_and_compares_the_ratio() {
        let row = Row::seconds("t", "x", Ok(Duration::from_millis(50)), Limit::Ratio(0.6));
        assert!(!row.passes());
        let row = row.baseline("b", Ok(Duration::from_millis(100)));
        assert!(row.passes());
        assert_eq!(row.ratio(), Some(0.5));
        assert!(
            row.markdown()
                .ends_with("| 50.0 ms | 100.0 ms (b) | 0.50 | ratio ≤ 0.60 | pass |")
        );
    }

    #[test]
    fn slack_is_measured_from_the_baseline_event() {
        let row = Row::seconds("t", "x", Ok(Duration::from_millis(1250)), Limit::Slack(0.3))
            .baseline("Ready", Ok(Duration::from_secs(1)));
        assert!(row.passes());
        let row = Row::seconds("t", "x", Ok(Duration::from_millis(1400)), Limit::Slack(0.3))
            .baseline("Ready", Ok(Duration::from_secs(1)));
        assert!(!row.passes());
    }

    #[test]
    fn an_error_fails_and_is_shown() {
        let row = Row::seconds(
            "t",
            "x",
            Err(anyhow::anyhow!("boom | bad")),
            Limit::Seconds(1.0),
        );
        assert!(!row.passes());
        assert!(row.markdown().contains("error: boom / bad"));
    }
}
