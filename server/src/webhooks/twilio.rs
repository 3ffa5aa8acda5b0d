//! `POST /webhooks/twilio/status` (call progress of the PSTN leg),
//! `POST /webhooks/twilio/voice` (a browser connects: the TwiML App's voice
//! URL) and `POST /webhooks/twilio/dial-action` (the `<Dial action>`, when
//! the PSTN leg has ended).
//!
//! All three check `X-Twilio-Signature` against the URL Twilio requested as the
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
//!
//! The voice request carries the attempt the browser was given; whether it
//! may be taken is `calls::take_attempt`'s rule, and the TwiML only writes
//! its answer. The `<Dial action>` moves no money: the PSTN leg's own
//! `completed` callback is what is billed, once.

use crate::providers::twilio::{signature, wire};
use crate::state::WebhookSecrets;
use app::server::calls::{self, CallError, CallbackUrls, EventOutcome, TakeAttempt, VoiceAnswer};
use app::server::db;
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

/// The first value of a form field.
fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

fn twiml(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}

pub async fn voice(
    State(app): State<AppState>,
    State(secrets): State<WebhookSecrets>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(params) = verified(&app, &secrets, &uri, &headers, &body) else {
        return forbidden();
    };
    let (Some(parent_sid), Some(from)) = (param(&params, "CallSid"), param(&params, "From")) else {
        tracing::warn!("voice request without CallSid or From");
        return (StatusCode::BAD_REQUEST, "CallSid and From are required\n").into_response();
    };
    let request = TakeAttempt {
        attempt: param(&params, "attempt"),
        from,
        parent_sid,
    };
    let urls = CallbackUrls {
        public_url: app.public_url.clone(),
    };
    match calls::take_attempt(&app.db, &app.calling, &urls, &request).await {
        Ok(VoiceAnswer::Dial(plan)) => {
            tracing::info!(call_id = %plan.call_id, %parent_sid, "browser leg connected: dialing");
            twiml(wire::dial_twiml(&wire::Dial {
                number: plan.to,
                caller_id: plan.caller_id,
                time_limit_secs: plan.time_limit_secs,
                timeout_secs: plan.ring_timeout_secs,
                action: plan.action_url,
                status_callback: plan.status_url,
            }))
        }
        Ok(VoiceAnswer::Refused(why)) => {
            tracing::warn!(%parent_sid, %from, refusal = why.as_str(), "voice request refused");
            twiml(wire::refusal_twiml(why.spoken()))
        }
        Err(error) => {
            tracing::error!(%parent_sid, error = ?error, "taking a call attempt failed");
            match &error {
                CallError::Db(cause) if db::is_unreachable(cause) => unavailable(),
                _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response(),
            }
        }
    }
}

/// The `<Dial action>`: the PSTN leg is over. Answered with a hangup (the
/// browser's leg has nothing more to do); nothing is charged or changed
/// here, so however often it arrives it cannot bill twice.
pub async fn dial_action(
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
    tracing::info!(
        call_id = query.call.as_deref().unwrap_or_default(),
        dial_status = param(&params, "DialCallStatus").unwrap_or_default(),
        dial_sid = param(&params, "DialCallSid").unwrap_or_default(),
        "the dialed leg ended"
    );
    twiml(wire::hangup_twiml())
}
