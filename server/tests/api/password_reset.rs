//! Password reset by email: the same answer for every address, a link that
//! works once for 30 minutes, throttled requests, registration's password
//! rules, and every session of the account signed out. The end-to-end case
//! follows the link in a mail delivered by a real SMTP server.

use crate::common::smtp::SmtpSink;
use crate::common::{TestApp, PASSWORD, PUBLIC_URL};
use crate::on_both_databases;
use reqwest::{Client, Response};

on_both_databases!(
    the_answer_is_the_same_whether_or_not_the_address_has_an_account,
    the_link_in_the_delivered_mail_resets_the_password_once_and_signs_out_every_session,
    an_expired_link_changes_nothing,
    reset_requests_are_throttled_per_email_known_or_not,
    the_new_password_follows_the_registration_rules,
    the_forms_work_without_javascript,
);

const NEW_PASSWORD: &str = "a brand new passphrase";

async fn forgot(app: &TestApp, browser: &Client, email: &str) -> Response {
    app.call(browser, "auth/forgot-password", &[("email", email)])
        .await
}

async fn reset(app: &TestApp, browser: &Client, token: &str, password: &str) -> Response {
    app.call(
        browser,
        "auth/reset-password",
        &[("token", token), ("password", password)],
    )
    .await
}

/// The token in a reset link.
fn token_of(link: &str) -> String {
    link.split("token=").nth(1).expect("a token in the link")[..64].to_owned()
}

/// The link in the newest queued mail's text (for tests without SMTP).
async fn link_in_outbox(app: &TestApp) -> String {
    let (body,): (String,) =
        sqlx::query_as("select body from outbox_email order by created_at desc limit 1")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    link_in(&body)
}

fn link_in(text: &str) -> String {
    text.split_whitespace()
        .find(|word| word.contains("/reset-password?token="))
        .expect("a reset link in the mail")
        .to_owned()
}

async fn signed_in(app: &TestApp, browser: &Client) -> bool {
    !app.account(browser).await.is_null()
}

async fn the_answer_is_the_same_whether_or_not_the_address_has_an_account(app: TestApp) {
    app.register(&app.new_browser(), "Ada", "ada@example.com")
        .await;
    let known = forgot(&app, &app.new_browser(), "ada@example.com").await;
    let unknown = forgot(&app, &app.new_browser(), "nobody@example.com").await;
    assert_eq!(known.status(), 200);
    assert_eq!(known.status(), unknown.status());
    assert_eq!(known.headers()["location"], "/forgot-password?sent=1");
    assert_eq!(known.headers()["location"], unknown.headers()["location"]);
    assert_eq!(known.text().await.unwrap(), unknown.text().await.unwrap());
    assert_eq!(
        app.count("select count(*) from outbox_email where to_address = 'ada@example.com'")
            .await,
        1
    );
    assert_eq!(app.count("select count(*) from outbox_email").await, 1);
    assert_eq!(app.count("select count(*) from password_reset").await, 1);
    // A malformed address is a form error, not an answer about accounts.
    let malformed = forgot(&app, &app.new_browser(), "not an address").await;
    assert_eq!(malformed.status(), 422);
}

async fn the_link_in_the_delivered_mail_resets_the_password_once_and_signs_out_every_session(
    app: TestApp,
) {
    let sink = SmtpSink::start();
    let settings = sink.settings();
    let extra: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // Its own database: no instance without SMTP_URL takes the mail job.
    let app = TestApp::spawn_with(app.backend, &extra).await;
    let laptop = app.new_browser();
    app.register(&laptop, "Ada", "ada@example.com").await;
    let phone = app.new_browser();
    assert_eq!(
        app.login(&phone, "ada@example.com", PASSWORD)
            .await
            .status(),
        200
    );
    assert!(signed_in(&app, &laptop).await && signed_in(&app, &phone).await);

    let stranger = app.new_browser();
    assert_eq!(
        forgot(&app, &stranger, "ada@example.com").await.status(),
        200
    );
    let delivered = sink.wait_for(1).await;
    let mail = &delivered[0];
    assert_eq!(mail.rcpt_tos, ["ada@example.com"]);
    assert_eq!(mail.subject, "Reset your Phonebooth password");
    let text = mail.text.as_deref().expect("a plain-text part");
    let html = mail.html.as_deref().expect("an HTML part");
    let link = link_in(text);
    assert!(
        link.starts_with(&format!("{PUBLIC_URL}/reset-password?token=")),
        "{link}"
    );
    assert!(html.contains(&format!("href=\"{link}\"")), "{html}");
    let token = token_of(&link);
    // Only the token's hash is stored.
    assert_eq!(
        app.count(&format!(
            "select count(*) from password_reset where token_hash = '{token}'"
        ))
        .await,
        0
    );

    // Following the link: the page with its form and the token in it.
    let path = link.strip_prefix(PUBLIC_URL).unwrap();
    let page = stranger.get(app.url(path)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("Choose a new password"), "{page}");
    assert!(page.contains(&token), "the form carries the token");

    let done = reset(&app, &stranger, &token, NEW_PASSWORD).await;
    assert_eq!(done.status(), 200);
    assert_eq!(done.headers()["location"], "/login?reset=1");
    assert!(!signed_in(&app, &laptop).await, "the laptop is signed out");
    assert!(!signed_in(&app, &phone).await, "the phone is signed out");
    assert_eq!(
        app.count("select count(*) from session where user_id is not null")
            .await,
        0
    );

    // Single use: the link does nothing a second time.
    let again = reset(&app, &stranger, &token, "yet another passphrase").await;
    assert_eq!(again.status(), 422);
    let error = again.text().await.unwrap();
    assert!(error.contains("expired or was already used"), "{error}");

    let browser = app.new_browser();
    assert_eq!(
        app.login(&browser, "ada@example.com", PASSWORD)
            .await
            .status(),
        422,
        "the old password no longer works"
    );
    assert_eq!(
        app.login(&browser, "ada@example.com", NEW_PASSWORD)
            .await
            .status(),
        200
    );
    assert!(signed_in(&app, &browser).await);
    // The mail job's payload names the message, never the token.
    assert_eq!(
        app.count(&format!(
            "select count(*) from job where payload like '%{token}%' or last_error like '%{token}%'"
        ))
        .await,
        0
    );
}

async fn an_expired_link_changes_nothing(app: TestApp) {
    app.register(&app.new_browser(), "Ada", "ada@example.com")
        .await;
    forgot(&app, &app.new_browser(), "ada@example.com").await;
    let token = token_of(&link_in_outbox(&app).await);
    // 30 minutes and a second later.
    sqlx::query("update password_reset set expires_at = created_at - 1")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let expired = reset(&app, &app.new_browser(), &token, NEW_PASSWORD).await;
    assert_eq!(expired.status(), 422);
    assert!(expired
        .text()
        .await
        .unwrap()
        .contains("expired or was already used"));
    let browser = app.new_browser();
    assert_eq!(
        app.login(&browser, "ada@example.com", PASSWORD)
            .await
            .status(),
        200,
        "the password is unchanged"
    );
    // A made-up token is refused the same way.
    let made_up = reset(&app, &app.new_browser(), &"0".repeat(64), NEW_PASSWORD).await;
    assert_eq!(made_up.status(), 422);
}

async fn reset_requests_are_throttled_per_email_known_or_not(app: TestApp) {
    app.register(&app.new_browser(), "Ada", "ada@example.com")
        .await;
    for email in ["ada@example.com", "nobody@example.com"] {
        for attempt in 1..=3 {
            let response = forgot(&app, &app.new_browser(), email).await;
            assert_eq!(response.status(), 200, "{email} request {attempt}");
        }
        let refused = forgot(&app, &app.new_browser(), email).await;
        assert_eq!(refused.status(), 429, "{email}");
        assert!(refused
            .text()
            .await
            .unwrap()
            .contains("too many reset requests"));
    }
    assert_eq!(app.count("select count(*) from outbox_email").await, 3);
}

async fn the_new_password_follows_the_registration_rules(app: TestApp) {
    app.register(&app.new_browser(), "Ada", "ada@example.com")
        .await;
    forgot(&app, &app.new_browser(), "ada@example.com").await;
    let token = token_of(&link_in_outbox(&app).await);
    let browser = app.new_browser();
    let short = reset(&app, &browser, &token, "short").await;
    assert_eq!(short.status(), 422);
    let error: serde_json::Value = short.json().await.unwrap();
    assert!(error.to_string().contains("password"), "{error}");
    // A refused password does not use the link up.
    assert_eq!(
        reset(&app, &browser, &token, NEW_PASSWORD).await.status(),
        200
    );
}

async fn the_forms_work_without_javascript(app: TestApp) {
    app.register(&app.new_browser(), "Ada", "ada@example.com")
        .await;
    let browser = app.new_browser();
    let login = app.page(&browser, "/login").await;
    assert!(
        login.contains("href=\"/forgot-password\""),
        "the login page links to the reset request"
    );
    let page = browser
        .get(app.url("/forgot-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let post = |path: &str, referer: String, form: Vec<(&'static str, String)>| {
        browser
            .post(app.url(path))
            .header("sec-fetch-site", "same-origin")
            .header("accept", "text/html")
            .header("referer", referer)
            .form(&form)
            .send()
    };
    let asked = post(
        "/api/auth/forgot-password",
        app.url("/forgot-password"),
        vec![("email", "ada@example.com".to_owned())],
    )
    .await
    .unwrap();
    assert_eq!(asked.status(), 302);
    assert_eq!(asked.headers()["location"], "/forgot-password?sent=1");
    let sent = app.page(&browser, "/forgot-password?sent=1").await;
    assert!(
        sent.contains("If an account exists for that address"),
        "{sent}"
    );

    let link = link_in_outbox(&app).await;
    let token = token_of(&link);
    let reset_page = app.url(link.strip_prefix(PUBLIC_URL).unwrap());
    let done = post(
        "/api/auth/reset-password",
        reset_page,
        vec![("token", token), ("password", NEW_PASSWORD.to_owned())],
    )
    .await
    .unwrap();
    assert_eq!(done.status(), 302);
    assert_eq!(done.headers()["location"], "/login?reset=1");
    let notice = app.page(&browser, "/login?reset=1").await;
    assert!(notice.contains("Your password was changed"), "{notice}");
}
