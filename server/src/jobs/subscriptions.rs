//! Subscriptions, outside any request: a periodic scan (on the auto-recharge
//! scan's cadence) ends pauses whose resume date has come on the
//! organization's billing clock, if the provider has not reported it already,
//! and mails owners three days before a pause ends. Both are keyed (the
//! provider call by its idempotency key, the mail by its cause), so a scan
//! repeated on another instance, or after a restart, does each once.

use super::JobContext;
use app::domain::AuditAction;
use app::server::clock;
use app::server::db::org_audit;
use app::server::providers::payments::{PaymentError, SubscriptionChange};
use app::server::subscriptions::{self, Freshness, Notice, Subscription};

/// Owners hear of a pause ending this long before it does.
const REMIND_BEFORE_SECS: i64 = 3 * 86_400;

pub async fn scan_forever(context: JobContext) {
    let every = context.auto_recharge_scan_every;
    super::repeat_forever("subscription scan", every, || async {
        if let Err(error) = scan(&context).await {
            tracing::warn!(error = %error, "subscription scan failed");
        }
    })
    .await;
}

async fn scan(context: &JobContext) -> Result<(), sqlx::Error> {
    let due = {
        let mut conn = context.app.db.pool.acquire().await?;
        subscriptions::pauses_due(&mut conn, clock::now()).await?
    };
    for (subscription, billing_now) in due {
        let Some(resumes_at) = subscription.pause_resumes_at else {
            continue;
        };
        if billing_now >= resumes_at {
            resume(context, &subscription, resumes_at).await?;
        } else if billing_now >= resumes_at - REMIND_BEFORE_SECS {
            let cause = format!("pause_ending:{}:{resumes_at}", subscription.subscription_id);
            let mut tx = context.app.db.begin_write().await?;
            let notice = Notice::PauseEnding(resumes_at);
            subscriptions::tell_owners_once(
                &mut tx,
                &subscription.org_id,
                &cause,
                notice,
                clock::now(),
            )
            .await?;
            tx.commit().await?;
        }
    }
    Ok(())
}

/// Clears the pause at the provider and stores its answer. A payment that
/// then fails arrives as `invoice.payment_failed`, the usual path.
async fn resume(
    context: &JobContext,
    subscription: &Subscription,
    resumes_at: i64,
) -> Result<(), sqlx::Error> {
    let key = format!("auto-resume:{}:{resumes_at}", subscription.subscription_id);
    let answer = match context
        .app
        .payments
        .update_subscription(
            &subscription.subscription_id,
            &SubscriptionChange::Unpause,
            &key,
        )
        .await
    {
        Ok(answer) => answer,
        Err(PaymentError::Unavailable(why)) => {
            tracing::warn!(subscription_id = %subscription.subscription_id, %why, "resuming a pause: the provider is unavailable; next scan retries");
            return Ok(());
        }
        Err(PaymentError::Refused(why)) => {
            tracing::error!(alert = true, subscription_id = %subscription.subscription_id, %why, "ALERT: the provider refused to resume a paused subscription");
            return Ok(());
        }
    };
    let now = clock::now();
    let mut tx = context.app.db.begin_write().await?;
    let applied =
        subscriptions::apply_subscription_object(&mut tx, &answer, Freshness::Fetched, now).await?;
    let detail = format!(
        "The pause ended on its date ({})",
        app::domain::plan::day_of(resumes_at)
    );
    org_audit::record(
        &mut tx,
        &subscription.org_id,
        None,
        AuditAction::SubscriptionResumed,
        &detail,
    )
    .await?;
    tx.commit().await?;
    tracing::info!(org_id = %subscription.org_id, outcome = ?applied, "paused subscription resumed on its date");
    Ok(())
}
