//! Call jobs: the forced hangup (`call.forced_hangup`, queued when a call is
//! answered, due when its paid time runs out) and the periodic sweep of calls
//! whose final event never came. The rules are `app::server::calls`.

use super::{JobContext, JobError};
use app::server::calls::{self, CallError, HangupOutcome};
use app::server::clock;

pub async fn forced_hangup(
    context: &JobContext,
    payload: &serde_json::Value,
) -> Result<(), JobError> {
    let call_id = payload["call_id"]
        .as_str()
        .ok_or_else(|| JobError::Permanent("payload has no call_id".into()))?;
    match calls::forced_hangup(&context.app.db, context.app.carrier.as_ref(), call_id).await {
        Ok(HangupOutcome::Sent) => {
            tracing::info!(%call_id, "forced hangup sent: credits exhausted");
            Ok(())
        }
        Ok(HangupOutcome::NotLive) => Ok(()),
        Err(CallError::Db(error)) => Err(error.into()),
        // The carrier was unreachable: the hangup is retried with backoff
        // (and the carrier's own time limit still ends the call).
        Err(error) => Err(JobError::Retry(error.to_string())),
    }
}

/// Every `call_sweep_every`, reconciles calls stuck past their limits (a
/// panic in one sweep is logged and the next sweep runs on time).
pub async fn sweep_forever(context: JobContext) {
    let every = context.call_sweep_every;
    super::repeat_forever("call sweep", every, || sweep_once(&context)).await;
}

async fn sweep_once(context: &JobContext) {
    match calls::sweep(
        &context.app.db,
        context.app.carrier.as_ref(),
        &context.app.calling,
        clock::now(),
    )
    .await
    {
        Ok(0) => {}
        Ok(swept) => tracing::info!(swept, "stuck calls reconciled with the carrier"),
        Err(error) => tracing::warn!(%error, "call sweep failed"),
    }
}
