//! Money going back out after it came in: a payment refunded at Stripe
//! (`charge.refunded`) or disputed by the cardholder (`charge.dispute.created`)
//! takes the amount back from the wallet, exactly once per cause:
//!
//! - a refund is keyed by its charge and the cumulative total Stripe reports
//!   (`stripe:refund:<charge>:<total cents>`), and takes back only what the
//!   refunds before it did not, so a second partial refund takes the new
//!   part, and a redelivered or reordered older total takes nothing;
//! - a dispute is keyed by the dispute (`stripe:dispute:<dispute id>`).
//!
//! The organization is the one we credited for the charge's payment intent
//! (`credited_payment`), or else the one the charge's metadata names. The
//! entry always posts (the ledger is append-only and the money is gone); if
//! available falls below zero the wallet is marked in debt, which blocks new
//! calls until a credit pays it back (`ledger::post_clawback_in`). The owners
//! and the platform operators are told (a notice and queued emails).

use super::Outcome;
use crate::domain::{Money, Role};
use crate::server::db::ledger::{self, EntryKind, LedgerError, NewEntry};
use crate::server::db::{self, notices};
use sqlx::AnyConnection;

/// Which payment the money is taken back from.
#[derive(Clone, Debug)]
pub struct PaymentRef<'a> {
    pub charge_id: &'a str,
    pub payment_intent: Option<&'a str>,
    /// The organization the charge's metadata names, for a payment whose
    /// credit we have no record of (it is checked to exist).
    pub metadata_org_id: Option<&'a str>,
}

/// The organization a payment credited, if it was one of ours.
async fn org_of(
    conn: &mut AnyConnection,
    payment: &PaymentRef<'_>,
) -> Result<Option<String>, sqlx::Error> {
    if let Some(payment_intent) = payment.payment_intent {
        if let Some(org_id) = db::purchases::org_of_payment(conn, payment_intent).await? {
            return Ok(Some(org_id));
        }
    }
    if let Some(org_id) = payment.metadata_org_id {
        if db::orgs::name_of(&mut *conn, org_id).await?.is_some() {
            return Ok(Some(org_id.to_owned()));
        }
    }
    Ok(None)
}

/// Stripe says `refunded_total` of the charge has been refunded so far.
pub async fn refund_in(
    conn: &mut AnyConnection,
    payment: &PaymentRef<'_>,
    refunded_total_cents: i64,
    actor: &str,
    now: i64,
) -> Result<Outcome, LedgerError> {
    let Some(total) = Money::from_cents(refunded_total_cents).filter(|m| m.micros() > 0) else {
        return Ok(Outcome::Ignored(format!(
            "refunded amount {refunded_total_cents} is not a positive number of cents"
        )));
    };
    let Some(org_id) = org_of(conn, payment).await? else {
        tracing::warn!(charge_id = %payment.charge_id, payment_intent = ?payment.payment_intent, "refund of a payment we did not credit");
        return Ok(Outcome::Ignored(format!(
            "charge {} paid no organization here",
            payment.charge_id
        )));
    };
    // Under the wallet's lock, so two refunds of one charge see each other.
    ledger::lock_in(conn, &org_id, now).await?;
    let key = ledger::refund_key(payment.charge_id, refunded_total_cents);
    if let Some(done) = ledger::entry_for_key(conn, &key).await? {
        return Ok(Outcome::TakenBack {
            org_id,
            amount: Money::from_micros(-done.amount),
            in_debt: ledger::debt_in(conn, &done.org_id).await?.is_some(),
        });
    }
    let taken = ledger::taken_back_in(
        conn,
        &org_id,
        &ledger::refund_charge_prefix(payment.charge_id),
    )
    .await?;
    let new_part = total.micros() - taken.micros();
    if new_part <= 0 {
        return Ok(Outcome::Ignored(format!(
            "{total} refunded from {} was already taken back",
            payment.charge_id
        )));
    }
    let amount = Money::from_micros(new_part);
    let description = format!(
        "Refund of a payment ({amount}, charge {})",
        payment.charge_id
    );
    take_back(
        conn,
        &org_id,
        EntryKind::Refund,
        amount,
        &key,
        actor,
        &description,
        now,
    )
    .await
}

/// The cardholder disputed the charge: its amount is taken back once.
pub async fn dispute_in(
    conn: &mut AnyConnection,
    payment: &PaymentRef<'_>,
    dispute_id: &str,
    amount_cents: i64,
    reason: &str,
    actor: &str,
    now: i64,
) -> Result<Outcome, LedgerError> {
    let Some(amount) = Money::from_cents(amount_cents).filter(|m| m.micros() > 0) else {
        return Ok(Outcome::Ignored(format!(
            "disputed amount {amount_cents} is not a positive number of cents"
        )));
    };
    let Some(org_id) = org_of(conn, payment).await? else {
        tracing::warn!(%dispute_id, charge_id = %payment.charge_id, "dispute of a payment we did not credit");
        return Ok(Outcome::Ignored(format!(
            "charge {} paid no organization here",
            payment.charge_id
        )));
    };
    let description = format!(
        "Disputed payment ({amount}, {reason}, charge {})",
        payment.charge_id
    );
    take_back(
        conn,
        &org_id,
        EntryKind::Adjustment,
        amount,
        &ledger::dispute_key(dispute_id),
        actor,
        &description,
        now,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn take_back(
    conn: &mut AnyConnection,
    org_id: &str,
    kind: EntryKind,
    amount: Money,
    key: &str,
    actor: &str,
    description: &str,
    now: i64,
) -> Result<Outcome, LedgerError> {
    let (posted, in_debt) = ledger::post_clawback_in(
        conn,
        &NewEntry {
            org_id,
            kind,
            amount: Money::from_micros(-amount.micros()),
            actor,
            description,
            idempotency_key: key,
        },
        now,
    )
    .await?;
    if !posted.replayed {
        tracing::warn!(%org_id, %amount, %key, in_debt, "money taken back from an organization");
        tell(conn, org_id, description, in_debt, now).await?;
    }
    Ok(Outcome::TakenBack {
        org_id: org_id.to_owned(),
        amount,
        in_debt,
    })
}

/// A notice for the organization, and an email to its owners and to every
/// platform operator.
async fn tell(
    conn: &mut AnyConnection,
    org_id: &str,
    what: &str,
    in_debt: bool,
    now: i64,
) -> Result<(), sqlx::Error> {
    let mut message = format!("{what} was taken back from the wallet.");
    if in_debt {
        let owed = ledger::debt_in(conn, org_id)
            .await?
            .map_or(Money::ZERO, |debt| debt.owed);
        message.push_str(&format!(
            " The balance is now below what live calls hold: the organization owes {owed} \
             and cannot start calls until credits are bought to pay it back."
        ));
    }
    notices::add_notice(conn, org_id, "payment_reversed", &message, now).await?;
    let org_name = db::orgs::name_of(&mut *conn, org_id)
        .await?
        .unwrap_or_default();
    let subject = "Phonebooth: money taken back after a refund or dispute";
    let mut recipients: Vec<(String, String)> = db::orgs::members(&mut *conn, org_id)
        .await?
        .into_iter()
        .filter(|member| member.role == Role::Owner)
        .map(|owner| (owner.email, owner.name))
        .collect();
    for operator in db::users::operators(&mut *conn).await? {
        if !recipients.iter().any(|(email, _)| *email == operator.0) {
            recipients.push(operator);
        }
    }
    for (email, name) in recipients {
        let body = format!("Hello {name},\n\n{message}\n\nOrganization: {org_name} ({org_id})\n");
        notices::queue_email(conn, &email, subject, &body, now).await?;
    }
    Ok(())
}
