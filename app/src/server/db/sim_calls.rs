//! The simulated carrier's own calls (`sim_call`): its copy of what Twilio
//! would know about each call it placed. Only the simulated carrier
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
    /// What the dialed number makes happen (`answers`, `busy`, `no-answer`, `failed`).
    pub scenario: String,
    pub hangup_after_secs: Option<i64>,
    pub status: CallStatus,
    /// The `SequenceNumber` of the next status callback.
    pub next_sequence: i64,
    pub answered_at_ms: Option<i64>,
    pub ended_at_ms: Option<i64>,
    pub duration_secs: Option<i64>,
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
}

const SIM_COLUMNS: &str = "sid, to_number, from_number, status_callback, time_limit_secs, scenario,
    hangup_after_secs, status, next_sequence, answered_at_ms, ended_at_ms, duration_secs";

#[tracing::instrument(skip_all, fields(sid = new.sid))]
pub async fn insert(
    conn: &mut AnyConnection,
    new: &NewSimCall<'_>,
    now_ms: i64,
) -> Result<SimCall, sqlx::Error> {
    let row: SimCallRow = sqlx::query_as(&format!(
        "insert into sim_call (sid, to_number, from_number, status_callback, time_limit_secs,
             scenario, hangup_after_secs, status, created_at_ms)
         values ($1, $2, $3, $4, $5, $6, $7, 'queued', $8)
         returning {SIM_COLUMNS}"
    ))
    .bind(new.sid)
    .bind(new.to_number)
    .bind(new.from_number)
    .bind(new.status_callback)
    .bind(new.time_limit_secs)
    .bind(new.scenario)
    .bind(new.hangup_after_secs)
    .bind(now_ms)
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
