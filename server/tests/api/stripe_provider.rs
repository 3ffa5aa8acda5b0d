//! The Stripe provider against a local fake of Stripe's API: what it sends
//! (path, key, idempotency key, form fields) and how it reads the answers
//! (sessions, customers, charges that succeed or are declined, outages).
//! No database and no app: the provider is built directly, pointed at the fake.

use app::domain::Money;
use app::server::payments::{
    CardSetup, ChargeOutcome, CreditCheckout, PaymentError, PaymentProvider, SavedCardCharge,
};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use server::config::Secret;
use server::providers::stripe::StripeProvider;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use url::Url;

const SECRET_KEY: &str = "sk_test_123";
/// The fake declines this payment method the way Stripe's test card
/// `pm_card_visa_chargeDeclinedInsufficientFunds` is declined.
const DECLINED_CARD: &str = "pm_card_visa_chargeDeclinedInsufficientFunds";
/// Declined like `pm_card_authenticationRequired`: the bank wants 3-D Secure,
/// which an off-session charge cannot do.
const AUTHENTICATION_CARD: &str = "pm_card_authenticationRequired";
const GOOD_CARD: &str = "pm_card_visa";
/// The fake answers 400 `resource_missing` for this customer.
const MISSING_CUSTOMER: &str = "cus_missing";
const CREATED: i64 = 1_700_000_000;

/// One request as the fake received it.
#[derive(Clone, Debug)]
struct Recorded {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: String,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The form body decoded (`line_items[0][price_data][currency]` → `usd`).
    fn form(&self) -> BTreeMap<String, String> {
        let mut form = BTreeMap::new();
        for (key, value) in form_urlencoded::parse(self.body.as_bytes()) {
            let previous = form.insert(key.to_string(), value.to_string());
            assert!(previous.is_none(), "{key} sent twice in {}", self.body);
        }
        form
    }
}

#[derive(Default)]
struct FakeState {
    requests: Mutex<Vec<Recorded>>,
    next_id: AtomicU32,
    /// Answer every request with a 500, as during a Stripe incident.
    failing: AtomicBool,
}

struct FakeStripe {
    url: Url,
    state: Arc<FakeState>,
}

impl FakeStripe {
    async fn start() -> Self {
        let state = Arc::new(FakeState::default());
        let router = Router::new().fallback(answer).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self {
            url: Url::parse(&format!("http://{addr}/")).unwrap(),
            state,
        }
    }

    fn provider(&self) -> StripeProvider {
        StripeProvider::new(&Secret::new(SECRET_KEY), Some(&self.url)).unwrap()
    }

    fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    fn fail_everything(&self) {
        self.state.failing.store(true, Ordering::SeqCst);
    }
}

/// Every call the provider makes goes through this one handler.
async fn answer(
    State(state): State<Arc<FakeState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let recorded = Recorded {
        method,
        path: uri.path().to_owned(),
        headers,
        body: String::from_utf8(body.to_vec()).expect("form bodies are UTF-8"),
    };
    let form = recorded.form();
    let path = recorded.path.clone();
    state.requests.lock().unwrap().push(recorded);

    if state.failing.load(Ordering::SeqCst) {
        return stripe_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"type": "api_error", "message": "Something went wrong on Stripe's end."}),
        );
    }
    let n = state.next_id.fetch_add(1, Ordering::SeqCst);
    match path.as_str() {
        "/v1/checkout/sessions" => {
            if form.get("customer").map(String::as_str) == Some(MISSING_CUSTOMER) {
                return stripe_error(
                    StatusCode::BAD_REQUEST,
                    json!({
                        "type": "invalid_request_error",
                        "code": "resource_missing",
                        "param": "customer",
                        "message": format!("No such customer: '{MISSING_CUSTOMER}'"),
                    }),
                );
            }
            Json(checkout_session(&format!("cs_test_a1b2c3{n}"), &form)).into_response()
        }
        "/v1/customers" => Json(customer(&format!("cus_test_{n}"), &form)).into_response(),
        "/v1/payment_intents" => {
            let id = format!("pi_test_3Nx{n}");
            if let Some((code, decline_code, message)) =
                card_error(form.get("payment_method").map_or("", String::as_str))
            {
                let intent = payment_intent(&id, &form, "requires_payment_method");
                return stripe_error(
                    StatusCode::PAYMENT_REQUIRED,
                    json!({
                        "type": "card_error",
                        "code": code,
                        "decline_code": decline_code,
                        "message": message,
                        "charge": format!("ch_test_{n}"),
                        "doc_url": "https://stripe.com/docs/error-codes/card-declined",
                        "request_log_url": format!("https://dashboard.stripe.com/test/logs/req_{n}"),
                        "payment_intent": intent,
                    }),
                );
            }
            Json(payment_intent(&id, &form, "succeeded")).into_response()
        }
        _ => stripe_error(
            StatusCode::NOT_FOUND,
            json!({"type": "invalid_request_error", "message": format!("Unrecognized request URL (POST: {path})")}),
        ),
    }
}

/// How Stripe's test payment methods fail: (code, decline code, message).
fn card_error(payment_method: &str) -> Option<(&'static str, &'static str, &'static str)> {
    match payment_method {
        DECLINED_CARD => Some((
            "card_declined",
            "insufficient_funds",
            "Your card has insufficient funds.",
        )),
        AUTHENTICATION_CARD => Some((
            "authentication_required",
            "authentication_required",
            "Your card was declined. This transaction requires authentication.",
        )),
        _ => None,
    }
}

fn stripe_error(status: StatusCode, error: Value) -> Response {
    (status, Json(json!({ "error": error }))).into_response()
}

/// `metadata[key]=value` fields back into an object.
fn metadata(form: &BTreeMap<String, String>, prefix: &str) -> Value {
    let start = format!("{prefix}[");
    let map: Map<String, Value> = form
        .iter()
        .filter_map(|(key, value)| {
            let name = key.strip_prefix(&start)?.strip_suffix(']')?;
            (!name.contains('[')).then(|| (name.to_owned(), Value::from(value.as_str())))
        })
        .collect();
    Value::Object(map)
}

fn field(form: &BTreeMap<String, String>, key: &str) -> Value {
    form.get(key)
        .map_or(Value::Null, |v| Value::from(v.as_str()))
}

/// The shape of Stripe's `checkout.session` object (API version 2025), with
/// the values a new, open session has.
fn checkout_session(id: &str, form: &BTreeMap<String, String>) -> Value {
    let mode = form.get("mode").cloned().unwrap_or_default();
    let amount = form
        .get("line_items[0][price_data][unit_amount]")
        .map(|a| a.parse::<i64>().unwrap());
    let session = json!({
        "id": id,
        "object": "checkout.session",
        "adaptive_pricing": {"enabled": false},
        "after_expiration": null,
        "allow_promotion_codes": null,
        "amount_subtotal": amount,
        "amount_total": amount,
        "automatic_tax": {"enabled": false, "liability": null, "provider": null, "status": null},
        "billing_address_collection": null,
        "cancel_url": field(form, "cancel_url"),
        "client_reference_id": field(form, "client_reference_id"),
        "client_secret": null,
        "collected_information": null,
        "consent": null,
        "consent_collection": null,
        "created": CREATED,
        "currency": form.get("currency").cloned().unwrap_or_else(|| "usd".to_owned()),
        "currency_conversion": null,
        "custom_fields": [],
    });
    // Two halves: one `json!` this size exceeds the macro recursion limit.
    let rest = json!({
        "custom_text": {
            "after_submit": null,
            "shipping_address": null,
            "submit": null,
            "terms_of_service_acceptance": null
        },
        "customer": field(form, "customer"),
        "customer_creation": if form.contains_key("customer") { Value::Null } else { json!("if_required") },
        "customer_details": null,
        "customer_email": field(form, "customer_email"),
        "discounts": [],
        "expires_at": CREATED + 86_400,
        "invoice": null,
        "invoice_creation": null,
        "livemode": false,
        "locale": null,
        "metadata": metadata(form, "metadata"),
        "mode": mode,
        "payment_intent": null,
        "payment_link": null,
        "payment_method_collection": "always",
        "payment_method_configuration_details": null,
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "payment_status": if mode == "setup" { "no_payment_required" } else { "unpaid" },
        "phone_number_collection": {"enabled": false},
        "recovered_from": null,
        "saved_payment_method_options": null,
        "setup_intent": if mode == "setup" { json!(format!("seti_test_{id}")) } else { Value::Null },
        "shipping_address_collection": null,
        "shipping_cost": null,
        "shipping_options": [],
        "status": "open",
        "submit_type": null,
        "subscription": null,
        "success_url": field(form, "success_url"),
        "total_details": if amount.is_some() {
            json!({"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0})
        } else {
            Value::Null
        },
        "ui_mode": "hosted",
        "url": format!("https://checkout.stripe.com/c/pay/{id}#fidkdWxOYHwnPyd1blpxYHZxWjA0"),
    });
    let (Value::Object(mut session), Value::Object(rest)) = (session, rest) else {
        unreachable!("both halves are objects")
    };
    session.extend(rest);
    Value::Object(session)
}

fn customer(id: &str, form: &BTreeMap<String, String>) -> Value {
    json!({
        "id": id,
        "object": "customer",
        "address": null,
        "balance": 0,
        "created": CREATED,
        "currency": null,
        "default_source": null,
        "delinquent": false,
        "description": null,
        "email": field(form, "email"),
        "invoice_prefix": "B2C3D4E5",
        "invoice_settings": {
            "custom_fields": null,
            "default_payment_method": null,
            "footer": null,
            "rendering_options": null
        },
        "livemode": false,
        "metadata": metadata(form, "metadata"),
        "name": null,
        "next_invoice_sequence": 1,
        "phone": null,
        "preferred_locales": [],
        "shipping": null,
        "tax_exempt": "none",
        "test_clock": null
    })
}

fn payment_intent(id: &str, form: &BTreeMap<String, String>, status: &str) -> Value {
    let amount: i64 = form["amount"].parse().unwrap();
    let succeeded = status == "succeeded";
    json!({
        "id": id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": if succeeded { amount } else { 0 },
        "application": null,
        "application_fee_amount": null,
        "automatic_payment_methods": null,
        "canceled_at": null,
        "cancellation_reason": null,
        "capture_method": "automatic_async",
        "client_secret": format!("{id}_secret_Fz9"),
        "confirmation_method": "automatic",
        "created": CREATED,
        "currency": field(form, "currency"),
        "customer": field(form, "customer"),
        "description": field(form, "description"),
        "last_payment_error": if succeeded { Value::Null } else {
            json!({
                "type": "card_error",
                "code": "card_declined",
                "decline_code": "insufficient_funds",
                "message": "Your card has insufficient funds."
            })
        },
        "latest_charge": format!("ch_test_{id}"),
        "livemode": false,
        "metadata": metadata(form, "metadata"),
        "next_action": null,
        "on_behalf_of": null,
        "payment_method": if succeeded { field(form, "payment_method") } else { Value::Null },
        "payment_method_configuration_details": null,
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "processing": null,
        "receipt_email": null,
        "review": null,
        "setup_future_usage": null,
        "shipping": null,
        "source": null,
        "statement_descriptor": null,
        "statement_descriptor_suffix": null,
        "status": status,
        "transfer_data": null,
        "transfer_group": null
    })
}

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
