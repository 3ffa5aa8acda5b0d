//! The forced hangup survives `kill -9`: the real `phonebooth` binary places
//! a simulated call, is killed while the call is live, stays down past the
//! hangup's deadline, and is started again on the same database. The overdue
//! hangup runs right after start and the charge is exactly the maximum.
//! Once on SQLite and once on PostgreSQL.

use crate::common::{fresh_database_url, jobs, Backend, PASSWORD};
use app::domain::Money;
use app::server::db::ledger::{EntryKind, NewEntry};
use app::server::db::Db;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    a_hangup_due_while_the_server_was_down_runs_after_restart(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    a_hangup_due_while_the_server_was_down_runs_after_restart(Backend::Postgres).await;
}

struct Server {
    child: Child,
    base: String,
}

fn start(database_url: &str, data_dir: &std::path::Path) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_phonebooth"))
        .env("DATABASE_URL", database_url)
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        // Fixed across restarts: callbacks are signed against it.
        .env("PUBLIC_URL", "http://phonebooth.test")
        .env("SESSION_SECRET", "restart-test-session-secret-long-enough")
        .env("DATA_DIR", data_dir)
        .env("LEPTOS_SITE_ROOT", data_dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the phonebooth binary starts");
    Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

async fn ready(server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("{}/readyz", server.base))
        .await
        .ok()
        .map(|r| r.status())
        != Some(reqwest::StatusCode::OK)
    {
        assert!(Instant::now() < deadline, "the server did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn call_state(db: &Db) -> Option<(String, Option<String>, Option<i64>, Option<i64>)> {
    sqlx::query_as("select status, end_reason, billed_seconds, hangup_sent_at_ms from call")
        .fetch_optional(&db.pool)
        .await
        .unwrap()
}

async fn a_hangup_due_while_the_server_was_down_runs_after_restart(backend: Backend) {
    // The test's own HTTP client needs the TLS provider the app installs for itself.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let data_dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database_url(backend, data_dir.path()).await;
    let mut first = start(&database_url, data_dir.path());
    ready(&first).await;
    let db = Db::connect(&database_url).await.unwrap();

    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let api = |path: &str| format!("{}/api/{path}", first.base);
    let form = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    };
    let post = |path: String, body: Vec<(String, String)>| {
        client
            .post(path)
            .header("sec-fetch-site", "same-origin")
            .header("accept", "application/json")
            .form(&body)
            .send()
    };
    let registered = post(
        api("auth/register"),
        form(&[
            ("name", "Kill Nine"),
            ("email", "kill9@example.com"),
            ("password", PASSWORD),
        ]),
    )
    .await
    .unwrap();
    assert!(registered.status().is_success());
    let account: serde_json::Value = post(api("auth/account"), vec![])
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let org_id = account["current_org"]["org_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Ten seconds of talk: 5 cents per 5 s increment, 10 cents of credit.
    sqlx::query(
        "insert into rate (prefix, country_code, country_name, description, price_per_minute,
             connection_fee, initial_increment, subsequent_increment, blocked, blocked_reason, created_at)
         values ('3110', 'NL', 'Netherlands', 'Rotterdam (test rate)', 600000, 0, 5, 5, 0, null, 0)",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    db.post(
        &NewEntry {
            org_id: &org_id,
            kind: EntryKind::Grant,
            amount: Money::from_cents(10).unwrap(),
            actor: "system",
            description: "test credit",
            idempotency_key: "restart-test-grant",
        },
        app::server::clock::now(),
    )
    .await
    .unwrap();
    let dialed = post(
        api("calls/start"),
        form(&[
            ("org_id", &org_id),
            ("number", "+31 10 123 4567"),
            ("country", "NL"),
            ("client_key", "kill9"),
        ]),
    )
    .await
    .unwrap();
    assert_eq!(dialed.status(), 200, "{}", dialed.text().await.unwrap());

    // The simulated carrier answers seconds after the dial; waiting on its
    // jobs means none is half done when the server is killed.
    jobs::run_until_count(
        &db,
        "select count(*) from call where status = 'in-progress'",
        1,
    )
    .await;
    first.child.kill().unwrap(); // SIGKILL: no shutdown of any kind
    first.child.wait().unwrap();
    let hangup_at_ms: i64 = sqlx::query_scalar("select hangup_at_ms from call")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    // Stay down until the hangup is overdue.
    let now_ms = app::server::clock::now_ms();
    tokio::time::sleep(Duration::from_millis(
        (hangup_at_ms - now_ms + 1500).max(0) as u64
    ))
    .await;
    assert_eq!(
        call_state(&db).await.unwrap().0,
        "in-progress",
        "nothing ran while it was down"
    );

    let mut second = start(&database_url, data_dir.path());
    ready(&second).await;
    // The overdue hangup is due at once: run it and the callback it brings.
    jobs::settle(&db).await;
    let (status, reason, billed, _) = call_state(&db).await.expect("the call");
    second.child.kill().unwrap();
    second.child.wait().unwrap();
    assert_eq!(status, "completed");
    assert_eq!(reason.as_deref(), Some("credits_exhausted"));
    assert_eq!(billed, Some(10));
    let charges: Vec<i64> =
        sqlx::query_scalar("select amount from ledger_entry where kind = 'call_charge'")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(charges, vec![-100_000], "exactly the maximum, once");
    let balance = db.balance(&org_id).await.unwrap();
    assert_eq!((balance.balance, balance.held), (Money::ZERO, Money::ZERO));
    assert_eq!(balance, db.recomputed_balance(&org_id).await.unwrap());
}
