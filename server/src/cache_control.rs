//! `Cache-Control: no-store` on everything but the public static files, so
//! no browser or shared cache keeps a signed-in page, a server function's
//! answer, the live stream or an export (and Back after logout shows nothing).

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// File types the site serves from its public folder and `pkg/`. Exports
/// (`.csv`) are private and deliberately absent.
const STATIC_EXTENSIONS: [&str; 12] = [
    "js",
    "wasm",
    "css",
    "ico",
    "png",
    "jpg",
    "svg",
    "webp",
    "woff",
    "woff2",
    "txt",
    "webmanifest",
];

/// Whether `path` is one of the site's public files (they keep their caching).
pub fn is_public_asset(path: &str) -> bool {
    path.starts_with("/pkg/")
        || path
            .rsplit('/')
            .next()
            .and_then(|file| file.rsplit_once('.'))
            .is_some_and(|(_, ext)| STATIC_EXTENSIONS.contains(&ext))
}

pub async fn no_store(request: Request, next: Next) -> Response {
    let public = is_public_asset(request.uri().path());
    let mut response = next.run(request).await;
    if !public {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::is_public_asset;

    #[test]
    fn static_files_are_public_and_exports_pages_and_functions_are_not() {
        for path in [
            "/pkg/phonebooth.wasm",
            "/pkg/phonebooth.js",
            "/robots.txt",
            "/favicon.ico",
        ] {
            assert!(is_public_asset(path), "{path}");
        }
        for path in [
            "/",
            "/wallet",
            "/calls.csv",
            "/wallet/history.csv",
            "/api/auth/account",
            "/calls/live",
        ] {
            assert!(!is_public_asset(path), "{path}");
        }
    }
}
