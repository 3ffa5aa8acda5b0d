//! Health checks, the command line, and configuration startup refuses.

use crate::common::fake_stripe::{SECRET_KEY, TEAM_ANNUAL_PRICE, TEAM_MONTHLY_PRICE};
use crate::common::{TestApp, STRIPE_WEBHOOK_SECRET};
use crate::on_both_databases;
use serde_json::{json, Value};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

on_both_databases!(
    health_and_readiness_answer,
    the_admin_command_grants_and_revokes_the_operator_flag,
    the_admin_command_prints_a_reset_link_that_works_once,
);

async fn health_and_readiness_answer(app: TestApp) {
    let health = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = reqwest::get(app.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(
        ready.json::<Value>().await.unwrap(),
        json!({ "status": "ok", "database": "ok" })
    );
}

async fn the_admin_command_grants_and_revokes_the_operator_flag(app: TestApp) {
    let browser = app.new_browser();
    app.register(&browser, "Ada", "ada@example.com").await;
    let phonebooth = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_phonebooth"))
            .args(args)
            .env("DATABASE_URL", &app.database_url)
            .env("SESSION_SECRET", "test-session-secret-that-is-long-enough")
            .env("RUST_LOG", "error")
            .output()
            .unwrap()
    };
    let granted = phonebooth(&["admin", "grant", "ADA@example.com"]);
    assert!(granted.status.success(), "{granted:?}");
    assert_eq!(app.account(&browser).await["is_operator"], true);

    let unknown = phonebooth(&["admin", "grant", "nobody@example.com"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr)
        .contains("no account with the email nobody@example.com"));

    assert!(phonebooth(&["admin", "revoke", "ada@example.com"])
        .status
        .success());
    assert_eq!(app.account(&browser).await["is_operator"], false);
}

/// Without mail, whoever runs the server gets someone back in: the command
/// prints a reset link (the mailed one's rules: once, 30 minutes).
async fn the_admin_command_prints_a_reset_link_that_works_once(app: TestApp) {
    let browser = app.new_browser();
    app.register(&browser, "Ada", "ada@example.com").await;
    let phonebooth = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_phonebooth"))
            .args(args)
            .env("DATABASE_URL", &app.database_url)
            .env("SESSION_SECRET", "test-session-secret-that-is-long-enough")
            .env("PUBLIC_URL", crate::common::PUBLIC_URL)
            .env("RUST_LOG", "error")
            .output()
            .unwrap()
    };
    let unknown = phonebooth(&["admin", "reset-link", "nobody@example.com"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr)
        .contains("no account with the email nobody@example.com"));

    let printed = phonebooth(&["admin", "reset-link", "ADA@example.com"]);
    assert!(printed.status.success(), "{printed:?}");
    let link = String::from_utf8(printed.stdout).unwrap().trim().to_owned();
    let token = link
        .strip_prefix(&format!(
            "{}/reset-password?token=",
            crate::common::PUBLIC_URL
        ))
        .unwrap_or_else(|| panic!("a reset link: {link}"))
        .to_owned();
    let stranger = app.new_browser();
    let reset = |password: &'static str| {
        let (stranger, token) = (stranger.clone(), token.clone());
        let app = &app;
        async move {
            app.call(
                &stranger,
                "auth/reset-password",
                &[("token", token.as_str()), ("password", password)],
            )
            .await
            .status()
        }
    };
    assert_eq!(reset("a brand new passphrase").await, 200);
    assert_ne!(
        reset("another new passphrase").await,
        200,
        "the link works once"
    );
    let login = app
        .login(
            &app.new_browser(),
            "ada@example.com",
            "a brand new passphrase",
        )
        .await;
    assert!(login.status().is_success());
    assert_eq!(
        app.count("select count(*) from outbox_email").await,
        0,
        "nothing mailed"
    );
}

/// `phonebooth serve` in Stripe mode with only `prices` of the Team plan set,
/// and nothing else from this process's environment or a `.env` file. It
/// must stop by itself: a server that starts is killed and fails the test.
fn serve_in_stripe_mode(prices: &[(&str, &str)]) -> Output {
    let data_dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_phonebooth"))
        .arg("serve")
        .env_clear()
        .current_dir(data_dir.path())
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/test.db?mode=rwc", data_dir.path().display()),
        )
        .env("DATA_DIR", data_dir.path())
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("PUBLIC_URL", "https://calls.example.com")
        .env("SESSION_SECRET", "test-session-secret-that-is-long-enough")
        .env("STRIPE_SECRET_KEY", SECRET_KEY)
        .env("STRIPE_WEBHOOK_SECRET", STRIPE_WEBHOOK_SECRET)
        .env("RUST_LOG", "error")
        .envs(prices.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the phonebooth binary starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!(
                "the server started with {prices:?}: {:?}",
                child.wait_with_output()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_stripe_server_without_a_team_price_refuses_to_start_naming_it() {
    for (prices, variable, problem) in [
        (
            vec![("STRIPE_PRICE_TEAM_ANNUAL", TEAM_ANNUAL_PRICE)],
            "STRIPE_PRICE_TEAM_MONTHLY",
            "is required with STRIPE_SECRET_KEY",
        ),
        (
            vec![("STRIPE_PRICE_TEAM_MONTHLY", TEAM_MONTHLY_PRICE)],
            "STRIPE_PRICE_TEAM_ANNUAL",
            "is required with STRIPE_SECRET_KEY",
        ),
        (
            vec![
                ("STRIPE_PRICE_TEAM_MONTHLY", "prod_1QxTeam"),
                ("STRIPE_PRICE_TEAM_ANNUAL", TEAM_ANNUAL_PRICE),
            ],
            "STRIPE_PRICE_TEAM_MONTHLY",
            "must be a Stripe price id",
        ),
    ] {
        let output = serve_in_stripe_mode(&prices);
        assert_eq!(output.status.code(), Some(2), "{prices:?}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.starts_with(&format!("configuration error: {variable}: {problem}")),
            "{prices:?}: {stderr}"
        );
        assert!(!stderr.contains(SECRET_KEY), "{stderr}");
    }
}
