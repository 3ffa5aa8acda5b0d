//! Origin checks, security headers, body limits and cookie attributes.

use crate::common::{session_cookie, Backend, TestApp, PASSWORD, PUBLIC_URL};
use crate::on_both_databases;

on_both_databases!(
    a_state_changing_request_from_another_origin_is_refused_and_changes_nothing,
    a_request_whose_origin_is_ours_is_accepted,
    pages_carry_the_security_headers,
    an_oversized_body_gets_413,
);

fn register_form() -> [(&'static str, &'static str); 3] {
    [
        ("name", "Ada"),
        ("email", "ada@example.com"),
        ("password", PASSWORD),
    ]
}

async fn a_state_changing_request_from_another_origin_is_refused_and_changes_nothing(app: TestApp) {
    let url = app.url("/api/auth/register");
    let attempts = [
        vec![("origin", "https://evil.example")],
        vec![
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://evil.example"),
        ],
        vec![("sec-fetch-site", "same-site")],
        vec![],
    ];
    for headers in attempts {
        let mut request = app.new_browser().post(&url).form(&register_form());
        for (name, value) in &headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 403, "{headers:?}");
    }
    assert_eq!(app.count("select count(*) from app_user").await, 0);
}

async fn a_request_whose_origin_is_ours_is_accepted(app: TestApp) {
    let response = app
        .new_browser()
        .post(app.url("/api/auth/register"))
        .header("origin", PUBLIC_URL)
        .header("accept", "application/json")
        .form(&register_form())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(app.count("select count(*) from app_user").await, 1);
}

async fn pages_carry_the_security_headers(app: TestApp) {
    let response = app
        .new_browser()
        .get(app.url("/login"))
        .send()
        .await
        .unwrap();
    let headers = response.headers();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self' 'nonce-"), "{csp}");
    assert!(
        csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "same-origin");
    assert!(headers.contains_key("x-request-id"));
    assert!(
        !headers.contains_key("strict-transport-security"),
        "no HSTS over plain HTTP"
    );
    // Every inline script on the page carries the nonce the policy allows.
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap()
        .to_owned();
    let html = response.text().await.unwrap();
    let scripts = html.matches("<script").count();
    assert!(scripts > 0);
    assert_eq!(
        html.matches(&format!("nonce=\"{nonce}\"")).count(),
        scripts,
        "{html}"
    );
}

async fn an_oversized_body_gets_413(app: TestApp) {
    let huge = "x".repeat(100 * 1024);
    let response = app
        .new_browser()
        .post(app.url("/api/auth/login"))
        .header("sec-fetch-site", "same-origin")
        .form(&[("email", huge.as_str()), ("password", "whatever")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(app.count("select count(*) from login_failure").await, 0);
}

#[tokio::test]
async fn over_https_the_cookie_is_secure_host_prefixed_and_hsts_is_sent() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[("PUBLIC_URL", "https://calls.example.com")],
    )
    .await;
    let response = app
        .register(&app.new_browser(), "Ada", "ada@example.com")
        .await;
    let cookie = session_cookie(&response).unwrap();
    assert!(cookie.starts_with("__Host-phonebooth_session="), "{cookie}");
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(response.headers().contains_key("strict-transport-security"));
}
