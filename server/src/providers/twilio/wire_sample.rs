//! A sample of what we send Twilio, written for `scripts/check_twilio_wire.py`,
//! which checks it against Twilio's own Python library: an access token
//! (minted now, so the library's expiry check passes), the voice TwiML that
//! dials, and the one that refuses. Written only when asked:
//!
//! ```sh
//! TWILIO_WIRE_SAMPLE=/tmp/sample.json cargo test -p server --lib write_the_twilio_wire_sample
//! ```

#[cfg(test)]
mod tests {
    use crate::config::{Secret, VoiceKeys};
    use crate::providers::twilio::{access_token, wire};
    use app::server::calls::Refusal;

    const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
    const API_KEY_SID: &str = "SK0123456789abcdef0123456789abcdef";
    const API_KEY_SECRET: &str = "sample-api-key-secret-0123456789";
    const TWIML_APP_SID: &str = "AP0123456789abcdef0123456789abcdef";
    const IDENTITY: &str = "member-usr_0123456789abcdef0123456789abcdef";
    const TTL_SECS: u64 = 3600;

    #[test]
    fn write_the_twilio_wire_sample() {
        let Some(path) = std::env::var_os("TWILIO_WIRE_SAMPLE") else {
            return;
        };
        let keys = VoiceKeys {
            api_key_sid: API_KEY_SID.to_owned(),
            api_key_secret: Secret::new(API_KEY_SECRET),
            twiml_app_sid: TWIML_APP_SID.to_owned(),
            token_ttl_secs: TTL_SECS,
        };
        let now = app::server::clock::now();
        let claims = access_token::claims(&keys, ACCOUNT_SID, IDENTITY, now);
        let dial = wire::Dial {
            number: "+442071838750".to_owned(),
            caller_id: "+15005550006".to_owned(),
            time_limit_secs: 3000,
            timeout_secs: app::server::calls::RING_TIMEOUT_SECS,
            action: "https://calls.example.com/webhooks/twilio/dial-action?call=call_0123#rc=3&rp=ct,rt,5xx".to_owned(),
            status_callback: "https://calls.example.com/webhooks/twilio/status?call=call_0123#rc=3&rp=ct,rt,5xx".to_owned(),
        };
        let sample = serde_json::json!({
            "account_sid": ACCOUNT_SID,
            "api_key_sid": API_KEY_SID,
            "api_key_secret": API_KEY_SECRET,
            "twiml_app_sid": TWIML_APP_SID,
            "identity": IDENTITY,
            "ttl": TTL_SECS,
            "now": now,
            "token": access_token::sign(&keys, &claims),
            "dial": {
                "number": dial.number,
                "caller_id": dial.caller_id,
                "time_limit": dial.time_limit_secs,
                "timeout": dial.timeout_secs,
                "action": dial.action,
                "status_callback": dial.status_callback,
                "status_callback_event": wire::STATUS_CALLBACK_EVENTS,
            },
            "dial_twiml": wire::dial_twiml(&dial),
            "refusal_said": Refusal::Expired.spoken(),
            "refusal_twiml": wire::refusal_twiml(Refusal::Expired.spoken()),
        });
        std::fs::write(&path, serde_json::to_vec_pretty(&sample).unwrap())
            .expect("writing the sample");
    }
}
