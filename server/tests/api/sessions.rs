//! Sessions slide: a signed-in person who only reads stays signed in (the
//! 7-day idle expiry and the cookie's Max-Age are renewed on use), and
//! private responses are never cached.

use crate::common::{session_cookie, TestApp};
use crate::on_both_databases;
use app::server::guard::IDLE_TIMEOUT_SECS;

on_both_databases!(
    a_read_only_request_renews_the_stored_idle_expiry_and_the_cookie,
    signed_in_pages_and_server_functions_are_sent_with_no_store,
);

const DAY: i64 = 24 * 3600;

/// A session save that meets a busy database (SQLite past its busy timeout:
/// another connection holds the write lock) is an outage, answered 503 with
/// Retry-After like every other database trouble, never tower-sessions' bare
/// 500. Once the lock is gone the same request renews the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_save_on_a_busy_database_answers_503_not_500() {
    let app = TestApp::spawn_with(
        crate::common::Backend::Sqlite,
        &[("SQLITE_BUSY_TIMEOUT_MS", "200")],
    )
    .await;
    let browser = app.new_browser();
    assert!(app
        .register(&browser, "Ada", "ada@example.com")
        .await
        .status()
        .is_success());
    // Due for renewal: this read-only page request will save the session.
    age_stored_session(&app, 2 * 3600).await;
    let other = app::server::db::Db::connect(&app.database_url)
        .await
        .unwrap();
    let lock = other.begin_write().await.unwrap();
    let response = browser.get(app.url("/wallet")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("5")
    );
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("temporarily unavailable"));
    lock.rollback().await.unwrap();
    let response = browser.get(app.url("/wallet")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        session_cookie(&response).is_some(),
        "renewed once the lock is gone"
    );
}

/// The one stored session: its id, its data (JSON text) and its stored expiry.
async fn stored_session(app: &TestApp) -> (String, String, i64) {
    let (id, data, expiry): (String, Vec<u8>, i64) =
        sqlx::query_as("select session_id, data, expiry_date from session")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    (id, String::from_utf8(data).unwrap(), expiry)
}

/// Moves the one stored session `secs` into the past: its idle expiry and its
/// last renewal (edited as text: the record's id does not survive a round
/// trip through `serde_json::Value`). Returns the new stored expiry.
async fn age_stored_session(app: &TestApp, secs: i64) -> i64 {
    let (id, mut record, expiry) = stored_session(app).await;
    let now = app::server::clock::now();
    let key = "\"renewed_at\":";
    if let Some(at) = record.find(key) {
        let start = at + key.len();
        let end = start + record[start..].find(|c: char| !c.is_ascii_digit()).unwrap();
        record.replace_range(start..end, &(now - secs).to_string());
    }
    let aged = expiry - secs;
    sqlx::query("update session set data = $1, expiry_date = $2 where session_id = $3")
        .bind(record.into_bytes())
        .bind(aged)
        .bind(&id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    aged
}

async fn a_read_only_request_renews_the_stored_idle_expiry_and_the_cookie(app: TestApp) {
    let browser = app.new_browser();
    assert!(app
        .register(&browser, "Ada", "ada@example.com")
        .await
        .status()
        .is_success());
    app.account(&browser).await;
    let (_, _, expiry) = stored_session(&app).await;
    let now = app::server::clock::now();
    assert!(
        (expiry - (now + IDLE_TIMEOUT_SECS)).abs() <= 5,
        "{expiry} {now}"
    );
    let aged = age_stored_session(&app, 3 * DAY).await;
    assert_eq!(aged, expiry - 3 * DAY);

    // Reading the wallet page changes nothing in the session…
    let response = browser.get(app.url("/wallet")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    // …yet the stored expiry moves forward to a full idle period from now,
    let (_, _, renewed) = stored_session(&app).await;
    let now = app::server::clock::now();
    assert!(
        renewed >= now + IDLE_TIMEOUT_SECS - 5,
        "the idle expiry did not slide: {renewed} vs {}",
        now + IDLE_TIMEOUT_SECS
    );
    // …and the browser gets the cookie again with a full Max-Age.
    let cookie = session_cookie(&response).expect("the cookie is re-sent");
    assert!(
        cookie.contains(&format!("Max-Age={IDLE_TIMEOUT_SECS}")),
        "{cookie}"
    );
    // The next request, within the hour, writes nothing.
    let response = browser.get(app.url("/wallet")).send().await.unwrap();
    assert!(session_cookie(&response).is_none());
    // Still signed in.
    assert_eq!(app.account(&browser).await["email"], "ada@example.com");
}

async fn signed_in_pages_and_server_functions_are_sent_with_no_store(app: TestApp) {
    let browser = app.new_browser();
    assert!(app
        .register(&browser, "Ada", "ada@example.com")
        .await
        .status()
        .is_success());
    let no_store = |response: &reqwest::Response| {
        response
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    for path in ["/wallet", "/settings", "/calls", "/dialer"] {
        let response = browser.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(no_store(&response).as_deref(), Some("no-store"), "{path}");
    }
    let response = app.call(&browser, "auth/account", &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(no_store(&response).as_deref(), Some("no-store"));
    // Public static files keep their caching.
    let response = browser
        .get(app.url("/pkg/phonebooth.css"))
        .send()
        .await
        .unwrap();
    assert_ne!(no_store(&response).as_deref(), Some("no-store"));
}
