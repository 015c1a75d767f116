//! Docker's local images for `image cleanup`: the `--max-age` value, the cut-off time it gives, the
//! lines of `docker images --format '{{json .}}'` and their creation times.

use std::time::Duration;

use anyhow::{Result, bail};

/// The `--max-age` of `image cleanup`, parsed at argv time; `text` is kept for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MaxAge {
    /// The value as given (`5d`).
    pub(crate) text: String,
    /// The age it means.
    pub(crate) age: Duration,
}

impl MaxAge {
    /// Parses `<n><unit>` (see [`parse_max_age`]); a clap `value_parser`.
    pub(crate) fn parse(s: &str) -> Result<Self> {
        Ok(Self {
            text: s.to_string(),
            age: parse_max_age(s)?,
        })
    }
}

/// Parses `<n><unit>` with unit d, h, w or m (minutes). An age beyond `u64` seconds saturates: older
/// than anything.
pub(crate) fn parse_max_age(s: &str) -> Result<Duration> {
    if s.len() < 2 {
        bail!("invalid max-age format: {s:?} (expected <number><unit>, e.g. 5d)");
    }
    // The unit is the last character (a multi-byte one is an unsupported unit, not a panic).
    let split = s.char_indices().last().map_or(0, |(i, _)| i);
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| {
        anyhow::anyhow!("invalid max-age format: {s:?} (expected <number><unit>, e.g. 5d)")
    })?;
    let secs = match unit {
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        other => bail!("unsupported unit '{other}' (use d, h, w, m)"),
    };
    Ok(Duration::from_secs(n.saturating_mul(secs)))
}

/// The creation time before which `image cleanup` removes images: `now - max_age`, never before the
/// Unix epoch (no image is that old) and never wrapped around.
pub(crate) fn cutoff(now: i64, max_age: Duration) -> i64 {
    let age = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
    now.saturating_sub(age).max(0)
}

/// Days since the Unix epoch of a proleptic Gregorian date (callers keep the year within ±10⁹).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of a Unix time.
pub(crate) fn format_utc(t: i64) -> String {
    let (y, mo, d) = civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Unix time of Docker's `CreatedAt` (`2024-01-02 15:04:05 +0100 CET`, zone name and offset optional) or
/// of a relative `N <unit>s ago`; `None` for anything else, out-of-range fields included.
pub(crate) fn parse_created(s: &str, now: i64) -> Option<i64> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    if let [date, time, rest @ ..] = parts.as_slice()
        && let [y, mo, d] = date
            .split('-')
            .map(|p| p.parse::<i64>().ok())
            .collect::<Option<Vec<_>>>()?
            .as_slice()
        && let [h, mi, se] = time
            .split(':')
            .map(|p| p.parse::<i64>().ok())
            .collect::<Option<Vec<_>>>()?
            .as_slice()
    {
        let in_range = (0..=9999).contains(y)
            && (1..=12).contains(mo)
            && (1..=31).contains(d)
            && (0..24).contains(h)
            && (0..60).contains(mi)
            && (0..=60).contains(se);
        if !in_range {
            return None;
        }
        let offset = match rest.first() {
            Some(o) if (o.starts_with('+') || o.starts_with('-')) && o.len() == 5 => {
                let sign = if o.starts_with('-') { -1 } else { 1 };
                let hh: i64 = o.get(1..3)?.parse().ok()?;
                let mm: i64 = o.get(3..5)?.parse().ok()?;
                sign * (hh * 3600 + mm * 60)
            }
            _ => 0,
        };
        return Some(days_from_civil(*y, *mo, *d) * 86_400 + h * 3600 + mi * 60 + se - offset);
    }
    if let [n, unit, "ago"] = parts.as_slice() {
        let n: i64 = if *n == "a" || *n == "an" || *n == "About" {
            1
        } else {
            n.parse().ok()?
        };
        let unit = unit.trim_end_matches('s');
        let secs = match unit {
            "second" => 1,
            "minute" => 60,
            "hour" => 3600,
            "day" => 86_400,
            "week" => 7 * 86_400,
            "month" => 30 * 86_400,
            "year" => 365 * 86_400,
            _ => return None,
        };
        return n.checked_mul(secs).and_then(|ago| now.checked_sub(ago));
    }
    None
}

/// One image of the `docker images --format '{{json .}}'` listing.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Listed {
    /// `repository:tag`.
    pub(crate) name: String,
    /// Image ID.
    pub(crate) id: String,
    /// `CreatedAt` as Docker prints it.
    pub(crate) created: String,
}

/// Reads one line of the listing; `None` when it is not a JSON object.
pub(crate) fn listed(line: &str) -> Option<Listed> {
    let value = serde_json::from_str::<serde_json::Value>(line).ok()?;
    let img = value.as_object()?;
    let field = |k: &str| {
        img.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    Some(Listed {
        name: format!("{}:{}", field("Repository"), field("Tag")),
        id: field("ID"),
        created: field("CreatedAt"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age() {
        assert_eq!(
            parse_max_age("5d").unwrap(),
            Duration::from_secs(5 * 86_400)
        );
        assert_eq!(
            parse_max_age("2w").unwrap(),
            Duration::from_secs(14 * 86_400)
        );
        assert_eq!(parse_max_age("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_max_age("3h").unwrap(), Duration::from_secs(3 * 3600));
        assert!(
            parse_max_age("d")
                .unwrap_err()
                .to_string()
                .contains("invalid max-age format")
        );
        assert!(
            parse_max_age("xd")
                .unwrap_err()
                .to_string()
                .contains("invalid max-age format")
        );
        assert_eq!(
            parse_max_age("5y").unwrap_err().to_string(),
            "unsupported unit 'y' (use d, h, w, m)"
        );
        // A multi-byte last character is a unit, not a place to split a character (a panic, once).
        assert_eq!(
            parse_max_age("5\u{e9}").unwrap_err().to_string(),
            "unsupported unit '\u{e9}' (use d, h, w, m)"
        );
        assert!(parse_max_age("\u{1f300}").is_err());
    }

    #[test]
    fn cutoffs_never_wrap() {
        let now = 1_700_000_000;
        assert_eq!(cutoff(now, Duration::from_secs(86_400)), now - 86_400);
        // Saturated (`u64::MAX` seconds) and beyond `i64` (the former panic): before the epoch.
        assert_eq!(cutoff(now, parse_max_age("99999999999999999w").unwrap()), 0);
        assert_eq!(cutoff(now, parse_max_age("200000000000000d").unwrap()), 0);
        assert_eq!(cutoff(now, Duration::from_secs(now as u64 + 1)), 0);
    }

    #[test]
    fn created_times_out_of_range() {
        for bad in [
            "99999999999999-01-02 15:04:05",
            "2024-13-02 15:04:05",
            "2024-01-02 25:04:05",
            "2024-01-02 15:04:05 +1\u{e9}2",
            "9223372036854775807 days ago",
            "-9223372036854775807 weeks ago",
        ] {
            assert_eq!(parse_created(bad, 1_700_000_000), None, "{bad}");
        }
    }

    #[test]
    fn listing_lines() {
        assert_eq!(
            listed(r#"{"Repository":"r.io/a","Tag":"v1","ID":"1","CreatedAt":"3 days ago"}"#),
            Some(Listed {
                name: "r.io/a:v1".into(),
                id: "1".into(),
                created: "3 days ago".into()
            })
        );
        assert_eq!(listed("REPOSITORY TAG"), None);
        assert_eq!(listed("[1]"), None);
        assert_eq!(listed("{}").map(|l| l.name), Some(":".into()));
    }

    proptest::proptest! {
        #[test]
        fn max_age_parser_never_panics_and_scales(s in "\\PC{0,24}", n in 0u64..1_000_000, unit in "[mhdw]") {
            let _ = parse_max_age(&s);
            let secs = match unit.as_str() { "m" => 60, "h" => 3600, "d" => 86_400, _ => 604_800 };
            proptest::prop_assert_eq!(parse_max_age(&format!("{n}{unit}")).unwrap(), Duration::from_secs(n * secs));
        }

        #[test]
        fn cutoff_is_monotonic_and_bounded(now in 0i64..=i64::MAX, a in proptest::num::u64::ANY, b in proptest::num::u64::ANY) {
            let (young, old) = (a.min(b), a.max(b));
            let (c_young, c_old) = (cutoff(now, Duration::from_secs(young)), cutoff(now, Duration::from_secs(old)));
            proptest::prop_assert!(c_old <= c_young && c_young <= now && c_old >= 0);
        }

        #[test]
        fn created_parser_never_panics(s in "\\PC{0,40}", digits in "[0-9+-]{1,20}", now in proptest::num::i64::ANY) {
            let _ = parse_created(&s, now);
            for candidate in [
                format!("{digits}-01-02 15:04:05 {digits}"),
                format!("2024-{digits}-02 {digits}:04:05 +{digits}"),
                format!("{digits} months ago"),
            ] {
                if let Some(t) = parse_created(&candidate, now) {
                    let _ = format_utc(t);
                }
            }
        }

        #[test]
        fn listing_parser_never_panics(s in "\\PC{0,60}") {
            let _ = listed(&s);
        }
    }

    #[test]
    fn created_times() {
        let t = parse_created("2024-01-02 15:04:05 +0100 CET", 0).unwrap();
        assert_eq!(format_utc(t), "2024-01-02 14:04:05");
        assert_eq!(parse_created("2024-01-02 15:04:05", 0), Some(t + 3600));
        assert_eq!(
            parse_created("3 days ago", 1_000_000),
            Some(1_000_000 - 3 * 86_400)
        );
        assert_eq!(
            parse_created("2 months ago", 10_000_000),
            Some(10_000_000 - 60 * 86_400)
        );
        assert_eq!(parse_created("yesterday", 0), None);
        assert_eq!(format_utc(0), "1970-01-01 00:00:00");
    }
}
