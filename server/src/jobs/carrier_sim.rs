//! The simulated carrier's jobs: playing the browser connecting
//! (`carrier.sim_connect`: the voice request, and following the TwiML it is
//! answered with), moving a PSTN leg to its next state
//! (`carrier.sim_advance`), delivering each status callback
//! (`carrier.sim_status_callback`) and the `<Dial action>` request
//! (`carrier.sim_dial_action`). Every request is in Twilio's wire format,
//! signed with `TWILIO_AUTH_TOKEN` against the public URL exactly as Twilio
//! signs, and POSTed to our own server over loopback. A non-2xx answer is
//! retried.

use super::{JobContext, JobError};
use crate::providers::twilio::simulated::{
    CallbackDelivery, ConnectRequest, DialActionDelivery, SimulatedCarrier, ACCOUNT_SID,
};
use crate::providers::twilio::{signature, wire};
use app::server::clock;
use std::sync::Arc;

fn simulated(context: &JobContext) -> Result<&Arc<SimulatedCarrier>, JobError> {
    context
        .simulated
        .as_ref()
        .ok_or_else(|| JobError::Permanent("the simulated carrier is not in use".into()))
}

/// Signs `params` over the public `url` (without its fragment: connection
/// overrides meant for Twilio, never sent) as Twilio does, POSTs them to the
/// same path and query on our loopback address, and returns the answer's
/// body; a non-2xx answer or no answer is worth retrying.
async fn post_signed(
    context: &JobContext,
    what: &str,
    url: &str,
    params: &[(String, String)],
) -> Result<String, JobError> {
    let requested = url.split('#').next().unwrap_or(url);
    let signature = signature::sign(
        context.secrets.twilio_auth_token.expose(),
        requested,
        params,
    );
    let target = loopback_target(&context.loopback_base, url)
        .ok_or_else(|| JobError::Permanent(format!("bad {what} URL {url}")))?;
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
        .map_err(|error| JobError::Retry(format!("posting the {what}: {error}")))?;
    let answer = response.status();
    if !answer.is_success() {
        return Err(JobError::Retry(format!("the {what} answered {answer}")));
    }
    response
        .text()
        .await
        .map_err(|error| JobError::Retry(format!("reading the {what} answer: {error}")))
}

/// The browser connects: our voice URL is asked what to do with its leg,
/// and the TwiML answer is followed (a retry asks again with the same leg,
/// which our webhook answers the same way, and dials at most once).
pub async fn connect(context: &JobContext, payload: &serde_json::Value) -> Result<(), JobError> {
    let simulated = simulated(context)?;
    let request: ConnectRequest = serde_json::from_value(payload.clone())
        .map_err(|error| JobError::Permanent(format!("not a connect request: {error}")))?;
    if !simulated.leg_is_live(&request.parent_sid).await? {
        return Ok(());
    }
    let params = wire::voice_request_params(
        ACCOUNT_SID,
        &request.parent_sid,
        &request.identity,
        &request.attempt,
    );
    let twiml = post_signed(context, "voice request", &request.voice_url, &params).await?;
    let now_ms = clock::now_ms();
    match wire::parse_voice_answer(&twiml) {
        Ok(wire::VoiceAnswer::Dial(dial)) => {
            simulated.dialed(&request.parent_sid, &dial, now_ms).await?;
            Ok(())
        }
        Ok(wire::VoiceAnswer::HangUp { said }) => {
            tracing::info!(parent_sid = %request.parent_sid, said = said.as_deref().unwrap_or_default(), "simulated browser leg refused");
            simulated.leg_completed(&request.parent_sid, now_ms).await?;
            Ok(())
        }
        Err(problem) => {
            // Twilio would play its "application error" and hang up.
            simulated.leg_completed(&request.parent_sid, now_ms).await?;
            Err(JobError::Permanent(format!(
                "unusable voice TwiML: {problem}"
            )))
        }
    }
}

/// The `<Dial action>`: once answered, the browser's leg completes.
pub async fn dial_action(
    context: &JobContext,
    payload: &serde_json::Value,
) -> Result<(), JobError> {
    let simulated = simulated(context)?;
    let delivery: DialActionDelivery = serde_json::from_value(payload.clone())
        .map_err(|error| JobError::Permanent(format!("not a dial action: {error}")))?;
    let params = wire::dial_action_params(&delivery.request);
    post_signed(context, "dial action", &delivery.url, &params).await?;
    simulated
        .leg_completed(&delivery.request.parent_sid, clock::now_ms())
        .await?;
    Ok(())
}

pub async fn advance(context: &JobContext, payload: &serde_json::Value) -> Result<(), JobError> {
    let simulated = simulated(context)?;
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
    post_signed(context, "status callback", &delivery.url, &params).await?;
    Ok(())
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
