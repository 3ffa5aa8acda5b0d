//! The carrier as the rest of the app sees it: place a call with a time
//! limit, end it (hang up or cancel), and fetch its real state. Two
//! implementations, both in `server/src/providers/twilio/`: Twilio's REST API
//! (`client.rs`) and the built-in simulated carrier (`simulated.rs`), which
//! sends Twilio-format, Twilio-signed status callbacks to our own webhook.
//!
//! Money never moves here: calls are billed when the terminal status event
//! reaches `calls::apply_carrier_event`, whoever delivers it.

use crate::domain::{CallStatus, CarrierMode};
use async_trait::async_trait;

/// A call to place.
#[derive(Clone, Debug)]
pub struct PlaceCall {
    /// Our call id; also carried in the callback URLs.
    pub call_id: String,
    /// E.164 with '+'.
    pub to: String,
    /// The caller ID shown to the callee (E.164).
    pub from: String,
    /// The carrier ends the call this long after it is answered (second line
    /// of defence behind our forced hangup).
    pub time_limit_secs: u64,
    /// Where the carrier asks what to do once answered (TwiML).
    pub voice_url: String,
    /// Where the carrier reports initiated, ringing, answered and completed.
    pub status_callback_url: String,
}

/// What the carrier answered when asked to place a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacedCall {
    /// The carrier's call id (Twilio CallSid).
    pub sid: String,
    pub status: CallStatus,
}

/// The carrier's view of one call (Twilio's Call resource).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CarrierCall {
    pub sid: String,
    pub status: CallStatus,
    /// Talk time in whole seconds, once completed.
    pub duration_secs: Option<u64>,
    /// Unix seconds the callee answered (Twilio `start_time`).
    pub answered_at: Option<i64>,
    /// Unix seconds it ended (Twilio `end_time`).
    pub ended_at: Option<i64>,
}

/// A progress event from the carrier (a status callback, or a fetched state
/// turned into one by the sweeper).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CarrierEvent {
    /// Our call id, from the callback URL, when present.
    pub call_id: Option<String>,
    pub sid: String,
    pub status: CallStatus,
    /// Twilio `SequenceNumber`: the order the carrier sent them in.
    pub sequence: i64,
    /// The carrier's own time of the event, unix seconds.
    pub occurred_at: i64,
    /// `CallDuration` on completion.
    pub duration_secs: Option<u64>,
}

/// How to end a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// An answered call: Twilio `Status=completed`.
    HangUp,
    /// A call not yet answered: Twilio `Status=canceled`.
    Cancel,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CarrierError {
    /// The carrier said no (invalid or unreachable number, account limits…);
    /// the message is the carrier's, safe to show.
    #[error("the carrier refused: {0}")]
    Refused(String),
    #[error("the carrier does not know this call")]
    NotFound,
    /// Could not reach it or it failed; worth retrying. The detail is for logs.
    #[error("carrier unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Carrier: Send + Sync + std::fmt::Debug {
    /// "twilio" or "simulated", stored on each call.
    fn name(&self) -> &'static str;

    /// Whether the browser starts calls (Twilio) or the carrier plays the
    /// browser's part itself (simulated).
    fn mode(&self) -> CarrierMode;

    async fn place_call(&self, call: &PlaceCall) -> Result<PlacedCall, CarrierError>;

    /// Ends a call. Ending one that has already ended is not an error.
    async fn end_call(&self, sid: &str, how: Ending) -> Result<(), CarrierError>;

    async fn fetch_call(&self, sid: &str) -> Result<CarrierCall, CarrierError>;
}
