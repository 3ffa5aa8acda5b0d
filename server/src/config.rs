//! Typed configuration from the environment (and `.env`), validated at startup.
//! A missing or malformed value stops the process with a message naming the
//! variable. Secrets are wrapped in `Secret`, whose `Debug` prints nothing.

use app::domain::Money;
use app::server::providers::payments::{
    PlanPrices, SubscriptionSettings, SANDBOX_PRICE_TEAM_ANNUAL, SANDBOX_PRICE_TEAM_MONTHLY,
};
use app::server::state::PurchaseLimits;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use url::Url;

/// A value that must never be logged.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub database_url: Secret,
    pub bind_addr: SocketAddr,
    pub public_url: Url,
    pub data_dir: PathBuf,
    /// None: generate one and keep it in the data folder (SQLite only).
    pub session_secret: Option<Secret>,
    /// Verifies `/webhooks/stripe` (the sandbox signs with it too).
    /// None: generate one and keep it in the data folder.
    pub stripe_webhook_secret: Option<Secret>,
    /// Selects the Stripe provider; None means the built-in sandbox.
    pub stripe_secret_key: Option<Secret>,
    /// Stripe's API base URL (tests point it at a local fake).
    pub stripe_api_base: Option<Url>,
    /// The smallest and largest custom credit purchase.
    pub purchase_limits: PurchaseLimits,
    /// How often organizations are checked for auto-recharge.
    pub auto_recharge_scan_every: std::time::Duration,
    /// Selects the Twilio carrier; None means the built-in simulated carrier.
    pub twilio: Option<TwilioAccount>,
    /// Verifies Twilio signatures (the simulated carrier signs with it too).
    /// None: generate one and keep it in the data folder (simulated carrier only).
    pub twilio_auth_token: Option<Secret>,
    /// Twilio's API base URL (tests point it at a local fake).
    pub twilio_api_base: Option<Url>,
    /// The caller ID calls are placed from (E.164).
    pub caller_id: String,
    /// No call lasts longer than this, whatever the balance.
    pub call_max_duration_secs: u64,
    /// Destinations above this price per minute ask for confirmation.
    pub call_confirm_above_per_minute: Money,
    /// How often stuck calls are reconciled with the carrier.
    pub call_sweep_every: std::time::Duration,
    /// How often each live call stream re-checks its session and membership.
    pub live_session_check_every: std::time::Duration,
    /// How long SQLite waits for another writer before "database is locked".
    pub sqlite_busy_timeout_ms: u64,
    /// How long a request waits for a pooled database connection before 503.
    pub db_acquire_timeout_ms: u64,
    pub log_format: LogFormat,
    /// `TRUSTED_PROXIES`: the reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: app::server::client_addr::TrustedProxies,
    /// The Team plan: price ids, seat maximum, payment grace period.
    pub subscriptions: SubscriptionSettings,
    /// Where the compiled site (pkg/, assets) lives.
    pub site_root: String,
    /// `ALLOW_SANDBOX_PAYMENTS_WITH_TWILIO`: a private test deployment's
    /// explicit opt-in to real calls paid with sandbox (free) credits.
    pub allow_sandbox_payments_with_twilio: bool,
    /// Timeouts and the connection cap (`HTTP_*`, `SHUTDOWN_GRACE_SECS`).
    pub http: crate::http_limits::HttpLimits,
    /// `SMTP_URL` and `MAIL_FROM`; None: mail stays in the outbox.
    pub mail: Option<crate::mail::MailSettings>,
}

/// A Twilio account: its SID and auth token (the token is
/// `Config::twilio_auth_token`), and what browsers start calls with.
#[derive(Clone, Debug)]
pub struct TwilioAccount {
    pub account_sid: String,
    pub voice: VoiceKeys,
}

/// What Voice access tokens are minted with: a Standard API key (its SID and
/// secret sign the token) and the TwiML App whose voice URL Twilio requests
/// when a browser connects. All three settings or none.
#[derive(Clone, Debug)]
pub struct VoiceKeys {
    /// `SK…` (`TWILIO_API_KEY_SID`): the token's issuer.
    pub api_key_sid: String,
    /// `TWILIO_API_KEY_SECRET`: signs the token (HS256).
    pub api_key_secret: Secret,
    /// `AP…` (`TWILIO_TWIML_APP_SID`): the outgoing grant's application.
    pub twiml_app_sid: String,
    /// `TWILIO_TOKEN_TTL_SECS`: how long a token lasts.
    pub token_ttl_secs: u64,
}

/// Twilio accepts access tokens that live at most a day.
pub const MAX_TOKEN_TTL_SECS: u64 = 24 * 3600;

/// The three browser-calling settings, all or none; each named when missing.
fn voice_keys(
    lookup: &impl Fn(&str) -> Option<String>,
    twilio_configured: bool,
) -> Result<Option<VoiceKeys>, ConfigError> {
    const NAMES: [&str; 3] = [
        "TWILIO_API_KEY_SID",
        "TWILIO_API_KEY_SECRET",
        "TWILIO_TWIML_APP_SID",
    ];
    let values = NAMES.map(lookup);
    let token_ttl_secs = whole_number(
        lookup,
        "TWILIO_TOKEN_TTL_SECS",
        3600,
        60..=MAX_TOKEN_TTL_SECS,
    )?;
    let missing: Vec<&str> = NAMES
        .iter()
        .zip(&values)
        .filter(|(_, value)| value.is_none())
        .map(|(name, _)| *name)
        .collect();
    if missing.len() == NAMES.len() {
        if twilio_configured {
            return Err(invalid(
                "TWILIO_API_KEY_SID",
                "TWILIO_API_KEY_SID, TWILIO_API_KEY_SECRET and TWILIO_TWIML_APP_SID are required \
                 with TWILIO_ACCOUNT_SID: browsers start every call with an access token signed \
                 by a Standard API key, through the TwiML App (see the README's Twilio setup)",
            ));
        }
        return Ok(None);
    }
    if let Some(first) = missing.first() {
        return Err(invalid(
            first,
            format!(
                "{} missing: TWILIO_API_KEY_SID, TWILIO_API_KEY_SECRET and \
                 TWILIO_TWIML_APP_SID go together (all three or none)",
                missing.join(", ")
            ),
        ));
    }
    let [Some(api_key_sid), Some(api_key_secret), Some(twiml_app_sid)] = values else {
        unreachable!("none is missing");
    };
    if !is_sid(&api_key_sid, "SK") {
        return Err(invalid(
            "TWILIO_API_KEY_SID",
            "must be an API key SID (SK followed by 32 characters)",
        ));
    }
    if !is_sid(&twiml_app_sid, "AP") {
        return Err(invalid(
            "TWILIO_TWIML_APP_SID",
            "must be a TwiML App SID (AP followed by 32 characters)",
        ));
    }
    if !twilio_configured {
        return Err(invalid(
            "TWILIO_ACCOUNT_SID",
            "is required with TWILIO_API_KEY_SID: the key belongs to a Twilio account, and \
             without one calls go to the simulated carrier",
        ));
    }
    Ok(Some(VoiceKeys {
        api_key_sid,
        api_key_secret: Secret::new(api_key_secret),
        twiml_app_sid,
        token_ttl_secs,
    }))
}

/// `prefix` and 32 letters or digits, as Twilio SIDs are.
fn is_sid(raw: &str, prefix: &str) -> bool {
    raw.len() == 34 && raw.starts_with(prefix) && raw.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The Team plan: its two price ids, the seat maximum and the grace period.
/// With Stripe both prices are required and checked (never replaced by
/// another); without it the sandbox's own prices are used, and Stripe's set
/// anyway are refused rather than silently unused.
fn subscription_settings(
    lookup: &impl Fn(&str) -> Option<String>,
    stripe: bool,
) -> Result<SubscriptionSettings, ConfigError> {
    const PRICES: [&str; 2] = ["STRIPE_PRICE_TEAM_MONTHLY", "STRIPE_PRICE_TEAM_ANNUAL"];
    let price = |variable: &'static str| match lookup(variable) {
        None => Err(invalid(
            variable,
            "is required with STRIPE_SECRET_KEY: the Team plan's price id (price_…) \
             from the Stripe dashboard's product catalog",
        )),
        Some(raw) if is_price_id(raw.trim()) => Ok(raw.trim().to_owned()),
        Some(raw) => Err(invalid(
            variable,
            format!("must be a Stripe price id (price_ then letters, digits or _), got {raw:?}"),
        )),
    };
    let prices = if stripe {
        let prices = PlanPrices {
            team_monthly: price(PRICES[0])?,
            team_annual: price(PRICES[1])?,
        };
        // One price for both would bill a yearly plan every month, or the reverse.
        if prices.team_monthly == prices.team_annual {
            return Err(invalid(
                PRICES[1],
                "must differ from STRIPE_PRICE_TEAM_MONTHLY (one price per billing interval)",
            ));
        }
        prices
    } else if let Some(variable) = PRICES.into_iter().find(|name| lookup(name).is_some()) {
        return Err(invalid(
            variable,
            "is set without STRIPE_SECRET_KEY: the sandbox bills its own Team prices and \
             would ignore it (set STRIPE_SECRET_KEY too, or unset it)",
        ));
    } else {
        PlanPrices {
            team_monthly: SANDBOX_PRICE_TEAM_MONTHLY.to_owned(),
            team_annual: SANDBOX_PRICE_TEAM_ANNUAL.to_owned(),
        }
    };
    let max_seats = whole_number(lookup, "SEATS_MAX", 50, 1..=1000)?;
    let grace_days = whole_number(lookup, "PAYMENT_GRACE_DAYS", 3, 0..=60)?;
    Ok(SubscriptionSettings {
        prices,
        max_seats: u32::try_from(max_seats).expect("at most 1000"),
        grace_secs: i64::try_from(grace_days * 86_400).expect("at most 60 days"),
    })
}

/// `price_` then letters, digits or `_`, as Stripe price ids are.
fn is_price_id(raw: &str) -> bool {
    raw.strip_prefix("price_").is_some_and(|rest| {
        !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    })
}

/// Twilio's magic test caller ID, used by the simulated carrier when none is configured.
pub const SIMULATED_CALLER_ID: &str = "+15005550006";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

/// A whole number of dollars from `variable`, or `default`.
fn dollars(
    lookup: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: i64,
) -> Result<Money, ConfigError> {
    let Some(raw) = lookup(variable) else {
        return Ok(Money::from_dollars(default).expect("default fits"));
    };
    raw.trim()
        .parse::<i64>()
        .ok()
        .filter(|d| *d >= 1)
        .and_then(Money::from_dollars)
        .ok_or_else(|| {
            invalid(
                variable,
                format!("must be a whole number of dollars, got {raw:?}"),
            )
        })
}

/// A whole number from `variable` within `range`, or `default`.
fn whole_number(
    lookup: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let Some(raw) = lookup(variable) else {
        return Ok(default);
    };
    raw.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            invalid(
                variable,
                format!(
                    "must be a whole number from {} to {}, got {raw:?}",
                    range.start(),
                    range.end()
                ),
            )
        })
}

/// '+' and 8 to 15 digits.
fn is_e164(raw: &str) -> bool {
    raw.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

/// `1`/`true` or `0`/`false` from `variable`; unset is false.
fn flag(
    lookup: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
) -> Result<bool, ConfigError> {
    match lookup(variable).as_deref().map(str::trim) {
        None | Some("0") | Some("false") => Ok(false),
        Some("1") | Some("true") => Ok(true),
        Some(other) => Err(invalid(variable, format!("must be 1 or 0, got {other:?}"))),
    }
}

/// Loopback hosts may be reached over plain http (a local test deployment).
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn invalid(variable: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        problem: problem.into(),
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    /// Reads configuration through `lookup`, so tests can supply their own values.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let data_dir = PathBuf::from(lookup("DATA_DIR").unwrap_or_else(|| "data".to_owned()));

        let bind_addr = match lookup("BIND_ADDR") {
            None => SocketAddr::from(([127, 0, 0, 1], 3000)),
            Some(raw) => raw.parse().map_err(|_| {
                invalid(
                    "BIND_ADDR",
                    format!("expected address:port such as 127.0.0.1:3000, got {raw:?}"),
                )
            })?,
        };

        let public_url_set = lookup("PUBLIC_URL").is_some();
        let public_url = match lookup("PUBLIC_URL") {
            None => Url::parse(&format!("http://{bind_addr}"))
                .expect("a socket address makes a valid URL"),
            Some(raw) => {
                let url = Url::parse(raw.trim_end_matches('/'))
                    .map_err(|e| invalid("PUBLIC_URL", format!("not a URL ({e}): {raw:?}")))?;
                if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                    return Err(invalid(
                        "PUBLIC_URL",
                        format!("must be an http(s) URL with a host, got {raw:?}"),
                    ));
                }
                url
            }
        };

        let database_url = match lookup("DATABASE_URL") {
            None => format!("sqlite://{}/phonebooth.db?mode=rwc", data_dir.display()),
            Some(raw) => {
                if app::server::db::Backend::of_url(&raw).is_none() {
                    return Err(invalid(
                        "DATABASE_URL",
                        "must start with sqlite:// or postgres://",
                    ));
                }
                raw
            }
        };
        let on_sqlite = database_url.starts_with("sqlite:");

        let session_secret = match lookup("SESSION_SECRET") {
            Some(raw) if raw.len() < 32 => {
                return Err(invalid(
                    "SESSION_SECRET",
                    "must be at least 32 characters (try: openssl rand -hex 32)",
                ))
            }
            Some(raw) => Some(Secret::new(raw)),
            // Several instances share one PostgreSQL and must share the secret too.
            None if !on_sqlite => {
                return Err(invalid(
                    "SESSION_SECRET",
                    "is required with PostgreSQL (try: openssl rand -hex 32)",
                ))
            }
            None => None,
        };

        let stripe_webhook_secret = match lookup("STRIPE_WEBHOOK_SECRET") {
            Some(raw) if !raw.starts_with("whsec_") => {
                return Err(invalid(
                    "STRIPE_WEBHOOK_SECRET",
                    "must be a webhook signing secret (whsec_…)",
                ))
            }
            other => other.map(Secret::new),
        };

        let stripe_secret_key = match lookup("STRIPE_SECRET_KEY") {
            Some(raw) if !(raw.starts_with("sk_") || raw.starts_with("rk_")) => {
                return Err(invalid(
                    "STRIPE_SECRET_KEY",
                    "must be a Stripe secret or restricted key (sk_… or rk_…)",
                ))
            }
            other => other.map(Secret::new),
        };
        let stripe_api_base = match lookup("STRIPE_API_BASE") {
            None => None,
            Some(raw) => Some(
                Url::parse(&raw)
                    .map_err(|e| invalid("STRIPE_API_BASE", format!("not a URL ({e}): {raw:?}")))?,
            ),
        };
        let purchase_limits = PurchaseLimits {
            min: dollars(&lookup, "CREDIT_PURCHASE_MIN_USD", 5)?,
            max: dollars(&lookup, "CREDIT_PURCHASE_MAX_USD", 500)?,
        };
        if purchase_limits.min > purchase_limits.max {
            return Err(invalid(
                "CREDIT_PURCHASE_MIN_USD",
                "must not be above CREDIT_PURCHASE_MAX_USD",
            ));
        }

        let auto_recharge_scan_every = match lookup("AUTO_RECHARGE_SCAN_SECS") {
            None => std::time::Duration::from_secs(15),
            Some(raw) => raw
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|s| (1..=3600).contains(s))
                .map(std::time::Duration::from_secs)
                .ok_or_else(|| {
                    invalid(
                        "AUTO_RECHARGE_SCAN_SECS",
                        format!("must be whole seconds from 1 to 3600, got {raw:?}"),
                    )
                })?,
        };

        let twilio_auth_token = lookup("TWILIO_AUTH_TOKEN").map(Secret::new);
        let twilio = match lookup("TWILIO_ACCOUNT_SID") {
            None => None,
            Some(raw) if !raw.starts_with("AC") || raw.len() != 34 => {
                return Err(invalid(
                    "TWILIO_ACCOUNT_SID",
                    "must be a Twilio account SID (AC followed by 32 characters)",
                ))
            }
            Some(_) if twilio_auth_token.is_none() => {
                return Err(invalid(
                    "TWILIO_AUTH_TOKEN",
                    "is required with TWILIO_ACCOUNT_SID",
                ))
            }
            Some(account_sid) => Some(account_sid),
        };
        let twilio_api_base = match lookup("TWILIO_API_BASE") {
            None => None,
            Some(raw) => Some(
                Url::parse(&raw)
                    .map_err(|e| invalid("TWILIO_API_BASE", format!("not a URL ({e}): {raw:?}")))?,
            ),
        };
        let caller_id =
            match (lookup("TWILIO_CALLER_ID"), &twilio) {
                (Some(raw), _) if !is_e164(&raw) => {
                    return Err(invalid(
                        "TWILIO_CALLER_ID",
                        format!("must be an E.164 number such as +14155550100, got {raw:?}"),
                    ))
                }
                (Some(raw), _) => raw,
                (None, Some(_)) => return Err(invalid(
                    "TWILIO_CALLER_ID",
                    "is required with TWILIO_ACCOUNT_SID (a number of your Twilio account, E.164)",
                )),
                (None, None) => SIMULATED_CALLER_ID.to_owned(),
            };
        let voice = voice_keys(&lookup, twilio.is_some())?;
        let twilio = twilio
            .zip(voice)
            .map(|(account_sid, voice)| TwilioAccount { account_sid, voice });
        let call_max_duration_secs =
            whole_number(&lookup, "CALL_MAX_DURATION_SECS", 4 * 3600, 60..=86_400)?;
        let call_confirm_above_per_minute = match lookup("CALL_CONFIRM_ABOVE_USD_PER_MIN") {
            None => Money::from_dollars(1).expect("a small constant"),
            Some(raw) => Money::parse_dollars(&raw).map_err(|problem| {
                invalid(
                    "CALL_CONFIRM_ABOVE_USD_PER_MIN",
                    format!("{problem}, got {raw:?}"),
                )
            })?,
        };
        let call_sweep_every =
            std::time::Duration::from_secs(whole_number(&lookup, "CALL_SWEEP_SECS", 60, 1..=3600)?);
        let live_session_check_every = std::time::Duration::from_secs(whole_number(
            &lookup,
            "LIVE_SESSION_CHECK_SECS",
            30,
            1..=600,
        )?);
        let sqlite_busy_timeout_ms =
            whole_number(&lookup, "SQLITE_BUSY_TIMEOUT_MS", 5_000, 1..=60_000)?;
        let db_acquire_timeout_ms =
            whole_number(&lookup, "DB_ACQUIRE_TIMEOUT_MS", 5_000, 100..=60_000)?;

        let log_format = match lookup("LOG_FORMAT").as_deref() {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(invalid(
                    "LOG_FORMAT",
                    format!("must be pretty or json, got {other:?}"),
                ))
            }
        };

        // Combinations that would be dangerous in a real deployment.
        let allow_sandbox_payments_with_twilio =
            flag(&lookup, "ALLOW_SANDBOX_PAYMENTS_WITH_TWILIO")?;
        if twilio.is_some() && stripe_secret_key.is_none() && !allow_sandbox_payments_with_twilio {
            return Err(invalid(
                "STRIPE_SECRET_KEY",
                "is required with TWILIO_ACCOUNT_SID: the sandbox payment provider must never run \
                 with a real carrier, or anyone can buy credits with a test card and place real \
                 calls for free (ALLOW_SANDBOX_PAYMENTS_WITH_TWILIO=1 allows it, for a private \
                 test deployment only)",
            ));
        }
        if stripe_secret_key.is_some() && stripe_webhook_secret.is_none() {
            return Err(invalid(
                "STRIPE_WEBHOOK_SECRET",
                "is required with STRIPE_SECRET_KEY: credits are granted only by Stripe's signed \
                 webhook, and a generated secret would refuse every real event (copy the \
                 endpoint's signing secret, whsec_…, from the Stripe dashboard)",
            ));
        }
        let real_provider = match (&stripe_secret_key, &twilio) {
            (Some(_), _) => Some("STRIPE_SECRET_KEY"),
            (None, Some(_)) => Some("TWILIO_ACCOUNT_SID"),
            (None, None) => None,
        };
        if let Some(provider) = real_provider {
            if !public_url_set {
                return Err(invalid(
                    "PUBLIC_URL",
                    format!(
                        "is required with {provider}: the provider sends people and callbacks \
                         to it (the https URL it reaches this server at)"
                    ),
                ));
            }
            if public_url.scheme() != "https" && !is_loopback(&public_url) {
                return Err(invalid(
                    "PUBLIC_URL",
                    format!(
                        "must be https with {provider} (unless its host is loopback): session \
                         cookies, card checkouts and signed callbacks must not travel in the \
                         clear, got {:?}",
                        public_url.as_str()
                    ),
                ));
            }
        }
        let subscriptions = subscription_settings(&lookup, stripe_secret_key.is_some())?;
        let http = crate::http_limits::HttpLimits {
            header_timeout: std::time::Duration::from_secs(whole_number(
                &lookup,
                "HTTP_HEADER_TIMEOUT_SECS",
                10,
                1..=300,
            )?),
            request_timeout: std::time::Duration::from_secs(whole_number(
                &lookup,
                "HTTP_REQUEST_TIMEOUT_SECS",
                30,
                1..=3600,
            )?),
            max_connections: whole_number(&lookup, "HTTP_MAX_CONNECTIONS", 512, 1..=100_000)?
                as usize,
            shutdown_grace: std::time::Duration::from_secs(whole_number(
                &lookup,
                "SHUTDOWN_GRACE_SECS",
                10,
                0..=300,
            )?),
        };
        let trusted_proxies = match lookup("TRUSTED_PROXIES") {
            None => app::server::client_addr::TrustedProxies::Unset,
            Some(raw) => app::server::client_addr::TrustedProxies::parse(&raw).map_err(|problem| {
                invalid(
                    "TRUSTED_PROXIES",
                    format!("must be comma-separated IP addresses or CIDR blocks, or none: {problem}"),
                )
            })?,
        };

        Ok(Self {
            database_url: Secret::new(database_url),
            bind_addr,
            public_url,
            data_dir,
            session_secret,
            stripe_webhook_secret,
            stripe_secret_key,
            stripe_api_base,
            purchase_limits,
            auto_recharge_scan_every,
            twilio,
            twilio_auth_token,
            twilio_api_base,
            caller_id,
            call_max_duration_secs,
            call_confirm_above_per_minute,
            call_sweep_every,
            live_session_check_every,
            sqlite_busy_timeout_ms,
            db_acquire_timeout_ms,
            log_format,
            trusted_proxies,
            subscriptions,
            site_root: lookup("LEPTOS_SITE_ROOT").unwrap_or_else(|| "target/site".to_owned()),
            allow_sandbox_payments_with_twilio,
            http,
            mail: crate::mail::MailSettings::from_lookup(&lookup)?,
        })
    }

    /// The payment provider in use: `stripe` or `sandbox`.
    pub fn payments_mode(&self) -> &'static str {
        if self.stripe_secret_key.is_some() {
            "stripe"
        } else {
            "sandbox"
        }
    }

    /// The carrier in use: `twilio` or `simulated`.
    pub fn carrier_mode(&self) -> &'static str {
        if self.twilio.is_some() {
            "twilio"
        } else {
            "simulated"
        }
    }

    /// Real calls paid with sandbox credits: allowed only by the explicit opt-in.
    pub fn free_real_calls(&self) -> bool {
        self.twilio.is_some() && self.stripe_secret_key.is_none()
    }

    /// Cookies get `Secure` and the `__Host-` prefix, and responses HSTS, only over HTTPS.
    pub fn serves_https(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// The origin (scheme://host[:port]) browsers send in `Origin` for our own pages.
    pub fn public_origin(&self) -> String {
        self.public_url.origin().ascii_serialization()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn nothing_configured_means_sqlite_in_the_data_folder_on_localhost() {
        let config = config(&[]).unwrap();
        assert_eq!(
            config.database_url.expose(),
            "sqlite://data/phonebooth.db?mode=rwc"
        );
        assert_eq!(config.bind_addr.to_string(), "127.0.0.1:3000");
        assert_eq!(config.public_origin(), "http://127.0.0.1:3000");
        assert!(!config.serves_https());
    }

    #[test]
    fn a_malformed_value_names_its_variable() {
        assert_eq!(
            config(&[("BIND_ADDR", "localhost")]).unwrap_err().variable,
            "BIND_ADDR"
        );
        assert_eq!(
            config(&[("PUBLIC_URL", "ftp://x")]).unwrap_err().variable,
            "PUBLIC_URL"
        );
        assert_eq!(
            config(&[("DATABASE_URL", "mysql://x")])
                .unwrap_err()
                .variable,
            "DATABASE_URL"
        );
        assert_eq!(
            config(&[("LOG_FORMAT", "xml")]).unwrap_err().variable,
            "LOG_FORMAT"
        );
        assert_eq!(
            config(&[("SESSION_SECRET", "short")]).unwrap_err().variable,
            "SESSION_SECRET"
        );
    }

    #[test]
    fn postgres_requires_a_shared_session_secret() {
        let error = config(&[("DATABASE_URL", "postgres://localhost/pb")]).unwrap_err();
        assert_eq!(error.variable, "SESSION_SECRET");
        let secret = "s".repeat(40);
        assert!(config(&[
            ("DATABASE_URL", "postgres://localhost/pb"),
            ("SESSION_SECRET", &secret)
        ])
        .is_ok());
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let secret = "super-secret-value-that-is-long-enough";
        let config = config(&[
            ("SESSION_SECRET", secret),
            ("DATABASE_URL", "postgres://u:hunter2@db/pb"),
        ])
        .unwrap();
        let printed = format!("{config:?}");
        assert!(!printed.contains(secret) && !printed.contains("hunter2"));
    }

    #[test]
    fn trusted_proxies_are_addresses_or_blocks_or_none() {
        use app::server::client_addr::TrustedProxies;
        assert_eq!(config(&[]).unwrap().trusted_proxies, TrustedProxies::Unset);
        assert_eq!(
            config(&[("TRUSTED_PROXIES", "none")])
                .unwrap()
                .trusted_proxies,
            TrustedProxies::List(vec![])
        );
        assert!(matches!(
            config(&[("TRUSTED_PROXIES", "10.0.0.0/8, 2001:db8::1")]).unwrap().trusted_proxies,
            TrustedProxies::List(list) if list.len() == 2
        ));
        let error = config(&[("TRUSTED_PROXIES", "lb.internal")]).unwrap_err();
        assert_eq!(error.variable, "TRUSTED_PROXIES");
        assert!(error.problem.contains("lb.internal"), "{}", error.problem);
    }

    #[test]
    fn an_https_public_url_turns_on_secure_cookies() {
        let config = config(&[("PUBLIC_URL", "https://calls.example.com/")]).unwrap();
        assert!(config.serves_https());
        assert_eq!(config.public_origin(), "https://calls.example.com");
    }

    #[test]
    fn calling_settings_default_to_the_simulated_carrier_and_name_bad_values() {
        let defaults = config(&[]).unwrap();
        assert!(defaults.twilio.is_none());
        assert_eq!(defaults.caller_id, SIMULATED_CALLER_ID);
        assert_eq!(defaults.call_max_duration_secs, 4 * 3600);
        assert_eq!(
            defaults.call_confirm_above_per_minute,
            Money::from_dollars(1).unwrap()
        );
        let sid = format!("AC{}", "0".repeat(32));
        for (settings, variable) in [
            (
                vec![("TWILIO_ACCOUNT_SID", "not-a-sid")],
                "TWILIO_ACCOUNT_SID",
            ),
            (
                vec![("TWILIO_ACCOUNT_SID", sid.as_str())],
                "TWILIO_AUTH_TOKEN",
            ),
            (
                vec![
                    ("TWILIO_ACCOUNT_SID", sid.as_str()),
                    ("TWILIO_AUTH_TOKEN", "t"),
                ],
                "TWILIO_CALLER_ID",
            ),
            (
                vec![("TWILIO_CALLER_ID", "0207 183 8750")],
                "TWILIO_CALLER_ID",
            ),
            (vec![("TWILIO_API_BASE", "not a url")], "TWILIO_API_BASE"),
            (
                vec![("CALL_MAX_DURATION_SECS", "59")],
                "CALL_MAX_DURATION_SECS",
            ),
            (
                vec![("CALL_MAX_DURATION_SECS", "ten")],
                "CALL_MAX_DURATION_SECS",
            ),
            (
                vec![("CALL_CONFIRM_ABOVE_USD_PER_MIN", "-1")],
                "CALL_CONFIRM_ABOVE_USD_PER_MIN",
            ),
            (vec![("CALL_SWEEP_SECS", "0")], "CALL_SWEEP_SECS"),
            (
                vec![("LIVE_SESSION_CHECK_SECS", "0")],
                "LIVE_SESSION_CHECK_SECS",
            ),
            (
                vec![("SQLITE_BUSY_TIMEOUT_MS", "0")],
                "SQLITE_BUSY_TIMEOUT_MS",
            ),
        ] {
            assert_eq!(
                config(&settings).unwrap_err().variable,
                variable,
                "{settings:?}"
            );
        }
        let twilio = config(&with(
            vec![
                ("TWILIO_ACCOUNT_SID", sid.as_str()),
                ("TWILIO_AUTH_TOKEN", "twilio-token-that-must-not-print"),
                ("TWILIO_CALLER_ID", "+14155550100"),
                ("PUBLIC_URL", "https://calls.example.com"),
                ("ALLOW_SANDBOX_PAYMENTS_WITH_TWILIO", "1"),
            ],
            &voice_vars(),
        ))
        .unwrap();
        assert_eq!(twilio.twilio.unwrap().account_sid, sid);
        assert_eq!(twilio.caller_id, "+14155550100");
        let printed = format!(
            "{:?}",
            config(&[("TWILIO_AUTH_TOKEN", "twilio-token-that-must-not-print")]).unwrap()
        );
        assert!(!printed.contains("twilio-token-that-must-not-print"));
    }

    const SID: &str = "AC00000000000000000000000000000000";
    const STRIPE_KEY: &str = "sk_test_123";
    const WHSEC: &str = "whsec_abc";
    const MONTHLY: &str = "price_1QxTeamMonthly";
    const ANNUAL: &str = "price_1QxTeamAnnual";

    /// Stripe mode, complete but for `PUBLIC_URL`.
    fn stripe_vars() -> Vec<(&'static str, &'static str)> {
        vec![
            ("STRIPE_SECRET_KEY", STRIPE_KEY),
            ("STRIPE_WEBHOOK_SECRET", WHSEC),
            ("STRIPE_PRICE_TEAM_MONTHLY", MONTHLY),
            ("STRIPE_PRICE_TEAM_ANNUAL", ANNUAL),
        ]
    }

    /// Stripe mode with `PUBLIC_URL`, minus `without`, plus `more`.
    fn stripe_config(without: &[&str], more: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut vars = with(
            stripe_vars(),
            &[("PUBLIC_URL", "https://calls.example.com")],
        );
        vars.retain(|(name, _)| !without.contains(name) && !more.iter().any(|(m, _)| m == name));
        vars.extend_from_slice(more);
        config(&vars)
    }

    #[test]
    fn stripe_mode_bills_the_configured_team_prices() {
        let prices = stripe_config(&[], &[]).unwrap().subscriptions.prices;
        assert_eq!(
            prices,
            PlanPrices {
                team_monthly: MONTHLY.to_owned(),
                team_annual: ANNUAL.to_owned(),
            }
        );
    }

    #[test]
    fn stripe_mode_without_a_team_price_refuses_to_start_naming_it() {
        for missing in ["STRIPE_PRICE_TEAM_MONTHLY", "STRIPE_PRICE_TEAM_ANNUAL"] {
            let error = stripe_config(&[missing], &[]).unwrap_err();
            assert_eq!(error.variable, missing);
            assert!(
                error.problem.contains("required with STRIPE_SECRET_KEY"),
                "{error}"
            );
        }
        // Both missing: the monthly one is named first, never a fallback.
        let error = stripe_config(
            &["STRIPE_PRICE_TEAM_MONTHLY", "STRIPE_PRICE_TEAM_ANNUAL"],
            &[],
        )
        .unwrap_err();
        assert_eq!(error.variable, "STRIPE_PRICE_TEAM_MONTHLY");
    }

    #[test]
    fn a_team_price_that_is_not_a_stripe_price_id_is_refused_naming_it() {
        for variable in ["STRIPE_PRICE_TEAM_MONTHLY", "STRIPE_PRICE_TEAM_ANNUAL"] {
            for bad in [
                "prod_1QxTeam",
                "price_",
                "price-1QxTeam",
                "PRICE_1QxTeam",
                "price_1Qx Team",
                "price_1Qx/Team",
                "1QxTeam",
            ] {
                let error = stripe_config(&[], &[(variable, bad)]).unwrap_err();
                assert_eq!(error.variable, variable, "{bad}");
                assert!(error.problem.contains("price id"), "{error}");
                assert!(error.problem.contains(bad), "{error}");
            }
        }
        // Surrounding blanks are not part of the id.
        let config = stripe_config(&[], &[("STRIPE_PRICE_TEAM_ANNUAL", " price_A_1 ")]).unwrap();
        assert_eq!(config.subscriptions.prices.team_annual, "price_A_1");
    }

    #[test]
    fn one_price_for_both_intervals_is_refused() {
        let error = stripe_config(&[], &[("STRIPE_PRICE_TEAM_ANNUAL", MONTHLY)]).unwrap_err();
        assert_eq!(error.variable, "STRIPE_PRICE_TEAM_ANNUAL");
    }

    #[test]
    fn the_sandbox_bills_its_own_prices_and_refuses_stripe_ones() {
        let sandbox = config(&[]).unwrap().subscriptions;
        assert_eq!(
            sandbox,
            SubscriptionSettings {
                prices: PlanPrices {
                    team_monthly: SANDBOX_PRICE_TEAM_MONTHLY.to_owned(),
                    team_annual: SANDBOX_PRICE_TEAM_ANNUAL.to_owned(),
                },
                max_seats: 50,
                grace_secs: 3 * 86_400,
            }
        );
        assert_eq!(sandbox.prices.team_monthly, "price_sandbox_team_monthly");
        assert_eq!(sandbox.prices.team_annual, "price_sandbox_team_annual");
        for variable in ["STRIPE_PRICE_TEAM_MONTHLY", "STRIPE_PRICE_TEAM_ANNUAL"] {
            let error = config(&[(variable, MONTHLY)]).unwrap_err();
            assert_eq!(error.variable, variable);
            assert!(
                error.problem.contains("without STRIPE_SECRET_KEY"),
                "{error}"
            );
        }
    }

    #[test]
    fn seats_max_defaults_to_50_within_1_to_1000() {
        assert_eq!(config(&[]).unwrap().subscriptions.max_seats, 50);
        for (raw, seats) in [("1", 1), ("1000", 1000), (" 12 ", 12)] {
            let settings = config(&[("SEATS_MAX", raw)]).unwrap().subscriptions;
            assert_eq!(settings.max_seats, seats, "{raw}");
        }
        assert_eq!(
            stripe_config(&[], &[("SEATS_MAX", "200")])
                .unwrap()
                .subscriptions
                .max_seats,
            200
        );
        for bad in ["0", "1001", "-1", "ten", "1.5"] {
            let error = config(&[("SEATS_MAX", bad)]).unwrap_err();
            assert_eq!(error.variable, "SEATS_MAX", "{bad}");
            assert!(error.problem.contains("from 1 to 1000"), "{error}");
        }
    }

    #[test]
    fn payment_grace_defaults_to_3_days_within_0_to_60_and_is_kept_in_seconds() {
        assert_eq!(config(&[]).unwrap().subscriptions.grace_secs, 259_200);
        for (raw, secs) in [("0", 0), ("1", 86_400), ("60", 60 * 86_400)] {
            let settings = config(&[("PAYMENT_GRACE_DAYS", raw)])
                .unwrap()
                .subscriptions;
            assert_eq!(settings.grace_secs, secs, "{raw}");
        }
        for bad in ["61", "-1", "three", "2.5"] {
            let error = config(&[("PAYMENT_GRACE_DAYS", bad)]).unwrap_err();
            assert_eq!(error.variable, "PAYMENT_GRACE_DAYS", "{bad}");
            assert!(error.problem.contains("from 0 to 60"), "{error}");
        }
    }

    fn twilio_vars() -> Vec<(&'static str, &'static str)> {
        let mut vars = vec![
            ("TWILIO_ACCOUNT_SID", SID),
            ("TWILIO_AUTH_TOKEN", "token"),
            ("TWILIO_CALLER_ID", "+14155550100"),
        ];
        vars.extend(voice_vars());
        vars
    }

    const API_KEY_SID: &str = "SK00000000000000000000000000000000";
    const TWIML_APP_SID: &str = "AP00000000000000000000000000000000";
    const API_KEY_SECRET: &str = "api-key-secret-that-must-not-print";

    fn voice_vars() -> [(&'static str, &'static str); 3] {
        [
            ("TWILIO_API_KEY_SID", API_KEY_SID),
            ("TWILIO_API_KEY_SECRET", API_KEY_SECRET),
            ("TWILIO_TWIML_APP_SID", TWIML_APP_SID),
        ]
    }

    #[test]
    fn browser_calling_keys_come_all_three_or_none_and_a_partial_set_names_what_is_missing() {
        // Simulated: none of them, and no token TTL needed.
        assert!(config(&[]).unwrap().twilio.is_none());
        let base = with(
            vec![
                ("TWILIO_ACCOUNT_SID", SID),
                ("TWILIO_AUTH_TOKEN", "token"),
                ("TWILIO_CALLER_ID", "+14155550100"),
            ],
            &[
                ("PUBLIC_URL", "https://calls.example.com"),
                ("ALLOW_SANDBOX_PAYMENTS_WITH_TWILIO", "1"),
            ],
        );
        // Twilio without any of them: refused, all three named.
        let error = config(&base).unwrap_err();
        assert_eq!(error.variable, "TWILIO_API_KEY_SID");
        for name in [
            "TWILIO_API_KEY_SID",
            "TWILIO_API_KEY_SECRET",
            "TWILIO_TWIML_APP_SID",
        ] {
            assert!(error.problem.contains(name), "{error}");
        }
        // Every partial set names exactly what is missing.
        let all = voice_vars();
        for present in 1..(1 << 3) - 1 {
            let given: Vec<_> = (0..3)
                .filter(|i| present & (1 << i) != 0)
                .map(|i| all[i])
                .collect();
            let missing: Vec<&str> = (0..3)
                .filter(|i| present & (1 << i) == 0)
                .map(|i| all[i].0)
                .collect();
            let error = config(&with(base.clone(), &given)).unwrap_err();
            assert_eq!(error.variable, missing[0], "{given:?}");
            for name in &missing {
                assert!(error.problem.contains(name), "{given:?}: {error}");
            }
            for (name, _) in &given {
                assert!(!error.problem.starts_with(name), "{given:?}: {error}");
            }
            // Without Twilio a partial set is refused the same way.
            assert_eq!(config(&given).unwrap_err().variable, missing[0]);
        }
        // All three: Twilio mode with browser calling, secret never printed.
        let full = config(&with(base.clone(), &all)).unwrap();
        let voice = full.twilio.as_ref().unwrap().voice.clone();
        assert_eq!(voice.api_key_sid, API_KEY_SID);
        assert_eq!(voice.twiml_app_sid, TWIML_APP_SID);
        assert_eq!(voice.api_key_secret.expose(), API_KEY_SECRET);
        assert_eq!(voice.token_ttl_secs, 3600);
        assert!(!format!("{full:?}").contains(API_KEY_SECRET));
        // All three without an account: refused, naming the account.
        assert_eq!(config(&all).unwrap_err().variable, "TWILIO_ACCOUNT_SID");
        // SIDs of the wrong kind are named.
        for (name, bad) in [
            ("TWILIO_API_KEY_SID", "AC00000000000000000000000000000000"),
            ("TWILIO_TWIML_APP_SID", "SK00000000000000000000000000000000"),
            ("TWILIO_TWIML_APP_SID", "AP0000"),
        ] {
            let mut vars = with(base.clone(), &all);
            vars.retain(|(k, _)| *k != name);
            vars.push((name, bad));
            assert_eq!(config(&vars).unwrap_err().variable, name, "{bad}");
        }
    }

    #[test]
    fn the_token_lifetime_defaults_to_an_hour_and_is_refused_above_a_day() {
        let twilio = with(
            twilio_vars(),
            &[
                ("PUBLIC_URL", "https://calls.example.com"),
                ("ALLOW_SANDBOX_PAYMENTS_WITH_TWILIO", "1"),
            ],
        );
        let ttl = |value: &'static str| {
            config(&with(twilio.clone(), &[("TWILIO_TOKEN_TTL_SECS", value)]))
        };
        assert_eq!(
            ttl("86400").unwrap().twilio.unwrap().voice.token_ttl_secs,
            86_400
        );
        assert_eq!(
            ttl("600").unwrap().twilio.unwrap().voice.token_ttl_secs,
            600
        );
        for bad in ["86401", "0", "59", "an hour", "-1"] {
            let error = ttl(bad).unwrap_err();
            assert_eq!(error.variable, "TWILIO_TOKEN_TTL_SECS", "{bad}");
            assert!(error.problem.contains("86400"), "{error}");
        }
    }

    fn with<'a>(
        mut base: Vec<(&'a str, &'a str)>,
        more: &[(&'a str, &'a str)],
    ) -> Vec<(&'a str, &'a str)> {
        base.extend_from_slice(more);
        base
    }

    #[test]
    fn twilio_without_stripe_is_refused_because_sandbox_credits_would_pay_for_real_calls() {
        let error = config(&with(
            twilio_vars(),
            &[("PUBLIC_URL", "https://calls.example.com")],
        ))
        .unwrap_err();
        assert_eq!(error.variable, "STRIPE_SECRET_KEY");
        assert!(
            error
                .problem
                .contains("sandbox payment provider must never run with a real carrier"),
            "{error}"
        );
        assert!(error.problem.contains("free"), "{error}");
        assert!(
            error.problem.contains("ALLOW_SANDBOX_PAYMENTS_WITH_TWILIO"),
            "{error}"
        );
    }

    #[test]
    fn the_explicit_opt_in_allows_twilio_with_the_sandbox_for_a_private_test_deployment() {
        let config = config(&with(
            twilio_vars(),
            &[
                ("PUBLIC_URL", "https://calls.example.com"),
                ("ALLOW_SANDBOX_PAYMENTS_WITH_TWILIO", "1"),
            ],
        ))
        .unwrap();
        assert!(config.allow_sandbox_payments_with_twilio);
        assert!(config.free_real_calls());
        assert_eq!(
            (config.payments_mode(), config.carrier_mode()),
            ("sandbox", "twilio")
        );
        for off in ["0", "false"] {
            assert_eq!(
                super::tests::config(&with(
                    twilio_vars(),
                    &[
                        ("PUBLIC_URL", "https://calls.example.com"),
                        ("ALLOW_SANDBOX_PAYMENTS_WITH_TWILIO", off),
                    ],
                ))
                .unwrap_err()
                .variable,
                "STRIPE_SECRET_KEY"
            );
        }
        assert_eq!(
            super::tests::config(&[("ALLOW_SANDBOX_PAYMENTS_WITH_TWILIO", "yes")])
                .unwrap_err()
                .variable,
            "ALLOW_SANDBOX_PAYMENTS_WITH_TWILIO"
        );
    }

    #[test]
    fn twilio_with_stripe_runs_both_real_providers() {
        let config = config(&with(
            with(twilio_vars(), &stripe_vars()),
            &[("PUBLIC_URL", "https://calls.example.com")],
        ))
        .unwrap();
        assert!(!config.free_real_calls());
        assert_eq!(
            (config.payments_mode(), config.carrier_mode()),
            ("stripe", "twilio")
        );
    }

    #[test]
    fn stripe_requires_its_webhook_secret() {
        let error = config(&[
            ("STRIPE_SECRET_KEY", STRIPE_KEY),
            ("PUBLIC_URL", "https://calls.example.com"),
        ])
        .unwrap_err();
        assert_eq!(error.variable, "STRIPE_WEBHOOK_SECRET");
        assert!(
            error.problem.contains("required with STRIPE_SECRET_KEY"),
            "{error}"
        );
        let config = config(&with(
            stripe_vars(),
            &[("PUBLIC_URL", "https://calls.example.com")],
        ))
        .unwrap();
        assert_eq!(
            (config.payments_mode(), config.carrier_mode()),
            ("stripe", "simulated")
        );
    }

    /// Each real provider on its own, otherwise validly configured (Twilio
    /// with the sandbox needs its opt-in): what the `PUBLIC_URL` rules apply to.
    fn real_provider_setups() -> [Vec<(&'static str, &'static str)>; 2] {
        [
            stripe_vars(),
            with(
                twilio_vars(),
                &[("ALLOW_SANDBOX_PAYMENTS_WITH_TWILIO", "1")],
            ),
        ]
    }

    #[test]
    fn a_real_provider_requires_public_url() {
        for vars in real_provider_setups() {
            let error = config(&vars).unwrap_err();
            assert_eq!(error.variable, "PUBLIC_URL", "{vars:?}");
            assert!(error.problem.contains("is required with"), "{error}");
        }
    }

    #[test]
    fn a_real_provider_requires_an_https_public_url_unless_it_is_loopback() {
        for vars in real_provider_setups() {
            let error = config(&with(
                vars.clone(),
                &[("PUBLIC_URL", "http://calls.example.com")],
            ))
            .unwrap_err();
            assert_eq!(error.variable, "PUBLIC_URL", "{vars:?}");
            assert!(error.problem.contains("must be https"), "{error}");
            for loopback in [
                "http://localhost:3000",
                "http://127.0.0.1:3000",
                "http://[::1]:3000",
            ] {
                assert!(
                    config(&with(vars.clone(), &[("PUBLIC_URL", loopback)])).is_ok(),
                    "{loopback} {vars:?}"
                );
            }
        }
        // The sandbox and the simulated carrier run on plain http anywhere.
        assert!(config(&[("PUBLIC_URL", "http://calls.example.com")]).is_ok());
    }

    #[test]
    fn http_limits_have_sane_defaults_and_name_bad_values() {
        let defaults = config(&[]).unwrap().http;
        assert_eq!(defaults.header_timeout.as_secs(), 10);
        assert_eq!(defaults.request_timeout.as_secs(), 30);
        assert_eq!(defaults.max_connections, 512);
        assert_eq!(defaults.shutdown_grace.as_secs(), 10);
        for variable in [
            "HTTP_HEADER_TIMEOUT_SECS",
            "HTTP_REQUEST_TIMEOUT_SECS",
            "HTTP_MAX_CONNECTIONS",
            "SHUTDOWN_GRACE_SECS",
        ] {
            assert_eq!(
                config(&[(variable, "many")]).unwrap_err().variable,
                variable
            );
        }
        assert_eq!(
            config(&[("HTTP_MAX_CONNECTIONS", "0")])
                .unwrap_err()
                .variable,
            "HTTP_MAX_CONNECTIONS"
        );
    }
}
