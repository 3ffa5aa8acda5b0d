//! The `call` and `call_event` tables (migration 0006): one row per dialed
//! call, and every carrier event received for it. The rules that move a call
//! live in `crate::server::calls`; this module is only the SQL.

use super::rates::{decode_rate, StoredRate};
use crate::domain::rating::Rate;
use crate::domain::{CallStatus, EndReason};
use crate::server::ids::new_id;
use sqlx::{Any, AnyConnection, Executor, FromRow};

pub const CALL_COLUMNS: &str = "call_id, org_id, user_id, client_key, to_number, rate_prefix,
    country_code, country_name, description, price_per_minute, connection_fee,
    initial_increment, subsequent_increment, max_duration_secs, hold_id, carrier, carrier_sid,
    status, last_sequence, end_reason, end_requested_at, created_at, answered_at, ended_at,
    duration_secs, billed_seconds, cost, ledger_entry_id, hangup_at_ms, hangup_sent_at_ms,
    updated_at_ms, parent_sid";

/// One row of `call`, typed: its status and end reason are the domain's
/// enums, and the rate copied onto it when it started is one `Rate`. Every
/// reader of the table (the call service, the live panel, the history, the
/// CSV export) gets this; the history adds who dialed it ([`super::call_history`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub call_id: String,
    pub org_id: String,
    pub user_id: String,
    pub client_key: String,
    pub to_number: String,
    /// The rate copied when the call started: later deck changes do not touch it.
    pub rate: Rate,
    pub max_duration_secs: i64,
    pub hold_id: Option<String>,
    pub carrier: String,
    /// The carrier's id of the leg we follow and bill: the PSTN (child) leg
    /// of a browser-started call (Twilio CallSid).
    pub carrier_sid: Option<String>,
    /// The browser's (parent) leg that took the call's attempt; the leg we
    /// end to hang up (its `<Dial>` then ends the PSTN leg).
    pub parent_sid: Option<String>,
    pub status: CallStatus,
    pub last_sequence: i64,
    pub end_reason: Option<EndReason>,
    pub end_requested_at: Option<i64>,
    pub created_at: i64,
    pub answered_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub duration_secs: Option<i64>,
    pub billed_seconds: Option<i64>,
    pub cost: Option<i64>,
    pub ledger_entry_id: Option<String>,
    pub hangup_at_ms: Option<i64>,
    pub hangup_sent_at_ms: Option<i64>,
    /// Its version: larger after every change (`touch`), never compared
    /// across calls, so instances whose clocks disagree still order one
    /// call's changes correctly in the live panels.
    pub updated_at_ms: i64,
}

impl Call {
    /// Marks a change made at `now_ms`: the clock when it is ahead of the last
    /// change, else one past it (another instance's clock ran ahead).
    pub fn touch(&mut self, now_ms: i64) {
        self.updated_at_ms = next_version(self.updated_at_ms, now_ms);
    }

    /// `United Kingdom · Mobile`: the destination as people read it.
    pub fn destination(&self) -> String {
        self.rate.destination()
    }
}

/// The stored row, as the database has it.
#[derive(FromRow)]
pub(super) struct CallRow {
    call_id: String,
    org_id: String,
    user_id: String,
    client_key: String,
    to_number: String,
    rate_prefix: String,
    country_code: String,
    country_name: String,
    description: String,
    price_per_minute: i64,
    connection_fee: i64,
    initial_increment: i64,
    subsequent_increment: i64,
    max_duration_secs: i64,
    hold_id: Option<String>,
    carrier: String,
    carrier_sid: Option<String>,
    parent_sid: Option<String>,
    status: String,
    last_sequence: i64,
    end_reason: Option<String>,
    end_requested_at: Option<i64>,
    created_at: i64,
    answered_at: Option<i64>,
    ended_at: Option<i64>,
    duration_secs: Option<i64>,
    billed_seconds: Option<i64>,
    cost: Option<i64>,
    ledger_entry_id: Option<String>,
    hangup_at_ms: Option<i64>,
    hangup_sent_at_ms: Option<i64>,
    updated_at_ms: i64,
}

fn decode_error(what: String) -> sqlx::Error {
    sqlx::Error::Decode(what.into())
}

impl TryFrom<CallRow> for Call {
    type Error = sqlx::Error;

    /// The table's checks allow only valid statuses, reasons and rates; a row
    /// that breaks them is reported, never guessed at.
    fn try_from(row: CallRow) -> Result<Self, Self::Error> {
        let status = CallStatus::parse(&row.status)
            .ok_or_else(|| decode_error(format!("call.status {:?}", row.status)))?;
        let end_reason = row
            .end_reason
            .map(|raw| {
                EndReason::parse(&raw)
                    .ok_or_else(|| decode_error(format!("call.end_reason {raw:?}")))
            })
            .transpose()?;
        // Only callable rates are copied onto calls: never blocked.
        let rate = decode_rate(StoredRate {
            prefix: row.rate_prefix,
            country_code: row.country_code,
            country_name: row.country_name,
            description: row.description,
            price_per_minute: row.price_per_minute,
            connection_fee: row.connection_fee,
            initial_increment: row.initial_increment,
            subsequent_increment: row.subsequent_increment,
            blocked: false,
            blocked_reason: None,
        })?;
        Ok(Call {
            call_id: row.call_id,
            org_id: row.org_id,
            user_id: row.user_id,
            client_key: row.client_key,
            to_number: row.to_number,
            rate,
            max_duration_secs: row.max_duration_secs,
            hold_id: row.hold_id,
            carrier: row.carrier,
            carrier_sid: row.carrier_sid,
            parent_sid: row.parent_sid,
            status,
            last_sequence: row.last_sequence,
            end_reason,
            end_requested_at: row.end_requested_at,
            created_at: row.created_at,
            answered_at: row.answered_at,
            ended_at: row.ended_at,
            duration_secs: row.duration_secs,
            billed_seconds: row.billed_seconds,
            cost: row.cost,
            ledger_entry_id: row.ledger_entry_id,
            hangup_at_ms: row.hangup_at_ms,
            hangup_sent_at_ms: row.hangup_sent_at_ms,
            updated_at_ms: row.updated_at_ms,
        })
    }
}

fn typed(row: CallRow) -> Result<Call, sqlx::Error> {
    Call::try_from(row)
}

fn typed_opt(row: Option<CallRow>) -> Result<Option<Call>, sqlx::Error> {
    row.map(Call::try_from).transpose()
}

fn typed_all(rows: Vec<CallRow>) -> Result<Vec<Call>, sqlx::Error> {
    rows.into_iter().map(Call::try_from).collect()
}

/// A call about to be placed.
#[derive(Clone, Debug)]
pub struct NewCall<'a> {
    pub org_id: &'a str,
    pub user_id: &'a str,
    pub client_key: &'a str,
    pub to_number: &'a str,
    pub rate: &'a Rate,
    pub max_duration_secs: i64,
    pub carrier: &'a str,
}

#[tracing::instrument(skip_all)]
pub async fn insert(
    conn: &mut AnyConnection,
    new: &NewCall<'_>,
    now_ms: i64,
) -> Result<Call, sqlx::Error> {
    let row: CallRow = sqlx::query_as(&format!(
        "insert into call (call_id, org_id, user_id, client_key, to_number, rate_prefix,
             country_code, country_name, description, price_per_minute, connection_fee,
             initial_increment, subsequent_increment, max_duration_secs, carrier, status,
             created_at, updated_at_ms)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 'queued', $16, $17)
         returning {CALL_COLUMNS}"
    ))
    .bind(new_id("call"))
    .bind(new.org_id)
    .bind(new.user_id)
    .bind(new.client_key)
    .bind(new.to_number)
    .bind(new.rate.prefix())
    .bind(new.rate.country_code())
    .bind(new.rate.country_name())
    .bind(new.rate.description())
    .bind(new.rate.price_per_minute().micros())
    .bind(new.rate.connection_fee().micros())
    .bind(i64::from(new.rate.initial_increment()))
    .bind(i64::from(new.rate.subsequent_increment()))
    .bind(new.max_duration_secs)
    .bind(new.carrier)
    .bind(now_ms / 1000)
    .bind(now_ms)
    .fetch_one(&mut *conn)
    .await?;
    let call = typed(row)?;
    notify_changed(conn, &call).await?;
    Ok(call)
}

#[tracing::instrument(skip_all)]
pub async fn set_hold(
    conn: &mut AnyConnection,
    call_id: &str,
    hold_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("update call set hold_id = $1 where call_id = $2")
        .bind(hold_id)
        .bind(call_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The call a dial click already made, if any (a double click, a retried request).
#[tracing::instrument(skip_all)]
pub async fn by_client_key<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    client_key: &str,
) -> Result<Option<Call>, sqlx::Error> {
    let row: Option<CallRow> = sqlx::query_as(&format!(
        "select {CALL_COLUMNS} from call where org_id = $1 and client_key = $2"
    ))
    .bind(org_id)
    .bind(client_key)
    .fetch_optional(db)
    .await?;
    typed_opt(row)
}

/// One organization's call.
#[tracing::instrument(skip_all)]
pub async fn by_id<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    call_id: &str,
) -> Result<Option<Call>, sqlx::Error> {
    let row: Option<CallRow> = sqlx::query_as(&format!(
        "select {CALL_COLUMNS} from call where org_id = $1 and call_id = $2"
    ))
    .bind(org_id)
    .bind(call_id)
    .fetch_optional(db)
    .await?;
    typed_opt(row)
}

/// A call by id alone, for the carrier's own requests (signed, not a tenant's).
#[tracing::instrument(skip_all)]
pub async fn by_id_any<'c>(
    db: impl Executor<'c, Database = Any>,
    call_id: &str,
) -> Result<Option<Call>, sqlx::Error> {
    let row: Option<CallRow> = sqlx::query_as(&format!(
        "select {CALL_COLUMNS} from call where call_id = $1"
    ))
    .bind(call_id)
    .fetch_optional(db)
    .await?;
    typed_opt(row)
}

/// How a carrier event names its call.
#[derive(Clone, Copy, Debug)]
pub enum CallRef<'a> {
    Id(&'a str),
    Sid(&'a str),
    /// The browser's (parent) leg.
    Parent(&'a str),
}

/// Locks a call for the rest of the transaction and returns it: a no-op
/// update row-locks it on PostgreSQL and takes the write lock on SQLite, so
/// two events for one call are applied one after the other.
#[tracing::instrument(skip_all)]
pub async fn lock(
    conn: &mut AnyConnection,
    call: CallRef<'_>,
) -> Result<Option<Call>, sqlx::Error> {
    let (column, value) = match call {
        CallRef::Id(id) => ("call_id", id),
        CallRef::Sid(sid) => ("carrier_sid", sid),
        CallRef::Parent(sid) => ("parent_sid", sid),
    };
    let row: Option<CallRow> = sqlx::query_as(&format!(
        "update call set updated_at_ms = updated_at_ms where {column} = $1 returning {CALL_COLUMNS}"
    ))
    .bind(value)
    .fetch_optional(&mut *conn)
    .await?;
    typed_opt(row)
}

/// Writes every mutable column of a (locked) call back.
#[tracing::instrument(skip_all)]
pub async fn store(conn: &mut AnyConnection, call: &Call) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update call set hold_id = $2, carrier_sid = $3, status = $4, last_sequence = $5,
             end_reason = $6, end_requested_at = $7, answered_at = $8, ended_at = $9,
             duration_secs = $10, billed_seconds = $11, cost = $12, ledger_entry_id = $13,
             hangup_at_ms = $14, hangup_sent_at_ms = $15, updated_at_ms = $16, parent_sid = $17
         where call_id = $1",
    )
    .bind(&call.call_id)
    .bind(&call.hold_id)
    .bind(&call.carrier_sid)
    .bind(call.status.as_str())
    .bind(call.last_sequence)
    .bind(call.end_reason.map(EndReason::as_str))
    .bind(call.end_requested_at)
    .bind(call.answered_at)
    .bind(call.ended_at)
    .bind(call.duration_secs)
    .bind(call.billed_seconds)
    .bind(call.cost)
    .bind(&call.ledger_entry_id)
    .bind(call.hangup_at_ms)
    .bind(call.hangup_sent_at_ms)
    .bind(call.updated_at_ms)
    .bind(&call.parent_sid)
    .execute(&mut *conn)
    .await?;
    notify_changed(conn, call).await
}

/// The PostgreSQL channel every instance's live-stream listener follows.
pub const CHANGED_CHANNEL: &str = "call_changed";

/// On PostgreSQL, tells every instance's live-stream listener that this call
/// changed: `pg_notify` inside the writing transaction is delivered when it
/// commits, and never if it rolls back. The payload is `CallChange`'s
/// notification text (call, owner, organization). SQLite runs in one process;
/// there the call service tells the streams itself (`calls::changed`).
async fn notify_changed(conn: &mut AnyConnection, call: &Call) -> Result<(), sqlx::Error> {
    if conn.backend_name() != "PostgreSQL" {
        return Ok(());
    }
    sqlx::query("select pg_notify($1, $2)")
        .bind(CHANGED_CHANNEL)
        .bind(CallChange::of(call).payload())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// What changed, as the live streams hear of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallChange {
    /// One call changed; its owner and organization say whose streams care.
    Call {
        call_id: String,
        user_id: String,
        org_id: String,
    },
    /// Changes may have been missed (a listener reconnected): re-read.
    Unknown,
}

impl CallChange {
    pub fn of(call: &Call) -> Self {
        CallChange::Call {
            call_id: call.call_id.clone(),
            user_id: call.user_id.clone(),
            org_id: call.org_id.clone(),
        }
    }

    /// The notification text: the three ids, space-separated (ids never hold spaces).
    pub fn payload(&self) -> String {
        match self {
            CallChange::Call {
                call_id,
                user_id,
                org_id,
            } => format!("{call_id} {user_id} {org_id}"),
            CallChange::Unknown => String::new(),
        }
    }

    /// Reads `payload`'s text back; anything else is `Unknown` (re-read).
    pub fn parse(payload: &str) -> Self {
        let mut ids = payload.split(' ');
        match (ids.next(), ids.next(), ids.next(), ids.next()) {
            (Some(call_id), Some(user_id), Some(org_id), None)
                if !call_id.is_empty() && !user_id.is_empty() && !org_id.is_empty() =>
            {
                CallChange::Call {
                    call_id: call_id.to_owned(),
                    user_id: user_id.to_owned(),
                    org_id: org_id.to_owned(),
                }
            }
            _ => CallChange::Unknown,
        }
    }
}

/// A carrier event as received, with what was done about it.
pub struct RecordedEvent<'a> {
    pub call_id: &'a str,
    pub status: CallStatus,
    pub sequence: i64,
    pub occurred_at: i64,
    pub duration_secs: Option<i64>,
    pub outcome: &'a str,
}

#[tracing::instrument(skip_all)]
pub async fn record_event(
    conn: &mut AnyConnection,
    event: &RecordedEvent<'_>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into call_event (call_event_id, call_id, status, sequence_number, occurred_at,
             duration_secs, outcome, received_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(new_id("cev"))
    .bind(event.call_id)
    .bind(event.status.as_str())
    .bind(event.sequence)
    .bind(event.occurred_at)
    .bind(event.duration_secs)
    .bind(event.outcome)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Events received for a call, in the carrier's order (tests and the detail view).
#[tracing::instrument(skip_all)]
pub async fn events<'c>(
    db: impl Executor<'c, Database = Any>,
    call_id: &str,
) -> Result<Vec<(String, i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "select status, sequence_number, outcome from call_event
         where call_id = $1 order by sequence_number, received_at, call_event_id",
    )
    .bind(call_id)
    .fetch_all(db)
    .await
}

/// The sweeper's candidates, soonest due first: calls not ended whose time
/// to be looked at has come. A call no leg of which ever reached us (no
/// carrier id, no parent: its attempt was never taken) is due
/// `ring_grace_secs` after it was created; a placed one
/// once its ring grace, its own maximum duration and `overdue_margin_secs`
/// have all passed; one someone asked to end, `overdue_margin_secs` after
/// that if it is sooner (its leg may have ended before dialing anything, and
/// then no event of ours ever comes). Ordering by that due time, not by age,
/// means many long live calls placed earlier cannot keep a newer stuck call
/// out of the batch.
#[tracing::instrument(skip_all)]
pub async fn due_for_sweep<'c>(
    db: impl Executor<'c, Database = Any>,
    now: i64,
    ring_grace_secs: i64,
    overdue_margin_secs: i64,
    limit: i64,
) -> Result<Vec<Call>, sqlx::Error> {
    const DUE_AT: &str = "case when end_requested_at is not null
             and end_requested_at + $3 < created_at + $2 + (case when carrier_sid is null
                 and parent_sid is null then 0 else max_duration_secs + $3 end)
         then end_requested_at + $3
         else created_at + $2 + (case when carrier_sid is null and parent_sid is null
                 then 0 else max_duration_secs + $3 end) end";
    let rows: Vec<CallRow> = sqlx::query_as(&format!(
        "select {CALL_COLUMNS} from call
         where ended_at is null and {DUE_AT} <= $1
         order by {DUE_AT}, call_id limit $4"
    ))
    .bind(now)
    .bind(ring_grace_secs)
    .bind(overdue_margin_secs)
    .bind(limit)
    .fetch_all(db)
    .await?;
    typed_all(rows)
}

/// These calls of a member in one organization (those that exist), for a
/// live stream told they changed. At most 100 ids per query.
#[tracing::instrument(skip_all)]
pub async fn some_for_user<'c>(
    db: impl Executor<'c, Database = Any>,
    user_id: &str,
    org_id: &str,
    call_ids: &[String],
) -> Result<Vec<Call>, sqlx::Error> {
    if call_ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids = call_ids.iter().take(100).collect::<Vec<_>>();
    let placeholders = (0..ids.len())
        .map(|i| format!("${}", i + 3))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "select {CALL_COLUMNS} from call
         where user_id = $1 and org_id = $2 and call_id in ({placeholders})
         order by created_at, call_id"
    );
    let mut query = sqlx::query_as(&sql).bind(user_id).bind(org_id);
    for id in ids {
        query = query.bind(id);
    }
    let rows: Vec<CallRow> = query.fetch_all(db).await?;
    typed_all(rows)
}

/// A member's latest calls in one organization, newest first (the dialer's recent list).
#[tracing::instrument(skip_all)]
pub async fn recent_for_user<'c>(
    db: impl Executor<'c, Database = Any>,
    user_id: &str,
    org_id: &str,
    limit: i64,
) -> Result<Vec<Call>, sqlx::Error> {
    let rows: Vec<CallRow> = sqlx::query_as(&format!(
        "select {CALL_COLUMNS} from call
         where user_id = $1 and org_id = $2
         order by created_at desc, call_id desc limit $3"
    ))
    .bind(user_id)
    .bind(org_id)
    .bind(limit)
    .fetch_all(db)
    .await?;
    typed_all(rows)
}

/// Every call `user_id` placed, in any organization, oldest first (their
/// data export). Bounded by what one person can dial.
#[tracing::instrument(skip_all)]
pub async fn placed_by<'c>(
    db: impl Executor<'c, Database = Any>,
    user_id: &str,
) -> Result<Vec<Call>, sqlx::Error> {
    let rows: Vec<CallRow> = sqlx::query_as(&format!(
        "select {CALL_COLUMNS} from call where user_id = $1 order by created_at, call_id"
    ))
    .bind(user_id)
    .fetch_all(db)
    .await?;
    typed_all(rows)
}

/// The calls of `user_id` not yet over, in any organization (deleting an
/// account ends them first).
#[tracing::instrument(skip_all)]
pub async fn live_of_user<'c>(
    db: impl Executor<'c, Database = Any>,
    user_id: &str,
) -> Result<Vec<Call>, sqlx::Error> {
    let rows: Vec<CallRow> = sqlx::query_as(&format!(
        "select {CALL_COLUMNS} from call
          where user_id = $1 and status in ('queued', 'initiated', 'ringing', 'in-progress')
          order by created_at, call_id"
    ))
    .bind(user_id)
    .fetch_all(db)
    .await?;
    typed_all(rows)
}

fn next_version(previous: i64, now_ms: i64) -> i64 {
    now_ms.max(previous + 1)
}

/// The ids of a member's calls in one organization that have not ended.
#[tracing::instrument(skip_all)]
pub async fn live_of_member<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    user_id: &str,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "select call_id from call where org_id = $1 and user_id = $2 and ended_at is null
          order by created_at, call_id",
    )
    .bind(org_id)
    .bind(user_id)
    .fetch_all(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::{next_version, CallChange};

    #[test]
    fn a_change_always_gets_a_larger_version_whatever_the_clock_says() {
        // The usual case: the clock, ahead of the last change.
        assert_eq!(next_version(1_000, 2_000), 2_000);
        // This instance's clock is behind the one that wrote last.
        assert_eq!(next_version(5_000, 2_000), 5_001);
        // Two changes within one millisecond.
        assert_eq!(next_version(2_000, 2_000), 2_001);
    }

    #[test]
    fn a_change_notification_reads_back_as_sent_and_anything_else_means_reread() {
        let change = CallChange::Call {
            call_id: "call_1".into(),
            user_id: "usr_2".into(),
            org_id: "org_3".into(),
        };
        assert_eq!(change.payload(), "call_1 usr_2 org_3");
        assert_eq!(CallChange::parse(&change.payload()), change);
        for garbled in [
            "",
            "call_1",
            "call_1 usr_2",
            "call_1 usr_2 org_3 extra",
            "  ",
        ] {
            assert_eq!(
                CallChange::parse(garbled),
                CallChange::Unknown,
                "{garbled:?}"
            );
        }
    }
}
