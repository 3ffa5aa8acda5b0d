//! Rating a call after it ended: 1 to 5 stars, asked for by the dialer when
//! a call ends and shown (and changeable) on the call's page.
//!
//! Any member of the organization may read a call's rating; only the member
//! who placed the call, or an owner or admin, may give or change it (others
//! get 403, like ending a call). A call still under way cannot be rated
//! (409), and anything but a whole number from 1 to 5 is refused (422); a
//! refusal changes nothing. The latest rating replaces the earlier one.

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A call's rating as the pages show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRatingView {
    /// 1–5 stars; None until someone rated the call.
    pub rating: Option<u8>,
    /// Whether the caller may give or change it (placed it, or manages the organization).
    pub may_rate: bool,
    /// Whether the call has ended (only ended calls can be rated).
    pub ended: bool,
}

/// The rating of one call of the organization.
#[server(endpoint = "calls/rating")]
pub async fn call_rating(org_id: String, call_id: String) -> Result<CallRatingView, AppError> {
    ssr::call_rating(org_id, call_id).await
}

/// Rates (or re-rates) an ended call: `rating` is "1" to "5".
#[server(endpoint = "calls/rate")]
pub async fn rate_call(
    org_id: String,
    call_id: String,
    rating: String,
) -> Result<CallRatingView, AppError> {
    ssr::rate_call(org_id, call_id, rating).await
}

/// "1" to "5" (surrounding spaces allowed), or why not.
pub fn parse_rating(raw: &str) -> Result<u8, AppError> {
    match raw.trim().parse::<u8>() {
        Ok(stars @ 1..=5) => Ok(stars),
        _ => Err(AppError::validation(
            "rating",
            "choose a rating from 1 to 5 stars",
        )),
    }
}

#[cfg(feature = "ssr")]
mod ssr {
    use super::*;
    use crate::domain::CallStatus;
    use crate::server::db::call_ratings::{self, RatedCall};
    use crate::server::guard::{self, OrgMember};

    fn view(call: &RatedCall, member: &OrgMember) -> CallRatingView {
        CallRatingView {
            rating: call.rating.and_then(|r| u8::try_from(r).ok()),
            may_rate: may_rate(call, member),
            ended: CallStatus::parse(&call.status).is_some_and(CallStatus::is_terminal),
        }
    }

    fn may_rate(call: &RatedCall, member: &OrgMember) -> bool {
        call.user_id == member.viewer.user.user_id || member.role.can_manage_org()
    }

    pub async fn call_rating(org_id: String, call_id: String) -> Result<CallRatingView, AppError> {
        let (member, state) = guard::require_member(&org_id).await?;
        let call = call_ratings::rated_call(&state.db.pool, &member.org_id, &call_id)
            .await?
            .ok_or(AppError::NotFound)?;
        Ok(view(&call, &member))
    }

    pub async fn rate_call(
        org_id: String,
        call_id: String,
        rating: String,
    ) -> Result<CallRatingView, AppError> {
        let (member, state) = guard::require_member(&org_id).await?;
        let call = call_ratings::rated_call(&state.db.pool, &member.org_id, &call_id)
            .await?
            .ok_or(AppError::NotFound)?;
        if !may_rate(&call, &member) {
            return Err(AppError::Forbidden);
        }
        let stars = parse_rating(&rating)?;
        let stored = call_ratings::set_rating(
            &state.db.pool,
            &member.org_id,
            &call_id,
            i64::from(stars),
            &member.viewer.user.user_id,
            crate::server::clock::now(),
        )
        .await?;
        if !stored {
            return Err(AppError::conflict(
                "call_not_ended",
                "A call can be rated once it has ended.",
            ));
        }
        Ok(CallRatingView {
            rating: Some(stars),
            ..view(&call, &member)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::parse_rating;

    #[test]
    fn ratings_are_whole_stars_from_one_to_five() {
        for good in ["1", "3", " 5 "] {
            assert!(parse_rating(good).is_ok(), "{good}");
        }
        for bad in ["0", "6", "-1", "4.5", "", "five", "256", "05x"] {
            assert!(parse_rating(bad).is_err(), "{bad}");
        }
    }
}
