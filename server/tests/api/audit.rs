//! The organization audit trail: changes are recorded with who made them, in
//! the same transaction, and only owners and admins may read the trail.

use crate::common::TestApp;
use crate::on_both_databases;
use crate::roles::team;
use serde_json::Value;

on_both_databases!(
    renaming_and_the_calling_country_are_recorded_newest_first,
    only_owners_and_admins_read_the_audit_trail,
    a_refused_change_records_nothing,
);

async fn trail(app: &TestApp, client: &reqwest::Client, org_id: &str) -> (u16, Value) {
    let response = app.call(client, "org/audit", &[("org_id", org_id)]).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn renaming_and_the_calling_country_are_recorded_newest_first(app: TestApp) {
    let team = team(&app).await;
    let org_id = team.owner.org_id.clone();
    let renamed = app
        .call(
            &team.owner.client,
            "org/rename",
            &[("org_id", &org_id), ("name", "Acme Calls")],
        )
        .await;
    assert_eq!(renamed.status(), 200);
    let country = app
        .call(
            &team.admin.client,
            "calls/country",
            &[("org_id", &org_id), ("country", "GB")],
        )
        .await;
    assert_eq!(country.status(), 200);

    let (status, lines) = trail(&app, &team.owner.client, &org_id).await;
    assert_eq!(status, 200, "{lines}");
    let lines = lines.as_array().unwrap();
    // Building the team recorded three invitations and three acceptances first.
    assert_eq!(lines.len(), 8, "{lines:?}");
    let lines = &lines[..2];
    assert_eq!(lines[0]["what"], "Changed the calling country");
    assert_eq!(lines[0]["detail"], "National numbers are now read as GB");
    assert_eq!(lines[1]["what"], "Renamed the organization");
    assert_eq!(
        lines[1]["detail"],
        "Renamed the organization to \"Acme Calls\""
    );
    for line in lines {
        assert_eq!(line["actor"], "Ada Caller", "each change names its person");
    }
}

async fn only_owners_and_admins_read_the_audit_trail(app: TestApp) {
    let team = team(&app).await;
    let org_id = team.owner.org_id.clone();
    for (who, client, expected) in [
        ("the owner", &team.owner.client, 200),
        ("an admin", &team.admin.client, 200),
        ("a plain member", &team.colleague.client, 403),
    ] {
        let (status, _) = trail(&app, client, &org_id).await;
        assert_eq!(status, expected, "{who}");
    }
    // Someone outside the organization cannot tell it exists.
    let outsider = crate::calls::member(&app, "outsider@example.com").await;
    let (status, _) = trail(&app, &outsider.client, &org_id).await;
    assert_eq!(status, 404);
}

async fn a_refused_change_records_nothing(app: TestApp) {
    let team = team(&app).await;
    let org_id = team.owner.org_id.clone();
    let before = app.count("select count(*) from org_audit").await;
    let refused = [
        (&team.colleague.client, "org/rename", ("name", "Mine now")),
        (&team.owner.client, "org/rename", ("name", "   ")),
        (&team.owner.client, "calls/country", ("country", "XX")),
        (&team.colleague.client, "calls/country", ("country", "GB")),
    ];
    for (client, function, field) in refused {
        let response = app
            .call(client, function, &[("org_id", &org_id), field])
            .await;
        assert!(response.status().is_client_error(), "{function} {field:?}");
    }
    assert_eq!(app.count("select count(*) from org_audit").await, before);
}
