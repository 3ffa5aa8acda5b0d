//! The wallet's read side: overview, history (order, pages, filters), the
//! low-balance threshold, receipts, daily spend and the CSV export, each on
//! SQLite and PostgreSQL, and none of it visible to another organization.

use crate::common::TestApp;
use crate::on_both_databases;
use app::domain::{Money, Role};
use app::server::dates;
use app::server::db::ledger::{EntryKind, NewEntry};
use app::server::db::wallet as queries;
use reqwest::Client;
use serde_json::Value;

on_both_databases!(
    history_is_newest_first_with_ties_in_a_stable_order_and_paginates,
    history_filters_by_kind_and_by_whole_utc_days_both_ends_included,
    bad_history_filters_are_refused_with_the_field_named,
    another_organizations_member_gets_not_found_for_every_wallet_read,
    only_owners_and_admins_set_the_low_balance_threshold_and_bad_values_change_nothing,
    the_low_balance_banner_appears_on_every_page_while_available_is_below_the_threshold,
    the_csv_export_is_the_filtered_history_quoted_and_formula_safe,
    a_big_csv_export_is_streamed_in_chunks_with_every_row_once_in_history_order,
    a_csv_export_longer_than_366_days_is_refused_and_366_days_are_not,
    a_purchase_has_a_receipt_naming_the_buyer_and_the_payment,
    only_purchases_have_receipts,
    call_spend_is_summed_per_utc_day_over_the_last_thirty_days,
);

/// 2024-03-01 00:00:00 UTC.
const MARCH_1: i64 = 1_709_251_200;
const DAY: i64 = 86_400;

fn dollars(n: i64) -> Money {
    Money::from_dollars(n).unwrap()
}

async fn post(
    app: &TestApp,
    org: &str,
    kind: EntryKind,
    amount: Money,
    key: &str,
    description: &str,
    at: i64,
) -> String {
    app.db
        .post(
            &NewEntry {
                org_id: org,
                kind,
                amount,
                actor: "system",
                description,
                idempotency_key: key,
            },
            at,
        )
        .await
        .unwrap()
        .entry
        .ledger_entry_id
}

/// A registered person in their own personal organization: (browser, org id).
async fn person(app: &TestApp, name: &str, email: &str) -> (Client, String) {
    let browser = app.new_browser();
    assert_eq!(app.register(&browser, name, email).await.status(), 200);
    let org = app.account(&browser).await["current_org"]["org_id"]
        .as_str()
        .unwrap()
        .to_owned();
    (browser, org)
}

async fn user_id(app: &TestApp, email: &str) -> String {
    let (id,): (String,) = sqlx::query_as("select user_id from app_user where email = $1")
        .bind(email)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    id
}

async fn history(app: &TestApp, browser: &Client, form: &[(&str, &str)]) -> (u16, Value) {
    let response = app.call(browser, "wallet/history", form).await;
    (response.status().as_u16(), response.json().await.unwrap())
}

fn descriptions(page: &Value) -> Vec<String> {
    page["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["description"].as_str().unwrap().to_owned())
        .collect()
}

async fn history_is_newest_first_with_ties_in_a_stable_order_and_paginates(app: TestApp) {
    let (alice, org) = person(&app, "Alice", "alice@example.com").await;
    post(
        &app,
        &org,
        EntryKind::Grant,
        dollars(100),
        "grant:1",
        "e0",
        MARCH_1,
    )
    .await;
    for n in 1..=29 {
        let key = format!("call:{n}:charge");
        let amount = Money::from_micros(-10_000 * n);
        post(
            &app,
            &org,
            EntryKind::CallCharge,
            amount,
            &key,
            &format!("e{n}"),
            MARCH_1 + n * 60,
        )
        .await;
    }
    // Two entries in the same second: ordered by id, the same way every time.
    post(
        &app,
        &org,
        EntryKind::Refund,
        dollars(1),
        "refund:a",
        "tie",
        MARCH_1 + 10_000,
    )
    .await;
    post(
        &app,
        &org,
        EntryKind::Refund,
        dollars(2),
        "refund:b",
        "tie",
        MARCH_1 + 10_000,
    )
    .await;

    let (status, first) = history(&app, &alice, &[("org_id", &org)]).await;
    assert_eq!(status, 200);
    assert_eq!(first["total"], 32);
    assert_eq!(
        (first["page"].as_u64(), first["pages"].as_u64()),
        (Some(1), Some(2))
    );
    let rows = first["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 25);
    let tied: Vec<&str> = rows[..2]
        .iter()
        .map(|r| r["entry_id"].as_str().unwrap())
        .collect();
    assert!(tied[0] > tied[1], "ties by id, descending");
    assert_eq!(descriptions(&first)[..3], ["tie", "tie", "e29"]);
    let times: Vec<i64> = rows
        .iter()
        .map(|r| r["created_at"].as_i64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    assert_eq!(rows[2]["time"], "2024-03-01 00:29 UTC");
    assert_eq!(rows[2]["amount"], -290_000);
    assert_eq!(rows[2]["kind"], "call_charge");

    let (_, second) = history(&app, &alice, &[("org_id", &org), ("page", "2")]).await;
    assert_eq!(second["page"], 2);
    let older = descriptions(&second);
    assert_eq!(older, ["e6", "e5", "e4", "e3", "e2", "e1", "e0"]);
    // Pages neither overlap nor skip, and asking twice gives the same answer.
    let (_, again) = history(&app, &alice, &[("org_id", &org)]).await;
    assert_eq!(again, first);
    // Past the end: the last page.
    let (_, beyond) = history(&app, &alice, &[("org_id", &org), ("page", "99")]).await;
    assert_eq!(beyond["page"], 2);
    assert_eq!(descriptions(&beyond), older);

    // The page itself, rendered on the server with the filters in its links.
    let html = app.page(&alice, "/wallet?page=2").await;
    assert!(html.contains("Page 2 of 2"), "{html}");
    assert!(html.contains(r#"href="/wallet?page=1""#));
    assert!(html.contains("-$0.01"));
}

async fn history_filters_by_kind_and_by_whole_utc_days_both_ends_included(app: TestApp) {
    let (alice, org) = person(&app, "Alice", "alice@example.com").await;
    post(
        &app,
        &org,
        EntryKind::Grant,
        dollars(50),
        "g",
        "before",
        MARCH_1 - 1,
    )
    .await;
    post(
        &app,
        &org,
        EntryKind::Purchase,
        dollars(10),
        "stripe:checkout:cs_1",
        "first second",
        MARCH_1,
    )
    .await;
    post(
        &app,
        &org,
        EntryKind::CallCharge,
        Money::from_micros(-500_000),
        "call:1:charge",
        "call",
        MARCH_1 + 3_600,
    )
    .await;
    post(
        &app,
        &org,
        EntryKind::Refund,
        dollars(1),
        "refund:1",
        "last second",
        MARCH_1 + 2 * DAY - 1,
    )
    .await;
    post(
        &app,
        &org,
        EntryKind::Purchase,
        dollars(5),
        "stripe:checkout:cs_2",
        "after",
        MARCH_1 + 2 * DAY,
    )
    .await;

    let (_, march_1_and_2) = history(
        &app,
        &alice,
        &[
            ("org_id", &org),
            ("from", "2024-03-01"),
            ("to", "2024-03-02"),
        ],
    )
    .await;
    assert_eq!(
        descriptions(&march_1_and_2),
        ["last second", "call", "first second"]
    );

    let (_, purchases) = history(&app, &alice, &[("org_id", &org), ("kind", "purchase")]).await;
    assert_eq!(descriptions(&purchases), ["after", "first second"]);

    let (_, both) = history(
        &app,
        &alice,
        &[
            ("org_id", &org),
            ("kind", "purchase"),
            ("from", "2024-03-02"),
            ("to", ""),
        ],
    )
    .await;
    assert_eq!(descriptions(&both), ["after"]);

    let (_, one_day) = history(
        &app,
        &alice,
        &[
            ("org_id", &org),
            ("from", "2024-02-29"),
            ("to", "2024-02-29"),
        ],
    )
    .await;
    assert_eq!(descriptions(&one_day), ["before"]);

    let (_, none) = history(&app, &alice, &[("org_id", &org), ("kind", "adjustment")]).await;
    assert_eq!(
        (none["total"].as_i64(), none["pages"].as_i64()),
        (Some(0), Some(1))
    );

    // The page keeps the filter in its form.
    let html = app
        .page(&alice, "/wallet?kind=purchase&from=2024-03-02")
        .await;
    assert!(html.contains(r#"value="2024-03-02""#));
    assert!(html.contains("1 transaction"));
    assert!(!html.contains("first second"));
}

async fn bad_history_filters_are_refused_with_the_field_named(app: TestApp) {
    let (alice, org) = person(&app, "Alice", "alice@example.com").await;
    post(
        &app,
        &org,
        EntryKind::Grant,
        dollars(5),
        "g",
        "money",
        MARCH_1,
    )
    .await;
    for (form, field) in [
        (vec![("kind", "free_money")], "kind"),
        (vec![("from", "2024-02-30")], "from"),
        (vec![("to", "03/01/2024")], "to"),
        (vec![("from", "2024-03-02"), ("to", "2024-03-01")], "to"),
    ] {
        let mut form = form.clone();
        form.push(("org_id", org.as_str()));
        let (status, error) = history(&app, &alice, &form).await;
        assert_eq!(status, 422, "{form:?}");
        assert_eq!(error["Validation"]["field"], field, "{form:?}");
    }
    // The page explains instead of showing anything.
    let response = alice
        .get(app.url("/wallet?kind=free_money"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("choose a transaction kind from the list"));
    assert!(!html.contains("history-row"));
    // So does the export.
    let csv = alice
        .get(app.url(&format!("/wallet/history.csv?org_id={org}&from=2024-13-01")))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 422);
    assert!(csv.text().await.unwrap().contains("start date"));
}

async fn another_organizations_member_gets_not_found_for_every_wallet_read(app: TestApp) {
    let (alice, alices_org) = person(&app, "Alice", "alice@example.com").await;
    let (bob, bobs_org) = person(&app, "Bob", "bob@example.com").await;
    let bobs_purchase = post(
        &app,
        &bobs_org,
        EntryKind::Purchase,
        dollars(20),
        "stripe:checkout:cs_bob",
        "Bob's credits",
        MARCH_1,
    )
    .await;

    for (function, form) in [
        ("wallet/overview", vec![("org_id", bobs_org.as_str())]),
        ("wallet/history", vec![("org_id", bobs_org.as_str())]),
        ("wallet/spend", vec![("org_id", bobs_org.as_str())]),
        (
            "wallet/receipt",
            vec![
                ("org_id", bobs_org.as_str()),
                ("entry_id", bobs_purchase.as_str()),
            ],
        ),
        (
            "wallet/low-balance-threshold",
            vec![("org_id", bobs_org.as_str()), ("threshold", "5")],
        ),
        // Her own organization with Bob's entry: still nothing.
        (
            "wallet/receipt",
            vec![
                ("org_id", alices_org.as_str()),
                ("entry_id", bobs_purchase.as_str()),
            ],
        ),
    ] {
        app.assert_not_found(&alice, function, &form).await;
    }
    let csv = alice
        .get(app.url(&format!("/wallet/history.csv?org_id={bobs_org}")))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 404);
    assert!(!csv.text().await.unwrap().contains("Bob's credits"));
    let receipt_page = alice
        .get(app.url(&format!("/wallet/receipts/{bobs_purchase}")))
        .send()
        .await
        .unwrap();
    assert_eq!(receipt_page.status(), 404);
    assert!(!receipt_page.text().await.unwrap().contains("cs_bob"));

    // Alice's own wallet is empty; Bob's threshold was not set by her.
    let (_, own) = history(&app, &alice, &[("org_id", &alices_org)]).await;
    assert_eq!(own["total"], 0);
    let bobs: Value = app
        .call(&bob, "wallet/overview", &[("org_id", &bobs_org)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bobs["low_balance_threshold"], 0);
    assert_eq!(bobs["balance"], 20_000_000);

    // Logged out: 401 from the functions, the login page for the export.
    let stranger = app.new_browser();
    let response = app
        .call(&stranger, "wallet/overview", &[("org_id", &bobs_org)])
        .await;
    assert_eq!(response.status(), 401);
    let csv = stranger
        .get(app.url(&format!("/wallet/history.csv?org_id={bobs_org}")))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 303);
    assert!(csv.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/login?next="));
}

async fn threshold(app: &TestApp, browser: &Client, org: &str, value: &str) -> reqwest::Response {
    app.call(
        browser,
        "wallet/low-balance-threshold",
        &[("org_id", org), ("threshold", value)],
    )
    .await
}

async fn overview(app: &TestApp, browser: &Client, org: &str) -> Value {
    let response = app
        .call(browser, "wallet/overview", &[("org_id", org)])
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn only_owners_and_admins_set_the_low_balance_threshold_and_bad_values_change_nothing(
    app: TestApp,
) {
    let (owner, org) = person(&app, "Olive", "olive@example.com").await;
    let (member, _) = person(&app, "Max", "max@example.com").await;
    let max_id = user_id(&app, "max@example.com").await;
    app::server::db::orgs::add_member(&app.db.pool, &org, &max_id, Role::Member, 0)
        .await
        .unwrap();

    // A member reads the wallet but may not change the alert.
    let seen = overview(&app, &member, &org).await;
    assert_eq!(seen["can_manage"], false);
    let refused = threshold(&app, &member, &org, "10").await;
    assert_eq!(refused.status(), 403);
    assert_eq!(
        refused.json::<Value>().await.unwrap(),
        Value::from("Forbidden")
    );
    assert_eq!(
        overview(&app, &owner, &org).await["low_balance_threshold"],
        0
    );

    // The owner may.
    assert_eq!(threshold(&app, &owner, &org, "$12.50").await.status(), 200);
    let status = overview(&app, &owner, &org).await;
    assert_eq!(status["low_balance_threshold"], 12_500_000);
    assert_eq!(status["can_manage"], true);
    assert_eq!(status["is_low"], true, "an empty wallet is below $12.50");

    // Bad values are refused and change nothing.
    for bad in ["", "abc", "-5", "1.234", "1e3", "2000000"] {
        let response = threshold(&app, &owner, &org, bad).await;
        assert_eq!(response.status(), 422, "{bad:?}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["Validation"]["field"], "threshold", "{bad:?}");
    }
    assert_eq!(
        overview(&app, &member, &org).await["low_balance_threshold"],
        12_500_000
    );

    // An admin may too; 0 turns the alert off.
    sqlx::query("update membership set role = 'admin' where user_id = $1")
        .bind(&max_id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(threshold(&app, &member, &org, "0").await.status(), 200);
    let off = overview(&app, &owner, &org).await;
    assert_eq!(
        (
            off["low_balance_threshold"].as_i64(),
            off["is_low"].as_bool()
        ),
        (Some(0), Some(false))
    );
}

async fn the_low_balance_banner_appears_on_every_page_while_available_is_below_the_threshold(
    app: TestApp,
) {
    let (alice, org) = person(&app, "Alice", "alice@example.com").await;
    post(
        &app,
        &org,
        EntryKind::Grant,
        dollars(20),
        "grant:1",
        "welcome",
        MARCH_1,
    )
    .await;
    assert_eq!(threshold(&app, &alice, &org, "15").await.status(), 200);
    let page = |path: &'static str| {
        let alice = alice.clone();
        let url = app.url(path);
        async move { alice.get(url).send().await.unwrap().text().await.unwrap() }
    };
    assert!(!page("/dialer").await.contains("low-balance-banner"));

    // A live call holds $6: available $14 < $15, though the balance is $20.
    app.db
        .place_hold(&org, dollars(6), "call:CA1:hold", i64::MAX, MARCH_1)
        .await
        .unwrap();
    let status = overview(&app, &alice, &org).await;
    assert_eq!(
        (
            status["balance"].as_i64(),
            status["held"].as_i64(),
            status["available"].as_i64()
        ),
        (Some(20_000_000), Some(6_000_000), Some(14_000_000))
    );
    assert_eq!(status["is_low"], true);
    for path in ["/dialer", "/calls", "/settings", "/wallet"] {
        let html = page(path).await;
        assert!(html.contains("low-balance-banner"), "{path}");
        assert!(
            html.contains("$14.00 available, below your alert of $15.00"),
            "{path}"
        );
        assert!(html.contains(r#"href="/wallet""#), "{path}");
    }
    let wallet = page("/wallet").await;
    assert!(wallet.contains("$20.00") && wallet.contains("2,000 credits"));
}

/// More rows than two pages of the streamed export, all in one second, so
/// the pages split ties (resolved by entry id) and must neither repeat nor
/// skip a row.
async fn a_big_csv_export_is_streamed_in_chunks_with_every_row_once_in_history_order(app: TestApp) {
    const ROWS: usize = 1_234;
    let (alice, org) = person(&app, "Alice", "alice@example.com").await;
    for i in 0..ROWS {
        post(
            &app,
            &org,
            EntryKind::Grant,
            Money::from_micros(1),
            &format!("g{i}"),
            "grant",
            MARCH_1,
        )
        .await;
    }
    let response = alice
        .get(app.url(&format!("/wallet/history.csv?org_id={org}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers().get("content-length").is_none(),
        "a streamed file has no length up front: {:?}",
        response.headers()
    );
    assert_eq!(response.headers()["transfer-encoding"], "chunked");
    let csv = response.text().await.unwrap();
    // The same rows, in the same order, as the history's own (unpaged) query.
    let history = queries::entries_page(
        &app.db.pool,
        &org,
        &queries::HistoryFilter::default(),
        i64::MAX,
        0,
    )
    .await
    .unwrap();
    assert_eq!(history.len(), ROWS);
    let mut expected =
        String::from("date_utc,entry_id,kind,description,amount_usd,balance_after_usd\r\n");
    for entry in &history {
        expected.push_str(&format!(
            "2024-03-01T00:00:00Z,{},grant,grant,{},{}\r\n",
            entry.ledger_entry_id,
            Money::from_micros(entry.amount).plain_dollars(),
            Money::from_micros(entry.balance_after).plain_dollars(),
        ));
    }
    assert!(csv == expected, "the export differs from the history");
}

async fn a_csv_export_longer_than_366_days_is_refused_and_366_days_are_not(app: TestApp) {
    let (alice, org) = person(&app, "Alice", "alice@example.com").await;
    let refused = alice
        .get(app.url(&format!(
            "/wallet/history.csv?org_id={org}&from=2023-01-01&to=2024-01-02"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let text = refused.text().await.unwrap();
    assert!(text.contains("an export covers at most 366 days"), "{text}");
    // A leap year, both ends included: 366 days.
    let allowed = alice
        .get(app.url(&format!(
            "/wallet/history.csv?org_id={org}&from=2024-01-01&to=2024-12-31"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
}

async fn the_csv_export_is_the_filtered_history_quoted_and_formula_safe(app: TestApp) {
    let (alice, org) = person(&app, "Alice", "alice@example.com").await;
    post(
        &app,
        &org,
        EntryKind::Grant,
        dollars(10),
        "g",
        "Welcome, \"friend\"",
        MARCH_1,
    )
    .await;
    post(
        &app,
        &org,
        EntryKind::CallCharge,
        Money::from_micros(-512_500),
        "call:1:charge",
        "=HYPERLINK(\"http://evil.example\")\ncall",
        MARCH_1 + 61,
    )
    .await;
    post(
        &app,
        &org,
        EntryKind::Adjustment,
        Money::from_micros(-500_000),
        "adj:1",
        "-1+1",
        MARCH_1 + DAY,
    )
    .await;

    let response = alice
        .get(app.url(&format!(
            "/wallet/history.csv?org_id={org}&from=2024-03-01&to=2024-03-01"
        )))
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
    let today = dates::iso_date(dates::date_of(app::server::clock::now()));
    assert_eq!(
        disposition,
        format!("attachment; filename=\"phonebooth-ledger-{org}-{today}.csv\"")
    );
    let csv = response.text().await.unwrap();
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "date_utc,entry_id,kind,description,amount_usd,balance_after_usd"
    );
    // Newest first; the formula is defused, quoted for its quotes and newline; the charge stays a number.
    assert!(lines[1].starts_with("2024-03-01T00:01:01Z,le_"), "{csv}");
    assert!(
        lines[1].ends_with(
            ",call_charge,\"'=HYPERLINK(\"\"http://evil.example\"\")\ncall\",-0.5125,9.4875"
        ),
        "{csv}"
    );
    assert!(
        lines[2].ends_with(",grant,\"Welcome, \"\"friend\"\"\",10.00,10.00"),
        "{csv}"
    );
    assert_eq!(lines[3], "");
    assert_eq!(lines.len(), 4, "the adjustment of March 2 is filtered out");

    // Everything, filtered by kind: the text guard does not touch negative amounts.
    let adjustments = app
        .page(
            &alice,
            &format!("/wallet/history.csv?org_id={org}&kind=adjustment"),
        )
        .await;
    let row = adjustments.split("\r\n").nth(1).unwrap();
    assert!(
        row.ends_with(",adjustment,'-1+1,-0.50,8.9875"),
        "{adjustments}"
    );

    // The page links to the export of what it shows.
    let html = app.page(&alice, "/wallet?kind=adjustment").await;
    let link = format!("/wallet/history.csv?org_id={org}&amp;kind=adjustment");
    assert!(
        html.contains(&link) || html.contains(&link.replace("&amp;", "&")),
        "{html}"
    );
}

async fn a_purchase_has_a_receipt_naming_the_buyer_and_the_payment(app: TestApp) {
    let (alice, org) = person(&app, "Alice", "alice@example.com").await;
    let alice_id = user_id(&app, "alice@example.com").await;
    sqlx::query(
        "insert into checkout (checkout_id, org_id, provider, purpose, amount, created_by, idempotency_key, url, created_at)
         values ('cs_test_42', $1, 'sandbox', 'credits', 25000000, $2, 'form:1', 'http://x', $3)",
    )
    .bind(&org)
    .bind(&alice_id)
    .bind(MARCH_1)
    .execute(&app.db.pool)
    .await
    .unwrap();
    let bought = post(
        &app,
        &org,
        EntryKind::Purchase,
        dollars(25),
        "stripe:checkout:cs_test_42",
        "Credit purchase",
        MARCH_1 + 90,
    )
    .await;
    let recharged = post(
        &app,
        &org,
        EntryKind::AutoRecharge,
        dollars(10),
        "stripe:payment_intent:pi_7",
        "Auto-recharge",
        MARCH_1 + DAY,
    )
    .await;

    let receipt: Value = app
        .call(
            &alice,
            "wallet/receipt",
            &[("org_id", &org), ("entry_id", &bought)],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(receipt["org_name"], "Alice's organization");
    assert_eq!(receipt["amount"], 25_000_000);
    assert_eq!(receipt["credits"], 2_500);
    assert_eq!(receipt["reference_label"], "Checkout session");
    assert_eq!(receipt["reference"], "cs_test_42");
    assert_eq!(receipt["buyer"]["email"], "alice@example.com");
    assert_eq!(receipt["balance_after"], 25_000_000);
    assert_eq!(receipt["time"], "2024-03-01 00:01 UTC");

    let auto: Value = app
        .call(
            &alice,
            "wallet/receipt",
            &[("org_id", &org), ("entry_id", &recharged)],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(auto["reference_label"], "Payment intent");
    assert_eq!(auto["reference"], "pi_7");
    assert_eq!(auto["buyer"], Value::Null);

    let page = alice
        .get(app.url(&format!("/wallet/receipts/{bought}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    for expected in [
        "<h1",
        "Receipt",
        "Alice's organization",
        "$25.00",
        "2,500 credits",
        "cs_test_42",
        "alice@example.com",
        bought.as_str(),
    ] {
        assert!(html.contains(expected), "{expected}");
    }
    // The history links each purchase to its receipt.
    let wallet = app.page(&alice, "/wallet").await;
    assert!(wallet.contains(&format!("href=\"/wallet/receipts/{bought}\"")));
    assert!(wallet.contains(&format!("href=\"/wallet/receipts/{recharged}\"")));
}

async fn only_purchases_have_receipts(app: TestApp) {
    let (alice, org) = person(&app, "Alice", "alice@example.com").await;
    let grant = post(
        &app,
        &org,
        EntryKind::Grant,
        dollars(5),
        "g",
        "grant",
        MARCH_1,
    )
    .await;
    let charge = post(
        &app,
        &org,
        EntryKind::CallCharge,
        Money::from_micros(-1),
        "call:1:charge",
        "call",
        MARCH_1,
    )
    .await;
    for entry in [grant.as_str(), charge.as_str(), "le_does_not_exist"] {
        let response = app
            .call(
                &alice,
                "wallet/receipt",
                &[("org_id", &org), ("entry_id", entry)],
            )
            .await;
        assert_eq!(response.status(), 404, "{entry}");
        let page = alice
            .get(app.url(&format!("/wallet/receipts/{entry}")))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 404, "{entry}");
        assert!(page.text().await.unwrap().contains("Receipt not found"));
    }
    let wallet = app.page(&alice, "/wallet").await;
    assert!(!wallet.contains("/wallet/receipts/"));
}

async fn call_spend_is_summed_per_utc_day_over_the_last_thirty_days(app: TestApp) {
    let (alice, org) = person(&app, "Alice", "alice@example.com").await;
    let march_30 = dates::parse_date("2024-03-30").unwrap();
    // The window is March 1 to March 30 (UTC), both whole days.
    post(
        &app,
        &org,
        EntryKind::Grant,
        dollars(100),
        "g",
        "grant",
        MARCH_1 - DAY,
    )
    .await;
    let charge = |key: &'static str, micros: i64, at: i64| {
        let (app, org) = (&app, org.clone());
        async move {
            post(
                app,
                &org,
                EntryKind::CallCharge,
                Money::from_micros(-micros),
                key,
                "call",
                at,
            )
            .await;
        }
    };
    charge("c0", 999_999, MARCH_1 - 1).await; // February 29: outside
    charge("c1", 250_000, MARCH_1).await; // first second of March 1
    charge("c2", 12_500, MARCH_1 + DAY - 1).await; // last second of March 1
    charge("c3", 1_000_000, MARCH_1 + 29 * DAY).await; // March 30
    charge("c4", 7, MARCH_1 + 30 * DAY).await; // March 31: outside
                                               // Only call charges count: not refunds, purchases or adjustments.
    post(
        &app,
        &org,
        EntryKind::Adjustment,
        Money::from_micros(-40_000),
        "adj",
        "adj",
        MARCH_1 + 60,
    )
    .await;
    post(
        &app,
        &org,
        EntryKind::Refund,
        dollars(1),
        "refund",
        "refund",
        MARCH_1 + 60,
    )
    .await;

    let days = queries::daily_call_spend(&app.db.pool, &org, march_30, 30)
        .await
        .unwrap();
    assert_eq!(days.len(), 30);
    assert_eq!(dates::iso_date(days[0].0), "2024-03-01");
    assert_eq!(dates::iso_date(days[29].0), "2024-03-30");
    assert_eq!(days[0].1, Money::from_micros(262_500));
    assert_eq!(days[29].1, Money::from_micros(1_000_000));
    assert!(days[1..29].iter().all(|(_, spend)| *spend == Money::ZERO));

    // Through the server function: thirty days ending today, and today's call in the last one.
    let empty: Value = app
        .call(&alice, "wallet/spend", &[("org_id", &org)])
        .await
        .json()
        .await
        .unwrap();
    let today = dates::iso_date(dates::date_of(app::server::clock::now()));
    assert_eq!(empty["days"].as_array().unwrap().len(), 30);
    assert_eq!(empty["days"][29]["date"], today);
    assert_eq!(empty["total"], 0);
    let html = app.page(&alice, "/wallet").await;
    assert!(html.contains("No calls were charged in the last 30 days"));

    post(
        &app,
        &org,
        EntryKind::CallCharge,
        Money::from_micros(-1_230_000),
        "now",
        "call",
        app::server::clock::now(),
    )
    .await;
    let chart: Value = app
        .call(&alice, "wallet/spend", &[("org_id", &org)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(chart["days"][29]["spend"], 1_230_000);
    assert_eq!(
        (chart["total"].as_i64(), chart["max"].as_i64()),
        (Some(1_230_000), Some(1_230_000))
    );
    let html = app.page(&alice, "/wallet").await;
    assert!(html.contains("<svg"));
    assert!(html.contains(&format!("{today}: $1.23 spent on calls")));
    assert_eq!(
        html.matches("<title>").count(),
        30 + 1,
        "a title per bar, and the page's"
    );
}
