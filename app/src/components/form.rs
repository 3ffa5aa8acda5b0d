//! Showing a server function's error beside the field it is about, or above
//! the form when it is about no shown field.

use crate::error::AppError;
use leptos::prelude::*;

/// The error under one input, linked to it by id for screen readers.
#[component]
pub fn FieldError(error: Signal<Option<AppError>>, field: &'static str) -> impl IntoView {
    move || {
        error.get().filter(|e| e.field() == Some(field)).map(|e| {
            view! { <p class="field-error" id=format!("{field}-error") role="alert">{e.to_string()}</p> }
        })
    }
}

/// An error that belongs to no field of this form (conflicts, throttling, outages).
#[component]
pub fn FormError(
    error: Signal<Option<AppError>>,
    fields: &'static [&'static str],
) -> impl IntoView {
    move || {
        error
            .get()
            .filter(|e| e.field().is_none_or(|f| !fields.contains(&f)))
            .map(|e| view! { <p class="form-error" role="alert">{e.to_string()}</p> })
    }
}

/// What a page shows when its data could not be loaded, with the response
/// status set to match (`answer_with_status_of`).
#[component]
pub fn ErrorNotice(error: AppError) -> impl IntoView {
    answer_with_status_of(&error);
    view! { <p class="form-error" role="alert">{error.to_string()}</p> }
}

/// During server rendering, a server-side failure behind the page sets the
/// response status (503 while the database is unavailable, 500 otherwise), so
/// load balancers and monitors see an outage instead of a page that answered
/// 200. A 4xx stays a 200 page with its message in place: the page's own links
/// fix it. Works because signed-in pages render with `SsrMode::Async`, which
/// waits for their data before the status line is written. No-op in the browser.
pub fn answer_with_status_of(error: &AppError) {
    #[cfg(feature = "ssr")]
    if error.status() >= 500 {
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            if let Ok(status) = http::StatusCode::from_u16(error.status()) {
                response.set_status(status);
            }
        }
    }
    #[cfg(not(feature = "ssr"))]
    let _ = error;
}

/// The error a server action last returned, if any.
pub fn action_error<S>(action: ServerAction<S>) -> Signal<Option<AppError>>
where
    S: leptos::server_fn::ServerFn<Output = (), Error = AppError> + Clone + Send + Sync + 'static,
    S::Output: Send + Sync + 'static,
{
    Signal::derive(move || action.value().get().and_then(Result::err))
}
