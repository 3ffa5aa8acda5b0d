//! Teams over HTTP, on SQLite and PostgreSQL: invitations (mailed through a
//! real SMTP server, followed to join; used once; expiry; revocation; the
//! wrong account; existing members; registering from the link), the seat
//! check, every role rule as a table of cases (who may change whom to what,
//! remove whom, the last owner, transferring ownership), leaving, and
//! removing a member in the middle of a call.

use crate::calls::{
    call_row, charges, deliver_status, dial, grant, london_rate, member, parent_sid, twilio_app,
    Member, LONDON,
};
use crate::common::fake_twilio::FakeTwilio;
use crate::common::smtp::SmtpSink;
use crate::common::{TestApp, PASSWORD, PUBLIC_URL};
use crate::on_both_databases;
use crate::roles::{team, Team};
use app::domain::rating;
use app::domain::{CallStatus, EndReason, Role};
use reqwest::{Client, Response};
use serde_json::Value;

on_both_databases!(
    the_invitation_mailed_through_smtp_is_followed_to_register_and_join,
    who_may_invite_as_what,
    a_signed_in_invitee_joins_at_once_and_the_link_works_once,
    an_expired_link_changes_nothing_and_a_resend_makes_a_new_one,
    a_revoked_link_changes_nothing,
    another_account_or_an_existing_member_is_told_and_nothing_changes,
    inviting_a_member_or_someone_already_invited_is_refused,
    an_invitation_over_the_seat_limit_is_refused,
    who_may_change_whom_to_what,
    who_may_remove_whom_and_the_last_owner_stays,
    only_an_owner_transfers_ownership_and_becomes_an_admin,
    everyone_but_the_last_owner_may_leave,
    a_member_removed_during_a_call_is_cut_off_and_charged_exactly_the_time_used,
    a_removed_member_past_the_guard_still_cannot_start_a_call,
    the_members_page_works_without_javascript,
);

/// Invites `email`, first giving an organization on the Free plan (one
/// seat) room for a team, as an operator would (`org.seat_limit`); the plan's
/// own seats are the subscription tests' subject.
pub(crate) async fn invite(
    app: &TestApp,
    client: &Client,
    org_id: &str,
    email: &str,
    role: &str,
) -> Response {
    sqlx::query("update org set seat_limit = 50 where org_id = $1 and seat_limit is null")
        .bind(org_id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    send_invitation(app, client, org_id, email, role).await
}

/// Invites `email` as the organization's plan and seats stand.
pub(crate) async fn send_invitation(
    app: &TestApp,
    client: &Client,
    org_id: &str,
    email: &str,
    role: &str,
) -> Response {
    app.call(
        client,
        "team/invite",
        &[("org_id", org_id), ("email", email), ("role", role)],
    )
    .await
}

/// The invitation link in the newest mail to `email` in the outbox.
pub(crate) async fn link_in_outbox(app: &TestApp, email: &str) -> String {
    let body: String = sqlx::query_scalar(
        "select body from outbox_email where to_address = $1 order by created_at desc, email_id desc limit 1",
    )
    .bind(email)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    link_in(&body)
}

fn link_in(text: &str) -> String {
    text.split_whitespace()
        .find(|word| word.contains("/invite/"))
        .expect("an invitation link in the mail")
        .to_owned()
}

fn token_of(link: &str) -> String {
    link.rsplit('/').next().unwrap().to_owned()
}

async fn accept(app: &TestApp, client: &Client, token: &str) -> Response {
    app.call(client, "invite/accept", &[("token", token)]).await
}

pub(crate) async fn register_from(
    app: &TestApp,
    client: &Client,
    token: &str,
    name: &str,
) -> Response {
    app.call(
        client,
        "invite/register",
        &[("token", token), ("name", name), ("password", PASSWORD)],
    )
    .await
}

async fn user_id(app: &TestApp, email: &str) -> String {
    sqlx::query_scalar("select user_id from app_user where email = $1")
        .bind(email)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

async fn role_in(app: &TestApp, org_id: &str, email: &str) -> Option<String> {
    sqlx::query_scalar(
        "select membership.role from membership join app_user on app_user.user_id = membership.user_id
          where membership.org_id = $1 and app_user.email = $2",
    )
    .bind(org_id)
    .bind(email)
    .fetch_optional(&app.db.pool)
    .await
    .unwrap()
}

async fn set_role(app: &TestApp, org_id: &str, email: &str, role: Role) {
    let user = user_id(app, email).await;
    app::server::db::orgs::set_role(&app.db.pool, org_id, &user, role)
        .await
        .unwrap();
}

async fn team_view(app: &TestApp, client: &Client, org_id: &str) -> Value {
    let response = app.call(client, "team/load", &[("org_id", org_id)]).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn status_of(view: &Value, email: &str) -> String {
    view["invitations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["email"] == email)
        .map(|i| i["status"].as_str().unwrap().to_owned())
        .unwrap_or_default()
}

async fn error_text(response: Response) -> String {
    response.text().await.unwrap()
}

async fn audit_count(app: &TestApp, action: &str) -> i64 {
    app.count(&format!(
        "select count(*) from org_audit where action = '{action}'"
    ))
    .await
}

async fn the_invitation_mailed_through_smtp_is_followed_to_register_and_join(app: TestApp) {
    let sink = SmtpSink::start();
    let settings = sink.settings();
    let extra: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = TestApp::spawn_with(app.backend, &extra).await;
    let owner = member(&app, "owner@example.com").await;
    let invited = invite(
        &app,
        &owner.client,
        &owner.org_id,
        "Colleague@Example.com",
        "admin",
    )
    .await;
    assert_eq!(invited.status(), 200, "{}", error_text(invited).await);

    let delivered = sink.wait_for(1).await;
    let mail = &delivered[0];
    assert_eq!(mail.rcpt_tos, ["colleague@example.com"]);
    assert!(mail.subject.contains("invites you"), "{}", mail.subject);
    let text = mail.text.as_deref().expect("a plain-text part");
    let html = mail.html.as_deref().expect("an HTML part");
    let link = link_in(text);
    assert!(link.starts_with(&format!("{PUBLIC_URL}/invite/")), "{link}");
    assert!(html.contains(&format!("href=\"{link}\"")), "{html}");
    let token = token_of(&link);
    assert_eq!(token.len(), 64);
    // Only the hash is stored.
    assert_eq!(
        app.count(&format!(
            "select count(*) from invitation where token_hash = '{token}'"
        ))
        .await,
        0
    );
    app.run_jobs_until_count("select count(*) from outbox_email where status = 'sent'", 1)
        .await;
    let view = team_view(&app, &owner.client, &owner.org_id).await;
    assert_eq!(status_of(&view, "colleague@example.com"), "sent");
    // The admin is shown the link too (while the invitation is open).
    assert_eq!(view["fresh_link"]["link"], link.as_str());

    // Following the link: the page says who invites whom, and offers to register.
    let colleague = app.new_browser();
    let path = link.strip_prefix(PUBLIC_URL).unwrap();
    let page = colleague.get(app.url(path)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(
        page.contains("Ada Caller invites colleague@example.com"),
        "{page}"
    );
    assert!(page.contains("Create account and join"), "{page}");

    let joined = register_from(&app, &colleague, &token, "Col League").await;
    assert_eq!(joined.status(), 200, "{}", error_text(joined).await);
    assert_eq!(joined.headers()["location"], "/dialer");
    let account = app.account(&colleague).await;
    assert_eq!(account["email"], "colleague@example.com");
    assert_eq!(account["current_org"]["org_id"], owner.org_id.as_str());
    assert_eq!(account["current_org"]["role"], "admin");
    assert_eq!(
        account["orgs"].as_array().unwrap().len(),
        2,
        "and a personal one"
    );
    let view = team_view(&app, &owner.client, &owner.org_id).await;
    assert_eq!(status_of(&view, "colleague@example.com"), "accepted");
    assert!(view["fresh_link"].is_null(), "no longer shown once used");
    assert_eq!(audit_count(&app, "member_invited").await, 1);
    assert_eq!(audit_count(&app, "invitation_accepted").await, 1);
}

async fn who_may_invite_as_what(app: TestApp) {
    let team = team(&app).await;
    let org = team.owner.org_id.clone();
    let cases: [(&str, &Member, &str, u16); 7] = [
        ("the owner invites an owner", &team.owner, "owner", 200),
        ("the owner invites an admin", &team.owner, "admin", 200),
        ("an admin invites a member", &team.admin, "member", 200),
        ("an admin invites an admin", &team.admin, "admin", 200),
        ("an admin invites an owner", &team.admin, "owner", 409),
        ("a member invites a member", &team.colleague, "member", 403),
        ("a member invites an admin", &team.colleague, "admin", 403),
    ];
    for (n, (case, who, role, expected)) in cases.into_iter().enumerate() {
        let before = app.count("select count(*) from invitation").await;
        let email = format!("new{n}@example.com");
        let response = invite(&app, &who.client, &org, &email, role).await;
        assert_eq!(response.status().as_u16(), expected, "{case}");
        let after = app.count("select count(*) from invitation").await;
        assert_eq!(after - before, i64::from(expected == 200), "{case}");
        if expected == 409 {
            assert!(
                error_text(response).await.contains("only an owner"),
                "{case}"
            );
        }
    }
    // Someone outside cannot tell the organization exists.
    let outsider = member(&app, "outsider@example.com").await;
    app.assert_not_found(
        &outsider.client,
        "team/invite",
        &[
            ("org_id", &org),
            ("email", "x@example.com"),
            ("role", "member"),
        ],
    )
    .await;
}

async fn a_signed_in_invitee_joins_at_once_and_the_link_works_once(app: TestApp) {
    let owner = member(&app, "owner@example.com").await;
    let invitee = member(&app, "invitee@example.com").await;
    assert_eq!(
        invite(
            &app,
            &owner.client,
            &owner.org_id,
            "invitee@example.com",
            "member"
        )
        .await
        .status(),
        200
    );
    let token = token_of(&link_in_outbox(&app, "invitee@example.com").await);
    let page = app.page(&invitee.client, &format!("/invite/{token}")).await;
    assert!(page.contains("Join the organization"), "{page}");
    let joined = accept(&app, &invitee.client, &token).await;
    assert_eq!(joined.status(), 200);
    assert_eq!(
        role_in(&app, &owner.org_id, "invitee@example.com")
            .await
            .as_deref(),
        Some("member")
    );
    let account = app.account(&invitee.client).await;
    assert_eq!(
        account["current_org"]["org_id"],
        owner.org_id.as_str(),
        "now their current one"
    );

    // Used: a second use, or registering with it, changes nothing.
    let again = accept(&app, &invitee.client, &token).await;
    assert_eq!(again.status(), 409);
    assert!(error_text(again).await.contains("already used"));
    let stranger = app.new_browser();
    let register = register_from(&app, &stranger, &token, "Someone").await;
    assert_eq!(register.status(), 409);
    assert_eq!(app.count("select count(*) from membership").await, 3);
    assert_eq!(audit_count(&app, "invitation_accepted").await, 1);
    // A made-up token is refused the same way.
    let made_up = accept(&app, &invitee.client, &"ab".repeat(32)).await;
    assert_eq!(made_up.status(), 409);
}

async fn an_expired_link_changes_nothing_and_a_resend_makes_a_new_one(app: TestApp) {
    let owner = member(&app, "owner@example.com").await;
    invite(
        &app,
        &owner.client,
        &owner.org_id,
        "late@example.com",
        "member",
    )
    .await;
    let old = token_of(&link_in_outbox(&app, "late@example.com").await);
    // Seven days and a second later.
    sqlx::query("update invitation set expires_at = created_at - 1")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let view = team_view(&app, &owner.client, &owner.org_id).await;
    assert_eq!(status_of(&view, "late@example.com"), "expired");
    let late = app.new_browser();
    let refused = register_from(&app, &late, &old, "Late Comer").await;
    assert_eq!(refused.status(), 409);
    assert!(error_text(refused).await.contains("expired"));
    assert_eq!(
        app.count("select count(*) from app_user where email = 'late@example.com'")
            .await,
        0
    );

    // Resending: a new link, the old one stops working.
    let invitation_id = view["invitations"][0]["invitation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resent = app
        .call(
            &owner.client,
            "team/resend",
            &[("org_id", &owner.org_id), ("invitation_id", &invitation_id)],
        )
        .await;
    assert_eq!(resent.status(), 200);
    let view = team_view(&app, &owner.client, &owner.org_id).await;
    assert_eq!(status_of(&view, "late@example.com"), "pending");
    // The new link is shown to the admin, and mailed.
    let new = token_of(view["fresh_link"]["link"].as_str().unwrap());
    assert_ne!(new, old);
    assert_eq!(
        app.count(&format!(
            "select count(*) from outbox_email where to_address = 'late@example.com' and body like '%{new}%'"
        ))
        .await,
        1
    );
    assert_eq!(audit_count(&app, "invitation_resent").await, 1);
    let page = app.page(&late, &format!("/invite/{old}")).await;
    assert!(page.contains("not valid"), "{page}");
    assert_eq!(
        register_from(&app, &late, &old, "Late Comer")
            .await
            .status(),
        409
    );
    assert_eq!(
        register_from(&app, &late, &new, "Late Comer")
            .await
            .status(),
        200
    );
    assert_eq!(
        role_in(&app, &owner.org_id, "late@example.com")
            .await
            .as_deref(),
        Some("member")
    );
}

async fn a_revoked_link_changes_nothing(app: TestApp) {
    let team = team(&app).await;
    let org = team.owner.org_id.clone();
    invite(&app, &team.owner.client, &org, "boss@example.com", "owner").await;
    invite(&app, &team.admin.client, &org, "temp@example.com", "member").await;
    let view = team_view(&app, &team.owner.client, &org).await;
    let id_of = |email: &str| {
        view["invitations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["email"] == email)
            .unwrap()["invitation_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let revoke = |client: &Client, id: String| {
        let org = org.clone();
        let app = &app;
        let client = client.clone();
        async move {
            app.call(
                &client,
                "team/revoke",
                &[("org_id", &org), ("invitation_id", &id)],
            )
            .await
            .status()
            .as_u16()
        }
    };
    // Admins do not manage an owner's invitation; members manage none.
    assert_eq!(
        revoke(&team.admin.client, id_of("boss@example.com")).await,
        409
    );
    assert_eq!(
        revoke(&team.colleague.client, id_of("temp@example.com")).await,
        403
    );
    let token = token_of(&link_in_outbox(&app, "temp@example.com").await);
    assert_eq!(
        revoke(&team.admin.client, id_of("temp@example.com")).await,
        200
    );
    assert_eq!(
        revoke(&team.admin.client, id_of("temp@example.com")).await,
        409,
        "once"
    );
    let view = team_view(&app, &team.owner.client, &org).await;
    assert_eq!(status_of(&view, "temp@example.com"), "revoked");
    assert_eq!(status_of(&view, "boss@example.com"), "pending");
    let temp = app.new_browser();
    let refused = register_from(&app, &temp, &token, "Temp").await;
    assert_eq!(refused.status(), 409);
    assert!(error_text(refused).await.contains("revoked"));
    assert_eq!(role_in(&app, &org, "temp@example.com").await, None);
    assert_eq!(audit_count(&app, "invitation_revoked").await, 1);
}

async fn another_account_or_an_existing_member_is_told_and_nothing_changes(app: TestApp) {
    let owner = member(&app, "owner@example.com").await;
    let other = member(&app, "other@example.com").await;
    invite(
        &app,
        &owner.client,
        &owner.org_id,
        "wanted@example.com",
        "member",
    )
    .await;
    let token = token_of(&link_in_outbox(&app, "wanted@example.com").await);
    let page = app.page(&other.client, &format!("/invite/{token}")).await;
    assert!(
        page.contains("you are signed in as other@example.com"),
        "{page}"
    );
    let refused = accept(&app, &other.client, &token).await;
    assert_eq!(refused.status(), 409);
    assert!(error_text(refused)
        .await
        .contains("this invitation is for wanted@example.com"));
    assert_eq!(
        role_in(&app, &owner.org_id, "other@example.com").await,
        None
    );

    // The invitee became a member some other way meanwhile.
    let wanted = member(&app, "wanted@example.com").await;
    let wanted_id = user_id(&app, "wanted@example.com").await;
    app::server::db::orgs::add_member(&app.db.pool, &owner.org_id, &wanted_id, Role::Admin, 0)
        .await
        .unwrap();
    let refused = accept(&app, &wanted.client, &token).await;
    assert_eq!(refused.status(), 409);
    assert!(error_text(refused).await.contains("already a member"));
    assert_eq!(
        role_in(&app, &owner.org_id, "wanted@example.com")
            .await
            .as_deref(),
        Some("admin")
    );
    assert_eq!(
        app.count("select count(*) from invitation where accepted_at is not null")
            .await,
        0,
        "the invitation is not used up"
    );
}

async fn inviting_a_member_or_someone_already_invited_is_refused(app: TestApp) {
    let team = team(&app).await;
    let org = team.owner.org_id.clone();
    let before = app.count("select count(*) from invitation").await;
    let member_again = invite(
        &app,
        &team.owner.client,
        &org,
        "colleague@example.com",
        "member",
    )
    .await;
    assert_eq!(member_again.status(), 422);
    assert!(error_text(member_again).await.contains("already a member"));
    assert_eq!(
        invite(&app, &team.owner.client, &org, "new@example.com", "member")
            .await
            .status(),
        200
    );
    let twice = invite(&app, &team.admin.client, &org, "NEW@example.com", "admin").await;
    assert_eq!(twice.status(), 422);
    assert!(error_text(twice).await.contains("pending invitation"));
    assert_eq!(
        app.count("select count(*) from invitation").await,
        before + 1
    );
    let malformed = invite(&app, &team.owner.client, &org, "not an address", "member").await;
    assert_eq!(malformed.status(), 422);
    let bad_role = invite(&app, &team.owner.client, &org, "x@example.com", "superuser").await;
    assert_eq!(bad_role.status(), 422);
}

async fn an_invitation_over_the_seat_limit_is_refused(app: TestApp) {
    let owner = member(&app, "owner@example.com").await;
    // An operator limits the organization to two seats: the owner and one more.
    sqlx::query("update org set seat_limit = 2 where org_id = $1")
        .bind(&owner.org_id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(
        invite(
            &app,
            &owner.client,
            &owner.org_id,
            "one@example.com",
            "member"
        )
        .await
        .status(),
        200
    );
    let over = invite(
        &app,
        &owner.client,
        &owner.org_id,
        "two@example.com",
        "member",
    )
    .await;
    assert_eq!(over.status(), 409);
    assert!(error_text(over).await.contains("seats are taken"));
    assert_eq!(app.count("select count(*) from invitation").await, 1);
    let view = team_view(&app, &owner.client, &owner.org_id).await;
    assert_eq!(view["seats"]["used"], 2);
    assert_eq!(view["seats"]["limit"], 2);
    // Revoking frees the seat.
    let id = view["invitations"][0]["invitation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.call(
        &owner.client,
        "team/revoke",
        &[("org_id", &owner.org_id), ("invitation_id", &id)],
    )
    .await;
    assert_eq!(
        invite(
            &app,
            &owner.client,
            &owner.org_id,
            "two@example.com",
            "member"
        )
        .await
        .status(),
        200
    );
    // Without the operator's limit the plan decides: the Free plan's one seat.
    sqlx::query("update org set seat_limit = null")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let free = send_invitation(
        &app,
        &owner.client,
        &owner.org_id,
        "three@example.com",
        "member",
    )
    .await;
    assert_eq!(free.status(), 409);
    assert!(error_text(free).await.contains("Free plan has one seat"));
    let view = team_view(&app, &owner.client, &owner.org_id).await;
    assert_eq!(view["seats"]["limit"], 1);
}

/// The team's people by name, for the tables below.
fn person<'a>(team: &'a Team, name: &str) -> (&'a Member, &'static str) {
    match name {
        "owner" => (&team.owner, "owner@example.com"),
        "admin" => (&team.admin, "admin@example.com"),
        "placer" => (&team.placer, "placer@example.com"),
        "colleague" => (&team.colleague, "colleague@example.com"),
        _ => unreachable!(),
    }
}

/// Puts the team back as `team()` made it, plus a second owner when asked.
async fn reset_roles(app: &TestApp, team: &Team, second_owner: bool) {
    let org = &team.owner.org_id;
    set_role(app, org, "owner@example.com", Role::Owner).await;
    let admin_role = if second_owner {
        Role::Owner
    } else {
        Role::Admin
    };
    set_role(app, org, "admin@example.com", admin_role).await;
    set_role(app, org, "placer@example.com", Role::Member).await;
    set_role(app, org, "colleague@example.com", Role::Member).await;
}

async fn who_may_change_whom_to_what(app: TestApp) {
    let team = team(&app).await;
    let org = team.owner.org_id.clone();
    // (actor, target, new role, two owners?, expected status)
    let cases = [
        ("owner", "placer", "admin", false, 200),
        ("owner", "placer", "owner", false, 200),
        ("owner", "admin", "member", false, 200),
        ("owner", "admin", "owner", false, 200),
        ("owner", "owner", "admin", false, 409), // the last owner
        ("owner", "owner", "member", true, 200), // another owner remains
        ("owner", "admin", "member", true, 200), // an owner demotes another owner
        ("admin", "placer", "admin", false, 200),
        ("admin", "placer", "owner", false, 409), // admins create no owners
        ("admin", "admin", "member", false, 200), // an admin steps down
        ("admin", "owner", "member", false, 409), // admins do not touch owners
        ("placer", "colleague", "admin", false, 403),
        ("placer", "placer", "admin", false, 403),
        ("colleague", "owner", "member", false, 403),
    ];
    for (actor, target, to, two_owners, expected) in cases {
        reset_roles(&app, &team, two_owners).await;
        let before: Vec<Option<String>> = roles_now(&app, &team).await;
        let audits = audit_count(&app, "role_changed").await;
        let (who, _) = person(&team, actor);
        let (_, email) = person(&team, target);
        let target_id = user_id(&app, email).await;
        let response = app
            .call(
                &who.client,
                "team/role",
                &[("org_id", &org), ("user_id", &target_id), ("role", to)],
            )
            .await;
        let case = format!("{actor} makes {target} {to} (two owners: {two_owners})");
        assert_eq!(response.status().as_u16(), expected, "{case}");
        if expected == 200 {
            assert_eq!(
                role_in(&app, &org, email).await.as_deref(),
                Some(to),
                "{case}"
            );
            assert_eq!(
                audit_count(&app, "role_changed").await,
                audits + 1,
                "{case}"
            );
        } else {
            assert_eq!(
                roles_now(&app, &team).await,
                before,
                "{case}: nothing changed"
            );
            assert_eq!(audit_count(&app, "role_changed").await, audits, "{case}");
        }
    }
}

async fn roles_now(app: &TestApp, team: &Team) -> Vec<Option<String>> {
    let mut roles = Vec::new();
    for name in ["owner", "admin", "placer", "colleague"] {
        roles.push(role_in(app, &team.owner.org_id, person(team, name).1).await);
    }
    roles
}

async fn who_may_remove_whom_and_the_last_owner_stays(app: TestApp) {
    // (actor, target, two owners?, expected status); each case on a fresh team.
    let cases = [
        ("owner", "placer", false, 200),
        ("owner", "admin", false, 200),
        ("owner", "admin", true, 200),  // another owner
        ("owner", "owner", false, 409), // yourself: that is leaving
        ("admin", "placer", false, 200),
        ("admin", "owner", false, 409),
        ("admin", "admin", true, 409), // yourself
        ("placer", "colleague", false, 403),
        ("colleague", "admin", false, 403),
    ];
    for (actor, target, two_owners, expected) in cases {
        let app = TestApp::spawn(app.backend).await;
        let team = team(&app).await;
        let org = team.owner.org_id.clone();
        if two_owners {
            set_role(&app, &org, "admin@example.com", Role::Owner).await;
        }
        let (who, _) = person(&team, actor);
        let (target_member, email) = person(&team, target);
        let target_id = user_id(&app, email).await;
        let response = app
            .call(
                &who.client,
                "team/remove",
                &[("org_id", &org), ("user_id", &target_id)],
            )
            .await;
        let case = format!("{actor} removes {target} (two owners: {two_owners})");
        assert_eq!(response.status().as_u16(), expected, "{case}");
        if expected == 200 {
            assert_eq!(role_in(&app, &org, email).await, None, "{case}");
            assert_eq!(audit_count(&app, "member_removed").await, 1, "{case}");
            // The removed person is told once, and sees nothing of the organization.
            let account = app.account(&target_member.client).await;
            assert_ne!(account["current_org"]["org_id"], org.as_str(), "{case}");
            assert!(
                account["org_notice"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("no longer a member"),
                "{case}: {account}"
            );
            assert!(
                app.account(&target_member.client).await["org_notice"].is_null(),
                "once"
            );
            app.assert_not_found(&target_member.client, "team/load", &[("org_id", &org)])
                .await;
        } else {
            assert!(role_in(&app, &org, email).await.is_some(), "{case}");
            assert_eq!(audit_count(&app, "member_removed").await, 0, "{case}");
        }
    }
}

async fn only_an_owner_transfers_ownership_and_becomes_an_admin(app: TestApp) {
    let team = team(&app).await;
    let org = team.owner.org_id.clone();
    let placer_id = user_id(&app, "placer@example.com").await;
    let owner_id = user_id(&app, "owner@example.com").await;
    let cases = [
        ("an admin", &team.admin, &placer_id, 409),
        ("a member", &team.colleague, &placer_id, 403),
        ("the owner, to themselves", &team.owner, &owner_id, 409),
    ];
    for (who, actor, target, expected) in cases {
        let response = app
            .call(
                &actor.client,
                "team/transfer",
                &[("org_id", &org), ("user_id", target)],
            )
            .await;
        assert_eq!(response.status().as_u16(), expected, "{who}");
    }
    assert_eq!(audit_count(&app, "ownership_transferred").await, 0);
    let done = app
        .call(
            &team.owner.client,
            "team/transfer",
            &[("org_id", &org), ("user_id", &placer_id)],
        )
        .await;
    assert_eq!(done.status(), 200);
    assert_eq!(
        role_in(&app, &org, "placer@example.com").await.as_deref(),
        Some("owner")
    );
    assert_eq!(
        role_in(&app, &org, "owner@example.com").await.as_deref(),
        Some("admin")
    );
    assert_eq!(audit_count(&app, "ownership_transferred").await, 1);
    // The former owner is an admin now: the new owner is out of their reach.
    let refused = app
        .call(
            &team.owner.client,
            "team/role",
            &[
                ("org_id", &org),
                ("user_id", &placer_id),
                ("role", "member"),
            ],
        )
        .await;
    assert_eq!(refused.status(), 409);
}

async fn everyone_but_the_last_owner_may_leave(app: TestApp) {
    let team = team(&app).await;
    let org = team.owner.org_id.clone();
    let refused = app
        .call(&team.owner.client, "team/leave", &[("org_id", &org)])
        .await;
    assert_eq!(refused.status(), 409);
    assert!(error_text(refused).await.contains("last owner"));
    for (who, email) in [
        (&team.colleague, "colleague@example.com"),
        (&team.admin, "admin@example.com"),
    ] {
        let left = app
            .call(&who.client, "team/leave", &[("org_id", &org)])
            .await;
        assert_eq!(left.status(), 200, "{email}");
        assert_eq!(left.headers()["location"], "/dialer");
        assert_eq!(role_in(&app, &org, email).await, None);
    }
    assert_eq!(audit_count(&app, "member_left").await, 2);
    // With a second owner, the first may leave.
    set_role(&app, &org, "placer@example.com", Role::Owner).await;
    let left = app
        .call(&team.owner.client, "team/leave", &[("org_id", &org)])
        .await;
    assert_eq!(left.status(), 200);
    assert_eq!(role_in(&app, &org, "owner@example.com").await, None);
    assert_eq!(
        app.count(&format!(
            "select count(*) from membership where org_id = '{org}' and role = 'owner'"
        ))
        .await,
        1
    );
}

async fn a_member_removed_during_a_call_is_cut_off_and_charged_exactly_the_time_used(
    backend_app: TestApp,
) {
    let fake = FakeTwilio::start().await;
    let app = twilio_app(backend_app.backend, &fake).await;
    let team = team(&app).await;
    let org = team.owner.org_id.clone();
    grant(&app, &org, 500).await;
    let (status, call) = dial(&app, &team.placer, LONDON, "removed-mid-call").await;
    assert_eq!(status, 200, "{call}");
    let call_id = call["call_id"].as_str().unwrap().to_owned();
    let row = call_row(&app, &call_id).await;
    assert_eq!(
        deliver_status(&app, &row, CallStatus::InProgress, 1, None).await,
        204
    );

    let placer_id = user_id(&app, "placer@example.com").await;
    let removed = app
        .call(
            &team.admin.client,
            "team/remove",
            &[("org_id", &org), ("user_id", &placer_id)],
        )
        .await;
    assert_eq!(removed.status(), 200);
    // Ended at once: the browser's leg is hung up at the carrier.
    assert_eq!(fake.endings(&parent_sid(&call_id)), vec!["completed"]);
    let row = call_row(&app, &call_id).await;
    assert!(row.end_requested_at.is_some());
    assert_eq!(row.end_reason, Some(EndReason::RemovedFromOrg));

    // The carrier reports the time used: 61 s, charged exactly, once.
    assert_eq!(
        deliver_status(&app, &row, CallStatus::Completed, 2, Some(61)).await,
        204
    );
    let done = call_row(&app, &call_id).await;
    assert_eq!(done.status, CallStatus::Completed);
    assert_eq!(done.end_reason, Some(EndReason::RemovedFromOrg));
    assert_eq!(done.duration_secs, Some(61));
    let cost = rating::cost(&london_rate(), 61).unwrap();
    assert_eq!(charges(&app, &org).await, vec![-cost.micros()]);
    crate::calls::assert_books_balance(&app, &org).await;
    assert_eq!(
        EndReason::RemovedFromOrg.label(),
        "Ended: removed from the organization"
    );

    // Their next request: told once, and nothing of the organization after.
    let account = app.account(&team.placer.client).await;
    assert!(account["org_notice"]
        .as_str()
        .unwrap()
        .contains("no longer a member"));
    app.assert_not_found(
        &team.placer.client,
        "calls/start",
        &[
            ("org_id", &org),
            ("number", LONDON),
            ("country", "GB"),
            ("client_key", "after"),
        ],
    )
    .await;
}

async fn the_members_page_works_without_javascript(app: TestApp) {
    let team = team(&app).await;
    let org = team.owner.org_id.clone();
    // A form post without JavaScript: the server answers with a redirect back.
    let response = team
        .owner
        .client
        .post(app.url("/api/team/invite"))
        .header("sec-fetch-site", "same-origin")
        .header("accept", "text/html")
        .header("referer", app.url("/settings"))
        .form(&[
            ("org_id", org.as_str()),
            ("email", "nojs@example.com"),
            ("role", "member"),
        ])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_redirection(), "{}", response.status());
    let page = app.page(&team.owner.client, "/settings").await;
    assert!(page.contains("Send invitation"), "the invite form");
    assert!(
        page.contains("nojs@example.com"),
        "the invitation is listed"
    );
    assert!(
        page.contains(&format!("{PUBLIC_URL}/invite/")),
        "the fresh link is shown once"
    );
    assert!(page.contains("Leave organization"));
    assert!(page.contains("Transfer ownership"));
    // A plain member sees the members but no invitation controls.
    let page = app.page(&team.colleague.client, "/settings").await;
    assert!(page.contains("admin@example.com"));
    assert!(!page.contains("Send invitation"));
    assert!(page.contains("Leave organization"));
}

/// A dial that passed the membership guard just before its member was
/// removed reaches `start_call` after the removal (and after the removal
/// ended the member's live calls): `start_call` looks again under the wallet
/// lock, so nothing is placed, held or charged.
async fn a_removed_member_past_the_guard_still_cannot_start_a_call(backend_app: TestApp) {
    use app::domain::Money;
    use app::server::calls::{self, CallError, CallSettings, CallbackUrls, StartCall};
    let fake = FakeTwilio::start().await;
    let app = twilio_app(backend_app.backend, &fake).await;
    let team = team(&app).await;
    let org = team.owner.org_id.clone();
    grant(&app, &org, 500).await;
    let placer_id = user_id(&app, "placer@example.com").await;
    let removed = app
        .call(
            &team.admin.client,
            "team/remove",
            &[("org_id", &org), ("user_id", &placer_id)],
        )
        .await;
    assert_eq!(removed.status(), 200);

    let settings = CallSettings {
        max_duration_ceiling_secs: 14_400,
        confirm_above_per_minute: Money::from_dollars(100).unwrap(),
        caller_id: crate::common::fake_twilio::CALLER_ID.to_owned(),
        hangup_margin_ms: 1_000,
        payment_grace_secs: 3 * 86_400,
    };
    let urls = CallbackUrls {
        public_url: PUBLIC_URL.to_owned(),
    };
    let carrier = fake.carrier();
    let request = StartCall {
        org_id: &org,
        user_id: &placer_id,
        raw_number: LONDON,
        country: "GB",
        client_key: "past-the-guard",
        confirmed: false,
    };
    let started = calls::start_call(&app.db, &carrier, &settings, &urls, &request).await;
    assert!(
        matches!(started, Err(CallError::NotFound)),
        "{:?}",
        started.err()
    );
    assert_eq!(
        app.count(&format!(
            "select count(*) from call where user_id = '{placer_id}'"
        ))
        .await,
        0,
        "no call row"
    );
    let balance = app.db.balance(&org).await.unwrap();
    assert_eq!(balance.held, Money::ZERO, "nothing held");
    assert_eq!(
        balance.balance,
        Money::from_cents(500).unwrap(),
        "nothing charged"
    );
}
