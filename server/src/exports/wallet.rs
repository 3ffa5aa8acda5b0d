//! `GET /wallet/history.csv?org_id=…&kind=…&from=…&to=…`: the wallet history,
//! filtered exactly like the page (`app::server::db::wallet`), as a CSV download.
//!
//! It authorizes with `session_member`: 401 without a session user, 404 for
//! anyone else's organization. Cells are written by `csv.rs`: quoted per
//! RFC 4180, text cells that a spreadsheet would run as a formula defused with
//! a leading `'`, amounts as plain decimals of exact micro-dollars.

use super::csv::{
    amount_cell, check_row_count, csv_download, header_record, record, stream_rows, text_cell,
    PAGE_ROWS,
};
use crate::session_member;
use app::error::AppError;
use app::server::dates::rfc3339_time;
use app::server::db::ledger::Entry;
use app::server::db::wallet::{self as queries, HistoryFilter};
use app::server::paging::DayRange;
use app::server::AppState;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::response::Response;
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

/// Authorize, parse, check the limits: the organization id (for the file
/// name) and the CSV, streamed.
async fn export(
    state: &AppState,
    session: &Session,
    query: ExportQuery,
) -> Result<(String, Body), AppError> {
    let org_id = session_member::require(state, session, query.org_id)
        .await?
        .org_id;
    let filter = HistoryFilter::parse(
        query.kind.as_deref(),
        query.from.as_deref(),
        query.to.as_deref(),
    )
    .map_err(|e| AppError::validation(e.field, e.message))?;
    DayRange {
        from: filter.from,
        to: filter.to,
    }
    .check_export_span()
    .map_err(|e| AppError::validation(e.field, e.message))?;
    let rows = queries::count_entries(&state.db.pool, &org_id, &filter).await?;
    check_row_count(rows)?;
    tracing::info!(%org_id, rows, "wallet history exported");
    let pool = state.db.pool.clone();
    let owner = org_id.clone();
    let body = stream_rows(
        header_record(HEADER),
        move |after| {
            let (pool, owner) = (pool.clone(), owner.clone());
            Box::pin(async move {
                queries::entries_after(&pool, &owner, &filter, after, PAGE_ROWS).await
            })
        },
        |entry| (entry.created_at, entry.ledger_entry_id.clone()),
        |entry| record(row(entry)),
    );
    Ok((org_id, body))
}

const HEADER: [&str; 6] = [
    "date_utc",
    "entry_id",
    "kind",
    "description",
    "amount_usd",
    "balance_after_usd",
];

fn row(entry: &Entry) -> [String; 6] {
    [
        rfc3339_time(entry.created_at),
        text_cell(&entry.ledger_entry_id),
        text_cell(&entry.kind),
        text_cell(&entry.description),
        amount_cell(entry.amount),
        amount_cell(entry.balance_after),
    ]
}
