//! What every history view (a page or a CSV export; the wallet's ledger, the
//! calls) shares when it reads its query string and its rows: a bad filter
//! as `FilterError` (which field, what to do), `present` (trimmed, empty
//! means "any"), the date filter `DayRange` (whole UTC days, both ends
//! included), and `PageWindow` (which rows one page holds). Each history's
//! own filter and SQL live with its queries (`db::wallet`, `db::call_history`).

use super::dates::{day_start, parse_date};
use time::Date;

/// Bad filter input: which field, and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError {
    pub field: &'static str,
    pub message: &'static str,
}

/// The longest date range one CSV export covers, both ends included.
pub const EXPORT_MAX_DAYS: i64 = 366;
/// The most rows one CSV export writes, whatever its range; more is refused.
pub const EXPORT_MAX_ROWS: i64 = 100_000;
/// What an export over `EXPORT_MAX_ROWS` answers (on the field `from`).
pub const EXPORT_TOO_MANY_ROWS: &str =
    "an export holds at most 100,000 rows: choose a shorter date range or narrower filters";

/// A query-string value as a filter reads it: trimmed, and empty means "any".
pub fn present(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// A range of whole UTC days, both ends included, either end open: the date
/// filter of every history (the ledger's in `db::wallet`, and the calls' in
/// `db::call_history`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DayRange {
    pub from: Option<Date>,
    pub to: Option<Date>,
}

impl DayRange {
    /// Parses `from` and `to` as `<input type="date">` sends them; the end may
    /// not come before the start.
    pub fn parse(from: Option<&str>, to: Option<&str>) -> Result<Self, FilterError> {
        let date = |raw: Option<&str>, field: &'static str, message: &'static str| {
            present(raw)
                .map(|raw| parse_date(raw).ok_or(FilterError { field, message }))
                .transpose()
        };
        let from = date(from, "from", "enter the start date as YYYY-MM-DD")?;
        let to = date(to, "to", "enter the end date as YYYY-MM-DD")?;
        if let (Some(from), Some(to)) = (from, to) {
            if from > to {
                return Err(FilterError {
                    field: "to",
                    message: "the end date is before the start date",
                });
            }
        }
        Ok(Self { from, to })
    }

    /// Refuses a range longer than `EXPORT_MAX_DAYS` (an open end is left to
    /// the row limit, `EXPORT_MAX_ROWS`).
    pub fn check_export_span(&self) -> Result<(), FilterError> {
        if let (Some(from), Some(to)) = (self.from, self.to) {
            if (to - from).whole_days() + 1 > EXPORT_MAX_DAYS {
                return Err(FilterError {
                    field: "to",
                    message: "an export covers at most 366 days: choose a shorter date range",
                });
            }
        }
        Ok(())
    }

    /// `[start, end)` in unix seconds: from 00:00 UTC of `from` to the start of the day after `to`.
    pub fn bounds(&self) -> (i64, i64) {
        let start = self.from.map(day_start).unwrap_or(i64::MIN);
        let end = self
            .to
            .and_then(|to| to.next_day())
            .map(day_start)
            .unwrap_or(i64::MAX);
        (start, end)
    }
}

/// One page of a history of `total` rows, `size` to a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageWindow {
    /// 1-based, clamped to the last page.
    pub page: u32,
    /// At least 1, even when nothing matches.
    pub pages: u32,
    /// Rows before this page.
    pub offset: i64,
}

impl PageWindow {
    /// The page asked for (the first when none), clamped to the pages there are.
    pub fn of(total: i64, size: u32, requested: Option<u32>) -> Self {
        let size_rows = i64::from(size.max(1));
        let pages = u32::try_from(((total + size_rows - 1) / size_rows).max(1)).unwrap_or(u32::MAX);
        let page = requested.unwrap_or(1).clamp(1, pages);
        Self {
            page,
            pages,
            offset: i64::from(page - 1) * size_rows,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_export_covers_at_most_366_days_both_ends_included() {
        let span = |from: &str, to: &str| {
            DayRange::parse(Some(from), Some(to))
                .unwrap()
                .check_export_span()
        };
        assert_eq!(span("2024-01-01", "2024-12-31"), Ok(()));
        assert_eq!(span("2023-01-01", "2024-01-01"), Ok(()));
        assert_eq!(span("2023-01-01", "2024-01-02").unwrap_err().field, "to");
        assert_eq!(
            DayRange::parse(Some("2020-01-01"), None)
                .unwrap()
                .check_export_span(),
            Ok(()),
            "an open end is left to the row limit"
        );
    }

    #[test]
    fn page_windows_clamp_to_the_pages_there_are() {
        let window = |total, requested| {
            let w = PageWindow::of(total, 25, requested);
            (w.page, w.pages, w.offset)
        };
        assert_eq!(window(0, None), (1, 1, 0));
        assert_eq!(window(25, Some(2)), (1, 1, 0));
        assert_eq!(window(26, Some(2)), (2, 2, 25));
        assert_eq!(window(60, Some(0)), (1, 3, 0));
        assert_eq!(window(60, Some(99)), (3, 3, 50));
    }
}
