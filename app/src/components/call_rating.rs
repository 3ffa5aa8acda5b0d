//! "How was the call?": five star buttons that rate an ended call
//! (`api::call_rating::rate_call`), on the dialer once a call ends and on the
//! call's page. A plain form of submit buttons, so it works without
//! JavaScript too; the latest rating replaces the earlier one.

use crate::api::call_rating::{CallRatingView, RateCall};
use leptos::prelude::*;

const STARS: [u8; 5] = [1, 2, 3, 4, 5];

#[component]
pub fn CallRatingForm(org_id: String, call_id: String, rating: CallRatingView) -> impl IntoView {
    let rate = ServerAction::<RateCall>::new();
    let current = RwSignal::new(rating.rating);
    Effect::watch(
        move || rate.version().get(),
        move |_, _, _| {
            if let Some(Ok(answer)) = rate.value().get_untracked() {
                current.set(answer.rating);
            }
        },
        false,
    );
    let error = move || {
        rate.value()
            .get()
            .and_then(Result::err)
            .map(|error| view! { <p class="form-error" role="alert">{error.to_string()}</p> })
    };
    let summary = move || match current.get() {
        Some(stars) => format!("You rated this call {stars} out of 5."),
        None => "Not rated yet.".to_owned(),
    };
    if !rating.may_rate || !rating.ended {
        let text = match (rating.rating, rating.ended) {
            (Some(stars), _) => format!("Rated {stars} out of 5."),
            (None, false) => "It can be rated once it has ended.".to_owned(),
            (None, true) => "Not rated.".to_owned(),
        };
        return view! { <p class="call-rating-summary" data-testid="call-rating">{text}</p> }
            .into_any();
    }
    let stars = STARS
        .into_iter()
        .map(|n| {
            let chosen = move || current.get().is_some_and(|c| n <= c);
            view! {
                <button type="submit" name="rating" value=n.to_string()
                    class="star" class:chosen=chosen
                    aria-pressed=move || (current.get() == Some(n)).to_string()
                    aria-label=format!("{n} out of 5")
                    disabled=move || rate.pending().get()>
                    "★"
                </button>
            }
        })
        .collect_view();
    view! {
        <ActionForm action=rate attr:class="call-rating">
            <input type="hidden" name="org_id" value=org_id/>
            <input type="hidden" name="call_id" value=call_id/>
            <fieldset>
                <legend>"How was the call?"</legend>
                <div class="stars" role="group" aria-label="Rating">{stars}</div>
                <p class="call-rating-summary" data-testid="call-rating" aria-live="polite">{summary}</p>
            </fieldset>
        </ActionForm>
        {error}
    }
    .into_any()
}
