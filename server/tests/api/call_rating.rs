//! Rating a call after it ended (`calls/rate`, `calls/rating`), on both
//! databases: who may rate, which values are accepted, that a refusal
//! changes nothing, and that a rating can be changed. Calls are placed on the
//! simulated carrier; a busy number ends by itself within seconds.

use crate::calls::{dial, grant, member, LONDON};
use crate::common::TestApp;
use crate::on_both_databases;
use crate::roles::team;
use reqwest::Client;
use serde_json::Value;

on_both_databases!(
    only_the_member_who_placed_a_call_or_an_owner_or_admin_can_rate_it,
    bad_ratings_and_calls_still_live_are_refused_and_change_nothing,
    a_rating_can_be_changed_and_every_member_reads_it,
);

const BUSY: &str = "+44 20 7183 0002";

/// The call's id from `calls/start`'s answer (the call itself, or the call
/// beside a Twilio attempt id).
fn call_id_of(started: &Value) -> String {
    let call = started.get("call").unwrap_or(started);
    call["call_id"].as_str().expect("a call id").to_owned()
}

/// A call placed by `client` that has ended (busy), its id.
async fn ended_call(app: &TestApp, client: &Client, org_id: &str, key: &str) -> String {
    let placer = crate::calls::Member {
        client: client.clone(),
        org_id: org_id.to_owned(),
    };
    let (status, started) = dial(app, &placer, BUSY, key).await;
    assert_eq!(status, 200, "{started}");
    let call_id = call_id_of(&started);
    app.run_jobs_until_count(
        &format!("select count(*) from call where call_id = '{call_id}' and status = 'busy'"),
        1,
    )
    .await;
    call_id
}

async fn rate(
    app: &TestApp,
    client: &Client,
    org_id: &str,
    call_id: &str,
    stars: &str,
) -> (u16, Value) {
    let response = app
        .call(
            client,
            "calls/rate",
            &[("org_id", org_id), ("call_id", call_id), ("rating", stars)],
        )
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn stored_rating(app: &TestApp, call_id: &str) -> (Option<i64>, Option<String>) {
    sqlx::query_as("select rating, rated_by from call where call_id = $1")
        .bind(call_id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

async fn user_id(app: &TestApp, email: &str) -> String {
    sqlx::query_scalar("select user_id from app_user where email = $1")
        .bind(email)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

async fn only_the_member_who_placed_a_call_or_an_owner_or_admin_can_rate_it(app: TestApp) {
    let team = team(&app).await;
    let org_id = team.owner.org_id.clone();
    grant(&app, &org_id, 100).await;
    let call_id = ended_call(&app, &team.placer.client, &org_id, "rate-roles").await;

    // Someone from another organization: as if the call did not exist.
    let stranger = member(&app, "stranger@example.com").await;
    app.assert_not_found(
        &stranger.client,
        "calls/rate",
        &[("org_id", &org_id), ("call_id", &call_id), ("rating", "1")],
    )
    .await;
    let (status, _) = rate(&app, &stranger.client, &stranger.org_id, &call_id, "1").await;
    assert_eq!(status, 404, "their own organization has no such call");
    assert_eq!(stored_rating(&app, &call_id).await, (None, None));

    let cases = [
        (
            "another plain member",
            &team.colleague,
            "colleague@example.com",
            "1",
            403,
        ),
        (
            "the member who placed it",
            &team.placer,
            "placer@example.com",
            "4",
            200,
        ),
        ("an admin", &team.admin, "admin@example.com", "2", 200),
        ("the owner", &team.owner, "owner@example.com", "5", 200),
    ];
    let mut expected = (None, None);
    for (who, person, email, stars, status) in cases {
        let (answered, body) = rate(&app, &person.client, &org_id, &call_id, stars).await;
        assert_eq!(answered, status, "{who}: {body}");
        if status == 200 {
            assert_eq!(body["rating"], stars.parse::<i64>().unwrap(), "{who}");
            assert_eq!(body["may_rate"], true, "{who}");
            expected = (
                Some(stars.parse().unwrap()),
                Some(user_id(&app, email).await),
            );
        } else {
            assert_eq!(body, Value::from("Forbidden"), "{who}");
        }
        assert_eq!(stored_rating(&app, &call_id).await, expected, "{who}");
    }
}

async fn bad_ratings_and_calls_still_live_are_refused_and_change_nothing(app: TestApp) {
    let m = member(&app, "rater@example.com").await;
    grant(&app, &m.org_id, 100).await;
    let call_id = ended_call(&app, &m.client, &m.org_id, "rate-bad").await;
    let (status, _) = rate(&app, &m.client, &m.org_id, &call_id, "3").await;
    assert_eq!(status, 200);
    let before = stored_rating(&app, &call_id).await;
    assert_eq!(before.0, Some(3));

    for bad in ["0", "6", "-1", "4.5", "", "five", "300"] {
        let (status, body) = rate(&app, &m.client, &m.org_id, &call_id, bad).await;
        assert_eq!(status, 422, "{bad:?}: {body}");
        assert_eq!(body["Validation"]["field"], "rating", "{bad:?}");
        assert_eq!(
            body["Validation"]["message"], "choose a rating from 1 to 5 stars",
            "{bad:?}"
        );
        assert_eq!(
            stored_rating(&app, &call_id).await,
            before,
            "{bad:?} changed it"
        );
    }

    // A call still under way (London answers and stays up) cannot be rated yet.
    let (status, started) = dial(&app, &m, LONDON, "rate-live").await;
    assert_eq!(status, 200, "{started}");
    let live_id = call_id_of(&started);
    let (status, body) = rate(&app, &m.client, &m.org_id, &live_id, "5").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["Conflict"]["code"], "call_not_ended");
    assert_eq!(stored_rating(&app, &live_id).await, (None, None));

    // An unknown call is not found, and nothing anywhere changed.
    let (status, _) = rate(&app, &m.client, &m.org_id, "call_does_not_exist", "5").await;
    assert_eq!(status, 404);
    assert_eq!(stored_rating(&app, &call_id).await, before);
    let rated = app
        .count("select count(*) from call where rating is not null")
        .await;
    assert_eq!(rated, 1);
}

async fn a_rating_can_be_changed_and_every_member_reads_it(app: TestApp) {
    let team = team(&app).await;
    let org_id = team.owner.org_id.clone();
    grant(&app, &org_id, 100).await;
    let call_id = ended_call(&app, &team.placer.client, &org_id, "rate-change").await;
    let read = |client: Client| {
        let app = &app;
        let org_id = org_id.clone();
        let call_id = call_id.clone();
        async move {
            let response = app
                .call(
                    &client,
                    "calls/rating",
                    &[("org_id", &org_id), ("call_id", &call_id)],
                )
                .await;
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    let unrated = read(team.placer.client.clone()).await;
    assert_eq!(
        unrated,
        serde_json::json!({ "rating": null, "may_rate": true, "ended": true })
    );
    assert_eq!(
        rate(&app, &team.placer.client, &org_id, &call_id, "2")
            .await
            .0,
        200
    );
    assert_eq!(
        rate(&app, &team.placer.client, &org_id, &call_id, "5")
            .await
            .0,
        200
    );
    assert_eq!(
        stored_rating(&app, &call_id).await.0,
        Some(5),
        "the latest counts"
    );
    // A colleague reads it but may not change it.
    assert_eq!(
        read(team.colleague.client.clone()).await,
        serde_json::json!({ "rating": 5, "may_rate": false, "ended": true })
    );
}
