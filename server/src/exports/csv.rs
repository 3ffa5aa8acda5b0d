//! What every CSV export shares: the answer (the file as a download named
//! `phonebooth-<what>-<org id>-<today>.csv`, or the error's status and text),
//! the file itself (RFC 4180 records, CRLF-terminated, quoted when needed),
//! the guard that stops a spreadsheet from running text cells as formulas,
//! and how amounts are written.
//!
//! The file is streamed: the header, then the rows a page of `PAGE_ROWS` at
//! a time, each page read from the database by key after the last one
//! (`stream_rows`), so no export holds the whole file in memory or a
//! database connection while the browser downloads. The answer is chunked
//! (no `Content-Length`). A database error after the first bytes aborts the
//! download (the browser sees a failed transfer, never a short file that
//! looks complete) and is logged. Before any byte is sent, an export checks
//! its limits (`app::server::paging::EXPORT_MAX_DAYS`, `EXPORT_MAX_ROWS`).
//!
//! Amounts are plain decimals of exact micro-dollars, never floats; they are
//! numbers we wrote, so the guard leaves them alone (a charge is `-0.50`, not
//! `'-0.50`). So are times (`dates::rfc3339_time`) and counts.

use crate::session_member;
use app::domain::Money;
use app::error::AppError;
use app::server::clock;
use app::server::dates::{date_of, iso_date};
use app::server::paging::{EXPORT_MAX_ROWS, EXPORT_TOO_MANY_ROWS};
use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;

/// Rows read from the database per page of a streamed export.
pub(crate) const PAGE_ROWS: i64 = 500;

/// Where the next page starts: the last row's (time, id), None for the first.
pub(crate) type Cursor = Option<(i64, String)>;

/// An export's answer: the CSV as a download named
/// `phonebooth-<what>-<org id>-<today>.csv`, or the error's status and text.
/// `result` carries the organization id (for the file name) and the CSV.
pub(crate) fn csv_download(what: &str, result: Result<(String, Body), AppError>) -> Response {
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

/// Refuses an export of more than `EXPORT_MAX_ROWS` rows (`count` says how
/// many the filter matches), before anything is sent.
pub(crate) fn check_row_count(count: i64) -> Result<(), AppError> {
    if count > EXPORT_MAX_ROWS {
        return Err(AppError::validation("from", EXPORT_TOO_MANY_ROWS));
    }
    Ok(())
}

/// The CSV file as a streamed body: `header`, then every row `fetch` pages
/// through (each page after `cursor` of the previous page's last row),
/// each written by `record`.
pub(crate) fn stream_rows<T: Send + 'static>(
    header: String,
    fetch: impl Fn(Cursor) -> BoxFuture<'static, Result<Vec<T>, sqlx::Error>> + Send + 'static,
    cursor: fn(&T) -> (i64, String),
    record: fn(&T) -> String,
) -> Body {
    enum Next {
        Header(String),
        Page(Cursor),
        Done,
    }
    enum Step<T> {
        Header(String),
        Page(BoxFuture<'static, Result<Vec<T>, sqlx::Error>>),
        Done,
    }
    let chunks = futures::stream::unfold(Next::Header(header), move |next| {
        let step = match next {
            Next::Header(header) => Step::Header(header),
            Next::Page(after) => Step::Page(fetch(after)),
            Next::Done => Step::Done,
        };
        async move {
            let page = match step {
                Step::Header(header) => return Some((Ok(Bytes::from(header)), Next::Page(None))),
                Step::Done => return None,
                Step::Page(page) => page.await,
            };
            match page {
                Ok(rows) if rows.is_empty() => None,
                Ok(rows) => {
                    let mut chunk = String::new();
                    for row in &rows {
                        chunk.push_str(&record(row));
                    }
                    let next = match rows.last() {
                        Some(last) if rows.len() as i64 >= PAGE_ROWS => {
                            Next::Page(Some(cursor(last)))
                        }
                        _ => Next::Done,
                    };
                    Some((Ok::<_, std::io::Error>(Bytes::from(chunk)), next))
                }
                Err(error) => {
                    tracing::error!(%error, "CSV export: reading a page failed; download aborted");
                    Some((Err(std::io::Error::other("export aborted")), Next::Done))
                }
            }
        }
    });
    Body::from_stream(chunks)
}

/// One CSV record (RFC 4180, CRLF-terminated).
pub(crate) fn record<const N: usize>(cells: [String; N]) -> String {
    let mut csv = String::new();
    push_row(&mut csv, cells);
    csv
}

/// The header record.
pub(crate) fn header_record<const N: usize>(header: [&str; N]) -> String {
    record(header.map(str::to_owned))
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
    fn an_export_of_more_than_100000_rows_is_refused_naming_the_limit() {
        assert!(check_row_count(100_000).is_ok());
        match check_row_count(100_001) {
            Err(AppError::Validation { field, message }) => {
                assert_eq!(field, "from");
                assert!(message.contains("at most 100,000 rows"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

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
