//! Who is calling, checked on the server for every server function.
//!
//! `Viewer` is a logged-in person; `OrgMember` is a viewer whose membership of
//! one organization has been checked; `OrgAdmin` can only be obtained from an
//! `OrgMember` whose role manages the organization. Functions that need an
//! admin take an `OrgAdmin`, so forgetting the check does not compile.

use super::db::{self, orgs::Membership, users::User, Db};
use super::page_reads::PageReads;
use super::state::{app_state, AppState};
use crate::domain::Role;
use crate::error::AppError;
use tower_sessions::Session;

/// Session keys.
pub const USER_ID: &str = "user_id";
pub const CURRENT_ORG_ID: &str = "org_id";
pub const AUTHENTICATED_AT: &str = "authenticated_at";
/// A message for the next page: the organization the session worked in is
/// no longer one of the person's (they were removed, or left).
pub const ORG_NOTICE: &str = "org_notice";

/// Idle sessions expire after 7 days (tower-sessions renews on activity).
pub const IDLE_TIMEOUT_SECS: i64 = 7 * 24 * 3600;
/// Any session ends 30 days after its login, however active.
pub const ABSOLUTE_TIMEOUT_SECS: i64 = 30 * 24 * 3600;

#[derive(Clone, Debug)]
pub struct Viewer {
    pub user: User,
}

#[derive(Clone, Debug)]
pub struct OrgMember {
    pub viewer: Viewer,
    pub org_id: String,
    pub role: Role,
}

/// Proof that the caller manages `org_id`. Private field: only `OrgMember::require_admin` makes one.
#[derive(Clone, Debug)]
pub struct OrgAdmin(OrgMember);

impl OrgAdmin {
    pub fn member(&self) -> &OrgMember {
        &self.0
    }
}

impl OrgMember {
    pub fn require_admin(self) -> Result<OrgAdmin, AppError> {
        if self.role.can_manage_org() {
            Ok(OrgAdmin(self))
        } else {
            Err(AppError::Forbidden)
        }
    }
}

/// The logged-in user for this session, if any. Ends sessions past their
/// absolute lifetime and sessions whose user no longer exists. While a page
/// renders, the account is read from the database once (`PageReads`).
pub async fn viewer_from_session(session: &Session, db: &Db) -> Result<Option<Viewer>, AppError> {
    viewer_from_session_with(session, db, PageReads::of_this_request().as_ref()).await
}

/// `viewer_from_session`, sharing the account read through `reads` (the page
/// gate passes the `PageReads` it makes for the render that follows).
pub async fn viewer_from_session_with(
    session: &Session,
    db: &Db,
    reads: Option<&PageReads>,
) -> Result<Option<Viewer>, AppError> {
    let Some(user_id) = session.get::<String>(USER_ID).await? else {
        return Ok(None);
    };
    let authenticated_at = session.get::<i64>(AUTHENTICATED_AT).await?.unwrap_or(0);
    if super::clock::now() - authenticated_at > ABSOLUTE_TIMEOUT_SECS {
        session.flush().await?;
        return Ok(None);
    }
    let user = match reads.and_then(|reads| reads.user(&user_id)) {
        Some(user) => user,
        None => {
            let user = db::users::by_id(&db.pool, &user_id).await?;
            if let Some(reads) = reads {
                reads.remember_user(&user_id, user.clone());
            }
            user
        }
    };
    match user {
        Some(user) => Ok(Some(Viewer { user })),
        None => {
            session.flush().await?;
            Ok(None)
        }
    }
}

/// The session of the request being served.
pub async fn session() -> Result<Session, AppError> {
    leptos_axum::extract::<Session>().await.map_err(|error| {
        if leptos::prelude::use_context::<http::request::Parts>().is_none() {
            // No request in reach at all: a page's data load that outlived
            // its dropped render (see `state::app_state`).
            tracing::debug!("a page's data load outlived its render");
        } else {
            tracing::error!(error = ?error, "no session layer in front of this request");
        }
        AppError::Internal
    })
}

/// The calling user, or `Unauthorized`.
pub async fn require_viewer() -> Result<(Viewer, Session, AppState), AppError> {
    let state = app_state()?;
    let session = session().await?;
    let viewer = viewer_from_session(&session, &state.db)
        .await?
        .ok_or(AppError::Unauthorized)?;
    Ok((viewer, session, state))
}

/// The caller as a member of `org_id`. An organization the caller does not
/// belong to answers `NotFound`, exactly like one that does not exist.
pub async fn require_member(org_id: &str) -> Result<(OrgMember, AppState), AppError> {
    let (viewer, _, state) = require_viewer().await?;
    let user_id = &viewer.user.user_id;
    // During a page render the layout has already read every membership.
    let shared = PageReads::of_this_request().and_then(|reads| reads.memberships(user_id));
    let role = match shared {
        Some(memberships) => memberships
            .into_iter()
            .find(|m| m.org_id == org_id)
            .map(|m| m.role),
        None => db::orgs::role_of(&state.db.pool, org_id, user_id).await?,
    }
    .ok_or(AppError::NotFound)?;
    Ok((
        OrgMember {
            viewer,
            org_id: org_id.to_owned(),
            role,
        },
        state,
    ))
}

/// The organization the caller is working in (kept in the session), falling
/// back to their first one when the stored choice is missing or no longer theirs.
pub async fn current_membership(
    viewer: &Viewer,
    session: &Session,
    db: &Db,
) -> Result<(Membership, Vec<Membership>), AppError> {
    let user_id = &viewer.user.user_id;
    let reads = PageReads::of_this_request();
    let memberships = match reads.as_ref().and_then(|reads| reads.memberships(user_id)) {
        Some(memberships) => memberships,
        None => {
            let memberships = db::orgs::memberships_of(&db.pool, user_id).await?;
            if let Some(reads) = &reads {
                reads.remember_memberships(user_id, &memberships);
            }
            memberships
        }
    };
    let chosen = session.get::<String>(CURRENT_ORG_ID).await?;
    let kept = chosen
        .as_ref()
        .and_then(|org_id| memberships.iter().find(|m| &m.org_id == org_id).cloned());
    if let (Some(lost), None) = (chosen.filter(|id| !id.is_empty()), &kept) {
        // Removed (or left) since the last request: say so once, then move on.
        let name = db::orgs::name_of(&db.pool, &lost).await?;
        let notice = match name {
            Some(name) => format!("You are no longer a member of {name}."),
            None => "You are no longer a member of that organization.".to_owned(),
        };
        session.insert(ORG_NOTICE, notice).await?;
    }
    let current = kept.or_else(|| memberships.first().cloned());
    match current {
        Some(current) => {
            session.insert(CURRENT_ORG_ID, &current.org_id).await?;
            Ok((current, memberships))
        }
        None => {
            // Every sign-up creates a personal organization, so this means data was removed by hand.
            tracing::error!(user_id = %viewer.user.user_id, "user belongs to no organization");
            Err(AppError::Internal)
        }
    }
}
