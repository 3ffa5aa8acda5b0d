//! The organization's subscription (README, "Subscriptions"): every member
//! reads the plan and its state; owners and admins subscribe, change seats,
//! cancel and resume, pause and resume, open the Billing Portal and pay an
//! overdue invoice. The rules are `server::billing`; what the organization
//! may do is the access state (`domain::access_state`), summarised here for
//! the settings section and the banner every page shows.

use crate::domain::PlanInterval;
use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The access state as a page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessSummary {
    /// free, trialing, active, canceling, paused, grace, blocked, canceled:
    /// stable, for styling and tests.
    pub kind: String,
    /// One line: "Team plan, ends on 2027-01-02".
    pub headline: String,
    /// What it means for the people in the organization.
    pub detail: String,
}

/// The subscription a page shows, when there is one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanSummary {
    pub interval: PlanInterval,
    pub seats: u32,
    /// "$15.00 per seat per month", when the provider said the price.
    pub price: Option<String>,
    pub cancel_at_period_end: bool,
    pub paused: bool,
    pub payment_overdue: bool,
    /// The day the current period ends (UTC date), if known.
    pub period_end: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingView {
    pub org_id: String,
    /// The viewer is an owner or admin: the forms.
    pub can_manage: bool,
    /// The built-in sandbox is the payment provider (its test clock is shown).
    pub sandbox: bool,
    pub access: AccessSummary,
    pub plan: Option<PlanSummary>,
    /// Members plus open invitations: the fewest seats allowed.
    pub seats_in_use: i64,
    pub max_seats: u32,
    /// Tomorrow and the last day a pause may last to (UTC dates), for the date input.
    pub pause_from: String,
    pub pause_to: String,
    pub form_key: String,
}

/// The banner every signed-in page shows while the subscription needs
/// attention: paused, payment overdue (grace or blocked), or ending.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessBanner {
    pub kind: String,
    pub text: String,
    /// Owners and admins get the way out (update the card, retry, resume).
    pub can_manage: bool,
}

#[server(endpoint = "billing/load")]
pub async fn load_billing(org_id: String) -> Result<BillingView, AppError> {
    ssr::load_billing(org_id).await
}

/// Owners and admins: Checkout for the Team plan (`interval` monthly or annual).
#[server(endpoint = "billing/subscribe")]
pub async fn subscribe(
    org_id: String,
    interval: String,
    seats: String,
    form_key: String,
) -> Result<(), AppError> {
    ssr::subscribe(org_id, interval, seats, form_key).await
}

/// Owners and admins: the number of seats, prorated on the next invoice.
#[server(endpoint = "billing/seats")]
pub async fn change_seats(org_id: String, seats: String) -> Result<(), AppError> {
    ssr::change_seats(org_id, seats).await
}

/// Owners and admins: cancel at the end of the period.
#[server(endpoint = "billing/cancel")]
pub async fn cancel_subscription(org_id: String) -> Result<(), AppError> {
    ssr::cancel(org_id, true).await
}

/// Owners and admins: undo a cancellation before the period ends.
#[server(endpoint = "billing/resume")]
pub async fn resume_subscription(org_id: String) -> Result<(), AppError> {
    ssr::cancel(org_id, false).await
}

/// Owners and admins: pause until `resumes_on` (YYYY-MM-DD, UTC).
#[server(endpoint = "billing/pause")]
pub async fn pause_subscription(org_id: String, resumes_on: String) -> Result<(), AppError> {
    ssr::pause(org_id, resumes_on).await
}

/// Owners and admins: end a pause now.
#[server(endpoint = "billing/unpause")]
pub async fn unpause_subscription(org_id: String) -> Result<(), AppError> {
    ssr::unpause(org_id).await
}

/// Owners and admins: the Billing Portal (payment method, invoices).
#[server(endpoint = "billing/portal")]
pub async fn open_billing_portal(org_id: String) -> Result<(), AppError> {
    ssr::portal(org_id).await
}

/// Owners and admins: pay the overdue invoice now.
#[server(endpoint = "billing/retry")]
pub async fn retry_payment(org_id: String) -> Result<(), AppError> {
    ssr::retry_payment(org_id).await
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use super::*;
    use crate::domain::access_state::AccessState;
    use crate::domain::FormKey;
    use crate::server::billing::{self, MAX_PAUSE_DAYS};
    use crate::server::guard::{self, OrgAdmin};
    use crate::server::subscriptions::Subscription;
    use crate::server::{dates, ids};

    async fn require_admin(org_id: &str) -> Result<(OrgAdmin, crate::server::AppState), AppError> {
        let (member, state) = guard::require_member(org_id).await?;
        Ok((member.require_admin()?, state))
    }

    pub async fn load_billing(org_id: String) -> Result<BillingView, AppError> {
        let (member, state) = guard::require_member(&org_id).await?;
        let access = billing::load(&state, &member.org_id).await?;
        let (billing_now, sub) = (access.billing_now, access.subscription);
        let access = access.state;
        let seats_in_use = billing::seats_in_use(&state, &member.org_id).await?;
        let can_manage = member.role.can_manage_org();
        Ok(BillingView {
            org_id: member.org_id,
            can_manage,
            sandbox: state.payments.name() == "sandbox",
            access: summary(&access, can_manage),
            plan: sub
                .as_ref()
                .filter(|_| access.is_subscribed())
                .map(plan_summary),
            seats_in_use,
            max_seats: state.subscriptions.max_seats,
            pause_from: day(billing_now + 86_400),
            pause_to: day(billing_now + MAX_PAUSE_DAYS * 86_400),
            form_key: ids::new_id("plan"),
        })
    }

    pub async fn subscribe(
        org_id: String,
        interval: String,
        seats: String,
        form_key: String,
    ) -> Result<(), AppError> {
        let (admin, state) = require_admin(&org_id).await?;
        let interval = PlanInterval::parse(&interval)
            .ok_or_else(|| AppError::validation("interval", "choose monthly or annual billing"))?;
        let seats = parse_seats(&seats)?;
        let form_key =
            FormKey::parse(&form_key).map_err(|m| AppError::validation("form_key", m))?;
        let url = billing::subscribe(&state, &admin, interval, seats, &form_key).await?;
        leptos_axum::redirect(&url);
        Ok(())
    }

    pub async fn change_seats(org_id: String, seats: String) -> Result<(), AppError> {
        let (admin, state) = require_admin(&org_id).await?;
        billing::change_seats(&state, &admin, parse_seats(&seats)?).await
    }

    pub async fn cancel(org_id: String, cancel: bool) -> Result<(), AppError> {
        let (admin, state) = require_admin(&org_id).await?;
        billing::cancel_at_period_end(&state, &admin, cancel).await
    }

    pub async fn pause(org_id: String, resumes_on: String) -> Result<(), AppError> {
        let (admin, state) = require_admin(&org_id).await?;
        let date = dates::parse_date(&resumes_on).ok_or_else(|| {
            AppError::validation("resumes_on", "choose the day the subscription resumes")
        })?;
        billing::pause(&state, &admin, dates::day_start(date)).await
    }

    pub async fn unpause(org_id: String) -> Result<(), AppError> {
        let (admin, state) = require_admin(&org_id).await?;
        billing::resume_now(&state, &admin).await
    }

    pub async fn portal(org_id: String) -> Result<(), AppError> {
        let (admin, state) = require_admin(&org_id).await?;
        let url = billing::portal(&state, &admin).await?;
        leptos_axum::redirect(&url);
        Ok(())
    }

    pub async fn retry_payment(org_id: String) -> Result<(), AppError> {
        let (admin, state) = require_admin(&org_id).await?;
        billing::retry_payment(&state, &admin).await
    }

    fn parse_seats(raw: &str) -> Result<u32, AppError> {
        raw.trim()
            .parse::<u32>()
            .ok()
            .filter(|seats| *seats >= 1)
            .ok_or_else(|| {
                AppError::validation("seats", "enter a whole number of seats, at least 1")
            })
    }

    fn day(unix: i64) -> String {
        dates::iso_date(dates::date_of(unix))
    }

    fn plan_summary(sub: &Subscription) -> PlanSummary {
        PlanSummary {
            interval: sub.interval,
            seats: sub.quantity,
            price: sub
                .unit_amount_cents
                .and_then(crate::domain::Money::from_cents)
                .map(|each| {
                    let per = match sub.interval {
                        PlanInterval::Monthly => "month",
                        PlanInterval::Annual => "year",
                    };
                    format!("{each} per seat per {per}")
                }),
            cancel_at_period_end: sub.cancel_at_period_end,
            paused: sub.paused,
            payment_overdue: sub.payment_failed_at.is_some(),
            period_end: sub.current_period_end.map(day),
        }
    }

    /// The access state in words, for the settings section.
    pub fn summary(access: &AccessState, can_manage: bool) -> AccessSummary {
        let (kind, headline, detail) = match access {
            AccessState::Free => (
                "free",
                "Free plan".to_owned(),
                "One member, the owner, calling pay-as-you-go. The Team plan adds seats \
                 for colleagues, billed per seat."
                    .to_owned(),
            ),
            AccessState::Trialing { until } => (
                "trialing",
                format!("Team plan, trial until {}", day(*until)),
                "Everyone can call; the first invoice comes when the trial ends.".to_owned(),
            ),
            AccessState::Active { renews_at } => (
                "active",
                match renews_at {
                    Some(at) => format!("Team plan, renews on {}", day(*at)),
                    None => "Team plan".to_owned(),
                },
                "Everyone can call.".to_owned(),
            ),
            AccessState::CancelingUntil { ends_at } => (
                "canceling",
                format!("Team plan, ends on {}", day(*ends_at)),
                ending_detail(),
            ),
            AccessState::PausedUntil { resumes_at } => (
                "paused",
                match resumes_at {
                    Some(at) => format!("Paused until {}", day(*at)),
                    None => "Paused".to_owned(),
                },
                "Nobody can start calls while the subscription is paused; nothing is billed."
                    .to_owned(),
            ),
            AccessState::PastDueGrace { until } => (
                "grace",
                format!("Payment failed: calls stop on {}", day(*until)),
                if can_manage {
                    "Update the payment method or retry the payment before then.".to_owned()
                } else {
                    "Ask an owner or admin to update the payment method.".to_owned()
                },
            ),
            AccessState::Blocked { .. } => (
                "blocked",
                "Payment overdue: calls are blocked".to_owned(),
                if can_manage {
                    "Update the payment method, then retry the payment. Calls work again as \
                     soon as it is paid."
                        .to_owned()
                } else {
                    "New calls are refused until the payment goes through. Please contact an \
                     owner or admin of this organization."
                        .to_owned()
                },
            ),
            AccessState::Canceled { .. } => (
                "canceled",
                "Free plan (the Team plan ended)".to_owned(),
                ending_detail(),
            ),
        };
        AccessSummary {
            kind: kind.to_owned(),
            headline,
            detail,
        }
    }

    fn ending_detail() -> String {
        "When the Team plan ends the organization moves to the Free plan. Nothing is deleted: \
         members beyond the first seat stay and can still call, call history, credits and \
         settings are kept, but no one new can join until you subscribe again."
            .to_owned()
    }

    /// The banner for pages, when the state needs one.
    pub fn banner(access: &AccessState, can_manage: bool, now: i64) -> Option<AccessBanner> {
        let text = match access {
            AccessState::PausedUntil { resumes_at } => match resumes_at {
                Some(at) => format!(
                    "The subscription is paused until {}: new calls are off until then.",
                    day(*at)
                ),
                None => "The subscription is paused: new calls are off.".to_owned(),
            },
            AccessState::PastDueGrace { until } => format!(
                "Payment failed. Calls stop in {} (on {}) unless the payment goes through.",
                countdown(until - now),
                day(*until)
            ),
            AccessState::Blocked { .. } if can_manage => {
                "Payment overdue: new calls are blocked. Update the payment method and retry \
                 the payment."
                    .to_owned()
            }
            AccessState::Blocked { .. } => {
                "Payment overdue: new calls are blocked. Please contact an owner or admin of \
                 this organization."
                    .to_owned()
            }
            _ => return None,
        };
        Some(AccessBanner {
            kind: summary(access, can_manage).kind,
            text,
            can_manage,
        })
    }

    /// "2 days 4 hours", "5 hours", "under an hour".
    fn countdown(secs: i64) -> String {
        let hours = secs.max(0) / 3600;
        let (days, hours) = (hours / 24, hours % 24);
        let plural = |n: i64, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        match (days, hours) {
            (0, 0) => "under an hour".to_owned(),
            (0, h) => plural(h, "hour"),
            (d, 0) => plural(d, "day"),
            (d, h) => format!("{} {}", plural(d, "day"), plural(h, "hour")),
        }
    }

    #[cfg(test)]
    mod tests {
        use super::countdown;

        #[test]
        fn countdowns_read_as_people_say_them() {
            assert_eq!(countdown(-5), "under an hour");
            assert_eq!(countdown(3599), "under an hour");
            assert_eq!(countdown(3600), "1 hour");
            assert_eq!(countdown(86_400), "1 day");
            assert_eq!(countdown(2 * 86_400 + 4 * 3600 + 59), "2 days 4 hours");
        }
    }
}
