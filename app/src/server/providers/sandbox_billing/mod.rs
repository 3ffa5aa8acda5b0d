//! The sandbox's subscriptions: what Stripe Billing does for the Team plan,
//! played in-process like the rest of the sandbox (`sandbox.rs`). A
//! subscription-mode checkout paid on the sandbox's checkout page creates the
//! subscription and its paid first invoice; changes, invoice payments and the
//! test clock (`test_clock.rs`) change them. Every change and the Stripe
//! events reporting it commit in one transaction, the events stamped with the
//! organization's billing clock (`db::billing_clock`), so that events after a
//! clock advance are newer. The objects' shapes are `objects.rs`.
//!
//! - `plan.rs`: the two sandbox prices and period arithmetic;
//! - `renewal.rs`: what a period end does (pure);
//! - `test_clock.rs`: the `renewal` and `grace` steps;
//! - `portal.rs`: the Billing Portal page's reads and its card change.

pub mod objects;
pub mod plan;
pub mod portal;
pub mod renewal;
pub mod test_clock;

use super::payments::*;
use super::sandbox::{self, CardError, TestCard, PM_CHARGES_DECLINE, PM_SUCCEEDS};
use crate::server::clock;
use crate::server::db::sandbox_billing::{self as rows, Customer, Invoice, Subscription};
use crate::server::db::sandbox_sessions::{self, NewSession, Session};
use crate::server::db::{billing_clock, Db};
use crate::server::ids::new_id;
use renewal::Happening;
use serde_json::{json, Value};
use sqlx::AnyConnection;

/// What a declined charge answers, as Stripe words it.
pub const DECLINED: &str = "Your card was declined.";

fn unavailable(error: sqlx::Error) -> PaymentError {
    tracing::error!(error = ?error, "sandbox billing: database error");
    PaymentError::Unavailable("sandbox database error".into())
}

/// Whether charges of the customer's saved card go through.
fn card_pays(customer: &Customer) -> bool {
    customer.payment_method_id != PM_CHARGES_DECLINE
}

/// The events for `happenings`, in order.
fn events(happenings: Vec<Happening>) -> Vec<Value> {
    happenings
        .into_iter()
        .map(|h| sandbox::event(h.event_type, h.object, h.at))
        .collect()
}

// ---- idempotency keys (Stripe's `Idempotency-Key`) ----

/// The answer an earlier request with `key` got, if any. The same key with
/// other parameters is refused, as Stripe refuses it.
async fn replay(
    conn: &mut AnyConnection,
    key: &str,
    request: &str,
) -> Result<Option<Value>, PaymentError> {
    if key.is_empty() {
        return Ok(None);
    }
    match rows::idempotent_answer(conn, key).await.map_err(unavailable)? {
        None => Ok(None),
        Some((earlier, _)) if earlier != request => Err(PaymentError::Refused(
            "Keys for idempotent requests can only be used with the same parameters they were first used with."
                .into(),
        )),
        Some((_, response)) => serde_json::from_str(&response).map(Some).map_err(|_| {
            PaymentError::Unavailable("sandbox idempotency record is unreadable".into())
        }),
    }
}

async fn remember(
    conn: &mut AnyConnection,
    key: &str,
    request: &str,
    response: &Value,
) -> Result<(), PaymentError> {
    if key.is_empty() {
        return Ok(());
    }
    rows::remember_answer(conn, key, request, &response.to_string(), clock::now())
        .await
        .map_err(unavailable)
}

// ---- the provider's calls ----

/// A subscription-mode checkout session for `quantity` seats of a sandbox price.
pub async fn open_checkout(
    db: &Db,
    request: &SubscriptionCheckout,
) -> Result<CheckoutRedirect, PaymentError> {
    let price = plan::price(&request.price_id)?;
    if request.quantity == 0 {
        return Err(PaymentError::Refused("quantity must be at least 1".into()));
    }
    let described = format!(
        "subscription_checkout {} {} {} {:?} {} {}",
        request.org_id,
        price.id,
        request.quantity,
        request.customer_id,
        request.success_url,
        request.cancel_url
    );
    let mut tx = db.begin_write().await.map_err(unavailable)?;
    let answer = match replay(&mut tx, &request.idempotency_key, &described).await? {
        Some(answer) => answer,
        None => {
            let session_id = new_id("cs_test");
            let customer = request
                .customer_id
                .clone()
                .unwrap_or_else(|| new_id("cus_test"));
            let new = NewSession {
                session_id: &session_id,
                mode: "subscription",
                amount_cents: i64::from(request.quantity) * price.unit_amount_cents,
                metadata: &objects::metadata(&request.org_id).to_string(),
                customer_id: Some(&customer),
                success_url: &request.success_url,
                cancel_url: &request.cancel_url,
                price_id: Some(price.id),
                quantity: Some(i64::from(request.quantity)),
            };
            sandbox_sessions::insert(&mut *tx, &new, clock::now())
                .await
                .map_err(unavailable)?;
            let answer = json!({
                "session_id": session_id,
                "url": format!("/sandbox/checkout/{session_id}"),
                "customer_id": customer,
            });
            remember(&mut tx, &request.idempotency_key, &described, &answer).await?;
            answer
        }
    };
    tx.commit().await.map_err(unavailable)?;
    let text = |field: &str| answer[field].as_str().unwrap_or_default().to_owned();
    Ok(CheckoutRedirect {
        session_id: text("session_id"),
        url: text("url"),
        customer_id: Some(text("customer_id")),
    })
}

/// Paid on the checkout page (inside `sandbox::pay`'s transaction): the
/// customer keeps the card, the subscription starts now on the billing
/// clock with its first invoice paid, and the three events Stripe would
/// send follow in order.
pub(crate) async fn subscribe(
    conn: &mut AnyConnection,
    session: &Session,
    org_id: &str,
    customer_id: Option<String>,
    card: TestCard,
    card_last4: &str,
    now: i64,
) -> Result<Vec<Value>, CardError> {
    let fail = |what: &str| {
        tracing::error!(session_id = %session.session_id, "sandbox subscription checkout: {what}");
        CardError::Unavailable
    };
    let price = plan::price(session.price_id.as_deref().unwrap_or_default())
        .map_err(|_| fail("unknown price"))?;
    let quantity = session
        .quantity
        .filter(|q| *q >= 1)
        .ok_or_else(|| fail("no quantity"))?;
    let customer_id = customer_id.ok_or_else(|| fail("no customer"))?;
    let db_error = |error: sqlx::Error| {
        tracing::error!(error = ?error, "sandbox subscription checkout: database error");
        CardError::Unavailable
    };
    let billing_now = billing_clock::billing_now(conn, org_id, now)
        .await
        .map_err(db_error)?;
    let customer = Customer {
        customer_id,
        org_id: org_id.to_owned(),
        payment_method_id: match card {
            TestCard::SavedThenDeclines => PM_CHARGES_DECLINE,
            _ => PM_SUCCEEDS,
        }
        .to_owned(),
        card_last4: card_last4.to_owned(),
    };
    rows::save_customer(conn, &customer, now)
        .await
        .map_err(db_error)?;
    let period_end = plan::period_end_after(billing_now, billing_now, price.interval);
    let amount_cents = quantity * price.unit_amount_cents;
    let invoice_id = new_id("in_test");
    let sub = Subscription {
        subscription_id: new_id("sub_test"),
        org_id: org_id.to_owned(),
        customer_id: customer.customer_id,
        item_id: new_id("si_test"),
        price_id: price.id.to_owned(),
        billing_interval: price.interval.as_str().to_owned(),
        unit_amount_cents: price.unit_amount_cents,
        quantity,
        status: "active".into(),
        cancel_at_period_end: false,
        paused: false,
        pause_resumes_at: None,
        current_period_start: billing_now,
        current_period_end: period_end,
        canceled_at: None,
        ended_at: None,
        latest_invoice_id: Some(invoice_id.clone()),
        created_at: billing_now,
    };
    let invoice = Invoice {
        invoice_id,
        subscription_id: sub.subscription_id.clone(),
        amount_cents,
        status: "paid".into(),
        billing_reason: "subscription_create".into(),
        attempt_count: 1,
        first_failed_at: None,
        created_at: billing_now,
        period_start: billing_now,
        period_end,
    };
    rows::insert_subscription(conn, &sub)
        .await
        .map_err(db_error)?;
    rows::insert_invoice(conn, &invoice)
        .await
        .map_err(db_error)?;
    let at = billing_now;
    Ok(vec![
        sandbox::event(
            "checkout.session.completed",
            objects::completed_checkout(&session.session_id, &sub, amount_cents),
            at,
        ),
        sandbox::event(
            "customer.subscription.created",
            objects::subscription(&sub),
            at,
        ),
        sandbox::event("invoice.paid", objects::invoice(&invoice, &sub), at),
    ])
}

/// `change` applied to `sub` at billing time `now`. Pure.
pub fn apply_change(
    sub: &mut Subscription,
    change: &SubscriptionChange,
    now: i64,
) -> Result<(), PaymentError> {
    if sub.status == "canceled" {
        return Err(PaymentError::Refused(format!(
            "A canceled subscription can only update its cancellation_details and metadata: '{}'",
            sub.subscription_id
        )));
    }
    match *change {
        SubscriptionChange::Quantity(0) => {
            return Err(PaymentError::Refused("quantity must be at least 1".into()))
        }
        SubscriptionChange::Quantity(n) => sub.quantity = i64::from(n),
        SubscriptionChange::CancelAtPeriodEnd(cancel) => {
            // Stripe: canceled_at is when the cancellation was asked for.
            if cancel != sub.cancel_at_period_end {
                sub.canceled_at = cancel.then_some(now);
            }
            sub.cancel_at_period_end = cancel;
        }
        SubscriptionChange::Pause { resumes_at } => {
            sub.paused = true;
            sub.pause_resumes_at = Some(resumes_at);
        }
        SubscriptionChange::Unpause => {
            sub.paused = false;
            sub.pause_resumes_at = None;
        }
    }
    Ok(())
}

/// Applies `change` and answers with the subscription. A change that
/// changes something sends `customer.subscription.updated`; proration
/// amounts are not computed (the next invoice bills the new quantity).
pub async fn update(
    db: &Db,
    subscription_id: &str,
    change: &SubscriptionChange,
    idempotency_key: &str,
) -> Result<Value, PaymentError> {
    let described = format!("update_subscription {subscription_id} {change:?}");
    let mut tx = db.begin_write().await.map_err(unavailable)?;
    if let Some(answer) = replay(&mut tx, idempotency_key, &described).await? {
        return Ok(answer);
    }
    let mut sub = rows::lock_subscription(&mut tx, subscription_id)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| no_such("subscription", subscription_id))?;
    let now = clock::now();
    let billing_now = billing_clock::billing_now(&mut tx, &sub.org_id, now)
        .await
        .map_err(unavailable)?;
    let before = sub.clone();
    apply_change(&mut sub, change, billing_now)?;
    let object = objects::subscription(&sub);
    if sub != before {
        rows::save_subscription(&mut tx, &sub)
            .await
            .map_err(unavailable)?;
        let event = sandbox::event("customer.subscription.updated", object.clone(), billing_now);
        sandbox::enqueue_events(&mut tx, &[event])
            .await
            .map_err(unavailable)?;
    }
    remember(&mut tx, idempotency_key, &described, &object).await?;
    tx.commit().await.map_err(unavailable)?;
    Ok(object)
}

fn no_such(what: &str, id: &str) -> PaymentError {
    PaymentError::Refused(format!("No such {what}: '{id}'"))
}

pub async fn retrieve(db: &Db, subscription_id: &str) -> Result<Value, PaymentError> {
    let sub = rows::find_subscription(&db.pool, subscription_id)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| no_such("subscription", subscription_id))?;
    Ok(objects::subscription(&sub))
}

/// A Billing Portal session for an existing sandbox customer: its URL.
pub async fn open_portal(
    db: &Db,
    customer_id: &str,
    return_url: &str,
) -> Result<String, PaymentError> {
    let customer = rows::find_customer(&db.pool, customer_id)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| no_such("customer", customer_id))?;
    let portal = rows::PortalSession {
        portal_session_id: new_id("bps_test"),
        customer_id: customer.customer_id,
        org_id: customer.org_id,
        return_url: return_url.to_owned(),
        created_at: clock::now(),
    };
    rows::insert_portal_session(&db.pool, &portal)
        .await
        .map_err(unavailable)?;
    Ok(format!("/sandbox/portal/{}", portal.portal_session_id))
}

fn payment_answer(payment: &InvoicePayment) -> Value {
    match payment {
        InvoicePayment::Paid => json!({ "paid": true }),
        InvoicePayment::Declined { reason } => json!({ "declined": reason }),
    }
}

fn payment_of(answer: &Value) -> InvoicePayment {
    match answer["declined"].as_str() {
        Some(reason) => InvoicePayment::Declined {
            reason: reason.to_owned(),
        },
        None => InvoicePayment::Paid,
    }
}

/// Charges the customer's card for an open invoice now. Declined: one more
/// attempt and `invoice.payment_failed`. Paid: the subscription is active
/// again, with `invoice.paid` and `customer.subscription.updated`. An invoice
/// paid already answers `Paid` and sends nothing.
pub async fn pay_invoice(
    db: &Db,
    invoice_id: &str,
    idempotency_key: &str,
) -> Result<InvoicePayment, PaymentError> {
    let described = format!("pay_invoice {invoice_id}");
    let mut tx = db.begin_write().await.map_err(unavailable)?;
    if let Some(answer) = replay(&mut tx, idempotency_key, &described).await? {
        return Ok(payment_of(&answer));
    }
    let missing = || no_such("invoice", invoice_id);
    let unlocked = rows::find_invoice(&mut *tx, invoice_id)
        .await
        .map_err(unavailable)?
        .ok_or_else(missing)?;
    // An invoice changes only with its subscription locked: read it again after.
    let mut sub = rows::lock_subscription(&mut tx, &unlocked.subscription_id)
        .await
        .map_err(unavailable)?
        .ok_or_else(missing)?;
    let mut invoice = rows::find_invoice(&mut *tx, invoice_id)
        .await
        .map_err(unavailable)?
        .ok_or_else(missing)?;
    let payment = if invoice.status == "paid" {
        InvoicePayment::Paid
    } else {
        let customer = rows::find_customer(&mut *tx, &sub.customer_id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| no_such("customer", &sub.customer_id))?;
        let now = clock::now();
        let billing_now = billing_clock::billing_now(&mut tx, &sub.org_id, now)
            .await
            .map_err(unavailable)?;
        invoice.attempt_count += 1;
        let mut happened = Vec::new();
        let payment = if card_pays(&customer) {
            invoice.status = "paid".into();
            if sub.status != "canceled" {
                sub.status = "active".into();
            }
            happened.push(("invoice.paid", objects::invoice(&invoice, &sub)));
            happened.push(("customer.subscription.updated", objects::subscription(&sub)));
            InvoicePayment::Paid
        } else {
            invoice.first_failed_at.get_or_insert(billing_now);
            happened.push(("invoice.payment_failed", objects::invoice(&invoice, &sub)));
            InvoicePayment::Declined {
                reason: DECLINED.into(),
            }
        };
        rows::save_invoice(&mut tx, &invoice)
            .await
            .map_err(unavailable)?;
        rows::save_subscription(&mut tx, &sub)
            .await
            .map_err(unavailable)?;
        let events: Vec<Value> = happened
            .into_iter()
            .map(|(event_type, object)| sandbox::event(event_type, object, billing_now))
            .collect();
        sandbox::enqueue_events(&mut tx, &events)
            .await
            .map_err(unavailable)?;
        payment
    };
    remember(
        &mut tx,
        idempotency_key,
        &described,
        &payment_answer(&payment),
    )
    .await?;
    tx.commit().await.map_err(unavailable)?;
    Ok(payment)
}

#[cfg(test)]
mod tests {
    use super::objects::tests::sample;
    use super::*;

    #[test]
    fn each_change_sets_what_stripe_sets() {
        let (mut sub, _) = sample();
        apply_change(&mut sub, &SubscriptionChange::Quantity(7), 50).unwrap();
        assert_eq!(sub.quantity, 7);
        apply_change(&mut sub, &SubscriptionChange::CancelAtPeriodEnd(true), 60).unwrap();
        assert!(sub.cancel_at_period_end);
        assert_eq!(sub.canceled_at, Some(60));
        // Asking again does not move when it was asked for.
        apply_change(&mut sub, &SubscriptionChange::CancelAtPeriodEnd(true), 70).unwrap();
        assert_eq!(sub.canceled_at, Some(60));
        apply_change(&mut sub, &SubscriptionChange::CancelAtPeriodEnd(false), 80).unwrap();
        assert_eq!((sub.cancel_at_period_end, sub.canceled_at), (false, None));
        apply_change(&mut sub, &SubscriptionChange::Pause { resumes_at: 900 }, 90).unwrap();
        assert_eq!((sub.paused, sub.pause_resumes_at), (true, Some(900)));
        assert_eq!(sub.status, "active", "a paused subscription stays active");
        apply_change(&mut sub, &SubscriptionChange::Unpause, 95).unwrap();
        assert_eq!((sub.paused, sub.pause_resumes_at), (false, None));
    }

    #[test]
    fn zero_seats_and_changes_to_a_canceled_subscription_are_refused() {
        let (mut sub, _) = sample();
        assert!(matches!(
            apply_change(&mut sub, &SubscriptionChange::Quantity(0), 1),
            Err(PaymentError::Refused(_))
        ));
        assert_eq!(sub.quantity, 3);
        sub.status = "canceled".into();
        assert!(matches!(
            apply_change(&mut sub, &SubscriptionChange::Unpause, 1),
            Err(PaymentError::Refused(_))
        ));
    }

    #[test]
    fn a_stored_payment_answer_reads_back_as_itself() {
        for payment in [
            InvoicePayment::Paid,
            InvoicePayment::Declined {
                reason: DECLINED.into(),
            },
        ] {
            assert_eq!(payment_of(&payment_answer(&payment)), payment);
        }
    }
}
