//! The Team plan on Stripe: a Checkout Session in subscription mode, seat,
//! cancellation and pause changes, the Billing Portal, and paying an open
//! invoice now.
//!
//! Subscriptions, invoices and portal sessions belong to async-stripe's
//! billing crate, which this build does not include, and no typed builder can
//! send `pause_collection=` (the empty value that clears a pause). So those
//! calls are raw form requests through the same client: same key, base URL,
//! timeout, `Idempotency-Key` and error mapping (`failure`). Their answers go
//! back as Stripe's JSON, unparsed: `server::subscriptions` reads them.
//! `server/tests/api/stripe_provider.rs` checks the exact requests.

use super::client::{
    decline_reason, failure, idempotent, is_card_error, metadata, redirect, StripeProvider,
};
use app::server::providers::payments::{
    CheckoutRedirect, InvoicePayment, PaymentError, SubscriptionChange, SubscriptionCheckout,
    SubscriptionProvider, PURPOSE_SUBSCRIPTION,
};
use async_trait::async_trait;
use serde_json::Value;
use stripe::{RequestStrategy, StripeError, StripeRequest};
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionSubscriptionData,
};
use stripe_checkout::CheckoutSessionMode;
use stripe_client_core::{RequestBuilder, StripeMethod};

#[async_trait]
impl SubscriptionProvider for StripeProvider {
    #[tracing::instrument(name = "stripe.create_subscription_checkout", skip_all, fields(org_id = %request.org_id, quantity = request.quantity))]
    async fn create_subscription_checkout(
        &self,
        request: &SubscriptionCheckout,
    ) -> Result<CheckoutRedirect, PaymentError> {
        let metadata = metadata(&request.org_id, PURPOSE_SUBSCRIPTION);
        let line_item = CreateCheckoutSessionLineItems {
            price: Some(request.price_id.clone()),
            quantity: Some(request.quantity.into()),
            ..CreateCheckoutSessionLineItems::new()
        };
        // On the subscription too: `customer.subscription.*` events carry only
        // the subscription's own metadata.
        let subscription_data = CreateCheckoutSessionSubscriptionData {
            metadata: Some(metadata.clone()),
            ..CreateCheckoutSessionSubscriptionData::new()
        };
        let create = CreateCheckoutSession::new()
            .mode(CheckoutSessionMode::Subscription)
            .line_items(vec![line_item])
            .subscription_data(subscription_data)
            .metadata(metadata)
            .client_reference_id(&request.org_id)
            .success_url(&request.success_url)
            .cancel_url(&request.cancel_url);
        // A known customer keeps one customer (and one saved card) per
        // organization; Stripe refuses both fields together.
        let create = match &request.customer_id {
            Some(customer) => create.customer(customer),
            None => create.customer_email(&request.customer_email),
        };

        let session = create
            .customize()
            .request_strategy(idempotent(&request.idempotency_key)?)
            .send(&self.client)
            .await
            .map_err(|err| failure("create subscription checkout session", err))?;
        redirect(session)
    }

    #[tracing::instrument(name = "stripe.update_subscription", skip_all, fields(%subscription_id, ?change))]
    async fn update_subscription(
        &self,
        subscription_id: &str,
        change: &SubscriptionChange,
        idempotency_key: &str,
    ) -> Result<Value, PaymentError> {
        let id = path_id(subscription_id)?;
        let strategy = idempotent(idempotency_key)?;
        let form = match change {
            // Stripe changes an item's quantity, not the subscription's: the
            // item id comes from the subscription as it is now. Prorations
            // wait for the next invoice rather than charging per change.
            SubscriptionChange::Quantity(seats) => vec![
                ("items[0][id]", self.only_item(id).await?),
                ("items[0][quantity]", seats.to_string()),
                ("proration_behavior", "create_prorations".to_owned()),
            ],
            SubscriptionChange::CancelAtPeriodEnd(cancel) => {
                vec![("cancel_at_period_end", cancel.to_string())]
            }
            // `void`: invoices made during the pause are voided, not owed later.
            SubscriptionChange::Pause { resumes_at } => vec![
                ("pause_collection[behavior]", "void".to_owned()),
                ("pause_collection[resumes_at]", resumes_at.to_string()),
            ],
            // An empty value is how Stripe unsets a field.
            SubscriptionChange::Unpause => vec![("pause_collection", String::new())],
        };
        self.call(post(&format!("/subscriptions/{id}"), &form), strategy)
            .await
            .map_err(|err| failure("update subscription", err))
    }

    #[tracing::instrument(name = "stripe.retrieve_subscription", skip_all, fields(%subscription_id))]
    async fn retrieve_subscription(&self, subscription_id: &str) -> Result<Value, PaymentError> {
        let id = path_id(subscription_id)?;
        self.call(
            RequestBuilder::new(StripeMethod::Get, format!("/subscriptions/{id}")),
            RequestStrategy::Once,
        )
        .await
        .map_err(|err| failure("retrieve subscription", err))
    }

    #[tracing::instrument(name = "stripe.billing_portal", skip_all)]
    async fn billing_portal(
        &self,
        customer_id: &str,
        return_url: &str,
    ) -> Result<String, PaymentError> {
        let form = [
            ("customer", customer_id.to_owned()),
            ("return_url", return_url.to_owned()),
        ];
        // A new key per call: each visit is its own short-lived session, and
        // a replayed answer could hand out one that has already expired.
        let key = app::server::ids::new_id("portal");
        let session = self
            .call(post("/billing_portal/sessions", &form), idempotent(&key)?)
            .await
            .map_err(|err| failure("create billing portal session", err))?;
        match session["url"].as_str() {
            Some(url) => Ok(url.to_owned()),
            None => {
                tracing::error!("stripe returned a billing portal session without a url");
                Err(PaymentError::Refused(
                    "billing portal session has no url".to_owned(),
                ))
            }
        }
    }

    #[tracing::instrument(name = "stripe.pay_invoice", skip_all, fields(%invoice_id))]
    async fn pay_invoice(
        &self,
        invoice_id: &str,
        idempotency_key: &str,
    ) -> Result<InvoicePayment, PaymentError> {
        let id = path_id(invoice_id)?;
        let sent = self
            .call(
                post(&format!("/invoices/{id}/pay"), &[]),
                idempotent(idempotency_key)?,
            )
            .await;
        match sent {
            Ok(invoice) => match invoice["status"].as_str() {
                Some("paid") => Ok(InvoicePayment::Paid),
                // Accepted but not settled (a slow payment method): not paid
                // yet, and only the `invoice.*` events can tell how it ends.
                status => {
                    let status = status.unwrap_or("unknown");
                    tracing::warn!(status, "invoice not paid after paying it");
                    Ok(InvoicePayment::Declined {
                        reason: format!("the payment has not gone through yet ({status})"),
                    })
                }
            },
            Err(StripeError::Stripe(api, status)) if is_card_error(&api, status) => {
                tracing::info!(
                    status,
                    code = api.code.as_ref().map(|c| c.as_str()),
                    decline_code = api.decline_code.as_deref(),
                    "stripe declined the invoice payment"
                );
                Ok(InvoicePayment::Declined {
                    reason: decline_reason(&api),
                })
            }
            Err(err) => Err(failure("pay invoice", err)),
        }
    }
}

impl StripeProvider {
    /// Sends a raw request through the typed client (key, base URL, timeout,
    /// error parsing) and answers with Stripe's JSON as it came.
    async fn call(
        &self,
        request: RequestBuilder,
        strategy: RequestStrategy,
    ) -> Result<Value, StripeError> {
        let answer: miniserde::json::Value = request
            .customize()
            .request_strategy(strategy)
            .send(&self.client)
            .await?;
        // miniserde's value into serde_json's, without going back to text.
        stripe_types::with_serde_json::serialize(&answer, serde_json::value::Serializer)
            .map_err(|err| StripeError::JSONDeserialize(err.to_string()))
    }

    /// The id of the subscription's one item (a Team subscription has one
    /// price). Anything else is refused rather than changing the wrong item.
    async fn only_item(&self, subscription_id: &str) -> Result<String, PaymentError> {
        let subscription = self.retrieve_subscription(subscription_id).await?;
        let items = subscription["items"]["data"].as_array();
        match items.map(Vec::as_slice) {
            Some([item]) => item["id"].as_str().map(str::to_owned).ok_or_else(|| {
                PaymentError::Refused(format!("subscription {subscription_id}: item without id"))
            }),
            _ => {
                let count = items.map_or(0, Vec::len);
                tracing::error!(subscription_id, count, "not a one-item subscription");
                Err(PaymentError::Refused(format!(
                    "subscription {subscription_id} has {count} items, expected one"
                )))
            }
        }
    }
}

/// A form-encoded POST; an empty value is sent as `key=`.
fn post(path: &str, form: &[(&str, String)]) -> RequestBuilder {
    let mut request = RequestBuilder::new(StripeMethod::Post, path);
    request.body = Some(
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish(),
    );
    request
}

/// Ids go into the URL path: only the characters Stripe ids are made of, so
/// a bad one cannot reach another endpoint.
fn path_id(id: &str) -> Result<&str, PaymentError> {
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        Ok(id)
    } else {
        tracing::error!(id, "refusing a malformed stripe id");
        Err(PaymentError::Refused(format!("not a stripe id: {id:?}")))
    }
}
