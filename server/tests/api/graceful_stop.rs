//! Beginning shutdown (`Application::shutdown_token`, cancelled when
//! `run_until`'s signal fires): open live streams end instead of holding the
//! server up, and the job runner claims no more work.

use crate::common::TestApp;
use crate::on_both_databases;
use app::server::clock;
use app::server::db::jobs::{self, NewJob};
use std::time::Duration;

on_both_databases!(shutdown_ends_open_live_streams_and_the_job_runner_claims_nothing_more);

async fn shutdown_ends_open_live_streams_and_the_job_runner_claims_nothing_more(app: TestApp) {
    let browser = app.new_browser();
    assert!(app
        .register(&browser, "Ada Stopper", "stop@example.com")
        .await
        .status()
        .is_success());
    let org_id = app.account(&browser).await["current_org"]["org_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut stream = browser
        .get(app.url(&format!("/calls/live?org_id={org_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);

    app.shutdown.cancel();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await;
    assert!(
        ended.is_ok(),
        "the live stream is still open 5 s into shutdown"
    );

    // A job due now, enqueued after shutdown began, is left for another instance.
    let now_ms = clock::now_ms();
    jobs::enqueue(
        &app.db.pool,
        &NewJob {
            kind: "test.after_shutdown",
            payload: &serde_json::json!({}),
            dedupe_key: None,
            run_at_ms: now_ms,
        },
        now_ms / 1000,
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let untouched = app
        .count(
            "select count(*) from job where kind = 'test.after_shutdown'
               and attempts = 0 and locked_by is null and finished_at is null",
        )
        .await;
    assert_eq!(
        untouched, 1,
        "the job runner claimed work after shutdown began"
    );
}
