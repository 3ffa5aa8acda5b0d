//! What an organization may do under its plan, derived in one place from the
//! subscription as the provider last described it and the billing clock.
//! `start_call`, invitations, seat changes and the banners all read this and
//! nothing else, so a paused subscription (which Stripe still calls
//! `active`) or a lapsed payment cannot be treated differently in two places.

use serde::{Deserialize, Serialize};

/// The stored facts about an organization's subscription that access depends on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubscriptionFacts {
    /// Stripe's `status`: trialing, active, past_due, unpaid, canceled,
    /// incomplete, incomplete_expired, paused.
    pub status: String,
    pub cancel_at_period_end: bool,
    /// `pause_collection` is set.
    pub paused: bool,
    /// `pause_collection.resumes_at`.
    pub pause_resumes_at: Option<i64>,
    pub current_period_end: Option<i64>,
    pub trial_end: Option<i64>,
    pub ended_at: Option<i64>,
    /// When the oldest invoice still unpaid first failed (`invoice.payment_failed`).
    pub payment_failed_at: Option<i64>,
}

/// The organization's access, as of one instant of its billing clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccessState {
    /// No subscription: the owner calls pay-as-you-go; one seat.
    Free,
    Trialing {
        until: i64,
    },
    Active {
        renews_at: Option<i64>,
    },
    /// Canceled at the period's end: everything works until `ends_at`.
    CancelingUntil {
        ends_at: i64,
    },
    /// Collection paused: no new calls until it resumes (`None`: indefinitely).
    PausedUntil {
        resumes_at: Option<i64>,
    },
    /// A payment failed; calls still work until `until`.
    PastDueGrace {
        until: i64,
    },
    /// The grace period is over: new calls are refused until the invoice is paid.
    Blocked {
        since: i64,
    },
    /// The subscription ended: the organization is on the Free plan again.
    Canceled {
        ended_at: Option<i64>,
    },
}

/// Stripe statuses under which the subscription no longer exists.
const ENDED: [&str; 2] = ["canceled", "incomplete_expired"];

/// Derives the access state. Order matters: a failed payment outranks a
/// pause or a scheduled cancellation (money owed is what the admin must see),
/// and a pause outranks `active` because Stripe keeps `status=active` while
/// collection is paused.
pub fn derive(facts: Option<&SubscriptionFacts>, now: i64, grace_secs: i64) -> AccessState {
    let Some(facts) = facts else {
        return AccessState::Free;
    };
    if ENDED.contains(&facts.status.as_str()) {
        return AccessState::Canceled {
            ended_at: facts.ended_at,
        };
    }
    // Checkout has not been paid yet: nothing to grant.
    if facts.status == "incomplete" {
        return AccessState::Free;
    }
    let failed_at = facts.payment_failed_at.or_else(|| {
        // Past due without the invoice event (not delivered yet): the period
        // that was not paid for ended when the renewal was attempted.
        matches!(facts.status.as_str(), "past_due" | "unpaid")
            .then_some(facts.current_period_end)
            .flatten()
    });
    if let Some(failed_at) = failed_at {
        let until = failed_at.saturating_add(grace_secs.max(0));
        return if now < until && facts.status != "unpaid" {
            AccessState::PastDueGrace { until }
        } else {
            AccessState::Blocked { since: until }
        };
    }
    if facts.status == "unpaid" {
        return AccessState::Blocked {
            since: facts.current_period_end.unwrap_or(now),
        };
    }
    let pause_running = facts.paused && facts.pause_resumes_at.is_none_or(|at| now < at);
    if pause_running || facts.status == "paused" {
        return AccessState::PausedUntil {
            resumes_at: facts.pause_resumes_at,
        };
    }
    if facts.cancel_at_period_end {
        if let Some(ends_at) = facts.current_period_end {
            return AccessState::CancelingUntil { ends_at };
        }
    }
    if facts.status == "trialing" {
        if let Some(until) = facts.trial_end {
            return AccessState::Trialing { until };
        }
    }
    AccessState::Active {
        renews_at: facts.current_period_end,
    }
}

impl AccessState {
    /// A subscription exists that has not ended (its seats count, it can be changed).
    pub fn is_subscribed(&self) -> bool {
        !matches!(self, AccessState::Free | AccessState::Canceled { .. })
    }

    /// How many people (members plus open invitations) the organization may
    /// hold: the subscription's seats, or the Free plan's one.
    pub fn seat_limit(&self, subscribed_seats: u32) -> u32 {
        if self.is_subscribed() {
            subscribed_seats.max(1)
        } else {
            1
        }
    }

    /// Why a new call is refused, or None when calls may start. Live calls are
    /// never ended by this: they finish on their own.
    pub fn call_refusal(&self) -> Option<String> {
        match self {
            AccessState::PausedUntil { resumes_at } => Some(match resumes_at {
                Some(at) => format!(
                    "The subscription is paused until {}: calls start again then, or an owner or admin can resume it now in Settings.",
                    crate::domain::plan::day_of(*at)
                ),
                None => "The subscription is paused: an owner or admin can resume it in Settings.".to_owned(),
            }),
            AccessState::Blocked { .. } => Some(
                "A payment for this organization's subscription is overdue, so new calls are refused. An owner or admin can update the payment method and retry the payment in Settings.".to_owned(),
            ),
            _ => None,
        }
    }

    /// Why an invitation is refused regardless of free seats, if it is.
    pub fn invitation_refusal(&self) -> Option<&'static str> {
        match self {
            AccessState::Blocked { .. } => {
                Some("a payment is overdue: pay it (Settings, Billing) before inviting anyone")
            }
            _ => None,
        }
    }

    /// Stable name for styling, tests and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            AccessState::Free => "free",
            AccessState::Trialing { .. } => "trialing",
            AccessState::Active { .. } => "active",
            AccessState::CancelingUntil { .. } => "canceling",
            AccessState::PausedUntil { .. } => "paused",
            AccessState::PastDueGrace { .. } => "grace",
            AccessState::Blocked { .. } => "blocked",
            AccessState::Canceled { .. } => "canceled",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;
    const DAY: i64 = 86_400;
    const GRACE: i64 = 3 * DAY;

    fn active() -> SubscriptionFacts {
        SubscriptionFacts {
            status: "active".into(),
            current_period_end: Some(NOW + 20 * DAY),
            ..SubscriptionFacts::default()
        }
    }

    #[test]
    fn the_access_table() {
        let cases: Vec<(&str, Option<SubscriptionFacts>, AccessState)> = vec![
            ("no subscription", None, AccessState::Free),
            (
                "active renews at the period end",
                Some(active()),
                AccessState::Active {
                    renews_at: Some(NOW + 20 * DAY),
                },
            ),
            (
                "trialing",
                Some(SubscriptionFacts {
                    status: "trialing".into(),
                    trial_end: Some(NOW + DAY),
                    ..active()
                }),
                AccessState::Trialing { until: NOW + DAY },
            ),
            (
                "cancel at period end keeps access until then",
                Some(SubscriptionFacts {
                    cancel_at_period_end: true,
                    ..active()
                }),
                AccessState::CancelingUntil {
                    ends_at: NOW + 20 * DAY,
                },
            ),
            (
                "paused although Stripe says active",
                Some(SubscriptionFacts {
                    paused: true,
                    pause_resumes_at: Some(NOW + 5 * DAY),
                    ..active()
                }),
                AccessState::PausedUntil {
                    resumes_at: Some(NOW + 5 * DAY),
                },
            ),
            (
                "paused with no resume date",
                Some(SubscriptionFacts {
                    paused: true,
                    ..active()
                }),
                AccessState::PausedUntil { resumes_at: None },
            ),
            (
                "a pause whose date has passed no longer pauses",
                Some(SubscriptionFacts {
                    paused: true,
                    pause_resumes_at: Some(NOW),
                    ..active()
                }),
                AccessState::Active {
                    renews_at: Some(NOW + 20 * DAY),
                },
            ),
            (
                "payment failed: grace",
                Some(SubscriptionFacts {
                    status: "past_due".into(),
                    payment_failed_at: Some(NOW - DAY),
                    ..active()
                }),
                AccessState::PastDueGrace {
                    until: NOW - DAY + GRACE,
                },
            ),
            (
                "payment failed, invoice event first (status still active): grace",
                Some(SubscriptionFacts {
                    payment_failed_at: Some(NOW - DAY),
                    ..active()
                }),
                AccessState::PastDueGrace {
                    until: NOW - DAY + GRACE,
                },
            ),
            (
                "past the grace period: blocked",
                Some(SubscriptionFacts {
                    status: "past_due".into(),
                    payment_failed_at: Some(NOW - GRACE),
                    ..active()
                }),
                AccessState::Blocked { since: NOW },
            ),
            (
                "past due without the invoice event counts from the period end",
                Some(SubscriptionFacts {
                    status: "past_due".into(),
                    current_period_end: Some(NOW - 4 * DAY),
                    ..active()
                }),
                AccessState::Blocked { since: NOW - DAY },
            ),
            (
                "a failed payment outranks a pause and a cancellation",
                Some(SubscriptionFacts {
                    paused: true,
                    cancel_at_period_end: true,
                    payment_failed_at: Some(NOW),
                    ..active()
                }),
                AccessState::PastDueGrace { until: NOW + GRACE },
            ),
            (
                "unpaid is blocked at once",
                Some(SubscriptionFacts {
                    status: "unpaid".into(),
                    payment_failed_at: Some(NOW),
                    ..active()
                }),
                AccessState::Blocked { since: NOW + GRACE },
            ),
            (
                "canceled",
                Some(SubscriptionFacts {
                    status: "canceled".into(),
                    ended_at: Some(NOW - DAY),
                    ..active()
                }),
                AccessState::Canceled {
                    ended_at: Some(NOW - DAY),
                },
            ),
            (
                "a checkout not paid yet grants nothing",
                Some(SubscriptionFacts {
                    status: "incomplete".into(),
                    ..active()
                }),
                AccessState::Free,
            ),
        ];
        for (name, facts, expected) in cases {
            assert_eq!(derive(facts.as_ref(), NOW, GRACE), expected, "{name}");
        }
    }

    #[test]
    fn calls_are_refused_only_when_paused_or_blocked() {
        let refused = [
            AccessState::PausedUntil {
                resumes_at: Some(NOW),
            },
            AccessState::Blocked { since: NOW },
        ];
        for state in refused {
            assert!(state.call_refusal().is_some(), "{state:?}");
        }
        let allowed = [
            AccessState::Free,
            AccessState::Trialing { until: NOW },
            AccessState::Active { renews_at: None },
            AccessState::CancelingUntil { ends_at: NOW },
            AccessState::PastDueGrace { until: NOW },
            AccessState::Canceled { ended_at: None },
        ];
        for state in allowed {
            assert_eq!(state.call_refusal(), None, "{state:?}");
        }
    }

    #[test]
    fn seats_come_from_the_subscription_or_the_free_plan() {
        assert_eq!(AccessState::Free.seat_limit(10), 1);
        assert_eq!(AccessState::Canceled { ended_at: None }.seat_limit(10), 1);
        assert_eq!(AccessState::Active { renews_at: None }.seat_limit(10), 10);
        assert_eq!(AccessState::Blocked { since: NOW }.seat_limit(3), 3);
        assert_eq!(
            AccessState::PausedUntil { resumes_at: None }.seat_limit(0),
            1
        );
    }
}
