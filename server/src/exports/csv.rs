//! What every CSV export shares: the answer (the file as a download named
//! `phonebooth-<what>-<org id>-<today>.csv`, or the error's status and text),
//! the file itself (RFC 4180 records, CRLF-terminated, quoted when needed),
//! the guard that stops a spreadsheet from running text cells as formulas,
//! and how amounts are written.
//!
//! Amounts are plain decimals of exact micro-dollars, never floats; they are
//! numbers we wrote, so the guard leaves them alone (a charge is `-0.50`, not
//! `'-0.50`). So are times (`dates::rfc3339_time`) and counts.

use crate::session_member;
use app::domain::Money;
use app::error::AppError;
use app::server::clock;
use app::server::dates::{date_of, iso_date};
use axum::http::header;
use axum::response::{IntoResponse, Response};

/// An export's answer: the CSV as a download named
/// `phonebooth-<what>-<org id>-<today>.csv`, or the error's status and text.
/// `result` carries the organization id (for the file name) and the CSV.
pub(crate) fn csv_download(what: &str, result: Result<(String, String), AppError>) -> Response {
    match result {
        Ok((org_id, csv)) => {
            let today = iso_date(date_of(clock::now()));
            let disposition =
                format!("attachment; filename=\"phonebooth-{what}-{org_id}-{today}.csv\"");
            (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                    (header::CONTENT_DISPOSITION, disposition),
                    (header::CACHE_CONTROL, "no-store".to_owned()),
                ],
                csv,
            )
                .into_response()
        }
        Err(error) => session_member::refusal(error),
    }
}

/// A whole CSV file: the header record, then one record per row.
pub(crate) fn table<const N: usize>(
    header: [&str; N],
    rows: impl IntoIterator<Item = [String; N]>,
) -> String {
    let mut csv = String::new();
    push_row(&mut csv, header.map(str::to_owned));
    for row in rows {
        push_row(&mut csv, row);
    }
    csv
}

/// Appends one CSV record (RFC 4180, CRLF-terminated).
fn push_row<const N: usize>(csv: &mut String, cells: [String; N]) {
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            csv.push(',');
        }
        csv.push_str(&quoted(cell));
    }
    csv.push_str("\r\n");
}

/// RFC 4180: a cell with a comma, quote or line break is quoted, quotes doubled.
fn quoted(cell: &str) -> String {
    if cell.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_owned()
    }
}

/// Text that a spreadsheet would read as a formula (`=`, `+`, `-`, `@`, or a
/// leading tab or carriage return) gets a `'` in front, so opening the file
/// cannot run anything a description smuggled in.
pub(crate) fn text_cell(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

/// An amount of micro-dollars as its exact plain decimal (`-0.50`), unguarded.
pub(crate) fn amount_cell(micros: i64) -> String {
    Money::from_micros(micros).plain_dollars()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        assert_eq!(quoted("plain"), "plain");
        assert_eq!(quoted("a,b"), "\"a,b\"");
        assert_eq!(quoted("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(quoted("two\nlines"), "\"two\nlines\"");
        assert_eq!(text_cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(text_cell("-2+3"), "'-2+3");
        assert_eq!(text_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(text_cell("Call to +1 555"), "Call to +1 555");
    }
}
