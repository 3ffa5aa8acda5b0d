//! The platform's mode (payments and carrier, real or simulated) is shown to
//! operators only, checked on the server.

use crate::common::fake_twilio::FakeTwilio;
use crate::common::{Backend, TestApp};
use crate::on_both_databases;
use serde_json::{json, Value};

on_both_databases!(an_operator_sees_the_platform_mode_and_a_non_operator_gets_nothing);

async fn an_operator_sees_the_platform_mode_and_a_non_operator_gets_nothing(app: TestApp) {
    let operator = app.new_browser();
    let member = app.new_browser();
    assert!(app
        .register(&operator, "Olga Operator", "olga@example.com")
        .await
        .status()
        .is_success());
    assert!(app
        .register(&member, "Mia Member", "mia@example.com")
        .await
        .status()
        .is_success());
    assert!(
        app::server::db::users::set_operator(&app.db.pool, "olga@example.com", true)
            .await
            .unwrap()
    );

    let response = app.call(&operator, "platform/mode", &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"payments": "sandbox", "carrier": "simulated"})
    );

    let response = app.call(&member, "platform/mode", &[]).await;
    assert_eq!(response.status(), 403);
    let body = response.text().await.unwrap();
    assert!(
        !body.contains("sandbox") && !body.contains("simulated"),
        "{body}"
    );

    let response = app.call(&app.new_browser(), "platform/mode", &[]).await;
    assert_eq!(response.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_of_a_twilio_test_deployment_sees_real_calls_on_sandbox_payments() {
    let fake = FakeTwilio::start().await;
    let settings = fake.settings();
    let extra: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = TestApp::spawn_with(Backend::Sqlite, &extra).await;
    let operator = app.new_browser();
    assert!(app
        .register(&operator, "Olga Operator", "olga@example.com")
        .await
        .status()
        .is_success());
    app::server::db::users::set_operator(&app.db.pool, "olga@example.com", true)
        .await
        .unwrap();
    let response = app.call(&operator, "platform/mode", &[]).await;
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"payments": "sandbox", "carrier": "twilio"})
    );
    // The settings page shows it to the operator.
    let page = app.page(&operator, "/settings").await;
    assert!(
        page.contains("Platform") && page.contains("twilio"),
        "{page}"
    );
}
