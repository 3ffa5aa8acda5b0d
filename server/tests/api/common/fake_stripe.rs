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
//! - the Team plan: `POST /v1/checkout/sessions` in subscription mode knows
//!   the prices `TEAM_MONTHLY_PRICE` and `TEAM_ANNUAL_PRICE` (any other
//!   `line_items[0][price]` is a 400 `resource_missing`);
//!   `GET /v1/subscriptions/{id}` answers `SUBSCRIPTION` (one item,
//!   `SUBSCRIPTION_ITEM`, `SUBSCRIPTION_SEATS` seats of the monthly price) or
//!   `TWO_ITEM_SUBSCRIPTION`, anything else a 404 `resource_missing`;
//!   `POST /v1/subscriptions/{id}` answers that subscription with the form
//!   applied (item quantity, `cancel_at_period_end`, `pause_collection` set
//!   or cleared by an empty value); an item id that is not the
//!   subscription's is a 400, as Stripe answers;
//! - `POST /v1/billing_portal/sessions`: a `billing_portal.session` with its url;
//! - `POST /v1/invoices/{id}/pay`: `OPEN_INVOICE` is paid; `DECLINING_INVOICE`
//!   (its customer's card has insufficient funds) is the 402 `card_error`;
//!   any other invoice a 404 `resource_missing`;
//! - Bearer auth with `SECRET_KEY` (otherwise 401), Stripe's error body
//!   `{"error": {type, code, message, …}}`, 404 for any other path, and a
//!   500 `api_error` for everything after `fail_everything()`, as during a
//!   Stripe incident.
//!
//! How tests drive it: `FakeStripe::start()` serves it on a free port and
//! `provider()` builds the real provider against it. The payment method and
//! customer a test sends choose the outcome; every request is recorded with
//! method, path, headers and raw form body (`requests()`, `Recorded::form`).
//! It keeps no state between requests (an updated subscription is the
//! stored one with that request's change) and sends no webhooks: tests of
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
/// The Team plan's prices as the fake's account has them: $12 a seat a
/// month, $120 a seat a year.
pub const TEAM_MONTHLY_PRICE: &str = "price_1QxTeamMonthly";
pub const TEAM_ANNUAL_PRICE: &str = "price_1QxTeamAnnual";
/// A live Team subscription of org_42: one item, monthly.
pub const SUBSCRIPTION: &str = "sub_1QxTeam";
pub const SUBSCRIPTION_ITEM: &str = "si_QxSeats";
pub const SUBSCRIPTION_SEATS: u32 = 3;
/// The subscription's current period ends 30 days after `CREATED`.
pub const PERIOD_END: i64 = CREATED + 30 * 86_400;
/// A subscription with a second item (not one the app creates).
pub const TWO_ITEM_SUBSCRIPTION: &str = "sub_1QxTwoItems";
/// An open invoice of `SUBSCRIPTION` that pays when asked.
pub const OPEN_INVOICE: &str = "in_1QxOpen";
/// An open invoice whose customer's card is declined (insufficient funds).
pub const DECLINING_INVOICE: &str = "in_1QxDeclines";

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
            if let Some(price) = form.get("line_items[0][price]") {
                if unit_amount(price).is_none() {
                    return missing(
                        StatusCode::BAD_REQUEST,
                        "line_items[0][price]",
                        &format!("No such price: '{price}'"),
                    );
                }
            }
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
        "/v1/billing_portal/sessions" => {
            Json(portal_session(&format!("bps_test_{n}"), &form)).into_response()
        }
        _ if path.starts_with("/v1/subscriptions/") => {
            let id = &path["/v1/subscriptions/".len()..];
            let Some(mut subscription) = subscription(id) else {
                return missing(
                    StatusCode::NOT_FOUND,
                    "id",
                    &format!("No such subscription: '{id}'"),
                );
            };
            if method == Method::POST {
                if let Err(problem) = apply(&mut subscription, &form) {
                    return stripe_error(
                        StatusCode::BAD_REQUEST,
                        json!({"type": "invalid_request_error", "message": problem}),
                    );
                }
            }
            Json(subscription).into_response()
        }
        _ if path.starts_with("/v1/invoices/") && path.ends_with("/pay") => {
            match &path["/v1/invoices/".len()..path.len() - "/pay".len()] {
                OPEN_INVOICE => Json(invoice(OPEN_INVOICE, "paid")).into_response(),
                DECLINING_INVOICE => stripe_error(
                    StatusCode::PAYMENT_REQUIRED,
                    json!({
                        "type": "card_error",
                        "code": "card_declined",
                        "decline_code": "insufficient_funds",
                        "message": "Your card has insufficient funds.",
                        "charge": format!("ch_test_{n}"),
                        "doc_url": "https://stripe.com/docs/error-codes/card-declined",
                        "request_log_url": format!("https://dashboard.stripe.com/test/logs/req_{n}"),
                    }),
                ),
                id => missing(
                    StatusCode::NOT_FOUND,
                    "invoice",
                    &format!("No such invoice: '{id}'"),
                ),
            }
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

/// Stripe's `resource_missing`: 404 for the path's id, 400 for a parameter's.
fn missing(status: StatusCode, param: &str, message: &str) -> Response {
    stripe_error(
        status,
        json!({
            "type": "invalid_request_error",
            "code": "resource_missing",
            "param": param,
            "message": message,
        }),
    )
}

/// The prices the fake's account has, in cents per seat.
fn unit_amount(price: &str) -> Option<i64> {
    match price {
        TEAM_MONTHLY_PRICE => Some(1_200),
        TEAM_ANNUAL_PRICE => Some(12_000),
        _ => None,
    }
}

/// Stripe's `price` object for one of the Team prices.
fn price(id: &str) -> Value {
    let amount = unit_amount(id).expect("a known price");
    let interval = if id == TEAM_ANNUAL_PRICE {
        "year"
    } else {
        "month"
    };
    json!({
        "id": id,
        "object": "price",
        "active": true,
        "billing_scheme": "per_unit",
        "created": CREATED,
        "currency": "usd",
        "custom_unit_amount": null,
        "livemode": false,
        "lookup_key": null,
        "metadata": {},
        "nickname": null,
        "product": "prod_QxTeam",
        "recurring": {
            "interval": interval,
            "interval_count": 1,
            "meter": null,
            "trial_period_days": null,
            "usage_type": "licensed"
        },
        "tax_behavior": "unspecified",
        "tiers_mode": null,
        "transform_quantity": null,
        "type": "recurring",
        "unit_amount": amount,
        "unit_amount_decimal": amount.to_string()
    })
}

fn subscription_item(id: &str, subscription: &str, price_id: &str, quantity: u32) -> Value {
    json!({
        "id": id,
        "object": "subscription_item",
        "billing_thresholds": null,
        "created": CREATED,
        "current_period_end": PERIOD_END,
        "current_period_start": CREATED,
        "discounts": [],
        "metadata": {},
        "price": price(price_id),
        "quantity": quantity,
        "subscription": subscription,
        "tax_rates": []
    })
}

/// Stripe's `subscription` object (API version 2025: the period is on the
/// items) for the fake's subscriptions, as they stand before any change.
fn subscription(id: &str) -> Option<Value> {
    let mut items = vec![subscription_item(
        SUBSCRIPTION_ITEM,
        id,
        TEAM_MONTHLY_PRICE,
        SUBSCRIPTION_SEATS,
    )];
    match id {
        SUBSCRIPTION => {}
        TWO_ITEM_SUBSCRIPTION => {
            items.push(subscription_item("si_QxAddOn", id, TEAM_ANNUAL_PRICE, 1))
        }
        _ => return None,
    }
    let head = json!({
        "id": id,
        "object": "subscription",
        "application": null,
        "application_fee_percent": null,
        "automatic_tax": {"disabled_reason": null, "enabled": false, "liability": null},
        "billing_cycle_anchor": CREATED,
        "billing_cycle_anchor_config": null,
        "billing_mode": {"type": "classic"},
        "cancel_at": null,
        "cancel_at_period_end": false,
        "canceled_at": null,
        "cancellation_details": {"comment": null, "feedback": null, "reason": null},
        "collection_method": "charge_automatically",
        "created": CREATED,
        "currency": "usd",
        "customer": "cus_test_team",
        "days_until_due": null,
        "default_payment_method": "pm_1QxVisa",
        "default_source": null,
        "default_tax_rates": [],
        "description": null,
        "discounts": [],
        "ended_at": null,
    });
    let rest = json!({
        "invoice_settings": {"account_tax_ids": null, "issuer": {"type": "self"}},
        "items": {
            "object": "list",
            "data": items,
            "has_more": false,
            "total_count": items.len(),
            "url": format!("/v1/subscription_items?subscription={id}")
        },
        "latest_invoice": OPEN_INVOICE,
        "livemode": false,
        "metadata": {"org_id": "org_42", "purpose": "subscription"},
        "next_pending_invoice_item_invoice": null,
        "on_behalf_of": null,
        "pause_collection": null,
        "payment_settings": {
            "payment_method_options": null,
            "payment_method_types": null,
            "save_default_payment_method": "off"
        },
        "pending_invoice_item_interval": null,
        "pending_setup_intent": null,
        "pending_update": null,
        "schedule": null,
        "start_date": CREATED,
        "status": "active",
        "test_clock": null,
        "transfer_data": null,
        "trial_end": null,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": null
    });
    let (Value::Object(mut head), Value::Object(rest)) = (head, rest) else {
        unreachable!("both halves are objects")
    };
    head.extend(rest);
    Some(Value::Object(head))
}

/// An update's form applied the way Stripe applies it, or its 400 message.
fn apply(subscription: &mut Value, form: &BTreeMap<String, String>) -> Result<(), String> {
    if let Some(quantity) = form.get("items[0][quantity]") {
        let item_id = form.get("items[0][id]").ok_or("items[0][id] is required")?;
        let item = subscription["items"]["data"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|item| item["id"] == item_id.as_str())
            .ok_or_else(|| format!("Invalid subscription item: '{item_id}'"))?;
        item["quantity"] = json!(quantity.parse::<u32>().map_err(|e| e.to_string())?);
    }
    match form.get("cancel_at_period_end").map(String::as_str) {
        Some("true") => {
            subscription["cancel_at_period_end"] = json!(true);
            subscription["cancel_at"] = json!(PERIOD_END);
        }
        Some("false") => {
            subscription["cancel_at_period_end"] = json!(false);
            subscription["cancel_at"] = Value::Null;
        }
        Some(other) => return Err(format!("Invalid boolean: {other}")),
        None => {}
    }
    if form.get("pause_collection").map(String::as_str) == Some("") {
        subscription["pause_collection"] = Value::Null;
    } else if let Some(behavior) = form.get("pause_collection[behavior]") {
        let resumes_at = form
            .get("pause_collection[resumes_at]")
            .map(|at| at.parse::<i64>().map_err(|e| e.to_string()))
            .transpose()?;
        subscription["pause_collection"] = json!({"behavior": behavior, "resumes_at": resumes_at});
    }
    Ok(())
}

fn portal_session(id: &str, form: &BTreeMap<String, String>) -> Value {
    json!({
        "id": id,
        "object": "billing_portal.session",
        "configuration": "bpc_1QxDefault",
        "created": CREATED,
        "customer": field(form, "customer"),
        "flow": null,
        "livemode": false,
        "locale": null,
        "on_behalf_of": null,
        "return_url": field(form, "return_url"),
        "url": format!("https://billing.stripe.com/p/session/test_{id}")
    })
}

/// Stripe's `invoice` object for one of `SUBSCRIPTION`'s invoices.
fn invoice(id: &str, status: &str) -> Value {
    let amount = 1_200 * i64::from(SUBSCRIPTION_SEATS);
    let paid = status == "paid";
    let head = json!({
        "id": id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "Phonebooth",
        "amount_due": amount,
        "amount_overpaid": 0,
        "amount_paid": if paid { amount } else { 0 },
        "amount_remaining": if paid { 0 } else { amount },
        "amount_shipping": 0,
        "attempt_count": 2,
        "attempted": true,
        "auto_advance": !paid,
        "automatic_tax": {"disabled_reason": null, "enabled": false, "liability": null, "provider": null, "status": null},
        "billing_reason": "subscription_cycle",
        "collection_method": "charge_automatically",
        "created": CREATED,
        "currency": "usd",
        "customer": "cus_test_team",
        "customer_email": "ada@example.com",
        "default_payment_method": null,
        "description": null,
        "discounts": [],
        "due_date": null,
    });
    let rest = json!({
        "hosted_invoice_url": format!("https://invoice.stripe.com/i/acct_test/{id}"),
        "invoice_pdf": format!("https://pay.stripe.com/invoice/acct_test/{id}/pdf"),
        "livemode": false,
        "metadata": {},
        "next_payment_attempt": null,
        "number": "B2C3D4E5-0002",
        "parent": {
            "quote_details": null,
            "subscription_details": {
                "metadata": {"org_id": "org_42", "purpose": "subscription"},
                "subscription": SUBSCRIPTION
            },
            "type": "subscription_details"
        },
        "period_end": CREATED,
        "period_start": CREATED - 30 * 86_400,
        "status": status,
        "status_transitions": {
            "finalized_at": CREATED,
            "marked_uncollectible_at": null,
            "paid_at": if paid { json!(CREATED + 3_600) } else { Value::Null },
            "voided_at": null
        },
        "subtotal": amount,
        "total": amount
    });
    let (Value::Object(mut head), Value::Object(rest)) = (head, rest) else {
        unreachable!("both halves are objects")
    };
    head.extend(rest);
    Value::Object(head)
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
    let quantity: i64 = form
        .get("line_items[0][quantity]")
        .map_or(1, |q| q.parse().unwrap());
    let amount = form
        .get("line_items[0][price_data][unit_amount]")
        .map(|a| a.parse::<i64>().unwrap())
        .or_else(|| {
            form.get("line_items[0][price]")
                .and_then(|p| unit_amount(p))
        })
        .map(|unit| unit * quantity);
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
        // Subscription mode always makes a customer; the others only if needed.
        "customer_creation": match (form.contains_key("customer"), mode.as_str()) {
            (true, _) => Value::Null,
            (false, "subscription") => json!("always"),
            (false, _) => json!("if_required"),
        },
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
