//! Sliding sessions. tower-sessions' `Expiry::OnInactivity` computes a new
//! expiry only when it saves a session, and it saves only sessions that were
//! modified: a signed-in person who only reads (most requests) would keep the
//! expiry of their last write and be signed out 7 days after logging in,
//! however active. So a request of a signed-in session whose expiry was last
//! renewed more than `RENEW_EVERY` ago touches the session, which makes
//! tower-sessions save it with a fresh expiry and re-send the cookie with a
//! fresh `Max-Age`: at most one write per session per `RENEW_EVERY`. The
//! 30-day absolute limit (`guard::ABSOLUTE_TIMEOUT_SECS`) is unaffected.

use app::server::guard::USER_ID;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use tower_sessions::Session;

/// Session key: when the idle expiry was last renewed (unix seconds).
pub const RENEWED_AT: &str = "renewed_at";
/// How stale a renewal may get before a request renews it again.
pub const RENEW_EVERY_SECS: i64 = 3600;

pub async fn renew(session: Session, request: Request, next: Next) -> Response {
    if !crate::cache_control::is_public_asset(request.uri().path()) {
        if let Err(error) = touch(&session).await {
            // Not fatal: the request goes on; the session renews next time.
            tracing::warn!(%error, "renewing the session's idle expiry failed");
        }
    }
    next.run(request).await
}

async fn touch(session: &Session) -> Result<(), tower_sessions::session::Error> {
    // No cookie: nothing is loaded and nothing is created.
    if session.id().is_none() || session.get::<String>(USER_ID).await?.is_none() {
        return Ok(());
    }
    let now = app::server::clock::now();
    let renewed_at = session.get::<i64>(RENEWED_AT).await?.unwrap_or(0);
    if now - renewed_at >= RENEW_EVERY_SECS {
        session.insert(RENEWED_AT, now).await?;
    }
    Ok(())
}
