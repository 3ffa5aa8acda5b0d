//! tower-sessions answers a bare, empty 500 when it cannot save a session.
//! When the cause is the database being unavailable (SQLite busy, PostgreSQL
//! restarting, no pooled connection), that is an outage like any other
//! database trouble, not a bug: this layer, just outside the sessions layer,
//! answers it as one (503 with `Retry-After`, the same words every other
//! path uses). Any other 500 passes through as it is.

use app::server::session_store::noting_unavailable;
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Seconds a client is asked to wait before trying again.
const RETRY_AFTER_SECS: &str = "5";

pub async fn unavailable_not_500(request: Request, next: Next) -> Response {
    let (response, store_met_unavailable) = noting_unavailable(next.run(request)).await;
    if store_met_unavailable && response.status() == StatusCode::INTERNAL_SERVER_ERROR {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, RETRY_AFTER_SECS)],
            "Phonebooth is temporarily unavailable. Please try again in a moment.\n",
        )
            .into_response();
    }
    response
}
