//! The carrier as the rest of the app sees it. Calls are started from the
//! member's browser (Twilio's Voice SDK, with a one-shot attempt our voice
//! webhook turns into `<Dial><Number>`), so the carrier here only hands out
//! access tokens, connects a call when it plays the browser itself (the
//! simulated carrier), ends a call (hang up or cancel) and fetches the real
//! state of a leg. Two implementations, both in `server/src/providers/twilio/`:
//! Twilio's REST API (`client.rs`) and the built-in simulated carrier
//! (`simulated.rs`), which sends Twilio-format, Twilio-signed requests to our
//! own webhooks.
//!
//! Money never moves here: calls are billed when the terminal status event
//! reaches `calls::apply_carrier_event`, whoever delivers it.

use crate::domain::{CallStatus, CarrierMode};
use async_trait::async_trait;

/// A browser-started call, ready to be connected: what the member's browser
/// passes to `device.connect({ params: { attempt } })` in Twilio mode, and
/// what the simulated carrier uses to play the browser's part.
#[derive(Clone, Debug)]
pub struct Connect {
    /// Our call id (for logs).
    pub call_id: String,
    /// The one-shot attempt id (`call_attempt`).
    pub attempt: String,
    /// The member's client identity (`member-<user id>`): the leg comes
    /// `From=client:<identity>`.
    pub identity: String,
    /// Our voice webhook, as the TwiML App has it.
    pub voice_url: String,
    /// The destination (E.164), for a carrier that may refuse it up front;
    /// what is dialed is what our voice webhook answers, never this.
    pub to: String,
}

/// A Voice access token for a member's browser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedToken {
    pub token: String,
    pub identity: String,
    /// Unix seconds.
    pub expires_at: i64,
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
    /// `ParentCallSid`: the browser leg this PSTN leg belongs to.
    pub parent_sid: Option<String>,
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

    /// Starts the browser's part of a call, for a carrier that plays it
    /// (the simulated one POSTs our voice webhook as Twilio would). Twilio:
    /// nothing to do, the member's browser connects.
    async fn connect(&self, call: &Connect) -> Result<(), CarrierError>;

    /// A Voice access token for the browser client `identity`, valid from
    /// `now` (unix seconds); None when the carrier has no browser (simulated).
    fn access_token(&self, identity: &str, now: i64) -> Option<IssuedToken>;

    /// Ends a call. Ending one that has already ended is not an error.
    async fn end_call(&self, sid: &str, how: Ending) -> Result<(), CarrierError>;

    async fn fetch_call(&self, sid: &str) -> Result<CarrierCall, CarrierError>;

    /// The PSTN (child) leg a browser leg's `<Dial>` created, if any.
    async fn fetch_child(&self, parent_sid: &str) -> Result<Option<CarrierCall>, CarrierError>;
}
