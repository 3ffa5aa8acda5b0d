//! A call as the browser sees it live (`api::calls::CallView`): what the
//! dialer's server functions answer and what the live call stream
//! (`server/src/call_events.rs`) pushes, built here once so both send exactly
//! the same thing.

use crate::api::calls::CallView;
use crate::domain::Money;
use crate::server::db::calls::Call;
use crate::server::phone::format_international;

pub fn call_view(call: &Call) -> CallView {
    CallView {
        call_id: call.call_id.clone(),
        e164: call.to_number.clone(),
        number: format_international(&call.to_number),
        destination: destination(&call.country_name, &call.description),
        status: call.status(),
        end_reason: call.end_reason(),
        created_at: call.created_at,
        answered_at: call.answered_at,
        ended_at: call.ended_at,
        max_duration_secs: call.max_duration_secs,
        hangup_at_ms: call.hangup_at_ms,
        price_per_minute: Money::from_micros(call.price_per_minute),
        connection_fee: Money::from_micros(call.connection_fee),
        initial_increment: u32::try_from(call.initial_increment).unwrap_or(60),
        subsequent_increment: u32::try_from(call.subsequent_increment).unwrap_or(60),
        duration_secs: call.duration_secs,
        cost: call.cost.map(Money::from_micros),
        updated_at_ms: call.updated_at_ms,
    }
}

/// `United Kingdom — London`; just the country when the rate says no more.
/// The dialer's quote names destinations the same way.
pub fn destination(country: &str, description: &str) -> String {
    if description.is_empty() || description == country {
        country.to_owned()
    } else {
        format!("{country} — {description}")
    }
}
