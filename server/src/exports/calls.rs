//! `GET /calls.csv?org_id=…&from=…&to=…&status=…&member=…&number=…`: the call
//! history, filtered exactly like the page (`app::server::db::call_history`,
//! the filter checked by its `checked_filter`), every matching call rather
//! than one page, as a CSV download.
//!
//! It authorizes, answers and quotes like the wallet's export (`csv.rs`):
//! 401 without a session user, 404 for an organization the user does not
//! belong to, 422 naming the field for a bad filter. Text cells are RFC
//! 4180-quoted and defused against spreadsheet formulas, the dialed number
//! included (E.164 starts with `+`, which a spreadsheet would evaluate);
//! times, seconds and amounts are values we wrote and stay plain (amounts as
//! exact decimals of micro-dollars).

use super::csv::{
    amount_cell, check_row_count, csv_download, header_record, record, stream_rows, text_cell,
    PAGE_ROWS,
};
use crate::session_member;
use app::error::AppError;
use app::server::dates::rfc3339_time;
use app::server::db::call_history::{self as queries, HistoryCall, HistoryKey, RawCallFilter};
use app::server::paging::EXPORT_MAX_ROWS;
use app::server::AppState;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use tower_sessions::Session;

pub const PATH: &str = "/calls.csv";

pub fn routes(state: AppState) -> Router {
    Router::new().route(PATH, get(calls_csv)).with_state(state)
}

#[derive(Debug, Deserialize)]
pub struct ExportQuery {
    org_id: Option<String>,
    #[serde(flatten)]
    filter: RawCallFilter,
}

async fn calls_csv(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<ExportQuery>,
) -> Response {
    csv_download("calls", export(&state, &session, query).await)
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
    let (filter, _) = queries::checked_filter(&state.db.pool, &org_id, &query.filter).await?;
    filter
        .days
        .check_export_span()
        .map_err(|e| AppError::validation(e.field, e.message))?;
    // Counting one past the limit is enough to refuse.
    let rows = queries::count_calls(&state.db.pool, &org_id, &filter, EXPORT_MAX_ROWS + 1).await?;
    check_row_count(rows)?;
    tracing::info!(%org_id, rows, "call history exported");
    let pool = state.db.pool.clone();
    let owner = org_id.clone();
    let body = stream_rows(
        header_record(HEADER),
        move |after| {
            let (pool, owner, filter) = (pool.clone(), owner.clone(), filter.clone());
            Box::pin(async move {
                let after = after.map(|(created_at, call_id)| HistoryKey {
                    created_at,
                    call_id,
                });
                queries::calls_after(&pool, &owner, &filter, after.as_ref(), PAGE_ROWS).await
            })
        },
        |record| (record.call.created_at, record.call.call_id.clone()),
        |call| record(row(call)),
    );
    Ok((org_id, body))
}

const HEADER: [&str; 17] = [
    "started_utc",
    "call_id",
    "member",
    "member_email",
    "number",
    "country",
    "destination",
    "status",
    "end_reason",
    "duration_secs",
    "billed_seconds",
    "rate_prefix",
    "price_per_minute_usd",
    "connection_fee_usd",
    "increments",
    "cost_usd",
    "carrier_call_id",
];

fn row(record: &HistoryCall) -> [String; 17] {
    let number = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
    let call = &record.call;
    let rate = &call.rate;
    [
        rfc3339_time(call.created_at),
        text_cell(&call.call_id),
        text_cell(&record.member_name),
        text_cell(&record.member_email),
        text_cell(&call.to_number),
        text_cell(rate.country_name()),
        text_cell(rate.description()),
        text_cell(call.status.label()),
        text_cell(call.end_reason.map(|r| r.label()).unwrap_or_default()),
        number(call.duration_secs),
        number(call.billed_seconds),
        text_cell(rate.prefix()),
        amount_cell(rate.price_per_minute().micros()),
        amount_cell(rate.connection_fee().micros()),
        format!(
            "{}/{}",
            rate.initial_increment(),
            rate.subsequent_increment()
        ),
        call.cost.map(amount_cell).unwrap_or_default(),
        text_cell(call.carrier_sid.as_deref().unwrap_or_default()),
    ]
}
