//! The simulated carrier's jobs: moving a simulated call to its next state
//! (`carrier.sim_advance`), and delivering each status callback
//! (`carrier.sim_status_callback`) in Twilio's wire format, signed with
//! `TWILIO_AUTH_TOKEN` against the public callback URL exactly as Twilio
//! signs, and POSTed to our own server over loopback. A non-2xx answer is
//! retried.

use super::{JobContext, JobError};
use crate::providers::twilio::simulated::CallbackDelivery;
use crate::providers::twilio::{signature, wire};
use app::server::clock;

pub async fn advance(context: &JobContext, payload: &serde_json::Value) -> Result<(), JobError> {
    let Some(simulated) = &context.simulated else {
        return Err(JobError::Permanent(
            "the simulated carrier is not in use".into(),
        ));
    };
    let (Some(sid), Some(expected)) = (payload["sid"].as_str(), payload["expected"].as_str())
    else {
        return Err(JobError::Permanent("payload needs sid and expected".into()));
    };
    simulated.advance(sid, expected, clock::now_ms()).await?;
    Ok(())
}

pub async fn deliver(context: &JobContext, payload: &serde_json::Value) -> Result<(), JobError> {
    let delivery: CallbackDelivery = serde_json::from_value(payload.clone())
        .map_err(|error| JobError::Permanent(format!("not a status callback: {error}")))?;
    let params = wire::status_callback_params(&delivery.callback);
    // Signed over the URL it requests: the callback URL without its fragment
    // (connection overrides meant for Twilio, never sent).
    let requested = delivery.url.split('#').next().unwrap_or(&delivery.url);
    let signature = signature::sign(
        context.secrets.twilio_auth_token.expose(),
        requested,
        &params,
    );
    let target = loopback_target(&context.loopback_base, &delivery.url)
        .ok_or_else(|| JobError::Permanent(format!("bad callback URL {}", delivery.url)))?;
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter())
        .finish();
    let response = context
        .http
        .post(&target)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", signature)
        .body(body)
        .send()
        .await
        .map_err(|error| JobError::Retry(format!("posting the status callback: {error}")))?;
    let answer = response.status();
    if answer.is_success() {
        Ok(())
    } else {
        Err(JobError::Retry(format!(
            "the status webhook answered {answer}"
        )))
    }
}

/// The public callback URL's path and query on our own loopback address:
/// the signature covers the public URL, the request goes to this process.
fn loopback_target(loopback_base: &str, public: &str) -> Option<String> {
    let url = url::Url::parse(public).ok()?;
    let query = url.query().map(|q| format!("?{q}")).unwrap_or_default();
    Some(format!("{loopback_base}{}{query}", url.path()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn callbacks_go_to_loopback_with_path_and_query() {
        assert_eq!(
            super::loopback_target(
                "http://127.0.0.1:4000",
                "https://calls.example.com/webhooks/twilio/status?call=call_1"
            )
            .as_deref(),
            Some("http://127.0.0.1:4000/webhooks/twilio/status?call=call_1")
        );
        assert_eq!(super::loopback_target("http://x", "not a url"), None);
    }
}
