//! Auto-recharge, outside any request: a periodic scan starts attempts for
//! organizations below their threshold (`app::server::purchases::auto_recharge`), and the
//! `wallet.auto_recharge` job charges the saved card for one attempt.

use super::{JobContext, JobError};
use app::domain::Money;
use app::server::clock;
use app::server::db::purchases;
use app::server::providers::payments::{ChargeOutcome, PaymentError, SavedCardCharge};
use app::server::purchases::auto_recharge;

pub async fn scan_forever(context: JobContext) {
    let every = context.auto_recharge_scan_every;
    super::repeat_forever("auto-recharge scan", every, || async {
        if let Err(error) = auto_recharge::start_due_attempts(&context.app.db, clock::now()).await {
            tracing::warn!(error = ?error, "auto-recharge scan failed");
        }
    })
    .await;
}

/// Charges the saved card for one attempt. The attempt id is the provider's
/// idempotency key: a retry after a timeout cannot charge twice.
pub async fn charge(context: &JobContext, payload: &serde_json::Value) -> Result<(), JobError> {
    let attempt_id = payload["attempt_id"]
        .as_str()
        .ok_or_else(|| JobError::Permanent("no attempt_id".into()))?;
    let Some(attempt) = auto_recharge::attempt(&context.app.db.pool, attempt_id).await? else {
        return Err(JobError::Permanent(format!("no attempt {attempt_id}")));
    };
    if !auto_recharge::is_pending(&attempt) {
        return Ok(()); // the webhook got there first
    }
    if auto_recharge::is_processing(&attempt) {
        return Ok(()); // charged; the provider's webhook will say how it ended
    }
    let rule = purchases::auto_recharge_settings(&context.app.db.pool, &attempt.org_id).await?;
    let (Some(customer_id), Some(payment_method_id)) =
        (rule.payment_customer_id, rule.payment_method_id)
    else {
        let mut tx = context.app.db.begin_write().await?;
        auto_recharge::record_failure_in(&mut tx, attempt_id, None, "no saved card", clock::now())
            .await?;
        tx.commit().await?;
        return Ok(());
    };
    let request = SavedCardCharge {
        org_id: attempt.org_id.clone(),
        attempt_id: attempt_id.to_owned(),
        customer_id,
        payment_method_id,
        amount: Money::from_micros(attempt.amount),
        idempotency_key: format!("auto_recharge:{attempt_id}"),
    };
    let outcome = match context.app.payments.charge_saved_card(&request).await {
        Ok(outcome) => outcome,
        Err(PaymentError::Unavailable(why)) => return Err(JobError::Retry(why)),
        Err(PaymentError::Refused(why)) => ChargeOutcome::Declined {
            payment_ref: None,
            reason: why,
        },
    };
    let mut tx = context.app.db.begin_write().await?;
    let now = clock::now();
    match outcome {
        ChargeOutcome::Succeeded { payment_ref } => {
            let actor = format!("auto_recharge:{attempt_id}");
            auto_recharge::record_success_in(&mut tx, &attempt, &payment_ref, &actor, now)
                .await
                .map_err(|error| JobError::Retry(format!("crediting: {error}")))?;
        }
        ChargeOutcome::Processing { payment_ref } => {
            auto_recharge::record_processing_in(&mut tx, attempt_id, &payment_ref).await?;
        }
        ChargeOutcome::Declined {
            payment_ref,
            reason,
        } => {
            auto_recharge::record_failure_in(
                &mut tx,
                attempt_id,
                payment_ref.as_deref(),
                &reason,
                now,
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// The charge job was given up: close its attempt as failed (unless its
/// payment is processing), so it blocks no further attempt.
pub async fn given_up(
    context: &JobContext,
    payload: &serde_json::Value,
    why: &str,
) -> Result<(), sqlx::Error> {
    let Some(attempt_id) = payload["attempt_id"].as_str() else {
        return Ok(());
    };
    let mut tx = context.app.db.begin_write().await?;
    if auto_recharge::given_up_in(&mut tx, attempt_id, why, clock::now()).await? {
        tracing::warn!(%attempt_id, %why, "auto-recharge attempt closed as failed: its job was given up");
    }
    tx.commit().await
}
