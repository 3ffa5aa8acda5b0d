//! Browser-facing protections that hold for every route:
//! - state-changing requests must come from our own origin (webhooks are exempt:
//!   they are checked by signature instead);
//! - security headers on every response (pages get their nonce-based CSP from
//!   `app::shell`; everything else a strict default);
//! - in Twilio mode only, the pages' policy lets the browser reach Twilio's
//!   voice servers (`widen_for_twilio_voice`), so the Voice SDK can place calls.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

#[derive(Clone, Debug)]
pub struct OriginPolicy {
    /// scheme://host[:port] of PUBLIC_URL.
    pub public_origin: String,
}

/// Paths that are authenticated by signature, not by the browser's origin.
fn is_signature_checked(path: &str) -> bool {
    path.starts_with("/webhooks/")
}

/// Decides from the request headers alone whether a state-changing request came from our own pages.
pub fn is_same_origin(
    policy: &OriginPolicy,
    sec_fetch_site: Option<&str>,
    origin: Option<&str>,
) -> bool {
    match (sec_fetch_site, origin) {
        // Browsers that send Fetch Metadata say it directly.
        (Some(site), _) => site == "same-origin",
        // Older browsers, or plain HTTP to a non-local host: compare the Origin.
        (None, Some(origin)) => origin == policy.public_origin,
        // Neither header: not a browser we can vouch for.
        (None, None) => false,
    }
}

pub async fn require_same_origin(
    State(policy): State<OriginPolicy>,
    request: Request,
    next: Next,
) -> Response {
    let safe_method = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if safe_method || is_signature_checked(request.uri().path()) {
        return next.run(request).await;
    }
    // Owned copies: a borrow of the request (whose body is not Sync) must not live across an await.
    let (sec_fetch_site, origin) = {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        (header("sec-fetch-site"), header("origin"))
    };
    if is_same_origin(&policy, sec_fetch_site.as_deref(), origin.as_deref()) {
        return next.run(request).await;
    }
    tracing::warn!(
        path = %request.uri().path(),
        origin = origin.as_deref().unwrap_or("-"),
        sec_fetch_site = sec_fetch_site.as_deref().unwrap_or("-"),
        "cross-origin request refused"
    );
    (StatusCode::FORBIDDEN, "cross-origin request refused").into_response()
}

/// What the security headers depend on.
#[derive(Clone, Copy, Debug)]
pub struct HeaderPolicy {
    /// PUBLIC_URL is https: add HSTS.
    pub https: bool,
    /// The Twilio carrier is configured: pages may reach Twilio's voice servers.
    pub twilio_voice: bool,
}

/// Twilio's Voice SDK talks to `wss://voice-js.<edge>.twilio.com/signal`
/// (signalling) and `https://eventgw[.<region>].twilio.com` (call-quality
/// insights); its media flows over WebRTC, which CSP does not govern. The SDK
/// itself is served from our own `/pkg/`, and its sounds (which it would fetch
/// from `sdk.twilio.com`) are replaced by our own, so nothing else is needed.
const TWILIO_VOICE_CONNECT: &str = "https://*.twilio.com wss://*.twilio.com";

/// Adds Twilio's voice hosts to a page's `connect-src`. Every page gets it in
/// Twilio mode, not only /dialer: the app navigates between its pages without
/// reloading, and a document keeps the policy it was first loaded with, so a
/// dialer reached from /wallet runs under /wallet's policy.
pub fn widen_for_twilio_voice(policy: &str) -> String {
    let mut found = false;
    let mut directives: Vec<String> = policy
        .split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|directive| {
            if directive == "connect-src" || directive.starts_with("connect-src ") {
                found = true;
                format!("{directive} {TWILIO_VOICE_CONNECT}")
            } else {
                directive.to_owned()
            }
        })
        .collect();
    if !found {
        directives.push(format!("connect-src 'self' {TWILIO_VOICE_CONNECT}"));
    }
    directives.join("; ")
}

/// Headers every response carries.
pub async fn security_headers(
    State(policy): State<HeaderPolicy>,
    request: Request,
    next: Next,
) -> Response<Body> {
    let HeaderPolicy {
        https,
        twilio_voice,
    } = policy;
    let path = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    let status = response.status();
    let headers = response.headers_mut();
    // Pages carry the shell's nonce policy; only they can run the dialer.
    let is_page = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/html"));
    if twilio_voice && is_page {
        let widened = headers
            .get(header::CONTENT_SECURITY_POLICY)
            .and_then(|v| v.to_str().ok())
            .map(widen_for_twilio_voice)
            .and_then(|p| HeaderValue::from_str(&p).ok());
        if let Some(widened) = widened {
            headers.insert(header::CONTENT_SECURITY_POLICY, widened);
        }
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        if is_page {
            // Every page's shell sets its nonce policy; a page without one
            // cannot hydrate under the fallback below. Logged to find out why
            // it happens now and then (docs/testing.md, "Known findings").
            tracing::error!(%path, %status, "a page left without the shell's Content-Security-Policy");
        }
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'; base-uri 'none'"),
        );
    }
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> OriginPolicy {
        OriginPolicy {
            public_origin: "https://calls.example.com".into(),
        }
    }

    #[test]
    fn fetch_metadata_decides_when_present() {
        assert!(is_same_origin(&policy(), Some("same-origin"), None));
        assert!(!is_same_origin(
            &policy(),
            Some("cross-site"),
            Some("https://calls.example.com")
        ));
        assert!(!is_same_origin(&policy(), Some("same-site"), None));
        assert!(!is_same_origin(&policy(), Some("none"), None));
    }

    #[test]
    fn twilio_mode_adds_twilios_voice_hosts_to_connect_src_only() {
        let page = "default-src 'self'; script-src 'self' 'nonce-abc' 'wasm-unsafe-eval'; \
                    connect-src 'self'; frame-ancestors 'none'";
        assert_eq!(
            widen_for_twilio_voice(page),
            "default-src 'self'; script-src 'self' 'nonce-abc' 'wasm-unsafe-eval'; \
             connect-src 'self' https://*.twilio.com wss://*.twilio.com; frame-ancestors 'none'"
        );
        assert_eq!(
            widen_for_twilio_voice("default-src 'self'"),
            "default-src 'self'; connect-src 'self' https://*.twilio.com wss://*.twilio.com"
        );
    }

    #[test]
    fn without_fetch_metadata_the_origin_must_be_ours() {
        assert!(is_same_origin(
            &policy(),
            None,
            Some("https://calls.example.com")
        ));
        assert!(!is_same_origin(
            &policy(),
            None,
            Some("https://evil.example")
        ));
        assert!(!is_same_origin(&policy(), None, Some("null")));
        assert!(!is_same_origin(&policy(), None, None));
    }
}
