//! What happens to a sandbox subscription while its test clock moves on:
//! a pause reaching its `resumes_at` ends, and at each period end it is
//! canceled (`cancel_at_period_end`), renewed without a charge (collection
//! paused, `behavior: void`) or renewed with a new `subscription_cycle`
//! invoice that the customer's card pays or declines. Pure: the caller
//! reads the rows, locks them and writes back what this returns.

use super::objects;
use super::plan::{period_end_after, Interval};
use crate::server::db::sandbox_billing::{Invoice, Subscription};
use crate::server::ids::new_id;
use serde_json::Value;

/// An event to send: its type, its object, and when (billing time) it happened.
#[derive(Clone, Debug, PartialEq)]
pub struct Happening {
    pub event_type: &'static str,
    pub object: Value,
    pub at: i64,
}

/// What moving the clock did: new invoices to store and the events, in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Moved {
    pub invoices: Vec<Invoice>,
    pub happenings: Vec<Happening>,
}

impl Moved {
    fn happened(&mut self, event_type: &'static str, object: Value, at: i64) {
        self.happenings.push(Happening {
            event_type,
            object,
            at,
        });
    }
}

/// Where the `renewal` step moves the clock from billing time `now`: to the
/// period's end, or, when that has passed already, to the end of the period
/// after it (both renewals then happen).
pub fn renewal_target(sub: &Subscription, now: i64) -> i64 {
    if sub.current_period_end > now {
        sub.current_period_end
    } else {
        period_end_after(sub.created_at, sub.current_period_end, interval(sub))
    }
}

fn interval(sub: &Subscription) -> Interval {
    // The column's check allows only these two.
    Interval::parse(&sub.billing_interval).unwrap_or(Interval::Month)
}

/// Runs `sub` from billing time `now` to `target`. Events are stamped when
/// they happen, but never before `now`: the webhook orders a subscription's
/// events by `created`, and ones already sent carry at most `now`.
pub fn run_until(sub: &mut Subscription, now: i64, target: i64, card_pays: bool) -> Moved {
    let mut moved = Moved::default();
    let stamp = |at: i64| at.max(now);
    while sub.status != "canceled" && sub.current_period_end <= target {
        let boundary = sub.current_period_end;
        // A pause ending exactly at the period end just ends there: the
        // renewal's own event reports it.
        if let Some(resumes_at) = pause_ending_by(sub, boundary) {
            resume(sub, resumes_at < boundary, stamp(resumes_at), &mut moved);
        }
        at_period_end(sub, boundary, stamp(boundary), card_pays, &mut moved);
    }
    if sub.status != "canceled" {
        if let Some(resumes_at) = pause_ending_by(sub, target) {
            resume(sub, true, stamp(resumes_at), &mut moved);
        }
    }
    moved
}

/// When the pause ends, if it does by `by`.
fn pause_ending_by(sub: &Subscription, by: i64) -> Option<i64> {
    sub.pause_resumes_at
        .filter(|resumes_at| sub.paused && *resumes_at <= by)
}

fn resume(sub: &mut Subscription, report: bool, at: i64, moved: &mut Moved) {
    sub.paused = false;
    sub.pause_resumes_at = None;
    if report {
        moved.happened(
            "customer.subscription.updated",
            objects::subscription(sub),
            at,
        );
    }
}

fn at_period_end(sub: &mut Subscription, boundary: i64, at: i64, pays: bool, moved: &mut Moved) {
    if sub.cancel_at_period_end {
        sub.status = "canceled".into();
        sub.ended_at = Some(boundary);
        moved.happened(
            "customer.subscription.deleted",
            objects::subscription(sub),
            at,
        );
        return;
    }
    let next_end = period_end_after(sub.created_at, boundary, interval(sub));
    sub.current_period_start = boundary;
    sub.current_period_end = next_end;
    if sub.paused {
        // pause_collection void: the period goes by and nothing is collected.
        moved.happened(
            "customer.subscription.updated",
            objects::subscription(sub),
            at,
        );
        return;
    }
    let mut invoice = Invoice {
        invoice_id: new_id("in_test"),
        subscription_id: sub.subscription_id.clone(),
        amount_cents: sub.quantity.saturating_mul(sub.unit_amount_cents),
        status: "paid".into(),
        billing_reason: "subscription_cycle".into(),
        attempt_count: 1,
        first_failed_at: None,
        created_at: boundary,
        period_start: boundary,
        period_end: next_end,
    };
    sub.latest_invoice_id = Some(invoice.invoice_id.clone());
    if pays {
        sub.status = "active".into();
        moved.happened("invoice.paid", objects::invoice(&invoice, sub), at);
    } else {
        // Stripe moves the period on and leaves the invoice open.
        invoice.status = "open".into();
        invoice.first_failed_at = Some(boundary);
        sub.status = "past_due".into();
        moved.happened(
            "invoice.payment_failed",
            objects::invoice(&invoice, sub),
            at,
        );
    }
    moved.happened(
        "customer.subscription.updated",
        objects::subscription(sub),
        at,
    );
    moved.invoices.push(invoice);
}

#[cfg(test)]
mod tests {
    use super::super::objects::tests::sample;
    use super::*;

    /// 2024-01-31 09:30:00 UTC, the subscription's start.
    const START: i64 = 1_706_693_400;
    /// 2024-02-29 09:30:00 UTC, its first period end.
    const FIRST_END: i64 = 1_709_199_000;
    /// 2024-03-31 09:30:00 UTC.
    const SECOND_END: i64 = 1_711_877_400;

    fn subscription() -> Subscription {
        let (mut sub, _) = sample();
        sub.created_at = START;
        sub.current_period_start = START;
        sub.current_period_end = FIRST_END;
        sub
    }

    fn types(moved: &Moved) -> Vec<&'static str> {
        moved.happenings.iter().map(|h| h.event_type).collect()
    }

    #[test]
    fn a_paying_card_renews_with_a_paid_cycle_invoice_for_every_seat() {
        let mut sub = subscription();
        let target = renewal_target(&sub, START + 10);
        assert_eq!(target, FIRST_END);
        let moved = run_until(&mut sub, START + 10, target, true);
        assert_eq!(
            types(&moved),
            ["invoice.paid", "customer.subscription.updated"]
        );
        let invoice = &moved.invoices[0];
        assert_eq!(invoice.amount_cents, 3 * 1_500);
        assert_eq!(invoice.billing_reason, "subscription_cycle");
        assert_eq!(
            (invoice.period_start, invoice.period_end),
            (FIRST_END, SECOND_END)
        );
        assert_eq!(
            (sub.current_period_start, sub.current_period_end),
            (FIRST_END, SECOND_END)
        );
        assert_eq!(
            sub.latest_invoice_id.as_deref(),
            Some(invoice.invoice_id.as_str())
        );
        assert!(moved.happenings.iter().all(|h| h.at == FIRST_END));
        assert_eq!(moved.happenings[1].object["current_period_end"], SECOND_END);
    }

    #[test]
    fn a_declining_card_leaves_the_invoice_open_and_the_subscription_past_due() {
        let mut sub = subscription();
        let moved = run_until(&mut sub, START, FIRST_END, false);
        assert_eq!(
            types(&moved),
            ["invoice.payment_failed", "customer.subscription.updated"]
        );
        assert_eq!(moved.invoices[0].status, "open");
        assert_eq!(moved.invoices[0].first_failed_at, Some(FIRST_END));
        assert_eq!(sub.status, "past_due");
        assert_eq!(sub.current_period_end, SECOND_END, "the period moves on");
        assert_eq!(moved.happenings[0].object["amount_paid"], 0);
    }

    #[test]
    fn cancel_at_period_end_ends_it_at_the_period_end_without_an_invoice() {
        let mut sub = subscription();
        sub.cancel_at_period_end = true;
        let moved = run_until(&mut sub, START, FIRST_END, true);
        assert_eq!(types(&moved), ["customer.subscription.deleted"]);
        assert!(moved.invoices.is_empty());
        assert_eq!(sub.status, "canceled");
        assert_eq!(sub.ended_at, Some(FIRST_END));
        assert_eq!(sub.current_period_end, FIRST_END);
    }

    #[test]
    fn a_pause_ending_before_the_period_end_is_cleared_at_its_time_then_the_renewal_charges() {
        let mut sub = subscription();
        sub.paused = true;
        sub.pause_resumes_at = Some(START + 86_400);
        let moved = run_until(&mut sub, START, FIRST_END, true);
        assert_eq!(
            types(&moved),
            [
                "customer.subscription.updated",
                "invoice.paid",
                "customer.subscription.updated"
            ]
        );
        assert_eq!(moved.happenings[0].at, START + 86_400);
        assert_eq!(moved.happenings[0].object["pause_collection"], Value::Null);
        assert!(!sub.paused);
    }

    #[test]
    fn a_pause_still_running_at_the_period_end_skips_the_charge_but_not_the_period() {
        let mut sub = subscription();
        sub.paused = true;
        sub.pause_resumes_at = Some(SECOND_END + 5);
        let moved = run_until(&mut sub, START, FIRST_END, true);
        assert_eq!(types(&moved), ["customer.subscription.updated"]);
        assert!(moved.invoices.is_empty());
        assert_eq!(sub.current_period_end, SECOND_END);
        assert!(sub.paused);
        assert_eq!(
            moved.happenings[0].object["pause_collection"]["resumes_at"],
            SECOND_END + 5
        );
    }

    #[test]
    fn a_pause_ending_exactly_at_the_period_end_is_charged_and_reported_once() {
        let mut sub = subscription();
        sub.paused = true;
        sub.pause_resumes_at = Some(FIRST_END);
        let moved = run_until(&mut sub, START, FIRST_END, true);
        assert_eq!(
            types(&moved),
            ["invoice.paid", "customer.subscription.updated"]
        );
        assert_eq!(moved.happenings[1].object["pause_collection"], Value::Null);
    }

    #[test]
    fn a_clock_already_past_the_period_end_renews_twice_and_stamps_no_event_in_its_past() {
        let mut sub = subscription();
        let now = FIRST_END + 3 * 86_400;
        let target = renewal_target(&sub, now);
        assert_eq!(target, SECOND_END);
        let moved = run_until(&mut sub, now, target, true);
        assert_eq!(moved.invoices.len(), 2);
        assert_eq!(
            moved.happenings[0].at, now,
            "not before events already sent"
        );
        assert_eq!(moved.happenings[3].at, SECOND_END);
        assert!(sub.current_period_end > SECOND_END);
    }

    #[test]
    fn an_annual_subscription_renews_a_year_on() {
        let mut sub = subscription();
        sub.billing_interval = "year".into();
        sub.unit_amount_cents = 15_000;
        sub.current_period_end = period_end_after(START, START, Interval::Year);
        let end = sub.current_period_end;
        let moved = run_until(&mut sub, START, end, true);
        assert_eq!(moved.invoices[0].amount_cents, 45_000);
        assert_eq!(
            sub.current_period_end,
            period_end_after(START, end, Interval::Year)
        );
    }
}
