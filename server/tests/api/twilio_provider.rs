//! The Twilio carrier against the local fake of Twilio's REST API
//! (`common::fake_twilio`): what it sends (path, method, Basic credentials,
//! every form field) and how it reads the answers (created, updated and
//! fetched calls, Twilio's error bodies, outages). No database and no app:
//! the carrier is built directly, pointed at the fake.

use crate::common::fake_twilio::{
    basic_auth, FakeTwilio, Recorded, ACCOUNT_SID, AUTH_TOKEN, CALLS_PATH, INVALID_NUMBER,
};
use app::domain::CallStatus;
use app::server::providers::carrier::{Carrier, CarrierCall, CarrierError, Ending, PlaceCall};
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

fn place_call(to: &str, time_limit_secs: u64) -> PlaceCall {
    PlaceCall {
        call_id: "call_7".to_owned(),
        to: to.to_owned(),
        from: "+15005550006".to_owned(),
        time_limit_secs,
        voice_url: "https://phonebooth.test/webhooks/twilio/voice?call_id=call_7".to_owned(),
        status_callback_url: "https://phonebooth.test/webhooks/twilio/status?call_id=call_7"
            .to_owned(),
    }
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
async fn placing_a_call_sends_every_field_twilio_needs_and_reads_the_sid_and_status() {
    let twilio = FakeTwilio::start().await;

    let placed = twilio
        .carrier()
        .place_call(&place_call("+14155550123", 600))
        .await
        .unwrap();

    assert_eq!(placed.status, CallStatus::Queued);
    assert!(
        placed.sid.len() == 34 && placed.sid.starts_with("CA"),
        "{placed:?}"
    );
    let requests = twilio.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    let create = &requests[0];
    assert_authenticated(create, Method::POST, &format!("{CALLS_PATH}.json"));
    let mut form = create.form.clone();
    form.sort();
    let mut expected = pairs(&[
        ("To", "+14155550123"),
        ("From", "+15005550006"),
        (
            "Url",
            "https://phonebooth.test/webhooks/twilio/voice?call_id=call_7",
        ),
        ("Method", "POST"),
        (
            "StatusCallback",
            "https://phonebooth.test/webhooks/twilio/status?call_id=call_7",
        ),
        ("StatusCallbackMethod", "POST"),
        ("StatusCallbackEvent", "initiated"),
        ("StatusCallbackEvent", "ringing"),
        ("StatusCallbackEvent", "answered"),
        ("StatusCallbackEvent", "completed"),
        ("TimeLimit", "600"),
    ]);
    expected.sort();
    assert_eq!(form, expected);
    assert_eq!(
        create.values("StatusCallbackEvent"),
        ["initiated", "ringing", "answered", "completed"]
    );
}

#[tokio::test]
async fn a_time_limit_beyond_twilios_four_hours_is_sent_as_four_hours() {
    let twilio = FakeTwilio::start().await;

    twilio
        .carrier()
        .place_call(&place_call("+14155550123", 86_400))
        .await
        .unwrap();

    assert_eq!(twilio.requests()[0].values("TimeLimit"), ["14400"]);
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
async fn a_number_twilio_rejects_is_refused_with_twilios_message() {
    let twilio = FakeTwilio::start().await;

    let err = twilio
        .carrier()
        .place_call(&place_call(INVALID_NUMBER, 600))
        .await
        .unwrap_err();

    assert_eq!(
        err,
        CarrierError::Refused(format!(
            "The 'To' number {INVALID_NUMBER} is not a valid phone number."
        ))
    );
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
        carrier
            .place_call(&place_call("+14155550123", 600))
            .await
            .unwrap_err(),
        carrier.end_call(SID, Ending::HangUp).await.unwrap_err(),
        carrier.fetch_call(SID).await.unwrap_err(),
    ];

    for err in &errors {
        assert!(matches!(err, CarrierError::Unavailable(_)), "{err:?}");
        assert!(!format!("{err:?} {err}").contains(AUTH_TOKEN), "{err:?}");
    }
    assert!(!format!("{carrier:?}").contains(AUTH_TOKEN));
    // One attempt each: retrying is the caller's decision.
    assert_eq!(twilio.requests().len(), 3);
}

#[tokio::test]
async fn wrong_credentials_are_refused_without_echoing_them() {
    let twilio = FakeTwilio::start().await;
    let carrier = TwilioCarrier::new(
        ACCOUNT_SID,
        &Secret::new("a_wrong_token_value"),
        Some(&twilio.url),
    );

    let err = carrier
        .place_call(&place_call("+14155550123", 600))
        .await
        .unwrap_err();

    assert_eq!(err, CarrierError::Refused("Authenticate".to_owned()));
    assert!(!format!("{carrier:?}").contains("a_wrong_token_value"));
}

#[tokio::test]
async fn twilio_cannot_be_reached_is_unavailable() {
    // Bind and drop a listener: nothing answers on that port afterwards.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    drop(listener);
    let carrier = TwilioCarrier::new(ACCOUNT_SID, &Secret::new(AUTH_TOKEN), Some(&url));

    let errors = [
        carrier
            .place_call(&place_call("+14155550123", 600))
            .await
            .unwrap_err(),
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
    let carrier = TwilioCarrier::new(ACCOUNT_SID, &Secret::new(AUTH_TOKEN), Some(&https));

    let err = carrier.fetch_call(SID).await.unwrap_err();

    assert!(matches!(err, CarrierError::Unavailable(_)), "{err:?}");
    assert!(twilio.requests().is_empty(), "{:#?}", twilio.requests());
}

#[tokio::test]
async fn the_carrier_is_named_twilio() {
    let twilio = FakeTwilio::start().await;
    assert_eq!(twilio.carrier().name(), "twilio");
}
