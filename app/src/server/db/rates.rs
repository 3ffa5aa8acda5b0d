//! The rate deck (`rate` table, migration 0005): the longest-prefix lookup a
//! quote and a new call make, and replacing the whole deck in one transaction
//! (`phonebooth rates import`, and the sample deck loaded into an empty
//! database by `server/src/rates_import.rs`). The arithmetic on a rate is
//! `crate::domain::rating`.

use crate::domain::rating::{Rate, RateParts, MAX_PREFIX_DIGITS};
use crate::domain::Money;
use sqlx::{Any, AnyConnection, Executor, FromRow};

const RATE_COLUMNS: &str = "prefix, country_code, country_name, description, price_per_minute,
    connection_fee, initial_increment, subsequent_increment, blocked, blocked_reason";

#[derive(Debug, FromRow)]
struct RateRow {
    prefix: String,
    country_code: String,
    country_name: String,
    description: String,
    price_per_minute: i64,
    connection_fee: i64,
    initial_increment: i64,
    subsequent_increment: i64,
    blocked: i64,
    blocked_reason: Option<String>,
}

impl TryFrom<RateRow> for Rate {
    type Error = sqlx::Error;

    /// The table's checks mirror `Rate::new`, so this fails only if someone
    /// wrote rows by hand around them; then it is a decode error, not a panic.
    fn try_from(row: RateRow) -> Result<Self, Self::Error> {
        decode_rate(StoredRate {
            prefix: row.prefix,
            country_code: row.country_code,
            country_name: row.country_name,
            description: row.description,
            price_per_minute: row.price_per_minute,
            connection_fee: row.connection_fee,
            initial_increment: row.initial_increment,
            subsequent_increment: row.subsequent_increment,
            blocked: row.blocked != 0,
            blocked_reason: row.blocked_reason,
        })
    }
}

/// A rate's columns as stored, in the deck (`rate`) or copied onto a call.
pub(super) struct StoredRate {
    pub prefix: String,
    pub country_code: String,
    pub country_name: String,
    pub description: String,
    pub price_per_minute: i64,
    pub connection_fee: i64,
    pub initial_increment: i64,
    pub subsequent_increment: i64,
    pub blocked: bool,
    pub blocked_reason: Option<String>,
}

/// The table's checks mirror `Rate::new`, so this fails only for rows written
/// around them; then it is a decode error, never a panic.
pub(super) fn decode_rate(stored: StoredRate) -> Result<Rate, sqlx::Error> {
    let increment = |secs: i64| u32::try_from(secs).unwrap_or(0);
    Rate::new(RateParts {
        prefix: stored.prefix,
        country_code: stored.country_code,
        country_name: stored.country_name,
        description: stored.description,
        price_per_minute: Money::from_micros(stored.price_per_minute),
        connection_fee: Money::from_micros(stored.connection_fee),
        initial_increment: increment(stored.initial_increment),
        subsequent_increment: increment(stored.subsequent_increment),
        blocked: stored.blocked,
        blocked_reason: stored.blocked_reason,
    })
    .map_err(|error| sqlx::Error::Decode(Box::new(error)))
}

/// The deck's countries, by name: (ISO code, name).
pub async fn countries<'c>(
    db: impl Executor<'c, Database = Any>,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "select country_code, min(country_name) from rate
         group by country_code order by min(country_name)",
    )
    .fetch_all(db)
    .await?;
    Ok(rows)
}

/// The rate for a number: the one whose prefix is the longest prefix of
/// `digits` (E.164 digits; a leading '+' is ignored). None when no prefix
/// matches or `digits` is not a number. Blocked rates are returned too: the
/// caller refuses the call and shows the reason.
///
/// One query on both databases: the number's own prefixes ("4", "44", "447",
/// …, at most 15) are bound and matched by equality against the primary key,
/// so it is at most 15 index probes whatever the size of the deck. The other
/// portable form, `$1 like prefix || '%'`, has a pattern that changes per row
/// and cannot use an index: a scan of the whole deck for every quote. Unused
/// slots repeat the longest candidate, so the statement (and its prepared
/// plan) is always the same.
#[tracing::instrument(skip_all)]
pub async fn longest_prefix_match<'c>(
    db: impl Executor<'c, Database = Any>,
    digits: &str,
) -> Result<Option<Rate>, sqlx::Error> {
    let digits = digits.strip_prefix('+').unwrap_or(digits);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let usable = &digits[..digits.len().min(MAX_PREFIX_DIGITS)];
    let placeholders: Vec<String> = (1..=MAX_PREFIX_DIGITS).map(|n| format!("${n}")).collect();
    let sql = format!(
        "select {RATE_COLUMNS} from rate where prefix in ({})
         order by length(prefix) desc limit 1",
        placeholders.join(", ")
    );
    let mut query = sqlx::query_as::<_, RateRow>(&sql);
    for len in 1..=MAX_PREFIX_DIGITS {
        query = query.bind(&usable[..len.min(usable.len())]);
    }
    query
        .fetch_optional(db)
        .await?
        .map(Rate::try_from)
        .transpose()
}

/// One rate by its exact prefix.
pub async fn by_prefix<'c>(
    db: impl Executor<'c, Database = Any>,
    prefix: &str,
) -> Result<Option<Rate>, sqlx::Error> {
    sqlx::query_as::<_, RateRow>(&format!(
        "select {RATE_COLUMNS} from rate where prefix = $1"
    ))
    .bind(prefix)
    .fetch_optional(db)
    .await?
    .map(Rate::try_from)
    .transpose()
}

/// How many rates the deck holds.
pub async fn count<'c>(db: impl Executor<'c, Database = Any>) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as("select count(*) from rate")
        .fetch_one(db)
        .await?;
    Ok(n)
}

/// Takes the deck for writing until the transaction ends, so two instances
/// loading the sample deck at once, or two imports, run one after the other
/// and the second sees the first's rows. PostgreSQL needs the table lock
/// (`exclusive` still lets quotes read the old deck meanwhile); on SQLite a
/// write transaction (`Db::begin_write`) already holds the database's one
/// write lock.
#[tracing::instrument(skip_all)]
pub async fn lock_deck(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    if conn.backend_name() == "PostgreSQL" {
        sqlx::query("lock table rate in exclusive mode")
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Rows per insert statement: 11 binds each keeps a statement under the
/// 999-parameter limit of older SQLite builds while cutting round trips
/// (a deck of tens of thousands of rows is a few hundred statements).
const ROWS_PER_INSERT: usize = 64;

/// Replaces the whole deck with `rates`, inside the caller's transaction
/// (take one with `Db::begin_write`): readers see the old deck or the new
/// one, never a mix. The prefixes must be unique (the import checks).
#[tracing::instrument(skip_all, fields(rates = rates.len()))]
pub async fn replace_deck(
    conn: &mut AnyConnection,
    rates: &[Rate],
    now: i64,
) -> Result<u64, sqlx::Error> {
    lock_deck(conn).await?;
    sqlx::query("delete from rate").execute(&mut *conn).await?;
    let mut inserted = 0;
    for chunk in rates.chunks(ROWS_PER_INSERT) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| {
                let slots: Vec<String> = (1..=11).map(|c| format!("${}", i * 11 + c)).collect();
                format!("({})", slots.join(", "))
            })
            .collect();
        let sql = format!(
            "insert into rate ({RATE_COLUMNS}, created_at) values {}",
            rows.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for rate in chunk {
            query = query
                .bind(rate.prefix())
                .bind(rate.country_code())
                .bind(rate.country_name())
                .bind(rate.description())
                .bind(rate.price_per_minute().micros())
                .bind(rate.connection_fee().micros())
                .bind(i64::from(rate.initial_increment()))
                .bind(i64::from(rate.subsequent_increment()))
                .bind(i64::from(rate.is_blocked()))
                .bind(rate.blocked_reason())
                .bind(now);
        }
        inserted += query.execute(&mut *conn).await?.rows_affected();
    }
    Ok(inserted)
}
