//! Buying credits through the sandbox provider, end to end over HTTP: the
//! checkout session, the sandbox's checkout page and test cards, the signed
//! event it sends to our own `/webhooks/stripe`, and auto-recharge.

use crate::common::{location, TestApp, PUBLIC_URL};
use crate::on_both_databases;
use app::domain::Money;
use app::server::db::ledger::{EntryKind, NewEntry};
use reqwest::Client;
use serde_json::Value;

on_both_databases!(
    buying_a_pack_sends_the_browser_to_a_sandbox_checkout_for_that_amount,
    a_double_submitted_buy_form_makes_one_checkout,
    amounts_outside_the_limits_are_refused_and_create_nothing,
    paying_with_the_success_card_credits_through_the_signed_webhook_exactly_once,
    a_declined_card_adds_nothing_and_the_session_stays_payable,
    another_organization_cannot_follow_or_pay_into_a_purchase,
    auto_recharge_charges_the_saved_card_back_to_the_target_once,
    three_failed_recharges_switch_it_off_and_tell_the_owners,
    only_owners_and_admins_manage_auto_recharge,
);

async fn signed_up(app: &TestApp, email: &str) -> (Client, String) {
    let browser = app.new_browser();
    app.register(&browser, "Buyer", email).await;
    let org = app.account(&browser).await["current_org"]["org_id"]
        .as_str()
        .unwrap()
        .to_owned();
    (browser, org)
}

/// Submits the buy form; returns where the server sent the browser.
async fn buy(
    app: &TestApp,
    browser: &Client,
    org: &str,
    amount: &str,
    form_key: &str,
) -> reqwest::Response {
    app.call(
        browser,
        "wallet/buy",
        &[("org_id", org), ("amount", amount), ("form_key", form_key)],
    )
    .await
}

fn session_of(checkout_url: &str) -> String {
    checkout_url
        .strip_prefix("/sandbox/checkout/")
        .expect("a sandbox checkout URL")
        .to_owned()
}

async fn pay(app: &TestApp, browser: &Client, session: &str, card: &str) -> reqwest::Response {
    app.call(
        browser,
        "sandbox/pay",
        &[("session_id", session), ("card_number", card)],
    )
    .await
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

async fn buying_a_pack_sends_the_browser_to_a_sandbox_checkout_for_that_amount(app: TestApp) {
    let (browser, org) = signed_up(&app, "buyer@example.com").await;
    let response = buy(&app, &browser, &org, "10", "form_key_one").await;
    let session = session_of(&location(&response));
    let view: Value = app
        .call(&browser, "sandbox/session", &[("session_id", &session)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["amount"], "$10.00");
    assert_eq!(view["credits"], 1000);
    assert_eq!(view["mode"], "payment");
    assert_eq!(view["paid"], false);
    assert_eq!(
        app.count(&format!(
            "select count(*) from checkout where org_id = '{org}' and amount = 10000000 and purpose = 'credits'"
        ))
        .await,
        1
    );
    assert_eq!(
        balance(&app, &org).await,
        Money::ZERO,
        "the redirect alone credits nothing"
    );
}

async fn a_double_submitted_buy_form_makes_one_checkout(app: TestApp) {
    let (browser, org) = signed_up(&app, "double@example.com").await;
    let first = location(&buy(&app, &browser, &org, "25", "form_key_same").await);
    let second = location(&buy(&app, &browser, &org, "25", "form_key_same").await);
    assert_eq!(first, second);
    assert_eq!(app.count("select count(*) from checkout").await, 1);
    let third = location(&buy(&app, &browser, &org, "25", "form_key_other").await);
    assert_ne!(first, third, "a new form is a new purchase");
}

async fn amounts_outside_the_limits_are_refused_and_create_nothing(app: TestApp) {
    let (browser, org) = signed_up(&app, "limits@example.com").await;
    for (amount, expected) in [
        ("4.99", "choose an amount from $5.00 to $500.00"),
        ("500.01", "choose an amount from $5.00 to $500.00"),
        ("ten", "enter an amount like 25 or 25.50"),
        ("10.001", "amounts have at most two decimals (whole cents)"),
        ("", "enter an amount in dollars"),
    ] {
        let response = buy(&app, &browser, &org, amount, "form_key_limits").await;
        assert_eq!(response.status(), 422, "{amount:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["Validation"]["field"], "amount");
        assert_eq!(body["Validation"]["message"], expected, "{amount:?}");
    }
    assert_eq!(app.count("select count(*) from checkout").await, 0);
    assert_eq!(app.count("select count(*) from sandbox_session").await, 0);
}

async fn paying_with_the_success_card_credits_through_the_signed_webhook_exactly_once(
    app: TestApp,
) {
    let (browser, org) = signed_up(&app, "payer@example.com").await;
    let session = session_of(&location(
        &buy(&app, &browser, &org, "10", "form_key_pay").await,
    ));
    let status = app
        .call(
            &browser,
            "wallet/purchase-status",
            &[("org_id", &org), ("checkout_id", &session)],
        )
        .await;
    assert_eq!(
        status.json::<Value>().await.unwrap(),
        Value::from("Pending")
    );

    let paid = pay(&app, &browser, &session, "4242 4242 4242 4242").await;
    assert_eq!(
        location(&paid),
        format!("{PUBLIC_URL}/wallet?checkout={session}")
    );
    // The sandbox's event travels through the job queue and the real webhook endpoint.
    app.settle_jobs().await;
    assert_eq!(
        app.count(&format!(
            "select count(*) from ledger_entry where idempotency_key = 'stripe:checkout:{session}'"
        ))
        .await,
        1
    );
    assert_eq!(balance(&app, &org).await, Money::from_dollars(10).unwrap());
    assert_eq!(
        app.count("select count(*) from stripe_event where event_type = 'checkout.session.completed' and processed_at is not null").await,
        1
    );
    let status: Value = app
        .call(
            &browser,
            "wallet/purchase-status",
            &[("org_id", &org), ("checkout_id", &session)],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["Credited"]["credits"], 1000);

    // Paying the same session again is a no-op that returns to the wallet.
    let again = pay(&app, &browser, &session, "4242424242424242").await;
    assert!(location(&again).ends_with(&session));
    app.settle_jobs().await;
    assert_eq!(
        app.count("select count(*) from job where finished_at is null")
            .await,
        0
    );
    assert_eq!(balance(&app, &org).await, Money::from_dollars(10).unwrap());
    assert_eq!(app.count("select count(*) from ledger_entry").await, 1);
}

async fn a_declined_card_adds_nothing_and_the_session_stays_payable(app: TestApp) {
    let (browser, org) = signed_up(&app, "declined@example.com").await;
    let session = session_of(&location(
        &buy(&app, &browser, &org, "10", "form_key_decl").await,
    ));
    for (card, message) in [
        ("4000 0000 0000 0002", "Your card was declined."),
        (
            "4242 4242 4242 4241",
            "Your card number is incomplete or invalid.",
        ),
        (
            "5555 5555 5555 4444",
            "This is a sandbox: use one of the test cards listed on this page.",
        ),
    ] {
        let response = pay(&app, &browser, &session, card).await;
        assert_eq!(response.status(), 422);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["Validation"]["message"], message);
    }
    app.settle_jobs().await;
    assert_eq!(
        app.count("select count(*) from job").await,
        0,
        "no event was sent"
    );
    assert_eq!(app.count("select count(*) from ledger_entry").await, 0);
    assert_eq!(balance(&app, &org).await, Money::ZERO);
    // The customer can still pay with another card.
    pay(&app, &browser, &session, "4242 4242 4242 4242").await;
    app.settle_jobs().await;
    assert_eq!(app.count("select count(*) from ledger_entry").await, 1);
}

async fn another_organization_cannot_follow_or_pay_into_a_purchase(app: TestApp) {
    let (alice, alices_org) = signed_up(&app, "alice@example.com").await;
    let (bob, _) = signed_up(&app, "bob@example.com").await;
    let session = session_of(&location(
        &buy(&app, &alice, &alices_org, "10", "form_key_alice").await,
    ));
    let peek = app
        .call(
            &bob,
            "wallet/purchase-status",
            &[("org_id", &alices_org), ("checkout_id", &session)],
        )
        .await;
    assert_eq!(peek.status(), 404);
    let buy_for_alice = buy(&app, &bob, &alices_org, "10", "form_key_bob").await;
    assert_eq!(buy_for_alice.status(), 404);
    assert_eq!(app.count("select count(*) from checkout").await, 1);
}

/// Saves a card through the sandbox's setup-mode checkout.
async fn save_card(app: &TestApp, browser: &Client, org: &str, card: &str) {
    let response = app
        .call(
            browser,
            "wallet/save-card",
            &[
                ("org_id", org),
                ("form_key", &app::server::ids::new_id("k")),
            ],
        )
        .await;
    let session = session_of(&location(&response));
    let paid = pay(app, browser, &session, card).await;
    assert_eq!(location(&paid), format!("{PUBLIC_URL}/wallet?card=saved"));
    app.settle_jobs().await;
    assert_eq!(
        app.count(&format!("select count(*) from wallet_settings where org_id = '{org}' and payment_method_id is not null"))
            .await,
        1
    );
}

async fn enable_auto_recharge(app: &TestApp, browser: &Client, org: &str) -> reqwest::Response {
    app.call(
        browser,
        "wallet/auto-recharge/save",
        &[
            ("org_id", org),
            ("enabled", "on"),
            ("threshold", "5"),
            ("target", "20"),
            ("monthly_cap", "100"),
        ],
    )
    .await
}

/// Spends money the way a call charge would, leaving `left` available.
async fn spend_down_to(app: &TestApp, org: &str, key: &str, amount: i64) {
    app.db
        .post(
            &NewEntry {
                org_id: org,
                kind: EntryKind::CallCharge,
                amount: Money::from_micros(-amount),
                actor: "test",
                description: "a call",
                idempotency_key: key,
            },
            app::server::clock::now(),
        )
        .await
        .unwrap();
}

async fn grant(app: &TestApp, org: &str, dollars: i64) {
    app.db
        .post(
            &NewEntry {
                org_id: org,
                kind: EntryKind::Grant,
                amount: Money::from_dollars(dollars).unwrap(),
                actor: "test",
                description: "starting credit",
                idempotency_key: &format!("grant:{org}"),
            },
            app::server::clock::now(),
        )
        .await
        .unwrap();
}

async fn auto_recharge_charges_the_saved_card_back_to_the_target_once(app: TestApp) {
    let (browser, org) = signed_up(&app, "auto@example.com").await;
    let refused = enable_auto_recharge(&app, &browser, &org).await;
    assert_eq!(refused.status(), 422, "no card saved yet");
    save_card(&app, &browser, &org, "4242 4242 4242 4242").await;
    assert_eq!(
        enable_auto_recharge(&app, &browser, &org).await.status(),
        200
    );

    grant(&app, &org, 10).await;
    spend_down_to(&app, &org, "call:1:charge", 6_500_000).await; // $3.50 left, below $5
                                                                 // The periodic scan (every second here) starts the attempt, outside the queue.
    app.run_jobs_until_count(
        "select count(*) from ledger_entry where kind = 'auto_recharge'",
        1,
    )
    .await;
    assert_eq!(balance(&app, &org).await, Money::from_dollars(20).unwrap());
    // The synchronous answer and the payment_intent.succeeded webhook both landed; one credit.
    assert_eq!(
        app.count("select count(*) from stripe_event where event_type = 'payment_intent.succeeded' and processed_at is not null")
            .await,
        1
    );
    // Give the scan time to run again (it must not start a second
    // attempt), then let anything it queued finish.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    app.settle_jobs().await;
    assert_eq!(
        app.count("select count(*) from ledger_entry where kind = 'auto_recharge'")
            .await,
        1
    );
    assert_eq!(
        app.count("select count(*) from auto_recharge_attempt where status = 'succeeded'")
            .await,
        1
    );
    assert_eq!(balance(&app, &org).await, Money::from_dollars(20).unwrap());
}

async fn three_failed_recharges_switch_it_off_and_tell_the_owners(app: TestApp) {
    let (browser, org) = signed_up(&app, "owner@example.com").await;
    // Stripe's 4000 0000 0000 0341: saves fine, every later charge is declined.
    save_card(&app, &browser, &org, "4000 0000 0000 0341").await;
    assert_eq!(
        enable_auto_recharge(&app, &browser, &org).await.status(),
        200
    );
    grant(&app, &org, 4).await; // below the $5 threshold
                                // Each attempt is started by the periodic scan, outside the queue.
    app.run_jobs_until_count(
        &format!("select count(*) from wallet_settings where org_id = '{org}' and auto_recharge_enabled = 0"),
        1,
    )
    .await;
    // Give the scan time to run again (it must not start a fourth
    // attempt), then let anything it queued finish.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    app.settle_jobs().await;
    assert_eq!(
        app.count("select count(*) from auto_recharge_attempt where status = 'failed'")
            .await,
        3
    );
    assert_eq!(
        app.count("select count(*) from auto_recharge_attempt")
            .await,
        3,
        "no attempt after it switched off"
    );
    assert_eq!(
        app.count("select count(*) from ledger_entry where kind = 'auto_recharge'")
            .await,
        0
    );
    assert_eq!(balance(&app, &org).await, Money::from_dollars(4).unwrap());
    assert_eq!(
        app.count("select count(*) from notice where kind = 'auto_recharge_disabled'")
            .await,
        1
    );
    assert_eq!(
        app.count("select count(*) from outbox_email where to_address = 'owner@example.com'")
            .await,
        1
    );
    let view: Value = app
        .call(&browser, "wallet/auto-recharge", &[("org_id", &org)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["enabled"], false);
    assert!(view["notices"][0]["message"]
        .as_str()
        .unwrap()
        .contains("switched off after 3 failed charges"));
}

async fn only_owners_and_admins_manage_auto_recharge(app: TestApp) {
    let (owner, org) = signed_up(&app, "boss@example.com").await;
    let (member, _) = signed_up(&app, "staff@example.com").await;
    let staff_id: (String,) =
        sqlx::query_as("select user_id from app_user where email = 'staff@example.com'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    sqlx::query(
        "insert into membership (org_id, user_id, role, created_at) values ($1, $2, 'member', 0)",
    )
    .bind(&org)
    .bind(&staff_id.0)
    .execute(&app.db.pool)
    .await
    .unwrap();
    let refused = enable_auto_recharge(&app, &member, &org).await;
    assert_eq!(refused.status(), 403);
    let card = app
        .call(
            &member,
            "wallet/save-card",
            &[("org_id", &org), ("form_key", "form_key_member")],
        )
        .await;
    assert_eq!(card.status(), 403);
    assert_eq!(app.count("select count(*) from checkout").await, 0);
    // Members may still buy credits and read the settings.
    assert!(buy(&app, &member, &org, "5", "form_key_member_buy")
        .await
        .headers()
        .contains_key("location"));
    let view: Value = app
        .call(&member, "wallet/auto-recharge", &[("org_id", &org)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["can_manage"], false);
    let _ = owner;
}
