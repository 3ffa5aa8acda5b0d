//! The frame of every page that shows one record of the current organization
//! (a purchase's receipt, a call's explanation): load it by route parameter
//! for the current organization, lay it out, or answer 404 with the page's
//! own words when it is not the organization's.

use crate::components::current_org::{current_org_id, for_current_org};
use crate::components::form::ErrorNotice;
use crate::components::layout::MeResource;
use crate::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;

/// What a page of one record says around the record itself.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecordTexts {
    /// The document title, and the heading when loading fails.
    pub title: &'static str,
    pub loading: &'static str,
    /// Shown, with a 404 status, when the record is not the organization's.
    pub missing_heading: &'static str,
    pub missing_text: &'static str,
    /// Where to go instead.
    pub back_href: &'static str,
    pub back_text: &'static str,
}

/// A page that shows one record of the current organization (a receipt,
/// a call's explanation): the route parameter `param` names it, `load(org_id,
/// id)` reads it, `show` lays it out. `NotFound`, which is also what another
/// organization's ids get, answers 404 with `texts.missing_*`.
pub(crate) fn record_page<T, Fut, V>(
    param: &'static str,
    load: fn(String, String) -> Fut,
    texts: RecordTexts,
    show: fn(T) -> V,
) -> AnyView
where
    T: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    Fut: Future<Output = Result<T, AppError>> + Send + 'static,
    V: IntoView + 'static,
{
    let MeResource(me) = expect_context::<MeResource>();
    let params = use_params_map();
    let id = move || params.read().get(param).unwrap_or_default();
    let record = Resource::new(
        move || (current_org_id(me), id()),
        move |(_, id)| for_current_org(me, move |org_id| load(org_id, id)),
    );
    #[cfg(feature = "ssr")]
    let response = use_context::<leptos_axum::ResponseOptions>();
    view! {
        <Title text=texts.title/>
        <Transition fallback=move || view! { <p class="muted">{texts.loading}</p> }>
            {move || {
                #[cfg(feature = "ssr")]
                let response = response.clone();
                Suspend::new(async move {
                    match record.await {
                        Ok(Some(record)) => show(record).into_any(),
                        Ok(None) => ().into_any(),
                        Err(AppError::NotFound) => {
                            #[cfg(feature = "ssr")]
                            if let Some(response) = response {
                                response.set_status(http::StatusCode::NOT_FOUND);
                            }
                            view! {
                                <h1>{texts.missing_heading}</h1>
                                <section class="card">
                                    <p>{texts.missing_text}</p>
                                    <p><a href=texts.back_href>{texts.back_text}</a></p>
                                </section>
                            }
                            .into_any()
                        }
                        Err(error) => view! {
                            <h1>{texts.title}</h1>
                            <ErrorNotice error/>
                        }
                        .into_any(),
                    }
                })
            }}
        </Transition>
    }
    .into_any()
}
