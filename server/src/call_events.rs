//! `GET /calls/live?org_id=…`: the live call panel's server push (SSE).
//!
//! Each open tab of a member holds one stream. It sends an `event: call`
//! with the call as JSON (a `CallView`, built by
//! `app::server::call_views::call_view` exactly as the dialer's server
//! functions build it) whenever one of the member's calls in that
//! organization changes, within a second: changes made in this process wake
//! the stream at once (`calls::CALL_CHANGED`), changes made by another
//! instance are found by polling the `call` table twice a second (nothing
//! lives only in one process's memory).
//!
//! Authorized by `session_member`: the session's user (401) and their
//! membership of exactly that organization (404).

use crate::session_member;
use app::domain::CallStatus;
use app::server::call_views::call_view;
use app::server::calls::CALL_CHANGED;
use app::server::db::calls as call_rows;
use app::server::db::Db;
use app::server::{clock, AppState};
use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::time::Duration;
use tower_sessions::Session;

pub const PATH: &str = "/calls/live";
const POLL_EVERY: Duration = Duration::from_millis(500);
/// Changes are re-read this far back, so one committed late with an older
/// timestamp is still seen (each call is sent only when it differs).
const LOOKBACK_MS: i64 = 10_000;

pub fn routes(state: AppState) -> Router {
    Router::new().route(PATH, get(live)).with_state(state)
}

#[derive(Debug, Deserialize)]
pub struct LiveQuery {
    org_id: Option<String>,
}

async fn live(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<LiveQuery>,
) -> Response {
    let member = match session_member::require(&state, &session, query.org_id).await {
        Ok(member) => member,
        Err(error) => return session_member::refusal(error),
    };
    let feed = Feed {
        db: state.db.clone(),
        user_id: member.user_id,
        org_id: member.org_id,
        // What the page loaded may be a moment old: resend the last minute.
        cursor_ms: clock::now_ms() - 60_000,
        sent: HashMap::new(),
        pending: VecDeque::new(),
    };
    let stream = futures::stream::unfold(feed, |mut feed| async move {
        let event = feed.next_event().await;
        Some((Ok::<_, Infallible>(event), feed))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

struct Feed {
    db: Db,
    user_id: String,
    org_id: String,
    cursor_ms: i64,
    /// What each call looked like when last sent.
    sent: HashMap<String, (CallStatus, i64)>,
    pending: VecDeque<Event>,
}

impl Feed {
    async fn next_event(&mut self) -> Event {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return event;
            }
            // Registered before reading, so a change committed meanwhile still wakes us.
            let changed = CALL_CHANGED.notified();
            if let Err(error) = self.read_changes().await {
                tracing::warn!(%error, "live calls: reading changes failed");
            }
            if self.pending.is_empty() {
                let _ = tokio::time::timeout(POLL_EVERY, changed).await;
            }
        }
    }

    async fn read_changes(&mut self) -> Result<(), sqlx::Error> {
        let changed = call_rows::changed_for_user(
            &self.db.pool,
            &self.user_id,
            &self.org_id,
            self.cursor_ms - LOOKBACK_MS,
        )
        .await?;
        for call in changed {
            self.cursor_ms = self.cursor_ms.max(call.updated_at_ms);
            let version = (call.status, call.updated_at_ms);
            if self.sent.get(&call.call_id) == Some(&version) {
                continue;
            }
            self.sent.insert(call.call_id.clone(), version);
            match Event::default().event("call").json_data(call_view(&call)) {
                Ok(event) => self.pending.push_back(event),
                Err(error) => tracing::error!(%error, "live calls: encoding a call failed"),
            }
        }
        Ok(())
    }
}
