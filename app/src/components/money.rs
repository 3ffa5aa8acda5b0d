//! Money as the pages write it, beyond `Money`'s own `$1.23`: the credits a
//! sum buys (the wallet, receipts, the sandbox checkout) and amounts with
//! their sign always shown (the wallet history). Plain functions, used by
//! every page that shows money this way, so it reads the same everywhere.

use crate::domain::Money;

/// `1,234 credits` (1 credit = $0.01, whole credits).
pub(crate) fn credits_text(amount: Money) -> String {
    let credits = amount.credits();
    let unit = if credits == 1 { "credit" } else { "credits" };
    format!("{} {unit}", group_thousands(credits))
}

/// `12,345`: digits grouped in thousands, as every count and sum is shown.
pub(crate) fn group_thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if n < 0 {
        format!("-{grouped}")
    } else {
        grouped
    }
}

/// `+$10.00` / `-$0.50`: the sign always shown, so credits and charges read apart.
pub(crate) fn signed(amount: Money) -> String {
    if amount.is_negative() {
        amount.to_string()
    } else {
        format!("+{amount}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credits_are_grouped_in_thousands() {
        assert_eq!(
            credits_text(Money::from_dollars(12_345).unwrap()),
            "1,234,500 credits"
        );
        assert_eq!(credits_text(Money::from_cents(1).unwrap()), "1 credit");
        assert_eq!(credits_text(Money::ZERO), "0 credits");
        assert_eq!(group_thousands(-1_000), "-1,000");
    }

    #[test]
    fn amounts_carry_their_sign() {
        assert_eq!(signed(Money::from_dollars(10).unwrap()), "+$10.00");
        assert_eq!(signed(Money::from_micros(-500_000)), "-$0.50");
    }
}
