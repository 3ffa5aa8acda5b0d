//! The ledger's rules, each proved on SQLite and PostgreSQL: one cause moves
//! money once, holds never overspend, settlement is atomic, entries are
//! append-only, and the balance always equals the sum of the entries.

use crate::common::TestApp;
use crate::on_both_databases;
use app::domain::Money;
use app::server::db::ledger::{EntryKind, LedgerError, NewEntry};
use app::server::db::Db;
use rand::{rngs::StdRng, Rng, SeedableRng};

on_both_databases!(
    a_repeated_cause_moves_money_once,
    fifty_concurrent_deliveries_of_one_cause_post_one_entry,
    concurrent_different_causes_all_land,
    of_fifty_racing_holds_on_a_balance_that_fits_one_exactly_one_succeeds,
    settling_posts_the_real_cost_and_releases_the_hold_once,
    a_debit_beyond_the_available_balance_is_refused_and_changes_nothing,
    a_released_hold_frees_its_money_and_cannot_then_be_settled,
    ledger_entries_cannot_be_changed_or_deleted,
    random_sequences_of_operations_keep_the_books_balanced,
);

fn dollars(n: i64) -> Money {
    Money::from_dollars(n).unwrap()
}

fn entry<'a>(org_id: &'a str, kind: EntryKind, amount: Money, key: &'a str) -> NewEntry<'a> {
    NewEntry {
        org_id,
        kind,
        amount,
        actor: "system",
        description: "test",
        idempotency_key: key,
    }
}

/// The oracle: the stored balance and holds equal what the ledger and holds add up to, and nothing is overspent.
async fn assert_books_balance(db: &Db, org_id: &str) {
    let stored = db.balance(org_id).await.unwrap();
    let recomputed = db.recomputed_balance(org_id).await.unwrap();
    assert_eq!(
        stored, recomputed,
        "wallet row disagrees with ledger and holds"
    );
    assert!(
        stored.available() >= Money::ZERO,
        "available went negative: {stored:?}"
    );
}

async fn a_repeated_cause_moves_money_once(app: TestApp) {
    let org = app.new_org().await;
    let purchase = entry(
        &org,
        EntryKind::Purchase,
        dollars(10),
        "stripe:checkout:cs_1",
    );
    let first = app.db.post(&purchase, 1).await.unwrap();
    let again = app.db.post(&purchase, 2).await.unwrap();
    assert!(!first.replayed && again.replayed);
    assert_eq!(first.entry, again.entry);
    assert_eq!(app.db.balance(&org).await.unwrap().balance, dollars(10));
    // The same key with a different amount is a bug in the caller, refused loudly.
    let tampered = entry(
        &org,
        EntryKind::Purchase,
        dollars(99),
        "stripe:checkout:cs_1",
    );
    assert!(matches!(
        app.db.post(&tampered, 3).await,
        Err(LedgerError::KeyReused(_))
    ));
    assert_books_balance(&app.db, &org).await;
}

async fn fifty_concurrent_deliveries_of_one_cause_post_one_entry(app: TestApp) {
    let org = app.new_org().await;
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (db, org) = (app.db.clone(), org.clone());
            tokio::spawn(async move {
                db.post(
                    &entry(
                        &org,
                        EntryKind::Purchase,
                        dollars(10),
                        "stripe:checkout:cs_race",
                    ),
                    1,
                )
                .await
                .unwrap()
            })
        })
        .collect();
    let mut fresh = 0;
    for task in tasks {
        fresh += usize::from(!task.await.unwrap().replayed);
    }
    assert_eq!(fresh, 1);
    assert_eq!(app.count("select count(*) from ledger_entry").await, 1);
    assert_eq!(app.db.balance(&org).await.unwrap().balance, dollars(10));
    assert_books_balance(&app.db, &org).await;
}

async fn concurrent_different_causes_all_land(app: TestApp) {
    let org = app.new_org().await;
    let tasks: Vec<_> = (0..25)
        .map(|n| {
            let (db, org) = (app.db.clone(), org.clone());
            tokio::spawn(async move {
                let key = format!("grant:{n}");
                db.post(&entry(&org, EntryKind::Grant, dollars(n + 1), &key), n)
                    .await
                    .unwrap()
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        app.db.balance(&org).await.unwrap().balance,
        dollars((1..=25).sum())
    );
    // Every entry's balance_after is a distinct step of one sequence.
    let mut after: Vec<(i64,)> =
        sqlx::query_as("select balance_after from ledger_entry order by balance_after")
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    after.dedup();
    assert_eq!(after.len(), 25);
    assert_books_balance(&app.db, &org).await;
}

async fn of_fifty_racing_holds_on_a_balance_that_fits_one_exactly_one_succeeds(app: TestApp) {
    let org = app.new_org().await;
    app.db
        .post(&entry(&org, EntryKind::Purchase, dollars(5), "p"), 0)
        .await
        .unwrap();
    let tasks: Vec<_> = (0..50)
        .map(|n| {
            let (db, org) = (app.db.clone(), org.clone());
            tokio::spawn(async move {
                db.place_hold(&org, dollars(4), &format!("call:{n}:hold"), 100, 1)
                    .await
            })
        })
        .collect();
    let (mut placed, mut refused) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => placed += 1,
            Err(LedgerError::InsufficientFunds { available }) => {
                assert_eq!(available, dollars(1));
                refused += 1
            }
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert_eq!((placed, refused), (1, 49));
    assert_eq!(app.db.balance(&org).await.unwrap().available(), dollars(1));
    assert_books_balance(&app.db, &org).await;
}

async fn settling_posts_the_real_cost_and_releases_the_hold_once(app: TestApp) {
    let org = app.new_org().await;
    app.db
        .post(&entry(&org, EntryKind::Purchase, dollars(10), "p"), 0)
        .await
        .unwrap();
    let hold = app
        .db
        .place_hold(&org, dollars(6), "call:CA1:hold", 100, 1)
        .await
        .unwrap();
    assert_eq!(app.db.balance(&org).await.unwrap().available(), dollars(4));

    let cost = Money::from_micros(-1_234_567);
    let charge = entry(&org, EntryKind::CallCharge, cost, "call:CA1:charge");
    let settled = app
        .db
        .settle_hold(&hold.hold_id, &charge, 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(settled.amount, -1_234_567);
    assert_eq!(settled.balance_after, 10_000_000 - 1_234_567);
    // A second terminal event settles nothing more.
    let again = app
        .db
        .settle_hold(&hold.hold_id, &charge, 3)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again, settled);
    let balance = app.db.balance(&org).await.unwrap();
    assert_eq!(
        (balance.balance.micros(), balance.held),
        (8_765_433, Money::ZERO)
    );
    assert_eq!(
        app.count("select count(*) from ledger_entry where kind = 'call_charge'")
            .await,
        1
    );
    assert_books_balance(&app.db, &org).await;

    // A call that cost nothing just releases.
    let free = app
        .db
        .place_hold(&org, dollars(1), "call:CA2:hold", 100, 4)
        .await
        .unwrap();
    let nothing = entry(&org, EntryKind::CallCharge, Money::ZERO, "call:CA2:charge");
    assert_eq!(
        app.db
            .settle_hold(&free.hold_id, &nothing, 5)
            .await
            .unwrap(),
        None
    );
    assert_eq!(app.db.balance(&org).await.unwrap().held, Money::ZERO);
    assert_books_balance(&app.db, &org).await;
}

async fn a_debit_beyond_the_available_balance_is_refused_and_changes_nothing(app: TestApp) {
    let org = app.new_org().await;
    app.db
        .post(&entry(&org, EntryKind::Purchase, dollars(5), "p"), 0)
        .await
        .unwrap();
    app.db
        .place_hold(&org, dollars(3), "call:h:hold", 100, 1)
        .await
        .unwrap();
    let too_much = entry(&org, EntryKind::Adjustment, dollars(-3), "adjust:1");
    assert!(matches!(
        app.db.post(&too_much, 2).await,
        Err(LedgerError::InsufficientFunds { available }) if available == dollars(2)
    ));
    assert_eq!(app.count("select count(*) from ledger_entry").await, 1);
    let fits = entry(&org, EntryKind::Adjustment, dollars(-2), "adjust:2");
    assert_eq!(
        app.db.post(&fits, 3).await.unwrap().entry.balance_after,
        3_000_000
    );
    assert_books_balance(&app.db, &org).await;
}

async fn a_released_hold_frees_its_money_and_cannot_then_be_settled(app: TestApp) {
    let org = app.new_org().await;
    app.db
        .post(&entry(&org, EntryKind::Purchase, dollars(5), "p"), 0)
        .await
        .unwrap();
    let hold = app
        .db
        .place_hold(&org, dollars(5), "call:busy:hold", 100, 1)
        .await
        .unwrap();
    assert_eq!(app.db.balance(&org).await.unwrap().available(), Money::ZERO);
    app.db.release_hold(&hold.hold_id, 2).await.unwrap();
    app.db.release_hold(&hold.hold_id, 3).await.unwrap();
    assert_eq!(app.db.balance(&org).await.unwrap().available(), dollars(5));
    let late = entry(&org, EntryKind::CallCharge, dollars(-1), "call:busy:charge");
    assert!(matches!(
        app.db.settle_hold(&hold.hold_id, &late, 4).await,
        Err(LedgerError::HoldClosed(_))
    ));
    assert_books_balance(&app.db, &org).await;
}

async fn ledger_entries_cannot_be_changed_or_deleted(app: TestApp) {
    let org = app.new_org().await;
    app.db
        .post(&entry(&org, EntryKind::Purchase, dollars(5), "p"), 0)
        .await
        .unwrap();
    let update = sqlx::query("update ledger_entry set amount = 1")
        .execute(&app.db.pool)
        .await;
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = sqlx::query("delete from ledger_entry")
        .execute(&app.db.pool)
        .await;
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    assert_eq!(app.count("select count(*) from ledger_entry").await, 1);
}

/// A seeded random walk over every operation, repeated keys included, with
/// the oracle checked after each step and expected results tracked alongside.
async fn random_sequences_of_operations_keep_the_books_balanced(app: TestApp) {
    let org = app.new_org().await;
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let mut open_holds: Vec<String> = Vec::new();
    let mut closed_holds: Vec<String> = Vec::new();
    for step in 0..250i64 {
        let key = format!("k{}", rng.gen_range(0..60));
        match rng.gen_range(0..6) {
            0 => {
                let amount = Money::from_micros(rng.gen_range(1..20_000_000));
                // Reusing a key with another amount must be refused, never double-posted.
                match app
                    .db
                    .post(
                        &entry(&org, EntryKind::Purchase, amount, &format!("buy:{key}")),
                        step,
                    )
                    .await
                {
                    Ok(_) | Err(LedgerError::KeyReused(_)) => {}
                    Err(other) => panic!("{other}"),
                }
            }
            1 => {
                let amount = Money::from_micros(-rng.gen_range(1..5_000_000));
                match app
                    .db
                    .post(
                        &entry(&org, EntryKind::Adjustment, amount, &format!("debit:{key}")),
                        step,
                    )
                    .await
                {
                    Ok(_)
                    | Err(LedgerError::KeyReused(_))
                    | Err(LedgerError::InsufficientFunds { .. }) => {}
                    Err(other) => panic!("{other}"),
                }
            }
            2 | 3 => {
                let amount = Money::from_micros(rng.gen_range(1..8_000_000));
                match app
                    .db
                    .place_hold(&org, amount, &format!("hold:{key}"), 1_000, step)
                    .await
                {
                    Ok(hold) if hold.status == "open" && !open_holds.contains(&hold.hold_id) => {
                        open_holds.push(hold.hold_id)
                    }
                    Ok(_) | Err(LedgerError::InsufficientFunds { .. }) => {}
                    Err(other) => panic!("{other}"),
                }
            }
            4 if !open_holds.is_empty() => {
                let hold_id = open_holds.swap_remove(rng.gen_range(0..open_holds.len()));
                let cost = Money::from_micros(-rng.gen_range(0..3_000_000));
                let charge_key = format!("charge:{hold_id}");
                app.db
                    .settle_hold(
                        &hold_id,
                        &entry(&org, EntryKind::CallCharge, cost, &charge_key),
                        step,
                    )
                    .await
                    .unwrap();
                closed_holds.push(hold_id);
            }
            5 if !open_holds.is_empty() => {
                let hold_id = open_holds.swap_remove(rng.gen_range(0..open_holds.len()));
                app.db.release_hold(&hold_id, step).await.unwrap();
                closed_holds.push(hold_id);
            }
            _ if !closed_holds.is_empty() => {
                // Replaying a closed hold's settlement or release changes nothing.
                let hold_id = &closed_holds[rng.gen_range(0..closed_holds.len())];
                let before = app.db.balance(&org).await.unwrap();
                let _ = app.db.release_hold(hold_id, step).await;
                assert_eq!(app.db.balance(&org).await.unwrap(), before);
            }
            _ => {}
        }
        assert_books_balance(&app.db, &org).await;
    }
    assert!(
        app.count("select count(*) from ledger_entry").await > 20,
        "the walk exercised the ledger"
    );
}
