//! Server functions of the dialer: the live quote, placing and ending a
//! call, and what the dialer shows on load (countries, recent calls, the live
//! call). Every one checks the caller's membership of the organization on the
//! server; the rules themselves live in `crate::server::calls`.

use crate::domain::rating::{self, Rate};
use crate::domain::{CallStatus, CarrierMode, EndReason, Money};
use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A call as the dialer and the live panel show it (also the SSE payload).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallView {
    pub call_id: String,
    pub e164: String,
    /// "+44 20 7183 8750"
    pub number: String,
    /// "United Kingdom · London" (`Rate::destination`)
    pub destination: String,
    pub status: CallStatus,
    pub end_reason: Option<EndReason>,
    /// Unix seconds.
    pub created_at: i64,
    pub answered_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub max_duration_secs: i64,
    /// When the forced hangup runs, unix milliseconds (answered calls).
    pub hangup_at_ms: Option<i64>,
    pub price_per_minute: Money,
    pub connection_fee: Money,
    pub initial_increment: u32,
    pub subsequent_increment: u32,
    pub duration_secs: Option<i64>,
    /// What was charged, once ended.
    pub cost: Option<Money>,
    pub updated_at_ms: i64,
}

impl CallView {
    /// The cost of `elapsed_secs` of talk at this call's rate (the live
    /// "cost so far"; the real charge comes from the carrier's duration).
    pub fn cost_after(&self, elapsed_secs: u64) -> Money {
        if elapsed_secs == 0 {
            return Money::ZERO;
        }
        Rate::billing_terms(
            self.price_per_minute,
            self.connection_fee,
            self.initial_increment,
            self.subsequent_increment,
        )
        .ok()
        .and_then(|rate| rating::cost(&rate, elapsed_secs))
        .unwrap_or(Money::ZERO)
    }

    pub fn is_live(&self) -> bool {
        !self.status.is_terminal()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialerSetup {
    /// The country picker's `<option>`s as HTML, escaped, the organization's
    /// country selected (`ssr::country_options`).
    pub country_options: String,
    /// The organization's country: the picker's default.
    pub default_country: String,
    pub available: Money,
    /// Destinations above this price per minute need the member's confirmation.
    pub confirm_above_per_minute: Money,
    /// The member's latest calls, newest first.
    pub recent: Vec<CallView>,
    /// Prefix of the dial form's per-attempt keys (fresh per page load).
    pub form_nonce: String,
    /// The server's clock when this was read, unix ms (live timers use it).
    pub server_now_ms: i64,
    /// Who places calls: in Twilio mode the browser starts each call with the
    /// Voice SDK (`StartedCall::attempt`, `voice_token`); in the simulated
    /// mode the simulated carrier does, and the browser only plays audio.
    pub carrier_mode: CarrierMode,
}

/// What `start_call` answers: the call, and in Twilio mode the one-shot
/// attempt id the browser passes to `device.connect({ params: { attempt } })`
/// (valid about a minute, single use; `None` in the simulated mode).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartedCall {
    pub call: CallView,
    pub attempt: Option<String>,
}

/// A Twilio Voice access token for the member's browser (Twilio mode only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoiceToken {
    /// The signed JWT for `new Twilio.Device(token)` / `device.updateToken`.
    pub token: String,
    /// The client identity the token grants (`member-<user id>`).
    pub identity: String,
    /// When the token stops working, unix seconds: refresh before then.
    pub expires_at: i64,
}

/// The quote for a number as typed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum QuoteView {
    /// Callable: `minutes` is how long the balance lasts (rounded down).
    Callable {
        number: String,
        destination: String,
        price_per_minute: Money,
        connection_fee: Money,
        increments: String,
        max_duration_secs: u64,
        needs_confirmation: bool,
        /// Why the talk time is shorter than the balance allows, when the
        /// organization's spending controls decide it ("Calls are limited
        /// to 30 minutes by your organization.").
        limit_note: Option<String>,
    },
    /// A real destination, but the first increment and connection fee do not fit.
    Unaffordable {
        number: String,
        destination: String,
        price_per_minute: Money,
        connection_fee: Money,
        increments: String,
        needed: Money,
        available: Money,
    },
    /// Not callable: invalid, blocked or not a destination we serve; the reason says which.
    Refused { reason: String },
}

#[server(endpoint = "calls/dialer")]
pub async fn load_dialer(org_id: String) -> Result<DialerSetup, AppError> {
    ssr::load_dialer(org_id).await
}

/// The country picker alone (the organization's settings): the same
/// options as `DialerSetup::country_options`, without the rest of the
/// dialer's setup (the wallet, recent calls) that the settings never show.
#[server(endpoint = "calls/countries")]
pub async fn load_country_options(org_id: String) -> Result<String, AppError> {
    ssr::load_country_options(org_id).await
}

#[server(endpoint = "calls/quote")]
pub async fn quote_number(
    org_id: String,
    number: String,
    country: String,
) -> Result<QuoteView, AppError> {
    ssr::quote_number(org_id, number, country).await
}

/// Places a call. `client_key` comes from the dial form: sending the same
/// one again (a double click) returns the same call instead of a second one.
/// In Twilio mode the answer carries the attempt the browser connects with.
#[server(endpoint = "calls/start")]
pub async fn start_call(
    org_id: String,
    number: String,
    country: String,
    client_key: String,
    confirmed: Option<String>,
) -> Result<StartedCall, AppError> {
    ssr::start_call(org_id, number, country, client_key, confirmed.is_some()).await
}

/// A Twilio access token for this member's browser (members of the
/// organization only). In the simulated mode there is nothing to connect to
/// and the answer is a clear error.
#[server(name = GetVoiceToken, endpoint = "calls/voice_token")]
pub async fn voice_token(org_id: String) -> Result<VoiceToken, AppError> {
    ssr::voice_token(org_id).await
}

/// Hangs up an answered call or cancels one still connecting.
#[server(endpoint = "calls/end")]
pub async fn end_call(org_id: String, call_id: String) -> Result<CallView, AppError> {
    ssr::end_call(org_id, call_id).await
}

/// Owners and admins: the country national numbers are read in.
#[server(endpoint = "calls/country")]
pub async fn set_org_country(org_id: String, country: String) -> Result<(), AppError> {
    ssr::set_org_country(org_id, country).await
}

#[cfg(feature = "ssr")]
mod ssr {
    use super::*;
    use crate::domain::FormKey;
    use crate::server::call_views::call_view;
    use crate::server::calls::{self as service, CallError, CallbackUrls, StartCall};
    use crate::server::db;
    use crate::server::guard;
    use crate::server::html;
    use crate::server::page_reads::PageReads;
    use crate::server::phone::{calling_code, is_region};
    use crate::server::AppState;

    fn increments(rate: &Rate) -> String {
        format!(
            "{}/{}",
            rate.initial_increment(),
            rate.subsequent_increment()
        )
    }

    /// The dialer's country picker: an `<option>` per country of the deck
    /// that has a calling code, by name, `selected` on the organization's.
    /// Written as one string rather than a view node per country, so neither
    /// the server's render nor the browser's hydration builds about 200 nodes
    /// that never change (docs/performance.md, "The dialer's countries").
    fn country_options(countries: Vec<(String, String)>, selected: &str) -> String {
        use std::fmt::Write;
        let mut options = String::with_capacity(countries.len() * 48);
        for (code, name) in countries {
            let Some(calling_code) = calling_code(&code) else {
                continue;
            };
            let selected = if code == selected { " selected" } else { "" };
            let _ = write!(
                options,
                r#"<option value="{}"{selected}>{} (+{calling_code})</option>"#,
                html::escape(&code),
                html::escape(&name),
            );
        }
        options
    }

    /// The organization's country and the picker's options with it selected.
    async fn org_countries(state: &AppState, org_id: &str) -> Result<(String, String), AppError> {
        let default_country = db::orgs::country_of(&state.db.pool, org_id).await?;
        let countries = db::rates::countries(&state.db.pool).await?;
        let options = country_options(countries, &default_country);
        Ok((default_country, options))
    }

    pub async fn load_country_options(org_id: String) -> Result<String, AppError> {
        let (member, state) = guard::require_member(&org_id).await?;
        Ok(org_countries(&state, &member.org_id).await?.1)
    }

    pub async fn load_dialer(org_id: String) -> Result<DialerSetup, AppError> {
        let (member, state) = guard::require_member(&org_id).await?;
        let (default_country, country_options) = org_countries(&state, &member.org_id).await?;
        // The layout's banner reads the same wallet: once per page render.
        let wallet = PageReads::wallet_for_this_request(&member.org_id, || {
            db::wallet::status(&state.db.pool, &member.org_id)
        })
        .await?;
        let available = Money::from_micros(wallet.balance - wallet.held);
        let recent: Vec<CallView> = db::calls::recent_for_user(
            &state.db.pool,
            &member.viewer.user.user_id,
            &member.org_id,
            crate::domain::RECENT_CALLS,
        )
        .await?
        .iter()
        .map(call_view)
        .collect();
        Ok(DialerSetup {
            country_options,
            default_country,
            available,
            confirm_above_per_minute: state.calling.confirm_above_per_minute,
            recent,
            form_nonce: crate::server::ids::new_id("dial"),
            server_now_ms: crate::server::clock::now_ms(),
            carrier_mode: state.carrier.mode(),
        })
    }

    pub async fn quote_number(
        org_id: String,
        number: String,
        country: String,
    ) -> Result<QuoteView, AppError> {
        let (member, state) = guard::require_member(&org_id).await?;
        let quote = service::quote(
            &state.db,
            &state.calling,
            &member.org_id,
            &member.viewer.user.user_id,
            &number,
            &country,
        )
        .await;
        let quote = match quote {
            Ok(quote) => quote,
            Err(CallError::Db(error)) => return Err(error.into()),
            Err(refused) => {
                return Ok(QuoteView::Refused {
                    reason: refused.to_string(),
                })
            }
        };
        let number = quote.number.international.clone();
        let destination = quote.rate.destination();
        Ok(match quote.max_duration_secs {
            Some(max_duration_secs) => QuoteView::Callable {
                number,
                destination,
                price_per_minute: quote.rate.price_per_minute(),
                connection_fee: quote.rate.connection_fee(),
                increments: increments(&quote.rate),
                max_duration_secs,
                needs_confirmation: quote.needs_confirmation,
                limit_note: limit_note(&quote, &state.calling),
            },
            None => QuoteView::Unaffordable {
                number,
                destination,
                price_per_minute: quote.rate.price_per_minute(),
                connection_fee: quote.rate.connection_fee(),
                increments: increments(&quote.rate),
                needed: quote.first_increment_cost,
                available: quote.available,
            },
        })
    }

    pub async fn start_call(
        org_id: String,
        number: String,
        country: String,
        client_key: String,
        confirmed: bool,
    ) -> Result<StartedCall, AppError> {
        let (member, state) = guard::require_member(&org_id).await?;
        let client_key = FormKey::parse(&client_key)
            .map_err(|message| AppError::validation("client_key", message))?;
        let request = StartCall {
            org_id: &member.org_id,
            user_id: &member.viewer.user.user_id,
            raw_number: &number,
            country: &country,
            client_key: client_key.as_str(),
            confirmed,
        };
        let started = service::start_call(
            &state.db,
            state.carrier.as_ref(),
            &state.calling,
            &urls(&state),
            &request,
        )
        .await
        .map_err(to_app_error)?;
        // Only a browser that connects needs the attempt: the simulated
        // carrier plays the browser's part itself.
        let attempt = match state.carrier.mode() {
            CarrierMode::Twilio => started.attempt,
            CarrierMode::Simulated => None,
        };
        Ok(StartedCall {
            call: call_view(&started.call),
            attempt,
        })
    }

    pub async fn voice_token(org_id: String) -> Result<VoiceToken, AppError> {
        let (member, state) = guard::require_member(&org_id).await?;
        let identity = service::client_identity(&member.viewer.user.user_id);
        match state
            .carrier
            .access_token(&identity, crate::server::clock::now())
        {
            Some(issued) => Ok(VoiceToken {
                token: issued.token,
                identity: issued.identity,
                expires_at: issued.expires_at,
            }),
            None => Err(AppError::conflict(
                "simulated_carrier",
                "Calls here go through the simulated carrier, which needs no voice token.",
            )),
        }
    }

    pub async fn end_call(org_id: String, call_id: String) -> Result<CallView, AppError> {
        let (member, state) = guard::require_member(&org_id).await?;
        let ender = service::Ender {
            org_id: &member.org_id,
            user_id: &member.viewer.user.user_id,
            manages_org: member.role.can_manage_org(),
        };
        let call = service::end_call(&state.db, state.carrier.as_ref(), &ender, &call_id)
            .await
            .map_err(to_app_error)?;
        Ok(call_view(&call))
    }

    pub async fn set_org_country(org_id: String, country: String) -> Result<(), AppError> {
        let (member, state) = guard::require_member(&org_id).await?;
        let admin = member.require_admin()?;
        let country = country.trim().to_ascii_uppercase();
        let known = db::rates::countries(&state.db.pool)
            .await?
            .into_iter()
            .any(|(code, _)| code == country && is_region(&code));
        if !known {
            return Err(AppError::validation(
                "country",
                "choose a country from the list",
            ));
        }
        let org_id = &admin.member().org_id;
        let mut tx = state.db.begin_write().await?;
        db::orgs::set_country(&mut *tx, org_id, &country).await?;
        db::org_audit::record(
            &mut tx,
            org_id,
            Some(&admin.member().viewer.user.user_id),
            crate::domain::AuditAction::OrgCountryChanged,
            &format!("National numbers are now read as {country}"),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The sentence under the talk time when a spending control decides it.
    fn limit_note(quote: &service::Quote, settings: &service::CallSettings) -> Option<String> {
        use crate::domain::spending::{Limit, Minutes};
        match quote.limited_by? {
            Limit::Cap => quote.limits.cap.map(|cap| {
                format!(
                    "Your monthly limit of {} set by your organization leaves {} this month.",
                    cap.cap,
                    cap.remaining()
                )
            }),
            // The organization's own maximum, not the platform's ceiling.
            Limit::CallLength
                if quote.limits.max_call_secs() <= settings.max_duration_ceiling_secs =>
            {
                Some(format!(
                    "Calls are limited to {} by your organization.",
                    Minutes(quote.limits.max_call_minutes)
                ))
            }
            Limit::CallLength | Limit::Balance => None,
        }
    }

    fn urls(state: &AppState) -> CallbackUrls {
        CallbackUrls {
            public_url: state.public_url.clone(),
        }
    }

    fn to_app_error(error: CallError) -> AppError {
        match error {
            CallError::Number(_) | CallError::NoRate(_) | CallError::Blocked { .. } => {
                AppError::validation("number", error.to_string())
            }
            CallError::Unaffordable { .. } => AppError::conflict("unaffordable", error.to_string()),
            CallError::InDebt { .. } => AppError::conflict("in_debt", error.to_string()),
            CallError::RefusedByPlan(_) => AppError::conflict("subscription", error.to_string()),
            CallError::CapReached { .. } | CallError::CapTooLow { .. } => {
                AppError::conflict("over_cap", error.to_string())
            }
            CallError::CountryNotAllowed { .. } => {
                AppError::conflict("country_not_allowed", error.to_string())
            }
            CallError::NeedsConfirmation { .. } => {
                AppError::conflict("needs_confirmation", error.to_string())
            }
            CallError::CarrierRefused(_) => {
                AppError::conflict("carrier_refused", error.to_string())
            }
            CallError::CarrierUnavailable => AppError::Unavailable,
            CallError::NotFound => AppError::NotFound,
            CallError::NotYours => AppError::Forbidden,
            CallError::Ledger(error) => error.into(),
            CallError::Db(error) => error.into(),
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn country_options_are_escaped_and_select_the_organizations_country() {
            let countries = [
                ("GB", "United Kingdom"),
                ("TT", "Trinidad & Tobago"),
                ("ZZ", "<no calling code>"),
            ];
            let countries = countries
                .map(|(c, n)| (c.to_owned(), n.to_owned()))
                .to_vec();
            assert_eq!(
                super::country_options(countries, "TT"),
                concat!(
                    r#"<option value="GB">United Kingdom (+44)</option>"#,
                    r#"<option value="TT" selected>Trinidad &amp; Tobago (+1)</option>"#,
                )
            );
        }
    }
}
