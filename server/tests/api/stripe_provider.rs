//! The Stripe provider against the local fake of Stripe's API
//! (`common::fake_stripe`): what it sends
//! (path, key, idempotency key, form fields) and how it reads the answers
//! (sessions, customers, charges that succeed or are declined, outages).
//! No database and no app: the provider is built directly, pointed at the fake.

use crate::common::fake_stripe::{
    FakeStripe, Recorded, AUTHENTICATION_CARD, DECLINED_CARD, GOOD_CARD, MISSING_CUSTOMER,
    PROCESSING_CARD, SECRET_KEY,
};
use app::domain::Money;
use app::server::providers::payments::{
    CardSetup, ChargeOutcome, CreditCheckout, PaymentError, PaymentProvider, SavedCardCharge,
};
use axum::http::Method;
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
}
