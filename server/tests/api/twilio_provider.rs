//! The Twilio carrier against the local fake of Twilio's REST API
//! (`common::fake_twilio`): what it sends (path, method, Basic credentials,
//! every form field) and how it reads the answers (updated, fetched and
//! listed calls, Twilio's error bodies, outages), and the access tokens it
//! mints. No database and no app: the carrier is built directly, pointed at
//! the fake. It never places calls: browsers do.

use crate::common::fake_twilio::{
    basic_auth, voice_keys, FakeTwilio, Recorded, ACCOUNT_SID, API_KEY_SECRET, API_KEY_SID,
    AUTH_TOKEN, CALLS_PATH, TWIML_APP_SID,
};
use app::domain::CallStatus;
use app::server::providers::carrier::{Carrier, CarrierCall, CarrierError, Connect, Ending};
use axum::http::Method;
use server::config::Secret;
use server::providers::twilio::TwilioCarrier;
use url::Url;

/// Sat, 21 Nov 2026 10:00:00 +0000.
const AT: i64 = 1_795_255_200;
const AT_TEXT: &str = "Sat, 21 Nov 2026 10:00:00 +0000";
const SID: &str = "CAaaaabbbbccccddddeeeeffff00001111";

/// A call answered at `AT` that lasted 61 s.
fn put_completed_call(twilio: &FakeTwilio, sid: &str) {
    twilio.put_call(
        sid,
        "completed",
        Some("61"),
        Some(AT_TEXT),
        Some("Sat, 21 Nov 2026 10:01:01 +0000"),
    );
}

fn assert_authenticated(request: &Recorded, method: Method, path: &str) {
    assert_eq!(request.method, method, "{request:#?}");
    assert_eq!(request.path, path, "{request:#?}");
    assert_eq!(
        request.header("authorization"),
        Some(basic_auth(ACCOUNT_SID, AUTH_TOKEN).as_str()),
        "{request:#?}"
    );
    if method == Method::POST {
        assert_eq!(
            request.header("content-type"),
            Some("application/x-www-form-urlencoded"),
            "{request:#?}"
        );
    }
}

fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn connecting_is_left_to_the_browser_and_sends_nothing() {
    let twilio = FakeTwilio::start().await;

    twilio
        .carrier()
        .connect(&Connect {
            call_id: "call_7".to_owned(),
            attempt: "att_1".to_owned(),
            identity: "member-usr_1".to_owned(),
            voice_url: "https://phonebooth.test/webhooks/twilio/voice".to_owned(),
            to: "+14155550123".to_owned(),
        })
        .await
        .unwrap();

    assert!(twilio.requests().is_empty());
}

#[tokio::test]
async fn the_access_token_is_signed_with_the_api_key_and_grants_outgoing_calls_only() {
    let twilio = FakeTwilio::start().await;
    let now = app::server::clock::now();

    let issued = twilio
        .carrier()
        .access_token("member-usr_1", now)
        .expect("Twilio mints tokens");

    assert_eq!(issued.identity, "member-usr_1");
    assert_eq!(issued.expires_at, now + 3600);
    let header = jsonwebtoken::decode_header(&issued.token).unwrap();
    assert_eq!(header.cty.as_deref(), Some("twilio-fpa;v=1"));
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_issuer(&[API_KEY_SID]);
    validation.sub = Some(ACCOUNT_SID.to_owned());
    let claims = jsonwebtoken::decode::<serde_json::Value>(
        &issued.token,
        &jsonwebtoken::DecodingKey::from_secret(API_KEY_SECRET.as_bytes()),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(
        claims["grants"],
        serde_json::json!({
            "identity": "member-usr_1",
            "voice": {"outgoing": {"application_sid": TWIML_APP_SID}}
        })
    );
    assert_eq!(claims["jti"], format!("{API_KEY_SID}-{now}"));
    assert_eq!(claims["nbf"], now);
    // Minting asks Twilio nothing.
    assert!(twilio.requests().is_empty());
}

#[tokio::test]
async fn the_leg_a_browser_dialed_is_found_by_its_parent() {
    let twilio = FakeTwilio::start().await;
    let parent = "CAbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    twilio.put_leg(parent, "completed", None, "");
    twilio.put_leg(SID, "busy", Some(parent), "+14155550123");

    let child = twilio.carrier().fetch_child(parent).await.unwrap();

    assert_eq!(
        child.map(|c| (c.sid, c.status)),
        Some((SID.to_owned(), CallStatus::Busy))
    );
    let requests = twilio.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_authenticated(&requests[0], Method::GET, &format!("{CALLS_PATH}.json"));
    // A browser leg that dialed nothing has no child.
    assert_eq!(
        twilio.carrier().fetch_child("CAnothing").await.unwrap(),
        None
    );
    assert_eq!(
        twilio.carrier().fetch_child("../x").await,
        Err(CarrierError::NotFound)
    );
}

#[tokio::test]
async fn hanging_up_a_browser_leg_ends_the_leg_it_dialed() {
    for (child_status, ended_as) in [("ringing", "canceled"), ("in-progress", "completed")] {
        let twilio = FakeTwilio::start().await;
        let parent = "CAbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
        twilio.put_leg(parent, "in-progress", None, "");
        twilio.put_leg(SID, child_status, Some(parent), "+14155550123");

        twilio
            .carrier()
            .end_call(parent, Ending::HangUp)
            .await
            .unwrap();

        assert_eq!(twilio.endings(parent), ["completed"]);
        assert_eq!(twilio.status_of(SID), ended_as);
    }
}

#[tokio::test]
async fn hanging_up_sets_the_call_completed_and_canceling_sets_it_canceled() {
    for (ending, live_status, status) in [
        (Ending::HangUp, "in-progress", "completed"),
        (Ending::Cancel, "ringing", "canceled"),
    ] {
        let twilio = FakeTwilio::start().await;
        twilio.put_call(SID, live_status, None, Some(AT_TEXT), None);

        twilio.carrier().end_call(SID, ending).await.unwrap();

        let requests = twilio.requests();
        assert_eq!(requests.len(), 1, "{requests:#?}");
        assert_authenticated(
            &requests[0],
            Method::POST,
            &format!("{CALLS_PATH}/{SID}.json"),
        );
        assert_eq!(requests[0].form, pairs(&[("Status", status)]));
        assert_eq!(twilio.status_of(SID), status);
    }
}

#[tokio::test]
async fn a_cancel_that_crosses_the_answer_hangs_the_call_up() {
    let twilio = FakeTwilio::start().await;
    // We still think it rings; Twilio has it answered.
    twilio.put_call(SID, "in-progress", None, Some(AT_TEXT), None);

    twilio
        .carrier()
        .end_call(SID, Ending::Cancel)
        .await
        .unwrap();

    let requests = twilio.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert_eq!(requests[0].form, pairs(&[("Status", "canceled")]));
    assert_eq!(requests[1].form, pairs(&[("Status", "completed")]));
    assert_eq!(twilio.status_of(SID), "completed");
}

#[tokio::test]
async fn ending_a_call_that_has_already_ended_is_not_an_error() {
    let twilio = FakeTwilio::start().await;
    put_completed_call(&twilio, SID);

    for how in [Ending::HangUp, Ending::Cancel] {
        twilio.carrier().end_call(SID, how).await.unwrap();
    }

    let requests = twilio.requests();
    // Each: the refused update, then the fetch that shows the call is over.
    assert_eq!(requests.len(), 4, "{requests:#?}");
    assert_eq!(requests[1].method, Method::GET);
    assert_eq!(requests[3].method, Method::GET);
    assert_eq!(twilio.status_of(SID), "completed");
}

#[tokio::test]
async fn fetching_a_completed_call_reads_its_duration_and_times() {
    let twilio = FakeTwilio::start().await;
    put_completed_call(&twilio, SID);

    let call = twilio.carrier().fetch_call(SID).await.unwrap();

    assert_eq!(
        call,
        CarrierCall {
            sid: SID.to_owned(),
            status: CallStatus::Completed,
            duration_secs: Some(61),
            answered_at: Some(AT),
            ended_at: Some(AT + 61),
        }
    );
    let requests = twilio.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_authenticated(
        &requests[0],
        Method::GET,
        &format!("{CALLS_PATH}/{SID}.json"),
    );
}

#[tokio::test]
async fn fetching_a_ringing_call_reads_no_duration_and_no_answer() {
    let twilio = FakeTwilio::start().await;
    // Twilio sets start_time once the call is dialed, before anyone answers.
    twilio.put_call(SID, "ringing", None, Some(AT_TEXT), None);

    let call = twilio.carrier().fetch_call(SID).await.unwrap();

    assert_eq!(
        call,
        CarrierCall {
            sid: SID.to_owned(),
            status: CallStatus::Ringing,
            duration_secs: None,
            answered_at: None,
            ended_at: None,
        }
    );
}

#[tokio::test]
async fn a_busy_call_has_no_talk_time() {
    let twilio = FakeTwilio::start().await;
    twilio.put_call(SID, "busy", Some("0"), Some(AT_TEXT), Some(AT_TEXT));

    let call = twilio.carrier().fetch_call(SID).await.unwrap();

    assert_eq!(call.status, CallStatus::Busy);
    assert_eq!(call.duration_secs, None);
    assert_eq!(call.answered_at, None);
    assert_eq!(call.ended_at, Some(AT));
}

#[tokio::test]
async fn a_call_twilio_does_not_know_is_not_found() {
    let twilio = FakeTwilio::start().await;
    let carrier = twilio.carrier();
    let unknown = "CA00000000000000000000000000000000";

    assert_eq!(
        carrier.fetch_call(unknown).await,
        Err(CarrierError::NotFound)
    );
    assert_eq!(
        carrier.end_call(unknown, Ending::HangUp).await,
        Err(CarrierError::NotFound)
    );
    assert_eq!(twilio.requests().len(), 2);
}

#[tokio::test]
async fn a_sid_that_is_not_a_twilio_sid_never_reaches_twilio() {
    let twilio = FakeTwilio::start().await;
    let carrier = twilio.carrier();

    for sid in ["", "../../Calls", "CA1?Status=completed"] {
        assert_eq!(carrier.fetch_call(sid).await, Err(CarrierError::NotFound));
        assert_eq!(
            carrier.end_call(sid, Ending::HangUp).await,
            Err(CarrierError::NotFound)
        );
    }
    assert!(twilio.requests().is_empty());
}

#[tokio::test]
async fn a_server_error_from_twilio_is_unavailable_and_does_not_show_the_token() {
    let twilio = FakeTwilio::start().await;
    twilio.put_call(SID, "in-progress", None, Some(AT_TEXT), None);
    twilio.fail_everything();
    let carrier = twilio.carrier();

    let errors = [
        carrier.fetch_child(SID).await.unwrap_err(),
        carrier.end_call(SID, Ending::HangUp).await.unwrap_err(),
        carrier.fetch_call(SID).await.unwrap_err(),
    ];

    for err in &errors {
        assert!(matches!(err, CarrierError::Unavailable(_)), "{err:?}");
        assert!(!format!("{err:?} {err}").contains(AUTH_TOKEN), "{err:?}");
    }
    assert!(!format!("{carrier:?}").contains(AUTH_TOKEN));
    assert!(!format!("{carrier:?}").contains(API_KEY_SECRET));
    // One attempt each: retrying is the caller's decision.
    assert_eq!(twilio.requests().len(), 3);
}

#[tokio::test]
async fn wrong_credentials_are_refused_without_echoing_them() {
    let twilio = FakeTwilio::start().await;
    let carrier = TwilioCarrier::new(
        ACCOUNT_SID,
        &Secret::new("a_wrong_token_value"),
        &voice_keys(),
        Some(&twilio.url),
    );

    let err = carrier.fetch_child(SID).await.unwrap_err();

    assert_eq!(err, CarrierError::Refused("Authenticate".to_owned()));
    assert!(!format!("{carrier:?}").contains("a_wrong_token_value"));
}

#[tokio::test]
async fn twilio_cannot_be_reached_is_unavailable() {
    // Bind and drop a listener: nothing answers on that port afterwards.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    drop(listener);
    let carrier = TwilioCarrier::new(
        ACCOUNT_SID,
        &Secret::new(AUTH_TOKEN),
        &voice_keys(),
        Some(&url),
    );

    let errors = [
        carrier.fetch_child(SID).await.unwrap_err(),
        carrier.end_call(SID, Ending::Cancel).await.unwrap_err(),
        carrier.fetch_call(SID).await.unwrap_err(),
    ];

    for err in &errors {
        assert!(matches!(err, CarrierError::Unavailable(_)), "{err:?}");
        assert!(!format!("{err:?}").contains(AUTH_TOKEN), "{err:?}");
    }
}

#[tokio::test]
async fn an_https_base_is_spoken_to_over_tls_without_a_process_wide_provider() {
    // The fake speaks plain HTTP: a client that tries TLS fails the
    // handshake before any request reaches it. (No test here installs a
    // default rustls provider; the carrier brings its own.)
    let twilio = FakeTwilio::start().await;
    let mut https = twilio.url.clone();
    https.set_scheme("https").unwrap();
    let carrier = TwilioCarrier::new(
        ACCOUNT_SID,
        &Secret::new(AUTH_TOKEN),
        &voice_keys(),
        Some(&https),
    );

    let err = carrier.fetch_call(SID).await.unwrap_err();

    assert!(matches!(err, CarrierError::Unavailable(_)), "{err:?}");
    assert!(twilio.requests().is_empty(), "{:#?}", twilio.requests());
}

#[tokio::test]
async fn the_carrier_is_named_twilio() {
    let twilio = FakeTwilio::start().await;
    assert_eq!(twilio.carrier().name(), "twilio");
}
