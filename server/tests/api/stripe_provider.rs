//! The Stripe provider against the local fake of Stripe's API
//! (`common::fake_stripe`): what it sends
//! (path, key, idempotency key, form fields) and how it reads the answers
//! (sessions, customers, charges that succeed or are declined, outages).
//! No database and no app: the provider is built directly, pointed at the fake.

use crate::common::fake_stripe::{
    FakeStripe, Recorded, AUTHENTICATION_CARD, DECLINED_CARD, DECLINING_INVOICE, GOOD_CARD,
    MISSING_CUSTOMER, OPEN_INVOICE, PERIOD_END, PROCESSING_CARD, SECRET_KEY, SUBSCRIPTION,
    SUBSCRIPTION_ITEM, SUBSCRIPTION_SEATS, TEAM_ANNUAL_PRICE, TEAM_MONTHLY_PRICE,
    TWO_ITEM_SUBSCRIPTION,
};
use app::domain::Money;
use app::server::providers::payments::{
    CardSetup, ChargeOutcome, CreditCheckout, InvoicePayment, PaymentError, PaymentProvider,
    SavedCardCharge, SubscriptionChange, SubscriptionCheckout, SubscriptionProvider,
};
use axum::http::Method;
use serde_json::json;
use server::config::Secret;
use server::providers::stripe::StripeProvider;
use std::collections::BTreeMap;
use url::Url;

fn dollars(n: i64) -> Money {
    Money::from_dollars(n).unwrap()
}

fn credit_checkout(amount: Money) -> CreditCheckout {
    CreditCheckout {
        org_id: "org_42".to_owned(),
        amount,
        customer_email: "ada@example.com".to_owned(),
        idempotency_key: "checkout-7f3a".to_owned(),
        success_url: "https://phonebooth.test/wallet?paid={CHECKOUT_SESSION_ID}".to_owned(),
        cancel_url: "https://phonebooth.test/wallet".to_owned(),
    }
}

fn card_setup(customer_id: Option<&str>) -> CardSetup {
    CardSetup {
        org_id: "org_42".to_owned(),
        customer_id: customer_id.map(str::to_owned),
        customer_email: "ada@example.com".to_owned(),
        idempotency_key: "setup-91c0".to_owned(),
        success_url: "https://phonebooth.test/wallet/auto?saved={CHECKOUT_SESSION_ID}".to_owned(),
        cancel_url: "https://phonebooth.test/wallet/auto".to_owned(),
    }
}

fn saved_card_charge(payment_method_id: &str) -> SavedCardCharge {
    SavedCardCharge {
        org_id: "org_42".to_owned(),
        attempt_id: "att_5".to_owned(),
        customer_id: "cus_test_saved".to_owned(),
        payment_method_id: payment_method_id.to_owned(),
        amount: dollars(25),
        idempotency_key: "recharge-att_5".to_owned(),
    }
}

/// The request went to Stripe's path with our key and the given idempotency key.
fn assert_authenticated_post(request: &Recorded, path: &str, idempotency_key: &str) {
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.path, path);
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {SECRET_KEY}").as_str())
    );
    assert_eq!(request.header("idempotency-key"), Some(idempotency_key));
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
}

/// A read: our key, no idempotency key (GETs are safe to repeat), no body.
fn assert_authenticated_get(request: &Recorded, path: &str) {
    assert_eq!(request.method, Method::GET);
    assert_eq!(request.path, path);
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {SECRET_KEY}").as_str())
    );
    assert_eq!(request.header("idempotency-key"), None);
    assert_eq!(request.body, "");
}

/// The form is exactly these fields, nothing more.
fn assert_form(request: &Recorded, expected: &[(&str, &str)]) {
    let expected: BTreeMap<String, String> = expected
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(request.form(), expected, "{}", request.body);
}

fn assert_fields(form: &BTreeMap<String, String>, expected: &[(&str, &str)]) {
    for (key, value) in expected {
        assert_eq!(
            form.get(*key).map(String::as_str),
            Some(*value),
            "{key} in {form:#?}"
        );
    }
}

#[tokio::test]
async fn a_credit_checkout_is_a_payment_session_for_the_amount_with_the_callers_idempotency_key() {
    let stripe = FakeStripe::start().await;
    let request = credit_checkout(dollars(10));

    let redirect = stripe
        .provider()
        .create_credit_checkout(&request)
        .await
        .unwrap();

    assert!(redirect.session_id.starts_with("cs_test_"), "{redirect:?}");
    assert_eq!(
        redirect.url,
        format!(
            "https://checkout.stripe.com/c/pay/{}#fidkdWxOYHwnPyd1blpxYHZxWjA0",
            redirect.session_id
        )
    );
    assert_eq!(redirect.customer_id, None);

    let requests = stripe.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_authenticated_post(&requests[0], "/v1/checkout/sessions", "checkout-7f3a");
    let form = requests[0].form();
    assert_fields(
        &form,
        &[
            ("mode", "payment"),
            ("line_items[0][price_data][currency]", "usd"),
            ("line_items[0][price_data][unit_amount]", "1000"),
            (
                "line_items[0][price_data][product_data][name]",
                "Phonebooth credits",
            ),
            ("line_items[0][quantity]", "1"),
            ("metadata[org_id]", "org_42"),
            ("metadata[purpose]", "credits"),
            ("payment_intent_data[metadata][org_id]", "org_42"),
            ("payment_intent_data[metadata][purpose]", "credits"),
            ("client_reference_id", "org_42"),
            ("customer_email", "ada@example.com"),
            (
                "success_url",
                "https://phonebooth.test/wallet?paid={CHECKOUT_SESSION_ID}",
            ),
            ("cancel_url", "https://phonebooth.test/wallet"),
        ],
    );
}

#[tokio::test]
async fn an_amount_that_is_not_whole_cents_is_refused_without_calling_stripe() {
    let stripe = FakeStripe::start().await;
    let provider = stripe.provider();

    let fraction_of_a_cent = credit_checkout(Money::from_micros(10_005_000));
    let err = provider
        .create_credit_checkout(&fraction_of_a_cent)
        .await
        .unwrap_err();
    assert!(matches!(err, PaymentError::Refused(_)), "{err:?}");

    let mut charge = saved_card_charge(GOOD_CARD);
    charge.amount = Money::from_micros(1);
    let err = provider.charge_saved_card(&charge).await.unwrap_err();
    assert!(matches!(err, PaymentError::Refused(_)), "{err:?}");

    assert!(stripe.requests().is_empty());
}

#[tokio::test]
async fn a_card_setup_creates_the_customer_first_then_a_setup_session_for_that_customer() {
    let stripe = FakeStripe::start().await;

    let redirect = stripe
        .provider()
        .create_card_setup(&card_setup(None))
        .await
        .unwrap();

    let requests = stripe.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");

    assert_authenticated_post(&requests[0], "/v1/customers", "setup-91c0:customer");
    let customer = requests[0].form();
    assert_fields(
        &customer,
        &[("email", "ada@example.com"), ("metadata[org_id]", "org_42")],
    );

    assert_authenticated_post(&requests[1], "/v1/checkout/sessions", "setup-91c0");
    let session = requests[1].form();
    let customer_id = redirect.customer_id.clone().expect("the customer it used");
    assert!(customer_id.starts_with("cus_test_"), "{redirect:?}");
    assert_fields(
        &session,
        &[
            ("mode", "setup"),
            ("customer", customer_id.as_str()),
            ("currency", "usd"),
            ("setup_intent_data[metadata][org_id]", "org_42"),
            ("setup_intent_data[metadata][purpose]", "save_card"),
            ("metadata[org_id]", "org_42"),
            ("metadata[purpose]", "save_card"),
            (
                "success_url",
                "https://phonebooth.test/wallet/auto?saved={CHECKOUT_SESSION_ID}",
            ),
            ("cancel_url", "https://phonebooth.test/wallet/auto"),
        ],
    );
    assert!(
        !session.keys().any(|k| k.starts_with("line_items")),
        "{session:#?}"
    );
    assert!(redirect.session_id.starts_with("cs_test_"));
    assert!(redirect.url.starts_with(&format!(
        "https://checkout.stripe.com/c/pay/{}",
        redirect.session_id
    )));
}

#[tokio::test]
async fn a_card_setup_for_a_known_customer_creates_no_other_customer() {
    let stripe = FakeStripe::start().await;

    let redirect = stripe
        .provider()
        .create_card_setup(&card_setup(Some("cus_test_existing")))
        .await
        .unwrap();

    assert_eq!(redirect.customer_id.as_deref(), Some("cus_test_existing"));
    let requests = stripe.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_authenticated_post(&requests[0], "/v1/checkout/sessions", "setup-91c0");
    assert_fields(&requests[0].form(), &[("customer", "cus_test_existing")]);
}

#[tokio::test]
async fn an_off_session_charge_that_succeeds_returns_its_payment_intent() {
    let stripe = FakeStripe::start().await;

    let outcome = stripe
        .provider()
        .charge_saved_card(&saved_card_charge(GOOD_CARD))
        .await
        .unwrap();

    let requests = stripe.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_authenticated_post(&requests[0], "/v1/payment_intents", "recharge-att_5");
    let form = requests[0].form();
    assert_fields(
        &form,
        &[
            ("amount", "2500"),
            ("currency", "usd"),
            ("customer", "cus_test_saved"),
            ("payment_method", GOOD_CARD),
            ("off_session", "true"),
            ("confirm", "true"),
            ("metadata[org_id]", "org_42"),
            ("metadata[purpose]", "auto_recharge"),
            ("metadata[attempt_id]", "att_5"),
        ],
    );
    assert!(form.contains_key("description"), "{form:#?}");
    assert!(
        matches!(&outcome, ChargeOutcome::Succeeded { payment_ref } if payment_ref.starts_with("pi_test_")),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_declined_off_session_charge_is_a_declined_attempt_naming_the_decline_code() {
    let stripe = FakeStripe::start().await;

    let outcome = stripe
        .provider()
        .charge_saved_card(&saved_card_charge(DECLINED_CARD))
        .await
        .unwrap();

    let requests = stripe.requests();
    assert_eq!(requests.len(), 1, "declines are not retried: {requests:#?}");
    assert_authenticated_post(&requests[0], "/v1/payment_intents", "recharge-att_5");
    assert_fields(
        &requests[0].form(),
        &[
            ("off_session", "true"),
            ("confirm", "true"),
            ("payment_method", DECLINED_CARD),
            ("metadata[attempt_id]", "att_5"),
        ],
    );
    let ChargeOutcome::Declined {
        payment_ref,
        reason,
    } = outcome
    else {
        panic!("expected a decline, got {outcome:?}");
    };
    assert!(
        payment_ref
            .as_deref()
            .is_some_and(|id| id.starts_with("pi_test_")),
        "{payment_ref:?}"
    );
    assert!(reason.contains("insufficient_funds"), "{reason}");
    assert!(reason.contains("insufficient funds"), "{reason}");
}

#[tokio::test]
async fn a_charge_the_bank_wants_authenticated_is_declined_asking_the_customer_to_confirm() {
    let stripe = FakeStripe::start().await;

    let outcome = stripe
        .provider()
        .charge_saved_card(&saved_card_charge(AUTHENTICATION_CARD))
        .await
        .unwrap();

    let ChargeOutcome::Declined {
        payment_ref,
        reason,
    } = outcome
    else {
        panic!("expected a decline, got {outcome:?}");
    };
    assert!(payment_ref.is_some());
    assert!(reason.contains("must confirm"), "{reason}");
    assert!(reason.contains("authentication_required"), "{reason}");
}

#[tokio::test]
async fn a_charge_still_processing_is_pending_with_its_payment_intent_not_declined() {
    let stripe = FakeStripe::start().await;

    let outcome = stripe
        .provider()
        .charge_saved_card(&saved_card_charge(PROCESSING_CARD))
        .await
        .unwrap();

    let ChargeOutcome::Processing { payment_ref } = outcome else {
        panic!("expected a processing charge, got {outcome:?}");
    };
    assert!(payment_ref.starts_with("pi_test_"), "{payment_ref}");
}

#[tokio::test]
async fn a_server_error_from_stripe_is_unavailable_and_does_not_show_the_key() {
    let stripe = FakeStripe::start().await;
    stripe.fail_everything();
    let provider = stripe.provider();

    let checkout = provider
        .create_credit_checkout(&credit_checkout(dollars(10)))
        .await
        .unwrap_err();
    let charge = provider
        .charge_saved_card(&saved_card_charge(GOOD_CARD))
        .await
        .unwrap_err();

    for err in [&checkout, &charge] {
        assert!(matches!(err, PaymentError::Unavailable(_)), "{err:?}");
        assert!(!format!("{err:?} {err}").contains(SECRET_KEY), "{err:?}");
    }
    assert!(!format!("{provider:?}").contains(SECRET_KEY));
    // One attempt each: retrying is the caller's decision, with the same key.
    assert_eq!(stripe.requests().len(), 2);
}

#[tokio::test]
async fn a_request_stripe_rejects_is_refused() {
    let stripe = FakeStripe::start().await;

    let err = stripe
        .provider()
        .create_card_setup(&card_setup(Some(MISSING_CUSTOMER)))
        .await
        .unwrap_err();

    let PaymentError::Refused(message) = &err else {
        panic!("expected Refused, got {err:?}");
    };
    assert!(message.contains("resource_missing"), "{message}");
}

#[tokio::test]
async fn stripe_cannot_be_reached_is_unavailable() {
    // Bind and drop a listener: nothing answers on that port afterwards.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    drop(listener);
    let provider = StripeProvider::new(&Secret::new(SECRET_KEY), Some(&url)).unwrap();

    let err = provider
        .charge_saved_card(&saved_card_charge(GOOD_CARD))
        .await
        .unwrap_err();
    assert!(matches!(err, PaymentError::Unavailable(_)), "{err:?}");

    // The raw requests of the Team plan go through the same client.
    let err = provider
        .pay_invoice(OPEN_INVOICE, "retry-in_1QxOpen-1")
        .await
        .unwrap_err();
    assert!(matches!(err, PaymentError::Unavailable(_)), "{err:?}");
}

// ---------------------------------------------------------------------------
// The Team plan (subscriptions.rs).
// ---------------------------------------------------------------------------

fn team_checkout(customer_id: Option<&str>) -> SubscriptionCheckout {
    SubscriptionCheckout {
        org_id: "org_42".to_owned(),
        customer_id: customer_id.map(str::to_owned),
        customer_email: "ada@example.com".to_owned(),
        price_id: TEAM_ANNUAL_PRICE.to_owned(),
        quantity: 7,
        idempotency_key: "team-checkout-5e1".to_owned(),
        success_url: "https://phonebooth.test/settings/plan?subscribed={CHECKOUT_SESSION_ID}"
            .to_owned(),
        cancel_url: "https://phonebooth.test/settings/plan".to_owned(),
    }
}

const SUBSCRIPTION_PATH: &str = "/v1/subscriptions/sub_1QxTeam";

#[tokio::test]
async fn a_team_checkout_is_a_subscription_session_for_the_seats_with_metadata_on_the_subscription()
{
    let stripe = FakeStripe::start().await;

    let redirect = stripe
        .provider()
        .create_subscription_checkout(&team_checkout(None))
        .await
        .unwrap();

    assert!(redirect.session_id.starts_with("cs_test_"), "{redirect:?}");
    assert_eq!(
        redirect.url,
        format!(
            "https://checkout.stripe.com/c/pay/{}#fidkdWxOYHwnPyd1blpxYHZxWjA0",
            redirect.session_id
        )
    );
    assert_eq!(redirect.customer_id, None);
    let requests = stripe.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_authenticated_post(&requests[0], "/v1/checkout/sessions", "team-checkout-5e1");
    assert_form(
        &requests[0],
        &[
            ("mode", "subscription"),
            ("line_items[0][price]", TEAM_ANNUAL_PRICE),
            ("line_items[0][quantity]", "7"),
            ("customer_email", "ada@example.com"),
            ("client_reference_id", "org_42"),
            ("metadata[org_id]", "org_42"),
            ("metadata[purpose]", "subscription"),
            ("subscription_data[metadata][org_id]", "org_42"),
            ("subscription_data[metadata][purpose]", "subscription"),
            (
                "success_url",
                "https://phonebooth.test/settings/plan?subscribed={CHECKOUT_SESSION_ID}",
            ),
            ("cancel_url", "https://phonebooth.test/settings/plan"),
        ],
    );
}

#[tokio::test]
async fn a_team_checkout_for_a_known_customer_sends_the_customer_and_not_the_email() {
    let stripe = FakeStripe::start().await;

    let redirect = stripe
        .provider()
        .create_subscription_checkout(&team_checkout(Some("cus_test_existing")))
        .await
        .unwrap();

    assert_eq!(redirect.customer_id.as_deref(), Some("cus_test_existing"));
    let requests = stripe.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    let form = requests[0].form();
    assert_fields(
        &form,
        &[("customer", "cus_test_existing"), ("mode", "subscription")],
    );
    assert!(!form.contains_key("customer_email"), "{form:#?}");
}

#[tokio::test]
async fn a_team_checkout_for_a_price_stripe_does_not_have_is_refused() {
    let stripe = FakeStripe::start().await;
    let mut request = team_checkout(None);
    request.price_id = "price_1QxDeleted".to_owned();

    let err = stripe
        .provider()
        .create_subscription_checkout(&request)
        .await
        .unwrap_err();

    let PaymentError::Refused(message) = &err else {
        panic!("expected Refused, got {err:?}");
    };
    assert!(message.contains("resource_missing"), "{message}");
}

#[tokio::test]
async fn a_seat_change_reads_the_item_then_sets_its_quantity_prorated_on_the_next_invoice() {
    let stripe = FakeStripe::start().await;

    let subscription = stripe
        .provider()
        .update_subscription(SUBSCRIPTION, &SubscriptionChange::Quantity(5), "seats-5-a9")
        .await
        .unwrap();

    let requests = stripe.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert_authenticated_get(&requests[0], SUBSCRIPTION_PATH);
    assert_authenticated_post(&requests[1], SUBSCRIPTION_PATH, "seats-5-a9");
    // Exactly these: no `always_invoice`, no invoice per change.
    assert_form(
        &requests[1],
        &[
            ("items[0][id]", SUBSCRIPTION_ITEM),
            ("items[0][quantity]", "5"),
            ("proration_behavior", "create_prorations"),
        ],
    );
    // The answer is Stripe's subscription object, untouched.
    assert_eq!(subscription["id"], SUBSCRIPTION);
    assert_eq!(subscription["object"], "subscription");
    let item = &subscription["items"]["data"][0];
    assert_eq!(item["id"], SUBSCRIPTION_ITEM);
    assert_eq!(item["quantity"], 5);
    assert_eq!(item["price"]["id"], TEAM_MONTHLY_PRICE);
    assert_eq!(item["price"]["recurring"]["interval"], "month");
    assert_eq!(item["current_period_end"], PERIOD_END);
}

#[tokio::test]
async fn a_seat_change_on_a_subscription_with_two_items_is_refused_and_changes_nothing() {
    let stripe = FakeStripe::start().await;

    let err = stripe
        .provider()
        .update_subscription(
            TWO_ITEM_SUBSCRIPTION,
            &SubscriptionChange::Quantity(5),
            "seats-5-b0",
        )
        .await
        .unwrap_err();

    assert!(matches!(err, PaymentError::Refused(_)), "{err:?}");
    let requests = stripe.requests();
    assert_eq!(requests.len(), 1, "only the read: {requests:#?}");
    assert_eq!(requests[0].method, Method::GET);
}

#[tokio::test]
async fn cancelling_at_period_end_and_taking_it_back_send_the_flag() {
    let stripe = FakeStripe::start().await;
    let provider = stripe.provider();

    let cancelled = provider
        .update_subscription(
            SUBSCRIPTION,
            &SubscriptionChange::CancelAtPeriodEnd(true),
            "cancel-1",
        )
        .await
        .unwrap();
    let resumed = provider
        .update_subscription(
            SUBSCRIPTION,
            &SubscriptionChange::CancelAtPeriodEnd(false),
            "cancel-2",
        )
        .await
        .unwrap();

    let requests = stripe.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert_authenticated_post(&requests[0], SUBSCRIPTION_PATH, "cancel-1");
    assert_form(&requests[0], &[("cancel_at_period_end", "true")]);
    assert_authenticated_post(&requests[1], SUBSCRIPTION_PATH, "cancel-2");
    assert_form(&requests[1], &[("cancel_at_period_end", "false")]);
    assert_eq!(cancelled["cancel_at_period_end"], true);
    assert_eq!(cancelled["cancel_at"], PERIOD_END);
    assert_eq!(resumed["cancel_at_period_end"], false);
}

#[tokio::test]
async fn a_pause_voids_invoices_until_it_resumes() {
    let stripe = FakeStripe::start().await;
    let resumes_at = PERIOD_END + 86_400;

    let paused = stripe
        .provider()
        .update_subscription(
            SUBSCRIPTION,
            &SubscriptionChange::Pause { resumes_at },
            "pause-1",
        )
        .await
        .unwrap();

    let requests = stripe.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_authenticated_post(&requests[0], SUBSCRIPTION_PATH, "pause-1");
    assert_form(
        &requests[0],
        &[
            ("pause_collection[behavior]", "void"),
            ("pause_collection[resumes_at]", &resumes_at.to_string()),
        ],
    );
    assert_eq!(
        paused["pause_collection"],
        json!({"behavior": "void", "resumes_at": resumes_at})
    );
}

#[tokio::test]
async fn unpausing_clears_pause_collection_with_an_empty_value() {
    let stripe = FakeStripe::start().await;

    let resumed = stripe
        .provider()
        .update_subscription(SUBSCRIPTION, &SubscriptionChange::Unpause, "unpause-1")
        .await
        .unwrap();

    let requests = stripe.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_authenticated_post(&requests[0], SUBSCRIPTION_PATH, "unpause-1");
    // The key with nothing after `=`: how Stripe unsets a field.
    assert_eq!(requests[0].body, "pause_collection=");
    assert_form(&requests[0], &[("pause_collection", "")]);
    assert_eq!(resumed["pause_collection"], serde_json::Value::Null);
}

#[tokio::test]
async fn retrieving_a_subscription_answers_stripes_object_as_it_came() {
    let stripe = FakeStripe::start().await;

    let subscription = stripe
        .provider()
        .retrieve_subscription(SUBSCRIPTION)
        .await
        .unwrap();

    let requests = stripe.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_authenticated_get(&requests[0], SUBSCRIPTION_PATH);
    assert_eq!(subscription["status"], "active");
    assert_eq!(subscription["cancel_at_period_end"], false);
    assert_eq!(subscription["pause_collection"], serde_json::Value::Null);
    assert_eq!(subscription["metadata"]["org_id"], "org_42");
    assert_eq!(subscription["metadata"]["purpose"], "subscription");
    let item = &subscription["items"]["data"][0];
    assert_eq!(item["quantity"], SUBSCRIPTION_SEATS);
    assert_eq!(item["price"]["unit_amount"], 1_200);
}

#[tokio::test]
async fn an_unknown_subscription_is_refused_and_a_malformed_id_never_reaches_stripe() {
    let stripe = FakeStripe::start().await;
    let provider = stripe.provider();

    let err = provider
        .retrieve_subscription("sub_1QxGone")
        .await
        .unwrap_err();
    let PaymentError::Refused(message) = &err else {
        panic!("expected Refused, got {err:?}");
    };
    assert!(message.contains("resource_missing"), "{message}");
    assert_eq!(stripe.requests().len(), 1);

    for bad in ["", "sub_1/../../customers", "sub_1?expand=x", "in_1#"] {
        let err = provider.retrieve_subscription(bad).await.unwrap_err();
        assert!(matches!(err, PaymentError::Refused(_)), "{bad}: {err:?}");
        let err = provider
            .update_subscription(bad, &SubscriptionChange::Unpause, "k")
            .await
            .unwrap_err();
        assert!(matches!(err, PaymentError::Refused(_)), "{bad}: {err:?}");
        let err = provider.pay_invoice(bad, "k").await.unwrap_err();
        assert!(matches!(err, PaymentError::Refused(_)), "{bad}: {err:?}");
    }
    assert_eq!(stripe.requests().len(), 1, "nothing more sent");
}

#[tokio::test]
async fn the_billing_portal_is_a_session_for_the_customer_returning_to_our_page() {
    let stripe = FakeStripe::start().await;

    let url = stripe
        .provider()
        .billing_portal("cus_test_team", "https://phonebooth.test/settings/plan")
        .await
        .unwrap();

    let requests = stripe.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    let key = requests[0]
        .header("idempotency-key")
        .expect("an idempotency key")
        .to_owned();
    assert!(key.starts_with("portal_"), "{key}");
    assert_authenticated_post(&requests[0], "/v1/billing_portal/sessions", &key);
    assert_form(
        &requests[0],
        &[
            ("customer", "cus_test_team"),
            ("return_url", "https://phonebooth.test/settings/plan"),
        ],
    );
    assert!(
        url.starts_with("https://billing.stripe.com/p/session/test_bps_test_"),
        "{url}"
    );
}

#[tokio::test]
async fn paying_an_open_invoice_that_goes_through_is_paid() {
    let stripe = FakeStripe::start().await;

    let payment = stripe
        .provider()
        .pay_invoice(OPEN_INVOICE, "retry-in_1QxOpen-1")
        .await
        .unwrap();

    assert_eq!(payment, InvoicePayment::Paid);
    let requests = stripe.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_authenticated_post(
        &requests[0],
        "/v1/invoices/in_1QxOpen/pay",
        "retry-in_1QxOpen-1",
    );
    assert_eq!(requests[0].body, "");
}

#[tokio::test]
async fn paying_an_invoice_the_bank_declines_is_declined_with_stripes_message_and_code() {
    let stripe = FakeStripe::start().await;

    let payment = stripe
        .provider()
        .pay_invoice(DECLINING_INVOICE, "retry-in_1QxDeclines-1")
        .await
        .unwrap();

    let InvoicePayment::Declined { reason } = payment else {
        panic!("expected a decline, got {payment:?}");
    };
    assert!(
        reason.contains("Your card has insufficient funds"),
        "{reason}"
    );
    assert!(reason.contains("insufficient_funds"), "{reason}");
    let requests = stripe.requests();
    assert_eq!(requests.len(), 1, "declines are not retried: {requests:#?}");
    assert_authenticated_post(
        &requests[0],
        "/v1/invoices/in_1QxDeclines/pay",
        "retry-in_1QxDeclines-1",
    );
}

#[tokio::test]
async fn every_team_plan_call_during_a_stripe_outage_is_unavailable() {
    let stripe = FakeStripe::start().await;
    stripe.fail_everything();
    let provider = stripe.provider();

    let errors = [
        provider
            .create_subscription_checkout(&team_checkout(None))
            .await
            .unwrap_err(),
        provider
            .update_subscription(SUBSCRIPTION, &SubscriptionChange::Quantity(5), "k1")
            .await
            .unwrap_err(),
        provider
            .update_subscription(SUBSCRIPTION, &SubscriptionChange::Unpause, "k2")
            .await
            .unwrap_err(),
        provider
            .retrieve_subscription(SUBSCRIPTION)
            .await
            .unwrap_err(),
        provider
            .billing_portal("cus_test_team", "https://phonebooth.test/settings/plan")
            .await
            .unwrap_err(),
        provider.pay_invoice(OPEN_INVOICE, "k3").await.unwrap_err(),
    ];

    for err in &errors {
        assert!(matches!(err, PaymentError::Unavailable(_)), "{err:?}");
        assert!(!format!("{err:?} {err}").contains(SECRET_KEY), "{err:?}");
    }
    // One attempt each; the seat change stops at its failed read.
    assert_eq!(stripe.requests().len(), 6);
}
