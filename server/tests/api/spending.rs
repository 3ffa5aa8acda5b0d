//! Spending controls on SQLite and PostgreSQL: a member's monthly cap and
//! the per-call maximum shaping the quote, the maximum duration and the
//! hold; the cap counting open holds and this month's charges; the default
//! cap for people who join; country rules; 20 racing calls of one team on a
//! shared wallet; and who may change what.

use crate::calls::{
    assert_books_balance, call_row, deliver_status, dial, grant, member, twilio_app, Member, LONDON,
};
use crate::common::fake_twilio::FakeTwilio;
use crate::common::TestApp;
use crate::on_both_databases;
use crate::roles::{team, Team};
use app::domain::{CallStatus, Money, Role};
use serde_json::Value;

on_both_databases!(
    a_members_cap_and_the_per_call_maximum_shape_the_maximum_duration_and_the_hold,
    a_cap_counts_open_holds_and_this_months_charges_but_not_last_months,
    the_default_cap_applies_to_people_who_join_and_members_keep_theirs,
    country_rules_refuse_with_their_reason_and_change_nothing,
    twenty_simultaneous_calls_of_a_team_never_exceed_a_cap_or_the_balance,
    only_owners_and_admins_change_controls_and_admins_never_an_owners_cap,
    bad_control_values_are_refused_and_change_nothing,
);

const BERLIN: &str = "+49 30 1234 5678";

async fn user_id(app: &TestApp, email: &str) -> String {
    sqlx::query_scalar("select user_id from app_user where email = $1")
        .bind(email)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

/// Calls a spending server function as `who`: the status and the body.
async fn post(app: &TestApp, who: &Member, function: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let mut fields = vec![("org_id", who.org_id.as_str())];
    fields.extend_from_slice(form);
    let response = app
        .call(&who.client, &format!("spending/{function}"), &fields)
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn set_cap(app: &TestApp, by: &Member, email: &str, cap: &str) -> u16 {
    let target = user_id(app, email).await;
    post(app, by, "member-cap", &[("user_id", &target), ("cap", cap)])
        .await
        .0
}

async fn quote(app: &TestApp, m: &Member, number: &str) -> Value {
    let response = app
        .call(
            &m.client,
            "calls/quote",
            &[("org_id", &m.org_id), ("number", number), ("country", "GB")],
        )
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// The amount of the ledger hold placed for a call.
async fn hold_of(app: &TestApp, call_id: &str) -> i64 {
    sqlx::query_scalar(
        "select hold.amount from hold join call on call.hold_id = hold.hold_id where call.call_id = $1",
    )
    .bind(call_id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
}

async fn audit_details(app: &TestApp, org_id: &str, action: &str) -> Vec<String> {
    sqlx::query_scalar(
        "select detail from org_audit where org_id = $1 and action = $2 order by created_at_ms, audit_id",
    )
    .bind(org_id)
    .bind(action)
    .fetch_all(&app.db.pool)
    .await
    .unwrap()
}

/// Everything a refused change must leave as it was.
async fn controls_snapshot(app: &TestApp) -> (i64, i64, i64, i64) {
    (
        app.count("select count(*) from member_cap").await,
        app.count("select count(*) from spending_policy").await,
        app.count("select count(*) from spending_country").await,
        app.count("select count(*) from org_audit").await,
    )
}

fn cents(n: i64) -> i64 {
    Money::from_cents(n).unwrap().micros()
}

async fn a_members_cap_and_the_per_call_maximum_shape_the_maximum_duration_and_the_hold(
    backend_app: TestApp,
) {
    let fake = FakeTwilio::start().await;
    let app = twilio_app(backend_app.backend, &fake).await;
    let Team {
        owner,
        placer,
        colleague,
        ..
    } = team(&app).await;
    grant(&app, &owner.org_id, 1_000).await; // $10: 500 minutes to London

    // Nothing set: the default per-call maximum of 60 minutes decides.
    let quoted = quote(&app, &colleague, LONDON).await;
    assert_eq!(quoted["Callable"]["max_duration_secs"], 3600, "{quoted}");
    assert_eq!(
        quoted["Callable"]["limit_note"],
        "Calls are limited to 60 minutes by your organization."
    );

    // A $0.50 cap: 25 minutes of London, and the hold is exactly that.
    assert_eq!(
        set_cap(&app, &owner, "placer@example.com", "0.50").await,
        200
    );
    let quoted = quote(&app, &placer, LONDON).await;
    assert_eq!(quoted["Callable"]["max_duration_secs"], 1500, "{quoted}");
    assert_eq!(
        quoted["Callable"]["limit_note"],
        "Your monthly limit of $0.50 set by your organization leaves $0.50 this month."
    );
    let (status, call) = dial(&app, &placer, LONDON, "capped").await;
    assert_eq!(status, 200, "{call}");
    let call_id = call["call_id"].as_str().unwrap();
    assert_eq!(call_row(&app, call_id).await.max_duration_secs, 1500);
    assert_eq!(hold_of(&app, call_id).await, cents(50));

    // A 10-minute per-call maximum: the uncapped colleague's call holds 10 minutes.
    let (status, _) = post(&app, &owner, "call-limit", &[("minutes", "10")]).await;
    assert_eq!(status, 200);
    let quoted = quote(&app, &colleague, LONDON).await;
    assert_eq!(quoted["Callable"]["max_duration_secs"], 600, "{quoted}");
    assert_eq!(
        quoted["Callable"]["limit_note"],
        "Calls are limited to 10 minutes by your organization."
    );
    let (status, call) = dial(&app, &colleague, LONDON, "short").await;
    assert_eq!(status, 200, "{call}");
    let call_id = call["call_id"].as_str().unwrap();
    assert_eq!(call_row(&app, call_id).await.max_duration_secs, 600);
    assert_eq!(hold_of(&app, call_id).await, cents(20));

    // The placer's live call holds the whole cap: a second call is refused
    // with the cap's reason, and nothing is held for it.
    let (status, refused) = dial(&app, &placer, LONDON, "over").await;
    assert_eq!(status, 409, "{refused}");
    assert!(
        refused
            .to_string()
            .contains("You have reached your monthly limit of $0.50 set by your organization."),
        "{refused}"
    );
    assert_eq!(app.count("select count(*) from call").await, 2);
    let balance = app.db.balance(&owner.org_id).await.unwrap();
    assert_eq!(balance.held.micros(), cents(70));
    assert_books_balance(&app, &owner.org_id).await;

    let changed = audit_details(&app, &owner.org_id, "call_limit_changed").await;
    assert_eq!(
        changed,
        vec!["Each call is now limited to 10 minutes (was 60 minutes)"]
    );
    let capped = audit_details(&app, &owner.org_id, "cap_changed").await;
    assert_eq!(
        capped,
        vec!["Monthly cap of Ada Caller (placer@example.com) changed from no cap to $0.50"]
    );
}

async fn a_cap_counts_open_holds_and_this_months_charges_but_not_last_months(backend_app: TestApp) {
    let fake = FakeTwilio::start().await;
    let app = twilio_app(backend_app.backend, &fake).await;
    let Team { owner, placer, .. } = team(&app).await;
    grant(&app, &owner.org_id, 1_000).await;
    assert_eq!(set_cap(&app, &owner, "placer@example.com", "1").await, 200);

    // Live: the call holds the whole $1.00 cap (50 minutes).
    let (status, call) = dial(&app, &placer, LONDON, "first").await;
    assert_eq!(status, 200, "{call}");
    let row = call_row(&app, call["call_id"].as_str().unwrap()).await;
    assert_eq!(row.max_duration_secs, 3000);
    let quoted = quote(&app, &placer, LONDON).await;
    assert_eq!(
        quoted["Refused"]["reason"],
        "You have reached your monthly limit of $1.00 set by your organization.",
        "{quoted}"
    );

    // It ends after 2 minutes: $0.04 charged, the hold released; $0.96 left: 48 minutes.
    for (status, sequence, duration) in [
        (CallStatus::InProgress, 0, None),
        (CallStatus::Completed, 1, Some(120)),
    ] {
        assert_eq!(
            deliver_status(&app, &row, status, sequence, duration).await,
            204
        );
    }
    assert_eq!(call_row(&app, &row.call_id).await.cost, Some(cents(4)));
    let quoted = quote(&app, &placer, LONDON).await;
    assert_eq!(quoted["Callable"]["max_duration_secs"], 2880, "{quoted}");
    assert_eq!(
        quoted["Callable"]["limit_note"],
        "Your monthly limit of $1.00 set by your organization leaves $0.96 this month."
    );

    // Buying credits does not lift the cap: the quote is the same.
    grant(&app, &owner.org_id, 5_000).await;
    assert_eq!(
        quote(&app, &placer, LONDON).await["Callable"]["max_duration_secs"],
        2880
    );

    // The same charge last month no longer counts.
    let last_month = app::server::spending::month_of(app::server::clock::now()).0 - 3600;
    sqlx::query("update call set ended_at = $1 where call_id = $2")
        .bind(last_month)
        .bind(&row.call_id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(
        quote(&app, &placer, LONDON).await["Callable"]["max_duration_secs"],
        3000
    );

    // The usage view shows this month's spend and minutes against the cap.
    sqlx::query("update call set ended_at = $1 where call_id = $2")
        .bind(app::server::clock::now())
        .bind(&row.call_id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let (status, view) = post(&app, &owner, "load", &[]).await;
    assert_eq!(status, 200, "{view}");
    let members = view["members"].as_array().unwrap();
    let placer_use = members
        .iter()
        .find(|m| m["email"] == "placer@example.com")
        .unwrap();
    assert_eq!(placer_use["cap"], cents(100));
    assert_eq!(placer_use["spent"], cents(4));
    assert_eq!(placer_use["held"], 0);
    assert_eq!(placer_use["minutes"], 2);
    assert_eq!(members.len(), 4);
    // A plain member sees only their own line.
    let (status, own) = post(&app, &placer, "load", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(own["manages"], false);
    let own = own["members"].as_array().unwrap();
    assert_eq!(own.len(), 1);
    assert_eq!(own[0]["email"], "placer@example.com");
    assert_eq!(own[0]["spent"], cents(4));
}

async fn the_default_cap_applies_to_people_who_join_and_members_keep_theirs(backend_app: TestApp) {
    let fake = FakeTwilio::start().await;
    let app = twilio_app(backend_app.backend, &fake).await;
    let Team { owner, placer, .. } = team(&app).await;
    grant(&app, &owner.org_id, 1_000).await;
    let (status, _) = post(&app, &owner, "default-cap", &[("cap", "0.10")]).await;
    assert_eq!(status, 200);

    // Existing members keep theirs (no cap).
    assert_eq!(
        quote(&app, &placer, LONDON).await["Callable"]["max_duration_secs"],
        3600
    );

    // Someone who joins now gets the default: $0.10 is 5 minutes of London.
    let newcomer = member(&app, "newcomer@example.com").await;
    let newcomer_id = user_id(&app, "newcomer@example.com").await;
    app::server::db::orgs::add_member(&app.db.pool, &owner.org_id, &newcomer_id, Role::Member, 0)
        .await
        .unwrap();
    let newcomer = Member {
        client: newcomer.client,
        org_id: owner.org_id.clone(),
    };
    let quoted = quote(&app, &newcomer, LONDON).await;
    assert_eq!(quoted["Callable"]["max_duration_secs"], 300, "{quoted}");
    assert_eq!(
        quoted["Callable"]["limit_note"],
        "Your monthly limit of $0.10 set by your organization leaves $0.10 this month."
    );
    let (status, call) = dial(&app, &newcomer, LONDON, "new").await;
    assert_eq!(status, 200, "{call}");
    assert_eq!(
        hold_of(&app, call["call_id"].as_str().unwrap()).await,
        cents(10)
    );

    // Changing the default again leaves the newcomer's $0.10 as it is.
    let (status, _) = post(&app, &owner, "default-cap", &[("cap", "")]).await;
    assert_eq!(status, 200);
    let (_, view) = post(&app, &owner, "load", &[]).await;
    assert_eq!(view["default_cap"], Value::Null);
    let line = |email: &str| {
        view["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["email"] == email)
            .cloned()
            .unwrap()
    };
    assert_eq!(line("newcomer@example.com")["cap"], cents(10));
    assert_eq!(line("placer@example.com")["cap"], Value::Null);
    assert_eq!(
        audit_details(&app, &owner.org_id, "default_cap_changed").await,
        vec![
            "Default monthly cap for people who join changed from no cap to $0.10; current members keep theirs",
            "Default monthly cap for people who join changed from $0.10 to no cap; current members keep theirs",
        ]
    );
}

async fn country_rules_refuse_with_their_reason_and_change_nothing(backend_app: TestApp) {
    let fake = FakeTwilio::start().await;
    let app = twilio_app(backend_app.backend, &fake).await;
    let Team { owner, placer, .. } = team(&app).await;
    grant(&app, &owner.org_id, 1_000).await;
    let germany_refused = "Calls to Germany are not allowed by your organization.";

    for (mode, countries) in [("allow", "GB, France"), ("deny", "germany")] {
        let (status, body) = post(
            &app,
            &owner,
            "country-rule",
            &[("mode", mode), ("countries", countries)],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let quoted = quote(&app, &placer, BERLIN).await;
        assert_eq!(quoted["Refused"]["reason"], germany_refused, "{mode}");
        let calls_before = app.count("select count(*) from call").await;
        let held_before = app.db.balance(&owner.org_id).await.unwrap();
        let (status, refused) = dial(&app, &placer, BERLIN, &format!("de-{mode}")).await;
        assert_eq!(status, 409, "{refused}");
        assert!(refused.to_string().contains(germany_refused), "{refused}");
        assert_eq!(app.count("select count(*) from call").await, calls_before);
        assert_eq!(app.db.balance(&owner.org_id).await.unwrap(), held_before);
        // London is allowed under both rules.
        assert!(quote(&app, &placer, LONDON).await["Callable"].is_object());
        // The deck's blocked ranges stay blocked whatever the rule.
        let blocked = quote(&app, &placer, "+44 70 1234 5678").await;
        assert!(
            blocked["Refused"]["reason"]
                .as_str()
                .unwrap()
                .contains("blocked"),
            "{blocked}"
        );
    }
    let (status, _) = post(
        &app,
        &owner,
        "country-rule",
        &[("mode", "all"), ("countries", "")],
    )
    .await;
    assert_eq!(status, 200);
    assert!(quote(&app, &placer, BERLIN).await["Callable"].is_object());
    let (status, call) = dial(&app, &placer, BERLIN, "de-all").await;
    assert_eq!(status, 200, "{call}");
    assert_eq!(
        audit_details(&app, &owner.org_id, "country_rule_changed").await,
        vec![
            "Destination countries: allow only France, United Kingdom (was: allow every country)",
            "Destination countries: allow every country except Germany (was: allow only France, United Kingdom)",
            "Destination countries: allow every country (was: allow every country except Germany)",
        ]
    );
}

async fn twenty_simultaneous_calls_of_a_team_never_exceed_a_cap_or_the_balance(
    backend_app: TestApp,
) {
    let fake = FakeTwilio::start().await;
    let app = twilio_app(backend_app.backend, &fake).await;
    let team = team(&app).await;
    let org_id = team.owner.org_id.clone();
    // $0.50 in the wallet; calls of at most 2 minutes ($0.04 each to London).
    grant(&app, &org_id, 50).await;
    assert_eq!(
        post(&app, &team.owner, "call-limit", &[("minutes", "2")])
            .await
            .0,
        200
    );
    let caps = [
        ("owner@example.com", Some(20)),
        ("admin@example.com", None),
        ("placer@example.com", Some(10)),
        ("colleague@example.com", Some(6)),
    ];
    for (email, cap) in caps {
        if let Some(cap) = cap {
            let cap = format!("0.{cap:02}");
            assert_eq!(set_cap(&app, &team.owner, email, &cap).await, 200);
        }
    }
    let people = [&team.owner, &team.admin, &team.placer, &team.colleague];
    let dials = (0..20).map(|i| {
        let (app, who) = (&app, people[i % 4]);
        async move { dial(app, who, LONDON, &format!("race-{i}")).await }
    });
    let answers = futures::future::join_all(dials).await;
    let placed = answers.iter().filter(|(status, _)| *status == 200).count();
    assert!(placed >= 1, "{answers:?}");
    for (status, body) in answers.iter().filter(|(status, _)| *status != 200) {
        assert_eq!(*status, 409, "{body}");
        let text = body.to_string();
        assert!(
            text.contains("monthly limit") || text.contains("Not enough credit"),
            "{body}"
        );
    }
    // No member's holds exceed their cap, and all holds fit the balance.
    for (email, cap) in caps {
        let held: i64 = sqlx::query_scalar(
            "select cast(coalesce(sum(hold.amount), 0) as bigint)
               from call join hold on hold.hold_id = call.hold_id
               join app_user on app_user.user_id = call.user_id
              where app_user.email = $1 and hold.status = 'open'",
        )
        .bind(email)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
        if let Some(cap) = cap {
            assert!(
                held <= cents(cap),
                "{email}: {held} held over a cap of {cap} cents"
            );
        }
        let longest: Option<i64> = sqlx::query_scalar(
            "select max(max_duration_secs) from call join app_user on app_user.user_id = call.user_id
              where app_user.email = $1",
        )
        .bind(email)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
        assert!(
            longest.unwrap_or(0) <= 120,
            "{email}: the per-call maximum holds"
        );
    }
    let balance = app.db.balance(&org_id).await.unwrap();
    assert!(balance.held <= balance.balance, "{balance:?}");
    assert_eq!(
        app.count("select count(*) from call").await,
        i64::try_from(placed).unwrap()
    );
    assert_books_balance(&app, &org_id).await;
}

async fn only_owners_and_admins_change_controls_and_admins_never_an_owners_cap(app: TestApp) {
    let team = team(&app).await;
    let cases: [(&str, &Member, &str, u16); 9] = [
        (
            "a member, a colleague's cap",
            &team.colleague,
            "placer@example.com",
            403,
        ),
        (
            "a member, their own cap",
            &team.placer,
            "placer@example.com",
            403,
        ),
        (
            "an admin, the owner's cap",
            &team.admin,
            "owner@example.com",
            403,
        ),
        (
            "an admin, a member's cap",
            &team.admin,
            "placer@example.com",
            200,
        ),
        (
            "an admin, their own cap",
            &team.admin,
            "admin@example.com",
            200,
        ),
        (
            "the owner, an admin's cap",
            &team.owner,
            "admin@example.com",
            200,
        ),
        (
            "the owner, their own cap",
            &team.owner,
            "owner@example.com",
            200,
        ),
        (
            "the owner, a member's cap",
            &team.owner,
            "colleague@example.com",
            200,
        ),
        (
            "the owner, someone outside",
            &team.owner,
            "stranger@example.com",
            404,
        ),
    ];
    member(&app, "stranger@example.com").await;
    for (n, (who, by, target, expected)) in cases.into_iter().enumerate() {
        let before = controls_snapshot(&app).await;
        let cap = format!("{}", n + 1);
        assert_eq!(set_cap(&app, by, target, &cap).await, expected, "{who}");
        let after = controls_snapshot(&app).await;
        if expected == 200 {
            assert_eq!(after.3, before.3 + 1, "{who}: one audit entry");
        } else {
            assert_eq!(after, before, "{who}: nothing changes");
        }
    }
    let changes: [(&str, &[(&str, &str)]); 3] = [
        ("default-cap", &[("cap", "5")]),
        ("call-limit", &[("minutes", "30")]),
        ("country-rule", &[("mode", "deny"), ("countries", "DE")]),
    ];
    for (function, form) in changes {
        for (who, by, expected) in [
            ("a member", &team.placer, 403),
            ("an admin", &team.admin, 200),
            ("the owner", &team.owner, 200),
        ] {
            let before = controls_snapshot(&app).await;
            let (status, body) = post(&app, by, function, form).await;
            assert_eq!(status, expected, "{who} {function}: {body}");
            let after = controls_snapshot(&app).await;
            if expected == 403 {
                assert_eq!(after, before, "{who} {function}: nothing changes");
                assert_eq!(body, Value::from("Forbidden"));
            } else {
                assert_eq!(after.3, before.3 + 1, "{who} {function}: one audit entry");
            }
        }
    }
    // Another organization's owner cannot reach this one at all.
    let outsider = member(&app, "outsider@example.com").await;
    let intruder = Member {
        client: outsider.client,
        org_id: team.owner.org_id.clone(),
    };
    let (status, _) = post(&app, &intruder, "call-limit", &[("minutes", "5")]).await;
    assert_eq!(status, 404);
}

async fn bad_control_values_are_refused_and_change_nothing(app: TestApp) {
    let team = team(&app).await;
    let owner = &team.owner;
    let placer_id = user_id(&app, "placer@example.com").await;
    // (server function, form, the field the error names)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let bad: [Case; 9] = [
        (
            "member-cap",
            vec![("user_id", &placer_id), ("cap", "-5")],
            "cap",
        ),
        (
            "member-cap",
            vec![("user_id", &placer_id), ("cap", "lots")],
            "cap",
        ),
        (
            "member-cap",
            vec![("user_id", &placer_id), ("cap", "100000.01")],
            "cap",
        ),
        ("default-cap", vec![("cap", "1.005")], "default_cap"),
        ("call-limit", vec![("minutes", "0")], "minutes"),
        ("call-limit", vec![("minutes", "241")], "minutes"),
        (
            "country-rule",
            vec![("mode", "allow"), ("countries", "GB, Atlantis")],
            "countries",
        ),
        (
            "country-rule",
            vec![("mode", "allow"), ("countries", "")],
            "countries",
        ),
        (
            "country-rule",
            vec![("mode", "some"), ("countries", "GB")],
            "mode",
        ),
    ];
    for (function, form, field) in bad {
        let before = controls_snapshot(&app).await;
        let (status, body) = post(&app, owner, function, &form).await;
        assert_eq!(status, 422, "{function} {form:?}: {body}");
        assert_eq!(body["Validation"]["field"], field, "{body}");
        assert_eq!(controls_snapshot(&app).await, before, "{function} {form:?}");
    }
}
