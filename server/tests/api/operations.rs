//! Health checks and the command line.

use crate::common::TestApp;
use crate::on_both_databases;
use serde_json::{json, Value};
use std::process::Command;

on_both_databases!(
    health_and_readiness_answer,
    the_admin_command_grants_and_revokes_the_operator_flag,
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
