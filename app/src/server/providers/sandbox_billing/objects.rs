//! The Stripe objects the sandbox answers with and puts in its events, in
//! the shapes of API version 2025-10-29.clover (with the few legacy
//! top-level fields the webhook also reads). These shapes are the contract
//! with the webhook handler: its parser reads Stripe's answers and the
//! sandbox's alike. Pure: built from the stored rows.

use super::super::payments::{META_ORG_ID, META_PURPOSE, PURPOSE_SUBSCRIPTION};
use crate::server::db::sandbox_billing::{Invoice, Subscription};
use serde_json::{json, Value};

/// The metadata every subscription object (and its invoices) carries.
pub fn metadata(org_id: &str) -> Value {
    json!({ META_ORG_ID: org_id, META_PURPOSE: PURPOSE_SUBSCRIPTION })
}

pub fn subscription(sub: &Subscription) -> Value {
    let pause_collection = if sub.paused {
        json!({ "behavior": "void", "resumes_at": sub.pause_resumes_at })
    } else {
        Value::Null
    };
    json!({
        "id": sub.subscription_id,
        "object": "subscription",
        "customer": sub.customer_id,
        "status": sub.status,
        "created": sub.created_at,
        "cancel_at_period_end": sub.cancel_at_period_end,
        "canceled_at": sub.canceled_at,
        "ended_at": sub.ended_at,
        "trial_end": null,
        "pause_collection": pause_collection,
        "latest_invoice": sub.latest_invoice_id,
        "metadata": metadata(&sub.org_id),
        "current_period_start": sub.current_period_start,
        "current_period_end": sub.current_period_end,
        "items": {
            "object": "list",
            "data": [{
                "id": sub.item_id,
                "object": "subscription_item",
                "quantity": sub.quantity,
                "current_period_start": sub.current_period_start,
                "current_period_end": sub.current_period_end,
                "price": {
                    "id": sub.price_id,
                    "object": "price",
                    "currency": "usd",
                    "unit_amount": sub.unit_amount_cents,
                    "recurring": { "interval": sub.billing_interval },
                },
            }],
        },
    })
}

/// An invoice of `sub`. One whose charge failed also carries the decline.
pub fn invoice(invoice: &Invoice, sub: &Subscription) -> Value {
    let paid = invoice.status == "paid";
    let mut object = json!({
        "id": invoice.invoice_id,
        "object": "invoice",
        "customer": sub.customer_id,
        "status": invoice.status,
        "currency": "usd",
        "amount_due": invoice.amount_cents,
        "amount_paid": if paid { invoice.amount_cents } else { 0 },
        "attempt_count": invoice.attempt_count,
        "billing_reason": invoice.billing_reason,
        "created": invoice.created_at,
        "period_start": invoice.period_start,
        "period_end": invoice.period_end,
        "subscription": sub.subscription_id,
        "parent": {
            "type": "subscription_details",
            "subscription_details": {
                "subscription": sub.subscription_id,
                "metadata": metadata(&sub.org_id),
            },
        },
    });
    if !paid && invoice.first_failed_at.is_some() {
        object["last_finalization_error"] = Value::Null;
        object["last_payment_error"] = json!({
            "type": "card_error", "code": "card_declined", "decline_code": "generic_decline",
            "message": super::DECLINED,
        });
    }
    object
}

/// The subscription-mode checkout session as `checkout.session.completed` reports it.
pub fn completed_checkout(session_id: &str, sub: &Subscription, amount_total: i64) -> Value {
    json!({
        "id": session_id,
        "object": "checkout.session",
        "mode": "subscription",
        "status": "complete",
        "payment_status": "paid",
        "customer": sub.customer_id,
        "subscription": sub.subscription_id,
        "amount_total": amount_total,
        "currency": "usd",
        "metadata": metadata(&sub.org_id),
    })
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::server::providers::sandbox_billing) fn sample() -> (Subscription, Invoice) {
        let sub = Subscription {
            subscription_id: "sub_test_1".into(),
            org_id: "org_1".into(),
            customer_id: "cus_test_1".into(),
            item_id: "si_test_1".into(),
            price_id: "price_sandbox_team_monthly".into(),
            billing_interval: "month".into(),
            unit_amount_cents: 1_500,
            quantity: 3,
            status: "active".into(),
            cancel_at_period_end: false,
            paused: false,
            pause_resumes_at: None,
            current_period_start: 1_000,
            current_period_end: 2_000,
            canceled_at: None,
            ended_at: None,
            latest_invoice_id: Some("in_test_1".into()),
            created_at: 1_000,
        };
        let invoice = Invoice {
            invoice_id: "in_test_1".into(),
            subscription_id: "sub_test_1".into(),
            amount_cents: 4_500,
            status: "paid".into(),
            billing_reason: "subscription_create".into(),
            attempt_count: 1,
            first_failed_at: None,
            created_at: 1_000,
            period_start: 1_000,
            period_end: 2_000,
        };
        (sub, invoice)
    }

    #[test]
    fn a_subscription_has_exactly_the_agreed_shape() {
        let (mut sub, _) = sample();
        sub.paused = true;
        sub.pause_resumes_at = Some(1_500);
        let expected = json!({
            "id": "sub_test_1", "object": "subscription", "customer": "cus_test_1",
            "status": "active", "created": 1_000, "cancel_at_period_end": false,
            "canceled_at": null, "ended_at": null, "trial_end": null,
            "pause_collection": { "behavior": "void", "resumes_at": 1_500 },
            "latest_invoice": "in_test_1",
            "metadata": { "org_id": "org_1", "purpose": "subscription" },
            "current_period_start": 1_000, "current_period_end": 2_000,
            "items": { "object": "list", "data": [{
                "id": "si_test_1", "object": "subscription_item", "quantity": 3,
                "current_period_start": 1_000, "current_period_end": 2_000,
                "price": { "id": "price_sandbox_team_monthly", "object": "price",
                           "currency": "usd", "unit_amount": 1_500,
                           "recurring": { "interval": "month" } },
            }]},
        });
        assert_eq!(subscription(&sub), expected);
        sub.paused = false;
        assert_eq!(subscription(&sub)["pause_collection"], Value::Null);
    }

    #[test]
    fn an_invoice_has_exactly_the_agreed_shape_and_a_failed_one_its_decline() {
        let (sub, mut inv) = sample();
        let expected = json!({
            "id": "in_test_1", "object": "invoice", "customer": "cus_test_1",
            "status": "paid", "currency": "usd", "amount_due": 4_500, "amount_paid": 4_500,
            "attempt_count": 1, "billing_reason": "subscription_create", "created": 1_000,
            "period_start": 1_000, "period_end": 2_000, "subscription": "sub_test_1",
            "parent": { "type": "subscription_details", "subscription_details": {
                "subscription": "sub_test_1",
                "metadata": { "org_id": "org_1", "purpose": "subscription" } } },
        });
        assert_eq!(invoice(&inv, &sub), expected);
        inv.status = "open".into();
        inv.first_failed_at = Some(1_000);
        let failed = invoice(&inv, &sub);
        assert_eq!(failed["amount_paid"], 0);
        assert_eq!(failed["last_finalization_error"], Value::Null);
        assert_eq!(failed["last_payment_error"]["code"], "card_declined");
    }

    #[test]
    fn a_completed_subscription_checkout_names_its_subscription() {
        let (sub, _) = sample();
        assert_eq!(
            completed_checkout("cs_test_1", &sub, 4_500),
            json!({
                "id": "cs_test_1", "object": "checkout.session", "mode": "subscription",
                "status": "complete", "payment_status": "paid", "customer": "cus_test_1",
                "subscription": "sub_test_1", "amount_total": 4_500, "currency": "usd",
                "metadata": { "org_id": "org_1", "purpose": "subscription" },
            })
        );
    }
}
