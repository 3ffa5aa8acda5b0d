use serde::{Deserialize, Serialize};

/// How often the Team plan is billed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanInterval {
    Monthly,
    Annual,
}

impl PlanInterval {
    pub fn as_str(self) -> &'static str {
        match self {
            PlanInterval::Monthly => "monthly",
            PlanInterval::Annual => "annual",
        }
    }

    /// From a form or a stored value ("monthly", "annual").
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim() {
            "monthly" => Some(PlanInterval::Monthly),
            "annual" => Some(PlanInterval::Annual),
            _ => None,
        }
    }

    /// From Stripe's `price.recurring.interval` ("month", "year").
    pub fn of_stripe(interval: &str) -> Option<Self> {
        match interval {
            "month" => Some(PlanInterval::Monthly),
            "year" => Some(PlanInterval::Annual),
            _ => None,
        }
    }
}

/// A unix time's UTC calendar day as `YYYY-MM-DD`: how plan dates (renews
/// on, ends on, paused until) are written, on the server and in the browser.
pub fn day_of(unix: i64) -> String {
    // Days to a civil date (H. Hinnant's algorithm), proleptic Gregorian.
    let z = unix.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_calendar_dates() {
        assert_eq!(day_of(0), "1970-01-01");
        assert_eq!(day_of(86_399), "1970-01-01");
        assert_eq!(day_of(951_782_400), "2000-02-29");
        assert_eq!(day_of(1_798_761_599), "2026-12-31");
        assert_eq!(day_of(1_798_761_600), "2027-01-01");
        assert_eq!(day_of(-1), "1969-12-31");
    }

    #[test]
    fn intervals_read_from_forms_and_from_stripe() {
        assert_eq!(PlanInterval::parse("annual"), Some(PlanInterval::Annual));
        assert_eq!(
            PlanInterval::parse(" monthly "),
            Some(PlanInterval::Monthly)
        );
        assert_eq!(PlanInterval::parse("weekly"), None);
        assert_eq!(PlanInterval::of_stripe("year"), Some(PlanInterval::Annual));
        assert_eq!(PlanInterval::of_stripe("week"), None);
    }
}
