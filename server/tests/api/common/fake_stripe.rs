//! A local fake of Stripe's API (the parts the Stripe provider uses), for
//! every test that talks to "Stripe": today the provider's own tests
//! (`stripe_provider.rs`, a `StripeProvider` built by `provider()`).
//!
//! What it imitates, as Stripe answers (API version 2025 object shapes):
//! - `POST /v1/checkout/sessions`: a new, open `checkout.session` built from
//!   the form (payment or setup mode, metadata, URLs); a `customer` of
//!   `MISSING_CUSTOMER` is a 400 `resource_missing`;
//! - `POST /v1/customers`: a new `customer`;
//! - `POST /v1/payment_intents`: a `payment_intent` that succeeded, or, for
//!   Stripe's test payment methods `DECLINED_CARD` and `AUTHENTICATION_CARD`,
//!   the 402 `card_error` Stripe sends (with its decline code and the
//!   failed intent); `PROCESSING_CARD` answers an intent still `processing`;
//! - Bearer auth with `SECRET_KEY` (otherwise 401), Stripe's error body
//!   `{"error": {type, code, message, …}}`, 404 for any other path, and a
//!   500 `api_error` for everything after `fail_everything()`, as during a
//!   Stripe incident.
//!
//! How tests drive it: `FakeStripe::start()` serves it on a free port and
//! `provider()` builds the real provider against it. The payment method and
//! customer a test sends choose the outcome; every request is recorded with
//! method, path, headers and raw form body (`requests()`, `Recorded::form`).
//! It keeps no state between requests and sends no webhooks: tests of
//! `/webhooks/stripe` deliver signed events themselves (`TestApp::deliver_stripe`).

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

/// The key `provider()` uses; any other is refused with a 401.
pub const SECRET_KEY: &str = "sk_test_123";
/// The fake declines this payment method the way Stripe's test card
/// `pm_card_visa_chargeDeclinedInsufficientFunds` is declined.
pub const DECLINED_CARD: &str = "pm_card_visa_chargeDeclinedInsufficientFunds";
/// Declined like `pm_card_authenticationRequired`: the bank wants 3-D Secure,
/// which an off-session charge cannot do.
pub const AUTHENTICATION_CARD: &str = "pm_card_authenticationRequired";
pub const GOOD_CARD: &str = "pm_card_visa";
/// A charge Stripe accepts but has not settled: the intent answers
/// `processing`, and only a later `payment_intent.*` event tells how it ends.
pub const PROCESSING_CARD: &str = "pm_card_processing";
/// The fake answers 400 `resource_missing` for this customer.
pub const MISSING_CUSTOMER: &str = "cus_missing";
/// The `created` time of every object it returns.
pub const CREATED: i64 = 1_700_000_000;

/// One request as the fake received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The form body decoded (`line_items[0][price_data][currency]` → `usd`).
    pub fn form(&self) -> BTreeMap<String, String> {
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

#[derive(Clone)]
pub struct FakeStripe {
    /// Where it listens: the provider's API base.
    pub url: Url,
    state: Arc<FakeState>,
}

impl FakeStripe {
    pub async fn start() -> Self {
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

    /// The real Stripe provider, with `SECRET_KEY`, pointed at the fake.
    pub fn provider(&self) -> StripeProvider {
        StripeProvider::new(&Secret::new(SECRET_KEY), Some(&self.url)).unwrap()
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    /// From now on every request is answered 500.
    pub fn fail_everything(&self) {
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
        method: method.clone(),
        path: uri.path().to_owned(),
        headers,
        body: String::from_utf8(body.to_vec()).expect("form bodies are UTF-8"),
    };
    let form = recorded.form();
    let path = recorded.path.clone();
    let authorized = recorded.header("authorization") == Some(&format!("Bearer {SECRET_KEY}"));
    state.requests.lock().unwrap().push(recorded);

    if state.failing.load(Ordering::SeqCst) {
        return stripe_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"type": "api_error", "message": "Something went wrong on Stripe's end."}),
        );
    }
    if !authorized {
        return stripe_error(
            StatusCode::UNAUTHORIZED,
            json!({"type": "invalid_request_error", "message": "Invalid API Key provided: sk_test_***"}),
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
            let status = if form.get("payment_method").map(String::as_str) == Some(PROCESSING_CARD)
            {
                "processing"
            } else {
                "succeeded"
            };
            Json(payment_intent(&id, &form, status)).into_response()
        }
        _ => stripe_error(
            StatusCode::NOT_FOUND,
            json!({"type": "invalid_request_error", "message": format!("Unrecognized request URL ({method}: {path})")}),
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
    let declined = status == "requires_payment_method";
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
        "last_payment_error": if !declined { Value::Null } else {
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
        "payment_method": if declined { Value::Null } else { field(form, "payment_method") },
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
