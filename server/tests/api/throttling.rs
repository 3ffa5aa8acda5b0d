//! Anonymous traffic: the login and registration throttles hold under
//! parallel bursts, count the real client behind a trusted proxy (and no one
//! else's address), and keep their audit trail bounded.

use crate::common::{TestApp, PASSWORD};
use crate::on_both_databases;
use reqwest::Response;
use serde_json::Value;

on_both_databases!(
    sixty_parallel_wrong_passwords_for_one_email_get_at_most_five_verdicts,
    refusals_of_a_locked_email_write_one_audit_row_per_lock,
    an_overlong_email_is_refused_without_an_audit_row_and_stored_emails_are_capped,
    audit_rows_older_than_thirty_days_are_pruned_by_the_periodic_loop,
    without_trusted_proxies_failures_from_a_proxy_address_lock_no_one_else_out,
    behind_a_trusted_proxy_the_forwarded_client_is_locked_and_no_one_else,
    a_forged_forwarded_for_from_an_untrusted_peer_does_not_escape_the_address_lock,
    registration_is_limited_per_client_address,
    registering_a_taken_email_is_refused_before_hashing_and_counts_toward_the_limit,
);

async fn login_from(app: &TestApp, forwarded_for: &str, email: &str, password: &str) -> Response {
    app.new_browser()
        .post(app.url("/api/auth/login"))
        .header("sec-fetch-site", "same-origin")
        .header("accept", "application/json")
        .header("x-forwarded-for", forwarded_for)
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .unwrap()
}

async fn register_from(app: &TestApp, forwarded_for: &str, email: &str) -> Response {
    app.new_browser()
        .post(app.url("/api/auth/register"))
        .header("sec-fetch-site", "same-origin")
        .header("accept", "application/json")
        .header("x-forwarded-for", forwarded_for)
        .form(&[
            ("name", "Someone"),
            ("email", email),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap()
}

async fn sixty_parallel_wrong_passwords_for_one_email_get_at_most_five_verdicts(app: TestApp) {
    app.register(&app.new_browser(), "Ada", "ada@example.com")
        .await;
    // Sixty browsers with their connections already open, so the guesses
    // arrive together rather than one connection setup apart.
    let browsers: Vec<_> = (0..60).map(|_| app.new_browser()).collect();
    futures::future::join_all(
        browsers
            .iter()
            .map(|browser| browser.get(app.url("/healthz")).send()),
    )
    .await;
    let guesses = browsers.iter().enumerate().map(|(n, browser)| {
        let app = &app;
        async move {
            app.login(browser, "ada@example.com", &format!("guess number {n}"))
                .await
                .status()
                .as_u16()
        }
    });
    let statuses = futures::future::join_all(guesses).await;
    let verdicts = statuses.iter().filter(|s| **s == 422).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert!(
        (1..=5).contains(&verdicts),
        "{verdicts} verdicts: {statuses:?}"
    );
    assert_eq!(verdicts + refused, 60, "{statuses:?}");
    // The right password is refused while the email is locked.
    let locked = app
        .login(&app.new_browser(), "ada@example.com", PASSWORD)
        .await;
    assert_eq!(locked.status(), 429);
    assert_eq!(
        app.count(
            "select count(*) from login_failure
              where email = 'ada@example.com' and reason = 'bad_credentials'"
        )
        .await,
        verdicts as i64
    );
}

async fn refusals_of_a_locked_email_write_one_audit_row_per_lock(app: TestApp) {
    for _ in 0..5 {
        let response = app
            .login(&app.new_browser(), "ada@example.com", "wrong password!")
            .await;
        assert_eq!(response.status(), 422);
    }
    for _ in 0..20 {
        let response = app
            .login(&app.new_browser(), "ada@example.com", "wrong password!")
            .await;
        assert_eq!(response.status(), 429);
    }
    assert_eq!(app.count("select count(*) from login_failure").await, 6);
    assert_eq!(
        app.count("select count(*) from login_failure where reason = 'email_locked'")
            .await,
        1
    );
}

async fn an_overlong_email_is_refused_without_an_audit_row_and_stored_emails_are_capped(
    app: TestApp,
) {
    let long = format!("{}@example.com", "a".repeat(10_000));
    let response = app
        .login(&app.new_browser(), &long, "wrong password!")
        .await;
    assert_eq!(response.status(), 422);
    let error: Value = response.json().await.unwrap();
    assert_eq!(
        error["Validation"]["message"],
        "an email address has at most 254 characters"
    );
    assert_eq!(app.count("select count(*) from login_failure").await, 0);

    // Whatever reaches the audit table is capped at the longest possible address.
    app::server::db::login_failures::record(&app.db.pool, &"b".repeat(300), "1.2.3.4", "x", 0)
        .await
        .unwrap();
    assert_eq!(
        app.count("select max(length(email)) from login_failure")
            .await,
        254
    );
}

async fn audit_rows_older_than_thirty_days_are_pruned_by_the_periodic_loop(app: TestApp) {
    let now = app::server::clock::now();
    let day = 24 * 3600;
    for (email, age) in [("old@example.com", 31 * day), ("recent@example.com", day)] {
        app::server::db::login_failures::record(
            &app.db.pool,
            email,
            "1.2.3.4",
            "bad_credentials",
            now - age,
        )
        .await
        .unwrap();
    }
    // A starting instance prunes at once, then hourly.
    let app = app.restarted().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app
        .count("select count(*) from login_failure where email = 'old@example.com'")
        .await
        > 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the old row was not pruned"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        app.count("select count(*) from login_failure where email = 'recent@example.com'")
            .await,
        1
    );
}

async fn without_trusted_proxies_failures_from_a_proxy_address_lock_no_one_else_out(app: TestApp) {
    // The tests connect from 127.0.0.1: what an unconfigured reverse proxy looks like.
    app.register(&app.new_browser(), "Ada", "ada@example.com")
        .await;
    for n in 0..40 {
        let email = format!("sprayed{n}@example.com");
        let response = app
            .login(&app.new_browser(), &email, "guess guess guess")
            .await;
        assert_eq!(response.status(), 422);
    }
    let response = app
        .login(&app.new_browser(), "ada@example.com", PASSWORD)
        .await;
    assert_eq!(response.status(), 200);
}

async fn behind_a_trusted_proxy_the_forwarded_client_is_locked_and_no_one_else(app: TestApp) {
    let app = app
        .restarted_with(&[("TRUSTED_PROXIES", "127.0.0.1")])
        .await;
    app.register(&app.new_browser(), "Ada", "ada@example.com")
        .await;
    // One client sprays through the proxy (it writes what the client sent, then the client).
    for n in 0..30 {
        let email = format!("sprayed{n}@example.com");
        let response = login_from(&app, "10.9.9.9, 203.0.113.7", &email, "guess guess guess").await;
        assert_eq!(response.status(), 422);
    }
    let sprayer = login_from(&app, "203.0.113.7", "ada@example.com", PASSWORD).await;
    assert_eq!(sprayer.status(), 429);
    let error: Value = sprayer.json().await.unwrap();
    assert_eq!(
        error["RateLimited"],
        "too many failed attempts from your network; try again in 15 minutes"
    );
    // Another client behind the same proxy is not affected.
    let other = login_from(&app, "198.51.100.2", "ada@example.com", PASSWORD).await;
    assert_eq!(other.status(), 200);
    // IPv6 clients are counted per /64: a neighbour in the sprayer's /64 is locked too.
    for n in 0..30 {
        let email = format!("sprayed{n}@example.com");
        let response = login_from(&app, "2001:db8:1:2::1", &email, "guess guess guess").await;
        assert_eq!(response.status(), 422);
    }
    let neighbour = login_from(&app, "2001:db8:1:2::ffff", "ada@example.com", PASSWORD).await;
    assert_eq!(neighbour.status(), 429);
    let next_block = login_from(&app, "2001:db8:1:3::1", "ada@example.com", PASSWORD).await;
    assert_eq!(next_block.status(), 200);
}

async fn a_forged_forwarded_for_from_an_untrusted_peer_does_not_escape_the_address_lock(
    app: TestApp,
) {
    // No proxy: every peer is a client, and headers it sends are not believed.
    let app = app.restarted_with(&[("TRUSTED_PROXIES", "none")]).await;
    app.register(&app.new_browser(), "Ada", "ada@example.com")
        .await;
    for n in 0..30 {
        let email = format!("sprayed{n}@example.com");
        let forged = format!("198.51.100.{n}");
        let response = login_from(&app, &forged, &email, "guess guess guess").await;
        assert_eq!(response.status(), 422);
    }
    let response = login_from(&app, "192.0.2.1", "ada@example.com", PASSWORD).await;
    assert_eq!(response.status(), 429);
}

async fn registration_is_limited_per_client_address(app: TestApp) {
    let app = app
        .restarted_with(&[("TRUSTED_PROXIES", "127.0.0.1")])
        .await;
    for n in 0..10 {
        let response = register_from(&app, "203.0.113.7", &format!("user{n}@example.com")).await;
        assert_eq!(response.status(), 200);
    }
    let refused = register_from(&app, "203.0.113.7", "user10@example.com").await;
    assert_eq!(refused.status(), 429);
    let error: Value = refused.json().await.unwrap();
    assert_eq!(
        error["RateLimited"],
        "too many sign-ups from your network; try again in 15 minutes"
    );
    assert_eq!(
        app.count("select count(*) from app_user where email = 'user10@example.com'")
            .await,
        0
    );
    // Refusing again adds no audit row.
    let again = register_from(&app, "203.0.113.7", "user11@example.com").await;
    assert_eq!(again.status(), 429);
    assert_eq!(
        app.count("select count(*) from login_failure where reason = 'registration_ip_locked'")
            .await,
        1
    );
    // Another address can still sign up.
    let other = register_from(&app, "198.51.100.2", "user10@example.com").await;
    assert_eq!(other.status(), 200);
}

async fn registering_a_taken_email_is_refused_before_hashing_and_counts_toward_the_limit(
    app: TestApp,
) {
    let app = app
        .restarted_with(&[("TRUSTED_PROXIES", "127.0.0.1")])
        .await;
    assert_eq!(
        register_from(&app, "203.0.113.7", "ada@example.com")
            .await
            .status(),
        200
    );
    for _ in 0..9 {
        let response = register_from(&app, "203.0.113.7", "ada@example.com").await;
        assert_eq!(response.status(), 409);
    }
    // Probing which emails have accounts is throttled like any sign-up.
    let response = register_from(&app, "203.0.113.7", "ada@example.com").await;
    assert_eq!(response.status(), 429);
}
