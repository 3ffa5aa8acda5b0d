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
use super::subscriptions::OrgAccess;
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// What one page render has read so far, keyed by whom it was read for.
#[derive(Clone, Debug, Default)]
pub struct PageReads(Arc<Mutex<Reads>>);

#[derive(Debug, Default)]
struct Reads {
    /// `users::by_id` for this user id (None: no such user).
    user: Option<(String, Option<User>)>,
    /// `orgs::memberships_of` for this user id.
    memberships: Option<(String, Vec<Membership>)>,
    /// The wallet status of this organization (`db::wallet::status`), read
    /// once even when the page and the banner ask at the same moment.
    wallet: OncePerOrg<WalletRead>,
    /// The access state of this organization (its subscription and billing
    /// clock), which the banner and the wallet card both show on `/wallet`.
    access: OncePerOrg<OrgAccess>,
}

/// One organization's read of one kind, shared by whoever asks during the render.
type OncePerOrg<T> = Option<(String, Arc<OnceCell<T>>)>;

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

    /// The wallet status of `org_id`: shared with the rest of the page when
    /// this request renders one ([`PageReads::wallet`]), read by `read`
    /// otherwise (a POSTed server function).
    pub async fn wallet_for_this_request<E, F, Fut>(org_id: &str, read: F) -> Result<WalletRead, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<WalletRead, E>>,
    {
        match Self::of_this_request() {
            Some(reads) => reads.wallet(org_id, read).await,
            None => read().await,
        }
    }

    /// The access state of `org_id`, shared like
    /// [`PageReads::wallet_for_this_request`].
    pub async fn access_for_this_request<E, F, Fut>(org_id: &str, read: F) -> Result<OrgAccess, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<OrgAccess, E>>,
    {
        match Self::of_this_request() {
            Some(reads) => reads.access(org_id, read).await,
            None => read().await,
        }
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

    /// The wallet status of `org_id`: `read` runs once per render and
    /// organization; whoever asks while it runs waits for its answer.
    pub async fn wallet<E, F, Fut>(&self, org_id: &str, read: F) -> Result<WalletRead, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<WalletRead, E>>,
    {
        self.once(|reads| &mut reads.wallet, org_id, read).await
    }

    /// Drops the wallet status read for `org_id`, so whoever asks next reads
    /// it afresh. For a change seen during the render: the layout's banner
    /// may have read the wallet before a returning purchase was credited,
    /// and the wallet card, which waits for that purchase, must not show
    /// the balance from before it.
    pub fn forget_wallet(&self, org_id: &str) {
        let mut reads = self.lock();
        if reads.wallet.as_ref().is_some_and(|(id, _)| id == org_id) {
            reads.wallet = None;
        }
    }

    /// The access state of `org_id`, read once per render and organization.
    pub async fn access<E, F, Fut>(&self, org_id: &str, read: F) -> Result<OrgAccess, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<OrgAccess, E>>,
    {
        self.once(|reads| &mut reads.access, org_id, read).await
    }

    async fn once<T, E, F, Fut>(
        &self,
        slot: impl FnOnce(&mut Reads) -> &mut OncePerOrg<T>,
        org_id: &str,
        read: F,
    ) -> Result<T, E>
    where
        T: Clone,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let cell = {
            let mut reads = self.lock();
            let slot = slot(&mut reads);
            let known = slot
                .as_ref()
                .filter(|(id, _)| id == org_id)
                .map(|(_, cell)| cell.clone());
            known.unwrap_or_else(|| {
                let cell = Arc::new(OnceCell::new());
                *slot = Some((org_id.to_owned(), cell.clone()));
                cell
            })
        };
        cell.get_or_try_init(read).await.cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Reads> {
        // Held only to copy a value in or out; a panic elsewhere cannot leave it half-written.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::access_state::AccessState;
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

        let wallet = |balance| WalletRead {
            balance,
            held: 1,
            low_balance_threshold: 0,
        };
        let read = |balance| async move { Ok::<_, ()>(wallet(balance)) };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            assert_eq!(reads.wallet("org_a", || read(5)).await, Ok(wallet(5)));
            assert_eq!(
                reads.wallet("org_a", || read(7)).await,
                Ok(wallet(5)),
                "read once"
            );
            assert_eq!(reads.wallet("org_b", || read(9)).await, Ok(wallet(9)));
            reads.forget_wallet("org_a");
            assert_eq!(
                reads.wallet("org_b", || read(11)).await,
                Ok(wallet(9)),
                "only the organization forgotten is read again"
            );
            reads.forget_wallet("org_b");
            assert_eq!(
                reads.wallet("org_b", || read(11)).await,
                Ok(wallet(11)),
                "read afresh after a change"
            );

            let access = |billing_now| async move {
                Ok::<_, ()>(OrgAccess {
                    state: AccessState::Free,
                    subscription: None,
                    billing_now,
                })
            };
            let at = |read: Result<OrgAccess, ()>| read.unwrap().billing_now;
            assert_eq!(at(reads.access("org_a", || access(5)).await), 5);
            assert_eq!(
                at(reads.access("org_a", || access(7)).await),
                5,
                "read once"
            );
            assert_eq!(at(reads.access("org_b", || access(9)).await), 9);
        });
        // Clones share one set of reads: the gate's copy and the render's.
        assert!(matches!(reads.clone().user("usr_gone"), Some(None)));
    }
}
