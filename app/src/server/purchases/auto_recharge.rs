//! Auto-recharge: when an organization's available credit falls below its
//! threshold, charge the saved card back up to the target, within a monthly cap.
//!
//! Each charge is an `auto_recharge_attempt` row created (with its job) in one
//! transaction; at most one attempt per organization is pending (a unique
//! index), so two scanners or instances cannot charge twice for one dip. The
//! attempt id is the provider idempotency key, so a retried job charges once;
//! the payment intent id is the ledger key, so the synchronous answer and the
//! `payment_intent.succeeded` webhook credit once between them. Three failures
//! in a row switch auto-recharge off and tell the owners (notice and email).
//!
//! Every attempt closes: a decline or a charge job given up (`given_up_in`)
//! is a failure; a charge the provider is still `processing` stays pending
//! until its webhook, and at most `PROCESSING_WAIT_SECS` (then it is closed
//! as failed by the scan; a success reported later still credits).
//! The job that charges is `server/src/jobs/auto_recharge.rs`; the SQL is
//! `db::auto_recharge`.

use super::Outcome;
use crate::domain::{Money, Role};
use crate::server::db::auto_recharge::{self as attempts, AttemptStatus};
use crate::server::db::purchases::AutoRechargeRule;
use crate::server::db::{self, jobs, ledger, notices, Db};
use crate::server::ids::new_id;
use sqlx::AnyConnection;

pub use attempts::Attempt;

pub const MAX_CONSECUTIVE_FAILURES: i64 = 3;
/// Below this a charge is not worth making (Stripe's minimum is $0.50).
pub const MIN_CHARGE: Money = Money::from_micros(1_000_000);
pub const JOB_KIND: &str = "wallet.auto_recharge";
/// How long a charge the provider answered `processing` may stay pending
/// before the scan closes it as failed: three days. Card payments settle in
/// seconds and Stripe retries its webhooks for three days, so a payment
/// still unreported by then is presumed lost; if it does succeed later, the
/// `payment_intent.succeeded` event still credits it (a late success wins).
pub const PROCESSING_WAIT_SECS: i64 = 3 * 24 * 3600;

/// How much to charge now, or None. Whole cents, rounded up, so the target
/// is reached; never more than what is left of this month's cap.
pub fn amount_to_charge(
    rule: &AutoRechargeRule,
    available: Money,
    used_this_month: Money,
) -> Option<Money> {
    if !rule.enabled || rule.payment_method_id.is_none() {
        return None;
    }
    if available >= rule.threshold {
        return None;
    }
    let wanted = rule.target.micros().checked_sub(available.micros())?;
    let left_this_month = rule.monthly_cap.micros() - used_this_month.micros();
    let cent = crate::domain::MICROS_PER_CREDIT;
    let wanted_cents = (wanted + cent - 1) / cent * cent;
    let amount = wanted_cents.min(left_this_month / cent * cent);
    (amount >= MIN_CHARGE.micros()).then(|| Money::from_micros(amount))
}

/// Unix seconds of the first moment of `now`'s calendar month (UTC).
pub fn month_start(now: i64) -> i64 {
    let date = time::OffsetDateTime::from_unix_timestamp(now)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .date();
    date.replace_day(1)
        .expect("day 1 exists")
        .midnight()
        .assume_utc()
        .unix_timestamp()
}

/// What auto-recharge has charged (or is charging) this calendar month: what the cap limits.
pub async fn used_this_month<'c>(
    db: impl sqlx::Executor<'c, Database = sqlx::Any>,
    org_id: &str,
    now: i64,
) -> Result<Money, sqlx::Error> {
    attempts::charged_since(db, org_id, month_start(now))
        .await
        .map(Money::from_micros)
}

/// Starts an attempt (and its charge job) for every organization whose rule
/// says so. Returns the attempt ids started.
#[tracing::instrument(skip_all)]
pub async fn start_due_attempts(db: &Db, now: i64) -> Result<Vec<String>, sqlx::Error> {
    close_stale_processing(db, now).await?;
    let mut started = Vec::new();
    for org_id in attempts::orgs_due(&db.pool).await? {
        let mut tx = db.begin_write().await?;
        let balance = ledger::balance_in(&mut tx, &org_id).await?;
        let rule = db::purchases::auto_recharge_settings(&mut *tx, &org_id).await?;
        let used = used_this_month(&mut *tx, &org_id, now).await?;
        let Some(amount) = amount_to_charge(&rule, balance.available(), used) else {
            continue;
        };
        let attempt_id = new_id("arc");
        if !attempts::insert_attempt(&mut tx, &attempt_id, &org_id, amount.micros(), now).await? {
            continue; // another instance started one a moment ago
        }
        let payload = serde_json::json!({ "attempt_id": attempt_id });
        jobs::enqueue(
            &mut *tx,
            &jobs::NewJob {
                kind: JOB_KIND,
                payload: &payload,
                dedupe_key: Some(&format!("auto_recharge:{attempt_id}")),
                run_at_ms: now * 1000,
            },
            now,
        )
        .await?;
        tx.commit().await?;
        tracing::info!(%org_id, %attempt_id, %amount, "auto-recharge attempt started");
        started.push(attempt_id);
    }
    Ok(started)
}

pub async fn attempt<'c>(
    db: impl sqlx::Executor<'c, Database = sqlx::Any>,
    attempt_id: &str,
) -> Result<Option<Attempt>, sqlx::Error> {
    attempts::attempt(db, attempt_id).await
}

/// The organization's latest attempts, newest first.
pub async fn recent_attempts<'c>(
    db: impl sqlx::Executor<'c, Database = sqlx::Any>,
    org_id: &str,
) -> Result<Vec<Attempt>, sqlx::Error> {
    attempts::recent_attempts(db, org_id).await
}

/// The money is in: credit it (keyed by the payment intent) and close the
/// attempt. Safe to call again from the webhook; credits once.
pub async fn record_success_in(
    conn: &mut AnyConnection,
    attempt: &Attempt,
    payment_ref: &str,
    actor: &str,
    now: i64,
) -> Result<ledger::Posted, ledger::LedgerError> {
    let amount = Money::from_micros(attempt.amount);
    let description = format!("Auto-recharge ({amount})");
    let key = ledger::payment_intent_key(payment_ref);
    let posted = ledger::post_in(
        conn,
        &ledger::NewEntry {
            org_id: &attempt.org_id,
            kind: ledger::EntryKind::AutoRecharge,
            amount,
            actor,
            description: &description,
            idempotency_key: &key,
        },
        now,
    )
    .await?;
    db::purchases::record_credited_payment(conn, payment_ref, &attempt.org_id, &key, amount, now)
        .await?;
    // A late success after the attempt was counted as failed still wins: the money is in.
    attempts::mark_succeeded(conn, attempt, payment_ref, now).await?;
    Ok(posted)
}

/// The charge failed. Counted once per attempt (the job and the webhook may
/// both report it); the third failure in a row switches auto-recharge off
/// and tells the owners. True when this call switched it off.
pub async fn record_failure_in(
    conn: &mut AnyConnection,
    attempt_id: &str,
    payment_ref: Option<&str>,
    reason: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    if !attempts::mark_failed(conn, attempt_id, payment_ref, reason, now).await? {
        return Ok(false);
    }
    let Some(attempt) = attempts::attempt(&mut *conn, attempt_id).await? else {
        return Ok(false);
    };
    let failures = attempts::count_failure(conn, &attempt.org_id).await?;
    tracing::warn!(org_id = %attempt.org_id, %attempt_id, failures, %reason, "auto-recharge charge failed");
    if failures < MAX_CONSECUTIVE_FAILURES {
        return Ok(false);
    }
    attempts::switch_off(conn, &attempt.org_id).await?;
    let message = format!(
        "Auto-recharge was switched off after {failures} failed charges in a row. \
         The last one failed with: {reason}. Update the saved card and switch it on again."
    );
    notices::add_notice(
        conn,
        &attempt.org_id,
        "auto_recharge_disabled",
        &message,
        now,
    )
    .await?;
    let org_name = db::orgs::name_of(&mut *conn, &attempt.org_id)
        .await?
        .unwrap_or_default();
    for owner in db::orgs::members(&mut *conn, &attempt.org_id).await? {
        if owner.role == Role::Owner {
            let body = format!(
                "Hello {},\n\n{message}\n\nOrganization: {org_name}\n",
                owner.name
            );
            notices::queue_email(
                conn,
                &owner.email,
                "Phonebooth auto-recharge switched off",
                &body,
                now,
            )
            .await?;
        }
    }
    Ok(true)
}

/// The provider accepted the charge but is still processing it: the attempt
/// stays pending, with its payment intent, until the webhook says how it
/// ended (or `PROCESSING_WAIT_SECS` pass).
pub async fn record_processing_in(
    conn: &mut AnyConnection,
    attempt_id: &str,
    payment_ref: &str,
) -> Result<(), sqlx::Error> {
    tracing::info!(%attempt_id, %payment_ref, "auto-recharge charge processing: waiting for its webhook");
    attempts::mark_processing(conn, attempt_id, payment_ref).await
}

/// Whether the provider is processing this attempt's charge (it answered
/// `processing`): the job must not charge again nor close it.
pub fn is_processing(attempt: &Attempt) -> bool {
    attempt.status == AttemptStatus::Pending && attempt.payment_ref.is_some()
}

/// The charge job was given up (the provider or the database kept failing):
/// the attempt is closed as failed, counted like a decline, so it no longer
/// blocks the next attempt nor counts toward the monthly cap. An attempt
/// whose payment is processing is left to its webhook (and the wait). True
/// when this closed it.
pub async fn given_up_in(
    conn: &mut AnyConnection,
    attempt_id: &str,
    why: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let Some(attempt) = attempts::attempt(&mut *conn, attempt_id).await? else {
        return Ok(false);
    };
    if !is_pending(&attempt) {
        return Ok(false);
    }
    if is_processing(&attempt) {
        tracing::warn!(%attempt_id, "auto-recharge job given up while its payment is processing: left to the webhook");
        return Ok(false);
    }
    // The cause is logged, not stored: the reason is shown to the organization.
    tracing::warn!(%attempt_id, %why, "auto-recharge charge given up");
    let reason =
        "the charge could not be made: the payment provider kept failing, so it was given up";
    record_failure_in(conn, attempt_id, None, reason, now).await?;
    Ok(true)
}

/// Closes, as failed, the attempts whose payment has been processing for
/// longer than `PROCESSING_WAIT_SECS` with no word from the provider.
pub async fn close_stale_processing(db: &Db, now: i64) -> Result<Vec<String>, sqlx::Error> {
    let stale = attempts::processing_started_before(&db.pool, now - PROCESSING_WAIT_SECS).await?;
    for attempt_id in &stale {
        let mut tx = db.begin_write().await?;
        record_failure_in(
            &mut tx,
            attempt_id,
            None,
            "the payment was still processing at the provider after 3 days with no outcome",
            now,
        )
        .await?;
        tx.commit().await?;
    }
    Ok(stale)
}

/// The provider says an auto-recharge charge succeeded (the webhook half;
/// the job records the synchronous answer, and both are keyed, so whichever
/// lands first credits). Ignored when the amount does not match the attempt.
pub async fn charge_succeeded_in(
    conn: &mut AnyConnection,
    attempt_id: &str,
    payment_ref: &str,
    amount_received: Option<Money>,
    actor: &str,
    now: i64,
) -> Result<Outcome, ledger::LedgerError> {
    let Some(attempt) = attempts::attempt(&mut *conn, attempt_id).await? else {
        return Ok(Outcome::Ignored(format!("no attempt {attempt_id}")));
    };
    let amount = Money::from_micros(attempt.amount);
    if amount_received != Some(amount) {
        return Ok(Outcome::Ignored(format!(
            "amount received {amount_received:?} does not match attempt {attempt_id}"
        )));
    }
    let posted = record_success_in(conn, &attempt, payment_ref, actor, now).await?;
    Ok(Outcome::Credited {
        org_id: attempt.org_id,
        amount,
        replayed: posted.replayed,
    })
}

/// The provider says an auto-recharge charge failed.
pub async fn charge_failed_in(
    conn: &mut AnyConnection,
    attempt_id: &str,
    payment_ref: &str,
    reason: &str,
    now: i64,
) -> Result<Outcome, sqlx::Error> {
    record_failure_in(conn, attempt_id, Some(payment_ref), reason, now).await?;
    Ok(Outcome::RechargeFailed {
        attempt_id: attempt_id.to_owned(),
    })
}

/// Whether the job still has to charge for this attempt (the webhook may have
/// settled it first).
pub fn is_pending(attempt: &Attempt) -> bool {
    attempt.status == AttemptStatus::Pending
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(threshold: i64, target: i64, cap: i64) -> AutoRechargeRule {
        AutoRechargeRule {
            enabled: true,
            threshold: dollars(threshold),
            target: dollars(target),
            monthly_cap: dollars(cap),
            payment_method_id: Some("pm_card_visa".into()),
            ..AutoRechargeRule::default()
        }
    }

    fn dollars(d: i64) -> Money {
        Money::from_dollars(d).unwrap()
    }

    #[test]
    fn nothing_is_charged_at_or_above_the_threshold() {
        assert_eq!(
            amount_to_charge(&rule(5, 20, 100), dollars(5), Money::ZERO),
            None
        );
        assert_eq!(
            amount_to_charge(&rule(5, 20, 100), dollars(6), Money::ZERO),
            None
        );
    }

    #[test]
    fn below_the_threshold_the_card_is_charged_up_to_the_target() {
        assert_eq!(
            amount_to_charge(
                &rule(5, 20, 100),
                Money::from_micros(4_990_000),
                Money::ZERO
            ),
            Some(Money::from_micros(15_010_000))
        );
    }

    #[test]
    fn fractions_of_a_cent_round_up_so_the_target_is_reached() {
        assert_eq!(
            amount_to_charge(
                &rule(5, 20, 100),
                Money::from_micros(4_999_999),
                Money::ZERO
            ),
            Some(Money::from_micros(15_010_000))
        );
    }

    #[test]
    fn the_monthly_cap_limits_the_charge_and_then_stops_it() {
        assert_eq!(
            amount_to_charge(&rule(5, 20, 100), dollars(0), dollars(90)),
            Some(dollars(10))
        );
        assert_eq!(
            amount_to_charge(&rule(5, 20, 100), dollars(0), dollars(100)),
            None
        );
        assert_eq!(
            amount_to_charge(
                &rule(5, 20, 100),
                dollars(0),
                Money::from_micros(99_500_000)
            ),
            None,
            "less than the minimum charge left"
        );
    }

    #[test]
    fn a_disabled_rule_or_a_missing_card_charges_nothing() {
        let mut off = rule(5, 20, 100);
        off.enabled = false;
        assert_eq!(amount_to_charge(&off, dollars(0), Money::ZERO), None);
        let mut no_card = rule(5, 20, 100);
        no_card.payment_method_id = None;
        assert_eq!(amount_to_charge(&no_card, dollars(0), Money::ZERO), None);
    }

    #[test]
    fn a_negative_available_balance_is_recharged_too() {
        assert_eq!(
            amount_to_charge(
                &rule(5, 20, 100),
                Money::from_micros(-2_000_000),
                Money::ZERO
            ),
            Some(dollars(22))
        );
    }

    #[test]
    fn months_start_on_the_first_at_midnight_utc() {
        // 2026-11-21T10:00:00Z
        assert_eq!(month_start(1_795_255_200), 1_793_491_200);
        assert_eq!(month_start(1_793_491_200), 1_793_491_200);
    }
}
