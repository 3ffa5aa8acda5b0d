//! The rate deck on a real database: the sample deck a fresh install starts
//! with, longest-prefix lookup, blocked ranges, and the all-or-nothing import
//! (called directly, as `phonebooth rates import` does).

use crate::common::TestApp;
use crate::on_both_databases;
use app::domain::rating::Rate;
use app::domain::Money;
use app::server::db::rates;
use server::rates_import::{self, ImportError, HEADER, SAMPLE_DECK};

on_both_databases!(
    the_sample_deck_is_loaded_on_first_start_and_only_then,
    the_longest_matching_prefix_wins,
    a_number_no_prefix_matches_has_no_rate,
    blocked_ranges_come_back_blocked_with_their_reason,
    an_import_with_bad_rows_reports_their_lines_and_changes_nothing,
    a_good_import_replaces_the_whole_deck,
    instances_starting_together_on_an_empty_deck_load_the_sample_once,
);

async fn lookup(app: &TestApp, number: &str) -> Option<Rate> {
    rates::longest_prefix_match(&app.db.pool, number)
        .await
        .unwrap()
}

async fn prefix_of(app: &TestApp, number: &str) -> Option<String> {
    lookup(app, number).await.map(|r| r.prefix().to_owned())
}

fn sample_size() -> i64 {
    rates_import::parse_deck(SAMPLE_DECK).unwrap().len() as i64
}

async fn the_sample_deck_is_loaded_on_first_start_and_only_then(app: TestApp) {
    assert_eq!(rates::count(&app.db.pool).await.unwrap(), sample_size());
    let countries = app
        .count("select count(distinct country_code) from rate where blocked = 0")
        .await;
    assert!(countries >= 50, "{countries} countries");
    // Several billing rules and fees are represented.
    assert!(
        app.count(
            "select count(*) from rate where initial_increment = 30 and subsequent_increment = 6"
        )
        .await
            > 0
    );
    assert!(
        app.count(
            "select count(*) from rate where initial_increment = 1 and subsequent_increment = 1"
        )
        .await
            > 0
    );
    assert!(
        app.count("select count(*) from rate where connection_fee > 0")
            .await
            > 0
    );

    // A restart finds a deck and leaves it alone, even one smaller than the sample.
    rates_import::import(
        &app.db,
        &format!("{HEADER}\n44,GB,United Kingdom,UK,0.02,0,60,60,0,\n"),
    )
    .await
    .unwrap();
    let app = app.restarted().await;
    assert_eq!(rates::count(&app.db.pool).await.unwrap(), 1);
}

async fn the_longest_matching_prefix_wins(app: TestApp) {
    let mobile = lookup(&app, "447700900123").await.unwrap();
    assert_eq!(mobile.prefix(), "447");
    assert_eq!(mobile.country_code(), "GB");
    assert_eq!(mobile.description(), "United Kingdom mobile");
    assert_eq!(mobile.price_per_minute(), Money::from_micros(35_000));
    assert!(!mobile.is_blocked());

    let london = lookup(&app, "442079460000").await.unwrap();
    assert_eq!(london.prefix(), "44");
    assert_eq!(london.description(), "United Kingdom landline");
    assert_eq!(london.price_per_minute(), Money::from_micros(20_000));

    assert_eq!(
        prefix_of(&app, "14165550123").await.as_deref(),
        Some("1416")
    );
    assert_eq!(prefix_of(&app, "12125550123").await.as_deref(), Some("1"));
    assert_eq!(
        prefix_of(&app, "4915123456789").await.as_deref(),
        Some("4915")
    );
    assert_eq!(prefix_of(&app, "493012345678").await.as_deref(), Some("49"));
    assert_eq!(prefix_of(&app, "77012345678").await.as_deref(), Some("77"));
    assert_eq!(prefix_of(&app, "74951234567").await.as_deref(), Some("7"));
    // A leading '+' is ignored; a number of the longest E.164 length still matches.
    assert_eq!(
        prefix_of(&app, "+447700900123").await.as_deref(),
        Some("447")
    );
    assert_eq!(
        prefix_of(&app, "447700900123456").await.as_deref(),
        Some("447")
    );

    // Rates come back exactly as the deck file wrote them.
    let spain = lookup(&app, "34612345678").await.unwrap();
    assert_eq!(
        (spain.initial_increment(), spain.subsequent_increment()),
        (30, 6)
    );
    let jamaica = lookup(&app, "18765551234").await.unwrap();
    assert_eq!(jamaica.connection_fee(), Money::from_micros(20_000));

    // Fifteen-digit prefixes are matched too.
    rates_import::import(
        &app.db,
        &format!(
            "{HEADER}\n44,GB,United Kingdom,UK,0.02,0,60,60,0,\n447700900123456,GB,United Kingdom,one number,0.5,0,1,1,0,\n"
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        prefix_of(&app, "447700900123456").await.as_deref(),
        Some("447700900123456")
    );
    assert_eq!(
        prefix_of(&app, "447700900123455").await.as_deref(),
        Some("44")
    );
}

async fn a_number_no_prefix_matches_has_no_rate(app: TestApp) {
    assert!(lookup(&app, "9991234567").await.is_none());
    assert!(lookup(&app, "0044207946000").await.is_none());
    for not_a_number in ["", "+", "44-20-7946", "abc"] {
        assert!(
            lookup(&app, not_a_number).await.is_none(),
            "{not_a_number:?}"
        );
    }
}

async fn blocked_ranges_come_back_blocked_with_their_reason(app: TestApp) {
    for (number, prefix) in [
        ("449012345678", "4490"),
        ("449112345678", "4491"),
        ("447012345678", "4470"),
        ("19005550123", "1900"),
        ("881612345678", "881"),
        ("88234567890", "882"),
        ("88312345678", "883"),
        ("4990012345678", "49900"),
    ] {
        let rate = lookup(&app, number).await.unwrap();
        assert_eq!(rate.prefix(), prefix);
        assert!(rate.is_blocked(), "{number}");
        assert!(
            rate.blocked_reason().is_some_and(|r| !r.is_empty()),
            "{number}"
        );
    }
    let premium = lookup(&app, "449012345678").await.unwrap();
    assert_eq!(premium.blocked_reason(), Some("Premium-rate service (090)"));
    // The open range next to a blocked one is open.
    assert!(!lookup(&app, "447700900123").await.unwrap().is_blocked());
}

async fn an_import_with_bad_rows_reports_their_lines_and_changes_nothing(app: TestApp) {
    let before = rates::count(&app.db.pool).await.unwrap();
    let bad = format!(
        "{HEADER}\n\
         44,GB,United Kingdom,UK,0.05,0,60,60,0,\n\
         447,GB,United Kingdom,UK mobile,0.0350001,0,60,60,0,\n\
         1,USA,United States,US,0.013,0,60,60,0,\n\
         33,FR,France,FR,0.02,0,60,0,0,\n\
         4490,GB,United Kingdom,Premium,0,0,60,60,1,\n\
         44,GB,United Kingdom,again,0.02,0,60,60,0,\n"
    );
    let error = rates_import::import(&app.db, &bad).await.unwrap_err();
    let ImportError::Invalid(problems) = &error else {
        panic!("expected validation problems, got {error:?}");
    };
    let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, vec![3, 4, 5, 6, 7], "{error}");
    let report = error.to_string();
    assert!(report.contains("nothing was changed"), "{report}");
    assert!(
        report.contains("line 7: prefix 44 is already on line 2"),
        "{report}"
    );

    // The deck is untouched: same size, same prices (the good first row was not applied).
    assert_eq!(rates::count(&app.db.pool).await.unwrap(), before);
    let uk = lookup(&app, "442079460000").await.unwrap();
    assert_eq!(uk.price_per_minute(), Money::from_micros(20_000));
    assert_eq!(
        prefix_of(&app, "447700900123").await.as_deref(),
        Some("447")
    );
}

async fn a_good_import_replaces_the_whole_deck(app: TestApp) {
    let deck = format!(
        "{HEADER}\n\
         44,GB,United Kingdom,UK all numbers,0.018,0.01,30,6,0,\n\
         4490,GB,United Kingdom,Premium,0,0,60,60,true,No premium calls\n\
         1,US,United States,\"US, Canada\",0.011,0,1,1,0,\n"
    );
    assert_eq!(rates_import::import(&app.db, &deck).await.unwrap(), 3);
    assert_eq!(rates::count(&app.db.pool).await.unwrap(), 3);

    // The sample's UK mobile prefix is gone: UK mobiles now rate as 44.
    let mobile = lookup(&app, "447700900123").await.unwrap();
    assert_eq!(mobile.prefix(), "44");
    assert_eq!(mobile.description(), "UK all numbers");
    assert_eq!(mobile.price_per_minute(), Money::from_micros(18_000));
    assert_eq!(mobile.connection_fee(), Money::from_micros(10_000));
    assert_eq!(
        (mobile.initial_increment(), mobile.subsequent_increment()),
        (30, 6)
    );
    assert_eq!(
        lookup(&app, "449012345678").await.unwrap().blocked_reason(),
        Some("No premium calls")
    );
    assert_eq!(
        lookup(&app, "14165550123").await.unwrap().description(),
        "US, Canada"
    );
    assert!(lookup(&app, "33123456789").await.is_none());

    // Importing the same file again is the same deck, not a duplicate.
    assert_eq!(rates_import::import(&app.db, &deck).await.unwrap(), 3);
    assert_eq!(rates::count(&app.db.pool).await.unwrap(), 3);
}

async fn instances_starting_together_on_an_empty_deck_load_the_sample_once(app: TestApp) {
    sqlx::query("delete from rate")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let (a, b, c) = tokio::join!(
        rates_import::load_sample_if_empty(&app.db),
        rates_import::load_sample_if_empty(&app.db),
        rates_import::load_sample_if_empty(&app.db),
    );
    a.unwrap();
    b.unwrap();
    c.unwrap();
    assert_eq!(rates::count(&app.db.pool).await.unwrap(), sample_size());
    assert_eq!(
        prefix_of(&app, "447700900123").await.as_deref(),
        Some("447")
    );
}
