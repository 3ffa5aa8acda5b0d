//! Waiting for the job queue (`server/src/jobs/`) from the database side,
//! instead of sleeping or polling for a job's effect.
//!
//! Every running instance claims due jobs from the `job` table and records
//! each outcome there (`finished_at`, or a later `run_at_ms` and
//! `last_error` for a retry). A job's effects are committed before it is
//! marked finished, and the jobs a job enqueues (a callback after a
//! simulated carrier's step, a Stripe event after a sandbox charge) are
//! committed before it finishes too. So once no job is due and unfinished,
//! every effect of every job that was due is visible: tests can assert at
//! once, no polling. `settle` waits for that moment.
//!
//! Some things are time-based: the simulated carrier answers seconds after a
//! dial, a forced hangup is due at its deadline, and the auto-recharge scan
//! runs on its own timer, outside the queue. `run_until_count` lets time
//! pass, settling the queue as jobs come due, until a query counts what the
//! test waits for; it only checks at settled moments, so what follows sees
//! the finished effects of every job that ran.
//!
//! Both are bounded and, on timeout, panic listing the jobs still pending
//! (kind, when due, attempts, who holds it, last error, payload).

use app::server::clock;
use app::server::db::Db;
use std::time::{Duration, Instant};

/// Longest `settle` waits for the due jobs to finish: they are meant to run
/// right away, so reaching it means a job is stuck (or the runner is down).
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest `run_until_count` waits, time-based waits included (a simulated
/// answer after ~3.5 s plus a call's paid time).
pub const UNTIL_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the queue is looked at. The runner looks every 100 ms while
/// busy and, idle, sleeps until the next job's time (at most 2 s).
const LOOK_EVERY: Duration = Duration::from_millis(20);

/// An unfinished row of the `job` table.
#[derive(Debug, sqlx::FromRow)]
pub struct PendingJob {
    pub job_id: String,
    pub kind: String,
    pub payload: String,
    pub run_at_ms: i64,
    pub attempts: i64,
    pub locked_by: Option<String>,
    pub last_error: Option<String>,
}

/// Every job not finished (nor given up), soonest due first.
pub async fn unfinished(db: &Db) -> Vec<PendingJob> {
    sqlx::query_as(
        "select job_id, kind, payload, run_at_ms, attempts, locked_by, last_error
         from job where finished_at is null order by run_at_ms, job_id",
    )
    .fetch_all(&db.pool)
    .await
    .expect("the job table can be read")
}

/// The jobs, one a line, with their due times relative to `now_ms`.
pub fn describe(jobs: &[PendingJob], now_ms: i64) -> String {
    if jobs.is_empty() {
        return "  (none)".to_owned();
    }
    jobs.iter()
        .map(|job| {
            let due = job.run_at_ms - now_ms;
            let when = if due > 0 {
                format!("due in {due} ms")
            } else {
                format!("due {} ms ago", -due)
            };
            format!(
                "  {} {} ({when}, {} attempts, held by {}, last error {}): {}",
                job.kind,
                job.job_id,
                job.attempts,
                job.locked_by.as_deref().unwrap_or("nobody"),
                job.last_error.as_deref().unwrap_or("none"),
                job.payload,
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

async fn any_due(db: &Db) -> bool {
    let now_ms = clock::now_ms();
    unfinished(db)
        .await
        .iter()
        .any(|job| job.run_at_ms <= now_ms)
}

/// Waits until no job whose time has come is unfinished: every due job (and
/// every job those enqueue due at once) has run and its outcome is recorded.
/// Jobs scheduled for later are left alone, and so is a job that failed and
/// waits for its retry (its `run_at_ms` moved on).
pub async fn settle(db: &Db) {
    settle_before(db, Instant::now() + SETTLE_TIMEOUT, SETTLE_TIMEOUT).await;
}

async fn settle_before(db: &Db, deadline: Instant, budget: Duration) {
    loop {
        let now_ms = clock::now_ms();
        let due: Vec<PendingJob> = unfinished(db)
            .await
            .into_iter()
            .filter(|job| job.run_at_ms <= now_ms)
            .collect();
        if due.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "jobs still due and unfinished after {budget:?} (is a job stuck, or no runner up?):\n{}",
            describe(&due, now_ms)
        );
        tokio::time::sleep(LOOK_EVERY).await;
    }
}

/// Lets the queue run, as time brings jobs due, until `sql` (a count) gives
/// `expected`, checked only when no job is due. For waits that are
/// time-based or start outside the queue; when the cause is already queued
/// and due, `settle` and an assertion say more.
pub async fn run_until_count(db: &Db, sql: &str, expected: i64) {
    let deadline = Instant::now() + UNTIL_TIMEOUT;
    loop {
        settle_before(db, deadline, UNTIL_TIMEOUT).await;
        let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&db.pool).await.unwrap();
        // Still nothing due after the count: no job (say one the auto-recharge
        // scan queued meanwhile) was half done when it was read.
        if n == expected && !any_due(db).await {
            return;
        }
        if Instant::now() >= deadline {
            let now_ms = clock::now_ms();
            panic!(
                "after {UNTIL_TIMEOUT:?} of running jobs, {sql} counts {n}, not {expected}; unfinished jobs:\n{}",
                describe(&unfinished(db).await, now_ms)
            );
        }
        tokio::time::sleep(LOOK_EVERY).await;
    }
}
