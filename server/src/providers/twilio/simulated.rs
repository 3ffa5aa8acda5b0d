//! The simulated carrier: the default when Twilio is not configured. It plays
//! Twilio's part without leaving the machine. A placed call moves through
//! initiated → ringing → an outcome chosen by the dialed number (table below,
//! also in the README); every step is reported as a Twilio-format status
//! callback that the job queue signs with `TWILIO_AUTH_TOKEN` and POSTs to
//! our own `/webhooks/twilio/status` (`jobs/carrier_sim.rs`). It
//! honours hang-up and cancel requests and enforces the call's time limit,
//! like Twilio. So the code that bills calls is the same here, in the tests
//! and in production.
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
//! | `0005` | the carrier refuses to place it |
//! | `00NN`, NN from 10 to 99 | answers; the other side hangs up after NN seconds |
//! | anything else | answers and stays up until hung up or out of credit |

use super::wire::StatusCallback;
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

    fn stored(self) -> (&'static str, Option<i64>) {
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

#[derive(Clone, Debug)]
pub struct SimulatedCarrier {
    db: Db,
    timing: SimTiming,
}

impl SimulatedCarrier {
    pub fn new(db: Db, timing: SimTiming) -> Self {
        Self { db, timing }
    }

    /// The advance job: moves the call on if it is still in `expected` (a
    /// hangup may have moved it meanwhile, which makes this a no-op).
    pub async fn advance(&self, sid: &str, expected: &str, now_ms: i64) -> Result<(), sqlx::Error> {
        let mut tx = self.db.begin_write().await?;
        let Some(mut call) = sim_calls::lock(&mut tx, sid).await? else {
            return Ok(());
        };
        if call.status.as_str() != expected {
            return Ok(());
        }
        let timing = self.timing;
        let (next, after_ms) = match (call.status, call.scenario.as_str()) {
            (CallStatus::Queued, _) => (CallStatus::Initiated, Some(timing.ring_ms)),
            (CallStatus::Initiated, "failed") => (CallStatus::Failed, None),
            (CallStatus::Initiated, "no-answer") => {
                (CallStatus::Ringing, Some(timing.no_answer_ms))
            }
            (CallStatus::Initiated, _) => (CallStatus::Ringing, Some(timing.answer_ms)),
            (CallStatus::Ringing, "busy") => (CallStatus::Busy, None),
            (CallStatus::Ringing, "no-answer") => (CallStatus::NoAnswer, None),
            (CallStatus::Ringing, _) => {
                let talk_secs = match call.hangup_after_secs {
                    Some(secs) => secs.min(call.time_limit_secs),
                    None => call.time_limit_secs,
                };
                (CallStatus::InProgress, Some(talk_secs * 1000))
            }
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
        tx.commit().await
    }
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

    async fn place_call(&self, request: &PlaceCall) -> Result<PlacedCall, CarrierError> {
        let scenario = Scenario::for_number(&request.to);
        if scenario == Scenario::Refused {
            return Err(CarrierError::Refused(
                "the simulated carrier refuses numbers ending in 0005".into(),
            ));
        }
        let (scenario, hangup_after_secs) = scenario.stored();
        let sid = new_id("CA").replace('_', "");
        let now_ms = clock::now_ms();
        let mut tx = self.db.begin_write().await.map_err(unavailable)?;
        let new = NewSimCall {
            sid: &sid,
            to_number: &request.to,
            from_number: &request.from,
            status_callback: &request.status_callback_url,
            time_limit_secs: i64::try_from(request.time_limit_secs).unwrap_or(i64::MAX),
            scenario,
            hangup_after_secs,
        };
        let call = sim_calls::insert(&mut tx, &new, now_ms)
            .await
            .map_err(unavailable)?;
        schedule_advance(&mut tx, &call, now_ms + self.timing.initiate_ms, now_ms)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(PlacedCall {
            sid,
            status: CallStatus::Queued,
        })
    }

    /// Like Twilio: `completed` ends an answered call and cancels one still
    /// connecting; `canceled` cancels one still connecting and leaves an
    /// answered call alone.
    async fn end_call(&self, sid: &str, how: Ending) -> Result<(), CarrierError> {
        let now_ms = clock::now_ms();
        let mut tx = self.db.begin_write().await.map_err(unavailable)?;
        let mut call = sim_calls::lock(&mut tx, sid)
            .await
            .map_err(unavailable)?
            .ok_or(CarrierError::NotFound)?;
        let next = match (call.status, how) {
            (status, _) if status.is_terminal() => return Ok(()),
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
