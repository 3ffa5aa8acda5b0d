//! Subscriptions through the signed Stripe webhook, on SQLite and PostgreSQL:
//! every lifecycle path ends in the same state whatever order its events
//! arrive in and however often; the derived access state gates calls and
//! invitations; owners are mailed once per cause. The owner's own changes
//! (seats, cancel, pause, portal, retry) are `billing.rs`.

use crate::calls::{dial, grant, member, LONDON};
use crate::common::TestApp;
use crate::on_both_databases;
use crate::teams::send_invitation;
use app::domain::access_state::AccessState;
use app::server::{clock, ids, subscriptions};
use serde_json::{json, Value};

on_both_databases!(
    every_lifecycle_path_ends_in_the_same_state_in_any_order_and_delivered_twice,
    every_lifecycle_path_delivered_all_at_once_and_twice_ends_in_the_same_state,
    a_paused_or_blocked_organization_cannot_start_calls_and_grace_still_can,
    seats_come_from_the_plan_and_the_free_plan_has_one,
    owners_are_mailed_once_when_a_payment_fails_and_when_the_plan_ends,
);

const DAY: i64 = 86_400;
const GRACE: i64 = 3 * DAY;

/// A Team subscription object as Stripe sends it, for `org_id`.
pub(crate) fn subscription(id: &str, org_id: &str, quantity: u32, now: i64) -> Value {
    json!({
        "id": id, "object": "subscription", "customer": "cus_test_1", "status": "active",
        "created": now, "cancel_at_period_end": false, "canceled_at": null, "ended_at": null,
        "trial_end": null, "pause_collection": null, "latest_invoice": "in_first",
        "metadata": {"org_id": org_id, "purpose": "subscription"},
        "current_period_start": now, "current_period_end": now + 20 * DAY,
        "items": {"object": "list", "data": [{
            "id": "si_1", "object": "subscription_item", "quantity": quantity,
            "current_period_start": now, "current_period_end": now + 20 * DAY,
            "price": {"id": "price_sandbox_team_monthly", "object": "price", "currency": "usd",
                      "unit_amount": 1500, "recurring": {"interval": "month"}}
        }]}
    })
}

fn with(mut object: Value, change: impl FnOnce(&mut Value)) -> Value {
    change(&mut object);
    object
}

fn invoice(id: &str, subscription_id: &str, org_id: &str, status: &str) -> Value {
    json!({
        "id": id, "object": "invoice", "customer": "cus_test_1", "status": status,
        "currency": "usd", "amount_due": 4500, "billing_reason": "subscription_cycle",
        "subscription": subscription_id,
        "parent": {"type": "subscription_details", "subscription_details": {
            "subscription": subscription_id, "metadata": {"org_id": org_id}}}
    })
}

pub(crate) fn event(kind: &str, object: Value, created: i64) -> Value {
    json!({
        "id": ids::new_id("evt_test"), "object": "event", "type": kind, "created": created,
        "livemode": false, "data": {"object": object}
    })
}

/// The organization's access state and seats as the product derives them now.
pub(crate) async fn access_of(app: &TestApp, org_id: &str) -> (AccessState, Option<u32>) {
    let mut conn = app.db.pool.acquire().await.unwrap();
    let access = subscriptions::access(&mut conn, org_id, clock::now(), GRACE)
        .await
        .unwrap();
    (access.state, access.subscription.map(|s| s.quantity))
}

async fn deliver(app: &TestApp, event: &Value) {
    let response = app.deliver_stripe(event).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

/// One subscription's events, told in order: each step changes the object
/// the subscription was created with (`t` is when the story starts).
struct Story {
    org: String,
    id: String,
    created: Value,
    t: i64,
    events: Vec<Value>,
}

impl Story {
    fn new(org: &str, t: i64, seats: u32) -> Self {
        let id = format!("sub_{org}");
        let created = subscription(&id, org, seats, t);
        let events = vec![event(
            "customer.subscription.created",
            created.clone(),
            t + 1,
        )];
        Story {
            org: org.to_owned(),
            id,
            created,
            t,
            events,
        }
    }

    /// `kind` at `t + at`: the created object changed by `change`.
    fn then(mut self, kind: &str, at: i64, change: impl FnOnce(&mut Value)) -> Self {
        let object = with(self.created.clone(), change);
        self.events.push(event(kind, object, self.t + at));
        self
    }

    fn updated(self, at: i64, change: impl FnOnce(&mut Value)) -> Self {
        self.then("customer.subscription.updated", at, change)
    }

    /// `invoice.paid` or `invoice.payment_failed` for invoice number `n`.
    fn invoice(mut self, kind: &str, n: u32, at: i64) -> Self {
        let status = if kind == "invoice.paid" {
            "paid"
        } else {
            "open"
        };
        let object = invoice(&format!("in_{n}_{}", self.org), &self.id, &self.org, status);
        self.events.push(event(kind, object, self.t + at));
        self
    }
}

fn paused(s: &mut Value, until: i64) {
    s["pause_collection"] = json!({"behavior": "void", "resumes_at": until});
}

/// One lifecycle path: its events for an organization, and where it ends.
struct Path {
    name: &'static str,
    story: fn(&str, i64) -> Story,
    ends: fn(i64) -> (AccessState, Option<u32>),
}

fn active(t: i64) -> AccessState {
    AccessState::Active {
        renews_at: Some(t + 20 * DAY),
    }
}

fn paths() -> Vec<Path> {
    vec![
        Path {
            name: "subscribe, then add seats",
            story: |org, t| {
                Story::new(org, t, 3)
                    .invoice("invoice.paid", 1, 1)
                    .updated(2, |s| s["items"]["data"][0]["quantity"] = json!(5))
            },
            ends: |t| (active(t), Some(5)),
        },
        Path {
            name: "cancel at the period end, then ended",
            story: |org, t| {
                Story::new(org, t, 2)
                    .updated(2, |s| s["cancel_at_period_end"] = json!(true))
                    .then("customer.subscription.deleted", 3, |s| {
                        s["status"] = json!("canceled");
                        s["cancel_at_period_end"] = json!(true);
                        s["ended_at"] = json!(t + 3);
                    })
            },
            ends: |t| {
                (
                    AccessState::Canceled {
                        ended_at: Some(t + 3),
                    },
                    Some(2),
                )
            },
        },
        Path {
            name: "cancel, then resume",
            story: |org, t| {
                Story::new(org, t, 2)
                    .updated(2, |s| s["cancel_at_period_end"] = json!(true))
                    .updated(3, |_| {})
            },
            ends: |t| (active(t), Some(2)),
        },
        Path {
            name: "pause until a date",
            story: |org, t| Story::new(org, t, 2).updated(2, |s| paused(s, t + 10 * DAY)),
            ends: |t| {
                let until = Some(t + 10 * DAY);
                (AccessState::PausedUntil { resumes_at: until }, Some(2))
            },
        },
        Path {
            name: "pause, then resume now",
            story: |org, t| {
                Story::new(org, t, 2)
                    .updated(2, |s| paused(s, t + 10 * DAY))
                    .updated(3, |_| {})
            },
            ends: |t| (active(t), Some(2)),
        },
        Path {
            name: "renewal fails: grace",
            story: |org, t| {
                Story::new(org, t, 2)
                    .updated(2, |s| s["status"] = json!("past_due"))
                    .invoice("invoice.payment_failed", 2, 2)
            },
            ends: |t| {
                (
                    AccessState::PastDueGrace {
                        until: t + 2 + GRACE,
                    },
                    Some(2),
                )
            },
        },
        Path {
            name: "renewal fails, then is paid",
            story: |org, t| {
                Story::new(org, t, 2)
                    .updated(2, |s| s["status"] = json!("past_due"))
                    .invoice("invoice.payment_failed", 2, 2)
                    .invoice("invoice.paid", 2, 3)
                    .updated(3, |_| {})
            },
            ends: |t| (active(t), Some(2)),
        },
    ]
}

/// Every order of `n` items (Heap's algorithm), or for long lists a fixed
/// spread of them: the identity, its reverse, and each rotation of both.
fn orders(n: usize) -> Vec<Vec<usize>> {
    if n > 4 {
        let forward: Vec<usize> = (0..n).collect();
        let mut all = Vec::new();
        for start in 0..n {
            let mut rotated = forward.clone();
            rotated.rotate_left(start);
            all.push(rotated.clone());
            rotated.reverse();
            all.push(rotated);
        }
        return all;
    }
    fn heap(k: usize, items: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if k <= 1 {
            out.push(items.clone());
            return;
        }
        for i in 0..k {
            heap(k - 1, items, out);
            let j = if k.is_multiple_of(2) { i } else { 0 };
            items.swap(j, k - 1);
        }
    }
    let mut out = Vec::new();
    heap(n, &mut (0..n).collect(), &mut out);
    out
}

async fn every_lifecycle_path_ends_in_the_same_state_in_any_order_and_delivered_twice(
    app: TestApp,
) {
    let t = clock::now() - 60;
    for path in paths() {
        let count = (path.story)("org_x", t).events.len();
        for order in orders(count) {
            let org = app.new_org().await;
            let events = (path.story)(&org, t).events;
            for round in 0..2 {
                for &i in &order {
                    deliver(&app, &events[i]).await;
                }
                assert_eq!(
                    access_of(&app, &org).await,
                    (path.ends)(t),
                    "{}: order {order:?}, round {round}",
                    path.name
                );
            }
        }
    }
    // Nothing but the events themselves was stored twice.
    assert_eq!(
        app.count("select count(*) from stripe_event where processed_at is null")
            .await,
        0
    );
}

/// Stripe delivers in parallel: each path's events sent all at once, every
/// one twice, for every path's organization together, still end where the
/// path ends. On PostgreSQL two deliveries truly overlap, so this holds only
/// if applying one organization's events is serialized.
async fn every_lifecycle_path_delivered_all_at_once_and_twice_ends_in_the_same_state(app: TestApp) {
    let t = clock::now() - 60;
    for round in 0..3 {
        let mut orgs = Vec::new();
        for path in paths() {
            orgs.push((app.new_org().await, path));
        }
        let events: Vec<Value> = orgs
            .iter()
            .flat_map(|(org, path)| {
                let events = (path.story)(org, t).events;
                [events.clone(), events].concat()
            })
            .collect();
        futures::future::join_all(events.iter().map(|event| deliver(&app, event))).await;
        for (org, path) in &orgs {
            assert_eq!(
                access_of(&app, org).await,
                (path.ends)(t),
                "{}: round {round}",
                path.name
            );
        }
    }
}

async fn a_paused_or_blocked_organization_cannot_start_calls_and_grace_still_can(app: TestApp) {
    let owner = member(&app, "owner@example.com").await;
    grant(&app, &owner.org_id, 5_000).await;
    let t = clock::now();
    let sub = subscription("sub_calls", &owner.org_id, 1, t - 100);
    deliver(
        &app,
        &event("customer.subscription.created", sub.clone(), t - 100),
    )
    .await;
    assert_eq!(dial(&app, &owner, LONDON, "active").await.0, 200);

    let paused = with(sub.clone(), |s| {
        s["pause_collection"] = json!({"behavior": "void", "resumes_at": t + 5 * DAY});
    });
    deliver(
        &app,
        &event("customer.subscription.updated", paused, t - 90),
    )
    .await;
    let (status, refused) = dial(&app, &owner, LONDON, "paused").await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["Conflict"]["code"], "subscription", "{refused}");
    assert!(
        refused["Conflict"]["message"]
            .as_str()
            .unwrap()
            .contains("paused until"),
        "{refused}"
    );

    deliver(
        &app,
        &event("customer.subscription.updated", sub.clone(), t - 80),
    )
    .await;
    assert_eq!(dial(&app, &owner, LONDON, "resumed").await.0, 200);

    // A renewal failed an hour ago: calls go on during the grace period.
    let past_due = with(sub, |s| s["status"] = json!("past_due"));
    deliver(
        &app,
        &event("customer.subscription.updated", past_due, t - 70),
    )
    .await;
    let failed = invoice("in_calls", "sub_calls", &owner.org_id, "open");
    deliver(
        &app,
        &event("invoice.payment_failed", failed.clone(), t - 3600),
    )
    .await;
    assert!(matches!(
        access_of(&app, &owner.org_id).await.0,
        AccessState::PastDueGrace { .. }
    ));
    assert_eq!(dial(&app, &owner, LONDON, "grace").await.0, 200);

    // The same invoice failed earlier still (a late, older event): past grace.
    deliver(
        &app,
        &event("invoice.payment_failed", failed, t - GRACE - 60),
    )
    .await;
    let (status, refused) = dial(&app, &owner, LONDON, "blocked").await;
    assert_eq!(status, 409, "{refused}");
    assert!(
        refused["Conflict"]["message"]
            .as_str()
            .unwrap()
            .contains("overdue"),
        "{refused}"
    );
    let before = app.count("select count(*) from call").await;

    // Paid: calls at once.
    let paid = invoice("in_calls", "sub_calls", &owner.org_id, "paid");
    deliver(&app, &event("invoice.paid", paid, t)).await;
    assert_eq!(dial(&app, &owner, LONDON, "paid").await.0, 200);
    assert_eq!(app.count("select count(*) from call").await, before + 1);
}

async fn seats_come_from_the_plan_and_the_free_plan_has_one(app: TestApp) {
    let owner = member(&app, "owner@example.com").await;
    let org = owner.org_id.clone();
    let invite = |email: &'static str| send_invitation(&app, &owner.client, &org, email, "member");
    let free = invite("one@example.com").await;
    assert_eq!(free.status(), 409);
    assert!(free
        .text()
        .await
        .unwrap()
        .contains("Free plan has one seat"));

    let t = clock::now();
    let sub = subscription("sub_seats", &org, 3, t);
    deliver(
        &app,
        &event("customer.subscription.created", sub.clone(), t),
    )
    .await;
    assert_eq!(invite("one@example.com").await.status(), 200);
    assert_eq!(invite("two@example.com").await.status(), 200);
    let full = invite("three@example.com").await;
    assert_eq!(full.status(), 409);
    assert!(full.text().await.unwrap().contains("all 3 seats are taken"));

    // The plan ends: everyone stays, nobody new joins.
    let ended = with(sub, |s| {
        s["status"] = json!("canceled");
        s["ended_at"] = json!(t + 1);
    });
    deliver(&app, &event("customer.subscription.deleted", ended, t + 1)).await;
    assert_eq!(
        app.count("select count(*) from invitation where revoked_at is null")
            .await,
        2
    );
    assert_eq!(invite("four@example.com").await.status(), 409);
}

async fn owners_are_mailed_once_when_a_payment_fails_and_when_the_plan_ends(app: TestApp) {
    let owner = member(&app, "owner@example.com").await;
    let org = owner.org_id.clone();
    let t = clock::now();
    let sub = subscription("sub_mail", &org, 1, t);
    deliver(
        &app,
        &event("customer.subscription.created", sub.clone(), t),
    )
    .await;
    let failed = invoice("in_mail", "sub_mail", &org, "open");
    for _ in 0..2 {
        deliver(
            &app,
            &event("invoice.payment_failed", failed.clone(), t + 1),
        )
        .await;
    }
    let mails = |subject: &'static str| {
        let app = &app;
        async move {
            app.count(&format!(
                "select count(*) from outbox_email where to_address = 'owner@example.com' and subject like '%{subject}%'"
            ))
            .await
        }
    };
    assert_eq!(mails("payment failed").await, 1);
    let ended = with(sub, |s| {
        s["status"] = json!("canceled");
        s["ended_at"] = json!(t + 2);
    });
    let deleted = event("customer.subscription.deleted", ended, t + 2);
    deliver(&app, &deleted).await;
    deliver(
        &app,
        &event(
            "customer.subscription.deleted",
            deleted["data"]["object"].clone(),
            t + 2,
        ),
    )
    .await;
    assert_eq!(mails("has ended").await, 1);
    let body: String =
        sqlx::query_scalar("select body from outbox_email where subject like '%has ended%'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert!(body.contains("Nothing was deleted"), "{body}");
}
