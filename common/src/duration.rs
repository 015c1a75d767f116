//! Go-style durations (`time.ParseDuration` / `Duration.String`), as the originals' flags used them.
//!
//! Accepted: a sequence of decimal numbers, each with an optional fraction and a unit suffix
//! (`ns`, `us`/`µs`/`μs`, `ms`, `s`, `m`, `h`), such as `500ms`, `10s`, `1m30s`, `1.5h`; an optional
//! leading `+`; and the bare `0`. Negative durations and values beyond Go's limit (about 292
//! years) are errors. [`parse_duration`] fits directly as a clap `value_parser`.

use std::time::Duration;

/// Go's limit: an `int64` number of nanoseconds.
const MAX_NANOS: u128 = i64::MAX as u128;

const UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60 * 1_000_000_000),
    ("h", 3_600 * 1_000_000_000),
];

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Nothing to parse.
    #[error("empty duration: use a number with a unit, such as 30s, 5m or 1h30m")]
    Empty,
    /// A leading `-`.
    #[error("invalid duration {0:?}: negative durations are not allowed")]
    Negative(String),
    /// A number without a unit (other than the bare `0`).
    #[error("invalid duration {0:?}: missing unit (valid units: ns, us, ms, s, m, h), such as 30s")]
    MissingUnit(String),
    /// An unknown unit suffix.
    #[error("invalid duration {input:?}: unknown unit {unit:?} (valid units: ns, us, ms, s, m, h)")]
    UnknownUnit {
        /// The whole input.
        input: String,
        /// The rejected unit.
        unit: String,
    },
    /// Something that is not a number where a number was expected.
    #[error("invalid duration {0:?}: expected a number followed by a unit, such as 30s or 1m30s")]
    Syntax(String),
    /// More than Go's maximum duration (about 292 years).
    #[error("invalid duration {0:?}: too large (the maximum is 2562047h47m16.854775807s)")]
    Overflow(String),
}

/// Parses a Go-style duration such as `500ms`, `10s`, `1m30s`, `1.5h` or `0`.
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let mut rest = input;
    if let Some(stripped) = rest.strip_prefix('+') {
        rest = stripped;
    } else if rest.starts_with('-') {
        return Err(DurationError::Negative(input.to_string()));
    }
    if rest.is_empty() {
        return if input.is_empty() {
            Err(DurationError::Empty)
        } else {
            Err(DurationError::Syntax(input.to_string()))
        };
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let (whole, frac, after) =
            split_number(rest).ok_or_else(|| DurationError::Syntax(input.to_string()))?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let unit = &after[..unit_len];
        if unit.is_empty() {
            return Err(DurationError::MissingUnit(input.to_string()));
        }
        let scale = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, scale)| *scale)
            .ok_or_else(|| DurationError::UnknownUnit {
                input: input.to_string(),
                unit: unit.to_string(),
            })?;
        let overflow = || DurationError::Overflow(input.to_string());
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| overflow())?
        };
        let mut nanos = whole.checked_mul(scale).ok_or_else(overflow)?;
        nanos = nanos
            .checked_add(fraction_nanos(frac, scale))
            .ok_or_else(overflow)?;
        total = total.checked_add(nanos).ok_or_else(overflow)?;
        if total > MAX_NANOS {
            return Err(overflow());
        }
        rest = &after[unit_len..];
    }
    Ok(Duration::from_nanos(total as u64))
}

/// Splits a leading `123.45` into its whole and fractional digits; `None` if there are no digits.
fn split_number(s: &str) -> Option<(&str, &str, &str)> {
    let whole_len = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (whole, after) = s.split_at(whole_len);
    let (frac, after) = match after.strip_prefix('.') {
        Some(tail) => {
            let frac_len = tail
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(tail.len());
            tail.split_at(frac_len)
        }
        None => ("", after),
    };
    if whole.is_empty() && frac.is_empty() {
        None
    } else {
        Some((whole, frac, after))
    }
}

/// The nanoseconds of a fraction `0.<digits>` of `scale`, truncated like Go does.
fn fraction_nanos(digits: &str, scale: u128) -> u128 {
    let mut numerator: u128 = 0;
    let mut denominator: u128 = 1;
    // Digits beyond nanosecond precision of the largest unit cannot change the result.
    for digit in digits.bytes().take(24) {
        numerator = numerator * 10 + u128::from(digit - b'0');
        denominator *= 10;
    }
    numerator * scale / denominator
}

/// Formats a duration the way Go's `Duration.String` does: `1h0m0s`, `1m30s`, `1.5s`, `500ms`,
/// `0s`.
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", decimal(nanos, 1_000));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", decimal(nanos, 1_000_000));
    }
    let hours = nanos / 3_600_000_000_000;
    let minutes = nanos / 60_000_000_000 % 60;
    let seconds = decimal(nanos % 60_000_000_000, 1_000_000_000);
    if hours > 0 {
        format!("{hours}h{minutes}m{seconds}s")
    } else if minutes > 0 {
        format!("{minutes}m{seconds}s")
    } else {
        format!("{seconds}s")
    }
}

/// `value / unit` as a decimal without trailing zeros (`1500, 1000` → `1.5`).
fn decimal(value: u128, unit: u128) -> String {
    let whole = value / unit;
    let frac = value % unit;
    if frac == 0 {
        return whole.to_string();
    }
    let width = unit.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn parses_go_examples() {
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("500ms"), Ok(ms(500)));
        assert_eq!(parse_duration("10s"), Ok(ms(10_000)));
        assert_eq!(parse_duration("1m30s"), Ok(ms(90_000)));
        assert_eq!(parse_duration("1.5h"), Ok(ms(5_400_000)));
        assert_eq!(parse_duration("1h30m"), Ok(ms(5_400_000)));
        assert_eq!(parse_duration("2m"), Ok(ms(120_000)));
        assert_eq!(parse_duration("+5s"), Ok(ms(5_000)));
        assert_eq!(parse_duration(".5s"), Ok(ms(500)));
        assert_eq!(parse_duration("1.s"), Ok(ms(1_000)));
        assert_eq!(parse_duration("100ns"), Ok(Duration::from_nanos(100)));
        assert_eq!(parse_duration("3us"), Ok(Duration::from_micros(3)));
        assert_eq!(parse_duration("3µs"), Ok(Duration::from_micros(3)));
        assert_eq!(parse_duration("3μs"), Ok(Duration::from_micros(3)));
        assert_eq!(parse_duration("1h1m1s1ms"), Ok(ms(3_661_001)));
        assert_eq!(
            parse_duration("0.333333333333s"),
            Ok(Duration::from_nanos(333_333_333))
        );
    }

    #[test]
    fn rejects_bad_durations() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert_eq!(
            parse_duration("10"),
            Err(DurationError::MissingUnit("10".into()))
        );
        assert_eq!(
            parse_duration("1m30"),
            Err(DurationError::MissingUnit("1m30".into()))
        );
        assert_eq!(
            parse_duration("-5s"),
            Err(DurationError::Negative("-5s".into()))
        );
        assert_eq!(
            parse_duration("5d"),
            Err(DurationError::UnknownUnit {
                input: "5d".into(),
                unit: "d".into()
            })
        );
        assert!(matches!(
            parse_duration("5 s"),
            Err(DurationError::UnknownUnit { .. })
        ));
        assert_eq!(parse_duration("s"), Err(DurationError::Syntax("s".into())));
        assert_eq!(
            parse_duration(".s"),
            Err(DurationError::Syntax(".s".into()))
        );
        assert_eq!(parse_duration("+"), Err(DurationError::Syntax("+".into())));
        assert_eq!(
            parse_duration("1h "),
            Err(DurationError::UnknownUnit {
                input: "1h ".into(),
                unit: "h ".into()
            })
        );
        assert!(matches!(
            parse_duration("abc"),
            Err(DurationError::Syntax(_))
        ));
        assert!(matches!(
            parse_duration("3000000h"),
            Err(DurationError::Overflow(_))
        ));
        assert!(matches!(
            parse_duration("99999999999999999999999999999999999999999s"),
            Err(DurationError::Overflow(_))
        ));
        assert!(matches!(
            parse_duration("9223372036854775808ns"),
            Err(DurationError::Overflow(_))
        ));
        assert_eq!(
            parse_duration("9223372036854775807ns"),
            Ok(Duration::from_nanos(i64::MAX as u64))
        );
    }

    #[test]
    fn error_messages_say_what_to_do() {
        let msg = parse_duration("10").unwrap_err().to_string();
        assert!(msg.contains("missing unit") && msg.contains("30s"), "{msg}");
        let msg = parse_duration("5d").unwrap_err().to_string();
        assert!(msg.contains("unknown unit \"d\""), "{msg}");
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(ms(500)), "500ms");
        assert_eq!(format_duration(ms(1_500)), "1.5s");
        assert_eq!(format_duration(ms(90_000)), "1m30s");
        assert_eq!(format_duration(ms(3_600_000)), "1h0m0s");
        assert_eq!(format_duration(ms(5_400_000)), "1h30m0s");
        assert_eq!(format_duration(Duration::from_nanos(100)), "100ns");
        assert_eq!(format_duration(Duration::from_nanos(1_500)), "1.5µs");
        assert_eq!(
            format_duration(Duration::from_nanos(2_000_000_001)),
            "2.000000001s"
        );
        assert_eq!(
            format_duration(Duration::from_nanos(i64::MAX as u64)),
            "2562047h47m16.854775807s"
        );
    }

    #[test]
    fn works_as_a_clap_value_parser() {
        #[derive(clap::Parser)]
        struct Cli {
            #[arg(long, value_parser = parse_duration)]
            timeout: Duration,
        }
        let cli = <Cli as clap::Parser>::try_parse_from(["x", "--timeout", "1m30s"]).unwrap();
        assert_eq!(cli.timeout, ms(90_000));
        let err = <Cli as clap::Parser>::try_parse_from(["x", "--timeout", "90"])
            .err()
            .unwrap();
        assert!(err.to_string().contains("missing unit"), "{err}");
    }

    proptest::proptest! {
        #[test]
        fn format_then_parse_round_trips(nanos in 0u64..=i64::MAX as u64) {
            let d = Duration::from_nanos(nanos);
            proptest::prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
    }
}
