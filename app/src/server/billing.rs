//! What owners and admins do to their organization's subscription: start one
//! through Checkout, change its seats, cancel at the period's end and undo it,
//! pause collection and resume early, open the Billing Portal, and pay an
//! overdue invoice now. The server functions (`api/billing.rs`) call these
//! with an `OrgAdmin`, so the role has been checked.
//!
//! The provider is told first and the database follows from its answer
//! (`subscriptions::apply_subscription_object`, the same code the webhook
//! runs), so what we store is what Stripe bills. A seat change whose
//! database write fails after Stripe accepted it is set back at Stripe; both
//! steps are audited, and a set-back that fails is logged as an alert.
//! What the organization may do meanwhile is only ever read from the access
//! state (`domain::access_state`).

use super::db::{self, billing_checkouts, org_audit};
use super::guard::OrgAdmin;
use super::providers::payments::{
    InvoicePayment, PaymentError, SubscriptionChange, SubscriptionCheckout,
};
use super::subscriptions::{self, Applied, Freshness, OrgAccess, Subscription};
use super::{clock, AppState};
use crate::domain::access_state::AccessState;
use crate::domain::{AuditAction, FormKey, PlanInterval};
use crate::error::AppError;

/// The longest pause an admin can choose.
pub const MAX_PAUSE_DAYS: i64 = 90;

/// People an organization holds now: members plus open invitations.
pub async fn seats_in_use(state: &AppState, org_id: &str) -> Result<i64, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    let members = db::orgs::count_members(&mut *conn, org_id).await?;
    let invited = db::invitations::count_open(&mut *conn, org_id, clock::now()).await?;
    Ok(members + invited)
}

/// Where to send the browser to subscribe: a Checkout Session in subscription
/// mode for `seats` seats of the plan's configured price. One session per
/// form, however often it is submitted.
pub async fn subscribe(
    state: &AppState,
    admin: &OrgAdmin,
    interval: PlanInterval,
    seats: u32,
    form_key: &FormKey,
) -> Result<String, AppError> {
    let member = admin.member();
    let org_id = &member.org_id;
    let OrgAccess {
        state: access,
        subscription: current,
        ..
    } = load(state, org_id).await?;
    if access.is_subscribed() {
        return Err(AppError::conflict(
            "already_subscribed",
            "this organization already has a subscription: change its seats instead",
        ));
    }
    let in_use = seats_in_use(state, org_id).await?;
    check_seat_count(seats, in_use, state.subscriptions.max_seats, None)?;
    let key = format!(
        "subscribe:{org_id}:{}:{}",
        member.viewer.user.user_id,
        form_key.as_str()
    );
    if let Some(url) = billing_checkouts::url_for_key(&state.db.pool, &key).await? {
        return Ok(url);
    }
    let price_id = match interval {
        PlanInterval::Monthly => state.subscriptions.prices.team_monthly.clone(),
        PlanInterval::Annual => state.subscriptions.prices.team_annual.clone(),
    };
    let customer_id = match current.as_ref() {
        Some(sub) => Some(sub.customer_id.clone()),
        None => {
            db::purchases::auto_recharge_settings(&state.db.pool, org_id)
                .await?
                .payment_customer_id
        }
    };
    let settings = format!("{}/settings", state.public_url);
    let request = SubscriptionCheckout {
        org_id: org_id.clone(),
        customer_id,
        customer_email: member.viewer.user.email.clone(),
        price_id,
        quantity: seats,
        idempotency_key: key.clone(),
        success_url: format!("{settings}?subscribed={{CHECKOUT_SESSION_ID}}#billing"),
        cancel_url: format!("{settings}#billing"),
    };
    let created = state
        .payments
        .create_subscription_checkout(&request)
        .await
        .map_err(provider_error)?;
    let new = billing_checkouts::NewBillingCheckout {
        checkout_id: &created.session_id,
        org_id,
        created_by: &member.viewer.user.user_id,
        interval,
        seats,
        idempotency_key: &key,
        url: &created.url,
    };
    if !billing_checkouts::insert(&state.db.pool, &new, clock::now()).await? {
        // A concurrent submit of the same form won: use its session.
        if let Some(url) = billing_checkouts::url_for_key(&state.db.pool, &key).await? {
            return Ok(url);
        }
    }
    tracing::info!(%org_id, seats, interval = interval.as_str(), checkout_id = %created.session_id, "subscription checkout created");
    Ok(created.url)
}

/// The rule for a seat count: at least everyone the organization holds, at
/// most the plan's maximum, except that an organization already above the
/// maximum may keep (or lower towards) what it has.
pub fn check_seat_count(
    seats: u32,
    in_use: i64,
    max_seats: u32,
    current: Option<u32>,
) -> Result<(), AppError> {
    if i64::from(seats) < in_use.max(1) {
        return Err(AppError::validation(
            "seats",
            format!(
                "at least {} seats are needed: that is how many members and open invitations \
                 the organization has; remove someone or revoke an invitation first",
                in_use.max(1)
            ),
        ));
    }
    let grandfathered = current.is_some_and(|current| seats <= current);
    if seats > max_seats && !grandfathered {
        return Err(AppError::validation(
            "seats",
            format!("the Team plan has at most {max_seats} seats"),
        ));
    }
    Ok(())
}

/// Changes the number of seats, prorated on the next invoice.
pub async fn change_seats(state: &AppState, admin: &OrgAdmin, seats: u32) -> Result<(), AppError> {
    let member = admin.member();
    let org_id = &member.org_id;
    let OrgAccess {
        state: access,
        subscription: sub,
        ..
    } = load(state, org_id).await?;
    let sub = live_subscription(&access, sub)?;
    if seats == sub.quantity {
        return Ok(());
    }
    let in_use = seats_in_use(state, org_id).await?;
    check_seat_count(
        seats,
        in_use,
        state.subscriptions.max_seats,
        Some(sub.quantity),
    )?;
    let key = request_key("seats", &sub.subscription_id);
    let answer = state
        .payments
        .update_subscription(
            &sub.subscription_id,
            &SubscriptionChange::Quantity(seats),
            &key,
        )
        .await
        .map_err(provider_error)?;
    let detail = format!("Changed the seats from {} to {seats}", sub.quantity);
    match record_answer(
        state,
        admin,
        &answer,
        AuditAction::SeatsChanged,
        &detail,
        Some(seats),
    )
    .await
    {
        Ok(()) => Ok(()),
        Err(error) => {
            set_seats_back(state, admin, &sub, seats).await;
            Err(error)
        }
    }
}

/// Stripe took a seat change the database could not keep: put Stripe back
/// as it was, so what is billed is what we hold, and say so in the trail.
async fn set_seats_back(state: &AppState, admin: &OrgAdmin, sub: &Subscription, tried: u32) {
    let org_id = &admin.member().org_id;
    let key = request_key("seats-set-back", &sub.subscription_id);
    let change = SubscriptionChange::Quantity(sub.quantity);
    let set_back = state
        .payments
        .update_subscription(&sub.subscription_id, &change, &key)
        .await;
    let detail = match &set_back {
        Ok(_) => format!(
            "Changing the seats from {} to {tried} could not be saved; Stripe was set back to {}",
            sub.quantity, sub.quantity
        ),
        Err(error) => {
            tracing::error!(
                alert = true,
                %org_id,
                subscription_id = %sub.subscription_id,
                billed = tried,
                stored = sub.quantity,
                %error,
                "ALERT: a seat change was saved at Stripe but not here, and setting it back failed; \
                 Stripe bills {tried} seats while Phonebooth holds {}: fix it in the dashboard",
                sub.quantity
            );
            format!(
                "Changing the seats from {} to {tried} could not be saved, and setting Stripe \
                 back failed: operators were alerted",
                sub.quantity
            )
        }
    };
    let audited = async {
        let mut tx = state.db.begin_write().await?;
        let actor = Some(admin.member().viewer.user.user_id.as_str());
        org_audit::record(&mut tx, org_id, actor, AuditAction::SeatsSetBack, &detail).await?;
        tx.commit().await
    }
    .await;
    if let Err(error) = audited {
        tracing::error!(alert = true, %org_id, error = ?error, %detail, "ALERT: auditing a seat set-back failed");
    }
}

/// Cancels at the end of the period (`true`), or undoes that (`false`).
pub async fn cancel_at_period_end(
    state: &AppState,
    admin: &OrgAdmin,
    cancel: bool,
) -> Result<(), AppError> {
    let OrgAccess {
        state: access,
        subscription: sub,
        ..
    } = load(state, &admin.member().org_id).await?;
    let sub = live_subscription(&access, sub)?;
    if sub.cancel_at_period_end == cancel {
        return Ok(());
    }
    let key = request_key("cancel", &sub.subscription_id);
    let change = SubscriptionChange::CancelAtPeriodEnd(cancel);
    let answer = state
        .payments
        .update_subscription(&sub.subscription_id, &change, &key)
        .await
        .map_err(provider_error)?;
    let (action, detail) = if cancel {
        (
            AuditAction::CancelScheduled,
            "Canceled the subscription at the end of the period".to_owned(),
        )
    } else {
        (
            AuditAction::CancelUndone,
            "Resumed the subscription (no longer ends at the period's end)".to_owned(),
        )
    };
    record_answer(state, admin, &answer, action, &detail, None).await
}

/// Pauses collection until `resumes_at` (unix seconds, billing clock):
/// members cannot start calls meanwhile.
pub async fn pause(state: &AppState, admin: &OrgAdmin, resumes_at: i64) -> Result<(), AppError> {
    let org_id = &admin.member().org_id;
    let OrgAccess {
        state: access,
        subscription: sub,
        billing_now,
    } = load(state, org_id).await?;
    let sub = live_subscription(&access, sub)?;
    if matches!(access, AccessState::PausedUntil { .. }) {
        return Err(AppError::conflict(
            "already_paused",
            "the subscription is already paused",
        ));
    }
    if resumes_at <= billing_now || resumes_at > billing_now + MAX_PAUSE_DAYS * 86_400 {
        return Err(AppError::validation(
            "resumes_on",
            format!("choose a day from tomorrow to {MAX_PAUSE_DAYS} days from now"),
        ));
    }
    let key = request_key("pause", &sub.subscription_id);
    let change = SubscriptionChange::Pause { resumes_at };
    let answer = state
        .payments
        .update_subscription(&sub.subscription_id, &change, &key)
        .await
        .map_err(provider_error)?;
    let detail = format!(
        "Paused the subscription until {}",
        super::dates::iso_date(super::dates::date_of(resumes_at))
    );
    record_answer(
        state,
        admin,
        &answer,
        AuditAction::SubscriptionPaused,
        &detail,
        None,
    )
    .await
}

/// Ends a pause now.
pub async fn resume_now(state: &AppState, admin: &OrgAdmin) -> Result<(), AppError> {
    let OrgAccess {
        state: access,
        subscription: sub,
        ..
    } = load(state, &admin.member().org_id).await?;
    let sub = live_subscription(&access, sub)?;
    if !sub.paused {
        return Ok(());
    }
    let key = request_key("unpause", &sub.subscription_id);
    let answer = state
        .payments
        .update_subscription(&sub.subscription_id, &SubscriptionChange::Unpause, &key)
        .await
        .map_err(provider_error)?;
    let detail = "Resumed the paused subscription";
    record_answer(
        state,
        admin,
        &answer,
        AuditAction::SubscriptionResumed,
        detail,
        None,
    )
    .await
}

/// The Billing Portal (payment method, invoices) for the organization's customer.
pub async fn portal(state: &AppState, admin: &OrgAdmin) -> Result<String, AppError> {
    let org_id = &admin.member().org_id;
    let OrgAccess {
        state: _,
        subscription: sub,
        ..
    } = load(state, org_id).await?;
    let Some(customer) = sub.map(|sub| sub.customer_id) else {
        return Err(AppError::conflict(
            "not_subscribed",
            "there is nothing to manage yet: subscribe to the Team plan first",
        ));
    };
    let return_url = format!("{}/settings#billing", state.public_url);
    state
        .payments
        .billing_portal(&customer, &return_url)
        .await
        .map_err(provider_error)
}

/// Pays the overdue invoice now with the card on file ("Retry payment").
/// A payment that goes through unblocks when its `invoice.paid` arrives,
/// which the provider sends at once; the answer is read again here too.
pub async fn retry_payment(state: &AppState, admin: &OrgAdmin) -> Result<(), AppError> {
    let OrgAccess {
        state: _,
        subscription: sub,
        ..
    } = load(state, &admin.member().org_id).await?;
    let Some(sub) = sub.filter(|sub| !sub.overdue_invoices.is_empty()) else {
        return Err(AppError::conflict("nothing_due", "no payment is overdue"));
    };
    // Oldest first: each is its own charge with its own idempotency key.
    for invoice in &sub.overdue_invoices {
        let key = request_key("pay", invoice);
        let paid = match state.payments.pay_invoice(invoice, &key).await {
            Ok(paid) => paid,
            // Stripe refuses to pay an invoice that is no longer open (paid
            // meanwhile, its event not here yet, or voided).
            Err(PaymentError::Refused(message)) => {
                tracing::warn!(%invoice, %message, "paying an overdue invoice was refused");
                return Err(AppError::conflict(
                    "payment_not_retried",
                    "this invoice cannot be paid now: it may have been paid already. Reload the \
                     page in a minute; if the payment is still overdue, update the payment method",
                ));
            }
            Err(error) => return Err(provider_error(error)),
        };
        if let InvoicePayment::Declined { reason } = paid {
            return Err(AppError::conflict(
                "payment_declined",
                format!(
                    "the payment did not go through: {reason} Update the payment method and try again."
                ),
            ));
        }
        // Recorded now, so the page shows it at once; the provider's
        // `invoice.paid` event records the same, once.
        let mut tx = state.db.begin_write().await?;
        let paid = db::subscriptions::InvoiceRef {
            invoice_id: invoice,
            subscription_id: &sub.subscription_id,
            org_id: &sub.org_id,
        };
        db::subscriptions::invoice_paid(&mut tx, &paid, clock::now()).await?;
        tx.commit().await?;
    }
    let fresh = state
        .payments
        .retrieve_subscription(&sub.subscription_id)
        .await
        .map_err(provider_error)?;
    let mut tx = state.db.begin_write().await?;
    stored(
        subscriptions::apply_subscription_object(&mut tx, &fresh, Freshness::Fetched, clock::now())
            .await?,
    )?;
    tx.commit().await?;
    Ok(())
}

/// The provider's answer was a subscription we could store.
fn stored(applied: Applied) -> Result<(), AppError> {
    match applied {
        Applied::Stored { .. } => Ok(()),
        other => {
            tracing::error!(outcome = ?other, "the provider answered with a subscription we could not store");
            Err(AppError::Internal)
        }
    }
}

/// The organization's access state and subscription now.
pub async fn load(state: &AppState, org_id: &str) -> Result<OrgAccess, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    Ok(subscriptions::access(
        &mut conn,
        org_id,
        clock::now(),
        state.subscriptions.grace_secs,
    )
    .await?)
}

/// The subscription a change applies to: one that has not ended.
fn live_subscription(
    access: &AccessState,
    sub: Option<Subscription>,
) -> Result<Subscription, AppError> {
    match sub {
        Some(sub) if access.is_subscribed() => Ok(sub),
        _ => Err(AppError::conflict(
            "not_subscribed",
            "this organization has no subscription: subscribe to the Team plan first",
        )),
    }
}

/// Stores the provider's answer and audits the change, in one transaction.
/// A seat change re-checks, under the team lock, that no invitation took a
/// seat the new count no longer has since the first check.
async fn record_answer(
    state: &AppState,
    admin: &OrgAdmin,
    answer: &serde_json::Value,
    action: AuditAction,
    detail: &str,
    seats: Option<u32>,
) -> Result<(), AppError> {
    let member = admin.member();
    let now = clock::now();
    let mut tx = state.db.begin_write().await?;
    db::orgs::lock_team(&mut *tx, &member.org_id).await?;
    if let Some(seats) = seats {
        let members = db::orgs::count_members(&mut *tx, &member.org_id).await?;
        let invited = db::invitations::count_open(&mut *tx, &member.org_id, now).await?;
        check_seat_count(seats, members + invited, u32::MAX, None)?;
    }
    stored(
        subscriptions::apply_subscription_object(&mut tx, answer, Freshness::Fetched, now).await?,
    )?;
    let actor = Some(member.viewer.user.user_id.as_str());
    org_audit::record(&mut tx, &member.org_id, actor, action, detail).await?;
    tx.commit().await?;
    Ok(())
}

/// The provider idempotency key of one request: its own, so the client's
/// retries of that request are safe, while a later click (cancel, resume,
/// cancel again) is a new request and never replays an earlier answer.
fn request_key(what: &str, object_id: &str) -> String {
    format!("{what}:{object_id}:{}", super::ids::new_id("req"))
}

fn provider_error(error: PaymentError) -> AppError {
    match error {
        PaymentError::Refused(message) => {
            tracing::error!(%message, "the payment provider refused a subscription request");
            AppError::Internal
        }
        PaymentError::Unavailable(message) => {
            tracing::warn!(%message, "the payment provider is unavailable");
            AppError::Unavailable
        }
    }
}
