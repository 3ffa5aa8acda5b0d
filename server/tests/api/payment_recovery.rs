//! Recovery paths for money coming in and going back out: an auto-recharge
//! whose job gives up, a charge still processing, setup events out of order,
//! refunds and disputes (with the debt they may leave), and the sandbox card
//! form under odd input. Stripe's part is played by signed events delivered
//! to `/webhooks/stripe` and, for off-session charges, by `FakeStripe`.

use crate::common::fake_stripe::{
    FakeStripe, GOOD_CARD, PROCESSING_CARD, SECRET_KEY, TEAM_ANNUAL_PRICE, TEAM_MONTHLY_PRICE,
};
use crate::common::{Backend, TestApp};
use crate::on_both_databases;
use app::domain::Money;
use app::server::clock;
use app::server::db::ledger::{EntryKind, NewEntry};
use serde_json::{json, Value};

on_both_databases!(
    an_auto_recharge_whose_job_gives_up_is_closed_as_failed_and_no_longer_blocks_the_next,
    a_processing_charge_stays_pending_until_its_webhook_and_counts_no_failure,
    a_processing_charge_without_news_closes_as_failed_after_the_wait,
    an_older_setup_delivered_last_does_not_replace_the_newer_card,
    a_refund_takes_back_the_refunded_amount_once_and_a_second_refund_only_the_new_part,
    a_refunded_auto_recharge_is_found_by_its_payment_intent,
    a_dispute_takes_back_the_disputed_amount_once,
    a_refund_below_what_calls_hold_records_a_debt_that_blocks_calls_until_a_purchase,
    a_card_number_with_a_no_break_space_before_its_last_digits_pays,
);

/// An app whose payment provider is the real Stripe adapter pointed at `fake`.
async fn stripe_app(backend: Backend, fake: &FakeStripe) -> TestApp {
    TestApp::spawn_with(
        backend,
        &[
            ("STRIPE_SECRET_KEY", SECRET_KEY),
            ("STRIPE_API_BASE", fake.url.as_str()),
            ("STRIPE_PRICE_TEAM_MONTHLY", TEAM_MONTHLY_PRICE),
            ("STRIPE_PRICE_TEAM_ANNUAL", TEAM_ANNUAL_PRICE),
        ],
    )
    .await
}

fn dollars(n: i64) -> Money {
    Money::from_dollars(n).unwrap()
}

async fn post(app: &TestApp, org: &str, kind: EntryKind, micros: i64, key: &str) {
    app.db
        .post(
            &NewEntry {
                org_id: org,
                kind,
                amount: Money::from_micros(micros),
                actor: "test",
                description: "test",
                idempotency_key: key,
            },
            clock::now(),
        )
        .await
        .unwrap();
}

/// Auto-recharge on ($5 threshold, $20 target, $100 a month) with a saved card.
async fn rule_with_card(app: &TestApp, org: &str, payment_method: &str) {
    app::server::db::purchases::save_auto_recharge(
        &app.db.pool,
        org,
        true,
        5_000_000,
        20_000_000,
        100_000_000,
        clock::now(),
    )
    .await
    .unwrap();
    sqlx::query(
        "update wallet_settings set payment_customer_id = 'cus_test_1', payment_method_id = $1
         where org_id = $2",
    )
    .bind(payment_method)
    .bind(org)
    .execute(&app.db.pool)
    .await
    .unwrap();
}

async fn balance(app: &TestApp, org: &str) -> Money {
    let balance = app.db.balance(org).await.unwrap();
    assert_eq!(
        balance,
        app.db.recomputed_balance(org).await.unwrap(),
        "balance = sum of entries"
    );
    balance.balance
}

async fn text(app: &TestApp, sql: &str) -> String {
    let (value,): (String,) = sqlx::query_as(sql).fetch_one(&app.db.pool).await.unwrap();
    value
}

async fn an_auto_recharge_whose_job_gives_up_is_closed_as_failed_and_no_longer_blocks_the_next(
    backend_app: TestApp,
) {
    let stripe = FakeStripe::start().await;
    stripe.fail_everything();
    let app = stripe_app(backend_app.backend, &stripe).await;
    let org = app.new_org().await;
    rule_with_card(&app, &org, GOOD_CARD).await;
    post(&app, &org, EntryKind::Grant, 4_000_000, "grant:1").await; // below $5

    // The scan starts the attempt; its job meets Stripe's outage and retries.
    app.run_jobs_until_count(
        "select count(*) from job where kind = 'wallet.auto_recharge' and last_error is not null",
        1,
    )
    .await;
    // Skip the backoff: the next run is the job's last allowed attempt.
    loop {
        let moved = sqlx::query(
            "update job set attempts = 11, run_at_ms = 0
             where kind = 'wallet.auto_recharge' and finished_at is null and locked_by is null",
        )
        .execute(&app.db.pool)
        .await
        .unwrap();
        if moved.rows_affected() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    app.run_jobs_until_count(
        "select count(*) from auto_recharge_attempt where status = 'failed'",
        1,
    )
    .await;
    let reason = text(
        &app,
        "select failure from auto_recharge_attempt where status = 'failed'",
    )
    .await;
    assert!(reason.contains("given up"), "{reason}");
    assert_eq!(
        app.count(&format!(
            "select auto_recharge_failures from wallet_settings where org_id = '{org}'"
        ))
        .await,
        1,
        "counted like a decline"
    );
    // No longer pending: the next scan may start a new attempt.
    app.run_jobs_until_count("select count(*) from auto_recharge_attempt", 2)
        .await;
    assert_eq!(
        app.count("select count(*) from ledger_entry where kind = 'auto_recharge'")
            .await,
        0
    );
}

/// Waits for the org's first auto-recharge charge to reach Stripe and come back processing.
async fn processing_attempt(app: &TestApp, org: &str) -> (String, String) {
    rule_with_card(app, org, PROCESSING_CARD).await;
    post(app, org, EntryKind::Grant, 4_000_000, "grant:1").await;
    app.run_jobs_until_count(
        "select count(*) from auto_recharge_attempt where payment_ref is not null",
        1,
    )
    .await;
    let (attempt_id, payment_ref, status): (String, String, String) =
        sqlx::query_as("select attempt_id, payment_ref, status from auto_recharge_attempt")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(status, "pending", "a processing payment is not a failure");
    (attempt_id, payment_ref)
}

fn payment_intent_event(
    event_id: &str,
    event_type: &str,
    payment_intent: &str,
    org: &str,
    attempt_id: &str,
    cents: i64,
) -> Value {
    json!({
        "id": event_id,
        "object": "event",
        "type": event_type,
        "created": clock::now(),
        "data": { "object": {
            "id": payment_intent,
            "object": "payment_intent",
            "amount": cents,
            "amount_received": if event_type == "payment_intent.succeeded" { cents } else { 0 },
            "currency": "usd",
            "status": if event_type == "payment_intent.succeeded" { "succeeded" } else { "requires_payment_method" },
            "latest_charge": format!("ch_of_{payment_intent}"),
            "metadata": { "org_id": org, "purpose": "auto_recharge", "attempt_id": attempt_id }
        }}
    })
}

async fn a_processing_charge_stays_pending_until_its_webhook_and_counts_no_failure(
    backend_app: TestApp,
) {
    let stripe = FakeStripe::start().await;
    let app = stripe_app(backend_app.backend, &stripe).await;
    let org = app.new_org().await;
    let (attempt_id, payment_ref) = processing_attempt(&app, &org).await;
    // Scans come and go: still one attempt, pending, no failure counted, no second charge.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    app.settle_jobs().await;
    assert_eq!(
        app.count("select count(*) from auto_recharge_attempt where status = 'pending'")
            .await,
        1
    );
    assert_eq!(
        app.count("select count(*) from auto_recharge_attempt")
            .await,
        1
    );
    assert_eq!(
        app.count("select auto_recharge_failures from wallet_settings")
            .await,
        0
    );
    assert_eq!(
        stripe
            .requests()
            .iter()
            .filter(|r| r.path == "/v1/payment_intents")
            .count(),
        1
    );
    assert_eq!(balance(&app, &org).await, dollars(4));

    let succeeded = payment_intent_event(
        "evt_pi_ok",
        "payment_intent.succeeded",
        &payment_ref,
        &org,
        &attempt_id,
        1_600,
    );
    assert_eq!(app.deliver_stripe(&succeeded).await.status(), 200);
    assert_eq!(balance(&app, &org).await, dollars(20));
    assert_eq!(
        text(&app, "select status from auto_recharge_attempt").await,
        "succeeded"
    );
}

async fn a_processing_charge_without_news_closes_as_failed_after_the_wait(backend_app: TestApp) {
    let stripe = FakeStripe::start().await;
    let app = stripe_app(backend_app.backend, &stripe).await;
    let org = app.new_org().await;
    let (attempt_id, payment_ref) = processing_attempt(&app, &org).await;
    // Four days on, Stripe has still said nothing.
    sqlx::query("update auto_recharge_attempt set created_at = created_at - 4 * 86400")
        .execute(&app.db.pool)
        .await
        .unwrap();
    app.run_jobs_until_count(
        "select count(*) from auto_recharge_attempt where status = 'failed'",
        1,
    )
    .await;
    let reason = text(
        &app,
        "select failure from auto_recharge_attempt where status = 'failed'",
    )
    .await;
    assert!(reason.contains("processing"), "{reason}");
    // If the money does arrive after all, it is credited.
    let late = payment_intent_event(
        "evt_pi_late",
        "payment_intent.succeeded",
        &payment_ref,
        &org,
        &attempt_id,
        1_600,
    );
    assert_eq!(app.deliver_stripe(&late).await.status(), 200);
    assert_eq!(
        text(
            &app,
            &format!("select status from auto_recharge_attempt where attempt_id = '{attempt_id}'")
        )
        .await,
        "succeeded"
    );
}

fn setup_event(event_id: &str, setup_intent: &str, org: &str, method: &str, created: i64) -> Value {
    json!({
        "id": event_id,
        "object": "event",
        "type": "setup_intent.succeeded",
        "created": created + 5,
        "data": { "object": {
            "id": setup_intent,
            "object": "setup_intent",
            "status": "succeeded",
            "created": created,
            "customer": "cus_test_1",
            "payment_method": method,
            "usage": "off_session",
            "metadata": { "org_id": org, "purpose": "save_card" }
        }}
    })
}

async fn an_older_setup_delivered_last_does_not_replace_the_newer_card(app: TestApp) {
    let org = app.new_org().await;
    let newer = setup_event("evt_new", "seti_new", &org, "pm_newer", 1_700_000_200);
    let older = setup_event("evt_old", "seti_old", &org, "pm_older", 1_700_000_100);
    assert_eq!(app.deliver_stripe(&newer).await.status(), 200);
    assert_eq!(app.deliver_stripe(&older).await.status(), 200);
    assert_eq!(
        text(&app, "select payment_method_id from wallet_settings").await,
        "pm_newer"
    );
    // A setup newer still replaces it.
    let newest = setup_event(
        "evt_newest",
        "seti_newest",
        &org,
        "pm_newest",
        1_700_000_300,
    );
    assert_eq!(app.deliver_stripe(&newest).await.status(), 200);
    assert_eq!(
        text(&app, "select payment_method_id from wallet_settings").await,
        "pm_newest"
    );
}

/// A paid credit checkout for `cents`, paid by `payment_intent`.
async fn paid_checkout(app: &TestApp, org: &str, session: &str, payment_intent: &str, cents: i64) {
    let event = json!({
        "id": format!("evt_{session}"),
        "object": "event",
        "type": "checkout.session.completed",
        "created": clock::now(),
        "data": { "object": {
            "id": session,
            "object": "checkout.session",
            "mode": "payment",
            "amount_total": cents,
            "currency": "usd",
            "payment_status": "paid",
            "payment_intent": payment_intent,
            "metadata": { "org_id": org, "purpose": "credits" }
        }}
    });
    assert_eq!(app.deliver_stripe(&event).await.status(), 200);
}

/// `charge.refunded` as Stripe sends it: the charge, with the total refunded so far.
fn refunded(
    event_id: &str,
    charge: &str,
    payment_intent: &str,
    amount: i64,
    refunded: i64,
) -> Value {
    json!({
        "id": event_id,
        "object": "event",
        "type": "charge.refunded",
        "created": clock::now(),
        "data": { "object": {
            "id": charge,
            "object": "charge",
            "amount": amount,
            "amount_captured": amount,
            "amount_refunded": refunded,
            "captured": true,
            "currency": "usd",
            "paid": true,
            "payment_intent": payment_intent,
            "refunded": refunded == amount,
            "status": "succeeded",
            "metadata": {}
        }}
    })
}

fn dispute(
    event_id: &str,
    dispute_id: &str,
    charge: &str,
    payment_intent: &str,
    cents: i64,
) -> Value {
    json!({
        "id": event_id,
        "object": "event",
        "type": "charge.dispute.created",
        "created": clock::now(),
        "data": { "object": {
            "id": dispute_id,
            "object": "dispute",
            "amount": cents,
            "charge": charge,
            "currency": "usd",
            "payment_intent": payment_intent,
            "reason": "fraudulent",
            "status": "needs_response",
            "is_charge_refundable": false,
            "metadata": {}
        }}
    })
}

async fn a_refund_takes_back_the_refunded_amount_once_and_a_second_refund_only_the_new_part(
    app: TestApp,
) {
    let org = app.new_org().await;
    paid_checkout(&app, &org, "cs_r1", "pi_r1", 5_000).await;
    assert_eq!(balance(&app, &org).await, dollars(50));

    let first = refunded("evt_ref_1", "ch_r1", "pi_r1", 5_000, 1_000);
    assert_eq!(app.deliver_stripe(&first).await.status(), 200);
    assert_eq!(app.deliver_stripe(&first).await.status(), 200);
    assert_eq!(balance(&app, &org).await, dollars(40));

    // A second refund: Stripe reports the cumulative total ($25); $15 is new.
    let second = refunded("evt_ref_2", "ch_r1", "pi_r1", 5_000, 2_500);
    assert_eq!(app.deliver_stripe(&second).await.status(), 200);
    assert_eq!(balance(&app, &org).await, dollars(25));
    // The first event redelivered late (a new event id, same total) changes nothing.
    let late = refunded("evt_ref_1_again", "ch_r1", "pi_r1", 5_000, 1_000);
    assert_eq!(app.deliver_stripe(&late).await.status(), 200);
    assert_eq!(balance(&app, &org).await, dollars(25));
    let keys: Vec<(String, i64)> = sqlx::query_as(
        "select idempotency_key, amount from ledger_entry where amount < 0 order by amount",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(
        keys,
        vec![
            ("stripe:refund:ch_r1:2500".to_owned(), -15_000_000),
            ("stripe:refund:ch_r1:1000".to_owned(), -10_000_000),
        ]
    );
    // A refund of a charge we never credited touches no one.
    let stranger = refunded("evt_ref_x", "ch_x", "pi_unknown", 900, 900);
    assert_eq!(app.deliver_stripe(&stranger).await.status(), 200);
    assert_eq!(app.count("select count(*) from ledger_entry").await, 3);
    assert_eq!(
        app.count("select count(*) from notice where kind = 'payment_reversed'")
            .await,
        2
    );
}

async fn a_refunded_auto_recharge_is_found_by_its_payment_intent(app: TestApp) {
    let org = app.new_org().await;
    sqlx::query(
        "insert into auto_recharge_attempt (attempt_id, org_id, amount, status, created_at)
         values ('arc_1', $1, 16000000, 'pending', $2)",
    )
    .bind(&org)
    .bind(clock::now())
    .execute(&app.db.pool)
    .await
    .unwrap();
    let succeeded = payment_intent_event(
        "evt_ar",
        "payment_intent.succeeded",
        "pi_ar",
        &org,
        "arc_1",
        1_600,
    );
    assert_eq!(app.deliver_stripe(&succeeded).await.status(), 200);
    assert_eq!(balance(&app, &org).await, dollars(16));
    let refund = refunded("evt_ar_ref", "ch_ar", "pi_ar", 1_600, 600);
    assert_eq!(app.deliver_stripe(&refund).await.status(), 200);
    assert_eq!(balance(&app, &org).await, dollars(10));
}

async fn a_dispute_takes_back_the_disputed_amount_once(app: TestApp) {
    let org = app.new_org().await;
    paid_checkout(&app, &org, "cs_d1", "pi_d1", 3_000).await;
    let disputed = dispute("evt_dp_1", "dp_1", "ch_d1", "pi_d1", 3_000);
    assert_eq!(app.deliver_stripe(&disputed).await.status(), 200);
    let again = dispute("evt_dp_1_again", "dp_1", "ch_d1", "pi_d1", 3_000);
    assert_eq!(app.deliver_stripe(&again).await.status(), 200);
    assert_eq!(balance(&app, &org).await, Money::ZERO);
    assert_eq!(
        text(
            &app,
            "select idempotency_key from ledger_entry where amount < 0"
        )
        .await,
        "stripe:dispute:dp_1"
    );
}

async fn a_refund_below_what_calls_hold_records_a_debt_that_blocks_calls_until_a_purchase(
    app: TestApp,
) {
    let owner = app.new_browser();
    app.register(&owner, "Owner", "owner@example.com").await;
    let org = app.account(&owner).await["current_org"]["org_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let operator = app.new_browser();
    app.register(&operator, "Operator", "ops@example.com").await;
    app::server::db::users::set_operator(&app.db.pool, "ops@example.com", true)
        .await
        .unwrap();

    paid_checkout(&app, &org, "cs_debt", "pi_debt", 1_000).await;
    // A live call holds $3 of the $10; then the whole $10 is refunded.
    app.db
        .place_hold(
            &org,
            dollars(3),
            "call:live:hold",
            clock::now() + 600,
            clock::now(),
        )
        .await
        .unwrap();
    let refund = refunded("evt_debt", "ch_debt", "pi_debt", 1_000, 1_000);
    assert_eq!(app.deliver_stripe(&refund).await.status(), 200);
    // The ledger records the refund in full (append-only), and the debt is explicit.
    assert_eq!(balance(&app, &org).await, Money::ZERO);
    assert_eq!(
        app.count(&format!(
            "select count(*) from wallet where org_id = '{org}' and in_debt_since is not null"
        ))
        .await,
        1
    );
    let notice = text(
        &app,
        "select message from notice where kind = 'payment_reversed'",
    )
    .await;
    assert!(notice.contains("owes"), "{notice}");
    for to in ["owner@example.com", "ops@example.com"] {
        assert_eq!(
            app.count(&format!(
                "select count(*) from outbox_email where to_address = '{to}'"
            ))
            .await,
            1,
            "{to}"
        );
    }

    let dial = |key: &'static str| {
        let (app, owner, org) = (&app, &owner, &org);
        async move {
            let response = app
                .call(
                    owner,
                    "calls/start",
                    &[
                        ("org_id", org.as_str()),
                        ("number", "+44 20 7183 8750"),
                        ("country", "GB"),
                        ("client_key", key),
                    ],
                )
                .await;
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, body) = dial("in-debt").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["Conflict"]["code"], "in_debt", "{body}");
    assert!(body.to_string().contains("owes"), "{body}");

    // The live call ends (its hold released) and a purchase pays the debt back.
    let hold_id = text(&app, "select hold_id from hold").await;
    app.db.release_hold(&hold_id, clock::now()).await.unwrap();
    paid_checkout(&app, &org, "cs_payback", "pi_payback", 2_000).await;
    assert_eq!(
        app.count(&format!(
            "select count(*) from wallet where org_id = '{org}' and in_debt_since is not null"
        ))
        .await,
        0
    );
    let (status, body) = dial("paid-back").await;
    assert_eq!(status, 200, "{body}");
}

async fn a_card_number_with_a_no_break_space_before_its_last_digits_pays(app: TestApp) {
    let browser = app.new_browser();
    app.register(&browser, "Buyer", "nbsp@example.com").await;
    let org = app.account(&browser).await["current_org"]["org_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bought = app
        .call(
            &browser,
            "wallet/buy",
            &[
                ("org_id", &org),
                ("amount", "10"),
                ("form_key", "nbsp-form"),
            ],
        )
        .await;
    let checkout = bought.headers()["location"].to_str().unwrap().to_owned();
    let session = checkout.strip_prefix("/sandbox/checkout/").unwrap();
    for odd in [
        "",
        "\u{a0}",
        &"9".repeat(10_000),
        "4242\u{2003}4242\u{3000}4242\u{1f4b3}",
    ] {
        let refused = app
            .call(
                &browser,
                "sandbox/pay",
                &[("session_id", session), ("card_number", odd)],
            )
            .await;
        assert!(
            refused.status().is_client_error(),
            "{odd:.20?}: {}",
            refused.status()
        );
    }
    let paid = app
        .call(
            &browser,
            "sandbox/pay",
            &[
                ("session_id", session),
                ("card_number", "4242 4242 4242 4\u{a0}242"),
            ],
        )
        .await;
    assert!(paid.headers().contains_key("location"), "{}", paid.status());
    app.settle_jobs().await;
    assert_eq!(balance(&app, &org).await, dollars(10));
    assert_eq!(
        text(&app, "select card_last4 from sandbox_session").await,
        "4242"
    );
}
