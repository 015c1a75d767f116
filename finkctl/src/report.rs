//! Machine-readable output of the reporting commands (`status`, `events`): JSON or YAML of a
//! serialisable value.

use std::io::Write;

use anyhow::Context as _;
use serde::Serialize;

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
