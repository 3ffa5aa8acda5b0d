//! Twilio's wire format for calls, both ways: reading a status callback's form
//! fields into a `CarrierEvent`, writing the same fields (the simulated carrier
//! sends Twilio-format callbacks to our own webhook), and the TwiML we answer
//! `/webhooks/twilio/voice` with.
//!
//! Only the format lives here: the signature is checked first
//! (`signature.rs`), and what an event does to a call is decided by
//! `app::server::calls::apply_carrier_event`. The REST side of Twilio is
//! `client.rs`.

use app::domain::CallStatus;
use app::server::providers::carrier::CarrierEvent;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc2822;
use time::OffsetDateTime;

/// The REST API version Twilio stamps on every callback.
pub const API_VERSION: &str = "2010-04-01";

/// Twilio's ceiling for `TimeLimit` (Calls API) and `timeLimit` (`<Dial>`):
/// four hours, which is also its default.
pub const MAX_TIME_LIMIT_SECS: u64 = 4 * 60 * 60;

/// What is wrong with a status callback; always names the field.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("{0} is missing")]
    Missing(&'static str),
    /// The same field twice: which one Twilio meant is anyone's guess.
    #[error("{0} is given more than once")]
    Repeated(&'static str),
    #[error("{field} is malformed: {value:?}")]
    Malformed { field: &'static str, value: String },
}

/// Reads a status callback (`StatusCallbackEvent` initiated, ringing,
/// answered, completed). `call_id` is ours, from the callback URL's query.
///
/// `CallDuration` is kept only on a `completed` call: it is the talk time that
/// gets billed, and no other status has any. It is still checked when present
/// elsewhere, since a malformed field means the form is not what it claims.
pub fn status_event(
    call_id: Option<String>,
    params: &[(String, String)],
) -> Result<CarrierEvent, FormError> {
    let sid = required(params, "CallSid")?;
    let status = parse(params, "CallStatus", CallStatus::parse)?;
    let sequence = parse(params, "SequenceNumber", |raw| {
        digits(raw).then(|| raw.parse::<i64>().ok()).flatten()
    })?;
    let occurred_at = parse(params, "Timestamp", |raw| {
        OffsetDateTime::parse(raw, &Rfc2822)
            .ok()
            .map(OffsetDateTime::unix_timestamp)
    })?;
    let duration_secs = match field(params, "CallDuration")? {
        None => None,
        Some(raw) => Some(
            digits(raw)
                .then(|| raw.parse::<u64>().ok())
                .flatten()
                .ok_or_else(|| malformed("CallDuration", raw))?,
        ),
    }
    .filter(|_| status == CallStatus::Completed);

    Ok(CarrierEvent {
        call_id,
        sid: sid.to_owned(),
        status,
        sequence,
        occurred_at,
        duration_secs,
    })
}

/// One status callback as Twilio would send it for an outbound API call. The
/// simulated carrier writes these, and the tests sign them like Twilio.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCallback {
    pub account_sid: String,
    pub call_sid: String,
    /// E.164 with '+'.
    pub from: String,
    /// E.164 with '+'.
    pub to: String,
    pub status: CallStatus,
    /// Twilio's `SequenceNumber`, from 0.
    pub sequence: i64,
    /// Unix seconds; written as RFC 2822.
    pub timestamp: i64,
    /// Talk time; written only when the call is `completed`, as Twilio does.
    pub duration_secs: Option<u64>,
}

/// The form fields of `callback`, the inverse of `status_event`.
///
/// # Panics
///
/// When `timestamp` lies outside the years 1900–9999, which RFC 2822 cannot
/// write; callers pass the current time.
pub fn status_callback_params(callback: &StatusCallback) -> Vec<(String, String)> {
    let timestamp = OffsetDateTime::from_unix_timestamp(callback.timestamp)
        .ok()
        .and_then(|at| at.format(&Rfc2822).ok())
        .unwrap_or_else(|| {
            panic!(
                "timestamp {} cannot be written in RFC 2822",
                callback.timestamp
            )
        });
    let mut params = vec![
        ("AccountSid", callback.account_sid.clone()),
        ("ApiVersion", API_VERSION.to_owned()),
        ("CallSid", callback.call_sid.clone()),
        ("CallStatus", callback.status.as_str().to_owned()),
        ("Direction", "outbound-api".to_owned()),
        ("From", callback.from.clone()),
        ("To", callback.to.clone()),
        ("SequenceNumber", callback.sequence.to_string()),
        ("Timestamp", timestamp),
        ("CallbackSource", "call-progress-events".to_owned()),
    ];
    if let (CallStatus::Completed, Some(secs)) = (callback.status, callback.duration_secs) {
        params.push(("CallDuration", secs.to_string()));
        // `Duration` is in minutes, each started minute counted.
        params.push(("Duration", secs.div_ceil(60).to_string()));
    }
    params
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

/// The answer to `/webhooks/twilio/voice` for a call we placed: bridge the
/// answered call to the member's browser (Voice SDK client `identity`), for at
/// most `time_limit_secs` (clamped to 1 s – 4 h, Twilio's range). The forced
/// hangup is ours; this limit is Twilio's copy of it, in case we are down.
pub fn dial_client_twiml(identity: &str, time_limit_secs: u64) -> String {
    let limit = time_limit_secs.clamp(1, MAX_TIME_LIMIT_SECS);
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Dial timeLimit="{limit}"><Client><Identity>{}</Identity></Client></Dial></Response>"#,
        xml_escape(identity)
    )
}

/// The answer to `/webhooks/twilio/voice` for a call we do not know.
pub fn hangup_twiml() -> String {
    r#"<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>"#.to_owned()
}

/// Escapes text for an XML element or a double- or single-quoted attribute.
fn xml_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// The value of `name`, if present and not empty.
fn field<'a>(
    params: &'a [(String, String)],
    name: &'static str,
) -> Result<Option<&'a str>, FormError> {
    let mut values = params
        .iter()
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value.as_str());
    let first = values.next();
    if values.next().is_some() {
        return Err(FormError::Repeated(name));
    }
    Ok(first.filter(|value| !value.is_empty()))
}

fn required<'a>(params: &'a [(String, String)], name: &'static str) -> Result<&'a str, FormError> {
    field(params, name)?.ok_or(FormError::Missing(name))
}

fn parse<T>(
    params: &[(String, String)],
    name: &'static str,
    read: impl FnOnce(&str) -> Option<T>,
) -> Result<T, FormError> {
    let raw = required(params, name)?;
    read(raw).ok_or_else(|| malformed(name, raw))
}

/// Plain decimal digits: no sign, no spaces, no `+`, which `str::parse` would
/// otherwise let through.
fn digits(raw: &str) -> bool {
    !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit())
}

fn malformed(field: &'static str, raw: &str) -> FormError {
    // Enough to recognise the value in a log line, not a whole request body.
    const SHOWN: usize = 64;
    FormError::Malformed {
        field,
        value: raw.chars().take(SHOWN).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sat, 21 Nov 2026 10:00:00 +0000.
    const AT: i64 = 1_795_255_200;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn completed() -> Vec<(String, String)> {
        form(&[
            ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
            ("CallSid", "CA123"),
            ("CallStatus", "completed"),
            ("SequenceNumber", "3"),
            ("Timestamp", "Sat, 21 Nov 2026 10:00:00 +0000"),
            ("CallDuration", "61"),
            ("Duration", "2"),
        ])
    }

    fn without(params: &[(String, String)], name: &str) -> Vec<(String, String)> {
        params.iter().filter(|(k, _)| k != name).cloned().collect()
    }

    fn with(params: &[(String, String)], name: &str, value: &str) -> Vec<(String, String)> {
        let mut changed = without(params, name);
        changed.push((name.to_owned(), value.to_owned()));
        changed
    }

    #[test]
    fn a_completed_callback_is_read_with_its_duration() {
        let event = status_event(Some("call_1".to_owned()), &completed()).unwrap();
        assert_eq!(
            event,
            CarrierEvent {
                call_id: Some("call_1".to_owned()),
                sid: "CA123".to_owned(),
                status: CallStatus::Completed,
                sequence: 3,
                occurred_at: AT,
                duration_secs: Some(61),
            }
        );
    }

    #[test]
    fn the_answered_event_is_in_progress_and_has_no_duration() {
        let answered = with(
            &with(
                &without(&completed(), "CallDuration"),
                "CallStatus",
                "in-progress",
            ),
            "SequenceNumber",
            "2",
        );
        let event = status_event(None, &answered).unwrap();
        assert_eq!(event.status, CallStatus::InProgress);
        assert_eq!(event.sequence, 2);
        assert_eq!(event.duration_secs, None);
        assert_eq!(event.call_id, None);
    }

    #[test]
    fn a_duration_on_a_call_that_was_not_completed_is_dropped() {
        let busy = with(
            &with(&completed(), "CallStatus", "busy"),
            "CallDuration",
            "0",
        );
        assert_eq!(status_event(None, &busy).unwrap().duration_secs, None);
    }

    #[test]
    fn a_timestamp_in_another_zone_is_converted_to_unix_seconds() {
        let params = with(&completed(), "Timestamp", "Sat, 21 Nov 2026 11:30:00 +0130");
        assert_eq!(status_event(None, &params).unwrap().occurred_at, AT);
    }

    #[test]
    fn each_missing_required_field_is_named() {
        for name in ["CallSid", "CallStatus", "SequenceNumber", "Timestamp"] {
            assert_eq!(
                status_event(None, &without(&completed(), name)),
                Err(FormError::Missing(name)),
            );
            let err = status_event(None, &with(&completed(), name, "")).unwrap_err();
            assert_eq!(err, FormError::Missing(name));
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn each_malformed_field_is_named() {
        let cases = [
            ("CallStatus", "answered"),
            ("CallStatus", "Completed"),
            ("SequenceNumber", "-1"),
            ("SequenceNumber", "+3"),
            ("SequenceNumber", "three"),
            ("SequenceNumber", "99999999999999999999"),
            ("Timestamp", "2026-11-21T10:00:00Z"),
            ("Timestamp", "1795254400"),
            ("CallDuration", "61.5"),
            ("CallDuration", "-61"),
            ("CallDuration", " 61"),
        ];
        for (name, value) in cases {
            let err = status_event(None, &with(&completed(), name, value)).unwrap_err();
            assert_eq!(
                err,
                FormError::Malformed {
                    field: name,
                    value: value.to_owned()
                },
                "{name}={value}"
            );
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn a_field_given_twice_is_refused() {
        let mut twice = completed();
        twice.push(("CallStatus".to_owned(), "busy".to_owned()));
        assert_eq!(
            status_event(None, &twice),
            Err(FormError::Repeated("CallStatus"))
        );
    }

    #[test]
    fn a_long_malformed_value_is_cut_short_in_the_error() {
        let long = "x".repeat(10_000);
        let Err(FormError::Malformed { value, .. }) =
            status_event(None, &with(&completed(), "CallStatus", &long))
        else {
            panic!("expected Malformed");
        };
        assert_eq!(value.len(), 64);
    }

    fn callback(status: CallStatus, sequence: i64, duration_secs: Option<u64>) -> StatusCallback {
        StatusCallback {
            account_sid: "AC0123456789abcdef0123456789abcdef".to_owned(),
            call_sid: "CAfeedface".to_owned(),
            from: "+15005550006".to_owned(),
            to: "+14155550123".to_owned(),
            status,
            sequence,
            timestamp: AT,
            duration_secs,
        }
    }

    #[test]
    fn a_completed_callback_is_written_the_way_twilio_sends_it() {
        let params = status_callback_params(&callback(CallStatus::Completed, 3, Some(61)));
        assert_eq!(
            params,
            form(&[
                ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
                ("ApiVersion", "2010-04-01"),
                ("CallSid", "CAfeedface"),
                ("CallStatus", "completed"),
                ("Direction", "outbound-api"),
                ("From", "+15005550006"),
                ("To", "+14155550123"),
                ("SequenceNumber", "3"),
                ("Timestamp", "Sat, 21 Nov 2026 10:00:00 +0000"),
                ("CallbackSource", "call-progress-events"),
                ("CallDuration", "61"),
                ("Duration", "2"),
            ])
        );
    }

    #[test]
    fn duration_in_minutes_counts_every_started_minute() {
        for (secs, minutes) in [(0, "0"), (1, "1"), (60, "1"), (61, "2"), (3600, "60")] {
            let params = status_callback_params(&callback(CallStatus::Completed, 3, Some(secs)));
            let duration = params.iter().find(|(k, _)| k == "Duration").unwrap();
            assert_eq!(duration.1, minutes, "{secs} s");
        }
    }

    #[test]
    fn only_a_completed_callback_carries_durations() {
        for status in CallStatus::ALL {
            if status == CallStatus::Completed {
                continue;
            }
            let params = status_callback_params(&callback(status, 1, Some(5)));
            assert!(
                !params
                    .iter()
                    .any(|(k, _)| k == "CallDuration" || k == "Duration"),
                "{status:?}: {params:?}"
            );
        }
    }

    #[test]
    fn written_callbacks_read_back_as_the_same_event() {
        let mut cases = vec![callback(CallStatus::Completed, 3, Some(61))];
        for (sequence, status) in CallStatus::ALL.into_iter().enumerate() {
            if status != CallStatus::Completed {
                cases.push(callback(status, sequence as i64, None));
            }
        }
        cases.push(StatusCallback {
            timestamp: 0,
            ..callback(CallStatus::Completed, 0, Some(0))
        });
        for written in cases {
            let params = status_callback_params(&written);
            let event = status_event(Some("call_9".to_owned()), &params).unwrap();
            assert_eq!(
                event,
                CarrierEvent {
                    call_id: Some("call_9".to_owned()),
                    sid: written.call_sid.clone(),
                    status: written.status,
                    sequence: written.sequence,
                    occurred_at: written.timestamp,
                    duration_secs: written.duration_secs,
                },
                "{written:?}"
            );
        }
    }

    #[test]
    fn the_voice_answer_dials_the_members_browser_client() {
        assert_eq!(
            dial_client_twiml("member_42", 600),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Dial timeLimit="600"><Client><Identity>member_42</Identity></Client></Dial></Response>"#
        );
    }

    #[test]
    fn the_identity_is_xml_escaped() {
        let twiml = dial_client_twiml(r#"a&b<c>"d"'e'</Identity><Number>+1900"#, 60);
        assert!(
            twiml.contains(
                "<Identity>a&amp;b&lt;c&gt;&quot;d&quot;&apos;e&apos;&lt;/Identity&gt;&lt;Number&gt;+1900</Identity>"
            ),
            "{twiml}"
        );
        assert_eq!(twiml.matches("<Identity>").count(), 1);
        assert!(!twiml.contains("<Number>"));
    }

    #[test]
    fn the_time_limit_stays_within_twilios_range() {
        assert!(dial_client_twiml("m", 0).contains(r#"timeLimit="1""#));
        assert!(dial_client_twiml("m", 14_400).contains(r#"timeLimit="14400""#));
        assert!(dial_client_twiml("m", 100_000).contains(r#"timeLimit="14400""#));
    }

    #[test]
    fn an_unknown_call_is_hung_up() {
        assert_eq!(
            hangup_twiml(),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>"#
        );
    }
}
