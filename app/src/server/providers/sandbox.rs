//! The sandbox payment provider: the default when no `STRIPE_SECRET_KEY` is
//! configured. It plays Stripe's part end to end without leaving the machine:
//! it creates checkout sessions, serves its own checkout page for them
//! (`/sandbox/checkout/<id>`, `pages/sandbox_checkout.rs`), takes Stripe's test
//! card numbers, and reports payments as Stripe-format events that the job
//! queue signs with the webhook secret and POSTs to our own `/webhooks/stripe`
//! (`server/src/jobs/stripe_delivery.rs`). So the code that grants credits is
//! the same for the sandbox, the tests and production.
//!
//! It lives in the `app` crate, beside the contract it implements, not beside
//! the Stripe adapter in `server/src/providers/stripe/`, because its checkout
//! page's server functions (`api/sandbox.rs`) need it. Its SQL is
//! `db::sandbox_sessions`. Subscriptions (checkout in subscription mode,
//! changes, invoices, the Billing Portal and the test clock) are
//! `sandbox_billing/`, beside this file.

use super::payments::*;
use crate::domain::Money;
use crate::server::clock;
use crate::server::db::sandbox_sessions::{self, NewSession};
use crate::server::db::{jobs, Db};
use crate::server::ids::new_id;
use crate::server::providers::sandbox_billing;
use async_trait::async_trait;
use serde_json::{json, Value};
use sqlx::AnyConnection;

pub use sandbox_sessions::Session;

/// The job that delivers a sandbox event to `/webhooks/stripe`.
pub const DELIVERY_JOB: &str = "sandbox.deliver_stripe_event";

/// Stripe's test payment methods: saved by the card that was entered.
pub const PM_SUCCEEDS: &str = "pm_card_visa";
pub const PM_CHARGES_DECLINE: &str = "pm_card_chargeDeclined";

#[derive(Clone, Debug)]
pub struct SandboxPayments {
    db: Db,
}

impl SandboxPayments {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    async fn open_session(
        &self,
        mode: &str,
        amount_cents: i64,
        metadata: Value,
        customer_id: Option<&str>,
        success_url: &str,
        cancel_url: &str,
    ) -> Result<CheckoutRedirect, PaymentError> {
        let session_id = new_id("cs_test");
        let new = NewSession {
            session_id: &session_id,
            mode,
            amount_cents,
            metadata: &metadata.to_string(),
            customer_id,
            success_url,
            cancel_url,
            price_id: None,
            quantity: None,
        };
        sandbox_sessions::insert(&self.db.pool, &new, clock::now())
            .await
            .map_err(unavailable)?;
        Ok(CheckoutRedirect {
            url: format!("/sandbox/checkout/{session_id}"),
            session_id,
            customer_id: customer_id.map(str::to_owned),
        })
    }
}

fn unavailable(error: sqlx::Error) -> PaymentError {
    tracing::error!(error = ?error, "sandbox payments: database error");
    PaymentError::Unavailable("sandbox database error".into())
}

fn cents(amount: Money) -> Result<i64, PaymentError> {
    amount
        .whole_cents()
        .filter(|cents| *cents > 0)
        .ok_or_else(|| PaymentError::Refused(format!("{amount} is not a whole number of cents")))
}

#[async_trait]
impl PaymentProvider for SandboxPayments {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    async fn create_credit_checkout(
        &self,
        request: &CreditCheckout,
    ) -> Result<CheckoutRedirect, PaymentError> {
        let metadata = json!({ META_ORG_ID: request.org_id, META_PURPOSE: PURPOSE_CREDITS });
        self.open_session(
            "payment",
            cents(request.amount)?,
            metadata,
            None,
            &request.success_url,
            &request.cancel_url,
        )
        .await
    }

    async fn create_card_setup(
        &self,
        request: &CardSetup,
    ) -> Result<CheckoutRedirect, PaymentError> {
        let customer = request
            .customer_id
            .clone()
            .unwrap_or_else(|| new_id("cus_test"));
        let metadata = json!({ META_ORG_ID: request.org_id, META_PURPOSE: PURPOSE_SAVE_CARD });
        self.open_session(
            "setup",
            0,
            metadata,
            Some(&customer),
            &request.success_url,
            &request.cancel_url,
        )
        .await
    }

    /// Stripe's test payment methods decide: `pm_card_chargeDeclined` is
    /// declined, anything else succeeds. Either way the matching
    /// `payment_intent.*` event follows through the webhook, as with Stripe.
    async fn charge_saved_card(
        &self,
        request: &SavedCardCharge,
    ) -> Result<ChargeOutcome, PaymentError> {
        let amount_cents = cents(request.amount)?;
        let payment_intent = new_id("pi_test");
        let declined = request.payment_method_id == PM_CHARGES_DECLINE;
        let (event_type, status) = if declined {
            ("payment_intent.payment_failed", "requires_payment_method")
        } else {
            ("payment_intent.succeeded", "succeeded")
        };
        let mut object = json!({
            "id": payment_intent,
            "object": "payment_intent",
            "amount": amount_cents,
            "amount_received": if declined { 0 } else { amount_cents },
            "currency": "usd",
            "customer": request.customer_id,
            "payment_method": request.payment_method_id,
            "status": status,
            "metadata": {
                META_ORG_ID: request.org_id,
                META_PURPOSE: PURPOSE_AUTO_RECHARGE,
                META_ATTEMPT_ID: request.attempt_id,
            },
        });
        if declined {
            object["last_payment_error"] = json!({
                "type": "card_error", "code": "card_declined", "decline_code": "generic_decline",
                "message": "Your card was declined.",
            });
        }
        let now = clock::now();
        jobs::enqueue(
            &self.db.pool,
            &delivery_job(&event(event_type, object, now)),
            now,
        )
        .await
        .map_err(unavailable)?;
        Ok(if declined {
            ChargeOutcome::Declined {
                payment_ref: Some(payment_intent),
                reason: "Your card was declined (generic_decline).".into(),
            }
        } else {
            ChargeOutcome::Succeeded {
                payment_ref: payment_intent,
            }
        })
    }
}

/// A Stripe event envelope around `object`, created at `now` (for
/// subscription events, the organization's billing time).
pub(crate) fn event(event_type: &str, object: Value, now: i64) -> Value {
    json!({
        "id": new_id("evt_test"),
        "object": "event",
        "api_version": "2025-10-29.clover",
        "created": now,
        "livemode": false,
        "pending_webhooks": 1,
        "type": event_type,
        "data": { "object": object },
    })
}

fn delivery_job(event: &Value) -> jobs::NewJob<'_> {
    jobs::NewJob {
        kind: DELIVERY_JOB,
        payload: event,
        dedupe_key: None,
        run_at_ms: clock::now_ms(),
    }
}

/// Queues `events` for delivery in the caller's transaction, so they commit
/// with the change they report. All are due at once; their due times rise
/// by a millisecond each (ending now) so the runner claims them in order.
pub(crate) async fn enqueue_events(
    conn: &mut AnyConnection,
    events: &[Value],
) -> Result<(), sqlx::Error> {
    let (now, now_ms) = (clock::now(), clock::now_ms());
    let last = events.len() as i64 - 1;
    for (i, event) in events.iter().enumerate() {
        let job = jobs::NewJob {
            run_at_ms: now_ms - (last - i as i64),
            ..delivery_job(event)
        };
        jobs::enqueue(&mut *conn, &job, now).await?;
    }
    Ok(())
}

/// What the checkout page shows.
pub async fn session(db: &Db, session_id: &str) -> Result<Option<Session>, sqlx::Error> {
    sandbox_sessions::find(&db.pool, session_id).await
}

/// Why a test card was not accepted: shown on the checkout page.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    #[error("Your card number is incomplete or invalid.")]
    Invalid,
    #[error("Your card was declined.")]
    Declined,
    #[error("This is a sandbox: use one of the test cards listed on this page.")]
    NotATestCard,
    #[error("This checkout session does not exist or has expired.")]
    UnknownSession,
    #[error("The sandbox could not record the payment; try again.")]
    Unavailable,
}

/// What a test card does, as in Stripe's test mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestCard {
    /// 4242 4242 4242 4242: pays, and saved cards keep paying.
    Succeeds,
    /// 4000 0000 0000 0002: declined at checkout.
    Declined,
    /// 4000 0000 0000 0341: can be saved, but charging it later fails.
    SavedThenDeclines,
}

/// The number as typed without its separators (any Unicode space, or '-').
fn without_separators(number: &str) -> String {
    number
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect()
}

pub fn test_card(number: &str) -> Result<TestCard, CardError> {
    let digits = without_separators(number);
    if digits.len() < 12 || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CardError::Invalid);
    }
    if !luhn(&digits) {
        return Err(CardError::Invalid);
    }
    match digits.as_str() {
        "4242424242424242" => Ok(TestCard::Succeeds),
        "4000000000000002" => Ok(TestCard::Declined),
        "4000000000000341" => Ok(TestCard::SavedThenDeclines),
        _ => Err(CardError::NotATestCard),
    }
}

fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The last four characters of the number without its separators: what the
/// session remembers of the card. Counted in characters, never bytes, so no
/// input (a non-breaking space before the last digits, any Unicode) can split
/// a character; for a number `test_card` accepts, these are its last four digits.
pub fn card_last4(number: &str) -> String {
    let chars: Vec<char> = without_separators(number).chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}

/// Pays (or saves the card for, or subscribes with) an open session and
/// queues the events Stripe would send. Returns where the browser goes next.
/// Paying a completed session again changes nothing and returns the same place.
pub async fn pay(db: &Db, session_id: &str, card_number: &str) -> Result<String, CardError> {
    let fail = |error: sqlx::Error| {
        tracing::error!(error = ?error, "sandbox checkout: database error");
        CardError::Unavailable
    };
    let Some(session) = session(db, session_id).await.map_err(fail)? else {
        return Err(CardError::UnknownSession);
    };
    let success_url = session
        .success_url
        .replace("{CHECKOUT_SESSION_ID}", &session.session_id);
    if session.is_complete() {
        return Ok(success_url);
    }
    let card = test_card(card_number)?;
    // 0341 pays a subscription's first invoice (and is saved): only its later charges fail.
    if card == TestCard::Declined
        || (card == TestCard::SavedThenDeclines && session.mode == "payment")
    {
        return Err(CardError::Declined);
    }
    let mut tx = db.begin_write().await.map_err(fail)?;
    let last4 = card_last4(card_number);
    let Some(completed) = sandbox_sessions::complete(&mut tx, session_id, &last4)
        .await
        .map_err(fail)?
    else {
        return Ok(success_url); // paid by a concurrent submit
    };
    let customer = completed.customer_id;
    let metadata: Value = serde_json::from_str(&completed.metadata).unwrap_or_else(|_| json!({}));
    let now = clock::now();
    let mut events = Vec::new();
    if session.mode == "subscription" {
        let org_id = metadata[META_ORG_ID].as_str().unwrap_or_default();
        events = sandbox_billing::subscribe(&mut tx, &session, org_id, customer, card, &last4, now)
            .await?;
    } else if session.mode == "payment" {
        let payment_intent = new_id("pi_test");
        events.push(event(
            "checkout.session.completed",
            json!({
                "id": session.session_id, "object": "checkout.session", "mode": "payment",
                "status": "complete", "payment_status": "paid",
                "amount_total": session.amount_cents, "currency": "usd",
                "customer": customer, "payment_intent": payment_intent, "metadata": metadata,
            }),
            now,
        ));
    } else {
        let setup_intent = new_id("seti_test");
        let payment_method = match card {
            TestCard::SavedThenDeclines => PM_CHARGES_DECLINE,
            _ => PM_SUCCEEDS,
        };
        events.push(event(
            "checkout.session.completed",
            json!({
                "id": session.session_id, "object": "checkout.session", "mode": "setup",
                "status": "complete", "payment_status": "no_payment_required",
                "amount_total": null, "currency": "usd",
                "customer": customer, "setup_intent": setup_intent, "metadata": metadata,
            }),
            now,
        ));
        events.push(event(
            "setup_intent.succeeded",
            json!({
                "id": setup_intent, "object": "setup_intent", "status": "succeeded", "created": now,
                "customer": customer, "payment_method": payment_method, "usage": "off_session",
                "metadata": metadata,
            }),
            now,
        ));
    }
    enqueue_events(&mut tx, &events).await.map_err(fail)?;
    tx.commit().await.map_err(fail)?;
    Ok(success_url)
}

/// Subscriptions: `sandbox_billing/` does the work.
#[async_trait]
impl SubscriptionProvider for SandboxPayments {
    async fn create_subscription_checkout(
        &self,
        request: &SubscriptionCheckout,
    ) -> Result<CheckoutRedirect, PaymentError> {
        sandbox_billing::open_checkout(&self.db, request).await
    }

    async fn update_subscription(
        &self,
        subscription_id: &str,
        change: &SubscriptionChange,
        idempotency_key: &str,
    ) -> Result<Value, PaymentError> {
        sandbox_billing::update(&self.db, subscription_id, change, idempotency_key).await
    }

    async fn retrieve_subscription(&self, subscription_id: &str) -> Result<Value, PaymentError> {
        sandbox_billing::retrieve(&self.db, subscription_id).await
    }

    async fn billing_portal(
        &self,
        customer_id: &str,
        return_url: &str,
    ) -> Result<String, PaymentError> {
        sandbox_billing::open_portal(&self.db, customer_id, return_url).await
    }

    async fn pay_invoice(
        &self,
        invoice_id: &str,
        idempotency_key: &str,
    ) -> Result<InvoicePayment, PaymentError> {
        sandbox_billing::pay_invoice(&self.db, invoice_id, idempotency_key).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripe_test_cards_do_what_stripe_documents() {
        assert_eq!(test_card("4242 4242 4242 4242"), Ok(TestCard::Succeeds));
        assert_eq!(test_card("4000-0000-0000-0002"), Ok(TestCard::Declined));
        assert_eq!(
            test_card("4000000000000341"),
            Ok(TestCard::SavedThenDeclines)
        );
    }

    /// xorshift64*: a seeded generator, so a failing case can be replayed.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        /// What people (and attackers) type into a card field: digits with
        /// odd separators (Unicode spaces of 1 to 3 bytes), other scripts'
        /// digits, emoji, combining marks, control characters.
        fn card_char(&mut self) -> char {
            const ODD: [char; 16] = [
                ' ',
                '-',
                '\u{a0}',
                '\u{2003}',
                '\u{3000}',
                '\t',
                '\n',
                '\u{200b}',
                '\u{0663}',
                '\u{ff14}',
                '\u{1f4b3}',
                '\u{301}',
                '\0',
                'x',
                '\u{feff}',
                '\u{10ffff}',
            ];
            match self.below(3) {
                0 => ODD[self.below(ODD.len() as u64) as usize],
                _ => char::from(b'0' + self.below(10) as u8),
            }
        }

        fn card_input(&mut self) -> String {
            let len = match self.below(10) {
                0 => 0,
                1 => self.below(5_000) as usize,
                _ => self.below(40) as usize,
            };
            let mut input: String = (0..len).map(|_| self.card_char()).collect();
            if self.below(4) == 0 {
                // A real test card with separators sprinkled in: exercises the accepted path.
                let card = ["4242424242424242", "4000000000000002", "4000000000000341"]
                    [self.below(3) as usize];
                input = card
                    .chars()
                    .flat_map(|c| {
                        let gap = if self.below(3) == 0 {
                            Some(self.card_char())
                        } else {
                            None
                        };
                        std::iter::once(c).chain(gap.filter(|g| g.is_whitespace() || *g == '-'))
                    })
                    .collect();
            }
            input
        }
    }

    #[test]
    fn property_no_card_input_panics_and_an_accepted_card_keeps_its_last_four_digits() {
        let mut rng = Rng(0xC0FF_EE00_D15E_A5E5);
        for case in 0..20_000 {
            let input = rng.card_input();
            let verdict = test_card(&input);
            let last4 = card_last4(&input);
            assert!(last4.chars().count() <= 4, "case {case}: {input:?}");
            if verdict.is_ok() {
                assert_eq!(last4.len(), 4, "case {case}: {input:?}");
                assert!(
                    last4.bytes().all(|b| b.is_ascii_digit()),
                    "case {case}: {input:?}"
                );
            }
        }
    }

    #[test]
    fn the_last_four_digits_are_read_across_a_multibyte_space() {
        // A no-break space (2 bytes) three bytes from the end once split a character.
        assert_eq!(
            test_card("4242 4242 4242 4\u{a0}242"),
            Ok(TestCard::Succeeds)
        );
        assert_eq!(card_last4("4242 4242 4242 4\u{a0}242"), "4242");
        assert_eq!(card_last4(""), "");
        assert_eq!(card_last4("\u{1f4b3}"), "\u{1f4b3}");
    }

    #[test]
    fn mistyped_and_real_looking_numbers_are_refused_clearly() {
        assert_eq!(test_card("4242 4242 4242 4241"), Err(CardError::Invalid));
        assert_eq!(test_card("42"), Err(CardError::Invalid));
        assert_eq!(test_card("abcd efgh ijkl mnop"), Err(CardError::Invalid));
        assert_eq!(
            test_card("5555 5555 5555 4444"),
            Err(CardError::NotATestCard)
        );
    }
}
