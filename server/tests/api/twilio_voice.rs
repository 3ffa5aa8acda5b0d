//! Browser-started calls over the signed webhooks, on SQLite and PostgreSQL:
//! the voice request that takes a call's one-shot attempt (taken once, in
//! time, by the member who dialed; anything else is refused with spoken
//! TwiML and costs nothing), the PSTN (child) leg's callbacks that alone are
//! billed, the `<Dial action>` and the browser leg's own callbacks that are
//! not, the access token, and the simulated carrier playing all of it.

use crate::calls::{
    assert_books_balance, call_row, charges, child_sid, connect, deliver_status, dial, grant,
    london_rate, member, parent_sid, settings, twilio_app, voice_request, Member, LONDON,
};
use crate::common::fake_twilio::{self, FakeTwilio};
use crate::common::{TestApp, PUBLIC_URL};
use crate::on_both_databases;
use app::domain::{rating, CallStatus, Money};
use app::server::calls::{Refusal, ATTEMPT_TTL_SECS, RING_GRACE_SECS};
use app::server::clock;
use itertools::Itertools;
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde_json::Value;
use server::providers::twilio::{signature as twilio_signature, wire as twilio_form};

on_both_databases!(
    an_attempt_is_taken_once_and_a_reused_one_is_refused_at_no_cost,
    an_expired_attempt_is_refused_and_its_hold_released,
    a_caller_other_than_the_member_who_dialed_is_refused_and_an_unused_attempt_is_released_by_the_sweeper,
    an_unknown_or_missing_attempt_is_refused_and_changes_nothing,
    ending_a_call_before_the_browser_connects_releases_it_and_refuses_the_attempt,
    child_leg_callbacks_with_the_dial_action_and_the_browser_legs_own_in_every_order_and_twice_charge_once_from_the_child,
    a_callback_naming_another_browser_leg_is_ignored,
    a_browser_leg_that_ends_before_dialing_anything_is_closed_by_the_next_sweep_at_no_cost,
    the_voice_token_is_minted_for_members_only_and_only_in_twilio_mode,
    only_twilio_mode_hands_out_attempts_and_the_dialer_knows_the_mode,
    the_simulated_carrier_connects_through_the_voice_webhook_and_follows_its_twiml,
    the_simulated_carrier_reports_a_dialed_leg_that_ends_by_itself_to_the_dial_action,
    the_simulated_carrier_fails_a_number_it_cannot_place_at_no_cost,
);

/// Dials in Twilio mode without connecting: the call and its attempt.
async fn start(app: &TestApp, m: &Member, key: &str) -> (String, String) {
    let response = app
        .call(
            &m.client,
            "calls/start",
            &[
                ("org_id", &m.org_id),
                ("number", LONDON),
                ("country", "GB"),
                ("client_key", key),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);
    let started: Value = response.json().await.unwrap();
    (
        started["call"]["call_id"].as_str().unwrap().to_owned(),
        started["attempt"]
            .as_str()
            .expect("an attempt in Twilio mode")
            .to_owned(),
    )
}

async fn identity_of(app: &TestApp, call_id: &str) -> String {
    format!("member-{}", call_row(app, call_id).await.user_id)
}

/// What a refused voice request must look like: spoken, hung up, no dial.
fn assert_refused(twiml: &str, why: Refusal) {
    assert_eq!(
        twilio_form::parse_voice_answer(twiml),
        Ok(twilio_form::VoiceAnswer::HangUp {
            said: Some(why.spoken().to_owned())
        }),
        "{twiml}"
    );
}

async fn held(app: &TestApp, org_id: &str) -> Money {
    app.db.balance(org_id).await.unwrap().held
}

/// Posts a signed form to one of our Twilio webhooks.
async fn post_signed(app: &TestApp, path: &str, params: &[(String, String)]) -> (u16, String) {
    let signature = twilio_signature::sign(
        fake_twilio::AUTH_TOKEN,
        &format!("{PUBLIC_URL}{path}"),
        params,
    );
    let response = app
        .client
        .post(app.url(path))
        .header("x-twilio-signature", signature)
        .form(params)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

async fn an_attempt_is_taken_once_and_a_reused_one_is_refused_at_no_cost(backend_app: TestApp) {
    let fake = FakeTwilio::start().await;
    let app = twilio_app(backend_app.backend, &fake).await;
    let m = member(&app, "reuse@example.com").await;
    grant(&app, &m.org_id, 100).await;
    let (call_id, attempt) = start(&app, &m, "reuse").await;
    let identity = identity_of(&app, &call_id).await;

    let twiml = connect(&app, &call_id, &attempt).await;
    assert!(twiml.contains("<Dial"), "{twiml}");
    // The same leg asking again (Twilio retrying) gets the same answer.
    assert_eq!(connect(&app, &call_id, &attempt).await, twiml);
    // Another leg with the same attempt: refused, whoever it comes from.
    let (status, again) = voice_request(
        &app,
        "CAsecondleg00000000000000000000000",
        &identity,
        Some(&attempt),
    )
    .await;
    assert_eq!(status, 200);
    assert_refused(&again, Refusal::AlreadyUsed);
    let row = call_row(&app, &call_id).await;
    assert_eq!(
        row.parent_sid,
        Some(parent_sid(&call_id)),
        "the first leg keeps it"
    );
    assert_eq!(row.status, CallStatus::Queued);

    // The call goes on and costs what its dialed leg reports, once.
    for (status, sequence, duration) in [
        (CallStatus::InProgress, 2, None),
        (CallStatus::Completed, 3, Some(30)),
    ] {
        assert_eq!(
            deliver_status(&app, &row, status, sequence, duration).await,
            204
        );
    }
    let half_minute = rating::cost(&london_rate(), 30).unwrap();
    assert_eq!(charges(&app, &m.org_id).await, vec![-half_minute.micros()]);
    assert_eq!(held(&app, &m.org_id).await, Money::ZERO);
    // After the call, a reuse is still refused and still costs nothing.
    let (_, late) = voice_request(&app, "CAthirdleg", &identity, Some(&attempt)).await;
    assert_refused(&late, Refusal::AlreadyUsed);
    assert_eq!(charges(&app, &m.org_id).await, vec![-half_minute.micros()]);
    assert_books_balance(&app, &m.org_id).await;
}

async fn an_expired_attempt_is_refused_and_its_hold_released(backend_app: TestApp) {
    let fake = FakeTwilio::start().await;
    let app = twilio_app(backend_app.backend, &fake).await;
    let m = member(&app, "expired-attempt@example.com").await;
    grant(&app, &m.org_id, 100).await;
    let (call_id, attempt) = start(&app, &m, "late").await;
    assert_eq!(held(&app, &m.org_id).await, Money::from_cents(100).unwrap());
    let expires_at: i64 =
        sqlx::query_scalar("select expires_at from call_attempt where attempt_id = $1")
            .bind(&attempt)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let created_at = call_row(&app, &call_id).await.created_at;
    assert_eq!(expires_at, created_at + ATTEMPT_TTL_SECS);
    // The browser connects too late.
    sqlx::query("update call_attempt set expires_at = $1 where attempt_id = $2")
        .bind(clock::now())
        .bind(&attempt)
        .execute(&app.db.pool)
        .await
        .unwrap();

    let twiml = connect(&app, &call_id, &attempt).await;

    assert_refused(&twiml, Refusal::Expired);
    let row = call_row(&app, &call_id).await;
    assert_eq!(
        (row.status, row.cost, row.parent_sid.clone()),
        (CallStatus::Failed, Some(0), None)
    );
    let balance = app.db.balance(&m.org_id).await.unwrap();
    assert_eq!(
        (balance.balance, balance.held),
        (Money::from_cents(100).unwrap(), Money::ZERO)
    );
    // Asking again changes nothing: the call is over.
    assert_refused(&connect(&app, &call_id, &attempt).await, Refusal::Ended);
    assert!(charges(&app, &m.org_id).await.is_empty());
    assert_books_balance(&app, &m.org_id).await;
}

async fn a_caller_other_than_the_member_who_dialed_is_refused_and_an_unused_attempt_is_released_by_the_sweeper(
    backend_app: TestApp,
) {
    let fake = FakeTwilio::start().await;
    let app = twilio_app(backend_app.backend, &fake).await;
    let m = member(&app, "owner-of-attempt@example.com").await;
    let other = member(&app, "someone-else@example.com").await;
    grant(&app, &m.org_id, 100).await;
    let (call_id, attempt) = start(&app, &m, "stolen").await;
    let other_user: String =
        sqlx::query_scalar("select user_id from app_user where email = 'someone-else@example.com'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let _ = other;

    for (leg, from_identity) in [
        ("CAother1", format!("member-{other_user}")),
        ("CAother2", "member-".to_owned()),
        ("CAother3", identity_of(&app, &call_id).await.to_uppercase()),
    ] {
        let (status, twiml) = voice_request(&app, leg, &from_identity, Some(&attempt)).await;
        assert_eq!(status, 200);
        assert_refused(&twiml, Refusal::WrongCaller);
    }
    // From a phone number rather than a browser client: refused too.
    let mut params =
        twilio_form::voice_request_params(fake_twilio::ACCOUNT_SID, "CAother4", "x", &attempt);
    for (name, value) in params.iter_mut() {
        if name == "From" || name == "Caller" {
            *value = "+15005550006".into();
        }
    }
    let (_, twiml) = post_signed(&app, "/webhooks/twilio/voice", &params).await;
    assert_refused(&twiml, Refusal::WrongCaller);
    // Nothing was taken or spent; the hold waits for the member's browser.
    let row = call_row(&app, &call_id).await;
    assert_eq!(
        (row.status, row.parent_sid.clone()),
        (CallStatus::Queued, None)
    );
    assert_eq!(held(&app, &m.org_id).await, Money::from_cents(100).unwrap());

    // The member's browser never connects: once the attempt cannot be used
    // any more, the sweeper ends the call and releases the hold.
    let carrier = fake.carrier();
    let call_settings = settings();
    let sweep = |now| app::server::calls::sweep(&app.db, &carrier, &call_settings, now);
    assert_eq!(sweep(row.created_at + ATTEMPT_TTL_SECS).await.unwrap(), 0);
    assert_eq!(sweep(row.created_at + RING_GRACE_SECS).await.unwrap(), 1);
    let swept = call_row(&app, &call_id).await;
    assert_eq!((swept.status, swept.cost), (CallStatus::Failed, Some(0)));
    let balance = app.db.balance(&m.org_id).await.unwrap();
    assert_eq!(
        (balance.balance, balance.held),
        (Money::from_cents(100).unwrap(), Money::ZERO)
    );
    assert_refused(&connect(&app, &call_id, &attempt).await, Refusal::Ended);
    assert!(fake.requests().is_empty(), "nothing to ask Twilio about");
    assert_books_balance(&app, &m.org_id).await;
}

async fn an_unknown_or_missing_attempt_is_refused_and_changes_nothing(backend_app: TestApp) {
    let fake = FakeTwilio::start().await;
    let app = twilio_app(backend_app.backend, &fake).await;
    let m = member(&app, "unknown-attempt@example.com").await;
    grant(&app, &m.org_id, 100).await;
    let (call_id, _attempt) = start(&app, &m, "real").await;
    let identity = identity_of(&app, &call_id).await;
    for attempt in [Some("att_00000000000000000000000000000000"), Some(""), None] {
        let (status, twiml) = voice_request(&app, "CAnobody", &identity, attempt).await;
        assert_eq!(status, 200, "{attempt:?}");
        assert_refused(&twiml, Refusal::Unknown);
    }
    // Unsigned: not even looked at.
    let params =
        twilio_form::voice_request_params(fake_twilio::ACCOUNT_SID, "CAx", &identity, "att_x");
    let response = app
        .client
        .post(app.url("/webhooks/twilio/voice"))
        .form(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let row = call_row(&app, &call_id).await;
    assert_eq!((row.status, row.parent_sid), (CallStatus::Queued, None));
    assert_eq!(held(&app, &m.org_id).await, Money::from_cents(100).unwrap());
    assert_eq!(
        app.count("select count(*) from call_attempt where taken_at is not null")
            .await,
        0
    );
}

async fn ending_a_call_before_the_browser_connects_releases_it_and_refuses_the_attempt(
    backend_app: TestApp,
) {
    let fake = FakeTwilio::start().await;
    let app = twilio_app(backend_app.backend, &fake).await;
    let m = member(&app, "early-end@example.com").await;
    grant(&app, &m.org_id, 100).await;
    let (call_id, attempt) = start(&app, &m, "early").await;
    let ended = app
        .call(
            &m.client,
            "calls/end",
            &[("org_id", &m.org_id), ("call_id", &call_id)],
        )
        .await;
    assert_eq!(ended.status(), 200);
    let row = call_row(&app, &call_id).await;
    assert_eq!((row.status, row.cost), (CallStatus::Canceled, Some(0)));
    assert_eq!(held(&app, &m.org_id).await, Money::ZERO);
    assert!(fake.requests().is_empty(), "no leg existed to end");
    assert_refused(&connect(&app, &call_id, &attempt).await, Refusal::Ended);
    assert_eq!(call_row(&app, &call_id).await.parent_sid, None);
    assert_books_balance(&app, &m.org_id).await;
}

/// The child leg's four events, the `<Dial action>` (which carries the
/// same talk time) and the browser leg's own completion (which lasted
/// longer: it rang first), in every order of the child's events with the
/// other two at seeded places, all twice: one charge, of the child's 61 s.
async fn child_leg_callbacks_with_the_dial_action_and_the_browser_legs_own_in_every_order_and_twice_charge_once_from_the_child(
    backend_app: TestApp,
) {
    let fake = FakeTwilio::start().await;
    let app = twilio_app(backend_app.backend, &fake).await;
    let m = member(&app, "child-orders@example.com").await;
    grant(&app, &m.org_id, 10_000).await;
    let expected = rating::cost(&london_rate(), 61).unwrap();
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let orders: Vec<Vec<usize>> = (0..4).permutations(4).collect();
    for (n, order) in orders.iter().enumerate() {
        let (status, call) = dial(&app, &m, LONDON, &format!("child-order-{n}")).await;
        assert_eq!(status, 200, "{call}");
        let row = call_row(&app, call["call_id"].as_str().unwrap()).await;
        let parent = parent_sid(&row.call_id);
        let child = child_sid(&row.call_id);
        let action = twilio_form::dial_action_params(&twilio_form::DialActionRequest {
            account_sid: fake_twilio::ACCOUNT_SID.to_owned(),
            parent_sid: parent.clone(),
            from: format!("client:member-{}", row.user_id),
            dial_sid: child.clone(),
            dial_status: CallStatus::Completed,
            dial_duration_secs: 61,
        });
        // The TwiML App's status callback for the browser's own leg.
        let parent_done = twilio_form::status_callback_params(&twilio_form::StatusCallback {
            account_sid: fake_twilio::ACCOUNT_SID.to_owned(),
            call_sid: parent.clone(),
            from: format!("client:member-{}", row.user_id),
            to: String::new(),
            status: CallStatus::Completed,
            sequence: 4,
            timestamp: row.created_at + 80,
            duration_secs: Some(75),
            parent_call_sid: None,
        });
        // 0..4: the child's events; 4: the dial action; 5: the parent's end.
        let mut deliveries: Vec<usize> = order.clone();
        for extra in [4, 5] {
            let at = rng.gen_range(0..=deliveries.len());
            deliveries.insert(at, extra);
        }
        let child_events = [
            (CallStatus::Initiated, 0, None),
            (CallStatus::Ringing, 1, None),
            (CallStatus::InProgress, 2, None),
            (CallStatus::Completed, 3, Some(61)),
        ];
        for &i in deliveries.iter().chain(deliveries.iter()) {
            match i {
                0..=3 => {
                    let (status, sequence, duration) = child_events[i];
                    assert_eq!(
                        deliver_status(&app, &row, status, sequence, duration).await,
                        204
                    );
                }
                4 => {
                    let path = format!("/webhooks/twilio/dial-action?call={}", row.call_id);
                    let (status, twiml) = post_signed(&app, &path, &action).await;
                    assert_eq!(status, 200);
                    assert_eq!(
                        twilio_form::parse_voice_answer(&twiml),
                        Ok(twilio_form::VoiceAnswer::HangUp { said: None })
                    );
                }
                _ => {
                    let (status, _) =
                        post_signed(&app, "/webhooks/twilio/status", &parent_done).await;
                    assert_eq!(status, 204);
                }
            }
        }
        let done = call_row(&app, &row.call_id).await;
        assert_eq!(done.status, CallStatus::Completed, "order {deliveries:?}");
        assert_eq!(done.carrier_sid.as_deref(), Some(child.as_str()));
        assert_eq!(done.parent_sid.as_deref(), Some(parent.as_str()));
        assert_eq!(done.duration_secs, Some(61));
        assert_eq!(done.cost, Some(expected.micros()));
    }
    let charged = charges(&app, &m.org_id).await;
    assert_eq!(charged, vec![-expected.micros(); 24]);
    // Keyed by the child leg, the one that was billed.
    let keys: Vec<String> = sqlx::query_scalar(
        "select idempotency_key from ledger_entry where kind = 'call_charge' order by idempotency_key",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert!(keys.iter().all(|k| k.starts_with("call:CAcc")), "{keys:?}");
    assert_eq!(held(&app, &m.org_id).await, Money::ZERO);
    assert_books_balance(&app, &m.org_id).await;
}

async fn a_callback_naming_another_browser_leg_is_ignored(backend_app: TestApp) {
    let fake = FakeTwilio::start().await;
    let app = twilio_app(backend_app.backend, &fake).await;
    let m = member(&app, "other-parent@example.com").await;
    grant(&app, &m.org_id, 100).await;
    let (_, call) = dial(&app, &m, LONDON, "other-parent").await;
    let row = call_row(&app, call["call_id"].as_str().unwrap()).await;
    let mut params = crate::calls::status_params(&row, CallStatus::Completed, 3, Some(600));
    for (name, value) in params.iter_mut() {
        if name == "ParentCallSid" {
            *value = "CAsomeoneelsesleg".into();
        }
    }
    let path = format!("/webhooks/twilio/status?call={}", row.call_id);
    assert_eq!(post_signed(&app, &path, &params).await.0, 204);
    let after = call_row(&app, &row.call_id).await;
    assert_eq!(
        (after.status, after.carrier_sid),
        (CallStatus::Queued, None)
    );
    assert!(charges(&app, &m.org_id).await.is_empty());
    assert_eq!(app.count("select count(*) from call_event").await, 0);
}

async fn the_voice_token_is_minted_for_members_only_and_only_in_twilio_mode(backend_app: TestApp) {
    let fake = FakeTwilio::start().await;
    let app = twilio_app(backend_app.backend, &fake).await;
    let m = member(&app, "token@example.com").await;
    let stranger = member(&app, "token-stranger@example.com").await;
    let user_id: String =
        sqlx::query_scalar("select user_id from app_user where email = 'token@example.com'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let before = clock::now();
    let response = app
        .call(&m.client, "calls/voice_token", &[("org_id", &m.org_id)])
        .await;
    assert_eq!(response.status(), 200);
    let token: Value = response.json().await.unwrap();
    assert_eq!(token["identity"], format!("member-{user_id}"));
    let expires_at = token["expires_at"].as_i64().unwrap();
    assert!((before + 3600..=clock::now() + 3600).contains(&expires_at));
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_issuer(&[fake_twilio::API_KEY_SID]);
    validation.sub = Some(fake_twilio::ACCOUNT_SID.to_owned());
    let claims = jsonwebtoken::decode::<Value>(
        token["token"].as_str().unwrap(),
        &jsonwebtoken::DecodingKey::from_secret(fake_twilio::API_KEY_SECRET.as_bytes()),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(claims["grants"]["identity"], format!("member-{user_id}"));
    assert_eq!(
        claims["grants"]["voice"],
        serde_json::json!({"outgoing": {"application_sid": fake_twilio::TWIML_APP_SID}})
    );
    assert_eq!(claims["exp"], expires_at);
    // Not a member of that organization: as if it did not exist.
    app.assert_not_found(
        &stranger.client,
        "calls/voice_token",
        &[("org_id", &m.org_id)],
    )
    .await;
    // Signed out: no token.
    let nobody = app.new_browser();
    let response = app
        .call(&nobody, "calls/voice_token", &[("org_id", &m.org_id)])
        .await;
    assert_eq!(response.status(), 401);

    // The simulated carrier has no browser leg to sign in.
    let simulated = TestApp::spawn(backend_app.backend).await;
    let sm = member(&simulated, "sim-token@example.com").await;
    let response = simulated
        .call(&sm.client, "calls/voice_token", &[("org_id", &sm.org_id)])
        .await;
    assert_eq!(response.status(), 409);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["Conflict"]["code"], "simulated_carrier");
    drop(backend_app);
}

async fn only_twilio_mode_hands_out_attempts_and_the_dialer_knows_the_mode(simulated: TestApp) {
    let fake = FakeTwilio::start().await;
    let twilio = twilio_app(simulated.backend, &fake).await;
    for (app, mode, attempt) in [(&simulated, "Simulated", false), (&twilio, "Twilio", true)] {
        let m = member(app, "mode@example.com").await;
        grant(app, &m.org_id, 100).await;
        let setup: Value = app
            .call(&m.client, "calls/dialer", &[("org_id", &m.org_id)])
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(setup["carrier_mode"], mode);
        let response = app
            .call(
                &m.client,
                "calls/start",
                &[
                    ("org_id", &m.org_id),
                    ("number", LONDON),
                    ("country", "GB"),
                    ("client_key", "mode"),
                ],
            )
            .await;
        assert_eq!(response.status(), 200);
        let started: Value = response.json().await.unwrap();
        assert_eq!(started["attempt"].is_string(), attempt, "{mode}: {started}");
        assert!(started["call"]["call_id"].is_string());
        // The same click again: the same call, and the attempt while unused.
        let again: Value = app
            .call(
                &m.client,
                "calls/start",
                &[
                    ("org_id", &m.org_id),
                    ("number", LONDON),
                    ("country", "GB"),
                    ("client_key", "mode"),
                ],
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(again["call"]["call_id"], started["call"]["call_id"]);
        assert_eq!(again["attempt"], started["attempt"]);
    }
}

async fn sim_legs(
    app: &TestApp,
) -> Vec<(String, Option<String>, String, String, i64, Option<i64>)> {
    sqlx::query_as(
        "select sid, parent_sid, scenario, status, time_limit_secs, ring_timeout_secs
         from sim_call order by created_at_ms, parent_sid",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap()
}

async fn the_simulated_carrier_connects_through_the_voice_webhook_and_follows_its_twiml(
    app: TestApp,
) {
    let m = member(&app, "sim-connect@example.com").await;
    grant(&app, &m.org_id, 10).await; // five minutes to London
    let (status, call) = dial(&app, &m, LONDON, "sim-connect").await;
    assert_eq!(status, 200, "{call}");
    let call_id = call["call_id"].as_str().unwrap().to_owned();
    app.run_jobs_until_count(
        &format!(
            "select count(*) from call where call_id = '{call_id}' and status = 'in-progress'"
        ),
        1,
    )
    .await;
    let row = call_row(&app, &call_id).await;
    // The browser's leg took the attempt through our voice webhook ...
    assert_eq!(
        app.count("select count(*) from call_attempt where taken_at is not null")
            .await,
        1
    );
    let legs = sim_legs(&app).await;
    assert_eq!(legs.len(), 2, "{legs:?}");
    let (parent, _, scenario, _, _, _) = &legs[0];
    assert_eq!(scenario, "client");
    assert_eq!(row.parent_sid.as_ref(), Some(parent));
    // ... and the leg it dialed is what our TwiML said: the number, the
    // call's own limit, our ring timeout.
    let (child, child_parent, _, child_status, limit, timeout) = &legs[1];
    assert_eq!(child_parent.as_ref(), Some(parent));
    assert_eq!(row.carrier_sid.as_ref(), Some(child));
    assert_eq!(child_status, "in-progress");
    assert_eq!(*limit, 300);
    assert_eq!(*timeout, Some(app::server::calls::RING_TIMEOUT_SECS as i64));
    let to: String = sqlx::query_scalar("select to_number from sim_call where sid = $1")
        .bind(child)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(to, "+442071838750");

    // End hangs up the browser's leg, which ends the dialed one.
    let ended = app
        .call(
            &m.client,
            "calls/end",
            &[("org_id", &m.org_id), ("call_id", &call_id)],
        )
        .await;
    assert_eq!(ended.status(), 200);
    app.settle_jobs().await;
    let done = call_row(&app, &call_id).await;
    assert_eq!(done.status, CallStatus::Completed);
    let legs = sim_legs(&app).await;
    assert!(legs.iter().all(|leg| leg.3 == "completed"), "{legs:?}");
    let cost = rating::cost(&london_rate(), done.duration_secs.unwrap() as u64).unwrap();
    assert_eq!(charges(&app, &m.org_id).await, vec![-cost.micros()]);
    assert_books_balance(&app, &m.org_id).await;
}

async fn the_simulated_carrier_reports_a_dialed_leg_that_ends_by_itself_to_the_dial_action(
    app: TestApp,
) {
    let m = member(&app, "sim-action@example.com").await;
    grant(&app, &m.org_id, 100).await;
    let (_, call) = dial(&app, &m, "+44 20 7183 0002", "sim-busy").await;
    let call_id = call["call_id"].as_str().unwrap().to_owned();
    // Busy: the dialed leg ends, the <Dial action> is answered, and then
    // the browser's leg completes.
    app.run_jobs_until_count(
        "select count(*) from sim_call where scenario = 'client' and status = 'completed'",
        1,
    )
    .await;
    let done = call_row(&app, &call_id).await;
    assert_eq!((done.status, done.cost), (CallStatus::Busy, Some(0)));
    assert_eq!(
        app.count("select count(*) from job where kind = 'carrier.sim_dial_action' and finished_at is not null")
            .await,
        1
    );
    let balance = app.db.balance(&m.org_id).await.unwrap();
    assert_eq!(
        (balance.balance, balance.held),
        (Money::from_cents(100).unwrap(), Money::ZERO)
    );
}

async fn the_simulated_carrier_fails_a_number_it_cannot_place_at_no_cost(app: TestApp) {
    let m = member(&app, "sim-refused@example.com").await;
    grant(&app, &m.org_id, 100).await;
    let (status, call) = dial(&app, &m, "+44 20 7183 0005", "sim-refused").await;
    assert_eq!(status, 200, "{call}");
    let call_id = call["call_id"].as_str().unwrap().to_owned();
    app.run_jobs_until_count(
        &format!("select count(*) from call where call_id = '{call_id}' and status = 'failed'"),
        1,
    )
    .await;
    let done = call_row(&app, &call_id).await;
    assert_eq!(done.cost, Some(0));
    let statuses: Vec<String> = app::server::db::calls::events(&app.db.pool, &call_id)
        .await
        .unwrap()
        .into_iter()
        .map(|(status, _, _)| status)
        .collect();
    assert_eq!(statuses, ["failed"], "it never rang");
    let balance = app.db.balance(&m.org_id).await.unwrap();
    assert_eq!(
        (balance.balance, balance.held),
        (Money::from_cents(100).unwrap(), Money::ZERO)
    );
}

async fn a_browser_leg_that_ends_before_dialing_anything_is_closed_by_the_next_sweep_at_no_cost(
    backend_app: TestApp,
) {
    let fake = FakeTwilio::start().await;
    let app = twilio_app(backend_app.backend, &fake).await;
    let m = member(&app, "early-hangup@example.com").await;
    grant(&app, &m.org_id, 100).await;
    let (_, call) = dial(&app, &m, LONDON, "early-hangup").await;
    let row = call_row(&app, call["call_id"].as_str().unwrap()).await;
    let parent = parent_sid(&row.call_id);
    // The member hung up (device.disconnect) before the <Dial> made a leg.
    fake.put_leg(&parent, "completed", None, "");
    let parent_done = twilio_form::status_callback_params(&twilio_form::StatusCallback {
        account_sid: fake_twilio::ACCOUNT_SID.to_owned(),
        call_sid: parent.clone(),
        from: format!("client:member-{}", row.user_id),
        to: String::new(),
        status: CallStatus::Completed,
        sequence: 1,
        timestamp: row.created_at + 3,
        duration_secs: Some(3),
        parent_call_sid: None,
    });
    assert_eq!(
        post_signed(&app, "/webhooks/twilio/status", &parent_done)
            .await
            .0,
        204
    );
    let marked = call_row(&app, &row.call_id).await;
    assert_eq!(
        marked.status,
        CallStatus::Queued,
        "not ended on the browser leg's word"
    );
    let asked = marked.end_requested_at.expect("marked as asked to end");
    assert_eq!(held(&app, &m.org_id).await, Money::from_cents(100).unwrap());

    let carrier = fake.carrier();
    let call_settings = settings();
    let sweep = |now| app::server::calls::sweep(&app.db, &carrier, &call_settings, now);
    assert_eq!(sweep(asked + 30).await.unwrap(), 0, "not due yet");
    // A minute later the sweeper asks Twilio: the browser leg is over and
    // dialed nothing, so nothing is owed.
    assert_eq!(sweep(asked + 60).await.unwrap(), 1);
    let done = call_row(&app, &row.call_id).await;
    assert_eq!((done.status, done.cost), (CallStatus::Failed, Some(0)));
    let balance = app.db.balance(&m.org_id).await.unwrap();
    assert_eq!(
        (balance.balance, balance.held),
        (Money::from_cents(100).unwrap(), Money::ZERO)
    );
    assert!(charges(&app, &m.org_id).await.is_empty());
    assert_books_balance(&app, &m.org_id).await;
}
