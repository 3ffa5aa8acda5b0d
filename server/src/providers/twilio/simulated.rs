//! The simulated carrier: the default when Twilio is not configured. It plays
//! Twilio's part, and the browser's, without leaving the machine, in the
//! same shape as a browser-started Twilio call:
//!
//! 1. `connect` (what `device.connect({ params: { attempt } })` does) opens
//!    the browser's leg (scenario `client`) and queues `carrier.sim_connect`,
//!    which POSTs our `/webhooks/twilio/voice` as Twilio would (signed,
//!    `From=client:<identity>`, the attempt) and follows the TwiML we answer:
//!    a `<Hangup/>` ends the browser's leg; a `<Dial><Number>` creates the
//!    PSTN leg with the `timeLimit`, `timeout`, `callerId`, `action` and
//!    `statusCallback` it names.
//! 2. The PSTN leg moves through initiated → ringing → an outcome chosen by
//!    the dialed number (table below, also in the README); every step is a
//!    Twilio-format status callback with `ParentCallSid`, which the job queue
//!    signs with `TWILIO_AUTH_TOKEN` and POSTs to the `statusCallback`.
//! 3. When the PSTN leg ends, the `<Dial action>` is requested; once it is
//!    answered, the browser's leg completes.
//!
//! It honours hang-ups of the browser's leg (the forced hangup and End),
//! which end the PSTN leg however far it got, and enforces the time limit,
//! like Twilio. So the TwiML, the webhooks and the billing are the same code
//! here, in the tests and in production.
//!
//! It lives beside the Twilio adapter because it imitates Twilio's wire
//! format (`wire.rs`) and nothing in the `app` crate uses it; its SQL is
//! `app::server::db::sim_calls`.
//!
//! | number ends in | what happens |
//! |---|---|
//! | `0002` | busy |
//! | `0003` | rings, nobody answers |
//! | `0004` | fails (unreachable) |
//! | `0005` | the carrier cannot place it: fails at once, before ringing |
//! | `00NN`, NN from 10 to 99 | answers; the other side hangs up after NN seconds |
//! | anything else | answers and stays up until hung up or out of credit |

use super::wire::{self, DialActionRequest, StatusCallback};
use app::domain::CallStatus;
use app::server::clock;
use app::server::db::sim_calls::{self, NewSimCall, SimCall};
use app::server::db::{jobs, Db};
use app::server::ids::new_id;
use app::server::providers::carrier::*;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Moves a simulated call to its next state when its time comes.
pub const ADVANCE_JOB: &str = "carrier.sim_advance";
/// Delivers one status callback to the call's StatusCallback URL.
pub const CALLBACK_JOB: &str = "carrier.sim_status_callback";
/// Plays the browser connecting: requests our voice URL, follows its TwiML.
pub const CONNECT_JOB: &str = "carrier.sim_connect";
/// Requests the `<Dial action>` once the PSTN leg has ended.
pub const DIAL_ACTION_JOB: &str = "carrier.sim_dial_action";

/// The scenario of a browser's leg in `sim_call`.
const CLIENT: &str = "client";

/// The simulated account, shown as `AccountSid` in callbacks.
pub const ACCOUNT_SID: &str = "ACsimulated00000000000000000000000";

/// How long each step takes (tests shorten them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimTiming {
    /// queued → initiated
    pub initiate_ms: i64,
    /// initiated → ringing (or failed)
    pub ring_ms: i64,
    /// ringing → answered, busy
    pub answer_ms: i64,
    /// ringing → no-answer
    pub no_answer_ms: i64,
}

impl Default for SimTiming {
    fn default() -> Self {
        SimTiming {
            initiate_ms: 200,
            ring_ms: 800,
            answer_ms: 2500,
            no_answer_ms: 8000,
        }
    }
}

/// What the dialed number makes happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    Answers,
    AnswersThenHangsUp(u32),
    Busy,
    NoAnswer,
    Fails,
    Refused,
}

impl Scenario {
    pub fn for_number(e164: &str) -> Scenario {
        let digits: Vec<u32> = e164.chars().filter_map(|c| c.to_digit(10)).collect();
        let last4 = match digits.len().checked_sub(4) {
            Some(start) => &digits[start..],
            None => return Scenario::Answers,
        };
        match last4 {
            [0, 0, 0, 2] => Scenario::Busy,
            [0, 0, 0, 3] => Scenario::NoAnswer,
            [0, 0, 0, 4] => Scenario::Fails,
            [0, 0, 0, 5] => Scenario::Refused,
            [0, 0, tens, ones] if *tens >= 1 => Scenario::AnswersThenHangsUp(tens * 10 + ones),
            _ => Scenario::Answers,
        }
    }

    pub fn stored(self) -> (&'static str, Option<i64>) {
        match self {
            Scenario::Answers => ("answers", None),
            Scenario::AnswersThenHangsUp(secs) => ("answers", Some(i64::from(secs))),
            Scenario::Busy => ("busy", None),
            Scenario::NoAnswer => ("no-answer", None),
            Scenario::Fails => ("failed", None),
            Scenario::Refused => ("refused", None),
        }
    }
}

/// The callback job's payload: one status callback and where it goes. It is
/// turned into Twilio's form fields and signed at send time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackDelivery {
    pub url: String,
    #[serde(flatten)]
    pub callback: StatusCallback,
}

/// The connect job's payload: the browser's leg and what it connects with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectRequest {
    pub parent_sid: String,
    pub identity: String,
    pub attempt: String,
    /// Our voice webhook (public URL).
    pub voice_url: String,
}

/// The dial action job's payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialActionDelivery {
    pub url: String,
    #[serde(flatten)]
    pub request: DialActionRequest,
}

/// A fresh Twilio-looking call SID: `CA` and 32 hex digits.
fn new_sid() -> String {
    new_id("CA").replace('_', "")
}

#[derive(Clone, Debug)]
pub struct SimulatedCarrier {
    db: Db,
    timing: SimTiming,
}

impl SimulatedCarrier {
    pub fn new(db: Db, timing: SimTiming) -> Self {
        Self { db, timing }
    }

    /// Whether the browser's leg `parent_sid` is still live (the connect
    /// job does nothing for one hung up before it connected).
    pub async fn leg_is_live(&self, sid: &str) -> Result<bool, sqlx::Error> {
        Ok(sim_calls::find(&self.db.pool, sid)
            .await?
            .is_some_and(|leg| !leg.status.is_terminal()))
    }

    /// Our voice webhook answered `<Dial><Number>` for the browser's leg:
    /// create the PSTN leg it describes, once (a retried connect finds it).
    pub async fn dialed(
        &self,
        parent_sid: &str,
        dial: &wire::Dial,
        now_ms: i64,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.db.begin_write().await?;
        let Some(mut parent) = sim_calls::lock(&mut tx, parent_sid).await? else {
            return Ok(());
        };
        if parent.status.is_terminal()
            || sim_calls::find_child(&mut *tx, parent_sid).await?.is_some()
        {
            return Ok(());
        }
        parent.status = CallStatus::InProgress;
        parent.answered_at_ms = Some(now_ms);
        sim_calls::store(&mut tx, &parent).await?;
        let (scenario, hangup_after_secs) = Scenario::for_number(&dial.number).stored();
        let sid = new_sid();
        let child = sim_calls::insert(
            &mut tx,
            &NewSimCall {
                sid: &sid,
                to_number: &dial.number,
                from_number: &dial.caller_id,
                status_callback: &dial.status_callback,
                time_limit_secs: i64::try_from(dial.time_limit_secs).unwrap_or(i64::MAX),
                scenario,
                hangup_after_secs,
                status: "queued",
                parent_sid: Some(parent_sid),
                dial_action: Some(&dial.action),
                ring_timeout_secs: Some(i64::try_from(dial.timeout_secs).unwrap_or(i64::MAX)),
            },
            now_ms,
        )
        .await?;
        schedule_advance(&mut tx, &child, now_ms + self.timing.initiate_ms, now_ms).await?;
        tx.commit().await
    }

    /// The browser's leg is over: our voice webhook refused it, or the
    /// `<Dial action>` was answered.
    pub async fn leg_completed(&self, sid: &str, now_ms: i64) -> Result<(), sqlx::Error> {
        let mut tx = self.db.begin_write().await?;
        if let Some(mut leg) = sim_calls::lock(&mut tx, sid).await? {
            if !leg.status.is_terminal() {
                leg.status = CallStatus::Completed;
                leg.ended_at_ms = Some(now_ms);
                sim_calls::store(&mut tx, &leg).await?;
            }
        }
        tx.commit().await
    }

    /// The advance job: moves the PSTN leg on if it is still in `expected`
    /// (a hangup may have moved it meanwhile, which makes this a no-op).
    pub async fn advance(&self, sid: &str, expected: &str, now_ms: i64) -> Result<(), sqlx::Error> {
        let mut tx = self.db.begin_write().await?;
        let Some(mut call) = sim_calls::lock(&mut tx, sid).await? else {
            return Ok(());
        };
        if call.status.as_str() != expected {
            return Ok(());
        }
        let timing = self.timing;
        // `<Dial timeout>`: nobody lets it ring longer.
        let ring_limit_ms = call
            .ring_timeout_secs
            .map_or(i64::MAX, |secs| secs.saturating_mul(1000));
        let (next, after_ms) = match (call.status, call.scenario.as_str()) {
            (CallStatus::Queued, "refused") => (CallStatus::Failed, None),
            (CallStatus::Queued, _) => (CallStatus::Initiated, Some(timing.ring_ms)),
            (CallStatus::Initiated, "failed") => (CallStatus::Failed, None),
            (CallStatus::Initiated, "no-answer") => (
                CallStatus::Ringing,
                Some(timing.no_answer_ms.min(ring_limit_ms)),
            ),
            (CallStatus::Initiated, _) if timing.answer_ms > ring_limit_ms => {
                (CallStatus::Ringing, Some(ring_limit_ms))
            }
            (CallStatus::Initiated, _) => (CallStatus::Ringing, Some(timing.answer_ms)),
            (CallStatus::Ringing, "busy") if timing.answer_ms <= ring_limit_ms => {
                (CallStatus::Busy, None)
            }
            (CallStatus::Ringing, "answers") if timing.answer_ms <= ring_limit_ms => {
                let talk_secs = match call.hangup_after_secs {
                    Some(secs) => secs.min(call.time_limit_secs),
                    None => call.time_limit_secs,
                };
                (CallStatus::InProgress, Some(talk_secs * 1000))
            }
            (CallStatus::Ringing, _) => (CallStatus::NoAnswer, None),
            // The time limit or the callee's hangup.
            (CallStatus::InProgress, _) => (CallStatus::Completed, None),
            _ => return Ok(()),
        };
        let callback = move_to(&mut call, next, now_ms);
        sim_calls::store(&mut tx, &call).await?;
        emit(&mut tx, &callback, now_ms).await?;
        if let Some(after_ms) = after_ms {
            schedule_advance(&mut tx, &call, now_ms + after_ms, now_ms).await?;
        }
        if next.is_terminal() {
            dial_ended(&mut tx, &call, now_ms).await?;
        }
        tx.commit().await
    }
}

/// The PSTN leg ended by itself (not because the browser hung up): Twilio
/// requests the `<Dial action>`, whose answer then ends the browser's leg.
async fn dial_ended(
    conn: &mut sqlx::AnyConnection,
    call: &SimCall,
    now_ms: i64,
) -> Result<(), sqlx::Error> {
    let (Some(url), Some(parent_sid)) = (&call.dial_action, &call.parent_sid) else {
        return Ok(());
    };
    let Some(parent) = sim_calls::find(&mut *conn, parent_sid).await? else {
        return Ok(());
    };
    if parent.status.is_terminal() {
        return Ok(());
    }
    let delivery = DialActionDelivery {
        url: url.clone(),
        request: DialActionRequest {
            account_sid: ACCOUNT_SID.to_owned(),
            parent_sid: parent_sid.clone(),
            from: parent.from_number.clone(),
            dial_sid: call.sid.clone(),
            dial_status: call.status,
            dial_duration_secs: call
                .duration_secs
                .and_then(|d| u64::try_from(d).ok())
                .unwrap_or(0),
        },
    };
    let payload = serde_json::to_value(&delivery).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    jobs::enqueue(
        &mut *conn,
        &jobs::NewJob {
            kind: DIAL_ACTION_JOB,
            payload: &payload,
            dedupe_key: None,
            run_at_ms: now_ms,
        },
        now_ms / 1000,
    )
    .await?;
    Ok(())
}

/// Moves the call to `next` and returns the callback that reports it.
fn move_to(call: &mut SimCall, next: CallStatus, now_ms: i64) -> CallbackDelivery {
    call.status = next;
    if next == CallStatus::InProgress {
        call.answered_at_ms = Some(now_ms);
    }
    if next.is_terminal() {
        call.ended_at_ms = Some(now_ms);
        // Whole seconds talked, rounded up like Twilio, never past the limit.
        let talked = call
            .answered_at_ms
            .map(|answered| ((now_ms - answered).max(0) + 999) / 1000)
            .map(|secs| secs.min(call.time_limit_secs))
            .unwrap_or(0);
        call.duration_secs = Some(if next == CallStatus::Completed {
            talked
        } else {
            0
        });
    }
    let sequence = call.next_sequence;
    call.next_sequence += 1;
    CallbackDelivery {
        url: call.status_callback.clone(),
        callback: StatusCallback {
            account_sid: ACCOUNT_SID.to_owned(),
            call_sid: call.sid.clone(),
            from: call.from_number.clone(),
            to: call.to_number.clone(),
            status: next,
            sequence,
            timestamp: now_ms / 1000,
            duration_secs: if next == CallStatus::Completed {
                call.duration_secs.and_then(|d| u64::try_from(d).ok())
            } else {
                None
            },
            parent_call_sid: call.parent_sid.clone(),
        },
    }
}

async fn emit(
    conn: &mut sqlx::AnyConnection,
    delivery: &CallbackDelivery,
    now_ms: i64,
) -> Result<(), sqlx::Error> {
    let payload = serde_json::to_value(delivery).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    jobs::enqueue(
        &mut *conn,
        &jobs::NewJob {
            kind: CALLBACK_JOB,
            payload: &payload,
            dedupe_key: None,
            run_at_ms: now_ms,
        },
        now_ms / 1000,
    )
    .await?;
    Ok(())
}

async fn schedule_advance(
    conn: &mut sqlx::AnyConnection,
    call: &SimCall,
    run_at_ms: i64,
    now_ms: i64,
) -> Result<(), sqlx::Error> {
    let payload = serde_json::json!({ "sid": call.sid, "expected": call.status.as_str() });
    jobs::enqueue(
        &mut *conn,
        &jobs::NewJob {
            kind: ADVANCE_JOB,
            payload: &payload,
            dedupe_key: None,
            run_at_ms,
        },
        now_ms / 1000,
    )
    .await?;
    Ok(())
}

fn unavailable(error: sqlx::Error) -> CarrierError {
    tracing::error!(error = ?error, "simulated carrier: database error");
    CarrierError::Unavailable("simulated carrier database error".into())
}

#[async_trait]
impl Carrier for SimulatedCarrier {
    fn name(&self) -> &'static str {
        "simulated"
    }

    fn mode(&self) -> app::domain::CarrierMode {
        app::domain::CarrierMode::Simulated
    }

    /// Plays the browser's `device.connect`: opens the browser's leg and
    /// queues the voice request (`carrier.sim_connect`).
    async fn connect(&self, request: &Connect) -> Result<(), CarrierError> {
        let parent_sid = new_sid();
        let now_ms = clock::now_ms();
        let from = format!("client:{}", request.identity);
        let mut tx = self.db.begin_write().await.map_err(unavailable)?;
        sim_calls::insert(
            &mut tx,
            &NewSimCall {
                sid: &parent_sid,
                to_number: "",
                from_number: &from,
                status_callback: "",
                time_limit_secs: 0,
                scenario: CLIENT,
                hangup_after_secs: None,
                status: "ringing",
                parent_sid: None,
                dial_action: None,
                ring_timeout_secs: None,
            },
            now_ms,
        )
        .await
        .map_err(unavailable)?;
        let payload = serde_json::to_value(ConnectRequest {
            parent_sid: parent_sid.clone(),
            identity: request.identity.clone(),
            attempt: request.attempt.clone(),
            voice_url: request.voice_url.clone(),
        })
        .map_err(|error| CarrierError::Unavailable(error.to_string()))?;
        jobs::enqueue(
            &mut *tx,
            &jobs::NewJob {
                kind: CONNECT_JOB,
                payload: &payload,
                dedupe_key: None,
                run_at_ms: now_ms,
            },
            now_ms / 1000,
        )
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        tracing::info!(call_id = %request.call_id, %parent_sid, "simulated browser connecting");
        Ok(())
    }

    fn access_token(&self, _identity: &str, _now: i64) -> Option<IssuedToken> {
        None
    }

    /// Like Twilio. The browser's leg hung up (`completed`, whatever was
    /// asked) ends its PSTN leg however far it got: completed if answered,
    /// canceled if still connecting. A PSTN leg asked directly: `completed`
    /// ends an answered call and cancels one still connecting; `canceled`
    /// cancels one still connecting and leaves an answered call alone.
    async fn end_call(&self, sid: &str, how: Ending) -> Result<(), CarrierError> {
        let now_ms = clock::now_ms();
        let mut tx = self.db.begin_write().await.map_err(unavailable)?;
        let mut leg = sim_calls::lock(&mut tx, sid)
            .await
            .map_err(unavailable)?
            .ok_or(CarrierError::NotFound)?;
        if leg.status.is_terminal() {
            return Ok(());
        }
        let (mut call, how) = if leg.scenario == CLIENT {
            leg.status = CallStatus::Completed;
            leg.ended_at_ms = Some(now_ms);
            sim_calls::store(&mut tx, &leg).await.map_err(unavailable)?;
            match sim_calls::lock_child(&mut tx, sid)
                .await
                .map_err(unavailable)?
            {
                Some(child) => (child, Ending::HangUp),
                None => return tx.commit().await.map_err(unavailable),
            }
        } else {
            (leg, how)
        };
        let next = match (call.status, how) {
            (status, _) if status.is_terminal() => return tx.commit().await.map_err(unavailable),
            (CallStatus::InProgress, Ending::HangUp) => CallStatus::Completed,
            (CallStatus::InProgress, Ending::Cancel) => return Ok(()),
            (_, _) => CallStatus::Canceled,
        };
        let callback = move_to(&mut call, next, now_ms);
        sim_calls::store(&mut tx, &call)
            .await
            .map_err(unavailable)?;
        emit(&mut tx, &callback, now_ms)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)
    }

    async fn fetch_call(&self, sid: &str) -> Result<CarrierCall, CarrierError> {
        let call = sim_calls::find(&self.db.pool, sid)
            .await
            .map_err(unavailable)?
            .ok_or(CarrierError::NotFound)?;
        Ok(CarrierCall {
            sid: call.sid.clone(),
            status: call.status,
            duration_secs: call.duration_secs.and_then(|d| u64::try_from(d).ok()),
            answered_at: call.answered_at_ms.map(|ms| ms / 1000),
            ended_at: call.ended_at_ms.map(|ms| ms / 1000),
        })
    }

    async fn fetch_child(&self, parent_sid: &str) -> Result<Option<CarrierCall>, CarrierError> {
        let child = sim_calls::find_child(&self.db.pool, parent_sid)
            .await
            .map_err(unavailable)?;
        Ok(child.map(|call| CarrierCall {
            sid: call.sid.clone(),
            status: call.status,
            duration_secs: call.duration_secs.and_then(|d| u64::try_from(d).ok()),
            answered_at: call.answered_at_ms.map(|ms| ms / 1000),
            ended_at: call.ended_at_ms.map(|ms| ms / 1000),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::Scenario::*;
    use super::*;

    #[test]
    fn the_number_chooses_the_outcome() {
        assert_eq!(Scenario::for_number("+12025550002"), Busy);
        assert_eq!(Scenario::for_number("+12025550003"), NoAnswer);
        assert_eq!(Scenario::for_number("+12025550004"), Fails);
        assert_eq!(Scenario::for_number("+12025550005"), Refused);
        assert_eq!(Scenario::for_number("+12025550010"), AnswersThenHangsUp(10));
        assert_eq!(Scenario::for_number("+12025550099"), AnswersThenHangsUp(99));
        assert_eq!(Scenario::for_number("+12025550009"), Answers);
        assert_eq!(Scenario::for_number("+12025550143"), Answers);
        assert_eq!(Scenario::for_number("+442071838750"), Answers);
        assert_eq!(Scenario::for_number("+1"), Answers);
    }
}
