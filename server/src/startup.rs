//! Assembling the application: database, sessions, the Leptos routes and
//! server functions, health checks and the middleware stack. Tests build the
//! same `Application` on port 0 (see `server/tests/`).

use crate::call_events::LiveStreams;
use crate::config::{Config, Secret};
use crate::providers::twilio::{SimTiming, SimulatedCarrier};
use crate::state::{ServerState, WebhookSecrets};
use crate::{health, jobs, page_gate, providers, server_fn_status, web_security, webhooks};
use anyhow::Context;
use app::server::calls::CallSettings;
use app::server::db::{Db, DbOptions};
use app::server::providers::carrier::Carrier;
use app::server::providers::payments::PaymentProvider;
use app::server::providers::sandbox::SandboxPayments;
use app::server::session_store::DbSessionStore;
use app::server::AppState;
use app::{shell, App};
use axum::routing::{get, post};
use axum::{middleware, Router};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use rand::RngCore;
use sha2::{Digest, Sha512};
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::map_request_body::MapRequestBodyLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::{time::Duration as CookieDuration, Key, SameSite};
use tower_sessions::{Expiry, SessionManagerLayer};

/// The SMTP sender, or None (mail stays in the outbox). Logs where mail
/// goes, never the URL (it may hold the password).
fn mail_sender(config: &Config) -> anyhow::Result<Option<Arc<crate::mail::Mailer>>> {
    match &config.mail {
        Some(settings) => {
            tracing::info!(server = %settings.server, from = %settings.from, "mail is sent over SMTP");
            Ok(Some(Arc::new(crate::mail::Mailer::new(settings)?)))
        }
        None => {
            tracing::info!("SMTP_URL not set: mail stays in the outbox");
            Ok(None)
        }
    }
}

/// Larger bodies are refused with 413 before any handler reads them.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The forced hangup is sent this long before a call's paid time runs out,
/// so the carrier's reported duration stays inside the last paid increment.
const HANGUP_MARGIN_MS: i64 = 1_000;
const SESSION_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

pub struct Application {
    listener: TcpListener,
    router: Router,
    db: Db,
    stripe_webhook_secret: Secret,
    jobs: jobs::JobContext,
    /// Cancelled when shutdown begins: the job runner stops claiming work,
    /// the live streams end and their listener stops (see `run_until`).
    shutdown: CancellationToken,
    live: LiveStreams,
    /// For the live streams' listener (its own PostgreSQL connection).
    database_url: Secret,
    http: crate::http_limits::HttpLimits,
}

impl Application {
    /// Opens the database, applies migrations and binds the listener.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        // One TLS crypto provider for every client (ring, as sqlx and Stripe
        // use); a second install, as in tests with many apps, is a no-op.
        let _ = rustls::crypto::ring::default_provider().install_default();
        // The numbering-plan metadata loads on first use (≈100 ms in release):
        // load it now, off the runtime, rather than in the first quote.
        tokio::task::spawn_blocking(app::server::phone::warm_up);
        if config.database_url.expose().starts_with("sqlite:") {
            std::fs::create_dir_all(&config.data_dir).with_context(|| {
                format!("creating the data folder {}", config.data_dir.display())
            })?;
        }
        let db_options = DbOptions {
            sqlite_busy_timeout_ms: config.sqlite_busy_timeout_ms,
            acquire_timeout_ms: config.db_acquire_timeout_ms,
        };
        let db = Db::connect_with(config.database_url.expose(), db_options)
            .await
            .context("opening the database (DATABASE_URL)")?;
        db.migrate().await.context("applying database migrations")?;
        crate::rates_import::load_sample_if_empty(&db).await?;
        let listener = TcpListener::bind(config.bind_addr)
            .await
            .with_context(|| format!("listening on {} (BIND_ADDR)", config.bind_addr))?;
        let key = session_key(config)?;
        let stripe_webhook_secret = match &config.stripe_webhook_secret {
            Some(secret) => secret.clone(),
            None => Secret::new(generated_secret(
                &config.data_dir.join("stripe_webhook_secret"),
                "whsec_",
            )?),
        };
        let twilio_auth_token = match &config.twilio_auth_token {
            Some(token) => token.clone(),
            None => Secret::new(generated_secret(
                &config.data_dir.join("twilio_auth_token"),
                "",
            )?),
        };
        let public_url = config.public_url.as_str().trim_end_matches('/').to_owned();
        let calling = CallSettings {
            max_duration_ceiling_secs: config.call_max_duration_secs,
            confirm_above_per_minute: config.call_confirm_above_per_minute,
            caller_id: config.caller_id.clone(),
            hangup_margin_ms: HANGUP_MARGIN_MS,
            payment_grace_secs: config.subscriptions.grace_secs,
        };
        let (carrier, simulated): (Arc<dyn Carrier>, _) = match &config.twilio {
            Some(account) => (
                Arc::new(providers::twilio::TwilioCarrier::new(
                    &account.account_sid,
                    &twilio_auth_token,
                    &account.voice,
                    config.twilio_api_base.as_ref(),
                )),
                None,
            ),
            None => {
                let simulated = Arc::new(SimulatedCarrier::new(db.clone(), SimTiming::default()));
                (simulated.clone(), Some(simulated))
            }
        };
        tracing::info!(carrier = carrier.name(), "carrier");
        let payments: Arc<dyn PaymentProvider> = match &config.stripe_secret_key {
            Some(key) => Arc::new(
                providers::stripe::StripeProvider::new(key, config.stripe_api_base.as_ref())
                    .context("setting up the Stripe client (STRIPE_SECRET_KEY, STRIPE_API_BASE)")?,
            ),
            None => Arc::new(SandboxPayments::new(db.clone())),
        };
        tracing::info!(provider = payments.name(), "payments");
        tracing::info!(
            payments = config.payments_mode(),
            carrier = config.carrier_mode(),
            public_url = %config.public_url,
            "platform mode"
        );
        if config.free_real_calls() {
            tracing::warn!(
                "ALLOW_SANDBOX_PAYMENTS_WITH_TWILIO=1: real Twilio calls are paid with SANDBOX \
                 credits that anyone can buy with a test card. This must only ever be a private \
                 test deployment."
            );
        }
        tracing::info!(trusted_proxies = ?config.trusted_proxies, "client addresses (TRUSTED_PROXIES)");
        let state = AppState {
            db: db.clone(),
            payments,
            public_url,
            purchase_limits: config.purchase_limits,
            carrier,
            calling,
            trusted_proxies: config.trusted_proxies.clone(),
            subscriptions: config.subscriptions.clone(),
        };
        let state = ServerState {
            app: state,
            secrets: WebhookSecrets {
                stripe: stripe_webhook_secret.clone(),
                twilio_auth_token,
            },
        };
        let shutdown = CancellationToken::new();
        let live = LiveStreams::new(
            db.clone(),
            config.live_session_check_every,
            shutdown.clone(),
        );
        let router = router(config, state.clone(), key, live.clone())?;
        // Jobs reach our own webhook over loopback, whatever PUBLIC_URL says.
        let local = listener.local_addr().context("reading the bound address")?;
        let loopback = if local.ip().is_unspecified() {
            std::net::SocketAddr::from(([127, 0, 0, 1], local.port()))
        } else {
            local
        };
        let jobs = jobs::JobContext {
            app: state.app,
            secrets: state.secrets,
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(15))
                .build()
                .context("building the HTTP client")?,
            stripe_webhook_url: format!("http://{loopback}/webhooks/stripe"),
            loopback_base: format!("http://{loopback}"),
            simulated,
            auto_recharge_scan_every: config.auto_recharge_scan_every,
            call_sweep_every: config.call_sweep_every,
            mailer: mail_sender(config)?,
        };
        app::server::password_hash::warm_up().await;
        Ok(Self {
            listener,
            router,
            db,
            stripe_webhook_secret,
            jobs,
            shutdown,
            live,
            database_url: config.database_url.clone(),
            http: config.http,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The secret `/webhooks/stripe` verifies with (configured or generated).
    pub fn stripe_webhook_secret(&self) -> &Secret {
        &self.stripe_webhook_secret
    }

    /// The signal `run_until` raises when shutdown begins (cancel it to begin one).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until `shutdown` resolves (or `shutdown_token` is cancelled),
    /// then stops accepting and finishes in-flight requests. Shutdown
    /// beginning cancels `shutdown_token`: the job runner claims no more
    /// work, and the live streams and their listener end. Whatever is still
    /// open after `SHUTDOWN_GRACE_SECS` is closed (see `http_limits`).
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let token = self.shutdown.clone();
        let shutdown = async move {
            tokio::select! {
                _ = shutdown => token.cancel(),
                _ = token.cancelled() => {}
            }
        };
        let _cancel_on_exit = self.shutdown.clone().drop_guard();
        jobs::spawn(self.jobs, self.shutdown.clone());
        self.live
            .spawn_listener(self.database_url.expose().to_owned());
        let store = DbSessionStore::new(self.db.clone());
        tokio::spawn(async move {
            jobs::repeat_forever("expired-session sweep", SESSION_SWEEP_EVERY, || async {
                match store.delete_expired().await {
                    Ok(0) => {}
                    Ok(removed) => tracing::info!(removed, "expired sessions removed"),
                    Err(error) => tracing::warn!(%error, "expired-session sweep failed"),
                }
            })
            .await;
        });
        crate::http_limits::serve(self.listener, self.router, self.http, shutdown).await
    }
}

fn router(
    config: &Config,
    state: ServerState,
    key: Key,
    live: LiveStreams,
) -> anyhow::Result<Router> {
    let mut leptos_options = get_configuration(None)
        .context("reading the Leptos site settings")?
        .leptos_options;
    leptos_options.output_name = "phonebooth".into();
    leptos_options.site_root = config.site_root.clone().into();
    leptos_options.site_pkg_dir = "pkg".into();
    leptos_options.site_addr = config.bind_addr;
    let routes = route_list();

    let provide_state = {
        let app = state.app.clone();
        move || provide_context(app.clone())
    };
    // The server's own routes: health, provider webhooks, the live call
    // stream and the CSV exports. Each handler extracts the part it needs.
    let own_routes = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/webhooks/stripe", post(webhooks::stripe::receive))
        .route("/webhooks/twilio/status", post(webhooks::twilio::status))
        .route("/webhooks/twilio/voice", post(webhooks::twilio::voice))
        .route(
            "/webhooks/twilio/dial-action",
            post(webhooks::twilio::dial_action),
        )
        .with_state(state.clone())
        .merge(crate::call_events::routes(state.app.clone(), live))
        .merge(crate::exports::wallet::routes(state.app.clone()))
        .merge(crate::exports::calls::routes(state.app.clone()))
        .merge(crate::exports::account::routes(state.app.clone()));

    let secure = config.serves_https();
    let sessions = SessionManagerLayer::new(DbSessionStore::new(state.app.db.clone()))
        // `__Host-` makes browsers refuse the cookie unless Secure, Path=/ and no Domain.
        .with_name(if secure {
            "__Host-phonebooth_session"
        } else {
            "phonebooth_session"
        })
        .with_secure(secure)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(CookieDuration::seconds(
            app::server::guard::IDLE_TIMEOUT_SECS,
        )))
        .with_signed(key);
    let origin_policy = web_security::OriginPolicy {
        public_origin: config.public_origin(),
    };

    Ok(Router::new()
        .leptos_routes_with_context(&leptos_options, routes, provide_state.clone(), {
            let options = leptos_options.clone();
            move || shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context(provide_state, shell))
        .with_state(leptos_options)
        .merge(own_routes)
        // Innermost: each handler polled under its own reactive owner.
        .layer(middleware::from_fn(crate::reactive_isolation::isolate))
        .layer(middleware::from_fn(server_fn_status::error_status))
        .layer(middleware::from_fn_with_state(state.app, page_gate::redirect_pages))
        .layer(middleware::from_fn(crate::session_slide::renew))
        .layer(sessions)
        .layer(middleware::from_fn(crate::store_outage::unavailable_not_500))
        .layer(middleware::from_fn_with_state(origin_policy, web_security::require_same_origin))
        .layer(middleware::from_fn_with_state(
            web_security::HeaderPolicy {
                https: secure,
                twilio_voice: config.twilio.is_some(),
            },
            web_security::security_headers,
        ))
        .layer(middleware::from_fn(crate::cache_control::no_store))
        // The limit wraps the body; mapping it back keeps the inner stack on axum's Body.
        .layer(MapRequestBodyLayer::new(axum::body::Body::new))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(
            config.http.request_timeout,
            crate::http_limits::request_timeout,
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            let request_id = request
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            // An invitation link's path is its secret: logged without the token.
            tracing::info_span!("request", method = %request.method(), path = %app::server::team::loggable_path(request.uri().path()), request_id)
        }))
        .layer(SetRequestIdLayer::x_request_id(RandomRequestId)))
}

/// The app's routes, generated once per process. Generating them renders the
/// app with resource loading suppressed by a process-wide flag, and a resource
/// first polled by another request while that flag is up waits forever
/// (leptos-rs/leptos#4773). Once per process, before any router exists, no
/// render can overlap it, even when tests start many instances in one process.
fn route_list() -> Vec<AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<AxumRouteListing>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

#[derive(Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let mut bytes = [0u8; 8];
        rand::thread_rng().fill_bytes(&mut bytes);
        hex::encode(bytes).parse().ok().map(RequestId::new)
    }
}

/// The cookie-signing key: derived from SESSION_SECRET, or for the embedded
/// SQLite default from a secret generated once and kept in the data folder.
fn session_key(config: &Config) -> anyhow::Result<Key> {
    let secret = match &config.session_secret {
        Some(secret) => secret.expose().to_owned(),
        None => generated_secret(&config.data_dir.join("session_secret"), "")?,
    };
    Ok(Key::from(&Sha512::digest(secret.as_bytes())))
}

/// A secret kept in the data folder: read if present, else generated once (0600).
fn generated_secret(path: &Path, prefix: &str) -> anyhow::Result<String> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        if existing.trim().len() >= 32 + prefix.len() && existing.starts_with(prefix) {
            return Ok(existing.trim().to_owned());
        }
    }
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let secret = format!("{prefix}{}", hex::encode(bytes));
    std::fs::write(path, &secret).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(secret)
}
