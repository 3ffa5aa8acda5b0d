//! The sandbox's own pages' server functions: its checkout page and its
//! Billing Portal page stand in for Stripe's hosted ones, so, like Stripe,
//! they need no Phonebooth login: the unguessable session id is the
//! capability. Also the sandbox's test clock, which only a signed-in owner
//! or admin of the organization may move. All exist only while no Stripe key
//! is configured (`NotFound` otherwise).

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxSessionView {
    pub session_id: String,
    /// "payment" (buying credits), "setup" (saving a card) or "subscription"
    pub mode: String,
    /// The total charged now ("$45.00").
    pub amount: String,
    pub credits: i64,
    pub paid: bool,
    pub return_url: String,
    pub cancel_url: String,
    /// Subscription mode: what is subscribed to.
    pub plan: Option<SandboxPlanLine>,
}

/// A subscription checkout's plan: `seats` × `unit_price` per `interval`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxPlanLine {
    pub seats: i64,
    /// "month" or "year"
    pub interval: String,
    pub unit_price: String,
}

#[server(endpoint = "sandbox/session")]
pub async fn sandbox_session(session_id: String) -> Result<SandboxSessionView, AppError> {
    ssr::sandbox_session(session_id).await
}

/// Pays with a test card and returns to the app; a declined card changes nothing.
#[server(endpoint = "sandbox/pay")]
pub async fn sandbox_pay(session_id: String, card_number: String) -> Result<(), AppError> {
    ssr::sandbox_pay(session_id, card_number).await
}

// ---- the Billing Portal ----

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxPortalView {
    pub portal_session_id: String,
    /// "Return to Phonebooth" goes here.
    pub return_url: String,
    pub card_last4: String,
    /// The card on file is 4000 0000 0000 0341: its charges are declined.
    pub card_declines: bool,
    /// Newest first.
    pub plans: Vec<SandboxPortalPlan>,
    /// Newest first.
    pub invoices: Vec<SandboxPortalInvoice>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxPortalPlan {
    pub subscription_id: String,
    pub seats: i64,
    /// "month" or "year"
    pub interval: String,
    pub unit_price: String,
    /// Seats × unit price, per interval.
    pub total: String,
    /// Stripe's status: "active", "past_due" or "canceled".
    pub status: String,
    /// Collection paused until this date, if paused.
    pub paused_until: Option<String>,
    /// "Renews on 2025-03-01", "Ends on …" or "Ended on …".
    pub period_text: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxPortalInvoice {
    pub invoice_id: String,
    pub date: String,
    pub amount: String,
    pub paid: bool,
}

#[server(endpoint = "sandbox/portal")]
pub async fn sandbox_portal(portal_session_id: String) -> Result<SandboxPortalView, AppError> {
    ssr::sandbox_portal(portal_session_id).await
}

/// Replaces the card on file with a test card; the declined card is refused.
#[server(endpoint = "sandbox/portal/card")]
pub async fn sandbox_portal_card(
    portal_session_id: String,
    card_number: String,
) -> Result<(), AppError> {
    ssr::sandbox_portal_card(portal_session_id, card_number).await
}

// ---- the test clock ----

/// The `step` values `sandbox/advance_clock` takes.
pub const STEP_RENEWAL: &str = "renewal";
pub const STEP_GRACE: &str = "grace";

/// How far the test clock moves in one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClockStep {
    /// To the subscription's period end: the renewal (or the cancellation) happens.
    Renewal,
    /// A minute past the payment grace period after a failed payment.
    Grace,
}

impl ClockStep {
    pub const ALL: [ClockStep; 2] = [ClockStep::Renewal, ClockStep::Grace];

    /// The form value.
    pub fn as_str(self) -> &'static str {
        match self {
            ClockStep::Renewal => STEP_RENEWAL,
            ClockStep::Grace => STEP_GRACE,
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|step| step.as_str() == raw)
    }

    /// A button's words.
    pub fn label(self) -> &'static str {
        match self {
            ClockStep::Renewal => "Advance to the next renewal",
            ClockStep::Grace => "Advance past the payment grace period",
        }
    }
}

/// The organization's billing clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxClock {
    /// How far billing time runs ahead of the wall clock, in seconds (0: not moved).
    pub offset_secs: i64,
    /// Billing time now, unix seconds.
    pub billing_now: i64,
}

/// Owners and admins: moves the organization's billing clock one `step`
/// (`renewal` or `grace`) and does what Stripe would do on the way.
#[server(endpoint = "sandbox/advance_clock")]
pub async fn sandbox_advance_clock(org_id: String, step: String) -> Result<(), AppError> {
    ssr::sandbox_advance_clock(org_id, step).await
}

/// Any member: the organization's billing clock.
#[server(endpoint = "sandbox/clock")]
pub async fn load_sandbox_clock(org_id: String) -> Result<SandboxClock, AppError> {
    ssr::load_sandbox_clock(org_id).await
}

#[cfg(feature = "ssr")]
mod ssr {
    use super::*;
    use crate::domain::Money;
    use crate::server::dates::{date_of, iso_date};
    use crate::server::db::sandbox_billing::Subscription;
    use crate::server::guard;
    use crate::server::providers::sandbox::{self, CardError, PM_CHARGES_DECLINE};
    use crate::server::providers::sandbox_billing::plan;
    use crate::server::providers::sandbox_billing::portal;
    use crate::server::providers::sandbox_billing::test_clock::{self, ClockError};
    use crate::server::state::app_state;

    fn sandbox_only() -> Result<crate::server::AppState, AppError> {
        let state = app_state()?;
        if state.payments.name() != "sandbox" {
            return Err(AppError::NotFound);
        }
        Ok(state)
    }

    fn dollars(cents: i64) -> String {
        Money::from_cents(cents).unwrap_or(Money::ZERO).to_string()
    }

    fn day(unix: i64) -> String {
        iso_date(date_of(unix))
    }

    /// What a test card's refusal means to the form that sent it.
    fn card_refused(error: CardError) -> AppError {
        match error {
            CardError::UnknownSession => AppError::NotFound,
            CardError::Unavailable => AppError::Unavailable,
            error => AppError::validation("card_number", error.to_string()),
        }
    }

    pub async fn sandbox_session(session_id: String) -> Result<SandboxSessionView, AppError> {
        let state = sandbox_only()?;
        let session = sandbox::session(&state.db, &session_id)
            .await?
            .ok_or(AppError::NotFound)?;
        let amount = Money::from_cents(session.amount_cents).unwrap_or(Money::ZERO);
        let plan = session
            .price_id
            .as_deref()
            .and_then(|id| plan::price(id).ok())
            .map(|price| SandboxPlanLine {
                seats: session.quantity.unwrap_or(1),
                interval: price.interval.as_str().to_owned(),
                unit_price: dollars(price.unit_amount_cents),
            });
        Ok(SandboxSessionView {
            return_url: session
                .success_url
                .replace("{CHECKOUT_SESSION_ID}", &session.session_id),
            session_id: session.session_id,
            mode: session.mode,
            amount: amount.to_string(),
            credits: amount.credits(),
            paid: session.status == "complete",
            cancel_url: session.cancel_url,
            plan,
        })
    }

    pub async fn sandbox_pay(session_id: String, card_number: String) -> Result<(), AppError> {
        let state = sandbox_only()?;
        let next = sandbox::pay(&state.db, &session_id, &card_number)
            .await
            .map_err(card_refused)?;
        leptos_axum::redirect(&next);
        Ok(())
    }

    fn portal_plan(sub: &Subscription) -> SandboxPortalPlan {
        let period_text = if sub.status == "canceled" {
            format!(
                "Ended on {}",
                day(sub.ended_at.unwrap_or(sub.current_period_end))
            )
        } else if sub.cancel_at_period_end {
            format!("Ends on {}", day(sub.current_period_end))
        } else {
            format!("Renews on {}", day(sub.current_period_end))
        };
        SandboxPortalPlan {
            subscription_id: sub.subscription_id.clone(),
            seats: sub.quantity,
            interval: sub.billing_interval.clone(),
            unit_price: dollars(sub.unit_amount_cents),
            total: dollars(sub.quantity.saturating_mul(sub.unit_amount_cents)),
            status: sub.status.clone(),
            paused_until: sub.paused.then(|| {
                sub.pause_resumes_at
                    .map_or("further notice".to_owned(), day)
            }),
            period_text,
        }
    }

    pub async fn sandbox_portal(portal_session_id: String) -> Result<SandboxPortalView, AppError> {
        let state = sandbox_only()?;
        let snapshot = portal::snapshot(&state.db, &portal_session_id)
            .await?
            .ok_or(AppError::NotFound)?;
        Ok(SandboxPortalView {
            portal_session_id: snapshot.portal.portal_session_id,
            return_url: snapshot.portal.return_url,
            card_declines: snapshot.customer.payment_method_id == PM_CHARGES_DECLINE,
            card_last4: snapshot.customer.card_last4,
            plans: snapshot.subscriptions.iter().map(portal_plan).collect(),
            invoices: snapshot
                .invoices
                .into_iter()
                .map(|invoice| SandboxPortalInvoice {
                    date: day(invoice.created_at),
                    amount: dollars(invoice.amount_cents),
                    paid: invoice.status == "paid",
                    invoice_id: invoice.invoice_id,
                })
                .collect(),
        })
    }

    pub async fn sandbox_portal_card(
        portal_session_id: String,
        card_number: String,
    ) -> Result<(), AppError> {
        let state = sandbox_only()?;
        portal::change_card(&state.db, &portal_session_id, &card_number)
            .await
            .map_err(card_refused)
    }

    fn clock_refused(error: ClockError) -> AppError {
        match error {
            ClockError::NoSubscription => AppError::conflict("no_subscription", error.to_string()),
            ClockError::Ended => AppError::conflict("subscription_ended", error.to_string()),
            ClockError::NoFailedPayment => {
                AppError::conflict("no_failed_payment", error.to_string())
            }
            ClockError::Db(error) => error.into(),
        }
    }

    pub async fn sandbox_advance_clock(org_id: String, step: String) -> Result<(), AppError> {
        sandbox_only()?;
        let (member, state) = guard::require_member(&org_id).await?;
        let admin = member.require_admin()?;
        let org_id = &admin.member().org_id;
        let step = ClockStep::parse(step.trim()).ok_or_else(|| {
            AppError::validation(
                "step",
                format!("the test clock moves by \"{STEP_RENEWAL}\" or \"{STEP_GRACE}\""),
            )
        })?;
        match step {
            ClockStep::Renewal => {
                let sent = test_clock::advance_to_renewal(&state.db, org_id)
                    .await
                    .map_err(clock_refused)?;
                tracing::info!(%org_id, events = ?sent, "sandbox test clock: advanced to the renewal");
            }
            ClockStep::Grace => {
                test_clock::advance_past_grace(&state.db, org_id, state.subscriptions.grace_secs)
                    .await
                    .map_err(clock_refused)?;
                tracing::info!(%org_id, "sandbox test clock: advanced past the grace period");
            }
        }
        Ok(())
    }

    pub async fn load_sandbox_clock(org_id: String) -> Result<SandboxClock, AppError> {
        sandbox_only()?;
        let (member, state) = guard::require_member(&org_id).await?;
        let clock = test_clock::read(&state.db, &member.org_id).await?;
        Ok(SandboxClock {
            offset_secs: clock.offset_secs,
            billing_now: clock.billing_now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_steps_read_back_from_their_form_values_and_nothing_else() {
        for step in ClockStep::ALL {
            assert_eq!(ClockStep::parse(step.as_str()), Some(step));
        }
        assert_eq!(ClockStep::parse("renewal"), Some(ClockStep::Renewal));
        assert_eq!(ClockStep::parse("grace"), Some(ClockStep::Grace));
        for other in ["", "Renewal", "month", "renewal;grace"] {
            assert_eq!(ClockStep::parse(other), None, "{other:?}");
        }
    }
}
