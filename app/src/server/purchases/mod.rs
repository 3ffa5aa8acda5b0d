//! Money coming in, in one place: creating a checkout once per form,
//! crediting a paid checkout, saving a card, and auto-recharge with its
//! outcomes (`auto_recharge.rs`). The server functions (`api/purchases.rs`)
//! and the Stripe webhook (`server/src/webhooks/stripe.rs`) both call these,
//! the way the Twilio webhook calls `calls::apply_carrier_event`: the webhook
//! only verifies and reads Stripe's wire format, and the rules live here.
//!
//! Every credit is a ledger post keyed by its cause (the checkout session id,
//! or the payment intent id for auto-recharge), so a redelivered or reordered
//! event credits once.

pub mod auto_recharge;
pub mod reversals;

use super::db::ledger::{self, EntryKind, LedgerError, NewEntry};
use super::db::{self, purchases};
use super::guard::OrgMember;
use super::providers::payments::{CheckoutRedirect, PaymentError};
use super::{clock, AppState};
use crate::domain::{FormKey, Money};
use crate::error::AppError;
use sqlx::AnyConnection;

/// What applying a provider event did; recorded on the stored event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Credited {
        org_id: String,
        amount: Money,
        replayed: bool,
    },
    Ignored(String),
    CardSaved {
        org_id: String,
    },
    RechargeFailed {
        attempt_id: String,
    },
    /// A refund or dispute took money back; `in_debt` when that left the
    /// organization owing money.
    TakenBack {
        org_id: String,
        amount: Money,
        in_debt: bool,
    },
    /// A subscription or one of its invoices was applied
    /// (`server::subscriptions`), as described.
    Subscription(String),
}

impl Outcome {
    pub fn describe(&self) -> String {
        match self {
            Outcome::Credited {
                org_id,
                amount,
                replayed: false,
            } => format!("credited {amount} to {org_id}"),
            Outcome::Credited {
                org_id,
                amount,
                replayed: true,
            } => format!("already credited {amount} to {org_id}"),
            Outcome::Ignored(why) => format!("ignored: {why}"),
            Outcome::CardSaved { org_id } => format!("saved a card for {org_id}"),
            Outcome::RechargeFailed { attempt_id } => {
                format!("auto-recharge attempt {attempt_id} failed")
            }
            Outcome::TakenBack {
                org_id,
                amount,
                in_debt,
            } => format!(
                "took back {amount} from {org_id}{}",
                if *in_debt { ", now in debt" } else { "" }
            ),
            Outcome::Subscription(what) => what.clone(),
        }
    }
}

/// What a checkout is for, stored with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckoutPurpose {
    Credits,
    SaveCard,
}

impl CheckoutPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckoutPurpose::Credits => "credits",
            CheckoutPurpose::SaveCard => "save_card",
        }
    }

    /// The provider idempotency key of this member's form: one checkout per
    /// form, whoever submits it twice.
    pub fn idempotency_key(self, member: &OrgMember, form_key: &FormKey) -> String {
        let prefix = match self {
            CheckoutPurpose::Credits => "buy",
            CheckoutPurpose::SaveCard => "card",
        };
        format!(
            "{prefix}:{}:{}:{}",
            member.org_id,
            member.viewer.user.user_id,
            form_key.as_str()
        )
    }
}

fn provider_error(error: PaymentError) -> AppError {
    tracing::error!(%error, "creating a checkout session failed");
    match error {
        PaymentError::Unavailable(_) => AppError::Unavailable,
        PaymentError::Refused(_) => AppError::Internal,
    }
}

/// Returns the URL of the checkout this idempotency key already made, or
/// makes one with `create` and records it. A double submit that races this
/// one ends at the same checkout.
pub async fn checkout_once<F>(
    state: &AppState,
    member: &OrgMember,
    key: &str,
    purpose: CheckoutPurpose,
    amount: Money,
    create: impl FnOnce() -> F,
) -> Result<String, AppError>
where
    F: std::future::Future<Output = Result<CheckoutRedirect, PaymentError>>,
{
    if let Some(existing) = purchases::checkout_by_key(&state.db.pool, key).await? {
        return Ok(existing.url);
    }
    let created = create().await.map_err(provider_error)?;
    let now = clock::now();
    if let Some(customer) = &created.customer_id {
        purchases::set_payment_customer(&state.db.pool, &member.org_id, customer, now).await?;
    }
    let recorded = purchases::insert_checkout(
        &state.db.pool,
        &purchases::NewCheckout {
            checkout_id: &created.session_id,
            org_id: &member.org_id,
            provider: state.payments.name(),
            purpose: purpose.as_str(),
            amount: amount.micros(),
            created_by: &member.viewer.user.user_id,
            idempotency_key: key,
            url: &created.url,
        },
        now,
    )
    .await?;
    if !recorded {
        // A concurrent submit of the same form won the race: use its session.
        if let Some(existing) = purchases::checkout_by_key(&state.db.pool, key).await? {
            return Ok(existing.url);
        }
    }
    tracing::info!(checkout_id = %created.session_id, org_id = %member.org_id, purpose = purpose.as_str(), %amount, "checkout created");
    Ok(created.url)
}

/// A credit purchase the provider says is paid.
#[derive(Clone, Debug)]
pub struct PaidCheckout<'a> {
    pub checkout_id: &'a str,
    pub org_id: &'a str,
    pub amount: Money,
    /// Who is crediting, for the ledger (`stripe:<event id>`).
    pub actor: &'a str,
    /// The payment intent that paid it, when the event names it: how a later
    /// refund or dispute finds this organization.
    pub payment_intent: Option<&'a str>,
}

/// Credits a paid credit purchase. The checkout id is the ledger key, so
/// every event about one payment credits it once.
pub async fn credit_checkout_in(
    tx: &mut AnyConnection,
    paid: &PaidCheckout<'_>,
    now: i64,
) -> Result<Outcome, LedgerError> {
    if paid.amount.micros() <= 0 {
        return Ok(Outcome::Ignored(format!(
            "amount {} is not positive",
            paid.amount
        )));
    }
    if db::orgs::name_of(&mut *tx, paid.org_id).await?.is_none() {
        return Ok(Outcome::Ignored(format!(
            "organization {} does not exist",
            paid.org_id
        )));
    }
    let description = format!("Credit purchase ({})", paid.amount);
    let key = ledger::checkout_key(paid.checkout_id);
    let entry = NewEntry {
        org_id: paid.org_id,
        kind: EntryKind::Purchase,
        amount: paid.amount,
        actor: paid.actor,
        description: &description,
        idempotency_key: &key,
    };
    let posted = ledger::post_in(tx, &entry, now).await?;
    if let Some(payment_intent) = paid.payment_intent {
        purchases::record_credited_payment(tx, payment_intent, paid.org_id, &key, paid.amount, now)
            .await?;
    }
    Ok(Outcome::Credited {
        org_id: paid.org_id.to_owned(),
        amount: paid.amount,
        replayed: posted.replayed,
    })
}

/// A card a setup checkout saved: auto-recharge charges it from now on.
#[derive(Clone, Debug)]
pub struct SavedCard<'a> {
    pub org_id: &'a str,
    pub customer_id: &'a str,
    pub payment_method_id: &'a str,
    /// When the provider created the setup that saved it (unix seconds): a
    /// card from an older setup never replaces one from a newer setup.
    pub setup_created_at: i64,
}

pub async fn save_card_in(
    tx: &mut AnyConnection,
    card: &SavedCard<'_>,
    now: i64,
) -> Result<Outcome, LedgerError> {
    if db::orgs::name_of(&mut *tx, card.org_id).await?.is_none() {
        return Ok(Outcome::Ignored(format!(
            "organization {} does not exist",
            card.org_id
        )));
    }
    let saved = purchases::save_card(
        tx,
        card.org_id,
        card.customer_id,
        card.payment_method_id,
        card.setup_created_at,
        now,
    )
    .await?;
    if !saved {
        return Ok(Outcome::Ignored(format!(
            "the card saved for {} comes from a newer setup",
            card.org_id
        )));
    }
    Ok(Outcome::CardSaved {
        org_id: card.org_id.to_owned(),
    })
}
