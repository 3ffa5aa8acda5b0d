//! Server-side redirects for page requests, so they work without JavaScript:
//! a logged-out visit to a protected page goes to `/login?next=<path>`, and a
//! logged-in visit to `/login` or `/register` goes on to the dialer. Server
//! functions authorize themselves; this only routes documents.
//!
//! A signed-in page it lets through gets the `PageReads` its account check
//! filled in, so the render that follows does not read the account again
//! (`app::server::page_reads`).

use app::domain::NextPath;
use app::server::guard::viewer_from_session_with;
use app::server::page_reads::PageReads;
use app::server::AppState;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use tower_sessions::Session;

const PROTECTED: [&str; 5] = ["/dialer", "/wallet", "/calls", "/settings", "/account"];

fn is_protected(path: &str) -> bool {
    path == "/"
        || PROTECTED.iter().any(|p| {
            path == *p
                || path
                    .strip_prefix(p)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
}

pub async fn redirect_pages(
    State(state): State<AppState>,
    session: Session,
    mut request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::GET {
        return next.run(request).await;
    }
    let path = request.uri().path();
    let is_auth_page = path == "/login" || path == "/register";
    if !is_protected(path) && !is_auth_page {
        return next.run(request).await;
    }
    let reads = PageReads::default();
    let logged_in = match viewer_from_session_with(&session, &state.db, Some(&reads)).await {
        Ok(viewer) => viewer.is_some(),
        // Let the page render its own "unavailable" message rather than loop.
        Err(_) => return next.run(request).await,
    };
    match (logged_in, is_auth_page) {
        (false, false) if path == "/" => Redirect::to("/login").into_response(),
        (false, false) => {
            let wanted = request
                .uri()
                .path_and_query()
                .map(|pq| pq.as_str())
                .unwrap_or(path);
            let next_param: String = form_urlencoded::byte_serialize(wanted.as_bytes()).collect();
            Redirect::to(&format!("/login?next={next_param}")).into_response()
        }
        (true, true) => {
            let next_param = request.uri().query().and_then(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "next")
                    .map(|(_, v)| v.into_owned())
            });
            Redirect::to(NextPath::parse(next_param.as_deref()).as_str()).into_response()
        }
        (true, false) if path == "/" => Redirect::to(NextPath::DEFAULT).into_response(),
        (true, false) => {
            request.extensions_mut().insert(reads);
            next.run(request).await
        }
        _ => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::is_protected;

    #[test]
    fn the_app_pages_are_protected_and_the_rest_is_not() {
        for path in [
            "/",
            "/dialer",
            "/wallet",
            "/calls",
            "/settings",
            "/account",
            "/calls/123",
        ] {
            assert!(is_protected(path), "{path}");
        }
        for path in [
            "/login",
            "/register",
            "/healthz",
            "/pkg/phonebooth.js",
            "/dialerx",
            "/account-data.json",
            "/api/auth/login",
        ] {
            assert!(!is_protected(path), "{path}");
        }
    }
}
