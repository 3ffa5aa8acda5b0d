//! Recovery paths that always close, on SQLite and PostgreSQL: Twilio is
//! asked to retry callbacks we answer with a 5xx; the sweeper takes calls by
//! when they are due and closes expired holds of calls that are over; a
//! panicking job counts toward its attempt limit and a panicking loop keeps
//! going; database trouble answers 503, never 500.

use crate::calls::{
    assert_books_balance, call_row, connect, deliver_status, dial, grant, london_rate, member,
    post_form, settings, status_params, twilio_app, LONDON,
};
use crate::common::fake_twilio::{self, rfc2822, FakeTwilio};
use crate::common::{fresh_database_url, Backend, TestApp, PUBLIC_URL};
use crate::on_both_databases;
use app::domain::{CallStatus, Money};
use app::server::clock;
use app::server::db::calls::{self as call_rows, NewCall};
use app::server::db::{jobs, Db};
use server::providers::twilio::signature as twilio_signature;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

on_both_databases!(
    the_callback_urls_ask_twilio_to_retry_and_callbacks_verify_without_the_fragment,
    the_sweeper_takes_calls_by_when_they_are_due_so_long_calls_cannot_starve_it,
    an_expired_open_hold_whose_call_is_over_or_unknown_is_closed_once,
);

/// What every callback URL handed to Twilio ends with.
const RETRY_FRAGMENT: &str = "#rc=3&rp=ct,rt,5xx";

async fn the_callback_urls_ask_twilio_to_retry_and_callbacks_verify_without_the_fragment(
    backend_app: TestApp,
) {
    let fake = FakeTwilio::start().await;
    let app = twilio_app(backend_app.backend, &fake).await;
    let m = member(&app, "retries@example.com").await;
    grant(&app, &m.org_id, 100).await;
    let (status, call) = dial(&app, &m, LONDON, "retries").await;
    assert_eq!(status, 200, "{call}");
    let row = call_row(&app, call["call_id"].as_str().unwrap()).await;
    // The URLs travel in our voice answer's <Dial> (the browser's leg asking
    // again gets the same answer).
    let attempt: String =
        sqlx::query_scalar("select attempt_id from call_attempt where call_id = $1")
            .bind(&row.call_id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let twiml = connect(&app, &row.call_id, &attempt).await;
    let server::providers::twilio::wire::VoiceAnswer::Dial(sent) =
        server::providers::twilio::wire::parse_voice_answer(&twiml).unwrap()
    else {
        panic!("{twiml}");
    };
    let status_url = format!(
        "{PUBLIC_URL}/webhooks/twilio/status?call={}{RETRY_FRAGMENT}",
        row.call_id
    );
    let action_url = format!(
        "{PUBLIC_URL}/webhooks/twilio/dial-action?call={}{RETRY_FRAGMENT}",
        row.call_id
    );
    assert_eq!(sent.status_callback, status_url);
    assert_eq!(sent.action, action_url);
    assert!(fake.creates().is_empty());

    // Twilio requests the path without the fragment. Signed over the URL it
    // requests, the callback verifies ...
    assert_eq!(
        deliver_status(&app, &row, CallStatus::Ringing, 1, None).await,
        204
    );
    // ... and signed over the URL as it was handed to Twilio, fragment and
    // all, it verifies too.
    let path = format!("/webhooks/twilio/status?call={}", row.call_id);
    let params = status_params(&row, CallStatus::InProgress, 2, None);
    let signature = twilio_signature::sign(fake_twilio::AUTH_TOKEN, &status_url, &params);
    assert_eq!(post_form(&app, &path, &params, Some(&signature)).await, 204);
    assert_eq!(
        call_row(&app, &row.call_id).await.status,
        CallStatus::InProgress
    );
    // Another fragment is another URL: refused.
    let other = twilio_signature::sign(
        fake_twilio::AUTH_TOKEN,
        &format!("{PUBLIC_URL}{path}#rc=5"),
        &params,
    );
    assert_eq!(post_form(&app, &path, &params, Some(&other)).await, 403);
}

/// 150 live calls placed long ago with hours of paid time left, and one
/// short call placed later whose final event never came: the first sweep
/// reconciles the short one.
async fn the_sweeper_takes_calls_by_when_they_are_due_so_long_calls_cannot_starve_it(
    backend_app: TestApp,
) {
    let fake = FakeTwilio::start().await;
    let app = twilio_app(backend_app.backend, &fake).await;
    let m = member(&app, "starve@example.com").await;
    grant(&app, &m.org_id, 100).await;
    let user_id: String =
        sqlx::query_scalar("select user_id from app_user where email = 'starve@example.com'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let now = clock::now();
    let mut conn = app.db.pool.acquire().await.unwrap();
    for i in 0..150 {
        let long = LiveCall {
            key: format!("long-{i}"),
            sid: format!("CAlong{i:030}"),
            max_duration_secs: 86_400,
            created_at: now - 10_000,
        };
        long.insert(&mut conn, &m.org_id, &user_id).await;
    }
    // Placed later, a minute long, due since long ago.
    let sid = "CAstuck000000000000000000000000000";
    let stuck = LiveCall {
        key: "stuck".into(),
        sid: sid.into(),
        max_duration_secs: 60,
        created_at: now - 5_000,
    }
    .insert(&mut conn, &m.org_id, &user_id)
    .await;
    drop(conn);
    let hold = app
        .db
        .place_hold(
            &m.org_id,
            Money::from_cents(2).unwrap(),
            &format!("call:{}:hold", stuck.call_id),
            now - 5_000 + 180 + 60,
            now - 5_000,
        )
        .await
        .unwrap();
    sqlx::query("update call set hold_id = $1 where call_id = $2")
        .bind(&hold.hold_id)
        .bind(&stuck.call_id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    fake.put_call(
        sid,
        "completed",
        Some("30"),
        Some(&rfc2822(now - 4_990)),
        Some(&rfc2822(now - 4_960)),
    );

    let carrier = fake.carrier();
    let swept = app::server::calls::sweep(&app.db, &carrier, &settings(), now)
        .await
        .unwrap();
    let done = call_row(&app, &stuck.call_id).await;
    assert_eq!(
        done.status,
        CallStatus::Completed,
        "swept in the first pass"
    );
    assert_eq!(done.cost, Some(20_000), "one minute of London");
    assert_eq!(swept, 1, "only the call that is due");
    let balance = app.db.balance(&m.org_id).await.unwrap();
    assert_eq!(balance.held, Money::ZERO);
    assert_books_balance(&app, &m.org_id).await;
    assert_eq!(
        app.count("select count(*) from call where ended_at is null")
            .await,
        150,
        "the long calls are left alone"
    );
}

/// A call answered at the carrier, written straight into the table.
struct LiveCall {
    key: String,
    sid: String,
    max_duration_secs: i64,
    created_at: i64,
}

impl LiveCall {
    async fn insert(
        &self,
        conn: &mut sqlx::AnyConnection,
        org_id: &str,
        user_id: &str,
    ) -> call_rows::Call {
        let rate = london_rate();
        let call = call_rows::insert(
            conn,
            &NewCall {
                org_id,
                user_id,
                client_key: &self.key,
                to_number: "+442071838750",
                rate: &rate,
                max_duration_secs: self.max_duration_secs,
                carrier: "twilio",
            },
            self.created_at * 1000,
        )
        .await
        .unwrap();
        sqlx::query(
            "update call set carrier_sid = $1, status = 'in-progress', answered_at = $2
             where call_id = $3",
        )
        .bind(&self.sid)
        .bind(self.created_at + 10)
        .bind(&call.call_id)
        .execute(&mut *conn)
        .await
        .unwrap();
        call
    }
}

async fn hold_state(app: &TestApp, hold_id: &str) -> (String, Option<i64>) {
    sqlx::query_as("select status, closed_at from hold where hold_id = $1")
        .bind(hold_id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

async fn an_expired_open_hold_whose_call_is_over_or_unknown_is_closed_once(backend_app: TestApp) {
    let fake = FakeTwilio::start().await;
    let app = twilio_app(backend_app.backend, &fake).await;
    let m = member(&app, "expired@example.com").await;
    grant(&app, &m.org_id, 100).await;
    let (_, call) = dial(&app, &m, LONDON, "leaked").await;
    let row = call_row(&app, call["call_id"].as_str().unwrap()).await;
    let leaked = row.hold_id.clone().unwrap();
    // The call is over, but its hold was left open (what a bug or a hand
    // edit would leave behind).
    sqlx::query(
        "update call set status = 'busy', end_reason = 'busy', ended_at = $1, duration_secs = 0,
             billed_seconds = 0, cost = 0 where call_id = $2",
    )
    .bind(row.created_at + 5)
    .bind(&row.call_id)
    .execute(&app.db.pool)
    .await
    .unwrap();
    // A hold no call knows (the call took all there was: one more cent for it).
    grant(&app, &m.org_id, 1).await;
    let now = clock::now();
    let orphan = app
        .db
        .place_hold(
            &m.org_id,
            Money::from_micros(1),
            "call:call_nobody_knows:hold",
            now + 60,
            now,
        )
        .await
        .unwrap();
    let expires_at: i64 = sqlx::query_scalar("select expires_at from hold where hold_id = $1")
        .bind(&leaked)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let carrier = fake.carrier();
    let sweep = |at: i64| {
        let (app, carrier) = (&app, &carrier);
        async move {
            app::server::calls::sweep(&app.db, carrier, &settings(), at)
                .await
                .unwrap()
        }
    };
    // Not expired yet: left alone.
    sweep(now).await;
    assert_eq!(hold_state(&app, &leaked).await.0, "open");
    assert_eq!(hold_state(&app, &orphan.hold_id).await.0, "open");

    let late = expires_at.max(now + 60) + 1;
    sweep(late).await;
    let (status, closed_at) = hold_state(&app, &leaked).await;
    assert_eq!(status, "released", "the call cost nothing");
    assert_eq!(hold_state(&app, &orphan.hold_id).await.0, "released");
    let balance = app.db.balance(&m.org_id).await.unwrap();
    assert_eq!(balance.held, Money::ZERO);
    assert_eq!(balance.balance, Money::from_cents(101).unwrap());
    assert_books_balance(&app, &m.org_id).await;

    // Once: a later sweep changes nothing.
    let entries = app.count("select count(*) from ledger_entry").await;
    sweep(late + 3600).await;
    assert_eq!(
        hold_state(&app, &leaked).await,
        ("released".to_owned(), closed_at)
    );
    assert_eq!(
        app.count("select count(*) from ledger_entry").await,
        entries
    );
    assert_books_balance(&app, &m.org_id).await;
}

// ---------------------------------------------------------------------------
// Database trouble answers 503.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connections_terminated_by_the_server_answer_503_not_500() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let m = member(&app, "terminated@example.com").await;
    grant(&app, &m.org_id, 100).await;
    let admin = Db::connect(&app.database_url).await.unwrap();

    // A server function waiting on the database when its connection is
    // terminated by the server (57P01, admin shutdown).
    let quote = {
        let (client, url, org_id) = (
            m.client.clone(),
            app.url("/api/calls/quote"),
            m.org_id.clone(),
        );
        async move {
            client
                .post(url)
                .header("sec-fetch-site", "same-origin")
                .header("accept", "application/json")
                .form(&[
                    ("org_id", org_id.as_str()),
                    ("number", LONDON),
                    ("country", "GB"),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let status = terminated_while_waiting(&admin, "wallet", quote).await;
    assert_eq!(status, 503, "a server function");

    // A plain route (the calls CSV) in the same situation.
    let csv = {
        let (client, url) = (
            m.client.clone(),
            app.url(&format!("/calls.csv?org_id={}", m.org_id)),
        );
        async move { client.get(url).send().await.unwrap() }
    };
    let status = terminated_while_waiting(&admin, "call", csv).await;
    assert_eq!(status, 503, "a plain route");

    // A page whose data is behind the lock: it shows the "unavailable"
    // message, and its status says so too, so load balancers and monitors
    // see an outage rather than a page that answered 200.
    let page = {
        let (client, url) = (m.client.clone(), app.url("/calls"));
        async move { client.get(url).send().await.unwrap() }
    };
    let status = terminated_while_waiting(&admin, "call", page).await;
    assert_eq!(status, 503, "a page");

    // The Stripe webhook: the event is stored, then crediting it meets the
    // terminated connection. 503 (Stripe retries either way), and the retry
    // credits it once.
    let event = crate::stripe_webhook::checkout_event(
        "evt_cut",
        "checkout.session.completed",
        "cs_cut",
        &m.org_id,
        1_000,
        true,
    );
    let status = terminated_while_waiting(&admin, "wallet", app.stripe_delivery(&event)).await;
    assert_eq!(status, 503, "the Stripe webhook");
    terminate_others(&admin).await;
    let mut redelivered = app.deliver_stripe(&event).await;
    if redelivered.status() != 200 {
        // The first connection after the cut may itself be a dead one.
        redelivered = app.deliver_stripe(&event).await;
    }
    assert_eq!(redelivered.status(), 200);
    assert_eq!(
        app.db.balance(&m.org_id).await.unwrap().balance,
        Money::from_cents(1_100).unwrap(),
        "the $1 granted and the $10 bought, once"
    );

    // Terminated while idle, right before a request: the pool replaces the
    // dead connections and the request goes through.
    terminate_others(&admin).await;
    let after = app
        .call(
            &m.client,
            "calls/quote",
            &[("org_id", &m.org_id), ("number", LONDON), ("country", "GB")],
        )
        .await;
    assert_ne!(after.status(), 500);
    let again = app
        .call(
            &m.client,
            "calls/quote",
            &[("org_id", &m.org_id), ("number", LONDON), ("country", "GB")],
        )
        .await;
    assert_eq!(again.status(), 200);
}

/// Locks `table`, starts `request`, waits until a query of the app waits on
/// the lock, terminates every other connection to the database (and then
/// any that comes to wait on the lock, until the request has answered), and
/// returns the request's status.
async fn terminated_while_waiting<F>(admin: &Db, table: &str, request: F) -> u16
where
    F: std::future::Future<Output = reqwest::Response> + Send + 'static,
{
    let mut tx = admin.pool.begin().await.unwrap();
    sqlx::query(&format!("lock table {table} in access exclusive mode"))
        .execute(&mut *tx)
        .await
        .unwrap();
    let pending = tokio::spawn(request);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        sqlx::query("select pg_stat_clear_snapshot()")
            .execute(&mut *tx)
            .await
            .unwrap();
        let (waiting,): (i64,) = sqlx::query_as(
            "select count(*) from pg_stat_activity
             where datname = current_database() and pid <> pg_backend_pid() and wait_event_type = 'Lock'",
        )
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the request never waited on {table}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sqlx::query(
        "select pg_terminate_backend(pid) from pg_stat_activity
         where datname = current_database() and pid <> pg_backend_pid()",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    // A page may run several queries behind the lock, one after another:
    // each one that comes to wait on it is cut off in turn (and only those,
    // so the pool can open new connections) until the request has answered.
    while !pending.is_finished() {
        tokio::time::sleep(Duration::from_millis(50)).await;
        sqlx::query("select pg_stat_clear_snapshot()")
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query(
            "select pg_terminate_backend(pid) from pg_stat_activity
             where datname = current_database() and pid <> pg_backend_pid()
               and wait_event_type = 'Lock'",
        )
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    let response = pending.await.unwrap();
    tx.rollback().await.unwrap();
    response.status().as_u16()
}

async fn terminate_others(admin: &Db) {
    let mut conn = admin.pool.acquire().await.unwrap();
    sqlx::query(
        "select pg_terminate_backend(pid) from pg_stat_activity
         where datname = current_database() and pid <> pg_backend_pid()",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
}

/// SQLite with a short busy timeout: another connection holds the write lock
/// longer, so the dial's write transaction gives up with "database is
/// locked". That is the database being busy, a 503, not a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_busy_past_the_busy_timeout_answers_503_not_500() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("SQLITE_BUSY_TIMEOUT_MS", "200")]).await;
    let m = member(&app, "busy@example.com").await;
    grant(&app, &m.org_id, 100).await;
    let other = Db::connect(&app.database_url).await.unwrap();
    let lock = other.begin_write().await.unwrap();
    let started = std::time::Instant::now();
    let (status, body) = dial(&app, &m, LONDON, "busy").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body, serde_json::Value::from("Unavailable"));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "gave up after the configured 200 ms busy timeout, not the default 5 s ({:?})",
        started.elapsed()
    );
    lock.rollback().await.unwrap();
    let (status, body) = dial(&app, &m, LONDON, "busy-again").await;
    assert_eq!(status, 200, "{body}");
}

// ---------------------------------------------------------------------------
// Panics: a panicking job counts toward its attempt limit, and a periodic
// loop carries on after a panic in one iteration.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_job_is_retried_then_given_up_after_its_attempt_limit_on_sqlite() {
    a_panicking_job_is_retried_then_given_up_after_its_attempt_limit(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_job_is_retried_then_given_up_after_its_attempt_limit_on_postgres() {
    a_panicking_job_is_retried_then_given_up_after_its_attempt_limit(Backend::Postgres).await;
}

/// The runner's outcome recording, driven by hand on a bare database (no
/// application, so no other runner claims the job) with a handler that
/// always panics.
async fn a_panicking_job_is_retried_then_given_up_after_its_attempt_limit(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&fresh_database_url(backend, dir.path()).await)
        .await
        .unwrap();
    db.migrate().await.unwrap();
    jobs::enqueue(
        &db.pool,
        &jobs::NewJob {
            kind: "test.panics",
            payload: &serde_json::json!({}),
            dedupe_key: Some("test:panics"),
            run_at_ms: 0,
        },
        0,
    )
    .await
    .unwrap();
    // Far enough ahead that every backoff has passed.
    let later_ms = clock::now_ms() + 86_400_000;
    for attempt in 1..=server::jobs::MAX_ATTEMPTS {
        let job = jobs::claim_due(&db.pool, "test-worker", later_ms, later_ms + 60_000)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("attempt {attempt}: the job can be claimed again"));
        assert_eq!(job.attempts, attempt);
        let handler = async move {
            if attempt > 0 {
                panic!("handler blew up on attempt {attempt}");
            }
            Ok(())
        };
        server::jobs::run_claimed(&db, &job, handler).await.unwrap();
        let (finished_at, last_error, locked_by): (Option<i64>, Option<String>, Option<String>) =
            sqlx::query_as("select finished_at, last_error, locked_by from job where job_id = $1")
                .bind(&job.job_id)
                .fetch_one(&db.pool)
                .await
                .unwrap();
        let last_error = last_error.unwrap_or_default();
        assert!(
            last_error.contains(&format!("handler blew up on attempt {attempt}")),
            "attempt {attempt}: {last_error}"
        );
        assert_eq!(
            locked_by, None,
            "attempt {attempt}: the lease is given back"
        );
        if attempt < server::jobs::MAX_ATTEMPTS {
            assert_eq!(finished_at, None, "attempt {attempt}: retried");
        } else {
            assert!(finished_at.is_some(), "given up after the last attempt");
        }
    }
    let none = jobs::claim_due(&db.pool, "test-worker", later_ms, later_ms + 60_000)
        .await
        .unwrap();
    assert!(none.is_none(), "a given-up job is not claimed again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_periodic_loop_carries_on_after_a_panic_in_one_iteration() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    let task = tokio::spawn(server::jobs::repeat_forever(
        "test loop",
        Duration::from_millis(10),
        move || {
            let counted = counted.clone();
            async move {
                if counted.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("the first iteration fails");
                }
            }
        },
    ));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while runs.load(Ordering::SeqCst) < 3 {
        assert!(
            std::time::Instant::now() < deadline && !task.is_finished(),
            "the loop stopped after {} iterations",
            runs.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!task.is_finished());
    task.abort();
}
