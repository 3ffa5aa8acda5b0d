//! Days and times, in UTC: reading the dates people type (`YYYY-MM-DD`, what
//! `<input type="date">` sends), day arithmetic on unix seconds, and how
//! times are written for people (histories, receipts, chart labels) and for
//! files (the CSV exports). Every history and export uses these, so a day
//! means the same everywhere.

use time::{Date, Month, OffsetDateTime};

pub const SECONDS_PER_DAY: i64 = 86_400;

/// A calendar date typed as `YYYY-MM-DD` (what `<input type="date">` sends).
pub fn parse_date(raw: &str) -> Option<Date> {
    let bytes = raw.as_bytes();
    let shape_ok = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shape_ok {
        return None;
    }
    let year: i32 = raw[0..4].parse().ok()?;
    let month: u8 = raw[5..7].parse().ok()?;
    let day: u8 = raw[8..10].parse().ok()?;
    Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()
}

/// Unix seconds at the start (00:00 UTC) of `date`.
pub fn day_start(date: Date) -> i64 {
    date.midnight().assume_utc().unix_timestamp()
}

/// The UTC date a unix time falls on.
pub fn date_of(unix: i64) -> Date {
    OffsetDateTime::from_unix_timestamp(unix)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .date()
}

/// `2024-05-03`.
pub fn iso_date(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// `2024-05-03 14:07 UTC`: how the history shows a time.
pub fn display_time(unix: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{} {:02}:{:02} UTC",
        iso_date(t.date()),
        t.hour(),
        t.minute()
    )
}

/// `2024-05-03T14:07:09Z`: how the CSV export writes a time.
pub fn rfc3339_time(unix: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        iso_date(t.date()),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `May 3`: a short label for chart axes.
pub fn short_date(date: Date) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {}",
        MONTHS[usize::from(u8::from(date.month())) - 1],
        date.day()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(raw: &str) -> Date {
        parse_date(raw).unwrap()
    }

    #[test]
    fn dates_parse_only_as_real_calendar_days() {
        assert_eq!(iso_date(date("2024-02-29")), "2024-02-29");
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "24-01-01",
            "2024/01/01",
            "2024-01-01T00:00",
            "",
            "+024-01-01",
        ] {
            assert!(parse_date(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn times_format_in_utc() {
        assert_eq!(display_time(1_709_251_200 + 3_661), "2024-03-01 01:01 UTC");
        assert_eq!(rfc3339_time(1_709_251_200 + 3_661), "2024-03-01T01:01:01Z");
        assert_eq!(short_date(date("2024-05-03")), "May 3");
        assert_eq!(date_of(1_709_251_199), date("2024-02-29"));
    }
}
