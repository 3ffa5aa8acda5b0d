//! Spending controls as the call service reads them: one member's limits in
//! one organization right now (country rule, per-call maximum, and their
//! monthly cap with what counts against it). `calls::authorize` reads them
//! in the write transaction that holds the wallet lock and places the hold,
//! so every hold placed by the organization's calls is seen; the quote reads
//! the same outside it.
//!
//! What counts as a member's spend: the charges of the calls they placed in
//! this organization that ended this calendar month (UTC), plus the open
//! holds of their live calls. Purchases, refunds and other members' calls
//! do not count.

use crate::domain::spending::{CapUse, CountryRule};
use crate::server::dates;
use crate::server::db::spending as db;
use sqlx::AnyConnection;
use time::{Date, Month};

/// One member's limits now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberLimits {
    pub rule: CountryRule,
    /// The organization's per-call maximum.
    pub max_call_minutes: u32,
    /// Their cap and its use; None when they have no cap.
    pub cap: Option<CapUse>,
}

impl MemberLimits {
    pub fn max_call_secs(&self) -> u64 {
        u64::from(self.max_call_minutes) * 60
    }
}

/// `[start, end)` of the calendar month (UTC) `now` falls in, unix seconds.
pub fn month_of(now: i64) -> (i64, i64) {
    let date = dates::date_of(now);
    let first = Date::from_calendar_date(date.year(), date.month(), 1).unwrap_or(date);
    let (year, month) = match date.month() {
        Month::December => (date.year() + 1, Month::January),
        month => (date.year(), month.next()),
    };
    let next = Date::from_calendar_date(year, month, 1).unwrap_or(first);
    (dates::day_start(first), dates::day_start(next))
}

/// Reads `user_id`'s limits in `org_id` on `conn` (in `authorize`, the
/// transaction holding the wallet lock).
pub async fn limits_in(
    conn: &mut AnyConnection,
    org_id: &str,
    user_id: &str,
    now: i64,
) -> Result<MemberLimits, sqlx::Error> {
    let policy = db::policy(conn, org_id).await?;
    let cap = match db::cap_of(conn, org_id, user_id, &policy).await? {
        Some(cap) => {
            let (from, to) = month_of(now);
            let used = db::used_by(conn, org_id, user_id, from, to).await?;
            Some(CapUse {
                cap,
                spent: used.spent,
                held: used.held,
            })
        }
        None => None,
    };
    Ok(MemberLimits {
        rule: policy.rule,
        max_call_minutes: policy.max_call_minutes,
        cap,
    })
}

#[cfg(test)]
mod tests {
    use super::month_of;

    #[test]
    fn months_run_from_the_first_to_the_first_in_utc() {
        // 2026-12-02 13:00 UTC
        assert_eq!(month_of(1_796_216_400), (1_796_083_200, 1_798_761_600));
        // The first second of December belongs to December.
        assert_eq!(month_of(1_796_083_200).0, 1_796_083_200);
        // The last second of November does not.
        assert_eq!(month_of(1_796_083_199).1, 1_796_083_200);
        // February in a leap year.
        let (from, to) = month_of(1_709_251_199); // 2024-02-29 23:59:59
        assert_eq!((to - from) / 86_400, 29);
    }
}
