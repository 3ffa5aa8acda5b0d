//! The Twilio carrier: mints the browsers' access tokens
//! (`access_token.rs`), and ends and reads calls through Twilio's REST API
//! (the Call resource, API version 2010-04-01), HTTP Basic auth with the
//! account SID and auth token, form-encoded requests, JSON answers.
//!
//! Calls are not placed here: the member's browser starts each one with the
//! Voice SDK, and our voice webhook answers `<Dial><Number>` (`wire.rs`),
//! whose PSTN leg reports initiated, ringing, answered and completed to our
//! status callback. Those callbacks, not the answers here, move a call along:
//! they are read by `wire.rs` after `signature.rs` has checked them, in
//! `server/src/webhooks/twilio.rs`. `server/tests/api/twilio_provider.rs`
//! checks the exact requests against a local fake of Twilio's API.
//!
//! TLS is rustls on ring with the bundled Mozilla roots, configured here
//! rather than taken from the process-wide default, so this client works
//! whatever else the process has (or has not) installed.

use super::access_token;
use super::wire::API_VERSION;
use crate::config::{Secret, VoiceKeys};
use app::domain::CallStatus;
use app::server::providers::carrier::{
    Carrier, CarrierCall, CarrierError, Connect, Ending, IssuedToken,
};
use async_trait::async_trait;
use reqwest::{RequestBuilder, StatusCode};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use time::format_description::well_known::Rfc2822;
use time::OffsetDateTime;
use url::Url;

const DEFAULT_API_BASE: &str = "https://api.twilio.com";

/// Per request, connecting included. A member is waiting on `end_call`; a
/// silent Twilio is reported as `Unavailable` rather than holding them.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

pub struct TwilioCarrier {
    http: reqwest::Client,
    account_sid: String,
    auth_token: Secret,
    /// Signs the browsers' access tokens.
    voice: VoiceKeys,
    /// `{base}/2010-04-01/Accounts/{AccountSid}`.
    account_url: Url,
}

impl std::fmt::Debug for TwilioCarrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioCarrier")
            .field("account_url", &self.account_url.as_str())
            .finish_non_exhaustive()
    }
}

impl TwilioCarrier {
    /// `api_base` replaces `https://api.twilio.com` (tests point it at a fake).
    ///
    /// # Panics
    ///
    /// When `api_base` is not an http(s) URL, or the TLS backend cannot be set
    /// up (a build misconfiguration, not something a setting can cause).
    pub fn new(
        account_sid: &str,
        auth_token: &Secret,
        voice: &VoiceKeys,
        api_base: Option<&Url>,
    ) -> TwilioCarrier {
        let mut account_url = match api_base {
            Some(base) => base.clone(),
            None => Url::parse(DEFAULT_API_BASE).expect("the default base is a URL"),
        };
        assert!(
            matches!(account_url.scheme(), "http" | "https"),
            "the Twilio API base {account_url} is not an http(s) URL"
        );
        account_url.set_query(None);
        account_url.set_fragment(None);
        account_url
            .path_segments_mut()
            .expect("an http(s) URL has a path")
            .pop_if_empty()
            .extend([API_VERSION, "Accounts", account_sid]);
        TwilioCarrier {
            http: http_client(),
            account_sid: account_sid.to_owned(),
            auth_token: auth_token.clone(),
            voice: voice.clone(),
            account_url,
        }
    }

    /// `…/Calls.json`, or `…/Calls/{sid}.json`.
    fn calls_url(&self, sid: Option<&str>) -> Url {
        let mut url = self.account_url.clone();
        {
            let mut path = url.path_segments_mut().expect("an http(s) URL has a path");
            match sid {
                None => path.push("Calls.json"),
                Some(sid) => path.push("Calls").push(&format!("{sid}.json")),
            };
        }
        url
    }

    /// Sends one request and reads the Call resource Twilio answers with.
    async fn send(
        &self,
        operation: &'static str,
        request: RequestBuilder,
    ) -> Result<CallResource, CarrierError> {
        let response = request
            .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
            .send()
            .await
            .map_err(|err| cannot_reach(operation, &err))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|err| cannot_reach(operation, &err))?;
        if !status.is_success() {
            return Err(refusal(operation, status, &body));
        }
        serde_json::from_slice(&body).map_err(|err| {
            tracing::error!(error = %err, "{operation}: unreadable answer from twilio");
            CarrierError::Unavailable(format!("{operation}: unreadable answer from Twilio: {err}"))
        })
    }

    /// Asks Twilio to move the call to `status` (`completed` or `canceled`).
    /// `Ok(None)` when Twilio refused because the call had already ended,
    /// which the trait counts as success; otherwise the status Twilio reports.
    async fn request_end(
        &self,
        sid: &str,
        status: &'static str,
    ) -> Result<Option<CallStatus>, CarrierError> {
        let request = self
            .http
            .post(self.calls_url(Some(sid)))
            .form(&[("Status", status)]);
        match self.send("update call", request).await {
            Ok(call) => Ok(Some(call.status("update call")?)),
            // Twilio refuses to change a call that is over (error 21220,
            // "not in-progress"); which refusal it was is read from the call.
            Err(CarrierError::Refused(message)) => match self.fetch_call(sid).await {
                Ok(call) if call.status.is_terminal() => {
                    tracing::info!(status = call.status.as_str(), "the call had already ended");
                    Ok(None)
                }
                _ => Err(CarrierError::Refused(message)),
            },
            Err(err) => Err(err),
        }
    }
}

/// reqwest with TLS from rustls on ring and webpki's roots (no system store
/// needed), no redirects (Twilio's API does not send any, and the Basic
/// credentials must not follow one), and the request timeout.
fn http_client() -> reqwest::Client {
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports TLS 1.2 and 1.3")
    .with_root_certificates(rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    })
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("phonebooth/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a reqwest client with a rustls config builds")
}

#[async_trait]
impl Carrier for TwilioCarrier {
    fn name(&self) -> &'static str {
        "twilio"
    }

    fn mode(&self) -> app::domain::CarrierMode {
        app::domain::CarrierMode::Twilio
    }

    /// The member's browser connects by itself (Voice SDK).
    async fn connect(&self, _call: &Connect) -> Result<(), CarrierError> {
        Ok(())
    }

    fn access_token(&self, identity: &str, now: i64) -> Option<IssuedToken> {
        let claims = access_token::claims(&self.voice, &self.account_sid, identity, now);
        Some(IssuedToken {
            token: access_token::sign(&self.voice, &claims),
            identity: identity.to_owned(),
            expires_at: claims.exp,
        })
    }

    #[tracing::instrument(name = "twilio.end_call", skip_all, fields(sid = %sid, how = ?how))]
    async fn end_call(&self, sid: &str, how: Ending) -> Result<(), CarrierError> {
        check_sid(sid)?;
        let asked = match how {
            Ending::HangUp => "completed",
            Ending::Cancel => "canceled",
        };
        let Some(now) = self.request_end(sid, asked).await? else {
            return Ok(());
        };
        // Answered while the cancel was on its way: `canceled` does nothing to
        // an answered call, which would run on, billed, until its time limit.
        if how == Ending::Cancel && now == CallStatus::InProgress {
            tracing::info!("answered before the cancel arrived; hanging up");
            self.request_end(sid, "completed").await?;
        }
        Ok(())
    }

    #[tracing::instrument(name = "twilio.fetch_call", skip_all, fields(sid = %sid))]
    async fn fetch_call(&self, sid: &str) -> Result<CarrierCall, CarrierError> {
        check_sid(sid)?;
        let request = self.http.get(self.calls_url(Some(sid)));
        self.send("fetch call", request).await?.into_carrier_call()
    }

    /// `GET …/Calls.json?ParentCallSid=<sid>`: the calls a browser leg's
    /// `<Dial>` made (one `<Number>`, so one at most).
    #[tracing::instrument(name = "twilio.fetch_child", skip_all, fields(parent = %parent_sid))]
    async fn fetch_child(&self, parent_sid: &str) -> Result<Option<CarrierCall>, CarrierError> {
        check_sid(parent_sid)?;
        let mut url = self.calls_url(None);
        url.query_pairs_mut()
            .append_pair("ParentCallSid", parent_sid)
            .append_pair("PageSize", "20");
        let response = self
            .http
            .get(url)
            .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
            .send()
            .await
            .map_err(|err| cannot_reach("list calls", &err))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|err| cannot_reach("list calls", &err))?;
        if !status.is_success() {
            return Err(refusal("list calls", status, &body));
        }
        let page: CallPage = serde_json::from_slice(&body).map_err(|err| {
            tracing::error!(error = %err, "list calls: unreadable answer from twilio");
            CarrierError::Unavailable(format!("list calls: unreadable answer from Twilio: {err}"))
        })?;
        page.calls
            .into_iter()
            .next()
            .map(CallResource::into_carrier_call)
            .transpose()
    }
}

/// A page of Twilio's Calls list.
#[derive(Debug, Deserialize)]
struct CallPage {
    calls: Vec<CallResource>,
}

/// Twilio SIDs are letters and digits (`CA` + 32 hex). Anything else cannot
/// name a Twilio call, and must not reach the request path.
fn check_sid(sid: &str) -> Result<(), CarrierError> {
    if !sid.is_empty() && sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        tracing::warn!(sid = ?sid, "not a Twilio call SID");
        Err(CarrierError::NotFound)
    }
}

/// The parts of Twilio's Call resource we read.
#[derive(Debug, Deserialize)]
struct CallResource {
    sid: String,
    status: String,
    /// Seconds, sent as a string (`"61"`), or null before the call ends.
    #[serde(default)]
    duration: Option<Seconds>,
    /// RFC 2822, or null.
    #[serde(default)]
    start_time: Option<String>,
    #[serde(default)]
    end_time: Option<String>,
}

/// Twilio writes numbers as strings; a number is accepted too.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Seconds {
    Text(String),
    Number(u64),
}

impl CallResource {
    fn status(&self, operation: &'static str) -> Result<CallStatus, CarrierError> {
        CallStatus::parse(&self.status).ok_or_else(|| unreadable(operation, "status", &self.status))
    }

    /// Talk time and answer time exist only for a call that was answered:
    /// Twilio's `start_time` is set once the call is dialed, ringing
    /// included, and busy or canceled calls carry a `duration` of "0".
    fn into_carrier_call(self) -> Result<CarrierCall, CarrierError> {
        const OPERATION: &str = "fetch call";
        let status = self.status(OPERATION)?;
        let answered = matches!(status, CallStatus::InProgress | CallStatus::Completed);
        let duration_secs = match self.duration {
            None => None,
            Some(Seconds::Number(secs)) => Some(secs),
            Some(Seconds::Text(text)) if text.is_empty() => None,
            Some(Seconds::Text(text)) => Some(
                text.bytes()
                    .all(|b| b.is_ascii_digit())
                    .then(|| text.parse::<u64>().ok())
                    .flatten()
                    .ok_or_else(|| unreadable(OPERATION, "duration", &text))?,
            ),
        };
        let answered_at = rfc2822(OPERATION, "start_time", self.start_time.as_deref())?;
        let ended_at = rfc2822(OPERATION, "end_time", self.end_time.as_deref())?;
        Ok(CarrierCall {
            sid: self.sid,
            status,
            duration_secs: duration_secs.filter(|_| status == CallStatus::Completed),
            answered_at: answered_at.filter(|_| answered),
            ended_at,
        })
    }
}

fn rfc2822(
    operation: &'static str,
    field: &'static str,
    raw: Option<&str>,
) -> Result<Option<i64>, CarrierError> {
    match raw {
        None | Some("") => Ok(None),
        Some(raw) => OffsetDateTime::parse(raw, &Rfc2822)
            .map(|at| Some(at.unix_timestamp()))
            .map_err(|_| unreadable(operation, field, raw)),
    }
}

fn unreadable(operation: &'static str, field: &'static str, value: &str) -> CarrierError {
    tracing::error!(field, value, "{operation}: unreadable field from twilio");
    CarrierError::Unavailable(format!(
        "{operation}: Twilio sent an unreadable {field}: {value:?}"
    ))
}

/// Twilio's error body: `{code, message, more_info, status}`.
#[derive(Debug, Default, Deserialize)]
struct ApiError {
    code: Option<i64>,
    message: Option<String>,
    more_info: Option<String>,
}

/// Sorts a non-2xx answer into the trait's kinds, logging it once.
fn refusal(operation: &'static str, status: StatusCode, body: &[u8]) -> CarrierError {
    let error: ApiError = serde_json::from_slice(body).unwrap_or_default();
    let message = error
        .message
        .clone()
        .unwrap_or_else(|| format!("Twilio answered {status}"));
    let kind = if status == StatusCode::NOT_FOUND {
        CarrierError::NotFound
    } else if status == StatusCode::TOO_MANY_REQUESTS || !status.is_client_error() {
        // 429 is Twilio's "slow down", worth retrying like a 5xx. A 3xx is
        // not something its API sends: treated as the API being unwell.
        CarrierError::Unavailable(format!("{operation}: Twilio answered {status}: {message}"))
    } else {
        CarrierError::Refused(message.clone())
    };
    let (code, more_info) = (error.code, error.more_info.as_deref());
    if matches!(kind, CarrierError::Unavailable(_)) {
        tracing::error!(
            status = status.as_u16(),
            code,
            more_info,
            "{operation}: {message}"
        );
    } else {
        tracing::warn!(
            status = status.as_u16(),
            code,
            more_info,
            "{operation}: {message}"
        );
    }
    kind
}

/// Could not reach Twilio, or it went silent. The cause chain goes into the
/// detail; it holds the URL (account SID, call SID), never the credentials,
/// which travel in a header.
fn cannot_reach(operation: &'static str, err: &reqwest::Error) -> CarrierError {
    let mut detail = if err.is_timeout() {
        format!("{operation}: no answer from Twilio within {REQUEST_TIMEOUT:?}")
    } else {
        format!("{operation}: {err}")
    };
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    tracing::error!(error = %detail, "twilio could not be reached");
    CarrierError::Unavailable(detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voice() -> VoiceKeys {
        VoiceKeys {
            api_key_sid: "SK123".to_owned(),
            api_key_secret: Secret::new("key_very_secret"),
            twiml_app_sid: "AP123".to_owned(),
            token_ttl_secs: 3600,
        }
    }

    #[test]
    fn the_api_paths_sit_under_the_account() {
        let carrier = TwilioCarrier::new("AC123", &Secret::new("token"), &voice(), None);
        assert_eq!(
            carrier.calls_url(None).as_str(),
            "https://api.twilio.com/2010-04-01/Accounts/AC123/Calls.json"
        );
        assert_eq!(
            carrier.calls_url(Some("CA9")).as_str(),
            "https://api.twilio.com/2010-04-01/Accounts/AC123/Calls/CA9.json"
        );
        let base = Url::parse("http://127.0.0.1:9/twilio/?x=1").unwrap();
        let carrier = TwilioCarrier::new("AC123", &Secret::new("token"), &voice(), Some(&base));
        assert_eq!(
            carrier.calls_url(None).as_str(),
            "http://127.0.0.1:9/twilio/2010-04-01/Accounts/AC123/Calls.json"
        );
    }

    #[test]
    fn only_letters_and_digits_make_a_call_sid() {
        assert_eq!(check_sid("CA0123456789abcdef0123456789abcdef"), Ok(()));
        for bad in [
            "",
            "../Calls",
            "CA1/../../x",
            "CA1?Status=x",
            "CA 1",
            "CA1.json",
        ] {
            assert_eq!(check_sid(bad), Err(CarrierError::NotFound), "{bad:?}");
        }
    }

    #[test]
    fn the_auth_token_is_not_in_debug_output() {
        let carrier = TwilioCarrier::new("AC123", &Secret::new("tok_very_secret"), &voice(), None);
        let shown = format!("{carrier:?}");
        assert!(!shown.contains("tok_very_secret"), "{shown}");
        assert!(!shown.contains("key_very_secret"), "{shown}");
        assert!(shown.contains("AC123"), "{shown}");
    }
}
