//! `GET /calls/live?org_id=…`: the live call panel's server push (SSE).
//!
//! Each open tab of a member holds one stream. It sends an `event: call`
//! with the call as JSON (a `CallView`, built by
//! `app::server::call_views::call_view` exactly as the dialer's server
//! functions build it) whenever one of the member's calls in that
//! organization changes. On opening, it first sends the member's most
//! recent calls, so a page loaded a moment ago catches up.
//!
//! The work is bounded and does not grow with idle streams:
//!
//! - **One source of changes per process** (`LiveStreams`), fanned out to
//!   the open streams over a bounded broadcast channel. On PostgreSQL every
//!   write of a call runs `pg_notify('call_changed', …)` in its transaction
//!   (`db::calls::store`), and one listener per process (its own
//!   connection, from the same `DATABASE_URL`) hears every instance's
//!   changes, its own included. On SQLite (one process) the call service
//!   sends to the channel itself after each commit (`calls::CALL_CHANGES`).
//!   An idle stream runs no query at all between re-checks.
//! - A change names the call, its owner and organization; a stream that
//!   cares re-reads just those calls and sends each one whose view differs
//!   from what it sent last. Nothing compares one instance's clock with
//!   another's.
//! - A stream that falls more than `CHANGES_KEPT` changes behind (or hears
//!   that the listener reconnected and may have missed some) re-reads the
//!   member's recent calls instead of holding the others up.
//! - At most `STREAMS_PER_USER` streams per user and process; the next one
//!   is refused with 429.
//! - Every `LIVE_SESSION_CHECK_SECS` the stream checks, in one query, that
//!   its session is still signed in and the member still belongs to the
//!   organization; if not, the stream ends (after logout, expiry or removal).
//! - When the server shuts down, every stream ends, so open streams do not
//!   hold the shutdown up.
//!
//! Authorized by `session_member`: the session's user (401) and their
//! membership of exactly that organization (404).

use crate::session_member;
use app::server::call_views::call_view;
use app::server::calls::{CALL_CHANGES, CHANGES_KEPT};
use app::server::db::calls::{self as call_rows, Call, CallChange, CHANGED_CHANNEL};
use app::server::db::{sessions, Backend, Db};
use app::server::{clock, AppState};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio_util::sync::CancellationToken;
use tower_sessions::Session;

pub const PATH: &str = "/calls/live";
/// Open streams one user may hold on one instance; the next gets 429.
pub const STREAMS_PER_USER: usize = 5;
/// Calls sent when a stream opens, or re-read when it fell behind.
const RECENT: i64 = app::domain::RECENT_CALLS + 4;
/// Changes one stream takes in at once before re-reading the calls they name.
const BATCH: usize = 100;
/// What a stream remembers of the calls it sent (to skip unchanged ones);
/// past this it forgets, and at worst sends a call again.
const REMEMBERED: usize = 1_000;
/// How long the listener waits before reconnecting after a failure.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// This process's live streams: where changes arrive, and who has how many open.
#[derive(Clone)]
pub struct LiveStreams {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    changes: broadcast::Sender<CallChange>,
    open: Mutex<HashMap<String, usize>>,
    check_every: Duration,
    shutdown: CancellationToken,
}

impl LiveStreams {
    /// `check_every`: how often each stream re-checks its session
    /// (`LIVE_SESSION_CHECK_SECS`); `shutdown` ends every stream and the listener.
    pub fn new(db: Db, check_every: Duration, shutdown: CancellationToken) -> Self {
        let changes = match db.backend {
            Backend::Sqlite => CALL_CHANGES.clone(),
            Backend::Postgres => broadcast::channel(CHANGES_KEPT).0,
        };
        Self {
            inner: Arc::new(Inner {
                db,
                changes,
                open: Mutex::new(HashMap::new()),
                check_every,
                shutdown,
            }),
        }
    }

    /// On PostgreSQL, starts this process's one listener on `call_changed`
    /// (its own connection to `database_url`); it runs until shutdown and
    /// reconnects after failures. On SQLite there is nothing to listen to.
    pub fn spawn_listener(&self, database_url: String) {
        if self.inner.db.backend == Backend::Postgres {
            tokio::spawn(listen(
                database_url,
                self.inner.changes.clone(),
                self.inner.shutdown.clone(),
            ));
        }
    }

    /// A place for one more stream of this user, or None at the cap.
    fn take_slot(&self, user_id: &str) -> Option<Slot> {
        let mut open = self.inner.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(user_id.to_owned()).or_insert(0);
        if *count >= STREAMS_PER_USER {
            return None;
        }
        *count += 1;
        Some(Slot {
            streams: self.clone(),
            user_id: user_id.to_owned(),
        })
    }
}

/// One open stream's place in its user's count; given back when the stream ends.
struct Slot {
    streams: LiveStreams,
    user_id: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self
            .streams
            .inner
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.user_id) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.user_id);
            }
        }
    }
}

/// Follows `call_changed` until shutdown, forwarding each notification to
/// the streams. After every (re)connection the streams are told to re-read
/// (`Unknown`), since changes made while nobody listened were not heard.
async fn listen(
    database_url: String,
    changes: broadcast::Sender<CallChange>,
    shutdown: CancellationToken,
) {
    use sqlx::postgres::PgListener;
    while !shutdown.is_cancelled() {
        let connected = async {
            let mut listener = PgListener::connect(&database_url).await?;
            listener.listen(CHANGED_CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = tokio::select! {
            _ = shutdown.cancelled() => return,
            connected = connected => match connected {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::warn!(%error, "live calls: listening for changes failed; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(RECONNECT_AFTER) => continue,
                    }
                }
            },
        };
        tracing::info!("live calls: listening for call changes");
        let _ = changes.send(CallChange::Unknown);
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => return,
                next = listener.try_recv() => next,
            };
            match next {
                Ok(Some(notification)) => {
                    let _ = changes.send(CallChange::parse(notification.payload()));
                }
                // The connection dropped; the next `try_recv` reconnects.
                Ok(None) => {
                    tracing::warn!("live calls: listener connection lost; reconnecting");
                    let _ = changes.send(CallChange::Unknown);
                }
                Err(error) => {
                    tracing::warn!(%error, "live calls: listener failed; reconnecting");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(RECONNECT_AFTER) => break,
                    }
                }
            }
        }
    }
}

#[derive(Clone)]
struct LiveState {
    app: AppState,
    streams: LiveStreams,
}

pub fn routes(app: AppState, streams: LiveStreams) -> Router {
    Router::new()
        .route(PATH, get(live))
        .with_state(LiveState { app, streams })
}

#[derive(Debug, Deserialize)]
pub struct LiveQuery {
    org_id: Option<String>,
}

async fn live(
    State(state): State<LiveState>,
    session: Session,
    Query(query): Query<LiveQuery>,
) -> Response {
    let member = match session_member::require(&state.app, &session, query.org_id).await {
        Ok(member) => member,
        Err(error) => return session_member::refusal(error),
    };
    let Some(session_id) = session.id().map(|id| id.to_string()) else {
        return session_member::refusal(app::error::AppError::Unauthorized);
    };
    let Some(slot) = state.streams.take_slot(&member.user_id) else {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many live call streams are open for this account \
                 (at most {STREAMS_PER_USER}): close another tab of the dialer.\n"
            ),
        )
            .into_response();
    };
    let inner = &state.streams.inner;
    let check_every = inner.check_every;
    let feed = Feed {
        db: inner.db.clone(),
        changes: inner.changes.subscribe(),
        shutdown: inner.shutdown.clone(),
        check: tokio::time::interval_at(tokio::time::Instant::now() + check_every, check_every),
        session_id,
        user_id: member.user_id,
        org_id: member.org_id,
        sent: HashMap::new(),
        pending: Vec::new(),
        caught_up: false,
        _slot: slot,
    };
    let stream = futures::stream::unfold(feed, |mut feed| async move {
        let event = feed.next_event().await?;
        Some((Ok::<_, std::convert::Infallible>(event), feed))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

struct Feed {
    db: Db,
    changes: broadcast::Receiver<CallChange>,
    shutdown: CancellationToken,
    check: tokio::time::Interval,
    session_id: String,
    user_id: String,
    org_id: String,
    /// The JSON last sent for each call.
    sent: HashMap<String, String>,
    /// Events to send, last first.
    pending: Vec<Event>,
    caught_up: bool,
    _slot: Slot,
}

/// What a stream must read after taking in a batch of changes.
enum ToRead {
    Calls(BTreeSet<String>),
    Recent,
}

impl Feed {
    /// The next event, or None when the stream should end.
    async fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.pending.pop() {
                return Some(event);
            }
            if !self.caught_up {
                self.caught_up = true;
                self.read(ToRead::Recent).await;
                continue;
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return None,
                _ = self.check.tick() => {
                    if !self.still_allowed().await {
                        return None;
                    }
                }
                change = self.changes.recv() => {
                    let to_read = match change {
                        Err(RecvError::Closed) => return None,
                        Err(RecvError::Lagged(_)) => ToRead::Recent,
                        Ok(change) => self.batch(change),
                    };
                    self.read(to_read).await;
                }
            }
        }
    }

    /// Takes in `first` and whatever else is already waiting (up to `BATCH`),
    /// keeping the calls of this stream's member.
    fn batch(&mut self, first: CallChange) -> ToRead {
        let mut calls = BTreeSet::new();
        let mut next = Ok(first);
        for _ in 0..BATCH {
            match next {
                Ok(CallChange::Unknown) | Err(TryRecvError::Lagged(_)) => return ToRead::Recent,
                Ok(CallChange::Call {
                    call_id,
                    user_id,
                    org_id,
                }) => {
                    if user_id == self.user_id && org_id == self.org_id {
                        calls.insert(call_id);
                    }
                }
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
            next = self.changes.try_recv();
        }
        ToRead::Calls(calls)
    }

    async fn read(&mut self, to_read: ToRead) {
        let read = match to_read {
            ToRead::Calls(ids) if ids.is_empty() => return,
            ToRead::Calls(ids) => {
                let ids: Vec<String> = ids.into_iter().collect();
                call_rows::some_for_user(&self.db.pool, &self.user_id, &self.org_id, &ids).await
            }
            ToRead::Recent => {
                call_rows::recent_for_user(&self.db.pool, &self.user_id, &self.org_id, RECENT)
                    .await
                    // Oldest first, as they happened.
                    .map(|calls| calls.into_iter().rev().collect())
            }
        };
        match read {
            Ok(calls) => self.queue(calls),
            Err(error) => tracing::warn!(%error, "live calls: reading changed calls failed"),
        }
    }

    /// Queues each call whose view differs from what was last sent.
    fn queue(&mut self, calls: Vec<Call>) {
        let mut events = Vec::new();
        for call in calls {
            let json = match serde_json::to_string(&call_view(&call)) {
                Ok(json) => json,
                Err(error) => {
                    tracing::error!(%error, "live calls: encoding a call failed");
                    continue;
                }
            };
            if self.sent.get(&call.call_id) == Some(&json) {
                continue;
            }
            if self.sent.len() >= REMEMBERED {
                self.sent.clear();
            }
            events.push(Event::default().event("call").data(&json));
            self.sent.insert(call.call_id, json);
        }
        // `pending` pops from the end: keep the order the calls came in.
        events.reverse();
        events.append(&mut self.pending);
        self.pending = events;
    }

    /// Whether the session is still signed in and the member still belongs
    /// to the organization. A database error keeps the stream (the next
    /// check decides).
    async fn still_allowed(&self) -> bool {
        match sessions::still_member(
            &self.db.pool,
            &self.session_id,
            &self.user_id,
            &self.org_id,
            clock::now(),
        )
        .await
        {
            Ok(allowed) => allowed,
            Err(error) => {
                tracing::warn!(%error, "live calls: re-checking the session failed");
                true
            }
        }
    }
}
