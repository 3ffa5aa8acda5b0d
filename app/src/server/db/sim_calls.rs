//! The simulated carrier's own calls (`sim_call`): its copy of what Twilio
//! would know about each leg of a browser-started call: the browser's leg
//! (scenario `client`) and the PSTN leg its `<Dial>` created (`parent_sid`
//! set). Only the simulated carrier
//! (`server/src/providers/twilio/simulated.rs`) reads and writes them.

use crate::domain::CallStatus;
use sqlx::{Any, AnyConnection, Executor, FromRow};

/// One simulated call, with its status typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimCall {
    pub sid: String,
    pub to_number: String,
    pub from_number: String,
    pub status_callback: String,
    pub time_limit_secs: i64,
    /// What the dialed number makes happen (`answers`, `busy`, `no-answer`,
    /// `failed`, `refused`), or `client` for a browser's leg.
    pub scenario: String,
    pub hangup_after_secs: Option<i64>,
    pub status: CallStatus,
    /// The `SequenceNumber` of the next status callback.
    pub next_sequence: i64,
    pub answered_at_ms: Option<i64>,
    pub ended_at_ms: Option<i64>,
    pub duration_secs: Option<i64>,
    /// The browser leg a PSTN leg belongs to (None on the browser leg).
    pub parent_sid: Option<String>,
    /// Where the PSTN leg's end is reported (`<Dial action>`).
    pub dial_action: Option<String>,
    /// How long the PSTN leg may ring (`<Dial timeout>`).
    pub ring_timeout_secs: Option<i64>,
}

#[derive(FromRow)]
struct SimCallRow {
    sid: String,
    to_number: String,
    from_number: String,
    status_callback: String,
    time_limit_secs: i64,
    scenario: String,
    hangup_after_secs: Option<i64>,
    status: String,
    next_sequence: i64,
    answered_at_ms: Option<i64>,
    ended_at_ms: Option<i64>,
    duration_secs: Option<i64>,
    parent_sid: Option<String>,
    dial_action: Option<String>,
    ring_timeout_secs: Option<i64>,
}

impl TryFrom<SimCallRow> for SimCall {
    type Error = sqlx::Error;

    fn try_from(row: SimCallRow) -> Result<Self, Self::Error> {
        let status = CallStatus::parse(&row.status).ok_or_else(|| {
            sqlx::Error::Decode(
                format!("sim_call.status {:?} is not a call status", row.status).into(),
            )
        })?;
        Ok(SimCall {
            sid: row.sid,
            to_number: row.to_number,
            from_number: row.from_number,
            status_callback: row.status_callback,
            time_limit_secs: row.time_limit_secs,
            scenario: row.scenario,
            hangup_after_secs: row.hangup_after_secs,
            status,
            next_sequence: row.next_sequence,
            answered_at_ms: row.answered_at_ms,
            ended_at_ms: row.ended_at_ms,
            duration_secs: row.duration_secs,
            parent_sid: row.parent_sid,
            dial_action: row.dial_action,
            ring_timeout_secs: row.ring_timeout_secs,
        })
    }
}

/// A call to start simulating, in state `queued`.
#[derive(Clone, Debug)]
pub struct NewSimCall<'a> {
    pub sid: &'a str,
    pub to_number: &'a str,
    pub from_number: &'a str,
    pub status_callback: &'a str,
    pub time_limit_secs: i64,
    pub scenario: &'a str,
    pub hangup_after_secs: Option<i64>,
    /// `queued` for a PSTN leg, `ringing` for a browser leg being connected.
    pub status: &'a str,
    pub parent_sid: Option<&'a str>,
    pub dial_action: Option<&'a str>,
    pub ring_timeout_secs: Option<i64>,
}

const SIM_COLUMNS: &str = "sid, to_number, from_number, status_callback, time_limit_secs, scenario,
    hangup_after_secs, status, next_sequence, answered_at_ms, ended_at_ms, duration_secs,
    parent_sid, dial_action, ring_timeout_secs";

#[tracing::instrument(skip_all, fields(sid = new.sid))]
pub async fn insert(
    conn: &mut AnyConnection,
    new: &NewSimCall<'_>,
    now_ms: i64,
) -> Result<SimCall, sqlx::Error> {
    let row: SimCallRow = sqlx::query_as(&format!(
        "insert into sim_call (sid, to_number, from_number, status_callback, time_limit_secs,
             scenario, hangup_after_secs, status, created_at_ms, parent_sid, dial_action,
             ring_timeout_secs)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         returning {SIM_COLUMNS}"
    ))
    .bind(new.sid)
    .bind(new.to_number)
    .bind(new.from_number)
    .bind(new.status_callback)
    .bind(new.time_limit_secs)
    .bind(new.scenario)
    .bind(new.hangup_after_secs)
    .bind(new.status)
    .bind(now_ms)
    .bind(new.parent_sid)
    .bind(new.dial_action)
    .bind(new.ring_timeout_secs)
    .fetch_one(conn)
    .await?;
    row.try_into()
}

/// Reads the call and takes its row lock (a no-op update, which SQLite and
/// PostgreSQL both lock), so concurrent steps of one call run one at a time.
#[tracing::instrument(skip_all)]
pub async fn lock(conn: &mut AnyConnection, sid: &str) -> Result<Option<SimCall>, sqlx::Error> {
    let row: Option<SimCallRow> = sqlx::query_as(&format!(
        "update sim_call set next_sequence = next_sequence where sid = $1 returning {SIM_COLUMNS}"
    ))
    .bind(sid)
    .fetch_optional(conn)
    .await?;
    row.map(SimCall::try_from).transpose()
}

#[tracing::instrument(skip_all)]
pub async fn find<'c>(
    db: impl Executor<'c, Database = Any>,
    sid: &str,
) -> Result<Option<SimCall>, sqlx::Error> {
    let row: Option<SimCallRow> = sqlx::query_as(&format!(
        "select {SIM_COLUMNS} from sim_call where sid = $1"
    ))
    .bind(sid)
    .fetch_optional(db)
    .await?;
    row.map(SimCall::try_from).transpose()
}

/// Writes back what a step changed.
#[tracing::instrument(skip_all, fields(sid = call.sid))]
pub async fn store(conn: &mut AnyConnection, call: &SimCall) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update sim_call set status = $2, next_sequence = $3, answered_at_ms = $4,
             ended_at_ms = $5, duration_secs = $6
         where sid = $1",
    )
    .bind(&call.sid)
    .bind(call.status.as_str())
    .bind(call.next_sequence)
    .bind(call.answered_at_ms)
    .bind(call.ended_at_ms)
    .bind(call.duration_secs)
    .execute(conn)
    .await?;
    Ok(())
}

/// The PSTN leg a browser leg's `<Dial>` created, locked like `lock`.
#[tracing::instrument(skip_all)]
pub async fn lock_child(
    conn: &mut AnyConnection,
    parent_sid: &str,
) -> Result<Option<SimCall>, sqlx::Error> {
    let row: Option<SimCallRow> = sqlx::query_as(&format!(
        "update sim_call set next_sequence = next_sequence where parent_sid = $1
         returning {SIM_COLUMNS}"
    ))
    .bind(parent_sid)
    .fetch_optional(conn)
    .await?;
    row.map(SimCall::try_from).transpose()
}

/// The PSTN leg a browser leg's `<Dial>` created, if any.
#[tracing::instrument(skip_all)]
pub async fn find_child<'c>(
    db: impl Executor<'c, Database = Any>,
    parent_sid: &str,
) -> Result<Option<SimCall>, sqlx::Error> {
    let row: Option<SimCallRow> = sqlx::query_as(&format!(
        "select {SIM_COLUMNS} from sim_call where parent_sid = $1"
    ))
    .bind(parent_sid)
    .fetch_optional(db)
    .await?;
    row.map(SimCall::try_from).transpose()
}
