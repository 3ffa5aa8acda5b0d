//! `POST /webhooks/twilio/status` (call progress) and
//! `POST /webhooks/twilio/voice` (what to do once answered).
//!
//! Both check `X-Twilio-Signature` against the URL Twilio requested as the
//! public sees it (`PUBLIC_URL` + path + query, which matters behind a proxy
//! or tunnel; with or without the retry fragment the URL was handed over
//! with) before reading anything; a bad or missing signature gets 403,
//! changes nothing, and is logged with the URL it was checked against.
//!
//! Status events go to `app::server::calls::apply_carrier_event`, which is
//! safe under redelivery and reordering, so this handler only verifies,
//! parses and answers. The same handler serves Twilio and the simulated
//! carrier. Our call id rides in the callback URL (`?call=<id>`), so an event
//! that arrives before we stored the carrier's call id still finds its call.

use crate::providers::twilio::{signature, wire};
use crate::state::WebhookSecrets;
use app::server::calls::{self, CallError, EventOutcome};
use app::server::db::{self, calls as call_rows};
use app::server::AppState;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct CallQuery {
    call: Option<String>,
}

/// The form parameters, if the signature over them and the public URL holds.
fn verified(
    app: &AppState,
    secrets: &WebhookSecrets,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Vec<(String, String)>> {
    let params: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let url = format!("{}{path_and_query}", app.public_url);
    let header = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok());
    // The URL was handed to Twilio with our connection overrides in its
    // fragment, which the request line never carries.
    match signature::verify_with_fragment(
        secrets.twilio_auth_token.expose(),
        &url,
        calls::CALLBACK_RETRY_FRAGMENT,
        &params,
        header,
    ) {
        Ok(()) => Some(params),
        Err(error) => {
            tracing::warn!(%url, %error, "rejected a Twilio webhook: bad signature (is PUBLIC_URL the URL Twilio calls?)");
            None
        }
    }
}

/// The database is busy or unreachable: Twilio retries (the URL asks it to).
fn unavailable() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "temporarily unavailable\n").into_response()
}

fn forbidden() -> Response {
    (StatusCode::FORBIDDEN, "invalid signature\n").into_response()
}

pub async fn status(
    State(app): State<AppState>,
    State(secrets): State<WebhookSecrets>,
    Query(query): Query<CallQuery>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(params) = verified(&app, &secrets, &uri, &headers, &body) else {
        return forbidden();
    };
    let event = match wire::status_event(query.call, &params) {
        Ok(event) => event,
        Err(error) => {
            tracing::warn!(%error, "malformed Twilio status callback");
            return (StatusCode::BAD_REQUEST, format!("{error}\n")).into_response();
        }
    };
    match calls::apply_carrier_event(&app.db, &app.calling, &event).await {
        Ok(outcome) => {
            if outcome != EventOutcome::Applied {
                tracing::info!(sid = %event.sid, status = event.status.as_str(), ?outcome, "carrier event recorded, not applied");
            }
            StatusCode::NO_CONTENT.into_response()
        }
        Err(error) => {
            // 5xx: retried by the simulated carrier's queue, and by Twilio,
            // which the callback URL asks to retry a 5xx (a few times, within
            // seconds). A call whose event is lost anyway is reconciled
            // later by the sweeper.
            tracing::error!(sid = %event.sid, error = ?error, "applying a carrier event failed");
            match &error {
                CallError::Db(cause) if db::is_unreachable(cause) => unavailable(),
                _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response(),
            }
        }
    }
}

pub async fn voice(
    State(app): State<AppState>,
    State(secrets): State<WebhookSecrets>,
    Query(query): Query<CallQuery>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if verified(&app, &secrets, &uri, &headers, &body).is_none() {
        return forbidden();
    }
    let call = match &query.call {
        Some(call_id) => call_rows::by_id_any(&app.db.pool, call_id).await,
        None => Ok(None),
    };
    let twiml = match call {
        Ok(Some(call)) if !call.status.is_terminal() => wire::dial_client_twiml(
            &member_identity(&call.user_id),
            u64::try_from(call.max_duration_secs).unwrap_or(0),
        ),
        Ok(_) => wire::hangup_twiml(),
        Err(error) => {
            tracing::error!(error = ?error, "reading the call for TwiML failed");
            if db::is_unreachable(&error) {
                return unavailable();
            }
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response();
        }
    };
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], twiml).into_response()
}

/// The member's browser client identity (the browser audio issue registers it).
pub fn member_identity(user_id: &str) -> String {
    format!("member-{user_id}")
}
