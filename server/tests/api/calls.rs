//! Calling, end to end over HTTP, on SQLite and PostgreSQL: quotes, placing
//! calls with holds, the status callbacks in every order and twice, restarts,
//! 50 racing dials, cancel racing an answer, forced hangup, the sweeper,
//! signatures, tenancy and the live stream. Twilio mode runs against a local
//! fake of its API (`common::fake_twilio`); the simulated carrier runs as is.

use crate::common::fake_twilio::{self, CallState, FakeTwilio};
use crate::common::{Backend, TestApp, PUBLIC_URL};
use crate::on_both_databases;
use app::domain::rating::{self, Rate, RateParts};
use app::domain::{CallStatus, EndReason, Money};
use app::server::db::calls::{self as call_rows, Call};
use app::server::db::ledger::{EntryKind, NewEntry};
use itertools::Itertools;
use reqwest::Client;
use serde_json::Value;
use server::providers::twilio::{signature as twilio_signature, wire as twilio_form};

on_both_databases!(
    a_quote_names_the_destination_price_and_talk_time_or_says_why_not,
    a_call_holds_its_maximum_cost_and_asks_the_carrier_with_that_time_limit,
    callbacks_in_every_order_and_twice_charge_exactly_once,
    callbacks_split_across_a_restart_charge_exactly_once,
    fifty_simultaneous_dials_on_a_balance_for_one_place_exactly_one,
    a_double_click_places_one_call,
    a_carrier_refusal_releases_the_hold_and_says_why,
    busy_no_answer_failed_and_canceled_cost_nothing,
    cancel_while_ringing_racing_an_answer_charges_only_what_the_carrier_reports,
    bad_signatures_are_refused_and_change_nothing,
    the_voice_webhook_bridges_to_the_members_browser,
    the_sweeper_bills_a_call_whose_final_event_never_came,
    another_organization_cannot_end_a_call_or_quote_for_it,
    the_live_stream_pushes_each_change,
    a_member_may_hold_five_live_streams_and_the_sixth_is_refused,
    a_live_stream_ends_after_logout_and_after_removal_from_the_organization,
    many_simultaneous_changes_all_reach_the_live_stream,
    the_simulated_carrier_rings_answers_and_bills_what_it_reports,
    the_simulated_carrier_busy_number_costs_nothing,
    the_forced_hangup_fires_at_the_deadline_and_charges_exactly_the_maximum,
    an_expensive_destination_needs_confirmation_before_it_is_dialed,
    the_organization_country_reads_national_numbers_and_only_admins_set_it,
);

/// A London number (UK landline: $0.02/min, 60/60, no fee, in the sample deck).
pub(crate) const LONDON: &str = "+44 20 7183 8750";
/// A Rotterdam number: the tests give 3110 its own rate of $0.60/min in 5 s increments.
const FIVE_SECOND_BILLING: &str = "+31 10 123 4567";

pub(crate) struct Member {
    pub(crate) client: Client,
    pub(crate) org_id: String,
}

pub(crate) async fn member(app: &TestApp, email: &str) -> Member {
    let client = app.new_browser();
    assert!(app
        .register(&client, "Ada Caller", email)
        .await
        .status()
        .is_success());
    let account = app.account(&client).await;
    let org_id = account["current_org"]["org_id"]
        .as_str()
        .unwrap()
        .to_owned();
    Member { client, org_id }
}

pub(crate) async fn grant(app: &TestApp, org_id: &str, cents: i64) {
    app.db
        .post(
            &NewEntry {
                org_id,
                kind: EntryKind::Grant,
                amount: Money::from_cents(cents).unwrap(),
                actor: "system",
                description: "test credit",
                idempotency_key: &app::server::ids::new_id("test_grant"),
            },
            app::server::clock::now(),
        )
        .await
        .unwrap();
}

/// Gives prefix 3110 a rate of $0.60 a minute billed in 5 s increments: 5 cents each.
async fn five_second_rate(app: &TestApp) {
    sqlx::query(
        "insert into rate (prefix, country_code, country_name, description, price_per_minute,
             connection_fee, initial_increment, subsequent_increment, blocked, blocked_reason, created_at)
         values ('3110', 'NL', 'Netherlands', 'Rotterdam (test rate)', 600000, 0, 5, 5, 0, null, 0)",
    )
    .execute(&app.db.pool)
    .await
    .unwrap();
}

pub(crate) async fn twilio_app(backend: Backend, fake: &FakeTwilio) -> TestApp {
    let settings = fake.settings();
    let extra: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    TestApp::spawn_with(backend, &extra).await
}

pub(crate) async fn dial(app: &TestApp, m: &Member, number: &str, key: &str) -> (u16, Value) {
    let response = app
        .call(
            &m.client,
            "calls/start",
            &[
                ("org_id", &m.org_id),
                ("number", number),
                ("country", "GB"),
                ("client_key", key),
            ],
        )
        .await;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status != 200 {
        return (status, body);
    }
    // `start_call` answers the call and, in Twilio mode, the browser's
    // attempt: play the member's browser connecting with it, as Twilio
    // requests our voice URL for the browser's leg.
    let call = body["call"].clone();
    if let Some(attempt) = body["attempt"].as_str() {
        let call_id = call["call_id"].as_str().unwrap();
        let twiml = connect(app, call_id, attempt).await;
        assert!(twiml.contains("<Dial"), "{twiml}");
    }
    (status, call)
}

/// The browser's (parent) leg of a call in these tests: one per call, so a
/// second connect of the same call is Twilio retrying the voice request.
pub(crate) fn parent_sid(call_id: &str) -> String {
    format!("CAbb{}", &call_id.trim_start_matches("call_")[2..])
}

/// The PSTN (child) leg the browser leg's `<Dial>` makes.
pub(crate) fn child_sid(call_id: &str) -> String {
    format!("CAcc{}", &call_id.trim_start_matches("call_")[2..])
}

/// Posts the voice request Twilio makes when a browser connects with
/// `attempt` (signed like Twilio, `From=client:<the dialer's identity>`);
/// returns the TwiML answer.
pub(crate) async fn connect(app: &TestApp, call_id: &str, attempt: &str) -> String {
    let user_id = call_row(app, call_id).await.user_id;
    voice_request(
        app,
        &parent_sid(call_id),
        &format!("member-{user_id}"),
        Some(attempt),
    )
    .await
    .1
}

/// A signed voice request for the browser leg `parent` of `identity`.
pub(crate) async fn voice_request(
    app: &TestApp,
    parent: &str,
    identity: &str,
    attempt: Option<&str>,
) -> (u16, String) {
    let mut params = twilio_form::voice_request_params(
        fake_twilio::ACCOUNT_SID,
        parent,
        identity,
        attempt.unwrap_or_default(),
    );
    if attempt.is_none() {
        params.retain(|(name, _)| name != "attempt");
    }
    let path = "/webhooks/twilio/voice";
    let signature = twilio_signature::sign(
        fake_twilio::AUTH_TOKEN,
        &format!("{PUBLIC_URL}{path}"),
        &params,
    );
    let response = app
        .client
        .post(app.url(path))
        .header("x-twilio-signature", signature)
        .form(&params)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

pub(crate) async fn call_row(app: &TestApp, call_id: &str) -> Call {
    call_rows::by_id_any(&app.db.pool, call_id)
        .await
        .unwrap()
        .expect("the call exists")
}

/// Posts a Twilio-format status callback for the call, signed like Twilio.
pub(crate) async fn deliver_status(
    app: &TestApp,
    call: &Call,
    status: CallStatus,
    sequence: i64,
    duration: Option<u64>,
) -> u16 {
    let params = status_params(call, status, sequence, duration);
    let path = format!("/webhooks/twilio/status?call={}", call.call_id);
    let signature = twilio_signature::sign(
        fake_twilio::AUTH_TOKEN,
        &format!("{PUBLIC_URL}{path}"),
        &params,
    );
    post_form(app, &path, &params, Some(&signature)).await
}

pub(crate) fn status_params(
    call: &Call,
    status: CallStatus,
    sequence: i64,
    duration: Option<u64>,
) -> Vec<(String, String)> {
    // The PSTN leg the browser leg's <Dial> made reports its progress.
    twilio_form::status_callback_params(&twilio_form::StatusCallback {
        account_sid: fake_twilio::ACCOUNT_SID.to_owned(),
        call_sid: child_sid(&call.call_id),
        from: fake_twilio::CALLER_ID.to_owned(),
        to: call.to_number.clone(),
        status,
        sequence,
        timestamp: call.created_at + 5 + sequence,
        duration_secs: duration,
        parent_call_sid: Some(parent_sid(&call.call_id)),
    })
}

pub(crate) async fn post_form(
    app: &TestApp,
    path: &str,
    params: &[(String, String)],
    signature: Option<&str>,
) -> u16 {
    let mut request = app.client.post(app.url(path)).form(params);
    if let Some(signature) = signature {
        request = request.header("x-twilio-signature", signature);
    }
    request.send().await.unwrap().status().as_u16()
}

/// The rate the sample deck has for London.
pub(crate) fn london_rate() -> Rate {
    Rate::new(RateParts {
        prefix: "44".into(),
        country_code: "GB".into(),
        country_name: "United Kingdom".into(),
        description: "United Kingdom landline".into(),
        price_per_minute: Money::from_micros(20_000),
        connection_fee: Money::ZERO,
        initial_increment: 60,
        subsequent_increment: 60,
        blocked: false,
        blocked_reason: None,
    })
    .unwrap()
}

pub(crate) async fn charges(app: &TestApp, org_id: &str) -> Vec<i64> {
    sqlx::query_scalar(
        "select amount from ledger_entry where org_id = $1 and kind = 'call_charge' order by created_at",
    )
    .bind(org_id)
    .fetch_all(&app.db.pool)
    .await
    .unwrap()
}

/// The books balance: the wallet equals the ledger sum, and held equals the open holds.
pub(crate) async fn assert_books_balance(app: &TestApp, org_id: &str) {
    let stored = app.db.balance(org_id).await.unwrap();
    let recomputed = app.db.recomputed_balance(org_id).await.unwrap();
    assert_eq!(stored, recomputed, "wallet and ledger disagree");
}

async fn a_quote_names_the_destination_price_and_talk_time_or_says_why_not(app: TestApp) {
    let m = member(&app, "quote@example.com").await;
    let quote = |number: &'static str, country: &'static str| {
        let (app, m) = (&app, &m);
        async move {
            let response = app
                .call(
                    &m.client,
                    "calls/quote",
                    &[
                        ("org_id", &m.org_id),
                        ("number", number),
                        ("country", country),
                    ],
                )
                .await;
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    // No credit yet: a real destination, but the first minute does not fit.
    let poor = quote(LONDON, "US").await;
    assert_eq!(
        poor["Unaffordable"]["destination"],
        "United Kingdom · United Kingdom landline"
    );
    assert_eq!(poor["Unaffordable"]["needed"], 20_000);

    grant(&app, &m.org_id, 100).await;
    let national = quote("020 7183 8750", "GB").await;
    let callable = &national["Callable"];
    assert_eq!(callable["number"], "+44 20 7183 8750");
    assert_eq!(callable["price_per_minute"], 20_000);
    assert_eq!(callable["increments"], "60/60");
    // $1.00 at $0.02 a minute: 50 minutes.
    assert_eq!(callable["max_duration_secs"], 3000);
    assert_eq!(callable["needs_confirmation"], false);

    for (number, country, why) in [
        ("12", "GB", "not a valid phone number"),
        ("call me", "GB", "digits"),
        ("+44 70 1234 5678", "GB", "blocked"),
    ] {
        let refused = quote(number, country).await;
        let reason = refused["Refused"]["reason"].as_str().unwrap_or_default();
        assert!(reason.contains(why), "{number}: {refused}");
    }
}

async fn a_call_holds_its_maximum_cost_and_asks_the_carrier_with_that_time_limit(
    backend_app: TestApp,
) {
    let fake = FakeTwilio::start().await;
    let app = twilio_app(backend_app.backend, &fake).await;
    let m = member(&app, "holds@example.com").await;
    grant(&app, &m.org_id, 10).await; // $0.10: five minutes to London
    let (status, call) = dial(&app, &m, LONDON, "k1").await;
    assert_eq!(status, 200, "{call}");
    assert_eq!(call["status"], "Queued");
    let row = call_row(&app, call["call_id"].as_str().unwrap()).await;
    assert_eq!(row.max_duration_secs, 300);
    assert_eq!(row.rate.price_per_minute().micros(), 20_000);
    let balance = app.db.balance(&m.org_id).await.unwrap();
    assert_eq!(balance.held, Money::from_cents(10).unwrap());

    // Nothing is placed over REST: the browser connected with the attempt,
    // and our voice answer dials with that time limit.
    assert!(fake.creates().is_empty());
    assert_eq!(
        row.parent_sid.as_deref(),
        Some(parent_sid(&row.call_id).as_str())
    );
    let attempt: String =
        sqlx::query_scalar("select attempt_id from call_attempt where call_id = $1")
            .bind(&row.call_id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let twiml = connect(&app, &row.call_id, &attempt).await;
    let twilio_form::VoiceAnswer::Dial(sent) = twilio_form::parse_voice_answer(&twiml).unwrap()
    else {
        panic!("{twiml}");
    };
    assert_eq!(sent.number, "+442071838750");
    assert_eq!(sent.caller_id, fake_twilio::CALLER_ID);
    assert_eq!(sent.time_limit_secs, 300);
    let callback = format!(
        "{PUBLIC_URL}/webhooks/twilio/status?call={}{}",
        row.call_id,
        app::server::calls::CALLBACK_RETRY_FRAGMENT
    );
    assert_eq!(sent.status_callback, callback);
    deliver_status(&app, &row, CallStatus::Initiated, 0, None).await;
    assert_eq!(
        call_row(&app, &row.call_id)
            .await
            .carrier_sid
            .map(|s| s.starts_with("CA")),
        Some(true)
    );
}

/// Every order of initiated, ringing, in-progress and completed (61 s), each
/// delivered twice: one charge of exactly two minutes, the same final state.
async fn callbacks_in_every_order_and_twice_charge_exactly_once(backend_app: TestApp) {
    let fake = FakeTwilio::start().await;
    let app = twilio_app(backend_app.backend, &fake).await;
    let m = member(&app, "orders@example.com").await;
    grant(&app, &m.org_id, 10_000).await;
    let events = [
        (CallStatus::Initiated, 0, None),
        (CallStatus::Ringing, 1, None),
        (CallStatus::InProgress, 2, None),
        (CallStatus::Completed, 3, Some(61)),
    ];
    let expected = rating::cost(&london_rate(), 61).unwrap();
    assert_eq!(expected, Money::from_micros(40_000));
    let orders: Vec<Vec<usize>> = (0..4).permutations(4).collect();
    assert_eq!(orders.len(), 24);
    for (n, order) in orders.iter().enumerate() {
        let (status, call) = dial(&app, &m, LONDON, &format!("order-{n}")).await;
        assert_eq!(status, 200, "{call}");
        let row = call_row(&app, call["call_id"].as_str().unwrap()).await;
        for &i in order.iter().chain(order.iter()) {
            let (status, sequence, duration) = events[i];
            assert_eq!(
                deliver_status(&app, &row, status, sequence, duration).await,
                204
            );
        }
        let done = call_row(&app, &row.call_id).await;
        assert_eq!(done.status.as_str(), "completed", "order {order:?}");
        assert_eq!(done.duration_secs, Some(61));
        assert_eq!(done.billed_seconds, Some(120));
        assert_eq!(done.cost, Some(expected.micros()));
        assert_eq!(done.end_reason.map(EndReason::as_str), Some("completed"));
        assert!(done.ledger_entry_id.is_some());
        let recorded = call_rows::events(&app.db.pool, &row.call_id).await.unwrap();
        assert_eq!(recorded.len(), 8, "every delivery is recorded");
    }
    let charged = charges(&app, &m.org_id).await;
    assert_eq!(charged, vec![-expected.micros(); 24]);
    let balance = app.db.balance(&m.org_id).await.unwrap();
    assert_eq!(balance.held, Money::ZERO, "every hold closed");
    assert_eq!(
        balance.balance.micros(),
        100_000_000 - 24 * expected.micros()
    );
    assert_books_balance(&app, &m.org_id).await;
}

async fn callbacks_split_across_a_restart_charge_exactly_once(backend_app: TestApp) {
    let fake = FakeTwilio::start().await;
    let app = twilio_app(backend_app.backend, &fake).await;
    let m = member(&app, "restart@example.com").await;
    grant(&app, &m.org_id, 100).await;
    let (_, call) = dial(&app, &m, LONDON, "restart").await;
    let row = call_row(&app, call["call_id"].as_str().unwrap()).await;
    deliver_status(&app, &row, CallStatus::Ringing, 1, None).await;
    deliver_status(&app, &row, CallStatus::Completed, 3, Some(125)).await;
    // A second instance on the same database gets the rest, late and twice.
    let settings = fake.settings();
    let extra: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let again = TestApp::restarted_with(app, &extra).await;
    for _ in 0..2 {
        assert_eq!(
            deliver_status(&again, &row, CallStatus::InProgress, 2, None).await,
            204
        );
        assert_eq!(
            deliver_status(&again, &row, CallStatus::Completed, 3, Some(125)).await,
            204
        );
    }
    let expected = rating::cost(&london_rate(), 125).unwrap();
    assert_eq!(charges(&again, &m.org_id).await, vec![-expected.micros()]);
    let done = call_row(&again, &row.call_id).await;
    assert_eq!(done.status.as_str(), "completed");
    assert_books_balance(&again, &m.org_id).await;
}

async fn fifty_simultaneous_dials_on_a_balance_for_one_place_exactly_one(backend_app: TestApp) {
    let fake = FakeTwilio::start().await;
    let app = twilio_app(backend_app.backend, &fake).await;
    let m = member(&app, "race@example.com").await;
    grant(&app, &m.org_id, 3).await; // one minute and a half of London
    let dials = (0..50).map(|i| {
        let (app, m) = (&app, &m);
        async move { dial(app, m, LONDON, &format!("race-{i}")).await }
    });
    let answers = futures::future::join_all(dials).await;
    let placed = answers.iter().filter(|(status, _)| *status == 200).count();
    let refused: Vec<_> = answers
        .iter()
        .filter(|(status, _)| *status != 200)
        .collect();
    assert_eq!(placed, 1, "{answers:?}");
    for (status, body) in refused {
        assert_eq!(*status, 409, "{body}");
        assert!(body.to_string().contains("Not enough credit"), "{body}");
    }
    assert!(fake.creates().is_empty());
    assert_eq!(app.count("select count(*) from call").await, 1);
    assert_eq!(
        app.count("select count(*) from call_attempt where taken_at is not null")
            .await,
        1,
        "one call reached the carrier"
    );
    let balance = app.db.balance(&m.org_id).await.unwrap();
    assert_eq!(
        balance.held,
        Money::from_cents(2).unwrap(),
        "one minute held"
    );
    assert_books_balance(&app, &m.org_id).await;
}

async fn a_double_click_places_one_call(backend_app: TestApp) {
    let fake = FakeTwilio::start().await;
    let app = twilio_app(backend_app.backend, &fake).await;
    let m = member(&app, "double@example.com").await;
    grant(&app, &m.org_id, 100).await;
    let (first, second) = tokio::join!(
        dial(&app, &m, LONDON, "same-click"),
        dial(&app, &m, LONDON, "same-click")
    );
    assert_eq!((first.0, second.0), (200, 200), "{first:?} {second:?}");
    assert_eq!(first.1["call_id"], second.1["call_id"]);
    let third = dial(&app, &m, LONDON, "same-click").await;
    assert_eq!(third.1["call_id"], first.1["call_id"]);
    assert!(fake.creates().is_empty());
    assert_eq!(
        app.count("select count(*) from call_attempt where taken_at is not null")
            .await,
        1,
        "one call reached the carrier"
    );
    assert_eq!(app.count("select count(*) from hold").await, 1);
}

/// Twilio cannot refuse a browser-started call up front: a number it will
/// not reach makes the dialed leg fail, which releases the hold.
async fn a_carrier_refusal_releases_the_hold_and_says_why(backend_app: TestApp) {
    let fake = FakeTwilio::start().await;
    let app = twilio_app(backend_app.backend, &fake).await;
    let m = member(&app, "refused@example.com").await;
    grant(&app, &m.org_id, 100).await;
    let (status, call) = dial(&app, &m, "+44 20 7183 0005", "refused").await;
    assert_eq!(status, 200, "{call}");
    let row = call_row(&app, call["call_id"].as_str().unwrap()).await;
    assert_eq!(
        deliver_status(&app, &row, CallStatus::Failed, 0, None).await,
        204
    );
    let balance = app.db.balance(&m.org_id).await.unwrap();
    assert_eq!(balance.held, Money::ZERO);
    assert_eq!(balance.balance, Money::from_cents(100).unwrap());
    let (status, reason): (String, String) = sqlx::query_as("select status, end_reason from call")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!((status.as_str(), reason.as_str()), ("failed", "failed"));
    assert!(charges(&app, &m.org_id).await.is_empty());
}

async fn busy_no_answer_failed_and_canceled_cost_nothing(backend_app: TestApp) {
    let fake = FakeTwilio::start().await;
    let app = twilio_app(backend_app.backend, &fake).await;
    let m = member(&app, "nocharge@example.com").await;
    grant(&app, &m.org_id, 100).await;
    for (n, (end, reason)) in [
        (CallStatus::Busy, "busy"),
        (CallStatus::NoAnswer, "no_answer"),
        (CallStatus::Failed, "failed"),
        (CallStatus::Canceled, "canceled"),
    ]
    .into_iter()
    .enumerate()
    {
        let (_, call) = dial(&app, &m, LONDON, &format!("free-{n}")).await;
        let row = call_row(&app, call["call_id"].as_str().unwrap()).await;
        deliver_status(&app, &row, CallStatus::Ringing, 1, None).await;
        deliver_status(&app, &row, end, 2, Some(0)).await;
        // A late "in-progress" after the end changes nothing.
        deliver_status(&app, &row, CallStatus::InProgress, 3, None).await;
        let done = call_row(&app, &row.call_id).await;
        assert_eq!(done.status.as_str(), end.as_str());
        assert_eq!(done.end_reason.map(EndReason::as_str), Some(reason));
        assert_eq!(done.cost, Some(0));
        assert_eq!(done.ledger_entry_id, None);
    }
    assert!(charges(&app, &m.org_id).await.is_empty());
    let balance = app.db.balance(&m.org_id).await.unwrap();
    assert_eq!(
        (balance.balance, balance.held),
        (Money::from_cents(100).unwrap(), Money::ZERO)
    );
    assert_eq!(
        app.count("select count(*) from job where kind = 'call.forced_hangup'")
            .await,
        0
    );
}

async fn cancel_while_ringing_racing_an_answer_charges_only_what_the_carrier_reports(
    backend_app: TestApp,
) {
    let fake = FakeTwilio::start().await;
    let app = twilio_app(backend_app.backend, &fake).await;
    let m = member(&app, "cancel@example.com").await;
    grant(&app, &m.org_id, 100).await;

    // Canceled in time: the carrier reports canceled, nothing is charged.
    let (_, call) = dial(&app, &m, LONDON, "cancel-1").await;
    let row = call_row(&app, call["call_id"].as_str().unwrap()).await;
    put_legs(&fake, &row);
    deliver_status(&app, &row, CallStatus::Ringing, 1, None).await;
    let ended = app
        .call(
            &m.client,
            "calls/end",
            &[("org_id", &m.org_id), ("call_id", &row.call_id)],
        )
        .await;
    assert_eq!(ended.status(), 200);
    // Ending hangs up the browser's leg; its <Dial> cancels the ringing leg.
    let sid = parent_sid(&row.call_id);
    assert_eq!(fake.endings(&sid), vec!["completed"]);
    assert_eq!(fake.status_of(&child_sid(&row.call_id)), "canceled");
    deliver_status(&app, &row, CallStatus::Canceled, 2, None).await;
    let done = call_row(&app, &row.call_id).await;
    assert_eq!((done.status.as_str(), done.cost), ("canceled", Some(0)));
    assert_eq!(done.end_reason.map(EndReason::as_str), Some("canceled"));

    // The answer won the race: it is hung up at once and billed what the carrier reports.
    let (_, call) = dial(&app, &m, LONDON, "cancel-2").await;
    let row = call_row(&app, call["call_id"].as_str().unwrap()).await;
    let sid = parent_sid(&row.call_id);
    deliver_status(&app, &row, CallStatus::Ringing, 1, None).await;
    app.call(
        &m.client,
        "calls/end",
        &[("org_id", &m.org_id), ("call_id", &row.call_id)],
    )
    .await;
    deliver_status(&app, &row, CallStatus::InProgress, 2, None).await;
    // The forced hangup job runs right away because an end was requested.
    app.settle_jobs().await;
    assert_eq!(fake.endings(&sid), vec!["completed", "completed"]);
    deliver_status(&app, &row, CallStatus::Completed, 3, Some(2)).await;
    let done = call_row(&app, &row.call_id).await;
    assert_eq!(done.status.as_str(), "completed");
    assert_eq!(done.end_reason.map(EndReason::as_str), Some("hung_up"));
    let two_seconds = rating::cost(&london_rate(), 2).unwrap();
    assert_eq!(charges(&app, &m.org_id).await, vec![-two_seconds.micros()]);
    assert_books_balance(&app, &m.org_id).await;
}

async fn bad_signatures_are_refused_and_change_nothing(backend_app: TestApp) {
    let fake = FakeTwilio::start().await;
    let app = twilio_app(backend_app.backend, &fake).await;
    let m = member(&app, "signatures@example.com").await;
    grant(&app, &m.org_id, 100).await;
    let (_, call) = dial(&app, &m, LONDON, "sig").await;
    let row = call_row(&app, call["call_id"].as_str().unwrap()).await;
    let path = format!("/webhooks/twilio/status?call={}", row.call_id);
    let params = status_params(&row, CallStatus::Completed, 3, Some(600));
    let good = twilio_signature::sign(
        fake_twilio::AUTH_TOKEN,
        &format!("{PUBLIC_URL}{path}"),
        &params,
    );

    let mut tampered = params.clone();
    for (name, value) in tampered.iter_mut() {
        if name == "CallDuration" {
            *value = "6000".into();
        }
    }
    assert_eq!(post_form(&app, &path, &tampered, Some(&good)).await, 403);
    let wrong_url = twilio_signature::sign(
        fake_twilio::AUTH_TOKEN,
        &format!("https://elsewhere.example{path}"),
        &params,
    );
    assert_eq!(post_form(&app, &path, &params, Some(&wrong_url)).await, 403);
    let wrong_token =
        twilio_signature::sign("not-the-token", &format!("{PUBLIC_URL}{path}"), &params);
    assert_eq!(
        post_form(&app, &path, &params, Some(&wrong_token)).await,
        403
    );
    assert_eq!(post_form(&app, &path, &params, None).await, 403);
    assert_eq!(app.count("select count(*) from call_event").await, 0);
    assert_eq!(call_row(&app, &row.call_id).await.status.as_str(), "queued");
    assert!(charges(&app, &m.org_id).await.is_empty());

    assert_eq!(post_form(&app, &path, &params, Some(&good)).await, 204);
    assert_eq!(
        call_row(&app, &row.call_id).await.status.as_str(),
        "completed"
    );
}

async fn the_voice_webhook_bridges_to_the_members_browser(backend_app: TestApp) {
    let fake = FakeTwilio::start().await;
    let app = twilio_app(backend_app.backend, &fake).await;
    let m = member(&app, "voice@example.com").await;
    grant(&app, &m.org_id, 100).await;
    let response = app
        .call(
            &m.client,
            "calls/start",
            &[
                ("org_id", &m.org_id),
                ("number", LONDON),
                ("country", "GB"),
                ("client_key", "voice"),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);
    let started: Value = response.json().await.unwrap();
    let attempt = started["attempt"]
        .as_str()
        .expect("an attempt in Twilio mode");
    let call_id = started["call"]["call_id"].as_str().unwrap();
    let row = call_row(&app, call_id).await;
    let params = twilio_form::voice_request_params(
        fake_twilio::ACCOUNT_SID,
        &parent_sid(call_id),
        &format!("member-{}", row.user_id),
        attempt,
    );
    let path = "/webhooks/twilio/voice";
    // Unsigned: refused, and the attempt is still there to take.
    assert_eq!(post_form(&app, path, &params, None).await, 403);
    assert_eq!(call_row(&app, call_id).await.parent_sid, None);
    let signature = twilio_signature::sign(
        fake_twilio::AUTH_TOKEN,
        &format!("{PUBLIC_URL}{path}"),
        &params,
    );
    let response = app
        .client
        .post(app.url(path))
        .header("x-twilio-signature", signature)
        .form(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/xml"));
    let twiml = response.text().await.unwrap();
    assert!(twiml.contains("<Dial"), "{twiml}");
    assert!(twiml.contains(r#"answerOnBridge="true""#), "{twiml}");
    assert!(twiml.contains(">+442071838750</Number>"), "{twiml}");
    assert!(twiml.contains("timeLimit=\"3000\""), "{twiml}");
    assert_eq!(
        call_row(&app, call_id).await.parent_sid,
        Some(parent_sid(call_id))
    );
}

async fn the_sweeper_bills_a_call_whose_final_event_never_came(backend_app: TestApp) {
    let fake = FakeTwilio::start().await;
    let app = twilio_app(backend_app.backend, &fake).await;
    let m = member(&app, "sweep@example.com").await;
    grant(&app, &m.org_id, 100).await;
    let (_, answered) = dial(&app, &m, LONDON, "sweep-1").await;
    let answered = call_row(&app, answered["call_id"].as_str().unwrap()).await;
    put_legs(&fake, &answered);
    deliver_status(&app, &answered, CallStatus::InProgress, 2, None).await;
    // One call reserves the whole balance: the second is another organization's.
    let other = member(&app, "sweep-other@example.com").await;
    grant(&app, &other.org_id, 100).await;
    let (_, lost) = dial(&app, &other, LONDON, "sweep-2").await;
    let lost = call_row(&app, lost["call_id"].as_str().unwrap()).await;
    // Of this one we heard nothing at all after the browser connected: the
    // sweeper asks about the browser's leg, then about the leg it dialed.
    put_legs(&fake, &lost);
    // The carrier knows how both ended; we never heard.
    fake.set_state(
        &child_sid(&answered.call_id),
        CallState {
            status: "completed",
            duration: Some(42),
            end_time: Some(answered.created_at + 50),
        },
    );
    fake.set_state(
        &child_sid(&lost.call_id),
        CallState {
            status: "no-answer",
            duration: Some(0),
            end_time: None,
        },
    );
    for call in [&answered, &lost] {
        fake.set_state(
            &parent_sid(&call.call_id),
            CallState {
                status: "completed",
                duration: Some(0),
                end_time: Some(call.created_at + 55),
            },
        );
    }
    let sweep = |now| {
        let app = &app;
        let fake = fake.clone();
        async move {
            let carrier = fake.carrier();
            app::server::calls::sweep(&app.db, &carrier, &settings(), now)
                .await
                .unwrap()
        }
    };
    // Not yet past its limits: left alone.
    assert_eq!(sweep(answered.created_at + 60).await, 0);
    let late = answered.created_at + 3600 * 5;
    assert_eq!(sweep(late).await, 2);
    let billed = call_row(&app, &answered.call_id).await;
    assert_eq!(
        (billed.status.as_str(), billed.duration_secs),
        ("completed", Some(42))
    );
    let released = call_row(&app, &lost.call_id).await;
    assert_eq!(
        (released.status.as_str(), released.cost),
        ("no-answer", Some(0))
    );
    assert_eq!(sweep(late).await, 0, "nothing left to sweep");
    let minute = rating::cost(&london_rate(), 42).unwrap();
    assert_eq!(charges(&app, &m.org_id).await, vec![-minute.micros()]);
    assert_eq!(app.db.balance(&m.org_id).await.unwrap().held, Money::ZERO);
    assert_eq!(
        app.db.balance(&other.org_id).await.unwrap().held,
        Money::ZERO
    );
    assert_books_balance(&app, &m.org_id).await;
    assert_books_balance(&app, &other.org_id).await;
}

/// Tells the fake Twilio about both legs of a connected call, as Twilio
/// has them while the destination rings.
pub(crate) fn put_legs(fake: &FakeTwilio, call: &Call) {
    let parent = parent_sid(&call.call_id);
    fake.put_leg(&parent, "in-progress", None, "");
    fake.put_leg(
        &child_sid(&call.call_id),
        "ringing",
        Some(&parent),
        &call.to_number,
    );
}

pub(crate) fn settings() -> app::server::calls::CallSettings {
    app::server::calls::CallSettings {
        max_duration_ceiling_secs: 4 * 3600,
        confirm_above_per_minute: Money::from_dollars(1).unwrap(),
        caller_id: fake_twilio::CALLER_ID.to_owned(),
        hangup_margin_ms: 1000,
        payment_grace_secs: 3 * 86_400,
    }
}

async fn another_organization_cannot_end_a_call_or_quote_for_it(backend_app: TestApp) {
    let fake = FakeTwilio::start().await;
    let app = twilio_app(backend_app.backend, &fake).await;
    let owner = member(&app, "owner@example.com").await;
    let stranger = member(&app, "stranger@example.com").await;
    grant(&app, &owner.org_id, 100).await;
    let (_, call) = dial(&app, &owner, LONDON, "mine").await;
    let call_id = call["call_id"].as_str().unwrap();
    // The stranger names the owner's organization: not a member, not found.
    app.assert_not_found(
        &stranger.client,
        "calls/end",
        &[("org_id", &owner.org_id), ("call_id", call_id)],
    )
    .await;
    // Their own organization: the call is not theirs.
    app.assert_not_found(
        &stranger.client,
        "calls/end",
        &[("org_id", &stranger.org_id), ("call_id", call_id)],
    )
    .await;
    app.assert_not_found(
        &stranger.client,
        "calls/quote",
        &[
            ("org_id", &owner.org_id),
            ("number", LONDON),
            ("country", "GB"),
        ],
    )
    .await;
    let (status, _) = dial(
        &app,
        &Member {
            client: stranger.client.clone(),
            org_id: owner.org_id.clone(),
        },
        LONDON,
        "theirs",
    )
    .await;
    assert_eq!(status, 404);
    assert!(fake.endings(&parent_sid(call_id)).is_empty());
    assert_eq!(call_row(&app, call_id).await.end_requested_at, None);
    let live = stranger
        .client
        .get(app.url(&format!("/calls/live?org_id={}", owner.org_id)))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 404);
}

async fn the_live_stream_pushes_each_change(backend_app: TestApp) {
    let fake = FakeTwilio::start().await;
    let app = twilio_app(backend_app.backend, &fake).await;
    let m = member(&app, "live@example.com").await;
    grant(&app, &m.org_id, 100).await;
    let mut stream = m
        .client
        .get(app.url(&format!("/calls/live?org_id={}", m.org_id)))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(stream.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let (_, call) = dial(&app, &m, LONDON, "live").await;
    let row = call_row(&app, call["call_id"].as_str().unwrap()).await;
    let mut seen = String::new();
    read_until(&mut stream, &mut seen, "Queued").await;
    deliver_status(&app, &row, CallStatus::Ringing, 1, None).await;
    read_until(&mut stream, &mut seen, "Ringing").await;
    deliver_status(&app, &row, CallStatus::InProgress, 2, None).await;
    read_until(&mut stream, &mut seen, "InProgress").await;
    assert!(seen.contains("event: call"), "{seen}");
}

async fn open_live(app: &TestApp, m: &Member) -> reqwest::Response {
    m.client
        .get(app.url(&format!("/calls/live?org_id={}", m.org_id)))
        .send()
        .await
        .unwrap()
}

async fn a_member_may_hold_five_live_streams_and_the_sixth_is_refused(app: TestApp) {
    let m = member(&app, "tabs@example.com").await;
    let mut open = Vec::new();
    for _ in 0..5 {
        let stream = open_live(&app, &m).await;
        assert_eq!(stream.status(), 200);
        open.push(stream);
    }
    let sixth = open_live(&app, &m).await;
    assert_eq!(sixth.status(), 429);
    let text = sixth.text().await.unwrap();
    assert!(
        text.contains("Too many live call streams") && text.contains("at most 5"),
        "{text}"
    );
    // Another member is not held back by this one's tabs.
    let other = member(&app, "other-tabs@example.com").await;
    assert_eq!(open_live(&app, &other).await.status(), 200);
    // Closing a tab frees its place as soon as the server sees the connection close.
    drop(open.pop());
    let started = std::time::Instant::now();
    while open_live(&app, &m).await.status() != 200 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "a closed stream still counts against the cap"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Whether the stream ends (the server closes it) within `within`.
async fn ends_within(stream: &mut reqwest::Response, within: std::time::Duration) -> bool {
    tokio::time::timeout(within, async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await
    .is_ok()
}

async fn a_live_stream_ends_after_logout_and_after_removal_from_the_organization(
    backend_app: TestApp,
) {
    let app = TestApp::spawn_with(backend_app.backend, &[("LIVE_SESSION_CHECK_SECS", "1")]).await;
    let leaving = member(&app, "leaving@example.com").await;
    let removed = member(&app, "removed@example.com").await;
    let mut leaving_stream = open_live(&app, &leaving).await;
    let mut removed_stream = open_live(&app, &removed).await;
    assert_eq!(leaving_stream.status(), 200);
    assert_eq!(removed_stream.status(), 200);

    assert_eq!(
        app.call(&leaving.client, "auth/logout", &[]).await.status(),
        200
    );
    assert!(
        ends_within(&mut leaving_stream, std::time::Duration::from_secs(5)).await,
        "the stream is still open 5 s after logout"
    );
    // Logged out: the page gate sends the browser to the login page.
    assert_eq!(open_live(&app, &leaving).await.status(), 303);

    sqlx::query("delete from membership where org_id = $1")
        .bind(&removed.org_id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert!(
        ends_within(&mut removed_stream, std::time::Duration::from_secs(5)).await,
        "the stream is still open 5 s after the member was removed"
    );
    assert_eq!(open_live(&app, &removed).await.status(), 404);
}

/// The `data` of each `event: call` read so far, as JSON.
fn call_events(seen: &str) -> Vec<Value> {
    seen.split("\n\n")
        .filter(|block| block.contains("event: call"))
        .filter_map(|block| {
            let data = block.lines().find_map(|line| line.strip_prefix("data: "))?;
            serde_json::from_str(data).ok()
        })
        .collect()
}

async fn many_simultaneous_changes_all_reach_the_live_stream(backend_app: TestApp) {
    const CALLS: usize = 20;
    let fake = FakeTwilio::start().await;
    let app = twilio_app(backend_app.backend, &fake).await;
    let m = member(&app, "busy@example.com").await;
    grant(&app, &m.org_id, 1_000_000).await;
    let mut stream = open_live(&app, &m).await;
    assert_eq!(stream.status(), 200);
    let mut rows = Vec::new();
    for i in 0..CALLS {
        let (status, call) = dial(&app, &m, LONDON, &format!("many-{i}")).await;
        assert_eq!(status, 200, "{call}");
        rows.push(call_row(&app, call["call_id"].as_str().unwrap()).await);
    }
    // Every call rings at once.
    futures::future::join_all(
        rows.iter()
            .map(|row| deliver_status(&app, row, CallStatus::Ringing, 1, None)),
    )
    .await;
    let mut seen = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let ringing: std::collections::HashSet<String> = call_events(&seen)
            .into_iter()
            .filter(|call| call["status"] == "Ringing")
            .map(|call| call["call_id"].as_str().unwrap().to_owned())
            .collect();
        if rows.iter().all(|row| ringing.contains(&row.call_id)) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {CALLS} calls seen ringing",
            ringing.len()
        );
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(5), stream.chunk())
            .await
            .expect("an event within 5 s")
            .unwrap()
            .expect("the stream stays open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}

/// PostgreSQL only (SQLite is one process): a stream opened on one instance
/// hears of a call placed and changed through another instance on the same
/// database. Each instance hears changes only through its listener there, so
/// this is `LISTEN/NOTIFY` end to end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_made_through_another_instance_reaches_a_stream_opened_on_this_one() {
    let fake = FakeTwilio::start().await;
    let first = twilio_app(crate::common::Backend::Postgres, &fake).await;
    let m = member(&first, "elsewhere@example.com").await;
    grant(&first, &m.org_id, 100).await;
    let mut stream = open_live(&first, &m).await;
    assert_eq!(stream.status(), 200);
    let settings = fake.settings();
    let extra: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // The first instance keeps serving the stream.
    let second = first.restarted_with(&extra).await;
    let (status, call) = dial(&second, &m, LONDON, "elsewhere").await;
    assert_eq!(status, 200, "{call}");
    let row = call_row(&second, call["call_id"].as_str().unwrap()).await;
    let mut seen = String::new();
    read_until(&mut stream, &mut seen, "Queued").await;
    deliver_status(&second, &row, CallStatus::Ringing, 1, None).await;
    read_until(&mut stream, &mut seen, "Ringing").await;
}

/// Reads the event stream until a call with status `wanted` has been sent.
async fn read_until(stream: &mut reqwest::Response, seen: &mut String, wanted: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !seen.contains(&format!("\"status\":\"{wanted}\"")) {
        assert!(
            std::time::Instant::now() < deadline,
            "no {wanted} event in {seen}"
        );
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(5), stream.chunk())
            .await
            .expect("an event within 5 s")
            .unwrap()
            .expect("the stream stays open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}

async fn the_simulated_carrier_rings_answers_and_bills_what_it_reports(app: TestApp) {
    let m = member(&app, "sim@example.com").await;
    grant(&app, &m.org_id, 100).await;
    let (status, call) = dial(&app, &m, LONDON, "sim").await;
    assert_eq!(status, 200, "{call}");
    let call_id = call["call_id"].as_str().unwrap().to_owned();
    let answered =
        format!("select count(*) from call where call_id = '{call_id}' and status = 'in-progress'");
    // The simulated carrier answers seconds after the dial.
    app.run_jobs_until_count(&answered, 1).await;
    let ended = app
        .call(
            &m.client,
            "calls/end",
            &[("org_id", &m.org_id), ("call_id", &call_id)],
        )
        .await;
    assert_eq!(ended.status(), 200);
    let completed =
        format!("select count(*) from call where call_id = '{call_id}' and status = 'completed'");
    // The hangup queued the simulated carrier's final callback.
    app.settle_jobs().await;
    assert_eq!(app.count(&completed).await, 1);
    let done = call_row(&app, &call_id).await;
    assert_eq!(done.end_reason.map(EndReason::as_str), Some("hung_up"));
    let duration = done.duration_secs.unwrap();
    assert!((1..=5).contains(&duration), "{duration}");
    let cost = rating::cost(&london_rate(), duration as u64).unwrap();
    assert_eq!(charges(&app, &m.org_id).await, vec![-cost.micros()]);
    let statuses: Vec<String> = call_rows::events(&app.db.pool, &call_id)
        .await
        .unwrap()
        .into_iter()
        .map(|(status, _, _)| status)
        .collect();
    assert_eq!(
        statuses,
        ["initiated", "ringing", "in-progress", "completed"]
    );
    assert_books_balance(&app, &m.org_id).await;
}

async fn the_simulated_carrier_busy_number_costs_nothing(app: TestApp) {
    let m = member(&app, "simbusy@example.com").await;
    grant(&app, &m.org_id, 100).await;
    let (_, call) = dial(&app, &m, "+44 20 7183 0002", "busy").await;
    let call_id = call["call_id"].as_str().unwrap().to_owned();
    app.run_jobs_until_count(
        &format!("select count(*) from call where call_id = '{call_id}' and status = 'busy'"),
        1,
    )
    .await;
    let done = call_row(&app, &call_id).await;
    assert_eq!(
        (done.cost, done.end_reason.map(EndReason::as_str)),
        (Some(0), Some("busy"))
    );
    let balance = app.db.balance(&m.org_id).await.unwrap();
    assert_eq!(
        (balance.balance, balance.held),
        (Money::from_cents(100).unwrap(), Money::ZERO)
    );
}

/// $0.10 at 5 cents per 5 s increment: ten seconds. The forced hangup cuts
/// the call inside its last paid increment, so the charge is exactly the
/// hold, never a cent more. (With whole-second answer times a cutoff can
/// only be placed within a second of the boundary, hence the 5 s increments.)
async fn the_forced_hangup_fires_at_the_deadline_and_charges_exactly_the_maximum(app: TestApp) {
    five_second_rate(&app).await;
    let m = member(&app, "cutoff@example.com").await;
    grant(&app, &m.org_id, 10).await;
    let (status, call) = dial(&app, &m, FIVE_SECOND_BILLING, "cutoff").await;
    assert_eq!(status, 200, "{call}");
    let call_id = call["call_id"].as_str().unwrap().to_owned();
    assert_eq!(call["max_duration_secs"], 10);
    let ended =
        format!("select count(*) from call where call_id = '{call_id}' and ended_at is not null");
    // Answered after a few seconds, cut off at its deadline.
    app.run_jobs_until_count(&ended, 1).await;
    let done = call_row(&app, &call_id).await;
    assert_eq!(done.status.as_str(), "completed");
    assert_eq!(
        done.end_reason.map(EndReason::as_str),
        Some("credits_exhausted")
    );
    let duration = done.duration_secs.unwrap();
    assert!((6..=10).contains(&duration), "cut off after {duration} s");
    assert_eq!(done.billed_seconds, Some(10));
    assert_eq!(charges(&app, &m.org_id).await, vec![-100_000]);
    let lateness = done.hangup_sent_at_ms.unwrap() - done.hangup_at_ms.unwrap();
    assert!(
        (0..1000).contains(&lateness),
        "hangup {lateness} ms after its deadline"
    );
    let balance = app.db.balance(&m.org_id).await.unwrap();
    assert_eq!((balance.balance, balance.held), (Money::ZERO, Money::ZERO));
    assert_books_balance(&app, &m.org_id).await;
}

async fn an_expensive_destination_needs_confirmation_before_it_is_dialed(backend_app: TestApp) {
    let app = TestApp::spawn_with(
        backend_app.backend,
        &[("CALL_CONFIRM_ABOVE_USD_PER_MIN", "0.01")],
    )
    .await;
    let m = member(&app, "confirm@example.com").await;
    grant(&app, &m.org_id, 100).await;
    let quote = app
        .call(
            &m.client,
            "calls/quote",
            &[("org_id", &m.org_id), ("number", LONDON), ("country", "GB")],
        )
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(quote["Callable"]["needs_confirmation"], true);
    let (status, body) = dial(&app, &m, LONDON, "unconfirmed").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["Conflict"]["code"], "needs_confirmation");
    assert_eq!(app.count("select count(*) from call").await, 0);
    assert_eq!(app.db.balance(&m.org_id).await.unwrap().held, Money::ZERO);
    let confirmed = app
        .call(
            &m.client,
            "calls/start",
            &[
                ("org_id", &m.org_id),
                ("number", LONDON),
                ("country", "GB"),
                ("client_key", "confirmed"),
                ("confirmed", "yes"),
            ],
        )
        .await;
    assert_eq!(confirmed.status(), 200);
    assert_eq!(app.count("select count(*) from call").await, 1);
}

async fn the_organization_country_reads_national_numbers_and_only_admins_set_it(app: TestApp) {
    let owner = member(&app, "country@example.com").await;
    let dialer = |m: &Member| {
        let (app, client, org_id) = (&app, m.client.clone(), m.org_id.clone());
        async move {
            app.call(&client, "calls/dialer", &[("org_id", &org_id)])
                .await
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let setup = dialer(&owner).await;
    assert_eq!(setup["default_country"], "US");
    let options = setup["country_options"].as_str().unwrap();
    assert!(options.matches("<option ").count() >= 50);
    assert!(
        options.contains(r#"<option value="CA">Canada (+1)</option>"#),
        "the country code, not a NANP area code from the deck: {options}"
    );
    assert!(options.contains(r#"<option value="US" selected>"#));
    assert_eq!(options.matches(" selected").count(), 1);
    let set = |country: &'static str| {
        let (app, owner) = (&app, &owner);
        async move {
            app.call(
                &owner.client,
                "calls/country",
                &[("org_id", &owner.org_id), ("country", country)],
            )
            .await
            .status()
            .as_u16()
        }
    };
    assert_eq!(set("ZZ").await, 422, "not a country of the deck");
    assert_eq!(
        dialer(&owner).await["default_country"],
        "US",
        "a refused value changes nothing"
    );
    assert_eq!(set("gb").await, 200);
    let setup = dialer(&owner).await;
    assert_eq!(setup["default_country"], "GB");
    let options = setup["country_options"].as_str().unwrap();
    assert!(options.contains(r#"<option value="GB" selected>United Kingdom (+44)</option>"#));
    assert_eq!(options.matches(" selected").count(), 1);
    // The page itself carries them (no JavaScript needed to pick a country).
    let page = owner.client.get(app.url("/dialer")).send().await.unwrap();
    let page = page.text().await.unwrap();
    let select = format!(r#"name="country">{options}</select>"#);
    assert!(page.contains(&select), "{page}");
    // The settings' picker asks for the same options alone, not the dialer's whole setup.
    let countries = |client: reqwest::Client| {
        let (app, org_id) = (&app, owner.org_id.clone());
        async move {
            app.call(&client, "calls/countries", &[("org_id", &org_id)])
                .await
        }
    };
    let alone = countries(owner.client.clone()).await;
    assert_eq!(alone.status(), 200);
    assert_eq!(alone.json::<Value>().await.unwrap(), Value::from(options));
    let settings = owner.client.get(app.url("/settings")).send().await.unwrap();
    let settings = settings.text().await.unwrap();
    assert!(settings.contains(&format!(
        r#"aria-describedby="country-error">{options}</select>"#
    )));
    assert_eq!(
        countries(app.new_browser()).await.status(),
        401,
        "signed out"
    );
    let stranger = member(&app, "stranger@example.com").await;
    assert_eq!(
        countries(stranger.client.clone()).await.status(),
        404,
        "another organization"
    );

    // A member who is not an admin cannot change it.
    let colleague = member(&app, "colleague@example.com").await;
    let colleague_user: String =
        sqlx::query_scalar("select user_id from app_user where email = $1")
            .bind("colleague@example.com")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    app::server::db::orgs::add_member(
        &app.db.pool,
        &owner.org_id,
        &colleague_user,
        app::domain::Role::Member,
        0,
    )
    .await
    .unwrap();
    let refused = app
        .call(
            &colleague.client,
            "calls/country",
            &[("org_id", &owner.org_id), ("country", "FR")],
        )
        .await;
    assert_eq!(refused.status(), 403);
    assert_eq!(dialer(&owner).await["default_country"], "GB");
}
