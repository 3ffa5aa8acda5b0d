use serde::{Deserialize, Serialize};
use std::fmt;

/// An amount of money in integer micro-dollars (1 USD = 1,000,000). Never a
/// float. Shown to people as dollars and as credits (1 credit = $0.01).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Money(i64);

pub const MICROS_PER_DOLLAR: i64 = 1_000_000;
pub const MICROS_PER_CREDIT: i64 = 10_000;

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_micros(micros: i64) -> Self {
        Money(micros)
    }

    pub const fn micros(self) -> i64 {
        self.0
    }

    pub fn from_dollars(dollars: i64) -> Option<Self> {
        dollars.checked_mul(MICROS_PER_DOLLAR).map(Money)
    }

    pub fn from_cents(cents: i64) -> Option<Self> {
        cents.checked_mul(MICROS_PER_CREDIT).map(Money)
    }

    /// Parses a dollar amount typed by a person: "10", "10.5", "10.50", "$1,000.25".
    /// At most two decimals (whole cents); negative amounts are refused.
    pub fn parse_dollars(raw: &str) -> Result<Self, &'static str> {
        let cleaned: String = raw
            .trim()
            .trim_start_matches('$')
            .chars()
            .filter(|c| *c != ',')
            .collect();
        if cleaned.is_empty() {
            return Err("enter an amount in dollars");
        }
        let (whole, fraction) = cleaned.split_once('.').unwrap_or((&cleaned, ""));
        let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
        if !digits(whole) || (!fraction.is_empty() && !digits(fraction)) {
            return Err("enter an amount like 25 or 25.50");
        }
        if fraction.len() > 2 {
            return Err("amounts have at most two decimals (whole cents)");
        }
        Money::from_decimal_digits(whole, fraction).ok_or("that amount is too large")
    }

    /// `whole.fraction` dollars, both plain ASCII digits already checked by the
    /// caller, the fraction at most six digits: exact, or None when too large.
    /// The one place typed amounts and deck prices become micro-dollars.
    pub fn from_decimal_digits(whole: &str, fraction: &str) -> Option<Self> {
        if fraction.len() > 6 {
            return None;
        }
        let whole: i64 = whole.parse().ok()?;
        let micros: i64 = format!("{fraction:0<6}").parse().ok()?;
        whole
            .checked_mul(MICROS_PER_DOLLAR)
            .and_then(|w| w.checked_add(micros))
            .map(Money)
    }

    /// The amount in whole cents, for providers that charge cents; None when
    /// it has a fraction of a cent (rounding would charge another amount than
    /// the ledger records).
    pub fn whole_cents(self) -> Option<i64> {
        (self.0 % MICROS_PER_CREDIT == 0).then_some(self.0 / MICROS_PER_CREDIT)
    }

    /// Exact dollars without the currency sign, as typed into a form and as
    /// written to CSV: `25.00`, `-0.50`, `0.0125` (the display without `$`).
    pub fn plain_dollars(self) -> String {
        self.to_string().replacen('$', "", 1)
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).map(Money)
    }

    pub fn checked_neg(self) -> Option<Money> {
        self.0.checked_neg().map(Money)
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// Whole credits (1 credit = $0.01), rounded down.
    pub fn credits(self) -> i64 {
        self.0.div_euclid(MICROS_PER_CREDIT)
    }
}

/// Dollars with two decimals, or more when the amount has fractions of a cent
/// (per-second rates do): `$10.00`, `-$0.50`, `$0.0125`.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let dollars = abs / MICROS_PER_DOLLAR as u64;
        let micros = abs % MICROS_PER_DOLLAR as u64;
        let mut fraction = format!("{micros:06}");
        while fraction.len() > 2 && fraction.ends_with('0') {
            fraction.pop();
        }
        write!(f, "{sign}${dollars}.{fraction}")
    }
}

#[cfg(test)]
mod tests {
    use super::Money;

    #[test]
    fn amounts_display_as_dollars_with_cents_or_finer() {
        assert_eq!(Money::from_dollars(10).unwrap().to_string(), "$10.00");
        assert_eq!(Money::from_micros(-500_000).to_string(), "-$0.50");
        assert_eq!(Money::from_micros(12_500).to_string(), "$0.0125");
        assert_eq!(Money::from_micros(1).to_string(), "$0.000001");
        assert_eq!(Money::ZERO.to_string(), "$0.00");
    }

    #[test]
    fn whole_cents_are_exact_or_none() {
        assert_eq!(Money::from_dollars(10).unwrap().whole_cents(), Some(1_000));
        assert_eq!(Money::from_micros(-500_000).whole_cents(), Some(-50));
        assert_eq!(Money::from_micros(12_500).whole_cents(), None);
    }

    #[test]
    fn plain_dollars_are_the_display_without_the_symbol() {
        assert_eq!(Money::from_dollars(25).unwrap().plain_dollars(), "25.00");
        assert_eq!(Money::from_micros(-500_000).plain_dollars(), "-0.50");
        assert_eq!(Money::from_micros(12_500).plain_dollars(), "0.0125");
        assert_eq!(Money::from_micros(-1).plain_dollars(), "-0.000001");
        assert_eq!(
            Money::from_micros(i64::MIN).plain_dollars(),
            "-9223372036854.775808"
        );
    }

    #[test]
    fn decimal_digits_become_micro_dollars_exactly() {
        assert_eq!(
            Money::from_decimal_digits("1", "5").unwrap().micros(),
            1_500_000
        );
        assert_eq!(
            Money::from_decimal_digits("0", "000125").unwrap().micros(),
            125
        );
        assert_eq!(Money::from_decimal_digits("0", "0000001"), None);
        assert_eq!(Money::from_decimal_digits("99999999999999", ""), None);
    }

    #[test]
    fn credits_are_whole_cents() {
        assert_eq!(Money::from_dollars(10).unwrap().credits(), 1_000);
        assert_eq!(Money::from_micros(19_999).credits(), 1);
    }

    #[test]
    fn typed_dollar_amounts_parse_exactly() {
        assert_eq!(
            Money::parse_dollars("25").unwrap(),
            Money::from_dollars(25).unwrap()
        );
        assert_eq!(
            Money::parse_dollars("$1,000.5").unwrap().micros(),
            1_000_500_000
        );
        assert_eq!(Money::parse_dollars(" 0.07 ").unwrap().micros(), 70_000);
        for bad in [
            "",
            "abc",
            "-5",
            "1.234",
            "1e3",
            "1.2.3",
            ".5",
            "99999999999999999999",
        ] {
            assert!(Money::parse_dollars(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn arithmetic_is_checked() {
        assert!(Money::from_micros(i64::MAX)
            .checked_add(Money::from_micros(1))
            .is_none());
        assert!(Money::from_dollars(i64::MAX).is_none());
    }
}
