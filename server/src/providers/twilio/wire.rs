//! Twilio's wire format for calls, both ways: reading a status callback's form
//! fields into a `CarrierEvent`, writing the same fields (the simulated carrier
//! sends Twilio-format callbacks to our own webhook), the TwiML we answer
//! `/webhooks/twilio/voice` with (`<Dial><Number>`, or `<Say>` and
//! `<Hangup/>`), the requests Twilio makes for a browser's leg (the voice
//! request, the `<Dial action>`), and reading our TwiML back as Twilio
//! would (the simulated carrier follows it).
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
    // A `<Dial>`ed (child) leg names the browser's leg it belongs to.
    let parent_sid = field(params, "ParentCallSid")?.map(str::to_owned);

    Ok(CarrierEvent {
        call_id,
        sid: sid.to_owned(),
        status,
        sequence,
        occurred_at,
        duration_secs,
        parent_sid,
    })
}

/// One status callback as Twilio sends it for a call leg: the PSTN leg a
/// `<Dial><Number>` created (with `ParentCallSid`), or a REST-created call.
/// The simulated carrier writes these, and the tests sign them like Twilio.
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
    /// The browser leg whose `<Dial>` created this one.
    #[serde(default)]
    pub parent_call_sid: Option<String>,
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
        (
            "Direction",
            if callback.parent_call_sid.is_some() {
                "outbound-dial"
            } else {
                "outbound-api"
            }
            .to_owned(),
        ),
        ("From", callback.from.clone()),
        ("To", callback.to.clone()),
        ("SequenceNumber", callback.sequence.to_string()),
        ("Timestamp", timestamp),
        ("CallbackSource", "call-progress-events".to_owned()),
    ];
    if let Some(parent) = &callback.parent_call_sid {
        params.push(("ParentCallSid", parent.clone()));
    }
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

/// What `<Dial>` and its `<Number>` say: the destination and limits come
/// from our database (`app::server::calls::DialPlan`), never from the browser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dial {
    /// E.164 with '+'.
    pub number: String,
    pub caller_id: String,
    /// Seconds after the answer before Twilio cuts the call (1 s – 4 h).
    pub time_limit_secs: u64,
    /// Seconds the destination may ring.
    pub timeout_secs: u64,
    /// Requested when the dialed leg ends.
    pub action: String,
    /// Where the dialed leg reports its progress.
    pub status_callback: String,
}

/// The events the dialed leg reports (`answered` arrives as `in-progress`).
pub const STATUS_CALLBACK_EVENTS: &str = "initiated ringing answered completed";

/// The answer to `/webhooks/twilio/voice` for an attempt taken: dial the
/// destination, ringing the browser until it answers (`answerOnBridge`),
/// with Twilio's copy of our time limit (clamped to its 1 s – 4 h range) in
/// case we are down when the forced hangup is due.
pub fn dial_twiml(dial: &Dial) -> String {
    let limit = dial.time_limit_secs.clamp(1, MAX_TIME_LIMIT_SECS);
    let timeout = dial.timeout_secs.clamp(5, MAX_DIAL_TIMEOUT_SECS);
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Dial action="{}" answerOnBridge="true" callerId="{}" timeLimit="{limit}" timeout="{timeout}"><Number statusCallback="{}" statusCallbackEvent="{STATUS_CALLBACK_EVENTS}">{}</Number></Dial></Response>"#,
        xml_escape(&dial.action),
        xml_escape(&dial.caller_id),
        xml_escape(&dial.status_callback),
        xml_escape(&dial.number),
    )
}

/// Twilio's ceiling for `<Dial timeout>`.
pub const MAX_DIAL_TIMEOUT_SECS: u64 = 600;

/// The answer to `/webhooks/twilio/voice` for an attempt refused: say why,
/// hang up. Nothing is dialed, so nothing costs anything.
pub fn refusal_twiml(spoken: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say>{}</Say><Hangup/></Response>"#,
        xml_escape(spoken)
    )
}

/// The answer to a request that only needs the call to end (the `<Dial
/// action>`: the dialed leg is over, so is the browser's).
pub fn hangup_twiml() -> String {
    r#"<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>"#.to_owned()
}

/// The form Twilio posts to the voice URL when a browser's Voice SDK runs
/// `device.connect({ params: { attempt } })`: the browser's (parent) leg,
/// `From=client:<identity>`, the params as fields. The simulated carrier
/// sends this.
pub fn voice_request_params(
    account_sid: &str,
    parent_sid: &str,
    identity: &str,
    attempt: &str,
) -> Vec<(String, String)> {
    let from = format!("client:{identity}");
    [
        ("AccountSid", account_sid),
        ("ApiVersion", API_VERSION),
        ("CallSid", parent_sid),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
        ("From", from.as_str()),
        ("Caller", from.as_str()),
        ("To", ""),
        ("Called", ""),
        ("attempt", attempt),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// What the `<Dial action>` request carries when the dialed leg ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialActionRequest {
    pub account_sid: String,
    /// The browser's leg.
    pub parent_sid: String,
    /// `client:<identity>`.
    pub from: String,
    /// The dialed (child) leg.
    pub dial_sid: String,
    /// How the dialed leg ended.
    pub dial_status: CallStatus,
    /// Its talk time.
    pub dial_duration_secs: u64,
}

/// The form of a `<Dial action>` request.
pub fn dial_action_params(request: &DialActionRequest) -> Vec<(String, String)> {
    [
        ("AccountSid", request.account_sid.clone()),
        ("ApiVersion", API_VERSION.to_owned()),
        ("CallSid", request.parent_sid.clone()),
        ("CallStatus", "in-progress".to_owned()),
        ("Direction", "inbound".to_owned()),
        ("From", request.from.clone()),
        ("DialCallSid", request.dial_sid.clone()),
        ("DialCallStatus", request.dial_status.as_str().to_owned()),
        ("DialCallDuration", request.dial_duration_secs.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Our voice TwiML read back, as Twilio follows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VoiceAnswer {
    Dial(Dial),
    /// `<Say>` (what it said) and `<Hangup/>`, or a bare `<Hangup/>`.
    HangUp {
        said: Option<String>,
    },
}

/// Reads a `<Response>`: one `<Dial>` with one `<Number>`, or a `<Say>`
/// and/or `<Hangup/>`. Anything else is an error naming what was found.
pub fn parse_voice_answer(twiml: &str) -> Result<VoiceAnswer, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(twiml);
    let mut path: Vec<String> = Vec::new();
    let mut dial: Option<Vec<(String, String)>> = None;
    let mut number: Option<Vec<(String, String)>> = None;
    let mut number_text = String::new();
    let mut said: Option<String> = None;
    let mut hangup = false;
    loop {
        let event = reader.read_event().map_err(|e| format!("not XML: {e}"))?;
        let (element, empty) = match event {
            Event::Start(element) => (element, false),
            Event::Empty(element) => (element, true),
            Event::End(_) => {
                path.pop();
                continue;
            }
            Event::Text(text) => {
                let text = text.decode().map_err(|e| format!("bad text: {e}"))?;
                match path.last().map(String::as_str) {
                    Some("Number") => number_text.push_str(&text),
                    Some("Say") => said.get_or_insert_with(String::new).push_str(&text),
                    _ => {}
                }
                continue;
            }
            Event::GeneralRef(reference) => {
                let name = reference.decode().map_err(|e| format!("bad text: {e}"))?;
                let resolved = match name.as_ref() {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    other => return Err(format!("unknown entity &{other};")),
                };
                match path.last().map(String::as_str) {
                    Some("Number") => number_text.push_str(resolved),
                    Some("Say") => said.get_or_insert_with(String::new).push_str(resolved),
                    _ => {}
                }
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let name = String::from_utf8_lossy(element.name().as_ref()).into_owned();
        let attributes = element
            .attributes()
            .map(|a| {
                let a = a.map_err(|e| format!("bad attribute: {e}"))?;
                let value = a
                    .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .map_err(|e| format!("bad attribute value: {e}"))?;
                Ok((
                    String::from_utf8_lossy(a.key.as_ref()).into_owned(),
                    value.into_owned(),
                ))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let parent = path.last().map(String::as_str);
        match (parent, name.as_str()) {
            (None, "Response") => {}
            (Some("Response"), "Dial") if dial.is_none() => dial = Some(attributes),
            (Some("Dial"), "Number") if number.is_none() => number = Some(attributes),
            (Some("Response"), "Say") => said = Some(String::new()),
            (Some("Response"), "Hangup") => hangup = true,
            (parent, other) => return Err(format!("unexpected <{other}> in {parent:?}")),
        }
        if !empty {
            path.push(name);
        }
    }
    match (dial, number) {
        (Some(dial), Some(number)) => {
            let get = |attrs: &[(String, String)], name: &str| {
                attrs
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| format!("{name} is missing"))
            };
            let seconds = |attrs: &[(String, String)], name: &str| {
                get(attrs, name)?
                    .parse::<u64>()
                    .map_err(|_| format!("{name} is not whole seconds"))
            };
            if get(&dial, "answerOnBridge")? != "true" {
                return Err("answerOnBridge is not true".to_owned());
            }
            if get(&number, "statusCallbackEvent")? != STATUS_CALLBACK_EVENTS {
                return Err("statusCallbackEvent is not every progress event".to_owned());
            }
            Ok(VoiceAnswer::Dial(Dial {
                number: number_text.trim().to_owned(),
                caller_id: get(&dial, "callerId")?,
                time_limit_secs: seconds(&dial, "timeLimit")?,
                timeout_secs: seconds(&dial, "timeout")?,
                action: get(&dial, "action")?,
                status_callback: get(&number, "statusCallback")?,
            }))
        }
        (None, None) if hangup => Ok(VoiceAnswer::HangUp { said }),
        _ => Err(format!("neither a <Dial><Number> nor a <Hangup/>: {twiml}")),
    }
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
                parent_sid: None,
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
            parent_call_sid: None,
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
        cases.push(StatusCallback {
            parent_call_sid: Some("CAparent".to_owned()),
            ..callback(CallStatus::Completed, 3, Some(61))
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
                    parent_sid: written.parent_call_sid.clone(),
                },
                "{written:?}"
            );
        }
    }

    #[test]
    fn a_dialed_legs_callback_names_its_parent_and_its_direction() {
        let params = status_callback_params(&StatusCallback {
            parent_call_sid: Some("CAparent".to_owned()),
            ..callback(CallStatus::Ringing, 1, None)
        });
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("ParentCallSid"), Some("CAparent"));
        assert_eq!(get("Direction"), Some("outbound-dial"));
        let event = status_event(None, &params).unwrap();
        assert_eq!(event.parent_sid.as_deref(), Some("CAparent"));
    }

    fn dial() -> Dial {
        Dial {
            number: "+442071838750".to_owned(),
            caller_id: "+15005550006".to_owned(),
            time_limit_secs: 3000,
            timeout_secs: 60,
            action: "https://pb.example/webhooks/twilio/dial-action?call=call_1#rc=3&rp=ct,rt,5xx"
                .to_owned(),
            status_callback:
                "https://pb.example/webhooks/twilio/status?call=call_1#rc=3&rp=ct,rt,5xx".to_owned(),
        }
    }

    #[test]
    fn the_voice_answer_dials_the_number_with_our_limits_and_callbacks() {
        assert_eq!(
            dial_twiml(&dial()),
            concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?><Response>"#,
                r#"<Dial action="https://pb.example/webhooks/twilio/dial-action?call=call_1#rc=3&amp;rp=ct,rt,5xx" answerOnBridge="true" callerId="+15005550006" timeLimit="3000" timeout="60">"#,
                r#"<Number statusCallback="https://pb.example/webhooks/twilio/status?call=call_1#rc=3&amp;rp=ct,rt,5xx" statusCallbackEvent="initiated ringing answered completed">+442071838750</Number>"#,
                r#"</Dial></Response>"#
            )
        );
    }

    #[test]
    fn the_voice_answer_reads_back_as_what_was_written() {
        assert_eq!(
            parse_voice_answer(&dial_twiml(&dial())),
            Ok(VoiceAnswer::Dial(dial()))
        );
        assert_eq!(
            parse_voice_answer(&refusal_twiml("Nothing was charged & that's that.")),
            Ok(VoiceAnswer::HangUp {
                said: Some("Nothing was charged & that's that.".to_owned())
            })
        );
        assert_eq!(
            parse_voice_answer(&hangup_twiml()),
            Ok(VoiceAnswer::HangUp { said: None })
        );
        for bad in [
            "not xml <",
            "<Response></Response>",
            "<Response><Dial><Client>x</Client></Dial></Response>",
            "<Response><Play>x</Play></Response>",
        ] {
            assert!(parse_voice_answer(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_dial_escapes_what_it_writes_and_keeps_twilios_ranges() {
        let odd = Dial {
            number: "+1<Number>".to_owned(),
            ..dial()
        };
        let twiml = dial_twiml(&odd);
        assert!(twiml.contains(">+1&lt;Number&gt;</Number>"), "{twiml}");
        assert_eq!(twiml.matches("<Number").count(), 1);
        let limits = |time_limit_secs, timeout_secs| {
            dial_twiml(&Dial {
                time_limit_secs,
                timeout_secs,
                ..dial()
            })
        };
        assert!(limits(0, 0).contains(r#"timeLimit="1" timeout="5""#));
        assert!(limits(100_000, 5_000).contains(r#"timeLimit="14400" timeout="600""#));
    }

    #[test]
    fn a_refusal_says_why_and_hangs_up() {
        assert_eq!(
            refusal_twiml("Gone <now>."),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say>Gone &lt;now&gt;.</Say><Hangup/></Response>"#
        );
    }

    #[test]
    fn the_dial_action_is_answered_with_a_hangup() {
        assert_eq!(
            hangup_twiml(),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>"#
        );
    }
}
