//! The persistent job queue's table. Jobs are rows: they survive restarts,
//! and any live instance may run a due one. A worker claims a job with a
//! lease (`locked_until_ms`); if the worker dies, the lease runs out and
//! another takes the job again, so every handler must be idempotent.
//! The runner is `server/src/jobs/`.

use crate::server::ids::new_id;
use sqlx::{Any, Executor, FromRow};
use std::sync::LazyLock;
use tokio::sync::watch;

/// Counts the jobs this process added, so its runner looks at once instead
/// of at the next job's time (`server/src/jobs/`). The adding transaction
/// may commit a moment after the count moves: the runner keeps looking for
/// a while after it does.
static ADDED: LazyLock<watch::Sender<u64>> = LazyLock::new(|| watch::channel(0).0);

/// Changes whenever this process adds a job (`enqueue`).
pub fn added() -> watch::Receiver<u64> {
    ADDED.subscribe()
}

/// A job to add. `dedupe_key` keeps at most one unfinished job per cause.
#[derive(Clone, Debug)]
pub struct NewJob<'a> {
    pub kind: &'a str,
    pub payload: &'a serde_json::Value,
    pub dedupe_key: Option<&'a str>,
    pub run_at_ms: i64,
}

#[derive(Clone, Debug, FromRow)]
pub struct Job {
    pub job_id: String,
    pub kind: String,
    pub payload: String,
    /// Including this run.
    pub attempts: i64,
}

/// Adds the job; false when an unfinished job with the same dedupe key exists.
#[tracing::instrument(skip_all, fields(kind = new.kind))]
pub async fn enqueue<'c>(
    db: impl Executor<'c, Database = Any>,
    new: &NewJob<'_>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "insert into job (job_id, kind, payload, dedupe_key, run_at_ms, created_at)
         values ($1, $2, $3, $4, $5, $6)
         on conflict do nothing",
    )
    .bind(new_id("job"))
    .bind(new.kind)
    .bind(new.payload.to_string())
    .bind(new.dedupe_key)
    .bind(new.run_at_ms)
    .bind(now)
    .execute(db)
    .await?;
    let added = done.rows_affected() == 1;
    if added {
        ADDED.send_modify(|count| *count = count.wrapping_add(1));
    }
    Ok(added)
}

/// Takes the most overdue job whose time has come and that nobody holds,
/// leasing it to `worker` until `lease_until_ms`. Two workers racing for one
/// job: the second update finds the lease taken and claims nothing.
#[tracing::instrument(skip_all)]
pub async fn claim_due<'c>(
    db: impl Executor<'c, Database = Any>,
    worker: &str,
    now_ms: i64,
    lease_until_ms: i64,
) -> Result<Option<Job>, sqlx::Error> {
    sqlx::query_as(
        "update job set locked_by = $1, locked_until_ms = $2, attempts = attempts + 1
         where job_id = (
                 select job_id from job
                 where finished_at is null and run_at_ms <= $3
                   and (locked_until_ms is null or locked_until_ms < $3)
                 order by run_at_ms
                 limit 1)
           and finished_at is null
           and (locked_until_ms is null or locked_until_ms < $3)
         returning job_id, kind, payload, attempts",
    )
    .bind(worker)
    .bind(lease_until_ms)
    .bind(now_ms)
    .fetch_optional(db)
    .await
}

/// When the next unfinished job can be claimed, unix ms: when it is due, or
/// just after its lease runs out while a worker holds it (the same test as
/// `claim_due`). None when no job waits.
#[tracing::instrument(skip_all)]
pub async fn next_claimable_ms<'c>(
    db: impl Executor<'c, Database = Any>,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "select min(case when locked_until_ms is not null and locked_until_ms >= run_at_ms
                         then locked_until_ms + 1 else run_at_ms end)
         from job where finished_at is null",
    )
    .fetch_one(db)
    .await
}

/// Done (successfully, or given up with `error`). Frees the dedupe key.
pub async fn finish<'c>(
    db: impl Executor<'c, Database = Any>,
    job_id: &str,
    error: Option<&str>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update job set finished_at = $2, last_error = $3, dedupe_key = null,
                        locked_by = null, locked_until_ms = null
         where job_id = $1",
    )
    .bind(job_id)
    .bind(now)
    .bind(error)
    .execute(db)
    .await?;
    Ok(())
}

/// Failed this time: run again at `run_at_ms`.
pub async fn retry_later<'c>(
    db: impl Executor<'c, Database = Any>,
    job_id: &str,
    error: &str,
    run_at_ms: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update job set run_at_ms = $2, last_error = $3, locked_by = null, locked_until_ms = null
         where job_id = $1",
    )
    .bind(job_id)
    .bind(run_at_ms)
    .bind(error)
    .execute(db)
    .await?;
    Ok(())
}
