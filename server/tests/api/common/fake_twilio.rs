//! A local fake of Twilio's Calls API (REST API version 2010-04-01), the one
//! every test that talks to "Twilio" uses: the carrier's own tests
//! (`twilio_provider.rs`, a `TwilioCarrier` built by `carrier()`) and the
//! whole-app calling tests (`calls.rs`, the app in Twilio mode through
//! `settings()`). Calls are started by browsers, so the app never creates
//! one here: tests play the browser's leg themselves (`calls::connect`) and
//! tell the fake about the legs with `put_leg`.
//!
//! What it imitates, as Twilio answers:
//! - `POST /2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json` places a call:
//!   201 with Twilio's Call resource, status `queued`, SID `CA` + 32 hex
//!   (the app must not use it: `creates()` shows it did not);
//! - `GET …/Calls/{Sid}.json` fetches the call resource as it stands;
//! - `GET …/Calls.json?ParentCallSid={Sid}` lists the legs a browser leg's
//!   `<Dial>` made;
//! - hanging up a browser's leg (`Status=completed` on a leg with children)
//!   ends its dialed leg too: completed if answered, canceled otherwise;
//! - `POST …/Calls/{Sid}.json` with `Status=canceled|completed` ends it by
//!   Twilio's rules: `canceled` ends a call not yet answered and does nothing
//!   to an answered one, `completed` hangs up; a call that is over refuses
//!   any update (error 21220) and an unknown `Status` is error 21218;
//! - HTTP Basic auth with `ACCOUNT_SID` and `AUTH_TOKEN` (otherwise 401,
//!   error 20003), and Twilio's error body `{code, message, more_info,
//!   status}` for every refusal;
//! - numbers it refuses to call: `INVALID_NUMBER` (error 21211, as Twilio's
//!   test credentials do) and any `To` ending in 0005 (error 21217: the
//!   number the simulated carrier refuses too, so one scenario table serves
//!   both carriers);
//! - an unknown call or path is 404 (20404); after `fail_everything()` every
//!   request is a 500 (20500), as during a Twilio incident.
//!
//! How tests drive it: `FakeTwilio::start()` serves it on a free port. Calls
//! it should already know are installed with `put_call`; `set_state` changes
//! how a known call stands (how it ended while the app was not told).
//! Every request is recorded with method, path, headers and form fields
//! (`requests()`, or `creates()` and `endings(sid)` for the app's view).
//! Unlike Twilio it never sends status callbacks, and the calls it places
//! never move by themselves: tests deliver the callbacks they want, in the
//! order they want, signed with `AUTH_TOKEN`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use base64::Engine;
use serde_json::{json, Value};
use server::config::{Secret, VoiceKeys};
use server::providers::twilio::TwilioCarrier;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use url::Url;

pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const AUTH_TOKEN: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
/// The Standard API key and TwiML App browsers' tokens are minted with.
pub const API_KEY_SID: &str = "SK0123456789abcdef0123456789abcdef";
pub const API_KEY_SECRET: &str = "api-key-secret-for-the-api-tests";
pub const TWIML_APP_SID: &str = "AP0123456789abcdef0123456789abcdef";
/// The `From` the app is configured with (`settings()`).
pub const CALLER_ID: &str = "+15005550006";
/// Twilio's test credentials refuse this `To` as not a valid phone number.
pub const INVALID_NUMBER: &str = "+15005550001";
/// The account's Calls resource (`ACCOUNT_SID` spelled out: `concat!` takes
/// only literals).
pub const CALLS_PATH: &str = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Calls";

/// One request as the fake received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    /// Decoded, in order, repeated names kept.
    pub form: Vec<(String, String)>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The first value of a form field.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a form field, in order.
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.form
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A POST that places a call.
    pub fn is_create(&self) -> bool {
        self.method == Method::POST && self.path == format!("{CALLS_PATH}.json")
    }

    /// The call SID of a fetch or an update.
    pub fn sid(&self) -> Option<&str> {
        self.path
            .strip_prefix(CALLS_PATH)?
            .strip_prefix('/')?
            .strip_suffix(".json")
    }
}

/// How a call stands, for `set_state`: what a later fetch reports.
#[derive(Clone, Debug)]
pub struct CallState {
    pub status: &'static str,
    /// Talk time, seconds.
    pub duration: Option<u64>,
    /// Unix seconds.
    pub end_time: Option<i64>,
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<Recorded>>,
    /// Call resources by SID, as Twilio would return them.
    calls: Mutex<HashMap<String, Value>>,
    next_sid: AtomicU32,
    /// Answer everything with a 500, as during a Twilio incident.
    failing: AtomicBool,
}

#[derive(Clone)]
pub struct FakeTwilio {
    /// Where it listens: the carrier's API base.
    pub url: Url,
    shared: Arc<Shared>,
}

impl FakeTwilio {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let router = Router::new().fallback(answer).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self {
            url: Url::parse(&format!("http://{addr}")).unwrap(),
            shared,
        }
    }

    /// The real Twilio carrier, with the right credentials, pointed at the fake.
    pub fn carrier(&self) -> TwilioCarrier {
        TwilioCarrier::new(
            ACCOUNT_SID,
            &Secret::new(AUTH_TOKEN),
            &voice_keys(),
            Some(&self.url),
        )
    }

    /// The settings that put the app in Twilio mode against this fake.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("TWILIO_ACCOUNT_SID", ACCOUNT_SID.to_owned()),
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN.to_owned()),
            (
                "TWILIO_API_BASE",
                self.url.as_str().trim_end_matches('/').to_owned(),
            ),
            ("TWILIO_CALLER_ID", CALLER_ID.to_owned()),
            ("TWILIO_API_KEY_SID", API_KEY_SID.to_owned()),
            ("TWILIO_API_KEY_SECRET", API_KEY_SECRET.to_owned()),
            ("TWILIO_TWIML_APP_SID", TWIML_APP_SID.to_owned()),
            // A private test deployment: real-carrier code, sandbox payments.
            ("ALLOW_SANDBOX_PAYMENTS_WITH_TWILIO", "1".to_owned()),
        ]
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// The requests that placed calls (refused ones included).
    pub fn creates(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(Recorded::is_create)
            .collect()
    }

    /// The `Status` values sent to end `sid`, in order (refused ones included).
    pub fn endings(&self, sid: &str) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == Method::POST && r.sid() == Some(sid))
            .filter_map(|r| r.field("Status").map(str::to_owned))
            .collect()
    }

    /// From now on every request is answered 500.
    pub fn fail_everything(&self) {
        self.shared.failing.store(true, Ordering::SeqCst);
    }

    /// A call Twilio already knows, in the given state (times in RFC 2822,
    /// as Twilio writes them).
    pub fn put_call(
        &self,
        sid: &str,
        status: &str,
        duration: Option<&str>,
        start_time: Option<&str>,
        end_time: Option<&str>,
    ) {
        let mut call = call_resource(sid, "+14155550123", CALLER_ID);
        call["status"] = json!(status);
        call["duration"] = json!(duration);
        call["start_time"] = json!(start_time);
        call["end_time"] = json!(end_time);
        self.shared
            .calls
            .lock()
            .unwrap()
            .insert(sid.to_owned(), call);
    }

    /// A leg of a browser-started call, as Twilio has it: the browser's own
    /// (`parent` None, inbound, in progress while it dials) or the leg its
    /// `<Dial>` made (`parent` named, outbound-dial).
    pub fn put_leg(&self, sid: &str, status: &str, parent: Option<&str>, to: &str) {
        let mut call = call_resource(sid, to, CALLER_ID);
        call["status"] = json!(status);
        call["parent_call_sid"] = json!(parent);
        call["direction"] = json!(if parent.is_some() {
            "outbound-dial"
        } else {
            "inbound"
        });
        self.shared
            .calls
            .lock()
            .unwrap()
            .insert(sid.to_owned(), call);
    }

    /// Moves a call the fake knows (one the app placed) to `state`: how it
    /// went on at Twilio while the app heard nothing.
    pub fn set_state(&self, sid: &str, state: CallState) {
        let mut calls = self.shared.calls.lock().unwrap();
        let call = calls
            .get_mut(sid)
            .unwrap_or_else(|| panic!("the fake Twilio has no call {sid}"));
        call["status"] = json!(state.status);
        call["duration"] = json!(state.duration.map(|d| d.to_string()));
        call["end_time"] = json!(state.end_time.map(rfc2822));
    }

    /// The call's status as Twilio has it now.
    pub fn status_of(&self, sid: &str) -> String {
        self.shared.calls.lock().unwrap()[sid]["status"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

/// The `Authorization` header of HTTP Basic auth, as Twilio expects it.
pub fn basic_auth(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// Every request goes through this one handler.
async fn answer(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let recorded = Recorded {
        method: method.clone(),
        path: uri.path().to_owned(),
        headers,
        form: form_urlencoded::parse(&body).into_owned().collect(),
    };
    let authorized =
        recorded.header("authorization") == Some(basic_auth(ACCOUNT_SID, AUTH_TOKEN).as_str());
    let form = recorded.form.clone();
    let path = recorded.path.clone();
    shared.requests.lock().unwrap().push(recorded);

    if shared.failing.load(Ordering::SeqCst) {
        return twilio_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            20500,
            "An internal server error has occurred",
        );
    }
    if !authorized {
        return twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    let not_found = || {
        twilio_error(
            StatusCode::NOT_FOUND,
            20404,
            &format!("The requested resource {path} was not found"),
        )
    };
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut calls = shared.calls.lock().unwrap();

    if method == Method::POST && path == format!("{CALLS_PATH}.json") {
        let to = field("To");
        if to == INVALID_NUMBER {
            return twilio_error(
                StatusCode::BAD_REQUEST,
                21211,
                &format!("The 'To' number {to} is not a valid phone number."),
            );
        }
        if to.ends_with("0005") {
            return twilio_error(
                StatusCode::BAD_REQUEST,
                21217,
                "Phone number is not a valid phone number",
            );
        }
        let n = shared.next_sid.fetch_add(1, Ordering::SeqCst) + 1;
        let sid = format!("CA{n:032x}");
        let call = call_resource(&sid, &to, &field("From"));
        calls.insert(sid, call.clone());
        return (StatusCode::CREATED, Json(call)).into_response();
    }

    if method == Method::GET && path == format!("{CALLS_PATH}.json") {
        let parent = query_field(&uri, "ParentCallSid");
        let children: Vec<Value> = calls
            .values()
            .filter(|call| {
                parent.is_some() && call["parent_call_sid"].as_str() == parent.as_deref()
            })
            .cloned()
            .collect();
        return Json(json!({ "calls": children, "page": 0, "page_size": 20 })).into_response();
    }

    let Some(sid) = path
        .strip_prefix(&format!("{CALLS_PATH}/"))
        .and_then(|rest| rest.strip_suffix(".json"))
    else {
        return not_found();
    };
    let Some(call) = calls.get_mut(sid) else {
        return not_found();
    };
    if method == Method::GET {
        return Json(call.clone()).into_response();
    }
    if method != Method::POST {
        return not_found();
    }
    let current = call["status"].as_str().unwrap().to_owned();
    let live = ["queued", "initiated", "ringing", "in-progress"].contains(&current.as_str());
    if !live {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21220,
            "Call is not in-progress. Cannot redirect.",
        );
    }
    let now = rfc2822(app::server::clock::now());
    // Twilio's rules: `canceled` ends a call not yet answered and does
    // nothing to an answered one; `completed` hangs up an answered one.
    match (field("Status").as_str(), current.as_str()) {
        ("canceled", "in-progress") => {}
        ("canceled", _) => {
            call["status"] = json!("canceled");
            call["duration"] = json!("0");
            call["end_time"] = json!(now);
        }
        ("completed", _) => {
            call["status"] = json!("completed");
            call["end_time"] = json!(now);
            // A browser's leg hung up: its <Dial> ends the dialed leg too.
            let parent = sid.to_owned();
            let answer = call.clone();
            for child in calls.values_mut() {
                if child["parent_call_sid"].as_str() != Some(parent.as_str()) {
                    continue;
                }
                match child["status"].as_str().unwrap_or_default() {
                    "in-progress" => child["status"] = json!("completed"),
                    "queued" | "initiated" | "ringing" => {
                        child["status"] = json!("canceled");
                        child["duration"] = json!("0");
                    }
                    _ => continue,
                }
                child["end_time"] = json!(now);
            }
            return Json(answer).into_response();
        }
        (other, _) => {
            return twilio_error(
                StatusCode::BAD_REQUEST,
                21218,
                &format!("Invalid Status: {other}"),
            )
        }
    }
    Json(call.clone()).into_response()
}

/// A query parameter of the request.
fn query_field(uri: &Uri, name: &str) -> Option<String> {
    form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The voice settings `settings()` gives the app, for carriers built here.
pub fn voice_keys() -> VoiceKeys {
    VoiceKeys {
        api_key_sid: API_KEY_SID.to_owned(),
        api_key_secret: Secret::new(API_KEY_SECRET),
        twiml_app_sid: TWIML_APP_SID.to_owned(),
        token_ttl_secs: 3600,
    }
}

/// Twilio's error body.
fn twilio_error(status: StatusCode, code: u32, message: &str) -> Response {
    (
        status,
        Json(json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status.as_u16(),
        })),
    )
        .into_response()
}

/// The shape of Twilio's Call resource for a call just created.
fn call_resource(sid: &str, to: &str, from: &str) -> Value {
    json!({
        "account_sid": ACCOUNT_SID,
        "annotation": null,
        "answered_by": null,
        "api_version": "2010-04-01",
        "caller_name": null,
        "date_created": null,
        "date_updated": null,
        "direction": "outbound-api",
        "duration": null,
        "end_time": null,
        "forwarded_from": null,
        "from": from,
        "from_formatted": from,
        "group_sid": null,
        "parent_call_sid": null,
        "phone_number_sid": "PN0123456789abcdef0123456789abcdef",
        "price": null,
        "price_unit": "USD",
        "queue_time": "0",
        "sid": sid,
        "start_time": null,
        "status": "queued",
        "subresource_uris": {
            "notifications": format!("{CALLS_PATH}/{sid}/Notifications.json"),
            "recordings": format!("{CALLS_PATH}/{sid}/Recordings.json"),
        },
        "to": to,
        "to_formatted": to,
        "trunk_sid": null,
        "uri": format!("{CALLS_PATH}/{sid}.json"),
    })
}

/// Unix seconds as Twilio writes times: `Sat, 21 Nov 2026 10:00:00 +0000`.
pub fn rfc2822(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .unwrap()
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap()
}
