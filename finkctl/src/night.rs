//! Night resolution: `--tonight` (today in UTC) wins over `-N`, which wins over `run.night`; the
//! result must be a real calendar date written strictly as `YYYYMMDD`.

use std::time::{SystemTime, UNIX_EPOCH};

use thiserror::Error;

/// Why no usable night was found.
#[derive(Debug, Error, PartialEq, Eq)]
pub(crate) enum NightError {
    /// Neither `--tonight`, `-N` nor `run.night` gave a value.
    #[error("night is empty, please provide a night")]
    Empty,
    /// The value is not a strict `YYYYMMDD` date.
    #[error(
        "night has not the right format, please provide a night in the format YYYYMMDD (got {0:?})"
    )]
    Format(String),
}

/// Picks the night: `tonight` → today's UTC date, else a non-empty `flag`, else `configured`.
pub(crate) fn resolve_night(
    tonight: bool,
    flag: Option<&str>,
    configured: &str,
) -> Result<String, NightError> {
    let night = if tonight {
        today_utc()
    } else {
        match flag {
            Some(flag) if !flag.is_empty() => flag.to_string(),
            _ => configured.to_string(),
        }
    };
    validate_night(&night)?;
    Ok(night)
}

/// Checks that `night` is exactly eight ASCII digits forming a valid Gregorian date.
pub(crate) fn validate_night(night: &str) -> Result<(), NightError> {
    if night.is_empty() {
        return Err(NightError::Empty);
    }
    let bad = || NightError::Format(night.to_string());
    if night.len() != 8 || !night.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let year: u32 = night[0..4].parse().map_err(|_| bad())?;
    let month: u32 = night[4..6].parse().map_err(|_| bad())?;
    let day: u32 = night[6..8].parse().map_err(|_| bad())?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err(bad());
    }
    Ok(())
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        _ => 28,
    }
}

/// Today's date in UTC as `YYYYMMDD`.
pub(crate) fn today_utc() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    format!("{y:04}{m:02}{d:02}")
}

/// Gregorian date of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_is_tonight_then_flag_then_config() {
        assert_eq!(
            resolve_night(false, Some("20000101"), "20240101").unwrap(),
            "20000101"
        );
        assert_eq!(
            resolve_night(false, Some(""), "20240101").unwrap(),
            "20240101"
        );
        assert_eq!(resolve_night(false, None, "20240101").unwrap(), "20240101");
        assert_eq!(
            resolve_night(true, Some("20000101"), "20240101").unwrap(),
            today_utc()
        );
    }

    #[test]
    fn strict_format_and_calendar() {
        assert_eq!(resolve_night(false, None, ""), Err(NightError::Empty));
        for bad in [
            "2020111101011",
            "2020111",
            "2020-1-1",
            "20200230",
            "20201301",
            "20200100",
            "+2020101",
            "2020010１",
        ] {
            assert!(
                matches!(validate_night(bad), Err(NightError::Format(_))),
                "{bad}"
            );
        }
        for good in ["20200229", "20000229", "20231231", "00010101"] {
            assert_eq!(validate_night(good), Ok(()), "{good}");
        }
        assert!(validate_night("19000229").is_err());
    }

    #[test]
    fn civil_dates_are_right() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
        assert_eq!(validate_night(&today_utc()), Ok(()));
    }
}
