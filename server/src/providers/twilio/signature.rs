//! Twilio's webhook signature: `X-Twilio-Signature = base64(HMAC-SHA1(auth
//! token, URL + name₁value₁ + name₂value₂ …))`, the POST form parameters sorted
//! by name (then by value, when a name repeats). The URL is the exact public
//! URL Twilio requested, query string included; callers pass the configured
//! `PUBLIC_URL`-based one, never a URL rebuilt from the request (a proxy or
//! tunnel changes it). Like Twilio's own validators, the URL is accepted with
//! and without the scheme's default port. Compared in constant time.
//!
//! JSON bodies are signed differently (a `bodySHA256` query parameter); our
//! Twilio webhooks are form-encoded, so only this scheme is implemented. The
//! simulated carrier signs its callbacks with `sign`; the form fields
//! themselves are read and written in `wire.rs`.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing X-Twilio-Signature header")]
    Missing,
    #[error("X-Twilio-Signature does not match")]
    Mismatch,
}

/// The `X-Twilio-Signature` value Twilio would send for this URL and form.
pub fn sign(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut mac =
        Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(url.as_bytes());
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    BASE64.encode(mac.finalize().into_bytes())
}

/// Checks `header` (the request's `X-Twilio-Signature`, if any) against the
/// URL Twilio was given and the decoded form parameters.
pub fn verify(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    verify_any(auth_token, &[url], params, header)
}

/// `verify` for a request to `url` whose callback URL was handed to Twilio
/// with `fragment` (connection overrides such as `#rc=3&rp=5xx`). A fragment
/// never travels in a request, and what Twilio signs with one is not stated
/// anywhere we could check, so both the URL as requested and the URL as
/// handed over are accepted; any other fragment is not.
pub fn verify_with_fragment(
    auth_token: &str,
    url: &str,
    fragment: &str,
    params: &[(String, String)],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let handed_over = format!("{url}{fragment}");
    verify_any(auth_token, &[url, &handed_over], params, header)
}

fn verify_any(
    auth_token: &str,
    urls: &[&str],
    params: &[(String, String)],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    // Every variant is computed and compared, so the time taken does not say
    // which one came close.
    let candidates: Vec<String> = urls.iter().flat_map(|url| url_variants(url)).collect();
    let matches = candidates.iter().fold(false, |found, candidate| {
        let expected = sign(auth_token, candidate, params);
        found | bool::from(expected.as_bytes().ct_eq(header.as_bytes()))
    });
    if matches {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The URL as given, plus the same URL with its default port added (when it
/// has none) or removed (when it names the scheme's default). Other ports are
/// part of the address and never dropped. Worked on the text, not through
/// `url::Url`, which would normalise away the very difference that matters
/// and re-encode parts of the URL the signature covers byte for byte.
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    let scheme_end = match url.find("://") {
        Some(i) => i + 3,
        None => return variants,
    };
    let default_port = match url[..scheme_end - 3].to_ascii_lowercase().as_str() {
        "https" => "443",
        "http" => "80",
        _ => return variants,
    };
    let authority_len = url[scheme_end..]
        .find(['/', '?', '#'])
        .unwrap_or(url.len() - scheme_end);
    let authority_end = scheme_end + authority_len;
    let authority = &url[scheme_end..authority_end];
    // Past any user info and the brackets of an IPv6 literal, a ':' starts the port.
    let host_start = authority.rfind('@').map_or(0, |i| i + 1);
    let port_search_from = authority[host_start..]
        .rfind(']')
        .map_or(host_start, |i| host_start + i + 1);
    match authority[port_search_from..].rfind(':') {
        Some(i) => {
            let colon = scheme_end + port_search_from + i;
            if &url[colon + 1..authority_end] == default_port {
                variants.push(format!("{}{}", &url[..colon], &url[authority_end..]));
            }
        }
        None => variants.push(format!(
            "{}:{default_port}{}",
            &url[..authority_end],
            &url[authority_end..]
        )),
    }
    variants
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example Twilio's own helper libraries test their validators with.
    const TOKEN: &str = "12345";
    const URL: &str = "https://example.com/twilio/status?foo=bar";
    const KNOWN: &str = "vCrjYIjWDw04R50qt5MP9G1HuAQ=";

    fn params() -> Vec<(String, String)> {
        [
            ("CallSid", "CA123"),
            ("CallStatus", "completed"),
            ("CallDuration", "61"),
            ("SequenceNumber", "3"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn signing_reproduces_twilios_known_vector() {
        assert_eq!(sign(TOKEN, URL, &params()), KNOWN);
    }

    #[test]
    fn the_known_vector_is_accepted() {
        assert_eq!(verify(TOKEN, URL, &params(), Some(KNOWN)), Ok(()));
    }

    #[test]
    fn the_order_of_the_parameters_does_not_matter() {
        let mut reversed = params();
        reversed.reverse();
        assert_eq!(sign(TOKEN, URL, &reversed), KNOWN);
        assert_eq!(verify(TOKEN, URL, &reversed, Some(KNOWN)), Ok(()));
    }

    #[test]
    fn repeated_names_are_ordered_by_value() {
        let pair = |v: &str| ("StatusCallbackEvent".to_owned(), v.to_owned());
        let one = [pair("ringing"), pair("answered")];
        let other = [pair("answered"), pair("ringing")];
        assert_eq!(sign(TOKEN, URL, &one), sign(TOKEN, URL, &other));
    }

    #[test]
    fn a_tampered_parameter_is_refused() {
        let mut tampered = params();
        tampered[2].1 = "3600".to_owned();
        assert_eq!(
            verify(TOKEN, URL, &tampered, Some(KNOWN)),
            Err(SignatureError::Mismatch)
        );
        let mut added = params();
        added.push(("Extra".to_owned(), "1".to_owned()));
        assert_eq!(
            verify(TOKEN, URL, &added, Some(KNOWN)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(TOKEN, URL, &params()[1..], Some(KNOWN)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn another_url_is_refused() {
        for other in [
            "https://example.com/twilio/voice?foo=bar",
            "https://example.com/twilio/status?foo=baz",
            "https://example.com/twilio/status",
            "http://example.com/twilio/status?foo=bar",
            "https://example.org/twilio/status?foo=bar",
            "https://example.com:8443/twilio/status?foo=bar",
        ] {
            assert_eq!(
                verify(TOKEN, other, &params(), Some(KNOWN)),
                Err(SignatureError::Mismatch),
                "{other}"
            );
        }
    }

    #[test]
    fn a_missing_header_wrong_token_or_garbage_is_refused() {
        assert_eq!(
            verify(TOKEN, URL, &params(), None),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify("54321", URL, &params(), Some(KNOWN)),
            Err(SignatureError::Mismatch)
        );
        for header in [
            "",
            "not base64!",
            &KNOWN[..KNOWN.len() - 1],
            " vCrjYIjWDw04R50qt5MP9G1HuAQ=",
        ] {
            assert_eq!(
                verify(TOKEN, URL, &params(), Some(header)),
                Err(SignatureError::Mismatch),
                "{header:?}"
            );
        }
    }

    #[test]
    fn the_default_port_may_be_present_or_absent_on_either_side() {
        let with_port = "https://example.com:443/twilio/status?foo=bar";
        assert_eq!(verify(TOKEN, with_port, &params(), Some(KNOWN)), Ok(()));

        let signed_with_port = sign(TOKEN, with_port, &params());
        assert_ne!(signed_with_port, KNOWN);
        assert_eq!(
            verify(TOKEN, URL, &params(), Some(&signed_with_port)),
            Ok(())
        );

        let http = "http://example.com/twilio/status";
        let signed = sign(TOKEN, "http://example.com:80/twilio/status", &params());
        assert_eq!(verify(TOKEN, http, &params(), Some(&signed)), Ok(()));
    }

    #[test]
    fn only_the_schemes_own_default_port_is_equivalent() {
        // :80 is not https's default, nor :443 http's.
        let signed = sign(
            TOKEN,
            "https://example.com:80/twilio/status?foo=bar",
            &params(),
        );
        assert_eq!(
            verify(TOKEN, URL, &params(), Some(&signed)),
            Err(SignatureError::Mismatch)
        );
        let signed = sign(TOKEN, "http://example.com:443/twilio/status", &params());
        assert_eq!(
            verify(
                TOKEN,
                "http://example.com/twilio/status",
                &params(),
                Some(&signed)
            ),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_callback_url_is_accepted_with_or_without_its_own_fragment_only() {
        let fragment = "#rc=3&rp=ct,rt,5xx";
        let requested = sign(TOKEN, URL, &params());
        let handed_over = sign(TOKEN, &format!("{URL}{fragment}"), &params());
        for signature in [&requested, &handed_over] {
            assert_eq!(
                verify_with_fragment(TOKEN, URL, fragment, &params(), Some(signature)),
                Ok(())
            );
        }
        let other = sign(TOKEN, &format!("{URL}#rc=5"), &params());
        assert_eq!(
            verify_with_fragment(TOKEN, URL, fragment, &params(), Some(&other)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn url_variants_handle_ports_user_info_and_ipv6() {
        assert_eq!(
            url_variants("https://example.com/a?b=c"),
            ["https://example.com/a?b=c", "https://example.com:443/a?b=c"]
        );
        assert_eq!(
            url_variants("https://example.com:443?b=c"),
            ["https://example.com:443?b=c", "https://example.com?b=c"]
        );
        assert_eq!(
            url_variants("http://example.com"),
            ["http://example.com", "http://example.com:80"]
        );
        assert_eq!(
            url_variants("https://example.com:8443/a"),
            ["https://example.com:8443/a"]
        );
        assert_eq!(
            url_variants("https://user:pw@example.com/a"),
            [
                "https://user:pw@example.com/a",
                "https://user:pw@example.com:443/a"
            ]
        );
        assert_eq!(
            url_variants("http://[::1]:80/a"),
            ["http://[::1]:80/a", "http://[::1]/a"]
        );
        assert_eq!(
            url_variants("http://[::1]/a"),
            ["http://[::1]/a", "http://[::1]:80/a"]
        );
        assert_eq!(url_variants("ftp://example.com/a"), ["ftp://example.com/a"]);
        assert_eq!(url_variants("/relative"), ["/relative"]);
    }
}
