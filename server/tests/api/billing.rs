//! What owners and admins do to their subscription, over HTTP against the
//! sandbox provider, on SQLite and PostgreSQL: subscribing through its
//! checkout, the seat rules (bounds and grandfathering), the compensating
//! set-back when the database cannot keep a change the provider accepted,
//! cancel and resume, pause and resume now, a failed renewal through grace
//! to blocked and back with a new card, and who may do any of it.

use crate::calls::{dial, grant, member, Member, LONDON};
use crate::common::{location, Backend, TestApp};
use crate::on_both_databases;
use crate::roles::team;
use crate::subscriptions::access_of;
use app::domain::access_state::AccessState;
use app::server::providers::payments::SubscriptionProvider;
use app::server::providers::sandbox::SandboxPayments;
use serde_json::Value;

on_both_databases!(
    subscribing_through_the_checkout_gives_the_seats_bought,
    seat_changes_are_bounded_and_an_organization_above_the_maximum_keeps_its_seats,
    a_seat_change_the_database_cannot_keep_is_set_back_at_the_provider_and_audited,
    cancel_keeps_access_until_the_period_ends_and_resume_undoes_it,
    a_pause_refuses_calls_until_resumed_now,
    a_pause_ends_on_its_date_by_the_job_and_owners_are_reminded_before,
    a_failed_renewal_blocks_after_grace_and_a_new_card_with_retry_unblocks,
    only_owners_and_admins_manage_the_plan,
);

const GOOD_CARD: &str = "4242 4242 4242 4242";
const LATER_DECLINES: &str = "4000 0000 0000 0341";

/// Subscribes `owner`'s organization to `seats` monthly seats, paying the
/// sandbox checkout with `card`, and lets the webhook events land.
pub(crate) async fn subscribe(app: &TestApp, owner: &Member, seats: u32, card: &str) {
    let started = app
        .call(
            &owner.client,
            "billing/subscribe",
            &[
                ("org_id", &owner.org_id),
                ("interval", "monthly"),
                ("seats", &seats.to_string()),
                ("form_key", &app::server::ids::new_id("form")),
            ],
        )
        .await;
    let checkout = location(&started);
    let session = checkout
        .strip_prefix("/sandbox/checkout/")
        .expect("a sandbox checkout");
    let paid = app
        .call(
            &owner.client,
            "sandbox/pay",
            &[("session_id", session), ("card_number", card)],
        )
        .await;
    assert!(
        paid.status().is_redirection() || paid.status() == 200,
        "{}",
        paid.status()
    );
    app.settle_jobs().await;
}

async fn call_ok(app: &TestApp, m: &Member, function: &str, form: &[(&str, &str)]) -> Value {
    let response = app.call(&m.client, function, form).await;
    let status = response.status();
    let body = response.text().await.unwrap();
    assert!(
        status.is_success() || status.is_redirection(),
        "{function}: {status} {body}"
    );
    app.settle_jobs().await;
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

async fn refused(
    app: &TestApp,
    m: &Member,
    function: &str,
    form: &[(&str, &str)],
) -> (u16, String) {
    let response = app.call(&m.client, function, form).await;
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Moves the sandbox's test clock (`renewal` or `grace`).
async fn advance(app: &TestApp, owner: &Member, step: &str) {
    call_ok(
        app,
        owner,
        "sandbox/advance_clock",
        &[("org_id", &owner.org_id), ("step", step)],
    )
    .await;
}

async fn subscription_id(app: &TestApp, org_id: &str) -> String {
    sqlx::query_scalar("select subscription_id from subscription where org_id = $1")
        .bind(org_id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

async fn audit_details(app: &TestApp, org_id: &str, action: &str) -> Vec<String> {
    sqlx::query_scalar(
        "select detail from org_audit where org_id = $1 and action = $2 order by created_at_ms",
    )
    .bind(org_id)
    .bind(action)
    .fetch_all(&app.db.pool)
    .await
    .unwrap()
}

async fn subscribing_through_the_checkout_gives_the_seats_bought(app: TestApp) {
    let owner = member(&app, "owner@example.com").await;
    assert_eq!(access_of(&app, &owner.org_id).await.0, AccessState::Free);
    subscribe(&app, &owner, 3, GOOD_CARD).await;
    let (access, seats) = access_of(&app, &owner.org_id).await;
    assert!(
        matches!(access, AccessState::Active { renews_at: Some(_) }),
        "{access:?}"
    );
    assert_eq!(seats, Some(3));
    let view = call_ok(&app, &owner, "billing/load", &[("org_id", &owner.org_id)]).await;
    assert_eq!(view["access"]["kind"], "active");
    assert_eq!(view["plan"]["seats"], 3);
    // A second subscription is refused: change the seats instead.
    let (status, body) = refused(
        &app,
        &owner,
        "billing/subscribe",
        &[
            ("org_id", &owner.org_id),
            ("interval", "monthly"),
            ("seats", "2"),
            ("form_key", "form_again_1"),
        ],
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("already has a subscription"), "{body}");
}

async fn seat_changes_are_bounded_and_an_organization_above_the_maximum_keeps_its_seats(
    app: TestApp,
) {
    let owner = member(&app, "owner@example.com").await;
    let org = owner.org_id.clone();
    // Fewer seats than the people it holds cannot be bought.
    subscribe(&app, &owner, 3, GOOD_CARD).await;
    for email in ["one@example.com", "two@example.com"] {
        let invited =
            crate::teams::send_invitation(&app, &owner.client, &org, email, "member").await;
        assert_eq!(invited.status(), 200);
    }
    let seats = |n: &'static str| [("org_id", org.clone()), ("seats", n.to_owned())];
    let form = seats("2");
    let (status, body) = refused(
        &app,
        &owner,
        "billing/seats",
        &[(form[0].0, &form[0].1), (form[1].0, &form[1].1)],
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("at least 3 seats"), "{body}");
    for bad in ["0", "-1", "three", ""] {
        let (status, _) = refused(
            &app,
            &owner,
            "billing/seats",
            &[("org_id", &org), ("seats", bad)],
        )
        .await;
        assert_eq!(status, 422, "{bad}");
    }
    let (status, body) = refused(
        &app,
        &owner,
        "billing/seats",
        &[("org_id", &org), ("seats", "51")],
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("at most 50"), "{body}");
    assert_eq!(
        access_of(&app, &org).await.1,
        Some(3),
        "refusals change nothing"
    );

    call_ok(
        &app,
        &owner,
        "billing/seats",
        &[("org_id", &org), ("seats", "5")],
    )
    .await;
    assert_eq!(access_of(&app, &org).await.1, Some(5));
    assert_eq!(
        audit_details(&app, &org, "seats_changed").await,
        vec!["Changed the seats from 3 to 5".to_owned()]
    );

    // The maximum is lowered below what the organization has: it keeps its
    // seats and may lower them, but not raise them.
    let lowered = app.restarted_with(&[("SEATS_MAX", "4")]).await;
    let owner = Member {
        client: owner.client.clone(),
        org_id: org.clone(),
    };
    let (status, body) = refused(
        &lowered,
        &owner,
        "billing/seats",
        &[("org_id", &org), ("seats", "6")],
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("at most 4"), "{body}");
    call_ok(
        &lowered,
        &owner,
        "billing/seats",
        &[("org_id", &org), ("seats", "5")],
    )
    .await;
    call_ok(
        &lowered,
        &owner,
        "billing/seats",
        &[("org_id", &org), ("seats", "4")],
    )
    .await;
    assert_eq!(access_of(&lowered, &org).await.1, Some(4));
}

/// Makes the database refuse any change of a subscription's seats.
async fn refuse_seat_writes(app: &TestApp) {
    let statements: &[&str] = match app.backend {
        Backend::Sqlite => &[
            "create trigger refuse_seats before update of quantity on subscription
             when new.quantity <> old.quantity
             begin select raise(abort, 'injected: seat changes refused'); end",
        ],
        Backend::Postgres => &[
            "create function refuse_seats() returns trigger language plpgsql as
             $$ begin raise exception 'injected: seat changes refused'; end $$",
            "create trigger refuse_seats before update on subscription for each row
             when (new.quantity <> old.quantity) execute function refuse_seats()",
        ],
    };
    for statement in statements {
        sqlx::query(statement).execute(&app.db.pool).await.unwrap();
    }
}

async fn allow_seat_writes(app: &TestApp) {
    let statements: &[&str] = match app.backend {
        Backend::Sqlite => &["drop trigger refuse_seats"],
        Backend::Postgres => &[
            "drop trigger refuse_seats on subscription",
            "drop function refuse_seats()",
        ],
    };
    for statement in statements {
        sqlx::query(statement).execute(&app.db.pool).await.unwrap();
    }
}

async fn a_seat_change_the_database_cannot_keep_is_set_back_at_the_provider_and_audited(
    app: TestApp,
) {
    let owner = member(&app, "owner@example.com").await;
    let org = owner.org_id.clone();
    subscribe(&app, &owner, 2, GOOD_CARD).await;
    let id = subscription_id(&app, &org).await;

    refuse_seat_writes(&app).await;
    let (status, body) = refused(
        &app,
        &owner,
        "billing/seats",
        &[("org_id", &org), ("seats", "4")],
    )
    .await;
    assert_eq!(status, 500, "{body}");
    assert!(
        !body.contains("injected"),
        "the cause is logged, not shown: {body}"
    );
    // The provider took 4, then was set back to 2.
    let at_provider = SandboxPayments::new(app.db.clone())
        .retrieve_subscription(&id)
        .await
        .unwrap();
    assert_eq!(at_provider["items"]["data"][0]["quantity"], 2);
    assert_eq!(access_of(&app, &org).await.1, Some(2));
    let set_back = audit_details(&app, &org, "seats_set_back").await;
    assert_eq!(set_back.len(), 1, "{set_back:?}");
    assert!(
        set_back[0].contains("Stripe was set back to 2"),
        "{set_back:?}"
    );

    // Once the database takes writes again, the provider's events for both
    // changes (same second, either order) leave 2.
    allow_seat_writes(&app).await;
    app.run_jobs_until_count(
        "select count(*) from stripe_event where processed_at is null",
        0,
    )
    .await;
    assert_eq!(access_of(&app, &org).await.1, Some(2));
}

async fn cancel_keeps_access_until_the_period_ends_and_resume_undoes_it(app: TestApp) {
    let owner = member(&app, "owner@example.com").await;
    let org = owner.org_id.clone();
    subscribe(&app, &owner, 1, GOOD_CARD).await;
    call_ok(&app, &owner, "billing/cancel", &[("org_id", &org)]).await;
    let (access, _) = access_of(&app, &org).await;
    let AccessState::CancelingUntil { ends_at } = access else {
        panic!("{access:?}");
    };
    let view = call_ok(&app, &owner, "billing/load", &[("org_id", &org)]).await;
    let headline = view["access"]["headline"].as_str().unwrap();
    assert_eq!(
        headline,
        format!("Team plan, ends on {}", app::domain::plan::day_of(ends_at))
    );
    grant(&app, &org, 1_000).await;
    assert_eq!(dial(&app, &owner, LONDON, "still-on").await.0, 200);

    call_ok(&app, &owner, "billing/resume", &[("org_id", &org)]).await;
    assert!(matches!(
        access_of(&app, &org).await.0,
        AccessState::Active { .. }
    ));

    // Canceled again and the period ends: Free, nothing deleted.
    call_ok(&app, &owner, "billing/cancel", &[("org_id", &org)]).await;
    advance(&app, &owner, "renewal").await;
    assert!(matches!(
        access_of(&app, &org).await.0,
        AccessState::Canceled { .. }
    ));
    assert_eq!(app.count("select count(*) from call").await, 1);
    assert_eq!(audit_details(&app, &org, "cancel_scheduled").await.len(), 2);
    assert_eq!(audit_details(&app, &org, "cancel_undone").await.len(), 1);
}

async fn a_pause_refuses_calls_until_resumed_now(app: TestApp) {
    let owner = member(&app, "owner@example.com").await;
    let org = owner.org_id.clone();
    grant(&app, &org, 1_000).await;
    subscribe(&app, &owner, 1, GOOD_CARD).await;
    let view = call_ok(&app, &owner, "billing/load", &[("org_id", &org)]).await;
    let too_late = "2999-01-01";
    let (status, body) = refused(
        &app,
        &owner,
        "billing/pause",
        &[("org_id", &org), ("resumes_on", too_late)],
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let resumes_on = view["pause_from"].as_str().unwrap().to_owned();
    call_ok(
        &app,
        &owner,
        "billing/pause",
        &[("org_id", &org), ("resumes_on", &resumes_on)],
    )
    .await;
    let (access, _) = access_of(&app, &org).await;
    assert!(
        matches!(
            access,
            AccessState::PausedUntil {
                resumes_at: Some(_)
            }
        ),
        "{access:?}"
    );
    let (status, body) = dial(&app, &owner, LONDON, "paused").await;
    assert_eq!(status, 409, "{body}");

    call_ok(&app, &owner, "billing/unpause", &[("org_id", &org)]).await;
    assert!(matches!(
        access_of(&app, &org).await.0,
        AccessState::Active { .. }
    ));
    assert_eq!(dial(&app, &owner, LONDON, "resumed").await.0, 200);
    assert_eq!(
        audit_details(&app, &org, "subscription_paused").await.len(),
        1
    );
    assert_eq!(
        audit_details(&app, &org, "subscription_resumed")
            .await
            .len(),
        1
    );
}

async fn a_pause_ends_on_its_date_by_the_job_and_owners_are_reminded_before(app: TestApp) {
    let owner = member(&app, "owner@example.com").await;
    let org = owner.org_id.clone();
    subscribe(&app, &owner, 1, GOOD_CARD).await;
    let view = call_ok(&app, &owner, "billing/load", &[("org_id", &org)]).await;
    let resumes_on = view["pause_from"].as_str().unwrap().to_owned();
    call_ok(
        &app,
        &owner,
        "billing/pause",
        &[("org_id", &org), ("resumes_on", &resumes_on)],
    )
    .await;

    // The date is less than three days away: the scan reminds the owners, once.
    let reminders = "select count(*) from outbox_email
        where to_address = 'owner@example.com' and subject like '%resumes soon%'";
    app.run_jobs_until_count(reminders, 1).await;

    // The day comes on the billing clock, and the provider has said nothing:
    // the scan ends the pause at the provider and stores its answer.
    let mut conn = app.db.pool.acquire().await.unwrap();
    app::server::db::billing_clock::advance(&mut conn, &org, 2 * 86_400, app::server::clock::now())
        .await
        .unwrap();
    drop(conn);
    app.run_jobs_until_count("select count(*) from subscription where paused = 0", 1)
        .await;
    assert!(matches!(
        access_of(&app, &org).await.0,
        AccessState::Active { .. }
    ));
    let resumed = audit_details(&app, &org, "subscription_resumed").await;
    assert_eq!(resumed.len(), 1, "{resumed:?}");
    assert!(
        resumed[0].starts_with("The pause ended on its date"),
        "{resumed:?}"
    );
    assert_eq!(app.count(reminders).await, 1);
}

async fn a_failed_renewal_blocks_after_grace_and_a_new_card_with_retry_unblocks(app: TestApp) {
    let owner = member(&app, "owner@example.com").await;
    let org = owner.org_id.clone();
    grant(&app, &org, 1_000).await;
    subscribe(&app, &owner, 1, LATER_DECLINES).await;
    advance(&app, &owner, "renewal").await;
    let (access, _) = access_of(&app, &org).await;
    assert!(
        matches!(access, AccessState::PastDueGrace { .. }),
        "{access:?}"
    );
    assert_eq!(dial(&app, &owner, LONDON, "grace").await.0, 200);

    advance(&app, &owner, "grace").await;
    assert!(matches!(
        access_of(&app, &org).await.0,
        AccessState::Blocked { .. }
    ));
    assert_eq!(dial(&app, &owner, LONDON, "blocked").await.0, 409);
    // Retrying with the same card is declined and changes nothing.
    let (status, body) = refused(&app, &owner, "billing/retry", &[("org_id", &org)]).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("did not go through"), "{body}");
    assert!(matches!(
        access_of(&app, &org).await.0,
        AccessState::Blocked { .. }
    ));

    change_card_in_portal(&app, &owner, GOOD_CARD).await;
    call_ok(&app, &owner, "billing/retry", &[("org_id", &org)]).await;
    let (access, _) = access_of(&app, &org).await;
    assert!(matches!(access, AccessState::Active { .. }), "{access:?}");
    assert_eq!(dial(&app, &owner, LONDON, "paid").await.0, 200);
}

/// Opens the Billing Portal and changes the card there, as an owner would.
async fn change_card_in_portal(app: &TestApp, owner: &Member, card: &str) {
    let opened = app
        .call(
            &owner.client,
            "billing/portal",
            &[("org_id", &owner.org_id)],
        )
        .await;
    let portal = location(&opened);
    let session = portal
        .strip_prefix("/sandbox/portal/")
        .expect("a sandbox portal");
    call_ok(
        app,
        owner,
        "sandbox/portal/card",
        &[("portal_session_id", session), ("card_number", card)],
    )
    .await;
}

async fn only_owners_and_admins_manage_the_plan(app: TestApp) {
    let team = team(&app).await;
    let org = team.owner.org_id.clone();
    subscribe(&app, &team.owner, 5, GOOD_CARD).await;
    let member = &team.colleague;
    let form = [("org_id", org.as_str())];
    for function in [
        "billing/cancel",
        "billing/resume",
        "billing/unpause",
        "billing/portal",
        "billing/retry",
    ] {
        let (status, body) = refused(&app, member, function, &form).await;
        assert_eq!(status, 403, "{function}: {body}");
    }
    let (status, _) = refused(
        &app,
        member,
        "billing/seats",
        &[("org_id", &org), ("seats", "9")],
    )
    .await;
    assert_eq!(status, 403);
    // Members still read the plan; an admin manages it.
    let view = call_ok(&app, member, "billing/load", &form).await;
    assert_eq!(view["can_manage"], false);
    call_ok(
        &app,
        &team.admin,
        "billing/seats",
        &[("org_id", &org), ("seats", "6")],
    )
    .await;
    assert_eq!(access_of(&app, &org).await.1, Some(6));
    // Another organization's owner gets nothing.
    let stranger = crate::calls::member(&app, "stranger@example.com").await;
    let (status, _) = refused(&app, &stranger, "billing/load", &form).await;
    assert_eq!(status, 404);
}
