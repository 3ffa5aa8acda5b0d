//! Registration, login, throttling, sessions and logout.

use crate::common::{session_cookie, TestApp, PASSWORD};
use crate::on_both_databases;
use serde_json::Value;

on_both_databases!(
    registering_creates_the_account_its_personal_organization_and_a_session,
    registering_an_email_twice_is_a_conflict_that_changes_nothing,
    bad_registration_input_gets_a_specific_error_and_creates_nothing,
    emails_are_normalized_so_one_mailbox_is_one_account,
    a_wrong_password_and_an_unknown_email_get_the_same_answer_and_are_audited,
    five_failed_logins_lock_the_email_for_fifteen_minutes,
    many_failures_from_one_address_lock_that_address,
    logging_in_rotates_the_session_id,
    logging_out_deletes_the_session_on_the_server,
    a_session_ends_thirty_days_after_login_however_active,
    an_unreachable_database_is_reported_as_temporarily_unavailable,
);

async fn registering_creates_the_account_its_personal_organization_and_a_session(app: TestApp) {
    let browser = app.new_browser();
    let response = app
        .register(&browser, "Ada Lovelace", "ada@example.com")
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["location"], "/dialer");
    let cookie = session_cookie(&response).expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP cannot carry a Secure cookie: {cookie}"
    );

    let me = app.account(&browser).await;
    assert_eq!(me["name"], "Ada Lovelace");
    assert_eq!(me["email"], "ada@example.com");
    assert_eq!(me["is_operator"], false);
    assert_eq!(me["current_org"]["name"], "Ada Lovelace's organization");
    assert_eq!(me["current_org"]["role"], "owner");
    assert_eq!(me["orgs"].as_array().unwrap().len(), 1);

    let hash: (String,) = sqlx::query_as("select password_hash from app_user")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(hash.0.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
}

async fn registering_an_email_twice_is_a_conflict_that_changes_nothing(app: TestApp) {
    app.register(&app.new_browser(), "Ada", "ada@example.com")
        .await;
    let response = app
        .register(&app.new_browser(), "Impostor", "ADA@example.com ")
        .await;
    assert_eq!(response.status(), 409);
    let error: Value = response.json().await.unwrap();
    assert_eq!(
        error["Conflict"]["message"],
        "an account with this email already exists"
    );
    assert_eq!(app.count("select count(*) from app_user").await, 1);
    assert_eq!(app.count("select count(*) from org").await, 1);
}

async fn bad_registration_input_gets_a_specific_error_and_creates_nothing(app: TestApp) {
    let cases = [
        (("", "ada@example.com", PASSWORD), "name", "enter your name"),
        (
            ("Ada", "not-an-email", PASSWORD),
            "email",
            "an email address needs an @, like name@example.com",
        ),
        (
            ("Ada", "ada@example.com", "short"),
            "password",
            "a password has at least 8 characters",
        ),
        (
            ("Ada", "ada@example.com", "Password123"),
            "password",
            "that password is one of the most common ones; choose another",
        ),
    ];
    for ((name, email, password), field, message) in cases {
        let response = app
            .call(
                &app.new_browser(),
                "auth/register",
                &[("name", name), ("email", email), ("password", password)],
            )
            .await;
        assert_eq!(response.status(), 422, "{field}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["Validation"]["field"], field);
        assert_eq!(error["Validation"]["message"], message);
    }
    let too_long = "x".repeat(129);
    let response = app
        .call(
            &app.new_browser(),
            "auth/register",
            &[
                ("name", "Ada"),
                ("email", "a@b.co"),
                ("password", &too_long),
            ],
        )
        .await;
    assert_eq!(response.status(), 422);
    let response = app
        .call(&app.new_browser(), "auth/register", &[("name", "Ada")])
        .await;
    assert_eq!(
        response.status(),
        422,
        "missing fields are a validation error, not a crash"
    );
    assert_eq!(app.count("select count(*) from app_user").await, 0);
    assert_eq!(app.count("select count(*) from session").await, 0);
}

async fn emails_are_normalized_so_one_mailbox_is_one_account(app: TestApp) {
    app.register(&app.new_browser(), "Ada", "  Ada@Example.COM")
        .await;
    let browser = app.new_browser();
    let response = app.login(&browser, "ada@example.com", PASSWORD).await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.account(&browser).await["email"], "ada@example.com");
}

async fn a_wrong_password_and_an_unknown_email_get_the_same_answer_and_are_audited(app: TestApp) {
    app.register(&app.new_browser(), "Ada", "ada@example.com")
        .await;
    let wrong_password = app
        .login(&app.new_browser(), "ada@example.com", "not the password")
        .await;
    let unknown_email = app
        .login(&app.new_browser(), "nobody@example.com", "not the password")
        .await;
    assert_eq!(wrong_password.status(), 422);
    assert_eq!(wrong_password.status(), unknown_email.status());
    let (a, b) = (
        wrong_password.text().await.unwrap(),
        unknown_email.text().await.unwrap(),
    );
    assert_eq!(a, b);
    assert!(a.contains("the email or password is incorrect"));

    let rows: Vec<(String, String, String)> =
        sqlx::query_as("select email, ip, reason from login_failure order by email")
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(
        rows,
        vec![
            (
                "ada@example.com".into(),
                "127.0.0.1".into(),
                "bad_credentials".into()
            ),
            (
                "nobody@example.com".into(),
                "127.0.0.1".into(),
                "bad_credentials".into()
            ),
        ]
    );
}

async fn five_failed_logins_lock_the_email_for_fifteen_minutes(app: TestApp) {
    app.register(&app.new_browser(), "Ada", "ada@example.com")
        .await;
    app.register(&app.new_browser(), "Grace", "grace@example.com")
        .await;
    for _ in 0..5 {
        assert_eq!(
            app.login(&app.new_browser(), "ada@example.com", "wrong password!")
                .await
                .status(),
            422
        );
    }
    // Even the right password is refused while locked, with a clear message.
    let locked = app
        .login(&app.new_browser(), "ada@example.com", PASSWORD)
        .await;
    assert_eq!(locked.status(), 429);
    let error: Value = locked.json().await.unwrap();
    assert_eq!(
        error["RateLimited"],
        "too many failed attempts for this email; try again in 15 minutes"
    );
    // Other accounts are unaffected.
    assert_eq!(
        app.login(&app.new_browser(), "grace@example.com", PASSWORD)
            .await
            .status(),
        200
    );
    // Refusals are audited but do not extend the lock.
    assert_eq!(
        app.count("select count(*) from login_failure where reason = 'email_locked'")
            .await,
        1
    );

    // Fifteen minutes later the lock has lapsed.
    sqlx::query("update login_failure set created_at = created_at - 901")
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(
        app.login(&app.new_browser(), "ada@example.com", PASSWORD)
            .await
            .status(),
        200
    );
}

async fn many_failures_from_one_address_lock_that_address(app: TestApp) {
    // Counted per address only once the operator says there is no proxy in front.
    let app = app.restarted_with(&[("TRUSTED_PROXIES", "none")]).await;
    app.register(&app.new_browser(), "Ada", "ada@example.com")
        .await;
    for n in 0..30 {
        let email = format!("sprayed{n}@example.com");
        assert_eq!(
            app.login(&app.new_browser(), &email, "guess guess guess")
                .await
                .status(),
            422
        );
    }
    let response = app
        .login(&app.new_browser(), "ada@example.com", PASSWORD)
        .await;
    assert_eq!(response.status(), 429);
    let error: Value = response.json().await.unwrap();
    assert_eq!(
        error["RateLimited"],
        "too many failed attempts from your network; try again in 15 minutes"
    );
}

async fn logging_in_rotates_the_session_id(app: TestApp) {
    app.register(&app.new_browser(), "Ada", "ada@example.com")
        .await;
    let browser = app.new_browser();
    let first = session_cookie(&app.login(&browser, "ada@example.com", PASSWORD).await).unwrap();
    let second = session_cookie(&app.login(&browser, "ada@example.com", PASSWORD).await).unwrap();
    assert_ne!(first, second);
    // The pre-rotation id no longer opens anything.
    let replay = app
        .new_browser()
        .post(app.url("/api/auth/account"))
        .header("sec-fetch-site", "same-origin")
        .header("cookie", first.split(';').next().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(replay.json::<Value>().await.unwrap(), Value::Null);
    assert!(app.account(&browser).await.is_object());
}

async fn logging_out_deletes_the_session_on_the_server(app: TestApp) {
    let browser = app.new_browser();
    let registered = app.register(&browser, "Ada", "ada@example.com").await;
    let cookie = session_cookie(&registered).unwrap();
    let cookie_pair = cookie.split(';').next().unwrap().to_owned();

    let response = app.call(&browser, "auth/logout", &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["location"], "/login");
    assert_eq!(app.count("select count(*) from session").await, 0);

    // Replaying the old cookie gets nobody.
    let replay = app
        .new_browser()
        .post(app.url("/api/auth/account"))
        .header("sec-fetch-site", "same-origin")
        .header("cookie", cookie_pair)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.json::<Value>().await.unwrap(), Value::Null);
}

async fn a_session_ends_thirty_days_after_login_however_active(app: TestApp) {
    let browser = app.new_browser();
    app.register(&browser, "Ada", "ada@example.com").await;
    assert!(app.account(&browser).await.is_object());

    // Move the login time back 30 days and a second inside the stored session.
    let (id, data): (String, Vec<u8>) = sqlx::query_as("select session_id, data from session")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    // Edit the text: the record's u128 id would not survive a serde_json::Value round trip.
    let text = String::from_utf8(data).unwrap();
    let logged_in: i64 = text
        .split("\"authenticated_at\":")
        .nth(1)
        .unwrap()
        .split(&[',', '}'][..])
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let aged = text.replace(
        &format!("\"authenticated_at\":{logged_in}"),
        &format!("\"authenticated_at\":{}", logged_in - 30 * 24 * 3600 - 1),
    );
    sqlx::query("update session set data = $1 where session_id = $2")
        .bind(aged.into_bytes())
        .bind(id)
        .execute(&app.db.pool)
        .await
        .unwrap();

    assert_eq!(app.account(&browser).await, Value::Null);
    assert_eq!(app.count("select count(*) from session").await, 0);
}

async fn an_unreachable_database_is_reported_as_temporarily_unavailable(app: TestApp) {
    app.db.pool.close().await;
    let response = app
        .register(&app.new_browser(), "Ada", "ada@example.com")
        .await;
    assert_eq!(response.status(), 503);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error, Value::from("Unavailable"));

    let ready = reqwest::get(app.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(
        ready.json::<Value>().await.unwrap()["database"],
        "unreachable"
    );
}
