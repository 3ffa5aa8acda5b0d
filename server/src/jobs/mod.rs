//! The job runner: takes due jobs from the persistent queue
//! (`app::server::db::jobs`) and runs them. Every instance runs one; a job is
//! leased to one worker at a time, and a lease that runs out (the worker was
//! killed) lets another instance take the job again, so handlers are
//! idempotent. A handler error retries with backoff; after `MAX_ATTEMPTS` the
//! job is given up and logged, and its kind's give-up hook (`on_give_up`)
//! closes whatever the job was meant to finish (an auto-recharge attempt is
//! closed as failed), so nothing waits on a job that will never run again.
//!
//! Kinds: `sandbox.deliver_stripe_event` (stripe_delivery.rs),
//! `wallet.auto_recharge` (auto_recharge.rs, which also runs the periodic scan),
//! `call.forced_hangup` (calls.rs, which also runs the call sweep), and the
//! simulated carrier's `carrier.sim_connect`, `carrier.sim_advance`,
//! `carrier.sim_status_callback` and `carrier.sim_dial_action`
//! (carrier_sim.rs), and `mail.send` (mail.rs). `audit.rs` prunes old login
//! audit rows hourly; `subscriptions.rs` ends pauses on their date and
//! reminds owners before.

mod audit;
mod auto_recharge;
mod calls;
mod carrier_sim;
mod mail;
mod stripe_delivery;
mod subscriptions;

use crate::providers::twilio::simulated::{self, SimulatedCarrier};
use crate::state::WebhookSecrets;
use app::server::db::jobs;
use app::server::db::Db;
use app::server::providers::sandbox;
use app::server::{clock, ids, AppState};
use futures::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// How often a busy runner looks for due jobs.
const POLL_EVERY: Duration = Duration::from_millis(100);
/// How long the runner stays busy after it claimed a job or this process
/// added one: the adding transaction may commit a moment after its signal,
/// and one job's outcome often brings the next.
const BUSY_FOR: Duration = Duration::from_secs(2);
/// The longest an idle runner sleeps before looking again. Bounds how late
/// it sees a job it was not told of: one added by another instance that
/// could not run it, or written into the table by hand.
const IDLE_AT_MOST: Duration = Duration::from_secs(2);
/// The shortest wait, so a job due this instant that another worker just
/// took cannot make the runner spin.
const WAIT_AT_LEAST: Duration = Duration::from_millis(10);
/// Jobs one instance runs at once.
const CONCURRENT_JOBS: usize = 16;
/// A job running longer than this is presumed dead and run again elsewhere.
const LEASE_MS: i64 = 60_000;
/// A job failing (or panicking) this many times is given up.
pub const MAX_ATTEMPTS: i64 = 12;

/// What job handlers can reach.
#[derive(Clone, Debug)]
pub struct JobContext {
    /// The database, providers and call settings the request side uses.
    pub app: AppState,
    /// Signs the sandbox's Stripe events and the simulated carrier's callbacks.
    pub secrets: WebhookSecrets,
    pub http: reqwest::Client,
    /// Our own `/webhooks/stripe`, reached over loopback.
    pub stripe_webhook_url: String,
    /// `http://127.0.0.1:<port>`: our own server, for deliveries to ourselves.
    pub loopback_base: String,
    /// The simulated carrier, when it is the carrier (its own jobs need it).
    pub simulated: Option<Arc<SimulatedCarrier>>,
    pub auto_recharge_scan_every: Duration,
    pub call_sweep_every: Duration,
    /// Sends the outbox; None without `SMTP_URL` (mail stays queued).
    pub mailer: Option<Arc<crate::mail::Mailer>>,
}

/// Runs the queue until `shutdown` is cancelled: claims due jobs while fewer
/// than `CONCURRENT_JOBS` run, each in its own task, so many hangups due at
/// once (or one slow delivery) do not wait behind each other. Once shutdown
/// begins it claims nothing more, and the periodic scan and sweep stop; jobs
/// already running finish if the process lives long enough, and a job cut
/// short is taken again by an instance when its lease runs out.
pub fn spawn(context: JobContext, shutdown: CancellationToken) {
    let worker = ids::new_id("wrk");
    tracing::info!(%worker, "job runner started");
    tokio::spawn(until(
        shutdown.clone(),
        auto_recharge::scan_forever(context.clone()),
    ));
    tokio::spawn(until(
        shutdown.clone(),
        calls::sweep_forever(context.clone()),
    ));
    tokio::spawn(until(
        shutdown.clone(),
        audit::prune_forever(context.clone()),
    ));
    tokio::spawn(until(
        shutdown.clone(),
        subscriptions::scan_forever(context.clone()),
    ));
    let slots = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_JOBS));
    let mut added = jobs::added();
    tokio::spawn(async move {
        // Busy at start: take at once whatever an earlier run left due.
        let mut busy_until = Instant::now() + BUSY_FOR;
        loop {
            let slot = tokio::select! {
                _ = shutdown.cancelled() => break,
                slot = slots.clone().acquire_owned() => slot,
            };
            let Ok(slot) = slot else {
                break;
            };
            if shutdown.is_cancelled() {
                break;
            }
            let now_ms = clock::now_ms();
            let claimed = AssertUnwindSafe(jobs::claim_due(
                &context.app.db.pool,
                &worker,
                now_ms,
                now_ms + LEASE_MS,
            ))
            .catch_unwind()
            .await;
            match claimed {
                Ok(Ok(Some(job))) => {
                    busy_until = Instant::now() + BUSY_FOR;
                    let context = context.clone();
                    tokio::spawn(async move {
                        if let Err(error) = run(&context, job).await {
                            tracing::warn!(error = ?error, "recording a job's outcome failed");
                        }
                        drop(slot);
                    });
                    continue;
                }
                Ok(Ok(None)) => {}
                Ok(Err(error)) => tracing::warn!(error = ?error, "job queue unavailable"),
                Err(panic) => tracing::error!(
                    panic = %panic_message(panic.as_ref()),
                    "claiming a job panicked; the runner carries on"
                ),
            }
            drop(slot);
            let wait = if Instant::now() < busy_until {
                POLL_EVERY
            } else {
                match jobs::next_claimable_ms(&context.app.db.pool).await {
                    Ok(next) => idle_wait(next, clock::now_ms()),
                    // Claiming has logged the outage; look again soon.
                    Err(_) => POLL_EVERY,
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
                Ok(()) = added.changed() => busy_until = Instant::now() + BUSY_FOR,
            }
        }
        tracing::info!(%worker, "job runner stopped claiming work: shutting down");
    });
}

/// How long an idle runner sleeps: until the next job can be claimed
/// (`jobs::next_claimable_ms`), within `WAIT_AT_LEAST..=IDLE_AT_MOST`.
fn idle_wait(next_claimable_ms: Option<i64>, now_ms: i64) -> Duration {
    let Some(at) = next_claimable_ms else {
        return IDLE_AT_MOST;
    };
    let until = u64::try_from(at.saturating_sub(now_ms)).unwrap_or(0);
    Duration::from_millis(until).clamp(WAIT_AT_LEAST, IDLE_AT_MOST)
}

/// Runs a periodic loop until shutdown begins.
async fn until(shutdown: CancellationToken, forever: impl std::future::Future<Output = ()>) {
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = forever => {}
    }
}

/// Runs `iteration` every `every` until the process ends (the periodic
/// tasks: the auto-recharge scan, the call sweep, the expired-session
/// sweep). A panic in one iteration is caught, logged with its message, and
/// the next iteration runs on time: one bad row cannot stop a loop for good.
pub async fn repeat_forever<F, Fut>(task: &'static str, every: Duration, mut iteration: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(panic) = AssertUnwindSafe(iteration()).catch_unwind().await {
            tracing::error!(
                task,
                panic = %panic_message(panic.as_ref()),
                "a periodic task panicked; it runs again at its next tick"
            );
        }
    }
}

/// The text a panic was raised with, when it has one.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

/// Runs one claimed job and records how it went.
async fn run(context: &JobContext, job: jobs::Job) -> Result<(), sqlx::Error> {
    let span =
        tracing::info_span!("job", job_id = %job.job_id, kind = %job.kind, attempt = job.attempts);
    let handler = async {
        match serde_json::from_str(&job.payload) {
            Ok(payload) => dispatch(context, &job.kind, &payload).await,
            Err(error) => Err(JobError::Permanent(format!("payload is not JSON: {error}"))),
        }
    };
    let give_up = |why: String| {
        let job = &job;
        async move { on_give_up(context, job, &why).await }
    };
    run_claimed_with(&context.app.db, &job, handler, give_up)
        .instrument(span)
        .await
}

/// Runs `handler` for a job this worker claimed and records its outcome. A
/// handler that panics has failed this attempt: the panic's message is
/// recorded as the job's error, the lease is given back, and the job is
/// retried with backoff like any retryable failure, then given up after
/// `MAX_ATTEMPTS` (attempts are counted at claim). Without this, a panic
/// would leave the job leased until the lease ran out and, as a panic never
/// reaches the give-up check, retried forever.
pub async fn run_claimed<F>(db: &Db, job: &jobs::Job, handler: F) -> Result<(), sqlx::Error>
where
    F: Future<Output = Result<(), JobError>>,
{
    run_claimed_with(db, job, handler, |_| async { Ok(()) }).await
}

/// `run_claimed`, with the hook that closes what a job given up was meant
/// to finish (`on_give_up`); it runs before the job is marked finished.
async fn run_claimed_with<F, G, GF>(
    db: &Db,
    job: &jobs::Job,
    handler: F,
    give_up: G,
) -> Result<(), sqlx::Error>
where
    F: Future<Output = Result<(), JobError>>,
    G: FnOnce(String) -> GF,
    GF: Future<Output = Result<(), sqlx::Error>>,
{
    let outcome = match AssertUnwindSafe(handler).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(panic) => {
            let message = panic_message(panic.as_ref());
            tracing::error!(panic = %message, "job handler panicked");
            Err(JobError::Retry(format!("the handler panicked: {message}")))
        }
    };
    let now = clock::now();
    match outcome {
        Ok(()) => jobs::finish(&db.pool, &job.job_id, None, now).await?,
        Err(JobError::Permanent(why)) => {
            tracing::error!(%why, "job failed for good");
            give_up(why.clone()).await?;
            jobs::finish(&db.pool, &job.job_id, Some(&why), now).await?;
        }
        Err(JobError::Retry(why)) if job.attempts >= MAX_ATTEMPTS => {
            tracing::error!(%why, "job given up after {MAX_ATTEMPTS} attempts");
            let why = format!("gave up after {MAX_ATTEMPTS} attempts: {why}");
            give_up(why.clone()).await?;
            jobs::finish(&db.pool, &job.job_id, Some(&why), now).await?;
        }
        Err(JobError::Retry(why)) => {
            let delay_ms = backoff_ms(job.attempts);
            tracing::warn!(%why, delay_ms, "job will be retried");
            jobs::retry_later(&db.pool, &job.job_id, &why, clock::now_ms() + delay_ms).await?;
        }
    }
    Ok(())
}

/// A job that will not run again: its kind closes what it was meant to
/// finish. Runs before the job is marked finished, so if this fails the job
/// stays unfinished, its lease runs out, and it is given up (and this runs)
/// again.
async fn on_give_up(context: &JobContext, job: &jobs::Job, why: &str) -> Result<(), sqlx::Error> {
    let Ok(payload) = serde_json::from_str::<serde_json::Value>(&job.payload) else {
        return Ok(());
    };
    match job.kind.as_str() {
        app::server::purchases::auto_recharge::JOB_KIND => {
            auto_recharge::given_up(context, &payload, why).await
        }
        app::server::db::outbox::SEND_JOB => mail::given_up(context, &payload, why).await,
        _ => Ok(()),
    }
}

/// 1 s, 2 s, 4 s … capped at 5 minutes.
fn backoff_ms(attempts: i64) -> i64 {
    1000_i64
        .saturating_mul(1 << attempts.clamp(1, 20).saturating_sub(1))
        .min(300_000)
}

#[derive(Debug)]
pub enum JobError {
    /// Try again later (the network, the database, a 5xx).
    Retry(String),
    /// Trying again cannot help (a malformed job).
    Permanent(String),
}

impl From<sqlx::Error> for JobError {
    fn from(error: sqlx::Error) -> Self {
        JobError::Retry(format!("database: {error}"))
    }
}

async fn dispatch(
    context: &JobContext,
    kind: &str,
    payload: &serde_json::Value,
) -> Result<(), JobError> {
    match kind {
        sandbox::DELIVERY_JOB => stripe_delivery::deliver(context, payload).await,
        app::server::purchases::auto_recharge::JOB_KIND => {
            auto_recharge::charge(context, payload).await
        }
        app::server::calls::FORCED_HANGUP_JOB => calls::forced_hangup(context, payload).await,
        simulated::ADVANCE_JOB => carrier_sim::advance(context, payload).await,
        simulated::CALLBACK_JOB => carrier_sim::deliver(context, payload).await,
        simulated::CONNECT_JOB => carrier_sim::connect(context, payload).await,
        simulated::DIAL_ACTION_JOB => carrier_sim::dial_action(context, payload).await,
        app::server::db::outbox::SEND_JOB => mail::send(context, payload).await,
        other => Err(JobError::Permanent(format!("unknown job kind {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::{idle_wait, IDLE_AT_MOST, WAIT_AT_LEAST};
    use std::time::Duration;

    #[test]
    fn an_idle_runner_sleeps_until_the_next_job_within_bounds() {
        let now = 1_000_000;
        assert_eq!(idle_wait(None, now), IDLE_AT_MOST, "nothing waits");
        assert_eq!(idle_wait(Some(now + 750), now), Duration::from_millis(750));
        assert_eq!(idle_wait(Some(now + 60_000), now), IDLE_AT_MOST);
        assert_eq!(idle_wait(Some(now), now), WAIT_AT_LEAST, "due now");
        assert_eq!(idle_wait(Some(now - 5_000), now), WAIT_AT_LEAST, "overdue");
        assert_eq!(idle_wait(Some(i64::MIN), now), WAIT_AT_LEAST);
        assert_eq!(idle_wait(Some(i64::MAX), now), IDLE_AT_MOST);
    }

    #[test]
    fn retries_back_off_exponentially_up_to_five_minutes() {
        assert_eq!(super::backoff_ms(1), 1000);
        assert_eq!(super::backoff_ms(2), 2000);
        assert_eq!(super::backoff_ms(4), 8000);
        assert_eq!(super::backoff_ms(30), 300_000);
    }
}
