//! Call history, read side: the list (order, pages, every filter), the
//! explanation of one call's cost, the CSV export and the pages, each on
//! SQLite and PostgreSQL, and none of it visible to another organization.
//!
//! The calls are written straight into the `call` table by `insert_call`, the
//! way billing leaves them (rate copied, billed seconds, cost, ledger charge),
//! so these tests read exactly what the call service will have written.

use crate::common::{without_hydration_markers, TestApp};
use crate::on_both_databases;
use app::domain::rating::billed_seconds;
use app::domain::{Money, Role};
use app::server::db::ledger::{EntryKind, NewEntry};
use reqwest::Client;
use serde_json::{json, Value};

on_both_databases!(
    calls_are_newest_first_with_ties_in_a_stable_order_twenty_five_a_page,
    calls_filter_by_whole_utc_days_status_member_and_number_digits,
    bad_filters_are_refused_with_the_field_named_and_show_nothing,
    another_organizations_calls_are_invisible_in_the_list_the_detail_and_the_csv,
    a_member_sees_every_call_of_the_organization_and_can_filter_by_who_dialed,
    the_detail_explains_a_sixty_sixty_call_a_thirty_six_call_and_a_free_busy_call,
    the_csv_export_is_every_matching_call_quoted_and_formula_safe,
    a_calls_csv_export_longer_than_366_days_is_refused_and_is_streamed_otherwise,
    the_pages_show_the_history_and_the_explanation_and_need_a_login,
    every_page_of_a_history_read_from_either_end_is_in_order_with_ties_filters_and_tenants,
    a_history_is_counted_to_ten_thousand_and_both_ends_are_a_link_away,
);

async fn a_calls_csv_export_longer_than_366_days_is_refused_and_is_streamed_otherwise(
    app: TestApp,
) {
    let (alice, org, _) = person(&app, "Alice", "alice@example.com").await;
    let refused = alice
        .get(app.url(&format!(
            "/calls.csv?org_id={org}&from=2023-01-01&to=2024-01-02"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let text = refused.text().await.unwrap();
    assert!(text.contains("an export covers at most 366 days"), "{text}");
    let allowed = alice
        .get(app.url(&format!(
            "/calls.csv?org_id={org}&from=2024-01-01&to=2024-12-31"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    assert!(allowed.headers().get("content-length").is_none());
    assert_eq!(allowed.headers()["transfer-encoding"], "chunked");
}

/// 2024-03-01 00:00:00 UTC.
const MARCH_1: i64 = 1_709_251_200;
const DAY: i64 = 86_400;

/// A call as the call service leaves it once it has ended and been billed.
#[derive(Clone, Debug)]
struct Call {
    number: &'static str,
    prefix: &'static str,
    country: &'static str,
    description: &'static str,
    status: &'static str,
    end_reason: Option<&'static str>,
    at: i64,
    /// Talk time; None while the call is under way.
    duration: Option<i64>,
    increments: (i64, i64),
    per_minute: i64,
    fee: i64,
    /// None: the carrier never accepted it.
    carrier_sid: Option<&'static str>,
}

impl Default for Call {
    fn default() -> Self {
        Call {
            number: "+442071838750",
            prefix: "44",
            country: "United Kingdom",
            description: "Landline",
            status: "completed",
            end_reason: Some("hung_up"),
            at: MARCH_1,
            duration: Some(61),
            increments: (60, 60),
            per_minute: 13_000,
            fee: 0,
            carrier_sid: None,
        }
    }
}

/// Writes `call` for `user` in `org` (charging the ledger, as billing does,
/// when it cost anything) and returns its id. Needs credit: see `person`.
async fn insert_call(app: &TestApp, org: &str, user: &str, call: &Call) -> String {
    let call_id = app::server::ids::new_id("call");
    let sid = call
        .carrier_sid
        .map(str::to_owned)
        .unwrap_or_else(|| format!("CA{}", &call_id[5..]));
    let (initial, subsequent) = call.increments;
    let ended = call.duration.is_some();
    let talked = call.duration.filter(|d| *d > 0);
    let billed = call
        .duration
        .map(|d| billed_seconds(d as u64, initial as u32, subsequent as u32).unwrap() as i64);
    let cost = billed.map(|b| {
        if b == 0 {
            0
        } else {
            call.fee + (call.per_minute * b + 59) / 60
        }
    });
    let ledger_entry_id = match cost {
        Some(cost) if cost > 0 => Some(
            app.db
                .post(
                    &NewEntry {
                        org_id: org,
                        kind: EntryKind::CallCharge,
                        amount: Money::from_micros(-cost),
                        actor: "system",
                        description: "Call",
                        idempotency_key: &format!("call:{sid}:charge"),
                    },
                    call.at + 300,
                )
                .await
                .unwrap()
                .entry
                .ledger_entry_id,
        ),
        _ => None,
    };
    sqlx::query(
        "insert into call (call_id, org_id, user_id, client_key, to_number, rate_prefix,
             country_code, country_name, description, price_per_minute, connection_fee,
             initial_increment, subsequent_increment, max_duration_secs, carrier, carrier_sid,
             status, end_reason, created_at, answered_at, ended_at, duration_secs,
             billed_seconds, cost, ledger_entry_id, updated_at_ms)
         values ($1, $2, $3, $4, $5, $6, 'GB', $7, $8, $9, $10, $11, $12, 3600, 'twilio',
                 $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)",
    )
    .bind(&call_id)
    .bind(org)
    .bind(user)
    .bind(&call_id)
    .bind(call.number)
    .bind(call.prefix)
    .bind(call.country)
    .bind(call.description)
    .bind(call.per_minute)
    .bind(call.fee)
    .bind(initial)
    .bind(subsequent)
    .bind((call.end_reason != Some("carrier_refused")).then_some(sid))
    .bind(call.status)
    .bind(call.end_reason)
    .bind(call.at)
    .bind(talked.map(|_| call.at + 5))
    .bind(ended.then(|| call.at + 5 + call.duration.unwrap_or(0)))
    .bind(call.duration)
    .bind(billed)
    .bind(cost)
    .bind(ledger_entry_id)
    .bind(call.at * 1000)
    .execute(&app.db.pool)
    .await
    .unwrap();
    call_id
}

/// A registered person in their own personal organization with $100 of
/// credit: (browser, org id, user id).
async fn person(app: &TestApp, name: &str, email: &str) -> (Client, String, String) {
    let browser = app.new_browser();
    assert_eq!(app.register(&browser, name, email).await.status(), 200);
    let org = app.account(&browser).await["current_org"]["org_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (user,): (String,) = sqlx::query_as("select user_id from app_user where email = $1")
        .bind(email)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    app.db
        .post(
            &NewEntry {
                org_id: &org,
                kind: EntryKind::Grant,
                amount: Money::from_dollars(100).unwrap(),
                actor: "system",
                description: "Credit for the tests",
                idempotency_key: &format!("grant:{org}"),
            },
            MARCH_1 - DAY,
        )
        .await
        .unwrap();
    (browser, org, user)
}

async fn history(app: &TestApp, browser: &Client, form: &[(&str, &str)]) -> (u16, Value) {
    let response = app.call(browser, "calls/history", form).await;
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn detail(app: &TestApp, browser: &Client, org: &str, call_id: &str) -> (u16, Value) {
    let response = app
        .call(
            browser,
            "calls/detail",
            &[("org_id", org), ("call_id", call_id)],
        )
        .await;
    (response.status().as_u16(), response.json().await.unwrap())
}

/// The listed calls' ids, in order.
fn ids(page: &Value) -> Vec<String> {
    page["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["call_id"].as_str().unwrap().to_owned())
        .collect()
}

/// The ids `calls/history` lists for these filters (the first page).
async fn listed(app: &TestApp, browser: &Client, org: &str, pairs: &[(&str, &str)]) -> Vec<String> {
    let mut form = vec![("org_id", org)];
    form.extend_from_slice(pairs);
    let (status, page) = history(app, browser, &form).await;
    assert_eq!(status, 200, "{form:?}: {page}");
    ids(&page)
}

/// The status and text of a page or a CSV (a page without its hydration markers).
async fn get_text(browser: &Client, url: String) -> (u16, String) {
    let response = browser.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        without_hydration_markers(&response.text().await.unwrap()),
    )
}

async fn calls_are_newest_first_with_ties_in_a_stable_order_twenty_five_a_page(app: TestApp) {
    let (alice, org, alice_id) = person(&app, "Alice", "alice@example.com").await;
    let mut oldest_first = Vec::new();
    for n in 0..28 {
        let call = Call {
            at: MARCH_1 + n * 60,
            ..Call::default()
        };
        oldest_first.push(insert_call(&app, &org, &alice_id, &call).await);
    }
    // Two calls in the same second: ordered by id, the same way every time.
    let tie = Call {
        at: MARCH_1 + 10_000,
        ..Call::default()
    };
    let mut tied = vec![
        insert_call(&app, &org, &alice_id, &tie).await,
        insert_call(&app, &org, &alice_id, &tie).await,
    ];
    tied.sort();
    tied.reverse();
    let mut expected = tied.clone();
    expected.extend(oldest_first.iter().rev().cloned());

    let (status, first) = history(&app, &alice, &[("org_id", &org)]).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["total"], 30);
    assert_eq!(first["more_than_total"], false);
    assert_eq!(ids(&first), expected[..25]);
    // The newest page links only older: to the calls after its last one, and to the oldest.
    let last_key = format!("older.{}.{}", first["rows"][24]["created_at"], expected[24]);
    assert_eq!(
        first["links"],
        json!({"newest": null, "newer": null, "older": last_key, "oldest": "oldest"})
    );
    let row = &first["rows"][2];
    assert_eq!(row["time"], "2024-03-01 00:27 UTC");
    assert_eq!(row["number"], "+442071838750");
    assert_eq!(row["number_display"], "+44 20 7183 8750");
    assert_eq!(row["destination"], "United Kingdom · Landline");
    assert_eq!(row["member"], "Alice");
    assert_eq!(row["duration"], "1:01");
    assert_eq!(row["status_label"], "Completed");
    assert_eq!(row["end_reason_label"], "You hung up");
    // 61 s at 60/60 bills 120 s: 2 × $0.013.
    assert_eq!(row["cost"], 26_000);
    assert_eq!(first["members"][0]["name"], "Alice");

    let (_, second) = history(&app, &alice, &[("org_id", &org), ("page", &last_key)]).await;
    assert_eq!(ids(&second), expected[25..]);
    let first_key = format!("newer.{}.{}", second["rows"][0]["created_at"], expected[25]);
    assert_eq!(
        second["links"],
        json!({"newest": "", "newer": first_key, "older": null, "oldest": null})
    );
    // Back the other way: the 25 calls newer than the second page's first.
    let (_, back) = history(&app, &alice, &[("org_id", &org), ("page", &first_key)]).await;
    assert_eq!(ids(&back), expected[..25]);
    assert_eq!(back["links"]["newer"], Value::Null);
    assert_eq!(back["links"]["older"], last_key.as_str());
    // The oldest page is the 25 oldest calls; from it, newer leads to the rest.
    let (_, oldest) = history(&app, &alice, &[("org_id", &org), ("page", "oldest")]).await;
    assert_eq!(ids(&oldest), expected[5..]);
    assert_eq!(oldest["links"]["older"], Value::Null);
    let newer = oldest["links"]["newer"].as_str().unwrap().to_owned();
    let (_, newest) = history(&app, &alice, &[("org_id", &org), ("page", &newer)]).await;
    assert_eq!(ids(&newest), expected[..5]);
    assert_eq!(newest["links"]["newer"], Value::Null);
    // Asking again gives the same answer.
    let (_, again) = history(&app, &alice, &[("org_id", &org)]).await;
    assert_eq!(again, first);
    // A link that names no place in the history is refused, changing nothing.
    for bad in [
        "2",
        "older.1709251200",
        "older.soon.call_1",
        "older.1.call_1'",
    ] {
        let (status, body) = history(&app, &alice, &[("org_id", &org), ("page", bad)]).await;
        assert_eq!(status, 422, "{bad:?}: {body}");
        assert_eq!(body["Validation"]["field"], "page", "{bad:?}: {body}");
    }
}

async fn calls_filter_by_whole_utc_days_status_member_and_number_digits(app: TestApp) {
    let (alice, org, alice_id) = person(&app, "Alice", "alice@example.com").await;
    let at = |at: i64, number: &'static str, status: &'static str, duration: i64| Call {
        at,
        number,
        status,
        end_reason: Some(match status {
            "busy" => "busy",
            "no-answer" => "no_answer",
            _ => "hung_up",
        }),
        duration: Some(duration),
        ..Call::default()
    };
    let before = insert_call(
        &app,
        &org,
        &alice_id,
        &at(MARCH_1 - 1, "+12025550143", "completed", 30),
    )
    .await;
    let first_second = insert_call(
        &app,
        &org,
        &alice_id,
        &at(MARCH_1, "+442071838750", "completed", 90),
    )
    .await;
    let busy = insert_call(
        &app,
        &org,
        &alice_id,
        &at(MARCH_1 + 3_600, "+33142685300", "busy", 0),
    )
    .await;
    // Completed without talk time: a completed call, but not an answered one.
    let silent = insert_call(
        &app,
        &org,
        &alice_id,
        &at(MARCH_1 + 7_200, "+442071838751", "completed", 0),
    )
    .await;
    let last_second = insert_call(
        &app,
        &org,
        &alice_id,
        &at(MARCH_1 + 2 * DAY - 1, "+442079460000", "no-answer", 0),
    )
    .await;
    let after = insert_call(
        &app,
        &org,
        &alice_id,
        &at(MARCH_1 + 2 * DAY, "+12025550199", "completed", 5),
    )
    .await;

    assert_eq!(
        listed(
            &app,
            &alice,
            &org,
            &[("from", "2024-03-01"), ("to", "2024-03-02")]
        )
        .await,
        [
            last_second.as_str(),
            silent.as_str(),
            busy.as_str(),
            first_second.as_str()
        ]
    );
    assert_eq!(
        listed(&app, &alice, &org, &[("to", "2024-02-29")]).await,
        [before.as_str()]
    );
    assert_eq!(
        listed(&app, &alice, &org, &[("from", "2024-03-03")]).await,
        [after.as_str()]
    );
    assert_eq!(
        listed(&app, &alice, &org, &[("status", "busy")]).await,
        [busy.as_str()]
    );
    assert_eq!(
        listed(&app, &alice, &org, &[("status", "no-answer")]).await,
        [last_second.as_str()]
    );
    assert_eq!(
        listed(&app, &alice, &org, &[("status", "answered")]).await,
        [after.as_str(), first_second.as_str(), before.as_str()]
    );
    assert_eq!(
        listed(&app, &alice, &org, &[("status", "completed")]).await,
        [
            after.as_str(),
            silent.as_str(),
            first_second.as_str(),
            before.as_str()
        ]
    );
    assert_eq!(
        listed(&app, &alice, &org, &[("status", "ringing")]).await,
        Vec::<&str>::new()
    );
    // Digits only, however they were typed, anywhere in the number.
    assert_eq!(
        listed(&app, &alice, &org, &[("number", "+44 (20) 7183-8750")]).await,
        [first_second.as_str()]
    );
    assert_eq!(
        listed(&app, &alice, &org, &[("number", "7183 875")]).await,
        [silent.as_str(), first_second.as_str()]
    );
    assert_eq!(
        listed(&app, &alice, &org, &[("number", "202-555")]).await,
        [after.as_str(), before.as_str()]
    );
    assert_eq!(
        listed(&app, &alice, &org, &[("number", "999")]).await,
        Vec::<&str>::new()
    );
    assert_eq!(
        listed(&app, &alice, &org, &[("member", &alice_id)])
            .await
            .len(),
        6
    );
    // Filters combine.
    assert_eq!(
        listed(
            &app,
            &alice,
            &org,
            &[
                ("number", "+44"),
                ("status", "answered"),
                ("from", "2024-03-01")
            ]
        )
        .await,
        [first_second.as_str()]
    );
}

async fn bad_filters_are_refused_with_the_field_named_and_show_nothing(app: TestApp) {
    let (alice, org, alice_id) = person(&app, "Alice", "alice@example.com").await;
    let (_, _, bob_id) = person(&app, "Bob", "bob@example.com").await;
    insert_call(&app, &org, &alice_id, &Call::default()).await;
    for (form, field) in [
        (vec![("from", "2024-02-30")], "from"),
        (vec![("to", "03/01/2024")], "to"),
        (vec![("from", "2024-03-02"), ("to", "2024-03-01")], "to"),
        (vec![("status", "answered-ish")], "status"),
        (vec![("status", "no_answer")], "status"),
        (vec![("number", "call mom")], "number"),
        (vec![("number", "1234567890123456")], "number"),
        // Bob is not in Alice's organization.
        (vec![("member", bob_id.as_str())], "member"),
    ] {
        let mut form = form.clone();
        form.push(("org_id", org.as_str()));
        let (status, error) = history(&app, &alice, &form).await;
        assert_eq!(status, 422, "{form:?}");
        assert_eq!(error["Validation"]["field"], field, "{form:?}");
    }
    // The page explains instead of listing anything.
    let (status, html) = get_text(&alice, app.url("/calls?status=bogus")).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("choose a call status from the list"),
        "{html}"
    );
    assert!(!html.contains("call-row"));
    assert!(html.contains(r#"href="/calls""#));
    // So does the export.
    let csv = alice
        .get(app.url(&format!(
            "/calls.csv?org_id={org}&from=2024-03-02&to=2024-03-01"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 422);
    assert!(csv
        .text()
        .await
        .unwrap()
        .contains("end date is before the start date"));
}

async fn another_organizations_calls_are_invisible_in_the_list_the_detail_and_the_csv(
    app: TestApp,
) {
    let (alice, alices_org, alice_id) = person(&app, "Alice", "alice@example.com").await;
    let (bob, bobs_org, bob_id) = person(&app, "Bob", "bob@example.com").await;
    let bobs_call = insert_call(
        &app,
        &bobs_org,
        &bob_id,
        &Call {
            number: "+33142685300",
            carrier_sid: Some("CAbobsecret"),
            ..Call::default()
        },
    )
    .await;
    let alices_call = insert_call(&app, &alices_org, &alice_id, &Call::default()).await;

    for (function, form) in [
        ("calls/history", vec![("org_id", bobs_org.as_str())]),
        (
            "calls/detail",
            vec![
                ("org_id", bobs_org.as_str()),
                ("call_id", bobs_call.as_str()),
            ],
        ),
        // Her own organization with Bob's call: still nothing.
        (
            "calls/detail",
            vec![
                ("org_id", alices_org.as_str()),
                ("call_id", bobs_call.as_str()),
            ],
        ),
    ] {
        app.assert_not_found(&alice, function, &form).await;
    }
    // Her own list has only her call.
    let (_, own) = history(&app, &alice, &[("org_id", &alices_org)]).await;
    assert_eq!(ids(&own), [alices_call.as_str()]);
    let (_, digits) = history(
        &app,
        &alice,
        &[("org_id", &alices_org), ("number", "33142685300")],
    )
    .await;
    assert_eq!(digits["total"], 0);

    let (status, csv) = get_text(&alice, app.url(&format!("/calls.csv?org_id={bobs_org}"))).await;
    assert_eq!(status, 404);
    assert!(!csv.contains("CAbobsecret"));
    let (status, csv) = get_text(&alice, app.url(&format!("/calls.csv?org_id={alices_org}"))).await;
    assert_eq!(status, 200);
    assert!(
        csv.contains(&alices_call) && !csv.contains(&bobs_call) && !csv.contains("CAbobsecret")
    );

    let (status, page) = get_text(&alice, app.url(&format!("/calls/{bobs_call}"))).await;
    assert_eq!(status, 404);
    assert!(page.contains("Call not found"));
    assert!(!page.contains("CAbobsecret") && !page.contains("+33"));
    let (_, list) = get_text(&alice, app.url("/calls")).await;
    assert!(!list.contains(&bobs_call));

    // Bob still sees his own.
    let (status, own) = detail(&app, &bob, &bobs_org, &bobs_call).await;
    assert_eq!(
        (status, own["carrier_sid"].as_str()),
        (200, Some("CAbobsecret"))
    );

    // Logged out: 401 from the functions and from the export (`/calls.csv` is
    // not below `/calls/`, so the page gate leaves it to answer for itself).
    let stranger = app.new_browser();
    let (status, _) = history(&app, &stranger, &[("org_id", &bobs_org)]).await;
    assert_eq!(status, 401);
    let (status, _) = detail(&app, &stranger, &bobs_org, &bobs_call).await;
    assert_eq!(status, 401);
    let (status, csv) =
        get_text(&stranger, app.url(&format!("/calls.csv?org_id={bobs_org}"))).await;
    assert_eq!(status, 401);
    assert_eq!(csv, "please log in to continue\n");
}

async fn a_member_sees_every_call_of_the_organization_and_can_filter_by_who_dialed(app: TestApp) {
    let (owner, org, olive_id) = person(&app, "Olive", "olive@example.com").await;
    let (member, _, max_id) = person(&app, "Max", "max@example.com").await;
    app::server::db::orgs::add_member(&app.db.pool, &org, &max_id, Role::Member, 0)
        .await
        .unwrap();
    let olives = insert_call(&app, &org, &olive_id, &Call::default()).await;
    let maxs = insert_call(
        &app,
        &org,
        &max_id,
        &Call {
            at: MARCH_1 + 60,
            ..Call::default()
        },
    )
    .await;

    for browser in [&owner, &member] {
        let (status, page) = history(&app, browser, &[("org_id", &org)]).await;
        assert_eq!(status, 200);
        assert_eq!(ids(&page), [maxs.as_str(), olives.as_str()]);
        let names: Vec<&str> = page["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Max", "Olive"]);
        let (status, call) = detail(&app, browser, &org, &olives).await;
        assert_eq!((status, call["member"].as_str()), (200, Some("Olive")));
    }
    let (_, only_max) = history(&app, &owner, &[("org_id", &org), ("member", &max_id)]).await;
    assert_eq!(ids(&only_max), [maxs.as_str()]);
    assert_eq!(only_max["rows"][0]["member"], "Max");

    // Max leaves; his calls stay listed, and he stays in the filter.
    sqlx::query("delete from membership where org_id = $1 and user_id = $2")
        .bind(&org)
        .bind(&max_id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let (status, still) = history(&app, &owner, &[("org_id", &org), ("member", &max_id)]).await;
    assert_eq!(status, 200);
    assert_eq!(ids(&still), [maxs.as_str()]);
    // But he no longer reads the organization's calls.
    let (status, _) = history(&app, &member, &[("org_id", &org)]).await;
    assert_eq!(status, 404);
}

async fn the_detail_explains_a_sixty_sixty_call_a_thirty_six_call_and_a_free_busy_call(
    app: TestApp,
) {
    let (alice, org, alice_id) = person(&app, "Alice", "alice@example.com").await;
    let sixty = insert_call(
        &app,
        &org,
        &alice_id,
        &Call {
            prefix: "447",
            description: "Mobile",
            number: "+447911123456",
            duration: Some(61),
            increments: (60, 60),
            per_minute: 130_000,
            fee: 50_000,
            carrier_sid: Some("CA6060"),
            ..Call::default()
        },
    )
    .await;
    let thirty = insert_call(
        &app,
        &org,
        &alice_id,
        &Call {
            duration: Some(61),
            increments: (30, 6),
            per_minute: 10_000,
            fee: 0,
            end_reason: Some("completed"),
            carrier_sid: Some("CA306"),
            ..Call::default()
        },
    )
    .await;
    let busy = insert_call(
        &app,
        &org,
        &alice_id,
        &Call {
            status: "busy",
            end_reason: Some("busy"),
            duration: Some(0),
            fee: 50_000,
            carrier_sid: Some("CAbusy"),
            ..Call::default()
        },
    )
    .await;

    // 61 s at 60/60: two whole minutes at $0.13, plus the $0.05 connection fee.
    let (status, call) = detail(&app, &alice, &org, &sixty).await;
    assert_eq!(status, 200, "{call}");
    assert_eq!(call["rate_prefix"], "+447");
    assert_eq!(call["price_per_minute"], 130_000);
    assert_eq!(call["connection_fee"], 50_000);
    assert_eq!(call["increments"], "60/60");
    assert_eq!(
        (
            call["duration_secs"].as_i64(),
            call["billed_seconds"].as_i64()
        ),
        (Some(61), Some(120))
    );
    assert_eq!(call["increment_count"], 2);
    assert_eq!(call["usage"], 260_000);
    assert_eq!(call["cost"], 310_000);
    assert_eq!(call["arithmetic"], "$0.05 + $0.13 × 120 s / 60 = $0.31");
    assert_eq!(call["ledger_amount"], -310_000);
    assert!(call["ledger_entry_id"].as_str().unwrap().starts_with("le_"));
    assert_eq!(
        (call["carrier"].as_str(), call["carrier_sid"].as_str()),
        (Some("twilio"), Some("CA6060"))
    );
    assert_eq!(call["destination"], "United Kingdom · Mobile");
    assert_eq!(call["number_display"], "+44 7911 123456");
    assert_eq!(call["free_reason"], Value::Null);

    // 61 s at 30/6: the first 30 s, then six-second steps: 30 + 6 × 6 = 66 s.
    let (_, call) = detail(&app, &alice, &org, &thirty).await;
    assert_eq!(call["increments"], "30/6");
    assert_eq!(
        (
            call["billed_seconds"].as_i64(),
            call["increment_count"].as_i64()
        ),
        (Some(66), Some(7))
    );
    assert_eq!(call["cost"], 11_000);
    assert_eq!(call["arithmetic"], "$0.00 + $0.01 × 66 s / 60 = $0.011");
    assert_eq!(call["ledger_amount"], -11_000);
    assert_eq!(call["end_reason_label"], "The other side hung up");

    // Busy: nothing billed, no ledger entry, and the reason.
    let (_, call) = detail(&app, &alice, &org, &busy).await;
    assert_eq!(call["cost"], 0);
    assert_eq!(
        (
            call["billed_seconds"].as_i64(),
            call["increment_count"].as_i64()
        ),
        (Some(0), Some(0))
    );
    assert_eq!(call["arithmetic"], Value::Null);
    assert_eq!(call["ledger_entry_id"], Value::Null);
    assert_eq!(call["status_label"], "Busy");
    assert_eq!(
        call["free_reason"],
        "The line was busy. Calls that are not answered cost nothing, not even the connection fee."
    );

    // Unknown ids are not found.
    let (status, _) = detail(&app, &alice, &org, "call_nope").await;
    assert_eq!(status, 404);
}

async fn the_csv_export_is_every_matching_call_quoted_and_formula_safe(app: TestApp) {
    let (alice, org, alice_id) = person(&app, "Alice", "alice@example.com").await;
    // A name a spreadsheet would run, with a comma and quotes to quote.
    sqlx::query("update app_user set name = $1 where user_id = $2")
        .bind("=HYPERLINK(\"http://evil.example\"), Al")
        .bind(&alice_id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    for n in 0..27 {
        let call = Call {
            at: MARCH_1 + n * 60,
            ..Call::default()
        };
        insert_call(&app, &org, &alice_id, &call).await;
    }
    let busy = insert_call(
        &app,
        &org,
        &alice_id,
        &Call {
            at: MARCH_1 + DAY,
            status: "busy",
            end_reason: Some("busy"),
            duration: Some(0),
            number: "+33142685300",
            country: "France",
            description: "Paris, landline",
            carrier_sid: Some("CAbusy1"),
            ..Call::default()
        },
    )
    .await;

    let response = alice
        .get(app.url(&format!("/calls.csv?org_id={org}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with(&format!("attachment; filename=\"phonebooth-calls-{org}-")),
        "{disposition}"
    );
    let csv = response.text().await.unwrap();
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "started_utc,call_id,member,member_email,number,country,destination,status,end_reason,\
         duration_secs,billed_seconds,rate_prefix,price_per_minute_usd,connection_fee_usd,\
         increments,cost_usd,carrier_call_id"
    );
    // Every call, not one page: 28 rows, a header and the final line break.
    assert_eq!(lines.len(), 30, "{csv}");
    assert_eq!(lines[29], "");
    assert_eq!(
        lines[1],
        format!(
            "2024-03-02T00:00:00Z,{busy},\"'=HYPERLINK(\"\"http://evil.example\"\"), Al\",\
             alice@example.com,'+33142685300,France,\"Paris, landline\",Busy,\
             The line was busy,0,0,44,0.013,0.00,60/60,0.00,CAbusy1"
        )
    );
    assert!(
        lines[2].contains(
            ",'+442071838750,United Kingdom,Landline,Completed,You hung up,\
             61,120,44,0.013,0.00,60/60,0.026,CA"
        ),
        "{}",
        lines[2]
    );

    // Filtered like the page.
    let (_, busy_only) = get_text(
        &alice,
        app.url(&format!(
            "/calls.csv?org_id={org}&status=busy&number=%2B33%201"
        )),
    )
    .await;
    assert_eq!(busy_only.split("\r\n").count(), 3, "{busy_only}");
    assert!(busy_only.contains(&busy));
    let (_, march_2) = get_text(
        &alice,
        app.url(&format!(
            "/calls.csv?org_id={org}&from=2024-03-02&to=2024-03-02"
        )),
    )
    .await;
    assert_eq!(march_2.split("\r\n").count(), 3, "{march_2}");

    // The page links to the export of what it shows.
    let (_, html) = get_text(&alice, app.url("/calls?status=busy&number=%2B33")).await;
    let link = format!("/calls.csv?org_id={org}&amp;status=busy&amp;number=%2B33");
    assert!(
        html.contains(&link) || html.contains(&link.replace("&amp;", "&")),
        "{html}"
    );
}

async fn the_pages_show_the_history_and_the_explanation_and_need_a_login(app: TestApp) {
    let (alice, org, alice_id) = person(&app, "Alice", "alice@example.com").await;
    // No calls yet: the empty state.
    let (status, empty) = get_text(&alice, app.url("/calls")).await;
    assert_eq!(status, 200);
    assert!(empty.contains("<h1>Calls</h1>"));
    assert!(empty.contains("No calls yet"), "{empty}");

    let call_id = insert_call(
        &app,
        &org,
        &alice_id,
        &Call {
            increments: (30, 6),
            per_minute: 10_000,
            fee: 100_000,
            carrier_sid: Some("CApage"),
            ..Call::default()
        },
    )
    .await;
    for n in 1..=26 {
        let call = Call {
            at: MARCH_1 - n * 60,
            ..Call::default()
        };
        insert_call(&app, &org, &alice_id, &call).await;
    }

    let (status, html) = get_text(&alice, app.url("/calls")).await;
    assert_eq!(status, 200);
    for expected in [
        "<h1>Calls</h1>",
        "27 calls",
        "+44 20 7183 8750",
        "United Kingdom · Landline",
        "You hung up",
        "$0.111",
        &format!("href=\"/calls/{call_id}\""),
        "href=\"/dialer?number=%2B442071838750\"",
        &format!("/calls.csv?org_id={org}"),
        "href=\"/calls?page=older.",
        "href=\"/calls?page=oldest\"",
        "Older →",
    ] {
        assert!(html.contains(expected), "{expected}");
    }
    assert_eq!(html.matches("data-testid=\"call-row\"").count(), 25);
    assert!(
        !html.contains("← Newer"),
        "the newest page has nothing newer"
    );
    // The oldest page: the 25 oldest, and links back.
    let (_, oldest) = get_text(&alice, app.url("/calls?page=oldest")).await;
    assert_eq!(oldest.matches("data-testid=\"call-row\"").count(), 25);
    for expected in ["href=\"/calls?page=newer.", "← Newer", "« Newest"] {
        assert!(oldest.contains(expected), "{expected}");
    }
    assert!(!oldest.contains("Older →"));
    // A mistyped link explains itself and offers the way back.
    let (status, broken) = get_text(&alice, app.url("/calls?page=older.yesterday.x")).await;
    assert_eq!(status, 200);
    assert!(
        broken.contains("this page link is incomplete or mistyped"),
        "{broken}"
    );
    assert_eq!(broken.matches("data-testid=\"call-row\"").count(), 0);

    // The filters stay in the form and in the page links.
    let (_, filtered) = get_text(
        &alice,
        app.url("/calls?status=answered&number=7183&from=2024-02-01"),
    )
    .await;
    assert!(filtered.contains(r#"value="2024-02-01""#));
    assert!(filtered.contains(r#"value="7183""#));
    assert!(
        filtered.contains(r#"<option value="answered" selected"#),
        "{filtered}"
    );
    assert!(
        filtered.contains(
            "href=\"/calls?from=2024-02-01&amp;status=answered&amp;number=7183&amp;page=older."
        ) || filtered
            .contains("href=\"/calls?from=2024-02-01&status=answered&number=7183&page=older."),
        "{filtered}"
    );
    let (_, nothing) = get_text(&alice, app.url("/calls?number=999999")).await;
    assert!(nothing.contains("No calls match these filters."));

    // The explanation.
    let (status, page) = get_text(&alice, app.url(&format!("/calls/{call_id}"))).await;
    assert_eq!(status, 200);
    for expected in [
        "Call to +44 20 7183 8750",
        "$0.01 per minute (prefix +44 matched)",
        "30/6 (the first 30 s, then every 6 s)",
        "66 s (7 increments)",
        "$0.10 + $0.01 × 66 s / 60 = $0.111",
        "-$0.111",
        "CApage",
        "twilio",
        "href=\"/dialer?number=%2B442071838750\"",
    ] {
        assert!(page.contains(expected), "{expected}: {page}");
    }
    let (status, missing) = get_text(&alice, app.url("/calls/call_does_not_exist")).await;
    assert_eq!(status, 404);
    assert!(missing.contains("Call not found"));

    // Logged out: the login page, coming back here after.
    for path in ["/calls", &format!("/calls/{call_id}")] {
        let response = app.new_browser().get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 303, "{path}");
        assert!(response.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login?next=%2Fcalls"));
    }
}

/// Pages continue from the call a link names (`Position`): walking older
/// from the newest page and newer from the oldest, with three calls in each
/// second, with and without combined filters, must each give exactly the
/// history's order, each call once, and never another organization's calls
/// made at the same moments.
async fn every_page_of_a_history_read_from_either_end_is_in_order_with_ties_filters_and_tenants(
    app: TestApp,
) {
    let (alice, org, alice_id) = person(&app, "Alice", "alice@example.com").await;
    let (_bob, bobs_org, bob_id) = person(&app, "Bob", "bob@example.com").await;
    let numbers = ["+442071838750", "+12025550143"];
    // (created_at, id, answered to the first number): what the filter below keeps.
    let mut mine: Vec<(i64, String, bool)> = Vec::new();
    for n in 0..90 {
        let busy = n % 3 == 0;
        let call = Call {
            at: MARCH_1 + (n / 3) * 60,
            number: numbers[(n % 2) as usize],
            status: if busy { "busy" } else { "completed" },
            end_reason: Some(if busy { "busy" } else { "hung_up" }),
            duration: Some(if busy { 0 } else { 61 }),
            ..Call::default()
        };
        let id = insert_call(&app, &org, &alice_id, &call).await;
        mine.push((call.at, id, !busy && n % 2 == 0));
    }
    let mut theirs = Vec::new();
    for n in 0..30 {
        let call = Call {
            at: MARCH_1 + (n / 3) * 60,
            ..Call::default()
        };
        theirs.push(insert_call(&app, &bobs_org, &bob_id, &call).await);
    }
    // The history's order: newest first, ties by id descending.
    mine.sort_by(|a, b| (b.0, &b.1).cmp(&(a.0, &a.1)));

    // Every call from one end to the other by one kind of link, in history
    // order, and how many pages that took.
    let walk = |pairs: Vec<(&'static str, String)>, start: &'static str, link: &'static str| {
        let (app, alice, org) = (&app, &alice, &org);
        async move {
            let mut seen: Vec<String> = Vec::new();
            let mut pages = 0;
            let mut page = start.to_owned();
            loop {
                let mut form = vec![("org_id", org.as_str()), ("page", page.as_str())];
                form.extend(pairs.iter().map(|(k, v)| (*k, v.as_str())));
                let (status, body) = history(app, alice, &form).await;
                assert_eq!(status, 200, "{body}");
                pages += 1;
                let rows = ids(&body);
                assert!(rows.len() <= 25 && !rows.is_empty(), "{form:?}");
                if link == "older" {
                    seen.extend(rows);
                } else {
                    seen.splice(0..0, rows);
                }
                match body["links"][link].as_str() {
                    Some(next) => page = next.to_owned(),
                    None => break,
                }
                assert!(pages < 20, "the walk never ends");
            }
            (seen, pages)
        }
    };

    let every: Vec<String> = mine.iter().map(|(_, id, _)| id.clone()).collect();
    for (start, link) in [("", "older"), ("oldest", "newer")] {
        let (seen, pages) = walk(Vec::new(), start, link).await;
        assert_eq!(pages, 4, "{link}");
        assert_eq!(
            seen, every,
            "walking {link}: the whole history in order, each call once"
        );
    }

    let filtered: Vec<String> = mine
        .iter()
        .filter(|(_, _, kept)| *kept)
        .map(|(_, id, _)| id.clone())
        .collect();
    assert!(
        filtered.len() > 25,
        "the filter keeps {} calls: more than a page",
        filtered.len()
    );
    let combined = vec![
        ("from", "2024-03-01".to_owned()),
        ("to", "2024-03-01".to_owned()),
        ("status", "answered".to_owned()),
        ("member", alice_id.clone()),
        ("number", "44 20 7183".to_owned()),
    ];
    for (start, link) in [("", "older"), ("oldest", "newer")] {
        let (seen, _) = walk(combined.clone(), start, link).await;
        assert_eq!(
            seen, filtered,
            "walking {link}: the combined filters, in order, on every page"
        );
    }
    for id in &theirs {
        assert!(!every.contains(id));
    }
}

/// Counting stops at 10,000: past that the page says "more than", so it
/// never reads a whole long history to number it, and both ends are still
/// one link away. A filter that keeps fewer is counted exactly.
async fn a_history_is_counted_to_ten_thousand_and_both_ends_are_a_link_away(app: TestApp) {
    let (alice, org, alice_id) = person(&app, "Alice", "alice@example.com").await;
    // 10,001 busy calls a minute apart, written in one statement.
    sqlx::query(&format!(
        "insert into call (call_id, org_id, user_id, client_key, to_number, rate_prefix,
             country_code, country_name, description, price_per_minute, connection_fee,
             initial_increment, subsequent_increment, max_duration_secs, carrier, status,
             end_reason, created_at, ended_at, duration_secs, billed_seconds, cost, updated_at_ms)
         with recursive n(i) as (select 1 union all select i + 1 from n where i < 10001)
         select 'call_bulk' || substr(cast(100000 + i as text), 2), $1, $2, 'bulk_' || i,
                '+442071838750', '44', 'GB', 'United Kingdom', 'Landline', 13000, 0, 60, 60,
                3600, 'twilio', 'busy', 'busy', {MARCH_1} + i * 60, {MARCH_1} + i * 60 + 20,
                0, 0, 0, 0
           from n"
    ))
    .bind(&org)
    .bind(&alice_id)
    .execute(&app.db.pool)
    .await
    .unwrap();
    let answered = insert_call(&app, &org, &alice_id, &Call::default()).await;

    let (status, first) = history(&app, &alice, &[("org_id", &org)]).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        (first["total"].as_i64(), first["more_than_total"].as_bool()),
        (Some(10_000), Some(true))
    );
    assert_eq!(ids(&first)[0], "call_bulk10001");
    let (_, oldest) = history(&app, &alice, &[("org_id", &org), ("page", "oldest")]).await;
    let oldest_ids = ids(&oldest);
    assert_eq!(oldest_ids.len(), 25);
    // The oldest busy call, then the answered one at MARCH_1, oldest of all.
    assert_eq!(
        oldest_ids[23..],
        ["call_bulk00001".to_owned(), answered.clone()]
    );
    assert_eq!(oldest["links"]["older"], Value::Null);

    let (_, html) = get_text(&alice, app.url("/calls")).await;
    assert!(html.contains("More than 10,000 calls"), "{html}");
    let (_, only_answered) =
        history(&app, &alice, &[("org_id", &org), ("status", "answered")]).await;
    assert_eq!(
        (
            only_answered["total"].as_i64(),
            only_answered["more_than_total"].as_bool()
        ),
        (Some(1), Some(false))
    );
    assert_eq!(ids(&only_answered), [answered]);
}
