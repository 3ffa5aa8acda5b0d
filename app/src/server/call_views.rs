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
        destination: call.destination(),
        status: call.status,
        end_reason: call.end_reason,
        created_at: call.created_at,
        answered_at: call.answered_at,
        ended_at: call.ended_at,
        max_duration_secs: call.max_duration_secs,
        hangup_at_ms: call.hangup_at_ms,
        price_per_minute: call.rate.price_per_minute(),
        connection_fee: call.rate.connection_fee(),
        initial_increment: call.rate.initial_increment(),
        subsequent_increment: call.rate.subsequent_increment(),
        duration_secs: call.duration_secs,
        cost: call.cost.map(Money::from_micros),
        updated_at_ms: call.updated_at_ms,
    }
}
