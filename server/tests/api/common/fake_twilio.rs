//! A local fake of Twilio's Calls API for tests that run the whole app in
//! Twilio mode: it accepts calls (refusing numbers ending in 0005 with
//! Twilio's 400 error body), records every request, and answers fetches with
//! whatever state the test sets. Status callbacks are not sent by the fake:
//! tests deliver them, in the orders they want, with `deliver_status`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub const ACCOUNT_SID: &str = "AC00000000000000000000000000000001";
pub const AUTH_TOKEN: &str = "test-twilio-auth-token";
pub const CALLER_ID: &str = "+15005550006";

/// One request as the fake received it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: &'static str,
    pub sid: Option<String>,
    pub form: Vec<(String, String)>,
}

impl Request {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a fetch of a call answers.
#[derive(Clone, Debug)]
pub struct CallState {
    pub status: &'static str,
    pub duration: Option<u64>,
    pub end_time: Option<i64>,
}

#[derive(Default)]
struct Shared {
    requests: Vec<Request>,
    states: HashMap<String, CallState>,
    next: u64,
}

#[derive(Clone, Default)]
pub struct FakeTwilio {
    shared: Arc<Mutex<Shared>>,
    pub base_url: String,
}

impl FakeTwilio {
    pub async fn start() -> FakeTwilio {
        let mut fake = FakeTwilio::default();
        let calls = format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json");
        let call = format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{{sid}}");
        let router = Router::new()
            .route(&calls, post(create))
            .route(&call, post(update).get(fetch))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        fake.base_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        fake
    }

    /// The settings that put the app in Twilio mode against this fake.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("TWILIO_ACCOUNT_SID", ACCOUNT_SID.to_owned()),
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN.to_owned()),
            ("TWILIO_API_BASE", self.base_url.clone()),
            ("TWILIO_CALLER_ID", CALLER_ID.to_owned()),
        ]
    }

    pub fn requests(&self) -> Vec<Request> {
        self.shared.lock().unwrap().requests.clone()
    }

    pub fn creates(&self) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "create")
            .collect()
    }

    /// The `Status` values sent to end `sid`, in order.
    pub fn endings(&self, sid: &str) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "update" && r.sid.as_deref() == Some(sid))
            .filter_map(|r| r.field("Status").map(str::to_owned))
            .collect()
    }

    pub fn set_state(&self, sid: &str, state: CallState) {
        self.shared
            .lock()
            .unwrap()
            .states
            .insert(sid.to_owned(), state);
    }
}

async fn create(
    State(fake): State<FakeTwilio>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let to = form
        .iter()
        .find(|(k, _)| k == "To")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let mut shared = fake.shared.lock().unwrap();
    shared.requests.push(Request {
        method: "create",
        sid: None,
        form,
    });
    if to.ends_with("0005") {
        let body = json!({"code": 21217, "message": "Phone number is not a valid phone number", "more_info": "https://www.twilio.com/docs/errors/21217", "status": 400});
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    shared.next += 1;
    let sid = format!("CA{:032x}", shared.next);
    (
        StatusCode::CREATED,
        Json(json!({"sid": sid, "status": "queued", "to": to, "duration": null})),
    )
        .into_response()
}

async fn update(
    State(fake): State<FakeTwilio>,
    Path(sid): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let sid = sid.trim_end_matches(".json").to_owned();
    let status = form
        .iter()
        .find(|(k, _)| k == "Status")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    fake.shared.lock().unwrap().requests.push(Request {
        method: "update",
        sid: Some(sid.clone()),
        form,
    });
    Json(json!({"sid": sid, "status": status, "duration": null})).into_response()
}

async fn fetch(State(fake): State<FakeTwilio>, Path(sid): Path<String>) -> Response {
    let sid = sid.trim_end_matches(".json").to_owned();
    let mut shared = fake.shared.lock().unwrap();
    shared.requests.push(Request {
        method: "fetch",
        sid: Some(sid.clone()),
        form: Vec::new(),
    });
    match shared.states.get(&sid) {
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"code": 20404, "message": "The requested resource was not found", "status": 404})),
        )
            .into_response(),
        Some(state) => {
            let end_time = state.end_time.map(rfc2822);
            Json(json!({
                "sid": sid,
                "status": state.status,
                "duration": state.duration.map(|d| d.to_string()),
                "start_time": null,
                "end_time": end_time,
            }))
            .into_response()
        }
    }
}

fn rfc2822(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .unwrap()
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap()
}
