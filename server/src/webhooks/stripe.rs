//! `POST /webhooks/stripe`: verify the signature on the raw body, store the
//! event by id, then process it and mark it processed in one transaction.
//!
//! Stripe redelivers for days, in any order, sometimes concurrently. So:
//! a stored-and-processed event is acknowledged without acting again; the
//! effect itself is keyed by its business cause (the checkout session), so two
//! different events about one payment credit it once; a processing failure
//! answers 500 so Stripe retries, and the retry cannot double-apply.
//! The same handler serves real Stripe and the built-in sandbox.
//!
//! This file reads Stripe's wire format (which events, which fields, which
//! payment states count); what a paid checkout, a saved card, a recharge
//! outcome, a refund or a dispute does to an organization is
//! `app::server::purchases` (`reversals.rs` for money taken back), and what a
//! subscription or its invoice does is `app::server::subscriptions`.

use crate::providers::stripe::signature as stripe_signature;
use crate::state::WebhookSecrets;
use app::domain::Money;
use app::server::clock;
use app::server::db::ledger::LedgerError;
use app::server::db::{self, Db};
use app::server::providers::payments::{self, PaymentProvider};
use app::server::purchases::{self, auto_recharge, reversals, Outcome, PaidCheckout, SavedCard};
use app::server::subscriptions::{self, Applied, Freshness};
use app::server::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

#[derive(Debug, Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    /// When Stripe created the event (unix seconds).
    #[serde(default)]
    created: Option<i64>,
    data: EventData,
}

#[derive(Debug, Deserialize)]
struct EventData {
    object: Value,
}

/// The fields of a Checkout Session we act on.
#[derive(Debug, Deserialize)]
struct CheckoutSession {
    id: String,
    mode: Option<String>,
    payment_status: Option<String>,
    amount_total: Option<i64>,
    currency: Option<String>,
    /// The payment intent that paid it (an id; an object if expanded).
    #[serde(default)]
    payment_intent: Option<Value>,
    #[serde(default)]
    metadata: std::collections::HashMap<String, String>,
}

/// An id field that Stripe sends as a string, or as the object when expanded.
fn id_of(field: &Option<Value>) -> Option<&str> {
    match field.as_ref()? {
        Value::String(id) => Some(id),
        Value::Object(object) => object.get("id")?.as_str(),
        _ => None,
    }
}

pub async fn receive(
    State(app): State<AppState>,
    State(secrets): State<WebhookSecrets>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    if let Err(error) =
        stripe_signature::verify(secrets.stripe.expose(), signature, &body, clock::now())
    {
        tracing::warn!(%error, "Stripe webhook refused");
        return (StatusCode::BAD_REQUEST, "invalid signature").into_response();
    }
    accept_verified(&app.db, app.payments.clone(), &body).await
}

/// Everything `receive` does once the signature has checked out: parse the
/// event, store it by id, apply it and answer as Stripe expects (200 applied
/// or duplicate, 400 not an event, 503 while the database is unavailable and
/// 500 on any other failure, both to be delivered again).
/// Public so the fault-injection test (`server/tests/api/faults.rs`) can
/// drive this exact pipeline thousands of times without HTTP and signing.
pub async fn accept_verified(db: &Db, payments: Arc<dyn PaymentProvider>, body: &[u8]) -> Response {
    // The request's future is dropped when Stripe stops waiting or the
    // connection breaks; the work itself runs in its own task, so once begun
    // it finishes (or fails) as a whole instead of stopping at some await.
    let (db, body) = (db.clone(), body.to_vec());
    match tokio::spawn(async move { store_and_apply(&db, payments.as_ref(), &body).await }).await {
        Ok(response) => response,
        Err(error) => {
            tracing::error!(%error, "applying a Stripe event panicked");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn store_and_apply(db: &Db, payments: &dyn PaymentProvider, body: &[u8]) -> Response {
    let event: Event = match serde_json::from_slice(body) {
        Ok(event) => event,
        Err(error) => {
            tracing::warn!(%error, "signed Stripe webhook is not an event");
            return (StatusCode::BAD_REQUEST, "not a Stripe event").into_response();
        }
    };
    let payload = String::from_utf8_lossy(body);
    let stored = db::stripe_events::insert_if_absent(
        &db.pool,
        &event.id,
        &event.event_type,
        &payload,
        clock::now(),
    )
    .await;
    if let Err(error) = stored {
        tracing::error!(event_id = %event.id, error = ?error, "storing a Stripe event failed");
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    match process(db, payments, &event).await {
        Ok(None) => Json(json!({ "received": true, "duplicate": true })).into_response(),
        Ok(Some(outcome)) => {
            tracing::info!(event_id = %event.id, event_type = %event.event_type, outcome = %outcome.describe(), "Stripe event processed");
            Json(json!({ "received": true })).into_response()
        }
        Err(error) => {
            tracing::error!(event_id = %event.id, event_type = %event.event_type, error = %error, "processing a Stripe event failed");
            let _ =
                db::stripe_events::record_failure(&db.pool, &event.id, &error.to_string()).await;
            // Either way Stripe delivers it again; the status tells operators
            // (and Stripe's dashboard) an outage from a bug.
            match &error {
                ProcessError::Ledger(LedgerError::Db(cause)) if db::is_unreachable(cause) => {
                    StatusCode::SERVICE_UNAVAILABLE.into_response()
                }
                _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            }
        }
    }
}

/// Applies the event's effect and marks it processed in one transaction.
/// None when it had already been processed. A subscription event whose
/// order cannot be told (as old as what was applied, and different) is
/// applied from the subscription fetched from the provider instead.
async fn process(
    db: &Db,
    payments: &dyn PaymentProvider,
    event: &Event,
) -> Result<Option<Outcome>, ProcessError> {
    // A completed subscription checkout carries only the subscription's id:
    // fetch the object before the transaction (no network call holds a lock).
    let fetched = match subscriptions::checkout_subscription(&event.data.object) {
        Some((_, subscription_id)) if event.event_type == "checkout.session.completed" => {
            let mut conn = db.pool.acquire().await?;
            if db::stripe_events::is_processed(&mut conn, &event.id).await? {
                return Ok(None);
            }
            Some(fetch(payments, &subscription_id).await?)
        }
        _ => None,
    };
    match apply(db, event, fetched.as_ref()).await? {
        Processed::Done(outcome) => Ok(outcome),
        Processed::NeedsFetch(subscription_id) => {
            let object = fetch(payments, &subscription_id).await?;
            match apply(db, event, Some(&object)).await? {
                Processed::Done(outcome) => Ok(outcome),
                // A fetched object is applied as the latest: never in doubt.
                Processed::NeedsFetch(id) => Err(ProcessError::Provider(format!(
                    "{id} still in doubt after fetching it"
                ))),
            }
        }
    }
}

/// The subscription as the provider has it now.
async fn fetch(
    payments: &dyn PaymentProvider,
    subscription_id: &str,
) -> Result<Value, ProcessError> {
    payments
        .retrieve_subscription(subscription_id)
        .await
        .map_err(|error| ProcessError::Provider(format!("fetching {subscription_id}: {error}")))
}

/// Why applying an event failed; either way Stripe delivers it again.
#[derive(Debug, thiserror::Error)]
enum ProcessError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("the payment provider: {0}")]
    Provider(String),
}

impl From<sqlx::Error> for ProcessError {
    fn from(error: sqlx::Error) -> Self {
        ProcessError::Ledger(LedgerError::Db(error))
    }
}

/// What one transaction did: the event's outcome (None: processed before),
/// or the subscription to fetch because the event's order was in doubt.
enum Processed {
    Done(Option<Outcome>),
    NeedsFetch(String),
}

/// One transaction: the effect, and the event marked processed. `fetched`
/// is the subscription object fetched from the provider, when there is one:
/// it is applied instead of the event's.
async fn apply(db: &Db, event: &Event, fetched: Option<&Value>) -> Result<Processed, ProcessError> {
    let mut tx = db.begin_write().await?;
    if db::stripe_events::is_processed(&mut tx, &event.id).await? {
        return Ok(Processed::Done(None));
    }
    let now = clock::now();
    let created = event.created.unwrap_or(now);
    let outcome = match (event.event_type.as_str(), fetched) {
        (
            "checkout.session.completed"
            | "customer.subscription.created"
            | "customer.subscription.updated"
            | "customer.subscription.deleted",
            Some(object),
        ) => subscription_outcome(
            subscriptions::apply_subscription_object(&mut tx, object, Freshness::Fetched, now)
                .await?,
        ),
        (
            "customer.subscription.created"
            | "customer.subscription.updated"
            | "customer.subscription.deleted",
            None,
        ) => {
            let applied = subscriptions::apply_subscription_object(
                &mut tx,
                &event.data.object,
                Freshness::Event(created),
                now,
            )
            .await?;
            if let Applied::Doubtful { subscription_id } = applied {
                return Ok(Processed::NeedsFetch(subscription_id));
            }
            subscription_outcome(applied)
        }
        ("invoice.paid" | "invoice.payment_failed", _) => {
            let paid = event.event_type == "invoice.paid";
            subscription_outcome(
                subscriptions::apply_invoice(&mut tx, &event.data.object, paid, created, now)
                    .await?,
            )
        }
        ("checkout.session.completed" | "checkout.session.async_payment_succeeded", None) => {
            credit_checkout(&mut tx, event, now).await?
        }
        ("setup_intent.succeeded", _) => save_card(&mut tx, event, now).await?,
        ("payment_intent.succeeded", _) => auto_recharge_succeeded(&mut tx, event, now).await?,
        ("payment_intent.payment_failed", _) => auto_recharge_failed(&mut tx, event, now).await?,
        ("charge.refunded", _) => charge_refunded(&mut tx, event, now).await?,
        ("charge.dispute.created", _) => dispute_created(&mut tx, event, now).await?,
        (other, _) => Outcome::Ignored(format!("{other} is not handled")),
    };
    db::stripe_events::mark_processed(&mut tx, &event.id, &outcome.describe(), now).await?;
    tx.commit().await?;
    Ok(Processed::Done(Some(outcome)))
}

fn subscription_outcome(applied: Applied) -> Outcome {
    match applied {
        Applied::Ignored(why) => Outcome::Ignored(why),
        other => Outcome::Subscription(format!("{other:?}")),
    }
}

/// Credits a paid credit purchase. The checkout session id is the ledger key,
/// so `completed` and `async_payment_succeeded` for one payment credit it once.
async fn credit_checkout(
    tx: &mut sqlx::AnyConnection,
    event: &Event,
    now: i64,
) -> Result<Outcome, LedgerError> {
    let Ok(session) = serde_json::from_value::<CheckoutSession>(event.data.object.clone()) else {
        return Ok(Outcome::Ignored(
            "the object is not a checkout session".into(),
        ));
    };
    if session.mode.as_deref() != Some("payment")
        || session.metadata.get("purpose").map(String::as_str) != Some("credits")
    {
        return Ok(Outcome::Ignored("not a credit purchase".into()));
    }
    // `completed` also arrives for delayed payment methods before the money is in.
    if session.payment_status.as_deref() != Some("paid") {
        return Ok(Outcome::Ignored(format!(
            "payment status is {:?}",
            session.payment_status
        )));
    }
    if session.currency.as_deref() != Some("usd") {
        return Ok(Outcome::Ignored(format!(
            "currency {:?} is not usd",
            session.currency
        )));
    }
    let (Some(org_id), Some(cents)) = (session.metadata.get("org_id"), session.amount_total) else {
        return Ok(Outcome::Ignored("no organization or amount".into()));
    };
    let Some(amount) = Money::from_cents(cents).filter(|a| a.micros() > 0) else {
        return Ok(Outcome::Ignored(format!(
            "amount {cents} is not a positive number of cents"
        )));
    };
    let actor = format!("stripe:{}", event.id);
    let paid = PaidCheckout {
        checkout_id: &session.id,
        org_id,
        amount,
        actor: &actor,
        payment_intent: id_of(&session.payment_intent),
    };
    purchases::credit_checkout_in(tx, &paid, now).await
}

/// The fields of a SetupIntent or PaymentIntent we act on.
#[derive(Debug, Deserialize)]
struct Intent {
    id: String,
    customer: Option<String>,
    payment_method: Option<String>,
    amount_received: Option<i64>,
    /// When the intent was created (unix seconds).
    created: Option<i64>,
    last_payment_error: Option<PaymentError>,
    #[serde(default)]
    metadata: std::collections::HashMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct PaymentError {
    message: Option<String>,
    decline_code: Option<String>,
    code: Option<String>,
}

fn intent_for(event: &Event, purpose: &str) -> Result<Intent, Outcome> {
    let intent = serde_json::from_value::<Intent>(event.data.object.clone())
        .map_err(|_| Outcome::Ignored("the object is not an intent".into()))?;
    if intent
        .metadata
        .get(payments::META_PURPOSE)
        .map(String::as_str)
        != Some(purpose)
    {
        return Err(Outcome::Ignored(format!("not for {purpose}")));
    }
    Ok(intent)
}

/// An auto-recharge payment intent and the attempt it belongs to.
fn recharge_intent(event: &Event) -> Result<(Intent, String), Outcome> {
    let intent = intent_for(event, payments::PURPOSE_AUTO_RECHARGE)?;
    let attempt_id = intent
        .metadata
        .get(payments::META_ATTEMPT_ID)
        .cloned()
        .ok_or_else(|| Outcome::Ignored("no attempt id".into()))?;
    Ok((intent, attempt_id))
}

/// A card saved by a setup-mode checkout becomes the one auto-recharge charges.
async fn save_card(
    tx: &mut sqlx::AnyConnection,
    event: &Event,
    now: i64,
) -> Result<Outcome, LedgerError> {
    let intent = match intent_for(event, payments::PURPOSE_SAVE_CARD) {
        Ok(intent) => intent,
        Err(ignored) => return Ok(ignored),
    };
    let (Some(org_id), Some(customer), Some(method)) = (
        intent.metadata.get(payments::META_ORG_ID),
        intent.customer.as_deref(),
        intent.payment_method.as_deref(),
    ) else {
        return Ok(Outcome::Ignored(
            "no organization, customer or payment method".into(),
        ));
    };
    // The setup's own creation time orders setups; the event's is the fallback.
    let Some(setup_created_at) = intent.created.or(event.created) else {
        return Ok(Outcome::Ignored("no creation time".into()));
    };
    let card = SavedCard {
        org_id,
        customer_id: customer,
        payment_method_id: method,
        setup_created_at,
    };
    purchases::save_card_in(tx, &card, now).await
}

/// The webhook half of an auto-recharge charge (the job records the
/// synchronous answer; both are keyed, so whichever lands first counts).
async fn auto_recharge_succeeded(
    tx: &mut sqlx::AnyConnection,
    event: &Event,
    now: i64,
) -> Result<Outcome, LedgerError> {
    let (intent, attempt_id) = match recharge_intent(event) {
        Ok(found) => found,
        Err(ignored) => return Ok(ignored),
    };
    let actor = format!("stripe:{}", event.id);
    let received = intent.amount_received.and_then(Money::from_cents);
    auto_recharge::charge_succeeded_in(tx, &attempt_id, &intent.id, received, &actor, now).await
}

async fn auto_recharge_failed(
    tx: &mut sqlx::AnyConnection,
    event: &Event,
    now: i64,
) -> Result<Outcome, LedgerError> {
    let (intent, attempt_id) = match recharge_intent(event) {
        Ok(found) => found,
        Err(ignored) => return Ok(ignored),
    };
    let reason = match &intent.last_payment_error {
        Some(error) => format!(
            "{} ({})",
            error.message.as_deref().unwrap_or("the card was declined"),
            error
                .decline_code
                .as_deref()
                .or(error.code.as_deref())
                .unwrap_or("card_error")
        ),
        None => "the card was declined".to_owned(),
    };
    Ok(auto_recharge::charge_failed_in(tx, &attempt_id, &intent.id, &reason, now).await?)
}

/// The fields of a Charge (`charge.refunded`) we act on.
#[derive(Debug, Deserialize)]
struct Charge {
    id: String,
    /// Cumulative: everything refunded from this charge so far, in cents.
    amount_refunded: Option<i64>,
    currency: Option<String>,
    #[serde(default)]
    payment_intent: Option<Value>,
    #[serde(default)]
    metadata: std::collections::HashMap<String, String>,
}

/// The fields of a Dispute (`charge.dispute.created`) we act on.
#[derive(Debug, Deserialize)]
struct Dispute {
    id: String,
    /// What the cardholder disputes, in cents (may be less than the charge).
    amount: Option<i64>,
    #[serde(default)]
    charge: Option<Value>,
    currency: Option<String>,
    #[serde(default)]
    payment_intent: Option<Value>,
    reason: Option<String>,
}

/// The organization a charge's metadata names, when it is one of our
/// payments (Stripe copies the payment intent's metadata onto its charge).
fn metadata_org(metadata: &std::collections::HashMap<String, String>) -> Option<&str> {
    let ours = matches!(
        metadata.get(payments::META_PURPOSE).map(String::as_str),
        Some(payments::PURPOSE_CREDITS | payments::PURPOSE_AUTO_RECHARGE)
    );
    ours.then(|| metadata.get(payments::META_ORG_ID).map(String::as_str))
        .flatten()
}

/// A refund (full or partial, first or later) of a payment that credited an
/// organization: the newly refunded part is taken back.
async fn charge_refunded(
    tx: &mut sqlx::AnyConnection,
    event: &Event,
    now: i64,
) -> Result<Outcome, LedgerError> {
    let Ok(charge) = serde_json::from_value::<Charge>(event.data.object.clone()) else {
        return Ok(Outcome::Ignored("the object is not a charge".into()));
    };
    if charge.currency.as_deref() != Some("usd") {
        return Ok(Outcome::Ignored(format!(
            "currency {:?} is not usd",
            charge.currency
        )));
    }
    let Some(refunded) = charge.amount_refunded else {
        return Ok(Outcome::Ignored("no refunded amount".into()));
    };
    let payment = reversals::PaymentRef {
        charge_id: &charge.id,
        payment_intent: id_of(&charge.payment_intent),
        metadata_org_id: metadata_org(&charge.metadata),
    };
    let actor = format!("stripe:{}", event.id);
    reversals::refund_in(tx, &payment, refunded, &actor, now).await
}

/// A dispute (chargeback) opened on a payment: its amount is taken back.
async fn dispute_created(
    tx: &mut sqlx::AnyConnection,
    event: &Event,
    now: i64,
) -> Result<Outcome, LedgerError> {
    let Ok(dispute) = serde_json::from_value::<Dispute>(event.data.object.clone()) else {
        return Ok(Outcome::Ignored("the object is not a dispute".into()));
    };
    if dispute.currency.as_deref() != Some("usd") {
        return Ok(Outcome::Ignored(format!(
            "currency {:?} is not usd",
            dispute.currency
        )));
    }
    let (Some(charge_id), Some(amount)) = (id_of(&dispute.charge), dispute.amount) else {
        return Ok(Outcome::Ignored("no charge or amount".into()));
    };
    let payment = reversals::PaymentRef {
        charge_id,
        payment_intent: id_of(&dispute.payment_intent),
        metadata_org_id: None,
    };
    let actor = format!("stripe:{}", event.id);
    let reason = dispute.reason.as_deref().unwrap_or("no reason given");
    reversals::dispute_in(tx, &payment, &dispute.id, amount, reason, &actor, now).await
}
