//! Mail really sent: through a real SMTP server (aiosmtpd, `common::smtp`),
//! retried with backoff when refused for now, marked failed with the error
//! when refused for good or after the last attempt, resent by an operator,
//! and left queued in the outbox when no SMTP_URL is set.

use crate::common::smtp::SmtpSink;
use crate::common::{Backend, TestApp, PASSWORD};
use crate::on_both_databases;

on_both_databases!(
    mail_refused_twice_is_retried_then_delivered_once,
    mail_refused_for_good_is_failed_with_the_error_and_an_operator_can_resend_it,
    mail_refused_on_every_attempt_is_failed_after_the_last,
    without_smtp_url_mail_stays_queued_in_the_outbox,
);

/// An app sending through `sink`, with a registered Ada.
async fn app_sending_to(backend: Backend, sink: &SmtpSink) -> TestApp {
    let settings = sink.settings();
    let extra: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = TestApp::spawn_with(backend, &extra).await;
    app.register(&app.new_browser(), "Ada", "ada@example.com")
        .await;
    app
}

/// Queues one mail to Ada (a reset request).
async fn queue_a_mail(app: &TestApp) {
    let response = app
        .call(
            &app.new_browser(),
            "auth/forgot-password",
            &[("email", "ada@example.com")],
        )
        .await;
    assert_eq!(response.status(), 200);
}

async fn outbox_row(app: &TestApp) -> (String, i64, Option<String>) {
    sqlx::query_as("select status, attempts, last_error from outbox_email")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

async fn mail_refused_twice_is_retried_then_delivered_once(app: TestApp) {
    let sink = SmtpSink::refusing(2, 451);
    let app = app_sending_to(app.backend, &sink).await;
    queue_a_mail(&app).await;
    app.run_jobs_until_count("select count(*) from outbox_email where status = 'sent'", 1)
        .await;
    let (status, attempts, last_error) = outbox_row(&app).await;
    assert_eq!((status.as_str(), attempts), ("sent", 3));
    assert_eq!(last_error, None);
    // Give a duplicate every chance to show up: there is none.
    app.settle_jobs().await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let delivered = sink.delivered();
    assert_eq!(delivered.len(), 1, "delivered exactly once");
    assert_eq!(delivered[0].rcpt_tos, ["ada@example.com"]);
    assert!(delivered[0].from.contains("calls@phonebooth.test"));
    assert!(delivered[0].text.is_some() && delivered[0].html.is_some());
    assert!(delivered[0].message_id.contains("@phonebooth"));
}

async fn mail_refused_for_good_is_failed_with_the_error_and_an_operator_can_resend_it(
    app: TestApp,
) {
    let sink = SmtpSink::refusing(1, 550);
    let app = app_sending_to(app.backend, &sink).await;
    queue_a_mail(&app).await;
    app.run_jobs_until_count(
        "select count(*) from outbox_email where status = 'failed'",
        1,
    )
    .await;
    let (_, attempts, last_error) = outbox_row(&app).await;
    assert_eq!(attempts, 1, "a permanent refusal is not retried");
    assert!(
        last_error.as_deref().unwrap_or("").contains("550"),
        "{last_error:?}"
    );
    assert!(sink.delivered().is_empty());

    // Ada is no operator: she can neither list nor resend.
    let ada = app.new_browser();
    app.login(&ada, "ada@example.com", PASSWORD).await;
    assert_eq!(app.call(&ada, "platform/outbox", &[]).await.status(), 403);

    let operator = app.new_browser();
    app.register(&operator, "Olga", "olga@example.com").await;
    app::server::db::users::set_operator(&app.db.pool, "olga@example.com", true)
        .await
        .unwrap();
    let listed = app.call(&operator, "platform/outbox", &[]).await;
    assert_eq!(listed.status(), 200);
    let listed: serde_json::Value = listed.json().await.unwrap();
    let mail = &listed[0];
    assert_eq!(mail["status"], "failed");
    assert!(mail.get("body").is_none(), "bodies are not listed");
    let email_id = mail["email_id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.call(&ada, "platform/resend-mail", &[("email_id", &email_id)])
            .await
            .status(),
        403
    );
    assert_eq!(
        app.call(
            &operator,
            "platform/resend-mail",
            &[("email_id", "eml_nope")]
        )
        .await
        .status(),
        404
    );
    let resent = app
        .call(
            &operator,
            "platform/resend-mail",
            &[("email_id", &email_id)],
        )
        .await;
    assert_eq!(resent.status(), 200);
    app.run_jobs_until_count("select count(*) from outbox_email where status = 'sent'", 1)
        .await;
    assert_eq!(sink.wait_for(1).await.len(), 1);
    let listed: serde_json::Value = app
        .call(&operator, "platform/outbox", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["status"], "sent");
    assert_eq!(listed[0]["attempts"], 1);
}

async fn mail_refused_on_every_attempt_is_failed_after_the_last(app: TestApp) {
    let sink = SmtpSink::refusing(100, 451);
    let app = app_sending_to(app.backend, &sink).await;
    queue_a_mail(&app).await;
    app.run_jobs_until_count(
        "select count(*) from outbox_email where status = 'failed'",
        1,
    )
    .await;
    let (_, attempts, last_error) = outbox_row(&app).await;
    assert_eq!(attempts, 4, "four attempts, then given up");
    assert!(
        last_error.as_deref().unwrap_or("").contains("451"),
        "{last_error:?}"
    );
    assert!(sink.delivered().is_empty());
}

async fn without_smtp_url_mail_stays_queued_in_the_outbox(app: TestApp) {
    app.register(&app.new_browser(), "Ada", "ada@example.com")
        .await;
    queue_a_mail(&app).await;
    app.settle_jobs().await;
    let (status, attempts, last_error) = outbox_row(&app).await;
    assert_eq!((status.as_str(), attempts), ("queued", 0));
    assert_eq!(last_error, None);
    let (html,): (Option<String>,) = sqlx::query_as("select html_body from outbox_email")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(html.is_some_and(|html| html.contains("<a href=")));
}
