//! The Stripe payment provider: Checkout Sessions for credit top-ups and for
//! saving a card, and off-session PaymentIntents for auto-recharge, through
//! async-stripe's split 1.0 crates.
//!
//! Every call carries the caller's `Idempotency-Key`, so a retried request
//! (ours, or a user's double click) cannot create a second session or a second
//! charge. Nothing here grants credits: the webhook handler does
//! (`server/src/webhooks/stripe.rs`), reading back the metadata set below.
//! `server/tests/api/stripe_provider.rs` checks the exact requests against a
//! local fake of Stripe's API.

use crate::config::Secret;
use app::domain::Money;
use app::server::providers::payments::{
    CardSetup, ChargeOutcome, CheckoutRedirect, CreditCheckout, PaymentError, PaymentProvider,
    SavedCardCharge, META_ATTEMPT_ID, META_ORG_ID, META_PURPOSE, PURPOSE_AUTO_RECHARGE,
    PURPOSE_CREDITS, PURPOSE_SAVE_CARD,
};
use async_trait::async_trait;
use std::collections::HashMap;
use std::time::Duration;
use stripe::{
    ApiErrors, ApiErrorsType, Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError,
    StripeRequest,
};
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionLineItemsPriceData,
    CreateCheckoutSessionPaymentIntentData, CreateCheckoutSessionSetupIntentData, ProductData,
};
use stripe_checkout::{CheckoutSession, CheckoutSessionMode};
use stripe_core::customer::CreateCustomer;
use stripe_core::payment_intent::{CreatePaymentIntent, CreatePaymentIntentOffSession};
use stripe_core::PaymentIntentStatus;
use stripe_types::Currency;
use url::Url;

/// The product name customers see on Stripe's checkout page and receipt.
const CREDITS_PRODUCT_NAME: &str = "Phonebooth credits";

/// Per attempt. The async client has no timeout by default, and a server
/// function waiting on a silent Stripe would hold the user's request forever.
/// A timed-out call is `Unavailable`; retrying it with the same idempotency key
/// is safe even if Stripe did act on the first one.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub struct StripeProvider {
    pub(super) client: Client,
    /// Kept only for `Debug`; the client holds the secret key and is not printed.
    api_base: String,
}

impl std::fmt::Debug for StripeProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeProvider")
            .field("api_base", &self.api_base)
            .finish_non_exhaustive()
    }
}

impl StripeProvider {
    /// `api_base` replaces `https://api.stripe.com/` (tests point it at a fake).
    pub fn new(secret_key: &Secret, api_base: Option<&Url>) -> anyhow::Result<Self> {
        let mut builder = ClientBuilder::new(secret_key.expose())
            .app_info(
                "phonebooth",
                Some(env!("CARGO_PKG_VERSION").to_owned()),
                None,
            )
            .timeout(REQUEST_TIMEOUT);
        let mut shown_base = "https://api.stripe.com/".to_owned();
        if let Some(base) = api_base {
            // The client appends `v1/...` to the base as text.
            let mut base = base.as_str().to_owned();
            if !base.ends_with('/') {
                base.push('/');
            }
            builder = builder.url(base.clone());
            shown_base = base;
        }
        // The error names the bad setting, never the key itself.
        let client = builder
            .build()
            .map_err(|err| anyhow::anyhow!("building the Stripe client: {err}"))?;
        Ok(Self {
            client,
            api_base: shown_base,
        })
    }
}

#[async_trait]
impl PaymentProvider for StripeProvider {
    fn name(&self) -> &'static str {
        "stripe"
    }

    #[tracing::instrument(name = "stripe.create_credit_checkout", skip_all, fields(org_id = %request.org_id, amount = %request.amount))]
    async fn create_credit_checkout(
        &self,
        request: &CreditCheckout,
    ) -> Result<CheckoutRedirect, PaymentError> {
        let cents = whole_cents(request.amount)?;
        let metadata = metadata(&request.org_id, PURPOSE_CREDITS);

        let line_item = CreateCheckoutSessionLineItems {
            price_data: Some(CreateCheckoutSessionLineItemsPriceData {
                product_data: Some(ProductData::new(CREDITS_PRODUCT_NAME)),
                unit_amount: Some(cents),
                ..CreateCheckoutSessionLineItemsPriceData::new(Currency::USD)
            }),
            quantity: Some(1),
            ..CreateCheckoutSessionLineItems::new()
        };
        // On the PaymentIntent too, so a payment seen on its own (dashboard,
        // `payment_intent.*` events, disputes) still says whose it is.
        let payment_intent_data = CreateCheckoutSessionPaymentIntentData {
            metadata: Some(metadata.clone()),
            ..CreateCheckoutSessionPaymentIntentData::new()
        };
        let create = CreateCheckoutSession::new()
            .mode(CheckoutSessionMode::Payment)
            .line_items(vec![line_item])
            .payment_intent_data(payment_intent_data)
            .metadata(metadata)
            .client_reference_id(&request.org_id)
            .customer_email(&request.customer_email)
            .success_url(&request.success_url)
            .cancel_url(&request.cancel_url);

        let session = create
            .customize()
            .request_strategy(idempotent(&request.idempotency_key)?)
            .send(&self.client)
            .await
            .map_err(|err| failure("create checkout session", err))?;
        redirect(session)
    }

    #[tracing::instrument(name = "stripe.create_card_setup", skip_all, fields(org_id = %request.org_id))]
    async fn create_card_setup(
        &self,
        request: &CardSetup,
    ) -> Result<CheckoutRedirect, PaymentError> {
        let customer_id = match &request.customer_id {
            Some(id) => id.clone(),
            None => {
                // Keyed off the request's key: a retried setup finds the same
                // customer instead of leaving an orphan behind.
                let customer = CreateCustomer::new()
                    .email(&request.customer_email)
                    .metadata(HashMap::from([(
                        META_ORG_ID.to_owned(),
                        request.org_id.clone(),
                    )]))
                    .customize()
                    .request_strategy(idempotent(&format!(
                        "{}:customer",
                        request.idempotency_key
                    ))?)
                    .send(&self.client)
                    .await
                    .map_err(|err| failure("create customer", err))?;
                customer.id.as_str().to_owned()
            }
        };

        let metadata = metadata(&request.org_id, PURPOSE_SAVE_CARD);
        let setup_intent_data = CreateCheckoutSessionSetupIntentData {
            metadata: Some(metadata.clone()),
            ..CreateCheckoutSessionSetupIntentData::new()
        };
        // Setup mode needs a currency to pick the payment methods it offers.
        let create = CreateCheckoutSession::new()
            .mode(CheckoutSessionMode::Setup)
            .customer(&customer_id)
            .currency(Currency::USD)
            .setup_intent_data(setup_intent_data)
            .metadata(metadata)
            .client_reference_id(&request.org_id)
            .success_url(&request.success_url)
            .cancel_url(&request.cancel_url);

        let session = create
            .customize()
            .request_strategy(idempotent(&request.idempotency_key)?)
            .send(&self.client)
            .await
            .map_err(|err| failure("create setup checkout session", err))?;
        let mut redirect = redirect(session)?;
        redirect.customer_id = Some(customer_id);
        Ok(redirect)
    }

    #[tracing::instrument(name = "stripe.charge_saved_card", skip_all, fields(org_id = %request.org_id, attempt_id = %request.attempt_id, amount = %request.amount))]
    async fn charge_saved_card(
        &self,
        request: &SavedCardCharge,
    ) -> Result<ChargeOutcome, PaymentError> {
        let cents = whole_cents(request.amount)?;
        let mut metadata = metadata(&request.org_id, PURPOSE_AUTO_RECHARGE);
        metadata.insert(META_ATTEMPT_ID.to_owned(), request.attempt_id.clone());

        let create = CreatePaymentIntent::new(cents, Currency::USD)
            .customer(&request.customer_id)
            .payment_method(&request.payment_method_id)
            .off_session(CreatePaymentIntentOffSession::Bool(true))
            .confirm(true)
            .metadata(metadata)
            .description(format!("Phonebooth auto-recharge {}", request.amount));

        let sent = create
            .customize()
            .request_strategy(idempotent(&request.idempotency_key)?)
            .send(&self.client)
            .await;
        let intent = match sent {
            Ok(intent) => intent,
            Err(StripeError::Stripe(api, status)) if is_card_error(&api, status) => {
                let reason = decline_reason(&api);
                tracing::info!(
                    status,
                    code = api.code.as_ref().map(|c| c.as_str()),
                    decline_code = api.decline_code.as_deref(),
                    "stripe declined the off-session charge"
                );
                return Ok(ChargeOutcome::Declined {
                    payment_ref: api.payment_intent.map(|pi| pi.id.as_str().to_owned()),
                    reason,
                });
            }
            Err(err) => return Err(failure("create payment intent", err)),
        };

        let payment_ref = intent.id.as_str().to_owned();
        Ok(match intent.status {
            PaymentIntentStatus::Succeeded => ChargeOutcome::Succeeded { payment_ref },
            // Cards settle synchronously; a card still processing is rare, and
            // only the webhook can tell how it ends: not a failure.
            PaymentIntentStatus::Processing => {
                tracing::warn!(%payment_ref, "off-session charge still processing");
                ChargeOutcome::Processing { payment_ref }
            }
            // `requires_action` and the like: an off-session charge cannot
            // reach the customer, so nothing would ever settle it here. A
            // failed attempt (a late `payment_intent.succeeded` still credits).
            other => {
                tracing::info!(%payment_ref, status = other.as_str(), "off-session charge needs the customer");
                ChargeOutcome::Declined {
                    payment_ref: Some(payment_ref),
                    reason: format!(
                        "the customer must confirm this payment with their bank ({})",
                        other.as_str()
                    ),
                }
            }
        })
    }
}

pub(super) fn metadata(org_id: &str, purpose: &str) -> HashMap<String, String> {
    HashMap::from([
        (META_ORG_ID.to_owned(), org_id.to_owned()),
        (META_PURPOSE.to_owned(), purpose.to_owned()),
    ])
}

/// Stripe charges whole cents; `Money` is finer (micro-dollars), and rounding
/// here would charge a different amount from the one the ledger records.
fn whole_cents(amount: Money) -> Result<i64, PaymentError> {
    amount.whole_cents().filter(|cents| *cents > 0).ok_or_else(|| {
        tracing::error!(%amount, "refusing a charge that is not a positive number of whole cents");
        PaymentError::Refused(format!("{amount} is not a positive number of whole cents"))
    })
}

pub(super) fn idempotent(key: &str) -> Result<RequestStrategy, PaymentError> {
    IdempotencyKey::new(key)
        .map(RequestStrategy::Idempotent)
        .map_err(|err| {
            tracing::error!(error = %err, "unusable idempotency key");
            PaymentError::Refused(format!("idempotency key: {err}"))
        })
}

pub(super) fn redirect(session: CheckoutSession) -> Result<CheckoutRedirect, PaymentError> {
    let session_id = session.id.as_str().to_owned();
    let Some(url) = session.url else {
        tracing::error!(%session_id, "stripe returned a checkout session without a url");
        return Err(PaymentError::Refused(format!(
            "checkout session {session_id} has no url"
        )));
    };
    Ok(CheckoutRedirect {
        session_id,
        url,
        customer_id: session.customer.map(|c| c.id().as_str().to_owned()),
    })
}

/// Stripe answers 402 with `type=card_error` when the bank declines, including
/// `authentication_required` (an off-session charge the bank wants confirmed).
pub(super) fn is_card_error(api: &ApiErrors, status: u16) -> bool {
    status == 402 || matches!(api.type_, ApiErrorsType::CardError)
}

/// Short, and safe to show the customer: Stripe writes card error messages
/// for them. The code says which decline it was, for support.
pub(super) fn decline_reason(api: &ApiErrors) -> String {
    let code = api
        .decline_code
        .clone()
        .or_else(|| api.code.as_ref().map(|c| c.as_str().to_owned()))
        .unwrap_or_else(|| "card_error".to_owned());
    if code == "authentication_required" {
        return format!("the customer must confirm this payment with their bank ({code})");
    }
    let message = api
        .message
        .as_deref()
        .unwrap_or("The card was declined.")
        .trim_end_matches('.');
    format!("{message} ({code})")
}

/// Logs the failure with its cause and sorts it into the trait's two kinds.
/// Nothing logged or returned here contains the secret key: the client marks
/// the Authorization header sensitive and Stripe's own messages mask keys.
pub(super) fn failure(operation: &'static str, err: StripeError) -> PaymentError {
    match err {
        StripeError::Stripe(api, status) => {
            let summary = format!(
                "{operation}: stripe answered {status} {}{}: {}",
                api.type_.as_str(),
                api.code
                    .as_ref()
                    .map(|c| format!(" ({})", c.as_str()))
                    .unwrap_or_default(),
                api.message.as_deref().unwrap_or("no message"),
            );
            tracing::error!(
                status,
                error_type = api.type_.as_str(),
                code = api.code.as_ref().map(|c| c.as_str()),
                param = api.param.as_deref(),
                request_log_url = api.request_log_url.as_deref(),
                "{summary}"
            );
            // 409 (the same idempotency key still in flight) and 429 (rate
            // limited) are Stripe's "try again" answers, like a 5xx.
            if status >= 500 || status == 409 || status == 429 {
                PaymentError::Unavailable(summary)
            } else {
                PaymentError::Refused(summary)
            }
        }
        StripeError::ClientError(_) | StripeError::Timeout => {
            tracing::error!(error = %err, "{operation}: stripe could not be reached");
            PaymentError::Unavailable(format!("{operation}: {err}"))
        }
        // Stripe answered something we could not read (a proxy's error page,
        // an error body without the usual shape). Worth a retry: the same
        // idempotency key replays the first answer instead of acting twice.
        StripeError::JSONDeserialize(_) => {
            tracing::error!(error = %err, "{operation}: unreadable answer from stripe");
            PaymentError::Unavailable(format!("{operation}: {err}"))
        }
        StripeError::ConfigError(_) => {
            tracing::error!(error = %err, "{operation}: stripe client misconfigured");
            PaymentError::Refused(format!("{operation}: {err}"))
        }
    }
}
