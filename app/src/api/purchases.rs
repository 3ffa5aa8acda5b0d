//! Buying credits and auto-recharge: creating checkout sessions (credits, or a
//! saved card), following a purchase until its webhook has credited it, and
//! the auto-recharge rule. Credits are never granted here: only the Stripe
//! webhook grants them (see `server/src/webhooks/stripe.rs`).

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// Credit packs offered as buttons, in whole dollars.
pub const PACKS_USD: [i64; 5] = [5, 10, 25, 50, 100];

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseOptions {
    /// Packs within the configured limits, in dollars.
    pub packs_usd: Vec<i64>,
    pub min_usd: i64,
    pub max_usd: i64,
    /// Fresh for each page view: a double submit of the same form makes one checkout.
    pub form_key: String,
    /// "sandbox" or "stripe"
    pub provider: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PurchaseStatus {
    /// Paid at the provider as far as we know, credits not in yet.
    Pending,
    Credited {
        credits: i64,
        amount: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoRechargeView {
    pub can_manage: bool,
    pub enabled: bool,
    /// Dollars as typed back into the form ("5.00").
    pub threshold: String,
    pub target: String,
    pub monthly_cap: String,
    pub used_this_month: String,
    pub has_card: bool,
    pub failures: i64,
    pub recent: Vec<AttemptView>,
    pub notices: Vec<NoticeView>,
    pub form_key: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptView {
    pub when: i64,
    pub amount: String,
    pub status: String,
    pub failure: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeView {
    pub notice_id: String,
    pub message: String,
}

#[server(endpoint = "wallet/purchase-options")]
pub async fn load_purchase_options(org_id: String) -> Result<PurchaseOptions, AppError> {
    ssr::load_purchase_options(org_id).await
}

/// Creates a checkout session for `amount` dollars and sends the browser to it.
#[server(endpoint = "wallet/buy")]
pub async fn buy_credits(org_id: String, amount: String, form_key: String) -> Result<(), AppError> {
    ssr::buy_credits(org_id, amount, form_key).await
}

/// Whether the purchase the browser came back from has been credited yet.
#[server(endpoint = "wallet/purchase-status")]
pub async fn check_purchase(
    org_id: String,
    checkout_id: String,
) -> Result<PurchaseStatus, AppError> {
    ssr::check_purchase(org_id, checkout_id).await
}

#[server(endpoint = "wallet/auto-recharge")]
pub async fn load_auto_recharge(org_id: String) -> Result<AutoRechargeView, AppError> {
    ssr::load_auto_recharge(org_id).await
}

/// Owners and admins: turn auto-recharge on or off and set its amounts (dollars).
#[server(endpoint = "wallet/auto-recharge/save")]
pub async fn save_auto_recharge(
    org_id: String,
    enabled: Option<String>,
    threshold: String,
    target: String,
    monthly_cap: String,
) -> Result<(), AppError> {
    ssr::save_auto_recharge(org_id, enabled.is_some(), threshold, target, monthly_cap).await
}

/// Owners and admins: a setup-mode checkout that saves the card auto-recharge charges.
#[server(endpoint = "wallet/save-card")]
pub async fn save_card(org_id: String, form_key: String) -> Result<(), AppError> {
    ssr::save_card(org_id, form_key).await
}

/// Owners and admins: dismisses one of the organization's notices.
#[server(endpoint = "wallet/dismiss-notice")]
pub async fn dismiss_notice(org_id: String, notice_id: String) -> Result<(), AppError> {
    ssr::dismiss_notice(org_id, notice_id).await
}

#[cfg(feature = "ssr")]
mod ssr {
    use super::*;
    use crate::domain::{FormKey, Money};
    use crate::server::db::{ledger, notices, purchases};
    use crate::server::guard;
    use crate::server::page_reads::PageReads;
    use crate::server::providers::payments::{CardSetup, CreditCheckout};
    use crate::server::purchases::{auto_recharge, checkout_once, CheckoutPurpose};
    use crate::server::{clock, ids};

    fn whole_dollars(money: Money) -> i64 {
        money.micros() / crate::domain::MICROS_PER_DOLLAR
    }

    fn parse_form_key(raw: &str) -> Result<FormKey, AppError> {
        FormKey::parse(raw).map_err(|message| AppError::validation("form_key", message))
    }

    pub async fn load_purchase_options(org_id: String) -> Result<PurchaseOptions, AppError> {
        let (_, state) = guard::require_member(&org_id).await?;
        let limits = state.purchase_limits;
        Ok(PurchaseOptions {
            packs_usd: PACKS_USD
                .into_iter()
                .filter(|d| {
                    Money::from_dollars(*d).is_some_and(|m| m >= limits.min && m <= limits.max)
                })
                .collect(),
            min_usd: whole_dollars(limits.min),
            max_usd: whole_dollars(limits.max),
            form_key: ids::new_id("buy"),
            provider: state.payments.name().to_owned(),
        })
    }

    pub async fn buy_credits(
        org_id: String,
        amount: String,
        form_key: String,
    ) -> Result<(), AppError> {
        let (member, state) = guard::require_member(&org_id).await?;
        let form_key = parse_form_key(&form_key)?;
        let amount =
            Money::parse_dollars(&amount).map_err(|m| AppError::validation("amount", m))?;
        let limits = state.purchase_limits;
        if amount < limits.min || amount > limits.max {
            return Err(AppError::validation(
                "amount",
                format!("choose an amount from {} to {}", limits.min, limits.max),
            ));
        }
        let purpose = CheckoutPurpose::Credits;
        let key = purpose.idempotency_key(&member, &form_key);
        let wallet = format!("{}/wallet", state.public_url);
        let request = CreditCheckout {
            org_id: member.org_id.clone(),
            amount,
            customer_email: member.viewer.user.email.clone(),
            idempotency_key: key.clone(),
            success_url: format!("{wallet}?checkout={{CHECKOUT_SESSION_ID}}"),
            cancel_url: format!("{wallet}?checkout=canceled"),
        };
        let redirect = checkout_once(&state, &member, &key, purpose, amount, || {
            state.payments.create_credit_checkout(&request)
        })
        .await?;
        leptos_axum::redirect(&redirect);
        Ok(())
    }

    pub async fn check_purchase(
        org_id: String,
        checkout_id: String,
    ) -> Result<PurchaseStatus, AppError> {
        let (member, state) = guard::require_member(&org_id).await?;
        purchases::checkout_of_org(&state.db.pool, &member.org_id, &checkout_id)
            .await?
            .ok_or(AppError::NotFound)?;
        let mut conn = state.db.pool.acquire().await?;
        let credited = ledger::entry_for_key(&mut conn, &ledger::checkout_key(&checkout_id))
            .await?
            .filter(|entry| entry.org_id == member.org_id);
        Ok(match credited {
            None => PurchaseStatus::Pending,
            Some(entry) => {
                // The wallet card reads the balance after this answer: not a
                // copy the banner may have read before the credit landed.
                if let Some(reads) = PageReads::of_this_request() {
                    reads.forget_wallet(&member.org_id);
                }
                let amount = Money::from_micros(entry.amount);
                PurchaseStatus::Credited {
                    credits: amount.credits(),
                    amount: amount.to_string(),
                }
            }
        })
    }

    pub async fn load_auto_recharge(org_id: String) -> Result<AutoRechargeView, AppError> {
        let (member, state) = guard::require_member(&org_id).await?;
        let rule = purchases::auto_recharge_settings(&state.db.pool, &member.org_id).await?;
        let used =
            auto_recharge::used_this_month(&state.db.pool, &member.org_id, clock::now()).await?;
        let recent = auto_recharge::recent_attempts(&state.db.pool, &member.org_id)
            .await?
            .into_iter()
            .map(|a| AttemptView {
                when: a.created_at,
                amount: Money::from_micros(a.amount).to_string(),
                status: a.status.as_str().to_owned(),
                failure: a.failure,
            })
            .collect();
        let notices = notices::open_notices(&state.db.pool, &member.org_id)
            .await?
            .into_iter()
            .map(|n| NoticeView {
                notice_id: n.notice_id,
                message: n.message,
            })
            .collect();
        Ok(AutoRechargeView {
            can_manage: member.role.can_manage_org(),
            enabled: rule.enabled,
            threshold: rule.threshold.plain_dollars(),
            target: rule.target.plain_dollars(),
            monthly_cap: rule.monthly_cap.plain_dollars(),
            used_this_month: used.to_string(),
            has_card: rule.payment_method_id.is_some(),
            failures: rule.failures,
            recent,
            notices,
            form_key: ids::new_id("card"),
        })
    }

    pub async fn save_auto_recharge(
        org_id: String,
        enabled: bool,
        threshold: String,
        target: String,
        monthly_cap: String,
    ) -> Result<(), AppError> {
        let (member, state) = guard::require_member(&org_id).await?;
        let admin = member.require_admin()?;
        let org_id = &admin.member().org_id;
        let parse = |field: &str, raw: &str| {
            Money::parse_dollars(raw).map_err(|m| AppError::validation(field, m))
        };
        let threshold = parse("threshold", &threshold)?;
        let target = parse("target", &target)?;
        let monthly_cap = parse("monthly_cap", &monthly_cap)?;
        let min = state.purchase_limits.min;
        if enabled {
            if threshold < Money::from_dollars(1).expect("fits") {
                return Err(AppError::validation(
                    "threshold",
                    "recharge below at least $1.00",
                ));
            }
            if target.checked_sub(threshold).is_none_or(|gap| gap < min) {
                return Err(AppError::validation(
                    "target",
                    format!("the target must be at least {min} above the threshold"),
                ));
            }
            if monthly_cap
                .checked_sub(target)
                .is_none_or(|m| m.is_negative())
            {
                return Err(AppError::validation(
                    "monthly_cap",
                    "the monthly cap must be at least the target",
                ));
            }
            let rule = purchases::auto_recharge_settings(&state.db.pool, org_id).await?;
            if rule.payment_method_id.is_none() {
                return Err(AppError::validation(
                    "enabled",
                    "save a card first: auto-recharge charges it",
                ));
            }
        }
        purchases::save_auto_recharge(
            &state.db.pool,
            org_id,
            enabled,
            threshold.micros(),
            target.micros(),
            monthly_cap.micros(),
            clock::now(),
        )
        .await?;
        tracing::info!(%org_id, enabled, %threshold, %target, %monthly_cap, "auto-recharge saved");
        Ok(())
    }

    pub async fn save_card(org_id: String, form_key: String) -> Result<(), AppError> {
        let (member, state) = guard::require_member(&org_id).await?;
        let admin = member.require_admin()?;
        let member = admin.member();
        let form_key = parse_form_key(&form_key)?;
        let purpose = CheckoutPurpose::SaveCard;
        let key = purpose.idempotency_key(member, &form_key);
        let rule = purchases::auto_recharge_settings(&state.db.pool, &member.org_id).await?;
        let wallet = format!("{}/wallet", state.public_url);
        let request = CardSetup {
            org_id: member.org_id.clone(),
            customer_id: rule.payment_customer_id,
            customer_email: member.viewer.user.email.clone(),
            idempotency_key: key.clone(),
            success_url: format!("{wallet}?card=saved"),
            cancel_url: format!("{wallet}?card=canceled"),
        };
        let redirect = checkout_once(&state, member, &key, purpose, Money::ZERO, || {
            state.payments.create_card_setup(&request)
        })
        .await?;
        leptos_axum::redirect(&redirect);
        Ok(())
    }

    pub async fn dismiss_notice(org_id: String, notice_id: String) -> Result<(), AppError> {
        let (member, state) = guard::require_member(&org_id).await?;
        // Notices are addressed to the people who manage billing (owners and
        // admins, who can act on them); members see them but cannot dismiss them.
        let admin = member.require_admin()?;
        let org_id = &admin.member().org_id;
        if !notices::dismiss(&state.db.pool, org_id, &notice_id, clock::now()).await? {
            return Err(AppError::NotFound);
        }
        Ok(())
    }
}
