//! The call service: every rule that moves a call or its money.
//!
//! - `quote`: what a number would cost and how long the member may talk
//!   (the balance, their monthly cap and the per-call maximum; the
//!   organization's spending controls, `server::spending`).
//! - `start_call`: authorize under the wallet lock, record the call with its
//!   copied rate, hold the most it may cost, and create its one-shot attempt;
//!   the member's browser (or the simulated carrier playing it) connects with
//!   that attempt.
//! - `take_attempt`: the voice webhook's rule: a valid attempt is taken once
//!   and answered with the destination and limit stored here.
//! - `apply_carrier_event`: the state machine (`domain::call_status::decide`)
//!   applied to the PSTN (child) leg, plus its effects: schedule the forced
//!   hangup when answered, charge or release when it ends, exactly once.
//! - `end_call`, `forced_hangup`, `sweep`: ending a call on request, when
//!   the credits run out, and when the carrier's final word never came.
//!
//! Each runs its database work in one transaction that first locks the call
//! (or the wallet), so events, hangups and sweeps for one call serialize.

use crate::domain::call_status::{decide, Decision};
use crate::domain::rating::{self, Rate};
use crate::domain::spending::{self as controls, Allowed, CapUse, Limit, Stopped};
use crate::domain::{CallStatus, EndReason, Money};
use crate::server::clock;
use crate::server::db::call_attempts;
use crate::server::db::calls::{self, Call, CallChange, CallRef, NewCall, RecordedEvent};
use crate::server::db::ledger::{self, EntryKind, LedgerError, NewEntry};
use crate::server::db::{jobs, rates, Db};
use crate::server::phone::{parse_dialed, DialedNumber, NumberError};
use crate::server::providers::carrier::{Carrier, CarrierError, CarrierEvent, Connect, Ending};
use crate::server::spending::{self, MemberLimits};
use sqlx::AnyConnection;
use std::sync::LazyLock;
use tokio::sync::broadcast;

/// The job that ends a call when its credits run out.
pub const FORCED_HANGUP_JOB: &str = "call.forced_hangup";
/// A call still unanswered this long after it was placed is presumed lost
/// by the sweeper (carriers give up ringing well before).
pub const RING_GRACE_SECS: i64 = 180;
/// How long a call's attempt may be taken after `start_call` made it: the
/// browser connects within seconds; a stale one is refused.
pub const ATTEMPT_TTL_SECS: i64 = 60;
/// `<Dial timeout>`: how long the destination may ring before no-answer.
pub const RING_TIMEOUT_SECS: u64 = 60;

/// The browser client identity of a member: what their access token grants
/// and what a call they start comes `From` (`client:member-<user id>`).
pub fn client_identity(user_id: &str) -> String {
    format!("member-{user_id}")
}

/// How many changes the in-process channel keeps for a stream that has not
/// read them yet; a stream further behind re-reads its calls instead.
pub const CHANGES_KEPT: usize = 1024;

/// Tells this process's live streams which call changed, on SQLite (one
/// process). On PostgreSQL every write of a call notifies `call_changed`
/// instead (`db::calls::store`), which each instance's listener hears,
/// its own writes included (see `server/src/call_events.rs`).
pub static CALL_CHANGES: LazyLock<broadcast::Sender<CallChange>> =
    LazyLock::new(|| broadcast::channel(CHANGES_KEPT).0);

/// Calling settings, from configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallSettings {
    /// No call lasts longer, whatever the balance (`CALL_MAX_DURATION_SECS`).
    pub max_duration_ceiling_secs: u64,
    /// Destinations above this price per minute ask for confirmation
    /// (`CALL_CONFIRM_ABOVE_USD_PER_MIN`).
    pub confirm_above_per_minute: Money,
    /// The caller ID calls are placed from (`TWILIO_CALLER_ID`).
    pub caller_id: String,
    /// The forced hangup is sent this long before the paid time runs out, so
    /// the cutoff never starts another billed increment.
    pub hangup_margin_ms: i64,
    /// How long calls stay allowed after a subscription payment failed
    /// (`PAYMENT_GRACE_DAYS`): the access state reads it.
    pub payment_grace_secs: i64,
}

/// What a number would cost.
#[derive(Clone, Debug)]
pub struct Quote {
    pub number: DialedNumber,
    pub rate: Rate,
    pub available: Money,
    /// The longest call the member may make now (balance, cap, per-call
    /// maximum); None when the balance does not pay even the first
    /// increment plus the connection fee.
    pub max_duration_secs: Option<u64>,
    /// What decided `max_duration_secs`.
    pub limited_by: Option<Limit>,
    /// The member's spending controls as read for this quote.
    pub limits: MemberLimits,
    /// What the first increment plus the connection fee costs.
    pub first_increment_cost: Money,
    pub needs_confirmation: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("{0}")]
    Number(#[from] NumberError),
    #[error("We do not call {0} yet.")]
    NoRate(String),
    #[error("Calls to {number} are blocked: {reason}.")]
    Blocked { number: String, reason: String },
    #[error("Not enough credit: the first {increment} s and connection fee cost {needed}, and {available} is available.")]
    Unaffordable {
        needed: Money,
        available: Money,
        increment: u32,
    },
    #[error(
        "{price} per minute is above this organization's confirmation threshold: confirm to call."
    )]
    NeedsConfirmation { price: Money },
    #[error("The carrier refused the call: {0}. Nothing was charged.")]
    CarrierRefused(String),
    #[error("We could not reach the carrier. Nothing was charged; please try again.")]
    CarrierUnavailable,
    #[error("This organization owes {owed} after a payment was refunded or disputed: buy credits to pay it back before placing calls.")]
    InDebt { owed: Money },
    /// The member's monthly cap is used up (charges this month and holds).
    #[error("You have reached your monthly limit of {cap} set by your organization.")]
    CapReached { cap: Money },
    /// What the cap leaves does not pay for the first increment.
    #[error("Your monthly limit of {cap} set by your organization leaves {left} this month, less than the first {increment} s and connection fee of this call ({needed}).")]
    CapTooLow {
        cap: Money,
        left: Money,
        needed: Money,
        increment: u32,
    },
    /// The subscription is paused, or a payment is overdue past its grace
    /// period (`domain::access_state`).
    #[error("{0}")]
    RefusedByPlan(String),
    /// The organization's country rule refuses the destination.
    #[error("Calls to {country} are not allowed by your organization.")]
    CountryNotAllowed { country: String },
    #[error("no such call")]
    NotFound,
    /// Only the member who placed a call, or an owner or admin, may end it.
    #[error("only the member who placed this call, or an owner or admin, can end it")]
    NotYours,
    #[error(transparent)]
    Ledger(LedgerError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl From<LedgerError> for CallError {
    fn from(error: LedgerError) -> Self {
        match error {
            LedgerError::Db(error) => CallError::Db(error),
            other => CallError::Ledger(other),
        }
    }
}

/// The quote for `raw` as typed, national formats read in `country`, for
/// `user_id` dialing in `org_id` (their cap and the organization's rules).
pub async fn quote(
    db: &Db,
    settings: &CallSettings,
    org_id: &str,
    user_id: &str,
    raw: &str,
    country: &str,
) -> Result<Quote, CallError> {
    let number = parse_dialed(raw, country)?;
    let rate = rates::longest_prefix_match(&db.pool, number.digits())
        .await?
        .ok_or_else(|| CallError::NoRate(number.international.clone()))?;
    if rate.is_blocked() {
        return Err(CallError::Blocked {
            number: number.international.clone(),
            reason: rate.blocked_reason().unwrap_or("blocked").to_owned(),
        });
    }
    let limits = {
        let mut conn = db.pool.acquire().await?;
        spending::limits_in(&mut conn, org_id, user_id, clock::now()).await?
    };
    if !limits.rule.allows(rate.country_code()) {
        return Err(not_allowed(&rate));
    }
    let available = db.balance(org_id).await?.available();
    priced(number, rate, available, limits, settings)
}

/// The quote's numbers. A cap that stops the call is an error (buying
/// credits would not help); a balance that does not pay is a quote with
/// no maximum duration (the dialer offers to buy credits).
fn priced(
    number: DialedNumber,
    rate: Rate,
    available: Money,
    limits: MemberLimits,
    settings: &CallSettings,
) -> Result<Quote, CallError> {
    let first_increment_cost =
        rating::cost(&rate, u64::from(rate.initial_increment())).unwrap_or(Money::ZERO);
    let allowed = allowed(&rate, available, &limits, settings);
    let (max_duration_secs, limited_by) = match allowed {
        Ok(allowed) => (Some(allowed.secs), Some(allowed.limited_by)),
        Err(Stopped::Balance) => (None, None),
        Err(Stopped::Cap) => return Err(over_cap(&rate, limits.cap.as_ref())),
    };
    let needs_confirmation = rate.price_per_minute() > settings.confirm_above_per_minute;
    Ok(Quote {
        number,
        rate,
        available,
        max_duration_secs,
        limited_by,
        limits,
        first_increment_cost,
        needs_confirmation,
    })
}

/// How long a call at `rate` may last: `domain::spending::allowed_duration`
/// with the member's limits and the platform's ceiling.
fn allowed(
    rate: &Rate,
    available: Money,
    limits: &MemberLimits,
    settings: &CallSettings,
) -> Result<Allowed, Stopped> {
    controls::allowed_duration(
        rate,
        available,
        limits.cap.as_ref(),
        limits.max_call_secs(),
        settings.max_duration_ceiling_secs,
    )
}

fn not_allowed(rate: &Rate) -> CallError {
    CallError::CountryNotAllowed {
        country: rate.country_name().to_owned(),
    }
}

/// The member's cap stopped a call at `rate`.
fn over_cap(rate: &Rate, cap: Option<&CapUse>) -> CallError {
    let Some(cap) = cap else {
        // `allowed_duration` stops on the cap only when there is one.
        return CallError::CapReached { cap: Money::ZERO };
    };
    let left = cap.remaining();
    if left == Money::ZERO {
        return CallError::CapReached { cap: cap.cap };
    }
    CallError::CapTooLow {
        cap: cap.cap,
        left,
        needed: rating::cost(rate, u64::from(rate.initial_increment())).unwrap_or(Money::ZERO),
        increment: rate.initial_increment(),
    }
}

/// A dial request.
#[derive(Clone, Debug)]
pub struct StartCall<'a> {
    pub org_id: &'a str,
    pub user_id: &'a str,
    pub raw_number: &'a str,
    pub country: &'a str,
    /// One per dial click (from the form): repeating it returns the same call.
    pub client_key: &'a str,
    /// The member confirmed an expensive destination.
    pub confirmed: bool,
}

/// Where the carrier reaches us about one call.
#[derive(Clone, Debug)]
pub struct CallbackUrls {
    /// `PUBLIC_URL` without a trailing slash.
    pub public_url: String,
}

/// Twilio's connection overrides, carried in the URL fragment of every
/// callback URL we hand it: retry up to 3 times when connecting fails, the
/// answer times out, or we answer with a 5xx (a database hiccup, a
/// restart). The fragment is never sent in a request; Twilio reads it, and
/// the signature check accepts the URL with or without it
/// (`server/src/providers/twilio/signature.rs`).
pub const CALLBACK_RETRY_FRAGMENT: &str = "#rc=3&rp=ct,rt,5xx";

impl CallbackUrls {
    /// The voice webhook, as configured on the TwiML App (Twilio requests it
    /// for the browser's leg; the simulated carrier does the same).
    pub fn voice(&self) -> String {
        format!("{}/webhooks/twilio/voice", self.public_url)
    }

    /// The PSTN leg's `<Number statusCallback>`.
    pub fn status(&self, call_id: &str) -> String {
        format!(
            "{}/webhooks/twilio/status?call={call_id}{CALLBACK_RETRY_FRAGMENT}",
            self.public_url
        )
    }

    /// The `<Dial action>`: requested when the PSTN leg ends.
    pub fn dial_action(&self, call_id: &str) -> String {
        format!(
            "{}/webhooks/twilio/dial-action?call={call_id}{CALLBACK_RETRY_FRAGMENT}",
            self.public_url
        )
    }
}

/// A call `start_call` made (or found again for the same click), with its
/// attempt while that can still be taken.
#[derive(Clone, Debug)]
pub struct Started {
    pub call: Call,
    pub attempt: Option<String>,
}

/// Starts a call. See the module comment for the order of steps. The money
/// is held and the attempt made before anything reaches the carrier; a
/// carrier that cannot connect releases the hold and ends the call as failed.
pub async fn start_call(
    db: &Db,
    carrier: &dyn Carrier,
    settings: &CallSettings,
    urls: &CallbackUrls,
    request: &StartCall<'_>,
) -> Result<Started, CallError> {
    if let Some(existing) =
        calls::by_client_key(&db.pool, request.org_id, request.client_key).await?
    {
        return again(db, existing).await;
    }
    let quote = quote(
        db,
        settings,
        request.org_id,
        request.user_id,
        request.raw_number,
        request.country,
    )
    .await?;
    if quote.needs_confirmation && !request.confirmed {
        return Err(CallError::NeedsConfirmation {
            price: quote.rate.price_per_minute(),
        });
    }
    let (call, attempt) = match authorize(db, carrier, settings, request, &quote).await {
        Err(CallError::Db(error)) if is_unique_violation(&error) => {
            // The same click raced itself: the other request made the call.
            let existing = calls::by_client_key(&db.pool, request.org_id, request.client_key)
                .await?
                .ok_or(CallError::Db(error))?;
            return again(db, existing).await;
        }
        Err(error) => return Err(error),
        Ok(Authorized::Existing(call)) => return again(db, call).await,
        Ok(Authorized::New(call, attempt)) => (call, attempt),
    };
    let connected = carrier
        .connect(&Connect {
            call_id: call.call_id.clone(),
            attempt: attempt.clone(),
            identity: client_identity(&call.user_id),
            voice_url: urls.voice(),
            to: call.to_number.clone(),
        })
        .await;
    match connected {
        Ok(()) => Ok(Started {
            call,
            attempt: Some(attempt),
        }),
        Err(error) => {
            let (reason, shown) = match error {
                CarrierError::Refused(message) => (
                    EndReason::CarrierRefused,
                    CallError::CarrierRefused(message),
                ),
                CarrierError::NotFound | CarrierError::Unavailable(_) => {
                    tracing::error!(call_id = %call.call_id, error = %error, "connecting a call failed");
                    (EndReason::Failed, CallError::CarrierUnavailable)
                }
            };
            fail_unplaced(db, &call.call_id, reason).await?;
            Err(shown)
        }
    }
}

/// The same click again: the call it made, with its attempt while that can
/// still be taken (a retried request must still be able to connect).
async fn again(db: &Db, call: Call) -> Result<Started, CallError> {
    let now = clock::now();
    let attempt = call_attempts::for_call(&db.pool, &call.call_id)
        .await?
        .filter(|a| a.taken_at.is_none() && a.expires_at > now && !call.status.is_terminal())
        .map(|a| a.attempt_id);
    Ok(Started { call, attempt })
}

enum Authorized {
    /// The call and its attempt.
    New(Call, String),
    /// The same dial click got here first (a double click, a retry).
    Existing(Call),
}

/// Under the wallet lock: the organization's spending controls for this
/// member (country rule, their monthly cap with this month's charges and the
/// open holds of their live calls, the per-call maximum), the maximum
/// duration from those and what is available now, the call row, the hold
/// for its maximum cost, and the call's attempt. Commits before the carrier
/// hears of it, so the money is reserved whatever happens next.
async fn authorize(
    db: &Db,
    carrier: &dyn Carrier,
    settings: &CallSettings,
    request: &StartCall<'_>,
    quote: &Quote,
) -> Result<Authorized, CallError> {
    let now_ms = clock::now_ms();
    let now = now_ms / 1000;
    let mut tx = db.begin_write().await?;
    let available = ledger::lock_in(&mut tx, request.org_id, now)
        .await?
        .available();
    // Still a member? Removal and leaving end membership under this same
    // lock (`team::depart`), then end the member's live calls: checked here,
    // no call can start between the two and outlive the departure.
    if crate::server::db::orgs::role_of(&mut *tx, request.org_id, request.user_id)
        .await?
        .is_none()
    {
        return Err(CallError::NotFound);
    }
    // Money taken back after the fact (a refund, a dispute) left a debt: no
    // new call until a credit pays it back.
    if let Some(debt) = ledger::debt_in(&mut tx, request.org_id).await? {
        return Err(CallError::InDebt { owed: debt.owed });
    }
    // What the plan allows, read from the one access state.
    let access =
        super::subscriptions::access(&mut tx, request.org_id, now, settings.payment_grace_secs)
            .await?;
    if let Some(reason) = access.state.call_refusal() {
        return Err(CallError::RefusedByPlan(reason));
    }
    // Dial clicks of one organization serialize on its wallet: look again.
    if let Some(existing) =
        calls::by_client_key(&mut *tx, request.org_id, request.client_key).await?
    {
        return Ok(Authorized::Existing(existing));
    }
    let rate = &quote.rate;
    let unaffordable = || CallError::Unaffordable {
        needed: quote.first_increment_cost,
        available,
        increment: rate.initial_increment(),
    };
    // Read in this transaction: every hold of the organization's calls is
    // placed under the lock held here, so the cap sees all of them.
    let limits = spending::limits_in(&mut tx, request.org_id, request.user_id, now).await?;
    if !limits.rule.allows(rate.country_code()) {
        return Err(not_allowed(rate));
    }
    let max_secs = match allowed(rate, available, &limits, settings) {
        Ok(allowed) => allowed.secs,
        Err(Stopped::Balance) => return Err(unaffordable()),
        Err(Stopped::Cap) => return Err(over_cap(rate, limits.cap.as_ref())),
    };
    let max_cost = rating::cost(rate, max_secs).ok_or_else(unaffordable)?;
    let mut call = calls::insert(
        &mut tx,
        &NewCall {
            org_id: request.org_id,
            user_id: request.user_id,
            client_key: request.client_key,
            to_number: &quote.number.e164,
            rate,
            max_duration_secs: i64::try_from(max_secs).unwrap_or(i64::MAX),
            carrier: carrier.name(),
        },
        now_ms,
    )
    .await?;
    let expires_at = now + RING_GRACE_SECS + call.max_duration_secs;
    let hold = ledger::place_hold_in(
        &mut tx,
        request.org_id,
        max_cost,
        &format!("call:{}:hold", call.call_id),
        expires_at,
        now,
    )
    .await?;
    calls::set_hold(&mut tx, &call.call_id, &hold.hold_id).await?;
    call.hold_id = Some(hold.hold_id);
    let attempt = call_attempts::insert(
        &mut tx,
        &call.call_id,
        request.user_id,
        now + ATTEMPT_TTL_SECS,
        now,
    )
    .await?;
    tx.commit().await?;
    changed(db, &call);
    Ok(Authorized::New(call, attempt))
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Nothing reached the carrier (it could not connect the call, or its
/// attempt was never taken): release the hold and end the call at no cost.
async fn fail_unplaced(db: &Db, call_id: &str, reason: EndReason) -> Result<(), CallError> {
    let now_ms = clock::now_ms();
    let mut tx = db.begin_write().await?;
    let mut call = calls::lock(&mut tx, CallRef::Id(call_id))
        .await?
        .ok_or(CallError::NotFound)?;
    if !call.status.is_terminal() {
        call.status = CallStatus::Failed;
        call.end_reason = Some(reason);
        settle(&mut tx, &mut call, 0, now_ms).await?;
        calls::store(&mut tx, &call).await?;
    }
    tx.commit().await?;
    changed(db, &call);
    Ok(())
}

/// The voice webhook's request for a browser's leg: the attempt it carries
/// (`attempt`), who it comes from (`From`) and its CallSid.
#[derive(Clone, Copy, Debug)]
pub struct TakeAttempt<'a> {
    pub attempt: Option<&'a str>,
    pub from: &'a str,
    pub parent_sid: &'a str,
}

/// What to tell the carrier to do with a browser's leg.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VoiceAnswer {
    /// `<Dial>` the call's destination: everything comes from our database.
    Dial(DialPlan),
    /// Say why and hang up; nothing is dialed and nothing costs anything.
    Refused(Refusal),
}

/// The `<Dial><Number>` for a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialPlan {
    pub call_id: String,
    /// E.164 with '+'.
    pub to: String,
    pub caller_id: String,
    /// `timeLimit`: the call's maximum duration.
    pub time_limit_secs: u64,
    /// `timeout`: how long it may ring.
    pub ring_timeout_secs: u64,
    /// `<Number statusCallback>`.
    pub status_url: String,
    /// `<Dial action>`.
    pub action_url: String,
}

/// Why an attempt was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No attempt, or one we never made.
    Unknown,
    /// Already taken by another leg (single use).
    AlreadyUsed,
    /// Not taken in time (`ATTEMPT_TTL_SECS`); its call has been ended.
    Expired,
    /// `From` is not `client:` + the identity of the member who dialed.
    WrongCaller,
    /// The call was ended (or given up) before the browser connected.
    Ended,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Unknown => "unknown",
            Refusal::AlreadyUsed => "already_used",
            Refusal::Expired => "expired",
            Refusal::WrongCaller => "wrong_caller",
            Refusal::Ended => "ended",
        }
    }

    /// What the caller hears (`<Say>`) before the hangup.
    pub fn spoken(self) -> &'static str {
        match self {
            Refusal::Unknown => "This call was not started from the dialer. Nothing was charged.",
            Refusal::AlreadyUsed => "This call has already been placed. Nothing more was charged.",
            Refusal::Expired => {
                "This call waited too long to connect. Please dial again. Nothing was charged."
            }
            Refusal::WrongCaller => "This call belongs to another member. Nothing was charged.",
            Refusal::Ended => "This call has already ended. Nothing more was charged.",
        }
    }
}

/// The voice webhook: a browser's leg presents an attempt. Taken at most
/// once, within `ATTEMPT_TTL_SECS`, and only by the member who dialed
/// (`From=client:<their identity>`); then the leg's CallSid is stored as the
/// call's parent and the answer dials the call's own destination with its
/// own limit. The same leg asking again (Twilio retrying the request) gets
/// the same answer. An expired attempt ends its call at no cost, since it
/// can no longer be used. Runs under the call's lock, like every other step
/// of a call.
pub async fn take_attempt(
    db: &Db,
    settings: &CallSettings,
    urls: &CallbackUrls,
    request: &TakeAttempt<'_>,
) -> Result<VoiceAnswer, CallError> {
    let Some(attempt_id) = request.attempt.filter(|a| !a.is_empty()) else {
        return Ok(VoiceAnswer::Refused(Refusal::Unknown));
    };
    let Some(found) = call_attempts::by_id(&db.pool, attempt_id).await? else {
        return Ok(VoiceAnswer::Refused(Refusal::Unknown));
    };
    let now_ms = clock::now_ms();
    let now = now_ms / 1000;
    let mut tx = db.begin_write().await?;
    let Some(mut call) = calls::lock(&mut tx, CallRef::Id(&found.call_id)).await? else {
        return Ok(VoiceAnswer::Refused(Refusal::Unknown));
    };
    // Read again under the call's lock: what another request did is visible.
    let Some(attempt) = call_attempts::by_id(&mut *tx, attempt_id).await? else {
        return Ok(VoiceAnswer::Refused(Refusal::Unknown));
    };
    let refused = |why: Refusal| Ok(VoiceAnswer::Refused(why));
    if request.from != format!("client:{}", client_identity(&call.user_id)) {
        return refused(Refusal::WrongCaller);
    }
    let plan = DialPlan {
        call_id: call.call_id.clone(),
        to: call.to_number.clone(),
        caller_id: settings.caller_id.clone(),
        time_limit_secs: u64::try_from(call.max_duration_secs).unwrap_or(0),
        ring_timeout_secs: RING_TIMEOUT_SECS,
        status_url: urls.status(&call.call_id),
        action_url: urls.dial_action(&call.call_id),
    };
    if attempt.taken_at.is_some() {
        if attempt.parent_sid.as_deref() == Some(request.parent_sid) && !call.status.is_terminal() {
            return Ok(VoiceAnswer::Dial(plan));
        }
        return refused(Refusal::AlreadyUsed);
    }
    if call.status.is_terminal() {
        return refused(Refusal::Ended);
    }
    if now >= attempt.expires_at {
        // Never taken, so no leg exists: the call ends here, at no cost.
        call.status = CallStatus::Failed;
        call.end_reason = Some(EndReason::Failed);
        settle(&mut tx, &mut call, 0, now_ms).await?;
        calls::store(&mut tx, &call).await?;
        tx.commit().await?;
        changed(db, &call);
        return refused(Refusal::Expired);
    }
    if !call_attempts::take(&mut tx, attempt_id, request.parent_sid, now).await? {
        return refused(Refusal::AlreadyUsed);
    }
    call.parent_sid = Some(request.parent_sid.to_owned());
    call.touch(now_ms);
    calls::store(&mut tx, &call).await?;
    tx.commit().await?;
    changed(db, &call);
    Ok(VoiceAnswer::Dial(plan))
}

/// The sweeper's end for a call whose attempt was never taken: checked
/// again under the call's lock, since a browser leg may have taken it since
/// the sweeper read the call (then the next sweep asks the carrier).
async fn fail_unconnected(db: &Db, call_id: &str) -> Result<(), CallError> {
    let now_ms = clock::now_ms();
    let mut tx = db.begin_write().await?;
    let mut call = calls::lock(&mut tx, CallRef::Id(call_id))
        .await?
        .ok_or(CallError::NotFound)?;
    if call.status.is_terminal() || call.parent_sid.is_some() || call.carrier_sid.is_some() {
        return Ok(());
    }
    call.status = CallStatus::Failed;
    call.end_reason = Some(call.end_reason.unwrap_or(EndReason::Failed));
    settle(&mut tx, &mut call, 0, now_ms).await?;
    calls::store(&mut tx, &call).await?;
    tx.commit().await?;
    changed(db, &call);
    Ok(())
}

/// What happened to a carrier event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventOutcome {
    Applied,
    Duplicate,
    Stale,
    /// No call of ours has this id or carrier id.
    UnknownCall,
    /// The browser's own leg (the TwiML App's status callback): not billed;
    /// its end only hastens the sweep of a call whose dialed leg never
    /// reported.
    BrowserLeg,
}

/// Applies one carrier event (status callback or swept state). Safe to call
/// with the same event any number of times, in any order.
#[tracing::instrument(skip_all, fields(sid = %event.sid, status = event.status.as_str(), sequence = event.sequence))]
pub async fn apply_carrier_event(
    db: &Db,
    settings: &CallSettings,
    event: &CarrierEvent,
) -> Result<EventOutcome, CallError> {
    let now_ms = clock::now_ms();
    let mut tx = db.begin_write().await?;
    let call = match &event.call_id {
        Some(id) => calls::lock(&mut tx, CallRef::Id(id)).await?,
        None => calls::lock(&mut tx, CallRef::Sid(&event.sid)).await?,
    };
    let Some(mut call) = call else {
        if event.call_id.is_none() && event.parent_sid.is_none() {
            if let Some(call) = calls::lock(&mut tx, CallRef::Parent(&event.sid)).await? {
                return browser_leg_event(db, tx, call, event, now_ms).await;
            }
        }
        tracing::warn!("carrier event for a call we do not know");
        return Ok(EventOutcome::UnknownCall);
    };
    if let (Some(known), Some(named)) = (&call.parent_sid, &event.parent_sid) {
        if known != named {
            tracing::warn!(call_id = %call.call_id, known_parent = %known, "carrier event names another browser leg");
            return Ok(EventOutcome::UnknownCall);
        }
    }
    match &call.carrier_sid {
        Some(sid) if *sid != event.sid => {
            tracing::warn!(call_id = %call.call_id, known_sid = %sid, "carrier event names another carrier call");
            return Ok(EventOutcome::UnknownCall);
        }
        Some(_) => {}
        None => call.carrier_sid = Some(event.sid.clone()),
    }
    let decision = decide(
        call.status,
        call.last_sequence,
        event.status,
        event.sequence,
    );
    calls::record_event(
        &mut tx,
        &RecordedEvent {
            call_id: &call.call_id,
            status: event.status,
            sequence: event.sequence,
            occurred_at: event.occurred_at,
            duration_secs: event.duration_secs.and_then(|d| i64::try_from(d).ok()),
            outcome: match decision {
                Decision::Apply => "applied",
                Decision::Duplicate => "duplicate",
                Decision::Stale => "stale",
            },
        },
        now_ms / 1000,
    )
    .await?;
    if decision == Decision::Apply {
        call.status = event.status;
        call.last_sequence = call.last_sequence.max(event.sequence);
        call.touch(now_ms);
        if event.status == CallStatus::InProgress {
            answered(&mut tx, settings, &mut call, event.occurred_at, now_ms).await?;
        } else if event.status.is_terminal() {
            ended(&mut tx, &mut call, event, now_ms).await?;
        }
    }
    // A carrier id learned from a stale event is still worth keeping.
    calls::store(&mut tx, &call).await?;
    tx.commit().await?;
    changed(db, &call);
    Ok(match decision {
        Decision::Apply => EventOutcome::Applied,
        Decision::Duplicate => EventOutcome::Duplicate,
        Decision::Stale => EventOutcome::Stale,
    })
}

/// The browser's leg reported (the TwiML App's status callback). Nothing
/// is billed from it. If it ended while we know of no dialed leg (the member
/// hung up before the destination rang, or the `<Dial>` never started), the
/// call is marked as asked to end, which makes it due for the sweeper a
/// minute later: the sweeper then asks Twilio what the leg dialed, if
/// anything, and bills or releases from that. Ending it here instead could
/// lose a dialed leg whose events are still on their way.
async fn browser_leg_event(
    db: &Db,
    mut tx: sqlx::Transaction<'static, sqlx::Any>,
    mut call: Call,
    event: &CarrierEvent,
    now_ms: i64,
) -> Result<EventOutcome, CallError> {
    if event.status.is_terminal() && !call.status.is_terminal() && call.end_requested_at.is_none() {
        call.end_requested_at = Some(now_ms / 1000);
        call.touch(now_ms);
        calls::store(&mut tx, &call).await?;
        tx.commit().await?;
        changed(db, &call);
    }
    Ok(EventOutcome::BrowserLeg)
}

/// Answered at `answered_at` (the carrier's clock): schedule the forced
/// hangup for when the paid time runs out, minus the margin. If an end was
/// already requested (a cancel raced the answer), hang up right away.
async fn answered(
    conn: &mut AnyConnection,
    settings: &CallSettings,
    call: &mut Call,
    answered_at: i64,
    now_ms: i64,
) -> Result<(), CallError> {
    call.answered_at = Some(answered_at);
    let deadline_ms = (answered_at + call.max_duration_secs) * 1000 - settings.hangup_margin_ms;
    call.hangup_at_ms = Some(deadline_ms);
    let run_at_ms = if call.end_requested_at.is_some() {
        now_ms
    } else {
        deadline_ms
    };
    let payload = serde_json::json!({ "call_id": call.call_id });
    jobs::enqueue(
        &mut *conn,
        &jobs::NewJob {
            kind: FORCED_HANGUP_JOB,
            payload: &payload,
            dedupe_key: Some(&format!("call:{}:hangup", call.call_id)),
            run_at_ms,
        },
        now_ms / 1000,
    )
    .await?;
    Ok(())
}

/// The end: cost from the carrier's duration (completed calls only), then
/// the hold settled with that charge or released, in this transaction.
async fn ended(
    conn: &mut AnyConnection,
    call: &mut Call,
    event: &CarrierEvent,
    now_ms: i64,
) -> Result<(), CallError> {
    let duration = match event.status {
        CallStatus::Completed => event.duration_secs.unwrap_or(0),
        _ => 0,
    };
    let duration = i64::try_from(duration).unwrap_or(i64::MAX);
    call.ended_at = Some(event.occurred_at);
    if duration > 0 && call.answered_at.is_none() {
        // The answer event was lost or is still on its way.
        call.answered_at = Some(event.occurred_at - duration);
    }
    let requested = call.end_reason;
    let reason = match (requested, event.status) {
        // The answer won the race with a cancel: it was a call, hung up by us.
        (Some(EndReason::Canceled), CallStatus::Completed) if duration > 0 => EndReason::HungUp,
        (Some(reason), _) => reason,
        // The carrier's own time limit (our second line of defence) ended it.
        (None, CallStatus::Completed) if duration >= call.max_duration_secs => {
            EndReason::CreditsExhausted
        }
        (None, status) => EndReason::of_terminal(status),
    };
    call.end_reason = Some(reason);
    settle(conn, call, duration, now_ms).await
}

/// Charges `duration_secs` at the call's own rate (zero releases the hold)
/// and records duration, billed seconds and cost on the call.
async fn settle(
    conn: &mut AnyConnection,
    call: &mut Call,
    duration_secs: i64,
    now_ms: i64,
) -> Result<(), CallError> {
    let now = now_ms / 1000;
    if call.ended_at.is_none() {
        call.ended_at = Some(now);
    }
    call.touch(now_ms);
    let rate = &call.rate;
    let seconds = u64::try_from(duration_secs).unwrap_or(0);
    let (billed, cost) = if seconds == 0 {
        (0, Money::ZERO)
    } else {
        let billed = rate.billed_seconds(seconds).ok_or(LedgerError::Overflow)?;
        (
            billed,
            rating::cost(rate, seconds).ok_or(LedgerError::Overflow)?,
        )
    };
    call.duration_secs = Some(duration_secs);
    call.billed_seconds = Some(i64::try_from(billed).unwrap_or(i64::MAX));
    call.cost = Some(cost.micros());
    let key = charge_key(call);
    let description = format!(
        "Call to {} ({}, {}): {} s billed",
        call.to_number,
        call.rate.country_name(),
        call.rate.description(),
        billed
    );
    let actor = format!(
        "carrier:{}",
        call.carrier_sid.as_deref().unwrap_or(&call.call_id)
    );
    let charge = NewEntry {
        org_id: &call.org_id,
        kind: EntryKind::CallCharge,
        amount: cost.checked_neg().ok_or(LedgerError::Overflow)?,
        actor: &actor,
        description: &description,
        idempotency_key: &key,
    };
    let entry = match call.hold_id.clone() {
        None if cost == Money::ZERO => None,
        None => Some(ledger::post_incurred_in(conn, &charge, now).await?.entry),
        Some(hold_id) => {
            let settled = if cost == Money::ZERO {
                ledger::release_hold_in(conn, &hold_id, now)
                    .await
                    .map(|_| None)
            } else {
                ledger::settle_hold_in(conn, &hold_id, &charge, now).await
            };
            match settled {
                Ok(entry) => entry,
                // Released already, when placing looked failed: the call was
                // made after all, and its cost was incurred. The charge key
                // still keeps it to one charge.
                Err(LedgerError::HoldClosed(_)) if cost == Money::ZERO => None,
                Err(LedgerError::HoldClosed(_)) => {
                    Some(ledger::post_incurred_in(conn, &charge, now).await?.entry)
                }
                Err(error) => return Err(error.into()),
            }
        }
    };
    call.ledger_entry_id = entry.map(|e| e.ledger_entry_id);
    Ok(())
}

/// One cause, one charge: the carrier's call id.
pub fn charge_key(call: &Call) -> String {
    format!(
        "call:{}:charge",
        call.carrier_sid.as_deref().unwrap_or(&call.call_id)
    )
}

/// Who asks to end a call: a member of the call's organization.
#[derive(Clone, Copy, Debug)]
pub struct Ender<'a> {
    pub org_id: &'a str,
    pub user_id: &'a str,
    /// An owner or admin, who may end any of the organization's calls.
    pub manages_org: bool,
}

/// The member ends a call: cancel if still connecting, hang up if answered.
/// The cost is whatever the carrier then reports; nothing is charged here.
/// Only the member who placed it, or an owner or admin, may end it.
pub async fn end_call(
    db: &Db,
    carrier: &dyn Carrier,
    ender: &Ender<'_>,
    call_id: &str,
) -> Result<Call, CallError> {
    let may_end = |call: &Call| {
        if call.user_id != ender.user_id && !ender.manages_org {
            Err(CallError::NotYours)
        } else {
            Ok(())
        }
    };
    end_now(db, carrier, ender.org_id, call_id, may_end, None).await
}

/// A member removed from an organization (or leaving it): each of their live
/// calls there ends now with `reason`, through the same path as End, so the
/// carrier's final report charges exactly the time used. Returns how many
/// calls were asked to end.
pub async fn end_calls_of_departed(
    db: &Db,
    carrier: &dyn Carrier,
    org_id: &str,
    user_id: &str,
    reason: EndReason,
) -> Result<usize, CallError> {
    let live = calls::live_of_member(&db.pool, org_id, user_id).await?;
    for call_id in &live {
        end_now(db, carrier, org_id, call_id, |_| Ok(()), Some(reason)).await?;
    }
    Ok(live.len())
}

/// Ends a call of `org_id`: canceled at no cost if no leg exists yet,
/// otherwise the end is recorded (with `reason`, or canceled/hung up) and
/// sent to the carrier, whose report then settles the hold.
async fn end_now(
    db: &Db,
    carrier: &dyn Carrier,
    org_id: &str,
    call_id: &str,
    may_end: impl FnOnce(&Call) -> Result<(), CallError>,
    reason: Option<EndReason>,
) -> Result<Call, CallError> {
    let now_ms = clock::now_ms();
    let mut tx = db.begin_write().await?;
    let mut call = calls::lock(&mut tx, CallRef::Id(call_id))
        .await?
        .filter(|call| call.org_id == org_id)
        .ok_or(CallError::NotFound)?;
    may_end(&call)?;
    if call.status.is_terminal() {
        return Ok(call);
    }
    if call.parent_sid.is_none() && call.carrier_sid.is_none() {
        // No leg exists yet (the browser has not connected): the call ends
        // here at no cost, and its attempt with it (the voice webhook
        // refuses an ended call).
        call.end_requested_at = Some(now_ms / 1000);
        call.status = CallStatus::Canceled;
        call.end_reason = Some(reason.unwrap_or(EndReason::Canceled));
        settle(&mut tx, &mut call, 0, now_ms).await?;
        calls::store(&mut tx, &call).await?;
        tx.commit().await?;
        changed(db, &call);
        return Ok(call);
    }
    if call.end_requested_at.is_none() {
        call.end_requested_at = Some(now_ms / 1000);
        let reason = reason.unwrap_or(if call.status.is_connecting() {
            EndReason::Canceled
        } else {
            EndReason::HungUp
        });
        call.end_reason = Some(reason);
        call.touch(now_ms);
        calls::store(&mut tx, &call).await?;
    }
    tx.commit().await?;
    changed(db, &call);
    send_end(carrier, &call).await?;
    Ok(call)
}

/// Asks the carrier to end the call. A browser-started call is ended by
/// hanging up its browser (parent) leg, whose `<Dial>` then ends the PSTN
/// leg however far it got (Twilio reports it canceled or completed). A call
/// with no leg yet has nothing to end at the carrier.
async fn send_end(carrier: &dyn Carrier, call: &Call) -> Result<(), CallError> {
    let (sid, how) = match (&call.parent_sid, &call.carrier_sid) {
        (Some(parent), _) => (parent, Ending::HangUp),
        (None, Some(sid)) if call.status.is_connecting() => (sid, Ending::Cancel),
        (None, Some(sid)) => (sid, Ending::HangUp),
        (None, None) => return Ok(()),
    };
    match carrier.end_call(sid, how).await {
        Ok(()) | Err(CarrierError::NotFound) => Ok(()),
        Err(error) => {
            tracing::warn!(call_id = %call.call_id, %error, "ending a call at the carrier failed");
            Err(CallError::CarrierUnavailable)
        }
    }
}

/// What the forced hangup did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HangupOutcome {
    Sent,
    /// Already over (or never answered): nothing to do.
    NotLive,
}

/// The forced hangup job: the paid time is up. Idempotent: the reason and
/// the first send time are recorded once, and ending an ended call is a no-op.
pub async fn forced_hangup(
    db: &Db,
    carrier: &dyn Carrier,
    call_id: &str,
) -> Result<HangupOutcome, CallError> {
    let now_ms = clock::now_ms();
    let mut tx = db.begin_write().await?;
    let Some(mut call) = calls::lock(&mut tx, CallRef::Id(call_id)).await? else {
        return Ok(HangupOutcome::NotLive);
    };
    if call.status != CallStatus::InProgress {
        return Ok(HangupOutcome::NotLive);
    }
    if call.end_requested_at.is_none() {
        call.end_requested_at = Some(now_ms / 1000);
        call.end_reason = Some(EndReason::CreditsExhausted);
    }
    if call.hangup_sent_at_ms.is_none() {
        call.hangup_sent_at_ms = Some(now_ms);
    }
    call.touch(now_ms);
    calls::store(&mut tx, &call).await?;
    tx.commit().await?;
    changed(db, &call);
    send_end(carrier, &call).await?;
    Ok(HangupOutcome::Sent)
}

/// A placed call is swept this long after its ring grace and maximum
/// duration have both run out (the carrier's own report usually lands first).
pub const SWEEP_MARGIN_SECS: i64 = 60;
/// Calls, and separately expired holds, looked at per sweep.
const SWEEP_BATCH: i64 = 100;

/// The sweeper: calls still open well past their limits are reconciled with
/// the carrier's own record (billed if it completed, released if not), most
/// overdue first; then open holds past their expiry whose call is over (or
/// unknown) are closed. Returns how many calls were looked at.
pub async fn sweep(
    db: &Db,
    carrier: &dyn Carrier,
    settings: &CallSettings,
    now: i64,
) -> Result<usize, CallError> {
    let due = calls::due_for_sweep(
        &db.pool,
        now,
        RING_GRACE_SECS,
        SWEEP_MARGIN_SECS,
        SWEEP_BATCH,
    )
    .await?;
    let looked_at = due.len();
    for call in due {
        if let Err(error) = reconcile(db, carrier, settings, &call).await {
            tracing::warn!(call_id = %call.call_id, %error, "sweeping a call failed; next sweep retries");
        }
    }
    let mut closed = 0;
    for hold in ledger::expired_open_holds(&db.pool, now, SWEEP_BATCH).await? {
        match close_expired_hold(db, &hold, now).await {
            Ok(true) => closed += 1,
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(hold_id = %hold.hold_id, %error, "closing an expired hold failed; next sweep retries");
            }
        }
    }
    if closed > 0 {
        tracing::warn!(closed, "expired holds of calls that were over closed");
    }
    Ok(looked_at)
}

/// An open hold past its expiry. Its call (named by the hold's key,
/// `call:<call id>:hold`) still live: left to the call sweep above, which
/// ends the call and closes the hold with it. Its call over: charged if the
/// call has a cost that was never posted (under the call's charge key, so
/// at most once), otherwise released. No such call: released. Returns
/// whether the hold was closed now.
async fn close_expired_hold(db: &Db, hold: &ledger::Hold, now: i64) -> Result<bool, CallError> {
    let now_ms = now * 1000;
    let call_id = hold
        .idempotency_key
        .strip_prefix("call:")
        .and_then(|rest| rest.strip_suffix(":hold"));
    let mut tx = db.begin_write().await?;
    let call = match call_id {
        Some(call_id) => calls::lock(&mut tx, CallRef::Id(call_id)).await?,
        None => None,
    }
    .filter(|call| call.hold_id.as_deref() == Some(hold.hold_id.as_str()));
    let mut closed_for = None;
    match call {
        Some(call) if call.ended_at.is_none() => return Ok(false),
        Some(mut call) => {
            let charged = call.ledger_entry_id.is_some()
                || ledger::entry_for_key(&mut tx, &charge_key(&call))
                    .await?
                    .is_some();
            if charged || call.cost.unwrap_or(0) == 0 {
                ledger::release_hold_in(&mut tx, &hold.hold_id, now).await?;
            } else {
                let duration = call.duration_secs.unwrap_or(0);
                settle(&mut tx, &mut call, duration, now_ms).await?;
                calls::store(&mut tx, &call).await?;
            }
            tracing::warn!(call_id = %call.call_id, hold_id = %hold.hold_id, "closed the expired hold of a call that was over");
            closed_for = Some(call);
        }
        None => {
            ledger::release_hold_in(&mut tx, &hold.hold_id, now).await?;
            tracing::warn!(hold_id = %hold.hold_id, key = %hold.idempotency_key, "released an expired hold no call knows");
        }
    }
    tx.commit().await?;
    if let Some(call) = &closed_for {
        changed(db, call);
    }
    Ok(true)
}

async fn reconcile(
    db: &Db,
    carrier: &dyn Carrier,
    settings: &CallSettings,
    call: &Call,
) -> Result<(), CallError> {
    let unavailable = |error: CarrierError| {
        tracing::warn!(call_id = %call.call_id, %error, "carrier unavailable while sweeping");
        CallError::CarrierUnavailable
    };
    let state = match (&call.carrier_sid, &call.parent_sid) {
        (Some(sid), _) => match carrier.fetch_call(sid).await {
            Ok(state) => state,
            Err(CarrierError::NotFound) => {
                return fail_unplaced(db, &call.call_id, EndReason::Failed).await
            }
            Err(error) => return Err(unavailable(error)),
        },
        // The browser leg took the attempt, but no event of the PSTN leg
        // reached us: ask about the browser leg, and once it is over, about
        // the PSTN leg its <Dial> made (if it made one, that is the truth).
        (None, Some(parent)) => {
            let parent_state = match carrier.fetch_call(parent).await {
                Ok(state) => state,
                Err(CarrierError::NotFound) => {
                    return fail_unplaced(db, &call.call_id, EndReason::Failed).await
                }
                Err(error) => return Err(unavailable(error)),
            };
            if !parent_state.status.is_terminal() {
                // Still live past every limit: end it; the next sweep bills.
                return send_end(carrier, call).await;
            }
            match carrier.fetch_child(parent).await {
                Ok(Some(child)) => child,
                Ok(None) | Err(CarrierError::NotFound) => {
                    return fail_unplaced(db, &call.call_id, EndReason::Failed).await
                }
                Err(error) => return Err(unavailable(error)),
            }
        }
        // The attempt was never taken (it expired): no leg, nothing to bill.
        (None, None) => return fail_unconnected(db, &call.call_id).await,
    };
    if state.status.is_terminal() {
        let event = CarrierEvent {
            call_id: Some(call.call_id.clone()),
            sid: state.sid.clone(),
            status: state.status,
            sequence: call.last_sequence + 1,
            occurred_at: state.ended_at.unwrap_or_else(clock::now),
            duration_secs: state.duration_secs,
            parent_sid: call.parent_sid.clone(),
        };
        apply_carrier_event(db, settings, &event).await?;
        return Ok(());
    }
    // Still live past every limit: end it; the next sweep bills what it reports.
    send_end(carrier, call).await
}

/// A call's change is committed: on SQLite, tell this process's live streams
/// (a send with no stream open is dropped, as it should be).
fn changed(db: &Db, call: &Call) {
    if db.backend == crate::server::db::Backend::Sqlite {
        let _ = CALL_CHANGES.send(CallChange::of(call));
    }
}
