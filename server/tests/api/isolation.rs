//! Tenant isolation and roles: server functions called directly, with another
//! organization's ids, read and change nothing of it.

use crate::common::TestApp;
use crate::on_both_databases;
use serde_json::Value;

on_both_databases!(
    a_member_of_one_organization_cannot_read_or_change_another,
    only_owners_and_admins_can_rename_an_organization,
    a_person_can_create_organizations_and_switch_between_them,
    logged_out_callers_are_refused_by_every_organization_function,
);

async fn org_id_of(app: &TestApp, browser: &reqwest::Client) -> String {
    app.account(browser).await["current_org"]["org_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn a_member_of_one_organization_cannot_read_or_change_another(app: TestApp) {
    let (alice, bob) = (app.new_browser(), app.new_browser());
    app.register(&alice, "Alice", "alice@example.com").await;
    app.register(&bob, "Bob", "bob@example.com").await;
    let bobs_org = org_id_of(&app, &bob).await;

    app.assert_not_found(&alice, "org/settings", &[("org_id", &bobs_org)])
        .await;

    let rename = app
        .call(
            &alice,
            "org/rename",
            &[("org_id", &bobs_org), ("name", "Pwned")],
        )
        .await;
    assert_eq!(rename.status(), 404);
    let switch = app
        .call(&alice, "org/switch", &[("org_id", &bobs_org)])
        .await;
    assert_eq!(switch.status(), 404);

    // Bob's organization is untouched and Alice still works in her own.
    let settings: Value = app
        .call(&bob, "org/settings", &[("org_id", &bobs_org)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(settings["org"]["name"], "Bob's organization");
    assert_eq!(settings["members"].as_array().unwrap().len(), 1);
    // The number people called see: the simulated carrier's caller ID here.
    assert_eq!(settings["caller_id"], "+15005550006");
    assert_ne!(org_id_of(&app, &alice).await, bobs_org);
}

async fn only_owners_and_admins_can_rename_an_organization(app: TestApp) {
    let (owner, member) = (app.new_browser(), app.new_browser());
    app.register(&owner, "Olive", "olive@example.com").await;
    app.register(&member, "Max", "max@example.com").await;
    let org = org_id_of(&app, &owner).await;
    let (max_id,): (String,) =
        sqlx::query_as("select user_id from app_user where email = 'max@example.com'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    app::server::db::orgs::add_member(&app.db.pool, &org, &max_id, app::domain::Role::Member, 0)
        .await
        .unwrap();

    // A member may read, not change.
    let read: Value = app
        .call(&member, "org/settings", &[("org_id", &org)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["org"]["role"], "member");
    assert_eq!(read["members"].as_array().unwrap().len(), 2);
    let refused = app
        .call(
            &member,
            "org/rename",
            &[("org_id", &org), ("name", "Max's now")],
        )
        .await;
    assert_eq!(refused.status(), 403);
    assert_eq!(
        refused.json::<Value>().await.unwrap(),
        Value::from("Forbidden")
    );

    // An admin may.
    sqlx::query("update membership set role = 'admin' where user_id = $1")
        .bind(&max_id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(
        app.call(
            &member,
            "org/rename",
            &[("org_id", &org), ("name", "Team Olive")]
        )
        .await
        .status(),
        200
    );
    // Bad input changes nothing.
    let blank = app
        .call(&owner, "org/rename", &[("org_id", &org), ("name", "   ")])
        .await;
    assert_eq!(blank.status(), 422);
    let settings: Value = app
        .call(&owner, "org/settings", &[("org_id", &org)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(settings["org"]["name"], "Team Olive");
}

async fn a_person_can_create_organizations_and_switch_between_them(app: TestApp) {
    let browser = app.new_browser();
    app.register(&browser, "Ada", "ada@example.com").await;
    let personal = org_id_of(&app, &browser).await;

    let created = app
        .call(
            &browser,
            "org/create",
            &[("name", "Analytical Engines Ltd")],
        )
        .await;
    assert_eq!(created.status(), 200);
    let me = app.account(&browser).await;
    assert_eq!(me["current_org"]["name"], "Analytical Engines Ltd");
    assert_eq!(me["current_org"]["role"], "owner");
    assert_eq!(me["orgs"].as_array().unwrap().len(), 2);

    let switched = app
        .call(
            &browser,
            "org/switch",
            &[("org_id", &personal), ("next", "/wallet")],
        )
        .await;
    assert_eq!(switched.status(), 200);
    assert_eq!(switched.headers()["location"], "/wallet");
    assert_eq!(org_id_of(&app, &browser).await, personal);
}

async fn logged_out_callers_are_refused_by_every_organization_function(app: TestApp) {
    let owner = app.new_browser();
    app.register(&owner, "Olive", "olive@example.com").await;
    let org = org_id_of(&app, &owner).await;
    let stranger = app.new_browser();
    for (function, form) in [
        ("org/settings", vec![("org_id", org.as_str())]),
        ("org/rename", vec![("org_id", org.as_str()), ("name", "x")]),
        ("org/switch", vec![("org_id", org.as_str())]),
        ("org/create", vec![("name", "x")]),
    ] {
        let response = app.call(&stranger, function, &form).await;
        assert_eq!(response.status(), 401, "{function}");
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            Value::from("Unauthorized")
        );
    }
    assert_eq!(app.count("select count(*) from org").await, 1);
}
