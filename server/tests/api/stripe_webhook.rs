//! `/webhooks/stripe`: signatures, storage and exactly-once crediting under
//! duplicates, reordering, concurrency and restarts.

use crate::common::{TestApp, STRIPE_WEBHOOK_SECRET};
use crate::on_both_databases;
use app::domain::Money;
use serde_json::{json, Value};
use server::providers::stripe::signature::sign;

on_both_databases!(
    a_paid_checkout_credits_the_organization_once,
    fifty_concurrent_deliveries_of_one_event_credit_once,
    forty_concurrent_distinct_purchases_all_credit,
    completed_and_async_succeeded_for_one_session_credit_once,
    events_in_any_order_duplicated_and_across_a_restart_reach_the_same_balance,
    bad_signatures_are_refused_and_store_nothing,
    unknown_and_unpaid_events_are_stored_and_acknowledged_without_credit,
    a_processing_failure_answers_500_so_stripe_retries_and_credits_nothing,
);

pub(crate) fn checkout_event(
    event_id: &str,
    event_type: &str,
    session_id: &str,
    org_id: &str,
    cents: i64,
    paid: bool,
) -> Value {
    json!({
        "id": event_id,
        "object": "event",
        "type": event_type,
        "created": 1_700_000_000,
        "data": { "object": {
            "id": session_id,
            "object": "checkout.session",
            "mode": "payment",
            "amount_total": cents,
            "currency": "usd",
            "payment_status": if paid { "paid" } else { "unpaid" },
            "metadata": { "org_id": org_id, "purpose": "credits" }
        }}
    })
}

async fn balance(app: &TestApp, org_id: &str) -> Money {
    let balance = app.db.balance(org_id).await.unwrap();
    assert_eq!(
        balance,
        app.db.recomputed_balance(org_id).await.unwrap(),
        "balance = sum of entries"
    );
    balance.balance
}

async fn a_paid_checkout_credits_the_organization_once(app: TestApp) {
    let org = app.new_org().await;
    let event = checkout_event(
        "evt_1",
        "checkout.session.completed",
        "cs_1",
        &org,
        1_000,
        true,
    );
    let first = app.deliver_stripe(&event).await;
    assert_eq!(first.status(), 200);
    assert_eq!(
        first.json::<Value>().await.unwrap(),
        json!({ "received": true })
    );
    let again = app.deliver_stripe(&event).await;
    assert_eq!(
        again.json::<Value>().await.unwrap(),
        json!({ "received": true, "duplicate": true })
    );

    assert_eq!(balance(&app, &org).await, Money::from_dollars(10).unwrap());
    let (kind, key, actor): (String, String, String) =
        sqlx::query_as("select kind, idempotency_key, actor from ledger_entry")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(
        (kind.as_str(), key.as_str(), actor.as_str()),
        ("purchase", "stripe:checkout:cs_1", "stripe:evt_1")
    );
    assert_eq!(
        app.count("select count(*) from stripe_event where processed_at is not null")
            .await,
        1
    );
}

async fn fifty_concurrent_deliveries_of_one_event_credit_once(app: TestApp) {
    let org = app.new_org().await;
    let event = checkout_event(
        "evt_race",
        "checkout.session.completed",
        "cs_race",
        &org,
        2_500,
        true,
    );
    let app = std::sync::Arc::new(app);
    let deliveries: Vec<_> = (0..50)
        .map(|_| {
            let (app, event) = (app.clone(), event.clone());
            tokio::spawn(async move { app.deliver_stripe(&event).await.status() })
        })
        .collect();
    for delivery in deliveries {
        assert_eq!(delivery.await.unwrap(), 200);
    }
    assert_eq!(app.count("select count(*) from ledger_entry").await, 1);
    assert_eq!(app.count("select count(*) from stripe_event").await, 1);
    assert_eq!(balance(&app, &org).await, Money::from_dollars(25).unwrap());
}

/// Concurrent writers on SQLite must wait for the lock, not fail with "database is locked".
async fn forty_concurrent_distinct_purchases_all_credit(app: TestApp) {
    let org = app.new_org().await;
    let app = std::sync::Arc::new(app);
    let deliveries: Vec<_> = (0..40)
        .map(|n| {
            let (app, org) = (app.clone(), org.clone());
            tokio::spawn(async move {
                let event = checkout_event(
                    &format!("evt_{n}"),
                    "checkout.session.completed",
                    &format!("cs_{n}"),
                    &org,
                    100,
                    true,
                );
                app.deliver_stripe(&event).await.status()
            })
        })
        .collect();
    for delivery in deliveries {
        assert_eq!(delivery.await.unwrap(), 200);
    }
    assert_eq!(balance(&app, &org).await, Money::from_dollars(40).unwrap());
}

async fn completed_and_async_succeeded_for_one_session_credit_once(app: TestApp) {
    let org = app.new_org().await;
    app.deliver_stripe(&checkout_event(
        "evt_a",
        "checkout.session.completed",
        "cs_9",
        &org,
        5_000,
        true,
    ))
    .await;
    app.deliver_stripe(&checkout_event(
        "evt_b",
        "checkout.session.async_payment_succeeded",
        "cs_9",
        &org,
        5_000,
        true,
    ))
    .await;
    assert_eq!(balance(&app, &org).await, Money::from_dollars(50).unwrap());
    assert_eq!(
        app.count("select count(*) from stripe_event where processed_at is not null")
            .await,
        2
    );
}

async fn events_in_any_order_duplicated_and_across_a_restart_reach_the_same_balance(app: TestApp) {
    let org = app.new_org().await;
    // A bank debit: `completed` arrives unpaid, the money later; plus two card payments.
    let events = [
        checkout_event(
            "evt_1",
            "checkout.session.completed",
            "cs_bank",
            &org,
            10_000,
            false,
        ),
        checkout_event(
            "evt_2",
            "checkout.session.async_payment_succeeded",
            "cs_bank",
            &org,
            10_000,
            true,
        ),
        checkout_event(
            "evt_3",
            "checkout.session.completed",
            "cs_card1",
            &org,
            500,
            true,
        ),
        checkout_event(
            "evt_4",
            "checkout.session.completed",
            "cs_card2",
            &org,
            2_000,
            true,
        ),
    ];
    // Newest first, each twice, half before and half after a restart.
    let mut order: Vec<&Value> = events.iter().rev().chain(events.iter()).collect();
    order.swap(1, 6);
    let (before, after) = order.split_at(4);
    for event in before {
        assert_eq!(app.deliver_stripe(event).await.status(), 200);
    }
    let app = app.restarted().await;
    for event in after {
        assert_eq!(app.deliver_stripe(event).await.status(), 200);
    }
    assert_eq!(
        balance(&app, &org).await,
        Money::from_cents(12_500).unwrap()
    );
    assert_eq!(app.count("select count(*) from ledger_entry").await, 3);
}

async fn bad_signatures_are_refused_and_store_nothing(app: TestApp) {
    let org = app.new_org().await;
    let body = serde_json::to_vec(&checkout_event(
        "evt_x",
        "checkout.session.completed",
        "cs_x",
        &org,
        1_000,
        true,
    ))
    .unwrap();
    let now = app::server::clock::now();
    let tampered = String::from_utf8(body.clone())
        .unwrap()
        .replace("1000", "100000");
    let cases: Vec<(Option<String>, Vec<u8>)> = vec![
        (Some(sign("whsec_wrong_secret", now, &body)), body.clone()),
        (
            Some(sign(STRIPE_WEBHOOK_SECRET, now, &body)),
            tampered.into_bytes(),
        ),
        (
            Some(sign(STRIPE_WEBHOOK_SECRET, now - 301, &body)),
            body.clone(),
        ),
        (Some("t=1,v1=nonsense".into()), body.clone()),
        (None, body.clone()),
    ];
    for (signature, body) in cases {
        let mut request = app.client.post(app.url("/webhooks/stripe")).body(body);
        if let Some(signature) = &signature {
            request = request.header("stripe-signature", signature);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 400, "{signature:?}");
    }
    assert_eq!(app.count("select count(*) from stripe_event").await, 0);
    assert_eq!(app.count("select count(*) from ledger_entry").await, 0);
}

async fn unknown_and_unpaid_events_are_stored_and_acknowledged_without_credit(app: TestApp) {
    let org = app.new_org().await;
    let unknown = json!({ "id": "evt_u", "type": "customer.created", "data": { "object": { "id": "cus_1" } } });
    assert_eq!(app.deliver_stripe(&unknown).await.status(), 200);
    let unpaid = checkout_event(
        "evt_p",
        "checkout.session.completed",
        "cs_p",
        &org,
        1_000,
        false,
    );
    assert_eq!(app.deliver_stripe(&unpaid).await.status(), 200);
    let stranger = checkout_event(
        "evt_s",
        "checkout.session.completed",
        "cs_s",
        "org_nobody",
        1_000,
        true,
    );
    assert_eq!(app.deliver_stripe(&stranger).await.status(), 200);
    assert_eq!(
        app.count("select count(*) from stripe_event where processed_at is not null")
            .await,
        3
    );
    assert_eq!(app.count("select count(*) from ledger_entry").await, 0);
    let (outcome,): (String,) =
        sqlx::query_as("select outcome from stripe_event where event_id = 'evt_u'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(outcome, "ignored: customer.created is not handled");
}

async fn a_processing_failure_answers_500_so_stripe_retries_and_credits_nothing(app: TestApp) {
    let org = app.new_org().await;
    // The session's ledger key already holds a different amount: the ledger refuses to post.
    let conflicting = app::server::db::ledger::NewEntry {
        org_id: &org,
        kind: app::server::db::ledger::EntryKind::Adjustment,
        amount: Money::from_dollars(1).unwrap(),
        actor: "test",
        description: "occupies the key",
        idempotency_key: "stripe:checkout:cs_f",
    };
    app.db.post(&conflicting, 0).await.unwrap();
    let event = checkout_event(
        "evt_f",
        "checkout.session.completed",
        "cs_f",
        &org,
        1_000,
        true,
    );
    assert_eq!(app.deliver_stripe(&event).await.status(), 500);
    assert_eq!(
        app.deliver_stripe(&event).await.status(),
        500,
        "a retry is processed again, not skipped"
    );
    assert_eq!(balance(&app, &org).await, Money::from_dollars(1).unwrap());
    let (processed, outcome): (Option<i64>, String) =
        sqlx::query_as("select processed_at, outcome from stripe_event")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(processed, None);
    assert!(outcome.starts_with("failed: "), "{outcome}");
}
