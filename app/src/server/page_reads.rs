//! Reads shared by everything that renders one page.
//!
//! A signed-in page is rendered by several parts that each ask the server
//! for what they need: the page gate checks the session's account, the
//! layout loads the account and its organizations, the low-balance banner
//! and the page's own sections each check the caller's membership and may
//! read the same wallet status. Before this, each of them read the account
//! (six times for one `/calls`), the membership and the wallet again.
//!
//! `PageReads` is made by the page gate (`server/src/page_gate.rs`) for a
//! `GET` of a signed-in page, put in the request's extensions, and found by
//! the guards through the request parts Leptos provides while rendering.
//! It lives exactly as long as that request. Rendering a page changes
//! nothing (every change is a POSTed server function, which never gets a
//! `PageReads`), so a read made once is the answer for the whole render.
//! Every check still runs: the guards still read the session (held in
//! memory by tower-sessions after its one load), the absolute timeout, and
//! the membership of exactly the organization asked for; only the database
//! round trips are shared.

use super::db::orgs::Membership;
use super::db::users::User;
use std::sync::{Arc, Mutex};

/// What one page render has read so far, keyed by whom it was read for.
#[derive(Clone, Debug, Default)]
pub struct PageReads(Arc<Mutex<Reads>>);

#[derive(Debug, Default)]
struct Reads {
    /// `users::by_id` for this user id (None: no such user).
    user: Option<(String, Option<User>)>,
    /// `orgs::memberships_of` for this user id.
    memberships: Option<(String, Vec<Membership>)>,
    /// The wallet status read for this organization (`db::wallet::status`).
    wallet: Option<(String, WalletRead)>,
}

/// Balance, held and alert threshold of one organization, in micro-dollars.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalletRead {
    pub balance: i64,
    pub held: i64,
    pub low_balance_threshold: i64,
}

impl PageReads {
    /// The reads of the page render in progress, if this request is one
    /// (from the request parts Leptos provides to server functions).
    pub fn of_this_request() -> Option<PageReads> {
        leptos::prelude::use_context::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<PageReads>().cloned())
    }

    pub fn user(&self, user_id: &str) -> Option<Option<User>> {
        let reads = self.lock();
        reads
            .user
            .as_ref()
            .filter(|(id, _)| id == user_id)
            .map(|(_, user)| user.clone())
    }

    pub fn remember_user(&self, user_id: &str, user: Option<User>) {
        self.lock().user = Some((user_id.to_owned(), user));
    }

    pub fn memberships(&self, user_id: &str) -> Option<Vec<Membership>> {
        let reads = self.lock();
        reads
            .memberships
            .as_ref()
            .filter(|(id, _)| id == user_id)
            .map(|(_, memberships)| memberships.clone())
    }

    pub fn remember_memberships(&self, user_id: &str, memberships: &[Membership]) {
        self.lock().memberships = Some((user_id.to_owned(), memberships.to_vec()));
    }

    pub fn wallet(&self, org_id: &str) -> Option<WalletRead> {
        let reads = self.lock();
        reads
            .wallet
            .as_ref()
            .filter(|(id, _)| id == org_id)
            .map(|(_, wallet)| *wallet)
    }

    pub fn remember_wallet(&self, org_id: &str, wallet: WalletRead) {
        self.lock().wallet = Some((org_id.to_owned(), wallet));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Reads> {
        // Held only to copy a value in or out; a panic elsewhere cannot leave it half-written.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;

    fn user(id: &str) -> User {
        User {
            user_id: id.into(),
            email: format!("{id}@example.com"),
            name: id.into(),
            is_operator: false,
        }
    }

    #[test]
    fn a_read_answers_only_for_whom_it_was_made() {
        let reads = PageReads::default();
        assert!(reads.user("usr_a").is_none());
        reads.remember_user("usr_a", Some(user("usr_a")));
        assert_eq!(reads.user("usr_a").unwrap().unwrap().user_id, "usr_a");
        assert!(reads.user("usr_b").is_none(), "another user is read afresh");
        reads.remember_user("usr_gone", None);
        assert!(matches!(reads.user("usr_gone"), Some(None)));

        let mine = vec![Membership {
            org_id: "org_a".into(),
            name: "A".into(),
            role: Role::Owner,
        }];
        reads.remember_memberships("usr_a", &mine);
        assert_eq!(reads.memberships("usr_a").unwrap()[0].org_id, "org_a");
        assert!(reads.memberships("usr_b").is_none());

        let wallet = WalletRead {
            balance: 5,
            held: 1,
            low_balance_threshold: 0,
        };
        reads.remember_wallet("org_a", wallet);
        assert_eq!(reads.wallet("org_a"), Some(wallet));
        assert_eq!(reads.wallet("org_b"), None);
        // Clones share one set of reads: the gate's copy and the render's.
        assert!(matches!(reads.clone().user("usr_gone"), Some(None)));
    }
}
