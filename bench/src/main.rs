//! Benchmark only, never part of the product: the yardstick that
//! `scripts/bench_pages.py` measures `/calls`, `/wallet` and `/dialer` against.
//!
//! A bare axum + sqlx server for the same three pages, on the same database
//! as a running Phonebooth. Each handler does what a minimal correct handler
//! must: checks the signed session cookie, loads the session row, the
//! account and its memberships (the current organization), then runs the
//! page's own queries — the same functions of `app::server::db` the product
//! calls, so the same SQL — formats the values the same way (times, phone
//! numbers, money) and writes the rows as one HTML string. No Leptos, no
//! reactive graph, no hydration data, no middleware.
//!
//!     cargo build --release -p bench
//!     DATABASE_URL=… SESSION_SECRET=… BIND_ADDR=127.0.0.1:4000 target/release/bare_pages
//!
//! It reads the `phonebooth_session` cookie (plain-http name) signed with
//! the key derived from `SESSION_SECRET` exactly as `startup.rs` derives it.

use app::api::billing::ssr::banner;
use app::api::billing::AccessBanner;
use app::api::call_history::{CALLS_COUNTED_UP_TO, CALLS_PAGE_SIZE};
use app::domain::Money;
use app::server::call_views::call_view;
use app::server::dates::{date_of, display_time, iso_date};
use app::server::db::call_history::{self as calls_db, RawCallFilter};
use app::server::db::orgs::Membership;
use app::server::db::wallet::HistoryFilter;
use app::server::db::{self, Db, DbOptions};
use app::server::page_reads::WalletRead;
use app::server::paging::PageWindow;
use app::server::phone::format_international;
use app::server::{clock, purchases, subscriptions};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha512};
use std::collections::HashMap;
use std::fmt::Write;
use tower_sessions::cookie::{Cookie, CookieJar, Key};

const COOKIE: &str = "phonebooth_session";
/// The payment grace period the product runs with by default (3 days).
const GRACE_SECS: i64 = 3 * 86_400;

#[derive(Clone)]
struct Peer {
    db: Db,
    key: Key,
}

/// Who is asking: the account, its organizations and the current one.
struct SignedIn {
    name: String,
    email: String,
    user_id: String,
    current: Membership,
    orgs: Vec<Membership>,
}

/// The product's allocator (server/src/main.rs): the yardstick should differ
/// from the product only in what the product adds on top of its data.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("DATABASE_URL")?;
    let secret = std::env::var("SESSION_SECRET")?;
    let bind = std::env::var("BIND_ADDR").unwrap_or_else(|_| "127.0.0.1:4000".into());
    let db = Db::connect_with(&url, DbOptions::default()).await?;
    let peer = Peer {
        db,
        key: Key::from(&Sha512::digest(secret.as_bytes())),
    };
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/calls", get(calls))
        .route("/wallet", get(wallet))
        .route("/dialer", get(dialer))
        .with_state(peer);
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

type Page = Result<Response, StatusCode>;

fn internal<E: std::fmt::Display>(error: E) -> StatusCode {
    eprintln!("bare_pages: {error}");
    StatusCode::INTERNAL_SERVER_ERROR
}

/// The signed cookie, the session row, the absolute lifetime, the account and its memberships.
async fn signed_in(peer: &Peer, headers: &HeaderMap) -> Result<SignedIn, StatusCode> {
    let mut jar = CookieJar::new();
    for value in headers.get_all(header::COOKIE) {
        for part in value.to_str().unwrap_or("").split(';') {
            if let Ok(cookie) = Cookie::parse_encoded(part.trim().to_owned()) {
                jar.add_original(cookie);
            }
        }
    }
    let session_id = jar
        .signed(&peer.key)
        .get(COOKIE)
        .map(|c| c.value().to_owned())
        .ok_or(StatusCode::UNAUTHORIZED)?;
    let pool = &peer.db.pool;
    let data = db::sessions::load(pool, &session_id, clock::now())
        .await
        .map_err(internal)?
        .ok_or(StatusCode::UNAUTHORIZED)?;
    let record: serde_json::Value = serde_json::from_slice(&data).map_err(internal)?;
    let data = &record["data"];
    let user_id = data["user_id"].as_str().ok_or(StatusCode::UNAUTHORIZED)?;
    let authenticated_at = data["authenticated_at"].as_i64().unwrap_or(0);
    if clock::now() - authenticated_at > app::server::guard::ABSOLUTE_TIMEOUT_SECS {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let user = db::users::by_id(pool, user_id)
        .await
        .map_err(internal)?
        .ok_or(StatusCode::UNAUTHORIZED)?;
    let orgs = db::orgs::memberships_of(pool, user_id)
        .await
        .map_err(internal)?;
    let chosen = data["org_id"].as_str();
    let current = orgs
        .iter()
        .find(|m| Some(m.org_id.as_str()) == chosen)
        .or_else(|| orgs.first())
        .cloned()
        .ok_or(StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(SignedIn {
        name: user.name,
        email: user.email,
        user_id: user.user_id,
        current,
        orgs,
    })
}

/// `&`, `<`, `>`, `"` and `'` escaped, as any HTML writer must.
fn esc(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// The plan banner (paused, payment failed, blocked) from the same access
/// read the product's layout makes for every page.
async fn access_banner(peer: &Peer, who: &SignedIn) -> Result<Option<AccessBanner>, StatusCode> {
    let mut conn = peer.db.pool.acquire().await.map_err(internal)?;
    let org = &who.current.org_id;
    let access = subscriptions::access(&mut conn, org, clock::now(), GRACE_SECS)
        .await
        .map_err(internal)?;
    let can_manage = who.current.role.can_manage_org();
    Ok(banner(&access.state, can_manage, access.billing_now))
}

/// The document head, the header (navigation, organization switcher, user
/// menu), the plan banner and the low-balance banner: what the product's
/// layout shows.
fn layout(who: &SignedIn, wallet: &WalletRead, plan: Option<AccessBanner>, title: &str) -> String {
    let mut out = String::with_capacity(16 * 1024);
    out.push_str("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>");
    esc(&mut out, title);
    out.push_str(
        " · Phonebooth</title><link rel=\"stylesheet\" href=\"/pkg/phonebooth.css\"></head><body>",
    );
    out.push_str("<header class=\"app-header\"><a class=\"brand\" href=\"/dialer\">☎ Phonebooth</a><nav><a href=\"/dialer\">Dialer</a><a href=\"/wallet\">Wallet</a><a href=\"/calls\">Calls</a><a href=\"/settings\">Settings</a></nav>");
    out.push_str("<form method=\"post\" action=\"/api/org/switch\"><select name=\"org_id\">");
    for org in &who.orgs {
        out.push_str("<option value=\"");
        esc(&mut out, &org.org_id);
        out.push_str(if org.org_id == who.current.org_id {
            "\" selected>"
        } else {
            "\">"
        });
        esc(&mut out, &org.name);
        out.push_str("</option>");
    }
    out.push_str("</select><button>Switch</button></form><details><summary>");
    esc(&mut out, &who.name);
    out.push_str("</summary><p>");
    esc(&mut out, &who.email);
    let _ = write!(
        out,
        "</p><p>Role: {}</p></details></header><main>",
        who.current.role
    );
    if let Some(plan) = plan {
        out.push_str("<div class=\"access-banner\">");
        esc(&mut out, &plan.text);
        out.push_str("</div>");
    }
    let available = wallet.balance - wallet.held;
    if wallet.low_balance_threshold > 0 && available < wallet.low_balance_threshold {
        let _ = write!(
            out,
            "<div class=\"low-balance-banner\">Low balance: {} available, below your alert of {}.</div>",
            Money::from_micros(available),
            Money::from_micros(wallet.low_balance_threshold)
        );
    }
    let _ = write!(out, "<h1>{title}</h1>");
    out
}

fn finish(mut out: String) -> Response {
    out.push_str("</main></body></html>");
    Html(out).into_response()
}

fn duration_text(secs: Option<i64>) -> String {
    match secs.filter(|s| *s >= 0) {
        None => "—".to_owned(),
        Some(s) if s >= 3600 => format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60),
        Some(s) => format!("{}:{:02}", s / 60, s % 60),
    }
}

async fn calls(
    State(peer): State<Peer>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Page {
    let who = signed_in(&peer, &headers).await?;
    let pool = &peer.db.pool;
    let org = &who.current.org_id;
    let raw = RawCallFilter {
        from: query.get("from").cloned(),
        to: query.get("to").cloned(),
        status: query.get("status").cloned(),
        member: query.get("member").cloned(),
        number: query.get("number").cloned(),
    };
    let (filter, callers) = calls_db::checked_filter(pool, org, &raw)
        .await
        .map_err(|_| StatusCode::UNPROCESSABLE_ENTITY)?;
    let position = calls_db::Position::parse(query.get("page").map(String::as_str))
        .map_err(|_| StatusCode::UNPROCESSABLE_ENTITY)?;
    let counted = calls_db::count_calls(pool, org, &filter, CALLS_COUNTED_UP_TO + 1)
        .await
        .map_err(internal)?;
    let total = counted.min(CALLS_COUNTED_UP_TO);
    let page = calls_db::calls_at(pool, org, &filter, &position, i64::from(CALLS_PAGE_SIZE))
        .await
        .map_err(internal)?;
    let wallet = db::wallet::status(pool, org).await.map_err(internal)?;
    let plan = access_banner(&peer, &who).await?;
    let mut out = layout(&who, &wallet, plan, "Calls");
    out.push_str("<form method=\"get\" action=\"/calls\"><select name=\"member\"><option value=\"\">Everyone</option>");
    for caller in &callers {
        out.push_str("<option value=\"");
        esc(&mut out, &caller.user_id);
        out.push_str("\">");
        esc(&mut out, &caller.name);
        out.push_str("</option>");
    }
    let more = if counted > total { "More than " } else { "" };
    let _ = write!(
        out,
        "</select></form><p>{more}{total} calls</p><table><tbody>"
    );
    let next = page.neighbours();
    for row in page.calls {
        let call = row.call;
        let _ = write!(
            out,
            "<tr><td><a href=\"/calls/{}\">{}</a></td><td>",
            call.call_id,
            display_time(call.created_at)
        );
        esc(&mut out, &format_international(&call.to_number));
        out.push_str("</td><td>");
        esc(&mut out, &call.destination());
        out.push_str("</td><td>");
        esc(&mut out, &row.member_name);
        let cost = call
            .cost
            .map(|c| Money::from_micros(c).to_string())
            .unwrap_or_else(|| "—".into());
        let _ = write!(
            out,
            "</td><td>{}</td><td>{}</td><td>{cost}</td><td><a href=\"/dialer?number={}\">Redial</a></td></tr>",
            duration_text(call.duration_secs),
            call.status.label(),
            call.to_number.replace('+', "%2B"),
        );
    }
    out.push_str("</tbody></table><nav>");
    let links = [
        (next.newest, "Newest"),
        (next.newer, "Newer"),
        (next.older, "Older"),
        (next.oldest, "Oldest"),
    ];
    for (position, text) in links {
        if let Some(position) = position {
            let param = position.param().unwrap_or_default();
            let _ = write!(out, "<a href=\"/calls?page={param}\">{text}</a>");
        }
    }
    out.push_str("</nav>");
    Ok(finish(out))
}

async fn wallet(State(peer): State<Peer>, headers: HeaderMap) -> Page {
    let who = signed_in(&peer, &headers).await?;
    let pool = &peer.db.pool;
    let org = &who.current.org_id;
    let now = clock::now();
    // The balance card and the layout's banner (one read, as in the product).
    let status = db::wallet::status(pool, org).await.map_err(internal)?;
    let rule = db::purchases::auto_recharge_settings(pool, org)
        .await
        .map_err(internal)?;
    let used = purchases::auto_recharge::used_this_month(pool, org, now)
        .await
        .map_err(internal)?;
    let attempts = db::auto_recharge::recent_attempts(pool, org)
        .await
        .map_err(internal)?;
    let notices = db::notices::open_notices(pool, org)
        .await
        .map_err(internal)?;
    let days = db::wallet::daily_call_spend(pool, org, date_of(now), 30)
        .await
        .map_err(internal)?;
    let filter =
        HistoryFilter::parse(None, None, None).map_err(|_| StatusCode::UNPROCESSABLE_ENTITY)?;
    let total = db::wallet::count_entries(pool, org, &filter)
        .await
        .map_err(internal)?;
    let window = PageWindow::of(total, 25, None);
    let entries = db::wallet::entries_page(pool, org, &filter, 25, window.offset)
        .await
        .map_err(internal)?;

    let plan = access_banner(&peer, &who).await?;
    let mut out = layout(&who, &status, plan, "Wallet");
    let _ = write!(
        out,
        "<section><p>{}</p><dl><dt>Available</dt><dd>{}</dd><dt>Held</dt><dd>{}</dd></dl></section>",
        Money::from_micros(status.balance),
        Money::from_micros(status.balance - status.held),
        Money::from_micros(status.held),
    );
    out.push_str("<section><form method=\"post\" action=\"/api/wallet/buy\">");
    for pack in [5, 10, 25, 50, 100] {
        let _ = write!(
            out,
            "<button name=\"amount\" value=\"{pack}\">${pack}</button>"
        );
    }
    let _ = write!(
        out,
        "</form><p>Auto-recharge {} below {} to {}, cap {}, used {used}</p><ul>",
        if rule.enabled { "on" } else { "off" },
        rule.threshold,
        rule.target,
        rule.monthly_cap,
    );
    for attempt in attempts {
        let _ = write!(
            out,
            "<li>{} {}</li>",
            display_time(attempt.created_at),
            Money::from_micros(attempt.amount)
        );
    }
    for notice in notices {
        out.push_str("<li>");
        esc(&mut out, &notice.message);
        out.push_str("</li>");
    }
    out.push_str("</ul></section><section><svg>");
    for (day, spend) in days {
        let _ = write!(
            out,
            "<rect data-day=\"{}\"><title>{spend}</title></rect>",
            iso_date(day)
        );
    }
    let _ = write!(
        out,
        "</svg></section><section><p>{total} transactions</p><table><tbody>"
    );
    for entry in entries {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>",
            display_time(entry.created_at),
            entry.kind
        );
        esc(&mut out, &entry.description);
        let _ = write!(
            out,
            "</td><td>{}</td><td>{}</td></tr>",
            Money::from_micros(entry.amount),
            Money::from_micros(entry.balance_after)
        );
    }
    out.push_str("</tbody></table></section>");
    Ok(finish(out))
}

async fn dialer(State(peer): State<Peer>, headers: HeaderMap) -> Page {
    let who = signed_in(&peer, &headers).await?;
    let pool = &peer.db.pool;
    let org = &who.current.org_id;
    let countries = db::rates::countries(pool).await.map_err(internal)?;
    let default_country = db::orgs::country_of(pool, org).await.map_err(internal)?;
    let wallet = db::wallet::status(pool, org).await.map_err(internal)?;
    let available = Money::from_micros(wallet.balance - wallet.held);
    let recent = db::calls::recent_for_user(pool, &who.user_id, org, 8)
        .await
        .map_err(internal)?;
    let plan = access_banner(&peer, &who).await?;
    let mut out = layout(&who, &wallet, plan, "Dialer");
    out.push_str("<form method=\"post\" action=\"/api/calls/start\"><select name=\"country\">");
    for (code, name) in countries {
        let calling_code = app::server::phone::calling_code(&code)
            .map(|c| c.to_string())
            .unwrap_or_default();
        let selected = if code == default_country {
            " selected"
        } else {
            ""
        };
        let _ = write!(out, "<option value=\"{code}\"{selected}>");
        esc(&mut out, &name);
        let _ = write!(out, " (+{calling_code})</option>");
    }
    let _ = write!(out, "</select><input name=\"number\"><button>Call</button></form><p>{available} available</p><ul>");
    for call in recent.iter().map(call_view) {
        out.push_str("<li>");
        esc(&mut out, &call.number);
        out.push(' ');
        esc(&mut out, &call.destination);
        let _ = write!(out, " {}</li>", display_time(call.created_at));
    }
    out.push_str("</ul>");
    Ok(finish(out))
}
