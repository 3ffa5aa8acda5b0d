//! The organization's subscription as the payment provider describes it, and
//! what follows from it. Webhook events (`server/src/webhooks/stripe.rs`) and
//! the provider's answers to our own changes (`server::billing`) both come
//! here as Stripe's JSON, and are applied the same way: the stored row is
//! recomputed from the whole subscription object, never incremented, and an
//! object older than the one last applied changes nothing. Failed and paid
//! invoices are kept per invoice, so their events may arrive in any order.
//! What the organization may do is then derived by one pure function,
//! `domain::access_state::derive`, on the organization's billing clock.

use super::db::{self, notices, subscriptions as store};
use crate::domain::access_state::{self, AccessState, SubscriptionFacts};
use crate::domain::plan::day_of;
use crate::domain::{PlanInterval, Role};
use serde_json::Value;
use sqlx::AnyConnection;

/// The organization's subscription, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    pub org_id: String,
    pub subscription_id: String,
    pub customer_id: String,
    pub price_id: String,
    pub interval: PlanInterval,
    pub quantity: u32,
    pub unit_amount_cents: Option<i64>,
    pub status: String,
    pub cancel_at_period_end: bool,
    pub paused: bool,
    pub pause_resumes_at: Option<i64>,
    pub current_period_end: Option<i64>,
    pub trial_end: Option<i64>,
    pub ended_at: Option<i64>,
    /// Unpaid invoices whose payment failed, oldest failure first.
    pub overdue_invoices: Vec<String>,
    /// When the oldest of them first failed: the grace period counts from it.
    pub payment_failed_at: Option<i64>,
}

impl Subscription {
    pub fn facts(&self) -> SubscriptionFacts {
        SubscriptionFacts {
            status: self.status.clone(),
            cancel_at_period_end: self.cancel_at_period_end,
            paused: self.paused,
            pause_resumes_at: self.pause_resumes_at,
            current_period_end: self.current_period_end,
            trial_end: self.trial_end,
            ended_at: self.ended_at,
            payment_failed_at: self.payment_failed_at,
        }
    }
}

/// An organization's access, as of one instant of its billing clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgAccess {
    pub state: AccessState,
    /// The subscription it was derived from.
    pub subscription: Option<Subscription>,
    /// The instant, on the organization's billing clock (countdowns count from it).
    pub billing_now: i64,
}

/// The organization's access state now (its billing clock).
pub async fn access(
    conn: &mut AnyConnection,
    org_id: &str,
    now: i64,
    grace_secs: i64,
) -> Result<OrgAccess, sqlx::Error> {
    let subscription = load(conn, org_id).await?;
    let billing_now = db::billing_clock::billing_now(conn, org_id, now).await?;
    let facts = subscription.as_ref().map(Subscription::facts);
    Ok(OrgAccess {
        state: access_state::derive(facts.as_ref(), billing_now, grace_secs),
        subscription,
        billing_now,
    })
}

/// The stored subscription of `org_id`, with its overdue invoices.
pub async fn load(
    conn: &mut AnyConnection,
    org_id: &str,
) -> Result<Option<Subscription>, sqlx::Error> {
    let Some(row) = store::for_org(&mut *conn, org_id).await? else {
        return Ok(None);
    };
    let failed = store::failed_invoices(&mut *conn, &row.subscription_id).await?;
    Ok(Some(from_row(row, failed)))
}

fn from_row(row: store::Row, failed: Vec<(String, i64)>) -> Subscription {
    Subscription {
        interval: PlanInterval::parse(&row.plan_interval).unwrap_or(PlanInterval::Monthly),
        quantity: u32::try_from(row.quantity.max(0)).unwrap_or(u32::MAX),
        payment_failed_at: failed.first().map(|(_, at)| *at),
        overdue_invoices: failed.into_iter().map(|(id, _)| id).collect(),
        cancel_at_period_end: row.cancel_at_period_end != 0,
        paused: row.paused != 0,
        org_id: row.org_id,
        subscription_id: row.subscription_id,
        customer_id: row.customer_id,
        price_id: row.price_id,
        unit_amount_cents: row.unit_amount_cents,
        status: row.status,
        pause_resumes_at: row.pause_resumes_at,
        current_period_end: row.current_period_end,
        trial_end: row.trial_end,
        ended_at: row.ended_at,
    }
}

/// What applying a subscription object or an invoice did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The organization's subscription now reads as the object says.
    Stored {
        org_id: String,
        status: String,
    },
    /// An invoice's payment was recorded.
    Invoice {
        org_id: String,
        invoice_id: String,
        paid: bool,
    },
    /// Older than what was applied already: nothing changed.
    Stale {
        org_id: String,
    },
    /// As old as what was applied and different from it: which came last
    /// cannot be told, so the caller should fetch the subscription and
    /// apply that (`Freshness::Fetched`).
    Doubtful {
        subscription_id: String,
    },
    Ignored(String),
}

/// How recent an object is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// From an event created at this time (billing clock for the sandbox).
    Event(i64),
    /// Just fetched from, or answered by, the provider: the latest there is.
    Fetched,
}

/// The fields of a Stripe subscription object we keep.
#[derive(Clone, Debug, PartialEq, Eq)]
struct SubscriptionObject {
    id: String,
    customer_id: String,
    org_hint: Option<String>,
    status: String,
    price_id: String,
    interval: PlanInterval,
    quantity: i64,
    unit_amount_cents: Option<i64>,
    cancel_at_period_end: bool,
    paused: bool,
    pause_resumes_at: Option<i64>,
    current_period_end: Option<i64>,
    trial_end: Option<i64>,
    ended_at: Option<i64>,
}

/// An id field Stripe sends as a string, or as the object when expanded.
pub fn id_of(field: Option<&Value>) -> Option<&str> {
    match field? {
        Value::String(id) => Some(id),
        Value::Object(object) => object.get("id")?.as_str(),
        _ => None,
    }
}

fn parse_subscription(object: &Value) -> Result<SubscriptionObject, String> {
    if object.get("object").and_then(Value::as_str) != Some("subscription") {
        return Err("the object is not a subscription".into());
    }
    let text = |key: &str| object.get(key).and_then(Value::as_str).map(str::to_owned);
    let int = |key: &str| object.get(key).and_then(Value::as_i64);
    let id = text("id").ok_or("the subscription has no id")?;
    let customer_id = id_of(object.get("customer"))
        .ok_or("the subscription has no customer")?
        .to_owned();
    let status = text("status").ok_or("the subscription has no status")?;
    let items = object
        .pointer("/items/data")
        .and_then(Value::as_array)
        .ok_or("the subscription has no items")?;
    let [item] = items.as_slice() else {
        return Err(format!(
            "the subscription has {} items; the Team plan has one",
            items.len()
        ));
    };
    let price_id = item
        .pointer("/price/id")
        .and_then(Value::as_str)
        .ok_or("the subscription item has no price")?
        .to_owned();
    let interval = item
        .pointer("/price/recurring/interval")
        .and_then(Value::as_str)
        .and_then(PlanInterval::of_stripe)
        .ok_or("the price is not billed monthly or yearly")?;
    let quantity = item
        .get("quantity")
        .and_then(Value::as_i64)
        .filter(|q| *q >= 0)
        .ok_or("the subscription item has no quantity")?;
    let pause = object.get("pause_collection").filter(|p| !p.is_null());
    Ok(SubscriptionObject {
        org_hint: object
            .pointer("/metadata/org_id")
            .and_then(Value::as_str)
            .map(str::to_owned),
        unit_amount_cents: item.pointer("/price/unit_amount").and_then(Value::as_i64),
        cancel_at_period_end: object
            .get("cancel_at_period_end")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        paused: pause.is_some(),
        pause_resumes_at: pause
            .and_then(|p| p.get("resumes_at"))
            .and_then(Value::as_i64),
        // Newer API versions keep the period on the item.
        current_period_end: item
            .get("current_period_end")
            .and_then(Value::as_i64)
            .or_else(|| int("current_period_end")),
        trial_end: int("trial_end"),
        ended_at: int("ended_at"),
        id,
        customer_id,
        status,
        price_id,
        interval,
        quantity,
    })
}

const ENDED: [&str; 2] = ["canceled", "incomplete_expired"];

/// Applies a subscription object (an event's, or the provider's answer).
pub async fn apply_subscription_object(
    conn: &mut AnyConnection,
    object: &Value,
    freshness: Freshness,
    now: i64,
) -> Result<Applied, sqlx::Error> {
    let parsed = match parse_subscription(object) {
        Ok(parsed) => parsed,
        Err(why) => return Ok(Applied::Ignored(why)),
    };
    let known = store::by_id(&mut *conn, &parsed.id).await?;
    let org_id = match (&known, &parsed.org_hint) {
        (Some(row), _) => row.org_id.clone(),
        (None, Some(org_id)) => org_id.clone(),
        (None, None) => {
            return Ok(Applied::Ignored(
                "the subscription names no organization".into(),
            ))
        }
    };
    // The organization's lock before its subscription is read: two events
    // applied at once (PostgreSQL runs them side by side) then see each
    // other's result instead of the later commit winning blindly.
    if !db::orgs::lock_team(&mut *conn, &org_id).await? {
        return Ok(Applied::Ignored(format!("no organization {org_id}")));
    }
    let current = store::for_org(&mut *conn, &org_id).await?;
    let object_at = match freshness {
        Freshness::Event(created) => created,
        Freshness::Fetched => {
            let billing_now = db::billing_clock::billing_now(conn, &org_id, now).await?;
            current
                .as_ref()
                .map_or(billing_now, |row| row.object_at.max(billing_now))
        }
    };
    if let Some(row) = &current {
        if row.subscription_id != parsed.id {
            let row_ended = ENDED.contains(&row.status.as_str()) || row.status == "incomplete";
            if !row_ended {
                if !ENDED.contains(&parsed.status.as_str()) {
                    tracing::error!(
                        alert = true, %org_id, kept = %row.subscription_id, other = %parsed.id,
                        "ALERT: a second live subscription for one organization; the first is kept: cancel one in the dashboard"
                    );
                }
                return Ok(Applied::Ignored(format!(
                    "{org_id} has another live subscription ({})",
                    row.subscription_id
                )));
            }
        } else if let Freshness::Event(created) = freshness {
            if created < row.object_at {
                return Ok(Applied::Stale { org_id });
            }
            if created == row.object_at && !same_state(row, &parsed) {
                return Ok(Applied::Doubtful {
                    subscription_id: parsed.id,
                });
            }
        }
    }
    let was_live = current.as_ref().is_some_and(|row| {
        row.subscription_id == parsed.id && !ENDED.contains(&row.status.as_str())
    });
    let row = store::Row {
        org_id: org_id.clone(),
        subscription_id: parsed.id.clone(),
        customer_id: parsed.customer_id.clone(),
        price_id: parsed.price_id.clone(),
        plan_interval: parsed.interval.as_str().to_owned(),
        quantity: parsed.quantity,
        unit_amount_cents: parsed.unit_amount_cents,
        status: parsed.status.clone(),
        cancel_at_period_end: i64::from(parsed.cancel_at_period_end),
        paused: i64::from(parsed.paused),
        pause_resumes_at: parsed.pause_resumes_at,
        current_period_end: parsed.current_period_end,
        trial_end: parsed.trial_end,
        ended_at: parsed.ended_at,
        object_at,
    };
    store::put(conn, &row, now).await?;
    if was_live && ENDED.contains(&parsed.status.as_str()) {
        tell_owners_once(
            conn,
            &org_id,
            &format!("ended:{}", parsed.id),
            Notice::Ended,
            now,
        )
        .await?;
    }
    Ok(Applied::Stored {
        org_id,
        status: parsed.status,
    })
}

/// The stored row already says what the object says.
fn same_state(row: &store::Row, object: &SubscriptionObject) -> bool {
    row.customer_id == object.customer_id
        && row.price_id == object.price_id
        && row.quantity == object.quantity
        && row.status == object.status
        && (row.cancel_at_period_end != 0) == object.cancel_at_period_end
        && (row.paused != 0) == object.paused
        && row.pause_resumes_at == object.pause_resumes_at
        && row.current_period_end == object.current_period_end
        && row.ended_at == object.ended_at
}

/// Applies `invoice.paid` (`paid`) or `invoice.payment_failed` for an invoice
/// of a subscription. `event_created` starts the grace period of a failure.
pub async fn apply_invoice(
    conn: &mut AnyConnection,
    invoice: &Value,
    paid: bool,
    event_created: i64,
    now: i64,
) -> Result<Applied, sqlx::Error> {
    if invoice.get("object").and_then(Value::as_str) != Some("invoice") {
        return Ok(Applied::Ignored("the object is not an invoice".into()));
    }
    let Some(invoice_id) = invoice.get("id").and_then(Value::as_str) else {
        return Ok(Applied::Ignored("the invoice has no id".into()));
    };
    // Older API versions name the subscription on the invoice; newer ones
    // under `parent.subscription_details`.
    let subscription_id = id_of(invoice.get("subscription"))
        .or_else(|| id_of(invoice.pointer("/parent/subscription_details/subscription")));
    let Some(subscription_id) = subscription_id else {
        return Ok(Applied::Ignored("not a subscription invoice".into()));
    };
    let org_id = match store::by_id(&mut *conn, subscription_id).await? {
        Some(row) => row.org_id,
        None => match invoice
            .pointer("/parent/subscription_details/metadata/org_id")
            .and_then(Value::as_str)
        {
            Some(org_id) if db::orgs::name_of(&mut *conn, org_id).await?.is_some() => {
                org_id.to_owned()
            }
            _ => {
                return Ok(Applied::Ignored(format!(
                    "invoice of unknown subscription {subscription_id}"
                )))
            }
        },
    };
    db::orgs::lock_team(&mut *conn, &org_id).await?;
    let reference = store::InvoiceRef {
        invoice_id,
        subscription_id,
        org_id: &org_id,
    };
    if paid {
        store::invoice_paid(conn, &reference, now).await?;
    } else if store::invoice_failed(conn, &reference, event_created, now).await? {
        let cause = format!("payment_failed:{invoice_id}");
        tell_owners_once(conn, &org_id, &cause, Notice::PaymentFailed, now).await?;
    }
    Ok(Applied::Invoice {
        org_id,
        invoice_id: invoice_id.to_owned(),
        paid,
    })
}

/// The organization and subscription of a completed subscription-mode
/// Checkout Session, when it is one of ours.
pub fn checkout_subscription(session: &Value) -> Option<(String, String)> {
    if session.get("mode").and_then(Value::as_str) != Some("subscription") {
        return None;
    }
    let purpose = session.pointer("/metadata/purpose").and_then(Value::as_str);
    if purpose != Some(super::providers::payments::PURPOSE_SUBSCRIPTION) {
        return None;
    }
    let org_id = session
        .pointer("/metadata/org_id")
        .and_then(Value::as_str)?;
    let subscription_id = id_of(session.get("subscription"))?;
    Some((org_id.to_owned(), subscription_id.to_owned()))
}

/// The mail owners get about their subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    PaymentFailed,
    Ended,
    /// The pause ends on this day.
    PauseEnding(i64),
}

/// Mails the owners (and shows a notice in the app) once per `cause`.
pub async fn tell_owners_once(
    conn: &mut AnyConnection,
    org_id: &str,
    cause: &str,
    notice: Notice,
    now: i64,
) -> Result<bool, sqlx::Error> {
    if !store::notice_once(conn, org_id, cause, now).await? {
        return Ok(false);
    }
    let (kind, subject, message) = match notice {
        Notice::PaymentFailed => (
            "payment_failed",
            "Phonebooth: a subscription payment failed",
            "The payment for your Team plan failed. Calls keep working during the grace \
             period shown in Settings; after it, new calls are refused until the payment goes \
             through. Update the payment method and retry the payment in Settings, Billing."
                .to_owned(),
        ),
        Notice::Ended => (
            "plan_ended",
            "Phonebooth: your Team plan has ended",
            "Your Team plan has ended and the organization is on the Free plan. Nothing was \
             deleted: every member stays and can still call with the organization's credits, \
             and call history, credits and settings are kept. The Free plan has one seat, so no \
             one new can join until you subscribe again in Settings, Billing."
                .to_owned(),
        ),
        Notice::PauseEnding(on) => (
            "pause_ending",
            "Phonebooth: your paused subscription resumes soon",
            format!(
                "Your Team plan is paused until {}. On that day it resumes: billing starts again \
                 and members can call again. To resume earlier or change your plan, open \
                 Settings, Billing.",
                day_of(on)
            ),
        ),
    };
    notices::add_notice(conn, org_id, kind, &message, now).await?;
    let org_name = db::orgs::name_of(&mut *conn, org_id)
        .await?
        .unwrap_or_default();
    let owners: Vec<_> = db::orgs::members(&mut *conn, org_id)
        .await?
        .into_iter()
        .filter(|member| member.role == Role::Owner)
        .collect();
    for owner in owners {
        let body = format!(
            "Hello {},\n\n{message}\n\nOrganization: {org_name}\n",
            owner.name
        );
        notices::queue_email(conn, &owner.email, subject, &body, now).await?;
    }
    Ok(true)
}

/// Pauses that should have ended by now (billing clock) and that the
/// provider has not reported ended: the job ends them.
pub async fn pauses_due(
    conn: &mut AnyConnection,
    now: i64,
) -> Result<Vec<(Subscription, i64)>, sqlx::Error> {
    let rows = store::paused_with_resume_date(&mut *conn).await?;
    let mut due = Vec::new();
    for row in rows {
        let billing_now = db::billing_clock::billing_now(conn, &row.org_id, now).await?;
        due.push((from_row(row, Vec::new()), billing_now));
    }
    Ok(due)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object() -> Value {
        json!({
            "id": "sub_1", "object": "subscription", "customer": "cus_1", "status": "active",
            "cancel_at_period_end": false, "pause_collection": null,
            "metadata": {"org_id": "org_1"},
            "items": {"object": "list", "data": [{
                "id": "si_1", "quantity": 3, "current_period_end": 1_800_000_000,
                "price": {"id": "price_team_monthly", "unit_amount": 1500, "recurring": {"interval": "month"}}
            }]}
        })
    }

    #[test]
    fn a_subscription_object_is_read_as_stripe_sends_it() {
        let parsed = parse_subscription(&object()).unwrap();
        assert_eq!(parsed.quantity, 3);
        assert_eq!(parsed.interval, PlanInterval::Monthly);
        assert_eq!(parsed.current_period_end, Some(1_800_000_000));
        assert_eq!(parsed.org_hint.as_deref(), Some("org_1"));
        assert!(!parsed.paused);

        let mut paused = object();
        paused["pause_collection"] = json!({"behavior": "void", "resumes_at": 1_800_100_000});
        let parsed = parse_subscription(&paused).unwrap();
        assert!(parsed.paused);
        assert_eq!(parsed.pause_resumes_at, Some(1_800_100_000));
    }

    #[test]
    fn objects_that_are_not_a_one_item_subscription_are_refused() {
        let mut two = object();
        let item = two["items"]["data"][0].clone();
        two["items"]["data"] = json!([item.clone(), item]);
        assert!(parse_subscription(&two).unwrap_err().contains("2 items"));
        let mut weekly = object();
        weekly["items"]["data"][0]["price"]["recurring"]["interval"] = json!("week");
        assert!(parse_subscription(&weekly).is_err());
        assert!(parse_subscription(&json!({"object": "invoice"})).is_err());
    }

    #[test]
    fn checkout_sessions_name_their_subscription() {
        let session = json!({"mode": "subscription", "subscription": "sub_9",
            "metadata": {"org_id": "org_1", "purpose": "subscription"}});
        assert_eq!(
            checkout_subscription(&session),
            Some(("org_1".to_owned(), "sub_9".to_owned()))
        );
        let credits =
            json!({"mode": "payment", "metadata": {"org_id": "org_1", "purpose": "credits"}});
        assert_eq!(checkout_subscription(&credits), None);
    }
}
