//! Output of the reporting commands (`status`, `events`, `run --wait`, `suspend`, `resume`): the
//! `-o text|json|yaml` choice, JSON or YAML of a serialisable value, and aligned tables.

use std::io::Write;

use anyhow::Context as _;
use serde::Serialize;

/// What `-o` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ReportFormat {
    /// Readable text: a line or a table
    #[value(alias = "table")]
    Text,
    /// JSON
    Json,
    /// YAML
    Yaml,
}

impl ReportFormat {
    /// The machine-readable format, None for text.
    pub(crate) fn structured(self) -> Option<Structured> {
        match self {
            ReportFormat::Text => None,
            ReportFormat::Json => Some(Structured::Json),
            ReportFormat::Yaml => Some(Structured::Yaml),
        }
    }
}

/// Writes `value` in `format`, or `line` (its text form) for text.
pub(crate) fn write_report<T: Serialize>(
    out: &mut dyn Write,
    format: ReportFormat,
    value: &T,
    line: &str,
) -> anyhow::Result<()> {
    match format.structured() {
        Some(structured) => write_structured(out, structured, value),
        None => Ok(writeln!(out, "{line}")?),
    }
}

/// A machine-readable format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Structured {
    /// Pretty JSON, one document.
    Json,
    /// YAML, one document.
    Yaml,
}

/// Writes `value` to `out` as one document in `format`.
pub(crate) fn write_structured<T: Serialize>(
    out: &mut dyn Write,
    format: Structured,
    value: &T,
) -> anyhow::Result<()> {
    match format {
        Structured::Json => {
            let text = serde_json::to_string_pretty(value).context("cannot print JSON")?;
            writeln!(out, "{text}")?;
        }
        Structured::Yaml => {
            let text = serde_saphyr::to_string(value).context("cannot print YAML")?;
            write!(out, "{text}")?;
        }
    }
    Ok(())
}

/// Rows as left-aligned columns separated by two spaces, each line prefixed with `indent`.
pub(crate) fn write_table(
    out: &mut dyn Write,
    indent: &str,
    rows: &[Vec<String>],
) -> std::io::Result<()> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::from(indent);
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[c]));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}
