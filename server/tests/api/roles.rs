//! Who may do what inside one organization, table-driven, on both databases:
//! ending a call (the member who placed it, or an owner or admin), and
//! dismissing the notices meant for the people who manage billing.

use crate::calls::{call_row, dial, grant, member, parent_sid, twilio_app, Member, LONDON};
use crate::common::fake_twilio::FakeTwilio;
use crate::common::TestApp;
use crate::on_both_databases;
use crate::teams;
use app::domain::Role;

on_both_databases!(
    only_the_member_who_placed_a_call_or_an_owner_or_admin_can_end_it,
    only_owners_and_admins_can_dismiss_an_organizations_notices,
);

/// One organization with an owner, an admin and two plain members, each
/// signed in in their own browser.
pub(crate) struct Team {
    pub(crate) owner: Member,
    pub(crate) admin: Member,
    pub(crate) placer: Member,
    pub(crate) colleague: Member,
}

/// Built the way people build one: the owner invites each person by email,
/// and each registers from the link in their invitation mail (so their
/// session works in this organization).
pub(crate) async fn team(app: &TestApp) -> Team {
    let owner = member(app, "owner@example.com").await;
    let org_id = owner.org_id.clone();
    let mut joined = Vec::new();
    for (email, role) in [
        ("admin@example.com", Role::Admin),
        ("placer@example.com", Role::Member),
        ("colleague@example.com", Role::Member),
    ] {
        let invited = teams::invite(app, &owner.client, &org_id, email, role.as_str()).await;
        assert_eq!(invited.status(), 200, "inviting {email}");
        let link = teams::link_in_outbox(app, email).await;
        let token = link.rsplit('/').next().unwrap();
        let client = app.new_browser();
        let registered = teams::register_from(app, &client, token, "Ada Caller").await;
        assert!(registered.status().is_success(), "{email} joins");
        joined.push(Member {
            client,
            org_id: org_id.clone(),
        });
    }
    let [admin, placer, colleague] = <[Member; 3]>::try_from(joined).ok().unwrap();
    Team {
        owner,
        admin,
        placer,
        colleague,
    }
}

async fn only_the_member_who_placed_a_call_or_an_owner_or_admin_can_end_it(backend_app: TestApp) {
    let fake = FakeTwilio::start().await;
    let app = twilio_app(backend_app.backend, &fake).await;
    let team = team(&app).await;
    let cases: [(&str, &Member, u16); 4] = [
        ("another plain member", &team.colleague, 403),
        ("the member who placed it", &team.placer, 200),
        ("an admin", &team.admin, 200),
        ("the owner", &team.owner, 200),
    ];
    for (n, (who, ender, expected)) in cases.into_iter().enumerate() {
        // Every call is placed by the same plain member (and holds all
        // that is available: a fresh grant for each).
        grant(&app, &team.owner.org_id, 100).await;
        let (status, call) = dial(&app, &team.placer, LONDON, &format!("end-{n}")).await;
        assert_eq!(status, 200, "{call}");
        let call_id = call["call_id"].as_str().unwrap().to_owned();
        let response = app
            .call(
                &ender.client,
                "calls/end",
                &[("org_id", &team.owner.org_id), ("call_id", &call_id)],
            )
            .await;
        assert_eq!(response.status().as_u16(), expected, "{who}");
        let row = call_row(&app, &call_id).await;
        // Ending a browser-started call hangs up the browser's leg.
        let sid = parent_sid(&call_id);
        if expected == 200 {
            assert!(row.end_requested_at.is_some(), "{who}");
            assert_eq!(fake.endings(&sid), vec!["completed"], "{who}");
        } else {
            assert_eq!(
                response.json::<serde_json::Value>().await.unwrap(),
                serde_json::Value::from("Forbidden"),
                "{who}"
            );
            assert_eq!(row.end_requested_at, None, "{who}: nothing recorded");
            assert!(fake.endings(&sid).is_empty(), "{who}: nothing sent");
        }
    }
}

async fn only_owners_and_admins_can_dismiss_an_organizations_notices(app: TestApp) {
    let team = team(&app).await;
    let org_id = team.owner.org_id.clone();
    let cases: [(&str, &Member, u16); 4] = [
        ("a plain member", &team.colleague, 403),
        ("another plain member", &team.placer, 403),
        ("an admin", &team.admin, 200),
        ("the owner", &team.owner, 200),
    ];
    for (who, person, expected) in cases {
        let mut conn = app.db.pool.acquire().await.unwrap();
        app::server::db::notices::add_notice(
            &mut conn,
            &org_id,
            "auto_recharge_disabled",
            &format!("Auto-recharge was switched off ({who})."),
            0,
        )
        .await
        .unwrap();
        drop(conn);
        let notice_id: String = sqlx::query_scalar(
            "select notice_id from notice where org_id = $1 and dismissed_at is null",
        )
        .bind(&org_id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
        let response = app
            .call(
                &person.client,
                "wallet/dismiss-notice",
                &[("org_id", &org_id), ("notice_id", &notice_id)],
            )
            .await;
        assert_eq!(response.status().as_u16(), expected, "{who}");
        let still_open = app
            .count(&format!(
                "select count(*) from notice where notice_id = '{notice_id}' and dismissed_at is null"
            ))
            .await;
        if expected == 200 {
            assert_eq!(still_open, 0, "{who}");
        } else {
            assert_eq!(still_open, 1, "{who}: the notice stays");
            // Clear it the way an owner would, for the next case.
            let dismissed = app
                .call(
                    &team.owner.client,
                    "wallet/dismiss-notice",
                    &[("org_id", &org_id), ("notice_id", &notice_id)],
                )
                .await;
            assert_eq!(dismissed.status(), 200);
        }
    }
}
