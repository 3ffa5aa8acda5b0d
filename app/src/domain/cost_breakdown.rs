//! How a call's charge came about, as the call detail page explains it: from
//! the rate copied onto the call and what billing recorded, using the same
//! rules that billed it (`rating.rs`). Pure, so every case is a unit test.
//!
//! Before a call is billed (still live) the stored cost is absent; the
//! breakdown then shows what the rule gives for the talk time so far.

use super::rating::{self, Rate};
use super::Money;

/// The numbers behind one call's charge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CostBreakdown {
    /// The seconds billed: what billing recorded, or what the rule gives for
    /// the talk time so far; 0 for a call never answered.
    pub billed_seconds: i64,
    /// The first increment plus each subsequent one started.
    pub increment_count: i64,
    /// The charge without the connection fee.
    pub usage: Money,
    /// `fee + price × billed s / 60 = total`, for a charged call.
    pub arithmetic: Option<String>,
    /// The usage was not a whole micro-dollar and was rounded up.
    pub rounded_up: bool,
    /// What the rule gives for `billed_seconds`, when the call was charged;
    /// anything other than the stored charge is a discrepancy to look into.
    pub expected: Option<Money>,
}

/// Explains `cost` (the stored charge, if billed) of a call under `rate`
/// with `talked_secs` of talk time and `billed_secs` as billing recorded.
pub fn cost_breakdown(
    rate: &Rate,
    talked_secs: Option<i64>,
    billed_secs: Option<i64>,
    cost: Option<Money>,
) -> CostBreakdown {
    let talked = talked_secs.filter(|secs| *secs > 0);
    let initial = i64::from(rate.initial_increment());
    let subsequent = i64::from(rate.subsequent_increment());
    let billed_seconds = billed_secs
        .or_else(|| {
            let billed = rate.billed_seconds(u64::try_from(talked?).ok()?)?;
            i64::try_from(billed).ok()
        })
        .unwrap_or(0);
    let increment_count = if billed_seconds <= 0 {
        0
    } else {
        1 + (billed_seconds - initial).max(0) / subsequent.max(1)
    };
    let fee = rate.connection_fee();
    let price = rate.price_per_minute();
    let charged = cost.filter(|c| *c > Money::ZERO);
    let usage = charged
        .and_then(|c| c.checked_sub(fee))
        .unwrap_or(Money::ZERO);
    let rounded_up =
        charged.is_some() && (i128::from(price.micros()) * i128::from(billed_seconds)) % 60 != 0;
    let arithmetic =
        charged.map(|total| format!("{fee} + {price} × {billed_seconds} s / 60 = {total}"));
    let expected = charged.and_then(|_| {
        // `cost` rounds billed seconds to increments again, which leaves
        // already-billed seconds unchanged.
        rating::cost(rate, u64::try_from(billed_seconds).ok()?)
    });
    CostBreakdown {
        billed_seconds,
        increment_count,
        usage,
        arithmetic,
        rounded_up,
        expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::rating::test_rate;

    fn rate((initial, subsequent): (u32, u32), per_minute: i64, fee: i64) -> Rate {
        test_rate(initial, subsequent, per_minute, fee)
    }

    /// The breakdown of a completed call billed as the rule bills it.
    fn billed(rate: &Rate, talked: i64) -> CostBreakdown {
        let billed = rate.billed_seconds(talked as u64).unwrap() as i64;
        let cost = rating::cost(rate, talked as u64).unwrap();
        cost_breakdown(rate, Some(talked), Some(billed), Some(cost))
    }

    #[test]
    fn a_sixty_sixty_call_bills_whole_minutes() {
        let breakdown = billed(&rate((60, 60), 13_000, 100_000), 61);
        assert_eq!(
            (breakdown.billed_seconds, breakdown.increment_count),
            (120, 2)
        );
        assert_eq!(breakdown.usage, Money::from_micros(26_000));
        assert_eq!(
            breakdown.arithmetic.as_deref(),
            Some("$0.10 + $0.013 × 120 s / 60 = $0.126")
        );
        assert!(!breakdown.rounded_up);
        assert_eq!(breakdown.expected, Some(Money::from_micros(126_000)));
    }

    #[test]
    fn a_thirty_six_call_bills_six_second_steps_after_the_first_thirty() {
        let breakdown = billed(&rate((30, 6), 10_000, 0), 61);
        assert_eq!(
            (breakdown.billed_seconds, breakdown.increment_count),
            (66, 7)
        );
        assert_eq!(
            breakdown.arithmetic.as_deref(),
            Some("$0.00 + $0.01 × 66 s / 60 = $0.011")
        );
    }

    #[test]
    fn usage_that_is_not_a_whole_micro_dollar_is_said_to_be_rounded_up() {
        let breakdown = billed(&rate((1, 1), 13_000, 0), 61);
        assert!(breakdown.rounded_up, "13,000 × 61 / 60 is not whole");
        assert_eq!(breakdown.usage, Money::from_micros(13_217));
    }

    #[test]
    fn an_unanswered_call_has_nothing_to_explain() {
        let breakdown = cost_breakdown(
            &rate((60, 60), 13_000, 100_000),
            Some(0),
            Some(0),
            Some(Money::ZERO),
        );
        assert_eq!(
            (breakdown.billed_seconds, breakdown.increment_count),
            (0, 0)
        );
        assert_eq!((breakdown.usage, breakdown.arithmetic), (Money::ZERO, None));
        assert_eq!(breakdown.expected, None);
    }

    #[test]
    fn a_live_call_shows_what_the_rule_gives_for_the_talk_time_so_far() {
        let breakdown = cost_breakdown(&rate((30, 6), 10_000, 0), Some(31), None, None);
        assert_eq!(
            (breakdown.billed_seconds, breakdown.increment_count),
            (36, 2)
        );
        assert_eq!((breakdown.arithmetic, breakdown.expected), (None, None));
    }

    #[test]
    fn a_stored_charge_that_disagrees_with_the_rule_is_visible() {
        let rate = rate((60, 60), 13_000, 0);
        let breakdown = cost_breakdown(&rate, Some(61), Some(120), Some(Money::from_micros(1)));
        assert_eq!(breakdown.expected, Some(Money::from_micros(26_000)));
    }
}
