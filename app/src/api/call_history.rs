//! Call history, read side: one organization's calls (filtered, paginated) and
//! the explanation of what one call cost. Placing calls and billing them is the
//! call service's; the CSV export of this history is a plain GET route in
//! `server/src/exports/calls.rs` reading the same queries
//! (`server::db::call_history`).
//!
//! Any member of the organization may read all of its calls. Every function
//! takes the organization id explicitly and checks the caller's membership of
//! exactly that organization first; anyone else gets `NotFound`.
//! Everything people read (times, numbers, labels, the arithmetic) is
//! formatted here, on the server, so the pages only lay it out.

use crate::domain::Money;
use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// Calls per history page.
pub const CALLS_PAGE_SIZE: u32 = 25;

/// A history counts its matching calls this far and no further ("more than
/// 10,000 calls"): an exact count of 100,000 calls read them all on every page.
pub const CALLS_COUNTED_UP_TO: i64 = 10_000;

/// The status filter's choices, `(value, label)` in the order the form lists
/// them: answered calls first (what people look for most), then the endings,
/// then calls still under way.
pub const STATUS_CHOICES: [(&str, &str); 10] = [
    ("answered", "Answered (talked)"),
    ("completed", "Completed"),
    ("busy", "Busy"),
    ("no-answer", "No answer"),
    ("failed", "Failed"),
    ("canceled", "Canceled"),
    ("in-progress", "In progress"),
    ("ringing", "Ringing"),
    ("initiated", "Connecting (initiated)"),
    ("queued", "Connecting (queued)"),
];

/// One call in the history table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRow {
    pub call_id: String,
    pub created_at: i64,
    /// `2024-05-03 14:07 UTC`
    pub time: String,
    /// E.164, as dialed: what Redial dials again.
    pub number: String,
    /// `+44 20 7183 8750`
    pub number_display: String,
    /// `United Kingdom · Mobile`
    pub destination: String,
    /// The member who dialed.
    pub member: String,
    /// `1:05`, or `—` before the call was answered.
    pub duration: String,
    /// Twilio's spelling (`no-answer`).
    pub status: String,
    pub status_label: String,
    pub end_reason_label: Option<String>,
    /// What was charged; None until the call has been billed.
    pub cost: Option<Money>,
}

/// Someone the member filter offers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallMember {
    pub user_id: String,
    pub name: String,
    pub email: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallHistoryPage {
    pub rows: Vec<CallRow>,
    /// How many calls match, counted up to [`CALLS_COUNTED_UP_TO`].
    pub total: i64,
    /// More calls match than `total`: counting stopped there.
    pub more_than_total: bool,
    /// Where the page links go.
    pub links: PageLinks,
    /// For the member filter.
    pub members: Vec<CallMember>,
}

/// The `page` parameter of each link from this page, None where there is
/// nothing that way; `Some("")` is the newest page, which needs none. The
/// server writes them: pages are found by the call they continue from, not
/// by number (`server::db::call_history::Position`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageLinks {
    pub newest: Option<String>,
    pub newer: Option<String>,
    pub older: Option<String>,
    pub oldest: Option<String>,
}

impl PageLinks {
    pub fn any(&self) -> bool {
        self.newer.is_some() || self.older.is_some()
    }
}

/// Everything about one call, and why it cost what it did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallExplanation {
    pub call_id: String,
    /// When it was dialed, `2024-05-03 14:07 UTC`.
    pub time: String,
    pub answered_at: Option<String>,
    pub ended_at: Option<String>,
    pub number: String,
    pub number_display: String,
    pub destination: String,
    pub member: String,
    pub member_email: String,
    pub status: String,
    pub status_label: String,
    pub end_reason_label: Option<String>,
    /// The rate deck prefix that matched, with its `+`: `+447`.
    pub rate_prefix: String,
    pub price_per_minute: Money,
    pub connection_fee: Money,
    /// `60/60`, `30/6`: the first increment, then each one after it, in seconds.
    pub increments: String,
    pub initial_increment: i64,
    pub subsequent_increment: i64,
    /// Talk time as the carrier reported it; None before the call ended.
    pub duration_secs: Option<i64>,
    /// `1:05`, or `—`.
    pub duration: String,
    pub billed_seconds: i64,
    /// How many increments were billed (the first one counts as one).
    pub increment_count: i64,
    /// `price_per_minute × billed_seconds / 60`, rounded up to a micro-dollar.
    pub usage: Money,
    /// What was charged; None until the call has been billed.
    pub cost: Option<Money>,
    /// `$0.10 + $0.013 × 120 s / 60 = $0.126`, for a charged call.
    pub arithmetic: Option<String>,
    /// The usage had a fraction of a micro-dollar, rounded up.
    pub rounded_up: bool,
    /// Why a $0 call cost nothing.
    pub free_reason: Option<String>,
    pub ledger_entry_id: Option<String>,
    /// The ledger's amount for the charge: negative.
    pub ledger_amount: Option<Money>,
    pub carrier: String,
    /// The carrier's id for the call (Twilio's CallSid).
    pub carrier_sid: Option<String>,
}

/// Newest first. `from` and `to` (YYYY-MM-DD, UTC, inclusive), `status` (a
/// carrier status or `answered`), `member` (a user id) and `number` (digits,
/// formatted any way) are optional filters; empty means any. `page` is a
/// page link's parameter ([`PageLinks`]); none is the newest page.
#[allow(clippy::too_many_arguments)]
#[server(endpoint = "calls/history")]
pub async fn call_history(
    org_id: String,
    from: Option<String>,
    to: Option<String>,
    status: Option<String>,
    member: Option<String>,
    number: Option<String>,
    page: Option<String>,
) -> Result<CallHistoryPage, AppError> {
    let raw = RawFilter {
        from,
        to,
        status,
        member,
        number,
    };
    ssr::call_history(org_id, raw, page).await
}

/// One call of the organization with its cost explained; anything else is `NotFound`.
#[server(endpoint = "calls/detail")]
pub async fn call_detail(org_id: String, call_id: String) -> Result<CallExplanation, AppError> {
    ssr::call_detail(org_id, call_id).await
}

#[cfg(feature = "ssr")]
use crate::server::db::call_history::RawCallFilter as RawFilter;

#[cfg(feature = "ssr")]
mod ssr {
    use super::*;
    use crate::domain::cost_breakdown::cost_breakdown;
    use crate::domain::{CallStatus, EndReason};
    use crate::server::dates::display_time;
    use crate::server::db::call_history::{self as queries, CallsPage, HistoryCall, Position};
    use crate::server::guard;
    use crate::server::phone::format_international;
    use std::collections::HashMap;

    pub async fn call_history(
        org_id: String,
        raw: RawFilter,
        page: Option<String>,
    ) -> Result<CallHistoryPage, AppError> {
        let (member, state) = guard::require_member(&org_id).await?;
        let pool = &state.db.pool;
        let (filter, callers) = queries::checked_filter(pool, &member.org_id, &raw).await?;
        let position = Position::parse(page.as_deref())
            .map_err(|e| AppError::validation(e.field, e.message))?;
        let counted =
            queries::count_calls(pool, &member.org_id, &filter, CALLS_COUNTED_UP_TO + 1).await?;
        let size = i64::from(CALLS_PAGE_SIZE);
        let page = queries::calls_at(pool, &member.org_id, &filter, &position, size).await?;
        let links = page_links(&page);
        // A page often lists one number many times: format each number once.
        let mut numbers = HashMap::new();
        let rows = page
            .calls
            .into_iter()
            .map(|record| call_row(record, &mut numbers))
            .collect();
        Ok(CallHistoryPage {
            rows,
            total: counted.min(CALLS_COUNTED_UP_TO),
            more_than_total: counted > CALLS_COUNTED_UP_TO,
            links,
            members: callers
                .into_iter()
                .map(|c| CallMember {
                    user_id: c.user_id,
                    name: c.name,
                    email: c.email,
                })
                .collect(),
        })
    }

    /// Each link's `page` parameter ("" for the newest page, which needs none).
    fn page_links(page: &CallsPage) -> PageLinks {
        let next = page.neighbours();
        let param = |position: Option<Position>| position.map(|p| p.param().unwrap_or_default());
        PageLinks {
            newest: param(next.newest),
            newer: param(next.newer),
            older: param(next.older),
            oldest: param(next.oldest),
        }
    }

    pub async fn call_detail(org_id: String, call_id: String) -> Result<CallExplanation, AppError> {
        let (member, state) = guard::require_member(&org_id).await?;
        let record = queries::history_call(&state.db.pool, &member.org_id, &call_id)
            .await?
            .ok_or(AppError::NotFound)?;
        Ok(explain(record))
    }

    /// `numbers`: the display form of each number formatted so far.
    fn call_row(record: HistoryCall, numbers: &mut HashMap<String, String>) -> CallRow {
        let call = record.call;
        let number_display = numbers
            .entry(call.to_number.clone())
            .or_insert_with(|| format_international(&call.to_number))
            .clone();
        CallRow {
            time: display_time(call.created_at),
            number_display,
            destination: call.destination(),
            duration: duration_text(call.duration_secs),
            status_label: call.status.label().to_owned(),
            end_reason_label: call.end_reason.map(|r| r.label().to_owned()),
            cost: call.cost.map(Money::from_micros),
            status: call.status.as_str().to_owned(),
            call_id: call.call_id,
            created_at: call.created_at,
            number: call.to_number,
            member: record.member_name,
        }
    }

    /// `0:42`, `12:05`, `1:02:05`; `—` when there is no talk time to show.
    pub(super) fn duration_text(secs: Option<i64>) -> String {
        let Some(secs) = secs.filter(|s| *s >= 0) else {
            return "—".to_owned();
        };
        let (hours, minutes, seconds) = (secs / 3600, secs / 60 % 60, secs % 60);
        if hours > 0 {
            format!("{hours}:{minutes:02}:{seconds:02}")
        } else {
            format!("{minutes}:{seconds:02}")
        }
    }

    /// One call with the explanation of its cost: the numbers come from the
    /// pure `cost_breakdown` (the same rules that billed it); this adds the
    /// words and formats everything people read.
    pub(super) fn explain(record: HistoryCall) -> CallExplanation {
        let call = record.call;
        let rate = &call.rate;
        let cost = call.cost.map(Money::from_micros);
        let breakdown = cost_breakdown(rate, call.duration_secs, call.billed_seconds, cost);
        let charged = cost.filter(|c| *c > Money::ZERO);
        if let Some(charged) = charged.filter(|c| breakdown.expected != Some(*c)) {
            // The page still shows what was charged; someone should look.
            tracing::warn!(
                call_id = %call.call_id,
                charged = charged.micros(),
                expected = ?breakdown.expected.map(Money::micros),
                "a call's charge disagrees with the rating rule"
            );
        }
        let talked = call.duration_secs.filter(|d| *d > 0);
        let free_reason =
            (cost == Some(Money::ZERO)).then(|| free_reason(call.status, call.end_reason, talked));
        let (initial, subsequent) = (rate.initial_increment(), rate.subsequent_increment());
        CallExplanation {
            time: display_time(call.created_at),
            answered_at: call.answered_at.map(display_time),
            ended_at: call.ended_at.map(display_time),
            number_display: format_international(&call.to_number),
            destination: call.destination(),
            status_label: call.status.label().to_owned(),
            end_reason_label: call.end_reason.map(|r| r.label().to_owned()),
            rate_prefix: format!("+{}", rate.prefix()),
            price_per_minute: rate.price_per_minute(),
            connection_fee: rate.connection_fee(),
            increments: format!("{initial}/{subsequent}"),
            initial_increment: i64::from(initial),
            subsequent_increment: i64::from(subsequent),
            duration: duration_text(call.duration_secs),
            duration_secs: call.duration_secs,
            billed_seconds: breakdown.billed_seconds,
            increment_count: breakdown.increment_count,
            usage: breakdown.usage,
            cost,
            arithmetic: breakdown.arithmetic,
            rounded_up: breakdown.rounded_up,
            free_reason,
            ledger_amount: record.ledger_amount.map(Money::from_micros),
            ledger_entry_id: call.ledger_entry_id,
            carrier: call.carrier,
            carrier_sid: call.carrier_sid,
            status: call.status.as_str().to_owned(),
            call_id: call.call_id,
            number: call.to_number,
            member: record.member_name,
            member_email: record.member_email,
        }
    }

    /// Why a call cost nothing: it was not answered (no call is charged
    /// before it is), or the destination is free.
    fn free_reason(
        status: CallStatus,
        end_reason: Option<EndReason>,
        talked: Option<i64>,
    ) -> String {
        if talked.is_some() {
            return "Calls to this destination are free.".to_owned();
        }
        let reason =
            end_reason.or_else(|| status.is_terminal().then(|| EndReason::of_terminal(status)));
        let why = match reason {
            Some(
                reason @ (EndReason::Busy
                | EndReason::NoAnswer
                | EndReason::Canceled
                | EndReason::Failed
                | EndReason::CarrierRefused),
            ) => reason.label(),
            _ => "It was never answered",
        };
        format!("{why}. Calls that are not answered cost nothing, not even the connection fee.")
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::ssr::{duration_text, explain};
    use super::STATUS_CHOICES;
    use crate::domain::rating::test_rate;
    use crate::domain::{CallStatus, EndReason, Money};
    use crate::server::db::call_history::{HistoryCall, StatusFilter};
    use crate::server::db::calls::Call;

    fn record(
        (initial, subsequent): (i64, i64),
        per_minute: i64,
        fee: i64,
        duration: i64,
        status: &str,
        end_reason: &str,
    ) -> HistoryCall {
        let billed = crate::domain::rating::billed_seconds(
            duration as u64,
            initial as u32,
            subsequent as u32,
        )
        .unwrap() as i64;
        let cost = if duration == 0 {
            0
        } else {
            fee + (per_minute * billed + 59) / 60
        };
        let rate = test_rate(initial as u32, subsequent as u32, per_minute, fee);
        HistoryCall {
            call: Call {
                call_id: "call_1".into(),
                org_id: "org_1".into(),
                user_id: "usr_1".into(),
                client_key: "dial_1".into(),
                to_number: "+442071838750".into(),
                rate,
                max_duration_secs: 3600,
                hold_id: None,
                carrier: "twilio".into(),
                carrier_sid: Some("CA123".into()),
                parent_sid: None,
                status: CallStatus::parse(status).unwrap(),
                last_sequence: 3,
                end_reason: Some(EndReason::parse(end_reason).unwrap()),
                end_requested_at: None,
                created_at: 1_709_251_200,
                answered_at: (duration > 0).then_some(1_709_251_205),
                ended_at: Some(1_709_251_300),
                duration_secs: Some(duration),
                billed_seconds: Some(billed),
                cost: Some(cost),
                ledger_entry_id: (cost > 0).then(|| "le_1".into()),
                hangup_at_ms: None,
                hangup_sent_at_ms: None,
                updated_at_ms: 1_709_251_300_000,
            },
            member_name: "Ada".into(),
            member_email: "ada@example.com".into(),
            ledger_amount: (cost > 0).then_some(-cost),
        }
    }

    #[test]
    fn a_sixty_sixty_call_bills_whole_minutes() {
        let call = explain(record(
            (60, 60),
            13_000,
            100_000,
            61,
            "completed",
            "hung_up",
        ));
        assert_eq!(call.increments, "60/60");
        assert_eq!((call.billed_seconds, call.increment_count), (120, 2));
        assert_eq!(call.usage, Money::from_micros(26_000));
        assert_eq!(call.cost, Some(Money::from_micros(126_000)));
        assert_eq!(
            call.arithmetic.as_deref(),
            Some("$0.10 + $0.013 × 120 s / 60 = $0.126")
        );
        assert!(!call.rounded_up);
        assert_eq!(call.ledger_amount, Some(Money::from_micros(-126_000)));
        assert_eq!(call.duration, "1:01");
        assert_eq!(call.destination, "United Kingdom · Landline");
        assert_eq!(call.number_display, "+44 20 7183 8750");
        assert_eq!(call.free_reason, None);
    }

    #[test]
    fn a_thirty_six_call_bills_six_second_steps_after_the_first_thirty() {
        let call = explain(record((30, 6), 10_000, 0, 61, "completed", "completed"));
        assert_eq!((call.billed_seconds, call.increment_count), (66, 7));
        assert_eq!(call.cost, Some(Money::from_micros(11_000)));
        assert_eq!(
            call.arithmetic.as_deref(),
            Some("$0.00 + $0.01 × 66 s / 60 = $0.011")
        );
        let rounded = explain(record((1, 1), 13_000, 0, 61, "completed", "completed"));
        assert!(rounded.rounded_up, "13,000 × 61 / 60 is not whole");
        assert_eq!(rounded.cost, Some(Money::from_micros(13_217)));
    }

    #[test]
    fn an_unanswered_call_says_why_it_cost_nothing() {
        let busy = explain(record((60, 60), 13_000, 100_000, 0, "busy", "busy"));
        assert_eq!(busy.cost, Some(Money::ZERO));
        assert_eq!((busy.billed_seconds, busy.increment_count), (0, 0));
        assert_eq!(busy.arithmetic, None);
        assert!(busy
            .free_reason
            .unwrap()
            .starts_with("The line was busy. Calls that are not answered cost nothing"));
        let hung_up = explain(record((60, 60), 13_000, 0, 0, "completed", "hung_up"));
        assert!(hung_up
            .free_reason
            .unwrap()
            .starts_with("It was never answered."));
        let free = explain(record((60, 60), 0, 0, 30, "completed", "hung_up"));
        assert_eq!(
            free.free_reason.as_deref(),
            Some("Calls to this destination are free.")
        );
    }

    #[test]
    fn a_call_not_billed_yet_has_no_cost() {
        let mut live = record((60, 60), 13_000, 0, 0, "in-progress", "hung_up");
        (
            live.call.cost,
            live.call.billed_seconds,
            live.call.end_reason,
        ) = (None, None, None);
        live.call.duration_secs = None;
        let call = explain(live);
        assert_eq!((call.cost, call.free_reason), (None, None));
        assert_eq!(call.duration, "—");
        assert_eq!(call.status_label, "In progress");
    }

    #[test]
    fn durations_read_as_clock_times() {
        assert_eq!(duration_text(Some(0)), "0:00");
        assert_eq!(duration_text(Some(42)), "0:42");
        assert_eq!(duration_text(Some(725)), "12:05");
        assert_eq!(duration_text(Some(3_725)), "1:02:05");
        assert_eq!(duration_text(None), "—");
    }

    #[test]
    fn every_status_choice_is_a_filter_the_server_accepts() {
        for (value, _) in STATUS_CHOICES {
            assert!(StatusFilter::parse(value).is_some(), "{value}");
        }
    }
}
