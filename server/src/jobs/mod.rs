//! The job runner: takes due jobs from the persistent queue
//! (`app::server::db::jobs`) and runs them. Every instance runs one; a job is
//! leased to one worker at a time, and a lease that runs out (the worker was
//! killed) lets another instance take the job again, so handlers are
//! idempotent. A handler error retries with backoff; after `MAX_ATTEMPTS` the
//! job is given up and logged.
//!
//! Kinds: `sandbox.deliver_stripe_event` (stripe_delivery.rs),
//! `wallet.auto_recharge` (auto_recharge.rs, which also runs the periodic scan),
//! `call.forced_hangup` (calls.rs, which also runs the call sweep), and the
//! simulated carrier's `carrier.sim_advance` and `carrier.sim_status_callback`
//! (carrier_sim.rs). `audit.rs` prunes old login audit rows hourly.

mod audit;
mod auto_recharge;
mod calls;
mod carrier_sim;
mod stripe_delivery;

use crate::providers::twilio::simulated::{self, SimulatedCarrier};
use crate::state::WebhookSecrets;
use app::server::db::jobs;
use app::server::providers::sandbox;
use app::server::{clock, ids, AppState};
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

const POLL_EVERY: Duration = Duration::from_millis(100);
/// Jobs one instance runs at once.
const CONCURRENT_JOBS: usize = 16;
/// A job running longer than this is presumed dead and run again elsewhere.
const LEASE_MS: i64 = 60_000;
const MAX_ATTEMPTS: i64 = 12;

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
}

/// Runs the queue until the process ends: claims due jobs while fewer than
/// `CONCURRENT_JOBS` run, each in its own task, so many hangups due at once
/// (or one slow delivery) do not wait behind each other.
pub fn spawn(context: JobContext) {
    let worker = ids::new_id("wrk");
    tracing::info!(%worker, "job runner started");
    tokio::spawn(auto_recharge::scan_forever(context.clone()));
    tokio::spawn(calls::sweep_forever(context.clone()));
    tokio::spawn(audit::prune_forever(context.clone()));
    let slots = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_JOBS));
    tokio::spawn(async move {
        loop {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            let now_ms = clock::now_ms();
            match jobs::claim_due(&context.app.db.pool, &worker, now_ms, now_ms + LEASE_MS).await {
                Ok(Some(job)) => {
                    let context = context.clone();
                    tokio::spawn(async move {
                        if let Err(error) = run(&context, job).await {
                            tracing::warn!(error = ?error, "recording a job's outcome failed");
                        }
                        drop(slot);
                    });
                    continue;
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(error = ?error, "job queue unavailable"),
            }
            drop(slot);
            tokio::time::sleep(POLL_EVERY).await;
        }
    });
}

/// Runs one claimed job and records how it went.
async fn run(context: &JobContext, job: jobs::Job) -> Result<(), sqlx::Error> {
    let span =
        tracing::info_span!("job", job_id = %job.job_id, kind = %job.kind, attempt = job.attempts);
    record(context, job).instrument(span).await
}

async fn record(context: &JobContext, job: jobs::Job) -> Result<(), sqlx::Error> {
    let outcome = match serde_json::from_str(&job.payload) {
        Ok(payload) => dispatch(context, &job.kind, &payload).await,
        Err(error) => Err(JobError::Permanent(format!("payload is not JSON: {error}"))),
    };
    let now = clock::now();
    match outcome {
        Ok(()) => jobs::finish(&context.app.db.pool, &job.job_id, None, now).await?,
        Err(JobError::Permanent(why)) => {
            tracing::error!(%why, "job failed for good");
            jobs::finish(&context.app.db.pool, &job.job_id, Some(&why), now).await?;
        }
        Err(JobError::Retry(why)) if job.attempts >= MAX_ATTEMPTS => {
            tracing::error!(%why, "job given up after {MAX_ATTEMPTS} attempts");
            jobs::finish(&context.app.db.pool, &job.job_id, Some(&why), now).await?;
        }
        Err(JobError::Retry(why)) => {
            let delay_ms = backoff_ms(job.attempts);
            tracing::warn!(%why, delay_ms, "job will be retried");
            jobs::retry_later(
                &context.app.db.pool,
                &job.job_id,
                &why,
                clock::now_ms() + delay_ms,
            )
            .await?;
        }
    }
    Ok(())
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
        other => Err(JobError::Permanent(format!("unknown job kind {other}"))),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn retries_back_off_exponentially_up_to_five_minutes() {
        assert_eq!(super::backoff_ms(1), 1000);
        assert_eq!(super::backoff_ms(2), 2000);
        assert_eq!(super::backoff_ms(4), 8000);
        assert_eq!(super::backoff_ms(30), 300_000);
    }
}
