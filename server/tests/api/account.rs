//! The account page's rules: changing the password (the current one needed,
//! every other session signed out, this one kept), the sessions list and
//! "sign out other sessions", deleting the account (refused for the only
//! owner of an organization with other members; otherwise erased while its
//! calls and ledger stay, shown as "deleted user"), the data download, and
//! every function's session and origin checks.

use crate::calls::{
    call_row, deliver_status, dial, grant, parent_sid, put_legs, twilio_app, Member, LONDON,
};
use crate::common::fake_twilio::FakeTwilio;
use crate::common::{TestApp, PASSWORD};
use crate::on_both_databases;
use app::domain::{CallStatus, Role};
use reqwest::{Client, Response};
use serde_json::Value;

on_both_databases!(
    changing_the_password_needs_the_current_one_and_signs_out_only_the_other_sessions,
    the_sessions_list_shows_only_the_accounts_own_and_sign_out_ends_exactly_the_others,
    deleting_is_refused_for_the_only_owner_of_an_organization_with_other_members,
    a_deleted_account_is_erased_while_its_calls_and_ledger_stay_as_deleted_user,
    the_data_download_holds_the_account_and_its_own_calls_only,
    every_account_function_needs_a_session_and_our_origin,
    the_account_forms_work_without_javascript,
);

const NEW_PASSWORD: &str = "another long passphrase";

async fn signed_in(app: &TestApp, browser: &Client) -> bool {
    !app.account(browser).await.is_null()
}

/// A second browser signed in to the same account.
async fn second_session(app: &TestApp, email: &str) -> Client {
    let browser = app.new_browser();
    assert_eq!(app.login(&browser, email, PASSWORD).await.status(), 200);
    browser
}

async fn change_password(app: &TestApp, browser: &Client, current: &str, new: &str) -> Response {
    app.call(
        browser,
        "account/change-password",
        &[("current_password", current), ("new_password", new)],
    )
    .await
}

async fn delete_account(app: &TestApp, browser: &Client, password: &str) -> Response {
    app.call(browser, "account/delete", &[("password", password)])
        .await
}

async fn overview(app: &TestApp, browser: &Client) -> Value {
    let response = app.call(browser, "account/overview", &[]).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn user_id_of(app: &TestApp, email: &str) -> String {
    sqlx::query_scalar("select user_id from app_user where email = $1")
        .bind(email)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

async fn password_hash_of(app: &TestApp, user_id: &str) -> String {
    sqlx::query_scalar("select password_hash from app_user where user_id = $1")
        .bind(user_id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

/// Registers `email` (named `name`) and returns its browser and personal organization.
async fn person(app: &TestApp, name: &str, email: &str) -> Member {
    let client = app.new_browser();
    assert_eq!(app.register(&client, name, email).await.status(), 200);
    let org_id = app.account(&client).await["current_org"]["org_id"]
        .as_str()
        .unwrap()
        .to_owned();
    Member { client, org_id }
}

/// Adds `email`'s account to `org_id` and makes it the organization they work in.
async fn join(app: &TestApp, member: &Member, email: &str, org_id: &str, role: Role) -> Member {
    let user_id = user_id_of(app, email).await;
    app::server::db::orgs::add_member(&app.db.pool, org_id, &user_id, role, 0)
        .await
        .unwrap();
    let switched = app
        .call(&member.client, "org/switch", &[("org_id", org_id)])
        .await;
    assert_eq!(switched.status(), 200);
    Member {
        client: member.client.clone(),
        org_id: org_id.to_owned(),
    }
}

async fn changing_the_password_needs_the_current_one_and_signs_out_only_the_other_sessions(
    app: TestApp,
) {
    let ada = person(&app, "Ada", "ada@example.com").await;
    let other = second_session(&app, "ada@example.com").await;
    let bob = person(&app, "Bob", "bob@example.com").await;
    let user_id = user_id_of(&app, "ada@example.com").await;
    let stored = password_hash_of(&app, &user_id).await;

    // A wrong current password: a clear error, and nothing changes.
    let wrong = change_password(&app, &ada.client, "not my password", NEW_PASSWORD).await;
    assert_eq!(wrong.status(), 422);
    let error: Value = wrong.json().await.unwrap();
    assert_eq!(error["Validation"]["field"], "current_password");
    assert_eq!(
        error["Validation"]["message"],
        "that is not your current password"
    );
    // A new password the registration rules refuse changes nothing either.
    let weak = change_password(&app, &ada.client, PASSWORD, "short").await;
    assert_eq!(weak.status(), 422);
    assert_eq!(
        weak.json::<Value>().await.unwrap()["Validation"]["field"],
        "new_password"
    );
    assert_eq!(password_hash_of(&app, &user_id).await, stored);
    assert!(signed_in(&app, &other).await);

    let changed = change_password(&app, &ada.client, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(changed.status(), 200);
    assert_eq!(changed.headers()["location"], "/account?changed=password");
    assert!(signed_in(&app, &ada.client).await, "this session stays");
    assert!(!signed_in(&app, &other).await, "the other session ended");
    assert!(signed_in(&app, &bob.client).await, "nobody else's did");
    assert_eq!(
        app.login(&app.new_browser(), "ada@example.com", PASSWORD)
            .await
            .status(),
        422,
        "the old password no longer logs in"
    );
    assert_eq!(
        app.login(&app.new_browser(), "ada@example.com", NEW_PASSWORD)
            .await
            .status(),
        200
    );
}

async fn the_sessions_list_shows_only_the_accounts_own_and_sign_out_ends_exactly_the_others(
    app: TestApp,
) {
    let ada = person(&app, "Ada", "ada@example.com").await;
    let laptop = second_session(&app, "ada@example.com").await;
    let phone = second_session(&app, "ada@example.com").await;
    let bob = person(&app, "Bob", "bob@example.com").await;

    let listed = overview(&app, &ada.client).await;
    assert_eq!(listed["email"], "ada@example.com");
    let sessions = listed["sessions"].as_array().unwrap();
    assert_eq!(
        sessions.len(),
        3,
        "Ada's three sessions, not Bob's: {listed}"
    );
    assert_eq!(
        sessions.iter().filter(|s| s["is_current"] == true).count(),
        1
    );
    for session in sessions {
        assert_eq!(session["browser"], "phonebooth-tests", "{session}");
        assert!(!session["signed_in"].as_str().unwrap().is_empty());
        assert!(!session["ip"].as_str().unwrap().is_empty());
    }
    assert_eq!(
        overview(&app, &bob.client).await["sessions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let signed_out = app.call(&ada.client, "account/sign-out-others", &[]).await;
    assert_eq!(signed_out.status(), 200);
    assert_eq!(
        signed_out.headers()["location"],
        "/account?changed=sessions"
    );
    assert!(signed_in(&app, &ada.client).await);
    assert!(!signed_in(&app, &laptop).await);
    assert!(!signed_in(&app, &phone).await);
    assert!(
        signed_in(&app, &bob.client).await,
        "another account's session stays"
    );
    let listed = overview(&app, &ada.client).await;
    assert_eq!(listed["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(listed["sessions"][0]["is_current"], true);
}

async fn deleting_is_refused_for_the_only_owner_of_an_organization_with_other_members(
    app: TestApp,
) {
    let owner = person(&app, "Olga", "owner@example.com").await;
    let colleague = person(&app, "Carl", "carl@example.com").await;
    join(
        &app,
        &colleague,
        "carl@example.com",
        &owner.org_id,
        Role::Member,
    )
    .await;
    let owner_id = user_id_of(&app, "owner@example.com").await;
    let memberships = "select count(*) from membership";
    let before = app.count(memberships).await;

    let refused = delete_account(&app, &owner.client, PASSWORD).await;
    assert_eq!(refused.status(), 409);
    let error: Value = refused.json().await.unwrap();
    assert_eq!(error["Conflict"]["code"], "last_owner");
    let message = error["Conflict"]["message"].as_str().unwrap();
    assert!(message.contains("Olga's organization"), "{message}");
    assert!(
        message.contains("make another member an owner"),
        "{message}"
    );
    // Nothing changed.
    assert!(signed_in(&app, &owner.client).await);
    assert_eq!(app.count(memberships).await, before);
    let (name, email): (String, String) =
        sqlx::query_as("select name, email from app_user where user_id = $1")
            .bind(&owner_id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(
        (name.as_str(), email.as_str()),
        ("Olga", "owner@example.com")
    );

    // With a second owner the first may go.
    sqlx::query("update membership set role = 'owner' where org_id = $1 and user_id <> $2")
        .bind(&owner.org_id)
        .bind(&owner_id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let deleted = delete_account(&app, &owner.client, PASSWORD).await;
    assert_eq!(deleted.status(), 200);
    assert_eq!(deleted.headers()["location"], "/login");
    assert_eq!(app.count(memberships).await, before - 1);
}

async fn a_deleted_account_is_erased_while_its_calls_and_ledger_stay_as_deleted_user(
    backend_app: TestApp,
) {
    let fake = FakeTwilio::start().await;
    let app = twilio_app(backend_app.backend, &fake).await;
    let owner = person(&app, "Olga", "owner@example.com").await;
    let mia = person(&app, "Mia", "mia@example.com").await;
    let mia_personal_org = mia.org_id.clone();
    let mia = join(&app, &mia, "mia@example.com", &owner.org_id, Role::Member).await;
    let mia_id = user_id_of(&app, "mia@example.com").await;
    let elsewhere = second_session(&app, "mia@example.com").await;
    grant(&app, &owner.org_id, 10_000).await;

    // One finished, charged call, and one still live.
    let (status, call) = dial(&app, &mia, LONDON, "finished").await;
    assert_eq!(status, 200, "{call}");
    let finished = call_row(&app, call["call_id"].as_str().unwrap()).await;
    for (sequence, (state, duration)) in [
        (CallStatus::InProgress, None),
        (CallStatus::Completed, Some(61)),
    ]
    .into_iter()
    .enumerate()
    {
        assert_eq!(
            deliver_status(&app, &finished, state, sequence as i64, duration).await,
            204
        );
    }
    let (status, call) = dial(&app, &mia, LONDON, "live").await;
    assert_eq!(status, 200, "{call}");
    let live = call_row(&app, call["call_id"].as_str().unwrap()).await;
    put_legs(&fake, &live);
    assert_eq!(
        deliver_status(&app, &live, CallStatus::InProgress, 0, None).await,
        204
    );
    let calls = app.count("select count(*) from call").await;
    let ledger = app.count("select count(*) from ledger_entry").await;

    // A wrong password deletes nothing.
    let wrong = delete_account(&app, &mia.client, "not my password").await;
    assert_eq!(wrong.status(), 422);
    assert_eq!(
        wrong.json::<Value>().await.unwrap()["Validation"]["field"],
        "password"
    );
    assert!(signed_in(&app, &elsewhere).await);

    let deleted = delete_account(&app, &mia.client, PASSWORD).await;
    assert_eq!(deleted.status(), 200);
    assert_eq!(deleted.headers()["location"], "/login");

    // The live call was ended first; the carrier's report still bills it.
    let ended = call_row(&app, &live.call_id).await;
    assert!(ended.end_requested_at.is_some());
    assert_eq!(ended.end_reason.map(|r| r.as_str()), Some("hung_up"));
    assert_eq!(fake.endings(&parent_sid(&live.call_id)), vec!["completed"]);
    assert_eq!(
        deliver_status(&app, &live, CallStatus::Completed, 1, Some(30)).await,
        204
    );
    assert!(call_row(&app, &live.call_id)
        .await
        .ledger_entry_id
        .is_some());

    // Erased: no name, no mailbox, no password; signed out everywhere.
    let (name, email, hash): (String, String, String) =
        sqlx::query_as("select name, email, password_hash from app_user where user_id = $1")
            .bind(&mia_id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(name, "");
    assert_eq!(email, format!("deleted-{mia_id}@invalid"));
    assert_eq!(hash, "");
    assert!(!signed_in(&app, &mia.client).await);
    assert!(!signed_in(&app, &elsewhere).await);
    assert_eq!(
        app.count(&format!(
            "select count(*) from membership where user_id = '{mia_id}'"
        ))
        .await,
        0
    );
    assert_eq!(
        app.count(&format!(
            "select count(*) from session where user_id = '{mia_id}'"
        ))
        .await,
        0
    );
    // The personal organization stays, memberless, as a financial record.
    assert_eq!(
        app.count(&format!(
            "select count(*) from org where org_id = '{mia_personal_org}'"
        ))
        .await,
        1
    );
    assert_eq!(
        app.login(&app.new_browser(), "mia@example.com", PASSWORD)
            .await
            .status(),
        422
    );
    // The address is free again: a new account, not the old one back.
    let again = app.new_browser();
    assert_eq!(
        app.register(&again, "Mia", "mia@example.com")
            .await
            .status(),
        200
    );
    assert_ne!(user_id_of(&app, "mia@example.com").await, mia_id);

    // The records stay, and read "deleted user" wherever a name was.
    assert_eq!(app.count("select count(*) from call").await, calls);
    assert!(app.count("select count(*) from ledger_entry").await >= ledger);
    let history: Value = app
        .call(
            &owner.client,
            "calls/history",
            &[("org_id", owner.org_id.as_str())],
        )
        .await
        .json()
        .await
        .unwrap();
    let rows = history["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{history}");
    assert!(
        rows.iter().all(|row| row["member"] == "deleted user"),
        "{history}"
    );
    assert!(
        history["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "deleted user"),
        "{history}"
    );
    let detail: Value = app
        .call(
            &owner.client,
            "calls/detail",
            &[
                ("org_id", owner.org_id.as_str()),
                ("call_id", finished.call_id.as_str()),
            ],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["member"], "deleted user", "{detail}");
    assert_eq!(detail["member_email"], "");
    let audit: Value = app
        .call(
            &owner.client,
            "org/audit",
            &[("org_id", owner.org_id.as_str())],
        )
        .await
        .json()
        .await
        .unwrap();
    let left = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|line| line["what"] == "Left")
        .expect("an audit entry for the account leaving");
    assert_eq!(left["actor"], "deleted user");
    assert!(!left["detail"].as_str().unwrap().contains("Mia"));
}

async fn the_data_download_holds_the_account_and_its_own_calls_only(backend_app: TestApp) {
    let fake = FakeTwilio::start().await;
    let app = twilio_app(backend_app.backend, &fake).await;
    let owner = person(&app, "Olga", "owner@example.com").await;
    let mia = person(&app, "Mia", "mia@example.com").await;
    let mia = join(&app, &mia, "mia@example.com", &owner.org_id, Role::Member).await;
    grant(&app, &owner.org_id, 10_000).await;
    let (_, mine) = dial(&app, &mia, LONDON, "mine").await;
    let (_, theirs) = dial(&app, &owner, LONDON, "theirs").await;

    let download = mia
        .client
        .get(app.url("/account-data.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    assert!(download.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment; filename=\"phonebooth-my-data-"));
    assert_eq!(download.headers()["content-type"], "application/json");
    let text = download.text().await.unwrap();
    for secret in ["password", "argon2", "token", "session"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert!(!text.contains("owner@example.com") && !text.contains("Olga\""));
    let data: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(data["account"]["email"], "mia@example.com");
    assert_eq!(data["account"]["name"], "Mia");
    assert_eq!(data["memberships"].as_array().unwrap().len(), 2);
    let calls = data["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1, "{data}");
    assert_eq!(calls[0]["call_id"], mine["call_id"]);
    assert_ne!(calls[0]["call_id"], theirs["call_id"]);
    assert_eq!(calls[0]["number"], "+442071838750");

    let signed_out = app
        .new_browser()
        .get(app.url("/account-data.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), 401);
}

async fn every_account_function_needs_a_session_and_our_origin(app: TestApp) {
    let ada = person(&app, "Ada", "ada@example.com").await;
    let calls: [(&str, Vec<(&str, &str)>); 4] = [
        ("account/overview", vec![]),
        (
            "account/change-password",
            vec![
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
            ],
        ),
        ("account/sign-out-others", vec![]),
        ("account/delete", vec![("password", PASSWORD)]),
    ];
    for (function, form) in &calls {
        let response = app.call(&app.new_browser(), function, form).await;
        assert_eq!(response.status(), 401, "{function}");
        // Ada's own browser, from another site: refused before anything runs.
        let response = ada
            .client
            .post(app.url(&format!("/api/{function}")))
            .header("sec-fetch-site", "cross-site")
            .header("origin", "https://evil.example")
            .form(form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{function}");
    }
    assert!(signed_in(&app, &ada.client).await);
    assert_eq!(
        app.login(&app.new_browser(), "ada@example.com", PASSWORD)
            .await
            .status(),
        200,
        "the password is unchanged and the account still there"
    );
}

async fn the_account_forms_work_without_javascript(app: TestApp) {
    let ada = person(&app, "Ada", "ada@example.com").await;
    let signed_out = app
        .new_browser()
        .get(app.url("/account"))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), 303);
    assert_eq!(signed_out.headers()["location"], "/login?next=%2Faccount");

    let page = ada.client.get(app.url("/account")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    for wanted in [
        "action=\"/api/account/change-password\"",
        "action=\"/api/account/sign-out-others\"",
        "action=\"/api/account/delete\"",
        "href=\"/account-data.json\"",
        "ada@example.com",
        "(this session)",
    ] {
        assert!(html.contains(wanted), "{wanted} missing from the page");
    }
    let dialer = ada.client.get(app.url("/dialer")).send().await.unwrap();
    assert!(dialer.text().await.unwrap().contains("href=\"/account\""));

    let post = ada
        .client
        .post(app.url("/api/account/change-password"))
        .header("sec-fetch-site", "same-origin")
        .header("accept", "text/html")
        .header("referer", app.url("/account"))
        .form(&[
            ("current_password", PASSWORD),
            ("new_password", NEW_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 302);
    assert_eq!(post.headers()["location"], "/account?changed=password");
    let after = app.page(&ada.client, "/account?changed=password").await;
    assert!(after.contains("Password changed."));
}
