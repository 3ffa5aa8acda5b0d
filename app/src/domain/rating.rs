//! Rating: what a call to a destination costs, and how long an available
//! balance lets it last (the rules are stated below and in the README's
//! "Rate deck"). Pure integer arithmetic on micro-dollars, compiled for the server and
//! the browser alike, so the dialer's quote, the hold, the forced hangup and
//! the final charge all come from the same three functions: [`billed_seconds`],
//! [`cost`] and [`max_duration`].
//!
//! The deck these rates come from is `server::db::rates` (longest-prefix
//! lookup); the CSV format is parsed in `server/src/rates_import.rs`.
//!
//! Rounding: a call's usage (`price_per_minute × billed_seconds / 60`) is
//! rarely a whole number of micro-dollars (0.013 $/min for 61 s on 1/1 is
//! 13,216.67 µ$). It is rounded **up** to the next micro-dollar, once per
//! call, so rounding never undercharges; the connection fee is already whole.
//! The rounding error is below one micro-dollar per call.

use super::Money;
use serde::{Deserialize, Serialize};
use std::fmt;

/// E.164 numbers have at most 15 digits, so a prefix cannot be longer.
pub const MAX_PREFIX_DIGITS: usize = 15;
/// Billing increments longer than an hour are not a billing rule anyone uses;
/// refusing them keeps typos (6000 for 60) out of the deck.
pub const MAX_INCREMENT_SECS: u32 = 3600;
/// Longest country name or description the deck accepts.
pub const MAX_TEXT_CHARS: usize = 200;

/// One line of the rate deck: what calls to numbers starting with `prefix`
/// cost. Built only through [`Rate::new`], so every `Rate` has valid
/// increments (which [`billed_seconds`] divides by) and non-negative prices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RateParts", into = "RateParts")]
pub struct Rate {
    prefix: String,
    country_code: String,
    country_name: String,
    description: String,
    price_per_minute: Money,
    connection_fee: Money,
    initial_increment: u32,
    subsequent_increment: u32,
    /// `Some(reason)` when calls to this prefix are refused.
    blocked_reason: Option<String>,
}

/// The raw fields of a [`Rate`], as a deck file or a database row holds them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateParts {
    /// E.164 digits without `+`: "44", "447", "1900".
    pub prefix: String,
    /// ISO 3166-1 alpha-2 ("GB"); normalized to upper case.
    pub country_code: String,
    pub country_name: String,
    pub description: String,
    pub price_per_minute: Money,
    pub connection_fee: Money,
    pub initial_increment: u32,
    pub subsequent_increment: u32,
    pub blocked: bool,
    /// Required when `blocked`, refused otherwise.
    pub blocked_reason: Option<String>,
}

/// One thing wrong with a rate. [`Rate::new`] reports all of them at once so
/// an import can list every problem of a row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RateError {
    Prefix,
    CountryCode,
    CountryName,
    TextTooLong { field: &'static str },
    NegativePrice { field: &'static str },
    Increment { field: &'static str },
    MissingBlockedReason,
    ReasonWithoutBlock,
}

impl fmt::Display for RateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RateError::Prefix => write!(f, "prefix must be 1 to {MAX_PREFIX_DIGITS} digits"),
            RateError::CountryCode => {
                write!(f, "country_code must be two letters (ISO 3166-1, like GB)")
            }
            RateError::CountryName => write!(f, "country_name is empty"),
            RateError::TextTooLong { field } => {
                write!(f, "{field} is longer than {MAX_TEXT_CHARS} characters")
            }
            RateError::NegativePrice { field } => write!(f, "{field} cannot be negative"),
            RateError::Increment { field } => write!(
                f,
                "{field} must be a whole number of seconds from 1 to {MAX_INCREMENT_SECS}"
            ),
            RateError::MissingBlockedReason => {
                write!(f, "a blocked prefix needs a blocked_reason")
            }
            RateError::ReasonWithoutBlock => write!(
                f,
                "blocked_reason is set but the prefix is not blocked (set blocked to 1 or clear the reason)"
            ),
        }
    }
}

/// Every problem of a rejected rate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidRate(pub Vec<RateError>);

impl fmt::Display for InvalidRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, "; ")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for InvalidRate {}

/// True for a valid increment: 1 to 3600 seconds.
pub fn valid_increment(secs: u32) -> bool {
    (1..=MAX_INCREMENT_SECS).contains(&secs)
}

/// True for 1 to 15 ASCII digits.
pub fn valid_prefix(prefix: &str) -> bool {
    (1..=MAX_PREFIX_DIGITS).contains(&prefix.len()) && prefix.bytes().all(|b| b.is_ascii_digit())
}

impl Rate {
    pub fn new(parts: RateParts) -> Result<Rate, InvalidRate> {
        let mut problems = Vec::new();
        if !valid_prefix(&parts.prefix) {
            problems.push(RateError::Prefix);
        }
        let country_code = parts.country_code.trim().to_ascii_uppercase();
        if country_code.len() != 2 || !country_code.bytes().all(|b| b.is_ascii_uppercase()) {
            problems.push(RateError::CountryCode);
        }
        let country_name = parts.country_name.trim().to_owned();
        if country_name.is_empty() {
            problems.push(RateError::CountryName);
        }
        let description = parts.description.trim().to_owned();
        for (field, text) in [
            ("country_name", &country_name),
            ("description", &description),
        ] {
            if text.chars().count() > MAX_TEXT_CHARS {
                problems.push(RateError::TextTooLong { field });
            }
        }
        for (field, price) in [
            ("price_per_minute", parts.price_per_minute),
            ("connection_fee", parts.connection_fee),
        ] {
            if price.is_negative() {
                problems.push(RateError::NegativePrice { field });
            }
        }
        for (field, secs) in [
            ("initial_increment", parts.initial_increment),
            ("subsequent_increment", parts.subsequent_increment),
        ] {
            if !valid_increment(secs) {
                problems.push(RateError::Increment { field });
            }
        }
        let reason = parts
            .blocked_reason
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty());
        match (parts.blocked, &reason) {
            (true, None) => problems.push(RateError::MissingBlockedReason),
            (false, Some(_)) => problems.push(RateError::ReasonWithoutBlock),
            _ => {}
        }
        if let Some(reason) = &reason {
            if reason.chars().count() > MAX_TEXT_CHARS {
                problems.push(RateError::TextTooLong {
                    field: "blocked_reason",
                });
            }
        }
        if !problems.is_empty() {
            return Err(InvalidRate(problems));
        }
        Ok(Rate {
            prefix: parts.prefix,
            country_code,
            country_name,
            description,
            price_per_minute: parts.price_per_minute,
            connection_fee: parts.connection_fee,
            initial_increment: parts.initial_increment,
            subsequent_increment: parts.subsequent_increment,
            blocked_reason: reason,
        })
    }

    /// A rate made of billing terms alone, for costing a call that copied
    /// them (the destination's names play no part in the arithmetic).
    pub fn billing_terms(
        price_per_minute: Money,
        connection_fee: Money,
        initial_increment: u32,
        subsequent_increment: u32,
    ) -> Result<Rate, InvalidRate> {
        Rate::new(RateParts {
            prefix: "0".into(),
            country_code: "ZZ".into(),
            country_name: "-".into(),
            description: String::new(),
            price_per_minute,
            connection_fee,
            initial_increment,
            subsequent_increment,
            blocked: false,
            blocked_reason: None,
        })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn country_code(&self) -> &str {
        &self.country_code
    }

    pub fn country_name(&self) -> &str {
        &self.country_name
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    pub fn price_per_minute(&self) -> Money {
        self.price_per_minute
    }

    pub fn connection_fee(&self) -> Money {
        self.connection_fee
    }

    pub fn initial_increment(&self) -> u32 {
        self.initial_increment
    }

    pub fn subsequent_increment(&self) -> u32 {
        self.subsequent_increment
    }

    pub fn is_blocked(&self) -> bool {
        self.blocked_reason.is_some()
    }

    /// Why calls to this prefix are refused, when they are.
    pub fn blocked_reason(&self) -> Option<&str> {
        self.blocked_reason.as_deref()
    }

    /// Where the rate's numbers lead, as people read it: `United Kingdom ·
    /// Mobile`, or just the country when the deck line says no more.
    pub fn destination(&self) -> String {
        let description = self.description.trim();
        if description.is_empty() || description == self.country_name {
            self.country_name.clone()
        } else {
            format!("{} · {description}", self.country_name)
        }
    }

    /// The seconds a call of `duration_secs` is billed for under this rate.
    pub fn billed_seconds(&self, duration_secs: u64) -> Option<u64> {
        billed_seconds(
            duration_secs,
            self.initial_increment,
            self.subsequent_increment,
        )
    }
}

impl TryFrom<RateParts> for Rate {
    type Error = InvalidRate;

    fn try_from(parts: RateParts) -> Result<Self, Self::Error> {
        Rate::new(parts)
    }
}

impl From<Rate> for RateParts {
    fn from(rate: Rate) -> Self {
        RateParts {
            prefix: rate.prefix,
            country_code: rate.country_code,
            country_name: rate.country_name,
            description: rate.description,
            price_per_minute: rate.price_per_minute,
            connection_fee: rate.connection_fee,
            initial_increment: rate.initial_increment,
            subsequent_increment: rate.subsequent_increment,
            blocked: rate.blocked_reason.is_some(),
            blocked_reason: rate.blocked_reason,
        }
    }
}

/// The seconds a call of `duration_secs` is billed for: 0 for an unanswered
/// (0 s) call; the whole initial increment for a call up to its length; then
/// whole subsequent increments, each started one billed in full.
///
/// None when the answer does not fit in a u64 or an increment is 0 (a
/// [`Rate`] never has one; the check keeps a hand-passed 0 from dividing by zero).
pub fn billed_seconds(duration_secs: u64, initial: u32, subsequent: u32) -> Option<u64> {
    if initial == 0 || subsequent == 0 {
        return None;
    }
    let (initial, subsequent) = (u64::from(initial), u64::from(subsequent));
    if duration_secs == 0 {
        return Some(0);
    }
    if duration_secs <= initial {
        return Some(initial);
    }
    (duration_secs - initial)
        .div_ceil(subsequent)
        .checked_mul(subsequent)?
        .checked_add(initial)
}

/// What an answered call of `duration_secs` costs:
/// `connection_fee + price_per_minute × billed_seconds / 60`, the usage part
/// rounded up to the next micro-dollar (see the module docs). A 0 s call (busy,
/// no answer, failed, canceled) costs nothing, not even the connection fee.
///
/// None when the cost does not fit in a `Money` (absurd durations or prices);
/// never panics.
pub fn cost(rate: &Rate, duration_secs: u64) -> Option<Money> {
    if duration_secs == 0 {
        return Some(Money::ZERO);
    }
    let billed = rate.billed_seconds(duration_secs)?;
    // i128 holds price (< 2^63) × billed (< 2^64) without overflowing.
    let usage_x60 = i128::from(rate.price_per_minute.micros()).checked_mul(i128::from(billed))?;
    let usage = usage_x60.checked_add(59)? / 60;
    let total = usage.checked_add(i128::from(rate.connection_fee.micros()))?;
    i64::try_from(total).ok().map(Money::from_micros)
}

/// The longest call, in seconds, that `available` pays for under `rate`, at
/// most `ceiling_secs`: the largest increment boundary (`initial`,
/// `initial + k × subsequent`) whose [`cost`] fits. The ceiling is rounded
/// down to a boundary too, so a forced hangup never starts an increment it
/// would then bill in full.
///
/// None means refuse the call: the first increment plus the connection fee
/// does not fit, or the ceiling is shorter than the first increment (cannot
/// happen with a ceiling of an hour or more, since increments are at most 3600 s).
///
/// O(1): the condition `fee + ⌈price × b / 60⌉ ≤ available` is, for whole
/// numbers, the same as `price × b ≤ 60 × (available − fee)`, so the longest
/// billable `b` is one division, then rounded down to a boundary.
pub fn max_duration(rate: &Rate, available: Money, ceiling_secs: u64) -> Option<u64> {
    let initial = u64::from(rate.initial_increment);
    let step = u64::from(rate.subsequent_increment);
    if ceiling_secs < initial || step == 0 {
        return None;
    }
    let ceiling = initial + (ceiling_secs - initial) / step * step;
    if cost(rate, initial)? > available {
        return None;
    }
    let price = i128::from(rate.price_per_minute.micros());
    if price == 0 {
        // Only the connection fee, which fits: time is not the limit.
        return Some(ceiling);
    }
    let budget_x60 =
        (i128::from(available.micros()) - i128::from(rate.connection_fee.micros())) * 60;
    // At least `initial`, because the first increment fits.
    let longest_billable = budget_x60 / price;
    let (initial, step) = (i128::from(initial), i128::from(step));
    let longest = initial + (longest_billable - initial) / step * step;
    Some(u64::try_from(longest).map_or(ceiling, |longest| longest.min(ceiling)))
}

/// Parses a deck price in dollars: "0.013", "1", "0.000125". Up to six decimals
/// (whole micro-dollars, since per-minute rates go below a cent), no sign, no
/// exponent, no floats anywhere: the digits become micro-dollars exactly.
pub fn parse_rate_dollars(raw: &str) -> Result<Money, &'static str> {
    let raw = raw.trim().trim_start_matches('$');
    if raw.is_empty() {
        return Err("enter a price in dollars, like 0.013");
    }
    let (whole, fraction) = raw.split_once('.').unwrap_or((raw, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (raw.contains('.') && !digits(fraction)) {
        return Err("a price is written in dollars, like 0.013 (no sign, no exponent)");
    }
    if fraction.len() > 6 {
        return Err("a price has at most six decimals (whole micro-dollars)");
    }
    Money::from_decimal_digits(whole, fraction).ok_or("that price is too large")
}

/// A UK landline rate with these increments, price per minute and
/// connection fee (micro-dollars): the fixture every unit test of rating,
/// cost explanations and call views builds on.
#[cfg(test)]
pub(crate) fn test_rate(initial: u32, subsequent: u32, per_minute: i64, fee: i64) -> Rate {
    Rate::new(RateParts {
        prefix: "44".into(),
        country_code: "GB".into(),
        country_name: "United Kingdom".into(),
        description: "Landline".into(),
        price_per_minute: Money::from_micros(per_minute),
        connection_fee: Money::from_micros(fee),
        initial_increment: initial,
        subsequent_increment: subsequent,
        blocked: false,
        blocked_reason: None,
    })
    .unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(initial: u32, subsequent: u32, per_minute: i64, fee: i64) -> Rate {
        test_rate(initial, subsequent, per_minute, fee)
    }

    const DURATIONS: [u64; 5] = [0, 1, 59, 60, 61];

    #[test]
    fn billed_seconds_follow_the_increments() {
        let table: [((u32, u32), [u64; 5]); 4] = [
            ((60, 60), [0, 60, 60, 60, 120]),
            ((30, 6), [0, 30, 60, 60, 66]),
            ((1, 1), [0, 1, 59, 60, 61]),
            ((60, 1), [0, 60, 60, 60, 61]),
        ];
        for ((initial, subsequent), expected) in table {
            for (d, want) in DURATIONS.into_iter().zip(expected) {
                assert_eq!(
                    billed_seconds(d, initial, subsequent),
                    Some(want),
                    "{initial}/{subsequent} for {d} s"
                );
            }
        }
        assert_eq!(billed_seconds(3601, 30, 6), Some(3606));
        assert_eq!(billed_seconds(10, 0, 6), None);
        assert_eq!(billed_seconds(10, 6, 0), None);
    }

    #[test]
    fn costs_follow_the_formula_rounded_up_per_call() {
        // (rate, cost in micro-dollars for 0, 1, 59, 60, 61 s)
        let table = [
            // $0.013/min, 60/60, no fee
            (rate(60, 60, 13_000, 0), [0, 13_000, 13_000, 13_000, 26_000]),
            // $0.02/min, 30/6, $0.01 connection fee: 30 s = $0.01, 66 s = $0.022
            (
                rate(30, 6, 20_000, 10_000),
                [0, 20_000, 30_000, 30_000, 32_000],
            ),
            // $0.035/min, 1/1: 583.33… µ$ a second, each call's total rounded up
            (rate(1, 1, 35_000, 0), [0, 584, 34_417, 35_000, 35_584]),
            // $0.013/min, 1/1, $0.05 fee: the fee is charged once, on answer
            (
                rate(1, 1, 13_000, 50_000),
                [0, 50_217, 62_784, 63_000, 63_217],
            ),
            // free minutes, fee only
            (rate(60, 60, 0, 25_000), [0, 25_000, 25_000, 25_000, 25_000]),
        ];
        for (rate, expected) in &table {
            for (d, want) in DURATIONS.into_iter().zip(expected) {
                assert_eq!(
                    cost(rate, d),
                    Some(Money::from_micros(*want)),
                    "{}/{} at {} for {d} s",
                    rate.initial_increment(),
                    rate.subsequent_increment(),
                    rate.price_per_minute()
                );
            }
        }
    }

    #[test]
    fn an_unanswered_call_costs_nothing_even_with_a_connection_fee() {
        assert_eq!(cost(&rate(60, 60, 13_000, 99_000), 0), Some(Money::ZERO));
    }

    #[test]
    fn huge_durations_and_prices_give_none_instead_of_panicking() {
        let cheap = rate(1, 1, 13_000, 0);
        assert_eq!(cost(&cheap, u64::MAX), None);
        assert_eq!(cost(&rate(60, 60, 13_000, 0), u64::MAX), None);
        assert_eq!(cost(&rate(30, 6, 13_000, 0), u64::MAX - 3), None);
        assert_eq!(cost(&rate(60, 60, i64::MAX, 0), 120), None);
        assert_eq!(
            cost(&rate(60, 60, 0, i64::MAX), 60),
            Some(Money::from_micros(i64::MAX))
        );
        assert_eq!(cost(&rate(60, 60, 60, i64::MAX), 60), None);
        // A ten-year call still prices exactly.
        let ten_years = 10 * 365 * 24 * 3600;
        assert_eq!(
            cost(&cheap, ten_years),
            Some(Money::from_micros(13_000 * 10 * 365 * 24 * 60))
        );
        // The longest call a huge balance pays for is the ceiling, not an overflow.
        let tiny = rate(1, 1, 1, 0);
        assert_eq!(
            max_duration(&tiny, Money::from_micros(i64::MAX), u64::MAX),
            Some(u64::MAX)
        );
        assert_eq!(
            max_duration(&rate(60, 60, 1, 0), Money::from_micros(i64::MAX), u64::MAX),
            Some(u64::MAX - u64::MAX % 60)
        );
    }

    #[test]
    fn the_longest_call_is_the_last_increment_the_balance_covers() {
        const CEILING: u64 = 4 * 3600;
        // (rate, available µ$, longest call in seconds or None = refused)
        let table: Vec<(Rate, i64, Option<u64>)> = vec![
            // 60/60 at $0.013/min: zero, one, many increments, then the ceiling
            (rate(60, 60, 13_000, 0), 0, None),
            (rate(60, 60, 13_000, 0), 12_999, None),
            (rate(60, 60, 13_000, 0), 13_000, Some(60)),
            (rate(60, 60, 13_000, 0), 25_999, Some(60)),
            (rate(60, 60, 13_000, 0), 26_000, Some(120)),
            (rate(60, 60, 13_000, 0), 1_000_000, Some(76 * 60)),
            (rate(60, 60, 13_000, 0), 1_000_000_000, Some(CEILING)),
            // 30/6 at $0.02/min + $0.01: the first 30 s cost $0.02, each 6 s $0.002
            (rate(30, 6, 20_000, 10_000), 19_999, None),
            (rate(30, 6, 20_000, 10_000), 20_000, Some(30)),
            (rate(30, 6, 20_000, 10_000), 21_999, Some(30)),
            (rate(30, 6, 20_000, 10_000), 22_000, Some(36)),
            (rate(30, 6, 20_000, 10_000), 1_000_000, Some(2_970)),
            // 1/1 at $0.035/min: 584 µ$ pays the first second (rounded up)
            (rate(1, 1, 35_000, 0), 583, None),
            (rate(1, 1, 35_000, 0), 584, Some(1)),
            (rate(1, 1, 35_000, 0), 1_000_000, Some(1_714)),
            // a connection fee alone can refuse a call
            (rate(1, 1, 13_000, 50_000), 50_216, None),
            (rate(1, 1, 13_000, 50_000), 50_217, Some(1)),
            // free minutes: only the fee must fit
            (rate(60, 60, 0, 0), 0, Some(CEILING)),
            (rate(60, 60, 0, 10_000), 9_999, None),
            (rate(60, 60, 0, 10_000), 10_000, Some(CEILING)),
            // a negative available balance (holds above the balance) refuses
            (rate(60, 60, 0, 0), -1, None),
        ];
        for (rate, available, expected) in &table {
            let got = max_duration(rate, Money::from_micros(*available), CEILING);
            assert_eq!(
                got,
                *expected,
                "{}/{} at {} + {} with {available} µ$",
                rate.initial_increment(),
                rate.subsequent_increment(),
                rate.price_per_minute(),
                rate.connection_fee()
            );
        }
    }

    #[test]
    fn the_ceiling_is_rounded_down_to_an_increment_boundary() {
        let rich = Money::from_dollars(1_000).unwrap();
        assert_eq!(
            max_duration(&rate(60, 60, 13_000, 0), rich, 1_000),
            Some(960)
        );
        assert_eq!(
            max_duration(&rate(30, 6, 13_000, 0), rich, 1_000),
            Some(996)
        );
        assert_eq!(max_duration(&rate(60, 60, 13_000, 0), rich, 60), Some(60));
        // A ceiling shorter than the first increment leaves no call to place.
        assert_eq!(max_duration(&rate(60, 60, 13_000, 0), rich, 59), None);
    }

    #[test]
    fn rates_are_validated_with_every_problem_reported() {
        let good = RateParts::from(rate(60, 60, 13_000, 0));
        assert!(Rate::new(good.clone()).is_ok());
        let bad = RateParts {
            prefix: "44a".into(),
            country_code: "GBR".into(),
            country_name: " ".into(),
            price_per_minute: Money::from_micros(-1),
            connection_fee: Money::from_micros(-1),
            initial_increment: 0,
            subsequent_increment: 3601,
            blocked: true,
            blocked_reason: Some("  ".into()),
            ..good.clone()
        };
        let InvalidRate(problems) = Rate::new(bad).unwrap_err();
        assert_eq!(
            problems,
            vec![
                RateError::Prefix,
                RateError::CountryCode,
                RateError::CountryName,
                RateError::NegativePrice {
                    field: "price_per_minute"
                },
                RateError::NegativePrice {
                    field: "connection_fee"
                },
                RateError::Increment {
                    field: "initial_increment"
                },
                RateError::Increment {
                    field: "subsequent_increment"
                },
                RateError::MissingBlockedReason,
            ]
        );
        for prefix in ["", "1234567890123456", "+44", "4 4"] {
            let parts = RateParts {
                prefix: prefix.into(),
                ..good.clone()
            };
            assert!(Rate::new(parts).is_err(), "{prefix:?}");
        }
        let reason_only = RateParts {
            blocked_reason: Some("premium".into()),
            ..good.clone()
        };
        assert_eq!(
            Rate::new(reason_only).unwrap_err().0,
            vec![RateError::ReasonWithoutBlock]
        );
        let blocked = Rate::new(RateParts {
            blocked: true,
            blocked_reason: Some(" premium rate ".into()),
            ..good.clone()
        })
        .unwrap();
        assert!(blocked.is_blocked());
        assert_eq!(blocked.blocked_reason(), Some("premium rate"));
        assert_eq!(blocked.country_code(), "GB");
        for (initial, subsequent) in [(1, 1), (3600, 3600)] {
            assert!(Rate::new(RateParts {
                initial_increment: initial,
                subsequent_increment: subsequent,
                ..good.clone()
            })
            .is_ok());
        }
    }

    #[test]
    fn a_rate_cannot_be_converted_around_its_validation() {
        // Serde goes through these same conversions (`try_from`/`into`).
        let mut parts = RateParts::from(rate(30, 6, 13_000, 0));
        assert_eq!(Rate::try_from(parts.clone()), Ok(rate(30, 6, 13_000, 0)));
        parts.subsequent_increment = 0;
        assert!(Rate::try_from(parts).is_err());
    }

    #[test]
    fn deck_prices_parse_exactly_to_micro_dollars() {
        for (raw, micros) in [
            ("0.013", 13_000),
            ("0.02", 20_000),
            ("1", 1_000_000),
            ("0.000001", 1),
            ("12.5", 12_500_000),
            (" 0.35 ", 350_000),
            ("0", 0),
            ("0.0", 0),
        ] {
            assert_eq!(
                parse_rate_dollars(raw),
                Ok(Money::from_micros(micros)),
                "{raw:?}"
            );
        }
        for bad in [
            "",
            "-0.01",
            "+1",
            "0.0000001",
            "1e-3",
            ".5",
            "5.",
            "1,000",
            "abc",
            "0x10",
            "99999999999999999999",
            "9223372036854.775808",
        ] {
            assert!(parse_rate_dollars(bad).is_err(), "{bad:?}");
        }
    }

    /// xorshift64*: a seeded generator, so a failing case can be replayed.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        fn increment(&mut self) -> u32 {
            match self.below(5) {
                0 => 1,
                1 => 6,
                2 => 30,
                3 => 60,
                _ => 1 + self.below(u64::from(MAX_INCREMENT_SECS)) as u32,
            }
        }

        fn rate(&mut self) -> Rate {
            let per_minute = match self.below(4) {
                0 => 0,
                1 => self.below(100_000) as i64,
                2 => self.below(5_000_000) as i64,
                _ => self.below(1_000_000_000) as i64,
            };
            let fee = if self.below(2) == 0 {
                0
            } else {
                self.below(200_000) as i64
            };
            rate(self.increment(), self.increment(), per_minute, fee)
        }

        fn duration(&mut self) -> u64 {
            match self.below(4) {
                0 => self.below(120),
                1 => self.below(4 * 3600),
                2 => self.below(1 << 40),
                _ => self.next(),
            }
        }
    }

    fn is_boundary(rate: &Rate, secs: u64) -> bool {
        let initial = u64::from(rate.initial_increment());
        secs >= initial && (secs - initial).is_multiple_of(u64::from(rate.subsequent_increment()))
    }

    #[test]
    fn property_billed_seconds_cover_the_call_and_end_on_a_boundary() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..20_000 {
            let rate = rng.rate();
            let d = rng.duration();
            match rate.billed_seconds(d) {
                Some(0) => assert_eq!(d, 0),
                Some(billed) => {
                    assert!(billed >= d, "{billed} < {d} for {rate:?}");
                    assert!(is_boundary(&rate, billed), "{billed} for {rate:?}");
                    // Never a whole extra increment.
                    let step = if billed == u64::from(rate.initial_increment()) {
                        billed
                    } else {
                        u64::from(rate.subsequent_increment())
                    };
                    assert!(billed - d < step, "{billed} for {d} s under {rate:?}");
                }
                None => assert!(d > u64::MAX - u64::from(MAX_INCREMENT_SECS)),
            }
        }
    }

    #[test]
    fn property_cost_never_decreases_with_duration() {
        let mut rng = Rng(0xD1B5_4A32_D192_ED03);
        for _ in 0..20_000 {
            let rate = rng.rate();
            let (a, b) = (rng.duration(), rng.duration());
            let (short, long) = (a.min(b), a.max(b));
            if let (Some(short_cost), Some(long_cost)) = (cost(&rate, short), cost(&rate, long)) {
                assert!(
                    short_cost <= long_cost,
                    "{short} s costs {short_cost} > {long} s at {long_cost} for {rate:?}"
                );
            }
            // One second longer never costs less either.
            if let (Some(now), Some(later)) =
                (cost(&rate, short), cost(&rate, short.saturating_add(1)))
            {
                assert!(now <= later, "{short} s for {rate:?}");
            }
            // And a cost that overflowed stays overflowed for longer calls.
            if cost(&rate, short).is_none() {
                assert!(cost(&rate, long).is_none(), "{short}/{long} for {rate:?}");
            }
        }
    }

    #[test]
    fn property_the_longest_call_fits_and_one_more_increment_does_not() {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        for _ in 0..20_000 {
            let rate = rng.rate();
            let available = Money::from_micros(match rng.below(3) {
                0 => rng.below(100_000) as i64,
                1 => rng.below(100_000_000) as i64,
                _ => rng.below(1 << 50) as i64,
            });
            let ceiling = match rng.below(3) {
                0 => 4 * 3600,
                1 => rng.below(20_000),
                _ => rng.below(1 << 40),
            };
            let first = cost(&rate, u64::from(rate.initial_increment())).unwrap();
            match max_duration(&rate, available, ceiling) {
                None => assert!(
                    first > available || ceiling < u64::from(rate.initial_increment()),
                    "refused with {available} for {rate:?} (ceiling {ceiling})"
                ),
                Some(longest) => {
                    assert!(longest <= ceiling);
                    assert!(is_boundary(&rate, longest), "{longest} for {rate:?}");
                    let spent = cost(&rate, longest).unwrap();
                    assert!(
                        spent <= available,
                        "{longest} s costs {spent} > {available}"
                    );
                    let next = longest + u64::from(rate.subsequent_increment());
                    if next <= ceiling {
                        assert!(
                            cost(&rate, next).is_none_or(|c| c > available),
                            "{next} s also fits {available} for {rate:?}"
                        );
                        // Any second past the boundary starts the next increment.
                        assert_eq!(cost(&rate, longest + 1), cost(&rate, next));
                    }
                }
            }
        }
    }

    #[test]
    fn property_the_longest_call_matches_a_step_by_step_search() {
        let mut rng = Rng(0x0123_4567_89AB_CDEF);
        for _ in 0..1_000 {
            let rate = rng.rate();
            let available = Money::from_micros(rng.below(2_000_000) as i64);
            let ceiling = rng.below(5_000);
            let initial = u64::from(rate.initial_increment());
            let step = u64::from(rate.subsequent_increment());
            let mut best = None;
            let mut boundary = initial;
            while boundary <= ceiling && cost(&rate, boundary).unwrap() <= available {
                best = Some(boundary);
                boundary += step;
            }
            assert_eq!(
                max_duration(&rate, available, ceiling),
                best,
                "{available} for {rate:?} (ceiling {ceiling})"
            );
        }
    }
}
