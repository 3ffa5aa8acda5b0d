//! Page requests: server-side redirects that work without JavaScript.

use crate::common::{without_hydration_markers, TestApp};
use crate::on_both_databases;

on_both_databases!(
    a_logged_out_visit_to_a_protected_page_goes_to_login_with_next,
    a_logged_in_visit_to_login_goes_to_the_dialer_or_a_safe_next,
    the_app_pages_render_for_a_logged_in_person,
    a_no_javascript_login_form_redirects_back_with_its_error_or_on_to_next,
);

async fn a_logged_out_visit_to_a_protected_page_goes_to_login_with_next(app: TestApp) {
    for (path, next) in [
        ("/wallet", "%2Fwallet"),
        ("/calls?page=2", "%2Fcalls%3Fpage%3D2"),
        ("/settings", "%2Fsettings"),
    ] {
        let response = app.new_browser().get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 303, "{path}");
        assert_eq!(
            response.headers()["location"],
            format!("/login?next={next}")
        );
    }
    let root = app.new_browser().get(app.url("/")).send().await.unwrap();
    assert_eq!(root.headers()["location"], "/login");
    let login = app
        .new_browser()
        .get(app.url("/login?next=%2Fwallet"))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let html = login.text().await.unwrap();
    assert!(html.contains("Log in to Phonebooth"));
    assert!(
        html.contains(r#"name="next" value="/wallet""#),
        "the form carries next"
    );
}

async fn a_logged_in_visit_to_login_goes_to_the_dialer_or_a_safe_next(app: TestApp) {
    let browser = app.new_browser();
    app.register(&browser, "Ada", "ada@example.com").await;
    for (path, to) in [
        ("/login", "/dialer"),
        ("/register", "/dialer"),
        ("/login?next=%2Fcalls", "/calls"),
        ("/login?next=https%3A%2F%2Fevil.example", "/dialer"),
        ("/login?next=%2F%2Fevil.example", "/dialer"),
        ("/", "/dialer"),
    ] {
        let response = browser.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 303, "{path}");
        assert_eq!(response.headers()["location"], to, "{path}");
    }
}

async fn the_app_pages_render_for_a_logged_in_person(app: TestApp) {
    let browser = app.new_browser();
    app.register(&browser, "Ada", "ada@example.com").await;
    // Each page's own content needs the account loaded first; a page that
    // read it before it had loaded rendered nothing, depending on timing, so
    // every page is loaded several times.
    for _ in 0..5 {
        for (path, heading, content) in [
            ("/dialer", "Dialer", r#"id="dial-number""#),
            ("/wallet", "Wallet", r#"data-testid="balance""#),
            ("/calls", "Calls", r#"data-testid="calls-empty""#),
            ("/settings", "Settings", r#"id="org-name""#),
        ] {
            let response = browser.get(app.url(path)).send().await.unwrap();
            assert_eq!(response.status(), 200, "{path}");
            let html = without_hydration_markers(&response.text().await.unwrap());
            assert!(html.contains(&format!("<h1>{heading}</h1>")), "{path}");
            assert!(
                html.contains("Ada's organization"),
                "{path}: the header shows the current organization"
            );
            assert!(html.contains(content), "{path}: the page's own content");
        }
    }
    let missing = browser.get(app.url("/no-such-page")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    // Pages name their icon, which the site ships: without it browsers ask
    // for /favicon.ico on every visit, and each ask renders the 404 page.
    let html = missing.text().await.unwrap();
    assert!(
        html.contains(r#"<link rel="icon" href="/favicon.svg" type="image/svg+xml""#),
        "the head names the icon"
    );
    let icon = concat!(env!("CARGO_MANIFEST_DIR"), "/../public/favicon.svg");
    assert!(std::fs::read_to_string(icon).unwrap().starts_with("<svg"));
}

async fn a_no_javascript_login_form_redirects_back_with_its_error_or_on_to_next(app: TestApp) {
    app.register(&app.new_browser(), "Ada", "ada@example.com")
        .await;
    let browser = app.new_browser();
    let page = app.url("/login?next=%2Fwallet");
    let post = |password: &'static str| {
        browser
            .post(app.url("/api/auth/login"))
            .header("sec-fetch-site", "same-origin")
            .header("accept", "text/html")
            .header("referer", page.clone())
            .form(&[
                ("email", "ada@example.com"),
                ("password", password),
                ("next", "/wallet"),
            ])
            .send()
    };
    let failed = post("wrong password!").await.unwrap();
    assert_eq!(failed.status(), 302);
    let back = failed.headers()["location"].to_str().unwrap().to_owned();
    assert!(back.starts_with(&page) && back.contains("__err="), "{back}");
    let shown = browser
        .get(&back)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        shown.contains("the email or password is incorrect"),
        "the page shows the error without JavaScript"
    );

    let succeeded = post(crate::common::PASSWORD).await.unwrap();
    assert_eq!(succeeded.status(), 302);
    assert_eq!(succeeded.headers()["location"], "/wallet");
}
