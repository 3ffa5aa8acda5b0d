//! `GET /wallet/history.csv?org_id=…&kind=…&from=…&to=…`: the wallet history,
//! filtered exactly like the page (`app::server::db::wallet`), as a CSV download.
//!
//! A plain route rather than a server function because the browser must get
//! a file with a `Content-Disposition`. It authorizes with `session_member`:
//! 401 without a session user, 404 for anyone else's organization.
//!
//! Cells are quoted per RFC 4180, and text cells that a spreadsheet would run
//! as a formula are defused with a leading `'`. Amounts are plain decimals of
//! exact micro-dollars, never floats; they are numbers we wrote, so the guard
//! leaves them alone (a charge is `-0.50`, not `'-0.50`).

use crate::session_member;
use app::domain::Money;
use app::error::AppError;
use app::server::db::ledger::Entry;
use app::server::db::wallet::{self as queries, HistoryFilter};
use app::server::{clock, AppState};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use tower_sessions::Session;

pub const PATH: &str = "/wallet/history.csv";

pub fn routes(state: AppState) -> Router {
    Router::new()
        .route(PATH, get(history_csv))
        .with_state(state)
}

#[derive(Debug, Deserialize)]
pub struct ExportQuery {
    org_id: Option<String>,
    kind: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

async fn history_csv(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<ExportQuery>,
) -> Response {
    csv_download("ledger", export(&state, &session, query).await)
}

/// An export's answer: the CSV as a download named
/// `phonebooth-<what>-<org id>-<today>.csv`, or the error's status and text.
/// `result` carries the organization id (for the file name) and the CSV.
pub(crate) fn csv_download(what: &str, result: Result<(String, String), AppError>) -> Response {
    match result {
        Ok((org_id, csv)) => {
            let today = queries::iso_date(queries::date_of(clock::now()));
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

/// Authorize, parse, read: the organization id (for the file name) and the CSV.
async fn export(
    state: &AppState,
    session: &Session,
    query: ExportQuery,
) -> Result<(String, String), AppError> {
    let org_id = session_member::require(state, session, query.org_id)
        .await?
        .org_id;
    let filter = HistoryFilter::parse(
        query.kind.as_deref(),
        query.from.as_deref(),
        query.to.as_deref(),
    )
    .map_err(|e| AppError::validation(e.field, e.message))?;
    let entries = queries::all_entries(&state.db.pool, &org_id, &filter).await?;
    tracing::info!(%org_id, rows = entries.len(), "wallet history exported");
    Ok((org_id, to_csv(&entries)))
}

const HEADER: [&str; 6] = [
    "date_utc",
    "entry_id",
    "kind",
    "description",
    "amount_usd",
    "balance_after_usd",
];

pub fn to_csv(entries: &[Entry]) -> String {
    let mut csv = String::new();
    push_row(&mut csv, HEADER.map(str::to_owned));
    for entry in entries {
        push_row(
            &mut csv,
            [
                queries::rfc3339_time(entry.created_at),
                text_cell(&entry.ledger_entry_id),
                text_cell(&entry.kind),
                text_cell(&entry.description),
                Money::from_micros(entry.amount).plain_dollars(),
                Money::from_micros(entry.balance_after).plain_dollars(),
            ],
        );
    }
    csv
}

/// Appends one CSV record (RFC 4180, CRLF-terminated).
pub(crate) fn push_row<const N: usize>(csv: &mut String, cells: [String; N]) {
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
