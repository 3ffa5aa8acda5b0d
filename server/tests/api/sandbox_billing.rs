//! The sandbox's subscriptions, over HTTP where a browser speaks (the
//! checkout page's pay call, the Billing Portal, the test clock's server
//! functions) and through the provider contract where the app's own code
//! will (`SubscriptionProvider`, built on the app's database). What the
//! sandbox tells the app is asserted as the Stripe events it queued for
//! `/webhooks/stripe`: their order, shapes and billing-clock `created`
//! (the webhook's handling of them is the core's, tested there).

use crate::common::fake_stripe::{FakeStripe, SECRET_KEY};
use crate::common::{TestApp, PUBLIC_URL};
use crate::on_both_databases;
use app::domain::Role;
use app::server::clock;
use app::server::db::billing_clock;
use app::server::providers::payments::{
    CheckoutRedirect, InvoicePayment, PaymentError, SubscriptionChange, SubscriptionCheckout,
    SubscriptionProvider,
};
use app::server::providers::sandbox::{SandboxPayments, DELIVERY_JOB};
use app::server::providers::sandbox_billing::plan::{
    period_end_after, Interval, PRICE_TEAM_ANNUAL, PRICE_TEAM_MONTHLY,
};
use reqwest::Client;
use serde_json::Value;
use std::collections::HashSet;

on_both_databases!(
    subscribing_at_checkout_sends_the_session_the_subscription_and_its_paid_invoice_in_order,
    a_declined_card_at_checkout_creates_nothing_and_unknown_prices_are_refused,
    each_change_answers_and_reports_the_updated_subscription_once,
    the_portal_shows_the_plan_and_invoices_and_changes_the_card_with_or_without_javascript,
    paying_an_open_invoice_declines_with_the_failing_card_and_pays_after_a_card_change,
    a_renewal_with_a_paying_card_bills_every_seat_and_moves_the_clock_to_the_period_end,
    a_renewal_with_a_declining_card_leaves_the_invoice_open_and_the_subscription_past_due,
    a_renewal_after_cancel_at_period_end_ends_the_subscription,
    a_renewal_clears_a_pause_that_ends_before_it_and_skips_the_charge_of_one_that_does_not,
    the_grace_step_moves_past_the_grace_period_after_the_first_failure_and_sends_nothing,
    only_owners_and_admins_move_their_own_organizations_clock,
);

const GRACE_SECS: i64 = 3 * 86_400;
const GOOD: &str = "4242 4242 4242 4242";
const DECLINED: &str = "4000 0000 0000 0002";
const FAILS_LATER: &str = "4000 0000 0000 0341";

async fn signed_up(app: &TestApp, email: &str) -> (Client, String) {
    let browser = app.new_browser();
    app.register(&browser, "Owner", email).await;
    let org = app.account(&browser).await["current_org"]["org_id"]
        .as_str()
        .unwrap()
        .to_owned();
    (browser, org)
}

fn provider(app: &TestApp) -> SandboxPayments {
    SandboxPayments::new(app.db.clone())
}

fn checkout_request(org: &str, price: &str, quantity: u32, key: &str) -> SubscriptionCheckout {
    SubscriptionCheckout {
        org_id: org.to_owned(),
        customer_id: None,
        customer_email: "owner@example.com".to_owned(),
        price_id: price.to_owned(),
        quantity,
        idempotency_key: key.to_owned(),
        success_url: format!("{PUBLIC_URL}/settings?subscribed={{CHECKOUT_SESSION_ID}}"),
        cancel_url: format!("{PUBLIC_URL}/settings"),
    }
}

async fn pay(app: &TestApp, browser: &Client, session: &str, card: &str) -> reqwest::Response {
    app.call(
        browser,
        "sandbox/pay",
        &[("session_id", session), ("card_number", card)],
    )
    .await
}

/// The sandbox events queued so far that the test has not looked at yet, in order.
struct Events {
    seen: HashSet<String>,
}

impl Events {
    fn new() -> Self {
        Self {
            seen: HashSet::new(),
        }
    }

    async fn take(&mut self, app: &TestApp) -> Vec<Value> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "select job_id, payload from job where kind = $1 order by run_at_ms, job_id",
        )
        .bind(DELIVERY_JOB)
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
        rows.into_iter()
            .filter(|(job_id, _)| self.seen.insert(job_id.clone()))
            .map(|(_, payload)| serde_json::from_str(&payload).unwrap())
            .collect()
    }
}

fn types(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|event| event["type"].as_str().unwrap())
        .collect()
}

async fn billing_now(app: &TestApp, org: &str) -> i64 {
    let mut conn = app.db.pool.acquire().await.unwrap();
    billing_clock::billing_now(&mut conn, org, clock::now())
        .await
        .unwrap()
}

/// An organization subscribed through the sandbox checkout with `card`.
struct Subscribed {
    browser: Client,
    org: String,
    customer: String,
    subscription: Value,
    events: Events,
}

impl Subscribed {
    fn id(&self) -> String {
        self.subscription["id"].as_str().unwrap().to_owned()
    }

    fn period_end(&self) -> i64 {
        self.subscription["current_period_end"].as_i64().unwrap()
    }

    /// Moves the test clock as the owner; the response.
    async fn advance(&self, app: &TestApp, step: &str) -> reqwest::Response {
        app.call(
            &self.browser,
            "sandbox/advance_clock",
            &[("org_id", self.org.as_str()), ("step", step)],
        )
        .await
    }

    async fn update(&self, app: &TestApp, change: SubscriptionChange, key: &str) -> Value {
        provider(app)
            .update_subscription(&self.id(), &change, key)
            .await
            .unwrap()
    }
}

async fn subscribe(app: &TestApp, email: &str, seats: u32, card: &str) -> Subscribed {
    let (browser, org) = signed_up(app, email).await;
    let redirect = provider(app)
        .create_subscription_checkout(&checkout_request(&org, PRICE_TEAM_MONTHLY, seats, email))
        .await
        .unwrap();
    let paid = pay(app, &browser, &redirect.session_id, card).await;
    assert!(
        paid.headers().contains_key("location"),
        "{:?}",
        paid.text().await
    );
    let mut events = Events::new();
    let sent = events.take(app).await;
    let subscription = sent[1]["data"]["object"].clone();
    Subscribed {
        browser,
        org,
        customer: redirect.customer_id.unwrap(),
        subscription,
        events,
    }
}

async fn subscribing_at_checkout_sends_the_session_the_subscription_and_its_paid_invoice_in_order(
    app: TestApp,
) {
    let (browser, org) = signed_up(&app, "owner@example.com").await;
    // The organization's billing clock runs ahead: the events must say so.
    let mut conn = app.db.pool.acquire().await.unwrap();
    billing_clock::advance(&mut conn, &org, 10 * 86_400, clock::now())
        .await
        .unwrap();
    drop(conn);
    let CheckoutRedirect {
        session_id,
        url,
        customer_id,
    } = provider(&app)
        .create_subscription_checkout(&checkout_request(&org, PRICE_TEAM_MONTHLY, 3, "key-1"))
        .await
        .unwrap();
    assert_eq!(url, format!("/sandbox/checkout/{session_id}"));
    let customer = customer_id.expect("a new customer");
    assert!(customer.starts_with("cus_test_"), "{customer}");

    let view: Value = app
        .call(&browser, "sandbox/session", &[("session_id", &session_id)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["mode"], "subscription");
    assert_eq!(view["amount"], "$45.00");
    assert_eq!(view["plan"]["seats"], 3);
    assert_eq!(view["plan"]["interval"], "month");
    assert_eq!(view["plan"]["unit_price"], "$15.00");
    let page = app.page(&browser, &url).await;
    assert!(page.contains("Subscribe: $45.00 per month"), "{page}");

    let mut events = Events::new();
    // Server functions answer a redirect as 200 with its `location`.
    let paid = pay(&app, &browser, &session_id, GOOD).await;
    assert_eq!(paid.status(), 200);
    assert_eq!(
        paid.headers()["location"],
        format!("{PUBLIC_URL}/settings?subscribed={session_id}").as_str()
    );
    let sent = events.take(&app).await;
    assert_eq!(
        types(&sent),
        [
            "checkout.session.completed",
            "customer.subscription.created",
            "invoice.paid"
        ]
    );
    let now = billing_now(&app, &org).await;
    for event in &sent {
        let created = event["created"].as_i64().unwrap();
        assert!(
            (now - 5..=now).contains(&created),
            "created on the billing clock ({now}): {event}"
        );
        assert_eq!(event["object"], "event");
        assert_eq!(event["api_version"], "2025-10-29.clover");
        assert!(event["id"].as_str().unwrap().starts_with("evt_test_"));
    }
    let session = &sent[0]["data"]["object"];
    let sub = &sent[1]["data"]["object"];
    let invoice = &sent[2]["data"]["object"];
    let sub_id = sub["id"].as_str().unwrap();
    assert!(sub_id.starts_with("sub_test_"));
    let metadata = serde_json::json!({ "org_id": org, "purpose": "subscription" });
    assert_eq!(
        *session,
        serde_json::json!({
            "id": session_id, "object": "checkout.session", "mode": "subscription",
            "status": "complete", "payment_status": "paid", "customer": customer,
            "subscription": sub_id, "amount_total": 4500, "currency": "usd",
            "metadata": metadata,
        })
    );
    let start = sub["current_period_start"].as_i64().unwrap();
    assert_eq!(sub["created"], start);
    assert_eq!(
        sub["current_period_end"],
        period_end_after(start, start, Interval::Month)
    );
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["customer"], customer.as_str());
    assert_eq!(sub["metadata"], metadata);
    assert_eq!(sub["cancel_at_period_end"], false);
    assert_eq!(sub["pause_collection"], Value::Null);
    assert_eq!(sub["trial_end"], Value::Null);
    assert_eq!(sub["latest_invoice"], invoice["id"]);
    let item = &sub["items"]["data"][0];
    assert_eq!(item["quantity"], 3);
    assert_eq!(item["price"]["id"], PRICE_TEAM_MONTHLY);
    assert_eq!(item["price"]["unit_amount"], 1500);
    assert_eq!(item["price"]["recurring"]["interval"], "month");
    assert_eq!(item["current_period_end"], sub["current_period_end"]);
    assert_eq!(invoice["status"], "paid");
    assert_eq!(invoice["billing_reason"], "subscription_create");
    assert_eq!(invoice["amount_due"], 4500);
    assert_eq!(invoice["amount_paid"], 4500);
    assert_eq!(invoice["attempt_count"], 1);
    assert_eq!(invoice["subscription"], sub_id);
    assert_eq!(
        invoice["parent"]["subscription_details"]["subscription"],
        sub_id
    );
    assert_eq!(
        invoice["parent"]["subscription_details"]["metadata"],
        metadata
    );
    assert_eq!(invoice["period_end"], sub["current_period_end"]);

    // The provider answers with the same object the event carried.
    assert_eq!(
        provider(&app).retrieve_subscription(sub_id).await.unwrap(),
        *sub
    );
    // Paying the completed session again sends nothing more.
    assert_eq!(pay(&app, &browser, &session_id, GOOD).await.status(), 200);
    assert!(events.take(&app).await.is_empty());
    // The events reach our own webhook, signed.
    app.settle_jobs().await;
    assert_eq!(
        app.count("select count(*) from stripe_event where event_type in ('checkout.session.completed', 'customer.subscription.created', 'invoice.paid')")
            .await,
        3
    );
    // The annual price is a year per seat.
    let annual = provider(&app)
        .create_subscription_checkout(&checkout_request(&org, PRICE_TEAM_ANNUAL, 2, "key-2"))
        .await
        .unwrap();
    let view: Value = app
        .call(
            &browser,
            "sandbox/session",
            &[("session_id", &annual.session_id)],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["amount"], "$300.00");
    assert_eq!(view["plan"]["interval"], "year");
}

async fn a_declined_card_at_checkout_creates_nothing_and_unknown_prices_are_refused(app: TestApp) {
    let (browser, org) = signed_up(&app, "owner@example.com").await;
    let redirect = provider(&app)
        .create_subscription_checkout(&checkout_request(&org, PRICE_TEAM_MONTHLY, 2, "key-1"))
        .await
        .unwrap();
    let declined = pay(&app, &browser, &redirect.session_id, DECLINED).await;
    assert_eq!(declined.status(), 422);
    let body: Value = declined.json().await.unwrap();
    assert_eq!(body["Validation"]["field"], "card_number");
    assert_eq!(body["Validation"]["message"], "Your card was declined.");
    for table in [
        "sandbox_subscription",
        "sandbox_invoice",
        "sandbox_customer",
    ] {
        assert_eq!(
            app.count(&format!("select count(*) from {table}")).await,
            0,
            "{table}"
        );
    }
    assert!(Events::new().take(&app).await.is_empty(), "no event");
    let view: Value = app
        .call(
            &browser,
            "sandbox/session",
            &[("session_id", &redirect.session_id)],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["paid"], false, "the session can still be paid");

    // A repeated idempotency key answers the same session.
    let again = provider(&app)
        .create_subscription_checkout(&checkout_request(&org, PRICE_TEAM_MONTHLY, 2, "key-1"))
        .await
        .unwrap();
    assert_eq!(again, redirect);
    match provider(&app)
        .create_subscription_checkout(&checkout_request(&org, PRICE_TEAM_MONTHLY, 5, "key-1"))
        .await
    {
        Err(PaymentError::Refused(message)) => assert!(message.contains("same parameters")),
        other => panic!("{other:?}"),
    }
    for (price, quantity) in [("price_team_gold", 1), (PRICE_TEAM_MONTHLY, 0)] {
        let refused = provider(&app)
            .create_subscription_checkout(&checkout_request(&org, price, quantity, "key-x"))
            .await;
        match refused {
            Err(PaymentError::Refused(message)) if quantity > 0 => {
                assert!(message.contains("price_team_gold"), "{message}")
            }
            Err(PaymentError::Refused(_)) => {}
            other => panic!("{price} × {quantity}: {other:?}"),
        }
    }
    assert_eq!(app.count("select count(*) from sandbox_session").await, 1);
}

async fn each_change_answers_and_reports_the_updated_subscription_once(app: TestApp) {
    let mut subscribed = subscribe(&app, "owner@example.com", 3, GOOD).await;
    let now = billing_now(&app, &subscribed.org).await;

    let seats = subscribed
        .update(&app, SubscriptionChange::Quantity(5), "k-seats")
        .await;
    assert_eq!(seats["items"]["data"][0]["quantity"], 5);
    let sent = subscribed.events.take(&app).await;
    assert_eq!(types(&sent), ["customer.subscription.updated"]);
    assert_eq!(sent[0]["data"]["object"], seats);
    assert_eq!(
        app.count("select count(*) from sandbox_invoice").await,
        1,
        "no invoice per change"
    );

    let canceling = subscribed
        .update(
            &app,
            SubscriptionChange::CancelAtPeriodEnd(true),
            "k-cancel",
        )
        .await;
    assert_eq!(canceling["cancel_at_period_end"], true);
    assert_eq!(canceling["status"], "active");
    let canceled_at = canceling["canceled_at"].as_i64().unwrap();
    assert!((now..=now + 5).contains(&canceled_at));
    let resumed = subscribed
        .update(
            &app,
            SubscriptionChange::CancelAtPeriodEnd(false),
            "k-resume",
        )
        .await;
    assert_eq!(resumed["cancel_at_period_end"], false);
    assert_eq!(resumed["canceled_at"], Value::Null);

    let resumes_at = now + 7 * 86_400;
    let paused = subscribed
        .update(&app, SubscriptionChange::Pause { resumes_at }, "k-pause")
        .await;
    assert_eq!(
        paused["pause_collection"],
        serde_json::json!({ "behavior": "void", "resumes_at": resumes_at })
    );
    assert_eq!(
        paused["status"], "active",
        "a paused subscription stays active"
    );
    let unpaused = subscribed
        .update(&app, SubscriptionChange::Unpause, "k-unpause")
        .await;
    assert_eq!(unpaused["pause_collection"], Value::Null);

    let sent = subscribed.events.take(&app).await;
    assert_eq!(types(&sent), ["customer.subscription.updated"; 4]);
    let objects: Vec<&Value> = sent.iter().map(|e| &e["data"]["object"]).collect();
    assert_eq!(objects, [&canceling, &resumed, &paused, &unpaused]);
    assert_eq!(
        provider(&app)
            .retrieve_subscription(&subscribed.id())
            .await
            .unwrap(),
        unpaused
    );

    // The same key answers the first answer and changes nothing again; with
    // another change it is refused.
    let replayed = subscribed
        .update(&app, SubscriptionChange::Quantity(5), "k-seats")
        .await;
    assert_eq!(replayed, seats);
    assert!(subscribed.events.take(&app).await.is_empty());
    let misused = provider(&app)
        .update_subscription(
            &subscribed.id(),
            &SubscriptionChange::Quantity(9),
            "k-seats",
        )
        .await;
    assert!(
        matches!(misused, Err(PaymentError::Refused(_))),
        "{misused:?}"
    );
    // A change that changes nothing sends nothing, as with Stripe.
    subscribed
        .update(&app, SubscriptionChange::Unpause, "k-unpause-again")
        .await;
    assert!(subscribed.events.take(&app).await.is_empty());

    for refused in [
        provider(&app)
            .update_subscription("sub_test_nope", &SubscriptionChange::Quantity(2), "k-1")
            .await,
        provider(&app)
            .update_subscription(&subscribed.id(), &SubscriptionChange::Quantity(0), "k-2")
            .await,
        provider(&app).retrieve_subscription("sub_test_nope").await,
    ] {
        assert!(
            matches!(refused, Err(PaymentError::Refused(_))),
            "{refused:?}"
        );
    }
}

async fn portal_url(app: &TestApp, customer: &str) -> String {
    provider(app)
        .billing_portal(customer, &format!("{PUBLIC_URL}/settings#billing"))
        .await
        .unwrap()
}

async fn the_portal_shows_the_plan_and_invoices_and_changes_the_card_with_or_without_javascript(
    app: TestApp,
) {
    let subscribed = subscribe(&app, "owner@example.com", 3, GOOD).await;
    let url = portal_url(&app, &subscribed.customer).await;
    let portal_id = url
        .strip_prefix("/sandbox/portal/")
        .expect("a sandbox portal URL")
        .to_owned();
    // Like Stripe's hosted pages, no Phonebooth login: a fresh browser.
    let stranger = app.new_browser();
    let view: Value = app
        .call(
            &stranger,
            "sandbox/portal",
            &[("portal_session_id", &portal_id)],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["return_url"], format!("{PUBLIC_URL}/settings#billing"));
    assert_eq!(view["card_last4"], "4242");
    assert_eq!(view["card_declines"], false);
    assert_eq!(view["plans"][0]["seats"], 3);
    assert_eq!(view["plans"][0]["interval"], "month");
    assert_eq!(view["plans"][0]["total"], "$45.00");
    assert_eq!(view["plans"][0]["status"], "active");
    assert!(view["plans"][0]["period_text"]
        .as_str()
        .unwrap()
        .starts_with("Renews on "));
    assert_eq!(view["invoices"].as_array().unwrap().len(), 1);
    assert_eq!(view["invoices"][0]["amount"], "$45.00");
    assert_eq!(view["invoices"][0]["paid"], true);
    let page = app.page(&stranger, &url).await;
    for shown in [
        "SANDBOX",
        "Card ending in 4242",
        "Return to Phonebooth",
        "$45.00 per month",
        "Update card",
    ] {
        assert!(page.contains(shown), "{shown:?} on the portal page");
    }

    // With JavaScript: the declined card is refused, 0341 is saved.
    let refused = app
        .call(
            &stranger,
            "sandbox/portal/card",
            &[("portal_session_id", &portal_id), ("card_number", DECLINED)],
        )
        .await;
    assert_eq!(refused.status(), 422);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["Validation"]["message"], "Your card was declined.");
    let changed = app
        .call(
            &stranger,
            "sandbox/portal/card",
            &[
                ("portal_session_id", &portal_id),
                ("card_number", FAILS_LATER),
            ],
        )
        .await;
    assert_eq!(changed.status(), 200);
    let (payment_method, last4): (String, String) = sqlx::query_as(
        "select payment_method_id, card_last4 from sandbox_customer where customer_id = $1",
    )
    .bind(&subscribed.customer)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(
        (payment_method.as_str(), last4.as_str()),
        ("pm_card_chargeDeclined", "0341")
    );

    // Without JavaScript: the form posts and the server sends the browser back.
    let page_url = app.url(&url);
    let post = |card: &'static str| {
        stranger
            .post(app.url("/api/sandbox/portal/card"))
            .header("sec-fetch-site", "same-origin")
            .header("accept", "text/html")
            .header("referer", page_url.clone())
            .form(&[
                ("portal_session_id", portal_id.as_str()),
                ("card_number", card),
            ])
            .send()
    };
    let failed = post(DECLINED).await.unwrap();
    assert_eq!(failed.status(), 302);
    let back = failed.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        back.starts_with(&page_url) && back.contains("__err="),
        "{back}"
    );
    let shown = stranger
        .get(&back)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        shown.contains("Your card was declined."),
        "the error without JavaScript"
    );
    let saved = post(GOOD).await.unwrap();
    assert!(saved.status().is_redirection(), "{}", saved.status());
    let back = saved.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        back.starts_with(&page_url) && !back.contains("__err="),
        "{back}"
    );
    assert!(app
        .page(&stranger, &url)
        .await
        .contains("Card ending in 4242"));
    assert!(
        subscribed_events_untouched(&app).await,
        "a card change sends no event"
    );

    // Unknown portal sessions and customers.
    app.assert_not_found(
        &stranger,
        "sandbox/portal",
        &[("portal_session_id", "bps_test_nope")],
    )
    .await;
    let unknown = provider(&app)
        .billing_portal("cus_test_nope", PUBLIC_URL)
        .await;
    assert!(
        matches!(unknown, Err(PaymentError::Refused(_))),
        "{unknown:?}"
    );
}

/// Only the checkout's three events exist.
async fn subscribed_events_untouched(app: &TestApp) -> bool {
    app.count(&format!(
        "select count(*) from job where kind = '{DELIVERY_JOB}'"
    ))
    .await
        == 3
}

async fn paying_an_open_invoice_declines_with_the_failing_card_and_pays_after_a_card_change(
    app: TestApp,
) {
    let mut subscribed = subscribe(&app, "owner@example.com", 2, FAILS_LATER).await;
    assert_eq!(subscribed.advance(&app, "renewal").await.status(), 200);
    let sent = subscribed.events.take(&app).await;
    let open = sent[0]["data"]["object"]["id"].as_str().unwrap().to_owned();

    let declined = provider(&app).pay_invoice(&open, "retry-1").await.unwrap();
    assert_eq!(
        declined,
        InvoicePayment::Declined {
            reason: "Your card was declined.".into()
        }
    );
    let sent = subscribed.events.take(&app).await;
    assert_eq!(types(&sent), ["invoice.payment_failed"]);
    let invoice = &sent[0]["data"]["object"];
    assert_eq!(invoice["attempt_count"], 2);
    assert_eq!(invoice["status"], "open");
    assert_eq!(invoice["last_finalization_error"], Value::Null);
    assert_eq!(invoice["created"], subscribed.period_end());
    // The same key again: the same answer, no second attempt.
    assert_eq!(
        provider(&app).pay_invoice(&open, "retry-1").await.unwrap(),
        declined
    );
    assert!(subscribed.events.take(&app).await.is_empty());

    let url = portal_url(&app, &subscribed.customer).await;
    let portal_id = url.rsplit('/').next().unwrap();
    let changed = app
        .call(
            &app.new_browser(),
            "sandbox/portal/card",
            &[("portal_session_id", portal_id), ("card_number", GOOD)],
        )
        .await;
    assert_eq!(changed.status(), 200);
    let paid = provider(&app).pay_invoice(&open, "retry-2").await.unwrap();
    assert_eq!(paid, InvoicePayment::Paid);
    let sent = subscribed.events.take(&app).await;
    assert_eq!(
        types(&sent),
        ["invoice.paid", "customer.subscription.updated"]
    );
    assert_eq!(sent[0]["data"]["object"]["attempt_count"], 3);
    assert_eq!(sent[0]["data"]["object"]["amount_paid"], 3000);
    assert_eq!(sent[1]["data"]["object"]["status"], "active");
    let now = billing_now(&app, &subscribed.org).await;
    assert!((now - 5..=now).contains(&sent[0]["created"].as_i64().unwrap()));

    // Paid already: Paid, and nothing sent.
    assert_eq!(
        provider(&app).pay_invoice(&open, "retry-3").await.unwrap(),
        InvoicePayment::Paid
    );
    assert!(subscribed.events.take(&app).await.is_empty());
    let unknown = provider(&app).pay_invoice("in_test_nope", "retry-4").await;
    assert!(
        matches!(unknown, Err(PaymentError::Refused(_))),
        "{unknown:?}"
    );
}

async fn clock(app: &TestApp, browser: &Client, org: &str) -> Value {
    let response = app.call(browser, "sandbox/clock", &[("org_id", org)]).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn a_renewal_with_a_paying_card_bills_every_seat_and_moves_the_clock_to_the_period_end(
    app: TestApp,
) {
    let mut subscribed = subscribe(&app, "owner@example.com", 3, GOOD).await;
    let before = clock(&app, &subscribed.browser, &subscribed.org).await;
    assert_eq!(before["offset_secs"], 0);
    subscribed
        .update(&app, SubscriptionChange::Quantity(4), "k-seats")
        .await;
    subscribed.events.take(&app).await;
    let end = subscribed.period_end();

    assert_eq!(subscribed.advance(&app, "renewal").await.status(), 200);
    let sent = subscribed.events.take(&app).await;
    assert_eq!(
        types(&sent),
        ["invoice.paid", "customer.subscription.updated"]
    );
    assert!(sent.iter().all(|event| event["created"] == end));
    let invoice = &sent[0]["data"]["object"];
    assert_eq!(invoice["billing_reason"], "subscription_cycle");
    assert_eq!(
        invoice["amount_due"],
        4 * 1500,
        "the seats now, at the unit price"
    );
    assert_eq!(invoice["status"], "paid");
    assert_eq!(invoice["period_start"], end);
    let sub = &sent[1]["data"]["object"];
    assert_eq!(sub["current_period_start"], end);
    let start = subscribed.subscription["created"].as_i64().unwrap();
    assert_eq!(
        sub["current_period_end"],
        period_end_after(start, end, Interval::Month)
    );
    assert_eq!(sub["latest_invoice"], invoice["id"]);
    assert_eq!(sub["status"], "active");

    let after = clock(&app, &subscribed.browser, &subscribed.org).await;
    let billing = after["billing_now"].as_i64().unwrap();
    assert!((end..=end + 5).contains(&billing), "{after} vs {end}");
    let offset = after["offset_secs"].as_i64().unwrap();
    assert!((end - clock::now() - 5..=end - clock::now() + 5).contains(&offset));

    // The next step goes one period further.
    assert_eq!(subscribed.advance(&app, "renewal").await.status(), 200);
    let sent = subscribed.events.take(&app).await;
    assert_eq!(sent[0]["created"], sub["current_period_end"]);
    assert_eq!(app.count("select count(*) from sandbox_invoice").await, 3);
}

async fn a_renewal_with_a_declining_card_leaves_the_invoice_open_and_the_subscription_past_due(
    app: TestApp,
) {
    let mut subscribed = subscribe(&app, "owner@example.com", 2, FAILS_LATER).await;
    assert_eq!(
        subscribed.subscription["status"], "active",
        "0341 pays the first invoice"
    );
    let end = subscribed.period_end();
    assert_eq!(subscribed.advance(&app, "renewal").await.status(), 200);
    let sent = subscribed.events.take(&app).await;
    assert_eq!(
        types(&sent),
        ["invoice.payment_failed", "customer.subscription.updated"]
    );
    let invoice = &sent[0]["data"]["object"];
    assert_eq!(invoice["status"], "open");
    assert_eq!(invoice["amount_due"], 3000);
    assert_eq!(invoice["amount_paid"], 0);
    assert_eq!(invoice["attempt_count"], 1);
    assert_eq!(invoice["billing_reason"], "subscription_cycle");
    let sub = &sent[1]["data"]["object"];
    assert_eq!(sub["status"], "past_due");
    assert_eq!(
        sub["current_period_start"], end,
        "the period moves on, as Stripe's does"
    );
    assert_eq!(sub["latest_invoice"], invoice["id"]);
}

async fn a_renewal_after_cancel_at_period_end_ends_the_subscription(app: TestApp) {
    let mut subscribed = subscribe(&app, "owner@example.com", 1, GOOD).await;
    let asked = subscribed
        .update(
            &app,
            SubscriptionChange::CancelAtPeriodEnd(true),
            "k-cancel",
        )
        .await;
    subscribed.events.take(&app).await;
    let end = subscribed.period_end();
    assert_eq!(subscribed.advance(&app, "renewal").await.status(), 200);
    let sent = subscribed.events.take(&app).await;
    assert_eq!(types(&sent), ["customer.subscription.deleted"]);
    assert_eq!(sent[0]["created"], end);
    let sub = &sent[0]["data"]["object"];
    assert_eq!(sub["status"], "canceled");
    assert_eq!(sub["ended_at"], end);
    assert_eq!(sub["canceled_at"], asked["canceled_at"]);
    assert_eq!(app.count("select count(*) from sandbox_invoice").await, 1);

    let ended = subscribed.advance(&app, "renewal").await;
    assert_eq!(ended.status(), 409);
    let body: Value = ended.json().await.unwrap();
    assert_eq!(body["Conflict"]["code"], "subscription_ended");
    let change = provider(&app)
        .update_subscription(&subscribed.id(), &SubscriptionChange::Quantity(2), "k-late")
        .await;
    assert!(
        matches!(change, Err(PaymentError::Refused(_))),
        "{change:?}"
    );
}

async fn a_renewal_clears_a_pause_that_ends_before_it_and_skips_the_charge_of_one_that_does_not(
    app: TestApp,
) {
    let mut subscribed = subscribe(&app, "owner@example.com", 2, GOOD).await;
    let end = subscribed.period_end();
    let resumes_at = end - 5 * 86_400;
    subscribed
        .update(&app, SubscriptionChange::Pause { resumes_at }, "k-pause-1")
        .await;
    subscribed.events.take(&app).await;
    assert_eq!(subscribed.advance(&app, "renewal").await.status(), 200);
    let sent = subscribed.events.take(&app).await;
    assert_eq!(
        types(&sent),
        [
            "customer.subscription.updated",
            "invoice.paid",
            "customer.subscription.updated"
        ]
    );
    assert_eq!(sent[0]["created"], resumes_at);
    assert_eq!(sent[0]["data"]["object"]["pause_collection"], Value::Null);
    assert_eq!(sent[1]["created"], end);

    // Paused past the next period end: that period goes by without a charge.
    let next_end = sent[2]["data"]["object"]["current_period_end"]
        .as_i64()
        .unwrap();
    let far = next_end + 40 * 86_400;
    subscribed
        .update(
            &app,
            SubscriptionChange::Pause { resumes_at: far },
            "k-pause-2",
        )
        .await;
    subscribed.events.take(&app).await;
    assert_eq!(subscribed.advance(&app, "renewal").await.status(), 200);
    let sent = subscribed.events.take(&app).await;
    assert_eq!(types(&sent), ["customer.subscription.updated"]);
    let sub = &sent[0]["data"]["object"];
    assert_eq!(sub["current_period_start"], next_end);
    assert_eq!(sub["pause_collection"]["resumes_at"], far);
    assert_eq!(sub["status"], "active");
    assert_eq!(
        app.count("select count(*) from sandbox_invoice").await,
        2,
        "no invoice for the paused period"
    );
}

async fn the_grace_step_moves_past_the_grace_period_after_the_first_failure_and_sends_nothing(
    app: TestApp,
) {
    let mut subscribed = subscribe(&app, "owner@example.com", 2, FAILS_LATER).await;
    let no_failure = subscribed.advance(&app, "grace").await;
    assert_eq!(no_failure.status(), 409);
    let body: Value = no_failure.json().await.unwrap();
    assert_eq!(body["Conflict"]["code"], "no_failed_payment");

    let failed_at = subscribed.period_end();
    assert_eq!(subscribed.advance(&app, "renewal").await.status(), 200);
    subscribed.events.take(&app).await;
    assert_eq!(subscribed.advance(&app, "grace").await.status(), 200);
    assert!(
        subscribed.events.take(&app).await.is_empty(),
        "no retry by itself"
    );
    let billing = clock(&app, &subscribed.browser, &subscribed.org).await["billing_now"]
        .as_i64()
        .unwrap();
    let past_grace = failed_at + GRACE_SECS + 60;
    assert!(
        (past_grace..=past_grace + 5).contains(&billing),
        "{billing} vs {past_grace}"
    );
}

async fn only_owners_and_admins_move_their_own_organizations_clock(app: TestApp) {
    let mut subscribed = subscribe(&app, "owner@example.com", 2, GOOD).await;
    let org = subscribed.org.clone();
    let join = |email: &'static str, role: Role| {
        let app = &app;
        let org = org.clone();
        async move {
            let (browser, _) = signed_up(app, email).await;
            let user_id: String =
                sqlx::query_scalar("select user_id from app_user where email = $1")
                    .bind(email)
                    .fetch_one(&app.db.pool)
                    .await
                    .unwrap();
            app::server::db::orgs::add_member(&app.db.pool, &org, &user_id, role, clock::now())
                .await
                .unwrap();
            browser
        }
    };
    let member = join("member@example.com", Role::Member).await;
    let admin = join("admin@example.com", Role::Admin).await;
    let form = [("org_id", org.as_str()), ("step", "renewal")];

    let refused = app.call(&member, "sandbox/advance_clock", &form).await;
    assert_eq!(refused.status(), 403);
    assert_eq!(
        clock(&app, &member, &org).await["offset_secs"],
        0,
        "members may read it"
    );
    let logged_out = app
        .call(&app.new_browser(), "sandbox/advance_clock", &form)
        .await;
    assert_eq!(logged_out.status(), 401);
    let (outsider, outsider_org) = signed_up(&app, "outsider@example.com").await;
    app.assert_not_found(&outsider, "sandbox/advance_clock", &form)
        .await;
    app.assert_not_found(&outsider, "sandbox/clock", &[("org_id", org.as_str())])
        .await;
    assert!(
        subscribed.events.take(&app).await.is_empty(),
        "nothing moved"
    );

    // The outsider's own organization has no subscription to act on.
    let none = app
        .call(
            &outsider,
            "sandbox/advance_clock",
            &[("org_id", outsider_org.as_str()), ("step", "renewal")],
        )
        .await;
    assert_eq!(none.status(), 409);
    let body: Value = none.json().await.unwrap();
    assert_eq!(body["Conflict"]["code"], "no_subscription");
    for step in ["", "month", "Renewal"] {
        let bad = app
            .call(
                &subscribed.browser,
                "sandbox/advance_clock",
                &[("org_id", org.as_str()), ("step", step)],
            )
            .await;
        assert_eq!(bad.status(), 422, "{step:?}");
        let body: Value = bad.json().await.unwrap();
        assert_eq!(body["Validation"]["field"], "step");
    }

    let by_admin = app.call(&admin, "sandbox/advance_clock", &form).await;
    assert_eq!(by_admin.status(), 200);
    assert_eq!(
        types(&subscribed.events.take(&app).await),
        ["invoice.paid", "customer.subscription.updated"]
    );

    // With Stripe configured, none of the sandbox exists.
    let fake = FakeStripe::start().await;
    let stripe = TestApp::spawn_with(
        app.backend,
        &[
            ("STRIPE_SECRET_KEY", SECRET_KEY),
            ("STRIPE_API_BASE", fake.url.as_str()),
            ("STRIPE_PRICE_TEAM_MONTHLY", "price_team_monthly_test"),
            ("STRIPE_PRICE_TEAM_ANNUAL", "price_team_annual_test"),
        ],
    )
    .await;
    let (owner, stripe_org) = signed_up(&stripe, "owner@example.com").await;
    for (function, form) in [
        (
            "sandbox/advance_clock",
            vec![("org_id", stripe_org.as_str()), ("step", "renewal")],
        ),
        ("sandbox/clock", vec![("org_id", stripe_org.as_str())]),
        ("sandbox/portal", vec![("portal_session_id", "bps_test_1")]),
        (
            "sandbox/portal/card",
            vec![("portal_session_id", "bps_test_1"), ("card_number", GOOD)],
        ),
    ] {
        stripe.assert_not_found(&owner, function, &form).await;
    }
}
