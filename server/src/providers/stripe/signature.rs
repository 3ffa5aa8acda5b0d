//! Stripe's webhook signature: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`
//! where `v1 = hex(HMAC-SHA256(secret, "<t>.<raw body>"))`. Any `v1` may match
//! (several appear while a secret rotates); compared in constant time; the
//! timestamp must be within the tolerance. The sandbox signs with `sign`.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Stripe's default tolerance.
pub const TOLERANCE_SECS: i64 = 300;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing Stripe-Signature header")]
    Missing,
    #[error("malformed Stripe-Signature header")]
    Malformed,
    #[error("timestamp outside the tolerance")]
    Stale,
    #[error("no signature matches")]
    Mismatch,
}

fn expected(secret: &str, timestamp: i64, body: &[u8]) -> [u8; 32] {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// The header value Stripe would send for `body` at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!(
        "t={timestamp},v1={}",
        hex::encode(expected(secret, timestamp, body))
    )
}

pub fn verify(
    secret: &str,
    header: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => {
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed)?,
                )
            }
            Some(("v1", value)) => candidates.push(value),
            Some(_) => {} // v0 and future schemes are ignored, as Stripe's libraries do
            None => return Err(SignatureError::Malformed),
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now - timestamp).abs() > TOLERANCE_SECS {
        return Err(SignatureError::Stale);
    }
    let expected = expected(secret, timestamp, body);
    let matches = candidates
        .iter()
        .filter_map(|candidate| hex::decode(candidate).ok())
        .any(|candidate| bool::from(candidate.as_slice().ct_eq(&expected)));
    if matches {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"checkout.session.completed"}"#;
    const T: i64 = 1_700_000_000;
    /// Computed independently: HMAC-SHA256("whsec_test_secret", "1700000000." + BODY).
    const KNOWN_V1: &str = "a13d4b1f9003bc2fb6c06224e878b6056185eaa50d40e1e7dc05517f8af41d7b";

    #[test]
    fn signing_matches_an_independently_computed_vector() {
        assert_eq!(sign(SECRET, T, BODY), format!("t={T},v1={KNOWN_V1}"));
    }

    #[test]
    fn a_valid_signature_is_accepted_within_the_tolerance() {
        let header = sign(SECRET, T, BODY);
        assert_eq!(verify(SECRET, Some(&header), BODY, T), Ok(()));
        assert_eq!(verify(SECRET, Some(&header), BODY, T + 300), Ok(()));
    }

    #[test]
    fn any_v1_may_match_while_a_secret_rotates() {
        let header = format!("t={T},v1={},v1={KNOWN_V1},v0=abc", "0".repeat(64));
        assert_eq!(verify(SECRET, Some(&header), BODY, T), Ok(()));
    }

    #[test]
    fn wrong_secret_tampered_body_stale_or_missing_is_refused() {
        let header = sign(SECRET, T, BODY);
        assert_eq!(
            verify("whsec_other", Some(&header), BODY, T),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(SECRET, Some(&header), br#"{"id":"evt_2"}"#, T),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(SECRET, Some(&header), BODY, T + 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(SECRET, Some(&header), BODY, T - 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(verify(SECRET, None, BODY, T), Err(SignatureError::Missing));
        assert_eq!(
            verify(SECRET, Some("t=abc,v1=00"), BODY, T),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(SECRET, Some(&format!("t={T}")), BODY, T),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(SECRET, Some(&format!("t={T},v1=zz")), BODY, T),
            Err(SignatureError::Mismatch)
        );
    }
}
