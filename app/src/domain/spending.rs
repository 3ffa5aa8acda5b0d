//! Spending controls: the rules an organization sets on what its members'
//! calls may spend, and the one pure rule that turns them into a call's
//! maximum length. Compiled for the server and the browser alike; the
//! service that reads them under the wallet lock is `server::spending`.
//!
//! How long may a call be: the shortest of what the organization's
//! available balance pays for, what the member's remaining monthly cap pays
//! for, and the organization's per-call maximum (itself never above the
//! platform's `CALL_MAX_DURATION_SECS`), always on an increment boundary
//! (`rating::max_duration`), so the hold is the cost of exactly that length.

use super::rating::{self, Rate};
use super::Money;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A new organization's per-call maximum.
pub const DEFAULT_MAX_CALL_MINUTES: u32 = 60;
/// The per-call maximum an owner or admin may choose, in minutes.
pub const MIN_CALL_MINUTES: u32 = 1;
pub const MAX_CALL_MINUTES: u32 = 240;
/// The largest monthly cap that may be set ($100,000.00): a typo guard.
pub const MAX_CAP: Money = Money::from_micros(100_000 * super::MICROS_PER_DOLLAR);

/// A monthly cap as typed: empty (or "none") is no cap, otherwise a dollar
/// amount in whole cents, from $0.00 (no calls at all) to [`MAX_CAP`].
pub fn parse_cap(raw: &str) -> Result<Option<Money>, &'static str> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let cap = Money::parse_dollars(trimmed)?;
    if cap > MAX_CAP {
        return Err("a monthly cap can be at most $100,000.00");
    }
    Ok(Some(cap))
}

/// The per-call maximum as typed, in whole minutes (1–240).
pub fn parse_call_minutes(raw: &str) -> Result<u32, &'static str> {
    const OUT_OF_RANGE: &str = "enter a whole number of minutes from 1 to 240";
    let minutes: u32 = raw.trim().parse().map_err(|_| OUT_OF_RANGE)?;
    if (MIN_CALL_MINUTES..=MAX_CALL_MINUTES).contains(&minutes) {
        Ok(minutes)
    } else {
        Err(OUT_OF_RANGE)
    }
}

/// Which destination countries an organization's members may call. The
/// rate deck's blocked ranges stay blocked whatever this says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CountryMode {
    /// Every country the deck serves.
    #[default]
    All,
    /// Only the listed countries.
    Allow,
    /// Every country except the listed ones.
    Deny,
}

impl CountryMode {
    pub const ALL: [CountryMode; 3] = [CountryMode::All, CountryMode::Allow, CountryMode::Deny];

    pub fn as_str(self) -> &'static str {
        match self {
            CountryMode::All => "all",
            CountryMode::Allow => "allow",
            CountryMode::Deny => "deny",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|mode| mode.as_str() == raw.trim())
    }

    /// How the settings form names it.
    pub fn label(self) -> &'static str {
        match self {
            CountryMode::All => "Allow every country",
            CountryMode::Allow => "Allow only the countries listed",
            CountryMode::Deny => "Allow every country except those listed",
        }
    }
}

/// An organization's destination rule: a mode and its countries (ISO 3166-1
/// alpha-2, upper case, sorted). The list is kept when the mode is `All`, so
/// switching back restores it, but it is then not consulted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountryRule {
    pub mode: CountryMode,
    pub countries: Vec<String>,
}

impl CountryRule {
    /// Whether calls to `country_code` are allowed.
    pub fn allows(&self, country_code: &str) -> bool {
        let listed = self
            .countries
            .iter()
            .any(|c| c.eq_ignore_ascii_case(country_code));
        match self.mode {
            CountryMode::All => true,
            CountryMode::Allow => listed,
            CountryMode::Deny => !listed,
        }
    }
}

/// A member's monthly cap and what counts against it now: the charges of
/// their calls that ended this calendar month (UTC), and the open holds of
/// their live calls (the most those calls may still cost).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapUse {
    pub cap: Money,
    pub spent: Money,
    pub held: Money,
}

impl CapUse {
    /// What the cap still allows; zero once reached (never negative: a call
    /// that ran past a lowered cap is not a debt).
    pub fn remaining(&self) -> Money {
        let used = self.spent.micros().saturating_add(self.held.micros());
        Money::from_micros(self.cap.micros().saturating_sub(used).max(0))
    }
}

/// What decided a call's maximum length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Limit {
    /// The organization's available balance.
    Balance,
    /// The member's remaining monthly cap.
    Cap,
    /// The organization's per-call maximum (or the platform's ceiling).
    CallLength,
}

/// Why a call may not start at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// The member's remaining cap does not pay the first increment and the
    /// connection fee.
    Cap,
    /// The organization's available balance does not.
    Balance,
}

/// A call's allowed maximum length and what decided it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allowed {
    pub secs: u64,
    pub limited_by: Limit,
}

/// The longest a call at `rate` may last: see the module comment. The cap
/// is checked first, since buying credits would not lift it. `ceiling_secs`
/// is the platform's ceiling, `per_call_max_secs` the organization's.
pub fn allowed_duration(
    rate: &Rate,
    available: Money,
    cap: Option<&CapUse>,
    per_call_max_secs: u64,
    ceiling_secs: u64,
) -> Result<Allowed, Stopped> {
    let longest = per_call_max_secs.min(ceiling_secs);
    let by_cap = cap
        .map(|cap| rating::max_duration(rate, cap.remaining(), longest).ok_or(Stopped::Cap))
        .transpose()?;
    let by_balance = rating::max_duration(rate, available, longest).ok_or(Stopped::Balance)?;
    // The length alone, as if money were no object (a boundary too).
    let by_length = rating::max_duration(rate, Money::from_micros(i64::MAX), longest);
    let secs = by_cap.map_or(by_balance, |by_cap| by_cap.min(by_balance));
    let limited_by = if by_cap.is_some_and(|by_cap| by_cap < by_balance) {
        Limit::Cap
    } else if by_length == Some(secs) && by_balance == secs {
        Limit::CallLength
    } else {
        Limit::Balance
    };
    Ok(Allowed { secs, limited_by })
}

/// "60 minutes", "1 minute".
pub struct Minutes(pub u32);

impl fmt::Display for Minutes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            1 => write!(f, "1 minute"),
            n => write!(f, "{n} minutes"),
        }
    }
}

/// A cap for people: "$20.00" or "no cap".
pub fn cap_text(cap: Option<Money>) -> String {
    cap.map_or_else(|| "no cap".to_owned(), |cap| cap.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::rating::test_rate;

    fn dollars(cents: i64) -> Money {
        Money::from_cents(cents).unwrap()
    }

    fn cap(cap: i64, spent: i64, held: i64) -> CapUse {
        CapUse {
            cap: dollars(cap),
            spent: dollars(spent),
            held: dollars(held),
        }
    }

    /// London: $0.02 a minute, 60/60, no fee.
    fn london() -> Rate {
        test_rate(60, 60, 20_000, 0)
    }

    #[test]
    fn the_shortest_of_balance_cap_and_per_call_maximum_wins() {
        let rate = london();
        let hour = 3600;
        let ceiling = 14_400;
        // $10 pays 500 minutes: the per-call hour decides.
        assert_eq!(
            allowed_duration(&rate, dollars(1000), None, hour, ceiling),
            Ok(Allowed {
                secs: 3600,
                limited_by: Limit::CallLength
            })
        );
        // $0.10 pays 5 minutes: the balance decides.
        assert_eq!(
            allowed_duration(&rate, dollars(10), None, hour, ceiling),
            Ok(Allowed {
                secs: 300,
                limited_by: Limit::Balance
            })
        );
        // A $1 cap with $0.70 spent and $0.10 held leaves $0.20: 10 minutes.
        assert_eq!(
            allowed_duration(&rate, dollars(1000), Some(&cap(100, 70, 10)), hour, ceiling),
            Ok(Allowed {
                secs: 600,
                limited_by: Limit::Cap
            })
        );
        // The platform ceiling stays a ceiling under a longer org maximum.
        assert_eq!(
            allowed_duration(&rate, dollars(100_000), None, 240 * 60, 3600)
                .unwrap()
                .secs,
            3600
        );
        // A cap that pays more than the balance: the balance decides.
        assert_eq!(
            allowed_duration(&rate, dollars(4), Some(&cap(100, 0, 0)), hour, ceiling),
            Ok(Allowed {
                secs: 120,
                limited_by: Limit::Balance
            })
        );
    }

    #[test]
    fn lengths_stay_on_increment_boundaries() {
        // 30/6 billing and a 7-minute maximum: 420 s is a boundary.
        let rate = test_rate(30, 6, 60_000, 0);
        let allowed = allowed_duration(&rate, dollars(100_000), None, 420, 14_400).unwrap();
        assert_eq!(allowed.secs, 420);
        // 60/60 billing with a cap for 90 s: down to one minute.
        let cap = CapUse {
            cap: Money::from_micros(30_000),
            spent: Money::ZERO,
            held: Money::ZERO,
        };
        let allowed = allowed_duration(&london(), dollars(100), Some(&cap), 3600, 14_400).unwrap();
        assert_eq!((allowed.secs, allowed.limited_by), (60, Limit::Cap));
    }

    #[test]
    fn a_reached_cap_stops_the_call_before_the_balance_does() {
        let rate = london();
        assert_eq!(
            allowed_duration(&rate, dollars(0), Some(&cap(100, 100, 0)), 3600, 14_400),
            Err(Stopped::Cap)
        );
        // One cent left of the cap does not pay London's first two-cent minute.
        assert_eq!(
            allowed_duration(&rate, dollars(1000), Some(&cap(100, 90, 9)), 3600, 14_400),
            Err(Stopped::Cap)
        );
        assert_eq!(
            allowed_duration(&rate, dollars(1), Some(&cap(100, 0, 0)), 3600, 14_400),
            Err(Stopped::Balance)
        );
        // A zero cap means no calls.
        assert_eq!(
            allowed_duration(&rate, dollars(1000), Some(&cap(0, 0, 0)), 3600, 14_400),
            Err(Stopped::Cap)
        );
    }

    #[test]
    fn remaining_cap_counts_open_holds_and_never_goes_negative() {
        assert_eq!(cap(100, 30, 20).remaining(), dollars(50));
        assert_eq!(cap(100, 90, 20).remaining(), Money::ZERO);
        assert_eq!(cap(0, 0, 0).remaining(), Money::ZERO);
    }

    #[test]
    fn country_rules_allow_all_a_list_or_all_but_a_list() {
        let list = vec!["DE".to_owned(), "FR".to_owned()];
        let rule = |mode| CountryRule {
            mode,
            countries: list.clone(),
        };
        assert!(rule(CountryMode::All).allows("DE"));
        assert!(rule(CountryMode::All).allows("GB"));
        assert!(rule(CountryMode::Allow).allows("DE"));
        assert!(!rule(CountryMode::Allow).allows("GB"));
        assert!(!rule(CountryMode::Deny).allows("fr"));
        assert!(rule(CountryMode::Deny).allows("GB"));
        // Allowing only an empty list allows nothing.
        assert!(!CountryRule {
            mode: CountryMode::Allow,
            countries: Vec::new()
        }
        .allows("GB"));
        for mode in CountryMode::ALL {
            assert_eq!(CountryMode::parse(mode.as_str()), Some(mode));
        }
        assert_eq!(CountryMode::parse("some"), None);
    }

    #[test]
    fn caps_and_minutes_parse_with_bounds() {
        assert_eq!(parse_cap(""), Ok(None));
        assert_eq!(parse_cap(" none "), Ok(None));
        assert_eq!(parse_cap("20"), Ok(Some(dollars(2000))));
        assert_eq!(parse_cap("$0.00"), Ok(Some(Money::ZERO)));
        assert_eq!(parse_cap("100000"), Ok(Some(MAX_CAP)));
        assert!(parse_cap("100000.01").is_err());
        assert!(parse_cap("-5").is_err());
        assert!(parse_cap("5.001").is_err());
        assert!(parse_cap("lots").is_err());
        assert_eq!(parse_call_minutes("30"), Ok(30));
        assert_eq!(parse_call_minutes(" 1 "), Ok(1));
        assert_eq!(parse_call_minutes("240"), Ok(240));
        for bad in ["0", "241", "-1", "1.5", "", "ten"] {
            assert!(parse_call_minutes(bad).is_err(), "{bad}");
        }
        assert_eq!(Minutes(1).to_string(), "1 minute");
        assert_eq!(Minutes(60).to_string(), "60 minutes");
        assert_eq!(cap_text(None), "no cap");
        assert_eq!(cap_text(Some(dollars(2000))), "$20.00");
    }
}
