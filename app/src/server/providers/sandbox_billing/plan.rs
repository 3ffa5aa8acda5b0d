//! The sandbox's plan prices and how its billing periods are counted. Pure:
//! no database, no clock.

use crate::server::providers::payments::PaymentError;
use time::{Date, Month, OffsetDateTime};

/// The sandbox's Team plan prices (the sandbox's `PlanPrices`). In Stripe
/// mode the ids come from configuration instead.
pub const PRICE_TEAM_MONTHLY: &str = crate::server::providers::payments::SANDBOX_PRICE_TEAM_MONTHLY;
pub const PRICE_TEAM_ANNUAL: &str = crate::server::providers::payments::SANDBOX_PRICE_TEAM_ANNUAL;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interval {
    Month,
    Year,
}

impl Interval {
    /// Stripe's `recurring.interval`.
    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Month => "month",
            Interval::Year => "year",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "month" => Some(Interval::Month),
            "year" => Some(Interval::Year),
            _ => None,
        }
    }

    fn months(self) -> i64 {
        match self {
            Interval::Month => 1,
            Interval::Year => 12,
        }
    }
}

/// A price per seat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Price {
    pub id: &'static str,
    pub unit_amount_cents: i64,
    pub interval: Interval,
}

pub const PRICES: [Price; 2] = [
    Price {
        id: PRICE_TEAM_MONTHLY,
        unit_amount_cents: 1_500,
        interval: Interval::Month,
    },
    Price {
        id: PRICE_TEAM_ANNUAL,
        unit_amount_cents: 15_000,
        interval: Interval::Year,
    },
];

/// The sandbox price `id`. Any other id is refused by name, as Stripe
/// refuses an unknown price: nothing ever falls back to another price.
pub fn price(id: &str) -> Result<Price, PaymentError> {
    PRICES
        .into_iter()
        .find(|price| price.id == id)
        .ok_or_else(|| PaymentError::Refused(format!("No such price: '{id}'")))
}

/// `unix` moved `months` calendar months on, at the same time of day; a day
/// the target month lacks becomes its last day (Jan 31 + 1 month = Feb 28).
pub fn add_months(unix: i64, months: i64) -> i64 {
    let start = OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let index = i64::from(start.year()) * 12 + i64::from(u8::from(start.month())) - 1 + months;
    let year = i32::try_from(index.div_euclid(12)).unwrap_or(start.year());
    let month = u8::try_from(index.rem_euclid(12) + 1)
        .ok()
        .and_then(|m| Month::try_from(m).ok())
        .unwrap_or(start.month());
    let day = start.day().min(month.length(year));
    match Date::from_calendar_date(year, month, day) {
        Ok(date) => date.with_time(start.time()).assume_utc().unix_timestamp(),
        Err(_) => unix,
    }
}

/// The first period end strictly after `after` for a subscription anchored
/// at `anchor`: every period ends on the anchor's day of the month (or the
/// month's last day), as Stripe's billing cycle anchor keeps it, so a short
/// February does not shift the following periods.
pub fn period_end_after(anchor: i64, after: i64, interval: Interval) -> i64 {
    let step = interval.months();
    // Start a little before the answer (whole months apart, give or take one).
    let months_apart = (after - anchor).max(0) / (31 * 86_400);
    let mut k = (months_apart / step - 1).max(1);
    while add_months(anchor, k * step) <= after {
        k += 1;
    }
    add_months(anchor, k * step)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-01-31 09:30:00 UTC.
    const JAN_31: i64 = 1_706_693_400;
    const DAY: i64 = 86_400;

    fn date(unix: i64) -> String {
        let t = OffsetDateTime::from_unix_timestamp(unix).unwrap();
        format!("{} {:02}:{:02}", t.date(), t.hour(), t.minute())
    }

    #[test]
    fn only_the_two_sandbox_prices_exist_and_others_are_refused_by_name() {
        assert_eq!(price(PRICE_TEAM_MONTHLY).unwrap().unit_amount_cents, 1_500);
        assert_eq!(
            price(PRICE_TEAM_ANNUAL).unwrap(),
            Price {
                id: PRICE_TEAM_ANNUAL,
                unit_amount_cents: 15_000,
                interval: Interval::Year
            }
        );
        match price("price_team_monthly") {
            Err(PaymentError::Refused(message)) => {
                assert!(message.contains("price_team_monthly"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        assert!(price("").is_err());
    }

    #[test]
    fn months_are_calendar_months_that_clamp_to_the_last_day() {
        assert_eq!(date(add_months(JAN_31, 1)), "2024-02-29 09:30");
        assert_eq!(date(add_months(JAN_31, 2)), "2024-03-31 09:30");
        assert_eq!(date(add_months(JAN_31, 13)), "2025-02-28 09:30");
        assert_eq!(date(add_months(JAN_31, 12)), "2025-01-31 09:30");
        assert_eq!(date(add_months(JAN_31, 0)), "2024-01-31 09:30");
    }

    #[test]
    fn periods_keep_the_anchor_day_after_a_short_month() {
        let first = period_end_after(JAN_31, JAN_31, Interval::Month);
        assert_eq!(date(first), "2024-02-29 09:30");
        let second = period_end_after(JAN_31, first, Interval::Month);
        assert_eq!(date(second), "2024-03-31 09:30", "not March 29");
        let third = period_end_after(JAN_31, second, Interval::Month);
        assert_eq!(date(third), "2024-04-30 09:30");
        assert_eq!(
            date(period_end_after(JAN_31, JAN_31, Interval::Year)),
            "2025-01-31 09:30"
        );
    }

    #[test]
    fn the_period_end_after_any_moment_is_the_next_boundary() {
        for offset in [0, 1, 5 * DAY, 29 * DAY, 45 * DAY, 400 * DAY, 3_000 * DAY] {
            let after = JAN_31 + offset;
            for interval in [Interval::Month, Interval::Year] {
                let end = period_end_after(JAN_31, after, interval);
                assert!(end > after, "{offset} {interval:?}");
                let span = match interval {
                    Interval::Month => 31 * DAY,
                    Interval::Year => 366 * DAY,
                };
                assert!(
                    end - after <= span,
                    "{offset} {interval:?}: skipped a period"
                );
            }
        }
    }
}
