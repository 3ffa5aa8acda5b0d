//! Delivers a sandbox payment event to our own `/webhooks/stripe`, signed
//! with the webhook secret exactly as Stripe signs (at send time, so a
//! retry carries a fresh timestamp). A non-2xx answer is retried, as Stripe does.

use super::{JobContext, JobError};
use crate::providers::stripe::signature as stripe_signature;
use app::server::clock;

pub async fn deliver(context: &JobContext, event: &serde_json::Value) -> Result<(), JobError> {
    let body = event.to_string();
    let signature = stripe_signature::sign(
        context.secrets.stripe.expose(),
        clock::now(),
        body.as_bytes(),
    );
    let response = context
        .http
        .post(&context.stripe_webhook_url)
        .header("content-type", "application/json")
        .header("stripe-signature", signature)
        .body(body)
        .send()
        .await
        .map_err(|error| JobError::Retry(format!("posting the event: {error}")))?;
    let status = response.status();
    if status.is_success() {
        tracing::info!(event_id = %event["id"], event_type = %event["type"], "sandbox event delivered");
        Ok(())
    } else {
        Err(JobError::Retry(format!("the webhook answered {status}")))
    }
}
