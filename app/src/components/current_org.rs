//! Loading the current organization's data in a page: every page inside the
//! layout that reads the account from `MeResource` (the dialer, the wallet,
//! the calls, receipts and call explanations) builds its Resources from these
//! two helpers.
//!
//! The Resource's key is `current_org_id(me)`, so the data reloads when the
//! person switches organization; its fetcher is `for_current_org(me, load)`,
//! which *awaits* the account before asking for anything. That await is the
//! point: a fetcher that read `me` synchronously (`me.get()`) could see it
//! not yet loaded during server rendering and render an empty page that
//! hydration never fills in. Awaiting it, the server renders the whole page
//! before sending it (`SsrMode::Async`), which is also what makes the pages
//! work without JavaScript.

use crate::api::auth::Me;
use crate::error::AppError;
use leptos::prelude::*;
use std::future::Future;

/// A Resource key that changes when the person switches organization: the
/// current organization's id once the account has loaded.
///
/// On the server it is a constant. One server render serves one request, in
/// which the organization cannot change; tracking `me` there would change
/// the key from `None` to the id the moment the account loads, and every
/// Resource keyed on it would fetch its data a second time (each page's
/// queries ran twice per request). The fetchers await the account
/// themselves (`for_current_org`), so nothing is lost. In the browser the key
/// is tracked as before: switching organization reloads the page's data.
pub(crate) fn current_org_id(me: Resource<Result<Option<Me>, AppError>>) -> Option<String> {
    #[cfg(feature = "ssr")]
    {
        let _ = me;
        None
    }
    #[cfg(not(feature = "ssr"))]
    {
        loaded_org_id(me)
    }
}

/// The current organization's id if the account has loaded (for building
/// links once a fetcher has awaited it; not a Resource key, see above).
pub(crate) fn loaded_org_id(me: Resource<Result<Option<Me>, AppError>>) -> Option<String> {
    me.get_untracked()
        .and_then(Result::ok)
        .flatten()
        .map(|me| me.current_org.org_id)
}

/// Awaits the current account, then loads `load(org_id)` for its organization
/// (None when nobody is logged in: the layout is redirecting).
pub(crate) async fn for_current_org<T, F, Fut>(
    me: Resource<Result<Option<Me>, AppError>>,
    load: F,
) -> Result<Option<T>, AppError>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<T, AppError>>,
{
    match me.await {
        Ok(Some(me)) => load(me.current_org.org_id).await.map(Some),
        Ok(None) => Ok(None),
        Err(error) => Err(error),
    }
}
