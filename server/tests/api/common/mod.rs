//! Spawns the real application on port 0 with a fresh database (a temp SQLite
//! file, or a new PostgreSQL database on the local server) and talks to it
//! over HTTP like a browser would.
#![allow(dead_code)]

pub mod fake_stripe;
pub mod fake_twilio;
pub mod jobs;
pub mod smtp;

use app::server::db::Db;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{redirect, Client, Response};
use server::config::Config;
use server::startup::Application;
use std::collections::HashMap;
use std::net::SocketAddr;

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named test case (an `async fn(TestApp)`) once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_databases {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($crate::common::TestApp::spawn($crate::common::Backend::Sqlite).await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($crate::common::TestApp::spawn($crate::common::Backend::Postgres).await).await;
                }
            )*
        }
    };
}

pub const PASSWORD: &str = "a long enough passphrase";
/// Loopback, so the Twilio tests may use it over plain http (a real provider
/// needs https otherwise: `config.rs`).
pub const PUBLIC_URL: &str = "http://localhost:3000";
pub const STRIPE_WEBHOOK_SECRET: &str = "whsec_test_secret_for_the_api_tests";

pub struct TestApp {
    pub addr: SocketAddr,
    pub db: Db,
    pub backend: Backend,
    pub database_url: String,
    /// A browser: keeps cookies, does not follow redirects (tests look at them).
    pub client: Client,
    /// Cancel to begin this instance's shutdown (`Application::shutdown_token`).
    pub shutdown: tokio_util::sync::CancellationToken,
    /// The serving task: ends when shutdown has finished.
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
    _data_dir: tempfile::TempDir,
}

/// The server the PostgreSQL tests create their databases on.
fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

pub async fn fresh_database_url(backend: Backend, data_dir: &std::path::Path) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}/test.db?mode=rwc", data_dir.display()),
        Backend::Postgres => {
            let admin = Db::connect(&postgres_admin_url())
                .await
                .expect("PostgreSQL answers at TEST_POSTGRES_URL (scripts/test.sh starts it)");
            let name = app::server::ids::new_id("pb_test");
            sqlx::query(&format!("create database {name}"))
                .execute(&admin.pool)
                .await
                .unwrap();
            admin.pool.close().await;
            let base = postgres_admin_url();
            let (server, _) = base.rsplit_once('/').unwrap();
            format!("{server}/{name}")
        }
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, &[]).await
    }

    pub async fn spawn_with(backend: Backend, extra: &[(&str, &str)]) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let database_url = fresh_database_url(backend, data_dir.path()).await;
        Self::start(backend, database_url, data_dir, extra).await
    }

    /// Stops nothing, but starts a second instance on the same database: what a
    /// restart (or another instance behind a load balancer) looks like.
    pub async fn restarted(self) -> Self {
        Self::restarted_with(self, &[]).await
    }

    /// `restarted` with extra settings (the same ones the first instance had).
    pub async fn restarted_with(self, extra: &[(&str, &str)]) -> Self {
        Self::start(
            self.backend,
            self.database_url.clone(),
            self._data_dir,
            extra,
        )
        .await
    }

    async fn start(
        backend: Backend,
        database_url: String,
        data_dir: tempfile::TempDir,
        extra: &[(&str, &str)],
    ) -> Self {
        Self::start_until(
            backend,
            database_url,
            data_dir,
            extra,
            std::future::pending(),
        )
        .await
    }

    /// Like `spawn_with`, but the server stops when `shutdown` resolves; the
    /// handle finishes once it has stopped.
    pub async fn spawn_stoppable(
        backend: Backend,
        extra: &[(&str, &str)],
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> (Self, tokio::task::JoinHandle<std::io::Result<()>>) {
        let data_dir = tempfile::tempdir().unwrap();
        let database_url = fresh_database_url(backend, data_dir.path()).await;
        let mut app = Self::start_until(backend, database_url, data_dir, extra, shutdown).await;
        // The caller awaits the serving task itself.
        let running = std::mem::replace(&mut app.server, tokio::spawn(async { Ok(()) }));
        (app, running)
    }

    async fn start_until(
        backend: Backend,
        database_url: String,
        data_dir: tempfile::TempDir,
        extra: &[(&str, &str)],
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Self {
        if std::env::var_os("TEST_LOG").is_some() {
            server::telemetry::init(server::config::LogFormat::Pretty);
        }
        let mut vars: HashMap<String, String> = HashMap::from([
            ("DATABASE_URL".into(), database_url.clone()),
            ("BIND_ADDR".into(), "127.0.0.1:0".into()),
            ("PUBLIC_URL".into(), PUBLIC_URL.into()),
            (
                "SESSION_SECRET".into(),
                "test-session-secret-that-is-long-enough".into(),
            ),
            ("STRIPE_WEBHOOK_SECRET".into(), STRIPE_WEBHOOK_SECRET.into()),
            // Auto-recharge tests should not wait out the default 15 s scan.
            ("AUTO_RECHARGE_SCAN_SECS".into(), "1".into()),
            // The suite runs many servers against one PostgreSQL on two cores:
            // a test of fifty racing writers should get slower there, not see
            // the production 5 s wait for a pooled connection run out.
            ("DB_ACQUIRE_TIMEOUT_MS".into(), "60000".into()),
            ("DATA_DIR".into(), data_dir.path().display().to_string()),
            (
                "LEPTOS_SITE_ROOT".into(),
                data_dir.path().display().to_string(),
            ),
        ]);
        for (key, value) in extra {
            vars.insert(key.to_string(), value.to_string());
        }
        let config =
            Config::from_lookup(|name| vars.get(name).cloned()).expect("valid test configuration");
        let application = Application::build(&config)
            .await
            .expect("the application starts");
        let addr = application.local_addr();
        let db = application.db().clone();
        let token = application.shutdown_token();
        let server = tokio::spawn(application.run_until(shutdown));
        Self {
            addr,
            db,
            backend,
            database_url,
            client: browser(),
            shutdown: token,
            server,
            _data_dir: data_dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A second, independent browser (its own cookies).
    pub fn new_browser(&self) -> Client {
        browser()
    }

    /// Calls a server function the way the hydrated app does: a same-origin form POST asking for JSON.
    pub async fn call(&self, client: &Client, function: &str, form: &[(&str, &str)]) -> Response {
        client
            .post(self.url(&format!("/api/{function}")))
            .header("sec-fetch-site", "same-origin")
            .header("accept", "application/json")
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// Calls a server function that must answer as if the thing asked for
    /// did not exist: 404 with the `NotFound` error, whoever's it is.
    pub async fn assert_not_found(&self, client: &Client, function: &str, form: &[(&str, &str)]) {
        let response = self.call(client, function, form).await;
        assert_eq!(response.status(), 404, "{function} {form:?}");
        assert_eq!(
            response.json::<serde_json::Value>().await.unwrap(),
            serde_json::Value::from("NotFound"),
            "{function} {form:?}"
        );
    }

    pub async fn register(&self, client: &Client, name: &str, email: &str) -> Response {
        self.call(
            client,
            "auth/register",
            &[("name", name), ("email", email), ("password", PASSWORD)],
        )
        .await
    }

    pub async fn login(&self, client: &Client, email: &str, password: &str) -> Response {
        self.call(
            client,
            "auth/login",
            &[("email", email), ("password", password)],
        )
        .await
    }

    pub async fn account(&self, client: &Client) -> serde_json::Value {
        let response = self.call(client, "auth/account", &[]).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// Delivers a Stripe event to `/webhooks/stripe`, signed now with the test secret.
    pub async fn deliver_stripe(&self, event: &serde_json::Value) -> Response {
        self.stripe_delivery(event).await
    }

    /// `deliver_stripe` as a future that owns what it needs (for `tokio::spawn`).
    pub fn stripe_delivery(
        &self,
        event: &serde_json::Value,
    ) -> impl std::future::Future<Output = Response> + Send + 'static {
        let body = serde_json::to_vec(event).unwrap();
        let now = app::server::clock::now();
        let signature =
            server::providers::stripe::signature::sign(STRIPE_WEBHOOK_SECRET, now, &body);
        let request = self
            .client
            .post(self.url("/webhooks/stripe"))
            .header("stripe-signature", signature)
            .header("content-type", "application/json")
            .body(body);
        async move { request.send().await.unwrap() }
    }

    /// An organization with no members, for tests of money that need only its id.
    pub async fn new_org(&self) -> String {
        let org_id = app::server::ids::new_id("org");
        app::server::db::orgs::insert(&self.db.pool, &org_id, "Test organization", false, 0)
            .await
            .unwrap();
        org_id
    }

    /// Runs the due jobs to completion: returns once no job whose time has
    /// come is unfinished, so every effect of the jobs a request queued (a
    /// sandbox event delivered, a hangup sent) can be asserted at once.
    /// Panics after `jobs::SETTLE_TIMEOUT` listing the jobs still due.
    pub async fn settle_jobs(&self) {
        jobs::settle(&self.db).await;
    }

    /// For waits that are time-based or start outside the queue (a
    /// simulated call answering after seconds, a forced hangup at its
    /// deadline, the periodic auto-recharge scan): lets time pass, settling
    /// the queue as jobs come due, until `sql` counts `expected` at a settled
    /// moment. Panics after `jobs::UNTIL_TIMEOUT` listing unfinished jobs.
    pub async fn run_jobs_until_count(&self, sql: &str, expected: i64) {
        jobs::run_until_count(&self.db, sql, expected).await;
    }

    /// The HTML of `path` as `client` gets it (whatever the status).
    pub async fn page(&self, client: &Client, path: &str) -> String {
        client
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn count(&self, sql: &str) -> i64 {
        let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&self.db.pool).await.unwrap();
        n
    }
}

fn browser() -> Client {
    let mut headers = HeaderMap::new();
    headers.insert("user-agent", HeaderValue::from_static("phonebooth-tests"));
    Client::builder()
        .cookie_store(true)
        .redirect(redirect::Policy::none())
        .default_headers(headers)
        .build()
        .unwrap()
}

/// The value of our session cookie in a response's Set-Cookie, if it set one.
/// Where a response redirects the browser (a server function that ends in
/// `leptos_axum::redirect`, such as a checkout or the Billing Portal).
/// A page's HTML without the empty comments (`<!>`) Leptos writes after
/// text nodes for hydration when component types are erased (`<h1>Calls<!></h1>`):
/// the markup as a reader of it sees it, for asserting on a heading or a sentence.
pub fn without_hydration_markers(html: &str) -> String {
    html.replace("<!>", "")
}

pub fn location(response: &Response) -> String {
    response
        .headers()
        .get("location")
        .unwrap_or_else(|| panic!("a redirect, got {}", response.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

pub fn session_cookie(response: &Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.contains("phonebooth_session="))
        .map(str::to_owned)
}
